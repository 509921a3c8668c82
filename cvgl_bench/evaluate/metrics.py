"""Retrieval metrics as per-query scores in [0, 1], computed from a :class:`RankTable`.

Every metric is the mean of its per-query scores (reported in %), so one bootstrap (over places,
:mod:`.bootstrap`) serves them all. The conventions of the reference codebases are protocol options:

``ties``
    ``strict`` (default): a reference counts as ranked above an entry only when strictly more
    similar, so ties favour the query (Sample4Geo, TransGeo, SAFA: ``rank = #{sim > sim_gt}``).
    ``loose``: references as similar as the entry count against it.
``r1pct``
    the size k of "top 1%" from the gallery size R (all references, junk included):
    ``floor`` k = floor(R / 100) (Sample4Geo, TransGeo, SAFA; default); ``vigor`` k = int(0.01 R) + 1
    (original VIGOR code); ``u1652`` k = round(0.01 |G|) + 1 (University-1652's ``CMC[round(0.01|G|)]``,
    Python rounding, |G| counting junk).
``cvact_test``, ``distractors``
    change the ground truth a split's reader builds (positives within 5 m UTM or the exact id;
    University-1652 distractors kept as negatives or removed as junk); the metrics only name them.

Definitions, for one query under the tie rule T:

* Junk references are removed from the query's ranking: an entry's rank loses the junk
  entries ranked above it under T.
* Positives never count against each other: the *first position* of a query is the number of
  references that are neither junk nor positive and are ranked above its best positive under T
  (infinite when the query has no positive). Semi-positives are negatives here.
* ``recall@k``: hit iff first position < k (University-1652's CMC[k-1] when several positives).
* ``recall@1%``: ``recall@k`` with k from ``r1pct``.
* ``hit_rate`` (VIGOR): hit iff first position is 0 once the query's semi-positives are removed
  as well, i.e. no reference other than the semi-positives is more similar than the positive
  (``validate_top`` of the original VIGOR code; not "top-1 is a positive or a semi-positive").
* ``ap``: Market-1501 / University-1652 average precision with the positives placed at their
  positions in the junk-free ranking (tied positives adjacent, ordered as T says against
  tied negatives): AP = sum_i (1/n) (p_{i-1} + p_i) / 2 with p_i = i / pos_i (1-based), and the
  first term's p_0 = 1 when the first positive is at the top. A query with no positive scores 0
  and still counts in the mean, as in the reference code.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.structures import JUNK, POSITIVE, SEMI_POSITIVE, GroundTruth
from .ranks import RankTable

__all__ = ["Metric", "MetricFunction", "average_precision", "chance_recall", "first_position", "hit_rate",
           "recall_at", "tie_rule", "top_one_percent"]
"""What a metric plugin builds on (docs/plugins.md, Part 3); other names are internal."""

TIES = ("strict", "loose")
R1PCT = ("floor", "vigor", "u1652")


def tie_rule(protocol: Mapping[str, str]) -> str:
    """The ``ties`` option of a resolved protocol (``strict`` when absent): pass it to
    :func:`first_position` and the per-query metrics so a plugin metric follows the split's rule."""
    ties = protocol.get("ties", "strict")
    if ties not in TIES:
        raise ValueError(f"protocol option ties={ties!r} is not one of {TIES}")
    return ties


def chance_recall(truth: GroundTruth, k: int) -> float:
    """Recall@k (%) of a uniformly random ranking of the gallery: per query, the probability that
    one of its ``p`` positives lies among the first ``k`` of its ``n`` ranked references (junk
    removed; semi-positives count as negatives, as in recall@k), ``1 - C(n-p, k) / C(n, k)``,
    averaged over the queries."""
    from scipy.special import gammaln

    if k <= 0 or truth.n_queries == 0:
        return 0.0
    query = truth.query_of_entry
    positives = np.bincount(query[truth.role == POSITIVE], minlength=truth.n_queries).astype(np.float64)
    junk = np.bincount(query[truth.role == JUNK], minlength=truth.n_queries).astype(np.float64)
    n = truth.n_references - junk
    k_eff = np.minimum(float(k), n)
    # log C(n-p, k) - log C(n, k), where C(n-p, k) = 0 once k > n-p
    miss = gammaln(n - positives + 1) - gammaln(n - positives - k_eff + 1) - gammaln(n + 1) + gammaln(n - k_eff + 1)
    p_miss = np.where(n - positives >= k_eff, np.exp(np.minimum(miss, 0.0)), 0.0)
    return float(np.mean(np.where(positives > 0, 1.0 - p_miss, 0.0)) * 100.0)


