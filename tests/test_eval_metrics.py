"""Metrics against an independent implementation that builds each query's ranking explicitly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE, GroundTruth
from cvgl_bench.evaluate import metrics as m
from cvgl_bench.evaluate.ranks import RankTable
from tests.test_eval_ranks import brute_ranks, problems


def table_from(sim: np.ndarray, truth: GroundTruth) -> RankTable:
    q, r = truth.query_of_entry, truth.ref_index
    own = sim[q, r]
    strict = (sim[q] > own[:, None]).sum(axis=1)
    loose = (sim[q] >= own[:, None]).sum(axis=1) - 1
    strict[truth.role == JUNK], loose[truth.role == JUNK] = -1, -1  # junk is never ranked
    return RankTable(own, strict, loose, np.zeros((truth.n_queries, 0), int))


def ranking(sim_row: np.ndarray, roles: dict[int, int], ties: str, drop: tuple[int, ...]) -> list[int]:
    """The query's ranked gallery: most similar first; among equals, positives first under
    ``strict`` (ties favour the query) and last under ``loose``; ``drop`` roles removed."""
    def tie_key(j: int) -> int:
        positive = roles.get(j) == POSITIVE
        return (0 if positive else 1) if ties == "strict" else (1 if positive else 0)

    order = sorted(range(len(sim_row)), key=lambda j: (-sim_row[j], tie_key(j), j))
    return [j for j in order if roles.get(j) not in drop]


def roles_of(truth: GroundTruth, q: int) -> dict[int, int]:
    refs, roles = truth.entries(q)
    return {int(a): int(b) for a, b in zip(refs, roles)}


def brute_first_position(sim, truth, q, ties, drop=(JUNK,)):
    roles = roles_of(truth, q)
    ranked = ranking(sim[q], roles, ties, drop)
    hits = [i for i, j in enumerate(ranked) if roles.get(j) == POSITIVE]
    return hits[0] if hits else np.inf


def brute_ap(sim, truth, q, ties):
    """University-1652 / Market-1501 compute_mAP, written out on the explicit ranking."""
    roles = roles_of(truth, q)
    ranked = ranking(sim[q], roles, ties, (JUNK,))
    rows_good = [i for i, j in enumerate(ranked) if roles.get(j) == POSITIVE]
    ngood = len(rows_good)
    ap = 0.0
    for i in range(ngood):
        precision = (i + 1) / (rows_good[i] + 1)
        old_precision = i / rows_good[i] if rows_good[i] != 0 else 1.0
        ap += (1.0 / ngood) * (old_precision + precision) / 2
    return ap


@pytest.mark.parametrize("ties", ["strict", "loose"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_every_metric_matches_the_explicit_rankings(ties, problem):
    check_every_metric(ties, problem)


@settings(max_examples=20, deadline=None)
@given(problem=problems(integer=False))
def test_every_metric_matches_the_explicit_rankings_on_random_floats(problem):
    check_every_metric("strict", problem)


def check_every_metric(ties, problem):
    query, reference, truth = problem
    _, _, _, sim = brute_ranks(query, reference, truth)
    table = table_from(sim, truth)
    first = [brute_first_position(sim, truth, q, ties) for q in range(truth.n_queries)]
    first_no_semi = [brute_first_position(sim, truth, q, ties, (JUNK, SEMI_POSITIVE)) for q in range(truth.n_queries)]
    for k in (1, 2, 5, 10):
        np.testing.assert_array_equal(m.recall_at(table, truth, k, ties), [float(f < k) for f in first])
    np.testing.assert_array_equal(m.hit_rate(table, truth, ties), [float(f < 1) for f in first_no_semi])
    np.testing.assert_allclose(m.average_precision(table, truth, ties),
                               [brute_ap(sim, truth, q, ties) for q in range(truth.n_queries)], rtol=1e-12)
    protocol = {"ties": ties}
    for rule in ("floor", "vigor", "u1652"):
        protocol["r1pct"] = rule
        k = {"floor": len(reference) // 100, "vigor": int(0.01 * len(reference)) + 1,
             "u1652": round(len(reference) * 0.01) + 1}[rule]
        np.testing.assert_array_equal(m.recall_at_1pct(table, truth, protocol), [float(f < k) for f in first])


def _truth_and_table(sim_row, positives, semi=(), junk=()):
    sim = np.asarray([sim_row], dtype=np.float64)
    truth = GroundTruth.from_lists([list(positives)], sim.shape[1], [list(semi)], [list(junk)])
    return truth, table_from(sim, truth)


def test_vigor_hit_rate_is_not_top1_in_positive_or_semi():
    # ranking: semi (0.9), negative (0.8), positive (0.7): a miss for R@1 and for the hit rate
    truth, table = _truth_and_table([0.7, 0.9, 0.8, 0.1], [0], semi=[1])
    assert m.recall_at(table, truth, 1)[0] == 0 and m.hit_rate(table, truth)[0] == 0
    # ranking: semi, semi, positive: the hit rate masks both semi-positives
    truth, table = _truth_and_table([0.7, 0.9, 0.8, 0.1], [0], semi=[1, 2])
    assert m.recall_at(table, truth, 1)[0] == 0 and m.hit_rate(table, truth)[0] == 1
    assert m.recall_at(table, truth, 3)[0] == 1


def test_tie_rules():
    truth, table = _truth_and_table([0.5, 0.5, 0.5, 0.2], [1])  # positive tied with two references
    assert m.recall_at(table, truth, 1, "strict")[0] == 1
    assert m.recall_at(table, truth, 1, "loose")[0] == 0 and m.recall_at(table, truth, 3, "loose")[0] == 1
    # tied positives do not count against each other, even under the loose rule
    truth, table = _truth_and_table([0.5, 0.5, 0.1], [0, 1])
    assert m.recall_at(table, truth, 1, "loose")[0] == 1
    assert m.average_precision(table, truth, "loose")[0] == pytest.approx(1.0)


def test_junk_is_removed_and_queries_without_positive_score_zero():
    sim = np.array([[0.9, 0.8, 0.1], [0.3, 0.2, 0.1]])
    truth = GroundTruth.from_lists([[1], []], 3, None, [[0], [2]])
    table = table_from(sim, truth)
    np.testing.assert_array_equal(m.recall_at(table, truth, 1), [1.0, 0.0])
    np.testing.assert_array_equal(m.average_precision(table, truth), [1.0, 0.0])


def test_average_precision_worked_example():
    # positives at positions 0 and 2: (1/2)(1 + 1)/2 + (1/2)(1/2 + 2/3)/2
    truth, table = _truth_and_table([0.9, 0.8, 0.7, 0.1], [0, 2])
    assert m.average_precision(table, truth)[0] == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    # one positive below five references: (0 + 1/6) / 2
    truth, table = _truth_and_table([0.1, 0.9, 0.8, 0.7, 0.6, 0.5], [0])
    assert m.average_precision(table, truth)[0] == pytest.approx(1 / 12)


@pytest.mark.parametrize("n, floor, vigor, u1652", [
    (8884, 88, 89, 90),        # CVUSA test, CVACT val
    (92802, 928, 929, 929),    # CVACT test
    (90618, 906, 907, 907),    # VIGOR same-area gallery: top-906 vs the original code's top-907
    (951, 9, 10, 11),          # University-1652 drone -> satellite: CMC[round(9.51)] = R@11
    (51355, 513, 514, 515),    # University-1652 satellite -> drone: CMC[514]
    (99, 0, 1, 2),
])
def test_top_one_percent_sizes(n, floor, vigor, u1652):
    assert (m.top_one_percent(n, "floor"), m.top_one_percent(n, "vigor"), m.top_one_percent(n, "u1652")) == \
        (floor, vigor, u1652)
    with pytest.raises(ValueError, match="r1pct"):
        m.top_one_percent(n, "ceil")


def test_every_value_names_its_convention():
    sim = np.random.default_rng(0).random((3, 8884))
    truth = GroundTruth.one_to_one(np.array([0, 1, 2]), 8884)
    text = m.recall_at_1pct.describe({"ties": "strict", "r1pct": "floor"}, truth)
    assert "strict ranks (ties favour the query)" in text and "top-k = floor(R/100) = 88" in text
    text = m.recall_at_1pct.describe({"ties": "loose", "r1pct": "vigor"}, truth)
    assert "loose ranks" in text and "int(0.01R)+1 = 89" in text
    assert "round(0.01|G|)+1 = 90" in m.recall_at_1pct.describe({"r1pct": "u1652"}, truth)
    assert "5 m UTM" in m.recall_at_1.describe({"cvact_test": "utm5m"}, truth)
    assert "the query's id" in m.recall_at_1.describe({"cvact_test": "exact_id"}, truth)
    assert "kept" in m.mean_average_precision.describe({"distractors": "kept"}, truth)
    assert "removed" in m.mean_average_precision.describe({"distractors": "removed"}, truth)
    assert "semi-positives" in m.vigor_hit_rate.describe({}, truth)
    table = table_from(sim, truth)
    assert m.recall_at_5(table, truth, {"ties": "strict"}).shape == (3,)
    with pytest.raises(ValueError, match="ties"):
        m.recall_at_1(table, truth, {"ties": "random"})
