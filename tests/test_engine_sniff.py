"""Format detection reads bytes, never names."""

from __future__ import annotations

import gzip

import pysam
import pytest
from pysam import bcftools

from gfcli.engine import sniff
from gfcli.engine.errors import DataError, InputNotFound
from gfcli.engine.source import open_input, require_format

VCF_TEXT = (
    b"##fileformat=VCFv4.2\n##contig=<ID=1,length=100>\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t5\t.\tA\tC\t1\t.\t.\n"
)
SAM_TEXT = b"@HD\tVN:1.6\tSO:unsorted\n@SQ\tSN:1\tLN:100\nr1\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (VCF_TEXT, sniff.VCF),
        (SAM_TEXT, sniff.SAM),
        (b"r1\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n", sniff.SAM),
        (b"@r1\nACGT\n+\nIIII\n@r2\nAC\n+\nII\n", sniff.FASTQ),
        (b">chr1 desc\nACGT\n", sniff.FASTA),
        (b"chr1\t10\t20\tname\n", sniff.BED),
        (b"track name=x\nchr1\t10\t20\n", sniff.BED),
        (b"##gff-version 3\nchr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=g\n", sniff.GFF),
        (b"chr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=g\n", sniff.GFF),
        (b"hello world\n", sniff.UNKNOWN),
        (b"", sniff.EMPTY),
    ],
)
def test_plain_text_formats(payload, expected):
    assert sniff.detect_bytes(payload).format == expected
    assert sniff.detect_bytes(payload).compression == sniff.PLAIN


def test_gzip_and_bgzf_are_told_apart(tmp_path):
    plain = tmp_path / "a.vcf"
    plain.write_bytes(VCF_TEXT)
    bgzf = tmp_path / "a.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgzf))
    gz = gzip.compress(VCF_TEXT)
    assert sniff.detect_bytes(bgzf.read_bytes()) == sniff.Detected(sniff.VCF, sniff.BGZF)
    assert sniff.detect_bytes(gz) == sniff.Detected(sniff.VCF, sniff.GZIP)


def test_binary_formats(tmp_path):
    sam = tmp_path / "a.sam"
    sam.write_bytes(SAM_TEXT)
    bam = tmp_path / "a.bam"
    pysam.samtools.view("-b", "-o", str(bam), str(sam), catch_stdout=False)
    assert sniff.detect_bytes(bam.read_bytes()[: sniff.SNIFF_BYTES]).format == sniff.BAM
    vcf = tmp_path / "a.vcf"
    vcf.write_bytes(VCF_TEXT)
    bcf = tmp_path / "a.bcf"
    bcftools.view("-Ob", "-o", str(bcf), str(vcf), catch_stdout=False)
    assert sniff.detect_bytes(bcf.read_bytes()).format == sniff.BCF
    assert sniff.detect_bytes(b"CRAM\x03\x01" + b"\0" * 20).format == sniff.CRAM


def test_name_is_ignored(tmp_path):
    misnamed = tmp_path / "really_sam.vcf.gz"
    misnamed.write_bytes(SAM_TEXT)
    inp = open_input(str(misnamed))
    assert inp.format == sniff.SAM
    with pytest.raises(DataError, match="detected SAM"):
        require_format(inp, sniff.VARIANT_FORMATS, "VCF or BCF")


def test_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.vcf"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        require_format(open_input(str(empty)), sniff.VARIANT_FORMATS, "VCF or BCF")
    with pytest.raises(InputNotFound):
        open_input(str(tmp_path / "nope.vcf"))


def test_bgzf_eof_only_is_empty():
    eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    assert sniff.detect_bytes(eof).format == sniff.EMPTY
