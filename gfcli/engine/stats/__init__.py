"""`gfcli stats`: choose the statistics by the sniffed input kind, compute, merge, render.

    variants   (VCF/BCF)       gfcli.engine.stats.variants.compute    bcftools stats text
    alignments (SAM/BAM/CRAM)  gfcli.engine.stats.alignments.compute  samtools stats text
    reads      (FASTQ)         gfcli.engine.stats.fastq.compute       seqkit stats -a -T

Every `compute(req, inp)` returns an accumulator (see `base.Accumulator`). Several inputs
of one kind, and `--merge` of JSON partials, reduce with `+=`; the result is rendered as
the reference text (default), the JSON partial (`-O json`) or a rich table (`--pretty`).
"""

from __future__ import annotations

import importlib

from gfcli.engine import sniff
from gfcli.engine.errors import UsageError
from gfcli.engine.stats.base import (
    ALIGNMENTS,
    FASTQ,
    JSON,
    TEXT,
    VARIANTS,
    StatsRequest,
)

_MODULES = {
    VARIANTS: "gfcli.engine.stats.variants",
    ALIGNMENTS: "gfcli.engine.stats.alignments",
    FASTQ: "gfcli.engine.stats.fastq",
}


def kind_of(fmt: str) -> str | None:
    if fmt in sniff.VARIANT_FORMATS:
        return VARIANTS
    if fmt in sniff.ALIGNMENT_FORMATS:
        return ALIGNMENTS
    if fmt == sniff.FASTQ:
        return FASTQ
    return None


def module_for(kind: str):
    return importlib.import_module(_MODULES[kind])


def run_stats(req: StatsRequest) -> None:
    from gfcli.engine.stats.merge import load_partials, write_result

    if req.output_type not in (TEXT, JSON):
        raise UsageError(f"-O: expected text or json, got '{req.output_type}'")
    if req.merge:
        if req.inputs:
            raise UsageError("--merge takes JSON partials only; compute inputs separately")
        kind, acc, resolved = load_partials(req)
    else:
        kind, acc, resolved = compute_inputs(req)
    write_result(kind, acc, resolved)


def compute_inputs(req: StatsRequest):
    """Sniff each input, compute its statistics and add them up (one kind only)."""
    from gfcli.engine.source import open_input, require_format

    names = req.inputs or [None]  # type: ignore[list-item]
    kind: str | None = None
    acc = None
    resolved = req
    for name in names:
        inp = open_input(name)
        require_format(
            inp,
            sniff.VARIANT_FORMATS | sniff.ALIGNMENT_FORMATS | frozenset({sniff.FASTQ}),
            "VCF, BCF, SAM, BAM, CRAM or FASTQ",
        )
        this = kind_of(inp.format)
        assert this is not None
        if kind is None:
            kind = this
            resolved = req.resolve(kind)
        elif this != kind:
            raise UsageError(
                f"{inp.display}: {this} input mixed with {kind} input; one kind per run"
            )
        if kind == VARIANTS and len(names) > 1:
            raise UsageError(
                "one VCF/BCF per run (bcftools stats A B compares two files, which gfcli "
                "does not do); run each with -O json and combine them with --merge"
            )
        part = module_for(kind).compute(resolved, inp)
        if acc is None:
            acc = part
        else:
            acc += part
    assert kind is not None
    return kind, acc, resolved
