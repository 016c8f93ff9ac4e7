"""Orchestration of `gfcli validate`: open each input, pick its checker, report, exit code."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from gfcli.engine import sniff
from gfcli.engine.errors import EXIT_DATA, EXIT_OK, EXIT_USAGE, GfcliError, UsageError
from gfcli.engine.validate import rules as rules_mod
from gfcli.engine.validate.container import BGZF_NOT, Decompressed, check_crai, check_index
from gfcli.engine.validate.reporter import (
    FileReport,
    Reporter,
    Sink,
    expand_ignore,
)
from gfcli.engine.validate.rules import (
    INPUT_EMPTY,
    INPUT_FORMAT,
    INPUT_FORMAT_GUESSED,
    INPUT_UNREADABLE,
    INTERNAL,
)
from gfcli.engine.validate.text import MAX_LINE, Lines

FORMATS = ("vcf", "bcf", "sam", "bam", "cram", "fastq")
_NAME_HINTS = (
    (".vcf.gz", "vcf"), (".vcf.bgz", "vcf"), (".vcf", "vcf"), (".bcf", "bcf"),
    (".sam.gz", "sam"), (".sam", "sam"), (".bam", "bam"), (".cram", "cram"),
    (".fastq.gz", "fastq"), (".fq.gz", "fastq"), (".fastq", "fastq"), (".fq", "fastq"),
)


@dataclass
class ValidateRequest:
    inputs: list[str] = field(default_factory=list)
    format: str | None = None
    reference: str | None = None
    mates: bool = False
    paired: str | None = None
    max_errors: int = 100
    ignore: list[str] = field(default_factory=list)
    strict: bool = False
    summary: bool = False
    output_type: str | None = None
    output: str = "-"
    quiet: bool = False
    threads: int = 1
    max_line: int = MAX_LINE


@dataclass(frozen=True)
class _Options:
    """What a single file's validation needs (picklable, for -@ workers)."""

    format: str | None
    reference: str | None
    mates: bool
    paired: str | None
    max_line: int


def list_rules(stream: TextIO) -> None:
    table = rules_mod.load_all()
    width = max(len(r) for r in table)
    for rule_id in sorted(table):
        item = table[rule_id]
        stream.write(f"{rule_id:<{width}}  {item.severity:<7}  {item.summary}\n")


def run_validate(req: ValidateRequest) -> int:
    """Validate every input; returns the exit code (0 valid, 1 errors, 2 unreadable)."""
    rules_mod.load_all()
    if req.output_type not in (None, "text", "json"):
        raise UsageError(f"-O {req.output_type}: validate writes 'text' or 'json'")
    if req.format is not None and req.format not in FORMATS:
        raise UsageError(f"--format {req.format}: one of {', '.join(FORMATS)} expected")
    if req.max_errors < 0:
        raise UsageError("--max-errors must be 0 (no limit) or more")
    inputs = req.inputs or ["-"]
    if req.paired is not None and len(inputs) != 1:
        raise UsageError("--paired takes one R1 file and the R2 file as its value")
    if inputs.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    json_to_stdout = req.output_type == "json" and req.output in ("-", "")
    reporter = Reporter(
        None if req.quiet else sys.stderr,
        max_errors=req.max_errors,
        ignore=expand_ignore(req.ignore),
        strict=req.strict,
    )
    reference = req.reference
    if reference is not None and not os.path.exists(reference):
        raise UsageError(f"--reference {reference}: no such file")
    opts = _Options(req.format, reference, req.mates, req.paired, req.max_line)
    if req.threads > 1 and "-" not in inputs:
        _run_parallel(inputs, opts, reporter, req.threads)
    else:
        for name in inputs:
            validate_one(name, opts, reporter)
    if req.summary:
        _write_summary(reporter, sys.stderr if json_to_stdout else sys.stdout)
    if req.output_type == "json":
        _write_json(reporter, req.output)
    return exit_code(reporter.files)


