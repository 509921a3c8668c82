"""Best positions and recall@K curves from stored ranks agree with a brute force and with the metrics.

The leaderboard draws its curves and picks its retrieval examples from these (it has no copy of
the evaluation); ``tests/test_leaderboard.py`` checks that its numbers are evaluate's.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE
from cvgl_bench.errors import DataError
from cvgl_bench.evaluate.curves import best_positions, recall_curve
from cvgl_bench.evaluate.metrics import top_one_percent
from cvgl_bench.evaluate.scoring import rescore


def brute_force_world(seed, n_queries=12, n_refs=15, levels=5):
    """A similarity matrix with many ties, a ground truth with every role, and the stored arrays."""
    rng = np.random.default_rng(seed)
    sim = (rng.integers(0, levels, size=(n_queries, n_refs)) / levels).astype(np.float32) - 0.4
    indptr, refs, roles = [0], [], []
    for q in range(n_queries):
        chosen = rng.permutation(n_refs)[: rng.integers(0, 6)]
        for i, r in enumerate(chosen):
            refs.append(int(r))
            roles.append(POSITIVE if i < 2 else (SEMI_POSITIVE if i < 4 else JUNK))
        indptr.append(len(refs))
    indptr, refs, roles = np.array(indptr), np.array(refs, dtype=np.int64), np.array(roles, dtype=np.int8)
    query = np.repeat(np.arange(n_queries), np.diff(indptr))
    s = sim[query, refs]
    strict = np.array([(sim[q] > v).sum() for q, v in zip(query, s)], dtype=np.int64)
    loose = np.array([(sim[q] >= v).sum() - 1 for q, v in zip(query, s)], dtype=np.int64)
    topk = np.argsort(-sim, axis=1, kind="stable")[:, :10]
    arrays = {"similarity": s.astype(np.float64), "rank_strict": strict, "rank_loose": loose, "topk": topk,
              "gt_indptr": indptr, "gt_ref_index": refs, "gt_role": roles, "gt_n_references": np.asarray(n_refs)}
    return sim, arrays


def expected_best(sim, arrays, ties, mask_semi=False):
    """The best positive's position among the references that compete with it: junk (and, for the
    hit rate, semi-positives) removed, other positives never counted against it."""
    indptr, refs, roles = arrays["gt_indptr"], arrays["gt_ref_index"], arrays["gt_role"]
    n_refs = sim.shape[1]
    out = []
    for q in range(len(indptr) - 1):
        r, role = refs[indptr[q]:indptr[q + 1]], roles[indptr[q]:indptr[q + 1]]
        removed = set(r[role == JUNK]) | set(r[role == POSITIVE]) | (set(r[role == SEMI_POSITIVE]) if mask_semi
                                                                     else set())
        keep = np.array([i for i in range(n_refs) if i not in removed], dtype=np.int64)
        best = n_refs
        for p in r[role == POSITIVE]:
            above = sim[q, keep] > sim[q, p] if ties == "strict" else sim[q, keep] >= sim[q, p]
            best = min(best, int(above.sum()))
        out.append(best)
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), ties=st.sampled_from(["strict", "loose"]))
def test_best_positions_match_brute_force(seed, ties):
    sim, arrays = brute_force_world(seed)
    assert best_positions(arrays, {"ties": ties}).tolist() == expected_best(sim, arrays, ties).tolist()


@pytest.mark.parametrize("ties", ["strict", "loose"])
def test_the_curve_is_the_recall_metrics(host, ties):
    sim, arrays = brute_force_world(3, n_queries=40, n_refs=30)
    protocol = {"ties": ties, "r1pct": "floor"}
    curve = recall_curve(best_positions(arrays, protocol), k_max=12)
    scored = rescore(arrays, protocol, ["recall@1", "recall@5", "recall@10", "hit_rate"], n_boot=0, host=host)
    for k in (1, 5, 10):
        assert curve[k - 1] == pytest.approx(scored.metrics[f"recall@{k}"]["value"])
        assert scored.per_query[f"recall@{k}"].tolist() == (expected_best(sim, arrays, ties) < k).tolist()
    assert np.all(np.diff(curve) >= 0)
    assert scored.per_query["hit_rate"].tolist() == (expected_best(sim, arrays, ties, True) < 1).tolist()


def test_negative_zero_and_positive_zero_are_a_tie():
    arrays = {"similarity": np.array([0.0, -0.0]), "rank_strict": np.array([0, 0]), "rank_loose": np.array([1, 1]),
              "topk": np.array([[0, 1]]), "gt_indptr": np.array([0, 2]), "gt_ref_index": np.array([0, 1]),
              "gt_role": np.array([POSITIVE, JUNK], dtype=np.int8), "gt_n_references": np.asarray(2)}
    assert best_positions(arrays, {"ties": "strict"}).tolist() == [0]
    assert best_positions(arrays, {"ties": "loose"}).tolist() == [0]


def test_a_query_without_a_positive_is_past_the_gallery():
    sim, arrays = brute_force_world(0)
    best = best_positions(arrays, {})
    has_positive = np.bincount(np.repeat(np.arange(len(arrays["gt_indptr"]) - 1), np.diff(arrays["gt_indptr"])),
                               weights=(arrays["gt_role"] == POSITIVE), minlength=len(best)) > 0
    assert np.all(best[~has_positive] == 15) and np.all(best[has_positive] < 15)


def test_r1pct_conventions():
    assert top_one_percent(8884, "floor") == 88
    assert top_one_percent(90618, "vigor") == 907 and top_one_percent(90618, "floor") == 906
    assert top_one_percent(951, "u1652") == 11
    assert top_one_percent(50, "floor") == 0  # floor(R/100): a gallery under 100 has no top 1%
    with pytest.raises(ValueError):
        top_one_percent(10, "ceil")


def test_missing_arrays_are_data_errors():
    with pytest.raises(DataError, match="lack the array"):
        best_positions({"rank_strict": np.zeros(1)}, {})
