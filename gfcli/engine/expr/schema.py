"""What the checker needs to know about a file: an abstract header schema.

Built from a pysam header by a small adapter, so the checker and the planner never touch pysam
themselves (and tests can build schemas by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TagDef:
    id: str
    number: str  # '0' (Flag), '1', 'A', 'R', 'G', '.', or another integer
    type: str  # Integer Float String Flag Character


@dataclass(frozen=True)
class VariantSchema:
    info: dict[str, TagDef] = field(default_factory=dict)
    fmt: dict[str, TagDef] = field(default_factory=dict)
    filters: tuple[str, ...] = ("PASS",)
    samples: tuple[str, ...] = ()
    contigs: tuple[str, ...] = ()

    @property
    def ids(self) -> set[str]:
        """bcftools shares one ID dictionary between INFO, FORMAT and FILTER names."""
        return set(self.info) | set(self.fmt) | set(self.filters)

    @classmethod
    def from_pysam(cls, header) -> VariantSchema:
        """Adapter from a pysam.VariantHeader."""

        def number(meta) -> str:
            n = meta.number
            return str(n) if n is not None else "."

        info = {k: TagDef(k, number(v), str(v.type)) for k, v in header.info.items()}
        fmt = {k: TagDef(k, number(v), str(v.type)) for k, v in header.formats.items()}
        filters = tuple(header.filters.keys()) or ("PASS",)
        if "PASS" not in filters:
            filters = ("PASS",) + filters
        return cls(
            info=info,
            fmt=fmt,
            filters=filters,
            samples=tuple(header.samples),
            contigs=tuple(header.contigs.keys()),
        )


@dataclass(frozen=True)
class ReadSchema:
    """Reads need nothing beyond tag names being two characters; contigs and read groups are
    kept for explain() and for `library`."""

    contigs: tuple[str, ...] = ()
    libraries: dict[str, str] = field(default_factory=dict)  # RG ID -> LB

    @classmethod
    def from_pysam(cls, header) -> ReadSchema:
        d = header.to_dict() if hasattr(header, "to_dict") else dict(header)
        contigs = tuple(sq["SN"] for sq in d.get("SQ", []))
        libs = {rg["ID"]: rg.get("LB", "") for rg in d.get("RG", []) if "ID" in rg}
        return cls(contigs=contigs, libraries=libs)
