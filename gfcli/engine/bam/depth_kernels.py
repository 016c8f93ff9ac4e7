"""numba kernels for `gfcli depth`: coverage from raw BAM records, and its text output.

`depth_walk` walks the records of a buffer (see `kernels.decode_records` for the layout)
and adds every record that passes the read filters to a difference array (+1 where a
counted stretch of reference starts, -1 where it ends); a cumulative sum then gives the
depth of every base. Two counting rules:

- samtools depth (1.13+ rewrite): M/=/X bases count (each checked against -q when set),
  deletions only with -J (checked against the quality of the next query base), N never.
  It also keeps the union of the reads' spans [pos, bam_endpos), which are the rows
  samtools prints, and with -s clips a read to the reference positions at or after the
  end of an earlier read of the same name (a hash of read names -> end).
- mosdepth: M/=/X stretches count; for a proper pair on one chromosome (not
  supplementary), the part where the two mates' covered stretches intersect is
  subtracted once, when the second mate arrives (mosdepth's rule, including its
  shortcut for two single-operation CIGARs).

Kernels allocate nothing: every array comes from the caller, and a status asks it to
grow one (the span list, the name table, the segment pool) and call again. That keeps
them callable as precompiled native code without numba's runtime.
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

from gfcli.engine.bam.kernels import _i32, _u16  # noqa: E402

njit = numba.njit

# Status codes.
OK = 0
BAD_RECORD = -1
# refID / next refID outside [-1, n_ref): htslib's sam_read1 refuses such a record, so
# samtools depth fails on it; the values are `kernels.BAD_REFID`/`BAD_MATE_REFID`, whose
# message `reader.record_error` writes.
BAD_REFID = -2
BAD_MATE_REFID = -3
TID_CHANGE = 1  # the record at state[S_NEXT] is on another reference
NEED_SPANS = 2
NEED_HASH = 3
NEED_POOL = 4
PAST_END = 5  # the record at state[S_NEXT] starts at or after the region's end
UNSORTED = 6
BAD_CIGAR = 7

# params[]
P_MODE = 0  # 0 samtools, 1 mosdepth
P_EXCL = 1
P_INCL = 2
P_REQ = 3
P_MIN_MAPQ = 4
P_MIN_LEN = 5
P_MIN_BQ = 6
P_INCL_DEL = 7  # samtools -J; mosdepth --fast-mode (whole spans)
P_OVERLAP = 8  # samtools -s / mosdepth mate-overlap correction
P_TID = 9
P_REG_BEG = 10
P_REG_END = 11  # -1: no region
P_OFFSET = 12  # samtools mode: diff[0] is this reference position (a segment's start)
P_NREF = 13  # the header's reference count (records must have refIDs in [-1, n_ref))
N_PARAMS = 14

# state[]
S_NEXT = 0
S_N_SPANS = 1
S_SPAN_BEG = 2
S_SPAN_END = 3  # -1: no open span
S_HASH_USED = 4  # live + tombstones
S_POOL_USED = 5
S_SEEN = 6  # records on the reference (any flag)
S_COUNTED = 7
S_LAST_POS = 8
S_OTHER_TID = 9
N_STATE = 10

EMPTY = 0
TOMB = -1
# hash values: [0] samtools end / mosdepth start, [1] mosdepth stop, [2] single-op CIGAR,
# [3] pool offset, [4] pool count
N_VALS = 5


@njit(cache=True, nogil=True, inline="always")
def _u32(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (
        np.int64(buf[p + 3]) << 24
    )


@njit(cache=True, nogil=True)
def name_hash(buf, p, n):
    """FNV-1a (64 bit) of n bytes; never EMPTY or TOMB."""
    h = np.uint64(14695981039346656037)
    for i in range(n):
        h = (h ^ np.uint64(buf[p + i])) * np.uint64(1099511628211)
    v = np.int64(h >> np.uint64(1))
    if v == EMPTY:
        v = 1
    return v


@njit(cache=True, nogil=True)
def hash_find(keys, cap, key):
    """Slot holding `key`, or -1."""
    mask = cap - 1
    i = key & mask
    while True:
        k = keys[i]
        if k == EMPTY:
            return -1
        if k == key:
            return i
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def hash_slot_for_insert(keys, cap, key):
    """Slot of `key` if present, else the first free (empty or tombstone) slot on its path."""
    mask = cap - 1
    i = key & mask
    free = -1
    while True:
        k = keys[i]
        if k == EMPTY:
            return free if free >= 0 else i
        if k == key:
            return i
        if k == TOMB and free < 0:
            free = i
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def hash_rehash(old_keys, old_vals, old_cap, keys, vals, cap):
    """Move live entries into a new (empty) table; returns the number moved."""
    n = 0
    for s in range(old_cap):
        k = old_keys[s]
        if k != EMPTY and k != TOMB:
            d = hash_slot_for_insert(keys, cap, k)
            keys[d] = k
            for j in range(N_VALS):
                vals[d * N_VALS + j] = old_vals[s * N_VALS + j]
            n += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def _bump(diff, n, a, b):
    """+1 on [a, b) of a difference array of length n (clamped)."""
    if a < 0:
        a = 0
    if b > n - 1:
        b = n - 1
    if a < b:
        diff[a] += 1
        diff[b] -= 1


@njit(cache=True, nogil=True, inline="always")
def _unbump(diff, n, a, b):
    if a < 0:
        a = 0
    if b > n - 1:
        b = n - 1
    if a < b:
        diff[a] -= 1
        diff[b] += 1


@njit(cache=True, nogil=True)
def _ref_len(buf, cig, n_cigar):
    r = 0
    for j in range(n_cigar):
        c = _u32(buf, cig + 4 * j)
        op = c & 0xF
        if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
            r += c >> 4
    return r


@njit(cache=True, nogil=True)
def _qlen_used(buf, cig, n_cigar, l_seq):
    """samtools depth -l: query bases aligned (l_seq less end soft clips; hard clips stop
    the soft-clip scan, as in samtools), or M/I/=/X lengths when SEQ is '*'."""
    if l_seq:
        total = l_seq
        kl = 0
        while kl < n_cigar:
            c = _u32(buf, cig + 4 * kl)
            if (c & 0xF) == 4:
                total -= c >> 4
                kl += 1
            else:
                break
        kr = n_cigar - 1
        while kr > kl:
            c = _u32(buf, cig + 4 * kr)
            if (c & 0xF) == 4:
                total -= c >> 4
                kr -= 1
            else:
                break
        return total
    total = 0
    for j in range(n_cigar):
        c = _u32(buf, cig + 4 * j)
        op = c & 0xF
        if op == 0 or op == 1 or op == 7 or op == 8:
            total += c >> 4
    return total


@njit(cache=True, nogil=True)
def _samtools_count(buf, cig, n_cigar, pos, qual, l_seq, min_bq, incl_del, clip, diff, n):
    """Add one read by samtools depth's rules; returns False on an unknown CIGAR op."""
    i = pos
    spos = 0
    for j in range(n_cigar):
        c = _u32(buf, cig + 4 * j)
        op = c & 0xF
        ln = c >> 4
        if op == 0 or op == 7 or op == 8:
            if min_bq == 0:
                a = i if i >= clip else clip
                _bump(diff, n, a, i + ln)
            else:
                run = -1
                for k in range(ln):
                    p = i + k
                    s = spos + k
                    ok = p >= clip and (s >= l_seq or buf[qual + s] >= min_bq)
                    if ok:
                        if run < 0:
                            run = p
                    elif run >= 0:
                        _bump(diff, n, run, p)
                        run = -1
                if run >= 0:
                    _bump(diff, n, run, i + ln)
            i += ln
            spos += ln
        elif op == 2:
            if incl_del:
                if min_bq == 0 or spos >= l_seq or buf[qual + spos] >= min_bq:
                    a = i if i >= clip else clip
                    _bump(diff, n, a, i + ln)
            i += ln
        elif op == 3:
            i += ln
        elif op == 1 or op == 4:
            spos += ln
        elif op == 5 or op == 6:
            pass
        else:
            return False
    return True


