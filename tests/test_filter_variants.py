"""`gfcli filter` on VCF/BCF against pysam's bcftools 1.24, through the real command.

Hard filtering is compared with `bcftools view -i/-e`, soft filtering with `bcftools filter -s
[-m]`, both with --no-version and byte for byte. Many expressions share each generated file
(the expression-language test's VCF, with missing values, multi-allelic and symbolic alleles,
Number=A/R/G/., flags, strings, haploid and phased genotypes) so the suite stays quick.
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import pysam
import pytest
import variant_data as vd
from pysam import bcftools
from test_expr_variants import EXPRESSIONS, REJECTED, make_vcf

from gfcli.cli import main


def run(args: list[str], capsys=None) -> int:
    try:
        main(["filter", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def ours(tmp_path, args: list[str], name: str = "gfcli.out") -> bytes:
    out = str(tmp_path / name)
    code = run(["--no-version", "-o", out, *args])
    assert code == 0, f"gfcli filter {args} exited {code}"
    with open(out, "rb") as handle:
        data = handle.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def theirs_view(args: list[str]) -> bytes:
    return bcftools.view("--no-version", *args).encode()


def theirs_filter(args: list[str]) -> bytes:
    return bcftools.filter("--no-version", *args).encode()


def diff(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a.split(b"\n"), b.split(b"\n"), strict=False)):
        if x != y:
            return f"line {i + 1}:\n gfcli:    {x[:300]!r}\n bcftools: {y[:300]!r}"
    return "lengths differ"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("filter")
    plain = d / "e.vcf"
    make_vcf(plain, n=160, seed=5)
    gz = vd.bgzip_and_index(str(plain))
    bcf = vd.to_bcf(str(plain), str(d / "e.bcf"))
    return {"vcf": str(plain), "gz": gz, "bcf": bcf}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("filter_big"))
    return vd.make_set(d, "big", n_records=3000, n_samples=12, seed=21)


# -----------------------------------------------------------------------------------------
# hard filtering: every expression of the language suite, -i on VCF text, a share on BCF/-e

# bcftools keeps the previous record's values for a per-sample function over a FORMAT tag that
# a record lacks (sMIN(FMT/AD)==0 is true on records without AD after one where it held);
# gfcli treats the tag as absent. This file has such records; the language suite's has not.
BCFTOOLS_STALE = {"sMIN(FMT/AD)==0"}


def _check_many(tmp_path, files, exprs, source, flag):
    bad = []
    for expr in exprs:
        if expr in BCFTOOLS_STALE:
            continue
        mine = ours(tmp_path, [flag, expr, files[source]])
        ref = theirs_view([flag, expr, files[source]])
        if mine != ref:
            bad.append(f"{flag} {expr!r} on {source}: {diff(mine, ref)}")
    assert not bad, "\n".join(bad)


CHUNKS = [EXPRESSIONS[i : i + 20] for i in range(0, len(EXPRESSIONS), 20)]


@pytest.mark.parametrize("exprs", CHUNKS, ids=[f"exprs{i * 20}" for i in range(len(CHUNKS))])
def test_include_gz(tmp_path, files, exprs):
    # BGZF VCF: the raw-text path (scanned columns, copied or edited lines, htslib for the rest)
    _check_many(tmp_path, files, exprs, "gz", "-i")


@pytest.mark.parametrize("source", ["bcf", "vcf"])
def test_include_bcf_and_vcf(tmp_path, files, source):
    _check_many(tmp_path, files, EXPRESSIONS[1::3], source, "-i")


@pytest.mark.parametrize("source", ["gz", "bcf"])
def test_exclude(tmp_path, files, source):
    _check_many(tmp_path, files, EXPRESSIONS[2::3], source, "-e")


def test_enough_expressions():
    assert len(set(EXPRESSIONS)) >= 150


# -----------------------------------------------------------------------------------------
# soft filtering

SOFT = [
    ("-i", "QUAL>30", []), ("-e", "QUAL<30", ["-m", "+"]), ("-e", "INFO/DP>10", ["-m", "x"]),
    ("-i", 'FMT/DP>20 & GT="het"', ["-m", "+x"]), ("-e", 'FILTER="q10"', ["-m", "+"]),
    ("-i", "N_ALT>1 || TYPE=\"indel\"", []), ("-e", "FMT/GQ<10", ["-m", "x"]),
]


@pytest.mark.parametrize("flag,expr,mode", SOFT)
@pytest.mark.parametrize("source", ["gz", "bcf"])
def test_soft_filter(tmp_path, files, flag, expr, mode, source):
    args = ["-s", "Flt", *mode, flag, expr, files[source]]
    mine = ours(tmp_path, args)
    ref = theirs_filter(args)
    assert mine == ref, diff(mine, ref)
    assert b'##FILTER=<ID=Flt,Description="Set if ' in mine


def test_soft_filter_bcf_output(tmp_path, files):
    args = ["-s", "LowQual", "-m", "+", "-e", "QUAL<30 || INFO/DP<5", "-Ob", files["gz"]]
    mine = ours(tmp_path, args, "o.bcf")
    ref_path = str(tmp_path / "ref.bcf")
    bcftools.filter("--no-version", "-o", ref_path, *args, catch_stdout=False)
    with open(ref_path, "rb") as handle:
        assert mine == gzip.decompress(handle.read())


# -----------------------------------------------------------------------------------------
# regions pushed to the index, threads, output types, counting


PUSHDOWN = [
    'CHROM="chr1" && POS>=200 && POS<=600', 'CHROM="chr2" && QUAL>10',
    '(CHROM="chr1" || CHROM="chr2") && POS>1000', 'CHROM="chr1" && POS==500',
    'CHROM="chr1" && POS>600 && POS<300', 'CHROM="chr1" && POS>=700 && FMT/DP>20',
]


@pytest.mark.parametrize("source", ["gz", "bcf"])
def test_region_pushdown(tmp_path, files, source):
    _check_many(tmp_path, files, PUSHDOWN, source, "-i")
    _check_many(tmp_path, files, PUSHDOWN[:3], source, "-e")


def test_pushdown_keeps_overlapping_deletions_out(tmp_path, big, capsys):
    # big has long deletions that overlap later positions: the index returns them, the
    # POS conjunct must still drop them.
    expr = 'CHROM="chr1" && POS>=200000 && POS<=400000'
    assert run(["--explain", "-i", expr, big["gz"]]) == 0
    assert "chr1:200000-400000 (index seek" in capsys.readouterr().out
    assert ours(tmp_path, ["-i", expr, big["gz"]]) == theirs_view(["-i", expr, big["gz"]])


@pytest.mark.parametrize("source", ["gz", "bcf"])
def test_threads_identical(tmp_path, big, monkeypatch, source):
    import gfcli.engine.chunks as chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 64 << 10)
    args = ["-i", 'QUAL>30 && INFO/DP>100 || FMT/DP>350 & GT="het"', big[source]]
    one = ours(tmp_path, ["-@", "1", *args], "t1")
    four = ours(tmp_path, ["-@", "4", *args], "t4")
    assert one == four
    assert one == theirs_view(args)
    soft = ["-s", "X", "-m", "+", *args]
    assert ours(tmp_path, ["-@", "1", *soft], "s1") == ours(tmp_path, ["-@", "4", *soft], "s4")


def test_targets_and_regions_with_expression(tmp_path, big):
    for extra in (["-r", "chr1:1-300000,chr3"], ["-t", "^chr2"]):
        args = [*extra, "-i", "FMT/XQ>90", big["gz"]]
        assert ours(tmp_path, args) == theirs_view(args)


def test_output_types(tmp_path, files):
    args = ["-i", "QUAL>=30 && FMT/DP>10", files["bcf"]]
    for otype, suffix in (("z", ".vcf.gz"), ("b", ".bcf"), ("u", ".bcf")):
        mine = ours(tmp_path, ["-O", otype, *args], "o" + suffix)
        ref = str(tmp_path / ("r" + suffix))
        bcftools.view("--no-version", "-O", otype, "-o", ref, *args, catch_stdout=False)
        with open(ref, "rb") as handle:
            assert mine == gzip.decompress(handle.read())


def test_count(tmp_path, files, capfd):
    assert run(["-c", "-i", "QUAL>30", files["vcf"]]) == 0
    n = int(capfd.readouterr().out)
    assert n == theirs_view(["-H", "-i", "QUAL>30", files["vcf"]]).count(b"\n")


def test_stdin_soft_filter(files):
    with open(files["gz"], "rb") as handle:
        raw = handle.read()
    args = ["-s", "Low", "-m", "+", "-e", "INFO/DP<10 || FMT/GQ<5"]
    result = subprocess.run([sys.executable, "-m", "gfcli", "filter", "--no-version", *args],
                            input=raw, capture_output=True, check=True)
    assert result.stdout == theirs_filter([*args, files["gz"]])


def test_no_expression_is_view(tmp_path, files):
    assert ours(tmp_path, [files["bcf"]]) == theirs_view([files["bcf"]])


# -----------------------------------------------------------------------------------------
# explain and errors


def test_explain_four_stages(files, capsys):
    expr = 'CHROM="chr1" && POS<500 && QUAL>30 && INFO/DP>10 && FMT/GQ>20'
    assert run(["--explain", "-i", expr, files["gz"]]) == 0
    text = capsys.readouterr().out
    assert "1. region pushdown: chr1:1-499 (index seek via e.vcf.gz.tbi)" in text
    assert "2. raw prefilters" in text and "QUAL>30    [QUAL]" in text
    assert "INFO/DP>10    [INFO/DP]" in text
    assert "3. projection: decode CHROM FMT/GQ INFO/DP POS QUAL" in text
    assert "4. batch evaluation" in text and "FMT/GQ>20" in text
    assert run(["--explain", "-i", expr, files["vcf"]]) == 0
    assert "no index" in capsys.readouterr().out
    assert run(["--explain", "-i", "QUAL>30 && INFO/DP>10", files["bcf"]]) == 0
    text = capsys.readouterr().out
    assert "FORMAT/genotypes not decoded" in text and "shared (site) block" in text
    assert "4. batch evaluation: (nothing left after prefilters)" in text


@pytest.mark.parametrize("expr", REJECTED)
def test_rejected_expressions(files, capfd, expr):
    with pytest.raises(pysam.utils.SamtoolsError):
        bcftools.view("-i", expr, files["vcf"])
    capfd.readouterr()
    assert run(["-i", expr, files["vcf"]]) == 2
    err = capfd.readouterr().err
    assert err.startswith("gfcli filter: error:")
    if expr:
        lines = err.rstrip("\n").splitlines()
        assert len(lines) == 3 and lines[-1].strip() == "^" and expr in lines[1]


def test_usage_errors(files, capfd):
    assert run(["-s", "X", files["vcf"]]) == 2
    assert run(["-i", "QUAL>1", "-e", "QUAL<1", files["vcf"]]) == 2
    assert run(["-m", "y", "-s", "X", "-i", "QUAL>1", files["vcf"]]) == 2
    assert run(["-U", "x.vcf", "-i", "QUAL>1", files["vcf"]]) == 2
    capfd.readouterr()


# -----------------------------------------------------------------------------------------
# the raw-text fast path (numba/native scanner over BGZF VCF lines) against htslib's parse

AWKWARD_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000000>
##contig=<ID=chr2,length=1000000>
##FILTER=<ID=q10,Description="low">
##INFO=<ID=DP,Number=1,Type=Integer,Description="d">
##INFO=<ID=AF,Number=A,Type=Float,Description="f">
##INFO=<ID=MQ,Number=1,Type=Float,Description="m">
##INFO=<ID=DB,Number=0,Type=Flag,Description="b">
##INFO=<ID=NOTE,Number=1,Type=String,Description="n">
##FORMAT=<ID=GT,Number=1,Type=String,Description="g">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="d">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="q">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="a">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="p">
##FORMAT=<ID=XQ,Number=1,Type=Float,Description="h">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC
"""

