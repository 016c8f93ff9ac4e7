"""`gfcli view` and `gfcli filter` for FASTQ, as `ViewPlan`s.

Output types: FASTQ text (default), BGZF-compressed FASTQ (`-O fastq.gz`, `-O z`, or an
`-o` name ending in .gz), and tables (`-O tsv|json|parquet|arrow`) with the columns
name, seq, qual, length, meanq, gc, n_count. Records are written as their own bytes
(a kept record is copied, never re-formatted). BGZF files are read in record-aligned
chunks by the workers of `-@`; plain and gzip input is one stream.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfcli.engine import sinks, sniff
from gfcli.engine.chunks import STREAM, Chunk
from gfcli.engine.errors import UsageError
from gfcli.engine.fastq.reader import Batch, Source, plan_chunks
from gfcli.engine.fastq.select import FastqFilter, numeric, strings
from gfcli.engine.source import Input
from gfcli.engine.view import ViewPlan, ViewRequest

FASTQ_TEXT = "fastq"
FASTQ_BGZF = "fastq.gz"
_NAMES = {"fastq": FASTQ_TEXT, "fq": FASTQ_TEXT, "fastq.gz": FASTQ_BGZF, "fq.gz": FASTQ_BGZF,
          "z": FASTQ_BGZF, "bgzf": FASTQ_BGZF}
COLUMNS = ("name", "seq", "qual", "length", "meanq", "gc", "n_count")


def output_type(req: ViewRequest) -> sinks.OutputType:
    """-O, else the -o name (.gz: BGZF, table suffixes), else FASTQ text."""
    value = (req.output_type or "").strip().lower()
    if value:
        if value in _NAMES:
            return sinks.OutputType(_NAMES[value])
        if len(value) == 2 and value[0] == "z" and value[1].isdigit():
            return sinks.OutputType(FASTQ_BGZF, int(value[1]))
        try:
            out = sinks.parse_output_type(value, req.output, FASTQ_TEXT)
        except UsageError:
            out = None
        if out is None or out.kind not in sinks.TABLE_TYPES:
            raise UsageError(f"output type '{req.output_type}' is not for FASTQ input; use "
                             "fastq, fastq.gz (BGZF), tsv, json, parquet or arrow")
        return out
    lower = (req.output or "").lower()
    if lower.endswith((".gz", ".bgz", ".bgzf")):
        return sinks.OutputType(FASTQ_BGZF)
    out = sinks.parse_output_type(None, req.output, FASTQ_TEXT)
    return out if out.kind in sinks.TABLE_TYPES else sinks.OutputType(FASTQ_TEXT)


def _fmt_float(x: float) -> str:
    return "." if x != x else f"{x:.6g}"


@dataclass(frozen=True)
class FastqFormatter:
    """Chunk -> output bytes (or Arrow batches); pickled to workers."""

    source: Source
    out_kind: str  # FASTQ_TEXT/FASTQ_BGZF (raw records), TSV, JSON_LINES, or a table
    rfilter: FastqFilter | None = None

    def header_payload(self) -> bytes:
        if self.out_kind == sinks.TSV:
            return ("\t".join(COLUMNS) + "\n").encode()
        return b""

    def selected(self, chunk: Chunk) -> Iterator[tuple[Batch, np.ndarray | None]]:
        for batch in self.source.batches(chunk):
            yield batch, None if self.rfilter is None else self.rfilter.select(batch)

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        for batch, keep in self.selected(chunk):
            yield self.render(batch, keep)

    def iter_split_payloads(self, chunk: Chunk) -> Iterator[tuple[bytes, bytes]]:
        for batch, keep in self.selected(chunk):
            if keep is None:
                yield self.render(batch, None), b""
            else:
                yield self.render(batch, keep), self.render(batch, ~keep)

    def count(self, chunk: Chunk) -> int:
        return sum(batch.n if keep is None else int(np.count_nonzero(keep))
                   for batch, keep in self.selected(chunk))

    def render(self, batch: Batch, keep: np.ndarray | None) -> bytes:
        if self.out_kind in (FASTQ_TEXT, FASTQ_BGZF):
            return raw_records(batch, keep)
        rows = np.arange(batch.n) if keep is None else np.flatnonzero(keep)
        if not len(rows):
            return b""
        cols = {name: col[rows] for name, col in numeric(batch).items()}
        if self.out_kind == sinks.TSV:
            text = [strings(batch, s, rows) for s in ("name", "seq", "qual")]
            lines = [f"{n}\t{s}\t{q}\t{ln}\t{_fmt_float(mq)}\t{_fmt_float(g)}\t{nc}\n"
                     for n, s, q, ln, mq, g, nc in zip(
                         *text, cols["length"].tolist(), cols["meanq"].tolist(),
                         cols["gc"].tolist(), cols["n_count"].tolist(), strict=True)]
            return "".join(lines).encode("latin-1")
        records = table_batch(batch, rows, cols).to_pylist()
        return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()

    def arrow_batches(self, chunk: Chunk) -> list[Any]:
        out = []
        for batch, keep in self.selected(chunk):
            rows = np.arange(batch.n) if keep is None else np.flatnonzero(keep)
            cols = {name: col[rows] for name, col in numeric(batch).items()}
            out.append(table_batch(batch, rows, cols))
        return out


def raw_records(batch: Batch, keep: np.ndarray | None) -> bytes:
    """The kept records' own bytes, in order."""
    from gfcli.engine.fastq import native as k

    recs = batch.recs
    if not batch.n:
        return b""
    if keep is None:
        starts, ends = recs[:, k.REC_START], recs[:, k.REC_END]
        if np.array_equal(starts[1:], ends[:-1]):  # no blank lines between records
            return batch.data[starts[0] : ends[-1]].tobytes()
        keep = np.ones(batch.n, dtype=bool)
    size = int((recs[:, k.REC_END] - recs[:, k.REC_START])[keep].sum())
    out = np.empty(size, dtype=np.uint8)
    k.gather_records(batch.data, recs, keep, out)
    return out.tobytes()


