"""Differential tests: gfcli's variant expressions select exactly the records that
`bcftools view -i` selects, on generated VCFs with the awkward cases (multi-allelic sites,
missing values, symbolic alleles, several samples, Number=A/R/G/., Flag, String)."""

from __future__ import annotations

import random

import pysam
import pytest
from pysam import bcftools

from gfcli.engine.expr import ExprError, VariantSchema, compile_expr
from gfcli.engine.expr.from_pysam import variant_batch

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=100000>
##contig=<ID=chr2,length=100000>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=q10,Description="Quality below 10">
##FILTER=<ID=s50,Description="Less than 50% of samples have data">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=MQ,Number=1,Type=Float,Description="Mapping quality">
##INFO=<ID=FREQ,Number=A,Type=Float,Description="Alt frequencies">
##INFO=<ID=RC,Number=R,Type=Integer,Description="Read counts per allele">
##INFO=<ID=GL3,Number=.,Type=Float,Description="Genotype likelihoods">
##INFO=<ID=LST,Number=.,Type=Integer,Description="A list">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=STR,Number=1,Type=String,Description="A string">
##INFO=<ID=SLIST,Number=.,Type=String,Description="String list">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=VAF,Number=A,Type=Float,Description="Allele fraction">
##FORMAT=<ID=FT,Number=1,Type=String,Description="Sample filter">
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	S1	S2	S3	S4
"""

ALLELES = [
    ("A", "G"), ("A", "G"), ("C", "T"), ("G", "A,T"), ("AC", "A"), ("A", "AT"), ("AC", "A,ACG"),
    ("AT", "GC"), ("A", "<DEL>"), ("G", "A,<INS>"), ("T", "*"), ("C", "."), ("ACG", "TCA"),
    ("A", "C,G,T"), ("G", "G]chr2:500]"), ("T", "<*>"), ("CAT", "C,CATAT"), ("a", "g"),
]


def _maybe(rng: random.Random, p: float, value: str) -> str:
    return "." if rng.random() < p else value


def make_vcf(path, n: int = 80, seed: int = 7) -> None:
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(n):
        chrom = "chr1" if i < n * 0.7 else "chr2"
        pos = 100 + i * 10
        ref, alt = rng.choice(ALLELES)
        nalt = 0 if alt == "." else len(alt.split(","))
        rid = rng.choice([".", f"rs{i}", f"rs{i};esv{i}", f"id{i}"])
        qual = rng.choice([".", "3", "10", "29.5", "30", "59.2", "100", "1e3"])
        flt = rng.choice(["PASS", "PASS", ".", "q10", "s50", "q10;s50"])
        info = []
        if rng.random() < 0.8:
            info.append(f"DP={rng.choice(['.', '0', '5', '11', '30', '200'])}")
        if rng.random() < 0.6:
            info.append(f"MQ={rng.choice(['.', '20.5', '40', '60'])}")
        if nalt and rng.random() < 0.8:
            info.append("FREQ=" + ",".join(_maybe(rng, 0.2, rng.choice(["0.01", "0.1", "0.25",
                                                                          "0.5", "0.9"]))
                                           for _ in range(nalt)))
        if rng.random() < 0.7:
            info.append("RC=" + ",".join(_maybe(rng, 0.15, str(rng.randint(0, 40)))
                                         for _ in range(nalt + 1)))
        if nalt and rng.random() < 0.5:
            ng = (nalt + 1) * (nalt + 2) // 2
            info.append("GL3=" + ",".join(_maybe(rng, 0.1, f"{-rng.random() * 10:.2f}")
                                          for _ in range(ng)))
        if rng.random() < 0.5:
            info.append("LST=" + ",".join(str(rng.randint(-5, 9))
                                          for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.4:
            info.append("DB")
        if rng.random() < 0.6:
            info.append("STR=" + rng.choice(["foo", "bar", "Foo", "baz.q", "x"]))
        if rng.random() < 0.5:
            info.append("SLIST=" + ",".join(rng.choice(["a", "b", "cc", "."])
                                            for _ in range(rng.randint(1, 3))))
        fields = ["GT", "DP", "GQ", "AD"] + (["VAF"] if nalt else []) + ["FT"]
        if rng.random() < 0.1:
            fields = ["DP", "GQ"]
        samples = []
        for _s in range(4):
            vals = []
            for f in fields:
                if f == "GT":
                    ploidy = 1 if rng.random() < 0.15 else 2
                    sep = "|" if rng.random() < 0.3 else "/"
                    al = [_maybe(rng, 0.1, str(rng.randint(0, nalt))) for _ in range(ploidy)]
                    vals.append(sep.join(al))
                elif f == "DP":
                    vals.append(_maybe(rng, 0.15, str(rng.randint(0, 40))))
                elif f == "GQ":
                    vals.append(_maybe(rng, 0.15, str(rng.randint(0, 99))))
                elif f == "AD":
                    if rng.random() < 0.15:
                        vals.append(".")
                    else:
                        vals.append(",".join(_maybe(rng, 0.1, str(rng.randint(0, 30)))
                                             for _ in range(nalt + 1)))
                elif f == "VAF":
                    vals.append(",".join(_maybe(rng, 0.2, f"{rng.random():.2f}")
                                         for _ in range(nalt)))
                elif f == "FT":
                    vals.append(rng.choice(["PASS", "PASS", "lowDP", ".", "lowGQ"]))
            samples.append(":".join(vals))
        lines.append("\t".join([chrom, str(pos), rid, ref, alt, qual, flt,
                                ";".join(info) or ".", ":".join(fields)] + samples) + "\n")
    path.write_text("".join(lines))


@pytest.fixture(scope="module")
def vcf(tmp_path_factory):
    path = tmp_path_factory.mktemp("expr") / "t.vcf"
    make_vcf(path)
    with pysam.VariantFile(str(path)) as f:
        records = list(f)
        schema = VariantSchema.from_pysam(f.header)
        batch = variant_batch(records, f.header)
    keys = [(r.chrom, r.pos) for r in records]
    return str(path), schema, batch, keys


def oracle(path: str, expr: str, flag: str = "-i") -> set[tuple[str, int]]:
    out = bcftools.view("-H", flag, expr, path)
    return {(ln.split("\t")[0], int(ln.split("\t")[1])) for ln in out.splitlines()}


def ours(vcf, expr: str, exclude: bool = False) -> set[tuple[str, int]]:
    path, schema, batch, keys = vcf
    keep = compile_expr(expr, "variants", schema=schema, exclude=exclude).select(batch)
    return {k for k, m in zip(keys, keep, strict=True) if m}


EXPRESSIONS = [
    'QUAL>30', 'QUAL>=30', 'QUAL<30', 'QUAL<=29.5', 'QUAL==59.2', 'QUAL=30', 'QUAL!=30',
    'QUAL="."', 'QUAL!="."', 'QUAL>1e2', 'POS>300', 'POS<=200', 'POS==250', 'POS!=250',
    'CHROM="chr2"', 'CHROM!="chr1"', 'CHROM=="chr1" && POS>500', 'CHROM~"2$"', 'ID="rs3"',
    'ID!="."', 'ID="."', 'ID~"^rs"', 'ID~"esv"', 'REF="A"', 'REF!="A"', 'REF~"^a"', 'REF~"^a/i"',
    'ALT="G"', 'ALT~"<"', 'ALT="."', 'ALT!="G"', 'ALT[0]="A"', 'ALT[1]="T"', 'ALT~"\\]"',
    'N_ALT>1', 'N_ALT==0', 'N_ALT=1 && QUAL>10', 'FILTER="PASS"', 'FILTER!="PASS"', 'FILTER="."',
    'FILTER!="."', 'FILTER="q10"', 'FILTER~"q10"', 'FILTER!~"q10"', 'FILTER="q10;s50"',
    'FILTER="s50;q10"', 'FILTER~"s50;q10"', 'FILTER!="q10;s50"', 'FILTER~"PASS"', 'TYPE="snp"',
    'TYPE="indel"', 'TYPE="mnp"', 'TYPE="other"', 'TYPE="ref"', 'TYPE="bnd"', 'TYPE~"snp"',
    'TYPE~"indel"', 'TYPE!="snp"', 'TYPE!~"indel"', 'TYPE="overlap"', 'TYPE~"overlap"',
    'TYPE="SNPS"', 'INFO/DP>10', 'INFO/DP>10', 'INFO/DP<=5', 'INFO/DP="."', 'INFO/DP!="."',
    'INFO/DP=0', 'INFO/DP!=11', 'MQ>30', 'MQ<=40', 'MQ="."', 'DB=1', 'DB=0', 'DB!=1',
    'INFO/DB==1 && QUAL>10', 'STR="foo"', 'STR!="foo"', 'STR~"^f"', 'STR~"^f/i"', 'STR="."',
    'STR~"\\."', 'STRLEN(STR)>2', 'FREQ>0.2', 'FREQ[0]>0.2', 'FREQ[1]>0.2', 'FREQ[*]<0.05',
    'FREQ="."', 'FREQ!="."', 'FREQ[0]!=0.5', 'INFO/FREQ[1-]>0.3', 'RC>20', 'RC[0]>20',
    'RC[1,2]>20', 'RC[0]<RC[1]', 'RC[*]<5', 'GL3<-9', 'GL3[0]>-1', 'LST<0', 'LST[2]>5',
    'LST>8 || LST<-4', 'SLIST="cc"', 'SLIST!="cc"', 'SLIST="."', 'SLIST[1]="b"', 'SLIST~"c"',
    'MAX(RC)>30', 'MIN(RC)<2', 'SUM(RC)>60', 'AVG(RC)>15', 'MEAN(RC)<10', 'MEDIAN(RC)>12',
    'STDEV(RC)>10', 'max(LST)>=9', 'Min(FREQ)<0.05', 'COUNT(LST)>2', 'COUNT(SLIST)>1',
    'ABS(LST)>=5', 'SUM(FREQ)>1', 'INFO/DP+1>12', 'INFO/DP*2>=60', 'INFO/DP/2<3',
    'QUAL-INFO/DP>50', '10-3-2==9', '8/4/2==4', '-INFO/DP<-20', '2*-INFO/DP<-20', 'INFO/DP%7==4',
    'RC[0]+RC[1]>40', '(QUAL+INFO/DP)*2>100', 'QUAL/INFO/DP>5', 'INFO/DP-1-1==9', 'FREQ*100>30',
    'MQ-1>30 && INFO/DP+1>10', 'AC>2', 'AC[0]>1', 'AC[1]>=1', 'AN>=6', 'AN<4', 'AF>0.5',
    'AF[0]<0.2', 'N_ALT==1 && MAF>0.3', 'N_ALT==1 && MAF<0.1', 'N_ALT==1 && MAC>=2',
    'N_ALT==1 && MAC==1', 'ILEN>0', 'ILEN<0', 'ILEN=0', 'ILEN[0]>=2', 'N_MISSING>0',
    'N_MISSING==0', 'F_MISSING>0.3', 'N_SAMPLES==4', 'N_SAMPLES<4', 'FMT/DP>30', 'FORMAT/DP>30',
    'FMT/DP<5', 'FMT/DP="."', 'FMT/DP!="."', 'FMT/GQ>90', 'FMT/DP[0]>20', 'FMT/DP[1,3]>20',
    'FMT/DP[2-]>35', 'FMT/DP[*]>35', 'FMT/AD>25', 'FMT/AD[0:0]>20', 'FMT/AD[*:1]>20',
    'FMT/AD[1:*]>20', 'FMT/AD[0:1-]>20', 'FMT/AD="."', 'FMT/VAF>0.9', 'FMT/VAF[*:0]<0.05',
    'FMT/FT="lowINFO/DP"', 'FMT/FT!="PASS"', 'FMT/FT~"low"', 'FMT/FT="."', 'FMT/FT[0]="lowGQ"',
    'FMT/DP>20 & FMT/GQ>50', 'FMT/DP>20 && FMT/GQ>50', 'FMT/DP>20 | FMT/GQ>95',
    'FMT/DP>20 || FMT/GQ>95', 'QUAL>30 & FMT/DP>30', 'QUAL>30 && FMT/DP>30',
    'QUAL>30 || FMT/DP>38', 'FMT/DP>10 & FMT/GQ>10 & FMT/AD[*:1]>5',
    '(FMT/DP>20 & FMT/GQ>50) || QUAL>100', 'FMT/DP+FMT/GQ>120', 'FMT/DP*2>70', 'FMT/DP>QUAL',
    'FMT/DP>INFO/DP', 'FMT/AD[*:1]>FMT/AD[*:0]', 'FMT/DP-FMT/GQ>20', 'MAX(FMT/DP)>38',
    'MIN(FMT/GQ)<3', 'AVG(FMT/DP)>25', 'SUM(FMT/AD)>100', 'MEDIAN(FMT/GQ)>60', 'STDEV(FMT/DP)>15',
    'COUNT(FMT/DP)<4', 'COUNT(FMT/DP>20)>=2', 'SMPL_MAX(FMT/DP)>25', 'sMIN(FMT/AD)==0',
    'SMPL_SUM(FMT/GQ)>50', 'ABS(FMT/DP-20)<2', 'N_PASS(FMT/DP>20)>=2',
    'N_PASS(FMT/GQ>50 & FMT/DP>20)>=1', 'F_PASS(FMT/DP>10)>0.7', 'N_PASS(GT="alt")==0',
    'GT="het"', 'GT="hom"', 'GT="hap"', 'GT="mis"', 'GT="ref"', 'GT="alt"', 'GT="RR"', 'GT="RA"',
    'GT="AA"', 'GT="aA"', 'GT="Aa"', 'GT="A"', 'GT="R"', 'GT!="het"', 'GT!="mis"', 'GT="0/1"',
    'GT="1|1"', 'GT="0"', 'GT~"^0/"', 'GT[0]="het"', 'GT[1,2]="alt"', 'GT="het" & FMT/DP>20',
    'GT="het" && FMT/DP>20', 'GT="alt" & FMT/GQ>90', 'QUAL>20 && (INFO/DP>10 || DB=1)',
    'TYPE="snp" && MAF>0.1', 'FILTER="PASS" && INFO/DP>10 || QUAL>100',
    'INFO/DP>10 || QUAL>50 && FILTER="PASS"', '(INFO/DP>10 || QUAL>50) && FILTER="PASS"',
    'STR="foo" || STR="bar"', 'CHROM="chr1" && POS>=200 && POS<=400', 'ID~"^rs" && N_ALT>1',
]

REJECTED = [
    'FOO>1', 'DP>10', '"snp"=TYPE', '(QUAL>3', 'QUAL>3)', 'TYPE=snp', 'TYPE="foo"',
    'FILTER="nosuch"', 'QUAL>', 'QUAL>"x"', 'DP~"1"', 'FMT/AD[0]>1', 'DP>>3', '',
    'CHROM="chr1" QUAL>3', 'INFO/q10>1', 'QUAL>3 && "a', 'FMT/DP[9]>1',
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_include_matches_bcftools(vcf, expr):
    assert ours(vcf, expr) == oracle(vcf[0], expr)


@pytest.mark.parametrize("expr", EXPRESSIONS[::4])
def test_exclude_matches_bcftools(vcf, expr):
    assert ours(vcf, expr, exclude=True) == oracle(vcf[0], expr, "-e")


@pytest.mark.parametrize("expr", REJECTED)
def test_rejected_like_bcftools(vcf, expr):
    with pytest.raises(pysam.utils.SamtoolsError):
        oracle(vcf[0], expr)
    with pytest.raises(ExprError):
        compile_expr(expr, "variants", schema=vcf[1])


def test_enough_differential_expressions():
    assert len(set(EXPRESSIONS)) >= 150
