"""The text of `samtools stats` 1.24 from an `AlnStats` accumulator.

Sections, their comment lines and number formats follow samtools' output_stats: C float
(single precision) arithmetic where samtools uses `float`, so the printed digits agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gfcli import __version__ as GFCLI_VERSION

f32 = np.float32


def _fmt_e(x: float) -> str:
    return f"{x:e}"


def _insert_sizes(acc) -> tuple[np.ndarray, int, float, float, int, int, int]:
    """Halved counts (each pair was counted twice), ibulk, average, sd, and the totals."""
    isz = acc.arrays["isz"]
    inward = (isz[0] * 0.5).astype(np.uint64).astype(np.int64)
    outward = (isz[1] * 0.5).astype(np.uint64).astype(np.int64)
    other = (isz[2] * 0.5).astype(np.uint64).astype(np.int64)
    total = inward + outward + other
    n_in, n_out, n_other = int(inward.sum()), int(outward.sum()), int(other.sum())
    nisize = n_in + n_out + n_other
    main_bulk = float(f32(acc.settings.most_inserts))
    ibulk = 0
    bulk = 0.0
    avg = 0.0
    for i in range(len(total)):
        num = int(total[i])
        if num > 0:
            ibulk = i + 1
        bulk += num
        avg += i * num
        ratio = bulk / nisize if nisize else math.nan
        if ratio > main_bulk:
            ibulk = i + 1
            nisize = int(bulk)
            break
    avg /= nisize if nisize else 1
    sd = 0.0
    for i in range(1, ibulk):
        sd += int(total[i]) * (i - avg) * (i - avg) / (nisize if nisize else 1)
    sd = math.sqrt(sd)
    return np.stack([inward, outward, other]), ibulk, avg, sd, n_in, n_out, n_other


def _gcd_percentile(depths: np.ndarray, n: int, p: int) -> np.float32:
    x = f32(f32(p) * f32(n + 1) / f32(100))
    k = int(x)
    if k <= 0:
        return f32(depths[0])
    if k >= n:
        return f32(depths[n - 1])
    d = f32(x - f32(k))
    diff = (int(depths[k]) - int(depths[k - 1])) & 0xFFFFFFFF
    return f32(f32(depths[k - 1]) + f32(d * f32(diff)))


def render(acc, req: Any = None) -> str:
    st = acc.settings
    c = acc.counters
    mx = acc.maxima
    out: list[str] = []
    w = out.append
    argv = list(getattr(req, "argv", None) or [])
    isz, ibulk, avg_isize, sd_isize, n_in, n_out, n_other = _insert_sizes(acc)
    w(f"# This file was produced by samtools stats (1.24+htslib-1.24, gfcli {GFCLI_VERSION}) "
      "and can be plotted using plot-bamstats")
    w("# This file contains statistics for all reads.")
    w("# The command line was:  " + " ".join(["gfcli", *argv] if argv else ["gfcli", "stats"]))
    w("# CHK, Checksum\t[2]Read Names\t[3]Sequences\t[4]Qualities")
    w("# CHK, CRC32 of reads which passed filtering followed by addition (32bit overflow)")
    ck = acc.checksums
    w(f"CHK\t{ck['names']:08x}\t{ck['sequences']:08x}\t{ck['qualities']:08x}")
    w("# Summary Numbers. Use `grep ^SN | cut -f 2-` to extract this part.")
    nseq = c["first_fragments"] + c["last_fragments"] + c["other_fragments"]
    w(f"SN\traw total sequences:\t{c['filtered'] + nseq}\t# excluding supplementary and "
      "secondary reads")
    w(f"SN\tfiltered sequences:\t{c['filtered']}")
    w(f"SN\tsequences:\t{nseq}")
    if acc.is_sorted:
        w("SN\tis sorted:\t1\t# sorted by coordinate")
    else:
        w("SN\tis sorted:\t0\t# not sorted by coordinate")
    w(f"SN\t1st fragments:\t{c['first_fragments']}")
    w(f"SN\tlast fragments:\t{c['last_fragments']}")
    w(f"SN\treads mapped:\t{c['paired_and_mapped'] + c['single_mapped']}")
    w(f"SN\treads mapped and paired:\t{c['paired_and_mapped']}\t# paired-end technology bit "
      "set + both mates mapped")
    w(f"SN\treads unmapped:\t{c['unmapped']}")
    w(f"SN\treads properly paired:\t{c['properly_paired']}\t# proper-pair bit set")
    w(f"SN\treads paired:\t{c['paired']}\t# paired-end technology bit set")
    w(f"SN\treads duplicated:\t{c['duplicated']}\t# PCR or optical duplicate bit set")
    w(f"SN\treads MQ0:\t{c['mq0']}\t# mapped and MQ=0")
    w(f"SN\treads QC failed:\t{c['qc_failed']}")
    w(f"SN\tnon-primary alignments:\t{c['secondary']}")
    w(f"SN\tsupplementary alignments:\t{c['supplementary']}")
    w(f"SN\ttotal length:\t{c['total_length']}\t# ignores clipping")
    w(f"SN\ttotal first fragment length:\t{c['total_first_length']}\t# ignores clipping")
    w(f"SN\ttotal last fragment length:\t{c['total_last_length']}\t# ignores clipping")
    w(f"SN\tbases mapped:\t{c['bases_mapped']}\t# ignores clipping")
    w(f"SN\tbases mapped (cigar):\t{c['bases_mapped_cigar']}\t# more accurate")
    w(f"SN\tbases trimmed:\t{c['bases_trimmed']}")
    w(f"SN\tbases duplicated:\t{c['duplicated_length']}")
    w(f"SN\tmismatches:\t{c['mismatches']}\t# from NM fields")
    rate = (float(f32(f32(c["mismatches"]) / f32(c["bases_mapped_cigar"])))
            if c["bases_mapped_cigar"] else 0.0)
    w(f"SN\terror rate:\t{_fmt_e(rate)}\t# mismatches / bases mapped (cigar)")
    avg_len = f32(f32(c["total_length"]) / f32(nseq)) if nseq else f32(0)
    w(f"SN\taverage length:\t{float(avg_len):.0f}")
    a1 = f32(f32(c["total_first_length"]) / f32(c["first_fragments"])) \
        if c["first_fragments"] else f32(0)
    a2 = f32(f32(c["total_last_length"]) / f32(c["last_fragments"])) \
        if c["last_fragments"] else f32(0)
    w(f"SN\taverage first fragment length:\t{float(a1):.0f}")
    w(f"SN\taverage last fragment length:\t{float(a2):.0f}")
    w(f"SN\tmaximum length:\t{mx['max_length']}")
    w(f"SN\tmaximum first fragment length:\t{mx['max_first_length']}")
    w(f"SN\tmaximum last fragment length:\t{mx['max_last_length']}")
    avgq = float(c["sum_quality"]) / c["total_length"] if c["total_length"] else 0.0
    w(f"SN\taverage quality:\t{avgq:.1f}")
    w(f"SN\tinsert size average:\t{avg_isize:.1f}")
    w(f"SN\tinsert size standard deviation:\t{sd_isize:.1f}")
    w(f"SN\tinward oriented pairs:\t{n_in}")
    w(f"SN\toutward oriented pairs:\t{n_out}")
    w(f"SN\tpairs with other orientation:\t{n_other}")
    w(f"SN\tpairs on different chromosomes:\t{c['anomalous'] // 2}")
    pp = f32(f32(100 * c["properly_paired"]) / f32(nseq)) if nseq else f32(0)
    w(f"SN\tpercentage of properly paired reads (%):\t{float(pp):.1f}")
    cov = acc._final_cov()
    if acc.target_count:
        w(f"SN\tbases inside the target:\t{acc.target_count}")
        cov_sum = int(cov[st.cov_threshold + 1:].sum())
        pct = f32(f32(100 * cov_sum) / f32(acc.target_count))
        w(f"SN\tpercentage of target genome with coverage > {st.cov_threshold} (%):\t"
          f"{float(pct):.2f}")

    quals = acc.arrays["quals"]
    max_len = mx["max_length"]
    nbases = acc.nbases
    if max_len < nbases:
        max_len += 1
    max_qual = mx["max_quality"]
    if max_qual + 1 < 256:
        max_qual += 1

    def row(a: np.ndarray, i: int, width: int) -> str:
        vals = a[i, :width] if i < a.shape[0] else np.zeros(width, dtype=np.int64)
        if len(vals) < width:
            vals = np.concatenate([vals, np.zeros(width - len(vals), dtype=np.int64)])
        return "\t".join(map(str, vals.tolist()))

    w("# First Fragment Qualities. Use `grep ^FFQ | cut -f 2-` to extract this part.")
    w("# Columns correspond to qualities and rows to cycles. First column is the cycle number.")
    for i in range(mx["max_first_length"]):
        w(f"FFQ\t{i + 1}\t{row(quals[0], i, max_qual + 1)}")
    w("# Last Fragment Qualities. Use `grep ^LFQ | cut -f 2-` to extract this part.")
    w("# Columns correspond to qualities and rows to cycles. First column is the cycle number.")
    for i in range(mx["max_last_length"]):
        w(f"LFQ\t{i + 1}\t{row(quals[1], i, max_qual + 1)}")
    if st.reference:
        mpc = acc.arrays["mpc"]
        w("# Mismatches per cycle and quality. Use `grep ^MPC | cut -f 2-` to extract this part.")
        w("# Columns correspond to qualities, rows to cycles. First column is the cycle number, "
          "second")
        w("# is the number of N's and the rest is the number of mismatches")
        for i in range(max_len):
            w(f"MPC\t{i + 1}\t{row(mpc, i, max_qual + 1)}")

    for tag, label, which in (("GCF", "first", 0), ("GCL", "last", 1)):
        w(f"# GC Content of {label} fragments. Use `grep ^{tag} | cut -f 2-` to extract this "
          "part.")
        g = acc.arrays["gcfl"][which]
        prev = 0
        for i in range(200):
            if g[i] == g[prev]:
                continue
            w(f"{tag}\t{(i + prev) * 0.5 * 100.0 / 199:.2f}\t{int(g[prev])}")
            prev = i

    acgt = acc.arrays["acgt"]

    def acgt_at(which: int, i: int) -> np.ndarray:
        if i < acgt.shape[1]:
            return acgt[which, i]
        return np.zeros(6, dtype=np.int64)

    w("# ACGT content per cycle. Use `grep ^GCC | cut -f 2-` to extract this part. The columns "
      "are: cycle; A,C,G,T base counts as a percentage of all A/C/G/T bases [%]; and N and O "
      "counts as a percentage of all A/C/G/T bases [%]")
    for i in range(max_len):
        v = acgt_at(0, i) + acgt_at(1, i)
        s = int(v[:4].sum())
        if not s:
            continue
        w(f"GCC\t{i + 1}\t" + "\t".join(f"{100.0 * int(x) / s:.2f}" for x in v))
    w("# ACGT content per cycle, read oriented. Use `grep ^GCT | cut -f 2-` to extract this "
      "part. The columns are: cycle; A,C,G,T base counts as a percentage of all A/C/G/T bases "
      "[%]")
    for i in range(max_len):
        v = acgt_at(2, i)
        s = int(v[:4].sum())
        if not s:
            continue
        w(f"GCT\t{i + 1}\t" + "\t".join(f"{100.0 * int(x) / s:.2f}" for x in v[:4]))
    for tag, ttag, label, which in (("FBC", "FTC", "first", 0), ("LBC", "LTC", "last", 1)):
        w(f"# ACGT content per cycle for {label} fragments. Use `grep ^{tag} | cut -f 2-` to "
          "extract this part. The columns are: cycle; A,C,G,T base counts as a percentage of all "
          "A/C/G/T bases [%]; and N and O counts as a percentage of all A/C/G/T bases [%]")
        tot = np.zeros(6, dtype=np.int64)
        for i in range(max_len):
            v = acgt_at(which, i)
            tot += v
            s = int(v[:4].sum())
            if s:
                w(f"{tag}\t{i + 1}\t" + "\t".join(f"{100.0 * int(x) / s:.2f}" for x in v))
        w(f"# ACGT raw counters for {label} fragments. Use `grep ^{ttag} | cut -f 2-` to extract "
          "this part. The columns are: A,C,G,T,N base counters")
        w(f"{ttag}\t" + "\t".join(str(int(x)) for x in tot[:5]))

    w("# Insert sizes. Use `grep ^IS | cut -f 2-` to extract this part. The columns are: insert "
      "size, pairs total, inward oriented pairs, outward oriented pairs, other pairs")
    for i in range(ibulk):
        a, b, o = int(isz[0, i]), int(isz[1, i]), int(isz[2, i])
        if not st.sparse or a + b + o > 0:
            w(f"IS\t{i}\t{a + b + o}\t{a}\t{b}\t{o}")
    rl = acc.arrays["rlen"]

    def rl_at(which: int, i: int) -> int:
        return int(rl[which, i]) if i < rl.shape[1] else 0

    w("# Read lengths. Use `grep ^RL | cut -f 2-` to extract this part. The columns are: read "
      "length, count")
    for i in range(max_len):
        if rl_at(0, i + 1) > 0:
            w(f"RL\t{i + 1}\t{rl_at(0, i + 1)}")
    w("# Read lengths - first fragments. Use `grep ^FRL | cut -f 2-` to extract this part. The "
      "columns are: read length, count")
    for i in range(mx["max_first_length"]):
        if rl_at(1, i + 1) > 0:
            w(f"FRL\t{i + 1}\t{rl_at(1, i + 1)}")
    w("# Read lengths - last fragments. Use `grep ^LRL | cut -f 2-` to extract this part. The "
      "columns are: read length, count")
    for i in range(mx["max_last_length"]):
        if rl_at(2, i + 1) > 0:
            w(f"LRL\t{i + 1}\t{rl_at(2, i + 1)}")
    w("# Mapping qualities for reads !(UNMAP|SECOND|SUPPL|QCFAIL|DUP). Use `grep ^MAPQ | cut -f "
      "2-` to extract this part. The columns are: mapq, count")
    mq = acc.arrays["mapq"]
    for i in range(256):
        if mq[i] > 0:
            w(f"MAPQ\t{i}\t{int(mq[i])}")
    w("# Indel distribution. Use `grep ^ID | cut -f 2-` to extract this part. The columns are: "
      "length, number of insertions, number of deletions")
    ind = acc.arrays["indel"]
    for i in range(300):
        if ind[0, i] > 0 or ind[1, i] > 0:
            w(f"ID\t{i + 1}\t{int(ind[0, i])}\t{int(ind[1, i])}")
    w("# Indels per cycle. Use `grep ^IC | cut -f 2-` to extract this part. The columns are: "
      "cycle, number of insertions (fwd), .. (rev) , number of deletions (fwd), .. (rev)")
    ic = acc.arrays["icyc"]
    for i in range(min(nbases + 1, ic.shape[1])):
        if ic[0, i] > 0 or ic[1, i] > 0 or ic[2, i] > 0 or ic[3, i] > 0:
            w(f"IC\t{i + 1}\t{int(ic[0, i])}\t{int(ic[1, i])}\t{int(ic[2, i])}\t{int(ic[3, i])}")
    w("# Coverage distribution. Use `grep ^COV | cut -f 2-` to extract this part.")
    ncov = st.ncov
    if cov[0]:
        w(f"COV\t[<{st.cov_min}]\t{st.cov_min - 1}\t{int(cov[0])}")
    for i in range(1, ncov - 1):
        if cov[i]:
            lo = st.cov_min + (i - 1) * st.cov_step
            hi = st.cov_min + i * st.cov_step - 1
            w(f"COV\t[{lo}-{hi}]\t{hi}\t{int(cov[i])}")
    if cov[ncov - 1]:
        top = st.cov_min + (ncov - 2) * st.cov_step - 1
        w(f"COV\t[{top}<]\t{top}\t{int(cov[ncov - 1])}")
    w("# GC-depth. Use `grep ^GCD | cut -f 2-` to extract this part. The columns are: GC%, unique "
      "sequence percentiles, 10th, 25th, 50th, 75th and 90th depth percentile")
    gc, depth = acc._final_bins()
    igcd = len(gc) - 1  # samtools' index of the last (open) bin
    gc = gc.copy()
    for i in range(igcd):
        if st.reference:
            gc[i] = f32(np.rint(100.0 * float(gc[i])))
        elif depth[i]:
            gc[i] = f32(np.rint(100.0 * float(gc[i]) / int(depth[i])))
    if igcd > 0:
        order = sorted(range(igcd + 1), key=lambda j: (float(gc[j]), int(depth[j])))
        gc = gc[order]
        depth = depth[order]
    depth32 = depth.astype(np.int64) & 0xFFFFFFFF
    i = 0
    scale_len = avg_len
    while i < igcd:
        g = float(gc[i])
        nb = 0
        j = i
        while j < igcd and abs(float(gc[j]) - g) < 0.1:
            nb += 1
            j += 1
        sub = depth32[i:]
        pct = [float(f32(f32(_gcd_percentile(sub, nb, p) * scale_len) / f32(st.gcd_bin)))
               for p in (10, 25, 50, 75, 90)]
        w(f"GCD\t{g:.1f}\t{(i + nb + 1) * 100.0 / (igcd + 1):.3f}\t"
          + "\t".join(f"{x:.3f}" for x in pct))
        i += nb
    return "\n".join(out) + "\n"
