"""Kernel sets built once per machine into shared libraries and loaded with ctypes.

Importing numba and initialising its JIT cost ~1 s per process; importing llvmlite and
loading objects with its MCJIT (`nativekit.KernelSet`) still 20-100 ms. So a set of numba
cfuncs is compiled once, its LLVM IR emitted as position-independent baseline code and
linked by the system C compiler into one shared library per kernel (no symbol clashes
between numba modules) in the numba cache directory; later runs load them with ctypes
(~1 ms), importing neither numba, llvmlite nor hashlib (OpenSSL: 3-25 ms).

The code is generated for the CPU the set is built on (its model and feature flags are
part of the cache key, so a cache shared by different machines holds one set per CPU):
the cohort statistics kernel ran ~20 % faster with AVX-512 than as baseline x86-64 (7.1 ->
5.8 ns per genotype, identical counts). GFCLI_BASELINE_KERNELS=1 builds baseline code.

`load_set` raises when the set cannot be had (no C compiler, a build error); the caller
then takes its own fallbacks (MCJIT, numba). A failed build is remembered next to the
cache entry so that later runs go to the fallbacks at once instead of failing again.
"""

from __future__ import annotations

import ctypes
import os
import sys
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy only where address_tables needs it: vsites loads without it
    import numpy as np

_LIBS: list[Any] = []  # loaded kernel libraries stay loaded (forked workers inherit them)


def numba_version() -> str:
    """numba's version from its dist-info folder name (importlib.metadata costs 20-130 ms
    of start-up, importing numba far more)."""
    for base in sys.path:
        try:
            names = os.listdir(base or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("numba-") and name.endswith(".dist-info"):
                return name[len("numba-"):-len(".dist-info")]
    return ""


_CPU: list[str] = []


def cpu_tag() -> str:
    """What identifies the code generated for this CPU: its model name and feature flags
    (Linux x86-64, from /proc/cpuinfo: no llvmlite import), or "" for baseline code
    (another system, an unreadable /proc, GFCLI_BASELINE_KERNELS=1)."""
    if _CPU:
        return _CPU[0]
    tag = ""
    if os.uname().machine == "x86_64" and os.environ.get("GFCLI_BASELINE_KERNELS") != "1":
        model = flags = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    key = key.strip()
                    if key == "model name" and not model:
                        model = value.strip()
                    elif key == "flags":
                        flags = value.strip()
                        break
        except OSError:
            pass
        if flags:
            tag = f"{model}|{zlib.crc32(flags.encode()):08x}{len(flags)}"
    _CPU.append(tag)
    return tag


def shared_key(sources: Sequence[str], tag: str) -> str:
    """Cache key of a set: its sources (and this module's), numba and Python versions, the
    architecture and CPU (`cpu_tag`) and `tag`. CRC32/Adler-32, not hashlib."""
    parts = [os.uname().machine, cpu_tag(), sys.version, numba_version(), tag]
    for path in [*sources, os.path.abspath(__file__)]:
        with open(path, "rb") as handle:
            data = handle.read()
        parts.append(f"{len(data)}:{zlib.crc32(data):08x}:{zlib.adler32(data):08x}")
    joined = "|".join(parts).encode()
    return (f"{zlib.crc32(joined):08x}{zlib.adler32(joined):08x}"
            f"{zlib.crc32(joined[::-1]):08x}")


def build_shared(path: str, built: dict[str, Any]) -> None:
    """Emit each compiled cfunc of `built` as PIC code for this CPU (baseline when
    `cpu_tag` is empty) and link it into its own shared library with the system C
    compiler; `path` + ".json" names the libraries and their symbols."""
    import json
    import shutil
    import subprocess
    import tempfile

    import llvmlite.binding as llvm

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler to link the kernels")
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    triple = llvm.get_default_triple()
    cpu, features = ("x86-64" if "x86_64" in triple else ""), ""
    if cpu_tag():
        cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="pic", codemodel="default")
    root = os.path.dirname(path)
    os.makedirs(root, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        for name, compiled in built.items():
            module = llvm.parse_assembly(compiled._library.get_llvm_str())
            module.verify()
            # the cfunc wrapper's error path names numba's runtime (NRT_*, numba_*), which
            # a plain shared library cannot resolve; the kernels never take it (they
            # neither raise nor allocate), so those names get stubs that abort
            stubs = sorted(fn.name for fn in module.functions if fn.is_declaration
                           and fn.name.startswith(("NRT_", "numba_")))
            obj = os.path.join(tmp, f"{name}.o")
            with open(obj, "wb") as handle:
                handle.write(machine.emit_object(module))
            stub = os.path.join(tmp, f"{name}-stubs.c")
            with open(stub, "w") as handle:
                handle.write("#include <stdlib.h>\n")
                handle.writelines(f"void {s}(void) {{ abort(); }}\n" for s in stubs)
            so = os.path.join(tmp, f"{name}.so")
            subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, obj, stub], check=True,
                           capture_output=True)
            lib = f"{os.path.basename(path)}.{name}.so"
            os.replace(so, os.path.join(root, lib))
            manifest[name] = {"library": lib, "symbol": compiled.native_name}
        final = os.path.join(tmp, "manifest.json")
        with open(final, "w") as handle:
            json.dump(manifest, handle)
        os.replace(final, path + ".json")  # last: its presence means the set is complete


