"""One photograph of a place: render with a camera, then develop with its own photometrics.

The randomness of every image (exposure, white balance, noise, blur, compression, yaw noise)
comes from a stream keyed by the image's identity, so any image can be re-rendered alone.
"""

from __future__ import annotations

import numpy as np

from ..fov import VERTICAL_FOV_DEG
from . import canvas as cv
from .cameras import render_drone, render_panorama, render_satellite
from .capture import Capture
from .photo import develop, jpeg_roundtrip
from .render import CROWN, SKY, TOP, WALL

#: Colours of the ground-view segmentation written as CVUSA ``streetview/annotations``.
SEGMENT_COLOURS = {
    "sky": (70, 130, 180), "building": (180, 60, 50), "vegetation": (60, 150, 50), "road": (128, 64, 128),
    "sidewalk": (244, 35, 232), "terrain": (152, 251, 152), "car": (0, 0, 142), "water": (30, 60, 200),
    "pole": (153, 153, 153),
}


#: Vertical field of view of a cropped (CVUSA-style) panorama, horizon in the middle
CROP_FOV = np.radians(VERTICAL_FOV_DEG["cvusa"])


def ground_fov(size: tuple[int, int], full_sphere: bool) -> tuple[float, float]:
    """Elevation (radians) of the top and bottom edges of a panorama."""
    if full_sphere:
        return float(np.pi / 2), float(-np.pi / 2)
    return float(CROP_FOV / 2), float(-CROP_FOV / 2)


#: Residual tilt of a street-level camera (degrees, per axis): sloping roads, imperfect levelling.
TILT_DEG = 1.0


def panorama(cap: Capture, cam: np.ndarray, size: tuple[int, int], full_sphere: bool, yaw: float,
             rng: np.random.Generator, cloud_seed: int, want_labels: bool | str = False):
    """A developed street-level panorama (uint8) and, optionally, its labels: with ``want_labels``
    true (or ``"segmentation"``) CVUSA's coloured segmentation (uint8 RGB), with ``"classes"``
    the class of every pixel (:mod:`.labels`); ``None`` without."""
    el_top, el_bottom = ground_fov(size, full_sphere)
    tilt = tuple(float(v) for v in np.radians(rng.normal(0, TILT_DEG, 2)))
    rad, hits = render_panorama(cap, cam, size, el_top, el_bottom, yaw, cloud_seed, return_hits=True, tilt=tilt)
    if full_sphere:
        rad = _capture_vehicle(rad, size, el_top, el_bottom)
    img = develop(rad, rng, exposure_bias=float(np.exp(rng.normal(0, 0.15))),
                  white_balance=1.0 + rng.normal(0, 0.035, 3), noise=float(rng.uniform(0.006, 0.02)),
                  blur=float(rng.uniform(0.0, 0.5)), contrast=float(rng.uniform(0.92, 1.08)))
    if want_labels == "classes":
        from .labels import hit_classes

        labels = hit_classes(cap, hits)
    else:
        labels = segmentation(cap, hits) if want_labels else None
    return img, labels


def _capture_vehicle(rad: np.ndarray, size, el_top: float, el_bottom: float) -> np.ndarray:
    """The camera car's roof and mast at the bottom of a full panorama (an occluder)."""
    h, w = size
    el = el_top - (np.arange(h) + 0.5) * (el_top - el_bottom) / h
    roof = el < np.radians(-62)
    out = rad.copy()
    col = np.array([0.12, 0.12, 0.13], np.float32)
    fade = np.clip((np.radians(-62) - el[roof]) / np.radians(8), 0, 1)[:, None, None]
    out[roof] = out[roof] * (1 - fade * 0.9) + col * fade * 0.9
    return out


def segmentation(cap: Capture, hits) -> np.ndarray:
    c = cap.world.canvas
    lab = np.zeros(hits.cls.shape + (3,), np.uint8)
    lab[hits.cls == SKY] = SEGMENT_COLOURS["sky"]
    lab[hits.cls == CROWN] = SEGMENT_COLOURS["vegetation"]
    wall = hits.cls == WALL
    kind = cap.kind[hits.row, hits.col]
    lab[wall & (kind == cv.BUILDING)] = SEGMENT_COLOURS["building"]
    lab[wall & (kind == cv.CAR)] = SEGMENT_COLOURS["car"]
    lab[wall & (kind == cv.STEM)] = SEGMENT_COLOURS["pole"]
    lab[wall & (kind == cv.GROUND)] = SEGMENT_COLOURS["sidewalk"]
    top = hits.cls == TOP
    mat = c.material[hits.row, hits.col]
    for mats, name in (((cv.ASPHALT, cv.PARKING, cv.YELLOW, cv.WHITE), "road"),
                       ((cv.SIDEWALK, cv.DRIVEWAY, cv.PLAZA, cv.PATH), "sidewalk"),
                       ((cv.GRASS, cv.SOIL), "terrain"), ((cv.WATER, cv.POOL), "water"),
                       ((cv.ROOF,), "building")):
        lab[top & np.isin(mat, mats)] = SEGMENT_COLOURS[name]
    lab[top & (kind == cv.CAR)] = SEGMENT_COLOURS["car"]
    return lab


def satellite(cap: Capture, centre: tuple[float, float], extent_m: float, px: int, rng: np.random.Generator,
              provider_quality: tuple[int, int] = (45, 80)) -> np.ndarray:
    """A developed north-up satellite tile: blur, haze, mosaic colour shift, noise, JPEG artefacts."""
    rad = render_satellite(cap, centre, extent_m, px)
    sharp = max(1.0, px / 128) ** 0.5  # blur in pixels grows more slowly than the resolution
    img = develop(rad, rng, exposure_bias=float(np.exp(rng.normal(0, 0.12))),
                  white_balance=1.0 + rng.normal(0, 0.04, 3), noise=float(rng.uniform(0.004, 0.014)),
                  blur=float(rng.uniform(0.35, 0.9)) * sharp, contrast=float(rng.uniform(0.85, 1.05)),
                  haze=cap.light.haze_rgb * 0.6, haze_amount=float(rng.uniform(0.0, 0.12)))
    return jpeg_roundtrip(img, int(rng.integers(*provider_quality)))


def drone(cap: Capture, cam: np.ndarray, target: np.ndarray, px: int, fov: float, rng: np.random.Generator,
          cloud_seed: int, want_labels: bool = False):
    """A developed drone photograph (uint8); with ``want_labels``, ``(photo, classes)``
    (:mod:`.labels`)."""
    if want_labels:
        rad, classes = render_drone(cap, cam, target, px, fov, cloud_seed, labels=True)
        return _develop_drone(rad, px, rng), classes
    return _develop_drone(render_drone(cap, cam, target, px, fov, cloud_seed), px, rng)


def _develop_drone(rad: np.ndarray, px: int, rng: np.random.Generator) -> np.ndarray:
    return develop(rad, rng, exposure_bias=float(np.exp(rng.normal(0, 0.1))),
                   white_balance=1.0 + rng.normal(0, 0.03, 3), noise=float(rng.uniform(0.005, 0.015)),
                   blur=float(rng.uniform(0.0, 0.5)) * max(1.0, px / 128) ** 0.5,
                   contrast=float(rng.uniform(0.95, 1.08)),
                   vignette=float(rng.uniform(0.0, 0.25)))
