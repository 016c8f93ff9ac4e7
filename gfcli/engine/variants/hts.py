"""A thin ctypes binding to the htslib that pysam bundles, for VCF/BCF record work.

Why not pysam's or cyvcf2's Python objects: `bcftools view` output is defined by what htslib
does to a `bcf1_t` (vcf_parse, bcf_subset, bcf_calc_ac, bcf_update_info, vcf_format,
bcf_write). Calling those same functions gives byte-identical VCF and BCF records, and a
record that is only read and written costs two C calls and no Python object. pysam
exposes none of them (nor the record's raw bytes); its shared library exports them all.

Only the leading, ABI-stable fields of `bcf1_t`, `BGZF` and `tbx_t` are mapped (they are
used by htslib's own public macros such as `bgzf_tell`).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_float,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)
from functools import lru_cache

BCF_DT_ID = 0
BCF_DT_CTG = 1
BCF_HL_FMT = 2
BCF_HT_FLAG = 0
BCF_HT_INT = 1
BCF_HT_REAL = 2
BCF_HT_STR = 3
BCF_UN_STR = 1
BCF_UN_FLT = 2
BCF_UN_INFO = 4
BCF_UN_FMT = 8
HTS_IDX_SILENT_FAIL = 2
HTS_POS_MAX = (0x7FFFFFFF << 32) | 0x7FFFFFFF
HTS_LOG_OFF = 0


class KString(Structure):
    _fields_ = [("l", c_size_t), ("m", c_size_t), ("s", c_void_p)]


class Bcf1Head(Structure):
    """The leading fields of `bcf1_t` (htslib >= 1.10)."""

    _fields_ = [
        ("pos", c_int64),
        ("rlen", c_int64),
        ("rid", c_int),
        ("qual", c_float),
        ("n_info_allele", c_uint32),  # n_info:16, n_allele:16
        ("n_fmt_sample", c_uint32),  # n_fmt:8, n_sample:24
    ]


class BcfDec(Structure):
    """`bcf_dec_t`: the unpacked site strings (ID, alleles, FILTER ids)."""

    _fields_ = [
        ("m_fmt", c_int), ("m_info", c_int), ("m_id", c_int), ("m_als", c_int),
        ("m_allele", c_int), ("m_flt", c_int), ("n_flt", c_int),
        ("flt", POINTER(c_int)),
        ("id", c_char_p),
        ("als", c_void_p),
        ("allele", POINTER(c_char_p)),
    ]


class Bcf1(Structure):
    """`bcf1_t` up to the leading fields of its `bcf_dec_t` (htslib >= 1.10)."""

    _fields_ = [*Bcf1Head._fields_, ("shared", KString), ("indiv", KString), ("d", BcfDec)]


class BgzfHead(Structure):
    """The leading fields of `BGZF`: what htslib's `bgzf_tell` macro reads."""

    _fields_ = [
        ("flags", c_uint32),
        ("cache_size", c_int),
        ("block_length", c_int),
        ("block_clength", c_int),
        ("block_offset", c_int),
        ("block_address", c_int64),
    ]


