"""gfcli's own BCF header reader (`vcfheader.read_bcf_header`, the cohort statistics'
start-up with -@ N) against htslib's header as `variants._compute` reads it through pysam:
samples, contigs by id, INFO/FORMAT/FILTER types, the first record's virtual offset and,
for every ID, htslib's BCF_DT_ID dictionary index (`bcf_hdr_id2int`), which the kernels
use to find INFO and FORMAT fields.

Headers come from bcftools (every dictionary line with IDX=), by hand (no IDX=, IDX= with
gaps, in other orders, cut into BGZF blocks anywhere) and from a seeded generator. Either
the reader gives exactly htslib's answer or it declines (None) and the caller asks htslib;
the unusual cases are checked to decline, and `gfcli stats -@2` on the bcftools-written
files to equal bcftools stats 1.24.
"""

from __future__ import annotations

import os
import random
import struct
import sys

import pytest

pysam = pytest.importorskip("pysam")

sys.path.insert(0, os.path.dirname(__file__))
import test_vcf_header as tv  # noqa: E402

from gfcli.engine.stats import vcfheader  # noqa: E402

NAMES = ("PASS", "DP", "AC", "AN", "GT", "AD", "GQ", "q10", "LowQual", "END", "SVTYPE",
         "NOPE", "af")


def _htslib(path: str, names: set[str]) -> tuple:
    """What variants._compute reads from htslib's header (test_vcf_header's probe), the
    sample names and htslib's ID indexes (pysam's header records' ids)."""
    n_samples, contigs, defs, after_header = tv._htslib(path)
    with pysam.VariantFile(path) as vf:
        header = vf.header
        samples = tuple(header.samples)
        ids = {}
        for name in names:
            found = [table[name].id for table in (header.filters, header.info, header.formats)
                     if name in table]
            ids[name] = found[0] if found else -1
    assert len(samples) == n_samples
    return samples, contigs, defs, after_header, ids


def _ours(path: str, names: set[str]) -> tuple | None:
    got = vcfheader.read_bcf_header(path)
    if got is None:
        return None
    return (got.samples, got.contigs, got.defs, got.after_header,
            {n: got.hid(n) for n in names})


def _names(lines: list[str]) -> set[str]:
    out = set(NAMES)
    for line in lines:
        if line.startswith("##") and "ID=" in line:
            out.add(line.split("ID=", 1)[1].split(",")[0].split(">")[0])
    return out


def _check(path: str, lines: list[str], read: bool | None) -> bool:
    """The reader's answer equals htslib's (or it declines); `read`: it must (not)."""
    names = _names(lines)
    got = _ours(path, names)
    if read is not None:
        assert (got is not None) == read, path
    if got is not None:
        assert got == _htslib(path, names)
    return got is not None


def _write_bcf(path: str, lines: list[str], chrom: str, cuts: tuple[float, ...] = (),
               tail: bytes = b"\0") -> str:
    """A BCF holding only a header: `BCF\\2\\2`, l_text, the text (and `tail`), in BGZF
    blocks cut at these fractions of the uncompressed bytes."""
    text = ("\n".join([*lines, chrom]) + "\n").encode() + tail
    data = b"BCF\2\2" + struct.pack("<I", len(text)) + text
    points = sorted({0, *(int(len(data) * c) for c in cuts), len(data)})
    with open(path, "wb") as handle:
        for a, b in zip(points[:-1], points[1:], strict=True):
            handle.write(tv._bgzf_block(data[a:b]))
        handle.write(tv.EOF_BLOCK)
    return path


# -- bcftools-written BCFs (IDX= on every dictionary line) ---------------------------

USUAL = [case for case, (_, _, _, read) in tv.CASES.items() if read]
# bcftools cannot write a BCF of these (records using a tag the header lacks)
UNWRITABLE = ("quoted ID", "trailing comma")
HTSLIB_TAKES = [case for case in tv.CASES if case not in tv.REFUSED + UNWRITABLE]


