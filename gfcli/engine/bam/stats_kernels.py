"""numba kernels for `gfcli stats` on alignments: samtools stats' per-record work.

`stats_records` walks BAM records in a decompressed buffer (like `kernels.decode_records`)
and adds each to the counters and histograms of samtools stats 1.24 (stats.c semantics,
quirks included: the coverage round buffer, BWA trimming, the GC-depth bins, cycles
counted from the unclipped length, checksums of the packed sequence and of half the
qualities). Every array is owned by the caller (`gfcli.engine.stats._aln_state`); the
kernel never allocates. When an array is too small, or the reference window does not
cover a read, it stops *before* touching the record and returns a NEED_* status; the
caller grows the array (or loads the reference) and calls again from `result[1]`.

GC-depth bins are a sequential state machine (a bin starts at the first read more than
`bin` bases after the previous bin's start); a chunk that does not start the file cannot
know where its predecessor's bin began, so in head mode the reads of its first
contig are recorded as events (position, span, GC fraction) and replayed in order by
`gcd_replay` when chunks are merged. Coverage positions of a chunk's first
`HEAD_SPAN` bases are kept as exact depths (`cov_head`) for the same reason.
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

from gfcli.engine.bam.kernels import _i32, _u16  # noqa: E402
from gfcli.engine.bam.stats_layout import (  # noqa: E402
    ANOMALY,
    BAD_MATE_REFID,
    BAD_RECORD,
    BAD_REFID,
    C_COVMAX,
    C_COVMIN,
    C_COVSTEP,
    C_FAI,
    C_FILTER,
    C_GCDBIN,
    C_MINMAPQ,
    C_NCOV,
    C_NISIZE,
    C_NREF,
    C_READLEN,
    C_REGIONS,
    C_REQUIRE,
    C_TRIM,
    CHK_NAMES,
    CHK_QUALS,
    CHK_READS,
    COVHEAD_BASE,
    COVHEAD_TID,
    ERR_NO_CIGAR,
    ERR_READ_TOO_LONG,
    ERR_REF_SHORT,
    ERR_TARGETS_UNSORTED,
    FIRST_POS,
    FIRST_TID,
    HEAD_MODE,
    HEAD_SPAN,
    HEAD_TID,
    IGCD,
    IS_SORTED,
    M_MRSEQ,
    M_STARTED,
    MAXLEN,
    MAXLEN1,
    MAXLEN2,
    MAXQUAL,
    N1ST,
    N2ND,
    NANOM,
    NBASES,
    NBCIGAR,
    NBMAP,
    NBTRIM,
    NDUP,
    NEED_A,
    NEED_B,
    NEED_C,
    NEED_CYCLES,
    NEED_GCD,
    NEED_HEAD,
    NEED_REF,
    NFILT,
    NGC,
    NHEAD,
    NINDELS,
    NM_ABSENT,
    NMISM,
    NMQ0,
    NOTHER,
    NPAIRMAP,
    NPAIRTECH,
    NPROPER,
    NQCFAIL,
    NQUALS,
    NRECORDS,
    NSEC,
    NSINGLE,
    NSUPP,
    NUNMAP,
    OK,
    POS,
    REALLOC,
    REF_LEN,
    REF_START,
    REF_TID,
    REG_FROM,
    REG_TO,
    RING_POS,
    RING_SIZE,
    RING_START,
    SUMQUAL,
    TID,
    TLEN,
    TLEN1,
    TLEN2,
    TLENDUP,
    ZERO,
)

# numba's cache is keyed by this file alone, so the layout constants compiled into the
# kernels below would go stale (wrong slots, an array overrun) after an edit of
# stats_layout.py; its digest is recorded here so that such an edit must touch this file.
LAYOUT_DIGEST = "39fb9c8336550cb1"


def _check_layout() -> None:
    import hashlib
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats_layout.py")
    with open(path, "rb") as handle:
        found = hashlib.sha256(handle.read()).hexdigest()[:16]
    if found != LAYOUT_DIGEST:
        raise ImportError(f"stats_layout.py changed (digest {found}): set LAYOUT_DIGEST in "
                          "stats_kernels.py to it so numba recompiles these kernels")


_check_layout()

njit = numba.njit


@njit(cache=True, nogil=True, inline="always")
def _u32(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (
        np.int64(buf[p + 3]) << 24)


@njit(cache=True, nogil=True)
def _crc32(table, buf, p, n):
    """zlib.crc32 of buf[p:p+n], eight bytes per step (slicing-by-8): the byte-at-a-time
    loop is one dependent table lookup per byte, and samtools hashes every name, packed
    sequence and quality string."""
    c = np.uint32(0xFFFFFFFF)
    i = 0
    up = np.uint64(p)  # unsigned positions: no negative-index fix-up per byte
    while i + 8 <= n:
        q = up + np.uint64(i)
        lo = c ^ (np.uint32(buf[q]) | (np.uint32(buf[q + np.uint64(1)]) << np.uint32(8))
                  | (np.uint32(buf[q + np.uint64(2)]) << np.uint32(16))
                  | (np.uint32(buf[q + np.uint64(3)]) << np.uint32(24)))
        c = (table[7, lo & np.uint32(0xFF)] ^ table[6, (lo >> np.uint32(8)) & np.uint32(0xFF)]
             ^ table[5, (lo >> np.uint32(16)) & np.uint32(0xFF)] ^ table[4, lo >> np.uint32(24)]
             ^ table[3, buf[q + np.uint64(4)]] ^ table[2, buf[q + np.uint64(5)]]
             ^ table[1, buf[q + np.uint64(6)]] ^ table[0, buf[q + np.uint64(7)]])
        i += 8
    while i < n:
        c = table[0, (c ^ buf[up + np.uint64(i)]) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
        i += 1
    return np.int64(c ^ np.uint32(0xFFFFFFFF))


@njit(cache=True, nogil=True, inline="always")
def _cmod(a, b):
    """C's % (truncating) for a possibly negative a."""
    if a >= 0:
        return a % b
    return -((-a) % b)


