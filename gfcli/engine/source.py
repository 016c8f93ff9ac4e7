"""Inputs: files, '-' (stdin) and htslib URLs, their sniffed format and their index."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import threading
from dataclasses import dataclass, field

from gfcli.engine import sniff
from gfcli.engine.errors import DataError, InputNotFound, UsageError

URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "s3+http://", "s3+https://", "gs://",
               "gs+http://", "gs+https://")

_INDEX_SUFFIXES = {
    sniff.VCF: (".tbi", ".csi"),
    sniff.BCF: (".csi",),
    sniff.BAM: (".bai", ".csi"),
    sniff.CRAM: (".crai",),
    sniff.SAM: (".csi", ".bai"),
}


@dataclass
class Input:
    """An input as the user named it, with what its bytes say it is."""

    name: str  # as given: a path, '-' or a URL
    detected: sniff.Detected
    index: str | None = None
    is_stdin: bool = False
    is_url: bool = False
    # stdin only: bytes read while sniffing, which the reader must see first
    _prefix: bytes = field(default=b"", repr=False)
    _stdin_claimed: bool = field(default=False, repr=False)

    @property
    def format(self) -> str:
        return self.detected.format

    @property
    def compression(self) -> str:
        return self.detected.compression

    @property
    def is_variants(self) -> bool:
        return self.format in sniff.VARIANT_FORMATS

    @property
    def is_alignments(self) -> bool:
        return self.format in sniff.ALIGNMENT_FORMATS

    @property
    def display(self) -> str:
        return "stdin" if self.is_stdin else self.name

    @property
    def splittable(self) -> bool:
        """Can workers open this input independently (a real file, not a stream)?"""
        return not self.is_stdin and not self.is_url

    def htslib_path(self) -> str:
        """A path htslib can open; for stdin, a pipe that replays the sniffed bytes."""
        if not self.is_stdin:
            return self.name
        if self._stdin_claimed:
            raise UsageError("stdin can be read only once")
        self._stdin_claimed = True
        fd = sys.stdin.fileno()
        if _is_seekable(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            return "-"
        read_end, write_end = os.pipe()
        prefix = self._prefix
        self._prefix = b""

        def feed() -> None:
            try:
                with os.fdopen(write_end, "wb", buffering=0) as sink, os.fdopen(
                    os.dup(fd), "rb", buffering=0
                ) as source:
                    sink.write(prefix)
                    shutil.copyfileobj(source, sink, 1 << 20)
            except (BrokenPipeError, OSError):
                pass  # the reader stopped early (head, an error); nothing to report here

        threading.Thread(target=feed, name="gfcli-stdin-feeder", daemon=True).start()
        return f"/dev/fd/{read_end}"


def _is_seekable(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)


def _read_prefix_fd(fd: int, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        data = os.read(fd, remaining)
        if not data:
            break
        chunks.append(data)
        remaining -= len(data)
    return b"".join(chunks)


def find_index(path: str, fmt: str) -> str | None:
    """The index htslib would use for `path`: PATH.tbi/.csi/.bai/.crai, or BASE.bai."""
    if "##idx##" in path:
        return path.split("##idx##", 1)[1]
    for suffix in _INDEX_SUFFIXES.get(fmt, ()):
        if os.path.exists(path + suffix):
            return path + suffix
    if fmt == sniff.BAM:
        base, ext = os.path.splitext(path)
        if ext.lower() == ".bam" and os.path.exists(base + ".bai"):
            return base + ".bai"
    if fmt == sniff.CRAM:
        base, ext = os.path.splitext(path)
        if ext.lower() == ".cram" and os.path.exists(base + ".crai"):
            return base + ".crai"
    return None


def open_input(name: str | None) -> Input:
    """Sniff an input. A missing file is a usage error (exit 2), an unknown format exit 1."""
    if name is None or name == "":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no input file given (use '-' to read stdin)")
        name = "-"
    if name == "-":
        fd = sys.stdin.fileno()
        prefix = _read_prefix_fd(fd, sniff.SNIFF_BYTES)
        detected = sniff.detect_bytes(prefix)
        return Input(name, detected, is_stdin=True, _prefix=prefix)
    if name.startswith(URL_SCHEMES):
        return Input(name, _detect_url(name), is_url=True, index=None)
    data_path = name.split("##idx##", 1)[0]
    if not os.path.exists(data_path):
        raise InputNotFound(f"{data_path}: no such file")
    if os.path.isdir(data_path):
        raise UsageError(f"{data_path}: is a directory")
    try:
        with open(data_path, "rb") as handle:
            head = handle.read(sniff.SNIFF_BYTES)
    except OSError as exc:
        raise InputNotFound(f"{data_path}: {exc.strerror}") from None
    detected = sniff.detect_bytes(head)
    return Input(data_path, detected, index=find_index(name, detected.format))


def _detect_url(url: str) -> sniff.Detected:
    """Read a URL's first bytes through htslib's hFILE layer, which knows every scheme."""
    from pysam.libchtslib import HFile

    try:
        handle = HFile(url, "r")
        try:
            head = handle.read(sniff.SNIFF_BYTES)
        finally:
            handle.close()
    except OSError as exc:
        raise InputNotFound(f"{url}: {exc.strerror or exc}") from None
    return sniff.detect_bytes(bytes(head))


def require_format(inp: Input, allowed: frozenset[str], what: str) -> None:
    """A clear error naming what was detected when the input is of the wrong kind."""
    if inp.format in allowed:
        return
    if inp.format == sniff.EMPTY:
        raise DataError("the file is empty", path=inp.display)
    if inp.format == sniff.UNKNOWN:
        raise DataError(
            f"unrecognised format ({inp.compression} data that is none of VCF, BCF, SAM, "
            f"BAM, CRAM, FASTQ, FASTA, BED, GFF); {what} expected",
            path=inp.display,
        )
    raise DataError(
        f"detected {inp.detected.describe}, but {what} is expected here", path=inp.display
    )
