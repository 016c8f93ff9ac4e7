"""Lines of a text format, read in constant memory with guards against what is not text.

Lines are yielded as `str` decoded as latin-1 (one character per byte, never failing), so
checkers can use regular expressions and any byte can be quoted in a message. A line longer
than `max_line` is cut: the rest of it is skipped without being held in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gfcli.engine.validate.container import Decompressed
from gfcli.engine.validate.reporter import Defer, Sink
from gfcli.engine.validate.rules import ERROR, WARNING, rule

LINE_TOO_LONG = rule("text.line-too-long", ERROR, "a line longer than the validator's limit")
BINARY = rule("text.binary", ERROR, "control characters or NUL bytes in a text line")
CRLF = rule("text.crlf", WARNING, "Windows line endings (CR LF)")
NO_NEWLINE = rule("text.no-final-newline", WARNING, "the last line has no newline: truncated?")

# Longer lines are legal in principle (a VCF with 10^6 samples), but past this the input is
# almost certainly not what it claims to be; the bound keeps memory bounded.
MAX_LINE = 256 << 20

# Bytes that never belong in a text line: C0 controls except tab (CR is handled apart).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def report_crlf(reporter: Sink, line: int | None) -> None:
    reporter.report(CRLF, line, "line ends with CR LF (reported once)")


class Lines:
    """Numbered lines of decompressed text, with text-level problems reported."""

    def __init__(self, data: Decompressed, reporter: Sink, *, max_line: int = MAX_LINE,
                 defer: Defer | None = None, crlf_seen: bool = False):
        self.data = data
        self.reporter = reporter
        self.max_line = max_line
        self.number = 0  # number of the last line yielded (1-based)
        self._crlf_seen = crlf_seen
        # A chunk of a file (-@): whether CR LF was seen before the chunk is not known here,
        # so the chunk's first CR LF is handed to the parent (see parallel.py).
        self._defer = defer

    def __iter__(self) -> Iterator[str]:
        report = self.reporter.report
        rest = b""
        skipping = False  # inside a line that went over the limit
        max_line = self.max_line
        while True:
            piece = self.data.pieces()
            if not piece:
                if rest and self.data.at_limit() and self.data.lift_limit():
                    continue  # a chunk cut inside a line: read on to the end
                break
            if skipping:
                newline = piece.find(b"\n")
                if newline < 0:
                    continue
                piece = piece[newline + 1 :]
                skipping = False
            buf = rest + piece if rest else piece
            lines = buf.split(b"\n")
            rest = lines.pop()
            for raw in lines:
                self.number += 1
                if len(raw) > max_line:
                    report(LINE_TOO_LONG, self.number,
                           f"line of {len(raw)} bytes, longer than {max_line}; the rest of it "
                           "is skipped")
                    raw = raw[:max_line]
                yield self._decode(raw)
            if len(rest) > max_line:
                self.number += 1
                report(LINE_TOO_LONG, self.number,
                       f"line longer than {max_line} bytes; the rest of it is skipped")
                yield self._decode(rest[:max_line])
                rest = b""
                skipping = True
        if rest:
            self.number += 1
            if not self.data.damaged:
                report(NO_NEWLINE, self.number, "the last line does not end with a newline")
            yield self._decode(rest)

    def _decode(self, raw: bytes) -> str:
        line = raw.decode("latin-1")
        if line.endswith("\r"):
            line = line[:-1]
            if not self._crlf_seen:
                self._crlf_seen = True
                if self._defer is not None:
                    self._defer("crlf", self.number, ())
                else:
                    report_crlf(self.reporter, self.number)
        match = _CONTROL.search(line)
        if match is not None:
            self.reporter.report(
                BINARY, self.number,
                f"control character {match.group()!r} at column {match.start() + 1}: binary data "
                "in a text file",
            )
        return line
