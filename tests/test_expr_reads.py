"""Differential tests: gfcli's read expressions select exactly the reads that
`samtools view -e` selects, on a generated BAM with every flag class and tags of every type."""

from __future__ import annotations

import random

import pysam
import pytest

from gfcli.engine.expr import ExprError, compile_expr
from gfcli.engine.expr.from_pysam import read_batch

FLAGS = [0, 4, 16, 99, 147, 83, 163, 77, 141, 256, 272, 2048, 2064, 1024, 1040, 512, 97, 145,
         65, 129, 1123, 3171]
CIGARS = ["20M", "5S15M", "3H5S12M", "10M2I8M", "8M4D12M", "2S16M2S", "18M2H", "10M100N10M",
          "20M"]


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    rng = random.Random(11)
    path = str(tmp_path_factory.mktemp("expr") / "r.bam")
    header = {"HD": {"VN": "1.6", "SO": "unsorted"},
              "SQ": [{"SN": "chr1", "LN": 5000}, {"SN": "chr2", "LN": 5000}],
              "RG": [{"ID": "g1", "LB": "libA"}, {"ID": "g2", "LB": "libB"}, {"ID": "g3"}]}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for i in range(90):
            flag = FLAGS[i % len(FLAGS)]
            a = pysam.AlignedSegment()
            a.query_name = f"r{i:03d}" + ("_x" if i % 7 == 0 else "")
            a.flag = flag
            unmapped = bool(flag & 4)
            seq = "".join(rng.choice("ACGTN" if i % 5 == 0 else "ACGT") for _ in range(20))
            a.query_sequence = seq
            a.query_qualities = pysam.qualitystring_to_array(
                "".join(chr(33 + rng.randint(2, 40)) for _ in range(20)))
            if unmapped and i % 2:
                a.reference_id, a.reference_start = -1, -1
            else:
                a.reference_id, a.reference_start = rng.randint(0, 1), rng.randint(0, 4000)
            if not unmapped:
                cig = rng.choice(CIGARS)
                a.cigarstring = cig
                qlen = sum(int(n) for n, op in __import__("re").findall(r"(\d+)([MIS=X])", cig))
                a.query_sequence = seq[:qlen] if qlen <= 20 else seq + "A" * (qlen - 20)
                a.query_qualities = pysam.qualitystring_to_array("I" * len(a.query_sequence))
            a.mapping_quality = 0 if unmapped else rng.choice([0, 1, 20, 30, 37, 60, 255])
            if flag & 1:
                a.next_reference_id = rng.choice([-1, 0, 1])
                a.next_reference_start = rng.randint(0, 4000)
                a.template_length = rng.randint(-500, 500)
            tags = []
            if rng.random() < 0.7:
                tags.append(("NM", rng.randint(0, 5), "i"))
            if rng.random() < 0.5:
                tags.append(("AS", rng.randint(-20, 100), "i"))
            if rng.random() < 0.3:
                tags.append(("XS", rng.randint(0, 200), "C"))
            if rng.random() < 0.4:
                tags.append(("XF", rng.choice([0.0, 0.5, 1.5, -2.25]), "f"))
            if rng.random() < 0.5:
                tags.append(("RG", rng.choice(["g1", "g2", "g3"]), "Z"))
            if rng.random() < 0.4:
                tags.append(("XZ", rng.choice(["", "abc", "ABC", "a.b", "x"]), "Z"))
            if rng.random() < 0.3:
                tags.append(("XA", rng.choice("ABx"), "A"))
            if rng.random() < 0.2:
                tags.append(("XH", rng.choice(["1AE301", "FF"]), "H"))
            if rng.random() < 0.3:
                tags.append(("ZZ", 0, "i"))
            a.set_tags(tags)
            out.write(a)
    with pysam.AlignmentFile(path) as f:
        records = list(f.fetch(until_eof=True))
        batch = read_batch(records, f.header)
    return path, batch, [r.query_name for r in records]


def oracle(path: str, expr: str) -> list[str]:
    out = pysam.samtools.view("-e", expr, path)
    return sorted(ln.split("\t")[0] for ln in out.splitlines())


def ours(bam, expr: str) -> list[str]:
    _, batch, names = bam
    keep = compile_expr(expr, "reads").select(batch)
    return sorted(n for n, k in zip(names, keep, strict=True) if k)


