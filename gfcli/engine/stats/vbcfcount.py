"""A range of a BGZF BCF file counted in one native call (`vbcfloop.c`).

`vbcfdirect.DirectReader.batches` yields a batch per inflated piece and the caller counts
each with `VariantStats.update`: three ctypes calls and their address tables per piece,
~0.3 ms of interpreter work each time, ~0.4 s of CPU on a 1M-record, 200-sample cohort
(1,400 pieces). `count_range` builds the tables once and lets the C loop inflate, split and
count the whole range, back in Python only to grow the buffer for a long record or to
report an error. Without the C library, the native inflater or the precompiled kernels
(no compiler, GFCLI_NO_NATIVE, GFCLI_NO_NATIVE_INFLATE) it returns None and the caller
keeps the batch loop; both count the same (tests/test_stats_cohort_direct.py).
"""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import Any

import numpy as np

from gfcli.engine.bgzf import split_voffset
from gfcli.engine.errors import DataError

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vbcfloop.c")
_P = ctypes.c_void_p
_I64 = ctypes.c_int64

# vbcfloop.c's st[] entries and statuses
(S_ADDRESS, S_POS, S_FILL, S_STOP, S_END_ADDR, S_END_WITHIN, S_PIECE, S_PIECE_MAX, S_CAP,
 S_SLACK, S_DROPPED, S_DROP_BYTES, S_STOP_UNSET, S_STATUS, S_ERR_ADDRESS, S_ERR_VALUE,
 S_ERR_REASON, S_QHI, S_N) = range(19)
ST_DONE, ST_GROW, ST_INFLATE, ST_TRUNCATED, ST_KERNEL, ST_UNSET = range(6)
SLACK = 1 << 17  # free bytes behind the carried record before inflating (as the batches)

_LOOP: list[Any] = []


def _loop() -> Any:
    """gfcli_vbcf_count, or None (no C compiler, or the build failed)."""
    if not _LOOP:
        from gfcli.engine.bam.sharedlib import load_c

        lib = load_c(_SOURCE, "vbcf-loop", "vbcf-loop-1")
        fn = None
        if lib is not None:
            fn = lib.gfcli_vbcf_count
            fn.argtypes = [_P] * 13
            fn.restype = _I64
        _LOOP.append(fn)
    return _LOOP[0]


def kernel_error(r: int) -> DataError:
    """What the statistics kernel's result `r` (not the batch size) means."""
    return DataError("incorrect AN/AC counts (AN smaller than the sum of AC)" if r >= 0
                     else "genotype allele index out of range")


_SKIP_ALL: list[np.ndarray] = []


def _skip_all(n: int) -> np.ndarray:
    """Every record dropped by -i/-e but typed (skip 2): the records before a chunk read for
    the ALT-length ring."""
    if not _SKIP_ALL or _SKIP_ALL[0].size < n:
        _SKIP_ALL[:] = [np.full(n, 2, np.uint8)]
    return _SKIP_ALL[0]


def count_range(reader: Any, acc: Any, kernel_inputs: tuple, ring: tuple, start: int,
                end: int | None, *, typed_skip: bool = False,
                stop_on_unset: bool = False) -> bool | None:
    """Count the records of [start, end) (virtual offsets) of `reader`'s file into `acc`
    (a VariantStats) as its `update` would batch by batch, `ring` carrying the ALT-length
    ring. `typed_skip`: every record counts only in the ring (skip 2). `stop_on_unset`:
    stop after the batch that read an unset ring entry. Returns whether it stopped so, or
    None when the native loop is not available here (nothing was counted)."""
    from gfcli.engine import bgzf_native
    from gfcli.engine.bam.sharedlib import address_tables
    from gfcli.engine.stats import variants as V
    from gfcli.engine.stats import vbcfdirect, vnative

    loop = _loop()
    kernels = vnative.native_kernels()
    native = reader.native
    if loop is None or kernels is None or native is None:
        return None
    heads, s_off, i_off, out = reader.heads, reader.s_off, reader.i_off, reader.out
    cap_records = heads.shape[0]
    skip = _skip_all(cap_records) if typed_skip else V._no_skip(cap_records)
    scratch = V._scratch()
    ws = vnative.workspace(kernel_inputs[3].size)
    fns = (_P * 3)(native.run_address, ctypes.cast(kernels["split_bcf"], _P).value,
                   ctypes.cast(kernels["stats_update"], _P).value)
    inflate = (_P * 3)(*native.inflate_handles())
    src = reader.src
    address, lo = split_voffset(start)
    end_addr, end_within = split_voffset(end) if end is not None else (-1, 0)
    st = np.zeros(S_N, np.int64)
    st[S_ADDRESS] = address
    st[S_POS] = lo  # the range's first bytes in its first block belong to the chunk before
    st[S_STOP] = -1 if end is None else end_addr + (1 if end_within else 0)
    st[S_END_ADDR] = end_addr
    st[S_END_WITHIN] = end_within
    st[S_PIECE] = vbcfdirect.FIRST_PIECE_BYTES
    st[S_PIECE_MAX] = vbcfdirect.PIECE_BYTES
    st[S_SLACK] = SLACK
    st[S_DROPPED] = address
    # released pages of a private file mapping are read again from the file; any other
    # buffer (b'' for an empty file) is never released
    st[S_DROP_BYTES] = vbcfdirect.DROP_BYTES if isinstance(src, mmap.mmap) else 1 << 62
    st[S_STOP_UNSET] = 1 if stop_on_unset else 0
    qhi_at = scratch.ctypes.data + 8 * vnative.SCRATCH_QHI * scratch.shape[1]
    while True:
        buf = reader.buf
        st[S_CAP] = len(buf)
        split_ptrs, split_lens = address_tables(vnative.SPLIT_ARGS, (buf, heads, s_off, i_off,
                                                                   out))
        update_ptrs, update_lens = address_tables(vnative.UPDATE_WS_ARGS, (
            heads, s_off, buf, i_off, buf, *kernel_inputs,
            *(acc.a[name] for name in V._ARRAYS), *ring, skip, scratch, ws))
        status = loop(fns, inflate, native.src_address, native.size, buf.ctypes.data,
                      split_ptrs.ctypes.data, split_lens.ctypes.data, out.ctypes.data,
                      update_ptrs.ctypes.data, update_lens.ctypes.data, qhi_at,
                      ring[1].ctypes.data, st.ctypes.data)
        if acc.qual_hi is not None:
            acc.qual_hi = max(acc.qual_hi, int(st[S_QHI]))
        if status == ST_GROW:
            fill = int(st[S_FILL])
            grown = np.empty(2 * len(buf), np.uint8)
            grown[:fill] = buf[:fill]
            reader.buf = grown
            continue
        if status == ST_DONE:
            return False
        if status == ST_UNSET:
            return True
        if status == ST_INFLATE:
            raise DataError(bgzf_native.error_message(
                int(st[S_ERR_REASON]), int(st[S_ERR_ADDRESS]), int(st[S_ERR_VALUE])),
                path=reader.display)
        if status == ST_TRUNCATED:
            raise DataError("truncated BCF record at the end of the input",
                            path=reader.display)
        raise kernel_error(int(st[S_ERR_VALUE]))
