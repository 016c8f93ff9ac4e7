"""gfcli stats' general variant path (vkernels.update) against bcftools stats 1.24 (pysam's)
where bcftools reads a record in a way that is easy to get wrong:

- a repeated INFO/DP key: bcftools takes the first DP only (bcf_get_info_int32), and no
  site depth when that first one has no single value;
- INFO/AC with a number of values other than the number of ALTs: htslib's bcf_calc_ac
  gives up, so the record has no allele counts at all (no AN/AC error, no fallback to GT);
- QUAL from ~10000 on: bcftools' QUAL distribution (dist_t with npow 5) has logarithmic
  bins above iqual 10**5, up to the float-to-int overflow of huge QUALs.

Each file is read as BGZF VCF text and as BCF, with and without samples, so both readers
of the general path run (htslib for VCF text, gfcli's BCF inflater for BCF);
GFCLI_STATS_SITES_TEXT=0 keeps sites-only VCF text off the vsites kernel.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

pysam = pytest.importorskip("pysam")

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##contig=<ID=chr1,length=5000000>
##contig=<ID=chr2,length=3000000>
##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
"""

# INFO columns with a repeated DP: first value, first missing, first a vector, first alone
DP_INFOS = ("DP=5;DP=7", "DP=7;DP=5", "DP=.;DP=9", "DP=3,4;DP=5", "DP=5;DP=3,4",
            "DP=12;AN=4;DP=40", "DP=250;DP=1", "DP=.,.;DP=8", "DP=0;DP=.", "DP=40000;DP=2")

# QUALs around and above 10000, where bcftools' bins turn logarithmic, up to the overflow
QUALS = ("9999.7", "9999.8", "9999.85", "9999.9", "9999.95", "10000", "10000.05", "10000.1",
         "10000.9", "10001", "10009.9", "10010", "12345.6", "50000", "99999.9", "100000",
         "100009", "100010", "123456.7", "999999", "1000000", "1234567", "1e7", "99999999",
         "123456789", "214748364", "214748365", "5e8", "3e9", "1e30", "3.4e38")


def _gt(rng: random.Random, n_alt: int) -> str:
    if rng.random() < 0.1:
        return "./."
    a, b = rng.randint(0, n_alt), rng.randint(0, n_alt)
    return f"{a}/{b}"


