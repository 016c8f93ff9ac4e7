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
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

_ENGINES: list[Any] = []  # keep MCJIT engines (and their code) alive

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
        manifest = {}
        for name, compiled in built.items():
            module = llvm.parse_assembly(compiled._library.get_llvm_str())
            module.verify()
            obj_path = f"{path}.{name}.o"
            _atomic_write(obj_path, machine.emit_object(module))
            manifest[name] = {"object": os.path.basename(obj_path),
                              "symbol": compiled.native_name}
        _atomic_write(path, json.dumps(manifest).encode())

    def _load_objects(self, path: str) -> dict[str, Callable[..., int]]:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        with open(path, "rb") as handle:
            manifest = json.loads(handle.read())
        loaded: dict[str, Callable[..., int]] = {}
        directory = os.path.dirname(path)
        for name, entry in manifest.items():
            machine = llvm.Target.from_default_triple().create_target_machine(
                codemodel="jitdefault")
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
            with open(os.path.join(directory, entry["object"]), "rb") as handle:
                engine.add_object_file(llvm.ObjectFileRef.from_data(handle.read()))
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
