"""Uncertainty over queries: percentile bootstrap intervals and a paired bootstrap test.

Every metric is a mean of per-query scores, so resampling queries with replacement gives its
sampling distribution for a split of that size: the 95% percentile interval says how much the
value would move on another draw of queries from the same population. Two records of the same
evaluation split are compared by resampling the same queries for both (paired), which removes
the variation the two share.

Resamples are drawn in batches of bounded size (memory O(batch x queries), never
n_boot x queries at once) from ``numpy.random.default_rng(seed)``: results are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import DataError

_BATCH_ELEMENTS = 2 ** 22


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays of shape (batch, n), n_boot rows in all."""
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_ELEMENTS // max(n, 1))
    for start in range(0, n_boot, batch):
        yield rng.integers(0, n, size=(min(batch, n_boot - start), n))


def bootstrap_means(per_query: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples of the queries, for each row of ``per_query`` (M, N) or (N,).

    Every row is resampled with the same query indices. Returns (M, n_boot) or (n_boot,).
    """
    values = np.asarray(per_query, dtype=np.float64)
    flat = values.ndim == 1
    matrix = values[None, :] if flat else values
    n = matrix.shape[1]
    out = np.empty((matrix.shape[0], n_boot), dtype=np.float64)
    if n == 0:
        out[:] = np.nan
    else:
        done = 0
        for idx in _resamples(n, n_boot, seed):
            for row in range(matrix.shape[0]):
                out[row, done:done + len(idx)] = matrix[row][idx].mean(axis=1)
            done += len(idx)
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
