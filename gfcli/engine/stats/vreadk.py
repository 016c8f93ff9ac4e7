"""numba kernels of the raw record reader (`vcfraw`): htslib's bcf_read called from a
compiled loop, each record's leading bytes and BCF encodings copied into a batch.

`read_loop` takes bcf_read's address as an integer (`_call3` makes the call), so the same
kernel runs under numba and, precompiled, without it (`vnative`).
"""

from __future__ import annotations

import numpy as np

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

HEAD_BYTES = 32


@intrinsic
def _voidptr(typingctx, src):
    """An integer address as a void pointer (for carray and C calls)."""
    sig = types.voidptr(src)

    def codegen(cgctx, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@intrinsic
def _call3(typingctx, fn, a, b, c):
    """int32 fn(void*, void*, void*) for the function at address `fn`."""
    sig = types.int32(fn, a, b, c)

    def codegen(cgctx, builder, sig, args):
        vp = cgutils.voidptr_t
        fnty = ir.FunctionType(ir.IntType(32), [vp, vp, vp])
        target = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(target, [builder.inttoptr(x, vp) for x in args[1:]])

    return sig, codegen


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _copy_record(rec, heads, n, shared, s_used, indiv, i_used):
    """Append the record at `rec` if it fits; returns (fits, new s_used, new i_used)."""
    ks = numba.carray(_voidptr(rec + 32), 6, np.uint64)  # shared {l, m, s}, indiv {l, m, s}
    sl = np.int64(ks[0])
    il = np.int64(ks[3])
    if s_used + sl > shared.size or i_used + il > indiv.size:
        return False, s_used, i_used
    head = numba.carray(_voidptr(rec), HEAD_BYTES, np.uint8)
    for j in range(HEAD_BYTES):  # element loops: slice copies may allocate (no runtime)
        heads[n, j] = head[j]
    if sl:
        src = numba.carray(_voidptr(np.int64(ks[2])), sl, np.uint8)
        for j in range(sl):
            shared[s_used + j] = src[j]
    if il:
        src = numba.carray(_voidptr(np.int64(ks[5])), il, np.uint8)
        for j in range(il):
            indiv[i_used + j] = src[j]
    return True, s_used + sl, i_used + il


@numba.njit(cache=True, nogil=True, error_model="numpy")
def read_loop(read, fp, hdr, rec, bgzf, end, pending, heads, s_off, shared, i_off, indiv,
              out):
    """Read records until the batch is full, the chunk ends or the file ends.

    Sets out[0] = records stored, out[1] = status: 0 = batch full (and the record in `rec`
    still to be stored when `pending` comes back 1), 1 = end of chunk or file, 2 = one
    record larger than the buffers, 3 = record cap reached, <0 = bcf_read error.
    `end` < 0 means no end offset; `read` is bcf_read's address.
    """
    n = 0
    s_used = np.int64(0)
    i_used = np.int64(0)
    s_off[0] = 0
    i_off[0] = 0
    cap = heads.shape[0]
    out[0] = 0
    if pending:
        ok, s_used, i_used = _copy_record(rec, heads, n, shared, s_used, indiv, i_used)
        if not ok:
            out[1] = 2
            return 0
        n += 1
        s_off[n] = s_used
        i_off[n] = i_used
    while n < cap:
        if bgzf != 0 and end >= 0:
            ints = numba.carray(_voidptr(bgzf), 5, np.int32)
            address = numba.carray(_voidptr(bgzf + 24), 1, np.int64)[0]
            block_length = np.int64(ints[2])
            block_clength = np.int64(ints[3])
            block_offset = np.int64(ints[4])
            here = (address << 16) | block_offset
            if here >= end:
                out[0] = n
                out[1] = 1
                return 0
            if block_length and block_offset >= block_length and (
                (address + block_clength) << 16
            ) >= end:
                out[0] = n
                out[1] = 1
                return 0
        r = _call3(read, fp, hdr, rec)
        if r < 0:
            out[0] = n
            out[1] = 1 if r == -1 else r
            return 0
        ok, s_used, i_used = _copy_record(rec, heads, n, shared, s_used, indiv, i_used)
        if not ok:
            out[0] = n
            out[1] = 0
            return 0
        n += 1
        s_off[n] = s_used
        i_off[n] = i_used
    out[0] = n
    out[1] = 3
    return 0
