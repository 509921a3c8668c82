"""``cvgl-bench check-plugin``: the conformance suite a method author runs on a laptop.

Every check builds what it needs from the method's ``cpu`` profile, runs in seconds on a CPU
(the training check in under a minute, on a tiny synthetic split), and reports a failure as a
sentence the author can act on. The project's own tests run it over every registered method, as
timm tests every registered model.

Checks, in order (a failed ``recipes`` check stops the ones after it: nothing can be built without it):

0. ``light registration``: importing the plugin's entry point and running its register hooks, in
   a fresh interpreter, imports none of torch, torchvision or timm (every command, even
   ``cvgl-bench methods``, loads every plugin's registration).
1. ``recipes``: ``hparams("cpu", split)`` and ``hparams("paper", split)`` are JSON data with an
   ``image_size`` for both views of the split.
2. ``forward shapes``: ``encode(images, view)`` returns ``(batch, embedding_dim)`` finite floats.
3. ``L2-normalised embeddings``.
4. ``independent of the batch``: an image embeds the same alone and among others in eval mode
   (retrieval stays factorised; no batch statistics at inference).
5. ``backward``: the training loss (the toolkit's, for a ``ContrastiveMethod``) reaches every
   trainable parameter (distributed training stops on one that it does not reach).
6. ``determinism under a seed``: two models built after the same seeding are identical.
7. ``checkpoint round trip``: ``state_dict`` through ``torch.save`` / ``torch.load(weights_only=True)``
   restores the same embeddings, the way the runner reloads a trained model.
8. ``learns in two epochs`` (skipped by ``--quick``): ``fit`` for two epochs on a tiny synthetic
   training split must rank its own pairs better than the untrained model, with the trainable
   weights moved by at least 1e-6 of their norm (batch statistics alone can lower a mean rank).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .method import plain_json_problem
from .plugins import PluginHost
from .run.model import seed_everything

#: Training splits tried, in order, for the checks (the first pair the method supports).
CHECK_SPLITS = (("synth_cvusa_train", "synth_cvusa_test"), ("synth_u1652_train", "synth_u1652_d2s"))

#: Seed of the models built by the checks.
SEED = 123


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
    host: Any
    hparams: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    batch: int = 4


class CheckFailed(AssertionError):
    """A check's verdict: the message is the sentence shown to the plugin author."""


# -- helpers -----------------------------------------------------------------------------------
def _views(ctx: _Context) -> tuple[str, str]:
    return ctx.train_spec.query_view, ctx.train_spec.reference_view


def _fresh_model(ctx: _Context, seed: int = SEED) -> Any:
    """A model built the way the runner builds one: every global generator seeded first."""
    seed_everything(seed)
    model = ctx.method.build_model(ctx.hparams)
    import torch

    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"build_model returned a {type(model).__name__}, not a torch.nn.Module; return the model "
                          "(an nn.Module that also subclasses cvgl_bench.method.CVGLModel)")
    return model.to(ctx.device)


def _random_batch(ctx: _Context, view: str, seed: int = 0, batch: int | None = None) -> Any:
    """Random uint8 images of ``view`` at the recipe's size, through the method's eval transform."""
    import torch

    h, w = ctx.hparams["image_size"][view]
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch or ctx.batch, h, w, 3), generator=generator, dtype=torch.uint8)
    out = ctx.method.eval_transform(ctx.hparams, view)(images)
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[1] != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"eval_transform(hparams, {view!r}) must map uint8 (B, H, W, 3) to float (B, 3, H, W), "
                          f"got {shape}")
    return out.to(ctx.device)


def _encode(model: Any, images: Any, view: str) -> Any:
    if not callable(getattr(model, "encode", None)):
        raise CheckFailed(f"the model ({type(model).__name__}) has no encode(images, view) method; subclass "
                          "cvgl_bench.method.CVGLModel and implement encode")
    return model.encode(images, view)


def _identical(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN in the same place (a NaN is the forward check's to report)."""
    import torch

    return a.shape == b.shape and torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))


