"""`gfcli filter`: check the request, build the kind's filter plan, explain or run it.

The plans are `ViewPlan`s, so filtering shares view's chunking, runners, ordered writer
and atomic outputs; only the formatter differs (it evaluates the compiled expression).
"""

from __future__ import annotations

import sys

from gfcli.engine import sniff
from gfcli.engine.errors import UsageError
from gfcli.engine.source import open_input, require_format
from gfcli.engine.view import FASTQ_OR_EMPTY, ViewRequest, execute_plan, warn_if_empty

# samtools accepts flag names as well as numbers for -f/-F.
FLAG_NAMES = {
    "PAIRED": 0x1,
    "PROPER_PAIR": 0x2,
    "UNMAP": 0x4,
    "MUNMAP": 0x8,
    "REVERSE": 0x10,
    "MREVERSE": 0x20,
    "READ1": 0x40,
    "READ2": 0x80,
    "SECONDARY": 0x100,
    "QCFAIL": 0x200,
    "DUP": 0x400,
    "SUPPLEMENTARY": 0x800,
}


def parse_flags(text: str | None, option: str) -> int:
    """'0x904', '2308', '012' or 'UNMAP,SECONDARY' as samtools reads them."""
    if text is None or text == "":
        return 0
    try:
        return int(text, 0)
    except ValueError:
        pass
    value = 0
    for name in text.split(","):
        bit = FLAG_NAMES.get(name.strip().upper())
        if bit is None:
            raise UsageError(f"{option}: unknown flag '{name}' (use a number or "
                             f"{','.join(FLAG_NAMES)})")
        value |= bit
    return value


def check_request(req: ViewRequest, is_variants: bool) -> None:
    if req.include is not None and req.exclude is not None:
        raise UsageError("only one of -i/--include and -e/--exclude can be given")
    if req.soft_mode is not None and req.soft_mode not in ("+", "x", "+x", "x+"):
        raise UsageError(f"-m: expected '+', 'x' or '+x', got '{req.soft_mode}'")
    if req.soft_mode is not None and req.soft_filter is None:
        raise UsageError("-m goes with -s/--soft-filter")
    if is_variants:
        if req.rejects:
            raise UsageError("-U is for reads; for variants use -s NAME to keep failing "
                             "records marked")
        if req.require_flags or req.exclude_flags or req.min_mapq:
            raise UsageError("-f/-F/-q are read filters; use an expression for variants")
    elif req.soft_filter:
        raise UsageError("-s/--soft-filter is for variants (VCF/BCF)")


def run_filter(req: ViewRequest) -> None:
    inp = open_input(req.input)
    require_format(inp, sniff.VARIANT_FORMATS | sniff.ALIGNMENT_FORMATS | FASTQ_OR_EMPTY,
                   "VCF, BCF, SAM, BAM, CRAM or FASTQ")
    check_request(req, inp.is_variants)
    if inp.is_variants:
        from gfcli.engine.variants.filter import make_filter_plan
    elif inp.format in FASTQ_OR_EMPTY:
        warn_if_empty(inp, req.command)
        from gfcli.engine.fastq.view import make_filter_plan
    else:
        from gfcli.engine.alignments.filter import make_filter_plan
    plan = make_filter_plan(req, inp)
    if req.explain:
        sys.stdout.write((plan.explain or "").rstrip("\n") + "\n")
        return
    execute_plan(plan, req)
