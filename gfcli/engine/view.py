"""`gfcli view`: plan the chunks, run the kind-specific formatter over them, write in order.

The kind-specific parts (variants in `gfcli.engine.variants.view`, alignments in
`gfcli.engine.alignments.view`) build a `ViewPlan`: a picklable formatter that turns a chunk
into uncompressed output bytes, the chunks, and the output type. This module owns what is
common: the runner (`-@`), BGZF compression of chunk payloads in the workers, the ordered
write to an atomic output, counting, progress and indexing the result.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from gfcli.engine import sniff
from gfcli.engine.chunks import STREAM, Chunk
from gfcli.engine.errors import UsageError
from gfcli.engine.execute import make_runner
from gfcli.engine.progress import progress_for
from gfcli.engine.sinks import AtomicOutput, OutputType
from gfcli.engine.source import Input, open_input, require_format
from gfcli.engine.spool import (
    Spooled,
    make_spool_dir,
    remove_spool_dir,
    spool,
    spool_stream,
    write_payload,
)


@dataclass
class ViewRequest:
    """Everything `gfcli view` was asked, independent of the input kind."""

    input: str | None = None
    output: str = "-"
    output_type: str | None = None
    header_flag: bool = False  # -h, meaning depends on the input kind
    other_header_flag: bool = False  # -H, likewise
    header_only: bool = False
    no_header: bool = False
    with_header: bool = False
    count: bool = False
    fields: str | None = None
    write_index: bool = False
    no_version: bool = False
    regions: str | None = None
    regions_file: str | None = None
    targets: str | None = None
    targets_file: str | None = None
    samples: str | None = None
    samples_file: str | None = None
    no_update: bool = False
    force_samples: bool = False
    reference: str | None = None
    threads: int = 1
    progress: bool | None = None
    argv: list[str] = field(default_factory=list)
    # Filtering (`gfcli filter`; a plain `view` leaves these unset)
    include: str | None = None  # -i EXPR: keep records for which EXPR is true
    exclude: str | None = None  # -e EXPR: drop records for which EXPR is true
    soft_filter: str | None = None  # -s NAME (variants): annotate FILTER instead of dropping
    soft_mode: str | None = None  # -m + (add to FILTER) or x (replace; reset PASS records)
    rejects: str | None = None  # -U FILE (reads): where the records that fail go
    explain: bool = False  # print the plan instead of running it
    require_flags: int = 0  # -f (reads): all of these flag bits set
    exclude_flags: int = 0  # -F (reads): none of these flag bits set
    min_mapq: int = 0  # -q (reads)
    command: str = "view"  # which subcommand asked, for provenance lines


# FASTQ; an input with no bytes at all is an empty FASTQ (the one format where no records
# and no header is a valid file), so pipelines that filter every read away keep working.
FASTQ_OR_EMPTY = frozenset({sniff.FASTQ, sniff.EMPTY})


class ChunkFormatter(Protocol):
    """Turns chunks of the input into output bytes; pickled to worker processes."""

    def header_payload(self) -> bytes:
        """The output's header, uncompressed (b'' when the output has none)."""
        ...

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        """The chunk's records as uncompressed output bytes, in batches, in input order."""
        ...

    def count(self, chunk: Chunk) -> int:
        """How many records the chunk would output."""
        ...

    # Only when the plan has `rejects` (samtools -U): kept and rejected records, both
    # uncompressed output bytes, batch by batch.
    # def iter_split_payloads(self, chunk: Chunk) -> Iterator[tuple[bytes, bytes]]: ...


class DirectWriter(Protocol):
    """For outputs written by one writer (CRAM, Arrow/Parquet tables): no byte stitching."""

    def write(self, path: str, chunks: list[Chunk], runner_threads: int) -> None: ...


