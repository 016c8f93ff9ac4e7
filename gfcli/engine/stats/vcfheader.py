"""The header of a BGZF VCF or BCF read without htslib, for the statistics' start-up.

`gfcli stats` on a sites VCF spends most of its serial start-up importing pysam and
numpy and asking htslib for the header; the workers need only the contig names (in
htslib's contig ids), the number of samples, the INFO/FORMAT/FILTER types and where the
first record starts. The header's BGZF blocks are plain text: `read_header` inflates them
and parses the lines itself.

It answers only for headers it reads exactly as htslib would (and as `variants.compute`
reads htslib's header: `bcf_hdr_format` text split by `attributes`); anything unusual gives
None and the caller asks htslib: a first line other than ##fileformat, CR or non-ASCII
bytes, an empty line, a structured INFO/FORMAT/FILTER/contig line that is malformed or
has a quoted ID, an IDX= attribute, a repeated key or ID, an unknown Type, contig names
outside plain printable ASCII, no ##contig line at all (htslib then adds contigs as
records name them), repeated sample names, or a #CHROM line other than the eight fixed
columns (plus FORMAT and at least one sample). The caller also leaves to htslib a file
whose tabix index names contigs the header does not (htslib adds them).

A BCF (`read_bcf_header`, for the cohort statistics with -@ N, whose workers then start
before numpy and htslib are loaded) holds the same text after `BCF\\2\\2` and its length.
There the dictionary lines usually carry IDX=, the index htslib gives the ID
(`bcf_hdr_id2int`), which the records use: it is read when every FILTER/INFO/FORMAT/contig
line has one and they agree; without any, the indexes are htslib's order (PASS first, then
each ID where it first appears, INFO and FORMAT sharing one dictionary).
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib

MAX_HEADER_BYTES = 64 << 20  # larger headers (thousands of contigs are far smaller): htslib
_FIXED = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
_TYPES = {
    "INFO": ("Integer", "Float", "Flag", "Character", "String"),
    "FORMAT": ("Integer", "Float", "Character", "String"),
}
_MAGIC = b"\x1f\x8b\x08\x04"
_PASS = ("FILTER", "PASS")


class VcfHeader:
    """What the statistics need from a header, as htslib would give it."""

    def __init__(self, samples: tuple[str, ...], contigs: tuple[str, ...],
                 defs: dict[tuple[str, str], str], after_header: int,
                 ids: dict[str, int]):
        self.samples = samples
        self.n_samples = len(samples)
        self.contigs = contigs  # by htslib contig id
        self.defs = defs  # {(INFO|FORMAT|FILTER, ID): Type ('' for FILTER)}
        self.after_header = after_header  # virtual offset of the first record
        self.ids = ids  # FILTER/INFO/FORMAT ID -> htslib's BCF_DT_ID dictionary index

    def hid(self, name: str) -> int:
        """bcf_hdr_id2int(hdr, BCF_DT_ID, name): -1 for an ID the header lacks."""
        return self.ids.get(name, -1)


def _blocks(data: mmap.mmap | bytes, limit: int):
    """(address, payload) of the BGZF blocks from the file's start; None at anything
    that is not plain BGZF."""
    pos = 0
    size = len(data)
    total_out = 0
    while pos < size and total_out <= limit:
        if size - pos < 18 or data[pos:pos + 4] != _MAGIC:
            yield pos, None
            return
        xlen = struct.unpack_from("<H", data, pos + 10)[0]
        if xlen != 6 or data[pos + 12:pos + 14] != b"BC":
            yield pos, None
            return
        bsize = struct.unpack_from("<H", data, pos + 16)[0] + 1
        if pos + bsize > size or bsize < 26:
            yield pos, None
            return
        crc, isize = struct.unpack_from("<II", data, pos + bsize - 8)
        try:
            payload = zlib.decompress(data[pos + 18:pos + bsize - 8], -15)
        except zlib.error:
            yield pos, None
            return
        if len(payload) != isize or zlib.crc32(payload) != crc:
            yield pos, None
            return
        yield pos, payload
        total_out += isize
        pos += bsize
    yield pos, b""  # end of file (or of the limit): no more text


def _prefix(path: str, find_end) -> tuple[bytes, int] | None:
    """The file's inflated bytes up to where `find_end(data, start)` says the header ends
    (`start`: where the last block's bytes begin; it answers None to read on, -1 for a
    file it does not read), and the virtual offset after them; None when it cannot be read
    that way."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return None
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        raw = bytearray()
        for address, payload in _blocks(data, MAX_HEADER_BYTES):
            if not payload:
                return None  # not BGZF, or no header end before the end / the limit
            start = len(raw)
            raw += payload
            end = find_end(raw, start)
            if end is None:
                continue
            if end < 0:
                return None
            within = end - start
            # htslib's reader moves to the next block after a block's last byte
            voffset = (address + _next_block(data, address)) << 16 if within == len(
                payload) else (address << 16) | within
            return bytes(raw[:end]), voffset
        return None
    except (OSError, ValueError, struct.error):
        return None
    finally:
        data.close()


