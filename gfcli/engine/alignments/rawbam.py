"""Raw BAM record bytes straight from the BGZF stream, for output that copies records unchanged.

A BAM record is `block_size` (int32) followed by that many bytes, so the records between
two record-aligned virtual offsets are exactly the decompressed bytes between them: no
decoding, no re-encoding. Walking the `block_size` chain counts the records and checks
that the range ends on a record boundary (a truncated file fails here, not downstream).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, BinaryIO

from gfcli.engine.alignments.header import bam_header_length
from gfcli.engine.errors import DataError

_I32 = struct.Struct("<i")
# Decompressed bytes handed out per piece when streaming (bounded memory).
PIECE_BYTES = 4 << 20


_HEAP_TUNED = False


def keep_freed_memory() -> None:
    """Ask glibc to keep freed chunk-sized buffers for reuse instead of returning them.

    Every chunk allocates ~10 MB buffers (inflated records, kept records, compressed
    blocks). glibc serves those by mmap or trims them back to the kernel on free, so the
    next chunk faults in and zeroes fresh pages: measured ~0.9 s of kernel CPU over the
    4M-read BAM filtered to BAM at -@ 2 (clear_page, page faults), gone with these
    settings. Called before the pool forks so workers inherit it; a no-op off glibc.
    """
    global _HEAP_TUNED
    if _HEAP_TUNED:
        return
    _HEAP_TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    mallopt(m_trim_threshold, 128 << 20)


def record_ends(data: bytes | bytearray | memoryview, name: str | None = None) -> list[int]:
    """End offsets of the records in `data` (which must hold whole records only)."""
    ends: list[int] = []
    pos = 0
    size = len(data)
    unpack = _I32.unpack_from
    append = ends.append
    while pos + 4 <= size:
        (block,) = unpack(data, pos)
        if block < 32:
            raise DataError(f"corrupt BAM record (block_size {block})", path=name)
        pos += 4 + block
        append(pos)
    if pos != size:
        raise DataError("truncated BAM record at the end of the data", path=name)
    return ends


def count_records(data: bytes | bytearray | memoryview, name: str | None = None) -> int:
    pos = 0
    size = len(data)
    unpack = _I32.unpack_from
    n = 0
    while pos + 4 <= size:
        (block,) = unpack(data, pos)
        if block < 32:
            raise DataError(f"corrupt BAM record (block_size {block})", path=name)
        pos += 4 + block
        n += 1
    if pos != size:
        raise DataError("truncated BAM record at the end of the data", path=name)
    return n


# htslib refuses a record whose refID or next refID is outside [-1, n_ref) (sam_read1:
# samtools view fails with "error reading file"); the statuses are reader.BAD_REFID and
# BAD_MATE_REFID (filterkernels.check_records returns them too).
BAD_REFID, BAD_MATE_REFID = -2, -3
_BAD_SIZE, _TRUNCATED = -1, -4


class RecordRefused(Exception):
    """A record of a raw buffer that htslib would refuse (`status`, at `pos`), raised where
    only the buffer is known; `refused` turns it into the user's error."""

    def __init__(self, status: int, pos: int):
        super().__init__(status, pos)
        self.status = status
        self.pos = pos


def refid_status(buf: Any, p: int, n_ref: int) -> int:
    """0, BAD_REFID or BAD_MATE_REFID for the record whose block_size is at buf[p]."""
    refid = _I32.unpack_from(buf, p + 4)[0]
    if not -1 <= refid < n_ref:
        return BAD_REFID
    if not -1 <= _I32.unpack_from(buf, p + 24)[0] < n_ref:
        return BAD_MATE_REFID
    return 0


def voffset_at(path: str, start: int | None, pos: int) -> int:
    """The virtual offset of byte `pos` of the records decompressed from virtual offset
    `start` on (None: the file's first record); walks block headers (error reports only)."""
    from gfcli.engine import bgzf

    if start is None:
        from gfcli.engine.bam.reader import read_header_from_path

        start = read_header_from_path(path).first_record
    data = bgzf.map_file(path)
    address, left = bgzf.split_voffset(start)
    left += pos
    while address < len(data):
        total = bgzf.block_size(data, address)
        isize = bgzf.block_isize(data, address, total)
        if left < isize:
            break
        left -= isize
        address += total
    return bgzf.make_voffset(address, left)


def refused(status: int, buf: Any, pos: int, n_ref: int, path: str, start: int | None,
            name: str | None, base: int = 0) -> DataError:
    """The error for a check status at buf[pos]; `buf` holds the records from byte `base`
    of those decompressed from virtual offset `start` (None: the first record)."""
    if status in (BAD_REFID, BAD_MATE_REFID):
        from gfcli.engine.bam.reader import record_error

        voffset = voffset_at(path, start, base + pos)
        return DataError(record_error(status, buf, pos, voffset, n_ref), path=name)
    if status == _BAD_SIZE:
        return DataError(f"corrupt BAM record (block_size {_I32.unpack_from(buf, pos)[0]})",
                         path=name)
    return DataError("truncated BAM record at the end of the data", path=name)


