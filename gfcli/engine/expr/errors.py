"""Expression errors: one message, the expression, and a caret under the offending position."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from gfcli.engine.errors import UsageError


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `word` (case-insensitive), for 'did you mean' hints."""
    pool = {c.upper(): c for c in candidates}
    # A known name that the word starts with (flag.duplicate -> dup) beats fuzzy matching.
    prefixes = [c for c in pool if len(c) >= 3 and word.upper().startswith(c)]
    if prefixes:
        return pool[max(prefixes, key=len)]
    hits = difflib.get_close_matches(word.upper(), list(pool), n=1, cutoff=0.6)
    return pool[hits[0]] if hits else None


def render(message: str, expr: str | None, pos: int | None, hint: str | None) -> str:
    text = message
    if hint:
        text += f"; {hint}"
    if expr is not None and pos is not None:
        pos = max(0, min(pos, len(expr)))
        # Two-space indent so the caret lines up under the echoed expression.
        text += f"\n  {expr}\n  {' ' * pos}^"
    return text


class ExprError(UsageError):
    """A filter expression that cannot be parsed, typed or evaluated (exit 2)."""

    def __init__(
        self,
        message: str,
        *,
        expr: str | None = None,
        pos: int | None = None,
        hint: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ):
        self.reason = message
        self.expr = expr
        self.pos = pos
        self.hint = hint
        super().__init__(render(message, expr, pos, hint), path=path, line=line)

    def with_expr(self, expr: str) -> ExprError:
        """The same error re-rendered against the full expression text."""
        if self.expr is not None:
            return self
        return ExprError(self.reason, expr=expr, pos=self.pos, hint=self.hint)
