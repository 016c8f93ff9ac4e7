"""The registry of validation rules: every check has a stable name, a default severity and a
one-line description, so `--list-rules`, `--ignore` and the JSON report all speak of the same
things. Format modules register their rules at import time with `rule(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: str, summary: str) -> str:
    """Register a rule; returns its id so modules can keep it in a constant."""
    if rule_id in RULES and RULES[rule_id] != Rule(rule_id, severity, summary):
        raise ValueError(f"rule {rule_id} registered twice with different definitions")
    RULES[rule_id] = Rule(rule_id, severity, summary)
    return rule_id


def load_all() -> dict[str, Rule]:
    """Every rule: importing the format modules registers them (none imports htslib)."""
    from gfcli.engine.validate import (  # noqa: F401
        alignments,
        bam,
        container,
        fastq,
        hts,
        text,
        vcf,
    )

    return RULES


# Rules about the input as a whole, before any format is known.
INPUT_EMPTY = rule("input.empty", ERROR, "the input has no bytes at all")
INPUT_FORMAT = rule(
    "input.format", ERROR,
    "the content is not recognised as VCF, BCF, SAM, BAM, CRAM or FASTQ (exit 2)",
)
INPUT_FORMAT_GUESSED = rule(
    "input.format-guessed", WARNING,
    "the content was not recognised; it was validated as the format its name or --format says",
)
INPUT_UNREADABLE = rule("input.unreadable", ERROR, "the input cannot be opened or read (exit 2)")
INTERNAL = rule(
    "validate.internal", ERROR,
    "the validator itself failed on this input (a bug: please report it)",
)
