"""The FASTQ kernels, callable without importing numba.

`split_records`, `numeric_columns`, `gather_records` and `gather_spans` (numba kernels in
`kernels`) are precompiled as a `bam.nativekit.KernelSet` and called through ctypes, which
spares every run numba's import (most of a small job's time); when that is unavailable the
numba kernels run. Arguments and results are those of the numba kernels. The record
layout and status codes live here so that callers need not import `kernels`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gfcli.engine.bam.nativekit import I64, KernelSet, P, address

# Columns of a record row (see `kernels`).
REC_START, NAME_END, SEQ_START, SEQ_LEN, QUAL_START, REC_END = range(6)
N_COLS = 6

# split_records statuses
OK = 0  # every complete record consumed; result[0] = where the next one starts
FULL = 1  # `recs` is full; call again from result[0]
ERR_HEADER = -1  # a record does not start with '@'
ERR_PLUS = -2  # the third line does not start with '+'
ERR_QUAL_LEN = -3  # quality and sequence lengths differ
ERR_QUAL_CHAR = -4  # a quality character outside '!'..'~'
ERR_TRUNCATED = -5  # the input ends inside a record
ERR_CR = -6  # a carriage return not followed by a newline

MESSAGES = {
    ERR_HEADER: "malformed FASTQ record: expected a header line starting with '@'",
    ERR_PLUS: "malformed FASTQ record: expected a '+' separator line",
    ERR_QUAL_LEN: "malformed FASTQ record: quality length differs from sequence length "
                  "(multi-line FASTQ is not supported)",
    ERR_QUAL_CHAR: "malformed FASTQ record: quality character outside '!'..'~'",
    ERR_TRUNCATED: "truncated FASTQ record at the end of the input",
    ERR_CR: "stray carriage return in an empty line",
}

_HERE = os.path.dirname(os.path.abspath(__file__))

SIGNATURES: dict[str, tuple[Any, ...]] = {
    # (buf, buflen, start, final, recs, cap, result*) -> status
    "split_records": (I64, P, I64, I64, I64, P, I64, P),
    # (buf, buflen, recs, n, want_qual, length*, meanq*, gc*, n_count*) -> 0
    "numeric_columns": (I64, P, I64, P, I64, I64, P, P, P, P),
    # (buf, buflen, recs, n, keep*, out, outlen) -> bytes written
    "gather_records": (I64, P, I64, P, I64, P, P, I64),
    # (buf, buflen, starts*, lens*, n, out, outlen, offsets*) -> bytes written
    "gather_spans": (I64, P, I64, P, P, I64, P, I64, P),
}


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.fastq import kernels as k

    u8p = types.CPointer(types.uint8)
    i64p = types.CPointer(types.int64)
    f64p = types.CPointer(types.float64)
    bp = types.CPointer(types.boolean)
    i64 = types.int64

    def split(bufp, buflen, start, final, recsp, cap, resultp):
        return k.split_records(carray(bufp, (buflen,)), start, final != 0,
                               carray(recsp, (cap, N_COLS)), carray(resultp, (4,)))

    def numeric(bufp, buflen, recsp, n, want_qual, lenp, mqp, gcp, ncp):
        k.numeric_columns(carray(bufp, (buflen,)), carray(recsp, (n, N_COLS)), want_qual != 0,
                          carray(lenp, (n,)), carray(mqp, (n,)), carray(gcp, (n,)),
                          carray(ncp, (n,)))
        return 0

    def gather(bufp, buflen, recsp, n, keepp, outp, outlen):
        return k.gather_records(carray(bufp, (buflen,)), carray(recsp, (n, N_COLS)),
                                carray(keepp, (n,)), carray(outp, (outlen,)))

    def spans(bufp, buflen, startsp, lensp, n, outp, outlen, offp):
        return k.gather_spans(carray(bufp, (buflen,)), carray(startsp, (n,)),
                              carray(lensp, (n,)), carray(outp, (outlen,)),
                              carray(offp, (n + 1,)))

    return {
        "split_records": cfunc(i64(u8p, i64, i64, i64, i64p, i64, i64p))(split),
        "numeric_columns": cfunc(i64(u8p, i64, i64p, i64, i64, i64p, f64p, f64p, i64p))(
            numeric),
        "gather_records": cfunc(i64(u8p, i64, i64p, i64, bp, u8p, i64))(gather),
        "gather_spans": cfunc(i64(u8p, i64, i64p, i64p, i64, u8p, i64, i64p))(spans),
    }


KERNELS = KernelSet(
    "fastq",
    [os.path.join(_HERE, name) for name in ("native.py", "kernels.py")]
    + [os.path.join(os.path.dirname(_HERE), "bam", "nativekit.py")],
    SIGNATURES,
    _build,
)


def split_records(buf: np.ndarray, start: int, final: bool, recs: np.ndarray,
                  result: np.ndarray) -> int:
    native = KERNELS.load()
    if native is not None:
        return int(native["split_records"](address(buf), len(buf), start, int(final),
                                           address(recs), len(recs), address(result)))
    from gfcli.engine.fastq import kernels

    return int(kernels.split_records(buf, start, final, recs, result))


def numeric_columns(buf, recs, want_qual: bool, length, meanq, gc, n_count) -> None:
    native = KERNELS.load()
    if native is not None:
        if len(recs):
            native["numeric_columns"](address(buf), len(buf), address(recs), len(recs),
                                      int(want_qual), address(length), address(meanq),
                                      address(gc), address(n_count))
        return
    from gfcli.engine.fastq import kernels

    kernels.numeric_columns(buf, recs, want_qual, length, meanq, gc, n_count)


def gather_records(buf, recs, keep, out) -> int:
    native = KERNELS.load()
    if native is not None:
        return int(native["gather_records"](address(buf), len(buf), address(recs), len(recs),
                                            address(keep), address(out), len(out)))
    from gfcli.engine.fastq import kernels

    return int(kernels.gather_records(buf, recs, keep, out))


def gather_spans(buf, starts, lens, out, offsets) -> int:
    native = KERNELS.load()
    if native is not None:
        return int(native["gather_spans"](address(buf), len(buf), address(starts),
                                          address(lens), len(starts), address(out), len(out),
                                          address(offsets)))
    from gfcli.engine.fastq import kernels

    return int(kernels.gather_spans(buf, starts, lens, out, offsets))
