"""`gfcli validate`: every rule is triggered by at least one small broken file built here.

Each case is (file name, bytes, options); the test asserts the rule is reported. Binary
inputs (BAM, BCF, BGZF) are built from raw bytes so that any field can be made wrong; the
helpers are shared with the other validate tests.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gfcli.engine.bgzf import EOF_BLOCK, compress_payload
from gfcli.engine.validate import rules as rules_mod
from gfcli.engine.validate.bam import reg2bin
from gfcli.engine.validate.reporter import FileReport
from gfcli.engine.validate.run import check_files

# --------------------------------------------------------------------------- builders

VCF_META = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=q10,Description="Quality below 10">
##contig=<ID=chr1,length=1000>
##contig=<ID=chr2,length=500>
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Likelihoods">
"""
VCF_HEADER_LINE = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
VCF_RECORD = "chr1\t100\t.\tA\tC\t30\tPASS\tDP=5\tGT:AD\t0/1:3,2\t0/0:5,0\n"


def vcf(*records: str, meta: str = VCF_META, header: str = VCF_HEADER_LINE,
        extra_meta: str = "") -> bytes:
    body = "".join(r if r.endswith("\n") else r + "\n" for r in records) if records else VCF_RECORD
    return (meta + extra_meta + header + body).encode()


def rec(**changes: str) -> str:
    """VCF_RECORD with some columns replaced."""
    names = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", "S1", "S2"]
    cols = VCF_RECORD.rstrip("\n").split("\t")
    for key, value in changes.items():
        cols[names.index(key)] = value
    return "\t".join(cols)


SAM_HEADER = ("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:1000\n@SQ\tSN:chr2\tLN:500\n"
              "@RG\tID:g1\n@PG\tID:p1\tPN:x\n")
SAM_RECORD = "r1\t0\tchr1\t100\t60\t4M\t*\t0\t0\tACGT\tIIII\tRG:Z:g1"


def sam(*records: str, header: str = SAM_HEADER) -> bytes:
    body = records or (SAM_RECORD,)
    return (header + "".join(r + "\n" for r in body)).encode()


def srec(**changes: str) -> str:
    names = ["QNAME", "FLAG", "RNAME", "POS", "MAPQ", "CIGAR", "RNEXT", "PNEXT", "TLEN", "SEQ",
             "QUAL"]
    cols = SAM_RECORD.split("\t")
    for key, value in changes.items():
        cols[names.index(key)] = value
    return "\t".join(cols)


FASTQ = b"@r1\nACGT\n+\nIIII\n@r2\nGGCC\n+\nIIII\n"


def bgzf(data: bytes, eof: bool = True) -> bytes:
    return compress_payload(data) + (EOF_BLOCK if eof else b"")


_NIBBLE = "=ACMGRSVTWYHKDBN"


def bam_record(
    *, ref_id: int = 0, pos0: int = 99, name: bytes = b"r1\x00", mapq: int = 60,
    bin_: int | None = None, cigar: tuple[tuple[int, int], ...] = ((0, 4),), flag: int = 0,
    seq: str = "ACGT", qual: bytes | None = None, next_ref: int = -1, next_pos: int = -1,
    tlen: int = 0, aux: bytes = b"", size: int | None = None,
) -> bytes:
    """One BAM record (with its block_size) from fields; anything may be made wrong."""
    if bin_ is None:
        span = sum(n for op, n in cigar if op in (0, 2, 3, 7, 8))
        bin_ = reg2bin(pos0, pos0 + (span or 1))
    packed = bytearray()
    for i in range(0, len(seq), 2):
        hi = _NIBBLE.index(seq[i]) << 4
        lo = _NIBBLE.index(seq[i + 1]) if i + 1 < len(seq) else 0
        packed.append(hi | lo)
    qual = bytes([30] * len(seq)) if qual is None else qual
    body = struct.pack("<iiBBHHHiiii", ref_id, pos0, len(name), mapq, bin_, len(cigar), flag,
                       len(seq), next_ref, next_pos, tlen)
    body += name + b"".join(struct.pack("<I", n << 4 | op) for op, n in cigar)
    body += bytes(packed) + qual + aux
    return struct.pack("<i", len(body) if size is None else size) + body


BAM_TEXT = b"@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:1000\n@SQ\tSN:chr2\tLN:500\n"


