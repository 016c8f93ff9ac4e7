"""`gfcli flagstat -@ 1`: one helper thread inflating ahead, checked against samtools."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pysam
import pytest
from test_flagstat import _header, _samtools, _write

from gfcli.engine import bgzf
from gfcli.engine import flagstat as fs
from gfcli.engine.bam import prefetch, reader


def _gfcli(*args: str, batch: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if batch is not None:
        env["GFCLI_PREFETCH_BATCH"] = str(batch)
    return subprocess.run([sys.executable, "-m", "gfcli", "flagstat", *args], env=env,
                          capture_output=True, check=False)


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    # ~40k records, a few MB decompressed: dozens of batches at the forced 64 KiB size.
    return _write(tmp_path_factory.mktemp("fst") / "t.bam", "bam", n_random=30_000, seed=7)


@pytest.fixture(scope="module")
def split_bam(bam):
    """Re-blocked by our writer so records straddle BGZF blocks (and batches)."""
    path = bam.with_name("t_split.bam")
    path.write_bytes(bgzf.compress_payload(gzip.decompress(bam.read_bytes()), 1) + bgzf.EOF_BLOCK)
    return path


@pytest.mark.parametrize("fmt", [None, "json", "tsv"])
@pytest.mark.parametrize("batch", [None, 65536, 100_003])
def test_threaded_matches_samtools(bam, split_bam, fmt, batch):
    extra = ["-O", fmt] if fmt else []
    for path in (bam, split_bam):
        result = _gfcli(*extra, "-@", "1", str(path), batch=batch)
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == _samtools(*extra, str(path))


def test_many_batches_counted_once(split_bam, monkeypatch):
    """In process: the batch size really splits the file, and counts equal the serial walk."""
    monkeypatch.setenv("GFCLI_PREFETCH_BATCH", "65536")
    header = reader.read_header_from_path(str(split_bam))
    seen = []
    counter = fs._Counter()

    def consume(view, start, limit, end):
        seen.append(end - start)
        return counter(view, start, limit, end)

    prefetch.walk_file(str(split_bam), header.first_record, consume)
    assert len(seen) > 20
    serial = fs._count_chunk(
        reader.BamChunk(str(split_bam), 0, header.n_ref, start_voffset=header.first_record)
    )
    assert counter.result() == serial.counts
    assert counter.result().passed(0) + counter.result().failed(0) > 30_000


def test_record_longer_than_headroom(tmp_path):
    """A record bigger than the room kept before a batch is carried whole."""
    header = _header()
    path = tmp_path / "long.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, length in enumerate([100, 1_500_000, 100, 900_000, 50]):
            seg = pysam.AlignedSegment(header)
            seg.query_name = f"long{i}"
            seg.flag = 0 if i % 2 else 4 | 1 | 64
            seg.reference_id = 0 if i % 2 else -1
            seg.reference_start = 10 if i % 2 else -1
            seg.next_reference_id = -1
            seg.next_reference_start = -1
            seg.mapping_quality = 30
            seg.query_sequence = "A" * length
            seg.query_qualities = pysam.qualitystring_to_array("I" * length)
            if i % 2:
                seg.cigarstring = f"{length}M"
            out.write(seg)
    for batch in (65536, None):
        result = _gfcli("-@", "1", str(path), batch=batch)
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == _samtools(str(path))


def _rewrite(src, dst, mutate) -> None:
    payload = bytearray(gzip.decompress(src.read_bytes()))
    mutate(payload)
    dst.write_bytes(bgzf.compress_payload(bytes(payload), 1) + bgzf.EOF_BLOCK)


def test_truncated_and_malformed_errors_match_serial(bam, tmp_path):
    def records_start(payload: bytearray) -> int:
        pos = 8 + int.from_bytes(payload[4:8], "little")
        n_ref = int.from_bytes(payload[pos:pos + 4], "little")
        pos += 4
        for _ in range(n_ref):
            pos += 4 + int.from_bytes(payload[pos:pos + 4], "little") + 4
        return pos

    def truncate(payload: bytearray) -> None:
        del payload[len(payload) - 30:]

    def corrupt(payload: bytearray) -> None:
        # A block_size too small for a record's fixed fields, far into the file.
        pos = records_start(payload)
        for _ in range(25_000):
            pos += 4 + int.from_bytes(payload[pos:pos + 4], "little")
        payload[pos:pos + 4] = (8).to_bytes(4, "little")

    for name, mutate in (("truncated", truncate), ("corrupt", corrupt)):
        path = tmp_path / f"{name}.bam"
        _rewrite(bam, path, mutate)
        serial = _gfcli("-@", "0", str(path))
        assert serial.returncode != 0
        for batch in (65536, None):
            threaded = _gfcli("-@", "1", str(path), batch=batch)
            assert threaded.returncode == serial.returncode
            assert threaded.stderr == serial.stderr
            assert threaded.stdout == b""


def test_numba_fallback_threaded(split_bam, monkeypatch):
    """Without the native kernels the numba kernel reads the batch through a numpy view."""
    monkeypatch.setenv("GFCLI_NO_NATIVE", "1")
    result = _gfcli("-@", "1", str(split_bam), batch=65536)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(str(split_bam))
