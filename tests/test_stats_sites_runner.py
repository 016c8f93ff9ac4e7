"""The sites statistics' runner (vsites.run / Pending): forked workers counting into a
shared mapping, chunks claimed from a pipe, errors and htslib partials sent back, and the
parent printing bcftools' text without importing numpy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pysam = pytest.importorskip("pysam")

from gfcli.engine import chunks as chunking  # noqa: E402
from gfcli.engine.errors import DataError  # noqa: E402
from gfcli.engine.source import open_input  # noqa: E402
from gfcli.engine.stats import variants, vsites  # noqa: E402
from gfcli.engine.stats.base import StatsRequest  # noqa: E402

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=10000000>\n"
          '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
          '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n'
          '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def _vcf(tmp_path, name: str, n: int, last: str | None = None) -> str:
    lines = [HEADER]
    for i in range(n):
        alt = "GTCA"[i % 4] if i % 7 else "<DEL>"
        lines.append(f"chr1\t{10 * i + 1}\t.\tA\t{alt}\t{(i * 37) % 900 / 10}\tPASS\t"
                     f"DP={i % 300};AC={i % 5};AN={10 + i % 3}\n")
    if last is not None:
        lines.append(last)
    plain = tmp_path / f"{name}.vcf"
    plain.write_text("".join(lines))
    out = str(plain) + ".gz"
    pysam.tabix_compress(str(plain), out, force=True)
    pysam.tabix_index(out, preset="vcf", force=True)
    return out


def _text(path: str, threads: int) -> str:
    req = StatsRequest(inputs=[path], threads=threads).resolve("variants")
    return variants.compute(req, open_input(path)).render_text(req)


def _no_children_left() -> bool:
    try:
        return os.waitpid(-1, os.WNOHANG) == (0, 0) and False
    except ChildProcessError:
        return True


def test_claims_of_several_chunks(tmp_path, monkeypatch):
    """More chunks than claims: each claim is a run of chunks; the counts are those of one
    process and of htslib's path."""
    path = _vcf(tmp_path, "many", 40000)
    monkeypatch.setattr(chunking, "TARGET_CHUNK_BYTES", 20000)
    index = chunking.index_for(path, path + ".tbi")
    assert len(chunking.plan_offset_chunks(path, index)) > 6
    one = _text(path, 1)
    monkeypatch.setattr(vsites, "MAX_CLAIMS", 2)
    assert _text(path, 3) == one
    monkeypatch.setattr(vsites, "MAX_CLAIMS", 1)
    assert _text(path, 2) == one
    monkeypatch.setattr(variants, "SITES_TEXT", False)
    assert _text(path, 2) == one
    assert _no_children_left()


def test_worker_error_reaches_the_parent(tmp_path, monkeypatch):
    path = _vcf(tmp_path, "anac", 30000, last="chr1\t400000\t.\tA\tG\t50\tPASS\tAC=5;AN=2\n")
    monkeypatch.setattr(chunking, "TARGET_CHUNK_BYTES", 20000)
    for threads in (1, 2):
        with pytest.raises(DataError, match="AN/AC"):
            _text(path, threads)
    assert _no_children_left()


def test_refused_chunk_counted_by_htslib(tmp_path, monkeypatch):
    """A line the kernel refuses (QUAL with an exponent) in a worker: that chunk's partial
    counts are taken off and htslib's counts of the chunk added."""
    path = _vcf(tmp_path, "refused", 30000, last="chr1\t400000\t.\tA\tG\t5e1\tPASS\tDP=3\n")
    monkeypatch.setattr(chunking, "TARGET_CHUNK_BYTES", 20000)
    fast = _text(path, 2)
    monkeypatch.setattr(variants, "SITES_TEXT", False)
    assert fast == _text(path, 2)


def test_parent_prints_without_numpy(tmp_path):
    path = _vcf(tmp_path, "plain", 5000)
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "gfcli", "stats", "-@",
                          "2", path], capture_output=True, text=True, check=True)
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:")}
    assert "gfcli.engine.stats.vsites" in imported
    assert "numpy" not in imported and "pysam" not in imported
    assert run.stdout.count("\nQUAL\t0\t") > 100
