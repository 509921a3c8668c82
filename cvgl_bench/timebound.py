"""The bound in seconds on plugin code that cvgl-bench calls and waits for: a plugin's import and
register hooks, one call of a sink, and the import and construction behind ``spec.load()``.

It sits below both the plugin host and the specs, so both use the one bound and the one
variable, ``CVGL_BENCH_PLUGIN_TIMEOUT``. Work that is slow by nature (training, reading a split,
an exact search over a large gallery) is not bounded here: a bound in seconds would stop it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from .envvars import number

PLUGIN_TIMEOUT_ENV, PLUGIN_TIMEOUT_S = "CVGL_BENCH_PLUGIN_TIMEOUT", 600.0


def plugin_timeout() -> float:
    """``CVGL_BENCH_PLUGIN_TIMEOUT`` in seconds (default 600); any value but a number from 0.1 to
    1e8 is one line (``ConfigError``)."""
    return number(PLUGIN_TIMEOUT_ENV, PLUGIN_TIMEOUT_S, 0.1, 1e8, "a number of seconds")


class PluginTimeout(BaseException):
    """Raised in plugin code that ran past its bound (:func:`bounded`); not an ``Exception``, so
    the plugin's own ``except Exception`` does not swallow it."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`PluginTimeout` in the block once it has run ``seconds`` (and every second
    after, while it swallows that), through SIGALRM, which also ends a blocking call (a socket, a
    lock, a sleep). Plugin code stays on the calling thread, where its thread-local state lives
    (a sink's MLflow run). Off the main thread, inside another bounded block, or where another
    SIGALRM handler or timer is set, the block runs unbounded; so does code stuck where no signal
    reaches Python (a read in uninterruptible sleep)."""
    if (not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN)
            or signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0)):
        yield
        return
    armed = True

    def stop(signum: int, frame: Any) -> None:
        if armed:
            raise PluginTimeout(f"had not finished after {seconds:g} s ({PLUGIN_TIMEOUT_ENV}), so it was stopped")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
