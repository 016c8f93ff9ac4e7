"""Runs of consecutive BGZF blocks of a mapped file inflated by one native call.

Inflating block by block from Python costs ~12 us of interpreter work per block (header
parse, footer unpack, two ctypes calls), ~0.23 s of the 2.0 s that inflating a 492 MB BAM
takes. `bgzf_native.c` walks the blocks in C and calls libdeflate through function pointers
taken from the library `bgzf._libdeflate()` already loaded, so the Python overhead is one
call per run and the GIL is released for the whole run (ctypes drops it), which lets a
second thread inflate or count at the same time.

The C file is compiled once per machine by the system C compiler into the kernel cache
directory (`numba_cache.cache_dir()`), keyed by its source, the machine and the Python
version; a failed build is remembered there so later runs do not retry it. Without a
compiler, without libdeflate, or with GFCLI_NO_NATIVE_INFLATE=1, `inflater()` returns None
and callers keep their per-block Python loop (`bgzf.Inflater`).

API (stable; used by `bam.reader` and the direct BCF readers):

    inf = bgzf_native.inflater(data, display_name)      # NativeInflater or None
    run = inf.inflate(address, out, fill, target=..., capacity=..., stop_address=...)

`data` is the mapped file (an mmap or bytes, kept referenced by the caller); `out` a
writable numpy uint8 array or bytearray (or pass `out_addr` with `capacity`). Blocks from
`address` are inflated one after the other to out[fill:], each only if its whole ISIZE fits
below `capacity` (default len(out)), until fill >= `target` (default: capacity), the end of
the file, or a block at or past `stop_address`. `run.addresses[i]` / `run.starts[i]` are the
file address of each inflated block and where its data starts in `out` (virtual offsets);
`run.address` / `run.fill` where the next block and the next byte go; `run.reason` one of
END, STOP, FULL, TARGET. A bad block raises DataError with the messages of the Python path
("BGZF block at byte N: CRC32 mismatch", "truncated BGZF block at byte N", ...) naming
`display_name`; the blocks before it are not reported (the caller stops anyway).
`inf.span(address, want, stop_address)` returns the address after the blocks from `address`
whose ISIZEs reach `want` bytes, reading only headers (to cut a file into runs for threads).

One NativeInflater per thread: each owns a libdeflate decompressor.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from gfcli.engine import bgzf
from gfcli.engine.errors import DataError

END, STOP, FULL, TARGET = 0, 1, 2, 3
_TABLE = 4  # the block tables filled up: the wrapper calls again
_TABLE_SIZE = 4096
_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bgzf_native.c")

_I64 = ctypes.c_int64
_P = ctypes.c_void_p
_RUN_ARGS = [_P, _P, _P, _P, _I64, _I64, _P, _I64, _I64, _P, _P, _I64, _P]
_SPAN_ARGS = [_P, _I64, _I64, _I64, _I64, _P]


# the run function's error codes in the Python path's wording (bgzf.block_size,
# _MappedBlocks, bgzf.Inflater); {a} the block's address, {v} its bad value
_MESSAGES = {
    -1: "not a BGZF block at byte {a}",
    -2: "truncated BGZF block header at byte {a}",
    -3: "gzip block without a BGZF size field at byte {a}",
    -4: "truncated BGZF block at byte {a}",
    -5: "BGZF block at byte {a}: bad uncompressed size {v}",
    -6: "BGZF block at byte {a}: bad block size {v}",
    -7: "BGZF block at byte {a}: corrupt deflate data",
    -8: "BGZF block at byte {a}: CRC32 mismatch",
}


def error_message(code: int, address: int, value: int) -> str:
    """What error code `code` of the run function means, for the block at `address`."""
    text = _MESSAGES.get(code, "BGZF block at byte {a}: error " + str(code))
    return text.format(a=address, v=value)


class _Library:
    """The compiled run/span functions and libdeflate's entry points."""

    def __init__(self, lib: ctypes.CDLL, deflate: Any):
        self.lib = lib
        self.run = lib.gfcli_bgzf_inflate_run
        self.run.argtypes = _RUN_ARGS
        self.run.restype = _I64
        self.span = lib.gfcli_bgzf_span
        self.span.argtypes = _SPAN_ARGS
        self.span.restype = _I64
        self.deflate_lib = deflate._lib
        self.inflate_ptr = ctypes.cast(deflate._inflate, _P).value
        self.crc_ptr = ctypes.cast(deflate._crc, _P).value


