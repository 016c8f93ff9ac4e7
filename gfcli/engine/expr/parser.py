"""One parser, two dialects.

* ``variants``: the bcftools ``-i/-e`` language.  Precedence follows bcftools' operator table:
  ``|| |`` (lowest) < ``&& &`` < comparisons ``== = != < <= > >= ~ !~`` < ``+ -`` < ``* / %``
  < function calls.  bcftools' shunting-yard only pops strictly higher precedence, so operators
  of equal precedence group to the *right* (``10-3-2`` is 9); unary minus is ``-1*(operand)``.
* ``reads``: the samtools ``view -e`` language (htslib hts_expr): C-like, with ``* / %`` <
  ``+ -`` < ``&`` < ``^`` < ``|`` < ``> >= < <=`` < ``== != =~ !~`` < ``&& ||`` (one level,
  left to right).  Comparisons and equalities recurse on their right side, so ``1<2<3`` is
  ``1<(2<3)``.  FASTQ expressions use this dialect with FASTQ symbols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast import Binary, Call, Ident, Node, Num, Str, Tag, Unary
from .errors import ExprError

VARIANTS = "variants"
READS = "reads"
FASTQ = "fastq"
DIALECTS = (VARIANTS, READS, FASTQ)

# bcftools function names (case-insensitive), canonical spelling on the right.
VARIANT_FUNCS = {
    "MAX": "MAX", "MIN": "MIN", "AVG": "AVG", "MEAN": "AVG", "MEDIAN": "MEDIAN",
    "STDEV": "STDEV", "SUM": "SUM", "ABS": "ABS", "STRLEN": "STRLEN", "COUNT": "COUNT",
    "PHRED": "PHRED", "N_PASS": "N_PASS", "F_PASS": "F_PASS",
    "SMPL_MAX": "SMAX", "SMPL_MIN": "SMIN", "SMPL_MEAN": "SAVG", "SMPL_AVG": "SAVG",
    "SMPL_MEDIAN": "SMEDIAN", "SMPL_STDEV": "SSTDEV", "SMPL_SUM": "SSUM",
    "SMAX": "SMAX", "SMIN": "SMIN", "SMEAN": "SAVG", "SAVG": "SAVG", "SMEDIAN": "SMEDIAN",
    "SSTDEV": "SSTDEV", "SSUM": "SSUM",
    "%MAX": "MAX", "%MIN": "MIN", "%AVG": "AVG", "%SUM": "SUM",
    # gfcli extension: true when the condition holds in every (selected) sample.
    "ALL": "ALL",
}
READ_FUNCS = ("length", "min", "max", "avg", "sqrt", "log", "exp", "pow", "default", "exists")

VARIANT_PREC = {
    "||": 2, "|": 2, "&&": 3, "&": 3,
    "==": 5, "=": 5, "!=": 5, "<": 5, "<=": 5, ">": 5, ">=": 5, "~": 5, "!~": 5,
    "+": 6, "-": 6, "*": 7, "/": 7, "%": 7,
}

_NUM = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT_STOP = set("\"' \t\n\r<>=!&|()+*-/~%")


@dataclass(frozen=True)
class Token:
    kind: str  # NUM STR IDENT FUNC OP LP RP COMMA EOF
    text: str
    pos: int
    end: int


def _err(msg: str, src: str, pos: int, hint: str | None = None) -> ExprError:
    return ExprError(msg, expr=src, pos=pos, hint=hint)


# =========================================================================================
# variants (bcftools)
# =========================================================================================
def _variant_tokens(src: str) -> list[Token]:
    toks: list[Token] = []
    i, n = 0, len(src)
    while True:
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            toks.append(Token("EOF", "", n, n))
            return toks
        c = src[i]
        # Numbers: like bcftools, a number must not run straight into letters ("5a" is a tag).
        if c.isdigit() or c == ".":
            m = _NUM.match(src, i)
            if m and (m.end() >= n or not src[m.end()].isalnum()):
                toks.append(Token("NUM", m.group(), i, m.end()))
                i = m.end()
                continue
        # Functions: NAME immediately followed by '('.
        m = re.match(r"%?[A-Za-z_]+\(", src[i:])
        if m and m.group()[:-1].upper() in VARIANT_FUNCS:
            name = m.group()[:-1]
            toks.append(Token("FUNC", VARIANT_FUNCS[name.upper()], i, i + len(name)))
            i += len(name)
            continue
        if c in "\"'":
            j = src.find(c, i + 1)
            if j < 0:
                raise _err("missing closing quote", src, i)
            toks.append(Token("STR", src[i + 1 : j], i, j + 1))
            i = j + 1
            continue
        if c == "@":
            raise _err("@file lists are not supported", src, i)
        two = src[i : i + 2]
        if two in ("!=", "!~", "<=", ">=", "==", "&&", "||"):
            toks.append(Token("OP", two, i, i + 2))
            i += 2
            continue
        if c in "<>=&|+-*/~%!":
            toks.append(Token("OP", c, i, i + 1))
            i += 1
            continue
        if c == "(":
            toks.append(Token("LP", c, i, i + 1))
            i += 1
            continue
        if c == ")":
            toks.append(Token("RP", c, i, i + 1))
            i += 1
            continue
        # Identifier: INFO/, FORMAT/, FMT/ prefixes may contain '/', and inside a subscript
        # everything up to ']' belongs to the token (FMT/AD[0:1-2]).
        j = i
        up = src[i:].upper()
        for prefix in ("INFO/", "FORMAT/", "FMT/"):
            if up.startswith(prefix):
                j += len(prefix)
                break
        depth = 0
        while j < n:
            ch = src[j]
            if depth == 0 and ch in _IDENT_STOP:
                break
            if ch == "]":
                if depth:
                    j += 1
                break
            if ch == "[":
                depth += 1
            j += 1
        if j == i:
            raise _err(f"unexpected character {c!r}", src, i)
        toks.append(Token("IDENT", src[i:j], i, j))
        i = j


class _VariantParser:
    def __init__(self, src: str):
        self.src = src
        self.toks = _variant_tokens(src)
        self.k = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.k]

    def advance(self) -> Token:
        t = self.toks[self.k]
        self.k += 1
        return t

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise _err("empty expression", self.src, 0)
        node = self.expr(0)
        t = self.tok
        if t.kind == "RP":
            raise _err("unbalanced parenthesis: ')' without '('", self.src, t.pos)
        if t.kind != "EOF":
            raise _err("expected an operator", self.src, t.pos)
        return node

    def expr(self, min_prec: int) -> Node:
        left = self.unary()
        while self.tok.kind == "OP" and self.tok.text in VARIANT_PREC:
            prec = VARIANT_PREC[self.tok.text]
            if prec < min_prec:
                break
            op = self.advance()
            # Equal precedence binds to the right, as in bcftools' shunting-yard.
            right = self.expr(prec)
            left = Binary("==" if op.text == "=" else op.text, left, right, pos=op.pos)
        return left

    def unary(self) -> Node:
        t = self.tok
        if t.kind == "OP" and t.text == "-":
            # bcftools rewrites unary minus as -1 * (operand), with '*' precedence.
            self.advance()
            operand = self.expr(VARIANT_PREC["*"])
            return Binary("*", Num(-1.0, "-1", pos=t.pos), operand, pos=t.pos)
        if t.kind == "OP" and t.text == "!":
            # gfcli extension: logical negation of a (parenthesised) condition.
            self.advance()
            return Unary("!", self.unary(), pos=t.pos)
        return self.primary()

    def primary(self) -> Node:
        t = self.advance()
        if t.kind == "NUM":
            return Num(_to_float(t.text), t.text, pos=t.pos)
        if t.kind == "STR":
            return Str(t.text, pos=t.pos)
        if t.kind == "IDENT":
            return Ident(t.text, pos=t.pos)
        if t.kind == "LP":
            node = self.expr(0)
            if self.tok.kind != "RP":
                raise _err("unbalanced parenthesis: '(' is never closed", self.src, t.pos)
            self.advance()
            return node
        if t.kind == "FUNC":
            if self.tok.kind != "LP":
                raise _err("expected '(' after function name", self.src, self.tok.pos)
            lp = self.advance()
            arg = self.expr(0)
            if self.tok.kind != "RP":
                raise _err("unbalanced parenthesis: '(' is never closed", self.src, lp.pos)
            self.advance()
            return Call(t.text, (arg,), pos=t.pos)
        if t.kind == "EOF":
            raise _err("unexpected end of expression", self.src, t.pos)
        if t.kind == "RP":
            raise _err("unbalanced parenthesis: ')' without '('", self.src, t.pos)
        raise _err(f"unexpected {t.text!r}", self.src, t.pos)


def _to_float(text: str) -> float:
    if text[:2].lower() == "0x":
        return float(int(text, 16))
    return float(text)


# =========================================================================================
# reads (samtools / htslib hts_expr) and FASTQ
# =========================================================================================
READ_SYMBOLS = (
    "cigar", "endpos", "flag", "hclen", "library", "mapq", "mpos", "mrname", "mrefid",
    "ncigar", "pos", "pnext", "qlen", "qname", "qual", "rlen", "rname", "rnext", "refid",
    "seq", "sclen", "tlen",
)
FLAG_NAMES = (
    "paired", "proper_pair", "unmap", "munmap", "reverse", "mreverse", "read1", "read2",
    "secondary", "qcfail", "dup", "supplementary",
)
FASTQ_SYMBOLS = ("name", "length", "seq", "qual", "meanq", "gc", "n_count")
_RNUM = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class _ReadParser:
    def __init__(self, src: str, dialect: str):
        self.src = src
        self.i = 0
        self.dialect = dialect
        self.symbols = READ_SYMBOLS if dialect == READS else FASTQ_SYMBOLS

    # hts_expr skips only blanks and tabs.
    def ws(self) -> None:
        while self.i < len(self.src) and self.src[self.i] in " \t":
            self.i += 1

    def peek(self, s: str) -> bool:
        return self.src.startswith(s, self.i)

    def parse(self) -> Node:
        self.ws()
        if self.i >= len(self.src):
            raise _err("empty expression", self.src, 0)
        node = self.and_expr()
        self.ws()
        if self.i < len(self.src):
            c = self.src[self.i]
            if c == ")":
                raise _err("unbalanced parenthesis: ')' without '('", self.src, self.i)
            raise _err("unable to parse the expression here", self.src, self.i)
        return node

    def and_expr(self) -> Node:
        left = self.eq_expr()
        while True:
            self.ws()
            if self.peek("&&") or self.peek("||"):
                op, pos = self.src[self.i : self.i + 2], self.i
                self.i += 2
                left = Binary(op, left, self.eq_expr(), pos=pos)
            else:
                return left

    def eq_expr(self) -> Node:
        left = self.cmp_expr()
        self.ws()
        for op in ("==", "!=", "=~", "!~"):
            if self.peek(op):
                pos = self.i
                self.i += 2
                return Binary(op, left, self.eq_expr(), pos=pos)
        return left

    def cmp_expr(self) -> Node:
        left = self.bitor_expr()
        self.ws()
        for op in (">=", ">", "<=", "<"):
            if self.peek(op):
                pos = self.i
                self.i += len(op)
                return Binary(op, left, self.cmp_expr(), pos=pos)
        return left

    def _left_loop(self, sub, ops) -> Node:
        left = sub()
        while True:
            self.ws()
            matched = None
            for op in ops:
                if self.peek(op) and not (op in "&|" and self.peek(op * 2)):
                    matched = op
                    break
            if matched is None:
                return left
            pos = self.i
            self.i += 1
            left = Binary(matched, left, sub(), pos=pos)

    def bitor_expr(self) -> Node:
        return self._left_loop(self.bitxor_expr, ("|",))

    def bitxor_expr(self) -> Node:
        return self._left_loop(self.bitand_expr, ("^",))

    def bitand_expr(self) -> Node:
        return self._left_loop(self.add_expr, ("&",))

    def add_expr(self) -> Node:
        return self._left_loop(self.mul_expr, ("+", "-"))

    def mul_expr(self) -> Node:
        return self._left_loop(self.unary_expr, ("*", "/", "%"))

    def unary_expr(self) -> Node:
        self.ws()
        pos = self.i
        if self.peek("+") or self.peek("-"):
            op = self.src[self.i]
            self.i += 1
            # hts_expr applies +/- to a simple term, not to another unary operator.
            return Unary(op, self.simple_expr(), pos=pos)
        if self.peek("!") or self.peek("~"):
            op = self.src[self.i]
            self.i += 1
            return Unary(op, self.unary_expr(), pos=pos)
        return self.simple_expr()

    def simple_expr(self) -> Node:
        self.ws()
        src, pos = self.src, self.i
        if self.peek("("):
            self.i += 1
            node = self.and_expr()
            self.ws()
            if not self.peek(")"):
                raise _err("unbalanced parenthesis: '(' is never closed", src, pos)
            self.i += 1
            return node
        # A signed literal is a number here (htslib parses "--5" as -(-5)).
        m = re.compile(r"[+-]?(?:" + _RNUM.pattern + ")").match(src, self.i)
        if m:
            self.i = m.end()
            text = m.group()
            sign = -1.0 if text.startswith("-") else 1.0
            return Num(sign * _to_float(text.lstrip("+-")), text, pos=pos)
        if self.peek('"'):
            return self.string()
        if self.dialect == READS and self.peek("["):
            m = re.compile(r"\[([^\]\x00])([^\]\x00])\]").match(src, self.i)
            if not m:
                raise _err("a tag is two characters in brackets, like [NM]", src, pos)
            self.i = m.end()
            return Tag(m.group(1) + m.group(2), pos=pos)
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(src, self.i)
        if not m:
            raise _err("expected a value, a symbol or '('", src, pos)
        word = m.group()
        # FASTQ has both a `length` field and the read dialect's `length(...)` function: a
        # name followed directly by '(' is the call (as functions are recognised in reads).
        if self.dialect == FASTQ and word in READ_FUNCS and src.startswith("(", m.end()):
            return self.call(word, pos, m.end() + 1)
        # Symbols first, then functions, as htslib does (prefix matches, so "mapqx" fails later).
        for sym in sorted(self.symbols, key=len, reverse=True):
            if word.startswith(sym):
                self.i = pos + len(sym)
                if sym == "flag" and self.dialect == READS and self.peek("."):
                    return self.flag_bit(pos)
                if not src.startswith(word, pos) or len(word) == len(sym):
                    return Ident(sym, pos=pos)
                # "mapqx": htslib consumes "mapq" and then fails on the rest.
                raise _err(f"unknown symbol {word!r}", src, pos, _did_you_mean(word, self))
        fname = word.lower() if word in READ_FUNCS else word
        if fname in READ_FUNCS and src.startswith("(", m.end()):
            return self.call(fname, pos, m.end() + 1)
        raise _err(f"unknown symbol {word!r}", src, pos, _did_you_mean(word, self))

    def flag_bit(self, pos: int) -> Node:
        self.i += 1  # the '.'
        m = re.compile(r"[A-Za-z0-9_]*").match(self.src, self.i)
        word = m.group() if m else ""
        if word in FLAG_NAMES:
            self.i += len(word)
            return Ident("flag." + word, pos=pos)
        hint = _did_you_mean(word, None, FLAG_NAMES)
        raise _err(f"unknown flag name {word!r}", self.src, self.i, hint)

    def call(self, name: str, pos: int, start: int) -> Node:
        self.i = start
        args = [self.and_expr()]
        if name in ("pow", "default"):
            self.ws()
            if not self.peek(","):
                raise _err(f"{name}() takes two arguments", self.src, self.i)
            self.i += 1
            args.append(self.and_expr())
        self.ws()
        if not self.peek(")"):
            raise _err("unbalanced parenthesis: missing ')'", self.src, self.i)
        self.i += 1
        return Call(name, tuple(args), pos=pos)

    def string(self) -> Node:
        src, pos = self.src, self.i
        j = pos + 1
        out = []
        escapes = {'"': '"', "\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
        while j < len(src) and src[j] != '"':
            if src[j] == "\\" and j + 1 < len(src):
                nxt = src[j + 1]
                out.append(escapes.get(nxt, "\\" + nxt))
                j += 2
                continue
            out.append(src[j])
            j += 1
        if j >= len(src):
            raise _err("missing closing quote", src, pos)
        self.i = j + 1
        return Str("".join(out), pos=pos)


def _did_you_mean(word: str, parser: _ReadParser | None, pool=None) -> str | None:
    from .errors import suggest

    if pool is None:
        pool = list(parser.symbols) + list(READ_FUNCS) + ["flag." + f for f in FLAG_NAMES]
    best = suggest(word, pool)
    return f"did you mean {best!r}?" if best else None


def parse(text: str, dialect: str = VARIANTS) -> Node:
    """Parse `text` in the given dialect into a syntax tree (raises ExprError)."""
    if dialect == VARIANTS:
        return _VariantParser(text).parse()
    if dialect in (READS, FASTQ):
        return _ReadParser(text, dialect).parse()
    raise ValueError(f"unknown dialect {dialect!r}")
