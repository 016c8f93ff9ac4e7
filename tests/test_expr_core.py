"""Parser, errors, plans and help of the expression language (no reference tool needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gfcli.engine.errors import UsageError
from gfcli.engine.expr import HELP_EXPR, ExprError, TagDef, VariantSchema, compile_expr, parse
from gfcli.engine.expr.ast import Binary, Num

SCHEMA = VariantSchema(
    info={"DP": TagDef("DP", "1", "Integer"), "AF": TagDef("AF", "A", "Float")},
    fmt={"GQ": TagDef("GQ", "1", "Integer"), "GT": TagDef("GT", "1", "String")},
    filters=("PASS", "q10"), samples=("A", "B"), contigs=("chr1",),
)


def test_bcftools_precedence_groups_right():
    tree = parse("10-3-2", "variants")
    assert isinstance(tree, Binary) and tree.op == "-"
    assert isinstance(tree.left, Num) and tree.left.value == 10
    assert isinstance(tree.right, Binary) and tree.right.op == "-"


def test_samtools_comparisons_recurse_right():
    tree = parse("1<2<3", "reads")
    assert tree.op == "<" and isinstance(tree.right, Binary) and tree.right.op == "<"


def test_error_is_usage_error_with_caret_and_suggestion():
    with pytest.raises(ExprError) as ei:
        compile_expr("QUAL>3 && INFO/DPP>1", schema=SCHEMA)
    err = ei.value
    assert isinstance(err, UsageError) and err.exit_code == 2
    text = str(err)
    assert "did you mean DP?" in text
    line, caret = text.splitlines()[-2:]
    assert caret.index("^") == line.index("INFO/DPP")


def test_unbalanced_parenthesis_points_at_it():
    with pytest.raises(ExprError) as ei:
        compile_expr("(QUAL>3 && INFO/DP>1", schema=SCHEMA)
    assert "parenthesis" in str(ei.value)
    assert str(ei.value).splitlines()[-1].endswith("  ^")


def test_flag_name_suggestion():
    with pytest.raises(ExprError) as ei:
        compile_expr("!flag.duplicate", "reads")
    assert "did you mean 'dup'?" in str(ei.value)


def test_type_mismatch():
    with pytest.raises(ExprError, match="type mismatch"):
        compile_expr('QUAL>"abc"', schema=SCHEMA)


def test_explain_shows_four_stages():
    cx = compile_expr('CHROM=="chr1" && POS>=100 && POS<200 && QUAL>30 && INFO/DP>10 && '
                      "FMT/GQ>20", schema=SCHEMA)
    text = cx.explain()
    for stage in ("1. region pushdown: chr1:100-199", "2. raw prefilters", "3. projection",
                  "4. batch evaluation"):
        assert stage in text
    assert cx.plan.projection == {"CHROM", "POS", "QUAL", "INFO/DP", "FMT/GQ"}
    assert [str(r) for r in cx.plan.regions] == ["chr1:100-199"]


def test_site_only_plan_skips_format():
    cx = compile_expr("QUAL>30 && INFO/DP>10", schema=SCHEMA)
    assert "FORMAT/genotypes not parsed" in cx.explain()
    assert not cx.plan.residual


def test_same_sample_conjunction_stays_together():
    cx = compile_expr('FMT/GQ>20 & GT="het"', schema=SCHEMA)
    assert len(cx.plan.residual) == 1 and not cx.plan.prefilters


def test_read_plan():
    cx = compile_expr('rname=="chr2" && mapq>=30 && !flag.dup && [NM]<3', "reads")
    assert [str(r) for r in cx.plan.regions] == ["chr2"]
    assert len(cx.plan.prefilters) == 3
    assert "[NM]" in cx.plan.projection


def test_help_text():
    for word in ("N_PASS", "flag.dup", "meanq", "ALL(", "--explain"):
        assert word in HELP_EXPR


def test_import_is_light():
    code = ("import sys, gfcli.engine.expr; "
            "print('numba' in sys.modules, 'pysam' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_fastq_fields():
    import numpy as np

    from gfcli.engine.expr.batch import FastqBatch

    def obj(values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    batch = FastqBatch(n=3, name=obj(["a", "b", "c"]), seq=obj(["ACGTN", "GGCC", "AT"]),
                       qual=obj(["IIIII", "####", "II"]))
    keep = compile_expr("length>=4 && meanq>=20 && n_count==0", "fastq").select(batch)
    assert keep.tolist() == [False, False, False]
    assert compile_expr("gc==1 || name=~\"^c\"", "fastq").select(batch).tolist() == \
        [False, True, True]
    assert compile_expr("n_count>0", "fastq", exclude=True).select(batch).tolist() == \
        [False, True, True]


def _fastq_batch(names, seqs, quals):
    import numpy as np

    from gfcli.engine.expr.batch import FastqBatch

    def obj(values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    return FastqBatch(n=len(names), name=obj(names), seq=obj(seqs), qual=obj(quals))


FASTQ_LENGTH_CASES = [
    ("length(seq)>3", lambda n, s, q: len(s) > 3),
    ("length(seq)==length", lambda n, s, q: True),
    ("length(name)>1", lambda n, s, q: len(n) > 1),
    ("length(qual)<3", lambda n, s, q: len(q) < 3),
    ("length(seq)*2>=8 && length>=4", lambda n, s, q: len(s) >= 4),
    ("length(seq)>3 && avg(qual)>40",
     lambda n, s, q: len(s) > 3 and sum(map(ord, q)) / len(q) > 40),
    ('length("abc")==3 && length(seq)<5', lambda n, s, q: len(s) < 5),
    ("!(length(seq)>100) && max(seq)==84", lambda n, s, q: bool(s) and max(map(ord, s)) == 84),
]


@pytest.mark.parametrize("expr,pred", FASTQ_LENGTH_CASES, ids=[c[0] for c in FASTQ_LENGTH_CASES])
def test_fastq_length_function(expr, pred):
    names, seqs = ["a", "bb", "c", "dddd"], ["ACGTN", "GGCC", "AT", "TTTTTTTTTTTT"]
    quals = ["IIIII", "####", "II", "5" * 12]
    batch = _fastq_batch(names, seqs, quals)
    want = [bool(pred(*r)) for r in zip(names, seqs, quals, strict=True)]
    assert compile_expr(expr, "fastq").select(batch).tolist() == want
    assert compile_expr(expr, "fastq", exclude=True).select(batch).tolist() == \
        [not w for w in want]


@pytest.mark.parametrize("expr,what", [
    ("length(length)>1", "type mismatch"), ("length(seq>3", "parenthesis"),
    ("length (seq)>3", "unable to parse"), ("lengthx>1", "unknown symbol"),
    ("length(seq, qual)>1", "parenthesis"), ("length()>1", "expected a value"),
])
def test_fastq_length_rejected_with_caret(expr, what):
    with pytest.raises(ExprError) as ei:
        compile_expr(expr, "fastq")
    assert what in str(ei.value) and ei.value.exit_code == 2
    assert str(ei.value).splitlines()[-1].strip() == "^"


def test_fastq_length_function_from_the_command_line(tmp_path):
    import random

    rng = random.Random(5)
    recs = [(f"r{i}", "".join(rng.choice("ACGTN") for _ in range(rng.randint(0, 150))))
            for i in range(400)]
    fq = tmp_path / "a.fq"
    fq.write_text("".join(f"@{n}\n{s}\n+\n{'I' * len(s)}\n" for n, s in recs))
    want = [n for n, s in recs if len(s) > 100]
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-m", "gfcli", "filter", "-@", threads, str(fq),
                              "-i", "length(seq)>100"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
        assert [line[1:] for line in out[::4]] == want
    bad = subprocess.run([sys.executable, "-m", "gfcli", "filter", str(fq), "-i",
                          "length(seq>100"], capture_output=True, text=True)
    assert bad.returncode == 2 and "^" in bad.stderr
