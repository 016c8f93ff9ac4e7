"""Coverage of one reference from raw BAM records: difference array, spans, name table.

`iter_ref_coverage` runs the `depth_walk` kernel over a batcher (a chunk of an indexed
BAM, a whole stream, or pysam's records re-encoded as uncompressed BAM) and yields one
`RefCoverage` per reference met, in file order. Memory: one int32 array per reference
(its length plus a margin for reads hanging off the end), the span list and, with
overlap handling, the table of read names seen.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfcli.engine.errors import DataError

# Status codes and array layouts of gfcli.engine.bam.depth_kernels (repeated so the
# native path does not import numba).
OK, BAD_RECORD, TID_CHANGE, NEED_SPANS, NEED_HASH, NEED_POOL, PAST_END, UNSORTED, BAD_CIGAR = (
    0, -1, 1, 2, 3, 4, 5, 6, 7)
BAD_REFID, BAD_MATE_REFID = -2, -3  # = reader.BAD_REFID / BAD_MATE_REFID
N_PARAMS = 14
N_STATE = 10
N_VALS = 5
S_NEXT, S_N_SPANS, S_SPAN_BEG, S_SPAN_END, S_HASH_USED, S_POOL_USED = 0, 1, 2, 3, 4, 5
S_SEEN, S_COUNTED, S_LAST_POS, S_OTHER_TID = 6, 7, 8, 9
P_TID, P_REG_BEG, P_REG_END, P_OFFSET, P_NREF = 9, 10, 11, 12, 13

MARGIN = 1 << 16  # positions past a reference's end that reads may still cover

SAMTOOLS = 0
MOSDEPTH = 1


@dataclass(frozen=True)
class CountRules:
    mode: int = SAMTOOLS
    exclude: int = 0x704  # UNMAP|SECONDARY|QCFAIL|DUP (also mosdepth's 1796)
    include: int = 0
    require: int = 0
    min_mapq: int = 0
    min_len: int = 0
    min_bq: int = 0
    deletions: bool = False
    overlaps: bool = False  # samtools -s; mosdepth's mate-overlap correction

    def params(self, tid: int, n_ref: int, beg: int = 0, end: int | None = None,
               offset: int = 0) -> np.ndarray:
        return np.array([self.mode, self.exclude, self.include, self.require, self.min_mapq,
                         self.min_len, self.min_bq, int(self.deletions), int(self.overlaps),
                         tid, beg, -1 if end is None else end, offset, n_ref],
                        dtype=np.int64)


@dataclass
class RefCoverage:
    tid: int
    depth: np.ndarray  # int32, depth per position (after the cumulative sum)
    spans: np.ndarray  # int64 (n, 2): union of the counted reads' [pos, end)
    seen: int  # records on the reference (any flag)
    counted: int  # records that passed the filters


class _Tables:
    """The growable arrays a walk needs; the name table lives across references
    (samtools keeps one for the whole file) unless `reset_names` is called."""

    def __init__(self, rules: CountRules):
        self.rules = rules
        self.spans = np.zeros(2 * 4096, dtype=np.int64)
        cap = 1 << 14 if rules.overlaps else 2
        self.keys = np.zeros(cap, dtype=np.int64)
        self.vals = np.zeros(cap * N_VALS, dtype=np.int64)
        self.pool = np.zeros(1 << 14 if rules.overlaps and rules.mode == MOSDEPTH else 2,
                             dtype=np.int64)
        self.state = np.zeros(N_STATE, dtype=np.int64)

    def reset_names(self) -> None:
        self.keys[:] = 0
        self.state[S_HASH_USED] = 0
        self.state[S_POOL_USED] = 0

    def grow(self, status: int, kernels: Any) -> None:
        if status == NEED_SPANS:
            bigger = np.zeros(2 * len(self.spans), dtype=np.int64)
            bigger[: len(self.spans)] = self.spans
            self.spans = bigger
        elif status == NEED_HASH:
            live = int(np.count_nonzero(self.keys > 0))
            cap = len(self.keys)
            while live * 4 > cap:
                cap *= 2
            keys = np.zeros(cap, dtype=np.int64)
            vals = np.zeros(cap * N_VALS, dtype=np.int64)
            moved = kernels.hash_rehash(self.keys, self.vals, keys, vals)
            self.keys, self.vals = keys, vals
            self.state[S_HASH_USED] = moved
        elif status == NEED_POOL:
            bigger = np.zeros(2 * len(self.pool), dtype=np.int64)
            bigger[: len(self.pool)] = self.pool
            self.pool = bigger


def _finish(tid: int, diff: np.ndarray, tables: _Tables, kernels: Any) -> RefCoverage:
    state = tables.state
    n = int(state[S_N_SPANS])
    spans = tables.spans[: 2 * n].reshape(n, 2).copy()
    if state[S_SPAN_END] >= 0:
        spans = np.vstack([spans, [[state[S_SPAN_BEG], state[S_SPAN_END]]]])
    kernels.cumsum_inplace(diff, len(diff))
    return RefCoverage(tid, diff, spans, int(state[S_SEEN]), int(state[S_COUNTED]))


def _start_ref(tables: _Tables, params: np.ndarray, tid: int, lengths: tuple[int, ...],
               diff: np.ndarray | None = None) -> Any:
    params[P_TID] = tid
    state = tables.state
    for i in (S_N_SPANS, S_SEEN, S_COUNTED, S_LAST_POS):
        state[i] = 0
    state[S_SPAN_END] = -1
    if tables.rules.mode == MOSDEPTH:
        tables.reset_names()  # mosdepth's table of mates is per chromosome
    if diff is not None:
        return diff
    return np.zeros(lengths[tid] + 1 + MARGIN, dtype=np.int32)


def iter_ref_coverage(batcher: Any, rules: CountRules, lengths: tuple[int, ...], name: str,
                      tid: int | None = None, beg: int = 0, end: int | None = None,
                      tables: _Tables | None = None,
                      segment: np.ndarray | None = None) -> Iterator[RefCoverage]:
    """Coverage per reference of the records from the batcher's position on.

    With `tid`, only that reference is expected (an index chunk or region); the walk ends
    at the first record of another reference, or (with `end`) at the first record
    starting at or after `end`. Without, every reference of the stream is yielded in turn.
    `segment` (samtools rules, with `tid`): a zeroed array that holds the difference
    array of positions `beg` on instead of one of the whole reference; depth[i] is then
    position beg + i (reads before `beg` count from it, those past the array's end stop
    at it).
    A record whose refID or next refID is outside [-1, n_ref) is an error, n_ref being
    the header's reference count (`batcher.n_ref`; `lengths` may hold only the first
    tid + 1 references).
    """
    from gfcli.engine.depth.native import kernels as get_kernels

    k = get_kernels()
    tables = tables or _Tables(rules)
    n_ref = batcher.n_ref if batcher.n_ref is not None else len(lengths)
    params = rules.params(-2 if tid is None else tid, n_ref, beg, end,
                          beg if segment is not None else 0)
    diff = _start_ref(tables, params, tid, lengths, segment) if tid is not None else None
    current = tid
    state = tables.state
    while True:
        limit = batcher.stop_pos if batcher.stop_pos is not None else batcher.fill
        while batcher.pos < limit:
            status = k.depth_walk(batcher, batcher.pos, limit, batcher.fill, params,
                                  diff if diff is not None else tables.spans[:0].view(np.int32),
                                  tables.spans, tables.keys, tables.vals, tables.pool, state)
            batcher.pos = int(state[S_NEXT])
            if status == OK:
                break
            if status in (NEED_SPANS, NEED_HASH, NEED_POOL):
                tables.grow(status, k)
                continue
            if status == TID_CHANGE:
                other = int(state[S_OTHER_TID])
                if tid is not None:
                    yield _finish(current, diff, tables, k)
                    return
                if current is not None:
                    yield _finish(current, diff, tables, k)
                current = other
                diff = _start_ref(tables, params, other, lengths)
                continue
            if status == PAST_END:
                yield _finish(current, diff, tables, k)
                return
            if status in (BAD_REFID, BAD_MATE_REFID):
                from gfcli.engine.bam.reader import record_error

                raise DataError(record_error(status, batcher.buf, batcher.pos,
                                             batcher.voffset(batcher.pos), n_ref), path=name)
            where = batcher.voffset(batcher.pos)
            what = {UNSORTED: "the alignments are not sorted by position",
                    BAD_CIGAR: "unknown CIGAR operation"}.get(status, "malformed BAM record")
            raise DataError(f"{what} (record at virtual offset {where >> 16}:{where & 0xFFFF})",
                            path=name)
        if batcher.stop_pos is not None and batcher.pos >= batcher.stop_pos:
            break
        if batcher.eof and batcher.pos >= batcher.fill:
            break
        if not batcher.more():
            if batcher.pos < batcher.fill:
                raise DataError("truncated BAM file (a record is cut short)", path=name)
            break
    if current is not None and diff is not None:
        yield _finish(current, diff, tables, k)


# --------------------------------------------------------------------------- sources


def ref_offsets(index_path: str) -> list[tuple[int | None, int | None, list[int]]]:
    """Per reference of a BAI/CSI: (first record voffset, voffset after its last record,
    BAI linear index), from the pseudo-bin htslib writes (None when absent)."""
    import gzip

    with open(index_path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = data[:4]
    out: list[tuple[int | None, int | None, list[int]]] = []
    if magic == b"BAI\x01":
        csi, depth, pos = False, 5, 4
    elif magic == b"CSI\x01":
        _min_shift, depth, l_aux = struct.unpack_from("<3i", data, 4)
        csi, pos = True, 16 + l_aux
    else:
        raise DataError("not a BAI or CSI index", path=index_path)
    pseudo = ((1 << (3 * (depth + 1))) - 1) // 7 + 1
    (n_ref,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(n_ref):
        (n_bin,) = struct.unpack_from("<i", data, pos)
        pos += 4
        beg = end = None
        lowest = None
        for _ in range(n_bin):
            if csi:
                bin_id, _loff, n_chunk = struct.unpack_from("<IQi", data, pos)
                pos += 16
            else:
                bin_id, n_chunk = struct.unpack_from("<Ii", data, pos)
                pos += 8
            chunks = struct.unpack_from(f"<{2 * n_chunk}Q", data, pos)
            pos += 16 * n_chunk
            if bin_id == pseudo:
                if n_chunk >= 1:
                    beg, end = chunks[0], chunks[1]
                continue
            if chunks:
                low = min(chunks[0::2])
                lowest = low if lowest is None else min(lowest, low)
        linear: list[int] = []
        if not csi:
            (n_intv,) = struct.unpack_from("<i", data, pos)
            pos += 4
            linear = list(struct.unpack_from(f"<{n_intv}Q", data, pos))
            pos += 8 * n_intv
        out.append((beg if beg is not None else lowest, end, linear))
    return out


def mapped_batcher(path: str, start: int, stop: int | None, n_ref: int) -> Any:
    """Records of a BAM file from virtual offset `start` to `stop`; `n_ref` is the
    header's reference count (the range of valid refIDs)."""
    from gfcli.engine import bgzf
    from gfcli.engine.bam import reader

    data = bgzf.map_file(path)
    address, within = bgzf.split_voffset(start)
    stop_address, stop_within = (None, 0) if stop is None else bgzf.split_voffset(stop)
    batcher = reader.Batcher(reader._MappedBlocks(data, address, path), stop_address,
                             stop_within)
    batcher.n_ref = n_ref
    batcher.skip_to_voffset_within(within)
    return batcher


