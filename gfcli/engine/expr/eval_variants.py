"""Vectorised evaluation of checked variant expressions over a VariantBatch.

Semantics follow bcftools filter.c: every value is a vector per record (and per sample for
FORMAT data); comparisons are true if ANY pair of elements compares true; missing values make
a comparison false except for `==` with both sides missing and `!=` with one side missing;
`&` combines per-sample results within the same sample, `&&` across samples.  Numbers are
compared as float32 (as bcftools does, so QUAL==59.2 works) unless they exceed 2^24.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .ast import (
    Binary,
    Call,
    Col,
    FilterTest,
    Fmt,
    Genotype,
    Index,
    Info,
    Missing,
    Node,
    Num,
    Regex,
    Str,
    TypeTest,
    Unary,
)
from .batch import VariantBatch
from .errors import ExprError
from .posix_re import bre_to_python

INT_MISSING = -2147483648.0  # bcftools leaves missing INFO integers in vectors as this value
F32_EXACT = 16777216.0
# missing_logic of bcftools: [any missing allowed, one side missing, both missing]
MISSING_LOGIC = {"==": (1, 0, 1), "!=": (1, 1, 0), "~": (1, 0, 1), "!~": (1, 1, 0)}
_CMP = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


@dataclass
class NumV:
    vals: np.ndarray  # (n, k) site values, or (n, S, k) per-sample values; NaN = missing
    nv: np.ndarray  # (n,) number of values (site) or values per sample (samples); 0 = absent
    samples: bool = False
    usmpl: np.ndarray | None = None  # (S,) samples in use
    fmt_tag: bool = False  # a raw FORMAT tag (COUNT counts its values)


@dataclass
class StrV:
    data: list  # per record: None (absent), str (site) or list[str] per sample
    samples: bool = False
    usmpl: np.ndarray | None = None
    listy: bool = False  # STRLEN works per comma-separated element


@dataclass
class BoolV:
    site: np.ndarray  # (n,) bool
    smpl: np.ndarray | None = None  # (n, S) bool
    usmpl: np.ndarray | None = None


def _fail(msg: str, node: Node) -> ExprError:
    return ExprError(msg, pos=node.pos)


def _cmp(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        f = _CMP[op]
        exact = f(a.astype(np.float32), b.astype(np.float32))
        big = (a > F32_EXACT) | (b > F32_EXACT)
        if big.any():
            exact = np.where(big, f(a, b), exact)
    return exact


def _cmp_one_each(op: str, smp, site_t, swap: bool, ml) -> np.ndarray:
    """(n, S) per-sample truth of one value per sample against one site value: the general
    4-D comparison in `cmp_num` with both value axes of length one, without them."""
    A = smp.vals[:, :, 0]
    B = site_t.vals[:, :1]
    ma = np.isnan(A)
    mb = np.isnan(B)
    res = _cmp(op, B, A) if swap else _cmp(op, A, B)
    if mb.any():
        nmiss = ma.astype(np.int8) + mb.astype(np.int8)
        term = np.where(nmiss > 0, np.array(ml, dtype=bool)[nmiss], res)
    else:
        term = np.where(ma, bool(ml[1]), res)
    if not ml[0]:
        term &= ~ma
    term &= (smp.nv > 0)[:, None]
    term &= (site_t.nv > 0)[:, None]
    return term


def _ml(op: str) -> tuple[int, int, int]:
    return MISSING_LOGIC.get(op, (0, 0, 0))


def _valid(nv: np.ndarray, k: int) -> np.ndarray:
    return np.arange(k)[None, :] < nv[:, None]


class VariantEvaluator:
    def __init__(self, batch: VariantBatch):
        self.b = batch
        self.n = batch.n
        self.S = batch.n_samples

    # ------------------------------------------------------------------------------------
    def passes(self, node: Node) -> np.ndarray:
        v = self.ev(node)
        if isinstance(v, BoolV):
            return v.site
        # A bare value never passes in bcftools (its pass flag is never set).
        return np.zeros(self.n, dtype=bool)

    def ev(self, node: Node):
        if isinstance(node, Num):
            return NumV(np.full((self.n, 1), node.value), np.ones(self.n, dtype=np.int32))
        if isinstance(node, Missing):
            return NumV(np.full((self.n, 1), np.nan), np.ones(self.n, dtype=np.int32))
        if isinstance(node, Str):
            return StrV([node.value] * self.n)
        if isinstance(node, Col):
            return self.col(node)
        if isinstance(node, Info):
            return self.info(node)
        if isinstance(node, Fmt):
            return self.fmt(node)
        if isinstance(node, Genotype):
            return self.genotype(node)
        if isinstance(node, TypeTest):
            return self.type_test(node)
        if isinstance(node, FilterTest):
            return self.filter_test(node)
        if isinstance(node, Unary):
            return self.negate(self.as_bool(self.ev(node.operand)))
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Binary):
            if node.op in ("&&", "||", "&", "|"):
                return self.logic(node.op, self.as_bool(self.ev(node.left)),
                                  self.as_bool(self.ev(node.right)))
            if isinstance(node.left, Col) and node.left.name == "ID":
                return self.id_test(node)
            if node.op in ("==", "!=", "<", "<=", ">", ">=", "~", "!~"):
                a = self.ev(node.left)
                b = node.right if isinstance(node.right, Regex) else self.ev(node.right)
                if isinstance(a, StrV) or isinstance(b, (StrV, Regex)):
                    return self.cmp_str(node.op, a, b)
                return self.cmp_num(node.op, a, b, node)
            return self.arith(node.op, self.ev(node.left), self.ev(node.right), node)
        raise _fail(f"cannot evaluate {type(node).__name__}", node)

    def as_bool(self, v) -> BoolV:
        if isinstance(v, BoolV):
            return v
        samples = getattr(v, "samples", False)
        return BoolV(np.zeros(self.n, dtype=bool),
                     np.zeros((self.n, self.S), dtype=bool) if samples else None,
                     getattr(v, "usmpl", None))

    # -- columns --------------------------------------------------------------------------
    def _need(self, value, name: str, node: Node):
        if value is None:
            raise _fail(f"the batch has no {name} column (projection bug)", node)
        return value

    def col(self, node: Col):
        b, n, name = self.b, self.n, node.name
        ones = np.ones(n, dtype=np.int32)
        if name == "QUAL":
            return NumV(self._need(b.qual, "QUAL", node).astype(np.float64)[:, None], ones)
        if name == "POS":
            return NumV(self._need(b.pos, "POS", node).astype(np.float64)[:, None], ones)
        if name == "N_SAMPLES":
            return NumV(np.full((n, 1), float(self.S)), ones)
        if name == "N_ALT":
            alts = self._need(b.alt, "ALT", node)
            return NumV(np.array([[len(a)] for a in alts], dtype=np.float64).reshape(n, 1), ones)
        if name == "CHROM":
            chrom = self._need(b.chrom, "CHROM", node)
            return StrV([b.contigs[c] for c in chrom])
        if name == "REF":
            return StrV(list(self._need(b.ref, "REF", node)))
        if name == "ALT":
            return self.alt(node)
        if name == "ID":
            return StrV(list(self._need(b.id, "ID", node)))
        if name in ("N_MISSING", "F_MISSING"):
            return self.n_missing(node)
        if name == "ILEN":
            return self.ilen(node)
        if name in ("AC", "AN", "MAC", "AF", "MAF"):
            return self.allele_counts(node)
        raise _fail(f"{name} cannot be used here", node)

    def alt(self, node: Col) -> StrV:
        alts = self._need(self.b.alt, "ALT", node)
        idx = node.index
        out = []
        for a in alts:
            if idx is not None and idx.single:
                i = idx.items[0]
                out.append(a[i] if i < len(a) else ".")
            elif idx is not None and not idx.is_all:
                out.append(",".join(a[i] for i in idx.selected(len(a))))
            else:
                out.append(",".join(a) if a else ".")
        return StrV(out, listy=idx is None or not idx.single)

    def ilen(self, node: Col) -> NumV:
        refs = self._need(self.b.ref, "REF", node)
        alts = self._need(self.b.alt, "ALT", node)
        k = max([len(a) for a in alts] + [1])
        vals = np.full((self.n, k), np.nan)
        nv = np.zeros(self.n, dtype=np.int32)
        for r, (ref, alt) in enumerate(zip(refs, alts, strict=True)):
            nv[r] = len(alt)
            for j, a in enumerate(alt):
                if not a.startswith("<"):
                    vals[r, j] = len(a) - len(ref)
        return NumV(vals, nv)

    def _gt(self, node: Node):
        b = self.b
        if b.gt is None or b.gt_present is None:
            raise _fail("the batch has no GT column (projection bug)", node)
        return b.gt, b.gt_present

    def n_missing(self, node: Col) -> NumV:
        n = self.n
        if self.S == 0:
            return NumV(np.zeros((n, 1)), np.ones(n, dtype=np.int32))
        gt, present = self._gt(node)
        miss = (gt == -1).any(axis=2).sum(axis=1).astype(np.float64)
        if node.name == "F_MISSING":
            miss = miss / self.S
        return NumV(miss[:, None], present.astype(np.int32))

    def _ac(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """Per-record allele counts (n, max_alleles) and whether they are known (bcf_calc_ac)."""
        b, n = self.b, self.n
        alts = self._need(b.alt, "ALT", node)
        nal = np.array([len(a) + 1 for a in alts], dtype=np.int64)
        kmax = int(nal.max()) if n else 1
        ac = np.zeros((n, kmax), dtype=np.int64)
        known = np.zeros(n, dtype=bool)
        use_info = "AC" in b.info and "AN" in b.info
        if use_info:
            acol, ncol = b.info["AC"], b.info["AN"]
            for r in range(n):
                if ncol.length[r] and acol.length[r] and not np.isnan(ncol.values[r, 0]):
                    if acol.length[r] != nal[r] - 1:
                        continue
                    vals = acol.values[r, : acol.length[r]]
                    vals = np.where(np.isnan(vals), INT_MISSING, vals).astype(np.int64)
                    ac[r, 1 : nal[r]] = vals
                    ac[r, 0] = int(ncol.values[r, 0]) - vals.sum()
                    known[r] = True
        if b.gt is not None and b.gt_present is not None:
            gt = b.gt.astype(np.int64)
            todo = ~known & b.gt_present
            for a in range(kmax):
                cnt = (gt == a).sum(axis=(1, 2))
                ac[todo, a] = cnt[todo]
            known |= todo
        return ac, known & (ac.sum(axis=1) > 0), nal

    def allele_counts(self, node: Col) -> NumV:
        ac, known, nal = self._ac(node)
        n = self.n
        an = ac.sum(axis=1).astype(np.float64)
        if node.name == "AN":
            return NumV(np.where(known, an, 0.0)[:, None], np.ones(n, dtype=np.int32))
        if node.name in ("MAC", "MAF"):
            return self._minor_allele(node.name, ac, known, nal, an)
        k = max(int(nal.max()) - 1, 1) if n else 1
        vals = np.full((n, k), np.nan)
        nv = np.zeros(n, dtype=np.int32)
        idx = node.index
        for r in range(n):
            if not known[r]:
                continue
            if idx is not None and idx.single:
                i = idx.items[0]
                vals[r, 0] = ac[r, i + 1] if i + 1 < nal[r] else 0
                nv[r] = 1
            elif nal[r] == 1:
                vals[r, 0] = 0
                nv[r] = 1
            else:
                vals[r, : nal[r] - 1] = ac[r, 1 : nal[r]]
                nv[r] = nal[r] - 1
        if node.name == "AF":
            with np.errstate(invalid="ignore", divide="ignore"):
                vals = vals / an[:, None]
        return NumV(vals, nv)

    def _minor_allele(self, name: str, ac: np.ndarray, known: np.ndarray, nal: np.ndarray,
                      an: np.ndarray) -> NumV:
        """bcftools 1.24's MAC/MAF: one value per site, not one per ALT. The minor allele is
        the least frequent allele with a non-zero count over REF and all ALTs (so on A/C,G
        with counts 1,4,2 MAC is 1, the REF count); 0 when at most one allele was seen.
        Subscripts are ignored (MAC[1] is MAC), probed against bcftools 1.24."""
        n = self.n
        vals = np.full((n, 1), np.nan)
        for r in np.nonzero(known)[0]:
            counts = ac[r, : nal[r]]
            seen = counts[counts != 0]
            vals[r, 0] = float(seen.min()) if seen.size >= 2 else 0.0
        if name == "MAF":
            with np.errstate(invalid="ignore", divide="ignore"):
                vals = vals / an[:, None]
        return NumV(vals, known.astype(np.int32))

    def info(self, node: Info):
        col = self.b.info.get(node.tag)
        if col is None:
            raise _fail(f"the batch has no INFO/{node.tag} column (projection bug)", node)
        n = self.n
        if node.type == "Flag":
            return NumV((col.length > 0).astype(np.float64)[:, None], np.ones(n, dtype=np.int32))
        if node.type in ("String", "Character"):
            return self.info_str(node, col)
        vals, length = col.values, col.length
        if node.number == "1":
            present = (length > 0) & ~np.isnan(vals[:, 0])
            return NumV(vals[:, :1].copy(), present.astype(np.int32))
        idx = node.index
        if idx is not None and idx.single:
            i = idx.items[0]
            v = np.full((n, 1), np.nan)
            if i < vals.shape[1]:
                v[:, 0] = vals[:, i]
            # bcftools returns the only value of a one-value INFO vector whatever the index.
            one = length == 1
            v[one, 0] = vals[one, 0]
            present = ((i < length) | one) & ~np.isnan(v[:, 0])
            return NumV(v, present.astype(np.int32))
        if node.type == "Integer":
            # bcftools does not convert missing integers inside INFO vectors.
            vals = np.where(np.isnan(vals) & _valid(length, vals.shape[1]), INT_MISSING, vals)
        if idx is None or idx.is_all:
            return NumV(vals, length.astype(np.int32))
        k = vals.shape[1]
        sel = idx.selected(k)
        out = np.full((n, max(len(sel), 1)), np.nan)
        nv = np.zeros(n, dtype=np.int32)
        for j, i in enumerate(sel):
            ok = i < length
            out[ok, j] = vals[ok, i]
        for r in range(n):
            nv[r] = sum(1 for i in sel if i < length[r])
        return NumV(out, nv)

    def info_str(self, node: Info, col) -> StrV:
        out: list = []
        idx = node.index
        for r in range(self.n):
            s = col.values[r] if col.length[r] else None
            if s is None or node.number == "1" or idx is None or idx.is_all:
                out.append(s)
                continue
            parts = s.split(",")
            if idx.single:
                i = idx.items[0]
                out.append(parts[i] if i < len(parts) else None)
            else:
                sel = idx.selected(len(parts))
                out.append(",".join(parts[i] for i in sel) if sel else None)
        listy = node.number != "1" and (idx is None or not idx.single)
        return StrV(out, listy=listy)

    def _usmpl(self, samples: Index) -> np.ndarray:
        u = np.zeros(self.S, dtype=bool)
        u[[i for i in samples.selected(self.S)]] = True
        return u

    def fmt(self, node: Fmt):
        col = self.b.fmt.get(node.tag)
        if col is None:
            raise _fail(f"the batch has no FORMAT/{node.tag} column (projection bug)", node)
        usmpl = self._usmpl(node.samples)
        if node.type in ("String", "Character"):
            return self.fmt_str(node, col, usmpl)
        vals, width = col.values, col.width
        n, S = self.n, self.S
        k = vals.shape[2] if vals.ndim == 3 else 0
        idx = node.values
        if idx is None and node.number == "1":
            idx = Index((0,), None, single=True)
        if idx is None or idx.is_all:
            return NumV(vals, width.astype(np.int32), True, usmpl, fmt_tag=True)
        if idx.single:
            i = idx.items[0]
            v = vals[:, :, i : i + 1] if i < k else np.full((n, S, 1), np.nan)
            return NumV(v.copy(), (width > 0).astype(np.int32), True, usmpl, fmt_tag=True)
        # a list: closed lists have a fixed width, open lists the record's width
        sel = idx.selected(max(k, 1))
        closed = idx.open_from is None
        kk = len(idx.items) if closed else max(k, 1)
        out = np.full((n, S, max(kk, 1)), np.nan)
        nv = np.zeros(n, dtype=np.int32)
        for r in range(n):
            if not width[r]:
                continue
            keep = [i for i in sel if i < width[r]] if not closed else list(idx.items)
            for j, i in enumerate(keep):
                if i < k:
                    out[r, :, j] = vals[r, :, i]
            nv[r] = len(idx.items) if closed else width[r]
        return NumV(out, nv, True, usmpl, fmt_tag=True)

    def fmt_str(self, node: Fmt, col, usmpl: np.ndarray) -> StrV:
        out: list = []
        idx = node.values
        for r in range(self.n):
            if not col.width[r]:
                out.append(None)
                continue
            row = []
            for s in col.values[r]:
                s = "." if s is None else s
                if idx is not None and not idx.is_all:
                    parts = s.split(",")
                    keep = [parts[i] for i in idx.selected(len(parts))]
                    s = ",".join(keep) if keep else "."
                row.append(s)
            out.append(row)
        return StrV(out, True, usmpl)

    def genotype(self, node: Genotype) -> StrV:
        gt, present = self._gt(node)
        phased = self.b.gt_phased
        usmpl = self._usmpl(node.samples)
        alle = gt.astype(np.int64)
        n, S = self.n, self.S
        out: list = []
        for r in range(n):
            if not present[r]:
                out.append(None)
                continue
            row = []
            for s in range(S):
                a = alle[r, s]
                if node.kind == 0:
                    row.append(_format_gt(a, phased[r, s] if phased is not None else None))
                    continue
                calls = []
                missing = False
                for x in a:
                    if x == -2:
                        break
                    if x == -1:
                        missing = True
                        break
                    calls.append(int(x))
                row.append(_gt_class(node.kind, calls, missing))
            out.append(row)
        return StrV(out, True, usmpl)

    # -- special tests ----------------------------------------------------------------------
    def type_test(self, node: TypeTest) -> BoolV:
        refs = self._need(self.b.ref, "REF", node)
        alts = self._need(self.b.alt, "ALT", node)
        vt = np.array([_type_bits(r, a) for r, a in zip(refs, alts, strict=True)], dtype=np.int64)
        if node.op == "==":
            site = vt == node.mask
        elif node.op == "!=":
            site = vt != node.mask
        elif node.op == "~":
            site = (vt & node.mask) != 0
        else:
            site = (vt & node.mask) == 0
        return BoolV(site)

    def filter_test(self, node: FilterTest) -> BoolV:
        flts = self._need(self.b.filter, "FILTER", node)
        q = set(node.names)
        site = np.zeros(self.n, dtype=bool)
        for r, f in enumerate(flts):
            have = set(f)
            if node.op == "!~":
                site[r] = (bool(have) if not q else (not have or not q <= have))
            elif node.op == "~":
                site[r] = (not have) if not q else (bool(have) and q <= have)
            elif node.op == "!=":
                site[r] = len(q) != len(have) or (bool(q) and not q <= have)
            else:
                site[r] = len(q) == len(have) and q <= have
        return BoolV(site)

    def id_test(self, node: Binary) -> BoolV:
        ids = self._need(self.b.id, "ID", node)
        op = node.op
        if op not in ("==", "!=", "~", "!~"):
            raise _fail("only ==, !=, ~ and !~ are supported for ID", node)
        rx = None
        if isinstance(node.right, Regex):
            rx = re.compile(bre_to_python(node.right.pattern),
                            re.IGNORECASE if node.right.icase else 0)
        elif not isinstance(node.right, Str):
            raise _fail("ID can only be compared with a quoted string", node)
        site = np.zeros(self.n, dtype=bool)
        for r, idv in enumerate(ids):
            parts = idv.split(";")
            if rx is not None:
                hit = any(rx.search(p) for p in parts)
            else:
                hit = any(p == node.right.value for p in parts)
            # bcftools negates only for '!='; '!~' behaves like '~' for ID.
            site[r] = (not hit) if op == "!=" else hit
        return BoolV(site)

    # -- comparisons ------------------------------------------------------------------------
    def cmp_num(self, op: str, a, b, node: Node) -> BoolV:
        if not isinstance(a, NumV) or not isinstance(b, NumV):
            raise _fail("type mismatch in comparison", node)
        ml = _ml(op)
        n, S = self.n, self.S
        a_abs, b_abs = a.nv == 0, b.nv == 0
        if not a.samples and not b.samples:
            site = np.zeros(n, dtype=bool)
            both = a_abs & b_abs
            site[both] = bool(ml[2])
            for one, pres in ((a_abs & ~b_abs, b), (b_abs & ~a_abs, a)):
                if one.any():
                    miss = np.isnan(pres.vals)
                    term = np.where(miss, bool(ml[2]), bool(ml[1]))
                    term &= _valid(pres.nv, pres.vals.shape[1])
                    site[one] = term.any(axis=1)[one]
            full = ~a_abs & ~b_abs
            if full.any():
                A, B = a.vals[:, :, None], b.vals[:, None, :]
                ma, mb = np.isnan(A), np.isnan(B)
                nmiss = ma.astype(np.int8) + mb.astype(np.int8)
                mlv = np.array(ml, dtype=bool)
                term = np.where(nmiss > 0, mlv[nmiss], _cmp(op, A, B))
                valid = _valid(a.nv, a.vals.shape[1])[:, :, None] & \
                    _valid(b.nv, b.vals.shape[1])[:, None, :]
                site[full] = (term & valid).any(axis=(1, 2))[full]
            return BoolV(site)
        # at least one side has samples
        usm = np.zeros(S, dtype=bool)
        for t in (a, b):
            if t.samples and t.usmpl is not None:
                usm |= t.usmpl
        ps = np.zeros((n, S), dtype=bool)
        both = a_abs & b_abs
        if ml[2]:
            ps[both] = usm
        for one, pres in ((a_abs & ~b_abs, b), (b_abs & ~a_abs, a)):
            if not one.any():
                continue
            if pres.samples:
                k = pres.vals.shape[2]
                miss = (np.isnan(pres.vals) & _valid(pres.nv, k)[:, None, :]).any(axis=2)
                lv = np.array(ml, dtype=bool)[miss.astype(np.int8) + 1]
                ps[one] = (lv & usm)[one]
            else:
                miss = (np.isnan(pres.vals) & _valid(pres.nv, pres.vals.shape[1])).any(axis=1)
                lv = np.array(ml, dtype=bool)[miss.astype(np.int8) + 1]
                ps[one] = lv[one][:, None] & usm[None, :]
        full = ~a_abs & ~b_abs
        if full.any():
            mlv = np.array(ml, dtype=bool)
            if a.samples and b.samples:
                bad = full & (a.nv != b.nv)
                if bad.any():
                    raise _fail("incompatible number of per-sample values in comparison", node)
                usm = a.usmpl & b.usmpl
                k = max(a.vals.shape[2], b.vals.shape[2])
                A, B = _pad3(a.vals, k), _pad3(b.vals, k)
                ma, mb = np.isnan(A), np.isnan(B)
                nmiss = ma.astype(np.int8) + mb.astype(np.int8)
                term = np.where(ma & (not ml[0]), False, np.where(nmiss > 0, mlv[nmiss],
                                                                  _cmp(op, A, B)))
                term &= _valid(a.nv, k)[:, None, :]
                hit = term.any(axis=2)
            else:
                smp, site_t, swap = (a, b, False) if a.samples else (b, a, True)
                k, kb = smp.vals.shape[2], site_t.vals.shape[1]
                if k == 1 and kb == 1:
                    hit = _cmp_one_each(op, smp, site_t, swap, ml)
                    usm = smp.usmpl if smp.usmpl is not None else usm
                    ps[full] = (hit & usm[None, :])[full]
                    return BoolV(ps.any(axis=1), ps, usm)
                A = smp.vals[:, :, :, None]
                B = site_t.vals[:, None, None, :]
                ma, mb = np.isnan(A), np.isnan(B)
                nmiss = ma.astype(np.int8) + mb.astype(np.int8)
                res = _cmp(op, B, A) if swap else _cmp(op, A, B)
                term = np.where(ma & (not ml[0]), False, np.where(nmiss > 0, mlv[nmiss], res))
                term &= _valid(smp.nv, k)[:, None, :, None]
                term &= _valid(site_t.nv, kb)[:, None, None, :]
                hit = term.any(axis=(2, 3))
                usm = smp.usmpl if smp.usmpl is not None else usm
            ps[full] = (hit & usm[None, :])[full]
        return BoolV(ps.any(axis=1), ps, usm)

    def cmp_str(self, op: str, a, b) -> BoolV:
        if op not in ("==", "!=", "~", "!~"):
            raise ExprError(f"strings support ==, !=, ~ and !~, not {op}")
        ml = _ml(op)
        rx = None
        if isinstance(b, Regex):
            rx = re.compile(bre_to_python(b.pattern), re.IGNORECASE if b.icase else 0)
            b = StrV([b.pattern] * self.n)
        elif isinstance(a, Regex):
            rx = re.compile(bre_to_python(a.pattern), re.IGNORECASE if a.icase else 0)
            a, b = b, StrV([a.pattern] * self.n)
        if not isinstance(a, StrV) or not isinstance(b, StrV):
            raise ExprError("type mismatch: cannot compare strings and numbers")
        n, S = self.n, self.S
        if not a.samples and not b.samples:
            site = np.zeros(n, dtype=bool)
            for r in range(n):
                site[r] = _str_pair(a.data[r], b.data[r], op, ml, rx)
            return BoolV(site)
        smp, oth = (a, b) if a.samples else (b, a)
        usm = smp.usmpl if smp.usmpl is not None else np.ones(S, dtype=bool)
        ps = np.zeros((n, S), dtype=bool)
        for r in range(n):
            x, y = smp.data[r], oth.data[r]
            if x is None and y is None:
                if ml[2]:
                    ps[r] = usm
                continue
            if x is None:
                if ml[_has_missing(y) + 1]:
                    ps[r] = usm
                continue
            for s in range(S):
                if not usm[s]:
                    continue
                if y is None:
                    ps[r, s] = bool(ml[_has_missing(x[s]) + 1])
                else:
                    ps[r, s] = _str_pair(x[s], y, op, ml, rx)
        return BoolV(ps.any(axis=1), ps, usm)

    # -- logic ------------------------------------------------------------------------------
    def _union_usmpl(self, a: BoolV, b: BoolV) -> np.ndarray | None:
        if a.smpl is None and b.smpl is None:
            return None
        u = np.zeros(self.S, dtype=bool)
        for t in (a, b):
            if t.smpl is not None:
                u |= t.usmpl if t.usmpl is not None else True
        return u

    def logic(self, op: str, a: BoolV, b: BoolV) -> BoolV:
        n, S = self.n, self.S
        usm = self._union_usmpl(a, b)
        if usm is None:
            site = (a.site | b.site) if op in ("||", "|") else (a.site & b.site)
            return BoolV(site)
        zeros = np.zeros((n, S), dtype=bool)
        sa = a.smpl if a.smpl is not None else None
        sb = b.smpl if b.smpl is not None else None
        if op in ("||", "|"):
            site = a.site | b.site
            if sa is not None and sb is not None:
                if op == "||":
                    smpl = np.broadcast_to(usm, (n, S)).copy()
                else:
                    smpl = (sa | sb) & usm
            else:
                tok = sa if sa is not None else sb
                if op == "||":
                    # one side is site-level: take the per-sample side when the site side fails
                    other_site = b.site if sa is not None else a.site
                    smpl = np.where(other_site[:, None], usm[None, :], tok & usm)
                else:
                    smpl = tok & usm
            smpl = np.where(site[:, None], smpl, zeros)
            return BoolV(site, smpl, usm)
        # and
        both_pass = a.site & b.site
        if sa is not None and sb is not None:
            if op == "&&":
                smpl = (sa | sb) & usm
                site = both_pass
            else:
                smpl = sa & sb & usm
                site = both_pass & smpl.any(axis=1)
        else:
            tok = sa if sa is not None else sb
            smpl = tok & usm
            site = both_pass
        smpl = np.where(both_pass[:, None], smpl, zeros)
        return BoolV(site, smpl, usm)

    def negate(self, v: BoolV) -> BoolV:
        smpl = None
        if v.smpl is not None:
            u = v.usmpl if v.usmpl is not None else np.ones(self.S, dtype=bool)
            smpl = ~v.smpl & u
        return BoolV(~v.site, smpl, v.usmpl)

    # -- arithmetic -------------------------------------------------------------------------
    def arith(self, op: str, a, b, node: Node) -> NumV:
        if not isinstance(a, NumV) or not isinstance(b, NumV):
            raise _fail("type mismatch: arithmetic needs numbers", node)

        def apply(x, y):
            with np.errstate(all="ignore"):
                if op == "+":
                    return x + y
                if op == "-":
                    return x - y
                if op == "*":
                    return x * y
                if op == "/":
                    return x / y
                xi, yi = np.trunc(x), np.trunc(y)
                return np.where(yi == 0, np.nan, np.fmod(xi, np.where(yi == 0, 1, yi)))

        present = (a.nv > 0) & (b.nv > 0)
        if not a.samples and not b.samples:
            bad = present & (a.nv != b.nv) & (a.nv != 1) & (b.nv != 1)
            if bad.any():
                raise _fail("cannot run a numeric operator on vectors of different lengths",
                            node)
            k = max(a.vals.shape[1], b.vals.shape[1])
            A = np.where((a.nv == 1)[:, None], a.vals[:, :1], _pad2(a.vals, k))
            B = np.where((b.nv == 1)[:, None], b.vals[:, :1], _pad2(b.vals, k))
            out = apply(A, B)
            nv = np.maximum(a.nv, b.nv)
            out[~_valid(nv, k)] = np.nan
            has = (~np.isnan(out) & _valid(nv, k)).any(axis=1) & present
            return NumV(out, np.where(has, nv, 0).astype(np.int32))
        usm = np.zeros(self.S, dtype=bool)
        for t in (a, b):
            if t.samples and t.usmpl is not None:
                usm |= t.usmpl
        if a.samples and b.samples:
            bad = present & (a.nv != b.nv) & (a.nv != 1) & (b.nv != 1)
            if bad.any():
                raise _fail("cannot run a numeric operator on vectors of different lengths",
                            node)
            k = max(a.vals.shape[2], b.vals.shape[2])
            A = np.where((a.nv == 1)[:, None, None], a.vals[:, :, :1], _pad3(a.vals, k))
            B = np.where((b.nv == 1)[:, None, None], b.vals[:, :, :1], _pad3(b.vals, k))
            nv = np.maximum(a.nv, b.nv)
        else:
            smp, site_t = (a, b) if a.samples else (b, a)
            if (present & (site_t.nv > 1)).any():
                raise _fail("a per-sample value can only be combined with a single site value",
                            node)
            k = smp.vals.shape[2]
            S = smp.vals[:, :, :k]
            T = np.broadcast_to(site_t.vals[:, :1, None], S.shape)
            A, B = (S, T) if a.samples else (T, S)
            nv = smp.nv
        out = apply(A, B)
        out[~np.broadcast_to(_valid(nv, k)[:, None, :], out.shape)] = np.nan
        has = (~np.isnan(out)).any(axis=(1, 2)) & present
        return NumV(out, np.where(has, nv, 0).astype(np.int32), True, usm)

    # -- functions --------------------------------------------------------------------------
    def _flat(self, v: NumV) -> tuple[np.ndarray, np.ndarray]:
        """Values as (n, m) with a validity mask (non-missing, in range, used samples)."""
        if v.samples:
            k = v.vals.shape[2]
            ok = _valid(v.nv, k)[:, None, :] & ~np.isnan(v.vals)
            if v.usmpl is not None:
                ok &= v.usmpl[None, :, None]
            return v.vals.reshape(self.n, -1), ok.reshape(self.n, -1)
        ok = _valid(v.nv, v.vals.shape[1]) & ~np.isnan(v.vals)
        return v.vals, ok

    def call(self, node: Call):
        name = node.name
        n = self.n
        if name in ("N_PASS", "F_PASS", "ALL"):
            v = self.as_bool(self.ev(node.args[0]))
            u = v.usmpl if v.usmpl is not None else np.ones(self.S, dtype=bool)
            smpl = v.smpl if v.smpl is not None else np.zeros((n, self.S), dtype=bool)
            if name == "ALL":
                site = (smpl | ~u[None, :]).all(axis=1) & (u.any())
                return BoolV(site, smpl, u)
            cnt = (smpl & u).sum(axis=1).astype(np.float64)
            if name == "F_PASS":
                cnt = cnt / self.S if self.S else np.zeros(n)
            return NumV(cnt[:, None], np.ones(n, dtype=np.int32))
        arg = self.ev(node.args[0])
        if name == "COUNT":
            return self.count(arg)
        if name == "STRLEN":
            return self.strlen(arg)
        if not isinstance(arg, NumV):
            raise _fail(f"type mismatch: {name}() needs numbers", node)
        if name in ("ABS", "PHRED"):
            with np.errstate(all="ignore"):
                vals = np.abs(arg.vals) if name == "ABS" else -4.34294481903 * np.log(arg.vals)
            return NumV(vals, arg.nv, arg.samples, arg.usmpl)
        if name.startswith("S") and name != "SUM" and name != "STDEV":
            base = name[1:]
            if not arg.samples:
                # bcftools falls back to the site function (AVG for SMEDIAN/SSTDEV/SSUM).
                return self.reduce("AVG" if base in ("MEDIAN", "STDEV", "SUM") else base, arg)
            return self.reduce_per_sample(base, arg)
        return self.reduce(name, arg)

    def reduce(self, name: str, v: NumV) -> NumV:
        vals, ok = self._flat(v)
        n = self.n
        out = np.full(n, np.nan)
        has = ok.any(axis=1) & (v.nv > 0)
        for r in np.nonzero(has)[0]:
            x = vals[r][ok[r]]
            out[r] = _reduce1(name, x)
        return NumV(out[:, None], has.astype(np.int32))

    def reduce_per_sample(self, name: str, v: NumV) -> NumV:
        n, S = self.n, self.S
        k = v.vals.shape[2]
        ok = _valid(v.nv, k)[:, None, :] & ~np.isnan(v.vals)
        out = np.full((n, S, 1), np.nan)
        for r in range(n):
            for s in range(S):
                x = v.vals[r, s][ok[r, s]]
                if x.size:
                    out[r, s, 0] = _reduce1(name, x)
        return NumV(out, np.ones(n, dtype=np.int32), True, v.usmpl)

    def count(self, v) -> NumV:
        n = self.n
        if isinstance(v, NumV) and v.samples and v.fmt_tag:
            _, ok = self._flat(v)
            cnt = ok.sum(axis=1)
        elif isinstance(v, BoolV) and v.smpl is not None:
            cnt = v.smpl.sum(axis=1)
        elif isinstance(v, StrV) and not v.samples:
            cnt = np.array([0 if not s else 1 + s.count(",") for s in v.data])
        elif isinstance(v, NumV) and not v.samples:
            cnt = v.nv
        else:
            cnt = np.zeros(n)
        return NumV(cnt.astype(np.float64)[:, None], np.ones(n, dtype=np.int32))

    def strlen(self, v) -> NumV:
        if not isinstance(v, StrV) or v.samples:
            raise ExprError("STRLEN needs a site-level string")
        n = self.n
        k = max([1] + [s.count(",") + 1 for s in v.data if s])
        vals = np.full((n, k), np.nan)
        nv = np.zeros(n, dtype=np.int32)
        for r, s in enumerate(v.data):
            if not s:
                continue
            if v.listy:
                parts = s.split(",")
                vals[r, : len(parts)] = [len(p) for p in parts]
                nv[r] = len(parts)
            else:
                vals[r, 0] = 0 if s == "." else len(s)
                nv[r] = 1
        return NumV(vals, nv)


# ---------------------------------------------------------------------------------------
def _pad2(x: np.ndarray, k: int) -> np.ndarray:
    if x.shape[1] >= k:
        return x[:, :k]
    return np.concatenate([x, np.full((x.shape[0], k - x.shape[1]), np.nan)], axis=1)


def _pad3(x: np.ndarray, k: int) -> np.ndarray:
    if x.shape[2] >= k:
        return x[:, :, :k]
    pad = np.full((x.shape[0], x.shape[1], k - x.shape[2]), np.nan)
    return np.concatenate([x, pad], axis=2)


def _reduce1(name: str, x: np.ndarray) -> float:
    if name == "MAX":
        return float(x.max())
    if name == "MIN":
        return float(x.min())
    if name == "AVG":
        return float(x.mean())
    if name == "SUM":
        return float(x.sum())
    if name == "MEDIAN":
        return float(np.median(x))
    if name == "STDEV":
        return 0.0 if x.size == 1 else float(x.std())
    raise ExprError(f"unknown function {name}")


def _has_missing(s: str | None) -> int:
    if s is None:
        return 0
    return int(any(p == "." for p in s.split(",")))


def _str_pair(x: str | None, y: str | None, op: str, ml, rx) -> bool:
    """bcftools cmp_vector_strings for one pair of (comma-separated) strings."""
    if x is None and y is None:
        return bool(ml[2])
    if x is None or y is None:
        return bool(ml[_has_missing(x if x is not None else y) + 1])
    if rx is not None:
        if op == "!~":
            # bcftools 1.24 quirk, reproduced on purpose: on string values (INFO/FORMAT
            # strings, CHROM, REF, ALT, GT text) `!~` never sees the regex match, so every
            # present value passes ('STR!~"^f"' keeps STR=foo too). Only an absent value
            # can fail, through the missing logic (absent, ".", ".,." values against the
            # pattern "."). README "Compatibility notes".
            if all(p == "." for p in x.split(",")):
                # probed: fails only against the pattern "." itself ("a,." passes here,
                # while an absent value fails against it, above)
                return bool(ml[1 + (y == ".")])
            return True
        for p in x.split(","):
            if p == "." and ml[1]:
                return True
            if rx.search(p) is not None:
                return True
        return False
    for p in x.split(","):
        pm = p == "."
        for q in y.split(","):
            nmiss = pm + (q == ".")
            if nmiss:
                if ml[nmiss]:
                    return True
                continue
            eq = p == q
            if (eq if op == "==" else not eq):
                return True
    return False


def _format_gt(alleles: np.ndarray, phased) -> str:
    parts = []
    for j, x in enumerate(alleles):
        if x == -2:
            break
        if j:
            parts.append("|" if phased is not None and phased[j] else "/")
        parts.append("." if x == -1 else str(int(x)))
    return "".join(parts) if parts else "."


def _gt_class(kind: int, calls: list[int], missing: bool) -> str:
    if missing or not calls:
        return "mis" if kind == 4 else "."
    has_ref = 0 in calls
    het = any(c != calls[0] for c in calls[1:])
    if kind == 4:
        if not has_ref:
            return "alt"
        return "alt" if het else "ref"
    if kind == 3:
        if len(calls) == 1:
            return "hap"
        return "het" if het else "hom"
    if len(calls) == 1:
        return "r" if has_ref else "a"
    if not het:
        return "rr" if has_ref else "aa"
    return "ra" if has_ref else "aA"


def _variant_type(ref: str, alt: str) -> int:
    """htslib bcf_set_variant_type: 0 ref, 1 snp, 2 mnp, 4 indel, 8 other, 16 bnd, 32 overlap."""
    if alt == "*":
        return 32
    if len(ref) == 1 and len(alt) == 1:
        if alt in (".", "X") or ref.upper() == alt.upper():
            return 0
        return 1
    if alt.startswith("<"):
        return 0 if alt in ("<X>", "<*>", "<NON_REF>") or alt.startswith(("<X>", "<*>")) else 8
    r, a = ref.upper(), alt.upper()
    i = 0
    while i < len(r) and i < len(a) and r[i] == a[i]:
        i += 1
    if i < len(a) and i == len(r):
        return 16 if a[i] in "[]" else 4
    if i < len(r) and i == len(a):
        return 4
    if i == len(r) and i == len(a):
        return 0
    re_, ae = len(r) - 1, len(a) - 1
    while re_ > i and ae > i and r[re_] == a[ae]:
        re_ -= 1
        ae -= 1
    if ae == i:
        if re_ == i:
            return 1
        return 4 if r[re_] == a[ae] else 8
    if re_ == i:
        return 4 if r[re_] == a[ae] else 8
    return 2 if re_ - i == ae - i else 8


def _type_bits(ref: str, alts: tuple[str, ...]) -> int:
    t = 0
    for a in alts:
        t |= _variant_type(ref, a)
    return 1 if t == 0 else t << 1
