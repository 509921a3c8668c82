"""Polar transform: resample a north-up satellite tile into the geometry of a ground panorama.

SAFA (Shi et al., NeurIPS 2019) feeds the aerial image to its network after this transform,
so that both views share the panorama's layout: columns are azimuths, rows are distances from
the camera (the tile centre), far at the top, near at the bottom.

Convention (used everywhere in cvgl-bench; the paired augmentation relies on it):

* The satellite tile is square (side ``S`` pixels), north up, east right; the camera stands at
  the tile centre. Pixel ``(r, c)`` covers the continuous square ``[r, r+1) x [c, c+1)``.
* Panorama column ``j`` (of ``W`` columns) covers the azimuths ``[j, j+1) * 360/W`` degrees,
  measured **clockwise from north** (north -> east -> south -> west, i.e. azimuth increases to
  the right), shifted by ``north``: the azimuth at horizontal position ``x`` (continuous,
  ``0 <= x < W``) is ``360 * (x/W - north)``. ``north = 0`` (the default) puts north on the left
  edge of column 0; ``north = 0.5`` puts north on the panorama's vertical centre line.
  SAFA's ``data_preparation.py`` (CVUSA, CVACT) samples north at column ``W/2``, i.e. ``north=0.5``
  here (up to half a column).
* Panorama row ``i`` (of ``H`` rows) looks at the ground distance
  ``rho_i = (S/2) * (H - i - 0.5) / H`` pixels from the centre: row 0 at the edge of the
  inscribed circle, row ``H-1`` next to the centre.

With this convention two identities hold exactly (tests check both), which is what a paired
augmentation needs:

* rotating the satellite tile counter-clockwise by ``k * 90`` degrees (``np.rot90(tile, k)``,
  ``torch.rot90(x, k, dims=(-2, -1))``) equals rolling the polar image **left** by ``k * W/4``
  columns (``np.roll(polar, -k * W // 4, axis=-2)`` for ``(H, W, C)`` arrays), for ``W``
  divisible by 4 -- the Sample4Geo rotation augmentation;
* mirroring the tile east-west (``tile[:, ::-1]``) equals reversing the polar image's columns,
  for ``north`` in ``{0, 0.5}`` -- the Sample4Geo flip augmentation.

Interpolation is bilinear; samples that fall outside the tile (only possible within half a pixel
of its border) take the nearest border pixel. The numpy and torch versions agree to float
precision.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "polar_coordinates",
    "polar_grid",
    "polar_transform",
    "polar_transform_torch",
    "PolarTransform",
]


def _check_sizes(side: int, out_size: Sequence[int]) -> tuple[int, int, int]:
    height, width = (int(v) for v in out_size)
    if int(side) < 1 or height < 1 or width < 1:
        raise ValueError(f"polar transform needs positive sizes, got side {side} and output {tuple(out_size)}")
    return int(side), height, width


@functools.lru_cache(maxsize=64)
def _coordinates(side: int, height: int, width: int, north: float) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(height, dtype=np.float64)
    cols = np.arange(width, dtype=np.float64)
    radius = (side / 2.0) * (height - rows - 0.5) / height  # (H,)
    azimuth = 2.0 * np.pi * ((cols + 0.5) / width - north)  # (W,) clockwise from north
    # continuous positions: y grows southwards, x eastwards, tile centre at (S/2, S/2)
    y = side / 2.0 - radius[:, None] * np.cos(azimuth)[None, :]
    x = side / 2.0 + radius[:, None] * np.sin(azimuth)[None, :]
    # pixel-index coordinates: pixel k's centre sits at continuous k + 0.5
    r, c = y - 0.5, x - 0.5
    r.setflags(write=False)
    c.setflags(write=False)
    return r, c


def polar_coordinates(side: int, out_size: Sequence[int], north: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Where each panorama pixel samples the tile, in pixel-index coordinates.

    Returns read-only float64 arrays ``(rows, cols)``, each ``(H, W)``: panorama pixel
    ``(i, j)`` takes the tile's value at fractional row ``rows[i, j]`` and column
    ``cols[i, j]`` (pixel ``(r, c)``'s centre is at integer ``(r, c)``). Cached per
    ``(side, H, W, north)``.
    """
    side, height, width = _check_sizes(side, out_size)
    return _coordinates(side, height, width, float(north))


def polar_grid(side: int, out_size: Sequence[int], north: float = 0.0) -> np.ndarray:
    """The sampling grid for ``torch.nn.functional.grid_sample(..., align_corners=False)``.

    Read-only float32 array ``(H, W, 2)`` holding normalised ``(x, y)`` in ``[-1, 1]``. Cached
    per ``(side, H, W, north)``.
    """
    side, height, width = _check_sizes(side, out_size)
    return _grid(side, height, width, float(north))