def check_files(
    inputs: list[str],
    *,
    stream: TextIO | None = None,
    max_errors: int = 100,
    ignore: list[str] | None = None,
    strict: bool = False,
    format: str | None = None,
    reference: str | None = None,
    mates: bool = False,
    paired: str | None = None,
    max_line: int = MAX_LINE,
) -> list[FileReport]:
    """The engine API (tests, other commands): validate in-process, return the reports."""
    rules_mod.load_all()
    reporter = Reporter(stream, max_errors=max_errors, ignore=expand_ignore(ignore or []),
                        strict=strict)
    opts = _Options(format, reference, mates, paired, max_line)
    for name in inputs:
        validate_one(name, opts, reporter)
    return reporter.files


def exit_code(files: list[FileReport]) -> int:
    if any(f.unreadable for f in files):
        return EXIT_USAGE
    if any(f.errors for f in files):
        return EXIT_DATA
    return EXIT_OK


@dataclass(frozen=True)
class _FileTask:
    opts: _Options
    max_errors: int
    ignore: frozenset[str]
    strict: bool

    def __call__(self, name: str) -> list[FileReport]:
        reporter = Reporter(None, max_errors=self.max_errors, ignore=self.ignore,
                            strict=self.strict)
        validate_one(name, self.opts, reporter)
        return reporter.files


def _run_parallel(inputs: list[str], opts: _Options, reporter: Reporter, threads: int) -> None:
    """-@ N: a BGZF VCF or indexed BAM is cut into chunks (parallel.py); other files are
    each one worker's task. Reports are printed in input order, as -@ 1 prints them."""
    import functools
    import itertools

    from gfcli.engine.execute import make_runner
    from gfcli.engine.validate import parallel

    plans = [parallel.plan_file(name, opts, reporter.max_errors, reporter.ignore)
             for name in inputs]
    if len(inputs) == 1 and plans[0] is None:
        validate_one(inputs[0], opts, reporter)
        return
    task = _FileTask(opts, reporter.max_errors, reporter.ignore, reporter.strict)
    work: list[object] = []
    for name, plan in zip(inputs, plans, strict=True):
        work.extend([functools.partial(task, name)] if plan is None else plan.tasks)
    with make_runner(threads) as runner:
        results = runner.map(parallel._call, work)
        for plan in plans:
            if plan is not None:
                parallel.merge_file(plan, itertools.islice(results, len(plan.tasks)), reporter,
                                    opts)
                continue
            for report in next(results):
                reporter.files.append(report)
                for problem in report.problems:
                    reporter._emit(problem.format())
                reporter.finish_file(report)


# ------------------------------------------------------------------------ one file


def guess_format(name: str) -> str | None:
    lower = name.lower()
    for suffix, fmt in _NAME_HINTS:
        if lower.endswith(suffix):
            return fmt
    return None


def validate_one(name: str, opts: _Options, reporter: Reporter) -> FileReport:
    """Validate one input into the reporter; never raises for anything the input holds."""
    display = "stdin" if name == "-" else name
    report = reporter.start_file(display)
    spooled: str | None = None
    try:
        spooled = _validate(name, opts, reporter, report)
    except GfcliError as exc:
        reporter.report(INPUT_UNREADABLE, None, exc.message)
        report.unreadable = True
    except OSError as exc:
        reporter.report(INPUT_UNREADABLE, None, f"{exc.strerror or exc}")
        report.unreadable = True
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - the promise is no crash
        reporter.report(INTERNAL, None, f"{type(exc).__name__}: {exc}")
        if os.environ.get("GFCLI_DEBUG", "") not in ("", "0"):
            import traceback

            traceback.print_exc()
    finally:
        if spooled is not None:
            try:
                os.unlink(spooled)
            except OSError:
                pass
        reporter.finish_file()
    return report