@pytest.mark.parametrize("case", HTSLIB_TAKES)
def test_bcftools_written(tmp_path, case):
    from pysam import bcftools

    header, chrom, records, _ = tv.CASES[case]
    vcf = tv._write(str(tmp_path / "h.vcf.gz"), header, chrom, records)
    bcf = str(tmp_path / "h.bcf")
    bcftools.view("--no-version", "-Ob", "-o", bcf, vcf, catch_stdout=False)
    with open(bcf, "rb") as handle:
        import gzip

        text = gzip.GzipFile(fileobj=handle).read(1 << 20)
    lines = text[9:].split(b"\0")[0].decode().splitlines()
    assert any("IDX=" in ln for ln in lines)
    _check(bcf, lines[:-1], True if case in USUAL else None)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    import test_stats_cohort_fast as cf
    import variant_data as vd

    d = tmp_path_factory.mktemp("bcf_header")
    plain = vd.write_vcf(str(d / "c.vcf"), cf._cohort(17, 2500, 12, "mixed"))
    return vd.to_bcf(plain, str(d / "c.bcf"))


def _strip_idx(src: str, dst: str) -> None:
    """A copy whose header has no IDX= (the same IDs in the same order: htslib gives
    them the same indexes), records as they were."""
    import re

    from gfcli.engine import bgzf

    data = open(src, "rb").read()
    src_map = bgzf.map_file(src)
    inflater = bgzf.Inflater(src_map)
    import numpy as np

    buf = np.empty(1 << 17, np.uint8)
    raw = bytearray()
    at = 0
    while at < len(data):
        total = bgzf.block_size(src_map, at)
        isize = bgzf.block_isize(src_map, at, total)
        inflater.inflate_into(at, total, buf, 0, buf.ctypes.data)
        raw += bytes(buf[:isize])
        at += total
    n = struct.unpack_from("<I", raw, 5)[0]
    text = re.sub(rb",IDX=\d+>", b">", bytes(raw[9:9 + n]))
    out = b"BCF\2\2" + struct.pack("<I", len(text)) + text + bytes(raw[9 + n:])
    with open(dst, "wb") as handle:
        for k in range(0, len(out), 60000):
            handle.write(tv._bgzf_block(out[k:k + 60000]))
        handle.write(tv.EOF_BLOCK)


def test_stats_equal_bcftools(cohort, tmp_path, monkeypatch):
    """The fast path (`_cohort_fast`: header read here, workers forked first) on a
    bcftools-written BCF and on a copy without IDX=: the same report as htslib's header
    path and as bcftools."""
    from pysam import bcftools

    from gfcli.engine import chunks as chunking
    from gfcli.engine.source import open_input
    from gfcli.engine.stats import variants
    from gfcli.engine.stats.base import StatsRequest

    bare = str(tmp_path / "bare.bcf")
    _strip_idx(cohort, bare)
    bcftools.index("-f", bare, catch_stdout=False)
    assert vcfheader.read_bcf_header(bare).ids == vcfheader.read_bcf_header(cohort).ids
    monkeypatch.setattr(chunking, "TARGET_CHUNK_BYTES", 6000)
    monkeypatch.setattr(variants, "OFFSET_CHUNKS", 1 << 40)
    for path in (cohort, bare):
        for opts in ({"samples": "-"}, {"samples": "S3,S1"}, {"apply_filters": "PASS,."},
                     {}):
            req = StatsRequest(inputs=[path], threads=2, **opts).resolve("variants")
            fast = variants._cohort_fast(req, open_input(path))
            assert fast is not None
            slow = variants._compute(req, open_input(path))
            assert fast.render_text(req) == slow.render_text(req), (path, opts)
            assert fast.to_json() == slow.to_json()
        want = tv._stats("-s", "-", path, gfcli=False)
        assert tv._stats("-@", "2", "-s", "-", path, env={"GFCLI_CHUNK_BYTES": "6000"}) \
            == want


# -- hand-made headers ----------------------------------------------------------------