# Each line exercises one thing the scanner must get exactly right, or hand to htslib.
AWKWARD_LINES = [
    "chr1\t10\t.\tA\tC\t50\tPASS\tDP=20\tGT:DP:GQ:AD\t0/1:30:40:10,20\t0/0:25:60:25,0\t./.",
    "chr1\t11\t.\tA\tC,G\t31.50\tPASS\tDP=012;AF=0.1,0.20\tGT:DP:GQ:AD:PL\t1/2:007:30:1,2,3:"
    "0,1,2,3,4,5\t0|1:.:.:.:.\t.",
    "chr1\t12\t.\tA\tC\t1e+05\tq10\tDP=-0;DB\tGT:DP:GQ\t0/1:+5:21\t0/1::22\t./.:11:21",
    "chr1\t13\trs1\tAT\tA\t.\t.\t.\tGT:GQ:DP\t0/1:99:11\t1/1:25:12\t0/0:-1:13",
    "chr1\t14\t.\tA\t<DEL>\t40\tPASS\tDP=9;MQ=60.0\tGT:DP:GQ:XQ\t0/1:30:40:1.50\t0/1:11:21:2"
    "\t0/1:30:21:1e-05",
    "chr1\t15\t.\tA\tC\t45\tPASS\tDP=30\tDP:GT:GQ\t30:0/1:40\t11:0/0:21\t5:1/1:5",
    "chr1\t16\t.\tA\tC\t45\tPASS\tDP=30\tGT:DP:GQ\t0/1:2147483647:40\t0/0:12345678901:21"
    "\t0/1:11:21",
    "chr1\t17\t.\tA\tC\t45\tPASS\tDP=30;XX=1\tGT:DP:GQ:ZZ\t0/1:30:40:1\t0/0:11:21:2\t0/1:9:9:3",
    "chr1\t18\t.\tA\tC\t45\tPASS\tNOTE=" + "x" * 300000 + "\tGT:DP:GQ\t0/1:30:40\t0/0:11:21"
    "\t0/1:12:22",
    "chr1\t19\t.\tA\tC\t45\tPASS\tDP=30\tGT:DP:GQ\t0/1:30,31:40\t0/0:11:21\t0/1:12:22",
    "chr1\t20\t.\tA\tC\t45\tPASS\tDP=30\tGT:DP:GQ\t0/1:30:40\t0/0:11\t0/1",
    "chr1\t21\t.\tA\tC\t45\tPASS\tDP=30\tGT:DP:GQ\t0/01:30:40\t00/0:11:21\t1/.:12:22",
    "chr2\t5\t.\tA\tC\t45.0\tPASS\tDP=30\tGT:DP:GQ\t0:30:40\t1:11:21\t.:.:.",
    "chr2\t6\t.\tA\tC,G,T\t3\tPASS\tDP=30;AF=0.1,0.2,0.3\tGT:AD:DP:GQ\t0/3:1,2,3,4:10:30"
    "\t2/2:0,0,5,0:5:21\t./.:.:.:.",
]

