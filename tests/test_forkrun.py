"""The forked-claims runner (`forkrun.Forked`) and the cohort statistics that use it
(`variants._count_forked`: the direct BCF path with -@ N): every chunk counted once,
results by slot, errors of a child or of the parent reaching the caller with the children
gone, fewer chunks than processes, more processes than cores, and -@1/-@2/-@3 printing the
same text and JSON (float VAF sums added in chunk order)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gfcli.engine import forkrun
from gfcli.engine.errors import DataError

sys.path.insert(0, os.path.dirname(__file__))


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _take_all(claim, slot: int) -> tuple[int, list[int]]:
    got = []
    while (k := claim()) is not None:
        got.append(k)
    return slot, got


@pytest.mark.parametrize(("n", "processes", "max_claims"),
                         [(47, 2, forkrun.MAX_CLAIMS), (47, 3, 5), (3, 3, 1), (2, 5, 64),
                          (1, 2, 64), (0, 3, 64), (5000, 2, forkrun.MAX_CLAIMS)])
def test_every_chunk_once(n, processes, max_claims):
    forked = forkrun.Forked(n, processes, _take_all, max_claims=max_claims)
    assert forked.processes == max(1, min(processes, n))
    results = forked.wait()
    assert [slot for slot, _ in results] == list(range(forked.processes))
    taken = sorted(k for _, got in results for k in got)
    assert taken == list(range(n))
    for _, got in results:  # a claim is a run of consecutive chunks, taken in order
        assert got == sorted(got)
    assert _no_children_left()


def test_encode_decode():
    forked = forkrun.Forked(10, 2, lambda claim, slot: sum(iter(claim, None)),
                            encode=lambda v: str(v).encode(), decode=lambda b: int(b) + 1000)
    parent, child = forked.wait()
    assert parent < 1000 <= child
    assert parent + child - 1000 == sum(range(10))


def test_child_error_reaches_the_parent():
    """A child's error (its message and file) is raised by `wait`; the child empties the
    claims, so the parent, still busy with its start-up then, counts none of the rest."""
    import time

    parent_took: list[int] = []

    def work(claim, slot: int) -> int:
        if slot == 0:
            time.sleep(0.3)  # the parent's start-up: the child claims first
        while (k := claim()) is not None:
            if slot:
                raise DataError(f"broken chunk {k}", path="some/file.bcf")
            parent_took.append(k)
        return 0

    forked = forkrun.Forked(1000, 2, work, max_claims=64)
    with pytest.raises(DataError) as info:
        forked.wait()
    assert str(info.value) == "some/file.bcf: broken chunk 0"
    assert parent_took == []
    assert _no_children_left()


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no")


def test_unpicklable_error_keeps_its_message():
    def work(claim, slot):
        if slot:
            raise _Unpicklable("odd failure")
        return 0

    with pytest.raises(DataError, match="odd failure"):
        forkrun.Forked(4, 2, work).wait()
    assert _no_children_left()


def test_child_dying_silently():
    def work(claim, slot):
        if slot:
            os._exit(3)
        return 0

    with pytest.raises(DataError, match=r"x\.bcf: a worker process ended without its "
                                        r"result \(status"):
        forkrun.Forked(4, 2, work, display="x.bcf").wait()
    assert _no_children_left()


def test_parent_error_kills_children():
    def work(claim, slot):
        if slot == 0:
            raise KeyboardInterrupt
        import time

        time.sleep(60)
        return 0

    with pytest.raises(KeyboardInterrupt):
        forkrun.Forked(4, 3, work).wait()
    assert _no_children_left()


def test_kill_before_wait():
    def work(claim, slot):
        import time

        time.sleep(60)

    forked = forkrun.Forked(4, 3, work)
    assert len(forked.children) == 2
    forked.kill()
    assert _no_children_left()


# -- the cohort statistics on it ------------------------------------------------------

pysam = pytest.importorskip("pysam")
import test_stats_cohort_fast as cf  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return cf.bcf_cohort(tmp_path_factory, "forkrun", 13, 3000, 40, "mixed")


def _gfcli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gfcli", "stats", *args],
                          capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)


SMALL = {"GFCLI_CHUNK_BYTES": "6000"}


def test_threads_print_the_same(cohort):
    """Text and JSON at -@1 (serial), -@2, -@3 (more processes than this machine's two
    cores) with many chunks, and the htslib reader's pool path, agree to the byte."""
    for fmt in ([], ["-O", "json"]):
        outs = {}
        for threads in ("1", "2", "3"):
            run = _gfcli("-s", "-", "-@", threads, *fmt, cohort, env=SMALL)
            assert run.returncode == 0, run.stderr
            lines = run.stdout.splitlines()
            outs[threads] = [ln for ln in lines if "command line was" not in ln]
        assert outs["1"] == outs["2"] == outs["3"], fmt
        pool = _gfcli("-s", "-", "-@", "2", *fmt, cohort,
                      env={**SMALL, "GFCLI_STATS_DIRECT_BCF": "0"})
        assert [ln for ln in pool.stdout.splitlines()
                if "command line was" not in ln] == outs["1"]
    assert '"dvaf"' in run.stdout


