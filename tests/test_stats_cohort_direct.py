"""The direct BCF reader of `gfcli stats` (`vbcfdirect.DirectReader`): runs of BGZF blocks
inflated natively (`bgzf_native`) give the same records, batch heads and counts as the
block-by-block Python path, for ranges that start and end inside blocks, with pieces far
smaller than a record (the buffer grows), and through the CLI with many chunks.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_stats_cohort_fast as cf  # noqa: E402

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return cf.bcf_cohort(tmp_path_factory, "stats_direct", 11, 1200, 30, "mixed")


def _record_offsets(path: str) -> list[int]:
    """The virtual offset of every record (a record starting at a block's end: the next
    block's start, as the chunk planner normalises it)."""
    from gfcli.engine import bgzf

    src = bgzf.map_file(path)
    inflater = bgzf.Inflater(src)
    buf = np.empty(1 << 17, np.uint8)
    data = bytearray()
    blocks = []  # (address, uncompressed start)
    address = 0
    while address < len(src):
        total = bgzf.block_size(src, address)
        isize = bgzf.block_isize(src, address, total)
        inflater.inflate_into(address, total, buf, 0, buf.ctypes.data)
        if isize:
            blocks.append((address, len(data)))
        data += bytes(buf[:isize])
        address += total
    pos = 9 + int.from_bytes(data[5:9], "little")
    out = []
    k = 0
    while pos < len(data):
        while k + 1 < len(blocks) and blocks[k + 1][1] <= pos:
            k += 1
        out.append(blocks[k][0] << 16 | (pos - blocks[k][1]))
        pos += 8 + int.from_bytes(data[pos:pos + 4], "little") + int.from_bytes(
            data[pos + 4:pos + 8], "little")
    return out


def _ranges(offsets: list[int]) -> list[tuple[int, int | None]]:
    """Record-aligned ranges of 1 to ~150 records, most starting inside a block."""
    cuts = [0]
    step = 1
    while cuts[-1] + step < len(offsets):
        cuts.append(cuts[-1] + step)
        step = step * 3 % 151 + 1
    out = [(offsets[a], offsets[b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    out.append((offsets[cuts[-1]], None))
    assert len(out) > 10 and sum(1 for a, _ in out if a & 0xFFFF) > 5
    return out


def _records(reader, start: int, end: int | None) -> list[bytes]:
    got = []
    for batch in reader.batches(start, end):
        s = batch.s_off
        for i in range(batch.n):
            stop = s[i + 1] - 32 if i + 1 < batch.n else s[batch.n]
            got.append(bytes(batch.heads[i]) + bytes(batch.shared[s[i] - 32:stop]))
    return got


@pytest.mark.parametrize("piece", [0, 1 << 10])
def test_native_runs_equal_block_loop(cohort, monkeypatch, piece):
    from gfcli.engine import bgzf_native
    from gfcli.engine.stats import vbcfdirect

    if not bgzf_native.available():
        pytest.skip("no native inflater here")
    if piece:  # pieces and buffer far smaller than the records: every grow path runs
        monkeypatch.setattr(vbcfdirect, "PIECE_BYTES", piece)
        monkeypatch.setattr(vbcfdirect, "FIRST_PIECE_BYTES", piece // 4)
    offsets = _record_offsets(cohort)
    after = offsets[0]
    native = vbcfdirect.DirectReader(cohort, "c.bcf")
    loop = vbcfdirect.DirectReader(cohort, "c.bcf")
    loop.native = None
    if piece:
        native.buf = np.empty(piece, np.uint8)
        loop.buf = np.empty(piece, np.uint8)
    assert native.native is not None
    whole = _records(loop, after, None)
    assert len(whole) == 1200
    assert _records(native, after, None) == whole
    parts: list[bytes] = []
    for start, end in _ranges(offsets):
        got = _records(native, start, end)
        assert got == _records(loop, start, end), (start, end)
        parts += got
    assert parts == whole


def test_cli_native_equals_block_loop(cohort):
    expected = cf._body(cf._bcftools("-s", "-", cohort))
    small = {"GFCLI_CHUNK_BYTES": "3000"}
    for env in ({}, {"GFCLI_NO_NATIVE_INFLATE": "1"}):
        for threads in ("1", "2"):
            got = cf._body(cf._gfcli("-s", "-", "-@", threads, cohort, env={**small, **env}))
            assert got == expected, (env, threads)


def _task(path: str, samples: str = "-"):
    from gfcli.engine.source import open_input
    from gfcli.engine.stats import variants as V
    from gfcli.engine.stats.base import StatsRequest

    req = StatsRequest(inputs=[path], samples=samples).resolve("variants")
    return V._compute(req, open_input(path), task_only=True)


def _counts(acc) -> dict:
    return {name: acc.a[name].copy() for name in acc.a}


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("piece", [0, 1 << 10])
def test_native_loop_equals_batch_loop(cohort, monkeypatch, piece):
    """vbcfcount.count_range (inflate, split and count in C) adds what the batches of the
    same range add through VariantStats.update, ring included, for ranges starting and
    ending inside blocks, with every record typed-skipped, and with a buffer far smaller
    than a record (the C loop asks for it to grow)."""
    from gfcli.engine.stats import variants as V
    from gfcli.engine.stats import vbcfcount, vbcfdirect

    task = _task(cohort)
    reader = vbcfdirect.DirectReader(cohort, "c.bcf")
    if vbcfcount.count_range(reader, V.VariantStats(task.settings, ["x"], list(
            task.contigs)), task.kernel_inputs, V.new_ring(), _record_offsets(cohort)[0],
            None) is None:
        pytest.skip("no native loop here")
    if piece:
        monkeypatch.setattr(vbcfdirect, "PIECE_BYTES", piece)
        monkeypatch.setattr(vbcfdirect, "FIRST_PIECE_BYTES", piece // 4)
    offsets = _record_offsets(cohort)
    for typed in (False, True):
        native = vbcfdirect.DirectReader(cohort, "c.bcf")
        loop = vbcfdirect.DirectReader(cohort, "c.bcf")
        if piece:
            native.buf = np.empty(piece, np.uint8)
            loop.buf = np.empty(piece, np.uint8)
        for start, end in [(offsets[0], None), *_ranges(offsets)]:
            acc_n = V.VariantStats(task.settings, ["x"], list(task.contigs))
            acc_b = V.VariantStats(task.settings, ["x"], list(task.contigs))
            ring_n, ring_b = V.new_ring(), V.new_ring()
            assert vbcfcount.count_range(reader if start == offsets[0] else native, acc_n,
                                         task.kernel_inputs, ring_n, start, end,
                                         typed_skip=typed) is False
            for batch in loop.batches(start, end):
                if typed:
                    batch.skip = np.full(batch.n, 2, np.uint8)
                acc_b.update(batch, task.kernel_inputs, ring_b)
            assert _equal(_counts(acc_n), _counts(acc_b)), (typed, start, end)
            assert np.array_equal(ring_n[0], ring_b[0]) and np.array_equal(ring_n[1],
                                                                          ring_b[1])
            assert acc_n.qual_hi == acc_b.qual_hi


def test_native_loop_stops_at_an_unset_ring_entry(cohort):
    """With stop_on_unset, the loop returns True after the batch that read a ring entry
    no record of the range set (a symbolic ALT early in a chunk), as the batch loop's
    caller stops."""
    from gfcli.engine.stats import variants as V
    from gfcli.engine.stats import vbcfcount, vbcfdirect

    task = _task(cohort)
    offsets = _record_offsets(cohort)
    reader = vbcfdirect.DirectReader(cohort, "c.bcf")
    stops = 0
    for start, end in _ranges(offsets):
        acc = V.VariantStats(task.settings, ["x"], list(task.contigs))
        ring = V.new_ring(unset=True)
        stopped = vbcfcount.count_range(reader, acc, task.kernel_inputs, ring, start, end,
                                        stop_on_unset=True)
        if stopped is None:
            pytest.skip("no native loop here")
        assert stopped == bool(ring[1][1])
        stops += stopped
    assert stops  # the generated cohort has symbolic ALTs at range starts


def _error_messages(task, path: str, display: str, start: int) -> list[str]:
    """The DataError messages of counting `path` from `start` by the C loop, then by the
    batch loop (each must raise)."""
    from gfcli.engine.errors import DataError
    from gfcli.engine.stats import variants as V
    from gfcli.engine.stats import vbcfcount, vbcfdirect

    messages = []
    for native in (True, False):
        reader = vbcfdirect.DirectReader(path, display)
        acc = V.VariantStats(task.settings, ["x"], list(task.contigs))
        with pytest.raises(DataError) as err:
            if native:
                if vbcfcount.count_range(reader, acc, task.kernel_inputs, V.new_ring(),
                                         start, None) is None:
                    pytest.skip("no native loop here")
            else:
                for batch in reader.batches(start, None):
                    acc.update(batch, task.kernel_inputs)
        messages.append(str(err.value))
    return messages


def test_native_loop_errors_name_the_file(cohort, tmp_path):
    """A damaged block met by the C loop, and a file cut inside a record: the batch
    path's one-line messages."""

    task = _task(cohort)
    offsets = _record_offsets(cohort)
    data = bytearray(open(cohort, "rb").read())
    last = offsets[len(offsets) // 2] >> 16
    bad = bytearray(data)
    bad[last + 30] ^= 0xFF  # inside the deflate stream (or its CRC check fails)
    damaged = tmp_path / "bad.bcf"
    damaged.write_bytes(bad)
    messages = _error_messages(task, str(damaged), "bad.bcf", offsets[0])
    assert messages[0] == messages[1] and "bad.bcf" in messages[0], messages


def test_record_cut_by_the_end_of_the_file(cohort, tmp_path):
    """A BCF whose BGZF data ends inside a record: the C loop and the batch loop give the
    same one-line message, and the command exits 1 with it and no traceback."""
    import subprocess

    import pysam


    with pysam.BGZFile(cohort, "rb") as handle:
        data = handle.read()
    cut = tmp_path / "cut.bcf"
    with pysam.BGZFile(str(cut), "wb") as handle:
        handle.write(data[:len(data) - 100])  # the last record loses its end
    first = _record_offsets(str(cut))[0]  # (its blocks are not the original's)
    task = _task(cohort)
    messages = _error_messages(task, str(cut), "cut.bcf", first)
    assert messages[0] == messages[1] and "truncated BCF record" in messages[0], messages
    run = subprocess.run(["gfcli", "stats", "-s", "-", str(cut)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 1 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "truncated BCF record" in run.stderr
