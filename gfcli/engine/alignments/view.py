"""`gfcli view` for SAM/BAM/CRAM: the same records and text as `samtools view` 1.24.

The plan picks chunks from what the input allows (index offset ranges of a BAM, one region
query per contig of an indexed CRAM, index region queries for -r/-R, or one stream), and
a picklable `AlignmentFormatter` turns each chunk into output bytes:

- BAM to BAM: the records' raw bytes are sliced from the decompressed BGZF range of the
  chunk (`rawbam`), never decoded or re-encoded; -t/-T keep or drop each raw record on the
  decision pysam makes reading the same range in step.
- anything to SAM: `AlignedSegment.to_string()` (htslib's sam_format1) joined per batch.
- SAM/CRAM input or region queries to BAM: the records are written by htslib to an
  uncompressed BAM temp file whose record bytes are then taken (the header is cut off).
- CRAM output and tables go through one writer in the parent (`DirectWriter`).

pysam files are opened in the process that uses them and cached per process (a forked
worker must never reuse its parent's file offset); the formatter holds paths only.
"""

from __future__ import annotations

import bisect
import itertools
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gfcli import __version__
from gfcli.engine import sinks, sniff
from gfcli.engine.alignments import rawbam
from gfcli.engine.alignments.header import add_pg, bam_header_length
from gfcli.engine.chunks import (
    OFFSETS,
    REGION,
    STREAM,
    Chunk,
    plan_offset_chunks,
    plan_region_chunks,
)
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.regions import Region, parse_region_list, read_regions_file
from gfcli.engine.source import Input
from gfcli.engine.view import ViewPlan, ViewRequest

# Records per batch of SAM text / encoded BAM: big enough that the per-batch join and
# write costs vanish, small enough to keep a batch in a few MB.
BATCH_RECORDS = 20000

# htslib's SAM_* field bits for CRAM's required_fields option.
SAM_QNAME, SAM_FLAG, SAM_RNAME, SAM_POS, SAM_CIGAR = 0x1, 0x2, 0x4, 0x8, 0x20

UNPLACED = "*"  # the region of unplaced unmapped reads, as in samtools


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class TargetFilter:
    """-t/-T: keep records overlapping the targets (or, with `exclude`, the others).

    Overlap is samtools -L's: the read's [pos, end) against the intervals, where end is
    the CIGAR's reference end, or pos + 1 for unmapped reads and reads without a CIGAR;
    a read with no reference overlaps nothing.
    """

    intervals: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]  # contig -> starts, ends
    exclude: bool = False

    @staticmethod
    def build(regions: Iterable[Region], exclude: bool, lengths: dict[str, int]) -> TargetFilter:
        by_contig: dict[str, list[tuple[int, int]]] = {}
        for region in regions:
            end = region.end if region.end is not None else lengths.get(region.contig, 1 << 62)
            by_contig.setdefault(region.contig, []).append((region.start, end))
        merged: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for contig, items in by_contig.items():
            items.sort()
            starts: list[int] = []
            ends: list[int] = []
            for start, end in items:
                if starts and start <= ends[-1]:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)
            merged[contig] = (tuple(starts), tuple(ends))
        return TargetFilter(merged, exclude)

    def keep(self, rec: Any) -> bool:
        contig = rec.reference_name
        hit = False
        if contig is not None and rec.reference_id >= 0:
            found = self.intervals.get(contig)
            if found is not None:
                pos = rec.reference_start
                end = None if rec.flag & 4 else rec.reference_end
                if end is None:
                    end = pos + 1
                starts, ends = found
                # The last interval starting before the read's end; intervals are disjoint
                # and sorted, so it overlaps iff it ends after the read's start.
                i = bisect.bisect_left(starts, end) - 1
                hit = i >= 0 and ends[i] > pos
        return hit != self.exclude


# --------------------------------------------------------------------------- per-process files

_FILES: dict[tuple, Any] = {}


def _open(path: str, reference: str | None, fmt: str, required_fields: int | None = None):
    """A pysam file for this process (cached; reopened in a forked worker)."""
    key = (os.getpid(), path, reference, required_fields)
    handle = _FILES.get(key)
    if handle is None:
        handle = _open_uncached(path, reference, fmt, required_fields)
        _FILES[key] = handle
    return handle


