"""gfcli's own VCF header reader (`stats.vcfheader`, the sites statistics' start-up) against
htslib's header as `variants.compute` reads it through pysam.

Each header is written as BGZF (pysam's bgzip, or blocks cut by hand so that the #CHROM
line ends a block or spans two), and then either `read_header` gives exactly what htslib
gives (samples, contigs by htslib id, INFO/FORMAT/FILTER types, first record offset) or it
declines (None) and the caller asks htslib. The cases it must decline are checked to
decline, the usual ones to be read, and `gfcli stats` on every case to equal bcftools
stats 1.24 (the fast path, or the fallback).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import uuid
import zlib

import pytest

pysam = pytest.importorskip("pysam")

from gfcli.engine.stats import vcfheader  # noqa: E402

FIXED = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
BASE = [
    "##fileformat=VCFv4.2",
    '##FILTER=<ID=q10,Description="Quality below 10">',
    "##contig=<ID=chr1,length=100000>",
    "##contig=<ID=chr2,length=100000>",
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">',
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count, per ALT">',
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
]
RECORDS = ["chr1\t10\t.\tA\tG\t50\tPASS\tDP=10;AC=1;AN=4",
           "chr1\t20\t.\tAT\tA\t.\tq10\tDP=7",
           "chr2\t30\trs1\tC\tT,G\t12.5\t.\tAC=1,1;AN=6"]


def _edit(drop: tuple[int, ...] = (), add: tuple[str, ...] = (),
          replace: dict[int, str] | None = None) -> list[str]:
    lines = [ln for i, ln in enumerate(BASE) if i not in drop]
    for i, text in (replace or {}).items():
        lines[i] = text
    return lines + list(add)


# (header lines, #CHROM line, records, read by gfcli?)
CASES = {
    "plain": (BASE, FIXED, RECORDS, True),
    "samples": (BASE, FIXED + "\tFORMAT\ts1\ts2",
                [r + "\tGT\t0/1\t1/1" for r in RECORDS], True),
    "explicit PASS": (_edit(add=('##FILTER=<ID=PASS,Description="All filters passed">',)),
                      FIXED, RECORDS, True),
    "PASS not first": (_edit(add=('##FILTER=<ID=PASS,Description="Passed">',)), FIXED,
                       RECORDS, True),
    "other meta lines": (_edit(add=("##reference=file:///ref.fa", "##source=test",
                                    '##ALT=<ID=DEL,Description="Deletion">',
                                    "##bcftools_viewCommand=view -h x.vcf; Date=now")),
                         FIXED, RECORDS, True),
    "float and string DP": (_edit(replace={4: '##INFO=<ID=DP,Number=1,Type=Float,'
                                              'Description="Depth">'}),
                            FIXED, RECORDS, True),
    "contig order": (_edit(replace={2: "##contig=<ID=chr2,length=100000>",
                                    3: "##contig=<ID=chr1,length=100000>"}),
                     FIXED, RECORDS, True),
    "contig extra keys": (_edit(replace={2: "##contig=<ID=chr1,length=100000,assembly=b37,"
                                            "md5=0123abcd>"}), FIXED, RECORDS, True),
    "many contigs": (_edit(add=tuple(f"##contig=<ID=scaffold_{i},length={1000 + i}>"
                                     for i in range(3000))), FIXED, RECORDS, True),
    "same ID in INFO and FORMAT": (_edit(add=('##FORMAT=<ID=DP,Number=1,Type=Integer,'
                                              'Description="Depth">',)),
                                   FIXED, RECORDS, True),
    # declined: htslib reads them, gfcli leaves them to it
    "no contig lines": (_edit(drop=(2, 3)), FIXED, RECORDS, False),
    "IDX attribute": (_edit(replace={2: "##contig=<ID=chr1,length=100000,IDX=5>"}), FIXED,
                      RECORDS, False),
    "duplicate contig": (_edit(add=("##contig=<ID=chr1,length=5>",)), FIXED, RECORDS,
                         False),
    "duplicate INFO": (_edit(add=('##INFO=<ID=DP,Number=1,Type=Float,'
                                  'Description="again">',)), FIXED, RECORDS, False),
    "quoted comma key in description": (
        _edit(replace={4: '##INFO=<ID=DP,Number=1,Description="x, Type=Float",'
                          'Type=Integer>'}), FIXED, RECORDS, True),
    "escaped quote": (_edit(replace={4: '##INFO=<ID=DP,Number=1,Type=Integer,'
                                        'Description="a \\"b, c\\"">'}), FIXED, RECORDS,
                      True),
    "type last": (_edit(replace={4: "##INFO=<ID=DP,Number=1,Type=Integer>"}), FIXED,
                  RECORDS, True),
    "quoted ID": (_edit(replace={4: '##INFO=<ID="DP",Number=1,Type=Integer>'}), FIXED,
                  RECORDS, False),
    "trailing comma": (_edit(replace={4: "##INFO=<ID=DP,Number=1,Type=Integer,>"}), FIXED,
                       RECORDS, False),
    "unclosed quote": (_edit(replace={4: '##INFO=<ID=DP,Number=1,Type=Integer,'
                                         'Description="abc>'}), FIXED, RECORDS, False),
    "first line not fileformat": (_edit(drop=(0,), add=("##fileformat=VCFv4.2",)), FIXED,
                                  RECORDS, False),
    "unknown type": (_edit(replace={4: '##INFO=<ID=DP,Number=1,Type=Int,'
                                       'Description="x">'}), FIXED, RECORDS, False),
    "FORMAT without samples": (BASE, FIXED + "\tFORMAT", RECORDS, False),
    "duplicate samples": (BASE, FIXED + "\tFORMAT\ts1\ts1",
                          [r + "\tGT\t0/1\t1/1" for r in RECORDS], False),
    "lowercase info key": (_edit(add=('##info=<ID=XX,Number=1,Type=Integer,'
                                      'Description="x">',)), FIXED, RECORDS, False),
}


REFUSED = ("FORMAT without samples", "duplicate samples", "first line not fileformat")


def _bgzf_block(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = comp.compress(data) + comp.flush()
    bsize = 18 + len(payload) + 8 - 1
    head = struct.pack("<4BIBBHBBHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, bsize)
    return head + payload + struct.pack("<II", zlib.crc32(data), len(data))


EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _write(path: str, header: list[str], chrom: str, records: list[str],
           cut: str = "bgzip") -> str:
    """The VCF as BGZF: bgzip's blocks (and a tabix index), or blocks cut by hand:
    'at_end' ends a block with the #CHROM line's newline, 'in_chrom' cuts inside it."""
    head = "\n".join([*header, chrom]) + "\n"
    body = "".join(r + "\n" for r in records)
    if cut == "bgzip":
        plain = path[:-3]
        with open(plain, "w") as handle:
            handle.write(head + body)
        pysam.tabix_compress(plain, path, force=True)
        pysam.tabix_index(path, preset="vcf", force=True)
        return path
    data = (head + body).encode()
    split = len(head) if cut == "at_end" else len(head) - 5
    pieces = [data[:split // 2], data[split // 2:split], data[split:]]
    with open(path, "wb") as handle:
        handle.write(b"".join(_bgzf_block(p) for p in pieces if p) + EOF_BLOCK)
    return path


def _htslib(path: str) -> tuple[int, tuple[str, ...], dict, int]:
    """What variants.compute reads from htslib's header."""
    from gfcli.engine import source
    from gfcli.engine.stats import variants
    from gfcli.engine.variants import view as vview

    inp = source.open_input(path)
    settings = vview.Settings(path=inp.name, display=inp.display, input_format=inp.format,
                              index=inp.index, text_output=True, is_stream=False,
                              run=uuid.uuid4().hex)
    probe = vview._state(settings)
    try:
        samples = probe.sample_names()
        probe._load_contig_names()
        names = probe._contig_names
        contigs = tuple(names.get(i, "") for i in range(max(names) + 1)) if names else ()
        return len(samples), contigs, variants._header_info(probe), probe.after_header
    finally:
        probe.close()
        del vview._STATES[settings]


@pytest.mark.parametrize("cut", ["bgzip", "at_end", "in_chrom"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_header_as_htslib(tmp_path, case, cut):
    header, chrom, records, read = CASES[case]
    path = _write(str(tmp_path / "h.vcf.gz"), header, chrom, records, cut)
    got = vcfheader.read_header(path)
    assert (got is not None) == read
    if got is not None:
        want = _htslib(path)
        assert (got.n_samples, got.contigs, got.defs, got.after_header) == want


def test_header_ends_in_later_block(tmp_path):
    """A header longer than one block: the first record's offset is in a later block."""
    header = _edit(add=tuple(f"##contig=<ID=c{i},length=10>" for i in range(6000)))
    path = _write(str(tmp_path / "long.vcf.gz"), header, FIXED, RECORDS)
    got = vcfheader.read_header(path)
    assert got is not None and got.after_header >> 16 > 0
    assert (got.n_samples, got.contigs, got.defs, got.after_header) == _htslib(path)


def test_not_bgzf(tmp_path):
    path = tmp_path / "x.vcf.gz"
    path.write_bytes(zlib.compress(b"##fileformat=VCFv4.2\n"))
    assert vcfheader.read_header(str(path)) is None
    empty = tmp_path / "empty.vcf.gz"
    empty.write_bytes(b"")
    assert vcfheader.read_header(str(empty)) is None


def _stats(*args: str, env: dict | None = None, gfcli: bool = True) -> list[str] | None:
    """The report without its provenance lines; None when the tool refuses the file."""
    if gfcli:
        cmd = [sys.executable, "-m", "gfcli", "stats", *args]
    else:
        cmd = [sys.executable, "-c", "import sys\nfrom pysam import bcftools\n"
               "sys.stdout.write(bcftools.stats(*sys.argv[1:]))\n", *args]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={**os.environ, **(env or {})})
    if run.returncode != 0:
        return None
    return [ln for ln in run.stdout.splitlines()[2:] if not ln.startswith("ID\t")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_stats_equal_bcftools(tmp_path, case):
    header, chrom, records, _ = CASES[case]
    path = _write(str(tmp_path / "s.vcf.gz"), header, chrom, records, "at_end")
    want = _stats(path, gfcli=False)
    # htslib refuses these headers: gfcli must too
    assert (want is None) == (case in REFUSED)
    assert _stats("-@", "2", path) == want
    assert _stats(path) == want


def test_index_names_contig_missing_from_header(tmp_path):
    """htslib adds the contigs a tabix index names and the header does not: such a file
    is left to htslib's header (same counts, same per-contig extras)."""
    header = _edit(drop=(3,))  # chr2 is not declared; RECORDS has chr2
    path = _write(str(tmp_path / "idx.vcf.gz"), header, FIXED, RECORDS)
    assert vcfheader.read_header(path) is not None  # the header alone is fine
    assert _stats("-@", "2", path) == _stats(path, gfcli=False)
    fast = subprocess.run([sys.executable, "-m", "gfcli", "stats", "-O", "json", path],
                          capture_output=True, text=True, check=True).stdout
    slow = subprocess.run([sys.executable, "-m", "gfcli", "stats", "-O", "json", path],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "GFCLI_STATS_SITES_TEXT": "0"}).stdout
    assert fast == slow
