"""`gfcli filter` for VCF/BCF: the view plan plus a compiled expression.

Records are read by htslib (as `gfcli view` does) into a pool of `bcf1_t`, a batch at a time.
The columns the expression needs are filled straight from those records: site fields from the
`bcf1_t` itself, INFO tags with `bcf_get_info_values`, FORMAT tags with
`bcf_get_format_values`, never through Python record objects. Evaluation runs in two stages
(see `expr.plan`):

1. region pushdown: CHROM/POS conjuncts become index queries when the file is indexed and no
   -r/-R/-t/-T was given (the conjuncts are still evaluated, so long deletions that overlap
   the region but start before it are dropped exactly as bcftools does);
2. raw prefilters: the site-level conjuncts are decided first on the shared (site) part of
   each record (`vcf.rawtext` decides them on the raw VCF line before `vcf_parse` when the
   input is VCF text), with only the fields they use decoded;
3./4. only records that survive get the rest of the projection decoded (FORMAT last) and the
   remaining conjuncts evaluated over the batch.

Kept records that are not modified are written by `bcf_write` unchanged (byte-identical to
`bcftools view -i/-e`); soft filtering (`-s NAME [-m +|x]`) changes FILTER with htslib's own
`bcf_update_filter`/`bcf_add_filter`, as `bcftools filter` does.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gfcli.engine import sniff
from gfcli.engine.chunks import REGION, Chunk
from gfcli.engine.errors import UsageError
from gfcli.engine.expr import ExprError, TagDef, VariantSchema, compile_expr
from gfcli.engine.expr.batch import FormatColumn, InfoColumn, VariantBatch
from gfcli.engine.source import Input
from gfcli.engine.variants import hts
from gfcli.engine.variants.view import (
    BATCH_BYTES,
    Settings,
    _region_records,
    _sequential_records,
    _State,
    _state,
    write_payloads,
)

POOL_SIZE = 1024  # records per evaluated batch
# BGZF VCF text is filtered on the raw lines where possible (see rawtext); off only to compare.
RAW_TEXT = os.environ.get("GFCLI_RAW_TEXT", "1") != "0"
INT32_MISSING = -(2**31)
INT32_VECTOR_END = -(2**31) + 1
FLOAT_MISSING_BITS = 0x7F800001
FLOAT_VECTOR_END_BITS = 0x7F800002


# ---------------------------------------------------------------------------------------
# The header as the expression checker sees it

_META = re.compile(rb"^##(INFO|FORMAT|FILTER|contig)=<(.*)>\s*$")


def _meta_fields(body: bytes) -> dict[str, str]:
    """ID, Number, Type of a structured header line (quoted values may hold commas)."""
    out: dict[str, str] = {}
    for m in re.finditer(rb'([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|[^,]*)', body):
        key = m.group(1).decode()
        if key not in out:
            out[key] = m.group(2).decode(errors="replace")
    return out


def schema_from_header(text: bytes) -> VariantSchema:
    info: dict[str, TagDef] = {}
    fmt: dict[str, TagDef] = {}
    filters: list[str] = ["PASS"]
    contigs: list[str] = []
    samples: tuple[str, ...] = ()
    for line in text.split(b"\n"):
        if line.startswith(b"#CHROM"):
            samples = tuple(x.decode() for x in line.rstrip(b"\r").split(b"\t")[9:])
            continue
        m = _META.match(line)
        if not m:
            continue
        kind, f = m.group(1), _meta_fields(m.group(2))
        ident = f.get("ID")
        if not ident:
            continue
        if kind == b"INFO":
            info[ident] = TagDef(ident, f.get("Number", "."), f.get("Type", "String"))
        elif kind == b"FORMAT":
            fmt[ident] = TagDef(ident, f.get("Number", "."), f.get("Type", "String"))
        elif kind == b"FILTER":
            if ident not in filters:
                filters.append(ident)
        else:
            contigs.append(ident)
    return VariantSchema(info=info, fmt=fmt, filters=tuple(filters), samples=samples,
                         contigs=tuple(contigs))


# ---------------------------------------------------------------------------------------
# What every process needs besides the view settings


@dataclass(frozen=True)
class FilterSpec:
    text: str | None  # the expression; None keeps every record
    exclude: bool = False  # -e
    soft: str | None = None  # -s NAME
    mode: str = ""  # -m: '', '+', 'x' or '+x'


class _Stages:
    """The compiled expression split into a prefilter and a residual stage."""

    def __init__(self, spec: FilterSpec, schema: VariantSchema):
        from gfcli.engine.expr.plan import fields_of

        self.spec = spec
        self.compiled = compile_expr(spec.text, "variants", schema=schema,
                                     exclude=spec.exclude) if spec.text is not None else None
        plan = self.compiled.plan if self.compiled else None
        self.pre = tuple(plan.prefilters) if plan else ()
        self.rest = tuple(plan.residual) if plan else ()
        self.pre_fields = _fields(self.pre, fields_of)
        self.rest_fields = _fields(self.rest, fields_of)


def _fields(nodes, fields_of) -> tuple[str, ...]:
    out: set[str] = set()
    for node in nodes:
        out |= fields_of(node, "variants")
    # Site fields first, FORMAT last: a batch decodes in this order.
    return tuple(sorted(out, key=lambda f: (f.startswith("FMT/") or f == "GT", f)))


class _Context:
    """Per process and input: the record pool, the decoder and the compiled stages."""

    def __init__(self, st: _State, spec: FilterSpec):
        L = st.L
        self.st = st
        self.L = L
        header = st._header_text(st.hdr)
        self.schema = schema_from_header(header)
        self.stages = _Stages(spec, self.schema)
        self.pool = [L.bcf_init() for _ in range(POOL_SIZE)]
        self.recs = [hts.Bcf1.from_address(r) for r in self.pool]
        self.heads = [hts.bcf_head(r) for r in self.pool]
        self.decoder = _Decoder(st, self.schema)
        self.pid = os.getpid()
        soft = spec.soft
        self.soft_id = (L.bcf_hdr_id2int(st.hdr, hts.BCF_DT_ID, soft.encode())
                        if soft else -1)
        self.pass_id = (ctypes.c_int * 1)(0)
        self.raw = None  # rawtext.RawText, made on the first raw-text chunk

    def close(self) -> None:
        for r in self.pool:
            self.L.bcf_destroy(r)
        self.pool = []


_CONTEXTS: dict[tuple[int, FilterSpec], _Context] = {}


def _context(st: _State, spec: FilterSpec) -> _Context:
    key = (id(st), spec)
    ctx = _CONTEXTS.get(key)
    if ctx is None or ctx.pid != os.getpid() or ctx.st is not st:
        ctx = _CONTEXTS[key] = _Context(st, spec)
    return ctx


# ---------------------------------------------------------------------------------------
# Columns straight from bcf1_t


class _Decoder:
    def __init__(self, st: _State, schema: VariantSchema):
        L = st.L
        self.L = L
        self.hdr = st.hdr
        self.schema = schema
        self.S = len(schema.samples)
        st._load_contig_names()
        names = st._contig_names
        top = max(names) + 1 if names else 0
        self.contigs = tuple(names.get(i, "") for i in range(top))
        # FILTER ids share the header's ID dictionary with INFO and FORMAT.
        self.filter_names: dict[int, str] = {}
        for name in schema.filters:
            i = L.bcf_hdr_id2int(st.hdr, hts.BCF_DT_ID, name.encode())
            if i >= 0:
                self.filter_names[i] = name
        self.buf = ctypes.c_void_p()  # realloc'd by htslib, reused for every call
        self.nbuf = ctypes.c_int(0)
        self.bref = ctypes.byref(self.buf)
        self.nref = ctypes.byref(self.nbuf)

    def batch(self, ctx: _Context, idx: list[int], fields: tuple[str, ...]) -> VariantBatch:
        heads = [ctx.heads[i] for i in idx]
        n = len(idx)
        b = VariantBatch(n=n, n_samples=self.S, contigs=self.contigs)
        strings = [f for f in fields if f in ("ID", "REF", "ALT", "FILTER")]
        if strings:
            self._site_strings(b, ctx, idx, strings)
        for f in fields:
            if f == "CHROM":
                b.chrom = np.fromiter((h.rid for h in heads), np.int32, n)
            elif f == "POS":
                b.pos = np.fromiter((h.pos for h in heads), np.int64, n) + 1
            elif f == "QUAL":
                with np.errstate(invalid="ignore"):
                    b.qual = np.fromiter((h.qual for h in heads), np.float64, n)
            elif f.startswith("INFO/"):
                tag = f[5:]
                d = self.schema.info.get(tag)
                if d is not None:
                    b.info[tag] = self._info(ctx, idx, tag, d)
            elif f.startswith("FMT/"):
                tag = f[4:]
                d = self.schema.fmt.get(tag)
                if d is not None and tag != "GT":
                    b.fmt[tag] = self._fmt(ctx, idx, tag, d)
            elif f == "GT":
                self._gt(b, ctx, idx)
        return b

    # -- site strings ---------------------------------------------------------------------
    def _site_strings(self, b: VariantBatch, ctx: _Context, idx: list[int], which) -> None:
        unpack = self.L.bcf_unpack
        n = len(idx)
        want_id, want_ref = "ID" in which, "REF" in which
        want_alt, want_flt = "ALT" in which, "FILTER" in which
        ids = np.empty(n, dtype=object) if want_id else None
        refs = np.empty(n, dtype=object) if want_ref else None
        alts = np.empty(n, dtype=object) if want_alt else None
        flts = np.empty(n, dtype=object) if want_flt else None
        names = self.filter_names
        for j, i in enumerate(idx):
            addr = ctx.pool[i]
            unpack(addr, hts.BCF_UN_STR | hts.BCF_UN_FLT)
            rec = ctx.recs[i]
            d = rec.d
            if want_id:
                ids[j] = (d.id or b".").decode(errors="replace")
            if want_ref or want_alt:
                n_allele = rec.n_info_allele >> 16
                allele = d.allele
                if want_ref:
                    refs[j] = allele[0].decode(errors="replace") if n_allele else ""
                if want_alt:
                    alts[j] = tuple(allele[k].decode(errors="replace")
                                    for k in range(1, n_allele))
            if want_flt:
                flt = d.flt
                flts[j] = tuple(names.get(flt[k], "") for k in range(d.n_flt))
        b.id, b.ref, b.alt, b.filter = ids, refs, alts, flts

    # -- INFO -----------------------------------------------------------------------------
    def _info(self, ctx: _Context, idx: list[int], tag: str, d: TagDef) -> InfoColumn:
        get = self.L.bcf_get_info_values
        hdr, bref, nref = self.hdr, self.bref, self.nref
        key = tag.encode()
        n = len(idx)
        length = np.zeros(n, dtype=np.int32)
        pool = ctx.pool
        if d.type == "Flag":
            for j, i in enumerate(idx):
                if get(hdr, pool[i], key, bref, nref, hts.BCF_HT_FLAG) == 1:
                    length[j] = 1
            return InfoColumn(length.astype(np.float64)[:, None], length)
        if d.type in ("String", "Character"):
            vals = np.empty(n, dtype=object)
            for j, i in enumerate(idx):
                got = get(hdr, pool[i], key, bref, nref, hts.BCF_HT_STR)
                if got > 0:
                    text = ctypes.string_at(self.buf.value, got).split(b"\0", 1)[0]
                    vals[j] = text.decode(errors="replace")
                    length[j] = text.count(b",") + 1
            return InfoColumn(vals, length)
        is_int = d.type == "Integer"
        ht = hts.BCF_HT_INT if is_int else hts.BCF_HT_REAL
        rows: list = [None] * n
        k = 1
        one = d.number == "1"
        for j, i in enumerate(idx):
            got = get(hdr, pool[i], key, bref, nref, ht)
            if got <= 0:
                continue
            if one:
                rows[j] = ctypes.c_int32.from_address(self.buf.value).value if is_int else \
                    ctypes.c_uint32.from_address(self.buf.value).value
                length[j] = 1
                continue
            raw = np.frombuffer(ctypes.string_at(self.buf.value, 4 * got),
                                np.int32 if is_int else np.uint32).copy()
            end = INT32_VECTOR_END if is_int else FLOAT_VECTOR_END_BITS
            stop = np.flatnonzero(raw == end)
            if stop.size:
                raw = raw[: stop[0]]
            rows[j] = raw
            length[j] = raw.size
            k = max(k, raw.size)
        vals = np.full((n, k), np.nan)
        if one:
            have = np.flatnonzero(length)
            if have.size:
                v = np.array([rows[j] for j in have], dtype=np.int64)
                if is_int:
                    col = np.where(v == INT32_MISSING, np.nan, v.astype(np.float64))
                else:
                    col = _floats(v.astype(np.uint32))
                vals[have, 0] = col
            return InfoColumn(vals, length)
        for j in np.flatnonzero(length):
            raw = rows[j]
            if is_int:
                vals[j, : raw.size] = np.where(raw == INT32_MISSING, np.nan, raw)
            else:
                vals[j, : raw.size] = _floats(raw)
        return InfoColumn(vals, length)

    # -- FORMAT ---------------------------------------------------------------------------
    def _fmt(self, ctx: _Context, idx: list[int], tag: str, d: TagDef) -> FormatColumn:
        get = self.L.bcf_get_format_values
        hdr, bref, nref = self.hdr, self.bref, self.nref
        key = tag.encode()
        n, S = len(idx), self.S
        width = np.zeros(n, dtype=np.int32)
        pool = ctx.pool
        if d.type in ("String", "Character"):
            vals = np.empty((n, S), dtype=object)
            for j, i in enumerate(idx):
                got = get(hdr, pool[i], key, bref, nref, hts.BCF_HT_STR)
                if got <= 0 or not S:
                    continue
                width[j] = 1
                raw = ctypes.string_at(self.buf.value, got)
                w = got // S
                for s in range(S):
                    text = raw[s * w : (s + 1) * w].split(b"\0", 1)[0]
                    vals[j, s] = text.decode(errors="replace") if text else "."
            return FormatColumn(vals, width)
        is_int = d.type == "Integer"
        ht = hts.BCF_HT_INT if is_int else hts.BCF_HT_REAL
        rows: list = [None] * n
        k = 1
        for j, i in enumerate(idx):
            got = get(hdr, pool[i], key, bref, nref, ht)
            if got <= 0 or not S:
                continue
            w = got // S
            raw = np.frombuffer(ctypes.string_at(self.buf.value, 4 * got),
                                np.int32 if is_int else np.uint32).reshape(S, w)
            rows[j] = raw
            width[j] = w
            k = max(k, w)
        vals = np.full((n, S, k), np.nan)
        for j in np.flatnonzero(width):
            raw = rows[j]
            w = raw.shape[1]
            if is_int:
                vals[j, :, :w] = np.where((raw == INT32_MISSING) | (raw == INT32_VECTOR_END),
                                          np.nan, raw)
            else:
                vals[j, :, :w] = _floats(raw)
        return FormatColumn(vals, width)

    def _gt(self, b: VariantBatch, ctx: _Context, idx: list[int]) -> None:
        get = self.L.bcf_get_format_values
        hdr, bref, nref = self.hdr, self.bref, self.nref
        n, S = len(idx), self.S
        present = np.zeros(n, dtype=bool)
        rows: list = [None] * n
        P = 1
        for j, i in enumerate(idx):
            got = get(hdr, ctx.pool[i], b"GT", bref, nref, hts.BCF_HT_INT)
            if got <= 0 or not S:
                continue
            w = got // S
            rows[j] = np.frombuffer(ctypes.string_at(self.buf.value, 4 * got),
                                    np.int32).reshape(S, w)
            present[j] = True
            P = max(P, w)
        gt = np.full((n, S, P), -2, dtype=np.int16)
        ph = np.zeros((n, S, P), dtype=bool)
        for j in np.flatnonzero(present):
            raw = rows[j]
            w = raw.shape[1]
            end = raw == INT32_VECTOR_END
            gt[j, :, :w] = np.where(end, -2, (raw >> 1) - 1)
            phased = (raw & 1).astype(bool) & ~end
            phased[:, 0] = False
            ph[j, :, :w] = phased
        b.gt, b.gt_phased, b.gt_present = gt, ph, present


def _floats(bits: np.ndarray) -> np.ndarray:
    """float32 bit patterns -> float64, NaN for missing and vector end."""
    bits = np.ascontiguousarray(bits, dtype=np.uint32)
    with np.errstate(invalid="ignore"):
        out = bits.view(np.float32).astype(np.float64)
    out[(bits == FLOAT_MISSING_BITS) | (bits == FLOAT_VECTOR_END_BITS)] = np.nan
    return out


# ---------------------------------------------------------------------------------------
# Reading, selecting and writing


def _batches(st: _State, ctx: _Context, chunk: Chunk) -> Iterator[int]:
    """Fill the pool from the chunk's records; yield how many records it holds."""
    targets = st.s.targets
    contig_name = st.contig_name
    pool, heads = ctx.pool, ctx.heads
    size = len(pool)
    source = _region_records(st, chunk) if chunk.kind == REGION else \
        _sequential_records(st, chunk)
    n = 0
    st.cur, st.cur_head = pool[0], heads[0]
    try:
        with hts.QuietLog():
            for _ in source:
                if targets is not None:
                    head = st.cur_head
                    if not targets.contains(contig_name(head.rid), head.pos):
                        continue
                n += 1
                if n == size:
                    yield n
                    n = 0
                st.cur, st.cur_head = pool[n], heads[n]
            if n:
                yield n
    finally:
        st.cur, st.cur_head = st.rec, st.head