@njit(cache=True, nogil=True, inline="always")
def _slot(sc, p):
    return _cmod(sc[RING_START] + _cmod(p - sc[RING_POS], sc[RING_SIZE]), sc[RING_SIZE])


@njit(cache=True, nogil=True)
def _cov_add(sc, cfg, cov, cov_head, p, depth):
    """A flushed position: into the head array (first contig of a chunk) or the histogram."""
    base = sc[COVHEAD_BASE]
    if sc[TID] == sc[COVHEAD_TID] and p >= base and p < base + HEAD_SPAN:
        cov_head[p - base] += depth
        return
    if depth < cfg[C_COVMIN]:
        idx = 0
    elif depth > cfg[C_COVMAX]:
        idx = cfg[C_NCOV] - 1
    else:
        idx = 1 + (depth - cfg[C_COVMIN]) // cfg[C_COVSTEP]
    cov[idx] += 1


@njit(cache=True, nogil=True)
def ring_flush(sc, cfg, ring, cov, cov_head, pos):
    """samtools' round_buffer_flush, with positions tracked for the head array."""
    if pos == sc[RING_POS]:
        return
    size = sc[RING_SIZE]
    new_pos = pos
    if pos == -1 or pos - sc[RING_POS] >= size:
        pos = sc[RING_POS] + size - 1
        if new_pos == -1 and size > 0:
            last = _cmod(sc[RING_START] + size - 1, size)
            if ring[last] != 0:
                sc[ANOMALY] = 1  # a slot the full flush skips: exact only in one pass
    start = sc[RING_START]
    rpos = sc[RING_POS]
    ito = _cmod(start + _cmod(pos - 1 - rpos, size), size)
    ifrom = start
    if ifrom > ito:
        for ib in range(ifrom, size):
            if ring[ib] != 0:
                _cov_add(sc, cfg, cov, cov_head, rpos + ((ib - start) % size), ring[ib])
                ring[ib] = 0
        ifrom = 0
    for ib in range(ifrom, ito + 1):
        if ring[ib] != 0:
            _cov_add(sc, cfg, cov, cov_head, rpos + ((ib - start) % size), ring[ib])
            ring[ib] = 0
    if new_pos == -1:
        sc[RING_START] = 0
    else:
        sc[RING_START] = _cmod(start + _cmod(pos - rpos, size), size)
    sc[RING_POS] = new_pos


