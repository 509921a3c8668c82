"""``ContrastiveMethod``: a complete ``Method`` assembled from the toolkit parts.

A two-view encoder trained with a symmetric contrastive loss (InfoNCE by default) on batches
that hold each location once, built at random or around geographic / similarity neighbours,
with paired augmentation. A subclass states its recipes and, when it needs to, its model and
loss; fitting, transforms and hyper-parameter resolution come from here::

    class MyMethod(ContrastiveMethod):
        def recipes(self):                      # required
            return {"paper": {"default": {...}, "cvusa": {...}}, "cpu": {"default": {...}}}

        def build_model(self, hparams):         # optional: default is a TwoViewEncoder
            return MyEncoder(**self.encoder_kwargs(hparams), extra=hparams["extra"])

        def build_loss(self, hparams):          # optional: default is InfoNCE
            return SoftMarginTriplet(hparams["triplet_weight"])

``hparams(profile, split)`` merges, in order: :meth:`ContrastiveMethod.base_hparams` (by default
:data:`BASE_HPARAMS`: the toolkit's neutral parts and a starting recipe; a method family overrides
it with its own base), the recipe's ``default`` entry, and its entry for the split's layout (``cvusa``, ``cvact``, ``vigor``,
``university1652``); nested dicts (``augment``, ``image_sizes``) merge key by key. The
per-view ``image_sizes`` table is resolved to ``image_size`` for the split's two views.
"""

from __future__ import annotations

