"""The three cameras: an orthographic satellite, a street-level 360-degree panorama, and a
drone looking obliquely at a target. Each returns linear-ish radiance; :mod:`.photo` turns
it into an 8-bit photograph with its own exposure, white balance and noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .capture import Capture
from .render import cast, sample_mip, shade, step_distances


def panorama_angles(size: tuple[int, int], el_top: float, el_bottom: float, yaw: float = 0.0):
    """Column azimuths and row elevations (radians) of an equirectangular panorama.

    North-aligned convention of CVUSA / SAFA: the centre column looks north, azimuth grows
    to the right (clockwise seen from above), so column j looks at ``2 pi (j + 0.5) / W - pi``.
    ``yaw`` rotates the camera (a panorama of unknown orientation, or heading noise).
    """
    h, w = size
    az = (2 * np.pi * (np.arange(w) + 0.5) / w - np.pi + yaw).astype(np.float32)
    el = (el_top - (np.arange(h) + 0.5) * (el_top - el_bottom) / h).astype(np.float32)
    return az, el


def far_skyline(cap: Capture, az: np.ndarray) -> np.ndarray:
    """Elevation (radians) of the distant town beyond the world's edge, per azimuth."""
    w = cap.world
    rng = np.random.default_rng(w.sky_seed)
    k = np.arange(1, 9)
    amp = rng.uniform(0, 1, 8) / k
    ph = rng.uniform(0, 2 * np.pi, 8)
    base = np.sum(amp[None, :] * np.sin(np.outer(az, k) + ph[None, :]), axis=1)
    if w.style.buildings == "parcels":
        steps = np.floor((az + np.pi) / (2 * np.pi) * 90)
        blocky = np.mod(np.sin(steps * 12.9898 + w.sky_seed % 97) * 43758.5453, 1.0)
        return np.radians(0.6 + 2.5 * blocky ** 2 + 0.8 * base).astype(np.float32)
    return np.radians(0.8 + 0.6 * base + 0.3).astype(np.float32)


def render_panorama(cap: Capture, cam: np.ndarray, size: tuple[int, int], el_top: float, el_bottom: float,
                    yaw: float = 0.0, cloud_seed: int = 0, supersample: int = 1, return_hits: bool = False,
                    tilt: tuple[float, float] = (0.0, 0.0)):
    """Equirectangular panorama (H, W, 3) radiance from ``cam`` = (x, y, z).

    ``tilt`` = (pitch, roll) in radians: a camera that is not perfectly level (a sloping road,
    a residual calibration error). The level panorama is rendered with a margin and resampled
    into the tilted camera's frame.
    """
    h, w = size
    pitch, roll = tilt
    if pitch == 0.0 and roll == 0.0:
        az, el = panorama_angles((h * supersample, w * supersample), el_top, el_bottom, yaw)
        dists = step_distances(0.3, 420.0)
        hits = cast(cap, cam, az, el, dists)
        pixel = 2 * np.pi / (w * supersample)
        img = shade(cap, hits, cam, az, el, pixel, cloud_seed, far_skyline(cap, az))
        if supersample > 1:
            img = img.reshape(h, supersample, w, supersample, 3).mean(axis=(1, 3))
        return (img, hits) if return_hits else img
    # level render with a margin of rows, then a per-pixel remap
    row_step = (el_top - el_bottom) / h
    margin = int(np.ceil((abs(pitch) + abs(roll)) / row_step)) + 2
    top = min(el_top + margin * row_step, np.pi / 2)
    bottom = max(el_bottom - margin * row_step, -np.pi / 2)
    h_level = int(round((top - bottom) / row_step))
    level, hits = render_panorama(cap, cam, (h_level, w), top, bottom, yaw, cloud_seed, supersample, True)
    az, el = panorama_angles((h, w), el_top, el_bottom, 0.0)
    A, E = np.meshgrid(az, el)
    d = np.stack([np.sin(A) * np.cos(E), np.cos(A) * np.cos(E), np.sin(E)], -1)
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rot_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])   # about the east axis
    rot_roll = np.array([[cr, 0, sr], [0, 1, 0], [-sr, 0, cr]])    # about the north axis
    dw = d @ (rot_pitch @ rot_roll).T
    az_w = np.arctan2(dw[..., 0], dw[..., 1])
    el_w = np.arcsin(np.clip(dw[..., 2], -1, 1))
    fr = (top - el_w) / row_step - 0.5
    fc = np.mod((az_w + np.pi) / (2 * np.pi) * w - 0.5, w)
    img = _remap(level, fr, fc)
    return (img, _RemappedHits(hits, fr, fc)) if return_hits else img


