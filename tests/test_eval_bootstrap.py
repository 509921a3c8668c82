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
