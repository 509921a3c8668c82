"""Errors a user can cause.

Every :class:`UserError` ends the CLI with one actionable line on stderr and exit code 2
(``--debug`` shows the traceback). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


class UserError(Exception):
    """A failure the user can fix; its message is one line that says how."""

    exit_code = 2


class UnknownNameError(UserError, LookupError):
    """A method, split, metric or backend name that nothing registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        known = sorted(known)
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if close:
            tail = f"did you mean {' or '.join(repr(c) for c in close)}?"
        elif known:
            tail = f"known: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}"
        else:
            tail = "none is registered"
        if hint:
            tail += f" {hint}"
        super().__init__(f"unknown {kind} {name!r}; {tail}")


class PluginError(UserError):
    """A plugin failed to import, to register, or conflicts with another plugin."""


class DataError(UserError):
    """Dataset files are missing, malformed or inconsistent."""


class DataNotFoundError(DataError):
    """A dataset root does not exist where it was looked for."""


class ConfigError(UserError):
    """A suite, profile or option that cannot be honoured as given."""


def path_advice(exc: OSError) -> str:
    """What to do about an :class:`OSError` on a path the user chose: a full disk (or quota) is
    not a permissions problem."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ("free space on that disk, or choose a folder on another one (--results, --runs, --out, "
                "CVGL_BENCH_CACHE), and rerun: finished work is kept")
    return "check the path and its permissions"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (pluggy's and submitit's span several)."""
    return " ".join(str(exc).split())


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler stopping a job, ``kill``), raised where the process is, so that what
    an interruption cleans up (temporary files, worker processes) is cleaned up as for Ctrl-C."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in the main thread (elsewhere Python allows no handler)."""
    import os
    import signal
    import threading

    owner = os.getpid()

    def terminated(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked worker (a pool's, a data loader's): die as by default
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminated)


def interruption_of(exc: BaseException) -> KeyboardInterrupt | None:
    """The interruption (Ctrl-C, or SIGTERM as :class:`Terminated`) ``exc`` is or was raised while
    handling, if any: torch.save's zip writer, interrupted mid-file, fails again as it closes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__context__ or current.__cause__
    return None


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9: how a process that a signal ended is named in a message."""
    import signal

    return next((sig.name for sig in signal.Signals if sig.value == number), f"signal {number}")
