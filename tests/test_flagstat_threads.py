"""`gfcli flagstat` at -@ 0/1/2 against samtools, through the native run inflater and the
Python per-block loop, with many batch boundaries; errors identical on every path."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys

import pysam
import pytest
from test_flagstat import _header, _samtools, _write

from gfcli.engine import bgzf, bgzf_native
from gfcli.engine import flagstat as fs
from gfcli.engine.bam import prefetch, reader
from gfcli.engine.errors import DataError

NATIVE = bgzf_native.available()
needs_native = pytest.mark.skipif(not NATIVE, reason="no C compiler or libdeflate here")

# (label, extra environment): the native run inflater and the forced Python loop
PATHS = [("native", {}), ("python", {"GFCLI_NO_NATIVE_INFLATE": "1"})]


def _gfcli(*args: str, env: dict[str, str] | None = None,
           batch: int | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("GFCLI_NO_NATIVE_INFLATE", None)
    full.update(env or {})
    if batch is not None:
        full["GFCLI_PREFETCH_BATCH"] = str(batch)
    return subprocess.run([sys.executable, "-m", "gfcli", "flagstat", *args], env=full,
                          capture_output=True, check=False)


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    # ~40k records, a few MB decompressed: dozens of batches at a forced 64 KiB size.
    return _write(tmp_path_factory.mktemp("fst") / "t.bam", "bam", n_random=30_000, seed=7)


@pytest.fixture(scope="module")
def split_bam(bam):
    """Re-blocked by our writer so records straddle BGZF blocks (and batches)."""
    path = bam.with_name("t_split.bam")
    path.write_bytes(bgzf.compress_payload(gzip.decompress(bam.read_bytes()), 1)
                     + bgzf.EOF_BLOCK)
    return path


@pytest.mark.parametrize("label,env", PATHS)
@pytest.mark.parametrize("threads", ["0", "1", "2"])
def test_matches_samtools(bam, split_bam, label, env, threads):
    for path in (bam, split_bam):
        for fmt in (None, "json"):
            extra = ["-O", fmt] if fmt else []
            result = _gfcli(*extra, "-@", threads, str(path), env=env, batch=100_003)
            assert result.returncode == 0, result.stderr
            assert result.stdout.decode() == _samtools(*extra, str(path))


@pytest.mark.parametrize("batch", [1, 65536, 100_003, None])
def test_threaded_batches_match_samtools(split_bam, batch):
    result = _gfcli("-@", "1", str(split_bam), batch=batch)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(str(split_bam))


def _serial_counts(path) -> fs.FlagstatCounts:
    header = reader.read_header_from_path(str(path))
    return fs._count_chunk(
        reader.BamChunk(str(path), 0, header.n_ref, start_voffset=header.first_record)
    ).counts


def _small_reader_batches(monkeypatch) -> None:
    """64 KiB reader batches in a buffer of 64 KiB + two blocks (the default capacity is
    bound when Batcher is defined)."""
    monkeypatch.setattr(reader, "BATCH_BYTES", 65536)
    monkeypatch.setattr(reader.Batcher.__init__, "__defaults__", (None, 0, 65536))


@pytest.mark.parametrize("native", [True, False])
def test_small_reader_batches_in_process(split_bam, monkeypatch, native):
    """-@ 0 with 64 KiB batches, native runs or the Python loop: same counts as samtools."""
    if native and not NATIVE:
        pytest.skip("no native inflater here")
    _small_reader_batches(monkeypatch)
    if not native:
        monkeypatch.setattr(reader, "_native_inflater", lambda data, name: None)
    calls = []
    more = reader.Batcher.more

    def counting_more(self, want=None):
        calls.append(want)
        return more(self, want)

    monkeypatch.setattr(reader.Batcher, "more", counting_more)
    counts = _serial_counts(split_bam)
    assert len(calls) > 20
    text = fs.format_text(counts)
    assert text == _samtools(str(split_bam))


@needs_native
def test_many_threaded_batches_counted_once(split_bam):
    """In process: small batches really split the file (both threads inflate some), and
    the counts equal the serial walk's."""
    header = reader.read_header_from_path(str(split_bam))
    seen = []
    counter = fs._Counter(header.n_ref)

    def consume(view, start, limit, end):
        seen.append(end - start)
        return counter(view, start, limit, end)

    prefetch.walk_file(str(split_bam), header.first_record, consume, header.n_ref,
                       batch_bytes=65536)
    assert len(seen) > 20
    assert counter.result() == _serial_counts(split_bam)
    assert counter.result().passed(0) + counter.result().failed(0) > 30_000


