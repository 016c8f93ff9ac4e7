"""Variant statistics (VCF/BCF): `bcftools stats` numbers and text, mergeable partials.

`compute(req, inp)` plans chunks as `gfcli view` does (index offset ranges, BGZF line cuts,
index regions, or one stream), reads each chunk into raw record batches (`vcfraw`), runs
the numba kernels (`vkernels.update`) over them and returns a `VariantStats`. Sites
statistics of BGZF VCF text (no -s/-S, -i/-e, -t/-T, -r/-R, -f, -u, --af-tag) skip htslib's
parser: `vsites` counts the inflated lines with one precompiled kernel in forked workers,
and hands a chunk back to the htslib path at the first line it cannot read exactly. Their
header is read by `vcfheader` (htslib's for anything unusual), so neither pysam nor numpy
is imported before the workers start, and bcftools' text is printed without numpy
(`SitesText`). A BGZF BCF with -@ N is read in place (`vbcfdirect`) by this process and
N - 1 forked ones (`forkrun`: chunks claimed from a pipe, one VariantStats a process sent
back once), forked right after `vcfheader` has read the header, before numpy or htslib is
loaded (`_cohort_fast`; htslib's header and the late fork for anything unusual). Chunk
results are added with `+=`, in any order (float VAF sums in chunk order), so `-@ N`
equals `-@ 1` and JSON partials of shards merge into what one pass prints.

The text output is bcftools 1.24's: sections ID, SN, TSTV, SiS, AF, QUAL, [USR], IDD, ST,
DP and, with -s/-S, PSC, PSI, HWE and VAF (when the header defines FORMAT/AD). Only the
two provenance lines differ: they name gfcli (the phrase MultiQC looks for is kept).
Extras (per-chromosome counts, bi/multi-allelic counts, MAF spectrum, per-sample
missingness and Ts/Tv) appear in `-O json` and `--pretty` only.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.stats.base import TEXT, VARIANTS, StatsRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
else:
    class _Numpy:
        """numpy on first use: a sites run starts its workers before the parent imports it
        (~0.1 s of a 0.4 s run), and the workers never do."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _Numpy()

M_INDEL = 60
# QUAL bins as bcftools' dist_t(5) lays them out: 1 + int(QUAL*10) exact up to 10**5,
# then 9*10**4 bins per decade (width 10, 100, ...), up to the largest iqual a float32 QUAL
# gives, 2**31 + 1 (vkernels.qual_bin; same numbers as vkernels.N_QUAL, which this module
# does not import: that would load numba)
QUAL_EXACT = 100_000
N_QUAL = QUAL_EXACT + 4 * 90_000 + (2**31 + 1 - 10**9) // 10**5 + 1
N_HWE = 100
_QUAL_NAMES = ("qual_ts", "qual_tv", "qual_in")
_QUAL_ARRAYS = frozenset(_QUAL_NAMES)
N_VAF = 21
N_MAF = 51

_ARRAYS = (
    "sn", "af_ts", "af_tv", "af_snps", "af_indels", "qual_ts", "qual_tv", "qual_in", "ins",
    "dels", "subst", "dp_gt", "dp_site", "nvaf", "dvaf", "smpl", "vaf_snv", "vaf_indel",
    "af_hwe", "usr_ts", "usr_tv", "chrom", "maf",
)
SMPL_COLUMNS = (
    "homRR", "homAA", "hets", "ts", "tv", "indels", "dp_sum", "dp_n", "singletons", "hapRef",
    "hapAlt", "missing", "insHets", "delHets", "insHoms", "delHoms",
)


@dataclass
class Settings:
    """What fixes the shape and meaning of the counters; partials merge only when equal."""

    samples: list[str] | None  # selected samples in output order; None = no sample stats
    n_header_samples: int
    m_af: int
    af_bins: list[float] | None
    af_tag: str | None
    depth: tuple[int, int, int]
    user: list[tuple[str, int, float, float, int, bool]] = field(default_factory=list)
    has_ad: bool = False
    apply_filters: str | None = None
    include: str | None = None
    exclude: str | None = None

    def key(self) -> tuple:
        d = asdict(self)
        d["depth"] = tuple(d["depth"])
        d["user"] = tuple(tuple(u) for u in d["user"])
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(d.items()))


def _shapes(s: Settings) -> dict[str, tuple[tuple[int, ...], str]]:
    n_s = len(s.samples or [])
    lo, hi, step = s.depth
    m_vals = 4 + (hi - lo) // step
    n_usr = len(s.user)
    max_bins = max([u[4] for u in s.user] + [1])
    i64 = "int64"
    return {
        "sn": ((11,), i64),
        "af_ts": ((s.m_af,), i64),
        "af_tv": ((s.m_af,), i64),
        "af_snps": ((s.m_af,), i64),
        "af_indels": ((s.m_af,), i64),
        "qual_ts": ((N_QUAL,), i64),
        "qual_tv": ((N_QUAL,), i64),
        "qual_in": ((N_QUAL,), i64),
        "ins": ((M_INDEL,), i64),
        "dels": ((M_INDEL,), i64),
        "subst": ((16,), i64),
        "dp_gt": ((m_vals,), i64),
        "dp_site": ((m_vals,), i64),
        "nvaf": ((2 * M_INDEL + 1,), i64),
        "dvaf": ((2 * M_INDEL + 1,), "float64"),
        "smpl": ((n_s, len(SMPL_COLUMNS)), i64),
        "vaf_snv": ((n_s, N_VAF), i64),
        "vaf_indel": ((n_s, N_VAF), i64),
        "af_hwe": ((s.m_af * N_HWE,), i64),
        "usr_ts": ((n_usr, max_bins), i64),
        "usr_tv": ((n_usr, max_bins), i64),
        "maf": ((N_MAF,), i64),
    }