@njit(cache=True, nogil=True)
def _ring_insert(sc, ring, frm, to):
    """[frm, to): one more read over these positions. False on samtools' fatal errors."""
    size = sc[RING_SIZE]
    if to - frm > size:
        return False
    if to - sc[RING_POS] >= size:
        sc[ANOMALY] = 1  # wraps around the buffer
    ifrom = _slot(sc, frm)
    ito = _slot(sc, to)
    if ifrom > ito:
        for ib in range(ifrom, size):
            ring[ib] += 1
        ifrom = 0
    for ib in range(ifrom, ito):
        ring[ib] += 1
    return True


@njit(cache=True, nogil=True)
def _realloc_ring(sc, ring, old, read_len):
    """samtools' realloc_buffers for the coverage buffer, memcpy byte counts included.
    `old` is scratch as long as the ring (the kernel never allocates). The copy and the
    zeroing add a run-time zero (sc[ZERO]) so LLVM does not turn them into memcpy/memset
    calls, external symbols a precompiled object would have to resolve."""
    size = sc[RING_SIZE]
    start = sc[RING_START]
    zero = sc[ZERO]
    for i in range(size):
        old[i] = ring[i] + zero
    new_size = read_len * 5
    for i in range(new_size):
        ring[i] = zero
    n = size - start
    full = n // 4
    for i in range(full):
        if i < new_size and start + i < size:
            ring[i] = old[start + i]
    rem = n % 4
    if rem and full < new_size and start + full < size:
        ring[full] = old[start + full] & ((np.int64(1) << (8 * rem)) - 1)
    if start > 1:
        full2 = start // 4
        for i in range(full2):
            if n + i < new_size:
                ring[n + i] = old[i]
        rem2 = start % 4
        if rem2 and n + full2 < new_size:
            ring[n + full2] = old[full2] & ((np.int64(1) << (8 * rem2)) - 1)
    sc[RING_START] = 0
    sc[RING_SIZE] = new_size


@njit(cache=True, nogil=True)
def ref_gc(refw, ref_start, ref_len, pos, length):
    """GC fraction (float32) of reference [pos, pos+length) within the loaded window."""
    i = pos - ref_start
    ito = i + length
    if ito > ref_len:
        ito = ref_len
    gc = 0
    count = 0
    while i < ito:
        c = refw[i]
        if c == 2 or c == 4:
            gc += 1
            count += 1
        elif c == 1 or c == 8:
            count += 1
        i += 1
    if count == 0:
        return np.float32(0.0)
    return np.float32(np.float32(gc) / np.float32(count))


@njit(cache=True, nogil=True)
def gcd_step(ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tid, pos, readlen, frac, fai, binsize,
             clen):
    """One read through the GC-depth machine. `ms` = [started, tid, gcd_pos, rseq_pos,
    nrseq, mrseq, igcd]. New bins get gc NaN under fai (the caller fills it from the
    reference). Returns the index of a new bin (or -1)."""
    new_bin = -1
    if fai:
        inc_ref = -1
        inc = False
        if ms[0] == 0 or ms[1] != tid or ms[3] + ms[4] < pos + readlen:
            inc_ref = pos + readlen
            inc = True
        elif ms[2] + binsize < pos + readlen:
            inc = True
            if ms[3] + ms[4] < pos + binsize:
                inc_ref = pos + binsize
        if inc:
            ms[6] += 1
            if inc_ref >= 0:
                end = inc_ref
                if not (end < pos + ms[5] - 1) and ms[5] < end - pos:
                    ms[5] = end - pos
                avail = clen - pos
                ms[4] = ms[5] if avail > ms[5] else avail
                if ms[4] < 0:
                    ms[4] = 0
                ms[3] = pos
                ms[1] = tid
            ms[0] = 1
            ms[2] = pos
            new_bin = ms[6]
            gcd_gc[new_bin] = np.float32(np.nan)
            gcd_depth[new_bin] = 0
            gcd_tid[new_bin] = tid
            gcd_pos[new_bin] = pos
    elif ms[0] == 0 or ms[1] != tid or pos - ms[2] > binsize:
        ms[0] = 1
        ms[1] = tid
        ms[2] = pos
        ms[6] += 1
        new_bin = ms[6]
        gcd_gc[new_bin] = np.float32(0.0)
        gcd_depth[new_bin] = 0
        gcd_tid[new_bin] = tid
        gcd_pos[new_bin] = pos
    gcd_depth[ms[6]] += 1
    if not fai:
        gcd_gc[ms[6]] = np.float32(gcd_gc[ms[6]] + frac)
    return new_bin


