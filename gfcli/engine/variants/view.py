"""`gfcli view` for VCF/BCF input: the plan, and the formatter the workers run.

Every record goes through the htslib functions `bcftools view` itself calls (see
`variants.hts`): parse (vcf_parse/bcf_read), subset samples (bcf_subset), recount
AC/AN (bcf_calc_ac + bcf_update_info), write (bcf_write into an in-memory file). That makes
VCF text and BCF record bytes identical to bcftools', and keeps the per-record Python work
to a few C calls.

bcftools semantics reproduced here (checked against bcftools 1.24):
- `-r/-R`: index query; a record is kept when [POS, POS+rlen) overlaps a region (so an
  indel or <DEL> starting before the region is kept); regions are merged and sorted per
  contig, contigs in the order first named; a record overlapping several regions is
  printed once.
- `-t/-T`: streaming; a record is kept when its POS lies in a target (`^` inverts).
- `-s/-S`: samples in the order given (`^` keeps file order minus the excluded); INFO/AC
  and INFO/AN are recomputed from the subset's genotypes (and their header lines added)
  whenever samples are selected, unless `-I`.
"""

from __future__ import annotations

import ctypes
import os
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from gfcli.engine import sniff
from gfcli.engine.chunks import OFFSETS, REGION, STREAM, Chunk
from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.regions import Region
from gfcli.engine.sinks import (
    BCF_COMPRESSED,
    BCF_UNCOMPRESSED,
    TABLE_TYPES,
    VARIANT_TYPES,
    VCF_BGZF,
    VCF_TEXT,
    OutputType,
    parse_output_type,
)
from gfcli.engine.source import Input
from gfcli.engine.variants import hts

# Output is cut into payloads of about this many uncompressed bytes so that memory stays
# bounded for streams and huge chunks alike.
BATCH_BYTES = 4 << 20
MIN_CHUNKS = 16
MIN_CHUNK_BYTES = 1 << 20
# BGZF level when none is asked (-O z, -O b): libdeflate 5 writes 1.8-2% more than 6 (htslib's
# default with libdeflate, so bcftools') at 1.3-1.5x the speed; -O z6 / -O b6 give 6.
DEFAULT_LEVEL = 5
_CHECK_EVERY = 256  # records between two size checks of the in-memory output

AC_LINE = b'##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">'
AN_LINE = (
    b'##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called '
    b'genotypes">'
)


@dataclass(frozen=True)
class Targets:
    """-t/-T: kept positions per contig as sorted, merged, 0-based half-open intervals."""

    intervals: tuple[tuple[str, tuple[int, ...], tuple[int | None, ...]], ...]
    exclude: bool = False

    @staticmethod
    def build(regions: list[Region], exclude: bool) -> Targets:
        from gfcli.engine.regions import merge_regions

        grouped: dict[str, tuple[list[int], list[int | None]]] = {}
        for region in merge_regions(regions):
            starts, ends = grouped.setdefault(region.contig, ([], []))
            starts.append(region.start)
            ends.append(region.end)
        return Targets(tuple((k, tuple(s), tuple(e)) for k, (s, e) in grouped.items()), exclude)

    @cached_property
    def _by_contig(self) -> dict[str, tuple[tuple[int, ...], tuple[int | None, ...]]]:
        return {contig: (starts, ends) for contig, starts, ends in self.intervals}

    def contains(self, contig: str, pos0: int) -> bool:
        entry = self._by_contig.get(contig)
        hit = False
        if entry is not None:
            starts, ends = entry
            i = bisect_right(starts, pos0) - 1
            if i >= 0:
                end = ends[i]
                hit = end is None or pos0 < end
        return hit != self.exclude


