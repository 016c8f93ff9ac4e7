"""The raw-record kernels view and filter run on every record, callable without numba.

`format_records`, `record_offsets` (samtext), `decode_records` (kernels),
`gather_records` and `check_records` (filterkernels) are precompiled into shared
libraries (`sharedlib`, loaded with ctypes in ~1 ms, no llvmlite in the process: ~70 MB
less resident memory), else as a `nativekit.KernelSet` (llvmlite's MCJIT) where there is
no C compiler; when neither is available the numba versions run. Arguments are numpy
arrays as the numba kernels take them; results are the numba kernels' results.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import numpy as np

P = ctypes.c_void_p  # = nativekit.P / I64 (not imported: nativekit loads hashlib)
I64 = ctypes.c_int64

_HERE = os.path.dirname(os.path.abspath(__file__))

SIGNATURES: dict[str, tuple[Any, ...]] = {
    # (buf, buflen, offsets, n, first, names, n_names, name_off, n_ref, out, outlen, p,
    #  line_end, fallback, result*) -> 0
    "format_records": (I64, P, I64, P, I64, I64, P, I64, P, I64, P, I64, I64, P, P, P),
    # (buf, start, end, out, cap) -> n
    "record_offsets": (I64, P, I64, I64, P, I64),
    # (buf, start, limit, end, out, cap, result*) -> status
    "decode_records": (I64, P, I64, I64, I64, P, I64, P),
    # (buf, offsets, n, keep, want, out) -> bytes
    "gather_records": (I64, P, P, I64, P, I64, P),
    # (buf, start, end, n_ref, result*) -> records or status
    "check_records": (I64, P, I64, I64, I64, P),
}


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.bam import filterkernels, kernels, samtext

    u8p = types.CPointer(types.uint8)
    i64p = types.CPointer(types.int64)
    i64 = types.int64

    def fmt(bufp, buflen, offp, n, first, namesp, n_names, name_offp, n_ref, outp, outlen, p,
            line_endp, fallbackp, resultp):
        buf = carray(bufp, (buflen,))
        offsets = carray(offp, (n,))
        names = carray(namesp, (n_names,))
        name_off = carray(name_offp, (n_ref + 1,))
        out = carray(outp, (outlen,))
        line_end = carray(line_endp, (n,))
        fallback = carray(fallbackp, (n,))
        result = carray(resultp, (2,))
        i, q = samtext.format_records(buf, offsets, first, names, name_off, n_ref, out, p,
                                      line_end, fallback)
        result[0] = i
        result[1] = q
        return 0

    def offs(bufp, start, end, outp, cap):
        buf = carray(bufp, (end,))
        out = carray(outp, (cap,))
        return samtext.record_offsets(buf, start, end, out)

    def decode(bufp, start, limit, end, outp, cap, resultp):
        buf = carray(bufp, (end,))
        out = carray(outp, (kernels.N_COLUMNS, cap))
        result = carray(resultp, (2,))
        n, nxt, status = kernels.decode_records(buf, start, limit, end, out, cap)
        result[0] = n
        result[1] = nxt
        return status

    def gather(bufp, offp, n, keepp, want, outp):
        buf = carray(bufp, (1 << 62,))
        offsets = carray(offp, (n,))
        keep = carray(keepp, (n,))
        out = carray(outp, (1 << 62,))
        return filterkernels.gather_records(buf, offsets, keep, want, out)

    def check(bufp, start, end, n_ref, resultp):
        return filterkernels.check_records(carray(bufp, (end,)), start, end, n_ref,
                                           carray(resultp, (1,)))

    return {
        "format_records": cfunc(i64(u8p, i64, i64p, i64, i64, u8p, i64, i64p, i64, u8p, i64,
                                    i64, i64p, u8p, i64p))(fmt),
        "record_offsets": cfunc(i64(u8p, i64, i64, i64p, i64))(offs),
        "decode_records": cfunc(i64(u8p, i64, i64, i64, i64p, i64, i64p))(decode),
        "gather_records": cfunc(i64(u8p, i64p, i64, u8p, i64, u8p))(gather),
        "check_records": cfunc(i64(u8p, i64, i64, i64, i64p))(check),
    }


SOURCES = [os.path.join(_HERE, name) for name in ("rawkernels.py", "samtext.py", "kernels.py",
                                                  "filterkernels.py", "nativekit.py")]
BUILD_TAG = "rawkernels-x86-64-baseline-1"  # bumped when the way the libraries are built changes


def _load_mcjit() -> dict[str, Callable[..., int]] | None:
    from gfcli.engine.bam.nativekit import KernelSet

    return KernelSet("rawkernels", SOURCES, SIGNATURES, _build).load()


class _Kernels:
    """The set, loaded once per process (forked workers inherit it); None: numba."""

    def __init__(self) -> None:
        self._loaded: list[dict[str, Callable[..., int]] | None] = []

    def load(self) -> dict[str, Callable[..., int]] | None:
        if not self._loaded:
            from gfcli.engine.bam.sharedlib import load_native

            self._loaded.append(load_native("rawkernels", SOURCES, BUILD_TAG, SIGNATURES,
                                            _build, _load_mcjit))
        return self._loaded[0]


KERNELS = _Kernels()


def _addr(a: np.ndarray) -> int:
    return a.ctypes.data


def format_records(buf, offsets, first, names, name_off, n_ref, out, p, line_end, fallback
                   ) -> tuple[int, int]:
    native = KERNELS.load()
    if native is not None:
        result = np.zeros(2, dtype=np.int64)
        native["format_records"](_addr(buf), len(buf), _addr(offsets), len(offsets), first,
                                 _addr(names), len(names), _addr(name_off), n_ref, _addr(out),
                                 len(out), p, _addr(line_end), _addr(fallback), _addr(result))
        return int(result[0]), int(result[1])
    from gfcli.engine.bam import samtext

    i, q = samtext.format_records(buf, offsets, first, names, name_off, n_ref, out, p,
                                  line_end, fallback)
    return int(i), int(q)


def record_offsets(buf, start, end, out) -> int:
    native = KERNELS.load()
    if native is not None:
        return int(native["record_offsets"](_addr(buf), start, end, _addr(out), len(out)))
    from gfcli.engine.bam import samtext

    return int(samtext.record_offsets(buf, start, end, out))


def decode_records(buf, start, limit, end, out, cap) -> tuple[int, int, int]:
    native = KERNELS.load()
    if native is not None:
        result = np.zeros(2, dtype=np.int64)
        status = native["decode_records"](_addr(buf), start, limit, end, _addr(out), cap,
                                          _addr(result))
        return int(result[0]), int(result[1]), int(status)
    from gfcli.engine.bam import kernels

    n, nxt, status = kernels.decode_records(buf, start, limit, end, out, cap)
    return int(n), int(nxt), int(status)


def gather_records(buf, offsets, keep, want, out) -> int:
    native = KERNELS.load()
    if native is not None:
        return int(native["gather_records"](_addr(buf), _addr(offsets), len(offsets),
                                            _addr(keep), int(want), _addr(out)))
    from gfcli.engine.bam import filterkernels

    return int(filterkernels.gather_records(buf, offsets, keep, want, out))




def check_records(buf, start, end, n_ref) -> tuple[int, int]:
    """(records or a negative status, the record at fault); see filterkernels.check_records."""
    result = np.zeros(1, dtype=np.int64)
    native = KERNELS.load()
    if native is not None:
        got = native["check_records"](_addr(buf), start, end, n_ref, _addr(result))
        return int(got), int(result[0])
    from gfcli.engine.bam import filterkernels

    got = filterkernels.check_records(buf, start, end, n_ref, result)
    return int(got), int(result[0])
