"""Progress for terminals and for log files alike.

On a terminal, :func:`progress` is a tqdm bar. When stderr is not a terminal (a Slurm log, CI, a
grid worker's captured output), carriage-return bars would fill the file with one unreadable
line; there it prints plain lines instead: ``desc: 120/500 (24%), 3.1 it/s``, at most one every
``CVGL_BENCH_PROGRESS_EVERY`` seconds (default 30) and once at the end.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from . import envvars
from .errors import ConfigError

DEFAULT_EVERY_S = 30.0


_warned: set[str] = set()


def _interval() -> float:
    """``CVGL_BENCH_PROGRESS_EVERY`` in seconds (``inf``: at the end only). A value that is no
    number of seconds >= 0 gets the default and one warning line: it is read deep in a run,
    where an error would end a training that has done nothing wrong."""
    try:
        return envvars.number("CVGL_BENCH_PROGRESS_EVERY", DEFAULT_EVERY_S, 0, math.inf, "a number of seconds")
    except ConfigError as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            print(f"[cvgl-bench] warning: {exc}; progress lines come every {DEFAULT_EVERY_S:.0f} s", file=sys.stderr)
        return DEFAULT_EVERY_S


class PlainProgress:
    """The subset of tqdm's interface cvgl-bench uses, printing plain lines."""

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", disable: bool = False,
                 stream: Any = None, every_s: float | None = None):
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.stream = stream or sys.stderr
        self.every_s = _interval() if every_s is None else every_s
        self.n = 0
        self.postfix = ""
        self._start = self._last = time.perf_counter()
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if not self.disable and now - self._last >= self.every_s and (self.total is None or self.n < self.total):
            self._print(now)

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if not self._closed and not self.disable and self.n:
            self._print(time.perf_counter())
        self._closed = True

    def _print(self, now: float) -> None:
        self._last = now
        done = f"{self.n}/{self.total} ({100.0 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        rate = self.n / max(now - self._start, 1e-9)
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {done} {self.unit}, {rate:.1f} {self.unit}/s{extra}", file=self.stream, flush=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def is_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default stderr) is an interactive terminal."""
    stream = stream or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(total: int | None = None, *, desc: str = "", unit: str = "it", disable: bool = False,
             leave: bool = False, **tqdm_kwargs: Any) -> Any:
    """A progress bar on a terminal, periodic plain lines elsewhere; ``disable`` silences both."""
    if is_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=leave, **tqdm_kwargs)
    return PlainProgress(total, desc=desc, unit=unit, disable=disable, stream=tqdm_kwargs.get("file"))
