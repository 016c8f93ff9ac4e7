"""-O tsv|json|parquet|arrow for alignments: the 11 SAM columns plus tags from --fields.

Each chunk becomes Arrow record batches in a worker (the SAM text of a batch, from
htslib's sam_format1, is split into columns and the numeric ones are cast by Arrow in one
call per column); the parent writes them in chunk order through one writer. TSV rows are
the SAM fields as samtools prints them, tag values in SAM text form, '.' when absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gfcli.engine import sinks
from gfcli.engine.chunks import STREAM, Chunk
from gfcli.engine.errors import DataError

SAM_COLUMNS = ("QNAME", "FLAG", "RNAME", "POS", "MAPQ", "CIGAR", "RNEXT", "PNEXT", "TLEN",
               "SEQ", "QUAL")
_INT_COLUMNS = {"FLAG": "uint16", "POS": "int64", "MAPQ": "uint8", "PNEXT": "int64",
                "TLEN": "int64"}
MISSING = "."


def _tag_text(value: Any) -> str:
    """A tag value as SAM prints it (B arrays without the type letter)."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)) or hasattr(value, "typecode"):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class _BatchTask:
    """Worker side: one chunk to a list of pyarrow RecordBatches (picklable results)."""

    formatter: Any
    tags: tuple[str, ...]

    def __call__(self, chunk: Chunk) -> list[Any]:
        return list(iter_batches(self.formatter, chunk, self.tags))


def iter_batches(formatter: Any, chunk: Chunk, tags: tuple[str, ...]) -> Iterator[Any]:
    import pyarrow as pa

    for batch in formatter._batches(formatter.records(chunk)):
        rows = [rec.to_string().split("\t", 11) for rec in batch]
        columns: dict[str, Any] = {}
        for i, name in enumerate(SAM_COLUMNS):
            values = pa.array([row[i] for row in rows], type=pa.string())
            if name in _INT_COLUMNS:
                values = values.cast(pa.int64()).cast(getattr(pa, _INT_COLUMNS[name])())
            columns[name] = values
        for tag in tags:
            values = [rec.get_tag(tag) if rec.has_tag(tag) else None for rec in batch]
            values = [list(v) if hasattr(v, "typecode") else v for v in values]
            columns[tag] = _tag_array(values)
        yield pa.RecordBatch.from_pydict(columns)


def _tag_array(values: list[Any]) -> Any:
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int}:
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float}:
        return pa.array(values, type=pa.float64())
    if kinds <= {list}:
        flat = {type(x) for v in values if v is not None for x in v}
        inner = pa.int64() if flat <= {int} else pa.float64()
        return pa.array(values, type=pa.list_(inner))
    return pa.array([None if v is None else _tag_text(v) for v in values], type=pa.string())


@dataclass
class TableWriter:
    formatter: Any
    kind: str
    tags: list[str]

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None:
        from gfcli.engine.execute import make_runner

        tags = tuple(self.tags)
        parallel = not (len(chunks) == 1 and chunks[0].kind == STREAM)
        sink = _Sink(path, self.kind, tags)
        try:
            if parallel:
                with make_runner(runner_threads) as runner:
                    for batches in runner.map(_BatchTask(self.formatter, tags), chunks):
                        for batch in batches:
                            sink.write(batch)
            else:
                for chunk in chunks:
                    for batch in iter_batches(self.formatter, chunk, tags):
                        sink.write(batch)
        finally:
            sink.close()


class _Sink:
    """One output table: Arrow IPC stream, Parquet, TSV or JSON lines."""

    def __init__(self, path: str, kind: str, tags: tuple[str, ...]):
        self.path = path
        self.kind = kind
        self.tags = tags
        self._writer: Any = None
        self._schema: Any = None
        self._handle: Any = None
        if kind in (sinks.TSV, sinks.JSON_LINES):
            self._handle = os.fdopen(os.dup(1), "wb") if path == "-" else open(path, "wb")
            if kind == sinks.TSV:
                self._handle.write(("\t".join((*SAM_COLUMNS, *tags)) + "\n").encode())

    def write(self, batch: Any) -> None:
        if self.kind == sinks.TSV:
            self._handle.write(_tsv_rows(batch).encode())
        elif self.kind == sinks.JSON_LINES:
            names = batch.schema.names
            cols = [batch.column(i).to_pylist() for i in range(len(names))]
            lines = [json.dumps(dict(zip(names, row, strict=True)), separators=(",", ":"))
                     for row in zip(*cols, strict=True)]
            if lines:
                self._handle.write(("\n".join(lines) + "\n").encode())
        else:
            self._write_arrow(batch)

    def _write_arrow(self, batch: Any) -> None:
        import pyarrow as pa

        if self._schema is None:
            # Tag columns that were all absent in the first batch are typed as strings.
            fields = [f if not pa.types.is_null(f.type) else pa.field(f.name, pa.string())
                      for f in batch.schema]
            self._schema = pa.schema(fields)
            target = self.path if self.path != "-" else pa.output_stream("/dev/stdout")
            if self.kind == sinks.PARQUET:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(target, self._schema)
            else:
                self._writer = pa.ipc.new_file(target, self._schema)
        if batch.schema != self._schema:
            try:
                batch = batch.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise DataError(f"a tag changes type between records: {exc}") from None
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._writer is None and self.kind in (sinks.PARQUET, sinks.ARROW):
            self._write_empty()
        if self._writer is not None:
            self._writer.close()

    def _write_empty(self) -> None:
        import pyarrow as pa

        fields = [pa.field(n, pa.string()) for n in SAM_COLUMNS]
        for name in _INT_COLUMNS:
            fields[SAM_COLUMNS.index(name)] = pa.field(name, getattr(pa, _INT_COLUMNS[name])())
        fields += [pa.field(t, pa.string()) for t in self.tags]
        self._schema = pa.schema(fields)
        target = self.path if self.path != "-" else pa.output_stream("/dev/stdout")
        if self.kind == sinks.PARQUET:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(target, self._schema)
        else:
            self._writer = pa.ipc.new_file(target, self._schema)


def _tsv_rows(batch: Any) -> str:
    cols = []
    for i in range(batch.num_columns):
        values = batch.column(i).to_pylist()
        cols.append([MISSING if v is None else _tag_text(v) if not isinstance(v, str) else v
                     for v in values])
    return "".join("\t".join(row) + "\n" for row in zip(*cols, strict=True))
