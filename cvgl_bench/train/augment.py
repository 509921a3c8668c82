"""Training augmentation of image pairs: geometry applied to both views consistently, then
photometric noise per view. Deterministic: every random choice of a sample comes from its own
``torch.Generator``, seeded from (run seed, epoch, pair index), so a batch augments the same
way whatever the batch composition, the number of data-loader workers or the world size.

Geometry (Sample4Geo):

- **flip both**: a horizontal mirror of the satellite tile is an east-west mirror of the
  world; for a north-aligned 360° panorama it mirrors the azimuth, i.e. reverses the columns.
- **rotate**: the satellite rotated by ``k`` x 90° counter-clockwise (``torch.rot90`` over
  (H, W)) shows the world turned so that east is up; the north-aligned panorama then starts
  at east: it is rolled left by ``k`` quarters (``k * W // 4`` columns). ``k`` is drawn from
  {1, 2, 3} with probability ``rotate_p``.
  Mode ``paired`` does this for a ground-satellite pair; mode ``reference`` rotates only the
  satellite (University-1652, where the drone photo is not rotated); ``none`` disables it.

Photometric, per view, in Sample4Geo's order (albumentations re-expressed in torch):
JPEG re-compression (quality 90-100, p 0.5), colour jitter (brightness, contrast, saturation
±15 %, hue ±0.15 turn, random order, p 0.5), one of {anisotropic Gaussian blur, sharpen} (p 0.3),
one of {grid dropout (ratio 0.4 satellite / 0.5 other views), coarse dropout (10-25 holes of
10-20 % of the image height)} (p 0.3). Differences to Sample4Geo: images arrive already
resized, so JPEG re-compression happens at model resolution rather than on the full image
before the resize, which keeps more of its artefacts (a somewhat stronger augmentation); the blur
kernel is Gaussian (albumentations' AdvancedBlur also varies its shape and adds kernel
noise); the hue shift rotates the chroma plane in YIQ space instead of shifting HSV hue;
geometry is applied before the photometric steps (Sample4Geo rotates last, which only
moves where dropout holes fall).
"""

from __future__ import annotations

