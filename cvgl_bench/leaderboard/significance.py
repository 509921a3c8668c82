"""Is a method's difference to the best method real? A paired bootstrap over queries.

Two rows of a leaderboard table that were evaluated on the same split (same fingerprint, so
the same queries in the same order) are compared query by query: the per-query scores of the
primary metric are recomputed from each record's stored ranks, averaged over the seeds both
rows share, and resampled together.

The statistics come from the evaluation package (``cvgl_bench.evaluate.bootstrap.paired_bootstrap``
and ``cvgl_bench.evaluate.scoring.rescore``) when it is installed; otherwise from the exact local
fallbacks below, which follow the same signatures.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .ranks import local_per_query

ALPHA = 0.05
"""Significance level of the "significant" column (two-sided)."""


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` when the module exists; None only when the module itself is absent."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of mean(a) - mean(b) over queries (evaluation package, or the local one)."""
    impl = _optional("cvgl_bench.evaluate.bootstrap", "paired_bootstrap")
    if impl is None:
        return local_paired_bootstrap(a, b, n_boot=n_boot, seed=seed)
    return impl(a, b, n_boot=n_boot, seed=seed)


def per_query_scores(arrays: Mapping[str, np.ndarray], protocol: Mapping[str, str], metric: str) -> np.ndarray:
    """Per-query scores in [0, 1] of ``metric`` recomputed from stored rank arrays."""
    rescore = _optional("cvgl_bench.evaluate.scoring", "rescore")
    if rescore is None:
        return local_per_query(arrays, protocol, metric)
    return np.asarray(rescore(dict(arrays), dict(protocol), [metric], n_boot=0).per_query[metric], dtype=np.float64)


def local_paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                           level: float = 0.95) -> dict[str, Any]:
    """Paired percentile bootstrap of ``mean(a) - mean(b)`` (in %), with a two-sided p-value.

    Resampling queries with replacement only changes how often each per-query difference
    occurs, so when the differences take few distinct values (recall: -1, 0, 1) the resampled
    means are drawn as multinomial counts, which is the same distribution at O(n_boot) cost.

    Returns ``{"delta", "ci95": [lo, hi], "p_value", "prob_a_better"}``. The p-value is twice
    the smaller tail of the bootstrap distribution on either side of zero, with the usual +1
    correction, capped at 1: identical inputs give 1.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired bootstrap needs two non-empty per-query arrays of the same length")
    diff = a - b
    rng = np.random.default_rng(seed)
    values, counts = np.unique(diff, return_counts=True)
    n = len(diff)
    if len(values) <= 64:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        means = draws @ values / n
    else:
        means = np.empty(n_boot)
        step = max(1, 4_000_000 // n)
        for start in range(0, n_boot, step):
            stop = min(start + step, n_boot)
            means[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    below = (np.count_nonzero(means <= 0) + 1) / (n_boot + 1)
    above = (np.count_nonzero(means >= 0) + 1) / (n_boot + 1)
    return {"delta": 100.0 * float(diff.mean()), "ci95": [100.0 * float(lo), 100.0 * float(hi)],
            "p_value": float(min(1.0, 2.0 * min(below, above))),
            "prob_a_better": float(np.count_nonzero(means > 0) / n_boot)}


def mean_scores(score_lists: Sequence[np.ndarray]) -> np.ndarray:
    """Per-query mean over seeds (all arrays must cover the same queries)."""
    lengths = {len(s) for s in score_lists}
    if len(lengths) != 1:
        raise ValueError("per-query scores of different lengths")
    return np.mean(np.stack(score_lists), axis=0)
