"""`gfcli stats`: bcftools stats / samtools stats / seqkit stats by input kind, mergeable.

No `from __future__ import annotations` here: typer builds every command's options at
each start, and string annotations are evaluated anew each time (8 ms of every gfcli
start-up for this command's thirty options); evaluated once at import they cost 1 ms.
"""

import sys
from typing import Annotated

import typer

from gfcli.commands import options as opt
from gfcli.commands.helpfmt import add_command

HELP = """\
Statistics of variants (VCF/BCF, as bcftools stats), alignments (SAM/BAM/CRAM, as samtools
stats) or reads (FASTQ, as seqkit stats -a -T), chosen by the detected input type.

The default output is the reference tool's text, so MultiQC and plot-vcfstats read it.
-O json writes a partial that --merge combines: stats of shards (by -r region or by
file) merged print what one pass over everything prints, in any output format.

Short options follow the reference tool of the input kind: -r is regions for variants
(bcftools) and the reference FASTA for alignments (samtools --ref-seq); -t is streamed
targets for variants and a target-regions BED for alignments; -f is FILTER values for
variants (--apply-filters) and required flag bits for reads; -F excludes flag bits;
-q is samtools stats' BWA trimming quality (--trim-quality), not a MAPQ filter
(that is --min-MQ).
"""

EXAMPLES = """\
Examples:
  gfcli stats calls.vcf.gz > calls.vchk
  gfcli stats -s - -@ 2 cohort.bcf
  gfcli stats -O json -r chr1 calls.vcf.gz > chr1.json   # then:
  gfcli stats --merge chr1.json chr2.json > all.vchk
  gfcli stats -f 0x2 --min-MQ 20 sample.bam
"""

STATS = "Statistics"


