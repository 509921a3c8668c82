"""The interface between the harness and a method plugin.

The harness knows no method by name: it loads a :class:`Method` through its spec, asks it for
the hyper-parameters of a profile, builds the model, lets the method train it with toolkit
parts of its choosing, and embeds images through :meth:`CVGLModel.encode`.

Retrieval stays factorised: a reference embedding never depends on the query, so a gallery
is embedded once and searched exactly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch stays out of listing commands
    import torch

    from .data.structures import TrainData
    from .specs import SplitSpec


class Method(abc.ABC):
    """A trainable cross-view geo-localization method.

    Subclasses are what a ``MethodSpec`` loader returns. Everything a method needs from the
    core (timm encoders, InfoNCE, GPS and DSS samplers, paired augmentation, the trainer) is in
    :mod:`cvgl_bench.train` and :mod:`cvgl_bench.data`; a method composes those parts.
    """

    #: Profiles every method offers: ``paper`` (the published recipe, GPU scale) and ``cpu``
    #: (a small recipe that runs on a laptop in minutes).
    profiles: tuple[str, ...] = ("paper", "cpu")

    unread_hparams: Mapping[str, str] = {}
    """Optional: hparams keys in the recipe that the method's model never reads (a non-timm model
    under the toolkit's ``backbone``, ``pretrained``...), each with what to use instead. A
    ``--set`` of one is refused: its variant would change nothing but the run's name."""

    @abc.abstractmethod
    def hparams(self, profile: str, train_split: SplitSpec) -> dict[str, Any]:
        """The complete recipe for training on ``train_split`` under ``profile``, as plain data.

        Must include ``image_size``: ``{view: [H, W]}`` for both views of the split. The dict
        is hashed into the cell's configuration hash, so two runs with equal hparams are the
        same experiment. Unknown profiles raise :class:`cvgl_bench.errors.ConfigError`.
        """

    @abc.abstractmethod
    def build_model(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """A freshly initialised model (seeded by the caller)."""

    @abc.abstractmethod
    def fit(self, model: CVGLModel, train: TrainData, hparams: Mapping[str, Any], run: Any) -> None:
        """Train ``model`` in place on ``train``.

        ``run`` is a :class:`cvgl_bench.train.context.RunContext`: seed, device, checkpoint
        folder, resume flag, progress, and the evaluation callback used for model selection
        and similarity mining.
        """

    @abc.abstractmethod
    def eval_transform(self, hparams: Mapping[str, Any], view: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """Map a uint8 batch ``(B, H, W, 3)`` already resized to ``hparams['image_size'][view]``
        to the float tensor ``(B, 3, H, W)`` the model expects (normalisation, layout)."""

    # -- optional (API 1.1): defaults that a method may override --------------------------------

    def validate_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Refuse hparams the method cannot honour with one :class:`~cvgl_bench.errors.ConfigError`
        line. Called on the hparams a cell's ``--set`` overrides produced; accepts everything here.
        A base class's own checks (the toolkit's, for a ``ContrastiveMethod``) run before it whether
        or not an override calls ``super()`` (:func:`check_hparams`)."""

    def _toolkit_checks(self, hparams: Mapping[str, Any]) -> None:
        """The checks a toolkit base class makes on every subclass's hparams (not a plugin hook)."""

    def _toolkit_build_checks(self, hparams: Mapping[str, Any]) -> None:
        """The toolkit's checks that build the model, after every check of the settings (not a plugin hook)."""

    def load_model(self, hparams: Mapping[str, Any], checkpoint: str | Path) -> CVGLModel:
        """The model of ``hparams`` with the weights saved in ``checkpoint`` (a ``state_dict``,
        read with ``weights_only=True``), in eval mode. The runner reuses checkpoints through
        this, and the leaderboard draws spatial maps with it."""
        from .checkpoints import load_model_state, read_checkpoint

        path = Path(checkpoint)
        fix = "delete it, or rerun with --restart, to train again"
        model = self.model_for_weights(hparams)
        load_model_state(model, read_checkpoint(path, fix), path, fix)
        model.eval()
        return model

    def model_for_weights(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """The model of ``hparams`` that saved weights are about to replace (:meth:`load_model`,
        ``run --checkpoint``): :meth:`build_model` by default. A method whose ``build_model``
        also loads initial weights (ImageNet, possibly downloaded) overrides it to skip them:
        they would be overwritten, and a released model must score without a network."""
        return self.build_model(hparams)

    def import_checkpoint(self, state: Mapping[str, Any], hparams: Mapping[str, Any]) -> Mapping[str, Any]:
        """A checkpoint's state_dict in this method's own key layout (``run --checkpoint FILE``).

        The default accepts cvgl-bench's own ``model.pt`` layout unchanged. A method whose
        authors publish trained weights overrides it to translate their layout (Sample4Geo: the
        timm model under ``model.`` plus ``logit_scale``). Keys it cannot place are left as they
        are, for the strict load to name.
        """
        return state


class CVGLModel(abc.ABC):
    """What every method's model offers (mix into a ``torch.nn.Module``).

    ``encode`` returns L2-normalised float embeddings ``(B, embedding_dim)`` of images of one
    view; the harness checks the normalisation.
    """

    embedding_dim: int

    @abc.abstractmethod
    def encode(self, images: torch.Tensor, view: str) -> torch.Tensor:
        """Embed a batch of images of ``view`` (``ground``, ``drone`` or ``satellite``)."""

    # -- optional (API 1.1): defaults that a model may override ---------------------------------

    def loss_scale(self) -> torch.Tensor | None:
        """The learnable log temperature the training loss reads (``loss(query, reference, scale)``).

        The default is the model's ``logit_scale`` parameter when it registered one (a model that
        trains without a temperature, such as a triplet loss, has none: ``None``).
        """
        return getattr(self, "logit_scale", None)

    def spatial_maps(self, images: torch.Tensor, view: str) -> dict[str, torch.Tensor]:
        """Optional (API 1.1): maps over the input ``{name: (B, h, w)}`` that say where the model
        looks or how it aligns the views (attention, correspondence), drawn by the leaderboard.
        ``images`` is a transformed batch of ``view``; none by default."""
        return {}


def plain_json_problem(hparams: Any) -> str | None:
    """Why ``hparams`` is not plain JSON data (numbers, strings, lists, dicts), or None. Hparams
    are hashed into the configuration id and stored in every record, so a NumPy scalar or a
    tuple key must be refused before any work, not found when the record is written."""
    import json

    infinite = _non_finite(hparams)
    if infinite:
        return f"{infinite[0]} is {infinite[1]}, which JSON cannot hold"
    try:
        json.dumps(hparams, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """(dotted key, value) of the first NaN or infinity in ``value``, or None."""
    import math

    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "the value", value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def check_hparams(method: Method, hparams: Mapping[str, Any]) -> None:
    """Every check of a cell's hparams before any data is read: the toolkit base class's own,
    which an override of :meth:`Method.validate_hparams` cannot drop, then the method's, then the
    toolkit's checks that build the model."""
    method._toolkit_checks(hparams)
    method.validate_hparams(hparams)
    method._toolkit_build_checks(hparams)
