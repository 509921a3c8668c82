"""A two-view image encoder built from timm backbones.

Sample4Geo's model: one timm backbone shared by both views (or one per view), whose own head
with ``num_classes=0`` gives the embedding (ConvNeXt: global average pool, then LayerNorm,
no projection), L2-normalised, plus a learnable logit scale for InfoNCE.

The forward pass is split into overridable steps so that a method can insert its own modules
without re-implementing the rest::

    features(images, view)  -> feature map   (timm ``forward_features``; override to add
                                               modules between stages, see ``stages()``)
    pool(features, view)    -> embedding     (timm head without classifier: avg-pool + LN;
                                               or ``head="spatial"``: :class:`~.heads.SpatialHead`)
    project(embedding, view)-> embedding     (identity; override for a per-view MLP)
    embedding_norm          -> embedding     (``"none"``, or ``"batch"``: per-view BatchNorm,
                                               see :class:`EmbeddingNorm`)
    encode(images, view)    -> L2-normalised embedding
"""

from __future__ import annotations

__all__ = ["EMBEDDING_NORMS", "EmbeddingNorm", "TwoViewEncoder", "create_backbone", "drop_timm_head",
           "freeze_stages", "prune_stages", "size_pair"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, UserError
from ..method import CVGLModel
from .heads import SpatialHead, check_head
from .losses import LOGIT_SCALE_INIT


def size_pair(size: Sequence[int], what: str) -> tuple[int, int]:
    """``(H, W)`` as two positive ints; otherwise a one-line ConfigError naming ``what``
    (e.g. ``image_size['ground']``)."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be [H, W], got {size!r}") from None
    if height < 1 or width < 1:
        raise ConfigError(f"{what} must be positive, got {size!r}")
    return height, width


def create_backbone(name: str, *, pretrained: bool | str = False, stages: int | None = None,
                    **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=..., num_classes=0)`` with one-line errors.

    ``pretrained`` is ``False`` (random initialisation), ``True`` (timm's weights, from the
    Hugging Face hub or its cache) or the name of synthetic-pretrained weights shipped with
    cvgl-bench (``synth-<backbone>-<sha8>``, :mod:`cvgl_bench.train.pretrained`).
    ``stages`` keeps only the first ``stages`` feature stages of timm's ``feature_info``
    (``prune_intermediate_layers``; the pooling head keeps its average pool, not its norm): a
    finer, cheaper final map, e.g. 3 of ConvNeXt's 4 stages end at stride 16 instead of 32.
    """
    import timm

    from . import pretrained as synth_weights

    if stages is not None:
        model = create_backbone(name, pretrained=pretrained, **kwargs)
        return prune_stages(model, name, int(stages))
    if synth_weights.is_synth_weights(pretrained):
        model = create_backbone(name, pretrained=False, **kwargs)
        synth_weights.load_into(model, str(pretrained), name)
        return model
    if isinstance(pretrained, str):
        raise ConfigError(f"pretrained must be true, false or the name of synthetic weights "
                          f"({synth_weights.PREFIX}...), not {pretrained!r}")

    if not timm.is_model(name.split(".")[0]):
        from ..errors import UnknownNameError

        raise UnknownNameError("timm model", name, timm.list_models(),
                               hint="(timm.list_models() lists them; a pretrained tag follows a dot)")
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        if pretrained:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"cannot load pretrained weights of {name!r} ({first}); connect to the Hugging Face "
                            f"hub once, or put the weights in its cache (HF_HOME)") from exc
        raise


def prune_stages(model: nn.Module, name: str, stages: int) -> nn.Module:
    """Keep the first ``stages`` feature stages of a timm ``model`` (and no head norm)."""
    total = len(getattr(model, "feature_info", []) or [])
    if not hasattr(model, "prune_intermediate_layers") or not total:
        raise ConfigError(f"backbone {name!r} cannot be cut after a stage (timm has no prune_intermediate_layers "
                          f"for it); leave backbone_stages unset")
    if not 1 <= stages <= total:
        raise ConfigError(f"backbone_stages must be between 1 and {total} for {name!r}, not {stages}")
    if stages < total:
        model.prune_intermediate_layers(indices=[stages - 1], prune_norm=True, prune_head=True)
        channels = model.feature_info[stages - 1]["num_chs"]
        head = getattr(model, "head", None)
        width = getattr(getattr(head, "norm", None), "normalized_shape", None)
        if width and width[0] != channels:  # timm before 1.0.31 keeps the uncut model's head norm
            head.norm = nn.Identity()
        if getattr(model, "num_features", channels) != channels:
            model.num_features = channels
        model.reset_classifier(0, "avg")  # its pooling head: average pool, without the pruned norm
    return model


