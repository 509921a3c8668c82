"""resize=linear_exact: Sample4Geo's evaluation resize (cv2 INTER_LINEAR_EXACT, no antialiasing)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cvgl_bench.data.images import cache_key, decode_resize, load_images, resize_linear_exact
from cvgl_bench.data.structures import ImageSet
from cvgl_bench.errors import ConfigError


def test_halving_averages_each_two_by_two_block():
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5
    out = resize_linear_exact(image, (2, 2))
    expected = image.reshape(2, 2, 2, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.array_equal(out, np.floor(expected + 0.5).astype(np.uint8))


def test_upscaling_keeps_the_border_pixels():
    image = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    out = resize_linear_exact(image, (9, 15))
    assert np.array_equal(out[0, 0], image[0, 0]) and np.array_equal(out[-1, -1], image[-1, -1])


def test_equal_to_opencv_within_one_grey_level():
    cv2 = pytest.importorskip("cv2", reason="opencv is not installed (pip install opencv-python-headless)")
    rng = np.random.default_rng(1)
    for source, target in (((832, 1664), (140, 768)), ((1200, 1200), (384, 384)), ((50, 70), (123, 31))):
        image = rng.integers(0, 256, (*source, 3), dtype=np.uint8)
        ours = resize_linear_exact(image, target).astype(int)
        theirs = cv2.resize(image, target[::-1], interpolation=cv2.INTER_LINEAR_EXACT).astype(int)
        # OpenCV rounds its fixed-point intermediates: on white noise a tenth of the values differ by one
        assert np.abs(ours - theirs).max() <= 1 and np.mean(ours != theirs) < 0.15


def test_the_mode_reaches_decoding_and_its_own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    noise = np.random.default_rng(2).integers(0, 256, (240, 480, 3), dtype=np.uint8)
    path = tmp_path / "pano.png"
    Image.fromarray(noise).save(path)
    exact = decode_resize(str(path), (60, 120), "linear_exact")
    assert np.array_equal(exact, resize_linear_exact(noise, (60, 120)))
    assert not np.array_equal(exact, decode_resize(str(path), (60, 120)))  # antialiasing smooths the noise
    assert cache_key([str(path)], (60, 120)) != cache_key([str(path)], (60, 120), "linear_exact")
    images = ImageSet("ground", ["p"], [str(path)])
    assert np.array_equal(load_images(images, (60, 120), resize="linear_exact", progress=False).array[0], exact)
    with pytest.raises(ConfigError, match="resize must be one of antialias, linear_exact"):
        load_images(images, (60, 120), resize="cubic", progress=False)


def test_sample4geo_and_clnet_paper_profiles_resize_as_the_official_code():
    s4g = pytest.importorskip("cvgl_bench_sample4geo.method")
    from .train_helpers import train_split_spec

    split = train_split_spec()
    assert s4g.Sample4Geo().hparams("paper", split)["resize"] == "linear_exact"
    assert "resize" not in s4g.Sample4Geo().hparams("cpu", split)  # the synthetic recipes keep antialiasing
