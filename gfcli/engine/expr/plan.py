"""Compile a checked expression into the four stages shown by `gfcli filter --explain`:

1. region pushdown: top-level conjuncts on CHROM/POS (rname/pos) -> regions to seek;
2. raw prefilters: conjuncts decidable on raw, undecoded fields (VCF QUAL, FILTER, CHROM, POS,
   ID, REF/ALT, one INFO key; BAM flag, mapq, pos, tlen, refid, mate fields);
3. projection: the fields to decode at all;
4. batch evaluation: the remaining conjuncts, vectorised over decoded batches.

Splitting is exact: a record fails the whole expression whenever a site-level conjunct fails
(bcftools `&`/`&&` and hts_expr `&&` both behave so), so prefilters decide those records early
(dropped with -i, kept with -e) and only survivors reach stage 4.  Region seeks return
overlapping records, so the CHROM/POS conjuncts stay as exact prefilters too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ast import (
    Binary,
    Call,
    Col,
    FilterTest,
    Fmt,
    Genotype,
    Info,
    Missing,
    Node,
    Num,
    Regex,
    RField,
    Str,
    Tag,
    TypeTest,
    Unary,
    walk,
)

REDUCERS = {"N_PASS", "F_PASS", "ALL", "COUNT", "MAX", "MIN", "AVG", "SUM", "MEDIAN", "STDEV",
            "STRLEN"}
RAW_VARIANT = {"CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER"}
RAW_READ = {"flag", "mapq", "pos", "tlen", "refid", "mrefid", "mpos"}


@dataclass(frozen=True)
class Region:
    chrom: str
    start: int | None = None  # 1-based inclusive
    end: int | None = None

    def __str__(self) -> str:
        if self.start is None and self.end is None:
            return self.chrom
        return f"{self.chrom}:{self.start or 1}-{'' if self.end is None else self.end}"


@dataclass(frozen=True)
class Plan:
    dialect: str
    text: str
    exclude: bool
    regions: tuple[Region, ...] = ()
    prefilters: tuple[Node, ...] = ()
    residual: tuple[Node, ...] = ()
    prefilter_fields: frozenset[str] = field(default_factory=frozenset)
    projection: frozenset[str] = field(default_factory=frozenset)

    def explain(self) -> str:
        mode = "exclude (-e)" if self.exclude else "include (-i)"
        lines = [f"expression ({self.dialect}, {mode}): {self.text}"]
        regs = ", ".join(str(r) for r in self.regions) or "(none: whole input)"
        note = " (index seek when indexed, streaming target filter otherwise)" if self.regions \
            else ""
        lines.append(f"1. region pushdown: {regs}{note}")
        if self.prefilters:
            lines.append("2. raw prefilters (on undecoded fields, before any full decode):")
            for p in self.prefilters:
                used = ", ".join(sorted(fields_of(p, self.dialect)))
                lines.append(f"     {unparse(p)}    [{used}]")
        else:
            lines.append("2. raw prefilters: (none)")
        skipped = []
        if self.dialect == "variants":
            if not any(f.startswith("FMT/") or f == "GT" for f in self.projection):
                skipped.append("FORMAT/genotypes not parsed")
            if not any(f.startswith("INFO/") for f in self.projection):
                skipped.append("INFO not parsed")
        elif self.dialect == "reads":
            if not self.projection & {"seq", "qual"}:
                skipped.append("sequence and qualities not decoded")
            if not any(f.startswith("[") for f in self.projection):
                skipped.append("aux tags not parsed")
        proj = " ".join(sorted(self.projection)) or "(nothing beyond the raw record)"
        lines.append(f"3. projection: decode {proj}" + (f"; {'; '.join(skipped)}" if skipped
                                                         else ""))
        if self.residual:
            lines.append("4. batch evaluation (vectorised over record batches):")
            for r in self.residual:
                lines.append(f"     {unparse(r)}")
        else:
            lines.append("4. batch evaluation: (nothing left after prefilters)")
        return "\n".join(lines)


def sample_level(node: Node) -> bool:
    if isinstance(node, (Fmt, Genotype)):
        return True
    if isinstance(node, Call):
        if node.name in REDUCERS:
            return False
        return sample_level(node.args[0])
    if isinstance(node, Unary):
        return sample_level(node.operand)
    if isinstance(node, Binary):
        return sample_level(node.left) or sample_level(node.right)
    return False


def conjuncts(node: Node, dialect: str) -> list[Node]:
    ops = ("&&", "&") if dialect == "variants" else ("&&",)
    if isinstance(node, Binary) and node.op in ops:
        left, right = conjuncts(node.left, dialect), conjuncts(node.right, dialect)
        if dialect == "variants" and node.op == "&" and sample_level(node.left) and \
                sample_level(node.right):
            return [node]  # same-sample conjunction: keep together
        return left + right
    return [node]


def fields_of(node: Node, dialect: str) -> set[str]:
    out: set[str] = set()
    for x in walk(node):
        if dialect == "variants":
            if isinstance(x, Info):
                out.add(f"INFO/{x.tag}")
            elif isinstance(x, Fmt):
                out.add(f"FMT/{x.tag}")
            elif isinstance(x, Genotype):
                out.add("GT")
            elif isinstance(x, FilterTest):
                out.add("FILTER")
            elif isinstance(x, TypeTest):
                out |= {"REF", "ALT"}
            elif isinstance(x, Col):
                if x.name in RAW_VARIANT:
                    out.add(x.name)
                elif x.name in ("N_ALT", "ILEN"):
                    out |= {"REF", "ALT"}
                elif x.name in ("N_MISSING", "F_MISSING"):
                    out.add("GT")
                elif x.name in ("AC", "AN", "AF", "MAC", "MAF"):
                    out |= {"ALT", "GT", "INFO/AC", "INFO/AN"}
        else:
            if isinstance(x, RField):
                name = x.name
                if name.startswith("flag."):
                    name = "flag"
                name = {"rname": "refid", "rnext": "mrefid", "mrname": "mrefid",
                        "pnext": "mpos"}.get(name, name)
                out.add(name)
            elif isinstance(x, Tag):
                out.add(f"[{x.name}]")
    return out


def _raw(node: Node, dialect: str) -> bool:
    f = fields_of(node, dialect)
    if dialect == "variants":
        info = [x for x in f if x.startswith("INFO/")]
        return not sample_level(node) and len(info) <= 1 and (f - set(info)) <= RAW_VARIANT \
            and not any(isinstance(x, Col) and x.name in ("AC", "AN", "AF", "MAC", "MAF")
                        for x in walk(node))
    if dialect == "reads":
        return f <= RAW_READ | {"refid"}
    return False


def _regions(parts: list[Node], dialect: str) -> tuple[Region, ...]:
    chrom_name, pos_name = ("CHROM", "POS") if dialect == "variants" else ("rname", "pos")
    chroms: set[str] | None = None
    lo, hi = None, None

    def is_field(x: Node, name: str) -> bool:
        return (isinstance(x, Col) and x.name == name) or (isinstance(x, RField) and x.name ==
                                                            name)

    def chrom_set(x: Node) -> set[str] | None:
        if isinstance(x, Binary) and x.op == "==":
            for a, b in ((x.left, x.right), (x.right, x.left)):
                if is_field(a, chrom_name) and isinstance(b, Str) and "," not in b.value:
                    return {b.value}
        if isinstance(x, Binary) and x.op in ("||", "|"):
            left, right = chrom_set(x.left), chrom_set(x.right)
            if left is not None and right is not None:
                return left | right
        return None

    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
    for p in parts:
        cs = chrom_set(p)
        if cs is not None:
            chroms = cs if chroms is None else chroms & cs
            continue
        if isinstance(p, Binary) and p.op in flip:
            op, a, b = p.op, p.left, p.right
            if isinstance(a, Num) and is_field(b, pos_name):
                op, a, b = flip[op], b, a
            if is_field(a, pos_name) and isinstance(b, Num) and b.value == int(b.value):
                v = int(b.value)
                if op in (">", ">="):
                    v = v + 1 if op == ">" else v
                    lo = v if lo is None else max(lo, v)
                if op in ("<", "<="):
                    v = v - 1 if op == "<" else v
                    hi = v if hi is None else min(hi, v)
                if op == "==":
                    lo = v if lo is None else max(lo, v)
                    hi = v if hi is None else min(hi, v)
    if chroms is None:
        return ()
    return tuple(Region(c, lo, hi) for c in sorted(chroms))


def make_plan(node: Node, dialect: str, text: str, exclude: bool = False) -> Plan:
    parts = conjuncts(node, dialect)
    regions = _regions(parts, dialect)
    pre = tuple(p for p in parts if _raw(p, dialect)) if len(parts) > 0 else ()
    rest = tuple(p for p in parts if p not in pre)
    pre_fields: set[str] = set()
    for p in pre:
        pre_fields |= fields_of(p, dialect)
    proj: set[str] = set(pre_fields)
    for r in rest:
        proj |= fields_of(r, dialect)
    return Plan(dialect, text, exclude, regions, pre, rest, frozenset(pre_fields),
                frozenset(proj))


def unparse(node: Node) -> str:
    """Canonical text of a checked node (for explain and error messages)."""
    if isinstance(node, Num):
        return node.text or repr(node.value)
    if isinstance(node, Str):
        return f'"{node.value}"'
    if isinstance(node, Missing):
        return '"."'
    if isinstance(node, Regex):
        return f'"{node.pattern}{"/i" if node.icase else ""}"'
    if isinstance(node, Col):
        return node.name + _idx(node.index)
    if isinstance(node, Info):
        return f"INFO/{node.tag}{_idx(node.index)}"
    if isinstance(node, Fmt):
        if node.samples.is_all and node.values is None:
            return f"FMT/{node.tag}"
        return f"FMT/{node.tag}[{_idx_text(node.samples)}:{_idx_text(node.values)}]"
    if isinstance(node, Genotype):
        return "GT"
    if isinstance(node, TypeTest):
        names = {1: "ref", 2: "snp", 4: "mnp", 8: "indel", 16: "other", 32: "bnd", 64: "overlap"}
        return f'TYPE{node.op}"{names.get(node.mask, node.mask)}"'
    if isinstance(node, FilterTest):
        return f'FILTER{node.op}"{";".join(node.names) or "."}"'
    if isinstance(node, RField):
        return node.name
    if isinstance(node, Tag):
        return f"[{node.name}]"
    if isinstance(node, Unary):
        return f"{node.op}{_paren(node.operand)}"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, Binary):
        return f"{_paren(node.left)}{node.op}{_paren(node.right)}"
    return type(node).__name__


def _paren(node: Node) -> str:
    text = unparse(node)
    return f"({text})" if isinstance(node, Binary) else text


def _idx_text(idx) -> str:
    if idx is None or idx.is_all:
        return "*"
    parts = [str(i) for i in idx.items]
    if idx.open_from is not None:
        parts.append(f"{idx.open_from}-")
    return ",".join(parts)


def _idx(idx) -> str:
    return "" if idx is None else f"[{_idx_text(idx)}]"
