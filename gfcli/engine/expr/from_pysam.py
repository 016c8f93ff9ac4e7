"""Simple, correct (not fast) adapters from pysam records to batches, for tests and as the
reference the real readers are checked against."""

from __future__ import annotations

import numpy as np

from .batch import FastqBatch, FormatColumn, InfoColumn, ReadBatch, VariantBatch


def _tuple(v) -> tuple:
    if v is None:
        return ()
    return v if isinstance(v, tuple) else (v,)


def variant_batch(records: list, header) -> VariantBatch:
    """pysam.VariantRecord list -> VariantBatch with every column decoded."""
    n = len(records)
    samples = list(header.samples)
    S = len(samples)
    contigs = tuple(header.contigs.keys())
    rid = {c: i for i, c in enumerate(contigs)}
    b = VariantBatch(n=n, n_samples=S, contigs=contigs)
    b.chrom = np.array([rid[r.chrom] for r in records], dtype=np.int32)
    b.pos = np.array([r.pos for r in records], dtype=np.int64)
    b.id = np.array([r.id if r.id is not None else "." for r in records] + [None],
                    dtype=object)[:n]
    b.ref = np.array([r.ref for r in records] + [None], dtype=object)[:n]
    alts = np.empty(n, dtype=object)
    for i, r in enumerate(records):
        alts[i] = tuple(r.alts or ())
    b.alt = alts
    b.qual = np.array([np.nan if r.qual is None else r.qual for r in records], dtype=np.float64)
    flts = np.empty(n, dtype=object)
    for i, r in enumerate(records):
        flts[i] = tuple(r.filter.keys())
    b.filter = flts

    for tag, meta in header.info.items():
        typ = str(meta.type)
        length = np.zeros(n, dtype=np.int32)
        if typ == "Flag":
            for i, r in enumerate(records):
                length[i] = 1 if tag in r.info else 0
            b.info[tag] = InfoColumn(length.astype(np.float64)[:, None], length)
            continue
        raw = [(_tuple(r.info[tag]) if tag in r.info else None) for r in records]
        if typ in ("String", "Character"):
            vals = np.empty(n, dtype=object)
            for i, v in enumerate(raw):
                if v is not None:
                    vals[i] = ",".join("." if x is None else str(x) for x in v)
                    length[i] = len(v)
            b.info[tag] = InfoColumn(vals, length)
            continue
        k = max([len(v) for v in raw if v is not None] + [1])
        vals = np.full((n, k), np.nan)
        for i, v in enumerate(raw):
            if v is not None:
                length[i] = len(v)
                vals[i, : len(v)] = [np.nan if x is None else x for x in v]
        b.info[tag] = InfoColumn(vals, length)

    for tag, meta in header.formats.items():
        if tag == "GT":
            continue
        typ = str(meta.type)
        width = np.zeros(n, dtype=np.int32)
        per = []
        for r in records:
            if tag not in r.format:
                per.append(None)
                continue
            per.append([_tuple(r.samples[s][tag]) for s in samples])
        if typ in ("String", "Character"):
            vals = np.empty((n, S), dtype=object)
            for i, p in enumerate(per):
                if p is not None:
                    width[i] = 1
                    for j, v in enumerate(p):
                        vals[i, j] = ",".join("." if x is None else str(x) for x in v) or "."
            b.fmt[tag] = FormatColumn(vals, width)
            continue
        k = max([len(v) for p in per if p is not None for v in p] + [1])
        vals = np.full((n, S, k), np.nan)
        for i, p in enumerate(per):
            if p is None:
                continue
            width[i] = max([len(v) for v in p] + [1])
            for j, v in enumerate(p):
                vals[i, j, : len(v)] = [np.nan if x is None else x for x in v]
        b.fmt[tag] = FormatColumn(vals, width)

    if "GT" in header.formats:
        present = np.array(["GT" in r.format for r in records], dtype=bool)
        P = 1
        for i, r in enumerate(records):
            if present[i]:
                for s in samples:
                    P = max(P, len(r.samples[s]["GT"] or ()))
        gt = np.full((n, S, P), -2, dtype=np.int16)
        ph = np.zeros((n, S, P), dtype=bool)
        for i, r in enumerate(records):
            if not present[i]:
                continue
            for j, s in enumerate(samples):
                call = r.samples[s]
                alleles = call["GT"] or (None,)
                for p, a in enumerate(alleles):
                    gt[i, j, p] = -1 if a is None else a
                    ph[i, j, p] = p > 0 and call.phased
        b.gt, b.gt_phased, b.gt_present = gt, ph, present
    return b


