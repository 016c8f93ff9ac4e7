"""`gfcli stats` on alignments against samtools stats 1.24 (pysam's), option by option.

Two generated BAMs: the shared alignment test set (proper pairs, unmapped mates, every flag
class and CIGAR operation, missing qualities) and a second one made here with what the
first lacks: every pair orientation, mates on other sequences, single-end reads, N bases,
`=` bases, NM of several integer types, unsorted order in a copy, and reads of 300+ bases
that make samtools resize its buffers. Every comparison is of the whole text except the
three comment lines that name the program and command line.
"""

from __future__ import annotations

import array
import json
import random
import sys
from pathlib import Path

import pysam
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alignment_data import make_alignment_files  # noqa: E402

from gfcli.engine.source import open_input  # noqa: E402
from gfcli.engine.stats import alignments  # noqa: E402
from gfcli.engine.stats._aln_state import AlnStats  # noqa: E402
from gfcli.engine.stats.base import StatsRequest  # noqa: E402


def _body(text: str) -> list[str]:
    lines = text.splitlines()
    skip = ("# This file was produced", "# This file contains", "# The command line")
    return [line for line in lines if not line.startswith(skip)]


def _ours(path, threads=1, **kw) -> str:
    req = StatsRequest(inputs=[str(path)], threads=threads, **kw).resolve("alignments")
    return alignments.compute(req, open_input(str(path))).render_text(req)


def _samtools(path, *args) -> str:
    return pysam.samtools.stats(*args, str(path))


def _assert_same(ours: str, ref: str) -> None:
    a, b = _body(ours), _body(ref)
    if a != b:
        import difflib

        diff = list(difflib.unified_diff(b, a, "samtools", "gfcli", lineterm="", n=0))
        raise AssertionError("\n".join(diff[:40]))


def _odd_records(header, rng: random.Random, n: int, long_reads: bool):
    recs = []
    for i in range(n):
        tid = rng.randrange(2)
        length = rng.choice([60, 75, 101]) if not long_reads or rng.random() < 0.9 else \
            rng.randint(300, 420)
        seq = "".join(rng.choice("ACGTN" if rng.random() < 0.05 else "ACGT")
                      for _ in range(length))
        if rng.random() < 0.02:
            seq = "=" * 3 + seq[3:]
        rec = pysam.AlignedSegment(header)
        rec.query_name = f"odd{i:05d}"
        rec.query_sequence = seq
        rec.query_qualities = array.array("B", [rng.randint(0, 41) for _ in range(length)])
        rec.reference_id = tid
        rec.reference_start = rng.randint(0, 180000 if tid == 0 else 110000)
        rec.mapping_quality = rng.choice([0, 0, 1, 20, 37, 60, 255])
        kind = rng.random()
        if kind < 0.2:
            a = rng.randint(3, length - 10)
            rec.cigartuples = [(0, a), (2, rng.randint(1, 4)), (1, 3), (0, length - a - 3)]
        elif kind < 0.3:
            rec.cigartuples = [(4, 5), (0, length - 10), (4, 5)]
        else:
            rec.cigartuples = [(0, length)]
        flag = 0
        r = rng.random()
        if r < 0.75:
            flag |= 0x1 | (0x40 if rng.random() < 0.5 else 0x80)
            if rng.random() < 0.02:
                flag |= 0xC0
            if rng.random() < 0.5:
                flag |= 0x10
            if rng.random() < 0.5:
                flag |= 0x20
            if rng.random() < 0.6:
                flag |= 0x2
            rec.next_reference_id = tid if rng.random() < 0.85 else 1 - tid
            rec.next_reference_start = max(0, rec.reference_start + rng.randint(-600, 600))
            rec.template_length = rng.choice([1, -1]) * rng.randint(0, 9000)
            if rng.random() < 0.05:
                flag |= 0x8
        if rng.random() < 0.04:
            flag |= 0x4
        if rng.random() < 0.05:
            flag |= 0x400
        if rng.random() < 0.03:
            flag |= 0x200
        rec.flag = flag
        nm = rng.randint(0, 300)
        rec.set_tag("NM", nm, rng.choice(["i", "C", "s", "S"]) if nm < 128 else "i")
        recs.append(rec)
    return recs