def freeze_stages(model: nn.Module, name: str, stages: int) -> None:
    """Stop training the stem and the first ``stages`` feature stages of a timm ``model``
    (``requires_grad = False``): their backward pass is skipped, the cheapest way to fine-tune
    a pretrained backbone on a CPU. Parameters are frozen in registration order up to the end
    of the ``stages``-th module of timm's ``feature_info``."""
    if stages <= 0:
        return
    info = list(getattr(model, "feature_info", []) or [])
    if stages > len(info):
        raise ConfigError(f"frozen_stages must be at most {len(info)} for {name!r}, not {stages}")
    last = str(info[stages - 1]["module"])
    names = [n for n, _ in model.named_parameters()]
    inside = [i for i, n in enumerate(names) if n == last or n.startswith(last + ".")]
    end = (inside[-1] + 1) if inside else 0
    for index, (_, parameter) in enumerate(model.named_parameters()):
        if index < end:
            parameter.requires_grad_(False)


EMBEDDING_NORMS = ("none", "batch")
"""Values of the ``embedding_norm`` option."""


class EmbeddingNorm(nn.Module):
    """Per-view normalisation of pooled embeddings, applied before L2 normalisation.

    ``"batch"`` centres and scales every embedding dimension with one ``BatchNorm1d`` per view.
    Why: a ConvNeXt trained from scratch (the ``cpu`` profiles) pools to embeddings dominated by
    one direction shared by every image (cosine about 0.99 between any two images at
    initialisation, measured on synth_cvusa_train), and InfoNCE then collapses them to a
    constant (the loss stays at ln(batch size)); centring removes the shared direction.
    Pretrained backbones (the ``paper`` recipes) do not need it: ``"none"`` is the identity.
    In evaluation mode the running statistics are used, so each embedding still depends on its
    own image only.
    """

    def __init__(self, kind: str, dim: int, views: Sequence[str]):
        super().__init__()
        if kind not in EMBEDDING_NORMS:
            raise ConfigError(f"embedding_norm must be one of {', '.join(EMBEDDING_NORMS)}, not {kind!r}")
        self.kind = kind
        self.norms = nn.ModuleDict({v: nn.BatchNorm1d(dim) for v in dict.fromkeys(views)}) if kind == "batch" else None

    def forward(self, embedding: torch.Tensor, view: str) -> torch.Tensor:
        if self.norms is None:
            return embedding
        if view not in self.norms:
            raise ConfigError(f"embedding_norm 'batch' has statistics for views {', '.join(self.norms)} only, "
                              f"not {view!r}; train on a split with that view")
        return self.norms[view](embedding)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def drop_timm_head(backbone: nn.Module) -> None:
    """Replace a timm model's pooling head by the identity when another head pools its features:
    parameters without gradient (ConvNeXt's head LayerNorm) stop ``torchrun`` training."""
    if isinstance(getattr(backbone, "head", None), nn.Module):
        backbone.head = nn.Identity()


