"""`gfcli stats` on FASTQ: the `seqkit stats -a -T` columns.

Checked against an independent computation in plain Python (every column, AvgQual by
seqkit's documented definition), against seqkit itself when it is installed (Debian's
seqkit 2.3 has no AvgQual column and its Q1/Q3 were wrong for a single distinct length,
fixed upstream later, so those are left out there), and shard-then-merge through JSON.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import shutil
import statistics
import subprocess

import pytest

from gfcli.engine.source import open_input
from gfcli.engine.stats import fastq
from gfcli.engine.stats.base import StatsRequest


def _write(path, records):
    with open(path, "w") as out:
        for name, seq, qual in records:
            out.write(f"@{name} some description\n{seq}\n+\n{qual}\n")


def _records(rng, n, lengths=(1, 200)):
    recs = []
    for i in range(n):
        ln = rng.randint(*lengths) if rng.random() < 0.6 else 150
        seq = "".join(rng.choice("ACGTNacgt-.") if rng.random() < 0.03 else rng.choice("ACGT")
                      for _ in range(ln))
        qual = "".join(chr(33 + rng.randint(0, 41)) for _ in range(ln))
        recs.append((f"r{i}", seq, qual))
    return recs


def _half_up(x, n):
    p = 10 ** n
    return math.trunc((x + 0.5 / p) * p) / p


def _expected(label, records):
    lens = sorted(len(s) for _, s, _ in records)
    num, total = len(lens), sum(lens)

    def med(v):
        return float(statistics.median(v)) if v else 0.0

    if len(set(lens)) == 1:
        q1 = q2 = q3 = float(lens[0])
    else:
        half = num // 2 if num % 2 == 0 else (num + 1) // 2
        q1, q2, q3 = med(lens[:half]), med(lens), med(lens[num // 2:][:half])
    run, n50 = 0, 0
    for ln in reversed(lens):
        run += ln
        if 2 * run >= total:
            n50 = ln
            break
    quals = [ord(c) - 33 for _, _, q in records for c in q]
    seqs = "".join(s for _, s, _ in records)
    err = sum(10 ** (-q / 10) for q in quals) / len(quals)
    return [label, "FASTQ", "DNA", str(num), str(total), str(lens[0]),
            f"{_half_up(total / num, 1):.1f}", str(lens[-1]), f"{q1:.1f}", f"{q2:.1f}",
            f"{q3:.1f}", str(sum(seqs.count(c) for c in "-. ")), str(n50),
            f"{_half_up(100 * sum(q >= 20 for q in quals) / total, 2):.2f}",
            f"{_half_up(100 * sum(q >= 30 for q in quals) / total, 2):.2f}",
            f"{_half_up(-10 * math.log10(err), 2):.2f}",
            f"{_half_up(100 * sum(seqs.count(c) for c in 'GCgc') / total, 2):.2f}"]


def _ours(path):
    req = StatsRequest(inputs=[str(path)]).resolve("fastq")
    return fastq.compute(req, open_input(str(path)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fqstats")
    rng = random.Random(21)
    out = {}
    for name, recs in (("mixed", _records(rng, 3000)), ("odd", _records(rng, 7, (5, 9))),
                       ("same", [(f"s{i}", "ACGTN" * 30, "I" * 150) for i in range(9)]),
                       ("long", _records(rng, 50, (1500, 5000)))):
        path = d / f"{name}.fq"
        _write(path, recs)
        out[name] = (path, recs)
    gz = d / "mixed.fq.gz"
    with open(out["mixed"][0], "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out["gz"] = (gz, out["mixed"][1])
    return out


@pytest.mark.parametrize("name", ["mixed", "odd", "same", "long", "gz"])
def test_columns_match_independent_computation(files, name):
    path, recs = files[name]
    text = _ours(path).render_text()
    header, row = text.rstrip("\n").split("\n")
    assert header.split("\t") == list(fastq.COLUMNS)
    assert row.split("\t") == _expected(str(path), recs)


@pytest.mark.skipif(shutil.which("seqkit") is None, reason="seqkit not installed")
@pytest.mark.parametrize("name", ["mixed", "odd", "long", "gz"])
def test_matches_seqkit(files, name):
    path, _ = files[name]
    out = subprocess.run(["seqkit", "stats", "-a", "-T", str(path)], capture_output=True,
                         text=True, check=True).stdout
    cols, vals = (line.split("\t") for line in out.rstrip("\n").split("\n"))
    theirs = dict(zip(cols, vals, strict=True))
    ours = dict(zip(fastq.COLUMNS, _ours(path).render_text().rstrip("\n").split("\n")[1]
                    .split("\t"), strict=True))
    for col in cols:
        assert ours[col] == theirs[col], col


def test_shards_merge_through_json(files, tmp_path):
    path, recs = files["mixed"]
    whole = _ours(path)
    a, b = tmp_path / "a.fq", tmp_path / "b.fq"
    _write(a, recs[:1234])
    _write(b, recs[1234:])
    pa, pb = _ours(a), _ours(b)
    for p in (pa, pb):
        p.files[0].label = str(path)
    merged = fastq.from_json(json.loads(json.dumps(pa.to_json())))
    merged += fastq.from_json(json.loads(json.dumps(pb.to_json())))
    assert merged.render_text() == whole.render_text()
    assert merged.to_json() == whole.to_json()
    extra = whole.to_json()["files"][0]
    assert extra["per_position"]["bases"][0] == len(recs)
    assert sum(n for _, n in extra["length_histogram"]) == len(recs)


def test_two_files_two_rows(files):
    acc = _ours(files["mixed"][0])
    acc += _ours(files["odd"][0])
    assert len(acc.render_text().splitlines()) == 3


def test_empty_file(tmp_path):
    p = tmp_path / "e.fq"
    p.write_text("")
    fs = fastq.compute_stream(open(p, "rb"), str(p), False)
    assert fastq.FqStats([fs]).render_text().split("\n")[1] == \
        f"{p}\t\t\t0\t0\t0\t0.0\t0\t0.0\t0.0\t0.0\t0\t0\t0.00\t0.00\t0.00\t0.00"