_CONVERT = """
import sys, pysam
path, reference, region, fields, threads = sys.argv[1:6]
kwargs = {"check_sq": False, "threads": int(threads)}
if fields != "0":
    kwargs["format_options"] = [("required_fields=" + fields).encode()]
if reference:
    kwargs["reference_filename"] = reference
pysam.set_verbosity(0)
try:
    handle = pysam.AlignmentFile(path, "r", **kwargs)
except (OSError, ValueError) as exc:
    sys.stderr.write(str(exc))
    sys.exit(3)
out = pysam.AlignmentFile("-", "wbu", header=handle.header)
try:
    records = handle.fetch(region=region) if region else handle.fetch(until_eof=True)
    for read in records:
        out.write(read)
except BrokenPipeError:
    sys.exit(0)
except (OSError, ValueError) as exc:
    sys.stderr.write(str(exc))
    sys.exit(4)
out.close()
"""


def pysam_batcher(path: str, reference: str | None, region: str | None,
                  rules: CountRules, threads: int = 1) -> tuple[Any, Any]:
    """SAM, CRAM, URLs: records read by htslib (pysam, in a child process) and re-encoded
    as uncompressed BAM into a pipe that a batcher reads, so they go through the same
    kernel. Returns (batcher, (names, lengths))."""
    import subprocess
    import sys

    from gfcli.engine.bam import reader

    fields = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20  # QNAME FLAG RNAME POS MAPQ CIGAR
    fields |= 0x40 | 0x80  # RNEXT PNEXT
    if rules.min_len:
        fields |= 0x200  # SEQ
    if rules.min_bq:
        fields |= 0x200 | 0x400  # SEQ QUAL
    pass_fds: tuple[int, ...] = ()
    if path.startswith("/dev/fd/"):
        pass_fds = (int(path[8:]),)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CONVERT, path, reference or "", region or "", str(fields),
         str(max(1, threads))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
        stdin=None if path in ("-", "/dev/stdin") else subprocess.DEVNULL)
    assert proc.stdout is not None
    batcher = reader.open_stream_batcher(proc.stdout, path)
    try:
        header = reader.read_header(batcher)
    except DataError:
        proc.wait()
        message = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        raise DataError(f"cannot read alignments: {message or 'no data'}", path=path) from None
    batcher.process = proc  # type: ignore[attr-defined]
    return batcher, (header.names, header.lengths)