def _split_text(path: str) -> tuple[list[bytes], int] | None:
    """The header's lines (without newlines) and the virtual offset after the #CHROM
    line's newline; None when it cannot be read that way."""
    chrom = -2  # where the #CHROM line starts (-2: not seen yet)

    def find_end(text: bytearray, start: int) -> int | None:
        nonlocal chrom
        if chrom == -2:
            if text.startswith(b"#CHROM"):
                chrom = 0
            else:
                k = text.find(b"\n#CHROM", max(start - 7, 0))
                if k < 0:
                    return None
                chrom = k + 1
        nl = text.find(b"\n", max(chrom, start))
        return None if nl < 0 else nl + 1

    got = _prefix(path, find_end)
    return None if got is None else (got[0][:-1].split(b"\n"), got[1])


def _next_block(data: mmap.mmap, address: int) -> int:
    return struct.unpack_from("<H", data, address + 16)[0] + 1


def attributes(body: str) -> list[tuple[str, str]] | None:
    """key=value pairs of a structured line's <...> body (without the brackets), as
    htslib's bcf_hdr_parse_line splits them: a value in double quotes runs to the closing
    quote (a backslash escapes the next character) and keeps its quotes. None when
    malformed."""
    pairs = []
    i = 0
    n = len(body)
    while i < n:
        eq = body.find("=", i)
        if eq < 0:
            return None
        key = body[i:eq]
        if not key or not all(c.isalnum() or c in "_." for c in key):
            return None
        j = eq + 1
        if j < n and body[j] == '"':
            k = j + 1
            while k < n and body[k] != '"':
                k += 2 if body[k] == "\\" else 1
            if k >= n:
                return None
            end = k + 1
        else:
            end = body.find(",", j)
            end = n if end < 0 else end
            if '"' in body[j:end]:
                return None
        pairs.append((key, body[j:end]))
        if end < n and body[end] != ",":
            return None
        i = end + 1
        if end == n - 1:
            return None  # a trailing comma
    return pairs


def _contig_ok(name: str) -> bool:
    return bool(name) and all(33 <= ord(c) <= 126 and c not in '",<>=\\' for c in name)


def read_header(path: str) -> VcfHeader | None:
    """The header of BGZF VCF `path`, or None when htslib should read it (see the module
    docstring)."""
    split = _split_text(path)
    return None if split is None else _parse(*split, bcf=False)


def read_bcf_header(path: str) -> VcfHeader | None:
    """The header of BGZF BCF `path` (version 2.2), or None when htslib should read it:
    as for VCF text, and also for IDX= attributes on some of the dictionary lines but not
    all, IDX values that disagree (one ID, two values; two IDs, one value; PASS not 0,
    contigs not 0, 1, 2... in order), or text after the #CHROM line."""
    split = _bcf_text(path)
    if split is None:
        return None
    text, after_header = split
    if b"\0" in text or not text.endswith(b"\n"):
        return None
    lines = text[:-1].split(b"\n")
    if not lines[-1].startswith(b"#CHROM"):
        return None
    return _parse(lines, after_header, bcf=True)


BCF_MAGIC = b"BCF\2\2"


