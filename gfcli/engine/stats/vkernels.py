"""numba kernels for `bcftools stats`-compatible variant statistics over raw record batches.

A batch (see `vcfraw.RawBatch`) holds, per record, the leading fields of htslib's `bcf1_t`
and the BCF encoding of its shared and per-sample parts. `update` decodes what bcftools
stats looks at and adds it to the accumulator arrays in place. The per-allele variant
type follows htslib's `bcf_set_variant_type`, genotype classes its `bcf_gt_type`, allele
counts `bcf_calc_ac`; the counters are those of bcftools 1.24 `vcfstats.c` (semantics
taken from its documented behaviour and checked record by record against it).
"""

from __future__ import annotations

import numpy as np

from gfcli.engine.numba_cache import load_numba
from gfcli.engine.stats.vnative import (
    N_OUT,
    RING,
    RING_UNSET,
    RING_W,
    SCRATCH_QHI,
    SCRATCH_W,
    WS_C1,
    WS_CLS,
    WS_DPS,
    WS_FIXED,
    WS_H8,
    WS_NDP,
    WS_NEED,
    WS_NFAST,
    WS_OUT,
    WS_PACK,
    WS_PER_SAMPLE,
    WS_VAF,
    WS_VAF_READY,
)

numba = load_numba()
njit = numba.njit
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

# htslib variant types
VT_REF, VT_SNP, VT_MNP, VT_INDEL, VT_OTHER, VT_BND, VT_OVERLAP = 0, 1, 2, 4, 8, 16, 32
# bcf_gt_type results
GT_HOM_RR, GT_HOM_AA, GT_HET_RA, GT_HET_AA, GT_HAPL_R, GT_HAPL_A, GT_UNKN = 0, 1, 2, 3, 4, 5, 6

# SN counters (index into `sn`)
SN_RECORDS, SN_NOALTS, SN_SNPS, SN_MNPS, SN_INDELS, SN_OTHERS, SN_MALS, SN_SNP_MALS = range(8)
SN_TS_ALT1, SN_TV_ALT1, SN_BIALLELIC, SN_N = 8, 9, 10, 11

# Per-sample counters (columns of `smpl`)
(PS_HOMRR, PS_HOMAA, PS_HETS, PS_TS, PS_TV, PS_INDELS, PS_DP, PS_NDP, PS_SNGL, PS_HAPREF,
 PS_HAPALT, PS_MISSING, PS_INS_HETS, PS_DEL_HETS, PS_INS_HOMS, PS_DEL_HOMS) = range(16)
PS_N = 16

M_INDEL = 60
# QUAL bins of bcftools' dist_t(5) (see `qual_bin`): iqual exact up to 10**5, then 9*10**4
# bins a decade. The largest iqual a float32 QUAL gives is 2**31 + 1 (the overflow case).
QUAL_EXACT = 100_000
N_QUAL = QUAL_EXACT + 4 * 90_000 + (2**31 + 1 - 10**9) // 10**5 + 1
N_HWE = 100
N_VAF = 21
N_MAF = 51
# Symbolic ALTs (other than <X>, <*>, <NON_REF>): htslib's bcf_set_variant_type does not set
# their length, so bcftools reads whatever the reused bcf1_t held at that allele index. Its
# synced reader cycles through 3 bcf1_t, so that is the length of the same ALT index in the
# record three before (0 for the first three records of a pass). IDD's genotype/VAF columns
# show it; `update` keeps that ring (RING_W alleles wide) per chunk.
N_STALE = -(1 << 40)

# params (int64) layout
(P_INFO_DP, P_INFO_AC, P_INFO_AN, P_AFTAG, P_FMT_GT, P_FMT_DP, P_FMT_AD, P_M_AF, P_NBINS,
 P_SAMPLES, P_DP_MIN, P_DP_MAX, P_DP_STEP, P_APPLY_FILTERS, P_FILTER_MISSING,
 P_INFO_DP_INT, P_AFTAG_FLOAT, P_GT_MISSING_ENDS) = range(18)
P_N = 18


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _size(t):
    if t == 1 or t == 7:
        return 1
    if t == 2:
        return 2
    if t == 3 or t == 5:
        return 4
    return 0


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _int_at(buf, p, t):
    if t == 1:
        v = np.int64(buf[p])
        return v - 256 if v >= 128 else v
    if t == 2:
        v = np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8)
        return v - 65536 if v >= 32768 else v
    v = (np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16)
         | (np.int64(buf[p + 3]) << 24))
    return v - 4294967296 if v >= 2147483648 else v


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _missing(t):
    if t == 1:
        return -128
    if t == 2:
        return -32768
    return -2147483648


