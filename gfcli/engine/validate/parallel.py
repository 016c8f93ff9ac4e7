"""`-@ N` on one file: a BGZF VCF or BAM validated in chunks by worker processes, with
exactly the report a single pass gives.

The chunks come from the shared planner (`gfcli.engine.chunks`: text cut at line starts,
BAM at the record offsets of its index). The first chunk reads the header as a single pass
does; the parent reads it too, silently, and hands the header model to the other chunks.
Each worker checks its range with the same checkers and collects its problems (line
numbers and byte offsets counted from the chunk's start) into a list instead of printing
them. A check that depends on records before the chunk is not decided in the worker but
deferred: it goes into the list at the point where a single pass makes it, and the parent,
which holds the file-wide state, runs it there. These are:

- VCF: sortedness against the previous record until the chunk's own records settle it;
  contiguity at every change of chromosome (the set of finished chromosomes is
  file-wide); ploidy of a sample until the chunk changes chromosome; the REF check's
  "not in the reference" (reported once per contig); CR LF (reported once per file);
- SAM/BAM: the `SO` order of the chunk's first record; every `--mates` pairing.

The parent then walks the chunks in order: problems get the lines and bytes of the chunks
before them added and go through the one reporter, so the per-rule `--max-errors` cap,
`--ignore` and `--strict` act as in a single pass (a worker keeps at most the cap of each
rule and only counts the rest, which could never be printed). A chunk that meets damage
stops the run as a single pass stops; a cut that falls inside a record (a stale index) is
detected by the chunk before it, which then reads on to the end of the file, and the chunks
after it are dropped. Streams, plain text, BCF, CRAM and FASTQ are validated in one pass.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field

from gfcli.engine import sniff
from gfcli.engine.validate.container import Decompressed
from gfcli.engine.validate.reporter import FileReport, Reporter
from gfcli.engine.validate.rules import INTERNAL
from gfcli.engine.validate.text import Lines, report_crlf

# Deferred checks the parent may run, by name (a method of the format's checker).
_DEFERRED = frozenset({"order", "check_ploidy", "missing_reference", "order_key", "order_name",
                       "mate"})


class _NullSink:
    def report(self, rule_id: str, line: int | None, message: str, *,
               offset: int | None = None, block: int | None = None) -> None:
        pass


class ChunkSink:
    """A worker's reporter: problems and deferred checks in order, capped per rule."""

    def __init__(self, max_errors: int, ignore: frozenset[str]):
        self.max_errors = max_errors
        self.ignore = ignore
        self.events: list[tuple] = []
        self.counts: dict[str, int] = {}
        self.hidden: dict[str, int] = {}

    def report(self, rule_id: str, line: int | None, message: str, *,
               offset: int | None = None, block: int | None = None) -> None:
        if rule_id in self.ignore:
            return
        seen = self.counts.get(rule_id, 0) + 1
        self.counts[rule_id] = seen
        if self.max_errors and seen > self.max_errors:
            self.hidden[rule_id] = self.hidden.get(rule_id, 0) + 1
            return
        self.events.append((rule_id, line, message, offset, block))

    def defer(self, name: str, line: int | None, args: tuple, offset: int | None = None,
              block: int | None = None) -> None:
        self.events.append((None, line, name, offset, block, args))


@dataclass
class ChunkResult:
    events: list[tuple]
    hidden: dict[str, int]
    lines: int = 0  # lines (text) or records (BAM) in the chunk
    records: int = 0
    damaged: bool = False
    to_end: bool = False  # read to the end of the file: the chunks after it are not needed
    failed: bool = False  # the validator itself failed (validate.internal)
    state: tuple | None = None
    counts: list[list[int]] | None = None  # BAM: [mapped, unmapped] per reference
    n_ref: int | None = None


