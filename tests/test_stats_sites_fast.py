"""gfcli stats on sites of BGZF VCF text (the vsites kernel, no vcf_parse) against
bcftools stats 1.24 (pysam's).

The generated records hit what the kernel reads itself: multi-allelic sites, missing QUAL,
FILTER and INFO, INFO without DP/AC/AN, missing AC/AN/DP values in vectors htslib encodes
as int8, int16 and int32, value-less and repeated keys, undefined INFO keys and FILTER
names, symbolic alleles (the ring of stale ALT lengths), breakends, '*', N, lowercase,
very long alleles, QUAL decimals near bin edges. `GFCLI_STATS_SITES_TEXT=require` makes a
chunk the kernel would hand to htslib an error, so those runs prove the kernel counted
every line. Lines it must not take (CRLF, exponent QUAL, unknown contig, non-integer DP)
are compared in the default mode, where their chunks go to htslib.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

pysam = pytest.importorskip("pysam")

CONTIGS = (("chr1", 5_000_000), ("chr2", 3_000_000), ("chrX", 2_000_000))

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=q10,Description="Quality below 10">
{contigs}##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""

SYMBOLIC = ("<DEL>", "<INS>", "<DUP:TANDEM>", "<*>", "<NON_REF>", "<X>", "<CNV>")


def _header(extra_columns: str = "") -> str:
    contigs = "".join(f"##contig=<ID={c},length={n}>\n" for c, n in CONTIGS)
    text = HEADER.format(contigs=contigs)
    if extra_columns:
        text = text.replace("##INFO=<ID=DP,", '##FORMAT=<ID=GT,Number=1,Type=String,'
                            'Description="Genotype">\n##INFO=<ID=DP,')
        text = text.rstrip("\n") + extra_columns + "\n"
    return text


def _seq(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _alleles(rng: random.Random, ref_base: str) -> tuple[str, str]:
    kind = rng.random()
    if kind < 0.45:
        return ref_base, rng.choice([b for b in "ACGT" if b != ref_base])
    if kind < 0.55:
        n = rng.randint(2, 4)
        alts = rng.sample([b for b in "ACGT" if b != ref_base], k=min(n, 3))
        return ref_base, ",".join(alts)
    if kind < 0.63:
        return ref_base + _seq(rng, rng.randint(1, 70)), ref_base  # deletion (>60 too)
    if kind < 0.70:
        return ref_base, ref_base + _seq(rng, rng.randint(1, 70))  # insertion
    if kind < 0.74:
        return ref_base + _seq(rng, 2), rng.choice(["T", "GC", ref_base + "A", "TTTT"])
    if kind < 0.79:
        sym = ",".join(rng.sample(SYMBOLIC, k=rng.randint(1, 2)))
        return ref_base, sym if rng.random() < 0.7 else f"{ref_base}A,{sym}"
    if kind < 0.82:
        return ref_base, rng.choice([f"{ref_base}]chr2:1234]", f"]chr1:99]{ref_base}",
                                     f".{ref_base}", f"{ref_base}.", f"{ref_base}[chrX:5["])
    if kind < 0.85:
        return ref_base, f"{rng.choice('ACGT')},*"
    if kind < 0.88:
        return ref_base.lower(), rng.choice(["a", "c", "g", "t", "ac", "N"])
    if kind < 0.90:
        return "N", rng.choice(["A", "NN", "<DEL>"])
    if kind < 0.92:
        return ref_base, "."
    if kind < 0.94:
        return ref_base + _seq(rng, 900), ref_base + _seq(rng, 3)  # very long REF
    if kind < 0.96:
        return _seq(rng, 3), _seq(rng, 3)  # MNP or other
    return ref_base, ref_base  # ALT = REF


def _qual(rng: random.Random, plain: bool) -> str:
    roll = rng.random()
    if roll < 0.1:
        return "."
    if roll < 0.2:
        return str(rng.randint(0, 200))
    if roll < 0.5:  # one or two decimals: many land next to a 0.1-wide bin edge
        return f"{rng.randint(0, 99)}.{rng.randint(0, 99):0{rng.randint(1, 2)}d}"
    if roll < 0.55:
        big = [] if plain else ["9999.9", "10000", "10000.04", "54321.5", "99999.8"]
        return rng.choice(["0", "0.0", "00.5", "-1", "-0.5", "0.05", "0.100000000001", *big])
    return f"{rng.uniform(0, 5000):.{rng.randint(0, 6)}f}"


def _int_values(rng: random.Random, n: int, big: bool) -> str:
    out = []
    for _ in range(n):
        if rng.random() < 0.15:
            out.append(rng.choice([".", ""]))
        else:
            out.append(str(rng.choice([rng.randint(0, 40), rng.randint(100, 40000),
                                       rng.randint(40000, 90000)]) if big
                           else rng.randint(0, 40)))
    return ",".join(out)


def _info(rng: random.Random, n_alt: int, plain: bool) -> str:
    if rng.random() < 0.05:
        return "."
    parts = []
    if rng.random() < 0.85:
        parts.append(rng.choice([f"DP={rng.randint(0, 700)}", "DP=.", "DP=3,4", "DP=",
                                 f"DP={rng.randint(0, 50)}", *([] if plain else ["DP"])]))
    if rng.random() < 0.5:
        parts.append(f"AF={','.join(f'{rng.random():.3f}' for _ in range(max(n_alt, 1)))}")
    if rng.random() < 0.8 and n_alt:
        big = rng.random() < 0.3
        # not one AC per ALT: bcftools then takes no counts (gfcli's htslib path does)
        n_ac = n_alt if plain or rng.random() < 0.95 else rng.choice([1, n_alt + 1])
        ac = _int_values(rng, n_ac, big)
        parts.append(f"AC={ac}")
        total = sum(int(v) for v in ac.split(",") if v not in ("", "."))
        an = total + rng.randint(0, 100000 if big else 60)
        if rng.random() < 0.05:
            an_text = "."
        elif rng.random() < 0.03 and total > 0:
            an_text = str(total)  # AC sums to AN: no REF allele counted
        else:
            an_text = str(an)
        parts.append(f"AN={an_text}")
    if rng.random() < 0.3:
        parts.append("DB")
    if rng.random() < 0.3:
        parts.append(f"GENE=G{rng.randint(1, 99)}")
    if rng.random() < 0.02:
        parts.append("UNDECLARED=1")
    if rng.random() < 0.02 and not plain:
        parts.append(f"DP={rng.randint(0, 99)}")  # repeated: bcftools takes the first
    if rng.random() < 0.02:
        parts.append("")  # ';;'
    rng.shuffle(parts)
    text = ";".join(parts)
    return text if text else "."


def _filter(rng: random.Random) -> str:
    return rng.choice(["PASS", "PASS", ".", "q10", "q10;PASS", "notdeclared"])


def sites_vcf(n: int, seed: int, samples: int = 0, plain: bool = False) -> str:
    """`plain`: without what gfcli's htslib path counts unlike bcftools (a repeated or
    value-less INFO/DP, QUAL from 9999.9 on, an AC count other than the ALTs'), for the
    files whose chunks go to htslib."""
    rng = random.Random(seed)
    extra = ("\tFORMAT" + "".join(f"\tS{i}" for i in range(samples))) if samples else ""
    lines = [_header(extra)]
    for chrom, length in CONTIGS:
        pos = 0
        for _ in range(n // len(CONTIGS)):
            pos = min(pos + rng.randint(1, 3 * length // n), length)
            ref_base = rng.choice("ACGT")
            ref, alt = _alleles(rng, ref_base)
            n_alt = 0 if alt == "." else alt.count(",") + 1
            ident = rng.choice([".", f"rs{rng.randint(1, 10**7)}"])
            row = [chrom, str(pos), ident, ref, alt, _qual(rng, plain), _filter(rng),
                   _info(rng, n_alt, plain)]
            if samples:
                row.append("GT")
                row.extend(rng.choice(["0/1", "1/1", "./.", "0/0"]) for _ in range(samples))
            lines.append("\t".join(row) + "\n")
    return "".join(lines)


def _write(tmp_path, name: str, text: str, index: bool = True) -> str:
    plain = tmp_path / f"{name}.vcf"
    plain.write_text(text)
    out = str(plain) + ".gz"
    pysam.tabix_compress(str(plain), out, force=True)
    if index:
        pysam.tabix_index(out, preset="vcf", force=True)
    return out


def _bcftools(*args: str) -> str:
    code = ("import sys\nfrom pysam import bcftools\n"
            "sys.stdout.write(bcftools.stats(*sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _gfcli(*args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "gfcli", "stats", *args],
                         capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    if ok:
        assert run.returncode == 0, run.stderr
    return run


def _body(text: str) -> list[str]:
    return [ln for ln in text.splitlines()[2:] if not ln.startswith("ID\t")]


REQUIRE = {"GFCLI_STATS_SITES_TEXT": "require"}
SMALL_CHUNKS = {"GFCLI_CHUNK_BYTES": "20000"}


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    d = tmp_path_factory.mktemp("sites_fast")
    text = sites_vcf(9000, seed=5)
    return {"dir": d, "text": text, "gz": _write(d, "sites", text),
            "noidx": _write(d, "sites_noidx", text, index=False),
            "plain": _write(d, "plain", sites_vcf(6000, seed=6, plain=True))}


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("chunks", ["default", "small"])
def test_sites_equal_bcftools(sites, threads, chunks):
    env = dict(REQUIRE, **(SMALL_CHUNKS if chunks == "small" else {}))
    got = _gfcli("-@", threads, sites["gz"], env=env).stdout
    assert _body(got) == _body(_bcftools(sites["gz"]))


def test_sites_without_index(sites):
    env = dict(REQUIRE, **SMALL_CHUNKS)
    got = _gfcli("-@", "2", sites["noidx"], env=env).stdout
    assert _body(got) == _body(_bcftools(sites["noidx"]))


def test_sites_equal_htslib_path(sites):
    """The kernel and gfcli's htslib path agree on the whole report (JSON extras too)."""
    fast = _gfcli("-O", "json", sites["plain"], env=REQUIRE).stdout
    slow = _gfcli("-O", "json", sites["plain"], env={"GFCLI_STATS_SITES_TEXT": "0"}).stdout
    assert fast == slow


