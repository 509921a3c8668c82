"""Per-query best positions and recall@K curves, from the ranks stored beside a record.

A query's *best position* is :func:`cvgl_bench.evaluate.metrics.first_position`: the number of
references, neither junk nor positive, ranked above its best positive (junk removed from the
ranking, positives never counting against each other). Recall@K is the share of queries whose
best position is below K, so a curve's value at K equals the ``recall@K`` metric exactly, in the
same tie convention.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .metrics import first_position, tie_rule
from .scoring import stored_ranks


def best_positions(arrays: Mapping[str, np.ndarray], protocol: Mapping[str, str]) -> np.ndarray:
    """int64 per query: its best positive's 0-based position (``n_references`` for a query without one)."""
    ranks, truth = stored_ranks(arrays)
    first = first_position(ranks, truth, tie_rule(protocol))
    return np.where(np.isfinite(first), first, truth.n_references).astype(np.int64)


def recall_curve(best: np.ndarray, k_max: int) -> np.ndarray:
    """Recall@K in % for K = 1..k_max (index K-1) from each query's best position."""
    counts = np.bincount(np.minimum(np.asarray(best, dtype=np.int64), k_max), minlength=k_max + 1)[:k_max]
    return 100.0 * np.cumsum(counts) / max(len(best), 1)