AWKWARD_EXPRS = [
    "FMT/GQ>20 & FMT/DP>10", "FMT/GQ>20 && FMT/DP>10", "FMT/DP>10 | FMT/GQ<30",
    "QUAL>30 && INFO/DP>10", "QUAL>=31.5 || INFO/DB", "INFO/MQ>50", "FMT/XQ>1",
    'FMT/DP="."', "FMT/GQ!=40", "FMT/AD[*:1]>5", "GT=\"het\" & FMT/DP>10", "N_ALT>1",
]


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    d = tmp_path_factory.mktemp("awkward")
    plain = d / "awk.vcf"
    # repeat the lines (in position order) so chunks of a few blocks hold many of them
    lines = []
    for rep in range(40):
        for line in AWKWARD_LINES:
            chrom, pos, rest = line.split("\t", 2)
            lines.append(f"{chrom}\t{int(pos) + 100 * rep}\t{rest}")
    lines.sort(key=lambda ln: (ln.split("\t")[0], int(ln.split("\t")[1])))
    plain.write_text(AWKWARD_HEADER.replace("\\t", "\t") + "\n".join(lines) + "\n")
    return vd.bgzip_and_index(str(plain))


def _ref_or_error(args: list[str]) -> bytes | None:
    try:
        return theirs_view(args)
    except pysam.utils.SamtoolsError:
        return None