@dataclass(frozen=True)
class Settings:
    """What every process needs to reproduce the same header and records (picklable)."""

    path: str  # what htslib opens
    display: str  # for messages
    input_format: str  # sniff.VCF or sniff.BCF
    index: str | None
    text_output: bool  # VCF text (else BCF records)
    version_lines: tuple[bytes, ...] = ()
    samples: tuple[str, ...] | None = None  # output samples, in output order; None = all
    sites_only: bool = False  # every sample was excluded
    calc_ac: bool = False
    targets: Targets | None = None
    is_stream: bool = False
    run: str = ""  # one plan's id: a process reuses an opened input within a run only


class _State:
    """One process's open input, headers and scratch record for a `Settings`."""

    def __init__(self, s: Settings):
        self.s = s
        L = hts.lib()
        self.L = L
        self.fp = L.hts_open(s.path.encode(), b"r")
        if not self.fp:
            raise DataError("cannot open the file", path=s.display)
        with hts.QuietLog():
            self.hdr = L.bcf_hdr_read(self.fp)
        if not self.hdr:
            raise DataError("could not read the VCF/BCF header", path=s.display)
        self.n_header_lines = self._header_text(self.hdr).count(b"\n")
        bgzf = L.hts_get_bgzfp(self.fp)
        self.bgzf = hts.bgzf_head(bgzf) if bgzf else None
        self.bgzf_ptr = bgzf
        self.after_header = self.tell()
        self.pid = os.getpid()
        self.rec = L.bcf_init()
        self.head = hts.bcf_head(self.rec)
        # The record the readers fill next (filtering reads a batch into a pool of records).
        self.cur = self.rec
        self.cur_head = self.head
        self.ac = (ctypes.c_int * 16)()
        self.an = ctypes.c_int()
        self.gt_buf = ctypes.c_void_p()  # htslib-owned (realloc'd by bcf_get_format_values)
        self.gt_size = ctypes.c_int(0)
        self.idx = None
        self.tbx = None
        self._contig_names: dict[int, str] = {}
        self._tid: dict[str, int] = {}
        self.memfd = hts.memfd("gfcli-vcf")
        self.configure(s)

    def configure(self, s: Settings) -> None:
        """Apply what bcftools' init_data does to the headers: AC/AN definitions, the
        provenance lines, then the sample subset (or sites-only) output header."""
        L = self.L
        self.s = s
        if s.calc_ac:
            L.bcf_hdr_append(self.hdr, AC_LINE)
            L.bcf_hdr_append(self.hdr, AN_LINE)
        for line in s.version_lines:
            L.bcf_hdr_append(self.hdr, line)
        L.bcf_hdr_sync(self.hdr)
        self.imap = None
        self.n_out = 0
        self.ohdr = self.hdr
        if s.sites_only:
            self.ohdr = L.bcf_hdr_subset(self.hdr, 0, None, None)
            L.bcf_hdr_remove(self.ohdr, hts.BCF_HL_FMT, None)
            L.bcf_hdr_sync(self.ohdr)
        elif s.samples is not None:
            names = (ctypes.c_char_p * len(s.samples))(*[n.encode() for n in s.samples])
            self.imap = (ctypes.c_int * len(s.samples))()
            self.ohdr = L.bcf_hdr_subset(self.hdr, len(s.samples), names, self.imap)
            self.n_out = len(s.samples)
            if not self.ohdr:
                raise DataError("could not subset the samples", path=s.display)
        self.out_mode = b"w" if s.text_output else b"wbu"

    def close(self) -> None:
        L = self.L
        if self.tbx:
            L.tbx_destroy(self.tbx)
        elif self.idx:
            L.hts_idx_destroy(self.idx)
        self.tbx = self.idx = None
        L.bcf_destroy(self.rec)
        L.hts_close(self.fp)
        os.close(self.memfd)

    # -- header -------------------------------------------------------------------------
    def _header_text(self, hdr: int) -> bytes:
        ks = hts.KString()
        self.L.bcf_hdr_format(hdr, 0, ctypes.byref(ks))
        return hts.kstring_bytes(ks)

    def header_payload(self) -> bytes:
        out = self._open_out()
        self.L.bcf_hdr_write(out, self.ohdr)
        return self._close_out(out)

    def sample_names(self) -> list[str]:
        text = self._header_text(self.hdr).rstrip(b"\n")
        last = text.rsplit(b"\n", 1)[-1].decode()
        return last.split("\t")[9:]

    # -- output ---------------------------------------------------------------------------
    def _open_out(self) -> int:
        os.ftruncate(self.memfd, 0)
        out = self.L.hts_open(hts.fd_path(self.memfd), self.out_mode)
        if not out:
            raise DataError("cannot open an in-memory output")
        return out

    def _close_out(self, out: int) -> bytes:
        if self.L.hts_close(out) != 0:
            raise DataError("could not write the output records")
        data = hts.read_fd(self.memfd)
        if not self.s.text_output and data:
            # htslib always frames BCF in BGZF (level 0 for "wbu"); the orchestration
            # wants the raw bytes and does the compression itself.
            import gzip

            data = gzip.decompress(data)
        return data

    # -- positions ----------------------------------------------------------------------------
    def tell(self) -> int:
        b = self.bgzf
        if b is None:
            return 0
        return (b.block_address << 16) | b.block_offset

    def contig_name(self, rid: int) -> str:
        name = self._contig_names.get(rid)
        if name is None:
            # bcf_hdr_id2name is a macro; ask the header text's dictionary through the
            # id lookup the other way round: scan the contig lines once.
            self._load_contig_names()
            name = self._contig_names.get(rid, "")
        return name

    def _load_contig_names(self) -> None:
        for line in self._header_text(self.hdr).split(b"\n"):
            if line.startswith(b"##contig=<"):
                body = line[len(b"##contig=<") :]
                for part in body.split(b","):
                    if part.startswith(b"ID="):
                        name = part[3:].rstrip(b">").decode()
                        rid = self.L.bcf_hdr_id2int(self.hdr, hts.BCF_DT_CTG, name.encode())
                        if rid >= 0:
                            self._contig_names[rid] = name
                        break

    # -- index ----------------------------------------------------------------------------------
    def region_tid(self, contig: str) -> int:
        tid = self._tid.get(contig)
        if tid is None:
            L = self.L
            if self.s.input_format == sniff.BCF:
                if self.idx is None:
                    self.idx = L.bcf_index_load3(
                        self.s.path.encode(),
                        self.s.index.encode() if self.s.index else None,
                        hts.HTS_IDX_SILENT_FAIL,
                    )
                    if not self.idx:
                        raise DataError("could not load the index", path=self.s.index)
                tid = L.bcf_hdr_id2int(self.hdr, hts.BCF_DT_CTG, contig.encode())
            else:
                if self.tbx is None:
                    self.tbx = L.tbx_index_load3(
                        self.s.path.encode(),
                        self.s.index.encode() if self.s.index else None,
                        hts.HTS_IDX_SILENT_FAIL,
                    )
                    if not self.tbx:
                        raise DataError("could not load the index", path=self.s.index)
                    self.idx = ctypes.c_void_p.from_address(self.tbx + 24).value
                tid = L.tbx_name2id(self.tbx, contig.encode())
            self._tid[contig] = tid
        return tid

    # -- errors ---------------------------------------------------------------------------------
    def error(self, from_start: bool, at_voffset: int | None, n_read: int) -> DataError:
        """A one-line error naming the file and the bad record (its line for VCF text).

        Called when htslib fails on the record after `n_read` good ones (counted from the
        file's start when `from_start`) or on the record at `at_voffset`."""
        s = self.s
        number = n_read + 1 if from_start else None
        detail = ""
        n_header = self.n_header_lines
        if not s.is_stream:
            found = _diagnose(s, None if from_start else at_voffset, n_read)
            if found is not None:
                n_header, counted, detail = found
                number = number or counted
        message = "malformed record" + (f": {detail}" if detail else "")
        if number is None:
            return DataError(message, path=s.display)
        if s.input_format == sniff.VCF:
            return DataError(message, path=s.display, line=n_header + number)
        return DataError(f"record {number}: {message}", path=s.display)


