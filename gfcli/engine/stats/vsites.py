"""Sites-only statistics of BGZF VCF text without htslib's parser.

Without -s/-S bcftools stats reads no sample column, and for a sites VCF htslib's
`vcf_parse` (tokenising every INFO tag, typing it, encoding it) costs as much as bcftools'
whole run. Here a chunk's BGZF blocks are inflated by gfcli's libdeflate layer into one
reused buffer, cut at line ends, and `vsites_kernels.count_lines` adds the lines straight to
the `VariantStats` counters (what `vkernels.update` adds for the same records, with the
bcftools readings its docstring lists). A first version encoded raw BCF batches for
`vkernels.update` instead: 0.44 s to parse and 0.27 s to count 1M sites (loaded machine),
against about 0.3 s for this kernel, which also finds delimiters 8 bytes at a time.

The kernel is built once per machine into a shared library (numba -> LLVM -> baseline
x86-64 object -> `cc -shared`) and loaded by ctypes, so a run imports neither numba nor
llvmlite; without a C compiler llvmlite's MCJIT loads it, and without llvmlite numba runs it.

The kernel accepts only lines it reads exactly as htslib would; at the first other line it
stops and the caller gives the whole chunk to the htslib path (`Unsupported`). Used for
BGZF VCF files (not streams) when no option needs more than the sites: no -s/-S, -i/-e,
-t/-T, -r/-R, -f, -u, --af-tag.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfcli.engine.bam.sharedlib import address_tables
from gfcli.engine.bgzf import (
    Inflater,
    append_block,
    drop_mapped_pages,
    map_file,
    split_voffset,
)
from gfcli.engine.errors import DataError

_HERE = os.path.dirname(os.path.abspath(__file__))
P = ctypes.c_void_p
I64 = ctypes.c_int64
# vnative's RING, RING_W (the ALT-length ring of vkernels.N_STALE) and SCRATCH_W, here so
# that a run needs not import vnative; vsites_kernels checks they agree when it is built
RING, RING_W, SCRATCH_W = 3, 64, 1 << 16

PIECE_BYTES = 4 << 20  # inflated text per kernel call (whole lines)
PAD = 8  # bytes the kernel may read past the text: it finds delimiters 8 bytes at a time

# vsites_kernels.count_lines' layout (here: that module imports numba)
# kept INFO keys (roles in the key table)
K_DP, K_AC, K_AN = 0, 1, 2
# ints[] layout
I_START, I_END, I_NSAMPLES, I_ZERO, I_RING_ONLY, I_M_AF, I_DP_MIN, I_DP_MAX, I_DP_STEP = \
    range(9)
N_INTS = 9
# out[] layout
O_N, O_NEXT, O_STATUS, O_BAD, O_QHI = 0, 1, 2, 3, 4  # O_QHI: above every QUAL bin written
# statuses
S_DONE, S_UNSUPPORTED, S_ANAC = 0, -1, -2
DROP_BYTES = 8 << 20  # mapped input released every this many compressed bytes
HASH_MIN = 1 << 6


class Unsupported(Exception):
    """A line this reader does not take: the chunk goes to htslib."""


# count_lines' arguments after the ints: (name, dtype, rank)
COUNT_ARGS: tuple[tuple[str, Any, int], ...] = (
    ("buf", np.uint8, 1), ("ctg_slots", np.int64, 1), ("ctg_names", np.uint8, 1),
    ("ctg_off", np.int64, 1), ("key_names", np.uint8, 1), ("key_off", np.int64, 1),
    ("key_role", np.int64, 1), ("key_first", np.int64, 1), ("p10", np.float64, 1),
    ("bins", np.float32, 1),
    ("cols", np.int64, 1), ("scratch", np.int64, 2),
    ("sn", np.int64, 1), ("af_ts", np.int64, 1), ("af_tv", np.int64, 1),
    ("af_snps", np.int64, 1), ("af_indels", np.int64, 1), ("qual_ts", np.int64, 1),
    ("qual_tv", np.int64, 1), ("qual_in", np.int64, 1), ("ins", np.int64, 1),
    ("dels", np.int64, 1), ("subst", np.int64, 1), ("dp_site", np.int64, 1),
    ("chrom", np.int64, 1), ("maf", np.int64, 1), ("ring", np.int64, 2),
    ("ring_state", np.int64, 1), ("out", np.int64, 1),
)
ACC_ARRAYS = ("sn", "af_ts", "af_tv", "af_snps", "af_indels", "qual_ts", "qual_tv", "qual_in",
              "ins", "dels", "subst", "dp_site", "chrom", "maf")


def _build() -> dict[str, Any]:
    from numba import carray, cfunc, types

    from gfcli.engine.stats import vsites_kernels
    from gfcli.engine.stats.vnative import _source
    from gfcli.engine.stats.vreadk import _voidptr

    scope = {"carray": carray, "_voidptr": _voidptr, "np": np,
             "count_lines": vsites_kernels.count_lines}
    # the wrapper's carrays need literal dtypes and ranks: generated from COUNT_ARGS
    exec(_source("cnt", COUNT_ARGS, "count_lines", N_INTS, ints_array=True),  # noqa: S102
         scope)
    i64p = types.CPointer(types.int64)
    return {"count_lines": cfunc(types.int64(i64p, i64p, i64p))(scope["cnt"])}


SOURCES = [os.path.join(_HERE, "vsites_kernels.py"), os.path.abspath(__file__),
           os.path.join(_HERE, "vkernels.py"), os.path.join(_HERE, "vreadk.py"),
           os.path.join(_HERE, "vnative.py"),
           os.path.join(os.path.dirname(_HERE), "bam", "nativekit.py")]
_MCJIT: list[Any] = []


def _mcjit_kernels() -> Any:
    """The llvmlite MCJIT fallback (no C compiler): a KernelSet keyed the same way
    (sources, numba and llvmlite versions, host CPU) but without importlib.metadata."""
    if _MCJIT:
        return _MCJIT[0]
    import hashlib

    from gfcli.engine.bam.nativekit import KernelSet
    from gfcli.engine.bam.sharedlib import numba_version

    class _Kernels(KernelSet):
        def _key(self) -> str:
            import llvmlite
            import llvmlite.binding as llvm

            parts = [llvmlite.__version__, llvm.get_default_triple(),
                     llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                     self.name, numba_version()]
            for path in self.sources:
                with open(path, "rb") as handle:
                    parts.append(hashlib.sha256(handle.read()).hexdigest())
            return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]

    _MCJIT.append(_Kernels("vsites", SOURCES, {"count_lines": (I64, P, P, P)}, _build))
    return _MCJIT[0]


def _load_shared() -> Any:
    """The kernel from a shared library in the cache (built once): loading it needs neither
    numba nor llvmlite (whose import is 20-70 ms of a run)."""
    from gfcli.engine.bam.sharedlib import load_set

    return load_set("vsites", SOURCES, "vsites-x86-64-baseline-4",
                    {"count_lines": (I64, P, P, P)}, _build)["count_lines"]


_COUNTER: list[Callable[..., int]] = []  # loaded once; forked workers inherit it


def _counter() -> Callable[..., int]:
    """count_lines(ints, *arrays), native when available: from a shared library, else
    loaded by llvmlite's MCJIT (no C compiler), else numba's."""
    if not _COUNTER:
        _COUNTER.append(_make_counter())
    return _COUNTER[0]


def _make_counter() -> Callable[..., int]:
    fn = None
    if not os.environ.get("GFCLI_NO_NATIVE"):
        try:
            fn = _load_shared()
        except Exception:
            fn = None
        if fn is None:
            try:
                from gfcli.engine.stats import vnative

                vnative._add_libc_symbols()  # MCJIT resolves memset/memcpy only from these
                native = _mcjit_kernels().load()
            except Exception:  # pragma: no cover - llvmlite missing: the numba kernel then
                native = None
            fn = native["count_lines"] if native is not None else None
    if fn is None:
        from gfcli.engine.stats import vsites_kernels

        return vsites_kernels.count_lines

    def call(ints, *arrays):
        ptrs, lens = address_tables(COUNT_ARGS, arrays)
        return fn(ints.ctypes.data, ptrs.ctypes.data, lens.ctypes.data)

    return call


def preload() -> None:
    """Load (building once per machine) the kernel before the workers fork."""
    _counter()


def _fnv(data: bytes) -> int:
    h = 2166136261
    for c in data:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def _table(names: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slots, names, offsets): an open-addressing table the kernel's `_find` reads."""
    size = HASH_MIN
    while size < 4 * len(names):
        size *= 2
    slots = np.zeros(size, np.int64)
    for i, name in enumerate(names):
        h = _fnv(name) & (size - 1)
        while slots[h]:
            h = (h + 1) & (size - 1)
        slots[h] = i + 1
    off = np.zeros(len(names) + 1, np.int64)
    off[1:] = np.cumsum([len(n) for n in names]) if names else []
    return slots, np.frombuffer(b"".join(names) or b"\0", np.uint8).copy(), off


