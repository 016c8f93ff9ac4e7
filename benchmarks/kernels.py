"""Compiled loops for the generator's hottest text: the per-sample VCF columns.

A 200-sample x 1M-site cohort has 200M GT:DP:GQ:AD cells. Column-wise numpy (textcols.py)
costs several microseconds a cell there (index arrays as large as the text); one numba loop
writes a cell in tens of nanoseconds. Compiled on first use and cached next to this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CELL_BOUND = 64  # bytes a cell can take: tab, GT, DP, GQ and four AD values


@njit(cache=True)
def _write_int(out: np.ndarray, pos: int, value: int) -> int:
    if value < 0:
        out[pos] = 45  # '-'
        pos += 1
        value = -value
    digits = 1
    rest = value // 10
    while rest > 0:
        digits += 1
        rest //= 10
    end = pos + digits
    for k in range(digits):
        out[end - 1 - k] = 48 + value % 10
        value //= 10
    return end


@njit(cache=True)
def _write_allele(out: np.ndarray, pos: int, allele: int) -> int:
    if allele < 0:
        out[pos] = 46  # '.'
        return pos + 1
    return _write_int(out, pos, allele)


@njit(cache=True)
def vcf_lines(prefix: np.ndarray, prefix_lengths: np.ndarray, alleles: np.ndarray,
              phased: np.ndarray, dp: np.ndarray, gq: np.ndarray, second: np.ndarray,
              n_alt: np.ndarray, truncated: np.ndarray, out: np.ndarray) -> int:
    """Write each site's line into `out`: its prefix (CHROM..FORMAT), then "\\tGT:DP:GQ:AD"
    per sample, then a newline. AD gives the first allele dp - second reads and the second
    allele `second`. Missing genotypes read "./.:.:.:.", or "./." where `truncated`.
    Returns the bytes written."""
    pos = 0
    src = 0
    sites, samples = dp.shape
    for i in range(sites):
        for k in range(prefix_lengths[i]):
            out[pos + k] = prefix[src + k]
        pos += prefix_lengths[i]
        src += prefix_lengths[i]
        sep = 124 if phased[i] else 47  # '|' or '/'
        for j in range(samples):
            a, b = alleles[i, j, 0], alleles[i, j, 1]
            out[pos] = 9
            pos = _write_allele(out, pos + 1, a)
            out[pos] = sep
            pos = _write_allele(out, pos + 1, b)
            if a < 0:
                if not truncated[i, j]:
                    for byte in (58, 46, 58, 46, 58, 46):  # ":.:.:."
                        out[pos] = byte
                        pos += 1
                continue
            out[pos] = 58
            pos = _write_int(out, pos + 1, dp[i, j])
            out[pos] = 58
            pos = _write_int(out, pos + 1, gq[i, j])
            for k in range(n_alt[i] + 1):  # AD has Number=R
                out[pos] = 58 if k == 0 else 44
                depth = 0
                if a == k:
                    depth += dp[i, j] - second[i, j]
                if b == k:
                    depth += second[i, j]
                pos = _write_int(out, pos + 1, depth)
        out[pos] = 10
        pos += 1
    return pos
