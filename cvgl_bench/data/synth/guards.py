"""Shortcut guards: retrieval without learning that must stay near chance on the benchmark.

If any of these reaches a sizeable R@1 the synthetic benchmark has a shortcut (a learned
model could score by exploiting it instead of learning cross-view matching):

* colour histogram: the panorama's colour histogram against each satellite tile's;
* polar-warp correlation: SAFA's polar transform of each tile, raw-pixel Pearson correlation
  with the panorama;
* ground-plane warp: the panorama's below-horizon rows projected onto a flat ground plane
  (known camera height and field of view), compared with each tile by normalised
  cross-correlation; variants in grey level, on gradients, and with a search over shifts of
  the tile centre (which defeats a plain centre offset).

All take uint8 arrays of panoramas (N, H, W, 3) and satellite tiles (N, S, S, 3) where pair i
matches, and return R@1 in percent (strict ranks: ties count in the query's favour).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def recall_at_1(sim: np.ndarray) -> float:
    """R@1 (%) for a square similarity matrix whose diagonal holds the positives."""
    diag = np.diag(sim)[:, None]
    rank = np.sum(sim > diag, axis=1)
    return float(np.mean(rank < 1) * 100.0)


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    x = x - x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    return x


def colour_histogram_r1(panos: np.ndarray, sats: np.ndarray, bins: int = 8) -> float:
    """Hellinger similarity of 8x8x8 RGB histograms."""
    def hist(images: np.ndarray) -> np.ndarray:
        q = (images.astype(np.int64) * bins) // 256
        code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        h = np.stack([np.bincount(c.ravel(), minlength=bins ** 3) for c in code]).astype(np.float32)
        return np.sqrt(h / h.sum(axis=1, keepdims=True))

    return recall_at_1(hist(panos) @ hist(sats).T)


def polar_transform(sats: np.ndarray, height: int, width: int) -> np.ndarray:
    """SAFA's polar transform: rows from the tile's edge (top) to its centre (bottom), columns
    clockwise from south (so the middle column looks north), as in the north-aligned panoramas."""
    n, s = sats.shape[:2]
    i = np.arange(height)[:, None]
    j = np.arange(width)[None, :]
    radius = (s / 2.0) * (height - 1 - i) / height
    theta = 2 * np.pi * (j + 0.5) / width
    x = s / 2.0 - radius * np.sin(theta)
    y = s / 2.0 + radius * np.cos(theta)
    return _bilinear(sats, y - 0.5, x - 0.5)


def _bilinear(images: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    h, w = images.shape[1:3]
    y0 = np.floor(fy).astype(np.int64)
    x0 = np.floor(fx).astype(np.int64)
    ay = (fy - y0)[None, ..., None].astype(np.float32)
    ax = (fx - x0)[None, ..., None].astype(np.float32)
    y0c, y1c = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    x0c, x1c = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    im = images.astype(np.float32)
    top = im[:, y0c, x0c] * (1 - ax) + im[:, y0c, x1c] * ax
    bottom = im[:, y1c, x0c] * (1 - ax) + im[:, y1c, x1c] * ax
    return top * (1 - ay) + bottom * ay


def polar_correlation_r1(panos: np.ndarray, sats: np.ndarray) -> float:
    """Pearson correlation of the panorama with the polar-transformed tile, raw pixels."""
    h, w = panos.shape[1:3]
    polar = polar_transform(sats, h, w)
    return recall_at_1(_standardise(panos.reshape(len(panos), -1)) @ _standardise(polar.reshape(len(sats), -1)).T)


def ground_warp(panos: np.ndarray, el_top: float, el_bottom: float, extent_m: float, camera_h: float,
                grid: int = 48, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Project the panoramas onto the ground plane: (N, grid, grid, 3) top-down images over a
    square of ``extent_m`` centred at the camera (+ ``shift`` metres east/north), north up, and
    the mask of cells the panorama sees below its horizon."""
    h, w = panos.shape[1:3]
    step = extent_m / grid
    off = (np.arange(grid) + 0.5) * step - extent_m / 2
    dx = off[None, :] + shift[0]
    dy = -off[:, None] + shift[1]
    r = np.hypot(dx, dy)
    az = np.arctan2(dx, dy)
    el = -np.arctan2(camera_h, np.maximum(r, 1e-3))
    col = (az + np.pi) / (2 * np.pi) * w - 0.5
    row = (el_top - el) / (el_top - el_bottom) * h - 0.5
    valid = (row >= 0) & (row <= h - 1)
    warped = _bilinear(panos, row, np.mod(col, w))
    return warped, valid


