"""numba kernel: SAM text lines straight from raw BAM records (htslib sam_format1's text).

`format_records` writes one line per record: QNAME FLAG RNAME POS MAPQ CIGAR RNEXT PNEXT
TLEN SEQ QUAL and the optional fields (A c C s S i I f Z H B). Floats (`f`, `B:f`) are
printed as C's `%g` (6 significant digits, trailing zeros removed, `nan`/`-nan`, `inf`),
computed in double arithmetic from the exact float32 value; where the 6th digit is too
close to a rounding tie for double arithmetic to be sure, the record is not formatted
here but flagged, and the caller formats it through htslib instead. So are records the
kernel does not know how to print exactly: a CIGAR kept in a CG tag (more than 65535
operations), unknown CIGAR operations or tag types, reference ids outside the header, and
anything structurally inconsistent.
"""

from __future__ import annotations

from gfcli.engine.numba_cache import load_numba

numba = load_numba()
import numpy as np  # noqa: E402

from gfcli.engine.bam.kernels import _i32, _u16  # noqa: E402

njit = numba.njit

CIGAR_CHARS = np.frombuffer(b"MIDNSHP=X", dtype=np.uint8).copy()
SEQ_CHARS = np.frombuffer(b"=ACMGRSVTWYHKDBN", dtype=np.uint8).copy()
SEQ_PAIRS = np.array([[SEQ_CHARS[b >> 4], SEQ_CHARS[b & 15]] for b in range(256)],
                     dtype=np.uint8)
POW10 = np.array([10.0**i for i in range(23)], dtype=np.float64)
POW2_ZERO = 160
POW2 = np.array([2.0**i for i in range(-POW2_ZERO, POW2_ZERO + 1)], dtype=np.float64)

# Room a record can need in the output, as a multiple of its size (+ names + constant):
# a 1-byte B:c value prints as ",-128" (5 bytes).
GROWTH = 5
SLACK = 256