@intrinsic
def _bits_to_f32(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (no libm, no allocation)."""
    sig = types.float32(bits)

    def codegen(cgctx, builder, sig, args):
        low = builder.trunc(args[0], ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return sig, codegen


@intrinsic
def _f32_to_bits(typingctx, value):
    """The bits of a float32 as a non-negative int64 (the inverse of `_bits_to_f32`)."""
    sig = types.int64(types.float32)

    def codegen(cgctx, builder, sig, args):
        bits = builder.bitcast(args[0], ir.IntType(32))
        return builder.zext(bits, ir.IntType(64))

    return sig, codegen


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _float_at(buf, p):
    """The little-endian float32 at buf[p:p+4], without allocating."""
    return _bits_to_f32(_float_bits(buf, p))


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _float_bits(buf, p):
    return (np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16)
            | (np.int64(buf[p + 3]) << 24))


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _typed(buf, p):
    """(type, count, position of the first value) of the typed vector at p."""
    b = buf[p]
    t = b & 15
    n = np.int64(b >> 4)
    p += 1
    if n == 15:
        t2 = buf[p] & 15
        n = _int_at(buf, p + 1, t2)
        p += 1 + _size(t2)
    return t, n, p


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _typed_int(buf, p):
    t, n, q = _typed(buf, p)
    return _int_at(buf, q, t), q + n * _size(t)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _upper(c):
    return c - 32 if 97 <= c <= 122 else c


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _clen(buf, beg, end):
    i = beg
    while i < end and buf[i] != 0:
        i += 1
    return i - beg


@njit(cache=True, error_model="numpy", _nrt=False)
def variant_type(buf, r0, rl, a0, al):
    """htslib's bcf_set_variant_type for REF buf[r0:r0+rl] and ALT buf[a0:a0+al]:
    (type, n) with n the length difference (negative for deletions)."""
    if al == 1 and buf[a0] == 42:  # '*'
        return VT_OVERLAP, 0
    if rl == 1 and al == 1:
        if buf[a0] == 46 or buf[r0] == buf[a0]:  # '.'
            return VT_REF, 0
        if buf[a0] == 88:  # 'X'
            return VT_REF, 0
        return VT_SNP, 1
    if al == 0:
        return VT_REF, 0
    if buf[a0] == 60:  # '<'
        if al == 3 and (buf[a0 + 1] == 88 or buf[a0 + 1] == 42) and buf[a0 + 2] == 62:
            return VT_REF, 0
        if al == 9:
            # "NON_REF>" (byte by byte: a string constant would need numba's runtime)
            same = (buf[a0 + 1] == 78 and buf[a0 + 2] == 79 and buf[a0 + 3] == 78
                    and buf[a0 + 4] == 95 and buf[a0 + 5] == 82 and buf[a0 + 6] == 69
                    and buf[a0 + 7] == 70 and buf[a0 + 8] == 62)
            if same:
                return VT_REF, 0
        return VT_OTHER, N_STALE  # htslib leaves var->n as it was (see `update`)
    if buf[a0] == 93 or buf[a0] == 91:  # ']' '['
        return VT_BND, 0
    r = 0
    a = 0
    while r < rl and a < al and _upper(buf[r0 + r]) == _upper(buf[a0 + a]):
        r += 1
        a += 1
    if a < al and r == rl:
        if buf[a0 + a] == 93 or buf[a0 + a] == 91:
            return VT_BND, 0
        return VT_INDEL, al - rl
    if r < rl and a == al:
        return VT_INDEL, al - rl
    if r == rl and a == al:
        return VT_REF, 0
    re = rl - 1
    ae = al - 1
    while re > r and ae > a and _upper(buf[r0 + re]) == _upper(buf[a0 + ae]):
        re -= 1
        ae -= 1
    if ae == a:
        if re == r:
            return VT_SNP, 1
        if _upper(buf[r0 + re]) == _upper(buf[a0 + ae]):
            return VT_INDEL, -(re - r)
        return VT_OTHER, -(re - r)
    if re == r:
        if _upper(buf[r0 + re]) == _upper(buf[a0 + ae]):
            return VT_INDEL, ae - a
        return VT_OTHER, ae - a
    t = VT_MNP if re - r == ae - a else VT_OTHER
    n = -(re - r + 1) if re - r > ae - a else ae - a + 1
    return t, n


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _acgt(c):
    c = _upper(c)
    if c == 65:
        return 0
    if c == 67:
        return 1
    if c == 71:
        return 2
    if c == 84:
        return 3
    return -1


@njit(cache=True, error_model="numpy", _nrt=False)
def _bin_idx(bins, v):
    """bin_get_idx: the interval [bins[i], bins[i+1]) holding v; the last one is closed."""
    nb = bins.size
    if v >= bins[nb - 1]:
        return nb - 2
    i = 0
    while i + 1 < nb - 1 and bins[i + 1] <= v:
        i += 1
    return i


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _idist(val, lo, hi, step, m_vals):
    if val < lo:
        return 0
    if val > hi:
        return m_vals - 1
    if step == 1:  # the default: no integer division per genotype
        return 1 + val - lo
    return 1 + (val - lo) // step


@njit(cache=True, error_model="numpy", _nrt=False)
def _af_index(af, m_af, bins):
    if af < 0:
        af = np.float32(0)
    elif af > 1:
        af = np.float32(1)
    if bins.size:
        return _bin_idx(bins, af)
    return np.int64(af * np.float32(m_af - 2))


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def qual_bin(qual):
    """bcftools' QUAL bin: iqual = 1 + (int)(QUAL*10) in C (a float product; x86 makes an
    out-of-range conversion INT_MIN), then dist_t(5)'s bin of iqual taken as uint32: exact
    up to 10**5, above it 9*10**4 bins per decade."""
    if qual != qual or qual < 0:
        return np.int64(0)
    prod = qual * np.float32(10)
    iv = np.int64(-2147483648) if prod >= np.float32(2147483648.0) else np.int64(prod)
    value = (1 + iv) & 0xFFFFFFFF
    if value <= QUAL_EXACT:
        return value
    level = 1
    p10 = np.int64(QUAL_EXACT)
    step = np.int64(10)
    while level < 5 and value >= p10 * 10:
        p10 *= 10
        step *= 10
        level += 1
    return QUAL_EXACT + 90_000 * (level - 1) + (value - p10) // step


# Per-record accounting shared by the BCF kernel (_update_body) and the sites-only VCF text
# kernel (vsites_kernels.count_lines): one definition, so both count as bcftools does.
# inline="always" keeps the generated code as it was when the bodies were written out.
@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _allele_types(buf, n_allele, a_beg, a_len, a_type, a_n):
    """Type every ALT against REF into a_type/a_n; returns the OR of the types."""
    line_type = 0
    for i in range(1, n_allele):
        vt, vn = variant_type(buf, a_beg[0], a_len[0], a_beg[i], a_len[i])
        a_type[i] = vt
        a_n[i] = vn
        line_type |= vt
    a_type[0] = 0
    a_n[0] = 0
    return line_type


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _iaf_from_ac(ac, n_allele, iaf, m_af, bins):
    """init_iaf from allele counts ac[0:n_allele]: the AF bin of every ALT into iaf;
    returns ALT1's frequency (-1 without any count)."""
    tot = np.int64(0)
    for i in range(n_allele):
        tot += ac[i]
    for i in range(1, n_allele):
        if ac[i] == 1:
            iaf[i] = 0
        elif tot == 0:
            iaf[i] = 1
        else:
            af = np.float32(ac[i]) / np.float32(tot)
            iaf[i] = _af_index(af, m_af, bins) + 1
    if n_allele > 1 and tot > 0:
        return np.float32(ac[1]) / np.float32(tot)
    return np.float32(-1)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _count_summary(sn, chrom, maf, rid, n_allele, af1, line_type):
    """Record, per-contig, biallelic, MAF and no-ALT counters."""
    sn[SN_RECORDS] += 1
    if 0 <= rid < chrom.size:
        chrom[rid] += 1
    if n_allele == 2:
        sn[SN_BIALLELIC] += 1
    if af1 >= 0 and n_allele > 1:
        mf = af1 if af1 <= 0.5 else np.float32(1) - af1
        mb = np.int64(mf * np.float32(100))
        maf[mb if mb < N_MAF else N_MAF - 1] += 1
    if line_type == VT_REF:
        sn[SN_NOALTS] += 1


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _count_snps(buf, n_allele, a_beg, a_len, a_type, iaf, iqual, sn, subst, af_snps, af_ts,
                af_tv, qual_ts, qual_tv):
    """Substitutions, AF and QUAL bins of the SNP ALTs (line_type has VT_SNP); returns
    1 when ALT1 is a counted transition, 0 a transversion, -1 neither."""
    alt1 = -1
    sn[SN_SNPS] += 1
    ref = _acgt(buf[a_beg[0]]) if a_len[0] > 0 else -1
    if ref >= 0:
        for i in range(1, n_allele):
            if not (a_type[i] & VT_SNP):
                continue
            alt = _acgt(buf[a_beg[i]]) if a_len[i] > 0 else -1
            if alt < 0 or alt == ref:
                continue
            subst[ref << 2 | alt] += 1
            b = iaf[i]
            af_snps[b] += 1
            is_ts = abs(ref - alt) == 2
            if is_ts:
                af_ts[b] += 1
            else:
                af_tv[b] += 1
            if i == 1:
                if is_ts:
                    sn[SN_TS_ALT1] += 1
                    qual_ts[iqual] += 1
                    alt1 = 1
                else:
                    sn[SN_TV_ALT1] += 1
                    qual_tv[iqual] += 1
                    alt1 = 0
    return alt1


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _count_rest(n_allele, a_type, a_n, iaf, iqual, line_type, sn, af_indels, qual_in, ins,
                dels):
    """Indel lengths and bins, MNP, other and multiallelic counters."""
    if line_type & VT_INDEL:
        sn[SN_INDELS] += 1
        qual_in[iqual] += 1
        for i in range(1, n_allele):
            if not (a_type[i] & VT_INDEL):
                continue
            af_indels[iaf[i]] += 1
            ln = a_n[i]
            if ln < 0:
                ln = -ln
                ln = ln - 1 if ln <= M_INDEL else M_INDEL - 1
                dels[ln] += 1
            else:
                ln = ln - 1 if ln <= M_INDEL else M_INDEL - 1
                ins[ln] += 1
    if line_type & VT_MNP:
        sn[SN_MNPS] += 1
    if line_type & VT_OTHER:
        sn[SN_OTHERS] += 1
    if n_allele > 2:
        sn[SN_MALS] += 1
        if line_type == VT_SNP:
            sn[SN_SNP_MALS] += 1


@njit(cache=True, error_model="numpy")
def update(n, heads, s_off, shared, i_off, indiv, params, bins, filter_ids, sample_idx,
           usr_id, usr_idx, usr_float, usr_min, usr_max, usr_nbins,
           sn, af_ts, af_tv, af_snps, af_indels, qual_ts, qual_tv, qual_in, ins, dels,
           subst, dp_gt, dp_site, nvaf, dvaf, smpl, vaf_snv, vaf_indel, af_hwe, usr_ts,
           usr_tv, chrom, maf, ring, ring_state, skip, scratch):
    """Count the batch's n records (returns n, or the failing record as `update_ws`)."""
    ws = np.zeros(ws_size(sample_idx.size), np.int64)
    return update_ws(n, heads, s_off, shared, i_off, indiv, params, bins, filter_ids,
                     sample_idx, usr_id, usr_idx, usr_float, usr_min, usr_max, usr_nbins,
                     sn, af_ts, af_tv, af_snps, af_indels, qual_ts, qual_tv, qual_in, ins,
                     dels, subst, dp_gt, dp_site, nvaf, dvaf, smpl, vaf_snv, vaf_indel,
                     af_hwe, usr_ts, usr_tv, chrom, maf, ring, ring_state, skip, scratch, ws)


