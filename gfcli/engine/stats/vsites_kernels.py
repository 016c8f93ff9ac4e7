"""numba kernel of the sites-only VCF text statistics (`vsites`): lines in, counters out.

`count_lines` reads whole VCF lines and adds to the accumulator arrays what
`vkernels.update` adds for the same records read by htslib without samples (no -s, no
-f/-u/--af-tag/-i/-e): SN, TSTV, SiS/AF, QUAL, IDD sites, ST, DP sites, per-contig counts,
MAF, and the ring of ALT lengths symbolic alleles show (vkernels.N_STALE). Allele types come
from `vkernels.variant_type` itself, bins from its helpers; what `update` reads from the BCF
encoding is read here from the text as htslib's `vcf_parse` would encode it:

- INFO/DP, AC, AN only when the header types them Integer (htslib's other encodings fail
  update's type checks). AC and AN as htslib's bcf_calc_ac reads them: the last of repeated
  keys, used only when AC has one value per ALT. DP as bcftools reads it
  (bcf_get_info_int32): the first DP key only, none when that one has no single value.
  vkernels.update reads them the same way.
- QUAL bins as bcftools 1.24 fills its dist_t: exact below QUAL 10000, logarithmic above
  (as vkernels.update, which has the same function as `qual_bin`).
- A missing integer ('.' or empty) reads back as the missing value of the type htslib picks
  for the vector (`bcf_enc_int1` for one value, `bcf_enc_vint`'s smallest fitting type
  otherwise): -128, -32768 or INT32_MIN, which AC sums take as they are.
- QUAL '.' is missing; otherwise htslib's exact fast path: integer mantissa over a power of
  ten as a double, then a float.

A line is taken only when it can be read that way: known contig, integers of at most 10
digits within int32's usable range, QUAL a plain decimal of at most 14 significant digits,
non-empty alleles without NUL, no CR, and the header's number of columns. Anything else
stops the call (status -1, out[3] the line's offset) and the caller gives the chunk to
htslib. Undefined INFO keys and FILTER names are left alone: htslib adds them to its header
and bcftools counts the record the same.
"""

from __future__ import annotations

import numpy as np

from gfcli.engine.numba_cache import load_numba
from gfcli.engine.stats.vkernels import (
    N_STALE,
    VT_SNP,
    _allele_types,
    _count_rest,
    _count_snps,
    _count_summary,
    _iaf_from_ac,
    _idist,
    variant_type,
)
from gfcli.engine.stats.vnative import RING, RING_W, SCRATCH_W

numba = load_numba()
njit = numba.njit
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

TAB, NL, CR, SEMI, COMMA, EQ, DOT, MINUS = 9, 10, 13, 59, 44, 61, 46, 45
INT32_LOW = -2147483640  # htslib reserves the 8 smallest int32 values
INT32_MISSING = -2147483648

# the layout constants are shared with the runtime side, which must not import numba
from gfcli.engine.stats import vsites as _vsites  # noqa: E402
from gfcli.engine.stats.vsites import (  # noqa: E402
    I_DP_MAX,
    I_DP_MIN,
    I_DP_STEP,
    I_END,
    I_M_AF,
    I_NSAMPLES,
    I_RING_ONLY,
    I_START,
    I_ZERO,
    K_AC,
    K_AN,
    K_DP,
    O_BAD,
    O_N,
    O_NEXT,
    O_QHI,
    O_STATUS,
    S_ANAC,
    S_DONE,
    S_UNSUPPORTED,
)

HASH_MIN = 64

if (RING, RING_W, SCRATCH_W) != (_vsites.RING, _vsites.RING_W, _vsites.SCRATCH_W):
    raise ImportError("vsites' copies of vnative's RING, RING_W, SCRATCH_W are stale")

LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
BYTES1 = np.uint64(0x0101010101010101)
W_TAB = BYTES1 * np.uint64(TAB)
W_NL = BYTES1 * np.uint64(NL)
W_SEMI = BYTES1 * np.uint64(SEMI)
W_EQ = BYTES1 * np.uint64(EQ)


@intrinsic
def _load64(typingctx, arr, idx):
    """The 8 bytes at arr[idx:idx+8] as a little-endian uint64 (unaligned load)."""
    sig = types.uint64(arr, idx)

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen


