"""Geometry and conventions of the synthetic renderer (hand-built worlds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.data.synth.cameras import panorama_angles, render_drone, render_satellite
from cvgl_bench.data.synth.capture import Light, build_capture, shadow_heights
from cvgl_bench.data.synth.render import CROWN, SKY, WALL, cast, step_distances

from .synth_helpers import flat_world

NOON_SOUTH = Light(sun_az=math.pi, sun_el=math.radians(45), sun_rgb=np.ones(3, np.float32),
                   sky_rgb=np.full(3, 0.3, np.float32), zenith_rgb=np.array([0.2, 0.4, 0.8], np.float32),
                   horizon_rgb=np.full(3, 0.8, np.float32), haze_rgb=np.full(3, 0.8, np.float32),
                   visibility=5000.0, cloud_cover=0.0)


def _pano_hits(world, cam, w=128, h=32):
    cap = build_capture(world, 1, "g", "ground", light=NOON_SOUTH, turnover=0.0)
    az, el = panorama_angles((h, w), math.radians(30), math.radians(-30))
    return cast(cap, np.asarray(cam, float), az, el, step_distances(0.3, 150.0))


def test_north_is_the_centre_column_and_east_three_quarters():
    world = flat_world(boxes=[(100, 140, 3, 3, 30), (140, 100, 3, 3, 30)])
    hits = _pano_hits(world, (100, 100, 2.0))
    walls = (hits.cls == WALL).sum(axis=0)
    north = int(np.argmax(walls[:96]))
    east = int(np.argmax(walls[80:])) + 80
    assert abs(north - 63.5) <= 1.5
    assert abs(east - 95.5) <= 1.5


@settings(max_examples=12, deadline=None)
@given(st.floats(-math.pi, math.pi - 1e-3))
def test_tower_appears_at_its_azimuth(az):
    cx, cy = 100 + 35 * math.sin(az), 100 + 35 * math.cos(az)
    hits = _pano_hits(flat_world(boxes=[(cx, cy, 2, 2, 40)]), (100, 100, 2.0), w=128)
    walls = (hits.cls == WALL).sum(axis=0)
    expected = ((az + math.pi) / (2 * math.pi) * 128 - 0.5) % 128
    got = int(np.argmax(walls))
    assert min(abs(got - expected), 128 - abs(got - expected)) <= 2.0


def test_wall_distance_and_sky():
    hits = _pano_hits(flat_world(boxes=[(100, 130, 5, 2, 20)]), (100, 100, 2.0))
    col = 64  # looking north
    wall_rows = hits.cls[:, col] == WALL
    assert wall_rows.any()
    assert np.allclose(hits.dist[wall_rows, col], 28.0, atol=0.6)
    south = 0
    assert hits.cls[0, south] == SKY  # nothing but sky straight up to the south


def test_street_camera_sees_under_a_crown():
    world = flat_world(trees=[(100, 112, 3.0)])
    hits = _pano_hits(world, (100, 100, 2.0), h=64)
    col = hits.cls[:, 64]
    assert (col == CROWN).any()
    top_crown = np.flatnonzero(col == CROWN)
    below = col[top_crown.max() + 1:]
    # between the crown's underside and the horizon the camera sees past the tree
    assert (below != CROWN).all()


def test_shadow_length_follows_sun_elevation():
    world = flat_world(boxes=[(100, 100, 5, 5, 20)])
    zs = shadow_heights(world.canvas.height, 0.5, sun_az=math.pi, sun_el=math.radians(45))
    c = world.canvas
    r10, col = c.index(np.array([100.0]), np.array([115.0]))  # 10 m north of the north wall
    r30, _ = c.index(np.array([100.0]), np.array([135.0]))
    rs, _ = c.index(np.array([100.0]), np.array([85.0]))  # south side faces the sun
    assert zs[r10[0], col[0]] == pytest.approx(20.6 - 10.0, abs=0.8)  # 0.6 m parapet on flat roofs
    assert zs[r30[0], col[0]] < 0.0
    assert zs[rs[0], col[0]] < 0.0


def test_satellite_tile_is_north_up():
    world = flat_world(boxes=[(100, 125, 4, 4, 10)])
    cap = build_capture(world, 1, "s", "satellite", light=NOON_SOUTH)
    tile = render_satellite(cap, (100.0, 100.0), 80.0, 64)
    red = (tile[..., 0] > 2 * tile[..., 1]) & (tile[..., 0] > 0.3)
    rows, cols = np.nonzero(red)
    assert len(rows) > 0
    assert rows.mean() < 24 and abs(cols.mean() - 31.5) < 2  # above the centre, centred left-right


def test_drone_looks_at_its_target():
    world = flat_world(boxes=[(100, 100, 12, 12, 12)])
    cap = build_capture(world, 1, "d", "drone", light=NOON_SOUTH)
    img = render_drone(cap, np.array([100.0, 20.0, 70.0]), np.array([100.0, 100.0, 12.0]), 48, math.radians(50))
    centre = img[21:27, 21:27]
    assert (centre[..., 0] > 1.5 * centre[..., 1]).mean() > 0.5  # the red roof fills the centre