def top_one_percent(n_references: int, rule: str) -> int:
    """The k of "recall@1%" for a gallery of ``n_references`` under an ``r1pct`` rule."""
    if rule == "floor":
        return n_references // 100
    if rule == "vigor":
        return int(0.01 * n_references) + 1
    if rule == "u1652":
        return round(n_references * 0.01) + 1
    raise ValueError(f"protocol option r1pct={rule!r} is not one of {R1PCT}")


@dataclass(frozen=True)
class EntryOrder:
    """For every entry: how many entries of its own query, by role, are ranked above it."""

    junk: np.ndarray
    semi: np.ndarray
    positive: np.ndarray
    positive_index: np.ndarray
    """Position of the entry among its query's positives, best first (ties adjacent)."""


def entry_order(ranks: RankTable, truth: GroundTruth, ties: str) -> EntryOrder:
    """Counts of same-query entries above each entry under ``ties`` (cached on ``ranks``)."""
    key = ("entry_order", id(truth), ties)
    cached = ranks._cache.get(key)
    if cached is not None and cached[0] is truth:
        return cached[1]
    query = truth.query_of_entry
    order = np.lexsort((-ranks.similarity, query))
    sim = ranks.similarity[order]
    q = query[order]
    n = len(order)
    new = np.ones(n, bool)
    new[1:] = (q[1:] != q[:-1]) | (sim[1:] != sim[:-1])
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    group_start = starts[group]
    group_end = np.append(starts[1:], n)[group]
    query_start = truth.indptr[q]
    role = truth.role[order]

    def above(which: int) -> np.ndarray:
        mine = role == which
        seen = np.concatenate([[0], np.cumsum(mine)])
        if ties == "strict":
            count = seen[group_start] - seen[query_start]
        else:
            count = seen[group_end] - seen[query_start] - mine
        out = np.empty(n, np.int64)
        out[order] = count
        return out

    is_pos = role == POSITIVE
    pos_seen = np.concatenate([[0], np.cumsum(is_pos)])
    index = np.empty(n, np.int64)
    index[order] = pos_seen[np.arange(n)] - pos_seen[query_start]
    result = EntryOrder(above(JUNK), above(SEMI_POSITIVE), above(POSITIVE), index)
    ranks._cache[key] = (truth, result)
    return result


def _rank(ranks: RankTable, ties: str) -> np.ndarray:
    return ranks.rank_strict if ties == "strict" else ranks.rank_loose


def first_position(ranks: RankTable, truth: GroundTruth, ties: str, without_semi: bool = False) -> np.ndarray:
    """Per query: references (not junk, not positive) ranked above its best positive; inf if none."""
    ranks.check_against(truth)
    order = entry_order(ranks, truth, ties)
    competing = _rank(ranks, ties) - order.junk - order.positive
    if without_semi:
        competing = competing - order.semi
    out = np.full(truth.n_queries, np.inf)
    pos = truth.role == POSITIVE
    np.minimum.at(out, truth.query_of_entry[pos], competing[pos].astype(np.float64))
    return out


def recall_at(ranks: RankTable, truth: GroundTruth, k: int, ties: str = "strict") -> np.ndarray:
    """Per query 1.0 if a positive is among the top ``k`` of its junk-free ranking, else 0.0."""
    return (first_position(ranks, truth, ties) < k).astype(np.float64)


def hit_rate(ranks: RankTable, truth: GroundTruth, ties: str = "strict") -> np.ndarray:
    """VIGOR hit rate per query: the positive beats every reference but the semi-positives."""
    return (first_position(ranks, truth, ties, without_semi=True) < 1).astype(np.float64)


