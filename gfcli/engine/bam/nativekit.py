"""Precompiled kernel sets: numba `cfunc`s turned into object files, loaded with llvmlite.

Importing numba (0.27 s) and its first dispatch of a cached kernel (0.37 s, target
initialisation) cost more than inflating a 200 MB BAM on two cores. So every set of hot
kernels (flagstat, depth, raw BAM columns, SAM text, FASTQ, raw VCF text) is a
`KernelSet`: it names its kernels, their ctypes prototypes and a builder that returns the
numba cfuncs. On first use the cfuncs are compiled, their optimised LLVM IR emitted as
object files into the numba cache directory, keyed by the kernel sources, numba and
llvmlite versions and the host CPU; later processes load those objects with llvmlite's
MCJIT (no numba import, ~10 ms) and call them through ctypes. Kernels must not allocate
(no numba runtime) and take addresses and int64s only.

If anything fails, `load` returns None and the caller uses the numba kernels instead.

External symbols. The objects call functions they do not define: libc/libm/libgcc
routines that LLVM introduces itself (a zeroing or copying loop becomes `memset`/`memcpy`,
`x ** n` becomes `__powidf2`, `%` on floats `fmod`), the Python C API, and numba's runtime
(`numba_gil_ensure`, `NRT_*`, reached only when a kernel raises or allocates). In the
compiling process numba has registered all of them with LLVM; a later process that did
not import numba had none of them, and RuntimeDyld, when any one symbol of an object is
unresolved, leaves *every* external relocation of that object at address 0 -- so the first
`memset` call jumped to 0 (the "zeroing loop segfaults when loaded from cache" bug;
registering `memset` alone did not help because `numba_gil_ensure` still failed the
lookup). So before loading an object its undefined symbols are read from its ELF symbol
table and each is registered: system functions by `dlsym` (process, libm, libgcc_s),
`PyExc_*` as the exception objects (as numba binds them), numba's runtime functions, when
numba is not loaded, as traps that stop the process with a message instead of jumping to
0. A symbol none of these resolves makes the set unavailable (numba fallback).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Callable
from typing import Any

_ENGINES: list[Any] = []  # keep MCJIT engines (and their code) alive
_TRAPS: dict[str, Any] = {}  # ctypes callbacks bound to numba runtime symbols, kept alive
_LIBRARIES: list[Any] = []  # ctypes handles searched for system symbols, opened once
_UNAVAILABLE = "__unavailable__"  # manifest key: the set cannot be loaded without numba

P = ctypes.c_void_p
I64 = ctypes.c_int64


def _cache_root() -> str:
    from gfcli.engine.numba_cache import cache_dir

    where = cache_dir()
    if where is None:
        where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    return where


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".gfcli-native-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def undefined_symbols(data: bytes) -> list[str]:
    """Names of the undefined symbols of a little-endian ELF64 relocatable object."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise RuntimeError("not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    names: list[str] = []
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 2:  # SHT_SYMTAB
            continue
        strtab_offset = sections[link][4]
        for at in range(offset + entsize, offset + size, entsize):  # entry 0 is null
            name_at, _st_info, _other, shndx = struct.unpack_from("<IBBH", data, at)
            if shndx != 0 or name_at == 0:  # defined here, or unnamed
                continue
            end = data.index(b"\0", strtab_offset + name_at)
            names.append(data[strtab_offset + name_at:end].decode())
    return names


def _system_libraries() -> list[Any]:
    if not _LIBRARIES:
        _LIBRARIES.append(ctypes.CDLL(None))  # the process: libc, the Python C API
        for name in ("libm.so.6", "libgcc_s.so.1"):  # libm; compiler-rt style helpers
            try:
                _LIBRARIES.append(ctypes.CDLL(name))
            except OSError:
                pass
    return _LIBRARIES


def _trap(symbol: str) -> int:
    """An address that, called, ends the process with a message (never returns)."""
    if symbol not in _TRAPS:
        def hit() -> None:
            os.write(2, (f"gfcli: a precompiled kernel called numba's runtime ({symbol}): "
                         "it raised or allocated; rerun with GFCLI_NO_NATIVE=1\n").encode())
            os._exit(70)

        _TRAPS[symbol] = ctypes.CFUNCTYPE(None)(hit)
    return int(ctypes.cast(_TRAPS[symbol], ctypes.c_void_p).value or 0)