def _evaluate(ctx: _Context, n: int) -> np.ndarray:
    """Whether the expression is true for each of the first `n` pooled records."""
    stages = ctx.stages
    true = np.ones(n, dtype=bool)
    if stages.compiled is None:
        return true
    from gfcli.engine.expr.eval_variants import VariantEvaluator

    try:
        if stages.pre:
            batch = ctx.decoder.batch(ctx, list(range(n)), stages.pre_fields)
            ev = VariantEvaluator(batch)
            for node in stages.pre:
                true &= ev.passes(node)
        if stages.rest:
            idx = np.flatnonzero(true).tolist()
            if idx:
                batch = ctx.decoder.batch(ctx, idx, stages.rest_fields)
                ev = VariantEvaluator(batch)
                ok = np.ones(len(idx), dtype=bool)
                for node in stages.rest:
                    ok &= ev.passes(node)
                true[idx] = ok
    except ExprError as e:
        raise e.with_expr(stages.compiled.text) from None
    return true


def _keep(ctx: _Context, n: int) -> np.ndarray:
    """Records that pass the filter (-i: expression true; -e: expression false)."""
    true = _evaluate(ctx, n)
    return ~true if ctx.stages.spec.exclude else true


def _soft_filter(ctx: _Context, i: int, keep: bool) -> None:
    """bcftools filter -s NAME [-m +|x] on one record."""
    L = ctx.L
    rec = ctx.pool[i]
    hdr = ctx.st.hdr
    mode = ctx.stages.spec.mode
    if keep:
        L.bcf_unpack(rec, hts.BCF_UN_FLT)
        if "x" in mode or ctx.recs[i].d.n_flt == 0:
            L.bcf_update_filter(hdr, rec, ctx.pass_id, 1)
    elif "+" in mode:
        L.bcf_add_filter(hdr, rec, ctx.soft_id)
    else:
        ids = (ctypes.c_int * 1)(ctx.soft_id)
        L.bcf_update_filter(hdr, rec, ids, 1)