@dataclass
class ViewPlan:
    formatter: ChunkFormatter
    chunks: list[Chunk]
    output: OutputType
    bgzf: bool  # compress payloads as BGZF blocks
    level: int | None = None  # BGZF compression level; 0 for uncompressed BCF/BAM
    header: bool = True  # write the header
    records: bool = True  # write the records
    direct: DirectWriter | None = None
    index_kind: str | None = None  # what --write-index makes: "csi", "tbi", "bai", "crai"
    input: Input | None = None
    rejects: bool = False  # also write the failing records to `ViewRequest.rejects`
    explain: str | None = None  # what `--explain` prints


@dataclass(frozen=True)
class _PayloadTask:
    """Worker side: one chunk to (optionally compressed) output bytes."""

    formatter: ChunkFormatter
    bgzf: bool
    level: int | None
    spool_dir: str | None = None  # process workers hand large results back as files

    def __call__(self, chunk: Chunk) -> bytes | Spooled:
        buffers = getattr(self.formatter, "iter_buffers", None)
        if buffers is not None and self.spool_dir is not None and not self.bgzf:
            # uncompressed output goes to the spool file piece by piece, never joined
            return spool_stream(buffers(chunk), self.spool_dir)
        data = b"".join(self.formatter.iter_payloads(chunk))
        return spool(self._encode(data), self.spool_dir)

    def _encode(self, data: bytes) -> bytes:
        if self.bgzf:
            from gfcli.engine.bgzf import compress_payload

            return compress_payload(data, self.level)
        return data


@dataclass(frozen=True)
class _SplitPayloadTask(_PayloadTask):
    """Worker side with -U: (kept, rejected) output bytes of one chunk."""

    def __call__(self, chunk: Chunk) -> tuple[bytes | Spooled, bytes | Spooled]:  # type: ignore[override]
        kept: list[bytes] = []
        rejected: list[bytes] = []
        for good, bad in self.formatter.iter_split_payloads(chunk):  # type: ignore[attr-defined]
            kept.append(good)
            rejected.append(bad)
        return (
            spool(self._encode(b"".join(kept)), self.spool_dir),
            spool(self._encode(b"".join(rejected)), self.spool_dir),
        )


@dataclass(frozen=True)
class _CountTask:
    formatter: ChunkFormatter

    def __call__(self, chunk: Chunk) -> int:
        return self.formatter.count(chunk)


def run_view(req: ViewRequest) -> None:
    inp = open_input(req.input)
    require_format(inp, sniff.VARIANT_FORMATS | sniff.ALIGNMENT_FORMATS | FASTQ_OR_EMPTY,
                   "VCF, BCF, SAM, BAM, CRAM or FASTQ")
    if inp.is_variants:
        from gfcli.engine.variants.view import make_view_plan
    elif inp.format in FASTQ_OR_EMPTY:
        warn_if_empty(inp, req.command)
        from gfcli.engine.fastq.view import make_view_plan
    else:
        from gfcli.engine.alignments.view import make_view_plan
    execute_plan(make_view_plan(req, inp), req)


def warn_if_empty(inp: Input, command: str) -> None:
    """An empty input passes as an empty FASTQ, but say so: an upstream step that died
    leaving a 0-byte VCF or BAM should not go unnoticed (bcftools/samtools would fail)."""
    if inp.format == sniff.EMPTY:
        import sys

        sys.stderr.write(
            f"gfcli {command}: warning: {inp.display} is empty; read as a FASTQ with no reads\n"
        )


def execute_plan(plan: ViewPlan, req: ViewRequest) -> None:
    """Run a plan: count, or write its output (and -U rejects) atomically, then index."""
    if req.count:
        _run_count(plan, req)
        return
    outputs = [AtomicOutput(req.output)]
    if plan.rejects and req.rejects:
        outputs.append(AtomicOutput(req.rejects))
    try:
        if plan.direct is not None:
            plan.direct.write(outputs[0].path, plan.chunks, req.threads)
        else:
            _write_stitched(plan, req, outputs)
    except BaseException:
        for out in outputs:
            out.discard()
        raise
    for out in outputs:
        out.commit()
    if req.write_index:
        _write_index(plan, req)