@njit(cache=True, nogil=True)
def _segments_into(buf, cig, n_cigar, pos, out, at):
    """mosdepth's covered stretches (M/=/X, adjacent ones merged) as [beg, end) pairs
    written to out[at:]; returns the number of pairs."""
    p = pos
    m = 0
    for j in range(n_cigar):
        c = _u32(buf, cig + 4 * j)
        op = c & 0xF
        ln = c >> 4
        if op == 0 or op == 7 or op == 8:
            if m > 0 and out[at + 2 * (m - 1) + 1] == p:
                out[at + 2 * (m - 1) + 1] = p + ln
            else:
                out[at + 2 * m] = p
                out[at + 2 * m + 1] = p + ln
                m += 1
            p += ln
        elif op == 2 or op == 3:
            p += ln
    return m


@njit(cache=True, nogil=True)
def _count_segments(buf, cig, n_cigar):
    m = 0
    for j in range(n_cigar):
        op = _u32(buf, cig + 4 * j) & 0xF
        if op == 0 or op == 7 or op == 8:
            m += 1
    return m


@njit(cache=True, nogil=True)
def depth_walk(buf, start, limit, end, params, diff, n_diff, spans, spans_cap, keys, vals,
               hcap, pool, pool_cap, state):
    """Add the records starting in [start, limit) (ending by `end`) to `diff`.

    Stops early with a status (see the module constants); state[S_NEXT] is then the
    start of the record to resume from (it has not been counted).
    """
    mode = params[P_MODE]
    excl = params[P_EXCL]
    incl = params[P_INCL]
    req = params[P_REQ]
    min_mapq = params[P_MIN_MAPQ]
    min_len = params[P_MIN_LEN]
    min_bq = params[P_MIN_BQ]
    incl_del = params[P_INCL_DEL]
    overlap = params[P_OVERLAP]
    tid_want = params[P_TID]
    reg_beg = params[P_REG_BEG]
    reg_end = params[P_REG_END]
    off = params[P_OFFSET]
    n_ref = params[P_NREF]
    p = start
    while p < limit:
        state[S_NEXT] = p
        if p + 4 > end:
            return OK
        size = _i32(buf, p)
        if size < 32:
            return BAD_RECORD
        if p + 4 + size > end:
            return OK
        q = p + 4
        tid = _i32(buf, q)
        pos = _i32(buf, q + 4)
        l_name = np.int64(buf[q + 8])
        mapq = np.int64(buf[q + 9])
        n_cigar = _u16(buf, q + 12)
        flag = _u16(buf, q + 14)
        l_seq = _i32(buf, q + 16)
        mtid = _i32(buf, q + 20)
        mpos = _i32(buf, q + 24)
        if l_name < 1 or l_seq < 0 or 32 + l_name + 4 * n_cigar + ((l_seq + 1) >> 1) + l_seq > size:
            return BAD_RECORD
        # Checked before the region and reference tests: samtools reads (and refuses)
        # the record that ends its walk too.
        if tid < -1 or tid >= n_ref:
            return BAD_REFID
        if mtid < -1 or mtid >= n_ref:
            return BAD_MATE_REFID
        if tid < 0:
            p = q + size
            continue
        if tid != tid_want:
            state[S_OTHER_TID] = tid
            return TID_CHANGE
        if pos < state[S_LAST_POS]:
            return UNSORTED
        if reg_end >= 0 and pos >= reg_end:
            return PAST_END
        name = q + 32
        cig = name + l_name
        seq = cig + 4 * n_cigar
        qual = seq + ((l_seq + 1) >> 1)
        rlen = 0
        if not flag & 0x4:
            rlen = _ref_len(buf, cig, n_cigar)
        endpos = pos + (rlen if rlen > 0 else 1)
        if reg_end >= 0 and endpos <= reg_beg:
            # Not returned by an index query for the region.
            state[S_LAST_POS] = pos
            p = q + size
            continue
        # Room the record may need, checked before anything changes.
        if mode == 0:
            if state[S_N_SPANS] + 1 > spans_cap:
                return NEED_SPANS
        if overlap and state[S_HASH_USED] + 1 > (hcap >> 1):
            return NEED_HASH
        if mode == 1 and overlap and state[S_POOL_USED] + 2 * n_cigar + 2 > pool_cap:
            return NEED_POOL
        state[S_LAST_POS] = pos
        state[S_SEEN] += 1
        p = q + size
        if flag & excl:
            continue
        if incl and not (flag & incl):
            continue
        if (flag & req) != req:
            continue
        if mapq < min_mapq:
            continue
        if mode == 0:
            if min_len and _qlen_used(buf, cig, n_cigar, l_seq) < min_len:
                continue
            clip = 0
            if overlap and (flag & 0x1) and not (flag & 0x8):
                key = name_hash(buf, name, l_name - 1)
                slot = hash_find(keys, hcap, key)
                if slot >= 0:
                    clip = vals[slot * N_VALS]
                    keys[slot] = TOMB
                elif mpos == -1 or (tid == mtid and mpos <= endpos):
                    slot = hash_slot_for_insert(keys, hcap, key)
                    if keys[slot] == EMPTY:
                        state[S_HASH_USED] += 1
                    keys[slot] = key
                    vals[slot * N_VALS] = endpos
            if not _samtools_count(buf, cig, n_cigar, pos - off, qual, l_seq, min_bq, incl_del,
                                   clip - off, diff, n_diff):
                state[S_NEXT] = q - 4
                return BAD_CIGAR
            # The union of read spans: the rows samtools prints.
            if state[S_SPAN_END] < 0:
                state[S_SPAN_BEG] = pos
                state[S_SPAN_END] = endpos
            elif pos > state[S_SPAN_END]:
                k = state[S_N_SPANS]
                spans[2 * k] = state[S_SPAN_BEG]
                spans[2 * k + 1] = state[S_SPAN_END]
                state[S_N_SPANS] = k + 1
                state[S_SPAN_BEG] = pos
                state[S_SPAN_END] = endpos
            elif endpos > state[S_SPAN_END]:
                state[S_SPAN_END] = endpos
        else:
            stop = pos + rlen  # hts-nim's stop is bam_endpos
            if rlen == 0:
                stop = pos + 1
            if overlap and (flag & 0x2) and not (flag & 0x800):
                key = name_hash(buf, name, l_name - 1)
                store = False
                if tid == mtid and stop > mpos:
                    if pos < mpos:
                        store = True
                    elif pos == mpos and hash_find(keys, hcap, key) < 0:
                        store = True
                if store:
                    slot = hash_slot_for_insert(keys, hcap, key)
                    if keys[slot] == EMPTY:
                        state[S_HASH_USED] += 1
                    keys[slot] = key
                    vals[slot * N_VALS] = pos
                    vals[slot * N_VALS + 1] = stop
                    vals[slot * N_VALS + 2] = 1 if n_cigar == 1 else 0
                    at = state[S_POOL_USED]
                    m = 0
                    if n_cigar != 1:
                        m = _segments_into(buf, cig, n_cigar, pos, pool, at)
                        state[S_POOL_USED] = at + 2 * m
                    vals[slot * N_VALS + 3] = at
                    vals[slot * N_VALS + 4] = m
                else:
                    slot = hash_find(keys, hcap, key)
                    if slot >= 0:
                        keys[slot] = TOMB
                        m_single = vals[slot * N_VALS + 2]
                        if n_cigar == 1 and m_single == 1:
                            a = pos
                            b = vals[slot * N_VALS + 1]
                            if a < 0:
                                a = 0
                            if b > n_diff - 1:
                                b = n_diff - 1
                            diff[a] -= 1
                            diff[b] += 1
                        else:
                            # Intersection of the two reads' covered stretches.
                            at = state[S_POOL_USED]
                            mine = _segments_into(buf, cig, n_cigar, pos, pool, at)
                            if m_single == 1:
                                # the mate's only op: its segment, if it covers bases
                                theirs_at = at + 2 * mine
                                mpos0 = vals[slot * N_VALS]
                                mstop = vals[slot * N_VALS + 1]
                                pool[theirs_at] = mpos0
                                pool[theirs_at + 1] = mstop
                                theirs = 1
                            else:
                                theirs_at = vals[slot * N_VALS + 3]
                                theirs = vals[slot * N_VALS + 4]
                            x = 0
                            y = 0
                            while x < mine and y < theirs:
                                a1 = pool[at + 2 * x]
                                b1 = pool[at + 2 * x + 1]
                                a2 = pool[theirs_at + 2 * y]
                                b2 = pool[theirs_at + 2 * y + 1]
                                lo = a1 if a1 > a2 else a2
                                hi = b1 if b1 < b2 else b2
                                if lo < hi:
                                    _unbump(diff, n_diff, lo, hi)
                                if b1 < b2:
                                    x += 1
                                else:
                                    y += 1
            if incl_del:
                # mosdepth --fast-mode: the whole span, deletions and skips included
                _bump(diff, n_diff, pos, stop)
                state[S_COUNTED] += 1
                continue
            # inc_coverage: the covered stretches of this read
            i = pos
            run_beg = -1
            run_end = -1
            for j in range(n_cigar):
                c = _u32(buf, cig + 4 * j)
                op = c & 0xF
                ln = c >> 4
                if op == 0 or op == 7 or op == 8:
                    if run_end == i:
                        run_end = i + ln
                    else:
                        if run_beg >= 0:
                            _bump(diff, n_diff, run_beg, run_end)
                        run_beg = i
                        run_end = i + ln
                    i += ln
                elif op == 2 or op == 3:
                    i += ln
            if run_beg >= 0:
                _bump(diff, n_diff, run_beg, run_end)
        state[S_COUNTED] += 1
    state[S_NEXT] = p
    return OK


