"""BGZF (SAM spec 4.1): block parsing, fast inflate, block scanning and compression.

A BGZF file is a series of gzip members ("blocks") of at most 64 KiB each, whose gzip
extra field holds a 'BC' subfield with BSIZE (total block size - 1), and whose footer
gives the CRC32 and ISIZE (uncompressed size) of the payload. Knowing ISIZE up front lets
libdeflate inflate straight into a caller's buffer, with no streaming state.

Inflate backend, measured on a 340 MB coordinate-sorted BAM (2x150 reads, 1.2 GB
inflated, one core): libdeflate through ctypes into one preallocated buffer ~950 MB/s,
`deflate.deflate_decompress` (libdeflate, new bytearray per block) ~830 MB/s,
`isal.isal_zlib.decompress` ~580 MB/s, zlib ~410 MB/s. So libdeflate is used, reached
through the symbols the `deflate` package's extension exports (or a system
libdeflate.so), with isal then zlib as fallbacks when neither can be loaded.

Virtual offsets are `block_address << 16 | offset_in_block`, as in BAI/CSI indexes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from gfcli.engine.errors import DataError

HEADER_SIZE = 18  # gzip header with the 6-byte BC extra field, as every BGZF writer emits
FOOTER_SIZE = 8  # CRC32 + ISIZE
MAX_BLOCK_SIZE = 65536
# Payload bytes per block when writing: htslib's BGZF_BLOCK_SIZE (0xff00), which leaves
# room for incompressible data to be stored in a block of at most 64 KiB.
MAX_PAYLOAD = 65280

# The empty block htslib appends as an end-of-file marker (SAM spec 4.1.2).
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

_MAGIC = b"\x1f\x8b\x08\x04"
_HEADER = struct.Struct("<4BIBBHBBHH")  # id1 id2 cm flg mtime xfl os xlen si1 si2 slen bsize
_FOOTER = struct.Struct("<II")
_U16 = struct.Struct("<H")


def make_voffset(address: int, within: int) -> int:
    return (address << 16) | within


def split_voffset(voffset: int) -> tuple[int, int]:
    return voffset >> 16, voffset & 0xFFFF


# --------------------------------------------------------------------------- headers


def block_size(buf: Any, offset: int) -> int:
    """Total size (BSIZE + 1) of the BGZF block at `offset` of `buf`; DataError if not BGZF."""
    if len(buf) - offset < HEADER_SIZE or bytes(buf[offset : offset + 4]) != _MAGIC:
        raise DataError(f"not a BGZF block at byte {offset}")
    xlen = _U16.unpack_from(buf, offset + 10)[0]
    # Fast path: the only subfield is BC (every writer we know of).
    if xlen == 6 and buf[offset + 12] == 66 and buf[offset + 13] == 67:
        return _U16.unpack_from(buf, offset + 16)[0] + 1
    pos = offset + 12
    stop = pos + xlen
    if stop > len(buf):
        raise DataError(f"truncated BGZF block header at byte {offset}")
    while pos + 4 <= stop:
        slen = _U16.unpack_from(buf, pos + 2)[0]
        if buf[pos] == 66 and buf[pos + 1] == 67 and slen == 2:
            return _U16.unpack_from(buf, pos + 4)[0] + 1
        pos += 4 + slen
    raise DataError(f"gzip block without a BGZF size field at byte {offset}")


def _payload_bounds(buf: Any, offset: int, total: int) -> tuple[int, int]:
    """(start, end) of the deflate payload of the block at `offset` of size `total`."""
    xlen = _U16.unpack_from(buf, offset + 10)[0]
    return offset + 12 + xlen, offset + total - FOOTER_SIZE


def block_isize(buf: Any, offset: int, total: int) -> int:
    """The uncompressed size of a block, from its footer."""
    return _FOOTER.unpack_from(buf, offset + total - FOOTER_SIZE)[1]


def looks_like_block(buf: Any, offset: int) -> bool:
    """A cheap structural check of a candidate block start (used when resynchronising)."""
    try:
        total = block_size(buf, offset)
    except DataError:
        return False
    if total < HEADER_SIZE + FOOTER_SIZE or offset + total > len(buf):
        return False
    isize = block_isize(buf, offset, total)
    return isize <= MAX_BLOCK_SIZE


def scan_blocks(buf: Any, start: int = 0, end: int | None = None) -> list[int]:
    """Addresses of the blocks starting in [start, end) of a buffer, without inflating.

    `start` must be a block start. The walk follows BSIZE from block to block, so it reads
    18 bytes per block (about 17 000 blocks for a 340 MB BAM, a few ms).
    """
    size = len(buf)
    stop = size if end is None else min(end, size)
    addresses: list[int] = []
    pos = start
    while pos < stop:
        total = block_size(buf, pos)
        if pos + total > size:
            raise DataError(f"truncated BGZF block at byte {pos}")
        addresses.append(pos)
        pos += total
    return addresses


def find_block_start(buf: Any, start: int, chain: int = 3) -> int:
    """The first block start at or after byte `start` (len(buf) if none).

    A candidate is accepted when it and the `chain - 1` blocks after it parse as BGZF
    headers that chain exactly (or reach the end of the buffer), so bytes inside
    compressed data that happen to look like a header are not taken for one.
    """
    size = len(buf)
    pos = start
    while True:
        pos = buf.find(_MAGIC, pos) if hasattr(buf, "find") else bytes(buf).find(_MAGIC, pos)
        if pos < 0:
            return size
        probe = pos
        good = True
        for _ in range(chain):
            if probe == size:
                break
            if not looks_like_block(buf, probe):
                good = False
                break
            probe += block_size(buf, probe)
        if good:
            return pos
        pos += 1


# --------------------------------------------------------------------------- inflate


class _Libdeflate:
    """libdeflate's decompressor and crc32 through ctypes, writing into given addresses."""

    def __init__(self, lib: ctypes.CDLL):
        lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
        lib.libdeflate_alloc_decompressor.argtypes = []
        lib.libdeflate_free_decompressor.argtypes = [ctypes.c_void_p]
        inflate = lib.libdeflate_deflate_decompress
        inflate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                            ctypes.c_size_t, ctypes.c_void_p]
        inflate.restype = ctypes.c_int
        crc = lib.libdeflate_crc32
        crc.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]
        crc.restype = ctypes.c_uint32
        self._lib = lib
        self._inflate = inflate
        self._crc = crc
        self._handle = lib.libdeflate_alloc_decompressor()
        if not self._handle:
            raise MemoryError("libdeflate_alloc_decompressor failed")

    def inflate(self, src: int, src_len: int, dst: int, dst_len: int) -> bool:
        return self._inflate(self._handle, src, src_len, dst, dst_len, None) == 0

    def crc32(self, addr: int, length: int) -> int:
        return self._crc(0, addr, length)


