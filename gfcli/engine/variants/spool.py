"""Ordered output of VCF/BCF chunks without pickling the payloads through pipes.

The generic view orchestration returns every chunk's output from the worker as one `bytes`
object: joined in the worker, pickled, written to a pipe, read and unpickled by the parent,
then written out (four copies, half of them in the one parent process every worker waits
on; for a 200-sample cohort that is gigabytes). This writer (a `DirectWriter` of the view
plan) has each worker spool its chunk, payload by payload and compressed there when the
output is BGZF, into a file in shared memory (/dev/shm when it exists, else the temp
directory) and return only its name; the parent copies the files to the output in chunk
order with `sendfile` (no copy through user space) and removes them. With one thread the
payloads go straight to the output.

BGZF blocks are cut exactly as `compress_payload` of the whole chunk would cut them (full
65280-byte blocks, the rest in a last short block), so the bytes equal the generic path's,
whatever the thread count.
"""

from __future__ import annotations

import errno
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from gfcli.engine import cleanup
from gfcli.engine.chunks import STREAM, Chunk


def _spool_root() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _encoded(payloads: Iterator, bgzf: bool, level: int | None) -> Iterator:
    """The payloads as output bytes: BGZF blocks cut as for the whole joined chunk."""
    if not bgzf:
        for data in payloads:
            if len(data):
                yield data
        return
    from gfcli.engine.bgzf import MAX_PAYLOAD, compress_payload

    carry = b""
    for data in payloads:
        if not len(data):
            continue
        if carry:
            data = carry + bytes(data)
            carry = b""
        whole = len(data) - len(data) % MAX_PAYLOAD
        if whole:
            yield compress_payload(memoryview(data)[:whole], level)
        if whole < len(data):
            carry = bytes(memoryview(data)[whole:])
    if carry:
        yield compress_payload(carry, level)


@dataclass(frozen=True)
class _SpoolTask:
    """Worker side: one chunk's output into a spool file (its name), or its bytes when the
    spool is full."""

    formatter: object
    bgzf: bool
    level: int | None
    prefix: str

    def __call__(self, chunk: Chunk) -> str | bytes:
        path = f"{self.prefix}{chunk.ordinal}"
        parts = _encoded(self.formatter.iter_payloads(chunk), self.bgzf, self.level)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for data in parts:
                try:
                    _write_all(fd, data)
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    # Shared memory is full: hand this chunk back the ordinary way.
                    os.close(fd)
                    fd = -1
                    with open(path, "rb") as handle:
                        done = handle.read()
                    os.unlink(path)
                    return b"".join([done, bytes(data), *(bytes(d) for d in parts)])
        finally:
            if fd >= 0:
                os.close(fd)
        return path


def _copy_file(path: str, out_fd: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        offset = 0
        try:
            while offset < size:
                sent = os.sendfile(out_fd, fd, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS) or offset:
                raise
        while offset < size:  # no sendfile to this output
            data = os.pread(fd, min(size - offset, 8 << 20), offset)
            if not data:
                break
            _write_all(out_fd, data)
            offset += len(data)
    finally:
        os.close(fd)


@dataclass
class SpoolWriter:
    """The `DirectWriter` for VCF text, BGZF VCF and BCF outputs of variant plans."""

    formatter: object
    bgzf: bool
    level: int | None
    header: bool = True
    records: bool = True
    progress: bool | None = None
    label: str = "view"

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None:
        from gfcli.engine.bgzf import EOF_BLOCK, compress_payload

        fd = 1 if path == "-" else os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            if self.header:
                data = self.formatter.header_payload()
                if data:
                    _write_all(fd, compress_payload(data, self.level) if self.bgzf else data)
            if self.records:
                serial = runner_threads <= 1 or (len(chunks) == 1 and chunks[0].kind == STREAM)
                if serial:
                    self._serial(fd, chunks)
                else:
                    self._parallel(fd, chunks, runner_threads)
            if self.bgzf:
                _write_all(fd, EOF_BLOCK)
        finally:
            if fd != 1:
                os.close(fd)

    def _serial(self, fd: int, chunks: list[Chunk]) -> None:
        from gfcli.engine.progress import progress_for

        total = sum(c.compressed_bytes for c in chunks)
        with progress_for(self.progress, total, self.label) as advance:
            for chunk in chunks:
                for data in _encoded(self.formatter.iter_payloads(chunk), self.bgzf,
                                     self.level):
                    _write_all(fd, data)
                advance(chunk.compressed_bytes)

    def _parallel(self, fd: int, chunks: list[Chunk], threads: int) -> None:
        from gfcli.engine.execute import make_runner
        from gfcli.engine.progress import progress_for

        prefix = os.path.join(_spool_root(), f".gfcli-{os.getpid()}-{uuid.uuid4().hex[:12]}-")
        names = [f"{prefix}{c.ordinal}" for c in chunks]
        for name in names:
            cleanup.register(name)
        task = _SpoolTask(self.formatter, self.bgzf, self.level, prefix)
        total = sum(c.compressed_bytes for c in chunks)
        try:
            with progress_for(self.progress, total, self.label) as advance, \
                    make_runner(threads) as runner:
                for chunk, result in zip(chunks, runner.map(task, chunks), strict=True):
                    if isinstance(result, str):
                        try:
                            _copy_file(result, fd)
                        finally:
                            _unlink(result)
                    else:
                        _write_all(fd, result)
                    advance(chunk.compressed_bytes)
        finally:
            for name in names:
                _unlink(name)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
    cleanup.unregister(path)
