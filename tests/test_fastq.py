"""`gfcli view` and `gfcli filter` on FASTQ (plain, gzip, BGZF, stdin).

Every filter expression is checked against an independent plain-Python computation over
the generated records (and, where seqkit has the same test, against seqkit); the
passthrough is byte-exact; -@ 1 and -@ N give the same bytes over record-aligned BGZF
chunks (small chunk targets force many cuts, including ones next to quality lines that
start with '@' and reads longer than a BGZF block); malformed input is one error naming
the file and line, exit 1.

Decisions tested here: Windows line endings are accepted like seqkit does ('\\r' is not
part of any field, records keep their own bytes); blank lines between records are
dropped; a missing final newline is added; an input with no bytes is an empty FASTQ.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import re
import shutil
import subprocess

import pytest

from gfcli.engine import sniff
from gfcli.engine.bgzf import BgzfWriter
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.expr import ExprError
from gfcli.engine.filter import run_filter
from gfcli.engine.view import ViewRequest, run_view

# ---------------------------------------------------------------- data


def _records(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    recs = []
    for i in range(n):
        kind = rng.random()
        ln = 0 if kind < 0.03 else rng.randint(1, 20) if kind < 0.15 else rng.randint(20, 300)
        alphabet = "ACGTN" if rng.random() < 0.15 else "ACGTacgt" if rng.random() < 0.1 else "ACGT"
        seq = "".join(rng.choice(alphabet) for _ in range(ln))
        top = rng.choice((12, 41, 41, 41))  # some reads are low quality throughout
        qual = "".join(chr(33 + rng.randint(0, top)) for _ in range(ln))
        if rng.random() < 0.2 and ln:
            qual = "@" + qual[1:]  # quality lines starting with '@' (Q31)
        name = f"r{i}" + (" desc=x" if rng.random() < 0.5 else "")
        recs.append((name, seq, qual))
    return recs


def _text(recs, eol: str = "\n") -> bytes:
    return "".join(f"@{n}{eol}{s}{eol}+{eol}{q}{eol}" for n, s, q in recs).encode()


def _bgzf(path, data: bytes) -> None:
    with open(path, "wb") as handle, BgzfWriter(handle) as writer:
        writer.write(data)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("fq")
    recs = _records(random.Random(7), 3000)
    text = _text(recs)
    (d / "a.fq").write_bytes(text)
    half = len(recs) // 2
    # multi-member gzip: two members cut at a record boundary
    (d / "a.fq.gz").write_bytes(gzip.compress(_text(recs[:half])) +
                                gzip.compress(_text(recs[half:])))
    _bgzf(d / "a.fq.bgz", text)
    return {"dir": d, "recs": recs, "text": text}


def run(cmd, tmp_path, path, **kw) -> bytes:
    out = tmp_path / f"out{len(os.listdir(tmp_path))}.fq"
    req = ViewRequest(input=str(path), output=str(out), progress=False,
                      command="filter" if cmd is run_filter else "view", **kw)
    cmd(req)
    return out.read_bytes()


# ---------------------------------------------------------------- the independent model


def _meanq(q):
    return sum(ord(c) for c in q) / len(q) - 33 if q else None


def _gc(s):
    return sum(c in "GCgc" for c in s) / len(s) if s else None


def _nc(s):
    return sum(c in "Nn" for c in s)


def _def(x, f):
    return x is not None and f(x)


EXPRESSIONS = [
    ("length>=100", lambda n, s, q: len(s) >= 100),
    ("length<50", lambda n, s, q: len(s) < 50),
    ("length==0", lambda n, s, q: len(s) == 0),
    ("length>=50 && length<=150", lambda n, s, q: 50 <= len(s) <= 150),
    ("meanq>=30", lambda n, s, q: _def(_meanq(q), lambda m: m >= 30)),
    ("meanq<20", lambda n, s, q: _def(_meanq(q), lambda m: m < 20)),
    ("!(meanq>=25)", lambda n, s, q: not _def(_meanq(q), lambda m: m >= 25)),
    ("gc>0.5", lambda n, s, q: _def(_gc(s), lambda g: g > 0.5)),
    ("gc==0", lambda n, s, q: _def(_gc(s), lambda g: g == 0)),
    ("gc<=0.4 && length>=10", lambda n, s, q: _def(_gc(s), lambda g: g <= 0.4) and len(s) >= 10),
    ("n_count==0", lambda n, s, q: _nc(s) == 0),
    ("n_count>0", lambda n, s, q: _nc(s) > 0),
    ("n_count>=2 || length<20", lambda n, s, q: _nc(s) >= 2 or len(s) < 20),
    ("length>=100 && meanq>=20 && n_count==0",
     lambda n, s, q: len(s) >= 100 and _def(_meanq(q), lambda m: m >= 20) and _nc(s) == 0),
    ("(length>100 || gc>0.6) && n_count<3",
     lambda n, s, q: (len(s) > 100 or _def(_gc(s), lambda g: g > 0.6)) and _nc(s) < 3),
    ("gc*length>=50", lambda n, s, q: bool(s) and _gc(s) * len(s) >= 50),
    ("n_count/length>0.01", lambda n, s, q: bool(s) and _nc(s) / len(s) > 0.01),
    ("length*2>300", lambda n, s, q: len(s) * 2 > 300),
    ("length%3==0", lambda n, s, q: len(s) % 3 == 0),
    ("sqrt(length)>10", lambda n, s, q: math.sqrt(len(s)) > 10),
    ("exists(meanq)", lambda n, s, q: len(s) > 0),
    ("default(meanq,0)>=30", lambda n, s, q: (_meanq(q) or 0) >= 30),
    ('name=~"^r1"', lambda n, s, q: n.startswith("r1")),
    ('name!~"7"', lambda n, s, q: "7" not in n),
    ('name=="r5 desc=x" || name=="r6"', lambda n, s, q: n in ("r5 desc=x", "r6")),
    ('name=~"desc" && length>0', lambda n, s, q: "desc" in n and len(s) > 0),
    ('seq=~"^ACG"', lambda n, s, q: s.startswith("ACG")),
    ('seq=~"N"', lambda n, s, q: "N" in s),
    ('seq=~"[acgt]"', lambda n, s, q: re.search("[acgt]", s) is not None),
    ('meanq>=20 && seq!~"N"', lambda n, s, q: _def(_meanq(q), lambda m: m >= 20) and "N" not in s),
    ('qual=~"^@"', lambda n, s, q: q.startswith("@")),
    ('qual=~"!"', lambda n, s, q: "!" in q),
    ("max(seq)<=84", lambda n, s, q: bool(s) and max(map(ord, s)) <= 84),
    ("avg(qual)>=60", lambda n, s, q: (sum(map(ord, q)) / len(q) if q else 0) >= 60),
    ("min(qual)>=53", lambda n, s, q: bool(q) and min(map(ord, q)) >= 53),
    ("max(qual)<60 && length>0", lambda n, s, q: bool(q) and max(map(ord, q)) < 60),
    ('length>10 && (name=~"3$" || gc<0.3)',
     lambda n, s, q: len(s) > 10 and (n.endswith("3") or _def(_gc(s), lambda g: g < 0.3))),
]


def _expected(recs, pred, exclude=False) -> bytes:
    return _text([r for r in recs if bool(pred(*r)) != exclude])


@pytest.mark.parametrize("expr,pred", EXPRESSIONS, ids=[e for e, _ in EXPRESSIONS])
def test_include_matches_python(data, tmp_path, expr, pred):
    got = run(run_filter, tmp_path, data["dir"] / "a.fq", include=expr)
    assert got == _expected(data["recs"], pred)


@pytest.mark.parametrize("expr,pred", EXPRESSIONS[::4], ids=[e for e, _ in EXPRESSIONS[::4]])
def test_exclude_and_rejects(data, tmp_path, expr, pred):
    rej = tmp_path / "rejects.fq"
    got = run(run_filter, tmp_path, data["dir"] / "a.fq.gz", exclude=expr, rejects=str(rej))
    assert got == _expected(data["recs"], pred, exclude=True)
    assert rej.read_bytes() == _expected(data["recs"], pred)
    count = run(run_filter, tmp_path, data["dir"] / "a.fq.bgz", exclude=expr, count=True)
    assert count == b"%d\n" % sum(not pred(*r) for r in data["recs"])


@pytest.mark.skipif(shutil.which("seqkit") is None, reason="seqkit not installed")
def test_against_seqkit(data, tmp_path):
    # seqkit grep drops reads with an empty sequence; compare on the others
    src = tmp_path / "nonempty.fq"
    src.write_bytes(_text([r for r in data["recs"] if r[1]]))
    cases = [
        ("length>=100", ["seq", "-m", "100"]),
        ("length<=40", ["seq", "-M", "40"]),
        ('name=~"^r1[0-9]*5"', ["grep", "-n", "-r", "-p", "^r1[0-9]*5"]),
    ]
    for expr, args in cases:
        ref = subprocess.run(["seqkit", *args, src], capture_output=True, check=True).stdout
        assert run(run_filter, tmp_path, src, include=expr) == ref, expr


# ---------------------------------------------------------------- view, formats, chunks


def test_passthrough_every_container(data, tmp_path):
    for name in ("a.fq", "a.fq.gz", "a.fq.bgz"):
        assert run(run_view, tmp_path, data["dir"] / name) == data["text"], name
        assert run(run_view, tmp_path, data["dir"] / name, count=True) == b"3000\n"


def test_threads_identical_on_small_chunks(data, tmp_path, monkeypatch):
    from gfcli.engine.fastq import reader

    monkeypatch.setattr(reader, "TARGET_CHUNK_BYTES", 10000)
    path = data["dir"] / "a.fq.bgz"
    chunks = reader.plan_chunks(str(path))
    assert len(chunks) > 10  # one cut per BGZF block at most
    expr = 'meanq>=25 && name=~"1"'
    one = run(run_filter, tmp_path, path, include=expr, threads=1)
    four = run(run_filter, tmp_path, path, include=expr, threads=4)
    assert one == four == _expected(
        data["recs"], lambda n, s, q: _def(_meanq(q), lambda m: m >= 25) and "1" in n)
    assert one == run(run_filter, tmp_path, data["dir"] / "a.fq", include=expr)
    assert run(run_view, tmp_path, path, threads=3) == data["text"]
    z1 = run(run_view, tmp_path, path, threads=1, output_type="fastq.gz")
    z4 = run(run_view, tmp_path, path, threads=4, output_type="fastq.gz")
    assert z1 == z4 and sniff.is_bgzf(z1) and gzip.decompress(z1) == data["text"]


def test_long_reads_span_blocks(tmp_path, monkeypatch):
    from gfcli.engine.fastq import reader

    rng = random.Random(3)
    recs = [(f"long{i}", "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 90000))),
             "") for i in range(14)]
    recs = [(n, s, "".join(rng.choice("@ABCDEFGHI#") for _ in s)) for n, s, _ in recs]
    text = _text(recs)
    _bgzf(tmp_path / "long.fq.gz", text)
    monkeypatch.setattr(reader, "TARGET_CHUNK_BYTES", 60000)
    assert len(reader.plan_chunks(str(tmp_path / "long.fq.gz"))) > 3
    assert run(run_view, tmp_path, tmp_path / "long.fq.gz", threads=2) == text


def test_output_gz_suffix_is_bgzf(data, tmp_path):
    out = tmp_path / "x.fastq.gz"
    run_filter(ViewRequest(input=str(data["dir"] / "a.fq"), output=str(out),
                           include="length>=100", progress=False))
    raw = out.read_bytes()
    assert sniff.is_bgzf(raw)
    assert gzip.decompress(raw) == _expected(data["recs"], EXPRESSIONS[0][1])
    # and it reads back
    assert run(run_view, tmp_path, out) == gzip.decompress(raw)
    z = run(run_view, tmp_path, data["dir"] / "a.fq", output_type="z1")
    assert sniff.is_bgzf(z) and gzip.decompress(z) == data["text"]


def test_tables(data, tmp_path):
    import pyarrow.parquet as pq

    recs = data["recs"]
    tsv = run(run_filter, tmp_path, data["dir"] / "a.fq", include="length<=12",
              output_type="tsv").decode().splitlines()
    assert tsv[0] == "name\tseq\tqual\tlength\tmeanq\tgc\tn_count"
    small = [r for r in recs if len(r[1]) <= 12]
    assert len(tsv) == len(small) + 1
    for line, (n, s, q) in zip(tsv[1:], small, strict=True):
        cols = line.split("\t")
        assert cols[:4] == [n, s, q, str(len(s))]
        assert cols[4] == ("." if not q else f"{_meanq(q):.6g}")
        assert cols[6] == str(_nc(s))
    rows = [json.loads(x) for x in run(run_view, tmp_path, data["dir"] / "a.fq.gz",
                                        output_type="json").splitlines()]
    assert [(r["name"], r["seq"], r["qual"]) for r in rows] == recs
    assert all(r["meanq"] == _meanq(r["qual"]) and r["gc"] == _gc(r["seq"]) for r in rows)
    pq_path = tmp_path / "t.parquet"
    run_view(ViewRequest(input=str(data["dir"] / "a.fq.bgz"), output=str(pq_path),
                         threads=2, progress=False))
    table = pq.read_table(pq_path)
    assert table.column_names == ["name", "seq", "qual", "length", "meanq", "gc", "n_count"]
    assert table.column("seq").to_pylist() == [s for _, s, _ in recs]
    assert table.column("length").to_pylist() == [len(s) for _, s, _ in recs]


def test_windows_line_endings_blank_lines_no_final_newline(data, tmp_path):
    recs = data["recs"][:200]
    crlf = _text(recs, "\r\n")
    (tmp_path / "crlf.fq").write_bytes(crlf)
    assert run(run_view, tmp_path, tmp_path / "crlf.fq") == crlf  # own bytes kept
    pred = EXPRESSIONS[-1][1]
    got = run(run_filter, tmp_path, tmp_path / "crlf.fq", include=EXPRESSIONS[-1][0])
    assert got == _text([r for r in recs if pred(*r)], "\r\n")
    rows = run(run_view, tmp_path, tmp_path / "crlf.fq", output_type="json").splitlines()
    assert [json.loads(x)["name"] for x in rows] == [n for n, _, _ in recs]
    loose = _text(recs[:3]).replace(b"\n@", b"\n\n@").rstrip(b"\n")
    (tmp_path / "loose.fq").write_bytes(loose + b"\n")
    (tmp_path / "loose2.fq").write_bytes(loose)
    assert run(run_view, tmp_path, tmp_path / "loose.fq") == _text(recs[:3])
    assert run(run_view, tmp_path, tmp_path / "loose2.fq") == _text(recs[:3])


def test_empty_inputs(tmp_path):
    (tmp_path / "e.fq").write_bytes(b"")
    (tmp_path / "e.fq.gz").write_bytes(gzip.compress(b""))
    _bgzf(tmp_path / "e.bgz", b"")
    for name in ("e.fq", "e.fq.gz", "e.bgz"):
        assert run(run_view, tmp_path, tmp_path / name) == b""
        assert run(run_filter, tmp_path, tmp_path / name, include="length>1", count=True) == \
            b"0\n"
    assert run(run_view, tmp_path, tmp_path / "e.fq", output_type="tsv").count(b"\n") == 1


# ---------------------------------------------------------------- errors


MALFORMED = [
    (b"@a\nACGT\n+\nIIII\nb\nAC\n+\nII\n", 5, "starting with '@'"),
    (b"@a\nACGT\n+\nIIII\n@b\nAC\n-\nII\n", 7, "'+' separator"),
    (b"@a\nACGT\n+\nIIII\n@b\nACG\n+\nII\n", 8, "quality length differs"),
    (b"@a\nACGT\n+\nII I\n", 4, "outside '!'..'~'"),
    (b"@a\nACGT\n+\nIIII\n@b\nAC\n", 5, "truncated"),
]


@pytest.mark.parametrize("text,line,what", MALFORMED, ids=[m[2] for m in MALFORMED])
def test_malformed_names_file_and_line(tmp_path, text, line, what):
    (tmp_path / "bad.fq").write_bytes(text)
    (tmp_path / "bad.fq.gz").write_bytes(gzip.compress(text))
    for name in ("bad.fq", "bad.fq.gz"):
        with pytest.raises(DataError) as info:
            run(run_view, tmp_path, tmp_path / name)
        assert info.value.line == line and what in info.value.message
        assert info.value.path == str(tmp_path / name)


def test_error_line_in_a_later_chunk(data, tmp_path, monkeypatch):
    from gfcli.engine.fastq import reader

    monkeypatch.setattr(reader, "TARGET_CHUNK_BYTES", 20000)
    lines = data["text"].split(b"\n")
    lines[4 * 2000 + 2] = b"-"  # the '+' line of record 2000 (of 3000)
    bad_line = 4 * 2000 + 3
    _bgzf(tmp_path / "bad.bgz", b"\n".join(lines))
    for threads in (1, 2):
        with pytest.raises(DataError) as info:
            run(run_view, tmp_path, tmp_path / "bad.bgz", threads=threads)
        assert info.value.line == bad_line and "'+' separator" in info.value.message


def test_usage_errors(data, tmp_path):
    path = data["dir"] / "a.fq"
    with pytest.raises(ExprError, match="did you mean|unknown"):
        run(run_filter, tmp_path, path, include="lenght>3")
    with pytest.raises(UsageError, match="-r"):
        run(run_view, tmp_path, path, regions="chr1")
    with pytest.raises(UsageError, match="not for FASTQ"):
        run(run_view, tmp_path, path, output_type="bam")
    with pytest.raises(UsageError, match="-U"):
        run(run_filter, tmp_path, path, include="length>3", rejects=str(tmp_path / "r"),
            output_type="parquet")


# ---------------------------------------------------------------- the command line


def _cli(*args, stdin=None):
    return subprocess.run(["gfcli", *args], capture_output=True, input=stdin)


def test_cli_stdin_and_error_line(data, tmp_path):
    expr, pred = EXPRESSIONS[13]
    res = _cli("filter", "-i", expr, "-", stdin=(data["dir"] / "a.fq.bgz").read_bytes())
    assert res.returncode == 0, res.stderr
    assert res.stdout == _expected(data["recs"], pred)
    assert _cli("view", "-c", stdin=data["text"]).stdout == b"3000\n"
    res = _cli("view", "-O", "parquet", "-", stdin=_text(data["recs"][:5]))  # stdout a pipe
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(res.stdout))
    assert table.column("name").to_pylist() == [n for n, _, _ in data["recs"][:5]]
    bad = tmp_path / "bad.fq"
    bad.write_bytes(MALFORMED[1][0])
    res = _cli("view", str(bad))
    assert res.returncode == 1
    assert res.stderr.decode().strip() == \
        f"gfcli view: error: {bad}: line 7: malformed FASTQ record: expected a '+' separator line"


def test_explain(data, capsys):
    run_filter(ViewRequest(input=str(data["dir"] / "a.fq.bgz"), explain=True,
                           include='length>=50 && name=~"x" && meanq>20'))
    out = capsys.readouterr().out
    assert "numeric conjuncts on numba-computed columns (length, meanq, gc, n_count), no " \
           "strings built: length>=50; meanq>20" in out
    assert 'string conjuncts, on the survivors only: name=~"x"' in out
    assert "record-aligned BGZF chunk" in out


def test_formatter_pickles(data):
    import pickle

    from gfcli.engine.fastq.select import FastqFilter
    from gfcli.engine.fastq.view import FastqFormatter, Source

    fmt = FastqFormatter(Source(str(data["dir"] / "a.fq"), "a.fq", "plain"), "fastq",
                         FastqFilter("length>3"))
    assert pickle.loads(pickle.dumps(fmt)) == fmt


def test_split_evaluation_equals_reference_evaluator(data):
    """Random expressions: numeric conjuncts on kernel columns + string conjuncts on the
    survivors give exactly what the reference evaluator gives on whole string batches."""
    import numpy as np

    from gfcli.engine.expr import compile_expr
    from gfcli.engine.expr.batch import FastqBatch
    from gfcli.engine.fastq.reader import iter_batches
    from gfcli.engine.fastq.select import FastqFilter

    batch = next(iter_batches(iter([_text(data["recs"][:400])]), "t", lambda: 0))
    recs = data["recs"][:400]
    ref_batch = FastqBatch(len(recs), *(np.array(col, dtype=object) for col in zip(*recs,
                                                                                 strict=True)))
    rng = random.Random(11)
    atoms = ["length>{}".format, "meanq>={}".format, "gc<0.{}".format, "n_count<{}".format,
             lambda v: f'name=~"{v}"', lambda v: f'seq!~"A{v % 4 * "C"}G"',
             lambda v: f"avg(qual)>{40 + v}", lambda v: f"length%{v % 5 + 2}==1",
             lambda v: f"!(meanq<{v})", lambda v: f"default(gc,{v % 2})>0.5"]
    for _ in range(60):
        parts = [rng.choice(atoms)(rng.randint(1, 30)) for _ in range(rng.randint(1, 4))]
        expr = parts[0]
        for p in parts[1:]:
            expr = f"{expr} {rng.choice(['&&', '||', '&&'])} {p}"
        if rng.random() < 0.3:
            expr = f"({expr}) && length>5"
        exclude = rng.random() < 0.3
        want = compile_expr(expr, "fastq", exclude=exclude).select(ref_batch)
        got = FastqFilter(expr, exclude).select(batch)
        assert got.tolist() == want.tolist(), expr
