"""`gfcli flagstat`: samtools flagstat's counts for SAM/BAM/CRAM, byte-identical output."""

from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

HELP = """\
Count alignments by SAM flag, exactly like samtools flagstat: QC-passed and QC-failed
columns; primary, secondary, supplementary, duplicates, mapped, paired, proper pairs,
singletons, mates on another chromosome. Default text (what MultiQC parses), -O json or
-O tsv.

BAM is decoded by gfcli's own reader; SAM and CRAM are read through htslib (CRAM needs no
reference: only flags, reference IDs and MAPQ are decoded).

Threads (BAM files): -@ 0 (the default) reads on one thread, like
samtools flagstat without -@. -@ 1 adds one thread, like samtools' -@ 1: both threads
inflate BGZF blocks ahead, the main thread counts. -@ N > 1 runs N worker processes over
BGZF chunks of the file.
"""

EXAMPLES = """\
Examples:
  gfcli flagstat sample.bam
  gfcli flagstat -@ 2 -O json sample.bam > sample.flagstat.json
  samtools view -u -q 20 sample.cram | gfcli flagstat -
"""


def flagstat(
    path: opt.InputPath = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "-O",
            "--output-fmt",
            help="Output format: json or tsv (default: samtools' text).",
            rich_help_panel=opt.OUTPUT,
            show_default=False,
            metavar="FORMAT",
        ),
    ] = None,
    input_fmt_option: Annotated[
        list[str] | None,
        typer.Option(
            "--input-fmt-option",
            help="htslib input format option OPT[=VAL] (passed to htslib; BAM then goes "
            "through htslib too).",
            rich_help_panel=opt.INPUT,
            show_default=False,
            metavar="OPT",
        ),
    ] = None,
    reference: opt.Reference = None,
    threads: opt.Threads = 0,
) -> None:
    from gfcli.engine.flagstat import FlagstatRequest, run_flagstat

    run_flagstat(
        FlagstatRequest(
            input=path,
            output_format=output_format,
            threads=threads,
            reference=reference,
            input_fmt_options=list(input_fmt_option or []),
        )
    )


def register(app: typer.Typer) -> None:
    add_command(
        app,
        flagstat,
        name="flagstat",
        summary="Counts by SAM flag for SAM/BAM/CRAM (samtools flagstat).",
        description=HELP,
        examples=EXAMPLES,
    )
