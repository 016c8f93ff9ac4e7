"""FASTQ: four-line records, names, sequence/quality agreement, and R1/R2 pairing.

Records are read in groups of four lines. When a group is out of step (its first line does
not start with '@', or its third not with '+'), the checker reports it and resynchronises on
the next line that starts with '@' and is followed two lines later by a '+' line, so one
broken record costs one report rather than one per remaining line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gfcli.engine.validate.reporter import Sink, quote
from gfcli.engine.validate.rules import ERROR, WARNING, rule

HEADER = rule("fastq.header", ERROR, "a record starts with an '@' line naming the read")
SEPARATOR = rule(
    "fastq.separator", ERROR, "the third line starts with '+' (and repeats the name, if any)",
)
SEQ_CHARS = rule("fastq.seq-chars", ERROR, "sequences hold IUPAC bases, '.', '-' or '*' only")
QUAL_LENGTH = rule("fastq.qual-length", ERROR, "quality and sequence have the same length")
QUAL_RANGE = rule("fastq.qual-range", ERROR, "quality characters lie in '!' to '~' (Phred+33)")
TRUNCATED = rule("fastq.truncated", ERROR, "the last record has fewer than four lines")
EMPTY_READ = rule("fastq.empty-read", WARNING, "a read with an empty sequence")
PAIR_NAME = rule(
    "fastq.pair-name", ERROR, "with --paired: R1 and R2 name the same read at each record",
)
PAIR_COUNT = rule("fastq.pair-count", ERROR, "with --paired: R1 and R2 have as many records")

_SEQ_BAD = re.compile(r"[^ACGTUNRYSWKMBDHVacgtunryswkmbdhv.\-*]")
_QUAL_BAD = re.compile(r"[^!-~]")


@dataclass
class Read:
    name: str
    line: int  # line number of the '@' line


def read_name(header: str) -> str:
    """The read name for pairing: up to the first whitespace, without a /1 or /2 suffix."""
    name = header[1:].split(None, 1)[0] if len(header) > 1 and not header[1].isspace() else ""
    if len(name) > 2 and name[-2] == "/" and name[-1] in "12":
        name = name[:-2]
    return name


class FastqChecker:
    def __init__(self, reporter: Sink):
        self.reporter = reporter
        self.records = 0

    def _r(self, rule_id: str, line: int, message: str) -> None:
        self.reporter.report(rule_id, line, message)

    def records_of(self, lines: Iterator[tuple[int, str]]) -> Iterator[Read]:
        """Check every record of the numbered lines; yield each record's name for pairing."""
        pending: list[tuple[int, str]] = []  # lookahead for resynchronisation
        source = iter(lines)

        def take() -> tuple[int, str] | None:
            if pending:
                return pending.pop(0)
            return next(source, None)

        def peek(k: int) -> tuple[int, str] | None:
            while len(pending) <= k:
                item = next(source, None)
                if item is None:
                    return None
                pending.append(item)
            return pending[k]

        while True:
            first = take()
            if first is None:
                return
            number, header = first
            if not header.startswith("@"):
                if not header and peek(0) is None:
                    return  # a blank last line is harmless
                self._r(HEADER, number, f"{quote(header)} where a record's '@' line should be")
                # Skip to the next plausible record start.
                while True:
                    nxt = peek(0)
                    if nxt is None:
                        return
                    after = peek(2)
                    if nxt[1].startswith("@") and after is not None and after[1].startswith("+"):
                        break
                    take()
                continue
            group = [first]
            for _ in range(3):
                item = take()
                if item is None:
                    break
                group.append(item)
            if len(group) < 4:
                self._r(TRUNCATED, group[-1][0],
                        f"the record starting at line {number} has {len(group)} line(s), not 4")
                self.records += 1
                yield Read(read_name(header), number)
                return
            self.records += 1
            self._check(group)
            yield Read(read_name(header), number)

    def _check(self, group: list[tuple[int, str]]) -> None:
        (n1, header), (n2, seq), (n3, plus), (n4, qual) = group
        if len(header) < 2 or header[1].isspace():
            self._r(HEADER, n1, "the '@' line has no read name")
        if not plus.startswith("+"):
            self._r(SEPARATOR, n3, f"{quote(plus)} where the '+' line should be")
            return
        if len(plus) > 1 and plus[1:] != header[1:]:
            self._r(SEPARATOR, n3, "the '+' line names a different read than the '@' line")
        bad = _SEQ_BAD.search(seq)
        if bad is not None:
            self._r(SEQ_CHARS, n2, f"character {quote(bad.group())} at position {bad.start() + 1}")
        if not seq:
            self._r(EMPTY_READ, n2, "empty sequence")
        if len(qual) != len(seq):
            self._r(QUAL_LENGTH, n4, f"{len(qual)} quality characters for {len(seq)} bases")
        bad = _QUAL_BAD.search(qual)
        if bad is not None:
            self._r(QUAL_RANGE, n4, f"quality character {quote(bad.group())} at position "
                                    f"{bad.start() + 1} is outside '!'..'~'")


def check_pairs(reporter: Sink, r1: Iterator[Read], r2: Iterator[Read], r2_name: str) -> None:
    """Walk both files' records in step; R2 problems are reported against R1's lines."""
    index = 0
    while True:
        a = next(r1, None)
        b = next(r2, None)
        if a is None and b is None:
            return
        index += 1
        if a is None or b is None:
            longer = "R1" if b is None else "R2"
            remaining = 1 + sum(1 for _ in (r1 if b is None else r2))
            line = a.line if a is not None else None
            reporter.report(PAIR_COUNT, line, f"{longer} has {remaining} more record(s) than the "
                                              f"other file (from record {index}; R2 is {r2_name})")
            return
        if a.name != b.name:
            reporter.report(PAIR_NAME, a.line, f"read {index} is {quote(a.name)} here but "
                                               f"{quote(b.name)} in {r2_name} line {b.line}")
