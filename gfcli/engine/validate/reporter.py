"""Collect, print and count problems: `FILE:LINE: error|warning: RULE: message` on stderr.

The reporter applies `--ignore`, `--strict` and the per-rule `--max-errors` cap; beyond the
cap problems are only counted, so memory stays bounded however broken the input is. It keeps
the printed problems for the JSON report (at most max_errors per rule).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from gfcli.engine.errors import UsageError
from gfcli.engine.validate.rules import ERROR, RULES, WARNING

# Values quoted in messages are cut to this many characters: a 10 MB line must not be echoed.
QUOTE_LIMIT = 40


def quote(value: str | bytes, limit: int = QUOTE_LIMIT) -> str:
    """A value for a message: printable, quoted, and short."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    cut = len(value) > limit
    text = value[:limit]
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f"'{text}'" + ("..." if cut else "")


class Sink(Protocol):
    """What checkers report to: a Reporter, or one bound to a given file."""

    def report(self, rule_id: str, line: int | None, message: str, *,
               offset: int | None = None, block: int | None = None) -> None: ...


class Defer(Protocol):
    """How a checker working on one chunk of a file (-@) hands a check that depends on what
    came before the chunk to the parent, which runs it in file order (see parallel.py)."""

    def __call__(self, name: str, line: int | None, args: tuple, offset: int | None = None,
                 block: int | None = None) -> None: ...


class ChunkCheck:
    """For checkers that can check one chunk of a file (-@): the header model a chunk after
    the first is given (the names in _HEADER_STATE), and the deferral hook."""

    _HEADER_STATE: tuple[str, ...] = ()
    defer: Defer | None

    def header_state(self) -> dict[str, object]:
        """What a chunk's checker needs of the header, which only the first chunk reads."""
        return {name: getattr(self, name) for name in self._HEADER_STATE}

    def start_chunk(self, header: dict[str, object] | None, defer: Defer) -> None:
        """Check the records of one chunk: after the header (given) or from the start."""
        self.defer = defer
        for name, value in (header or {}).items():
            setattr(self, name, value)


@dataclass
class Problem:
    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    offset: int | None = None  # binary formats: byte offset of the record in the decompressed data
    block: int | None = None  # binary formats: file offset of the BGZF block holding it

    def format(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.severity}: {self.rule}: {self.message}"
        if self.offset is not None:
            text += f" (byte {self.offset}"
            if self.block is not None:
                text += f", BGZF block at {self.block}"
            text += ")"
        return text

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "severity": self.severity,
            "line": self.line,
            "message": self.message,
        }
        if self.offset is not None:
            out["offset"] = self.offset
        if self.block is not None:
            out["block"] = self.block
        return out


@dataclass
class FileReport:
    name: str
    format: str | None = None
    records: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unreadable: bool = False  # could not be read at all: exit 2

    @property
    def errors(self) -> int:
        return sum(n for r, n in self.counts.items() if self.severity_of(r) == ERROR)

    @property
    def warnings(self) -> int:
        return sum(n for r, n in self.counts.items() if self.severity_of(r) == WARNING)

    _severities: dict[str, str] = field(default_factory=dict, repr=False)

    def severity_of(self, rule_id: str) -> str:
        return self._severities.get(rule_id, ERROR)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.name,
            "format": self.format,
            "records": self.records,
            "valid": self.errors == 0 and not self.unreadable,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": {
                r: {"severity": self.severity_of(r), "count": n}
                for r, n in sorted(self.counts.items())
            },
            "problems": [p.as_dict() for p in self.problems],
        }


def expand_ignore(patterns: list[str]) -> frozenset[str]:
    """Rule ids from `--ignore` values: ids, families ('vcf') or globs ('vcf.info-*').

    A pattern that names no rule is a usage error, so a typo cannot silently keep a rule on.
    """
    chosen: set[str] = set()
    for raw in patterns:
        for pattern in filter(None, (p.strip() for p in raw.split(","))):
            matched = {
                r for r in RULES
                if r == pattern or r.split(".", 1)[0] == pattern or fnmatch.fnmatchcase(r, pattern)
            }
            if not matched:
                raise UsageError(f"--ignore {pattern}: no such rule (see --list-rules)")
            chosen |= matched
    return frozenset(chosen)


class Reporter:
    """Receives problems from the checkers of one run (one or more files)."""

    def __init__(
        self,
        stream: TextIO | None,
        *,
        max_errors: int = 100,
        ignore: frozenset[str] = frozenset(),
        strict: bool = False,
    ):
        self.stream = stream
        self.max_errors = max_errors
        self.ignore = ignore
        self.strict = strict
        self.files: list[FileReport] = []
        self.current: FileReport | None = None

    def start_file(self, name: str) -> FileReport:
        self.current = FileReport(name)
        self.files.append(self.current)
        return self.current

    def severity(self, rule_id: str) -> str:
        rule = RULES.get(rule_id)
        severity = rule.severity if rule is not None else ERROR
        return ERROR if self.strict else severity

    def bound(self, target: FileReport) -> BoundReporter:
        """A reporter that files problems under `target` (R2 of a FASTQ pair)."""
        return BoundReporter(self, target)

    def report(
        self,
        rule_id: str,
        line: int | None,
        message: str,
        *,
        offset: int | None = None,
        block: int | None = None,
        target: FileReport | None = None,
    ) -> None:
        if rule_id in self.ignore:
            return
        current = target if target is not None else self.current
        assert current is not None, "start_file() first"
        severity = self.severity(rule_id)
        current._severities[rule_id] = severity
        seen = current.counts.get(rule_id, 0) + 1
        current.counts[rule_id] = seen
        if self.max_errors and seen > self.max_errors:
            return
        problem = Problem(rule_id, severity, current.name, line, message, offset, block)
        current.problems.append(problem)
        self._emit(problem.format())

    def count_hidden(self, rule_id: str, count: int) -> None:
        """Problems a chunk worker counted beyond the cap: counted here, never printed."""
        current = self.current
        assert current is not None, "start_file() first"
        current._severities[rule_id] = self.severity(rule_id)
        current.counts[rule_id] = current.counts.get(rule_id, 0) + count

    def finish_file(self, target: FileReport | None = None) -> None:
        current = target if target is not None else self.current
        if current is None:
            return
        if self.max_errors:
            for rule_id, count in current.counts.items():
                hidden = count - self.max_errors
                if hidden > 0:
                    self._emit(
                        f"{current.name}: {current.severity_of(rule_id)}: {rule_id}: "
                        f"{hidden} more not shown ({count} in all)"
                    )
        if target is None:
            self.current = None

    def _emit(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text + "\n")

    def has(self, rule_id: str) -> bool:
        return self.current is not None and rule_id in self.current.counts


class BoundReporter:
    """The `report` interface of a Reporter, filing everything under one file's report."""

    def __init__(self, reporter: Reporter, target: FileReport):
        self._reporter = reporter
        self.target = target

    def report(self, rule_id: str, line: int | None, message: str, *,
               offset: int | None = None, block: int | None = None) -> None:
        self._reporter.report(rule_id, line, message, offset=offset, block=block,
                              target=self.target)
