"""The benchmark backbone: generated data is valid and deterministic, the runner plans its rows.

Nothing here is timed; `benchmarks/run.py` does the timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (benchmarks/run.py)


def _generate(out: Path) -> dict:
    subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), "--profile", "tiny", "--out", str(out),
         "--exact-dir", "-q"],
        check=True,
    )
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, _generate(out)


def test_every_file_and_index_is_there(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    for name in manifest["files"].values():
        assert (out / name).stat().st_size > 0, name
    for index in ("ref.fa.fai", "sites.vcf.gz.tbi", "cohort.vcf.gz.tbi", "sites.bcf.csi",
                  "cohort.bcf.csi", "reads.bam.bai", "truth.vcf.gz.tbi"):
        assert (out / index).exists(), index


def test_reference_matches_fai(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    fasta = pysam.FastaFile(str(out / "ref.fa"))
    assert list(fasta.references) == [name for name, _ in manifest["params"]["contigs"]]
    assert set(fasta.fetch("chr1", 0, 1000)) <= set("ACGT")


def test_cohort_vcf_has_the_awkward_cases(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    vcf = pysam.VariantFile(str(out / "cohort.vcf.gz"))
    assert len(vcf.header.samples) == manifest["params"]["samples"]
    records = list(vcf)
    assert len(records) == manifest["counts"]["cohort"]
    keys = [(r.contig, r.pos) for r in records]
    assert keys == sorted(keys, key=lambda k: (vcf.header.contigs[k[0]].id, k[1]))
    assert any(len(r.alts) > 1 for r in records)
    assert any(len(r.ref) != len(r.alts[0]) and not r.alts[0].startswith("<") for r in records)
    symbolic = [r for r in records if r.alts[0] == "<DEL>"]
    assert symbolic and all(r.stop - r.pos == -r.info["SVLEN"][0] for r in symbolic)  # END
    assert any(None in s["GT"] for r in records for s in r.samples.values())
    for r in records:
        assert r.info["AN"] == sum(a is not None for s in r.samples.values() for a in s["GT"])
        for s in r.samples.values():
            if s["GT"][0] is not None:
                assert len(s["AD"]) == len(r.alleles) and sum(s["AD"]) == s["DP"]


def test_indexes_answer_region_queries(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    region = manifest["regions"]["small"]
    contig, span = region.split(":")
    begin, end = (int(x) for x in span.split("-"))
    for name in ("cohort.vcf.gz", "cohort.bcf", "sites.vcf.gz", "sites.bcf"):
        fetched = list(pysam.VariantFile(str(out / name)).fetch(contig, begin - 1, end))
        assert fetched and all(r.contig == contig for r in fetched), name
    bam = pysam.AlignmentFile(str(out / "reads.bam"))
    assert bam.count(contig, begin - 1, end) > 0


def test_bam_is_sorted_with_every_kind_of_record(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    bam = pysam.AlignmentFile(str(out / "reads.bam"))
    assert bam.header["HD"]["SO"] == "coordinate"
    assert [rg["ID"] for rg in bam.header["RG"]] == ["rg1", "rg2"]
    reads = list(bam.fetch(until_eof=True))
    assert len(reads) == manifest["counts"]["bam_records"]
    placed = [(r.reference_id, r.reference_start) for r in reads if r.reference_id >= 0]
    assert placed == sorted(placed)
    tail = reads[len(placed):]
    assert tail and all(r.is_unmapped and r.reference_id == -1 for r in tail)
    assert any(r.is_unmapped and r.reference_id >= 0 for r in reads)  # placed with its mate
    for flag in ("is_secondary", "is_supplementary", "is_duplicate", "is_qcfail",
                 "is_proper_pair", "is_reverse"):
        assert any(getattr(r, flag) for r in reads), flag
    assert len({r.mapping_quality for r in reads}) > 5
    mapped = [r for r in reads if not r.is_unmapped and not r.is_secondary]
    assert all(r.has_tag("NM") and r.has_tag("MD") and r.has_tag("AS") for r in mapped)
    assert any("I" in r.cigarstring or "D" in r.cigarstring for r in mapped)


def test_md_and_nm_agree_with_the_reference(tiny: tuple[Path, dict]) -> None:
    out, _ = tiny
    fasta = pysam.FastaFile(str(out / "ref.fa"))
    bam = pysam.AlignmentFile(str(out / "reads.bam"))
    checked = 0
    for read in bam:
        if read.is_unmapped or read.is_secondary:
            continue
        ref = fasta.fetch(read.reference_name, read.reference_start, read.reference_end)
        pairs = read.get_aligned_pairs(with_seq=True)
        mismatches = sum(1 for q, r, base in pairs
                         if q is not None and r is not None and base.islower())
        inserted = sum(n for op, n in read.cigartuples if op == 1)
        deleted = sum(n for op, n in read.cigartuples if op == 2)
        assert read.get_tag("NM") == mismatches + inserted + deleted
        assert "".join(b.upper() for _, r, b in pairs if r is not None) == ref
        checked += 1
    assert checked > 100


def test_fastq_and_truth(tiny: tuple[Path, dict]) -> None:
    out, manifest = tiny
    with pysam.FastxFile(str(out / "reads.fastq.gz")) as fq:
        entries = list(fq)
    assert len(entries) == manifest["counts"]["bam_fastq_reads"]
    assert entries[0].name.endswith("/1") and entries[1].name.endswith("/2")
    assert all(len(e.sequence) == len(e.quality) == 150 for e in entries)
    truth = list(pysam.VariantFile(str(out / "truth.vcf.gz")))
    assert len(truth) == manifest["counts"]["truth"]
    assert any(len(r.ref) != len(r.alts[0]) for r in truth)


def test_generation_is_deterministic(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny
    again = tmp_path / "again"
    _generate(again)
    for name in ("ref.fa", "sites.vcf.gz", "cohort.vcf.gz", "cohort.bcf", "reads.bam",
                 "reads.fastq.gz", "truth.vcf.gz"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_runner_plans_every_row(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    out, manifest = tiny
    tools = run.reference_tools(run.TASKS, "system")
    gfcli = run.Tool("gfcli", ["gfcli"], "gfcli test", "test")
    planned = run.build_commands(manifest, out, tmp_path, gfcli, tools)
    assert [p.task.name for p in planned] == [t.name for t in run.TASKS]
    for plan in planned:
        assert not plan.missing, (plan.task.name, plan.missing)
        assert plan.reference is not None
        for arg in plan.gfcli + plan.reference:
            assert "{" not in arg, (plan.task.name, arg)
    only = run.build_commands(manifest, out, tmp_path, gfcli, tools, select=["BAM region"])
    assert [p.task.name for p in only] == ["view BAM region 10kb"]


def test_runner_reports_missing_data_and_formats_a_table(tmp_path: Path) -> None:
    gfcli = run.Tool("gfcli", ["gfcli"], "gfcli test", "test")
    planned = run.build_commands({"files": {}}, tmp_path, tmp_path, gfcli, {"samtools": None},
                                 tasks=[run._t("bam", "view {bam}", "samtools view {bam}")])
    assert set(planned[0].missing) == {"bam", "tool samtools"}
    result = run.Result("bam", [run.Run(2.0, 50.0, 0)], [run.Run(1.0, 10.0, 0)], 0.5, "",
                        ["gfcli"], ["samtools"])
    table = run.markdown([result], ["# header"])
    assert "| bam | 2.000 | 1.000 | 2.00 | 50 | 10 | target < 0.5 s ✗ |" in table
