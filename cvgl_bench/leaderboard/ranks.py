"""Per-query scores from stored rank arrays, for significance tests and recall@K curves.

A record's ``.ranks.npz`` holds, per labelled entry of the ground truth (CSR, aligned with
``gt_ref_index``), the entry's similarity and its strict and loose rank over the whole gallery
(see ``cvgl_bench.evaluate.ranks.RankTable``), plus the ground truth itself (``gt_*``). From
these the *effective* rank of every positive follows exactly: its gallery rank minus the junk
references of the same query that beat it (junk is removed from the ranking), and, for the
VIGOR hit rate, minus the semi-positives that beat it as well.

When the evaluation package (``cvgl_bench.evaluate``) is installed, per-query metric scores come
from its ``rescore``; the functions here are the exact fallback for the recall family and the
source of the recall@K curves (which need the best positive's rank, not a metric).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..data.structures import JUNK, POSITIVE, SEMI_POSITIVE
from ..errors import DataError

RANK_ARRAYS = ("similarity", "rank_strict", "rank_loose", "gt_indptr", "gt_ref_index", "gt_role",
               "gt_n_references")
"""Arrays a record's ranks file must hold for per-query scores."""


def _ordered_keys(similarity: np.ndarray) -> np.ndarray:
    """Unsigned integers that sort exactly like the float32 similarities (-0.0 folded into +0.0)."""
    sim = np.ascontiguousarray(similarity, dtype=np.float32) + np.float32(0.0)
    bits = sim.view(np.uint32).astype(np.uint64)
    negative = (bits & 0x80000000) != 0
    return np.where(negative, (~bits) & 0xFFFFFFFF, bits | 0x80000000)


def _beaten_by(roles_counted: np.ndarray, query: np.ndarray, keys: np.ndarray, targets: np.ndarray,
               strict: bool) -> np.ndarray:
    """For each target entry, how many counted entries of the same query have a higher (or equal) similarity."""
    counted = np.flatnonzero(roles_counted)
    if len(counted) == 0:
        return np.zeros(len(targets), dtype=np.int64)
    combined = np.sort((query[counted].astype(np.uint64) << np.uint64(32)) | keys[counted])
    target_key = (query[targets].astype(np.uint64) << np.uint64(32)) | keys[targets]
    query_end = (query[targets].astype(np.uint64) << np.uint64(32)) | np.uint64(0xFFFFFFFF)
    side = "right" if strict else "left"
    return (np.searchsorted(combined, query_end, "right") - np.searchsorted(combined, target_key, side)).astype(np.int64)


def best_positive_rank(arrays: Mapping[str, np.ndarray], ties: str = "strict", *,
                       mask_semi_positives: bool = False) -> np.ndarray:
    """The 0-based rank of each query's best positive, junk removed; ``n_references`` if it has none.

    ``ties="strict"`` counts references with a strictly higher similarity (ties favour the
    query, Sample4Geo); ``"loose"`` counts equal ones too. ``mask_semi_positives`` also removes
    the semi-positives from the ranking (the VIGOR hit rate).
    """
    missing = [name for name in RANK_ARRAYS if name not in arrays]
    if missing:
        raise DataError(f"ranks file lacks array(s) {', '.join(missing)}; rerun the cell to store them")
    if ties not in ("strict", "loose"):
        raise DataError(f"unknown tie policy {ties!r}; use 'strict' or 'loose'")
    indptr = np.asarray(arrays["gt_indptr"], dtype=np.int64)
    role = np.asarray(arrays["gt_role"])
    n_queries = len(indptr) - 1
    n_references = int(np.asarray(arrays["gt_n_references"]))
    rank = np.asarray(arrays["rank_strict" if ties == "strict" else "rank_loose"], dtype=np.int64)
    if len(rank) != len(role):
        raise DataError("ranks file: rank and ground-truth arrays differ in length")
    query = np.repeat(np.arange(n_queries, dtype=np.int64), np.diff(indptr))
    keys = _ordered_keys(arrays["similarity"])
    positives = np.flatnonzero(role == POSITIVE)
    effective = rank[positives].copy()
    removed = role == JUNK
    if mask_semi_positives:
        removed = removed | (role == SEMI_POSITIVE)
    effective -= _beaten_by(removed, query, keys, positives, strict=ties == "strict")
    best = np.full(n_queries, n_references, dtype=np.int64)
    np.minimum.at(best, query[positives], effective)
    return best


def r1pct_k(n_references: int, convention: str = "floor") -> int:
    """How many top references "recall@1%" looks at, per the ``r1pct`` protocol option."""
    if convention == "floor":
        return max(n_references // 100, 1)
    if convention == "vigor":
        return int(0.01 * n_references) + 1
    if convention == "u1652":
        return round(0.01 * n_references) + 1
    raise DataError(f"unknown r1pct convention {convention!r}; use floor, vigor or u1652")


def local_per_query(arrays: Mapping[str, np.ndarray], protocol: Mapping[str, str], metric: str) -> np.ndarray:
    """Per-query scores in [0, 1] of a recall-family metric, recomputed from stored ranks."""
    ties = protocol.get("ties", "strict")
    if metric == "hit_rate":
        return (best_positive_rank(arrays, ties, mask_semi_positives=True) < 1).astype(np.float64)
    if metric == "recall@1%":
        k = r1pct_k(int(np.asarray(arrays["gt_n_references"])), protocol.get("r1pct", "floor"))
    elif metric.startswith("recall@") and metric[7:].isdigit():
        k = int(metric[7:])
    else:
        raise DataError(f"metric {metric!r} cannot be recomputed from ranks without cvgl_bench.evaluate")
    return (best_positive_rank(arrays, ties) < k).astype(np.float64)


def recall_curve(arrays: Mapping[str, np.ndarray], protocol: Mapping[str, str], k_max: int) -> np.ndarray:
    """Recall@K in % for K = 1..k_max (index K-1), from each query's best positive rank."""
    return curve_from_ranks(best_positive_rank(arrays, protocol.get("ties", "strict")), k_max)


def curve_from_ranks(best: np.ndarray, k_max: int) -> np.ndarray:
    """Recall@K in % for K = 1..k_max from each query's 0-based best positive rank."""
    counts = np.bincount(np.minimum(best, k_max), minlength=k_max + 1)[:k_max]
    return 100.0 * np.cumsum(counts) / max(len(best), 1)
