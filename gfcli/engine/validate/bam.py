"""BAM: the binary records parsed from the decompressed stream, then the shared SAM checks.

htslib is not used to read BAM here: it rejects a damaged record with one message (or
aborts), while the layout is simple enough (SAM spec 4.2) to decode field by field and say
which length is wrong. Each record is located by its number and its byte offset in the
decompressed data (with the BGZF block holding it).
"""

from __future__ import annotations

import re
import struct

from gfcli.engine.validate.alignments import (
    CIGAR,
    QUAL_RANGE,
    RNAME,
    SQ,
    TAG,
    AlignmentChecker,
    Aln,
)
from gfcli.engine.validate.container import Decompressed
from gfcli.engine.validate.reporter import Sink, quote
from gfcli.engine.validate.rules import ERROR, WARNING, rule

MAGIC = rule("bam.magic", ERROR, "the decompressed data starts with the magic BAM\\1")
HEADER = rule("bam.header", ERROR, "the binary header (text, references) is complete and sane")
HEADER_REFS = rule(
    "bam.header-refs", WARNING, "the text header's @SQ lines match the binary reference list",
)
TRUNCATED = rule("bam.truncated", ERROR, "the data ends inside a record")
RECORD_SIZE = rule(
    "bam.record-size", ERROR,
    "block_size covers exactly the fixed fields, name, CIGAR, SEQ, QUAL and tags",
)
READ_NAME = rule("bam.read-name", ERROR, "read names are NUL-terminated and not empty")
BIN = rule("bam.bin", WARNING, "the bin field equals reg2bin(pos, end) (SAM spec 5.3)")

# A header or record this large is a damaged length field, not data.
MAX_TEXT = 256 << 20
MAX_RECORD = 256 << 20
MAX_REFS = 50_000_000

_FIXED = struct.Struct("<iiBBHHHiiii")
_I32 = struct.Struct("<i")
_CIGAR_OPS = "MIDNSHP=X"
_TAG_NAME = re.compile(rb"^[A-Za-z][A-Za-z0-9]$")
_NOT_PRINTABLE = re.compile(rb"[^ -~]")
_NOT_HEX = re.compile(rb"[^0-9A-F]")
_SIZES = {ord("A"): 1, ord("c"): 1, ord("C"): 1, ord("s"): 2, ord("S"): 2, ord("i"): 4,
          ord("I"): 4, ord("f"): 4}
_UNPLACED = -1


def reg2bin(beg: int, end: int) -> int:
    """The BAI bin of the 0-based half-open interval [beg, end) (SAM spec 5.3)."""
    end -= 1
    if beg >> 14 == end >> 14:
        return ((1 << 15) - 1) // 7 + (beg >> 14)
    if beg >> 17 == end >> 17:
        return ((1 << 12) - 1) // 7 + (beg >> 17)
    if beg >> 20 == end >> 20:
        return ((1 << 9) - 1) // 7 + (beg >> 20)
    if beg >> 23 == end >> 23:
        return ((1 << 6) - 1) // 7 + (beg >> 23)
    if beg >> 26 == end >> 26:
        return ((1 << 3) - 1) // 7 + (beg >> 26)
    return 0


