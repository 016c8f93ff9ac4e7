"""Region strings and files: samtools/bcftools dialects, BED vs 1-based."""

from __future__ import annotations

import pytest

from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.regions import (
    Region,
    merge_regions,
    parse_region,
    parse_region_list,
    read_regions_file,
)


def test_region_forms():
    assert parse_region("chr1", point_if_single=True) == Region("chr1")
    assert parse_region("chr1:100-200", point_if_single=True) == Region("chr1", 99, 200)
    assert parse_region("chr1:1,000-2,000", point_if_single=True) == Region("chr1", 999, 2000)
    assert parse_region("chr1:100-", point_if_single=True) == Region("chr1", 99, None)
    # bcftools reads chr:pos as one position, samtools as pos to the end
    assert parse_region("chr1:100", point_if_single=True) == Region("chr1", 99, 100)
    assert parse_region("chr1:100", point_if_single=False) == Region("chr1", 99, None)


def test_contig_names_with_colons():
    contigs = ["HLA-A*01:01"]
    assert parse_region("HLA-A*01:01", point_if_single=True, contigs=contigs) == Region(
        "HLA-A*01:01"
    )
    assert parse_region("{HLA-A*01:01}:5-9", point_if_single=True) == Region("HLA-A*01:01", 4, 9)


def test_bad_regions():
    with pytest.raises(UsageError):
        parse_region("chr1:200-100", point_if_single=True)
    with pytest.raises(UsageError):
        parse_region("", point_if_single=True)


def test_region_list_with_thousands_separators():
    regions = parse_region_list("chr1:1,000-2,000,chr2", point_if_single=True)
    assert regions == [Region("chr1", 999, 2000), Region("chr2")]


def test_region_files(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nchr1\t0\t10\nchr2\t5\t6\textra\n")
    assert read_regions_file(str(bed)) == [Region("chr1", 0, 10), Region("chr2", 5, 6)]
    tab = tmp_path / "r.txt"
    tab.write_text("chr1\t1\t10\nchr2\t6\n")
    assert read_regions_file(str(tab)) == [Region("chr1", 0, 10), Region("chr2", 5, 6)]
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t0\t10\nchr1\tx\t5\n")
    with pytest.raises(DataError) as info:
        read_regions_file(str(bad))
    assert info.value.line == 2


def test_merge_regions():
    merged = merge_regions(
        [Region("a", 10, 20), Region("b", 0, 5), Region("a", 15, 30), Region("a", 40, 50)]
    )
    assert merged == [Region("a", 10, 30), Region("a", 40, 50), Region("b", 0, 5)]