# --------------------------------------------------------------------------- output


@njit(cache=True, nogil=True, inline="always")
def _put_uint(out, o, v):
    if v == 0:
        out[o] = 48
        return o + 1
    n = 0
    t = v
    while t > 0:
        n += 1
        t //= 10
    e = o + n
    while v > 0:
        e -= 1
        out[e] = 48 + v % 10
        v //= 10
    return o + n


@njit(cache=True, nogil=True, inline="always")
def _put_depth(out, o, v):
    """A depth: almost always one to three digits, so those skip the generic loop."""
    if v < 10:
        out[o] = 48 + v
        return o + 1
    if v < 100:
        out[o] = 48 + v // 10
        out[o + 1] = 48 + v % 10
        return o + 2
    if v < 1000:
        out[o] = 48 + v // 100
        out[o + 1] = 48 + (v // 10) % 10
        out[o + 2] = 48 + v % 10
        return o + 3
    return _put_uint(out, o, v)


@njit(cache=True, nogil=True, inline="always")
def _load8(out, o):
    """Eight bytes as a little-endian word (LLVM merges the byte loads)."""
    w = np.uint64(0)
    for j in range(8):
        w |= np.uint64(out[o + j]) << np.uint64(8 * j)
    return w


@njit(cache=True, nogil=True, inline="always")
def _store8(out, o, w):
    for j in range(8):
        out[o + j] = np.uint8((w >> np.uint64(8 * j)) & np.uint64(0xFF))


@njit(cache=True, nogil=True)
def format_rows(name, n_name, cov, n_files, stride, off, ivals, n_ivals, resume, out, cap):
    """samtools depth rows `NAME\tPOS\tD1[\tD2...]\n` for the positions in the
    intervals ivals[2k], ivals[2k+1] (0-based, half-open), from resume[0] (interval) and
    resume[1] (position); cov[f * stride + pos - off] is file f's depth (0 past stride).
    Fills out[:cap] with whole rows, returns the bytes written and updates `resume`
    (resume[0] == n_ivals at the end).

    Positions are consecutive within an interval, so a row's `NAME\tPOS\t` is the
    previous row's with POS plus one. Up to 32 bytes, that prefix is kept in four
    words: the increment is an add to the word holding POS's last digit (unless it is a
    9) and the prefix is written with a few 8-byte stores. Otherwise, and on a carry,
    the previous row's prefix is copied and its digits incremented byte by byte."""
    o = 0
    k = resume[0]
    p = resume[1]
    row_max = n_name + 24 + 12 * n_files
    if row_max < 48:
        row_max = 48  # room for the 32-byte word stores past a short row
    while k < n_ivals:
        a = ivals[2 * k]
        b = ivals[2 * k + 1]
        if p < a:
            p = a
        if p >= b:
            k += 1
            p = 0
            continue
        if o + row_max > cap:
            resume[0] = k
            resume[1] = p
            return o
        # First row of a run: the prefix written in full.
        prev = o
        for j in range(n_name):
            out[o + j] = name[j]
        o += n_name
        out[o] = 9
        o = _put_uint(out, o + 1, p + 1)
        out[o] = 9
        o += 1
        plen = o - prev
        words = plen <= 32
        w0 = w1 = w2 = w3 = np.uint64(0)
        wi = 0
        sh = np.uint64(0)
        if words:
            w0 = _load8(out, prev)
            w1 = _load8(out, prev + 8)
            w2 = _load8(out, prev + 16)
            w3 = _load8(out, prev + 24)
            wi = (plen - 2) >> 3
            sh = np.uint64(((plen - 2) & 7) * 8)
        while True:
            for f in range(n_files):
                i = p - off
                v = cov[f * stride + i] if i < stride else 0
                if v < 0:
                    v = 0
                if f:
                    out[o] = 9
                    o += 1
                o = _put_depth(out, o, v)
            out[o] = 10
            o += 1
            p += 1
            if p >= b:
                break
            if o + row_max > cap:
                resume[0] = k
                resume[1] = p
                return o
            if words:
                if wi == 0:
                    digit = (w0 >> sh) & np.uint64(0xFF)
                elif wi == 1:
                    digit = (w1 >> sh) & np.uint64(0xFF)
                elif wi == 2:
                    digit = (w2 >> sh) & np.uint64(0xFF)
                else:
                    digit = (w3 >> sh) & np.uint64(0xFF)
                if digit != 57:
                    step = np.uint64(1) << sh
                    if wi == 0:
                        w0 += step
                    elif wi == 1:
                        w1 += step
                    elif wi == 2:
                        w2 += step
                    else:
                        w3 += step
                    prev = o
                    _store8(out, o, w0)
                    if plen > 8:
                        _store8(out, o + 8, w1)
                        if plen > 16:
                            _store8(out, o + 16, w2)
                            if plen > 24:
                                _store8(out, o + 24, w3)
                    o += plen
                    continue
            # Copy the prefix, then add one to POS (the digits before its last tab).
            for j in range(plen):
                out[o + j] = out[prev + j]
            prev = o
            d = o + plen - 2
            while out[d] == 57:
                out[d] = 48
                d -= 1
            if out[d] == 9:
                # All nines: one digit more (1 then zeros), the prefix grows by one.
                e = o + plen - 1
                out[e] = 48
                out[e + 1] = 9
                out[d + 1] = 49
                plen += 1
            else:
                out[d] += 1
            if words:
                words = plen <= 32
                w0 = _load8(out, o)
                w1 = _load8(out, o + 8)
                w2 = _load8(out, o + 16)
                w3 = _load8(out, o + 24)
                wi = (plen - 2) >> 3
                sh = np.uint64(((plen - 2) & 7) * 8)
            o += plen
        k += 1
        p = 0
    resume[0] = k
    resume[1] = 0
    return o


@njit(cache=True, nogil=True)
def format_runs(name, n_name, cov, beg, end, resume, out, cap):
    """mosdepth per-base rows `NAME\\tSTART\\tEND\\tDEPTH\\n`: runs of equal depth over
    cov[beg:end], from resume[0]; returns bytes written (resume[0] == end when done)."""
    o = 0
    p = resume[0]
    row_max = n_name + 48
    while p < end:
        if o + row_max > cap:
            resume[0] = p
            return o
        v = cov[p]
        r = p + 1
        while r < end and cov[r] == v:
            r += 1
        for j in range(n_name):
            out[o + j] = name[j]
        o += n_name
        out[o] = 9
        o = _put_uint(out, o + 1, p)
        out[o] = 9
        o = _put_uint(out, o + 1, r)
        out[o] = 9
        o = _put_uint(out, o + 1, v if v > 0 else 0)
        out[o] = 10
        o += 1
        p = r
    resume[0] = p
    return o


@njit(cache=True, nogil=True)
def cumsum_inplace(diff, n):
    """Difference array -> depth, in place; returns the maximum."""
    acc = 0
    mx = 0
    for i in range(n):
        acc += diff[i]
        diff[i] = acc
        if acc > mx:
            mx = acc
    return mx


@njit(cache=True, nogil=True)
def region_stats(cov, n_cov, begs, ends, n, median, means, sums, mins, maxs, hist, n_hist,
                 thresholds, n_thr, thr_counts, scratch, n_scratch):
    """Per region [begs[k], ends[k]): mean the way mosdepth sums (each base's depth / the
    region length, added in order) or the median, the depth sum, min, max; adds every base
    to `hist` (depths >= n_hist - 1 go to the last bin) and counts bases >= each threshold.
    `scratch` (n_scratch >= max depth + 1) holds counts for medians."""
    for k in range(n):
        a = begs[k]
        b = ends[k]
        length = b - a
        hi = b if b < n_cov else n_cov
        s = 0
        mean = 0.0
        mn = 0x7FFFFFFF
        mx = 0
        fl = np.float64(length)
        for i in range(a, hi):
            v = np.int64(cov[i])
            if v < 0:
                v = 0
            s += v
            mean += np.float64(v) / fl
            if v < mn:
                mn = v
            if v > mx:
                mx = v
            h = v if v < n_hist - 1 else n_hist - 1
            hist[h] += 1
            for t in range(n_thr):
                if v >= thresholds[t]:
                    thr_counts[k * n_thr + t] += 1
                else:
                    break
        if hi <= a:
            mn = 0
        if median and hi > a:
            for i in range(a, hi):
                v = np.int64(cov[i])
                if v < 0:
                    v = 0
                scratch[v if v < n_scratch else n_scratch - 1] += 1
            stop_n = (hi - a + 1) // 2  # mosdepth: int(0.5 + n * 0.5), first cum >= it
            acc = 0
            med = 0
            for v in range(n_scratch):
                acc += scratch[v]
                if acc >= stop_n:
                    med = v
                    break
            for i in range(a, hi):
                v = np.int64(cov[i])
                if v < 0:
                    v = 0
                scratch[v if v < n_scratch else n_scratch - 1] = 0
            mean = np.float64(med)
        means[k] = mean
        sums[k] = s
        mins[k] = mn
        maxs[k] = mx