__all__ = ["NO_PHOTOMETRIC", "ROTATE_MODES", "AugmentConfig", "PairAugment", "flip_view", "paired_geometry",
           "roll_panorama", "rotate_satellite"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import io
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from ..errors import ConfigError
from .seeds import derived_seed

ROTATE_MODES = ("paired", "reference", "none")

NO_PHOTOMETRIC: dict[str, float] = {"jpeg_p": 0.0, "color_jitter_p": 0.0, "blur_sharpen_p": 0.0, "dropout_p": 0.0}
"""``augment`` overrides that switch every photometric step off (geometry stays): the ``cpu``
recipes' setting, where a budget of a few epochs cannot afford them (docs/synth.md)."""


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentation (``hparams['augment']``)."""

    flip_p: float = 0.5
    rotate_p: float = 0.75
    rotate_mode: str = "paired"
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (90, 100)
    color_jitter_p: float = 0.5
    color_jitter: float = 0.15
    blur_sharpen_p: float = 0.3
    dropout_p: float = 0.3
    grid_ratio: Mapping[str, float] = field(default_factory=lambda: {"satellite": 0.4, "ground": 0.5, "drone": 0.5})
    coarse_holes: tuple[int, int] = (10, 25)
    coarse_hole_size: tuple[float, float] = (0.1, 0.2)

    def __post_init__(self) -> None:
        if self.rotate_mode not in ROTATE_MODES:
            raise ConfigError(f"augment.rotate_mode {self.rotate_mode!r} is not one of {', '.join(ROTATE_MODES)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"augment.{f.name} must be a probability in [0, 1], not {value}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AugmentConfig:
        """Build from plain hparams data; unknown keys are a one-line error."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown augment option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for key in ("jpeg_quality", "coarse_holes", "coarse_hole_size"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping) else value
        return out

    @classmethod
    def disabled(cls) -> AugmentConfig:
        """No augmentation at all (tests, ablations)."""
        return cls(flip_p=0.0, rotate_p=0.0, rotate_mode="none", jpeg_p=0.0, color_jitter_p=0.0,
                   blur_sharpen_p=0.0, dropout_p=0.0)


# --- geometry (layout (H, W, C) or (H, W); any dtype) -----------------------------------------

def flip_view(image: torch.Tensor) -> torch.Tensor:
    """Horizontal mirror of an ``(H, W, ...)`` image (a panorama's azimuth reversed)."""
    return image.flip(1)


def rotate_satellite(image: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate an ``(H, W, ...)`` satellite tile by ``k`` x 90° counter-clockwise."""
    return torch.rot90(image, k, dims=(0, 1))


def roll_panorama(image: torch.Tensor, k: int) -> torch.Tensor:
    """Turn a north-aligned ``(H, W, ...)`` panorama by ``k`` quarters: roll left by ``k * W // 4``."""
    return torch.roll(image, shifts=-(image.shape[1] // 4) * k, dims=1)


def paired_geometry(query: torch.Tensor, reference: torch.Tensor, views: tuple[str, str], *, flip: bool,
                    k: int, mode: str = "paired") -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one draw of the paired geometry to a (query, reference) pair of ``(H, W, ...)`` images.

    ``views`` are the views of (query, reference). ``mode='paired'`` rotates the satellite by
    ``k`` quarters and rolls the ground panorama by ``k`` quarters; ``'reference'`` rotates
    only the satellite; drone photos are never rotated.
    """
    pair = [query, reference]
    if flip:
        pair = [flip_view(x) for x in pair]
    if k % 4 and mode != "none":
        for i, view in enumerate(views):
            if view == "satellite":
                pair[i] = rotate_satellite(pair[i], k)
            elif view == "ground" and mode == "paired":
                pair[i] = roll_panorama(pair[i], k)
    return pair[0], pair[1]


# --- photometric (float (3, H, W) in [0, 1]) ----------------------------------------------------

def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def _randint(gen: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, (), generator=gen))


def _jpeg(image_u8: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of a uint8 ``(3, H, W)`` image: torchvision's codec (2-3x faster than
    Pillow's here; deprecated since torchvision 0.29), Pillow where it is gone."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import decode_jpeg, encode_jpeg
    except ImportError:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image_u8.permute(1, 2, 0).numpy()).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return torch.from_numpy(np.asarray(decoded.convert("RGB"))).permute(2, 0, 1).contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(encode_jpeg(image_u8.contiguous(), quality=quality))


def _color_jitter(x: torch.Tensor, gen: torch.Generator, amount: float) -> torch.Tensor:
    ops = torch.randperm(4, generator=gen).tolist()
    for op in ops:
        if op == 0:
            x = TF.adjust_brightness(x, _uniform(gen, 1 - amount, 1 + amount))
        elif op == 1:
            x = TF.adjust_contrast(x, _uniform(gen, 1 - amount, 1 + amount))
        elif op == 2:
            x = TF.adjust_saturation(x, _uniform(gen, 1 - amount, 1 + amount))
        else:
            x = _rotate_hue(x, _uniform(gen, -amount, amount))
    return x


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                           dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _rotate_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    """Shift the hue by ``shift`` turns: a rotation of the chroma plane in YIQ space (a linear,
    10x cheaper stand-in for the HSV hue shift; grey stays grey, luma is kept)."""
    c, s = math.cos(-2 * math.pi * shift), math.sin(-2 * math.pi * shift)  # same direction as HSV
    rotation = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)
    matrix = (_YIQ_TO_RGB @ rotation @ _RGB_TO_YIQ).to(x.dtype)
    return torch.einsum("ij,jhw->ihw", matrix, x).clamp_(0, 1)


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = kernel.shape[-1] // 2
    weight = kernel.to(x.dtype).expand(x.shape[0], 1, *kernel.shape)
    padded = F.pad(x[None], (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, weight, groups=x.shape[0])[0].clamp_(0, 1)


def _blur(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    size = 2 * _randint(gen, 1, 3) + 1
    sx, sy = _uniform(gen, 0.2, 1.0), _uniform(gen, 0.2, 1.0)
    theta = _uniform(gen, -math.pi / 2, math.pi / 2)
    r = torch.arange(size, dtype=torch.float64) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    kernel = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return _filter(x, (kernel / kernel.sum()).float())


def _sharpen(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    alpha, lightness = _uniform(gen, 0.2, 0.5), _uniform(gen, 0.5, 1.0)
    effect = -torch.ones(3, 3)
    effect[1, 1] = 8 + lightness
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1
    return _filter(x, (1 - alpha) * identity + alpha * effect)


def _grid_dropout(x: torch.Tensor, ratio: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    cell_h, cell_w = max(2, h // 10), max(2, w // 10)
    hole_h, hole_w = max(1, round(cell_h * ratio)), max(1, round(cell_w * ratio))
    rows = (torch.arange(h) % cell_h) < hole_h
    cols = (torch.arange(w) % cell_w) < hole_w
    return x.masked_fill(rows[:, None] & cols[None, :], 0.0)


def _coarse_dropout(x: torch.Tensor, gen: torch.Generator, holes: tuple[int, int],
                    size: tuple[float, float]) -> torch.Tensor:
    h, w = x.shape[-2:]
    lo, hi = max(1, int(size[0] * h)), max(1, int(size[1] * h))
    x = x.clone()
    for _ in range(_randint(gen, *holes)):
        hh, ww = _randint(gen, lo, hi), _randint(gen, lo, hi)
        y0, x0 = _randint(gen, 0, max(0, h - hh)), _randint(gen, 0, max(0, w - ww))
        x[:, y0:y0 + hh, x0:x0 + ww] = 0.0
    return x


def photometric(image_u8: torch.Tensor, view: str, gen: torch.Generator, config: AugmentConfig) -> torch.Tensor:
    """Per-view photometric augmentation of one ``(H, W, 3)`` uint8 image -> float ``(3, H, W)`` in [0, 1]."""
    x = image_u8.permute(2, 0, 1).contiguous()
    if config.jpeg_p and float(torch.rand((), generator=gen)) < config.jpeg_p:
        x = _jpeg(x, _randint(gen, *config.jpeg_quality))
    x = x.float().div_(255)
    if config.color_jitter_p and float(torch.rand((), generator=gen)) < config.color_jitter_p:
        x = _color_jitter(x, gen, config.color_jitter)
    if config.blur_sharpen_p and float(torch.rand((), generator=gen)) < config.blur_sharpen_p:
        x = _blur(x, gen) if float(torch.rand((), generator=gen)) < 0.5 else _sharpen(x, gen)
    if config.dropout_p and float(torch.rand((), generator=gen)) < config.dropout_p:
        if float(torch.rand((), generator=gen)) < 0.5:
            x = _grid_dropout(x, float(config.grid_ratio.get(view, 0.5)))
        else:
            x = _coarse_dropout(x, gen, config.coarse_holes, config.coarse_hole_size)
    return x


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's generator: a hash of (run seed, epoch, pair index)."""
    return derived_seed(seed, epoch, index, 0xA06)


class PairAugment:
    """Augment batches of (query, reference) uint8 ``(B, H, W, 3)`` images.

    Returns float ``(B, 3, H, W)`` tensors in [0, 1]; normalisation is the method's business
    (the same as at evaluation).
    """

    def __init__(self, config: AugmentConfig, views: tuple[str, str]):
        self.config = config
        self.views = tuple(views)
        if config.rotate_mode == "paired" and config.rotate_p > 0 and set(self.views) != {"ground", "satellite"}:
            raise ConfigError(f"augment.rotate_mode 'paired' needs a ground-satellite pair, not views {self.views}; "
                              f"use 'reference' (rotate the satellite only) or 'none'")

    def draw_geometry(self, gen: torch.Generator) -> tuple[bool, int]:
        """One sample's (flip, k): the first draws of its generator."""
        flip = float(torch.rand((), generator=gen)) < self.config.flip_p
        rotate = float(torch.rand((), generator=gen)) < self.config.rotate_p
        k = _randint(gen, 1, 3) if rotate and self.config.rotate_mode != "none" else 0
        return flip, k

    def one(self, query: torch.Tensor, reference: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        flip, k = self.draw_geometry(gen)
        query, reference = paired_geometry(query, reference, self.views, flip=flip, k=k, mode=self.config.rotate_mode)
        return (photometric(query, self.views[0], gen, self.config),
                photometric(reference, self.views[1], gen, self.config))

    def __call__(self, query: torch.Tensor, reference: torch.Tensor,
                 seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [self.one(q, r, s) for q, r, s in zip(query, reference, seeds)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