@dataclass(frozen=True)
class FilterFormatter:
    settings: Settings
    spec: FilterSpec

    def header_payload(self) -> bytes:
        return _state(self.settings).header_payload()

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        st = _state(self.settings)
        from gfcli.engine.variants import rawtext

        if RAW_TEXT and rawtext.usable(st, chunk):
            ctx = _context(st, self.spec)
            if ctx.raw is None:
                ctx.raw = rawtext.RawText(ctx, ctx.decoder.contigs)
            if ctx.raw.full or ctx.raw.pre:
                return self._raw_payloads(st, ctx, chunk)
        return write_payloads(st, self._selected(st, chunk))

    def iter_buffers(self, chunk: Chunk) -> Iterator[bytes | memoryview]:
        """`iter_payloads` without joining the raw path's pieces: each is valid only until
        the next is asked for (what a consumer writing them straight out needs)."""
        st = _state(self.settings)
        from gfcli.engine.variants import rawtext

        if RAW_TEXT and self.settings.text_output and rawtext.usable(st, chunk):
            ctx = _context(st, self.spec)
            if ctx.raw is None:
                ctx.raw = rawtext.RawText(ctx, ctx.decoder.contigs)
            if ctx.raw.full or ctx.raw.pre:
                raw = ctx.raw
                for kind, item in rawtext.run_chunk(ctx, raw, chunk, True, _soft_filter,
                                                    reuse=True):
                    yield item if kind == "raw" else raw.format(item)
                return
        yield from self.iter_payloads(chunk)

    def _raw_payloads(self, st: _State, ctx: _Context, chunk: Chunk) -> Iterator[bytes]:
        from gfcli.engine.variants import rawtext

        raw = ctx.raw
        items = rawtext.run_chunk(ctx, raw, chunk, self.settings.text_output, _soft_filter)
        if not self.settings.text_output:
            yield from write_payloads(st, (ctx.pool[slot] for kind, slot in items))
            return
        parts: list[bytes] = []
        size = 0
        for kind, item in items:
            data = item if kind == "raw" else raw.format(item)
            parts.append(data)
            size += len(data)
            if size >= BATCH_BYTES:
                yield b"".join(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts)

    def _selected(self, st: _State, chunk: Chunk) -> Iterator[int]:
        """The records to write, soft-filtered when asked, in input order."""
        ctx = _context(st, self.spec)
        soft = self.spec.soft is not None
        pool = ctx.pool
        for n in _batches(st, ctx, chunk):
            keep = _keep(ctx, n)
            if soft:
                for i in range(n):
                    _soft_filter(ctx, i, bool(keep[i]))
                    yield pool[i]
            else:
                for i in np.flatnonzero(keep).tolist():
                    yield pool[i]

    def count(self, chunk: Chunk) -> int:
        st = _state(self.settings)
        ctx = _context(st, self.spec)
        if self.spec.soft is not None:
            return sum(_batches(st, ctx, chunk))
        return sum(int(_keep(ctx, n).sum()) for n in _batches(st, ctx, chunk))


