"""numba kernels over raw VCF text: columns for the expression, and whether htslib would write
the line back byte for byte.

`scan_lines` walks a buffer of whole lines once. For every line it records where it is, the
site values a filter needs (contig id, POS, QUAL as float32, chosen INFO tags, chosen FORMAT
tags per sample) and a verdict:

- `ok`: the requested values were read exactly as htslib would read them (else the line is
  handed to `vcf_parse`);
- `canon`: 1 when `vcf_parse` + `vcf_format` would give the same bytes (every number already in
  htslib's spelling: integers without sign or leading zeros, floats as `%g`; known contigs,
  tags and filters; samples with all FORMAT fields), 2 when only trailing sample fields are
  missing (htslib writes them as `:.`, which `emit_lines` adds), 0 otherwise.

Tag types in the tables: 0 Flag, 1 Integer, 2 Float, 3 String/Character; 4 marks GT.

Sample columns (nearly all of a cohort's bytes) are read 64 bytes at a time by
`_samples_fast` when a line's FORMAT keys are GT (first) and Integer tags: LLVM vector
compares give bit masks of the separators, digits, '.' and '0', htslib's spelling rules
become bit operations on them, and only the separator bits are walked. A line it cannot
vouch for is scanned byte by byte as before, so the verdicts are the byte-wise scan's
(tests/test_filter_cohort_fast.py compares the two).
"""

from __future__ import annotations

import numpy as np

from gfcli.engine.numba_cache import load_numba
from gfcli.engine.variants.rawnative import (
    D_ECAP,
    D_F,
    D_K,
    D_MAXL,
    D_N,
    D_NOFAST,
    D_S,
    N_SCRATCH,
)

numba = load_numba()
njit = numba.njit

TAB, NL, SEMI, COLON, COMMA, EQ = 9, 10, 59, 58, 44, 61
INT32_LOW = -2147483640  # htslib reserves the 8 smallest int32 values


# ---------------------------------------------------------------------------------------
# Word-at-a-time helpers for the fast sample scan. Sample columns are >95% of a cohort VCF's
# bytes; walking them a byte at a time costs a mispredicted branch at nearly every field end
# (~16 cycles/byte measured). Eight bytes per load, separators found with a zero-byte mask
# and a trailing-zero count, keep the walk's branches predictable.

def _load8_codegen(context, builder, signature, args):
    from llvmlite import ir

    ary = context.make_array(signature.args[0])(context, builder, args[0])
    ptr = builder.gep(ary.data, [args[1]])
    p64 = builder.bitcast(ptr, ir.IntType(64).as_pointer())
    return builder.load(p64, align=1)


@numba.extending.intrinsic
def _load8(typingctx, arr, idx):
    """arr[idx:idx + 8] of a uint8 array as a little-endian uint64 (unaligned load; the
    caller guarantees idx + 8 <= len(arr))."""
    return numba.types.uint64(arr, idx), _load8_codegen


def _ctz_codegen(context, builder, signature, args):
    from llvmlite import ir

    return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))


@numba.extending.intrinsic
def _ctz(typingctx, x):
    """Trailing zero bits of a uint64 (64 for 0)."""
    return numba.types.uint64(numba.types.uint64), _ctz_codegen


def _masks64_codegen(context, builder, signature, args):
    from llvmlite import ir

    ary = context.make_array(signature.args[0])(context, builder, args[0])
    ptr = builder.gep(ary.data, [args[1]])
    vty = ir.VectorType(ir.IntType(8), 64)
    v = builder.load(builder.bitcast(ptr, vty.as_pointer()), align=1)

    def splat(c):
        return ir.Constant(vty, [c] * 64)

    def bits(cmp):
        return builder.zext(builder.bitcast(cmp, ir.IntType(64)), ir.IntType(64))

    def eq(c):
        return builder.icmp_unsigned("==", v, splat(c))

    slash = builder.or_(eq(47), eq(124))
    digit = builder.icmp_unsigned("<", builder.sub(v, splat(48)), splat(10))
    out = [bits(eq(58)), bits(eq(9)), bits(eq(44)), bits(slash), bits(eq(46)), bits(eq(48)),
           bits(digit)]
    return context.make_tuple(builder, signature.return_type, out)


@numba.extending.intrinsic
def _masks64(typingctx, arr, idx):
    """Bit masks (bit j for arr[idx + j]) of ':' TAB ',' '/'-or-'|' '.' '0' and digits in
    arr[idx:idx + 64], from one vector load and compares (the caller guarantees
    idx + 64 <= len(arr))."""
    u64 = numba.types.uint64
    return numba.types.UniTuple(u64, 7)(arr, idx), _masks64_codegen


