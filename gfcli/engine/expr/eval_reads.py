"""Vectorised evaluation of read (samtools) and FASTQ expressions.

Values follow htslib hts_expr: each is a number or a string, may be undefined (an absent tag,
NaN, or a comparison involving one), and carries an `is_true` override (a present tag is true
even when it is 0).  Comparisons with undefined operands are undefined (false), `!undefined` is
true, `undefined && x` is false, and `x || undefined` is x only when x is true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .ast import Binary, Call, Node, Num, RField, Str, Tag, Unary
from .errors import ExprError
from .typecheck import _posix_to_python

_FLAG_BITS = {
    "paired": 0x1, "proper_pair": 0x2, "unmap": 0x4, "munmap": 0x8, "reverse": 0x10,
    "mreverse": 0x20, "read1": 0x40, "read2": 0x80, "secondary": 0x100, "qcfail": 0x200,
    "dup": 0x400, "supplementary": 0x800,
}
READ_STR_FIELDS = ("qname", "cigar", "seq", "qual", "library", "rname", "rnext", "mrname")


@dataclass
class RV:
    is_str: np.ndarray  # bool (n,)
    s: np.ndarray  # object (n,): str or None (null)
    d: np.ndarray  # float64 (n,): NaN = undefined
    t: np.ndarray  # bool (n,): forced truth

    @property
    def exists(self) -> np.ndarray:
        null = np.array([x is None for x in self.s], dtype=bool)
        return ~(self.is_str & null) & ~(~self.is_str & np.isnan(self.d))

    @property
    def exists_t(self) -> np.ndarray:
        return self.t | self.exists

    @property
    def truthy(self) -> np.ndarray:
        nonnull = np.array([x is not None for x in self.s], dtype=bool)
        with np.errstate(invalid="ignore"):
            num = ~self.is_str & (self.d != 0)
        return self.t | (self.is_str & nonnull) | num


def arithmetic(op: str, a: np.ndarray, b: np.ndarray, both: np.ndarray) -> np.ndarray:
    """`* / % + - & | ^` as hts_expr computes them on numbers (NaN where either side is
    undefined or the result is); shared by the reference and the fast read evaluators."""
    x, y = np.where(both, a, 0.0), np.where(both, b, 1.0)
    with np.errstate(all="ignore"):
        if op == "*":
            d = x * y
        elif op == "/":
            d = x / y
        elif op == "%":
            yi = np.trunc(y).astype(np.int64)
            ok = yi != 0
            d = np.where(ok, np.fmod(np.trunc(x), np.where(ok, yi, 1)), np.nan)
        elif op == "+":
            d = x + y
        elif op == "-":
            d = x - y
        else:
            xi, yi = np.trunc(x).astype(np.int64), np.trunc(y).astype(np.int64)
            d = {"&": xi & yi, "|": xi | yi, "^": xi ^ yi}[op].astype(np.float64)
    return np.where(both, d, np.nan)


def _num(d: np.ndarray, t: np.ndarray | None = None) -> RV:
    n = len(d)
    return RV(np.zeros(n, dtype=bool), np.full(n, None, dtype=object), d.astype(np.float64),
              np.zeros(n, dtype=bool) if t is None else t)


def _str(s: np.ndarray) -> RV:
    n = len(s)
    return RV(np.ones(n, dtype=bool), np.asarray(s, dtype=object), np.zeros(n), np.zeros(n, bool))


def _undef(v: RV, mask: np.ndarray) -> RV:
    d = v.d.copy()
    d[mask] = np.nan
    return RV(v.is_str & ~mask, np.where(mask, None, v.s), d, v.t & ~mask)


class ReadEvaluator:
    def __init__(self, batch, dialect: str = "reads"):
        self.b = batch
        self.n = batch.n
        self.dialect = dialect

    def passes(self, node: Node) -> np.ndarray:
        v = self.ev(node)
        nonnull = np.array([x is not None for x in v.s], dtype=bool)
        with np.errstate(invalid="ignore"):
            num_true = v.exists & (v.d != 0)
        return np.where(v.is_str, v.t | nonnull, v.t | (~v.is_str & num_true))

    def _fail(self, msg: str, node: Node, mask: np.ndarray | None = None) -> None:
        if mask is None or mask.any():
            raise ExprError(msg, pos=node.pos)

    # -- leaves -----------------------------------------------------------------------------
    def field(self, node: RField) -> RV:
        b, name = self.b, node.name
        if self.dialect == "fastq":
            return self.fastq_field(node)
        if name.startswith("flag."):
            return _num((b.flag.astype(np.int64) & _FLAG_BITS[name[5:]]).astype(np.float64))
        alias = {"pnext": "mpos", "rnext": "mrname"}.get(name, name)
        if alias == "rname":
            return _str(np.array([b.contigs[i] if i >= 0 else "*" for i in b.refid], dtype=object))
        if alias == "mrname":
            return _str(np.array([b.contigs[i] if i >= 0 else "*" for i in b.mrefid],
                                 dtype=object))
        col = getattr(b, alias, None)
        if col is None:
            raise ExprError(f"the batch has no {name} column (projection bug)", pos=node.pos)
        if alias in READ_STR_FIELDS:
            return _str(col)
        return _num(np.asarray(col, dtype=np.float64))

    def fastq_field(self, node: RField) -> RV:
        b, name = self.b, node.name
        if name == "name":
            return _str(b.name)
        if name == "seq":
            return _str(b.seq)
        if name == "qual":
            return _str(b.qual)
        if name == "length":
            return _num(np.array([len(s) for s in b.seq], dtype=np.float64))
        if name == "meanq":
            return _num(np.array([np.frombuffer(q.encode(), np.uint8).mean() - 33 if q else
                                  np.nan for q in b.qual]))
        if name == "gc":
            return _num(np.array([(s.upper().count("G") + s.upper().count("C")) / len(s)
                                  if s else np.nan for s in b.seq]))
        if name == "n_count":
            return _num(np.array([s.upper().count("N") for s in b.seq], dtype=np.float64))
        raise ExprError(f"unknown FASTQ field {name}", pos=node.pos)

    def tag(self, node: Tag) -> RV:
        col = self.b.tags.get(node.name)
        n = self.n
        is_str = np.ones(n, dtype=bool)
        s = np.full(n, None, dtype=object)
        d = np.zeros(n)
        t = np.zeros(n, dtype=bool)
        if col is not None:
            for r, v in enumerate(col):
                if v is None:
                    continue
                t[r] = True
                if isinstance(v, str):
                    s[r] = v
                elif isinstance(v, (int, float, np.integer, np.floating)):
                    is_str[r] = False
                    d[r] = float(v)
                else:
                    raise ExprError(f"aux tag {node.name} of this type is not supported by "
                                    "filters", pos=node.pos)
        return RV(is_str, s, d, t)

    # -- tree -------------------------------------------------------------------------------
    def ev(self, node: Node) -> RV:
        n = self.n
        if isinstance(node, Num):
            return _num(np.full(n, node.value))
        if isinstance(node, Str):
            return _str(np.full(n, node.value, dtype=object))
        if isinstance(node, RField):
            return self.field(node)
        if isinstance(node, Tag):
            return self.tag(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Binary):
            return self.binary(node)
        raise ExprError(f"cannot evaluate {type(node).__name__}", pos=node.pos)

    def unary(self, node: Unary) -> RV:
        v = self.ev(node.operand)
        ex = v.exists
        if node.op in "+-~":
            self._fail(f"type mismatch: {node.op} applied to a string", node, ex & v.is_str)
            d = v.d.copy()
            if node.op == "-":
                d = -d
            elif node.op == "~":
                with np.errstate(invalid="ignore"):
                    d = np.where(ex, ~np.nan_to_num(d).astype(np.int64), np.nan).astype(float)
            d[~ex] = np.nan
            with np.errstate(invalid="ignore"):
                return _num(d, ex & (d != 0))
        # '!'
        nonnull = np.array([x is not None for x in v.s], dtype=bool)
        with np.errstate(invalid="ignore"):
            numval = ~(np.nan_to_num(v.d).astype(np.int64) != 0)
        res = np.where(v.t, False, np.where(~ex, ~v.t, np.where(v.is_str, ~nonnull, numval)))
        return _num(res.astype(np.float64), res)

    def binary(self, node: Binary) -> RV:
        op = node.op
        a, b = self.ev(node.left), self.ev(node.right)
        if op in ("&&", "||"):
            ea, eb = a.exists_t, b.exists_t
            ta, tb = a.truthy, b.truthy
            if op == "&&":
                undef = ~ea | ~eb
                res = ta & tb & ~undef
            else:
                undef = (~ea & ~eb) | (~ea & ~tb) | (~eb & ~ta)
                res = (ta | tb) & ~undef
            return _num(res.astype(np.float64), res)
        ea, eb = a.exists, b.exists
        both = ea & eb
        if op in ("*", "/", "%", "+", "-", "&", "|", "^"):
            self._fail(f"type mismatch: {op} applied to a string", node,
                       both & (a.is_str | b.is_str))
            d = arithmetic(op, a.d, b.d, both)
            with np.errstate(invalid="ignore"):
                return _num(d, ~np.isnan(d) & (d != 0))
        if op in ("=~", "!~"):
            self._fail("type mismatch: =~ and !~ need strings on both sides", node,
                       ~(a.is_str & b.is_str))
            res = np.zeros(self.n, dtype=bool)
            cache: dict[str, re.Pattern] = {}
            for r in range(self.n):
                if a.s[r] is None or b.s[r] is None:
                    continue
                pat = b.s[r]
                if pat not in cache:
                    try:
                        cache[pat] = re.compile(_posix_to_python(pat))
                    except re.error as e:
                        raise ExprError(f"failed regex: {e}", pos=node.pos) from None
                hit = cache[pat].search(a.s[r]) is not None
                res[r] = hit if op == "=~" else not hit
            d = res.astype(np.float64)
            d[~both] = np.nan
            return _num(d, res & both)
        # comparisons
        res = np.zeros(self.n, dtype=bool)
        num = ~a.is_str & ~b.is_str & both
        f = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
             ">": np.greater, ">=": np.greater_equal}[op]
        with np.errstate(invalid="ignore"):
            res[num] = f(a.d[num], b.d[num])
        for r in np.nonzero(both & a.is_str)[0]:
            if b.is_str[r] and a.s[r] is not None and b.s[r] is not None:
                res[r] = f(a.s[r], b.s[r])
            elif op == "!=":
                res[r] = True
        if op == "!=":
            res |= both & ~a.is_str & b.is_str
        d = res.astype(np.float64)
        d[~both] = np.nan
        return _num(d, res & both)

    def call(self, node: Call) -> RV:
        name = node.name
        a = self.ev(node.args[0])
        n = self.n
        if name in ("length", "min", "max", "avg"):
            self._fail(f"type mismatch: {name}() needs a string", node, ~a.is_str)
            out = np.full(n, np.nan)
            for r in range(n):
                s = a.s[r]
                data = np.frombuffer(s.encode("latin-1"), np.uint8) if s else np.zeros(0, np.uint8)
                if name == "length":
                    out[r] = len(data)
                elif name == "avg":
                    out[r] = data.mean() if data.size else 0.0
                elif data.size:
                    out[r] = data.min() if name == "min" else data.max()
            with np.errstate(invalid="ignore"):
                return _num(out, np.zeros(n, dtype=bool))
        if name in ("sqrt", "log", "exp"):
            with np.errstate(all="ignore"):
                x = np.where(a.is_str, 0.0, a.d)
                d = {"sqrt": np.sqrt, "log": np.log, "exp": np.exp}[name](x)
            return _num(d)
        if name == "pow":
            b = self.ev(node.args[1])
            both = a.exists & b.exists
            self._fail("type mismatch: pow() needs numbers", node, both & (a.is_str | b.is_str))
            with np.errstate(all="ignore"):
                d = np.where(both, np.power(a.d, b.d), np.nan)
            return _num(d)
        if name == "exists":
            e = a.exists_t
            return _num(e.astype(np.float64), e)
        if name == "default":
            b = self.ev(node.args[1])
            use_b = ~a.exists_t
            return RV(np.where(use_b, b.is_str, a.is_str), np.where(use_b, b.s, a.s),
                      np.where(use_b, b.d, a.d), np.where(use_b, b.t, a.t))
        raise ExprError(f"unknown function {name}", pos=node.pos)
