"""Rendering in worker processes: every wait ends (a dead worker, an interruption)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time

import pytest

from cvgl_bench.data.synth.workers import map_in_processes
from cvgl_bench.errors import DataError

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL semantics of Linux")


def _square(n: int) -> int:
    return n * n


def _killed_at_two(n: int) -> int:
    if n == 2:  # as the out-of-memory killer would
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return n


def _slow(n: int) -> int:
    time.sleep(60)
    return n


def test_every_job_gives_its_result_once():
    assert dict(map_in_processes(_square, list(range(7)), 2, what="squaring")) == {i: i * i for i in range(7)}


def test_a_worker_that_dies_ends_the_map_in_one_line_instead_of_a_wait_for_ever():
    """multiprocessing.Pool replaced the dead worker and waited for its job: generation hung at 93%."""
    started = time.monotonic()
    with pytest.raises(DataError, match=r"a worker process died while testing \(killed, or out of memory\?\); run "
                                        r"it again, with fewer workers .*CVGL_BENCH_SYNTH_WORKERS=1"):
        dict(map_in_processes(_killed_at_two, list(range(6)), 2, what="testing"))
    assert time.monotonic() - started < 30
    assert not mp.active_children()


def test_an_interruption_stops_the_workers_at_once():
    def interrupt() -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        dict(map_in_processes(_slow, [0, 1], 2, what="sleeping", poll=interrupt))
    assert time.monotonic() - started < 20  # not the jobs' 60 s
    assert not mp.active_children()
