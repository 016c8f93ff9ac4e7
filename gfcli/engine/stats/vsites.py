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
stops (`Unsupported`): the chunk's lines counted so far are counted again apart and taken
off, and the caller's htslib path counts the whole chunk. Used for BGZF VCF files (not
streams) when no option needs more than the sites: no -s/-S, -i/-e, -t/-T, -r/-R, -f, -u,
--af-tag.

A run (`run`) needs neither numpy nor a process pool: with -@ N it forks N - 1 workers
(`forkrun`) as soon as the header is read (`vcfheader`) and the chunks planned, and the
parent counts too once its own start-up is done. Each takes chunk numbers from a pipe,
counts into its own block of int64 counters in one shared anonymous mapping
(`Layout`; ctypes arrays, the kernel called through address tables) and reports back on
its own pipe only the highest QUAL bin it reached, or the VariantStats of chunks htslib
counted, or its error. The parent meanwhile has nothing to import but the renderer, and
sums the blocks when the workers are done (`Result`).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gfcli.engine import forkrun
from gfcli.engine.bgzf import (
    Inflater,
    block_isize,
    block_size,
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


# count_lines' arguments after the ints: (name, dtype, rank). Dtypes by name: a run
# allocates them with ctypes and needs no numpy
COUNT_ARGS: tuple[tuple[str, str, int], ...] = (
    ("buf", "uint8", 1), ("ctg_slots", "int64", 1), ("ctg_names", "uint8", 1),
    ("ctg_off", "int64", 1), ("key_names", "uint8", 1), ("key_off", "int64", 1),
    ("key_role", "int64", 1), ("key_first", "int64", 1), ("p10", "float64", 1),
    ("bins", "float32", 1),
    ("cols", "int64", 1), ("scratch", "int64", 2),
    ("sn", "int64", 1), ("af_ts", "int64", 1), ("af_tv", "int64", 1),
    ("af_snps", "int64", 1), ("af_indels", "int64", 1), ("qual_ts", "int64", 1),
    ("qual_tv", "int64", 1), ("qual_in", "int64", 1), ("ins", "int64", 1),
    ("dels", "int64", 1), ("subst", "int64", 1), ("dp_site", "int64", 1),
    ("chrom", "int64", 1), ("maf", "int64", 1), ("ring", "int64", 2),
    ("ring_state", "int64", 1), ("out", "int64", 1),
)
ACC_ARRAYS = ("sn", "af_ts", "af_tv", "af_snps", "af_indels", "qual_ts", "qual_tv", "qual_in",
              "ins", "dels", "subst", "dp_site", "chrom", "maf")
_CTYPE = {"uint8": ctypes.c_uint8, "int64": ctypes.c_int64, "float64": ctypes.c_double,
          "float32": ctypes.c_float}
_ARG_INDEX = {name: i for i, (name, _, _) in enumerate(COUNT_ARGS)}


def _build() -> dict[str, Any]:
    import numpy as np
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
        import numpy as np

        from gfcli.engine.stats import vsites_kernels

        def numba_call(ints: Any, ptrs: Any, lens: Any, objs: Sequence[Any]) -> int:
            views = [np.frombuffer(obj, dt)[:lens[2 * i]].reshape(shape)
                     for i, (obj, (_, dt, _), shape) in enumerate(zip(
                         objs, COUNT_ARGS, _shapes(lens), strict=True))]
            return vsites_kernels.count_lines(np.frombuffer(ints, np.int64), *views)

        return numba_call

    def call(ints: Any, ptrs: Any, lens: Any, objs: Sequence[Any]) -> int:
        return fn(ctypes.addressof(ints), ctypes.addressof(ptrs), ctypes.addressof(lens))

    return call


def _shapes(lens: Any) -> list[tuple[int, ...]]:
    return [(lens[2 * i],) if rank == 1 else (lens[2 * i] // lens[2 * i + 1], lens[2 * i + 1])
            for i, (_, _, rank) in enumerate(COUNT_ARGS)]


def preload() -> None:
    """Load (building once per machine) the kernel before the workers fork."""
    _counter()




def _fnv(data: bytes) -> int:
    h = 2166136261
    for c in data:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def _array(dtype: str, values: Sequence[float] | int) -> Any:
    """A ctypes array of `dtype` (zeros of that length when `values` is an int)."""
    if isinstance(values, int):
        return (_CTYPE[dtype] * max(values, 1))()
    return (_CTYPE[dtype] * max(len(values), 1))(*values)


def _table(names: list[bytes]) -> tuple[Any, Any, Any]:
    """(slots, names, offsets): an open-addressing table the kernel's `_find` reads."""
    size = HASH_MIN
    while size < 4 * len(names):
        size *= 2
    slots = [0] * size
    for i, name in enumerate(names):
        h = _fnv(name) & (size - 1)
        while slots[h]:
            h = (h + 1) & (size - 1)
        slots[h] = i + 1
    off = [0]
    for name in names:
        off.append(off[-1] + len(name))
    return _array("int64", slots), _array("uint8", b"".join(names) or b"\0"), _array(
        "int64", off)


class Tables:
    """What the kernel needs from the header and the options. (A plain class: a
    dataclass costs a run's start-up a millisecond to make.)"""

    def __init__(self, n_samples: int, contigs: tuple[bytes, ...],
                 keys: tuple[tuple[bytes, int], ...], after_header: int, m_af: int,
                 bins: tuple[float, ...], depth: tuple[int, int, int]):
        self.n_samples = n_samples
        self.contigs = contigs  # by htslib contig id
        self.keys = keys  # (INFO key, vsites_kernels.K_*)
        self.after_header = after_header  # virtual offset of the first record
        self.m_af = m_af
        self.bins = bins
        self.depth = depth

    def arrays(self) -> tuple[Any, ...]:
        """The kernel's table arguments, ctg_slots to bins (COUNT_ARGS order)."""
        ctg = _table(list(self.contigs))  # ids without a name hold b"" (never matched)
        names = [k for k, _ in self.keys]
        off = [0]
        for name in names:
            off.append(off[-1] + len(name))
        key_names = _array("uint8", b"".join(names) or b"\0")
        roles = _array("int64", [r for _, r in self.keys])
        # first bytes of the kept keys (-1 pads): most entries are passed over on it
        first = _array("int64", [k[0] for k in names] + [-1] * (3 - len(names)))
        p10 = _array("float64", [10.0 ** k for k in range(23)])
        return (*ctg, key_names, _array("int64", off), roles, first, p10,
                _array("float32", self.bins))

    def lengths(self) -> tuple[int, ...]:
        """Element counts of `arrays()` as the kernel must see them (a key table with no
        keys has no entries, though its ctypes array holds one)."""
        n_keys = len(self.keys)
        size = HASH_MIN
        while size < 4 * len(self.contigs):
            size *= 2
        n_names = sum(len(c) for c in self.contigs)
        return (size, max(n_names, 1), len(self.contigs) + 1,
                max(sum(len(k) for k, _ in self.keys), 1), n_keys + 1, n_keys, 3, 23,
                len(self.bins))


def tables(n_samples: int, contigs: Sequence[str], defs: dict[tuple[str, str], str],
           after_header: int, m_af: int, bins: Sequence[float] | None,
           depth: tuple[int, int, int]) -> Tables:
    """The kernel's tables from the header as `variants.compute` reads it."""
    keys = tuple((name.encode(), role) for name, role in (("DP", K_DP), ("AC", K_AC),
                                                          ("AN", K_AN))
                 if defs.get(("INFO", name)) == "Integer")
    return Tables(n_samples, tuple(c.encode() for c in contigs), keys, after_header, m_af,
                  tuple(bins or ()), tuple(depth))


_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        libc = ctypes.CDLL(None)
        libc.memrchr.restype = ctypes.c_void_p
        libc.memrchr.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        _LIBC.append(libc)
    return _LIBC[0]


class Layout:
    """Where each counter of ACC_ARRAYS lies in one process's block of int64 counters."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = {name: sizes[name] for name in ACC_ARRAYS}
        self.offsets: dict[str, int] = {}
        at = 0
        for name in ACC_ARRAYS:
            self.offsets[name] = at
            at += 8 * max(self.sizes[name], 1)
        self.nbytes = -(-at // mmap.PAGESIZE) * mmap.PAGESIZE

    def views(self, mem: Any, base: int) -> dict[str, Any]:
        """ctypes int64 arrays over the block at byte `base` of `mem`."""
        return {name: (ctypes.c_int64 * max(self.sizes[name], 1)).from_buffer(
            mem, base + self.offsets[name]) for name in ACC_ARRAYS}


class SitesReader:
    """Per process and file: the mapped input, buffers and the parser's tables (ctypes:
    a worker needs no numpy)."""

    def __init__(self, path: str, display: str, tabs: Tables):
        self.path = path
        self.display = display
        self.tabs = tabs
        self.src = map_file(path)
        self.inflater = Inflater(self.src)
        self.buf = _array("uint8", PIECE_BYTES + (1 << 17))
        self.ints = _array("int64", N_INTS)
        self.ints[I_M_AF] = tabs.m_af
        self.ints[I_DP_MIN], self.ints[I_DP_MAX], self.ints[I_DP_STEP] = tabs.depth
        self.out = _array("int64", 5)
        self.ring = _array("int64", RING * RING_W)
        self.ring_state = _array("int64", 1)
        self.count_lines = _counter()
        n = len(COUNT_ARGS)
        self.ptrs = _array("int64", n)
        self.lens = _array("int64", 2 * n)
        self.objs: list[Any] = [None] * n
        self._set("buf", self.buf, len(self.buf))
        for (name, _, _), obj, length in zip(COUNT_ARGS[1:10], tabs.arrays(), tabs.lengths(),
                                             strict=True):
            self._set(name, obj, length)
        self._set("cols", _array("int64", 16), 16)
        # 3.5 MiB of which a line uses a few entries a row: mapped, not zeroed (the pages
        # a run never touches cost nothing)
        scratch = (ctypes.c_int64 * (7 * SCRATCH_W)).from_buffer(
            mmap.mmap(-1, 8 * 7 * SCRATCH_W))
        self._set("scratch", scratch, 7 * SCRATCH_W, SCRATCH_W)
        self._set("ring", self.ring, RING * RING_W, RING_W)
        self._set("ring_state", self.ring_state, 1)
        self._set("out", self.out, 5)

    def _set(self, name: str, obj: Any, length: int, width: int = 1) -> None:
        i = _ARG_INDEX[name]
        self.objs[i] = obj
        self.ptrs[i] = ctypes.addressof(obj)
        self.lens[2 * i] = length
        self.lens[2 * i + 1] = width

    def use(self, accs: dict[str, Any]) -> None:
        """Count into these counters (Layout.views) from now on."""
        for name in ACC_ARRAYS:
            arr = accs[name]
            self._set(name, arr, len(arr) if name != "chrom" else len(self.tabs.contigs))

    def _append(self, address: int, fill: int, lo: int, end_addr: int | None,
                end_within: int) -> tuple[int, int, bool]:
        """Inflate the block at `address` to buf[fill:] and keep its bytes from `lo` (up to
        `end_within` in the range's last block); (fill, next address, last block)."""
        src = self.src
        total = block_size(src, address)
        if address + total > len(src):
            raise DataError(f"truncated BGZF block at byte {address}", path=self.display)
        isize = block_isize(src, address, total)
        if fill + isize + PAD > len(self.buf):
            grown = _array("uint8", max(2 * len(self.buf), fill + isize + PAD))
            ctypes.memmove(grown, self.buf, fill)
            self.buf = grown
            self._set("buf", grown, len(grown))
        base = ctypes.addressof(self.buf)
        self.inflater.inflate_into(address, total, self.buf, fill, base)
        last = address == end_addr
        hi = min(end_within, isize) if last else isize
        kept = max(hi - lo, 0)
        if lo and kept:
            ctypes.memmove(base + fill, base + fill + lo, kept)
        return fill + kept, address + total, last

    def _pieces(self, start: int | None, end: int | None) -> Iterator[int]:
        """Fill self.buf with whole lines of [start, end); yields their byte count."""
        src = self.src
        size = len(src)
        address, lo = split_voffset(start if start is not None else self.tabs.after_header)
        end_addr, end_within = split_voffset(end) if end is not None else (None, 0)
        fill = 0
        dropped = address
        while True:
            done = address >= size or (end_addr is not None and (
                address > end_addr or (address == end_addr and not end_within)))
            if not done:
                fill, address, last = self._append(address, fill, lo, end_addr, end_within)
                lo = 0
                if address - dropped >= DROP_BYTES:
                    dropped = drop_mapped_pages(src, dropped, address)
                if last:
                    done = True
                if fill < PIECE_BYTES and not done:
                    continue
            if done:
                drop_mapped_pages(src, dropped, address)
                yield fill
                return
            base = ctypes.addressof(self.buf)
            if self.buf[fill - 1] == 10:
                cut = fill
            else:
                hit = _libc().memrchr(base, 10, fill)
                cut = hit - base + 1 if hit else 0
            if cut == 0:
                continue  # one line longer than the piece: read on
            keep = fill - cut
            yield cut
            if keep:
                ctypes.memmove(base, base + cut, keep)
            fill = keep

    def count(self, start: int | None, end: int | None, ring_only: bool = False) -> int:
        """Add the records in [start, end) (virtual offsets) to the counters `use` named;
        with `ring_only` they only set the ring. Returns 1 + the highest QUAL bin counted
        (0: none). Raises Unsupported at a line htslib must read (the counters are then
        partly updated)."""
        out = self.out
        ints = self.ints
        ints[I_NSAMPLES] = self.tabs.n_samples
        ints[I_RING_ONLY] = 1 if ring_only else 0
        out[O_QHI] = 0
        for fill in self._pieces(start, end):
            ints[I_START], ints[I_END] = 0, fill
            self.count_lines(ints, self.ptrs, self.lens, self.objs)
            status = out[O_STATUS]
            if status == S_UNSUPPORTED:
                raise Unsupported(out[O_BAD])
            if status == S_ANAC:
                raise DataError("incorrect AN/AC counts (AN smaller than the sum of AC)",
                                path=self.display)
        return out[O_QHI]

    def count_chunk(self, start: int | None, end: int | None, prime: int | None) -> int:
        """count() of one chunk with a fresh ring, set first from the records between
        `prime` and the chunk's start (vkernels.N_STALE)."""
        ctypes.memset(self.ring, 0, ctypes.sizeof(self.ring))
        self.ring_state[0] = 0
        if prime is not None and start is not None and prime < start:
            self.count(prime, start, ring_only=True)
        return self.count(start, end)


class Plan:
    """One run of the sites statistics: chunks (Chunk objects with start/end virtual
    offsets), the ring primes by chunk start, and what a chunk the kernel refuses is
    counted with instead (`fallback(chunk)` -> a VariantStats, in the process that met it);
    `required`: a refused chunk is an error instead (tests: the kernel really ran)."""

    def __init__(self, path: str, display: str, tabs: Tables, layout: Layout,
                 chunks: Sequence[Any], primes: dict[int, int],
                 fallback: Callable[[Any], Any], required: bool = False):
        self.path = path
        self.display = display
        self.tabs = tabs
        self.layout = layout
        self.chunks = chunks
        self.primes = primes
        self.fallback = fallback
        self.required = required


class Result:
    """The counters of each process (Layout blocks of one mapping), the highest QUAL bin
    they reached, and the VariantStats of chunks htslib counted."""

    def __init__(self, mem: Any, n_blocks: int, layout: Layout):
        self.mem = mem
        self.n_blocks = n_blocks
        self.layout = layout
        self.qual_hi = 0
        self.partials: list[Any] = []

    def block(self, k: int, name: str, n: int | None = None) -> memoryview:
        """Counter `name` (its first n entries) of process k's block, as int64s."""
        at = k * self.layout.nbytes + self.layout.offsets[name]
        size = self.layout.sizes[name] if n is None else n
        return memoryview(self.mem)[at:at + 8 * size].cast("q")

    def total(self, name: str, n: int | None = None) -> list[int]:
        """Counter `name` summed over the blocks, as a list (no numpy)."""
        from operator import add

        out = self.block(0, name, n).tolist()
        for k in range(1, self.n_blocks):
            out = list(map(add, out, self.block(k, name, n).tolist()))
        return out


def _work(plan: Plan, mem: Any, block: int, claim: Callable[[], int | None]) -> tuple:
    """Count the chunks `claim` hands out into counter block `block`: (qual_hi, partials)."""
    layout = plan.layout
    reader = SitesReader(plan.path, plan.display, plan.tabs)
    accs = layout.views(mem, block * layout.nbytes)
    reader.use(accs)
    qual_hi = 0
    partials = []
    while True:
        k = claim()
        if k is None:
            break
        chunk = plan.chunks[k]
        prime = plan.primes.get(chunk.start) if chunk.start is not None else None
        try:
            qual_hi = max(qual_hi, reader.count_chunk(chunk.start, chunk.end, prime))
        except Unsupported as exc:
            if plan.required:
                raise DataError(f"vsites: line at inflated offset {exc} not taken",
                                path=plan.display) from None
            # the chunk's lines before the refused one are in the counters: count them
            # again apart and take them off, then the whole chunk goes to htslib
            undo = bytearray(layout.nbytes)
            reader.use(layout.views(undo, 0))
            try:
                reader.count_chunk(chunk.start, chunk.end, prime)
            except Unsupported:
                pass
            reader.use(accs)
            _subtract(accs, layout.views(undo, 0))
            partials.append(plan.fallback(chunk))
    return qual_hi, partials


def _subtract(accs: dict[str, Any], undo: dict[str, Any]) -> None:
    import numpy as np

    for name, arr in accs.items():
        np.frombuffer(arr, np.int64)[:] -= np.frombuffer(undo[name], np.int64)


def run(plan: Plan, processes: int) -> Result | Pending:
    """Count the plan's chunks: in this process (processes <= 1: a Result), or in this one
    and processes - 1 forked ones (a Pending: the caller does its own work, then `wait()`,
    where it counts its share)."""
    n = len(plan.chunks)
    processes = min(processes, n)
    if processes <= 1:
        mem = mmap.mmap(-1, plan.layout.nbytes)
        it = iter(range(n))
        result = Result(mem, 1, plan.layout)
        result.qual_hi, result.partials = _work(plan, mem, 0, lambda: next(it, None))
        return result
    return Pending(plan, processes)


# claims in the pipe at the most (forkrun.MAX_CLAIMS; here so that a test can lower it)
MAX_CLAIMS = forkrun.MAX_CLAIMS
_REPORT = struct.Struct("<qq")  # qual_hi, then 1 when pickled partials follow


def _encode(report: tuple[int, list[Any]]) -> bytes:
    """A child's (qual_hi, partials): pickle (a few ms to import) only for chunks htslib
    counted."""
    qual_hi, partials = report
    data = _REPORT.pack(qual_hi, 1 if partials else 0)
    return data + forkrun._dumps(partials) if partials else data


def _decode(data: bytes) -> tuple[int, list[Any]]:
    qual_hi, kind = _REPORT.unpack_from(data)
    return qual_hi, forkrun._loads(data[_REPORT.size:]) if kind else []


class Pending:
    """A plan's chunks counted by this process and `processes - 1` forked ones
    (`forkrun.Forked`), each into its own block of a shared mapping; a child sends back
    only (qual_hi, partials). The parent forks, does its own work (imports) and then
    counts with the children in `wait` (one fork fewer, and no core left to a parent that
    only waits)."""

    def __init__(self, plan: Plan, processes: int):
        self.plan = plan
        self.processes = processes
        self.mem = mmap.mmap(-1, processes * plan.layout.nbytes)  # shared with the children
        self.forked = forkrun.Forked(
            len(plan.chunks), processes,
            lambda claim, block: _work(plan, self.mem, block, claim),
            max_claims=MAX_CLAIMS, encode=_encode, decode=_decode, display=plan.display)

    def wait(self) -> Result:
        """This process's share of the counting, then the children's counters once all
        have finished; the first error raised."""
        result = Result(self.mem, self.processes, self.plan.layout)
        for qual_hi, partials in self.forked.wait():
            result.qual_hi = max(result.qual_hi, qual_hi)
            result.partials.extend(partials)
        return result

    def kill(self) -> None:
        """Stop the children still running (an error or Ctrl-C in the parent)."""
        self.forked.kill()