# ---------------------------------------------------------------------------------------
# Planning


def _soft_line(req) -> bytes:
    if req.include is not None:
        what, expr = "Set if not true", req.include
    else:
        what, expr = "Set if true", req.exclude
    expr = expr.replace('"', '\\"')  # as bcftools filter escapes it
    return f'##FILTER=<ID={req.soft_filter},Description="{what}: {expr}">'.encode()


def _pushdown(plan, st: _State, req, inp: Input, stages: _Stages):
    """Index regions from the expression's CHROM/POS conjuncts, or None (and why not)."""
    regions = stages.compiled.plan.regions if stages.compiled else ()
    if not regions:
        return None, "no CHROM/POS conjuncts: whole input"
    if stages.spec.exclude or stages.spec.soft:
        return None, ("not used: with -e or -s records outside the region are output too "
                      "(the conjuncts are evaluated as prefilters)")
    if any((req.regions, req.regions_file, req.targets, req.targets_file)):
        return None, "not used: -r/-R/-t/-T given (the conjuncts are evaluated as prefilters)"
    if inp.is_stdin or inp.index is None or not inp.splittable:
        return None, "no index: evaluated while streaming (as prefilters)"
    from gfcli.engine.regions import Region

    st._load_contig_names()
    order = {name: rid for rid, name in st._contig_names.items()}
    out = []
    for r in sorted(regions, key=lambda r: order.get(r.chrom, 1 << 30)):
        start = max((r.start or 1) - 1, 0)
        end = r.end
        if end is not None and end <= start:
            continue  # empty range: nothing can match
        out.append(Region(r.chrom, start, end))
    return out, f"index seek via {os.path.basename(inp.index)}"


