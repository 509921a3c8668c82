"""Batch planning: unique locations per batch, GPS and similarity neighbours vs brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.errors import ConfigError
from cvgl_bench.distributed import shard_batch, shard_rows
from cvgl_bench.train.samplers import BatchPlanner, gps_neighbours, similarity_neighbours


def _brute_force(dist: np.ndarray, k: int) -> np.ndarray:
    """k smallest per row, self excluded, ties by lower index."""
    dist = np.nan_to_num(dist.astype(np.float64), nan=np.inf)
    out = []
    for i, row in enumerate(dist):
        cols = np.delete(np.arange(len(row)), i)
        order = np.lexsort((cols, row[cols]))
        out.append(cols[order[:k]])
    return np.asarray(out)


def _haversine_matrix(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """sklearn's haversine formula on the given numbers (radians expected)."""
    h = np.sin((lat[:, None] - lat[None]) / 2) ** 2 + \
        np.cos(lat[:, None]) * np.cos(lat[None]) * np.sin((lon[:, None] - lon[None]) / 2) ** 2
    return 2 * np.arcsin(np.sqrt(h))


def _us_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(25, 49, n), rng.uniform(-125, -67, n)]


def test_gps_neighbours_match_brute_force_haversine_in_radians():
    coords = _us_points(150)
    got = gps_neighbours(coords, 10, "haversine", chunk=64)
    rad = np.deg2rad(coords)
    expected = _brute_force(_haversine_matrix(rad[:, 0], rad[:, 1]), 10)
    np.testing.assert_array_equal(got, expected)


def test_degrees_compat_switch_reproduces_degrees_fed_as_radians():
    coords = _us_points(150, seed=1)
    compat = gps_neighbours(coords, 10, "haversine", s4g_compat_degrees=True)
    expected = _brute_force(_haversine_matrix(coords[:, 0], coords[:, 1]), 10)
    np.testing.assert_array_equal(compat, expected)
    # At continental scale the compat "neighbours" are far from the true ones.
    true = gps_neighbours(coords, 10, "haversine")
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(true, compat)])
    assert overlap < 0.3


def test_euclidean_neighbours_for_utm():
    rng = np.random.default_rng(2)
    utm = rng.uniform(0, 5000, (120, 2))
    got = gps_neighbours(utm, 7, "euclidean", chunk=50)
    expected = _brute_force(np.linalg.norm(utm[:, None] - utm[None], axis=-1), 7)
    np.testing.assert_array_equal(got, expected)


def test_neighbour_ties_are_broken_by_index_and_rows_padded():
    coords = np.zeros((4, 2))  # every distance is 0
    got = gps_neighbours(coords, 5, "euclidean")
    np.testing.assert_array_equal(got[:, :3], [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    assert (got[:, 3:] == -1).all()


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ConfigError, match="metric"):
        gps_neighbours(np.zeros((3, 2)), 2, "manhattan")


def test_similarity_neighbours_are_the_most_similar_wrong_references():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(90, 8), dim=1)
    r = torch.nn.functional.normalize(torch.randn(90, 8), dim=1)
    got = similarity_neighbours(q, r, 6, chunk=32)
    sim = (q @ r.T).numpy().astype(np.float64)
    expected = _brute_force(-sim, 6)
    np.testing.assert_array_equal(got, expected)
    assert not (got == np.arange(90)[:, None]).any()


@st.composite
def _planner_case(draw):
    n_locations = draw(st.integers(2, 40))
    n_pairs = draw(st.integers(n_locations, 120))
    extra = draw(st.lists(st.integers(0, n_locations - 1), min_size=n_pairs - n_locations,
                          max_size=n_pairs - n_locations))
    locations = np.array(list(range(n_locations)) + extra) * 7 + 3  # arbitrary integer keys
    batch = draw(st.integers(2, min(n_locations, 12)))
    with_table = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return locations, batch, with_table, seed