class BamReader:
    """Reads and checks a whole BAM stream; `counts` gives [mapped, unmapped] per reference."""

    def __init__(self, data: Decompressed, reporter: Sink, checker: AlignmentChecker):
        self.data = data
        self.reporter = reporter
        self.checker = checker
        self.n_ref: int | None = None
        self.names: list[str] = []
        self.counts: list[list[int]] = []
        self.records = 0

    def _r(self, rule_id: str, line: int | None, message: str, offset: int | None = None,
           block: int | None = None) -> None:
        self.reporter.report(rule_id, line, message, offset=offset, block=block)

    def run(self) -> None:
        if self._header():
            self._records()
        self.checker.finish()

    def header_state(self) -> dict[str, object]:
        return {"names": self.names, "n_ref": self.n_ref}

    def run_chunk(self, header: dict[str, object]) -> None:
        """The records of one chunk of the file (-@), after a header read elsewhere."""
        self.names = header["names"]  # type: ignore[assignment]
        self.n_ref = header["n_ref"]  # type: ignore[assignment]
        self.counts = [[0, 0] for _ in range(self.n_ref or 0)]
        self._records()
        self.checker.finish()

    # ------------------------------------------------------------------ header

    def _header(self) -> bool:
        data = self.data
        magic = data.read(4)
        if magic != b"BAM\x01":
            self._r(MAGIC, None, f"the data starts with {quote(magic)}, not BAM\\1")
            return False
        raw = data.read(4)
        if len(raw) < 4:
            self._r(TRUNCATED, None, "the data ends inside the header")
            return False
        (l_text,) = _I32.unpack(raw)
        if not 0 <= l_text <= MAX_TEXT:
            self._r(HEADER, None, f"header text length {l_text} is impossible")
            return False
        text = data.read(l_text)
        if len(text) < l_text:
            self._r(TRUNCATED, None, "the data ends inside the header text")
            return False
        checker = self.checker
        checker.text_refs_are_refs = False
        for number, line in enumerate(text.rstrip(b"\x00").decode("latin-1").split("\n"), 1):
            line = line.rstrip("\r")
            if not line:
                continue
            if "\x00" in line:
                checker.note = f"header line {number}: "
                checker.line = None
                checker._r(HEADER, "NUL byte inside the header text")
                continue
            checker.note = f"header line {number}: "
            checker.header_line(line, None)
        checker.note = ""
        raw = data.read(4)
        if len(raw) < 4:
            self._r(TRUNCATED, None, "the data ends before the reference list")
            return False
        (n_ref,) = _I32.unpack(raw)
        if not 0 <= n_ref <= MAX_REFS:
            self._r(HEADER, None, f"reference count {n_ref} is impossible")
            return False
        for index in range(n_ref):
            raw = data.read(4)
            if len(raw) < 4:
                self._r(TRUNCATED, None, f"the data ends inside reference #{index}")
                return False
            (l_name,) = _I32.unpack(raw)
            if not 1 <= l_name <= 1 << 20:
                self._r(HEADER, None, f"reference #{index} has an impossible name length {l_name}")
                return False
            body = data.read(l_name + 4)
            if len(body) < l_name + 4:
                self._r(TRUNCATED, None, f"the data ends inside reference #{index}")
                return False
            name_raw = body[:l_name]
            if name_raw[-1:] != b"\x00":
                self._r(HEADER, None, f"the name of reference #{index} is not NUL-terminated")
            name = name_raw.rstrip(b"\x00").decode("latin-1")
            (length,) = _I32.unpack_from(body, l_name)
            if not 0 <= length:
                self._r(HEADER, None, f"reference {quote(name)} has a negative length {length}")
            if name in checker.refs:
                self._r(SQ, None, f"reference {quote(name)} appears twice in the binary header")
            checker.add_reference(name, length if length > 0 else None)
            self.names.append(name)
        self.n_ref = n_ref
        self.counts = [[0, 0] for _ in range(n_ref)]
        checker.end_header()
        text_sq = checker.text_sq
        binary = list(zip(self.names, checker.lengths, strict=True))
        if text_sq and text_sq != binary:
            self._r(HEADER_REFS, None, f"the text header has {len(text_sq)} @SQ lines that differ "
                                       f"from the {n_ref} binary references")
        return True

    # ------------------------------------------------------------------ records

    def _records(self) -> None:
        data = self.data
        checker = self.checker
        names = self.names
        n_ref = len(names)
        number = 0
        while True:
            offset, block = data.tell()
            raw = data.read(4)
            if not raw:
                break
            number += 1
            checker.line, checker.offset, checker.block = number, offset, block
            if len(raw) < 4:
                self._r(TRUNCATED, number, "the data ends inside a record's length", offset, block)
                break
            (size,) = _I32.unpack(raw)
            if not 32 <= size <= MAX_RECORD:
                self._r(RECORD_SIZE, number, f"block_size {size} is impossible; the records after "
                                             "it cannot be located", offset, block)
                break
            body = data.read(size)
            if len(body) < size:
                self._r(TRUNCATED, number, f"the data ends {size - len(body)} bytes before the end "
                                           "of the record", offset, block)
                break
            self.records = number
            checker.records = number
            (ref_id, pos0, l_name, mapq, bin_, n_cigar, flag, l_seq, next_ref_id, next_pos0,
             tlen) = _FIXED.unpack_from(body)
            need = 32 + l_name + 4 * n_cigar + (l_seq + 1) // 2 + l_seq if l_seq >= 0 else -1
            if need < 0 or need > size:
                self._r(RECORD_SIZE, number, f"the name, CIGAR, SEQ and QUAL lengths need {need} "
                                             f"bytes, block_size is {size}", offset, block)
                continue
            p = 32
            name_raw = body[p : p + l_name]
            p += l_name
            if l_name < 1 or name_raw[-1] != 0:
                self._r(READ_NAME, number, "the read name is empty or not NUL-terminated", offset,
                        block)
            qname = name_raw[:-1].decode("latin-1")
            cigar_words = struct.unpack_from(f"<{n_cigar}I", body, p)
            p += 4 * n_cigar
            cigar: list[tuple[str, int]] | None = None
            if n_cigar:
                bad = [w & 0xF for w in cigar_words if w & 0xF > 8]
                if bad:
                    checker._r(CIGAR, f"CIGAR operation code {bad[0]} does not exist (0-8)")
                else:
                    cigar = [(_CIGAR_OPS[w & 0xF], w >> 4) for w in cigar_words]
            p += (l_seq + 1) // 2
            qual = body[p : p + l_seq]
            p += l_seq
            qual_len: int | None = None
            if l_seq and qual[0] != 0xFF:
                qual_len = l_seq
                top = max(qual)
                if top > 93:
                    checker._r(QUAL_RANGE, f"base quality {top} is above 93")
            long_cigar = self._tags(body, p, checker)
            if long_cigar is not None and cigar is not None and len(cigar) == 2 and cigar[0] == (
                    "S", l_seq) and cigar[1][0] == "N":
                cigar = long_cigar
            if 0 <= ref_id < n_ref:
                rname = names[ref_id]
                self.counts[ref_id][1 if flag & 0x4 else 0] += 1
            elif ref_id == -1:
                rname = "*"
            else:
                checker._r(RNAME, f"refID {ref_id} is outside -1..{n_ref - 1}")
                continue
            if next_ref_id < -1 or next_ref_id >= n_ref:
                checker._r(RNAME, f"next refID {next_ref_id} is outside -1..{n_ref - 1}")
                continue
            if pos0 < -1 or next_pos0 < -1:
                checker._r("sam.pos", f"position {min(pos0, next_pos0)} is below -1")
                continue
            self._bin(checker, flag, pos0, bin_, cigar)
            checker.check(Aln(
                qname, flag, ref_id, rname, pos0 + 1, mapq, cigar, next_ref_id,
                "*" if next_ref_id < 0 else names[next_ref_id], next_pos0 + 1, tlen,
                l_seq if l_seq else None, qual_len,
            ))

    def _bin(self, checker: AlignmentChecker, flag: int, pos0: int, bin_: int,
             cigar: list[tuple[str, int]] | None) -> None:
        span = sum(n for op, n in cigar or () if op in "MDN=X")
        end = pos0 + span if span and not flag & 0x4 else pos0 + 1
        if end >= 1 << 29:
            return  # beyond the BAI range, bins are computed differently (CSI)
        expected = reg2bin(pos0, end)
        if bin_ != expected:
            checker._r(BIN, f"bin {bin_}, reg2bin({pos0}, {end}) is {expected}")

    def _tags(self, body: bytes, p: int, checker: AlignmentChecker) -> list[tuple[str, int]] | None:
        """Walk the aux fields; returns the CG (long CIGAR) array when there is one."""
        n = len(body)
        seen: set[bytes] = set()
        cg: list[tuple[str, int]] | None = None
        while p < n:
            if p + 3 > n:
                checker._r(TAG, "the last optional field is cut short")
                return cg
            tag = body[p : p + 2]
            kind = body[p + 2]
            p += 3
            if not _TAG_NAME.match(tag):
                checker._r(TAG, f"invalid tag name {quote(tag)}")
            elif tag in seen:
                checker._r(TAG, f"tag {tag.decode()} appears twice")
            seen.add(tag)
            size = _SIZES.get(kind)
            if size is not None:
                if p + size > n:
                    checker._r(TAG, f"tag {quote(tag)} is cut short")
                    return cg
                if kind == 65 and not 33 <= body[p] <= 126:  # 'A'
                    checker._r(TAG, f"tag {quote(tag)}:A is not a printable character")
                p += size
            elif kind in (90, 72):  # 'Z', 'H'
                end = body.find(b"\x00", p)
                if end < 0:
                    checker._r(TAG, f"tag {quote(tag)}:{chr(kind)} is not NUL-terminated")
                    return cg
                value = body[p:end]
                if kind == 90 and _NOT_PRINTABLE.search(value):
                    checker._r(TAG, f"tag {quote(tag)}:Z has non-printable characters")
                elif kind == 72 and (len(value) % 2 or _NOT_HEX.search(value)):
                    checker._r(TAG, f"tag {quote(tag)}:H is not upper-case hex byte pairs")
                p = end + 1
            elif kind == 66:  # 'B'
                if p + 5 > n:
                    checker._r(TAG, f"tag {quote(tag)}:B is cut short")
                    return cg
                sub = body[p]
                (count,) = _I32.unpack_from(body, p + 1)
                sub_size = _SIZES.get(sub) if sub != 65 else None
                if sub_size is None:
                    checker._r(TAG, f"tag {quote(tag)}:B has the subtype {quote(bytes([sub]))}")
                    return cg
                if count < 0 or p + 5 + count * sub_size > n:
                    checker._r(TAG, f"tag {quote(tag)}:B holds {count} values, more than the "
                                    "record has room for")
                    return cg
                if tag == b"CG" and sub == ord("I"):
                    words = struct.unpack_from(f"<{count}I", body, p + 5)
                    if all(w & 0xF <= 8 for w in words):
                        cg = [(_CIGAR_OPS[w & 0xF], w >> 4) for w in words]
                p += 5 + count * sub_size
            else:
                checker._r(TAG, f"tag {quote(tag)} has the unknown type {quote(bytes([kind]))}")
                return cg
        return cg
