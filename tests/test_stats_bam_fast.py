"""`gfcli stats` on BAM after the speed work (issue #5): the precompiled kernel, the
slicing-by-8 CRC32, the per-strand base counts and the chunked merge, against samtools
stats 1.24 (pysam's) at -@1 and -@2 with chunks small enough to cut through every kind of
read (secondary, supplementary, unmapped, QC-fail, duplicates), with -f/-F, -r, -t, and
with the numba kernels in place of the precompiled ones.
"""

from __future__ import annotations

import os
import random
import sys
import zlib
from pathlib import Path

import numpy as np
import pysam
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alignment_data import make_alignment_files  # noqa: E402

from gfcli.engine.source import open_input  # noqa: E402
from gfcli.engine.stats import alignments  # noqa: E402
from gfcli.engine.stats.base import StatsRequest  # noqa: E402


def _body(text: str) -> list[str]:
    skip = ("# This file was produced", "# This file contains", "# The command line")
    return [line for line in text.splitlines() if not line.startswith(skip)]


def _request(path, threads=1, **kw):
    return StatsRequest(inputs=[str(path)], threads=threads, **kw).resolve("alignments")


def _ours(path, threads=1, **kw) -> str:
    req = _request(path, threads, **kw)
    return alignments.compute(req, open_input(str(path))).render_text(req)


