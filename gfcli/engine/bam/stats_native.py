"""`gfcli stats` alignment kernels callable without numba (see `nativekit`).

`stats_kernels.stats_records` and `gcd_replay` are precompiled as a `nativekit.KernelSet`
and called through ctypes. Importing numba and dispatching the cached kernels costs
~0.7 s of CPU per process: with `-@ 2` that is paid by both workers and by the parent
(which replays GC-depth events while merging), as much as a tenth of the whole run.
Each call passes a table of array addresses and a table of their shapes (three
dimensions per array); `Call` keeps those tables and rebuilds them only when an array
is replaced (grown, or a new reference window). When the native set is unavailable
(GFCLI_NO_NATIVE=1, or a build failure) the numba kernels run on the same arrays.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gfcli.engine.bam.nativekit import I64, KernelSet, P

_HERE = os.path.dirname(os.path.abspath(__file__))

# stats_records' array arguments after (buf, start, limit, end), in order: (dtype, rank)
RECORDS_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("sc", np.int64, 1), ("cfg", np.int64, 1), ("quals", np.int64, 1),
    ("bases", np.int64, 1), ("rlen", np.int64, 2), ("indel", np.int64, 2),
    ("icyc", np.int64, 2), ("gcfl", np.int64, 2), ("isz", np.int64, 2),
    ("mapq", np.int64, 1), ("cov", np.int64, 1), ("ring", np.int64, 1),
    ("cov_head", np.int64, 1), ("mpc", np.int64, 2), ("gcd_gc", np.float32, 1),
    ("gcd_depth", np.int64, 1), ("gcd_tid", np.int64, 1), ("gcd_pos", np.int64, 1),
    ("head_pos", np.int64, 1), ("head_len", np.int64, 1), ("head_frac", np.float32, 1),
    ("refw", np.uint8, 1), ("reg_beg", np.int64, 1), ("reg_end", np.int64, 1),
    ("reg_off", np.int64, 1), ("reg_cpos", np.int64, 1), ("chunk_beg", np.int64, 1),
    ("chunk_end", np.int64, 1), ("clens", np.int64, 1), ("per_tid", np.int64, 1),
    ("crc_table", np.uint32, 2), ("result", np.int64, 1), ("ms", np.int64, 1),
    ("ring_old", np.int64, 1),
)
# gcd_replay's arrays; its ints are (n, fai, binsize) and come after `fracs`
REPLAY_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("ms", np.int64, 1), ("gcd_gc", np.float32, 1), ("gcd_depth", np.int64, 1),
    ("gcd_tid", np.int64, 1), ("gcd_pos", np.int64, 1), ("tids", np.int64, 1),
    ("poss", np.int64, 1), ("lens", np.int64, 1), ("fracs", np.float32, 1),
    ("clens", np.int64, 1),
)

SIGNATURES: dict[str, tuple[Any, ...]] = {
    # (buf*, ints* [start, limit, end, buf size], ptrs*, shapes*) -> status
    "stats_records": (I64, P, P, P, P),
    # (ints* [n, fai, binsize], ptrs*, shapes*) -> status
    "gcd_replay": (I64, P, P, P),
}


def _carrays(spec: Sequence[tuple[str, Any, int]]) -> list[str]:
    lines = []
    for i, (_name, dtype, rank) in enumerate(spec):
        dims = ", ".join(f"shapes[{3 * i + d}]" for d in range(rank))
        kind = np.dtype(dtype).name
        lines.append(f"    a{i} = carray(_voidptr(ptrs[{i}]), ({dims},), np.{kind})")
    return lines


def _sources() -> str:
    """The cfunc wrappers: each carray needs its literal dtype and rank."""
    n_rec = len(RECORDS_ARGS)
    rec = ["def records(bufp, intsp, ptrsp, shapesp):",
           "    ints = carray(intsp, (4,))",
           f"    ptrs = carray(ptrsp, ({n_rec},))",
           f"    shapes = carray(shapesp, ({3 * n_rec},))",
           "    buf = carray(bufp, (ints[3],))",
           *_carrays(RECORDS_ARGS),
           "    return stats_records(buf, ints[0], ints[1], ints[2], "
           + ", ".join(f"a{i}" for i in range(n_rec)) + ")"]
    n_rep = len(REPLAY_ARGS)
    rep = ["def replay(intsp, ptrsp, shapesp):",
           "    ints = carray(intsp, (3,))",
           f"    ptrs = carray(ptrsp, ({n_rep},))",
           f"    shapes = carray(shapesp, ({3 * n_rep},))",
           *_carrays(REPLAY_ARGS),
           "    return gcd_replay(" + ", ".join(f"a{i}" for i in range(n_rep - 1))
           + f", ints[0], ints[1] != 0, ints[2], a{n_rep - 1})"]
    return "\n".join(rec) + "\n\n\n" + "\n".join(rep) + "\n"


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from gfcli.engine.bam import stats_kernels

    @intrinsic
    def _voidptr(typingctx, src):
        def codegen(cgctx, builder, sig, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)

        return types.voidptr(src), codegen

    scope: dict[str, Any] = {"carray": carray, "_voidptr": _voidptr, "np": np,
                             "stats_records": stats_kernels.stats_records,
                             "gcd_replay": stats_kernels.gcd_replay}
    exec(_sources(), scope)  # noqa: S102 - generated from the tables above
    i64p = types.CPointer(types.int64)
    u8p = types.CPointer(types.uint8)
    return {
        "stats_records": cfunc(types.int64(u8p, i64p, i64p, i64p))(scope["records"]),
        "gcd_replay": cfunc(types.int64(i64p, i64p, i64p))(scope["replay"]),
    }


KERNELS = KernelSet(
    "alnstats",
    [os.path.join(_HERE, "stats_kernels.py"), os.path.join(_HERE, "stats_layout.py"),
     os.path.join(_HERE, "kernels.py"),
     os.path.abspath(__file__), os.path.join(_HERE, "nativekit.py")],
    SIGNATURES,
    _build,
)


def load() -> dict[str, Callable[..., int]] | None:
    """The native kernels by name (built once per machine); None if unavailable."""
    return KERNELS.load()


def tables(spec: Sequence[tuple[str, Any, int]],
           arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, shapes) of `arrays`, checked against `spec` (a wrong dtype, rank or a
    non-contiguous array would be read as garbage by the kernel)."""
    ptrs = np.empty(len(spec), np.int64)
    shapes = np.zeros(3 * len(spec), np.int64)
    for i, ((name, dtype, rank), arr) in enumerate(zip(spec, arrays, strict=True)):
        if arr.dtype != dtype or arr.ndim != rank or not arr.flags.c_contiguous:
            raise TypeError(f"{name}: {arr.dtype} rank {arr.ndim}, "
                            f"contiguous={arr.flags.c_contiguous}")
        ptrs[i] = arr.__array_interface__["data"][0]
        shapes[3 * i:3 * i + rank] = arr.shape
    return ptrs, shapes


def gcd_replay(ms: np.ndarray, gcd_gc: np.ndarray, gcd_depth: np.ndarray,
               gcd_tid: np.ndarray, gcd_pos: np.ndarray, tids: np.ndarray, poss: np.ndarray,
               lens: np.ndarray, fracs: np.ndarray, n: int, fai: bool, binsize: int,
               clens: np.ndarray) -> int:
    """stats_kernels.gcd_replay, native when available."""
    native = load()
    if native is None:
        from gfcli.engine.bam import stats_kernels

        return int(stats_kernels.gcd_replay(ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tids,
                                            poss, lens, fracs, n, fai, binsize, clens))
    arrays = (ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tids, poss, lens, fracs, clens)
    ptrs, shapes = tables(REPLAY_ARGS, arrays)
    ints = np.array([n, 1 if fai else 0, binsize], np.int64)
    return int(native["gcd_replay"](ints.ctypes.data, ptrs.ctypes.data, shapes.ctypes.data))
