"""BAM read in batches: BGZF blocks inflated into one buffer, walked by numba kernels.

`Batcher` owns a buffer of decompressed bytes from consecutive BGZF blocks (from a
mapped file, or a stream for stdin), keeps a record that straddles the end of a batch
by moving it to the front before inflating more, and maps buffer positions back to
virtual offsets. `walk_chunk` runs a kernel over the records of one `BamChunk`.

Parallel chunks (`plan_chunks`): with an index, chunk bounds are record-aligned virtual
offsets from it (`gfcli.engine.chunks.plan_offset_chunks`). Without one, the file is cut
into byte ranges; a worker starts at the first BGZF block at or after its byte start
(`bgzf.find_block_start`) and finds the first record there with `find_record_start`,
a search that accepts a position only when a chain of records from it passes every
structural check (block_size, refIDs in range, NUL-terminated printable name, lengths,
CIGAR operations, optional fields parsing to the record's end). It owns the records that
start before the first block at or after its byte end, finishing the last one from the
next blocks. Every chunk reports the virtual offsets of its first record and of the first
record after it, and `stitch_ok` checks that the chunks chain exactly, so a wrong
boundary cannot go unnoticed (the caller then redoes the work in one pass).
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from gfcli.engine import bgzf
from gfcli.engine.errors import DataError

# Kernel status codes (gfcli.engine.bam.kernels; repeated so this module needs no numba).
OK = 0
BAD_RECORD = -1
BAD_REFID = -2
BAD_MATE_REFID = -3

BATCH_BYTES = 4 << 20
_NATIVE_END = 0  # bgzf_native.END (repeated so importing this module loads no more)
_RELEASE_BYTES = 8 << 20
# Records checked in a chain before a resync candidate is accepted.
RESYNC_CHAIN = 8


def _address(buf: bytearray) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def find_record_start(batcher: Batcher, start: int, end: int, n_ref: int, eof: bool) -> int:
    """First record start at or after `start` (see kernels.find_record_start), or -1."""
    from gfcli.engine.bam import native

    kernels_native = native.load()
    if kernels_native is not None:
        return int(kernels_native["find_record_start"](batcher.addr, start, end, n_ref,
                                                       RESYNC_CHAIN, int(eof)))
    from gfcli.engine.bam import kernels

    return int(kernels.find_record_start(batcher.array(), start, end, n_ref, RESYNC_CHAIN, eof))


class _MappedBlocks:
    """BGZF blocks of a mapped file, from an address on.

    Runs of blocks are inflated by one native call (`bgzf_native`) when it is available,
    else block by block (`next_into`).
    """

    def __init__(self, data: Any, address: int, name: str):
        self.data = data
        self.address = address
        self.name = name
        self.size = len(data)
        self._inflater = bgzf.Inflater(data) if self.size else None
        self._released = address - address % mmap.PAGESIZE
        self.native = _native_inflater(data, name) if self.size else None

    def first_data_block(self, address: int) -> int:
        """The first block at or after `address` that holds data (or the file size)."""
        while address < self.size:
            total = bgzf.block_size(self.data, address)
            if bgzf.block_isize(self.data, address, total):
                return address
            address += total
        return self.size

    def _release(self) -> None:
        if self.address - self._released >= _RELEASE_BYTES and hasattr(self.data, "madvise"):
            # Drop the mapped pages already inflated from this process's resident set, so
            # peak memory stays at the batch size instead of growing with the file.
            end = self.address - self.address % mmap.PAGESIZE
            self.data.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def run_into(self, out: bytearray, fill: int, out_addr: int, target: int,
                 stop_address: int | None) -> Any:
        """Inflate blocks natively to out[fill:] (see `bgzf_native.NativeInflater.inflate`);
        only when `self.native` is set."""
        assert self.native is not None
        run = self.native.inflate(self.address, out, fill, target=target, capacity=len(out),
                                  stop_address=stop_address, out_addr=out_addr)
        self.address = run.address
        self._release()
        return run

    def next_into(self, out: bytearray, pos: int, out_addr: int) -> tuple[int, int] | None:
        """Inflate the next block to out[pos:]; (address, isize), or None at the end."""
        address = self.address
        if address >= self.size:
            return None
        try:
            total = bgzf.block_size(self.data, address)
        except DataError as exc:
            raise DataError(exc.message, path=self.name) from None
        if address + total > self.size:
            raise DataError(f"truncated BGZF block at byte {address}", path=self.name)
        isize = bgzf.block_isize(self.data, address, total)
        if pos + isize > len(out):
            return (-1, isize)
        assert self._inflater is not None
        try:
            self._inflater.inflate_into(address, total, out, pos, out_addr)
        except DataError as exc:
            raise DataError(exc.message, path=self.name) from None
        self.address = address + total
        self._release()
        return address, isize


def _native_inflater(data: Any, name: str) -> Any:
    from gfcli.engine import bgzf_native

    return bgzf_native.inflater(data, name)


class _StreamBlocks:
    """BGZF blocks read from a stream (stdin, a pipe), in order."""

    def __init__(self, stream: BinaryIO, name: str, prefix: bytes = b""):
        self.stream = stream
        self.name = name
        self.address = 0
        self._buf = bytearray(prefix)
        self._at = 0
        self._eof = False
        self.native = None

    def first_data_block(self, address: int) -> int:
        return address

    def _have(self, n: int) -> bool:
        while len(self._buf) - self._at < n and not self._eof:
            if self._at > (1 << 20):
                del self._buf[: self._at]
                self._at = 0
            piece = self.stream.read(4 << 20)
            if not piece:
                self._eof = True
                break
            self._buf += piece
        return len(self._buf) - self._at >= n

    def next_into(self, out: bytearray, pos: int, out_addr: int) -> tuple[int, int] | None:
        if not self._have(bgzf.HEADER_SIZE):
            if len(self._buf) - self._at:
                raise DataError("truncated BGZF block at end of input", path=self.name)
            return None
        try:
            total = bgzf.block_size(self._buf, self._at)
        except DataError as exc:
            raise DataError(f"{exc.message} (offset {self.address})", path=self.name) from None
        if not self._have(total):
            raise DataError("truncated BGZF block at end of input", path=self.name)
        block = bytes(self._buf[self._at : self._at + total])
        isize = bgzf.block_isize(block, 0, total)
        if pos + isize > len(out):
            return (-1, isize)
        try:
            bgzf.Inflater(block).inflate_into(0, total, out, pos, out_addr)
        except DataError as exc:
            raise DataError(f"{exc.message} (offset {self.address})", path=self.name) from None
        self._at += total
        address = self.address
        self.address += total
        return address, isize


class Batcher:
    """Decompressed bytes of consecutive blocks in one growable numpy buffer.

    `pos` is the first unconsumed byte, `fill` the end of valid data. A stop point, the
    block at `stop_address` plus `stop_within` bytes, marks where the chunk's records end:
    blocks past it are inflated only to finish a record that straddles it.
    """

    def __init__(self, blocks: _MappedBlocks | _StreamBlocks, stop_address: int | None = None,
                 stop_within: int = 0, capacity: int = BATCH_BYTES):
        self.blocks = blocks
        self.buf = bytearray(capacity + 2 * bgzf.MAX_BLOCK_SIZE)
        self.addr = _address(self.buf)
        self._array: Any = None
        self.pos = 0
        self.fill = 0
        self.eof = False
        self.stop_address = stop_address
        self.stop_within = stop_within
        self.stop_pos: int | None = None
        self.n_ref: int | None = None  # the header's reference count, once known
        # Per inflated block still in the buffer: its address, start and end in `buf`.
        self._addr: list[int] = []
        self._start: list[int] = []
        self._end: list[int] = []

    # -- buffer management
    def _compact(self) -> None:
        keep = self.pos
        if keep == 0:
            return
        remaining = self.fill - keep
        if remaining:
            self.buf[:remaining] = self.buf[keep : self.fill]
        self.pos = 0
        self.fill = remaining
        if self.stop_pos is not None:
            self.stop_pos -= keep
        first = bisect.bisect_right(self._end, keep)
        self._addr = self._addr[first:]
        self._start = [s - keep for s in self._start[first:]]
        self._end = [e - keep for e in self._end[first:]]

    def _grow(self, need: int) -> None:
        bigger = bytearray(max(need, 2 * len(self.buf)) + 2 * bgzf.MAX_BLOCK_SIZE)
        bigger[: self.fill] = self.buf[: self.fill]
        self.buf = bigger
        self.addr = _address(self.buf)
        self._array = None

    def array(self) -> Any:
        """The buffer as a numpy uint8 array (a view, for numba kernels)."""
        if self._array is None:
            import numpy as np

            self._array = np.frombuffer(self.buf, dtype=np.uint8)
        return self._array

    def _inflate_one(self) -> bool:
        """Inflate the next block at `fill`; False at the end of the data."""
        if self.eof:
            return False
        got = self.blocks.next_into(self.buf, self.fill, self.addr)
        if got is None:
            self.eof = True
            return False
        address, isize = got
        if address < 0:
            self._grow(self.fill + isize)
            got = self.blocks.next_into(self.buf, self.fill, self.addr)
            assert got is not None
            address, isize = got
        self._note_block(address, self.fill, isize)
        self.fill += isize
        return True

    def _note_block(self, address: int, start: int, isize: int) -> None:
        if self.stop_pos is None and self.stop_address is not None and address >= self.stop_address:
            self.stop_pos = start + (self.stop_within if address == self.stop_address else 0)
        self._addr.append(address)
        self._start.append(start)
        self._end.append(start + isize)

    def _inflate_run(self, target: int, stop: bool) -> None:
        """Natively inflate blocks at `fill` until `target` (or the buffer is full); with
        `stop`, none past the stop point (the stop block itself when part of it is ours)."""
        if self.eof:
            return
        stop_address = None
        if stop and self.stop_address is not None:
            stop_address = self.stop_address + (1 if self.stop_within else 0)
        run = self.blocks.run_into(self.buf, self.fill, self.addr, target, stop_address)
        ends = [*run.starts[1:], run.fill]
        for address, start, end in zip(run.addresses, run.starts, ends, strict=False):
            self._note_block(address, start, end - start)
        self.fill = run.fill
        if run.reason == _NATIVE_END:
            self.eof = True

    def _reached_stop(self) -> bool:
        """Is the next block the stop block, with none of it ours? Then mark the stop
        without inflating it: the next chunk will, unless a record straddles into it."""
        if (self.stop_pos is None and self.stop_address is not None and self.stop_within == 0
                and self.blocks.address >= self.stop_address):
            self.stop_pos = self.fill
        return self.stop_pos is not None

    def more(self, want: int | None = None) -> bool:
        """Add data after `fill` (moving unconsumed bytes to the front first).

        Without `want`: up to a batch, or once the stop point is known, what the record
        at `pos` still needs. False when nothing could be added.
        """
        self._compact()
        start_fill = self.fill
        if want is None and not self._reached_stop():
            target = max(BATCH_BYTES, self.fill + bgzf.MAX_BLOCK_SIZE)
            if self.blocks.native is not None:
                self._inflate_run(target, stop=True)
                self._reached_stop()
            else:
                while self.fill < target and self.fill + bgzf.MAX_BLOCK_SIZE <= len(self.buf):
                    if self._reached_stop() or not self._inflate_one():
                        break
                    if self.stop_pos is not None:
                        break
            if self.fill > start_fill or self.eof or self.stop_pos is not None:
                return self.fill > start_fill
            # The buffer holds one unfinished record longer than a batch: grow for it.
        if want is None:
            want = 4
            if self.fill - self.pos >= 4:
                want = 4 + max(0, struct.unpack_from("<i", self.buf, self.pos)[0])
        target = self.pos + want
        if target + bgzf.MAX_BLOCK_SIZE > len(self.buf):
            self._grow(target)
        if self.blocks.native is not None:
            self._inflate_run(target, stop=False)
        else:
            while self.fill < target and self._inflate_one():
                pass
        return self.fill > start_fill

    def ensure(self, n: int) -> bool:
        """Make `n` bytes from `pos` available."""
        while self.fill - self.pos < n:
            if not self.more(n):
                return False
        return True

    def take(self, n: int) -> bytes:
        if not self.ensure(n):
            raise DataError("unexpected end of data", path=self.blocks.name)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    # -- offsets
    def voffset(self, p: int) -> int:
        """The virtual offset of buffer position `p`, in its normal form: inside a block
        with data left, or (address of the next block) << 16 at the end of the data."""
        i = bisect.bisect_right(self._end, p)
        while i < len(self._end) and self._end[i] == self._start[i]:
            i += 1  # empty blocks hold no position
        if i < len(self._end):
            return bgzf.make_voffset(self._addr[i], p - self._start[i])
        # Past the data inflated so far: the next block holding data, so that chunks
        # that did or did not inflate trailing empty blocks (EOF marker) agree.
        return bgzf.make_voffset(self.blocks.first_data_block(self.blocks.address), 0)

    def skip_to_voffset_within(self, within: int) -> None:
        """Start at `within` bytes into the first block (a record-aligned voffset)."""
        if within and not self.ensure(within):
            raise DataError("virtual offset beyond the end of its block", path=self.blocks.name)
        self.pos += within


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class BamHeader:
    text: str
    names: tuple[str, ...]
    lengths: tuple[int, ...]
    first_record: int  # virtual offset just past the header

    @property
    def n_ref(self) -> int:
        return len(self.names)


def read_header(batcher: Batcher) -> BamHeader:
    """Parse the BAM header at the start of the stream and leave `pos` on the first record."""
    name = batcher.blocks.name
    magic = batcher.take(4) if batcher.ensure(4) else b""
    if magic != b"BAM\x01":
        raise DataError("not a BAM file (bad magic)", path=name)
    (l_text,) = struct.unpack("<i", batcher.take(4))
    if l_text < 0:
        raise DataError("corrupt BAM header (negative text length)", path=name)
    text = batcher.take(l_text).split(b"\x00", 1)[0].decode("utf-8", "replace")
    (n_ref,) = struct.unpack("<i", batcher.take(4))
    if n_ref < 0:
        raise DataError("corrupt BAM header (negative reference count)", path=name)
    names: list[str] = []
    lengths: list[int] = []
    for _ in range(n_ref):
        (l_name,) = struct.unpack("<i", batcher.take(4))
        if l_name <= 0 or l_name > (1 << 20):
            raise DataError("corrupt BAM header (reference name length)", path=name)
        names.append(batcher.take(l_name).rstrip(b"\x00").decode("utf-8", "replace"))
        lengths.append(struct.unpack("<i", batcher.take(4))[0])
    batcher.n_ref = n_ref
    return BamHeader(text, tuple(names), tuple(lengths), batcher.voffset(batcher.pos))


def read_header_from_path(path: str) -> BamHeader:
    data = bgzf.map_file(path)
    return read_header(Batcher(_MappedBlocks(data, 0, path), capacity=1 << 16))


# --------------------------------------------------------------------------- chunks


@dataclass(frozen=True)
class BamChunk:
    """Records of a BAM file to process in one task.

    Start: a record-aligned virtual offset (`start_voffset`), or a byte from which the
    first record is searched (`start_byte`). Stop: records starting at or after
    `stop_voffset` (record-aligned, from the index) or in blocks at or after the first
    block at or after `stop_byte` belong to later chunks; neither means the end of file.
    """

    path: str
    ordinal: int
    n_ref: int
    start_voffset: int | None = None
    start_byte: int = 0
    stop_voffset: int | None = None
    stop_byte: int | None = None
    compressed_bytes: int = 0


@dataclass
class ChunkSpan:
    """Where a chunk's records began and where the next chunk's should begin."""

    ordinal: int
    first: int  # virtual offset of the chunk's first record (== end if it has none)
    end: int  # virtual offset of the first record after the chunk (or end of file)
    records: int = 0


Consumer = Callable[["Batcher", int, int, int], tuple[int, int]]


def record_error(status: int, buf: Any, p: int, voffset: int, n_ref: int | None) -> str:
    """The message for a kernel's failure `status` on the record at `buf[p]`."""
    address, within = bgzf.split_voffset(voffset)
    where = f"BAM record at virtual offset {address}:{within}"
    if status in (BAD_REFID, BAD_MATE_REFID):
        what = "reference id" if status == BAD_REFID else "mate reference id"
        value = struct.unpack_from("<i", buf, p + (4 if status == BAD_REFID else 24))[0]
        count = "" if n_ref is None else f" (the header has {n_ref} references)"
        return f"{where}: {what} {value} out of range{count}"
    return f"malformed {where}"


