"""Hot kernels as native code loaded without numba: start-up in ~30 ms instead of ~0.65 s.

Importing numba (0.27 s) and its first dispatch of a cached kernel (0.37 s, target
initialisation) cost more than inflating a 200 MB BAM on two cores. So the kernels a
whole-file command needs are also compiled once per machine as numba `cfunc`s, their
optimised LLVM IR turned into an object file with llvmlite and kept in the numba cache
directory (see `numba_cache`); later runs load that object with llvmlite's MCJIT (no numba,
no numpy) and call it through ctypes. The cache key covers the kernel sources, numba and
llvmlite versions and the host CPU, so a container moved to another CPU rebuilds.

If anything in this path fails, `load` returns None and callers use the numba kernels.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

_ENGINES: list[Any] = []  # keep execution engines (and so the code) alive
_LOADED: dict[str, Callable[..., int]] | None = None
_FAILED = False

_P = ctypes.c_void_p
_I = ctypes.c_int64
# name -> ctypes prototype (all arguments are addresses or int64)
SIGNATURES: dict[str, tuple[Any, ...]] = {
    # (buf, start, limit, end, counts*, result*) -> status
    "flagstat_records": (_I, _P, _I, _I, _I, _P, _P),
    # (buf, start, end, n_ref, chain, eof) -> position or -1
    "find_record_start": (_I, _P, _I, _I, _I, _I, _I),
}


def _versions() -> str:
    import llvmlite
    import llvmlite.binding as llvm

    parts = [llvmlite.__version__, llvm.get_default_triple(), llvm.get_host_cpu_name(),
             llvm.get_host_cpu_features().flatten()]
    try:
        from importlib.metadata import version

        parts.append(version("numba"))
    except Exception:  # pragma: no cover - metadata missing: rebuild when sources change
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("kernels.py", "native.py"):
        with open(os.path.join(here, name), "rb") as handle:
            parts.append(hashlib.sha256(handle.read()).hexdigest())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _cache_root() -> str:
    from gfcli.engine.numba_cache import cache_dir

    where = cache_dir()
    if where is None:
        where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    return where


def _build(path: str) -> None:
    """Compile the kernels' cfunc wrappers with numba and write one object file per kernel."""
    import llvmlite.binding as llvm
    from numba import carray, cfunc, types

    from gfcli.engine.bam import kernels

    u8p = types.CPointer(types.uint8)
    i64p = types.CPointer(types.int64)
    i64 = types.int64

    def flagstat(bufp, start, limit, end, countsp, resultp):
        buf = carray(bufp, (end,))
        counts = carray(countsp, (32,))
        result = carray(resultp, (2,))
        return kernels.flagstat_records(buf, start, limit, end, counts, result)

    def find_start(bufp, start, end, n_ref, chain, eof):
        buf = carray(bufp, (end,))
        return kernels.find_record_start(buf, start, end, n_ref, chain, eof != 0)

    built = {
        "flagstat_records": cfunc(i64(u8p, i64, i64, i64, i64p, i64p))(flagstat),
        "find_record_start": cfunc(i64(u8p, i64, i64, i64, i64, i64))(find_start),
    }
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3,
        codemodel="jitdefault",
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    manifest = {}
    for name, compiled in built.items():
        module = llvm.parse_assembly(compiled._library.get_llvm_str())
        module.verify()
        obj_path = f"{path}.{name}.o"
        _atomic_write(obj_path, machine.emit_object(module))
        manifest[name] = {"object": os.path.basename(obj_path), "symbol": compiled.native_name}
    _atomic_write(path, json.dumps(manifest).encode())


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


def _load_objects(path: str) -> dict[str, Callable[..., int]]:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    with open(path, "rb") as handle:
        manifest = json.loads(handle.read())
    loaded: dict[str, Callable[..., int]] = {}
    directory = os.path.dirname(path)
    for name, entry in manifest.items():
        machine = llvm.Target.from_default_triple().create_target_machine(codemodel="jitdefault")
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        with open(os.path.join(directory, entry["object"]), "rb") as handle:
            engine.add_object_file(llvm.ObjectFileRef.from_data(handle.read()))
        engine.finalize_object()
        address = engine.get_function_address(entry["symbol"])
        if not address:
            raise RuntimeError(f"symbol of {name} not found")
        _ENGINES.append(engine)
        loaded[name] = ctypes.CFUNCTYPE(*SIGNATURES[name])(address)
    if set(loaded) != set(SIGNATURES):
        raise RuntimeError("incomplete native kernel cache")
    return loaded


def load() -> dict[str, Callable[..., int]] | None:
    """The native kernels by name, building them on first use; None if unavailable."""
    global _LOADED, _FAILED
    if _LOADED is not None or _FAILED:
        return _LOADED
    if os.environ.get("GFCLI_NO_NATIVE"):
        _FAILED = True
        return None
    try:
        path = os.path.join(_cache_root(), f"gfcli-native-{_versions()}.json")
        if not os.path.exists(path):
            _build(path)
        _LOADED = _load_objects(path)
    except Exception:
        _FAILED = True
        return None
    return _LOADED
