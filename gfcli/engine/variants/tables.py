"""-O tsv|json|parquet|arrow for VCF/BCF: the fixed VCF columns plus INFO/FORMAT fields.

The records come from the plan's formatter as VCF text payloads (`iter_payloads`, about
4 MB each), exactly what `-O v` would print: regions, targets, sample subsets with the AC/AN
recount, and `gfcli filter`'s expression and soft filter are already applied. Each payload is
split into columns by Arrow's CSV reader (tab-separated, no quoting, '.' read as null) and
becomes one record batch; INFO values are cut out with one regular expression per tag and
FORMAT values by their position in the record's FORMAT key list, all as Arrow kernels, never
one Python object per value.

Workers turn a chunk's payloads into TSV/JSON text or into Arrow IPC stream bytes (one
record batch each); the parent writes them in chunk order through one writer, so `-@ 1` and
`-@ N` give identical files. With one worker (or one stream) the parent converts payload by
payload, so memory stays flat whatever the input size.

Columns (Arrow/Parquet/JSON type; TSV always keeps the VCF text):
- CHROM: dictionary<int32, string>, the header's contigs first in header order.
- POS: int64. ID, REF, FILTER: string ('.' -> null).
- ALT: list<string>, split at ','; '.' (no alternate allele) -> null.
- QUAL: float64, null when '.'.
- INFO tags (`--fields INFO/DP`, or bare `DP`: INFO first, then FORMAT, as bcftools):
  a column named by the tag (`INFO/TAG` when the tag is a fixed column's name), typed
  from the header: Integer -> int64, Float -> float64, String/Character -> string,
  Flag -> bool (absent = false; in TSV 1 or '.', as `bcftools query`); Number other than 1
  -> a list of those, '.' items -> null (TSV: the comma-joined VCF text).
- FORMAT tags (`--fields FMT/DP`): one column per output sample, `SAMPLE:TAG`, sample by
  sample, typed like INFO; GT is the genotype text (`0|1`, `./.`).

Missing values (absent tag, '.', a sample field cut short) are null, and '.' in TSV. The
TSV starts with a line of the column names (its rows equal `bcftools query` with the same
columns); JSON is one object per line with the same names (NaN and infinities, which JSON
cannot spell, as null); Arrow is the IPC file format (CHROM dictionary deltas when a
contig the header does not declare appears); Parquet gets one row group per batch. `-h`
writes the schema (the TSV name line) without rows.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from gfcli.engine import sinks
from gfcli.engine.chunks import STREAM, Chunk
from gfcli.engine.errors import DataError, UsageError

FIXED_COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER")
VCF_COLUMNS = (*FIXED_COLUMNS, "INFO", "FORMAT")
MISSING = "."
_PREFIXES = {"INFO": "INFO", "FMT": "FORMAT", "FORMAT": "FORMAT"}
_DEF_LINE = re.compile(rb"^##(INFO|FORMAT)=<(.*)>\s*$")
_DEF_ITEM = re.compile(rb'([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|[^,]*)')


@dataclass(frozen=True)
class Field:
    """One requested INFO or FORMAT tag and its header definition."""

    section: str  # "INFO" or "FORMAT"
    tag: str
    number: str
    type: str  # Integer, Float, Flag, String, Character

    @property
    def is_flag(self) -> bool:
        return self.section == "INFO" and self.type == "Flag"

    @property
    def is_list(self) -> bool:
        return self.number != "1" and not self.is_flag and not self.is_gt

    @property
    def is_gt(self) -> bool:
        return self.section == "FORMAT" and self.tag == "GT"

    def arrow_type(self) -> Any:
        import pyarrow as pa

        if self.is_flag:
            return pa.bool_()
        scalar = {"Integer": pa.int64(), "Float": pa.float64()}.get(self.type, pa.string())
        if self.is_gt:
            scalar = pa.string()
        return pa.list_(scalar) if self.is_list else scalar


@dataclass(frozen=True)
class Header:
    """What the tables need from the output header (the subset's samples, definitions)."""

    info: dict[str, tuple[str, str]]  # tag -> (Number, Type)
    format: dict[str, tuple[str, str]]
    samples: tuple[str, ...]
    contigs: tuple[str, ...]
    has_format_column: bool

    @staticmethod
    def parse(text: bytes) -> Header:
        info: dict[str, tuple[str, str]] = {}
        fmt: dict[str, tuple[str, str]] = {}
        contigs: list[str] = []
        samples: tuple[str, ...] = ()
        has_format = False
        for line in text.split(b"\n"):
            if line.startswith(b"#CHROM"):
                cols = line.rstrip(b"\r").decode().split("\t")
                has_format = len(cols) > 8
                samples = tuple(cols[9:])
                continue
            if line.startswith(b"##contig=<"):
                m = re.search(rb"[<,]ID=([^,>]+)", line)
                if m:
                    contigs.append(m.group(1).decode())
                continue
            m = _DEF_LINE.match(line)
            if not m:
                continue
            items = {k.decode(): v.decode() for k, v in _DEF_ITEM.findall(m.group(2))}
            if "ID" in items:
                target = info if m.group(1) == b"INFO" else fmt
                target[items["ID"]] = (items.get("Number", "."), items.get("Type", "String"))
        return Header(info, fmt, samples, tuple(contigs), has_format)


def _split_fields(fields: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if fields is None:
        return []
    items = fields.split(",") if isinstance(fields, str) else list(fields)
    out: list[str] = []
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def resolve_fields(fields: str | list[str] | tuple[str, ...] | None,
                   header: Header) -> tuple[Field, ...]:
    """`--fields` items to header definitions: INFO/X, FMT/X (FORMAT/X), or a bare X looked
    up in INFO first, then FORMAT, as bcftools does. Fixed column names are always written
    and skipped here. An unknown tag is a usage error with the closest names."""
    out: list[Field] = []
    for item in _split_fields(fields):
        section, _, tag = item.partition("/")
        if tag and section.upper() in _PREFIXES:
            sections = (_PREFIXES[section.upper()],)
        elif item.upper() in FIXED_COLUMNS:
            continue
        else:
            sections, tag = ("INFO", "FORMAT"), item
        for sec in sections:
            defs = header.info if sec == "INFO" else header.format
            if tag in defs:
                number, typ = defs[tag]
                field = Field(sec, tag, number, typ)
                if field not in out:
                    out.append(field)
                break
        else:
            raise UsageError(_unknown_field(item, sections, header))
    return tuple(out)


def _unknown_field(item: str, sections: tuple[str, ...], header: Header) -> str:
    names: list[str] = []
    for sec in sections:
        defs = header.info if sec == "INFO" else header.format
        prefix = "INFO/" if sec == "INFO" else "FMT/"
        names += [prefix + t for t in defs]
    where = " or ".join("INFO" if s == "INFO" else "FORMAT" for s in sections)
    message = f"--fields: '{item}' is not an {where} tag defined in the header"
    tag = item.partition("/")[2] if len(sections) == 1 else item
    by_tag = {n.partition("/")[2]: n for n in names}
    close = difflib.get_close_matches(tag, list(by_tag), n=3, cutoff=0.5)
    close = [by_tag[c] for c in close] or difflib.get_close_matches(item, names, n=3, cutoff=0.5)
    if close:
        return f"{message} (did you mean {' or '.join(close)}?)"
    if names:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return f"{message} (defined: {shown})"
    return f"{message} (the header defines none)"


@dataclass(frozen=True)
class Layout:
    """Picklable: how a worker turns VCF text payloads into table columns."""

    kind: str
    n_columns: int  # tab-separated columns in a record line
    samples: tuple[str, ...]
    info: tuple[Field, ...]
    fmt: tuple[Field, ...]

    @staticmethod
    def build(kind: str, header: Header, fields: tuple[Field, ...]) -> Layout:
        samples = header.samples
        n_columns = 8 + (1 + len(samples) if samples else 0)
        return Layout(kind, n_columns, samples, tuple(f for f in fields if f.section == "INFO"),
                      tuple(f for f in fields if f.section == "FORMAT") if samples else ())

    def info_name(self, field: Field) -> str:
        return f"INFO/{field.tag}" if field.tag in FIXED_COLUMNS else field.tag

    def names(self) -> list[str]:
        names = list(FIXED_COLUMNS) + [self.info_name(f) for f in self.info]
        names += [f"{s}:{f.tag}" for s in self.samples for f in self.fmt]
        return names

    def schema(self) -> Any:
        import pyarrow as pa

        fixed = [pa.field("CHROM", pa.dictionary(pa.int32(), pa.string())),
                 pa.field("POS", pa.int64()), pa.field("ID", pa.string()),
                 pa.field("REF", pa.string()), pa.field("ALT", pa.list_(pa.string())),
                 pa.field("QUAL", pa.float64()), pa.field("FILTER", pa.string())]
        extra = [pa.field(self.info_name(f), f.arrow_type()) for f in self.info]
        extra += [pa.field(f"{s}:{f.tag}", f.arrow_type()) for s in self.samples
                  for f in self.fmt]
        return pa.schema(fixed + extra)

    # -- payload -> columns ---------------------------------------------------------------
    def read(self, data: bytes) -> dict[str, Any]:
        """The VCF text's columns as Arrow string arrays ('.' -> null), only those needed."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        names = list(VCF_COLUMNS[: min(self.n_columns, 9)]) + [
            f"#{i}" for i in range(max(0, self.n_columns - 9))]
        wanted = list(FIXED_COLUMNS) + (["INFO"] if self.info else [])
        if self.fmt:
            wanted += names[8:]
        try:
            table = pcsv.read_csv(
                io.BytesIO(data),
                read_options=pcsv.ReadOptions(column_names=names, use_threads=False,
                                              block_size=len(data) + 1),
                parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False,
                                                double_quote=False, escape_char=False),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in wanted}, include_columns=wanted,
                    null_values=[MISSING], strings_can_be_null=True),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise DataError(f"could not split the records into columns: {exc}") from None
        return {name: _one_chunk(table.column(name)) for name in wanted}

    def text_columns(self, cols: dict[str, Any]) -> list[tuple[Field | None, Any]]:
        """Each output column as VCF text (string arrays, null when missing); INFO flags as
        bool arrays."""
        import pyarrow.compute as pc

        out: list[tuple[Field | None, Any]] = [(None, cols[n]) for n in FIXED_COLUMNS]
        info = cols.get("INFO")
        for field in self.info:
            tag = re.escape(field.tag)
            if field.is_flag:
                hit = pc.match_substring_regex(info, f"(?:^|;){tag}(?:;|$)")
                out.append((field, pc.fill_null(hit, False)))
            else:
                found = pc.extract_regex(info, f"(?:^|;){tag}=(?P<v>[^;]*)")
                out.append((field, found.flatten()[0]))
        if self.fmt:
            out += self._format_columns(cols)
        return out

    def _format_columns(self, cols: dict[str, Any]) -> list[tuple[Field, Any]]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = cols["FORMAT"].dictionary_encode()
        key_lists = [None if k is None else k.split(":") for k in keys.dictionary.to_pylist()]
        codes = keys.indices.fill_null(len(key_lists)).to_numpy(zero_copy_only=False)
        where: dict[str, Any] = {}
        for field in self.fmt:
            per_key = [-1 if k is None or field.tag not in k else k.index(field.tag)
                       for k in key_lists] + [-1]
            where[field.tag] = np.asarray(per_key, dtype=np.int64)[codes]
        out: list[tuple[Field, Any]] = []
        names = [f"#{i}" for i in range(len(self.samples))]
        for name in names:
            parts = pc.split_pattern(cols[name], ":")
            offsets = parts.offsets.to_numpy()
            starts, lengths = offsets[:-1], np.diff(offsets)
            valid = parts.is_valid().to_numpy(zero_copy_only=False)
            values = parts.values
            for field in self.fmt:
                k = where[field.tag]
                ok = valid & (k >= 0) & (k < lengths)
                index = pa.array(np.where(ok, starts + k, 0), mask=~ok)
                out.append((field, values.take(index)))
        return out

    # -- columns -> outputs ---------------------------------------------------------------
    def typed_batch(self, data: bytes) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = self.schema()
        arrays = []
        for i, (field, text) in enumerate(self.text_columns(self.read(data))):
            name = schema.field(i).name
            try:
                arrays.append(_typed(name, field, text, schema.field(i).type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"column {name}: a value does not fit its header "
                                f"type: {exc}") from None
        arrays[0] = pc.dictionary_encode(arrays[0])
        if arrays[0].type != schema.field(0).type:
            arrays[0] = arrays[0].cast(schema.field(0).type)
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def tsv(self, data: bytes) -> bytes:
        import pyarrow.compute as pc

        texts = []
        for field, text in self.text_columns(self.read(data)):
            if field is not None and field.is_flag:
                text = pc.if_else(text, "1", MISSING)
            texts.append(text)
        rows = pc.binary_join_element_wise(*texts, "\t", null_handling="replace",
                                           null_replacement=MISSING)
        return _lines(rows)

    def json_lines(self, data: bytes) -> bytes:
        """One JSON object per record, built column by column with Arrow kernels."""
        import pyarrow as pa
        import pyarrow.compute as pc

        batch = self.typed_batch(data)
        if not batch.num_rows:
            return b""
        pieces: list[Any] = []
        for i, name in enumerate(batch.schema.names):
            key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
            pieces += [pa.scalar(key), _json_values(batch.column(i))]
        rows = pc.binary_join_element_wise(*pieces, pa.scalar("}"), "")
        return _lines(rows)

    def encode(self, data: bytes) -> bytes:
        """One payload as what the parent writes: text lines, or one batch as Arrow IPC."""
        if self.kind == sinks.TSV:
            return self.tsv(data)
        if self.kind == sinks.JSON_LINES:
            return self.json_lines(data)
        import pyarrow as pa

        batch = self.typed_batch(data)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return sink.getvalue().to_pybytes()


def _lines(rows: Any) -> bytes:
    """A string array as text lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(rows):
        return b""
    lines = pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows)
    return pc.binary_join(lines, "\n")[0].as_buffer().to_pybytes() + b"\n"


def _json_values(values: Any) -> Any:
    """An Arrow column as JSON value texts ('null' for null, NaN and infinities)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.dictionary_decode()
        kind = values.type
    if pa.types.is_list(kind):
        items = _json_values(values.flatten())
        lists = pa.ListArray.from_arrays(values.offsets, items, mask=values.is_null())
        text = pc.binary_join_element_wise(pa.scalar("["), pc.binary_join(lists, ","),
                                           pa.scalar("]"), "")
    elif pa.types.is_string(kind):
        if pc.any(pc.match_substring_regex(values, "[\\x00-\\x1f]")).as_py():
            text = pa.array([None if v is None else json.dumps(v)
                             for v in values.to_pylist()], pa.string())
        else:
            escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"),
                                           '"', '\\"')
            text = pc.binary_join_element_wise(pa.scalar('"'), escaped, pa.scalar('"'), "")
    elif pa.types.is_boolean(kind):
        text = pc.if_else(values, "true", "false")
    else:
        text = values.cast(pa.string())
        if pa.types.is_floating(kind):
            text = pc.if_else(pc.is_finite(values), text, pa.scalar(None, pa.string()))
    return pc.fill_null(text, "null")


def _one_chunk(column: Any) -> Any:
    import pyarrow as pa

    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return pa.concat_arrays(column.chunks)


def _null_dots(text: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(text, MISSING), pa.scalar(None, pa.string()), text)


def _typed(name: str, field: Field | None, text: Any, arrow_type: Any) -> Any:
    """A text column (null = missing) as its schema type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if field is not None and field.is_flag:
        return text
    if name == "CHROM":
        return text
    if name == "ALT" or pa.types.is_list(arrow_type):
        if field is not None:
            text = _null_dots(text)
        parts = pc.split_pattern(text, ",")
        values = parts.values
        if field is not None:
            values = _null_dots(values)
        values = values.cast(arrow_type.value_type)
        return pa.ListArray.from_arrays(parts.offsets, values, type=arrow_type,
                                        mask=parts.is_null())
    if field is not None:
        text = _null_dots(text)
    return text.cast(arrow_type) if arrow_type != pa.string() else text


@dataclass(frozen=True)
class _ChunkTask:
    """Worker side: one chunk to the encoded payloads (picklable results)."""

    formatter: Any
    layout: Layout

    def __call__(self, chunk: Chunk) -> list[bytes]:
        return [self.layout.encode(d) for d in self.formatter.iter_payloads(chunk) if d]


@dataclass
class TableWriter:
    """The `DirectWriter` of variant table outputs (see the module docstring)."""

    formatter: Any
    kind: str
    fields: str | list[str] | None = None
    header_only: bool = False

    def plan(self) -> tuple[Header, Layout]:
        """The output header and the table layout; `--fields` errors are raised here."""
        header = Header.parse(self.formatter.header_payload())
        return header, Layout.build(self.kind, header, resolve_fields(self.fields, header))

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None:
        from gfcli.engine.execute import make_runner

        header, layout = self.plan()
        sink = _Sink(path, layout, header.contigs)
        ok = False
        try:
            if not self.header_only:
                serial = runner_threads <= 1 or (len(chunks) == 1 and chunks[0].kind == STREAM)
                if serial:
                    # In this process, payload by payload: memory stays at one batch.
                    for chunk in chunks:
                        for data in self.formatter.iter_payloads(chunk):
                            if data:
                                sink.write(layout.encode(data))
                else:
                    with make_runner(runner_threads) as runner:
                        for encoded in runner.map(_ChunkTask(self.formatter, layout), chunks):
                            for data in encoded:
                                sink.write(data)
            ok = True
        finally:
            sink.close(quiet=not ok)


class _Sink:
    """One output table: TSV or JSON lines (bytes as the workers made them), Arrow IPC
    file or Parquet (batches from IPC bytes, CHROM mapped onto one growing dictionary)."""

    def __init__(self, path: str, layout: Layout, contigs: tuple[str, ...]):
        self.kind = layout.kind
        self.contigs = list(contigs)
        self._contig_index = {c: i for i, c in enumerate(self.contigs)}
        self.schema = layout.schema()
        self._handle = os.fdopen(os.dup(1), "wb") if path == "-" else open(path, "wb")
        self._writer: Any = None
        if self.kind == sinks.TSV:
            self._handle.write(("\t".join(layout.names()) + "\n").encode())
        elif self.kind == sinks.PARQUET:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._handle, self.schema)
        elif self.kind == sinks.ARROW:
            import pyarrow as pa

            options = pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True)
            self._writer = pa.ipc.new_file(self._handle, self.schema, options=options)

    def write(self, data: bytes) -> None:
        if self._writer is None:
            self._handle.write(data)
            return
        import pyarrow as pa

        batch = pa.ipc.open_stream(data).read_next_batch()
        self._writer.write_batch(self._global_chrom(batch))

    def _global_chrom(self, batch: Any) -> Any:
        """CHROM re-coded against the file-wide dictionary (contigs in header order, others
        appended as they appear), so each batch's dictionary extends the previous one."""
        import numpy as np
        import pyarrow as pa

        chrom = batch.column(0)
        mapping = []
        for name in chrom.dictionary.to_pylist():
            index = self._contig_index.get(name)
            if index is None:
                index = self._contig_index[name] = len(self.contigs)
                self.contigs.append(name)
            mapping.append(index)
        codes = np.asarray(mapping, dtype=np.int32)[
            chrom.indices.to_numpy(zero_copy_only=False).astype(np.intp)]
        chrom = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()),
                                               pa.array(self.contigs, pa.string()))
        return pa.RecordBatch.from_arrays([chrom, *batch.columns[1:]], schema=self.schema)

    def close(self, quiet: bool = False) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            self._handle.close()
        except Exception:
            if not quiet:
                raise

