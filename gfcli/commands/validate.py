"""`gfcli validate`: check VCF/BCF, SAM/BAM/CRAM and FASTQ against their specifications."""

import sys
from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

HELP = """\
Check VCF/BCF (4.0-4.5), SAM/BAM/CRAM (SAM v1) or FASTQ files against their
specifications and report every problem, one per line on stderr:
FILE:LINE: error|warning: RULE: message (for BAM and BCF, LINE is the record number and the
byte offset follows the message).

Each check is a named rule (--list-rules). The input is streamed in constant memory and
read by the validator itself, so damaged, truncated or binary input is reported, never a
crash. Compressed inputs are checked block by block (gzip/BGZF, the BGZF EOF marker) and an
index beside the file is checked against it.

Exit status: 0 valid (warnings allowed unless --strict), 1 errors found, 2 an input could
not be read at all (missing file, unrecognised format).
"""

EXAMPLES = """\
Examples:
  gfcli validate calls.vcf.gz
  gfcli validate --reference ref.fa --summary calls.bcf
  gfcli validate --mates --max-errors 10 sample.bam
  gfcli validate --paired reads_R2.fq.gz reads_R1.fq.gz
  gfcli validate -O json -o report.json --ignore vcf.no-contigs,text.crlf *.vcf
  gfcli validate --list-rules
"""

CHECKS = "Checks"


def validate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Input files (format sniffed from their bytes), '-' for stdin, or htslib URLs.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Validate as vcf|bcf|sam|bam|cram|fastq whatever the content looks like "
            "(default: sniffed, else taken from the file name).",
            rich_help_panel=opt.INPUT,
            show_default=False,
            metavar="FMT",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            "--fasta-ref",
            help="Indexed FASTA: check VCF/BCF REF against it; reference for CRAM.",
            rich_help_panel=opt.INPUT,
            show_default=False,
            metavar="FASTA",
        ),
    ] = None,
    paired: Annotated[
        str | None,
        typer.Option(
            "--paired",
            help="FASTQ: R2 file whose read names must match FILE's (R1), record by record.",
            rich_help_panel=opt.INPUT,
            show_default=False,
            metavar="R2.fq",
        ),
    ] = None,
    mates: Annotated[
        bool,
        typer.Option(
            "--mates",
            help="SAM/BAM/CRAM: check each pair's records against each other (mate "
            "position, strand, unmapped flag, TLEN); holds unpaired reads in memory.",
            rich_help_panel=CHECKS,
        ),
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            help="Skip rules: ids, families (vcf) or globs (vcf.info-*); comma-separated or "
            "repeated.",
            rich_help_panel=CHECKS,
            show_default=False,
            metavar="RULE",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Treat warnings as errors (exit 1).",
                     rich_help_panel=CHECKS),
    ] = False,
    list_rules: Annotated[
        bool,
        typer.Option("--list-rules", help="Print every rule with its severity and exit.",
                     rich_help_panel=CHECKS),
    ] = False,
    max_errors: Annotated[
        int,
        typer.Option(
            "--max-errors",
            help="Print at most N problems per rule and file, then their count (0: all).",
            rich_help_panel=opt.OUTPUT,
            metavar="N",
        ),
    ] = 100,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="Print the count of problems per rule for each file (stdout; stderr with "
            "-O json to stdout).",
            rich_help_panel=opt.OUTPUT,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("-q", "--quiet", help="Do not print the problems; only the exit status "
                     "(and --summary / -O json) tell.", rich_help_panel=opt.OUTPUT),
    ] = False,
    output_type: Annotated[
        str | None,
        typer.Option(
            "-O",
            "--output-type",
            help="text (problems on stderr only) or json (a machine-readable report).",
            rich_help_panel=opt.OUTPUT,
            show_default=False,
            metavar="TYPE",
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="Write the -O json report to FILE instead of stdout.",
            rich_help_panel=opt.OUTPUT,
            metavar="FILE",
        ),
    ] = "-",
    threads: Annotated[
        int,
        typer.Option(
            "-@",
            "--threads",
            help="Worker processes: a BGZF VCF or an indexed BAM is split into chunks and "
            "other files are validated side by side; the report equals -@ 1's.",
            rich_help_panel=opt.PERFORMANCE,
            min=0,
            metavar="N",
        ),
    ] = 1,
) -> None:
    if list_rules:
        from gfcli.engine.validate.run import list_rules as print_rules

        print_rules(sys.stdout)
        return
    from gfcli.engine.validate.run import ValidateRequest, run_validate

    code = run_validate(
        ValidateRequest(
            inputs=list(paths or []),
            format=input_format,
            reference=reference,
            mates=mates,
            paired=paired,
            max_errors=max_errors,
            ignore=list(ignore or []),
            strict=strict,
            summary=summary,
            output_type=output_type,
            output=output,
            quiet=quiet,
            threads=threads,
        )
    )
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    add_command(
        app,
        validate,
        name="validate",
        summary="Check VCF/BCF, SAM/BAM/CRAM and FASTQ against their specs; every problem "
        "as FILE:LINE: RULE.",
        description=HELP,
        examples=EXAMPLES,
    )