def _diagnose(s: Settings, voffset: int | None, skip: int) -> tuple[int, int, str] | None:
    """Re-read a file up to its bad record (at `voffset`, or after `skip` good records):
    (header lines, 1-based record number, htslib's own complaint about the record)."""
    L = hts.lib()
    n_header = 0
    if s.input_format == sniff.VCF:
        fp = L.hts_open(s.path.encode(), b"r")
        if not fp:
            return None
        ks = hts.KString()
        while L.hts_getline(fp, 10, ctypes.byref(ks)) >= 0:
            if not ctypes.string_at(ks.s, 1).startswith(b"#"):
                break
            n_header += 1
        L.hts_close(fp)
    fp = L.hts_open(s.path.encode(), b"r")
    if not fp:
        return None
    number = 1
    try:
        with hts.QuietLog():
            hdr = L.bcf_hdr_read(fp)
        rec = L.bcf_init()
        bgzf = L.hts_get_bgzfp(fp)
        b = hts.bgzf_head(bgzf) if bgzf else None
        with hts.QuietLog():
            while True:
                if voffset is None:
                    if number > skip:
                        break
                elif b is None or ((b.block_address << 16) | b.block_offset) >= voffset:
                    break
                if L.bcf_read(fp, hdr, rec) < 0:
                    return None
                number += 1
        level = L.hts_get_log_level()
        L.hts_set_log_level(3)
        try:
            _, text = hts.capture_stderr(lambda: L.bcf_read(fp, hdr, rec))
        finally:
            L.hts_set_log_level(level)
        L.bcf_destroy(rec)
        L.bcf_hdr_destroy(hdr)
    finally:
        L.hts_close(fp)
    complaints = [
        ln.split("] ", 1)[-1].strip() for ln in text.splitlines() if ln.startswith("[E::")
    ]
    return n_header, number, complaints[-1] if complaints else ""


