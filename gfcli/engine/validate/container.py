"""Containers: the decompressed bytes of an input, with gzip/BGZF damage reported as found.

The validator reads compressed data itself, block by block, rather than through htslib or
`gfcli.engine.bgzf`: those stop at the first damaged block with one message, while a
validator must say what exactly is wrong (a bad header, a short block, a CRC mismatch, the
missing EOF marker) and still report everything it checked before the damage. After
damage the stream simply ends: the bytes behind a corrupt block cannot be placed in the
record stream again.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import BinaryIO

from gfcli.engine.bgzf import EOF_BLOCK
from gfcli.engine.validate.reporter import Sink
from gfcli.engine.validate.rules import ERROR, WARNING, rule

GZIP_TRUNCATED = rule("gzip.truncated", ERROR, "the gzip stream ends in the middle of a member")
GZIP_CORRUPT = rule("gzip.corrupt", ERROR, "invalid deflate data or a CRC/size mismatch in gzip")
GZIP_TRAILING = rule("gzip.trailing-garbage", ERROR, "bytes after the last gzip member")
BGZF_HEADER = rule("bgzf.bad-header", ERROR, "a BGZF block without a valid gzip header or BC field")
BGZF_TRUNCATED = rule("bgzf.truncated", ERROR, "the file ends inside a BGZF block")
BGZF_CORRUPT = rule(
    "bgzf.corrupt-block", ERROR, "a BGZF block whose deflate data, CRC32 or ISIZE is wrong"
)
BGZF_EOF = rule(
    "bgzf.missing-eof", ERROR,
    "no BGZF end-of-file marker block: the file is probably truncated",
)
BGZF_NOT = rule(
    "bgzf.plain-gzip", WARNING,
    "compressed with plain gzip, not BGZF: it cannot be indexed or read in parallel",
)
INDEX_OLDER = rule("index.older", WARNING, "the index file is older than the data file")
INDEX_UNREADABLE = rule("index.unreadable", ERROR, "the index file cannot be parsed")
INDEX_INCONSISTENT = rule(
    "index.inconsistent", ERROR,
    "the index does not fit its data file (offsets, reference count or record counts)",
)
INDEX_UNSORTED = rule(
    "index.unsorted", ERROR,
    "a .crai's entries are in file order: container offsets, then references and starts",
)

READ_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class Decompressed:
    """Sequential decompressed bytes of `raw` ("plain", "gzip" or "bgzf" container).

    `read(n)` returns up to n bytes (fewer only at the end); `tell()` gives the uncompressed
    offset of the next byte and, for BGZF, the file offset of the block that holds it.
    """

    def __init__(self, raw: BinaryIO, compression: str, reporter: Sink, *,
                 start: tuple[int, int] | None = None, limit: int | None = None,
                 blocks_before: int = 0):
        self.raw = raw
        self.compression = compression
        self.reporter = reporter
        self.damaged = False  # the data ended early because of container damage
        self._piece = b""
        self._used = 0
        self._piece_start = 0  # uncompressed offset of _piece[0]
        self._block: int | None = None  # BGZF: file offset of the block of _piece
        self._raw_pos = 0
        self._ended = False
        self._last_block = b""
        self._blocks = blocks_before
        # A chunk of a BGZF file (-@): start at a virtual offset (block address, offset in
        # it) and stop `limit` uncompressed bytes later, unless a read crosses that point:
        # then the cut was not at a record boundary and reading goes on to the end.
        self._skip = 0
        self._limit = limit
        self.overran = False
        if start is not None:
            raw.seek(start[0])
            self._raw_pos = start[0]
            self._skip = start[1]
        self._gz: zlib._Decompress | None = None  # type: ignore[name-defined]
        self._gz_pending = b""
        self._gz_fed = False

    # ------------------------------------------------------------------ public

    def tell(self) -> tuple[int, int | None]:
        if self._used >= len(self._piece) and self.compression == "bgzf":
            return self._piece_start + len(self._piece), None
        return self._piece_start + self._used, self._block

    def at_limit(self) -> bool:
        return self._limit is not None and self._piece_start + self._used >= self._limit

    def lift_limit(self) -> bool:
        """Read past the chunk's end (its cut fell inside a record); False if there was none."""
        if self._limit is None:
            return False
        self._limit = None
        self.overran = True
        return True

    def read(self, n: int) -> bytes:
        if self._limit is not None:
            position = self._piece_start + self._used
            if position >= self._limit:
                return b""
            if position + n > self._limit:
                self.lift_limit()
        parts: list[bytes] = []
        got = 0
        while got < n:
            if self._used >= len(self._piece):
                if not self._advance():
                    break
                continue
            take = min(n - got, len(self._piece) - self._used)
            if take == len(self._piece) and self._used == 0:
                parts.append(self._piece)
            else:
                parts.append(self._piece[self._used : self._used + take])
            self._used += take
            got += take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def pieces(self) -> bytes:
        """The next piece of decompressed data as the container gives it (b'' at the end)."""
        limit = self._limit
        if limit is not None and self._piece_start + self._used >= limit:
            return b""
        while self._used >= len(self._piece):
            if not self._advance():
                return b""
        end = len(self._piece)
        if limit is not None and self._piece_start + end > limit:
            end = limit - self._piece_start
        piece = self._piece[self._used : end] if self._used or end < len(self._piece) else (
            self._piece)
        self._used = end
        return piece

    # ------------------------------------------------------------------ internals

    def _advance(self) -> bool:
        if self._ended:
            return False
        self._piece_start += len(self._piece)
        self._piece = b""
        self._used = 0
        if self.compression == "bgzf":
            piece = self._next_block()
        elif self.compression == "gzip":
            piece = self._next_gzip()
        else:
            piece = self.raw.read(READ_SIZE)
            self._raw_pos += len(piece)
        if piece is None or (not piece and self.compression == "plain"):
            self._ended = True
            return False
        self._piece = piece
        if self._skip:
            # The first block of a chunk: its data before the chunk's start is not ours.
            self._used = min(self._skip, len(piece))
            self._piece_start = -self._used
            self._skip = 0
        return True

    def _read_raw(self, n: int) -> bytes:
        data = self.raw.read(n)
        self._raw_pos += len(data)
        return data

    def _fail(self, rule_id: str, message: str) -> None:
        self.damaged = True
        self.reporter.report(rule_id, None, message)

    def _next_block(self) -> bytes | None:
        while True:
            address = self._raw_pos
            head = self._read_raw(12)
            if not head:
                if self._last_block != EOF_BLOCK:
                    self.reporter.report(
                        BGZF_EOF, None,
                        f"the last of {self._blocks} BGZF blocks is not the EOF marker block",
                    )
                return None
            if len(head) < 12:
                self._fail(BGZF_TRUNCATED,
                           f"the file ends inside a block header at byte {address}")
                return None
            if head[:4] != b"\x1f\x8b\x08\x04":
                what = "a gzip header without extra field" if head[:2] == _GZIP_MAGIC else (
                    "bytes that are not a gzip header")
                self._fail(BGZF_HEADER,
                           f"{what} at byte {address}, where a BGZF block should start")
                return None
            xlen = struct.unpack_from("<H", head, 10)[0]
            extra = self._read_raw(xlen)
            if len(extra) < xlen:
                self._fail(BGZF_TRUNCATED,
                           f"the file ends inside the header of the block at {address}")
                return None
            bsize = _bc_field(extra)
            if bsize is None:
                self._fail(BGZF_HEADER,
                           f"the gzip block at byte {address} has no BGZF 'BC' size field")
                return None
            rest_len = bsize + 1 - 12 - xlen
            if rest_len < 8:
                self._fail(BGZF_HEADER,
                           f"the block at byte {address} has an impossible size {bsize + 1}")
                return None
            rest = self._read_raw(rest_len)
            if len(rest) < rest_len:
                self._fail(
                    BGZF_TRUNCATED,
                    f"the file ends {rest_len - len(rest)} bytes short of the end of the block at "
                    f"byte {address}",
                )
                return None
            crc, isize = struct.unpack_from("<II", rest, rest_len - 8)
            payload = _inflate_raw(rest[: rest_len - 8], isize)
            if payload is None:
                self._fail(BGZF_CORRUPT, f"invalid deflate data in the block at byte {address}")
                return None
            if len(payload) != isize:
                self._fail(
                    BGZF_CORRUPT,
                    f"the block at byte {address} inflates to {len(payload)} bytes, its footer "
                    f"says {isize}",
                )
                return None
            if zlib.crc32(payload) != crc:
                self._fail(BGZF_CORRUPT, f"CRC32 mismatch in the block at byte {address}")
                return None
            self._blocks += 1
            self._last_block = head + extra + rest if isize == 0 and bsize + 1 == 28 else b"-"
            self._block = address
            if payload:
                return payload
            # Empty blocks (EOF markers, also legal mid-file) carry no data: read on.

    def _next_gzip(self) -> bytes | None:
        while True:
            if self._gz is None:
                data = self._gz_pending
                self._gz_pending = b""
                if len(data) < 2:
                    data += self._read_raw(READ_SIZE)
                if not data:
                    return None
                if data[:2] != _GZIP_MAGIC:
                    # Zero padding after the last member is tolerated, as gzip itself does.
                    if data.strip(b"\x00"):
                        start = self._raw_pos - len(data)
                        self._fail(GZIP_TRAILING,
                                   f"bytes that are not gzip after the last member (byte {start})")
                    return None
                self._gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._gz_fed = False
            else:
                data = self._read_raw(READ_SIZE)
                if not data:
                    self._fail(GZIP_TRUNCATED,
                               "the compressed stream ends in the middle of a member")
                    return None
            try:
                out = self._gz.decompress(data)
            except zlib.error as exc:
                self._fail(GZIP_CORRUPT, f"corrupt gzip data before byte {self._raw_pos}: {exc}")
                return None
            if self._gz.eof:
                self._gz_pending = self._gz.unused_data
                self._gz = None
            if out:
                return out


