"""Console output of the command line: JSON, plain tables, and the plugin host it starts from.

Commands (the built-in ones and those of plugins) print through these helpers; nothing below
the command line prints tables or looks the plugin host up on its own.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from . import envvars
from .errors import ConfigError


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (anything not JSON-native as its ``str``). A NaN or an
    infinity raises: strict JSON readers refuse them, and no output of ours may hold one."""
    click.echo(json.dumps(data, indent=2, default=str, allow_nan=False))


def echo_table(rows: list[dict[str, Any]], empty: str = "(none)") -> None:
    """Print ``rows`` (dicts with the same keys) as a plain text table, or ``empty`` when there are none."""
    from tabulate import tabulate

    if not rows:
        click.echo(empty)
        return
    click.echo(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True))


def warn_failures(host: Any, stream: Any = None) -> None:
    """One stderr line when plugins failed to load, with the first one's reason, pointing at
    ``cvgl-bench plugins``; under ``--debug`` (or ``CVGL_BENCH_DEBUG=1``) each plugin's traceback."""
    failed = host.failures()
    if not failed:
        return
    stream = stream or sys.stderr
    first = " ".join(str(failed[0].error).split())
    first = first if len(first) <= 160 else first[:157] + "..."
    names = ", ".join(s.name for s in failed)
    print(f"warning: {len(failed)} plugin(s) failed to load ({names}); {failed[0].name}: {first}; "
          "see 'cvgl-bench plugins'", file=stream)
    if debug_enabled():
        for status in failed:
            if status.traceback:
                print(f"plugin {status.name} ({status.distribution}):\n{status.traceback.rstrip()}", file=stream)


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """Whether the command runs with ``--debug`` (or ``CVGL_BENCH_DEBUG=1``): tracebacks are shown.
    ``ctx``: the command's context (default: click's current one)."""
    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    try:
        return envvars.flag("CVGL_BENCH_DEBUG")
    except ConfigError:  # the command refuses it in one line (``cli``); that line must not become a traceback
        return False


def command_host() -> Any:
    """The process-wide plugin host for a command, after warning about plugins that failed.

    Commands call this once and pass the host down; the library below never looks it up.
    """
    from .plugins import get_host

    host = get_host()
    warn_failures(host)
    return host


def note_unread_data_root(host: Any, data_root: str | None, split_names: Any) -> None:
    """Say so when ``--data-root`` was given but every split named is synthetic: synthetic
    datasets live in the cache, so the option would otherwise be ignored without a word."""
    names = [name for name in split_names if name]
    if data_root and names and all(host.splits.get(name).synthetic for name in names):
        click.echo(f"[cvgl-bench] note: --data-root {data_root} is not read: synthetic splits are generated "
                   "into the cache (CVGL_BENCH_CACHE)", err=True)


def note_unused_options(ctx: click.Context, unused: dict[str, str]) -> None:
    """One note per option the user gave (on the command line or through its environment
    variable) that this invocation does not read; ``unused`` maps a parameter's name to why,
    e.g. ``{"n_boot": "with --no-significance"}``. Options left at their defaults are not named."""
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    options = {param.name: param for param in ctx.command.params}
    for name, why in unused.items():
        if ctx.get_parameter_source(name) in given:
            click.echo(f"[cvgl-bench] note: {options[name].opts[0]} is not read {why}", err=True)


class PathName(click.Path):
    """A path option or argument that refuses an empty (or blank) value instead of reading it
    as the current folder: ``--results "$OUT"`` with ``OUT`` unset would otherwise write there,
    and ``--preview ''`` renamed a file over ``.``. A lone dash is refused too: no option here
    reads standard input or writes standard output, and ``leaderboard --out -`` made a folder
    called ``-`` (``./-`` names one on purpose). A leading ``~`` is the home folder on every
    option alike, where the shell leaves it (``--out=~/boards``, a quoted value): ``--results``
    and ``leaderboard --out`` made a folder called ``~``. Takes click.Path's arguments."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(f"is empty; give a {self.name} name (an unset shell variable?)", param, ctx)
        if value == "-" and not self.allow_dash:
            self.fail(f"'-' is not standard input or output here; give a {self.name} name (./- for one called '-')",
                      param, ctx)
        if isinstance(value, str) and value.startswith("~"):
            value = os.path.expanduser(value)
        return super().convert(value, param, ctx)


def check_resamples(value: int, none_allowed: bool = False) -> int:
    """``--n-boot``: within :data:`~cvgl_bench.evaluate.bootstrap.RESAMPLE_RANGE` (0 too where it means
    no interval); anything else is a usage error naming the range."""
    from .evaluate.bootstrap import RESAMPLE_RANGE

    low, high = RESAMPLE_RANGE
    if (none_allowed and value == 0) or low <= value <= high:
        return value
    raise click.BadParameter(f"{value} is not {'0 (no interval) or ' if none_allowed else ''}between {low:,} and "
                             f"{high:,} resamples")


def check_seed(value: int) -> int:
    """``--seed``: the one seed rule of :func:`cvgl_bench.seedrule.seed_problem`."""
    from .seedrule import seed_problem

    problem = seed_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value
