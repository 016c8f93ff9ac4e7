"""Raw record batches for variant statistics: htslib parses, numba copies.

Records are read by htslib (`bcf_read`: vcf_parse for VCF text, BCF decoding for BCF) into
one `bcf1_t`, exactly as `gfcli view` reads them (`variants.view`: same open, header, chunk
seeks and region iterators). What a batch keeps of each record is what htslib leaves in
the `bcf1_t`: its 32 leading bytes (pos, rlen, rid, qual, n_info/n_allele, n_fmt/n_sample)
and the BCF encoding of the shared (ID, alleles, FILTER, INFO) and per-sample parts. The
statistics kernels decode those bytes themselves, so no Python object is made per record.

For whole-file chunks (offset ranges, streams) the read loop itself is compiled: numba
calls `bcf_read` through its ctypes pointer, so a batch of records costs one Python call.
Index-region chunks use view's own region iterator record by record.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

HEAD_BYTES = 32
BATCH_RECORDS = 1 << 15


@intrinsic
def _voidptr(typingctx, src):
    """An integer address as a void pointer (for carray and C calls)."""
    sig = types.voidptr(src)

    def codegen(cgctx, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _copy_record(rec, heads, n, shared, s_used, indiv, i_used):
    """Append the record at `rec` if it fits; returns (fits, new s_used, new i_used)."""
    ks = numba.carray(_voidptr(rec + 32), 6, np.uint64)  # shared {l, m, s}, indiv {l, m, s}
    sl = ks[0]
    il = ks[3]
    if s_used + sl > shared.size or i_used + il > indiv.size:
        return False, s_used, i_used
    head = numba.carray(_voidptr(rec), HEAD_BYTES, np.uint8)
    heads[n, :] = head
    if sl:
        shared[s_used:s_used + sl] = numba.carray(_voidptr(ks[2]), sl, np.uint8)
    if il:
        indiv[i_used:i_used + il] = numba.carray(_voidptr(ks[5]), il, np.uint8)
    return True, s_used + sl, i_used + il


@numba.njit(cache=True, nogil=True)
def _read_loop(read, fp, hdr, rec, bgzf, end, pending, heads, s_off, shared, i_off, indiv):
    """Read records until the batch is full, the chunk ends or the file ends.

    Returns (n records, status): status 0 = batch full (and the record in `rec` still to
    be stored when `pending` comes back 1), 1 = end of chunk or file, <0 = bcf_read error.
    `end` < 0 means no end offset.
    """
    n = 0
    s_used = 0
    i_used = 0
    s_off[0] = 0
    i_off[0] = 0
    cap = heads.shape[0]
    if pending:
        ok, s_used, i_used = _copy_record(rec, heads, n, shared, s_used, indiv, i_used)
        if not ok:
            return 0, 2  # one record larger than the buffers: grow them
        n += 1
        s_off[n] = s_used
        i_off[n] = i_used
    while n < cap:
        if bgzf != 0 and end >= 0:
            ints = numba.carray(_voidptr(bgzf), 5, np.int32)
            address = numba.carray(_voidptr(bgzf + 24), 1, np.int64)[0]
            block_length = ints[2]
            block_clength = ints[3]
            block_offset = ints[4]
            here = (address << 16) | block_offset
            if here >= end:
                return n, 1
            if block_length and block_offset >= block_length and (
                (address + block_clength) << 16
            ) >= end:
                return n, 1
        r = read(_voidptr(fp), _voidptr(hdr), _voidptr(rec))
        if r < 0:
            if r == -1:
                return n, 1
            return n, r
        ok, s_used, i_used = _copy_record(rec, heads, n, shared, s_used, indiv, i_used)
        if not ok:
            return n, 0
        n += 1
        s_off[n] = s_used
        i_off[n] = i_used
    return n, 3  # record cap reached; nothing pending


@dataclass
class RawBatch:
    n: int
    heads: np.ndarray  # uint8 (n, 32)
    s_off: np.ndarray  # int64 (n+1)
    shared: np.ndarray  # uint8
    i_off: np.ndarray  # int64 (n+1)
    indiv: np.ndarray  # uint8

    @property
    def pos(self) -> np.ndarray:
        return self.heads[:, 0:8].copy().view(np.int64).ravel()

    @property
    def rid(self) -> np.ndarray:
        return self.heads[:, 16:20].copy().view(np.int32).ravel()

    def subset(self, keep: np.ndarray) -> RawBatch:
        """Only the records where `keep` is true (offsets rebuilt)."""
        idx = np.flatnonzero(keep)
        heads = self.heads[idx]
        s_len = (self.s_off[1:] - self.s_off[:-1])[idx]
        i_len = (self.i_off[1:] - self.i_off[:-1])[idx]
        s_off = np.zeros(len(idx) + 1, np.int64)
        i_off = np.zeros(len(idx) + 1, np.int64)
        np.cumsum(s_len, out=s_off[1:])
        np.cumsum(i_len, out=i_off[1:])
        shared = np.concatenate([self.shared[self.s_off[i]:self.s_off[i + 1]] for i in idx]
                                or [np.zeros(0, np.uint8)])
        indiv = np.concatenate([self.indiv[self.i_off[i]:self.i_off[i + 1]] for i in idx]
                               or [np.zeros(0, np.uint8)])
        return RawBatch(len(idx), heads, s_off, shared, i_off, indiv)


class BatchReader:
    """Fills RawBatches from an htslib reader positioned by `variants.view`."""

    def __init__(self, lib, fp: int, hdr: int, rec: int, bgzf: int | None,
                 shared_bytes: int = 8 << 20, indiv_bytes: int = 32 << 20):
        self.L = lib
        self.fp, self.hdr, self.rec = fp, hdr, rec
        self.bgzf = bgzf or 0
        self.heads = np.empty((BATCH_RECORDS, HEAD_BYTES), np.uint8)
        self.s_off = np.empty(BATCH_RECORDS + 1, np.int64)
        self.i_off = np.empty(BATCH_RECORDS + 1, np.int64)
        self.shared = np.empty(shared_bytes, np.uint8)
        self.indiv = np.empty(indiv_bytes, np.uint8)

    def batches(self, end: int | None, on_error):
        """Yield RawBatches (views into reused buffers: consume before the next)."""
        pending = 0
        end_value = -1 if end is None else end
        while True:
            n, status = _read_loop(self.L.bcf_read, self.fp, self.hdr, self.rec, self.bgzf,
                                   end_value, pending, self.heads, self.s_off, self.shared,
                                   self.i_off, self.indiv)
            if status == 2:
                self._grow()
                continue
            if n:
                yield RawBatch(n, self.heads[:n], self.s_off[: n + 1], self.shared,
                               self.i_off[: n + 1], self.indiv)
            if status < 0:
                raise on_error(status)
            if status == 1:
                return
            pending = 1 if status == 0 else 0
            if status == 0 and n == 0:
                self._grow()

    def _grow(self) -> None:
        ks = (ctypes.c_uint64 * 6).from_address(self.rec + 32)
        self.shared = np.empty(max(2 * self.shared.size, int(ks[0]) * 2), np.uint8)
        self.indiv = np.empty(max(2 * self.indiv.size, int(ks[3]) * 2), np.uint8)


def records_to_batch(items: list[tuple[bytes, bytes, bytes]]) -> RawBatch:
    """A RawBatch from (head, shared, indiv) byte strings (the region path)."""
    n = len(items)
    heads = np.frombuffer(b"".join(h for h, _, _ in items), np.uint8).reshape(n, HEAD_BYTES)
    s_len = np.array([len(s) for _, s, _ in items], np.int64)
    i_len = np.array([len(i) for _, _, i in items], np.int64)
    s_off = np.zeros(n + 1, np.int64)
    i_off = np.zeros(n + 1, np.int64)
    np.cumsum(s_len, out=s_off[1:])
    np.cumsum(i_len, out=i_off[1:])
    shared = np.frombuffer(b"".join(s for _, s, _ in items), np.uint8)
    indiv = np.frombuffer(b"".join(i for _, _, i in items), np.uint8)
    return RawBatch(n, heads, s_off, shared, i_off, indiv)


def snapshot(rec: int) -> tuple[bytes, bytes, bytes]:
    """(head, shared, indiv) bytes of the record at `rec`."""
    ks = (ctypes.c_uint64 * 6).from_address(rec + 32)
    head = ctypes.string_at(rec, HEAD_BYTES)
    shared = ctypes.string_at(int(ks[2]), int(ks[0])) if ks[0] else b""
    indiv = ctypes.string_at(int(ks[5]), int(ks[3])) if ks[3] else b""
    return head, shared, indiv
