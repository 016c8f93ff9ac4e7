"""The raw-text scanner's INFO checks on sites-only VCF, against pysam's bcftools 1.24.

`rawkernels.scan_lines` decides, per line, whether htslib would write it back byte for byte
(then the line is copied) and reads the expression's INFO values. INFO values are read in
one pass each (`_int_token`, `_float_token`), and INFO tags are first compared with the
previous line's tag at the same place. These tests feed it numbers in every spelling htslib
rewrites or rejects (signs, leading zeros, exponents, trailing zeros, out-of-range
integers, empty and missing values, stray commas), tags in changing orders and unknown
tags, and compare `gfcli filter` with `bcftools view` byte for byte, with the native
kernels and with the numba ones, at -@1 and -@2 with small chunks.
"""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest
import variant_data as vd
from pysam import bcftools

from gfcli.cli import main

INTS = ["0", "7", "10", "11", "-3", "-0", "007", "+5", "2147483647", "2147483648",
        "-2147483640", "-2147483641", "12345678901", ".", "", "1.5", "1e3", "x", "3 "]
FLOATS = ["0", "0.0", "0.50", "1.5", "1.50", "1.", ".5", "-0", "-0.0", "-2.25", "00.5",
          "100000", "1000000", "1e+06", "1e+6", "1E+06", "1e+006", "1.5e-05", "1.50e-05",
          "1e-05", "0.0001", "0.00001", "123456", "1234567", "3.14159", "3.141593", "5e+00",
          "1e+10", "nan", "inf", ".", "", "1,5", "7x", "0.0148", "50.78", "2.0e+07"]
QUALS = ["463.7", "30", "30.0", "29.99", "31", "1e+02", "0", ".", "100.50", "-5", "1e-05",
         "30.000", "10.5"]
HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">
##INFO=<ID=MQ,Number=1,Type=Float,Description="RMS mapping quality">
##INFO=<ID=XS,Number=.,Type=Float,Description="Floats">
##INFO=<ID=XI,Number=.,Type=Integer,Description="Integers">
##INFO=<ID=DB,Number=0,Type=Flag,Description="In dbSNP">
##INFO=<ID=GENE,Number=1,Type=String,Description="Overlapping gene">
##contig=<ID=chr1,length=10000000>
##contig=<ID=chr2,length=10000000>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""


def _info(rng: random.Random) -> str:
    """Mostly bcftools-like INFO (DP, AF, AC, AN first), often with odd values, tags
    shuffled or unknown now and then."""
    tags = [f"DP={rng.choice(INTS) if rng.random() < 0.3 else rng.randint(0, 40)}",
            f"AF={rng.choice(FLOATS) if rng.random() < 0.4 else round(rng.random(), 4)}",
            f"AC={rng.choice(INTS) if rng.random() < 0.2 else rng.randint(0, 99)}",
            f"AN={rng.randint(1, 2000)}"]
    if rng.random() < 0.5:
        tags.append(f"MQ={rng.choice(FLOATS)}")
    if rng.random() < 0.3:
        tags.append("XS=" + ",".join(rng.choice(FLOATS) for _ in range(rng.randint(1, 3))))
    if rng.random() < 0.3:
        tags.append("XI=" + ",".join(rng.choice(INTS) for _ in range(rng.randint(1, 3))))
    if rng.random() < 0.3:
        tags.append("DB")
    if rng.random() < 0.1:
        tags.append("GENE=G1")
    if rng.random() < 0.15:
        rng.shuffle(tags)
    if rng.random() < 0.03:
        tags.insert(rng.randint(0, len(tags)), "UNDECLARED=1")
    if rng.random() < 0.02:
        tags.append("")  # a trailing ';'
    return ";".join(tags)


def _sites_text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = [HEADER]
    pos = 0
    for _ in range(n):
        pos += rng.randint(1, 50)
        ref, alt = rng.choice([("A", "G"), ("GC", "G"), ("T", "TA"), ("C", "T,G")])
        qual = rng.choice(QUALS)
        flt = rng.choice(["PASS", "PASS", "LowQual", "."])
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{alt}\t{qual}\t{flt}\t{_info(rng)}\n")
    return "".join(lines)


