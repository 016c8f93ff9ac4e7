"""gfcli stats -s on BCF cohorts: the per-record genotype-table path of `vkernels` (biallelic
records with int8 GT) against bcftools stats 1.24 (pysam's), against the general
per-genotype path (multi-allelic records, other GT encodings) and the numba kernels
(GFCLI_NO_NATIVE=1), at -@1/-@2 and in small chunks.

The generated cohorts mix what the table path must classify exactly or hand back: haploid,
diploid and mixed-ploidy samples, missing genotypes and half-missing ones ('./1', '1/.'),
phased genotypes, multi-allelic records, AD and FORMAT/DP as int8 and int16 (values over
127), missing DP/AD, records without FORMAT/DP (depth from the AD sum) or without AD, and
symbolic ALTs (<DEL>) at chunk starts, whose IDD lengths come from records before the chunk.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import variant_data as vd  # noqa: E402

pytest.importorskip("pysam")

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##contig=<ID=chr1,length=2000000>
##contig=<ID=chr2,length=1000000>
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Quality">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
"""


def _genotype(rng: random.Random, n_alt: int, ploidy: int, phased: bool) -> str:
    roll = rng.random()
    if roll < 0.05:
        return "." if ploidy == 1 else rng.choice(["./.", ".|.", "./1", "1/."])
    if n_alt > 1 and roll < 0.2:
        alleles = [rng.randint(0, n_alt) for _ in range(ploidy)]
    else:
        p_alt = rng.choice([0.02, 0.2, 0.5])
        alleles = [1 if rng.random() < p_alt else 0 for _ in range(ploidy)]
    return ("|" if phased else "/").join(map(str, alleles))


def bcf_cohort(tmp_path_factory, name: str, seed: int, n_records: int, n_samples: int,
               ploidy: str) -> str:
    """An indexed BCF of `_cohort(...)` in a fresh temporary directory (module fixtures of
    the cohort statistics tests)."""
    d = tmp_path_factory.mktemp(name)
    plain = vd.write_vcf(str(d / "c.vcf"), _cohort(seed, n_records, n_samples, ploidy))
    return vd.to_bcf(plain, str(d / "c.bcf"))


