"""Temporary files to remove when a run fails, is interrupted or its pipe closes."""

from __future__ import annotations

import os
import shutil
import threading

_lock = threading.Lock()
_paths: set[str] = set()
_dirs: set[str] = set()


def register(path: str) -> None:
    with _lock:
        _paths.add(path)


def unregister(path: str) -> None:
    with _lock:
        _paths.discard(path)


def register_dir(path: str) -> None:
    with _lock:
        _dirs.add(path)


def unregister_dir(path: str) -> None:
    with _lock:
        _dirs.discard(path)


def remove_all() -> None:
    with _lock:
        paths = list(_paths)
        dirs = list(_dirs)
        _paths.clear()
        _dirs.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)