class VariantStats:
    """bcftools stats counters for one set of records (the accumulator)."""

    kind = VARIANTS

    def __init__(self, settings: Settings, files: list[str], contigs: list[str]):
        self.settings = settings
        self.files = list(files)
        self.contigs = list(contigs)
        self.a: dict[str, np.ndarray] = {
            name: np.zeros(shape, dtype) for name, (shape, dtype) in _shapes(settings).items()
        }
        self.a["chrom"] = np.zeros(len(self.contigs), np.int64)
        # QUAL bins at and above qual_hi are zero (None: not known). The QUAL arrays are
        # large and a chunk fills few bins: packing and merging look only below it
        self.qual_hi: int | None = 0

    # -- the protocol -----------------------------------------------------------------
    def update(self, batch, kernel_args, ring=None) -> None:
        """Count one raw batch. `ring` carries the per-pass record ring (see
        vkernels.N_STALE) from batch to batch; a fresh one when None."""
        from gfcli.engine.stats import vnative

        a = self.a
        if ring is None:
            ring = new_ring()
        skip = batch.skip
        if skip is None:
            skip = _no_skip(batch.n)
        scratch = _scratch()
        scratch[vnative.SCRATCH_QHI, 0] = 0
        r = vnative.update()(
            batch.n, batch.heads, batch.s_off, batch.shared, batch.i_off, batch.indiv,
            *kernel_args,
            *(a[name] for name in _ARRAYS),
            *ring,
            skip,
            scratch,
        )
        if self.qual_hi is not None:
            self.qual_hi = max(self.qual_hi, int(scratch[vnative.SCRATCH_QHI, 0]))
        if r != batch.n:
            from gfcli.engine.stats.vbcfcount import kernel_error

            raise kernel_error(r)

    # -- pickling (chunk results travel from the workers): large counters sparse --------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        packed = {}
        if isinstance(self.a, _Arrays):
            packed.update(self.a.packed)
        for name, arr in self.a.items():
            if arr.size > 4096:
                flat = arr.reshape(-1)
                nz = np.flatnonzero(flat[:self._hi(name)])
                packed[name] = (arr.shape, arr.dtype.str, nz, flat[nz])
            else:
                packed[name] = arr
        state["a"] = packed
        return state

    def __setstate__(self, state: dict) -> None:
        # the parent receives one partial a chunk and adds it to its total: large arrays
        # stay packed until read (__iadd__ adds the packed values without them)
        arrays = _Arrays()
        for name, value in state["a"].items():
            if isinstance(value, tuple):
                arrays.packed[name] = value
            else:
                arrays[name] = value
        state["a"] = arrays
        state.setdefault("qual_hi", None)
        self.__dict__.update(state)

    def _hi(self, name: str) -> int | None:
        """How far array `name` may hold counts (None: all of it)."""
        return self.qual_hi if name in _QUAL_ARRAYS else None

    def clear(self) -> None:
        """Zero every counter, to count another chunk into these arrays: a fresh
        VariantStats a chunk cost ~14 MB of new pages, faulted in and zeroed by the
        kernel as the chunk first wrote them (1.6 % of a cohort run's CPU)."""
        for name, arr in self.a.items():
            flat = arr.reshape(-1)
            flat[:self._hi(name)] = 0
        self.qual_hi = 0

    def __iadd__(self, other: VariantStats) -> VariantStats:
        if not isinstance(other, VariantStats):
            return NotImplemented
        # equal dataclasses first: key() (which also equates JSON's lists with tuples)
        # deep-copies the sample names, twice per merge of a partial
        if self.settings != other.settings and self.settings.key() != other.settings.key():
            raise UsageError("cannot merge variant statistics made with different options "
                             "(samples, --af-bins/--af-tag, -d, -u, -f, -i/-e)")
        for name in _ARRAYS:
            if name == "chrom":
                continue
            mine = self.a[name]
            held = other.a.packed.get(name) if isinstance(other.a, _Arrays) else None
            if held is not None:
                mine.reshape(-1)[held[2]] += held[3]
                continue
            theirs = other.a[name]
            if theirs.size > 4096:
                # large and mostly zero (QUAL bins): add where the other has counts
                nz = np.flatnonzero(theirs.reshape(-1)[:other._hi(name)])
                mine.reshape(-1)[nz] += theirs.reshape(-1)[nz]
            else:
                mine += theirs
        mine = dict(zip(self.contigs, self.a["chrom"].tolist(), strict=True))
        for name, count in zip(other.contigs, other.a["chrom"].tolist(), strict=True):
            mine[name] = mine.get(name, 0) + count
        self.contigs = list(mine)
        self.a["chrom"] = np.array(list(mine.values()), np.int64)
        if self.qual_hi is not None:
            self.qual_hi = None if other.qual_hi is None else max(self.qual_hi,
                                                                   other.qual_hi)
        for f in other.files:
            if f not in self.files:
                self.files.append(f)
        return self

    def to_json(self) -> dict:
        state = {}
        for name in _ARRAYS:
            arr = self.a[name]
            flat = arr.ravel()
            nz = np.flatnonzero(flat)
            state[name] = {
                "shape": list(arr.shape),
                "index": nz.tolist(),
                "values": flat[nz].tolist(),
            }
        settings = asdict(self.settings)
        return {
            "settings": settings,
            "files": self.files,
            "contigs": self.contigs,
            "state": state,
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict) -> VariantStats:
        s = dict(data["settings"])
        s["depth"] = tuple(s["depth"])
        s["user"] = [tuple(u) for u in s.get("user", [])]
        settings = Settings(**s)
        acc = cls(settings, data["files"], data["contigs"])
        for name in _ARRAYS:
            entry = data["state"][name]
            arr = acc.a[name]
            # QUAL bins were once kept only up to QUAL 100000: the same bins, fewer of them
            older_qual = (name.startswith("qual_") and len(entry["shape"]) == 1
                          and entry["shape"][0] <= arr.size)
            if list(arr.shape) != list(entry["shape"]) and not older_qual:
                raise ValueError(f"{name}: shape {entry['shape']} does not fit the settings")
            flat = arr.reshape(-1)
            flat[np.asarray(entry["index"], np.int64)] = np.asarray(entry["values"],
                                                                    arr.dtype)
        acc.qual_hi = None
        return acc

    # -- derived numbers ---------------------------------------------------------------
    def summary(self) -> dict:
        """The report in structured form (what -O json readers use)."""
        a = self.a
        sn = a["sn"]
        ts, tv = int(a["af_ts"].sum()), int(a["af_tv"].sum())
        out: dict = {
            "SN": {
                "samples": self.settings.n_header_samples,
                "records": int(sn[0]), "no_alts": int(sn[1]), "snps": int(sn[2]),
                "mnps": int(sn[3]), "indels": int(sn[4]), "others": int(sn[5]),
                "multiallelic_sites": int(sn[6]), "multiallelic_snp_sites": int(sn[7]),
            },
            "TSTV": {"ts": ts, "tv": tv, "ts_tv": _ratio(ts, tv),
                     "ts_1st_alt": int(sn[8]), "tv_1st_alt": int(sn[9]),
                     "ts_tv_1st_alt": _ratio(int(sn[8]), int(sn[9]))},
            "substitutions": {f"{'ACGT'[t >> 2]}>{'ACGT'[t & 3]}": int(a["subst"][t])
                              for t in range(16) if t >> 2 != t & 3},
            "indel_lengths": {str(-(i + 1)): int(v) for i, v in enumerate(a["dels"]) if v}
            | {str(i + 1): int(v) for i, v in enumerate(a["ins"]) if v},
            "extras": {
                "per_chromosome": {c: int(n) for c, n in zip(self.contigs, a["chrom"],
                                                             strict=True) if n},
                "biallelic_sites": int(sn[10]),
                "multiallelic_sites": int(sn[6]),
                "maf_spectrum": {f"{i / 100:.2f}": int(v) for i, v in enumerate(a["maf"])
                                 if v},
            },
        }
        if self.settings.samples is not None:
            n_rec = int(sn[0])
            per = {}
            for i, name in enumerate(self.settings.samples):
                row = dict(zip(SMPL_COLUMNS, (int(x) for x in a["smpl"][i]), strict=True))
                row["missing_fraction"] = row["missing"] / n_rec if n_rec else 0.0
                row["ts_tv"] = _ratio(row["ts"], row["tv"])
                per[name] = row
            out["extras"]["per_sample"] = per
        return out

    # -- text ------------------------------------------------------------------------------
    def render_text(self, req: StatsRequest) -> str:
        from gfcli.engine.stats.vtext import render

        return render(self, req)

    def render_pretty(self, req: StatsRequest, console) -> None:
        from gfcli.engine.stats.vtext import pretty

        pretty(self, req, console)


