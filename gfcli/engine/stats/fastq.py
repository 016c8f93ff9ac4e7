"""`gfcli stats` for FASTQ (plain or gzip): the columns of `seqkit stats -a -T`.

    file format type num_seqs sum_len min_len avg_len max_len Q1 Q2 Q3 sum_gap N50
    Q20(%) Q30(%) AvgQual GC(%)

Definitions (seqkit's): lengths count every sequence byte; Q1/Q2/Q3 are the medians of
the lower half, of all, and of the upper half of the sorted lengths (the upper and lower
halves share the middle read when the count is odd), with two middle values averaged;
N50 is the length of the read at which the cumulative sum from the longest reaches half
of sum_len; sum_gap counts '-', '.' and ' '; Q20/Q30 are the percentages of bases with
Phred+33 quality >= 20/30; AvgQual converts each base's quality to an error
probability, averages those over all bases and converts back (-10 log10); GC counts
G and C (either case) over sum_len. Values are rounded half up like seqkit's
`math.Round(x, n)` before printing.

Everything above comes from mergeable state: a histogram of read lengths (N50 and the
quartiles need the whole distribution), a histogram of quality values (AvgQual), and
counters; per-position quality and base composition (with N content) are in the JSON.
One row per input file; partials of the same file add up.
"""

from __future__ import annotations

import math
import os
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfcli.engine.errors import DataError

COLUMNS = ("file", "format", "type", "num_seqs", "sum_len", "min_len", "avg_len", "max_len",
           "Q1", "Q2", "Q3", "sum_gap", "N50", "Q20(%)", "Q30(%)", "AvgQual", "GC(%)")
BASES = ("A", "C", "G", "T", "N", "other")
_READ = 4 << 20

_DNA = set(b"ACGTRYSWKMBDHVNacgtryswkmbdhvn-. *")
_RNA = set(b"ACGURYSWKMBDHVNacguryswkmbdhvn-. *")


def _guess_type(seq: bytes) -> str:
    chars = set(seq[:10000])
    if chars <= _DNA:
        return "DNA"
    if chars <= _RNA:
        return "RNA"
    return "Protein"


def seqkit_round(x: float, n: int) -> float:
    """seqkit's rounding (util math.Round): half away from zero at n decimals."""
    p = 10.0 ** n
    return math.trunc((x + 0.5 / p) * p) / p if x >= 0 else -math.trunc((-x + 0.5 / p) * p) / p


