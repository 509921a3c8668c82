"""Smooth value noise on grids (vectorised, deterministic given the generator)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _weights(n_out: int, n_in: int, scale: float, offset: float) -> np.ndarray:
    """Dense interpolation matrix (n_out x n_in) with smoothstep weights between knots."""
    t = np.arange(n_out, dtype=np.float64) / scale + offset
    i = np.floor(t).astype(np.int64)
    f = t - i
    f = f * f * (3.0 - 2.0 * f)
    w = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    w[rows, np.clip(i, 0, n_in - 1)] += (1.0 - f).astype(np.float32)
    w[rows, np.clip(i + 1, 0, n_in - 1)] += f.astype(np.float32)
    return w


def value_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``scale`` cells across (float32).

    Random knots every ``scale`` cells, interpolated with smoothstep weights; the
    interpolation is two small matrix products, so any scale costs about the same.
    """
    scale = max(float(scale), 1.0)
    h, w = shape
    ch, cw = int(np.ceil(h / scale)) + 2, int(np.ceil(w / scale)) + 2
    coarse = rng.random((ch, cw), dtype=np.float32)
    oy, ox = rng.random(2)
    out = _weights(h, ch, scale, oy) @ coarse @ _weights(w, cw, scale, ox).T
    # stretch back the contrast lost by blending
    return np.clip((out - 0.5) * 1.5 + 0.5, 0.0, 1.0).astype(np.float32, copy=False)


def fbm(rng: np.random.Generator, shape: tuple[int, int], scales: tuple[float, ...],
        gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value noise octaves, normalised to zero mean and unit-ish spread."""
    total = np.zeros(shape, np.float32)
    weight, norm = 1.0, 0.0
    for scale in scales:
        total += weight * (value_noise(rng, shape, scale) - 0.5)
        norm += weight
        weight *= gain
    return total * np.float32(2.0 / norm)


def grain(rng: np.random.Generator, shape: tuple[int, int], blur: float = 0.0) -> np.ndarray:
    """Per-cell white noise in [-1, 1], optionally softened by a box blur of ``blur`` cells."""
    out = rng.random(shape, dtype=np.float32) * 2.0 - 1.0
    if blur > 0:
        size = max(2, int(round(blur)))
        out = ndimage.uniform_filter(out, size) * np.float32(np.sqrt(size))
    return out
