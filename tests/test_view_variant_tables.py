"""`gfcli view`/`gfcli filter` on VCF/BCF with -O tsv|json|parquet|arrow.

Oracles: the values pysam reads from the same VCF (typed columns), and `bcftools query`
(the TSV text, which keeps the VCF spelling). Parallel runs use small chunks so that
`-@ 4` really cuts the input, and must give the same bytes as `-@ 1`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pytest
import variant_data as vd
from pysam import bcftools

from gfcli.cli import main

FIELDS = "INFO/DP,AF,DB,NOTE,SVTYPE,RC,FMT/GT,FMT/DP,XQ,AD,PL,FT"
INFO_TAGS = ("DP", "AF", "DB", "NOTE", "SVTYPE", "RC")
FMT_TAGS = ("GT", "DP", "XQ", "AD", "PL", "FT")
KINDS = (("tsv", ".tsv"), ("json", ".jsonl"), ("parquet", ".parquet"), ("arrow", ".arrow"))


def run(args: list[str], command: str = "view") -> int:
    try:
        main([command, *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def table_out(tmp_path, args: list[str], kind: str = "parquet", name: str = "t",
              command: str = "view"):
    out = str(tmp_path / f"{name}.{kind}")
    assert run(["-O", kind, "-o", out, *args], command) == 0
    return out


def read_table(path: str, kind: str) -> pa.Table:
    if kind == "parquet":
        return pq.read_table(path)
    return pa.ipc.open_file(path).read_all()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("vtables"))
    vcf = vd.write_vcf(os.path.join(d, "v.vcf"), vd.vcf_text(n_records=300, n_samples=4,
                                                                seed=5))
    big = vd.write_vcf(os.path.join(d, "big.vcf"), vd.vcf_text(n_records=2000, n_samples=8,
                                                                  seed=7))
    return {"vcf": vcf, "gz": vd.bgzip_and_index(vcf),
            "bcf": vd.to_bcf(vcf, os.path.join(d, "v.bcf")), "big": vd.bgzip_and_index(big)}


# -----------------------------------------------------------------------------------------
# the independent oracle: pysam's values


def _gt_text(sample) -> str | None:
    alleles = sample.get("GT")
    text = ("|" if sample.phased else "/").join("." if a is None else str(a) for a in alleles)
    return None if text in (".", "") else text


def _norm(value):
    """pysam value -> the table's: tuples as lists, an all-missing vector as null, and the
    string '.' (which pysam returns as is) as null."""
    if value == ".":
        return None
    if isinstance(value, tuple):
        value = list(value)
        if all(v is None for v in value):
            return None
    return value


def pysam_rows(path: str, samples: list[str] | None = None, region: str | None = None):
    with pysam.VariantFile(path) as vf:
        names = samples or list(vf.header.samples)
        records = vf.fetch(region=region) if region else vf
        for rec in records:
            row = {"CHROM": rec.chrom, "POS": rec.pos, "ID": rec.id, "REF": rec.ref,
                   "ALT": list(rec.alts) if rec.alts else None, "QUAL": rec.qual,
                   "FILTER": ";".join(rec.filter.keys()) or None}
            for tag in INFO_TAGS:
                row[tag] = _norm(rec.info.get(tag, False if tag == "DB" else None))
            keys = list(rec.format.keys())
            for name in names:
                sample = rec.samples[name]
                for tag in FMT_TAGS:
                    if tag == "GT":
                        # pysam reads no genotypes when GT is not the first FORMAT key.
                        value = _gt_text(sample) if keys[:1] == ["GT"] else "skip"
                    else:
                        value = _norm(sample.get(tag)) if tag in keys else None
                    row[f"{name}:{tag}"] = value
            yield row


def assert_rows_equal(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert list(g) == list(e)
        for key, want in e.items():
            have = g[key]
            if want == "skip":
                continue
            if isinstance(want, float) or (isinstance(want, list) and any(
                    isinstance(v, float) for v in want)):
                # pysam holds BCF's float32; the table the VCF text (htslib's %g).
                want = pytest.approx(want, rel=1e-6, nan_ok=True)
            assert have == want, (g["CHROM"], g["POS"], key)


# -----------------------------------------------------------------------------------------
# types and values


def test_schema_types(tmp_path, data):
    table = pq.read_table(table_out(tmp_path, ["--fields", FIELDS, data["gz"]]))
    types = {f.name: f.type for f in table.schema}
    assert list(types)[:7] == ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER"]
    assert types["CHROM"] == pa.dictionary(pa.int32(), pa.string())
    assert types["POS"] == pa.int64() and types["QUAL"] == pa.float64()
    assert types["ALT"] == pa.list_(pa.string()) and types["FILTER"] == pa.string()
    # INFO typed from the header; Number=A/R/. are lists
    assert types["DP"] == pa.int64() and types["DB"] == pa.bool_()
    assert types["AF"] == pa.list_(pa.float64()) and types["RC"] == pa.list_(pa.int64())
    assert types["NOTE"] == pa.list_(pa.string()) and types["SVTYPE"] == pa.string()
    # FORMAT: one column per sample, sample by sample; Number=R/G lists
    fmt = [n for n in types if ":" in n]
    assert fmt == [f"S{i}:{t}" for i in range(1, 5) for t in FMT_TAGS]
    assert types["S1:GT"] == pa.string() and types["S2:DP"] == pa.int64()
    assert types["S3:XQ"] == pa.float64() and types["S4:FT"] == pa.string()
    assert types["S1:AD"] == pa.list_(pa.int64()) and types["S1:PL"] == pa.list_(pa.int64())


@pytest.mark.parametrize("source", ["gz", "bcf", "vcf"])
def test_values_equal_pysam(tmp_path, data, source):
    table = pq.read_table(table_out(tmp_path, ["--fields", FIELDS, data[source]]))
    rows = table.to_pylist()
    assert_rows_equal(rows, list(pysam_rows(data["vcf"])))
    # the data holds what the columns are about
    assert any(r["ALT"] and len(r["ALT"]) > 2 for r in rows)  # multi-allelic
    assert any(r["ALT"] is None for r in rows)  # reference-only site
    assert any(r["QUAL"] is None for r in rows) and any(r["DB"] for r in rows)
    assert any(r["AF"] and len(r["AF"]) == len(r["ALT"]) > 1 for r in rows)  # Number=A
    assert any(r["RC"] and len(r["RC"]) == len(r["ALT"]) + 1 > 2 for r in rows)  # Number=R
    n_alt = {id(r): len(r["ALT"] or []) for r in rows}
    assert any(r["S1:PL"] and len(r["S1:PL"]) == (n_alt[id(r)] + 1) * (n_alt[id(r)] + 2) // 2
               > 3 for r in rows)  # Number=G
    assert any(r["S2:DP"] is None for r in rows) and any(r["S2:GT"] == "./." for r in rows)
    assert any(r["S1:GT"] and "|" in r["S1:GT"] for r in rows)


def test_tsv_is_bcftools_query_text(tmp_path, data):
    out = table_out(tmp_path, ["--fields", "DP,AF,DB,NOTE,RC,FMT/GT,AD,PL,XQ,FT",
                               data["bcf"]], "tsv")
    with open(out) as handle:
        lines = handle.read().splitlines()
    assert lines[0].split("\t") == [
        "CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "DP", "AF", "DB", "NOTE", "RC",
        *[f"S{i}:{t}" for i in range(1, 5) for t in ("GT", "AD", "PL", "XQ", "FT")]]
    fmt = ("%CHROM\t%POS\t%ID\t%REF\t%ALT\t%QUAL\t%FILTER\t%INFO/DP\t%INFO/AF\t%INFO/DB\t"
           "%INFO/NOTE\t%INFO/RC[\t%GT\t%AD\t%PL\t%XQ\t%FT]\n")
    assert lines[1:] == bcftools.query("-f", fmt, data["bcf"]).splitlines()
    assert any("\t.\t" in line for line in lines[1:])  # missing values are '.'


def test_json_lines_equal_parquet(tmp_path, data):
    parquet = pq.read_table(table_out(tmp_path, ["--fields", FIELDS, data["gz"]])).to_pylist()
    with open(table_out(tmp_path, ["--fields", FIELDS, data["gz"]], "json")) as handle:
        rows = [json.loads(line) for line in handle]
    assert rows == parquet


def test_arrow_equals_parquet(tmp_path, data):
    args = ["--fields", FIELDS, data["gz"]]
    parquet = pq.read_table(table_out(tmp_path, args))
    arrow = pa.ipc.open_file(table_out(tmp_path, args, "arrow")).read_all()
    assert arrow.equals(parquet)


def test_samples_and_regions(tmp_path, data):
    args = ["-I", "-s", "S3,S1", "-r", "chr2", "--fields", FIELDS, data["gz"]]
    rows = pq.read_table(table_out(tmp_path, args)).to_pylist()
    assert [n for n in rows[0] if ":" in n] == [f"{s}:{t}" for s in ("S3", "S1")
                                                for t in FMT_TAGS]
    assert_rows_equal(rows, list(pysam_rows(data["vcf"] + ".gz", ["S3", "S1"], "chr2")))
    # -t streams; sites only (-G-like by excluding every sample) keeps INFO only
    rows_t = pq.read_table(table_out(tmp_path, ["-t", "chr2", "--fields", FIELDS,
                                                data["vcf"]], name="t2")).to_pylist()
    assert [r["POS"] for r in rows_t] == [r["POS"] for r in rows]


def test_bare_names_info_first_and_fixed_names(tmp_path, data):
    table = pq.read_table(table_out(tmp_path, ["--fields", "DP,GT,QUAL,DP", data["gz"]]))
    names = table.schema.names
    assert names[7:] == ["DP", "S1:GT", "S2:GT", "S3:GT", "S4:GT"]  # DP is INFO's
    assert "S1:DP" not in names


@pytest.mark.parametrize("fields,hint", [
    ("INFO/DPP", "did you mean INFO/DP"),
    ("FMT/XQQ", "did you mean FMT/XQ"),
    ("NOTES", "did you mean INFO/NOTE"),
    ("INFO/GT", "did you mean"),
])
def test_unknown_field_is_usage_error(tmp_path, data, capfd, fields, hint):
    out = tmp_path / "bad.parquet"
    assert run(["-o", str(out), "--fields", fields, data["gz"]]) == 2
    err = capfd.readouterr().err
    assert hint in err and err.count("\n") == 1
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if "gfcli-tmp" in p]


# -----------------------------------------------------------------------------------------
# header only, empty, threads, filter


@pytest.mark.parametrize("kind,suffix", KINDS)
def test_header_only_is_schema_without_rows(tmp_path, data, kind, suffix):
    out = str(tmp_path / f"h{suffix}")
    assert run(["-h", "--fields", "DP,FMT/GT", "-o", out, data["gz"]]) == 0
    if kind in ("parquet", "arrow"):
        table = read_table(out, kind)
        assert table.num_rows == 0
        assert table.schema.names == ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER",
                                      "DP", "S1:GT", "S2:GT", "S3:GT", "S4:GT"]
    else:
        with open(out) as handle:
            text = handle.read()
        assert text == ("CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tDP\tS1:GT\tS2:GT\tS3:GT\t"
                        "S4:GT\n" if kind == "tsv" else "")


def test_no_records_and_sites_only(tmp_path):
    header = [ln for ln in vd.vcf_text(n_records=3, n_samples=2).splitlines() if ln[0] == "#"]
    empty = vd.write_vcf(str(tmp_path / "e.vcf"), "\n".join(header) + "\n")
    table = pq.read_table(table_out(tmp_path, ["--fields", "AF,FMT/AD", empty]))
    assert table.num_rows == 0 and table.schema.field("S2:AD").type == pa.list_(pa.int64())
    sites = vd.write_vcf(str(tmp_path / "s.vcf"), vd.vcf_text(n_records=50, n_samples=0))
    rows = pq.read_table(table_out(tmp_path, ["--fields", "DP,AF", sites], name="s"))
    assert rows.num_rows == 50 and rows.schema.names[-2:] == ["DP", "AF"]


@pytest.mark.parametrize("kind,suffix", KINDS)
def test_threads_identical(tmp_path, data, monkeypatch, kind, suffix):
    import gfcli.engine.chunks as chunks

    monkeypatch.setattr(chunks, "TARGET_CHUNK_BYTES", 16 << 10)
    outputs = []
    for threads in ("1", "4"):
        out = str(tmp_path / f"t{threads}{suffix}")
        assert run(["-@", threads, "--fields", FIELDS, "-O", kind, "-o", out,
                    data["big"]]) == 0
        with open(out, "rb") as handle:
            outputs.append(handle.read())
    assert outputs[0] == outputs[1]
    if kind == "parquet":
        assert pq.ParquetFile(out).metadata.num_row_groups > 1  # several batches
        assert pq.read_table(out).num_rows == 2000


def test_filter_tables(tmp_path, data):
    expr = "QUAL>300 && INFO/DP>1000"
    kept = pq.read_table(table_out(tmp_path, ["-i", expr, data["gz"]], command="filter"))
    everything = pq.read_table(table_out(tmp_path, [data["gz"]], name="all")).to_pylist()
    expected = [r for r in everything if (r["QUAL"] or 0) > 300]
    want = {(r["CHROM"], r["POS"], r["REF"]) for r in pysam_rows(data["vcf"])
            if r["QUAL"] is not None and r["QUAL"] > 300 and (r["DP"] or 0) > 1000}
    got = kept.to_pylist()
    assert {(r["CHROM"], r["POS"], r["REF"]) for r in got} == want
    assert all(r in expected for r in got) and 0 < len(got) < len(expected)
    soft = table_out(tmp_path, ["-e", "QUAL<300", "-s", "LOWQ", data["gz"]], "tsv", "soft",
                     command="filter")
    with open(soft) as handle:
        filters = [line.split("\t")[6] for line in handle.read().splitlines()[1:]]
    assert len(filters) == len(everything) and "LOWQ" in filters


def test_stdout_tsv_pipe(data):
    proc = subprocess.run([sys.executable, "-m", "gfcli", "view", "-O", "tsv", "--fields",
                           "DP", data["gz"]], capture_output=True, check=True)
    lines = proc.stdout.decode().splitlines()
    assert lines[0].endswith("\tDP") and len(lines) == 301


# -----------------------------------------------------------------------------------------
# streaming: memory does not grow with the input

_MEASURE = """
import resource, sys
import gfcli.engine.variants.view as view
from gfcli.cli import main
view.BATCH_BYTES = 256 << 10  # many small batches, so that one batch is cheap
try:
    main(["view", *sys.argv[1:]])
