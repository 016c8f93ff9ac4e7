"""POSIX regular expressions for Python's `re`.

bcftools compiles `~`/`!~` patterns with `regcomp(..., REG_NOSUB)` and no REG_EXTENDED:
glibc *basic* syntax (BRE). There `+ ? | ( ) { }` are ordinary characters and the
operators are spelled `\\+ \\? \\| \\( \\) \\{m,n\\}`; `*` is literal at the start of the
pattern or of a group; `^`/`$` anchor only at the ends of the pattern or of a group;
backslash is literal inside brackets; `\\x` for an ordinary x is just x. samtools'
hts_expr uses extended syntax (ERE), which Python's `re` reads nearly as is; both need
the `[:class:]` names Python lacks. A pattern glibc would reject raises `re.error`.
"""

from __future__ import annotations

import re

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "punct": "!-/:-@\\[-`{-~",
    "print": " -~", "graph": "!-~", "cntrl": "\\x00-\\x1f\\x7f", "xdigit": "0-9A-Fa-f",
}
_IN_SET_ESCAPE = set("\\[]&~|^")


def _bracket(p: str, i: int) -> tuple[str, int]:
    """The Python set for the POSIX bracket expression starting at p[i] == '['."""
    j, n = i + 1, len(p)
    out = ["["]
    if j < n and p[j] == "^":
        out.append("^")
        j += 1
    first = True
    while j < n:
        c = p[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and j + 1 < n and p[j + 1] in ":=.":
            kind = p[j + 1]
            end = p.find(kind + "]", j + 2)
            if end < 0:
                raise re.error("unterminated bracket item", p, j)
            name = p[j + 2 : end]
            if kind == ":":
                if name not in _CLASSES:
                    raise re.error(f"invalid character class {name!r}", p, j)
                out.append(_CLASSES[name])
            else:  # [=x=] and [.x.]: the character itself (single characters only)
                if len(name) != 1:
                    raise re.error("unsupported collating element", p, j)
                out.append("\\" + name if name in _IN_SET_ESCAPE else name)
            j = end + 2
            continue
        out.append("\\" + c if c in _IN_SET_ESCAPE else c)
        j += 1
    raise re.error("unmatched [", p, i)


def bre_to_python(p: str) -> str:
    """Translate a glibc basic regular expression (bcftools) into Python `re` syntax."""
    return _translate(p, basic=True)


def ere_to_python(p: str) -> str:
    """Translate a glibc extended regular expression (hts_expr) into Python `re` syntax."""
    return _translate(p, basic=False)


def _translate(p: str, basic: bool) -> str:
    # `out` holds atoms; a quantifier joins the atom before it. A stacked quantifier ('a**',
    # 'a{1}{2}') is an error in BRE and wraps the quantified atom in a group in ERE.
    out: list[str] = []
    opened: list[int] = []  # where each open group starts in `out`
    quantified: list[bool] = []  # per atom: already carries a quantifier
    i, n, groups = 0, len(p), 0
    start = True  # start of the pattern, a group or an alternative

    def atom(text: str) -> None:
        nonlocal start
        out.append(text)
        quantified.append(False)
        start = False

    def marker(text: str) -> None:  # '(' '|' '^': nothing before it can be repeated
        out.append(text)
        quantified.append(True)

    def quantify(q: str, at: int) -> None:
        if start or not out or out[-1] in ("(", "|", "^"):
            if basic:
                raise re.error("invalid preceding regular expression", p, at)
            raise re.error("nothing to repeat", p, at)
        if quantified[-1]:
            if basic or out[-1] == "$":  # BRE: 'a**' is an error; ERE: 'a**' is (a*)*
                raise re.error("invalid preceding regular expression", p, at)
            out[-1] = "(?:" + out[-1] + ")"
        out[-1] += q
        quantified[-1] = True

    def open_group() -> None:
        nonlocal groups, start
        groups += 1
        opened.append(len(out))
        marker("(")
        start = True

    def close_group(at: int) -> None:
        if not opened:
            raise re.error("unmatched )", p, at)
        first = opened.pop()
        group = "".join(out[first:]) + ")"
        del out[first:], quantified[first:]
        atom(group)

    def interval(at: int, close: str) -> int:
        m = re.compile(r"(\d*)(,?)(\d*)" + re.escape(close)).match(p, i)
        if (not m or not (m.group(1) or m.group(3))
                or (m.group(1) and m.group(3) and int(m.group(1)) > int(m.group(3)))):
            raise re.error("invalid interval", p, at)
        lo, comma, hi = m.groups()
        quantify("{" + (lo or "0") + comma + hi + "}", at)
        return m.end()

    while i < n:
        c, at = p[i], i
        i += 1
        if c == "\\":
            if i >= n:
                raise re.error("trailing backslash", p, at)
            d = p[i]
            i += 1
            if basic and d == "(":
                open_group()
            elif basic and d == ")":
                close_group(at)
            elif basic and d == "|":
                marker("|")
                start = True
            elif basic and d == "{":
                i = interval(at, "\\}")
            elif basic and d in "+?" and not start:
                quantify(d, at)
            elif d in "123456789":
                if int(d) > groups:
                    raise re.error("invalid back reference", p, at)
                atom("\\" + d)
            elif d == "<":
                atom(r"\b(?=\w)")
            elif d == ">":
                atom(r"\b(?<=\w)")
            elif d in "bBwWsS":
                atom("\\" + d)
            elif d == "`":
                atom(r"\A")
            elif d == "'":
                atom(r"\Z")
            else:
                atom(re.escape(d))  # '\\d' is a plain 'd' to glibc
            continue
        if c == "[":
            text, i = _bracket(p, at)
            atom(text)
            continue
        if not basic and c == "(":
            open_group()
        elif not basic and c == ")":
            close_group(at)
        elif not basic and c == "|":
            marker("|")
            start = True
        elif not basic and c == "{":
            i = interval(at, "}")
        elif not basic and c in "*+?":
            quantify(c, at)
        elif basic and c == "*" and not start and out[-1] not in ("(", "|", "^"):
            quantify("*", at)
        elif c == "^" and (start or not basic):
            marker("^")
        elif c == "$" and (not basic or i == n or p.startswith(("\\)", "\\|"), i)):
            atom("$")
            quantified[-1] = True  # ERE: 'a$*' is an error
        else:
            atom("." if c == "." else re.escape(c))
    if opened:
        raise re.error("unmatched (", p, n)
    return "".join(out)
