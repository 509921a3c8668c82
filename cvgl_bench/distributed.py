"""Multi-process training: the launch environment, collectives, and row sharding.

This is the one module that knows about ``torchrun`` and Slurm. One process per GPU (or per
CPU worker with the gloo backend); every process holds a full model replica wrapped in
``DistributedDataParallel``.

Contrastive losses need the *global* batch: each rank gathers every rank's embeddings with
their gradients (:func:`all_gather_with_grad`) and computes the loss of its *local* rows
against all columns. DDP then averages gradients over ranks, which gives exactly the gradient
of the single-process loss on the global batch, with no world-size factor to compensate
(the pitfall of gathering without gradient, or of a full-matrix loss on every rank).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .errors import ConfigError


def resolve_device(device: str | None) -> str:
    """``device`` checked against this machine, before any work: a name torch does not know,
    or a GPU that is not here, is one :class:`~cvgl_bench.errors.ConfigError` line. ``None``:
    ``cuda`` when a GPU is visible, else ``cpu``; an empty name is refused, not read as None."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not device.strip():
        raise ConfigError("--device is empty; use cpu, cuda or cuda:N, or leave the option out")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cpu":
        return device
    backend = getattr(torch, parsed.type, None)
    count = backend.device_count() if backend is not None and backend.is_available() else 0
    if count == 0:
        raise ConfigError(f"--device {device}: this machine has no {parsed.type} device; use --device cpu")
    if parsed.index is not None and parsed.index >= count:
        raise ConfigError(f"--device {device}: this machine has {count} {parsed.type} device(s), "
                          f"{parsed.type}:0 to {parsed.type}:{count - 1}")
    return device


@dataclass(frozen=True)
class WorldInfo:
    """Where this process sits: global rank, rank on its node, number of processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world_info_from_env(env: Mapping[str, str] | None = None) -> WorldInfo:
    """Read the launcher's variables: torchrun (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) first,
    then Slurm (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``); one process otherwise."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        return WorldInfo(int(env["RANK"]), int(env.get("LOCAL_RANK", 0)), int(env["WORLD_SIZE"]))
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env:
        return WorldInfo(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)), int(env["SLURM_NTASKS"]))
    return WorldInfo()


def init_distributed(device: str = "cpu", env: Mapping[str, str] | None = None,
                     backend: str | None = None) -> tuple[WorldInfo, str]:
    """Join the process group described by the environment; return the world and this rank's device.

    Under ``srun`` without torchrun the Slurm variables are mapped to the ones torch reads
    (``MASTER_ADDR`` must be exported by the job script; ``MASTER_PORT`` defaults to 29500).
    With one process this does nothing. A CUDA device becomes the process's own GPU,
    ``cuda:<local rank>`` (``cuda:0`` where the launcher shows each process one GPU).
    """
    info = world_info_from_env(env)
    if device.startswith("cuda") and info.distributed:
        index = _local_gpu(device, info)
        device = f"cuda:{index}"
        torch.cuda.set_device(index)
    if not info.distributed or dist.is_initialized():
        return info, device
    os.environ.setdefault("RANK", str(info.rank))
    os.environ.setdefault("WORLD_SIZE", str(info.world_size))
    os.environ.setdefault("LOCAL_RANK", str(info.local_rank))
    os.environ.setdefault("MASTER_PORT", "29500")
    if "MASTER_ADDR" not in os.environ:
        raise ConfigError("distributed run without MASTER_ADDR: launch with torchrun, or export "
                          "MASTER_ADDR (the first node's host name) in the Slurm job script")
    backend = backend or ("nccl" if device.startswith("cuda") else "gloo")
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info, device


def _local_gpu(device: str, info: WorldInfo) -> int:
    """The GPU of this process among those it sees: its local rank, or the only one when the
    launcher shows each process one GPU (Slurm's ``--gpus-per-task=1``)."""
    count = torch.cuda.device_count()
    if count != 1 and info.local_rank >= count:
        raise ConfigError(f"process {info.rank} has local rank {info.local_rank} but sees {count} GPU(s): start at "
                          f"most {count} processes per node (one per GPU)")
    index = 0 if count == 1 else info.local_rank
    if torch.device(device).index not in (None, index):
        raise ConfigError(f"--device {device} with {info.world_size} processes: each process trains on the GPU of "
                          "its local rank; pass --device cuda and choose the GPUs with CUDA_VISIBLE_DEVICES")
    return index