@functools.lru_cache(maxsize=64)
def _grid(side: int, height: int, width: int, north: float) -> np.ndarray:
    rows, cols = _coordinates(side, height, width, north)
    grid = np.stack([(2.0 * cols + 1.0) / side - 1.0, (2.0 * rows + 1.0) / side - 1.0], axis=-1).astype(np.float32)
    grid.setflags(write=False)
    return grid


@functools.lru_cache(maxsize=64)
def _bilinear_taps(side: int, height: int, width: int, north: float):
    """Flat indices of the four neighbours of every sample and their weights (cached)."""
    rows, cols = _coordinates(side, height, width, north)
    rows = np.clip(rows, 0.0, side - 1.0)
    cols = np.clip(cols, 0.0, side - 1.0)
    r0 = np.floor(rows).astype(np.int64)
    c0 = np.floor(cols).astype(np.int64)
    fr = (rows - r0).astype(np.float32)[..., None]
    fc = (cols - c0).astype(np.float32)[..., None]
    r1 = np.minimum(r0 + 1, side - 1)
    c1 = np.minimum(c0 + 1, side - 1)
    index = np.stack([r0 * side + c0, r0 * side + c1, r1 * side + c0, r1 * side + c1])  # (4, H, W)
    weight = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc])  # (4, H, W, 1)
    for array in (index, weight):
        array.setflags(write=False)
    return index, weight


def polar_transform(images: np.ndarray, out_size: Sequence[int], north: float = 0.0) -> np.ndarray:
    """Polar-transform a satellite tile or a batch of them (numpy, vectorised).

    ``images``: ``(S, S, C)`` or ``(N, S, S, C)`` (uint8 or float). Returns ``(H, W, C)`` or
    ``(N, H, W, C)`` of the same dtype (uint8 results are rounded and clipped). ``out_size`` is
    the panorama-shaped ``(H, W)``; ``north`` as in the module docstring.
    """
    array = np.asarray(images)
    single = array.ndim == 3
    if single:
        array = array[None]
    if array.ndim != 4 or array.shape[1] != array.shape[2]:
        raise ValueError(f"polar_transform expects square tiles (S, S, C) or (N, S, S, C), got shape {np.shape(images)}")
    n, side, _, channels = array.shape
    side, height, width = _check_sizes(side, out_size)
    index, weight = _bilinear_taps(side, height, width, float(north))
    flat = array.reshape(n, side * side, channels)
    out = np.zeros((n, height, width, channels), dtype=np.float32)
    for tap in range(4):
        out += flat[:, index[tap]].astype(np.float32) * weight[tap]
    if array.dtype == np.uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        out = out.astype(array.dtype, copy=False)
    return out[0] if single else out


def _torch_grid(side: int, out_size: Sequence[int], north: float, device, dtype) -> torch.Tensor:
    return torch.from_numpy(np.array(polar_grid(side, out_size, north))).to(device=device, dtype=dtype)


def polar_transform_torch(images: torch.Tensor, out_size: Sequence[int], north: float = 0.0) -> torch.Tensor:
    """Polar-transform a float batch ``(B, C, S, S)`` -> ``(B, C, H, W)`` with ``grid_sample``.

    Differentiable and device-agnostic; inside a model prefer :class:`PolarTransform`, which
    keeps its grid as a buffer.
    """
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"polar_transform_torch expects square tiles (B, C, S, S), got shape {tuple(images.shape)}")
    grid = _torch_grid(images.shape[-1], out_size, north, images.device, images.dtype)
    grid = grid.unsqueeze(0).expand(images.shape[0], -1, -1, -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class PolarTransform(nn.Module):
    """``nn.Module`` form of :func:`polar_transform_torch` for tiles of a fixed side.

    The grid is a non-persistent buffer: it follows ``.to(device)`` and never enters a
    checkpoint.
    """

    def __init__(self, side: int, out_size: Sequence[int], north: float = 0.0):
        super().__init__()
        self.side, height, width = _check_sizes(side, out_size)
        self.out_size = (height, width)
        self.north = float(north)
        grid = torch.from_numpy(np.array(polar_grid(self.side, self.out_size, self.north)))
        self.register_buffer("grid", grid.unsqueeze(0), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or tuple(images.shape[-2:]) != (self.side, self.side):
            raise ValueError(f"PolarTransform was built for {self.side}x{self.side} tiles, got shape {tuple(images.shape)}")
        grid = self.grid.to(device=images.device, dtype=images.dtype).expand(images.shape[0], -1, -1, -1)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def extra_repr(self) -> str:
        return f"side={self.side}, out_size={self.out_size}, north={self.north}"