def _open_uncached(path: str, reference: str | None, fmt: str,
                   required_fields: int | None = None, index: str | None = None):
    import pysam

    pysam.set_verbosity(0)  # htslib's own stderr lines would break the one-line error rule
    kwargs: dict[str, Any] = {}
    mode = "r"
    if fmt == sniff.CRAM:
        mode = "rc"
        if reference:
            kwargs["reference_filename"] = reference
        if required_fields is not None:
            kwargs["format_options"] = [f"required_fields={required_fields}".encode()]
    elif fmt == sniff.BAM:
        mode = "rb"
    if index:
        kwargs["index_filename"] = index
    try:
        return pysam.AlignmentFile(path, mode, check_sq=False, **kwargs)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read alignments: {exc}", path=_display(path)) from None


def _records_then_close(handle: Any) -> Iterator[Any]:
    """Iterate a one-off handle and close it here, where a failure can be swallowed.

    On a damaged file htslib's close fails too; left to the destructor, that failure
    is printed as an 'Exception ignored' traceback after our one-line error.
    """
    try:
        yield from handle
    finally:
        try:
            handle.close()
        except (OSError, ValueError):
            pass


def _display(path: str) -> str:
    return "stdin" if path == "-" or path.startswith("/dev/fd/") else path


# --------------------------------------------------------------------------- formatter


