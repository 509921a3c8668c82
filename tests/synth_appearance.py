"""A summary of how a generated synthetic dataset looks, stable across runs and machines.

Per image folder: the number of images and the mean over its images of the pixel mean, the
pixel standard deviation and the mean absolute Laplacian (sharpness). Generation is
deterministic up to a few pixels off by one or two levels (float rounding), which moves these
by far less than :data:`TOLERANCE`; a change of style, blur, camera or layout moves them by
much more. ``tests/test_synth_layouts.py`` compares it with ``tests/data/synth_appearance.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TOLERANCE = 2e-4
"""Relative difference above which a statistic counts as changed (measured noise: below 1e-6)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def summarize(root: Path) -> dict[str, list[float]]:
    """``{folder: [n_images, mean, std, sharpness]}`` over the image files under ``root``."""
    sums: dict[str, np.ndarray] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        grey = pixels.mean(axis=2)
        laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
        folder = "/".join(path.relative_to(root).parts[:-1][:2])
        sums.setdefault(folder, np.zeros(4))
        sums[folder] += [1.0, pixels.mean(), pixels.std(), np.abs(laplacian).mean()]
    return {folder: [int(s[0]), *(round(float(v / s[0]), 6) for v in s[1:])] for folder, s in sorted(sums.items())}


def differences(expected: dict[str, list[float]], actual: dict[str, list[float]]) -> list[str]:
    """Human-readable differences beyond :data:`TOLERANCE` (empty when the two agree)."""
    out = []
    for folder in sorted(set(expected) | set(actual)):
        if folder not in actual or folder not in expected:
            out.append(f"{folder}: {'missing' if folder not in actual else 'new'}")
            continue
        want, got = expected[folder], actual[folder]
        if want[0] != got[0]:
            out.append(f"{folder}: {got[0]} images, expected {want[0]}")
        for name, w, g in zip(("mean", "std", "sharpness"), want[1:], got[1:]):
            if abs(g - w) > TOLERANCE * max(abs(w), 1e-9):
                out.append(f"{folder}: {name} {g:.4f}, expected {w:.4f}")
    return out
