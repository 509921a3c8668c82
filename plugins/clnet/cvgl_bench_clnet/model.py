"""CLNetModel: a Sample4Geo encoder (timm backbone, avg-pool + LayerNorm head, L2) with NCM, NEC, GFR.

**Unofficial re-implementation from the abstract** of CLNet (arXiv 2512.14560); the design is
cvgl-bench's guess (this plugin's README: "Guesses", "Why this design").

Forward for one view ``v`` (stage indices are zero-based; default NCM stages ``(2, 3)`` are the
paper-style "stages 3-4")::

    stem -> stage 0 -> stage 1 -> stage 2 -> NCM_v(2) -> stage 3 -> NCM_v(3) -> pre-head norm
         -> GFR -> timm head (global avg pool, LayerNorm) -> NEC_v -> L2 normalise

With ``ncm="off", nec=False, gfr=False`` this is exactly ``F.normalize(timm_model(x))``: the
Sample4Geo encoder. Every module is zero-initialised to the identity, so a freshly built CLNet
embeds exactly like that encoder too (the "warp" variant only approximately: it resamples).

The backbone is one timm model shared by both views; NCM maps are per view (their sizes follow
from the per-view input sizes, found by a dry forward at construction), NEC is per view unless
``nec_shared``, GFR is shared unless ``gfr_shared=False``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.errors import ConfigError
from cvgl_bench.method import CVGLModel
from cvgl_bench.train.encoders import EmbeddingNorm, create_backbone, drop_timm_head, freeze_stages, size_pair
from cvgl_bench.train.heads import SpatialHead, check_head

from .modules import GFR, GFR_CUES, NCM_VARIANTS, NEC, NCMGate, NCMWarp

DEFAULT_BACKBONE = "convnext_base.fb_in22k_ft_in1k_384"
WARP_INITS = ("auto", "polar", "identity")
LOGIT_SCALE_INIT = math.log(1 / 0.07)
"""Sample4Geo's (CLIP's) initial InfoNCE logit scale."""


class _StageAccess:
    """The backbone cut into ``stem``, ``stages`` and the ``neck`` run before its head.

    Holds only the backbone *kind*; modules are looked up on the backbone at each call, so
    ``copy.deepcopy`` and pickling of the model stay correct and every submodule is registered
    once, under ``backbone``.
    """

    def __init__(self, model: nn.Module):
        if hasattr(model, "stem") and hasattr(model, "stages"):
            self.kind = "stages"
            self.neck_name = next(
                (name for name in ("norm_pre", "norm") if isinstance(getattr(model, name, None), nn.Module)), None
            )
        elif all(hasattr(model, name) for name in ("conv1", "bn1", "act1", "maxpool", "layer4")):  # timm ResNet
            self.kind, self.neck_name = "resnet", None
        else:
            raise ConfigError(
                f"CLNet needs a stage-based timm backbone (ConvNeXt, ResNet, ...), "
                f"{type(model).__name__} has no stem/stages; choose e.g. convnext_base or resnet50"
            )

    def stem(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "stages":
            return model.stem(x)
        return model.maxpool(model.act1(model.bn1(model.conv1(x))))

    def stages(self, model: nn.Module) -> list[nn.Module]:
        if self.kind == "stages":
            return list(model.stages)
        return [model.layer1, model.layer2, model.layer3, model.layer4]

    def neck(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return getattr(model, self.neck_name)(x) if self.neck_name else x


def check_choices(**values: Any) -> None:
    """Refuse a module option outside its choices (``ncm``, ``ncm_warp_init``, ``gfr_cue``) in one line."""
    choices = {"ncm": NCM_VARIANTS, "ncm_warp_init": WARP_INITS, "gfr_cue": GFR_CUES}
    for key, value in values.items():
        if value not in choices[key]:
            raise ConfigError(f"{key} must be one of {', '.join(choices[key])}; got {value!r}")


class CLNetModel(nn.Module, CVGLModel):
    """CLNet re-implementation: Sample4Geo encoder + NCM / NEC / GFR, each switchable.

    Args:
        image_size: ``{view: (H, W)}`` for at least ``query_view`` and ``reference_view``;
            NCM map sizes follow from these.
        query_view, reference_view: the two views (e.g. ``"ground"``, ``"satellite"``).
        backbone: timm model name (stage-based: ConvNeXt family, ResNet, ...).
        pretrained: ``True`` loads timm's pretrained weights (needs network or a populated HF
            cache); the name of synthetic-pretrained weights (``synth-...``) loads those
            (:mod:`cvgl_bench.train.pretrained`).
        backbone_kwargs: further ``timm.create_model`` arguments (``drop_path_rate``, ...).
        backbone_stages: keep only the backbone's first stages (the toolkit's ``create_backbone``);
            ``ncm_stages`` index the stages kept.
        frozen_stages: the backbone's stem and this many first stages are not trained (the
            toolkit's ``freeze_stages``).
        ncm: ``"off"``, ``"spatial"`` (1xHxW map), ``"full"`` (CxHxW map) or ``"warp"``
            (learned sampling grid moving the reference features into the query layout).
        ncm_stages: zero-based stage indices after which NCM acts.
        ncm_warp_init: ``"polar"``, ``"identity"`` or ``"auto"`` (polar when the query view is
            ``ground`` and the reference ``satellite``, identity otherwise). Only the first warp
            stage gets the polar grid; later ones are already in the query layout (identity).
        polar_north: ``north`` of the polar initialisation (:mod:`cvgl_bench.data.polar`).
        nec, nec_shared, nec_hidden_mult: NEC on/off, one MLP for both views, hidden width.
        gfr, gfr_cue, gfr_reduction, gfr_shared: GFR on/off, ``"conv"`` or ``"ncm"`` cue,
            squeeze reduction, one GFR for both views.
        logit_scale_init: initial InfoNCE logit scale (``logit_scale`` parameter, read by the
            toolkit's loss); ``None`` builds none.
        grad_checkpointing: timm gradient checkpointing of the backbone stages.
        head, head_dim, head_reduce: ``"timm"`` (the backbone's average pool + LayerNorm, as
            Sample4Geo) or ``"spatial"`` (the toolkit's ``SpatialHead``: layout-keeping
            aggregation of the last map into ``head_dim``; the cpu profile, from scratch).
        embedding_norm: ``"none"`` or ``"batch"`` (the toolkit's per-view ``EmbeddingNorm`` after
            NEC; the cpu profile's from-scratch backbone needs it).
    """

    def __init__(
        self,
        image_size: Mapping[str, Sequence[int]],
        query_view: str,
        reference_view: str,
        *,
        backbone: str = DEFAULT_BACKBONE,
        pretrained: bool | str = False,
        backbone_kwargs: Mapping[str, Any] | None = None,
        backbone_stages: int | None = None,
        frozen_stages: int = 0,
        ncm: str = "full",
        ncm_stages: Sequence[int] = (2, 3),
        ncm_warp_init: str = "auto",
        polar_north: float = 0.0,
        nec: bool = True,
        nec_shared: bool = False,
        nec_hidden_mult: float = 2.0,
        gfr: bool = True,
        gfr_cue: str = "conv",
        gfr_reduction: int = 16,
        gfr_shared: bool = True,
        logit_scale_init: float | None = LOGIT_SCALE_INIT,
        grad_checkpointing: bool = False,
        embedding_norm: str = "none",
        head: str = "timm",
        head_dim: int = 512,
        head_reduce: int = 32,
    ):
        super().__init__()
        if query_view == reference_view:
            raise ConfigError(f"CLNet needs two different views, got {query_view!r} twice")
        missing = [v for v in (query_view, reference_view) if v not in image_size]
        if missing:
            raise ConfigError(f"image_size has no size for view(s) {missing}; give [H, W] for {query_view!r} and {reference_view!r}")
        check_choices(ncm=ncm, ncm_warp_init=ncm_warp_init, gfr_cue=gfr_cue)
        self.query_view, self.reference_view = query_view, reference_view
        self.views = (query_view, reference_view)
        self.image_size = {v: size_pair(image_size[v], f"image_size[{v!r}]") for v in self.views}
        self._config = {
            "image_size": {v: list(s) for v, s in self.image_size.items()},
            "query_view": query_view,
            "reference_view": reference_view,
            "backbone": backbone,
            "pretrained": pretrained if isinstance(pretrained, str) else bool(pretrained),
            "backbone_kwargs": dict(backbone_kwargs or {}),
            "backbone_stages": None if backbone_stages is None else int(backbone_stages),
            "frozen_stages": int(frozen_stages),
            "ncm": ncm,
            "ncm_stages": [int(s) for s in ncm_stages],
            "ncm_warp_init": ncm_warp_init,
            "polar_north": float(polar_north),
            "nec": bool(nec),
            "nec_shared": bool(nec_shared),
            "nec_hidden_mult": float(nec_hidden_mult),
            "gfr": bool(gfr),
            "gfr_cue": gfr_cue,
            "gfr_reduction": int(gfr_reduction),
            "gfr_shared": bool(gfr_shared),
            "logit_scale_init": None if logit_scale_init is None else float(logit_scale_init),
            "grad_checkpointing": bool(grad_checkpointing),
            "embedding_norm": embedding_norm,
            "head": check_head(head),
            "head_dim": int(head_dim),
            "head_reduce": int(head_reduce),
        }
        self.backbone = create_backbone(backbone, pretrained=pretrained, stages=backbone_stages, **dict(backbone_kwargs or {}))
        freeze_stages(self.backbone, backbone, int(frozen_stages))
        self._access = _StageAccess(self.backbone)
        n_stages = len(self._access.stages(self.backbone))
        self.ncm_kind = ncm
        stages = sorted({int(s) for s in ncm_stages})
        if ncm != "off" and (not stages or stages[0] < 0 or stages[-1] >= n_stages):
            raise ConfigError(f"ncm_stages must be stage indices in 0..{n_stages - 1} of {backbone}; got {list(ncm_stages)}")
        self.ncm_stages = tuple(stages) if ncm != "off" else ()
        last_stage = n_stages - 1
        if gfr and gfr_cue == "ncm" and (ncm not in ("spatial", "full") or last_stage not in self.ncm_stages):
            raise ConfigError(
                f"gfr_cue='ncm' needs a gating NCM (ncm='spatial' or 'full') at the last stage ({last_stage}); "
                f"use gfr_cue='conv' or add {last_stage} to ncm_stages"
            )
        if ncm_warp_init == "auto":
            ncm_warp_init = "polar" if (query_view, reference_view) == ("ground", "satellite") else "identity"
        self._warp_init, self._polar_north = ncm_warp_init, float(polar_north)
        self._last_stage = last_stage

        self.ncm = nn.ModuleDict({v: nn.ModuleDict() for v in self.views})
        self.stage_grids: dict[str, list[tuple[int, int]]] = {}
        self.stage_channels: list[int] = []
        self.embedding_dim = self._dry_forward()
        self.spatial_head: SpatialHead | None = None
        if head == "spatial":
            grids = {v: self.stage_grids[v][-1] for v in self.views}
            self.spatial_head = SpatialHead(self.stage_channels[-1], grids, reduce=head_reduce, dim=head_dim)
            self.embedding_dim = int(head_dim)
            drop_timm_head(self.backbone)

        channels = self.stage_channels[-1]
        self.gfr: nn.Module | None = None
        if gfr:
            make_gfr = lambda: GFR(channels, reduction=gfr_reduction, cue=gfr_cue)  # noqa: E731
            self.gfr = make_gfr() if gfr_shared else nn.ModuleDict({v: make_gfr() for v in self.views})
        self.nec: nn.Module | None = None
        if nec:
            make_nec = lambda: NEC(self.embedding_dim, hidden_mult=nec_hidden_mult)  # noqa: E731
            self.nec = make_nec() if nec_shared else nn.ModuleDict({v: make_nec() for v in self.views})
        self.embedding_norm = EmbeddingNorm(embedding_norm, self.embedding_dim, self.views)

        # InfoNCE temperature, as in the toolkit's TwoViewEncoder; None for losses without one
        self.logit_scale = None if logit_scale_init is None else nn.Parameter(torch.tensor(float(logit_scale_init)))
        if grad_checkpointing:
            self.backbone.set_grad_checkpointing(True)
        self.record_activations = False
        self.last_activations: dict[str, dict[str, torch.Tensor]] = {}

    # ----------------------------------------------------------------------------------------
    # construction

    def _make_ncm(self, view: str, stage: int, features: torch.Tensor) -> nn.Module | None:
        channels, grid = int(features.shape[1]), tuple(int(v) for v in features.shape[-2:])
        if self.ncm_kind in ("spatial", "full"):
            return NCMGate(channels, grid, per_channel=self.ncm_kind == "full")
        if view != self.reference_view:  # "warp" moves the reference into the query layout
            return None
        target = self.stage_grids[self.query_view][stage]
        first_warp = stage == self.ncm_stages[0]
        if first_warp and self._warp_init == "polar":
            if grid[0] != grid[1]:
                raise ConfigError(
                    f"ncm_warp_init='polar' needs a square {view} feature map at stage {stage}, got {grid}; "
                    "use a square reference image size or ncm_warp_init='identity'"
                )
            return NCMWarp.polar(grid[0], target, north=self._polar_north)
        return NCMWarp.identity(target)

    @torch.no_grad()
    def _dry_forward(self) -> int:
        """Find every stage's grid per view, build the NCM modules, check the stage cut."""
        was_training = self.backbone.training
        self.backbone.eval()
        generator = torch.Generator().manual_seed(0)
        embedding_dims = set()
        try:
            for view in self.views:
                probe = torch.randn(1, 3, *self.image_size[view], generator=generator)
                x = self._access.stem(self.backbone, probe)
                grids, channels = [], []
                for index, stage in enumerate(self._access.stages(self.backbone)):
                    x = stage(x)
                    if x.ndim != 4:
                        raise ConfigError(f"backbone {self._config['backbone']} stage {index} does not return (B, C, H, W) maps")
                    grids.append(tuple(int(v) for v in x.shape[-2:]))
                    channels.append(int(x.shape[1]))
                    self.stage_grids[view] = grids
                    if index in self.ncm_stages:
                        module = self._make_ncm(view, index, x)
                        if module is not None:
                            self.ncm[view][str(index)] = module
                            x = module(x)
                x = self._access.neck(self.backbone, x)
                if view == self.query_view and x.device.type != "meta" and not torch.equal(  # no values on meta
                        x, self.backbone.forward_features(probe)):
                    raise ConfigError(
                        f"backbone {self._config['backbone']} does not run as stem -> stages -> norm; "
                        "CLNet supports ConvNeXt-style timm models and ResNets"
                    )
                self.stage_channels = channels
                embedding_dims.add(int(self.backbone.forward_head(x, pre_logits=True).shape[-1]))
        finally:
            self.backbone.train(was_training)
        (dim,) = embedding_dims
        return dim

    # ----------------------------------------------------------------------------------------
    # forward

    def _check_input(self, images: torch.Tensor, view: str) -> None:
        if view not in self.image_size:
            raise ConfigError(f"this CLNet model embeds {' and '.join(self.views)} images, not {view!r}")
        if len(self.ncm[view]) and tuple(images.shape[-2:]) != self.image_size[view]:
            raise ConfigError(
                f"this CLNet model was built for {view} images of {self.image_size[view][0]}x{self.image_size[view][1]} "
                f"(its NCM maps have that grid), got {images.shape[-2]}x{images.shape[-1]}; set image_size accordingly"
            )

    def _per_view(self, module: nn.Module, view: str) -> nn.Module:
        return module[view] if isinstance(module, nn.ModuleDict) else module

    def feature_map(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """The last-stage feature map ``(B, C, H, W)`` after NCM and GFR (before pooling)."""
        self._check_input(images, view)
        record = self.record_activations
        seen: dict[str, torch.Tensor] = {}
        ncm = self.ncm[view]
        x = self._access.stem(self.backbone, images)
        for index, stage in enumerate(self._access.stages(self.backbone)):
            x = stage(x)
            key = str(index)
            if key in ncm:
                x = ncm[key](x)
                if record:
                    seen[f"stage{index}"] = x.detach().abs().mean(dim=1)
        x = self._access.neck(self.backbone, x)
        if self.gfr is not None:
            gfr = self._per_view(self.gfr, view)
            cue = ncm[str(self._last_stage)].spatial_weights() if gfr.cue_kind == "ncm" else None
            attention = gfr.attention(x, cue)
            gains = gfr.channel_weights(x, attention)
            x = x * gains[:, :, None, None]
            if record:
                seen["gfr_attention"] = attention.detach()
                seen["gfr_channel_weights"] = gains.detach()
        if record:
            self.last_activations[view] = seen
        return x

    def embed(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """Head output (and NEC) before L2 normalisation: ``(B, embedding_dim)``."""
        x = self.feature_map(images, view)
        z = self.spatial_head(x, view) if self.spatial_head is not None else self.backbone.forward_head(x, pre_logits=True)
        if self.nec is not None:
            z = self._per_view(self.nec, view)(z)
        return self.embedding_norm(z, view)

    def encode(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """L2-normalised embeddings ``(B, embedding_dim)`` of images ``(B, 3, H, W)`` of ``view``."""
        return F.normalize(self.embed(images, view).float(), dim=-1)

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised embeddings of a batch of pairs (the toolkit trainer's ``model(query, reference)``)."""
        return self.encode(query, self.query_view), self.encode(reference, self.reference_view)

    # ----------------------------------------------------------------------------------------
    # inspection

    def ncm_maps(self, view: str, *, channel_mean: bool = False) -> dict[int, torch.Tensor]:
        """The view's NCM maps, detached on CPU, keyed by zero-based stage index.

        Gating variants: the gain ``1 + tanh(M)``, ``(C or 1, H, W)`` (``(H, W)`` with
        ``channel_mean=True``). ``warp``: the sampling grid ``(H, W, 2)`` in ``grid_sample``
        coordinates (reference view only; the query view has none). ``off``: empty.
        """
        if view not in self.ncm:
            raise ConfigError(f"this CLNet model has no view {view!r}; views: {', '.join(self.views)}")
        maps = {}
        for key, module in self.ncm[view].items():
            if isinstance(module, NCMGate):
                value = module.gain()
                value = value.mean(dim=0) if channel_mean else value
            else:
                value = module.grid[0]
            maps[int(key)] = value.detach().cpu()
        return maps

    @torch.no_grad()
    def spatial_maps(self, images: torch.Tensor, view: str) -> dict[str, torch.Tensor]:
        """Maps over the input, ``{name: (B, h, w)}``, for the leaderboard's plots: each gating
        NCM's gain (channel mean; learned per place, so the same for every image of a view), and
        per image GFR's spatial attention. A ``warp`` NCM is a sampling grid, not a map: omitted.
        """
        was = self.record_activations
        self.record_activations = True
        try:
            self.embed(images, view)
        finally:
            self.record_activations = was
        batch = images.shape[0]
        maps = {f"NCM gain, stage {stage}": gain.expand(batch, *gain.shape)
                for stage, gain in self.ncm_maps(view, channel_mean=True).items() if gain.ndim == 2}
        attention = self.last_activations.get(view, {}).get("gfr_attention")
        if attention is not None:
            maps["GFR attention"] = attention.cpu()
        return maps

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data: ``CLNetModel(**model.config())`` rebuilds it."""
        return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Forward to timm's gradient checkpointing of the backbone stages."""
        self.backbone.set_grad_checkpointing(enable)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> CLNetModel:
        """Build from a method's hparams (the toolkit's flat layout).

        Reads ``image_size`` and ``views`` (``[query, reference]``; or ``query_view`` and
        ``reference_view``), then every constructor option found at the top level
        (``backbone``, ``pretrained``, ``ncm``, ``ncm_stages``, ..., ``grad_checkpointing``),
        then those under ``hparams["model"]``, which win. Other keys are ignored. A
        ``shared_backbone`` of False is refused: CLNet shares its backbone.
        """
        if hparams.get("shared_backbone", True) is False:
            raise ConfigError("CLNet shares one backbone between views; set shared_backbone to true")
        views = hparams.get("views") or (hparams["query_view"], hparams["reference_view"])
        options = {k: hparams[k] for k in CONSTRUCTOR_OPTIONS if k in hparams}
        options.update(hparams.get("model", {}))
        return cls(hparams["image_size"], views[0], views[1], **options)


CONSTRUCTOR_OPTIONS = (
    "backbone", "pretrained", "backbone_kwargs", "backbone_stages", "frozen_stages", "ncm", "ncm_stages", "ncm_warp_init", "polar_north", "nec", "nec_shared",
    "nec_hidden_mult", "gfr", "gfr_cue", "gfr_reduction", "gfr_shared", "logit_scale_init", "grad_checkpointing",
    "embedding_norm", "head", "head_dim", "head_reduce",
)
"""Keyword arguments of :class:`CLNetModel` that :meth:`CLNetModel.from_hparams` takes from hparams."""