_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "hts_open": (c_void_p, [c_char_p, c_char_p]),
    "hts_close": (c_int, [c_void_p]),
    "hts_flush": (c_int, [c_void_p]),
    "hts_get_bgzfp": (c_void_p, [c_void_p]),
    "hts_getline": (c_int, [c_void_p, c_int, POINTER(KString)]),
    "hts_set_log_level": (None, [c_int]),
    "hts_get_log_level": (c_int, []),
    "hts_version": (c_char_p, []),
    "bgzf_seek": (c_int64, [c_void_p, c_int64, c_int]),
    "bcf_hdr_read": (c_void_p, [c_void_p]),
    "bcf_hdr_write": (c_int, [c_void_p, c_void_p]),
    "bcf_hdr_dup": (c_void_p, [c_void_p]),
    "bcf_hdr_destroy": (None, [c_void_p]),
    "bcf_hdr_append": (c_int, [c_void_p, c_char_p]),
    "bcf_hdr_sync": (c_int, [c_void_p]),
    "bcf_hdr_remove": (None, [c_void_p, c_int, c_char_p]),
    "bcf_hdr_subset": (c_void_p, [c_void_p, c_int, POINTER(c_char_p), POINTER(c_int)]),
    "bcf_hdr_id2int": (c_int, [c_void_p, c_int, c_char_p]),
    "bcf_hdr_format": (c_int, [c_void_p, c_int, POINTER(KString)]),
    "bcf_init": (c_void_p, []),
    "bcf_destroy": (None, [c_void_p]),
    "bcf_dup": (c_void_p, [c_void_p]),
    "bcf_read": (c_int, [c_void_p, c_void_p, c_void_p]),
    "bcf_write": (c_int, [c_void_p, c_void_p, c_void_p]),
    "bcf_subset": (c_int, [c_void_p, c_void_p, c_int, POINTER(c_int)]),
    "bcf_calc_ac": (c_int, [c_void_p, c_void_p, POINTER(c_int), c_int]),
    "bcf_update_info": (c_int, [c_void_p, c_void_p, c_char_p, c_void_p, c_int, c_int]),
    "bcf_get_format_values": (
        c_int, [c_void_p, c_void_p, c_char_p, POINTER(c_void_p), POINTER(c_int), c_int]
    ),
    "vcf_parse": (c_int, [POINTER(KString), c_void_p, c_void_p]),
    "vcf_format": (c_int, [c_void_p, c_void_p, POINTER(KString)]),
    "bcf_unpack": (c_int, [c_void_p, c_int]),
    "bcf_get_info_values": (
        c_int, [c_void_p, c_void_p, c_char_p, POINTER(c_void_p), POINTER(c_int), c_int]
    ),
    "bcf_update_filter": (c_int, [c_void_p, c_void_p, POINTER(c_int), c_int]),
    "bcf_add_filter": (c_int, [c_void_p, c_void_p, c_int]),
    "bcf_index_load3": (c_void_p, [c_char_p, c_char_p, c_int]),
    "tbx_index_load3": (c_void_p, [c_char_p, c_char_p, c_int]),
    "tbx_name2id": (c_int, [c_void_p, c_char_p]),
    "tbx_destroy": (None, [c_void_p]),
    "hts_idx_destroy": (None, [c_void_p]),
    "hts_itr_query": (c_void_p, [c_void_p, c_int, c_int64, c_int64, c_void_p]),
    "hts_itr_next": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p]),
    "hts_itr_destroy": (None, [c_void_p]),
}


@lru_cache(maxsize=1)
def lib() -> ctypes.CDLL:
    """pysam's htslib, with the signatures of the functions used here."""
    from pysam import libchtslib

    handle = ctypes.CDLL(libchtslib.__file__)
    for name, (restype, argtypes) in _SIGNATURES.items():
        func = getattr(handle, name)
        func.restype = restype
        func.argtypes = argtypes
    return handle


def htslib_version() -> str:
    return lib().hts_version().decode()


def readrec(name: str) -> c_void_p:
    """Address of an htslib `hts_readrec_func` (bcf_readrec, tbx_readrec) for iterators."""
    return ctypes.cast(getattr(lib(), name), c_void_p)


def bcf_head(rec: int) -> Bcf1Head:
    """A live view of a record's position fields (reads the C memory on each access)."""
    return Bcf1Head.from_address(rec)


def bgzf_head(bgzf: int) -> BgzfHead:
    return BgzfHead.from_address(bgzf)


def kstring_bytes(ks: KString) -> bytes:
    return ctypes.string_at(ks.s, ks.l) if ks.l else b""


class QuietLog:
    """Silence htslib's own stderr messages: errors are reported as one gfcli line."""

    def __enter__(self) -> QuietLog:
        self._level = lib().hts_get_log_level()
        lib().hts_set_log_level(HTS_LOG_OFF)
        return self

    def __exit__(self, *exc: object) -> None:
        lib().hts_set_log_level(self._level)


def capture_stderr(func) -> tuple[object, str]:
    """Run `func()` with fd 2 redirected to a temp file; return its result and the text."""
    import tempfile

    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            result = func()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return result, sink.read().decode(errors="replace")


def memfd(name: str) -> int:
    """An anonymous in-memory file, or an unlinked temp file where memfd is unavailable."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create(name)
        except OSError:
            pass
    import tempfile

    fd, path = tempfile.mkstemp(prefix="gfcli-")
    os.unlink(path)
    return fd


def fd_path(fd: int) -> bytes:
    return f"/proc/self/fd/{fd}".encode()


def read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    parts = []
    offset = 0
    while offset < size:
        data = os.pread(fd, size - offset, offset)
        if not data:
            break
        parts.append(data)
        offset += len(data)
    return b"".join(parts)