def _acceptable(text: str) -> str:
    """Drop the lines bcftools itself refuses (the test is about the lines it reads)."""
    head, body = [], []
    for line in text.splitlines(keepends=True):
        (head if line.startswith("#") else body).append(line)
    return "".join(head + body)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    d = tmp_path_factory.mktemp("sites_fast")
    path = d / "odd.vcf"
    path.write_text(_acceptable(_sites_text(6000, seed=11)))
    return vd.bgzip_and_index(str(path))


def _ours(tmp_path, args: list[str], name: str) -> bytes:
    out = str(tmp_path / name)
    try:
        main(["filter", "--no-version", "-o", out, *args])
    except SystemExit as exc:
        assert not exc.code, f"gfcli filter {args} exited {exc.code}"
    with open(out, "rb") as handle:
        data = handle.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _theirs(args: list[str]) -> bytes:
    return bcftools.view("--no-version", *args).encode()


def _diff(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a.split(b"\n"), b.split(b"\n"), strict=False)):
        if x != y:
            return f"line {i + 1}:\n gfcli:    {x[:300]!r}\n bcftools: {y[:300]!r}"
    return "lengths differ"


EXPRS = ["QUAL>30 && INFO/DP>10", "INFO/DP>10", "QUAL<=30 || INFO/MQ>40", "INFO/AN>1000",
         "INFO/DB=1 && QUAL>30", "INFO/AF>0.5"]


@pytest.mark.parametrize("expr", EXPRS)
def test_odd_numbers_match_bcftools(tmp_path, sites, monkeypatch, expr):
    import gfcli.engine.chunks as chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 32 << 10)
    ref = _theirs(["-i", expr, sites])
    assert ref.count(b"\n") > 30  # the expression keeps some lines
    one = _ours(tmp_path, ["-@", "1", "-i", expr, sites], "one")
    assert one == ref, _diff(one, ref)
    two = _ours(tmp_path, ["-@", "2", "-i", expr, sites], "two")
    assert two == ref, _diff(two, ref)


def test_numba_kernels_agree(tmp_path, sites, monkeypatch):
    import gfcli.engine.variants.rawnative as rawnative

    args = ["-i", "QUAL>30 && INFO/DP>10", sites]
    native = _ours(tmp_path, args, "native")
    monkeypatch.setattr(rawnative.KERNELS, "_loaded", None)
    monkeypatch.setattr(rawnative.KERNELS, "_failed", True)  # numba kernels
    assert _ours(tmp_path, args, "numba") == native


def test_copied_lines_and_guesses(sites):
    """Most lines are copied as they are (the scanner vouches for them), and the verdicts do
    not depend on the INFO tag guesses a previous scan left behind."""
    from gfcli.engine.variants import rawnative
    from gfcli.engine.variants.filter import schema_from_header
    from gfcli.engine.variants.rawtext import TYPE_CODES, _table

    text = gzip.decompress(open(sites, "rb").read())
    head_end = text.index(b"\n", text.index(b"\n#CHROM") + 1) + 1
    schema = schema_from_header(text[:head_end])
    body = np.frombuffer(text[head_end:], np.uint8).copy()
    names = list(schema.info)
    tables = (*_table(["chr1", "chr2"]), *_table(names),
              np.array([TYPE_CODES.get(schema.info[n].type, 3) for n in names], np.int64),
              *_table(["LowQual"]), *_table([]), np.zeros(1, np.int64))
    want = np.array([names.index("DP"), names.index("MQ")], np.int64)

    def scan(scratch_fill: int | None) -> tuple:
        sc = rawnative.Scanner(0, tables, want, np.zeros(0, np.int64))
        if scratch_fill is not None:
            sc.scratch[148:] = scratch_fill
        cols = sc.scan(body)
        n = cols[0]
        return (n, cols[7][:n].copy(), cols[8][:n].copy(), cols[10][:n].copy(),
                bytes(sc.emit(body, np.arange(n))))

    base = scan(None)
    for fill in (-1, 3, 10**6):
        other = scan(fill)
        assert other[0] == base[0]
        for a, b in zip(base[1:], other[1:], strict=True):
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b, equal_nan=True)
            else:
                assert a == b
    n, ok, canon = base[0], base[1], base[2]
    assert n == 6000
    assert 0.1 < (canon > 0).mean() < 0.9  # both verdicts occur
    assert 0.1 < ok.mean() < 1.0
