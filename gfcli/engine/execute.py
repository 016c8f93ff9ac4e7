"""Chunked execution: a serial runner and a process-pool runner behind one interface.

A command describes its work as a picklable task `task(chunk) -> result` and a list
of chunks from the planner (`gfcli.engine.chunks`). A runner maps the task over the
chunks and yields results in chunk order, so records can be written in input order
while later chunks are still being computed. Statistics reduce the results with
`+=` (see `merge_results`).

The serial runner runs in-process and is what `-@ 1` uses; the process runner keeps
at most `2 * workers` chunks in flight so memory stays bounded by chunk size, not
input size. A worker's exception (a `GfcliError` with its message) stops the run and
is re-raised in the parent.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # the pool machinery costs ~10 ms to import; serial runs never need it
    from concurrent.futures import Future, ProcessPoolExecutor

C = TypeVar("C")
R = TypeVar("R")


class Runner(Protocol):
    workers: int

    def map(self, task: Callable[[C], R], chunks: Iterable[C]) -> Iterator[R]: ...

    def close(self) -> None: ...


class SerialRunner:
    """Runs every chunk in this process, in order."""

    workers = 1

    def map(self, task: Callable[[C], R], chunks: Iterable[C]) -> Iterator[R]:
        for chunk in chunks:
            yield task(chunk)

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _worker_init() -> None:
    # Ctrl-C is the parent's to handle: it cancels the pool and removes temp files.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mp_context() -> Any:
    import multiprocessing

    # fork starts workers in milliseconds and shares the parent's imports; the
    # parent starts the pool before any helper thread exists.
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class ProcessRunner:
    """Runs chunks in a pool of worker processes; yields results in chunk order."""

    def __init__(self, workers: int, in_flight_per_worker: int = 2):
        self.workers = max(1, workers)
        self._in_flight = max(1, in_flight_per_worker) * self.workers
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=_mp_context(), initializer=_worker_init
            )
        return self._pool

    def map(self, task: Callable[[C], R], chunks: Iterable[C]) -> Iterator[R]:
        pool = self._ensure_pool()
        pending: deque[Future[R]] = deque()
        it = iter(chunks)
        try:
            for chunk in it:
                pending.append(pool.submit(task, chunk))
                if len(pending) >= self._in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Stop at once (Ctrl-C, broken pipe): kill the workers rather than wait."""
        pool = self._pool
        self._pool = None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        for proc in processes:
            try:
                proc.kill()
            except (OSError, AttributeError):
                pass
        pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ProcessRunner:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.terminate()


def make_runner(threads: int) -> SerialRunner | ProcessRunner:
    """`-@ N`: N <= 1 runs serially, otherwise N worker processes."""
    if threads <= 1:
        return SerialRunner()
    return ProcessRunner(min(threads, max(1, os.cpu_count() or 1) * 4))


def merge_results(results: Iterable[R], start: R | None = None) -> R | None:
    """Reduce statistics objects with `+=` (cutadapt style)."""

    def add(acc: R | None, item: R) -> R:
        if acc is None:
            return item
        acc += item  # type: ignore[operator]
        return acc

    return reduce(add, results, start)


def run_ordered(
    runner: SerialRunner | ProcessRunner,
    task: Callable[[C], R],
    chunks: Sequence[C],
    consume: Callable[[R], None],
) -> None:
    """Map `task` over `chunks` and hand each result to `consume` in chunk order."""
    for result in runner.map(task, chunks):
        consume(result)
