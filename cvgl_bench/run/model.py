"""The model of a cell: seeding, building it, training it or reusing its checkpoint.

A trained model lives in ``<runs>/<method>/<profile>/<train split>/seed<N>-<config hash>/``:
``model.pt`` (the weights, loaded with ``weights_only=True``) and ``train.json`` (how it was
trained), so a record that reuses the checkpoint states the training's provenance, not its own
process's.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..distributed import world_info_from_env
from ..checkpoints import load_model_state, read_checkpoint
from ..errors import ConfigError, PluginError
from ..fsutil import sha256_file, write_bytes, write_json
from ..locking import exclusive
from ..method import CVGLModel
from ..results import checkpoint_entry
from .cell import Cell, RunOptions

TRAIN_INFO = "train.json"
"""Beside a checkpoint: world size, global batch, device and seconds of its training (and what
the training noted, such as images skipped under ``--on-corrupt skip``)."""

SOURCE_INFO = "source.json"
"""Beside a checkpoint: the digest of the method plugin's source it was trained with
(:func:`cvgl_bench.provenance.source_digest`), written before training starts, so ``last.pt`` and
``model.pt`` of an edited plugin are neither resumed nor reused."""


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (data order, augmentation, init)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_model(method: Any, hparams: dict[str, Any], seed: int) -> Any:
    """A fresh model of ``method`` built after seeding every generator with ``seed``."""
    seed_everything(seed)
    return _checked(method, method.build_model(hparams))


def _checked(method: Any, model: Any) -> Any:
    if not isinstance(model, CVGLModel):
        raise PluginError(f"{type(method).__name__}.build_model returned {type(model).__name__}, which is not a "
                          "cvgl_bench.method.CVGLModel (mix it into the torch module)")
    return model


@dataclass
class TrainedModel:
    """A cell's model and how it came to be."""

    model: Any
    checkpoint: dict[str, Any]
    """``{"file", "sha256"}`` of the weights (``file`` relative to the runs folder; an imported
    checkpoint: its absolute path and ``"imported": True``)."""
    trained: bool
    """Trained by this call (False: the checkpoint was reused or imported)."""
    info: dict[str, Any] = field(default_factory=dict)
    """The checkpoint's ``train.json`` (empty for checkpoints written before it existed)."""
    seconds: float = 0.0
    """Training wall time of this call (0 when reused)."""
    source: str | None = None
    """Digest of the method plugin's source (:func:`cvgl_bench.provenance.source_digest`)."""
    train_fingerprint: str | None = None
    """What the model was trained on when not the cell's training split (an imported checkpoint)."""


def workdir_of(options: RunOptions, cell: Cell, train_split: str, config_hash: str) -> Path:
    """The folder of the cell's checkpoint and training state."""
    method = "".join(c if c.isalnum() or c in "_.-@%" else "_" for c in cell.method)
    return options.runs_dir / method / cell.profile / train_split / f"seed{cell.seed}-{config_hash}"


def train_or_reuse(method: Any, hparams: dict[str, Any], train: Any, cell: Cell, workdir: Path,
                   options: RunOptions, device: str, host: Any = None) -> TrainedModel | None:
    """The cell's model: its checkpoint in ``workdir`` when there is one, else trained now and saved.

    ``--restart`` (``options.resume`` false) and a method plugin whose source changed since the
    checkpoint was trained (:data:`SOURCE_INFO`) train from scratch; otherwise an interrupted
    training resumes from its last epoch. Returns ``None`` on every rank but the first of a
    distributed run (rank 0 alone evaluates). The training's scalars go to the
    ``cvgl_bench_training_scalars`` hook of ``host``'s plugins too.
    """
    import torch

    from .. import provenance
    from ..train.context import RunContext

    model_path = workdir / "model.pt"
    source = provenance.source_digest(method)
    reuse = _reusable_checkpoint(workdir, source, options.resume, options.log, str(cell))
    if reuse:
        seed_everything(cell.seed)
        model = _checked(method, method.load_model(hparams, model_path))
        options.log(f"[cvgl-bench] {cell}: reusing checkpoint {model_path}")
        return TrainedModel(model, _checkpoint(model_path, options.runs_dir), False, _train_info(workdir),
                            source=source)
    model = build_model(method, hparams, cell.seed)
    world = world_info_from_env()
    if world.rank == 0:
        write_json(workdir / SOURCE_INFO, {"method_source_sha256": source})
    run = RunContext(seed=cell.seed, device=device, workdir=workdir, resume=reuse is None,
                     progress=options.progress and world.rank == 0, log=options.log, world_size=world.world_size,
                     rank=world.rank, local_rank=world.local_rank, threads=options.cpu_threads(),
                     on_corrupt=options.on_corrupt, on_scalars=_scalar_sinks(host, workdir, options.log))
    processes = f", {world.world_size} processes" if world.distributed else ""
    options.log(f"[cvgl-bench] {cell}: training on {train.split} ({len(train)} pairs, {device}{processes})")
    started = time.perf_counter()
    method.fit(model, train, hparams, run)
    if world.rank != 0:
        return None
    seconds = time.perf_counter() - started
    write_json(workdir / TRAIN_INFO, {"world_size": world.world_size, "global_batch": int(hparams.get("batch_size", 0)),
                                      "device": str(device), "train_s": round(seconds, 3), **run.notes})
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    write_bytes(model_path, buffer.getvalue())
    return TrainedModel(model, _checkpoint(model_path, options.runs_dir), True, _train_info(workdir), seconds,
                        source=source)


