"""Genomic regions: region strings (1-based, inclusive) and region files (BED or 1-based TAB).

Internally a region is 0-based half-open, `end=None` meaning "to the end of the contig".
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gfcli.engine.errors import DataError, InputNotFound, UsageError


@dataclass(frozen=True, order=True)
class Region:
    contig: str
    start: int = 0  # 0-based, inclusive
    end: int | None = None  # 0-based, exclusive; None = to the contig's end

    def __str__(self) -> str:
        if self.start == 0 and self.end is None:
            return self.contig
        end = "" if self.end is None else str(self.end)
        return f"{self.contig}:{self.start + 1}-{end}"

    def contains(self, pos0: int) -> bool:
        return pos0 >= self.start and (self.end is None or pos0 < self.end)

    def overlaps(self, start0: int, end0: int) -> bool:
        """True when [start0, end0) overlaps this region."""
        return end0 > self.start and (self.end is None or start0 < self.end)


_RANGE = re.compile(r"^(?P<beg>[\d,]+)?(?P<dash>-)?(?P<end>[\d,]+)?$")


def parse_region(text: str, *, point_if_single: bool, contigs: Sequence[str] = ()) -> Region:
    """Parse `chr`, `chr:beg`, `chr:beg-`, `chr:-end`, `chr:beg-end`, `{chr:with:colons}:beg-end`.

    `point_if_single` chooses the dialect for `chr:beg`: bcftools reads it as the single
    position `beg`, samtools as `beg` to the end of the contig.
    """
    text = text.strip()
    if not text:
        raise UsageError("empty region")
    if text in contigs:
        return Region(text)
    if text.startswith("{"):
        close = text.find("}")
        if close < 0:
            raise UsageError(f"unbalanced '{{' in region '{text}'")
        contig, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise UsageError(f"cannot parse region '{text}'")
        rest = rest[1:]
    else:
        contig, sep, rest = text.rpartition(":")
        if not sep:
            return Region(text)
        if not _RANGE.match(rest) or (contigs and contig not in contigs and text in contigs):
            return Region(text)
    if not rest:
        return Region(contig)
    match = _RANGE.match(rest)
    if not match:
        raise UsageError(f"cannot parse region '{text}'")
    beg_text, dash, end_text = match.group("beg"), match.group("dash"), match.group("end")
    beg = int(beg_text.replace(",", "")) if beg_text else 1
    if beg < 1:
        beg = 1
    if dash:
        end = int(end_text.replace(",", "")) if end_text else None
    elif point_if_single:
        end = beg
    else:
        end = None
    if end is not None and end < beg:
        raise UsageError(f"region '{text}' ends before it begins")
    return Region(contig, beg - 1, end)


def parse_region_list(
    text: str, *, point_if_single: bool, contigs: Sequence[str] = ()
) -> list[Region]:
    """A comma-separated list of regions (commas inside numbers are thousands separators)."""
    regions: list[Region] = []
    pending = ""
    for piece in text.split(","):
        candidate = f"{pending},{piece}" if pending else piece
        # "chr1:1,000-2,000": a piece of digits continues the previous region's number.
        if pending and re.fullmatch(r"\d{3}(-[\d,]*)?", piece) and ":" in pending:
            pending = candidate
            continue
        if pending:
            regions.append(parse_region(pending, point_if_single=point_if_single, contigs=contigs))
        pending = piece
    if pending:
        regions.append(parse_region(pending, point_if_single=point_if_single, contigs=contigs))
    return regions


def _open_text(path: str):
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
    except FileNotFoundError:
        raise InputNotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise InputNotFound(f"{path}: {exc.strerror}") from None
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path)


def is_bed_name(path: str) -> bool:
    lower = path.lower()
    return lower.endswith((".bed", ".bed.gz", ".bed.bgz"))


def read_regions_file(path: str, *, bed: bool | None = None) -> list[Region]:
    """Regions from a file: BED (0-based half-open) when the name ends in .bed[.gz] (as
    bcftools decides) or `bed=True`; otherwise CHR<TAB>POS or CHR<TAB>BEG<TAB>END, 1-based
    inclusive. Header, track and comment lines are skipped."""
    if bed is None:
        bed = is_bed_name(path)
    regions: list[Region] = []
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t")
            try:
                if bed:
                    if len(fields) < 3:
                        raise ValueError("a BED line needs 3 columns")
                    start, end = int(fields[1]), int(fields[2])
                    if start < 0 or end < start:
                        raise ValueError(f"invalid interval {start}-{end}")
                    regions.append(Region(fields[0], start, end))
                else:
                    if len(fields) < 2:
                        raise ValueError("expected CHR<TAB>POS or CHR<TAB>BEG<TAB>END")
                    beg = int(fields[1])
                    end = int(fields[2]) if len(fields) > 2 and fields[2] else beg
                    if beg < 1 or end < beg:
                        raise ValueError(f"invalid interval {beg}-{end}")
                    regions.append(Region(fields[0], beg - 1, end))
            except ValueError as exc:
                raise DataError(str(exc), path=path, line=lineno) from None
    return regions


def merge_regions(regions: Iterable[Region]) -> list[Region]:
    """Sort by contig (first appearance) and position and merge overlapping regions."""
    by_contig: dict[str, list[Region]] = {}
    for region in regions:
        by_contig.setdefault(region.contig, []).append(region)
    merged: list[Region] = []
    for contig, items in by_contig.items():
        items.sort(key=lambda r: r.start)
        current = items[0]
        for region in items[1:]:
            if current.end is None or region.start <= current.end:
                end = None if current.end is None or region.end is None else max(
                    current.end, region.end
                )
                current = Region(contig, current.start, end)
            else:
                merged.append(current)
                current = region
        merged.append(current)
    return merged
