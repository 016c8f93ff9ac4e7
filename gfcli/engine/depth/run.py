"""`gfcli depth`: inputs, options and tasks; samtools rows are made by `rows.py`.

For mosdepth's summaries an indexed BAM is cut into one task per reference (the index's
pseudo-bin gives the record range of each), run by worker processes that return
per-reference summaries, counts and compressed BED pieces. samtools rows of indexed
BAMs go by position segments (`rows.py`). Other inputs (SAM, CRAM, URLs through pysam;
unindexed BAM; stdin) are walked in one pass, reference after reference, several files
in step.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfcli.engine import sniff
from gfcli.engine.depth.core import (
    MARGIN,
    MOSDEPTH,
    SAMTOOLS,
    CountRules,
    RefCoverage,
    iter_ref_coverage,
)
from gfcli.engine.errors import DataError, UsageError

_FLAG_NAMES = {
    "PAIRED": 0x1, "PROPER_PAIR": 0x2, "UNMAP": 0x4, "MUNMAP": 0x8, "REVERSE": 0x10,
    "MREVERSE": 0x20, "READ1": 0x40, "READ2": 0x80, "SECONDARY": 0x100, "QCFAIL": 0x200,
    "DUP": 0x400, "SUPPLEMENTARY": 0x800,
}


def parse_flags(text: str) -> int:
    """samtools' bam_str2flag: a number read like strtol(s, 0) (decimal, 0x hex, 0 octal;
    anything after the number is ignored), or comma-separated flag names."""
    import re

    text = text.strip()
    if text[:1].isdigit():
        match = re.match(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", text)
        assert match is not None
        number = match.group(0)
        value = int(number, 16) if number[:2].lower() == "0x" else int(number, 8) \
            if number.startswith("0") else int(number)
    else:
        value = 0
        for name in text.split(","):
            bit = _FLAG_NAMES.get(name.strip().upper())
            if bit is None:
                raise UsageError(f"unknown flag name '{name}'")
            value |= bit
    if value > 0xFFF:
        raise UsageError(f"flag value '{text}' is not supported")
    return value


@dataclass
class DepthRequest:
    inputs: list[str] = field(default_factory=list)
    output: str = "-"
    all_positions: int = 0
    region: str | None = None
    bed: str | None = None
    min_mapq: int = 0
    min_bq: int = 0
    min_len: int = 0
    remove_flags: list[str] = field(default_factory=list)  # -g
    add_flags: list[str] = field(default_factory=list)  # -G
    incl_flags: str | None = None
    require_flags: str | None = None
    deletions: bool = False
    overlaps: bool = False
    header: bool = False
    threads: int = 1
    reference: str | None = None
    # mosdepth-style summaries
    prefix: str | None = None
    no_per_base: bool = False
    by: str | None = None
    thresholds: str | None = None
    quantize: str | None = None
    median: bool = False
    fast_mode: bool = False


# --------------------------------------------------------------------------- inputs


@dataclass
class _Source:
    path: str  # as given (samtools prints it in -H)
    kind: str  # "indexed", "bam-stream", "pysam"
    names: tuple[str, ...]
    lengths: tuple[int, ...]
    offsets: list | None = None  # indexed: per reference (beg, end, linear)
    batcher: Any = None  # streams opened with the header (stdin, pysam)
    first_record: int | None = None  # BAM files: virtual offset of the first record
    display: str = ""  # the name errors give (stdin for "-"); the path when empty


def _open_sources(req: DepthRequest, rules: CountRules) -> list[_Source]:
    """Inputs with their headers; streams (stdin, pysam) are opened here, once."""
    from gfcli.engine.bam import reader
    from gfcli.engine.depth.core import pysam_batcher, ref_offsets
    from gfcli.engine.source import open_input, require_format

    sources = []
    for name in req.inputs:
        inp = open_input(name)
        require_format(inp, sniff.ALIGNMENT_FORMATS, "SAM, BAM or CRAM")
        if inp.format == sniff.BAM and not inp.is_url and not inp.is_stdin:
            header = reader.read_header_from_path(inp.name)
            offsets = None
            if inp.index is not None:
                try:
                    offsets = ref_offsets(inp.index)
                except (DataError, OSError, ValueError, struct.error):
                    offsets = None
            kind = "indexed" if offsets is not None and len(offsets) == header.n_ref \
                else "bam-stream"
            sources.append(_Source(name, kind, header.names, header.lengths, offsets,
                                   first_record=header.first_record))
        elif inp.format == sniff.BAM and inp.is_stdin:
            stream = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
            batcher = reader.open_stream_batcher(stream, "stdin", inp._prefix)
            header = reader.read_header(batcher)
            sources.append(_Source(name, "stream", header.names, header.lengths,
                                   batcher=batcher, display="stdin"))
        else:
            if req.region and inp.index is None and not inp.is_url:
                raise DataError("cannot load the index (needed for -r)", path=inp.display)
            batcher, (names, lengths) = pysam_batcher(inp.htslib_path(), req.reference,
                                                      req.region, rules, req.threads)
            sources.append(_Source(name, "stream", names, lengths, batcher=batcher))
    return sources


def _stream_batcher(src: _Source) -> Any:
    from gfcli.engine.depth.core import mapped_batcher

    if src.batcher is not None:
        return src.batcher
    from gfcli.engine.bam import reader

    header = reader.read_header_from_path(src.path)
    return mapped_batcher(src.path, header.first_record, None, header.n_ref)


# --------------------------------------------------------------------------- regions


def _read_bed(path: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """samtools' bed_read: BED (0-based) or CHR POS (1-based) lines; merged per contig."""
    from gfcli.engine.regions import _open_text

    per: dict[str, list[tuple[int, int]]] = {}
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith(("#", "track ", "browser")):
                continue
            fields = line.rstrip("\r\n").split()
            if len(fields) < 2:
                continue
            try:
                beg = int(fields[1])
            except ValueError:
                continue
            end = None
            if len(fields) > 2:
                try:
                    end = int(fields[2])
                except ValueError:
                    end = None
            if end is None:
                beg, end = beg - 1, beg
            if end <= beg:
                continue
            per.setdefault(fields[0], []).append((max(0, beg), end))
    merged: dict[str, np.ndarray] = {}
    for contig, ivals in per.items():
        ivals.sort()
        out: list[list[int]] = []
        for a, b in ivals:
            if out and a <= out[-1][1]:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        merged[contig] = np.array(out, dtype=np.int64).reshape(-1, 2)
    return merged


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class _RefTask:
    tid: int
    name: str
    length: int
    files: tuple  # per input: (path, start voffset or None, stop voffset or None, n_ref)
    rules: CountRules
    beg: int = 0
    end: int | None = None
    rows: Any = None  # not used by summaries (samtools rows: rows.Segment)
    summary: Any = None  # mosdepth output plan
    tmpdir: str | None = None


