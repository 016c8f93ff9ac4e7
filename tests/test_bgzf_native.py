"""The native BGZF run inflater (gfcli.engine.bgzf_native) against the Python per-block path."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys

import pytest

from gfcli.engine import bgzf, bgzf_native
from gfcli.engine.bam import reader
from gfcli.engine.errors import DataError

needs_native = pytest.mark.skipif(not bgzf_native.available(),
                                  reason="no C compiler or libdeflate here")


def _payload(n: int, seed: int = 5) -> bytes:
    rng = random.Random(seed)
    words = [b"chr1\t", b"ACGT", b"\n", b"read", bytes([rng.randrange(256)])]
    return b"".join(rng.choice(words) for _ in range(n)) + os.urandom(100_000)


@pytest.fixture(scope="module")
def blob() -> bytes:
    # Many blocks, an empty block in the middle (its ISIZE is 0) and the EOF marker.
    data = _payload(400_000)
    return (bgzf.compress_payload(data[:200_000], 1) + bgzf.EOF_BLOCK
            + bgzf.compress_payload(data[200_000:], 6) + bgzf.EOF_BLOCK)


def _python_blocks(data, name="x.gz"):
    """(address, start, bytes) for every block, through reader._MappedBlocks.next_into."""
    blocks = reader._MappedBlocks(data, 0, name)
    out = bytearray(4 << 20)  # the payload is ~1.4 MB
    addr = reader._address(out)
    fill = 0
    rows = []
    while True:
        got = blocks.next_into(out, fill, addr)
        if got is None:
            return rows, bytes(out[:fill])
        rows.append((got[0], fill))
        fill += got[1]


@needs_native
@pytest.mark.parametrize("capacity", [65536, 100_000, 1 << 20, 8 << 20])
def test_runs_match_python_path(blob, capacity):
    rows, expected = _python_blocks(blob)
    inf = bgzf_native.inflater(blob, "x.gz")
    assert inf is not None
    out = bytearray(capacity)
    got = bytearray()
    got_rows = []
    address = 0
    calls = 0
    while True:
        run = inf.inflate(address, out, 0)
        calls += 1
        assert run.addresses == sorted(run.addresses)
        got_rows += [(a, len(got) + s) for a, s in zip(run.addresses, run.starts, strict=True)]
        got += out[:run.fill]
        address = run.address
        if run.reason == bgzf_native.END:
            break
        assert run.reason == bgzf_native.FULL
    assert bytes(got) == expected
    assert got_rows == rows
    assert calls > 1 or capacity > len(expected)


@needs_native
def test_target_stop_and_span(blob):
    import numpy as np

    addresses = bgzf.scan_blocks(blob)
    inf = bgzf_native.inflater(blob)
    out = np.zeros(1 << 20, np.uint8)
    # stops after the first block that reaches the target
    run = inf.inflate(0, out, 0, target=1)
    assert run.reason == bgzf_native.TARGET and run.addresses == [0]
    assert run.address == addresses[1]
    # never inflates a block at or past stop_address
    run = inf.inflate(0, out, 10, stop_address=addresses[3])
    assert run.reason == bgzf_native.STOP and run.addresses == addresses[:3]
    assert run.starts[0] == 10 and run.address == addresses[3]
    # span: the blocks holding at least `want` bytes, from headers only
    isizes = [bgzf.block_isize(blob, a, bgzf.block_size(blob, a)) for a in addresses]
    assert inf.span(0, isizes[0] + 1) == addresses[2]
    assert inf.span(addresses[1], 1, stop_address=addresses[1]) == addresses[1]
    assert inf.span(0, 1 << 40) == len(blob)


def _corruptions(blob: bytes) -> dict[str, bytes]:
    addresses = bgzf.scan_blocks(blob)
    a = addresses[2]
    total = bgzf.block_size(blob, a)

    def patched(offset: int, value: bytes) -> bytes:
        b = bytearray(blob)
        b[offset:offset + len(value)] = value
        return bytes(b)

    crc = struct.unpack_from("<I", blob, a + total - 8)[0]
    return {
        "crc": patched(a + total - 8, struct.pack("<I", crc ^ 1)),
        "deflate": patched(a + 18, b"\xff\xff\xff\xff"),
        "isize_big": patched(a + total - 4, struct.pack("<I", 70_000)),
        "isize_other": patched(a + total - 4, struct.pack("<I", 1000)),
        "magic": patched(a, b"\x1f\x8c"),
        "no_bc": patched(a + 12, b"XY"),
        "truncated": blob[: a + total - 3],
        "header_cut": blob[: a + 10],
    }


@needs_native
@pytest.mark.parametrize("kind", ["crc", "deflate", "isize_big", "isize_other", "magic",
                                  "no_bc", "truncated", "header_cut"])
def test_errors_name_file_and_block_like_python(blob, kind):
    bad = _corruptions(blob)[kind]
    with pytest.raises(DataError) as py_err:
        _python_blocks(bad, "bad.gz")
    inf = bgzf_native.inflater(bad, "bad.gz")
    out = bytearray(1 << 20)
    with pytest.raises(DataError) as native_err:
        address = 0
        while True:
            run = inf.inflate(address, out, 0)
            address = run.address
            if run.reason == bgzf_native.END:
                break
    assert str(native_err.value) == str(py_err.value)
    assert str(native_err.value).startswith("bad.gz: ")


@needs_native
def test_bad_block_size_is_an_error_not_a_crash():
    # BSIZE 19: the footer would overlap the header; its ISIZE (read from the BSIZE
    # bytes) is 19, so data is claimed. Rejected before libdeflate sees a negative length.
    small = bgzf.EOF_BLOCK[:16] + struct.pack("<H", 19) + b"\0\0"
    inf = bgzf_native.inflater(small, "s.gz")
    with pytest.raises(DataError, match="s.gz: BGZF block at byte 0: bad block size 20"):
        inf.inflate(0, bytearray(1 << 16), 0)


def test_forced_fallback(tmp_path):
    code = ("from gfcli.engine import bgzf_native; "
            "print(bgzf_native.inflater(b'x') is None)")
    env = dict(os.environ, GFCLI_NO_NATIVE_INFLATE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         check=True, text=True)
    assert out.stdout.strip() == "True"


def test_no_compiler_is_remembered(tmp_path):
    """Without a C compiler: the Python path, and a marker so later runs do not retry."""
    code = ("from gfcli.engine import bgzf_native; "
            "print(bgzf_native.inflater(b'x') is None, bgzf_native._cache_path())")
    env = dict(os.environ, PATH="", NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("GFCLI_NO_NATIVE_INFLATE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         check=True, text=True)
    none, path = out.stdout.split()
    assert none == "True"
    assert os.path.exists(path + ".failed") and not os.path.exists(path)