def _choose_format(name: str, detected: sniff.Detected, forced: str | None,
                   reporter: Reporter, report: FileReport) -> str | None:
    if forced is not None:
        return forced
    if detected.format in FORMATS:
        return detected.format
    if detected.format == sniff.EMPTY and detected.compression == sniff.PLAIN:
        reporter.report(INPUT_EMPTY, None, "the file is empty")
        return None
    hint = guess_format(name)
    if hint is not None:
        what = "nothing readable" if detected.format == sniff.EMPTY else (
            f"content that looks like {detected.describe}" if detected.format != sniff.UNKNOWN
            else "unrecognised content")
        reporter.report(INPUT_FORMAT_GUESSED, None,
                        f"{what}; validating it as {hint.upper()} because of its name")
        return hint
    what = detected.describe if detected.format != sniff.UNKNOWN else "unrecognised data"
    reporter.report(INPUT_FORMAT, None, f"{what} ({detected.compression}); expected VCF, BCF, "
                                        "SAM, BAM, CRAM or FASTQ (use --format to force one)")
    report.unreadable = True
    return None


def _validate(name: str, opts: _Options, reporter: Reporter, report: FileReport) -> str | None:
    """Returns the path of a temporary copy of stdin to remove, if one was made."""
    from gfcli.engine.source import open_input

    inp = open_input(name)
    fmt = _choose_format(inp.name, inp.detected, opts.format, reporter, report)
    if fmt is None:
        return None
    report.format = fmt
    compression = inp.compression
    if compression == sniff.PLAIN and fmt in ("bam", "bcf"):
        # A damaged first block hides the magic; the format came from the name or --format.
        head = _head(inp)
        if head[:2] == b"\x1f\x8b":
            compression = sniff.BGZF if sniff.is_bgzf(head) else sniff.GZIP
    spooled = None
    path = inp.name
    if fmt in ("bcf", "cram") and (inp.is_stdin or inp.is_url):
        spooled = path = _spool(inp)
    if fmt == "cram":
        from gfcli.engine.validate import hts
        from gfcli.engine.validate.alignments import AlignmentChecker

        checker = AlignmentChecker(reporter, mates=opts.mates)
        report.records = hts.cram_records(path, reporter, checker, opts.reference)
        _index(reporter, path, inp, len(checker.lengths) or None, None, None, fmt=sniff.CRAM)
        return spooled
    raw = _open_raw(inp, path)
    try:
        data = Decompressed(raw, compression, reporter)
        if compression == sniff.GZIP and fmt in ("vcf", "bam", "bcf"):
            reporter.report(BGZF_NOT, None, "gzip, not BGZF: tabix and -@ cannot use it")
        if fmt == "vcf":
            _vcf(data, opts, reporter, report)
        elif fmt == "bcf":
            _bcf(data, path, opts, reporter, report)
        elif fmt == "sam":
            _sam(data, opts, reporter, report)
        elif fmt == "bam":
            _bam(data, inp, opts, reporter, report)
        else:
            _fastq(data, opts, reporter, report)
    finally:
        raw.close()
    return spooled


def _head(inp) -> bytes:
    if inp.is_stdin:
        return inp._prefix[:64]
    with open(inp.name, "rb") as handle:
        return handle.read(64)


def _open_raw(inp, path: str) -> BinaryIO:
    if inp.is_url:
        return _HFileReader(path)
    if inp.is_stdin:
        source = inp.htslib_path()
        if source == "-":
            return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
        return open(source, "rb")
    return open(path, "rb")


def _spool(inp) -> str:
    """A temporary copy of stdin or a URL, for readers that need a path."""
    handle, path = tempfile.mkstemp(prefix="gfcli-validate-")
    with os.fdopen(handle, "wb") as out, _open_raw(inp, inp.name) as source:
        shutil.copyfileobj(source, out, 1 << 20)
    return path