def _byte_mask64_codegen(byte: int):
    """Codegen of a bit mask (bit j for arr[idx + j]) of the bytes equal to `byte` in
    arr[idx:idx + 64], from one vector load and compare."""

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        vty = ir.VectorType(ir.IntType(8), 64)
        v = builder.load(builder.bitcast(ptr, vty.as_pointer()), align=1)
        cmp = builder.icmp_unsigned("==", v, ir.Constant(vty, [byte] * 64))
        return builder.bitcast(cmp, ir.IntType(64))

    return codegen


_NEWLINES64 = _byte_mask64_codegen(NL)
_TABS64 = _byte_mask64_codegen(TAB)
_SEMIS64 = _byte_mask64_codegen(SEMI)


@numba.extending.intrinsic
def _newlines64(typingctx, arr, idx):
    """Bit mask of the newlines in arr[idx:idx + 64] (idx + 64 <= len(arr))."""
    return numba.types.uint64(arr, idx), _NEWLINES64


@numba.extending.intrinsic
def _tabs64(typingctx, arr, idx):
    """Bit mask of the TABs in arr[idx:idx + 64] (idx + 64 <= len(arr))."""
    return numba.types.uint64(arr, idx), _TABS64


@numba.extending.intrinsic
def _semis64(typingctx, arr, idx):
    """Bit mask of the ';' in arr[idx:idx + 64] (idx + 64 <= len(arr))."""
    return numba.types.uint64(arr, idx), _SEMIS64


ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# powers of ten exact in float64: scaling by them matches `10.0 ** k` without the call
P10 = np.array([10.0 ** k for k in range(23)])
W_ZEROS = np.uint64(0x3030303030303030)


@njit(cache=True, inline="always")
def _word(buf, p, n):
    """buf[p:p + 8] as uint64, zero bytes past n."""
    if p + 8 <= n:
        return _load8(buf, p)
    w = np.uint64(0)
    for j in range(min(8, n - p)):
        w |= np.uint64(buf[p + j]) << np.uint64(8 * j)
    return w