@njit(cache=True, error_model="numpy", _nrt=False)
def update_ws(n, heads, s_off, shared, i_off, indiv, params, bins, filter_ids, sample_idx,
              usr_id, usr_idx, usr_float, usr_min, usr_max, usr_nbins,
              sn, af_ts, af_tv, af_snps, af_indels, qual_ts, qual_tv, qual_in, ins, dels,
              subst, dp_gt, dp_site, nvaf, dvaf, smpl, vaf_snv, vaf_indel, af_hwe, usr_ts,
              usr_tv, chrom, maf, ring, ring_state, skip, scratch, ws):
    """`update` with its per-sample workspace `ws` (ws_size(samples) int64, zero on the
    first call: the precompiled kernel cannot allocate). Deferred counts are added to
    `smpl` and `dp_gt` and zeroed before it returns; the tables stay."""
    _ws_prepare(ws, sample_idx.size, params[P_GT_MISSING_ENDS] != 0)
    r = _update_body(n, heads, s_off, shared, i_off, indiv, params, bins, filter_ids,
                     sample_idx, usr_id, usr_idx, usr_float, usr_min, usr_max, usr_nbins,
                     sn, af_ts, af_tv, af_snps, af_indels, qual_ts, qual_tv, qual_in, ins,
                     dels, subst, dp_gt, dp_site, nvaf, dvaf, smpl, vaf_snv, vaf_indel,
                     af_hwe, usr_ts, usr_tv, chrom, maf, ring, ring_state, skip, scratch, ws)
    _ws_flush(ws, sample_idx.size, smpl, dp_gt, params[P_DP_MIN], params[P_DP_MAX],
              params[P_DP_STEP])
    return r


@njit(cache=True, error_model="numpy", _nrt=False)
def _update_body(n, heads, s_off, shared, i_off, indiv, params, bins, filter_ids, sample_idx,
                 usr_id, usr_idx, usr_float, usr_min, usr_max, usr_nbins,
                 sn, af_ts, af_tv, af_snps, af_indels, qual_ts, qual_tv, qual_in, ins, dels,
                 subst, dp_gt, dp_site, nvaf, dvaf, smpl, vaf_snv, vaf_indel, af_hwe, usr_ts,
                 usr_tv, chrom, maf, ring, ring_state, skip, scratch, ws):
    m_af = params[P_M_AF]
    dp_min = params[P_DP_MIN]
    dp_max = params[P_DP_MAX]
    dp_step = params[P_DP_STEP]
    m_vals = dp_gt.size
    with_samples = params[P_SAMPLES] != 0
    gt_me = params[P_GT_MISSING_ENDS] != 0
    # `zero` is read from memory so that LLVM keeps the zeroing loops as loops: as memset
    # calls, the precompiled kernel would need a symbol MCJIT does not resolve (vnative)
    zero = scratch[1, SCRATCH_W - 1]  # never written: n_allele < SCRATCH_W
    fast_ok = sample_idx.size < (1 << PACK_BITS)
    ident = True
    for s in range(sample_idx.size):
        if sample_idx[s] != s:
            ident = False
    a_beg = scratch[0]
    a_len = scratch[1]
    a_type = scratch[2]
    a_n = scratch[3]
    iaf = scratch[4]
    ac = scratch[5]
    for k in range(n):
        h = heads[k]
        qual = _float_at(h, 20)
        rid = _int_at(h, 16, 3)
        ia = np.int64(h[24]) | (np.int64(h[25]) << 8) | (np.int64(h[26]) << 16) | (
            np.int64(h[27]) << 24)
        n_info = ia & 0xFFFF
        n_allele = ia >> 16
        fs = np.int64(h[28]) | (np.int64(h[29]) << 8) | (np.int64(h[30]) << 16) | (
            np.int64(h[31]) << 24)
        n_fmt = fs & 0xFF
        n_sample = fs >> 8
        buf = shared
        p = s_off[k]
        # ID
        t, cnt, q = _typed(buf, p)
        p = q + cnt * _size(t)
        for i in range(n_allele):
            t, cnt, q = _typed(buf, p)
            a_beg[i] = q
            a_len[i] = _clen(buf, q, q + cnt)
            p = q + cnt
        # FILTER
        t, n_flt, q = _typed(buf, p)
        p = q + n_flt * _size(t)
        if params[P_APPLY_FILTERS]:
            ok = False
            if n_flt == 0:
                ok = params[P_FILTER_MISSING] != 0
            else:
                for j in range(n_flt):
                    v = _int_at(buf, q + j * _size(t), t)
                    for f in range(filter_ids.size):
                        if filter_ids[f] == v:
                            ok = True
            if not ok:
                continue
        if skip[k]:
            # dropped by -i/-e after the reader returned it: it took its bcf1_t of the
            # ring; its ALT lengths were set only when the expression typed the alleles
            slot = ring_state[0] % RING
            ring_state[0] += 1
            if skip[k] == 2:
                for i in range(1, min(n_allele, RING_W)):
                    vt, vn = variant_type(buf, a_beg[0], a_len[0], a_beg[i], a_len[i])
                    if vn != N_STALE:
                        ring[slot, i] = vn
            continue
        # INFO
        info_dp_n = 0
        info_dp = np.int64(0)
        dp_seen = False
        an = np.int64(-1)
        ac_p = np.int64(-1)
        ac_t = 0
        ac_n = np.int64(0)
        aft_p = np.int64(-1)
        aft_n = np.int64(0)
        aft_t = 0
        for _j in range(n_info):
            key, p = _typed_int(buf, p)
            t, cnt, q = _typed(buf, p)
            p = q + cnt * _size(t)
            # bcftools reads the first DP key only (bcf_get_info_int32), whatever it holds
            if key == params[P_INFO_DP] and not dp_seen:
                dp_seen = True
                if params[P_INFO_DP_INT] and 1 <= t <= 3:
                    m = 0
                    for x in range(cnt):
                        v = _int_at(buf, q + x * _size(t), t)
                        if v == _missing(t) + 1:
                            break
                        m += 1
                    info_dp_n = m
                    if m >= 1:
                        v = _int_at(buf, q, t)
                        info_dp = np.int64(-2147483648) if v == _missing(t) else v
            if key == params[P_INFO_AN] and cnt > 0 and 1 <= t <= 3:
                an = _int_at(buf, q, t)
            elif key == params[P_INFO_AC] and 1 <= t <= 3:
                ac_p = q
                ac_t = t
                ac_n = cnt
            if key == params[P_AFTAG]:
                aft_p = q
                aft_n = cnt
                aft_t = t
        line_type = _allele_types(buf, n_allele, a_beg, a_len, a_type, a_n)
        slot = ring_state[0] % RING
        ring_state[0] += 1
        for i in range(1, n_allele):
            if a_n[i] == N_STALE:
                v = ring[slot, i] if i < RING_W else 0
                if v == RING_UNSET and ring_state.size > 1:
                    # set by records before the chunk that were not read: the caller
                    # drops this count and counts the chunk again after reading them
                    # (variants._Task), so stop here
                    ring_state[1] = 1
                    return n
                a_n[i] = v
            elif i < RING_W:
                ring[slot, i] = a_n[i]
        # per-sample format pointers
        ibuf = indiv
        gt_p = np.int64(-1)
        gt_t = 0
        gt_n = np.int64(0)
        dpf_p = np.int64(-1)
        dpf_t = 0
        dpf_n = np.int64(0)
        ad_p = np.int64(-1)
        ad_t = 0
        ad_n = np.int64(0)
        if with_samples:
            p = i_off[k]
            for _j in range(n_fmt):
                key, p = _typed_int(ibuf, p)
                t, cnt, q = _typed(ibuf, p)
                if key == params[P_FMT_GT]:
                    gt_p, gt_t, gt_n = q, t, cnt
                elif key == params[P_FMT_DP]:
                    dpf_p, dpf_t, dpf_n = q, t, cnt
                elif key == params[P_FMT_AD]:
                    ad_p, ad_t, ad_n = q, t, cnt
                p = q + cnt * _size(t) * n_sample
        # allele frequency bins (init_iaf)
        for i in range(n_allele):
            iaf[i] = zero
        af1 = np.float32(-1)
        if params[P_AFTAG] >= 0:
            if aft_p >= 0 and params[P_AFTAG_FLOAT] and aft_t == 5 and aft_n > 0:
                m = 0
                for x in range(aft_n):
                    if _float_bits(buf, aft_p + 4 * x) == 0x7F800002:
                        break
                    m += 1
                if m == n_allele - 1:
                    for i in range(1, n_allele):
                        af = _float_at(buf, aft_p + 4 * (i - 1))
                        if af != af:
                            af = np.float32(0)
                        if i == 1:
                            af1 = af
                        iaf[i] = _af_index(af, m_af, bins) + 1
        else:
            have = False
            if an >= 0 and ac_p >= 0 and ac_n != n_allele - 1:
                # htslib's bcf_calc_ac gives up on an AC of another length than the ALTs
                # (no AN check, no counts from GT): bcftools bins the record as without AC
                pass
            elif an >= 0 and ac_p >= 0:
                nac = np.int64(0)
                for i in range(n_allele):
                    ac[i] = zero
                for x in range(ac_n):
                    if x + 1 < n_allele:
                        ac[x + 1] = _int_at(buf, ac_p + x * _size(ac_t), ac_t)
                    nac += _int_at(buf, ac_p + x * _size(ac_t), ac_t)
                if an < nac:
                    return k  # bcftools: "Incorrect AN/AC counts"; reported by the caller
                ac[0] = an - nac
                have = True
            elif with_samples and gt_p >= 0:
                for i in range(n_allele):
                    ac[i] = zero
                sz = _size(gt_t)
                vend = _missing(gt_t) + 1
                # bcf_calc_ac counts every sample of the record: bcftools stats selects
                # samples in its synced reader, the records keep all of them
                for s in range(n_sample):
                    base = gt_p + s * gt_n * sz
                    for x in range(gt_n):
                        v = _int_at(ibuf, base + x * sz, gt_t)
                        if v == vend or (gt_me and v == vend - 1):
                            break
                        al = v >> 1
                        if al == 0:
                            continue
                        if al > n_allele:
                            return -1 - k
                        ac[al - 1] += 1
                have = True
            if have:
                af1 = _iaf_from_ac(ac, n_allele, iaf, m_af, bins)
        _count_summary(sn, chrom, maf, rid, n_allele, af1, line_type)
        iqual = qual_bin(qual)
        if iqual >= qual_ts.size:  # arrays sized N_QUAL never get here
            iqual = qual_ts.size - 1
        # scratch[SCRATCH_QHI, 0]: an upper bound of the QUAL bins written, so that the
        # caller packs and merges the large, mostly empty QUAL arrays only up to it
        if scratch.shape[0] > SCRATCH_QHI and iqual >= scratch[SCRATCH_QHI, 0]:
            scratch[SCRATCH_QHI, 0] = iqual + 1
        if line_type & VT_SNP:
            alt1 = _count_snps(buf, n_allele, a_beg, a_len, a_type, iaf, iqual, sn, subst,
                               af_snps, af_ts, af_tv, qual_ts, qual_tv)
            if alt1 >= 0:
                # the user-defined INFO stats of a counted ALT1 SNP, split by ts/tv
                _user_stats(buf, s_off[k], n_allele, a_beg, a_len, n_info, usr_id, usr_idx,
                            usr_float, usr_min, usr_max, usr_nbins,
                            usr_ts if alt1 == 1 else usr_tv)
        _count_rest(n_allele, a_type, a_n, iaf, iqual, line_type, sn, af_indels, qual_in, ins,
                    dels)
        if with_samples:
            fast = (fast_ok and n_allele == 2 and gt_p >= 0 and gt_t == 1
                    and (gt_n == 1 or gt_n == 2) and (ad_p < 0 or (
                        ad_n == 2 and (ad_t == 1 or ad_t == 2)))
                    and (dpf_p < 0 or dpf_t == 1 or dpf_t == 2))
            if not (fast and _sample_fast(
                    ibuf, buf, a_beg, a_len, a_type, a_n, iaf, gt_p, gt_n, dpf_p, dpf_t,
                    dpf_n, ad_p, ad_t, sample_idx, smpl, vaf_snv, vaf_indel, nvaf, dvaf,
                    af_hwe, ws, ident)):
                _sample_stats(ibuf, buf, a_beg, a_len, a_type, a_n, n_allele, iaf, gt_p,
                              gt_t, gt_n, dpf_p, dpf_t, dpf_n, ad_p, ad_t, ad_n, sample_idx,
                              smpl, vaf_snv, vaf_indel, nvaf, dvaf, af_hwe, gt_me)
            if dpf_p >= 0:
                _dp_stats(ibuf, dpf_p, dpf_t, dpf_n, sample_idx, smpl, dp_gt, dp_min,
                          dp_max, dp_step, m_vals, ws, ident)
            elif ad_p >= 0:
                _dp_from_ad(ibuf, ad_p, ad_t, ad_n, sample_idx, smpl, dp_gt, dp_min, dp_max,
                            dp_step, m_vals)
        if info_dp_n == 1:
            dp_site[_idist(info_dp, dp_min, dp_max, dp_step, m_vals)] += 1
    return n