def _run_count(plan: ViewPlan, req: ViewRequest) -> None:
    total = 0
    with make_runner(req.threads if _parallel(plan) else 1) as runner:
        for n in runner.map(_CountTask(plan.formatter), plan.chunks):
            total += n
    with AtomicOutput(req.output) as out:
        _write_text(out, f"{total}\n".encode())


def _write_text(out: AtomicOutput, data: bytes) -> None:
    if out.is_stdout:
        write_payload(1, data)
    else:
        with open(out.path, "wb") as handle:
            handle.write(data)



def _parallel(plan: ViewPlan) -> bool:
    return not (len(plan.chunks) == 1 and plan.chunks[0].kind == STREAM)


def _write_stitched(plan: ViewPlan, req: ViewRequest, outputs: list[AtomicOutput]) -> None:
    """Header, then each chunk's payload in chunk order, then the BGZF EOF block.

    With -U there are two outputs with the same header: what passed and what failed.
    """
    from gfcli.engine.bgzf import EOF_BLOCK, compress_payload

    fds = [1 if out.is_stdout else os.open(out.path, os.O_WRONLY | os.O_TRUNC) for out in outputs]
    split = len(outputs) > 1
    spool_dir = None
    try:
        if plan.header:
            header = plan.formatter.header_payload()
            if header:
                encoded = compress_payload(header, plan.level) if plan.bgzf else header
                for fd in fds:
                    write_payload(fd, encoded)
        if plan.records:
            task_type = _SplitPayloadTask if split else _PayloadTask
            if _parallel(plan):
                if req.threads > 1:
                    spool_dir = make_spool_dir()
                task = task_type(plan.formatter, plan.bgzf, plan.level, spool_dir)
                total = sum(c.compressed_bytes for c in plan.chunks)
                with progress_for(req.progress, total, req.command) as advance, make_runner(
                    req.threads
                ) as runner:
                    for chunk, data in zip(
                        plan.chunks, runner.map(task, plan.chunks), strict=True
                    ):
                        _emit(fds, data, split)
                        advance(chunk.compressed_bytes)
            else:
                # One reader over a stream: write batch by batch, never the whole input.
                task = task_type(plan.formatter, plan.bgzf, plan.level)
                stream = plan.chunks[0]
                if split:
                    for good, bad in plan.formatter.iter_split_payloads(stream):  # type: ignore[attr-defined]
                        _emit(fds, (task._encode(good), task._encode(bad)), True)
                else:
                    for data in plan.formatter.iter_payloads(stream):
                        _emit(fds, task._encode(data), False)
        if plan.bgzf:
            for fd in fds:
                write_payload(fd, EOF_BLOCK)
    finally:
        for fd in fds:
            if fd != 1:
                os.close(fd)
        if spool_dir is not None:
            remove_spool_dir(spool_dir)


def _emit(fds: list[int], data, split: bool) -> None:
    if split:
        kept, rejected = data
        write_payload(fds[0], kept)
        write_payload(fds[1], rejected)
    else:
        write_payload(fds[0], data)


def _write_index(plan: ViewPlan, req: ViewRequest) -> None:
    if req.output in ("-", "") or plan.index_kind is None:
        raise UsageError("--write-index needs a compressed output file named with -o")
    import pysam
    from pysam import bcftools

    if plan.index_kind in ("bai", "crai") or (plan.index_kind == "csi" and plan.output.kind in (
        "bam",
    )):
        args = ["-c"] if plan.index_kind == "csi" else []
        pysam.samtools.index(*args, req.output, catch_stdout=False)
    else:
        args = ["-t"] if plan.index_kind == "tbi" else ["-c"]
        bcftools.index("-f", *args, req.output, catch_stdout=False)
