"""Time gfcli against samtools/bcftools/mosdepth on generated data, in the same run.

    python benchmarks/run.py --profile small              # smoke run, well under a minute
    python benchmarks/run.py --profile large -k view      # rows whose name contains "view"
    python benchmarks/run.py --list                       # the command table, nothing run

Each task is a row of TASKS: a name, gfcli's argv, the reference tool's argv and the data it
reads. Placeholders in the argv are filled from the data set's manifest.json:
{sites_vcf} {sites_bcf} {cohort_vcf} {cohort_bcf} {bam} {fastq} {ref} {truth} (paths),
{region} (10 kb), {region_small} (1 kb), {tmp} (a scratch directory, emptied after each run).

Each command runs `--repeat` times, gfcli and reference alternating, stdin and stdout on
/dev/null; the table shows the median wall time and the peak memory of the slowest-memory
run. Peak memory: the kernel's ru_maxrss from wait4 (largest single process of the command's
tree), or, when the command had child processes running at once, the sampled peak of their
summed proportional set size (PSS, /proc/PID/smaps_rollup, every 20 ms), whichever is larger.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # generate.py, textcols.py: siblings, also when imported
STARTUP_TARGET = 0.3  # seconds, `gfcli --help`


@dataclass(frozen=True)
class Task:
    """One benchmark row. `reference` starts with the tool name (samtools, bcftools, mosdepth)."""

    name: str
    gfcli: tuple[str, ...]
    reference: tuple[str, ...] | None
    target: float | None = None  # absolute goal for gfcli, seconds
    note: str = ""


def _t(name: str, gfcli: str, reference: str | None, target: float | None = None,
       note: str = "") -> Task:
    """A row from two command lines (split on spaces; placeholders hold no spaces)."""
    return Task(name, tuple(gfcli.split()), tuple(reference.split()) if reference else None,
                target, note)


TASKS: list[Task] = [
    _t("startup: gfcli --help", "--help", "samtools --version", STARTUP_TARGET,
       "reference: samtools --version"),
    _t("view VCF.gz region 10kb", "view -r {region} {cohort_vcf}",
       "bcftools view -r {region} {cohort_vcf}", 0.1),
    _t("view BCF region 10kb", "view -r {region} {cohort_bcf}",
       "bcftools view -r {region} {cohort_bcf}", 0.1),
    _t("view BAM region 10kb", "view -r {region} {bam}", "samtools view {bam} {region}", 0.1),
    _t("view sites VCF.gz->BCF -@1", "view -@ 1 -O b -o {tmp}/out.bcf {sites_vcf}",
       "bcftools view --threads 1 -O b -o {tmp}/out.bcf {sites_vcf}"),
    _t("view sites VCF.gz->BCF -@2", "view -@ 2 -O b -o {tmp}/out.bcf {sites_vcf}",
       "bcftools view --threads 2 -O b -o {tmp}/out.bcf {sites_vcf}"),
    _t("view cohort VCF.gz->BCF -@2", "view -@ 2 -O b -o {tmp}/out.bcf {cohort_vcf}",
       "bcftools view --threads 2 -O b -o {tmp}/out.bcf {cohort_vcf}"),
    _t("view cohort VCF.gz->VCF -@1", "view -@ 1 {cohort_vcf}", "bcftools view {cohort_vcf}"),
    _t("view BAM->SAM -@1", "view -@ 1 {bam}", "samtools view -@ 1 {bam}"),
    _t("view BAM->SAM -@2", "view -@ 2 {bam}", "samtools view -@ 2 {bam}"),
    _t("flagstat BAM -@1", "flagstat -@ 1 {bam}", "samtools flagstat -@ 1 {bam}"),
    _t("flagstat BAM -@2", "flagstat -@ 2 {bam}", "samtools flagstat -@ 2 {bam}"),
    _t("depth summary --by 500 -n -@2", "depth -@ 2 --prefix {tmp}/g -n --by 500 {bam}",
       "mosdepth -n --by 500 -t 2 {tmp}/m {bam}"),
    _t("depth per-base -@2", "depth -@ 2 {bam}", "samtools depth -@ 2 {bam}"),
    _t("depth per-base -@1", "depth -@ 1 {bam}", "samtools depth {bam}"),
    # filter: the expression has no spaces (commands are split on spaces)
    _t("filter sites VCF.gz QUAL&DP ->VCF -@2", "filter -@ 2 -i QUAL>30&&INFO/DP>10 {sites_vcf}",
       "bcftools view --threads 2 -i QUAL>30&&INFO/DP>10 {sites_vcf}"),
    _t("filter sites VCF.gz QUAL&DP ->VCF -@1", "filter -@ 1 -i QUAL>30&&INFO/DP>10 {sites_vcf}",
       "bcftools view --threads 1 -i QUAL>30&&INFO/DP>10 {sites_vcf}"),
    _t("filter sites VCF.gz QUAL&DP ->VCF.gz -@2",
       "filter -@ 2 -O z -o {tmp}/out.vcf.gz -i QUAL>30&&INFO/DP>10 {sites_vcf}",
       "bcftools view --threads 2 -O z -o {tmp}/out.vcf.gz -i QUAL>30&&INFO/DP>10 {sites_vcf}"),
    _t("filter cohort VCF.gz GQ&DP ->VCF -@2", "filter -@ 2 -i FMT/GQ>20&FMT/DP>10 {cohort_vcf}",
       "bcftools view --threads 2 -i FMT/GQ>20&FMT/DP>10 {cohort_vcf}"),
    # samtools has no flag.duplicate (it rejects it): the duplicate bit is flag.dup
    _t("filter BAM mapq&!dup ->BAM -@2",
       "filter -@ 2 -O bam -o {tmp}/out.bam -i mapq>=30&&!flag.dup {bam}",
       "samtools view -@ 2 -b -o {tmp}/out.bam -e mapq>=30&&!flag.dup {bam}"),
    _t("filter BAM mapq&!dup ->SAM -@2", "filter -@ 2 -i mapq>=30&&!flag.dup {bam}",
       "samtools view -@ 2 -e mapq>=30&&!flag.dup {bam}"),
    _t("stats sites VCF.gz -@2", "stats -@ 2 {sites_vcf}", "bcftools stats {sites_vcf}",
       note="target: at most half of bcftools stats"),
    _t("stats cohort BCF -s - -@2", "stats -@ 2 -s - {cohort_bcf}",
       "bcftools stats -s - {cohort_bcf}", note="target: at most a third of bcftools stats -s -"),
    _t("stats BAM -@1", "stats -@ 1 {bam}", "samtools stats -@ 1 {bam}"),
    _t("stats BAM -@2", "stats -@ 2 {bam}", "samtools stats -@ 2 {bam}",
       note="target: at most samtools stats -@ 2"),
    # validate: no reference validator is installed; the anchors only read everything
    # (decode and discard), so the ratio says what checking costs over reading.
    _t("validate sites VCF.gz -@1 (anchor: bcftools view, reads all)",
       "validate -@ 1 {sites_vcf}", "bcftools view --threads 1 {sites_vcf}",
       note="anchor reads and re-writes only; no validation"),
    _t("validate sites VCF.gz -@2 (anchor: bcftools view --threads 2)",
       "validate -@ 2 {sites_vcf}", "bcftools view --threads 2 {sites_vcf}",
       note="anchor reads and re-writes only; no validation"),
    _t("validate BAM -@1 (anchor: samtools view -c, reads all)", "validate -@ 1 {bam}",
       "samtools view -c -@ 1 {bam}",
       note="anchor decodes and counts only; samtools quickcheck reads just the ends"),
    _t("validate BAM -@2 (anchor: samtools view -c -@2)", "validate -@ 2 {bam}",
       "samtools view -c -@ 2 {bam}",
       note="anchor decodes and counts only; samtools quickcheck reads just the ends"),
    _t("validate BAM --mates -@2 (anchor: samtools view -c -@2)",
       "validate --mates -@ 2 {bam}", "samtools view -c -@ 2 {bam}",
       note="anchor decodes and counts only"),
    _t("validate FASTQ.gz -@1 (anchor: seqkit seq -v, reads all)", "validate -@ 1 {fastq}",
       "seqkit seq -v -j 1 {fastq}", note="anchor checks sequence letters only"),
]


# --- tools ------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    argv: list[str]  # prefix that runs the tool
    version: str
    where: str


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def find_tool(name: str, prefer: str = "system") -> Tool | None:
    """The reference tool: the system binary if present (fastest: no Python start-up), else
    pysam's bundled samtools/bcftools through pysam_tool.py."""
    path = shutil.which(name)
    if path and prefer != "pysam":
        return Tool(name, [path], _first_line([path, "--version"]), path)
    if name in ("samtools", "bcftools") and prefer != "system-only":
        argv = [sys.executable, str(HERE / "pysam_tool.py"), name]
        return Tool(name, argv, _first_line([*argv, "--version"]), "pysam (in-process)")
    return None