@dataclass
class AlignmentFormatter:
    """Chunk -> output bytes; pickled to workers (holds names, never open files)."""

    path: str  # what pysam opens (a path, a URL, or the stdin pipe in the parent only)
    display: str
    fmt: str  # sniff.SAM / BAM / CRAM
    out_kind: str  # sinks.SAM_TEXT / BAM_OUT (CRAM and tables use `records` directly)
    header_text: str  # the output header, @PG included
    reference: str | None = None
    index: str | None = None
    targets: TargetFilter | None = None
    raw: bool = False  # BAM input, BAM output: copy record bytes
    stream_key: tuple | None = None  # the parent's already open stream, if any
    header_lines: int = 0  # SAM text: header lines before the first record
    n_ref: int = 0  # references in the input's header (valid refIDs: [-1, n_ref))
    _bam_header: bytes | None = field(default=None, repr=False)

    # ---- the protocol

    def header_payload(self) -> bytes:
        if self.out_kind == sinks.BAM_OUT:
            return self.bam_header()
        return self.header_text.encode()

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        if self.out_kind == sinks.BAM_OUT:
            if self.raw and self._raw_possible(chunk):
                yield from self._raw_payloads(chunk)
            else:
                for batch in self._batches(self.records(chunk)):
                    yield self._encode_bam(batch)
            return
        if self._raw_sam_possible(chunk):
            yield from self._raw_sam_payloads(chunk)
            return
        for batch in self._batches(self.records(chunk)):
            yield ("\n".join([rec.to_string() for rec in batch]) + "\n").encode()

    def count(self, chunk: Chunk) -> int:
        if self.fmt == sniff.BAM and self.targets is None and chunk.kind == OFFSETS:
            return rawbam.check_records(rawbam.read_range(self.path, chunk.start, chunk.end),
                                        self.n_ref, self.path, chunk.start, self.display)
        if self.fmt == sniff.BAM and self.targets is None and chunk.kind == STREAM and (
                self.stream_key is None):
            return self._count_stream()
        # CRAM: decode only what placing a record needs (no sequence, so no reference);
        # the CIGAR gives the end that region queries and targets test overlap with.
        fields = SAM_FLAG | SAM_RNAME | SAM_POS | SAM_CIGAR
        return sum(1 for _ in self.records(chunk, required_fields=fields))

    def _count_stream(self) -> int:
        """A whole BAM file without an index: records counted (and checked) raw."""
        total = 0
        base = 0
        with open(self.path, "rb") as source:
            for piece in rawbam.stream_records(source, self.display):
                total += rawbam.check_records(piece, self.n_ref, self.path, None,
                                              self.display, base)
                base += len(piece)
        return total

    # ---- records

    def records(self, chunk: Chunk, required_fields: int | None = None) -> Iterator[Any]:
        """The chunk's records (pysam AlignedSegments) that the output keeps, in order."""
        source = self._chunk_records(chunk, required_fields)
        if self.targets is not None:
            keep = self.targets.keep
            source = (rec for rec in source if keep(rec))
        return self._guard(source, chunk)

    def _chunk_records(self, chunk: Chunk, required_fields: int | None) -> Iterator[Any]:
        if self.fmt != sniff.CRAM:
            required_fields = None
        if chunk.kind == STREAM:
            return _records_then_close(self._stream_handle(required_fields))
        handle = _open(self.path, self.reference, self.fmt, required_fields)
        if chunk.kind == OFFSETS:
            return self._offset_records(handle, chunk)
        if chunk.kind == REGION:
            return self._region_records(handle, chunk)
        raise UsageError(f"internal: unknown chunk kind {chunk.kind}")

    def _stream_handle(self, required_fields: int | None):
        if self.stream_key is not None:
            handle = _FILES.pop(self.stream_key, None)
            if handle is not None:
                return handle
        return _open_uncached(self.path, self.reference, self.fmt, required_fields)

    @staticmethod
    def _offset_records(handle, chunk: Chunk) -> Iterator[Any]:
        if chunk.start is not None:
            handle.seek(chunk.start)
        else:
            handle.reset()  # back to the first record after the header
        if chunk.end is None:
            yield from handle
            return
        end = chunk.end
        tell = handle.tell
        while tell() < end:
            try:
                rec = next(handle)
            except StopIteration:
                return
            yield rec

    def _region_records(self, handle, chunk: Chunk) -> Iterator[Any]:
        region = chunk.region
        assert region is not None
        try:
            if region.contig == UNPLACED:
                source = handle.fetch(UNPLACED)
            else:
                source = handle.fetch(region.contig, region.start, region.end)
        except ValueError:
            return  # a region past the contig's end holds no records (samtools: none)
        own_start = chunk.own_start
        for rec in source:
            if own_start is not None and rec.reference_start < own_start:
                continue
            yield rec

    def _guard(self, source: Iterator[Any], chunk: Chunk) -> Iterator[Any]:
        """Turn htslib's read errors into one-line DataErrors naming the record."""
        n = 0
        try:
            for rec in source:
                n += 1
                yield rec
        except (OSError, ValueError) as exc:
            where = f"after record {n}" if chunk.kind == STREAM else (
                f"chunk {chunk.ordinal}, after record {n} of the chunk")
            text = str(exc) or type(exc).__name__
            if self.fmt == sniff.SAM and chunk.kind == STREAM:
                # htslib says only "truncated file"; name the line and show its start.
                line = self.header_lines + n + 1
                raise DataError(f"malformed SAM record{self._line_preview(line)}",
                                path=self.display, line=line) from None
            raise DataError(f"{text} ({where})", path=self.display) from None

    def _line_preview(self, line: int) -> str:
        if self.display == "stdin" or self.path.startswith(("http", "s3:", "gs:")):
            return ""
        try:
            with open(self.path, "rb") as handle:
                if self.path.endswith(".gz") or handle.read(2) == b"\x1f\x8b":
                    return ""
                handle.seek(0)
                for number, text in enumerate(handle, 1):
                    if number == line:
                        shown = text.rstrip(b"\r\n").decode(errors="replace")
                        return f": '{shown[:60]}{'...' if len(shown) > 60 else ''}'"
        except OSError:
            pass
        return ""

    @staticmethod
    def _batches(records: Iterator[Any]) -> Iterator[list[Any]]:
        while True:
            batch = list(itertools.islice(records, BATCH_RECORDS))
            if not batch:
                return
            yield batch

    # ---- BAM output

    def bam_header(self) -> bytes:
        if self._bam_header is None:
            # Cached per process, not only per formatter: a worker receives a fresh copy
            # of the formatter with every chunk, and writing the header through htslib
            # (a temp BAM) costs a few ms each time.
            found = _BAM_HEADERS.get(self.header_text)
            if found is None:
                data = _htslib_bam([], self.header_text)
                length = bam_header_length(data)
                assert length is not None
                found = _BAM_HEADERS[self.header_text] = data[:length]
            self._bam_header = found
        return self._bam_header

    def _encode_bam(self, batch: list[Any]) -> bytes:
        data = _htslib_bam(batch, self.header_text)
        return data[len(self.bam_header()) :]

    def _raw_possible(self, chunk: Chunk) -> bool:
        if chunk.kind == OFFSETS:
            return True
        # A stream can be copied raw when nothing needs the decoded records alongside.
        return chunk.kind == STREAM and self.targets is None

    def _raw_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        if chunk.kind == STREAM:
            yield from self._raw_stream()
            return
        data = rawbam.read_range(self.path, chunk.start, chunk.end)
        if self.targets is None:
            # A truncated range, or a record htslib would refuse, fails here (samtools
            # view fails on the latter too); with -t/-T htslib reads the records in step.
            rawbam.check_records(data, self.n_ref, self.path, chunk.start, self.display)
            yield data
            return
        ends = rawbam.record_ends(data, self.display)
        keep = self.targets.keep
        view = memoryview(data)
        parts: list[bytes] = []
        begin = 0
        records = self._guard(self._chunk_records(chunk, None), chunk)
        for end, rec in zip(ends, records, strict=False):
            if keep(rec):
                parts.append(view[begin:end])
            begin = end
        yield b"".join(parts)

    # ---- SAM text from raw BAM records (numba kernel)

    def _raw_sam_possible(self, chunk: Chunk) -> bool:
        """BAM input read from a file (not stdin), no per-record decisions by pysam."""
        if self.fmt != sniff.BAM or self.targets is not None or self.stream_key is not None:
            return False
        if os.environ.get("GFCLI_NO_FAST_SAM"):
            return False
        return chunk.kind in (OFFSETS, STREAM)

    def sam_text(self):
        """The per-process SAM formatter for this header (see `samfast`)."""
        return _sam_text(self.header_text, self.bam_header())

    def raw_arrays(self, chunk: Chunk) -> Iterator[Any]:
        """The chunk's raw record bytes as numpy uint8 arrays (whole records each)."""
        import numpy as np

        if chunk.kind == STREAM:
            with open(self.path, "rb") as source:
                for piece in rawbam.stream_records(source, self.display):
                    yield np.frombuffer(piece, dtype=np.uint8)
            return
        yield rawbam.read_range_array(self.path, chunk.start, chunk.end)

    def _raw_sam_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        from gfcli.engine.alignments.samfast import SamText

        text = self.sam_text()
        base = 0
        for buf in self.raw_arrays(chunk):
            try:
                yield from text.format_pieces(buf, SamText.offsets(buf, name=self.display))
            except rawbam.RecordRefused as exc:
                raise rawbam.refused(exc.status, buf, exc.pos, self.n_ref, self.path,
                                     chunk.start if chunk.kind == OFFSETS else None,
                                     self.display, base) from None
            base += len(buf)

    def _raw_stream(self) -> Iterator[bytes]:
        if self.stream_key is not None:
            handle = _FILES.pop(self.stream_key, None)
            if handle is not None:
                handle.close()  # opened for the header; the bytes are read raw instead
        with open(self.path, "rb") as source:
            base = 0
            for piece in rawbam.stream_records(source, self.display):
                # checked like `count` (samtools view fails on a refused record)
                rawbam.check_records(piece, self.n_ref, self.path, None, self.display, base)
                base += len(piece)
                yield piece