EXPRESSIONS = [
    "flag", "flag & 4", "flag & 0x10", "!(flag & 4)", "flag == 99", "flag.paired",
    "flag.proper_pair", "flag.unmap", "!flag.unmap", "flag.munmap", "flag.reverse",
    "flag.mreverse", "flag.read1", "flag.read2", "flag.secondary", "flag.qcfail", "flag.dup",
    "flag.supplementary", "flag.paired && !flag.proper_pair", "flag.read1 || flag.read2",
    "flag.paired ^ flag.reverse", "~flag & 1", "flag & (16|32)", "(flag & 0x900) == 0",
    "mapq", "mapq >= 30", "mapq < 1", "mapq == 255", "mapq>=30 && !flag.dup",
    "mapq > 20 || flag.unmap", "pos > 2000", "pos <= 100", "endpos - pos > 30",
    "endpos > 3000", 'rname == "chr2"', 'rname != "chr1"', 'rname == "*"', "refid == 1",
    "mrefid == 0", 'rnext == "chr1"', 'mrname == "*"', "mpos > 2000", "pnext > 2000",
    "tlen > 100", "tlen < -100", "tlen == 0", "-tlen > 100", 'qname =~ "_x$"',
    'qname !~ "^r0"', 'qname == "r010"', 'qname > "r050"', "qlen > 18", "rlen > 20",
    "rlen == 0", "ncigar > 1", "sclen > 0", "sclen >= 4", "hclen > 0", 'cigar =~ "N"',
    'cigar == "*"', 'seq =~ "N"', 'seq =~ "^ACG"', "length(seq) < 20", "avg(qual) > 30",
    "min(qual) < 5", "max(qual) == 40", "library == \"libA\"", "library", "!library",
    'library != "libB"', "[NM]", "![NM]", "[NM] == 0", "[NM] != 1", "[NM] > 2",
    "[NM] >= 0 && [AS] > 50", "[NM] || [XS]", "[NM] && [XS]", "!([NM] && [XS])",
    "[AS] < 0", "[XS] > 100", "[XF] > 1", "[XF] == 0", "[XF] < 0", "[XF]", '[XZ] == "abc"',
    '[XZ] =~ "^a"', '[XZ] !~ "b"', '[XZ] == ""', "[XZ]", "![XZ]", '[XA] == "A"',
    '[XA] != "B"', '[RG] == "g2"', "[ZZ]", "[ZZ] == 0", "![ZZ]", "[XH]", '[XH] == "FF"',
    "default([NM], 9) > 4", "exists([XS])", "!exists([XS])", "sqrt(mapq) > 5",
    "log(mapq) > 3", "exp(mapq) > 100", "pow(mapq, 2) > 1000", "mapq % 7 == 2",
    "mapq / 2 > 10", "mapq * 2 - 1 > 70", "1 < 2 < 3", "3 > 2 > 1", "--5 == 5",
    "2 + 3 * 4 == 14", "(2 + 3) * 4 == 20", "10 - 3 - 2 == 5",
    "mapq > 5 && pos > 1000 || tlen < 0",
    "[NM] + 1 > 3", "[AS] - [NM] > 40", "[NM] == [XS]", "[NM] < [AS]",
    # glibc extended regexes: \d is a plain "d", \< a word start, stacked quantifiers group
    'qname =~ "r0+7"', 'qname =~ "^r0(0|1)"', 'qname =~ "\\d"', 'qname =~ "[\\d]"',
    'qname =~ "\\<r"', 'qname =~ "_x{1,2}$"', 'qname =~ "r0*7"', 'qname =~ "0**7"',
    'qname =~ "0{1}{2}"', 'qname =~ "[[:digit:]]{3}"', 'qname =~ "x|y"', '[XZ] =~ "a.b"',
    '[XZ] =~ "a\\.b"', 'qname !~ "[[:alpha:]]_"', 'qname =~ "0*?1"',
]

REJECTED = [
    "flag.duplicate", "mapq = 60", "(mapq > 5", "mapq > 5)", "mapqx > 1", "qname + 1",
    "length(mapq)", "[NMX] == 1", "foo(mapq)", "mapq >", "qname =~ 5",
    'qname =~ "a{2"', 'qname =~ "r$*"', 'qname =~ "[[:foo:]]"', 'qname =~ "(?:r)"',
    'qname =~ "*a"', 'qname =~ "["', 'qname =~ "r{2,1}"', 'qname =~ "(r"', 'qname =~ "+r"',
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_matches_samtools(bam, expr):
    assert ours(bam, expr) == oracle(bam[0], expr)


@pytest.mark.parametrize("expr", REJECTED)
def test_rejected_like_samtools(bam, expr):
    with pytest.raises(pysam.utils.SamtoolsError):
        oracle(bam[0], expr)
    with pytest.raises(ExprError):
        compile_expr(expr, "reads").select(bam[1])


def test_string_arithmetic_fails_at_evaluation(bam):
    with pytest.raises(pysam.utils.SamtoolsError):
        oracle(bam[0], "[XZ] + 1 > 0")
    with pytest.raises(ExprError):
        compile_expr("[XZ] + 1 > 0", "reads").select(bam[1])


def test_enough_differential_expressions():
    assert len(set(EXPRESSIONS)) >= 50
