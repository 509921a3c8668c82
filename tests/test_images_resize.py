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


def test_crop_rows_keeps_a_band_of_rows_before_resizing(tmp_path, monkeypatch):
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    image = np.zeros((80, 40, 3), dtype=np.uint8)
    image[20:60] = 200  # the middle half is bright, the outer quarters dark
    path = tmp_path / "pano.png"
    Image.fromarray(image).save(path)
    band = decode_resize(str(path), (20, 40), "linear_exact", (0.25, 0.75))
    assert band.min() == 200  # only the middle half is left
    assert decode_resize(str(path), (20, 40), "linear_exact").min() == 0
    assert cache_key([str(path)], (20, 40)) != cache_key([str(path)], (20, 40), rows=(0.25, 0.75))
    images = ImageSet("ground", ["p"], [str(path)])
    assert load_images(images, (20, 40), rows=[0.25, 0.75], progress=False).array.min() == 200
    for bad in ([0.5, 0.5], [0.2], ["a", "b"], [-0.1, 0.5]):
        with pytest.raises(ConfigError, match="crop_rows"):
            load_images(images, (20, 40), rows=bad, progress=False)


def test_safa_cvact_keeps_the_middle_half_of_the_panorama():
    safa = pytest.importorskip("cvgl_bench_safa.method")
    from .train_helpers import train_split_spec

    assert safa.SAFA().hparams("paper", train_split_spec("cvact"))["crop_rows"] == {"ground": [0.25, 0.75]}
    assert "crop_rows" not in safa.SAFA().hparams("paper", train_split_spec("cvusa"))
    assert "crop_rows" not in safa.SAFA().hparams("cpu", train_split_spec("cvact"))
