"""Inter-process locks that die with their owner, and waits that are bounded and say whom they wait for.

A lock is a POSIX record lock (``fcntl.lockf``) on a small file. Unlike ``flock`` locks, record
locks belong to the process that took them: forked children (a generator's worker pool, a
multiprocessing manager) do not inherit them, and the kernel drops them when the owner dies, so
a process killed with ``kill -9`` never leaves a lock that blocks the next run. The owner writes
its PID, host and start time into the file, so a waiter can say whom it waits for, and every
wait ends after ``CVGL_BENCH_LOCK_TIMEOUT`` seconds (default 2 hours) with one actionable line.

Record locks are per process, so threads of one process are serialised by an ordinary
``threading.Lock`` per lock file before they reach the file lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import envvars
from .errors import ConfigError

TIMEOUT_ENV = "CVGL_BENCH_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 7200.0
#: Three years: ``inf`` or 1e20 overflowed the clock arithmetic of a wait in a traceback.
MAX_TIMEOUT_S = 1e8

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def lock_timeout() -> float:
    """Seconds a waiter waits for a lock: ``CVGL_BENCH_LOCK_TIMEOUT`` or 2 hours."""
    return envvars.number(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, 0, MAX_TIMEOUT_S, "a number of seconds")


def read_owner(path: str | os.PathLike) -> dict:
    """What the lock file says about its current (or last) owner; empty when it says nothing."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        owner = json.loads(text) if text.strip() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def describe_owner(owner: dict) -> str:
    if not owner:
        return "another process"
    started = owner.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"PID {owner.get('pid', '?')} on {owner.get('host', '?')} ({owner.get('what') or 'working'}, since {since})"


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, what: str, timeout: float | None = None,
              say: Callable[[str], None] | None = None, poll_s: float = 0.5) -> Iterator[None]:
    """Hold the lock file ``path`` for the body; wait at most ``timeout`` seconds for it.

    ``what`` names the work in the owner record ("generating synth cvusa-small-seed0-v2").
    A waiter says once, through ``say`` (default: a line on stderr), whom it waits for, and
    raises :class:`ConfigError` when the bound passes. Without ``fcntl`` (not POSIX) the body
    runs unlocked; callers keep their writes atomic for that case.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    timeout = lock_timeout() if timeout is None else timeout
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    local = _thread_lock(path)
    if not local.acquire(timeout=timeout):
        raise ConfigError(f"gave up after {timeout:.0f} s waiting for another thread of this process before {what}; "
                          f"wait longer with {TIMEOUT_ENV}=SECONDS")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            _acquire(fcntl, fd, path, what, timeout, say, poll_s)
            try:
                _write_owner(fd, what)
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        local.release()


def _acquire(fcntl, fd: int, path: Path, what: str, timeout: float, say: Callable[[str], None],
             poll_s: float) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (BlockingIOError, PermissionError):
            pass
        owner = read_owner(path)
        if not announced:
            say(f"cvgl-bench: waiting for {describe_owner(owner)} to finish before {what} (lock {path}; "
                f"at most {timeout:.0f} s, set {TIMEOUT_ENV} to change)")
            announced = True
        if time.monotonic() >= deadline:
            raise ConfigError(f"gave up after {timeout:.0f} s waiting for {describe_owner(owner)} before {what}; "
                              f"stop that process, or wait longer with {TIMEOUT_ENV}=SECONDS (lock {path})")
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or poll_s / 10)


def _write_owner(fd: int, what: str) -> None:
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "what": what})
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, (record + "\n").encode("utf-8"), 0)


def _thread_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())