@pytest.mark.parametrize("opts", [("--af-bins", "0.1,0.5,1"), ("-d", "0,1000,50")])
def test_sites_options(sites, opts):
    got = _gfcli(*opts, sites["gz"], env=dict(REQUIRE, **SMALL_CHUNKS)).stdout
    assert _body(got) == _body(_bcftools(*opts, sites["gz"]))


def test_samples_present_not_asked(tmp_path):
    path = _write(tmp_path, "with_samples", sites_vcf(1500, seed=8, samples=3))
    got = _gfcli("-@", "2", path, env=REQUIRE).stdout
    assert _body(got) == _body(_bcftools(path))


BAD_LINES = {
    "crlf": lambda line: line + "\r",
    "exponent qual": lambda line: _set(line, 5, "1.5e2"),
    "plus qual": lambda line: _set(line, 5, "+20"),
    "float dp": lambda line: _set(line, 7, "DP=5.5"),
    "valueless an": lambda line: _set(line, 7, "DP=5;AN"),
    "unknown contig": lambda line: _set(line, 0, "chrUn"),
    "huge dp": lambda line: _set(line, 7, "DP=99999999999"),
}


def _set(line: str, col: int, value: str) -> str:
    cols = line.split("\t")
    cols[col] = value
    return "\t".join(cols)


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_lines_for_htslib(tmp_path, case):
    """Lines the kernel does not read go to htslib with their chunk; the report is still
    bcftools'. In require mode the same file is refused, which shows the kernel ran."""
    text = sites_vcf(1200, seed=21, plain=True)
    lines = text.split("\n")
    first = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#"))
    for k in (first + 7, first + 500):
        lines[k] = BAD_LINES[case](lines[k])
    path = _write(tmp_path, "bad", "\n".join(lines), index=case != "unknown contig")
    got = _gfcli("-@", "2", path, env=SMALL_CHUNKS).stdout
    assert _body(got) == _body(_bcftools(path))
    refused = _gfcli(path, env=REQUIRE, ok=False)
    assert refused.returncode != 0 and "vsites" in refused.stderr


def test_header_only(tmp_path):
    path = _write(tmp_path, "empty", _header())
    got = _gfcli("-@", "2", path, env=REQUIRE).stdout
    assert _body(got) == _body(_bcftools(path))


def test_no_final_newline(tmp_path):
    path = _write(tmp_path, "nonl", sites_vcf(300, seed=3).rstrip("\n"), index=False)
    got = _gfcli(path, env=REQUIRE).stdout
    assert _body(got) == _body(_bcftools(path))


def test_an_smaller_than_ac(tmp_path):
    text = _header() + "chr1\t10\t.\tA\tG\t50\tPASS\tAC=5;AN=2\n"
    path = _write(tmp_path, "anac", text)
    run = _gfcli(path, env=REQUIRE, ok=False)
    assert run.returncode != 0 and "AN/AC" in run.stderr