def _clips(cigar: list[tuple[int, int]]) -> tuple[int, int]:
    """(soft clips, hard clips) at both ends, as samtools' sclen/hclen count them."""
    S, H = 4, 5
    n = len(cigar)
    hc = 0
    if n > 0 and cigar[0][0] == H:
        hc += cigar[0][1]
    if n > 1 and cigar[-1][0] == H:
        hc += cigar[-1][1]
    sc, left = 0, 0
    if n > 0 and cigar[0][0] == S:
        sc += cigar[0][1]
    elif n > 1 and cigar[0][0] == H and cigar[1][0] == S:
        sc += cigar[1][1]
        left = 1
    if n - 1 > left and cigar[-1][0] == S:
        sc += cigar[-1][1]
    elif n - 2 > left and cigar[-1][0] == H and cigar[-2][0] == S:
        sc += cigar[-2][1]
    return sc, hc


def read_batch(records: list, header) -> ReadBatch:
    """pysam.AlignedSegment list -> ReadBatch with every column decoded."""
    n = len(records)
    hd = header.to_dict()
    contigs = tuple(sq["SN"] for sq in hd.get("SQ", []))
    libs = {rg["ID"]: rg.get("LB", "") for rg in hd.get("RG", [])}
    b = ReadBatch(n=n, contigs=contigs)
    b.flag = np.array([a.flag for a in records], dtype=np.uint16)
    b.mapq = np.array([a.mapping_quality for a in records], dtype=np.uint8)
    b.refid = np.array([a.reference_id for a in records], dtype=np.int32)
    b.pos = np.array([a.reference_start + 1 for a in records], dtype=np.int64)
    b.mrefid = np.array([a.next_reference_id for a in records], dtype=np.int32)
    b.mpos = np.array([a.next_reference_start + 1 for a in records], dtype=np.int64)
    b.tlen = np.array([a.template_length for a in records], dtype=np.int64)
    cig = [a.cigartuples or [] for a in records]
    rlen = np.array([sum(ln for op, ln in c if op in (0, 2, 3, 7, 8)) for c in cig])
    qlen = np.array([sum(ln for op, ln in c if op in (0, 1, 4, 7, 8)) for c in cig])
    b.rlen, b.qlen = rlen.astype(np.int64), qlen.astype(np.int64)
    unm = np.array([bool(a.flag & 4) or not c for a, c in zip(records, cig, strict=True)])
    b.endpos = np.where(unm | (rlen == 0), b.pos, b.pos - 1 + rlen).astype(np.int64)
    b.ncigar = np.array([len(c) for c in cig], dtype=np.int32)
    clips = [_clips(c) for c in cig]
    b.sclen = np.array([c[0] for c in clips], dtype=np.int32)
    b.hclen = np.array([c[1] for c in clips], dtype=np.int32)

    def obj(values):
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    b.qname = obj([a.query_name for a in records])
    b.cigar = obj([a.cigarstring or "*" for a in records])
    b.seq = obj([a.query_sequence or "" for a in records])
    b.qual = obj(["".join(chr(q) for q in (a.query_qualities or [])) for a in records])
    b.library = obj([libs.get(a.get_tag("RG"), "") if a.has_tag("RG") else "" for a in records])
    names = sorted({t for a in records for t, _ in a.get_tags()})
    for t in names:
        vals = []
        for a in records:
            if not a.has_tag(t):
                vals.append(None)
                continue
            v = a.get_tag(t)
            vals.append(v if isinstance(v, (int, float, str)) else list(v))
        b.tags[t] = obj(vals)
    return b


def fastq_batch(records: list) -> FastqBatch:
    """pysam.FastxRecord (or FastqProxy) list -> FastqBatch."""
    n = len(records)

    def obj(values):
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    return FastqBatch(n=n, name=obj([r.name for r in records]),
                      seq=obj([r.sequence for r in records]),
                      qual=obj([r.quality or "" for r in records]))
