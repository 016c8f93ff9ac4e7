"""`gfcli validate` as users run it: valid files from pysam/bcftools/samtools pass, exit
codes, the report format, --max-errors, --summary, -O json, --ignore, --strict, stdin, -@."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pysam
import pytest
from test_validate_rules import FASTQ, bam, bam_record, rec, sam, vcf

from gfcli.cli import main
from gfcli.engine.validate.run import check_files

LINE = re.compile(r"^(?P<file>[^:]+)(:(?P<line>\d+))?: (error|warning): [a-z]+\.[a-z0-9-]+: ")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """The CLI in-process (validate reads no input through htslib here but BCF/CRAM)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


# --------------------------------------------------------------------------- valid inputs


@pytest.fixture(scope="module")
def valid_variants(tmp_path_factory) -> dict[str, Path]:
    """VCF written by pysam, then bgzipped/indexed and converted to BCF by htslib."""
    from pysam import bcftools

    tmp = tmp_path_factory.mktemp("variants")
    header = pysam.VariantHeader()
    for line in (
        "##contig=<ID=chr1,length=100000>", "##contig=<ID=chrX,length=50000>",
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">',
        '##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">',
        '##INFO=<ID=NOTE,Number=.,Type=String,Description="Notes">',
        '##ALT=<ID=DEL,Description="Deletion">',
        '##FILTER=<ID=q10,Description="Low quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">',
        '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Likelihoods">',
        '##FORMAT=<ID=GQ,Number=1,Type=Float,Description="Quality">',
    ):
        header.add_line(line)
    for name in ("NA1", "NA2", "NA3"):
        header.add_sample(name)
    path = tmp / "calls.vcf"
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for i in range(60):
            chrom = "chr1" if i < 40 else "chrX"
            kind = i % 5
            alleles = {0: ("A", "C"), 1: ("G", "T", "GA"), 2: ("ACGT", "A"),
                       3: ("C", "<DEL>"), 4: ("T", "C")}[kind]
            record = out.new_record(contig=chrom, start=1000 + 50 * i, alleles=alleles,
                                    qual=None if kind == 4 else 12.5 * (i + 1),
                                    filter="PASS" if i % 3 else "q10")
            record.info["DP"] = 10 + i
            record.info["AF"] = tuple(0.25 for _ in alleles[1:])
            if kind == 3:
                record.stop = 1000 + 50 * i + 40
                record.info["SVTYPE"] = "DEL"
            if i % 4 == 0:
                record.info["DB"] = True
                record.info["NOTE"] = ("a", "b")
            n = len(alleles)
            for j, sample in enumerate(record.samples.values()):
                haploid = chrom == "chrX" and j == 2
                sample["GT"] = (j % n,) if haploid else ((0, j % n) if j else (None, None))
                sample.phased = i % 2 == 0 and not haploid
                sample["AD"] = tuple(range(n))
                sample["PL"] = tuple(range(n if haploid else n * (n + 1) // 2))
                if j != 1:
                    sample["GQ"] = 30.0
            out.write(record)
    gz = tmp / "calls.vcf.gz"
    bcftools.view("-Oz", "-o", str(gz), str(path), catch_stdout=False)
    bcftools.index("-t", str(gz), catch_stdout=False)
    bcf = tmp / "calls.bcf"
    bcftools.view("-Ob", "-o", str(bcf), str(path), catch_stdout=False)
    bcftools.index(str(bcf), catch_stdout=False)
    csi = tmp / "calls_csi.vcf.gz"
    bcftools.view("-Oz", "--write-index", "-o", str(csi), str(path), catch_stdout=False)
    return {"vcf": path, "vcf.gz": gz, "bcf": bcf, "csi": csi}


@pytest.fixture(scope="module")
def valid_alignments(tmp_path_factory) -> dict[str, Path]:
    from alignment_data import make_alignment_files

    tmp = tmp_path_factory.mktemp("alignments")
    files = make_alignment_files(tmp, n_pairs=150)
    byname = tmp / "byname.bam"
    pysam.sort("-n", "-o", str(byname), str(files.bam), catch_stdout=False)
    fastq = tmp / "reads.fq"
    pysam.fastq("-o", str(fastq), str(files.bam_noindex), catch_stdout=False)
    return {"bam": files.bam, "bam_csi": files.bam_csi, "sam": files.sam, "cram": files.cram,
            "empty": files.empty_bam, "byname": byname, "fastq": fastq, "fasta": files.fasta}


@pytest.mark.parametrize("kind", ["vcf", "vcf.gz", "bcf", "csi"])
def test_htslib_variant_files_are_valid(valid_variants, kind: str) -> None:
    report = check_files([str(valid_variants[kind])])[0]
    assert report.records == 60
    assert report.counts == {}, [p.format() for p in report.problems]


@pytest.mark.parametrize("kind", ["bam", "bam_csi", "sam", "cram", "empty", "byname", "fastq"])
def test_htslib_alignment_files_are_valid(valid_alignments, kind: str) -> None:
    report = check_files([str(valid_alignments[kind])], mates=kind != "fastq",
                         reference=str(valid_alignments["fasta"]))[0]
    assert report.errors == 0, [p.format() for p in report.problems]
    assert report.counts == {}, [p.format() for p in report.problems]


def test_reference_check_passes_on_matching_ref(tmp_path: Path) -> None:
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\n" + "A" * 1000 + "\n>chr2\n" + "A" * 500 + "\n")
    pysam.faidx(str(fasta))
    path = tmp_path / "in.vcf"
    path.write_bytes(vcf())
    report = check_files([str(path)], reference=str(fasta))[0]
    assert report.counts == {}


# --------------------------------------------------------------------------- reporting


def test_exit_codes_and_line_format(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.vcf"
    good.write_bytes(vcf())
    bad = tmp_path / "bad.vcf"
    bad.write_bytes(vcf(rec(POS="x"), rec(INFO="DP=y")))
    warn = tmp_path / "warn.vcf"
    warn.write_bytes(vcf().replace(b"\n", b"\r\n"))
    assert run(["validate", str(good)], capsys)[0] == 0
    code, out, err = run(["validate", str(bad)], capsys)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 2 and all(LINE.match(line) for line in lines), lines
    assert lines[0].startswith(f"{bad}:14: error: vcf.pos: ")
    assert run(["validate", str(warn)], capsys)[0] == 0
    assert run(["validate", "--strict", str(warn)], capsys)[0] == 1
    assert run(["validate", str(tmp_path / "absent.vcf")], capsys)[0] == 2
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x01\x02\x03 what is this\n")
    code, _, err = run(["validate", str(junk)], capsys)
    assert code == 2 and "input.format" in err
    code, _, err = run(["validate", "--format", "vcf", str(junk)], capsys)
    assert code == 1 and "vcf.fileformat" in err


def test_binary_locations_give_record_and_offset(tmp_path: Path, capsys) -> None:
    path = tmp_path / "in.bam"
    path.write_bytes(bam(bam_record(pos0=10), bam_record(pos0=20, cigar=((0, 9),))))
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 1
    assert re.match(rf"^{re.escape(str(path))}:2: error: sam.cigar-seq-length: .* \(byte \d+, "
                    r"BGZF block at 0\)$", err.strip()), err


def test_max_errors_caps_each_rule_then_counts(tmp_path: Path, capsys) -> None:
    path = tmp_path / "in.vcf"
    path.write_bytes(vcf(*[rec(POS=str(100 + i), INFO="DP=x") for i in range(10)]))
    code, _, err = run(["validate", "--max-errors", "3", str(path)], capsys)
    lines = err.splitlines()
    assert code == 1 and len(lines) == 4
    assert lines[-1] == f"{path}: error: vcf.info-type: 7 more not shown (10 in all)"
    code, _, err = run(["validate", "--max-errors", "0", str(path)], capsys)
    assert len(err.splitlines()) == 10


def test_summary_json_and_ignore(tmp_path: Path, capsys) -> None:
    path = tmp_path / "in.vcf"
    path.write_bytes(vcf(rec(INFO="DP=x"), rec(POS="200", FILTER="nope")))
    code, out, err = run(["validate", "--summary", "-q", str(path)], capsys)
    assert code == 1 and err == ""
    assert out.splitlines()[0] == f"{path}: INVALID (VCF, 2 records, 2 errors, 0 warnings)"
    assert "vcf.info-type" in out and "vcf.filter-undeclared" in out
    code, out, err = run(["validate", "-O", "json", "-q", str(path)], capsys)
    document = json.loads(out)
    assert document["valid"] is False
    (entry,) = document["files"]
    assert entry["records"] == 2 and entry["errors"] == 2
    assert entry["counts"]["vcf.info-type"] == {"severity": "error", "count": 1}
    assert {p["rule"] for p in entry["problems"]} == {"vcf.info-type", "vcf.filter-undeclared"}
    assert entry["problems"][0]["line"] == 14
    report = tmp_path / "report.json"
    code, out, _ = run(["validate", "-O", "json", "-o", str(report), "--ignore",
                        "vcf.info-*,vcf.filter-undeclared", str(path)], capsys)
    assert code == 0 and out == ""
    assert json.loads(report.read_text())["valid"] is True
    code, _, err = run(["validate", "--ignore", "vcf.no-such-rule", str(path)], capsys)
    assert code == 2 and "no such rule" in err


def test_list_rules(capsys) -> None:
    code, out, _ = run(["validate", "--list-rules"], capsys)
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines()]
    assert len(ids) >= 100 and ids == sorted(ids)
    for expected in ("vcf.info-type", "sam.cigar-seq-length", "fastq.qual-length",
                     "bgzf.missing-eof"):
        assert expected in ids


def test_paired_and_mates_options(tmp_path: Path, capsys) -> None:
    r1, r2 = tmp_path / "r1.fq", tmp_path / "r2.fq"
    r1.write_bytes(FASTQ)
    r2.write_bytes(FASTQ.replace(b"@r1\n", b"@r1/2\n").replace(b"@r2", b"@r9"))
    code, _, err = run(["validate", "--paired", str(r2), str(r1)], capsys)
    assert code == 1 and f"{r1}:5: error: fastq.pair-name" in err
    pairs = tmp_path / "pairs.sam"
    pairs.write_bytes(sam("p1\t99\tchr1\t100\t60\t4M\t=\t200\t104\tACGT\tIIII",
                          "p1\t147\tchr1\t200\t60\t4M\t=\t100\t-104\tACGT\tIIII"))
    assert run(["validate", "--mates", str(pairs)], capsys)[0] == 0


# --------------------------------------------------------------------------- subprocesses


def _cli(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gfcli", *args], input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_stdin_and_parallel_files(tmp_path: Path) -> None:
    bad = vcf(rec(INFO="DP=x"))
    result = _cli(["validate", "-"], stdin=bad)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("stdin:14: error: vcf.info-type")
    result = _cli(["validate", "-"], stdin=bam())
    assert result.returncode == 0, result.stderr
    paths = []
    for i, data in enumerate((bad, vcf(), sam(), FASTQ + b"@x\n")):
        path = tmp_path / f"f{i}.{'vcf' if i < 2 else 'sam' if i == 2 else 'fq'}"
        path.write_bytes(data)
        paths.append(str(path))
    serial = _cli(["validate", "--summary", *paths])
    parallel = _cli(["validate", "-@", "2", "--summary", *paths])
    assert serial.returncode == parallel.returncode == 1
    assert serial.stderr == parallel.stderr and serial.stdout == parallel.stdout


def test_help_has_examples_and_sections() -> None:
    result = _cli(["validate", "--help"])
    text = result.stdout.decode()
    assert result.returncode == 0
    for section in ("Input:", "Checks:", "Output:", "Examples:"):
        assert section in text


def test_tabix_index_without_contig_lines(tmp_path: Path) -> None:
    """Without ##contig lines the index names cannot be compared: no false inconsistency."""
    from test_validate_rules import VCF_META, bgzf

    path = tmp_path / "in.vcf.gz"
    meta = "".join(line + "\n" for line in VCF_META.splitlines() if "contig" not in line)
    path.write_bytes(bgzf(vcf(meta=meta)))
    pysam.tabix_index(str(path), preset="vcf", force=True)
    report = check_files([str(path)])[0]
    assert set(report.counts) == {"vcf.no-contigs"}, [p.format() for p in report.problems]
