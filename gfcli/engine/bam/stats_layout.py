"""Layout shared by the alignment statistics kernels and their callers: status codes,
the slots of the kernel's scalar (`sc`) and settings (`cfg`) arrays, table sizes, and the
CRC-32 tables. Plain numpy, so a process running the precompiled kernels
(`stats_native`) never imports numba.
"""

from __future__ import annotations

import numpy as np

OK = 0
BAD_RECORD = -1
# refID / next refID outside [-1, n_ref): htslib refuses the record ("Failure while
# decoding file"); = kernels.BAD_REFID / BAD_MATE_REFID, worded by reader.record_error.
BAD_REFID = -2
BAD_MATE_REFID = -3
NEED_CYCLES = 1  # sc[NEED_A] = the read length to hold
NEED_GCD = 2  # GC-depth bin arrays full
NEED_HEAD = 3  # head event arrays full
NEED_REF = 4  # sc[NEED_A] = tid, sc[NEED_B] = start, sc[NEED_C] = end (0-based, exclusive)
ERR_TARGETS_UNSORTED = 5
ERR_NO_CIGAR = 6
ERR_READ_TOO_LONG = 7
ERR_UNSORTED_COVERAGE = 8
ERR_REF_SHORT = 9

# A chunk's first bases whose depth it keeps exact for the merge: the previous chunk's
# coverage reaches at most its round buffer (5 x 300 bases unless a long read grows it,
# which makes the merge fall back to one pass) past this chunk's first read.
HEAD_SPAN = 1 << 13
NM_ABSENT = -(1 << 62)
NQUALS = 256
NGC = 200
NINDELS = 300  # samtools: nindels = the initial nbases, never grown

# ---- sc: int64 scalars
NFILT, N1ST, N2ND, NOTHER, NDUP, NUNMAP, NSINGLE, NPAIRMAP = 0, 1, 2, 3, 4, 5, 6, 7
NPROPER, NPAIRTECH, NANOM, NMQ0, NBMAP, NBCIGAR, NBTRIM, NMISM = 8, 9, 10, 11, 12, 13, 14, 15
NQCFAIL, NSEC, NSUPP, TLEN, TLEN1, TLEN2, TLENDUP, MAXLEN = 16, 17, 18, 19, 20, 21, 22, 23
MAXLEN1, MAXLEN2, MAXQUAL, CHK_NAMES, CHK_READS, CHK_QUALS, SUMQUAL, IS_SORTED = (
    24, 25, 26, 27, 28, 29, 30, 31)
TID, POS, NBASES, REALLOC, RING_POS, RING_START, RING_SIZE = 32, 33, 34, 35, 36, 37, 38
M_STARTED, M_TID, M_GCD_POS, M_RSEQ_POS, M_NRSEQ, M_MRSEQ, IGCD = 39, 40, 41, 42, 43, 44, 45
HEAD_MODE, HEAD_TID, NHEAD, COVHEAD_TID, COVHEAD_BASE, ANOMALY = 46, 47, 48, 49, 50, 51
FIRST_TID, FIRST_POS, REF_TID, REF_START, REF_LEN = 52, 53, 54, 55, 56
NEED_A, NEED_B, NEED_C, REG_FROM, REG_TO, NRECORDS = 57, 58, 59, 60, 61, 62
ZERO = 63  # always 0 (see _realloc_ring)
N_SC = 64

# ---- cfg: int64 settings
C_REQUIRE, C_FILTER, C_READLEN, C_TRIM, C_NISIZE, C_COVMIN, C_COVMAX, C_COVSTEP = range(8)
C_NCOV, C_GCDBIN, C_FAI, C_REGIONS, C_MINMAPQ, C_NREF = 8, 9, 10, 11, 12, 13
N_CFG = 16


def _crc_tables() -> np.ndarray:
    """Slicing-by-8 tables of the reflected CRC-32 (zlib's polynomial): row 0 is the
    classic byte table, row k advances a byte k further through the register."""
    t = np.zeros((8, 256), dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if (c & 1) else (c >> 1)
        t[0, i] = c
    for k in range(1, 8):
        for i in range(256):
            prev = int(t[k - 1, i])
            t[k, i] = (prev >> 8) ^ int(t[0, prev & 0xFF])
    return t


_CRC_TABLE = _crc_tables()
