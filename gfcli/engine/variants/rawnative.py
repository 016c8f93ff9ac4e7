"""The raw VCF text kernels (`rawkernels.scan_lines`, `emit_lines`) callable without numba.

Importing numba and initialising its JIT cost ~1 s per process, more than the whole scan of
a million sites; importing llvmlite and loading objects with its MCJIT still ~0.1 s. So the
kernels (numba cfuncs) are built once per machine into shared libraries (LLVM IR -> baseline
x86-64 object -> `cc -shared`) in the numba cache directory and loaded with ctypes (~1 ms,
neither numba nor llvmlite imported). Without a C compiler they come from a
`nativekit.KernelSet` (llvmlite MCJIT); when neither can be had (GFCLI_NO_NATIVE=1, or a build
failure) the numba kernels run on the same arrays.

`Scanner` owns the arrays the kernels fill (reused piece after piece, grown when needed), so
no piece allocates its own columns.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
P = ctypes.c_void_p
I64 = ctypes.c_int64

# dims of scan_lines (int64): the buffer's length, samples, wanted INFO and FORMAT tags,
# line capacity, edit capacity, 1 to turn the word-at-a-time sample walk off (tests
# compare it with the byte-wise scan)
D_N, D_S, D_K, D_F, D_MAXL, D_ECAP, D_NOFAST = range(7)
N_DIMS = 10
# result of scan_lines: lines, next offset, edits used, bytes `emit_lines` may add
N_RESULT = 4
# int64 scratch of scan_lines: column bounds, FORMAT key slots and types, INFO tag guesses
N_SCRATCH = 212

# scan: (buf, dims, 12 tables, 14 outputs, scratch, result, lens) -> lines
_SCAN_ARGS = 31
SIGNATURES: dict[str, tuple[Any, ...]] = {
    "scan_lines": (I64, *([P] * _SCAN_ARGS)),
    # (buf, nbuf, starts, ends, canon, nlines, idx, n_idx, edits, ecap, efirst, out, cap)
    "emit_lines": (I64, P, I64, P, P, P, I64, P, I64, P, I64, P, P, I64),
}

# positions in `lens` (int64) of the sizes the cfunc wrapper needs for its carrays
(L_N, L_CTG, L_CTGOFF, L_INFO, L_INFOOFF, L_INFOTYPE, L_FLT, L_FLTOFF, L_FMT, L_FMTOFF,
 L_FMTTYPE, L_WINFO, L_WFMT, L_MAXL, L_KC, L_FC, L_SC, L_ECAP) = range(18)
N_LENS = 18


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.variants import rawkernels as rk

    u8p = types.CPointer(types.uint8)
    i8p = types.CPointer(types.int8)
    i32p = types.CPointer(types.int32)
    i64p = types.CPointer(types.int64)
    f64p = types.CPointer(types.float64)
    i64 = types.int64

    def scan(bufp, dimsp, ctgp, ctgoffp, infop, infooffp, infotypep, fltp, fltoffp, fmtp,
             fmtoffp, fmttypep, winfop, wfmtp, startsp, endsp, ridp, posp, qualp, okp, canonp,
             fpassp, ivalsp, ilenp, fvalsp, fwidthp, editsp, efirstp, scratchp, resultp,
             lensp):
        lens = carray(lensp, (N_LENS,))
        m, kc, fc, sc = lens[L_MAXL], lens[L_KC], lens[L_FC], lens[L_SC]
        return rk.scan_lines(
            carray(bufp, (lens[L_N],)), carray(dimsp, (N_DIMS,)),
            carray(ctgp, (lens[L_CTG],)), carray(ctgoffp, (lens[L_CTGOFF],)),
            carray(infop, (lens[L_INFO],)), carray(infooffp, (lens[L_INFOOFF],)),
            carray(infotypep, (lens[L_INFOTYPE],)),
            carray(fltp, (lens[L_FLT],)), carray(fltoffp, (lens[L_FLTOFF],)),
            carray(fmtp, (lens[L_FMT],)), carray(fmtoffp, (lens[L_FMTOFF],)),
            carray(fmttypep, (lens[L_FMTTYPE],)),
            carray(winfop, (lens[L_WINFO],)), carray(wfmtp, (lens[L_WFMT],)),
            carray(startsp, (m,)), carray(endsp, (m,)), carray(ridp, (m,)),
            carray(posp, (m,)), carray(qualp, (m,)), carray(okp, (m,)), carray(canonp, (m,)),
            carray(fpassp, (m,)), carray(ivalsp, (m, kc)), carray(ilenp, (m, kc)),
            carray(fvalsp, (m, fc, sc)), carray(fwidthp, (m, fc)),
            carray(editsp, (lens[L_ECAP], 3)), carray(efirstp, (m + 1,)),
            carray(scratchp, (N_SCRATCH,)), carray(resultp, (N_RESULT,)))

    def emit(bufp, nbuf, startsp, endsp, canonp, nlines, idxp, n_idx, editsp, ecap, efirstp,
             outp, cap):
        return rk.emit_lines(
            carray(bufp, (nbuf,)), carray(startsp, (nlines,)), carray(endsp, (nlines,)),
            carray(canonp, (nlines,)), carray(idxp, (n_idx,)), n_idx,
            carray(editsp, (ecap, 3)), carray(efirstp, (nlines + 1,)), carray(outp, (cap,)))

    scan_sig = i64(u8p, i64p, u8p, i64p, u8p, i64p, i64p, u8p, i64p, u8p, i64p, i64p, i64p,
                   i64p, i64p, i64p, i32p, i64p, f64p, u8p, i8p, u8p, f64p, i32p, f64p, i32p,
                   i64p, i64p, i64p, i64p, i64p)
    emit_sig = i64(u8p, i64, i64p, i64p, i8p, i64, i64p, i64, i64p, i64, i64p, u8p, i64)
    return {"scan_lines": cfunc(scan_sig)(scan), "emit_lines": cfunc(emit_sig)(emit)}


SOURCES = [os.path.join(_HERE, "rawkernels.py"), os.path.abspath(__file__),
           os.path.join(os.path.dirname(_HERE), "bam", "nativekit.py")]
# bumped when the way the libraries are built changes
BUILD_TAG = "vcfraw-x86-64-baseline-1"


class _Kernels:
    """scan_lines/emit_lines as ctypes functions: from the shared libraries, else llvmlite's
    MCJIT, else None (the numba kernels). Loaded once; forked workers inherit them."""

    def __init__(self) -> None:
        self._loaded: dict[str, Callable[..., int]] | None = None
        self._failed = False

    def load(self) -> dict[str, Callable[..., int]] | None:
        if self._loaded is not None or self._failed:
            return self._loaded
        from gfcli.engine.bam.sharedlib import load_native

        self._loaded = load_native("vcfraw", SOURCES, BUILD_TAG, SIGNATURES, _build,
                                   lambda: _mcjit().load())
        self._failed = self._loaded is None
        return self._loaded


_MCJIT: list[Any] = []


def _mcjit() -> Any:
    """The llvmlite MCJIT set (no C compiler), made on first need: nativekit imports
    hashlib and llvmlite."""
    if not _MCJIT:
        from gfcli.engine.bam.nativekit import KernelSet

        _MCJIT.append(KernelSet("vcfraw", SOURCES, SIGNATURES, _build))
    return _MCJIT[0]


KERNELS = _Kernels()


def preload() -> None:
    """Load (building once per machine) the native kernels: call in the parent before the
    workers fork, so they share the code instead of each loading it."""
    KERNELS.load()


def _a(x: np.ndarray) -> int:
    return x.ctypes.data


class Scanner:
    """The scanner's tables and reusable output arrays for one input and expression."""

    def __init__(self, S: int, tables: tuple[np.ndarray, ...], want_info: np.ndarray,
                 want_fmt: np.ndarray, fast: bool = True):
        self.S, self.K, self.F = S, len(want_info), len(want_fmt)
        self.tables = tuple(np.ascontiguousarray(t) for t in tables)
        self.want_info = np.ascontiguousarray(want_info, np.int64)
        self.want_fmt = np.ascontiguousarray(want_fmt, np.int64)
        self.cap = 0
        self.ecap = 0
        self.scratch = np.zeros(N_SCRATCH, np.int64)
        self.result = np.zeros(4, np.int64)
        self.dims = np.zeros(10, np.int64)
        self.lens = np.zeros(N_LENS, np.int64)
        self.dims[D_NOFAST] = 0 if fast else 1
        self._out: np.ndarray | None = None
        self._alloc(1024, 4096)

    def _alloc(self, lines: int, ecap: int) -> None:
        if lines > self.cap:
            m = max(lines, 2 * self.cap)
            kc, fc, sc = max(self.K, 1), max(self.F, 1), max(self.S, 1)
            self.starts = np.zeros(m, np.int64)
            self.ends = np.zeros(m, np.int64)
            self.rid = np.zeros(m, np.int32)
            self.pos = np.zeros(m, np.int64)
            self.qual = np.zeros(m, np.float64)
            self.ok = np.zeros(m, np.uint8)
            self.canon = np.zeros(m, np.int8)
            self.fpass = np.zeros(m, np.uint8)
            self.ivals = np.zeros((m, kc), np.float64)
            self.ilen = np.zeros((m, kc), np.int32)
            self.fvals = np.zeros((m, fc, sc), np.float64)
            self.fwidth = np.zeros((m, fc), np.int32)
            self.efirst = np.zeros(m + 1, np.int64)
            self.cap = m
        if ecap > self.ecap:
            self.ecap = max(ecap, 2 * self.ecap)
            self.edits = np.zeros((self.ecap, 3), np.int64)

    def scan(self, buf: np.ndarray) -> tuple:
        """Scan the whole lines of `buf`; the columns as `rawtext` uses them (views into
        arrays the next scan overwrites)."""
        n = len(buf)
        # the columns are sized by the previous pieces' line counts; a piece with more
        # lines stops the kernel early (result[1] < n), is counted and scanned again
        self._alloc(0, n // 32 + 256)
        if self._scan(buf) < n:
            self._alloc(int(np.count_nonzero(buf == 10)) + 1, 0)
            self._scan(buf)
        L = int(self.result[0])
        return (L, int(self.result[1]), self.starts, self.ends, self.rid, self.pos, self.qual,
                self.ok.view(np.bool_), self.canon, self.fpass.view(np.bool_), self.ivals,
                self.ilen, self.fvals, self.fwidth, self.edits, self.efirst)

    def _scan(self, buf: np.ndarray) -> int:
        """One scan_lines call over buf; returns the offset it stopped at."""
        n = len(buf)
        d = self.dims
        d[D_N], d[D_S], d[D_K], d[D_F] = n, self.S, self.K, self.F
        d[D_MAXL], d[D_ECAP] = self.cap, self.ecap
        outs = (self.starts, self.ends, self.rid, self.pos, self.qual, self.ok, self.canon,
                self.fpass, self.ivals, self.ilen, self.fvals, self.fwidth, self.edits,
                self.efirst)
        native = KERNELS.load()
        if native is not None:
            t = self.tables
            ln = self.lens
            ln[L_N] = n
            for k, arr in enumerate(t):
                ln[L_CTG + k] = len(arr)
            ln[L_WINFO], ln[L_WFMT] = len(self.want_info), len(self.want_fmt)
            ln[L_MAXL], ln[L_KC], ln[L_FC], ln[L_SC] = (self.cap, self.ivals.shape[1],
                                                       self.fvals.shape[1], self.fvals.shape[2])
            ln[L_ECAP] = self.ecap
            native["scan_lines"](_a(buf), _a(d), *[_a(x) for x in t], _a(self.want_info),
                                 _a(self.want_fmt), *[_a(x) for x in outs], _a(self.scratch),
                                 _a(self.result), _a(ln))
        else:
            from gfcli.engine.variants import rawkernels as rk

            rk.scan_lines(buf, d, *self.tables, self.want_info, self.want_fmt, *outs,
                          self.scratch, self.result)
        return int(self.result[1])

    def emit(self, buf: np.ndarray, idx: np.ndarray, reuse: bool = False) -> memoryview:
        """The lines `idx` of the last scan as output text: in a fresh buffer, or with
        `reuse` in one this scanner keeps (valid until the next reusing emit; saves the
        page faults of a new buffer per piece)."""
        idx = np.ascontiguousarray(idx, np.int64)
        cap = len(buf) + int(self.result[3]) + 1
        if reuse:
            if self._out is None or len(self._out) < cap:
                self._out = np.empty(cap + (cap >> 3), np.uint8)
            out = self._out
        else:
            out = np.empty(cap, np.uint8)
        nlines = int(self.result[0])
        native = KERNELS.load()
        if native is not None:
            o = native["emit_lines"](_a(buf), len(buf), _a(self.starts), _a(self.ends),
                                     _a(self.canon), nlines, _a(idx), len(idx), _a(self.edits),
                                     self.ecap, _a(self.efirst), _a(out), cap)
        else:
            from gfcli.engine.variants import rawkernels as rk

            o = rk.emit_lines(buf, self.starts, self.ends, self.canon, idx, len(idx),
                              self.edits, self.efirst, out)
        return memoryview(out)[:o]
