"""Checking what a search backend returned before a metric sees it.

A search backend must be exact: every metric, interval and leaderboard row is computed from its
ranks, and nothing downstream can tell a wrong rank from a right one. So the ranks of a backend
other than the exact engine itself (:class:`~cvgl_bench.evaluate.search.TorchSearch`) are
checked twice before they are scored: their form (a :class:`RankTable` that fits the ground
truth, finite float similarities, a top-k of the width asked for) and their values, on a sample
of queries re-ranked by the exact engine, which must give the same ranks and top-k, ties
included. A backend that fails is one line naming its plugin, and no record is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.structures import GroundTruth
from ..errors import PluginError
from .ranks import RankTable, compute_ranks

SAMPLE_QUERIES = 64
"""Queries re-ranked by the exact engine per check, spread evenly over the split."""
SIMILARITY_TOLERANCE = 1e-5
"""Largest difference allowed between a backend's similarity and the exact one, relative to the
largest exact similarity's magnitude (float32 products of normalised embeddings differ by ~1e-7)."""


def check_backend_ranks(ranks: Any, query: Any, reference: Any, truth: GroundTruth, *, topk: int,
                        device: str | None, who: str) -> RankTable:
    """``ranks`` when it is the exact rank table of ``query`` against ``reference``; else a
    :class:`PluginError` naming ``who`` (the backend and its plugin) and the first difference."""
    if not isinstance(ranks, RankTable):
        raise PluginError(f"{who}: rank() returned {type(ranks).__name__}, not a cvgl_bench.evaluate.ranks.RankTable")
    try:
        ranks.check_against(truth)
    except ValueError as exc:
        raise PluginError(f"{who}: its ranks do not fit the split's ground truth: {exc}") from None
    similarity = np.asarray(ranks.similarity)
    if similarity.dtype not in (np.float32, np.float64) or not np.isfinite(similarity).all():
        raise PluginError(f"{who}: its similarities must be finite float32 or float64 numbers, not "
                          f"{similarity.dtype} with {int((~np.isfinite(similarity.astype(np.float64))).sum())} "
                          "non-finite value(s)")
    width = min(topk, truth.n_references)
    top = np.asarray(ranks.topk)
    if top.shape != (truth.n_queries, width) or not np.issubdtype(top.dtype, np.integer):
        raise PluginError(f"{who}: its top-k must be integers of shape ({truth.n_queries}, {width}), not "
                          f"{top.dtype} {top.shape}")
    _compare_with_exact(ranks, query, reference, truth, width, device, who)
    return ranks


def _compare_with_exact(ranks: RankTable, query: Any, reference: Any, truth: GroundTruth, topk: int,
                        device: str | None, who: str) -> None:
    if truth.n_queries == 0:
        return
    rows = np.unique(np.linspace(0, truth.n_queries - 1, min(SAMPLE_QUERIES, truth.n_queries)).round().astype(int))
    lo, hi = truth.indptr[rows], truth.indptr[rows + 1]
    entries = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(lo, hi)])
    sample = GroundTruth(np.concatenate([[0], np.cumsum(hi - lo)]), truth.ref_index[entries], truth.role[entries],
                         truth.n_references)
    exact = compute_ranks(query[rows], reference, sample, device=device, topk=topk, screen="fp32")
    owner = np.repeat(rows, hi - lo)
    for name in ("rank_strict", "rank_loose"):
        theirs, ours = np.asarray(getattr(ranks, name))[entries], getattr(exact, name)
        wrong = np.flatnonzero(theirs != ours)
        if len(wrong):
            i = wrong[0]
            raise PluginError(f"{who} is not exact: query {owner[i]}, reference {truth.ref_index[entries[i]]}: "
                              f"{name} {theirs[i]}, the exact engine's {ours[i]} ({len(wrong)} of {len(entries)} "
                              f"checked entries differ); a backend must rank every entry exactly, ties included")
    wrong_top = np.flatnonzero((np.asarray(ranks.topk)[rows] != exact.topk).any(axis=1))
    if len(wrong_top):
        q = rows[wrong_top[0]]
        raise PluginError(f"{who} is not exact: the top-{topk} of query {q} is {np.asarray(ranks.topk)[q].tolist()}, "
                          f"the exact engine's {exact.topk[wrong_top[0]].tolist()} (best first, ties by lower index)")
    scale = max(float(np.abs(exact.similarity).max(initial=0.0)), 1e-12)
    gap = np.abs(np.asarray(ranks.similarity, dtype=np.float64)[entries] - exact.similarity) / scale
    if len(gap) and gap.max() > SIMILARITY_TOLERANCE:
        i = int(gap.argmax())
        raise PluginError(f"{who} is not exact: query {owner[i]}, reference {truth.ref_index[entries[i]]}: similarity "
                          f"{float(np.asarray(ranks.similarity)[entries[i]]):.7g}, the exact engine's "
                          f"{float(exact.similarity[i]):.7g}")
