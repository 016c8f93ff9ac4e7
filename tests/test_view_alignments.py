"""`gfcli view` on SAM/BAM/CRAM, differential against the samtools 1.24 that pysam bundles.

gfcli runs with --no-version and samtools with --no-PG wherever the header is compared,
since each adds its own @PG line (tested separately). BAM outputs are compared after
decompression: the compressor differs, the bytes it compresses must not.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

from gfcli import __version__
from gfcli.engine.alignments.header import add_pg
from tests.alignment_data import AlignmentFiles, make_alignment_files

# Small enough that the generated BAM (about 700 kB) is cut into a dozen offset chunks.
SMALL_CHUNKS = "20000"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> AlignmentFiles:
    return make_alignment_files(tmp_path_factory.mktemp("aln"))


def gfcli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
          check: bool = True) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "REF_PATH": "/nonexistent/%s", **(env or {})}
    full_env.pop("REF_CACHE", None)
    result = subprocess.run(["gfcli", "view", *args], capture_output=True, env=full_env,
                            input=stdin)
    if check:
        assert result.returncode == 0, result.stderr.decode()
    return result


def samtools(*args: str, tmp: Path) -> bytes:
    out = tmp / "samtools.out"
    pysam.samtools.view("-o", str(out), *args, catch_stdout=False)
    return out.read_bytes()


def inflate(data: bytes) -> bytes:
    return gzip.decompress(data)


# --------------------------------------------------------------------------- SAM text


@pytest.mark.parametrize(("which", "flags"), [
    *[("bam", f) for f in ([], ["-h"], ["-H"], ["--with-header"], ["--header-only"])],
    *[(w, ["-h"]) for w in ("sam", "cram", "bam_noindex", "bam_csi")],
    ("sam", ["-H"]),
    ("cram", []),
])
def test_sam_text_matches_samtools(data, tmp_path, flags, which):
    path = str(getattr(data, which))
    ref = ["--reference", str(data.fasta)] if which == "cram" else []
    ours = gfcli("--no-version", *flags, *ref, path).stdout
    theirs = samtools("--no-PG", *flags, *(["-T", str(data.fasta)] if ref else []), path,
                      tmp=tmp_path)
    assert ours == theirs


def test_empty_bam(data, tmp_path):
    assert gfcli("--no-version", str(data.empty_bam)).stdout == b""
    ours = gfcli("--no-version", "-h", str(data.empty_bam)).stdout
    assert ours == samtools("--no-PG", "-h", str(data.empty_bam), tmp=tmp_path)
    assert gfcli("-c", str(data.empty_bam)).stdout == b"0\n"
    out = tmp_path / "e.bam"
    gfcli("--no-version", "-o", str(out), str(data.empty_bam))
    theirs = samtools("--no-PG", "-b", str(data.empty_bam), tmp=tmp_path)
    assert inflate(out.read_bytes()) == inflate(theirs)


# --------------------------------------------------------------------------- BAM / CRAM output


@pytest.mark.parametrize("which", ["bam", "sam", "cram", "bam_noindex"])
def test_bam_output_matches_samtools(data, tmp_path, which):
    path = str(getattr(data, which))
    out = tmp_path / "out.bam"  # the type comes from the suffix
    gfcli("--no-version", "--reference", str(data.fasta), "-o", str(out), path)
    theirs = samtools("--no-PG", "-b", "-T", str(data.fasta), path, tmp=tmp_path)
    assert out.read_bytes()[-28:] == theirs[-28:]  # the BGZF EOF block
    assert inflate(out.read_bytes()) == inflate(theirs)


def test_cram_output_is_samtools_bytes(data, tmp_path, monkeypatch):
    # htslib writes the output's name into the CRAM file ID: give both the same name.
    for side in ("ours", "theirs"):
        (tmp_path / side).mkdir()
    monkeypatch.chdir(tmp_path / "theirs")
    pysam.samtools.view("--no-PG", "-C", "-T", str(data.fasta), "-o", "out.cram",
                        str(data.bam), catch_stdout=False)
    subprocess.run(["gfcli", "view", "--no-version", "-O", "cram", "--reference",
                    str(data.fasta), "-o", "out.cram", str(data.bam)],
                   cwd=tmp_path / "ours", check=True)
    assert (tmp_path / "ours/out.cram").read_bytes() == (tmp_path / "theirs/out.cram").read_bytes()


def test_stdin_to_stdout(data, tmp_path):
    bam = data.bam.read_bytes()
    ours = gfcli("--no-version", "-h", "-", stdin=bam).stdout
    assert ours == samtools("--no-PG", "-h", str(data.bam), tmp=tmp_path)
    sam = data.sam.read_bytes()
    ours_bam = gfcli("--no-version", "-O", "bam", stdin=sam).stdout
    assert inflate(ours_bam) == inflate(samtools("--no-PG", "-b", str(data.sam), tmp=tmp_path))
    ours_raw = gfcli("--no-version", "-O", "bam", "-", stdin=bam).stdout
    assert inflate(ours_raw) == inflate(samtools("--no-PG", "-b", str(data.bam), tmp=tmp_path))


# --------------------------------------------------------------------------- @PG


def test_pg_line_chains_like_samtools(data):
    out = gfcli("-H", str(data.bam)).stdout.decode().splitlines()
    pg = out[-2] if out[-1].startswith("@CO") else out[-1]
    assert pg.startswith(f"@PG\tID:gfcli\tPN:gfcli\tPP:markdup\tVN:{__version__}\tCL:gfcli view")
    assert pg.endswith(f"-H {data.bam}")


@pytest.mark.parametrize("chain", ["", "a", "a;b", "a;b=a;c", "x=y;y;z", "c;d=c;e=d;a;b=a",
                                   "gfcli;samtools=gfcli", "gfcli;gfcli.1"])
def test_pg_chain_ends_as_htslib(tmp_path, chain):
    lines = ["@HD\tVN:1.6", "@SQ\tSN:c\tLN:100"]
    for item in filter(None, chain.split(";")):
        ident, _, parent = item.partition("=")
        lines.append(f"@PG\tID:{ident}\tPN:{ident}" + (f"\tPP:{parent}" if parent else ""))
    lines.append("@CO\tlast")
    text = "".join(line + "\n" for line in lines)
    sam = tmp_path / "h.sam"
    sam.write_text(text)
    theirs = samtools("-H", str(sam), tmp=tmp_path).decode()
    ours = add_pg(text, "samtools", "1.24 (pysam)", "CL")
    # Same lines apart from the command line, which pysam's wrapper makes its own.
    strip = [line.rsplit("\tCL:", 1)[0] for line in theirs.splitlines()]
    assert strip == [line.rsplit("\tCL:", 1)[0] for line in ours.splitlines()]


# --------------------------------------------------------------------------- regions


REGION_CASES = [
    ["chr1:100-5000"],
    ["chr1:100-5000", "chr1:3000-8000"],  # overlapping: samtools repeats records
    ["chr2:1-1000", "chr1:100-500"],  # order as given
    ["chr1:150000"],  # beg to the end of the contig
    ["chr2"],
    ["*"],  # unplaced unmapped reads
    ["{HLA:A*01:01}:10-900"],
    ["chr1:199000-199990", "chrEmpty"],
]


@pytest.mark.parametrize(("which", "regions"), [
    *[(which, regions) for which in ("bam", "cram") for regions in REGION_CASES],
    ("bam_csi", REGION_CASES[1]),
    ("bam_csi", REGION_CASES[5]),
])
def test_regions_match_samtools(data, tmp_path, regions, which):
    path = str(getattr(data, which))
    ref = ["--reference", str(data.fasta)]
    ours = gfcli("--no-version", *ref, "-r", ",".join(regions), path).stdout
    theirs = samtools("--no-PG", "-T", str(data.fasta), path, *regions, tmp=tmp_path)
    assert ours == theirs
    if which != "bam_csi":
        count = gfcli("-c", *ref, "-r", ",".join(regions), path).stdout
        assert int(count) == theirs.count(b"\n")


def test_regions_to_bam(data, tmp_path):
    out = tmp_path / "r.bam"
    gfcli("--no-version", "-r", "chr1:100-5000,chr2", "-o", str(out), str(data.bam))
    theirs = samtools("--no-PG", "-b", str(data.bam), "chr1:100-5000", "chr2", tmp=tmp_path)
    assert inflate(out.read_bytes()) == inflate(theirs)


def test_regions_file_like_samtools_region_file(data, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("chr2\t0\t3000\nchr1\t1000\t5000\nchr1\t4000\t9000\nchr1\t20000\t20001\n")
    theirs = samtools("--no-PG", "--region-file", str(bed), str(data.bam), tmp=tmp_path)
    assert gfcli("--no-version", "-R", str(bed), str(data.bam)).stdout == theirs
    # The same regions 1-based in a TAB file that is not named .bed.
    tab = tmp_path / "r.txt"
    tab.write_text("chr2\t1\t3000\nchr1\t1001\t5000\nchr1\t4001\t9000\nchr1\t20001\n")
    assert gfcli("--no-version", "-R", str(tab), str(data.bam)).stdout == theirs


def test_regions_need_an_index(data):
    result = gfcli("-r", "chr1", str(data.bam_noindex), check=False)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "samtools index" in err and "Traceback" not in err


def test_unknown_region_warns_and_continues(data, tmp_path):
    result = gfcli("--no-version", "-r", "nochr,chr1:1-300", str(data.bam))
    assert b"nochr" in result.stderr
    assert result.stdout == samtools("--no-PG", str(data.bam), "chr1:1-300", tmp=tmp_path)


# --------------------------------------------------------------------------- targets


def test_targets_like_samtools_bed_filter(data, tmp_path):
    bed = tmp_path / "t.bed"
    bed.write_text("chr1\t1000\t5000\nchr2\t0\t300\nHLA:A*01:01\t10\t400\n")
    rejected = tmp_path / "rejected.sam"
    theirs = samtools("--no-PG", "-L", str(bed), "-U", str(rejected), str(data.bam),
                      tmp=tmp_path)
    text = "chr1:1001-5000,chr2:1-300,{HLA:A*01:01}:11-400"
    assert gfcli("--no-version", "-t", text, str(data.bam_noindex)).stdout == theirs
    assert gfcli("--no-version", "-T", str(bed), str(data.sam)).stdout == theirs
    excluded = gfcli("--no-version", "-t", "^" + text, str(data.bam)).stdout
    assert excluded == rejected.read_bytes()
    assert int(gfcli("-c", "-T", str(bed), str(data.bam)).stdout) == theirs.count(b"\n")
    out = tmp_path / "t.bam"
    gfcli("--no-version", "-T", str(bed), "-o", str(out), str(data.bam),
          env={"GFCLI_CHUNK_BYTES": SMALL_CHUNKS})
    assert inflate(out.read_bytes()) == inflate(
        samtools("--no-PG", "-b", "-L", str(bed), str(data.bam), tmp=tmp_path))


# --------------------------------------------------------------------------- counting


def test_count_matches_samtools(data, tmp_path):
    expected = samtools("-c", str(data.bam), tmp=tmp_path)
    for which in ("bam", "sam", "bam_noindex"):
        assert gfcli("-c", str(getattr(data, which))).stdout == expected
    assert gfcli("-c", "-@", "2", str(data.bam), env={"GFCLI_CHUNK_BYTES": SMALL_CHUNKS}
                 ).stdout == expected


def test_cram_count_needs_no_reference(data, tmp_path):
    # A CRAM whose reference is gone (its UR points at a deleted file, REF_PATH nowhere).
    gone = tmp_path / "gone"
    gone.mkdir()
    shutil.copy(data.fasta, gone / "ref.fa")
    cram = tmp_path / "noref.cram"
    pysam.samtools.view("--no-PG", "-C", "-T", str(gone / "ref.fa"), "-o", str(cram),
                        str(data.bam), catch_stdout=False)
    pysam.index(str(cram))
    shutil.rmtree(gone)
    expected = samtools("-c", str(data.bam), tmp=tmp_path)
    assert gfcli("-c", str(cram)).stdout == expected
    assert gfcli("-c", "-r", "chr1:100-5000", str(cram)).stdout == samtools(
        "-c", str(data.bam), "chr1:100-5000", tmp=tmp_path)
    failed = gfcli(str(cram), check=False)  # decoding sequences does need it
    assert failed.returncode == 1 and failed.stderr.decode().count("\n") == 1


# --------------------------------------------------------------------------- parallel chunks


@pytest.mark.parametrize("out_type", ["sam", "bam", "tsv", "cram"])
def test_threads_give_identical_output(data, tmp_path, out_type):
    env = {"GFCLI_CHUNK_BYTES": SMALL_CHUNKS}
    outputs = []
    for threads in ("1", "4"):
        out = tmp_path / f"o{threads}.{out_type}"
        gfcli("--no-version", "-h", "-@", threads, "-O", out_type, "--reference",
              str(data.fasta), "-o", str(out), str(data.bam), env=env)
        outputs.append(out.read_bytes())
    if out_type == "cram":
        # Bytes 6-26 are the CRAM file ID, which htslib takes from the output's name.
        outputs = [o[:6] + o[26:] for o in outputs]
    assert outputs[0] == outputs[1]
    if out_type == "sam":
        assert outputs[0] == samtools("--no-PG", "-h", str(data.bam), tmp=tmp_path)


def test_small_chunks_cover_the_file(data):
    from gfcli.engine.chunks import index_for, plan_offset_chunks

    chunks = plan_offset_chunks(str(data.bam), index_for(str(data.bam), str(data.bam) + ".bai"),
                                int(SMALL_CHUNKS))
    assert len(chunks) > 4
    assert chunks[-1].end is None  # the unplaced reads after the last indexed offset


# --------------------------------------------------------------------------- errors


def test_malformed_sam_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.sam"
    bad.write_text("@SQ\tSN:c\tLN:100\nr\t0\tc\t1\t0\t4M\t*\t0\t0\tACGT\t*\n"
                   "r2\t0\tc\t1\t0\t4M\t*\t0\t0\tACG\t*\n")
    out = tmp_path / "out.bam"
    result = gfcli("-o", str(out), str(bad), check=False)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}: line 3: malformed SAM record" in err
    assert not out.exists() and not list(tmp_path.glob(".out.bam*"))


def test_truncated_bam_is_an_error(data, tmp_path):
    cut = tmp_path / "cut.bam"
    cut.write_bytes(data.bam_noindex.read_bytes()[:300000])
    result = gfcli("-O", "bam", str(cut), check=False)
    assert result.returncode == 1
    assert result.stderr.decode().count("\n") == 1


# --------------------------------------------------------------------------- tables


def test_tables(data, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    sam = samtools(str(data.bam), tmp=tmp_path).decode().splitlines()
    tsv = gfcli("-O", "tsv", "--fields", "NM,MD", str(data.bam)).stdout.decode().splitlines()
    assert tsv[0].split("\t") == ["QNAME", "FLAG", "RNAME", "POS", "MAPQ", "CIGAR", "RNEXT",
                                  "PNEXT", "TLEN", "SEQ", "QUAL", "NM", "MD"]
    assert [line.split("\t")[:11] for line in tsv[1:]] == [line.split("\t")[:11] for line in sam]
    parquet = tmp_path / "t.parquet"
    gfcli("--fields", "NM,Bi", "-@", "2", "-o", str(parquet), str(data.bam),
          env={"GFCLI_CHUNK_BYTES": SMALL_CHUNKS})
    table = pq.read_table(parquet)
    assert table.num_rows == len(sam)
    assert table.column("POS").to_pylist() == [int(line.split("\t")[3]) for line in sam]
    assert table.schema.field("NM").type == pa.int64()
    assert table.schema.field("Bi").type == pa.list_(pa.int64())
    arrow = tmp_path / "t.arrow"
    gfcli("--fields", "NM,Bi", "-o", str(arrow), str(data.bam))
    assert pa.ipc.open_file(str(arrow)).read_all().equals(table)
    lines = gfcli("-O", "json", "-r", "chr2:1-2000", str(data.bam)).stdout.splitlines()
    assert len(lines) == samtools(str(data.bam), "chr2:1-2000", tmp=tmp_path).count(b"\n")


# --------------------------------------------------------------------------- SAM text kernel


def test_sam_text_kernel_floats_and_fallbacks(tmp_path):
    """BAM->SAM text from the numba kernel equals samtools on float tags of random bits
    (NaN signs, subnormals, infinities, exact rounding ties), B arrays of every subtype,
    a CIGAR of more than 65535 operations (kept in a CG tag) and '*' fields."""
    import array
    import random
    import struct

    rng = random.Random(17)

    def f32(bits: int) -> float:
        return struct.unpack("<f", struct.pack("<I", bits))[0]

    specials = [0.0, -0.0, 0.5, 123456.5, 28030050.0, 1e-5, 9.999995e-5, 999999.5, 1e6,
                float("inf"), -float("inf"), 1.401298464324817e-45, 3.4028234663852886e38]
    path = tmp_path / "floats.bam"
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "c1", "LN": 200000}, {"SN": "c2", "LN": 10}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(3000):
            rec = pysam.AlignedSegment()
            rec.query_name = f"q{i}"
            rec.flag = 4 if i % 3 else 0
            rec.reference_id = -1 if i % 3 else 0
            rec.reference_start = -1 if i % 3 else i
            if i % 3 == 0:
                rec.cigarstring = "5M"
                rec.query_sequence = "ACGTN"
                rec.query_qualities = array.array("B", [0, 10, 40, 93, 2])
                rec.next_reference_id = 1 if i % 2 else 0
                rec.next_reference_start = 3
                rec.template_length = -i
            value = specials[i % len(specials)] if i % 4 == 0 else f32(rng.getrandbits(32))
            rec.set_tag("XF", value, "f")
            rec.set_tag("BF", array.array("f", [f32(rng.getrandbits(32)) for _ in range(3)]))
            if i % 50 == 0:
                rec.set_tag("Bc", array.array("b", [-128, 0, 127]))
                rec.set_tag("BS", array.array("H", [0, 65535]))
                rec.set_tag("BI", array.array("I", []))
                rec.set_tag("Xc", -5, "c")
                rec.set_tag("XA", "Q", "A")
                rec.set_tag("XH", "AB12", "H")
            out.write(rec)
        long = pysam.AlignedSegment()
        long.query_name = "long"
        long.reference_id, long.reference_start, long.mapping_quality = 0, 100, 60
        long.cigartuples = [(0, 1), (1, 1)] * 35000
        long.query_sequence = "AC" * 35000
        long.set_tag("NM", 35000, "i")
        out.write(long)
    ours = gfcli("--no-version", str(path)).stdout
    assert ours == samtools("--no-PG", str(path), tmp=tmp_path)
    assert gfcli("--no-version", "-@", "2", str(path),
                 env={"GFCLI_NO_NATIVE": "1"}).stdout == ours
