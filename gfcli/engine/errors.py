"""Errors a user can cause, each mapped to a one-line message and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class GfcliError(Exception):
    """A problem to report as one line, without a traceback."""

    exit_code = EXIT_DATA

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if self.line is not None:
            parts.append(f"line {self.line}")
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self):
        # Errors cross process boundaries (worker -> parent); keep the keyword fields.
        return (_rebuild_error, (type(self), self.message, self.path, self.line))


def _rebuild_error(cls, message, path, line):
    return cls(message, path=path, line=line)


class DataError(GfcliError):
    """The input is unreadable or malformed (exit 1)."""

    exit_code = EXIT_DATA


class UsageError(GfcliError):
    """The command line asks for something impossible or inconsistent (exit 2)."""

    exit_code = EXIT_USAGE


class InputNotFound(UsageError):
    """A named input does not exist (a usage problem, as in samtools)."""


class PipeClosed(Exception):
    """The reader of our stdout went away (`gfcli view x | head`): stop quietly.

    Deliberately not an OSError: click turns EPIPE into a plain exit 1 before we see it.
    """