def _bc_field(extra: bytes) -> int | None:
    pos = 0
    while pos + 4 <= len(extra):
        slen = extra[pos + 2] | (extra[pos + 3] << 8)
        if extra[pos] == 66 and extra[pos + 1] == 67 and slen == 2 and pos + 6 <= len(extra):
            return extra[pos + 4] | (extra[pos + 5] << 8)
        pos += 4 + slen
    return None


def _inflate_raw(data: bytes, isize: int) -> bytes | None:
    """Inflate one block's raw deflate data; None when it is not a complete, valid stream."""
    inflater = zlib.decompressobj(-15)
    try:
        # One byte more than the footer promises reveals an oversized payload without
        # letting a bogus stream inflate without bound.
        out = inflater.decompress(data, max(isize, 0) + 1)
    except zlib.error:
        return None
    if not inflater.eof and len(out) <= isize:
        return None
    return out


# ------------------------------------------------------------------------ indexes


def check_index(
    reporter: Sink,
    data_path: str,
    index_path: str,
    *,
    n_ref: int | None = None,
    counts: list[list[int]] | None = None,
    names: list[str] | None = None,
) -> None:
    """Index against data: age, parseability, offsets inside the file, reference counts.

    `counts`, when given, holds [mapped, unmapped] per reference as read from the data, to
    compare with the pseudo-bin statistics htslib writes into BAI/CSI indexes.
    """
    from gfcli.engine.errors import GfcliError
    from gfcli.engine.index import read_index

    try:
        if os.path.getmtime(index_path) < os.path.getmtime(data_path):
            reporter.report(INDEX_OLDER, None,
                            f"the index {index_path} is older than the data file")
        summary = read_index(index_path)
    except GfcliError as exc:
        reporter.report(INDEX_UNREADABLE, None, f"{index_path}: {exc.message}")
        return
    except (OSError, ValueError, IndexError, UnicodeDecodeError, MemoryError, OverflowError) as exc:
        reporter.report(INDEX_UNREADABLE, None, f"{index_path}: {type(exc).__name__}: {exc}")
        return
    size = os.path.getsize(data_path)
    if n_ref is not None and len(summary.references) != n_ref:
        reporter.report(
            INDEX_INCONSISTENT, None,
            f"the index {index_path} lists {len(summary.references)} references, the file "
            f"header {n_ref}",
        )
    if names is not None and summary.names is not None:
        unknown = [n for n in summary.names if n not in set(names)]
        if unknown:
            reporter.report(
                INDEX_INCONSISTENT, None,
                f"the index {index_path} names sequences the file does not declare, e.g. "
                f"{unknown[0]!r}",
            )
    beyond = [v for v in summary.all_offsets() if (v >> 16) >= size]
    if beyond:
        reporter.report(
            INDEX_INCONSISTENT, None,
            f"the index {index_path} points {len(beyond)} times past the end of the file "
            f"({size} bytes)",
        )
    else:
        _check_block_starts(reporter, data_path, index_path, summary.all_offsets())
    if counts is not None:
        for ref_id, (ref, seen) in enumerate(zip(summary.references, counts, strict=False)):
            if ref.n_mapped is None:
                continue
            if (ref.n_mapped, ref.n_unmapped) != (seen[0], seen[1]):
                reporter.report(
                    INDEX_INCONSISTENT, None,
                    f"the index {index_path} counts {ref.n_mapped} mapped + {ref.n_unmapped} "
                    f"unmapped reads on reference #{ref_id}, the file has {seen[0]} + {seen[1]}",
                )
                break


