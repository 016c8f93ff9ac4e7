"""Reading FASTQ: plain, gzip (multi-member) and BGZF files or stdin, in record batches.

The decompressed text arrives in pieces of a few MB; each piece (with the unfinished
record carried over from the previous one) is cut into records by the numba kernel
`kernels.split_records`, which also checks their structure. A batch is the packed
buffer plus one row of offsets per record, never one Python object per record.

Accepted, like seqkit: Windows line endings (the '\\r' is not part of the name, sequence
or qualities; records pass through with their own bytes), blank lines between records
(dropped), a last line without a newline (one is added on output). Rejected with the
file and line: anything that is not a 4-line record ('@' header, sequence, '+' line,
qualities as long as the sequence, each in '!'..'~'), so multi-line FASTQ is an error.

BGZF files are cut into chunks that workers read independently (`plan_chunks`): a cut
is a record start found after a newline in a block near every `TARGET_CHUNK_BYTES` of
compressed input, accepted only where two consecutive records check out (a quality line
may start with '@', so one line is not enough). Plain and gzip input is one stream.
"""

from __future__ import annotations

import bisect
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gfcli.engine import bgzf
from gfcli.engine.chunks import STREAM, TARGET_CHUNK_BYTES, Chunk, chunks_between
from gfcli.engine.errors import DataError

PIECE_BYTES = 4 << 20  # decompressed bytes handed to the kernel at a time
BATCH_RECORDS = 65536
RESYNC_LIMIT = 16 << 20  # decompressed bytes searched for a cut before giving up on it


@dataclass
class Batch:
    data: np.ndarray  # uint8: the packed text the offsets point into
    recs: np.ndarray  # int64 (n, kernels.N_COLS)

    @property
    def n(self) -> int:
        return len(self.recs)


@dataclass(frozen=True)
class Source:
    """Where a formatter reads: a file path (or stdin's replay path) and its container."""

    path: str  # a file, '-' for a seekable stdin, or a /dev/fd/N pipe replaying stdin
    display: str
    compression: str  # sniff.PLAIN / GZIP / BGZF

    def batches(self, chunk: Chunk) -> Iterator[Batch]:
        if chunk.kind == STREAM:
            pieces = self._stream_pieces()
            return iter_batches(pieces, self.display, lambda: 0)
        pieces = bgzf_pieces(self.path, chunk.start, chunk.end)
        start = chunk.start
        return iter_batches(pieces, self.display,
                            lambda: 0 if start is None else lines_before(self.path, start))

    def _stream_pieces(self) -> Iterator[bytes]:
        if self.path == "-":
            handle = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
        else:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by the generator
        with handle:
            if self.compression == "plain":
                while piece := handle.read(PIECE_BYTES):
                    yield piece
                return
            yield from _gunzip(handle, self.display)


def _gunzip(handle, display: str) -> Iterator[bytes]:
    """Every member of a gzip stream (BGZF included), through ISA-L when it is installed."""
    try:
        from isal.igzip import IGzipFile as GzipFile
    except ImportError:  # pragma: no cover - isal is a dependency
        from gzip import GzipFile
    reader = GzipFile(fileobj=handle, mode="rb")
    try:
        while piece := reader.read(PIECE_BYTES):
            yield piece
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"gzip data is corrupt or truncated ({exc})", path=display) from None


def bgzf_pieces(path: str, start: int | None, end: int | None) -> Iterator[bytes]:
    """The decompressed bytes of a BGZF file from virtual offset `start` to `end`."""
    buf = bgzf.map_file(path)
    size = len(buf)
    if size == 0:
        return
    inflater = bgzf.Inflater(buf)
    address, skip = (0, 0) if start is None else (start >> 16, start & 0xFFFF)
    end_address, end_within = (size, 0) if end is None else (end >> 16, end & 0xFFFF)
    out = bytearray(PIECE_BYTES + bgzf.MAX_BLOCK_SIZE)
    pos = 0
    while address < size and address <= end_address:
        if address == end_address and end_within == 0:
            break
        total = bgzf.block_size(buf, address)
        if address + total > size:
            raise DataError(f"truncated BGZF block at byte {address}", path=path)
        isize = inflater.inflate_into(address, total, out, pos)
        stop = min(isize, end_within) if address == end_address else isize
        if skip:
            out[pos : pos + stop - skip] = out[pos + skip : pos + stop]
            stop -= skip
            skip = 0
        pos += stop
        if pos >= PIECE_BYTES:
            yield bytes(out[:pos])
            pos = 0
        address += total
    if pos:
        yield bytes(out[:pos])