@njit(cache=True, nogil=True)
def gcd_replay(ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tids, poss, lens, fracs, n, fai,
               binsize, clens):
    """Replay head events through the machine; returns -1 if the bin arrays were too small
    (nothing is then usable: the caller grows them and replays from a copy)."""
    for i in range(n):
        if ms[6] + 2 >= gcd_gc.shape[0]:
            return -1
        gcd_step(ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tids[i], poss[i], lens[i], fracs[i],
                 fai, binsize, clens[tids[i]])
    return 0


@njit(cache=True, nogil=True)
def _bwa_trim(trim_qual, buf, qp, length, reverse):
    if length < 35:
        return 0
    max_trimmed = length - 35 + 1
    s = 0
    max_sum = 0
    max_l = 0
    for ll in range(max_trimmed):
        q = buf[qp + ll] if reverse else buf[qp + length - 1 - ll]
        s += trim_qual - np.int64(q)
        if s < 0:
            break
        if s > max_sum:
            max_sum = s
            max_l = ll
    return max_l


@njit(cache=True, nogil=True)
def _nm_value(buf, p, end):
    """bam_aux2i of the NM tag (0 if not an integer); NM_ABSENT when there is none."""
    while p + 3 <= end:
        t = buf[p + 2]
        is_nm = buf[p] == 78 and buf[p + 1] == 77
        p += 3
        if t == 65 or t == 99 or t == 67:
            if is_nm:
                if t == 99:
                    v = np.int64(buf[p])
                    return v - 256 if v >= 128 else v
                if t == 67:
                    return np.int64(buf[p])
                return 0
            p += 1
        elif t == 115 or t == 83:
            if is_nm:
                v = _u16(buf, p)
                if t == 115 and v >= 32768:
                    v -= 65536
                return v
            p += 2
        elif t == 105 or t == 73 or t == 102:
            if is_nm:
                if t == 105:
                    return _i32(buf, p)
                if t == 73:
                    return _u32(buf, p)
                return 0
            p += 4
        elif t == 90 or t == 72:
            while p < end and buf[p] != 0:
                p += 1
            if is_nm:
                return 0
            p += 1
        elif t == 66:
            sub = buf[p]
            count = _i32(buf, p + 1)
            width = 4
            if sub == 99 or sub == 67:
                width = 1
            elif sub == 115 or sub == 83:
                width = 2
            if is_nm:
                return 0
            p += 5 + width * count
        else:
            return NM_ABSENT
    return NM_ABSENT