def bam_header(text: bytes = BAM_TEXT, refs: tuple[tuple[bytes, int], ...] = (
        (b"chr1", 1000), (b"chr2", 500)), magic: bytes = b"BAM\x01",
        l_text: int | None = None) -> bytes:
    out = magic + struct.pack("<i", len(text) if l_text is None else l_text) + text
    out += struct.pack("<i", len(refs))
    for name, length in refs:
        out += struct.pack("<i", len(name) + 1) + name + b"\x00" + struct.pack("<i", length)
    return out


def bam(*records: bytes, header: bytes | None = None) -> bytes:
    return bgzf((bam_header() if header is None else header) + b"".join(
        records or (bam_record(),)))


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    name: str
    data: bytes | None  # None: the file is not created
    options: dict[str, object] = field(default_factory=dict)
    setup: Callable[[Path], dict[str, object]] | None = None  # extra files; returns options


def _reference(tmp: Path) -> dict[str, object]:
    import pysam

    fasta = tmp / "ref.fa"
    fasta.write_text(">chr1\n" + "G" * 1000 + "\n>chr2\n" + "T" * 500 + "\n")
    pysam.faidx(str(fasta))
    return {"reference": str(fasta)}


def _pair(r2: bytes) -> Callable[[Path], dict[str, object]]:
    def setup(tmp: Path) -> dict[str, object]:
        (tmp / "r2.fq").write_bytes(r2)
        return {"paired": str(tmp / "r2.fq")}

    return setup


def _tabix_then(action: str) -> Callable[[Path], dict[str, object]]:
    """A bgzipped VCF with a .tbi, then the index made stale, garbage or wrong."""

    def setup(tmp: Path) -> dict[str, object]:
        import pysam

        path = tmp / "in.vcf.gz"
        pysam.tabix_index(str(path), preset="vcf", force=True)
        index = Path(str(path) + ".tbi")
        if action == "older":
            os.utime(index, (1_000_000, 1_000_000))
        elif action == "garbage":
            index.write_bytes(b"this is not an index")
        return {}

    return setup


def _bam_index_mismatch(tmp: Path) -> dict[str, object]:
    import pysam

    path = tmp / "in.bam"
    pysam.index(str(path))
    # Rewrite the data with one record fewer: the index counts no longer fit.
    path.write_bytes(bam(bam_record(pos0=10)))
    index = Path(str(path) + ".bai")
    os.utime(index, None)
    os.utime(path, (1_000_000, 1_000_000))
    return {}


def _valid_bcf() -> bytes:
    return b""  # built in the setup (needs pysam)


def _bcf_truncated_record(tmp: Path) -> dict[str, object]:
    import pysam

    src = tmp / "src.vcf"
    src.write_bytes(vcf(VCF_RECORD, rec(POS="200")))
    out = tmp / "in.bcf"
    with pysam.VariantFile(str(src)) as inp, pysam.VariantFile(str(out), "wb",
                                                               header=inp.header) as dst:
        for record in inp:
            dst.write(record)
    data = gzip.decompress(out.read_bytes())
    out.write_bytes(bgzf(data[:-10]))  # cut inside the last record, container still valid
    return {}


def _cram(tmp: Path, cut: int) -> None:
    import pysam

    ref = _reference(tmp)["reference"]
    sam_path = tmp / "src.sam"
    sam_path.write_bytes(sam())
    out = tmp / "in.cram"
    with pysam.AlignmentFile(str(sam_path)) as inp, pysam.AlignmentFile(
            str(out), "wc", template=inp, reference_filename=str(ref)) as dst:
        for read in inp:
            dst.write(read)
    if cut:
        out.write_bytes(out.read_bytes()[:-cut])


def _cram_no_eof(tmp: Path) -> dict[str, object]:
    _cram(tmp, 38)
    return {"reference": str(tmp / "ref.fa")}


def _crai_then(action: str) -> Callable[[Path], dict[str, object]]:
    """A CRAM with a .crai (its one line: 0 100 4 OFFSET 194 99), then the index spoilt."""

    def setup(tmp: Path) -> dict[str, object]:
        import pysam

        _cram(tmp, 0)
        path = tmp / "in.cram"
        pysam.index(str(path))
        index = Path(str(path) + ".crai")
        line = gzip.decompress(index.read_bytes()).split(b"\n")[0]
        seq, start, span, offset, slice_offset, slice_size = line.split(b"\t")
        lines = {
            "older": [line],
            "garbage": [b"0\t100\tfour"],
            # 1 byte past the container start; a slice larger than its container.
            "offset": [b"\t".join([seq, start, span, b"%d" % (int(offset) + 1), slice_offset,
                                   slice_size]),
                       b"\t".join([seq, start, span, offset, slice_offset, b"99999"])],
            "unsorted": [b"1\t50\t4\t" + b"\t".join([offset, slice_offset, slice_size]), line],
        }[action]
        index.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
        if action == "older":
            os.utime(index, (1_000_000, 1_000_000))
        return {"reference": str(tmp / "ref.fa")}

    return setup