@intrinsic
def _cttz(typingctx, x):
    """Trailing zero bits (one instruction; no library call)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _zero_bytes(x):
    """The high bit of every zero byte of x (exact: no borrow between bytes)."""
    return ~(((x & LOW7) + LOW7) | x | LOW7)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _next2(buf, j, end, w1, w2):
    """The first position >= j before `end` holding either byte (w1, w2: the byte in every
    lane), or `end`."""
    while j < end:
        w = _load64(buf, j)
        m = _zero_bytes(w ^ w1) | _zero_bytes(w ^ w2)
        if m:
            at = j + (_cttz(m) >> 3)
            return at if at < end else end
        j += 8
    return end


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _low_bytes(n):
    """A mask of the n low bytes of a word (n <= 8)."""
    return np.uint64(0xFFFFFFFFFFFFFFFF) if n >= 8 else (
        np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _key_word(key_names, key_off, r, n_keys):
    """(word, length) of kept key r: its bytes then '=' as a little-endian word; a key
    that is absent or longer than 7 bytes never matches (length 99)."""
    if r >= n_keys:
        return np.uint64(0), np.int64(99)
    o = key_off[r]
    kl = key_off[r + 1] - o
    if kl > 7:
        return np.uint64(0), np.int64(99)
    word = np.uint64(EQ) << np.uint64(8 * kl)
    for u in range(kl):
        word |= np.uint64(key_names[o + u]) << np.uint64(8 * u)
    return word, np.int64(kl)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _hash(buf, a, b):
    h = np.uint32(2166136261)
    for i in range(a, b):
        h = (h ^ np.uint32(buf[i])) * np.uint32(16777619)
    return np.int64(h)


@njit(cache=True, error_model="numpy", _nrt=False)
def _find(buf, a, b, slots, names, offs):
    """Index of buf[a:b] in an open-addressing table (slots hold entry + 1, 0 = empty)."""
    mask = slots.size - 1
    h = _hash(buf, a, b) & mask
    n = b - a
    while True:
        e = slots[h]
        if e == 0:
            return -1
        e -= 1
        s = offs[e]
        if offs[e + 1] - s == n:
            same = True
            for j in range(n):
                if names[s + j] != buf[a + j]:
                    same = False
                    break
            if same:
                return e
        h = (h + 1) & mask


@njit(cache=True, error_model="numpy", _nrt=False)
def _qual(buf, a, b, p10):
    """(ok, QUAL as float32; NaN when '.')."""
    if b - a == 1 and buf[a] == DOT:
        return True, np.float32(np.nan)
    neg = a < b and buf[a] == MINUS
    i = a + 1 if neg else a
    if i >= b or buf[i] < 48 or buf[i] > 57:
        return False, np.float32(0)
    while i < b and buf[i] == 48:
        i += 1
    mant = np.int64(0)
    nd = 0
    frac = 0
    seen_point = False
    while i < b:
        c = buf[i]
        if c == DOT and not seen_point:
            seen_point = True
        elif 48 <= c <= 57:
            mant = mant * 10 + (c - 48)
            nd += 1
            if seen_point:
                frac += 1
        else:
            return False, np.float32(0)
        i += 1
    if nd > 14 or (seen_point and frac == 0):
        return False, np.float32(0)
    d = np.float64(mant) / p10[frac]
    if neg:
        d = -d
    return True, np.float32(d)


@njit(cache=True, error_model="numpy", _nrt=False)
def _qual_bin(qual):
    """bcftools' QUAL bin: iqual = 1 + (int)(QUAL*10) in C (a float product; x86 makes an
    out-of-range conversion INT_MIN), then dist_t(5)'s bin of iqual as uint32: exact up to
    10**5, above it 9*10**4 bins per decade."""
    if qual != qual or qual < 0:
        return np.int64(0)
    prod = qual * np.float32(10)
    iv = np.int64(-2147483648) if prod >= np.float32(2147483648.0) else np.int64(prod)
    value = (1 + iv) & 0xFFFFFFFF
    if value <= 100000:
        return value
    npow = 5
    p10 = np.int64(100000)
    while npow < 9 and value >= p10 * 10:
        p10 *= 10
        npow += 1
    level = npow - 4
    step = np.int64(1)
    for _ in range(level):
        step *= 10
    return 100000 + 90000 * (level - 1) + (value - p10) // step


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _missing_as(vmin, vmax, nv):
    """The missing value as `update` reads it back from htslib's encoding of the vector."""
    if nv == 1 or (vmax <= 127 and vmin >= -120):
        return np.int64(-128)
    if vmax <= 32767 and vmin >= -32760:
        return np.int64(-32768)
    return np.int64(INT32_MISSING)