@njit(cache=True, error_model="numpy", _nrt=False)
def _user_stats(buf, p0, n_allele, a_beg, a_len, n_info, usr_id, usr_idx, usr_float,
                usr_min, usr_max, usr_nbins, vals):
    if usr_id.size == 0:
        return
    # re-walk INFO (user tags are rare; keeps the main loop simple)
    p = p0
    t, cnt, q = _typed(buf, p)
    p = q + cnt * _size(t)
    for _i in range(n_allele):
        t, cnt, q = _typed(buf, p)
        p = q + cnt
    t, cnt, q = _typed(buf, p)
    p = q + cnt * _size(t)
    for _j in range(n_info):
        key, p = _typed_int(buf, p)
        t, cnt, q = _typed(buf, p)
        p = q + cnt * _size(t)
        for u in range(usr_id.size):
            if key != usr_id[u]:
                continue
            is_float = usr_float[u] != 0
            if is_float and t != 5:
                continue
            if not is_float and not (1 <= t <= 3):
                continue
            m = 0
            for x in range(cnt):
                if is_float:
                    if _float_bits(buf, q + 4 * x) == 0x7F800002:
                        break
                elif _int_at(buf, q + x * _size(t), t) == _missing(t) + 1:
                    break
                m += 1
            if m <= 0 or usr_idx[u] >= m:
                continue
            if is_float:
                val = _float_at(buf, q + 4 * usr_idx[u])
            else:
                iv = _int_at(buf, q + usr_idx[u] * _size(t), t)
                if iv == _missing(t):
                    iv = -2147483648
                val = np.float32(iv)
            lo = usr_min[u]
            hi = usr_max[u]
            nb = usr_nbins[u]
            if val <= lo:
                idx = 0
            elif val >= hi:
                idx = nb - 1
            else:
                idx = np.int64((val - lo) / (hi - lo) * np.float32(nb - 1))
            vals[u, idx] += 1


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _gt2_i8(ibuf, base, missing_ends):
    """_gt_type for the common encoding: int8 values, ploidy 2 (same results)."""
    v0 = np.int64(ibuf[base])
    v1 = np.int64(ibuf[base + 1])
    if v0 >= 128:
        v0 -= 256
    if v1 >= 128:
        v1 -= 256
    if v0 == -127 or (missing_ends and v0 == -128):
        return GT_UNKN, 0, 0
    a0 = v0 >> 1
    if a0 == 0:
        return GT_UNKN, 0, 0
    if v1 == -127 or (missing_ends and v1 == -128):
        if a0 > 1:
            return GT_HAPL_A, a0 - 1, 0
        return GT_HAPL_R, 0, 0
    a1 = v1 >> 1
    if a1 == 0:
        return GT_UNKN, 0, 0
    if a0 <= 1:
        if a1 <= 1:
            return GT_HOM_RR, 0, 0
        return GT_HET_RA, a1 - 1, 0
    if a1 <= 1:
        return GT_HET_RA, a0 - 1, 0
    if a0 == a1:
        return GT_HOM_AA, a0 - 1, 0
    if a0 < a1:
        return GT_HET_AA, a0 - 1, a1 - 1
    return GT_HET_AA, a1 - 1, a0 - 1