_SAM_TEXT: dict[tuple[int, str], Any] = {}


def _sam_text(header_text: str, bam_header: bytes):
    key = (os.getpid(), header_text)
    found = _SAM_TEXT.get(key)
    if found is None:
        from gfcli.engine.alignments.header import reference_names
        from gfcli.engine.alignments.samfast import SamText

        found = _SAM_TEXT[key] = SamText(reference_names(bam_header), bam_header)
    return found


def _htslib_bam(records: list[Any], header_text: str) -> bytes:
    """Decompressed bytes of an uncompressed BAM that htslib writes with `records`."""
    import pysam

    from gfcli.engine.bgzf import BlockReader

    header = _header_object(header_text)
    fd, tmp = tempfile.mkstemp(prefix="gfcli-", suffix=".bam")
    try:
        with pysam.AlignmentFile(tmp, "wb0", header=header) as out:
            # The name is no longer needed once htslib has the file open.
            os.unlink(tmp)
            tmp = ""
            write = out.write
            for rec in records:
                write(rec)
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            return b"".join(payload for _a, payload in BlockReader(handle).blocks())
    finally:
        os.close(fd)
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


_HEADERS: dict[str, Any] = {}
_BAM_HEADERS: dict[str, bytes] = {}  # header text -> its BAM encoding