_LIBDEFLATE: _Libdeflate | None = None
_LIBDEFLATE_TRIED = False


def _libdeflate() -> _Libdeflate | None:
    """libdeflate if it can be loaded: the `deflate` package's extension, else the system's."""
    global _LIBDEFLATE, _LIBDEFLATE_TRIED
    if _LIBDEFLATE_TRIED:
        return _LIBDEFLATE
    _LIBDEFLATE_TRIED = True
    if os.environ.get("GFCLI_NO_LIBDEFLATE"):
        return None
    def load(path: str) -> _Libdeflate | None:
        try:
            return _Libdeflate(ctypes.CDLL(path))
        except (OSError, AttributeError):
            return None

    try:
        from deflate import _deflate

        _LIBDEFLATE = load(_deflate.__file__)
    except ImportError:
        pass
    if _LIBDEFLATE is None:
        # find_library runs `ldconfig -p` in a subprocess (4-10 ms): only when needed
        system = ctypes.util.find_library("deflate")
        if system:
            _LIBDEFLATE = load(system)
    return _LIBDEFLATE


def _raw_inflate() -> Any:
    """A raw-DEFLATE decompress(data) -> bytes for when libdeflate is unavailable."""
    try:
        from isal import isal_zlib

        return lambda data: isal_zlib.decompress(data, -15)
    except ImportError:
        return lambda data: zlib.decompress(data, -15)


