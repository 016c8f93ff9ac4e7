"""`gfcli validate`: find every problem in a VCF/BCF, SAM/BAM/CRAM or FASTQ, never crash.

Layout: `rules` (the registry of named checks), `reporter` (printing, caps, JSON),
`container` (gzip/BGZF/index), `text` (guarded line reading), one module per format
(`vcf`, `alignments` + `bam`, `fastq`, `hts` for what htslib decodes) and `run` (the
command's orchestration). Only `hts` imports pysam, and only inside functions.
"""
