"""A whole BAM file's records walked while a helper thread inflates the next batch.

samtools' `-@ 1` is one extra thread that decompresses BGZF blocks while the main thread
works on records. This is the same for one process: a producer thread inflates batches of
blocks (libdeflate through ctypes, which releases the GIL) into recycled buffers and hands
them over through a queue of two; the main thread runs the consumer (a native or numba
kernel, also GIL-free) on the batch it holds. A record that straddles two batches is
carried into the headroom left before the next batch's data, so records are never copied
except for that tail.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from gfcli.engine import bgzf
from gfcli.engine.bam import reader
from gfcli.engine.errors import DataError

# Decompressed bytes per batch; GFCLI_PREFETCH_BATCH overrides it (tests force many batches).
BATCH_BYTES = 4 << 20
# Room before a batch's data for the unconsumed tail of the previous batch.
_HEADROOM = 1 << 20
_QUEUE = 2  # batches inflated ahead: memory stays at a few batches whatever the file size


def _batch_bytes() -> int:
    value = os.environ.get("GFCLI_PREFETCH_BATCH")
    return max(bgzf.MAX_BLOCK_SIZE, int(value)) if value else BATCH_BYTES


@dataclass
class _Batch:
    buf: bytearray
    fill: int = _HEADROOM  # data lies in buf[_HEADROOM:fill]
    eof: bool = False
    # Per inflated block: its file address and its start in `buf`.
    addresses: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


class _View:
    """What a consumer sees of the buffer: its address and a numpy view (numba path)."""

    def __init__(self, buf: bytearray):
        self.buf = buf
        self.addr = reader._address(buf)
        self._array: Any = None

    def array(self) -> Any:
        if self._array is None:
            import numpy as np

            self._array = np.frombuffer(self.buf, dtype=np.uint8)
        return self._array


_STOP = object()


class _Producer(threading.Thread):
    def __init__(self, blocks: reader._MappedBlocks, batch_bytes: int):
        super().__init__(name="gfcli-inflate", daemon=True)
        self.blocks = blocks
        self.batch_bytes = batch_bytes
        self.full: queue.Queue = queue.Queue(_QUEUE)
        self.free: queue.Queue = queue.Queue()
        self.cancelled = False

    def _buffer(self) -> bytearray:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            return bytearray(_HEADROOM + self.batch_bytes + bgzf.MAX_BLOCK_SIZE)

    def run(self) -> None:
        try:
            while not self.cancelled:
                buf = self._buffer()
                batch = _Batch(buf)
                addr = reader._address(buf)
                limit = _HEADROOM + self.batch_bytes
                while batch.fill < limit:
                    got = self.blocks.next_into(buf, batch.fill, addr)
                    if got is None:
                        batch.eof = True
                        break
                    address, isize = got
                    batch.addresses.append(address)
                    batch.starts.append(batch.fill)
                    batch.fill += isize
                self.full.put(batch)
                if batch.eof:
                    return
        except BaseException as exc:  # handed to the main thread, which raises it
            self.full.put(exc)

    def get(self) -> _Batch:
        item = self.full.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self.cancelled = True
        while self.is_alive():
            try:
                self.full.get(timeout=0.05)  # unblock a producer waiting on a full queue
            except queue.Empty:
                pass
        self.join()


def _voffset(batch: _Batch, p: int) -> int:
    """Virtual offset of position `p` of a batch (for error messages)."""
    import bisect

    i = max(0, bisect.bisect_right(batch.starts, p) - 1)
    if not batch.addresses:
        return 0
    return bgzf.make_voffset(batch.addresses[i], max(0, p - batch.starts[i]))


def walk_file(path: str, first_voffset: int, consume: reader.Consumer) -> None:
    """Feed every record from `first_voffset` to the end of the file to `consume`,
    with a helper thread inflating ahead (see the module docstring)."""
    data = bgzf.map_file(path)
    if not len(data):
        return
    address, within = bgzf.split_voffset(first_voffset)
    producer = _Producer(reader._MappedBlocks(data, address, path), _batch_bytes())
    producer.start()
    try:
        _consume_batches(producer, within, consume, path)
    finally:
        producer.cancel()


def _consume_batches(producer: _Producer, within: int, consume: reader.Consumer,
                     path: str) -> None:
    tail = b""
    tail_voffset = 0  # where the carried record starts in the file
    skip = within  # bytes of the first block before the first record
    while True:
        batch = producer.get()
        start = _HEADROOM
        if skip:
            taken = min(skip, batch.fill - start)
            start += taken
            skip -= taken
            if skip and batch.eof:
                raise DataError("virtual offset beyond the end of its block", path=path)
        if tail:
            if len(tail) <= _HEADROOM:
                start -= len(tail)
                batch.buf[start:_HEADROOM] = tail
            else:
                # A record longer than the headroom: rebuild a buffer holding it whole.
                joined = bytearray(_HEADROOM) + tail + batch.buf[_HEADROOM:batch.fill]
                shift = len(tail)
                batch.buf = joined
                batch.starts = [s + shift for s in batch.starts]
                batch.fill += shift
                start = _HEADROOM
        view = _View(batch.buf)
        pos = start
        if pos < batch.fill:
            nxt, status = consume(view, pos, batch.fill, batch.fill)  # type: ignore[arg-type]
            if status != reader.OK:
                # The carried tail is one incomplete record, so a bad record found in
                # it is the one at `start`.
                v = tail_voffset if int(nxt) < _HEADROOM else _voffset(batch, int(nxt))
                where = bgzf.split_voffset(v)
                raise DataError(
                    f"malformed BAM record at virtual offset {where[0]}:{where[1]}", path=path
                )
            pos = int(nxt)
        if pos >= _HEADROOM:
            tail_voffset = _voffset(batch, pos)
        tail = bytes(batch.buf[pos:batch.fill])
        if len(batch.buf) == _HEADROOM + producer.batch_bytes + bgzf.MAX_BLOCK_SIZE:
            producer.free.put(batch.buf)
        if batch.eof:
            if tail:
                raise DataError("truncated BAM file (a record is cut short)", path=path)
            return