def _median_at(lengths: np.ndarray, cum: np.ndarray, lo: int, count: int) -> float:
    """Median of the sorted lengths[lo : lo+count] given a length histogram."""
    def value(i: int) -> int:
        return int(np.searchsorted(cum, i + 1))

    if count <= 0:
        return 0.0
    if count % 2:
        return float(value(lo + count // 2))
    return (value(lo + count // 2 - 1) + value(lo + count // 2)) / 2


@dataclass
class FileStats:
    """One file's mergeable FASTQ statistics."""

    label: str
    format: str = ""
    type: str = ""
    counters: np.ndarray = field(default_factory=lambda: np.zeros(5, dtype=np.int64))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    qhist: np.ndarray = field(default_factory=lambda: np.zeros(94, dtype=np.int64))
    pos_qsum: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pos_n: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pos_base: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), dtype=np.int64))

    def __iadd__(self, other: FileStats) -> FileStats:
        self.format = self.format or other.format
        self.type = self.type or other.type
        self.counters = self.counters + other.counters
        self.lengths = _add(self.lengths, other.lengths)
        self.qhist = self.qhist + other.qhist
        self.pos_qsum = _add(self.pos_qsum, other.pos_qsum)
        self.pos_n = _add(self.pos_n, other.pos_n)
        self.pos_base = _add(self.pos_base, other.pos_base)
        return self

    # ---- the seqkit numbers
    def row(self) -> list[str]:
        num = int(self.counters[0])
        lengths = self.lengths
        idx = np.flatnonzero(lengths)
        sum_len = int((np.arange(len(lengths)) * lengths).sum())
        if num == 0:
            return [self.label, self.format, self.type, "0", "0", "0", "0.0", "0", "0.0", "0.0",
                    "0.0", "0", "0", "0.00", "0.00", "0.00", "0.00"]
        min_len, max_len = int(idx[0]), int(idx[-1])
        cum = np.cumsum(lengths)
        if len(idx) == 1:
            q1 = q2 = q3 = float(idx[0])
        else:
            half = num // 2 if num % 2 == 0 else (num + 1) // 2
            q1 = _median_at(lengths, cum, 0, half)
            q2 = _median_at(lengths, cum, 0, num)
            q3 = _median_at(lengths, cum, num // 2, half)
        # N50: from the longest down until twice the running sum reaches sum_len
        n50 = 0
        running = 0
        for ln in idx[::-1]:
            running += int(ln) * int(lengths[ln])
            if running * 2 >= sum_len:
                n50 = int(ln)
                break
        c = self.counters
        err = float((self.qhist * (10.0 ** (-np.arange(94) / 10.0))).sum())
        nq = int(self.qhist.sum())
        avgq = -10 * math.log10(err / nq) if nq and err > 0 else 0.0
        if nq and err == 0:
            avgq = 0.0

        def pct(x: int) -> str:
            return f"{seqkit_round(100.0 * x / sum_len, 2):.2f}" if sum_len else "0.00"

        return [self.label, self.format, self.type, str(num), str(sum_len), str(min_len),
                f"{seqkit_round(sum_len / num, 1):.1f}", str(max_len), f"{q1:.1f}",
                f"{q2:.1f}", f"{q3:.1f}", str(int(c[2])), str(n50), pct(int(c[3])),
                pct(int(c[4])), f"{seqkit_round(avgq, 2):.2f}", pct(int(c[1]))]

    def to_json(self) -> dict:
        idx = np.flatnonzero(self.lengths)
        n = self.pos_n
        return {
            "file": self.label, "format": self.format, "type": self.type,
            "counters": {"num_seqs": int(self.counters[0]), "gc": int(self.counters[1]),
                         "gap": int(self.counters[2]), "q20": int(self.counters[3]),
                         "q30": int(self.counters[4])},
            "length_histogram": [[int(i), int(self.lengths[i])] for i in idx],
            "quality_histogram": self.qhist.tolist(),
            "per_position": {
                "bases": n.tolist(),
                "quality_sum": self.pos_qsum.tolist(),
                "mean_quality": [round(float(s) / int(k), 3) if k else None
                                 for s, k in zip(self.pos_qsum, n, strict=True)],
                "composition": {b: self.pos_base[:, i].tolist() for i, b in enumerate(BASES)},
                "n_content": [round(float(x) / int(k), 6) if k else None
                              for x, k in zip(self.pos_base[:, 4], n, strict=True)],
            },
            "seqkit": dict(zip(COLUMNS, self.row(), strict=True)),
        }

    @classmethod
    def from_json(cls, d: dict) -> FileStats:
        c = d["counters"]
        fs = cls(d["file"], d["format"], d["type"])
        fs.counters = np.array([c["num_seqs"], c["gc"], c["gap"], c["q20"], c["q30"]],
                               dtype=np.int64)
        hist = d["length_histogram"]
        size = (max(i for i, _ in hist) + 1) if hist else 1
        fs.lengths = np.zeros(size, dtype=np.int64)
        for i, k in hist:
            fs.lengths[i] = k
        fs.qhist = np.array(d["quality_histogram"], dtype=np.int64)
        pp = d["per_position"]
        fs.pos_n = np.array(pp["bases"], dtype=np.int64)
        fs.pos_qsum = np.array(pp["quality_sum"], dtype=np.int64)
        fs.pos_base = np.array([pp["composition"][b] for b in BASES],
                               dtype=np.int64).T.reshape(-1, 6)
        return fs


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape != b.shape:
        shape = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
        a2 = np.zeros(shape, dtype=np.int64)
        a2[tuple(slice(0, s) for s in a.shape)] = a
        b2 = np.zeros(shape, dtype=np.int64)
        b2[tuple(slice(0, s) for s in b.shape)] = b
        return a2 + b2
    return a + b


@dataclass
class FqStats:
    """seqkit stats rows, one per input file; `+=` adds files (same label: same file)."""

    kind = "fastq"
    files: list[FileStats] = field(default_factory=list)

    def update(self, batch: Any) -> None:
        raise NotImplementedError("FASTQ statistics are updated by gfcli's FASTQ kernel")

    def __iadd__(self, other: FqStats) -> FqStats:
        for fs in other.files:
            for mine in self.files:
                if mine.label == fs.label:
                    mine += fs
                    break
            else:
                self.files.append(FileStats.from_json(fs.to_json()))
        return self

    def to_json(self) -> dict:
        return {"files": [fs.to_json() for fs in self.files]}

    @classmethod
    def from_json(cls, data: dict) -> FqStats:
        return cls([FileStats.from_json(d) for d in data["files"]])

    def render_text(self, req: Any = None) -> str:
        lines = ["\t".join(COLUMNS)]
        lines += ["\t".join(fs.row()) for fs in self.files]
        return "\n".join(lines) + "\n"


def from_json(data: dict) -> FqStats:
    return FqStats.from_json(data)


# --------------------------------------------------------------------------- reading


def _chunks(handle, gz: bool):
    if not gz:
        while True:
            piece = handle.read(_READ)
            if not piece:
                return
            yield piece
        return
    d = zlib.decompressobj(wbits=47)
    while True:
        piece = handle.read(_READ)
        if not piece:
            break
        while piece:
            out = d.decompress(piece)
            if out:
                yield out
            if d.eof:
                piece = d.unused_data
                d = zlib.decompressobj(wbits=47)
            else:
                piece = b""
    tail = d.flush()
    if tail:
        yield tail


def compute_stream(handle, label: str, gz: bool) -> FileStats:
    from gfcli.engine.stats import _fq_kernel as k

    fs = FileStats(label)
    counters = np.zeros(k.N_COUNTERS, dtype=np.int64)
    lengths = np.zeros(1024, dtype=np.int64)
    qhist = np.zeros(94, dtype=np.int64)
    cap = 1024
    pos_qsum = np.zeros(cap, dtype=np.int64)
    pos_n = np.zeros(cap, dtype=np.int64)
    pos_base = np.zeros((cap, 6), dtype=np.int64)
    result = np.zeros(2, dtype=np.int64)
    pending = b""
    first = True
    pieces = _chunks(handle, gz)
    done = False
    while not done:
        piece = next(pieces, None)
        if piece is None:
            done = True
            data = pending
        else:
            data = pending + piece
        if first and data:
            stripped = data.lstrip(b"\r\n")
            if stripped:
                first = False
                fs.format = "FASTQ" if stripped[:1] == b"@" else ""
                seq = stripped.split(b"\n", 2)[1] if stripped.count(b"\n") >= 1 else b""
                fs.type = _guess_type(seq.rstrip(b"\r"))
        buf = np.frombuffer(data, dtype=np.uint8)
        start = 0
        while True:
            status = k.fastq_records(buf, start, len(buf), done, counters, lengths, qhist,
                                     pos_qsum, pos_base, pos_n, k._CLASS, result)
            start = int(result[0])
            if status == k.NEED_POSITIONS:
                need = int(result[1]) + 1
                while cap < need:
                    cap *= 2
                pos_qsum = np.concatenate([pos_qsum, np.zeros(cap - len(pos_qsum), np.int64)])
                pos_n = np.concatenate([pos_n, np.zeros(cap - len(pos_n), np.int64)])
                pos_base = np.concatenate([pos_base,
                                           np.zeros((cap - len(pos_base), 6), np.int64)])
                lengths = np.concatenate([lengths, np.zeros(cap - len(lengths), np.int64)])
                continue
            if status == k.BAD_RECORD:
                raise DataError(f"malformed FASTQ record near byte {start} of a block",
                                path=label)
            break
        pending = data[start:]
        if done and pending.strip():
            raise DataError("truncated FASTQ record at the end of the input", path=label)
    top = int(np.flatnonzero(pos_n)[-1]) + 1 if pos_n.any() else 0
    fs.counters = counters
    idx = np.flatnonzero(lengths)
    fs.lengths = lengths[: int(idx[-1]) + 1].copy() if len(idx) else np.zeros(1, np.int64)
    fs.qhist = qhist
    fs.pos_qsum, fs.pos_n, fs.pos_base = pos_qsum[:top].copy(), pos_n[:top].copy(), \
        pos_base[:top].copy()
    return fs


def compute(req: Any, inp) -> FqStats:
    gz = inp.compression in ("gzip", "bgzf")
    label = "-" if inp.is_stdin else inp.name
    if inp.is_stdin:
        path = inp.htslib_path()
        handle = os.fdopen(os.dup(sys.stdin.fileno()), "rb") if path == "-" else open(path, "rb")
    else:
        handle = open(inp.name, "rb")
    with handle:
        fs = compute_stream(handle, label, gz)
    return FqStats([fs])
