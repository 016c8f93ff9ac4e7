"""samtools depth rows: positions cut into segments, each walked, formatted and written.

An indexed reference is cut into segments of positions. A segment's walk starts at the
BAI linear-index entry of its first position (every read overlapping the segment comes
at or after it), skips reads that end before the segment and stops at the first read
starting past it, so a read across a boundary counts in both segments, each for its own
positions. Its coverage is a difference array of the segment only, so memory follows
the segment size, not the reference length.

Which positions are printed is interval arithmetic on a few lists (the union of the
reads' spans, -a's whole reference, -r, -b), not a per-position mask. The text is made
by the `format_rows` kernel into a reused buffer: with -@ N, workers write their
segment's text to a file in /dev/shm that the parent `sendfile`s to the output in
segment order; with -@ 1, straight to the output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfcli.engine.depth.core import MARGIN, CountRules, iter_ref_coverage
from gfcli.engine.errors import DataError

_OUT_BYTES = 1 << 20  # formatted text per write
_SEGMENT_MIN = 1 << 20
_SEGMENT_MAX = 1 << 22  # 16 MB of coverage per input file; ~64 MB of text in /dev/shm
_NO_END = 1 << 62
_LINEAR_SHIFT = 14  # BAI linear index: one entry per 16 kb window


@dataclass(frozen=True)
class _Rows:
    """Which positions samtools prints for a reference."""

    all_positions: int
    beg: int
    end: int | None
    bed: Any  # (n, 2) int64 or None (no -b)
    region: bool

    def needs_counted(self) -> bool:
        """-a prints every position of a reference only if one of its reads counted."""
        return self.all_positions == 1 and not self.region


# --------------------------------------------------------------------------- intervals


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted, merged union of (n, 2) half-open interval lists."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    iv = np.concatenate(parts).astype(np.int64, copy=False)
    iv = iv[iv[:, 0] < iv[:, 1]]
    if len(iv) < 2:
        return iv
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    reach = np.maximum.accumulate(iv[:, 1])
    new = np.empty(len(iv), dtype=bool)
    new[0] = True
    new[1:] = iv[1:, 0] > reach[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(iv)) - 1
    return np.stack([iv[starts, 0], reach[ends]], axis=1)


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection of two sorted lists of disjoint half-open intervals."""
    if not len(a) or not len(b):
        return np.zeros((0, 2), dtype=np.int64)
    pos = np.concatenate([a[:, 0], a[:, 1], b[:, 0], b[:, 1]])
    step = np.concatenate([np.ones(len(a), np.int64), -np.ones(len(a), np.int64),
                           np.ones(len(b), np.int64), -np.ones(len(b), np.int64)])
    order = np.lexsort((step, pos))  # at one position, ends before starts
    pos, level = pos[order], np.cumsum(step[order])
    inside = np.flatnonzero(level[:-1] == 2)
    out = np.stack([pos[inside], pos[inside + 1]], axis=1)
    return out[out[:, 0] < out[:, 1]]


def _clip(iv: np.ndarray, beg: int, end: int) -> np.ndarray:
    return _intersect(iv, np.array([[beg, end]], dtype=np.int64)) if end > beg else iv[:0]


def row_intervals(spans: list[np.ndarray], counted: bool, length: int, rows: _Rows,
                  beg: int, end: int) -> np.ndarray:
    """Positions in [beg, end) that samtools prints, as flat [b0, e0, b1, e1, ...]."""
    parts = list(spans)
    if rows.all_positions and (rows.all_positions > 1 or rows.region or counted):
        parts.append(np.array([[0, length]], dtype=np.int64))
    keep = _union(parts)
    lo = max(beg, rows.beg)
    hi = min(end, length + 1 + MARGIN)
    if rows.end is not None:
        hi = min(hi, rows.end)
    keep = _clip(keep, lo, hi)
    if rows.bed is not None:
        keep = _intersect(keep, rows.bed)
    return keep.reshape(-1).astype(np.int64)


# --------------------------------------------------------------------------- text


