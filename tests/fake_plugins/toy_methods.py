"""Toy methods for the runner and the conformance suite: one that works, and one per way of being broken.

Every toy is a small :class:`~cvgl_bench.train.base.ContrastiveMethod` on tiny images (the
``TinyMethod`` of the training-toolkit tests), so a check or a run takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench import MethodSpec, hookimpl
from tests.train_helpers import TinyMethod, TinyPairModel


class Unnormalised(TinyPairModel):
    def encode(self, images, view):
        return 3.0 * super().encode(images, view)


class WrongShape(TinyPairModel):
    def encode(self, images, view):
        return super().encode(images, view)[:, : self.embedding_dim // 2]


class NeedsABatch(TinyPairModel):
    """Like a BatchNorm left in training mode: a batch of one image cannot be embedded."""

    def encode(self, images, view):
        if images.shape[0] == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        return super().encode(images, view)


class NoGradient(TinyPairModel):
    def encode(self, images, view):
        with torch.no_grad():
            return super().encode(images, view)


class UnusedParameter(TinyPairModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.forgotten = nn.Linear(4, 4)


class BatchDependent(TinyPairModel):
    def encode(self, images, view):
        x = self.conv2(F.relu(self.conv1(images))).mean(dim=(2, 3))
        return F.normalize(x - x.mean(dim=0, keepdim=True) + 0.1, dim=-1)


class NonDeterministic(TinyPairModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
        with torch.no_grad():
            self.conv1.weight.copy_(torch.randn(self.conv1.weight.shape, generator=generator))


class Frozen(TinyPairModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requires_grad_(False)


class NaNEmbeddings(TinyPairModel):
    def encode(self, images, view):
        return super().encode(images, view) * float("nan")


class NoRoundTrip(TinyPairModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offset = torch.randn(self.embedding_dim)  # learned state outside the state_dict

    def encode(self, images, view):
        x = self.conv2(F.relu(self.conv1(images))).mean(dim=(2, 3))
        return F.normalize(self.norm(x) + self.offset, dim=-1)


def toy(model_class: type) -> type:
    """A TinyMethod whose model is ``model_class``."""

    class Toy(TinyMethod):
        def build_model(self, hparams: Mapping[str, Any]):
            return model_class(tuple(hparams["views"]))

    Toy.__name__ = f"Toy{model_class.__name__}"
    return Toy


class DoesNotLearn(TinyMethod):
    def fit(self, model, train, hparams, run):
        return None


class TinyLearningRate(TinyMethod):
    overrides = {"lr": 1e-12}  # fit() runs, but the weights do not move (batch statistics still do)


class BadRecipe(TinyMethod):
    def hparams(self, profile, train_split):
        hp = super().hparams(profile, train_split)
        del hp["image_size"]["satellite"]
        return hp


class NumpyRecipe(TinyMethod):
    def hparams(self, profile, train_split):
        import numpy as np

        return {**super().hparams(profile, train_split), "lr": np.float32(1e-2)}


class InfiniteDroneRecipe(TinyMethod):
    """Fine on the split the checks train on; its university1652 entry holds an infinity."""

    def hparams(self, profile, train_split):
        hparams = super().hparams(profile, train_split)
        return {**hparams, "lr": float("inf")} if train_split.layout == "university1652" else hparams


class PlainOwnLoss:
    """A plain Method (not the toolkit's) whose own loss trains a parameter encode never uses."""

    def __new__(cls):
        from cvgl_bench.method import Method

        class Plain(Method):
            inner = TinyMethod()

            def hparams(self, profile, train_split):
                return self.inner.hparams(profile, train_split)

            def build_model(self, hparams):
                model = self.inner.build_model(hparams)
                model.margin = nn.Parameter(torch.zeros(()))  # trained by its own triplet loss
                return model

            def fit(self, model, train, hparams, run):
                return self.inner.fit(model, train, hparams, run)

            def eval_transform(self, hparams, view):
                return self.inner.eval_transform(hparams, view)

        return Plain()


TOYS = {
    "tiny": TinyMethod,
    "toy_unnormalised": toy(Unnormalised),
    "toy_wrong_shape": toy(WrongShape),
    "toy_no_gradient": toy(NoGradient),
    "toy_unused_parameter": toy(UnusedParameter),
    "toy_batch_dependent": toy(BatchDependent),
    "toy_nondeterministic": toy(NonDeterministic),
    "toy_no_round_trip": toy(NoRoundTrip),
    "toy_frozen": toy(Frozen),
    "toy_nan": toy(NaNEmbeddings),
    "toy_does_not_learn": DoesNotLearn,
    "toy_tiny_lr": TinyLearningRate,
    "toy_bad_recipe": BadRecipe,
    "toy_numpy_recipe": NumpyRecipe,
    "toy_inf_drone_recipe": InfiniteDroneRecipe,
    "toy_plain_own_loss": PlainOwnLoss,
    "toy_needs_a_batch": toy(NeedsABatch),
}


@hookimpl
def cvgl_bench_register_methods(register):
    for name, factory in TOYS.items():
        register(MethodSpec(name=name, loader=factory, summary="a toy method for tests"))