def check_records(data: Any, n_ref: int, path: str, start: int | None, name: str | None,
                  base: int = 0) -> int:
    """The number of whole records in `data` (bytes or a uint8 array), refusing what
    htslib refuses (see `refused` for `start` and `base`); one native call."""
    import numpy as np

    from gfcli.engine.bam.rawkernels import check_records as kernel

    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    got, pos = kernel(buf, 0, len(buf), n_ref)
    if got < 0:
        raise refused(got, buf, pos, n_ref, path, start, name, base)
    return got


def read_range(path: str, start: int | None, end: int | None) -> bytes:
    """The decompressed record bytes from virtual offset `start` (None: the first record
    after the header) up to `end` (None: the end of the file)."""
    from gfcli.engine.bgzf import BlockReader, map_file

    buf = map_file(path)
    try:
        start_address = 0 if start is None else start >> 16
        skip = 0 if start is None else start & 0xFFFF
        end_address = None if end is None else end >> 16
        end_within = 0 if end is None else end & 0xFFFF
        parts: list[bytes] = []
        reader = BlockReader(buf, start=start_address, name=path)
        for address, payload in reader.blocks():
            if end_address is not None and address >= end_address:
                if address == end_address and end_within:
                    parts.append(payload[:end_within])
                break
            parts.append(payload)
        data = b"".join(parts)
        if start is None:
            header_len = bam_header_length(data, path)
            if header_len is None:
                raise DataError("truncated BAM header", path=path)
            skip = header_len
        return data[skip:] if skip else data
    finally:
        if hasattr(buf, "close"):
            buf.close()


def read_range_array(path: str, start: int | None, end: int | None) -> Any:
    """`read_range` as a numpy uint8 array, inflated block by block straight into one
    buffer (no per-block copies): the input of the numba kernels."""
    import numpy as np

    from gfcli.engine.bgzf import Inflater, block_isize, block_size, map_file

    buf = map_file(path)
    try:
        size = len(buf)
        address = 0 if start is None else start >> 16
        skip = 0 if start is None else start & 0xFFFF
        end_address = size if end is None else end >> 16
        end_within = 0 if end is None else end & 0xFFFF
        blocks: list[tuple[int, int, int]] = []
        total = 0
        while address < size and (address < end_address or (address == end_address
                                                             and end_within)):
            try:
                length = block_size(buf, address)
            except DataError as exc:
                raise DataError(exc.message, path=path) from None
            if address + length > size:
                raise DataError(f"truncated BGZF block at byte {address}", path=path)
            isize = block_isize(buf, address, length)
            blocks.append((address, length, isize))
            total += isize
            address += length
        out = np.empty(total, dtype=np.uint8)
        inflater = Inflater(buf)
        out_addr = int(out.ctypes.data)
        pos = 0
        for address, length, isize in blocks:
            try:
                inflater.inflate_into(address, length, out, pos, out_addr)
            except DataError as exc:
                raise DataError(exc.message, path=path) from None
            pos += isize
        stop = total
        if end is not None and end_within and blocks and blocks[-1][0] == end_address:
            stop = total - blocks[-1][2] + end_within
        if start is None:
            header_len = bam_header_length(memoryview(out), path)
            if header_len is None:
                raise DataError("truncated BAM header", path=path)
            skip = header_len
        return out[skip:stop]
    finally:
        if hasattr(buf, "close"):
            buf.close()


def stream_records(handle: BinaryIO, name: str | None) -> Iterator[bytes]:
    """Record-aligned pieces of decompressed record bytes from a whole BAM stream (stdin,
    an unindexed file), header skipped, each about PIECE_BYTES."""
    from gfcli.engine.bgzf import BlockReader

    reader = BlockReader(handle, name=name)
    pending = bytearray()
    header_done = False
    for _address, payload in reader.blocks():
        pending += payload
        if not header_done:
            header_len = bam_header_length(pending, name)
            if header_len is None:
                continue
            del pending[:header_len]
            header_done = True
        if len(pending) < PIECE_BYTES:
            continue
        cut = _last_record_boundary(pending)
        if cut:
            yield bytes(pending[:cut])
            del pending[:cut]
    if not header_done:
        raise DataError("truncated BAM header", path=name)
    if pending:
        count_records(pending, name)  # raises on a truncated last record
        yield bytes(pending)


def _last_record_boundary(data: bytearray) -> int:
    pos = 0
    size = len(data)
    unpack = _I32.unpack_from
    while pos + 4 <= size:
        (block,) = unpack(data, pos)
        if block < 32:
            raise DataError(f"corrupt BAM record (block_size {block})")
        nxt = pos + 4 + block
        if nxt > size:
            break
        pos = nxt
    return pos