def _idx(line: str, k: int) -> str:
    return line[:-1] + f",IDX={k}>"


B = tv.BASE  # fileformat, FILTER q10, contig chr1, chr2, INFO DP AC AN, FORMAT GT
SAMPLES = tv.FIXED + "\tFORMAT\ts1\ts2"
FMT_DP = '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">'
PASS = '##FILTER=<ID=PASS,Description="All filters passed">'

HAND = {
    "no IDX": (B, True),
    "no IDX, PASS late": ([*B, PASS], True),
    "no IDX, PASS first": ([B[0], PASS, *B[1:]], True),
    "no IDX, INFO before FILTER": ([B[0], *B[4:7], B[1], *B[2:4], B[7]], True),
    "no IDX, shared DP": ([*B, FMT_DP], True),
    "IDX in order": ([B[0], _idx(PASS, 0), _idx(B[1], 1), _idx(B[2], 0), _idx(B[3], 1),
                      _idx(B[4], 2), _idx(B[5], 3), _idx(B[6], 4), _idx(B[7], 5),
                      _idx(FMT_DP, 2)], True),
    "IDX with gaps and shuffled": ([B[0], _idx(B[1], 9), _idx(B[2], 0), _idx(B[3], 1),
                                    _idx(B[4], 4), _idx(B[5], 2), _idx(B[6], 17),
                                    _idx(B[7], 3)], True),
    "IDX, no PASS line": ([B[0], _idx(B[1], 1), _idx(B[2], 0), _idx(B[3], 1),
                           _idx(B[4], 2), _idx(B[5], 3), _idx(B[6], 4), _idx(B[7], 5)],
                          True),
    # declined
    "IDX on some lines": ([B[0], _idx(B[1], 1), *B[2:]], False),
    "IDX shared by two IDs": ([B[0], _idx(B[1], 1), _idx(B[2], 0), _idx(B[3], 1),
                               _idx(B[4], 2), _idx(B[5], 2), _idx(B[6], 4), _idx(B[7], 5)],
                              False),
    "one ID, two IDX": ([B[0], _idx(B[1], 1), _idx(B[2], 0), _idx(B[3], 1), _idx(B[4], 2),
                         _idx(B[5], 3), _idx(B[6], 4), _idx(B[7], 5), _idx(FMT_DP, 6)],
                        False),
    "PASS IDX not 0": ([B[0], _idx(PASS, 3), _idx(B[1], 1), _idx(B[2], 0), _idx(B[3], 1),
                        _idx(B[4], 2), _idx(B[5], 4), _idx(B[6], 5), _idx(B[7], 6)], False),
    "IDX 0 not PASS": ([B[0], _idx(B[1], 0), _idx(B[2], 0), _idx(B[3], 1), _idx(B[4], 2),
                        _idx(B[5], 3), _idx(B[6], 4), _idx(B[7], 5)], False),
    "contig IDX out of order": ([B[0], _idx(B[1], 1), _idx(B[2], 1), _idx(B[3], 0),
                                 _idx(B[4], 2), _idx(B[5], 3), _idx(B[6], 4),
                                 _idx(B[7], 5)], False),
    "IDX not a number": ([B[0], B[1][:-1] + ",IDX=x>", *B[2:]], False),
    "no contig lines": ([ln for ln in B if "contig" not in ln], False),
}


@pytest.mark.parametrize("case", sorted(HAND))
@pytest.mark.parametrize("cuts", [(), (0.003,), (0.5,), (0.2, 0.9999)])
def test_hand_made(tmp_path, case, cuts):
    lines, read = HAND[case]
    for chrom in (tv.FIXED, SAMPLES):
        path = _write_bcf(str(tmp_path / "h.bcf"), lines, chrom, cuts)
        _check(path, lines, read)