def quirks_vcf(n: int, seed: int, samples: int) -> str:
    rng = random.Random(seed)
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    if samples:
        cols += "\tFORMAT\t" + "\t".join(f"S{i}" for i in range(samples))
    lines: list[tuple[str, int, str]] = []
    pos = {"chr1": 0, "chr2": 0}
    for _ in range(n):
        chrom = "chr1" if rng.random() < 0.7 else "chr2"
        pos[chrom] += rng.randint(1, 300)
        ref = rng.choice("ACGT")
        kind = rng.random()
        others = [b for b in "ACGT" if b != ref]
        if kind < 0.5:
            alts = [rng.choice(others)]
        elif kind < 0.75:
            alts = rng.sample(others, k=rng.randint(2, 3))
        elif kind < 0.88:
            alts = [ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 5)))]
        else:
            alts = [rng.choice(others), ref + "T"]
        n_alt = len(alts)
        info = []
        r = rng.random()
        if r < 0.3:
            info.append(rng.choice(DP_INFOS))
        elif r < 0.5:
            info.append(f"DP={rng.randint(0, 600)}")
        # AC: usually one value per ALT; often one too few or too many
        an = 2 * max(samples, 4)
        r = rng.random()
        if r < 0.35:
            n_ac = n_alt
        elif r < 0.55:
            n_ac = n_alt + rng.choice([1, 2])
        elif r < 0.7:
            n_ac = max(n_alt - 1, 1) if n_alt > 1 else 2
        else:
            n_ac = -1
        if n_ac >= 0:
            # counts that may sum above AN when the length is wrong: bcftools never checks
            values = [rng.randint(0, an // n_ac if n_ac == n_alt else an) for _ in range(n_ac)]
            if rng.random() < 0.2:
                values[0] = 1  # singletons
            info.append("AC=" + ",".join(map(str, values)))
            info.append(f"AN={an}")
        qual = rng.choice(QUALS) if rng.random() < 0.6 else f"{rng.uniform(0, 12000):.1f}"
        row = [chrom, str(pos[chrom]), ".", ref, ",".join(alts), qual, "PASS",
               ";".join(info) if info else "."]
        if samples:
            row.append("GT:DP")
            row += [f"{_gt(rng, n_alt)}:{rng.randint(0, 80)}" for _ in range(samples)]
        lines.append((chrom, pos[chrom], "\t".join(row)))
    lines.sort(key=lambda x: x[:2])  # chr1, then chr2: the index needs sorted records
    return "\n".join([HEADER + cols] + [ln for _c, _p, ln in lines]) + "\n"


def _write(d, name: str, text: str) -> dict[str, str]:
    plain = d / f"{name}.vcf"
    plain.write_text(text)
    gz = str(plain) + ".gz"
    pysam.tabix_compress(str(plain), gz, force=True)
    pysam.tabix_index(gz, preset="vcf", force=True)
    bcf = str(d / f"{name}.bcf")
    _run_bcftools("view", "-Ob", "-o", bcf, gz)
    _run_bcftools("index", bcf)
    return {"vcf": gz, "bcf": bcf}


def _run_bcftools(command: str, *args: str) -> str:
    """pysam's bcftools 1.24 in a fresh process (its in-process runs share stdio)."""
    code = ("import sys\nfrom pysam import bcftools\n"
            f"out = bcftools.{command}(*sys.argv[1:], catch_stdout={command == 'stats'})\n"
            "sys.stdout.write(out if isinstance(out, str) else '')\n")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _bcftools(*args: str) -> str:
    return _run_bcftools("stats", *args)


def _gfcli(*args: str, env: dict | None = None) -> str:
    run = subprocess.run([sys.executable, "-m", "gfcli", "stats", *args],
                         capture_output=True, text=True,
                         env={**os.environ, "GFCLI_STATS_SITES_TEXT": "0", **(env or {})},
                         check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _body(text: str) -> list[str]:
    return [ln for ln in text.splitlines()[2:] if not ln.startswith("ID\t")]


def _sections(lines: list[str], *names: str) -> list[str]:
    return [ln for ln in lines if ln.split("\t", 1)[0] in names]


SMALL_CHUNKS = {"GFCLI_CHUNK_BYTES": "20000"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("quirks")
    return {"sites": _write(d, "sites", quirks_vcf(3000, seed=11, samples=0)),
            "samples": _write(d, "samples", quirks_vcf(2000, seed=12, samples=5))}


@pytest.mark.parametrize("fmt", ["vcf", "bcf"])
@pytest.mark.parametrize("which", ["sites", "samples"])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_quirks_equal_bcftools(files, fmt, which, threads):
    path = files[which][fmt]
    want = _body(_bcftools(path))
    got = _body(_gfcli("-@", threads, path, env=SMALL_CHUNKS))
    # the sections each quirk shows in, first, for a readable failure
    for sec in (("DP",), ("QUAL",), ("AF", "SN", "TSTV", "SiS")):
        assert _sections(got, *sec) == _sections(want, *sec), sec
    assert got == want


@pytest.mark.parametrize("fmt", ["vcf", "bcf"])
def test_quirks_with_sample_stats(files, fmt):
    """-s -: per-sample counts (singletons) follow the allele counts bcftools has."""
    path = files["samples"][fmt]
    assert _body(_gfcli("-s", "-", "-@", "2", path)) == _body(_bcftools("-s", "-", path))


def test_quirks_sites_kernel_agrees(files):
    """The vsites kernel (default for sites-only VCF text) gives the same report."""
    path = files["sites"]["vcf"]
    fast = _gfcli(path, env={"GFCLI_STATS_SITES_TEXT": "1"})
    assert _body(fast) == _body(_bcftools(path))


def _one(tmp_path, name: str, records: list[str], samples: int = 0) -> dict[str, str]:
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    if samples:
        cols += "\tFORMAT\t" + "\t".join(f"S{i}" for i in range(samples))
    return _write(tmp_path, name, HEADER + cols + "\n" + "\n".join(records) + "\n")


@pytest.mark.parametrize("fmt", ["vcf", "bcf"])
def test_ac_length_skips_an_check(tmp_path, fmt):
    """AN below the sum of AC is an error only when AC has one value per ALT."""
    recs = ["chr1\t10\t.\tA\tG\t50\tPASS\tAC=5,6;AN=4",
            "chr1\t20\t.\tA\tG,T\t50\tPASS\tAC=9;AN=4",
            "chr1\t30\t.\tA\tG\t50\tPASS\tAC=1;AN=4"]
    path = _one(tmp_path, "acn", recs)[fmt]
    assert _body(_gfcli(path)) == _body(_bcftools(path))


@pytest.mark.parametrize("fmt", ["vcf", "bcf"])
def test_qual_bins_each(tmp_path, fmt):
    """Every QUAL of the list alone in a file: each bin and its label."""
    recs = [f"chr1\t{10 * (i + 1)}\t.\tA\t{'G' if i % 3 else 'C'}\t{q}\tPASS\t."
            for i, q in enumerate(QUALS)]
    recs += [f"chr2\t{10 * (i + 1)}\t.\tA\tAT\t{q}\tPASS\t." for i, q in enumerate(QUALS)]
    path = _one(tmp_path, "quals", recs)[fmt]
    got = _sections(_body(_gfcli(path)), "QUAL")
    assert got == _sections(_body(_bcftools(path)), "QUAL")
    assert len(got) > 12  # bins merge QUALs: 17 distinct rows


def test_older_json_partial_merges(tmp_path):
    """A JSON partial written when QUAL bins stopped at 190001 still merges (same bins)."""
    import json

    recs = [f"chr1\t{10 * (i + 1)}\t.\tA\t{'G' if i % 2 else 'AT'}\t{q}\tPASS\t."
            for i, q in enumerate(("3.5", "99.9", "9999.8", "12345.6", "99999.9"))]
    path = _one(tmp_path, "older", recs)["vcf"]
    part = tmp_path / "part.json"
    _gfcli("-O", "json", "-o", str(part), path)
    data = json.loads(part.read_text())
    for name in ("qual_ts", "qual_tv", "qual_in"):
        entry = data["stats"]["state"][name]
        assert entry["shape"][0] > 190_001 and max(entry["index"] or [0]) < 190_001
        entry["shape"] = [190_001]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    merged = _body(_gfcli("--merge", str(older)))
    assert merged == _body(_bcftools(path))
