"""numba kernels over decompressed BAM bytes: record walking, column decoding, resync.

A BAM record (SAM spec 4.2) is `block_size` (int32, the length of the rest) followed by
a 32-byte fixed part: refID, pos, l_read_name (u8), mapq (u8), bin (u16), n_cigar_op
(u16), flag (u16), l_seq, next_refID, next_pos, tlen; then read_name (NUL-terminated),
cigar (4 * n_cigar_op), seq ((l_seq + 1) // 2), qual (l_seq) and tags to the end.
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

njit = numba.njit

# Status codes returned by the kernels.
OK = 0
BAD_RECORD = -1
BAD_REFID = -2  # refID outside [-1, n_ref) (htslib's sam_read1 refuses the record)
BAD_MATE_REFID = -3  # next refID outside [-1, n_ref)

# Columns decoded per record, in this order, in one int64 matrix (one row per column):
# a single output array keeps the kernel's signature (and its cached compilation) stable.
COLUMNS = (
    "offset",  # record start (its block_size field) in the buffer
    "refid",
    "pos",
    "l_read_name",
    "mapq",
    "bin",
    "n_cigar",
    "flag",
    "l_seq",
    "next_refid",
    "next_pos",
    "tlen",
)
N_COLUMNS = len(COLUMNS)


@njit(cache=True, nogil=True, inline="always")
def _i32(buf, p):
    v = np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (
        np.int64(buf[p + 3]) << 24
    )
    if v >= 0x80000000:
        v -= 0x100000000
    return v


@njit(cache=True, nogil=True, inline="always")
def _u16(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8)


@njit(cache=True, nogil=True, inline="always")
def _record_size(buf, p, end):
    """block_size of the record at `p`: -1 if it does not end by `end`, -2 if malformed."""
    if p + 4 > end:
        return -1
    size = _i32(buf, p)
    if size < 32:
        return -2
    if p + 4 + size > end:
        return -1
    l_read_name = np.int64(buf[p + 12])
    n_cigar = _u16(buf, p + 16)
    l_seq = _i32(buf, p + 20)
    if l_read_name < 1 or l_seq < 0 or 32 + l_read_name + 4 * n_cigar + (
        (l_seq + 1) >> 1
    ) + l_seq > size:
        return -2
    return size


@njit(cache=True, nogil=True)
def decode_records(buf, start, limit, end, out, cap):
    """Decode the complete records starting at `start`, while their start is < `limit`.

    `end` is where valid data stops (records must end by then). Fills `out[:, :n]` and
    returns (n, next, status): `next` is the start of the first record not decoded (at or
    past `limit`, incomplete, or where `cap` rows ran out), status BAD_RECORD when the
    record at `next` is malformed.
    """
    p = start
    n = 0
    while n < cap and p < limit:
        size = _record_size(buf, p, end)
        if size == -1:
            break
        if size == -2:
            return n, p, BAD_RECORD
        q = p + 4
        out[0, n] = p
        out[1, n] = _i32(buf, q)
        out[2, n] = _i32(buf, q + 4)
        out[3, n] = buf[q + 8]
        out[4, n] = buf[q + 9]
        out[5, n] = _u16(buf, q + 10)
        out[6, n] = _u16(buf, q + 12)
        out[7, n] = _u16(buf, q + 14)
        out[8, n] = _i32(buf, q + 16)
        out[9, n] = _i32(buf, q + 20)
        out[10, n] = _i32(buf, q + 24)
        out[11, n] = _i32(buf, q + 28)
        n += 1
        p += 4 + size
    return n, p, OK


# flagstat counters, per QC column (passed: 0-15, failed: 16-31), in samtools' line order.
FS_TOTAL, FS_PRIMARY, FS_SECONDARY, FS_SUPPLEMENTARY = 0, 1, 2, 3
FS_DUP, FS_PRIMARY_DUP, FS_MAPPED, FS_PRIMARY_MAPPED = 4, 5, 6, 7
FS_PAIRED, FS_READ1, FS_READ2, FS_PROPER = 8, 9, 10, 11
FS_BOTH_MAPPED, FS_SINGLETON, FS_DIFF_CHR, FS_DIFF_CHR_Q5 = 12, 13, 14, 15
FS_FIELDS = 16


@njit(cache=True, nogil=True, inline="always")
def flagstat_count(counts, flag, refid, next_refid, mapq):
    """Add one record to the flagstat counters (samtools bam_stat.c semantics)."""
    base = 16 if flag & 0x200 else 0
    counts[base + FS_TOTAL] += 1
    unmapped = flag & 0x4
    if flag & 0x100:
        counts[base + FS_SECONDARY] += 1
    elif flag & 0x800:
        counts[base + FS_SUPPLEMENTARY] += 1
    else:
        counts[base + FS_PRIMARY] += 1
        if flag & 0x1:
            counts[base + FS_PAIRED] += 1
            if flag & 0x2 and not unmapped:
                counts[base + FS_PROPER] += 1
            if flag & 0x40:
                counts[base + FS_READ1] += 1
            if flag & 0x80:
                counts[base + FS_READ2] += 1
            if flag & 0x8 and not unmapped:
                counts[base + FS_SINGLETON] += 1
            if not unmapped and not flag & 0x8:
                counts[base + FS_BOTH_MAPPED] += 1
                if next_refid != refid:
                    counts[base + FS_DIFF_CHR] += 1
                    if mapq >= 5:
                        counts[base + FS_DIFF_CHR_Q5] += 1
        if not unmapped:
            counts[base + FS_PRIMARY_MAPPED] += 1
        if flag & 0x400:
            counts[base + FS_PRIMARY_DUP] += 1
    if not unmapped:
        counts[base + FS_MAPPED] += 1
    if flag & 0x400:
        counts[base + FS_DUP] += 1


@njit(cache=True, nogil=True)
def flagstat_records(buf, start, limit, end, n_ref, counts, result):
    """Walk records like `decode_records`, adding each to the 32 flagstat `counts`.

    Fused with the walk because flagstat needs four fields of a record. A refID or next
    refID outside [-1, n_ref) stops the walk (samtools flagstat fails on such a record).
    Stores the number of records and the next record start in `result[0:2]`; returns
    the status.
    """
    p = start
    n = 0
    status = OK
    while p < limit:
        size = _record_size(buf, p, end)
        if size == -1:
            break
        if size == -2:
            status = BAD_RECORD
            break
        q = p + 4
        refid = _i32(buf, q)
        next_refid = _i32(buf, q + 20)
        if refid < -1 or refid >= n_ref:
            status = BAD_REFID
            break
        if next_refid < -1 or next_refid >= n_ref:
            status = BAD_MATE_REFID
            break
        flagstat_count(counts, _u16(buf, q + 14), refid, next_refid, buf[q + 9])
        n += 1
        p += 4 + size
    result[0] = n
    result[1] = p
    return status


@njit(cache=True, nogil=True)
def _tags_end_exactly(buf, p, end):
    """Do the optional fields from `p` parse to exactly `end`?"""
    while p < end:
        if p + 3 > end:
            return False
        c0 = buf[p]
        c1 = buf[p + 1]
        if not ((65 <= c0 <= 90) or (97 <= c0 <= 122)):
            return False
        if not ((48 <= c1 <= 57) or (65 <= c1 <= 90) or (97 <= c1 <= 122)):
            return False
        t = buf[p + 2]
        p += 3
        if t == 65 or t == 99 or t == 67:  # A c C
            p += 1
        elif t == 115 or t == 83:  # s S
            p += 2
        elif t == 105 or t == 73 or t == 102:  # i I f
            p += 4
        elif t == 90 or t == 72:  # Z H
            while p < end and buf[p] != 0:
                p += 1
            if p >= end:
                return False
            p += 1
        elif t == 66:  # B
            if p + 5 > end:
                return False
            sub = buf[p]
            count = _i32(buf, p + 1)
            if count < 0:
                return False
            if sub == 99 or sub == 67:
                width = 1
            elif sub == 115 or sub == 83:
                width = 2
            elif sub == 105 or sub == 73 or sub == 102:
                width = 4
            else:
                return False
            p += 5 + width * count
        else:
            return False
    return p == end


@njit(cache=True, nogil=True)
def record_is_plausible(buf, p, end, n_ref):
    """Return the record's end if a record at `p` passes every structural check, else -1.

    Checks: block_size sane; refID and next_refID in [-1, n_ref); pos, next_pos >= -1;
    l_read_name >= 1 with a printable name ending in NUL exactly there; CIGAR operations
    known; lengths consistent; optional fields parse to exactly the record's end.
    """
    if p + 36 > end:
        return -1
    size = _i32(buf, p)
    if size < 33 or size > (1 << 28) or p + 4 + size > end:
        return -1
    q = p + 4
    refid = _i32(buf, q)
    nref = _i32(buf, q + 20)
    if refid < -1 or refid >= n_ref or nref < -1 or nref >= n_ref:
        return -1
    if _i32(buf, q + 4) < -1 or _i32(buf, q + 24) < -1:
        return -1
    l_read_name = np.int64(buf[q + 8])
    n_cigar = _u16(buf, q + 12)
    l_seq = _i32(buf, q + 16)
    if l_read_name < 1 or l_seq < 0:
        return -1
    fixed = 32 + l_read_name + 4 * n_cigar + ((l_seq + 1) >> 1) + l_seq
    if fixed > size:
        return -1
    name = q + 32
    for i in range(l_read_name - 1):
        c = buf[name + i]
        if c < 33 or c > 126:
            return -1
    if buf[name + l_read_name - 1] != 0:
        return -1
    cig = name + l_read_name
    for i in range(n_cigar):
        if (buf[cig + 4 * i] & 0xF) > 9:
            return -1
    if not _tags_end_exactly(buf, q + fixed, q + size):
        return -1
    return q + size


@njit(cache=True, nogil=True)
def find_record_start(buf, start, end, n_ref, chain, eof):
    """The first position >= `start` where a chain of plausible records begins.

    A candidate is accepted when `chain` consecutive records from it are plausible, or
    when fewer are but they end exactly at `end` with `eof` set, or run past `end`
    after at least one full record (very long reads). Returns -1 if there is none.
    """
    p = start
    while p + 36 <= end:
        q = p
        good = 0
        ok = True
        while good < chain:
            if q == end and eof:
                break
            nxt = record_is_plausible(buf, q, end, n_ref)
            if nxt < 0:
                # Running out of data is not evidence against the candidate.
                if q + 4 <= end and good > 0:
                    size = _i32(buf, q)
                    if size >= 33 and q + 4 + size > end:
                        break
                if q + 36 > end and good > 0:
                    break
                ok = False
                break
            good += 1
            q = nxt
        if ok and good > 0:
            return p
        p += 1
    return -1


@njit(cache=True, nogil=True)
def flagstat_columns(flag, refid, next_refid, mapq, n, counts):
    """The flagstat counters over decoded columns (the SAM/CRAM path through pysam)."""
    for i in range(n):
        flagstat_count(counts, flag[i], refid[i], next_refid[i], mapq[i])