def _assert_same(ours: str, ref: str) -> None:
    a, b = _body(ours), _body(ref)
    if a != b:
        import difflib

        diff = list(difflib.unified_diff(b, a, "samtools", "gfcli", lineterm="", n=0))
        raise AssertionError("\n".join(diff[:40]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bamfast")
    files = make_alignment_files(d, n_pairs=4000, seed=23)
    targets = d / "targets.bed"
    targets.write_text("chr1\t2000\t70000\nchr1\t65000\t90000\nchr2\t10\t119000\n")
    return {"files": files, "targets": targets}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of ~20 kB compressed: dozens of them, cut wherever the bytes fall."""
    import gfcli.engine.chunks as chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 20000)


CASES = [
    ({}, []),
    ({"filtering_flag": 0x904, "required_flag": 0x1}, ["-F", "0x904", "-f", "1"]),
    ({"required_flag": 0x80}, ["-f", "0x80"]),
    ({"filtering_flag": 0x600}, ["-F", "0x600"]),
]


@pytest.mark.parametrize("kw,args", CASES)
def test_threads_match_samtools(data, small_chunks, kw, args):
    path = data["files"].bam
    ref = pysam.samtools.stats(*args, str(path))
    for threads in (1, 2):
        _assert_same(_ours(path, threads, **kw), ref)


@pytest.mark.parametrize("with_ref,with_targets", [(True, False), (False, True), (True, True)])
def test_reference_and_targets_match_samtools(data, small_chunks, with_ref, with_targets):
    path = data["files"].bam
    kw: dict = {}
    args: list[str] = []
    if with_ref:
        kw["reference"] = str(data["files"].fasta)
        args += ["-r", str(data["files"].fasta)]
    if with_targets:
        kw["target_regions"] = str(data["targets"])
        args += ["-t", str(data["targets"])]
    ref = pysam.samtools.stats(*args, str(path))
    for threads in (1, 2):
        _assert_same(_ours(path, threads, **kw), ref)


def test_chunk_merge_is_exact_without_the_one_pass_fallback(data):
    """The split path itself must be exact on a sorted file of short reads: no chunk may
    ask for the single-pass recomputation that would hide a merge bug."""
    from gfcli.engine.bam import reader

    path = str(data["files"].bam)
    req = _request(path)
    settings = alignments.settings_from_request(req)
    header = reader.read_header_from_path(path)
    task = alignments._ChunkTask(settings, header.names, header.lengths, header.first_record)
    chunks = reader.plan_chunks(path, header, None, target=15000)
    assert len(chunks) > 10
    merged = None
    spans = []
    for chunk in chunks:
        part, span = task(chunk)
        spans.append(span)
        if merged is None:
            merged = part
        else:
            merged += part
    assert reader.stitch_ok(spans)
    assert merged is not None
    assert not alignments._needs_one_pass(merged, len(chunks)), merged.inexact
    _assert_same(merged.render_text(req), pysam.samtools.stats(path))


def test_numba_kernels_match_the_precompiled_ones(data, small_chunks, monkeypatch):
    from gfcli.engine.bam import stats_native

    path = data["files"].bam
    fasta = str(data["files"].fasta)
    assert stats_native.load() is not None, "the precompiled kernels did not build"
    native = [_ours(path, t, reference=fasta) for t in (1, 2)]
    monkeypatch.setattr(stats_native, "load", lambda: None)
    jitted = [_ours(path, t, reference=fasta) for t in (1, 2)]
    assert native == jitted
    assert native[0] == native[1]


def test_precompiled_kernels_load_warm_in_a_fresh_process(data):
    """Built in one process, loaded from the object cache in the next (the memset trap of
    nativekit): both runs must print samtools' numbers."""
    import subprocess

    path = str(data["files"].bam)
    ref = _body(pysam.samtools.stats(path))
    for _ in range(2):
        out = subprocess.run([sys.executable, "-m", "gfcli", "stats", "-@", "1", path],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "GFCLI_PROGRESS": "0"})
        assert _body(out.stdout) == ref
        probe = ("import sys; from gfcli.engine.bam import stats_native as n; "
                 "assert n.load() is not None; assert 'numba' not in sys.modules")
        subprocess.run([sys.executable, "-c", probe], check=True)


def test_min_mapq_is_a_read_filter(data, tmp_path):
    """gfcli's --min-MQ (samtools stats has no such option) drops reads like
    `samtools view -q` before stats and counts them like -F does: as filtered sequences,
    still in the raw total."""
    path = str(data["files"].bam)
    kept = tmp_path / "q20.bam"
    pysam.samtools.view("-b", "-q", "20", "-o", str(kept), path, catch_stdout=False)
    ours = _body(_ours(path, 1, min_mapq=20))
    ref = _body(pysam.samtools.stats(str(kept)))
    with pysam.AlignmentFile(path) as bam:
        reads = list(bam.fetch(until_eof=True))
    dropped = sum(1 for r in reads if r.mapping_quality < 20)
    assert dropped > 0
    assert f"SN\tfiltered sequences:\t{dropped}" in ours
    raw = "SN\traw total sequences:\t"
    kept = next(int(x.split("\t")[2]) for x in ref if x.startswith("SN\tsequences:"))
    assert f"{raw}{kept + dropped}\t# excluding supplementary and secondary reads" in ours
    counts = (raw, "SN\tfiltered sequences:")
    assert [x for x in ours if not x.startswith(counts)] == [
        x for x in ref if not x.startswith(counts)]


def test_mapped_reads_per_sequence(data):
    """The JSON summary's reads per chromosome: primary, mapped, with a sequence."""
    path = str(data["files"].bam)
    acc = alignments.compute(_request(path), open_input(path))
    per = acc.to_json()["summary"]["mapped_reads_per_sequence"]
    want: dict[str, int] = {}
    with pysam.AlignmentFile(path) as bam:
        names = list(bam.references)
        for r in bam.fetch(until_eof=True):
            if r.flag & 0x904 or r.reference_id < 0 or not r.query_length:
                continue
            want[names[r.reference_id]] = want.get(names[r.reference_id], 0) + 1
    assert {k: v for k, v in per.items() if v} == want


def test_crc32_matches_zlib():
    from gfcli.engine.bam import stats_kernels as k
    from gfcli.engine.bam.stats_layout import _CRC_TABLE

    rng = random.Random(5)
    for n in [*range(0, 40), 149, 150, 151, 1000]:
        raw = bytes(rng.randrange(256) for _ in range(n + 9))
        buf = np.frombuffer(raw, dtype=np.uint8)
        start = rng.randrange(9)
        assert k._crc32(_CRC_TABLE, buf, start, n) == zlib.crc32(raw[start:start + n])


# --------------------------------------------------------------------------- -q (BWA trim)


def _trim_bam(directory: Path, n: int = 3000, seed: int = 41) -> Path:
    """Reads whose sequenced 3' ends fall off in quality, on both strands: the BAM stores
    a reverse read's qualities reversed, so its tail is at the alignment's left end. Also
    reads around BWA's 35-base floor, one long low-quality stretch, dips that stop the
    running sum, QUAL '*', secondary and supplementary reads (SEQ/QUAL '*' or not),
    unmapped reads (some reverse), QC-fail and duplicates."""
    rng = random.Random(seed)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": "c1", "LN": 500000}, {"SN": "c2", "LN": 300000}]}
    recs = []
    for i in range(n):
        length = rng.choice((150, 150, 151, 100, 76, 36, 35, 34, 20, 250))
        quals = [rng.randint(25, 41) for _ in range(length)]
        tail = rng.choice((0, 0, 5, 20, 60, length))
        for j in range(max(0, length - tail), length):  # as sequenced: 3' end last
            quals[j] = rng.choice((2, 2, 10, 15, 19, 20, 21, 30))
        if rng.random() < 0.1:  # a high-quality dip inside the tail
            j = rng.randrange(length)
            quals[j : j + 3] = [40] * len(quals[j : j + 3])
        flag = rng.choice((0, 16, 0x41, 0x51, 0x81, 0x91, 0x100, 0x110, 0x800, 0x810,
                           0x200, 0x400, 0x4, 0x14, 0x45))
        reverse = bool(flag & 0x10)
        rec = pysam.AlignedSegment()
        rec.query_name = f"r{i}"
        rec.flag = flag
        rec.query_sequence = "".join(rng.choice("ACGT") for _ in range(length))
        if flag & 0x100 and rng.random() < 0.5:
            rec.query_sequence = None  # SEQ and QUAL '*'
        elif rng.random() < 0.03:
            pass  # QUAL '*' (stored as 0xff)
        else:
            rec.query_qualities = pysam.qualitystring_to_array(
                "".join(chr(33 + q) for q in (quals[::-1] if reverse else quals)))
        if flag & 0x4:
            rec.reference_id = -1 if rng.random() < 0.5 else 1
            rec.reference_start = -1 if rec.reference_id < 0 else rng.randrange(290000)
            rec.cigartuples = None
            rec.mapping_quality = 0
        else:
            rec.reference_id = rng.randrange(2)
            rec.reference_start = rng.randrange(290000)
            rec.cigartuples = [(0, length)] if rec.query_sequence else [(0, 150)]
            rec.mapping_quality = rng.randrange(61)
        recs.append(rec)
    recs.sort(key=lambda r: (r.reference_id < 0, r.reference_id, r.reference_start))
    path = directory / "trim.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for rec in recs:
            out.write(rec)
    pysam.index(str(path))
    return path


@pytest.fixture(scope="module")
def trim_bam(tmp_path_factory):
    return _trim_bam(tmp_path_factory.mktemp("trim"))


def _trimmed(text: str) -> int:
    line = next(x for x in text.splitlines() if x.startswith("SN\tbases trimmed:"))
    return int(line.split("\t")[2])


@pytest.mark.parametrize("q", [0, 5, 20, 30, 40])
def test_trim_quality_matches_samtools(trim_bam, small_chunks, q):
    """-q is samtools stats' BWA trimming threshold: it only feeds 'bases trimmed'."""
    path = str(trim_bam)
    ref = pysam.samtools.stats("-q", str(q), path)
    assert (_trimmed(ref) > 0) == (q > 0)
    untrimmed = _body(pysam.samtools.stats(path))
    changed = [a for a, b in zip(_body(ref), untrimmed, strict=True) if a != b]
    assert all(x.startswith("SN\tbases trimmed:") for x in changed)
    for threads in (1, 2):
        _assert_same(_ours(path, threads, trim_quality=q), ref)
    _assert_same(_ours(path, 1, trim_quality=q, filtering_flag=0x10),
                 pysam.samtools.stats("-q", str(q), "-F", "0x10", path))


def test_trim_quality_on_the_command_line(data, trim_bam, tmp_path):
    """`gfcli stats -q 20` as a ported `samtools stats -q 20`, on BAM, SAM and CRAM; the
    MAPQ filter is only --min-MQ."""
    import subprocess

    def cli(*args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-m", "gfcli", "stats", *args],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "GFCLI_PROGRESS": "0"})
        return _body(out.stdout)

    bam = str(trim_bam)
    sam = str(tmp_path / "trim.sam")
    pysam.samtools.view("-h", "-o", sam, bam, catch_stdout=False)
    ref = _body(pysam.samtools.stats("-q", "20", bam))
    assert cli("-q", "20", bam) == ref
    assert cli("--trim-quality", "20", "-@", "2", sam) == ref
    files = data["files"]
    fasta = str(files.fasta)
    cram_ref = pysam.samtools.stats("-q", "30", "-r", fasta, str(files.cram))
    assert _trimmed(cram_ref) > 0
    assert cli("-q", "30", "-r", fasta, str(files.cram)) == _body(cram_ref)
    assert cli("--min-MQ", "20", bam) == _body(_ours(bam, 1, min_mapq=20))