def _long_reads_bam(path, lengths):
    header = _header()
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, length in enumerate(lengths):
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
    return path


def test_records_longer_than_headroom_and_batch(tmp_path):
    """Records bigger than the room kept before a threaded batch (1 MiB) and than the
    serial reader's batch (4 MiB): carried whole on every path."""
    path = _long_reads_bam(tmp_path / "long.bam", [100, 1_500_000, 100, 2_400_000, 50])
    expected = _samtools(str(path))
    for label, env in PATHS:
        for threads in ("0", "1", "2"):
            for batch in (65536, None):
                result = _gfcli("-@", threads, str(path), env=env, batch=batch)
                assert result.returncode == 0, (label, threads, result.stderr)
                assert result.stdout.decode() == expected, (label, threads, batch)


def _records_start(payload: bytes) -> int:
    pos = 8 + int.from_bytes(payload[4:8], "little")
    n_ref = int.from_bytes(payload[pos:pos + 4], "little")
    pos += 4
    for _ in range(n_ref):
        pos += 4 + int.from_bytes(payload[pos:pos + 4], "little") + 4
    return pos


def _record_at(payload: bytes, k: int) -> int:
    pos = _records_start(payload)
    for _ in range(k):
        pos += 4 + int.from_bytes(payload[pos:pos + 4], "little")
    return pos


def _rewrite(src, dst, mutate) -> None:
    payload = bytearray(gzip.decompress(src.read_bytes()))
    mutate(payload)
    dst.write_bytes(bgzf.compress_payload(bytes(payload), 1) + bgzf.EOF_BLOCK)


