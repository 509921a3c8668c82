"""Bootstrap intervals cover the truth on a simulated population; the paired test behaves."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.errors import DataError
from cvgl_bench.evaluate import bootstrap as b


@pytest.mark.parametrize("draw, truth", [
    (lambda rng, n: (rng.random(n) < 0.3).astype(float), 0.3),                 # a recall: Bernoulli(0.3)
    (lambda rng, n: rng.beta(2.0, 5.0, n), 2.0 / 7.0),                         # an AP-like score in [0, 1]
])
def test_interval_covers_the_population_value_about_95_percent(draw, truth):
    rng = np.random.default_rng(0)
    repeats = 300
    covered = 0
    for r in range(repeats):
        lo, hi = b.bootstrap_ci(draw(rng, 300), n_boot=400, seed=r)
        covered += lo <= truth * 100 <= hi
    assert 0.90 <= covered / repeats <= 0.985


def test_interval_is_reproducible_and_brackets_the_value():
    scores = (np.random.default_rng(1).random(500) < 0.6).astype(float)
    first = b.bootstrap_ci(scores, n_boot=300, seed=7)
    assert first == b.bootstrap_ci(scores, n_boot=300, seed=7)
    assert first != b.bootstrap_ci(scores, n_boot=300, seed=8)
    assert first[0] <= scores.mean() * 100 <= first[1]
    assert b.bootstrap_ci(np.ones(50)) == (100.0, 100.0)
    assert np.isnan(b.bootstrap_ci(np.zeros(0))[0])


def test_resamples_are_drawn_in_bounded_batches(monkeypatch):
    import scipy.stats

    for n in (3, 1000, 3_000_000):
        assert b.resample_batch(n) * n <= max(n, b._BATCH_ELEMENTS) and b.resample_batch(n) >= 1
    asked = []
    real = scipy.stats.bootstrap
    monkeypatch.setattr(scipy.stats, "bootstrap", lambda *a, **kw: asked.append(kw["batch"]) or real(*a, **kw))
    b.bootstrap_means(np.ones(20_000), n_boot=5, seed=0)
    assert asked == [b.resample_batch(20_000)]


def test_shared_resamples_for_several_metrics():
    rng = np.random.default_rng(2)
    x = (rng.random(200) < 0.5).astype(float)
    both = b.bootstrap_means(np.stack([x, 1 - x]), n_boot=100, seed=3)
    np.testing.assert_allclose(both[0] + both[1], 1.0)
    np.testing.assert_array_equal(both[0], b.bootstrap_means(x, n_boot=100, seed=3))


def test_paired_test_sees_a_clear_difference():
    rng = np.random.default_rng(3)
    base = (rng.random(1000) < 0.5).astype(float)
    better = np.where(rng.random(1000) < 0.1, 1.0, base)  # A fixes about 5% of the queries
    result = b.paired_bootstrap(better, base, n_boot=2000, seed=0)
    assert result["delta"] == pytest.approx((better.mean() - base.mean()) * 100)
    assert result["p_value"] < 0.01 and result["prob_a_better"] > 0.99
    assert 0 < result["ci95"][0] <= result["delta"] <= result["ci95"][1]
    reverse = b.paired_bootstrap(base, better, n_boot=2000, seed=0)
    assert reverse["prob_a_better"] < 0.01 and reverse["delta"] == pytest.approx(-result["delta"])


def test_paired_test_of_identical_records():
    x = (np.random.default_rng(4).random(300) < 0.4).astype(float)
    result = b.paired_bootstrap(x, x.copy(), n_boot=500)
    assert result["delta"] == 0 and result["p_value"] == 1.0 and result["prob_a_better"] == 0.5


def test_paired_test_keeps_its_level_under_the_null():
    rng = np.random.default_rng(5)
    rejections = 0
    trials = 200
    for t in range(trials):
        p = rng.random(400) * 0.8 + 0.1           # per-query difficulty shared by both methods
        a = (rng.random(400) < p).astype(float)
        c = (rng.random(400) < p).astype(float)
        rejections += b.paired_bootstrap(a, c, n_boot=400, seed=t)["p_value"] < 0.05
    assert 0.01 <= rejections / trials <= 0.11


def test_paired_test_needs_the_same_queries():
    with pytest.raises(DataError, match="same queries"):
        b.paired_bootstrap(np.zeros(3), np.zeros(4))
    with pytest.raises(DataError, match="at least one"):
        b.paired_bootstrap(np.zeros(0), np.zeros(0))


def _hand_written_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """The loop bootstrap.py used before scipy.stats.bootstrap: the reference the records were made with."""
    rng = np.random.default_rng(seed)
    n = values.size
    batch = max(1, 2 ** 22 // max(n, 1))
    out = []
    for start in range(0, n_boot, batch):
        idx = rng.integers(0, n, size=(min(batch, n_boot - start), n))
        out.append(values[idx].mean(axis=1))
    return np.concatenate(out)


@pytest.mark.parametrize("n", [1, 2, 3, 50, 1000, 9000])
def test_scipy_resampling_is_bit_identical_to_the_hand_written_loop(n):
    rng = np.random.default_rng(n)
    scores = (rng.random(n) < 0.3).astype(np.float64)
    for seed in (0, 7):
        n_boot = 1200 if n == 9000 else 1000  # 9,000 queries: 466 resamples per batch, so three batches
        reference = _hand_written_means(scores, n_boot, seed)
        means = b.bootstrap_means(scores, n_boot=n_boot, seed=seed)
        np.testing.assert_array_equal(means, reference)
        assert b.percentile_interval(means) == b.percentile_interval(reference)
    other = (rng.random(n) < 0.35).astype(np.float64)
    ref_diff = _hand_written_means(other - scores, 2000, 0)
    test = b.paired_bootstrap(other, scores, n_boot=2000, seed=0)
    assert test["ci95"] == list(b.percentile_interval(ref_diff))


# -- places: queries sharing a positive reference are resampled together -------------------------

def test_places_link_queries_through_shared_positives_only():
    from cvgl_bench.data.structures import GroundTruth

    # q0, q1 share r0; q2 shares r1 with q1 (so one place of three); q3 has r2 as a semi-positive
    # of q0's place only; q4 has no positive; q5 and q6 share r3 (junk for q4 does not link it)
    truth = GroundTruth.from_lists([[0], [0, 1], [1], [2], [], [3], [3]], 5,
                                   semi_positives=[[2], [], [], [], [], [], []],
                                   junk=[[], [], [], [], [3], [], []])
    assert b.place_groups(truth).tolist() == [0, 0, 0, 1, 2, 3, 3]
    one_to_one = GroundTruth.one_to_one(np.array([3, 1, 2, 0]), 6)
    assert b.place_groups(one_to_one).tolist() == [0, 1, 2, 3]
    assert b.place_groups(GroundTruth.from_lists([], 3)).tolist() == []


def test_one_query_per_place_is_the_bootstrap_over_queries_bit_for_bit():
    scores = (np.random.default_rng(11).random(700) < 0.4).astype(float)
    queries = b.bootstrap_means(scores, n_boot=800, seed=3)
    np.testing.assert_array_equal(b.bootstrap_means(scores, n_boot=800, seed=3, places=np.arange(700)[::-1]), queries)
    other = (np.random.default_rng(12).random(700) < 0.5).astype(float)
    assert (b.paired_bootstrap(other, scores, n_boot=900, places=np.arange(700))
            == {**b.paired_bootstrap(other, scores, n_boot=900), "n_places": 700})


def _clustered_population(rng, n_places: int, per_place: int, base: float = 0.3):
    """Recall-like scores where a place's queries share its difficulty (the U-1652 situation)."""
    difficulty = np.clip(base + rng.normal(0.0, 0.25, n_places), 0.0, 1.0)
    places = np.repeat(np.arange(n_places), per_place)
    return (rng.random(places.size) < difficulty[places]).astype(float), places


