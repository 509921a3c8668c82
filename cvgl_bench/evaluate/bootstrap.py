"""Uncertainty over places: percentile bootstrap intervals and a paired bootstrap test.

Every metric is a mean of per-query scores, so resampling with replacement gives its sampling
distribution for a split of that size: the 95% percentile interval says how much the value
would move on another draw from the same population. Two records of the same evaluation split
are compared by resampling the same draws for both (paired), which removes the variation the
two share.

The unit drawn is the place, not the query (:func:`place_groups`): queries that share a positive
reference show one place, and their scores rise and fall together (University-1652's drone
views of one building, VIGOR's panoramas inside one aerial tile), so resampling them one by one
would understate the uncertainty and overstate significance. A place's draw brings all its
queries, and a resample's mean is over the queries it brings (the cluster bootstrap, Davison &
Hinkley 1997, section 3.8). Where every place has one query (CVUSA, CVACT) this is the bootstrap
over queries, drawn exactly as before.

Over queries (one per place) the resampling is ``scipy.stats.bootstrap`` (percentile method,
vectorised mean), drawing from ``numpy.random.default_rng(seed)`` in batches of bounded size
(memory O(batch x queries), never n_boot x queries at once): results are reproducible. It
replaced a hand-written loop that drew the same index arrays; tests/test_eval_bootstrap.py keeps
that loop as a reference and checks that every mean, interval and p-value is bit-identical, so
records made before the change still rescore to the same numbers. Over places the same loop
draws place numbers instead (scipy resamples observations, not clusters).
"""

from __future__ import annotations

import numpy as np

from ..data.structures import POSITIVE, GroundTruth
from ..errors import DataError

_BATCH_ELEMENTS = 2 ** 22

RESAMPLES = 1000
"""Resamples of the 95% intervals a run writes into its records (drawn from the cell's seed)."""

RESAMPLE_RANGE = (100, 1_000_000)
"""Resamples a command accepts (0, no interval, aside): with fewer the 2.5th and 97.5th
percentiles are a few resamples' means, and the means of all resamples are held at once
(metrics x resamples floats)."""


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


def place_groups(truth: GroundTruth) -> np.ndarray:
    """The place of every query: queries linked through shared positive references are one place.

    Returns one label per query, numbered 0, 1, ... in order of first appearance. Semi-positives
    and junk do not link queries (VIGOR's overlapping tiles would chain a whole city into one
    place); a query without a positive is a place of its own.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_q = truth.n_queries
    positive = truth.role == POSITIVE
    queries, refs = truth.query_of_entry[positive], truth.ref_index[positive] + n_q
    n = n_q + truth.n_references
    graph = coo_matrix((np.ones(len(queries), dtype=np.int8), (queries, refs)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels[:n_q], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # renumber by first appearance
    return order[inverse].astype(np.int64)


def _check_places(places: np.ndarray | None, n: int) -> np.ndarray | None:
    """``places`` as int64 labels 0..G-1, or None where every query is its own place."""
    if places is None:
        return None
    places = np.asarray(places)
    if places.shape != (n,) or (n and (places.min() < 0 or not np.issubdtype(places.dtype, np.integer))):
        raise DataError(f"places must be one non-negative integer label per query ({n}); got shape {places.shape}")
    _, places = np.unique(places, return_inverse=True)
    return None if n == 0 or places.max() == n - 1 else places.astype(np.int64)


def _place_distribution(values: np.ndarray, places: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` means over the queries of resampled places (``places``: labels 0..G-1)."""
    sums = np.bincount(places, weights=values)
    sizes = np.bincount(places).astype(np.float64)
    if len(sizes) < 2:  # one place: every resample is all of it
        return np.full(n_boot, values.mean())
    rng = np.random.default_rng(seed)
    batch = resample_batch(len(sizes))
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, batch):
        drawn = rng.integers(0, len(sizes), size=(min(batch, n_boot - start), len(sizes)))
        out[start:start + len(drawn)] = sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1)
    return out


def bootstrap_means(per_query: np.ndarray, n_boot: int = 1000, seed: int = 0,
                    places: np.ndarray | None = None) -> np.ndarray:
    """Means of ``n_boot`` resamples, for each row of ``per_query`` (M, N) or (N,).

    ``places``: one label per query (:func:`place_groups`); the places are resampled and each
    brings all its queries. None, or all labels distinct, resamples the queries themselves.
    Every row is resampled with the same draws (each row's draw restarts from ``seed``).
    Returns (M, n_boot) or (n_boot,).
    """
    values = np.asarray(per_query, dtype=np.float64)
    flat = values.ndim == 1
    matrix = values[None, :] if flat else values
    grouped = _check_places(places, matrix.shape[1])
    out = np.empty((matrix.shape[0], n_boot), dtype=np.float64)
    for row in range(matrix.shape[0]):
        out[row] = (_distribution(matrix[row], n_boot, seed) if grouped is None
                    else _place_distribution(matrix[row], grouped, n_boot, seed))
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


def bootstrap_ci(per_query: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 places: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``per_query`` (scores in [0, 1]), in %,
    resampling ``places`` (:func:`bootstrap_means`)."""
    return percentile_interval(bootstrap_means(per_query, n_boot, seed, places), level)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                     places: np.ndarray | None = None) -> dict:
    """Paired bootstrap comparison of two records' per-query scores on the same queries.

    :param a: per-query scores of record A (same eval split, same query order as ``b``).
    :param places: one label per query (:func:`place_groups`): places are resampled, as for
        the intervals; None resamples queries.
    :returns: ``delta`` = mean(a) - mean(b) in %; ``ci95`` its percentile interval (%);
        ``prob_a_better`` the share of resamples where A's mean beats B's (ties count half);
        ``p_value`` two-sided, for "no difference", from the bootstrap distribution shifted to
        the null (Efron & Tibshirani, ch. 16): (1 + #{|delta* - delta| >= |delta|}) / (1 + n_boot);
        ``n_queries``, ``n_places``, ``n_boot``.
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
    boot = bootstrap_means(diff, n_boot, seed, places)
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
            "n_queries": int(a.size), "n_places": count_places(places, int(a.size)), "n_boot": int(n_boot)}


def count_places(places: np.ndarray | None, n_queries: int) -> int:
    """How many places ``places`` holds (``n_queries`` when None: every query its own place)."""
    return n_queries if places is None else int(len(np.unique(np.asarray(places))))