_LIB: _Library | None = None
_TRIED = False
_LOCK = threading.Lock()  # two threads' first calls: one build, both see its result


_NAME, _TAG = "bgzf-native", "bgzf-native-1"


def _cache_path() -> str:
    from gfcli.engine.bam.sharedlib import c_library_path

    return c_library_path(_SOURCE, _NAME, _TAG)


def _load() -> _Library | None:
    if _TRIED:
        return _LIB
    with _LOCK:
        return _load_locked()


def _load_locked() -> _Library | None:
    global _LIB, _TRIED
    if _TRIED:
        return _LIB
    _TRIED = True
    if os.environ.get("GFCLI_NO_NATIVE_INFLATE"):
        return None
    deflate = bgzf._libdeflate()
    if deflate is None:
        return None
    from gfcli.engine.bam.sharedlib import load_c

    try:
        lib = load_c(_SOURCE, _NAME, _TAG)
        _LIB = None if lib is None else _Library(lib, deflate)
    except (OSError, AttributeError, RuntimeError):
        _LIB = None
    return _LIB


def available() -> bool:
    """Can runs be inflated natively here (building the library on first use)?"""
    return _load() is not None


@dataclass
class Run:
    """What one `NativeInflater.inflate` call did (see the module docstring)."""

    address: int
    fill: int
    reason: int
    addresses: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


def _buffer_address(buf: Any) -> int:
    if hasattr(buf, "ctypes"):
        return int(buf.ctypes.data)
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


class NativeInflater:
    """Inflates runs of blocks of one mapped file; one per thread (own decompressor)."""

    def __init__(self, lib: _Library, data: Any, name: str | None):
        self._lib = lib
        self.data = data
        self.name = name
        self.size = len(data)
        self._src = bgzf._address(data) if self.size else 0
        handle = lib.deflate_lib.libdeflate_alloc_decompressor()
        if not handle:
            raise MemoryError("libdeflate_alloc_decompressor failed")
        self._handle = handle
        self._free = lib.deflate_lib.libdeflate_free_decompressor
        self._addresses = (_I64 * _TABLE_SIZE)()
        self._starts = (_I64 * _TABLE_SIZE)()
        self._state = (_I64 * 5)()
        self._err = (_I64 * 1)()

    @property
    def run_address(self) -> int:
        """gfcli_bgzf_inflate_run's address, for C code that calls it (vbcfloop.c)."""
        return int(ctypes.cast(self._lib.run, _P).value or 0)

    @property
    def src_address(self) -> int:
        return self._src

    def inflate_handles(self) -> tuple[int, int, int]:
        """What the run function takes first: libdeflate's decompress and crc32, and this
        inflater's decompressor."""
        return self._lib.inflate_ptr, self._lib.crc_ptr, self._handle

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._free(handle)

    def inflate(self, address: int, out: Any, fill: int, *, target: int | None = None,
                capacity: int | None = None, stop_address: int | None = None,
                out_addr: int | None = None) -> Run:
        if capacity is None:
            capacity = len(out)
        if target is None:
            target = capacity
        dst = out_addr if out_addr is not None else _buffer_address(out)
        state = self._state
        state[0] = address
        state[1] = fill
        stop = -1 if stop_address is None else stop_address
        run = Run(address, fill, END)
        while True:
            n = self._lib.run(self._lib.inflate_ptr, self._lib.crc_ptr, self._handle, self._src,
                              self.size, stop, dst, target, capacity, self._addresses,
                              self._starts, _TABLE_SIZE, state)
            if n:
                run.addresses.extend(self._addresses[:n])
                run.starts.extend(self._starts[:n])
            reason = int(state[2])
            if reason < 0:
                raise DataError(error_message(reason, int(state[3]), int(state[4])),
                                path=self.name)
            if reason != _TABLE:
                break
        run.address = int(state[0])
        run.fill = int(state[1])
        run.reason = reason
        return run

    def span(self, address: int, want: int, stop_address: int | None = None) -> int:
        """The address after the blocks from `address` holding at least `want` bytes
        (or the end of the file / `stop_address`); headers and footers only."""
        got = self._lib.span(self._src, self.size, address,
                             -1 if stop_address is None else stop_address, want, self._err)
        if got < 0:
            raise DataError(error_message(int(got), int(self._err[0]), 0), path=self.name)
        return int(got)


def inflater(data: Any, name: str | None = None) -> NativeInflater | None:
    """A native inflater over the mapped file `data`, or None (use the Python loop)."""
    lib = _load()
    if lib is None:
        return None
    return NativeInflater(lib, data, name)
