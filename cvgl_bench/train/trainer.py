"""The training loop: AdamW, warm-up + cosine per iteration, AMP, clipping, checkpoints, resume.

Sample4Geo's optimisation, made resumable and distributed:

- AdamW over all parameters (torch defaults: weight decay 0.01 applies to norms, biases and
  the logit scale too, as in Sample4Geo) unless the method passes parameter groups.
- Learning rate: linear warm-up from 0 over ``warmup_epochs`` then half-cosine to 0: a torch
  ``LambdaLR`` over :func:`warmup_cosine`, stepped after every iteration (the factor of
  ``transformers.get_cosine_schedule_with_warmup``). The schedule
  length is ``epochs * steps_per_epoch`` with ``steps_per_epoch`` given by the caller; Sample4Geo
  uses ``ceil(pairs / batch)`` while its epochs hold at most ``floor`` batches, so its rate
  never quite reaches 0. The first step runs at rate 0 (the schedule's value at step 0).
  ``TrainConfig.schedule = "constant"`` keeps the full rate after the warm-up instead (SAFA).
- AMP: ``amp=True`` is fp16 autocast + ``GradScaler(init_scale=2**10)`` on CUDA only (Sample4Geo;
  float32 elsewhere); gradients are unscaled before clipping by value and/or by norm.
  ``amp="bf16"`` is bfloat16 autocast on every device, without loss scaling (bfloat16 has
  float32's exponent range): the CPU's mixed precision, native on CPUs with AVX512-BF16 or AMX.
  A CPU without native bfloat16 trains ``"bf16"`` in float32 instead (:mod:`.precision`); the
  format used is noted in ``train.json`` and checkpoints, and a resume in another is refused.
- After each epoch: the evaluation callback (every ``eval_every`` epochs and after the last;
  logged only, never used to select a checkpoint), the method's epoch-end hooks (similarity
  mining), then an atomic checkpoint ``last.pt`` with model, optimiser, scheduler, scaler,
  sampler and RNG states. ``RunContext.resume`` continues from it; a run killed at any point
  and resumed reproduces the uninterrupted run bit for bit on CPU.
- A NaN or infinite loss stops the run at once with :class:`NonFiniteLossError`.
"""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "TrainConfig", "Trainer", "warmup_cosine"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import contextlib
import io
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..errors import ConfigError, UserError, signal_name
from ..fsutil import write_bytes, write_json
from .. import distributed
from ..checkpoints import load_model_state, read_checkpoint
from .context import RunContext
from .pairs import TrainPairs, keep_batch
from .precision import training_precision
from .samplers import BatchPlanner
from .seeds import derived_seed, seed_everything

