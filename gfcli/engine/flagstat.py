"""`gfcli flagstat`: samtools flagstat's counts and its three output formats.

BAM files go through the fast path: BGZF chunks inflated with libdeflate and walked by a
native kernel (`gfcli.engine.bam.native`, numba kernels as fallback) that adds each record
to 32 counters; chunks run in worker processes with `-@ N` and their counters are merged
with `+=`. SAM, CRAM and BAM from stdin are read through pysam (CRAM asks htslib only for
the fields flagstat needs, so no reference is required) into columns counted by the same
kernel logic.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass, field

from gfcli.engine import sniff
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.source import Input, open_input, require_format

FIELDS = 16  # counters per QC column, in samtools' line order
# Line labels of the text and TSV outputs (TSV adds the '%' lines), and the JSON keys.
_TEXT_LABELS = (
    "in total (QC-passed reads + QC-failed reads)", "primary", "secondary", "supplementary",
    "duplicates", "primary duplicates", "mapped", "primary mapped", "paired in sequencing",
    "read1", "read2", "properly paired", "with itself and mate mapped", "singletons",
    "with mate mapped to a different chr", "with mate mapped to a different chr (mapQ>=5)",
)
# counter index -> denominator index for the lines that carry a percentage
_PERCENT_OF = {6: 0, 7: 1, 11: 8, 13: 8}
_JSON_KEYS = (
    "total", "primary", "secondary", "supplementary", "duplicates", "primary duplicates",
    "mapped", "primary mapped", "paired in sequencing", "read1", "read2", "properly paired",
    "with itself and mate mapped", "singletons", "with mate mapped to a different chr",
    "with mate mapped to a different chr (mapQ >= 5)",
)

# htslib's SAM_* field bits for the CRAM required_fields option: FLAG, RNAME, MAPQ, RNEXT.
_REQUIRED_FIELDS = 0x2 | 0x4 | 0x10 | 0x40


@dataclass
class FlagstatCounts:
    """QC-passed counters [0:16] and QC-failed counters [16:32]; mergeable with `+=`."""

    counts: list[int] = field(default_factory=lambda: [0] * (2 * FIELDS))

    def __iadd__(self, other: FlagstatCounts) -> FlagstatCounts:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return self

    def passed(self, i: int) -> int:
        return self.counts[i]

    def failed(self, i: int) -> int:
        return self.counts[FIELDS + i]


@dataclass
class FlagstatRequest:
    input: str | None = None
    output_format: str | None = None  # None (text), "json" or "tsv"
    threads: int = 1
    reference: str | None = None
    input_fmt_options: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- formatting


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _percent_value(n: int, total: int) -> float:
    # samtools: (float)n / total * 100.0 -- a single-precision division, then double.
    return _f32(_f32(float(n)) / _f32(float(total))) * 100.0


def _percent(n: int, total: int, sign: str = "%") -> str:
    if total == 0:
        return "N/A"
    return f"{_percent_value(n, total):.2f}{sign}"


def format_text(c: FlagstatCounts) -> str:
    lines = []
    for i, label in enumerate(_TEXT_LABELS):
        line = f"{c.passed(i)} + {c.failed(i)} {label}"
        if i in _PERCENT_OF:
            d = _PERCENT_OF[i]
            passed = _percent(c.passed(i), c.passed(d))
            line += f" ({passed} : {_percent(c.failed(i), c.failed(d))})"
        lines.append(line)
    return "\n".join(lines) + "\n"


def format_tsv(c: FlagstatCounts) -> str:
    lines = []
    for i, label in enumerate(_TEXT_LABELS):
        label = label.removeprefix("in ")  # TSV says "total (QC-passed ...)"
        lines.append(f"{c.passed(i)}\t{c.failed(i)}\t{label}")
        if i in _PERCENT_OF:
            d = _PERCENT_OF[i]
            lines.append(f"{_percent(c.passed(i), c.passed(d))}\t"
                         f"{_percent(c.failed(i), c.failed(d))}\t{label} %")
    return "\n".join(lines) + "\n"


def format_json(c: FlagstatCounts) -> str:
    # samtools' own layout, spaces before newlines included, so output is byte-identical.
    def column(offset: int) -> list[str]:
        rows = []
        for i, key in enumerate(_JSON_KEYS):
            rows.append(f'  "{key}": {c.counts[offset + i]}')
            if i in _PERCENT_OF:
                total = c.counts[offset + _PERCENT_OF[i]]
                value = "null"
                if total:
                    value = f"{_percent_value(c.counts[offset + i], total):.2f}"
                rows.append(f'  "{key} %": {value}')
        return rows

    out = ["{", ' "QC-passed reads": { ']
    out.append(", \n".join(column(0)) + " ")
    out.append(" },")
    out.append(' "QC-failed reads": { ')
    out.append(", \n".join(column(FIELDS)) + " ")
    out.append(" }")
    out.append("}")
    return "\n".join(out) + "\n"


FORMATTERS = {None: format_text, "json": format_json, "tsv": format_tsv}


# --------------------------------------------------------------------------- BAM fast path


class _Counter:
    """Adds the records a batcher hands over to counters, natively or with numba."""

    def __init__(self, n_ref: int) -> None:
        import ctypes

        from gfcli.engine.bam import native

        self._native = native.load()
        if self._native is not None:
            self._counts = (ctypes.c_int64 * (2 * FIELDS))()
            self._result = (ctypes.c_int64 * 2)()
            self._counts_addr = ctypes.addressof(self._counts)
            self._result_addr = ctypes.addressof(self._result)
            self._fn = self._native["flagstat_records"]
        else:
            import numpy as np

            from gfcli.engine.bam import kernels

            self._kernels = kernels
            self._counts = np.zeros(2 * FIELDS, dtype=np.int64)
            self._result = np.zeros(2, dtype=np.int64)
        self._n_ref = n_ref

    def __call__(self, batcher, start: int, limit: int, end: int) -> tuple[int, int]:
        if self._native is not None:
            status = self._fn(batcher.addr, start, limit, end, self._n_ref, self._counts_addr,
                              self._result_addr)
        else:
            status = self._kernels.flagstat_records(batcher.array(), start, limit, end,
                                                    self._n_ref, self._counts, self._result)
        return int(self._result[1]), int(status)

    def result(self) -> FlagstatCounts:
        return FlagstatCounts([int(x) for x in self._counts])


@dataclass
class _ChunkResult:
    counts: FlagstatCounts
    spans: list

    def __iadd__(self, other: _ChunkResult) -> _ChunkResult:
        self.counts += other.counts
        self.spans.extend(other.spans)
        return self


def _count_chunk(chunk) -> _ChunkResult:
    from gfcli.engine.bam.reader import walk_chunk

    counter = _Counter(chunk.n_ref)
    span = walk_chunk(chunk, counter)
    return _ChunkResult(counter.result(), [span])


def _count_bam_file(path: str, index: str | None, threads: int) -> FlagstatCounts:
    from gfcli.engine.bam import native, reader
    from gfcli.engine.execute import make_runner, merge_results

    header = reader.read_header_from_path(path)
    native.load()  # before forking, so workers inherit the loaded kernels
    if threads == 1:
        from gfcli.engine.bam import prefetch

        if prefetch.available():
            # samtools' -@ 1: one extra thread (inflating ahead; see prefetch)
            counter = _Counter(header.n_ref)
            prefetch.walk_file(path, header.first_record, counter, header.n_ref)
            return counter.result()
    chunks = reader.plan_chunks(path, header, index)
    if threads <= 1:
        # One pass: the chunk plan matters only for splitting work between processes.
        chunks = [reader.BamChunk(path, 0, header.n_ref, start_voffset=header.first_record)]
    with make_runner(threads) as runner:
        merged = merge_results(runner.map(_count_chunk, chunks))
    assert merged is not None
    if not reader.stitch_ok(merged.spans):
        # A resynchronised chunk start disagreed with where the previous chunk ended:
        # never report counts from a doubtful split; count in one pass instead.
        return _count_chunk(
            reader.BamChunk(path, 0, header.n_ref, start_voffset=header.first_record)
        ).counts
    return merged.counts


def _count_bam_stream(inp: Input) -> FlagstatCounts:
    from gfcli.engine.bam import reader

    path = inp.htslib_path()
    stream = os.fdopen(os.dup(sys.stdin.fileno()), "rb") if path == "-" else open(path, "rb")
    with stream:
        batcher = reader.open_stream_batcher(stream, inp.display)
        header = reader.read_header(batcher)
        counter = _Counter(header.n_ref)
        reader.walk_batcher(batcher, counter, inp.display)
    return counter.result()


# --------------------------------------------------------------------------- pysam path

_PYSAM_BATCH = 1 << 16


def _count_with_pysam(inp: Input, request: FlagstatRequest) -> FlagstatCounts:
    """SAM, CRAM (and anything htslib reads) through pysam, counted in column batches."""
    import numpy as np
    import pysam

    from gfcli.engine.bam import kernels

    options = [f"required_fields={_REQUIRED_FIELDS}".encode()]
    options += [opt.encode() for opt in request.input_fmt_options]
    kwargs: dict = {"check_sq": False}
    if inp.format == sniff.CRAM:
        kwargs["format_options"] = options
        if request.reference:
            kwargs["reference_filename"] = request.reference
    counts = np.zeros(2 * FIELDS, dtype=np.int64)
    flag = np.empty(_PYSAM_BATCH, dtype=np.int64)
    refid = np.empty(_PYSAM_BATCH, dtype=np.int64)
    next_refid = np.empty(_PYSAM_BATCH, dtype=np.int64)
    mapq = np.empty(_PYSAM_BATCH, dtype=np.int64)
    save = pysam.set_verbosity(0)
    try:
        handle = pysam.AlignmentFile(inp.htslib_path(), "r", threads=max(1, request.threads),
                                     **kwargs)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read alignments: {exc}", path=inp.display) from None
    finally:
        pysam.set_verbosity(save)
    try:
        n = 0
        for read in handle.fetch(until_eof=True):
            flag[n] = read.flag
            refid[n] = read.reference_id
            next_refid[n] = read.next_reference_id
            mapq[n] = read.mapping_quality
            n += 1
            if n == _PYSAM_BATCH:
                kernels.flagstat_columns(flag, refid, next_refid, mapq, n, counts)
                n = 0
        kernels.flagstat_columns(flag, refid, next_refid, mapq, n, counts)
    except (OSError, ValueError) as exc:
        raise DataError(f"error reading alignments: {exc}", path=inp.display) from None
    finally:
        handle.close()
    return FlagstatCounts([int(x) for x in counts])


# --------------------------------------------------------------------------- entry


def compute(inp: Input, request: FlagstatRequest) -> FlagstatCounts:
    if inp.format == sniff.BAM and not inp.is_url and not request.input_fmt_options:
        if inp.is_stdin:
            return _count_bam_stream(inp)
        return _count_bam_file(inp.name, inp.index, request.threads)
    return _count_with_pysam(inp, request)


def run_flagstat(request: FlagstatRequest) -> None:
    fmt = request.output_format.lower() if request.output_format else None
    if fmt not in FORMATTERS:
        raise UsageError(
            f"unknown output format '{request.output_format}' (expected json or tsv)"
        )
    inp = open_input(request.input)
    require_format(inp, sniff.ALIGNMENT_FORMATS, "SAM, BAM or CRAM")
    counts = compute(inp, request)
    sys.stdout.write(FORMATTERS[fmt](counts))
    sys.stdout.flush()