def _scalar_sinks(host: Any, workdir: Path, log: Callable[[str], None]) -> Callable[..., None] | None:
    """The plugins' ``cvgl_bench_training_scalars`` hook as a RunContext callback (None without a host)."""
    if host is None:
        return None

    def send(scalars: dict[str, float], step: int, epoch: int) -> None:
        for warning in host.training_scalars(scalars, step, epoch, workdir):
            log(f"warning: {warning}")

    return send


def import_model(method: Any, hparams: dict[str, Any], path: Path, cell: Cell) -> TrainedModel:
    """A given trained checkpoint (``run --checkpoint``): translated by the method's
    :meth:`~cvgl_bench.method.Method.import_checkpoint` (a released model's own layout) and
    loaded strictly; a file that does not fit is one line naming the keys that differ."""
    from .. import provenance

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; pass the file of a trained {cell.method} model")
    sha = sha256_file(path)
    fix = (f"pass a checkpoint of {cell.method} with the {cell.profile} profile's architecture "
           f"(backbone {hparams.get('backbone', '?')}), or choose the profile that matches it")
    model = build_model(method, hparams, cell.seed)
    load_model_state(model, method.import_checkpoint(read_checkpoint(path, fix), hparams), path, fix)
    info = {"imported_checkpoint": path.name, "sha256": sha}
    return TrainedModel(model, {"file": str(path.resolve()), "sha256": sha, "imported": True}, False, info,
                        source=provenance.source_digest(method), train_fingerprint=f"checkpoint:{sha}")


def _reusable_checkpoint(workdir: Path, source: str | None, resume: bool, log: Callable[[str], None],
                         label: str) -> bool | None:
    """True: reuse ``model.pt``; None: train, resuming ``last.pt`` if there is one; False: train from scratch.

    A checkpoint from before source digests were kept is trusted (its load still checks every
    key and shape)."""
    if not resume:
        return False
    try:
        recorded = json.loads((workdir / SOURCE_INFO).read_text(encoding="utf-8")).get("method_source_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded is not None and source is not None and recorded != source:
        log(f"[cvgl-bench] {label}: the method's source changed since {workdir} was trained; training from scratch")
        return False
    return True if (workdir / "model.pt").exists() else None


@contextlib.contextmanager
def cell_lock(workdir: Path, label: str) -> Iterator[None]:
    """One process per cell: a second run of the same cell waits (bounded, saying for whom).

    Only rank 0 of a distributed job takes it; its other ranks follow rank 0's collectives."""
    if world_info_from_env().rank != 0:
        yield
        return
    with exclusive(workdir.parent / f".{workdir.name}.lock", f"running the cell {label}"):
        yield


def _checkpoint(path: Path, runs_dir: Path) -> dict[str, Any]:
    return checkpoint_entry(path, runs_dir, sha256_file(path))


def _train_info(workdir: Path) -> dict[str, Any]:
    """The checkpoint's ``train.json``; empty for checkpoints written before it existed."""
    try:
        return dict(json.loads((workdir / TRAIN_INFO).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}