_OUT: np.ndarray | None = None


def _out_buffer(row_max: int) -> np.ndarray:
    """The reused text buffer, with room for many rows of at most `row_max` bytes (the
    kernel returns without progress when one row does not fit)."""
    global _OUT
    size = max(_OUT_BYTES, 64 * row_max)
    if _OUT is None or len(_OUT) < size:
        _OUT = np.empty(size, dtype=np.uint8)
    return _OUT


def write_rows(name: str, matrix: np.ndarray, n_files: int, stride: int, offset: int,
               ivals: np.ndarray, write) -> None:
    """Rows of the positions in `ivals`; matrix[f * stride + pos - offset] is file f's
    depth. `write` gets views of one reused buffer (consume before returning)."""
    from gfcli.engine.depth.native import kernels

    if not len(ivals):
        return
    k = kernels()
    name_bytes = np.frombuffer(name.encode(), dtype=np.uint8).copy()
    resume = np.zeros(2, dtype=np.int64)
    out = _out_buffer(len(name_bytes) + 64 + 12 * n_files)
    n_ivals = len(ivals) // 2
    while resume[0] < n_ivals:
        n = k.format_rows(name_bytes, matrix, n_files, stride, offset, ivals, resume, out)
        write(memoryview(out)[:n])


def write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]


class _Payload:
    """A segment's text, written by a worker: kept in memory while small, else in a file
    of the spool directory (/dev/shm) for the parent to `sendfile`."""

    def __init__(self, spool_dir: str | None):
        self._dir = spool_dir
        self._parts: list[bytes] = []
        self._size = 0
        self._fd = -1
        self.path: str | None = None

    def __call__(self, data: Any) -> None:
        if self._fd < 0 and self._dir is not None and self._size + len(data) > _OUT_BYTES:
            import tempfile

            self._fd, self.path = tempfile.mkstemp(prefix="depth-", dir=self._dir)
            for part in self._parts:
                write_all(self._fd, part)
            self._parts = []
        if self._fd >= 0:
            write_all(self._fd, data)
        else:
            self._parts.append(bytes(data))
        self._size += len(data)

    def close(self) -> Any:
        """What goes back to the parent: bytes or a `Spooled` file."""
        from gfcli.engine.spool import Spooled

        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            assert self.path is not None
            return Spooled(self.path, self._size)
        return b"".join(self._parts)


def _emit(fd: int, payload: Any) -> None:
    from gfcli.engine.spool import write_payload

    if payload:
        write_payload(fd, payload)


def _drop(payload: Any) -> None:
    path = getattr(payload, "path", None)
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


# --------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    tid: int
    name: str
    length: int
    beg: int  # positions [beg, end) of the reference
    end: int
    walk_end: int  # the walk stops at the first read starting here
    files: tuple  # per input: (path, start voffset or None, stop voffset or None, n_ref)
    rules: CountRules
    rows: _Rows
    last: bool  # the reference's last segment


_SCRATCH: np.ndarray | None = None


def _zeroed(n: int) -> np.ndarray:
    """A zeroed int32 array of n, reusing one buffer (no page faults per segment)."""
    global _SCRATCH
    if _SCRATCH is None or len(_SCRATCH) < n:
        _SCRATCH = np.zeros(n, dtype=np.int32)
        return _SCRATCH[:n]
    view = _SCRATCH[:n]
    view.fill(0)
    return view


def _segment_coverage(seg: Segment) -> tuple[np.ndarray, int, list[np.ndarray], bool]:
    from gfcli.engine.depth.core import mapped_batcher

    stride = seg.end - seg.beg + 1  # + a last cell for reads running past the segment
    matrix = _zeroed(stride * len(seg.files))
    lengths = tuple([0] * seg.tid + [seg.length])
    spans: list[np.ndarray] = []
    counted = False
    for f, (path, start, stop, n_ref) in enumerate(seg.files):
        if start is None:
            continue
        diff = matrix[f * stride:(f + 1) * stride]
        batcher = mapped_batcher(path, start, stop, n_ref)
        for cov in iter_ref_coverage(batcher, seg.rules, lengths, path, tid=seg.tid,
                                     beg=seg.beg, end=seg.walk_end, segment=diff):
            spans.append(cov.spans)
            counted = counted or cov.counted > 0
    return matrix, stride, spans, counted


