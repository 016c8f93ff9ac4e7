"""The parts read through htslib (pysam): BCF and CRAM records, and the --reference FASTA.

BCF and CRAM are too involved to decode here, so htslib decodes them and the records are
checked as the VCF/SAM text it produces; whatever htslib refuses is reported as a rule
problem at that record. pysam is imported only inside these functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from gfcli.engine.errors import UsageError
from gfcli.engine.validate.alignments import AlignmentChecker
from gfcli.engine.validate.reporter import Sink, quote
from gfcli.engine.validate.rules import ERROR, rule
from gfcli.engine.validate.vcf import VcfChecker

BCF_DECODE = rule("bcf.decode", ERROR, "htslib can decode every BCF record")
BCF_MAGIC = rule("bcf.magic", ERROR, "the decompressed data starts with BCF\\2\\1 or BCF\\2\\2")
CRAM_DECODE = rule("cram.decode", ERROR, "htslib can decode the CRAM header and every record")
CRAM_EOF = rule("cram.missing-eof", ERROR, "a CRAM 3 file ends with the EOF container")

# The CRAM 3.x end-of-file container (CRAM spec 9).
CRAM3_EOF = bytes.fromhex(
    "0f000000ffffffff0fe0454f46000000000100"
    "05bdd94f0001000606010001000100ee63014b"
)


# What pysam raises for data htslib refuses (NotImplementedError: a CRAM whose header it
# could not read cannot be iterated).
_HTSLIB_ERRORS = (OSError, ValueError, RuntimeError, KeyError, IndexError, UnicodeDecodeError,
                  NotImplementedError, TypeError, AttributeError)


@contextmanager
def _quiet_htslib() -> Iterator[None]:
    """htslib's own warnings would interleave with the report; its failures are caught."""
    import pysam

    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


class FastaReference:
    """`--reference`: bases by 0-based half-open coordinates, None for an unknown sequence."""

    def __init__(self, path: str):
        import pysam

        if not os.path.exists(path):
            raise UsageError(f"--reference {path}: no such file")
        try:
            self._fasta = pysam.FastaFile(path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--reference {path}: cannot open it as an indexed FASTA: "
                             f"{exc}") from None
        self._names = set(self._fasta.references)

    def __call__(self, chrom: str, start: int, end: int) -> str | None:
        if chrom not in self._names:
            return None
        try:
            return self._fasta.fetch(chrom, start, end)
        except (ValueError, IndexError, KeyError, OSError):
            return None


def bcf_records(path: str, reporter: Sink, checker: VcfChecker) -> int:
    """Feed the records htslib decodes to the VCF checker (the header came from the bytes)."""
    import pysam

    with _quiet_htslib():
        try:
            handle = pysam.VariantFile(path, "r")
        except _HTSLIB_ERRORS as exc:
            reporter.report(BCF_DECODE, None, f"htslib cannot open the file: {exc}")
            return 0
        number = 0
        try:
            iterator = iter(handle)
            while True:
                voffset = handle.tell()
                try:
                    record = next(iterator)
                    text = str(record)
                except StopIteration:
                    break
                except _HTSLIB_ERRORS as exc:
                    reporter.report(BCF_DECODE, number + 1,
                                    f"htslib cannot decode record {number + 1}: {exc}",
                                    block=voffset >> 16)
                    break
                number += 1
                checker.feed(text.rstrip("\n"), number, None, voffset >> 16)
        finally:
            handle.close()
    return number


def cram_records(path: str, reporter: Sink, checker: AlignmentChecker,
                 reference: str | None) -> int:
    """Check a CRAM through htslib: its header and each record's SAM text."""
    import pysam

    with _quiet_htslib():
        try:
            handle = pysam.AlignmentFile(path, "rc", reference_filename=reference,
                                         check_sq=False)
        except _HTSLIB_ERRORS as exc:
            reporter.report(CRAM_DECODE, None, f"htslib cannot open the file: {exc}")
            return 0
        number = 0
        try:
            checker.text_refs_are_refs = False
            header_text = str(handle.header)
            for line_no, line in enumerate(header_text.splitlines(), 1):
                if line:
                    checker.note = f"header line {line_no}: "
                    checker.header_line(line, None)
            checker.note = ""
            for name, length in zip(handle.references, handle.lengths, strict=False):
                checker.add_reference(name, length or None)
            checker.end_header()
            try:
                iterator = iter(handle)
            except _HTSLIB_ERRORS as exc:  # e.g. a header htslib could not read
                reporter.report(CRAM_DECODE, None, f"htslib cannot read the records: {exc}")
                iterator = iter(())
            while True:
                try:
                    segment = next(iterator)
                    text = segment.to_string()
                except StopIteration:
                    break
                except _HTSLIB_ERRORS as exc:
                    reporter.report(CRAM_DECODE, number + 1,
                                    f"htslib cannot decode record {number + 1}: {exc}")
                    break
                number += 1
                checker.text_record(text, number)
        finally:
            handle.close()
        checker.line = None
        checker.finish()
    _cram_eof(path, reporter)
    return number


def _cram_eof(path: str, reporter: Sink) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - len(CRAM3_EOF)))
            tail = handle.read()
    except OSError:
        return
    if head[:4] == b"CRAM" and len(head) > 4 and head[4] == 3 and tail != CRAM3_EOF:
        reporter.report(CRAM_EOF, None, "the file does not end with the CRAM EOF container: "
                                        f"truncated? (last bytes {quote(tail[-8:])})")
