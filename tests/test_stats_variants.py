"""gfcli stats on VCF/BCF against bcftools stats 1.24 (pysam's), -@ N, and shard merging.

Every section is compared line by line, IDD genotype/VAF columns and the VAF section
included. bcftools 1.24 rejects '-s ^NAME' ("Unable to parse the samples"); gfcli takes it,
and the test compares it with bcftools given the remaining samples.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import variant_data as vd  # noqa: E402

pytest.importorskip("pysam")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("stats_vcf")
    sets = vd.make_set(str(d), "calls", n_records=600, n_samples=5, seed=11)
    bins = d / "bins.txt"
    bins.write_text("0.1\n0.3\n0.7\n")
    return {**sets, "dir": str(d), "bins": str(bins)}


def _bcftools(*args: str) -> str:
    """pysam's bcftools stats in a fresh interpreter (its in-process bcftools keeps state
    between calls that sample subsets trip over)."""
    code = ("import sys\nfrom pysam import bcftools\n"
            "sys.stdout.write(bcftools.stats(*sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _gfcli(*args: str, env: dict | None = None) -> str:
    run = subprocess.run(["gfcli", "stats", *args], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _body(text: str) -> list[str]:
    """Everything after the two provenance lines and the ID line."""
    out = []
    for line in text.splitlines()[2:]:
        if line.startswith("ID\t"):
            continue  # file name as given
        out.append(line)
    return out


CASES = [
    ("sites", ()),
    ("samples all", ("-s", "-")),
    ("samples subset order", ("-s", "S3,S1")),
    ("samples subset unknown name", ("-s", "S2,S9,S4")),
    ("apply filters PASS", ("-f", "PASS")),
    ("apply filters missing+q10", ("-f", ".,q10")),
    ("af bins list", ("--af-bins", "0.1,0.5,1")),
    ("af tag", ("--af-tag", "AF")),
    ("depth bins", ("-d", "0,1000,50", "-s", "-")),
    ("user tstv", ("-u", "DP:0:5000:20", "-u", "AF")),
    ("regions", ("-r", "chr1:1-400000,chr3")),
    ("targets", ("-t", "chr2,chr1:100000-600000")),
    ("targets exclude", ("-t", "^chr2")),
    ("include site", ("-i", "QUAL>30 && INFO/DP>100")),
    ("include type", ("-i", 'TYPE="snp" && AF>0.3', "-s", "-")),
    ("exclude filter", ("-e", 'FILTER="q10"', "-s", "-")),
    ("exclude format", ("-e", "FMT/DP<50", "-s", "-")),
    ("include genotype", ("-i", 'GT="het"', "-s", "S2,S5")),
    ("include n_alt with regions", ("-i", "N_ALT>1", "-r", "chr1,chr3", "-s", "-")),
]


@pytest.mark.parametrize("name,args", CASES)
def test_matches_bcftools(data, name, args):
    for key in ("gz", "bcf") if name in ("sites", "samples all") else ("gz",):
        path = data[key]
        assert _body(_gfcli(*args, path)) == _body(_bcftools(*args, path)), (name, key)


def test_samples_exclude(data):
    """-s ^S2 (bcftools 1.24 cannot) equals bcftools given the other samples."""
    for key in ("gz", "bcf"):
        assert _body(_gfcli("-s", "^S2", data[key])) == \
            _body(_bcftools("-s", "S1,S3,S4,S5", data[key]))
    expected = _body(_bcftools("-s", "S1,S3,S4,S5", data["gz"]))
    with open(data["bins"].replace("bins.txt", "ex.txt"), "w") as handle:
        handle.write("S2\n")
    assert _body(_gfcli("-S", "^" + data["bins"].replace("bins.txt", "ex.txt"),
                        data["gz"])) == expected


def test_bcf_read_in_place_equals_htslib(data):
    """BGZF BCF is inflated by gfcli and read in place; the same numbers as through
    htslib's bcf_read (GFCLI_STATS_DIRECT_BCF=0), indexed or not, -@1 or -@2."""
    off = {"GFCLI_STATS_DIRECT_BCF": "0"}
    for key in ("bcf", "noidx_bcf"):
        for args in ((), ("-s", "-"), ("-s", "S3,S1"), ("-s", "-", "-@", "2")):
            small = {"GFCLI_CHUNK_BYTES": "3000"}
            assert _gfcli(*args, data[key], env=small).splitlines()[2:] == \
                _gfcli(*args, data[key], env={**off, **small}).splitlines()[2:]


