"""What a training run leaves beside its checkpoint: a log file, scalars, TensorBoard events.

In the run's folder (``<runs>/<method>/<profile>/<train split>/seed<N>-<hash>/``):

- ``train.log``: every line the run printed, with a time stamp (stdlib :mod:`logging`, logger
  ``cvgl_bench.train``);
- ``scalars.csv``: one row per value, ``wall_time,epoch,step,tag,value``: per optimiser step
  ``train/loss``, ``train/lr``, ``train/logit_scale`` (the model's learnable log scale, when it
  has one; the similarity multiplier is its exp) and ``train/images_per_s``; per epoch ``epoch/loss`` and ``epoch/images_per_s``; per evaluation
  ``eval/<metric>``. ``pandas.read_csv`` then ``pivot_table(index="step", columns="tag")``
  gives one column per tag;
- ``tb/``: the same scalars as TensorBoard event files, when the ``tensorboard`` package is
  installed (``tensorboard --logdir runs``).

``RunContext.on_scalars`` (the runner connects the ``cvgl_bench_training_scalars`` hook to it)
receives every batch of scalars too, so a plugin can send them elsewhere (Weights & Biases).
Logging reads values the loop computed already; it draws no random number and changes no result.
A resumed run keeps the rows up to its checkpoint's step and appends from there.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LOG_NAME = "train.log"
SCALARS_NAME = "scalars.csv"
TENSORBOARD_DIR = "tb"
FIELDS = ("wall_time", "epoch", "step", "tag", "value")

LOGGER = logging.getLogger("cvgl_bench.train")


class RunLog:
    """The log file, scalar table and TensorBoard writer of one run (rank 0 only; see module doc)."""

    def __init__(self, workdir: Path, *, resume_step: int | None = None,
                 on_scalars: Callable[..., Any] | None = None, tensorboard: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.on_scalars = on_scalars
        self._handler = logging.FileHandler(self.workdir / LOG_NAME, mode="a" if resume_step is not None else "w",
                                            encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        LOGGER.addHandler(self._handler)
        LOGGER.setLevel(logging.INFO)
        LOGGER.propagate = False
        path = self.workdir / SCALARS_NAME
        kept = _rows_up_to(path, resume_step) if resume_step is not None else []
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self._csv.writerow(FIELDS)
        self._csv.writerows(kept)
        self._writer = _tensorboard_writer(self.workdir / TENSORBOARD_DIR) if tensorboard else None

    def info(self, message: str) -> None:
        """One line into ``train.log``."""
        LOGGER.info(message)

    def scalars(self, values: Mapping[str, float], *, step: int, epoch: int) -> None:
        """Record ``{tag: value}`` at optimiser step ``step`` of ``epoch``."""
        now = time.time()
        for tag, value in values.items():
            self._csv.writerow((f"{now:.3f}", epoch, step, tag, repr(float(value))))
            if self._writer is not None:
                self._writer.add_scalar(tag, float(value), step, walltime=now)
        if self.on_scalars is not None:
            self.on_scalars(dict(values), step, epoch)

    def flush(self) -> None:
        self._file.flush()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and detach everything (idempotent)."""
        if self._file.closed:
            return
        self._file.close()
        if self._writer is not None:
            self._writer.close()
        LOGGER.removeHandler(self._handler)
        self._handler.close()


def _rows_up_to(path: Path, step: int) -> list[list[str]]:
    """The rows of an earlier ``scalars.csv`` at or before ``step`` (those an interrupted epoch
    wrote after its checkpoint are dropped: the resumed run writes them again)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError:
        return []
    if not rows or tuple(rows[0]) != FIELDS:
        return []
    kept = []
    for row in rows[1:]:
        try:
            if len(row) == len(FIELDS) and int(row[2]) <= step:
                kept.append(row)
        except ValueError:
            continue
    return kept


def _tensorboard_writer(folder: Path) -> Any:
    """A ``SummaryWriter`` when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's module needs the tensorboard package
        return None
    return SummaryWriter(log_dir=str(folder))
