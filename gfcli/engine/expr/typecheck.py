"""Type-checking: resolve identifiers against a header schema and reject what the reference
tools reject, with errors that point at the problem.

The result is a typed tree (see ast.py) plus a `Kind` per node: 'num', 'str' or 'bool', and
whether the value has a per-sample dimension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast import (
    ALL_INDEX,
    Binary,
    Call,
    Col,
    FilterTest,
    Fmt,
    Genotype,
    Ident,
    Index,
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
)
from .errors import ExprError, suggest
from .parser import READ_FUNCS, VARIANT_FUNCS
from .posix_re import bre_to_python, ere_to_python
from .schema import VariantSchema

LOGIC = ("&&", "||", "&", "|")
COMPARE = ("==", "!=", "<", "<=", ">", ">=", "~", "!~")
ARITH = ("+", "-", "*", "/", "%")

# bcftools checks these names by prefix (`strncasecmp(token, NAME, len(token))`), in this order.
SPECIAL = ("QUAL", "TYPE", "FILTER", "ID", "CHROM", "POS", "REF", "ALT", "N_ALT", "N_SAMPLES",
           "N_MISSING", "F_MISSING")
COMPUTED = ("ALT", "AN", "AC", "MAC", "AF", "MAF", "ILEN")
TYPE_BITS = {"ref": 1, "snp": 2, "snps": 2, "mnp": 4, "mnps": 4, "indel": 8, "indels": 8,
             "other": 16, "bnd": 32, "overlap": 64}
GT_KEYS3 = {"hom", "het", "hap"}
GT_KEYS4 = {"mis", "ref", "alt"}
GT_KEYS2 = {"rr": "rr", "ra": "ra", "ar": "ra", "aa": "aa", "a": "a", "r": "r"}
NUM_COLS = ("QUAL", "POS", "N_ALT", "N_SAMPLES", "N_MISSING", "F_MISSING", "AN", "AC", "MAC",
            "AF", "MAF", "ILEN")
STR_COLS = ("CHROM", "REF", "ALT", "ID")


@dataclass(frozen=True)
class Kind:
    kind: str  # num str bool
    samples: bool = False


def _err(msg: str, node: Node, hint: str | None = None) -> ExprError:
    return ExprError(msg, pos=node.pos, hint=hint)


def parse_index(text: str, node: Node) -> Index:
    """bcftools subscripts: '' or '*' (all), 'N' (one), or lists/ranges '0,2', '1-3', '2-'."""
    if text in ("", "*"):
        return ALL_INDEX
    if text == "GT":
        raise _err("[GT] subscripts are not supported yet", node)
    if re.fullmatch(r"\d+", text):
        return Index((int(text),), None, single=True)
    items: list[int] = []
    open_from = None
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d*))?", part)
        if not m:
            raise _err(f"could not parse the index [{text}]", node)
        a = int(m.group(1))
        if m.group(2) is None:
            items.append(a)
        elif m.group(2) == "":
            open_from = a if open_from is None else min(open_from, a)
        else:
            items.extend(range(a, int(m.group(2)) + 1))
    return Index(tuple(sorted(set(items))), open_from)


class VariantChecker:
    def __init__(self, schema: VariantSchema):
        self.schema = schema

    # -- identifiers ------------------------------------------------------------------------
    def ident(self, node: Ident) -> Node:
        text = node.text
        up = text.upper()
        is_fmt: bool | None = None
        name = text
        if up.startswith("FMT/"):
            name, is_fmt = text[4:], True
        elif up.startswith("FORMAT/"):
            name, is_fmt = text[7:], True
        elif up.startswith("INFO/"):
            name, is_fmt = text[5:], False
        else:
            bare = up[1:] if up.startswith("%") else up
            for special in SPECIAL:
                if bare and special.startswith(bare):
                    return Col(special, pos=node.pos)
        sub = None
        if name.endswith("]") and "[" in name:
            k = name.index("[")
            name, sub = name[:k], name[k + 1 : -1]
        sch = self.schema
        if name in sch.ids:
            in_info, in_fmt = name in sch.info, name in sch.fmt
            if is_fmt is None:
                if in_info and in_fmt:
                    raise _err(f"ambiguous: both INFO/{name} and FORMAT/{name} are defined in "
                               "the header", node, f"write INFO/{name} or FMT/{name}")
                is_fmt = in_fmt
            if is_fmt:
                if not in_fmt:
                    raise _err(f"no such FORMAT field: {name}", node, self._hint(name, sch.fmt))
                return self.fmt(node, name, sub)
            if not in_info:
                raise _err(f"no such INFO field: {name}", node, self._hint(name, sch.info))
            return self.info(node, name, sub)
        if is_fmt and sub is not None and ":" in sub:
            pass
        if name.upper() in COMPUTED and name.upper() == name.upper().lstrip("%"):
            if sub is not None and ":" in sub:
                raise _err("sample subscripts need a FORMAT tag", node)
            index = parse_index(sub, node) if sub is not None else None
            # bcftools 1.24 ignores subscripts on the computed AC/AN/AF/MAC/MAF/ILEN values.
            return Col(name.upper(), index if name.upper() == "ALT" else None, pos=node.pos)
        if name.upper() == "%ILEN":
            return Col("ILEN", pos=node.pos)
        try:
            value = float(name)
        except ValueError:
            pool = list(sch.info) + list(sch.fmt) + list(SPECIAL) + list(COMPUTED)
            raise _err(f'the tag "{name}" is not defined in the VCF header', node,
                       self._hint(name, pool)) from None
        if sub is not None:
            raise _err(f'the tag "{name}" is not defined in the VCF header', node)
        return Num(value, name, pos=node.pos)

    @staticmethod
    def _hint(name: str, pool) -> str | None:
        best = suggest(name, pool)
        return f"did you mean {best}?" if best else None

    def info(self, node: Ident, name: str, sub: str | None) -> Node:
        d = self.schema.info[name]
        index = None
        if sub is not None:
            if ":" in sub:
                raise _err(f"could not parse the index [{sub}]: INFO/{name} is not a FORMAT tag, "
                           "yet a sample index is implied", node)
            index = parse_index(sub, node)
        return Info(name, d.type, d.number, index, pos=node.pos)

    def fmt(self, node: Ident, name: str, sub: str | None) -> Node:
        d = self.schema.fmt[name]
        nsmpl = len(self.schema.samples)
        samples, values = ALL_INDEX, None
        if sub is not None:
            if ":" in sub:
                s, v = sub.rsplit(":", 1)
                samples, values = parse_index(s, node), parse_index(v, node)
            else:
                idx = parse_index(sub, node)
                if idx.is_all:
                    samples, values = ALL_INDEX, ALL_INDEX
                elif d.number != "1":
                    raise _err(f"the FORMAT tag {name} can have multiple subfields, run as "
                               f"{name}[sample:subfield]", node)
                else:
                    samples = idx
            for i in samples.items:
                if i >= nsmpl:
                    raise _err(f"the sample index is too large: [{sub}]", node)
            if samples.open_from is not None and samples.open_from > nsmpl and not samples.items:
                raise _err(f"the sample index is too large: [{sub}]", node)
        if name == "GT":
            return Genotype(-1, samples, pos=node.pos)  # kind fixed by the comparison
        return Fmt(name, d.type, d.number, samples, values, pos=node.pos)

    # -- tree -------------------------------------------------------------------------------
    def check(self, node: Node) -> tuple[Node, Kind]:
        if isinstance(node, Num):
            return node, Kind("num")
        if isinstance(node, Str):
            return node, Kind("str")
        if isinstance(node, Ident):
            typed = self.ident(node)
            if _typed_special(typed):
                return self._special_alone(typed)
            return self.check(typed)
        if isinstance(node, Col):
            if node.name in NUM_COLS:
                return node, Kind("num")
            if node.name in STR_COLS:
                return node, Kind("str")
            return self._special_alone(node)
        if isinstance(node, Info):
            if node.type == "Flag":
                return node, Kind("num")
            return node, Kind("str" if node.type in ("String", "Character") else "num")
        if isinstance(node, Fmt):
            return node, Kind("str" if node.type in ("String", "Character") else "num", True)
        if isinstance(node, Genotype):
            return self._special_alone(node)
        if isinstance(node, Unary):
            operand, kind = self.check(node.operand)
            return Unary(node.op, operand, pos=node.pos), Kind("bool", kind.samples)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Binary):
            return self.binary(node)
        raise _err(f"unsupported expression {type(node).__name__}", node)

    def _special_alone(self, node: Node) -> tuple[Node, Kind]:
        name = node.name if isinstance(node, Col) else "GT"
        raise _err(f"{name} must be compared with a quoted string", node,
                   f'e.g. {name}=="{ {"TYPE": "snp", "FILTER": "PASS"}.get(name, "het")}"')

    def call(self, node: Call) -> tuple[Node, Kind]:
        arg, kind = self.check(node.args[0])
        name = node.name
        if name in ("N_PASS", "F_PASS", "ALL"):
            if kind.kind != "bool" or not kind.samples:
                raise _err(f"the function {name} works with conditions on FORMAT fields", node)
            return Call(name, (arg,), pos=node.pos), Kind("bool" if name == "ALL" else "num")
        if name == "COUNT":
            if kind.kind == "str" and kind.samples:
                raise _err("COUNT of a FORMAT string is not supported", node)
            return Call(name, (arg,), pos=node.pos), Kind("num")
        if name == "STRLEN":
            if kind.kind != "str" or kind.samples:
                raise _err("STRLEN needs a site-level string", node)
            return Call(name, (arg,), pos=node.pos), Kind("num")
        if kind.kind != "num":
            raise _err(f"type mismatch: {name}() needs numbers", node)
        samples = kind.samples and (name in ("ABS", "PHRED") or name.startswith("S"))
        return Call(name, (arg,), pos=node.pos), Kind("num", samples)

    def binary(self, node: Binary) -> tuple[Node, Kind]:
        op = node.op
        if op in LOGIC:
            left, lk = self.check(node.left)
            right, rk = self.check(node.right)
            return Binary(op, left, right, pos=node.pos), Kind("bool", lk.samples or rk.samples)
        if op in COMPARE:
            special = self.special_compare(node)
            if special is not None:
                return special
            if op in ("~", "!~"):
                if not isinstance(node.right, Str):
                    raise _err("wrong value for the regex operator: the right side must be a "
                               "quoted pattern", node.right)
                left, lk = self.check(node.left)
                if lk.kind != "str":
                    raise _err("type mismatch: regular expressions match strings", node)
                pat, icase = node.right.value, False
                if len(pat) > 2 and pat.endswith("/i") and pat[-3] != "\\":
                    pat, icase = pat[:-2], True
                try:
                    re.compile(bre_to_python(pat))
                except re.error as e:
                    raise _err(f"could not compile the regex {pat!r}: {e}", node.right) from None
                return Binary(op, left, Regex(pat, icase, pos=node.right.pos), pos=node.pos), \
                    Kind("bool", lk.samples)
            left, lk = self.check(node.left)
            right, rk = self.check(node.right)
            if op in ("==", "!="):
                if isinstance(right, Str) and right.value == "." and _numeric_field(left):
                    right, rk = Missing(pos=right.pos), Kind("num")
                elif isinstance(left, Str) and left.value == "." and _numeric_field(right):
                    left, lk = Missing(pos=left.pos), Kind("num")
            if "bool" in (lk.kind, rk.kind):
                raise _err("type mismatch: cannot compare the result of a comparison", node)
            if lk.kind != rk.kind:
                raise _err("type mismatch: cannot compare strings and numbers", node)
            if lk.kind == "str" and op not in ("==", "!="):
                raise _err(f"type mismatch: strings support ==, !=, ~ and !~, not {op}", node)
            if lk.kind == "str" and lk.samples and rk.samples:
                raise _err("comparing two FORMAT strings is not supported", node)
            return Binary(op, left, right, pos=node.pos), Kind("bool", lk.samples or rk.samples)
        # arithmetic
        left, lk = self.check(node.left)
        right, rk = self.check(node.right)
        for side, k in ((left, lk), (right, rk)):
            if k.kind != "num":
                raise _err(f"type mismatch: arithmetic needs numbers, not a {k.kind}", side)
        return Binary(op, left, right, pos=node.pos), Kind("num", lk.samples or rk.samples)

    def special_compare(self, node: Binary) -> tuple[Node, Kind] | None:
        """TYPE, FILTER, GT and ID compared with a quoted string have their own semantics."""
        op = node.op
        sides = []
        for a, b in ((node.left, node.right), (node.right, node.left)):
            t = self.ident(a) if isinstance(a, Ident) else a
            sides.append((t, b))
        if isinstance(sides[1][0], Col) and sides[1][0].name == "TYPE":
            raise _err("TYPE must be on the left of the comparison", node)
        for target, other in sides:
            if isinstance(target, Col) and target.name in ("TYPE", "FILTER") or \
                    isinstance(target, Genotype):
                label = "GT" if isinstance(target, Genotype) else target.name
                if op not in ("==", "!=", "~", "!~"):
                    raise _err(f"only ==, !=, ~ and !~ are supported for {label}", node)
                if not isinstance(other, Str):
                    if isinstance(target, Genotype):
                        raise _err("comparison between samples is not supported", node)
                    raise _err(f"{label} must be compared with a quoted string", other)
                if isinstance(target, Col) and target.name == "TYPE":
                    bits = TYPE_BITS.get(other.value.lower())
                    if bits is None:
                        raise _err(f'the type "{other.value}" is not recognised', other,
                                   "use snp, mnp, indel, bnd, other, overlap or ref")
                    return TypeTest(op, bits, pos=node.pos), Kind("bool")
                if isinstance(target, Col):
                    names = tuple(n for n in other.value.split(";") if n != ".")
                    if names and "." in other.value.split(";"):
                        raise _err("a FILTER expression cannot mix '.' and filter names", other)
                    for n in names:
                        if n not in self.schema.filters:
                            raise _err(f'the filter "{n}" is not present in the VCF header',
                                       other, self._hint(n, self.schema.filters))
                    return FilterTest(op, names, pos=node.pos), Kind("bool")
                return self.genotype(node, target, other)
        return None

    def genotype(self, node: Binary, gt: Genotype, other: Str) -> tuple[Node, Kind]:
        key, low = other.value, other.value.lower()
        kind, canon = 0, key
        if low in GT_KEYS3:
            kind, canon = 3, low
        elif low in GT_KEYS4:
            kind, canon = 4, low
        elif key in ("aA", "Aa"):
            kind, canon = 2, "aA"
        elif low in GT_KEYS2:
            kind, canon = 2, GT_KEYS2[low]
        typed = Genotype(kind, gt.samples, pos=gt.pos)
        if node.op in ("~", "!~"):
            pat, icase = canon, False
            if len(pat) > 2 and pat.endswith("/i"):
                pat, icase = pat[:-2], True
            try:
                re.compile(bre_to_python(pat))
            except re.error as e:
                raise _err(f"could not compile the regex {pat!r}: {e}", other) from None
            return Binary(node.op, typed, Regex(pat, icase, pos=other.pos), pos=node.pos), \
                Kind("bool", True)
        return Binary(node.op, typed, Str(canon, pos=other.pos), pos=node.pos), Kind("bool", True)


def _typed_special(node: Node) -> bool:
    return isinstance(node, Genotype) or (isinstance(node, Col) and node.name in ("TYPE",
                                                                                  "FILTER"))


def _numeric_field(node: Node) -> bool:
    if isinstance(node, (Info, Fmt)):
        return node.type in ("Integer", "Float")
    return isinstance(node, Col) and node.name == "QUAL"


def _posix_to_python(pattern: str) -> str:
    """An hts_expr (samtools, ERE) pattern for Python's re."""
    return ere_to_python(pattern)