except SystemExit as exc:
    assert not exc.code, exc.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _repeat_vcf(path: str, copies: int) -> str:
    text = vd.vcf_text(n_records=2000, n_samples=1, seed=4, contigs=(("chr1", 10**9),))
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    body = [ln.split("\t", 2) for ln in text.splitlines() if not ln.startswith("#")]
    with open(path, "w") as handle:
        handle.write("\n".join(header) + "\n")
        for k in range(copies):
            shift = k * 1_000_000
            handle.write("".join(f"{c}\t{int(p) + shift}\t{rest}\n" for c, p, rest in body))
    return path


def test_streams_with_flat_memory(tmp_path):
    peaks = []
    for copies in (4, 32):
        vcf = _repeat_vcf(str(tmp_path / f"r{copies}.vcf"), copies)
        out = str(tmp_path / f"r{copies}.parquet")
        proc = subprocess.run([sys.executable, "-c", _MEASURE, "--fields", "DP,AF,FMT/AD",
                               "-o", out, vcf], capture_output=True, text=True, check=True)
        peaks.append(int(proc.stdout.split()[-1]) // 1024)
        assert pq.ParquetFile(out).metadata.num_rows == 2000 * copies
    # 8x the records (~8 MB of VCF text more, 4 -> 32 batches): the same peak (holding the
    # rows would add tens of MB).
    assert peaks[1] - peaks[0] < 8, peaks


def test_json_escapes_and_special_values(tmp_path):
    """Quotes, backslashes, non-ASCII and control characters in strings; NaN/inf floats
    (JSON null); a contig the header does not declare (CHROM dictionary grows)."""
    vcf = tmp_path / "esc.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=c1>\n"
        '##INFO=<ID=S,Number=1,Type=String,Description="s">\n'
        '##INFO=<ID=F,Number=.,Type=Float,Description="f">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        'c1\t1\t.\tA\tC\t1e+20\t.\tS=a"b\\c\u00e9;F=nan,1e-07,inf\n'
        "c1\t2\t.\tA\tC\t.\t.\tS=x\x01y;F=.,2\n"
        "c2\t3\t.\tA\tC\t5\t.\t.\n", encoding="utf-8")
    with open(table_out(tmp_path, ["--fields", "S,F", str(vcf)], "json")) as handle:
        rows = [json.loads(line) for line in handle]
    assert [r["S"] for r in rows] == ['a"b\\c\u00e9', "x\x01y", None]
    assert [r["F"] for r in rows] == [[None, 1e-07, None], [None, 2.0], None]
    assert [r["QUAL"] for r in rows] == [1e20, None, 5.0]
    arrow = pa.ipc.open_file(table_out(tmp_path, ["--fields", "S,F", str(vcf)], "arrow"))
    table = arrow.read_all()
    assert table.column("CHROM").to_pylist() == ["c1", "c1", "c2"]
    assert table.column("S").to_pylist() == [r["S"] for r in rows]
    assert table.column("F").to_pylist()[1] == [None, 2.0]
