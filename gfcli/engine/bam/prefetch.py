"""A whole BAM file's records walked by the main thread and one extra thread (`-@ 1`).

samtools' `-@ 1` adds one thread that inflates BGZF blocks while the main thread parses.
Here the file is cut into batches of consecutive blocks (`bgzf_native.NativeInflater.span`,
headers only) and handed out in file order: the extra thread inflates the next unclaimed
batch into a free buffer of a small ring, ahead of the main thread; the main thread counts
the batches in order, and when the batch it needs next is not claimed yet it inflates that
one itself instead of waiting. Both threads spend their time in native code (one ctypes call
per batch for libdeflate, one for the counting kernel), which runs without the GIL, so with
a cheap consumer (flagstat) the inflating is shared between two cores.

A record that straddles two batches is copied into the room left before the next batch's
data (`_HEADROOM`); records are never copied otherwise. Errors keep the serial path's
wording and come in file order: a batch's inflate error is raised when the main thread
reaches that batch.
"""

from __future__ import annotations

import bisect
import mmap
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from gfcli.engine import bgzf, bgzf_native
from gfcli.engine.bam import reader
from gfcli.engine.errors import DataError

# Decompressed bytes per batch: a batch inflated by one thread is read soon after by
# the main thread, so small enough to still be in cache (L2 is 2 MiB per core here).
# GFCLI_PREFETCH_BATCH overrides it (tests force many batches).
BATCH_BYTES = 1 << 20
_HEADROOM = 1 << 20  # room before a batch's data for the unfinished record of the previous
# Buffers: the main thread's batch plus up to 15 inflated ahead. Many, so that on a busy
# machine, when the other thread is descheduled in the middle of the batch the main thread
# needs next, the main thread can inflate ~15 MB further (~25 ms) instead of waiting;
# measured under load, 16 waited less than 4 or 8. Anonymous mappings, made on first use:
# pages never written (most of the headroom) cost no memory.
_RING = 16
_RELEASE_BYTES = 8 << 20


def _batch_bytes() -> int:
    value = os.environ.get("GFCLI_PREFETCH_BATCH")
    return max(1, int(value)) if value else BATCH_BYTES


@dataclass
class _Batch:
    """One run of blocks: file range [address, end), inflated into a ring buffer."""

    index: int
    address: int
    end: int
    fill: int = _HEADROOM  # data lies in buf[_HEADROOM:fill]
    addresses: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class _View:
    """What a consumer sees of a buffer: its address and a numpy view (numba path)."""

    def __init__(self, buf: Any):
        self.buf = buf
        self.addr = reader._address(buf)
        self._array: Any = None

    def array(self) -> Any:
        if self._array is None:
            import numpy as np

            self._array = np.frombuffer(self.buf, dtype=np.uint8)
        return self._array


class _Shared:
    """The batch plan and ring, shared by the two threads under one condition."""

    def __init__(self, data: Any, address: int, name: str, batch_bytes: int):
        self.data = data
        self.name = name
        self.size = len(data)
        self.batch_bytes = batch_bytes
        self.cond = threading.Condition()
        self.next_address = address  # where the next unclaimed batch starts
        self.next_index = 0
        self.released = 0  # batches the main thread has finished with
        self.plan_error: BaseException | None = None
        self.cancelled = False
        self.batches: dict[int, _Batch] = {}
        self._buffer_size = _HEADROOM + batch_bytes + bgzf.MAX_BLOCK_SIZE
        self.views: list[_View | None] = [None] * _RING
        # the span walker, used under the lock only (its own decompressor is not used)
        self.planner = bgzf_native.inflater(data, name)

    def exhausted(self) -> bool:
        return self.next_address >= self.size or self.plan_error is not None

    def claim(self) -> _Batch | None:
        """The next batch in file order (the caller holds the lock), or None at the end."""
        if self.exhausted():
            return None
        assert self.planner is not None
        try:
            end = self.planner.span(self.next_address, self.batch_bytes)
        except DataError as exc:
            # A bad header: the batches before it are still counted, then this is raised.
            self.plan_error = exc
            batch = _Batch(self.next_index, self.next_address, self.next_address,
                           error=exc, done=True)
            self.batches[batch.index] = batch
            self.next_index += 1
            return None
        batch = _Batch(self.next_index, self.next_address, end)
        if self.views[batch.index % _RING] is None:
            self.views[batch.index % _RING] = _View(mmap.mmap(-1, self._buffer_size))
        self.batches[batch.index] = batch
        self.next_index += 1
        self.next_address = end
        return batch


def _inflate(shared: _Shared, inflater: bgzf_native.NativeInflater, batch: _Batch) -> None:
    """Inflate a claimed batch into its ring buffer (no lock held: the GIL is released)."""
    view = shared.views[batch.index % _RING]
    assert view is not None
    try:
        run = inflater.inflate(batch.address, view.buf, _HEADROOM, stop_address=batch.end,
                               out_addr=view.addr)
        if run.address != batch.end:
            raise DataError(f"BGZF block at byte {run.address}: bad uncompressed size",
                            path=shared.name)
        batch.fill = run.fill
        batch.addresses = run.addresses
        batch.starts = run.starts
    except BaseException as exc:  # handed to the main thread, which raises it in order
        batch.error = exc
    with shared.cond:
        batch.done = True
        shared.cond.notify_all()