def _chunk_batcher(chunk: BamChunk, data: Any) -> tuple[Batcher, int]:
    """A batcher positioned on the chunk's first record, and that record's search result."""
    if chunk.stop_voffset is not None:
        stop_address, stop_within = bgzf.split_voffset(chunk.stop_voffset)
    elif chunk.stop_byte is not None:
        stop_address, stop_within = bgzf.find_block_start(data, chunk.stop_byte), 0
    else:
        stop_address, stop_within = None, 0
    if chunk.start_voffset is not None:
        address, within = bgzf.split_voffset(chunk.start_voffset)
        batcher = Batcher(_MappedBlocks(data, address, chunk.path), stop_address, stop_within)
        batcher.n_ref = chunk.n_ref
        batcher.skip_to_voffset_within(within)
        return batcher, batcher.pos
    address = bgzf.find_block_start(data, chunk.start_byte)
    batcher = Batcher(_MappedBlocks(data, address, chunk.path), stop_address, stop_within)
    batcher.n_ref = chunk.n_ref
    batcher.more()
    while True:
        found = find_record_start(batcher, batcher.pos, batcher.fill, chunk.n_ref, batcher.eof)
        if found >= 0:
            batcher.pos = int(found)
            return batcher, batcher.pos
        if batcher.eof:
            batcher.pos = batcher.fill
            return batcher, batcher.pos
        # Nothing in this window: keep a tail in case a record starts there, read on.
        batcher.pos = max(batcher.pos, batcher.fill - (1 << 18))
        if not batcher.more():
            batcher.pos = batcher.fill
            return batcher, batcher.pos


