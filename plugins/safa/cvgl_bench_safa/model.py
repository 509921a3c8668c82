"""SAFAModel: Spatial-Aware Feature Aggregation (Shi et al., NeurIPS 2019), re-implemented in torch.

Two CNN branches with separate weights: one embeds ground panoramas, the other satellite tiles
after the polar transform (:mod:`cvgl_bench.data.polar`, applied inside ``encode``, so the model
takes the square tile). Each branch ends with SAFA: the feature map ``(C, H, W)`` is max-pooled
over channels, ``K`` spatial-aware importance generators (two linear layers each,
``HW -> HW/2 -> HW``, no non-linearity in between, as in the authors' code) turn it into ``K``
spatial weight maps, and the descriptor concatenates the ``K`` weighted sums of the features
(``K * C`` dims, k-major), L2-normalised.

The paper's trunk is VGG16's conv1_1 .. conv5_3 (ImageNet weights, dropout 0.2 after each
conv4/conv5 ReLU during training) followed by one more 2x2 max pool, all pools TF "SAME" (here:
``ceil_mode=True``); for CVUSA/CVACT it takes 112x616 panoramas and 112x616 polar images, giving
a 4x20x512 map and a 4096-d descriptor with ``K = 8``. With a timm ``vgg*`` name this module
builds exactly that; any other timm CNN uses its last ``features_only`` map, or the map of stage
``trunk_stage`` (for example ``resnet18`` cut after ``layer3``, stride 16).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.data.polar import PolarTransform
from cvgl_bench.errors import ConfigError, UserError
from cvgl_bench.method import CVGLModel
from cvgl_bench.train.encoders import EmbeddingNorm, create_backbone, freeze_stages, size_pair

PAPER_BACKBONE = "vgg16"

CHANNEL_POOLS = ("max", "mean")
"""How SAFA's head reduces the feature map over channels before its two position-wise layers:
``max`` in the first commit of the authors' code (shiyujiao/cross_view_localization_SAFA) and in
VIGOR's SAFA baseline, ``mean`` in the authors' current code."""


class SpatialAwareAggregation(nn.Module):
    """SAFA head: ``K`` spatial-aware importance generators and the weighted sums they define.

    ``positions`` is ``H * W`` of the feature maps it receives (fixed at construction). Weights
    start at a truncated normal with std 0.005, biases at 0.1, as in the authors' code.
    """

    def __init__(self, positions: int, k: int = 8, channel_pool: str = "max"):
        super().__init__()
        if positions < 2 or k < 1:
            raise ValueError(f"SpatialAwareAggregation needs positions >= 2 and k >= 1, got {positions}, {k}")
        if channel_pool not in CHANNEL_POOLS:
            raise ConfigError(f"SAFA channel_pool must be one of {', '.join(CHANNEL_POOLS)}, not {channel_pool!r}")
        self.channel_pool = channel_pool
        hidden = positions // 2
        self.positions, self.k = int(positions), int(k)
        self.weight1 = nn.Parameter(torch.empty(k, positions, hidden))
        self.bias1 = nn.Parameter(torch.full((k, hidden), 0.1))
        self.weight2 = nn.Parameter(torch.empty(k, hidden, positions))
        self.bias2 = nn.Parameter(torch.full((k, positions), 0.1))
        for weight in (self.weight1, self.weight2):
            nn.init.trunc_normal_(weight, std=0.005, a=-0.01, b=0.01)

    def spatial_weights(self, features: torch.Tensor) -> torch.Tensor:
        """The ``K`` spatial weight maps ``(B, K, H, W)`` of a feature map ``(B, C, H, W)``."""
        batch, _, height, width = features.shape
        if height * width != self.positions:
            raise ValueError(f"SAFA head was built for {self.positions} positions, got a {height}x{width} map")
        pooled = (features.amax(dim=1) if self.channel_pool == "max" else features.mean(dim=1)).flatten(1)  # (B, HW)
        hidden = torch.einsum("bi,kij->bkj", pooled, self.weight1) + self.bias1
        weights = torch.einsum("bkj,kji->bki", hidden, self.weight2) + self.bias2
        return weights.view(batch, self.k, height, width)

    @staticmethod
    def aggregate(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Descriptor ``(B, K * C)``, k-major: ``[sum_hw F * w_1, ..., sum_hw F * w_K]``."""
        return torch.einsum("bchw,bkhw->bkc", features, weights).flatten(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.aggregate(features, self.spatial_weights(features))

    def extra_repr(self) -> str:
        return f"positions={self.positions}, k={self.k}"


class _FeaturesOnly(nn.Module):
    """The last feature map of a timm ``features_only`` model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[-1]


def _vgg_trunk(name: str, pretrained: bool, dropout: float) -> nn.Module:
    """VGG conv layers as SAFA uses them: SAME (ceil) pools, dropout after conv4/conv5 ReLUs."""
    features = timm.create_model(name, pretrained=pretrained, num_classes=0).features
    layers: list[nn.Module] = []
    pools_seen = 0
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            layer.ceil_mode = True
            pools_seen += 1
        layers.append(layer)
        if isinstance(layer, nn.ReLU) and pools_seen >= 3 and dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def build_trunk(name: str, pretrained: bool | str = False, dropout: float = 0.2, stage: int | None = None,
                frozen_stages: int = 0) -> nn.Module:
    """A CNN mapping ``(B, 3, H, W)`` images to a ``(B, C, h, w)`` map: SAFA's VGG for ``vgg*``
    names, the last feature stage (or stage ``stage``, zero-based, of timm's ``feature_info``)
    of any other timm CNN, built by the toolkit's ``create_backbone`` (so ``pretrained`` may
    name synthetic-pretrained weights); layers after that stage are not built.
    ``frozen_stages`` stops training the stem and first stages (the toolkit's ``freeze_stages``)."""
    if not timm.is_model(name.split(".")[0]):
        raise ConfigError(f"SAFA backbone {name!r} is not usable: timm has no such model; choose a CNN such as vgg16 or resnet18")
    if name.split(".")[0].startswith("vgg"):
        if stage is not None or frozen_stages:
            raise ConfigError("trunk_stage and frozen_stages apply to timm CNNs with feature stages, not to SAFA's "
                              "VGG trunk; leave them unset")
        try:
            return _vgg_trunk(name, pretrained, dropout)
        except (OSError, RuntimeError, ValueError) as error:
            first = (str(error).splitlines() or [type(error).__name__])[0]
            raise UserError(f"cannot load pretrained weights of {name!r} ({first}); connect to the Hugging Face hub "
                            "once or put the weights in its cache (HF_HOME)") from error
    from timm.models import FeatureListNet

    model = create_backbone(name, pretrained=pretrained)
    stages = len(getattr(model, "feature_info", []) or [])
    if not stages:
        raise ConfigError(f"SAFA backbone {name!r} is not usable: it declares no feature stages; choose a CNN such "
                          "as vgg16 or resnet18")
    index = stages - 1 if stage is None else int(stage)
    if not 0 <= index < stages:
        raise ConfigError(f"trunk_stage {stage} is not a feature stage of {name!r}; use 0 (the first) up to "
                          f"{stages - 1}, the last stage index of timm's feature_info")
    freeze_stages(model, name, int(frozen_stages))
    # timm flattens nested stage containers ("stages.2") into top-level modules ("stages_2")
    nested = any("." in str(info["module"]) for info in model.feature_info)
    return _FeaturesOnly(FeatureListNet(model, out_indices=(index,), flatten_sequential=nested))


class SAFAModel(nn.Module, CVGLModel):
    """SAFA: two separate CNN branches, polar transform of the reference, K spatial-aware embeddings.

    Args:
        image_size: ``{view: (H, W)}`` for ``query_view`` and ``reference_view``; with
            ``polar=True`` the reference image must be square.
        query_view, reference_view: e.g. ``"ground"`` and ``"satellite"``.
        backbone: timm CNN name; ``"vgg16"`` is the paper's.
        pretrained: timm's pretrained weights for both branches (``True``), or the name of
            synthetic-pretrained weights (``synth-...``, :mod:`cvgl_bench.train.pretrained`).
        spatial_embeddings: ``K``, the number of spatial-aware embeddings (paper: 8); the
            descriptor has ``K * C`` dims.
        polar: polar-transform reference images inside ``encode``.
        polar_size: ``(H, W)`` of the polar image; default the query image size (the paper feeds
            both branches the same size).
        polar_north: ``north`` of the polar transform (:mod:`cvgl_bench.data.polar`).
        dropout: VGG only: dropout after the conv4/conv5 ReLUs while training (paper keep 0.8).
        trunk_stage: non-VGG trunks only: the zero-based ``features_only`` stage whose map is
            aggregated (default: the last); later stages are not built.
        frozen_stages: non-VGG trunks only: the stem and this many first stages are not trained
            (fine-tuning pretrained trunks cheaply).
        embedding_norm: ``"none"`` (the paper) or ``"batch"``: the toolkit's per-view BatchNorm
            on the descriptor before L2 normalisation (trunks trained from scratch).
    """

    def __init__(
        self,
        image_size: Mapping[str, Sequence[int]],
        query_view: str,
        reference_view: str,
        *,
        backbone: str = PAPER_BACKBONE,
        pretrained: bool | str = False,
        spatial_embeddings: int = 8,
        channel_pool: str = "max",
        polar: bool = True,
        polar_size: Sequence[int] | None = None,
        polar_north: float = 0.0,
        dropout: float = 0.2,
        trunk_stage: int | None = None,
        frozen_stages: int = 0,
        embedding_norm: str = "none",
    ):
        super().__init__()
        if query_view == reference_view:
            raise ConfigError(f"SAFA needs two different views, got {query_view!r} twice")
        missing = [v for v in (query_view, reference_view) if v not in image_size]
        if missing:
            raise ConfigError(f"image_size has no size for view(s) {missing}; give [H, W] for {query_view!r} and {reference_view!r}")
        k = int(spatial_embeddings)
        if k < 1:
            raise ConfigError(f"SAFA needs spatial_embeddings >= 1, got {spatial_embeddings}")
        self.query_view, self.reference_view = query_view, reference_view
        self.views = (query_view, reference_view)
        self.image_size = {v: size_pair(image_size[v], f"image_size[{v!r}]") for v in self.views}
        self.polar: PolarTransform | None = None
        branch_input = dict(self.image_size)
        if polar:
            side_h, side_w = self.image_size[reference_view]
            if side_h != side_w:
                raise ConfigError(
                    f"SAFA's polar transform needs square {reference_view} images, got {side_h}x{side_w}; "
                    "set a square image_size or polar=False"
                )
            out = size_pair(polar_size, "polar_size") if polar_size is not None else self.image_size[query_view]
            self.polar = PolarTransform(side_h, out, north=polar_north)
            branch_input[reference_view] = out
        self._config = {
            "image_size": {v: list(s) for v, s in self.image_size.items()},
            "query_view": query_view,
            "reference_view": reference_view,
            "backbone": backbone,
            "pretrained": pretrained if isinstance(pretrained, str) else bool(pretrained),
            "spatial_embeddings": k,
            "polar": bool(polar),
            "polar_size": list(branch_input[reference_view]) if polar else None,
            "polar_north": float(polar_north),
            "dropout": float(dropout),
            "trunk_stage": None if trunk_stage is None else int(trunk_stage),
            "frozen_stages": int(frozen_stages),
            "embedding_norm": embedding_norm,
        }
        self.trunks = nn.ModuleDict({v: build_trunk(backbone, pretrained, dropout, trunk_stage, int(frozen_stages))
                                     for v in self.views})
        self.feature_grids = self._feature_grids(branch_input)
        channels = self._channels
        self.heads = nn.ModuleDict(
            {v: SpatialAwareAggregation(self.feature_grids[v][0] * self.feature_grids[v][1], k=int(k),
                                       channel_pool=channel_pool) for v in self.views}
        )
        self.embedding_dim = int(k) * channels
        self.embedding_norm = EmbeddingNorm(embedding_norm, self.embedding_dim, self.views)
        self.logit_scale = None  # SAFA's soft-margin triplet loss has no temperature
        self.record_activations = False
        self.last_activations: dict[str, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def _feature_grids(self, branch_input: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        grids, channels = {}, set()
        generator = torch.Generator().manual_seed(0)
        for view in self.views:
            trunk = self.trunks[view]
            was_training = trunk.training
            trunk.eval()
            try:
                out = trunk(torch.randn(1, 3, *branch_input[view], generator=generator))
            finally:
                trunk.train(was_training)
            if out.ndim != 4:
                raise ConfigError(f"SAFA backbone {self._config['backbone']!r} does not return (B, C, H, W) feature maps")
            grids[view] = (int(out.shape[-2]), int(out.shape[-1]))
            channels.add(int(out.shape[1]))
            if grids[view][0] * grids[view][1] < 2:
                raise ConfigError(
                    f"SAFA's {view} feature map is {grids[view][0]}x{grids[view][1]}: too small for spatial-aware "
                    "aggregation; use larger images"
                )
        (self._channels,) = channels
        return grids

    def branch_input(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """What the view's CNN sees: the polar image for the reference view (if ``polar``)."""
        if view not in self.image_size:
            raise ConfigError(f"this SAFA model embeds {' and '.join(self.views)} images, not {view!r}")
        if tuple(images.shape[-2:]) != self.image_size[view]:
            expected = self.image_size[view]
            raise ConfigError(
                f"this SAFA model was built for {view} images of {expected[0]}x{expected[1]}, "
                f"got {images.shape[-2]}x{images.shape[-1]}; set image_size accordingly"
            )
        if view == self.reference_view and self.polar is not None:
            return self.polar(images)
        return images

    def encode(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """L2-normalised SAFA descriptors ``(B, k * C)`` of images ``(B, 3, H, W)`` of ``view``."""
        branch_input = self.branch_input(images, view)
        features = self.trunks[view](branch_input)
        head = self.heads[view]
        weights = head.spatial_weights(features)
        if self.record_activations:
            self.last_activations[view] = {"spatial_weights": weights.detach()}
        return F.normalize(self.embedding_norm(head.aggregate(features, weights), view).float(), dim=-1)

    @torch.no_grad()
    def spatial_maps(self, images: torch.Tensor, view: str) -> dict[str, torch.Tensor]:
        """Maps over the input, ``{name: (B, h, w)}``, for the leaderboard's plots: the first of the
        ``K`` spatial embeddings and their mean. A polar-transformed reference view has none: its
        maps live on the polar image, not on the tile the plot would draw them over."""
        if self.polar is not None and view == self.reference_view:
            return {}
        weights = self.heads[view].spatial_weights(self.trunks[view](self.branch_input(images, view)))
        return {"spatial embedding 1": weights[:, 0].cpu(), f"mean of the {weights.shape[1]} spatial embeddings": weights.mean(dim=1).cpu()}

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised descriptors of a batch of pairs (the toolkit trainer's ``model(query, reference)``)."""
        return self.encode(query, self.query_view), self.encode(reference, self.reference_view)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data: ``SAFAModel(**model.config())`` rebuilds it."""
        return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> SAFAModel:
        """Build from a method's hparams (the toolkit's flat layout).

        Reads ``image_size`` and ``views`` (``[query, reference]``; or ``query_view`` and
        ``reference_view``), then every constructor option found at the top level (``backbone``,
        ``pretrained``, ``spatial_embeddings``, ``polar``, ``polar_size``, ``polar_north``,
        ``dropout``, ``trunk_stage``), then those under ``hparams["model"]``, which win. Other keys (such as the
        toolkit's ``shared_backbone``) are ignored: SAFA's branches never share weights.
        """
        views = hparams.get("views") or (hparams["query_view"], hparams["reference_view"])
        options = {k: hparams[k] for k in CONSTRUCTOR_OPTIONS if k in hparams}
        options.update(hparams.get("model", {}))
        return cls(hparams["image_size"], views[0], views[1], **options)


CONSTRUCTOR_OPTIONS = ("backbone", "pretrained", "spatial_embeddings", "channel_pool", "polar", "polar_size",
                       "polar_north", "dropout", "trunk_stage", "frozen_stages", "embedding_norm")
"""Keyword arguments of :class:`SAFAModel` that :meth:`SAFAModel.from_hparams` takes from hparams."""
