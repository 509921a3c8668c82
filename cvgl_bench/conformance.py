"""``cvgl-bench check-plugin``: the conformance suite a method author runs on a laptop.

Each check builds what it needs from the method's ``cpu`` profile, runs in seconds to a couple of
minutes on a CPU, and reports a failure as a sentence the author can act on. The project's own
tests run it over every registered method, as timm tests every registered model.
"""

from __future__ import annotations

import io
import os
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .plugins import PluginHost, get_host

#: Training splits tried, in order, for the two-epoch learning check (the first one the method supports).
CHECK_SPLITS = (("synth_cvusa_train", "synth_cvusa_test"), ("synth_u1652_train", "synth_u1652_d2s"))


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    method_name: str
    method: Any
    spec: Any
    train_spec: Any
    eval_spec: Any
    hparams: dict[str, Any]
    device: str = "cpu"
    batch: int = 4


def _random_batch(ctx: _Context, view: str, seed: int = 0) -> Any:
    import torch

    h, w = ctx.hparams["image_size"][view]
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (ctx.batch, h, w, 3), generator=g, dtype=torch.uint8)
    return ctx.method.eval_transform(ctx.hparams, view)(images)


def _views(ctx: _Context) -> tuple[str, str]:
    return ctx.train_spec.query_view, ctx.train_spec.reference_view


def _fresh_model(ctx: _Context, seed: int = 0) -> Any:
    import torch

    torch.manual_seed(seed)
    return ctx.method.build_model(ctx.hparams)


def check_forward(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).eval()
    dim = getattr(model, "embedding_dim", None)
    if not isinstance(dim, int) or dim <= 0:
        raise AssertionError("the model has no positive integer attribute `embedding_dim`; set it in __init__")
    for view in _views(ctx):
        with torch.no_grad():
            out = model.encode(_random_batch(ctx, view), view)
        if not isinstance(out, torch.Tensor) or out.shape != (ctx.batch, dim):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AssertionError(f"encode(images, {view!r}) must return a tensor of shape (batch, embedding_dim) = "
                                 f"({ctx.batch}, {dim}), got {shape}")
        if out.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise AssertionError(f"encode(..., {view!r}) returned {out.dtype}; return floating-point embeddings")
        if not torch.isfinite(out).all():
            raise AssertionError(f"encode(..., {view!r}) returned NaN or inf on random images")
    return f"encode gives ({ctx.batch}, {dim}) for {' and '.join(_views(ctx))}"


def check_normalised(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).eval()
    for view in _views(ctx):
        with torch.no_grad():
            norms = model.encode(_random_batch(ctx, view), view).float().norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            raise AssertionError(f"embeddings of {view!r} are not L2-normalised (norms {norms.min():.4f}..."
                                 f"{norms.max():.4f}); end encode() with torch.nn.functional.normalize(x, dim=-1)")
    return "unit-norm embeddings"


def check_backward(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).train()
    q_view, r_view = _views(ctx)
    q = model.encode(_random_batch(ctx, q_view), q_view)
    r = model.encode(_random_batch(ctx, r_view, 1), r_view)
    loss = -(q * r).sum(dim=1).mean() + (q @ r.t()).logsumexp(dim=1).mean()
    loss.backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise AssertionError("the model has no trainable parameters")
    with_grad = [n for n, p in params if p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0]
    if not with_grad:
        raise AssertionError("no parameter received a gradient from a contrastive loss on encode(); "
                             "check for detach(), torch.no_grad() or inference_mode inside encode")
    return f"{len(with_grad)} of {len(params)} trainable tensors receive gradients"


def check_determinism(ctx: _Context) -> str:
    import torch

    outs = []
    for _ in range(2):
        model = _fresh_model(ctx, seed=123).eval()
        view = _views(ctx)[1]
        with torch.no_grad():
            outs.append(model.encode(_random_batch(ctx, view), view))
    if not torch.equal(outs[0], outs[1]):
        raise AssertionError("two models built after torch.manual_seed(123) give different embeddings; draw all "
                             "random initialisation from torch's global generator (no unseeded numpy/random)")
    return "same seed, same model"


def check_checkpoint(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx, seed=1).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = _fresh_model(ctx, seed=2).eval()
    try:
        other.load_state_dict(torch.load(buffer, weights_only=True))
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"state_dict does not round-trip through torch.save / torch.load(weights_only=True): "
                             f"{type(exc).__name__}: {exc}; keep only tensors in the state") from None
    for view in _views(ctx):
        x = _random_batch(ctx, view)
        with torch.no_grad():
            if not torch.allclose(model.encode(x, view), other.encode(x, view), atol=1e-6):
                raise AssertionError(f"a reloaded checkpoint embeds {view!r} differently; register every learned "
                                     "tensor as a parameter or buffer")
    return "state_dict round trip"


