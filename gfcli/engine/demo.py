"""The tour `gfcli demo` runs: real gfcli commands on the bundled example files."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from importlib import resources

from gfcli.engine.errors import DataError


def example_path(name: str) -> str:
    path = resources.files("gfcli") / "data" / name
    if not path.is_file():
        raise DataError(f"bundled example {name} is missing from the installation")
    return str(path)


def _steps(tmp: str) -> list[tuple[str, list[str]]]:
    vcf = example_path("example.vcf.gz")
    bam = example_path("example.bam")
    bcf = os.path.join(tmp, "example.bcf")
    steps = [
        ("What gfcli is", ["--version"]),
        ("A VCF's header, then its first records", ["view", "-h", vcf]),
        ("Records in a region, through the tabix index", ["view", "-H", "-r", "chr1:1-2000", vcf]),
        ("Two samples only (AC/AN recomputed like bcftools)",
         ["view", "-H", "-s", "S0001,S0003", vcf]),
        ("VCF to BCF with two worker processes, indexed", ["view", "-@", "2", "-Ob", "-o", bcf,
                                                          "--write-index", vcf]),
        ("Count the records of the new BCF", ["view", "-c", bcf]),
        ("Alignments in a region (samtools view text)", ["view", "-r", "chr1:1000-1400", bam]),
        ("How many alignments the BAM holds", ["view", "-c", bam]),
    ]
    # Steps for commands that later issues add; shown once the command is there.
    optional = [
        ("samtools flagstat, the same text", "flagstat", ["flagstat", bam]),
        ("Keep confident variants (bcftools -i syntax), and how the filter is planned",
         "filter", ["filter", "--explain", "-i", "QUAL>30 && INFO/DP>10", vcf]),
        ("bcftools stats summary numbers", "stats", ["stats", vcf]),
        ("samtools depth over a region", "depth", ["depth", "-r", "chr1:1000-1010", bam]),
        ("Validate the VCF", "validate", ["validate", "--summary", vcf]),
    ]
    available = _available_commands()
    steps += [(title, argv) for title, name, argv in optional if name in available]
    return steps


def _available_commands() -> set[str]:
    import typer

    from gfcli.cli import app

    return set(typer.main.get_command(app).commands)


def run_demo(lines: int) -> None:
    with tempfile.TemporaryDirectory(prefix="gfcli-demo-") as tmp:
        for title, argv in _steps(tmp):
            shown = " ".join(shlex.quote(_short(a)) for a in argv)
            sys.stdout.write(f"\n# {title}\n$ gfcli {shown}\n")
            sys.stdout.flush()
            result = subprocess.run(
                [sys.executable, "-m", "gfcli", *argv], capture_output=True, text=True
            )
            out = result.stdout.splitlines()
            for line in out[:lines]:
                sys.stdout.write((line[:160] + " ...") if len(line) > 160 else line)
                sys.stdout.write("\n")
            if len(out) > lines:
                sys.stdout.write(f"... ({len(out) - lines} more lines)\n")
            if result.returncode != 0:
                sys.stdout.write(result.stderr)
                raise DataError(f"demo step failed: gfcli {shown}")
        sys.stdout.write("\nAll demo steps ran. See `gfcli --help` and `gfcli view --help`.\n")


def _short(arg: str) -> str:
    """Show bundled files by their name, not their installation path."""
    return os.path.basename(arg) if os.sep in arg and os.path.exists(arg) else arg
