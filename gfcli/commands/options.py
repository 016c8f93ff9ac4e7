"""Option declarations shared by subcommands, grouped into help panels like samtools/bcftools."""

from __future__ import annotations

from typing import Annotated

import typer

INPUT = "Input"
OUTPUT = "Output"
REGIONS = "Regions"
SAMPLES = "Samples"
FILTERING = "Filtering"
PERFORMANCE = "Performance"
GENERAL = "General"

InputPath = Annotated[
    str | None,
    typer.Argument(
        help="Input file (format sniffed from its bytes), '-' for stdin, or an htslib URL.",
        show_default=False,
        metavar="FILE",
    ),
]
Reference = Annotated[
    str | None,
    typer.Option(
        "--reference",
        "--fasta-ref",
        help="Reference FASTA for CRAM (else htslib's REF_PATH/REF_CACHE).",
        rich_help_panel=INPUT,
        show_default=False,
        metavar="FASTA",
    ),
]
OutputPath = Annotated[
    str,
    typer.Option(
        "-o",
        "--output",
        help="Write to FILE instead of stdout (written to a temp file, renamed on success).",
        rich_help_panel=OUTPUT,
        metavar="FILE",
    ),
]
OutputType = Annotated[
    str | None,
    typer.Option(
        "-O",
        "--output-type",
        help="v|z|b|u (VCF, bgzipped VCF, BCF, uncompressed BCF), sam|bam|cram, "
        "fastq|fastq.gz, tsv|json|parquet|arrow. Default: from the -o suffix, else text of "
        "the input kind.",
        rich_help_panel=OUTPUT,
        show_default=False,
        metavar="TYPE",
    ),
]
TableFields = Annotated[
    str | None,
    typer.Option(
        "--fields",
        help="Table outputs (-O tsv|json|parquet|arrow): extra INFO/FORMAT fields (variants) "
        "or tags (alignments), comma-separated, e.g. INFO/DP,FMT/GT or NM,MD.",
        rich_help_panel=OUTPUT,
        metavar="LIST",
    ),
]
WriteIndex = Annotated[
    bool,
    typer.Option(
        "--write-index",
        help="Index the compressed output (.csi for VCF.gz/BCF/BAM, .crai for CRAM).",
        rich_help_panel=OUTPUT,
    ),
]
NoVersion = Annotated[
    bool,
    typer.Option(
        "--no-version",
        help="Do not add the provenance header line (##gfcli_<cmd>Command / @PG).",
        rich_help_panel=OUTPUT,
    ),
]
Regions = Annotated[
    str | None,
    typer.Option(
        "-r",
        "--regions",
        help="Comma-separated regions chr|chr:beg|chr:beg-end (1-based, inclusive) via the index.",
        rich_help_panel=REGIONS,
        show_default=False,
        metavar="REG",
    ),
]
RegionsFile = Annotated[
    str | None,
    typer.Option(
        "-R",
        "--regions-file",
        help="Regions from a file via the index: BED (.bed, 0-based) or CHR<TAB>BEG[<TAB>END] "
        "(1-based).",
        rich_help_panel=REGIONS,
        show_default=False,
        metavar="FILE",
    ),
]
Targets = Annotated[
    str | None,
    typer.Option(
        "-t",
        "--targets",
        help="Like -r but streams the file (no index needed); prefix '^' to exclude.",
        rich_help_panel=REGIONS,
        show_default=False,
        metavar="REG",
    ),
]
TargetsFile = Annotated[
    str | None,
    typer.Option(
        "-T",
        "--targets-file",
        help="Like -R but streams the file (no index needed); prefix '^' to exclude.",
        rich_help_panel=REGIONS,
        show_default=False,
        metavar="FILE",
    ),
]
Threads = Annotated[
    int,
    typer.Option(
        "-@",
        "--threads",
        help="Worker processes; the input is split into chunks (index regions or BGZF "
        "block ranges) and results are merged in input order.",
        rich_help_panel=PERFORMANCE,
        min=0,
        metavar="N",
    ),
]
ProgressBar = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: only when stderr is a terminal).",
        rich_help_panel=GENERAL,
        show_default=False,
    ),
]