class _HFileReader:
    """A URL through htslib's hFILE (http, s3, gs ...) as a binary stream."""

    def __init__(self, url: str):
        from pysam.libchtslib import HFile

        self._handle = HFile(url, "r")

    def read(self, n: int = -1) -> bytes:
        return bytes(self._handle.read(n if n >= 0 else 1 << 30))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _HFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reference(opts: _Options):
    if opts.reference is None:
        return None
    from gfcli.engine.validate.hts import FastaReference

    return FastaReference(opts.reference)


def _vcf(data: Decompressed, opts: _Options, reporter: Reporter, report: FileReport) -> None:
    from gfcli.engine.validate.vcf import VcfChecker

    checker = VcfChecker(reporter, reference=_reference(opts))
    lines = Lines(data, reporter, max_line=opts.max_line)
    for line in lines:
        checker.feed(line, lines.number)
    checker.finish()
    report.records = checker.records
    if data.compression == sniff.BGZF and not data.damaged:
        # Without ##contig lines the index's sequence names cannot be checked against any.
        _index(reporter, None, None, None, None, list(checker.contigs) or None, data=data)


def _bcf(data: Decompressed, path: str, opts: _Options, reporter: Reporter,
         report: FileReport) -> None:
    import struct

    from gfcli.engine.validate import hts
    from gfcli.engine.validate.vcf import VcfChecker

    checker = VcfChecker(reporter, reference=_reference(opts))
    magic = data.read(5)
    if magic[:3] != b"BCF" or magic[3:5] not in (b"\x02\x01", b"\x02\x02"):
        reporter.report(hts.BCF_MAGIC, None, f"the data starts with {magic!r}, not BCF\\2\\2")
        return
    raw = data.read(4)
    l_text = struct.unpack("<I", raw)[0] if len(raw) == 4 else -1
    text = data.read(l_text) if 0 <= l_text <= 256 << 20 else b""
    if len(text) != l_text:
        reporter.report(hts.BCF_DECODE, None, "the header text is cut short or has an "
                                              "impossible length")
        return
    checker.note = "header: "
    for number, line in enumerate(text.rstrip(b"\x00").decode("latin-1").split("\n"), 1):
        if line:
            checker.note = f"header line {number}: "
            checker.feed(line, None)
    checker.note = ""
    while data.pieces():
        pass  # check every block of the container before htslib reads the records
    report.records = hts.bcf_records(path, reporter, checker)
    checker.finish()
    if not data.damaged:
        _index(reporter, path, None, None, None, list(checker.contigs) or None, fmt=sniff.BCF)


def _sam(data: Decompressed, opts: _Options, reporter: Reporter, report: FileReport) -> None:
    from gfcli.engine.validate.alignments import HEADER_SYNTAX, AlignmentChecker

    checker = AlignmentChecker(reporter, mates=opts.mates)
    lines = Lines(data, reporter, max_line=opts.max_line)
    in_header = True
    for line in lines:
        if line.startswith("@"):
            if in_header:
                checker.header_line(line, lines.number)
            else:
                checker.line = lines.number
                checker._r(HEADER_SYNTAX, "a header line after the alignment records")
            continue
        if in_header:
            in_header = False
            checker.end_header()
        if not line and lines.number is not None:
            checker.line = lines.number
            checker._r("sam.column-count", "empty line")
            continue
        checker.text_record(line, lines.number)
    if in_header:
        checker.end_header()
    checker.line = None
    checker.finish()
    report.records = checker.records


def _bam(data: Decompressed, inp, opts: _Options, reporter: Reporter,
         report: FileReport) -> None:
    from gfcli.engine.validate.alignments import AlignmentChecker
    from gfcli.engine.validate.bam import BamReader

    checker = AlignmentChecker(reporter, mates=opts.mates)
    reader = BamReader(data, reporter, checker)
    reader.run()
    report.records = reader.records
    if not data.damaged and reader.n_ref is not None and not inp.is_stdin and not inp.is_url:
        _index(reporter, inp.name, inp, reader.n_ref, reader.counts, None)