# Per-process cache of opened inputs: workers receive the formatter pickled and open the
# file once for all the chunks they run.
_STATES: dict[Settings, _State] = {}


def _close_states() -> None:
    """Forget the inputs opened by earlier runs in this process (tests run many)."""
    for st in list(_STATES.values()):
        if st.pid == os.getpid():
            st.close()
    _STATES.clear()


def _state(s: Settings) -> _State:
    st = _STATES.get(s)
    if st is None or st.pid != os.getpid():
        # A forked worker must not share the parent's file offsets or in-memory output.
        st = _STATES[s] = _State(s)
    return st


@dataclass(frozen=True)
class VariantFormatter:
    settings: Settings

    def header_payload(self) -> bytes:
        return _state(self.settings).header_payload()

    def iter_payloads(self, chunk: Chunk) -> Iterator[bytes]:
        st = _state(self.settings)
        return write_payloads(st, _records(st, chunk))

    def count(self, chunk: Chunk) -> int:
        st = _state(self.settings)
        return sum(1 for _ in _records(st, chunk, transform=False))


def write_payloads(st: _State, records: Iterator[int]) -> Iterator[bytes]:
    """Write each record `records` yields with bcf_write into the in-memory output; yield
    the output bytes about every BATCH_BYTES."""
    L = st.L
    write = L.bcf_write
    ohdr = st.ohdr
    fd = st.memfd
    out = st._open_out()
    try:
        n = 0
        for rec in records:
            if write(out, ohdr, rec) < 0:
                raise DataError("could not write a record", path=st.s.display)
            n += 1
            if n % _CHECK_EVERY == 0 and os.fstat(fd).st_size >= BATCH_BYTES:
                data = st._close_out(out)
                out = 0
                yield data
                out = st._open_out()
        data = st._close_out(out)
        out = 0
        if data:
            yield data
    finally:
        if out:
            L.hts_close(out)


