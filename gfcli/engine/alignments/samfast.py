"""SAM text from raw BAM record bytes, by the numba kernel in `gfcli.engine.bam.samtext`.

The kernel writes most records; the few it flags (a float too close to a rounding tie,
a CIGAR kept in a CG tag, anything unusual) are formatted by htslib: they are written
with the BAM header to a small temporary BAM that pysam reads back, so their text is
exactly `sam_format1`'s. Output is the same bytes as `samtools view`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from gfcli.engine.errors import DataError

OUT_BYTES = 8 << 20


class SamText:
    """Formats raw records of one BAM (its reference names and header) as SAM lines."""

    def __init__(self, names: list[str] | tuple[str, ...], bam_header: bytes):
        encoded = [name.encode() for name in names]
        self.names = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8).copy()
        self.name_off = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(n) for n in encoded], out=self.name_off[1:])
        self.n_ref = len(encoded)
        self.bam_header = bam_header
        self._out = np.empty(OUT_BYTES, dtype=np.uint8)

    @staticmethod
    def offsets(buf: np.ndarray, start: int = 0, end: int | None = None,
                name: str | None = None) -> np.ndarray:
        """Start offsets of the whole records in buf[start:end]."""
        from gfcli.engine.bam.rawkernels import record_offsets

        end = len(buf) if end is None else end
        out = np.empty((end - start) // 36 + 1, dtype=np.int64)
        n = record_offsets(buf, start, end, out)
        if n < 0:
            raise DataError("truncated or corrupt BAM record", path=name)
        return out[:n]

    def format(self, buf: np.ndarray, offsets: np.ndarray) -> bytes:
        """SAM lines (newline-terminated) of the records at `offsets` of `buf`."""
        return b"".join(self.format_pieces(buf, offsets))

    def format_pieces(self, buf: np.ndarray, offsets: np.ndarray) -> Iterator[Any]:
        """The same text in pieces of about OUT_BYTES (bytes-like objects)."""
        from gfcli.engine.bam.rawkernels import format_records

        n = len(offsets)
        if n == 0:
            return
        line_end = np.zeros(n, dtype=np.int64)
        fallback = np.zeros(n, dtype=np.uint8)
        first = 0
        room = OUT_BYTES
        while first < n:
            out = np.empty(room, dtype=np.uint8)
            nxt, used = format_records(buf, offsets, first, self.names, self.name_off,
                                       self.n_ref, out, 0, line_end, fallback)
            if nxt == first:
                # One record needs more room than the buffer has: grow it.
                size = int.from_bytes(buf[offsets[first]:offsets[first] + 4].tobytes(),
                                      "little")
                room = max(2 * room, 8 * size + (1 << 20))
                continue
            if fallback[first:nxt].any():
                yield self._splice(buf, offsets, first, nxt, out, line_end, fallback)
            else:
                yield memoryview(out)[:used]
            first = nxt

    def _splice(self, buf, offsets, first, nxt, out, line_end, fallback) -> bytes:
        from gfcli.engine.alignments.rawbam import RecordRefused, refid_status

        bad = [i for i in range(first, nxt) if fallback[i]]
        for i in bad:
            # the kernel leaves out-of-range refIDs to htslib, which refuses the record
            status = refid_status(buf, int(offsets[i]), self.n_ref)
            if status:
                raise RecordRefused(status, int(offsets[i]))
        texts = iter(self.htslib_lines(buf, offsets[bad]))
        parts: list[bytes] = []
        begin = 0
        for i in range(first, nxt):
            end = int(line_end[i])
            if fallback[i]:
                parts.append(out[begin:end].tobytes())
                parts.append(next(texts))
                begin = end
        parts.append(out[begin:int(line_end[nxt - 1])].tobytes())
        return b"".join(parts)

    def htslib_lines(self, buf: np.ndarray, offsets: Any) -> list[bytes]:
        """htslib's SAM text of these records (through a temporary BAM)."""
        return [(rec.to_string() + "\n").encode()
                for rec in htslib_records(self.bam_header, buf, offsets)]


def htslib_records(bam_header: bytes, buf: np.ndarray, offsets: Any) -> list[Any]:
    """pysam AlignedSegments of raw records, read back by htslib from a temporary BAM."""
    import pysam

    from gfcli.engine.bgzf import EOF_BLOCK, compress_payload

    records = []
    for o in offsets:
        o = int(o)
        size = int.from_bytes(buf[o:o + 4].tobytes(), "little")
        records.append(buf[o:o + 4 + size].tobytes())
    fd, path = tempfile.mkstemp(suffix=".bam", prefix=".gfcli-raw-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(compress_payload(bam_header + b"".join(records), 1))
            handle.write(EOF_BLOCK)
        pysam.set_verbosity(0)
        try:
            with pysam.AlignmentFile(path, "rb", check_sq=False) as bam:
                out = list(bam)
        except (OSError, ValueError) as exc:
            raise DataError(f"malformed BAM record: {exc}") from None
    finally:
        os.unlink(path)
    if len(out) != len(records):
        raise DataError("malformed BAM record")
    return out
