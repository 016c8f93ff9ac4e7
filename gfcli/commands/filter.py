"""`gfcli filter`: keep, drop or soft-filter records by an expression (bcftools/samtools)."""

import sys
from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

HELP = """\
Filter variants (VCF/BCF), alignments (SAM/BAM/CRAM) or reads (FASTQ) with one expression
language: bcftools' -i/-e syntax for variants, samtools' view -e syntax for alignments and
FASTQ (fields name, length, seq, qual, meanq, gc, n_count). The expression
is compiled once into index seeks, cheap prefilters on raw fields, the columns to decode
and a vectorised evaluation; --explain prints that plan. See --help-expr for the grammar.
"""

EXAMPLES = """\
Examples:
  gfcli filter -i 'QUAL>30 && INFO/DP>10' -Oz -o good.vcf.gz calls.vcf.gz
  gfcli filter -e 'FMT/GQ<20' -s LowGQ -m + calls.bcf
  gfcli filter -i 'mapq>=30 && !flag.duplicate' -U rejected.bam -o kept.bam in.bam
"""

FILTERING = opt.FILTERING


def _help_expr(value: bool) -> None:
    if value:
        from gfcli.engine.expr import HELP_EXPR

        sys.stdout.write(HELP_EXPR.rstrip("\n") + "\n")
        raise typer.Exit(0)


def filter_command(
    path: opt.InputPath = None,
    reference: opt.Reference = None,
    include: Annotated[
        str | None,
        typer.Option("-i", "--include", help="Keep records for which EXPR is true.",
                     rich_help_panel=FILTERING, metavar="EXPR"),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option("-e", "--exclude", help="Drop records for which EXPR is true.",
                     rich_help_panel=FILTERING, metavar="EXPR"),
    ] = None,
    soft_filter: Annotated[
        str | None,
        typer.Option("-s", "--soft-filter",
                     help="Variants: set FILTER to NAME on failing records instead of "
                     "dropping them (a ##FILTER line is added).",
                     rich_help_panel=FILTERING, metavar="NAME"),
    ] = None,
    soft_mode: Annotated[
        str | None,
        typer.Option("-m", "--mode",
                     help="With -s: '+' adds NAME to existing FILTER values, 'x' resets "
                     "FILTER of passing records to PASS (bcftools filter -m).",
                     rich_help_panel=FILTERING, metavar="+|x"),
    ] = None,
    require_flags: Annotated[
        str | None,
        typer.Option("-f", "--require-flags",
                     help="Reads: keep only reads with all of these FLAG bits (samtools -f).",
                     rich_help_panel=FILTERING, metavar="FLAG"),
    ] = None,
    exclude_flags: Annotated[
        str | None,
        typer.Option("-F", "--excl-flags",
                     help="Reads: drop reads with any of these FLAG bits (samtools -F).",
                     rich_help_panel=FILTERING, metavar="FLAG"),
    ] = None,
    min_mapq: Annotated[
        int,
        typer.Option("-q", "--min-MQ", help="Reads: minimum mapping quality (samtools -q).",
                     rich_help_panel=FILTERING, min=0, metavar="INT"),
    ] = 0,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Print the compiled plan (index / prefilter / "
                     "projection / batch stages) and exit.", rich_help_panel=FILTERING),
    ] = False,
    help_expr: Annotated[
        bool,
        typer.Option("--help-expr", help="Print the expression grammar and exit.",
                     callback=_help_expr, is_eager=True, rich_help_panel=FILTERING),
    ] = False,
    output: opt.OutputPath = "-",
    output_type: opt.OutputType = None,
    rejects: Annotated[
        str | None,
        typer.Option("-U", "--unselected-output",
                     help="Reads: write the reads that fail to FILE (samtools -U).",
                     rich_help_panel=opt.OUTPUT, metavar="FILE"),
    ] = None,
    count: Annotated[
        bool,
        typer.Option("-c", "--count", help="Print only the number of passing records.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    with_header: Annotated[
        bool,
        typer.Option("-h", "--with-header",
                     help="Reads to SAM text: include the header (samtools view -h). "
                     "VCF and BAM/CRAM outputs always carry theirs.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    fields: opt.TableFields = None,
    write_index: opt.WriteIndex = False,
    no_version: opt.NoVersion = False,
    regions: opt.Regions = None,
    regions_file: opt.RegionsFile = None,
    targets: opt.Targets = None,
    targets_file: opt.TargetsFile = None,
    threads: opt.Threads = 1,
    progress: opt.ProgressBar = None,
) -> None:
    from gfcli.engine.filter import parse_flags, run_filter
    from gfcli.engine.view import ViewRequest

    run_filter(
        ViewRequest(
            input=path,
            output=output,
            output_type=output_type,
            count=count,
            with_header=with_header,
            fields=fields,
            write_index=write_index,
            no_version=no_version,
            regions=regions,
            regions_file=regions_file,
            targets=targets,
            targets_file=targets_file,
            reference=reference,
            threads=threads,
            progress=progress,
            argv=sys.argv[1:],
            include=include,
            exclude=exclude,
            soft_filter=soft_filter,
            soft_mode=soft_mode,
            rejects=rejects,
            explain=explain,
            require_flags=parse_flags(require_flags, "-f"),
            exclude_flags=parse_flags(exclude_flags, "-F"),
            min_mapq=min_mapq,
            command="filter",
        )
    )


def register(app: typer.Typer) -> None:
    add_command(
        app,
        filter_command,
        name="filter",
        summary="Filter VCF/BCF, SAM/BAM/CRAM or FASTQ records by expression (bcftools/samtools).",
        description=HELP,
        examples=EXAMPLES,
    )