def test_expression_errors(data):
    run = subprocess.run(["gfcli", "stats", "-i", "QUAL>", data["gz"]], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 2 and run.stdout == ""
    run = subprocess.run(["gfcli", "stats", "-i", "NOSUCH>1", data["gz"]],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2 and run.stdout == ""


def test_expression_threads_and_merge(data, tmp_path):
    small = {"GFCLI_CHUNK_BYTES": "2000"}
    args = ("-s", "-", "-i", "QUAL>100 || GT=\"AA\"")
    one = _gfcli(*args, "-@", "1", data["gz"], env=small).splitlines()[2:]
    two = _gfcli(*args, "-@", "2", data["gz"], env=small).splitlines()[2:]
    assert one == two
    parts = []
    for i, region in enumerate(("chr1", "chr2,chr3")):
        out = tmp_path / f"p{i}.json"
        _gfcli(*args, "-O", "json", "-r", region, "-o", str(out), data["gz"])
        parts.append(str(out))
    assert _gfcli("--merge", *parts).splitlines()[2:] == one


def test_af_bins_file(data):
    args = ("--af-bins", data["bins"], "-s", "-")
    assert _body(_gfcli(*args, data["gz"])) == _body(_bcftools(*args, data["gz"]))


def test_plain_vcf_and_stdin(data):
    expected = _body(_bcftools("-s", "-", data["vcf"]))
    assert _body(_gfcli("-s", "-", data["vcf"])) == expected
    with open(data["noidx_gz"], "rb") as handle:
        run = subprocess.run(["gfcli", "stats", "-s", "-", "-"], stdin=handle,
                             capture_output=True, text=True, check=True)
    assert _body(run.stdout) == expected
    assert "ID\t0\t<STDIN>" in run.stdout


def test_provenance_lines(data):
    text = _gfcli("-s", "-", data["gz"])
    first, second = text.splitlines()[:2]
    assert first.startswith("# This file was produced by bcftools stats (gfcli ")
    assert second == f"# The command line was:\tgfcli stats  -s - {data['gz']}"


def test_threads_equal_serial(data):
    small = {"GFCLI_CHUNK_BYTES": "2000"}
    for path in (data["gz"], data["bcf"], data["noidx_gz"]):
        one = _gfcli("-s", "-", "-@", "1", path, env=small).splitlines()[2:]
        two = _gfcli("-s", "-", "-@", "2", path, env=small).splitlines()[2:]
        assert one == two


def test_small_chunks_equal_bcftools(data):
    """Indexed input cut into many chunks: each chunk first reads a few records before it
    for the ALT lengths symbolic ALTs show in IDD (bcftools' reused bcf1_t), so the
    chunked run still equals bcftools."""
    small = {"GFCLI_CHUNK_BYTES": "1500"}
    for key in ("gz", "bcf"):
        for threads in ("1", "2"):
            assert _body(_gfcli("-s", "-", "-@", threads, data[key], env=small)) == \
                _body(_bcftools("-s", "-", data[key])), (key, threads)


def test_shards_merge_to_one_pass(data, tmp_path):
    parts = []
    for i, region in enumerate(("chr1", "chr2:1-200000", "chr2:200001-500000,chr3")):
        out = tmp_path / f"part{i}.json"
        _gfcli("-O", "json", "-s", "-", "-r", region, "-o", str(out), data["gz"])
        parts.append(str(out))
    whole = _gfcli("-s", "-", data["gz"])
    merged = _gfcli("--merge", *parts)
    assert merged.splitlines()[2:] == whole.splitlines()[2:]
    # and in JSON: the merged partial equals the one-pass partial
    import json

    one = json.loads(_gfcli("-O", "json", "-s", "-", data["gz"]))
    again = json.loads(_gfcli("-O", "json", "--merge", *parts))
    dvaf_one = one["stats"]["state"].pop("dvaf")
    dvaf_again = again["stats"]["state"].pop("dvaf")
    assert one["stats"]["state"] == again["stats"]["state"]
    assert dvaf_one["index"] == dvaf_again["index"]  # float sums: order may differ by an ulp
    assert dvaf_one["values"] == pytest.approx(dvaf_again["values"], rel=1e-12)
    assert one["stats"]["summary"]["extras"]["per_chromosome"] == {
        "chr1": 200, "chr2": 200, "chr3": 200}


def test_merge_rejects_other_settings(data, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _gfcli("-O", "json", "-o", str(a), data["gz"])
    _gfcli("-O", "json", "-s", "-", "-o", str(b), data["gz"])
    run = subprocess.run(["gfcli", "stats", "--merge", str(a), str(b)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 2
    assert "different options" in run.stderr


def test_all_samples_of_a_file_without_samples_is_refused(tmp_path):
    """bcftools 1.24 stats -s - on a sites-only file: 'No sample columns', an error."""
    path = tmp_path / "sites.vcf"
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    "chr1\t10\t.\tA\tC\t50\tPASS\t.\n")
    code = ("import sys\nfrom pysam import bcftools\n"
            "try:\n    bcftools.stats(*sys.argv[1:])\nexcept Exception as e:\n"
            "    print(e)\n    sys.exit(1)\n")
    ref = subprocess.run([sys.executable, "-c", code, "-s", "-", str(path)],
                         capture_output=True, text=True, check=False)
    assert ref.returncode == 1 and "No sample columns" in ref.stdout
    for name in (str(path), vd.to_bcf(vd.write_vcf(str(tmp_path / "s.vcf"), path.read_text()),
                                      str(tmp_path / "s.bcf"))):
        for threads in ("1", "2"):
            run = subprocess.run(["gfcli", "stats", "-s", "-", "-@", threads, name],
                                 capture_output=True, text=True, check=False)
            assert run.returncode == 2 and run.stdout == "", (name, run.stderr)
            assert "no sample columns" in run.stderr
