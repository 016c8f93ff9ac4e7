"""Where output goes: the output type (-O or the -o suffix) and atomic file writes."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import dataclass

from gfcli.engine import cleanup
from gfcli.engine.errors import UsageError

# Output types. Variant: VCF text, bgzipped VCF, BCF, uncompressed BCF.
VCF_TEXT = "v"
VCF_BGZF = "z"
BCF_COMPRESSED = "b"
BCF_UNCOMPRESSED = "u"
# Alignment.
SAM_TEXT = "sam"
BAM_OUT = "bam"
CRAM_OUT = "cram"
# Tables.
TSV = "tsv"
JSON_LINES = "json"
PARQUET = "parquet"
ARROW = "arrow"

VARIANT_TYPES = frozenset({VCF_TEXT, VCF_BGZF, BCF_COMPRESSED, BCF_UNCOMPRESSED})
ALIGNMENT_TYPES = frozenset({SAM_TEXT, BAM_OUT, CRAM_OUT})
TABLE_TYPES = frozenset({TSV, JSON_LINES, PARQUET, ARROW})

_ALIASES = {
    "v": VCF_TEXT,
    "vcf": VCF_TEXT,
    "z": VCF_BGZF,
    "vcf.gz": VCF_BGZF,
    "b": BCF_COMPRESSED,
    "bcf": BCF_COMPRESSED,
    "u": BCF_UNCOMPRESSED,
    "sam": SAM_TEXT,
    "bam": BAM_OUT,
    "cram": CRAM_OUT,
    "tsv": TSV,
    "json": JSON_LINES,
    "jsonl": JSON_LINES,
    "parquet": PARQUET,
    "arrow": ARROW,
    "ipc": ARROW,
    "feather": ARROW,
}

_SUFFIXES = (
    (".vcf.gz", VCF_BGZF),
    (".vcf.bgz", VCF_BGZF),
    (".vcf", VCF_TEXT),
    (".bcf", BCF_COMPRESSED),
    (".sam", SAM_TEXT),
    (".bam", BAM_OUT),
    (".cram", CRAM_OUT),
    (".tsv", TSV),
    (".txt", TSV),
    (".jsonl", JSON_LINES),
    (".json", JSON_LINES),
    (".parquet", PARQUET),
    (".arrow", ARROW),
    (".feather", ARROW),
    (".ipc", ARROW),
)


@dataclass(frozen=True)
class OutputType:
    kind: str
    level: int | None = None  # compression level from e.g. -Oz1 / -Ob0


def parse_output_type(value: str | None, output: str, default: str) -> OutputType:
    """Resolve -O, else the -o suffix (like bcftools), else the command's default."""
    if value:
        text = value.strip().lower()
        level = None
        if len(text) == 2 and text[0] in "vzbu" and text[1].isdigit():
            text, level = text[0], int(text[1])
        if text not in _ALIASES:
            raise UsageError(
                f"unknown output type '{value}' (expected v, z, b, u, sam, bam, cram, "
                "tsv, json, parquet or arrow)"
            )
        return OutputType(_ALIASES[text], level)
    if output and output != "-":
        lower = output.lower()
        for suffix, kind in _SUFFIXES:
            if lower.endswith(suffix):
                return OutputType(kind)
    return OutputType(default)


def _is_special(path: str) -> bool:
    """True for an existing target that is not a regular file (device, FIFO, socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


class AtomicOutput:
    """A file written under a temporary name beside its target, renamed only on success.

    `path` is what writers open; for '-' it is '-' (stdout) and nothing is renamed.
    """

    def __init__(self, target: str):
        self.target = target
        self.is_stdout = target in ("-", "", "/dev/stdout")
        self.path = "-"
        # a device, FIFO or socket (`-o /dev/null`, a named pipe, /dev/fd/N) is written in
        # place: a rename would replace /dev/null itself with a regular file
        self.in_place = not self.is_stdout and _is_special(target)
        if self.in_place:
            self.path = target
        elif not self.is_stdout:
            # through a symlink, as open() would: the link stays, its target is replaced
            if os.path.isdir(target):
                raise UsageError(f"cannot write {target}: it is a directory")
            target = os.path.realpath(target)
            self.target = target
            directory = os.path.dirname(target)
            if not os.path.isdir(directory):
                raise UsageError(f"cannot write {target}: directory {directory} does not exist")
            base = os.path.basename(target)
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".gfcli-tmp", dir=directory)
            os.close(fd)
            cleanup.register(tmp)
            self.path = tmp

    def commit(self) -> None:
        if self.is_stdout or self.in_place:
            return
        # mkstemp creates 0600; give the output the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o666 & ~umask)
        os.replace(self.path, self.target)
        cleanup.unregister(self.path)
        self.path = self.target

    def discard(self) -> None:
        if self.is_stdout or self.in_place:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        cleanup.unregister(self.path)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def stdout_binary():
    """The process's stdout as a binary stream."""
    return sys.stdout.buffer
