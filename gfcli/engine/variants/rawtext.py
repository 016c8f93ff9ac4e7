"""The raw-text path of `gfcli filter` for BGZF VCF: decide on the line, parse only what must be.

A chunk's BGZF blocks are inflated here (libdeflate), cut into pieces of whole lines and
scanned once by `rawkernels.scan_lines`, which reads the expression's columns (CHROM, POS,
QUAL, Number=1 numeric INFO tags and flags, Number=1 numeric FORMAT tags) without `vcf_parse`.
The expression is evaluated over those columns; a line goes to htslib (`vcf_parse`, then the
`bcf1_t` decoder and `vcf_format`/`bcf_write`) only when it must: its values could not be read
exactly, the expression needs fields the scanner does not read (then only the lines passing
the raw prefilters), the output is BCF, soft filtering changes it, or htslib would not write
it back byte for byte. Every other kept line is copied out as it is.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from gfcli.engine import sniff
from gfcli.engine.bgzf import (
    Inflater,
    append_block,
    drop_mapped_pages,
    map_file,
    split_voffset,
)
from gfcli.engine.chunks import OFFSETS, Chunk
from gfcli.engine.errors import DataError
from gfcli.engine.expr import ExprError
from gfcli.engine.expr.batch import FormatColumn, InfoColumn, VariantBatch
from gfcli.engine.variants import hts

PIECE_BYTES = 4 << 20
DROP_BYTES = 8 << 20  # mapped input released every this many compressed bytes
TYPE_CODES = {"Flag": 0, "Integer": 1, "Float": 2}


def _table(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    data = [n.encode() for n in names]
    off = np.zeros(len(data) + 1, np.int64)
    off[1:] = np.cumsum([len(d) for d in data]) if data else []
    return np.frombuffer(b"".join(data) or b"\0", np.uint8).copy(), off


def raw_field(field: str, schema) -> bool:
    """Can the scanner read this projection field exactly?"""
    if field in ("CHROM", "POS", "QUAL"):
        return True
    if field.startswith("INFO/"):
        d = schema.info.get(field[5:])
        return d is not None and (d.type == "Flag" or (d.type in ("Integer", "Float")
                                                       and d.number == "1"))
    if field.startswith("FMT/"):
        d = schema.fmt.get(field[4:])
        return d is not None and field != "FMT/GT" and d.type in ("Integer", "Float") and \
            d.number == "1"
    return False


class RawText:
    """Per process: the scanner's tables and the stages' raw-ability for one input."""

    def __init__(self, ctx, decoder_contigs: tuple[str, ...]):
        self.ctx = ctx
        st = ctx.st
        schema = ctx.schema
        stages = ctx.stages
        self.S = len(schema.samples)
        self.contigs = decoder_contigs
        self.ctg = _table(list(decoder_contigs))
        info_names = list(schema.info)
        self.info_index = {n: i for i, n in enumerate(info_names)}
        self.info = _table(info_names)
        self.info_type = np.array([TYPE_CODES.get(schema.info[n].type, 3) for n in info_names]
                                  or [3], np.int64)
        fmt_names = list(schema.fmt)
        self.fmt_index = {n: i for i, n in enumerate(fmt_names)}
        self.fmt = _table(fmt_names)
        self.fmt_type = np.array([4 if n == "GT" else TYPE_CODES.get(schema.fmt[n].type, 3)
                                  for n in fmt_names] or [3], np.int64)
        self.flt = _table([f for f in schema.filters if f != "PASS"])
        all_fields = set(stages.pre_fields) | set(stages.rest_fields)
        # no expression (a plain view): every line is kept, copied when htslib would write
        # it back unchanged
        self.full = stages.compiled is None or all(raw_field(f, schema)
                                                        for f in all_fields)
        self.pre = stages.compiled is not None and bool(stages.pre) and all(
            raw_field(f, schema) for f in stages.pre_fields)
        raw_fields = all_fields if self.full else set(stages.pre_fields) if self.pre else set()
        self.want_info = [f[5:] for f in sorted(raw_fields) if f.startswith("INFO/")]
        self.want_fmt = [f[4:] for f in sorted(raw_fields) if f.startswith("FMT/")]
        self.want_info_ids = np.array([self.info_index[t] for t in self.want_info], np.int64)
        self.want_fmt_ids = np.array([self.fmt_index[t] for t in self.want_fmt], np.int64)
        self.path = st.s.path
        self.ks = hts.KString()  # htslib-owned buffer for vcf_format
        self.ks_in = hts.KString()
        from gfcli.engine.variants.rawnative import Scanner

        self.scanner = Scanner(self.S, (*self.ctg, *self.info, self.info_type, *self.flt,
                                        *self.fmt, self.fmt_type),
                               self.want_info_ids, self.want_fmt_ids)
        self._src = None
        self._inflater = None
        self.chunk: Chunk | None = None  # the chunk being read, to diagnose a bad line
        self._buf = np.empty(PIECE_BYTES + (256 << 10), np.uint8)

    # -- reading -------------------------------------------------------------------------
    def pieces(self, st, chunk: Chunk) -> Iterator[np.ndarray]:
        """Whole lines of the chunk, about PIECE_BYTES at a time: BGZF blocks inflated
        straight into one reused buffer (a piece is valid until the next is asked for)."""
        start = chunk.start if chunk.start is not None else st.after_header
        end = chunk.end
        addr, within = split_voffset(start)
        end_addr, end_within = split_voffset(end) if end is not None else (None, 0)
        if self._src is None:
            self._src = map_file(self.path)
            self._inflater = Inflater(self._src)
        src, inflater = self._src, self._inflater
        size = len(src)
        buf = self._buf
        fill = 0
        address = addr
        lo = within
        dropped = addr
        while address < size:
            if end_addr is not None and (address > end_addr or
                                         (address == end_addr and not end_within)):
                break
            buf, fill, address, last = append_block(
                src, address, inflater, buf, fill, lo, end_addr, end_within, st.s.display)
            self._buf = buf
            lo = 0
            if address - dropped >= DROP_BYTES:
                dropped = drop_mapped_pages(src, dropped, address)
            if last:
                break
            if fill >= PIECE_BYTES:
                cut = _after_last_newline(buf, fill)
                if cut:
                    yield buf[:cut]
                    rest = fill - cut
                    if rest:
                        buf[:rest] = buf[cut:fill].copy()
                    fill = rest
        drop_mapped_pages(src, dropped, address)
        if fill:
            yield buf[:fill]

    # -- one piece ----------------------------------------------------------------------
    def scan(self, buf: np.ndarray):
        return self.scanner.scan(buf)

    def emit(self, buf: np.ndarray, idx: np.ndarray, reuse: bool = False) -> memoryview:
        return self.scanner.emit(buf, idx, reuse)

    def raw_batch(self, cols, idx: np.ndarray) -> VariantBatch:
        """The scanned columns of lines `idx` (views, not copies, when `idx` is every line;
        valid until the next scan)."""
        (n, _, _, _, rid, pos, qual, _, _, _, ivals, ilen, fvals, fwidth, _, _) = cols
        if len(idx) == n:
            sel = slice(0, n)
        else:
            sel = idx
        b = VariantBatch(n=len(idx), n_samples=self.S, contigs=self.contigs)
        b.chrom = rid[sel]
        b.pos = pos[sel]
        b.qual = qual[sel]
        for k, tag in enumerate(self.want_info):
            b.info[tag] = InfoColumn(ivals[sel, k : k + 1], ilen[sel, k])
        for f, tag in enumerate(self.want_fmt):
            b.fmt[tag] = FormatColumn(fvals[sel, f, : self.S, None], fwidth[sel, f])
        return b

    def evaluate_raw(self, cols, idx: np.ndarray) -> np.ndarray:
        """Expression (full) or prefilter (pre) truth over the scanned lines `idx`."""
        from gfcli.engine.expr.eval_variants import VariantEvaluator

        stages = self.ctx.stages
        true = np.ones(len(idx), dtype=bool)
        if not len(idx):
            return true
        ev = VariantEvaluator(self.raw_batch(cols, idx))
        nodes = stages.pre + (stages.rest if self.full else ())
        try:
            for node in nodes:
                true &= ev.passes(node)
        except ExprError as e:
            raise e.with_expr(stages.compiled.text) from None
        return true

    def parse_into(self, buf: np.ndarray, start: int, end: int, slot: int) -> None:
        ctx = self.ctx
        n = end - start
        ks = self.ks_in  # malloc'd: vcf_parse may grow it with realloc
        if ks.m < n + 1:
            ks.m = max(n + 1, 2 * ks.m)
            ks.s = _libc().realloc(ks.s, ks.m)
            if not ks.s:
                raise MemoryError("vcf line buffer")
        ctypes.memmove(ks.s, buf[start:end].ctypes.data, n)
        ctypes.c_char.from_address(ks.s + n).value = b"\0"
        ks.l = n
        if ctx.L.vcf_parse(ctypes.byref(ks), ctx.st.hdr, ctx.pool[slot]) < 0:
            if self.chunk is not None:
                # htslib's reader over the chunk names the line (and htslib's complaint)
                from gfcli.engine.variants.view import _sequential_records

                for _ in _sequential_records(ctx.st, self.chunk):
                    pass
            line = buf[start : min(end, start + 60)].tobytes()
            raise DataError("malformed record: " + line.decode(errors="replace"),
                            path=ctx.st.s.display)

    def format(self, slot: int) -> bytes:
        ks = self.ks
        ks.l = 0
        self.ctx.L.vcf_format(self.ctx.st.hdr, self.ctx.pool[slot], ctypes.byref(ks))
        return ctypes.string_at(ks.s, ks.l)


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    libc.realloc.restype = ctypes.c_void_p
    libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.memrchr.restype = ctypes.c_void_p
    libc.memrchr.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    return libc



def _after_last_newline(buf: np.ndarray, fill: int) -> int:
    """1 + the position of the last newline in buf[:fill], or 0."""
    base = buf.ctypes.data
    hit = _libc().memrchr(base, 10, fill)
    return hit - base + 1 if hit else 0


def usable(st, chunk: Chunk) -> bool:
    """The raw path reads BGZF VCF files by block offsets."""
    s = st.s
    return (chunk.kind == OFFSETS and s.input_format == sniff.VCF and not s.is_stream
            and s.targets is None and st.bgzf is not None)


def run_chunk(ctx, raw: RawText, chunk: Chunk, text_output: bool, soft_filter,
              reuse: bool = False) -> Iterator[tuple[str, object]]:
    """('raw', bytes) pieces of output text and ('rec', pool slot) records to write, in
    input order. With `reuse` a 'raw' piece is a view valid only until the next item is
    asked for."""
    from gfcli.engine.variants.filter import _evaluate

    st = ctx.st
    spec = ctx.stages.spec
    soft = spec.soft is not None
    exclude = spec.exclude
    pool_size = len(ctx.pool)
    raw.chunk = chunk
    with hts.QuietLog():
        for buf in raw.pieces(st, chunk):
            cols = raw.scan(buf)
            n = cols[0]
            starts, ends, ok, canon, fpass = cols[2], cols[3], cols[7], cols[8], cols[9]
            starts, ends = starts[:n], ends[:n]
            ok, canon, fpass = ok[:n], canon[:n], fpass[:n]
            if raw.full or raw.pre:
                good = np.flatnonzero(ok)
                true = np.zeros(n, dtype=bool)
                true[good] = raw.evaluate_raw(cols, good)
                decided = ok.copy()
                if not raw.full:
                    decided &= ~true  # prefilter passed: the rest needs htslib
            else:
                true = np.zeros(n, dtype=bool)
                decided = np.zeros(n, dtype=bool)
            keep = true != exclude
            # lines htslib must see: undecided, or output that is not a plain copy
            need = ~decided
            if not text_output:
                need |= decided & (keep | soft)  # BCF: every output record is encoded
            elif soft:
                need |= decided & ~(keep & fpass & (canon > 0))
            else:
                need |= decided & keep & (canon == 0)
            parse_idx = np.flatnonzero(need)
            # walk the lines in order: runs of copies, and groups parsed into the pool
            copy_mask = decided & keep & ~need
            pos = 0
            for g in range(0, len(parse_idx), pool_size):
                group = parse_idx[g : g + pool_size]
                first = int(group[0])
                if text_output:
                    run = np.flatnonzero(copy_mask[pos:first]) + pos
                    if len(run):
                        yield "raw", raw.emit(buf, run, reuse)
                for slot, line in enumerate(group.tolist()):
                    raw.parse_into(buf, int(starts[line]), int(ends[line]), slot)
                gtrue = _evaluate(ctx, len(group))
                gkeep = gtrue != exclude
                last = int(group[-1]) + 1
                for slot, line in enumerate(group.tolist()):
                    if text_output and slot:
                        prev = int(group[slot - 1]) + 1
                        run = np.flatnonzero(copy_mask[prev:line]) + prev
                        if len(run):
                            yield "raw", raw.emit(buf, run, reuse)
                    if soft:
                        soft_filter(ctx, slot, bool(gkeep[slot]))
                    elif not gkeep[slot]:
                        continue
                    yield "rec", slot
                pos = last
            if text_output:
                run = np.flatnonzero(copy_mask[pos:]) + pos
                if len(run):
                    yield "raw", raw.emit(buf, run, reuse)