CHECKPOINT_NAME = "last.pt"
#: The longest wait for one batch from the data-loader workers: far beyond a slow disk's, so a
#: worker stuck on a hung file system ends the run with a line, not a hang.
LOADER_TIMEOUT_S = 600.0
#: Seconds past :data:`LOADER_TIMEOUT_S` after which :class:`_LoaderWatchdog` kills the workers:
#: torch's own timeout ends, first, every wait it can see.
WATCHDOG_GRACE_S = 30.0
HISTORY_NAME = "history.json"
CHECKPOINT_FORMAT = 1
SCHEDULES = ("cosine", "constant")


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Optimisation settings of one run (a subset of the method's hparams)."""

    epochs: int
    lr: float
    steps_per_epoch: int
    """Schedule length per epoch (Sample4Geo: ``ceil(pairs / global batch)``)."""
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_epochs: float = 1.0
    grad_clip_value: float | None = None
    grad_clip_norm: float | None = None
    amp: bool | str = True
    """``True``: fp16 autocast and gradient scaling, on CUDA devices only; ``"bf16"``: bfloat16
    autocast on every device; ``False``: float32."""
    grad_scaler_init: float = 2.0 ** 10
    eval_every: int = 0
    """Run the evaluation callback every this many epochs and after the last (0: never)."""
    workers: int = 0
    """Data-loader worker processes (0: load and augment in the training process)."""
    channels_last: bool = False
    schedule: str = "cosine"
    """``cosine``: warm-up then half-cosine to 0 (Sample4Geo); ``constant``: warm-up then ``lr``
    throughout (SAFA's fixed-rate Adam)."""

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if self.epochs < 1 or self.steps_per_epoch < 1:
            raise ConfigError(f"epochs ({self.epochs}) and steps per epoch ({self.steps_per_epoch}) must be positive")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, not {self.lr}")
        self.amp = amp_setting(self.amp)
        self.betas = tuple(self.betas)  # type: ignore[assignment]


def amp_setting(value: Any) -> bool | str:
    """``value`` if it is an ``amp`` setting (``True``, ``False`` or ``"bf16"``, exactly, so that
    one behaviour has one configuration id), else a :class:`ConfigError` naming them."""
    if isinstance(value, bool) or value == "bf16":
        return value
    raise ConfigError(f"amp must be true (fp16 on CUDA), false (float32) or bf16 (bfloat16 on every device), "
                      f"not {value!r}")


def warmup_cosine(step: float, warmup_steps: float, total_steps: float) -> float:
    """Learning-rate factor at ``step``: linear 0 -> 1 over ``warmup_steps``, then half-cosine to 0
    at ``total_steps`` (``transformers.get_cosine_schedule_with_warmup``, fractional warm-up allowed;
    past ``total_steps`` it stays 0 where transformers' cosine would rise again)."""
    if step < warmup_steps:
        return float(step) / float(max(1.0, warmup_steps))
    progress = min(1.0, float(step - warmup_steps) / float(max(1.0, total_steps - warmup_steps)))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


class _Schedule:
    """Picklable ``LambdaLR`` factor (the lambda itself is not stored in checkpoints)."""

    def __init__(self, warmup_steps: float, total_steps: float, kind: str = "cosine"):
        self.warmup_steps, self.total_steps, self.kind = warmup_steps, total_steps, kind

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return warmup_cosine(step, self.warmup_steps, self.total_steps) if step < self.warmup_steps else 1.0
        return warmup_cosine(step, self.warmup_steps, self.total_steps)


@contextlib.contextmanager
def deterministic_cpu(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training on CPU; the previous setting is restored."""
    if device.type != "cpu":
        yield
        return
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every global RNG state, in types ``torch.load(weights_only=True)`` accepts; of the GPUs,
    only ``device``'s (the one this process trains on), so that a run resumes where another
    number of GPUs is visible."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if device is not None and device.type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`rng_state` captured, the GPU's state onto ``device``."""
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    if "cuda_device" in state and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_device"], device)
    elif "cuda" in state and device is not None and device.type == "cuda":
        visible = state["cuda"]  # written before cvgl-bench kept one GPU's state: every visible GPU's
        if (device.index or 0) < len(visible):
            torch.cuda.set_rng_state(visible[device.index or 0], device)


EpochHook = Callable[[int, nn.Module], None]
InputTransform = Callable[[torch.Tensor, str], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class Trainer:
    """Trains a two-input model on planned batches of training pairs.

    ``model(query, reference)`` returns the two embedding batches; ``loss(query_emb,
    reference_emb, logit_scale)`` gets :meth:`CVGLModel.loss_scale() <cvgl_bench.method.CVGLModel.loss_scale>`
    (the model's ``logit_scale``; ``None`` when it has none). ``input_transform(batch, view)`` turns augmented float [0, 1] ``(B, 3, H, W)``
    batches, already on the device, into model inputs (normalisation, memory format).
    ``epoch_hooks`` run after each epoch's evaluation and before its checkpoint, with the
    unwrapped model in eval mode; the planner's state is checkpointed after them.
    ``fingerprint`` identifies the configuration; resuming from a checkpoint of another
    configuration is refused.
    """

    def __init__(self, model: nn.Module, loss: LossFn, dataset: TrainPairs, planner: BatchPlanner,
                 config: TrainConfig, run: RunContext, *, views: tuple[str, str],
                 input_transform: InputTransform | None = None, epoch_hooks: Sequence[EpochHook] = (),
                 param_groups: Sequence[dict[str, Any]] | None = None, fingerprint: str = ""):
        self.model = model
        self.loss = loss
        self.dataset = dataset
        self.planner = planner
        self.config = config
        self.run = run
        self.views = tuple(views)
        self.input_transform = input_transform or (lambda x, view: x)
        self.epoch_hooks = list(epoch_hooks)
        self.fingerprint = fingerprint
        self.device = torch.device(run.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.world = distributed.world_size()
        self.rank = distributed.rank()
        self.is_main = self.rank == 0
        self.precision = training_precision(config.amp, self.device.type)
        if config.amp == "bf16" and self.precision == "float32" and self.is_main:
            run.log("amp: bf16, but this CPU has no native bfloat16 (AVX512-BF16, AMX or Arm BF16), where "
                    "emulated bfloat16 is 2-14x slower than float32: training in float32 (see the record's "
                    "trained_with.train_precision)")
        self.run.notes["train_precision"] = self.precision
        # the run's --loader-workers wins over the recipe's: the count changes no batch (per-item seeds)
        self.loader_workers = config.workers if run.loader_workers is None else run.loader_workers
        self.run.notes["loader_workers"] = self.loader_workers
        self.use_amp = self.precision == "float16"
        self.autocast_dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        self.use_autocast = self.precision != "float32"
        self.model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        groups = list(param_groups) if param_groups is not None else [{"params": list(model.parameters())}]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps,
                                           weight_decay=config.weight_decay)
        total = config.epochs * config.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _Schedule(config.warmup_epochs * config.steps_per_epoch, total, config.schedule))
        self.scaler = torch.amp.GradScaler("cuda", init_scale=config.grad_scaler_init, enabled=self.use_amp)
        self.global_step = 0
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.runlog: Any = None
        self._checked_gradients = False
        self.wrapped = self._wrap(model)

    @property
    def checkpoint_path(self) -> Path:
        return self.run.workdir / CHECKPOINT_NAME

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        norms = sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
        if norms:  # the one way several processes differ from one on the global batch
            self.run.notes["batchnorm_statistics"] = "per process"
            self._log(f"{norms} BatchNorm layer(s) normalise over each process's 1/{self.world} of the global batch "
                      "(as under Sample4Geo's DataParallel), so this training differs from one process's; the "
                      "records say so (trained_with.batchnorm_statistics)")

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    # --- the loop ---------------------------------------------------------------------------

    def fit(self) -> list[dict[str, Any]]:
        """Train from scratch or from ``last.pt`` (when resuming) to the last epoch; returns the history.

        The first process also writes ``train.log``, ``scalars.csv`` and TensorBoard events into
        the run's folder (:mod:`cvgl_bench.train.runlog`)."""
        visible = self.run.resume and self.checkpoint_path.exists()
        resumed = distributed.on_every_rank(visible)  # every replica resumes, or none does
        if visible and not resumed and self.is_main:
            self._log(f"{self.checkpoint_path} is not visible to every process (a runs folder that is not shared "
                      "between nodes?): training from scratch")
        if resumed:
            self.load_checkpoint(self.checkpoint_path)
        if self.is_main:
            from .runlog import RunLog

            self.runlog = RunLog(self.run.workdir, resume_step=self.global_step if resumed else None,
                                 on_scalars=self.run.on_scalars)
        try:
            if resumed:
                self._log(f"resumed from {self.checkpoint_path} after epoch {self.epoch}")
                self.run.notes.update(resumed_after_epoch=self.epoch,
                                      train_s_before_resume=round(self.recorded_seconds(), 3))
            else:
                if self.checkpoint_path.exists():
                    self._log(f"starting a new run: {self.checkpoint_path} will be overwritten "
                              "(resume to continue it)")
                seed_everything(derived_seed(self.run.seed, self.rank, 0x7EA1))
            with deterministic_cpu(self.device):
                for epoch in range(self.epoch + 1, self.config.epochs + 1):
                    self.train_epoch(epoch)
                    self._end_of_epoch(epoch)
        finally:
            if self.runlog is not None:
                self.runlog.close()
                self.runlog = None
        return self.history

    def recorded_seconds(self) -> float:
        """Wall time of the epochs in the history: training, evaluation, epoch hooks and checkpoint
        writes (what a resumed run adds to its own time; setup before epoch 1 is not recorded)."""
        return sum(float(entry.get(key, 0.0)) for entry in self.history
                   for key in ("seconds", "eval_s", "hooks_s", "checkpoint_s"))

    def loader(self, epoch: int) -> DataLoader:
        """This rank's batches of ``epoch``: its slice of each global batch of the plan."""
        plan = self.planner.plan(epoch)
        shards = [distributed.shard_batch(batch, self.rank, self.world).tolist() for batch in plan]
        self.dataset.set_epoch(epoch)
        return DataLoader(self.dataset, batch_sampler=shards, collate_fn=keep_batch,
                          num_workers=self.loader_workers, pin_memory=self.device.type == "cuda",
                          timeout=LOADER_TIMEOUT_S if self.loader_workers else 0)

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over ``epoch``'s plan; appends and returns its history entry."""
        from ..progress import progress

        self.model.train()
        loader = self.loader(epoch)
        n_batches = len(loader)
        global_batch = self.planner.batch_size
        bar = progress(n_batches, desc=f"epoch {epoch}/{self.config.epochs}", unit="batch",
                       disable=not (self.run.progress and self.is_main), dynamic_ncols=True)
        loss_sum, steps = 0.0, 0
        data_s = step_s = 0.0
        started = tick = asked = time.perf_counter()
        batches, waiting = iter(loader), True
        watchdog = _LoaderWatchdog(batches, LOADER_TIMEOUT_S + WATCHDOG_GRACE_S) if self.loader_workers else None
        try:
            for batch_index, (query, reference) in enumerate(batches):
                fetched, waiting = time.perf_counter(), False
                if watchdog is not None:
                    watchdog.since = None
                data_s += fetched - tick
                loss_value = self.train_step(query, reference, epoch, batch_index, n_batches)
                loss_sum += loss_value
                steps += 1
                tick = time.perf_counter()
                step_s += tick - fetched
                if self.run.on_step is not None:
                    self.run.on_step(epoch, self.global_step)
                rate = 2 * global_batch * steps / max(tick - started, 1e-9)
                self._scalars({"train/loss": loss_value, "train/lr": self.current_lr(),
                               **self._logit_scale(), "train/images_per_s": rate}, epoch)
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{self.current_lr():.2e}", img_s=f"{rate:.1f}",
                                refresh=False)
                bar.update()
                waiting, asked = True, time.perf_counter()
                if watchdog is not None:
                    watchdog.since = time.monotonic()
        except BaseException as exc:
            unhook_tries = 0
            while True:  # no call before the try: torch's SIGCHLD handler may raise here too, until it is unhooked
                try:
                    workers = _unhook_workers(batches)
                    break
                except RuntimeError:
                    unhook_tries += 1
                    if unhook_tries > 10:
                        raise
            stuck = self.loader_workers > 0 and waiting and isinstance(exc, Exception) and (
                (watchdog is not None and watchdog.fired)
                or (isinstance(exc, RuntimeError) and time.perf_counter() - asked >= LOADER_TIMEOUT_S))
            died = _stop_loader(batches, workers, wait_s=1.0 if isinstance(exc, Exception) and not stuck else 0.0,
                                kill=stuck)
            if stuck:
                raise self._loader_stuck() from None
            if died and isinstance(exc, Exception):  # an interruption stays one
                raise self._loader_died(died) from None
            raise
        finally:
            if watchdog is not None:
                watchdog.stop()
            bar.close()
        seconds = time.perf_counter() - started
        entry = {
            "epoch": epoch, "loss": loss_sum / max(steps, 1), "lr": self.current_lr(), "steps": steps,
            "global_step": self.global_step, "seconds": seconds,
            "images_per_s": 2 * global_batch * steps / max(seconds, 1e-9), "data_s": data_s, "step_s": step_s,
            "neighbours": self.planner.neighbour_source,
        }
        self.history.append(entry)
        self.epoch = epoch
        self._scalars({"epoch/loss": entry["loss"], "epoch/images_per_s": entry["images_per_s"]}, epoch)
        self._log(f"epoch {epoch}/{self.config.epochs}: loss {entry['loss']:.4f}, lr {entry['lr']:.3g}, "
                  f"{entry['images_per_s']:.1f} img/s, {seconds:.1f} s ({steps} steps of {global_batch} pairs, "
                  f"batches from {entry['neighbours']})")
        return entry

    def _loader_died(self, died: str) -> ConfigError:
        after = f" after epoch {self.epoch}" if self.epoch else ""
        return ConfigError(f"a data-loader worker process died ({died}: out of memory, or /dev/shm full?); rerun "
                           f"the same command to resume{after}; if it dies again, give the machine or container "
                           f"more memory or /dev/shm, or add --loader-workers 0 (the same model, loaded in the "
                           f"training process; now {self.loader_workers} workers)")

    def _loader_stuck(self) -> ConfigError:
        after = f" after epoch {self.epoch}" if self.epoch else ""
        return ConfigError(f"no batch came from the data-loader workers in {LOADER_TIMEOUT_S:.0f} s (a worker is "
                           f"stuck, hung on a file system?); rerun the same command to resume{after}; if "
                           f"it happens again, check the data's file system, or add --loader-workers 0 (the same "
                           f"model, loaded in the training process; now {self.loader_workers} workers)")

    def train_step(self, query: torch.Tensor, reference: torch.Tensor, epoch: int = 0, batch_index: int = 0,
                   n_batches: int = 0) -> float:
        """Forward, loss, backward, clip, optimiser and schedule step on one (local) batch; returns
        the global batch's loss (the mean of the ranks' local losses)."""
        non_blocking = self.device.type == "cuda"
        query = self.input_transform(query.to(self.device, non_blocking=non_blocking), self.views[0])
        reference = self.input_transform(reference.to(self.device, non_blocking=non_blocking), self.views[1])
        with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype, enabled=self.use_autocast):
            query_emb, reference_emb = self.wrapped(query, reference)
            loss = self.loss(query_emb, reference_emb, self.model.loss_scale())
        value = loss.detach().float()
        if self.world > 1:
            value = value.clone()
            torch.distributed.all_reduce(value)
            value /= self.world
        loss_value = float(value)
        if not math.isfinite(loss_value):
            where = f"step {self.global_step + 1} (epoch {epoch}, batch {batch_index + 1} of {n_batches})"
            last = f"the last checkpoint is {self.checkpoint_path} (epoch {self.epoch})" \
                if self.checkpoint_path.exists() else "no checkpoint was written yet"
            if not (torch.isfinite(query_emb).all() and torch.isfinite(reference_emb).all()):
                cause = "the model's embeddings are not finite, so its forward pass is the cause, not the lr"
            elif self.global_step == 0:
                cause = "no update has been made yet, so the loss or the model's logit scale is the cause, not the lr"
            else:
                cause = f"lower lr ({self.current_lr():.3g} now) or set grad_clip_norm"
            raise NonFiniteLossError(f"training stopped: the loss is {loss_value} at {where}; {last}; {cause}")
        self.scaler.scale(loss).backward()
        if self.world > 1 and not self._checked_gradients:
            self._check_every_parameter_has_a_gradient()
        if self.config.grad_clip_value or self.config.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            if self.config.grad_clip_value:
                torch.nn.utils.clip_grad_value_(params, self.config.grad_clip_value)
            if self.config.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.global_step += 1
        return loss_value

    def _check_every_parameter_has_a_gradient(self) -> None:
        # DDP averages gradients bucket by bucket once every parameter of a bucket has one; a
        # parameter the loss never reaches stalls its bucket and leaves other gradients local.
        missing = [n for n, p in self.model.named_parameters() if p.requires_grad and p.grad is None]
        if missing:
            raise ConfigError(f"parameter(s) {', '.join(missing[:5])} received no gradient; under DDP every trainable "
                              f"parameter must be used by the loss: remove them or set requires_grad=False")
        self._checked_gradients = True

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _end_of_epoch(self, epoch: int) -> None:
        entry = self.history[-1]
        last = epoch == self.config.epochs
        every = self.config.eval_every
        if self.run.evaluate is not None and every > 0 and (epoch % every == 0 or last):
            self.model.eval()
            started = time.perf_counter()
            metrics = self.run.evaluate(self.model)
            entry["eval"] = {k: float(v) for k, v in (metrics or {}).items()}
            entry["eval_s"] = time.perf_counter() - started
            self._scalars({f"eval/{k}": v for k, v in entry["eval"].items()}, epoch)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in entry["eval"].items())
            self._log(f"epoch {epoch}: evaluation (logged only, not used for model selection): {shown}")
        if self.epoch_hooks:
            self.model.eval()
            started = time.perf_counter()
            for hook in self.epoch_hooks:
                hook(epoch, self.model)
            entry["hooks_s"] = time.perf_counter() - started
        self.model.train()
        started = time.perf_counter()
        self.save_checkpoint(self.checkpoint_path)
        entry["checkpoint_s"] = time.perf_counter() - started
        if self.is_main:
            write_json(self.run.workdir / HISTORY_NAME, self.history)
            if self.runlog is not None:
                self.runlog.flush()

    # --- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this epoch ended."""
        return {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "world_size": self.world,
            "precision": self.precision,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.planner.state_dict(),
            "rng": distributed.all_gather_object(rng_state(self.device)),
            "history": json.dumps(self.history),
            "config": json.dumps(asdict(self.config)),
        }

    def save_checkpoint(self, path: Path) -> None:
        """Write the state atomically (rank 0; every rank contributes its RNG state)."""
        state = self.state_dict()
        if self.is_main:
            buffer = io.BytesIO()  # serialised first: a full disk is then an OSError naming the file
            torch.save(state, buffer)
            write_bytes(path, buffer.getvalue())
        distributed.barrier()

    def load_checkpoint(self, path: Path) -> None:
        """Restore a :meth:`state_dict` written by this configuration (strictly: every key must match)."""
        fix = "delete it, or rerun with --restart, to start over"
        state = read_checkpoint(path, fix)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"checkpoint {path} has format {state.get('format')}, expected {CHECKPOINT_FORMAT}")
        if self.fingerprint and state.get("fingerprint") != self.fingerprint:
            raise ConfigError(f"checkpoint {path} was made with other hyper-parameters or data; resume with the "
                              f"same configuration, or use a new working folder")
        if not isinstance(state.get("model"), dict):
            raise ConfigError(f"checkpoint {path} holds no model state; {fix}")
        started = state.get("precision", self.precision)
        if started != self.precision:
            raise ConfigError(f"checkpoint {path} was trained in {started}, and this run trains in {self.precision} "
                              f"(amp: {self.config.amp} on {self.device.type}); resume it on a machine that trains in "
                              f"{started}, or {fix}")
        load_model_state(self.model, state["model"], path, fix)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.planner.load_state_dict(state["sampler"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.history = json.loads(state["history"])
        states = state["rng"]
        if len(states) == self.world:
            set_rng_state(states[self.rank], self.device)
        else:
            self._log(f"checkpoint was written by {len(states)} processes, this run has {self.world}: "
                      f"random streams are reseeded, so this run will not replay the original bit for bit")
            seed_everything(derived_seed(self.run.seed, self.rank, self.epoch, 0x7EA1))

    def _log(self, message: str) -> None:
        if self.is_main:
            self.run.log(message)
            if self.runlog is not None:
                self.runlog.info(message)

    def _scalars(self, values: dict[str, float], epoch: int) -> None:
        if self.runlog is not None:
            self.runlog.scalars(values, step=self.global_step, epoch=epoch)

    def _logit_scale(self) -> dict[str, float]:
        """The model's learnable logit scale, as the loss uses it (none when it has none)."""
        scale = self.model.loss_scale() if hasattr(self.model, "loss_scale") else None
        return {} if scale is None else {"train/logit_scale": float(scale.detach().float().reshape(-1)[0])}


class _LoaderWatchdog:
    """Bounds the one wait for a batch that torch's ``timeout`` cannot: a worker stopped
    (``kill -STOP``) in the moment it hands a batch over, after the batch's message reached the
    main process and before the file descriptor of its tensors did. The main process then blocks
    in that transfer, past the queue's timeout. ``since`` is when the current wait began (None:
    not waiting); once a wait passes ``bound`` seconds, the workers are killed, which ends the
    transfer with an error, and ``fired`` tells the training loop that the loader was stuck."""

    def __init__(self, batches: Any, bound: float):
        self.batches, self.bound = batches, bound
        self.since: float | None = time.monotonic()
        self.fired = False
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="cvgl-bench loader watchdog", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopped.wait(min(5.0, self.bound / 4)):
            since = self.since
            if since is not None and time.monotonic() - since >= self.bound:
                self.fired = True
                for worker in list(getattr(self.batches, "_workers", None) or ()):
                    with contextlib.suppress(OSError, TypeError):
                        os.kill(worker.pid, signal.SIGKILL)
                return

    def stop(self) -> None:
        self._stopped.set()


def _unhook_workers(batches: Any) -> list[Any]:
    """The worker processes of a data-loader iterator, unregistered from torch's SIGCHLD handler.

    That handler raises a dead worker's RuntimeError wherever the main thread is, and again at
    each later SIGCHLD while the workers are registered (the shutdown's own included), so it can
    raise in the middle of the handling of the first error. A RuntimeError out of this function
    is that handler, before the workers were unregistered: the caller calls it again."""
    workers = list(getattr(batches, "_workers", None) or ())
    try:
        from torch.utils.data._utils.signal_handling import _remove_worker_pids
    except ImportError:  # a torch without it: nothing to unhook
        return workers
    with contextlib.suppress(ValueError, TypeError):  # not registered (no workers, or unregistered already)
        _remove_worker_pids(id(batches))
    return workers


def _stop_loader(batches: Any, workers: list[Any], wait_s: float = 0.0, kill: bool = False) -> str | None:
    """Stop ``workers``, the worker processes of a data-loader iterator that an exception left and
    :func:`_unhook_workers` unregistered (``kill``: at once, for stuck ones); say which one died,
    if one did ("pid 123 killed by SIGKILL"), waiting up to ``wait_s`` for a dying one. A worker
    that dies while sending a batch can reach the main process first as a reset connection,
    before it has an exit code."""
    died, deadline = None, time.monotonic() + wait_s
    while workers and died is None:
        for worker in workers:
            code = worker.exitcode
            if code not in (None, 0):
                died = (f"pid {worker.pid} killed by {signal_name(-code)}" if code < 0
                        else f"pid {worker.pid} exited with code {code}")
                break
        if died is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for worker in workers:  # a stopped worker ignores the shutdown's SIGTERM until it is continued
        if worker.is_alive():
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGKILL if kill else signal.SIGCONT)
    with contextlib.suppress(Exception):
        batches._shutdown_workers()
    for worker in workers:  # one that outlived the shutdown would hang the interpreter's exit, which joins it
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=1.0)
    return died