def backend_name() -> str:
    if _libdeflate() is not None:
        return "libdeflate"
    try:
        import isal  # noqa: F401

        return "isal"
    except ImportError:
        return "zlib"


def _address(buf: Any) -> int:
    """The memory address of a writable or read-only buffer (numpy array, bytearray, mmap)."""
    if hasattr(buf, "ctypes"):
        return int(buf.ctypes.data)
    if not memoryview(buf).readonly:
        return ctypes.addressof(ctypes.c_char.from_buffer(buf))
    if isinstance(buf, bytes):
        # bytes are immutable and never move: their data follows the object header.
        return id(buf) + bytes.__basicsize__ - 1
    # Another read-only buffer: numpy gives its address without copying.
    import numpy as np

    return int(np.frombuffer(buf, dtype=np.uint8).ctypes.data)


class Inflater:
    """Inflates whole BGZF blocks from a source buffer into a destination buffer.

    Both buffers stay referenced by the caller; addresses are taken once, so inflating a
    block costs one ctypes call (about 1 us) plus libdeflate's work. CRC32 is checked,
    like htslib does.
    """

    def __init__(self, source: Any, check_crc: bool = True):
        self.source = source
        self.check_crc = check_crc
        self._lib = _libdeflate()
        self._src_addr = _address(source) if self._lib is not None else 0
        self._fallback = None if self._lib is not None else _raw_inflate()

    def inflate_into(self, address: int, total: int, out: Any, out_pos: int,
                     out_addr: int | None = None) -> int:
        """Inflate the block at `address` (of size `total`) to `out[out_pos:]`; return ISIZE."""
        src = self.source
        start, end = _payload_bounds(src, address, total)
        crc, isize = _FOOTER.unpack_from(src, address + total - FOOTER_SIZE)
        if isize > MAX_BLOCK_SIZE or out_pos + isize > len(out):
            raise DataError(f"BGZF block at byte {address}: bad uncompressed size {isize}")
        if isize == 0:
            return 0
        if self._lib is not None:
            dst = (out_addr if out_addr is not None else _address(out)) + out_pos
            if not self._lib.inflate(self._src_addr + start, end - start, dst, isize):
                raise DataError(f"BGZF block at byte {address}: corrupt deflate data")
            if self.check_crc and self._lib.crc32(dst, isize) != crc:
                raise DataError(f"BGZF block at byte {address}: CRC32 mismatch")
            return isize
        try:
            data = self._fallback(memoryview(src)[start:end])
        except Exception as exc:
            raise DataError(f"BGZF block at byte {address}: {exc}") from None
        if len(data) != isize or (self.check_crc and zlib.crc32(data) != crc):
            raise DataError(f"BGZF block at byte {address}: CRC32 or size mismatch")
        out[out_pos : out_pos + isize] = data
        return isize


def inflate_block(block: bytes | bytearray | memoryview) -> bytes:
    """The payload of one complete BGZF block (header to footer)."""
    total = block_size(block, 0)
    if len(block) < total:
        raise DataError("truncated BGZF block")
    isize = block_isize(block, 0, total)
    out = bytearray(isize)
    src = bytes(block[:total])
    Inflater(src).inflate_into(0, total, out, 0)
    return bytes(out)


# --------------------------------------------------------------------------- readers