@dataclass(frozen=True)
class Tables:
    """What the kernel needs from the header and the options (picklable, small)."""

    n_samples: int
    contigs: tuple[bytes, ...]  # by htslib contig id
    keys: tuple[tuple[bytes, int], ...]  # (INFO key, vsites_kernels.K_*)
    after_header: int  # virtual offset of the first record
    m_af: int
    bins: tuple[float, ...]
    depth: tuple[int, int, int]

    def arrays(self) -> tuple[np.ndarray, ...]:
        ctg = _table(list(self.contigs))  # ids without a name hold b"" (never matched)
        names = [k for k, _ in self.keys]
        off = np.zeros(len(names) + 1, np.int64)
        off[1:] = np.cumsum([len(k) for k in names]) if names else []
        key_names = np.frombuffer(b"".join(names) or b"\0", np.uint8).copy()
        roles = np.array([r for _, r in self.keys] or [0], np.int64)[:len(names)]
        # first bytes of the kept keys (-1 pads): most entries are passed over on it
        first = np.full(3, -1, np.int64)
        first[:len(names)] = [k[0] for k in names]
        p10 = np.array([10.0 ** k for k in range(23)], np.float64)
        return (*ctg, key_names, off, roles, first, p10, np.asarray(self.bins, np.float32))


