"""Running cells: plan, load, train or reuse, evaluate, write; grids of cells from suite files.

One module per job:

- :mod:`.cell`       :class:`Cell`, :class:`RunOptions`, :class:`CellResult` and their JSON codecs
- :mod:`.overrides`  ``--set KEY=VALUE`` hparams overrides (an ablation is one option)
- :mod:`.plan`       every name of a cell resolved and checked; the hparams resolved
- :mod:`.model`      seeding, building a model, training it or reusing its checkpoint
- :mod:`.records`    which records a cell still owes, and each one filled in
- :mod:`.pipeline`   :func:`run_cell`: the steps above, top to bottom
- :mod:`.suite`      the one parser of suite files (``benchmarks/*.yaml``)
- :mod:`.grid`       suites expanded into cells, run inline, in worker processes or on Slurm
- :mod:`.worker`     ``python -m cvgl_bench.run.worker``: one cell in its own process

Splits are loaded by :func:`cvgl_bench.data.splits.load_split`, records written by
:mod:`cvgl_bench.results`, numbers computed by :mod:`cvgl_bench.evaluate`.
"""

import importlib
from typing import Any

from ..data.splits import load_split
from ..results import config_hash, configuration_id
from .cell import Cell, CellResult, RunOptions
from .overrides import parse_set
from .plan import Plan, plan, resolve_hparams
from .suite import Suite, load_suite

#: Names whose modules import torch, imported on first use: reading a suite or a cell (the
#: leaderboard) then never pays torch's two-second import.
_TORCH_NAMES = {"build_model": "model", "default_device": "model", "seed_everything": "model",
                "train_or_reuse": "model", "resolve": "pipeline", "run_cell": "pipeline"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Cell", "CellResult", "Plan", "RunOptions", "Suite", "build_model", "config_hash", "configuration_id",
           "default_device", "load_split", "load_suite", "parse_set", "plan", "resolve", "resolve_hparams",
           "run_cell", "seed_everything", "train_or_reuse"]