@dataclass(frozen=True)
class ChunkTask:
    """One chunk's work, run in a worker process (picklable)."""

    path: str
    fmt: str  # "vcf" or "bam"
    opts: object  # run._Options
    max_errors: int
    ignore: frozenset[str]
    start: tuple[int, int] | None  # (block address, offset in it); None: the file's start
    limit: int | None  # uncompressed bytes in the chunk; None: to the end of the file
    blocks_before: int
    header: dict[str, object] | None = None
    crlf_in_header: bool = False

    def __call__(self) -> ChunkResult:
        sink = ChunkSink(self.max_errors, self.ignore)
        result = ChunkResult(sink.events, sink.hidden)
        try:
            with open(self.path, "rb") as raw:
                data = Decompressed(raw, sniff.BGZF, sink, start=self.start, limit=self.limit,
                                    blocks_before=self.blocks_before)
                if self.fmt == "vcf":
                    self._vcf(data, sink, result)
                else:
                    self._bam(data, sink, result)
                result.damaged = data.damaged
                result.to_end = self.limit is None or data.overran
        except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - as validate_one
            sink.report(INTERNAL, None, f"{type(exc).__name__}: {exc}")
            result.failed = True
        return result

    def _vcf(self, data: Decompressed, sink: ChunkSink, result: ChunkResult) -> None:
        from gfcli.engine.validate.run import _reference
        from gfcli.engine.validate.vcf import VcfChecker

        opts = self.opts
        checker = VcfChecker(sink, reference=_reference(opts))  # type: ignore[arg-type]
        checker.start_chunk(self.header if self.start is not None else None, sink.defer)
        lines = Lines(data, sink, max_line=opts.max_line, defer=sink.defer,  # type: ignore[attr-defined]
                      crlf_seen=self.crlf_in_header and self.start is not None)
        for line in lines:
            checker.feed(line, lines.number)
        if self.limit is None or data.overran:
            checker.finish()
        result.lines = lines.number
        result.records = checker.records
        result.state = checker.chunk_state()

    def _bam(self, data: Decompressed, sink: ChunkSink, result: ChunkResult) -> None:
        from gfcli.engine.validate.alignments import AlignmentChecker
        from gfcli.engine.validate.bam import BamReader

        checker = AlignmentChecker(sink, mates=self.opts.mates)  # type: ignore[attr-defined]
        header = self.header if self.start is not None else None
        checker.start_chunk(header["checker"] if header else None,  # type: ignore[arg-type]
                            sink.defer)
        reader = BamReader(data, sink, checker)
        if header is None:
            reader.run()
        else:
            reader.run_chunk(header["reader"])  # type: ignore[arg-type]
        result.lines = result.records = reader.records
        result.state = checker.chunk_state()
        result.counts = reader.counts
        result.n_ref = reader.n_ref


def _call(task):
    return task()


# ------------------------------------------------------------------------ planning


@dataclass
class FilePlan:
    name: str
    path: str
    fmt: str
    tasks: list[ChunkTask]
    bases: list[int]  # uncompressed offset of each chunk's start
    header: dict[str, object] = field(default_factory=dict)


def _scan_blocks(path: str) -> tuple[dict[int, tuple[int, int, int]], int] | None:
    """address -> (block number, uncompressed offset, uncompressed size) of every BGZF block,
    and the file size; None when the framing is broken anywhere (then: one pass)."""
    blocks: dict[int, tuple[int, int, int]] = {}
    size = os.path.getsize(path)
    address = offset = 0
    with open(path, "rb") as handle:
        while address < size:
            handle.seek(address)
            head = handle.read(18)
            if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04":
                return None
            xlen = struct.unpack_from("<H", head, 10)[0]
            if xlen != 6 or head[12:14] != b"BC":
                return None
            total = struct.unpack_from("<H", head, 16)[0] + 1
            if total < 26 or address + total > size:
                return None
            handle.seek(address + total - 4)
            (isize,) = struct.unpack("<I", handle.read(4))
            if isize > 65536:
                return None
            blocks[address] = (len(blocks), offset, isize)
            offset += isize
            address += total
    return blocks, size


def _vcf_header(path: str, max_line: int) -> tuple[dict[str, object], int, bool] | None:
    """The header model a single pass has when the first record line starts, that line's
    uncompressed offset, and whether a header line ended with CR LF."""
    from gfcli.engine.validate.vcf import VcfChecker

    sink = _NullSink()
    checker = VcfChecker(sink)
    crlf = False
    offset = 0
    with open(path, "rb") as raw:
        data = Decompressed(raw, sniff.BGZF, sink)
        buf = b""
        while True:
            piece = data.pieces()
            if not piece or data.damaged:
                return None
            buf = buf + piece if buf else piece
            at = 0
            while True:
                newline = buf.find(b"\n", at)
                if newline < 0:
                    break
                if buf[at : at + 1] != b"#":
                    return checker.header_state(), offset, crlf
                if newline - at > max_line:
                    return None
                line = buf[at:newline].decode("latin-1")
                if line.endswith("\r"):
                    line = line[:-1]
                    crlf = True
                checker.feed(line, None)
                offset += newline + 1 - at
                at = newline + 1
            buf = buf[at:]
            if buf[:1] not in (b"", b"#"):
                return checker.header_state(), offset, crlf
            if len(buf) > max_line:
                return None


def _bam_header(path: str) -> tuple[dict[str, object], int] | None:
    from gfcli.engine.validate.alignments import AlignmentChecker
    from gfcli.engine.validate.bam import BamReader

    sink = _NullSink()
    with open(path, "rb") as raw:
        data = Decompressed(raw, sniff.BGZF, sink)
        checker = AlignmentChecker(sink)
        reader = BamReader(data, sink, checker)
        if not reader._header() or data.damaged:
            return None
        end = data.tell()[0]
    return {"checker": checker.header_state(), "reader": reader.header_state()}, end