def map_file(path: str) -> Any:
    """A view of a whole file: a private (copy-on-write) mmap, or b'' for an empty file.

    Copy-on-write rather than read-only so ctypes can take its address without numpy;
    nothing writes to it.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)


class BlockReader:
    """Sequential decompressed data from a BGZF source, block by block, with offsets.

    `source` is a buffer (bytes, mmap) read in place, or a binary stream (stdin, a pipe)
    read in large pieces. `blocks()` yields (address, payload) for each block from `start`;
    `read(n)` serves exact byte counts across blocks (headers), and `tell()` gives the
    virtual offset of the next unread byte.
    """

    _READ_SIZE = 4 << 20

    def __init__(self, source: Any, start: int = 0, name: str | None = None):
        self.name = name
        self._stream: BinaryIO | None = None
        if hasattr(source, "read") and not isinstance(source, mmap.mmap):
            self._stream = source
            self._buf: Any = bytearray()
            self._base = start  # file address of _buf[0]
        else:
            self._buf = source
            self._base = 0
        self._pos = start  # file address of the next block
        self._inflater: Inflater | None = None
        self._pending = b""  # unread payload of the current block
        self._pending_addr = start
        self._pending_used = 0

    def _fill(self, need: int) -> bool:
        """Streams: make sure `need` bytes from `_pos` are buffered; False at EOF."""
        assert self._stream is not None
        rel = self._pos - self._base
        if rel > 0 and rel >= len(self._buf) // 2:
            del self._buf[:rel]
            self._base = self._pos
            rel = 0
        while len(self._buf) - rel < need:
            piece = self._stream.read(max(self._READ_SIZE, need))
            if not piece:
                return len(self._buf) - rel >= need
            self._buf += piece
        return True

    def next_block(self) -> tuple[int, bytes] | None:
        """(address, payload) of the next block, or None at the end of the data."""
        if self._stream is not None:
            if not self._fill(HEADER_SIZE):
                if len(self._buf) - (self._pos - self._base) > 0:
                    raise DataError("truncated BGZF block at end of input", path=self.name)
                return None
            rel = self._pos - self._base
            total = block_size(self._buf, rel)
            if not self._fill(total):
                raise DataError("truncated BGZF block at end of input", path=self.name)
            rel = self._pos - self._base
            src = bytes(self._buf[rel : rel + total])
            address = self._pos
            self._pos += total
            return address, _inflate_bytes(src, total, self.name, address)
        buf = self._buf
        if self._pos >= len(buf):
            return None
        total = block_size(buf, self._pos)
        if self._pos + total > len(buf):
            raise DataError(f"truncated BGZF block at byte {self._pos}", path=self.name)
        if self._inflater is None:
            self._inflater = Inflater(buf)
        isize = block_isize(buf, self._pos, total)
        out = bytearray(isize)
        self._inflater.inflate_into(self._pos, total, out, 0)
        address = self._pos
        self._pos += total
        return address, bytes(out)

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        while True:
            item = self.next_block()
            if item is None:
                return
            yield item

    def read(self, n: int) -> bytes:
        """Exactly `n` decompressed bytes (fewer only at the end of the data)."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            if self._pending_used >= len(self._pending):
                item = self.next_block()
                if item is None:
                    break
                self._pending_addr, self._pending = item
                self._pending_used = 0
                continue
            take = min(n - got, len(self._pending) - self._pending_used)
            parts.append(self._pending[self._pending_used : self._pending_used + take])
            self._pending_used += take
            got += take
        return b"".join(parts)

    def tell(self) -> int:
        """Virtual offset of the next byte `read` would return."""
        if self._pending_used < len(self._pending):
            return make_voffset(self._pending_addr, self._pending_used)
        return make_voffset(self._pos, 0)

    def take_pending(self) -> tuple[int, int, bytes]:
        """(address, used, payload) of the partly read block; the reader moves past it."""
        item = (self._pending_addr, self._pending_used, self._pending)
        self._pending = b""
        self._pending_used = 0
        return item


def _inflate_bytes(src: bytes, total: int, name: str | None, address: int) -> bytes:
    isize = block_isize(src, 0, total)
    out = bytearray(isize)
    try:
        Inflater(src).inflate_into(0, total, out, 0)
    except DataError as exc:
        raise DataError(f"BGZF block at byte {address}: {exc.message}", path=name) from None
    return bytes(out)


# --------------------------------------------------------------------------- writing

# What "no level given" writes: isal's level 3. Measured on 1500 blocks of a 2x150 BAM's
# records (one core, CPU time): isal 3 ~260 MB/s at 1.009x the bytes of libdeflate 7
# (htslib 1.16's default: its level 6 maps to libdeflate 7, and samtools' blocks are
# byte-identical to ours at that level), libdeflate 1 ~190 MB/s at 1.003x, libdeflate 6
# ~100 MB/s at 1.001x, libdeflate 7 ~85 MB/s. isal 1 and 2 (~400 MB/s) write 1.04x, too
# much bigger to be a default.
DEFAULT_ENGINE = ("isal", 3)
# Room for one deflate stream of a block's payload (stored blocks add 5 bytes per 64 KiB).
_BODY_ROOM = MAX_BLOCK_SIZE + 1024


