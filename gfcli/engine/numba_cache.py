"""Where numba keeps compiled kernels, decided before numba is imported.

numba caches next to the source (`__pycache__`) when that is writable, else in a
user-wide directory, and fails when neither is (read-only site-packages in a container
whose HOME is not writable). gfcli points NUMBA_CACHE_DIR at $XDG_CACHE_HOME/gfcli/numba
(~/.cache/gfcli/numba): caches inside site-packages outlive `pip uninstall` and turn the
leftover `gfcli/` folder into a namespace package that shadows the next install. When that
directory cannot be created, the package's own `__pycache__` (if writable), else a
per-user temp directory. A user's own NUMBA_CACHE_DIR always wins.

Every module that defines kernels imports numba through `load_numba()`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from types import ModuleType

_configured = False


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir() -> str | None:
    """The directory to give NUMBA_CACHE_DIR, or None to keep numba's in-tree default."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = os.path.join(base, "gfcli", "numba")
    if _writable_dir(user):
        return user
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pycache = os.path.join(package_dir, "engine", "bam", "__pycache__")
    if os.access(package_dir, os.W_OK) and (
        not os.path.exists(pycache) or os.access(pycache, os.W_OK)
    ):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = os.path.join(tempfile.gettempdir(), f"gfcli-numba-{uid}")
    if _writable_dir(fallback):
        return fallback
    return None


def configure() -> None:
    """Set the cache location once per process; also effective if numba is already loaded."""
    global _configured
    if _configured:
        return
    _configured = True
    where = cache_dir()
    if where is None:
        return
    os.environ["NUMBA_CACHE_DIR"] = where
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = where  # type: ignore[attr-defined]


def load_numba() -> ModuleType:
    configure()
    import numba

    return numba