def _string_array(batch: Batch, starts: np.ndarray, lens: np.ndarray) -> Any:
    import pyarrow as pa

    from gfcli.engine.fastq import native as k

    starts = np.ascontiguousarray(starts, dtype=np.int64)  # the kernel takes addresses
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    offsets = np.empty(len(starts) + 1, dtype=np.int64)
    data = np.empty(int(lens.sum()), dtype=np.uint8)
    k.gather_spans(batch.data, starts, lens, data, offsets)
    arr = pa.Array.from_buffers(pa.large_string(), len(starts),
                                [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:  # not UTF-8: keep every byte as a latin-1 character
        arr = pa.array([bytes(data[a:b]).decode("latin-1")
                        for a, b in zip(offsets[:-1], offsets[1:], strict=True)],
                       type=pa.large_string())
    return arr.cast(pa.string())


def table_batch(batch: Batch, rows: np.ndarray, cols: dict[str, np.ndarray]) -> Any:
    import pyarrow as pa

    from gfcli.engine.fastq import native as k

    recs = batch.recs[rows]
    name_start = recs[:, k.REC_START] + 1
    seq_len = recs[:, k.SEQ_LEN]
    arrays = [
        _string_array(batch, name_start, recs[:, k.NAME_END] - name_start),
        _string_array(batch, recs[:, k.SEQ_START], seq_len),
        _string_array(batch, recs[:, k.QUAL_START], seq_len),
        pa.array(cols["length"], type=pa.int64()),
        pa.array(cols["meanq"], type=pa.float64(), from_pandas=True),
        pa.array(cols["gc"], type=pa.float64(), from_pandas=True),
        pa.array(cols["n_count"], type=pa.int64()),
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(COLUMNS))


@dataclass(frozen=True)
class _ArrowTask:
    formatter: FastqFormatter

    def __call__(self, chunk: Chunk) -> list[Any]:
        return self.formatter.arrow_batches(chunk)


@dataclass
class TableWriter:
    """-O parquet|arrow: workers build Arrow batches, one writer writes them in order."""

    formatter: FastqFormatter
    kind: str

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None:
        import pyarrow as pa

        from gfcli.engine.execute import make_runner

        empty = Batch(np.zeros(0, np.uint8), np.zeros((0, 6), np.int64))
        schema = table_batch(empty, np.zeros(0, np.int64), numeric(empty)).schema
        # A pipe cannot seek: write stdout through a Python file object, not its path.
        target = pa.PythonFile(os.fdopen(os.dup(1), "wb"), mode="w") if path == "-" else path
        if self.kind == sinks.PARQUET:
            import pyarrow.parquet as pq

            writer = pq.ParquetWriter(target, schema)
        else:
            writer = pa.ipc.new_file(target, schema)
        parallel = not (len(chunks) == 1 and chunks[0].kind == STREAM)
        try:
            if parallel:
                with make_runner(runner_threads) as runner:
                    for batches in runner.map(_ArrowTask(self.formatter), chunks):
                        for b in batches:
                            writer.write_batch(b)
            else:
                for chunk in chunks:
                    for b in self.formatter.arrow_batches(chunk):
                        writer.write_batch(b)
        finally:
            writer.close()
            if path == "-":
                target.close()


def _check_options(req: ViewRequest) -> None:
    given = [opt for opt, value in (
        ("-r", req.regions), ("-R", req.regions_file), ("-t", req.targets),
        ("-T", req.targets_file), ("-s", req.samples), ("-S", req.samples_file),
        ("--fields", req.fields), ("--header-only", req.header_only or None),
        ("--write-index", req.write_index or None), ("-f", req.require_flags or None),
        ("-F", req.exclude_flags or None), ("-q", req.min_mapq or None),
    ) if value]
    if given:
        raise UsageError(f"{', '.join(given)}: not available for FASTQ input (no header, "
                         "coordinates, samples or flags)")


def make_view_plan(req: ViewRequest, inp: Input, rfilter: FastqFilter | None = None) -> ViewPlan:
    _check_options(req)
    if inp.is_url:
        raise UsageError("FASTQ input from a URL is not supported; download it or pipe it in")
    out = output_type(req)
    path = inp.htslib_path() if inp.is_stdin else inp.name
    source = Source(path, inp.display, inp.compression)
    if inp.compression == sniff.BGZF and inp.splittable:
        chunks = plan_chunks(path)
    else:
        chunks = [Chunk.stream()]
    formatter = FastqFormatter(source, out.kind, rfilter)
    direct = TableWriter(formatter, out.kind) if out.kind in (sinks.PARQUET,
                                                               sinks.ARROW) else None
    return ViewPlan(formatter=formatter, chunks=chunks, output=out,
                    bgzf=out.kind == FASTQ_BGZF, level=out.level, direct=direct, input=inp)


def make_filter_plan(req: ViewRequest, inp: Input) -> ViewPlan:
    expr = req.include if req.include is not None else req.exclude
    rfilter = None
    if expr is not None:
        rfilter = FastqFilter(expr, exclude=req.exclude is not None)
        rfilter.compiled()  # expression errors before any work
    plan = make_view_plan(req, inp, rfilter)
    plan.rejects = bool(req.rejects)
    if req.rejects and plan.direct is not None:
        raise UsageError("-U works with FASTQ, TSV and JSON output")
    plan.explain = explain(rfilter, plan)
    return plan


def explain(rfilter: FastqFilter | None, plan: ViewPlan) -> str:
    lines = []
    if rfilter is None:
        lines.append("no expression: every record is kept")
    else:
        lines.append(rfilter.compiled().explain())
        parts = rfilter._compiled()[1]
        from gfcli.engine.expr.plan import unparse

        fast = [unparse(p) for p, is_numeric in parts if is_numeric]
        slow = [unparse(p) for p, is_numeric in parts if not is_numeric]
        lines.append("   numeric conjuncts on numba-computed columns (length, meanq, gc, "
                     "n_count), no strings built: " + ("; ".join(fast) or "(none)"))
        lines.append("   string conjuncts, on the survivors only: " + ("; ".join(slow) or
                                                                       "(none)"))
    chunks = plan.chunks
    how = ("one stream (plain/gzip input or stdin)" if chunks[0].kind == STREAM else
           f"{len(chunks)} record-aligned BGZF chunk(s), run by -@ workers")
    lines.append(f"execution: {how}; records split and checked by a numba kernel over "
                 "packed buffers; kept records copied as their own bytes")
    return "\n".join(lines)
