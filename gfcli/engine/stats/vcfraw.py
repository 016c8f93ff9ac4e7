"""Raw record batches for variant statistics: htslib parses, numba copies.

Records are read by htslib (`bcf_read`: vcf_parse for VCF text, BCF decoding for BCF) into
one `bcf1_t`, exactly as `gfcli view` reads them (`variants.view`: same open, header, chunk
seeks and region iterators). What a batch keeps of each record is what htslib leaves in
the `bcf1_t`: its 32 leading bytes (pos, rlen, rid, qual, n_info/n_allele, n_fmt/n_sample)
and the BCF encoding of the shared (ID, alleles, FILTER, INFO) and per-sample parts. The
statistics kernels decode those bytes themselves, so no Python object is made per record.

For whole-file chunks (offset ranges, streams) the read loop itself is compiled
(`vreadk.read_loop`, precompiled by `vnative`): it calls `bcf_read` by address, so a batch
of records costs one Python call.
Index-region chunks use view's own region iterator record by record.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

HEAD_BYTES = 32
BATCH_RECORDS = 1 << 15


@dataclass
class RawBatch:
    n: int
    heads: np.ndarray  # uint8 (n, 32)
    s_off: np.ndarray  # int64 (n+1)
    shared: np.ndarray  # uint8
    i_off: np.ndarray  # int64 (n+1)
    indiv: np.ndarray  # uint8
    skip: np.ndarray | None = None  # uint8 (n): 1/2 = read but dropped by -i/-e

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
        skip = self.skip[idx] if self.skip is not None else None
        return RawBatch(len(idx), heads, s_off, shared, i_off, indiv, skip)


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
        from gfcli.engine.stats import vnative

        loop = vnative.read_loop()
        out = np.zeros(2, np.int64)
        read = ctypes.cast(self.L.bcf_read, ctypes.c_void_p).value
        while True:
            loop(read, self.fp, self.hdr, self.rec, self.bgzf, end_value, pending,
                 self.heads, self.s_off, self.shared, self.i_off, self.indiv, out)
            n, status = int(out[0]), int(out[1])
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


def records_to_batch(items: list[tuple[bytes, bytes, bytes]],
                     skip: list[int] | None = None) -> RawBatch:
    """A RawBatch from (head, shared, indiv) byte strings (the region and -i/-e paths)."""
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
    return RawBatch(n, heads, s_off, shared, i_off, indiv,
                    np.asarray(skip, np.uint8) if skip is not None else None)


def snapshot(rec: int) -> tuple[bytes, bytes, bytes]:
    """(head, shared, indiv) bytes of the record at `rec`."""
    ks = (ctypes.c_uint64 * 6).from_address(rec + 32)
    head = ctypes.string_at(rec, HEAD_BYTES)
    shared = ctypes.string_at(int(ks[2]), int(ks[0])) if ks[0] else b""
    indiv = ctypes.string_at(int(ks[5]), int(ks[3])) if ks[3] else b""
    return head, shared, indiv