def test_header_ending_a_block(tmp_path):
    """The header's last byte ends a block: the first record is at the next block (as
    htslib's reader moves on), whether or not a record follows."""
    path = _write_bcf(str(tmp_path / "end.bcf"), B, SAMPLES, (0.999999,))
    got = vcfheader.read_bcf_header(path)
    assert got is not None and got.after_header & 0xFFFF == 0 and got.after_header
    _check(path, B, True)


def test_declined_files(tmp_path):
    assert _check(_write_bcf(str(tmp_path / "a.bcf"), B, SAMPLES, tail=b"\0\0\0"), B,
                  True)  # more NULs: the same text
    assert not _check(_write_bcf(str(tmp_path / "b.bcf"), B, SAMPLES + "\n##late=1"), B,
                      None)
    # no NUL after the text: htslib reads it all the same
    assert _check(_write_bcf(str(tmp_path / "c.bcf"), B, SAMPLES, tail=b""), B, True)
    vcf = tv._write(str(tmp_path / "d.vcf.gz"), B, tv.FIXED, tv.RECORDS)
    assert vcfheader.read_bcf_header(vcf) is None  # BGZF, but not BCF
    with open(tmp_path / "e.bcf", "wb") as handle:
        handle.write(b"BCF\2\2")
    assert vcfheader.read_bcf_header(str(tmp_path / "e.bcf")) is None
    (tmp_path / "f.bcf").write_bytes(b"")
    assert vcfheader.read_bcf_header(str(tmp_path / "f.bcf")) is None


def _random_header(rng: random.Random) -> tuple[list[str], str]:
    """Dictionary lines of random kinds and IDs, in a random order, with no IDX=, a
    consistent random IDX= on every line, or (rarely) a damaged IDX= assignment."""
    pool = ["DP", "AC", "AN", "GT", "AD", "GQ", "PASS", "q10", "LowQual", "X1", "X2", "X3",
            "END", "SB", "PL"]
    entries = []
    seen = set()
    for _ in range(rng.randint(1, 14)):
        kind = rng.choice(["INFO", "FORMAT", "FILTER"])
        ident = rng.choice(pool)
        if (kind, ident) in seen or (ident == "PASS" and kind != "FILTER"):
            continue
        seen.add((kind, ident))
        entries.append((kind, ident))
    contigs = [f"c{i}" for i in range(rng.randint(1, 4))]
    mode = rng.choice(["none", "none", "idx", "idx", "idx", "broken"])
    ids: dict[str, int] = {"PASS": 0}
    free = list(range(1, 40))
    rng.shuffle(free)
    for _, ident in entries:
        if ident not in ids:
            ids[ident] = free.pop()
    lines = []
    for kind, ident in entries:
        if kind == "FILTER":
            body = f'ID={ident},Description="f {ident}"'
        else:
            typ = rng.choice(["Integer", "Float", "String"] + (["Flag"] if kind == "INFO"
                                                                else []))
            num = "0" if typ == "Flag" else rng.choice(["1", "A", "R", "G", "."])
            body = f'ID={ident},Number={num},Type={typ},Description="d"'
        k = ids[ident]
        if mode == "broken" and rng.random() < 0.3:
            k = rng.randint(0, 5)
        lines.append(f"##{kind}=<{body}" + (f",IDX={k}>" if mode != "none" else ">"))
    ctg = [f"##contig=<ID={c},length=1000" + (f",IDX={i}>" if mode != "none" else ">")
           for i, c in enumerate(contigs)]
    body_lines = lines + ctg
    rng.shuffle(body_lines)
    chrom = rng.choice([tv.FIXED, SAMPLES])
    return ["##fileformat=VCFv4.2", *body_lines], chrom


def test_random_headers(tmp_path):
    rng = random.Random(20261122)
    read = 0
    n = 150
    for k in range(n):
        lines, chrom = _random_header(rng)
        cuts = (rng.random(),) if rng.random() < 0.5 else ()
        path = _write_bcf(str(tmp_path / f"r{k}.bcf"), lines, chrom, cuts)
        read += _check(path, lines, None)
    assert read > n // 2  # most are read (and equal htslib's), not declined