@contextlib.contextmanager
def process_group(device: str) -> Iterator[str]:
    """Join the launcher's process group (torchrun, Slurm) for a whole run, and leave it after;
    yields this process's device. With one process nothing is joined and ``device`` is yielded.

    Every rank then runs the same cells: choices they must make alike are made by rank 0
    (:func:`from_rank0`), and rank 0 alone evaluates after training."""
    if not world_info_from_env().distributed:
        yield device
        return
    joined = not dist.is_initialized()
    _, device = init_distributed(device)
    try:
        yield device
    finally:
        if joined:
            cleanup()


def from_rank0(value: Any) -> Any:
    """Rank 0's ``value`` (picklable) on every process of the active group; ``value`` itself in
    one process. For a choice read from files that another process may be rewriting (reuse a
    checkpoint, resume, whether any record is missing): the ranks must not choose apart."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank0_first(work: Callable[[], Any], seconds: float) -> Any:
    """Run ``work`` on rank 0 alone and return its (picklable) result on every rank, where rank 0
    may take up to ``seconds`` (a lock it waits for). The other ranks wait on a group of their own
    whose timeout is ``seconds`` and a minute more: in the default group they would give up after
    its 10 to 30 minutes with a traceback. One process: ``work()``."""
    if not is_distributed():
        return work()
    # every rank makes the group before rank 0 starts to wait; gloo carries the one object on the CPU
    group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=seconds + 60))
    try:
        box = [work() if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(box, src=0, group=group)
        return box[0]
    finally:
        dist.destroy_process_group(group)


def on_every_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on every process of the active group (one process: ``flag``)."""
    if not is_distributed():
        return bool(flag)
    on_gpu = dist.get_backend() == "nccl"
    value = torch.tensor([1 if flag else 0], device=f"cuda:{torch.cuda.current_device()}" if on_gpu else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def cleanup() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    """Whether a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def barrier() -> None:
    if is_distributed():
        dist.barrier()


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns to each rank the summed gradient of its rows.

    Written out (rather than ``torch.distributed.nn``) so that it works on gloo, which lacks
    reduce-scatter: the backward all-reduces the full gradient and keeps this rank's slice.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (same shape on every rank) from all ranks in rank order, keeping
    the autograd graph: gradients flow back to the rank that owns each row."""
    if not is_distributed():
        return tensor
    return _AllGatherWithGrad.apply(tensor)


def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (same shape on every rank) from all ranks, without gradient."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def shard_rows(n: int, rank_: int, world: int) -> np.ndarray:
    """The rows of ``range(n)`` this rank processes in a sharded pass (evaluation, mining).

    Rows are split into ``world`` contiguous shards of ``ceil(n / world)``; the last shards are
    padded by repeating row ``n - 1`` so every rank runs the same number of batches (as
    ``DistributedSampler`` pads). :func:`gather_rows` drops the padding again.
    """
    per = -(-n // world) if n else 0
    rows = np.arange(rank_ * per, (rank_ + 1) * per)
    return np.minimum(rows, max(n - 1, 0)) if n else rows


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Reassemble the output of a :func:`shard_rows` pass: all shards in order, padding dropped."""
    return all_gather_no_grad(local)[:n]


def shard_batch(batch: np.ndarray, rank_: int, world: int) -> np.ndarray:
    """This rank's contiguous slice of one *global* batch.

    A global batch is built whole by the sampler (anchors with their hard neighbours); every
    rank takes its slice of the same global batch at the same step, so the gathered loss sees
    each hard-negative group complete.
    """
    if len(batch) % world:
        from .errors import ConfigError

        raise ConfigError(f"global batch {len(batch)} is not divisible by the world size {world}; "
                          f"choose a batch size that is a multiple of the number of processes")
    per = len(batch) // world
    return batch[rank_ * per:(rank_ + 1) * per]