def _resolve(symbol: str) -> int:
    """The address to bind an undefined symbol to; RuntimeError if there is none."""
    import builtins

    import llvmlite.binding as llvm

    if symbol.startswith("PyExc_"):
        # numba declares these as the exception objects themselves, not the C pointers
        exc = getattr(builtins, symbol[len("PyExc_"):], None)
        if isinstance(exc, type) and issubclass(exc, BaseException):
            return id(exc)
        raise RuntimeError(f"unknown exception symbol {symbol}")
    if symbol.startswith(("numba_", "NRT_")):
        known = llvm.address_of_symbol(symbol)  # numba loaded in this process
        return int(known) if known else _trap(symbol)
    for library in _system_libraries():
        try:
            return int(ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value or 0)
        except AttributeError:
            continue
    raise RuntimeError(f"unresolvable symbol {symbol} in a precompiled kernel")


def _register_symbols(data: bytes) -> None:
    import llvmlite.binding as llvm

    for symbol in undefined_symbols(data):
        if llvm.address_of_symbol(symbol):
            continue  # known already (numba's own registrations stay as they are)
        address = _resolve(symbol)
        if not address:
            raise RuntimeError(f"symbol {symbol} resolved to 0")
        llvm.add_symbol(symbol, address)


class KernelSet:
    def __init__(self, name: str, sources: list[str],
                 signatures: dict[str, tuple[Any, ...]],
                 build: Callable[[], dict[str, Any]]):
        self.name = name
        self.sources = sources  # module files whose text keys the cache
        self.signatures = signatures
        self.build = build
        self._loaded: dict[str, Callable[..., int]] | None = None
        self._failed = False

    def _key(self) -> str:
        import llvmlite
        import llvmlite.binding as llvm

        parts = [llvmlite.__version__, llvm.get_default_triple(), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten(), self.name]
        try:
            from importlib.metadata import version

            parts.append(version("numba"))
        except Exception:  # pragma: no cover - metadata missing: sources still key it
            pass
        for path in self.sources:
            with open(path, "rb") as handle:
                parts.append(hashlib.sha256(handle.read()).hexdigest())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]

    def _compile(self, path: str) -> None:
        import llvmlite.binding as llvm

        built = self.build()
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=3, codemodel="jitdefault",
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        manifest: dict[str, Any] = {}
        for name, compiled in built.items():
            module = llvm.parse_assembly(compiled._library.get_llvm_str())
            module.verify()
            obj_path = f"{path}.{name}.o"
            data = machine.emit_object(module)
            try:
                # Checked here, without numba's registrations, so that a set a later
                # process could not link is numba-only from the start (and stays so:
                # the manifest remembers it instead of recompiling on every run).
                for symbol in undefined_symbols(data):
                    _resolve(symbol)
            except RuntimeError as e:
                _atomic_write(path, json.dumps({_UNAVAILABLE: f"{name}: {e}"}).encode())
                raise
            _atomic_write(obj_path, data)
            manifest[name] = {"object": os.path.basename(obj_path),
                              "symbol": compiled.native_name}
        _atomic_write(path, json.dumps(manifest).encode())

    def _load_objects(self, path: str) -> dict[str, Callable[..., int]]:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        with open(path, "rb") as handle:
            manifest = json.loads(handle.read())
        if _UNAVAILABLE in manifest:
            raise RuntimeError(manifest[_UNAVAILABLE])
        loaded: dict[str, Callable[..., int]] = {}
        directory = os.path.dirname(path)
        for name, entry in manifest.items():
            machine = llvm.Target.from_default_triple().create_target_machine(
                codemodel="jitdefault")
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
            with open(os.path.join(directory, entry["object"]), "rb") as handle:
                data = handle.read()
            _register_symbols(data)  # before adding: see the module docstring
            engine.add_object_file(llvm.ObjectFileRef.from_data(data))
            engine.finalize_object()
            address = engine.get_function_address(entry["symbol"])
            if not address:
                raise RuntimeError(f"symbol of {name} not found")
            _ENGINES.append(engine)
            loaded[name] = ctypes.CFUNCTYPE(*self.signatures[name])(address)
        if set(loaded) != set(self.signatures):
            raise RuntimeError("incomplete native kernel cache")
        return loaded

    def load(self) -> dict[str, Callable[..., int]] | None:
        """The kernels by name, compiling them on first use; None if unavailable."""
        if self._loaded is not None or self._failed:
            return self._loaded
        if os.environ.get("GFCLI_NO_NATIVE"):
            self._failed = True
            return None
        try:
            path = os.path.join(_cache_root(), f"gfcli-{self.name}-{self._key()}.json")
            if not os.path.exists(path):
                self._compile(path)
            self._loaded = self._load_objects(path)
        except Exception:
            self._failed = True
            return None
        return self._loaded


def address(array: Any) -> int:
    """The data address of a numpy array (read-only ones too)."""
    return int(array.ctypes.data)