NO_PARAMETERS = ("the model has no trainable parameters: cvgl-bench trains every method (fit) and checks that it "
                 "learns; give build_model's model an nn.Parameter, or score a fixed embedding with 'cvgl-bench "
                 "score --embeddings'")


def _trainable(model: Any) -> list[tuple[str, Any]]:
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise CheckFailed(NO_PARAMETERS)
    return params


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- the checks --------------------------------------------------------------------------------
HEAVY_MODULES = ("torch", "torchvision", "timm")

_REGISTER_IN_A_FRESH_INTERPRETER = """
import importlib, sys
module, _, attr = sys.argv[1].partition(":")
plugin = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    plugin = getattr(plugin, part)
for kind in ("datasets", "splits", "metrics", "search_backends", "methods"):
    hook = getattr(plugin, "cvgl_bench_register_" + kind, None)
    if callable(hook):
        hook(register=lambda spec: None)
print(" ".join(name for name in sys.argv[2:] if name in sys.modules))
"""


def check_light_registration(ctx: _Context) -> str:
    status = ctx.host.methods.origin(ctx.method_name)
    if status.builtin or status.distribution == "(in-process)" or not status.module:
        return "not applicable: the plugin was added in-process, not through an entry point"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", _REGISTER_IN_A_FRESH_INTERPRETER, status.module, *HEAVY_MODULES],
                              capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"registering {status.module} in a fresh interpreter took over 300 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CheckFailed(f"registering {status.module} in a fresh interpreter failed: {last}")
    heavy = done.stdout.split()
    if heavy:
        raise CheckFailed(f"registering the plugin ({status.module}) imports {', '.join(heavy)}: every cvgl-bench "
                          "command, even 'cvgl-bench methods', then pays for it (seconds and hundreds of MB for "
                          "torch); import them only in the module the spec's loader names")
    return f"registering {status.module} imports none of {', '.join(HEAVY_MODULES)}"


def check_recipes(ctx: _Context) -> str:
    """Both profiles resolve to JSON data with image sizes; fills ``ctx.hparams`` (cpu)."""
    views = _views(ctx)
    resolved = {}
    for profile in ("cpu", "paper"):
        hparams = ctx.method.hparams(profile, ctx.train_spec)
        if not isinstance(hparams, dict):
            raise CheckFailed(f"hparams({profile!r}, split) returned a {type(hparams).__name__}; return a dict")
        problem = plain_json_problem(hparams)
        if problem:
            raise CheckFailed(f"hparams({profile!r}, split) is not plain JSON data ({problem}); it is hashed into the "
                              "configuration and stored in every record: use numbers, strings, lists and dicts")
        sizes = hparams.get("image_size")
        missing = [v for v in views if not isinstance(sizes, dict) or v not in sizes]
        if missing:
            raise CheckFailed(f"hparams({profile!r}, {ctx.train_spec.name}) has no image_size for {', '.join(missing)}; "
                              "give image_size = {view: [H, W]} for both views of the split")
        for view in views:
            size = sizes[view]
            if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
                raise CheckFailed(f"hparams({profile!r}, split)['image_size'][{view!r}] must be [H, W] positive "
                                  f"integers, got {size!r}")
        resolved[profile] = hparams
    ctx.hparams = resolved["cpu"]
    others = _other_layouts(ctx)
    sizes = ", ".join(f"{v} {'x'.join(map(str, ctx.hparams['image_size'][v]))}" for v in views)
    also = f"; and for {', '.join(spec.name for spec in others)}" if others else ""
    return f"cpu and paper profiles resolve for {ctx.train_spec.name} ({sizes} in the cpu profile){also}"


