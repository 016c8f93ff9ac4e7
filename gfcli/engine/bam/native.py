"""flagstat's hot kernels as native code loaded without numba (see `nativekit`).

If anything in that path fails, `load` returns None and callers use the numba kernels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gfcli.engine.bam.nativekit import I64, KernelSet, P

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
KERNELS = KernelSet(
    "native",
    [os.path.join(_HERE, "kernels.py"), os.path.abspath(__file__)],
    SIGNATURES,
    _build,
)


def load() -> dict[str, Callable[..., int]] | None:
    """The native kernels by name, building them on first use; None if unavailable."""
    return KERNELS.load()