def load_set(name: str, sources: Sequence[str], tag: str,
             signatures: dict[str, tuple[Any, ...]],
             build: Callable[[], dict[str, Any]]) -> dict[str, Callable[..., int]]:
    """The kernels `signatures` names as ctypes functions, from the shared libraries in the
    cache (built by `build()`'s cfuncs when missing). Raises when they cannot be had."""
    import json

    from gfcli.engine.numba_cache import cache_dir

    root = cache_dir() or os.path.join(os.path.dirname(os.path.abspath(sources[0])),
                                       "__pycache__")
    path = os.path.join(root, f"gfcli-{name}-{shared_key(sources, tag)}")
    if not os.path.exists(path + ".json"):
        if os.path.exists(path + ".failed"):
            raise RuntimeError(f"the {name} kernel libraries could not be built here")
        try:
            build_shared(path, build())
        except Exception:
            # remembered, so that later runs go to the fallbacks at once instead of
            # compiling the kernels again (seconds) to fail the same way
            os.makedirs(root, exist_ok=True)
            with open(path + ".failed", "w") as handle:
                handle.write("build failed\n")
            raise
    with open(path + ".json") as handle:
        manifest = json.load(handle)
    if set(manifest) != set(signatures):
        raise RuntimeError("incomplete kernel library manifest")
    out: dict[str, Callable[..., int]] = {}
    for kernel, entry in manifest.items():
        lib = ctypes.CDLL(os.path.join(root, entry["library"]))
        _LIBS.append(lib)
        address = ctypes.cast(lib[entry["symbol"]], ctypes.c_void_p).value
        out[kernel] = ctypes.CFUNCTYPE(*signatures[kernel])(address)
    return out


def load_native(name: str, sources: Sequence[str], tag: str,
                signatures: dict[str, tuple[Any, ...]],
                build: Callable[[], dict[str, Any]],
                mcjit: Callable[[], dict[str, Callable[..., int]] | None],
                ) -> dict[str, Callable[..., int]] | None:
    """A kernel set from its shared libraries (`load_set`), else from `mcjit()` (llvmlite,
    for machines without a C compiler), else None: the caller runs its numba kernels, as it
    does with GFCLI_NO_NATIVE=1."""
    if os.environ.get("GFCLI_NO_NATIVE"):
        return None
    try:
        return load_set(name, sources, tag, signatures, build)
    except Exception:
        pass
    try:
        return mcjit()
    except Exception:  # llvmlite missing or the objects unusable
        return None


def address_tables(spec: Sequence[tuple[str, Any, int]],
                   arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The address and length tables a generated cfunc wrapper (`vnative._source`) reads:
    per (name, dtype, rank) of `spec` the array's address, and its element count followed
    by its second dimension (1 for rank 1). Checked, since a wrong dtype or a strided
    array would be read as garbage."""
    import numpy as np

    ptrs = np.empty(len(spec), np.int64)
    lens = np.empty(2 * len(spec), np.int64)
    for i, ((name, dtype, rank), arr) in enumerate(zip(spec, arrays, strict=True)):
        if arr.dtype != dtype or not arr.flags.c_contiguous:
            raise TypeError(f"{name}: {arr.dtype}, contiguous={arr.flags.c_contiguous}")
        ptrs[i] = arr.ctypes.data
        lens[2 * i] = arr.size
        lens[2 * i + 1] = arr.shape[1] if rank == 2 else 1
    return ptrs, lens


_C_LIBS: dict[str, Any] = {}  # by cache path: loaded once per process (None: unavailable)


def load_c(source: str, name: str, tag: str) -> ctypes.CDLL | None:
    """The C file `source` compiled by the system C compiler into a shared library in the
    kernel cache (once per machine, keyed like the kernel sets) and loaded; None without a
    compiler or when the build failed (remembered next to the entry, so later runs do not
    try again). Callers keep a Python path for None."""
    path = c_library_path(source, name, tag)
    if path in _C_LIBS:
        return _C_LIBS[path]
    lib = None
    try:
        if not os.path.exists(path) and not os.path.exists(path + ".failed"):
            try:
                _build_c(source, path)
            except Exception:
                try:
                    with open(path + ".failed", "w") as handle:
                        handle.write("build failed\n")
                except OSError:
                    pass
        if os.path.exists(path):
            lib = ctypes.CDLL(path)
    except OSError:
        lib = None
    _C_LIBS[path] = lib
    return lib


def c_library_path(source: str, name: str, tag: str) -> str:
    """Where `load_c` keeps the library of `source`."""
    from gfcli.engine.numba_cache import cache_dir

    root = cache_dir() or os.path.join(os.path.dirname(source), "__pycache__")
    return os.path.join(root, f"gfcli-{name}-{shared_key([source], tag)}.so")


def _build_c(source: str, path: str) -> None:
    # imported here: only the first run on a machine builds (tempfile alone costs ~7 ms)
    import shutil
    import subprocess
    import tempfile

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler")
    root = os.path.dirname(path)
    os.makedirs(root, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        so = os.path.join(tmp, "lib.so")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", so, source], check=True,
                       capture_output=True)
        os.replace(so, path)  # atomic: a concurrent run sees the whole library or none