def _segment_text(seg: Segment, write) -> bool:
    """Write the segment's rows; returns whether a read counted in it."""
    matrix, stride, spans, counted = _segment_coverage(seg)
    ivals = row_intervals(spans, counted or seg.rows.needs_counted(), seg.length, seg.rows,
                          seg.beg, seg.end)
    write_rows(seg.name, matrix, len(seg.files), stride, seg.beg, ivals, write)
    return counted


@dataclass(frozen=True)
class _Job:
    segment: Segment
    spool_dir: str | None


def run_job(job: _Job) -> tuple[Any, bool]:
    """Worker side: (text as bytes or a spooled file, whether a read counted)."""
    payload = _Payload(job.spool_dir)
    try:
        counted = _segment_text(job.segment, payload)
    except BaseException:
        _drop(payload.close())
        raise
    return payload.close(), counted


def _segment_size(total: int, threads: int) -> int:
    """About four segments per worker (the parent writes one while others are walked),
    within bounds that keep both the per-segment cost and the memory small: the pool
    keeps two segments per worker in flight, so /dev/shm holds at most about
    2 x workers x 64 MB of finished text."""
    size = -(-total // max(1, 4 * threads))
    return max(_SEGMENT_MIN, min(_SEGMENT_MAX, size))


def plan_segments(sources: list, rules: CountRules, tids: list[int], region, rows_for,
                  threads: int) -> list[Segment]:
    first = sources[0]
    # A segment's walk starts from the linear index; without one (CSI), or with -s
    # (a read's clip depends on its mate, met earlier), a reference is one segment.
    split = not rules.overlaps and all(
        all(len(o[2]) for o in src.offsets if o[0] is not None) for src in sources)
    bounds = {}
    for tid in tids:
        extent = first.lengths[tid] + 1 + MARGIN
        lo, hi = 0, extent
        if region is not None:
            lo = region[1]
            if region[2] is not None:
                hi = min(hi, region[2])
        bounds[tid] = (lo, max(lo, hi))
    size = _segment_size(sum(hi - lo for lo, hi in bounds.values()), threads)
    segments = []
    for tid in tids:
        lo, hi = bounds[tid]
        cuts = list(range(lo, hi, size)) if split else [lo]
        if not cuts:
            cuts = [lo]
        rows = rows_for(tid)
        for i, beg in enumerate(cuts):
            last = i == len(cuts) - 1
            end = hi if last else cuts[i + 1]
            if split and rows.bed is not None and not rows.needs_counted() and not len(
                    _clip(rows.bed, beg, end)):
                continue  # -b: no position of the segment can be printed
            if last:
                walk_end = region[2] if region is not None and region[2] is not None \
                    else _NO_END
            else:
                walk_end = end
            files = []
            for src in sources:
                if tid >= len(src.offsets):
                    files.append((src.path, None, None, len(src.names)))
                    continue
                start, stop, linear = src.offsets[tid]
                if start is not None and beg > 0 and linear:
                    window = min(beg >> _LINEAR_SHIFT, len(linear) - 1)
                    if linear[window] > start:
                        start = linear[window]
                files.append((src.path, start, stop, len(src.names)))
            segments.append(Segment(tid, first.names[tid], first.lengths[tid], beg, max(beg, end),
                                    walk_end, tuple(files), rules, rows, last))
    return segments


def run_indexed(segments: list[Segment], fd: int, threads: int) -> None:
    """Segments in order to `fd`; -a's rows of a reference are held back until one of
    its segments shows a counted read (else they are dropped: samtools prints none)."""
    held: list[Any] = []
    known = True

    def take(seg: Segment, payload: Any, counted: bool) -> None:
        nonlocal known, held
        if known:
            _emit(fd, payload)
        else:
            held.append(payload)
            if counted:
                known = True
                for item in held:
                    _emit(fd, item)
                held = []
        if seg.last:
            for item in held:
                _drop(item)
            held = []

    def start(seg: Segment) -> None:
        nonlocal known
        if seg.beg == seg_first[seg.tid]:
            known = not seg.rows.needs_counted()

    seg_first: dict[int, int] = {}
    for seg in segments:
        seg_first.setdefault(seg.tid, seg.beg)

    if threads <= 1 or len(segments) <= 1:
        spool_dir = None
        try:
            for seg in segments:
                start(seg)
                if known:
                    _segment_text(seg, lambda data: write_all(fd, data))
                    continue
                if spool_dir is None:
                    from gfcli.engine.spool import make_spool_dir

                    spool_dir = make_spool_dir()
                payload, counted = run_job(_Job(seg, spool_dir))
                take(seg, payload, counted)
        finally:
            for item in held:
                _drop(item)
            if spool_dir is not None:
                from gfcli.engine.spool import remove_spool_dir

                remove_spool_dir(spool_dir)
        return

    from gfcli.engine.execute import make_runner
    from gfcli.engine.spool import make_spool_dir, remove_spool_dir

    spool_dir = make_spool_dir()
    try:
        with make_runner(threads) as runner:
            jobs = [_Job(seg, spool_dir) for seg in segments]
            for seg, (payload, counted) in zip(segments, runner.map(run_job, jobs),
                                               strict=True):
                start(seg)
                take(seg, payload, counted)
    finally:
        for item in held:
            _drop(item)
        remove_spool_dir(spool_dir)


def run_streaming(sources: list, rules: CountRules, region, rows_for, all_positions: int,
                  fd: int) -> None:
    """Inputs without a usable index: one pass, reference after reference."""
    from gfcli.engine.depth.run import _empty, _stream_coverage

    names, lengths = sources[0].names, sources[0].lengths

    def write(data: Any) -> None:
        write_all(fd, data)

    def emit(tid: int, covs: list) -> None:
        length = lengths[tid]
        stride = min(len(c.depth) for c in covs)
        if len(covs) == 1:
            matrix = covs[0].depth
        else:
            matrix = np.empty(len(covs) * stride, dtype=np.int32)
            for i, c in enumerate(covs):
                matrix[i * stride:(i + 1) * stride] = c.depth[:stride]
        ivals = row_intervals([c.spans for c in covs], any(c.counted for c in covs), length,
                              rows_for(tid), 0, length + 1 + MARGIN)
        write_rows(names[tid], matrix, len(covs), stride, 0, ivals, write)

    def zeros(tid: int) -> None:
        emit(tid, [_empty(tid, lengths[tid]) for _ in sources])

    done = -1
    for tid, covs in _stream_coverage(sources, rules, region):
        if all_positions > 1 and region is None:
            for t in range(done + 1, tid):
                zeros(t)
        emit(tid, covs)
        done = tid
    if region is not None and done < 0 and all_positions:
        zeros(region[0])
    elif all_positions > 1 and region is None:
        for t in range(done + 1, len(names)):
            zeros(t)


@contextmanager
def open_output(target: Any) -> Iterator[int]:
    """The file descriptor rows are written to, for an AtomicOutput target."""
    if not target.is_stdout:
        try:
            fd = os.open(target.path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o666)
        except OSError as exc:
            raise DataError(f"cannot write {target.path}: {exc.strerror}") from None
        try:
            yield fd
        finally:
            os.close(fd)
        return
    sys.stdout.flush()
    stream = sys.stdout.buffer
    stream.flush()
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd >= 0:
        yield fd
        return
    # A stdout without a descriptor (an in-process test runner): through a temp file.
    import shutil
    import tempfile

    with tempfile.TemporaryFile() as tmp:
        yield tmp.fileno()
        tmp.seek(0)
        shutil.copyfileobj(tmp, stream)