def _records(st: _State, chunk: Chunk, transform: bool = True) -> Iterator[int]:
    """Read the chunk's records into `st.rec`; yield the record to output, per record.

    With `transform`, the sample subset and AC/AN recount are applied to a copy of the
    record, which is yielded: htslib 1.24 corrupts its heap when a record that went
    through bcf_subset + bcf_update_info is reused by the next read (bcftools view -s
    itself dies with "realloc(): invalid old size" or "double free" on such files).
    """
    L = st.L
    rec = st.rec
    s = st.s
    head = st.head
    targets = s.targets
    subset = transform and (s.samples is not None or s.sites_only or s.calc_ac)
    contig_name = st.contig_name
    with hts.QuietLog():
        if chunk.kind == REGION:
            source = _region_records(st, chunk)
        else:
            source = _sequential_records(st, chunk)
        for _ in source:
            if targets is not None and not targets.contains(contig_name(head.rid), head.pos):
                continue
            if subset:
                copy = L.bcf_dup(rec)
                try:
                    _subset(st, copy)
                    yield copy
                finally:
                    L.bcf_destroy(copy)
            else:
                yield rec


def _sequential_records(st: _State, chunk: Chunk) -> Iterator[None]:
    L = st.L
    fp, hdr = st.fp, st.hdr
    read = L.bcf_read
    b = st.bgzf
    end = chunk.end
    if chunk.kind == OFFSETS:
        start = chunk.start if chunk.start is not None else st.after_header
        if L.bgzf_seek(st.bgzf_ptr, start, 0) < 0:
            raise DataError("could not seek in the file", path=st.s.display)
    n_read = 0
    from_start = chunk.kind == STREAM or chunk.start is None
    here = None
    while True:
        if b is not None:
            here = (b.block_address << 16) | b.block_offset
            if end is not None:
                if here >= end:
                    break
                length = b.block_length
                if length and b.block_offset >= length and (
                    (b.block_address + b.block_clength) << 16
                ) >= end:
                    break
        result = read(fp, hdr, st.cur)
        if result < 0:
            if result == -1:
                break
            raise st.error(from_start, here, n_read)
        n_read += 1
        yield


def _region_records(st: _State, chunk: Chunk) -> Iterator[None]:
    L = st.L
    region = chunk.region
    assert region is not None
    tid = st.region_tid(region.contig)
    if tid < 0:
        return
    is_bcf = st.s.input_format == sniff.BCF
    reader = hts.readrec("bcf_readrec" if is_bcf else "tbx_readrec")
    end = region.end if region.end is not None else hts.HTS_POS_MAX
    itr = L.hts_itr_query(st.idx, tid, region.start, end, reader)
    if not itr:
        raise DataError(f"could not query region {region}", path=st.s.display)
    nxt = L.hts_itr_next
    bgzf = st.bgzf_ptr
    ks = hts.KString()
    ks_ref = ctypes.byref(ks)
    start0 = region.start
    own_start = chunk.own_start
    try:
        while True:
            if is_bcf:
                result = nxt(bgzf, itr, st.cur, None)
            else:
                result = nxt(bgzf, itr, ks_ref, st.tbx)
            if result < 0:
                if result == -1:
                    break
                raise DataError(f"malformed record in region {region}", path=st.s.display)
            if not is_bcf and L.vcf_parse(ks_ref, st.hdr, st.cur) < 0:
                raise DataError(
                    f"malformed record in region {region}: "
                    + ctypes.string_at(ks.s, min(ks.l, 60)).decode(errors="replace"),
                    path=st.s.display,
                )
            head = st.cur_head
            pos = head.pos
            # The index returns bins; keep what really overlaps, once.
            if pos >= end or pos + max(head.rlen, 1) <= start0:
                continue
            if own_start is not None and pos < own_start:
                continue
            yield
    finally:
        L.hts_itr_destroy(itr)


def _subset(st: _State, rec: int) -> None:
    """bcftools view's sample subset and INFO/AC, INFO/AN update, with its htslib calls."""
    L = st.L
    s = st.s
    if s.sites_only:
        if s.calc_ac:
            _update_ac(st, rec, st.hdr, hts.BCF_UN_INFO | hts.BCF_UN_FMT)
        L.bcf_subset(st.hdr, rec, 0, None)
        return
    L.bcf_subset(st.hdr, rec, st.n_out, st.imap)
    if s.calc_ac:
        _update_ac_from_genotypes(st, rec)