@njit(cache=True, error_model="numpy", _nrt=False)
def _gt_type(ibuf, base, t, n, missing_ends):
    """bcf_gt_type: (class, ial, jal) with allele indexes (0 = REF). `missing_ends`: a
    value equal to the type's missing sentinel ends the genotype, as htslib's BCF reader
    leaves it (raw BCF read in place, `vbcfdirect`); from VCF text it stays a value."""
    sz = _size(t)
    vend = _missing(t) + 1
    nals = 0
    has_ref = False
    has_alt = 0
    ial = 0
    jal = 0
    for x in range(n):
        v = _int_at(ibuf, base + x * sz, t)
        if v == vend or (missing_ends and v == vend - 1):
            break
        if (v >> 1) == 0:
            return GT_UNKN, 0, 0
        tmp = v >> 1
        if tmp > 1:
            if ial == 0:
                ial = tmp
                has_alt = 1
            elif tmp != ial:
                if tmp < ial:
                    jal = ial
                    ial = tmp
                else:
                    jal = tmp
                has_alt = 2
        else:
            has_ref = True
        nals += 1
    ial = ial - 1 if ial > 0 else ial
    jal = jal - 1 if jal > 0 else jal
    if nals == 0:
        return GT_UNKN, ial, jal
    if nals == 1:
        return (GT_HAPL_R if has_ref else GT_HAPL_A), ial, jal
    if not has_ref:
        return (GT_HOM_AA if has_alt == 1 else GT_HET_AA), ial, jal
    if has_alt == 0:
        return GT_HOM_RR, ial, jal
    return GT_HET_RA, ial, jal


@njit(cache=True, error_model="numpy", _nrt=False)
def _vaf_one(ibuf, ad_base, ad_t, ad_n, allele, total):
    """AD[allele] / total, or NaN when it is not taken (no such value, missing, zero AD,
    zero total)."""
    if allele >= ad_n or total == 0:
        return np.nan
    v = _int_at(ibuf, ad_base + allele * _size(ad_t), ad_t)
    if v == _missing(ad_t) or v == _missing(ad_t) + 1 or v == 0:
        return np.nan
    return np.float32(v) / np.float32(total)


@njit(cache=True, error_model="numpy", _nrt=False)
def _sample_stats(ibuf, buf, a_beg, a_len, a_type, a_n, n_allele, iaf, gt_p, gt_t, gt_n,
                  dpf_p, dpf_t, dpf_n, ad_p, ad_t, ad_n, sample_idx, smpl, vaf_snv,
                  vaf_indel, nvaf, dvaf, af_hwe, missing_ends):
    """Every genotype class, ploidy, allele count and FORMAT type (see `_sample_fast`)."""
    n_sel = sample_idx.size
    nref_tot = 0
    nhet_tot = 0
    nalt_tot = 0
    if gt_p >= 0:
        ref = _acgt(buf[a_beg[0]]) if a_len[0] > 0 else -1
        n_nref = 0
        i_nref = 0
        gsz = _size(gt_t)
        asz = _size(ad_t)
        fast_gt = gt_t == 1 and gt_n == 2
        for s in range(n_sel):
            si = sample_idx[s]
            if fast_gt:
                b0 = ibuf[gt_p + si * 2]
                b1 = ibuf[gt_p + si * 2 + 1]
                if (b0 | 1) == 3 and (b1 | 1) == 3:
                    # REF/REF, most genotypes of a multi-allelic record too: what the
                    # steps below do for it (no VAF step, allele types unset)
                    nref_tot += 1
                    smpl[s, PS_HOMRR] += 1
                    continue
                gt, ial, jal = _gt2_i8(ibuf, gt_p + si * 2, missing_ends)
            else:
                gt, ial, jal = _gt_type(ibuf, gt_p + si * gt_n * gsz, gt_t, gt_n,
                                        missing_ends)
            if gt != GT_HOM_RR and ad_p >= 0:
                # bcftools 1.24: the fraction is AD[allele] over FORMAT/DP when the record
                # has FORMAT/DP (a missing or zero DP skips the genotype), else over the
                # sum of the non-missing AD values. IDD takes every fraction, the VAF
                # histogram only those within [0, 1]. A missing genotype takes the ALT
                # with the most reads; a second ALT with as many reads as the first is
                # not counted again.
                base = ad_p + si * ad_n * asz
                vend_ad = _missing(ad_t) + 1
                if gt == GT_UNKN:
                    best = np.int64(0)
                    ial = 0
                    jal = 0
                    for x in range(1, ad_n):
                        v = _int_at(ibuf, base + x * asz, ad_t)
                        if v == vend_ad:
                            break
                        if v == _missing(ad_t):
                            continue
                        if ial == 0 or v > best:
                            best = v
                            ial = x
                total = 0
                if dpf_p >= 0:
                    dsz = _size(dpf_t)
                    dv = _int_at(ibuf, dpf_p + si * dpf_n * dsz, dpf_t)
                    if dv != _missing(dpf_t) and dv != _missing(dpf_t) + 1:
                        total = dv
                else:
                    for x in range(ad_n):
                        v = _int_at(ibuf, base + x * asz, ad_t)
                        if v == vend_ad:
                            break
                        if v == _missing(ad_t):
                            continue
                        total += v
                first_ad = np.int64(-1)
                for w in range(2):
                    a = ial if w == 0 else jal
                    if a <= 0 or (w == 1 and a == ial) or a >= n_allele or a >= ad_n:
                        continue
                    v = _int_at(ibuf, base + a * asz, ad_t)
                    if w == 0:
                        first_ad = v
                    elif v == first_ad:
                        continue
                    vaf = _vaf_one(ibuf, base, ad_t, ad_n, a, total)
                    if vaf != vaf:
                        continue
                    ln = a_n[a]
                    if ln < -M_INDEL:
                        ln = -M_INDEL
                    elif ln > M_INDEL:
                        ln = M_INDEL
                    nvaf[M_INDEL + ln] += 1
                    dvaf[M_INDEL + ln] += vaf
                    if vaf < 0 or vaf > 1:
                        continue
                    # the float fraction times 20, rounded to float, halves to even
                    b = np.int64(np.rint(np.float32(np.float32(vaf) * np.float32(20))))
                    if a_type[a] & VT_SNP:
                        vaf_snv[s, b] += 1
                    else:
                        vaf_indel[s, b] += 1
            if gt == GT_UNKN:
                smpl[s, PS_MISSING] += 1
                continue
            if gt == GT_HAPL_R or gt == GT_HAPL_A:
                if gt == GT_HAPL_R:
                    smpl[s, PS_HAPREF] += 1
                else:
                    smpl[s, PS_HAPALT] += 1
                continue
            if gt != GT_HOM_RR:
                n_nref += 1
                i_nref = s
            if gt == GT_HOM_RR:
                nref_tot += 1
            elif gt == GT_HET_RA:
                nhet_tot += 1
            else:
                nalt_tot += 1
            var_type = 0
            if ial > 0:
                var_type |= a_type[ial]
            if jal > 0:
                var_type |= a_type[jal]
            if (var_type & VT_SNP) or var_type == VT_REF:
                if gt == GT_HET_RA or gt == GT_HET_AA:
                    smpl[s, PS_HETS] += 1
                elif gt == GT_HOM_RR:
                    smpl[s, PS_HOMRR] += 1
                elif gt == GT_HOM_AA:
                    smpl[s, PS_HOMAA] += 1
                if gt != GT_HOM_RR:
                    # every distinct SNP allele of the genotype (bcftools >= 1.2x)
                    for w in range(2):
                        a = ial if w == 0 else jal
                        if a <= 0 or (w == 1 and a == ial) or not (a_type[a] & VT_SNP):
                            continue
                        alt = _acgt(buf[a_beg[a]]) if a_len[a] > 0 else -1
                        if alt < 0:
                            continue
                        if abs(ref - alt) == 2:
                            smpl[s, PS_TS] += 1
                        else:
                            smpl[s, PS_TV] += 1
            if var_type & VT_INDEL:
                if gt != GT_HOM_RR:
                    smpl[s, PS_INDELS] += 1
                    if gt == GT_HET_RA or gt == GT_HET_AA:
                        is_ins = False
                        is_del = False
                        if a_type[ial] & VT_INDEL:
                            if a_n[ial] < 0:
                                is_del = True
                            else:
                                is_ins = True
                        if a_type[jal] & VT_INDEL:
                            if a_n[jal] < 0:
                                is_del = True
                            else:
                                is_ins = True
                        if is_del:
                            smpl[s, PS_DEL_HETS] += 1
                        if is_ins:
                            smpl[s, PS_INS_HETS] += 1
                    elif gt == GT_HOM_AA:
                        if a_n[ial] < 0:
                            smpl[s, PS_DEL_HOMS] += 1
                        else:
                            smpl[s, PS_INS_HOMS] += 1
        if n_nref == 1:
            smpl[i_nref, PS_SNGL] += 1
    tot = nhet_tot + nref_tot + nalt_tot
    if tot and n_allele > 1:
        het_frac = np.float32(nhet_tot) / np.float32(tot)
        idx = np.int64(het_frac * np.float32(N_HWE - 1))
        if n_allele > 1:
            idx += N_HWE * iaf[1]
        af_hwe[idx] += 1


