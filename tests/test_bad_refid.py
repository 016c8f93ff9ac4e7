"""BAM records whose refID or next refID is outside [-1, n_ref): samtools 1.24 (htslib's
sam_read1) refuses them, so `depth`, `stats`, `view` and `filter` fail on them too, at
-@ 1 and -@ 2, with and without an index: exit 1, one line naming the file and the
record's virtual offset (flagstat's wording, see test_flagstat_threads)."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import struct
import subprocess
import sys

import pysam
import pytest

from gfcli.engine import bgzf

CONTIGS = [("c1", 50_000), ("c2", 40_000), ("c3", 30_000)]
N_MAPPED = 12_000
N_UNPLACED = 300
BAD_AT = N_MAPPED // 2  # a record in the middle of c2
TAIL_AT = N_MAPPED + N_UNPLACED // 2  # an unplaced unmapped read (after the last reference)

# case -> (record index, field offset after block_size, value, what the message says)
CASES = {
    "refid": (BAD_AT, 0, 1000, "reference id 1000"),
    "refid_neg": (BAD_AT, 0, -2, "reference id -2"),
    "mate": (BAD_AT, 20, 3, "mate reference id 3"),
    "mate_neg": (BAD_AT, 20, -5, "mate reference id -5"),
    "tail_mate": (TAIL_AT, 20, 7, "mate reference id 7"),
}


def _header() -> pysam.AlignmentHeader:
    return pysam.AlignmentHeader.from_dict(
        {"HD": {"VN": "1.6", "SO": "coordinate"},
         "SQ": [{"SN": n, "LN": ln} for n, ln in CONTIGS]})


def _segments(header: pysam.AlignmentHeader) -> list[pysam.AlignedSegment]:
    rng = random.Random(11)
    segs = []
    for i in range(N_MAPPED):
        tid = rng.randrange(3)
        length = rng.randrange(30, 100)
        mate = rng.choice([tid, tid, -1, 0, 1, 2])
        seg = pysam.AlignedSegment(header)
        seg.query_name = f"r{i}"
        seg.flag = 1 | 64 if mate >= 0 else 0
        seg.reference_id = tid
        seg.reference_start = rng.randrange(0, CONTIGS[tid][1] - length)
        seg.next_reference_id = mate
        seg.next_reference_start = -1 if mate < 0 else rng.randrange(0, 20_000)
        seg.mapping_quality = rng.choice([0, 20, 60])
        seg.query_sequence = "".join(rng.choice("ACGT") for _ in range(length))
        seg.query_qualities = pysam.qualitystring_to_array("I" * length)
        seg.cigarstring = f"{length}M"
        segs.append(seg)
    segs.sort(key=lambda s: (s.reference_id, s.reference_start))
    for i in range(N_UNPLACED):
        seg = pysam.AlignedSegment(header)
        seg.query_name = f"u{i}"
        seg.flag = 4
        seg.reference_id = seg.next_reference_id = -1
        seg.reference_start = seg.next_reference_start = -1
        seg.query_sequence = "ACGTACGT"
        seg.query_qualities = pysam.qualitystring_to_array("I" * 8)
        segs.append(seg)
    return segs


def _record_at(payload: bytes, k: int) -> int:
    pos = 8 + int.from_bytes(payload[4:8], "little")
    n_ref = int.from_bytes(payload[pos:pos + 4], "little")
    pos += 4
    for _ in range(n_ref):
        pos += 4 + int.from_bytes(payload[pos:pos + 4], "little") + 4
    for _ in range(k):
        pos += 4 + int.from_bytes(payload[pos:pos + 4], "little")
    return pos


@pytest.fixture(scope="module")
def bams(tmp_path_factory):
    """name -> path: "good" and every case, each indexed ("<case>") and not
    ("<case>_noidx"). Written as stored BGZF blocks, so a record's bytes changed in place
    keep every block size: the good file's index fits the broken ones (as for a file
    damaged after it was indexed, which `samtools index` would refuse to index)."""
    root = tmp_path_factory.mktemp("badref")
    header = _header()
    first = root / "first.bam"
    with pysam.AlignmentFile(str(first), "wb", header=header) as out:
        for seg in _segments(header):
            out.write(seg)
    payload = gzip.decompress(first.read_bytes())
    made = {}

    def write(name: str, data: bytes, index: bool) -> None:
        path = root / f"{name}.bam"
        path.write_bytes(bgzf.compress_payload(data, 0) + bgzf.EOF_BLOCK)
        if index:
            shutil.copy(root / "good.bam.bai", f"{path}.bai")
        made[name] = str(path)

    write("good", payload, False)
    pysam.index(made["good"])
    write("good_noidx", payload, False)
    for case, (k, field, value, _) in CASES.items():
        data = bytearray(payload)
        struct.pack_into("<i", data, _record_at(data, k) + 4 + field, value)
        write(case, bytes(data), True)
        write(f"{case}_noidx", bytes(data), False)
    return made


def _gfcli(*args: str, env: dict[str, str] | None = None, stdin=None
           ) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "gfcli", *args], env=full, stdin=stdin,
                          capture_output=True, check=False)


def _samtools_fails(command: str, *args: str) -> bool:
    try:
        getattr(pysam.samtools, command)(*args)
    except pysam.utils.SamtoolsError:
        return True
    return False


def _assert_refused(result: subprocess.CompletedProcess, path: str, case: str) -> None:
    message = result.stderr.decode()
    assert result.returncode == 1, message
    assert message.count("\n") == 1, message
    assert f"{path}: BAM record at virtual offset " in message, message
    assert f"{CASES[case][3]} out of range (the header has 3 references)" in message, message


THREADS = ["1", "2"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["depth", "stats"])
def test_depth_stats_refuse_like_samtools(bams, command, case):
    for name in (case, f"{case}_noidx"):
        path = bams[name]
        assert _samtools_fails(command, path), (command, name)
        for threads in THREADS:
            _assert_refused(_gfcli(command, "-@", threads, path), path, case)


@pytest.mark.parametrize("command", ["depth", "stats"])
def test_good_file_matches(bams, command):
    """The same file without the damage: no error, and depth's rows are samtools'."""
    for name in ("good", "good_noidx"):
        for threads in THREADS:
            result = _gfcli(command, "-@", threads, bams[name])
            assert result.returncode == 0, result.stderr
            if command == "depth":
                assert result.stdout.decode() == pysam.samtools.depth(bams[name])


def test_depth_stats_without_native_kernels(bams):
    """The numba kernels (GFCLI_NO_NATIVE=1) refuse the same records."""
    for case in ("refid", "mate", "tail_mate"):
        for name in (case, f"{case}_noidx"):
            result = _gfcli("depth", "-@", "2", bams[name], env={"GFCLI_NO_NATIVE": "1"})
            _assert_refused(result, bams[name], case)
            result = _gfcli("stats", bams[name], env={"GFCLI_NO_NATIVE": "1"})
            _assert_refused(result, bams[name], case)


def test_depth_region_reads_what_samtools_reads(bams):
    """With -r samtools reads only the region's records (an index query): a bad record on
    another reference, or among the unplaced reads, is not met."""
    for case, region, fails in (("refid", "c1", False), ("mate", "c1", False),
                                ("refid", "c2", True), ("mate", "c2", True),
                                ("tail_mate", "c2", False), ("tail_mate", "c3", False)):
        path = bams[case]
        assert _samtools_fails("depth", "-r", region, path) == fails, (case, region)
        result = _gfcli("depth", "-r", region, path)
        if fails:
            _assert_refused(result, path, case)
        else:
            assert result.returncode == 0, result.stderr
            assert result.stdout.decode() == pysam.samtools.depth("-r", region, path)


def test_stdin(bams):
    for command in ("depth", "stats"):
        with open(bams["mate"], "rb") as handle:
            result = _gfcli(command, "-", stdin=handle)
        assert result.returncode == 1
        assert b"stdin: BAM record at virtual offset" in result.stderr
        assert b"mate reference id 3 out of range" in result.stderr


VIEWS = [
    ("view", [], []),  # SAM text
    ("view", ["-O", "bam"], ["-b"]),  # raw record copy
    ("view", ["-c"], ["-c"]),
    ("filter", ["-q", "20"], ["-q", "20"]),  # the bad records are MAPQ 0
    ("filter", ["-q", "20", "-O", "bam"], ["-b", "-q", "20"]),
    ("filter", ["-c", "-i", "mapq>=20"], ["-c", "-e", "mapq>=20"]),
]


@pytest.mark.parametrize("case", list(CASES))
def test_view_filter_refuse_like_samtools(bams, case, tmp_path):
    """samtools view fails ("error reading file") whether or not the record is kept."""
    for name in (case, f"{case}_noidx"):
        path = bams[name]
        for command, ours, theirs in VIEWS:
            assert _samtools_fails("view", *theirs, path), (name, theirs)
            for threads in THREADS:
                result = _gfcli(command, "-@", threads, *ours, "-o",
                                str(tmp_path / "out"), path)
                assert not (tmp_path / "out").exists()  # atomic output: nothing left
                _assert_refused(result, path, case)


def test_view_filter_good_file(bams):
    for name in ("good", "good_noidx"):
        path = bams[name]
        for command, ours, theirs in VIEWS:
            if "-O" in ours:
                continue
            expected = pysam.samtools.view(*theirs, path)
            for threads in THREADS:
                result = _gfcli(command, "-@", threads, *ours, path)
                assert result.returncode == 0, result.stderr
                assert result.stdout.decode() == expected, (name, ours)


def test_view_without_native_kernels(bams):
    for name in ("mate", "tail_mate_noidx"):
        case = name.removesuffix("_noidx")
        for args in ([], ["-O", "bam"], ["-c"]):
            result = _gfcli("view", *args, bams[name], env={"GFCLI_NO_NATIVE": "1"})
            _assert_refused(result, bams[name], case)