_INT32_VECTOR_END = -(2**31) + 1


def _update_ac_from_genotypes(st: _State, rec: int) -> None:
    """INFO/AC and INFO/AN from the subset's genotypes, counted as bcf_calc_ac does
    (missing alleles skipped, shorter ploidy ends at vector_end).

    Not bcf_calc_ac itself: with BCF_UN_FMT on a subset record it corrupts the heap in
    htslib 1.24 (bcftools view -s crashes the same way); the GT values come from
    bcf_get_format_values instead and the update is still bcf_update_info's."""
    import numpy as np

    L = st.L
    n_allele = st.head.n_info_allele >> 16
    n = L.bcf_get_format_values(st.ohdr, rec, b"GT", ctypes.byref(st.gt_buf),
                                ctypes.byref(st.gt_size), hts.BCF_HT_INT)
    counts = [0] * n_allele
    if n > 0:
        gt = np.frombuffer(ctypes.string_at(st.gt_buf.value, 4 * n), dtype=np.int32)
        called = gt[(gt != _INT32_VECTOR_END) & ((gt >> 1) > 0)]
        alleles = (called >> 1) - 1
        if alleles.size and int(alleles.max()) >= n_allele:
            raise DataError(
                f"genotype allele {int(alleles.max())} out of range at "
                f"{st.contig_name(st.head.rid)}:{st.head.pos + 1}",
                path=st.s.display,
            )
        counts = np.bincount(alleles, minlength=n_allele).tolist()
    ac = st.ac if n_allele <= len(st.ac) else (ctypes.c_int * (2 * n_allele))()
    st.ac = ac
    for i, c in enumerate(counts):
        ac[i] = c
    st.an.value = sum(counts)
    L.bcf_update_info(st.hdr, rec, b"AC", ctypes.byref(ac, 4), n_allele - 1, hts.BCF_HT_INT)
    L.bcf_update_info(st.hdr, rec, b"AN", ctypes.byref(st.an), 1, hts.BCF_HT_INT)


def _update_ac(st: _State, rec: int, calc_hdr: int, which: int) -> None:
    L = st.L
    n_allele = st.head.n_info_allele >> 16
    if n_allele > len(st.ac):
        st.ac = (ctypes.c_int * (2 * n_allele))()
    ac = st.ac
    L.bcf_calc_ac(calc_hdr, rec, ac, which)
    st.an.value = sum(ac[:n_allele])
    L.bcf_update_info(st.hdr, rec, b"AC", ctypes.byref(ac, 4), n_allele - 1, hts.BCF_HT_INT)
    L.bcf_update_info(st.hdr, rec, b"AN", ctypes.byref(st.an), 1, hts.BCF_HT_INT)


# ---------------------------------------------------------------------------------------
# Planning


def _version_lines(req) -> tuple[bytes, ...]:
    if req.no_version:
        return ()
    from gfcli import __version__

    name = getattr(req, "command", "view") or "view"
    argv = list(req.argv)
    if not argv or argv[0] != name:
        argv = [name, *argv]
    command = " ".join(argv)
    return (
        f"##gfcli_{name}Version={__version__}+htslib-{hts.htslib_version()}".encode(),
        f"##gfcli_{name}Command={command}; Date={time.ctime()}".encode(),
    )


def _read_list(text: str, is_file: bool) -> list[str]:
    if not is_file:
        return [x for x in text.split(",") if x != ""]
    try:
        with open(text) as handle:
            return [ln.rstrip("\r\n").split("\t")[0] for ln in handle if ln.strip()]
    except OSError as exc:
        raise UsageError(f"{text}: {exc.strerror}") from None


