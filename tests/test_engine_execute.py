"""The serial and process runners share one interface and agree."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gfcli.engine.errors import DataError
from gfcli.engine.execute import ProcessRunner, SerialRunner, make_runner, merge_results


@dataclass
class Counts:
    n: int = 0
    total: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.n += other.n
        self.total += other.total
        return self


def count_chunk(chunk: range) -> Counts:
    return Counts(len(chunk), sum(chunk))


def square_chunk(chunk: range) -> list[int]:
    return [x * x for x in chunk]


def failing_chunk(chunk: range) -> int:
    if 50 in chunk:
        raise DataError("bad record", path="x.vcf", line=51)
    return len(chunk)


CHUNKS = [range(i, i + 10) for i in range(0, 200, 10)]


@pytest.mark.parametrize("runner", [SerialRunner(), ProcessRunner(3)], ids=["serial", "process"])
def test_ordered_results(runner):
    with runner:
        out = [x for part in runner.map(square_chunk, CHUNKS) for x in part]
    assert out == [x * x for x in range(200)]


def test_merge_is_the_same_serial_and_parallel():
    with SerialRunner() as serial, ProcessRunner(2) as parallel:
        a = merge_results(serial.map(count_chunk, CHUNKS))
        b = merge_results(parallel.map(count_chunk, CHUNKS))
    assert a == b == Counts(200, sum(range(200)))


def test_worker_error_keeps_its_message():
    with pytest.raises(DataError) as info, ProcessRunner(2) as runner:
        list(runner.map(failing_chunk, CHUNKS))
    assert str(info.value) == "x.vcf: line 51: bad record"


def test_make_runner():
    assert isinstance(make_runner(1), SerialRunner)
    assert isinstance(make_runner(0), SerialRunner)
    runner = make_runner(2)
    assert isinstance(runner, ProcessRunner) and runner.workers == 2
    runner.close()