def _check_block_starts(reporter: Sink, data_path: str, index_path: str,
                        offsets: list[int], limit: int = 20000) -> None:
    """Every offset an index gives must be the start of a BGZF block of the data file."""
    addresses = sorted({v >> 16 for v in offsets})[:limit]
    with open(data_path, "rb") as handle:
        for address in addresses:
            handle.seek(address)
            if handle.read(4) != b"\x1f\x8b\x08\x04":
                reporter.report(
                    INDEX_INCONSISTENT, None,
                    f"the index {index_path} points at byte {address}, which is not the start "
                    "of a BGZF block (was the file rewritten after indexing?)",
                )
                return


# ------------------------------------------------------------------------ .crai (CRAM)

CRAI_MAX_BYTES = 1 << 30  # decompressed; a larger .crai is not an index
_CRAI_LIMIT = 20  # problems of each kind named before the rest are only counted


def check_crai(reporter: Sink, data_path: str, index_path: str,
               n_ref: int | None = None) -> None:
    """A CRAM index: gzip text lines `seq_id start span container_offset slice_offset
    slice_size`. Every line parses; every container offset is inside the file and at a
    CRAM container whose header is intact, with the slice inside the container; entries
    come in file order; the index is not older than the data."""
    try:
        if os.path.getmtime(index_path) < os.path.getmtime(data_path):
            reporter.report(INDEX_OLDER, None,
                            f"the index {index_path} is older than the data file")
        with open(index_path, "rb") as handle:
            raw = handle.read(CRAI_MAX_BYTES)
        text = _gunzip_all(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        reporter.report(INDEX_UNREADABLE, None, f"{index_path}: {type(exc).__name__}: {exc}")
        return
    if text is None:
        reporter.report(INDEX_UNREADABLE, None, f"{index_path}: not a complete gzip stream")
        return
    entries: list[tuple[int, int, int, int, int, int, int]] = []
    for number, line in enumerate(text.split(b"\n"), 1):
        if not line.strip():
            continue
        fields = line.split(b"\t")
        values = [_crai_int(f) for f in fields]
        if len(fields) != 6 or any(v is None for v in values):
            reporter.report(INDEX_UNREADABLE, None,
                            f"{index_path}: line {number} is not 6 tab-separated integers")
            return
        entries.append((number, *values))  # type: ignore[arg-type]
    size = os.path.getsize(data_path)
    headers: dict[int, tuple[int, int] | str] = {}
    try:
        with open(data_path, "rb") as handle:
            version = handle.read(6)[4:5]
            for offset in sorted({e[4] for e in entries}):
                headers[offset] = _container_at(handle, offset, size, version == b"\x03")
    except OSError as exc:
        reporter.report(INDEX_UNREADABLE, None, f"{data_path}: {exc}")
        return
    bad = 0
    previous: tuple[int, int, int, int, int, int, int] | None = None
    unsorted = False
    for entry in entries:
        number, seq_id, start, span, offset, slice_offset, slice_size = entry
        found = headers[offset]
        why: str | None = None
        if seq_id < -1 or (n_ref is not None and seq_id >= n_ref) or start < 0 or span < 0:
            why = f"reference #{seq_id} at {start} (+{span}) is impossible"
        elif isinstance(found, str):
            why = found
        elif slice_offset < 0 or slice_size <= 0 or slice_offset + slice_size > found[1]:
            why = (f"its slice (offset {slice_offset}, {slice_size} bytes) is not inside the "
                   f"container of {found[1]} bytes at byte {offset}")
        if why is not None:
            bad += 1
            if bad <= _CRAI_LIMIT:
                reporter.report(INDEX_INCONSISTENT, None,
                                f"the index {index_path}, line {number}: {why}")
        if previous is not None and not unsorted and _crai_before(entry, previous):
            unsorted = True
            reporter.report(INDEX_UNSORTED, None,
                            f"the index {index_path}, line {number}: the entry comes before the "
                            f"one on line {previous[0]}")
        previous = entry
    if bad > _CRAI_LIMIT:
        reporter.report(INDEX_INCONSISTENT, None,
                        f"the index {index_path}: {bad - _CRAI_LIMIT} more entries do not fit "
                        "the file")


def _crai_before(entry: tuple[int, ...], previous: tuple[int, ...]) -> bool:
    """Is `entry` out of order after `previous`? Containers come in file order; within a
    container and a reference, slices by start; unplaced reads (-1) after the placed ones."""
    _, seq_id, start, _, offset, slice_offset, _ = entry
    _, p_seq, p_start, _, p_offset, p_slice, _ = previous
    if (offset, slice_offset) < (p_offset, p_slice):
        return True
    if seq_id == p_seq:
        return seq_id >= 0 and start < p_start
    if seq_id == -1:
        return False
    return p_seq == -1 or seq_id < p_seq


def _crai_int(text: bytes) -> int | None:
    text = text.strip()
    if not text or len(text) > 20:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _gunzip_all(raw: bytes) -> bytes | None:
    """All gzip members of `raw` (a .crai may be BGZF), or None when one is cut short."""
    out: list[bytes] = []
    total = 0
    while raw:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(inflater.decompress(raw, CRAI_MAX_BYTES - total))
        total += len(out[-1])
        if not inflater.eof:
            return None
        raw = inflater.unused_data
    return b"".join(out)


def _itf8(data: bytes, pos: int) -> tuple[int, int]:
    """CRAM ITF-8 integer at `pos`: (value, next position); IndexError when cut short."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first < 0xC0:
        return ((first & 0x3F) << 8) | data[pos + 1], pos + 2
    if first < 0xE0:
        return ((first & 0x1F) << 16) | (data[pos + 1] << 8) | data[pos + 2], pos + 3
    if first < 0xF0:
        return (((first & 0x0F) << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8)
                | data[pos + 3]), pos + 4
    value = ((first & 0x0F) << 28) | (data[pos + 1] << 20) | (data[pos + 2] << 12) | (
        data[pos + 3] << 4) | (data[pos + 4] & 0x0F)
    return value - (1 << 32) if value >= 1 << 31 else value, pos + 5


def _ltf8_skip(data: bytes, pos: int) -> int:
    first = data[pos]
    length = 1
    while length < 9 and first & (0x80 >> (length - 1)):
        length += 1
    if pos + length > len(data):
        raise IndexError("cut short")
    return pos + length


def _container_at(handle: BinaryIO, offset: int, size: int, crc: bool) -> tuple[int, int] | str:
    """(header size, data size) of the CRAM container at `offset`, or why there is none."""
    if not 0 <= offset < size:
        return f"container offset {offset} is outside the file ({size} bytes)"
    handle.seek(offset)
    head = handle.read(1400)  # the largest header: 256 landmarks
    try:
        (length,) = struct.unpack_from("<i", head, 0)
        pos = 4
        for _ in range(4):  # reference, start, span, record count
            _, pos = _itf8(head, pos)
        pos = _ltf8_skip(head, pos)  # record counter
        pos = _ltf8_skip(head, pos)  # bases
        _, pos = _itf8(head, pos)  # blocks
        n_landmarks, pos = _itf8(head, pos)
        if not 0 <= n_landmarks <= 256:
            raise IndexError("landmarks")
        for _ in range(n_landmarks):
            _, pos = _itf8(head, pos)
        if crc:
            (stored,) = struct.unpack_from("<I", head, pos)
            if zlib.crc32(head[:pos]) != stored:
                return f"byte {offset} is not the start of a CRAM container (header CRC32)"
            pos += 4
    except (IndexError, struct.error):
        return f"byte {offset} is not the start of a CRAM container"
    if length < 0 or offset + pos + length > size:
        return f"the container at byte {offset} runs past the end of the file"
    return pos, length
