"""Read BAI, TBI and CSI indexes for planning: record-aligned virtual offsets per reference.

htslib writes every index chunk's begin offset and every linear-index entry at the start of a
record, so any subset of them cuts a coordinate-sorted file into record-aligned pieces; the
compressed distance between two offsets estimates the work between them.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field

from gfcli.engine.errors import DataError

BAI_MAGIC = b"BAI\x01"
TBI_MAGIC = b"TBI\x01"
CSI_MAGIC = b"CSI\x01"

LINEAR_SHIFT = 14  # BAI/TBI linear index windows are 16 kb


@dataclass
class ReferenceIndex:
    """What one reference sequence's index entry says."""

    offsets: list[int] = field(default_factory=list)  # record-aligned voffsets, sorted
    linear: list[int] = field(default_factory=list)  # BAI/TBI: voffset per 16 kb window
    n_mapped: int | None = None
    n_unmapped: int | None = None

    @property
    def first(self) -> int | None:
        return self.offsets[0] if self.offsets else None


@dataclass
class IndexSummary:
    kind: str  # "bai", "tbi" or "csi"
    references: list[ReferenceIndex]
    names: list[str] | None = None  # TBI stores sequence names; BAI/CSI use the file header's
    min_shift: int = LINEAR_SHIFT
    depth: int = 5
    n_no_coor: int | None = None

    def all_offsets(self) -> list[int]:
        merged: set[int] = set()
        for ref in self.references:
            merged.update(ref.offsets)
        return sorted(merged)


def _read_index_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"corrupt index: {exc}", path=path) from None
    return raw


def read_index(path: str) -> IndexSummary:
    data = _read_index_bytes(path)
    try:
        magic = data[:4]
        if magic == BAI_MAGIC:
            return _parse_binned(data, 4, "bai", path, min_shift=14, depth=5, names=None)
        if magic == TBI_MAGIC:
            n_ref, _fmt, _cs, _cb, _ce, _meta, _skip, l_nm = struct.unpack_from("<8i", data, 4)
            pos = 36
            names = [n.decode() for n in data[pos : pos + l_nm].split(b"\x00")[:n_ref]]
            pos += l_nm
            return _parse_binned(data, pos, "tbi", path, min_shift=14, depth=5, names=names,
                                 n_ref=n_ref)
        if magic == CSI_MAGIC:
            min_shift, depth, l_aux = struct.unpack_from("<3i", data, 4)
            pos = 16 + l_aux
            names = None
            if l_aux >= 28:
                # CSI of a tabix-indexed text file: the TBI-style header lives in aux.
                l_nm = struct.unpack_from("<i", data, 16 + 24)[0]
                raw_names = data[16 + 28 : 16 + 28 + l_nm]
                names = [n.decode() for n in raw_names.split(b"\x00") if n]
            return _parse_binned(data, pos, "csi", path, min_shift=min_shift, depth=depth,
                                 names=names, csi=True)
    except struct.error:
        raise DataError("truncated index", path=path) from None
    raise DataError("not a BAI, TBI or CSI index", path=path)


def _parse_binned(
    data: bytes,
    pos: int,
    kind: str,
    path: str,
    *,
    min_shift: int,
    depth: int,
    names: list[str] | None,
    n_ref: int | None = None,
    csi: bool = False,
) -> IndexSummary:
    if n_ref is None:
        (n_ref,) = struct.unpack_from("<i", data, pos)
        pos += 4
    elif kind == "tbi":
        pass
    pseudo_bin = ((1 << (3 * (depth + 1))) - 1) // 7 + 1
    refs: list[ReferenceIndex] = []
    unpack_i = struct.Struct("<i").unpack_from
    unpack_bin = struct.Struct("<Ii").unpack_from
    unpack_csi_bin = struct.Struct("<IQi").unpack_from
    for _ in range(n_ref):
        ref = ReferenceIndex()
        (n_bin,) = unpack_i(data, pos)
        pos += 4
        offsets: set[int] = set()
        for _ in range(n_bin):
            if csi:
                bin_id, _loffset, n_chunk = unpack_csi_bin(data, pos)
                pos += 16
            else:
                bin_id, n_chunk = unpack_bin(data, pos)
                pos += 8
            chunks = struct.unpack_from(f"<{2 * n_chunk}Q", data, pos)
            pos += 16 * n_chunk
            if bin_id == pseudo_bin:
                if n_chunk >= 2:
                    ref.n_mapped, ref.n_unmapped = chunks[2], chunks[3]
                continue
            offsets.update(chunks[0::2])
        if not csi:
            (n_intv,) = unpack_i(data, pos)
            pos += 4
            ref.linear = list(struct.unpack_from(f"<{n_intv}Q", data, pos))
            pos += 8 * n_intv
            offsets.update(v for v in ref.linear if v)
        ref.offsets = sorted(offsets)
        refs.append(ref)
    n_no_coor = None
    if pos + 8 <= len(data):
        (n_no_coor,) = struct.unpack_from("<Q", data, pos)
    return IndexSummary(kind, refs, names=names, min_shift=min_shift, depth=depth,
                        n_no_coor=n_no_coor)
