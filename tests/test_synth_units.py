"""Small pieces of the synthetic generator: seeds, geography, config, guards, preview."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvgl_bench.data.synth import guards
from cvgl_bench.data.synth.config import make_config, parse_size
from cvgl_bench.data.synth.geo import latlon_to_utm, local_to_latlon, latlon_to_local
from cvgl_bench.data.synth.rng import stream
from cvgl_bench.errors import ConfigError


def test_streams_are_keyed_not_ordered():
    a = stream(5, "world", 3).random(4)
    stream(5, "other").random(100)
    assert np.array_equal(a, stream(5, "world", 3).random(4))
    assert not np.array_equal(a, stream(5, "world", 4).random(4))
    assert not np.array_equal(a, stream(6, "world", 3).random(4))


def test_local_metres_round_trip_and_utm_scale():
    anchor = (-35.3, 149.1)
    lat, lon = local_to_latlon(np.array([0.0, 100.0]), np.array([0.0, 0.0]), anchor)
    x, y = latlon_to_local(lat, lon, anchor)
    assert np.allclose(x, [0, 100], atol=1e-6) and np.allclose(y, 0, atol=1e-6)
    e, n = latlon_to_utm(lat, lon, zone=55)
    assert math.hypot(e[1] - e[0], n[1] - n[0]) == pytest.approx(100.0, rel=1e-3)  # UTM scale ~ 1
    e0, n0 = latlon_to_utm(np.array([0.0]), np.array([147.0]), zone=55)  # on the central meridian
    assert e0[0] == pytest.approx(500_000.0, abs=1e-6) and n0[0] == pytest.approx(0.0, abs=1e-6)
    _, ns = latlon_to_utm(np.array([-1e-9]), np.array([147.0]), zone=55)
    assert ns[0] == pytest.approx(10_000_000.0, abs=1e-3)  # false northing in the south


def test_sizes_and_config_errors():
    assert parse_size("small") == ("small", 1.0)
    assert parse_size("4000") == ("4000", 2.0)
    assert make_config("cvusa", "4000").counts == {"train": 4000, "test": 1000}  # small's ratio
    assert make_config("cvact", "8000").counts == {"train": 8000, "val": 2000, "test": 2000}
    assert make_config("university1652", "1000").counts["views"] == 16
    assert parse_size("1000000") == ("1000000", 500.0)
    for bad in ("huge", "3", "-5", "1000001", "99999999999999999999999"):  # the last was numpy's traceback
        with pytest.raises(ConfigError):
            parse_size(bad)
    with pytest.raises(ConfigError, match="at most 4096 pixels"):
        make_config("cvusa", ground_px=(64, 4097))
    with pytest.raises(ConfigError, match="layout"):
        make_config("kitti")
    with pytest.raises(ConfigError, match="square"):
        make_config("cvusa", satellite_px=(64, 128))
    with pytest.raises(ConfigError, match="style"):
        make_config("cvusa", style="rural")
    for seed in (-1, 2**32, 2**64, True):  # the streams keep 64 bits: -1 and 2**64 were other names for worlds
        with pytest.raises(ConfigError, match="synthetic world seed: seeds are integers"):
            make_config("cvusa", seed=seed)
    assert make_config("cvusa", seed=2**32 - 1).seed == 2**32 - 1
    assert make_config("cvact", real_sizes=True).ground_px == (832, 1664)


def test_recall_counts_ties_for_the_query():
    sim = np.array([[1.0, 1.0, 0.0], [0.5, 0.2, 0.9], [0.0, 0.0, 0.3]])
    assert guards.recall_at_1(sim) == pytest.approx(200 / 3)


def test_polar_transform_puts_north_in_the_middle_column():
    tile = np.zeros((1, 64, 64, 3), np.uint8)
    tile[0, 4:12, 28:36] = (255, 0, 0)  # a red patch near the top (north) edge
    polar = guards.polar_transform(tile, 16, 64)[0]
    red_cols = np.nonzero(polar[..., 0].max(axis=0) > 100)[0]
    assert abs(red_cols.mean() - 31.5) < 2


def test_guards_see_identical_views():
    rng = np.random.default_rng(0)
    sats = rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8)
    assert guards.colour_histogram_r1(sats, sats) == 100.0


def test_preview_sheet(tmp_path):
    from PIL import Image

    from cvgl_bench.data.synth.preview import write_contact_sheet

    path = write_contact_sheet(tmp_path / "p.png", seed=1, rows=(("suburb", 1),), world_m=300.0, row_px=48)
    img = Image.open(path)
    assert img.format == "PNG" and img.size[0] > 4 * 48 and img.size[1] > 48
