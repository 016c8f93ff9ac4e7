"""BGZF BCF read directly for variant statistics: libdeflate inflates, no bcf_read.

pysam's htslib inflates with zlib; gfcli's BGZF layer uses libdeflate, several times
faster, and on a 200-sample cohort inflating is most of the read. A chunk's blocks are
inflated into one reused buffer; `vkernels.split_bcf` cuts it into records and fills the
batch's leading fields (as bcf_read would leave them in `bcf1_t`) with shared and
per-sample offsets pointing into that buffer: the statistics kernel reads the records where
they were inflated, nothing is copied. A record cut by the end of the buffer is carried into
the next one.

Runs of blocks are inflated by one native call each (`bgzf_native`: no Python per block);
without it (no C compiler, GFCLI_NO_NATIVE_INFLATE=1) block by block (`bgzf.append_block`).

Used for BCF files (not streams) whose chunks are offset ranges, without -t/-T targets; the
rest goes through htslib (`vcfraw`).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import numpy as np

from gfcli.engine.bgzf import (
    Inflater,
    append_block,
    drop_mapped_pages,
    map_file,
    split_voffset,
)
from gfcli.engine.errors import DataError
from gfcli.engine.stats.vcfraw import BATCH_RECORDS, HEAD_BYTES, RawBatch

# inflated bytes per piece: small enough to be still in the core's L2 cache when split_bcf
# and the statistics kernel read them (split_bcf ~0.19 -> ~0.12 s on 1M x 200 genotypes;
# whole runs against 8 MiB pieces were within the noise of a loaded machine), and a
# smaller buffer per worker
PIECE_BYTES = 1 << 20
# the first pieces of a range are small (then doubled up to PIECE_BYTES): a chunk counted
# with its ALT-length ring unset stops at its first symbolic ALT that needs the records
# before it (variants._Task), often in its first records, and should not have inflated
# much more by then
FIRST_PIECE_BYTES = 64 << 10
DROP_BYTES = 16 << 20  # mapped input released every this many compressed bytes



class DirectReader:
    """Per process and file: the mapped input, the inflate buffer and batch arrays."""

    def __init__(self, path: str, display: str):
        self.path = path
        self.display = display
        self.src = map_file(path)
        self.inflater = Inflater(self.src)
        from gfcli.engine import bgzf_native

        self.native = bgzf_native.inflater(self.src, display)
        self.buf = np.empty(PIECE_BYTES + (1 << 17), np.uint8)
        self.heads = np.empty((BATCH_RECORDS, HEAD_BYTES), np.uint8)
        self.s_off = np.empty(BATCH_RECORDS + 1, np.int64)
        self.i_off = np.empty(BATCH_RECORDS + 1, np.int64)
        self.out = np.zeros(2, np.int64)

    def batches(self, start: int, end: int | None) -> Iterator[RawBatch]:
        """RawBatches of the records in [start, end) (virtual offsets); each is valid until
        the next is asked for."""
        if self.native is not None:
            return self._native_batches(start, end)
        return self._block_batches(start, end)

    def _split(self, split, fill: int, pos: int) -> Generator[RawBatch, None, int]:
        """The batches of the whole records in buf[pos:fill]; returns where the first
        record it could not take starts."""
        while pos < fill:
            split(self.buf, pos, fill, self.heads, self.s_off, self.i_off, self.out)
            n, nxt = int(self.out[0]), int(self.out[1])
            if n == 0:
                break
            yield RawBatch(n, self.heads[:n], self.s_off[:n + 1], self.buf,
                           self.i_off[:n + 1], self.buf)
            pos = nxt
        return pos

    def _carry(self, fill: int, pos: int, done: bool, dropped: int, address: int) -> int:
        """After a piece's records were split off: at the end, release the mapped input and
        refuse a cut record; else move the cut record to the front. Its length."""
        rest = fill - pos
        if done:
            drop_mapped_pages(self.src, dropped, address)
            if rest:
                raise DataError("truncated BCF record at the end of the input",
                                path=self.display)
            return 0
        if rest:
            self.buf[:rest] = self.buf[pos:fill].copy()
        return rest

    def _native_batches(self, start: int, end: int | None) -> Iterator[RawBatch]:
        from gfcli.engine.bgzf_native import END, FULL, STOP
        from gfcli.engine.stats import vnative

        split = vnative.split_bcf()
        native, src = self.native, self.src
        address, lo = split_voffset(start)
        end_addr, end_within = split_voffset(end) if end is not None else (None, 0)
        # blocks at or past `stop` are not read; the end block is read when the range ends
        # inside it
        stop = None if end_addr is None else end_addr + (1 if end_within else 0)
        dropped = address
        fill = 0
        pos = lo  # the range's first bytes in its first block belong to the chunk before
        piece = FIRST_PIECE_BYTES
        while True:
            if address - dropped >= DROP_BYTES:
                dropped = drop_mapped_pages(src, dropped, address)
            if len(self.buf) - fill < (1 << 17):
                # a record longer than the buffer: grow it (the carried bytes stay)
                grown = np.empty(2 * len(self.buf), np.uint8)
                grown[:fill] = self.buf[:fill]
                self.buf = grown
            run = native.inflate(address, self.buf, fill, target=max(piece, fill + 1),
                                 stop_address=stop)
            piece = min(2 * piece, PIECE_BYTES)
            done = run.reason in (END, STOP)
            fill = run.fill
            address = run.address
            if end_within and run.addresses and run.addresses[-1] == end_addr:
                fill = min(run.starts[-1] + end_within, fill)
                done = True
            if run.reason == FULL and not run.addresses:
                # the next block does not fit behind the carried bytes: grow and retry
                grown = np.empty(2 * len(self.buf), np.uint8)
                grown[:fill] = self.buf[:fill]
                self.buf = grown
                continue
            if pos > fill:  # the first block ended before `lo` (a malformed offset)
                pos = fill
            pos = yield from self._split(split, fill, pos)
            fill = self._carry(fill, pos, done, dropped, address)
            if done:
                return
            pos = 0

    def _block_batches(self, start: int, end: int | None) -> Iterator[RawBatch]:
        from gfcli.engine.stats import vnative

        split = vnative.split_bcf()
        src, inflater = self.src, self.inflater
        size = len(src)
        address, lo = split_voffset(start)
        end_addr, end_within = split_voffset(end) if end is not None else (None, 0)
        fill = 0
        dropped = address
        piece = FIRST_PIECE_BYTES
        while True:
            if address - dropped >= DROP_BYTES:
                dropped = drop_mapped_pages(src, dropped, address)
            done = address >= size or (end_addr is not None and (
                address > end_addr or (address == end_addr and not end_within)))
            if not done:
                self.buf, fill, address, last = append_block(
                    src, address, inflater, self.buf, fill, lo, end_addr, end_within,
                    self.display)
                lo = 0
                if last:
                    done = True
                if fill < piece and not done:
                    continue
                piece = PIECE_BYTES
            pos = yield from self._split(split, fill, 0)
            fill = self._carry(fill, pos, done, dropped, address)
            if done:
                return