__all__ = ["BASE_HPARAMS", "IMAGENET_MEAN", "IMAGENET_STD", "STARTING_RECIPE", "TOOLKIT_DEFAULTS",
           "ContrastiveMethod", "EvalTransform", "Normalize", "deep_merge"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import abc
import contextlib
import copy
import json
import math
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..data.structures import TrainData, fingerprint_of
from ..errors import ConfigError, DataError, PluginError, UnknownNameError, UserError
from ..method import CVGLModel, Method, check_hparams, plain_json_problem
from .augment import AugmentConfig, PairAugment
from .context import MAX_LOADER_WORKERS, MAX_THREADS, RunContext
from .encoders import TwoViewEncoder, create_backbone
from .losses import InfoNCE
from .pairs import TrainPairs, to_float_chw
from .samplers import SAMPLERS, BatchPlanner, gps_neighbours, similarity_neighbours
from .trainer import Trainer, TrainConfig, amp_setting

if TYPE_CHECKING:
    from ..specs import SplitSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TOOLKIT_DEFAULTS: dict[str, Any] = {
    # optional model parts at their neutral settings (encoders.TwoViewEncoder, heads)
    "backbone_kwargs": {},
    "backbone_stages": None,
    "frozen_stages": 0,
    "grad_checkpointing": False,
    "embedding_norm": "none",
    "head": "timm",
    "head_dim": 512,
    "head_reduce": 32,
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
    # optimisation switches, off
    "grad_clip_norm": None,
    # batching mechanics (samplers)
    "neighbour_metric": "auto",
    "s4g_compat_degrees": False,
    "max_fails": 1024,
    # augmentation: each part's own default (augment.AugmentConfig)
    "augment": AugmentConfig().to_dict(),
    # execution: the machine's business, not the method's
    "threads": None,
    "workers": 0,
    "channels_last": False,
    "embed_batch_size": 128,
}
"""The toolkit's parts at their neutral settings: what no recipe needs to state. No method's numbers."""

STARTING_RECIPE: dict[str, Any] = {
    # model
    "backbone": "convnext_base.fb_in22k_ft_in1k_384",
    "pretrained": True,
    "shared_backbone": True,
    "image_sizes": {"satellite": [384, 384], "drone": [384, 384], "ground": [140, 768]},
    # optimisation
    "batch_size": 128,
    "epochs": 40,
    "lr": 1e-3,
    "warmup_epochs": 1.0,
    "weight_decay": 0.01,
    "grad_clip_value": 100.0,
    "lr_schedule": "cosine",
    "label_smoothing": 0.1,
    "amp": True,
    # batching
    "sampler": "gps",
    "neighbour_select": 64,
    "neighbour_range": 128,
    "dss_every": 4,
    "eval_every": 4,
}
"""Where a new method's recipe starts when it states nothing else: a shared ImageNet ConvNeXt-B,
InfoNCE and GPS batches, the common setting of the field. The methods of the benchmark state their
own recipes in their plugins (Sample4Geo's is in cvgl-bench-sample4geo) and do not read these."""

BASE_HPARAMS: dict[str, Any] = {**TOOLKIT_DEFAULTS, **STARTING_RECIPE}
"""What :meth:`ContrastiveMethod.base_hparams` returns by default: :data:`TOOLKIT_DEFAULTS` and
:data:`STARTING_RECIPE` (the API 1.0 name, kept for plugins that import it)."""


def deep_merge(base: Mapping[str, Any], *updates: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by each of ``updates`` in turn; nested mappings merge key by key."""
    out = copy.deepcopy(dict(base))
    for update in updates:
        for key, value in update.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


class Normalize:
    """Float ``(B, 3, H, W)`` in [0, 1] -> normalised model input, on the batch's device."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], channels_last: bool = False):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class EvalTransform:
    """uint8 ``(B, H, W, 3)`` -> normalised float ``(B, 3, H, W)`` (the ``Method.eval_transform`` contract)."""

    def __init__(self, normalize: Normalize):
        self.normalize = normalize

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(to_float_chw(images))


def _not_json(value: Any, path: str = "") -> tuple[str, str] | None:
    """(dotted key, type name) of the first value in ``value`` that JSON cannot hold, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_json(item, f"{path}.{key}" if path else str(key)) if isinstance(key, str) else (path, "key")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        return next((found for i, item in enumerate(value) if (found := _not_json(item, f"{path}[{i}]"))), None)
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return path, type(value).__name__


#: (key, lowest allowed value, whether the lowest is excluded, integer only, None allowed)
_NUMBER_RULES: tuple[tuple[str, float, bool, bool, bool], ...] = (
    ("epochs", 1, False, True, False), ("batch_size", 2, False, True, False),
    ("embed_batch_size", 1, False, True, False), ("dss_every", 0, False, True, False),
    ("eval_every", 0, False, True, False), ("neighbour_select", 0, False, True, False),
    ("neighbour_range", 0, False, True, False), ("max_fails", 0, False, True, False),
    ("workers", 0, False, True, False), ("threads", 1, False, True, True),
    ("lr", 0, True, False, False), ("weight_decay", 0, False, False, False),
    ("warmup_epochs", 0, False, False, False), ("label_smoothing", 0, False, False, False),
    ("grad_clip_value", 0, True, False, True), ("grad_clip_norm", 0, True, False, True),
    ("head_dim", 1, False, True, False), ("head_reduce", 1, False, True, False),
    ("backbone_stages", 1, False, True, True), ("frozen_stages", 0, False, True, False),
)

#: The machine settings' upper bounds (a typo, not thousands of processes or threads).
_NUMBER_MAXIMA = {"workers": MAX_LOADER_WORKERS, "threads": MAX_THREADS}


def _check_numbers(hp: Mapping[str, Any]) -> None:
    """Refuse a training number a recipe or ``--set`` made impossible (negative epochs, an
    infinite or NaN learning rate, a fractional batch) before any data is read."""
    for key, low, open_low, integer, optional in _NUMBER_RULES:
        if key not in hp or (optional and hp[key] is None):
            continue
        value = hp[key]
        kind = "an integer" if integer else "a finite number"
        ok = (isinstance(value, int) if integer else isinstance(value, (int, float))) and not isinstance(value, bool)
        high = _NUMBER_MAXIMA.get(key)
        if not ok or not math.isfinite(value) or value < low or (open_low and value == low) or (
                high is not None and value > high):
            bound = f"from {low:g} to {high}" if high is not None else f"{'above' if open_low else 'at least'} {low:g}"
            raise ConfigError(f"{key} must be {kind} {bound}, not {value!r}")
    if "label_smoothing" in hp and not hp["label_smoothing"] < 1:
        raise ConfigError(f"label_smoothing must be below 1, not {hp['label_smoothing']!r}")
    for key in ("mean", "std"):
        value = hp.get(key)
        if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
                and (key == "mean" or min(value) > 0)):
            raise ConfigError(f"{key} must be three finite numbers, one per RGB channel{' (above 0)' if key == 'std' else ''}"
                              f", not {value!r}")


_BUILDABLE: set[str] = set()  # backbone configurations already built on the meta device


def _check_backbone(hp: Mapping[str, Any], unread: Iterable[str]) -> None:
    """Build the recipe's timm backbone on PyTorch's meta device (no memory, no weights, about
    0.2 s, once per configuration), so that a ``backbone``, ``backbone_stages`` or
    ``backbone_kwargs`` that timm refuses fails before any data is read, ``--dry-run`` too."""
    if not isinstance(hp.get("backbone"), str) or "backbone" in unread:
        return
    kwargs = {} if "backbone_kwargs" in unread else dict(hp.get("backbone_kwargs") or {})
    stages = None if "backbone_stages" in unread else hp.get("backbone_stages")
    key = json.dumps([hp["backbone"], stages, kwargs], sort_keys=True)
    if key in _BUILDABLE:
        return
    try:
        with torch.device("meta"):
            create_backbone(hp["backbone"], pretrained=False, stages=stages, **kwargs)
    except UnknownNameError as exc:
        raise UnknownNameError(exc.kind, exc.name, exc.known, hint="(the backbone of a model that is not "
                               "timm's is null in its recipe; a pretrained tag follows a dot)") from None
    except UserError:
        raise
    except RuntimeError:  # an operator without a meta kernel
        return  # it cannot be built on the meta device here; it is checked when the model is built
    except Exception as exc:  # noqa: BLE001 - timm's refusal of an argument, in one line
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"timm cannot build backbone {hp['backbone']!r} with backbone_kwargs {json.dumps(kwargs)}: "
                          f"{type(exc).__name__}: {first}") from exc
    _BUILDABLE.add(key)


_EMBEDDABLE: weakref.WeakKeyDictionary[type, set[str]] = weakref.WeakKeyDictionary()
"""Per method class, the hparams whose model embedded both views on the meta device."""


def _check_model_embeds(method: Method, hp: Mapping[str, Any]) -> None:
    """Build the model on PyTorch's meta device and embed a batch of each view at ``image_size``,
    so that a size the model cannot take, or ``encode`` output of the wrong shape, fails before any
    data is read, ``--dry-run`` too.

    A model that cannot run on the meta device at all (an operator without a meta kernel, a
    buffer made on the CPU) must not be refused for it: a failure counts only when the same
    model embeds the same sizes scaled up by a power of two (to at least 224 pixels a side, which
    keeps the divisibility that strides need). Otherwise the sizes are checked when the model is
    built for training. Random number generators are left as they were."""
    key, checked = json.dumps(hp, sort_keys=True, default=str), _EMBEDDABLE.setdefault(type(method), set())
    if key in checked or not isinstance(hp.get("image_size"), Mapping):
        return
    failure = _meta_embed(method, hp)
    if failure is not None:
        larger = {view: _scaled_up(size) for view, size in hp["image_size"].items()}
        if larger != hp["image_size"] and _meta_embed(method, {**hp, "image_size": larger}) is None:
            sizes, fits = (", ".join(f"{view} {list(size)}" for view, size in table.items())
                           for table in (hp["image_size"], larger))
            raise ConfigError(f"{type(method).__name__} cannot embed images of image_size {sizes} ({failure}), but "
                              f"can embed {fits}: give an image_size the model takes (larger, or divisible by "
                              "its strides)")
        if failure.startswith(_SHAPE):
            raise ConfigError(f"{type(method).__name__}.{failure}")
    checked.add(key)


_SHAPE = "encode returned "


def _meta_embed(method: Method, hp: Mapping[str, Any]) -> str | None:
    """None when the model of ``hp``, built on the meta device, embeds a batch of each view as
    ``(batch, embedding_dim)``; else the error, or what ``encode`` returned instead."""
    import random

    def no_empty_output(module: Any, args: Any, out: Any) -> None:
        # a convolution larger than its input gives an empty tensor on the meta device of torch
        # before 2.13 (and an error on a real device): the same size must fail here too
        if isinstance(out, torch.Tensor) and out.numel() == 0:
            raise RuntimeError(f"{type(module).__name__} gave an empty output {tuple(out.shape)}")

    numpy_state, python_state = np.random.get_state(), random.getstate()
    hook = torch.nn.modules.module.register_module_forward_hook(no_empty_output)
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            model = method.model_for_weights(hp).eval()  # as evaluation embeds
            for view in hp["views"]:
                height, width = (int(v) for v in hp["image_size"][view])
                out = model.encode(torch.empty(2, 3, height, width), view)
                expected = (2, int(getattr(model, "embedding_dim", -1)))
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
                    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    return (f"{_SHAPE}{shape} for a batch of 2 {view} images; it must return (batch, embedding_dim) = "
                            f"{expected}")
    except Exception as exc:  # noqa: BLE001 - judged by the caller, against larger images
        return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    finally:
        hook.remove()
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return None


def _scaled_up(size: Sequence[int]) -> list[int]:
    """``size`` times the least power of two that makes its shorter side at least 224 pixels."""
    factor = 1
    while min(int(v) for v in size) * factor < 224 and factor < 1024:
        factor *= 2
    return [int(v) * factor for v in size]


@contextlib.contextmanager
def torch_threads(threads: int | None, device: str) -> Iterator[None]:
    """Use ``threads`` intra-op threads on CPU for the duration (restored afterwards)."""
    if not threads or torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ContrastiveMethod(Method):
    """Two-view encoder trained with symmetric InfoNCE + GPS/DSS batching + paired augmentation.

    Subclasses provide :meth:`recipes`; they may override :meth:`build_model` (a
    :class:`~cvgl_bench.train.encoders.TwoViewEncoder` subclass with extra modules),
    :meth:`build_loss`, :meth:`param_groups` and :meth:`base_hparams`. ``fit``,
    ``eval_transform`` and ``hparams`` come from here.
    """

    # --- what a subclass states -------------------------------------------------------------

    #: Hparams that this method's model does not read, each with what to use instead
    #: (:attr:`Method.unread_hparams`): a ``--set`` of one is refused, and so is a recipe value of
    #: a toolkit part (:data:`TOOLKIT_DEFAULTS`) other than its neutral one, since it would change
    #: nothing but the run's name. SAFA builds its own trunks and heads; a model that is not
    #: timm's names ``backbone`` and ``pretrained`` here.
    unread_hparams: Mapping[str, str] = {}

    @abc.abstractmethod
    def recipes(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        """``{profile: {layout or "default": hparams overrides}}``; must cover ``paper`` and ``cpu``."""

    def base_hparams(self) -> dict[str, Any]:
        """What the recipes start from: :data:`BASE_HPARAMS` here. A method that states its whole
        recipe itself returns ``deep_merge(TOOLKIT_DEFAULTS, its base)`` instead."""
        return copy.deepcopy(BASE_HPARAMS)

    def encoder_kwargs(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments of :class:`TwoViewEncoder` from ``hparams``."""
        return {"backbone": hparams["backbone"], "views": tuple(hparams["views"]),
                "shared": bool(hparams["shared_backbone"]), "pretrained": hparams["pretrained"],
                "backbone_kwargs": dict(hparams.get("backbone_kwargs") or {}),
                "backbone_stages": hparams.get("backbone_stages"),
                "frozen_stages": int(hparams.get("frozen_stages") or 0),
                "grad_checkpointing": bool(hparams.get("grad_checkpointing", False)),
                "embedding_norm": str(hparams.get("embedding_norm", "none")),
                "head": str(hparams.get("head", "timm")), "image_size": hparams.get("image_size"),
                "head_dim": int(hparams.get("head_dim", 512)), "head_reduce": int(hparams.get("head_reduce", 32))}

    def build_model(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """A freshly initialised two-view encoder (the caller seeds torch first)."""
        return TwoViewEncoder(**self.encoder_kwargs(hparams))

    def model_for_weights(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """:meth:`build_model` without the recipe's ``pretrained`` weights, which the saved ones replace."""
        return self.build_model({**hparams, "pretrained": False})

    def build_loss(self, hparams: Mapping[str, Any]) -> nn.Module:
        """The pair loss ``loss(query_emb, reference_emb, logit_scale)``; symmetric InfoNCE here."""
        return InfoNCE(label_smoothing=float(hparams["label_smoothing"]))

    def param_groups(self, model: nn.Module, hparams: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """AdamW parameter groups; ``None`` = every parameter with the same weight decay (Sample4Geo)."""
        return None

    # --- Method API ---------------------------------------------------------------------------

    def hparams(self, profile: str, train_split: SplitSpec) -> dict[str, Any]:
        """The full recipe of ``profile`` for ``train_split`` as plain JSON-able data."""
        recipes = self.recipes()
        if profile not in recipes:
            raise ConfigError(f"{type(self).__name__} has no profile {profile!r}; profiles: {', '.join(recipes)}")
        table = recipes[profile]
        layout = getattr(train_split, "layout", "") or ""
        hp = deep_merge(self.base_hparams(), table.get("default", {}), table.get(layout, {}))
        views = [train_split.query_view, train_split.reference_view]
        sizes = hp.pop("image_sizes")
        missing = [v for v in views if v not in sizes]
        if missing:
            raise ConfigError(f"{type(self).__name__} profile {profile!r} has no image size for view(s) "
                              f"{', '.join(missing)} (split {train_split.name!r})")
        hp["image_size"] = {v: [int(x) for x in sizes[v]] for v in views}
        hp["views"] = views
        bad = _not_json(hp)
        if bad:
            raise PluginError(f"{type(self).__name__} profile {profile!r}: hparam {bad[0]} is a {bad[1]}; a recipe "
                              "holds JSON data only (numbers, strings, booleans, null, lists, tables)")
        check_hparams(self, hp)  # names the rule a known key breaks (lr must be a finite number above 0)
        problem = plain_json_problem(hp)
        if problem:
            raise PluginError(f"{type(self).__name__} profile {profile!r}: {problem}; a recipe holds finite numbers only")
        return json.loads(json.dumps(hp))

    def _toolkit_checks(self, hp: Mapping[str, Any]) -> None:
        """Refuse settings the toolkit cannot honour, with one actionable line; they run even when
        a subclass's ``validate_hparams`` does not call ``super()``."""
        if hp["sampler"] not in SAMPLERS:
            raise ConfigError(f"sampler {hp['sampler']!r} is not one of {', '.join(SAMPLERS)}")
        unread = [key for key in self.unread_hparams
                  if key in hp and key in TOOLKIT_DEFAULTS and hp[key] != TOOLKIT_DEFAULTS[key]]
        if unread:
            raise ConfigError(f"{type(self).__name__} does not read {unread[0]} ({self.unread_hparams[unread[0]]}); "
                              "leave it unset")
        _check_numbers(hp)
        amp_setting(hp["amp"])
        if hp["neighbour_metric"] not in ("auto", "haversine", "euclidean"):
            raise ConfigError(f"neighbour_metric {hp['neighbour_metric']!r} is not auto, haversine or euclidean")
        augment = AugmentConfig.from_dict(hp["augment"])
        sat = hp["image_size"].get("satellite")
        if augment.rotate_mode != "none" and augment.rotate_p > 0 and sat and sat[0] != sat[1]:
            raise ConfigError(f"satellite rotation needs square tiles, not {sat[0]}x{sat[1]}; "
                              f"set augment.rotate_mode to 'none'")
        _check_backbone(hp, self.unread_hparams)

    def _toolkit_build_checks(self, hp: Mapping[str, Any]) -> None:
        _check_model_embeds(self, hp)

    def eval_transform(self, hparams: Mapping[str, Any], view: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return EvalTransform(self.normalizer(hparams, view))

    def normalizer(self, hparams: Mapping[str, Any], view: str) -> Normalize:
        """Float [0, 1] batch -> model input for ``view`` (shared by training and evaluation)."""
        return Normalize(hparams["mean"], hparams["std"], bool(hparams.get("channels_last", False)))

    def fit(self, model: CVGLModel, train: TrainData, hparams: Mapping[str, Any], run: RunContext) -> None:
        """Decode the training images at the recipe's sizes and train ``model`` in place."""
        from ..data.images import load_images

        query_view, reference_view = hparams["views"]
        on_corrupt = run.on_corrupt
        resize, crop = hparams.get("resize", "antialias"), hparams.get("crop_rows") or {}
        query = load_images(train.queries, tuple(hparams["image_size"][query_view]), progress=run.progress,
                            on_corrupt=on_corrupt, resize=resize, rows=crop.get(query_view))
        reference = load_images(train.references, tuple(hparams["image_size"][reference_view]),
                                progress=run.progress, on_corrupt=on_corrupt, resize=resize,
                                rows=crop.get(reference_view))
        skipped = [*query.skipped, *reference.skipped]
        if skipped:
            kept = train.without_images(~query.valid, ~reference.valid)
            if len(kept) == 0:
                raise DataError(f"every training pair of {train.split} uses an image that cannot be decoded "
                                f"(first: {skipped[0]})")
            run.log(f"skipped {len(train) - len(kept)} of {len(train)} training pairs: {len(skipped)} images "
                    f"could not be decoded (first: {skipped[0]})")
            run.notes["skipped_training_images"] = skipped[:20]
            run.notes["skipped_training_pairs"] = len(train) - len(kept)
            train = kept
        self.fit_arrays(model, train, query, reference, hparams, run)

    # --- training on decoded arrays -----------------------------------------------------------

    def fit_arrays(self, model: CVGLModel, train: TrainData, query_images: Any, reference_images: Any,
                   hparams: Mapping[str, Any], run: RunContext) -> list[dict[str, Any]]:
        """Train on already decoded uint8 ``(N, H, W, 3)`` arrays (or ``ImageArray``s); returns the history."""
        from .. import distributed

        joined = run.world_size > 1 and not distributed.is_distributed()
        if joined:
            distributed.init_distributed(run.device)
        try:
            with torch_threads(run.threads or hparams.get("threads"), run.device):
                return self.make_trainer(model, train, query_images, reference_images, hparams, run).fit()
        finally:
            if joined:  # leave the group this call joined, so rank 0 may evaluate alone afterwards
                distributed.cleanup()

    def make_trainer(self, model: CVGLModel, train: TrainData, query_images: Any, reference_images: Any,
                     hparams: Mapping[str, Any], run: RunContext) -> Trainer:
        """The :class:`Trainer` that :meth:`fit_arrays` runs: dataset with paired augmentation, batch
        planner (GPS table when asked for), similarity-mining hook, loss, optimiser settings."""
        views = tuple(hparams["views"])
        augment = PairAugment(AugmentConfig.from_dict(hparams["augment"]), views)  # type: ignore[arg-type]
        dataset = TrainPairs(query_images, reference_images, train.pairs, augment=augment, seed=run.seed)
        planner = self.build_planner(train, hparams, run)
        hooks = []
        if int(hparams.get("dss_every") or 0) > 0:
            hooks.append(SimilarityMiner(self, train, dataset, planner, hparams, run))
        normalizers = {v: self.normalizer(hparams, v) for v in views}
        return Trainer(
            model, self.build_loss(hparams), dataset, planner, self.train_config(hparams, planner), run,  # type: ignore[arg-type]
            views=views, input_transform=lambda x, view: normalizers[view](x), epoch_hooks=hooks,
            param_groups=self.param_groups(model, hparams),  # type: ignore[arg-type]
            fingerprint=fingerprint_of(json.dumps(hparams, sort_keys=True), train.fingerprint, run.seed))

    def train_config(self, hparams: Mapping[str, Any], planner: BatchPlanner) -> TrainConfig:
        return TrainConfig(
            epochs=int(hparams["epochs"]), lr=float(hparams["lr"]), steps_per_epoch=planner.max_batches(),
            weight_decay=float(hparams["weight_decay"]), warmup_epochs=float(hparams["warmup_epochs"]),
            grad_clip_value=hparams.get("grad_clip_value"), grad_clip_norm=hparams.get("grad_clip_norm"),
            amp=hparams["amp"], eval_every=int(hparams.get("eval_every") or 0),
            workers=int(hparams.get("workers") or 0), channels_last=bool(hparams.get("channels_last", False)),
            schedule=str(hparams.get("lr_schedule", "cosine")))

    def build_planner(self, train: TrainData, hparams: Mapping[str, Any], run: RunContext) -> BatchPlanner:
        """The batch planner of ``hparams['sampler']``, with its GPS table when asked for."""
        planner = BatchPlanner(train.location, int(hparams["batch_size"]), run.seed,
                               neighbour_select=int(hparams["neighbour_select"]),
                               neighbour_range=int(hparams["neighbour_range"]), max_fails=int(hparams["max_fails"]))
        if hparams["sampler"] == "gps":
            coords, metric = location_coordinates(train, planner.location_keys, hparams["neighbour_metric"],
                                                  hparams.get("neighbour_coordinates", "reference"))
            table = gps_neighbours(coords, int(hparams["neighbour_range"]), metric,
                                   s4g_compat_degrees=bool(hparams["s4g_compat_degrees"]))
            planner.set_neighbours(table, "gps", epoch=0)
        return planner


def location_coordinates(train: TrainData, location_rows: np.ndarray, metric: str = "auto",
                         prefer: str = "reference") -> tuple[np.ndarray, str]:
    """Coordinates of each location (reference row) for GPS batching, and the metric to use.

    ``auto`` prefers UTM (planar, Euclidean; CVACT) over latitude/longitude (haversine).
    A location takes its reference image's coordinates, or else its first query's;
    ``prefer="query"`` (a recipe's ``neighbour_coordinates``) takes the query's first, as
    Sample4Geo does on CVUSA (the panorama columns of ``all.csv``).
    """
    if prefer not in ("reference", "query"):
        raise ConfigError(f"neighbour_coordinates must be 'reference' or 'query', not {prefer!r}")
    want = ["utm", "latlon"] if metric == "auto" else ["utm"] if metric == "euclidean" else ["latlon"]
    for attr in want:
        ref = getattr(train.references, attr)
        if ref is not None and prefer == "reference":
            return ref[location_rows], "euclidean" if attr == "utm" else "haversine"
        qry = getattr(train.queries, attr)
        if qry is None and ref is not None:
            return ref[location_rows], "euclidean" if attr == "utm" else "haversine"
        if qry is not None:
            first = {}
            for q, r in train.pairs[::-1].tolist():
                first[r] = q
            return qry[[first[int(r)] for r in location_rows]], "euclidean" if attr == "utm" else "haversine"
    raise ConfigError(f"GPS batching needs coordinates ({' or '.join(want)}), and split {train.split!r} has none; "
                      f"set sampler to 'random'")


class SimilarityMiner:
    """Epoch hook of Dynamic Similarity Sampling: every ``dss_every`` epochs (not after the last),
    embed each location's query and reference with the current model and replace the planner's
    table by each location's ``neighbour_range`` most similar wrong references."""

    def __init__(self, method: ContrastiveMethod, train: TrainData, dataset: TrainPairs, planner: BatchPlanner,
                 hparams: Mapping[str, Any], run: RunContext):
        self.method, self.dataset, self.planner, self.hparams, self.run = method, dataset, planner, hparams, run
        self.every = int(hparams["dss_every"])
        self.epochs = int(hparams["epochs"])
        # Sample4Geo keys the mined table by location and keeps the last query of a location.
        reversed_locations = planner.location_of_pair[::-1]
        _, first_in_reversed = np.unique(reversed_locations, return_index=True)
        last_pair = len(reversed_locations) - 1 - first_in_reversed
        self.query_rows = train.pairs[last_pair, 0]
        self.reference_rows = planner.location_keys

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0 and epoch < self.epochs

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if not self.due(epoch):
            return
        from ..evaluate.extract import embed_array, embeds_in_fp16

        query_view, reference_view = self.hparams["views"]
        common = {"device": self.run.device, "batch_size": int(self.hparams.get("embed_batch_size", 128)),
                  "amp": embeds_in_fp16(self.hparams), "progress": self.run.progress}
        query = embed_array(model, self.dataset.query_images, query_view,
                            self.method.eval_transform(self.hparams, query_view), rows=self.query_rows,
                            desc="mining: queries", **common)
        reference = embed_array(model, self.dataset.reference_images, reference_view,
                                self.method.eval_transform(self.hparams, reference_view), rows=self.reference_rows,
                                desc="mining: references", **common)
        from .. import distributed

        # every rank must plan the same batches: rank 0's table, not one per GPU (near-ties may round apart)
        table = similarity_neighbours(query.to(self.run.device), reference.to(self.run.device),
                                      int(self.hparams["neighbour_range"])) if distributed.rank() == 0 else None
        self.planner.set_neighbours(distributed.from_rank0(table), "dss", epoch)