def _compute(path: str, threads: int, monkeypatch) -> tuple[str, list[int]]:
    from gfcli.engine.source import open_input
    from gfcli.engine.stats import variants
    from gfcli.engine.stats.base import StatsRequest

    used: list[int] = []
    real = forkrun.Forked

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, n, processes, *args, **kwargs):
            super().__init__(n, processes, *args, **kwargs)
            used.append(self.processes)

    monkeypatch.setattr(forkrun, "Forked", Spy)
    req = StatsRequest(inputs=[path], threads=threads, samples="-").resolve("variants")
    text = variants.compute(req, open_input(path)).render_text(req)
    return text, used


def test_forked_path_runs(cohort, monkeypatch):
    """-@ N with several chunks forks (N processes, fewer when there are fewer chunks);
    -@1 and one chunk do not."""
    from gfcli.engine import chunks as chunking

    one, used = _compute(cohort, 1, monkeypatch)
    assert used == []
    two, used = _compute(cohort, 3, monkeypatch)  # the file's few chunks
    n_chunks = len(chunking.plan_offset_chunks(
        cohort, chunking.index_for(cohort, cohort + ".csi"),
        max(chunking.TARGET_CHUNK_BYTES, os.path.getsize(cohort) // 48)))
    assert used == ([min(3, n_chunks)] if n_chunks > 1 else [])
    assert two == one
    from gfcli.engine.stats import variants

    monkeypatch.setattr(chunking, "TARGET_CHUNK_BYTES", 8000)
    monkeypatch.setattr(variants, "OFFSET_CHUNKS", 1 << 40)  # chunks of 8000 bytes
    assert len(chunking.plan_offset_chunks(
        cohort, chunking.index_for(cohort, cohort + ".csi"), 8000)) > 3
    three, used = _compute(cohort, 3, monkeypatch)
    assert used == [3] and three == one
    assert _no_children_left()


def _damage_late_block(src: str, dst: str) -> None:
    """A copy with one BGZF block's deflate data overwritten, 80 % into the file."""
    data = bytearray(open(src, "rb").read())
    at = 0
    blocks = []
    while at < len(data):
        blocks.append(at)
        at += int.from_bytes(data[at + 16:at + 18], "little") + 1
    victim = blocks[int(len(blocks) * 0.8)]
    data[victim + 30:victim + 60] = b"\xff" * 30
    open(dst, "wb").write(bytes(data))
    for ext in (".csi",):
        if os.path.exists(src + ext):
            with open(src + ext, "rb") as a, open(dst + ext, "wb") as b:
                b.write(a.read())


def test_damaged_block_in_a_later_chunk(cohort, tmp_path):
    bad = str(tmp_path / "damaged.bcf")
    _damage_late_block(cohort, bad)
    messages = set()
    for threads in ("1", "2", "3"):
        run = _gfcli("-s", "-", "-@", threads, bad, env=SMALL)
        assert run.returncode == 1, (threads, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and bad in lines[0], (threads, run.stderr)
        assert "Traceback" not in run.stderr
        messages.add(lines[0])
    assert len(messages) == 1, messages