def _remap(image: np.ndarray, fr: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around columns (an equirectangular image)."""
    h, w = image.shape[:2]
    r0 = np.clip(np.floor(fr).astype(np.int64), 0, h - 1)
    r1 = np.clip(r0 + 1, 0, h - 1)
    ar = np.clip(fr - np.floor(fr), 0, 1)[..., None].astype(np.float32)
    c0 = np.floor(fc).astype(np.int64) % w
    c1 = (c0 + 1) % w
    ac = (fc - np.floor(fc))[..., None].astype(np.float32)
    return ((image[r0, c0] * (1 - ac) + image[r0, c1] * ac) * (1 - ar)
            + (image[r1, c0] * (1 - ac) + image[r1, c1] * ac) * ar)


class _RemappedHits:
    """Nearest-neighbour view of a level render's hits through a tilt remap (for labels)."""

    def __init__(self, hits, fr: np.ndarray, fc: np.ndarray):
        h, w = hits.cls.shape
        r = np.clip(np.rint(fr).astype(np.int64), 0, h - 1)
        c = np.rint(fc).astype(np.int64) % w
        for name in ("cls", "dist", "x", "y", "z", "row", "col", "front_row", "front_col", "inside"):
            setattr(self, name, getattr(hits, name)[r, c])


def render_satellite(cap: Capture, centre: tuple[float, float], extent_m: float, pixels: int,
                     rotation: float = 0.0) -> np.ndarray:
    """North-up orthographic tile (pixels x pixels x 3) of side ``extent_m`` centred at ``centre``."""
    step = extent_m / pixels
    off = (np.arange(pixels) + 0.5) * step - extent_m / 2
    gx, gy = np.meshgrid(off, -off)
    if rotation:
        cr, sr = np.cos(rotation), np.sin(rotation)
        gx, gy = gx * cr - gy * sr, gx * sr + gy * cr
    x = centre[0] + gx
    y = centre[1] + gy
    foot = np.full(x.shape, step, np.float32)
    return sample_mip(cap.surface, cap.world.cell, x.ravel(), y.ravel(), foot.ravel()).reshape(pixels, pixels, 3)


def look_at_angles(size: int, fov: float, pitch: float, heading: float, oversample: float = 1.25):
    """Directions of a square pinhole camera (no roll): per-pixel azimuth and elevation."""
    f = 0.5 / np.tan(fov / 2)
    u = ((np.arange(size) + 0.5) / size - 0.5)
    px, py = np.meshgrid(u, -u)  # image x right, y up
    # camera frame: forward tilted down by pitch, right is horizontal
    cp, sp = np.cos(pitch), np.sin(pitch)
    fwd = np.array([np.sin(heading) * cp, np.cos(heading) * cp, -sp])
    right = np.array([np.cos(heading), -np.sin(heading), 0.0])
    up = np.cross(right, fwd)
    d = f * fwd[None, None, :] + px[..., None] * right + py[..., None] * up
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    az = np.arctan2(d[..., 0], d[..., 1])
    el = np.arcsin(np.clip(d[..., 2], -1, 1))
    return az, el


def render_drone(cap: Capture, cam: np.ndarray, target: np.ndarray, size: int, fov: float,
                 cloud_seed: int = 0, labels: bool = False):
    """Perspective view (size x size x 3) from ``cam`` looking at ``target`` (both x, y, z);
    with ``labels``, also the class of every pixel (:func:`.labels.hit_classes`, nearest ray)."""
    d = target - cam
    heading = float(np.arctan2(d[0], d[1]))
    pitch = float(np.arctan2(-d[2], np.hypot(d[0], d[1])))
    az_px, el_px = look_at_angles(size, fov, pitch, heading)
    # render an (azimuth, elevation) grid that covers the view, then resample it
    rel = np.mod(az_px - heading + np.pi, 2 * np.pi) - np.pi
    a0, a1 = rel.min(), rel.max()
    e0, e1 = el_px.min(), el_px.max()
    # azimuth steps shrink on the ground by cos(elevation): sample them accordingly
    squeeze = float(np.cos(np.clip(0.5 * (e0 + e1), -1.45, 1.45)))
    n_az = int(np.ceil(size * 1.15 * (a1 - a0) * max(squeeze, 0.35) / fov)) + 2
    n_el = int(np.ceil(size * 1.15 * (e1 - e0) / fov)) + 2
    az = (heading + np.linspace(a0, a1, n_az)).astype(np.float32)
    el = np.linspace(e1, e0, n_el).astype(np.float32)
    height = float(cam[2])
    dists = step_distances(max(0.3, (height - 220.0) / max(np.tan(-e0), 1e-3) if e0 < 0 else 0.3),
                           min(900.0, height / max(np.tan(max(-e1, 0.02)), 1e-3) + 80.0), fine=0.35, ratio=0.01)
    hits = cast(cap, cam, az, el, dists)
    pixel = fov / size
    grid = shade(cap, hits, cam, az, el, pixel / 1.15, cloud_seed, None)
    fa = (rel - a0) / max(a1 - a0, 1e-9) * (n_az - 1)
    fe = (e1 - el_px) / max(e1 - e0, 1e-9) * (n_el - 1)
    out = np.stack([ndimage.map_coordinates(grid[..., k], [fe, fa], order=1, mode="nearest") for k in range(3)], -1)
    if not labels:
        return out.astype(np.float32)
    from .labels import hit_classes

    classes = ndimage.map_coordinates(hit_classes(cap, hits), [fe, fa], order=0, mode="nearest")
    return out.astype(np.float32), classes.astype(np.uint8)
