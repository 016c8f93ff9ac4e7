"""Deterministic VCF generator for the variant differential tests.

The records are chosen to hit what bcftools normalises or treats specially: multi-allelic
sites, symbolic alleles (<DEL> with END, <*>), long deletions that overlap later positions,
missing values, Number=A/R/G fields, flags, haploid and phased genotypes, and non-canonical
text (QUAL `30.00`, which htslib prints as `30`).
"""

from __future__ import annotations

import os
import random

import pysam

CONTIGS = (("chr1", 1_000_000), ("chr2", 500_000), ("chr3", 200_000))

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=q10,Description="Quality below 10">
##FILTER=<ID=lowDP,Description="Low depth">
{contigs}##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP membership">
##INFO=<ID=NOTE,Number=.,Type=String,Description="Free text">
##INFO=<ID=END,Number=1,Type=Integer,Description="End position">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">
##INFO=<ID=RC,Number=R,Type=Integer,Description="Read counts per allele">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=XQ,Number=1,Type=Float,Description="Genotype quality">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred likelihoods">
##FORMAT=<ID=FT,Number=1,Type=String,Description="Sample filter">
"""

BASES = "ACGT"


def sample_names(n: int) -> list[str]:
    return [f"S{i + 1}" for i in range(n)]


def _genotype(rng: random.Random, n_alt: int) -> tuple[str, list[int]]:
    """A genotype string and the allele indexes it calls."""
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(["./.", ".", ".|."]), []
    if roll < 0.13:
        allele = rng.randint(0, n_alt)
        return str(allele), [allele]  # haploid
    a, b = rng.randint(0, n_alt), rng.randint(0, n_alt)
    if rng.random() < 0.05:
        return f"{a}/.", [a]
    sep = "|" if rng.random() < 0.3 else "/"
    return f"{a}{sep}{b}", [a, b]


def _format_float(rng: random.Random, value: float) -> str:
    # Non-canonical spellings that bcftools rewrites.
    return rng.choice([f"{value:.2f}", f"{value:g}", f"{value:.1f}"])


def _record(rng: random.Random, chrom: str, pos: int, n_samples: int, info_tags: bool) -> str:
    kind = rng.random()
    ref = rng.choice(BASES)
    info: list[str] = []
    if kind < 0.55:
        alts = [b for b in BASES if b != ref]
        rng.shuffle(alts)
        alts = alts[: rng.choice([1, 1, 1, 2, 3])]
    elif kind < 0.75:
        # Deletion (sometimes long enough to overlap the next records) or insertion.
        if rng.random() < 0.5:
            length = rng.choice([1, 2, 5, 40, 300])
            ref = ref + "".join(rng.choice(BASES) for _ in range(length))
            alts = [ref[0]]
        else:
            alts = [ref + "".join(rng.choice(BASES) for _ in range(rng.randint(1, 6)))]
            if rng.random() < 0.3:
                alts.append(rng.choice([b for b in BASES if b != ref]))
    elif kind < 0.85:
        end = pos + rng.choice([50, 500, 2000])
        alts = ["<DEL>"]
        info += [f"END={end}", "SVTYPE=DEL"]
    elif kind < 0.93:
        alts = [rng.choice([b for b in BASES if b != ref]), "<*>"]
    else:
        alts = ["."]  # reference-only site
    n_alt = 0 if alts == ["."] else len(alts)
    qual = rng.random()
    if qual < 0.1:
        qual_text = "."
    else:
        qual_text = _format_float(rng, rng.uniform(1, 999))
    filt = rng.choice(["PASS", "PASS", ".", "q10", "q10;lowDP"])
    if info_tags:
        if rng.random() < 0.9:
            info.insert(0, f"DP={rng.randint(0, 5000)}")
        if n_alt and rng.random() < 0.8:
            info.append("AF=" + ",".join(_format_float(rng, rng.random()) for _ in range(n_alt)))
        if n_alt and rng.random() < 0.6:
            counts = [rng.randint(0, 50) for _ in range(n_alt)]
            info.append("AC=" + ",".join(map(str, counts)))
            info.append(f"AN={sum(counts) + rng.randint(0, 50)}")
        if rng.random() < 0.2:
            info.append("DB")
        if rng.random() < 0.2:
            info.append("NOTE=" + ",".join(rng.choice(["a", "b%3B", "x y"]) for _ in range(2)))
        if rng.random() < 0.5:
            info.append("RC=" + ",".join(str(rng.randint(0, 99)) for _ in range(n_alt + 1)))
    vid = rng.choice([".", ".", f"rs{rng.randint(1, 10**7)}", f"rs{pos};id{pos}"])
    fields = [chrom, str(pos), vid, ref, ",".join(alts), qual_text, filt, ";".join(info) or "."]
    if n_samples:
        n_all = n_alt + 1
        n_gen = n_all * (n_all + 1) // 2
        layout = rng.choice(["GT:DP:XQ:AD:PL", "GT:DP:XQ:AD:PL", "GT:AD", "GT", "DP:GT:FT"])
        fields.append(layout)
        for _ in range(n_samples):
            gt, _called = _genotype(rng, n_alt)
            values = []
            for key in layout.split(":"):
                if key == "GT":
                    values.append(gt)
                elif key == "DP":
                    values.append("." if rng.random() < 0.1 else str(rng.randint(0, 400)))
                elif key == "XQ":
                    quality = _format_float(rng, rng.uniform(0, 99))
                    values.append("." if rng.random() < 0.1 else quality)
                elif key == "AD":
                    values.append(",".join(str(rng.randint(0, 300)) for _ in range(n_all)))
                elif key == "PL":
                    if rng.random() < 0.1:
                        values.append(".")
                    else:
                        values.append(",".join(str(rng.randint(0, 70000)) for _ in range(n_gen)))
                elif key == "FT":
                    values.append(rng.choice(["PASS", ".", "lowGQ"]))
            # Trailing missing fields may be dropped in VCF; do so sometimes.
            while len(values) > 1 and values[-1] == "." and rng.random() < 0.5:
                values.pop()
            fields.append(":".join(values))
    return "\t".join(fields)


def vcf_text(
    n_records: int = 200,
    n_samples: int = 4,
    seed: int = 1,
    *,
    contigs: tuple[tuple[str, int], ...] = CONTIGS,
    info_tags: bool = True,
) -> str:
    rng = random.Random(seed)
    contig_lines = "".join(f"##contig=<ID={name},length={length}>\n" for name, length in contigs)
    lines = [HEADER.format(contigs=contig_lines).rstrip("\n")]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if n_samples:
        columns += ["FORMAT", *sample_names(n_samples)]
    lines.append("\t".join(columns))
    per_contig = max(1, n_records // len(contigs))
    written = 0
    for index, (name, length) in enumerate(contigs):
        count = per_contig if index < len(contigs) - 1 else n_records - written
        if count <= 0:
            continue
        positions = sorted(rng.sample(range(1, length - 3000), count))
        # A few records share a position, as multi-record sites do.
        for i in range(1, len(positions)):
            if rng.random() < 0.03:
                positions[i] = positions[i - 1]
        positions.sort()
        for pos in positions:
            lines.append(_record(rng, name, pos, n_samples, info_tags))
        written += count
    return "\n".join(lines) + "\n"


def write_vcf(path: str, text: str) -> str:
    with open(path, "w") as handle:
        handle.write(text)
    return path


def bgzip_and_index(vcf_path: str, *, csi: bool = False) -> str:
    """VCF -> VCF.gz (BGZF) with a .tbi (or .csi) index; returns the .gz path."""
    out = vcf_path + ".gz"
    pysam.tabix_compress(vcf_path, out, force=True)
    pysam.tabix_index(out, preset="vcf", force=True, csi=csi)
    return out


def to_bcf(vcf_path: str, out: str, *, index: bool = True) -> str:
    from pysam import bcftools

    bcftools.view("--no-version", "-Ob", "-o", out, vcf_path, catch_stdout=False)
    if index:
        bcftools.index("-f", out, catch_stdout=False)
    return out


def make_set(directory: str, name: str, **kwargs) -> dict[str, str]:
    """Plain VCF, indexed VCF.gz, indexed BCF and unindexed copies of the same records."""
    text = vcf_text(**kwargs)
    plain = write_vcf(os.path.join(directory, f"{name}.vcf"), text)
    gz = bgzip_and_index(plain)
    bcf = to_bcf(plain, os.path.join(directory, f"{name}.bcf"))
    noidx_gz = os.path.join(directory, f"{name}.noidx.vcf.gz")
    pysam.tabix_compress(plain, noidx_gz, force=True)
    noidx_bcf = to_bcf(plain, os.path.join(directory, f"{name}.noidx.bcf"), index=False)
    return {"vcf": plain, "gz": gz, "bcf": bcf, "noidx_gz": noidx_gz, "noidx_bcf": noidx_bcf}
