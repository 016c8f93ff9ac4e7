"""Deciding FASTQ records with the fastq expression dialect, batch by batch.

The expression is compiled once per process and split into its top-level `&&`
conjuncts (exact under hts_expr rules: a record passes a conjunction iff it passes
every conjunct). Conjuncts over numbers only (length, meanq, gc, n_count and arithmetic
on them) run first on numpy columns that a numba kernel computes from the packed
buffer (`alignments.fasteval`'s numeric evaluator, with FASTQ fields); the others
(name, seq, qual, regexes, string functions) run with the reference evaluator
(`expr.eval_reads`) on the survivors only, so strings are built for those records alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gfcli.engine.alignments.fasteval import NV, NumericEvaluator, Unsupported
from gfcli.engine.expr.ast import RField
from gfcli.engine.expr.batch import FastqBatch
from gfcli.engine.expr.eval_reads import RV, ReadEvaluator
from gfcli.engine.fastq import native as k
from gfcli.engine.fastq.reader import Batch

NUMERIC = ("length", "meanq", "gc", "n_count")
STRINGS = ("name", "seq", "qual")


def numeric(batch: Batch, want_qual: bool = True) -> dict[str, np.ndarray]:
    n = batch.n
    cols = {"length": np.empty(n, np.int64), "meanq": np.empty(n, np.float64),
            "gc": np.empty(n, np.float64), "n_count": np.empty(n, np.int64)}
    if not want_qual:
        cols["meanq"].fill(np.nan)
    k.numeric_columns(batch.data, batch.recs, want_qual, cols["length"], cols["meanq"],
                      cols["gc"], cols["n_count"])
    return cols


def strings(batch: Batch, name: str, rows: np.ndarray) -> np.ndarray:
    """One string field (latin-1, byte for byte, as hts_expr sees bytes) for `rows`."""
    data = batch.data.tobytes() if not isinstance(batch.data.base, bytes) else batch.data.base
    recs = batch.recs[rows]
    if name == "name":
        starts, ends = recs[:, k.REC_START] + 1, recs[:, k.NAME_END]
    elif name == "seq":
        starts = recs[:, k.SEQ_START]
        ends = starts + recs[:, k.SEQ_LEN]
    else:
        starts = recs[:, k.QUAL_START]
        ends = starts + recs[:, k.SEQ_LEN]
    out = np.empty(len(rows), dtype=object)
    out[:] = [data[a:b].decode("latin-1") for a, b in zip(starts.tolist(), ends.tolist(),
                                                         strict=True)]
    return out


class _Numeric(NumericEvaluator):
    def __init__(self, cols: dict[str, np.ndarray], n: int):
        super().__init__(n, cols.__getitem__, self._no_tag, ())

    @staticmethod
    def _no_tag(name: str):
        raise Unsupported(name)

    def field(self, node: RField) -> NV:
        if node.name not in NUMERIC:
            raise Unsupported(node.name)
        d = np.asarray(self.column(node.name), dtype=np.float64)
        return NV(d, np.zeros(len(d), bool))


class _Reference(ReadEvaluator):
    """The reference evaluator, reading numeric FASTQ fields from precomputed columns."""

    def __init__(self, batch: FastqBatch, cols: dict[str, np.ndarray]):
        super().__init__(batch, "fastq")
        self.cols = cols

    def fastq_field(self, node: RField) -> RV:
        col = self.cols.get(node.name)
        if col is None:
            return super().fastq_field(node)
        n = len(col)
        return RV(np.zeros(n, bool), np.full(n, None, dtype=object),
                  col.astype(np.float64), np.zeros(n, bool))


_COMPILED: dict[tuple[str, bool], tuple[Any, list[tuple[Any, bool]], bool]] = {}


@dataclass(frozen=True)
class FastqFilter:
    """What decides a record (picklable; compiled once per process)."""

    expr: str
    exclude: bool = False

    def _compiled(self) -> tuple[Any, list[tuple[Any, bool]], bool]:
        key = (self.expr, self.exclude)
        found = _COMPILED.get(key)
        if found is None:
            from gfcli.engine.expr import compile_expr
            from gfcli.engine.expr.plan import conjuncts, fields_of

            cx = compile_expr(self.expr, "fastq", exclude=self.exclude)
            parts = [(p, not (fields_of(p, "fastq") & set(STRINGS)))
                     for p in conjuncts(cx.tree, "fastq")]
            parts.sort(key=lambda x: not x[1])  # numeric conjuncts first
            found = (cx, parts, "meanq" in fields_of(cx.tree, "fastq"))
            _COMPILED[key] = found
        return found

    def compiled(self):
        return self._compiled()[0]

    def select(self, batch: Batch) -> np.ndarray:
        """Records to output: those passing (-i) or those failing (-e) the expression."""
        from gfcli.engine.expr import ExprError
        from gfcli.engine.expr.plan import fields_of

        cx, parts, want_qual = self._compiled()
        n = batch.n
        cols = numeric(batch, want_qual)
        keep = np.ones(n, dtype=bool)
        try:
            for part, is_numeric in parts:
                if is_numeric:
                    try:
                        keep &= _Numeric(cols, n).passes(part)
                        continue
                    except Unsupported:
                        pass
                rows = np.flatnonzero(keep)
                if not len(rows):
                    break
                used = fields_of(part, "fastq")
                fb = FastqBatch(len(rows), **{s: strings(batch, s, rows) if s in used else None
                                              for s in STRINGS})
                sub = {name: col[rows] for name, col in cols.items()}
                keep[rows] = _Reference(fb, sub).passes(part)
        except ExprError as e:
            raise e.with_expr(cx.text) from None
        return ~keep if self.exclude else keep