def _resolve_samples(req, header_samples: list[str]) -> tuple[tuple[str, ...] | None, bool]:
    """The output samples like bcftools' init_data: given order, or file order minus '^'."""
    spec, is_file = (req.samples, False) if req.samples is not None else (req.samples_file, True)
    if spec is None:
        return None, False
    exclude = spec.startswith("^")
    names = _read_list(spec[1:] if exclude else spec, is_file)
    known = set(header_samples)
    import sys

    chosen: list[str] = []
    verb = "exclude" if exclude else "subset"
    for name in names:
        if name not in known:
            if not req.force_samples:
                raise UsageError(
                    f'{verb} called for sample that does not exist in header: "{name}"; '
                    "use --force-samples to ignore this error"
                )
            sys.stderr.write(
                f'Warn: {verb} called for sample that does not exist in header: "{name}"... '
                "skipping\n"
            )
            continue
        if not exclude:
            chosen.append(name)
    if exclude:
        excluded = set(names)
        chosen = [n for n in header_samples if n not in excluded]
    if not chosen:
        sys.stderr.write("Warn: subsetting has removed all samples\n")
        return (), True
    return tuple(chosen), False


def _regions(req, contigs: list[str]) -> list[Region] | None:
    from gfcli.engine.regions import parse_region_list, read_regions_file

    if req.regions is not None:
        return parse_region_list(req.regions, point_if_single=True, contigs=contigs)
    if req.regions_file is not None:
        return read_regions_file(req.regions_file)
    return None


def _targets(req, contigs: list[str]) -> Targets | None:
    from gfcli.engine.regions import parse_region_list, read_regions_file

    if req.targets is not None:
        text = req.targets
        exclude = text.startswith("^")
        regions = parse_region_list(text[1:] if exclude else text, point_if_single=True,
                                    contigs=contigs)
        return Targets.build(regions, exclude)
    if req.targets_file is not None:
        path = req.targets_file
        exclude = path.startswith("^")
        return Targets.build(read_regions_file(path[1:] if exclude else path), exclude)
    return None


