"""What `gfcli stats` was asked (`StatsRequest`) and what every statistics module provides.

Each input kind has a module with two functions, `compute(req, inp) -> accumulator` and
`from_json(data: dict) -> accumulator` (usually `from_json = TheStats.from_json`):
`gfcli.engine.stats.variants` (VCF/BCF, bcftools stats), `.alignments` (SAM/BAM/CRAM,
samtools stats) and `.fastq` (FASTQ, seqkit stats). An accumulator follows `Accumulator`:
it updates from record batches, merges with `+=` (so `-@ N` chunks and scatter-gather
shards reduce the same way), round-trips through JSON (the partials `--merge` reads) and
renders the reference tool's text.

Short options that mean different things to bcftools and samtools are kept as typed in
`StatsRequest.ambiguous` until the input kind is known; `resolve(kind)` then fills the
kind's fields, so a module only ever reads resolved fields:

    option  variants (bcftools stats)       alignments (samtools stats)
    -r      regions (index)                 reference FASTA (--ref-seq)
    -t      targets (streamed)              target regions BED (--target-regions)
    -f      apply filters (FILTER list)     required flag bits
    -F      (not supported)                 filtering flag bits
    -d      depth histogram min,max,bin     (not supported)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from gfcli.engine.errors import UsageError

VARIANTS = "variants"
ALIGNMENTS = "alignments"
FASTQ = "fastq"
KINDS = (VARIANTS, ALIGNMENTS, FASTQ)

TEXT = "text"
JSON = "json"

# The JSON partial's envelope (`gfcli stats -O json`): {"format": JSON_FORMAT,
# "version": JSON_VERSION, "kind": ..., "inputs": [...], "stats": accumulator.to_json()}
JSON_FORMAT = "gfcli-stats"
JSON_VERSION = 1


@dataclass
class StatsRequest:
    """Everything `gfcli stats` was asked, resolved for one input kind by `resolve`."""

    inputs: list[str] = field(default_factory=list)  # files, '-' or URLs; [] = stdin
    output: str = "-"
    output_type: str = TEXT  # text | json
    pretty: bool = False  # a rich summary table instead of the reference text
    threads: int = 1
    progress: bool | None = None
    merge: list[str] = field(default_factory=list)  # --merge: JSON partials to combine
    argv: list[str] = field(default_factory=list)  # the command line after 'gfcli'

    # Regions (both kinds; see the table above for -r/-t)
    regions: str | None = None  # variants -r / --regions: index regions
    regions_file: str | None = None  # -R
    targets: str | None = None  # variants -t: streamed targets, '^' excludes
    targets_file: str | None = None  # -T

    # Filtering
    include: str | None = None  # -i EXPR (the kind's expression dialect)
    exclude: str | None = None  # -e EXPR
    apply_filters: str | None = None  # variants -f: e.g. "PASS" or ".,PASS"
    required_flag: int = 0  # alignments -f (samtools stats -f)
    filtering_flag: int = 0  # alignments -F (samtools stats -F)
    min_mapq: int = 0  # alignments --min-MQ (gfcli's own read filter)
    trim_quality: int = 0  # alignments -q (samtools stats -q: BWA trim, 'bases trimmed')

    # Variant statistics
    samples: str | None = None  # -s: '-' = all samples (PSC/PSI), LIST, '^LIST'
    samples_file: str | None = None  # -S FILE
    af_bins: str | None = None  # --af-bins LIST or FILE
    af_tag: str | None = None  # --af-tag TAG
    depth: tuple[int, int, int] | None = None  # -d min,max,bin (bcftools: 0,500,1)
    user_tstv: list[str] = field(default_factory=list)  # -u TAG[:min:max:n]

    # Alignment statistics
    reference: str | None = None  # FASTA: samtools stats -r/--ref-seq; also for CRAM
    target_regions: str | None = None  # samtools stats -t BED

    # Short options as typed, before the input kind is known: {"-r": "chr1", ...}
    ambiguous: dict[str, str] = field(default_factory=dict)
    kind: str | None = None  # set by `resolve`

    @property
    def input(self) -> str | None:
        """The first (usually only) input; None reads stdin."""
        return self.inputs[0] if self.inputs else None

    def resolve(self, kind: str) -> StatsRequest:
        """A copy with the ambiguous short options given their meaning for `kind`."""
        if kind not in KINDS:
            raise ValueError(kind)
        amb = dict(self.ambiguous)
        changes: dict[str, Any] = {"kind": kind, "ambiguous": {}}
        if kind == VARIANTS:
            _take(amb, changes, "-r", "regions")
            _take(amb, changes, "-t", "targets")
            _take(amb, changes, "-f", "apply_filters")
            if "-d" in amb:
                changes["depth"] = parse_depth(amb.pop("-d"))
        elif kind == ALIGNMENTS:
            _take(amb, changes, "-r", "reference")
            _take(amb, changes, "-t", "target_regions")
            if "-f" in amb:
                changes["required_flag"] = parse_flags(amb.pop("-f"), "-f")
            if "-F" in amb:
                changes["filtering_flag"] = parse_flags(amb.pop("-F"), "-F")
        leftover = sorted(amb)
        if leftover:
            raise UsageError(
                f"{', '.join(leftover)}: not an option for {kind} input "
                "(see 'gfcli stats --help')"
            )
        return replace(self, **changes)


def _take(amb: dict[str, str], changes: dict[str, Any], short: str, attr: str) -> None:
    if short in amb:
        changes[attr] = amb.pop(short)


def parse_flags(text: str | None, option: str) -> int:
    """samtools-style flag bits: a number (decimal, 0x hex, 0 octal) or names."""
    from gfcli.engine.filter import parse_flags as _parse

    return _parse(text, option)


def parse_depth(text: str) -> tuple[int, int, int]:
    """-d min,max,bin as bcftools stats reads it."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise UsageError(f"could not parse -d {text!r}: expected min,max,bin (e.g. 0,500,1)")
    lo, hi, step = values
    if step <= 0 or hi < lo:
        raise UsageError(f"-d {text}: bin size must be positive and max >= min")
    return lo, hi, step


class Accumulator(Protocol):
    """The interface every statistics module's result follows.

    - `update(batch)`: add a record batch (VariantBatch / ReadBatch / FastqBatch, or
      whatever columns the module's reader fills).
    - `acc += other`: add another accumulator of the same kind and the same settings
      (chunks of one input under `-@`, or shards); raises `UsageError` when the settings
      differ (e.g. other AF bins).
    - `to_json() -> dict`: everything needed to continue (mergeable state, plain JSON
      types), plus derived numbers for readers; `from_json(d)` rebuilds the accumulator
      from that dict exactly (`from_json(a.to_json()).to_json() == a.to_json()`).
    - `render_text(req) -> str`: the reference tool's text output for `req`.
    - `render_pretty(req, console)`: optional; a rich summary for a terminal.
    """

    kind: ClassVar[str]

    def update(self, batch: Any) -> None: ...

    def __iadd__(self, other: Any) -> Any: ...

    def to_json(self) -> dict: ...

    @classmethod
    def from_json(cls, data: dict) -> Any: ...

    def render_text(self, req: StatsRequest) -> str: ...
