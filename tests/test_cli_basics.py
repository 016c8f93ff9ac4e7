"""The command itself: version, help, start-up imports, usage errors."""

from __future__ import annotations

import subprocess
import sys

from gfcli import __version__


def test_version_first_line(script_runner):
    result = script_runner.run(["gfcli", "--version"])
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"gfcli {__version__}"
    assert any(line.startswith("pysam ") and "htslib" in line for line in lines)
    assert any(line.startswith("numba ") for line in lines)


def test_help_lists_view(script_runner):
    result = script_runner.run(["gfcli", "--help"])
    assert result.returncode == 0
    assert "view" in result.stdout


def test_cli_import_is_light():
    code = (
        "import sys, gfcli.cli; "
        "heavy = [m for m in ('numba', 'pyarrow', 'pysam', 'cyvcf2', 'numpy') "
        "if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_option_is_usage_error(script_runner):
    result = script_runner.run(["gfcli", "view", "--no-such-option"])
    assert result.returncode == 2
    assert result.stderr.startswith("gfcli view: error:")
    assert "Traceback" not in result.stderr


def test_missing_file_is_one_line(script_runner, tmp_path):
    result = script_runner.run(["gfcli", "view", str(tmp_path / "absent.vcf")])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "absent.vcf" in result.stderr and "Traceback" not in result.stderr


def test_blas_runs_on_one_thread_unless_the_user_says_otherwise():
    # gfcli parallelises with worker processes: numpy's OpenBLAS must not start (and spin)
    # a thread per core in each of them; an explicit setting is left alone.
    code = (
        "import os\n"
        "from gfcli import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "import numpy\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out[-2:] == ["1", "1"]
    env["OPENBLAS_NUM_THREADS"] = "3"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out[-2] == "3"