def _header_object(header_text: str):
    import pysam

    header = _HEADERS.get(header_text)
    if header is None:
        header = pysam.AlignmentHeader.from_text(header_text)
        _HEADERS.clear()
        _HEADERS[header_text] = header
    return header


# --------------------------------------------------------------------------- direct writers


@dataclass
class CramWriter:
    """-O cram: one htslib CRAM writer over all chunks, in order (CRAM containers cannot be
    stitched from independently written pieces)."""

    formatter: AlignmentFormatter
    reference: str | None
    records: bool
    target_name: str = "-"

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None:
        import pysam

        kwargs: dict[str, Any] = {}
        if self.reference:
            kwargs["reference_filename"] = self.reference
        # No htslib threads: their CRAM 3.1 codec trials depend on timing, and -@ N must
        # give the bytes of -@ 1.
        header = pysam.AlignmentHeader.from_text(self.formatter.header_text)
        try:
            out = pysam.AlignmentFile(path, "wc", header=header, **kwargs)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot write CRAM: {exc}", path=path) from None
        try:
            if self.records:
                for chunk in chunks:
                    for rec in self.formatter.records(chunk):
                        out.write(rec)
        except OSError as exc:
            raise DataError(f"cannot write CRAM: {exc}") from None
        finally:
            out.close()
        if path != "-":
            self._set_file_id(path)

    def _set_file_id(self, path: str) -> None:
        # htslib stores the first 20 bytes of the name it was given as the CRAM file ID;
        # writing through a temp file must not make that name (and the bytes) random.
        file_id = self.target_name.encode()[:20].ljust(20, b"\0")
        with open(path, "r+b") as handle:
            if handle.read(4) == b"CRAM":
                handle.seek(6)
                handle.write(file_id)


# --------------------------------------------------------------------------- planning


# What samtools 1.16 (Debian, htslib with libdeflate) writes at BAM level N (-O b0..b9):
# libdeflate level LIBDEFLATE_LEVELS[N]. Its default (6) is libdeflate 7, checked block for
# block: our blocks at libdeflate 7 are byte-identical to samtools' for the same payload.
# No level (the default) is `bgzf.DEFAULT_ENGINE`, 4x faster than libdeflate 7 at 1.009x
# its size on a 2x150 BAM.
LIBDEFLATE_LEVELS = (0, 1, 2, 3, 5, 6, 7, 8, 10, 12)


def _htslib_level(level: int | None) -> int | None:
    return None if level is None else LIBDEFLATE_LEVELS[max(0, min(level, 9))]


def _output_type(req: ViewRequest) -> sinks.OutputType:
    out = sinks.parse_output_type(req.output_type, req.output, sinks.SAM_TEXT)
    # samtools-style single letters that the shared parser reads as variant types.
    if req.output_type and req.output_type.strip().lower() in ("b", "u", "bam0"):
        level = 0 if req.output_type.strip().lower() != "b" else out.level
        return sinks.OutputType(sinks.BAM_OUT, _htslib_level(level))
    if out.kind == sinks.BCF_COMPRESSED:
        return sinks.OutputType(sinks.BAM_OUT, _htslib_level(out.level))
    if out.kind == sinks.BCF_UNCOMPRESSED:
        return sinks.OutputType(sinks.BAM_OUT, 0)
    if out.kind in sinks.VARIANT_TYPES:
        raise UsageError(
            f"output type '{req.output_type or req.output}' is for variants; alignments can "
            "be written as sam, bam, cram, tsv, json, parquet or arrow"
        )
    return out


def _command_line(req: ViewRequest) -> str:
    return " ".join(["gfcli", "view", *req.argv[1:]] if req.argv[:1] == ["view"] else
                    ["gfcli", *req.argv])


def _contig_lengths(header) -> dict[str, int]:
    return {name: header.get_reference_length(name) for name in header.references}