@pytest.mark.parametrize("expr", AWKWARD_EXPRS)
def test_raw_path_awkward_lines(tmp_path, awkward, monkeypatch, expr):
    import gfcli.engine.chunks as chunks
    import gfcli.engine.variants.filter as vfilter

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 16 << 10)
    ref = _ref_or_error(["-i", expr, awkward])
    fast = ours(tmp_path, ["-i", expr, awkward], "fast")
    fast2 = ours(tmp_path, ["-@", "2", "-i", expr, awkward], "fast2")
    monkeypatch.setattr(vfilter, "RAW_TEXT", False)
    slow = ours(tmp_path, ["-i", expr, awkward], "slow")
    assert fast == slow, diff(fast, slow)
    assert fast2 == fast
    if ref is not None:
        assert fast == ref, diff(fast, ref)


@pytest.mark.parametrize("out_type", ["v", "z", "b"])
def test_raw_path_threads_and_numba_parity(tmp_path, big, monkeypatch, out_type):
    # -@1 against -@2 (chunks handed over by the workers) and the precompiled scanner
    # against the numba one: the same bytes, compressed or not.
    import gfcli.engine.chunks as chunks
    import gfcli.engine.variants.rawnative as rawnative

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 64 << 10)
    args = ["-O", out_type, "-i", "QUAL>30 && INFO/DP>100 || FMT/DP>350", big["gz"]]

    def raw_bytes(name: str, threads: str) -> bytes:
        out = str(tmp_path / name)
        assert run(["--no-version", "-o", out, "-@", threads, *args]) == 0
        with open(out, "rb") as handle:
            return handle.read()

    two = raw_bytes("two", "2")
    assert raw_bytes("one", "1") == two
    monkeypatch.setattr(rawnative.KERNELS, "_loaded", None)
    monkeypatch.setattr(rawnative.KERNELS, "_failed", True)  # numba kernels
    assert raw_bytes("numba", "1") == two
    if out_type == "v":
        assert two == theirs_view(args[2:])


@pytest.mark.parametrize("extra", [[], ["-O", "z"], ["-H"], ["-r", "chr1:1000-3000"]])
def test_view_raw_path_awkward_lines(tmp_path, awkward, monkeypatch, extra):
    # `gfcli view` of BGZF VCF to VCF copies lines through the same scanner (no expression):
    # equal to the htslib path and to bcftools view.
    import gfcli.engine.chunks as chunks
    import gfcli.engine.variants.filter as vfilter

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 16 << 10)

    def view(name: str, threads: str) -> bytes:
        out = str(tmp_path / name)
        try:
            main(["view", "--no-version", "-@", threads, "-o", out, *extra, awkward])
        except SystemExit as exc:
            assert not exc.code
        with open(out, "rb") as handle:
            data = handle.read()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data

    fast = view("fast", "1")
    assert view("fast2", "2") == fast
    monkeypatch.setattr(vfilter, "RAW_TEXT", False)
    slow = view("slow", "1")
    assert fast == slow, diff(fast, slow)
    assert fast == theirs_view([*[x for x in extra if x not in ("-O", "z")], awkward])
