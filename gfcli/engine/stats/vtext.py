"""bcftools stats text (as bcftools 1.24 prints it) and the --pretty summary for variants."""

from __future__ import annotations

import struct
from array import array
from typing import TYPE_CHECKING, Any

from gfcli.engine.stats.base import StatsRequest

if TYPE_CHECKING:
    import numpy as np
else:
    class _Numpy:
        """numpy on first use: sites statistics print their text without it (see
        `render_lists`)."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _Numpy()

_F32 = struct.Struct("<f")

SN_HELP = """\
# SN, Summary numbers:
#   number of records   .. number of data rows in the VCF
#   number of no-ALTs   .. reference-only sites, ALT is either "." or identical to REF
#   number of SNPs      .. number of rows with a SNP
#   number of MNPs      .. number of rows with a MNP, such as CC>TT
#   number of indels    .. number of rows with an indel
#   number of others    .. number of rows with other type, for example a symbolic allele or
#                          a complex substitution, such as ACT>TCGA
#   number of multiallelic sites     .. number of rows with multiple alternate alleles
#   number of multiallelic SNP sites .. number of rows with multiple alternate alleles, all SNPs
#\x20
#   Note that rows containing multiple types will be counted multiple times, in each
#   counter. For example, a row with a SNP and an indel increments both the SNP and
#   the indel counter.
#\x20
# SN\t[2]id\t[3]key\t[4]value
"""
TSTV_HELP = """\
# TSTV, transitions/transversions
#   - transitions, see https://en.wikipedia.org/wiki/Transition_(genetics)
#   - transversions, see https://en.wikipedia.org/wiki/Transversion
# TSTV\t[2]id\t[3]ts\t[4]tv\t[5]ts/tv\t[6]ts (1st ALT)\t[7]tv (1st ALT)\t[8]ts/tv (1st ALT)
"""
SIS_HELP = """\
# SiS, Singleton stats:
#   - allele count, i.e. the number of singleton genotypes (AC=1)
#   - number of transitions, see above
#   - number of transversions, see above
#   - repeat-consistent, inconsistent and n/a: experimental and useless stats [DEPRECATED]
# SiS\t[2]id\t[3]allele count\t[4]number of SNPs\t[5]number of transitions\t\
[6]number of transversions\t[7]number of indels\t[8]repeat-consistent\t\
[9]repeat-inconsistent\t[10]not applicable
"""
AF_HELP = """\
# AF, Stats by non-reference allele frequency:
# AF\t[2]id\t[3]allele frequency\t[4]number of SNPs\t[5]number of transitions\t\
[6]number of transversions\t[7]number of indels\t[8]repeat-consistent\t\
[9]repeat-inconsistent\t[10]not applicable
"""
QUAL_HELP = """\
# QUAL, Stats by quality
# QUAL\t[2]id\t[3]Quality\t[4]number of SNPs\t[5]number of transitions (1st ALT)\t\
[6]number of transversions (1st ALT)\t[7]number of indels
"""
IDD_HELP = """\
# IDD, InDel distribution:
# IDD\t[2]id\t[3]length (deletions negative)\t[4]number of sites\t[5]number of genotypes\t\
[6]mean VAF
"""
ST_HELP = """\
# ST, Substitution types:
# ST\t[2]id\t[3]type\t[4]count
"""
DP_HELP = """\
# DP, depth:
#   - set id, see above
#   - the depth bin, corresponds to the depth (unless --depth was given)
#   - number of genotypes with this depth (zero unless -s/-S was given)
#   - fraction of genotypes with this depth (zero unless -s/-S was given)
#   - number of sites with this depth
#   - fraction of sites with this depth
# DP, Depth distribution
# DP\t[2]id\t[3]bin\t[4]number of genotypes\t[5]fraction of genotypes (%)\t\
[6]number of sites\t[7]fraction of sites (%)
"""
PSC_HELP = """\
# PSC, Per-sample counts. Note that the ref/het/hom counts include only SNPs, for indels \
see PSI. The rest include both SNPs and indels.
# PSC\t[2]id\t[3]sample\t[4]nRefHom\t[5]nNonRefHom\t[6]nHets\t[7]nTransitions\t\
[8]nTransversions\t[9]nIndels\t[10]average depth\t[11]nSingletons\t[12]nHapRef\t\
[13]nHapAlt\t[14]nMissing
"""
PSI_HELP = """\
# PSI, Per-Sample Indels. Note that alt-het genotypes with both ins and del allele are \
counted twice, in both nInsHets and nDelHets.
# PSI\t[2]id\t[3]sample\t[4]in-frame\t[5]out-frame\t[6]not applicable\t\
[7]out/(in+out) ratio\t[8]nInsHets\t[9]nDelHets\t[10]nInsAltHoms\t[11]nDelAltHoms
"""
HWE_HELP = """\
# HWE
# HWE\t[2]id\t[3]1st ALT allele frequency\t[4]Number of observations\t\
[5]25th percentile\t[6]median\t[7]75th percentile
"""
VAF_HELP = """\
# VAF, Variant Allele Frequency determined as fraction of alternate reads in FORMAT/AD
# VAF\t[2]id\t[3]sample\t[4]SNV VAF distribution\t[5]indel VAF distribution
"""


def _f32(x: float) -> float:
    """x rounded to a float32 (as numpy's float32 holds it)."""
    return _F32.unpack(_F32.pack(x))[0]


def _f2(a: int, b: int) -> str:
    # a float32 division; the double quotient of two float32 values rounds to the same
    return f"{_f32(_f32(a) / _f32(b)):.2f}" if b else "0.00"


def _command_line(req: StatsRequest) -> str:
    argv = list(req.argv)
    if argv and argv[0] == "stats":
        argv = argv[1:]
    # bcftools prints "bcftools stats " and then " ARG" per argument
    return "gfcli stats " + "".join(f" {a}" for a in argv)


_HTSLIB_VERSION: list[str] = []


def htslib_version() -> str:
    """The htslib version pysam bundles, from pysam's version.py when it says (loading
    htslib through pysam for it is ~30 ms of a sites run that needs no htslib)."""
    if not _HTSLIB_VERSION:
        import importlib.util
        import os
        import re

        found = None
        try:
            spec = importlib.util.find_spec("pysam")
            where = spec.submodule_search_locations if spec else None
            if where:
                with open(os.path.join(list(where)[0], "version.py")) as handle:
                    found = re.search(r'^__htslib_version__ = "([^"]+)"$', handle.read(),
                                      re.M)
        except (OSError, ImportError, ValueError):
            found = None
        if found:
            _HTSLIB_VERSION.append(found.group(1))
        else:
            from gfcli.engine.variants import hts

            _HTSLIB_VERSION.append(hts.htslib_version())
    return _HTSLIB_VERSION[0]


def header_lines(acc, req: StatsRequest) -> str:
    from gfcli import __version__

    files = "\t".join(acc.files)
    return (
        f"# This file was produced by bcftools stats (gfcli {__version__}+htslib-"
        f"{htslib_version()}) and can be plotted using plot-vcfstats.\n"
        f"# The command line was:\t{_command_line(req)}\n"
        "#\n"
        "# Definition of sets:\n# ID\t[2]id\t[3]tab-separated file names\n"
        f"ID\t0\t{files}\n"
    )


# the counters the text needs as lists (the QUAL bins apart: only the non-empty ones)
LISTS = ("sn", "af_ts", "af_tv", "af_snps", "af_indels", "ins", "dels", "subst", "dp_gt",
         "dp_site", "nvaf", "dvaf")


def render(acc, req: StatsRequest, *, provenance: bool = True) -> str:
    a = acc.a
    qts, qtv, qin = a["qual_ts"], a["qual_tv"], a["qual_in"]
    hi = getattr(acc, "qual_hi", None)  # bins from qual_hi on are empty (VariantStats)
    nz = np.flatnonzero(qts[:hi] + qtv[:hi] + qin[:hi])
    quals = (nz.tolist(), qts[nz].tolist(), qtv[nz].tolist(), qin[nz].tolist())
    return render_lists(acc, {name: a[name].tolist() for name in LISTS}, quals, req,
                        provenance=provenance)


def render_lists(acc, lists: dict[str, list], quals: tuple[list[int], ...],
                 req: StatsRequest, *, provenance: bool = True) -> str:
    """The text from the counters as lists (`LISTS`) and the non-empty QUAL bins (index,
    ts, tv, indel counts); numpy only for the sections of -u and -s/-S (acc.a)."""
    s = acc.settings
    out: list[str] = [header_lines(acc, req)] if provenance else []
    w = out.append
    sn = lists["sn"]
    w(SN_HELP)
    w(f"SN\t0\tnumber of samples:\t{s.n_header_samples}\n")
    labels = ("records", "no-ALTs", "SNPs", "MNPs", "indels", "others", "multiallelic sites",
              "multiallelic SNP sites")
    for i, label in enumerate(labels):
        w(f"SN\t0\tnumber of {label}:\t{sn[i]}\n")
    w(TSTV_HELP)
    ts, tv = sum(lists["af_ts"]), sum(lists["af_tv"])
    ts1, tv1 = sn[8], sn[9]
    w(f"TSTV\t0\t{ts}\t{tv}\t{_f2(ts, tv)}\t{ts1}\t{tv1}\t{_f2(ts1, tv1)}\n")
    w(SIS_HELP)
    snps, ats, atv, aind = (list(lists["af_snps"]), list(lists["af_ts"]),
                            list(lists["af_tv"]), list(lists["af_indels"]))
    w(f"SiS\t0\t1\t{snps[0]}\t{ats[0]}\t{atv[0]}\t{aind[0]}\t0\t0\t{aind[0]}\n")
    for arr in (snps, ats, atv, aind):
        arr[1] += arr[0]
    w(AF_HELP)
    bins = s.af_bins
    for i in range(1, s.m_af):
        if snps[i] + ats[i] + atv[i] + aind[i] == 0:
            continue
        w(f"AF\t0\t{_af_value(i, s.m_af, bins):f}\t{snps[i]}\t{ats[i]}\t{atv[i]}\t{aind[i]}"
          f"\t0\t0\t{aind[i]}\n")
    w(QUAL_HELP)
    nz, qts, qtv, qin = quals
    # the bin's value as bcftools prints it: the float 0.1*(beg-1) with one decimal, beg
    # the bin's first iqual (dist_t(5): exact below 10**5, then 9*10**4 bins a decade),
    # as a float32 (array("f") rounds each double as numpy's astype does)
    starts = nz if not nz or nz[-1] < 100_000 else map(_qual_bin_start, nz)
    labels = [f"{x:.1f}" for x in array("f", [0.1 * (b - 1) for b in starts]).tolist()]
    if nz and nz[0] == 0:
        labels[0] = "."
    # comprehensions, not map(str.__mod__): half the time for ~20 000 lines
    w("".join([f"QUAL\t0\t{q}\t{t_s + t_v}\t{t_s}\t{t_v}\t{t_i}\n"
               for q, t_s, t_v, t_i in zip(labels, qts, qtv, qin, strict=True)]))
    a = acc.a if s.user or s.samples is not None else {}
    for u, (tag, idx, lo, hi, nb, is_float) in enumerate(s.user):
        w(f"# USR:{tag}/{idx}\t[2]id\t[3]{tag}/{idx}\t[4]number of SNPs\t"
          "[5]number of transitions (1st ALT)\t[6]number of transversions (1st ALT)\n")
        uts, utv = a["usr_ts"][u], a["usr_tv"][u]
        for j in range(nb):
            if uts[j] + utv[j] == 0:
                continue
            val = np.float32(lo) + (np.float32(hi) - np.float32(lo)) * np.float32(j) / \
                np.float32(nb - 1) if nb > 1 else np.float32(lo)
            text = f"{float(val):e}" if is_float else f"{float(val):.0f}"
            w(f"USR:{tag}/{idx}\t0\t{text}\t{uts[j] + utv[j]}\t{uts[j]}\t{utv[j]}\n")
    w(IDD_HELP)
    nvaf, dvaf = lists["nvaf"], lists["dvaf"]
    dels, ins = lists["dels"], lists["ins"]
    m = len(dels)
    with_vaf = s.samples is not None
    for i in range(m - 1, -1, -1):
        if dels[i]:
            w(_idd_line(-i - 1, dels[i], m - i - 1, nvaf, dvaf, with_vaf))
    for i in range(m):
        if ins[i]:
            w(_idd_line(i + 1, ins[i], m + i + 1, nvaf, dvaf, with_vaf))
    w(ST_HELP)
    subst = lists["subst"]
    for t in range(16):
        if t >> 2 == t & 3:
            continue
        w(f"ST\t0\t{'ACGT'[t >> 2]}>{'ACGT'[t & 3]}\t{subst[t]}\n")
    w(DP_HELP)
    lo, hi, _step = s.depth
    gt, site = lists["dp_gt"], lists["dp_site"]
    tot_gt, tot_site = sum(gt), sum(site)
    m_vals = len(gt)
    for i in range(m_vals):
        if gt[i] == 0 and site[i] == 0:
            continue
        label = f"<{lo}" if i == 0 else (f">{hi}" if i + 1 == m_vals else str(i - 1 + lo))
        fg = gt[i] * 100.0 / tot_gt if tot_gt else 0.0
        fs = site[i] * 100.0 / tot_site if tot_site else 0.0
        w(f"DP\t0\t{label}\t{gt[i]}\t{fg:f}\t{site[i]}\t{fs:f}\n")
    if s.samples is not None:
        smpl = a["smpl"]
        w(PSC_HELP)
        for i, name in enumerate(s.samples):
            r = smpl[i]
            dp = np.float32(r[6]) / np.float32(r[7]) if r[7] else 0.0
            w(f"PSC\t0\t{name}\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{dp:.1f}\t"
              f"{r[8]}\t{r[9]}\t{r[10]}\t{r[11]}\n")
        w(PSI_HELP)
        for i, name in enumerate(s.samples):
            r = smpl[i]
            w(f"PSI\t0\t{name}\t0\t0\t0\t0.00\t{r[12]}\t{r[13]}\t{r[14]}\t{r[15]}\n")
        w(HWE_HELP)
        w(_hwe(a["af_hwe"], s))
        if s.has_ad:
            w(VAF_HELP)
            for i, name in enumerate(s.samples):
                snv = ",".join(str(x) for x in a["vaf_snv"][i])
                ind = ",".join(str(x) for x in a["vaf_indel"][i])
                w(f"VAF\t0\t{name}\t{snv}\t{ind}\n")
    return "".join(out)


def _idd_line(length: int, sites: int, b: int, nvaf, dvaf, with_vaf: bool) -> str:
    if with_vaf and nvaf[b]:
        return f"IDD\t0\t{length}\t{sites}\t{nvaf[b]}\t{dvaf[b] / nvaf[b]:.2f}\n"
    return f"IDD\t0\t{length}\t{sites}\t0\t.\n"


def _af_value(i: int, m_af: int, bins) -> float:
    if bins:
        return (_f32(bins[i]) + _f32(bins[i - 1])) * 0.5
    return (i - 1) / (m_af - 1)


_HWE_BINS = 100
_HWE_X: list[str] = []  # each bin's printed heterozygosity, as bcftools prints j/100.0f


def _hwe(af_hwe, s) -> str:
    """The HWE lines: per AF bin with genotypes, the heterozygosity bins where the
    cumulative fraction (float32, as bcftools) first reaches 25, 50 and 75 %."""
    n = _HWE_BINS
    if not _HWE_X:
        _HWE_X.extend(f"{np.float32(j) / np.float32(n):f}" for j in range(n))
    h = af_hwe.reshape(s.m_af, n).copy()
    h[1] += h[0]
    cum = np.cumsum(h, axis=1)
    lines = []
    for i in np.flatnonzero(cum[:, -1]).tolist():
        if i == 0:
            continue
        total = int(cum[i, -1])
        frac = cum[i].astype(np.float32) / np.float32(total)
        q25, q50, q75 = np.searchsorted(frac, (0.25, 0.5, 0.75)).tolist()
        af = _af_value(i, s.m_af, s.af_bins)
        lines.append(f"HWE\t0\t{af:f}\t{total}\t{_HWE_X[q25]}\t{_HWE_X[q50]}\t"
                     f"{_HWE_X[q75]}\n")
    return "".join(lines)


def pretty(acc, req: StatsRequest, console) -> None:
    from rich.table import Table

    summ = acc.summary()
    sn = summ["SN"]
    t = Table(title="Variant summary (" + ", ".join(acc.files) + ")", show_header=True)
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for key, value in sn.items():
        t.add_row(key.replace("_", " "), f"{value:,}")
    tstv = summ["TSTV"]
    t.add_row("ts/tv", f"{tstv['ts_tv']:.2f} ({tstv['ts']:,}/{tstv['tv']:,})")
    t.add_row("ts/tv 1st ALT", f"{tstv['ts_tv_1st_alt']:.2f}")
    t.add_row("biallelic sites", f"{summ['extras']['biallelic_sites']:,}")
    console.print(t)
    per_chrom = summ["extras"]["per_chromosome"]
    if per_chrom:
        c = Table(title="Records per chromosome")
        c.add_column("chromosome")
        c.add_column("records", justify="right")
        for name, count in per_chrom.items():
            c.add_row(name, f"{count:,}")
        console.print(c)
    per = summ["extras"].get("per_sample")
    if per:
        p = Table(title="Per sample")
        for col in ("sample", "hom ref", "hom alt", "het", "ts/tv", "indels", "missing %"):
            p.add_column(col, justify="left" if col == "sample" else "right")
        for name, r in per.items():
            p.add_row(name, f"{r['homRR']:,}", f"{r['homAA']:,}", f"{r['hets']:,}",
                      f"{r['ts_tv']:.2f}", f"{r['indels']:,}",
                      f"{100 * r['missing_fraction']:.2f}")
        console.print(p)


def _qual_bin_start(idx: int) -> int:
    """The first iqual of QUAL bin `idx` (bcftools' dist_get with npow 5)."""
    if idx < 100_000:
        return idx
    level = (idx - 100_000) // 90_000 + 1
    within = idx - 100_000 - 90_000 * (level - 1)
    return 10 ** (level + 4) + 10 ** level * within