def _bcf_text(path: str) -> tuple[bytes, int] | None:
    """A BCF's header text (without its NULs) and the virtual offset after it."""

    def find_end(raw: bytearray, start: int) -> int | None:
        if len(raw) < 9:
            return None
        if raw[:5] != BCF_MAGIC:
            return -1
        end = 9 + struct.unpack_from("<I", raw, 5)[0]
        return end if len(raw) >= end else None

    got = _prefix(path, find_end)
    return None if got is None else (got[0][9:].rstrip(b"\0"), got[1])


def _idx(fields: dict[str, str]) -> int | None:
    """An IDX= value (a plain decimal number), else None."""
    value = fields.get("IDX")
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def _parse(lines: list[bytes], after_header: int, bcf: bool) -> VcfHeader | None:
    """The header of these lines (the last the #CHROM line) as htslib reads it; None when
    it might read it otherwise. IDX= attributes only in a BCF (`bcf`)."""
    try:
        texts = [line.decode("ascii") for line in lines]
    except UnicodeDecodeError:
        return None
    if not texts or not texts[0].startswith("##fileformat="):
        return None
    defs: dict[tuple[str, str], str] = {}
    contigs: list[str] = []
    seen_contigs: set[str] = set()
    indexed: list[bool] = []  # per dictionary line: has it an IDX=?
    order: list[tuple[str, int | None]] = []  # FILTER/INFO/FORMAT (ID, IDX) in order
    for line in texts[:-1]:
        if not line.startswith("##") or "\r" in line or "\t" in line:
            return None
        key, eq, value = line[2:].partition("=")
        if not eq:
            return None
        if key not in ("INFO", "FORMAT", "FILTER", "contig"):
            if value.startswith("<") and key.upper() in ("INFO", "FORMAT", "FILTER",
                                                         "CONTIG"):
                return None  # another spelling htslib may still take
            continue
        if not value.startswith("<") or not value.endswith(">"):
            return None
        pairs = attributes(value[1:-1])
        if pairs is None:
            return None
        keys = [k for k, _ in pairs]
        if ("IDX" in keys and not bcf) or keys.count("ID") != 1 or len(set(keys)) != len(
                keys):
            return None
        fields = dict(pairs)
        ident = fields["ID"]
        if not ident or '"' in ident or "\\" in ident:
            return None
        idx = _idx(fields)
        if "IDX" in keys and idx is None:
            return None
        indexed.append(idx is not None)
        if key == "contig":
            if not _contig_ok(ident) or ident in seen_contigs or keys[0] != "ID":
                return None
            if idx is not None and idx != len(contigs):
                return None
            seen_contigs.add(ident)
            contigs.append(ident)
            continue
        if (key, ident) in defs and (key, ident) != _PASS:
            return None
        order.append((ident, idx))
        if key in _TYPES:
            if fields.get("Type") not in _TYPES[key] or "Number" not in fields:
                return None
            defs[(key, ident)] = fields["Type"]
        else:
            if "Type" in fields:
                return None
            defs[(key, ident)] = ""
    defs.setdefault(_PASS, "")  # htslib adds PASS to every header it reads
    if not contigs:
        return None
    columns = texts[-1].split("\t")
    if tuple(columns[:8]) != _FIXED or len(columns) == 9:
        return None
    samples = columns[9:]
    if len(columns) > 8 and (columns[8] != "FORMAT" or len(set(samples)) != len(samples)
                             or not all(samples)):
        return None
    ids = _dictionary(order, indexed)
    if ids is None:
        return None
    return VcfHeader(tuple(samples), tuple(contigs), defs, after_header, ids)


def _dictionary(order: list[tuple[str, int | None]],
                indexed: list[bool]) -> dict[str, int] | None:
    """htslib's BCF_DT_ID indexes: PASS 0 (bcf_hdr_parse adds it first), then each ID at
    its first line, or at its IDX= when every dictionary line has one; None when some
    lines have IDX= and others not, or when the IDX values disagree."""
    ids = {"PASS": 0}
    if not any(indexed):
        for ident, _ in order:
            ids.setdefault(ident, len(ids))
        return ids
    if not all(indexed):
        return None
    used = {0}
    for ident, idx in order:
        if ident == "PASS":
            if idx != 0:
                return None
            continue
        if ident in ids:
            if ids[ident] != idx:
                return None
            continue
        if idx in used:
            return None
        used.add(idx)
        ids[ident] = idx
    return ids
