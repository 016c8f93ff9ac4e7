"""flagstat's hot kernels as native code loaded without numba.

First choice: shared libraries linked once per machine by the system C compiler and loaded
with ctypes (`sharedlib`, ~1 ms); without a compiler, llvmlite's MCJIT (`nativekit`, which
imports llvmlite and hashlib: ~100 ms per run); if both fail (or GFCLI_NO_NATIVE=1), `load`
returns None and callers use the numba kernels.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

I64 = ctypes.c_int64
P = ctypes.c_void_p

# name -> ctypes prototype (all arguments are addresses or int64)
SIGNATURES: dict[str, tuple[Any, ...]] = {
    # (buf, start, limit, end, n_ref, counts*, result*) -> status
    "flagstat_records": (I64, P, I64, I64, I64, I64, P, P),
    # (buf, start, end, n_ref, chain, eof) -> position or -1
    "find_record_start": (I64, P, I64, I64, I64, I64, I64),
}


def _build() -> dict[str, Any]:
    """The kernels' cfunc wrappers, compiled with numba."""
    from numba import carray, cfunc, types

    from gfcli.engine.bam import kernels

    u8p = types.CPointer(types.uint8)
    i64p = types.CPointer(types.int64)
    i64 = types.int64

    def flagstat(bufp, start, limit, end, n_ref, countsp, resultp):
        buf = carray(bufp, (end,))
        counts = carray(countsp, (32,))
        result = carray(resultp, (2,))
        return kernels.flagstat_records(buf, start, limit, end, n_ref, counts, result)

    def find_start(bufp, start, end, n_ref, chain, eof):
        buf = carray(bufp, (end,))
        return kernels.find_record_start(buf, start, end, n_ref, chain, eof != 0)

    return {
        "flagstat_records": cfunc(i64(u8p, i64, i64, i64, i64, i64p, i64p))(flagstat),
        "find_record_start": cfunc(i64(u8p, i64, i64, i64, i64, i64))(find_start),
    }


_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [os.path.join(_HERE, "kernels.py"), os.path.abspath(__file__)]
BUILD_TAG = "flagstat-x86-64-baseline-1"  # bumped when the way the libraries are built changes

_LOADED: list[dict[str, Callable[..., int]] | None] = []  # one entry once load() has run


def _load_mcjit() -> dict[str, Callable[..., int]] | None:
    from gfcli.engine.bam.nativekit import KernelSet

    return KernelSet("native", SOURCES, SIGNATURES, _build).load()


def load() -> dict[str, Callable[..., int]] | None:
    """The native kernels by name, building them on first use; None if unavailable.
    Loaded once per process (forked workers inherit them)."""
    if _LOADED:
        return _LOADED[0]
    from gfcli.engine.bam.sharedlib import load_native

    kernels = load_native("native", SOURCES, BUILD_TAG, SIGNATURES, _build, _load_mcjit)
    _LOADED.append(kernels)
    return kernels
