"""Detect a file's real format from its first bytes, never from its name.

The container (plain, gzip, BGZF) is read off the magic bytes; the content format
(VCF, BCF, SAM, BAM, CRAM, FASTQ, FASTA, BED, GFF) off the first decompressed bytes.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

# How much of the start of a file is enough to tell formats apart.
SNIFF_BYTES = 65536

PLAIN = "plain"
GZIP = "gzip"
BGZF = "bgzf"

VCF = "vcf"
BCF = "bcf"
SAM = "sam"
BAM = "bam"
CRAM = "cram"
FASTQ = "fastq"
FASTA = "fasta"
BED = "bed"
GFF = "gff"
EMPTY = "empty"
UNKNOWN = "unknown"

VARIANT_FORMATS = frozenset({VCF, BCF})
ALIGNMENT_FORMATS = frozenset({SAM, BAM, CRAM})

_SAM_HEADER_LINE = re.compile(rb"^@(HD|SQ|RG|PG|CO)\t")
_INT = re.compile(rb"^-?\d+$")


@dataclass(frozen=True)
class Detected:
    format: str
    compression: str

    @property
    def describe(self) -> str:
        if self.format in (EMPTY, UNKNOWN) or self.compression == PLAIN:
            return self.format.upper() if self.format not in (EMPTY, UNKNOWN) else self.format
        if self.format in (BAM, BCF):
            return self.format.upper()
        return f"{self.format.upper()} ({self.compression})"


def is_bgzf(head: bytes) -> bool:
    """BGZF is gzip with an extra field holding the 'BC' subfield (SAM spec 4.1)."""
    if len(head) < 18 or head[:2] != b"\x1f\x8b" or head[2] != 8 or not head[3] & 4:
        return False
    xlen = head[10] | (head[11] << 8)
    extra = head[12 : 12 + xlen]
    pos = 0
    while pos + 4 <= len(extra):
        si1, si2 = extra[pos], extra[pos + 1]
        slen = extra[pos + 2] | (extra[pos + 3] << 8)
        if si1 == 66 and si2 == 67:
            return True
        pos += 4 + slen
    return False


def _inflate_prefix(head: bytes) -> bytes:
    """Decompress as much of a gzip/BGZF stream's start as the bytes given allow."""
    out = bytearray()
    data = head
    while data and len(out) < SNIFF_BYTES:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decomp.decompress(data, SNIFF_BYTES)
        except zlib.error:
            break
        if not decomp.eof:
            break
        # BGZF and multi-member gzip: continue with the next member. An empty first
        # member (a BGZF EOF block only) must not hide the data behind it.
        data = decomp.unused_data
    return bytes(out)


def detect_bytes(head: bytes) -> Detected:
    """Name the format of a stream whose first bytes are `head`."""
    if not head:
        return Detected(EMPTY, PLAIN)
    if head[:4] == b"CRAM":
        return Detected(CRAM, PLAIN)
    if head[:2] == b"\x1f\x8b":
        compression = BGZF if is_bgzf(head) else GZIP
        content = _inflate_prefix(head)
        if not content:
            return Detected(EMPTY, compression)
        return Detected(_content_format(content), compression)
    return Detected(_content_format(head), PLAIN)


def _content_format(data: bytes) -> str:
    if data[:4] == b"BAM\x01":
        return BAM
    if data[:3] == b"BCF" and len(data) > 3 and data[3] in (1, 2):
        return BCF
    if data.startswith(b"##fileformat=VCF"):
        return VCF
    if data.startswith(b"##gff-version") or data.startswith(b"##gtf"):
        return GFF
    if _SAM_HEADER_LINE.match(data):
        return SAM
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1] or lines  # the last line may be cut off by the sniff window
    first = lines[0] if lines else b""
    if first.startswith(b">"):
        return FASTA
    if first.startswith(b"@"):
        if len(lines) >= 3 and lines[2].startswith(b"+"):
            return FASTQ
        if _looks_like_sam(first):
            return SAM
        return FASTQ if len(lines) < 3 else UNKNOWN
    body = [ln for ln in lines if ln and not ln.startswith((b"#", b"track", b"browser"))]
    if not body:
        return UNKNOWN
    fields = body[0].rstrip(b"\r").split(b"\t")
    if _looks_like_sam(body[0]):
        return SAM
    if len(fields) >= 9 and _INT.match(fields[3]) and _INT.match(fields[4]) and fields[6] in (
        b"+", b"-", b".", b"?"
    ):
        return GFF
    if len(fields) >= 3 and _INT.match(fields[1]) and _INT.match(fields[2]):
        return BED
    return UNKNOWN


def _looks_like_sam(line: bytes) -> bool:
    fields = line.rstrip(b"\r").split(b"\t")
    return (
        len(fields) >= 11
        and _INT.match(fields[1]) is not None
        and _INT.match(fields[3]) is not None
        and _INT.match(fields[4]) is not None
    )