LONG = "chr1\t100\t.\tA\tC\t30\tPASS\tDP=" + "9" * 300


CASES: dict[str, list[Case]] = {
    "input.empty": [Case("in.vcf", b"")],
    "input.format": [Case("in.dat", b"\x01\x02 nothing known\n")],
    "input.format-guessed": [Case("in.vcf", b"garbage that is no format\n")],
    "input.unreadable": [Case("absent.vcf", None)],
    "gzip.truncated": [Case("in.vcf.gz", gzip.compress(vcf())[:-30])],
    "gzip.corrupt": [Case("in.vcf.gz", (lambda d: d[:-8] + bytes([d[-8] ^ 0xFF]) + d[-7:])(
        gzip.compress(vcf())))],
    "gzip.trailing-garbage": [Case("in.vcf.gz", gzip.compress(vcf()) + b"not gzip at all")],
    "bgzf.bad-header": [Case("in.vcf.gz", compress_payload(vcf()) + b"X" * 40 + EOF_BLOCK)],
    "bgzf.truncated": [Case("in.vcf.gz", compress_payload(vcf())[:-12])],
    "bgzf.corrupt-block": [Case("in.vcf.gz", (lambda d: d[:-8 - 28] + bytes(
        [d[-8 - 28] ^ 1]) + d[-7 - 28:])(bgzf(vcf())))],
    "bgzf.missing-eof": [Case("in.vcf.gz", bgzf(vcf(), eof=False)),
                         Case("in.bam", bgzf(bam_header() + bam_record(), eof=False))],
    "bgzf.plain-gzip": [Case("in.vcf.gz", gzip.compress(vcf()))],
    "index.older": [Case("in.vcf.gz", bgzf(vcf()), setup=_tabix_then("older")),
                    Case("in.cram", None, setup=_crai_then("older"))],
    "index.unreadable": [Case("in.vcf.gz", bgzf(vcf()), setup=_tabix_then("garbage")),
                         Case("in.cram", None, setup=_crai_then("garbage"))],
    "index.inconsistent": [Case("in.bam", bam(bam_record(pos0=10), bam_record(pos0=20)),
                                setup=_bam_index_mismatch),
                           Case("in.cram", None, setup=_crai_then("offset"))],
    "index.unsorted": [Case("in.cram", None, setup=_crai_then("unsorted"))],
    "text.line-too-long": [Case("in.vcf", vcf(LONG), {"max_line": 200})],
    "text.binary": [Case("in.vcf", vcf(rec(ID="a\x00b")))],
    "text.crlf": [Case("in.vcf", vcf().replace(b"\n", b"\r\n"))],
    "text.no-final-newline": [Case("in.vcf", vcf().rstrip(b"\n"))],
    # VCF
    "vcf.fileformat": [Case("in.vcf", vcf(meta=VCF_META.replace("##fileformat=VCFv4.2\n", ""))),
                       Case("in.vcf", vcf(meta=VCF_META.replace("v4.2", "v3.3")))],
    "vcf.meta-syntax": [Case("in.vcf", vcf(extra_meta="##INFO=<ID=X,Number=1\n")),
                        Case("in.vcf", vcf(extra_meta="##noequals\n"))],
    "vcf.info-header": [Case("in.vcf", vcf(
        extra_meta='##INFO=<ID=X,Number=Z,Type=Integer,Description="x">\n'))],
    "vcf.format-header": [Case("in.vcf", vcf(
        extra_meta='##FORMAT=<ID=X,Number=0,Type=Flag,Description="x">\n'))],
    "vcf.filter-header": [Case("in.vcf", vcf(extra_meta="##FILTER=<ID=f1>\n"))],
    "vcf.contig-header": [Case("in.vcf", vcf(extra_meta="##contig=<ID=chr9,length=abc>\n"))],
    "vcf.header-line": [Case("in.vcf", vcf(header=VCF_HEADER_LINE.replace("\t", " "))),
                        Case("in.vcf", vcf(header=""))],
    "vcf.sample-names": [Case("in.vcf", vcf(header=VCF_HEADER_LINE.replace("S2", "S1")))],
    "vcf.column-count": [Case("in.vcf", vcf("chr1\t100\t.\tA\tC")),
                         Case("in.vcf", vcf(rec() + "\textra"))],
    "vcf.chrom-undeclared": [Case("in.vcf", vcf(rec(CHROM="chrZ")))],
    "vcf.no-contigs": [Case("in.vcf", vcf(meta="".join(
        line + "\n" for line in VCF_META.splitlines() if "contig" not in line)))],
    "vcf.chrom-name": [Case("in.vcf", vcf(rec(CHROM="<chr1>")))],
    "vcf.pos": [Case("in.vcf", vcf(rec(POS="abc"))), Case("in.vcf", vcf(rec(POS="-5")))],
    "vcf.pos-range": [Case("in.vcf", vcf(rec(POS="5000")))],
    "vcf.unsorted": [Case("in.vcf", vcf(rec(POS="100"), rec(POS="50")))],
    "vcf.chrom-not-contiguous": [Case("in.vcf", vcf(rec(), rec(CHROM="chr2"),
                                                    rec(POS="200")))],
    "vcf.id": [Case("in.vcf", vcf(rec(ID="rs1;;rs2")))],
    "vcf.ref": [Case("in.vcf", vcf(rec(REF="X")))],
    "vcf.alt": [Case("in.vcf", vcf(rec(ALT="Z"))), Case("in.vcf", vcf(rec(ALT="A")))],
    "vcf.symbolic-allele": [Case("in.vcf", vcf(rec(ALT="<DEL")))],
    "vcf.alt-undeclared": [Case("in.vcf", vcf(rec(ALT="<FOO>")))],
    "vcf.breakend": [Case("in.vcf", vcf(rec(ALT="A[chr1:10]")))],
    "vcf.ref-mismatch": [Case("in.vcf", vcf(), setup=_reference)],
    "vcf.qual": [Case("in.vcf", vcf(rec(QUAL="abc"))), Case("in.vcf", vcf(rec(QUAL="-1")))],
    "vcf.filter-syntax": [Case("in.vcf", vcf(rec(FILTER="PASS;q10")))],
    "vcf.filter-undeclared": [Case("in.vcf", vcf(rec(FILTER="q99")))],
    "vcf.info-syntax": [Case("in.vcf", vcf(rec(INFO="DP=5;;DB")))],
    "vcf.info-undeclared": [Case("in.vcf", vcf(rec(INFO="FOO=1")))],
    "vcf.info-type": [Case("in.vcf", vcf(rec(INFO="DP=x"))), Case("in.vcf", vcf(rec(INFO="DP")))],
    "vcf.info-number": [Case("in.vcf", vcf(rec(INFO="AF=0.1,0.2")))],
    "vcf.info-flag": [Case("in.vcf", vcf(rec(INFO="DB=1")))],
    "vcf.format-syntax": [Case("in.vcf", vcf(rec(FORMAT="AD:GT", S1="3,2:0/1", S2="5,0:0/0")))],
    "vcf.format-undeclared": [Case("in.vcf", vcf(rec(FORMAT="GT:ZZ")))],
    "vcf.sample-columns": [Case("in.vcf", vcf(rec(S1="0/1:3,2:7")))],
    "vcf.format-type": [Case("in.vcf", vcf(rec(S1="0/1:x,2")))],
    "vcf.format-number": [Case("in.vcf", vcf(rec(S1="0/1:3"))),
                          Case("in.vcf", vcf(rec(FORMAT="GT:PL", S1="0/1:1,2", S2="0:0,1")))],
    "vcf.gt-syntax": [Case("in.vcf", vcf(rec(S1="0/a:3,2")))],
    "vcf.gt-allele": [Case("in.vcf", vcf(rec(S1="0/5:3,2")))],
    "vcf.gt-ploidy": [Case("in.vcf", vcf(rec(), rec(POS="200", S1="0/1/1:3,2")))],
    "vcf.end": [Case("in.vcf", vcf(rec(INFO="END=50"))),
                Case("in.vcf", vcf(rec(INFO="END=150")))],
    # FASTQ
    "fastq.header": [Case("in.fq", b"r1\nACGT\n+\nIIII\n" + FASTQ),
                     Case("in.fq", b"@\nACGT\n+\nIIII\n")],
    "fastq.separator": [Case("in.fq", b"@r1\nACGT\n-\nIIII\n"),
                        Case("in.fq", b"@r1\nACGT\n+r2\nIIII\n")],
    "fastq.seq-chars": [Case("in.fq", b"@r1\nAC1T\n+\nIIII\n")],
    "fastq.qual-length": [Case("in.fq", b"@r1\nACGT\n+\nIII\n")],
    "fastq.qual-range": [Case("in.fq", b"@r1\nACGT\n+\nII I\n")],
    "fastq.truncated": [Case("in.fq", FASTQ + b"@r3\nAC\n")],
    "fastq.empty-read": [Case("in.fq", b"@r1\n\n+\n\n")],
    "fastq.pair-name": [Case("in.fq", FASTQ, setup=_pair(FASTQ.replace(b"@r2", b"@rX")))],
    "fastq.pair-count": [Case("in.fq", FASTQ, setup=_pair(FASTQ + b"@r3\nA\n+\nI\n"))],
    # SAM text
    "sam.header-syntax": [Case("in.sam", sam(header=SAM_HEADER + "@SQ\tSNchr3\n")),
                          Case("in.sam", sam(SAM_RECORD, "@CO\tlate"))],
    "sam.hd": [Case("in.sam", sam(header=SAM_HEADER.replace("VN:1.6\t", ""))),
               Case("in.sam", sam(header=SAM_HEADER.replace("SO:coordinate", "SO:bogus")))],
    "sam.sq": [Case("in.sam", sam(header=SAM_HEADER + "@SQ\tSN:chr1\tLN:1000\n")),
               Case("in.sam", sam(header=SAM_HEADER + "@SQ\tSN:chr3\tLN:0\n"))],
    "sam.rg": [Case("in.sam", sam(header=SAM_HEADER + "@RG\tSM:x\n"))],
    "sam.pg": [Case("in.sam", sam(header=SAM_HEADER + "@PG\tID:p2\tPP:nope\n"))],
    "sam.column-count": [Case("in.sam", sam("r1\t0\tchr1\t100\t60"))],
    "sam.qname": [Case("in.sam", sam(srec(QNAME="r@1")))],
    "sam.flag": [Case("in.sam", sam(srec(FLAG="abc")))],
    "sam.flag-consistency": [Case("in.sam", sam(srec(FLAG="64"))),
                             Case("in.sam", sam(srec(FLAG="260", MAPQ="0")))],
    "sam.rname": [Case("in.sam", sam(srec(RNAME="chrZ")))],
    "sam.pos": [Case("in.sam", sam(srec(POS="2000"))), Case("in.sam", sam(srec(POS="x")))],
    "sam.mapq": [Case("in.sam", sam(srec(MAPQ="300")))],
    "sam.mapq-unmapped": [Case("in.sam", sam(srec(FLAG="4", RNAME="*", POS="0", MAPQ="30",
                                                  CIGAR="*")))],
    "sam.cigar": [Case("in.sam", sam(srec(CIGAR="4Q"))),
                  Case("in.sam", sam(srec(CIGAR="1M1H2M")))],
    "sam.cigar-seq-length": [Case("in.sam", sam(srec(CIGAR="5M")))],
    "sam.rnext": [Case("in.sam", sam(srec(RNEXT="chrZ")))],
    "sam.pnext": [Case("in.sam", sam(srec(PNEXT="-5")))],
    "sam.tlen": [Case("in.sam", sam(srec(TLEN="abc")))],
    "sam.mate-fields": [Case("in.sam", sam(srec(PNEXT="50")))],
    "sam.seq": [Case("in.sam", sam(srec(SEQ="AC1T")))],
    "sam.qual-length": [Case("in.sam", sam(srec(QUAL="III")))],
    "sam.qual-range": [Case("in.sam", sam(srec(QUAL="II I")))],
    "sam.tag": [Case("in.sam", sam(SAM_RECORD + "\tXX:q:1")),
                Case("in.sam", sam(SAM_RECORD + "\tRG:Z:again"))],
    "sam.unsorted": [Case("in.sam", sam(SAM_RECORD, srec(POS="50")))],
    "sam.mate-missing": [Case("in.sam", sam(srec(FLAG="73")), {"mates": True})],
    "sam.mate-mismatch": [Case("in.sam", sam(
        srec(FLAG="99", RNEXT="=", PNEXT="200", TLEN="104"),
        srec(FLAG="147", POS="200", RNEXT="=", PNEXT="150", TLEN="-104")), {"mates": True})],
    # BAM
    "bam.magic": [Case("in.bam", bgzf(bam_header(magic=b"BAX\x01") + bam_record()))],
    "bam.header": [Case("in.bam", bgzf(bam_header(l_text=-5)))],
    "bam.header-refs": [Case("in.bam", bam(header=bam_header(refs=((b"chr1", 1000),))))],
    "bam.truncated": [Case("in.bam", bgzf(bam_header() + bam_record()[:-3]))],
    "bam.record-size": [Case("in.bam", bam(bam_record(size=10))),
                        Case("in.bam", bam(bam_record(size=40)))],
    "bam.read-name": [Case("in.bam", bam(bam_record(name=b"r1")))],
    "bam.bin": [Case("in.bam", bam(bam_record(bin_=7)))],
    # BCF and CRAM (through htslib)
    "bcf.magic": [Case("in.bcf", bgzf(b"BCX\x02\x02" + b"\x00" * 20))],
    "bcf.decode": [Case("in.bcf", b"", setup=_bcf_truncated_record)],
    "cram.decode": [Case("in.cram", b"CRAM\x03\x00" + b"\x00" * 20 + b"junk" * 10)],
    "cram.missing-eof": [Case("in.cram", b"", setup=_cram_no_eof)],
}

