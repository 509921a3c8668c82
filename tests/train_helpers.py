"""Small models, methods and data for the training-toolkit tests (fast on 2 CPU cores)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.data.structures import ImageSet, TrainData
from cvgl_bench.method import CVGLModel
from cvgl_bench.specs import SplitSpec
from cvgl_bench.train.base import ContrastiveMethod
from cvgl_bench.train.losses import LOGIT_SCALE_INIT


class TinyPairModel(nn.Module, CVGLModel):
    """Two small conv layers shared by both views, average pool, LayerNorm, L2 norm."""

    def __init__(self, views=("ground", "satellite"), width: int = 8, dim: int = 16, logit_scale: bool = True):
        super().__init__()
        self.query_view, self.reference_view = views
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(dim)
        self.embedding_dim = dim
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT)) if logit_scale else None
        self.forward_calls = 0

    def encode(self, images: torch.Tensor, view: str) -> torch.Tensor:
        self.forward_calls += 1
        x = self.conv2(F.relu(self.conv1(images)))
        return F.normalize(self.norm(x.mean(dim=(2, 3))), dim=-1)

    def forward(self, query: torch.Tensor, reference: torch.Tensor):
        return self.encode(query, self.query_view), self.encode(reference, self.reference_view)


class TinyMethod(ContrastiveMethod):
    """A ContrastiveMethod with a tiny model and tiny images, for end-to-end toolkit tests."""

    overrides: dict[str, Any] = {}

    def recipes(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        tiny = {
            "backbone": None, "pretrained": False,
            "image_sizes": {"ground": [16, 64], "satellite": [16, 16], "drone": [16, 16]},
            "batch_size": 8, "epochs": 2, "lr": 1e-3, "warmup_epochs": 0.5,
            "neighbour_select": 4, "neighbour_range": 8, "dss_every": 1, "eval_every": 1,
            "threads": 2, "embed_batch_size": 16, "amp": False,
        }
        tiny.update(self.overrides)
        return {"paper": {"default": tiny}, "cpu": {"default": tiny}}

    def build_model(self, hparams: Mapping[str, Any]) -> CVGLModel:
        return TinyPairModel(tuple(hparams["views"]))


def train_split_spec(layout: str = "cvusa", query_view: str = "ground", reference_view: str = "satellite") -> SplitSpec:
    return SplitSpec(name=f"toy_{layout}_train", loader="tests.fake_plugins.heavy:load_split", role="train",
                     layout=layout, query_view=query_view, reference_view=reference_view)


def toy_train_data(n_locations: int = 24, pairs_per_location: int = 1, seed: int = 0,
                   views=("ground", "satellite")) -> TrainData:
    """A training split without image files: ids, fake paths and coordinates only."""
    rng = np.random.default_rng(seed)
    n_queries = n_locations * pairs_per_location
    latlon = np.c_[40 + rng.random(n_locations), -100 + rng.random(n_locations)]
    queries = ImageSet(views[0], [f"q{i}" for i in range(n_queries)], [f"/nonexistent/q{i}.png" for i in range(n_queries)],
                       latlon=np.repeat(latlon, pairs_per_location, axis=0))
    references = ImageSet(views[1], [f"r{i}" for i in range(n_locations)],
                          [f"/nonexistent/r{i}.png" for i in range(n_locations)], latlon=latlon)
    pairs = np.c_[np.arange(n_queries), np.repeat(np.arange(n_locations), pairs_per_location)]
    return TrainData("toy_train", queries, references, pairs)


def toy_images(n: int, size, seed: int = 0) -> np.ndarray:
    """Random uint8 images (n, H, W, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)
