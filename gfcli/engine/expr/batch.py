"""Record batches: the columnar interface the readers fill and the evaluators consume.

Every column is optional (None when the plan's projection did not ask for it).  Missing values
are NaN in float arrays; absent INFO/FORMAT tags have length/width 0 for that record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class InfoColumn:
    """One INFO tag over a batch.

    values: Integer/Float -> float64 (n, k), NaN where a value is '.', padding NaN past
            `length`; Flag -> float64 (n, 1) with 1.0 where set (length 1 everywhere);
            String -> object (n,) with the raw text (commas kept) or None when absent.
    length: int32 (n,) number of values in the record; 0 when the tag is absent.
    """

    values: np.ndarray
    length: np.ndarray


@dataclass
class FormatColumn:
    """One FORMAT tag over a batch.

    values: Integer/Float -> float64 (n, S, k), NaN for '.' and for padding past a sample's
            own count (bcf vector_end); String -> object (n, S) of str ('.' when missing).
    width:  int32 (n,) values per sample in this record (BCF `fmt->n`, the maximum over the
            record's samples); 0 when the tag is absent from the record.
    """

    values: np.ndarray
    width: np.ndarray


@dataclass
class VariantBatch:
    n: int
    n_samples: int = 0
    contigs: tuple[str, ...] = ()
    chrom: np.ndarray | None = None  # int32 (n,): index into `contigs`
    pos: np.ndarray | None = None  # int64 (n,): 1-based
    id: np.ndarray | None = None  # object (n,): str, '.' when missing (';'-joined when several)
    ref: np.ndarray | None = None  # object (n,): str
    alt: np.ndarray | None = None  # object (n,): tuple[str, ...], () when ALT is '.'
    qual: np.ndarray | None = None  # float64 (n,): NaN when '.'
    filter: np.ndarray | None = None  # object (n,): tuple[str, ...], () when '.', ('PASS',)
    info: dict[str, InfoColumn] = field(default_factory=dict)
    fmt: dict[str, FormatColumn] = field(default_factory=dict)
    # Genotypes: allele index per (record, sample, ploidy slot); -1 missing allele ('.'),
    # -2 past the sample's ploidy (vector end).  gt_phased marks alleles preceded by '|'.
    gt: np.ndarray | None = None  # int16 (n, S, P)
    gt_phased: np.ndarray | None = None  # bool (n, S, P)
    gt_present: np.ndarray | None = None  # bool (n,): the record has a GT field


@dataclass
class ReadBatch:
    """Alignment records.  Numeric columns follow SAM conventions (pos/mpos 1-based, 0 when
    unset); strings are object arrays.  `tags` maps a two-letter tag to an object array of
    per-record values: int/float for numeric types, str for A/Z/H, None when absent
    (B arrays are not supported by the reference filter language either)."""

    n: int
    contigs: tuple[str, ...] = ()
    flag: np.ndarray | None = None  # uint16 (n,)
    mapq: np.ndarray | None = None  # uint8 (n,)
    refid: np.ndarray | None = None  # int32 (n,), -1 unmapped
    pos: np.ndarray | None = None  # int64 (n,) 1-based (0 when unset)
    mrefid: np.ndarray | None = None  # int32 (n,)
    mpos: np.ndarray | None = None  # int64 (n,) 1-based
    tlen: np.ndarray | None = None  # int64 (n,)
    endpos: np.ndarray | None = None  # int64 (n,): 0-based exclusive alignment end
    qlen: np.ndarray | None = None  # int64 (n,): query length from CIGAR
    rlen: np.ndarray | None = None  # int64 (n,): reference length from CIGAR
    ncigar: np.ndarray | None = None  # int32 (n,)
    sclen: np.ndarray | None = None  # int32 (n,): soft clips at both ends
    hclen: np.ndarray | None = None  # int32 (n,): hard clips at both ends
    qname: np.ndarray | None = None  # object (n,) str
    cigar: np.ndarray | None = None  # object (n,) str, '*' when none
    seq: np.ndarray | None = None  # object (n,) str
    qual: np.ndarray | None = None  # object (n,) str of raw phred values (chr(q), no +33)
    library: np.ndarray | None = None  # object (n,) str, '' when unknown
    tags: dict[str, np.ndarray] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        col = getattr(self, name, None)
        if col is None:
            raise KeyError(name)
        return col


@dataclass
class FastqBatch:
    n: int
    name: np.ndarray | None = None  # object (n,) str
    seq: np.ndarray | None = None  # object (n,) str
    qual: np.ndarray | None = None  # object (n,) str, phred+33 text as in the file
