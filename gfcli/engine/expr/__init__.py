"""The gfcli filter-expression language: parse, check, plan and evaluate.

    from gfcli.engine.expr import compile_expr
    cx = compile_expr("QUAL>30 && INFO/DP>10", "variants", schema=VariantSchema.from_pysam(h))
    print(cx.explain())
    keep = cx.select(batch)          # bool mask of records to output (-i or -e applied)

Only numpy is imported here; the evaluators load lazily (numba stays inside them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ast import Node
from .errors import ExprError
from .help import HELP_EXPR
from .parser import FASTQ, READS, VARIANTS, parse
from .schema import ReadSchema, TagDef, VariantSchema

__all__ = [
    "ExprError", "HELP_EXPR", "VARIANTS", "READS", "FASTQ", "parse", "check", "compile_expr",
    "Compiled", "evaluate", "VariantSchema", "ReadSchema", "TagDef",
]


def check(tree: Node, dialect: str, schema=None) -> Node:
    """Resolve and type-check a parsed tree against a header schema."""
    from .typecheck import VariantChecker, check_reads

    if dialect == VARIANTS:
        return VariantChecker(schema or VariantSchema()).check(tree)[0]
    return check_reads(tree, dialect)


def evaluate(node: Node, batch, dialect: str) -> np.ndarray:
    """Which records of `batch` the checked expression is true for."""
    if dialect == VARIANTS:
        from .eval_variants import VariantEvaluator

        return VariantEvaluator(batch).passes(node)
    from .eval_reads import ReadEvaluator

    return ReadEvaluator(batch, dialect).passes(node)


@dataclass(frozen=True)
class Compiled:
    text: str
    dialect: str
    tree: Node
    exclude: bool
    plan: object

    def explain(self) -> str:
        return self.plan.explain()

    def passes(self, batch) -> np.ndarray:
        try:
            return evaluate(self.tree, batch, self.dialect)
        except ExprError as e:
            raise e.with_expr(self.text) from None

    def select(self, batch) -> np.ndarray:
        """Records to output: those passing (-i) or those not passing (-e)."""
        ok = self.passes(batch)
        return ~ok if self.exclude else ok


def compile_expr(text: str, dialect: str = VARIANTS, *, schema=None,
                 exclude: bool = False) -> Compiled:
    from .plan import make_plan

    try:
        tree = check(parse(text, dialect), dialect, schema)
    except ExprError as e:
        raise e.with_expr(text) from None
    return Compiled(text, dialect, tree, exclude, make_plan(tree, dialect, text, exclude))
