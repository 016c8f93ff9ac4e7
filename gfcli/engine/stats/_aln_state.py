"""samtools stats as a mergeable accumulator: settings, kernel workspace, merge, JSON, text.

`AlnSettings` holds what changes the numbers (samtools stats options). `Workspace` owns
the arrays the kernel (`gfcli.engine.bam.stats_kernels.stats_records`) fills for one
chunk and grows them on request. `AlnStats` is the accumulator: plain counters and
histograms that add up, plus the two sequential parts of samtools stats kept in a form
that merges exactly (see the kernel module): the coverage of a chunk's first bases
(`cov_head`) and its unflushed round buffer (`cov_tail`), and the GC-depth bins with the
head events of a chunk that did not start the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfcli.engine.bam.stats_layout import HEAD_SPAN
from gfcli.engine.errors import DataError, UsageError

NQUALS = 256
NGC = 200

# Indices into the kernel's scalar array (gfcli.engine.bam.stats_kernels).
(NFILT, N1ST, N2ND, NOTHER, NDUP, NUNMAP, NSINGLE, NPAIRMAP, NPROPER, NPAIRTECH, NANOM, NMQ0,
 NBMAP, NBCIGAR, NBTRIM, NMISM, NQCFAIL, NSEC, NSUPP, TLEN, TLEN1, TLEN2, TLENDUP, MAXLEN,
 MAXLEN1, MAXLEN2, MAXQUAL, CHK_NAMES, CHK_READS, CHK_QUALS, SUMQUAL, IS_SORTED, TID, POS,
 NBASES, REALLOC, RING_POS, RING_START, RING_SIZE, M_STARTED) = range(40)
IGCD, HEAD_MODE, HEAD_TID, NHEAD, COVHEAD_TID, COVHEAD_BASE, ANOMALY = 45, 46, 47, 48, 49, 50, 51
FIRST_TID, FIRST_POS, REF_TID, REF_START, REF_LEN = 52, 53, 54, 55, 56
NEED_A, NEED_B, NEED_C, REG_FROM, REG_TO, NRECORDS = 57, 58, 59, 60, 61, 62
N_SC = 64

# Counters that add up under merge, by name (JSON keys).
SUM_COUNTERS = {
    "filtered": NFILT, "first_fragments": N1ST, "last_fragments": N2ND, "other_fragments":
    NOTHER, "duplicated": NDUP, "unmapped": NUNMAP, "single_mapped": NSINGLE,
    "paired_and_mapped": NPAIRMAP, "properly_paired": NPROPER, "paired": NPAIRTECH,
    "anomalous": NANOM, "mq0": NMQ0, "bases_mapped": NBMAP, "bases_mapped_cigar": NBCIGAR,
    "bases_trimmed": NBTRIM, "mismatches": NMISM, "qc_failed": NQCFAIL, "secondary": NSEC,
    "supplementary": NSUPP, "total_length": TLEN, "total_first_length": TLEN1,
    "total_last_length": TLEN2, "duplicated_length": TLENDUP, "sum_quality": SUMQUAL,
    "records": NRECORDS,
}
MAX_COUNTERS = {"max_length": MAXLEN, "max_first_length": MAXLEN1,
                "max_last_length": MAXLEN2, "max_quality": MAXQUAL}
CHECKSUMS = {"names": CHK_NAMES, "sequences": CHK_READS, "qualities": CHK_QUALS}


@dataclass(frozen=True)
class AlnSettings:
    """The samtools stats options that change the numbers."""

    require: int = 0
    filter: int = 0
    read_length: int = -1
    trim_quality: int = 0
    insert_size: int = 8000
    most_inserts: float = 0.99
    cov_min: int = 1
    cov_max: int = 1000
    cov_step: int = 1
    gcd_bin: int = 20000
    reference: str | None = None
    targets: str | None = None
    min_mapq: int = 0
    sparse: bool = False
    cov_threshold: int = 0

    def normalised(self) -> AlnSettings:
        """samtools' adjustment of -c (init_stat_structs)."""
        cmin, cmax, step = self.cov_min, self.cov_max, self.cov_step
        if step > cmax - cmin + 1:
            step = cmax - cmin
            if step <= 0:
                step = 1
        cmax = cmin + ((cmax - cmin) // step + 1) * step - 1
        return AlnSettings(**{**self.__dict__, "cov_min": cmin, "cov_max": cmax,
                              "cov_step": step})

    @property
    def ncov(self) -> int:
        return 3 + (self.cov_max - self.cov_min) // self.cov_step

    def key(self) -> dict:
        d = dict(self.__dict__)
        d.pop("sparse")
        d["reference"] = bool(self.reference)
        return d


# --------------------------------------------------------------------------- targets


@dataclass
class Targets:
    """samtools stats -t: chr, from, to (1-based, inclusive), merged per sequence."""

    beg: np.ndarray
    end: np.ndarray
    off: np.ndarray
    count: int

    @staticmethod
    def empty(n_ref: int) -> Targets:
        z = np.zeros(1, dtype=np.int64)
        return Targets(z, z, np.zeros(n_ref + 1, dtype=np.int64), 0)


def read_targets(path: str, names: tuple[str, ...], lengths: tuple[int, ...]) -> Targets:
    index = {name: i for i, name in enumerate(names)}
    per: dict[int, list[tuple[int, int]]] = {}
    prev_tid = -1
    prev_pos = -1
    warned = False
    import sys

    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    with handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                raise DataError(f"could not parse the targets file: {line!r}", path=path)
            tid = index.get(parts[0])
            if tid is None:
                if not warned:
                    print(f'Warning: Some sequences not present in the BAM, e.g. "{parts[0]}". '
                          "This message is printed only once.", file=sys.stderr)
                warned = True
                continue
            nums = parts[1].split()
            try:
                beg, end = int(nums[0]), int(nums[1])
            except (ValueError, IndexError):
                raise DataError(f"could not parse the region [{parts[1]}]", path=path) from None
            if prev_tid == -1 or prev_tid != tid:
                prev_tid = tid
                prev_pos = beg
            if prev_pos > beg:
                raise DataError(f"the positions are not in chromosomal order ({parts[0]}:{beg} "
                                f"comes after {prev_pos})", path=path)
            per.setdefault(tid, []).append((beg, end))
    if not per:
        raise DataError("unable to map the -t sequences to the alignment sequences", path=path)
    beg_all: list[int] = []
    end_all: list[int] = []
    off = [0]
    count = 0
    for tid in range(len(names)):
        ivs = sorted(per.get(tid, []))
        merged: list[list[int]] = []
        for b, e in ivs:
            if merged and not merged[-1][1] < b:
                if merged[-1][1] < e:
                    merged[-1][1] = e
            else:
                merged.append([b, e])
        for b, e in merged:
            beg_all.append(b)
            end_all.append(e)
            count += e - b + 1
        off.append(len(beg_all))
    return Targets(np.array(beg_all or [0], dtype=np.int64),
                   np.array(end_all or [0], dtype=np.int64),
                   np.array(off, dtype=np.int64), count)


# --------------------------------------------------------------------------- workspace


def _grow(a: np.ndarray, axis: int, new: int) -> np.ndarray:
    shape = list(a.shape)
    shape[axis] = new
    out = np.zeros(shape, dtype=a.dtype)
    sl = tuple(slice(0, s) for s in a.shape)
    out[sl] = a
    return out


class Workspace:
    """The arrays one chunk's kernel calls fill."""

    def __init__(self, st: AlnSettings, names: tuple[str, ...], lengths: tuple[int, ...],
                 targets: Targets | None, head_mode: bool, cap: int = 512):
        from gfcli.engine.bam import stats_layout as k

        self.k = k
        self.st = st
        self.names = names
        self.lengths = lengths
        n_ref = len(names)
        self.sc = np.zeros(N_SC, dtype=np.int64)
        sc = self.sc
        sc[IS_SORTED] = 1
        sc[TID] = -1
        sc[NBASES] = 300
        sc[RING_SIZE] = 1500
        sc[k.M_TID] = -1
        sc[k.M_GCD_POS] = -1
        sc[k.M_RSEQ_POS] = -1
        sc[k.M_MRSEQ] = max(300 * 10, st.gcd_bin)
        sc[HEAD_MODE] = 1 if head_mode else 0
        sc[HEAD_TID] = -2
        sc[COVHEAD_TID] = -2
        sc[FIRST_TID] = -2
        sc[REF_TID] = -1
        self.cfg = np.zeros(k.N_CFG, dtype=np.int64)
        cfg = self.cfg
        cfg[k.C_REQUIRE] = st.require
        cfg[k.C_FILTER] = st.filter
        cfg[k.C_READLEN] = st.read_length
        cfg[k.C_TRIM] = st.trim_quality
        cfg[k.C_NISIZE] = st.insert_size
        cfg[k.C_COVMIN] = st.cov_min
        cfg[k.C_COVMAX] = st.cov_max
        cfg[k.C_COVSTEP] = st.cov_step
        cfg[k.C_NCOV] = st.ncov
        cfg[k.C_GCDBIN] = st.gcd_bin
        cfg[k.C_FAI] = 1 if st.reference else 0
        cfg[k.C_REGIONS] = 1 if targets is not None else 0
        cfg[k.C_MINMAPQ] = st.min_mapq
        cfg[k.C_NREF] = n_ref
        self.cap = cap
        self.quals = np.zeros((2, cap, NQUALS), dtype=np.int64)
        self.bases = np.zeros((4, cap, 16), dtype=np.int64)
        self.rlen = np.zeros((3, cap), dtype=np.int64)
        self.indel = np.zeros((2, max(cap, 301)), dtype=np.int64)
        self.icyc = np.zeros((4, cap + 1), dtype=np.int64)
        self.gcfl = np.zeros((2, NGC), dtype=np.int64)
        self.isz = np.zeros((3, max(st.insert_size, 0) + 1), dtype=np.int64)
        self.mapq = np.zeros(256, dtype=np.int64)
        self.cov = np.zeros(st.ncov, dtype=np.int64)
        self.ring = np.zeros(5 * cap + 8, dtype=np.int64)
        self.ring_old = np.zeros_like(self.ring)
        self.ms = np.zeros(7, dtype=np.int64)
        self.cov_head = np.zeros(HEAD_SPAN, dtype=np.int64)
        self.mpc = np.zeros((cap if st.reference else 1, NQUALS), dtype=np.int64)
        self.gcd_gc = np.zeros(1024, dtype=np.float32)
        self.gcd_depth = np.zeros(1024, dtype=np.int64)
        self.gcd_tid = np.zeros(1024, dtype=np.int64)
        self.gcd_pos = np.zeros(1024, dtype=np.int64)
        self.head_pos = np.zeros(1024, dtype=np.int64)
        self.head_len = np.zeros(1024, dtype=np.int64)
        self.head_frac = np.zeros(1024, dtype=np.float32)
        self.refw = np.zeros(1, dtype=np.uint8)
        self.targets = targets or Targets.empty(n_ref)
        self.reg_cpos = np.zeros(max(n_ref, 1), dtype=np.int64)
        nchunk = int(np.max(np.diff(self.targets.off))) if n_ref else 0
        self.chunk_beg = np.zeros(max(nchunk, 1), dtype=np.int64)
        self.chunk_end = np.zeros(max(nchunk, 1), dtype=np.int64)
        self.clens = np.array(list(lengths) or [0], dtype=np.int64)
        self.per_tid = np.zeros(max(n_ref, 1), dtype=np.int64)
        self.result = np.zeros(2, dtype=np.int64)
        self.bad_status = 0  # why `consume` stopped at a record it refused
        self._fasta: Any = None

    # -- growth
    def _grow_cycles(self, need: int) -> None:
        cap = self.cap
        while cap < need + 4:
            cap *= 2
        self.quals = _grow(self.quals, 1, cap)
        self.bases = _grow(self.bases, 1, cap)
        self.rlen = _grow(self.rlen, 1, cap)
        self.indel = _grow(self.indel, 1, max(cap, 301))
        self.icyc = _grow(self.icyc, 1, cap + 1)
        ring = np.zeros(5 * cap + 8, dtype=np.int64)
        ring[: self.ring.shape[0]] = self.ring
        self.ring = ring
        self.ring_old = np.zeros_like(ring)
        if self.st.reference:
            self.mpc = _grow(self.mpc, 0, cap)
        self.cap = cap

    def _grow_gcd(self) -> None:
        n = self.gcd_gc.shape[0] * 2
        self.gcd_gc = _grow(self.gcd_gc, 0, n)
        self.gcd_depth = _grow(self.gcd_depth, 0, n)
        self.gcd_tid = _grow(self.gcd_tid, 0, n)
        self.gcd_pos = _grow(self.gcd_pos, 0, n)

    def _grow_head(self) -> None:
        n = self.head_pos.shape[0] * 2
        self.head_pos = _grow(self.head_pos, 0, n)
        self.head_len = _grow(self.head_len, 0, n)
        self.head_frac = _grow(self.head_frac, 0, n)

    def _load_ref(self, tid: int, start: int, end: int) -> None:
        if self._fasta is None:
            import pysam

            try:
                self._fasta = pysam.FastaFile(self.st.reference)
            except (OSError, ValueError) as exc:
                raise UsageError(f"could not load faidx: {self.st.reference} ({exc})") from None
        name = self.names[tid]
        clen = int(self.clens[tid])
        stop = min(clen, max(end, start + (4 << 20)))
        try:
            seq = self._fasta.fetch(name, start, stop)
        except (KeyError, ValueError) as exc:
            raise DataError(f'failed to fetch the sequence "{name}" ({exc})',
                            path=self.st.reference) from None
        self.refw = encode_reference(seq)
        self.sc[REF_TID] = tid
        self.sc[REF_START] = start
        self.sc[REF_LEN] = len(seq)

    # -- the walk
    def _kernel_arrays(self) -> tuple[np.ndarray, ...]:
        # the kernel indexes the per-cycle tables flat (views: no copy)
        return (self.sc, self.cfg, self.quals.reshape(-1), self.bases.reshape(-1), self.rlen,
                self.indel, self.icyc, self.gcfl, self.isz, self.mapq, self.cov, self.ring,
                self.cov_head, self.mpc,
                self.gcd_gc, self.gcd_depth, self.gcd_tid, self.gcd_pos, self.head_pos,
                self.head_len, self.head_frac, self.refw, self.targets.beg, self.targets.end,
                self.targets.off, self.reg_cpos, self.chunk_beg, self.chunk_end, self.clens,
                self.per_tid, self.k._CRC_TABLE, self.result, self.ms, self.ring_old)

    def _run_kernel(self, buf: np.ndarray, p: int, limit: int, end: int) -> int:
        from gfcli.engine.bam import stats_native

        native = stats_native.load()
        arrays = self._kernel_arrays()
        if native is None:
            from gfcli.engine.bam import stats_kernels

            return int(stats_kernels.stats_records(buf, p, limit, end, *arrays))
        # the kernel reads buf[:end] only; the addresses stay valid while `arrays` lives
        ptrs, shapes = stats_native.tables(stats_native.RECORDS_ARGS, arrays)
        if buf.dtype != np.uint8 or not buf.flags.c_contiguous or end > buf.shape[0]:
            raise TypeError("the record buffer must be contiguous bytes")
        ints = np.array([p, limit, end, buf.shape[0]], np.int64)
        return int(native["stats_records"](buf.__array_interface__["data"][0],
                                           ints.ctypes.data, ptrs.ctypes.data,
                                           shapes.ctypes.data))

    def consume(self, buf: np.ndarray, start: int, limit: int, end: int) -> int:
        """Run the kernel over [start, limit); returns the next record start."""
        k = self.k
        p = start
        while True:
            status = self._run_kernel(buf, p, limit, end)
            p = int(self.result[1])
            if status == k.OK:
                return p
            if status == k.NEED_CYCLES:
                self._grow_cycles(int(self.sc[NEED_A]))
            elif status == k.NEED_GCD:
                self._grow_gcd()
            elif status == k.NEED_HEAD:
                self._grow_head()
            elif status == k.NEED_REF:
                self._load_ref(int(self.sc[NEED_A]), int(self.sc[NEED_B]), int(self.sc[NEED_C]))
            elif status in (k.BAD_RECORD, k.BAD_REFID, k.BAD_MATE_REFID):
                self.bad_status = int(status)
                return -p - 1
            else:
                raise DataError(_ERRORS.get(int(status), f"samtools stats error {status}"))

    def finish(self) -> AlnStats:
        """The chunk's partial statistics."""
        return AlnStats.from_workspace(self)


_ERRORS = {
    5: "the BAM must be sorted in order for -t to work",
    6: "a mapped read with no CIGAR (samtools stats stops here too)",
    7: "a read is too long for samtools stats' coverage buffer",
    9: "a read runs past the end of its reference sequence (-r)",
}

_REF_CODES = np.zeros(256, dtype=np.uint8)
for _ch, _code in (("A", 1), ("C", 2), ("G", 4), ("T", 8)):
    _REF_CODES[ord(_ch)] = _code
    _REF_CODES[ord(_ch.lower())] = _code


def _reference_gc(codes: np.ndarray) -> np.float32:
    """stats_kernels.ref_gc of a whole window: G+C over A+C+G+T, in float32 like samtools."""
    gc = int(np.count_nonzero((codes == 2) | (codes == 4)))
    count = gc + int(np.count_nonzero((codes == 1) | (codes == 8)))
    if count == 0:
        return np.float32(0.0)
    return np.float32(np.float32(gc) / np.float32(count))


def encode_reference(seq: str) -> np.ndarray:
    return _REF_CODES[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


# --------------------------------------------------------------------------- accumulator

# BAM 4-bit base code -> samtools' ACGT table column (A, C, G, T, N, other); and the
# column of the read-oriented table (GCT) for a forward and a reverse read (-1: not
# counted there).
_CODE_COL = np.full(16, 5, dtype=np.int64)
_CODE_COL[[1, 2, 4, 8, 15]] = [0, 1, 2, 3, 4]
_FWD_COL = np.full(16, -1, dtype=np.int64)
_FWD_COL[[1, 2, 4, 8]] = [0, 1, 2, 3]
_REV_COL = np.full(16, -1, dtype=np.int64)
_REV_COL[[1, 2, 4, 8]] = [3, 2, 1, 0]


def _acgt_table(bases: np.ndarray) -> np.ndarray:
    """samtools' per-cycle base tables (first, last, read oriented) from the kernel's
    counts by (fragment x strand, cycle, base code)."""
    n = bases.shape[1]
    acgt = np.zeros((3, n, 6), dtype=np.int64)
    for code in range(16):
        col = _CODE_COL[code]
        acgt[0, :, col] += bases[0, :, code] + bases[1, :, code]
        acgt[1, :, col] += bases[2, :, code] + bases[3, :, code]
        if _FWD_COL[code] >= 0:
            acgt[2, :, _FWD_COL[code]] += bases[0, :, code] + bases[2, :, code]
            acgt[2, :, _REV_COL[code]] += bases[1, :, code] + bases[3, :, code]
    return acgt



def _pad_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape != b.shape:
        shape = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
        a = _grow_to(a, shape)
        b = _grow_to(b, shape)
    return a + b


def _grow_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out


@dataclass
class AlnStats:
    """samtools stats for some alignment records; `+=` adds records that follow."""

    kind = "alignments"

    settings: AlnSettings
    names: tuple[str, ...]
    lengths: tuple[int, ...]
    target_count: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    maxima: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    # sort order and the boundaries of the sequential parts
    is_sorted: bool = True
    first: tuple[int, int] | None = None  # (tid, pos) of the first read in sort order
    last: tuple[int, int] | None = None  # (tid, pos) of the last one
    nbases: int = 300
    reallocs: int = 0
    anomaly: bool = False  # a round-buffer oddity only a single pass reproduces
    inexact: list[str] = field(default_factory=list)
    cov_head: tuple[int, int, np.ndarray, np.ndarray] | None = None  # tid, base, idx, depth
    cov_tail: tuple[int, np.ndarray, np.ndarray] | None = None  # tid, positions, depths
    gcd_head: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None  # tid, pos, len, frac
    machine: np.ndarray | None = None  # ms[0:6] (started, tid, gcd_pos, rseq_pos, nrseq, mrseq)
    bins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # gc,depth,tid,pos

    # ---- construction
    @classmethod
    def empty(cls, settings: AlnSettings, names, lengths, target_count: int = 0) -> AlnStats:
        ws_arrays = {
            "quals": np.zeros((2, 1, NQUALS), dtype=np.int64),
            "acgt": np.zeros((3, 1, 6), dtype=np.int64),
            "rlen": np.zeros((3, 1), dtype=np.int64),
            "indel": np.zeros((2, 301), dtype=np.int64),
            "icyc": np.zeros((4, 2), dtype=np.int64),
            "gcfl": np.zeros((2, NGC), dtype=np.int64),
            "isz": np.zeros((3, max(settings.insert_size, 0) + 1), dtype=np.int64),
            "mapq": np.zeros(256, dtype=np.int64),
            "cov": np.zeros(settings.ncov, dtype=np.int64),
            "mpc": np.zeros((1, NQUALS), dtype=np.int64),
            "per_tid": np.zeros(max(len(names), 1), dtype=np.int64),
        }
        return cls(settings, tuple(names), tuple(lengths), target_count,
                   dict.fromkeys(SUM_COUNTERS, 0), dict.fromkeys(MAX_COUNTERS, 0),
                   dict.fromkeys(CHECKSUMS, 0), ws_arrays)

    @classmethod
    def from_workspace(cls, ws: Workspace) -> AlnStats:
        sc = ws.sc
        k = ws.k
        n = max(int(sc[MAXLEN]) + 2, 2)
        acc = cls(ws.st, ws.names, ws.lengths, ws.targets.count)
        acc.counters = {name: int(sc[i]) for name, i in SUM_COUNTERS.items()}
        acc.maxima = {name: int(sc[i]) for name, i in MAX_COUNTERS.items()}
        acc.checksums = {name: int(sc[i]) for name, i in CHECKSUMS.items()}
        acc.arrays = {
            "quals": ws.quals[:, :n].copy(), "acgt": _acgt_table(ws.bases[:, :n]),
            "rlen": ws.rlen[:, :n].copy(), "indel": ws.indel[:, :301].copy(),
            "icyc": ws.icyc[:, :n + 1].copy(), "gcfl": ws.gcfl.copy(), "isz": ws.isz.copy(),
            "mapq": ws.mapq.copy(), "cov": ws.cov.copy(),
            "mpc": ws.mpc[:n].copy() if ws.st.reference else np.zeros((1, NQUALS), np.int64),
            "per_tid": ws.per_tid.copy(),
        }
        acc.is_sorted = bool(sc[IS_SORTED])
        if sc[FIRST_TID] != -2:
            acc.first = (int(sc[FIRST_TID]), int(sc[FIRST_POS]))
            acc.last = (int(sc[TID]), int(sc[POS]))
        acc.nbases = int(sc[NBASES])
        acc.reallocs = int(sc[REALLOC])
        acc.anomaly = bool(sc[ANOMALY])
        if sc[COVHEAD_TID] != -2:
            nz = np.flatnonzero(ws.cov_head)
            acc.cov_head = (int(sc[COVHEAD_TID]), int(sc[COVHEAD_BASE]), nz.astype(np.int64),
                            ws.cov_head[nz].copy())
            size = int(sc[RING_SIZE])
            ring = ws.ring[:size]
            slots = np.flatnonzero(ring)
            rpos = int(sc[RING_POS])
            start = int(sc[RING_START])
            offs = (slots - start) % size
            keep = offs < size - 1  # the slot samtools' final flush never reaches
            if np.any(~keep):
                acc.anomaly = True
            acc.cov_tail = (int(sc[TID]), (rpos + offs[keep]).astype(np.int64),
                            ring[slots[keep]].copy())
        if sc[NHEAD]:
            m = int(sc[NHEAD])
            acc.gcd_head = (int(sc[HEAD_TID]), ws.head_pos[:m].copy(), ws.head_len[:m].copy(),
                            ws.head_frac[:m].copy())
        if sc[k.M_STARTED]:
            acc.machine = sc[k.M_STARTED:k.M_STARTED + 6].copy()
            m = int(sc[IGCD])
            acc.bins = (ws.gcd_gc[1:m + 1].copy(), ws.gcd_depth[1:m + 1].copy(),
                        ws.gcd_tid[1:m + 1].copy(), ws.gcd_pos[1:m + 1].copy())
        return acc

    # ---- merge
    def update(self, batch: Any) -> None:
        raise NotImplementedError("alignment statistics are updated by gfcli's BAM kernels")

    def _check_same(self, other: AlnStats) -> None:
        if other.settings.key() != self.settings.key():
            raise UsageError("alignment statistics computed with different options cannot be "
                             "merged")
        if tuple(other.names) != tuple(self.names):
            raise UsageError("alignment statistics of files with different reference "
                             "sequences (@SQ) cannot be merged")

    def __iadd__(self, other: AlnStats) -> AlnStats:
        self._check_same(other)
        for name in SUM_COUNTERS:
            self.counters[name] = self.counters.get(name, 0) + other.counters.get(name, 0)
        for name in MAX_COUNTERS:
            self.maxima[name] = max(self.maxima.get(name, 0), other.maxima.get(name, 0))
        for name in CHECKSUMS:
            self.checksums[name] = (self.checksums.get(name, 0)
                                    + other.checksums.get(name, 0)) & 0xFFFFFFFF
        for name, arr in other.arrays.items():
            mine = self.arrays.get(name)
            self.arrays[name] = arr.copy() if mine is None else _pad_add(mine, arr)
        self.inexact.extend(r for r in other.inexact if r not in self.inexact)
        if other.reallocs or self.reallocs:
            if other.first is not None and self.first is not None:
                self._note("reads of 300+ bases resize samtools' buffers mid-stream")
        self.reallocs += other.reallocs
        self.nbases = max(self.nbases, other.nbases)
        self.anomaly = self.anomaly or other.anomaly
        if not other.is_sorted:
            self.is_sorted = False
        if self.last is not None and other.first is not None:
            if self.last[0] == other.first[0] and other.first[1] < self.last[1]:
                self.is_sorted = False
        if (self.first is not None and other.first is not None
                and not (self.is_sorted and other.is_sorted)):
            self._note("unsorted input split into pieces")
        self._merge_coverage(other)
        self._merge_gcd(other)
        if other.first is not None:
            if self.first is None:
                self.first = other.first
            self.last = other.last
        return self

    def _note(self, why: str) -> None:
        if why not in self.inexact:
            self.inexact.append(why)

    def _bin_depths(self, depths: np.ndarray, cov: np.ndarray | None = None) -> None:
        st = self.settings
        if cov is None:
            cov = self.arrays["cov"]
        idx = np.where(depths < st.cov_min, 0,
                       np.where(depths > st.cov_max, st.ncov - 1,
                                1 + (depths - st.cov_min) // st.cov_step))
        cov += np.bincount(idx, minlength=cov.shape[0])[:cov.shape[0]]

    def _merge_coverage(self, other: AlnStats) -> None:
        """Add `other`'s coverage to ours: our unflushed tail meets its first bases.

        Our tail's positions before `other`'s first read are final; those `other` had
        already flushed (before its own last read) are added to its head and binned; the
        rest are still open in `other` too (a short chunk inside a read's span) and join
        its tail, where the next chunk may add to them again."""
        if other.cov_head is None:
            return
        if self.cov_head is None:
            self.cov_head, self.cov_tail = other.cov_head, other.cov_tail
            return
        htid, base, idx, depth = other.cov_head
        depth = depth.copy()
        idx = idx.copy()
        tail = other.cov_tail
        if self.cov_tail is not None and len(self.cov_tail[1]):
            ttid, tpos, tdep = self.cov_tail
            if ttid == htid:
                before = tpos < base
                self._bin_depths(tdep[before])
                open_from = np.inf
                if tail is not None and other.last is not None and tail[0] == htid:
                    open_from = other.last[1]  # its round buffer starts at its last read
                still_open = ~before & (tpos >= open_from)
                if np.any(still_open):
                    pos = np.concatenate([tail[1], tpos[still_open]])
                    dep = np.concatenate([tail[2], tdep[still_open]])
                    uniq, inv = np.unique(pos, return_inverse=True)
                    tail = (tail[0], uniq.astype(np.int64),
                            np.bincount(inv, weights=dep).astype(np.int64))
                flushed = ~before & ~still_open
                # saved partials may come from a build with a longer head
                span = max(HEAD_SPAN, int(idx[-1]) + 1 if len(idx) else 0)
                beyond = flushed & (tpos >= base + span)
                if np.any(beyond):
                    self._note("a read's coverage reaches past the next chunk's first bases")
                    self._bin_depths(tdep[beyond])
                within = flushed & ~beyond
                full = np.zeros(span, dtype=np.int64)
                full[idx] = depth
                np.add.at(full, tpos[within] - base, tdep[within])
                idx = np.flatnonzero(full)
                depth = full[idx]
            else:
                self._bin_depths(tdep)
        self._bin_depths(depth)
        self.cov_tail = tail

    def _merge_gcd(self, other: AlnStats) -> None:
        if other.gcd_head is None and other.machine is None:
            return
        if self.gcd_head is None and self.machine is None:
            self.gcd_head, self.machine, self.bins = other.gcd_head, other.machine, other.bins
            return
        if other.gcd_head is not None:
            if self.machine is None:
                assert self.gcd_head is not None
                if self.gcd_head[0] == other.gcd_head[0]:
                    a, b = self.gcd_head, other.gcd_head
                    self.gcd_head = (a[0], np.concatenate([a[1], b[1]]),
                                     np.concatenate([a[2], b[2]]), np.concatenate([a[3], b[3]]))
                else:
                    self.machine, self.bins = self._replay(None, None, other.gcd_head)
            else:
                self.machine, self.bins = self._replay(self.machine, self.bins, other.gcd_head)
        elif self.machine is not None and other.machine is not None and self.last is not None \
                and other.first is not None and self.last[0] == other.first[0]:
            # `other` began its own GC-depth bins on the contig this one ended on: one
            # pass would have continued the open bin (a file shard cut inside a contig).
            self._note("GC-depth bins restart where a shard starts inside a contig")
        if other.machine is not None:
            if self.machine is None:
                self.machine, self.bins = other.machine.copy(), other.bins
            else:
                assert self.bins is not None and other.bins is not None
                self.bins = tuple(np.concatenate([x, y]) for x, y in  # type: ignore[assignment]
                                  zip(self.bins, other.bins, strict=True))
                self.machine = other.machine.copy()

    def _replay(self, machine, bins, head):
        from gfcli.engine.bam import stats_native

        st = self.settings
        ms = np.zeros(7, dtype=np.int64)
        if machine is None:
            ms[0] = 0
            ms[1] = -1
            ms[2] = -1
            ms[3] = -1
            ms[5] = max(self.nbases * 10, st.gcd_bin)
            nb = 0
        else:
            ms[:6] = machine
            nb = len(bins[0])
            ms[6] = nb
        tid, pos, lens, fracs = head
        n = len(pos)
        size = nb + n + 3
        gc = np.zeros(size, dtype=np.float32)
        depth = np.zeros(size, dtype=np.int64)
        btid = np.zeros(size, dtype=np.int64)
        bpos = np.zeros(size, dtype=np.int64)
        if nb:
            gc[1:nb + 1], depth[1:nb + 1], btid[1:nb + 1], bpos[1:nb + 1] = bins
        tids = np.full(n, tid, dtype=np.int64)
        clens = np.array(list(self.lengths) or [0], dtype=np.int64)
        stats_native.gcd_replay(ms, gc, depth, btid, bpos, tids, pos, lens, fracs, n,
                                bool(st.reference), st.gcd_bin, clens)
        m = int(ms[6])
        return ms[:6].copy(), (gc[1:m + 1].copy(), depth[1:m + 1].copy(), btid[1:m + 1].copy(),
                                bpos[1:m + 1].copy())

    # ---- final values
    def _final_cov(self) -> np.ndarray:
        cov = self.arrays["cov"].copy()
        if self.cov_head is not None:
            self._bin_depths(self.cov_head[3], cov)
        if self.cov_tail is not None:
            self._bin_depths(self.cov_tail[2], cov)
        return cov

    def _final_bins(self) -> tuple[np.ndarray, np.ndarray]:
        """The GC-depth bins of one pass: (gc, depth) with samtools' index 0 slot."""
        machine, bins = None, None
        if self.gcd_head is not None:
            machine, bins = self._replay(None, None, self.gcd_head)
        if self.machine is not None:
            if machine is None:
                machine, bins = self.machine, self.bins
            else:
                bins = tuple(np.concatenate([x, y]) for x, y in zip(bins, self.bins,
                                                                    strict=True))
        if bins is None:
            return np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.int64)
        gc, depth, btid, bpos = (b.copy() for b in bins)
        if self.settings.reference:
            self._fill_reference_gc(gc, btid, bpos)
        return (np.concatenate([np.zeros(1, np.float32), gc]),
                np.concatenate([np.zeros(1, np.int64), depth]))

    def _fill_reference_gc(self, gc, btid, bpos) -> None:
        missing = np.flatnonzero(np.isnan(gc))
        if not len(missing):
            return
        import pysam

        st = self.settings
        with pysam.FastaFile(st.reference) as fasta:
            for i in missing:
                tid = int(btid[i])
                start = int(bpos[i])
                stop = min(start + st.gcd_bin, self.lengths[tid])
                codes = encode_reference(fasta.fetch(self.names[tid], start, stop))
                gc[i] = _reference_gc(codes[:max(stop - start, 0)])

    # ---- JSON
    def to_json(self) -> dict:
        def arr(a):
            return a.tolist()

        out: dict[str, Any] = {
            "settings": dict(self.settings.__dict__),
            "sequences": [[n, ln] for n, ln in zip(self.names, self.lengths, strict=True)],
            "target_count": self.target_count,
            "counters": dict(self.counters),
            "maxima": dict(self.maxima),
            "checksums": dict(self.checksums),
            "arrays": {name: arr(a) for name, a in self.arrays.items()},
            "is_sorted": self.is_sorted,
            "first": list(self.first) if self.first else None,
            "last": list(self.last) if self.last else None,
            "nbases": self.nbases,
            "reallocs": self.reallocs,
            "anomaly": self.anomaly,
            "inexact": list(self.inexact),
            "cov_head": None if self.cov_head is None else [
                self.cov_head[0], self.cov_head[1], arr(self.cov_head[2]), arr(self.cov_head[3])],
            "cov_tail": None if self.cov_tail is None else [
                self.cov_tail[0], arr(self.cov_tail[1]), arr(self.cov_tail[2])],
            "gcd_head": None if self.gcd_head is None else [
                self.gcd_head[0], arr(self.gcd_head[1]), arr(self.gcd_head[2]),
                [float(x) for x in self.gcd_head[3]]],
            "gcd_machine": None if self.machine is None else arr(self.machine),
            "gcd_bins": None if self.bins is None else [
                [None if math.isnan(float(x)) else float(x) for x in self.bins[0]],
                arr(self.bins[1]), arr(self.bins[2]), arr(self.bins[3])],
        }
        out["summary"] = self.summary()
        return out

    @classmethod
    def from_json(cls, d: dict) -> AlnStats:
        st = AlnSettings(**d["settings"])
        names = tuple(s[0] for s in d["sequences"])
        lengths = tuple(int(s[1]) for s in d["sequences"])
        acc = cls(st, names, lengths, int(d["target_count"]))
        acc.counters = {k: int(v) for k, v in d["counters"].items()}
        acc.maxima = {k: int(v) for k, v in d["maxima"].items()}
        acc.checksums = {k: int(v) for k, v in d["checksums"].items()}
        acc.arrays = {k: np.array(v, dtype=np.int64) for k, v in d["arrays"].items()}
        acc.is_sorted = bool(d["is_sorted"])
        acc.first = tuple(d["first"]) if d["first"] else None  # type: ignore[assignment]
        acc.last = tuple(d["last"]) if d["last"] else None  # type: ignore[assignment]
        acc.nbases = int(d["nbases"])
        acc.reallocs = int(d["reallocs"])
        acc.anomaly = bool(d["anomaly"])
        acc.inexact = list(d["inexact"])
        i64 = np.int64
        if d["cov_head"] is not None:
            t, b, idx, dep = d["cov_head"]
            acc.cov_head = (int(t), int(b), np.array(idx, dtype=i64), np.array(dep, dtype=i64))
        if d["cov_tail"] is not None:
            t, p, dep = d["cov_tail"]
            acc.cov_tail = (int(t), np.array(p, dtype=i64), np.array(dep, dtype=i64))
        if d["gcd_head"] is not None:
            t, p, ln, fr = d["gcd_head"]
            acc.gcd_head = (int(t), np.array(p, dtype=i64), np.array(ln, dtype=i64),
                            np.array(fr, dtype=np.float32))
        if d["gcd_machine"] is not None:
            acc.machine = np.array(d["gcd_machine"], dtype=i64)
            g, dep, t, p = d["gcd_bins"]
            acc.bins = (np.array([np.nan if x is None else x for x in g], dtype=np.float32),
                        np.array(dep, dtype=i64), np.array(t, dtype=i64), np.array(p, dtype=i64))
        return acc

    def summary(self) -> dict:
        """Derived numbers for readers of the JSON (not used by merge)."""
        c = self.counters
        per = self.arrays["per_tid"]
        return {
            "sequences": c["first_fragments"] + c["last_fragments"] + c["other_fragments"],
            "reads_mapped": c["paired_and_mapped"] + c["single_mapped"],
            "reads_unmapped": c["unmapped"],
            "reads_duplicated": c["duplicated"],
            "mapped_reads_per_sequence": {
                name: int(per[i]) for i, name in enumerate(self.names) if i < len(per)},
        }

    # ---- text
    def render_text(self, req: Any = None) -> str:
        from gfcli.engine.stats._aln_render import render

        return render(self, req)
