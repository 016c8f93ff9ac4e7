"""mosdepth's outputs from per-reference coverage: summary, distributions, BED files.

Each reference's task returns its summary numbers, depth histograms and its pieces of
the BED outputs already BGZF-compressed (a temp file for the per-base and quantized
runs); the parent writes the text files and concatenates the pieces in header order.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfcli.engine import bgzf, cleanup
from gfcli.engine.depth.core import RefCoverage
from gfcli.engine.errors import UsageError

MAX_COVERAGE = 400000
_BUF = 4 << 20


@dataclass(frozen=True)
class SummaryPlan:
    per_base: bool = True
    window: int | None = None
    regions: dict | None = None  # contig -> list of (beg, end, name or "")
    thresholds: tuple[int, ...] = ()
    quantize: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    median: bool = False
    tmpdir: str | None = None

    @property
    def by(self) -> bool:
        return self.window is not None or self.regions is not None


@dataclass
class RefSummary:
    tid: int
    found: bool
    stat: tuple[int, int, int, int] = (0, 0, 0, 0)  # length, bases, min, max
    hist: Any = None
    region_stat: tuple[int, int, int, int] | None = None
    region_hist: Any = None
    regions_gz: bytes = b""
    thresholds_gz: bytes = b""
    per_base: str | None = None  # temp file of BGZF blocks
    quantized: str | None = None
    skipped: bool = False
    extra: dict = field(default_factory=dict)


def parse_quantize(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    big = (1 << 63) - 1
    a = text if ":" in text else f":{text}:"
    if a.startswith(":"):
        a = "0" + a
    if a.endswith(":"):
        a = a + str(big)
    try:
        qs = sorted(int(x) for x in a.split(":"))
    except ValueError:
        raise UsageError(f"invalid quantize string '{text}'") from None
    labels = []
    for i in range(len(qs) - 1):
        env = os.environ.get(f"MOSDEPTH_Q{i}", "")
        if env:
            labels.append(env)
        elif qs[i + 1] == big:
            labels.append(f"{qs[i]}:inf")
        else:
            labels.append(f"{qs[i]}:{qs[i + 1]}")
    return tuple(qs), tuple(labels)


def read_bed_regions(path: str) -> dict:
    from gfcli.engine.regions import _open_text

    out: dict[str, list[tuple[int, int, str]]] = {}
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith(("track ", "#")):
                continue
            fields = line.strip().split("\t", 5)
            if len(fields) < 3:
                continue
            beg, end = int(fields[1]), int(fields[2])
            if beg > end:
                raise UsageError(f"start > end in bed line: {line.strip()}")
            out.setdefault(fields[0], []).append((beg, end, fields[3] if len(fields) > 3 else ""))
    for ivs in out.values():
        ivs.sort(key=lambda r: r[0])
    return out


def _windows(length: int, window: int) -> list[tuple[int, int, str]]:
    out = [(s, s + window, "") for s in range(0, max(0, length - window), window)]
    start = out[-1][1] if out else 0
    if start != length:
        out.append((start, length, ""))
    return out


class _BlockFile:
    """BGZF blocks appended to a temp file (per-base runs can be large)."""

    def __init__(self, tmpdir: str | None, level: int):
        fd, self.path = tempfile.mkstemp(prefix=".gfcli-depth-", suffix=".gz", dir=tmpdir)
        self.handle = os.fdopen(fd, "wb")
        self.level = level

    def write(self, data: Any) -> None:
        self.handle.write(bgzf.compress_payload(bytes(data), self.level))

    def close(self) -> str:
        self.handle.close()
        return self.path


def reference_summary(task: Any, cov: RefCoverage) -> RefSummary:
    from gfcli.engine.depth.native import kernels

    k = kernels()
    plan: SummaryPlan = task.summary
    length = task.length
    name = task.name
    found = cov.seen > 0
    regions = None
    if plan.window is not None:
        regions = _windows(length, plan.window)
    elif plan.regions is not None:
        regions = plan.regions.get(name)
    if (not plan.per_base and not plan.thresholds and not plan.quantize
            and plan.regions is not None and regions is None):
        return RefSummary(task.tid, found, skipped=True)
    depth = cov.depth
    result = RefSummary(task.tid, found)
    name_b = np.frombuffer(name.encode(), dtype=np.uint8).copy()
    out = np.empty(_BUF, dtype=np.uint8)
    if found:
        top = int(depth[:length].max()) if length else 0
        n_hist = min(top, MAX_COVERAGE) + 2
        hist = np.zeros(n_hist, dtype=np.int64)
        means = np.zeros(1)
        sums = np.zeros(1, dtype=np.int64)
        mins = np.zeros(1, dtype=np.int64)
        maxs = np.zeros(1, dtype=np.int64)
        empty = np.zeros(1, dtype=np.int64)
        k.region_stats(depth, length, np.array([0], dtype=np.int64),
                       np.array([length], dtype=np.int64), False, means, sums, mins, maxs,
                       hist, empty[:0], empty, empty)
        result.stat = (length, int(sums[0]), int(mins[0]), int(maxs[0]))
        result.hist = hist
    if regions is not None:
        n = len(regions)
        begs = np.array([r[0] for r in regions], dtype=np.int64)
        ends = np.array([r[1] for r in regions], dtype=np.int64)
        thr = np.array(plan.thresholds, dtype=np.int64)
        thr_counts = np.zeros(max(1, n * len(thr)), dtype=np.int64)
        means = np.zeros(n)
        sums = np.zeros(n, dtype=np.int64)
        mins = np.zeros(n, dtype=np.int64)
        maxs = np.zeros(n, dtype=np.int64)
        top = int(depth[:length].max()) if length else 0
        rhist = np.zeros(min(top, MAX_COVERAGE) + 2, dtype=np.int64)
        scratch = np.zeros(65536 if plan.median else 1, dtype=np.int64)
        if n:
            k.region_stats(depth, length + 1, begs, ends, plan.median, means, sums, mins, maxs,
                           rhist, thr, thr_counts, scratch)
        lines = []
        tlines = []
        for i, (beg, end, rname) in enumerate(regions):
            mean = means[i] if found else 0.0
            label = f"\t{rname}" if rname else ""
            lines.append(f"{name}\t{beg}\t{end}{label}\t{mean:.2f}\n")
            if len(thr):
                counts = thr_counts[i * len(thr):(i + 1) * len(thr)] if found else [0] * len(thr)
                tlines.append(f"{name}\t{beg}\t{end}\t{rname or 'unknown'}\t"
                              + "\t".join(str(int(c)) for c in counts) + "\n")
        result.regions_gz = bgzf.compress_payload("".join(lines).encode())
        if len(thr):
            result.thresholds_gz = bgzf.compress_payload("".join(tlines).encode(), 1)
        if found:
            if plan.window is not None:
                # mosdepth 0.3 counts fixed windows by their rounded mean, BED regions by
                # the depth of each base.
                rounded = np.minimum(np.floor(means + 0.5).astype(np.int64), MAX_COVERAGE)
                rhist = np.bincount(rounded, minlength=1) if n else np.zeros(1, np.int64)
            result.region_hist = rhist
            lengths = int((ends - begs).sum())
            result.region_stat = (lengths, int(sums.sum()),
                                  int(mins.min()) if n else -1, int(maxs.max()) if n else 0)
    if plan.per_base:
        blocks = _BlockFile(plan.tmpdir, 1)
        resume = np.zeros(1, dtype=np.int64)
        while resume[0] < length:
            n = k.format_runs(name_b, depth, 0, length, resume, out)
            blocks.write(out[:n])
        if length == 0:
            blocks.write(f"{name}\t0\t0\t0\n".encode())
        result.per_base = blocks.close()
    if plan.quantize:
        result.quantized = _quantized(name, depth, length, plan, found)
    return result


def _quantized(name: str, depth: np.ndarray, length: int, plan: SummaryPlan,
               found: bool) -> str:
    qs = np.array(plan.quantize, dtype=np.int64)
    blocks = _BlockFile(plan.tmpdir, 1)
    if length == 0:
        return blocks.close()
    values = depth[:length].astype(np.int64)
    # mosdepth's bin: index i with qs[i] <= v < qs[i+1]; -1 outside [qs[0], qs[-1]].
    bins = np.searchsorted(qs, values, side="right") - 1
    bins[(values < qs[0]) | (values > qs[-1])] = -1
    # Runs over positions 0..length-2; the last position joins the last run (mosdepth).
    head = bins[: max(0, length - 1)]
    if len(head) == 0:
        head = bins[:1]
    change = np.flatnonzero(np.diff(head)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [length]))
    lines = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        b = int(head[s])
        if 0 <= b < len(plan.labels):
            lines.append(f"{name}\t{s}\t{e}\t{plan.labels[b]}\n")
    blocks.write("".join(lines).encode())
    return blocks.close()


# --------------------------------------------------------------------------- parent


def _dist_lines(chrom: str, hist: np.ndarray) -> list[str]:
    total = int(hist.sum())
    if total < 1:
        return []
    out = []
    cum = 0.0
    values = hist.tolist()
    for depth in range(len(values) - 1, -1, -1):
        v = values[depth]
        if depth > 300 and v == 0:
            continue
        cum += float(v) / float(total)
        if cum < 8e-5:
            continue
        out.append(f"{chrom}\t{depth}\t{cum:.2f}\n")
    return out


def _summary_line(region: str, stat: tuple[int, int, int, int]) -> str:
    length, bases, mn, mx = stat
    mean = bases / length if length > 0 else 0.0
    return f"{region}\t{length}\t{bases}\t{mean:.2f}\t{max(mn, 0)}\t{mx}\n"


def _add(acc: np.ndarray | None, hist: np.ndarray) -> np.ndarray:
    if acc is None:
        return hist.copy()
    if len(hist) > len(acc):
        acc, hist = hist.copy(), acc
    acc[: len(hist)] += hist
    return acc


def _merge_stat(a, b):
    return (a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]))


def run_summary(req: Any, rules: Any, sources: list) -> None:
    from gfcli.engine.depth import run as drun
    from gfcli.engine.execute import make_runner
    from gfcli.engine.sinks import AtomicOutput

    prefix = req.prefix
    directory = os.path.dirname(os.path.abspath(prefix)) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {prefix}.*: directory {directory} does not exist")
    thresholds: tuple[int, ...] = ()
    if req.thresholds:
        if not req.by:
            raise UsageError("--thresholds can only be used when --by is specified")
        try:
            thresholds = tuple(sorted(int(x) for x in req.thresholds.split(",")))
        except ValueError:
            raise UsageError(f"invalid --thresholds '{req.thresholds}'") from None
    window = None
    bed = None
    if req.by:
        if req.by.isdigit():
            window = int(req.by)
            if window <= 0:
                raise UsageError("--by window must be positive")
        else:
            bed = read_bed_regions(req.by)
    quantize, labels = parse_quantize(req.quantize) if req.quantize else ((), ())
    plan = SummaryPlan(per_base=not req.no_per_base, window=window, regions=bed,
                       thresholds=thresholds, quantize=quantize, labels=labels,
                       median=req.median, tmpdir=directory)
    src = sources[0]
    names, lengths = src.names, src.lengths
    tids = list(range(len(names)))

    def results():
        if src.kind == "indexed":
            tasks = drun._index_tasks(sources, rules, None, plan, tids, None, directory)
            with make_runner(req.threads if len(tasks) > 1 else 1) as runner:
                yield from runner.map(drun._run_task, tasks)
            return
        got = {}
        for tid, covs in drun._stream_coverage(sources, rules, None):
            got[tid] = covs[0]
            while tids and tids[0] in got:
                t = tids.pop(0)
                task = drun._RefTask(t, names[t], lengths[t], (), rules, summary=plan)
                yield reference_summary(task, got.pop(t))
        for t in tids:
            task = drun._RefTask(t, names[t], lengths[t], (), rules, summary=plan)
            yield reference_summary(task, drun._empty(t, lengths[t]))

    outputs = {"summary": f"{prefix}.mosdepth.summary.txt",
               "global": f"{prefix}.mosdepth.global.dist.txt"}
    if plan.per_base:
        outputs["per_base"] = f"{prefix}.per-base.bed.gz"
    if plan.by:
        outputs["region_dist"] = f"{prefix}.mosdepth.region.dist.txt"
        outputs["regions"] = f"{prefix}.regions.bed.gz"
    if thresholds:
        outputs["thresholds"] = f"{prefix}.thresholds.bed.gz"
    if quantize:
        outputs["quantized"] = f"{prefix}.quantized.bed.gz"
    sinks = {key: AtomicOutput(path) for key, path in outputs.items()}
    handles = {key: open(sink.path, "wb") for key, sink in sinks.items()}
    try:
        handles["summary"].write(b"chrom\tlength\tbases\tmean\tmin\tmax\n")
        if thresholds:
            header = "#chrom\tstart\tend\tregion" + "".join(f"\t{t}X" for t in thresholds)
            handles["thresholds"].write(bgzf.compress_payload((header + "\n").encode(), 1))
        total = (0, 0, 0, 0)
        total_region = (0, 0, 0, 0)
        ghist = rhist = None
        first_region = True
        for res in results():
            for path in (res.per_base, res.quantized):
                if path:
                    cleanup.register(path)
            if res.skipped:
                continue
            name = names[res.tid]
            if res.found:
                handles["summary"].write(_summary_line(name, res.stat).encode())
                total = _merge_stat(total, res.stat)
                if plan.by:
                    rstat = res.region_stat or (0, 0, 0, 0)
                    if first_region:
                        # mosdepth starts from a zeroed stat (min 0) and clears it to
                        # min=max-int only after the first reference.
                        rstat = (rstat[0], rstat[1], 0, rstat[3])
                        first_region = False
                    handles["summary"].write(_summary_line(f"{name}_region", rstat).encode())
                    total_region = _merge_stat(total_region, rstat)
                handles["global"].write("".join(_dist_lines(name, res.hist)).encode())
                ghist = _add(ghist, res.hist)
                if plan.by and res.region_hist is not None:
                    handles["region_dist"].write(
                        "".join(_dist_lines(name, res.region_hist)).encode())
                    rhist = _add(rhist, res.region_hist)
            if plan.by:
                handles["regions"].write(res.regions_gz)
            if thresholds:
                handles["thresholds"].write(res.thresholds_gz)
            for key, path in (("per_base", res.per_base), ("quantized", res.quantized)):
                if path:
                    with open(path, "rb") as piece:
                        while True:
                            block = piece.read(1 << 22)
                            if not block:
                                break
                            handles[key].write(block)
                    os.unlink(path)
                    cleanup.unregister(path)
        handles["summary"].write(_summary_line("total", total).encode())
        if plan.by:
            handles["summary"].write(_summary_line("total_region", total_region).encode())
        if ghist is not None:
            handles["global"].write("".join(_dist_lines("total", ghist)).encode())
        if plan.by and rhist is not None:
            handles["region_dist"].write("".join(_dist_lines("total", rhist)).encode())
        for key in ("per_base", "regions", "thresholds", "quantized"):
            if key in handles:
                handles[key].write(bgzf.EOF_BLOCK)
    except BaseException:
        for key, handle in handles.items():
            handle.close()
            sinks[key].discard()
        raise
    for key, handle in handles.items():
        handle.close()
        sinks[key].commit()