@njit(cache=True, error_model="numpy", _nrt=False)
def _dp_from_ad(ibuf, ad_p, ad_t, ad_n, sample_idx, smpl, dp_gt, dp_min, dp_max, dp_step,
                m_vals):
    """Without FORMAT/DP a genotype's depth is the sum of its non-missing AD values."""
    asz = _size(ad_t)
    for s in range(sample_idx.size):
        base = ad_p + sample_idx[s] * ad_n * asz
        d = 0
        has = False
        for x in range(ad_n):
            v = _int_at(ibuf, base + x * asz, ad_t)
            if v == _missing(ad_t) + 1:
                break
            if v == _missing(ad_t):
                continue
            has = True
            d += v
        if has and d != 0:
            dp_gt[_idist(d, dp_min, dp_max, dp_step, m_vals)] += 1
            smpl[s, PS_NDP] += 1
            smpl[s, PS_DP] += d


@njit(cache=True, error_model="numpy", _nrt=False)
def split_bcf(start, end, buf, heads, s_off, i_off, out):
    """Cut buf[start:end] (inflated BCF records) into a batch: for each whole record, the
    32 leading bytes htslib's bcf_read leaves in bcf1_t (pos, rlen as int64, rid, qual,
    n_info|n_allele, n_fmt|n_sample) and the offsets of its shared part after those fields
    and of its per-sample part, both into `buf`. out = [records, offset after the last]."""
    cap = heads.shape[0]
    n = 0
    p = start
    while n < cap and p + 32 <= end:
        l_shared = _int_at(buf, p, 3) & 0xFFFFFFFF
        l_indiv = _int_at(buf, p + 4, 3) & 0xFFFFFFFF
        q = p + 8 + l_shared + l_indiv
        if q > end or l_shared < 24:
            break
        b = p + 8
        h = heads[n]
        pos = _int_at(buf, b + 4, 3)
        rlen = _int_at(buf, b + 8, 3)
        for j in range(8):
            h[j] = (pos >> (8 * j)) & 0xFF
            h[8 + j] = (rlen >> (8 * j)) & 0xFF
        for j in range(4):
            h[16 + j] = buf[b + j]  # rid
            h[20 + j] = buf[b + 12 + j]  # qual
            h[24 + j] = buf[b + 16 + j]  # n_info | n_allele << 16
            h[28 + j] = buf[b + 20 + j]  # n_sample | n_fmt << 24
        # bcf1_t keeps n_fmt:8 | n_sample:24 in the other order
        n_sample = _int_at(buf, b + 20, 3) & 0xFFFFFF
        n_fmt = (_int_at(buf, b + 20, 3) >> 24) & 0xFF
        v = n_fmt | (n_sample << 8)
        for j in range(4):
            h[28 + j] = (v >> (8 * j)) & 0xFF
        s_off[n] = b + 24
        i_off[n] = b + l_shared
        n += 1
        p = q
    s_off[n] = p
    i_off[n] = p
    out[0] = n
    out[1] = p
    return 0


# ---------------------------------------------------------------------------------------
# Biallelic records with int8 genotypes (nearly every cohort record): classes from tables.
#
# Each GT byte becomes a 2-bit code (C1 table: '.', REF, ALT, vector end; anything else,
# an allele index > 1 or a negative value, is OTHER and sends the record to
# `_sample_stats`). A genotype is then one of 16 codes c = c0 << 2 | c1 whose class is
# fixed (CLS); hom-ref is the one code C_HOMRR. The per-sample loop only reads the two
# bytes and appends the sample to a list unless it is hom-ref: no branch, no scattered
# store. The listed genotypes (a third on a typical cohort) then add their code's term to
# a packed sum of the het/hom-alt totals (HWE, singletons; hom-ref ones are the unlisted),
# add one to their outcome, the per-sample counter set OUT[c] their record gives them
# (set per record from its ALT), and go through the VAF step. Outcome counts stay in
# `ws` and are added to `smpl` once per batch, hom-ref counts as the fast records minus
# the sample's other outcomes.
#
# Indexes are cast to unsigned where the hot loops index arrays: numba wraps negative
# signed indexes around, a compare and a conditional move on every access.

C_MISS, C_REF, C_ALT, C_END, C_OTHER = 0, 1, 2, 3, 16
C_HOMRR = C_REF << 2 | C_REF  # the only hom-ref genotype code
PACK_BITS = 21  # fields of the packed class sum (samples per record < 2**21)
PACK_MASK = (1 << PACK_BITS) - 1
# outcomes: which per-sample counters (smpl columns) a genotype adds one to
(O_NONE, O_HOMRR, O_MISSING, O_HAPREF, O_HAPALT, O_HETS, O_HOMAA, O_HETS_TS, O_HETS_TV,
 O_HOMAA_TS, O_HOMAA_TV, O_INS_HET, O_DEL_HET, O_INS_HOM, O_DEL_HOM) = range(15)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _u(i):
    return np.uint64(i)


@njit(cache=True, error_model="numpy", _nrt=False)
def ws_size(n_sel):
    """int64 elements of `update_ws`'s workspace for n_sel samples (vnative.ws_size)."""
    return WS_FIXED + (N_OUT + WS_PER_SAMPLE) * n_sel


@njit(cache=True, error_model="numpy", _nrt=False)
def _ws_prepare(ws, n_sel, missing_ends):
    """The tables that depend on the run only (the counts must already be zero)."""
    if ws[WS_VAF_READY] == 0:
        for b in range(1 << 16):
            ws[WS_VAF + b] = _vaf_entry(b >> 8, b & 255)
        ws[WS_VAF_READY] = 1
    for b in range(256):
        if b == 0x81 or (missing_ends and b == 0x80):
            ws[WS_C1 + b] = C_END
        elif b < 6:
            ws[WS_C1 + b] = b >> 1
        else:
            ws[WS_C1 + b] = C_OTHER
    for c in range(16):
        c0 = c >> 2
        c1 = c & 3
        if c0 == C_MISS or c0 == C_END or c1 == C_MISS:
            cls = GT_UNKN
        elif c1 == C_END:
            cls = GT_HAPL_R if c0 == C_REF else GT_HAPL_A
        elif c0 == C_REF and c1 == C_REF:
            cls = GT_HOM_RR
        elif c0 == C_ALT and c1 == C_ALT:
            cls = GT_HOM_AA
        else:
            cls = GT_HET_RA
        ws[WS_CLS + c] = cls
        if cls == GT_HOM_RR:
            ws[WS_PACK + c] = 1
        elif cls == GT_HET_RA:
            ws[WS_PACK + c] = 1 << PACK_BITS
        elif cls == GT_HOM_AA:
            ws[WS_PACK + c] = 1 << (2 * PACK_BITS)
        else:
            ws[WS_PACK + c] = 0


