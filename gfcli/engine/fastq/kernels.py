"""numba kernels over FASTQ text held in one packed byte buffer (callers use `native`).

`split_records` finds and checks 4-line records; each record is a row of `recs`:

    REC_START  the '@' of the header line
    NAME_END   end of the header text (without '\\r'); the name starts at REC_START + 1
    SEQ_START  first sequence byte
    SEQ_LEN    sequence length (= quality length; '\\r' excluded)
    QUAL_START first quality byte
    REC_END    one past the qualities' '\\n'

`numeric_columns` computes the expression fields length, meanq, gc and n_count with the
reference evaluator's definitions (`expr.eval_reads.ReadEvaluator.fastq_field`), and
`gather_records` / `gather_spans` copy kept records or one field of them into a new buffer.
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

njit = numba.njit

from gfcli.engine.fastq.native import (  # noqa: E402
    ERR_CR,
    ERR_HEADER,
    ERR_PLUS,
    ERR_QUAL_CHAR,
    ERR_QUAL_LEN,
    ERR_TRUNCATED,
    FULL,
    NAME_END,
    OK,
    QUAL_START,
    REC_END,
    REC_START,
    SEQ_LEN,
    SEQ_START,
)


@njit(cache=True, nogil=True)
def _line_end(buf, p, end):
    while p < end and buf[p] != 10:
        p += 1
    return p


@njit(cache=True, nogil=True)
def split_records(buf, start, final, recs, result):
    """Records from `start` to the end of `buf`; an unfinished one waits unless `final`.

    result[0]: next unread byte (or the error line's start), result[1]: records stored,
    result[2]: lines consumed before result[0], result[3]: line of the error within the
    record (0-based). Returns a status.
    """
    end = buf.shape[0]
    cap = recs.shape[0]
    n = 0
    lines = 0
    p = start
    result[3] = 0
    while p < end:
        c = buf[p]
        if c == 10:  # blank line between records
            p += 1
            lines += 1
            continue
        if c == 13:
            if p + 1 < end and buf[p + 1] == 10:
                p += 2
                lines += 1
                continue
            if p + 1 >= end and not final:
                break
            result[0] = p
            result[1] = n
            result[2] = lines
            return ERR_CR
        if n >= cap:
            result[0] = p
            result[1] = n
            result[2] = lines
            return FULL
        if c != 64:  # '@'
            result[0] = p
            result[1] = n
            result[2] = lines
            return ERR_HEADER
        e1 = _line_end(buf, p, end)
        e2 = _line_end(buf, e1 + 1, end)
        e3 = _line_end(buf, e2 + 1, end)
        e4 = _line_end(buf, e3 + 1, end)
        if e4 >= end:
            if not final:
                break
            result[0] = p
            result[1] = n
            result[2] = lines
            return ERR_TRUNCATED
        if buf[e2 + 1] != 43:  # '+'
            result[0] = p
            result[1] = n
            result[2] = lines
            result[3] = 2
            return ERR_PLUS
        name_end = e1
        if name_end > p + 1 and buf[name_end - 1] == 13:
            name_end -= 1
        s0 = e1 + 1
        s1 = e2
        if s1 > s0 and buf[s1 - 1] == 13:
            s1 -= 1
        q0 = e3 + 1
        q1 = e4
        if q1 > q0 and buf[q1 - 1] == 13:
            q1 -= 1
        if q1 - q0 != s1 - s0:
            result[0] = p
            result[1] = n
            result[2] = lines
            result[3] = 3
            return ERR_QUAL_LEN
        for i in range(q0, q1):
            if buf[i] < 33 or buf[i] > 126:
                result[0] = p
                result[1] = n
                result[2] = lines
                result[3] = 3
                return ERR_QUAL_CHAR
        recs[n, REC_START] = p
        recs[n, NAME_END] = name_end
        recs[n, SEQ_START] = s0
        recs[n, SEQ_LEN] = s1 - s0
        recs[n, QUAL_START] = q0
        recs[n, REC_END] = e4 + 1
        n += 1
        lines += 4
        p = e4 + 1
    result[0] = p
    result[1] = n
    result[2] = lines
    return OK


@njit(cache=True, nogil=True)
def numeric_columns(buf, recs, want_qual, length, meanq, gc, n_count):
    """length, meanq (mean of quality bytes - 33), gc (G+C fraction), n_count (N or n).

    meanq and gc are NaN for an empty read, as in the reference evaluator.
    """
    for r in range(recs.shape[0]):
        s0 = recs[r, SEQ_START]
        ln = recs[r, SEQ_LEN]
        length[r] = ln
        g = 0
        nn = 0
        for i in range(s0, s0 + ln):
            b = buf[i] | 32  # lower case
            if b == 103 or b == 99:  # g c
                g += 1
            elif b == 110:  # n
                nn += 1
        n_count[r] = nn
        if ln == 0:
            gc[r] = np.nan
            meanq[r] = np.nan
            continue
        gc[r] = g / ln
        if want_qual:
            q0 = recs[r, QUAL_START]
            total = 0
            for i in range(q0, q0 + ln):
                total += buf[i]
            meanq[r] = total / ln - 33.0


@njit(cache=True, nogil=True)
def gather_records(buf, recs, keep, out):
    """Copy the kept records' bytes to `out`; return the bytes written."""
    o = 0
    for r in range(recs.shape[0]):
        if keep[r]:
            a = recs[r, REC_START]
            b = recs[r, REC_END]
            out[o:o + b - a] = buf[a:b]
            o += b - a
    return o


@njit(cache=True, nogil=True)
def gather_spans(buf, starts, lens, out, offsets):
    """Concatenate buf[starts[i] : starts[i] + lens[i]] into `out`; Arrow-style offsets."""
    o = 0
    offsets[0] = 0
    for i in range(starts.shape[0]):
        a = starts[i]
        ln = lens[i]
        out[o:o + ln] = buf[a:a + ln]
        o += ln
        offsets[i + 1] = o
    return o
