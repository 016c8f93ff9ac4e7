"""Chunks counted by this process and forked ones that claim them from a pipe.

A process pool (`execute.ProcessRunner`) costs a statistics run its start-up (~30 ms),
a pickled result per chunk merged in a parent that otherwise idles, and numpy imported
before any worker starts. Here the caller forks as soon as it knows how many chunks there
are: `Forked(n, processes, work)` forks `processes - 1` children at once; every process,
the parent included (in `wait`, after its own start-up work), runs `work(claim, slot)`,
which calls `claim()` for the next chunk number until it gives None and returns one
picklable result for all the chunks it took. A child sends that result back once, on its
own pipe, and leaves with `os._exit`; `wait` returns the results by slot (the parent's
first).

Claims are chunk numbers written to a pipe before the fork: reads of 4 bytes from a pipe
are atomic, so each chunk goes to one process, and a process that finishes early takes
more. With more chunks than one pipe write holds, a claim is a run of consecutive chunks.

Errors: a child sends back the exception it met (its message whole: a `GfcliError` keeps
its file name) and empties the claims pipe so that the others stop soon; `wait` raises the
first one. An error or Ctrl-C in the parent kills the children (`kill`); children ignore
SIGINT (Ctrl-C is the parent's). Nothing here imports numpy.
"""

from __future__ import annotations

import os
import signal
import struct
from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

R = TypeVar("R")
Claim = Callable[[], "int | None"]

_CLAIM = struct.Struct("<i")
# claims written to the pipe before any child reads it: within the 4 KiB every Linux pipe
# holds (with more chunks, a claim is a run of consecutive chunks)
MAX_CLAIMS = 4096 // _CLAIM.size
_KIND = struct.Struct("<q")  # what a child's report holds: its result, or its error
_RESULT, _ERROR = 0, 1


def _dumps(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


def _error_bytes(exc: BaseException) -> bytes:
    from gfcli.engine.errors import DataError

    try:
        return _dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its message
        return _dumps(DataError(str(exc)))


def _read_all(fd: int) -> bytes:
    parts = []
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Forked(Generic[R]):
    """`n_items` chunks counted by `work` in this process and `processes - 1` forked ones
    (fewer when there are fewer chunks). The children start at once; `wait` runs the
    parent's share and gathers theirs. `encode`/`decode` replace pickle for the results
    (a child whose result is a few numbers need not import it); `display` names the input
    when a child dies without a word."""

    def __init__(self, n_items: int, processes: int,
                 work: Callable[[Claim, int], R], *, max_claims: int = MAX_CLAIMS,
                 encode: Callable[[R], bytes] = _dumps,
                 decode: Callable[[bytes], R] = _loads, display: str | None = None):
        self.n_items = n_items
        self.processes = max(1, min(processes, n_items))
        self.work = work
        self.encode = encode
        self.decode = decode
        self.display = display
        self.per = max(1, -(-n_items // max(1, max_claims)))
        claim_r, claim_w = os.pipe()
        claims = -(-n_items // self.per)
        try:
            _write_all(claim_w, b"".join(_CLAIM.pack(k) for k in range(claims)))
        finally:
            os.close(claim_w)  # readers then see the end of the pipe once it is empty
        self.claim_r: int | None = claim_r
        self.children: list[tuple[int, int]] = []  # (pid, result pipe)
        try:
            for slot in range(1, self.processes):
                back_r, back_w = os.pipe()
                try:
                    pid = os.fork()
                except BaseException:
                    os.close(back_r)
                    os.close(back_w)
                    raise
                if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
                    os.close(back_r)
                    self._child(slot, back_w)
                os.close(back_w)
                self.children.append((pid, back_r))
        except BaseException:
            self.kill()
            raise

    def _claims(self) -> Claim:
        """The next chunk number this process counts (None: all are taken)."""
        queue: list[int] = []
        per, n, claim_r = self.per, self.n_items, self.claim_r
        assert claim_r is not None

        def claim() -> int | None:
            if not queue:
                data = os.read(claim_r, _CLAIM.size)
                if len(data) != _CLAIM.size:
                    return None
                first = _CLAIM.unpack(data)[0] * per
                queue.extend(range(min(first + per, n) - 1, first - 1, -1))
            return queue.pop()

        return claim

    def _drain(self) -> None:
        """Take every claim left (after an error): the other processes stop soon."""
        try:
            while self.claim_r is not None and os.read(self.claim_r, 4096):
                pass
        except OSError:
            pass

    def _child(self, slot: int, back_w: int) -> NoReturn:  # pragma: no cover - a child
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for _, other in self.children:
                os.close(other)
            try:
                data = _KIND.pack(_RESULT) + self.encode(self.work(self._claims(), slot))
            except BaseException as exc:  # noqa: BLE001 - handed to the parent
                code = 1
                self._drain()
                data = _KIND.pack(_ERROR) + _error_bytes(exc)
            _write_all(back_w, data)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)

    def wait(self) -> list[R]:
        """This process's share of the work, then each child's result once it is done
        (by slot, this process's first); the first error raised, the children killed."""
        from gfcli.engine.errors import DataError

        results: list[R] = []
        error: BaseException | None = None
        try:
            results.append(self.work(self._claims(), 0))
            while self.children:
                pid, back = self.children[0]
                data = _read_all(back)
                os.close(back)
                self.children.pop(0)
                _, status = os.waitpid(pid, 0)
                try:
                    kind = _KIND.unpack_from(data)[0]
                    payload = data[_KIND.size:]
                    value = self.decode(payload) if kind == _RESULT else _loads(payload)
                except Exception:  # noqa: BLE001 - it died before it could say
                    kind, value = _ERROR, DataError(
                        f"a worker process ended without its result (status {status})",
                        path=self.display)
                if kind != _RESULT:
                    error = value
                    break
                results.append(value)
        finally:
            self.kill()
        if error is not None:
            raise error
        return results

    def kill(self) -> None:
        """Stop the children still running (an error or Ctrl-C in the parent)."""
        if self.claim_r is not None:
            os.close(self.claim_r)
            self.claim_r = None
        for pid, back in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
            try:
                os.close(back)
            except OSError:
                pass
        self.children = []