def average_precision(ranks: RankTable, truth: GroundTruth, ties: str = "strict") -> np.ndarray:
    """Market-1501 trapezoid AP per query (junk removed; no positive scores 0)."""
    ranks.check_against(truth)
    order = entry_order(ranks, truth, ties)
    pos = truth.role == POSITIVE
    query = truth.query_of_entry[pos]
    i = order.positive_index[pos].astype(np.float64)  # 0-based among the query's positives
    position = (_rank(ranks, ties) - order.junk - order.positive)[pos] + i  # 0-based, junk-free
    precision = (i + 1) / (position + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        old = np.where(position > 0, i / np.maximum(position, 1), 1.0)
    n_good = truth.n_positives()[query].astype(np.float64)
    terms = (old + precision) / 2 / n_good
    return np.bincount(query, weights=terms, minlength=truth.n_queries)


# -- metric plugins: per_query(ranks, data, protocol) and describe(protocol, truth) ------------


def _tie_phrase(ties: str) -> str:
    if ties == "strict":
        return "strict ranks (ties favour the query)"
    return "loose ranks (ties count against the query)"


_OPTION_PHRASES = {
    ("cvact_test", "utm5m"): "positives: every reference within 5 m UTM (official OriCNN protocol)",
    ("cvact_test", "exact_id"): "positive: the reference with the query's id (Sample4Geo)",
    ("distractors", "kept"): "distractor buildings kept in the gallery (official University-1652)",
    ("distractors", "removed"): "distractors removed from every ranking as junk (Sample4Geo)",
}


def _extras(protocol: Mapping[str, str]) -> str:
    parts = [_OPTION_PHRASES[(k, v)] for k, v in sorted(protocol.items()) if (k, v) in _OPTION_PHRASES]
    return "".join(f"; {p}" for p in parts)


def _truth_of(data: Any) -> GroundTruth:
    return data if isinstance(data, GroundTruth) else data.truth


class MetricFunction(abc.ABC):
    """What a metric plugin's loader resolves to: per-query scores from stored ranks.

    Subclass it (or give any callable with the same signature): :meth:`__call__` is required,
    :meth:`describe` optional. The metric's value is the mean of the scores in %, so every metric
    gets the same bootstrap intervals and paired tests.
    """

    @abc.abstractmethod
    def __call__(self, ranks: RankTable, data: Any, protocol: Mapping[str, str]) -> np.ndarray:
        """One score in [0, 1] per query; ``data`` is the split's EvalData (or its GroundTruth)."""

    def describe(self, protocol: Mapping[str, str], data: Any) -> str | None:
        """The one line naming the convention, stored in the record; None: the spec's
        ``convention_option`` or ``summary`` says it."""
        return None


@dataclass(frozen=True)
class Metric(MetricFunction):
    """A per-query metric function with the text that names its convention."""

    compute: Callable[[RankTable, GroundTruth, Mapping[str, str]], np.ndarray]
    explain: Callable[[Mapping[str, str], GroundTruth], str]

    def __call__(self, ranks: RankTable, data: Any, protocol: Mapping[str, str]) -> np.ndarray:
        """Per-query scores in [0, 1]; ``data`` is an EvalData (or anything with ``.truth``)."""
        return self.compute(ranks, _truth_of(data), protocol)

    def describe(self, protocol: Mapping[str, str], data: Any) -> str:
        """One line naming the convention the values were computed under."""
        return self.explain(protocol, _truth_of(data)) + _extras(protocol)


def _recall(k: int) -> Metric:
    return Metric(
        lambda ranks, truth, protocol: recall_at(ranks, truth, k, tie_rule(protocol)),
        lambda protocol, truth: f"{_tie_phrase(tie_rule(protocol))}; hit if a positive is within the top {k} "
                                f"(junk removed, semi-positives count as negatives)",
    )


def _r1pct_text(protocol: Mapping[str, str], truth: GroundTruth) -> str:
    rule = protocol.get("r1pct", "floor")
    n = truth.n_references
    k = top_one_percent(n, rule)
    formula = {"floor": f"floor(R/100) = {k} (Sample4Geo, TransGeo, SAFA)",
               "vigor": f"int(0.01R)+1 = {k} (original VIGOR code)",
               "u1652": f"round(0.01|G|)+1 = {k} (University-1652; |G| counts junk)"}[rule]
    empty = "; k = 0 under 100 references, so recall@1% is 0 by construction" if k == 0 else ""
    return f"{_tie_phrase(tie_rule(protocol))}; top-k = {formula}, R = {n} references{empty}"


recall_at_1 = _recall(1)
recall_at_5 = _recall(5)
recall_at_10 = _recall(10)
recall_at_1pct = Metric(
    lambda ranks, truth, protocol: recall_at(ranks, truth, top_one_percent(truth.n_references,
                                                                           protocol.get("r1pct", "floor")),
                                             tie_rule(protocol)),
    _r1pct_text,
)
vigor_hit_rate = Metric(
    lambda ranks, truth, protocol: hit_rate(ranks, truth, tie_rule(protocol)),
    lambda protocol, truth: f"{_tie_phrase(tie_rule(protocol))}; hit if no reference other than the query's "
                            f"semi-positives is more similar than the positive (VIGOR validate_top)",
)
mean_average_precision = Metric(
    lambda ranks, truth, protocol: average_precision(ranks, truth, tie_rule(protocol)),
    lambda protocol, truth: f"{_tie_phrase(tie_rule(protocol))}; mean AP, Market-1501 trapezoid form, junk "
                            f"removed; queries without a positive score 0",
)
