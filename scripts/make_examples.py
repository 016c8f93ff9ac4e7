"""Regenerate gfcli's bundled example data (gfcli/data/), used by `gfcli demo` and docs.

    python scripts/make_examples.py [--out gfcli/data]

Same generator as the benchmarks (benchmarks/generate.py), at a few kilobytes:

    example.fa(.fai)        2 contigs x 5 kb
    example.vcf.gz(.tbi)    ~150 sites x 3 samples: multi-allelic sites, indels, a symbolic
                            <DEL>, missing genotypes and values, INFO DP/AF/AC/AN/MQ/DB/GENE,
                            FORMAT GT:DP:GQ:AD
    example.bam(.bai)       ~300 sorted 2x150 paired reads: unmapped (placed and unplaced),
                            secondary, supplementary, duplicate and QC-failed reads
    example.fastq.gz        the first 40 reads, mates interleaved

Deterministic: the same seed gives the same records. (The BAM and index bytes also depend on
the samtools/bcftools that sorts and indexes them; see benchmarks/generate.py.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate as gen  # noqa: E402  (benchmarks/generate.py)

SEED = 1729
CONTIGS = [("chr1", 5_000), ("chr2", 5_000)]


def make_examples(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(SEED).spawn(4)
    genome = gen.make_genome(np.random.default_rng(seeds[0]), CONTIGS)
    gen.write_fasta(genome, out / "example.fa")
    gen.write_population_vcf(np.random.default_rng(seeds[1]), genome, out / "example.vcf.gz",
                             n_sites=150, n_samples=3, reference="example.fa")
    planted = gen.plant_variants(np.random.default_rng(seeds[2]), genome, 2e-3, 4e-4)
    gen.write_reads(np.random.default_rng(seeds[3]), genome, planted, out / "example.bam",
                    out / "example.fastq.gz", coverage=4.5, fastq_limit=40)
    names = ["example.fa", "example.fa.fai", "example.vcf.gz", "example.vcf.gz.tbi",
             "example.bam", "example.bam.bai", "example.fastq.gz"]
    return [out / name for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gfcli" / "data")
    args = parser.parse_args(argv)
    for path in make_examples(args.out):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
