"""Never crash: mutated VCF, BAM and FASTQ through `validate` (in-process, many) and through
`gfcli validate` / `gfcli view` (subprocess, a handful).

The mutations are seeded, so a failure names a reproducible case: truncation at a random
offset, flipped bytes, deleted tabs, inserted binary garbage, duplicated and swapped lines,
an empty file and a 10 MB line. In-process runs assert that the validator reported through
its rules (never `validate.internal`) and returned; subprocess runs assert a clean exit.
"""

from __future__ import annotations

import functools
import gzip
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validate_rules import FASTQ, bam, bam_record, bgzf, rec, sam, srec, vcf

from gfcli.engine.validate.rules import INTERNAL
from gfcli.engine.validate.run import check_files

SEED = 20240611
CASES_PER_KIND = 150


def _valid_vcf() -> bytes:
    rows = [rec(POS=str(100 + 7 * i), INFO=f"DP={i};AF=0.{i % 10}") for i in range(40)]
    return vcf(*rows)


def _valid_bam_payload() -> bytes:
    records = [bam_record(pos0=10 * i, name=f"r{i}\x00".encode(), aux=b"NMC\x01XZZabc\x00")
               for i in range(40)]
    return bam(*records)


def _valid_fastq() -> bytes:
    return b"".join(b"@r%d extra\nACGTNACGTA\n+\nIIIII#####\n" % i for i in range(40)) + FASTQ


