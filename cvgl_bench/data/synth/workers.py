"""Rendering jobs in worker processes, with an end to every wait.

``multiprocessing.Pool`` replaces a worker that dies (the kernel's out-of-memory killer, a
``kill -9``) and waits for its job for ever: a generation stopped at 93% with no word. Here a
dead worker ends the map with one line, so does a worker stuck for ``STALL_S`` (stopped, or
hung on a file system), and an exception or an interruption in the parent stops the workers at
once rather than after their jobs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ...errors import DataError

POLL_S = 0.05
#: The longest time with no job finished and no progress reported; the slowest job, a corpus
#: world, takes seconds (96 rendered in 241 s, docs/synth.md), so only a stuck worker reaches it.
STALL_S = 600.0


def context() -> Any:
    """The multiprocessing context of the workers (a queue to them must come from it)."""
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def map_in_processes(function: Callable[[Any], Any], jobs: Sequence[Any], workers: int, *, what: str,
                     initializer: Callable[..., None] | None = None, initargs: tuple = (),
                     poll: Callable[[], bool] | None = None) -> Iterator[tuple[int, Any]]:
    """``(index, function(jobs[index]))`` for every job, in the order they finish, from
    ``workers`` processes (forked where the platform can); ``poll`` is called every 50 ms and
    says whether the workers reported progress (within their jobs) since its last call.

    A worker that dies, or a map with no progress for ``STALL_S``, raises :class:`DataError`
    naming ``what`` ("generating the synthetic cvusa dataset") and the way round it."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context(), initializer=initializer, initargs=initargs)
    try:
        running = {pool.submit(function, job): index for index, job in enumerate(jobs)}
        moved = time.monotonic()
        while running:
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if (poll is not None and poll()) or done:
                moved = time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                raise DataError(f"no worker process made progress for {STALL_S:.0f} s while {what} (one is stuck: "
                                "stopped, or hung on a file system?); run it again, in this process if it sticks "
                                "again (CVGL_BENCH_SYNTH_WORKERS=1)")
            for future in done:
                index = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise DataError(f"a worker process died while {what} (killed, or out of memory?); run it "
                                    "again, with fewer workers if memory is short (CVGL_BENCH_SYNTH_WORKERS=1)"
                                    ) from None
                yield index, result
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now: shutting down alone waits for their jobs, and a stopped worker would
    keep a SIGTERM pending for ever, so they are killed."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.pid != os.getpid() and process.is_alive():
            process.kill()
