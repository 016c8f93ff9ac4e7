"""VCF 4.0-4.5 text: header model and per-record checks, one line at a time.

The checker keeps only the header model (INFO/FORMAT/FILTER/contig definitions, samples),
the previous record's position and the set of finished chromosomes, so memory does not grow
with the number of records. BCF is checked by the same code on the text htslib decodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from math import comb

from gfcli.engine.validate.reporter import ChunkCheck, Defer, Sink, quote
from gfcli.engine.validate.rules import ERROR, WARNING, rule

FILEFORMAT = rule("vcf.fileformat", ERROR, "the first line is ##fileformat=VCFv4.0 to VCFv4.5")
META_SYNTAX = rule(
    "vcf.meta-syntax", ERROR,
    "meta-information lines are ##key=value or ##key=<k=v,...> with balanced quotes",
)
INFO_HEADER = rule(
    "vcf.info-header", ERROR,
    "##INFO lines have a unique ID, Number (n, A, R, G, .), Type and Description",
)
FORMAT_HEADER = rule(
    "vcf.format-header", ERROR,
    "##FORMAT lines have a unique ID, Number (n, A, R, G, .), Type (no Flag) and Description",
)
FILTER_HEADER = rule("vcf.filter-header", ERROR, "##FILTER lines have a unique ID and Description")
CONTIG_HEADER = rule(
    "vcf.contig-header", ERROR, "##contig lines have a unique, valid ID and an integer length",
)
HEADER_LINE = rule(
    "vcf.header-line", ERROR,
    "one #CHROM line with the 8 fixed columns (then FORMAT and samples) before the records",
)
SAMPLE_NAMES = rule("vcf.sample-names", ERROR, "sample names are unique and not empty")
COLUMN_COUNT = rule("vcf.column-count", ERROR, "each record has as many columns as the header")
CHROM_UNDECLARED = rule("vcf.chrom-undeclared", ERROR, "CHROM is declared by a ##contig line")
NO_CONTIGS = rule(
    "vcf.no-contigs", WARNING, "the header has no ##contig lines, so CHROM cannot be checked",
)
CHROM_NAME = rule("vcf.chrom-name", ERROR, "CHROM is a valid sequence name (no whitespace, ...)")
POS = rule("vcf.pos", ERROR, "POS is a non-negative integer")
POS_RANGE = rule("vcf.pos-range", ERROR, "POS and END lie within the ##contig length")
UNSORTED = rule("vcf.unsorted", ERROR, "records are sorted by POS within a chromosome")
NOT_CONTIGUOUS = rule(
    "vcf.chrom-not-contiguous", ERROR, "the records of a chromosome are contiguous",
)
ID = rule("vcf.id", ERROR, "ID is '.' or ';'-separated identifiers without whitespace")
REF = rule("vcf.ref", ERROR, "REF is one or more of A, C, G, T, N")
ALT = rule("vcf.alt", ERROR, "ALT alleles are bases, '*', '.', <ID> or breakends; none equals REF")
SYMBOLIC = rule("vcf.symbolic-allele", ERROR, "symbolic alleles are well-formed <ID>")
ALT_UNDECLARED = rule(
    "vcf.alt-undeclared", WARNING,
    "symbolic alleles other than the standard ones are declared by ##ALT",
)
BREAKEND = rule("vcf.breakend", ERROR, "breakend alleles are t[p[, t]p], ]p]t, [p[t, .t or t.")
REF_MISMATCH = rule("vcf.ref-mismatch", ERROR, "REF matches the --reference FASTA")
QUAL = rule("vcf.qual", ERROR, "QUAL is a non-negative number or '.'")
FILTER_SYNTAX = rule("vcf.filter-syntax", ERROR, "FILTER is PASS, '.', or ';'-separated names")
FILTER_UNDECLARED = rule("vcf.filter-undeclared", ERROR, "FILTER values are declared by ##FILTER")
INFO_SYNTAX = rule(
    "vcf.info-syntax", ERROR, "INFO is '.' or unique key[=value] pairs joined by ';'",
)
INFO_UNDECLARED = rule("vcf.info-undeclared", ERROR, "INFO keys are declared by ##INFO")
INFO_TYPE = rule("vcf.info-type", ERROR, "INFO values are of their declared Type")
INFO_NUMBER = rule("vcf.info-number", ERROR, "INFO values are as many as their Number says")
INFO_FLAG = rule("vcf.info-flag", ERROR, "INFO Flags have no value")
FORMAT_SYNTAX = rule(
    "vcf.format-syntax", ERROR, "FORMAT is unique ':'-separated keys, GT first when present",
)
FORMAT_UNDECLARED = rule("vcf.format-undeclared", ERROR, "FORMAT keys are declared by ##FORMAT")
SAMPLE_COLUMNS = rule(
    "vcf.sample-columns", ERROR, "sample columns have no more fields than FORMAT has keys",
)
FORMAT_TYPE = rule("vcf.format-type", ERROR, "sample values are of their declared Type")
FORMAT_NUMBER = rule("vcf.format-number", ERROR, "sample values are as many as their Number says")
GT_SYNTAX = rule("vcf.gt-syntax", ERROR, "GT is allele indexes or '.' separated by / or |")
GT_ALLELE = rule("vcf.gt-allele", ERROR, "GT allele indexes refer to REF or an ALT allele")
GT_PLOIDY = rule(
    "vcf.gt-ploidy", WARNING, "a sample's ploidy does not change within a chromosome",
)
END = rule("vcf.end", ERROR, "INFO/END is not before POS and agrees with REF for plain alleles")

_VERSION = re.compile(r"^##fileformat=VCFv4\.([0-5])$")
_META_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_STRUCT_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_FIELD_ID = re.compile(r"^([A-Za-z_][0-9A-Za-z_.]*|1000G)$")
_CHROM = re.compile(r"^[0-9A-Za-z!#$%&+./:;?@^_|~\-][0-9A-Za-z!#$%&*+./:;=?@^_|~\-]*$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(
    r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)$"
)
_BASES = re.compile(r"^[ACGTNacgtn]+$")
_SYMBOLIC = re.compile(r"^<[^<>,\s]+>$")
_BREAKEND = re.compile(
    r"^([ACGTNacgtn]+)([\[\]])([^\[\]:\s]+|<[^<>\s]+>):(\d+)\2$"
    r"|^([\[\]])([^\[\]:\s]+|<[^<>\s]+>):(\d+)\5([ACGTNacgtn]+)$"
)
_SINGLE_BREAKEND = re.compile(r"^\.[ACGTNacgtn]+$|^[ACGTNacgtn]+\.$")
# Whole-value fast paths: a list of integers of at most 9 digits (always in range) or of
# plain decimals is accepted with one match; anything else is diagnosed item by item.
_FAST_LIST = {
    "Integer": re.compile(r"^(\.|[+-]?\d{1,9})(,(\.|[+-]?\d{1,9}))*$"),
    "Float": re.compile(r"^(\.|[+-]?\d+(\.\d*)?([eE][+-]?\d+)?)(,(\.|[+-]?\d+(\.\d*)?"
                        r"([eE][+-]?\d+)?))*$"),
}
_GT = re.compile(r"^[|/]?(\d+|\.)([|/](\d+|\.))*$")
_GT_SPLIT = re.compile(r"[|/]")
_WHITESPACE = re.compile(r"\s")

FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
TYPES = ("Integer", "Float", "Flag", "Character", "String")
STANDARD_SYMBOLIC = ("DEL", "INS", "DUP", "INV", "CNV", "BND", "*", "NON_REF", "X", "CN")
INT_MIN = -(2**31) + 8  # below are htslib's missing/end-of-vector sentinels
INT_MAX = 2**31 - 1
POS_MAX = 2**31 - 1
# Beyond this many finished chromosomes, contiguity is no longer tracked: a garbage file
# with a new CHROM on every line must not grow memory without bound.
MAX_TRACKED_CHROMS = 100_000


@dataclass(frozen=True)
class FieldDef:
    number: str  # "A", "R", "G", "." or a decimal count
    type: str


def parse_structured(body: str) -> tuple[dict[str, str], str | None]:
    """Parse the inside of `<...>`: k=v pairs, values optionally quoted with \\ escapes.

    Returns the pairs read and an error message (None when the syntax is right).
    """
    fields: dict[str, str] = {}
    i, n = 0, len(body)
    while i < n:
        eq = body.find("=", i)
        if eq < 0:
            return fields, f"{quote(body[i:])} has no '='"
        key = body[i:eq]
        if not _STRUCT_KEY.match(key):
            return fields, f"invalid key {quote(key)}"
        i = eq + 1
        if i < n and body[i] == '"':
            j = i + 1
            chars: list[str] = []
            while j < n and body[j] != '"':
                if body[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(body[j])
                j += 1
            if j >= n:
                return fields, f"unterminated quoted value of {key}"
            value = "".join(chars)
            i = j + 1
        else:
            j = body.find(",", i)
            j = n if j < 0 else j
            value = body[i:j]
            if '"' in value:
                return fields, f"stray quote in the value of {key}"
            i = j
        if key in fields:
            return fields, f"key {key} given twice"
        fields[key] = value
        if i < n:
            if body[i] != ",":
                return fields, f"expected ',' after the value of {key}"
            i += 1
            if i == n:
                return fields, "trailing ','"
    return fields, None


def expected_count(number: str, n_alt: int, ploidy: int | None) -> int | None:
    """How many values Number asks for at a record; None when any count will do."""
    if number == ".":
        return None
    if number == "A":
        return n_alt
    if number == "R":
        return n_alt + 1
    if number == "G":
        if ploidy is None:
            return None
        return _n_genotypes(n_alt + 1, ploidy)
    return int(number)


@lru_cache(maxsize=4096)
def _n_genotypes(n_alleles: int, ploidy: int) -> int:
    return comb(n_alleles + ploidy - 1, ploidy)


def check_value(value: str, type_: str) -> str | None:
    """Why one (non-missing) value is not of `type_`, or None."""
    if type_ == "Integer":
        if not _INT.match(value):
            return "not an integer"
        if len(value) > 12:  # int() of a huge digit string is slow, and out of range anyway
            return "outside the 32-bit range VCF allows"
        number = int(value)
        if not INT_MIN <= number <= INT_MAX:
            return "outside the 32-bit range VCF allows"
        return None
    if type_ == "Float":
        return None if _FLOAT.match(value) else "not a number"
    if type_ == "Character":
        return None if len(value) == 1 else "not a single character"
    return None


class VcfChecker(ChunkCheck):
    """Feed it lines (`feed`), then call `finish`; problems go to the reporter."""

    def __init__(self, reporter: Sink, *, reference: Callable[[str, int, int], str | None]
                 | None = None):
        self.reporter = reporter
        self.reference = reference
        self.line: int | None = None
        self.note = ""  # prefix for messages, e.g. "header line 3: " in BCF
        self.offset: int | None = None
        self.block: int | None = None
        self.records = 0
        self.infos: dict[str, FieldDef] = {}
        self.formats: dict[str, FieldDef] = {}
        self.filters: set[str] = {"PASS"}
        self.contigs: dict[str, int | None] = {}
        self.alts: set[str] = set()
        self.columns: list[str] | None = None
        self.n_samples = 0
        self.seen_first = False
        self.in_records = False
        self.prev_chrom: str | None = None
        self.prev_pos = 0
        self.finished: set[str] = set()
        self.ploidy: dict[int, int] = {}
        self.warned_no_contigs = False
        self.missing_ref_contigs: set[str] = set()
        # On a chunk of a file (-@), checks that depend on the records before the chunk are
        # deferred to the parent until this chunk's own records settle the state.
        self.defer: Defer | None = None
        self.synced = False  # prev_chrom / prev_pos equal what a whole-file run would have
        self.ploidy_synced = False  # ploidy holds every sample a whole-file run would

    # ------------------------------------------------------------------ chunks (-@)

    _HEADER_STATE = ("infos", "formats", "filters", "contigs", "alts", "columns", "n_samples",
                     "warned_no_contigs")

    def start_chunk(self, header: dict[str, object] | None, defer: Defer) -> None:
        super().start_chunk(header, defer)
        if header is not None:
            self.seen_first = self.in_records = True

    def chunk_state(self) -> tuple[object, ...]:
        return (self.prev_chrom, self.prev_pos, self.synced, self.ploidy, self.ploidy_synced)

    def merge_chunk_state(self, state: tuple[object, ...]) -> None:
        """The parent, after a chunk's deferred checks: take over what the chunk settled."""
        prev_chrom, prev_pos, synced, ploidy, ploidy_synced = state
        if synced:
            self.prev_chrom, self.prev_pos = prev_chrom, prev_pos  # type: ignore[assignment]
        if ploidy_synced:
            self.ploidy = dict(ploidy)  # type: ignore[call-overload]
        else:
            self.ploidy.update(ploidy)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ plumbing

    def _r(self, rule_id: str, message: str) -> None:
        self.reporter.report(rule_id, self.line, self.note + message, offset=self.offset,
                             block=self.block)

    def feed(self, line: str, number: int | None, offset: int | None = None,
             block: int | None = None) -> None:
        self.line, self.offset, self.block = number, offset, block
        first = not self.seen_first
        self.seen_first = True
        if first:
            if not line.startswith("##fileformat="):
                self._r(FILEFORMAT, "the first line is not ##fileformat=VCFv4.x")
            elif not _VERSION.match(line):
                self._r(FILEFORMAT, f"unsupported {quote(line[2:])} (VCFv4.0 to VCFv4.5 expected)")
                return
            else:
                return
        if line.startswith("##"):
            if self.in_records or self.columns is not None:
                self._r(META_SYNTAX, "a meta-information line after the #CHROM line")
                return
            self._meta(line)
        elif line.startswith("#"):
            if self.columns is not None or self.in_records:
                self._r(HEADER_LINE, "a '#' line after the #CHROM line")
                return
            self._header_line(line)
        else:
            if self.columns is None and not self.in_records:
                self._r(HEADER_LINE, "records start without a #CHROM header line")
            self.in_records = True
            self.records += 1
            self._record(line)

    def finish(self) -> None:
        if self.columns is None and not self.in_records and self.seen_first:
            self.line = None
            self._r(HEADER_LINE, "no #CHROM header line")

    # ------------------------------------------------------------------ header

    def _meta(self, line: str) -> None:
        eq = line.find("=")
        if eq < 0:
            self._r(META_SYNTAX, f"{quote(line)} is not ##key=value")
            return
        key, value = line[2:eq], line[eq + 1 :]
        if not _META_KEY.match(key):
            self._r(META_SYNTAX, f"invalid meta-information key {quote(key)}")
            return
        if key == "fileformat":
            self._r(FILEFORMAT, "##fileformat is not the first line")
            return
        structured = key in ("INFO", "FORMAT", "FILTER", "contig", "ALT")
        if not value.startswith("<"):
            if structured:
                self._r(META_SYNTAX, f"##{key} value is not <...>")
            return
        if not value.endswith(">"):
            self._r(META_SYNTAX, f"##{key}=<...> is not closed by '>'")
            return
        fields, error = parse_structured(value[1:-1])
        if error is not None:
            self._r(META_SYNTAX, f"##{key}: {error}")
            if not structured:
                return
        if key in ("INFO", "FORMAT"):
            self._field_def(key, fields)
        elif key == "FILTER":
            fid = fields.get("ID")
            if not fid:
                self._r(FILTER_HEADER, "##FILTER without ID")
                return
            if "Description" not in fields:
                self._r(FILTER_HEADER, f"##FILTER {quote(fid)} without Description")
            if fid in self.filters and fid != "PASS":
                self._r(FILTER_HEADER, f"##FILTER {quote(fid)} defined twice")
            if _WHITESPACE.search(fid) or ";" in fid or fid == "0":
                self._r(FILTER_HEADER, f"invalid FILTER ID {quote(fid)}")
            self.filters.add(fid)
        elif key == "contig":
            cid = fields.get("ID")
            if not cid:
                self._r(CONTIG_HEADER, "##contig without ID")
                return
            if not _CHROM.match(cid):
                self._r(CONTIG_HEADER, f"invalid contig name {quote(cid)}")
            if cid in self.contigs:
                self._r(CONTIG_HEADER, f"##contig {quote(cid)} defined twice")
            length: int | None = None
            if "length" in fields:
                text = fields["length"]
                if _INT.match(text) and len(text) < 19 and 0 < int(text):
                    length = int(text)
                else:
                    self._r(CONTIG_HEADER, f"##contig {quote(cid)}: length {quote(text)} is not a "
                                           "positive integer")
            self.contigs[cid] = length
        elif key == "ALT":
            aid = fields.get("ID")
            if not aid:
                self._r(META_SYNTAX, "##ALT without ID")
            else:
                self.alts.add(aid)

    def _field_def(self, key: str, fields: dict[str, str]) -> None:
        rule_id = INFO_HEADER if key == "INFO" else FORMAT_HEADER
        fid = fields.get("ID")
        if not fid:
            self._r(rule_id, f"##{key} without ID")
            return
        bad = False
        if not _FIELD_ID.match(fid):
            self._r(rule_id, f"##{key} ID {quote(fid)} is not a valid key")
        number = fields.get("Number")
        type_ = fields.get("Type")
        if number is None or not (number in ("A", "R", "G", ".") or (
                number.isdigit() and len(number) < 10)):
            self._r(rule_id, f"##{key} {quote(fid)}: Number {quote(number or '')} is not an "
                             "integer, A, R, G or '.'")
            bad = True
        if type_ not in TYPES or (key == "FORMAT" and type_ == "Flag"):
            allowed = "Integer, Float, Flag, Character or String" if key == "INFO" else (
                "Integer, Float, Character or String")
            self._r(rule_id, f"##{key} {quote(fid)}: Type {quote(type_ or '')} is not {allowed}")
            bad = True
        elif type_ == "Flag" and number is not None and number != "0":
            self._r(rule_id, f"##{key} {quote(fid)}: a Flag must have Number=0")
        elif number == "0" and type_ != "Flag":
            self._r(rule_id, f"##{key} {quote(fid)}: Number=0 is for Flags only")
        if "Description" not in fields:
            self._r(rule_id, f"##{key} {quote(fid)} without Description")
        table = self.infos if key == "INFO" else self.formats
        if fid in table:
            self._r(rule_id, f"##{key} {quote(fid)} defined twice")
        if key == "FORMAT" and fid == "GT" and (number, type_) != ("1", "String"):
            self._r(rule_id, "##FORMAT GT must be Number=1, Type=String")
        if not bad:
            table[fid] = FieldDef(number or ".", type_ or "String")
        elif fid not in table:
            table[fid] = FieldDef(".", "String")  # declared, but its values cannot be typed

    def _header_line(self, line: str) -> None:
        columns = line.split("\t")
        self.columns = columns
        if columns[:8] != FIXED:
            self._r(HEADER_LINE, "the #CHROM line must start with the 8 tab-separated columns "
                                 "#CHROM POS ID REF ALT QUAL FILTER INFO")
        if len(columns) > 8 and columns[8] != "FORMAT":
            self._r(HEADER_LINE, f"column 9 is {quote(columns[8])}, not FORMAT")
        samples = columns[9:]
        self.n_samples = len(samples)
        seen: set[str] = set()
        for index, name in enumerate(samples):
            if not name:
                self._r(SAMPLE_NAMES, f"sample #{index + 1} has an empty name")
            elif name in seen:
                self._r(SAMPLE_NAMES, f"sample name {quote(name)} appears more than once")
            seen.add(name)
        if not self.contigs and not self.warned_no_contigs:
            self.warned_no_contigs = True
            self._r(NO_CONTIGS, "no ##contig lines: CHROM values cannot be checked")

    # ------------------------------------------------------------------ records

    def _record(self, line: str) -> None:
        if not line:
            self._r(COLUMN_COUNT, "empty line")
            return
        cols = line.split("\t")
        n = len(cols)
        want = len(self.columns) if self.columns is not None else None
        if n < 8:
            self._r(COLUMN_COUNT, f"{n} columns, at least 8 expected (tabs missing?)")
            return
        if want is not None and n != want and want >= 8:
            self._r(COLUMN_COUNT, f"{n} columns, the header has {want}")
        chrom, pos_text, vid, ref, alt, qual, filt, info = cols[:8]
        pos = self._chrom_pos(chrom, pos_text)
        if vid != "." and (not vid or any(not part for part in vid.split(";"))
                           or _WHITESPACE.search(vid)):
            self._r(ID, f"invalid ID {quote(vid)}")
        ref_ok = bool(_BASES.match(ref))
        if not ref_ok:
            self._r(REF, f"REF {quote(ref)} is not made of A, C, G, T, N")
        alleles = self._alts(alt, ref)
        n_alt = len(alleles)
        if qual != ".":
            if not _FLOAT.match(qual):
                self._r(QUAL, f"QUAL {quote(qual)} is not a number")
            elif qual.startswith("-") or qual.lower().startswith(("nan", "+nan")):
                self._r(QUAL, f"QUAL {quote(qual)} is negative")
        self._filter(filt)
        end = self._info(info, n_alt)
        if pos is not None:
            if end is not None:
                if end < pos:
                    self._r(END, f"END={end} is before POS={pos}")
                elif ref_ok and n_alt and not any(a.startswith("<") or "[" in a or "]" in a
                                                 or a == "*" or "." in a for a in alleles):
                    if end != pos + len(ref) - 1:
                        self._r(END, f"END={end} does not match POS+len(REF)-1="
                                     f"{pos + len(ref) - 1} for a record without symbolic alleles")
            self._length(chrom, pos, end)
            if self.reference is not None and ref_ok and pos > 0:
                self._check_reference(chrom, pos, ref)
        if n > 8:
            self._samples(cols, n_alt)

    def _chrom_pos(self, chrom: str, pos_text: str) -> int | None:
        if not chrom or not _CHROM.match(chrom):
            self._r(CHROM_NAME, f"invalid CHROM {quote(chrom)}")
        elif self.contigs and chrom not in self.contigs:
            self._r(CHROM_UNDECLARED, f"CHROM {quote(chrom)} is not declared by a ##contig line")
        pos: int | None = None
        if not pos_text.isdigit() or not pos_text.isascii():
            self._r(POS, f"POS {quote(pos_text)} is not a non-negative integer")
        elif len(pos_text) > 12:
            self._r(POS, f"POS {quote(pos_text)} is beyond {POS_MAX}")
        else:
            pos = int(pos_text)
            if pos > POS_MAX:
                self._r(POS, f"POS {pos} is beyond {POS_MAX}")
                pos = None
        if self.defer is None:
            self.order(chrom, pos)
        else:
            self._chunk_order(chrom, pos)
        return pos

    def order(self, chrom: str, pos: int | None) -> None:
        """Sortedness and contiguity against the previous record (whole file, or the parent)."""
        if chrom != self.prev_chrom:
            if chrom in self.finished:
                self._r(NOT_CONTIGUOUS, f"records of {quote(chrom)} resume after other chromosomes")
            if self.prev_chrom is not None and len(self.finished) < MAX_TRACKED_CHROMS:
                self.finished.add(self.prev_chrom)
            self.prev_chrom = chrom
            self.prev_pos = pos or 0
            self.ploidy.clear()
        elif pos is not None:
            if pos < self.prev_pos:
                self._r(UNSORTED, f"POS {pos} comes after {self.prev_pos} on {quote(chrom)}")
            self.prev_pos = pos

    def _chunk_order(self, chrom: str, pos: int | None) -> None:
        """`order` on a chunk: the parent runs it for every change of chromosome (the set of
        finished chromosomes is the whole file's) and until the previous position is known."""
        assert self.defer is not None
        if chrom == self.prev_chrom and self.synced:
            if pos is not None:
                if pos < self.prev_pos:
                    self._r(UNSORTED, f"POS {pos} comes after {self.prev_pos} on {quote(chrom)}")
                self.prev_pos = pos
            return
        self.defer("order", self.line, (chrom, pos))
        if chrom != self.prev_chrom:
            if self.prev_chrom is not None:  # a change of chromosome inside the chunk
                self.ploidy.clear()
                self.ploidy_synced = True
                self.synced = True
            else:  # the chunk's first record: continues the previous chromosome or not
                self.synced = pos is not None
            self.prev_chrom = chrom
            self.prev_pos = pos or 0
        elif pos is not None:
            self.prev_pos = pos
            self.synced = True

    def _length(self, chrom: str, pos: int, end: int | None) -> None:
        length = self.contigs.get(chrom)
        if length is None:
            return
        # POS = length + 1 marks a telomere in VCF 4.2+.
        if pos > length + 1:
            self._r(POS_RANGE, f"POS {pos} is beyond the length {length} of {quote(chrom)}")
        elif end is not None and end > length + 1:
            self._r(POS_RANGE, f"END {end} is beyond the length {length} of {quote(chrom)}")

    def _alts(self, alt: str, ref: str) -> list[str]:
        if alt == ".":
            return []
        alleles = alt.split(",")
        seen: set[str] = set()
        for allele in alleles:
            if allele in seen:
                self._r(ALT, f"ALT allele {quote(allele)} is listed twice")
            seen.add(allele)
            if _BASES.match(allele):
                if allele.upper() == ref.upper():
                    self._r(ALT, f"ALT allele {quote(allele)} equals REF")
            elif allele == "*":
                continue
            elif allele.startswith("<") or allele.endswith(">"):
                if not _SYMBOLIC.match(allele):
                    self._r(SYMBOLIC, f"malformed symbolic allele {quote(allele)}")
                else:
                    ident = allele[1:-1]
                    if ident not in self.alts and ident.split(":", 1)[0] not in STANDARD_SYMBOLIC:
                        self._r(ALT_UNDECLARED, f"symbolic allele {quote(allele)} is not declared "
                                                "by ##ALT")
            elif "[" in allele or "]" in allele:
                if not _BREAKEND.match(allele):
                    self._r(BREAKEND, f"malformed breakend {quote(allele)}")
            elif "." in allele:
                if not _SINGLE_BREAKEND.match(allele):
                    self._r(BREAKEND, f"malformed single breakend {quote(allele)}")
            else:
                self._r(ALT, f"ALT allele {quote(allele)} is not made of A, C, G, T, N, '*'")
        return alleles

    def _filter(self, filt: str) -> None:
        if filt == "." or filt == "PASS":
            return
        parts = filt.split(";")
        seen: set[str] = set()
        for part in parts:
            if not part or _WHITESPACE.search(part) or part == "0":
                self._r(FILTER_SYNTAX, f"invalid FILTER {quote(filt)}")
                return
            if part == "PASS":
                self._r(FILTER_SYNTAX, f"PASS together with other filters in {quote(filt)}")
            elif part not in self.filters:
                self._r(FILTER_UNDECLARED, f"FILTER {quote(part)} is not declared by ##FILTER")
            if part in seen:
                self._r(FILTER_SYNTAX, f"FILTER {quote(part)} listed twice")
            seen.add(part)

    def _info(self, info: str, n_alt: int) -> int | None:
        """Check INFO; returns END when it is a valid integer."""
        if info == ".":
            return None
        end: int | None = None
        seen: set[str] = set()
        for item in info.split(";"):
            if not item:
                self._r(INFO_SYNTAX, f"empty entry in INFO {quote(info)}")
                continue
            key, eq, value = item.partition("=")
            if not _FIELD_ID.match(key):
                self._r(INFO_SYNTAX, f"invalid INFO key {quote(key)}")
                continue
            if key in seen:
                self._r(INFO_SYNTAX, f"INFO key {quote(key)} given twice")
            seen.add(key)
            definition = self.infos.get(key)
            if definition is None:
                self._r(INFO_UNDECLARED, f"INFO key {quote(key)} is not declared by ##INFO")
                continue
            if definition.type == "Flag":
                if eq:
                    self._r(INFO_FLAG, f"INFO Flag {key} has a value {quote(value)}")
                continue
            if not eq:
                self._r(INFO_TYPE, f"INFO {key} has no value (only Flags may omit it)")
                continue
            if self._values(INFO_TYPE, INFO_NUMBER, f"INFO {key}", value, definition, n_alt,
                            None):
                if key == "END" and _INT.match(value) and len(value) <= 12:
                    end = int(value)
        return end

    def _values(self, type_rule: str, number_rule: str, what: str, value: str,
                definition: FieldDef, n_alt: int, ploidy: int | None) -> bool:
        """Type and count of one field's values; True when all are well-typed."""
        if value == ".":
            return True
        if definition.type == "String":
            return True
        fast = _FAST_LIST.get(definition.type)
        ok = True
        if fast is None or not fast.match(value):
            for item in value.split(","):
                if item == ".":
                    continue
                why = check_value(item, definition.type)
                if why is not None:
                    self._r(type_rule, f"{what}={quote(value)}: {quote(item)} is {why} "
                                       f"(Type={definition.type})")
                    ok = False
                    break
        n_values = value.count(",") + 1
        want = expected_count(definition.number, n_alt, ploidy)
        if definition.number == "G" and ploidy is None and n_values in (
                n_alt + 1, _n_genotypes(n_alt + 1, 2)):
            want = n_values  # INFO: haploid and diploid counts are both valid
        if want is not None and n_values != want:
            self._r(number_rule, f"{what} has {n_values} values, Number={definition.number} "
                                 f"asks for {want}")
            ok = False
        return ok

    def _samples(self, cols: list[str], n_alt: int) -> None:
        fmt = cols[8]
        if fmt == "." or fmt == "":
            if len(cols) > 9:
                self._r(FORMAT_SYNTAX, "sample columns without FORMAT keys")
            return
        keys = fmt.split(":")
        defs: list[FieldDef | None] = []
        seen: set[str] = set()
        for index, key in enumerate(keys):
            if key == "GT" and index != 0:
                self._r(FORMAT_SYNTAX, "GT must be the first FORMAT key")
            if not key or key in seen:
                self._r(FORMAT_SYNTAX, f"invalid or repeated key in FORMAT {quote(fmt)}")
            seen.add(key)
            definition = self.formats.get(key)
            if definition is None and key:
                self._r(FORMAT_UNDECLARED, f"FORMAT key {quote(key)} is not declared by ##FORMAT")
            defs.append(definition)
        gt_index = keys.index("GT") if "GT" in keys else -1
        for sample_index, column in enumerate(cols[9:]):
            values = column.split(":")
            if len(values) > len(keys):
                self._r(SAMPLE_COLUMNS, f"sample #{sample_index + 1} has {len(values)} fields, "
                                        f"FORMAT {quote(fmt)} has {len(keys)}")
                continue
            ploidy: int | None = None
            if 0 <= gt_index < len(values):
                ploidy = self._genotype(values[gt_index], n_alt, sample_index)
            for key, definition, value in zip(keys, defs, values, strict=False):
                if definition is None or key == "GT":
                    continue
                if value == "":
                    self._r(FORMAT_TYPE, f"sample #{sample_index + 1}: empty {key} value")
                    continue
                if not self._values(FORMAT_TYPE, FORMAT_NUMBER,
                                    f"sample #{sample_index + 1} {key}", value, definition, n_alt,
                                    ploidy):
                    break

    def _genotype(self, gt: str, n_alt: int, sample_index: int) -> int | None:
        if not _GT.match(gt):
            self._r(GT_SYNTAX, f"sample #{sample_index + 1}: invalid GT {quote(gt)}")
            return None
        alleles = _GT_SPLIT.split(gt.lstrip("|/"))
        for allele in alleles:
            if allele != "." and (len(allele) > 9 or int(allele) > n_alt):
                self._r(GT_ALLELE, f"sample #{sample_index + 1}: GT {quote(gt)} refers to allele "
                                   f"{allele}, the record has {n_alt} ALT allele(s)")
                break
        ploidy = len(alleles)
        if gt == ".":
            return None  # a missing call says nothing about ploidy
        if self.defer is not None and not self.ploidy_synced and sample_index not in self.ploidy:
            self.defer("check_ploidy", self.line, (sample_index, ploidy))
            self.ploidy[sample_index] = ploidy
        else:
            self.check_ploidy(sample_index, ploidy)
        return ploidy

    def check_ploidy(self, sample_index: int, ploidy: int) -> None:
        previous = self.ploidy.get(sample_index)
        if previous is not None and previous != ploidy:
            self._r(GT_PLOIDY, f"sample #{sample_index + 1}: ploidy {ploidy}, it was {previous} "
                               "earlier on this chromosome")
        self.ploidy[sample_index] = ploidy

    def missing_reference(self, chrom: str) -> None:
        if chrom not in self.missing_ref_contigs and len(self.missing_ref_contigs) < 1000:
            self.missing_ref_contigs.add(chrom)
            self._r(REF_MISMATCH, f"{quote(chrom)} is not in the reference FASTA")

    def _check_reference(self, chrom: str, pos: int, ref: str) -> None:
        assert self.reference is not None
        bases = self.reference(chrom, pos - 1, pos - 1 + len(ref))
        if bases is None:
            if self.defer is not None:
                # Once per chunk: after it the parent has the contig in its set, or a full set.
                if chrom not in self.missing_ref_contigs:
                    self.missing_ref_contigs.add(chrom)
                    self.defer("missing_reference", self.line, (chrom,))
            else:
                self.missing_reference(chrom)
            return
        bases = bases.upper()
        upper = ref.upper()
        if len(bases) < len(upper):
            self._r(REF_MISMATCH, f"REF {quote(ref)} runs past the end of {quote(chrom)} in the "
                                  "reference")
            return
        for a, b in zip(upper, bases, strict=False):
            if a != b and a != "N" and b != "N":
                self._r(REF_MISMATCH, f"REF {quote(ref)} differs from the reference "
                                      f"{quote(bases)} at {chrom}:{pos}")
                return
