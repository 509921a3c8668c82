"""Compatibility: the names of the former ``cvgl_bench.runner``, now in :mod:`cvgl_bench.run`.

New code imports from :mod:`cvgl_bench.run`, which takes the plugin host as an argument; the
functions here keep the old signatures, in which the host was optional (the process-wide one).
"""

from __future__ import annotations

from typing import Any

from .data.splits import load_split as _load_split
from .results import config_hash
from .run import Cell, CellResult, RunOptions, resolve_hparams, seed_everything
from .run import plan as _plan
from .run import run_cell as _run_cell
from .run.model import default_device

__all__ = ["Cell", "CellResult", "RunOptions", "config_hash", "default_device", "load_split", "plan",
           "resolve_hparams", "run_cell", "seed_everything"]


def _host(host: Any) -> Any:
    from .plugins import get_host

    return host if host is not None else get_host()


def plan(cell: Cell, host: Any = None) -> Any:
    """:func:`cvgl_bench.run.plan.plan` (host: the process-wide one by default)."""
    return _plan(cell, _host(host))


def load_split(spec: Any, data_root: str | None = None, overrides: Any = None, host: Any = None) -> Any:
    """:func:`cvgl_bench.data.splits.load_split` (host: the process-wide one by default)."""
    return _load_split(spec, data_root, overrides, _host(host))


def run_cell(cell: Cell, options: RunOptions | None = None, host: Any = None) -> CellResult:
    """:func:`cvgl_bench.run.pipeline.run_cell` (options: the defaults; host: the process-wide one)."""
    return _run_cell(cell, options or RunOptions(), _host(host))