def lines_before(path: str, voffset: int) -> int:
    """How many lines precede a virtual offset (only on the error path of a chunk)."""
    return sum(piece.count(b"\n") for piece in bgzf_pieces(path, None, voffset))


def iter_batches(pieces: Iterator[bytes], display: str, line_base) -> Iterator[Batch]:
    """Record batches from decompressed pieces; DataError with the line on bad records.

    `line_base()` gives the lines before the first piece (called only to report an error).
    """
    from gfcli.engine.fastq import native as k

    pending = b""
    lines = 0
    result = np.zeros(4, dtype=np.int64)
    final = False
    while not final:
        try:
            piece = next(pieces, None)
        except DataError as exc:
            if exc.path is not None:
                raise
            raise DataError(exc.message, path=display) from None
        final = piece is None
        data = pending + piece if piece is not None else pending
        if final:
            if not data:
                return
            if not data.endswith(b"\n"):
                data += b"\n"
        arr = np.frombuffer(data, dtype=np.uint8)
        start = 0
        while True:
            recs = np.empty((BATCH_RECORDS, k.N_COLS), dtype=np.int64)
            status = k.split_records(arr, start, final, recs, result)
            n = int(result[1])
            if n:
                yield Batch(arr, recs[:n])
            if status < 0:
                line = line_base() + lines + int(result[2]) + int(result[3]) + 1
                raise DataError(k.MESSAGES[status], path=display, line=line)
            lines += int(result[2])
            start = int(result[0])
            if status == k.OK:
                break
        pending = data[start:]


# --------------------------------------------------------------------------- chunks


def plan_chunks(path: str, target: int | None = None) -> list[Chunk]:
    """Record-aligned BGZF offset ranges of about `target` compressed bytes."""
    try:
        return _plan_chunks(path, target or TARGET_CHUNK_BYTES)
    except DataError as exc:
        if exc.path is not None:
            raise
        raise DataError(exc.message, path=path) from None


def _plan_chunks(path: str, target: int) -> list[Chunk]:
    buf = bgzf.map_file(path)
    size = len(buf)
    cuts: list[int] = []
    address = 0
    next_cut_at = target
    while address < size:
        total = bgzf.block_size(buf, address)
        if address >= next_cut_at and size - address >= target // 4:
            cut = _resync(buf, address)
            if cut is not None:
                cuts.append(cut)
                next_cut_at = (cut >> 16) + target
        address += total
    return chunks_between(cuts, size)


def _resync(buf, address: int) -> int | None:
    """The virtual offset of a checked record start at or after block `address`."""
    size = len(buf)
    inflater = bgzf.Inflater(buf)
    data = bytearray()
    block_at: list[int] = []  # offset in `data` of each block's payload
    block_addr: list[int] = []
    candidate = 0  # where to look for the next newline
    while len(data) < RESYNC_LIMIT:
        final = address >= size
        if not final:
            total = bgzf.block_size(buf, address)
            out = bytearray(bgzf.block_isize(buf, address, total))
            inflater.inflate_into(address, total, out, 0)
            block_at.append(len(data))
            block_addr.append(address)
            data += out
            address += total
        while True:
            nl = data.find(b"\n", candidate)
            if nl < 0 or nl + 1 >= len(data):
                break
            verdict = _two_records(data, nl + 1, final)
            if verdict is None:
                break  # this candidate needs more data
            if verdict:
                p = nl + 1
                i = bisect.bisect_right(block_at, p) - 1
                return bgzf.make_voffset(block_addr[i], p - block_at[i])
            candidate = nl + 1
        if final:
            return None
    return None


def _record_end(data: bytearray, p: int, final: bool) -> int | bool | None:
    """End of a well-formed record at `p`; False if malformed, None if data runs out."""
    if data[p : p + 1] != b"@":
        return False
    ends = []
    q = p
    for _ in range(4):
        q = data.find(b"\n", q)
        if q < 0:
            if not final or len(ends) < 3:
                return None if not final else False
            q = len(data)
        ends.append(q)
        q += 1
    e1, e2, e3, e4 = ends
    if data[e2 + 1 : e2 + 2] != b"+":
        return False
    seq = bytes(data[e1 + 1 : e2]).rstrip(b"\r")
    qual = bytes(data[e3 + 1 : e4]).rstrip(b"\r")
    return e4 + 1 if len(seq) == len(qual) else False


def _two_records(data: bytearray, p: int, final: bool) -> bool | None:
    first = _record_end(data, p, final)
    if not first:
        return first
    q = first
    while q < len(data) and data[q] in (10, 13):
        q += 1
    if q >= len(data):
        return True if final else None
    second = _record_end(data, q, final)
    return None if second is None else bool(second)
