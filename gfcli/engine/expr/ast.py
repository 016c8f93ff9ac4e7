"""Expressions as data: immutable syntax-tree nodes shared by both dialects.

The parser produces syntactic nodes (`Ident` keeps the raw bcftools token); the checker
(`check.py`) replaces identifiers by typed references (`Col`, `Info`, `Fmt`, ...) that the
planner and the evaluators consume.  Every node carries `pos`, its offset in the source text,
so later stages can still point a caret at the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    pos: int = field(default=0, kw_only=True, compare=False)


# ---- literals -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Num(Node):
    value: float
    text: str = ""


@dataclass(frozen=True)
class Str(Node):
    value: str


# ---- syntactic identifiers (before checking) ---------------------------------------------
@dataclass(frozen=True)
class Ident(Node):
    """A bare bcftools token such as `INFO/AF[0]`, `FMT/AD[*:1]`, `QUAL`, or a samtools symbol."""

    text: str


@dataclass(frozen=True)
class Tag(Node):
    """samtools `[NM]`: an aux tag of a read."""

    name: str


# ---- operators ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Unary(Node):
    op: str  # variants: '!' (gfcli extension); reads: '-', '+', '!', '~'
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    name: str  # canonical upper-case name for variants, lower-case for reads
    args: tuple[Node, ...]


# ---- typed references (after checking, variants) ------------------------------------------
@dataclass(frozen=True)
class Index:
    """A bcftools subscript list: explicit items plus an optional open tail (`2-` or `*`)."""

    items: tuple[int, ...] = ()
    open_from: int | None = None  # `*` is open_from=0
    single: bool = False  # `[3]`: one scalar value, not a list

    @property
    def is_all(self) -> bool:
        return not self.items and self.open_from == 0

    def selected(self, n: int) -> list[int]:
        """Indices selected out of n available, in order."""
        out = sorted(set(i for i in self.items if i < n))
        if self.open_from is not None:
            out = sorted(set(out) | set(range(self.open_from, n)))
        return out


ALL_INDEX = Index((), 0)


@dataclass(frozen=True)
class Col(Node):
    """A fixed column or computed site value: CHROM POS ID REF ALT QUAL FILTER TYPE N_ALT ..."""

    name: str
    index: Index | None = None


@dataclass(frozen=True)
class Info(Node):
    tag: str
    type: str  # Integer Float String Flag
    number: str  # '1', 'A', 'R', 'G', '.', or a digit string
    index: Index | None = None


@dataclass(frozen=True)
class Fmt(Node):
    tag: str
    type: str
    number: str
    samples: Index = ALL_INDEX
    values: Index | None = None  # None: the default (all values, or the single value)


@dataclass(frozen=True)
class Genotype(Node):
    """FMT/GT compared to a keyword class (`kind` 2: rr/ra/aa/aA/r/a, 3: hom/het/hap,
    4: mis/ref/alt) or, with kind 0, as its VCF text (`GT="0|1"`)."""

    kind: int
    samples: Index = ALL_INDEX


@dataclass(frozen=True)
class FilterTest(Node):
    """FILTER compared to a `;`-separated set; empty names means `.` (no filters)."""

    op: str  # == != ~ !~
    names: tuple[str, ...]


@dataclass(frozen=True)
class TypeTest(Node):
    op: str  # == != ~ !~
    mask: int  # bcftools TYPE bits: ref=1, snp=2, mnp=4, indel=8, other=16, bnd=32, overlap=64


@dataclass(frozen=True)
class Regex(Node):
    pattern: str
    icase: bool = False


@dataclass(frozen=True)
class Missing(Node):
    """The `"."` constant where it stands for a missing numeric value."""


# ---- typed references (after checking, reads) ---------------------------------------------
@dataclass(frozen=True)
class RField(Node):
    """A samtools/FASTQ symbol: mapq, flag.paired, qname, seq, meanq, ..."""

    name: str


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Node):
    """Pre-order traversal."""
    yield node
    for c in children(node):
        yield from walk(c)
