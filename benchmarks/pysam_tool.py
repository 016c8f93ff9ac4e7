"""Run pysam's bundled samtools/bcftools as a command: `python pysam_tool.py samtools view ...`.

The benchmark runner falls back to this when a system samtools/bcftools is missing. pysam
runs the tool inside this Python process, so each call also pays Python start-up and the
pysam import (~0.2 s); the runner's table names the reference it used.
"""

from __future__ import annotations

import os
import stat
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("samtools", "bcftools"):
        sys.stderr.write("usage: pysam_tool.py samtools|bcftools COMMAND [ARGS...]\n")
        return 2
    import pysam
    from pysam import bcftools, samtools
    from pysam.utils import SamtoolsError

    tool, command, args = argv[0], argv[1], argv[2:]
    if command == "--version":
        sys.stdout.write(f"{tool} (pysam {pysam.__version__}, "
                         f"htslib {pysam.version.__htslib_version__})\n")
        return 0
    module = samtools if tool == "samtools" else bcftools
    try:
        if stat.S_ISREG(os.fstat(1).st_mode):
            # pysam opens the save_stdout path afresh, which would truncate a regular file
            # that stdout is appending to: collect the text instead.
            sys.stdout.write(getattr(module, command)(*args) or "")
        else:
            # catch_stdout=False drops the output; /dev/stdout reaches pipes and /dev/null
            # without holding the output in memory.
            getattr(module, command)(*args, save_stdout="/dev/stdout")
    except SamtoolsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
