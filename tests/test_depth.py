"""gfcli depth against pysam's samtools depth (1.24) and, when installed, mosdepth."""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pysam
import pytest
from alignment_data import make_alignment_files

ROOT = Path(__file__).resolve().parent.parent
MOSDEPTH = shutil.which("mosdepth")


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str = ""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _gfcli(*args: str) -> _Result:
    """In-process (no interpreter start per case): rows go to a temp file via -o."""
    import tempfile

    from gfcli.cli import main

    prefix = "--prefix" in args
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        extra = [] if prefix else ["-o", str(out)]
        try:
            main(["depth", *extra, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        text = out.read_text() if out.exists() else ""
    return _Result(code, text)


def _overlap_bam(path: Path) -> Path:
    """Pairs that overlap (and not), deletions, skips, insertions, clips, low qualities."""
    rng = random.Random(11)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": "c1", "LN": 5000}, {"SN": "c2", "LN": 3000}, {"SN": "c3", "LN": 900}]}
    records = []
    cigars = ["60M", "20M2D40M", "10S50M", "25M3I32M", "30M100N30M", "5H55M", "28M1D4M2I26M"]
    with pysam.AlignmentFile(str(path) + ".tmp.bam", "wb", header=header) as out:
        for i in range(400):
            tid = rng.choice([0, 0, 1])
            length = header["SQ"][tid]["LN"]
            pos = rng.randint(0, length - 300)
            mate = pos + rng.randint(-20, 120)
            mate = max(0, mate)
            for r in range(2):
                a = pysam.AlignedSegment(out.header)
                a.query_name = f"p{i}"
                a.reference_id = tid
                a.reference_start = pos if r == 0 else mate
                cig = rng.choice(cigars)
                a.cigarstring = cig
                qlen = a.infer_query_length()
                a.query_sequence = "".join(rng.choice("ACGT") for _ in range(qlen))
                a.query_qualities = pysam.qualitystring_to_array(
                    "".join(chr(33 + rng.choice([2, 10, 20, 30, 40])) for _ in range(qlen)))
                a.flag = 0x1 | 0x2 | (0x40 if r == 0 else 0x80) | (0x10 if r else 0x20)
                if rng.random() < 0.05:
                    a.flag |= rng.choice([0x400, 0x200, 0x100, 0x800])
                a.mapping_quality = rng.choice([0, 10, 30, 60])
                a.next_reference_id = tid
                a.next_reference_start = mate if r == 0 else pos
                records.append(a)
        for a in sorted(records, key=lambda x: (x.reference_id, x.reference_start)):
            out.write(a)
    pysam.sort("-o", str(path), str(path) + ".tmp.bam")
    pysam.index(str(path))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("depth")
    files = make_alignment_files(d, n_pairs=1500)
    ovl = _overlap_bam(d / "ovl.bam")
    bed = d / "t.bed"
    bed.write_text("chr1\t1000\t3000\nchr1\t2500\t4000\nchr2\t100\t900\n# c\nchr2\t5000\n")
    return files, ovl, bed


CASES = [
    "", "-a", "-aa", "-J", "-q 20", "-s", "-s -q 25", "-J -q 30", "-Q 30", "-l 80",
    "-g DUP", "-g 0x400,0x200", "-G SUPPLEMENTARY", "--incl-flags READ1",
    "--require-flags PAIRED,READ2", "-r chr1:1000-5000", "-a -r chr2", "-aa -r chr2:10-200",
    "-r chrEmpty -a", "-b BED", "-a -b BED", "-H",
]


@pytest.mark.parametrize("opts", CASES)
def test_bam_matches_samtools(data, opts):
    files, ovl, bed = data
    args = [a if a != "BED" else str(bed) for a in opts.split()]
    for path in (files.bam, ovl):
        if "chr" in opts and path == ovl:
            continue
        expected = pysam.samtools.depth(*args, str(path))
        got = _gfcli(*args, str(path))
        assert got.returncode == 0, got.stderr
        assert got.stdout == expected


@pytest.mark.parametrize("opts", ["", "-a -J", "-s -q 20", "-r chr1:2000-9000 -Q 10"])
def test_sam_cram_unindexed_and_columns(data, opts):
    files, _, _ = data
    args = opts.split()
    expected = pysam.samtools.depth(*args, str(files.bam))
    for path in (files.sam, files.cram, files.bam_noindex, files.bam_csi):
        if "-r" in opts and path in (files.sam, files.bam_noindex):
            continue
        got = _gfcli(*args, "--reference", str(files.fasta), str(path))
        assert got.returncode == 0, got.stderr
        assert got.stdout == expected, path
    two = pysam.samtools.depth(*args, "-H", str(files.bam), str(files.bam_csi))
    assert _gfcli(*args, "-H", str(files.bam), str(files.bam_csi)).stdout == two


def test_threads_identical_and_output_file(data, tmp_path):
    files, ovl, _ = data
    one = _gfcli("-@", "1", "-a", str(files.bam)).stdout
    out = tmp_path / "d.txt"
    assert _gfcli("-@", "2", "-a", "-o", str(out), str(files.bam)).returncode == 0
    assert out.read_text() == one


def test_stdin(data):
    files, _, _ = data
    with open(files.bam, "rb") as handle:
        got = subprocess.run([sys.executable, "-m", "gfcli", "depth", "-"], stdin=handle,
                             capture_output=True, text=True)
    assert got.stdout == pysam.samtools.depth(str(files.bam))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tinybam")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--profile",
                    "tiny", "--out", str(out), "--exact-dir", "-q", "--parts", "ref,bam",
                    "--coverage", "12"], check=True)
    return out / "reads.bam"


