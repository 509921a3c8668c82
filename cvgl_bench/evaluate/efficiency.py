"""Model cost, measured from the model itself: parameters, GFLOPs per image, embedding size, speed.

Every method reports these figures; they are measured, never typed in.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode` while ``model.encode`` embeds
**one** image of a view, so only what that view executes is counted (a two-branch model pays for
one branch per image). Conventions are flop_counter's: a multiply-add counts as **2 FLOPs**, and
only matrix products and convolutions are counted (``mm``, ``addmm``, ``bmm``, convolutions,
attention kernels); element-wise operations, normalisation, pooling, softmax and
``grid_sample`` are not. A GFLOP is ``1e9`` FLOPs.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import PluginError

_CONTRACT = "; the method's model breaks the CVGLModel contract (cvgl-bench check-plugin METHOD shows it)"

__all__ = ["measure", "parameters_used", "images_per_s", "queries_per_s"]


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device_of(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _probe(model: nn.Module, size: Sequence[int], batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A deterministic image batch that leaves the global RNG untouched."""
    height, width = (int(v) for v in size)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, height, width, generator=generator).to(_device_of(model))


def _graph_parameters(output: torch.Tensor) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``output`` reaches."""
    seen_nodes, leaves = set(), set()
    stack = [output.grad_fn] if output.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node is None or node in seen_nodes:
            continue
        seen_nodes.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def _encode_counted(model: nn.Module, size: Sequence[int], view: str) -> tuple[int, int, int]:
    """(FLOPs, parameters reached, embedding dim) of embedding one image of ``view``."""
    params = list(model.parameters())
    requires = [p.requires_grad for p in params]
    counter = FlopCounterMode(display=False)
    try:
        for p in params:
            p.requires_grad_(True)
        with _eval_mode(model), torch.enable_grad(), counter:
            out = model.encode(_probe(model, size), view)
        reached = _graph_parameters(out)
    finally:
        for p, flag in zip(params, requires):
            p.requires_grad_(flag)
    if out.ndim != 2 or out.shape[0] != 1:
        raise PluginError(f"{type(model).__name__}.encode returned shape {tuple(out.shape)} for one image; expected "
                          f"(1, D){_CONTRACT}")
    used = sum(p.numel() for p in params if id(p) in reached)
    return int(counter.get_total_flops()), int(used), int(out.shape[1])


def parameters_used(model: nn.Module, image_size: Sequence[int], view: str) -> int:
    """How many parameters embedding an image of ``view`` touches (one branch of a two-branch model)."""
    return _encode_counted(model, image_size, view)[1]


def measure(
    model: nn.Module,
    image_size: Mapping[str, Sequence[int]],
    query_view: str,
    reference_view: str,
) -> dict[str, Any]:
    """Parameter count, GFLOPs per query and per reference image, and embedding dimension.

    ``image_size`` maps each view to its input ``(H, W)``; ``model.encode(images, view)`` is run
    on one image of each of the two views (in eval mode, on the model's device). Returns::

        {"params": int,              # every parameter of the model
         "params_query": int,        # parameters reached when embedding a query image
         "params_reference": int,    # ... a reference image
         "gflops_query": float,      # 1e9 FLOPs, multiply-add = 2 (see module docstring)
         "gflops_reference": float,
         "embedding_dim": int}

    Raises :class:`~cvgl_bench.errors.PluginError` if the two views' embeddings differ in size,
    or if the model declares an ``embedding_dim`` other than what it returns.
    """
    for view in (query_view, reference_view):
        if view not in image_size:
            raise ValueError(f"image_size has no entry for view {view!r} (has {sorted(image_size)})")
    flops_q, used_q, dim_q = _encode_counted(model, image_size[query_view], query_view)
    flops_r, used_r, dim_r = _encode_counted(model, image_size[reference_view], reference_view)
    if dim_q != dim_r:
        raise PluginError(f"{type(model).__name__}: query embeddings have {dim_q} dims but reference embeddings "
                          f"{dim_r}{_CONTRACT}")
    declared = getattr(model, "embedding_dim", None)
    if declared is not None and int(declared) != dim_q:
        raise PluginError(f"{type(model).__name__}.embedding_dim is {declared} but encode returns {dim_q} dims"
                          f"{_CONTRACT}")
    return {
        "params": int(sum(p.numel() for p in model.parameters())),
        "params_query": used_q,
        "params_reference": used_r,
        "gflops_query": flops_q / 1e9,
        "gflops_reference": flops_r / 1e9,
        "embedding_dim": dim_q,
    }


def images_per_s(
    model: nn.Module,
    image_size: Sequence[int],
    view: str,
    *,
    batch_size: int = 32,
    backward: bool = False,
    repeats: int = 5,
    warmup: int = 1,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Time ``model.encode`` on random batches of ``view`` and return images per second.

    ``backward=False`` times inference (eval mode, no grad); ``backward=True`` times a training
    step's forward and backward (train mode, gradients of the summed embeddings; no optimiser
    step). Each of ``repeats`` timed batches follows ``warmup`` untimed ones; the result is
    ``{"median": float, "runs": [float, ...], "batch_size": int, "backward": bool,
    "threads": int}``. Medians are what to report: on a shared machine single runs vary a lot.
    Gradients the timing leaves on the parameters are cleared.
    """
    if repeats < 1 or batch_size < 1:
        raise ValueError("images_per_s needs repeats >= 1 and batch_size >= 1")
    images = _probe(model, image_size, batch=batch_size, seed=1)
    device = images.device
    was_training = model.training
    rates = []
    with _threads(num_threads):
        threads = torch.get_num_threads()
        try:
            model.train(backward)
            for step in range(warmup + repeats):
                _synchronize(device)
                start = time.perf_counter()
                if backward:
                    model.encode(images, view).sum().backward()
                else:
                    with torch.no_grad():
                        model.encode(images, view)
                _synchronize(device)
                if step >= warmup:
                    rates.append(batch_size / (time.perf_counter() - start))
        finally:
            model.train(was_training)
            if backward:
                model.zero_grad(set_to_none=True)
    return {"median": statistics.median(rates), "runs": rates, "batch_size": batch_size, "backward": backward, "threads": threads}


def queries_per_s(model: nn.Module, image_size: Mapping[str, Sequence[int]], query_view: str, **kwargs: Any) -> float:
    """Median inference throughput on query images (see :func:`images_per_s` for options)."""
    return float(images_per_s(model, image_size[query_view], query_view, **kwargs)["median"])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
