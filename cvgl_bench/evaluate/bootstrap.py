"""Uncertainty over queries: percentile bootstrap intervals and a paired bootstrap test.

Every metric is a mean of per-query scores, so resampling queries with replacement gives its
sampling distribution for a split of that size: the 95% percentile interval says how much the
value would move on another draw of queries from the same population. Two records of the same
evaluation split are compared by resampling the same queries for both (paired), which removes
the variation the two share.

The resampling is ``scipy.stats.bootstrap`` (percentile method, vectorised mean), drawing from
``numpy.random.default_rng(seed)`` in batches of bounded size (memory O(batch x queries), never
n_boot x queries at once): results are reproducible. It replaced a hand-written loop that drew
the same index arrays; tests/test_eval_bootstrap.py keeps that loop as a reference and checks
that every mean, interval and p-value is bit-identical, so records made before the change
still rescore to the same numbers.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

_BATCH_ELEMENTS = 2 ** 22


def resample_batch(n: int) -> int:
    """Resamples drawn at once for ``n`` queries: a batch holds about 4 M query indices.

    The batch size is part of the result: numpy draws bounded integers per call, so another
    batching would draw other resamples from the same seed."""
    return max(1, _BATCH_ELEMENTS // max(n, 1))


def _distribution(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` bootstrap means of one row of per-query scores."""
    if values.size < 2:  # scipy needs two observations; every resample of one query is that query
        return np.full(n_boot, values.mean() if values.size else np.nan)
    from scipy.stats import bootstrap

    result = bootstrap((values,), np.mean, n_resamples=n_boot, batch=resample_batch(values.size), vectorized=True,
                       method="percentile", rng=np.random.default_rng(seed))
    return np.asarray(result.bootstrap_distribution, dtype=np.float64)


def bootstrap_means(per_query: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples of the queries, for each row of ``per_query`` (M, N) or (N,).

    Every row is resampled with the same query indices (each row's draw restarts from ``seed``).
    Returns (M, n_boot) or (n_boot,).
    """
    values = np.asarray(per_query, dtype=np.float64)
    flat = values.ndim == 1
    matrix = values[None, :] if flat else values
    out = np.empty((matrix.shape[0], n_boot), dtype=np.float64)
    for row in range(matrix.shape[0]):
        out[row] = _distribution(matrix[row], n_boot, seed)
    return out[0] if flat else out


def percentile_interval(means: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap means, in % (like metric values)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level}")
    means = np.asarray(means, dtype=np.float64)
    if means.size == 0 or np.isnan(means).any():
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail]) * 100
    return (float(lo), float(hi))


def bootstrap_ci(per_query: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``per_query`` (scores in [0, 1]), in %."""
    return percentile_interval(bootstrap_means(per_query, n_boot, seed), level)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> dict:
    """Paired bootstrap comparison of two records' per-query scores on the same queries.

    :param a: per-query scores of record A (same eval split, same query order as ``b``).
    :returns: ``delta`` = mean(a) - mean(b) in %; ``ci95`` its percentile interval (%);
        ``prob_a_better`` the share of resamples where A's mean beats B's (ties count half);
        ``p_value`` two-sided, for "no difference", from the bootstrap distribution shifted to
        the null (Efron & Tibshirani, ch. 16): (1 + #{|delta* - delta| >= |delta|}) / (1 + n_boot);
        ``n_queries``, ``n_boot``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"a paired test needs per-query scores of the same queries; got {a.shape} and {b.shape}")
    if a.size == 0:
        raise DataError("a paired test needs at least one query")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    diff = a - b
    delta = float(diff.mean())
    boot = bootstrap_means(diff, n_boot, seed)
    lo, hi = percentile_interval(boot)
    # Means of exactly equal sums can differ in the last bit; treat those as ties.
    tol = 1e-12 * max(1.0, float(np.abs(diff).max()))
    better = float(np.mean(boot > tol) + 0.5 * np.mean(np.abs(boot) <= tol))
    if abs(delta) <= tol:
        p_value = 1.0
    else:
        extreme = int(np.count_nonzero(np.abs(boot - delta) >= abs(delta) - tol))
        p_value = min(1.0, (1 + extreme) / (1 + n_boot))
    return {"delta": delta * 100, "ci95": [lo, hi], "p_value": p_value, "prob_a_better": better,
            "n_queries": int(a.size), "n_boot": int(n_boot)}