def _downsample(images: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR, reducing_gap=None))
                     for im in images]).astype(np.float32)


def _gradients(images: np.ndarray) -> np.ndarray:
    grey = images.mean(axis=-1)
    gy = np.zeros_like(grey)
    gx = np.zeros_like(grey)
    gy[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gx[:, :, 1:-1] = grey[:, :, 2:] - grey[:, :, :-2]
    return np.hypot(gx, gy)


def ground_warp_r1(panos: np.ndarray, sats: np.ndarray, el_top: float, el_bottom: float, extent_m: float,
                   camera_h: float = 2.4, grid: int = 48, search_m: float = 6.0) -> dict[str, float]:
    """R@1 of the ground-plane warp shortcut, in several variants (see the module docstring)."""
    ref = _downsample(sats, grid)
    out: dict[str, float] = {}
    warped, valid = ground_warp(panos, el_top, el_bottom, extent_m, camera_h, grid)
    m = valid.ravel()

    def vec(images: np.ndarray, kind: str) -> np.ndarray:
        if kind == "rgb":
            flat = images.reshape(len(images), -1, 3)[:, m]
            flat = flat - flat.mean(axis=1, keepdims=True)  # per-channel mean: colour casts ignored
            return _standardise(flat.reshape(len(images), -1))
        if kind == "grey":
            return _standardise(images.mean(axis=-1).reshape(len(images), -1)[:, m])
        return _standardise(_gradients(images).reshape(len(images), -1)[:, m])

    for kind in ("rgb", "grey", "gradient"):
        out[f"warp_{kind}"] = recall_at_1(vec(warped, kind) @ vec(ref, kind).T)
    # shift search: the best of a grid of tile-centre offsets (counters a centre offset)
    ref_v = vec(ref, "rgb")
    best = None
    shifts = np.arange(-search_m, search_m + 1e-6, 2.0)
    for sx in shifts:
        for sy in shifts:
            wv, val = ground_warp(panos, el_top, el_bottom, extent_m, camera_h, grid, (float(sx), float(sy)))
            common = val.ravel() & m
            flat = wv.reshape(len(wv), -1, 3)[:, common]
            flat = flat - flat.mean(axis=1, keepdims=True)
            rflat = ref.reshape(len(ref), -1, 3)[:, common]
            rflat = rflat - rflat.mean(axis=1, keepdims=True)
            sim = _standardise(flat.reshape(len(wv), -1)) @ _standardise(rflat.reshape(len(ref), -1)).T
            best = sim if best is None else np.maximum(best, sim)
    out["warp_rgb_shift_search"] = recall_at_1(best)
    return out


def load_test_pairs(root: Path, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Panoramas and satellite tiles of the test split of a generated CVUSA or CVACT folder."""
    root = Path(root)
    if layout == "cvusa":
        with open(root / "splits" / "val-19zl.csv", newline="") as handle:
            rows = [r for r in csv.reader(handle) if r]
        sat_paths = [root / r[0] for r in rows]
        pano_paths = [root / r[1] for r in rows]
    elif layout == "cvact":
        folder = root / "ANU_data_test"
        ids = sorted(p.name[: -len("_grdView.jpg")] for p in (folder / "streetview").glob("*_grdView.jpg"))
        pano_paths = [folder / "streetview" / f"{i}_grdView.jpg" for i in ids]
        sat_paths = [folder / "satview_polish" / f"{i}_satView_polish.jpg" for i in ids]
    else:
        raise ValueError(f"guards read cvusa or cvact test splits, not {layout!r}")

    def read(paths) -> np.ndarray:
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])

    return read(pano_paths), read(sat_paths)


def run_guards(root: Path, layout: str, extent_m: float, full_sphere: bool) -> dict[str, float]:
    """Every guard on the test split of a generated folder: {name: R@1 %}."""
    panos, sats = load_test_pairs(root, layout)
    from .views import ground_fov

    el_top, el_bottom = ground_fov(panos.shape[1:3], full_sphere)
    out = {"queries": float(len(panos)), "chance": 100.0 / len(panos),
           "colour_histogram": colour_histogram_r1(panos, sats),
           "polar_correlation": polar_correlation_r1(panos, sats)}
    out.update(ground_warp_r1(panos, sats, el_top, el_bottom, extent_m))
    return out