class _LibdeflateCompressor:
    """libdeflate compressors by level, kept for the process, writing into one buffer.

    The `deflate` package allocates a compressor per call (hundreds of KB set up for the
    higher levels); through ctypes the compressor and the output buffer are reused.
    """

    def __init__(self, lib: ctypes.CDLL):
        lib.libdeflate_alloc_compressor.restype = ctypes.c_void_p
        lib.libdeflate_alloc_compressor.argtypes = [ctypes.c_int]
        fn = lib.libdeflate_deflate_compress
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                       ctypes.c_size_t]
        fn.restype = ctypes.c_size_t
        self._lib = lib
        self._fn = fn
        self._handles: dict[int, int] = {}
        self._out = ctypes.create_string_buffer(_BODY_ROOM)
        self._out_addr = ctypes.addressof(self._out)

    def compress(self, address: int, size: int, level: int) -> bytes | None:
        """Raw DEFLATE of `size` bytes at `address`, libdeflate `level` (1..12); None if
        the result would not fit a block."""
        handle = self._handles.get(level)
        if handle is None:
            handle = self._lib.libdeflate_alloc_compressor(level)
            if not handle:
                raise MemoryError("libdeflate_alloc_compressor failed")
            self._handles[level] = handle
        n = self._fn(handle, address, size, self._out_addr, _BODY_ROOM)
        return ctypes.string_at(self._out_addr, n) if n else None


_COMPRESSOR: _LibdeflateCompressor | None = None
_COMPRESSOR_TRIED = False


def _libdeflate_compressor() -> _LibdeflateCompressor | None:
    global _COMPRESSOR, _COMPRESSOR_TRIED
    if not _COMPRESSOR_TRIED:
        _COMPRESSOR_TRIED = True
        found = _libdeflate()
        if found is not None:
            try:
                _COMPRESSOR = _LibdeflateCompressor(found._lib)
            except AttributeError:
                _COMPRESSOR = None
    return _COMPRESSOR


def _isal() -> Any:
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def _stored(data: Any) -> bytes:
    """`data` as one stored (uncompressed) DEFLATE block; a BGZF payload always fits one."""
    n = len(data)
    return b"\x01" + _U16.pack(n) + _U16.pack(n ^ 0xFFFF) + bytes(data)


def _deflate_raw(data: memoryview, level: int | None, address: int | None = None) -> bytes:
    """Raw DEFLATE of one block's payload: `level` None is DEFAULT_ENGINE, 0 stores,
    1..12 are libdeflate's levels (zlib's 1..9 when libdeflate is missing). `address` is
    where `data` starts in memory, when the caller knows it."""
    if level == 0:
        return _stored(data)
    if level is None:
        isal_zlib = _isal()
        if isal_zlib is not None:
            return isal_zlib.compress(data, DEFAULT_ENGINE[1], -15)
        level = 1  # libdeflate's fastest is the next best (1.003x libdeflate 7's size)
    compressor = _libdeflate_compressor()
    if compressor is not None:
        if address is None:
            data = memoryview(bytes(data))
            address = _address(data.obj)
        body = compressor.compress(address, len(data), max(1, min(level, 12)))
        return body if body is not None else _stored(data)
    compressor_z = zlib.compressobj(max(1, min(level, 9)), zlib.DEFLATED, -15)
    return compressor_z.compress(data) + compressor_z.flush()


def _crc32() -> Any:
    isal_zlib = _isal()
    # isal's CRC32 runs at tens of GB/s, zlib's at ~4 GB/s.
    return isal_zlib.crc32 if isal_zlib is not None else zlib.crc32


def _block_parts(data: memoryview, level: int | None, crc32: Any, parts: list[bytes],
                 address: int | None = None) -> None:
    body = _deflate_raw(data, level, address)
    if len(body) + HEADER_SIZE + FOOTER_SIZE > MAX_BLOCK_SIZE:
        body = _stored(data)  # incompressible: stored blocks always fit
    total = len(body) + HEADER_SIZE + FOOTER_SIZE
    # mtime 0 and OS 255 (unknown) keep the output byte-identical from run to run.
    parts.append(_HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, total - 1))
    parts.append(body)
    parts.append(_FOOTER.pack(crc32(data), len(data)))