@njit(cache=True, inline="always")
def _swar_uint(w, k):
    """The unsigned decimal in the k (1..8) low bytes of w (all digits)."""
    if k < 8:
        w = (w << np.uint64(8 * (8 - k))) | (W_ZEROS >> np.uint64(8 * k))
    w = ((w & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    w = ((w & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    w = ((w & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return w


@njit(cache=True)
def _find_nl(buf, i, n):
    """The position of the first newline at or after i, or n."""
    while i + 64 <= n:
        m = _newlines64(buf, i)
        if m:
            return i + np.int64(_ctz(m))
        i += 64
    while i < n and buf[i] != NL:
        i += 1
    return i


@njit(cache=True, inline="always")
def _bits_below(k):
    """Mask of the k (<= 0 .. >= 64) low bits of a uint64."""
    if k <= 0:
        return np.uint64(0)
    if k >= 64:
        return ALL
    return (np.uint64(1) << np.uint64(k)) - np.uint64(1)


@njit(cache=True, inline="always")
def _semis(buf, t, e, n):
    """Mask of the ';' in buf[t:min(t + 64, e)]."""
    if t + 64 <= n:
        m = _semis64(buf, t)
    else:
        m = np.uint64(0)
        for j in range(min(64, n - t)):
            if buf[t + j] == SEMI:
                m |= np.uint64(1) << np.uint64(j)
    return m & _bits_below(e - t)


@njit(cache=True)
def _masks_tail(buf, t, n):
    """`_masks64` for a block that would read past the buffer's end."""
    z = np.uint64(0)
    colon, tab, comma, slash, dot, zero, dg = z, z, z, z, z, z, z
    for j in range(min(64, n - t)):
        c = buf[t + j]
        bit = np.uint64(1) << np.uint64(j)
        if c == COLON:
            colon |= bit
        elif c == TAB:
            tab |= bit
        elif c == COMMA:
            comma |= bit
        elif c == 47 or c == 124:
            slash |= bit
        elif c == 46:
            dot |= bit
        if 48 <= c <= 57:
            dg |= bit
            if c == 48:
                zero |= bit
    return colon, tab, comma, slash, dot, zero, dg


@njit(cache=True)
def _long_run(buf, a, b):
    """True when buf[a:b] holds a run of 10 or more digits (a value htslib may not keep)."""
    run = 0
    for j in range(a, b):
        c = buf[j]
        if 48 <= c <= 57:
            run += 1
            if run >= 10:
                return True
        else:
            run = 0
    return False


@njit(cache=True)
def _samples_fast(buf, n, a, e, S, nkeys, gt_first, keyslot, L, fvals, edits, ne, ecap):
    """The sample columns buf[a:e] of one line whose FORMAT keys are all Integer (GT allowed
    first), read eight bytes at a time. The words are checked against htslib's spelling of
    integers and genotypes (only digits, '.', and , : / | TAB; no empty token; '.' alone in
    its token; no leading zero; ',' only outside GT, '/' '|' only in GT; no run of 10+
    digits) and the separator bits of each word are walked to find the samples and fields.

    Returns (status, ne, added): 1 canonical, 2 canonical after the edits it appended
    (samples with trailing fields missing, which htslib writes as ':.'), 0 when the line
    needs the byte-wise scan (then nothing it wrote counts). Wanted Number=1 values go to
    fvals[L, slot, sample] (left NaN when missing)."""
    if e <= a:
        return 0, ne, 0
    last = buf[e - 1]
    if last == COLON or last == TAB or last == COMMA or last == 47 or last == 124:
        return 0, ne, 0
    one = np.uint64(1)
    top = np.uint64(63)
    added = 0
    smp = 0
    sub = 0
    fs = a  # start of the current field
    pend_sp = np.uint64(0)  # '/' or '|' in the current field's bytes of earlier blocks
    pend_cm = np.uint64(0)  # ',' likewise
    bad = np.uint64(0)
    c_sp = one  # carries from the previous block: its last byte a separator
    c_dt = np.uint64(0)  # ... a '.'
    c_l0 = np.uint64(0)  # ... a '0' starting a token
    t = a
    while True:
        nb = e - t
        if t + 64 <= n:
            colon, tab, comma, slash, dot, zero, dg = _masks64(buf, t)
        else:
            colon, tab, comma, slash, dot, zero, dg = _masks_tail(buf, t, n)
        m = _bits_below(nb)
        colon &= m
        tab &= m
        comma &= m
        slash &= m
        dot &= m
        zero &= m
        dg &= m
        sp = colon | tab | comma | slash
        other = ~(dg | dot | sp) & m
        sp_prev = (sp << one) | c_sp
        dt_prev = (dot << one) | c_dt
        l0 = zero & sp_prev
        l0_prev = (l0 << one) | c_l0
        bad |= other | (sp & sp_prev) | (dot & ~sp_prev) | (dt_prev & ~sp & m) | (l0_prev & dg)
        c_sp = sp >> top
        c_dt = dot >> top
        c_l0 = l0 >> top
        ends = colon | tab
        if nb < 64:
            ends |= one << np.uint64(nb)  # the line's end closes the last sample
        while ends:
            bit = _ctz(ends)
            p = t + np.int64(bit)
            inside = _bits_below(np.int64(bit)) & ~_bits_below(fs - t)
            if gt_first and sub == 0:
                bad |= pend_cm | (comma & inside)
            else:
                bad |= pend_sp | (slash & inside)
            fl = p - fs
            if fl >= 10 and _long_run(buf, fs, p):
                return 0, ne, 0
            f = keyslot[sub]
            if f >= 0 and smp < S:
                v = _word(buf, fs, n)
                if fl == 1 and (v & np.uint64(0xFF)) == np.uint64(46):
                    pass  # missing: stays NaN
                elif fl > 8 or (pend_cm | (comma & inside)):
                    return 0, ne, 0  # a vector (or 9 digits) where one value is wanted
                else:
                    fvals[L, f, smp] = float(_swar_uint(v, fl))
            if (colon >> bit) & one:
                sub += 1
                if sub >= nkeys:
                    return 0, ne, 0
            else:
                if sub < nkeys - 1:
                    if ne >= ecap:
                        return 0, ne, 0
                    edits[ne, 0], edits[ne, 1], edits[ne, 2] = p, 0, nkeys - 1 - sub
                    ne += 1
                    added += 2 * (nkeys - 1 - sub)
                smp += 1
                sub = 0
            fs = p + 1
            pend_sp = np.uint64(0)
            pend_cm = np.uint64(0)
            ends &= ends - one
        if nb < 64:
            break
        rest = ~_bits_below(fs - t)
        pend_sp |= slash & rest
        pend_cm |= comma & rest
        t += 64
    if bad or smp != S:
        return 0, ne, 0
    return (2 if added else 1), ne, added


@njit(cache=True)
def _lookup(buf, a, b, names, offsets):
    """Index of buf[a:b] in the table (names concatenated, offsets[i]..offsets[i+1]), or -1."""
    n = b - a
    for i in range(offsets.shape[0] - 1):
        s, e = offsets[i], offsets[i + 1]
        if e - s != n:
            continue
        same = True
        for j in range(n):
            if names[s + j] != buf[a + j]:
                same = False
                break
        if same:
            return i
    return -1


@njit(cache=True)
def _int(buf, a, b):
    """(canonical, value) of an integer token."""
    if a >= b:
        return False, 0
    neg = buf[a] == 45
    i = a + 1 if neg else a
    if i >= b or b - i > 10:
        return False, 0
    if buf[i] == 48 and (b - i > 1 or neg):
        return False, 0
    v = 0
    for j in range(i, b):
        c = buf[j]
        if c < 48 or c > 57:
            return False, 0
        v = v * 10 + (c - 48)
    if neg:
        v = -v
    if v > 2147483647 or v < INT32_LOW:
        return False, v
    return True, v


@njit(cache=True)
def _float(buf, a, b):
    """(status, value as float32->float64, cut) of a float token: status 1 when the token is
    already what htslib prints (`%g` of the float32), 2 when deleting buf[cut:b] (trailing
    fraction zeros, and the point) makes it so, 0 otherwise."""
    if a >= b:
        return 0, 0.0, b
    i = a
    neg = buf[i] == 45
    if neg:
        i += 1
    start_int = i
    while i < b and 48 <= buf[i] <= 57:
        i += 1
    int_end = i
    if int_end == start_int:
        return 0, 0.0, b
    frac_start = frac_end = i
    point = False
    if i < b and buf[i] == 46:
        point = True
        i += 1
        frac_start = i
        while i < b and 48 <= buf[i] <= 57:
            i += 1
        frac_end = i
        if frac_end == frac_start:
            return 0, 0.0, b
    exp = 0
    ed = 0
    has_exp = False
    lower_e = False
    if i < b and (buf[i] == 101 or buf[i] == 69):
        has_exp = True
        lower_e = buf[i] == 101
        i += 1
        eneg = False
        esign = False
        if i < b and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            esign = True
            i += 1
        while i < b and 48 <= buf[i] <= 57:
            exp = exp * 10 + (buf[i] - 48)
            ed += 1
            i += 1
        if ed == 0:
            return 0, 0.0, b
        if eneg:
            exp = -exp
        if not esign or ed < 2 or ed > 3:
            # readable, not canonical
            return _float_value_only(buf, start_int, int_end, frac_start, frac_end, exp, neg)
    if i != b:
        return 0, 0.0, b
    # significant digits: first nonzero .. last nonzero over int and fraction parts
    first = -1  # index in the digit sequence
    last = -1
    k = 0
    mant = 0
    nd = 0
    for j in range(start_int, int_end):
        d = buf[j] - 48
        if d != 0:
            if first < 0:
                first = k
            last = k
        if first >= 0 and nd < 18:
            mant = mant * 10 + d
            nd += 1
        k += 1
    n_int = k
    for j in range(frac_start, frac_end):
        d = buf[j] - 48
        if d != 0:
            if first < 0:
                first = k
            last = k
        if first >= 0 and nd < 18:
            mant = mant * 10 + d
            nd += 1
        k += 1
    # value: the digits read (nd of them, starting at `first`) scaled
    if first < 0:
        v = 0.0
    else:
        scale = exp + (n_int - first - nd)
        v = float(mant)
        if 0 < scale <= 22:
            v = v * P10[scale]
        elif -22 <= scale < 0:
            v = v / P10[-scale]
        elif scale > 0:
            v = v * 10.0 ** scale
        elif scale < 0:
            v = v / 10.0 ** (-scale)
        v = float(np.float32(v))
    if neg:
        v = -v
    if first < 0:
        # zero prints "0"; "-0" is left to htslib
        if neg or has_exp:
            return 0, v, b
        if n_int != 1:
            return 0, v, b
        return (2, v, int_end) if point else (1, v, b)
    if n_int > 1 and buf[start_int] == 48:
        return 0, v, b
    lead = n_int - 1 - first + exp  # decimal exponent of the leading digit
    if last - first + 1 > 6:
        return 0, v, b
    if has_exp:
        # %g writes 'e' and two exponent digits below 100, and float32 has no larger exponent;
        # within float32's normal range six digits survive the round trip
        ok = (lead < -4 or lead >= 6) and n_int == 1 and first == 0 and \
            (not point or buf[frac_end - 1] != 48) and ed == 2 and lower_e and \
            -37 <= lead <= 37
        return (1 if ok else 0), v, b
    if lead < -4 or lead >= 6:
        return 0, v, b
    if not point:
        return 1, v, b
    # trailing zeros of the fraction (and the point when nothing is left) go
    if last < n_int:
        return 2, v, int_end
    cut = frac_start + (last - n_int) + 1
    return (2 if cut < b else 1), v, cut


@njit(cache=True)
def _float_value_only(buf, s0, s1, f0, f1, exp, neg):
    mant = 0.0
    for j in range(s0, s1):
        mant = mant * 10.0 + (buf[j] - 48)
    for j in range(f0, f1):
        mant = mant * 10.0 + (buf[j] - 48)
    scale = exp - (f1 - f0)
    v = mant * 10.0 ** scale if scale >= 0 else mant / 10.0 ** (-scale)
    v = float(np.float32(v))
    return 0, (-v if neg else v), s1


@njit(cache=True)
def _number(buf, a, b, kind):
    """(status, value, cut) of a numeric token of tag type `kind` (1 int, 2 float); '.' is
    missing (NaN). Status as `_float`."""
    if b - a == 1 and buf[a] == 46:
        return 1, np.nan, b
    if kind == 1:
        ok, iv = _int(buf, a, b)
        return (1 if ok else 0), float(iv), b
    return _float(buf, a, b)


@njit(cache=True, inline="always")
def _int_token(buf, s, b):
    """`_int`'s verdict on the token starting at s and ending at the first ',' or b, read in
    one pass: (canonical, end)."""
    j = s
    neg = j < b and buf[j] == 45
    if neg:
        j += 1
    d0 = j
    v = 0
    while j < b:
        c = buf[j]
        if c < 48 or c > 57:
            break
        if j - d0 < 11:
            v = v * 10 + (c - 48)
        j += 1
    nd = j - d0
    if j < b and buf[j] != COMMA:
        return False, j
    if nd == 0 or nd > 10 or (buf[d0] == 48 and (nd > 1 or neg)):
        return False, j
    if neg:
        v = -v
    return INT32_LOW <= v <= 2147483647, j


@njit(cache=True)
def _float_token(buf, a, b):
    """`_float`'s (status, cut) without the value, for the token starting at a and ending
    at the first ',' or b, read in one pass: (status, cut, end)."""
    if a >= b:
        return 0, b, b
    i = a
    neg = buf[i] == 45
    if neg:
        i += 1
    start_int = i
    first = -1
    last = -1
    k = 0
    while i < b:
        c = buf[i]
        if c < 48 or c > 57:
            break
        if c != 48:
            if first < 0:
                first = k
            last = k
        k += 1
        i += 1
    int_end = i
    n_int = k
    if n_int == 0:
        return 0, b, b
    frac_start = frac_end = i
    point = False
    if i < b and buf[i] == 46:
        point = True
        i += 1
        frac_start = i
        while i < b:
            c = buf[i]
            if c < 48 or c > 57:
                break
            if c != 48:
                if first < 0:
                    first = k
                last = k
            k += 1
            i += 1
        frac_end = i
        if frac_end == frac_start:
            return 0, b, b
    exp = 0
    ed = 0
    has_exp = False
    lower_e = False
    if i < b and (buf[i] == 101 or buf[i] == 69):
        has_exp = True
        lower_e = buf[i] == 101
        i += 1
        eneg = False
        esign = False
        if i < b and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            esign = True
            i += 1
        while i < b and 48 <= buf[i] <= 57:
            exp = exp * 10 + (buf[i] - 48)
            ed += 1
            i += 1
        if ed == 0:
            return 0, b, b
        if eneg:
            exp = -exp
        if not esign or ed < 2 or ed > 3:
            return 0, b, b
    end = i
    if i < b and buf[i] != COMMA:
        return 0, b, b
    if first < 0:
        if neg or has_exp or n_int != 1:
            return 0, b, b
        return (2, int_end, end) if point else (1, end, end)
    if n_int > 1 and buf[start_int] == 48:
        return 0, b, b
    lead = n_int - 1 - first + exp
    if last - first + 1 > 6:
        return 0, b, b
    if has_exp:
        # %g writes 'e' and two exponent digits below 100, and float32 has no larger exponent;
        # within float32's normal range six digits survive the round trip
        ok = (lead < -4 or lead >= 6) and n_int == 1 and first == 0 and \
            (not point or buf[frac_end - 1] != 48) and ed == 2 and lower_e and \
            -37 <= lead <= 37
        return (1 if ok else 0), end, end
    if lead < -4 or lead >= 6:
        return 0, b, b
    if not point:
        return 1, end, end
    if last < n_int:
        return 2, int_end, end
    cut = frac_start + (last - n_int) + 1
    return (2 if cut < end else 1), cut, end


@njit(cache=True)
def _values(buf, a, b, kind, edits, ne):
    """Status of all comma-separated values of a typed field; deletions go to `edits`.
    Returns (status, ne). Each value is read once, its end found by its own parse."""
    if kind == 3:
        return 1, ne
    status = 1
    s = a
    while True:
        if s < b and buf[s] == 46 and (s + 1 == b or buf[s + 1] == COMMA):
            st, cut, j = 1, s + 1, s + 1
        elif kind == 1:
            iok, j = _int_token(buf, s, b)
            st, cut = (1 if iok else 0), j
        else:
            st, cut, j = _float_token(buf, s, b)
        if st == 0:
            return 0, ne
        if st == 2:
            if ne >= edits.shape[0]:
                return 0, ne
            edits[ne, 0], edits[ne, 1], edits[ne, 2] = cut, j - cut, 0
            ne += 1
            status = 2
        if j >= b:
            return status, ne
        s = j + 1


@njit(cache=True)
def _gt_canonical(buf, a, b):
    if a >= b:
        return False
    s = a
    for j in range(a, b + 1):
        if j == b or buf[j] == 47 or buf[j] == 124:
            if j == s:
                return False
            if not (j - s == 1 and buf[s] == 46):
                ok, v = _int(buf, s, j)
                if not ok or v < 0:
                    return False
            s = j + 1
    return True


@njit(cache=True)
def _digits(buf, t, e):
    """(end, value) of the run of decimal digits at `t`."""
    v = 0
    while t < e:
        c = buf[t]
        if c < 48 or c > 57:
            break
        v = v * 10 + (c - 48)
        t += 1
    return t, v


@njit(cache=True)
def _int_field(buf, t, e):
    """An Integer field's comma-separated values from `t` to the next ':', TAB or `e`, in one
    pass: (end, status 1 when every value is in htslib's spelling or '.', number of values,
    the first value or NaN)."""
    st = 1
    nv = 0
    first = np.nan
    while True:
        neg = False
        if t < e and buf[t] == 45:
            neg = True
            t += 1
        d0 = t
        t, v = _digits(buf, t, e)
        nd = t - d0
        val = np.nan
        if nd == 0:
            if not neg and t < e and buf[t] == 46:
                t += 1
            else:
                st = 0
        else:
            if nd > 10 or (buf[d0] == 48 and (nd > 1 or neg)):
                st = 0
            if neg:
                v = -v
            if v > 2147483647 or v < INT32_LOW:
                st = 0
            val = float(v)
        if nv == 0:
            first = val
        nv += 1
        if t >= e:
            break
        c = buf[t]
        if c == COMMA:
            t += 1
            continue
        if c != COLON and c != TAB:
            st = 0
            while t < e and buf[t] != COLON and buf[t] != TAB:
                t += 1
        break
    return t, st, nv, first


@njit(cache=True)
def _gt_field(buf, t, e):
    """A GT field from `t` to the next ':', TAB or `e`: (end, already canonical)."""
    good = True
    while True:
        if t < e and buf[t] == 46:
            t += 1
        else:
            d0 = t
            t, v = _digits(buf, t, e)
            nd = t - d0
            if nd == 0 or nd > 10 or (buf[d0] == 48 and nd > 1) or v > 2147483647:
                good = False
        if t >= e:
            break
        c = buf[t]
        if c == 47 or c == 124:
            t += 1
            continue
        if c != COLON and c != TAB:
            good = False
            while t < e and buf[t] != COLON and buf[t] != TAB:
                t += 1
        break
    return t, good


@njit(cache=True)
def scan_lines(buf, dims, ctg_names, ctg_off, info_names, info_off, info_type, flt_names,
               flt_off, fmt_names, fmt_off, fmt_type, want_info, want_fmt, starts, ends, rid,
               pos, qual, ok, canon, fpass, ivals, ilen, fvals, fwidth, edits, efirst,
               scratch, result):
    """One pass over whole lines into caller-owned arrays (no allocation, so it also runs as
    precompiled native code); see the module docstring. `dims` gives the sizes (D_*); a line
    k has starts/ends, rid, pos, qual, ok, canon, fpass, ivals[k, :K], ilen[k, :K],
    fvals[k, :F, :S], fwidth[k, :F]; its edits are edits[efirst[k]:efirst[k + 1]].
    `scratch` holds N_SCRATCH int64; its INFO tag guesses (any values) carry over from
    call to call. Sets result[:N_RESULT]; returns the line count."""
    n = dims[D_N]
    S, K, F = dims[D_S], dims[D_K], dims[D_F]
    max_lines, ecap = dims[D_MAXL], dims[D_ECAP]
    cstart = scratch[0:10]
    cend = scratch[10:20]
    keyslot = scratch[20:84]  # FORMAT key position -> requested slot
    keytype = scratch[84:148]
    # the INFO tag at each place of the previous line: lines mostly repeat the order of their
    # tags, and one comparison with the guess replaces the search of the header's table
    guesses = scratch[148:N_SCRATCH]
    n_guess = N_SCRATCH - 148
    n_info = info_off.shape[0] - 1
    ne = 0
    added = 0
    last_ctg_a, last_ctg_b, last_rid = 0, 0, -1
    i = 0
    L = 0
    while i < n and L < max_lines:
        a = i
        i = _find_nl(buf, i, n)
        e = i
        i += 1
        if e == a:
            continue
        starts[L], ends[L] = a, e
        efirst[L] = ne
        rid[L] = -1
        pos[L] = 0
        qual[L] = np.nan
        fpass[L] = 0
        for k in range(K):
            ivals[L, k] = np.nan
            ilen[L, k] = 0
        for f in range(F):
            fwidth[L, f] = 0
            for s in range(S):
                fvals[L, f, s] = np.nan
        good = True
        can = 1
        # -- columns ---------------------------------------------------------------------
        # the first 9 columns' TABs, 64 bytes at a time (a byte loop here mispredicts at
        # every column end); the line's end closes the last column
        col = 0
        c0 = a
        t = a
        while t < e and col < 9:
            if t + 64 <= n:
                m = _tabs64(buf, t)
            else:
                m = np.uint64(0)
                for j in range(min(64, n - t)):
                    if buf[t + j] == TAB:
                        m |= np.uint64(1) << np.uint64(j)
            m &= _bits_below(e - t)
            while m and col < 9:
                j = t + np.int64(_ctz(m))
                cstart[col], cend[col] = c0, j
                col += 1
                c0 = j + 1
                m &= m - np.uint64(1)
            t += 64
        if col < 9:
            cstart[col], cend[col] = c0, e
            col += 1
            c0 = e + 1
        sample_start = c0
        if col < 8 or (S > 0 and col < 9) or (S == 0 and col > 8) or buf[e - 1] == 13:
            ok[L] = 0
            canon[L] = 0
            L += 1
            efirst[L] = ne
            continue
        # CHROM
        ca, cb = cstart[0], cend[0]
        same = last_rid >= 0 and cb - ca == last_ctg_b - last_ctg_a
        if same:
            for t in range(cb - ca):
                if buf[ca + t] != buf[last_ctg_a + t]:
                    same = False
                    break
        if not same:
            last_rid = _lookup(buf, ca, cb, ctg_names, ctg_off)
            last_ctg_a, last_ctg_b = ca, cb
        rid[L] = last_rid
        if last_rid < 0:
            good = False
            can = 0
        # POS
        pok, pv = _int(buf, cstart[1], cend[1])
        if not pok or pv < 0:
            good = False
            can = 0
        pos[L] = pv
        # QUAL
        qa, qb = cstart[5], cend[5]
        if not (qb - qa == 1 and buf[qa] == 46):
            qst, qv, qcut = _float(buf, qa, qb)
            qual[L] = qv
            if qst == 0:
                can = 0
                good = False
            elif qst == 2 and ne < ecap:
                edits[ne, 0], edits[ne, 1], edits[ne, 2] = qcut, qb - qcut, 0
                ne += 1
                can = 2 if can else 0
            elif qst == 2:
                can = 0
        # FILTER
        fa, fb = cstart[6], cend[6]
        if fb - fa == 4 and buf[fa] == 80 and buf[fa + 1] == 65 and buf[fa + 2] == 83 and \
                buf[fa + 3] == 83:
            fpass[L] = 1
        elif not (fb - fa == 1 and buf[fa] == 46):
            s = fa
            for t in range(fa, fb + 1):
                if t == fb or buf[t] == SEMI:
                    if _lookup(buf, s, t, flt_names, flt_off) < 0:
                        can = 0
                    s = t + 1
        # INFO
        ia, ib = cstart[7], cend[7]
        if ib == ia:
            can = 0
        elif not (ib - ia == 1 and buf[ia] == 46):
            s = ia
            nth = 0
            # each ';' (then the column's end) closes a key[=value]; the ';' are found
            # 64 bytes at a time
            sbase = ia
            smask = _semis(buf, sbase, ib, n)
            t = ia
            while t < ib:
                while smask == 0 and sbase + 64 < ib:
                    sbase += 64
                    smask = _semis(buf, sbase, ib, n)
                if smask:
                    t = sbase + np.int64(_ctz(smask))
                    smask &= smask - np.uint64(1)
                else:
                    t = ib
                if True:
                    ke = s
                    while ke < t and buf[ke] != EQ:
                        ke += 1
                    tag = -1
                    if nth < n_guess:
                        g = guesses[nth]
                        if 0 <= g < n_info and info_off[g + 1] - info_off[g] == ke - s:
                            tag = g
                            go = info_off[g]
                            for j in range(ke - s):
                                if info_names[go + j] != buf[s + j]:
                                    tag = -1
                                    break
                    if tag < 0:
                        tag = _lookup(buf, s, ke, info_names, info_off)
                        if nth < n_guess:
                            guesses[nth] = tag
                    nth += 1
                    if tag < 0 or ke == s:
                        can = 0
                        good = False
                    else:
                        kind = info_type[tag]
                        has_value = ke < t
                        if kind == 0:
                            if has_value:
                                can = 0
                        elif not has_value:
                            can = 0
                        else:
                            vs, ne = _values(buf, ke + 1, t, kind, edits, ne)
                            if vs == 0:
                                can = 0
                            elif vs == 2 and can:
                                can = 2
                        for k in range(K):
                            if want_info[k] == tag:
                                ilen[L, k] = 1
                                if kind == 0:
                                    ivals[L, k] = 1.0
                                else:
                                    ve = ke + 1
                                    while ve < t and buf[ve] != COMMA:
                                        ve += 1
                                    if ve != t or not has_value:
                                        good = False
                                    else:
                                        nok, nv, _ = _number(buf, ke + 1, t, kind)
                                        if nok == 0:
                                            good = False
                                        ivals[L, k] = nv
                    s = t + 1
        # FORMAT and samples
        if S > 0:
            fa, fb = cstart[8], cend[8]
            nkeys = 0
            s = fa
            for t in range(fa, fb + 1):
                if t == fb or buf[t] == COLON:
                    if nkeys >= 64:
                        can = 0
                        good = False
                        break
                    tag = _lookup(buf, s, t, fmt_names, fmt_off)
                    keyslot[nkeys] = -1
                    if tag < 0:
                        can = 0
                        good = False
                        keytype[nkeys] = 3
                    else:
                        keytype[nkeys] = fmt_type[tag]
                        for f in range(F):
                            if want_fmt[f] == tag:
                                keyslot[nkeys] = f
                                fwidth[L, f] = 1
                    nkeys += 1
                    s = t + 1
            # the fast walk when every key is GT (first) or Integer; else, or when the
            # walk meets anything unusual, the byte-wise scan below
            fast = nkeys > 0 and good and dims[D_NOFAST] == 0
            for k in range(nkeys):
                if not (keytype[k] == 1 or (keytype[k] == 4 and k == 0)):
                    fast = False
            if fast:
                fst, ne2, add2 = _samples_fast(buf, n, sample_start, e, S, nkeys,
                                               keytype[0] == 4, keyslot, L, fvals, edits,
                                               ne, ecap)
                if fst == 0:
                    fast = False
                    for f in range(F):
                        for s in range(S):
                            fvals[L, f, s] = np.nan
                else:
                    ne = ne2
                    added += add2
                    if fst == 2 and can:
                        can = 2
            # samples: each field scanned once, up to its ':' or TAB
            smp = 0
            t = sample_start
            while not fast:
                sub = 0
                while True:
                    ss = t
                    if sub < nkeys:
                        kind = keytype[sub]
                        f = keyslot[sub]
                        if kind == 1:
                            t, vst, nv, val = _int_field(buf, t, e)
                            if t == ss or vst == 0:
                                can = 0
                            if f >= 0 and smp < S:
                                if nv != 1 or vst == 0 or t == ss:
                                    good = False
                                fvals[L, f, smp] = val
                        elif kind == 4:
                            t, gok = _gt_field(buf, t, e)
                            if t == ss or sub != 0 or not gok:
                                can = 0
                        else:
                            while t < e and buf[t] != COLON and buf[t] != TAB:
                                t += 1
                            if t == ss:
                                can = 0
                            else:
                                vs, ne = _values(buf, ss, t, kind, edits, ne)
                                if vs == 0:
                                    can = 0
                                elif vs == 2 and can:
                                    can = 2
                            if f >= 0 and smp < S:
                                ve = ss
                                while ve < t and buf[ve] != COMMA:
                                    ve += 1
                                if ve != t:
                                    good = False
                                else:
                                    nok, nv, _ = _number(buf, ss, t, kind)
                                    if nok == 0:
                                        good = False
                                    fvals[L, f, smp] = nv
                    else:
                        while t < e and buf[t] != COLON and buf[t] != TAB:
                            t += 1
                        can = 0
                        good = False
                    sub += 1
                    if t < e and buf[t] == COLON:
                        t += 1
                        continue
                    break
                # at the sample's TAB or the line's end
                if sub < nkeys and can:
                    if ne < ecap:
                        edits[ne, 0], edits[ne, 1], edits[ne, 2] = t, 0, nkeys - sub
                        ne += 1
                        added += 2 * (nkeys - sub)
                        can = 2
                    else:
                        can = 0
                smp += 1
                if t >= e:
                    break
                t += 1
            if not fast and smp != S:
                can = 0
                good = False
        ok[L] = 1 if good else 0
        canon[L] = can
        L += 1
        efirst[L] = ne
    result[0] = L
    result[1] = i
    result[2] = ne
    result[3] = added
    return L


@njit(cache=True)
def emit_lines(buf, starts, ends, canon, idx, n_idx, edits, efirst, out):
    """The lines idx[:n_idx] (each + newline) into `out`, as htslib writes them: canon 2 lines
    get their edits (trailing float zeros deleted, missing trailing sample fields written as
    ':.'). Runs of adjacent plain lines are copied at once. Returns the bytes written; `out`
    needs len(buf) + result[3] of `scan_lines` + 1 bytes at most."""
    o = 0
    q = 0
    while q < n_idx:
        L = idx[q]
        a, e = starts[L], ends[L]
        if canon[L] != 2:
            # extend over following plain lines that sit right after this one
            while q + 1 < n_idx:
                M = idx[q + 1]
                if canon[M] == 2 or starts[M] != e + 1:
                    break
                e = ends[M]
                q += 1
            out[o : o + e - a] = buf[a:e]
            o += e - a
            out[o] = NL
            o += 1
            q += 1
            continue
        cur = a
        for x in range(efirst[L], efirst[L + 1]):
            p, d, ins = edits[x, 0], edits[x, 1], edits[x, 2]
            out[o : o + p - cur] = buf[cur:p]
            o += p - cur
            for _ in range(ins):
                out[o] = COLON
                out[o + 1] = 46
                o += 2
            cur = p + d
        out[o : o + e - cur] = buf[cur:e]
        o += e - cur
        out[o] = NL
        o += 1
        q += 1
    return o