VAF_TAKEN = 1 << 41  # _vaf_entry: the VAF step takes the genotype (IDD)
VAF_INSIDE = 1 << 40  # ... and its fraction is within [0, 1] (VAF histogram)


@njit(cache=True, error_model="numpy", _nrt=False)
def _vaf_entry(ad1, dp):
    """The VAF step of a genotype whose int8 AD[1] and FORMAT/DP bytes are ad1 and dp, as
    `_listed` does it: 0 when it is skipped (either missing, vector end or zero), else
    VAF_TAKEN | the float32 fraction's bits | with VAF_INSIDE its histogram bin << 32."""
    a1 = ad1 - 256 if ad1 >= 128 else ad1
    dv = dp - 256 if dp >= 128 else dp
    if a1 == -128 or a1 == -127 or a1 == 0 or dv == -128 or dv == -127 or dv == 0:
        return np.int64(0)
    vaf = np.float32(a1) / np.float32(dv)
    e = VAF_TAKEN | _f32_to_bits(vaf)
    if vaf < 0 or vaf > 1:
        return e
    return e | VAF_INSIDE | (np.int64(np.rint(np.float32(vaf * np.float32(20)))) << 32)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _expand(o):
    """The smpl columns (second one or -1) outcome `o` adds to."""
    if o == O_HOMRR:
        return PS_HOMRR, -1
    if o == O_MISSING:
        return PS_MISSING, -1
    if o == O_HAPREF:
        return PS_HAPREF, -1
    if o == O_HAPALT:
        return PS_HAPALT, -1
    if o == O_HETS:
        return PS_HETS, -1
    if o == O_HOMAA:
        return PS_HOMAA, -1
    if o == O_HETS_TS:
        return PS_HETS, PS_TS
    if o == O_HETS_TV:
        return PS_HETS, PS_TV
    if o == O_HOMAA_TS:
        return PS_HOMAA, PS_TS
    if o == O_HOMAA_TV:
        return PS_HOMAA, PS_TV
    if o == O_INS_HET:
        return PS_INDELS, PS_INS_HETS
    if o == O_DEL_HET:
        return PS_INDELS, PS_DEL_HETS
    if o == O_INS_HOM:
        return PS_INDELS, PS_INS_HOMS
    if o == O_DEL_HOM:
        return PS_INDELS, PS_DEL_HOMS
    return -1, -1


@njit(cache=True, error_model="numpy", _nrt=False)
def _ws_flush(ws, n_sel, smpl, dp_gt, dp_min, dp_max, dp_step):
    """Add the deferred counts to smpl and dp_gt and zero them for the next batch (each
    zeroed in a loop that also reads: LLVM keeps it a loop, no memset call, see vnative)."""
    n_fast = ws[WS_NFAST]
    ws[WS_NFAST] = n_fast - n_fast
    dps = WS_FIXED + (N_OUT + WS_DPS) * n_sel
    ndp = WS_FIXED + (N_OUT + WS_NDP) * n_sel
    for s in range(n_sel):
        row = WS_FIXED + s * N_OUT
        listed = np.int64(0)
        for o in range(N_OUT):
            v = ws[row + o]
            if v == 0:
                continue
            ws[row + o] = v - v
            listed += v
            a, b = _expand(o)
            if a >= 0:
                smpl[s, a] += v
            if b >= 0:
                smpl[s, b] += v
        smpl[s, PS_HOMRR] += n_fast - listed
        v = ws[dps + s]
        ws[dps + s] = v - v
        smpl[s, PS_DP] += v
        v = ws[ndp + s]
        ws[ndp + s] = v - v
        smpl[s, PS_NDP] += v
    m_vals = dp_gt.size
    for b in range(256):
        v = np.int64(0)
        for k in range(4):
            x = ws[WS_H8 + 256 * k + b]
            ws[WS_H8 + 256 * k + b] = x - x
            v += x
        if v == 0:
            continue
        d = b - 256 if b >= 128 else b
        if d == 0 or d == -128 or d == -127:
            continue
        dp_gt[_idist(d, dp_min, dp_max, dp_step, m_vals)] += v


@njit(cache=True, error_model="numpy", _nrt=False)
def _record_table(ws, buf, a_beg, a_len, a_type, a_n, with_ad):
    """OUT and NEED for a biallelic record (the `_sample_stats` rules with ial = 1)."""
    vt = a_type[1]
    het_o = O_NONE
    hom_o = O_NONE
    if (vt & VT_SNP) or vt == VT_REF:
        het_o = O_HETS
        hom_o = O_HOMAA
        if vt & VT_SNP:
            ref = _acgt(buf[a_beg[0]]) if a_len[0] > 0 else -1
            alt = _acgt(buf[a_beg[1]]) if a_len[1] > 0 else -1
            if alt >= 0:
                if abs(ref - alt) == 2:
                    het_o = O_HETS_TS
                    hom_o = O_HOMAA_TS
                else:
                    het_o = O_HETS_TV
                    hom_o = O_HOMAA_TV
    if vt & VT_INDEL:
        if a_n[1] < 0:
            het_o = O_DEL_HET
            hom_o = O_DEL_HOM
        else:
            het_o = O_INS_HET
            hom_o = O_INS_HOM
    need = 1 if with_ad else 0
    for c in range(16):
        cls = ws[WS_CLS + c]
        if cls == GT_HOM_RR:
            ws[WS_OUT + c] = O_HOMRR
            ws[WS_NEED + c] = 0
        elif cls == GT_UNKN:
            ws[WS_OUT + c] = O_MISSING
            ws[WS_NEED + c] = need
        elif cls == GT_HAPL_R:
            ws[WS_OUT + c] = O_HAPREF
            ws[WS_NEED + c] = 0
        elif cls == GT_HAPL_A:
            ws[WS_OUT + c] = O_HAPALT
            ws[WS_NEED + c] = need
        elif cls == GT_HET_RA:
            ws[WS_OUT + c] = het_o
            ws[WS_NEED + c] = need
        else:
            ws[WS_OUT + c] = hom_o
            ws[WS_NEED + c] = need


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _i8(buf, p):
    v = np.int64(buf[_u(p)])
    return v - 256 if v >= 128 else v


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _i16(buf, p):
    v = np.int64(buf[_u(p)]) | (np.int64(buf[_u(p + 1)]) << 8)
    return v - 65536 if v >= 32768 else v