def _parse_regions(text: str, contigs: list[str]) -> list[Region]:
    regions: list[Region] = []
    for piece in parse_region_list(text, point_if_single=False, contigs=contigs):
        regions.append(piece)
    return regions


def _warn(message: str) -> None:
    sys.stderr.write(f"gfcli view: warning: {message}\n")


def _known(regions: list[Region], contigs: set[str]) -> list[Region]:
    """Keep regions on known contigs; warn for the others and go on, as samtools does."""
    kept = []
    for region in regions:
        if region.contig == UNPLACED or region.contig in contigs:
            kept.append(region)
        else:
            _warn(f"region '{region}' names an unknown reference; skipped")
    return kept


def _target_filter(req: ViewRequest, header) -> TargetFilter | None:
    if req.targets is None and req.targets_file is None:
        return None
    if req.targets is not None and req.targets_file is not None:
        raise UsageError("-t and -T cannot be used together")
    contigs = list(header.references)
    if req.targets is not None:
        text = req.targets
        exclude = text.startswith("^")
        regions = _parse_regions(text[1:] if exclude else text, contigs)
    else:
        name = req.targets_file or ""
        exclude = name.startswith("^")
        regions = read_regions_file(name[1:] if exclude else name)
    return TargetFilter.build(regions, exclude, _contig_lengths(header))


def _region_chunks(req: ViewRequest, inp: Input, header) -> list[Chunk]:
    """-r: every region in the order given, duplicates kept (plain `samtools view` with
    several regions); -R: merged and sorted, each record once (samtools --region-file,
    which uses the multi-region iterator)."""
    if inp.is_stdin:
        raise UsageError("-r/-R need an indexed file, not stdin (use -t/-T to stream)")
    if inp.index is None and not inp.is_url:
        kind = "a .crai" if inp.format == sniff.CRAM else "a .bai or .csi"
        raise DataError(
            f"-r/-R need {kind} index, none found (create one with 'samtools index "
            f"{inp.name}', or stream with -t/-T)", path=inp.display)
    if inp.format == sniff.SAM and inp.compression != sniff.BGZF:
        raise DataError("-r/-R need a BGZF-compressed, indexed file; plain SAM cannot be "
                        "queried by region (stream with -t/-T)", path=inp.display)
    contigs = list(header.references)
    contig_set = set(contigs)
    if req.regions is not None and req.regions_file is not None:
        raise UsageError("-r and -R cannot be used together")
    if req.regions is not None:
        regions = _known(_parse_regions(req.regions, contigs), contig_set)
        return plan_region_chunks(regions, dedupe=False)
    regions = _known(read_regions_file(req.regions_file or ""), contig_set)
    order = {name: i for i, name in enumerate(contigs)}
    order[UNPLACED] = len(contigs)
    merged = _merge_sorted(regions, order)
    return plan_region_chunks(merged, dedupe=True)


def _merge_sorted(regions: list[Region], order: dict[str, int]) -> list[Region]:
    """Regions sorted in header order and merged where they overlap or touch."""
    merged: list[Region] = []
    for region in sorted(regions, key=lambda r: (order[r.contig], r.start)):
        if merged and merged[-1].contig == region.contig:
            last = merged[-1]
            if last.end is None or region.start <= last.end:
                end = None if last.end is None or region.end is None else max(last.end,
                                                                              region.end)
                merged[-1] = Region(last.contig, last.start, end)
                continue
        merged.append(region)
    return merged


def _whole_file_chunks(inp: Input, header) -> list[Chunk]:
    if not inp.splittable:
        return [Chunk.stream()]
    if inp.format == sniff.BAM and inp.index is not None:
        from gfcli.engine.chunks import index_for

        summary = index_for(inp.name, inp.index)
        if summary is not None:
            return plan_offset_chunks(inp.name, summary)
    if inp.format == sniff.CRAM and inp.index is not None:
        regions = [Region(name) for name in header.references] + [Region(UNPLACED)]
        return plan_region_chunks(regions, dedupe=False)
    return [Chunk.stream()]