def find_gfcli() -> Tool:
    # The console script beside this interpreter, not the first `gfcli` on PATH: a version
    # manager's shim (pyenv) in front of it costs ~1 s of shell start-up per call.
    script = Path(sys.executable).parent / "gfcli"
    path = str(script) if script.exists() else shutil.which("gfcli")
    argv = [path] if path else [sys.executable, "-m", "gfcli"]
    _precompile()
    return Tool("gfcli", argv, _first_line([*argv, "--version"]), path or "python -m gfcli")


def _precompile() -> None:
    """Byte-compile the package once, as a wheel install does; an editable install under
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module on every run."""
    import compileall

    import gfcli

    compileall.compile_dir(str(Path(gfcli.__file__).parent), quiet=1)


# --- data and commands ------------------------------------------------------------------


@dataclass
class Planned:
    task: Task
    gfcli: list[str]
    reference: list[str] | None
    missing: list[str] = field(default_factory=list)  # data the row needs but lacks


def placeholders(manifest: dict, data_dir: Path, tmp: Path) -> dict[str, str]:
    values = {key: str(data_dir / name) for key, name in manifest.get("files", {}).items()}
    regions = manifest.get("regions", {})
    values.update(region=regions.get("small", ""), region_small=regions.get("tiny", ""),
                  tmp=str(tmp))
    return values


