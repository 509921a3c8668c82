"""What the runner hands to ``Method.fit``: seed, device, checkpoint folder and callbacks."""

from __future__ import annotations

__all__ = ["RunContext"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

MAX_THREADS = 1024
"""The most CPU threads a run takes (``--threads``, ``CVGL_BENCH_THREADS``, a recipe's ``threads``):
past any machine's cores, so a larger number is a typo; torch cannot even hold one past 2**31."""
MAX_LOADER_WORKERS = 64
"""The most data-loader worker processes (``--loader-workers``, a recipe's ``workers``): each holds
its own copy of the dataset's Python objects, and a typo of thousands ended in the out-of-memory
killer, not in a line."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..method import CVGLModel


@dataclass
class RunContext:
    """The environment of one training run.

    ``evaluate`` is called every ``eval_every`` epochs and after the last epoch with the model
    in eval mode; its metrics are logged and kept in the training history, never used to pick
    a checkpoint (the final model is the last epoch). It is called on every rank.
    """

    seed: int
    device: str
    """``"cpu"`` or ``"cuda[:N]"``."""
    workdir: Path
    """Folder of ``last.pt`` (the resumable checkpoint) and ``history.json``."""
    resume: bool = False
    """Continue from ``workdir/last.pt`` when it exists."""
    progress: bool = True
    evaluate: Callable[[CVGLModel], dict[str, float]] | None = None
    world_size: int = 1
    rank: int = 0
    log: Callable[[str], None] = print
    on_step: Callable[[int, int], Any] | None = None
    """Called after every optimiser step with ``(epoch, global_step)`` (1-based epoch); for
    time limits, profiling and fault-injection tests."""
    on_scalars: Callable[[dict[str, float], int, int], Any] | None = None
    """Called on the first process with ``(scalars, step, epoch)`` whenever the run records
    scalars (:mod:`cvgl_bench.train.runlog`); the runner connects the
    ``cvgl_bench_training_scalars`` hook of the plugins here."""
    local_rank: int = 0
    on_corrupt: str = "fail"
    """What a training image that cannot be decoded does: ``fail`` ends the run naming it,
    ``skip`` leaves out every pair that uses it (``cvgl-bench run --on-corrupt``)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What the run reports back to its caller beyond the model (``skipped_training_images``)."""
    threads: int | None = None
    """CPU threads for this run (``cvgl-bench run --threads``, ``CVGL_BENCH_THREADS``); wins over the
    recipe's ``threads``, which describes the machine the recipe was made for, not this one. Not
    part of the configuration: it changes speed, not results."""
    loader_workers: int | None = None
    """Data-loader worker processes for this run (``cvgl-bench run --loader-workers``); wins over the
    recipe's ``workers``. Not part of the configuration: each item is augmented from its own seed,
    so the count changes speed and memory, not the model."""

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, logs and progress bars."""
        return self.rank == 0
