"""Polar transform: geometry (bearing -> column, distance -> row), augmentation identities, numpy == torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.data.polar import PolarTransform, polar_coordinates, polar_grid, polar_transform, polar_transform_torch


def blob_tile(side: int, bearing_deg: float, distance: float, sigma: float = 1.5) -> np.ndarray:
    """A float tile (S, S, 1), north up, with a Gaussian blob at a compass bearing and distance (pixels)."""
    centre = side / 2.0
    y = centre - distance * math.cos(math.radians(bearing_deg))
    x = centre + distance * math.sin(math.radians(bearing_deg))
    rows, cols = np.mgrid[0:side, 0:side] + 0.5  # continuous pixel centres
    return np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * sigma**2))[..., None].astype(np.float32)


def expected_pixel(side, out_size, north, bearing_deg, distance):
    height, width = out_size
    col = ((bearing_deg / 360.0 + north) * width - 0.5) % width
    row = height - 0.5 - distance * height / (side / 2.0)
    return row, col


def circular_gap(a, b, period):
    gap = abs(a - b) % period
    return min(gap, period - gap)


@settings(max_examples=40, deadline=None)
@given(
    bearing=st.floats(0, 360, exclude_max=True),
    fraction=st.floats(0.15, 0.85),
    north=st.sampled_from([0.0, 0.5, 0.25]),
)
def test_point_at_known_bearing_and_distance_lands_at_expected_column_and_row(bearing, fraction, north):
    side, out = 96, (48, 192)
    distance = fraction * side / 2
    polar = polar_transform(blob_tile(side, bearing, distance), out, north=north)[..., 0]
    row, col = np.unravel_index(np.argmax(polar), polar.shape)
    want_row, want_col = expected_pixel(side, out, north, bearing, distance)
    assert abs(row - want_row) <= 1.0
    # azimuth resolution shrinks near the centre: one tile pixel spans more columns there
    col_tolerance = 1.0 + width_per_pixel(out[1], distance)
    assert circular_gap(col, want_col, out[1]) <= col_tolerance


def width_per_pixel(width, distance):
    return width / (2 * math.pi * distance)


def test_cardinal_directions_with_north_at_column_zero():
    side, out = 64, (16, 64)
    for bearing, quarter in ((0, 0), (90, 1), (180, 2), (270, 3)):
        polar = polar_transform(blob_tile(side, bearing + 45, 20, sigma=2.0), out)[..., 0]
        col = np.unravel_index(np.argmax(polar), polar.shape)[1]
        # bearing b + 45 sits in the middle of quarter b/90: azimuth increases to the right
        assert quarter * 16 <= col < (quarter + 1) * 16, (bearing, col)


def test_north_half_puts_north_on_the_centre_line():
    side, out = 64, (16, 64)
    polar = polar_transform(blob_tile(side, 0.0, 20, sigma=2.0), out, north=0.5)[..., 0]
    col = np.unravel_index(np.argmax(polar), polar.shape)[1]
    assert col in (31, 32)


def test_rows_run_from_far_at_top_to_near_at_bottom():
    rows, cols = polar_coordinates(64, (8, 32))
    distance = np.hypot(rows - 31.5, cols - 31.5)
    assert np.all(np.diff(distance[:, 0]) < 0)
    np.testing.assert_allclose(distance[:, 0], 32 * (8 - np.arange(8) - 0.5) / 8)


@pytest.mark.parametrize("north", [0.0, 0.5, 0.3])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotating_the_tile_ccw_equals_rolling_the_panorama_left(k, north):
    tiles = np.random.default_rng(k).integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    out = (16, 64)
    rotated = polar_transform(np.rot90(tiles, k, axes=(1, 2)), out, north=north)
    rolled = np.roll(polar_transform(tiles, out, north=north), -k * out[1] // 4, axis=2)
    np.testing.assert_array_equal(rotated, rolled)

    x = torch.from_numpy(tiles).permute(0, 3, 1, 2).double()
    rotated_t = polar_transform_torch(torch.rot90(x, k, dims=(-2, -1)), out, north=north)
    rolled_t = torch.roll(polar_transform_torch(x, out, north=north), -k * out[1] // 4, dims=-1)
    torch.testing.assert_close(rotated_t, rolled_t, rtol=0, atol=1e-9)


@pytest.mark.parametrize("north", [0.0, 0.5])
def test_east_west_mirror_equals_reversing_columns(north):
    tiles = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    out = (12, 48)
    np.testing.assert_array_equal(
        polar_transform(tiles[:, :, ::-1], out, north=north), polar_transform(tiles, out, north=north)[:, :, ::-1]
    )


def test_numpy_and_torch_versions_agree():
    tiles = np.random.default_rng(1).random((3, 50, 50, 3), dtype=np.float32) * 255
    out = (20, 80)
    expected = polar_transform(tiles, out, north=0.5)
    got = polar_transform_torch(torch.from_numpy(tiles).permute(0, 3, 1, 2), out, north=0.5)
    np.testing.assert_allclose(got.permute(0, 2, 3, 1).numpy(), expected, atol=1e-2)
    module = PolarTransform(50, out, north=0.5)
    torch.testing.assert_close(module(torch.from_numpy(tiles).permute(0, 3, 1, 2)), got)


def test_uint8_batch_and_single_image_keep_dtype_and_constant_stays_constant():
    batch = np.full((4, 32, 32, 3), 77, dtype=np.uint8)
    out = polar_transform(batch, (8, 40))
    assert out.dtype == np.uint8 and out.shape == (4, 8, 40, 3) and np.all(out == 77)
    single = polar_transform(batch[0], (8, 40))
    assert single.shape == (8, 40, 3)
    np.testing.assert_array_equal(single, out[0])


def test_grid_is_cached_read_only_and_inside_the_tile():
    grid = polar_grid(64, (8, 32))
    assert grid is polar_grid(64, [8, 32])
    assert grid.shape == (8, 32, 2) and grid.dtype == np.float32 and not grid.flags.writeable
    assert np.abs(grid).max() < 1.0
    with pytest.raises(ValueError):
        grid[0, 0, 0] = 0.0


def test_module_grid_is_a_buffer_outside_the_checkpoint_and_passes_gradients():
    module = PolarTransform(32, (8, 32))
    assert "grid" not in module.state_dict()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    module(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="square"):
        polar_transform(np.zeros((10, 12, 3), np.uint8), (4, 8))
    with pytest.raises(ValueError, match="square"):
        polar_transform_torch(torch.zeros(1, 3, 10, 12), (4, 8))
    with pytest.raises(ValueError, match="built for 32x32"):
        PolarTransform(32, (8, 32))(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="positive"):
        polar_grid(32, (0, 8))