def stats(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Input file(s) (format sniffed), '-' for stdin; FASTQ takes "
                       "several.", show_default=False, metavar="FILE..."),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="The FILEs are JSON partials from 'gfcli stats -O json': "
                     "add them up and print the result.", rich_help_panel=opt.INPUT),
    ] = False,
    output: opt.OutputPath = "-",
    output_type: Annotated[
        str,
        typer.Option("-O", "--output-type", help="text (the reference tool's) or json "
                     "(mergeable partial).", rich_help_panel=opt.OUTPUT, metavar="TYPE"),
    ] = "text",
    pretty: Annotated[
        bool,
        typer.Option("--pretty", help="A summary table for reading at a terminal.",
                     rich_help_panel=opt.OUTPUT),
    ] = False,
    short_r: Annotated[
        str | None,
        typer.Option("-r", help="Variants: regions via the index (--regions). Alignments: "
                     "reference FASTA (--reference).", rich_help_panel=opt.REGIONS,
                     metavar="REG|FASTA", show_default=False),
    ] = None,
    regions: Annotated[
        str | None,
        typer.Option("--regions", help="Comma-separated regions via the index.",
                     rich_help_panel=opt.REGIONS, metavar="REG", show_default=False),
    ] = None,
    regions_file: opt.RegionsFile = None,
    short_t: Annotated[
        str | None,
        typer.Option("-t", help="Variants: streamed targets (--targets). Alignments: target "
                     "regions BED (--target-regions).", rich_help_panel=opt.REGIONS,
                     metavar="REG|BED", show_default=False),
    ] = None,
    targets: Annotated[
        str | None,
        typer.Option("--targets", help="Variants: like --regions but streamed; '^' excludes.",
                     rich_help_panel=opt.REGIONS, metavar="REG", show_default=False),
    ] = None,
    targets_file: opt.TargetsFile = None,
    target_regions: Annotated[
        str | None,
        typer.Option("--target-regions", help="Alignments: BED of target regions "
                     "(samtools stats -t).", rich_help_panel=opt.REGIONS, metavar="BED",
                     show_default=False),
    ] = None,
    include: Annotated[
        str | None,
        typer.Option("-i", "--include", help="Only records for which EXPR is true.",
                     rich_help_panel=opt.FILTERING, metavar="EXPR"),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option("-e", "--exclude", help="Skip records for which EXPR is true.",
                     rich_help_panel=opt.FILTERING, metavar="EXPR"),
    ] = None,
    short_f: Annotated[
        str | None,
        typer.Option("-f", help="Variants: FILTER values to require, e.g. PASS or .,PASS "
                     "(--apply-filters). Reads: required flag bits (--required-flag).",
                     rich_help_panel=opt.FILTERING, metavar="LIST|FLAG", show_default=False),
    ] = None,
    apply_filters: Annotated[
        str | None,
        typer.Option("--apply-filters", help="Variants: require one of these FILTER values.",
                     rich_help_panel=opt.FILTERING, metavar="LIST", show_default=False),
    ] = None,
    required_flag: Annotated[
        str | None,
        typer.Option("--required-flag", help="Reads: keep reads with all these flag bits.",
                     rich_help_panel=opt.FILTERING, metavar="FLAG", show_default=False),
    ] = None,
    filtering_flag: Annotated[
        str | None,
        typer.Option("-F", "--filtering-flag", help="Reads: drop reads with any of these "
                     "flag bits.", rich_help_panel=opt.FILTERING, metavar="FLAG",
                     show_default=False),
    ] = None,
    min_mapq: Annotated[
        int,
        typer.Option("--min-MQ", help="Alignments: skip reads with a mapping quality below "
                     "INT (gfcli's own filter; samtools stats has none).",
                     rich_help_panel=opt.FILTERING, min=0, metavar="INT"),
    ] = 0,
    trim_quality: Annotated[
        int,
        typer.Option("-q", "--trim-quality", help="Alignments: BWA trimming quality "
                     "threshold for the 'bases trimmed' count (samtools stats -q); it filters "
                     "nothing (--min-MQ does).", rich_help_panel=STATS, min=0, metavar="INT"),
    ] = 0,
    samples: Annotated[
        str | None,
        typer.Option("-s", "--samples", help="Variants: per-sample stats (PSC, PSI, HWE, VAF) "
                     "for LIST, '-' for all; '^' excludes.", rich_help_panel=STATS,
                     metavar="LIST", show_default=False),
    ] = None,
    samples_file: Annotated[
        str | None,
        typer.Option("-S", "--samples-file", help="Variants: samples from a file.",
                     rich_help_panel=STATS, metavar="FILE", show_default=False),
    ] = None,
    af_bins: Annotated[
        str | None,
        typer.Option("--af-bins", help="Variants: allele frequency bins, a list (0.1,0.5,1) "
                     "or a file.", rich_help_panel=STATS, metavar="LIST", show_default=False),
    ] = None,
    af_tag: Annotated[
        str | None,
        typer.Option("--af-tag", help="Variants: INFO tag with the allele frequency "
                     "(default from AC/AN or genotypes).", rich_help_panel=STATS,
                     metavar="TAG", show_default=False),
    ] = None,
    depth: Annotated[
        str | None,
        typer.Option("-d", "--depth", help="Variants: depth histogram min,max,bin "
                     "[0,500,1].", rich_help_panel=STATS, metavar="INT,INT,INT",
                     show_default=False),
    ] = None,
    user_tstv: Annotated[
        list[str] | None,
        typer.Option("-u", "--user-tstv", help="Variants: Ts/Tv by an INFO tag, "
                     "TAG[:min:max:n] (repeatable).", rich_help_panel=STATS,
                     metavar="TAG", show_default=False),
    ] = None,
    reference: opt.Reference = None,
    threads: opt.Threads = 1,
    progress: opt.ProgressBar = None,
) -> None:
    from gfcli.engine.stats import run_stats
    from gfcli.engine.stats.base import StatsRequest, parse_depth

    ambiguous = {k: v for k, v in (("-r", short_r), ("-t", short_t), ("-f", short_f))
                 if v is not None}
    req = StatsRequest(
        inputs=[] if merge else list(paths or []),
        merge=list(paths or []) if merge else [],
        output=output,
        output_type=output_type.lower(),
        pretty=pretty,
        threads=threads,
        progress=progress,
        argv=sys.argv[1:],
        regions=regions,
        regions_file=regions_file,
        targets=targets,
        targets_file=targets_file,
        include=include,
        exclude=exclude,
        apply_filters=apply_filters,
        samples=samples,
        samples_file=samples_file,
        af_bins=af_bins,
        af_tag=af_tag,
        depth=parse_depth(depth) if depth else None,
        user_tstv=list(user_tstv or []),
        reference=reference,
        target_regions=target_regions,
        min_mapq=min_mapq,
        trim_quality=trim_quality,
        ambiguous=ambiguous,
    )
    if required_flag is not None:
        from gfcli.engine.stats.base import parse_flags

        req.required_flag = parse_flags(required_flag, "--required-flag")
    if filtering_flag is not None:
        req.ambiguous["-F"] = filtering_flag
    if merge and not req.merge:
        from gfcli.engine.errors import UsageError

        raise UsageError("--merge needs the JSON partials to combine")
    run_stats(req)


def register(app: typer.Typer) -> None:
    add_command(
        app,
        stats,
        name="stats",
        summary="Statistics of VCF/BCF, SAM/BAM/CRAM or FASTQ (bcftools/samtools/seqkit "
        "stats), mergeable.",
        description=HELP,
        examples=EXAMPLES,
    )