def _other_layouts(ctx: _Context) -> list[Any]:
    """One registered training split per other layout and views the method can embed, each with
    both profiles resolved (a recipe entry for ``university1652`` is checked as well as the
    split the other checks train on)."""
    from .errors import UserError

    seen = {(ctx.train_spec.layout, ctx.train_spec.query_view, ctx.train_spec.reference_view)}
    checked = []
    for spec in ctx.host.splits:
        key = (spec.layout, spec.query_view, spec.reference_view)
        if spec.role != "train" or key in seen or not ctx.spec.supports(spec):
            continue
        seen.add(key)
        for profile in ("cpu", "paper"):
            try:
                hparams = ctx.method.hparams(profile, spec)
            except UserError as exc:
                raise CheckFailed(f"hparams({profile!r}, {spec.name}) is refused: {exc}") from None
            problem = plain_json_problem(hparams) if isinstance(hparams, dict) else "not a dict"
            if problem:
                raise CheckFailed(f"hparams({profile!r}, {spec.name}) is not plain JSON data ({problem})")
        checked.append(spec)
    return checked


def check_forward(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).eval()
    dim = getattr(model, "embedding_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise CheckFailed(f"the model has no positive integer attribute embedding_dim (got {dim!r}); set it in "
                          "__init__ to the size of the vectors encode returns")
    for view in _views(ctx):
        with torch.no_grad():
            out = _encode(model, _random_batch(ctx, view), view)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"encode(images, {view!r}) returned a {type(out).__name__}; return a tensor "
                              f"(batch, embedding_dim)")
        if tuple(out.shape) != (ctx.batch, dim):
            raise CheckFailed(f"encode(images, {view!r}) returned shape {tuple(out.shape)} for {ctx.batch} images, "
                              f"expected ({ctx.batch}, {dim}) = (batch, embedding_dim): return one row per image and "
                              f"set embedding_dim to the row length")
        if not out.is_floating_point():
            raise CheckFailed(f"encode(images, {view!r}) returned {out.dtype}; return floating-point embeddings")
        if not torch.isfinite(out).all():
            raise CheckFailed(f"encode(images, {view!r}) returned NaN or inf on random images; check divisions and "
                              "normalisations of all-zero features (add an epsilon)")
    return f"encode gives ({ctx.batch}, {dim}) for {' and '.join(_views(ctx))}"


def check_normalised(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).eval()
    for view in _views(ctx):
        with torch.no_grad():
            norms = _encode(model, _random_batch(ctx, view), view).float().norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            raise CheckFailed(f"embeddings of {view!r} have L2 norms {norms.min():.4f} to {norms.max():.4f}, not 1: "
                              "end encode() with torch.nn.functional.normalize(x, dim=-1) (retrieval ranks by "
                              "inner product, which is the cosine only for unit vectors)")
    return "unit-norm embeddings for both views"


def check_batch_independence(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).eval()
    worst = 0.0
    for view in _views(ctx):
        images = _random_batch(ctx, view, seed=3)
        with torch.no_grad():
            together = _encode(model, images, view).float()
            alone = torch.cat([_encode(model, images[i:i + 1], view).float() for i in range(len(images))])
        diff = float((together - alone).abs().max())
        worst = max(worst, diff)
        if diff > 1e-4:
            raise CheckFailed(f"in eval mode an image of {view!r} embeds differently alone than in a batch of "
                              f"{len(images)} (max difference {diff:.2g}): an embedding must depend on its own image "
                              "only; use running statistics at inference (model.eval() for BatchNorm) and no "
                              "attention or normalisation across the batch")
    return f"an image embeds the same alone and in a batch (max difference {worst:.1e})"


