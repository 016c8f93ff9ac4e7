"""FASTQ input for `gfcli view` and `gfcli filter`: reader, chunk planner, numba kernels.

- `reader`: plain/gzip/BGZF files and stdin as record batches (packed buffer + offsets);
  record-aligned BGZF chunks for `-@`.
- `kernels`: numba record splitting/checking, numeric expression fields, gathers.
- `select`: the fastq expression dialect over batches.
- `view`: the formatter, output types and the view/filter plans.
"""
