"""SAFA on the cvgl-bench toolkit: :class:`SAFAModel` trained with the weighted soft-margin triplet.

Paper recipe (Shi et al., NeurIPS 2019, and the authors' ``train_cvusa.py`` / ``train_cvact.py``):
two VGG16 branches with ImageNet weights, satellite tiles polar-transformed to the panorama's
geometry, ``K = 8`` spatial-aware embeddings, the weighted soft-margin triplet loss with
``alpha = 10`` over every in-batch negative in both directions, Adam (0.9, 0.999) at a fixed
lr 1e-5 without weight decay, batches of 32 drawn at random, no augmentation, dropout 0.2
(keep 0.8) in the last two VGG blocks; 10 epochs on CVUSA (one ``train_cvusa.py`` run), 100 on
CVACT. Panoramas are 112x616 and so are the polar images.

Deviations, each stated in the plugin metadata: timm's VGG16 ImageNet weights with mean/std
normalisation (the authors restore their own VGG16 checkpoint and subtract BGR means); the polar
image is made from a 256 px tile inside the model (the authors precompute it from the 750 /
1200 px original); CVACT's mask of negatives closer than the positive radius is not applied.

SAFA embeds ground panoramas and satellite tiles only (the polar transform needs a panorama's
geometry): the plugin registers ``views=("ground", "satellite")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from cvgl_bench.errors import ConfigError
from cvgl_bench.method import CVGLModel
from cvgl_bench.train.augment import NO_PHOTOMETRIC
from cvgl_bench.train.base import TOOLKIT_DEFAULTS, ContrastiveMethod, deep_merge
from cvgl_bench.train.losses import SoftMarginTriplet
from cvgl_bench.train.pretrained import SYNTH_CONVNEXT_ATTO

NO_AUGMENT = {"flip_p": 0.0, "rotate_p": 0.0, "rotate_mode": "none", "jpeg_p": 0.0, "color_jitter_p": 0.0,
              "blur_sharpen_p": 0.0, "dropout_p": 0.0}

SAFA_OPTIONS: dict[str, Any] = {
    "spatial_embeddings": 8,
    "polar": True,
    # Panorama column of north: the synthetic world, CVUSA and CVACT put north on the centre
    # column (SAFA's data_preparation.py samples north at W/2); cvgl_bench.data.polar convention.
    "polar_north": 0.5,
    "dropout": 0.2,
    "triplet_weight": 10.0,
    # non-VGG trunks: the timm features_only stage whose map is aggregated (None: the last)
    "trunk_stage": None,
}

_PAPER: dict[str, dict[str, Any]] = {
    "default": {
        "backbone": "vgg16",
        "pretrained": True,
        "shared_backbone": False,
        "image_sizes": {"ground": [112, 616], "satellite": [256, 256]},
        "polar_size": [112, 616],
        "batch_size": 32,
        "epochs": 10,
        "lr": 1e-5,
        "lr_schedule": "constant",
        "warmup_epochs": 0.0,
        "weight_decay": 0.0,
        "grad_clip_value": None,
        "sampler": "random",
        "dss_every": 0,
        "eval_every": 1,
        "augment": NO_AUGMENT,
        "amp": False,  # the official code (TensorFlow) trains in float32
        "workers": 4,
        "embed_batch_size": 128,
        # the head's channel reduction: max as in the first commit of the authors' code, which the
        # paper's numbers come from, and VIGOR's SAFA; the authors' current code uses mean
        # (--set channel_pool=mean). The cpu profile keeps max without stating it.
        "channel_pool": "max",
        **SAFA_OPTIONS,
    },
    "cvusa": {},
    # epochs: 10 on CVUSA as the first commit's train_cvusa.py (the authors' current code runs 100), 100
    # on CVACT as its train_cvact.py
    # CVACT: the official input keeps the middle half of the panorama's rows (train_cvact.py's data
    # reader resizes to 616 x 224 and keeps rows 56:-56); the 112 x 616 input is that band
    "cvact": {"epochs": 100, "crop_rows": {"ground": [0.25, 0.75]}},
    # VIGOR is not in the SAFA paper: full 2:1 panoramas at 320x640 and a 320 px tile are our choice.
    "vigor": {"image_sizes": {"ground": [320, 640], "satellite": [320, 320]}, "polar_size": [320, 640]},
}

# The cpu profile: SAFA's model and loss on the shared synthetic-pretrained ConvNeXt-atto (the
# analogue of the paper's ImageNet VGG16), aggregated at stride 16 (stage 2, as VGG's conv5),
# stem and first stage frozen, paired flips and rotations but no photometric augmentation, and
# a cosine schedule at 3e-4 instead of the paper's fixed 1e-5 (measured: docs/synth.md).
_CPU: dict[str, dict[str, Any]] = {
    "default": {
        "backbone": "convnext_atto",
        "pretrained": SYNTH_CONVNEXT_ATTO,
        "frozen_stages": 1,
        "shared_backbone": False,
        "image_sizes": {"ground": [64, 256], "satellite": [128, 128]},
        "polar_size": [64, 256],
        "batch_size": 32,
        "epochs": 8,
        "lr": 3e-4,
        "lr_schedule": "cosine",
        "warmup_epochs": 0.5,
        "weight_decay": 0.0,
        "grad_clip_value": None,
        "sampler": "random",
        "dss_every": 0,
        "eval_every": 0,
        "augment": {"flip_p": 0.5, "rotate_p": 0.75, "rotate_mode": "paired", **NO_PHOTOMETRIC},
        "amp": False,
        "threads": 2,
        "workers": 0,
        "embed_batch_size": 64,
        **SAFA_OPTIONS,
        "trunk_stage": 2,
    },
    # CVUSA and CVACT twins train on 4,000 pairs (layout revision 1): half the epochs and half
    # the warm-up keep the optimiser steps of the 2,000-pair recipe
    "cvusa": {"epochs": 4, "warmup_epochs": 0.25},
    "cvact": {"epochs": 4, "warmup_epochs": 0.25},
}


#: what both profiles share beyond their own entries (the GPS neighbour sizes of the sampler; the
#: label smoothing is read by no part of SAFA's triplet loss, and is stated to keep its configuration)
_BASE: dict[str, Any] = {"label_smoothing": 0.1, "neighbour_select": 64, "neighbour_range": 128}


class SAFA(ContrastiveMethod):
    """SAFA (NeurIPS 2019): ``paper`` and ``cpu`` profiles; ground <-> satellite only."""

    unread_hparams = {
        "backbone_kwargs": "SAFA builds its trunks from backbone, pretrained and dropout alone",
        "backbone_stages": "SAFA aggregates the map of stage trunk_stage: set trunk_stage",
        "grad_checkpointing": "SAFA's trunks run without gradient checkpointing",
        "head": "SAFA's head is its spatial-aware aggregation: set spatial_embeddings or channel_pool",
        "head_dim": "SAFA's descriptor size follows from the trunk's map and spatial_embeddings",
        "head_reduce": "SAFA's head is its spatial-aware aggregation: set spatial_embeddings or channel_pool",
    }

    def base_hparams(self) -> dict[str, Any]:
        """The toolkit's neutral parts and what both profiles share (no starting recipe of the core)."""
        return deep_merge(TOOLKIT_DEFAULTS, _BASE)

    def hparams(self, profile: str, train_split: Any) -> dict[str, Any]:
        views = (train_split.query_view, train_split.reference_view)
        if set(views) != {"ground", "satellite"}:  # before the recipe's sizes are looked up
            raise ConfigError(f"SAFA embeds ground panoramas and satellite tiles only, not {' and '.join(views)}")
        return super().hparams(profile, train_split)

    def recipes(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        return {"paper": _PAPER, "cpu": _CPU}

    def validate_hparams(self, hp: Mapping[str, Any]) -> None:
        super().validate_hparams(hp)
        views = set(hp["views"])
        if views != {"ground", "satellite"}:
            raise ConfigError(f"SAFA embeds ground panoramas and satellite tiles only, not {' and '.join(hp['views'])}")
        if hp.get("shared_backbone"):
            raise ConfigError("SAFA's two branches never share weights; set shared_backbone to false")
        if float(hp["triplet_weight"]) <= 0:
            raise ConfigError(f"triplet_weight must be positive, not {hp['triplet_weight']!r}")
        sat = hp["image_size"]["satellite"]
        if hp.get("polar", True) and sat[0] != sat[1]:
            raise ConfigError(f"SAFA's polar transform needs square satellite tiles, not {sat[0]}x{sat[1]}")

    def build_model(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """Two fresh branches (polar transform inside the satellite branch), ``K`` SAFA heads each."""
        from .model import SAFAModel

        return SAFAModel.from_hparams(hparams)

    def build_loss(self, hparams: Mapping[str, Any]) -> nn.Module:
        """The weighted soft-margin triplet loss of the toolkit (``alpha = triplet_weight``)."""
        return SoftMarginTriplet(float(hparams["triplet_weight"]))