def _chunk_target(path: str) -> int:
    """Compressed bytes per chunk: the engine's default, but at least MIN_CHUNKS chunks for
    inputs of a few tens of MB so that two or four workers end together (7 chunks on 2
    workers leave one idle for a seventh of the run). Independent of -@, so the BGZF blocks
    of the output are the same whatever the thread count."""
    from gfcli.engine import chunks as chunking

    default = chunking.TARGET_CHUNK_BYTES
    return min(default, max(MIN_CHUNK_BYTES, os.path.getsize(path) // MIN_CHUNKS))


def make_view_plan(req, inp: Input, header_lines: tuple[bytes, ...] = ()):
    """The view plan; `header_lines` go into the header before the provenance lines (what
    `gfcli filter -s` adds)."""
    from gfcli.engine import chunks as chunking
    from gfcli.engine.view import ViewPlan

    # -c prints a number whatever -o is called.
    out_type = parse_output_type(None if req.count else req.output_type,
                                 "-" if req.count else req.output, VCF_TEXT)
    if out_type.kind not in VARIANT_TYPES | TABLE_TYPES:
        raise UsageError(
            f"output type '{out_type.kind}' is for alignments; variants take v, z, b, u, "
            "tsv, json, parquet or arrow"
        )
    header_only = req.header_flag or req.header_only
    no_header = req.other_header_flag or req.no_header
    if header_only and no_header:
        raise UsageError("-h/--header-only and -H/--no-header contradict each other")
    if no_header and out_type.kind in (BCF_COMPRESSED, BCF_UNCOMPRESSED):
        raise UsageError("BCF output requires header, cannot proceed with -H")
    if (req.regions or req.regions_file) and inp.is_stdin:
        raise UsageError("-r/-R need an indexed file, not stdin; use -t/-T to stream")
    if (req.regions or req.regions_file) and inp.index is None:
        raise UsageError(
            f"{inp.display}: -r/-R need an index; index it with: bcftools index "
            f"{inp.display} (or use -t/-T to stream)"
        )
    if req.samples is not None and req.samples_file is not None:
        raise UsageError("use either -s or -S, not both")

    is_stream = not inp.splittable
    _close_states()
    import uuid

    run = uuid.uuid4().hex
    text_output = out_type.kind in (VCF_TEXT, VCF_BGZF) or out_type.kind in TABLE_TYPES
    base = Settings(
        path=inp.htslib_path() if inp.is_stdin else inp.name,
        display=inp.display,
        input_format=inp.format,
        index=inp.index,
        text_output=text_output,
        is_stream=is_stream,
        run=run,
    )
    # Read the header once here to resolve samples and contig names (for stdin this
    # opens the only reader, which the serial stream chunk then continues).
    probe = _state(base)
    header_samples = probe.sample_names()
    samples, sites_only = _resolve_samples(req, header_samples)
    probe._load_contig_names()
    contigs = list(probe._contig_names.values())
    targets = _targets(req, contigs)
    regions = _regions(req, contigs)
    settings = Settings(
        path=base.path,
        display=base.display,
        input_format=base.input_format,
        index=base.index,
        text_output=text_output,
        version_lines=header_lines + _version_lines(req),
        samples=samples,
        sites_only=sites_only,
        calc_ac=(samples is not None or sites_only) and not req.no_update,
        targets=targets,
        is_stream=is_stream,
        run=run,
    )
    # Settings equal to the probe's (no samples, no provenance lines) hash alike: drop
    # the probe's entry before handing the reader over, not after.
    del _STATES[base]
    if is_stream:
        # The probe's reader has consumed the header of the stream: hand it over.
        probe.configure(settings)
        _STATES[settings] = probe
    else:
        probe.close()
    formatter = VariantFormatter(settings)
    # Region queries stay on plain htslib: their outputs are small, and loading numpy and
    # the kernels would cost more than the query (the roadmap's target is < 100 ms).
    if (out_type.kind in (VCF_TEXT, VCF_BGZF) and samples is None and not sites_only
            and targets is None and regions is None
            and not is_stream and inp.format == sniff.VCF and inp.compression == sniff.BGZF):
        # Records pass unchanged: the raw-text path copies every line htslib would write
        # back as it is (and parses the others), like `gfcli filter` without an expression.
        from gfcli.engine.variants import filter as vfilter

        if vfilter.RAW_TEXT:
            from gfcli.engine.variants import rawnative

            formatter = vfilter.FilterFormatter(settings, vfilter.FilterSpec(None))
            rawnative.preload()

    if regions is not None:
        from gfcli.engine.regions import merge_regions

        chunk_list = chunking.plan_region_chunks(merge_regions(regions))
    elif is_stream or inp.compression != sniff.BGZF:
        chunk_list = [Chunk.stream()]
    else:
        index = chunking.index_for(inp.name, inp.index)
        target = _chunk_target(inp.name)
        if index is not None:
            chunk_list = chunking.plan_offset_chunks(inp.name, index, target)
        elif inp.format == sniff.VCF:
            chunk_list = chunking.plan_text_chunks(inp.name, target)
        else:
            chunk_list = [Chunk.stream()]
    if out_type.kind in TABLE_TYPES:
        from gfcli.engine.variants.tables import TableWriter

        return ViewPlan(
            formatter=formatter,
            chunks=chunk_list,
            output=out_type,
            bgzf=False,
            direct=TableWriter(formatter, out_type.kind, req.fields, header_only),
            input=inp,
        )
    bgzf = out_type.kind in (VCF_BGZF, BCF_COMPRESSED, BCF_UNCOMPRESSED)
    level = out_type.level
    if out_type.kind == BCF_UNCOMPRESSED:
        level = 0
    elif bgzf and level is None:
        level = DEFAULT_LEVEL
    return ViewPlan(
        formatter=formatter,
        chunks=chunk_list,
        output=OutputType(out_type.kind, level),
        bgzf=bgzf,
        level=level,
        header=not no_header,
        records=not header_only,
        index_kind="csi" if bgzf else None,
        input=inp,
    )
