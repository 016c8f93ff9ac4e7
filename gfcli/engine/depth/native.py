"""The depth kernels as precompiled native code, loaded with llvmlite (no numba import).

The same mechanism as `gfcli.engine.bam.native` (numba `cfunc`s compiled once per machine
into object files in the numba cache directory, loaded with MCJIT and called through
ctypes), for the kernels of `gfcli.engine.bam.depth_kernels`. `kernels()` hides which
one runs: its functions take numpy arrays either way. If anything in the native path
fails, the numba kernels are used.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

_P = ctypes.c_void_p
_I = ctypes.c_int64
SIGNATURES: dict[str, tuple[Any, ...]] = {
    "depth_walk": (_I, _P, _I, _I, _I, _P, _P, _I, _P, _I, _P, _P, _I, _P, _I, _P),
    "hash_rehash": (_I, _P, _P, _I, _P, _P, _I),
    "format_rows": (_I, _P, _I, _P, _I, _I, _I, _P, _I, _P, _P, _I),
    "format_runs": (_I, _P, _I, _P, _I, _I, _P, _P, _I),
    "cumsum_inplace": (_I, _P, _I),
    "region_stats": (_I, _P, _I, _P, _P, _I, _I, _P, _P, _P, _P, _P, _I, _P, _I, _P, _P, _I),
}

_KERNELS: Any = None


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.bam import depth_kernels as k

    u8p = types.CPointer(types.uint8)
    i32p = types.CPointer(types.int32)
    i64p = types.CPointer(types.int64)
    f64p = types.CPointer(types.float64)
    i64 = types.int64

    def walk(bufp, start, limit, end, paramsp, diffp, n_diff, spansp, spans_cap, keysp, valsp,
             hcap, poolp, pool_cap, statep):
        return k.depth_walk(carray(bufp, (end,)), start, limit, end,
                            carray(paramsp, (k.N_PARAMS,)), carray(diffp, (n_diff,)), n_diff,
                            carray(spansp, (2 * spans_cap,)), spans_cap,
                            carray(keysp, (hcap,)), carray(valsp, (hcap * k.N_VALS,)), hcap,
                            carray(poolp, (pool_cap,)), pool_cap, carray(statep, (k.N_STATE,)))

    def rehash(okp, ovp, ocap, kp, vp, cap):
        return k.hash_rehash(carray(okp, (ocap,)), carray(ovp, (ocap * k.N_VALS,)), ocap,
                             carray(kp, (cap,)), carray(vp, (cap * k.N_VALS,)), cap)

    def rows(namep, n_name, covp, n_files, stride, off, ivalsp, n_ivals, resumep, outp, cap):
        return k.format_rows(carray(namep, (n_name,)), n_name, carray(covp, (n_files * stride,)),
                             n_files, stride, off, carray(ivalsp, (2 * n_ivals,)), n_ivals,
                             carray(resumep, (2,)), carray(outp, (cap,)), cap)

    def runs(namep, n_name, covp, beg, end, resumep, outp, cap):
        return k.format_runs(carray(namep, (n_name,)), n_name, carray(covp, (end,)), beg, end,
                             carray(resumep, (1,)), carray(outp, (cap,)), cap)

    def cumsum(diffp, n):
        return k.cumsum_inplace(carray(diffp, (n,)), n)

    def stats(covp, n_cov, begsp, endsp, n, median, meansp, sumsp, minsp, maxsp, histp, n_hist,
              thrp, n_thr, thrcp, scratchp, n_scratch):
        k.region_stats(carray(covp, (n_cov,)), n_cov, carray(begsp, (n,)), carray(endsp, (n,)),
                       n, median, carray(meansp, (n,)), carray(sumsp, (n,)),
                       carray(minsp, (n,)), carray(maxsp, (n,)), carray(histp, (n_hist,)),
                       n_hist, carray(thrp, (n_thr,)), n_thr,
                       carray(thrcp, (n * n_thr,)), carray(scratchp, (n_scratch,)), n_scratch)
        return 0

    return {
        "depth_walk": cfunc(i64(u8p, i64, i64, i64, i64p, i32p, i64, i64p, i64, i64p, i64p, i64,
                                i64p, i64, i64p))(walk),
        "hash_rehash": cfunc(i64(i64p, i64p, i64, i64p, i64p, i64))(rehash),
        "format_rows": cfunc(i64(u8p, i64, i32p, i64, i64, i64, i64p, i64, i64p, u8p,
                                 i64))(rows),
        "format_runs": cfunc(i64(u8p, i64, i32p, i64, i64, i64p, u8p, i64))(runs),
        "cumsum_inplace": cfunc(i64(i32p, i64))(cumsum),
        "region_stats": cfunc(i64(i32p, i64, i64p, i64p, i64, i64, f64p, i64p, i64p, i64p, i64p,
                                  i64, i64p, i64, i64p, i64p, i64))(stats),
    }


def _sources() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    bam = os.path.join(here, "..", "bam")
    return [os.path.join(bam, "depth_kernels.py"), os.path.join(bam, "kernels.py"),
            os.path.abspath(__file__)]


def load() -> dict[str, Any] | None:
    """The native depth kernels by name (built on first use), or None."""
    from gfcli.engine.bam.nativekit import KernelSet

    global _SET
    if _SET is None:
        _SET = KernelSet("depth", _sources(), SIGNATURES, _build)
    return _SET.load()


_SET: Any = None


def _a(array: Any) -> int:
    return array.ctypes.data


class _Native:
    def __init__(self, fns: dict[str, Any]):
        self.f = fns

    def depth_walk(self, batcher, start, limit, end, params, diff, spans, keys, vals, pool,
                   state) -> int:
        return int(self.f["depth_walk"](batcher.addr, start, limit, end, _a(params), _a(diff),
                                        len(diff), _a(spans), len(spans) // 2, _a(keys),
                                        _a(vals), len(keys), _a(pool), len(pool), _a(state)))

    def hash_rehash(self, ok, ov, k, v) -> int:
        return int(self.f["hash_rehash"](_a(ok), _a(ov), len(ok), _a(k), _a(v), len(k)))

    def format_rows(self, name, cov, n_files, stride, off, ivals, resume, out) -> int:
        return int(self.f["format_rows"](_a(name), len(name), _a(cov), n_files, stride, off,
                                         _a(ivals), len(ivals) // 2, _a(resume), _a(out),
                                         len(out)))

    def format_runs(self, name, cov, beg, end, resume, out) -> int:
        return int(self.f["format_runs"](_a(name), len(name), _a(cov), beg, end, _a(resume),
                                         _a(out), len(out)))

    def cumsum_inplace(self, diff, n) -> int:
        return int(self.f["cumsum_inplace"](_a(diff), n))

    def region_stats(self, cov, n_cov, begs, ends, median, means, sums, mins, maxs, hist,
                     thresholds, thr_counts, scratch) -> None:
        self.f["region_stats"](_a(cov), n_cov, _a(begs), _a(ends), len(begs), int(median),
                               _a(means), _a(sums), _a(mins), _a(maxs), _a(hist), len(hist),
                               _a(thresholds), len(thresholds), _a(thr_counts), _a(scratch),
                               len(scratch))


class _Numba:
    def __init__(self) -> None:
        from gfcli.engine.bam import depth_kernels

        self.k = depth_kernels

    def depth_walk(self, batcher, start, limit, end, params, diff, spans, keys, vals, pool,
                   state) -> int:
        return int(self.k.depth_walk(batcher.array(), start, limit, end, params, diff, len(diff),
                                     spans, len(spans) // 2, keys, vals, len(keys), pool,
                                     len(pool), state))

    def hash_rehash(self, ok, ov, k, v) -> int:
        return int(self.k.hash_rehash(ok, ov, len(ok), k, v, len(k)))

    def format_rows(self, name, cov, n_files, stride, off, ivals, resume, out) -> int:
        return int(self.k.format_rows(name, len(name), cov, n_files, stride, off, ivals,
                                      len(ivals) // 2, resume, out, len(out)))

    def format_runs(self, name, cov, beg, end, resume, out) -> int:
        return int(self.k.format_runs(name, len(name), cov, beg, end, resume, out, len(out)))

    def cumsum_inplace(self, diff, n) -> int:
        return int(self.k.cumsum_inplace(diff, n))

    def region_stats(self, cov, n_cov, begs, ends, median, means, sums, mins, maxs, hist,
                     thresholds, thr_counts, scratch) -> None:
        self.k.region_stats(cov, n_cov, begs, ends, len(begs), int(median), means, sums, mins,
                            maxs, hist, len(hist), thresholds, len(thresholds), thr_counts,
                            scratch, len(scratch))


def kernels() -> Any:
    """The depth kernels (native when possible), with numpy-array arguments."""
    global _KERNELS
    if _KERNELS is None:
        fns = load()
        _KERNELS = _Native(fns) if fns is not None else _Numba()
    return _KERNELS
