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


def test_resamples_are_drawn_in_bounded_batches():
    n = 3_000_000
    shapes = [idx.shape for idx in b._resamples(n, 5, seed=0)]
    assert sum(s[0] for s in shapes) == 5 and max(s[0] * s[1] for s in shapes) <= max(n, b._BATCH_ELEMENTS)


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