def _empty(tid: int, length: int) -> RefCoverage:
    return RefCoverage(tid, np.zeros(length + 1 + MARGIN, dtype=np.int32),
                       np.zeros((0, 2), dtype=np.int64), 0, 0)


def _task_coverage(task: _RefTask) -> list[RefCoverage]:
    from gfcli.engine.depth.core import mapped_batcher

    covs = []
    lengths = tuple([0] * task.tid + [task.length])
    for path, start, stop, n_ref in task.files:
        cov = None
        if start is not None:
            batcher = mapped_batcher(path, start, stop, n_ref)
            for c in iter_ref_coverage(batcher, task.rules, lengths, path, tid=task.tid,
                                       beg=task.beg, end=task.end):
                cov = c
        covs.append(cov if cov is not None else _empty(task.tid, task.length))
    return covs


def _run_task(task: _RefTask) -> Any:
    from gfcli.engine.depth.summary import reference_summary

    return reference_summary(task, _task_coverage(task)[0])


# --------------------------------------------------------------------------- planning


def _rules(req: DepthRequest, mode: int) -> CountRules:
    exclude = 0x704
    for text in req.remove_flags:
        exclude &= ~parse_flags(text)
    for text in req.add_flags:
        exclude |= parse_flags(text)
    return CountRules(
        mode=mode, exclude=exclude,
        include=parse_flags(req.incl_flags) if req.incl_flags else 0,
        require=parse_flags(req.require_flags) if req.require_flags else 0,
        min_mapq=req.min_mapq, min_len=req.min_len if mode == SAMTOOLS else 0,
        min_bq=req.min_bq if mode == SAMTOOLS else 0,
        deletions=req.deletions if mode == SAMTOOLS else req.fast_mode,
        overlaps=req.overlaps if mode == SAMTOOLS else not req.fast_mode,
    )


def _region_of(req: DepthRequest, names: tuple[str, ...], lengths: tuple[int, ...]):
    from gfcli.engine.regions import parse_region

    if not req.region:
        return None
    region = parse_region(req.region, point_if_single=False, contigs=names)
    if region.contig not in names:
        raise UsageError(f"cannot parse region \"{req.region}\" (unknown reference)")
    tid = names.index(region.contig)
    return tid, region.start, region.end


def _index_tasks(sources: list[_Source], rules: CountRules, rows_for, summary,
                 tids: list[int], region, tmpdir: str | None) -> list[_RefTask]:
    first = sources[0]
    tasks = []
    for tid in tids:
        files = []
        beg, end = 0, None
        if region is not None:
            _, beg, end = region
        for src in sources:
            if tid >= len(src.offsets):
                files.append((src.path, None, None, len(src.names)))
                continue
            start, stop, linear = src.offsets[tid]
            if start is not None and region is not None and linear:
                window = min(beg >> 14, len(linear) - 1)
                if linear[window] > start:
                    start = linear[window]
            files.append((src.path, start, stop, len(src.names)))
        tasks.append(_RefTask(tid, first.names[tid], first.lengths[tid], tuple(files), rules,
                              beg, end, rows_for(tid) if rows_for else None, summary, tmpdir))
    return tasks


