"""The variant statistics kernels callable without numba.

`vkernels.update` and `vreadk.read_loop` are precompiled numba cfuncs, linked once per
machine into shared libraries loaded with ctypes (`bam.sharedlib`, ~1 ms; without a C
compiler a `nativekit.KernelSet` loaded with llvmlite's MCJIT), so a stats run neither
imports numba nor initialises its JIT target (together ~1 s per process, as long as the
whole pass over a million sites). Each kernel takes a table of array addresses and a table
of their element counts (and second dimensions), built here per call. When neither is
available (GFCLI_NO_NATIVE=1, or a build failure) the numba kernels run on the same arrays.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from gfcli.engine.bam.sharedlib import address_tables as _tables

_HERE = os.path.dirname(os.path.abspath(__file__))
I64 = ctypes.c_int64
P = ctypes.c_void_p

RING = 3  # bcf1_t the synced reader cycles through (vkernels.N_STALE)
RING_W = 64  # ALT indexes the ring remembers
# a ring entry no record of the chunk has set yet: reading one sets ring_state[1]
RING_UNSET = -(1 << 41)
SCRATCH_W = 1 << 16  # n_allele is 16 bits: update's per-allele scratch rows never grow
SCRATCH_ROWS = 7  # six per-allele rows, then SCRATCH_QHI
SCRATCH_QHI = 6  # update raises [SCRATCH_QHI, 0] to above every QUAL bin it counted in
# vkernels.update_ws's workspace (int64): fixed tables, then per sample N_OUT outcome
# counts and WS_PER_SAMPLE more values (genotype code, VAF list entry, DP sum, DP count)
N_OUT = 16
WS_PER_SAMPLE = 4
WS_DPS, WS_NDP = 2, 3  # which of them (after the codes and the list)
WS_H8 = 0  # 4 x 256: int8 FORMAT/DP values by byte, binned into dp_gt once per batch
WS_C1 = 1024  # 256: GT byte -> 2-bit code
WS_CLS = 1280  # 16: genotype code -> bcf_gt_type class
WS_PACK = 1296  # 16: genotype code -> its term of the packed class sum
# 1312..1327: unused
WS_OUT = 1328  # 16: genotype code -> outcome (set per record)
WS_NEED = 1344  # 16: genotype code -> 1 when the VAF step looks at it (set per record)
WS_NFAST = 1360  # records counted by the table path in this batch
WS_VAF_READY = 1361  # 1 once WS_VAF holds its table (built on a process's first batch)
WS_VAF = 1376  # 256 x 256: int8 AD[1] byte, FORMAT/DP byte -> VAF step (vkernels._vaf_entry)
WS_FIXED = WS_VAF + (1 << 16)


def ws_size(n_sel: int) -> int:
    return WS_FIXED + (N_OUT + WS_PER_SAMPLE) * n_sel

# vkernels.update's arguments after `n`, in order: (name, numpy dtype, rank). For rank 2 the
# second dimension travels in `lens` right after the element count.
UPDATE_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("heads", np.uint8, 2), ("s_off", np.int64, 1), ("shared", np.uint8, 1),
    ("i_off", np.int64, 1), ("indiv", np.uint8, 1), ("params", np.int64, 1),
    ("bins", np.float32, 1), ("filter_ids", np.int64, 1), ("sample_idx", np.int64, 1),
    ("usr_id", np.int64, 1), ("usr_idx", np.int64, 1), ("usr_float", np.int64, 1),
    ("usr_min", np.float32, 1), ("usr_max", np.float32, 1), ("usr_nbins", np.int64, 1),
    ("sn", np.int64, 1), ("af_ts", np.int64, 1), ("af_tv", np.int64, 1),
    ("af_snps", np.int64, 1), ("af_indels", np.int64, 1), ("qual_ts", np.int64, 1),
    ("qual_tv", np.int64, 1), ("qual_in", np.int64, 1), ("ins", np.int64, 1),
    ("dels", np.int64, 1), ("subst", np.int64, 1), ("dp_gt", np.int64, 1),
    ("dp_site", np.int64, 1), ("nvaf", np.int64, 1), ("dvaf", np.float64, 1),
    ("smpl", np.int64, 2), ("vaf_snv", np.int64, 2), ("vaf_indel", np.int64, 2),
    ("af_hwe", np.int64, 1), ("usr_ts", np.int64, 2), ("usr_tv", np.int64, 2),
    ("chrom", np.int64, 1), ("maf", np.int64, 1), ("ring", np.int64, 2),
    ("ring_state", np.int64, 1), ("skip", np.uint8, 1), ("scratch", np.int64, 2),
)
N_UPDATE = len(UPDATE_ARGS)
# the precompiled kernel is vkernels.update_ws: update's arguments and its workspace
UPDATE_WS_ARGS = (*UPDATE_ARGS, ("ws", np.int64, 1))
READ_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("heads", np.uint8, 2), ("s_off", np.int64, 1), ("shared", np.uint8, 1),
    ("i_off", np.int64, 1), ("indiv", np.uint8, 1), ("out", np.int64, 1),
)
N_READ_INTS = 7  # read, fp, hdr, rec, bgzf, end, pending
SPLIT_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("buf", np.uint8, 1), ("heads", np.uint8, 2), ("s_off", np.int64, 1),
    ("i_off", np.int64, 1), ("out", np.int64, 1),
)

SIGNATURES: dict[str, tuple[Any, ...]] = {
    # ([n]*, ptrs*, lens*) -> vkernels.update's result
    "stats_update": (I64, P, P, P),
    # ([read, fp, hdr, rec, bgzf, end, pending]*, ptrs*, lens*) -> 0 (results in `out`)
    "read_loop": (I64, P, P, P),
    # ([start, end]*, ptrs*, lens*) -> 0 (records and next offset in `out`)
    "split_bcf": (I64, P, P, P),
}


def _source(name: str, spec, call: str, n_ints: int, ints_array: bool = False) -> str:
    """A cfunc wrapper's source: each carray needs its literal dtype and rank. The kernel
    takes the `n_ints` ints one by one, or with `ints_array` as one int64 array."""
    lines = [f"def {name}(intsp, ptrsp, lensp):",
             f"    ints = carray(intsp, ({max(n_ints, 1)},))",
             f"    ptrs = carray(ptrsp, ({len(spec)},))",
             f"    lens = carray(lensp, ({2 * len(spec)},))"]
    names = ["ints"] if ints_array else [f"ints[{i}]" for i in range(n_ints)]
    for i, (_arg, dtype, rank) in enumerate(spec):
        shape = f"(lens[{2 * i}] // max(lens[{2 * i + 1}], 1), lens[{2 * i + 1}])" \
            if rank == 2 else f"(lens[{2 * i}],)"
        lines.append(f"    a{i} = carray(_voidptr(ptrs[{i}]), {shape}, "
                     f"np.{np.dtype(dtype).name})")
        names.append(f"a{i}")
    lines.append(f"    return {call}({', '.join(names)})")
    return "\n".join(lines)


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.stats import vkernels, vreadk

    i64p = types.CPointer(types.int64)
    scope = {"carray": carray, "_voidptr": vreadk._voidptr, "np": np,
             "update": vkernels.update_ws, "read_loop": vreadk.read_loop,
             "split_bcf": vkernels.split_bcf}
    exec(_source("upd", UPDATE_WS_ARGS, "update", 1), scope)  # noqa: S102 - from the tables
    exec(_source("rd", READ_ARGS, "read_loop", N_READ_INTS), scope)  # noqa: S102
    exec(_source("spl", SPLIT_ARGS, "split_bcf", 2), scope)  # noqa: S102
    sig = types.int64(i64p, i64p, i64p)
    return {"stats_update": cfunc(sig)(scope["upd"]), "read_loop": cfunc(sig)(scope["rd"]),
            "split_bcf": cfunc(sig)(scope["spl"])}


SOURCES = [os.path.join(_HERE, "vkernels.py"), os.path.join(_HERE, "vreadk.py"),
           os.path.abspath(__file__),
           os.path.join(os.path.dirname(_HERE), "bam", "nativekit.py")]
BUILD_TAG = "vstats-x86-64-baseline-1"  # bumped when the way the libraries are built changes
_LOADED: list[dict[str, Callable[..., int]] | None] = []  # one entry once _load() has run


_SYMBOLS_ADDED = False


def _add_libc_symbols() -> None:
    """LLVM turns zeroing/copy loops into memset/memcpy calls; MCJIT resolves external
    symbols only from what was registered (numba registers them when its JIT starts, which
    a process that never imports numba skips), so register the C library's."""
    global _SYMBOLS_ADDED
    if _SYMBOLS_ADDED:
        return
    import llvmlite.binding as llvm

    libc = ctypes.CDLL(None)
    for name in ("memset", "memcpy", "memmove", "memcmp"):
        llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
    _SYMBOLS_ADDED = True


