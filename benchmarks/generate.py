"""Deterministic benchmark and example data: reference, variants, alignments, reads.

    python benchmarks/generate.py --profile small            # seconds, for smoke tests
    python benchmarks/generate.py --profile large            # the sizes of the perf targets

Writes into OUT/PROFILE/ (default benchmarks/data/PROFILE/):

    ref.fa, ref.fa.fai              random genome (GC drifting along it)
    sites.vcf.gz(.tbi), sites.bcf(.csi)     sites-only VCF (no samples)
    cohort.vcf.gz(.tbi), cohort.bcf(.csi)   multi-sample VCF, FORMAT GT:DP:GQ:AD
    reads.bam(.bai)                 coordinate-sorted 2x150 paired reads from a diploid donor
    truth.vcf.gz(.tbi)              the variants planted in the donor
    reads.fastq.gz                  primary reads as sequenced (mates interleaved, /1 /2)
    manifest.json                   parameters, file names, sizes and query regions

Same seed and parameters, same bytes. Text is built column-wise with numpy (textcols.py) and
compressed with our own BGZF writer; sorting, BCF conversion and indexing use the system
samtools/bcftools when installed (faster), else pysam's bundled ones; the manifest records
which (the BAM and BCF bytes depend on the htslib version).
The functions are importable: scripts/make_examples.py builds gfcli's bundled examples with
them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(Path(__file__).resolve().parent))

import textcols as tc  # noqa: E402  (sibling module; this file is also run as a script)

READ_LEN = 150
# Bump when the same parameters would give different data, so that old data sets are redone.
GENERATOR_VERSION = 2
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
CODE = np.full(256, 4, dtype=np.uint8)  # ASCII base -> 0..3 (4 for anything else)
CODE[BASES] = np.arange(4, dtype=np.uint8)
COMPLEMENT = np.arange(256, dtype=np.uint8)
COMPLEMENT[BASES] = np.frombuffer(b"TGCA", dtype=np.uint8)


# --- profiles ---------------------------------------------------------------------------


@dataclass
class Params:
    """Everything that shapes the data; the manifest records it."""

    contigs: list[tuple[str, int]]
    sites: int  # records in the sites-only VCF
    cohort_sites: int  # records in the multi-sample VCF
    samples: int  # samples in the multi-sample VCF
    coverage: float  # read depth of the BAM
    fastq_reads: int | None = None  # None: every primary read
    seed: int = 20240601
    snp_rate: float = 1e-3  # planted donor variants per base
    indel_rate: float = 1e-4
    parts: list[str] = field(
        default_factory=lambda: ["ref", "sites", "cohort", "bam", "fastq"]
    )


def _contigs(count: int, length: int) -> list[tuple[str, int]]:
    return [(f"chr{i + 1}", length) for i in range(count)]


PROFILES: dict[str, Params] = {
    # For tests: a second or two.
    "tiny": Params(_contigs(2, 20_000), 300, 200, 4, 3.0),
    # Smoke runs of the benchmark runner: seconds.
    "small": Params(_contigs(2, 1_000_000), 50_000, 20_000, 20, 5.0),
    "medium": Params(_contigs(2, 5_000_000), 200_000, 100_000, 100, 10.0),
    # The perf targets: 1M sites, 200 samples x 1M sites, ~4M reads over 20 Mb.
    "large": Params(_contigs(2, 10_000_000), 1_000_000, 1_000_000, 200, 30.0),
}


# --- reference --------------------------------------------------------------------------


@dataclass
class Genome:
    names: list[str]
    lengths: np.ndarray  # int64 per contig
    seq: np.ndarray  # uint8 ASCII, contigs back to back
    offsets: np.ndarray  # start of each contig in `seq`

    def contig_of(self, global_pos: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, global_pos, side="right") - 1


def make_genome(rng: np.random.Generator, contigs: list[tuple[str, int]]) -> Genome:
    """Random bases whose GC share drifts in 10 kb windows, so GC statistics are not flat."""
    lengths = np.array([length for _, length in contigs], dtype=np.int64)
    total = int(lengths.sum())
    window = 10_000
    gc = np.clip(rng.normal(0.41, 0.06, size=total // window + 1), 0.2, 0.7)
    strong = rng.random(total) < np.repeat(gc, window)[:total]
    which = rng.random(total) < 0.5
    # A/T for weak bases, C/G for strong ones.
    seq = BASES[np.where(strong, np.where(which, 1, 2), np.where(which, 0, 3))]
    offsets = np.zeros(len(contigs), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return Genome([name for name, _ in contigs], lengths, seq, offsets)


def write_fasta(genome: Genome, path: Path, width: int = 60) -> None:
    import pysam

    with open(path, "wb") as out:
        for name, length, offset in zip(genome.names, genome.lengths, genome.offsets, strict=True):
            out.write(f">{name}\n".encode())
            seq = genome.seq[offset : offset + length]
            full = len(seq) // width * width
            if full:
                out.write(tc.concat(tc.fixed(seq[:full].reshape(-1, width)), b"\n").tobytes())
            if full < len(seq):
                out.write(seq[full:].tobytes() + b"\n")
    pysam.faidx(str(path))


# --- variant sites ----------------------------------------------------------------------

SNP, MULTI2, MULTI3, DEL, INS, SYMBOLIC = range(6)
KIND_SHARE = np.array([0.885, 0.025, 0.005, 0.04, 0.04, 0.005])


@dataclass
class Sites:
    tid: np.ndarray
    pos: np.ndarray  # 1-based
    kind: np.ndarray
    n_alt: np.ndarray
    ref: tc.Text
    alt: tc.Text
    svlen: np.ndarray  # deleted length of symbolic <DEL> alleles, 0 otherwise
    freq: np.ndarray  # (n, 3) population frequency of each ALT


def _spread(rng: np.random.Generator, genome: Genome, n: int, margin: int) -> tuple:
    """`n` distinct positions spread over the contigs by length; sorted (tid, 0-based pos)."""
    usable = genome.lengths - 2 * margin
    counts = rng.multinomial(n, usable / usable.sum())
    tids, positions = [], []
    for tid, (count, size) in enumerate(zip(counts, usable, strict=True)):
        count = min(int(count), int(size))
        chosen = np.sort(rng.choice(int(size), size=count, replace=False)) + margin
        tids.append(np.full(count, tid, dtype=np.int64))
        positions.append(chosen.astype(np.int64))
    return np.concatenate(tids), np.concatenate(positions)


def _kinds(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.choice(len(KIND_SHARE), size=n, p=KIND_SHARE)
    # Small files still get one of each kind (tests rely on a multi-allelic site, an indel
    # and a symbolic allele being there).
    if n >= 4 * len(KIND_SHARE):
        missing = [k for k in range(len(KIND_SHARE)) if not (kind == k).any()]
        spots = rng.choice(np.flatnonzero(kind == SNP), size=len(missing), replace=False)
        kind[spots] = missing
    return kind


def simulate_sites(rng: np.random.Generator, genome: Genome, n: int) -> Sites:
    tid, pos0 = _spread(rng, genome, n, margin=20)
    n = tid.size
    kind = _kinds(rng, n)
    start = genome.offsets[tid] + pos0
    indel_len = np.minimum(rng.geometric(0.45, size=n), 12)
    room = genome.lengths[tid] - pos0 - 2  # END stays on the contig
    svlen = np.where(kind == SYMBOLIC, np.minimum(rng.integers(50, 2_000, size=n), room), 0)
    ref_len = np.where(kind == DEL, indel_len + 1, 1)
    ref = tc.slices(genome.seq, start, ref_len)

    n_alt = np.select([kind == MULTI2, kind == MULTI3], [2, 3], 1)
    # ALT bases differ from REF and from each other: REF + 1..3 (mod 4) in base codes.
    shift = rng.integers(0, 3, size=n)
    codes = (CODE[genome.seq[start]][:, None] + 1 + (shift[:, None] + np.arange(3)) % 3) % 4
    snp_matrix = np.full((n, 5), ord(","), dtype=np.uint8)
    snp_matrix[:, 0::2] = BASES[codes]
    snp_rows = np.flatnonzero(np.isin(kind, [SNP, MULTI2, MULTI3]))
    del_rows = np.flatnonzero(kind == DEL)
    ins_rows = np.flatnonzero(kind == INS)
    sv_rows = np.flatnonzero(kind == SYMBOLIC)
    inserted = tc.Text(
        BASES[rng.integers(0, 4, size=int(indel_len[ins_rows].sum()))], indel_len[ins_rows]
    )
    alt = tc.interleave(
        n,
        [
            (snp_rows, tc.fixed(snp_matrix[snp_rows], 2 * n_alt[snp_rows] - 1)),
            (del_rows, tc.slices(genome.seq, start[del_rows], np.ones(del_rows.size))),
            (ins_rows, tc.concat(tc.slices(genome.seq, start[ins_rows], np.ones(ins_rows.size)),
                                 inserted)),
            (sv_rows, tc.vocab(np.zeros(sv_rows.size), [b"<DEL>"])),
        ],
    )
    # Allele frequencies skewed to rare variants, as in real cohorts; split among ALTs.
    total = np.clip(rng.beta(0.4, 1.6, size=n), 0.002, 0.95)
    weights = rng.random((n, 3)) * (np.arange(3) < n_alt[:, None])
    freq = total[:, None] * weights / weights.sum(axis=1, keepdims=True)
    return Sites(tid, pos0 + 1, kind, n_alt, ref, alt, svlen, freq)


@dataclass
class Genotypes:
    alleles: np.ndarray  # (S, N, 2) int8, -1 missing
    phased: np.ndarray  # (S,) bool
    dp: np.ndarray  # (S, N)
    gq: np.ndarray  # (S, N)
    second: np.ndarray  # (S, N) reads of the second allele; the first has dp - second
    truncated: np.ndarray  # (S, N) bool: missing cells written as "./." alone


def simulate_genotypes(rng: np.random.Generator, freq: np.ndarray, n_alt: np.ndarray,
                       samples: int) -> Genotypes:
    n = freq.shape[0]
    # Allele j+1 when the draw passes 1 - sum(freq) + freq[0] + ... + freq[j-1].
    bounds = 1.0 - freq.sum(axis=1, keepdims=True) + np.cumsum(freq, axis=1) - freq
    draws = rng.random((n, samples, 2))
    alleles = np.zeros(draws.shape, dtype=np.int8)
    for j in range(3):
        alleles += draws >= bounds[:, j, None, None]
    np.minimum(alleles, n_alt[:, None, None].astype(np.int8), out=alleles)
    phased = rng.random(n) < 0.05
    low, high = alleles.min(axis=-1), alleles.max(axis=-1)
    unphased = ~phased[:, None]
    alleles[..., 0] = np.where(unphased, low, alleles[..., 0])
    alleles[..., 1] = np.where(unphased, high, alleles[..., 1])
    missing = rng.random((n, samples)) < 0.02
    alleles[missing] = -1
    # A called site has an ALT in someone: make one genotyped sample 0/1 where nobody has one.
    mono = np.flatnonzero((alleles <= 0).all(axis=(1, 2)) & (~missing).any(axis=1))
    if mono.size:
        carrier = (rng.random((mono.size, samples)) + ~missing[mono]).argmax(axis=1)
        alleles[mono, carrier] = (0, 1)
    dp = np.where(missing, 0, rng.poisson(25, size=(n, samples)))
    gq = np.minimum(99, dp * 3 + rng.integers(-10, 10, size=(n, samples))).clip(0)
    het = alleles[..., 0] != alleles[..., 1]
    second = np.zeros_like(dp)
    second[het] = rng.binomial(dp[het], 0.5)
    truncated = np.zeros_like(missing)
    truncated[missing] = rng.random(int(missing.sum())) < 0.5
    return Genotypes(alleles, phased, dp, gq, second, truncated)


def vcf_lines(prefix: tc.Text, g: Genotypes, n_alt: np.ndarray) -> np.ndarray:
    """Whole lines: each site's columns up to FORMAT, then "\\tGT:DP:GQ:AD" per sample.

    Compiled (kernels.py): a large cohort has 200M cells.
    """
    import kernels  # sibling module; imports numba, so only when samples are asked for

    sites, samples = g.dp.shape
    bound = prefix.data.size + sites * (1 + samples * kernels.CELL_BOUND)
    out = np.empty(bound, dtype=np.uint8)
    size = kernels.vcf_lines(prefix.data, prefix.lengths, g.alleles, g.phased, g.dp, g.gq,
                             g.second, n_alt, g.truncated, out)
    return out[:size]


def _allele_counts(rng: np.random.Generator, sites: Sites, rows: slice,
                   g: Genotypes | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AC (per ALT), AN and total DP: from the genotypes, or a virtual 1000-person cohort."""
    n = sites.pos[rows].size
    if g is not None:
        a = g.alleles.reshape(n, -1)
        an = (a >= 0).sum(axis=1)
        ac = np.stack([(a == j + 1).sum(axis=1) for j in range(3)], axis=1)
        return ac, an, g.dp.sum(axis=1)
    an = 2 * (1000 - rng.binomial(1000, 0.02, size=n))
    ac = rng.binomial(an[:, None], sites.freq[rows])
    return ac, an, rng.poisson(25_000, size=n)