@njit(cache=True, error_model="numpy", _nrt=False)
def _sample_fast(ibuf, buf, a_beg, a_len, a_type, a_n, iaf, gt_p, gt_n, dpf_p, dpf_t, dpf_n,
                 ad_p, ad_t, sample_idx, smpl, vaf_snv, vaf_indel, nvaf, dvaf, af_hwe, ws,
                 ident):
    """`_sample_stats` (without DP) for a biallelic record whose GT is int8 of ploidy 1 or
    2 and whose AD, if any, has 2 int8/int16 values; False (nothing counted) when a
    genotype holds anything but '.', 0, 1 or the vector end. `ident`: sample_idx is
    0..n-1."""
    n_sel = sample_idx.size
    codes = WS_FIXED + N_OUT * n_sel
    lst = codes + n_sel
    bad = np.int64(0)
    m = np.int64(0)
    if ident and gt_n == 2:
        # the codes in a loop without table loads or the list's dependent store, which
        # LLVM vectorises; the list after it (below)
        end_b = 0x80 if ws[WS_C1 + 0x80] == C_END else 0x81
        for s in range(n_sel):
            b0 = np.int64(ibuf[_u(gt_p + 2 * s)])
            b1 = np.int64(ibuf[_u(gt_p + 2 * s + 1)])
            c0 = (b0 >> 1) if b0 < 6 else np.int64(C_OTHER)
            c1 = (b1 >> 1) if b1 < 6 else np.int64(C_OTHER)
            c0 = np.int64(C_END) if (b0 == 0x81) | (b0 == end_b) else c0
            c1 = np.int64(C_END) if (b1 == 0x81) | (b1 == end_b) else c1
            c = (c0 << 2) | c1
            bad |= c
            c &= 15
            ws[_u(codes + s)] = c
            m += np.int64(c != C_HOMRR)
        if bad >= C_OTHER:
            return False
        j = np.int64(0)
        for s in range(n_sel):
            ws[_u(lst + j)] = s
            j += np.int64(ws[_u(codes + s)] != C_HOMRR)
    else:
        for s in range(n_sel):
            si = s if ident else sample_idx[_u(s)]
            if gt_n == 2:
                p = gt_p + 2 * si
                c = (ws[_u(WS_C1 + ibuf[_u(p)])] << 2) | ws[_u(WS_C1 + ibuf[_u(p + 1)])]
            else:
                c = (ws[_u(WS_C1 + ibuf[_u(gt_p + si)])] << 2) | C_END
            bad |= c
            c &= 15
            ws[_u(codes + s)] = c
            ws[_u(lst + m)] = s
            m += np.int64(c != C_HOMRR)  # every other code is listed
        if bad >= C_OTHER:
            return False
    ws[WS_NFAST] += 1
    _record_table(ws, buf, a_beg, a_len, a_type, a_n, ad_p >= 0)
    nref = n_sel - m
    packed = np.int64(0)
    if m:
        packed = _listed(ibuf, a_type, a_n, dpf_p, dpf_t, dpf_n, ad_p, ad_t, sample_idx,
                         vaf_snv, vaf_indel, nvaf, dvaf, ws, codes, lst, m, ident)
    nhet = (packed >> PACK_BITS) & PACK_MASK
    nalt = packed >> (2 * PACK_BITS)
    if nhet + nalt == 1:
        for j in range(m):
            s = ws[_u(lst + j)]
            if ws[_u(WS_PACK + ws[_u(codes + s)])] > 1:
                smpl[s, PS_SNGL] += 1
                break
    tot = nref + nhet + nalt
    if tot:
        het_frac = np.float32(nhet) / np.float32(tot)
        af_hwe[np.int64(het_frac * np.float32(N_HWE - 1)) + N_HWE * iaf[1]] += 1
    return True


@njit(cache=True, error_model="numpy", _nrt=False)
def _listed(ibuf, a_type, a_n, dpf_p, dpf_t, dpf_n, ad_p, ad_t, sample_idx, vaf_snv,
            vaf_indel, nvaf, dvaf, ws, codes, lst, m, ident):
    """The listed (not hom-ref) genotypes of a biallelic record: their outcome, then the
    VAF/IDD step of `_sample_stats` for those that take ALT 1 (every listed class but
    haploid REF; a missing genotype too, when its AD[1] is a value), in sample order."""
    ln = a_n[1]
    if ln < -M_INDEL:
        ln = -M_INDEL
    elif ln > M_INDEL:
        ln = M_INDEL
    vi = M_INDEL + ln
    rows = vaf_snv if a_type[1] & VT_SNP else vaf_indel
    d = dvaf[vi]
    nv = 0
    packed = np.int64(0)
    if ad_t == 1 and dpf_p >= 0 and dpf_t == 1:
        # int8 AD and DP (the common encoding): the step from the table, no branch; a
        # genotype it skips adds 0 to the counts and 0.0 to the IDD sum (d stays d)
        for j in range(m):
            s = ws[_u(lst + j)]
            c = ws[_u(codes + s)]
            packed += ws[_u(WS_PACK + c)]
            ws[_u(WS_FIXED + s * N_OUT + ws[_u(WS_OUT + c)])] += 1
            si = s if ident else sample_idx[_u(s)]
            e = ws[_u(WS_VAF + (np.int64(ibuf[_u(ad_p + 2 * si + 1)]) << 8)
                      + ibuf[_u(dpf_p + si * dpf_n)])]
            ok = ws[_u(WS_NEED + c)] & (e >> 41)
            nv += ok
            vaf = np.float64(_bits_to_f32(e))
            d += vaf if ok else np.float64(0)
            rows[_u(s), _u((e >> 32) & 31)] += (e >> 40) & ok
        nvaf[vi] += nv
        dvaf[vi] = d
        return packed
    asz = _size(ad_t)
    ad_miss = _missing(ad_t)
    dp_miss = _missing(dpf_t)
    for j in range(m):
        s = ws[_u(lst + j)]
        c = ws[_u(codes + s)]
        packed += ws[_u(WS_PACK + c)]
        ws[_u(WS_FIXED + s * N_OUT + ws[_u(WS_OUT + c)])] += 1
        if ws[_u(WS_NEED + c)] == 0:
            continue
        si = s if ident else sample_idx[_u(s)]
        base = ad_p + si * 2 * asz
        if ad_t == 1:
            a0 = _i8(ibuf, base)
            a1 = _i8(ibuf, base + 1)
        else:
            a0 = _i16(ibuf, base)
            a1 = _i16(ibuf, base + 2)
        if a1 == ad_miss or a1 == ad_miss + 1 or a1 == 0:
            continue
        total = np.int64(0)
        if dpf_p >= 0:
            if dpf_t == 1:
                dv = _i8(ibuf, dpf_p + si * dpf_n)
            else:
                dv = _int_at(ibuf, dpf_p + si * dpf_n * _size(dpf_t), dpf_t)
            if dv != dp_miss and dv != dp_miss + 1:
                total = dv
        elif a0 != ad_miss + 1:  # AD sum: the vector ends at its end marker
            if a0 != ad_miss:
                total += a0
            total += a1
        if total == 0:
            continue
        vaf = np.float32(a1) / np.float32(total)
        nv += 1
        d += vaf
        if vaf < 0 or vaf > 1:
            continue
        rows[_u(s), _u(np.int64(np.rint(np.float32(vaf * np.float32(20)))))] += 1
    nvaf[vi] += nv
    dvaf[vi] = d
    return packed


@njit(cache=True, error_model="numpy", _nrt=False)
def _dp_stats(ibuf, dpf_p, dpf_t, dpf_n, sample_idx, smpl, dp_gt, dp_min, dp_max, dp_step,
              m_vals, ws, ident):
    """FORMAT/DP: per-sample depth sums and the DP histogram (int8 values: sums kept in
    ws, the histogram by byte value, both added once per batch). Missing, vector-end and
    zero values are not counted."""
    n_sel = sample_idx.size
    if dpf_t == 1:
        dps = WS_FIXED + (N_OUT + WS_DPS) * n_sel
        ndp = WS_FIXED + (N_OUT + WS_NDP) * n_sel
        for s in range(n_sel):  # no histogram store in this loop: it can be vectorised
            si = s if ident else sample_idx[_u(s)]
            v = _i8(ibuf, dpf_p + si * dpf_n)
            ok = np.int64((v != 0) & (v > -127))
            ws[_u(dps + s)] += v * ok
            ws[_u(ndp + s)] += ok
        for s in range(n_sel):
            si = s if ident else sample_idx[_u(s)]
            # four interleaved histograms: equal neighbours do not wait on each other
            ws[_u(WS_H8 + ((s & 3) << 8) + ibuf[_u(dpf_p + si * dpf_n)])] += 1
        return
    sz = _size(dpf_t)
    miss = _missing(dpf_t)
    for s in range(n_sel):
        v = _int_at(ibuf, dpf_p + sample_idx[s] * dpf_n * sz, dpf_t)
        if v == miss + 1 or v == miss or v == 0:
            continue
        dp_gt[_idist(v, dp_min, dp_max, dp_step, m_vals)] += 1
        smpl[s, PS_NDP] += 1
        smpl[s, PS_DP] += v