def make_view_plan(req: ViewRequest, inp: Input) -> ViewPlan:
    out = _output_type(req)
    if req.samples is not None or req.samples_file is not None:
        raise UsageError("-s/-S select samples of VCF/BCF input; they do not apply to "
                         "alignments")
    path = inp.htslib_path() if inp.is_stdin else inp.name
    # The header, read once here; for stdin this open file is also the stream's reader.
    count_fields = SAM_FLAG | SAM_RNAME | SAM_POS | SAM_CIGAR if req.count else None
    handle = _open_uncached(path, req.reference, inp.format, count_fields)
    header = handle.header
    header_text = str(header)
    input_header_lines = header_text.count("\n")
    stream_key: tuple | None = None
    if inp.is_stdin:
        stream_key = ("stream", os.getpid(), path)
        _FILES[stream_key] = handle
    else:
        handle.close()

    if not req.no_version:
        header_text = add_pg(header_text, "gfcli", __version__, _command_line(req))

    targets = _target_filter(req, header)
    if req.regions is not None or req.regions_file is not None:
        regions_given = req.regions
        if regions_given is not None and regions_given.strip() == ".":
            chunks = _whole_file_chunks(inp, header)
        else:
            chunks = _region_chunks(req, inp, header)
    else:
        chunks = _whole_file_chunks(inp, header)
    if not chunks:
        chunks = []

    header_only = req.other_header_flag or req.header_only
    region_query = any(chunk.kind == REGION for chunk in chunks)
    if inp.format == sniff.BAM and (out.kind in (sinks.SAM_TEXT, sinks.BAM_OUT) or req.count
                                    ) and not header_only and not region_query:
        # Load the precompiled kernels before the pool forks, so workers inherit them
        # (SAM text; BAM output and -c check each record's refIDs, `check_records`).
        # Region queries go through htslib and skip the load.
        from gfcli.engine.bam.rawkernels import KERNELS

        KERNELS.load()
    if inp.format == sniff.BAM and not header_only:
        # Chunk-sized buffers (inflated records, SAM text, BGZF blocks) reused from the
        # heap, not faulted in afresh per chunk: ~1.5 s less kernel CPU for the 4M-read
        # BAM to SAM at -@ 2.
        rawbam.keep_freed_memory()
    formatter = AlignmentFormatter(
        path=path,
        display=inp.display,
        fmt=inp.format,
        out_kind=out.kind if out.kind in (sinks.SAM_TEXT, sinks.BAM_OUT) else sinks.SAM_TEXT,
        header_text=header_text,
        reference=req.reference,
        index=inp.index,
        targets=targets,
        # stdin was consumed by the header read, so it goes through htslib instead.
        raw=inp.format == sniff.BAM and out.kind == sinks.BAM_OUT and not inp.is_stdin,
        stream_key=stream_key,
        header_lines=input_header_lines,
        n_ref=header.nreferences,
    )
    if out.kind == sinks.SAM_TEXT:
        with_header = (req.header_flag or req.with_header or header_only) and not req.no_header
        return ViewPlan(formatter, chunks, out, bgzf=False, header=with_header,
                        records=not header_only, input=inp)
    if out.kind == sinks.BAM_OUT:
        return ViewPlan(formatter, chunks, out, bgzf=True, level=out.level, header=True,
                        records=not header_only, index_kind="csi", input=inp)
    if out.kind == sinks.CRAM_OUT:
        writer = CramWriter(formatter, req.reference, records=not header_only,
                            target_name=req.output)
        return ViewPlan(formatter, chunks, out, bgzf=False, direct=writer, index_kind="crai",
                        input=inp)
    if out.kind in sinks.TABLE_TYPES:
        from gfcli.engine.alignments.tables import TableWriter

        writer = TableWriter(formatter, out.kind, _tag_fields(req.fields))
        return ViewPlan(formatter, chunks, out, bgzf=False, direct=writer, input=inp)
    raise UsageError(f"output type {out.kind} is not available for alignments")


def _tag_fields(text: str | None) -> list[str]:
    if not text:
        return []
    tags = []
    for item in text.split(","):
        item = item.strip()
        if item.upper().startswith("TAG/"):
            item = item[4:]
        if len(item) != 2 or not item[0].isalpha() or not item.isalnum():
            raise UsageError(f"--fields: '{item}' is not a two-character SAM tag (e.g. NM,MD)")
        tags.append(item)
    return tags