def make_filter_plan(req, inp: Input):
    from gfcli.engine import chunks as chunking
    from gfcli.engine.variants.view import make_view_plan

    if req.soft_filter is not None and req.include is None and req.exclude is None:
        raise UsageError("-s/--soft-filter needs an expression (-i or -e)")
    if req.soft_filter is not None and (not req.soft_filter or any(
            c in req.soft_filter for c in ' \t;,"<>=')):
        raise UsageError(f"-s: not a valid FILTER name: '{req.soft_filter}'")
    text = req.include if req.include is not None else req.exclude
    spec = FilterSpec(text=text, exclude=req.exclude is not None, soft=req.soft_filter,
                      mode=req.soft_mode or "")
    lines = (_soft_line(req),) if req.soft_filter else ()
    plan = make_view_plan(req, inp, header_lines=lines)
    settings = plan.formatter.settings
    st = _state(settings)
    ctx = _context(st, spec)  # compiles the expression: errors before any output
    if RAW_TEXT and spec.text is not None and inp.format == sniff.VCF and \
            inp.compression == sniff.BGZF:
        from gfcli.engine import bgzf
        from gfcli.engine.expr import eval_variants  # noqa: F401 - for the workers
        from gfcli.engine.variants import rawnative

        # before the workers fork, so that they inherit rather than each redo: the loaded
        # kernels, the evaluator's import and the search for libdeflate (which runs
        # `ldconfig -p` in a subprocess: ~10 ms of each worker's first chunk)
        rawnative.preload()
        bgzf.backend_name()
    stages = ctx.stages
    regions, how = _pushdown(plan, st, req, inp, stages)
    if regions is not None:
        plan.chunks = chunking.plan_region_chunks(regions)
    plan.formatter = FilterFormatter(settings, spec)
    if plan.direct is not None:  # -O tsv|json|parquet|arrow: tables of the kept records
        plan.direct.formatter = plan.formatter
    plan.explain = _explain(stages, inp, regions, how, spec)
    return plan