@njit(cache=True, error_model="numpy", _nrt=False)
def count_lines(ints, buf, ctg_slots, ctg_names, ctg_off, key_names, key_off, key_role,
                key_first, p10, bins, cols, scratch, sn, af_ts, af_tv, af_snps, af_indels, qual_ts,
                qual_tv, qual_in, ins, dels, subst, dp_site, chrom, maf, ring, ring_state,
                out):
    """Count the whole lines in buf[start:end] (the last may lack its newline)."""
    start = ints[I_START]
    end = ints[I_END]
    n_samples = ints[I_NSAMPLES]
    zero = ints[I_ZERO]  # a 0 LLVM cannot see: zeroing loops stay loops (no memset call)
    ring_only = ints[I_RING_ONLY] != 0
    m_af = ints[I_M_AF]
    dp_min = ints[I_DP_MIN]
    dp_max = ints[I_DP_MAX]
    dp_step = ints[I_DP_STEP]
    m_vals = dp_site.size
    n_keys = key_role.size
    # each kept key as the little-endian word of its bytes then '=' (keys of at most 7
    # bytes: DP, AC, AN), and the masks of key+'=' and of the key alone: an entry is
    # matched by one or two word compares instead of byte loops (tuples: no allocation)
    k_word0, k_len0 = _key_word(key_names, key_off, 0, n_keys)
    k_word1, k_len1 = _key_word(key_names, key_off, 1, n_keys)
    k_word2, k_len2 = _key_word(key_names, key_off, 2, n_keys)
    k_word = (k_word0, k_word1, k_word2)
    k_len = (k_len0, k_len1, k_len2)
    a_beg = scratch[0]
    a_len = scratch[1]
    a_type = scratch[2]
    a_n = scratch[3]
    iaf = scratch[4]
    ac = scratch[5]
    acv = scratch[6]
    n = 0
    p = start
    last_a = -1
    last_b = -1
    last_rid = -1
    status = S_DONE
    while p < end:
        # -- columns: every tab up to the newline, 8 bytes at a time ----------------------
        cols[0] = p
        k = 1
        j = p
        e = end
        while j < end:
            w = _load64(buf, j)
            m = _zero_bytes(w ^ W_TAB) | _zero_bytes(w ^ W_NL)
            hit_nl = False
            while m:
                at = j + (_cttz(m) >> 3)
                if at >= end:
                    break
                if buf[at] == NL:
                    e = at
                    hit_nl = True
                    break
                if k < 9:
                    cols[k] = at + 1
                k += 1
                m &= m - np.uint64(1)
            if hit_nl:
                break
            j += 8
        tabs = k - 1
        info_a = cols[7]
        info_b = cols[8] - 1 if tabs >= 8 else e
        bad = tabs != (7 if n_samples == 0 else 8 + n_samples)
        if e == p or buf[p] == 35 or buf[e - 1] == CR:  # empty, '#', CRLF
            bad = True
        if bad:
            status = S_UNSUPPORTED
            break
        # -- CHROM -----------------------------------------------------------------------
        ca, cb = p, cols[1] - 1
        same = last_rid >= 0 and cb - ca == last_b - last_a
        if same:
            for t in range(cb - ca):
                if buf[ca + t] != buf[last_a + t]:
                    same = False
                    break
        if not same:
            last_rid = _find(buf, ca, cb, ctg_slots, ctg_names, ctg_off)
            last_a, last_b = ca, cb
        rid = last_rid
        # -- POS (read only to be sure htslib takes it) ---------------------------------
        pa, pb = cols[1], cols[2] - 1
        if pb - pa < 1 or pb - pa > 18 or rid < 0 or cb == ca:
            bad = True
        for t in range(pa, pb):
            c = buf[t]
            if c < 48 or c > 57:
                bad = True
        # -- alleles ---------------------------------------------------------------------
        ra, rb = cols[3], cols[4] - 1
        xa, xb = cols[4], cols[5] - 1
        if rb <= ra or xb <= xa:
            bad = True
        for t in range(ra, rb):
            if buf[t] == 0:
                bad = True
        a_beg[0] = ra
        a_len[0] = rb - ra
        n_allele = 1
        if not bad and not (xb - xa == 1 and buf[xa] == DOT):
            s = xa
            for t in range(xa, xb + 1):
                if t == xb or buf[t] == COMMA:
                    if t == s or n_allele >= 65535:
                        bad = True
                        break
                    a_beg[n_allele] = s
                    a_len[n_allele] = t - s
                    n_allele += 1
                    s = t + 1
                elif buf[t] == 0:
                    bad = True
                    break
        # -- QUAL ------------------------------------------------------------------------
        qok, qual = _qual(buf, cols[5], cols[6] - 1, p10)
        if not qok:
            bad = True
        if bad:
            status = S_UNSUPPORTED
            break
        if ring_only:
            # a record before the chunk: only the ALT lengths it leaves in its bcf1_t
            slot = ring_state[0] % RING
            ring_state[0] += 1
            for i in range(1, min(n_allele, RING_W)):
                vt, vn = variant_type(buf, a_beg[0], a_len[0], a_beg[i], a_len[i])
                if vn != N_STALE:
                    ring[slot, i] = vn
            n += 1
            p = e + 1
            continue
        # -- INFO: DP, AC, AN ------------------------------------------------------------
        info_dp_n = 0
        info_dp = np.int64(0)
        an = np.int64(-1)
        ac_n = -1
        dp_seen = False
        if n_keys and not (info_b - info_a == 1 and buf[info_a] == DOT):
            # entries end at ';': only those starting with a kept key and '=' are read
            s = info_a
            j = info_a
            m = np.uint64(0)
            while True:
                if m == 0:
                    if j < info_b:
                        m = _zero_bytes(_load64(buf, j) ^ W_SEMI)
                        j += 8
                        continue
                    at = info_b
                else:
                    at = j - 8 + (_cttz(m) >> 3)
                    m &= m - np.uint64(1)
                    if at > info_b:
                        at = info_b
                        m = np.uint64(0)
                        j = info_b
                # the entry buf[s:at]
                role = -1
                ke = -1
                c = buf[s]
                if at > s and (c == key_first[0] or c == key_first[1] or c == key_first[2]):
                    w = _load64(buf, s)  # the text is padded: 8 bytes can be read
                    for r in range(n_keys):
                        kl = k_len[r]
                        if kl > 7:
                            hit = False
                        elif s + kl < at:  # KEY=
                            hit = (w & _low_bytes(kl + 1)) == k_word[r]
                        elif s + kl == at:  # KEY alone
                            hit = (w & _low_bytes(kl)) == (k_word[r] & _low_bytes(kl))
                        else:
                            hit = False
                        if hit:
                            role = key_role[r]
                            ke = s + kl
                            break
                t = at
                if role == K_DP:
                    # bcftools reads INFO/DP with bcf_get_info_int32: the first DP only,
                    # and a value-less one gives none
                    if dp_seen or ke == at:
                        role = -1
                    dp_seen = True
                elif ke == at:
                    # AC/AN without a value: htslib's bcf_calc_ac would read a length-0 AC
                    # (and fail or stop) or a stale AN: left to htslib
                    bad = True
                    break
                if role >= 0:
                    nv = 0
                    vmin = np.int64(2147483647)
                    vmax = np.int64(INT32_MISSING)
                    first = np.int64(0)
                    first_missing = False
                    has_missing = False
                    u = ke + 1
                    while True:
                        # one value, read in the pass that finds its end (',' or t)
                        v0 = u
                        neg = u < t and buf[u] == MINUS
                        if neg:
                            u += 1
                        v = np.int64(0)
                        nd = 0
                        digits = True
                        while u < t:
                            c = buf[u]
                            if c == COMMA:
                                break
                            d = np.int64(c) - 48
                            if d < 0 or d > 9:
                                digits = False
                            else:
                                v = v * 10 + d
                                nd += 1
                            u += 1
                        miss = u == v0 or (u - v0 == 1 and buf[v0] == DOT)
                        if not miss:
                            # '' and '.' are missing; else '-'? and 1-10 digits within
                            # int32's usable range
                            if not digits or nd == 0 or nd > 10:
                                bad = True
                                break
                            if neg:
                                v = -v
                            if v > 2147483647 or v < INT32_LOW:
                                bad = True
                                break
                        else:
                            v = np.int64(0)
                        if nv == 0:
                            first = v
                            first_missing = miss
                        if miss:
                            has_missing = True
                        else:
                            if v < vmin:
                                vmin = v
                            if v > vmax:
                                vmax = v
                        if role == K_AC and nv < acv.size:
                            # missing marked apart from any value an int32 holds
                            acv[nv] = N_STALE if miss else v
                        nv += 1
                        if u >= t:
                            break
                        u += 1
                    if bad:
                        break
                    if role == K_DP:
                        info_dp_n = nv
                        info_dp = np.int64(INT32_MISSING) if first_missing else first
                    elif role == K_AN:
                        if nv != 1:
                            bad = True  # bcf_calc_ac reads AN's v1, set for one value
                            break
                        an = _missing_as(vmin, vmax, nv) if first_missing else first
                    else:
                        if nv > acv.size:
                            bad = True
                            break
                        ac_n = nv
                        if has_missing:
                            mv = _missing_as(vmin, vmax, nv)
                            for x in range(nv):
                                if acv[x] == N_STALE:
                                    acv[x] = mv
                if at >= info_b:
                    break
                s = at + 1
        if bad:
            status = S_UNSUPPORTED
            break
        # -- allele types and the ring ----------------------------------------------------
        line_type = _allele_types(buf, n_allele, a_beg, a_len, a_type, a_n)
        slot = ring_state[0] % RING
        ring_state[0] += 1
        for i in range(1, n_allele):
            if a_n[i] == N_STALE:
                a_n[i] = ring[slot, i] if i < RING_W else 0
            elif i < RING_W:
                ring[slot, i] = a_n[i]
        # -- allele frequency bins from AC/AN ---------------------------------------------
        for i in range(n_allele):
            iaf[i] = zero
        af1 = np.float32(-1)
        # bcf_calc_ac takes AC/AN only with one AC per ALT (else no counts: every ALT in
        # the first bin, as bcftools' init_iaf leaves it)
        if an >= 0 and ac_n >= 0 and ac_n == n_allele - 1:
            nac = np.int64(0)
            for i in range(n_allele):
                ac[i] = zero
            for x in range(ac_n):
                if x + 1 < n_allele:
                    ac[x + 1] = acv[x]
                nac += acv[x]
            if an < nac:
                status = S_ANAC
                break
            ac[0] = an - nac
            af1 = _iaf_from_ac(ac, n_allele, iaf, m_af, bins)
        # -- counters ---------------------------------------------------------------------
        _count_summary(sn, chrom, maf, rid, n_allele, af1, line_type)
        iqual = _qual_bin(qual)
        if iqual >= qual_ts.size:
            status = S_UNSUPPORTED  # arrays sized variants.N_QUAL never get here
            break
        if iqual >= out[O_QHI]:
            out[O_QHI] = iqual + 1
        if line_type & VT_SNP:
            _count_snps(buf, n_allele, a_beg, a_len, a_type, iaf, iqual, sn, subst, af_snps,
                        af_ts, af_tv, qual_ts, qual_tv)
        _count_rest(n_allele, a_type, a_n, iaf, iqual, line_type, sn, af_indels, qual_in, ins,
                    dels)
        if info_dp_n == 1:
            dp_site[_idist(info_dp, dp_min, dp_max, dp_step, m_vals)] += 1
        n += 1
        p = e + 1
    out[O_N] = n
    out[O_NEXT] = min(p, end)
    out[O_STATUS] = status
    out[O_BAD] = p
    return 0
