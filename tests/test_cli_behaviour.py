"""How gfcli behaves in pipes and workflows: closed pipes, interrupts, atomic outputs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pysam
import pytest

GFCLI = [sys.executable, "-m", "gfcli"]
SMALL_CHUNKS = {**os.environ, "GFCLI_CHUNK_BYTES": "65536"}


def _write_vcf(path: Path, n: int, bad_at: int | None = None) -> None:
    rng = random.Random(3)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=100000000>",
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB",
    ]
    pos = 0
    for i in range(n):
        pos += rng.randint(1, 50)
        where = "x12" if i == bad_at else str(pos)  # a POS that is no number
        lines.append(f"1\t{where}\t.\tA\tG\t30\tPASS\tDP={rng.randint(1, 99)}\tGT\t0/1\t1/1")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("behaviour")
    plain = directory / "big.vcf"
    _write_vcf(plain, 200_000)
    gz = directory / "big.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz))
    pysam.tabix_index(str(gz), preset="vcf")
    return gz


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if "gfcli-tmp" in p.name]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_closed_pipe_is_quiet(big_vcf, threads):
    view = subprocess.Popen([*GFCLI, "view", "-@", threads, str(big_vcf)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = view.stdout.readline()
    view.stdout.close()  # the reader goes away, like `| head -1`
    code = view.wait(timeout=30)
    assert head.startswith(b"##fileformat=VCF")
    assert code == 141
    assert view.stderr.read() == b""


def _endless_vcf(proc: subprocess.Popen) -> None:
    """Feed records to the child's stdin until it goes away: a run that cannot finish."""
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=1000000000>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    try:
        proc.stdin.write(header.encode())
        pos = 0
        while True:
            block = []
            for _ in range(2000):
                pos += 7
                block.append(f"1\t{pos}\t.\tA\tG\t30\tPASS\t.\n")
            proc.stdin.write("".join(block).encode())
            proc.stdin.flush()
            time.sleep(0.01)
    except (BrokenPipeError, OSError, ValueError):
        pass


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_removes_partial_output(tmp_path, sig, code):
    out = tmp_path / "out.vcf.gz"
    proc = subprocess.Popen([*GFCLI, "view", "-Oz", "-o", str(out), "-"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = threading.Thread(target=_endless_vcf, args=(proc,), daemon=True)
    feeder.start()
    deadline = time.monotonic() + 30
    while not _leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _leftovers(tmp_path), "the temporary output never appeared"
    time.sleep(0.3)  # well inside the run
    sent = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == code
    assert time.monotonic() - sent < 1.5
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_bad_record_leaves_no_output(tmp_path):
    src = tmp_path / "bad.vcf"
    _write_vcf(src, 5000, bad_at=4000)
    out = tmp_path / "out.vcf"
    result = subprocess.run([*GFCLI, "view", "-o", str(out), str(src)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gfcli view: error: ")
    assert str(src) in lines[0] and "line 4006" in lines[0]
    assert not out.exists() and _leftovers(tmp_path) == []


def test_stdin_pipe_equals_file(big_vcf):
    direct = subprocess.run([*GFCLI, "view", "--no-version", str(big_vcf)],
                            capture_output=True, check=True).stdout
    with open(big_vcf, "rb") as source:
        cat = subprocess.Popen(["cat"], stdin=source, stdout=subprocess.PIPE)
        piped = subprocess.run([*GFCLI, "view", "--no-version", "-"], stdin=cat.stdout,
                               capture_output=True, check=True).stdout
        cat.wait()
    assert piped == direct


def test_output_permissions_follow_umask(big_vcf, tmp_path):
    out = tmp_path / "perm.vcf"
    subprocess.run([*GFCLI, "view", "-H", "-r", "1:1-1000", "-o", str(out), str(big_vcf)],
                   check=True)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_output_to_fifo_is_written_in_place(big_vcf, tmp_path):
    """`-o` onto a device or FIFO (as `-o /dev/null`) writes into it, never renames over it."""
    from gfcli.engine.sinks import AtomicOutput

    assert AtomicOutput("/dev/null").in_place
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    done = subprocess.run([*GFCLI, "view", "-H", "-o", str(fifo), str(big_vcf)],
                          capture_output=True, timeout=60)
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert fifo.is_fifo()
    assert got and got[0].count(b"\n") == 200_000
    assert _leftovers(tmp_path) == []


def test_output_through_symlink_keeps_the_link(big_vcf, tmp_path):
    real = tmp_path / "real.vcf"
    real.write_text("old\n")
    link = tmp_path / "link.vcf"
    link.symlink_to(real)
    done = subprocess.run([*GFCLI, "view", "-H", "-o", str(link), str(big_vcf)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert real.read_bytes().count(b"\n") == 200_000


def test_output_onto_a_directory_is_a_usage_error(big_vcf, tmp_path):
    done = subprocess.run([*GFCLI, "view", "-o", str(tmp_path), str(big_vcf)],
                          capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"is a directory" in done.stderr
    assert _leftovers(tmp_path) == []