def mutate(data: bytes, rng: random.Random, text: bool) -> tuple[str, bytes]:
    """One seeded mutation of `data`, with a short description of it."""
    kind = rng.choice(["truncate", "flip", "garbage", "duplicate", "swap", "delete"]
                      + (["tabs", "newlines"] if text else ["flip", "truncate"]))
    size = len(data)
    if kind == "truncate":
        cut = rng.randrange(size)
        return f"truncate@{cut}", data[:cut]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(size)
            out[i] ^= 1 << rng.randrange(8)
        return "flip", bytes(out)
    if kind == "garbage":
        i = rng.randrange(size)
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return f"garbage@{i}", data[:i] + junk + data[i:]
    if kind == "delete":
        i = rng.randrange(size)
        return f"delete@{i}", data[:i] + data[i + rng.randint(1, 200):]
    if kind in ("duplicate", "swap") and text:
        lines = data.split(b"\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if kind == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return f"{kind}:{i},{j}", b"\n".join(lines)
    if kind in ("duplicate", "swap"):
        i, j = sorted((rng.randrange(size), rng.randrange(size)))
        return f"{kind}-bytes:{i},{j}", data[:j] + data[i:j] + data[j:]
    if kind == "tabs":
        positions = [i for i, b in enumerate(data) if b == 9]
        drop = set(rng.sample(positions, min(len(positions), rng.randint(1, 5))))
        return "tabs", bytes(b for i, b in enumerate(data) if i not in drop)
    positions = [i for i, b in enumerate(data) if b == 10]
    drop = set(rng.sample(positions, min(len(positions), rng.randint(1, 3))))
    return "newlines", bytes(b for i, b in enumerate(data) if i not in drop)


def _bgzf_vcf() -> bytes:
    return bgzf(_valid_vcf())


@functools.lru_cache(maxsize=1)
def _htslib_dir() -> Path:
    """Where the BCF/CRAM bases and the CRAM's reference live for the session."""
    path = Path(tempfile.mkdtemp(prefix="gfcli-fuzz-"))
    (path / "ref.fa").write_text(">chr1\n" + "ACGT" * 250 + "\n>chr2\n" + "T" * 500 + "\n")
    pysam.faidx(str(path / "ref.fa"))
    return path


@functools.lru_cache(maxsize=1)
def _valid_bcf() -> bytes:
    """40 records written by htslib."""
    tmp = _htslib_dir()
    (tmp / "src.vcf").write_bytes(_valid_vcf())
    with pysam.VariantFile(str(tmp / "src.vcf")) as inp, pysam.VariantFile(
            str(tmp / "base.bcf"), "wb", header=inp.header) as out:
        for record in inp:
            out.write(record)
    return (tmp / "base.bcf").read_bytes()


@functools.lru_cache(maxsize=1)
def _valid_cram() -> bytes:
    """40 reads written by htslib against the session's reference."""
    tmp = _htslib_dir()
    reads = [srec(QNAME=f"r{i}", POS=str(10 + 5 * i), SEQ="ACGT", QUAL="IIII") for i in range(40)]
    (tmp / "src.sam").write_bytes(sam(*reads))
    with pysam.AlignmentFile(str(tmp / "src.sam")) as inp, pysam.AlignmentFile(
            str(tmp / "base.cram"), "wc", template=inp,
            reference_filename=str(tmp / "ref.fa")) as out:
        for read in inp:
            out.write(read)
    return (tmp / "base.cram").read_bytes()


def _mutate_bcf(data: bytes, rng: random.Random, text: bool) -> tuple[str, bytes]:
    """Half the cases damage the BGZF container (caught before htslib reads), half the BCF
    inside a valid container (what htslib itself must survive)."""
    if rng.random() < 0.5:
        return mutate(data, rng, text)
    what, payload = mutate(gzip.decompress(data), rng, text)
    return f"payload-{what}", bgzf(payload)


KINDS = {
    # name: (file name, builder, is text)
    "vcf": ("in.vcf", _valid_vcf, True),
    "vcf.gz": ("in.vcf.gz", _bgzf_vcf, False),
    "bam": ("in.bam", _valid_bam_payload, False),
    "fastq": ("in.fq", _valid_fastq, True),
    "bcf": ("in.bcf", _valid_bcf, False),
    "cram": ("in.cram", _valid_cram, False),
}
# Kinds whose records htslib decodes: fewer cases (each opens the file through htslib), a
# mutation of their own, and the CRAM's reference.
HTSLIB_CASES = 80
MUTATORS = {"bcf": _mutate_bcf}


def _options(kind: str) -> dict[str, object]:
    return {"reference": str(_htslib_dir() / "ref.fa")} if kind == "cram" else {}


def _check_clean(path: Path, **options: object) -> None:
    start = time.monotonic()
    report = check_files([str(path)], **options)[0]  # type: ignore[arg-type]
    assert INTERNAL not in report.counts, [p.format() for p in report.problems
                                           if p.rule == INTERNAL]
    assert time.monotonic() - start < 10, "validation took too long (a hang?)"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_valid_base_files(tmp_path: Path, kind: str) -> None:
    name, build, _ = KINDS[kind]
    path = tmp_path / name
    path.write_bytes(build())
    report = check_files([str(path)], **_options(kind))[0]  # type: ignore[arg-type]
    assert report.errors == 0, [p.format() for p in report.problems]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_seeded_mutations_never_crash(tmp_path: Path, kind: str) -> None:
    name, build, text = KINDS[kind]
    base = build()
    rng = random.Random(f"{SEED}-{kind}")
    path = tmp_path / name
    mutator = MUTATORS.get(kind, mutate)
    for case in range(HTSLIB_CASES if kind in ("bcf", "cram") else CASES_PER_KIND):
        what, data = mutator(base, rng, text)
        path.write_bytes(data)
        try:
            _check_clean(path, **_options(kind))
        except AssertionError as exc:  # name the reproducer
            raise AssertionError(f"{kind} case {case} ({what}): {exc}") from None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_empty_and_garbage(tmp_path: Path, kind: str) -> None:
    name, _, _ = KINDS[kind]
    rng = random.Random(SEED)
    path = tmp_path / name
    for data in (b"", b"\x00" * 100, bytes(rng.randrange(256) for _ in range(5000)),
                 b"\x1f\x8b" + bytes(rng.randrange(256) for _ in range(300))):
        path.write_bytes(data)
        _check_clean(path, **_options(kind))


TEN_MB = 10 * 1024 * 1024


def test_ten_megabyte_lines(tmp_path: Path) -> None:
    cases = {
        "vcf-info.vcf": vcf(rec(INFO="DP=" + "9" * TEN_MB)),
        "vcf-garbage.vcf": vcf("x" * TEN_MB),
        "long.fq": b"@r1\n" + b"A" * TEN_MB + b"\n+\n" + b"I" * TEN_MB + b"\n",
        "noline.fq": b"@" + b"x" * TEN_MB,
        "sam.sam": ("@HD\tVN:1.6\n" + "r" * TEN_MB + "\n").encode(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        start = time.monotonic()
        _check_clean(path)
        assert time.monotonic() - start < 5, name
    # Past the validator's line limit the rest of the line is skipped, not held.
    path = tmp_path / "cut.vcf"
    path.write_bytes(vcf(rec(INFO="DP=" + "9" * TEN_MB)))
    report = check_files([str(path)], max_line=1 << 20)[0]
    assert "text.line-too-long" in report.counts


def test_bam_with_huge_record_lengths(tmp_path: Path) -> None:
    path = tmp_path / "in.bam"
    for size in (2**31 - 1, 10 * 2**20, 33):
        path.write_bytes(bam(bam_record(size=size)))
        _check_clean(path)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(["vcf", "bam", "fastq", "sam", "bcf"]))
def test_arbitrary_bytes_with_forced_format(tmp_path: Path, data: bytes, fmt: str) -> None:
    path = tmp_path / "blob"
    path.write_bytes(data)
    if fmt == "bcf" and data[:2] != b"\x1f\x8b":
        fmt = "vcf"  # htslib reads BCF; keep its arbitrary-byte cases to compressed input
    _check_clean(path, format=fmt)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(alphabet=st.sampled_from("\t:;,=.ACGTN01/|<>[]#chr-"),
                              max_size=80), max_size=12))