def _fill(argv: tuple[str, ...], values: dict[str, str], missing: list[str]) -> list[str]:
    out = []
    for arg in argv:
        try:
            out.append(arg.format(**values))
        except KeyError as exc:
            missing.append(str(exc.args[0]))
            out.append(arg)
    return out


def build_commands(manifest: dict, data_dir: Path, tmp: Path, gfcli: Tool,
                   tools: dict[str, Tool | None], tasks: list[Task] | None = None,
                   select: list[str] | None = None) -> list[Planned]:
    """Fill every row's placeholders; rows whose data or reference tool is missing say so."""
    values = placeholders(manifest, data_dir, tmp)
    planned = []
    for task in tasks if tasks is not None else TASKS:
        if select and not any(word.lower() in task.name.lower() for word in select):
            continue
        missing: list[str] = []
        g = [*gfcli.argv, *_fill(task.gfcli, values, missing)]
        ref = None
        if task.reference:
            tool = tools.get(task.reference[0])
            if tool is None:
                missing.append(f"tool {task.reference[0]}")
            else:
                ref = [*tool.argv, *_fill(task.reference[1:], values, missing)]
        planned.append(Planned(task, g, ref, missing))
    return planned


def reference_tools(tasks: list[Task], prefer: str) -> dict[str, Tool | None]:
    names = sorted({t.reference[0] for t in tasks if t.reference})
    return {name: find_tool(name, prefer) for name in names}


# --- measuring --------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_mb: float
    code: int
    error: str = ""


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids += [int(k) for k in handle.read().split()]
    except OSError:
        pass
    return kids


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _time_kb(path: str) -> int:
    """GNU time's %M (kB); its last line, after any 'Command exited with ...' line."""
    try:
        with open(path) as handle:
            lines = handle.read().split()
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return 0


