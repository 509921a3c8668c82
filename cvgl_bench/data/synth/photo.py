"""From radiance to a photograph: exposure, white balance, tone curve, blur, sensor noise,
8-bit quantisation, and byte-deterministic JPEG/PNG encoding.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage


def develop(radiance: np.ndarray, rng: np.random.Generator, *, exposure_bias: float = 1.0,
            white_balance: np.ndarray | None = None, noise: float = 0.012, blur: float = 0.0,
            contrast: float = 1.0, haze: np.ndarray | None = None, haze_amount: float = 0.0,
            vignette: float = 0.0) -> np.ndarray:
    """An 8-bit RGB image from radiance: auto-exposure (times a bias), white balance, a soft
    shoulder, optional blur and haze veil, Gaussian sensor noise."""
    img = radiance.astype(np.float32, copy=True)
    if blur > 0.05:
        img = ndimage.gaussian_filter(img, (blur, blur, 0), mode="nearest", truncate=3.0)
    if haze is not None and haze_amount > 0:
        img = img * (1 - haze_amount) + np.asarray(haze, np.float32) * haze_amount
    lum = img @ np.array([0.299, 0.587, 0.114], np.float32)
    key = float(np.mean(lum)) + 1e-4
    # auto-exposure that only partly normalises: dark scenes stay darker than bright ones
    img *= np.float32((0.42 / key) ** 0.6 * exposure_bias)
    if white_balance is not None:
        img *= np.asarray(white_balance, np.float32)
    if contrast != 1.0:
        mean = img.mean(axis=(0, 1), keepdims=True)
        img = (img - mean) * np.float32(contrast) + mean
    if vignette > 0:
        h, w = img.shape[:2]
        yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
        img *= (1 - vignette * (xx ** 2 + yy ** 2) / 2).astype(np.float32)[..., None]
    k = np.float32(1.7)
    img = (1.0 - np.exp(-k * np.maximum(img, 0))) / (1.0 - np.exp(-k))
    if noise > 0:
        img = img + rng.normal(0, noise, img.shape).astype(np.float32) \
            + rng.normal(0, noise * 0.5, img.shape[:2] + (1,)).astype(np.float32)
    return np.clip(np.floor(img * 255.0 + 0.5), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """Encode deterministically: fixed JPEG settings (4:2:0, no optimise/progressive, no EXIF)
    and PNG without ancillary chunks (no time stamp), so equal pixels give equal bytes."""
    buf = io.BytesIO()
    pil = Image.fromarray(image, "RGB")
    if fmt == "jpeg":
        pil.save(buf, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    elif fmt == "png":
        pil.save(buf, format="PNG", optimize=False, compress_level=6)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Compression artefacts baked into the pixels (a satellite tile re-encoded by a provider)."""
    data = encode(image, "jpeg", quality)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