def _helper(shared: _Shared) -> None:
    inflater = bgzf_native.inflater(shared.data, shared.name)
    assert inflater is not None
    while True:
        with shared.cond:
            while not shared.cancelled and not shared.exhausted() and (
                    shared.next_index >= shared.released + _RING):
                shared.cond.wait()
            if shared.cancelled:
                return
            batch = shared.claim()
        if batch is None:
            return
        _inflate(shared, inflater, batch)


def _voffset(batch: _Batch, p: int) -> int:
    """Virtual offset of position `p` of a batch's buffer (p at or after its data)."""
    i = max(0, bisect.bisect_right(batch.starts, p) - 1)
    return bgzf.make_voffset(batch.addresses[i], p - batch.starts[i])


def available() -> bool:
    """Can a file be walked this way here (native inflater built)?"""
    return bgzf_native.available()


def walk_file(path: str, first_voffset: int, consume: reader.Consumer,
              n_ref: int | None = None, batch_bytes: int | None = None) -> None:
    """Feed every record from `first_voffset` to the end of the file to `consume`
    (`reader.walk_batcher`'s contract), with a second thread (see the module docstring)."""
    data = bgzf.map_file(path)
    if not len(data):
        return
    address, within = bgzf.split_voffset(first_voffset)
    shared = _Shared(data, address, path, batch_bytes or _batch_bytes())
    helper = threading.Thread(target=_helper, args=(shared,), name="gfcli-inflate",
                              daemon=True)
    helper.start()
    try:
        _main(shared, within, consume, n_ref)
    finally:
        with shared.cond:
            shared.cancelled = True
            shared.cond.notify_all()
        helper.join()


def _next_batch(shared: _Shared, inflater: bgzf_native.NativeInflater,
                index: int) -> _Batch | None:
    """Batch `index`, inflated; None past the end. While the other thread is still
    inflating it, this thread inflates the next unclaimed batch (if a buffer is free)
    rather than wait."""
    while True:
        with shared.cond:
            batch = shared.batches.get(index)
            if batch is not None and batch.done:
                return batch
            if batch is None and shared.exhausted():
                return None  # (a planning error is a done batch in `batches`)
            claimed = None
            if shared.next_index < shared.released + _RING:
                claimed = shared.claim()
            if claimed is None:
                if batch is None:
                    continue  # claim() just recorded a planning error at `index`
                shared.cond.wait()
                continue
        _inflate(shared, inflater, claimed)


def _main(shared: _Shared, within: int, consume: reader.Consumer, n_ref: int | None) -> None:
    inflater = bgzf_native.inflater(shared.data, shared.name)
    assert inflater is not None
    name = shared.name
    tail = b""  # the unfinished record at the end of the previous batch
    tail_voffset = 0
    skip = within  # bytes of the first block before the first record
    released = shared.next_address - shared.next_address % mmap.PAGESIZE
    index = 0
    while True:
        batch = _next_batch(shared, inflater, index)
        if batch is None:
            if tail:
                raise DataError("truncated BAM file (a record is cut short)", path=name)
            if skip:
                raise DataError("virtual offset beyond the end of its block", path=name)
            return
        if batch.error is not None:
            raise batch.error
        view = shared.views[index % _RING]
        assert view is not None
        buf = view.buf
        start = _HEADROOM
        if skip:
            taken = min(skip, batch.fill - start)
            start += taken
            skip -= taken
        if tail:
            if len(tail) <= _HEADROOM:
                start -= len(tail)
                buf[start:_HEADROOM] = tail
            else:
                # A record longer than the headroom: a buffer holding it whole, this once.
                joined = bytearray(_HEADROOM) + tail + buf[_HEADROOM:batch.fill]
                shift = len(tail)
                view = _View(joined)
                buf = joined
                batch.starts = [s + shift for s in batch.starts]
                batch.fill += shift
                start = _HEADROOM
        pos = start
        data_start = batch.starts[0] if batch.starts else batch.fill
        if pos < batch.fill:
            nxt, status = consume(view, pos, batch.fill, batch.fill)  # type: ignore[arg-type]
            if status != reader.OK:
                v = tail_voffset if int(nxt) < data_start else _voffset(batch, int(nxt))
                raise DataError(reader.record_error(status, buf, int(nxt), v, n_ref), path=name)
            pos = int(nxt)
        if pos < batch.fill:
            if pos >= data_start:
                tail_voffset = _voffset(batch, pos)
            tail = bytes(buf[pos:batch.fill])
        else:
            tail = b""
        with shared.cond:
            del shared.batches[index]
            shared.released = index + 1
            shared.cond.notify_all()
        index += 1
        if batch.end - released >= _RELEASE_BYTES and isinstance(shared.data, mmap.mmap):
            # inflated input leaves this process's resident set (as reader._MappedBlocks)
            released = bgzf.drop_mapped_pages(shared.data, released, batch.end)