def _stream_coverage(sources: list[_Source], rules: CountRules,
                     region) -> Iterator[tuple[int, list[RefCoverage]]]:
    """References in order, each with every input's coverage (one pass per input, in step)."""
    gens = []
    for src in sources:
        batcher = _stream_batcher(src)
        if region is not None:
            tid, beg, end = region
            gen = iter_ref_coverage(batcher, rules, src.lengths, src.display or src.path,
                                    tid=tid, beg=beg, end=end)
        else:
            gen = iter_ref_coverage(batcher, rules, src.lengths, src.display or src.path)
        gens.append([gen, None, batcher])

    def advance(slot) -> None:
        try:
            slot[1] = next(slot[0])
        except StopIteration:
            slot[1] = None
            proc = getattr(slot[2], "process", None)
            if proc is not None and proc.wait() != 0:
                message = proc.stderr.read().decode(errors="replace").strip()
                raise DataError(f"error reading alignments: {message}") from None

    for slot in gens:
        advance(slot)
    lengths = sources[0].lengths
    while any(slot[1] is not None for slot in gens):
        tid = min(slot[1].tid for slot in gens if slot[1] is not None)
        covs = []
        for slot in gens:
            if slot[1] is not None and slot[1].tid == tid:
                covs.append(slot[1])
                advance(slot)
            else:
                covs.append(_empty(tid, lengths[tid]))
        yield tid, covs


def _check_unplaced(src: _Source, rules: CountRules) -> None:
    """Walk the records after the last reference's (the unplaced reads, which add no
    depth) for their checks only: without -r samtools depth reads them, and fails on a
    bad one (a refID or mate refID out of range), so an indexed walk does too."""
    from gfcli.engine.depth.core import mapped_batcher

    assert src.offsets is not None
    ends = [stop for start, stop, _ in src.offsets if start is not None]
    if any(stop is None for stop in ends) or src.first_record is None:
        return  # no pseudo-bin: where the placed records end is not known
    start = max(ends, default=src.first_record)
    batcher = mapped_batcher(src.path, start, None, len(src.names))
    for _ in iter_ref_coverage(batcher, rules, src.lengths, src.path):
        pass


def run_depth(req: DepthRequest) -> None:
    if not req.inputs:
        raise UsageError("no input files given")
    if req.prefix is None and (req.by or req.thresholds or req.quantize or req.median
                               or req.no_per_base):
        raise UsageError("--by, --thresholds, --quantize, --median and -n need --prefix")
    mode = MOSDEPTH if req.prefix is not None else SAMTOOLS
    if mode == MOSDEPTH and len(req.inputs) != 1:
        raise UsageError("--prefix takes one input file")
    rules = _rules(req, mode)
    sources = _open_sources(req, rules)
    from gfcli.engine.depth.native import kernels

    kernels()  # before forking, so workers inherit the loaded kernels
    if mode == MOSDEPTH:
        from gfcli.engine.depth.summary import run_summary

        run_summary(req, rules, sources)
        return
    _run_samtools(req, rules, sources)


def _run_samtools(req: DepthRequest, rules: CountRules, sources: list[_Source]) -> None:
    from gfcli.engine.depth import rows as drows
    from gfcli.engine.sinks import AtomicOutput

    if req.region and any(s.kind == "bam-stream" for s in sources):
        raise DataError("cannot load the index (needed for -r)",
                        path=next(s.path for s in sources if s.kind == "bam-stream"))
    names, lengths = sources[0].names, sources[0].lengths
    region = _region_of(req, names, lengths)
    bed = _read_bed(req.bed, names) if req.bed else None
    if region is not None:
        tids = [region[0]]
    elif bed is not None:
        tids = [t for t, n in enumerate(names) if n in bed]
    else:
        tids = list(range(len(names)))
    indexed = all(s.kind == "indexed" for s in sources)
    # samtools -s keeps one table of read names for the whole file, so a read can meet a
    # name from another reference: several references then go in one pass.
    if rules.overlaps and len(tids) > 1:
        indexed = False

    def rows_for(tid: int) -> drows._Rows:
        return drows._Rows(req.all_positions, region[1] if region else 0,
                           region[2] if region else None,
                           None if bed is None else bed.get(names[tid], np.zeros((0, 2),
                                                                                 np.int64)),
                           region is not None)

    with AtomicOutput(req.output) as target, drows.open_output(target) as fd:
        if req.header:
            drows.write_all(fd, ("#CHROM\tPOS" + "".join(f"\t{s.path}" for s in sources)
                                 + "\n").encode())
        if indexed:
            segments = drows.plan_segments(sources, rules, tids, region, rows_for,
                                           req.threads)
            drows.run_indexed(segments, fd, req.threads)
            if region is None:
                for src in sources:
                    _check_unplaced(src, rules)
        else:
            drows.run_streaming(sources, rules, region, rows_for, req.all_positions, fd)