# Rules of binary records that the SAM text cases above reach through SAM text only.
BAM_ALSO = {
    "sam.cigar": bam(bam_record(cigar=((9, 4),))),
    "sam.cigar-seq-length": bam(bam_record(cigar=((0, 5),))),
    "sam.qual-range": bam(bam_record(qual=bytes([30, 30, 120, 30]))),
    "sam.rname": bam(bam_record(ref_id=7)),
    "sam.tag": bam(bam_record(aux=b"XXq\x01")),
    "sam.flag-consistency": bam(bam_record(flag=0x40)),
    "sam.unsorted": bam(bam_record(pos0=100), bam_record(pos0=50)),
}


def _run(tmp_path: Path, case: Case) -> FileReport:
    path = tmp_path / case.name
    if case.data is not None:
        path.write_bytes(case.data)
    options = dict(case.options)
    if case.setup is not None:
        options.update(case.setup(tmp_path))
    reports = check_files([str(path)], **options)  # type: ignore[arg-type]
    return reports[0]


def _all_cases() -> list[tuple[str, int, Case]]:
    return [(rule_id, i, case) for rule_id, cases in CASES.items()
            for i, case in enumerate(cases)]


def test_every_rule_has_a_case() -> None:
    rules = rules_mod.load_all()
    missing = sorted(set(rules) - set(CASES) - {rules_mod.INTERNAL})
    assert not missing, f"rules without a triggering file: {missing}"
    assert not set(CASES) - set(rules), "cases for rules that do not exist"