class TwoViewEncoder(nn.Module, CVGLModel):
    """Query and reference encoder over timm backbones, shared or one per view.

    ``views`` are (query view, reference view); with ``shared=False`` each view gets its own
    backbone and only those views can be encoded. ``logit_scale_init=None`` builds no logit
    scale (for losses without one, such as the soft-margin triplet). ``embedding_norm`` is
    ``"none"`` (Sample4Geo) or ``"batch"`` (:class:`EmbeddingNorm`, for backbones from scratch).
    ``backbone_stages`` keeps only the backbone's first stages (:func:`create_backbone`);
    ``frozen_stages`` stops training its stem and first stages (:func:`freeze_stages`).
    ``head`` is ``"timm"`` (the backbone's pooling head, Sample4Geo) or ``"spatial"``
    (:class:`~cvgl_bench.train.heads.SpatialHead` of ``head_dim``; needs ``image_size``, the
    ``{view: (H, W)}`` its layout is built for).
    """

    def __init__(self, backbone: str, views: Sequence[str] = ("ground", "satellite"), *, shared: bool = True,
                 pretrained: bool = False, logit_scale_init: float | None = LOGIT_SCALE_INIT,
                 backbone_kwargs: Mapping[str, Any] | None = None, backbone_stages: int | None = None,
                 frozen_stages: int = 0, grad_checkpointing: bool = False,
                 embedding_norm: str = "none", head: str = "timm",
                 image_size: Mapping[str, Sequence[int]] | None = None, head_dim: int = 512, head_reduce: int = 32):
        super().__init__()
        if len(views) != 2:
            raise ValueError(f"views must be (query view, reference view), not {views!r}")
        self.backbone_name = backbone
        self.query_view, self.reference_view = views
        self.shared = bool(shared)
        names = ("shared",) if self.shared else tuple(dict.fromkeys(views))
        self.backbones = nn.ModuleDict({
            name: create_backbone(backbone, pretrained=pretrained, stages=backbone_stages, **dict(backbone_kwargs or {}))
            for name in names
        })
        for module in self.backbones.values():
            freeze_stages(module, backbone, int(frozen_stages))
            if grad_checkpointing:
                module.set_grad_checkpointing(True)
        first = next(iter(self.backbones.values()))
        self.embedding_dim = int(getattr(first, "head_hidden_size", None) or first.num_features)
        self.spatial_head: SpatialHead | None = None
        if check_head(head) == "spatial":
            missing = [v for v in views if v not in (image_size or {})]
            if missing:
                raise ConfigError(f"head 'spatial' needs image_size for view(s) {', '.join(missing)}")
            grids, channels = {}, 0
            with torch.no_grad():
                for view in dict.fromkeys(views):
                    backbone = self.backbone(view)
                    was_training = backbone.training
                    backbone.eval()  # a probe must not move BatchNorm statistics
                    size = [int(s) for s in image_size[view]]  # type: ignore[index]
                    probe = backbone.forward_features(torch.zeros(1, 3, *size))
                    backbone.train(was_training)
                    grids[view], channels = tuple(probe.shape[-2:]), int(probe.shape[1])
            self.spatial_head = SpatialHead(channels, grids, reduce=head_reduce, dim=head_dim)
            self.embedding_dim = int(head_dim)
            for backbone in self.backbones.values():
                drop_timm_head(backbone)
        self.embedding_norm = EmbeddingNorm(embedding_norm, self.embedding_dim, views)
        # None for losses without a temperature: under DDP every parameter must get a gradient.
        self.logit_scale = None if logit_scale_init is None else nn.Parameter(torch.tensor(float(logit_scale_init)))

    def backbone(self, view: str) -> nn.Module:
        """The backbone that encodes ``view``."""
        if self.shared:
            return self.backbones["shared"]
        if view not in self.backbones:
            raise ConfigError(f"this model has backbones for {', '.join(self.backbones)} only, not for view {view!r}")
        return self.backbones[view]

    def features(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """The backbone's final feature map ``(B, C, h, w)`` (timm ``forward_features``)."""
        return self.backbone(view).forward_features(images)

    def pool(self, features: torch.Tensor, view: str) -> torch.Tensor:
        """Feature map -> embedding: timm's head without its classifier, or the spatial head."""
        if self.spatial_head is not None:
            return self.spatial_head(features, view)
        return self.backbone(view).forward_head(features, pre_logits=True)

    def project(self, embedding: torch.Tensor, view: str) -> torch.Tensor:
        """A per-view transformation of the pooled embedding; identity here."""
        return embedding

    def embed(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """Unnormalised embedding of a batch of ``view`` images."""
        return self.embedding_norm(self.project(self.pool(self.features(images, view), view), view), view)

    def encode(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """L2-normalised float embeddings (the ``CVGLModel`` contract)."""
        return F.normalize(self.embed(images, view).float(), dim=-1)

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings of a batch of pairs (query view, reference view), normalised."""
        return self.encode(query, self.query_view), self.encode(reference, self.reference_view)
