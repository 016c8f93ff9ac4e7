"""Split an input into chunks that workers can process independently.

Three kinds, chosen by what the input allows:
- `offsets`: a record-aligned range of BGZF virtual offsets [start, end) taken from the
  index (whole-file work on BAM, BCF, VCF.gz with an index), or from newline
  resynchronisation in BGZF text without an index;
- `region`: an index query, with the records it owns given by their start position so that
  a record overlapping two pieces is emitted once;
- `stream`: the whole input read by one reader (stdin, URLs, unindexed BAM/BCF, plain text).

The plan never depends on the number of workers: `-@ 1` runs the same chunks in order,
which is what makes its output byte-identical to `-@ N`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.index import IndexSummary, read_index
from gfcli.engine.regions import Region

# Compressed bytes per chunk: large enough that per-chunk costs (opening the file in a
# worker, seeking, returning the result) vanish, small enough to balance two workers and
# keep memory per chunk in the tens of MB.
TARGET_CHUNK_BYTES = int(os.environ.get("GFCLI_CHUNK_BYTES", 4 << 20))

OFFSETS = "offsets"
REGION = "region"
STREAM = "stream"


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    kind: str
    start: int | None = None  # offsets: first voffset; None = the first record after the header
    end: int | None = None  # offsets: first voffset not in the chunk; None = to the end of file
    region: Region | None = None  # region: what to query
    own_start: int | None = None  # region: keep records starting at >= this (0-based)
    own_end: int | None = None  # region: keep records starting before this (0-based)
    compressed_bytes: int = 0  # for progress reporting

    @staticmethod
    def stream() -> Chunk:
        return Chunk(0, STREAM)

    def owns(self, start0: int) -> bool:
        """Does this region chunk emit a record that starts at `start0`?"""
        if self.own_start is not None and start0 < self.own_start:
            return False
        return self.own_end is None or start0 < self.own_end


def _block_sizes(handle, address: int) -> tuple[int, int] | None:
    """(compressed size, uncompressed size) of the BGZF block at `address`."""
    handle.seek(address)
    head = handle.read(18)
    if len(head) < 18 or head[:2] != b"\x1f\x8b":
        return None
    xlen = struct.unpack_from("<H", head, 10)[0]
    extra = head[12:18] if xlen == 6 else None
    if extra is None or extra[:2] != b"BC":
        handle.seek(address + 12)
        extra_full = handle.read(xlen)
        pos = 0
        bsize = None
        while pos + 4 <= len(extra_full):
            slen = struct.unpack_from("<H", extra_full, pos + 2)[0]
            if extra_full[pos : pos + 2] == b"BC":
                bsize = struct.unpack_from("<H", extra_full, pos + 4)[0]
            pos += 4 + slen
        if bsize is None:
            return None
    else:
        bsize = struct.unpack_from("<H", extra, 4)[0]
    total = bsize + 1
    handle.seek(address + total - 4)
    footer = handle.read(4)
    if len(footer) < 4:
        return None  # a block cut short: the caller reports where
    (isize,) = struct.unpack("<I", footer)
    return total, isize


def normalise_voffset(handle, voffset: int) -> int:
    """An offset at the very end of a block is the start of the next block; use one form."""
    address, within = voffset >> 16, voffset & 0xFFFF
    if within == 0:
        return voffset
    sizes = _block_sizes(handle, address)
    if sizes is not None and within >= sizes[1]:
        return (address + sizes[0]) << 16
    return voffset


def chunks_between(cuts: Sequence[int], file_size: int) -> list[Chunk]:
    """Offset chunks from sorted record-aligned cut points: [start of records, cut 1),
    [cut 1, cut 2), ..., [last cut, end of file)."""
    chunks: list[Chunk] = []
    previous: int | None = None
    for ordinal, cut in enumerate([*cuts, None]):
        start_addr = 0 if previous is None else previous >> 16
        end_addr = file_size if cut is None else cut >> 16
        chunks.append(Chunk(ordinal, OFFSETS, start=previous, end=cut,
                            compressed_bytes=max(0, end_addr - start_addr)))
        previous = cut
    return chunks


def plan_offset_chunks(
    path: str, index: IndexSummary, target: int | None = None
) -> list[Chunk]:
    """Cut an indexed file into record-aligned offset ranges of about `target` compressed bytes."""
    target = target or TARGET_CHUNK_BYTES
    candidates = index.all_offsets()
    file_size = os.path.getsize(path)
    cuts: list[int] = []
    last_address = 0
    for voffset in candidates:
        address = voffset >> 16
        if address - last_address >= target and file_size - address >= target // 4:
            cuts.append(voffset)
            last_address = address
    with open(path, "rb") as handle:
        cuts = sorted({normalise_voffset(handle, v) for v in cuts})
    return chunks_between(cuts, file_size)


def plan_text_chunks(path: str, target: int | None = None) -> list[Chunk]:
    """Cut BGZF-compressed text (VCF.gz, SAM.gz) without an index at line starts.

    Every `target` compressed bytes, find a block that contains a newline and cut just
    after it; a block wholly inside one very long line offers no cut and is skipped.
    """
    target = target or TARGET_CHUNK_BYTES
    file_size = os.path.getsize(path)
    cuts: list[int] = []
    with open(path, "rb") as handle:
        address = 0
        next_cut_at = target
        while address < file_size:
            sizes = _block_sizes(handle, address)
            if sizes is None:
                raise DataError(f"not a valid BGZF block at byte {address}", path=path)
            total, isize = sizes
            if address >= next_cut_at and isize and file_size - address >= target // 4:
                handle.seek(address)
                block = zlib.decompress(handle.read(total), 31)
                newline = block.find(b"\n")
                if newline >= 0:
                    voffset = (address << 16) | (newline + 1)
                    cuts.append(normalise_voffset(handle, voffset))
                    next_cut_at = address + target
            address += total
    return chunks_between(cuts, file_size)


def plan_region_chunks(
    regions: Sequence[Region],
    *,
    dedupe: bool = True,
) -> list[Chunk]:
    """One chunk per region, in the order given.

    With `dedupe` (bcftools, and samtools' multi-region iterator), regions must come merged
    and sorted (`regions.merge_regions`); a record overlapping two regions is owned by the
    first, whose query returns it: later regions on the same contig keep only records that
    start at or after the previous region's end. Without `dedupe` every region emits all
    records it overlaps, as plain `samtools view` with several regions does.
    """
    chunks: list[Chunk] = []
    previous: Region | None = None
    for ordinal, region in enumerate(regions):
        own_start = None
        if dedupe and previous is not None and previous.contig == region.contig:
            if previous.end is None:
                raise UsageError("internal: regions must be merged before planning")
            own_start = previous.end
        chunks.append(Chunk(ordinal, REGION, region=region, own_start=own_start))
        previous = region
    return chunks


def index_for(path: str, index_path: str | None) -> IndexSummary | None:
    if index_path is None:
        return None
    try:
        return read_index(index_path)
    except DataError:
        return None
