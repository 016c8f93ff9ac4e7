"""BGZF: our blocks read by htslib, htslib's blocks read by us, block scanning and resync."""

from __future__ import annotations

import gzip
import os
import random

import pysam
import pytest

from gfcli.engine import bgzf
from gfcli.engine.errors import DataError


def _payload(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    words = [b"chr1\t", b"ACGT", b"\n", b"read", bytes([rng.randrange(256)])]
    return b"".join(rng.choice(words) for _ in range(n))


def test_eof_block_is_htslibs():
    expected = "1f8b08040000000000ff0600424302001b0003000000000000000000"
    assert bgzf.EOF_BLOCK == bytes.fromhex(expected)
    assert bgzf.inflate_block(bgzf.EOF_BLOCK) == b""


@pytest.mark.parametrize("level", [None, 0, 1, 6, 9])
def test_compress_payload_roundtrip_through_htslib(tmp_path, level):
    data = _payload(60_000) + os.urandom(70_000)  # compressible and incompressible parts
    blob = bgzf.compress_payload(data, level) + bgzf.EOF_BLOCK
    path = tmp_path / "x.gz"
    path.write_bytes(blob)
    assert gzip.decompress(blob) == data
    with pysam.BGZFile(str(path), "rb") as handle:
        assert handle.read() == data
    addresses = bgzf.scan_blocks(blob)
    assert len(addresses) == (len(data) + bgzf.MAX_PAYLOAD - 1) // bgzf.MAX_PAYLOAD + 1
    for address in addresses:
        assert bgzf.block_size(blob, address) <= bgzf.MAX_BLOCK_SIZE


def test_compress_is_deterministic():
    data = _payload(200_000)
    assert bgzf.compress_payload(data) == bgzf.compress_payload(bytearray(data))
    assert bgzf.compress_payload(b"") == b""


def test_read_htslib_output_with_offsets(tmp_path):
    data = _payload(300_000, seed=3)
    path = tmp_path / "h.gz"
    with pysam.BGZFile(str(path), "wb") as handle:
        handle.write(data)
    raw = path.read_bytes()
    reader = bgzf.BlockReader(raw)
    pieces = []
    for address, payload in reader.blocks():
        assert bgzf.block_size(raw, address) > 0
        pieces.append(payload)
    assert b"".join(pieces) == data
    # read() across blocks, tell() as a virtual offset htslib agrees with
    reader = bgzf.BlockReader(raw)
    assert reader.read(70_000) == data[:70_000]
    voffset = reader.tell()
    with pysam.BGZFile(str(path), "rb") as handle:
        handle.seek(voffset)
        assert handle.read(100) == data[70_000:70_100]
    # the same through a stream
    with open(path, "rb") as stream:
        assert bgzf.BlockReader(stream).read(len(data) + 10) == data


def test_find_block_start_skips_fake_headers():
    data = _payload(200_000, seed=5)
    blob = bgzf.compress_payload(data) + bgzf.EOF_BLOCK
    addresses = bgzf.scan_blocks(blob)
    for probe in (1, addresses[1] - 1, addresses[1], addresses[2] + 7):
        expected = next(a for a in addresses if a >= probe)
        assert bgzf.find_block_start(blob, probe) == expected
    assert bgzf.find_block_start(blob, len(blob) - 3) == len(blob)


def test_corrupt_block_is_a_data_error():
    blob = bytearray(bgzf.compress_payload(_payload(1000)))
    blob[30] ^= 0xFF
    with pytest.raises(DataError):
        bgzf.inflate_block(bytes(blob))
    with pytest.raises(DataError):
        bgzf.block_size(b"not bgzf at all....", 0)


def test_fallback_inflate_without_libdeflate(monkeypatch):
    monkeypatch.setattr(bgzf, "_LIBDEFLATE", None)
    monkeypatch.setattr(bgzf, "_LIBDEFLATE_TRIED", True)
    data = _payload(100_000, seed=9)
    blob = bgzf.compress_payload(data)
    assert b"".join(p for _, p in bgzf.BlockReader(blob).blocks()) == data