class TreeSampler(threading.Thread):
    """Peak of the summed PSS of a process and its descendants, while it has any.

    A lone process is left alone (ru_maxrss is exact for it, and reading smaps costs time);
    worker pools are summed because ru_maxrss reports only the largest single process.
    """

    # Reading smaps_rollup costs ~6 ms of CPU per process on a 2-core machine; every 20 ms
    # that took a quarter of a core from gfcli's pools (the reference, one process, is never
    # sampled). Peaks of pools last seconds, so a quarter second still finds them.
    def __init__(self, pid: int, interval: float = 0.25, skip_root: bool = False) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.skip_root = skip_root  # the root is a wrapper (GNU time), not the command
        self.peak_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            tree, frontier = [], [self.pid]
            while frontier:
                pid = frontier.pop()
                tree.append(pid)
                frontier += _children(pid)
            if self.skip_root:
                tree = tree[1:]
            if len(tree) > 1:
                self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in tree))

    def stop(self) -> None:
        self._halt.set()
        self.join()


GNU_TIME = "/usr/bin/time"


def measure(argv: list[str], timeout: float | None = None) -> Run:
    """Run once; wall time from spawn to reaping, peak memory as in the module docstring.

    A child forked from this Python process inherits its resident size as the floor of its
    ru_maxrss (the kernel keeps the high-water mark across exec), so when GNU time is there
    the command is started through it (a ~2 MB process) and its %M is the figure used.
    """
    wrapped = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        full = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if wrapped else argv
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
        except OSError as exc:
            return Run(0.0, 0.0, 127, str(exc))
        sampler = TreeSampler(proc.pid, skip_root=wrapped)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if timer:
            timer.cancel()
        sampler.stop()
        peak_kb = max(_time_kb(rss.name) if wrapped else usage.ru_maxrss, sampler.peak_kb)
        error = ""
        if proc.returncode:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            error = lines[-1] if lines else f"exit {proc.returncode}"
    return Run(seconds, peak_kb / 1024, proc.returncode, error)


@dataclass
class Result:
    name: str
    gfcli: list[Run]
    reference: list[Run]
    target: float | None
    note: str
    gfcli_argv: list[str]
    reference_argv: list[str] | None
    skipped: str = ""

    @staticmethod
    def _median(runs: list[Run]) -> float | None:
        ok = [r.seconds for r in runs if r.code == 0]
        return statistics.median(ok) if ok and len(ok) == len(runs) else None

    def seconds(self, side: str) -> float | None:
        return self._median(self.gfcli if side == "gfcli" else self.reference)

    def peak(self, side: str) -> float | None:
        runs = self.gfcli if side == "gfcli" else self.reference
        return max((r.peak_mb for r in runs), default=None)

    def error(self, side: str) -> str:
        runs = self.gfcli if side == "gfcli" else self.reference
        bad = [r for r in runs if r.code != 0]
        return f"exit {bad[0].code}: {bad[0].error}" if bad else ""


def warm_cache(paths: list[str]) -> None:
    """Read the inputs once so the first timed run does not pay for the disk."""
    for path in paths:
        for name in (path, path + ".tbi", path + ".csi", path + ".bai", path + ".fai"):
            try:
                with open(name, "rb") as handle:
                    while handle.read(1 << 24):
                        pass
            except OSError:
                pass


def run_all(planned: list[Planned], repeat: int, tmp: Path, data_dir: Path,
            timeout: float | None, log: bool = True) -> list[Result]:
    inputs = {arg for plan in planned for arg in plan.gfcli + (plan.reference or [])}
    warm_cache(sorted(a for a in inputs if Path(a).parent == data_dir and Path(a).is_file()))
    results = []
    for plan in planned:
        t = plan.task
        result = Result(t.name, [], [], t.target, t.note, plan.gfcli, plan.reference)
        if plan.missing:
            result.skipped = "missing " + ", ".join(sorted(set(plan.missing)))
            results.append(result)
            continue
        for _ in range(repeat):
            # Alternate the two sides so that drift (heat, cache) hits both alike.
            result.gfcli.append(_scratch_run(plan.gfcli, tmp, timeout))
            if plan.reference:
                result.reference.append(_scratch_run(plan.reference, tmp, timeout))
        if log:
            g, r = result.seconds("gfcli"), result.seconds("reference")
            print(f"  {t.name}: gfcli {_fmt(g)} s, reference {_fmt(r)} s", file=sys.stderr)
        results.append(result)
    return results


