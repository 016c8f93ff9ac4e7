"""Benchmark `gfcli flagstat` against `samtools flagstat` on a generated paired-end BAM.

    python benchmarks/bench_flagstat.py [--pairs 2000000] [--dir /tmp/gfcli-bench] [--repeat 3]

The BAM is made once (2x150 paired reads sampled from a random genome of ~20 Mb,
coordinate sorted, with duplicates, unmapped mates, mates on other chromosomes,
secondary/supplementary and QC-failed reads) and reused by later runs. Each tool
runs `--repeat` times at `-@ 1` and `-@ 2`; the best wall time and the peak RSS
(from wait4's ru_maxrss of the process tree) are reported, with gfcli/samtools ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

READ_LEN = 150
CONTIGS = (("chr1", 10_000_000), ("chr2", 6_000_000), ("chr3", 4_000_000))


def generate_bam(path: str, pairs: int, seed: int = 7) -> None:
    """Write a coordinate-sorted paired-end BAM of `2 * pairs` reads to `path`."""
    import numpy as np
    import pysam

    rng = np.random.default_rng(seed)
    lengths = np.array([length for _, length in CONTIGS])
    genome = rng.integers(0, 4, size=int(lengths.sum()), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)

    n = pairs
    tid = rng.choice(len(CONTIGS), size=n, p=lengths / lengths.sum())
    insert = np.clip(rng.normal(350, 50, size=n).astype(np.int64), READ_LEN, 1000)
    start = (rng.random(n) * (lengths[tid] - insert - 1)).astype(np.int64)
    mate_start = start + insert - READ_LEN
    # Mate features: a small share on another chromosome, unmapped, duplicate, QC-failed.
    other_chrom = rng.random(n) < 0.01
    mate_tid = np.where(other_chrom, (tid + 1) % len(CONTIGS), tid)
    mate_start = np.where(other_chrom, (rng.random(n) * 1_000_000).astype(np.int64), mate_start)
    unmapped2 = rng.random(n) < 0.01
    dup = rng.random(n) < 0.05
    qcfail = rng.random(n) < 0.002
    mapq = np.where(rng.random(n) < 0.05, rng.integers(0, 5, size=n), 60)
    reverse1 = rng.random(n) < 0.5

    # Reads: r1 then r2 for every pair, sorted later by (tid, pos).
    r_tid = np.concatenate([tid, np.where(unmapped2, tid, mate_tid)])
    r_pos = np.concatenate([start, np.where(unmapped2, start, mate_start)])
    m_tid = np.concatenate([np.where(unmapped2, tid, mate_tid), tid])
    m_pos = np.concatenate([np.where(unmapped2, start, mate_start), start])
    is_r1 = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    unm = np.concatenate([np.zeros(n, bool), unmapped2])
    mate_unm = np.concatenate([unmapped2, np.zeros(n, bool)])
    rev = np.concatenate([reverse1, ~reverse1])
    flag = (
        1
        + np.where(~unm & ~mate_unm & ~np.concatenate([other_chrom, other_chrom]), 2, 0)
        + np.where(unm, 4, 0)
        + np.where(mate_unm, 8, 0)
        + np.where(rev & ~unm, 16, 0)
        + np.where(np.concatenate([~reverse1, reverse1]) & ~mate_unm, 32, 0)
        + np.where(is_r1, 64, 128)
        + np.where(np.concatenate([qcfail, qcfail]), 512, 0)
        + np.where(np.concatenate([dup, dup]), 1024, 0)
    )
    r_mapq = np.where(unm, 0, np.concatenate([mapq, mapq]))
    tlen = np.where(
        unm | mate_unm | np.concatenate([other_chrom, other_chrom]),
        0,
        np.concatenate([insert, -insert]),
    )
    order = np.lexsort((r_pos, r_tid))
    total = 2 * n
    # 0.5% extra supplementary records are added as copies with flag 2048.
    supp = rng.random(total) < 0.005

    seq_starts = offsets[r_tid] + r_pos
    idx = seq_starts[:, None] + np.arange(READ_LEN)
    seqs = bases[genome[idx]]
    errors = rng.random(seqs.shape) < 0.005
    seqs[errors] = bases[rng.integers(0, 4, size=int(errors.sum()))]
    qual_alphabet = np.frombuffer(b"F:,#", dtype=np.uint8)
    quals = qual_alphabet[
        rng.choice(4, size=seqs.shape, p=[0.93, 0.05, 0.015, 0.005]).astype(np.uint8)
    ]
    nm = errors.sum(axis=1)
    names = [f"SIM:1:FCX:1:{1101 + (i % 60)}:{i // 60 % 30000}:{i}" for i in range(n)]

    header = "@HD\tVN:1.6\tSO:coordinate\n" + "".join(
        f"@SQ\tSN:{name}\tLN:{length}\n" for name, length in CONTIGS
    ) + "@RG\tID:grp1\tSM:sample1\n"
    contig_names = [name for name, _ in CONTIGS]
    sam_path = path + ".tmp.sam"
    with open(sam_path, "w") as out:
        out.write(header)
        for i in order.tolist():
            pair = i % n
            f = int(flag[i])
            rname = contig_names[r_tid[i]]
            mname = "=" if m_tid[i] == r_tid[i] else contig_names[m_tid[i]]
            cigar = "*" if f & 4 else f"{READ_LEN}M"
            line = (
                f"{names[pair]}\t{f}\t{rname}\t{r_pos[i] + 1}\t{r_mapq[i]}\t{cigar}\t{mname}\t"
                f"{m_pos[i] + 1}\t{tlen[i]}\t{seqs[i].tobytes().decode()}\t"
                f"{quals[i].tobytes().decode()}\tNM:i:{nm[i]}\tAS:i:{150 - 5 * nm[i]}\tRG:Z:grp1\n"
            )
            out.write(line)
            if supp[i] and not f & 4:
                fields = line.split("\t")
                fields[1] = str(f | 2048)
                out.write("\t".join(fields))
    pysam.samtools.view("-b", "-@", "2", "-o", path, sam_path, catch_stdout=False)
    os.unlink(sam_path)


def _run(argv: list[str]) -> tuple[float, int, bytes]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.decode(errors='replace')}")
    rss = usage.ru_maxrss if usage else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, rss, out


def _measure(argv: list[str], repeat: int) -> tuple[float, int, bytes]:
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far, so each
    # measurement runs in its own helper process to get its own peak.
    best = float("inf")
    peak = 0
    output = b""
    for _ in range(repeat):
        code = (
            "import os, resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
            "dt = time.perf_counter() - t\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "sys.stderr.write(f'{dt} {rss} {p.returncode}\\n')\n"
            "sys.stdout.buffer.write(p.stdout)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, check=True
        )
        dt, rss, rc = proc.stderr.decode().strip().splitlines()[-1].split()
        if rc != "0":
            raise SystemExit(f"{' '.join(argv)} exited {rc}")
        best = min(best, float(dt))
        peak = max(peak, int(rss))
        output = proc.stdout
    return best, peak, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                      "gfcli-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samtools", default=shutil.which("samtools") or "samtools")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    bam = os.path.join(args.dir, f"flagstat_{args.pairs}.bam")
    if not os.path.exists(bam):
        t = time.perf_counter()
        generate_bam(bam, args.pairs)
        print(f"generated {bam} ({os.path.getsize(bam) / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    gfcli = [sys.executable, "-m", "gfcli"]
    # Warm the page cache and gfcli's kernel cache before timing.
    subprocess.run([*gfcli, "flagstat", bam], capture_output=True, check=True)
    subprocess.run([args.samtools, "flagstat", bam], capture_output=True, check=True)

    print(f"{'task':<22}{'gfcli s':>9}{'samtools s':>12}{'ratio':>7}"
          f"{'gfcli MB':>10}{'samtools MB':>13}")
    for threads in (1, 2):
        g_time, g_rss, g_out = _measure([*gfcli, "flagstat", "-@", str(threads), bam],
                                        args.repeat)
        s_time, s_rss, s_out = _measure([args.samtools, "flagstat", "-@", str(threads), bam],
                                        args.repeat)
        same = "" if g_out == s_out else "  (OUTPUT DIFFERS)"
        print(f"{'flagstat -@' + str(threads):<22}{g_time:>9.2f}{s_time:>12.2f}"
              f"{g_time / s_time:>7.2f}{g_rss / 1024:>10.0f}{s_rss / 1024:>13.0f}{same}")


if __name__ == "__main__":
    main()
