"""Rendering in worker processes: every wait ends (a dead worker, a stuck one, an interruption)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time

import pytest

from cvgl_bench.data.synth import workers
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


def _stopped_at_one(n: int) -> int:
    if n == 1:  # as a hung file system would hold it
        os.kill(os.getpid(), signal.SIGSTOP)
    return n


def test_a_stuck_worker_ends_the_map_in_one_line_at_the_bound(monkeypatch):
    """A stopped worker held generation for ever; a stopped process also ignores SIGTERM, so
    stopping the pool by terminate() waited for ever too."""
    monkeypatch.setattr(workers, "STALL_S", 1.0)
    started = time.monotonic()
    with pytest.raises(DataError, match=r"^no worker process made progress for 1 s while testing \(one is stuck: "
                                        r"stopped, or hung on a file system\?\); run it again, in this process if "
                                        r"it sticks again \(CVGL_BENCH_SYNTH_WORKERS=1\)$"):
        dict(map_in_processes(_stopped_at_one, [0, 1], 2, what="testing"))
    assert time.monotonic() - started < 20
    assert not mp.active_children()


def test_progress_within_the_jobs_keeps_a_slow_map_going(monkeypatch):
    monkeypatch.setattr(workers, "STALL_S", 0.3)
    assert dict(map_in_processes(_slow_but_moving, [0, 1], 2, what="testing", poll=lambda: True)) == {0: 0, 1: 1}


def _slow_but_moving(n: int) -> int:
    time.sleep(1.0)
    return n