def walk_batcher(batcher: Batcher, consume: Consumer, name: str) -> int:
    """Feed every record from `pos` up to the stop point (or the end) to `consume`.

    `consume(batcher, start, limit, end)` handles the complete records starting in
    [start, limit) that end by `end` and returns (next record start, status).
    Returns the final position (the first record not consumed).
    """
    while True:
        limit = batcher.stop_pos if batcher.stop_pos is not None else batcher.fill
        if batcher.pos < limit:
            nxt, status = consume(batcher, batcher.pos, limit, batcher.fill)
            if status != OK:
                raise DataError(record_error(status, batcher.buf, int(nxt),
                                             batcher.voffset(int(nxt)), batcher.n_ref),
                                path=name)
            batcher.pos = int(nxt)
        if batcher.stop_pos is not None and batcher.pos >= batcher.stop_pos:
            return batcher.pos
        if batcher.eof and batcher.pos >= batcher.fill:
            return batcher.pos
        if not batcher.more():
            if batcher.pos < batcher.fill:
                raise DataError("truncated BAM file (a record is cut short)", path=name)
            return batcher.pos


def walk_chunk(chunk: BamChunk, consume: Consumer) -> ChunkSpan:
    data = bgzf.map_file(chunk.path)
    if not len(data):
        return ChunkSpan(chunk.ordinal, 0, 0)
    batcher, first_pos = _chunk_batcher(chunk, data)
    if batcher.stop_pos is not None and first_pos >= batcher.stop_pos:
        # The first record found belongs to a later chunk: this one owns none.
        v = batcher.voffset(first_pos)
        return ChunkSpan(chunk.ordinal, v, v)
    first = batcher.voffset(first_pos)
    end_pos = walk_batcher(batcher, consume, chunk.path)
    return ChunkSpan(chunk.ordinal, first, batcher.voffset(end_pos))


