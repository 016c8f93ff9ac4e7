"""numba kernel for `gfcli stats` on FASTQ: one pass over 4-line records in a byte buffer."""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

njit = numba.njit

OK = 0
NEED_POSITIONS = 1  # a read longer than the per-position arrays
BAD_RECORD = -1

# per-position base classes: A C G T N other
_CLASS = np.full(256, 5, dtype=np.int64)
for _ch, _k in (("A", 0), ("C", 1), ("G", 2), ("T", 3), ("N", 4)):
    _CLASS[ord(_ch)] = _k
    _CLASS[ord(_ch.lower())] = _k
# counters: 0 records, 1 gc, 2 gap, 3 q20, 4 q30
N_COUNTERS = 5


@njit(cache=True, nogil=True)
def fastq_records(buf, start, end, final, counters, lengths, qhist, pos_qsum, pos_base,
                  pos_qhist_n, klass, result):
    """Records starting at `start` that end by `end` (or at `end` when `final`).

    lengths: histogram by read length (grown by the caller); qhist: quality values over
    all bases; pos_qsum / pos_qhist_n: quality sum and base count per position; pos_base:
    [position, class] counts. result[0] = next record start, result[1] = the length that
    did not fit (NEED_POSITIONS). Returns a status.
    """
    p = start
    maxpos = pos_qsum.shape[0]
    maxlen = lengths.shape[0]
    while p < end:
        if buf[p] != 64:  # '@'
            if buf[p] == 10 or buf[p] == 13:
                p += 1
                continue
            result[0] = p
            return BAD_RECORD
        # header line
        q = p
        while q < end and buf[q] != 10:
            q += 1
        if q >= end:
            break
        s0 = q + 1
        s1 = s0
        while s1 < end and buf[s1] != 10:
            s1 += 1
        if s1 >= end:
            break
        plus = s1 + 1
        if plus >= end:
            break
        if buf[plus] != 43:  # '+'
            result[0] = p
            return BAD_RECORD
        q0 = plus
        while q0 < end and buf[q0] != 10:
            q0 += 1
        if q0 >= end:
            break
        q0 += 1
        slen = s1 - s0
        if slen > 0 and buf[s1 - 1] == 13:
            slen -= 1
        q1 = q0 + slen
        if q1 > end or (q1 == end and not final):
            break
        nxt = q1
        while nxt < end and buf[nxt] != 10:
            nxt += 1
        if nxt >= end and not final:
            break
        if slen >= maxpos or slen >= maxlen:
            result[0] = p
            result[1] = slen
            return NEED_POSITIONS
        counters[0] += 1
        lengths[slen] += 1
        for i in range(slen):
            b = buf[s0 + i]
            c = klass[b]
            pos_base[i, c] += 1
            if c == 1 or c == 2:
                counters[1] += 1
            if b == 45 or b == 32 or b == 46:  # '-', ' ', '.'
                counters[2] += 1
            qv = np.int64(buf[q0 + i]) - 33
            if qv < 0:
                qv = 0
            if qv > 93:
                qv = 93
            qhist[qv] += 1
            pos_qsum[i] += qv
            pos_qhist_n[i] += 1
            if qv >= 20:
                counters[3] += 1
                if qv >= 30:
                    counters[4] += 1
        p = nxt + 1 if nxt < end else end
    result[0] = p
    return OK