def _training_loss(ctx: _Context, model: Any, query: Any, reference: Any) -> tuple[Any, str, tuple[Any, Any]]:
    """The loss the method trains with (the toolkit's for a ContrastiveMethod, else a symmetric
    InfoNCE), its name, and the two embedding batches it was computed from."""
    import torch
    import torch.nn.functional as F

    from .train.base import ContrastiveMethod

    if isinstance(ctx.method, ContrastiveMethod):
        q, r = model(query, reference)
        loss_fn = ctx.method.build_loss(ctx.hparams)
        return loss_fn(q, r, model.loss_scale()), f"the method's {type(loss_fn).__name__}", (q, r)
    q_view, r_view = _views(ctx)
    q, r = _encode(model, query, q_view), _encode(model, reference, r_view)
    logits = 10.0 * q @ r.t()
    target = torch.arange(len(q), device=logits.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    return loss, "a symmetric InfoNCE", (q, r)


def check_backward(ctx: _Context) -> str:
    import torch

    model = _fresh_model(ctx).train()
    params = _trainable(model)
    q_view, r_view = _views(ctx)
    loss, which, embeddings = _training_loss(ctx, model, _random_batch(ctx, q_view), _random_batch(ctx, r_view, 1))
    for view, emb in zip((q_view, r_view), embeddings):
        if isinstance(emb, torch.Tensor) and emb.grad_fn is None:
            raise CheckFailed(f"the {view} embeddings have no gradient: encode() or forward() runs under "
                              "torch.no_grad(), inference_mode or detach()es its output; let training calls build "
                              "the autograd graph")
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise CheckFailed(f"{which} returned {type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}; a loss must be "
                          "a scalar tensor")
    if not torch.isfinite(loss):
        raise CheckFailed(f"{which} is {float(loss.detach())} on random images at initialisation; check the loss for log(0), "
                          "divisions by zero and overflowing exponentials")
    if loss.grad_fn is None:
        raise CheckFailed(f"{which} has no gradient: encode() or forward() runs under torch.no_grad(), inference_mode "
                          "or detach()es its output; let training calls build the autograd graph")
    loss.backward()
    unreached = [n for n, p in params if p.grad is None]
    if len(unreached) == len(params):
        raise CheckFailed(f"no parameter received a gradient from {which}; check for detach(), torch.no_grad() or "
                          "inference_mode inside encode/forward")
    from .train.base import ContrastiveMethod

    own_loss = not isinstance(ctx.method, ContrastiveMethod)  # its fit() trains with a loss the check cannot see
    if unreached and not own_loss:
        raise CheckFailed(f"{len(unreached)} trainable parameter(s) receive no gradient from {which}: "
                          f"{_names(unreached)}; distributed training (torchrun) stops on them: use them in "
                          "forward, delete them, or set requires_grad=False")
    reached = [(n, p) for n, p in params if p.grad is not None]
    bad = [n for n, p in reached if not torch.isfinite(p.grad).all()]
    if bad:
        raise CheckFailed(f"gradients of {_names(bad)} are NaN or inf at initialisation; check the forward pass for "
                          "unstable operations (sqrt or log of 0, normalising an all-zero vector)")
    nonzero = sum(1 for _, p in reached if p.grad.abs().sum() > 0)
    if unreached:  # a plain Method: its own loss may train them (a learnable margin, a temperature)
        return (f"{which} reaches {len(reached)} of {len(params)} trainable tensors ({nonzero} with a non-zero "
                f"gradient); not {_names(unreached)}, which only the method's own loss can train: if it does not, "
                "torchrun stops on them")
    return (f"{which} reaches all {len(params)} trainable tensors ({nonzero} with a non-zero gradient; "
            "zero-initialised layers start at zero)")


def check_determinism(ctx: _Context) -> str:
    import torch

    first, second = _fresh_model(ctx), _fresh_model(ctx)
    a, b = first.state_dict(), second.state_dict()
    differ = [k for k in a if k not in b or not _identical(a[k], b[k])]
    if differ:
        raise CheckFailed(f"two models built after seeding torch, numpy and random with {SEED} differ in "
                          f"{_names(differ)}; draw every random initialisation from those global generators (no "
                          "unseeded numpy.random.default_rng(), torch.Generator or clock-based seeds)")
    view = _views(ctx)[1]
    images = _random_batch(ctx, view)
    first.eval()
    second.eval()
    with torch.no_grad():
        if not _identical(_encode(first, images, view), _encode(second, images, view)):
            raise CheckFailed(f"two identical models embed the same {view!r} images differently in eval mode; the "
                              "embedding must not draw random numbers at inference (dropout outside training, "
                              "random crops in encode)")
    return f"same seed, same parameters ({len(a)} tensors) and embeddings"


def check_checkpoint(ctx: _Context) -> str:
    import torch

    trained = _fresh_model(ctx, seed=1).eval()
    buffer = io.BytesIO()
    try:
        torch.save({k: v.detach().cpu() for k, v in trained.state_dict().items()}, buffer)
    except Exception as exc:  # noqa: BLE001 - whatever torch.save raises, the author needs the reason
        raise CheckFailed(f"state_dict cannot be saved with torch.save ({type(exc).__name__}: {exc}); keep only "
                          "tensors in the state") from None
    buffer.seek(0)
    try:
        state = torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"the saved state_dict does not load with torch.load(weights_only=True) "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0]}); keep only tensors in the state") from None
    fresh = _fresh_model(ctx, seed=2).eval()
    try:
        fresh.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckFailed(f"a freshly built model refuses the checkpoint of another ({first}); build_model(hparams) "
                          "must create the same parameters and buffers every time") from None
    for view in _views(ctx):
        images = _random_batch(ctx, view, seed=5)
        with torch.no_grad():
            diff = float((_encode(trained, images, view) - _encode(fresh, images, view)).abs().max())
        if diff > 1e-5:
            raise CheckFailed(f"a model restored from a checkpoint embeds {view!r} differently from the saved one "
                              f"(max difference {diff:.2g}): register every learned tensor as an nn.Parameter or "
                              "a persistent buffer, and keep no learned state in plain attributes")
    return f"state_dict round trip ({len(state)} tensors) restores the embeddings"