def _write_bam(path: Path, header, recs, sort: bool) -> Path:
    if sort:
        recs = sorted(recs, key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for rec in recs:
            out.write(rec)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("alnstats")
    files = make_alignment_files(d, n_pairs=2500)
    header = pysam.AlignmentHeader.from_dict({
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": "chr1", "LN": 200000}, {"SN": "chr2", "LN": 120000}],
    })
    rng = random.Random(11)
    odd = _write_bam(d / "odd.bam", header, _odd_records(header, rng, 6000, False), True)
    pysam.index(str(odd))
    unsorted = _write_bam(d / "unsorted.bam", header, _odd_records(header, rng, 3000, False),
                          False)
    longr = _write_bam(d / "long.bam", header, _odd_records(header, rng, 3000, True), True)
    targets = d / "targets.txt"
    targets.write_text("# chr from to\nchr1\t1000\t50000\nchr1\t40000\t60000\n"
                       "chr2\t500\t90000\nchrNone\t1\t10\nHLA:A*01:01\t1\t3000\n")
    return {"files": files, "odd": odd, "unsorted": unsorted, "long": longr,
            "targets": targets, "dir": d}


def test_default_matches_samtools(data):
    _assert_same(_ours(data["files"].bam), _samtools(data["files"].bam))


@pytest.mark.parametrize("name", ["odd", "long"])
def test_odd_files_match_samtools(data, name):
    _assert_same(_ours(data[name]), _samtools(data[name]))


def test_unsorted_matches_samtools_as_far_as_it_prints(data):
    """samtools stats 1.24 stops part-way through its output on this unsorted file (the
    text ends after the IC section, with exit status 0 through pysam): compare what it
    printed."""
    ref = _body(_samtools(data["unsorted"]))
    ours = _body(_ours(data["unsorted"]))
    assert "SN\tis sorted:\t0\t# not sorted by coordinate" in ours
    assert ours[: len(ref)] == ref


@pytest.mark.parametrize("kw,args", [
    ({"required_flag": 0x40}, ["-f", "0x40"]),
    ({"filtering_flag": 0x400}, ["-F", "0x400"]),
    ({"filtering_flag": 0x904, "required_flag": 0x1}, ["-F", "0x904", "-f", "1"]),
    ({"ambiguous": {"-f": "PAIRED,READ2"}}, ["-f", "PAIRED,READ2"]),
])
def test_flag_filters(data, kw, args):
    for path in (data["files"].bam, data["odd"]):
        _assert_same(_ours(path, **kw), _samtools(path, *args))


def test_reference_gcd_and_mismatches(data):
    ref = str(data["files"].fasta)
    _assert_same(_ours(data["files"].bam, reference=ref), _samtools(data["files"].bam, "-r", ref))


def test_targets(data):
    t = str(data["targets"])
    for path in (data["files"].bam, data["odd"]):
        _assert_same(_ours(path, target_regions=t), _samtools(path, "-t", t))


def test_more_samtools_options(data):
    """Options the command may expose later, read by name from the request."""
    path = data["odd"]
    cases = [
        ({"trim_quality": 20}, ["-q", "20"]),
        ({"coverage": "2,50,3"}, ["-c", "2,50,3"]),
        ({"insert_size": 500, "most_inserts": 0.5}, ["-i", "500", "-m", "0.5"]),
        ({"gc_depth": 5000}, ["--GC-depth", "5000"]),
        ({"read_length": 75}, ["-l", "75"]),
        ({"remove_dups": True, "sparse": True}, ["-d", "-x"]),
    ]
    for extra, args in cases:
        req = StatsRequest(inputs=[str(path)]).resolve("alignments")
        for key, value in extra.items():
            setattr(req, key, value)
        text = alignments.compute(req, open_input(str(path))).render_text(req)
        _assert_same(text, _samtools(path, *args))


def test_sam_and_cram_through_pysam(data):
    files = data["files"]
    ref = _samtools(files.bam)
    _assert_same(_ours(files.sam), ref)
    cram_ref = _samtools(files.cram, "-r", str(files.fasta))
    _assert_same(_ours(files.cram, reference=str(files.fasta)), cram_ref)


@pytest.mark.parametrize("name", ["bam", "odd", "long", "unsorted"])
def test_threads_equal_one_pass(data, name, monkeypatch):
    import gfcli.engine.chunks as chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 40000)
    path = data["files"].bam if name == "bam" else data[name]
    one = _ours(path, threads=1)
    assert _ours(path, threads=2) == one
    ref = str(data["files"].fasta)
    if name == "bam":
        assert _ours(path, threads=2, reference=ref) == _ours(path, threads=1, reference=ref)


def _chunk_partials(path, settings, target):
    from gfcli.engine.bam import reader

    header = reader.read_header_from_path(str(path))
    task = alignments._ChunkTask(settings, header.names, header.lengths, header.first_record)
    chunks = reader.plan_chunks(str(path), header, None, target=target)
    parts = [task(chunk) for chunk in chunks]
    assert reader.stitch_ok([span for _, span in parts])
    return [acc for acc, _ in parts]


@pytest.mark.parametrize("with_ref", [False, True])
def test_shards_through_json_merge_exactly(data, with_ref):
    path = data["files"].bam
    kw = {"reference": str(data["files"].fasta)} if with_ref else {}
    req = StatsRequest(inputs=[str(path)], **kw).resolve("alignments")
    settings = alignments.settings_from_request(req)
    parts = _chunk_partials(path, settings, 30000)
    assert len(parts) > 5
    assert any(p.gcd_head is not None for p in parts)
    merged = None
    for part in parts:
        back = alignments.from_json(json.loads(json.dumps(part.to_json())))
        if merged is None:
            merged = back
        else:
            merged += back
    assert not merged.inexact
    one = alignments.compute(req, open_input(str(path)))
    assert merged.render_text(req) == one.render_text(req)
    again = AlnStats.from_json(json.loads(json.dumps(merged.to_json())))
    assert again.to_json() == merged.to_json()
    assert one.to_json()["summary"]["mapped_reads_per_sequence"]["chr1"] > 0


def test_empty_bam(data):
    _assert_same(_ours(data["files"].empty_bam), _samtools(data["files"].empty_bam))
