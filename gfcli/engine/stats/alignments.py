"""`gfcli stats` for SAM/BAM/CRAM: samtools stats 1.24's numbers, mergeable across shards.

BAM files go through gfcli's BAM core: BGZF chunks inflated with libdeflate and walked
by a numba kernel (`gfcli.engine.bam.stats_kernels`, run precompiled through
`stats_native` so no process imports numba) that adds every record to the counters and
histograms of samtools stats. With `-@ N` chunks run in worker processes and
their partials (`AlnStats`) are added with `+=` in file order; the two sequential parts of
samtools stats (the coverage round buffer and the GC-depth bins) merge exactly because a
chunk that does not start the file keeps its first coverage positions and its first
contig's GC-depth events unresolved until it is added to its predecessor. Anything a
split cannot reproduce exactly (unsorted input, reads long enough to make samtools resize
its buffers, a coverage round-buffer wrap) is recomputed in one pass. BAM from stdin is
read in one pass; SAM and CRAM are converted by htslib (through pysam) to a temporary
uncompressed BAM and then read the same way.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from gfcli.engine import sniff
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.stats._aln_state import AlnSettings, AlnStats, Targets, Workspace, read_targets

__all__ = ["AlnStats", "compute", "from_json", "settings_from_request"]


def from_json(data: dict) -> AlnStats:
    return AlnStats.from_json(data)


def _opt(req: Any, name: str, default: Any) -> Any:
    value = getattr(req, name, None)
    return default if value is None else value


def settings_from_request(req: Any) -> AlnSettings:
    """samtools stats options from the request (fields the command may not have yet are
    read with getattr: trim_quality, coverage, insert_size, most_inserts, gc_depth,
    read_length, remove_dups, sparse, cov_threshold)."""
    cov = _opt(req, "coverage", None)
    cmin, cmax, cstep = 1, 1000, 1
    if cov is not None:
        if isinstance(cov, str):
            try:
                cmin, cmax, cstep = (int(x) for x in cov.split(","))
            except ValueError:
                raise UsageError(f"unable to parse -c {cov}") from None
        else:
            cmin, cmax, cstep = cov
    flt = int(_opt(req, "filtering_flag", 0))
    if _opt(req, "remove_dups", False):
        flt |= 0x400
    gcd = _opt(req, "gc_depth", 20000)
    settings = AlnSettings(
        require=int(_opt(req, "required_flag", 0)),
        filter=flt,
        read_length=int(_opt(req, "read_length", -1)),
        trim_quality=int(_opt(req, "trim_quality", 0)),
        insert_size=int(_opt(req, "insert_size", 8000)),
        most_inserts=float(_opt(req, "most_inserts", 0.99)),
        cov_min=cmin, cov_max=cmax, cov_step=cstep,
        gcd_bin=int(float(gcd)),
        reference=_opt(req, "reference", None),
        targets=_opt(req, "target_regions", None),
        min_mapq=int(_opt(req, "min_mapq", 0)),
        sparse=bool(_opt(req, "sparse", False)),
        cov_threshold=int(_opt(req, "cov_threshold", 0)),
    ).normalised()
    if settings.insert_size <= 0:
        raise UsageError("-i: gfcli needs a positive maximum insert size")
    if settings.gcd_bin <= 0:
        raise UsageError("--GC-depth: the bin size must be positive")
    if settings.cov_threshold and not settings.targets:
        raise UsageError("coverage percentage calculation requires a list of target regions")
    if settings.reference and not os.path.exists(settings.reference):
        raise UsageError(f"could not load faidx: {settings.reference}")
    return settings


# --------------------------------------------------------------------------- BAM chunks


class _Consumer:
    def __init__(self, ws: Workspace):
        self.ws = ws

    def __call__(self, batcher, start: int, limit: int, end: int) -> tuple[int, int]:
        nxt = self.ws.consume(batcher.array(), start, limit, end)
        if nxt < 0:
            # the kernel's status: reader.walk_batcher words the error (record_error)
            return -nxt - 1, self.ws.bad_status
        return nxt, 0


def _targets_for(settings: AlnSettings, names, lengths) -> Targets | None:
    if not settings.targets:
        return None
    return read_targets(settings.targets, names, lengths)


class _ChunkTask:
    """Picklable: one chunk of a BAM file to statistics."""

    def __init__(self, settings: AlnSettings, names, lengths, first_record: int):
        self.settings = settings
        self.names = names
        self.lengths = lengths
        self.first_record = first_record

    def __call__(self, chunk):
        from gfcli.engine.bam.reader import walk_chunk

        head = not (chunk.start_voffset is not None and chunk.start_voffset == self.first_record)
        targets = _targets_for(self.settings, self.names, self.lengths)
        ws = Workspace(self.settings, self.names, self.lengths, targets, head_mode=head)
        span = walk_chunk(chunk, _Consumer(ws))
        return ws.finish(), span


def _needs_one_pass(acc: AlnStats, n_chunks: int) -> bool:
    return n_chunks > 1 and (bool(acc.inexact) or acc.anomaly or acc.reallocs > 0
                             or not acc.is_sorted)


def _bam_file(path: str, index: str | None, settings: AlnSettings, threads: int) -> AlnStats:
    from gfcli.engine.bam import reader
    from gfcli.engine.execute import make_runner

    header = reader.read_header_from_path(path)
    names, lengths = header.names, header.lengths
    task = _ChunkTask(settings, names, lengths, header.first_record)
    one = [reader.BamChunk(path, 0, header.n_ref, start_voffset=header.first_record)]
    chunks = reader.plan_chunks(path, header, index) if threads > 1 else one
    if len(chunks) <= 1:
        chunks = one
    if len(chunks) > 1:
        from gfcli.engine.bam import stats_native

        stats_native.load()  # before the workers fork: they share the loaded code
    acc: AlnStats | None = None
    spans = []
    with make_runner(threads if len(chunks) > 1 else 1) as runner:
        for part, span in runner.map(task, chunks):
            spans.append(span)
            if acc is None:
                acc = part
            else:
                acc += part
    assert acc is not None
    if len(chunks) > 1 and (not reader.stitch_ok(spans) or _needs_one_pass(acc, len(chunks))):
        acc, _ = task(one[0])
    return acc


def _bam_stream(stream, name: str, settings: AlnSettings) -> AlnStats:
    from gfcli.engine.bam import reader

    batcher = reader.open_stream_batcher(stream, name)
    header = reader.read_header(batcher)
    targets = _targets_for(settings, header.names, header.lengths)
    ws = Workspace(settings, header.names, header.lengths, targets, head_mode=False)
    reader.walk_batcher(batcher, _Consumer(ws), name)
    return ws.finish()


def _via_pysam(inp, settings: AlnSettings, threads: int) -> AlnStats:
    """SAM, CRAM, URLs: htslib decodes, a temporary uncompressed BAM carries the records."""
    import pysam

    kwargs: dict = {"check_sq": False}
    if inp.format == sniff.CRAM and settings.reference:
        kwargs["reference_filename"] = settings.reference
    save = pysam.set_verbosity(0)
    try:
        src = pysam.AlignmentFile(inp.htslib_path(), "r", threads=max(1, threads), **kwargs)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read alignments: {exc}", path=inp.display) from None
    finally:
        pysam.set_verbosity(save)
    fd, tmp = tempfile.mkstemp(prefix="gfcli-stats-", suffix=".bam")
    os.close(fd)
    try:
        try:
            with src, pysam.AlignmentFile(tmp, "wb0", template=src) as out:
                for rec in src.fetch(until_eof=True):
                    out.write(rec)
        except (OSError, ValueError) as exc:
            raise DataError(f"error reading alignments: {exc}", path=inp.display) from None
        return _bam_file(tmp, None, settings, threads)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def compute(req: Any, inp) -> AlnStats:
    """samtools stats of one alignment input, as a mergeable accumulator."""
    settings = settings_from_request(req)
    threads = int(_opt(req, "threads", 1))
    if inp.format == sniff.BAM and not inp.is_url:
        if inp.is_stdin:
            path = inp.htslib_path()
            stream = os.fdopen(os.dup(sys.stdin.fileno()), "rb") if path == "-" else open(
                path, "rb")
            with stream:
                acc = _bam_stream(stream, inp.display, settings)
        else:
            acc = _bam_file(inp.name, inp.index, settings, threads)
    else:
        acc = _via_pysam(inp, settings, threads)
    return acc