def tables(n_samples: int, contigs: list[str], defs: dict[tuple[str, str], str],
           after_header: int, m_af: int, bins: list[float] | None,
           depth: tuple[int, int, int]) -> Tables:
    """The kernel's tables from the header as `variants.compute` reads it."""
    keys = tuple((name.encode(), role) for name, role in (("DP", K_DP), ("AC", K_AC),
                                                          ("AN", K_AN))
                 if defs.get(("INFO", name)) == "Integer")
    return Tables(n_samples, tuple(c.encode() for c in contigs), keys, after_header, m_af,
                  tuple(bins or ()), tuple(depth))



_LIBC: list[Any] = []


def _after_last_newline(buf: np.ndarray, fill: int) -> int:
    """1 + the position of the last newline in buf[:fill], or 0."""
    if fill and buf[fill - 1] == 10:
        return fill
    if not _LIBC:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.memrchr.restype = ctypes.c_void_p
        libc.memrchr.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        _LIBC.append(libc)
    base = buf.ctypes.data
    hit = _LIBC[0].memrchr(base, 10, fill)
    return hit - base + 1 if hit else 0


class SitesReader:
    """Per process and file: the mapped input, buffers and the parser's tables."""

    def __init__(self, path: str, display: str, tabs: Tables):
        self.path = path
        self.display = display
        self.tabs = tabs
        self.table_arrays = tabs.arrays()
        self.src = map_file(path)
        self.inflater = Inflater(self.src)
        self.buf = np.empty(PIECE_BYTES + (1 << 17), np.uint8)
        self.out = np.zeros(5, np.int64)

        self.ints = np.zeros(N_INTS, np.int64)
        self.ints[I_M_AF] = tabs.m_af
        self.ints[I_DP_MIN], self.ints[I_DP_MAX], self.ints[I_DP_STEP] = tabs.depth
        self.cols = np.zeros(16, np.int64)
        self.scratch = np.zeros((7, SCRATCH_W), np.int64)
        self.count_lines = _counter()

    def _pieces(self, start: int | None, end: int | None) -> Iterator[tuple[int, bool]]:
        """Fill self.buf with whole lines of [start, end); yields (bytes, last piece)."""
        src, inflater = self.src, self.inflater
        size = len(src)
        address, lo = split_voffset(start if start is not None else self.tabs.after_header)
        end_addr, end_within = split_voffset(end) if end is not None else (None, 0)
        fill = 0
        dropped = address
        while True:
            done = address >= size or (end_addr is not None and (
                address > end_addr or (address == end_addr and not end_within)))
            if not done:
                # the kernel reads up to PAD bytes past the end of the text
                self.buf, fill, address, last = append_block(
                    src, address, inflater, self.buf, fill, lo, end_addr, end_within,
                    self.display, PAD)
                lo = 0
                if address - dropped >= DROP_BYTES:
                    dropped = drop_mapped_pages(src, dropped, address)
                if last:
                    done = True
                if fill < PIECE_BYTES and not done:
                    continue
            if done:
                drop_mapped_pages(src, dropped, address)
                yield fill, True
                return
            cut = _after_last_newline(self.buf, fill)
            if cut == 0:
                continue  # one line longer than the piece: read on
            keep = fill - cut
            yield cut, False
            if keep:
                self.buf[:keep] = self.buf[cut:fill].copy()
            fill = keep

    def count(self, acc: Any, ring: tuple[np.ndarray, np.ndarray], start: int | None,
              end: int | None, ring_only: bool = False) -> None:
        """Add the records in [start, end) (virtual offsets) to `acc` (a VariantStats);
        with `ring_only` they only set the ring. Raises Unsupported at a line htslib must
        read (acc is then partly updated: the caller starts the chunk over)."""
        out = self.out
        ints = self.ints
        ints[I_NSAMPLES] = self.tabs.n_samples
        ints[I_RING_ONLY] = 1 if ring_only else 0
        accs = tuple(acc.a[name] for name in ACC_ARRAYS)
        # the kernel raises out[O_QHI] past each QUAL bin it counts in, which keeps
        # acc.qual_hi (how far VariantStats packs and merges the QUAL arrays) known;
        # unknown while counting, and so after an exception
        hi = acc.qual_hi
        acc.qual_hi = None
        out[O_QHI] = 0
        for fill, _last in self._pieces(start, end):
            ints[I_START], ints[I_END] = 0, fill
            self.count_lines(ints, self.buf, *self.table_arrays, self.cols, self.scratch,
                             *accs, *ring, out)
            status = int(out[O_STATUS])
            if status == S_UNSUPPORTED:
                raise Unsupported(int(out[O_BAD]))
            if status == S_ANAC:
                raise DataError("incorrect AN/AC counts (AN smaller than the sum of AC)")
        if hi is not None:
            acc.qual_hi = max(hi, int(out[O_QHI]))


def new_ring() -> tuple[np.ndarray, np.ndarray]:
    """A pass's ring of ALT lengths and its record counter (variants.new_ring's layout)."""
    return np.zeros((RING, RING_W), np.int64), np.zeros(1, np.int64)