def _train_pairs_as_eval(train: Any) -> tuple[Any, Any, Any]:
    """The queries of a training split's pairs (one pair each), all its references, and the truth."""
    from .data.structures import GroundTruth

    pairs = np.asarray(train.pairs)
    _, first = np.unique(pairs[:, 0], return_index=True)
    chosen = pairs[np.sort(first)]
    truth = GroundTruth.one_to_one(chosen[:, 1], len(train.references))
    return train.queries.subset(chosen[:, 0]), train.references, truth


MIN_RELATIVE_CHANGE = 1e-6
"""The least ``||after - before|| / ||before||`` over a model's trainable parameters that two epochs of
``fit`` must produce: batch-norm statistics alone can lower the mean rank a little, so a fall of the
mean rank only counts when the weights themselves were trained."""


def _relative_change(before: dict[str, Any], after: dict[str, Any]) -> float:
    import torch

    names = [name for name in before if name in after]
    if not names:
        return 0.0
    delta = torch.sqrt(sum(((after[n].detach().float() - before[n].float()) ** 2).sum() for n in names))
    norm = torch.sqrt(sum((before[n].float() ** 2).sum() for n in names))
    return float(delta / norm.clamp_min(1e-12))


def check_learns(ctx: _Context, epochs: int = 2) -> str:
    """Two epochs of ``fit`` on a tiny synthetic split must rank its pairs better than the untrained model."""
    import tempfile
    from pathlib import Path

    from .evaluate.extract import embed
    from .evaluate.ranks import compute_ranks
    from .data.splits import load_split
    from .run.cell import environment_threads
    from .train.context import RunContext

    train = load_split(ctx.train_spec, None, None, ctx.host)
    queries, references, truth = _train_pairs_as_eval(train)
    hparams = dict(ctx.hparams)
    if "epochs" in hparams:
        hparams["epochs"] = epochs
    if isinstance(hparams.get("batch_size"), int):  # a few steps per epoch even on a tiny split
        hparams["batch_size"] = max(2, min(hparams["batch_size"], len(train) // 4))
    q_view, r_view = _views(ctx)

    def ranks(model: Any) -> tuple[float, float]:
        model.eval()
        common = {"device": ctx.device, "cache": False, "progress": False}
        q = embed(model, queries, q_view, hparams, ctx.method, **common)
        r = embed(model, references, r_view, hparams, ctx.method, **common)
        table = compute_ranks(np.asarray(q), np.asarray(r), truth, device=ctx.device, screen="fp32")
        rank = np.asarray(table.rank_strict, dtype=np.float64)
        return float(rank.mean()), float((rank < 1).mean() * 100.0)

    model = _fresh_model(ctx, seed=0)
    _trainable(model)
    before, r1_before = ranks(model)
    start = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as tmp:
        run = RunContext(seed=0, device=ctx.device, workdir=Path(tmp), progress=False, log=lambda line: None,
                         threads=environment_threads())
        seed_everything(0)
        model.train()
        ctx.method.fit(model, train, hparams, run)
    after, r1_after = ranks(model)
    where = (f"{len(queries)} training pairs of {ctx.train_spec.name} (tiny) against its {len(references)} references")
    if not after < before:
        raise CheckFailed(f"after {epochs} epochs of fit() the mean rank of the positive is {after:.2f}, no better "
                          f"than the untrained model's {before:.2f} ({where}); check that fit() trains the model "
                          "object it is given (not a copy), the sign of the loss, and the cpu profile's learning rate")
    moved = _relative_change(start, dict(model.named_parameters()))
    if moved < MIN_RELATIVE_CHANGE:
        raise CheckFailed(f"after {epochs} epochs of fit() the trainable parameters moved by {moved:.2g} of their norm "
                          f"(at least {MIN_RELATIVE_CHANGE:g} expected): the optimiser barely updates them; check the "
                          "cpu profile's learning rate and that the optimiser holds this model's parameters")
    return (f"mean rank of the positive {before:.2f} -> {after:.2f}, R@1 {r1_before:.1f}% -> {r1_after:.1f}% "
            f"after {epochs} epochs, weights moved by {moved:.2g} of their norm ({where})")


CHECKS: tuple[tuple[str, Callable[[_Context], str]], ...] = (
    ("light registration", check_light_registration),
    ("recipes", check_recipes),
    ("forward shapes", check_forward),
    ("L2-normalised embeddings", check_normalised),
    ("independent of the batch", check_batch_independence),
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


def _crash_message(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {os.path.basename(frame.filename)}:{frame.lineno})" if frame else ""
    first = (str(exc).splitlines() or [""])[0]
    return (f"raised {type(exc).__name__}: {first}{where}; rerun with 'cvgl-bench --debug check-plugin' for the "
            "traceback")


def run_checks(method_name: str, host: PluginHost, quick: bool = False,
               device: str = "cpu", debug: bool = False) -> list[CheckResult]:
    """Run every check (``quick`` skips the training check) and return their results in order.

    ``debug`` lets an exception raised by plugin code propagate with its traceback. A failed
    ``recipes`` check marks the remaining checks as not run (they need its hparams).
    """
    import torch

    from .errors import ConfigError

    spec = host.methods.get(method_name)
    pair = next(((t, e) for t, e in CHECK_SPLITS
                 if t in host.splits and e in host.splits and spec.supports(host.splits.get(e))), None)
    if pair is None:
        raise ConfigError(f"method {method_name!r} supports none of the synthetic check splits "
                          f"({', '.join(e for _, e in CHECK_SPLITS)}); it must embed ground or drone images and "
                          "satellite tiles")
    train_spec, eval_spec = host.splits.get(pair[0]), host.splits.get(pair[1])
    method = spec.load()
    ctx = _Context(method_name, method, spec, train_spec, eval_spec, host, device=device)
    out: list[CheckResult] = []
    blocked = ""
    threads = torch.get_num_threads()
    with _tiny_synthetic_world():
        for name, check in CHECKS:
            if quick and check is check_learns:
                continue
            if blocked:
                out.append(CheckResult(name, False, f"not run: {blocked}", 0.0))
                continue
            started = time.perf_counter()
            try:
                message, ok = check(ctx), True
            except AssertionError as exc:
                message, ok = str(exc), False
            except Exception as exc:  # noqa: BLE001 - a crash in plugin code is a failed check, with its cause
                if debug:
                    raise
                message, ok = _crash_message(exc), False
            finally:
                torch.set_num_threads(threads)
            out.append(CheckResult(name, ok, message, time.perf_counter() - started))
            if not ok and check is check_recipes:
                blocked = "the recipes check failed, and every other check builds from the cpu recipe"
    return out
