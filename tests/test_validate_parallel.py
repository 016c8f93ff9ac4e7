"""`gfcli validate -@ N` on one file: a BGZF VCF or an indexed BAM is cut into chunks, and
the report equals the single pass exactly (problems, their order, line numbers and byte
offsets, --max-errors counts, summary, JSON), also where the checks cross chunk boundaries:
sortedness, contiguity, ploidy, CR LF reported once, the reference's missing contigs,
SO:queryname order and --mates pairs. Chunks are forced small so that small files have many.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from gfcli.engine import chunks as chunks_mod
from gfcli.engine.bgzf import EOF_BLOCK, compress_block
from gfcli.engine.validate import parallel
from gfcli.engine.validate.reporter import Reporter
from gfcli.engine.validate.run import _Options, check_files

CHUNK = 4096  # compressed bytes per chunk in these tests


def _vcf_text(seed: int, n: int = 3000) -> bytes:
    """A VCF with problems spread through it, many of them crossing chunk boundaries."""
    rng = random.Random(seed)
    meta = (
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=900000>\n"
        "##contig=<ID=chr2,length=900000>\n##contig=<ID=chr3,length=900000>\n"
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="d">\n'
        '##INFO=<ID=AF,Number=A,Type=Float,Description="f">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\n'
        '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="p">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
    )
    lines = []
    chroms = ["chr1"] * (n // 3) + ["chr2"] * (n // 3) + ["chr1"] * 50 + ["chr3"] * (n // 3)
    pos = 0
    prev = None
    for i, chrom in enumerate(chroms):
        if chrom != prev:
            pos, prev = 0, chrom
        pos += rng.randint(1, 90)
        shown = pos - 500 if rng.random() < 0.01 else pos  # unsorted, now and then
        gt1 = rng.choice(["0/1", "1|1", "0/0", "./.", "."] + (["1"] if rng.random() < 0.01 else []))
        pl = ",".join(str(rng.randint(0, 99)) for _ in range(3 if "/" in gt1 or "|" in gt1 else 2))
        info = f"DP={rng.randint(0, 300)};AF=0.{rng.randint(0, 99)}"
        if rng.random() < 0.003:
            info += ";XX=1"  # undeclared
        line = (f"{chrom}\t{shown}\trs{i}\tA\tG\t{rng.randint(1, 99)}\tPASS\t{info}\tGT:PL\t"
                f"{gt1}:{pl}\t0/1:1,2,3")
        if i == 2000:
            line += "\r"  # the first CR LF comes late, in a later chunk
        elif i > 2000 and rng.random() < 0.01:
            line += "\r"
        if rng.random() < 0.002:
            line = line.replace("\t", " ", 1)
        lines.append(line)
    return (meta + "\n".join(lines) + "\n").encode()


def _bgzf(data: bytes) -> bytes:
    """Small blocks (4 KB), so that a small file has many places to cut."""
    return b"".join(compress_block(data[i : i + 4096]) for i in range(0, len(data), 4096)) + (
        EOF_BLOCK)


def _bam(path: Path, seed: int, n: int = 5000, order: str = "queryname") -> None:
    """A coordinate-ordered BAM (so it can be indexed) whose header claims another order,
    with pairs split across chunks, mismatched mates and other record problems."""
    rng = random.Random(seed)
    header = {"HD": {"VN": "1.6", "SO": order},
              "SQ": [{"SN": "chr1", "LN": 500000}, {"SN": "chr2", "LN": 500000}]}
    unsorted = path.with_suffix(".tmp.bam")
    reads = []
    bases = "".join(rng.choice("ACGT") for _ in range(1100))
    for i in range(n // 2):
        ref = 0 if i < n // 4 else 1
        start = rng.randint(0, 400000)
        gap = rng.randint(50, 30000)  # mates far apart: in other chunks
        for mate in (0, 1):
            reads.append((ref, start + mate * gap, i, mate, gap))
    with pysam.AlignmentFile(str(unsorted), "wb", header=header) as out:
        for ref, pos, i, mate, gap in sorted(reads):
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = f"q{i:05d}" if rng.random() > 0.2 else f"q{rng.randint(0, 99999)}"
            seg.flag = 0x1 | 0x2 | (0x40 if mate == 0 else 0x80) | (0x20 if mate == 0 else 0x10)
            if rng.random() < 0.01:
                seg.flag ^= 0x20  # mate strand disagrees
            seg.reference_id = ref
            seg.reference_start = pos
            seg.mapping_quality = 60
            seg.cigarstring = "50M"
            seg.query_sequence = "ACGT"[i % 4] * 10 + bases[(i * 7) % 1000 :][:40]
            seg.query_qualities = pysam.qualitystring_to_array("I" * 50)
            seg.next_reference_id = ref
            seg.next_reference_start = pos + gap if mate == 0 else pos - gap
            seg.template_length = (gap + 50) * (1 if mate == 0 else -1)
            if rng.random() < 0.005:
                seg.template_length += 1
            if rng.random() < 0.004:
                seg.set_tag("XZ", "bad\ttab")
            out.write(seg)
    os.replace(unsorted, path)
    pysam.index(str(path))


def _serial(path: Path, **options: object) -> tuple[str, list[dict]]:
    stream = io.StringIO()
    reports = check_files([str(path)], stream=stream, **options)  # type: ignore[arg-type]
    return stream.getvalue(), [r.as_dict() for r in reports]


def _chunked(path: Path, max_errors: int = 100, mates: bool = False,
             reference: str | None = None) -> tuple[str, list[dict], int]:
    """The chunked path run in this process (the chunks in order, as -@ N merges them)."""
    opts = _Options(None, reference, mates, None, 1 << 28)
    plan = parallel.plan_file(str(path), opts, max_errors, frozenset())
    assert plan is not None
    stream = io.StringIO()
    reporter = Reporter(stream, max_errors=max_errors)
    parallel.merge_file(plan, (task() for task in plan.tasks), reporter, opts)
    return stream.getvalue(), [r.as_dict() for r in reporter.files], len(plan.tasks)


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(chunks_mod, "TARGET_CHUNK_BYTES", CHUNK)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("chunks")
    vcf = tmp / "calls.vcf.gz"
    vcf.write_bytes(_bgzf(_vcf_text(1)))
    bam = tmp / "reads.bam"
    _bam(bam, 2)
    coord = tmp / "coord.bam"
    _bam(coord, 3, order="coordinate")
    ref = tmp / "ref.fa"  # chr1 and chr2 only: chr3 is missing
    ref.write_text(">chr1\n" + "A" * 900000 + "\n>chr2\n" + "G" * 900000 + "\n")
    pysam.faidx(str(ref))
    return {"vcf": vcf, "bam": bam, "coord": coord, "ref": ref}


@pytest.mark.parametrize(("max_errors", "reference"), [(100, False), (2, True), (0, False)])
def test_vcf_chunks_equal_one_pass(data: dict[str, Path], max_errors: int,
                                   reference: bool) -> None:
    ref = str(data["ref"]) if reference else None
    text, reports = _serial(data["vcf"], max_errors=max_errors, reference=ref)
    chunked, chunk_reports, n = _chunked(data["vcf"], max_errors, reference=ref)
    assert n >= 8
    for rule in ("vcf.unsorted", "vcf.chrom-not-contiguous", "vcf.gt-ploidy", "text.crlf",
                 "vcf.info-undeclared", "vcf.column-count") + (
                     ("vcf.ref-mismatch",) if reference else ()):
        assert rule in reports[0]["counts"], rule
    assert chunked == text
    assert chunk_reports == reports


@pytest.mark.parametrize(("name", "mates", "max_errors"),
                         [("bam", True, 100), ("bam", False, 2), ("coord", True, 0)])
def test_bam_chunks_equal_one_pass(data: dict[str, Path], name: str, mates: bool,
                                   max_errors: int) -> None:
    text, reports = _serial(data[name], mates=mates, max_errors=max_errors)
    chunked, chunk_reports, n = _chunked(data[name], max_errors, mates=mates)
    assert n >= 8
    if name == "bam":
        assert "sam.unsorted" in reports[0]["counts"]
    if mates:
        assert "sam.mate-mismatch" in reports[0]["counts"]
    assert chunked == text
    assert chunk_reports == reports


def test_damage_in_a_middle_chunk_stops_as_one_pass(data: dict[str, Path], tmp_path: Path,
                                                    monkeypatch) -> None:
    monkeypatch.setattr(chunks_mod, "TARGET_CHUNK_BYTES", 20000)
    scanned = parallel._scan_blocks(str(data["vcf"]))
    assert scanned is not None
    addresses = sorted(scanned[0])
    plan = parallel.plan_file(str(data["vcf"]), _Options(None, None, False, None, 1 << 28),
                              100, frozenset())
    assert plan is not None
    cuts = {task.start[0] for task in plan.tasks if task.start is not None}
    # A block inside the third chunk that the planner did not open (it opens cut blocks).
    third = sorted(cuts)[1]
    victim = next(a for a in addresses if a > third and a not in cuts)
    raw = bytearray(data["vcf"].read_bytes())
    raw[victim + 100] ^= 0x55  # inside the block's deflate data
    path = tmp_path / "damaged.vcf.gz"
    path.write_bytes(bytes(raw))
    text, reports = _serial(path)
    chunked, chunk_reports, _ = _chunked(path)
    assert reports[0]["counts"]["bgzf.corrupt-block"]["count"] == 1
    assert (chunked, chunk_reports) == (text, reports)


@pytest.mark.parametrize("name", ["vcf", "bam"])
def test_cut_inside_a_record_reads_on(data: dict[str, Path], name: str) -> None:
    """A cut that is not at a record start (a stale index): the chunk before it notices
    when a record crosses its end, reads on to the end of the file, and the rest is dropped."""
    opts = _Options(None, None, True, None, 1 << 28)
    plan = parallel.plan_file(str(data[name]), opts, 100, frozenset())
    assert plan is not None and len(plan.tasks) > 4
    moved = plan.tasks[3]
    assert moved.start is not None and plan.tasks[2].limit is not None
    plan.tasks[2] = dataclasses.replace(plan.tasks[2], limit=plan.tasks[2].limit + 7)
    plan.tasks[3] = dataclasses.replace(moved, start=(moved.start[0], moved.start[1] + 7))
    plan.bases[3] += 7
    results = [task() for task in plan.tasks]
    assert results[2].to_end and results[2].records > results[1].records
    stream = io.StringIO()
    reporter = Reporter(stream)
    parallel.merge_file(plan, results, reporter, opts)
    text, reports = _serial(data[name], mates=True)
    assert (stream.getvalue(), [r.as_dict() for r in reporter.files]) == (text, reports)


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GFCLI_CHUNK_BYTES=str(CHUNK))
    return subprocess.run([sys.executable, "-m", "gfcli", "validate", *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def test_cli_threads_equal_one_pass(data: dict[str, Path], tmp_path: Path) -> None:
    """`-@ 4` against `-@ 1` through the command: stderr, --summary and the JSON report."""
    args = ["--summary", "--max-errors", "7", "--mates", "-O", "json"]
    for threads in ("1", "4"):
        result = _cli([*args, "-o", str(tmp_path / f"{threads}.json"), "-@", threads,
                       str(data["vcf"]), str(data["bam"])])
        assert result.returncode == 1, result.stderr[-500:]
        (tmp_path / f"{threads}.txt").write_text(result.stdout + result.stderr)
    assert (tmp_path / "1.txt").read_text() == (tmp_path / "4.txt").read_text()
    one = json.loads((tmp_path / "1.json").read_text())
    four = json.loads((tmp_path / "4.json").read_text())
    assert one == four
    assert [f["records"] for f in one["files"]] == [3050, 5000]
