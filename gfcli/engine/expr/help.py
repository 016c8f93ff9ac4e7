"""The grammar, as printed by `gfcli filter --help-expr`."""

HELP_EXPR = r"""
gfcli filter expressions
========================

One language, two dialects chosen by the input type.  Quote expressions for the shell:
    gfcli filter -i 'QUAL>30 && INFO/DP>10' in.vcf.gz

VARIANTS (VCF/BCF) -- the bcftools -i/-e language
-------------------------------------------------
Values
  CHROM POS ID REF ALT QUAL FILTER       fixed columns
  INFO/TAG  or bare TAG                  INFO field (bare names must not be ambiguous)
  FMT/TAG  FORMAT/TAG                    FORMAT field, one value set per sample
  TAG[i]  TAG[i,j]  TAG[i-j]  TAG[i-]  TAG[*]   vector subscripts (0-based)
  FMT/TAG[s:i]  FMT/TAG[*:1]  FMT/DP[0]  sample:value subscripts (Number=1 tags: samples)
  ALT[1]                                 one alternate allele
  N_ALT N_SAMPLES N_MISSING F_MISSING    counts
  AC AN AF MAC MAF ILEN                  computed from INFO/AC,AN or genotypes (unless the
                                         header defines a tag of that name)
  TYPE="snp"|"mnp"|"indel"|"bnd"|"other"|"overlap"|"ref"   = all alleles, ~ any allele
  GT="hom"|"het"|"hap"|"mis"|"ref"|"alt"|"RR"|"RA"|"AA"|"Aa"|"R"|"A"  or GT="0|1"
  numbers (1, 2.5, 1e-3), strings in double or single quotes, "." for missing
Operators (highest first; equal precedence groups to the right, as in bcftools)
  functions MAX MIN AVG MEAN MEDIAN STDEV SUM ABS STRLEN COUNT PHRED N_PASS F_PASS
            SMPL_MAX SMPL_MIN SMPL_MEAN SMPL_MEDIAN SMPL_STDEV SMPL_SUM (per sample)
            -- case-insensitive
  * / %
  + -                       (unary minus is -1*x)
  == = != < <= > >= ~ !~    (~ and !~ take a regex on the right; "pattern/i" ignores case)
  &  &&                     & : both in the SAME sample;  && : possibly in different samples
  |  ||
Semantics
  * vectors and samples: a comparison is true if ANY value (of any sample) satisfies it;
  * a missing value makes a comparison false, except X="." and X!=VALUE, so
    -i 'X' and -e '!X' can select different records;
  * FILTER="A;B" means exactly these filters; FILTER~"A" means A is among them;
    FILTER="." means no filters set; FILTER!="PASS" etc.
  * a bare value (e.g. 'DB') is never true: write DB=1 for a Flag.
Extensions (not in bcftools)
  ALL(cond)     true when cond holds in every selected sample, e.g. ALL(FMT/GQ>20)
  !(cond)       negation of a condition
Examples
  -i 'QUAL>30 && INFO/DP>10'
  -i 'FMT/GQ>20 & FMT/DP>10'          (some sample has both)
  -i 'TYPE="snp" && MAF>0.05'
  -e 'FILTER!="PASS"'
  -i 'N_PASS(GT="alt")>=2'
  -i 'ID~"^rs"'  -i 'ALT~"<DEL"'  -i 'INFO/AF[0]>0.1'

READS (SAM/BAM/CRAM) -- the samtools view -e language
------------------------------------------------------
Values
  flag  flag.paired flag.proper_pair flag.unmap flag.munmap flag.reverse flag.mreverse
        flag.read1 flag.read2 flag.secondary flag.qcfail flag.dup flag.supplementary
  mapq pos endpos rname refid rnext mrname mrefid mpos pnext tlen qname qlen rlen
  seq qual (raw phred values) cigar ncigar sclen hclen library
  [XX]  aux tag: true when present (even if 0); [NM]==1 compares its value
  numbers (decimal or 0x hex), "strings" with \" \\ \t \n escapes
Operators (highest first)
  ( )   unary + - ! ~
  * / %     + -     &     ^     |        (bitwise, as three levels)
  > >= < <=     == != =~ !~               (=~ regex match, POSIX extended)
  && ||                                   (one level, left to right)
Functions  length(s) min(s) max(s) avg(s) (over string bytes, e.g. avg(qual))
           sqrt(x) log(x) exp(x) pow(x,y) default(x,y) exists(x)
Semantics
  an absent tag is undefined: comparisons with it are false, ![XX] is true,
  default([XX],0) supplies a value.
Examples
  -e 'mapq>=30 && !flag.dup'   -e '[NM]<=2 && rlen>50'   -e 'qname=~"^SRR"'

FASTQ -- the reads dialect with FASTQ fields
--------------------------------------------
  name seq qual length meanq (mean base quality) gc (G+C fraction) n_count
  -e 'length>=50 && meanq>=20 && n_count==0'

PLANS
-----
`--explain` prints how an expression is compiled: (1) CHROM/POS (rname/pos) conjuncts become
index seeks; (2) conjuncts on raw fields run before decoding; (3) only the needed fields are
decoded; (4) the rest is evaluated in vectorised batches.
"""
