"""Vectorised text assembly for the data generator, and a deterministic BGZF writer.

Benchmark inputs have millions of lines (a 200-sample x 1M-site VCF is ~3 GB of text), far
too many to format one Python string at a time. Here a column of text is a `Text`: the bytes
of every row laid end to end plus each row's length. Columns are built from numpy arrays
(`ints`, `vocab`, `fixed`, `slices`) and glued row by row with `concat`, which scatters each
column into its place with one fancy-indexing assignment. Everything is numpy; nothing is
compiled, so the smoke test pays no JIT warm-up.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from isal import isal_zlib

_POW10 = 10 ** np.arange(19, dtype=np.int64)
_DOT = ord(".")


class Text:
    """`n` rows of bytes: `data` holds them back to back, `lengths[i]` is row i's size."""

    __slots__ = ("data", "lengths")

    def __init__(self, data: np.ndarray, lengths: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.uint8)
        self.lengths = np.asarray(lengths, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.lengths.size)

    def starts(self) -> np.ndarray:
        """Offset of each row in `data`."""
        out = np.zeros(self.lengths.size, dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=out[1:])
        return out

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    def rows(self) -> list[bytes]:
        """Each row as bytes (for tests and small data only)."""
        raw = self.data.tobytes()
        ends = np.cumsum(self.lengths)
        return [raw[e - n : e] for e, n in zip(ends.tolist(), self.lengths.tolist(), strict=True)]




def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(values.size, dtype=np.int64)
    if values.size > 1:
        np.cumsum(values[:-1], out=out[1:])
    return out


def concat(*parts: Text | bytes) -> Text:
    """Row-wise concatenation: row i of the result is row i of every part in turn.

    A `bytes` part is a constant repeated on every row.
    """
    texts = [p for p in parts if isinstance(p, Text)]
    if not texts:
        raise ValueError("concat needs at least one Text part")
    n = len(texts[0])
    lengths = np.zeros(n, dtype=np.int64)
    for part in parts:
        lengths += part.lengths if isinstance(part, Text) else len(part)
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    cursor = _exclusive_cumsum(lengths)
    for part in parts:
        if isinstance(part, Text):
            if len(part) != n:
                raise ValueError(f"concat: {len(part)} rows where {n} expected")
            _scatter(out, cursor, part)
            cursor += part.lengths
        elif part:
            width = len(part)
            out[cursor[:, None] + np.arange(width)] = np.frombuffer(part, dtype=np.uint8)
            cursor += width
    return Text(out, lengths)


def _scatter(out: np.ndarray, cursor: np.ndarray, part: Text) -> None:
    """Copy each row of `part` to `out[cursor[i]:]`."""
    if part.data.size == 0:
        return
    width = int(part.lengths[0])
    if part.data.size == width * len(part) and np.all(part.lengths == width):
        # Fixed-width rows (sequences, qualities): a 2-D index, no repeat needed.
        out[cursor[:, None] + np.arange(width)] = part.data.reshape(len(part), width)
        return
    shift = np.repeat(cursor - _exclusive_cumsum(part.lengths), part.lengths)
    out[shift + np.arange(part.data.size)] = part.data


def fixed(matrix: np.ndarray, lengths: np.ndarray | None = None) -> Text:
    """Rows from a 2-D uint8 matrix, row i cut to `lengths[i]` bytes (whole rows if None)."""
    matrix = np.asarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    if lengths is None:
        return Text(matrix.reshape(-1), np.full(n, width, dtype=np.int64))
    lengths = np.asarray(lengths, dtype=np.int64)
    keep = np.arange(width) < lengths[:, None]
    return Text(matrix[keep], lengths)