def _load_mcjit() -> dict[str, Callable[..., int]] | None:
    try:
        _add_libc_symbols()
    except Exception:  # pragma: no cover - llvmlite missing: the numba kernels then
        return None
    from gfcli.engine.bam.nativekit import KernelSet  # imports hashlib: only when needed

    return KernelSet("vstats", SOURCES, SIGNATURES, _build).load()


def _load() -> dict[str, Callable[..., int]] | None:
    """The kernels as shared libraries linked once per machine (`sharedlib`: a run imports
    neither llvmlite nor hashlib, ~60 ms of every stats run), else from llvmlite's MCJIT,
    else None (the numba kernels)."""
    if _LOADED:
        return _LOADED[0]
    from gfcli.engine.bam.sharedlib import load_native

    kernels = load_native("vstats", SOURCES, BUILD_TAG, SIGNATURES, _build, _load_mcjit)
    _LOADED.append(kernels)
    return kernels


def native_kernels() -> dict[str, Callable[..., int]] | None:
    """The precompiled kernels by name (ctypes functions), or None (the numba ones run)."""
    return _load()


def preload() -> None:
    """Load (building once per machine) the native kernels: call in the parent before the
    workers fork, so they share the code instead of each loading it."""
    _load()


_WS: dict[int, np.ndarray] = {}  # update_ws's workspace by sample count, one per process
_SAMPLE_IDX = [name for name, _t, _r in UPDATE_ARGS].index("sample_idx")