def _scratch_run(argv: list[str], tmp: Path, timeout: float | None) -> Run:
    run = measure(argv, timeout)
    for entry in tmp.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return run


# --- report -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(results: list[Result], header: list[str]) -> str:
    lines = [*header, "",
             "| task | gfcli s | ref s | gfcli/ref | gfcli MB | ref MB | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        g, ref = r.seconds("gfcli"), r.seconds("reference")
        ratio = f"{g / ref:.2f}" if g is not None and ref else "—"
        notes = [r.note] if r.note else []
        if r.skipped:
            notes.append(f"skipped: {r.skipped}")
        if r.target is not None:
            met = "" if g is None else (" ✓" if g <= r.target else " ✗")
            notes.append(f"target < {r.target:g} s{met}")
        for side in ("gfcli", "reference"):
            if r.error(side):
                notes.append(f"{side} failed ({r.error(side)[:120]})")
        gm, rm = r.peak("gfcli"), r.peak("reference")
        lines.append(f"| {r.name} | {_fmt(g)} | {_fmt(ref)} | {ratio} | {_fmt(gm, 0)} | "
                     f"{_fmt(rm, 0)} | {'; '.join(notes).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def describe(profile: str, manifest: dict, gfcli: Tool, tools: dict[str, Tool | None],
             repeat: int) -> list[str]:
    counts = manifest.get("counts", {})
    params = manifest.get("params", {})
    genome = sum(length for _, length in params.get("contigs", []))
    refs = ", ".join(f"{t.version} ({t.where})" for t in tools.values() if t) or "none"
    return [
        f"## gfcli benchmarks, profile `{profile}`",
        "",
        f"- data: genome {genome / 1e6:g} Mb; sites VCF {counts.get('sites', 0):,} records; "
        f"cohort VCF {counts.get('cohort', 0):,} records x {params.get('samples', 0)} samples; "
        f"BAM {counts.get('bam_records', 0):,} records",
        f"- gfcli: {gfcli.version} ({gfcli.where})",
        f"- reference: {refs}",
        f"- machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; median of {repeat} runs, peak memory in MB (see "
        "benchmarks/README.md)",
    ]


# --- main -------------------------------------------------------------------------------


def load_data(profile: str, data_dir: Path, generate: bool) -> dict:
    manifest_path = data_dir / "manifest.json"
    if generate:
        import generate as gen  # sibling module

        gen.main(["--profile", profile, "--out", str(data_dir), "--exact-dir", "-q"])
    if not manifest_path.exists():
        raise SystemExit(f"{manifest_path}: no data; run benchmarks/generate.py --profile "
                         f"{profile} (or drop --no-generate)")
    return json.loads(manifest_path.read_text())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="small", help="data profile (default small)")
    parser.add_argument("--data", type=Path, help="data directory (default "
                        "benchmarks/data/PROFILE)")
    parser.add_argument("-k", dest="select", action="append", metavar="SUBSTRING",
                        help="only rows whose name contains SUBSTRING (repeatable)")
    parser.add_argument("-n", "--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    parser.add_argument("--ref-tools", choices=["system", "pysam", "system-only"],
                        default="system", help="system binaries first (default), pysam's "
                        "bundled tools, or system binaries only")
    parser.add_argument("--no-generate", action="store_true",
                        help="do not generate missing data")
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.data or HERE / "data" / args.profile
    manifest = load_data(args.profile, data_dir, not args.no_generate and not args.list)
    tools = reference_tools(TASKS, args.ref_tools)
    gfcli = find_gfcli()
    with tempfile.TemporaryDirectory(prefix="gfcli-bench-") as scratch:
        tmp = Path(scratch)
        planned = build_commands(manifest, data_dir, tmp, gfcli, tools, select=args.select)
        if args.list:
            for plan in planned:
                print(f"{plan.task.name}\n  gfcli: {' '.join(plan.gfcli)}\n  ref:   "
                      f"{' '.join(plan.reference or ['-'])}")
            return 0
        results = run_all(planned, args.repeat, tmp, data_dir, args.timeout)
    table = markdown(results, describe(args.profile, manifest, gfcli, tools, args.repeat))
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