def check_learns(ctx: _Context, epochs: int = 2) -> str:
    """Two epochs on a tiny synthetic split must beat the untrained model."""
    import tempfile
    from pathlib import Path

    import torch

    from .evaluate.extract import embed
    from .evaluate.scoring import score
    from .runner import load_split
    from .train.context import RunContext

    train = load_split(ctx.train_spec, None)
    data = load_split(ctx.eval_spec, None)
    hparams = dict(ctx.hparams)
    hparams["epochs"] = epochs

    def evaluate(model: Any) -> float:
        model.eval()
        q = embed(model, data.queries, ctx.eval_spec.query_view, hparams, ctx.method, cache=False, progress=False)
        r = embed(model, data.references, ctx.eval_spec.reference_view, hparams, ctx.method, cache=False,
                  progress=False)
        scored = score(np.asarray(q), np.asarray(r), data, metrics=("recall@1", "recall@5", "recall@10"), n_boot=0)
        return float(np.mean([m["value"] for m in scored.metrics.values()]))

    model = _fresh_model(ctx, seed=0)
    before = evaluate(model)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunContext(seed=0, device=ctx.device, workdir=Path(tmp), progress=False, log=lambda line: None)
        torch.manual_seed(0)
        model.train()
        ctx.method.fit(model, train, hparams, run)
    after = evaluate(model)
    if not after > before:
        raise AssertionError(f"after {epochs} epochs on {ctx.train_spec.name} (tiny) the mean of R@1/5/10 on "
                             f"{ctx.eval_spec.name} is {after:.1f}%, not above the untrained {before:.1f}%; check the "
                             "loss sign, the learning rate of the cpu profile, and that fit() updates this model")
    return f"mean R@1/5/10 {before:.1f}% untrained -> {after:.1f}% after {epochs} epochs"


CHECKS: tuple[tuple[str, Callable[[_Context], str]], ...] = (
    ("forward shapes", check_forward),
    ("L2-normalised embeddings", check_normalised),
    ("backward", check_backward),
    ("determinism under a seed", check_determinism),
    ("checkpoint round trip", check_checkpoint),
    ("learns in two epochs", check_learns),
)


@contextmanager
def _tiny_synthetic_world() -> Iterator[None]:
    old = os.environ.get("CVGL_BENCH_SYNTH_SIZE")
    os.environ["CVGL_BENCH_SYNTH_SIZE"] = "tiny"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CVGL_BENCH_SYNTH_SIZE", None)
        else:
            os.environ["CVGL_BENCH_SYNTH_SIZE"] = old


def run_checks(method_name: str, host: PluginHost | None = None, quick: bool = False,
               device: str = "cpu", debug: bool = False) -> list[CheckResult]:
    """Run every check (``quick`` skips the training check) and return their results in order.

    ``debug`` lets an exception raised by plugin code propagate with its traceback.
    """
    from .errors import ConfigError

    host = host or get_host()
    spec = host.methods.get(method_name)
    pair = next(((t, e) for t, e in CHECK_SPLITS if t in host.splits and spec.supports(host.splits.get(e))), None)
    if pair is None:
        raise ConfigError(f"method {method_name!r} supports none of the synthetic check splits "
                          f"({', '.join(e for _, e in CHECK_SPLITS)})")
    train_spec, eval_spec = host.splits.get(pair[0]), host.splits.get(pair[1])
    method = spec.load()
    hparams = method.hparams("cpu", train_spec)
    ctx = _Context(method_name, method, spec, train_spec, eval_spec, hparams, device)
    out = []
    with _tiny_synthetic_world():
        for name, check in CHECKS:
            if quick and check is check_learns:
                continue
            t0 = time.perf_counter()
            try:
                message, ok = check(ctx), True
            except AssertionError as exc:
                message, ok = str(exc), False
            except Exception as exc:  # noqa: BLE001 - a crash in plugin code is a failed check, with its cause
                if debug:
                    raise
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                message = (f"raised {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:"
                           f"{frame.lineno}); rerun with 'cvgl-bench --debug check-plugin' for the traceback")
                ok = False
            out.append(CheckResult(name, ok, message, time.perf_counter() - t0))
    return out