def site_columns(rng: np.random.Generator, genome: Genome, sites: Sites, rows: slice,
                 g: Genotypes | None) -> tc.Text:
    """CHROM to INFO (and FORMAT when there are samples) for the sites in `rows`."""
    n = sites.pos[rows].size
    kind, n_alt = sites.kind[rows], sites.n_alt[rows]
    ac, an, depth = _allele_counts(rng, sites, rows, g)
    af = ac / np.maximum(an, 1)[:, None]
    has_id = rng.random(n) < 0.3
    ids = tc.choose(has_id, tc.concat(b"rs", tc.ints(rng.integers(1, 10**9, size=n))),
                    tc.vocab(np.zeros(n), [b"."]))
    qual = tc.decimals(rng.gamma(2.0, 200.0, size=n), 1, missing=rng.random(n) < 0.01)
    flt = tc.vocab(rng.choice(4, size=n, p=[0.88, 0.07, 0.02, 0.03]),
                   [b"PASS", b"LowQual", b"LowQual;LowDP", b"."])
    present = [None, n_alt > 1, n_alt > 2]
    mq_missing = rng.random(n) < 0.03
    gene = rng.random(n) < 0.3
    sv = kind == SYMBOLIC
    svlen = sites.svlen[rows]
    info = tc.concat(
        b"DP=", tc.ints(depth),
        b";AF=", tc.join([tc.decimals(af[:, j], 4) for j in range(3)], present, b","),
        b";AC=", tc.join([tc.ints(ac[:, j]) for j in range(3)], present, b","),
        b";AN=", tc.ints(an),
        tc.keep(tc.concat(b";MQ=", tc.decimals(np.clip(rng.normal(57, 4, n), 20, 60), 2)),
                ~mq_missing),
        tc.keep(tc.vocab(np.zeros(n), [b";DB"]), has_id),
        tc.keep(tc.concat(b";GENE=G", tc.ints(sites.pos[rows] // 50_000, width=5)), gene),
        tc.keep(tc.concat(b";SVTYPE=DEL;SVLEN=", tc.ints(-svlen), b";END=",
                          tc.ints(sites.pos[rows] + svlen)), sv),
    )
    chrom = tc.vocab(sites.tid[rows], [name.encode() for name in genome.names])
    parts: list[tc.Text | bytes] = [
        chrom, b"\t", tc.ints(sites.pos[rows]), b"\t", ids, b"\t",
        tc.cut(sites.ref, rows.start, rows.stop), b"\t",
        tc.cut(sites.alt, rows.start, rows.stop), b"\t", qual, b"\t", flt, b"\t", info,
    ]
    if g is not None:
        parts.append(b"\tGT:DP:GQ:AD")
    return tc.concat(*parts)


def vcf_header(genome: Genome, samples: list[str], reference: str) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=LowQual,Description="Low quality">',
        '##FILTER=<ID=LowDP,Description="Low depth">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">',
        '##INFO=<ID=MQ,Number=1,Type=Float,Description="RMS mapping quality">',
        '##INFO=<ID=DB,Number=0,Type=Flag,Description="In dbSNP">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Overlapping gene">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Length of structural variant">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        '##ALT=<ID=DEL,Description="Deletion">',
    ]
    contigs = zip(genome.names, genome.lengths, strict=True)
    lines += [f"##contig=<ID={n},length={length}>" for n, length in contigs]
    lines += [f"##reference={reference}", "##source=gfcli-benchmarks-generate"]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if samples:
        columns += ["FORMAT", *samples]
    return "\n".join(lines + ["\t".join(columns)]) + "\n"


def write_population_vcf(rng: np.random.Generator, genome: Genome, path: Path, n_sites: int,
                         n_samples: int, reference: str = "ref.fa") -> int:
    """Sorted VCF.gz (BGZF) with a .tbi; returns the number of records."""
    sites = simulate_sites(rng, genome, n_sites)
    samples = [f"S{i + 1:04d}" for i in range(n_samples)]
    chunk = max(1_000, 2_000_000 // max(n_samples, 1))
    with tc.BgzfWriter(str(path)) as out:
        out.write(vcf_header(genome, samples, reference).encode())
        for begin in range(0, len(sites.pos), chunk):
            rows = slice(begin, min(begin + chunk, len(sites.pos)))
            g = None
            if n_samples:
                g = simulate_genotypes(rng, sites.freq[rows], sites.n_alt[rows], n_samples)
            text = site_columns(rng, genome, sites, rows, g)
            if g is None:
                out.write(tc.concat(text, b"\n").data)
            else:
                out.write(vcf_lines(text, g, sites.n_alt[rows]))
    index_vcf(path)
    return len(sites.pos)


def index_vcf(path: Path, threads: int = 2) -> None:
    htstool("bcftools", "index", "-f", "-t", "--threads", str(threads), str(path))


def vcf_to_bcf(vcf: Path, bcf: Path, threads: int = 2) -> None:
    htstool("bcftools", "view", "--no-version", "--threads", str(threads), "-Ob", "-o", str(bcf),
            str(vcf))
    htstool("bcftools", "index", "-f", str(bcf))


def htstool(tool: str, command: str, *args: str) -> None:
    """Run samtools/bcftools: the system binary if there is one, else pysam's bundled copy."""
    path = shutil.which(tool)
    if path:
        done = subprocess.run([path, command, *args], capture_output=True, errors="replace")
        if done.returncode:
            raise RuntimeError(f"{tool} {command} failed: {done.stderr.strip()}")
        return
    module = importlib.import_module(f"pysam.{tool}")
    getattr(module, command)(*args, catch_stdout=False)


def htstool_version(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        out = subprocess.run([path, "--version"], capture_output=True, errors="replace")
        return out.stdout.splitlines()[0] if out.stdout else path
    import pysam

    return f"{tool} (pysam {pysam.__version__})"


# --- donor and reads --------------------------------------------------------------------


@dataclass
class Planted:
    """Variants of the diploid donor; `hap` is 1 (first haplotype), 2 (second) or 3 (both)."""

    tid: np.ndarray
    pos0: np.ndarray
    ref: list[bytes]
    alt: list[bytes]
    hap: np.ndarray


def plant_variants(rng: np.random.Generator, genome: Genome, snp_rate: float,
                   indel_rate: float) -> Planted:
    total = int(genome.lengths.sum())
    count = max(2, rng.poisson(total * (snp_rate + indel_rate)))
    tid, pos0 = _spread(rng, genome, int(count), margin=300)
    # Keep variants 20 bp apart so that haplotypes are simple to build and to read back.
    spaced = np.ones(tid.size, dtype=bool)
    spaced[1:] = (np.diff(pos0) >= 20) | (np.diff(tid) != 0)
    tid, pos0 = tid[spaced], pos0[spaced]
    n = tid.size
    is_indel = rng.random(n) < indel_rate / (snp_rate + indel_rate)
    is_indel[: min(2, n)] = True  # small genomes still get an insertion and a deletion
    deletion = is_indel & (rng.random(n) < 0.5)
    deletion[0] = True
    deletion[1:2] = False
    length = np.minimum(rng.geometric(0.4, size=n), 8)
    start = genome.offsets[tid] + pos0
    refs, alts = [], []
    extra = BASES[rng.integers(0, 4, size=(n, 8))]
    shift = rng.integers(1, 4, size=n)
    for i in range(n):
        base = genome.seq[start[i] : start[i] + 1].tobytes()
        if not is_indel[i]:
            refs.append(base)
            alts.append(bytes([BASES[(CODE[base[0]] + shift[i]) % 4]]))
        elif deletion[i]:
            refs.append(genome.seq[start[i] : start[i] + length[i] + 1].tobytes())
            alts.append(base)
        else:
            refs.append(base)
            alts.append(base + extra[i, : length[i]].tobytes())
    hap = rng.choice([1, 2, 3], size=n, p=[0.33, 0.33, 0.34])
    return Planted(tid, pos0, refs, alts, hap)


def write_truth_vcf(genome: Genome, planted: Planted, path: Path, sample: str) -> None:
    gt = {1: "1|0", 2: "0|1", 3: "1|1"}
    with tc.BgzfWriter(str(path)) as out:
        out.write(vcf_header(genome, [sample], "ref.fa").encode())
        lines = [
            f"{genome.names[t]}\t{p + 1}\t.\t{r.decode()}\t{a.decode()}\t60\tPASS\t.\tGT\t{gt[h]}\n"
            for t, p, r, a, h in zip(planted.tid.tolist(), planted.pos0.tolist(), planted.ref,
                                     planted.alt, planted.hap.tolist(), strict=True)
        ]
        out.write("".join(lines).encode())
    index_vcf(path)


@dataclass
class Haplotype:
    seq: np.ndarray  # uint8 ASCII, contigs back to back
    to_ref: np.ndarray  # global reference coordinate of each base, -1 for inserted bases
    inserted: np.ndarray  # cumulative count of inserted bases (len(seq) + 1)
    offsets: np.ndarray  # start of each contig
    lengths: np.ndarray


def build_haplotype(genome: Genome, planted: Planted, bit: int) -> Haplotype:
    seq_parts: list[np.ndarray] = []
    map_parts: list[np.ndarray] = []
    offsets, lengths = [], []
    size = 0
    for tid in range(len(genome.names)):
        offsets.append(size)
        base = int(genome.offsets[tid])
        begin = size
        prev = 0
        chosen = np.flatnonzero((planted.tid == tid) & ((planted.hap & bit) != 0))
        for i in chosen.tolist():
            p, ref, alt = int(planted.pos0[i]), planted.ref[i], planted.alt[i]
            seq_parts.append(genome.seq[base + prev : base + p])
            map_parts.append(np.arange(base + prev, base + p))
            seq_parts.append(np.frombuffer(alt, dtype=np.uint8))
            if len(ref) == len(alt):
                map_parts.append(np.array([base + p]))
            else:  # anchor base, then inserted bases (-1); a deletion keeps the anchor only
                map_parts.append(np.array([base + p] + [-1] * (len(alt) - 1)))
            size += p - prev + len(alt)
            prev = p + len(ref)
        end = int(genome.lengths[tid])
        seq_parts.append(genome.seq[base + prev : base + end])
        map_parts.append(np.arange(base + prev, base + end))
        size += end - prev
        lengths.append(size - begin)
    to_ref = np.concatenate(map_parts).astype(np.int64)
    inserted = np.zeros(to_ref.size + 1, dtype=np.int64)
    np.cumsum(to_ref < 0, out=inserted[1:])
    return Haplotype(np.concatenate(seq_parts), to_ref, inserted, np.array(offsets),
                     np.array(lengths))


def _slow_alignment(ref_map: np.ndarray, read: bytes, genome: Genome,
                    aligned: int) -> tuple[int, str, str, int, int]:
    """CIGAR, MD and NM of a read crossing an indel: (ref start, cigar, md, nm, ref span)."""
    known = np.flatnonzero(ref_map[:aligned] >= 0)
    first, last = int(known[0]), int(known[-1])
    ops: list[list] = []
    md: list[str] = []
    nm = run = 0
    prev = -1

    def add(op: str, n: int = 1) -> None:
        if ops and ops[-1][0] == op:
            ops[-1][1] += n
        else:
            ops.append([op, n])

    if first:
        add("S", first)
    for i in range(first, last + 1):
        r = int(ref_map[i])
        if r < 0:
            add("I")
            nm += 1
            continue
        if prev >= 0 and r > prev + 1:
            gap = r - prev - 1
            add("D", gap)
            nm += gap
            md.append(f"{run}^{genome.seq[prev + 1 : r].tobytes().decode()}")
            run = 0
        add("M")
        if read[i] != genome.seq[r]:
            md.append(f"{run}{chr(genome.seq[r])}")
            run = 0
            nm += 1
        else:
            run += 1
        prev = r
    md.append(str(run))
    if last + 1 < len(read):
        add("S", len(read) - last - 1)
    span = prev - int(ref_map[first]) + 1
    cigar = "".join(f"{n}{op}" for op, n in ops)
    return int(ref_map[first]), cigar, "".join(md), nm, span


def _fast_md(reads: np.ndarray, refs: np.ndarray,
             aligned: np.ndarray) -> tuple[tc.Text, np.ndarray]:
    """MD text and NM of gapless reads, vectorised: mismatches within the aligned prefix."""
    mismatch = (reads != refs) & (np.arange(reads.shape[1]) < aligned[:, None])
    rows, cols = np.nonzero(mismatch)
    nm = np.bincount(rows, minlength=reads.shape[0])
    previous = np.full(cols.size, -1, dtype=np.int64)
    if cols.size > 1:
        same = rows[1:] == rows[:-1]
        previous[1:][same] = cols[:-1][same]
    tokens = tc.concat(tc.ints(cols - previous - 1), tc.fixed(refs[rows, cols][:, None]))
    last = np.full(reads.shape[0], -1, dtype=np.int64)
    ends = np.cumsum(nm) - 1
    last[nm > 0] = cols[ends[nm > 0]]
    return tc.concat(tc.group(tokens, nm), tc.ints(aligned - 1 - last)), nm


def at_least_one(rng: np.random.Generator, mask: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """`mask`, with one allowed row switched on if none is: small files (gfcli's examples,
    tests) still hold a duplicate, a secondary, a chimeric read..."""
    if not mask.any() and allowed.any():
        mask = mask.copy()
        mask[rng.choice(np.flatnonzero(allowed))] = True
    return mask


@dataclass
class Records:
    """One SAM record per row; text columns are `tc.Text`."""

    qname: np.ndarray
    flag: np.ndarray
    tid: np.ndarray  # -1 unplaced
    pos: np.ndarray  # 1-based, 0 unplaced
    mapq: np.ndarray
    cigar: tc.Text
    mtid: np.ndarray
    mpos: np.ndarray
    tlen: np.ndarray
    seq: tc.Text
    qual: tc.Text
    tags: tc.Text


def format_sam(genome: Genome, r: Records) -> tc.Text:
    names = [name.encode() for name in genome.names]
    rname = tc.vocab(np.where(r.tid < 0, len(names), r.tid), names + [b"*"])
    rnext_id = np.where(r.mtid < 0, len(names) + 1, np.where(r.mtid == r.tid, len(names),
                                                              r.mtid))
    rnext = tc.vocab(rnext_id, names + [b"=", b"*"])
    return tc.concat(
        b"gf", tc.ints(r.qname, width=9), b"\t", tc.ints(r.flag), b"\t", rname, b"\t",
        tc.ints(r.pos), b"\t", tc.ints(r.mapq), b"\t", r.cigar, b"\t", rnext, b"\t",
        tc.ints(r.mpos), b"\t", tc.ints(r.tlen), b"\t", r.seq, b"\t", r.qual,
        tc.keep(tc.concat(b"\t", r.tags), r.tags.lengths > 0), b"\n",
    )


ERROR_RATE = 10.0 ** (-np.arange(64) / 10.0)  # by Phred score


def quality_pool(rng: np.random.Generator, n: int = 4096) -> np.ndarray:
    """Phred profiles falling along the read, with a share of poor reads. Reads draw rows
    from this pool: normal draws for every base of 4M reads would dominate the run time."""
    cycle = np.arange(READ_LEN)
    mean = 37 - 8 * (cycle / READ_LEN) ** 2
    poor = rng.random(n) < 0.05
    q = mean + rng.normal(0, 3, size=(n, READ_LEN)) - np.where(poor, 15, 0)[:, None]
    return np.clip(np.rint(q), 2, 41).astype(np.uint8)


@dataclass
class PairBatch:
    records: list[Records]
    fastq: tc.Text


class ReadSimulator:
    """Paired 2x150 reads from the donor's two haplotypes, with the usual oddities."""

    def __init__(self, rng: np.random.Generator, genome: Genome, planted: Planted) -> None:
        self.rng = rng
        self.genome = genome
        self.haps = [build_haplotype(genome, planted, 1), build_haplotype(genome, planted, 2)]
        self.names = [name.encode() for name in genome.names]
        self.qualities = quality_pool(rng)

    def batch(self, first_id: int, n: int) -> PairBatch:
        rng, genome = self.rng, self.genome
        tid = rng.choice(len(genome.names), size=n, p=genome.lengths / genome.lengths.sum())
        hap = rng.integers(0, 2, size=n)
        frag = np.clip(rng.normal(350, 60, size=n), 180, 800).astype(np.int64)
        hap_len = np.where(hap == 0, self.haps[0].lengths[tid], self.haps[1].lengths[tid])
        hap_off = np.where(hap == 0, self.haps[0].offsets[tid], self.haps[1].offsets[tid])
        start = hap_off + (rng.random(n) * (hap_len - frag - 1)).astype(np.int64)
        # Duplicates: the same fragment again (same ends), sequenced anew.
        later = np.arange(n) > 0
        dup = at_least_one(rng, (rng.random(n) < 0.04) & later, later)
        source = rng.integers(0, n, size=n)
        for column in (tid, hap, frag, start):
            column[dup] = column[source[dup]]
        left_start, right_start = start, start + frag - READ_LEN
        # A few mates land on another contig (chimeric fragments).
        other = at_least_one(rng, rng.random(n) < 0.01, ~dup) & (len(genome.names) > 1)
        mate_tid = tid.copy()
        if other.any():
            mate_tid[other] = (tid[other] + 1) % len(genome.names)
            h = hap[other]
            lens = np.where(h == 0, self.haps[0].lengths[mate_tid[other]],
                            self.haps[1].lengths[mate_tid[other]])
            offs = np.where(h == 0, self.haps[0].offsets[mate_tid[other]],
                            self.haps[1].offsets[mate_tid[other]])
            right_start[other] = offs + (rng.random(other.sum()) * (lens - READ_LEN)).astype(
                np.int64)
        reads = self._reads(np.concatenate([hap, hap]), np.concatenate([left_start, right_start]))
        return self._records(first_id, n, reads, dup, other)

    def _reads(self, hap: np.ndarray, start: np.ndarray) -> dict:
        """Sequence (reference orientation), reference start and alignment of each read."""
        shape = (start.size, READ_LEN)
        seq = np.empty(shape, dtype=np.uint8)
        ref_map = np.empty(shape, dtype=np.int64)
        fast = np.empty(start.size, dtype=bool)
        for h, hp in enumerate(self.haps):
            rows = hap == h
            # Row gathers from strided windows: a copy per read instead of 150 lookups.
            seq[rows] = sliding_window_view(hp.seq, READ_LEN)[start[rows]]
            ref_map[rows] = sliding_window_view(hp.to_ref, READ_LEN)[start[rows]]
            ins = hp.inserted[start[rows] + READ_LEN] - hp.inserted[start[rows]]
            m0, m1 = ref_map[rows, 0], ref_map[rows, -1]
            fast[rows] = (ins == 0) & (m0 >= 0) & (m1 - m0 == READ_LEN - 1)
        return {"seq": seq, "map": ref_map, "fast": fast}

    def _records(self, first_id: int, n: int, reads: dict, dup: np.ndarray,
                 other: np.ndarray) -> PairBatch:
        rng, genome = self.rng, self.genome
        total = 2 * n
        seq, ref_map, fast = reads["seq"], reads["map"], reads["fast"]
        # Left read of a pair on the forward strand, right read reverse; read 1 is either.
        reverse = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
        left_is_r1 = rng.random(n) < 0.5
        is_r1 = np.concatenate([left_is_r1, ~left_is_r1])
        qual = self.qualities[rng.integers(0, len(self.qualities), size=total)]
        qual[reverse] = qual[reverse, ::-1]  # quality falls along the sequencing direction
        errors = rng.random(qual.shape) < ERROR_RATE[qual]
        er, ec = np.nonzero(errors)  # a sequencing error turns a base into another one
        seq[er, ec] = BASES[(CODE[seq[er, ec]] + rng.integers(1, 4, size=er.size)) % 4]
        # Chimeric reads: last 50 bases from elsewhere, primary 100M50S + supplementary.
        eligible = fast & np.concatenate([~dup, ~dup])
        chimeric = at_least_one(rng, eligible & (rng.random(total) < 0.003), eligible)
        aligned = np.where(chimeric, 100, READ_LEN)
        elsewhere = np.zeros(total, dtype=np.int64)
        if chimeric.any():
            ctid = genome.contig_of(ref_map[chimeric, 0])
            elsewhere[chimeric] = genome.offsets[ctid] + (
                rng.random(chimeric.sum()) * (genome.lengths[ctid] - 60)).astype(np.int64)
            seq[chimeric, 100:] = genome.seq[elsewhere[chimeric][:, None] + np.arange(50)]

        ref_start = ref_map[:, 0].copy()
        span = aligned.copy()
        fast_rows = np.flatnonzero(fast)
        refs = genome.seq[ref_start[fast_rows][:, None] + np.arange(READ_LEN)]
        md_fast, nm_fast = _fast_md(seq[fast_rows], refs, aligned[fast_rows])
        slow_rows = np.flatnonzero(~fast)
        slow_cigar, slow_md = [], []
        nm = np.zeros(total, dtype=np.int64)
        nm[fast_rows] = nm_fast
        for i in slow_rows.tolist():
            s, cig, md, dist, sp = _slow_alignment(ref_map[i], seq[i].tobytes(), genome,
                                                   READ_LEN)
            ref_start[i], span[i], nm[i] = s, sp, dist
            slow_cigar.append(cig)
            slow_md.append(md)
        cigar = tc.interleave(total, [
            (fast_rows, tc.vocab(chimeric[fast_rows].astype(np.int64), [b"150M", b"100M50S"])),
            (slow_rows, tc.strings(slow_cigar)),
        ])
        md = tc.interleave(total, [(fast_rows, md_fast), (slow_rows, tc.strings(slow_md))])
        tid = genome.contig_of(ref_start)
        pos = ref_start - genome.offsets[tid] + 1

        # Mapping oddities, chosen per pair.
        unmapped_pair = at_least_one(rng, rng.random(n) < 0.01, ~other)
        unmapped_which = rng.random(n) < 0.5  # True: the left read is the unmapped one
        unmapped = np.concatenate([unmapped_pair & unmapped_which,
                                   unmapped_pair & ~unmapped_which])
        mate = np.concatenate([np.arange(n, total), np.arange(n)])
        # An unmapped read sits at its mate's place, and reads forward.
        tid = np.where(unmapped, tid[mate], tid)
        pos = np.where(unmapped, pos[mate], pos)
        reverse = reverse & ~unmapped
        mapq = rng.choice([60, 0, 1], size=total, p=[0.86, 0.05, 0.09])
        mapq = np.where(mapq == 1, rng.integers(1, 60, size=total), mapq)
        mapq = np.where(unmapped, 0, mapq)
        qcfail = at_least_one(rng, rng.random(n) < 0.003, ~dup)
        two = np.concatenate
        proper = ~two([other, other]) & ~unmapped & ~unmapped[mate] & (mapq > 0) & (mapq[mate] > 0)
        flag = (1 | np.where(proper, 2, 0) | np.where(unmapped, 4, 0)
                | np.where(unmapped[mate], 8, 0) | np.where(reverse, 16, 0)
                | np.where(reverse[mate], 32, 0) | np.where(is_r1, 64, 128)
                | np.where(two([qcfail, qcfail]), 512, 0) | np.where(two([dup, dup]), 1024, 0))
        end = pos + span - 1
        same = (tid == tid[mate]) & ~unmapped & ~unmapped[mate]
        outer = np.maximum(end, end[mate]) - np.minimum(pos, pos[mate]) + 1
        leftmost = (pos < pos[mate]) | ((pos == pos[mate]) & is_r1)
        tlen = np.where(same, np.where(leftmost, outer, -outer), 0)
        qname = first_id + np.concatenate([np.arange(n), np.arange(n)])
        rg = tc.vocab(np.tile(rng.integers(0, 2, size=n), 2), [b"RG:Z:rg1", b"RG:Z:rg2"])
        sa = tc.concat(b"\tSA:Z:", tc.vocab(genome.contig_of(elsewhere), self.names), b",",
                       tc.ints(elsewhere - genome.offsets[genome.contig_of(elsewhere)] + 1),
                       b",+,100S50M,60,0;")
        mapped_tags = tc.concat(b"NM:i:", tc.ints(nm), b"\tMD:Z:", md, b"\tAS:i:",
                                tc.ints(np.maximum(0, span - 5 * nm)), tc.keep(sa, chimeric),
                                b"\t")
        tags = tc.concat(tc.keep(mapped_tags, ~unmapped), rg)
        seq_text = tc.fixed(seq)
        qual_text = tc.fixed(qual + 33)
        primary = Records(qname, flag, tid, pos, mapq,
                          tc.choose(unmapped, tc.vocab(np.zeros(total), [b"*"]), cigar),
                          tid[mate], pos[mate], tlen, seq_text, qual_text, tags)
        records = [primary, self._secondary(primary, rg), self._supplementary(
            primary, chimeric, elsewhere, seq, qual, nm)]
        fastq = self._fastq(primary, seq, qual, reverse, is_r1, n)
        return PairBatch(records, fastq)

    def _secondary(self, p: Records, rg: tc.Text) -> Records:
        """Extra alignments of a few reads elsewhere on their contig: MAPQ 0, no SEQ."""
        rng, genome = self.rng, self.genome
        mapped = (p.flag & 4) == 0
        rows = np.flatnonzero(at_least_one(rng, mapped & (rng.random(p.flag.size) < 0.005),
                                           mapped))
        k = rows.size
        tid = p.tid[rows]
        pos = 1 + (rng.random(k) * (genome.lengths[tid] - READ_LEN)).astype(np.int64)
        star = tc.vocab(np.zeros(k), [b"*"])
        tags = tc.concat(b"AS:i:", tc.ints(rng.integers(100, 150, size=k)), b"\t",
                         tc.take(rg, rows))
        return Records(p.qname[rows], (p.flag[rows] & ~2) | 256, tid, pos, np.zeros(k, np.int64),
                       tc.vocab(np.zeros(k), [b"150M"]), p.mtid[rows], p.mpos[rows],
                       np.zeros(k, np.int64), star, star, tags)

    def _supplementary(self, p: Records, chimeric: np.ndarray, elsewhere: np.ndarray,
                       seq: np.ndarray, qual: np.ndarray, nm: np.ndarray) -> Records:
        genome = self.genome
        rows = np.flatnonzero(chimeric & ((p.flag & 4) == 0))
        k = rows.size
        tid = genome.contig_of(elsewhere[rows])
        strand = np.where((p.flag[rows] & 16) != 0, 1, 0)
        sa = tc.concat(b"SA:Z:", tc.vocab(p.tid[rows], self.names), b",", tc.ints(p.pos[rows]),
                       b",", tc.vocab(strand, [b"+", b"-"]), b",100M50S,",
                       tc.ints(p.mapq[rows]), b",", tc.ints(nm[rows]), b";")
        tags = tc.concat(b"NM:i:0\tMD:Z:50\tAS:i:50\t", sa, b"\tRG:Z:rg1")
        keep_bits = 1 | 8 | 32 | 64 | 128 | 512 | 1024
        return Records(p.qname[rows], (p.flag[rows] & keep_bits) | 2048, tid,
                       elsewhere[rows] - genome.offsets[tid] + 1, np.full(k, 60),
                       tc.vocab(np.zeros(k), [b"100H50M"]), p.mtid[rows], p.mpos[rows],
                       np.zeros(k, np.int64), tc.fixed(seq[rows, 100:]),
                       tc.fixed(qual[rows, 100:] + 33), tags)

    def _fastq(self, p: Records, seq: np.ndarray, qual: np.ndarray, reverse: np.ndarray,
               is_r1: np.ndarray, n: int) -> tc.Text:
        """Primary reads as the sequencer gave them: reverse reads complemented back."""
        order = np.argsort(p.qname * 2 + np.where(is_r1, 0, 1), kind="stable")
        s, q = seq[order], qual[order]
        back = reverse[order]
        s[back] = COMPLEMENT[s[back, ::-1]]
        q[back] = q[back, ::-1]
        return tc.concat(b"@gf", tc.ints(p.qname[order], width=9),
                         tc.vocab(np.where(is_r1[order], 0, 1), [b"/1", b"/2"]), b"\n",
                         tc.fixed(s), b"\n+\n", tc.fixed(q + 33), b"\n")

    def unplaced(self, first_id: int, n: int) -> PairBatch:
        """Pairs with neither read mapped: at the end of the BAM, RNAME '*'."""
        rng = self.rng
        seq = BASES[rng.integers(0, 4, size=(2 * n, READ_LEN))]
        qual = self.qualities[rng.integers(0, len(self.qualities), size=2 * n)]
        is_r1 = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        qname = first_id + np.concatenate([np.arange(n), np.arange(n)])
        none = np.full(2 * n, -1)
        zero = np.zeros(2 * n, np.int64)
        rec = Records(qname, np.where(is_r1, 77, 141), none, zero, zero,
                      tc.vocab(zero, [b"*"]), none, zero, zero, tc.fixed(seq),
                      tc.fixed(qual + 33), tc.vocab(zero, [b"RG:Z:rg1"]))
        fastq = self._fastq(rec, seq, qual, np.zeros(2 * n, bool), is_r1, n)
        return PairBatch([rec], fastq)


def sam_header(genome: Genome) -> str:
    lines = ["@HD\tVN:1.6\tSO:unsorted"]
    contigs = zip(genome.names, genome.lengths, strict=True)
    lines += [f"@SQ\tSN:{n}\tLN:{length}" for n, length in contigs]
    lines += [
        "@RG\tID:rg1\tSM:SAMPLE1\tLB:lib1\tPL:ILLUMINA\tPU:FC1.1",
        "@RG\tID:rg2\tSM:SAMPLE1\tLB:lib2\tPL:ILLUMINA\tPU:FC1.2",
        "@PG\tID:gfcli-generate\tPN:gfcli-generate\tVN:1",
    ]
    return "\n".join(lines) + "\n"


def write_reads(rng: np.random.Generator, genome: Genome, planted: Planted, bam: Path,
                fastq: Path | None, coverage: float, fastq_limit: int | None = None,
                batch_pairs: int = 50_000, threads: int = 2) -> dict[str, int]:
    """Sorted, indexed BAM (and FASTQ.gz) of reads at `coverage`; returns counts."""
    pairs = max(4, int(round(coverage * int(genome.lengths.sum()) / (2 * READ_LEN))))
    unplaced = max(2, pairs // 200)
    sim = ReadSimulator(rng, genome, planted)
    unsorted = bam.with_name(bam.name + ".unsorted.sam.gz")
    counts = {"pairs": pairs + unplaced, "records": 0, "fastq_reads": 0}
    fq = tc.BgzfWriter(str(fastq)) if fastq else None
    limit = fastq_limit if fastq_limit is not None else 2 * (pairs + unplaced)

    def batches() -> Iterator[PairBatch]:
        for begin in range(0, pairs, batch_pairs):
            yield sim.batch(begin, min(batch_pairs, pairs - begin))
        yield sim.unplaced(pairs, unplaced)

    try:
        with tc.BgzfWriter(str(unsorted), level=1) as sam:
            sam.write(sam_header(genome).encode())
            for batch in batches():
                for rec in batch.records:
                    counts["records"] += rec.qname.size
                    sam.write(format_sam(genome, rec).data)
                if fq is not None and counts["fastq_reads"] < limit:
                    take = min(len(batch.fastq), limit - counts["fastq_reads"])
                    fq.write(tc.cut(batch.fastq, 0, take).data)
                    counts["fastq_reads"] += take
        htstool("samtools", "sort", "--no-PG", "-@", str(threads), "-m", "512M", "-o", str(bam),
                str(unsorted))
        htstool("samtools", "index", "-@", str(threads), str(bam))
    finally:
        if fq is not None:
            fq.close()
        if unsorted.exists():
            unsorted.unlink()
    return counts


# --- driver -----------------------------------------------------------------------------


def _step(label: str, action: Callable[[], object], log: bool) -> object:
    began = time.perf_counter()
    result = action()
    if log:
        print(f"  {label}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return result


def generate(params: Params, out: Path, log: bool = True) -> dict:
    """Write every requested part into `out`; return the manifest (also saved there)."""
    out.mkdir(parents=True, exist_ok=True)
    # One generator per part, so asking for a subset of parts gives the same bytes.
    seeds = np.random.SeedSequence(params.seed).spawn(6)
    genome = make_genome(np.random.default_rng(seeds[0]), params.contigs)
    files: dict[str, str] = {}
    counts: dict[str, int] = {}
    if "ref" in params.parts or "bam" in params.parts:
        _step("ref.fa", lambda: write_fasta(genome, out / "ref.fa"), log)
        files["ref"] = "ref.fa"
    for part, seed, n_sites, n_samples in (
        ("sites", seeds[1], params.sites, 0),
        ("cohort", seeds[2], params.cohort_sites, params.samples),
    ):
        if part not in params.parts or n_sites <= 0:
            continue
        vcf, bcf = out / f"{part}.vcf.gz", out / f"{part}.bcf"
        counts[part] = _step(f"{vcf.name}", lambda s=seed, v=vcf, k=n_sites, m=n_samples:
                             write_population_vcf(np.random.default_rng(s), genome, v, k, m), log)
        _step(bcf.name, lambda v=vcf, b=bcf: vcf_to_bcf(v, b), log)
        files[part + "_vcf"], files[part + "_bcf"] = vcf.name, bcf.name
    if "bam" in params.parts:
        planted = plant_variants(np.random.default_rng(seeds[3]), genome, params.snp_rate,
                                 params.indel_rate)
        write_truth_vcf(genome, planted, out / "truth.vcf.gz", "SAMPLE1")
        fastq = out / "reads.fastq.gz" if "fastq" in params.parts else None
        reads = _step("reads.bam", lambda: write_reads(
            np.random.default_rng(seeds[4]), genome, planted, out / "reads.bam", fastq,
            params.coverage, params.fastq_reads), log)
        counts.update({f"bam_{k}": v for k, v in reads.items()})
        counts["truth"] = len(planted.pos0)
        files.update(bam="reads.bam", truth="truth.vcf.gz")
        if fastq:
            files["fastq"] = fastq.name
    manifest = {
        "generator": GENERATOR_VERSION,
        "params": asdict(params),
        "tools": {tool: htstool_version(tool) for tool in ("samtools", "bcftools")},
        "files": files,
        "counts": counts,
        "regions": query_regions(genome),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def query_regions(genome: Genome) -> dict[str, str]:
    """Small regions for index-query latency: 10 kb and 1 kb in the middle of the first contig."""
    name, mid = genome.names[0], int(genome.lengths[0]) // 2
    return {"small": f"{name}:{mid + 1}-{mid + 10_000}", "tiny": f"{name}:{mid + 1}-{mid + 1_000}"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="small")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data",
                        help="parent directory; files go to OUT/PROFILE (default %(default)s)")
    parser.add_argument("--exact-dir", action="store_true",
                        help="write into OUT itself rather than OUT/PROFILE")
    parser.add_argument("--parts", help="comma-separated subset of ref,sites,cohort,bam,fastq")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--contigs", type=int, help="number of contigs")
    parser.add_argument("--contig-length", type=int)
    parser.add_argument("--sites", type=int, help="records of the sites-only VCF")
    parser.add_argument("--cohort-sites", type=int, help="records of the multi-sample VCF")
    parser.add_argument("--samples", type=int, help="samples of the multi-sample VCF")
    parser.add_argument("--coverage", type=float, help="read depth of the BAM")
    parser.add_argument("--fastq-reads", type=int, help="reads in the FASTQ (default all)")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if OUT already holds data of these parameters")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser.parse_args(argv)


def params_from_args(args: argparse.Namespace) -> Params:
    base = PROFILES[args.profile]
    params = Params(**{**asdict(base), "contigs": list(base.contigs)})
    if args.contigs or args.contig_length:
        count = args.contigs or len(base.contigs)
        params.contigs = _contigs(count, args.contig_length or base.contigs[0][1])
    for name in ("seed", "sites", "cohort_sites", "samples", "coverage", "fastq_reads"):
        value = getattr(args, name)
        if value is not None:
            setattr(params, name, value)
    if args.parts:
        params.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    return params


def up_to_date(out: Path, params: Params) -> bool:
    """True when OUT has a manifest of the same parameters and all its files."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    same = (manifest.get("params") == json.loads(json.dumps(asdict(params)))
            and manifest.get("generator") == GENERATOR_VERSION)
    return same and all((out / name).exists() for name in manifest.get("files", {}).values())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = params_from_args(args)
    out = args.out if args.exact_dir else args.out / args.profile
    if not args.force and up_to_date(out, params):
        if not args.quiet:
            print(f"{out}: up to date (use --force to regenerate)", file=sys.stderr)
        return 0
    began = time.perf_counter()
    if not args.quiet:
        print(f"generating '{args.profile}' data into {out}", file=sys.stderr)
    generate(params, out, log=not args.quiet)
    if not args.quiet:
        print(f"done in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