# =========================================================================================
# reads
# =========================================================================================
READ_STRINGS = ("cigar", "library", "mrname", "qname", "qual", "rname", "rnext", "seq", "name")


def check_reads(node: Node, dialect: str) -> Node:
    """Resolve read/FASTQ symbols; hts_expr types are dynamic, so only literal misuse (a
    string literal in arithmetic) is a static error."""
    if isinstance(node, Ident):
        return RField(node.text, pos=node.pos)
    if isinstance(node, (Num, Str, Tag)):
        return node
    if isinstance(node, Unary):
        operand = check_reads(node.operand, dialect)
        if node.op in "+-~" and _static_str(operand):
            raise _err(f"type mismatch: unary {node.op} needs a number", node)
        return Unary(node.op, operand, pos=node.pos)
    if isinstance(node, Call):
        if node.name not in READ_FUNCS:
            raise _err(f"unknown function {node.name}", node)
        args = tuple(check_reads(a, dialect) for a in node.args)
        if node.name in ("length", "min", "max", "avg") and _static_num(args[0]):
            raise _err(f"type mismatch: {node.name}() needs a string", node)
        return Call(node.name, args, pos=node.pos)
    if isinstance(node, Binary):
        left, right = check_reads(node.left, dialect), check_reads(node.right, dialect)
        if node.op in ("*", "/", "%", "+", "-", "&", "|", "^"):
            for side in (left, right):
                if _static_str(side):
                    raise _err(f"type mismatch: {node.op} needs numbers", side)
        if node.op in ("=~", "!~"):
            if _static_num(left) or _static_num(right):
                raise _err("type mismatch: =~ and !~ match strings", node)
        return Binary(node.op, left, right, pos=node.pos)
    raise _err(f"unsupported expression {type(node).__name__}", node)


def _static_str(node: Node) -> bool:
    return isinstance(node, Str) or (isinstance(node, RField) and node.name in READ_STRINGS)


def _static_num(node: Node) -> bool:
    if isinstance(node, Num):
        return True
    if isinstance(node, RField):
        return node.name not in READ_STRINGS
    if isinstance(node, Binary):
        return True  # every operator yields a number
    if isinstance(node, Unary):
        return True
    if isinstance(node, Call):
        return node.name != "default"
    return False


__all__ = ["VariantChecker", "Kind", "check_reads", "VARIANT_FUNCS"]
