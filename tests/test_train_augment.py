"""Paired augmentation: geometry consistent between views, photometric noise deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cvgl_bench.errors import ConfigError
from cvgl_bench.train.augment import AugmentConfig, PairAugment, paired_geometry, sample_seed
from cvgl_bench.train.pairs import TrainPairs

S, H, W = 16, 6, 32  # satellite side, panorama rows and columns (W divisible by 4)


def _scene(x, y):
    """A smooth, asymmetric world: x east, y north (satellite pixel units)."""
    return np.sin(0.37 * x + 0.11) + np.cos(0.23 * y - 0.5) + 0.05 * x * y + 0.1 * x


def _render(scene):
    """Satellite tile (north up) and north-aligned 360° panorama (azimuth clockwise, columns at
    pixel centres) of the same scene, as (H, W, 1) float64 tensors."""
    c = (S - 1) / 2
    i, j = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    sat = scene(j - c, c - i)
    rho = 1.5 + np.arange(H)[:, None] * 1.1
    az = 2 * math.pi * (np.arange(W)[None, :] + 0.5) / W
    pano = scene(rho * np.sin(az), rho * np.cos(az))
    return torch.from_numpy(pano)[..., None], torch.from_numpy(sat)[..., None]


def _transformed(flip: bool, k: int):
    """The scene after an east-west mirror (if ``flip``) and then a counter-clockwise quarter turn k times."""
    def scene(x, y):
        for _ in range(k):            # the image turned CCW shows at p what was at R_cw p
            x, y = y, -x
        if flip:
            x = -x
        return _scene(x, y)
    return scene


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rotate_satellite_and_roll_panorama_commute_with_the_geometry(flip, k):
    pano, sat = _render(_scene)
    got_pano, got_sat = paired_geometry(pano, sat, ("ground", "satellite"), flip=flip, k=k)
    want_pano, want_sat = _render(_transformed(flip, k))
    torch.testing.assert_close(got_sat, want_sat, rtol=0, atol=1e-12)
    torch.testing.assert_close(got_pano, want_pano, rtol=0, atol=1e-9)


def test_geometry_is_the_same_whichever_side_is_the_query():
    pano, sat = _render(_scene)
    a_pano, a_sat = paired_geometry(pano, sat, ("ground", "satellite"), flip=True, k=3)
    b_sat, b_pano = paired_geometry(sat, pano, ("satellite", "ground"), flip=True, k=3)
    assert torch.equal(a_pano, b_pano) and torch.equal(a_sat, b_sat)


def test_reference_mode_rotates_only_the_satellite_and_flips_both():
    drone = torch.arange(2 * 16 * 16.0).view(16, 16, 2)
    sat = torch.arange(16 * 16 * 2.0).view(16, 16, 2) * 3
    got_drone, got_sat = paired_geometry(drone, sat, ("drone", "satellite"), flip=True, k=1, mode="reference")
    assert torch.equal(got_drone, drone.flip(1))
    assert torch.equal(got_sat, torch.rot90(sat.flip(1), 1, dims=(0, 1)))
    pano, sat2 = _render(_scene)
    same_pano, _ = paired_geometry(pano, sat2, ("ground", "satellite"), flip=False, k=2, mode="reference")
    assert torch.equal(same_pano, pano)


def _images(n, h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_pair_augment_is_deterministic_per_sample_and_in_range():
    aug = PairAugment(AugmentConfig(), ("ground", "satellite"))
    q = torch.from_numpy(_images(4, 16, 64, 0))
    r = torch.from_numpy(_images(4, 16, 16, 1))
    seeds = [sample_seed(7, 1, i) for i in range(4)]
    a = aug(q, r, seeds)
    b = aug(q, r, seeds)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (4, 3, 16, 64) and a[1].shape == (4, 3, 16, 16)
    assert a[0].dtype == torch.float32 and 0 <= float(a[0].min()) and float(a[0].max()) <= 1
    c = aug(q, r, [sample_seed(7, 2, i) for i in range(4)])
    assert not torch.equal(a[1], c[1])


def test_every_photometric_branch_runs():
    config = AugmentConfig(jpeg_p=1, color_jitter_p=1, blur_sharpen_p=1, dropout_p=1)
    aug = PairAugment(config, ("ground", "satellite"))
    q = torch.from_numpy(_images(12, 20, 64, 2))
    r = torch.from_numpy(_images(12, 20, 20, 3))
    out_q, out_r = aug(q, r, list(range(12)))
    assert torch.isfinite(out_q).all() and torch.isfinite(out_r).all()
    assert (out_r == 0).any(), "dropout should blank some pixels"


def test_flip_only_config_flips_both_views():
    config = AugmentConfig.from_dict({**AugmentConfig.disabled().to_dict(), "flip_p": 1.0})
    aug = PairAugment(config, ("ground", "satellite"))
    q, r = torch.from_numpy(_images(2, 8, 32, 4)), torch.from_numpy(_images(2, 8, 8, 5))
    out_q, out_r = aug(q, r, [1, 2])
    assert torch.equal(out_q, q.flip(2).permute(0, 3, 1, 2).float() / 255)
    assert torch.equal(out_r, r.flip(2).permute(0, 3, 1, 2).float() / 255)


def test_dataset_items_do_not_depend_on_batch_composition():
    aug = PairAugment(AugmentConfig(), ("ground", "satellite"))
    ds = TrainPairs(_images(6, 8, 32, 6), _images(6, 8, 8, 7), np.c_[np.arange(6), np.arange(6)], augment=aug, seed=3)
    ds.set_epoch(2)
    batch_q, batch_r = ds.__getitems__([1, 4, 5])
    single_q, single_r = ds[4]
    assert torch.equal(batch_q[1], single_q) and torch.equal(batch_r[1], single_r)


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown augment option"):
        AugmentConfig.from_dict({"flip": 0.5})
    with pytest.raises(ConfigError, match="probability"):
        AugmentConfig(flip_p=1.5)
    with pytest.raises(ConfigError, match="rotate_mode"):
        AugmentConfig(rotate_mode="spin")
    with pytest.raises(ConfigError, match="ground-satellite"):
        PairAugment(AugmentConfig(), ("drone", "satellite"))


def test_config_round_trips_through_plain_data():
    config = AugmentConfig(jpeg_quality=(80, 95), grid_ratio={"satellite": 0.3})
    assert AugmentConfig.from_dict(config.to_dict()) == config


def test_hue_rotation_keeps_grey_and_turns_like_hsv():
    from cvgl_bench.train.augment import _rotate_hue

    grey = torch.full((3, 2, 2), 0.4)
    torch.testing.assert_close(_rotate_hue(grey, 0.13), grey)
    red = torch.zeros(3, 1, 1)
    red[0] = 0.8
    green = _rotate_hue(red, 1 / 3).flatten()
    assert green[1] > 0.5 and green[0] < 0.05 and green[2] < 0.05
    torch.testing.assert_close(_rotate_hue(red, 0.0), red)
