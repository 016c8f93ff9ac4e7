"""`gfcli filter` on SAM/BAM/CRAM, differential against `samtools view -e` (pysam's 1.24).

Every case runs the real command (`gfcli.cli.main`, in this process) and compares its
output with samtools': SAM text byte for byte, BAM after decompression, -U rejects,
-c counts. The expressions are those of the read-expression suite (every flag class,
tags of every type, missing values), on an unindexed BAM (streamed) and on an indexed,
sorted one cut into many chunks.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pysam
import pytest

from gfcli.cli import main
from tests.alignment_data import make_alignment_files
from tests.test_expr_reads import EXPRESSIONS, REJECTED
from tests.test_expr_reads import bam as expr_bam  # noqa: F401 (fixture)

SMALL_CHUNKS = 20000


def run(args: list[str]) -> int:
    try:
        main(["filter", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def gfcli(tmp: Path, *args: str, name: str = "ours.out") -> bytes:
    out = tmp / name
    code = run(["--no-version", "-o", str(out), *args])
    assert code == 0, f"gfcli filter {args} exited {code}"
    return read(out)


def samtools(tmp: Path, *args: str, name: str = "theirs.out") -> bytes:
    out = tmp / name
    pysam.samtools.view("--no-PG", "-o", str(out), *args, catch_stdout=False)
    return read(out)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_alignment_files(tmp_path_factory.mktemp("faln"), n_pairs=500)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    from gfcli.engine import chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", SMALL_CHUNKS)


# --------------------------------------------------------------------------- expressions


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_expression_like_samtools(expr_bam, tmp_path, expr):  # noqa: F811
    path = expr_bam[0]
    assert gfcli(tmp_path, "-i", expr, path) == samtools(tmp_path, "-e", expr, path)


SORTED_EXPRESSIONS = [
    "mapq>=30 && !flag.dup", "flag.read1 && tlen > 0", "[NM] > 2", '[MD] =~ "A1"',
    "sclen > 0 || hclen > 0", "endpos - pos > 100", '[XA] == "C"', "[Xi] < 0",
    "[Xf] > 1", '[XH] == "1AE301"', 'rname == "chr2" && pos > 20000',
    'rname == "HLA:A*01:01"', "rnext != rname", "!flag.unmap && mapq < 10",
    'qname =~ "7$"', "length(seq) > 90", "avg(qual) > 25", 'library == ""',
    "qlen != rlen", "ncigar >= 3", "[AS]", "flag.secondary || flag.supplementary",
    'cigar =~ "N"', '[SA] =~ "chr1"', "pos < 1000 || pos > 100000",
]


@pytest.mark.parametrize("expr", SORTED_EXPRESSIONS)
def test_sorted_bam_chunks_like_samtools(data, tmp_path, expr):
    assert gfcli(tmp_path, "-i", expr, str(data.bam)) == samtools(tmp_path, "-e", expr,
                                                                 str(data.bam))


def test_enough_read_expressions():
    assert len(set(EXPRESSIONS) | set(SORTED_EXPRESSIONS)) >= 50


@pytest.mark.parametrize("expr", REJECTED)
def test_rejected_expressions(expr_bam, tmp_path, capsys, expr):  # noqa: F811
    assert run(["-i", expr, "-o", str(tmp_path / "x.sam"), expr_bam[0]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") >= 1 and "Traceback" not in err


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("expr", ["mapq>=30 && !flag.dup", "[NM] >= 3 && seq =~ \"AC\""])
def test_bam_output_and_rejects(data, tmp_path, expr):
    ours = gfcli(tmp_path, "-i", expr, "-U", str(tmp_path / "our_rej.bam"), "-O", "bam",
                 str(data.bam))
    theirs = samtools(tmp_path, "-b", "-e", expr, "-U", str(tmp_path / "their_rej.bam"),
                      str(data.bam))
    assert ours == theirs
    assert read(tmp_path / "our_rej.bam") == read(tmp_path / "their_rej.bam")


def test_sam_rejects_and_count(data, tmp_path):
    expr = "[NM] > 2 || flag.reverse"
    ours = gfcli(tmp_path, "-i", expr, "-U", str(tmp_path / "our_rej.sam"), str(data.bam))
    theirs = samtools(tmp_path, "-e", expr, "-U", str(tmp_path / "their_rej.sam"),
                      str(data.bam))
    assert ours == theirs
    assert read(tmp_path / "our_rej.sam") == read(tmp_path / "their_rej.sam")
    lines = theirs.count(b"\n")
    assert gfcli(tmp_path, "-c", "-i", expr, str(data.bam)) == f"{lines}\n".encode()


def test_exclude_is_the_samtools_rejects(data, tmp_path):
    # -e EXPR: what `samtools view -e EXPR -U` rejects (null values count as not true).
    for expr in ("[XA] == \"A\"", "mapq > 30", "[Xf] > 0"):
        samtools(tmp_path, "-e", expr, "-U", str(tmp_path / "rej.sam"), str(data.bam))
        assert gfcli(tmp_path, "-e", expr, str(data.bam)) == read(tmp_path / "rej.sam")


@pytest.mark.parametrize("flags", [["-f", "0x2"], ["-F", "0x904"], ["-q", "30"],
                                   ["-f", "PAIRED,READ2", "-F", "DUP", "-q", "5"]])
def test_flag_options_like_samtools(data, tmp_path, flags):
    sam_flags = [f if not f[0].isalpha() else ",".join(
        {"PAIRED": "0x1", "READ2": "0x80", "DUP": "0x400"}[x] for x in f.split(","))
        for f in flags]
    sam_flags = [f if "," not in f else hex(sum(int(x, 16) for x in f.split(",")))
                 for f in sam_flags]
    assert gfcli(tmp_path, *flags, str(data.bam)) == samtools(tmp_path, *sam_flags,
                                                              str(data.bam))
    expr = "[NM] > 1"
    assert gfcli(tmp_path, *flags, "-i", expr, str(data.bam)) == samtools(
        tmp_path, *sam_flags, "-e", expr, str(data.bam))


def test_threads_identical(data, tmp_path):
    expr = "mapq >= 20 && [NM] < 4"
    outs = {}
    for threads in ("1", "4"):
        for kind in ("sam", "bam"):
            outs[threads, kind] = (tmp_path / f"o{threads}.{kind}")
            rej = tmp_path / f"r{threads}.{kind}"
            assert run(["--no-version", "-@", threads, "-i", expr, "-U", str(rej), "-O", kind,
                        "-o", str(outs[threads, kind]), str(data.bam)]) == 0
    for kind in ("sam", "bam"):
        assert (tmp_path / f"o1.{kind}").read_bytes() == (tmp_path / f"o4.{kind}").read_bytes()
        assert (tmp_path / f"r1.{kind}").read_bytes() == (tmp_path / f"r4.{kind}").read_bytes()
    assert read(tmp_path / "o1.sam") == samtools(tmp_path, "-e", expr, str(data.bam))


# --------------------------------------------------------------------------- other inputs


@pytest.mark.parametrize("which", ["sam", "cram", "bam_noindex"])
def test_other_inputs(data, tmp_path, which):
    path = str(getattr(data, which))
    for expr in ("mapq>=30 && !flag.dup", "[NM] > 2 && qlen > 50", "avg(qual) > 100"):
        assert gfcli(tmp_path, "--reference", str(data.fasta), "-i", expr, path) == samtools(
            tmp_path, "-T", str(data.fasta), "-e", expr, path)


def test_cram_count_without_reference(data, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    shutil.copy(data.fasta, gone / "ref.fa")
    cram = tmp_path / "noref.cram"
    pysam.samtools.view("--no-PG", "-C", "-T", str(gone / "ref.fa"), "-o", str(cram),
                        str(data.bam), catch_stdout=False)
    pysam.index(str(cram))
    shutil.rmtree(gone)
    for args in (["-i", "flag.read1 && !flag.dup"], ["-F", "0x10"],
                 ["-i", "mapq > 20 && rname == \"chr1\""]):
        sam_args = ["-F", "0x10"] if args[0] == "-F" else ["-e", args[1]]
        expected = pysam.samtools.view("-c", *sam_args, str(data.bam))
        assert gfcli(tmp_path, "-c", *args, str(cram)).decode() == expected


def test_region_pushdown_and_explain(data, tmp_path, capsys):
    expr = 'rname == "chr2" && pos >= 10000 && pos <= 40000 && mapq > 10'
    assert gfcli(tmp_path, "-i", expr, str(data.bam)) == samtools(tmp_path, "-e", expr,
                                                                 str(data.bam))
    assert run(["--explain", "-i", expr, "-F", "0x400", str(data.bam)]) == 0
    text = capsys.readouterr().out
    for stage in ("1. region pushdown: index seek: chr2:10000-40000", "2. raw prefilters",
                  "-F 0x400", "3. projection", "4. batch evaluation"):
        assert stage in text, text
    assert run(["--explain", "-i", "[NM] > 1 && mapq > 5", str(data.bam)]) == 0
    text = capsys.readouterr().out
    assert "mapq>5" in text.replace(" ", "") and "[NM]" in text.split("4. batch")[1]