def test_place_intervals_cover_where_query_intervals_do_not():
    """With 20 correlated queries per place, resampling queries gives intervals far too narrow;
    resampling places covers the population value about 95% of the time."""
    rng = np.random.default_rng(0)
    truth = np.mean(np.clip(0.3 + rng.normal(0.0, 0.25, 2_000_000), 0, 1))  # the population's mean recall
    covered = {"queries": 0, "places": 0}
    repeats = 200
    for r in range(repeats):
        scores, places = _clustered_population(rng, 40, 20)
        lo, hi = b.bootstrap_ci(scores, n_boot=400, seed=r)
        covered["queries"] += lo <= truth * 100 <= hi
        lo, hi = b.bootstrap_ci(scores, n_boot=400, seed=r, places=places)
        covered["places"] += lo <= truth * 100 <= hi
    assert covered["queries"] / repeats < 0.75  # measured: 0.59
    assert 0.88 <= covered["places"] / repeats <= 0.995  # measured: 0.97


def test_paired_test_over_places_keeps_its_level_on_clustered_queries():
    """Two equal methods whose per-place luck differs: over queries the test rejects far too often,
    over places it keeps about its 5% level."""
    rng = np.random.default_rng(5)
    trials, rejected = 150, {"queries": 0, "places": 0}
    for t in range(trials):
        places = np.repeat(np.arange(40), 20)
        luck = rng.normal(0.0, 0.2, (2, 40))  # each method's own per-place advantage, mean zero
        p = np.clip(0.4 + luck[:, places], 0.0, 1.0)
        a, c = (rng.random(p.shape) < p).astype(float)
        rejected["queries"] += b.paired_bootstrap(a, c, n_boot=400, seed=t)["p_value"] < 0.05
        result = b.paired_bootstrap(a, c, n_boot=400, seed=t, places=places)
        rejected["places"] += result["p_value"] < 0.05
        assert result["n_places"] == 40 and result["n_queries"] == 800
    assert rejected["queries"] / trials > 0.2  # measured: 0.34
    assert rejected["places"] / trials <= 0.11  # measured: 0.05


def test_place_resamples_are_drawn_in_bounded_batches_and_reproducibly():
    rng = np.random.default_rng(6)
    scores, places = _clustered_population(rng, 30_000, 3)
    first = b.bootstrap_means(np.stack([scores, 1 - scores]), n_boot=300, seed=2, places=places)
    assert b.resample_batch(30_000) < 300  # so several batches were drawn
    np.testing.assert_array_equal(first, b.bootstrap_means(np.stack([scores, 1 - scores]), 300, 2, places))
    np.testing.assert_allclose(first[0] + first[1], 1.0)
    assert not np.array_equal(first[0], b.bootstrap_means(scores, 300, 3, places))
    # one place: every resample is the whole set
    assert b.bootstrap_ci(scores[:5], places=np.zeros(5, dtype=int)) == pytest.approx((scores[:5].mean() * 100,) * 2)


@pytest.mark.parametrize("places", [np.zeros(3, dtype=int), np.array([0, 1, -1, 2]), np.array([0.5, 1, 2, 3])])
def test_places_must_label_every_query(places):
    with pytest.raises(DataError, match="one non-negative integer label per query"):
        b.bootstrap_means(np.zeros(4), n_boot=10, places=places)