def test_vcf_records_from_fragments(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "in.vcf"
    path.write_bytes(vcf(*lines) if lines else vcf())
    _check_clean(path)


# --------------------------------------------------------------------------- subprocesses

CLI_CASES = 3  # per kind; each `view` case costs a Python start-up


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gfcli", *args], capture_output=True,
                          text=True, errors="replace", timeout=120, check=False)


def _cli_options(kinds: tuple[str, ...]) -> list[str]:
    return ["--reference", str(_htslib_dir() / "ref.fa")] if "cram" in kinds else []


def _mutated_files(tmp_path: Path, kinds: tuple[str, ...], count: int) -> list[tuple[str, Path]]:
    files = []
    for kind in kinds:
        name, build, text = KINDS[kind]
        rng = random.Random(f"{SEED}-cli-{kind}")
        base = build()
        mutator = MUTATORS.get(kind, mutate)
        for case in range(count):
            what, data = mutator(base, rng, text)
            path = tmp_path / f"{case}-{name}"
            path.write_bytes(data)
            files.append((f"{kind}-{case} ({what})", path))
    return files


def test_cli_validate_on_mutations(tmp_path: Path) -> None:
    """One `gfcli validate` run over many mutated files: a report per file, no traceback."""
    files = _mutated_files(tmp_path, ("vcf", "vcf.gz", "bam", "fastq", "bcf", "cram"), 10)
    result = _cli(["validate", "--summary", "--max-errors", "3", *_cli_options(("cram",)),
                   *(str(p) for _, p in files)])
    assert result.returncode in (1, 2), result.stderr[-800:]
    assert "Traceback" not in result.stderr
    assert "validate.internal" not in result.stderr, result.stderr[-2000:]
    for _, path in files:
        assert f"{path}: " in result.stdout  # every file was reached and summarised


# Reproducers of `gfcli view` failures on mutated input found by the test below, by case
# id (kind-number, regenerated from the seed); `gfcli view` belongs to another part of the
# project and is not changed here, so known cases are reported as expected failures.
VIEW_KNOWN_FAILURES: dict[str, str] = {}


def _view_problem(result: subprocess.CompletedProcess[str]) -> str | None:
    if "Traceback" in result.stderr:
        return "traceback"
    if "internal error" in result.stderr:
        return "internal error"
    if result.returncode not in (0, 1, 2):
        return f"exit status {result.returncode}"
    if result.returncode:
        ours = [ln for ln in result.stderr.splitlines() if ln.startswith("gfcli view: error:")]
        if len(ours) != 1:
            return "no one-line 'gfcli view: error:' message"
    return None


def test_cli_view_on_mutations(tmp_path: Path) -> None:
    """`gfcli view` on mutated VCF, VCF.gz and BAM: a clean one-line error, never a crash."""
    files = _mutated_files(tmp_path, ("vcf", "vcf.gz", "bam"), CLI_CASES)
    files += _mutated_files(tmp_path, ("bcf", "cram"), 2)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda item: (item[0], _cli(
            ["view", *_cli_options((item[0].split("-")[0],)), str(item[1])])), files))
    failures = {}
    for label, result in results:
        problem = _view_problem(result)
        if problem is not None:
            failures[label.split(" ")[0]] = f"{label}: {problem}: {result.stderr[-300:]!r}"
    unknown = {k: v for k, v in failures.items() if k not in VIEW_KNOWN_FAILURES}
    assert not unknown, "\n".join(unknown.values())
    if failures:
        pytest.xfail("known gfcli view failures: " + "; ".join(sorted(failures)))


# Found by a wider sweep (15 cases per kind) than the suite runs; kept as regression tests.
VIEW_REPRODUCERS = {
    ("vcf.gz", 6): "VCF.gz with bytes 464..632 duplicated (a cut BGZF block): once an "
    "'internal error' from a short read in the chunk planner",
    ("bam", 0): "BAM with bytes 339..378 duplicated: once a pysam destructor traceback after "
    "the one-line error",
}


@pytest.mark.parametrize(("kind", "number"), sorted(VIEW_REPRODUCERS))
def test_view_reproducers(tmp_path: Path, kind: str, number: int) -> None:
    name, build, text = KINDS[kind]
    rng = random.Random(f"{SEED}-cli-{kind}")
    base = build()
    for _ in range(number + 1):
        what, data = mutate(base, rng, text)
    path = tmp_path / name
    path.write_bytes(data)
    result = _cli(["view", str(path)])
    assert _view_problem(result) is None, (what, result.stderr[-300:])
    report = check_files([str(path)])[0]  # validate itself names the damage
    assert report.errors and INTERNAL not in report.counts
