"""`gfcli view`: convert, subset and print VCF/BCF and SAM/BAM/CRAM like bcftools/samtools view."""

import sys
from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

HELP = """\
View, convert and subset variants (VCF/BCF), alignments (SAM/BAM/CRAM) or reads (FASTQ).

Output is that of bcftools view for variants and samtools view for alignments, so the
header flags follow the tool of the input kind: for variants -h prints the header only
and -H suppresses it (the header is printed by default); for alignments -h includes the
header and -H prints it alone (SAM text has no header by default).
"""

EXAMPLES = """\
Examples:
  gfcli view -r chr1:10000-20000 calls.vcf.gz
  gfcli view -s NA12878,NA12891 -Oz -o trio.vcf.gz --write-index calls.bcf
  gfcli view -@ 2 -o out.bam in.sam
"""


def view(
    path: opt.InputPath = None,
    reference: opt.Reference = None,
    output: opt.OutputPath = "-",
    output_type: opt.OutputType = None,
    header_flag: Annotated[
        bool,
        typer.Option(
            "-h",
            help="As in the reference tool of the input kind: variants, header only "
            "(bcftools); alignments, include the header (samtools).",
            rich_help_panel=opt.OUTPUT,
        ),
    ] = False,
    other_header_flag: Annotated[
        bool,
        typer.Option(
            "-H",
            help="Variants: no header (bcftools). Alignments: header only (samtools).",
            rich_help_panel=opt.OUTPUT,
        ),
    ] = False,
    header_only: Annotated[
        bool,
        typer.Option("--header-only", help="Print the header only.", rich_help_panel=opt.OUTPUT),
    ] = False,
    no_header: Annotated[
        bool,
        typer.Option("--no-header", help="Print records without the header.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    with_header: Annotated[
        bool,
        typer.Option("--with-header", help="Print records with the header.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    count: Annotated[
        bool,
        typer.Option("-c", "--count", help="Print only the number of records.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    fields: opt.TableFields = None,
    write_index: opt.WriteIndex = False,
    no_version: opt.NoVersion = False,
    regions: opt.Regions = None,
    regions_file: opt.RegionsFile = None,
    targets: opt.Targets = None,
    targets_file: opt.TargetsFile = None,
    samples: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--samples",
            help="Comma-separated samples to keep; '^' prefix excludes them.",
            rich_help_panel=opt.SAMPLES,
            metavar="LIST",
        ),
    ] = None,
    samples_file: Annotated[
        str | None,
        typer.Option(
            "-S",
            "--samples-file",
            help="File of sample names, one per line; '^' prefix excludes them.",
            rich_help_panel=opt.SAMPLES,
            metavar="FILE",
        ),
    ] = None,
    no_update: Annotated[
        bool,
        typer.Option(
            "-I",
            "--no-update",
            help="Do not recalculate INFO/AC and INFO/AN after subsetting samples.",
            rich_help_panel=opt.SAMPLES,
        ),
    ] = False,
    force_samples: Annotated[
        bool,
        typer.Option(
            "--force-samples",
            help="Only warn about unknown samples in -s/-S.",
            rich_help_panel=opt.SAMPLES,
        ),
    ] = False,
    threads: opt.Threads = 1,
    progress: opt.ProgressBar = None,
) -> None:
    from gfcli.engine.view import ViewRequest, run_view

    run_view(
        ViewRequest(
            input=path,
            output=output,
            output_type=output_type,
            header_flag=header_flag,
            other_header_flag=other_header_flag,
            header_only=header_only,
            no_header=no_header,
            with_header=with_header,
            count=count,
            fields=fields,
            write_index=write_index,
            no_version=no_version,
            regions=regions,
            regions_file=regions_file,
            targets=targets,
            targets_file=targets_file,
            samples=samples,
            samples_file=samples_file,
            no_update=no_update,
            force_samples=force_samples,
            reference=reference,
            threads=threads,
            progress=progress,
            argv=sys.argv[1:],
        )
    )


def register(app: typer.Typer) -> None:
    add_command(
        app,
        view,
        name="view",
        summary="View, convert, subset VCF/BCF, SAM/BAM/CRAM, FASTQ (bcftools/samtools view).",
        description=HELP,
        examples=EXAMPLES,
    )
