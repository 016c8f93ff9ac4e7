"""numba kernels for filtering raw BAM records: copy the kept ones, decode what an
expression needs (CIGAR-derived lengths, one aux tag, sequence) for given records.

Records are addressed by the offsets of their block_size field in a uint8 buffer.
None of these allocate, so they can also be precompiled (see `rawkernels`).
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

from gfcli.engine.bam.kernels import _i32, _u16  # noqa: E402
from gfcli.engine.bam.samtext import _u32  # noqa: E402

njit = numba.njit

SEQ_CHARS = np.frombuffer(b"=ACMGRSVTWYHKDBN", dtype=np.uint8).copy()

# Aux tag kinds from `find_tag`
TAG_ABSENT, TAG_INT, TAG_FLOAT, TAG_CHAR, TAG_STRING, TAG_ARRAY, TAG_BAD = 0, 1, 2, 3, 4, 5, 6


# check_records statuses (the first three are kernels.BAD_RECORD/BAD_REFID/BAD_MATE_REFID)
CHECK_BAD_SIZE, CHECK_BAD_REFID, CHECK_BAD_MATE_REFID, CHECK_TRUNCATED = -1, -2, -3, -4


@njit(cache=True, nogil=True)
def check_records(buf, start, end, n_ref, result):
    """Walk the block_size chain of the whole records in buf[start:end], refusing what
    htslib's sam_read1 refuses: a block_size under 32, a refID or next refID outside
    [-1, n_ref). Returns the number of records, or a CHECK_* status with result[0] = the
    start of the record at fault (CHECK_TRUNCATED: the chain does not end at `end`)."""
    p = start
    n = 0
    while p + 4 <= end:
        size = _i32(buf, p)
        result[0] = p
        if size < 32:
            return CHECK_BAD_SIZE
        if p + 4 + size > end:
            return CHECK_TRUNCATED
        refid = _i32(buf, p + 4)
        if refid < -1 or refid >= n_ref:
            return CHECK_BAD_REFID
        next_refid = _i32(buf, p + 24)
        if next_refid < -1 or next_refid >= n_ref:
            return CHECK_BAD_MATE_REFID
        p += 4 + size
        n += 1
    result[0] = p
    if p != end:
        return CHECK_TRUNCATED
    return n


@njit(cache=True, nogil=True)
def gather_records(buf, offsets, keep, want, out):
    """Copy the records whose keep[i] == want, in order, to `out`; returns the bytes used."""
    p = 0
    for i in range(offsets.shape[0]):
        if keep[i] != want:
            continue
        o = offsets[i]
        size = _i32(buf, o) + 4
        for j in range(size):
            out[p + j] = buf[o + j]
        p += size
    return p


@njit(cache=True, nogil=True)
def cigar_stats(buf, offsets, qlen, rlen, sclen, hclen):
    """Query/reference lengths and end clips (samtools' sclen/hclen) from each CIGAR.

    Returns how many records carry a CG-tag placeholder CIGAR (their values are wrong).
    """
    odd = 0
    for i in range(offsets.shape[0]):
        q = offsets[i] + 4
        lrn = np.int64(buf[q + 8])
        n = _u16(buf, q + 12)
        lseq = _i32(buf, q + 16)
        cig = q + 32 + lrn
        ql = 0
        rl = 0
        for j in range(n):
            c = _u32(buf, cig + 4 * j)
            op = c & 0xF
            ln = c >> 4
            if op == 0 or op == 7 or op == 8:
                ql += ln
                rl += ln
            elif op == 1 or op == 4:
                ql += ln
            elif op == 2 or op == 3:
                rl += ln
        qlen[i] = ql
        rlen[i] = rl
        hc = 0
        sc = 0
        if n > 0:
            op0 = _u32(buf, cig) & 0xF
            len0 = _u32(buf, cig) >> 4
            opl = _u32(buf, cig + 4 * (n - 1)) & 0xF
            lenl = _u32(buf, cig + 4 * (n - 1)) >> 4
            if op0 == 5:
                hc += len0
            if n > 1 and opl == 5:
                hc += lenl
            left = 0
            if op0 == 4:
                sc += len0
            elif n > 1 and op0 == 5 and (_u32(buf, cig + 4) & 0xF) == 4:
                sc += _u32(buf, cig + 4) >> 4
                left = 1
            if n - 1 > left and opl == 4:
                sc += lenl
            elif n - 2 > left and opl == 5 and (_u32(buf, cig + 4 * (n - 2)) & 0xF) == 4:
                sc += _u32(buf, cig + 4 * (n - 2)) >> 4
            if n == 2 and op0 == 4 and len0 == lseq and lseq > 0 and (
                    _u32(buf, cig + 4) & 0xF) == 3:
                odd += 1
        sclen[i] = sc
        hclen[i] = hc
    return odd


@njit(cache=True, nogil=True)
def _aux_start(buf, o):
    q = o + 4
    lrn = np.int64(buf[q + 8])
    n = _u16(buf, q + 12)
    lseq = _i32(buf, q + 16)
    return q + 32 + lrn + 4 * n + (lseq + 1) // 2 + lseq


@njit(cache=True, nogil=True)
def find_tag(buf, offsets, c0, c1, kind, num, start, length):
    """The first aux field named c0c1 of each record: its kind (TAG_*), numeric value
    (ints and floats), and for A/Z/H the value's bytes as start and length."""
    for i in range(offsets.shape[0]):
        o = offsets[i]
        end = o + 4 + _i32(buf, o)
        a = _aux_start(buf, o)
        kind[i] = TAG_ABSENT
        while a + 3 <= end:
            t = np.int64(buf[a + 2])
            v = a + 3
            hit = buf[a] == c0 and buf[a + 1] == c1
            if t == 65 or t == 99 or t == 67:
                w = 1
            elif t == 115 or t == 83:
                w = 2
            elif t == 105 or t == 73 or t == 102:
                w = 4
            elif t == 100:
                w = 8
            elif t == 90 or t == 72:
                w = 0
                while v + w < end and buf[v + w] != 0:
                    w += 1
                w += 1
            elif t == 66:
                if v + 5 > end:
                    w = end - v
                else:
                    sub = np.int64(buf[v])
                    each = 1 if (sub == 99 or sub == 67) else 2 if (sub == 115 or sub == 83) \
                        else 4
                    w = 5 + each * _i32(buf, v + 1)
            else:
                if hit:
                    kind[i] = TAG_BAD
                break
            if hit:
                if t == 65:
                    kind[i] = TAG_CHAR
                    start[i] = v
                    length[i] = 1
                elif t == 90 or t == 72:
                    kind[i] = TAG_STRING
                    start[i] = v
                    length[i] = w - 1
                elif t == 66:
                    kind[i] = TAG_ARRAY
                elif t == 102:
                    kind[i] = TAG_FLOAT
                    num[i] = np.float64(buf[v:v + 4].view(np.float32)[0])
                elif t == 100:
                    kind[i] = TAG_FLOAT
                    num[i] = buf[v:v + 8].view(np.float64)[0]
                else:
                    kind[i] = TAG_INT
                    if t == 99:
                        x = np.int64(buf[v])
                        num[i] = x - 256 if x >= 128 else x
                    elif t == 67:
                        num[i] = np.int64(buf[v])
                    elif t == 115:
                        x = _u16(buf, v)
                        num[i] = x - 65536 if x >= 32768 else x
                    elif t == 83:
                        num[i] = _u16(buf, v)
                    elif t == 105:
                        num[i] = _i32(buf, v)
                    else:
                        num[i] = _u32(buf, v)
                break
            a = v + w


@njit(cache=True, nogil=True)
def seq_text(buf, offsets, out, out_off):
    """The sequences as ASCII, one after another in `out`; out_off[i + 1] ends record i."""
    p = 0
    out_off[0] = 0
    for i in range(offsets.shape[0]):
        q = offsets[i] + 4
        lrn = np.int64(buf[q + 8])
        n = _u16(buf, q + 12)
        lseq = _i32(buf, q + 16)
        s = q + 32 + lrn + 4 * n
        for j in range(lseq):
            b = np.int64(buf[s + (j >> 1)])
            if j & 1:
                out[p] = SEQ_CHARS[b & 0xF]
            else:
                out[p] = SEQ_CHARS[b >> 4]
            p += 1
        out_off[i + 1] = p