def _explain(stages: _Stages, inp: Input, regions, how: str, spec: FilterSpec) -> str:
    from gfcli.engine.expr.plan import unparse

    is_bcf = inp.format == sniff.BCF
    mode = "exclude (-e)" if spec.exclude else "include (-i)"
    action = (f"soft filter: FILTER {'+' if '+' in spec.mode else ''}= {spec.soft} on failing "
              "records" + ("; passing records reset to PASS" if "x" in spec.mode else "")
              if spec.soft else "failing records dropped")
    lines = [f"input: {inp.display} ({'BCF' if is_bcf else 'VCF'}"
             f"{', indexed' if inp.index else ''})",
             f"expression ({mode}): {spec.text}", f"action: {action}"]
    if regions is not None:
        regs = ", ".join(str(r) for r in regions) or "(empty: no record can match)"
        lines.append(f"1. region pushdown: {regs} ({how})")
    else:
        lines.append(f"1. region pushdown: (none) - {how}")
    where = ("on each record's shared (site) block, before FORMAT is unpacked" if is_bcf
             else "on each line's site columns, before the samples are needed")
    if stages.pre:
        lines.append(f"2. raw prefilters ({where}):")
        for node in stages.pre:
            lines.append(f"     {unparse(node)}    [{', '.join(_field_list(node))}]")
    else:
        lines.append("2. raw prefilters: (none)")
    fields = sorted(set(stages.pre_fields) | set(stages.rest_fields))
    skipped = []
    if not any(f.startswith("FMT/") or f == "GT" for f in fields):
        skipped.append("FORMAT/genotypes not decoded")
    elif stages.pre:
        skipped.append("FORMAT decoded only for records passing stage 2")
    info = [f for f in fields if f.startswith("INFO/")]
    if not info:
        skipped.append("no INFO tag decoded")
    else:
        skipped.append("other INFO tags not decoded")
    proj = " ".join(fields) or "(nothing)"
    lines.append(f"3. projection: decode {proj}; {'; '.join(skipped)}")
    if stages.rest:
        lines.append(f"4. batch evaluation ({POOL_SIZE} records per batch, numpy):")
        for node in stages.rest:
            lines.append(f"     {unparse(node)}")
    else:
        lines.append("4. batch evaluation: (nothing left after prefilters)")
    return "\n".join(lines)


def _field_list(node) -> list[str]:
    from gfcli.engine.expr.plan import fields_of

    return sorted(fields_of(node, "variants"))