@pytest.mark.parametrize(("rule_id", "index", "case"), _all_cases(),
                         ids=[f"{r}-{i}" for r, i, _ in _all_cases()])
def test_rule_is_triggered(tmp_path: Path, rule_id: str, index: int, case: Case) -> None:
    report = _run(tmp_path, case)
    assert rule_id in report.counts, (rule_id, [p.format() for p in report.problems])
    assert rules_mod.INTERNAL not in report.counts


@pytest.mark.parametrize("rule_id", sorted(BAM_ALSO))
def test_bam_records_share_the_sam_rules(tmp_path: Path, rule_id: str) -> None:
    path = tmp_path / "in.bam"
    path.write_bytes(BAM_ALSO[rule_id])
    report = check_files([str(path)])[0]
    assert rule_id in report.counts, [p.format() for p in report.problems]
    problem = next(p for p in report.problems if p.rule == rule_id)
    assert problem.offset is not None and problem.block is not None  # record number + byte


def test_internal_failure_is_reported_not_raised(tmp_path: Path, monkeypatch) -> None:
    from gfcli.engine.validate import vcf as vcf_mod

    def boom(self, line: str) -> None:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(vcf_mod.VcfChecker, "_record", boom)
    path = tmp_path / "in.vcf"
    path.write_bytes(vcf())
    report = check_files([str(path)])[0]
    assert rules_mod.INTERNAL in report.counts


def test_the_base_files_are_valid(tmp_path: Path) -> None:
    """The templates the cases mutate must themselves be clean."""
    for name, data in (("a.vcf", vcf()), ("a.sam", sam()), ("a.fq", FASTQ), ("a.bam", bam())):
        path = tmp_path / name
        path.write_bytes(data)
        report = check_files([str(path)])[0]
        assert report.counts == {}, [p.format() for p in report.problems]
