"""Chunk plans partition a file's records exactly, in order, whatever the cut points."""

from __future__ import annotations

import random

import pysam
import pytest

from gfcli.engine.chunks import (
    Chunk,
    plan_offset_chunks,
    plan_region_chunks,
    plan_text_chunks,
)
from gfcli.engine.index import read_index
from gfcli.engine.regions import Region, merge_regions


def _make_vcf(path, n=6000, with_index=True):
    rng = random.Random(7)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=c1,length=1000000>",
        "##contig=<ID=c2,length=1000000>",
        '##INFO=<ID=NOTE,Number=1,Type=String,Description="padding">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for contig in ("c1", "c2"):
        pos = 0
        for i in range(n // 2):
            pos += rng.randint(1, 200)
            note = "".join(rng.choice("ACGT") for _ in range(60))
            lines.append(f"{contig}\t{pos}\tv{i}\tA\tC\t{rng.randint(1, 99)}\tPASS\tNOTE={note}")
    plain = path.with_suffix("")
    plain.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(plain), str(path), force=True)
    if with_index:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    return [line for line in lines if not line.startswith("#")]


def _records_by_offsets(path, chunk: Chunk) -> list[str]:
    out = []
    with pysam.VariantFile(str(path)) as vf:
        if chunk.start is not None:
            vf.seek(chunk.start)
        while True:
            if chunk.end is not None and vf.tell() >= chunk.end:
                break
            try:
                rec = next(vf)
            except StopIteration:
                break
            out.append(str(rec).rstrip("\n"))
    return out


@pytest.fixture(scope="module")
def indexed_vcf(tmp_path_factory):
    path = tmp_path_factory.mktemp("chunks") / "many.vcf.gz"
    records = _make_vcf(path)
    return path, records


def test_index_summary(indexed_vcf):
    path, _ = indexed_vcf
    summary = read_index(str(path) + ".tbi")
    assert summary.kind == "tbi"
    assert summary.names == ["c1", "c2"]
    assert all(ref.offsets == sorted(ref.offsets) for ref in summary.references)


@pytest.mark.parametrize("target", [20_000, 60_000, 10_000_000])
def test_offset_chunks_partition_records(indexed_vcf, target):
    path, records = indexed_vcf
    chunks = plan_offset_chunks(str(path), read_index(str(path) + ".tbi"), target)
    if target < 100_000:
        assert len(chunks) >= 3
    got = [line for chunk in chunks for line in _records_by_offsets(path, chunk)]
    assert got == records


@pytest.mark.parametrize("target", [15_000, 50_000])
def test_text_chunks_without_index(tmp_path, target):
    path = tmp_path / "noidx.vcf.gz"
    records = _make_vcf(path, n=3000, with_index=False)
    chunks = plan_text_chunks(str(path), target)
    assert len(chunks) >= 2
    got = [line for chunk in chunks for line in _records_by_offsets(path, chunk)]
    assert got == records


def test_region_chunks_emit_each_record_once(indexed_vcf):
    path, _ = indexed_vcf
    regions = merge_regions(
        [Region("c1", 1000, 30000), Region("c1", 20000, 50000), Region("c1", 60000, 61000)]
    )
    chunks = plan_region_chunks(regions)
    got = []
    with pysam.VariantFile(str(path)) as vf:
        for chunk in chunks:
            region = chunk.region
            for rec in vf.fetch(region.contig, region.start, region.end):
                if chunk.owns(rec.start):
                    got.append(rec.id)
    assert len(got) == len(set(got))
    with pysam.VariantFile(str(path)) as vf:
        expected = [
            rec.id
            for rec in vf.fetch("c1")
            if (rec.start < 50000 and rec.stop > 1000) or (rec.start < 61000 and rec.stop > 60000)
        ]
    assert got == expected