def _index(reporter: Sink, path: str | None, inp, n_ref: int | None,
           counts: list[list[int]] | None, names: list[str] | None, *,
           data: Decompressed | None = None, fmt: str | None = None) -> None:
    from gfcli.engine.source import find_index

    if data is not None:
        # VCF.gz: the path is the file the Decompressed stream reads, when it is a file.
        path = getattr(data.raw, "name", None)
        if not isinstance(path, str) or path.startswith("/dev/fd/"):
            return
        fmt = sniff.VCF
    if path is None:
        return
    if fmt is None:
        fmt = inp.format if inp is not None else sniff.CRAM
    index = find_index(path, fmt)
    if index is None:
        return
    if fmt == sniff.CRAM:
        check_crai(reporter, path, index, n_ref)
        return
    check_index(reporter, path, index, n_ref=n_ref, counts=counts, names=names)


def _fastq(data: Decompressed, opts: _Options, reporter: Reporter, report: FileReport) -> None:
    from gfcli.engine.validate.fastq import FastqChecker, check_pairs

    checker = FastqChecker(reporter)
    lines = Lines(data, reporter, max_line=opts.max_line)
    numbered = ((lines.number, line) for line in lines)
    reads = checker.records_of(numbered)
    if opts.paired is None:
        for _ in reads:
            pass
        report.records = checker.records
        return
    r2_report = FileReport(opts.paired)
    reporter.files.append(r2_report)
    bound = reporter.bound(r2_report)
    try:
        raw2, compression2 = _open_pair(opts.paired)
    except (OSError, GfcliError) as exc:
        bound.report(INPUT_UNREADABLE, None, getattr(exc, "message", None) or str(exc))
        r2_report.unreadable = True
        reporter.finish_file(r2_report)
        return
    try:
        data2 = Decompressed(raw2, compression2, bound)  # type: ignore[arg-type]
        lines2 = Lines(data2, bound, max_line=opts.max_line)
        checker2 = FastqChecker(bound)
        reads2 = checker2.records_of((lines2.number, line) for line in lines2)
        check_pairs(reporter, reads, reads2, opts.paired)
        report.records = checker.records
        r2_report.records = checker2.records
        r2_report.format = "fastq"
    finally:
        raw2.close()
        reporter.finish_file(r2_report)


def _open_pair(path: str) -> tuple[BinaryIO, str]:
    from gfcli.engine.source import open_input

    inp = open_input(path)
    if inp.format not in (sniff.FASTQ, sniff.EMPTY) and guess_format(path) != "fastq":
        raise UsageError(f"--paired {path}: {inp.detected.describe}, not FASTQ")
    return _open_raw(inp, inp.name), inp.compression


# ------------------------------------------------------------------------ output


def _write_summary(reporter: Reporter, stream: TextIO) -> None:
    for report in reporter.files:
        status = "unreadable" if report.unreadable else ("valid" if not report.errors
                                                         else "INVALID")
        fmt = (report.format or "?").upper()
        stream.write(f"{report.name}: {status} ({fmt}, {report.records} records, "
                     f"{report.errors} errors, {report.warnings} warnings)\n")
        for rule_id, count in sorted(report.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            stream.write(f"  {report.severity_of(rule_id):<7} {count:>9}  {rule_id}\n")


def _write_json(reporter: Reporter, output: str) -> None:
    from gfcli.engine.sinks import AtomicOutput

    document = {
        "valid": exit_code(reporter.files) == EXIT_OK,
        "strict": reporter.strict,
        "max_errors": reporter.max_errors,
        "ignored": sorted(reporter.ignore),
        "files": [report.as_dict() for report in reporter.files],
    }
    text = json.dumps(document, indent=2) + "\n"
    with AtomicOutput(output) as out:
        if out.is_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            with open(out.path, "w") as handle:
                handle.write(text)
