"""KernelSet objects loaded from the cache in a process that never imported numba.

Each scenario runs twice in fresh interpreters sharing one temporary cache: the first run
compiles (numba imported), the second loads the cached objects with llvmlite only. Kernels
whose loops LLVM lowers to libc/libm calls (`memset`, `fmod`, `pow`) used to segfault on
the second run because no external symbol of the object was resolved there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gfcli.engine.bam import nativekit

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import ctypes
    import sys

    import numpy as np

    from gfcli.engine.bam.nativekit import I64, KernelSet, P, address


    def build():
        from numba import carray, cfunc, types

        @cfunc(types.int64(types.CPointer(types.int64), types.int64), nopython=True)
        def zero(p, n):
            buf = carray(p, (n,))
            for i in range(n):
                buf[i] = 0
            return n

        @cfunc(types.float64(types.CPointer(types.float64), types.int64), nopython=True)
        def mathy(p, n):
            buf = carray(p, (n,))
            total = 0.0
            for i in range(n):
                total += buf[i] ** n + buf[i] % 1.7 + buf[i] ** 0.3
            return total

        @cfunc(types.int64(types.int64, types.int64), nopython=True)
        def div(a, b):
            return a // b

        return {"zero": zero, "mathy": mathy, "div": div}


    KERNELS = KernelSet("selftest", [__file__],
                        {"zero": (I64, P, I64), "mathy": (ctypes.c_double, P, I64),
                         "div": (I64, I64, I64)}, build)
    kernels = KERNELS.load()
    assert kernels is not None, "kernel set not loaded"
    print("numba", "numba" in sys.modules)
    ints = np.arange(1, 1001, dtype=np.int64)
    print("zero", kernels["zero"](address(ints), ints.size), int(np.abs(ints).sum()))
    floats = np.arange(1, 8, dtype=np.float64)
    got = kernels["mathy"](address(floats), floats.size)
    want = float((floats ** floats.size + floats % 1.7 + floats ** 0.3).sum())
    print("mathy", abs(got - want) <= 1e-9 * want)
    print("div", kernels["div"](7, 2))
    if len(sys.argv) > 1:
        kernels["div"](7, 0)  # raises inside the kernel: numba's runtime is needed
        print("returned")
''')


def _run(script: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    env.pop("GFCLI_NO_NATIVE", None)
    return subprocess.run([sys.executable, str(script), *args], env=env, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def kernel_script(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("nativekit")
    script = where / "selftest_kernels.py"
    script.write_text(SCRIPT)
    return script, where / "cache"


def test_cold_then_warm_in_fresh_processes(kernel_script: tuple[Path, Path]) -> None:
    script, cache = kernel_script
    cold = _run(script, cache)
    assert cold.returncode == 0, cold.stderr
    assert "numba True" in cold.stdout  # compiled here
    objects = sorted(p.name for p in cache.glob("gfcli-selftest-*.o"))
    assert len(objects) == 3
    for _ in range(2):
        warm = _run(script, cache)
        assert warm.returncode == 0, warm.stderr  # was -11 (SIGSEGV) before the fix
        assert "numba False" in warm.stdout  # loaded from the object cache only
        assert "zero 1000 0" in warm.stdout
        assert "mathy True" in warm.stdout
        assert "div 3" in warm.stdout


def test_cached_objects_need_libc_symbols(kernel_script: tuple[Path, Path]) -> None:
    script, cache = kernel_script
    if not list(cache.glob("gfcli-selftest-*.o")):
        assert _run(script, cache).returncode == 0
    symbols: set[str] = set()
    for path in cache.glob("gfcli-selftest-*.o"):
        symbols.update(nativekit.undefined_symbols(path.read_bytes()))
    # the scenario really exercises the external calls that used to be left at address 0
    assert "memset" in symbols
    assert "numba_gil_ensure" in symbols
    assert {"fmod", "pow"} & symbols


def test_kernel_raising_in_warm_process_stops_cleanly(kernel_script: tuple[Path, Path]) -> None:
    script, cache = kernel_script
    if not list(cache.glob("gfcli-selftest-*.o")):
        assert _run(script, cache).returncode == 0
    warm = _run(script, cache, "raise")
    assert "numba False" in warm.stdout
    assert warm.returncode == 70, (warm.returncode, warm.stderr)
    assert "numba's runtime (numba_gil_ensure)" in warm.stderr
    assert "returned" not in warm.stdout


def test_unknown_symbol_is_refused() -> None:
    with pytest.raises(RuntimeError):
        nativekit._resolve("gfcli_no_such_symbol_anywhere")
    with pytest.raises(RuntimeError):
        nativekit._resolve("PyExc_NoSuchError")
    assert nativekit._resolve("PyExc_ValueError") == id(ValueError)
    assert nativekit._resolve("memset") != 0


def test_not_an_elf_object_is_refused() -> None:
    with pytest.raises(RuntimeError):
        nativekit.undefined_symbols(b"\xcf\xfa\xed\xfe" + bytes(60))


REFUSED = textwrap.dedent('''
    import sys

    from gfcli.engine.bam import nativekit
    from gfcli.engine.bam.nativekit import I64, KernelSet, P


    def build():
        from numba import carray, cfunc, types

        @cfunc(types.int64(types.CPointer(types.int64), types.int64), nopython=True)
        def zero(p, n):
            buf = carray(p, (n,))
            for i in range(n):
                buf[i] = 0
            return n

        return {"zero": zero}


    if sys.argv[1:] == ["refuse"]:  # as if memset could not be found without numba
        real = nativekit._resolve

        def _resolve(symbol):
            if symbol == "memset":
                raise RuntimeError("unresolvable symbol memset")
            return real(symbol)

        nativekit._resolve = _resolve
    kernels = KernelSet("refused", [__file__], {"zero": (I64, P, I64)}, build).load()
    print("loaded", kernels is not None, "numba", "numba" in sys.modules)
''')


def test_unlinkable_set_falls_back_to_numba_and_stays_so(tmp_path: Path) -> None:
    script = tmp_path / "refused_kernels.py"
    script.write_text(REFUSED)
    cache = tmp_path / "cache"
    first = _run(script, cache, "refuse")
    assert first.returncode == 0, first.stderr
    assert "loaded False numba True" in first.stdout
    assert not list(cache.glob("gfcli-refused-*.o"))  # no object written
    again = _run(script, cache)  # the manifest remembers: no recompiling, no numba import
    assert again.returncode == 0, again.stderr
    assert "loaded False numba False" in again.stdout


def test_cpu_tag_keys_the_shared_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code built for one CPU is cached under a key naming it; GFCLI_BASELINE_KERNELS=1
    selects baseline code under another key."""
    from gfcli.engine.bam import sharedlib

    sources = [str(ROOT / "gfcli" / "engine" / "bam" / "sharedlib.py")]
    monkeypatch.setattr(sharedlib, "_CPU", [])
    monkeypatch.delenv("GFCLI_BASELINE_KERNELS", raising=False)
    host_tag = sharedlib.cpu_tag()
    host = sharedlib.shared_key(sources, "t")
    monkeypatch.setattr(sharedlib, "_CPU", [])
    monkeypatch.setenv("GFCLI_BASELINE_KERNELS", "1")
    assert sharedlib.cpu_tag() == ""
    baseline = sharedlib.shared_key(sources, "t")
    assert (host != baseline) == bool(host_tag)
    if os.uname().machine == "x86_64" and os.path.exists("/proc/cpuinfo"):
        assert host_tag  # Linux x86-64 names its CPU