_NO_SKIP: Any = None


class _Arrays(dict):
    """A partial's arrays as unpickled: the large ones stay packed (shape, dtype, nonzero
    indexes, values) until first read."""

    def __init__(self) -> None:
        super().__init__()
        self.packed: dict[str, tuple] = {}

    def __missing__(self, name: str) -> np.ndarray:
        shape, dtype, nz, vals = self.packed.pop(name)
        arr = np.zeros(shape, np.dtype(dtype))
        arr.reshape(-1)[nz] = vals
        self[name] = arr
        return arr

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.packed

    def unpack(self) -> None:
        for name in list(self.packed):
            self[name]  # noqa: B018 - materialises it


def _no_skip(n: int) -> np.ndarray:
    global _NO_SKIP
    if _NO_SKIP is None or _NO_SKIP.size < n:
        _NO_SKIP = np.zeros(max(n, 1 << 15), np.uint8)
    return _NO_SKIP


_SCRATCH: list[np.ndarray] = []


def _scratch() -> np.ndarray:
    """The kernel's per-allele rows (allocated once per process)."""
    if not _SCRATCH:
        from gfcli.engine.stats.vnative import SCRATCH_ROWS, SCRATCH_W

        _SCRATCH.append(np.zeros((SCRATCH_ROWS, SCRATCH_W), np.int64))
    return _SCRATCH[0]


