"""A cell and how it runs: :class:`Cell`, :class:`RunOptions`, :class:`CellResult`, their JSON codecs.

A cell is ``(method, training split, evaluation splits, profile, seed)`` plus protocol and
hyper-parameter overrides. Without an explicit training split each evaluation split trains on
its own in-domain training split; a different training split makes the task a cross-dataset
transfer. Cells and options travel as JSON to worker processes and Slurm jobs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import envvars
from ..errors import ConfigError
from ..evaluate.bootstrap import RESAMPLES
from ..train.context import MAX_THREADS
from .overrides import normalise, variant_label

OVERWRITE = ("only-missing", "always", "never")
"""``only-missing``: run what has no record, and redo records whose configuration changed;
``always``: recompute and overwrite every record; ``never``: keep every existing record as it is."""


MAX_GPUS_PER_CELL = 64
"""The most processes one grid cell trains in (``grid --gpus-per-cell``): no node holds more GPUs;
a typo of more started that many torchrun processes on a machine without one."""

@dataclass(frozen=True)
class Cell:
    """One unit of work: a method trained once, evaluated on each of ``eval_splits``."""

    method: str
    eval_splits: tuple[str, ...]
    train_split: str | None = None
    profile: str = "cpu"
    seed: int = 0
    protocol: tuple[tuple[str, str], ...] = ()
    """Protocol overrides (option, value), applied to every evaluation split that has the option;
    an option that none of them has is an error (:func:`cvgl_bench.run.plan.plan`)."""
    overrides: tuple[tuple[str, str], ...] = ()
    """Hyper-parameter overrides (key, JSON value), deep-merged into the method's hparams
    (``cvgl-bench run --set``, :mod:`cvgl_bench.run.overrides`); an ablation is one override."""

    @property
    def variant(self) -> str:
        """``"ncm=off"`` for a cell with overrides, ``""`` without."""
        return variant_label(self.overrides)

    def __str__(self) -> str:
        train = self.train_split or "in-domain"
        variant = f" [{self.variant}]" if self.overrides else ""
        return f"{self.method}/{self.profile}{variant} {train} -> {','.join(self.eval_splits)} seed {self.seed}"


@dataclass
class RunOptions:
    """Where and how cells run; shared by ``run`` and ``grid``."""

    results_dir: Path = Path("results")
    runs_dir: Path = Path("runs")
    data_root: str | None = None
    overwrite: str = "only-missing"
    device: str | None = None
    backend: str = "torch"
    n_boot: int = RESAMPLES
    on_corrupt: str = "fail"
    progress: bool = True
    threads: int | None = None
    loader_workers: int | None = None
    """Data-loader workers of training (``--loader-workers``), over the recipe's ``workers``; like
    ``threads`` it suits this machine and is no part of the configuration."""
    resume: bool = True
    checkpoint: Path | None = None
    """Score this trained checkpoint (a released model, or another run's ``model.pt``) instead of
    training: no training data is read, and the records are the variant ``checkpoint=<sha256[:8]>``."""
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    """Where progress lines go: stderr by default, so that stdout holds only a command's output."""

    def __post_init__(self) -> None:
        if self.overwrite not in OVERWRITE:
            raise ConfigError(f"--overwrite must be one of {', '.join(OVERWRITE)}, not {self.overwrite!r}")
        if self.on_corrupt not in ("fail", "skip"):
            raise ConfigError(f"--on-corrupt must be 'fail' or 'skip', not {self.on_corrupt!r}")
        self.results_dir = Path(self.results_dir)
        self.runs_dir = Path(self.runs_dir)
        if self.checkpoint is not None:
            self.checkpoint = Path(self.checkpoint)

    def cpu_threads(self) -> int | None:
        """``threads``, else ``CVGL_BENCH_THREADS`` (None: torch's choice)."""
        return self.threads or environment_threads()


@dataclass
class CellResult:
    """What a run of a cell did: records written or kept (with their paths), and whether it trained."""

    cell: Cell
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    trained: bool = False
    records: list[Any] = field(default_factory=list)
    """The :class:`~cvgl_bench.results.Record` of every evaluation split, written or kept."""


def environment_threads() -> int | None:
    """``CVGL_BENCH_THREADS``: CPU threads for training and evaluation on this machine (None: unset)."""
    try:
        return envvars.integer("CVGL_BENCH_THREADS", None, 1, MAX_THREADS)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; unset it for torch's choice") from None


def cell_to_json(cell: Cell) -> str:
    """The cell as one JSON line (for worker processes and Slurm jobs)."""
    data = asdict(cell)
    data["eval_splits"] = list(cell.eval_splits)
    data["protocol"] = [list(x) for x in cell.protocol]
    data["overrides"] = [list(x) for x in cell.overrides]
    return json.dumps(data, sort_keys=True)


def cell_from_json(text: str) -> Cell:
    """The cell of :func:`cell_to_json`."""
    data = json.loads(text)
    return Cell(method=data["method"], eval_splits=tuple(data["eval_splits"]), train_split=data["train_split"],
                profile=data["profile"], seed=int(data["seed"]),
                protocol=tuple((k, v) for k, v in data["protocol"]),
                overrides=normalise(data.get("overrides") or ()))


def options_to_json(options: RunOptions) -> str:
    """The options as JSON, without the log callback (a worker logs to its own stderr)."""
    data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items() if k != "log"}
    return json.dumps(data, sort_keys=True)


def options_from_json(text: str) -> RunOptions:
    """The options of :func:`options_to_json`."""
    return RunOptions(**json.loads(text))