def plan_file(name: str, opts, max_errors: int, ignore: frozenset[str]) -> FilePlan | None:
    """Chunks for one input, or None when it is validated in one pass."""
    from gfcli.engine.chunks import plan_offset_chunks, plan_text_chunks
    from gfcli.engine.errors import GfcliError
    from gfcli.engine.index import read_index
    from gfcli.engine.source import find_index, open_input

    if name == "-" or opts.paired is not None:
        return None
    try:
        inp = open_input(name)
        if inp.is_stdin or inp.is_url or inp.compression != sniff.BGZF:
            return None
        fmt = inp.detected.format
        if fmt not in (sniff.VCF, sniff.BAM) or opts.format not in (None, fmt):
            return None
        path = inp.name
        scanned = _scan_blocks(path)
        if scanned is None:
            return None
        blocks, _ = scanned
        crlf = False
        if fmt == sniff.VCF:
            found = _vcf_header(path, opts.max_line)
            if found is None:
                return None
            header, header_end, crlf = found
            chunks = plan_text_chunks(path)
        else:
            index_path = find_index(path, fmt)
            if index_path is None:
                return None
            found_bam = _bam_header(path)
            if found_bam is None:
                return None
            header, header_end = found_bam
            chunks = plan_offset_chunks(path, read_index(index_path))
    except (GfcliError, OSError, ValueError, IndexError, struct.error, zlib.error, MemoryError):
        return None
    starts: list[tuple[int, int, int]] = []  # (address, within, uncompressed offset)
    for chunk in chunks[1:]:
        voffset = chunk.start
        if voffset is None:
            continue
        address, within = voffset >> 16, voffset & 0xFFFF
        block = blocks.get(address)
        if block is None or within >= block[2]:
            continue
        offset = block[1] + within
        if offset > header_end and (not starts or offset > starts[-1][2]):
            starts.append((address, within, offset))
    if not starts:
        return None
    tasks: list[ChunkTask] = []
    bases = [0]
    bounds: list[tuple[int, int, int] | None] = [None, *starts]
    for i, begin in enumerate(bounds):
        end = starts[i] if i < len(starts) else None
        base = begin[2] if begin is not None else 0
        tasks.append(ChunkTask(
            path, fmt, opts, max_errors, ignore,
            start=None if begin is None else (begin[0], begin[1]),
            limit=None if end is None else end[2] - base,
            blocks_before=0 if begin is None else blocks[begin[0]][0],
            header=header if begin is not None else None,
            crlf_in_header=crlf,
        ))
        if i:
            bases.append(base)
    return FilePlan(name, path, fmt, tasks, bases, header)


# ------------------------------------------------------------------------ merging


def merge_file(plan: FilePlan, results, reporter: Reporter, opts) -> FileReport:
    """Report one chunked file from its chunks' results (an iterator, in chunk order),
    as `run.validate_one` would from a single pass."""
    report = reporter.start_file(plan.name)
    report.format = plan.fmt
    results = iter(results)
    try:
        _merge(plan, results, reporter, report, opts)
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - never crash
        reporter.report(INTERNAL, None, f"{type(exc).__name__}: {exc}")
    finally:
        for _ in results:  # the chunks after a stop still ran; drop their results
            pass
        reporter.finish_file()
    return report


def _merge(plan: FilePlan, results, reporter: Reporter, report: FileReport, opts) -> None:
    from gfcli.engine.validate.alignments import AlignmentChecker
    from gfcli.engine.validate.vcf import VcfChecker

    resolver: VcfChecker | AlignmentChecker
    if plan.fmt == "vcf":
        resolver = VcfChecker(reporter)
    else:
        resolver = AlignmentChecker(reporter, mates=opts.mates)
    crlf = False
    base_line = 0
    records = 0
    damaged = failed = False
    counts: list[list[int]] | None = None
    n_ref: int | None = None
    for base, result in zip(plan.bases, results, strict=False):
        for event in result.events:
            line = event[1]
            if line is not None:
                line += base_line
            offset = event[3]
            if offset is not None:
                offset += base
            if event[0] is not None:
                reporter.report(event[0], line, event[2], offset=offset, block=event[4])
                continue
            name = event[2]
            if name == "crlf":
                if not crlf:
                    crlf = True
                    report_crlf(reporter, line)
                continue
            if name not in _DEFERRED:
                raise ValueError(f"unknown deferred check {name!r}")
            resolver.line, resolver.offset, resolver.block = line, offset, event[4]
            getattr(resolver, name)(*event[5])
        for rule_id, count in result.hidden.items():
            reporter.count_hidden(rule_id, count)
        if result.state is not None:
            resolver.merge_chunk_state(result.state)
        records += result.records
        base_line += result.lines
        if result.counts is not None:
            if counts is None:
                counts, n_ref = [list(c) for c in result.counts], result.n_ref
            else:
                for mine, theirs in zip(counts, result.counts, strict=False):
                    mine[0] += theirs[0]
                    mine[1] += theirs[1]
        if result.damaged or result.failed or result.to_end:
            damaged, failed = result.damaged, result.failed
            break
    report.records = records
    if failed:
        return
    if plan.fmt == "bam":
        assert isinstance(resolver, AlignmentChecker)
        resolver.line = resolver.offset = resolver.block = None
        resolver.finish()
    if damaged:
        return
    from gfcli.engine.validate.run import _index

    if plan.fmt == "vcf":
        contigs = plan.header.get("contigs")
        _index(reporter, plan.path, None, None, None, list(contigs or ()) or None,  # type: ignore[call-overload]
               fmt=sniff.VCF)
    elif n_ref is not None:
        _index(reporter, plan.path, None, n_ref, counts, None, fmt=sniff.BAM)
