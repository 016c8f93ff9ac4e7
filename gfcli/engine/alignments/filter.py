"""`gfcli filter` for SAM/BAM/CRAM: samtools `view -e EXPR` / `-f -F -q -U -c`, as a view plan.

The plan is `make_view_plan`'s (header, @PG, chunks, output type) with a formatter that
decides per record. Semantics are samtools 1.24's: a read is output when it has all -f
bits, none of the -F bits, MAPQ >= -q, and EXPR is true under hts_expr's null rules;
`-U` gets every other read. gfcli's `-e EXPR` outputs the reads that `-i EXPR` would not
(among those passing -f/-F/-q), i.e. exactly what `samtools view -e EXPR -U` rejects. That
is `samtools view -e '!(EXPR)'` whenever EXPR is null (an absent tag, a NaN: `!null` is
true) or a number; `!` differs only on values hts_expr forces true without being non-zero.

How a BAM chunk runs (the four stages of `--explain`):
1. region pushdown: with -i, no -U and an index, `rname == "c" && pos >= a && pos <= b`
   conjuncts become index queries (their conjuncts still run as exact prefilters);
2. raw prefilters: the records' fixed fields are decoded into int64 columns by a kernel
   (precompiled, see `bam.rawkernels`) and -f/-F/-q plus the conjuncts on flag, mapq,
   pos, tlen, refid and mate fields are evaluated on them, numerically and vectorised;
3. projection: for the survivors only, what the remaining conjuncts use is decoded:
   CIGAR-derived lengths, one aux tag, names, sequences, qualities;
4. batch evaluation of those conjuncts, numerically where no string is involved, else with
   the reference evaluator (`expr.eval_reads`).
Kept BAM records are copied out as their raw bytes; SAM text comes from the `samtext`
kernel. SAM/CRAM input and region queries read records through pysam into the same
column interface.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfcli.engine import sinks, sniff
from gfcli.engine.alignments import rawbam
from gfcli.engine.alignments.fasteval import NumericEvaluator, Unsupported
from gfcli.engine.alignments.view import (
    OFFSETS,
    SAM_CIGAR,
    SAM_FLAG,
    SAM_POS,
    SAM_RNAME,
    STREAM,
    UNPLACED,
    AlignmentFormatter,
    make_view_plan,
)
from gfcli.engine.chunks import Chunk, plan_region_chunks
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.regions import Region
from gfcli.engine.source import Input
from gfcli.engine.view import ViewPlan, ViewRequest

# Records decoded per kernel call on the raw path.
RAW_BATCH = 65536
# htslib SAM_* bits (CRAM required_fields) for each field an expression can use.
SAM_QNAME, SAM_MAPQ, SAM_RNEXT, SAM_PNEXT, SAM_TLEN = 0x1, 0x10, 0x40, 0x80, 0x100
SAM_SEQ, SAM_QUAL, SAM_AUX, SAM_RGAUX = 0x200, 0x400, 0x800, 0x1000
FIELD_BITS = {
    "qname": SAM_QNAME, "flag": SAM_FLAG, "refid": SAM_RNAME, "pos": SAM_POS,
    "mapq": SAM_MAPQ, "endpos": SAM_CIGAR, "qlen": SAM_CIGAR, "rlen": SAM_CIGAR,
    "ncigar": SAM_CIGAR, "sclen": SAM_CIGAR, "hclen": SAM_CIGAR, "cigar": SAM_CIGAR,
    "mrefid": SAM_RNEXT, "mpos": SAM_PNEXT, "tlen": SAM_TLEN, "seq": SAM_SEQ,
    "qual": SAM_QUAL | SAM_SEQ, "library": SAM_AUX | SAM_RGAUX,
}
# Columns of `kernels.decode_records`
C_OFFSET, C_REFID, C_POS, C_LRN, C_MAPQ, C_BIN, C_NCIGAR, C_FLAG, C_LSEQ = range(9)
C_MREFID, C_MPOS, C_TLEN = 9, 10, 11


# --------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class ReadFilter:
    """What decides a read (picklable; compiled once per process)."""

    expr: str | None = None
    exclude: bool = False
    require: int = 0
    forbid: int = 0
    min_mapq: int = 0

    def compiled(self):
        if self.expr is None:
            return None
        key = (self.expr, self.exclude)
        found = _COMPILED.get(key)
        if found is None:
            from gfcli.engine.expr import compile_expr

            found = _COMPILED[key] = compile_expr(self.expr, "reads", exclude=self.exclude)
        return found

    def conjuncts(self) -> list[Any]:
        cx = self.compiled()
        if cx is None:
            return []
        return [*cx.plan.prefilters, *cx.plan.residual]

    def fields(self) -> set[str]:
        """Every read field the decision needs (plan projection names)."""
        cx = self.compiled()
        out = {"flag"} if (self.require or self.forbid) else set()
        if self.min_mapq:
            out.add("mapq")
        if cx is not None:
            out |= set(cx.plan.projection)
        return out

    def flags_mask(self, flag: np.ndarray, mapq: np.ndarray) -> np.ndarray:
        ok = np.ones(len(flag), dtype=bool)
        if self.require:
            ok &= (flag & self.require) == self.require
        if self.forbid:
            ok &= (flag & self.forbid) == 0
        if self.min_mapq:
            ok &= mapq >= self.min_mapq
        return ok

    def decide(self, columns: Columns) -> np.ndarray:
        """Which records of the batch go to the output (the rest are rejects)."""
        ok = self.flags_mask(columns.column("flag", all_rows=True),
                             columns.column("mapq", all_rows=True))
        cx = self.compiled()
        if cx is None:
            return ok
        rows = np.flatnonzero(ok)
        result = np.ones(len(rows), dtype=bool)
        alive = np.arange(len(rows))
        for node in self.conjuncts():
            if not len(alive):
                break
            columns.select(rows[alive])
            passed = _evaluate(node, columns, cx.text)
            result[alive[~passed]] = False
            alive = alive[passed]
        keep = np.zeros(len(ok), dtype=bool)
        keep[rows] = ~result if self.exclude else result
        return keep


_COMPILED: dict[tuple[str, bool], Any] = {}


def _evaluate(node, columns: Columns, text: str) -> np.ndarray:
    from gfcli.engine.expr import ExprError
    from gfcli.engine.expr.plan import fields_of

    try:
        try:
            return NumericEvaluator(columns.n, columns.column, columns.tag_numeric,
                                    columns.contigs).passes(node)
        except Unsupported:
            from gfcli.engine.expr.eval_reads import ReadEvaluator

            batch = columns.read_batch(fields_of(node, "reads"))
            return np.asarray(ReadEvaluator(batch, "reads").passes(node), dtype=bool)
    except ExprError as exc:
        raise exc.with_expr(text) from None


# --------------------------------------------------------------------------- columns


class Columns:
    """Read fields of a batch, decoded on demand for the currently selected rows."""

    contigs: tuple[str, ...] = ()
    n = 0

    def select(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.n = len(rows)
        self._cache: dict[str, Any] = {}

    def column(self, name: str, all_rows: bool = False) -> np.ndarray:
        raise NotImplementedError

    def tag_numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def read_batch(self, fields: set[str]):
        from gfcli.engine.expr.batch import ReadBatch

        batch = ReadBatch(n=self.n, contigs=self.contigs)
        for name in fields:
            if name.startswith("["):
                batch.tags[name[1:-1]] = self.tag_objects(name[1:-1])
            elif name in ("qname", "cigar", "seq", "qual", "library"):
                setattr(batch, name, self.strings(name))
            else:
                value = self.column(name)
                setattr(batch, name, value)
        for name in ("refid", "mrefid"):
            if getattr(batch, name) is None and (name in fields):
                setattr(batch, name, self.column(name))
        return batch

    def tag_objects(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def strings(self, name: str) -> np.ndarray:
        raise NotImplementedError


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _endpos(pos: np.ndarray, flag: np.ndarray, ncigar: np.ndarray, rlen: np.ndarray
            ) -> np.ndarray:
    unmapped = ((flag & 4) != 0) | (ncigar == 0) | (rlen == 0)
    return np.where(unmapped, pos, pos - 1 + rlen).astype(np.int64)


class RawColumns(Columns):
    """Fields of raw BAM records: fixed ones from the decoded int64 columns, the rest
    decoded by kernels for the selected rows only."""

    def __init__(self, buf: np.ndarray, cols: np.ndarray, contigs: tuple[str, ...],
                 libraries: dict[str, str], bam_header: bytes):
        self.buf = buf
        self.cols = cols
        self.contigs = contigs
        self.libraries = libraries
        self.bam_header = bam_header
        self.select(np.arange(cols.shape[1]))

    def _fixed(self, index: int, all_rows: bool) -> np.ndarray:
        col = self.cols[index]
        return col if all_rows else col[self.rows]

    def column(self, name: str, all_rows: bool = False) -> np.ndarray:
        fixed = {"flag": C_FLAG, "mapq": C_MAPQ, "refid": C_REFID, "mrefid": C_MREFID,
                 "tlen": C_TLEN, "ncigar": C_NCIGAR}
        if name in fixed:
            return self._fixed(fixed[name], all_rows)
        if name == "pos":
            return self._fixed(C_POS, all_rows) + 1
        if name in ("mpos", "pnext"):
            return self._fixed(C_MPOS, all_rows) + 1
        if name in ("qlen", "rlen", "sclen", "hclen", "endpos"):
            stats = self._cigar()
            if name == "endpos":
                return _endpos(self.column("pos"), self.column("flag"), self.column("ncigar"),
                               stats["rlen"])
            return stats[name]
        raise KeyError(name)

    def _cigar(self) -> dict[str, np.ndarray]:
        if "cigar" not in self._cache:
            from gfcli.engine.bam.filterkernels import cigar_stats

            n = self.n
            out = {k: np.zeros(n, dtype=np.int64) for k in ("qlen", "rlen", "sclen", "hclen")}
            odd = cigar_stats(self.buf, self.offsets(), out["qlen"], out["rlen"],
                              out["sclen"], out["hclen"])
            if odd:
                out = self._via_htslib().cigar_columns()
            self._cache["cigar"] = out
        return self._cache["cigar"]

    def _via_htslib(self) -> PysamColumns:
        """The selected records read back through htslib (CIGARs kept in CG tags)."""
        if "pysam" not in self._cache:
            from gfcli.engine.alignments.samfast import htslib_records

            records = htslib_records(self.bam_header, self.buf, self.offsets())
            cols = PysamColumns(records, self.contigs, self.libraries)
            self._cache["pysam"] = cols
        return self._cache["pysam"]

    def offsets(self) -> np.ndarray:
        return np.ascontiguousarray(self.cols[C_OFFSET][self.rows])

    def _tag(self, name: str):
        key = "tag:" + name
        if key not in self._cache:
            from gfcli.engine.bam.filterkernels import find_tag

            n = self.n
            kind = np.zeros(n, dtype=np.int8)
            num = np.full(n, np.nan)
            start = np.zeros(n, dtype=np.int64)
            length = np.zeros(n, dtype=np.int64)
            raw = name.encode()
            find_tag(self.buf, self.offsets(), raw[0], raw[1], kind, num, start, length)
            self._cache[key] = (kind, num, start, length)
        return self._cache[key]

    def tag_numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        from gfcli.engine.bam.filterkernels import TAG_ABSENT, TAG_FLOAT, TAG_INT

        kind, num, _, _ = self._tag(name)
        numeric = (kind == TAG_INT) | (kind == TAG_FLOAT)
        if not np.all(numeric | (kind == TAG_ABSENT)):
            raise Unsupported(name)
        return np.where(numeric, num, np.nan), kind != TAG_ABSENT

    def tag_objects(self, name: str) -> np.ndarray:
        from gfcli.engine.bam.filterkernels import (
            TAG_ARRAY,
            TAG_CHAR,
            TAG_FLOAT,
            TAG_INT,
            TAG_STRING,
        )

        kind, num, start, length = self._tag(name)
        buf = self.buf
        values: list[Any] = []
        for k, v, s, ln in zip(kind.tolist(), num.tolist(), start.tolist(), length.tolist(),
                               strict=True):
            if k == TAG_INT:
                values.append(int(v))
            elif k == TAG_FLOAT:
                values.append(v)
            elif k in (TAG_CHAR, TAG_STRING):
                values.append(buf[s:s + ln].tobytes().decode("utf-8", "replace"))
            elif k == TAG_ARRAY:
                values.append([])
            elif k == 0:
                values.append(None)
            else:
                raise DataError(f"aux tag {name} has an unknown type")
        return _objects(values)

    def strings(self, name: str) -> np.ndarray:
        buf = self.buf
        offs = self.offsets()
        if name == "qname":
            lrn = self.cols[C_LRN][self.rows]
            return _objects([buf[o + 36:o + 35 + ln].tobytes().decode("utf-8", "replace")
                             for o, ln in zip(offs.tolist(), lrn.tolist(), strict=True)])
        if name == "library":
            rg = self.tag_objects("RG")
            return _objects([self.libraries.get(g, "") if isinstance(g, str) else ""
                             for g in rg])
        if self._cigar_is_odd():
            return self._via_htslib().strings(name)
        if name == "cigar":
            return _objects([_cigar_text(buf, o) for o in offs.tolist()])
        if name == "seq":
            from gfcli.engine.bam.filterkernels import seq_text

            lseq = self.cols[C_LSEQ][self.rows]
            out = np.empty(int(lseq.sum()) + 1, dtype=np.uint8)
            ends = np.zeros(self.n + 1, dtype=np.int64)
            seq_text(buf, offs, out, ends)
            text = out[:int(ends[-1])].tobytes().decode("ascii")
            bounds = ends.tolist()
            return _objects([text[bounds[i]:bounds[i + 1]] for i in range(self.n)])
        if name == "qual":
            lrn = self.cols[C_LRN][self.rows].tolist()
            ncig = self.cols[C_NCIGAR][self.rows].tolist()
            lseq = self.cols[C_LSEQ][self.rows].tolist()
            values = []
            for o, a, c, ln in zip(offs.tolist(), lrn, ncig, lseq, strict=True):
                q = o + 36 + a + 4 * c + (ln + 1) // 2
                values.append(buf[q:q + ln].tobytes().decode("latin-1"))
            return _objects(values)
        raise KeyError(name)

    def _cigar_is_odd(self) -> bool:
        self._cigar()
        return "pysam" in self._cache


def _cigar_text(buf: np.ndarray, o: int) -> str:
    lrn = int(buf[o + 12])
    n = int(buf[o + 16]) | (int(buf[o + 17]) << 8)
    if n == 0:
        return "*"
    ops = np.frombuffer(buf[o + 36 + lrn:o + 36 + lrn + 4 * n].tobytes(), dtype="<u4")
    return "".join(f"{c >> 4}{'MIDNSHP=XB'[c & 15] if (c & 15) < 10 else '?'}"
                   for c in ops.tolist())


class PysamColumns(Columns):
    """Fields of pysam AlignedSegments (SAM, CRAM, region queries, stdin)."""

    def __init__(self, records: list[Any], contigs: tuple[str, ...], libraries: dict[str, str]):
        self.records = records
        self.contigs = contigs
        self.libraries = libraries
        self.select(np.arange(len(records)))

    def _recs(self) -> list[Any]:
        recs = self.records
        return [recs[i] for i in self.rows.tolist()]

    def column(self, name: str, all_rows: bool = False) -> np.ndarray:
        recs = self.records if all_rows else self._recs()
        if name == "flag":
            return np.array([r.flag for r in recs], dtype=np.int64)
        if name == "mapq":
            return np.array([r.mapping_quality for r in recs], dtype=np.int64)
        if name == "refid":
            return np.array([r.reference_id for r in recs], dtype=np.int64)
        if name == "pos":
            return np.array([r.reference_start + 1 for r in recs], dtype=np.int64)
        if name == "mrefid":
            return np.array([r.next_reference_id for r in recs], dtype=np.int64)
        if name in ("mpos", "pnext"):
            return np.array([r.next_reference_start + 1 for r in recs], dtype=np.int64)
        if name == "tlen":
            return np.array([r.template_length for r in recs], dtype=np.int64)
        if name in ("ncigar", "qlen", "rlen", "sclen", "hclen", "endpos"):
            cols = self.cigar_columns(recs)
            if name == "endpos":
                return _endpos(np.array([r.reference_start + 1 for r in recs], np.int64),
                               np.array([r.flag for r in recs], np.int64), cols["ncigar"],
                               cols["rlen"])
            return cols[name]
        raise KeyError(name)

    def cigar_columns(self, recs: list[Any] | None = None) -> dict[str, np.ndarray]:
        from gfcli.engine.expr.from_pysam import _clips

        recs = self._recs() if recs is None else recs
        cig = [r.cigartuples or [] for r in recs]
        clips = [_clips(c) for c in cig]
        return {
            "ncigar": np.array([len(c) for c in cig], dtype=np.int64),
            "rlen": np.array([sum(ln for op, ln in c if op in (0, 2, 3, 7, 8)) for c in cig],
                             dtype=np.int64),
            "qlen": np.array([sum(ln for op, ln in c if op in (0, 1, 4, 7, 8)) for c in cig],
                             dtype=np.int64),
            "sclen": np.array([c[0] for c in clips], dtype=np.int64),
            "hclen": np.array([c[1] for c in clips], dtype=np.int64),
        }

    def _tag_values(self, name: str) -> list[Any]:
        values = []
        for r in self._recs():
            try:
                v = r.get_tag(name)
            except KeyError:
                v = None
            values.append(v if v is None or isinstance(v, (int, float, str)) else list(v))
        return values

    def tag_numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        values = self._tag_values(name)
        if any(isinstance(v, (str, list)) for v in values):
            raise Unsupported(name)
        present = np.array([v is not None for v in values], dtype=bool)
        return np.array([np.nan if v is None else float(v) for v in values]), present

    def tag_objects(self, name: str) -> np.ndarray:
        return _objects(self._tag_values(name))

    def strings(self, name: str) -> np.ndarray:
        recs = self._recs()
        if name == "qname":
            return _objects([r.query_name for r in recs])
        if name == "cigar":
            return _objects([r.cigarstring or "*" for r in recs])
        if name == "seq":
            return _objects([r.query_sequence or "" for r in recs])
        if name == "qual":
            # htslib keeps a missing quality string as 0xff bytes, and hts_expr shows them.
            return _objects([
                "".join(map(chr, r.query_qualities)) if r.query_qualities is not None
                else "\xff" * r.query_length for r in recs])
        if name == "library":
            out = []
            for r in recs:
                try:
                    group = r.get_tag("RG")
                except KeyError:
                    group = None
                out.append(self.libraries.get(group, "") if isinstance(group, str) else "")
            return _objects(out)
        raise KeyError(name)


# --------------------------------------------------------------------------- the formatter


@dataclass
class FilterFormatter(AlignmentFormatter):
    """`AlignmentFormatter` that outputs (and with -U also rejects) by `ReadFilter`."""

    rfilter: ReadFilter = field(default_factory=ReadFilter)
    contigs: tuple[str, ...] = ()
    libraries: dict[str, str] = field(default_factory=dict)
    required_fields: int | None = None  # CRAM: what counting has to decode

    # ---- protocol

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        for kept, _ in self._split(chunk, want_rejects=False):
            yield kept

    def iter_split_payloads(self, chunk: Chunk) -> Iterator[tuple[bytes, bytes]]:
        yield from self._split(chunk, want_rejects=True)

    def count(self, chunk: Chunk) -> int:
        if self._raw_ok(chunk):
            return sum(int(keep.sum()) for _, _, _, keep in self._raw_decisions(chunk))
        total = 0
        for _batch, keep in self._pysam_decisions(chunk, self.required_fields):
            total += int(keep.sum())
        return total

    def records(self, chunk: Chunk, required_fields: int | None = None) -> Iterator[Any]:
        for batch, keep in self._pysam_decisions(chunk, required_fields):
            for rec, ok in zip(batch, keep.tolist(), strict=True):
                if ok:
                    yield rec

    # ---- raw BAM

    def _raw_ok(self, chunk: Chunk) -> bool:
        return (self.fmt == sniff.BAM and self.targets is None and self.stream_key is None
                and chunk.kind in (OFFSETS, STREAM) and not os.environ.get("GFCLI_NO_RAW_FILTER"))

    def _raw_decisions(self, chunk: Chunk
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, int, np.ndarray]]:
        """(buffer, record offsets, end of the batch's last record, keep) per batch."""
        from gfcli.engine.bam.rawkernels import decode_records

        cols = np.empty((12, RAW_BATCH), dtype=np.int64)
        bam_header = self.bam_header()
        base = 0
        for buf in self.raw_arrays(chunk):
            start = 0
            end = len(buf)
            while start < end:
                n, nxt, status = decode_records(buf, start, end, end, cols, RAW_BATCH)
                if status != 0 or n == 0:
                    raise DataError("malformed or truncated BAM record", path=self.display)
                batch = np.ascontiguousarray(cols[:, :n])
                self._check_refids(batch, buf, chunk, base)
                columns = RawColumns(buf, batch, self.contigs, self.libraries, bam_header)
                keep = self.rfilter.decide(columns)
                yield buf, np.ascontiguousarray(batch[C_OFFSET]), nxt, keep
                start = nxt
            base += len(buf)

    def _check_refids(self, batch: np.ndarray, buf: np.ndarray, chunk: Chunk,
                      base: int) -> None:
        """samtools view fails on a record whose refID or next refID is outside
        [-1, n_ref) (htslib refuses it), whether or not the filter would keep it."""
        limit = np.uint64(self.n_ref + 1)
        # refID + 1 as unsigned: -1..n_ref-1 map to 0..n_ref, anything else above
        bad = ((batch[C_REFID] + 1).view(np.uint64) >= limit) | (
            (batch[C_MREFID] + 1).view(np.uint64) >= limit)
        if not bad.any():
            return
        i = int(np.argmax(bad))
        pos = int(batch[C_OFFSET, i])
        raise rawbam.refused(rawbam.refid_status(buf, pos, self.n_ref), buf, pos, self.n_ref,
                             self.path, chunk.start if chunk.kind == OFFSETS else None,
                             self.display, base)

    def _raw_split(self, chunk: Chunk, want_rejects: bool) -> Iterator[tuple[bytes, bytes]]:
        sam = self.out_kind == sinks.SAM_TEXT
        text = self.sam_text() if sam else None
        for buf, offsets, end, keep in self._raw_decisions(chunk):
            outs = []
            for want in ((True, False) if want_rejects else (True,)):
                if sam:
                    assert text is not None
                    outs.append(text.format(buf, offsets[keep == want]))
                else:
                    outs.append(join_runs(buf, offsets, end, keep if want else ~keep))
            yield outs[0], (outs[1] if want_rejects else b"")

    # ---- through pysam

    def _pysam_decisions(self, chunk: Chunk, required_fields: int | None
                         ) -> Iterator[tuple[list[Any], np.ndarray]]:
        source = AlignmentFormatter.records(self, chunk, required_fields)
        for batch in self._batches(source):
            keep = self.rfilter.decide(PysamColumns(batch, self.contigs, self.libraries))
            yield batch, keep

    def _split(self, chunk: Chunk, want_rejects: bool) -> Iterator[tuple[bytes, bytes]]:
        if self._raw_ok(chunk):
            yield from self._raw_split(chunk, want_rejects)
            return
        for batch, keep in self._pysam_decisions(chunk, None):
            kept = [r for r, k in zip(batch, keep.tolist(), strict=True) if k]
            rejected = [r for r, k in zip(batch, keep.tolist(), strict=True) if not k] \
                if want_rejects else []
            yield self._encode(kept), self._encode(rejected)

    def _encode(self, records: list[Any]) -> bytes:
        if not records:
            return b""
        if self.out_kind == sinks.BAM_OUT:
            return self._encode_bam(records)
        return ("\n".join([rec.to_string() for rec in records]) + "\n").encode()


def join_runs(buf: np.ndarray, offsets: np.ndarray, end: int, keep: np.ndarray) -> bytes:
    """The bytes of the records with `keep` set, in order, as one bytes object.

    Records lie back to back in `buf` (record i spans offsets[i] to offsets[i + 1], the last
    one ends at `end`), and kept records come in runs, so each run is one slice and the
    output is built by a single join: one memcpy-speed copy. A per-record copy kernel ran
    at ~0.75 GB/s (byte loop) into a scratch buffer that was then copied again.
    """
    n = len(keep)
    if n == 0 or not keep.any():
        return b""
    edges = np.diff(keep.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    first = np.flatnonzero(edges == 1)
    after = np.flatnonzero(edges == -1)  # index of the first record after each run
    stops = np.empty(len(after), dtype=np.int64)
    inside = after < n
    stops[inside] = offsets[after[inside]]
    stops[~inside] = end
    view = memoryview(buf)
    return b"".join([view[a:b] for a, b in zip(offsets[first].tolist(), stops.tolist(),
                                               strict=True)])


# --------------------------------------------------------------------------- planning


def _header_facts(plan: ViewPlan) -> tuple[tuple[str, ...], dict[str, str]]:
    import pysam

    header = pysam.AlignmentHeader.from_text(plan.formatter.header_text)  # type: ignore[attr-defined]
    contigs = tuple(header.references)
    libraries = {}
    for line in plan.formatter.header_text.splitlines():  # type: ignore[attr-defined]
        if line.startswith("@RG\t"):
            fields = dict(part.split(":", 1) for part in line.split("\t")[1:] if ":" in part)
            if "ID" in fields:
                libraries[fields["ID"]] = fields.get("LB", "")
    return contigs, libraries


def _required_fields(rfilter: ReadFilter) -> int:
    bits = SAM_FLAG | SAM_RNAME | SAM_POS | SAM_CIGAR
    for name in rfilter.fields():
        if name.startswith("["):
            bits |= SAM_AUX | SAM_RGAUX
        else:
            bits |= FIELD_BITS.get(name, 0)
    return bits


def _pushdown_chunks(req: ViewRequest, inp: Input, rfilter: ReadFilter,
                     contigs: tuple[str, ...]) -> tuple[list[Chunk] | None, str]:
    """Index queries from the expression's rname/pos conjuncts, when they are usable."""
    cx = rfilter.compiled()
    if cx is None or not cx.plan.regions:
        return None, "(none: whole input)"
    wanted = ", ".join(str(r) for r in cx.plan.regions)
    if rfilter.exclude:
        return None, f"{wanted}: not used (-e keeps the reads outside it)"
    if req.rejects:
        return None, f"{wanted}: not used (-U needs every read)"
    if any(x is not None for x in (req.regions, req.regions_file, req.targets,
                                   req.targets_file)):
        return None, f"{wanted}: not used (-r/-R/-t/-T given)"
    if inp.is_stdin or inp.index is None or inp.format not in (sniff.BAM, sniff.CRAM):
        return None, f"{wanted}: not used (no index; the prefilter decides)"
    order = {name: i for i, name in enumerate(contigs)}
    regions = []
    for r in sorted((r for r in cx.plan.regions if r.chrom in order),
                    key=lambda r: order[r.chrom]):
        start = max(0, (r.start or 1) - 1)
        end = r.end
        if end is not None and end <= start:
            continue
        regions.append(Region(r.chrom, start, end))
    shown = ", ".join(f"{r.contig}:{r.start + 1}-{'' if r.end is None else r.end}"
                      for r in regions) or "no reference in the header matches"
    return plan_region_chunks(regions, dedupe=False), f"index seek: {shown}"


def _explain(rfilter: ReadFilter, seek: str, plan: ViewPlan, inp: Input) -> str:
    cx = rfilter.compiled()
    lines = []
    flags = []
    if rfilter.require:
        flags.append(f"-f {rfilter.require:#x} (all of these FLAG bits)")
    if rfilter.forbid:
        flags.append(f"-F {rfilter.forbid:#x} (none of these FLAG bits)")
    if rfilter.min_mapq:
        flags.append(f"-q {rfilter.min_mapq} (MAPQ at least)")
    if cx is not None:
        body = cx.explain().splitlines()
        lines.append(body[0])
        lines.append(f"1. region pushdown: {seek}")
        rest = body[2:]
    else:
        lines.append("expression: (none)")
        lines.append("1. region pushdown: (none: whole input)")
        rest = ["2. raw prefilters: (none)", "3. projection: decode flag mapq",
                "4. batch evaluation: (nothing left after prefilters)"]
    for line in rest:
        lines.append(line)
        if line.startswith("2. raw prefilters") and flags:
            if line.endswith("(none)"):
                lines[-1] = "2. raw prefilters (on undecoded fields, before any full decode):"
            lines.extend(f"     {f}    [flag/mapq]" for f in flags)
    how = ("raw BAM records: fixed fields decoded by a precompiled kernel, kept records "
           "copied as their bytes" if inp.format == sniff.BAM and not inp.is_stdin else
           "records read through htslib (pysam) into the same columns")
    lines.append(f"execution: {len(plan.chunks)} chunk(s); {how}; output {plan.output.kind}")
    return "\n".join(lines)


def make_filter_plan(req: ViewRequest, inp: Input) -> ViewPlan:
    if req.include is not None and req.exclude is not None:
        raise UsageError("only one of -i/--include and -e/--exclude can be given")
    rfilter = ReadFilter(expr=req.include if req.include is not None else req.exclude,
                         exclude=req.exclude is not None, require=req.require_flags,
                         forbid=req.exclude_flags, min_mapq=req.min_mapq)
    rfilter.compiled()  # expression errors before any work
    base = make_view_plan(req, inp)
    contigs, libraries = _header_facts(base)
    old = base.formatter
    formatter = FilterFormatter(**{f: getattr(old, f) for f in (
        "path", "display", "fmt", "out_kind", "header_text", "reference", "index", "targets",
        "raw", "stream_key", "header_lines", "n_ref")}, rfilter=rfilter, contigs=contigs,
        libraries=libraries,
        required_fields=_required_fields(rfilter) if inp.format == sniff.CRAM else None)
    base.formatter = formatter
    if base.direct is not None:
        base.direct.formatter = formatter  # type: ignore[attr-defined]
    chunks, seek = _pushdown_chunks(req, inp, rfilter, contigs)
    if chunks is not None:
        base.chunks = chunks
    base.rejects = bool(req.rejects)
    if req.rejects and base.direct is not None:
        raise UsageError("-U works with SAM and BAM output")
    if inp.format == sniff.BAM and not inp.is_stdin:
        from gfcli.engine.bam.rawkernels import KERNELS

        KERNELS.load()  # before the pool forks, so workers inherit the kernels
        from gfcli.engine.alignments.rawbam import keep_freed_memory

        keep_freed_memory()
    base.explain = _explain(rfilter, seek, base, inp)
    return base


__all__ = ["make_filter_plan", "ReadFilter", "FilterFormatter", "UNPLACED"]