def _cohort(seed: int, n_records: int, n_samples: int, ploidy: str) -> str:
    rng = random.Random(seed)
    names = [f"S{i + 1}" for i in range(n_samples)]
    lines = [HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
             + "\t".join(names) + "\n"]
    if ploidy == "haploid":
        ploidies = [1] * n_samples
    elif ploidy == "mixed":
        ploidies = [rng.choice([1, 2]) for _ in range(n_samples)]
    else:
        ploidies = [2] * n_samples
    pos = {"chr1": 100, "chr2": 100}
    for k in range(n_records):
        chrom = "chr1" if k < n_records * 2 // 3 else "chr2"
        pos[chrom] += rng.randint(1, 300)
        ref = rng.choice("ACGT")
        kind = rng.random()
        info = []
        if kind < 0.04:
            alts = ["<DEL>"]
            info += ["SVTYPE=DEL", f"END={pos[chrom] + rng.randint(50, 3000)}"]
        elif kind < 0.14:
            alts = [ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 8)))]
        elif kind < 0.22:
            ref = ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6)))
            alts = [ref[0]]
        elif kind < 0.32:
            alts = rng.sample([b for b in "ACGT" if b != ref], rng.choice([2, 3]))
        else:
            alts = [rng.choice([b for b in "ACGT" if b != ref])]
        n_alt = len(alts)
        big = rng.random() < 0.15  # int16 FORMAT values in this record
        fields = ["GT", "DP", "GQ", "AD"]
        if rng.random() < 0.1:
            fields = ["GT", "GQ", "AD"]  # depth from the AD sum
        elif rng.random() < 0.1:
            fields = ["GT", "DP", "GQ"]  # no VAF
        phased = rng.random() < 0.3
        samples = []
        for s in range(n_samples):
            gt = _genotype(rng, n_alt, ploidies[s], phased)
            dp = rng.randint(0, 400 if big else 60)
            ad = [rng.randint(0, dp) for _ in range(n_alt + 1)]
            values = {"GT": gt, "DP": str(dp) if rng.random() > 0.05 else ".",
                      "GQ": str(rng.randint(0, 99)),
                      "AD": ",".join(map(str, ad)) if rng.random() > 0.05 else "."}
            samples.append(":".join(values[f] for f in fields))
        if rng.random() < 0.7:
            an = sum(ploidies)
            info += [f"AC={','.join(str(rng.randint(0, 4)) for _ in alts)}", f"AN={an}"]
        info.append(f"DP={rng.randint(10, 5000)}")
        lines.append(f"{chrom}\t{pos[chrom]}\t.\t{ref}\t{','.join(alts)}\t"
                     f"{rng.uniform(1, 500):.1f}\tPASS\t{';'.join(info)}\t"
                     f"{':'.join(fields)}\t" + "\t".join(samples) + "\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    d = tmp_path_factory.mktemp("stats_cohort")
    out = {}
    for name, seed, ploidy in (("diploid", 3, "diploid"), ("haploid", 5, "haploid"),
                               ("mixed", 7, "mixed")):
        plain = vd.write_vcf(str(d / f"{name}.vcf"), _cohort(seed, 1500, 24, ploidy))
        out[name] = vd.to_bcf(plain, str(d / f"{name}.bcf"))
    return out


def _bcftools(*args: str) -> str:
    code = ("import sys\nfrom pysam import bcftools\n"
            "sys.stdout.write(bcftools.stats(*sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _gfcli(*args: str, env: dict | None = None) -> str:
    run = subprocess.run([sys.executable, "-m", "gfcli", "stats", *args],
                         capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _body(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if not line.startswith("#") and not line.startswith("ID\t")]


@pytest.mark.parametrize("name", ["diploid", "haploid", "mixed"])
@pytest.mark.parametrize("samples", ["-", "S3,S1,S20"])
def test_cohort_equals_bcftools(cohorts, name, samples):
    path = cohorts[name]
    expected = _body(_bcftools("-s", samples, path))
    assert any(line.startswith("PSC\t") for line in expected)
    assert _body(_gfcli("-s", samples, path)) == expected
    # many chunks: symbolic ALTs at chunk starts take their lengths from records before
    small = {"GFCLI_CHUNK_BYTES": "4000"}
    for threads in ("1", "2"):
        assert _body(_gfcli("-s", samples, "-@", threads, path, env=small)) == expected, \
            (name, samples, threads)


def test_numba_kernels_equal_native(cohorts):
    """The precompiled kernels and numba's (GFCLI_NO_NATIVE=1) count the same."""
    for name in ("diploid", "mixed"):
        path = cohorts[name]
        native = _gfcli("-s", "-", path).splitlines()[2:]
        jitted = _gfcli("-s", "-", path, env={"GFCLI_NO_NATIVE": "1"}).splitlines()[2:]
        assert native == jitted, name


def test_baseline_kernels_equal_host_cpu_kernels(cohorts):
    """Kernels built for this CPU (sharedlib.cpu_tag: AVX-512 here) and as baseline x86-64
    (GFCLI_BASELINE_KERNELS=1, its own cache entry) count the same."""
    for name in ("diploid", "mixed"):
        path = cohorts[name]
        host = _gfcli("-s", "-", path).splitlines()[2:]
        baseline = _gfcli("-s", "-", path,
                          env={"GFCLI_BASELINE_KERNELS": "1"}).splitlines()[2:]
        assert host == baseline, name


def test_htslib_reader_equals_in_place(cohorts):
    """Records read by htslib (bcf_read: no vector-end handling in the kernel) give the
    same numbers as records read in place (vbcfdirect)."""
    off = {"GFCLI_STATS_DIRECT_BCF": "0"}
    for name in ("haploid", "mixed"):
        path = cohorts[name]
        assert _gfcli("-s", "-", path).splitlines()[2:] == \
            _gfcli("-s", "-", path, env=off).splitlines()[2:], name


def test_genotype_tables_equal_general_path():
    """A biallelic record counted through the genotype tables (`_sample_fast`) and through
    the per-genotype path (`_sample_stats`) adds the same to every counter, for every
    pair of GT bytes the tables accept (and none they refuse)."""
    np = pytest.importorskip("numpy")
    from gfcli.engine.stats import vkernels as vk
    from gfcli.engine.stats.vnative import N_OUT, WS_FIXED, WS_NFAST

    values = [0, 1, 2, 3, 4, 5, 0x80, 0x81, 6, 0x7F]
    pairs = [(a, b) for a in values for b in values]
    n = len(pairs)
    for missing_ends in (False, True):
        for alt, dp_t in ((b"G", 1), (b"AT", 2), (b"<DEL>", 1)):
            buf = np.frombuffer(b"A\0" + alt, np.uint8).copy()
            a_beg = np.array([0, 2], np.int64)
            a_len = np.array([1, len(alt)], np.int64)
            vt, vn = vk.variant_type(buf, 0, 1, 2, len(alt))
            a_type = np.array([0, vt], np.int64)
            a_n = np.array([0, 0 if vn == vk.N_STALE else vn], np.int64)
            iaf = np.array([0, 3], np.int64)
            rng = np.random.default_rng(1)
            gt = np.array(pairs, np.uint8).reshape(-1)
            dp = rng.integers(-2, 300 if dp_t == 2 else 120, n).astype(
                np.int16 if dp_t == 2 else np.int8)
            ad = rng.integers(-2, 100, (n, 2)).astype(np.int8)
            ad[::7, 1] = -128  # missing
            ad[3::11, 1] = -127  # vector end
            if dp_t == 1:  # missing and vector-end depths, AD above the depth
                dp[::9] = -128
                dp[4::13] = -127
                ad[5::17, 1] = 110
            ibuf = np.concatenate([gt, dp.view(np.uint8), ad.view(np.uint8).reshape(-1)])
            dp_p, ad_p = gt.size, gt.size + dp.nbytes
            sample_idx = np.arange(n, dtype=np.int64)

            def counters():
                return {"smpl": np.zeros((n, vk.PS_N), np.int64),
                        "vaf_snv": np.zeros((n, vk.N_VAF), np.int64),
                        "vaf_indel": np.zeros((n, vk.N_VAF), np.int64),
                        "nvaf": np.zeros(2 * vk.M_INDEL + 1, np.int64),
                        "dvaf": np.zeros(2 * vk.M_INDEL + 1, np.float64),
                        "af_hwe": np.zeros(vk.N_HWE * 60, np.int64)}

            ws = np.zeros(vk.ws_size(n), np.int64)
            vk._ws_prepare(ws, n, missing_ends)
            fast = counters()
            dp_gt = np.zeros(10, np.int64)
            # the pairs with a refused byte must send the whole record back untouched
            took = vk._sample_fast(ibuf, buf, a_beg, a_len, a_type, a_n, iaf, 0, 2, dp_p,
                                   dp_t, 1, ad_p, 1, sample_idx, fast["smpl"],
                                   fast["vaf_snv"], fast["vaf_indel"], fast["nvaf"],
                                   fast["dvaf"], fast["af_hwe"], ws, True)
            assert not took
            assert all(not arr.any() for arr in fast.values())
            assert not ws[WS_FIXED:WS_FIXED + N_OUT * n].any() and not ws[WS_NFAST]
            accepted = [i for i, (a, b) in enumerate(pairs)
                        if a not in (6, 0x7F) and b not in (6, 0x7F)
                        and (missing_ends or (a != 0x80 and b != 0x80))]
            sub = np.array(accepted, np.int64)
            general = counters()
            small = {k: (v[: sub.size] if v.ndim == 2 else v) for k, v in general.items()}
            vk._sample_stats(ibuf, buf, a_beg, a_len, a_type, a_n, 2, iaf, 0, 1, 2, dp_p,
                             dp_t, 1, ad_p, 1, 2, sub, small["smpl"], small["vaf_snv"],
                             small["vaf_indel"], small["nvaf"], small["dvaf"],
                             small["af_hwe"], missing_ends)
            fast = counters()
            fsmall = {k: (v[: sub.size] if v.ndim == 2 else v) for k, v in fast.items()}
            ws = np.zeros(vk.ws_size(sub.size), np.int64)
            vk._ws_prepare(ws, sub.size, missing_ends)
            assert vk._sample_fast(ibuf, buf, a_beg, a_len, a_type, a_n, iaf, 0, 2, dp_p,
                                   dp_t, 1, ad_p, 1, sub, fsmall["smpl"], fsmall["vaf_snv"],
                                   fsmall["vaf_indel"], fsmall["nvaf"], fsmall["dvaf"],
                                   fsmall["af_hwe"], ws, False)
            vk._ws_flush(ws, sub.size, fsmall["smpl"], dp_gt, 0, 500, 1)
            for key in small:
                assert np.array_equal(small[key], fsmall[key]), (key, alt, missing_ends)