@njit(cache=True, nogil=True)
def stats_records(buf, start, limit, end, sc, cfg, quals, bases, rlen, indel, icyc, gcfl,
                  isz, mapq, cov, ring, cov_head, mpc, gcd_gc, gcd_depth, gcd_tid, gcd_pos,
                  head_pos, head_len,
                  head_frac, refw, reg_beg, reg_end, reg_off, reg_cpos, chunk_beg, chunk_end,
                  clens, per_tid, crc_table, result, ms, ring_old):
    """Add the records starting in [start, limit) (ending by `end`) to the statistics.

    result[0] = records done, result[1] = the next record start. Returns a status.
    `ms` (7) and `ring_old` (as long as `ring`) are scratch.
    """
    p = start
    n = 0
    cap = rlen.shape[1]
    fai = cfg[C_FAI] != 0
    binsize = cfg[C_GCDBIN]
    n_ref = cfg[C_NREF]
    while p < limit:
        if p + 4 > end:
            break
        size = _i32(buf, p)
        if size < 32:
            result[0] = n
            result[1] = p
            return BAD_RECORD
        if p + 4 + size > end:
            break
        q = p + 4
        tid = _i32(buf, q)
        pos = _i32(buf, q + 4)
        l_name = np.int64(buf[q + 8])
        mq = np.int64(buf[q + 9])
        n_cigar = _u16(buf, q + 12)
        flag = _u16(buf, q + 14)
        l_seq = _i32(buf, q + 16)
        mtid = _i32(buf, q + 20)
        mpos = _i32(buf, q + 24)
        isize = _i32(buf, q + 28)
        name_p = q + 32
        cig_p = name_p + l_name
        seq_p = cig_p + 4 * n_cigar
        qual_p = seq_p + ((l_seq + 1) >> 1)
        aux_p = qual_p + l_seq
        rec_end = q + size
        if l_name < 1 or l_seq < 0 or aux_p > rec_end:
            result[0] = n
            result[1] = p
            return BAD_RECORD
        if tid < -1 or tid >= n_ref:
            result[0] = n
            result[1] = p
            return BAD_REFID
        if mtid < -1 or mtid >= n_ref:
            result[0] = n
            result[1] = p
            return BAD_MATE_REFID
        unmapped = (flag & 0x4) != 0
        reverse = (flag & 0x10) != 0

        # ---- needs, checked before anything changes
        read_len = l_seq
        ref_span = 0  # bam_endpos - pos
        mpc_span = 0  # reference consumed by M/=/X/D (samtools' mismatch walk)
        for i in range(n_cigar):
            c = _u32(buf, cig_p + 4 * i)
            op = c & 0xF
            ln = c >> 4
            if op == 5:
                read_len += ln
            if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
                ref_span += ln
            if op == 0 or op == 2 or op == 7 or op == 8:
                mpc_span += ln
        if read_len + 2 >= cap:
            sc[NEED_A] = read_len
            result[0] = n
            result[1] = p
            return NEED_CYCLES
        if sc[IGCD] + 3 >= gcd_gc.shape[0]:
            result[0] = n
            result[1] = p
            return NEED_GCD
        if sc[NHEAD] + 2 >= head_pos.shape[0]:
            result[0] = n
            result[1] = p
            return NEED_HEAD
        if fai and not unmapped and l_seq > 0 and tid >= 0 and not (flag & 0x100):
            need_end = pos + max(mpc_span, binsize) + 1
            if need_end > clens[tid]:
                need_end = clens[tid]
            if sc[REF_TID] != tid or pos < sc[REF_START] or need_end > sc[REF_START] + sc[
                    REF_LEN]:
                sc[NEED_A] = tid
                sc[NEED_B] = pos
                sc[NEED_C] = need_end
                result[0] = n
                result[1] = p
                return NEED_REF

        sc[NRECORDS] += 1
        n += 1
        p = rec_end

        # ---- is_in_regions
        nchunks = 0
        if cfg[C_REGIONS]:
            if tid < 0 or tid >= cfg[C_NREF]:
                continue
            if sc[IS_SORTED] == 0:
                sc[NEED_A] = tid
                result[0] = n
                result[1] = p
                return ERR_TARGETS_UNSORTED
            r0 = reg_off[tid]
            r1 = reg_off[tid + 1]
            npos = r1 - r0
            if reg_cpos[tid] == npos:
                continue
            i = reg_cpos[tid]
            while i < npos and reg_end[r0 + i] <= pos:
                i += 1
            if i >= npos:
                reg_cpos[tid] = npos
                continue
            if unmapped or n_cigar == 0:
                endpos = pos + 1
            else:
                endpos = pos + ref_span
            if endpos < reg_beg[r0 + i]:
                continue
            reg_cpos[tid] = i
            sc[REG_FROM] = reg_beg[r0 + i]
            sc[REG_TO] = reg_end[r0 + i]
            while i < npos:
                if pos < reg_end[r0 + i] and endpos >= reg_beg[r0 + i]:
                    chunk_beg[nchunks] = max(pos + 1, reg_beg[r0 + i])
                    chunk_end[nchunks] = min(endpos, reg_end[r0 + i])
                    nchunks += 1
                i += 1

        # ---- filters
        if cfg[C_REQUIRE] and (flag & cfg[C_REQUIRE]) != cfg[C_REQUIRE]:
            sc[NFILT] += 1
            continue
        if cfg[C_FILTER] and (flag & cfg[C_FILTER]):
            sc[NFILT] += 1
            continue
        if cfg[C_MINMAPQ] and mq < cfg[C_MINMAPQ]:
            sc[NFILT] += 1
            continue
        if cfg[C_READLEN] != -1 and l_seq != cfg[C_READLEN]:
            continue

        # ---- checksum
        nlen = 0
        while nlen < l_name and buf[name_p + nlen] != 0:
            nlen += 1
        sc[CHK_NAMES] = (sc[CHK_NAMES] + _crc32(crc_table, buf, name_p, nlen)) & 0xFFFFFFFF
        if l_seq:
            half = (l_seq + 1) >> 1
            sc[CHK_READS] = (sc[CHK_READS] + _crc32(crc_table, buf, seq_p, half)) & 0xFFFFFFFF
            sc[CHK_QUALS] = (sc[CHK_QUALS] + _crc32(crc_table, buf, qual_p, l_seq)) & 0xFFFFFFFF

        if flag & 0x100:
            sc[NSEC] += 1
            continue
        if flag & 0x800:
            sc[NSUPP] += 1
        seq_len = l_seq
        if seq_len == 0:
            continue
        if flag & 0x400:
            sc[TLENDUP] += seq_len
            sc[NDUP] += 1
        if flag & 0x1:
            order = (1 if flag & 0x40 else 0) + (2 if flag & 0x80 else 0)
        else:
            order = 1
        if read_len >= sc[NBASES]:
            nb = sc[NBASES]
            sc[NBASES] = 2 * (1 + read_len - nb) + nb
            sc[REALLOC] += 1
            _realloc_ring(sc, ring, ring_old, read_len)
            if sc[M_MRSEQ] < sc[NBASES] * 10:
                sc[M_MRSEQ] = sc[NBASES] * 10
        if sc[MAXLEN] < read_len:
            sc[MAXLEN] = read_len
        if order == 1 and sc[MAXLEN1] < read_len:
            sc[MAXLEN1] = read_len
        if order == 2 and sc[MAXLEN2] < read_len:
            sc[MAXLEN2] = read_len
        if (flag & (0x4 | 0x100 | 0x800 | 0x200 | 0x400)) == 0:
            mapq[mq] += 1
        original = (flag & 0x900) == 0
        gc_count = 0
        if original:
            rlen[0, read_len] += 1
            if order == 1:
                rlen[1, read_len] += 1
            if order == 2:
                rlen[2, read_len] += 1
            # collect_orig_read_stats
            sc[TLEN] += seq_len
            if flag & 0x200:
                sc[NQCFAIL] += 1
            if flag & 0x1:
                sc[NPAIRTECH] += 1
            if order == 1 or order == 2:
                # One pass over the read for bases, GC and qualities. Bases are counted
                # by raw 4-bit code per (fragment, strand, cycle): no branch on the base
                # (random bases mispredict), and the strand-oriented table (GCT) is
                # derived from the same counts at the end (`AlnStats.from_workspace`).
                which = order - 1
                # `bases` and `quals` are flat (fragment x strand, cycle, code) and
                # (fragment, cycle, quality) tables indexed with unsigned integers, which
                # spares numba's negative-index fix-up on each of the four accesses per base
                u16 = np.uint64(16)
                unq = np.uint64(NQUALS)
                brow = np.uint64((2 * which + (1 if reverse else 0)) * cap) * u16
                qrow = np.uint64(which * cap) * unq
                sp = np.uint64(seq_p)
                qp = np.uint64(qual_p)
                last = np.uint64(seq_len - 1)
                qsum = np.int64(0)
                qmax = sc[MAXQUAL]
                for i in range(seq_len):
                    ui = np.uint64(i)
                    cyc = last - ui if reverse else ui
                    byte = buf[sp + (ui >> np.uint64(1))]
                    code = (np.uint64(byte) >> (np.uint64(4) - np.uint64(4) * (ui & np.uint64(1)))
                            ) & np.uint64(15)
                    bases[brow + cyc * u16 + code] += 1
                    gc_count += (code == 2) | (code == 4)
                    qv = buf[qp + ui]
                    quals[qrow + cyc * unq + np.uint64(qv)] += 1
                    qsum += np.int64(qv)
                    if qv > qmax:
                        qmax = np.int64(qv)
                sc[SUMQUAL] += qsum
                sc[MAXQUAL] = qmax
            gmin = gc_count * (NGC - 1) // seq_len
            gmax = (gc_count + 1) * (NGC - 1) // seq_len
            if gmax >= NGC:
                gmax = NGC - 1
            if order == 1:
                sc[N1ST] += 1
                sc[TLEN1] += seq_len
                for i in range(gmin, gmax):
                    gcfl[0, i] += 1
            elif order == 2:
                sc[N2ND] += 1
                sc[TLEN2] += seq_len
                for i in range(gmin, gmax):
                    gcfl[1, i] += 1
            else:
                sc[NOTHER] += 1
            if cfg[C_TRIM] > 0:
                sc[NBTRIM] += _bwa_trim(cfg[C_TRIM], buf, qual_p, seq_len, reverse)
            if unmapped:
                sc[NUNMAP] += 1
            else:
                sc[NBMAP] += seq_len
                if mq == 0:
                    sc[NMQ0] += 1
                if tid >= 0:
                    per_tid[tid] += 1
                if not ((flag & 0x1) and not (flag & 0x8)):
                    sc[NSINGLE] += 1
                else:
                    sc[NPAIRMAP] += 1
                    if (flag & 0x3) == 0x3:
                        sc[NPROPER] += 1
                    if tid != mtid:
                        sc[NANOM] += 1
        if unmapped:
            continue

        # ---- count_indels
        is_fwd = not reverse
        iorder = order
        icycle = 0
        for i in range(n_cigar):
            c = _u32(buf, cig_p + 4 * i)
            op = c & 0xF
            ln = np.int64(c >> 4)
            if ln == 0:
                continue
            if op == 1:
                idx = icycle if is_fwd else l_seq - icycle - ln
                if idx < 0:
                    idx = 0  # samtools stops with "FIXME" here
                if iorder == 1:
                    icyc[0, idx] += 1
                if iorder == 2:
                    icyc[1, idx] += 1
                icycle += ln
                if ln <= NINDELS:
                    indel[0, ln - 1] += 1
                continue
            if op == 2:
                idx = icycle - 1 if is_fwd else l_seq - icycle - 1
                if idx < 0:
                    continue
                if iorder == 1:
                    icyc[2, idx] += 1
                if iorder == 2:
                    icyc[3, idx] += 1
                if ln <= NINDELS:
                    indel[1, ln - 1] += 1
                continue
            if op != 3 and op != 5 and op != 6:
                icycle += ln

        # ---- insert size
        paired_mapped = (flag & 0x1) and not (flag & 0x8)
        if paired_mapped and original:
            isz_v = isize if isize >= 0 else -isize
            if cfg[C_NISIZE] > 0 and isz_v > cfg[C_NISIZE]:
                isz_v = cfg[C_NISIZE]
            if isz_v > 0 or tid == mtid:
                pos_fst = mpos - pos
                is_fst = 1 if flag & 0x40 else -1
                fwd = -1 if reverse else 1
                mfwd = -1 if flag & 0x20 else 1
                if fwd * mfwd > 0:
                    isz[2, isz_v] += 1
                elif is_fst * pos_fst >= 0:
                    if is_fst * fwd > 0:
                        isz[0, isz_v] += 1
                    else:
                        isz[1, isz_v] += 1
                else:
                    if is_fst * fwd > 0:
                        isz[1, isz_v] += 1
                    else:
                        isz[0, isz_v] += 1

        nm = _nm_value(buf, aux_p, rec_end)
        if nm != NM_ABSENT:
            sc[NMISM] += nm

        if n_cigar == 0:
            result[0] = n
            result[1] = p
            return ERR_NO_CIGAR
        readlen = seq_len
        if cfg[C_REGIONS]:
            iref = pos + 1
            for i in range(n_cigar):
                c = _u32(buf, cig_p + 4 * i)
                op = c & 0xF
                ln = np.int64(c >> 4)
                if ln == 0:
                    continue
                if op == 2:
                    readlen += ln
                elif op == 0 or op == 7 or op == 8:
                    ncig = ln
                    if iref < sc[REG_FROM]:
                        ncig -= sc[REG_FROM] - iref
                    elif iref + ncig - 1 > sc[REG_TO]:
                        ncig -= iref + ncig - 1 - sc[REG_TO]
                    if ncig < 0:
                        ncig = 0
                    sc[NBCIGAR] += ncig
                    iref += ln
                elif op == 1:
                    iref += ln
                    if iref >= sc[REG_FROM] and iref <= sc[REG_TO]:
                        sc[NBCIGAR] += ln
        else:
            for i in range(n_cigar):
                c = _u32(buf, cig_p + 4 * i)
                op = c & 0xF
                ln = np.int64(c >> 4)
                if op == 0 or op == 1 or op == 7 or op == 8:
                    sc[NBCIGAR] += ln
                if op == 2:
                    readlen += ln

        if sc[TID] == tid and pos < sc[POS]:
            sc[IS_SORTED] = 0
        sc[POS] = pos
        if sc[IS_SORTED] == 0:
            continue
        if sc[FIRST_TID] == -2:
            sc[FIRST_TID] = tid
            sc[FIRST_POS] = pos
            sc[COVHEAD_TID] = tid
            sc[COVHEAD_BASE] = pos
        if sc[TID] == -1 or sc[TID] != tid:
            ring_flush(sc, cfg, ring, cov, cov_head, -1)
        sc[TID] = tid

        # ---- mismatches per cycle (reference given)
        if fai:
            iread = 0
            icycle = 0
            iref = pos - sc[REF_START]
            for i in range(n_cigar):
                c = _u32(buf, cig_p + 4 * i)
                op = c & 0xF
                ln = np.int64(c >> 4)
                if op == 1:
                    iread += ln
                    icycle += ln
                    continue
                if op == 2:
                    iref += ln
                    continue
                if op == 4:
                    icycle += ln
                    iread += ln
                    continue
                if op == 5:
                    icycle += ln
                    continue
                if op == 3 or op == 6:
                    continue
                if iref + ln > sc[REF_LEN]:
                    result[0] = n
                    result[1] = p
                    return ERR_REF_SHORT
                for _im in range(ln):
                    b = buf[seq_p + (iread >> 1)]
                    cread = (b >> 4) if (iread & 1) == 0 else (b & 0xF)
                    cref = refw[iref]
                    if cread == 15:
                        idx = icycle if is_fwd else read_len - icycle - 1
                        mpc[idx, 0] += 1
                    elif cref and cread and cref != cread:
                        qv = (np.int64(buf[qual_p + iread]) + 1) & 0xFF  # uint8_t in samtools
                        idx = icycle if is_fwd else read_len - icycle - 1
                        mpc[idx, qv] += 1
                    iref += 1
                    iread += 1
                    icycle += 1

        # ---- GC-depth
        frac = np.float32(np.float32(gc_count) / np.float32(seq_len))
        if sc[HEAD_MODE] and (sc[HEAD_TID] == -2 or sc[HEAD_TID] == tid) and sc[
                M_STARTED] == 0:
            sc[HEAD_TID] = tid
            k = sc[NHEAD]
            head_pos[k] = pos
            head_len[k] = readlen
            head_frac[k] = frac
            sc[NHEAD] = k + 1
        else:
            for j in range(7):
                ms[j] = sc[M_STARTED + j]
            nb_i = gcd_step(ms, gcd_gc, gcd_depth, gcd_tid, gcd_pos, tid, pos, readlen, frac,
                            fai, binsize, clens[tid])
            for j in range(7):
                sc[M_STARTED + j] = ms[j]
            if nb_i >= 0 and fai:
                gpos = ms[2]
                gend = min(gpos + binsize, clens[tid])
                if (sc[REF_TID] == tid and gpos >= sc[REF_START]
                        and gend <= sc[REF_START] + sc[REF_LEN]):
                    gcd_gc[nb_i] = ref_gc(refw, sc[REF_START], sc[REF_LEN], gpos, gend - gpos)

        # ---- coverage
        ring_flush(sc, cfg, ring, cov, cov_head, pos)
        if cfg[C_REGIONS]:
            pp = np.int64(pos)
            j = 0
            i = 0
            while j < n_cigar and i < nchunks:
                c = _u32(buf, cig_p + 4 * j)
                op = c & 0xF
                ln = np.int64(c >> 4)
                if op == 0 or op == 7 or op == 8:
                    pmin = max(pp, chunk_beg[i] - 1)
                    pmax = min(pp + ln, chunk_end[i])
                    if pmax > pmin:
                        if not _ring_insert(sc, ring, pmin, pmax):
                            result[0] = n
                            result[1] = p
                            return ERR_READ_TOO_LONG
                consumes = op == 0 or op == 2 or op == 3 or op == 7 or op == 8
                pnew = pp + (ln if consumes else 0)
                if pnew >= chunk_end[i]:
                    i += 1
                else:
                    j += 1
                    pp = pnew
        else:
            pp = np.int64(pos)
            for j in range(n_cigar):
                c = _u32(buf, cig_p + 4 * j)
                op = c & 0xF
                ln = np.int64(c >> 4)
                if op == 0 or op == 7 or op == 8:
                    if not _ring_insert(sc, ring, pp, pp + ln):
                        result[0] = n
                        result[1] = p
                        return ERR_READ_TOO_LONG
                if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
                    pp += ln
    result[0] = n
    result[1] = p
    return OK
