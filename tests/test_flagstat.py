"""`gfcli flagstat` against samtools flagstat (pysam's bundled samtools) on generated data."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys

import pysam
import pytest

from gfcli.engine import flagstat as fs
from gfcli.engine.bam import reader

CONTIGS = [("c1", 50_000), ("c2", 40_000), ("c3", 30_000)]


def _header() -> pysam.AlignmentHeader:
    return pysam.AlignmentHeader.from_dict(
        {"HD": {"VN": "1.6"}, "SQ": [{"SN": n, "LN": ln} for n, ln in CONTIGS]}
    )


def _records(header: pysam.AlignmentHeader, n_random: int, seed: int, cram: bool = False):
    """Every flag value with mates on the same/another/no chromosome and MAPQ 0/4/5/60,
    unmapped reads placed and unplaced, then random reads for volume."""
    rng = random.Random(seed)
    combos = itertools.product(range(4096), ((0, 0), (0, 1), (1, -1), (-1, -1)), (0, 4, 5, 60))
    items = [(f, t, m, q) for f, (t, m), q in combos if rng.random() < 0.05]
    for _ in range(n_random):
        items.append((rng.randrange(4096), rng.choice([0, 1, 2, -1]), rng.choice([0, 1, 2, -1]),
                      rng.choice([0, 3, 5, 30, 60, 255])))
    for i, (flag, tid, mtid, mapq) in enumerate(items):
        if cram and tid < 0:
            flag |= 4  # CRAM refuses a mapped read without a position
        seg = pysam.AlignedSegment(header)
        seg.query_name = f"r{i}:{flag}"
        seg.flag = flag
        seg.reference_id = tid
        seg.reference_start = -1 if tid < 0 else rng.randrange(1, 20_000)
        seg.next_reference_id = mtid
        seg.next_reference_start = -1 if mtid < 0 else rng.randrange(1, 20_000)
        seg.mapping_quality = mapq
        length = rng.randrange(20, 120)
        seg.query_sequence = "".join(rng.choice("ACGT") for _ in range(length))
        seg.query_qualities = pysam.qualitystring_to_array("I" * length)
        if tid >= 0 and not flag & 4:
            seg.cigarstring = f"{length}M"
        seg.set_tag("NM", rng.randrange(5))
        seg.set_tag("XZ", "x" * rng.randrange(0, 40))
        yield seg


def _write(path, fmt: str, n_random: int = 3000, seed: int = 1, reference=None):
    header = _header()
    mode = {"bam": "wb", "sam": "w", "cram": "wc"}[fmt]
    kwargs = {"reference_filename": str(reference)} if reference else {}
    with pysam.AlignmentFile(str(path), mode, header=header, **kwargs) as out:
        for seg in _records(header, n_random, seed, cram=fmt == "cram"):
            out.write(seg)
    return path


def _reference(tmp_path):
    fasta = tmp_path / "ref.fa"
    rng = random.Random(3)
    fasta.write_text("".join(
        f">{n}\n" + "".join(rng.choice("ACGT") for _ in range(ln)) + "\n" for n, ln in CONTIGS
    ))
    pysam.faidx(str(fasta))
    return fasta


def _samtools(*args: str) -> str:
    return pysam.samtools.flagstat(*args)


def _gfcli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gfcli", "flagstat", *args], input=stdin,
                          capture_output=True, check=False)


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("fs") / "all.bam", "bam", n_random=20_000)


@pytest.fixture(scope="module")
def split_bam(bam):
    """The same records re-blocked by our writer, so records straddle BGZF blocks."""
    import gzip

    from gfcli.engine import bgzf

    path = bam.with_name("split.bam")
    path.write_bytes(bgzf.compress_payload(gzip.decompress(bam.read_bytes()), 1) + bgzf.EOF_BLOCK)
    return path


def test_split_bam_matches_samtools(split_bam):
    for threads in ("1", "2"):
        result = _gfcli("-@", threads, str(split_bam))
        assert result.stdout.decode() == _samtools(str(split_bam))


@pytest.mark.parametrize("fmt", [None, "json", "tsv"])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_bam_matches_samtools(bam, fmt, threads):
    extra = ["-O", fmt] if fmt else []
    result = _gfcli(*extra, "-@", threads, str(bam))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(*extra, str(bam))


@pytest.mark.parametrize("fmt", ["sam", "cram"])
def test_sam_and_cram_match_samtools(tmp_path, fmt, monkeypatch):
    reference = _reference(tmp_path)
    path = _write(tmp_path / f"x.{fmt}", fmt, n_random=2000, reference=reference)
    # No reference for reading CRAM: htslib must not need one for these fields.
    monkeypatch.setenv("REF_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("REF_CACHE", str(tmp_path / "nowhere"))
    result = _gfcli(str(path))
    assert result.returncode == 0, result.stderr
    extra = ["--input-fmt-option", f"reference={reference}"] if fmt == "cram" else []
    expected = _samtools(*extra, str(path))
    assert result.stdout.decode() == expected


def test_stdin_bam(bam):
    result = _gfcli("-", stdin=bam.read_bytes())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(str(bam))


def test_empty_bam(tmp_path):
    path = tmp_path / "empty.bam"
    with pysam.AlignmentFile(str(path), "wb", header=_header()):
        pass
    for extra in ([], ["-O", "json"], ["-O", "tsv"]):
        result = _gfcli(*extra, str(path))
        assert result.stdout.decode() == _samtools(*extra, str(path))


def test_percentages_rounded_like_samtools():
    # single-precision division as in samtools: 1/3 -> 33.33, 2/3 -> 66.67, 1/8 -> 12.50
    assert fs._percent(1, 3) == "33.33%"
    assert fs._percent(2, 3) == "66.67%"
    assert fs._percent(1, 8) == "12.50%"
    assert fs._percent(5, 0) == "N/A"


def test_not_alignments_is_one_line_error(tmp_path):
    path = tmp_path / "x.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    result = _gfcli(str(path))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("gfcli flagstat: error:")
    assert result.stderr.decode().count("\n") == 1


def test_bad_output_format_is_usage_error(bam):
    result = _gfcli("-O", "xml", str(bam))
    assert result.returncode == 2


def _count_chunks(chunks):
    total = fs.FlagstatCounts()
    spans = []
    for chunk in chunks:
        part = fs._count_chunk(chunk)
        total += part.counts
        spans += part.spans
    return total, spans


@pytest.mark.parametrize("target", [5_000, 20_000, 70_000])
@pytest.mark.parametrize("which", ["bam", "split_bam"])
def test_small_chunks_partition_exactly(request, which, target):
    bam = request.getfixturevalue(which)
    header = reader.read_header_from_path(str(bam))
    whole = fs._count_chunk(
        reader.BamChunk(str(bam), 0, header.n_ref, start_voffset=header.first_record)
    ).counts
    chunks = reader.plan_chunks(str(bam), header, None, target=target)
    assert len(chunks) > 3
    counts, spans = _count_chunks(chunks)
    assert reader.stitch_ok(spans)
    assert counts == whole


def test_index_chunks_partition_exactly(tmp_path):
    path = tmp_path / "sorted.bam"
    unsorted = _write(tmp_path / "u.bam", "bam", n_random=20_000, seed=5)
    pysam.sort("-o", str(path), str(unsorted))
    pysam.index(str(path))
    header = reader.read_header_from_path(str(path))
    chunks = reader.plan_chunks(str(path), header, str(path) + ".bai", target=20_000)
    assert len(chunks) > 3 and all(c.stop_byte is None for c in chunks)
    counts, spans = _count_chunks(chunks)
    assert reader.stitch_ok(spans)
    assert fs.format_text(counts) == _samtools(str(path))


@pytest.mark.parametrize("which", ["bam", "split_bam"])
def test_record_search_finds_true_boundaries(request, which):
    """From every block start, the resync search lands on the first record starting there."""
    from gfcli.engine import bgzf

    bam = request.getfixturevalue(which)
    header = reader.read_header_from_path(str(bam))
    starts = set()
    with pysam.AlignmentFile(str(bam), "rb") as handle:
        while True:
            v = handle.tell()
            try:
                next(handle)
            except StopIteration:
                break
            starts.add(v)
    data = bgzf.map_file(str(bam))
    addresses = bgzf.scan_blocks(data)
    for address in addresses[1:-1]:
        chunk = reader.BamChunk(str(bam), 0, header.n_ref, start_byte=address,
                                stop_byte=address + 1)
        batcher, pos = reader._chunk_batcher(chunk, data)
        expected = min(v for v in starts if v >> 16 >= address)
        assert batcher.voffset(pos) == expected


def test_numba_fallback_matches(split_bam, monkeypatch):
    """Without the native kernels (GFCLI_NO_NATIVE) the numba kernels give the same counts."""
    monkeypatch.setenv("GFCLI_NO_NATIVE", "1")
    result = _gfcli("-@", "2", str(split_bam))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(str(split_bam))
