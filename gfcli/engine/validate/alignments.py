"""SAM v1 semantics shared by SAM text, BAM and CRAM: header records and alignment records.

SAM text is parsed here column by column; BAM (bam.py) and CRAM (hts.py) decode their
records into the same `Aln` and go through the same checks, so a rule means one thing
whatever the container. Memory is constant except with `--mates`, which must hold each
read until its mate arrives (as Picard does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gfcli.engine.validate.reporter import ChunkCheck, Defer, Sink, quote
from gfcli.engine.validate.rules import ERROR, WARNING, rule

HEADER_SYNTAX = rule(
    "sam.header-syntax", ERROR,
    "header lines are @XX followed by tab-separated TG:value fields (@CO: free text)",
)
HD = rule("sam.hd", ERROR, "one @HD, first, with VN (major.minor) and a valid SO/GO")
SQ = rule("sam.sq", ERROR, "@SQ lines have a unique, valid SN and LN in 1..2^31-1")
RG = rule("sam.rg", ERROR, "@RG lines have a unique ID")
PG = rule("sam.pg", ERROR, "@PG lines have a unique ID; PP refers to an existing @PG")
COLUMNS = rule("sam.column-count", ERROR, "alignment lines have at least 11 tab-separated columns")
QNAME = rule("sam.qname", ERROR, "QNAME is 1-254 characters of [!-?A-~] or '*'")
FLAG = rule("sam.flag", ERROR, "FLAG is an integer in 0..65535")
FLAG_CONSISTENCY = rule(
    "sam.flag-consistency", ERROR,
    "mate flags (0x2 0x8 0x20 0x40 0x80) need 0x1; unmapped reads are not 0x100/0x800",
)
RNAME = rule("sam.rname", ERROR, "RNAME is '*' or an @SQ name; mapped reads have one")
POS = rule("sam.pos", ERROR, "POS is an integer in 0..2^31-1, within the reference; mapped: >= 1")
MAPQ = rule("sam.mapq", ERROR, "MAPQ is an integer in 0..255")
MAPQ_UNMAPPED = rule("sam.mapq-unmapped", ERROR, "unmapped reads have MAPQ 0")
CIGAR = rule(
    "sam.cigar", ERROR,
    "CIGAR is '*' or valid operations (H only at the ends, S only next to them); mapped reads "
    "have one",
)
CIGAR_SEQ = rule(
    "sam.cigar-seq-length", ERROR, "the query length the CIGAR implies equals the SEQ length",
)
RNEXT = rule("sam.rnext", ERROR, "RNEXT is '*', '=' or an @SQ name")
PNEXT = rule("sam.pnext", ERROR, "PNEXT is an integer in 0..2^31-1")
TLEN = rule("sam.tlen", ERROR, "TLEN is an integer in -2^31+1..2^31-1")
MATE_FIELDS = rule(
    "sam.mate-fields", ERROR,
    "RNEXT/PNEXT/TLEN agree: no PNEXT without RNEXT, TLEN only when both ends are on one "
    "reference, mapped mates named",
)
SEQ = rule("sam.seq", ERROR, "SEQ is '*' or letters, '=' and '.'")
QUAL_LENGTH = rule("sam.qual-length", ERROR, "QUAL is '*' or as long as SEQ")
QUAL_RANGE = rule("sam.qual-range", ERROR, "QUAL characters lie in '!'..'~' (Phred 0-93)")
TAG = rule("sam.tag", ERROR, "optional fields are TG:TYPE:VALUE, unique, with values of their type")
UNSORTED = rule("sam.unsorted", ERROR, "the records follow the @HD SO order")
MATE_MISSING = rule("sam.mate-missing", WARNING, "with --mates: a paired read whose mate is absent")
MATE_MISMATCH = rule(
    "sam.mate-mismatch", ERROR,
    "with --mates: RNEXT/PNEXT, mate strand, mate unmapped flag, TLEN and first/last flags "
    "agree with the mate's record",
)

_HEADER_TYPE = re.compile(r"^@[A-Za-z][A-Za-z]$")
_HEADER_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9]$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+$")
_REF_NAME = re.compile(r"^[0-9A-Za-z!#$%&+./:;?@^_|~\-][0-9A-Za-z!#$%&*+./:;=?@^_|~\-]*$")
_QNAME = re.compile(r"^[!-?A-~]{1,254}$")
_INT = re.compile(r"^-?\d+$")
_CIGAR_OP = re.compile(r"(\d+)([MIDNSHPX=])")
_CIGAR_FULL = re.compile(r"^(\d+[MIDNSHPX=])+$")
_SEQ = re.compile(r"^[A-Za-z=.]+$")
_QUAL_BAD = re.compile(r"[^!-~]")
_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]$")
_FLOAT = re.compile(
    r"^[-+]?(\d*\.?\d+([eE][-+]?\d+)?|\d+\.|[Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)$"
)
_HEX = re.compile(r"^([0-9A-F][0-9A-F])*$")
_PRINTABLE = re.compile(r"^[ !-~]*$")
_INT_RANGES = {
    "c": (-(2**7), 2**7 - 1), "C": (0, 2**8 - 1), "s": (-(2**15), 2**15 - 1),
    "S": (0, 2**16 - 1), "i": (-(2**31), 2**31 - 1), "I": (0, 2**32 - 1),
}
POS_MAX = 2**31 - 1
QUERY_OPS = frozenset("MIS=X")
REF_OPS = frozenset("MDN=X")
SORT_ORDERS = ("unknown", "unsorted", "queryname", "coordinate")
GROUP_ORDERS = ("none", "query", "reference")


@dataclass
class Aln:
    """One alignment record, decoded from SAM text, BAM or CRAM."""

    qname: str
    flag: int
    ref_id: int  # index in the @SQ list; -1 for '*'; -2 for a name not in @SQ
    rname: str
    pos: int  # 1-based; 0 for none
    mapq: int
    cigar: list[tuple[str, int]] | None  # None for '*'
    next_ref_id: int  # as ref_id, plus -3 for '='
    rnext: str
    pnext: int  # 1-based; 0 for none
    tlen: int
    seq_len: int | None  # None for '*'
    qual_len: int | None  # None for '*'


@dataclass
class _Mate:
    flag: int
    ref_id: int
    pos: int
    next_ref_id: int
    pnext: int
    tlen: int
    line: int | None


@dataclass
class AlignmentChecker(ChunkCheck):
    """Header and record checks, the order check and the `--mates` bookkeeping."""

    reporter: Sink
    mates: bool = False
    line: int | None = None
    offset: int | None = None
    block: int | None = None
    records: int = 0
    refs: dict[str, int] = field(default_factory=dict)  # name -> index in @SQ order
    lengths: list[int | None] = field(default_factory=list)
    rg_ids: set[str] = field(default_factory=set)
    pg_ids: set[str] = field(default_factory=set)
    pg_parents: list[tuple[int | None, str]] = field(default_factory=list)
    sort_order: str | None = None
    header_lines: int = 0
    note: str = ""  # prefix for messages, e.g. "header line 3: " in binary formats
    text_refs_are_refs: bool = True  # BAM/CRAM: the binary reference list is authoritative
    text_sq: list[tuple[str, int | None]] = field(default_factory=list)
    _prev_key: tuple[int, int] | None = None
    _prev_name: str | None = None
    _pending: dict[str, _Mate] = field(default_factory=dict)
    # On a chunk of a file (-@): the order check of the chunk's first record and every
    # --mates check go to the parent, which has the previous chunks' state.
    defer: Defer | None = None

    # ------------------------------------------------------------------ chunks (-@)

    _HEADER_STATE = ("refs", "lengths", "rg_ids", "pg_ids", "sort_order", "header_lines",
                     "text_refs_are_refs")

    def chunk_state(self) -> tuple[object, ...]:
        return (self._prev_key, self._prev_name)

    def merge_chunk_state(self, state: tuple[object, ...]) -> None:
        prev_key, prev_name = state
        if prev_key is not None:
            self._prev_key = prev_key  # type: ignore[assignment]
        if prev_name is not None:
            self._prev_name = prev_name  # type: ignore[assignment]

    def _r(self, rule_id: str, message: str) -> None:
        self.reporter.report(rule_id, self.line, self.note + message, offset=self.offset,
                             block=self.block)

    # ------------------------------------------------------------------ header

    def header_line(self, line: str, number: int | None) -> None:
        self.line = number
        self.header_lines += 1
        first = self.header_lines == 1
        kind, _, rest = line.partition("\t")
        if not _HEADER_TYPE.match(kind):
            self._r(HEADER_SYNTAX, f"{quote(line)} is not a header line (@XX<TAB>...)")
            return
        if kind == "@CO":
            return
        fields: dict[str, str] = {}
        for item in rest.split("\t") if rest else []:
            tag, colon, value = item.partition(":")
            if not colon or not _HEADER_TAG.match(tag):
                self._r(HEADER_SYNTAX, f"{kind} field {quote(item)} is not TG:value")
                continue
            if tag in fields:
                self._r(HEADER_SYNTAX, f"{kind} has the field {tag} twice")
            fields[tag] = value
        if kind == "@HD":
            self._hd(fields, first)
        elif kind == "@SQ":
            self._sq(fields)
        elif kind == "@RG":
            rid = fields.get("ID")
            if not rid:
                self._r(RG, "@RG without ID")
            elif rid in self.rg_ids:
                self._r(RG, f"@RG ID {quote(rid)} is not unique")
            else:
                self.rg_ids.add(rid)
        elif kind == "@PG":
            pid = fields.get("ID")
            if not pid:
                self._r(PG, "@PG without ID")
            elif pid in self.pg_ids:
                self._r(PG, f"@PG ID {quote(pid)} is not unique")
            else:
                self.pg_ids.add(pid)
            if "PP" in fields:
                self.pg_parents.append((number, fields["PP"]))
        else:
            self._r(HEADER_SYNTAX, f"unknown header record type {kind}")

    def _hd(self, fields: dict[str, str], first: bool) -> None:
        if not first:
            self._r(HD, "@HD is not the first header line (or appears twice)")
        version = fields.get("VN")
        if version is None:
            self._r(HD, "@HD without VN")
        elif not _VERSION.match(version):
            self._r(HD, f"@HD VN {quote(version)} is not major.minor")
        so = fields.get("SO")
        if so is not None:
            if so not in SORT_ORDERS:
                self._r(HD, f"@HD SO {quote(so)} is not one of {', '.join(SORT_ORDERS)}")
            elif first:
                self.sort_order = so
        go = fields.get("GO")
        if go is not None and go not in GROUP_ORDERS:
            self._r(HD, f"@HD GO {quote(go)} is not one of {', '.join(GROUP_ORDERS)}")

    def _sq(self, fields: dict[str, str]) -> None:
        name = fields.get("SN")
        length_text = fields.get("LN")
        if name is None:
            self._r(SQ, "@SQ without SN")
            return
        if not _REF_NAME.match(name):
            self._r(SQ, f"@SQ SN {quote(name)} is not a valid reference name")
        length: int | None = None
        if length_text is None:
            self._r(SQ, f"@SQ {quote(name)} without LN")
        elif _int_field(length_text, 1, POS_MAX) is None:
            self._r(SQ, f"@SQ {quote(name)}: LN {quote(length_text)} is not in 1..{POS_MAX}")
        else:
            length = int(length_text)
        if len(self.text_sq) < 1_000_000:
            self.text_sq.append((name, length))
        if not self.text_refs_are_refs:
            return
        if name in self.refs:
            self._r(SQ, f"@SQ SN {quote(name)} is not unique")
            return
        self.add_reference(name, length)

    def add_reference(self, name: str, length: int | None) -> None:
        self.refs[name] = len(self.lengths)
        self.lengths.append(length)

    def end_header(self) -> None:
        for number, parent in self.pg_parents:
            if parent not in self.pg_ids:
                self.line = number
                self._r(PG, f"@PG PP {quote(parent)} names no @PG ID")
        self.pg_parents.clear()

    # ------------------------------------------------------------------ records

    def text_record(self, line: str, number: int) -> None:
        """One SAM text alignment line: syntax of each column, then the shared checks."""
        self.line = number
        self.records += 1
        cols = line.split("\t")
        if len(cols) < 11:
            self._r(COLUMNS, f"{len(cols)} columns, at least 11 expected (tabs missing?)")
            return
        qname, flag_t, rname, pos_t, mapq_t, cigar_t, rnext, pnext_t, tlen_t, seq, qual = cols[:11]
        ok = True
        flag = _int_field(flag_t, 0, 65535)
        if flag is None:
            self._r(FLAG, f"FLAG {quote(flag_t)} is not an integer in 0..65535")
            ok = False
        pos = _int_field(pos_t, 0, POS_MAX)
        if pos is None:
            self._r(POS, f"POS {quote(pos_t)} is not an integer in 0..{POS_MAX}")
            ok = False
        mapq = _int_field(mapq_t, 0, 255)
        if mapq is None:
            self._r(MAPQ, f"MAPQ {quote(mapq_t)} is not an integer in 0..255")
            ok = False
        pnext = _int_field(pnext_t, 0, POS_MAX)
        if pnext is None:
            self._r(PNEXT, f"PNEXT {quote(pnext_t)} is not an integer in 0..{POS_MAX}")
            ok = False
        tlen = _int_field(tlen_t, -POS_MAX, POS_MAX)
        if tlen is None:
            self._r(TLEN, f"TLEN {quote(tlen_t)} is not an integer in -{POS_MAX}..{POS_MAX}")
            ok = False
        cigar: list[tuple[str, int]] | None = None
        if cigar_t != "*":
            if not _CIGAR_FULL.match(cigar_t):
                self._r(CIGAR, f"CIGAR {quote(cigar_t)} is not a list of <length><op>")
                ok = False
            else:
                pairs = _CIGAR_OP.findall(cigar_t)
                if any(len(n) > 9 or int(n) >= 1 << 28 for n, _ in pairs):
                    # BAM stores an operation length in 28 bits.
                    self._r(CIGAR, "a CIGAR operation longer than 2^28-1")
                    ok = False
                else:
                    cigar = [(op, int(n)) for n, op in pairs]
        if seq != "*" and not _SEQ.match(seq):
            bad = re.search(r"[^A-Za-z=.]", seq)
            where = f" at position {bad.start() + 1}" if bad else ""
            self._r(SEQ, f"SEQ has the character {quote(bad.group() if bad else seq)}{where}")
        if qual != "*":
            bad = _QUAL_BAD.search(qual)
            if bad is not None:
                self._r(QUAL_RANGE, f"QUAL character {quote(bad.group())} at position "
                                    f"{bad.start() + 1} is outside '!'..'~'")
        self._text_tags(cols[11:])
        ref_id = -1 if rname == "*" else self.refs.get(rname, -2)
        if ref_id == -2 and not _REF_NAME.match(rname):
            self._r(RNAME, f"RNAME {quote(rname)} is not a valid reference name")
        next_ref_id = -1 if rnext == "*" else -3 if rnext == "=" else self.refs.get(rnext, -2)
        if next_ref_id == -2:
            self._r(RNEXT, f"RNEXT {quote(rnext)} is not '*', '=' or an @SQ name")
        if not ok or flag is None or pos is None or mapq is None or pnext is None or tlen is None:
            return
        self.check(Aln(qname, flag, ref_id, rname, pos, mapq, cigar, next_ref_id, rnext, pnext,
                       tlen, None if seq == "*" else len(seq),
                       None if qual == "*" else len(qual)))

    def _text_tags(self, items: list[str]) -> None:
        seen: set[str] = set()
        for item in items:
            parts = item.split(":", 2)
            if len(parts) != 3:
                self._r(TAG, f"optional field {quote(item)} is not TG:TYPE:VALUE")
                continue
            tag, type_, value = parts
            if not _TAG_NAME.match(tag):
                self._r(TAG, f"invalid tag name {quote(tag)}")
            elif tag in seen:
                self._r(TAG, f"tag {tag} appears twice")
            seen.add(tag)
            why = text_tag_problem(type_, value)
            if why is not None:
                self._r(TAG, f"tag {tag}:{quote(type_)}: {why}")

    def check(self, a: Aln) -> None:
        """The checks every container shares."""
        flag = a.flag
        if a.qname != "*" and not _QNAME.match(a.qname):
            self._r(QNAME, f"QNAME {quote(a.qname)} is not 1-254 characters of [!-?A-~]")
        unmapped = bool(flag & 0x4)
        if not flag & 0x1 and flag & 0xEA:
            self._r(FLAG_CONSISTENCY, f"FLAG {flag} has mate flags (0x{flag & 0xEA:x}) but not "
                                      "0x1 (paired)")
        if unmapped and flag & 0x900:
            self._r(FLAG_CONSISTENCY, f"FLAG {flag}: an unmapped read cannot be secondary or "
                                      "supplementary")
        if a.ref_id == -2:
            self._r(RNAME, f"RNAME {quote(a.rname)} is not declared by @SQ")
        elif not unmapped and a.ref_id == -1:
            self._r(RNAME, "a mapped read (no 0x4) without RNAME")
        if not unmapped and a.pos == 0:
            self._r(POS, "a mapped read (no 0x4) with POS 0")
        if a.ref_id >= 0 and a.pos > 0:
            length = self.lengths[a.ref_id] if a.ref_id < len(self.lengths) else None
            if length is not None and a.pos > length:
                self._r(POS, f"POS {a.pos} is beyond the end of {quote(a.rname)} ({length})")
        if unmapped and a.mapq != 0:
            self._r(MAPQ_UNMAPPED, f"an unmapped read with MAPQ {a.mapq}")
        if a.cigar is not None:
            self._cigar(a)
        elif not unmapped:
            self._r(CIGAR, "a mapped read (no 0x4) without CIGAR")
        if a.qual_len is not None and a.qual_len != (a.seq_len or 0):
            what = "SEQ is '*'" if a.seq_len is None else f"SEQ has {a.seq_len} bases"
            self._r(QUAL_LENGTH, f"QUAL has {a.qual_len} characters, {what}")
        self._mate_fields(a)
        self._order(a)
        if self.mates and flag & 0x1 and not flag & 0x900:
            self._mate(a)

    def _cigar(self, a: Aln) -> None:
        ops = a.cigar or []
        n = len(ops)
        query = 0
        for i, (op, length) in enumerate(ops):
            if length == 0:
                self._r(CIGAR, f"CIGAR operation {i + 1} ({op}) has length 0")
                return
            if op == "H" and 0 < i < n - 1:
                self._r(CIGAR, "H (hard clip) in the middle of the CIGAR")
                return
            if op == "S":
                leading = all(o == "H" for o, _ in ops[:i])
                trailing = all(o == "H" for o, _ in ops[i + 1 :])
                if not leading and not trailing:
                    self._r(CIGAR, "S (soft clip) not at an end of the CIGAR")
                    return
            if op in QUERY_OPS:
                query += length
        if a.seq_len is not None and query != a.seq_len:
            self._r(CIGAR_SEQ, f"the CIGAR implies {query} query bases, SEQ has {a.seq_len}")

    def _mate_fields(self, a: Aln) -> None:
        if a.next_ref_id == -1 and a.pnext != 0:
            self._r(MATE_FIELDS, f"PNEXT {a.pnext} without RNEXT")
        if a.tlen != 0 and a.next_ref_id not in (-3, a.ref_id):
            self._r(MATE_FIELDS, f"TLEN {a.tlen} while the mate is on another or no reference")
        if a.flag & 0x1 and not a.flag & 0x8 and a.next_ref_id == -1:
            self._r(MATE_FIELDS, "the mate is mapped (no 0x8) but RNEXT is '*'")

    def _order(self, a: Aln) -> None:
        if self.sort_order == "coordinate":
            # Unplaced reads (no reference) sort after every placed one.
            if a.ref_id == -2:
                return
            key = (a.ref_id if a.ref_id >= 0 else 1 << 40, a.pos)
            rname = a.rname if a.ref_id >= 0 else None
            if self.defer is not None and self._prev_key is None:
                self.defer("order_key", self.line, (key, rname), self.offset, self.block)
                self._prev_key = key
            else:
                self.order_key(key, rname)
        elif self.sort_order == "queryname":
            if self.defer is not None and self._prev_name is None:
                self.defer("order_name", self.line, (a.qname,), self.offset, self.block)
                self._prev_name = a.qname
            else:
                self.order_name(a.qname)

    def order_key(self, key: tuple[int, int], rname: str | None) -> None:
        prev = self._prev_key
        if prev is not None and key < prev:
            where = "unplaced" if rname is None else f"{rname}:{key[1]}"
            self._r(UNSORTED, f"record at {quote(where)} comes after a later one (SO:coordinate)")
        self._prev_key = key

    def order_name(self, qname: str) -> None:
        prev_name = self._prev_name
        if prev_name is not None and qname < prev_name and len(qname) <= 254 and (
                len(prev_name) <= 254 and natural_key(qname) < natural_key(prev_name)):
            self._r(UNSORTED, f"QNAME {quote(qname)} comes after {quote(prev_name)} "
                              "(SO:queryname)")
        self._prev_name = qname

    # ------------------------------------------------------------------ --mates

    def _mate(self, a: Aln) -> None:
        fields = (a.qname, a.flag, a.ref_id, a.pos,
                  a.next_ref_id if a.next_ref_id != -3 else a.ref_id, a.pnext, a.tlen)
        if self.defer is not None:
            self.defer("mate", self.line, fields, self.offset, self.block)
        else:
            self.mate(*fields)

    def mate(self, qname: str, flag: int, ref_id: int, pos: int, next_ref_id: int, pnext: int,
             tlen: int) -> None:
        """Pair a read with the pending one of its name, or keep it until its mate comes."""
        this = _Mate(flag, ref_id, pos, next_ref_id, pnext, tlen, self.line)
        other = self._pending.pop(qname, None)
        if other is None:
            self._pending[qname] = this
            return
        problems: list[str] = []
        for x, y, label in ((this, other, "this read"), (other, this, "its mate")):
            if not x.flag & 0x8 and not y.flag & 0x4 and (x.next_ref_id, x.pnext) != (
                    y.ref_id, y.pos):
                problems.append(f"{label} says the mate is at #{x.next_ref_id}:{x.pnext}, it is "
                                f"at #{y.ref_id}:{y.pos}")
            if bool(x.flag & 0x20) != bool(y.flag & 0x10):
                problems.append(f"{label}'s mate-reverse flag 0x20 does not match the mate's "
                                "strand")
            if bool(x.flag & 0x8) != bool(y.flag & 0x4):
                problems.append(f"{label}'s mate-unmapped flag 0x8 does not match the mate")
        if this.tlen != -other.tlen and not (this.flag | other.flag) & 0x4:
            problems.append(f"TLEN {this.tlen} and the mate's {other.tlen} are not opposite")
        if (this.flag & 0xC0, other.flag & 0xC0) not in ((0x40, 0x80), (0x80, 0x40)):
            problems.append("the pair is not one 0x40 (first) and one 0x80 (last) read")
        if problems:
            self._r(MATE_MISMATCH, f"{quote(qname)} (mate at line/record {other.line}): "
                                   + "; ".join(problems[:3]))

    def finish(self) -> None:
        if self.mates:
            for qname, mate in self._pending.items():
                self.line = mate.line
                self.offset = self.block = None
                self._r(MATE_MISSING, f"the mate of {quote(qname)} is not in the file")
            self._pending.clear()


def _int_field(text: str, low: int, high: int) -> int | None:
    if not _INT.match(text) or len(text) > 12:
        return None
    value = int(text)
    return value if low <= value <= high else None


def natural_key(name: str) -> list[object]:
    """samtools' queryname order: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def text_tag_problem(type_: str, value: str) -> str | None:
    """Why a SAM text TYPE:VALUE is invalid, or None."""
    if type_ == "A":
        return None if len(value) == 1 and "!" <= value <= "~" else "not one printable character"
    if type_ == "i":
        if not _INT.match(value) or len(value) > 12:
            return f"{quote(value)} is not an integer"
        if not -(2**31) <= int(value) <= 2**32 - 1:
            return f"{value} is outside the 32-bit range"
        return None
    if type_ == "f":
        return None if _FLOAT.match(value) else f"{quote(value)} is not a number"
    if type_ == "Z":
        return None if _PRINTABLE.match(value) else "non-printable characters in a Z string"
    if type_ == "H":
        return None if _HEX.match(value) else f"{quote(value)} is not upper-case hex byte pairs"
    if type_ == "B":
        sub, _, rest = value.partition(",")
        if sub not in _INT_RANGES and sub != "f":
            return f"array subtype {quote(sub)} is not one of cCsSiIf"
        if not rest:
            return None
        for item in rest.split(","):
            if sub == "f":
                if not _FLOAT.match(item):
                    return f"array value {quote(item)} is not a number"
            else:
                low, high = _INT_RANGES[sub]
                if not _INT.match(item) or len(item) > 12 or not low <= int(item) <= high:
                    return f"array value {quote(item)} does not fit subtype {sub}"
        return None
    return f"unknown type {quote(type_)} (A, i, f, Z, H or B)"
