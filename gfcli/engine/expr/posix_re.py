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
    """Translate a glibc basic regular expression into Python `re` syntax."""
    # `out` holds atoms; a quantifier joins the atom before it, and a repeated quantifier
    # ('a*\\{2\\}', which glibc accepts) wraps the quantified atom in a group first.
    out: list[str] = []
    opened: list[int] = []  # where each open \( group starts in `out`
    quantified: list[bool] = []  # per atom: already carries a quantifier
    i, n, groups = 0, len(p), 0
    start = True  # where '*' is literal and '^' anchors

    def atom(text: str) -> None:
        nonlocal start
        out.append(text)
        quantified.append(False)
        start = False

    def quantify(q: str) -> None:
        if quantified[-1]:
            out[-1] = "(?:" + out[-1] + ")"
        out[-1] += q
        quantified[-1] = True

    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise re.error("trailing backslash", p, i)
            d = p[i + 1]
            i += 2
            if d == "(":
                groups += 1
                opened.append(len(out))
                out.append("(")
                quantified.append(False)
                start = True
            elif d == ")":
                if not opened:
                    raise re.error("unmatched \\)", p, i - 2)
                at = opened.pop()
                group = "".join(out[at:]) + ")"
                del out[at:], quantified[at:]
                atom(group)
            elif d == "|":
                out.append("|")
                quantified.append(True)  # never quantified: a following '*' is literal
                start = True
            elif d == "{":
                m = re.match(r"(\d*)(,?)(\d*)\\}", p[i:])
                if (not m or start or not (m.group(1) or m.group(3))
                        or (m.group(1) and m.group(3) and int(m.group(1)) > int(m.group(3)))):
                    raise re.error("invalid interval", p, i - 2)
                lo, comma, hi = m.groups()
                quantify("{" + (lo or "0") + comma + hi + "}")
                i += m.end()
            elif d in "+?" and not start:
                quantify(d)
            elif d in "123456789":
                if int(d) > groups:
                    raise re.error("invalid back reference", p, i - 2)
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
                atom(re.escape(d))
            continue
        if c == "[":
            text, i = _bracket(p, i)
            atom(text)
            continue
        i += 1
        if c == "*" and not start:
            if not quantified[-1]:
                quantify("*")
            continue  # glibc folds 'a**' into 'a*'
        if c == "^" and start:
            out.append("^")
            quantified.append(True)
            continue  # '^*': the star is still literal
        if c == "$" and (i == n or p.startswith(("\\)", "\\|"), i)):
            atom("$")
            quantified[-1] = True
            continue
        atom("." if c == "." else re.escape(c))
    if opened:
        raise re.error("unmatched \\(", p, n)
    return "".join(out)


def ere_to_python(p: str) -> str:
    """An extended regular expression (hts_expr) for Python: only the classes differ."""
    for name, chars in _CLASSES.items():
        p = p.replace(f"[:{name}:]", chars)
    return p
