"""`gfcli depth`: samtools depth's rows, or mosdepth's summaries with --prefix."""

from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

SUMMARY = "Summaries (mosdepth)"

HELP = """\
Read depth per position of SAM/BAM/CRAM files, exactly like samtools depth (1.13+): one
row 'CHROM<TAB>POS<TAB>DEPTH' per covered position (a depth column per input file), the
same read filter (UNMAP,SECONDARY,QCFAIL,DUP excluded), -a/-aa for every position, -r, -b,
-Q, -q, -l, -g/-G, -J, -s, -H.

With --prefix P, writes mosdepth's files instead (what MultiQC's mosdepth module reads):
P.mosdepth.summary.txt, P.mosdepth.global.dist.txt, P.per-base.bed.gz (runs of equal
depth; -n skips it), and with --by windows or BED regions P.regions.bed.gz and
P.mosdepth.region.dist.txt, --thresholds P.thresholds.bed.gz, --quantize
P.quantized.bed.gz. Counting follows mosdepth: mate overlaps counted once.

Coverage is a difference array plus a cumulative sum, from BAM records decoded by
gfcli's own reader. With an index, rows are made by segments of positions (a few Mb,
each read from the index's linear offsets), in parallel with -@ and written in order, so
memory follows the segment size; summaries run one reference per task. SAM and CRAM are
read through htslib into the same path.
"""

EXAMPLES = """\
Examples:
  gfcli depth sample.bam > sample.depth
  gfcli depth -a -r chr1:1-100000 -Q 20 -q 13 a.bam b.bam
  gfcli depth -@ 2 --prefix out/sample --by 500 -n --thresholds 1,10,20,30 sample.bam
  gfcli depth --prefix sample --by targets.bed --median sample.cram --reference ref.fa
"""


def depth(
    paths: Annotated[list[str], typer.Argument(
        help="Input files (SAM/BAM/CRAM, '-' for stdin); one depth column each.",
        show_default=False, metavar="FILE...")],
    all_positions: Annotated[int, typer.Option(
        "-a", count=True, help="Output all positions, zero depth too; -aa: also references "
        "without reads.", rich_help_panel=opt.OUTPUT)] = 0,
    output: opt.OutputPath = "-",
    header: Annotated[bool, typer.Option(
        "-H", help="Print a header line '#CHROM POS FILE...'.",
        rich_help_panel=opt.OUTPUT)] = False,
    region: Annotated[str | None, typer.Option(
        "-r", "--region", help="Only this region, chr or chr:beg-end (needs an index).",
        rich_help_panel=opt.REGIONS, show_default=False, metavar="REG")] = None,
    bed: Annotated[str | None, typer.Option(
        "-b", "--bed", help="Only positions in these BED regions (or CHR POS lines).",
        rich_help_panel=opt.REGIONS, show_default=False, metavar="FILE")] = None,
    min_mapq: Annotated[int, typer.Option(
        "-Q", "--min-MQ", help="Skip alignments with mapping quality below INT.",
        rich_help_panel=opt.FILTERING, metavar="INT")] = 0,
    min_bq: Annotated[int, typer.Option(
        "-q", "--min-BQ", help="Skip bases with base quality below INT.",
        rich_help_panel=opt.FILTERING, metavar="INT")] = 0,
    min_len: Annotated[int, typer.Option(
        "-l", help="Skip reads with fewer than INT aligned query bases.",
        rich_help_panel=opt.FILTERING, metavar="INT")] = 0,
    remove_flags: Annotated[list[str] | None, typer.Option(
        "-g", help="Remove FLAGS from the filter-out set (UNMAP,SECONDARY,QCFAIL,DUP).",
        rich_help_panel=opt.FILTERING, show_default=False, metavar="FLAGS")] = None,
    add_flags: Annotated[list[str] | None, typer.Option(
        "-G", "--excl-flags", help="Add FLAGS to the filter-out set.",
        rich_help_panel=opt.FILTERING, show_default=False, metavar="FLAGS")] = None,
    incl_flags: Annotated[str | None, typer.Option(
        "--incl-flags", help="Only reads with at least one of FLAGS.",
        rich_help_panel=opt.FILTERING, show_default=False, metavar="FLAGS")] = None,
    require_flags: Annotated[str | None, typer.Option(
        "--require-flags", help="Only reads with all of FLAGS.",
        rich_help_panel=opt.FILTERING, show_default=False, metavar="FLAGS")] = None,
    deletions: Annotated[bool, typer.Option(
        "-J", help="Count deletions as covered.", rich_help_panel=opt.FILTERING)] = False,
    overlaps: Annotated[bool, typer.Option(
        "-s", help="Count the overlap of a read pair once (samtools' rule).",
        rich_help_panel=opt.FILTERING)] = False,
    prefix: Annotated[str | None, typer.Option(
        "--prefix", help="Write mosdepth's summary files as P.* instead of rows.",
        rich_help_panel=SUMMARY, show_default=False, metavar="P")] = None,
    no_per_base: Annotated[bool, typer.Option(
        "-n", "--no-per-base", help="Skip P.per-base.bed.gz.",
        rich_help_panel=SUMMARY)] = False,
    by: Annotated[str | None, typer.Option(
        "--by", help="Windows of INT bases, or a BED file of regions: mean depth each.",
        rich_help_panel=SUMMARY, show_default=False, metavar="INT|BED")] = None,
    thresholds: Annotated[str | None, typer.Option(
        "--thresholds", help="Bases at or above each depth, per --by region (e.g. 1,10,20).",
        rich_help_panel=SUMMARY, show_default=False, metavar="LIST")] = None,
    quantize: Annotated[str | None, typer.Option(
        "--quantize", help="Merge positions into depth bins, e.g. 0:1:5:150: "
        "(P.quantized.bed.gz).", rich_help_panel=SUMMARY, show_default=False,
        metavar="BINS")] = None,
    median: Annotated[bool, typer.Option(
        "--median", help="Median instead of mean per --by region (mosdepth -m).",
        rich_help_panel=SUMMARY)] = False,
    fast_mode: Annotated[bool, typer.Option(
        "--fast-mode", help="Whole read spans, no mate-overlap correction (mosdepth -x).",
        rich_help_panel=SUMMARY)] = False,
    reference: opt.Reference = None,
    threads: opt.Threads = 1,
) -> None:
    from gfcli.engine.depth.run import DepthRequest, run_depth

    run_depth(DepthRequest(
        inputs=list(paths), output=output, all_positions=all_positions, region=region,
        bed=bed, min_mapq=min_mapq, min_bq=min_bq, min_len=min_len,
        remove_flags=list(remove_flags or []), add_flags=list(add_flags or []),
        incl_flags=incl_flags, require_flags=require_flags, deletions=deletions,
        overlaps=overlaps, header=header, threads=threads, reference=reference, prefix=prefix,
        no_per_base=no_per_base, by=by, thresholds=thresholds, quantize=quantize,
        median=median, fast_mode=fast_mode,
    ))


def register(app: typer.Typer) -> None:
    add_command(
        app,
        depth,
        name="depth",
        summary="Depth per position (samtools depth) or mosdepth summaries.",
        description=HELP,
        examples=EXAMPLES,
    )