def _block_patched(src, dst, which: str) -> None:
    """A BGZF-level fault in a block far into the file."""
    blob = bytearray(src.read_bytes())
    addresses = bgzf.scan_blocks(blob)
    a = addresses[len(addresses) * 2 // 3]
    total = bgzf.block_size(blob, a)
    if which == "crc":
        blob[a + total - 8] ^= 1
    elif which == "deflate":
        blob[a + 18:a + 26] = b"\xff" * 8
    elif which == "isize":
        struct.pack_into("<I", blob, a + total - 4, 70_000)
    elif which == "truncated":
        del blob[a + total - 5:]
    elif which == "header":
        blob[a:a + 2] = b"\x1f\x8c"
    dst.write_bytes(bytes(blob))


@pytest.fixture(scope="module")
def broken(split_bam, tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    made = {}

    def truncate(payload: bytearray) -> None:
        del payload[len(payload) - 30:]

    def bad_size(payload: bytearray) -> None:
        # A block_size too small for a record's fixed fields, far into the file.
        pos = _record_at(payload, 25_000)
        payload[pos:pos + 4] = (8).to_bytes(4, "little")

    def refid(field_offset: int, value: int):
        def mutate(payload: bytearray) -> None:
            pos = _record_at(payload, 20_000)
            struct.pack_into("<i", payload, pos + 4 + field_offset, value)
        return mutate

    for name, mutate in (("record_cut", truncate), ("bad_record", bad_size),
                         ("refid", refid(0, 1000)), ("mate_refid", refid(20, 3)),
                         ("refid_neg", refid(0, -2))):
        made[name] = root / f"{name}.bam"
        _rewrite(split_bam, made[name], mutate)
    for which in ("crc", "deflate", "isize", "truncated", "header"):
        made[which] = root / f"{which}.bam"
        _block_patched(split_bam, made[which], which)
    return made


@pytest.mark.parametrize("case", ["record_cut", "bad_record", "refid", "mate_refid",
                                  "refid_neg", "crc", "deflate", "isize", "truncated",
                                  "header"])
def test_errors_identical_on_every_path(broken, case):
    """One line naming the file and the place, exit 1; the same from the Python loop at
    -@ 0 (the reference), native runs, the threaded walk and worker processes."""
    path = str(broken[case])
    reference = _gfcli("-@", "0", path, env=PATHS[1][1])
    assert reference.returncode == 1
    assert reference.stdout == b""
    line = reference.stderr.decode()
    assert line.count("\n") == 1 and f"{path}: " in line, line
    for label, env in PATHS:
        for threads in ("0", "1", "2"):
            for batch in (65536, None):
                result = _gfcli("-@", threads, path, env=env, batch=batch)
                assert (result.returncode, result.stdout) == (1, b""), (label, threads)
                assert result.stderr == reference.stderr, (label, threads, batch)


def test_refid_errors_as_samtools(broken):
    """samtools (htslib's sam_read1) refuses a record whose refID or next refID is not in
    [-1, n_ref): no counts, exit 1; gfcli names the record and the reference count."""
    for case, what in (("refid", "reference id 1000"), ("mate_refid", "mate reference id 3"),
                       ("refid_neg", "reference id -2")):
        path = str(broken[case])
        with pytest.raises(pysam.utils.SamtoolsError):
            pysam.samtools.flagstat(path)
        result = _gfcli(path)
        assert result.returncode == 1
        message = result.stderr.decode()
        assert f"{what} out of range (the header has 3 references)" in message
        assert "BAM record at virtual offset " in message


def test_refid_error_from_stdin(broken):
    result = subprocess.run([sys.executable, "-m", "gfcli", "flagstat", "-"],
                            stdin=open(broken["refid"], "rb"), capture_output=True,
                            check=False)
    assert result.returncode == 1
    assert b"stdin: BAM record at virtual offset" in result.stderr
    assert b"reference id 1000 out of range" in result.stderr


def test_header_only_and_zero_byte_files(tmp_path):
    header_only = tmp_path / "header.bam"
    with pysam.AlignmentFile(str(header_only), "wb", header=_header()):
        pass
    zero = tmp_path / "zero.bam"
    zero.write_bytes(b"")
    expected = _samtools(str(header_only))
    for label, env in PATHS:
        for threads in ("0", "1", "2"):
            result = _gfcli("-@", threads, str(header_only), env=env)
            assert result.stdout.decode() == expected, label
            result = _gfcli("-@", threads, str(zero), env=env)
            assert result.returncode == 1 and result.stderr.count(b"\n") == 1


@needs_native
def test_threaded_errors_stop_the_helper(broken):
    """After an error the helper thread is joined: walk_file returns with no thread left."""
    import threading

    header = reader.read_header_from_path(str(broken["crc"]))
    with pytest.raises(DataError, match="CRC32 mismatch"):
        prefetch.walk_file(str(broken["crc"]), header.first_record,
                           fs._Counter(header.n_ref), header.n_ref, batch_bytes=65536)
    assert not [t for t in threading.enumerate() if t.name == "gfcli-inflate"]


def test_numba_fallback_threaded(split_bam):
    """Without the native kernels the numba kernel reads the batch through a numpy view."""
    result = _gfcli("-@", "1", str(split_bam), env={"GFCLI_NO_NATIVE": "1"}, batch=65536)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == _samtools(str(split_bam))


@pytest.mark.parametrize("native", [True, False])
def test_record_longer_than_reader_batch(tmp_path, monkeypatch, native):
    """-@ 0: a record longer than the whole batch buffer is read whole (the buffer grows
    for it) instead of being taken for a truncated file."""
    if native and not NATIVE:
        pytest.skip("no native inflater here")
    path = _long_reads_bam(tmp_path / "long.bam", [100, 1_500_000, 100, 600_000, 50])
    _small_reader_batches(monkeypatch)
    if not native:
        monkeypatch.setattr(reader, "_native_inflater", lambda data, name: None)
    assert fs.format_text(_serial_counts(path)) == _samtools(str(path))