def ints(values: np.ndarray, missing: np.ndarray | None = None, width: int = 0) -> Text:
    """Decimal text of integers; rows where `missing` is true read ".".

    `width` > 0 zero-pads to that many digits (names like r000000123).
    """
    x = np.asarray(values, dtype=np.int64)
    negative = x < 0
    magnitude = np.abs(x)
    digits = np.ones(x.size, dtype=np.int64)
    for power in _POW10[1:]:
        more = magnitude >= power
        if not more.any():
            break
        digits += more
    if width:
        digits = np.maximum(digits, width)
    size = digits + negative
    columns = int(size.max()) if size.size else 1
    exponent = size[:, None] - 1 - np.arange(columns)
    matrix = (magnitude[:, None] // _POW10[np.clip(exponent, 0, 18)]) % 10 + 48
    matrix = matrix.astype(np.uint8)
    if negative.any():
        matrix[negative, 0] = ord("-")
    if missing is not None and missing.any():
        matrix[missing, 0] = _DOT
        size = np.where(missing, 1, size)
    return fixed(matrix, size)


def decimals(values: np.ndarray, places: int, missing: np.ndarray | None = None) -> Text:
    """Non-negative numbers with a fixed number of decimals ("12.5", "0.0312")."""
    scaled = np.rint(np.asarray(values, dtype=np.float64) * 10**places).astype(np.int64)
    whole = ints(scaled // 10**places)
    text = concat(whole, b".", ints(scaled % 10**places, width=places))
    if missing is not None and missing.any():
        text = choose(missing, vocab(np.zeros(len(text), dtype=np.int64), [b"."]), text)
    return text


def vocab(ids: np.ndarray, words: Sequence[bytes]) -> Text:
    """Row i is `words[ids[i]]`."""
    width = max(1, max(len(w) for w in words))
    table = np.zeros((len(words), width), dtype=np.uint8)
    for row, word in enumerate(words):
        table[row, : len(word)] = np.frombuffer(word, dtype=np.uint8)
    sizes = np.array([len(w) for w in words], dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    return fixed(table[ids], sizes[ids])


def strings(items: Sequence[str]) -> Text:
    """Rows from Python strings: for the few rows built one by one (ASCII only)."""
    return Text(
        np.frombuffer("".join(items).encode("ascii"), dtype=np.uint8),
        np.fromiter((len(s) for s in items), dtype=np.int64, count=len(items)),
    )


def slices(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Text:
    """Row i is `source[starts[i] : starts[i] + lengths[i]]` (alleles cut from a genome)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - _exclusive_cumsum(lengths), lengths)
    return Text(source[shift + np.arange(int(lengths.sum()))], lengths)


def keep(text: Text, mask: np.ndarray) -> Text:
    """Rows where `mask` is false become empty (optional fields)."""
    mask = np.asarray(mask, dtype=bool)
    return Text(text.data[np.repeat(mask, text.lengths)], np.where(mask, text.lengths, 0))


def choose(mask: np.ndarray, if_true: Text, if_false: Text) -> Text:
    """Row i from `if_true` where mask[i], else from `if_false`."""
    return concat(keep(if_true, mask), keep(if_false, ~np.asarray(mask, dtype=bool)))


def cut(text: Text, begin: int, end: int) -> Text:
    """Rows `begin` to `end` (exclusive)."""
    first = int(text.lengths[:begin].sum())
    size = int(text.lengths[begin:end].sum())
    return Text(text.data[first : first + size], text.lengths[begin:end])


def take(text: Text, rows: np.ndarray) -> Text:
    """The given rows, in the given order."""
    rows = np.asarray(rows, dtype=np.int64)
    return slices(text.data, text.starts()[rows], text.lengths[rows])


def interleave(n: int, pieces: Sequence[tuple[np.ndarray, Text]]) -> Text:
    """Assemble `n` rows from pieces `(rows, text)` that together cover each row once."""
    lengths = np.zeros(n, dtype=np.int64)
    for rows, text in pieces:
        lengths[rows] = text.lengths
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    starts = _exclusive_cumsum(lengths)
    for rows, text in pieces:
        if text.data.size:
            shift = np.repeat(starts[rows] - _exclusive_cumsum(text.lengths), text.lengths)
            out[shift + np.arange(text.data.size)] = text.data
    return Text(out, lengths)


def group(text: Text, counts: np.ndarray) -> Text:
    """Merge consecutive rows: row j of the result joins the next `counts[j]` rows."""
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    ends = np.zeros(len(text) + 1, dtype=np.int64)
    np.cumsum(text.lengths, out=ends[1:])
    return Text(text.data, ends[bounds[1:]] - ends[bounds[:-1]])


def join(columns: Sequence[Text], present: Sequence[np.ndarray], sep: bytes) -> Text:
    """Per row, the present columns joined by `sep` (lists like AC=3,1). The first is always
    present."""
    parts: list[Text | bytes] = [columns[0]]
    for column, mask in zip(columns[1:], present[1:], strict=True):
        parts.append(keep(concat(sep, column), mask))
    return concat(*parts)


# --- BGZF -------------------------------------------------------------------------------

# Block header with the BC extra field (RFC 1952 + SAM spec section 4.1); mtime is 0 so the
# output depends on the input bytes only.
_BGZF_HEADER = struct.Struct("<4BI2BH2BHH")
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BLOCK_INPUT = 0xFF00  # htslib's block payload size


class BgzfWriter:
    """Write BGZF (blocked gzip) that htslib, tabix and gzip all read.

    isal's deflate is several times faster than zlib's at a similar ratio, which matters for
    gigabytes of generated text.
    """

    def __init__(self, path: str, level: int = 2) -> None:
        self._handle = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._level = level
        self._pending = bytearray()

    def write(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        # A numpy array would broadcast with `+=`; go through the buffer protocol.
        self._pending += memoryview(data)
        if len(self._pending) >= _BLOCK_INPUT:
            whole = len(self._pending) - len(self._pending) % _BLOCK_INPUT
            view = memoryview(self._pending)
            for start in range(0, whole, _BLOCK_INPUT):
                self._block(view[start : start + _BLOCK_INPUT])
            view.release()
            del self._pending[:whole]

    def _block(self, payload: memoryview | bytes) -> None:
        compressor = isal_zlib.compressobj(self._level, isal_zlib.DEFLATED, -15)
        body = compressor.compress(payload) + compressor.flush()
        size = _BGZF_HEADER.size + len(body) + 8
        header = _BGZF_HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, size - 1)
        trailer = struct.pack("<II", isal_zlib.crc32(payload) & 0xFFFFFFFF, len(payload))
        self._handle.write(header + body + trailer)

    def close(self) -> None:
        if self._pending:
            self._block(bytes(self._pending))
            self._pending.clear()
        self._handle.write(_BGZF_EOF)
        self._handle.close()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
