"""Man pages and completions are generated from the CLI and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_man_pages_and_completions_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "regenerate with `python scripts/make_docs.py`:\n" + result.stdout + result.stderr
    )