def _read(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as handle:
            return handle.read()
    return path.read_text()


@pytest.mark.skipif(MOSDEPTH is None, reason="mosdepth not installed")
@pytest.mark.parametrize("opts", [
    ("--by 500 --thresholds 1,5,10 --quantize 0:1:5:150:", "--by 500 -T 1,5,10 -q 0:1:5:150:"),
    ("-n --by BED --median", "-n --by BED -m"),
    ("-Q 20 --by 700", "-Q 20 --by 700"),
    ("--fast-mode -n --by 1000", "-x -n --by 1000"),
    ("-@ 2 -g DUP", "-F 772"),
])
def test_summaries_match_mosdepth(tiny, tmp_path, opts):
    bed = tmp_path / "r.bed"
    contigs = [s["SN"] for s in pysam.AlignmentFile(str(tiny)).header.to_dict()["SQ"]]
    bed.write_text(f"{contigs[0]}\t100\t5000\tgeneA\n{contigs[0]}\t7000\t9000\n"
                   f"{contigs[1]}\t10\t20000\tx\n")
    ours, theirs = (o.replace("BED", str(bed)) for o in opts)
    subprocess.run([MOSDEPTH, *theirs.split(), str(tmp_path / "m"), str(tiny)], check=True)
    got = _gfcli("--prefix", str(tmp_path / "g"), *ours.split(), str(tiny))
    assert got.returncode == 0, got.stderr
    produced = sorted(p.name[2:] for p in tmp_path.glob("m.*") if not p.name.endswith(".csi"))
    assert produced == sorted(p.name[2:] for p in tmp_path.glob("g.*"))
    for name in produced:
        assert _read(tmp_path / f"g.{name}") == _read(tmp_path / f"m.{name}"), name


def test_summary_overlap_bam_matches_mosdepth(data, tmp_path):
    if MOSDEPTH is None:
        pytest.skip("mosdepth not installed")
    _, ovl, _ = data
    subprocess.run([MOSDEPTH, "--by", "100", str(tmp_path / "m"), str(ovl)], check=True)
    assert _gfcli("--prefix", str(tmp_path / "g"), "--by", "100", str(ovl)).returncode == 0
    for name in ("mosdepth.summary.txt", "mosdepth.global.dist.txt", "per-base.bed.gz",
                 "regions.bed.gz"):
        assert _read(tmp_path / f"g.{name}") == _read(tmp_path / f"m.{name}"), name


def test_usage_errors(data):
    files, _, _ = data
    assert _gfcli("--by", "500", str(files.bam)).returncode == 2
    assert _gfcli("-r", "nochr:1-5", str(files.bam)).returncode != 0