@settings(max_examples=60, deadline=None)
@given(_planner_case())
def test_no_batch_holds_a_location_twice_and_no_pair_repeats(case):
    locations, batch, with_table, seed = case
    planner = BatchPlanner(locations, batch, seed, neighbour_select=4, neighbour_range=6)
    if with_table:
        rng = np.random.default_rng(seed)
        table = np.stack([rng.permutation(planner.n_locations)[:6] for _ in range(planner.n_locations)])
        table[table == np.arange(planner.n_locations)[:, None]] = -1
        planner.set_neighbours(table, "gps", epoch=0)
    for epoch in (1, 2):
        plan = planner.plan(epoch)
        assert plan.ndim == 2 and plan.shape[1] == batch
        flat = plan.ravel()
        assert len(np.unique(flat)) == len(flat), "a pair appears twice in one epoch"
        for b in plan:
            keys = locations[b]
            assert len(np.unique(keys)) == batch, "two pairs of one location share a batch"
        np.testing.assert_array_equal(plan, planner.plan(epoch))


def test_one_pair_per_location_fills_every_full_batch():
    planner = BatchPlanner(np.arange(100), 16, seed=0)
    plan = planner.plan(1)
    assert plan.shape == (6, 16)
    assert planner.max_batches() == 7


def test_anchor_pulls_in_its_nearest_neighbours():
    coords = _us_points(200, seed=3)
    table = gps_neighbours(coords, 16, "haversine")
    planner = BatchPlanner(np.arange(200), 32, seed=5, neighbours=table, neighbour_select=8, neighbour_range=16)
    plan = planner.plan(1)
    anchor = plan[0, 0]
    assert set(table[anchor, :4]) <= set(plan[0]), "the 4 nearest of the first anchor must join its batch"

    def together(p):  # mean share of each pair's 4 nearest that sit in its batch
        return np.mean([len(set(table[a, :4]) & set(b)) / 4 for b in p for a in b])

    random_plan = BatchPlanner(np.arange(200), 32, seed=5).plan(1)
    assert together(plan) > 0.4 > 0.25 > together(random_plan)


def test_plan_depends_on_seed_and_epoch():
    planner = BatchPlanner(np.arange(64), 8, seed=1)
    assert not np.array_equal(planner.plan(1), planner.plan(2))
    assert not np.array_equal(planner.plan(1), BatchPlanner(np.arange(64), 8, seed=2).plan(1))


def test_state_dict_round_trip_reproduces_plans():
    table = gps_neighbours(_us_points(50), 8)
    planner = BatchPlanner(np.arange(50), 10, seed=3, neighbours=table, neighbour_select=4, neighbour_range=8)
    planner.set_neighbours(np.roll(table, 1, axis=1), "dss", epoch=4)
    fresh = BatchPlanner(np.arange(50), 10, seed=3, neighbour_select=4, neighbour_range=8)
    fresh.load_state_dict(planner.state_dict())
    assert fresh.neighbour_source == "dss" and fresh.updated_at_epoch == 4
    np.testing.assert_array_equal(fresh.plan(5), planner.plan(5))
    other = BatchPlanner(np.arange(40), 10, seed=3)
    with pytest.raises(ConfigError, match="locations"):
        other.load_state_dict(planner.state_dict())


def test_batch_larger_than_the_locations_is_refused():
    with pytest.raises(ConfigError, match="exceeds the 3 distinct locations"):
        BatchPlanner(np.array([1, 1, 2, 3]), 4, seed=0)


def test_bad_neighbour_table_is_refused():
    planner = BatchPlanner(np.arange(10), 4, seed=0)
    with pytest.raises(ValueError):
        planner.set_neighbours(np.zeros((9, 3), dtype=int), "gps", 0)
    with pytest.raises(ValueError):
        planner.set_neighbours(np.full((10, 3), 10), "gps", 0)


def test_global_batches_are_sharded_whole_and_contiguously():
    batch = np.arange(12)
    parts = [shard_batch(batch, r, 3) for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), batch)
    with pytest.raises(ConfigError, match="divisible"):
        shard_batch(np.arange(10), 0, 4)


def test_shard_rows_pads_by_repetition_and_covers_every_row():
    rows = [shard_rows(10, r, 4) for r in range(4)]
    assert all(len(r) == 3 for r in rows)
    flat = np.concatenate(rows)
    np.testing.assert_array_equal(flat[:10], np.arange(10))
    assert (flat[10:] == 9).all()