def new_ring(unset: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ALT-length ring and its state (records seen; 1 once an unset entry was read)."""
    from gfcli.engine.stats.vnative import RING, RING_UNSET, RING_W

    return (np.full((RING, RING_W), RING_UNSET if unset else 0, np.int64),
            np.zeros(2, np.int64))


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def from_json(data: dict) -> VariantStats:
    return VariantStats.from_json(data)


# ---------------------------------------------------------------------------------------
# Computing


@dataclass(frozen=True)
class _Task:
    """Worker side: the statistics of one chunk (picklable)."""

    view_settings: object
    settings: Settings
    files: tuple[str, ...]
    contigs: tuple[str, ...]
    kernel_inputs: tuple
    targets: object
    select_samples: str | None  # what to give bcf_hdr_set_samples (None: all; "": none)
    expr: object = None  # variants.filter.FilterSpec for -i/-e, or None
    direct_bcf: bool = False  # BGZF BCF file without targets: vbcfdirect reads it
    primes: tuple = ()  # (chunk start, earlier record start): records read to set the ring
    # direct_bcf: (path, display, first record's virtual offset, run id), all that path
    # reads of htslib's state: htslib is then not opened (`_prepared_state`)
    direct_at: tuple | None = None

    def __call__(self, chunk, into: VariantStats | None = None) -> VariantStats:
        """The chunk's statistics, counted into `into` (zero) when given."""
        acc = into if into is not None else VariantStats(self.settings, list(self.files),
                                                         list(self.contigs))
        prime = dict(self.primes).get(chunk.start) if chunk.start is not None else None
        ring = new_ring()
        if prime is not None and prime < chunk.start:
            # the records before this chunk hold the ALT lengths its first symbolic ALTs
            # may show (vkernels.N_STALE). Most chunks read none of them: count the chunk
            # with the ring unset first, and only if it read an unset entry count it
            # again after reading those records for the ring.
            ring = new_ring(unset=True)
            if not self._count(chunk, acc, ring, stop_on_unset=True):
                return acc
            acc.clear()
            ring = new_ring()
            before = dataclasses.replace(chunk, start=prime, end=chunk.start)
            self._count(before, acc, ring, typed_skip=True)
        self._count(chunk, acc, ring)
        return acc

    def _count(self, chunk, acc: VariantStats, ring, typed_skip: bool = False,
               stop_on_unset: bool = False) -> bool:
        """Count `chunk` into `acc` (`typed_skip`: its records only set the ring); whether
        it stopped (`stop_on_unset`) after a batch that read an unset ring entry. A BGZF BCF
        range goes through the C loop when it is there (vbcfcount), else batch by batch."""
        from gfcli.engine.chunks import OFFSETS, STREAM

        if self.direct_bcf and self.expr is None and chunk.kind in (OFFSETS, STREAM):
            from gfcli.engine.stats import vbcfcount

            st = _prepared_state(self)
            start = chunk.start if chunk.start is not None else st.after_header
            stopped = vbcfcount.count_range(_direct_reader(st), acc, self.kernel_inputs,
                                            ring, start, chunk.end, typed_skip=typed_skip,
                                            stop_on_unset=stop_on_unset)
            if stopped is not None:
                return stopped
        for batch in _batches(self, chunk):
            if batch.n:
                if typed_skip:
                    batch.skip = np.full(batch.n, 2, np.uint8)
                acc.update(batch, self.kernel_inputs, ring)
            if stop_on_unset and ring[1][1]:
                return True
        return False


def _direct_reader(st):
    """The state's direct BCF reader (one per process and file)."""
    reader = getattr(st, "_stats_direct", None)
    if reader is None:
        from gfcli.engine.stats.vbcfdirect import DirectReader

        reader = st._stats_direct = DirectReader(st.s.path, st.s.display)
    return reader


_PREPARED: set[tuple[int, object]] = set()


class _DirectState:
    """What the direct BCF path reads of a process's htslib state (vview._State): the
    file's path and display name, the first record's offset, and the DirectReader kept on
    it. A worker forked before htslib was loaded so needs neither pysam nor the header
    parsed again."""

    def __init__(self, path: str, display: str, after_header: int):
        import types

        self.s = types.SimpleNamespace(path=path, display=display)
        self.after_header = after_header


_DIRECT_STATES: dict[tuple, _DirectState] = {}


def _prepared_state(task: _Task):
    if task.direct_at is not None:
        key = (os.getpid(), task.direct_at)
        st = _DIRECT_STATES.get(key)
        if st is None:
            _DIRECT_STATES.clear()  # an earlier run's mapping is not kept
            st = _DIRECT_STATES[key] = _DirectState(*task.direct_at[:3])
        return st
    from gfcli.engine.variants import hts
    from gfcli.engine.variants import view as vview

    st = vview._state(task.view_settings)
    key = (os.getpid(), task.view_settings)
    if key not in _PREPARED:
        _PREPARED.add(key)
        if task.select_samples is not None:
            L = hts.lib()
            fn = L.bcf_hdr_set_samples
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
            if task.select_samples == "":
                fn(st.hdr, None, 0)
    return st


# BGZF BCF inflated by gfcli's libdeflate layer and read in place (off only to compare)
DIRECT_BCF = os.environ.get("GFCLI_STATS_DIRECT_BCF", "1") != "0"
# sites statistics of BGZF VCF text parsed by vsites (off only to compare)
SITES_TEXT = os.environ.get("GFCLI_STATS_SITES_TEXT", "1") != "0"
# "require": a chunk vsites would hand to htslib is an error instead (tests: the fast path
# really ran)
SITES_TEXT_REQUIRED = os.environ.get("GFCLI_STATS_SITES_TEXT") == "require"


def _batches(task: _Task, chunk):
    from gfcli.engine.chunks import OFFSETS, REGION, STREAM
    from gfcli.engine.stats import vcfraw
    from gfcli.engine.variants import hts
    from gfcli.engine.variants import view as vview

    st = _prepared_state(task)
    if task.expr is not None:
        yield from _filtered_batches(task, st, chunk)
        return
    if chunk.kind == REGION:
        items = []
        with hts.QuietLog():
            for _ in vview._region_records(st, chunk):
                items.append(vcfraw.snapshot(st.rec))
                if len(items) >= vcfraw.BATCH_RECORDS:
                    yield _targeted(task, st, vcfraw.records_to_batch(items))
                    items = []
        if items:
            yield _targeted(task, st, vcfraw.records_to_batch(items))
        return
    if task.direct_bcf and chunk.kind in (OFFSETS, STREAM):
        start = chunk.start if chunk.start is not None else st.after_header
        yield from _direct_reader(st).batches(start, chunk.end)
        return
    L = st.L
    if chunk.kind == OFFSETS:
        start = chunk.start if chunk.start is not None else st.after_header
        if L.bgzf_seek(st.bgzf_ptr, start, 0) < 0:
            raise DataError("could not seek in the file", path=st.s.display)
    reader = getattr(st, "_stats_reader", None)
    if reader is None:
        reader = vcfraw.BatchReader(L, st.fp, st.hdr, st.rec, st.bgzf_ptr)
        st._stats_reader = reader

    def on_error(code: int) -> DataError:
        return DataError("malformed record (htslib could not parse it)", path=st.s.display)

    with hts.QuietLog():
        for batch in reader.batches(chunk.end, on_error):
            yield _targeted(task, st, batch)


def _filtered_batches(task: _Task, st, chunk):
    """-i/-e: records read into `gfcli filter`'s pool, the expression decided there over
    column batches, the kept records copied into raw batches for the kernels (bcftools
    stats tests every record before counting it, seeing all samples)."""
    from gfcli.engine.stats import vcfraw
    from gfcli.engine.variants import filter as vfilter

    ctx = vfilter._context(st, task.expr)
    pool = ctx.pool
    # bcftools types the alleles of every record its expression sees when the expression
    # asks for the type: then dropped records set the ring's lengths too (vkernels.N_STALE)
    dropped = 2 if re.search(r"\b(TYPE|ILEN)\b", task.expr.text, re.I) else 1
    items: list = []
    skip: list[int] = []
    for n in vfilter._batches(st, ctx, chunk):
        keep = vfilter._keep(ctx, n).tolist()
        for i in range(n):
            items.append(vcfraw.snapshot(pool[i]))
            skip.append(0 if keep[i] else dropped)
        if len(items) >= vcfraw.BATCH_RECORDS // 4:
            yield _targeted(task, st, vcfraw.records_to_batch(items, skip))
            items, skip = [], []
    if items:
        yield _targeted(task, st, vcfraw.records_to_batch(items, skip))


def _targeted(task: _Task, st, batch):
    targets = task.targets
    if targets is None or batch.n == 0:
        return batch
    rid = batch.rid
    pos = batch.pos
    keep = np.empty(batch.n, bool)
    for i in range(batch.n):
        keep[i] = targets.contains(st.contig_name(int(rid[i])), int(pos[i]))
    if keep.all():
        return batch
    return batch.subset(keep)


def _header_info(st) -> dict:
    """INFO/FORMAT/FILTER definitions from the header text: {(kind, id): type}."""
    return header_defs(st._header_text(st.hdr).decode(errors="replace"))


def header_defs(text: str) -> dict:
    """INFO/FORMAT/FILTER definitions of header text as htslib formats it: {(kind, id):
    Type} (quoted values whole, as htslib splits them; the first of a key kept, the last
    line of an ID winning)."""
    from gfcli.engine.stats.vcfheader import attributes

    defs: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        for kind in ("INFO", "FORMAT", "FILTER"):
            prefix = f"##{kind}=<"
            if line.startswith(prefix):
                body = line[len(prefix):].removesuffix(">")
                pairs = attributes(body)
                if pairs is None:  # not htslib's split: commas, as before
                    pairs = [tuple(part.split("=", 1)) for part in body.split(",")
                             if "=" in part]
                fields: dict[str, str] = {}
                for k, v in pairs:
                    fields.setdefault(k, v)
                if "ID" in fields:
                    defs[(kind, fields["ID"])] = fields.get("Type", "")
    return defs


def _parse_af_bins(text: str) -> list[float]:
    if os.path.exists(text):
        with open(text) as handle:
            parts = [ln.strip() for ln in handle if ln.strip() and not ln.startswith("#")]
    else:
        parts = [p for p in text.split(",") if p.strip()]
    try:
        values = [float(np.float32(p)) for p in parts]
    except ValueError:
        raise UsageError(f"--af-bins: could not parse {text!r}") from None
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise UsageError("--af-bins: the bin boundaries must increase")
    if not values or values[0] > 0:
        values.insert(0, 0.0)
    if values[-1] < 1:
        values.append(1.0)
    return values


def _parse_user(spec: str) -> tuple[str, int, float, float, int]:
    """-u TAG[:min:max:n], TAG may carry an index: PV4[1]."""
    parts = spec.split(":")
    tag = parts[0]
    idx = 0
    if tag.endswith("]") and "[" in tag:
        tag, _, rest = tag.partition("[")
        try:
            idx = int(rest[:-1])
        except ValueError:
            raise UsageError(f"-u: could not parse the index in {spec!r}") from None
        if idx < 0:
            raise UsageError(f"-u: negative index is not allowed: {spec!r}")
    try:
        lo = float(parts[1]) if len(parts) > 1 else 0.0
        hi = float(parts[2]) if len(parts) > 2 else 1.0
        nb = int(parts[3]) if len(parts) > 3 else 100
    except ValueError:
        raise UsageError(f"-u: could not parse {spec!r}") from None
    if nb <= 0:
        raise UsageError(f"-u: number of bins does not make sense ({nb}): {spec}")
    return tag, idx, float(np.float32(lo)), float(np.float32(hi)), nb


def _samples(req: StatsRequest, header_samples: list[str]) -> list[str] | None:
    spec, is_file = (req.samples, False) if req.samples is not None else (req.samples_file,
                                                                            True)
    if spec is None:
        return None
    if spec == "-" and not is_file:
        if not header_samples:  # bcftools 1.24: "No sample columns in FILE", an error
            raise UsageError("no sample columns in the input")
        return list(header_samples)
    exclude = spec.startswith("^")
    body = spec[1:] if exclude else spec
    if is_file:
        try:
            with open(body) as handle:
                names = [ln.strip().split()[0] for ln in handle if ln.strip()]
        except OSError as exc:
            raise UsageError(f"{body}: {exc.strerror}") from None
    else:
        names = [n for n in body.split(",") if n]
    known = set(header_samples)
    if exclude:
        drop = set(names)
        chosen = [n for n in header_samples if n not in drop]
    else:
        chosen = []
        for n in names:
            if n in known and n not in chosen:
                chosen.append(n)
    if not chosen:
        if not header_samples:
            raise UsageError("no sample columns in the input")
        raise UsageError(f'unable to parse the samples: "{spec}"')
    return chosen


PRIME_BACK = 4  # index offsets before a chunk's start read to set the ring
# Offset chunks of a large file: about this many. Each chunk costs a fresh accumulator, a
# merge in the parent and, with symbolic ALTs, re-reading records before its start for the
# ring (a 200-sample cohort BCF cut into 4 MiB chunks inflated 12 % more than its size);
# dozens of chunks still keep every worker busy to the end. Not a function of -@, so the
# plan (and any chunk-dependent work) is the same for every thread count.
OFFSET_CHUNKS = 48


def _offset_chunk_bytes(path: str) -> int:
    from gfcli.engine.chunks import TARGET_CHUNK_BYTES

    return max(TARGET_CHUNK_BYTES, os.path.getsize(path) // OFFSET_CHUNKS)


def _primes(path: str, index, chunk_list) -> tuple:
    """For each offset chunk after the first, a record start a few index entries earlier:
    the records in between set the ring of ALT lengths (vkernels.N_STALE) as one pass
    would have it when the chunk begins."""
    from bisect import bisect_left

    from gfcli.engine.chunks import normalise_voffset

    starts = sorted(c.start for c in chunk_list if c.start is not None)
    if not starts:
        return ()
    candidates = sorted(set(index.all_offsets()))
    out = []
    with open(path, "rb") as handle:
        for start in starts:
            k = bisect_left(candidates, start)
            if k == 0:
                continue
            prime = normalise_voffset(handle, candidates[max(k - PRIME_BACK, 0)])
            if prime < start:
                out.append((start, prime))
    return tuple(out)


def compute(req: StatsRequest, inp) -> VariantStats:
    acc = _sites_fast(req, inp)
    if acc is None:
        acc = _cohort_fast(req, inp)
    if acc is not None:
        return acc
    return _compute(req, inp)


def _compute(req: StatsRequest, inp, sites_ok: bool = True, task_only: bool = False):
    """The statistics through htslib's header (and, but for sites statistics of BGZF VCF
    text, its parser); with `task_only` the htslib task alone (no vsites), not run."""
    from gfcli.engine import chunks as chunking
    from gfcli.engine import sniff
    from gfcli.engine.execute import make_runner, merge_results
    from gfcli.engine.variants import hts
    from gfcli.engine.variants import view as vview

    if req.include is not None and req.exclude is not None:
        raise UsageError("use either -i or -e, not both")
    if (req.regions or req.regions_file) and (inp.is_stdin or inp.index is None):
        raise UsageError(f"{inp.display}: -r/-R need an indexed file (use -t/-T to stream)")
    if req.samples is not None and req.samples_file is not None:
        raise UsageError("use either -s or -S, not both")

    is_stream = not inp.splittable
    primes: tuple = ()
    vview._close_states()
    import uuid

    settings_v = vview.Settings(
        path=inp.htslib_path() if inp.is_stdin else inp.name,
        display=inp.display,
        input_format=inp.format,
        index=inp.index,
        text_output=True,
        is_stream=is_stream,
        run=uuid.uuid4().hex,
    )
    probe = vview._state(settings_v)
    header_samples = probe.sample_names()
    probe._load_contig_names()
    names = probe._contig_names
    contigs = [names.get(i, "") for i in range(max(names) + 1)] if names else []
    defs = _header_info(probe)
    L = hts.lib()

    def hid(name: str) -> int:
        return L.bcf_hdr_id2int(probe.hdr, hts.BCF_DT_ID, name.encode())

    settings, filter_ids, filter_missing = _settings(req, header_samples, defs, hid)
    expr = None
    if req.include is not None or req.exclude is not None:
        from gfcli.engine.expr import compile_expr
        from gfcli.engine.variants import filter as vfilter

        text = req.include if req.include is not None else req.exclude
        expr = vfilter.FilterSpec(text=text, exclude=req.exclude is not None)
        # errors in the expression before any work (exit 2, as gfcli filter)
        compile_expr(text, "variants", schema=vfilter.schema_from_header(
            probe._header_text(probe.hdr)), exclude=expr.exclude)
    after_header = probe.after_header
    targets = vview._targets(req, [c for c in contigs if c])
    regions = vview._regions(req, [c for c in contigs if c])
    # without -s the samples are dropped at parse time, unless the expression reads them
    direct = (DIRECT_BCF and inp.format == sniff.BCF and inp.compression == sniff.BGZF
              and not is_stream and targets is None and expr is None and regions is None)
    kernel_inputs = _kernel_inputs(settings, header_samples, defs, hid, filter_ids,
                                   filter_missing, direct)
    if is_stream:
        vview._STATES[settings_v] = probe
    else:
        probe.close()
        del vview._STATES[settings_v]
    if regions is not None:
        from gfcli.engine.regions import merge_regions

        chunk_list = chunking.plan_region_chunks(merge_regions(regions))
    elif is_stream or inp.compression != sniff.BGZF:
        chunk_list = [chunking.Chunk.stream()]
    else:
        index = chunking.index_for(inp.name, inp.index)
        if index is not None:
            chunk_list = chunking.plan_offset_chunks(inp.name, index,
                                                     _offset_chunk_bytes(inp.name))
            primes = _primes(inp.name, index, chunk_list)
        elif inp.format == sniff.VCF:
            chunk_list = chunking.plan_text_chunks(inp.name)
        else:
            chunk_list = [chunking.Chunk.stream()]
    display = "<STDIN>" if inp.is_stdin else inp.name
    # sites statistics of BGZF VCF text: read by vsites, no vcf_parse (options that need
    # samples, filters, expressions, targets, regions or other INFO tags keep htslib)
    sites_text = (sites_ok and SITES_TEXT and inp.format == sniff.VCF
                  and inp.compression == sniff.BGZF
                  and not is_stream and regions is None and targets is None and expr is None
                  and settings.samples is None and not req.apply_filters and not settings.user
                  and not req.af_tag
                  and all(c.kind == chunking.OFFSETS for c in chunk_list))
    task = _Task(settings_v, settings, (display,), tuple(contigs), kernel_inputs, targets,
                 None if settings.samples is not None or expr is not None else "", expr,
                 direct, primes,
                 (inp.name, inp.display, after_header, settings_v.run) if direct else None)
    if task_only:
        return task
    if sites_text:
        from gfcli.engine.stats import vsites

        tabs = vsites.tables(len(header_samples), contigs, defs, after_header,
                             settings.m_af, settings.af_bins, settings.depth)
        return _run_sites(req, inp, settings, contigs, tabs, chunk_list, dict(primes),
                          task)
    parallel = not (len(chunk_list) == 1 and chunk_list[0].kind == chunking.STREAM)
    from gfcli.engine.stats import vnative

    vnative.preload()  # before the workers fork: they share the loaded code
    if (direct and req.threads > 1 and len(chunk_list) > 1
            and all(c.kind == chunking.OFFSETS for c in chunk_list)):
        return _count_forked(lambda: task, chunk_list, req.threads, display)
    with make_runner(req.threads if parallel else 1) as runner:
        acc = merge_results(runner.map(task, chunk_list))
    if acc is None:
        acc = VariantStats(settings, [display], contigs)
    return acc


def _settings(req: StatsRequest, header_samples: list[str], defs: dict,
              hid: Callable[[str], int]) -> tuple[Settings, list[int], bool]:
    """The run's Settings, the FILTER ids of -f and whether -f names '.' (numpy only for
    --af-bins and -u)."""
    samples = _samples(req, header_samples)
    lo, hi, step = _depth(req)
    af_bins = _parse_af_bins(req.af_bins) if req.af_bins else None
    m_af = len(af_bins) if af_bins else max(101, len(header_samples) + 1)
    if req.af_tag and ("INFO", req.af_tag) not in defs:
        raise UsageError(f"no such INFO tag: {req.af_tag}")
    users = []
    for spec in req.user_tstv:
        tag, idx, ulo, uhi, nb = _parse_user(spec)
        typ = defs.get(("INFO", tag))
        if typ is None:
            raise UsageError(f'the INFO tag "{tag}" is not defined in the header')
        if typ not in ("Float", "Integer"):
            raise UsageError(f'the INFO tag "{tag}" is not of Float or Integer type')
        users.append((tag, idx, ulo, uhi, nb, typ == "Float"))
    filter_ids: list[int] = []
    filter_missing = False
    if req.apply_filters:
        for name in req.apply_filters.split(","):
            if name == ".":
                filter_missing = True
            else:
                filter_ids.append(hid(name))
    settings = Settings(
        samples=samples,
        n_header_samples=len(header_samples),
        m_af=m_af,
        af_bins=af_bins,
        af_tag=req.af_tag,
        depth=(lo, hi, step),
        user=users,
        has_ad=("FORMAT", "AD") in defs,
        apply_filters=req.apply_filters,
        include=req.include,
        exclude=req.exclude,
    )
    return settings, filter_ids, filter_missing


def _kernel_inputs(settings: Settings, header_samples: list[str], defs: dict,
                   hid: Callable[[str], int], filter_ids: list[int], filter_missing: bool,
                   direct: bool) -> tuple:
    """vkernels.update's option arrays; `hid` gives htslib's BCF_DT_ID index of an ID."""
    s = settings
    users = s.user
    params = np.zeros(18, np.int64)
    params[0] = hid("DP")
    params[1] = hid("AC")
    params[2] = hid("AN")
    params[3] = hid(s.af_tag) if s.af_tag else -1
    params[4] = hid("GT")
    params[5] = hid("DP") if ("FORMAT", "DP") in defs else -2
    params[6] = hid("AD") if ("FORMAT", "AD") in defs else -2
    params[7] = s.m_af
    params[8] = len(s.af_bins) if s.af_bins else 0
    params[9] = 1 if s.samples is not None else 0
    params[10], params[11], params[12] = s.depth
    params[13] = 1 if s.apply_filters else 0
    params[14] = 1 if filter_missing else 0
    params[15] = 1 if defs.get(("INFO", "DP")) == "Integer" else 0
    params[16] = 1 if s.af_tag and defs.get(("INFO", s.af_tag)) == "Float" else 0
    # htslib's BCF reader ends a genotype at a type-missing value; read in place, the kernel
    # does it (vkernels.P_GT_MISSING_ENDS)
    params[17] = 1 if direct else 0
    if ("INFO", "DP") not in defs:
        params[0] = -2
    for k, tag in ((1, "AC"), (2, "AN")):
        if ("INFO", tag) not in defs:
            params[k] = -2
    if ("FORMAT", "GT") not in defs:
        params[4] = -2
    index_of = {n: i for i, n in enumerate(header_samples)}
    sample_idx = np.array([index_of[n] for n in s.samples] if s.samples else [], np.int64)
    return (
        params,
        np.asarray(s.af_bins or [], np.float32),
        np.asarray(filter_ids, np.int64),
        sample_idx,
        np.array([hid(u[0]) for u in users], np.int64),
        np.array([u[1] for u in users], np.int64),
        np.array([1 if u[5] else 0 for u in users], np.int64),
        np.array([u[2] for u in users], np.float32),
        np.array([u[3] for u in users], np.float32),
        np.array([u[4] for u in users], np.int64),
    )


def _large_allocations_mapped() -> None:
    """Large arrays from fresh mappings, zero pages until written: glibc raises its mmap
    threshold to the size of a freed mapped block, so after the first chunk's 3.8 MB QUAL
    arrays are freed, the next chunk's come from the heap and calloc writes zeros over
    them (11 MB touched a VariantStats, two alive at once: +24 MB RSS a process)."""
    try:
        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: fixed at 1 MiB
    except (OSError, AttributeError):  # not glibc
        pass


def _count_claims(task: _Task, chunk_list, claim) -> tuple[VariantStats | None, dict]:
    """The chunks `claim` hands this process, added into one VariantStats, and each
    chunk's float VAF sums apart (by chunk number: see `_count_forked`)."""
    _large_allocations_mapped()
    acc: VariantStats | None = None
    spare: VariantStats | None = None  # a merged chunk's arrays, zeroed for the next one
    dvaf: dict[int, np.ndarray] = {}
    while (k := claim()) is not None:
        part = task(chunk_list[k], into=spare)
        dvaf[k] = part.a["dvaf"].copy()  # (the first part's array is added to)
        if acc is None:
            acc = part
        else:
            acc += part
            part.clear()
            spare = part
    return acc, dvaf


def _count_forked(task_of: Callable[[], _Task], chunk_list, threads: int,
                  display: str, own_work: Callable[[], None] | None = None) -> VariantStats:
    """The direct BCF path with -@ N: this process and N - 1 forked ones (`forkrun`) take
    chunks in turn, each adding them into one VariantStats that it sends back once, so the
    parent merges N of them rather than one a chunk (and counts too rather than wait).
    Each process makes its task with `task_of()` before its first chunk; the parent runs
    `own_work()` (its imports) first."""
    from gfcli.engine import forkrun

    processes = min(threads, max(1, os.cpu_count() or 1) * 4)  # as execute.make_runner
    forked = forkrun.Forked(len(chunk_list), processes,
                            lambda claim, slot: _count_claims(task_of(), chunk_list, claim),
                            display=display)
    if own_work is not None:
        try:
            own_work()
        except BaseException:  # Ctrl-C (or an error) before the wait: the workers stop too
            forked.kill()
            raise
    acc: VariantStats | None = None
    dvaf: dict[int, np.ndarray] = {}
    for part, sums in forked.wait():
        dvaf.update(sums)
        if part is None:
            continue
        if acc is None:
            acc = part
        else:
            acc += part
    if acc is None:
        task = task_of()
        return VariantStats(task.settings, list(task.files), list(task.contigs))
    # float sums depend on the order they are added in: in chunk order, as the serial
    # runner's merge adds them, so that every -@ prints the same digits
    total = None
    for k in sorted(dvaf):
        if total is None:
            total = dvaf[k].copy()
        else:
            total += dvaf[k]
    acc.a["dvaf"] = total
    return acc


def _cohort_fast(req: StatsRequest, inp) -> VariantStats | None:
    """-@ N on an indexed BGZF BCF file (the direct path) with its header read here
    (vcfheader) rather than by htslib: the workers fork before numpy is imported or
    htslib loaded, and count while this process loads them. None when this does not
    apply (an option that needs htslib's reader, or numpy to set up; an unusual header;
    one chunk): `_compute` then."""
    from gfcli.engine import chunks as chunking
    from gfcli.engine import sniff

    if not (DIRECT_BCF and req.threads > 1 and inp.format == sniff.BCF
            and inp.compression == sniff.BGZF and inp.splittable and not inp.is_stdin
            and req.include is None and req.exclude is None and not req.regions
            and not req.regions_file and not req.targets and not req.targets_file
            and not req.af_bins and not req.user_tstv
            and (req.samples is None or req.samples_file is None)):
        return None
    from gfcli.engine.stats import vcfheader

    hdr = vcfheader.read_bcf_header(inp.name)
    if hdr is None or (req.af_tag and ("INFO", req.af_tag) not in hdr.defs):
        return None  # (htslib's path words the error)
    index = chunking.index_for(inp.name, inp.index)
    if index is None:
        return None
    chunk_list = chunking.plan_offset_chunks(inp.name, index, _offset_chunk_bytes(inp.name))
    if len(chunk_list) < 2 or not all(c.kind == chunking.OFFSETS for c in chunk_list):
        return None
    samples = list(hdr.samples)
    settings, filter_ids, filter_missing = _settings(req, samples, hdr.defs, hdr.hid)
    primes = _primes(inp.name, index, chunk_list)
    where = (inp.name, inp.display, hdr.after_header, os.urandom(8).hex())
    made: list[_Task] = []
    parent = os.getpid()
    # the workers load the kernels once this process has (it closes its end then): on a
    # machine where they are not built yet, one process builds them, not N at once
    ready: list[int | None] = list(os.pipe())  # read end, write end (None: closed)

    def close(end: int) -> None:
        fd = ready[end]
        if fd is not None:
            ready[end] = None
            os.close(fd)

    def task_of() -> _Task:
        if not made:  # numpy's first use: in each process after the fork
            child = os.getpid() != parent
            if child:
                close(1)
            inputs = _kernel_inputs(settings, samples, hdr.defs, hdr.hid, filter_ids,
                                    filter_missing, True)
            if child:
                os.read(ready[0], 1)  # the end of the pipe: the parent has loaded them
                close(0)
            made.append(_Task(None, settings, (inp.name,), hdr.contigs, inputs, None,
                              None if settings.samples is not None else "", None, True,
                              primes, where))
        return made[0]

    def own_work() -> None:
        from gfcli.engine import bgzf_native
        from gfcli.engine.stats import vnative, vtext

        vnative.preload()  # numpy, and the kernels
        bgzf_native.available()
        close(1)
        vtext.htslib_version()

    try:
        return _count_forked(task_of, chunk_list, req.threads, inp.name, own_work)
    finally:
        close(0)
        close(1)


def _depth(req: StatsRequest) -> tuple[int, int, int]:
    lo, hi, step = req.depth or (0, 500, 1)
    if lo < 0 or lo >= hi or step > hi - lo + 1:
        raise UsageError(f"is this a typo? --depth {lo},{hi},{step}")
    return lo, hi, step


def _sites_options(req: StatsRequest) -> bool:
    """No option that needs more than the sites (see vsites)."""
    return (req.samples is None and req.samples_file is None and req.include is None
            and req.exclude is None and not req.regions and not req.regions_file
            and not req.targets and not req.targets_file and not req.apply_filters
            and not req.user_tstv and not req.af_tag)


def _sites_fast(req: StatsRequest, inp) -> VariantStats | None:
    """Sites statistics of an indexed or plain BGZF VCF file with its header read here
    (vcfheader) rather than by htslib: neither pysam nor numpy is imported before the
    workers start. None when this does not apply (the header or the index is unusual:
    htslib then reads the header)."""
    from gfcli.engine import chunks as chunking
    from gfcli.engine import sniff

    if not (SITES_TEXT and _sites_options(req) and inp.format == sniff.VCF
            and inp.compression == sniff.BGZF and inp.splittable):
        return None
    from gfcli.engine.stats import vcfheader, vsites

    hdr = vcfheader.read_header(inp.name)
    if hdr is None:
        return None
    index = chunking.index_for(inp.name, inp.index)
    # htslib adds the contigs the tabix index names and the header does not
    if index is not None and (index.kind != "tbi" or index.names is None
                              or not set(index.names) <= set(hdr.contigs)):
        return None
    depth = _depth(req)
    af_bins = _parse_af_bins(req.af_bins) if req.af_bins else None
    m_af = len(af_bins) if af_bins else max(101, hdr.n_samples + 1)
    contigs = list(hdr.contigs)
    settings = Settings(samples=None, n_header_samples=hdr.n_samples, m_af=m_af,
                        af_bins=af_bins, af_tag=None, depth=depth, user=[],
                        has_ad=("FORMAT", "AD") in hdr.defs, apply_filters=None,
                        include=None, exclude=None)
    if index is not None:
        chunk_list = chunking.plan_offset_chunks(inp.name, index)
        primes = dict(_primes(inp.name, index, chunk_list))
    else:
        chunk_list = chunking.plan_text_chunks(inp.name)
        primes = {}
    if not all(c.kind == chunking.OFFSETS for c in chunk_list):
        return None
    tabs = vsites.tables(hdr.n_samples, contigs, hdr.defs, hdr.after_header, m_af, af_bins,
                         depth)
    return _run_sites(req, inp, settings, contigs, tabs, chunk_list, primes, None)


def _run_sites(req: StatsRequest, inp, settings: Settings, contigs: list[str], tabs,
               chunk_list, primes: dict[int, int], task: _Task | None) -> VariantStats:
    """Count the chunks with vsites (in forked workers with -@ N), htslib's `task` taking
    the chunks the kernel refuses (made on first need when None)."""
    made: list[_Task] = [task] if task is not None else []

    def fallback(chunk) -> VariantStats:
        if not made:
            general = _compute(req, inp, sites_ok=False, task_only=True)
            made.append(dataclasses.replace(general, primes=tuple(primes.items())))
        return made[0](chunk)

    import gc

    # the parent's work from here is imports and a few large arrays: no collections
    # (numpy's import alone would run several)
    collect = gc.isenabled()
    gc.disable()
    try:
        return _count_sites(req, inp, settings, contigs, tabs, chunk_list, primes, fallback)
    finally:
        if collect:
            gc.enable()


def _count_sites(req: StatsRequest, inp, settings: Settings, contigs: list[str], tabs,
                 chunk_list, primes: dict[int, int], fallback) -> VariantStats:
    from gfcli.engine.stats import vsites

    display = "<STDIN>" if inp.is_stdin else inp.name
    sizes = {name: shape[0] for name, (shape, _) in _shapes(settings).items()
             if name in vsites.ACC_ARRAYS}
    sizes["chrom"] = len(contigs)
    plan = vsites.Plan(inp.name, inp.display, tabs, vsites.Layout(sizes), chunk_list,
                       primes, fallback, SITES_TEXT_REQUIRED)
    vsites.preload()  # before the workers fork: they share the loaded kernel
    running = vsites.run(plan, req.threads)
    # bcftools' text needs no numpy (vtext.render_lists): its import, a quarter of the
    # workers' time, would take a core from them
    plain = req.output_type == TEXT and not req.pretty
    try:
        # the parent's share while the workers count
        from gfcli.engine.stats import vtext

        vtext.htslib_version()
        if not plain:
            np.zeros(0)
    except BaseException:  # Ctrl-C (or an error) before the wait: the workers stop too
        if isinstance(running, vsites.Pending):
            running.kill()
        raise
    result = running.wait() if isinstance(running, vsites.Pending) else running
    if plain and not result.partials and result.qual_hi <= SitesText.MAX_QUAL_BINS:
        return SitesText(settings, [display], contigs, result)
    return _sites_stats(settings, [display], contigs, result)


def _sites_stats(settings: Settings, files: list[str], contigs: list[str],
                 result) -> VariantStats:
    """A VariantStats of vsites' counters (and of the chunks htslib counted)."""
    from gfcli.engine.stats import vsites

    acc = VariantStats(settings, files, contigs)
    layout = result.layout
    for block in range(result.n_blocks):
        base = block * layout.nbytes
        for name in vsites.ACC_ARRAYS:
            n = layout.sizes[name]
            if name in _QUAL_ARRAYS:
                n = min(n, result.qual_hi)
            if n:
                acc.a[name].reshape(-1)[:n] += np.frombuffer(
                    result.mem, np.int64, n, base + layout.offsets[name])
    acc.qual_hi = result.qual_hi
    for part in result.partials:
        acc += part
    return acc


class SitesText:
    """The counters of a sites run (vsites.Result) that prints bcftools' text without
    numpy; JSON, --pretty and merging use the VariantStats it makes on first need."""

    kind = VARIANTS
    MAX_QUAL_BINS = 120_000  # beyond (QUAL > 10**4), summing the bins wants numpy

    def __init__(self, settings: Settings, files: list[str], contigs: list[str], result):
        self.settings = settings
        self.files = files
        self.contigs = contigs
        self.qual_hi = result.qual_hi
        self._result = result
        self._stats: VariantStats | None = None

    def render_text(self, req: StatsRequest) -> str:
        from itertools import compress
        from operator import add

        from gfcli.engine.stats import vsites, vtext

        s = self.settings
        res = self._result
        lists = {name: res.total(name) for name in vtext.LISTS
                 if name in vsites.ACC_ARRAYS}
        for name in vtext.LISTS:
            if name not in lists:  # not counted without samples
                (shape,), dtype = _shapes(s)[name]
                lists[name] = [0.0 if dtype == "float64" else 0] * shape
        ts, tv, ind = (res.total(name, self.qual_hi) for name in _QUAL_NAMES)
        # the non-empty bins, with C-level iteration (tens of thousands of bins)
        used = list(map(add, map(add, ts, tv), ind))
        quals = tuple(list(compress(values, used)) for values in (range(len(used)), ts, tv,
                                                                  ind))
        return vtext.render_lists(self, lists, quals, req)

    def stats(self) -> VariantStats:
        if self._stats is None:
            self._stats = _sites_stats(self.settings, self.files, self.contigs, self._result)
        return self._stats

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_stats", "_result"):
            raise AttributeError(name)
        return getattr(self.stats(), name)

    def __iadd__(self, other: Any) -> VariantStats:
        acc = self.stats()
        acc += other
        return acc
