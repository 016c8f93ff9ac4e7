"""gfcli depth's segmented per-base path against pysam's samtools depth (1.24).

References are cut into small position segments here (the real minimum is 1 Mb), so
that reads cross segment boundaries and the BAI linear-index windows (16 kb) in every
way: starting before a segment and ending in it, spanning whole segments with a long
N or D, ending exactly at a boundary. -@ 1 and -@ 2 must both equal samtools.
"""

from __future__ import annotations

import random
from pathlib import Path

import pysam
import pytest

from gfcli.engine.depth import rows as drows

LENGTHS = {"r1": 120_000, "r2": 70_001, "r3": 30_000, "r4": 50_000}


def _write_bam(path: Path, seed: int, refs: dict[str, int], dup_only: str | None = None,
               n_reads: int = 2500) -> Path:
    """Random alignments: long skips and deletions, clips, insertions, low qualities,
    filtered flags; `dup_only` names a reference whose reads are all duplicates."""
    rng = random.Random(seed)
    names = list(refs)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": n, "LN": refs[n]} for n in names]}
    cigars = ["100M", "50M2D48M", "10S90M", "40M3I57M", "30M25000N30M", "5H95M",
              "20M18000D20M", "60M", "1M", "45M1D4M2I45M5S", "70M40000N10M"]
    tmp = Path(str(path) + ".unsorted.bam")
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for i in range(n_reads):
            tid = rng.randrange(len(names))
            length = refs[names[tid]]
            if tid == 0 and rng.random() < 0.5:
                pos = rng.randrange(length // 2)  # the second half of r1 is sparser
            else:
                pos = rng.randrange(max(1, length - 50))
            a = pysam.AlignedSegment(out.header)
            a.query_name = f"q{i // 2}"
            a.reference_id = tid
            a.reference_start = pos
            a.cigarstring = rng.choice(cigars)
            qlen = a.infer_query_length()
            a.query_sequence = "".join(rng.choice("ACGT") for _ in range(qlen))
            a.query_qualities = pysam.qualitystring_to_array(
                "".join(chr(33 + rng.choice([2, 12, 25, 40])) for _ in range(qlen)))
            flag = 0x1 | (0x40 if i % 2 == 0 else 0x80)
            if rng.random() < 0.08:
                flag |= rng.choice([0x400, 0x200, 0x100, 0x800])
            if dup_only is not None and names[tid] == dup_only:
                flag |= 0x400
            a.flag = flag
            a.mapping_quality = rng.choice([0, 20, 60])
            a.next_reference_id = tid
            a.next_reference_start = pos
            out.write(a)
    pysam.sort("-o", str(path), str(tmp))
    pysam.index(str(path))
    tmp.unlink()
    return path


@pytest.fixture(scope="module")
def bams(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("depthfast")
    one = _write_bam(d / "a.bam", 3, LENGTHS)
    # r3 only duplicates (nothing counted: -a prints none of it), no r4 at all
    two = _write_bam(d / "b.bam", 5, {**LENGTHS}, dup_only="r3", n_reads=1200)
    bed = d / "t.bed"
    bed.write_text("r1\t15000\t17000\nr1\t33000\t90000\nr2\t69990\t70005\nr4\t100\t200\n"
                   "r3\t0\t30000\n")
    return one, two, bed


def _gfcli(*args: str) -> str:
    from test_depth import _gfcli as run

    got = run(*args)
    assert got.returncode == 0, got.stderr
    return got.stdout


@pytest.fixture(params=[7_001, 16_384, 33_333])
def small_segments(request, monkeypatch) -> int:
    monkeypatch.setattr(drows, "_SEGMENT_MIN", request.param)
    monkeypatch.setattr(drows, "_SEGMENT_MAX", request.param)
    return request.param


CASES = ["", "-a", "-aa", "-J", "-q 20 -J", "-Q 30", "-l 60", "-g DUP", "-r r1:10000-80000",
         "-a -r r2:60000-70001", "-aa -r r4", "-b BED", "-a -b BED", "-H"]


@pytest.mark.parametrize("opts", CASES)
def test_segments_match_samtools(bams, small_segments, opts):
    one, two, bed = bams
    args = [a if a != "BED" else str(bed) for a in opts.split()]
    for files in ([one], [two], [one, two]):
        paths = [str(p) for p in files]
        expected = pysam.samtools.depth(*args, *paths)
        for threads in ("1", "2"):
            assert _gfcli("-@", threads, *args, *paths) == expected, (threads, files)


def test_segment_plan_cuts_references(bams, small_segments):
    """The fixture's sizes really split: every reference into several segments, each
    walk starting at its linear-index window (not the reference's first record)."""
    from gfcli.engine.depth.core import CountRules
    from gfcli.engine.depth.run import DepthRequest, _open_sources

    one, _, _ = bams
    rules = CountRules()
    sources = _open_sources(DepthRequest(inputs=[str(one)]), rules)
    rows = drows._Rows(0, 0, None, None, False)
    segments = drows.plan_segments(sources, rules, [0], None, lambda tid: rows, 2)
    assert len(segments) >= 4
    starts = [s.files[0][1] for s in segments]
    assert starts == sorted(starts)
    if small_segments > 16_384:
        assert len(set(starts)) > 1
    assert segments[-1].last and not any(s.last for s in segments[:-1])


@pytest.mark.parametrize("opts", ["-s", "-s -a"])
def test_overlaps_single_reference_not_split(bams, small_segments, opts):
    one, _, _ = bams
    args = opts.split()
    expected = pysam.samtools.depth(*args, "-r", "r1", str(one))
    for threads in ("1", "2"):
        assert _gfcli("-@", threads, *args, "-r", "r1", str(one)) == expected


def test_default_segments(bams):
    """The real segment sizes (one segment per small reference)."""
    one, two, _ = bams
    expected = pysam.samtools.depth("-a", str(one), str(two))
    assert _gfcli("-@", "2", "-a", str(one), str(two)) == expected
    assert _gfcli("-a", str(one), str(two)) == expected


def test_row_intervals():
    import numpy as np

    rows = drows._Rows(0, 0, None, np.array([[5, 8], [20, 40]]), False)
    spans = [np.array([[0, 6], [7, 25]]), np.array([[24, 30]])]
    assert drows.row_intervals(spans, True, 100, rows, 0, 200).tolist() == [5, 6, 7, 8, 20,
                                                                             30]
    allpos = drows._Rows(1, 10, 50, None, True)
    assert drows.row_intervals([], False, 100, allpos, 0, 30).tolist() == [10, 30]
    assert drows.row_intervals([], False, 100, allpos, 30, 200).tolist() == [30, 50]
    none = drows._Rows(1, 0, None, None, False)
    assert drows.row_intervals([], False, 100, none, 0, 200).tolist() == []


@pytest.mark.parametrize("name", ["1", "chrUn_KI270302v1", "HLA-DRB1*15:01:01:01_alt_contig_x"])
@pytest.mark.parametrize("n_files", [1, 3])
def test_format_rows_kernels(name, n_files):
    """Native and numba kernels = Python's formatting: POS carries (9 -> 10, 999999 ->
    1000000), prefixes past the 32 bytes kept in words, depths of 1-4+ digits and
    negative cells as 0, positions past the array as 0, buffers cut mid-interval."""
    import numpy as np

    from gfcli.engine.depth import native

    rng = np.random.default_rng(len(name) + n_files)
    stride = 1_000_100
    cov = rng.integers(-1, 12000, n_files * stride).astype(np.int32)
    cov[: 50 * n_files] = 3
    offset = 7
    ivals = np.array([7, 130, 990, 1012, 999_980, 1_000_020, 1_000_095, 1_000_120],
                     dtype=np.int64)
    expected = "".join(
        f"{name}\t{p + 1}\t" + "\t".join(
            str(max(0, int(cov[f * stride + p - offset])) if p - offset < stride else 0)
            for f in range(n_files)) + "\n"
        for a, b in zip(ivals[::2], ivals[1::2], strict=True) for p in range(a, b)).encode()
    name_bytes = np.frombuffer(name.encode(), dtype=np.uint8).copy()
    for kernels in (native.kernels(), native._Numba()):
        for cap in (200, 1 << 16):
            resume = np.zeros(2, dtype=np.int64)
            out = np.empty(cap, dtype=np.uint8)
            parts = []
            while resume[0] < len(ivals) // 2:
                n = kernels.format_rows(name_bytes, cov, n_files, stride, offset, ivals, resume,
                                        out)
                assert n > 0
                parts.append(bytes(out[:n]))
            assert b"".join(parts) == expected, (type(kernels).__name__, cap)