def compress_block(data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """One BGZF block holding `data` (at most MAX_PAYLOAD bytes)."""
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"a BGZF block holds at most {MAX_PAYLOAD} bytes")
    parts: list[bytes] = []
    _block_parts(memoryview(data).cast("B"), level, _crc32(), parts)
    return b"".join(parts)


def compress_payload(data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """`data` as BGZF blocks of at most 65280 input bytes each (no EOF block appended).

    Deterministic: the same bytes and level give the same output, so chunks compressed by
    different workers concatenate into a valid file. `level` None means DEFAULT_ENGINE
    (isal 3, else libdeflate 1); 0 stores without compression; 1..12 are libdeflate's.
    """
    # Slices of a memoryview are views: no block's payload is copied before compression.
    view = memoryview(data).cast("B")
    if not len(view):
        return b""
    crc32 = _crc32()
    # libdeflate is reached by address (taken once; `view` keeps the buffer alive).
    base = _address(view) if level and _libdeflate_compressor() is not None else None
    parts: list[bytes] = []
    for i in range(0, len(view), MAX_PAYLOAD):
        _block_parts(view[i : i + MAX_PAYLOAD], level, crc32, parts,
                     None if base is None else base + i)
    return b"".join(parts)


class BgzfWriter:
    """A binary stream that writes BGZF to `handle`, in full blocks, ending with EOF_BLOCK."""

    def __init__(self, handle: BinaryIO, level: int | None = None):
        self._handle = handle
        self._level = level
        self._buf = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        if len(self._buf) >= MAX_PAYLOAD:
            whole = len(self._buf) - len(self._buf) % MAX_PAYLOAD
            self._handle.write(compress_payload(bytes(self._buf[:whole]), self._level))
            del self._buf[:whole]
        return len(data)

    def flush_block(self) -> None:
        """End the current block here (so the next write starts a new block)."""
        if self._buf:
            self._handle.write(compress_payload(bytes(self._buf), self._level))
            self._buf.clear()

    def close(self) -> None:
        self.flush_block()
        self._handle.write(EOF_BLOCK)
        self._handle.flush()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drop_mapped_pages(src: Any, start: int, end: int) -> int:
    """Let the kernel reclaim the mapped input in [start, end) (page-aligned inside): read
    once, it would otherwise stay in this process's resident set, which would then grow with
    the input. Returns where the next drop starts."""
    page = mmap.PAGESIZE
    lo = -(-start // page) * page
    hi = end // page * page
    if hi > lo and isinstance(src, mmap.mmap):
        try:
            src.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (AttributeError, OSError, ValueError):
            pass
    return max(hi, start)


def append_block(src: Any, address: int, inflater: Inflater, buf: Any, fill: int, lo: int,
                 end_addr: int | None, end_within: int, display: str,
                 pad: int = 0) -> tuple[Any, int, int, bool]:
    """Inflate the block at `address` of a mapped file and append its bytes from `lo` (up to
    `end_within` when it is the range's last block, `end_addr`) to the numpy buffer `buf` at
    `fill`, growing it (with `pad` spare bytes) when needed.

    Returns (buf, fill, address of the next block, whether this was the last block).
    """
    import numpy as np

    total = block_size(src, address)
    if address + total > len(src):
        raise DataError(f"truncated BGZF block at byte {address}", path=display)
    isize = block_isize(src, address, total)
    if fill + isize + pad > len(buf):
        grown = np.empty(max(2 * len(buf), fill + isize + pad), np.uint8)
        grown[:fill] = buf[:fill]
        buf = grown
    inflater.inflate_into(address, total, buf, fill, buf.ctypes.data)
    last = address == end_addr
    hi = min(end_within, isize) if last else isize
    if lo:
        buf[fill:fill + max(hi - lo, 0)] = buf[fill + lo:fill + hi].copy()
    return buf, fill + max(hi - lo, 0), address + total, last