@njit(cache=True, nogil=True, inline="always")
def _u32(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (
        np.int64(buf[p + 3]) << 24
    )


@njit(cache=True, nogil=True, inline="always")
def _add33(out, p, buf, q, n):
    for j in range(n):
        out[p + j] = buf[q + j] + np.uint8(33)


@njit(cache=True, nogil=True)
def put_int(out, p, v):
    """Decimal digits of int64 `v` at out[p:]; returns the new position."""
    if v < 0:
        out[p] = 45
        p += 1
        v = -v
    if v < 10:
        out[p] = 48 + v
        return p + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    q = p + n
    while v > 0:
        q -= 1
        out[q] = 48 + v % 10
        v //= 10
    return p + n


@njit(cache=True, nogil=True)
def _scaled(a, k):
    """a * 10**k in double arithmetic (a few roundings at most)."""
    if k >= 0:
        while k > 22:
            a *= POW10[22]
            k -= 22
        return a * POW10[k]
    k = -k
    while k > 22:
        a /= POW10[22]
        k -= 22
    return a / POW10[k]


@njit(cache=True, nogil=True)
def put_g(out, p, bits):
    """`%g` of the float32 with these bits at out[p:]; -1 when not decidable here."""
    sign = (bits >> 31) & 1
    expo = (bits >> 23) & 0xFF
    mant = bits & 0x7FFFFF
    if expo == 255:
        if sign:
            out[p] = 45
            p += 1
        if mant != 0:
            out[p] = 110
            out[p + 1] = 97
            out[p + 2] = 110
        else:
            out[p] = 105
            out[p + 1] = 110
            out[p + 2] = 102
        return p + 3
    if sign:
        out[p] = 45
        p += 1
    if expo == 0 and mant == 0:
        out[p] = 48
        return p + 1
    if expo == 0:
        m = np.int64(mant)
        e = np.int64(149)
    else:
        m = np.int64(mant | 0x800000)
        e = np.int64(150 - expo)
    a = float(m) * POW2[POW2_ZERO - e]  # exact
    # Decimal exponent estimate from the binary one (the loop below corrects it).
    bits_m = 0
    t = m
    while t > 0:
        t >>= 1
        bits_m += 1
    x = ((bits_m - 1 - e) * 30103) // 100000
    scaled = _scaled(a, 5 - x)
    for _ in range(3):
        if scaled < 100000.0:
            x -= 1
        elif scaled >= 1000000.0:
            x += 1
        else:
            break
        scaled = _scaled(a, 5 - x)
    if scaled < 100000.0 or scaled >= 1000000.0:
        return -1
    n = np.int64(scaled)  # positive: truncation is floor
    frac = scaled - float(n)
    if abs(frac - 0.5) < 1e-6:
        # Near a tie: exact only when the value is exactly halfway (round half to even).
        while (m & 1) == 0:
            m >>= 1
            e -= 1
        k = 5 - x
        if k >= 0:
            tie = k <= 22 and e == k + 1
        else:
            fives = 0
            while m % 5 == 0:
                m //= 5
                fives += 1
            tie = fives >= -k and 1 - e + k == 0
        if not tie or frac != 0.5:
            return -1  # too close to call in double arithmetic: let htslib decide
        if n & 1:
            n += 1
    elif frac > 0.5:
        n += 1
    if n == 1000000:
        n = 100000
        x += 1
    # The six digits of n, most significant first, as one number to peel from the top.
    nd = 6
    while nd > 1 and n % 10 == 0:
        n //= 10
        nd -= 1
    top = np.int64(1)
    for _ in range(nd - 1):
        top *= 10
    if x < -4 or x >= 6:
        p = _digits(out, p, n, top, 1)
        out[p] = 101
        p += 1
        if x < 0:
            out[p] = 45
            x = -x
        else:
            out[p] = 43
        p += 1
        if x < 10:
            out[p] = 48
            p += 1
        return put_int(out, p, x)
    if x >= 0:
        if nd <= x + 1:
            p = _digits(out, p, n, top, nd)
            for _ in range(x + 1 - nd):
                out[p] = 48
                p += 1
            return p
        return _digits(out, p, n, top, x + 1)
    out[p] = 48
    out[p + 1] = 46
    p += 2
    for _ in range(-x - 1):
        out[p] = 48
        p += 1
    return _digits(out, p, n, top, nd)


@njit(cache=True, nogil=True)
def _digits(out, p, n, top, before_point):
    """The digits of n (top = 10**(digits - 1)) with a '.' after `before_point` of them
    when digits remain."""
    i = 0
    while top > 0:
        if i == before_point:
            out[p] = 46
            p += 1
        d = n // top
        out[p] = 48 + d
        p += 1
        n -= d * top
        top //= 10
        i += 1
    return p


@njit(cache=True, nogil=True)
def _put_name(out, p, names, name_off, tid):
    for j in range(name_off[tid], name_off[tid + 1]):
        out[p] = names[j]
        p += 1
    return p


@njit(cache=True, nogil=True)
def _aux_value(out, p, buf, t, v, end):
    """One number of type `t` at buf[v:] as text; (new p, bytes read) or (-1, 0)."""
    if t == 99:  # c
        x = np.int64(buf[v])
        if x >= 128:
            x -= 256
        return put_int(out, p, x), 1
    if t == 67:  # C
        return put_int(out, p, np.int64(buf[v])), 1
    if t == 115:  # s
        x = _u16(buf, v)
        if x >= 32768:
            x -= 65536
        return put_int(out, p, x), 2
    if t == 83:  # S
        return put_int(out, p, _u16(buf, v)), 2
    if t == 105:  # i
        return put_int(out, p, _i32(buf, v)), 4
    if t == 73:  # I
        return put_int(out, p, _u32(buf, v)), 4
    if t == 102:  # f
        return put_g(out, p, _u32(buf, v)), 4
    return -1, 0


@njit(cache=True, nogil=True)
def _width(t):
    if t == 99 or t == 67:
        return 1
    if t == 115 or t == 83:
        return 2
    if t == 105 or t == 73 or t == 102:
        return 4
    return 0


@njit(cache=True, nogil=True)
def format_one(buf, o, names, name_off, n_ref, out, p):
    """The SAM line (with its newline) of the record at `o`; new p, or -1 to fall back."""
    size = _i32(buf, o)
    q = o + 4
    end = q + size
    if size < 32 or end > buf.shape[0]:
        return -1
    refid = _i32(buf, q)
    pos = _i32(buf, q + 4)
    lrn = np.int64(buf[q + 8])
    mapq = np.int64(buf[q + 9])
    ncig = _u16(buf, q + 12)
    flag = _u16(buf, q + 14)
    lseq = _i32(buf, q + 16)
    nref = _i32(buf, q + 20)
    npos = _i32(buf, q + 24)
    tlen = _i32(buf, q + 28)
    if lrn < 1 or lseq < 0 or refid < -1 or refid >= n_ref or nref < -1 or nref >= n_ref:
        return -1
    name = q + 32
    cig = name + lrn
    seq = cig + 4 * ncig
    qual = seq + (lseq + 1) // 2
    aux = qual + lseq
    if aux > end:
        return -1
    if ncig == 2 and lseq > 0 and (np.int64(buf[cig]) & 0xF) == 4:
        # Possibly a CIGAR moved to a CG tag (kSmN placeholder): htslib restores it.
        if (_u32(buf, cig) >> 4) == lseq and (np.int64(buf[cig + 4]) & 0xF) == 3:
            return -1
    for j in range(lrn - 1):
        out[p] = buf[name + j]
        p += 1
    out[p] = 9
    p = put_int(out, p + 1, flag)
    out[p] = 9
    p += 1
    if refid < 0:
        out[p] = 42
        p += 1
    else:
        p = _put_name(out, p, names, name_off, refid)
    out[p] = 9
    p = put_int(out, p + 1, pos + 1)
    out[p] = 9
    p = put_int(out, p + 1, mapq)
    out[p] = 9
    p += 1
    if ncig == 0:
        out[p] = 42
        p += 1
    else:
        for j in range(ncig):
            c = _u32(buf, cig + 4 * j)
            op = c & 0xF
            if op > 8:
                return -1
            p = put_int(out, p, c >> 4)
            out[p] = CIGAR_CHARS[op]
            p += 1
    out[p] = 9
    p += 1
    if nref < 0:
        out[p] = 42
        p += 1
    elif nref == refid:
        out[p] = 61
        p += 1
    else:
        p = _put_name(out, p, names, name_off, nref)
    out[p] = 9
    p = put_int(out, p + 1, npos + 1)
    out[p] = 9
    p = put_int(out, p + 1, tlen)
    out[p] = 9
    p += 1
    if lseq == 0:
        out[p] = 42
        out[p + 1] = 9
        out[p + 2] = 42
        p += 3
    else:
        for j in range(lseq >> 1):
            b = buf[seq + j]
            out[p] = SEQ_PAIRS[b, 0]
            out[p + 1] = SEQ_PAIRS[b, 1]
            p += 2
        if lseq & 1:
            out[p] = SEQ_PAIRS[buf[seq + (lseq >> 1)], 0]
            p += 1
        out[p] = 9
        p += 1
        if buf[qual] == 0xFF:
            out[p] = 42
            p += 1
        else:
            _add33(out, p, buf, qual, lseq)
            p += lseq
    a = aux
    while a < end:
        if a + 3 > end:
            return -1
        t = np.int64(buf[a + 2])
        out[p] = 9
        out[p + 1] = buf[a]
        out[p + 2] = buf[a + 1]
        out[p + 3] = 58
        p += 4
        v = a + 3
        if t == 65:  # A
            if v + 1 > end:
                return -1
            out[p] = 65
            out[p + 1] = 58
            out[p + 2] = buf[v]
            p += 3
            a = v + 1
        elif t == 90 or t == 72:  # Z H
            out[p] = t
            out[p + 1] = 58
            p += 2
            while v < end and buf[v] != 0:
                out[p] = buf[v]
                p += 1
                v += 1
            if v >= end:
                return -1
            a = v + 1
        elif t == 66:  # B
            if v + 5 > end:
                return -1
            sub = np.int64(buf[v])
            count = _i32(buf, v + 1)
            width = _width(sub)
            if width == 0 or count < 0 or v + 5 + width * count > end:
                return -1
            out[p] = 66
            out[p + 1] = 58
            out[p + 2] = sub
            p += 3
            v += 5
            for _ in range(count):
                out[p] = 44
                p, used = _aux_value(out, p + 1, buf, sub, v, end)
                if p < 0:
                    return -1
                v += used
            a = v
        else:
            width = _width(t)
            if width == 0 or v + width > end:
                return -1
            out[p] = 102 if t == 102 else 105
            out[p + 1] = 58
            p, used = _aux_value(out, p + 2, buf, t, v, end)
            if p < 0:
                return -1
            a = v + used
    out[p] = 10
    return p + 1


@njit(cache=True, nogil=True)
def format_records(buf, offsets, first, names, name_off, n_ref, out, p, line_end, fallback):
    """Format records `offsets[first:]` into out[p:] until the room runs out.

    `line_end[i]` is set to the output position after record i's line; `fallback[i]` to 1
    (and nothing written) for a record the caller must format another way. Returns
    (the next record index, the output position).
    """
    cap = out.shape[0]
    max_name = 0
    for t in range(n_ref):
        if name_off[t + 1] - name_off[t] > max_name:
            max_name = name_off[t + 1] - name_off[t]
    n = offsets.shape[0]
    i = first
    while i < n:
        o = offsets[i]
        size = _i32(buf, o)
        if p + GROWTH * (size + 4) + 2 * max_name + SLACK > cap:
            break
        r = format_one(buf, o, names, name_off, n_ref, out, p)
        if r < 0:
            fallback[i] = 1
        else:
            p = r
        line_end[i] = p
        i += 1
    return i, p


@njit(cache=True, nogil=True)
def record_offsets(buf, start, end, out):
    """Starts of the records in buf[start:end] (which holds whole records) into `out`;
    returns how many, or -1 when the chain of block sizes does not end at `end`."""
    p = start
    n = 0
    while p + 4 <= end:
        size = _i32(buf, p)
        if size < 32 or n >= out.shape[0]:
            return -1
        out[n] = p
        n += 1
        p += 4 + size
    if p != end:
        return -1
    return n