def stitch_ok(spans: list[ChunkSpan]) -> bool:
    """Do the chunks' record ranges follow each other exactly?"""
    ordered = sorted(spans, key=lambda s: s.ordinal)
    return all(a.end == b.first for a, b in zip(ordered, ordered[1:], strict=False))


def plan_chunks(path: str, header: BamHeader, index_path: str | None = None,
                target: int | None = None) -> list[BamChunk]:
    """Chunks of about `target` compressed bytes: index offsets if there is an index."""
    from gfcli.engine.chunks import TARGET_CHUNK_BYTES, index_for, plan_offset_chunks

    target = target or TARGET_CHUNK_BYTES
    size = os.path.getsize(path)
    index = index_for(path, index_path)
    if index is not None and index.all_offsets():
        planned = plan_offset_chunks(path, index, target)
        return [
            BamChunk(path, c.ordinal, header.n_ref,
                     start_voffset=c.start if c.start is not None else header.first_record,
                     stop_voffset=c.end, compressed_bytes=c.compressed_bytes)
            for c in planned
        ]
    first_address = header.first_record >> 16
    cuts = list(range(first_address + target, size - target // 4, target))
    chunks: list[BamChunk] = []
    bounds = [None, *cuts, None]
    for ordinal in range(len(bounds) - 1):
        lo, hi = bounds[ordinal], bounds[ordinal + 1]
        chunks.append(BamChunk(
            path, ordinal, header.n_ref,
            start_voffset=header.first_record if lo is None else None,
            start_byte=lo or 0,
            stop_byte=hi,
            compressed_bytes=(hi or size) - (lo or first_address),
        ))
    return chunks


def open_stream_batcher(stream: BinaryIO, name: str, prefix: bytes = b"") -> Batcher:
    return Batcher(_StreamBlocks(stream, name, prefix))
