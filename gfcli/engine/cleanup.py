"""Temporary files to remove when a run fails, is interrupted or its pipe closes."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_paths: set[str] = set()


def register(path: str) -> None:
    with _lock:
        _paths.add(path)


def unregister(path: str) -> None:
    with _lock:
        _paths.discard(path)


def remove_all() -> None:
    with _lock:
        paths = list(_paths)
        _paths.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