def workspace(n_sel: int) -> np.ndarray:
    ws = _WS.get(n_sel)
    if ws is None:  # zero: update_ws leaves its counts zero again when it returns
        ws = _WS[n_sel] = np.zeros(ws_size(n_sel), np.int64)
    return ws


def update() -> Callable[..., int]:
    """vkernels.update(n, *arrays), native when available."""
    native = _load()
    if native is None:
        from gfcli.engine.stats import vkernels

        def jitted(n, *arrays):
            # the workspace kept too: its VAF table is built once, not every batch
            return vkernels.update_ws(n, *arrays, workspace(arrays[_SAMPLE_IDX].size))

        return jitted
    fn = native["stats_update"]

    def call(n, *arrays):
        ws = workspace(arrays[_SAMPLE_IDX].size)
        ints = np.array([n], np.int64)
        ptrs, lens = _update_tables((*arrays, ws))
        return fn(ints.ctypes.data, ptrs.ctypes.data, lens.ctypes.data)

    return call


# per thread, the arrays of the last update call and their tables: the accumulators,
# tables and buffers are the same objects batch after batch (held here, so no other array
# can take their identity); only the batch's views are looked up again (~90 -> ~10 us)
_LAST_UPDATE = threading.local()


def _update_tables(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    last = getattr(_LAST_UPDATE, "value", None)
    if last is None:
        ptrs, lens = _tables(UPDATE_WS_ARGS, arrays)
        _LAST_UPDATE.value = [arrays, ptrs, lens]
        return ptrs, lens
    last, ptrs, lens = last
    for i, (arr, old) in enumerate(zip(arrays, last, strict=True)):
        if arr is not old:
            p, ln = _tables(UPDATE_WS_ARGS[i:i + 1], (arr,))
            ptrs[i] = p[0]
            lens[2 * i:2 * i + 2] = ln
    _LAST_UPDATE.value[0] = arrays
    return ptrs, lens


def read_loop() -> Callable[..., int]:
    """vreadk.read_loop(read, fp, hdr, rec, bgzf, end, pending, *arrays), native when
    available."""
    native = _load()
    if native is None:
        from gfcli.engine.stats import vreadk

        return vreadk.read_loop
    fn = native["read_loop"]

    def call(read, fp, hdr, rec, bgzf, end, pending, *arrays):
        ints = np.array([read, fp, hdr, rec, bgzf, end, pending], np.int64)
        ptrs, lens = _tables(READ_ARGS, arrays)
        return fn(ints.ctypes.data, ptrs.ctypes.data, lens.ctypes.data)

    return call



def split_bcf() -> Callable[..., int]:
    """split(buf, start, end, heads, s_off, i_off, out): vkernels.split_bcf, native when
    available."""
    native = _load()
    if native is None:
        from gfcli.engine.stats import vkernels

        def jitted(buf, start, end, heads, s_off, i_off, out):
            return vkernels.split_bcf(start, end, buf, heads, s_off, i_off, out)

        return jitted
    fn = native["split_bcf"]

    def call(buf, start, end, heads, s_off, i_off, out):
        ints = np.array([start, end], np.int64)
        ptrs, lens = _tables(SPLIT_ARGS, (buf, heads, s_off, i_off, out))
        return fn(ints.ctypes.data, ptrs.ctypes.data, lens.ctypes.data)

    return call
