"""Per-query scores from stored ranks (exact, junk and semi-positives handled) and the bootstrap."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE
from cvgl_bench.errors import DataError
from cvgl_bench.leaderboard.ranks import best_positive_rank, local_per_query, r1pct_k, recall_curve
from cvgl_bench.leaderboard.significance import local_paired_bootstrap, paired_bootstrap


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
    strict = np.array([(sim[q] > v).sum() for q, v in zip(query, s)])
    loose = np.array([(sim[q] >= v).sum() - 1 for q, v in zip(query, s)])
    arrays = {"similarity": s, "rank_strict": strict, "rank_loose": loose, "gt_indptr": indptr,
              "gt_ref_index": refs, "gt_role": roles, "gt_n_references": np.asarray(n_refs)}
    return sim, arrays


def expected_best(sim, arrays, ties, mask_semi):
    """Rank of the best positive after deleting junk (and semi-positives) from the gallery."""
    indptr, refs, roles = arrays["gt_indptr"], arrays["gt_ref_index"], arrays["gt_role"]
    n_refs = sim.shape[1]
    out = []
    for q in range(len(indptr) - 1):
        r, role = refs[indptr[q]:indptr[q + 1]], roles[indptr[q]:indptr[q + 1]]
        removed = set(r[role == JUNK]) | (set(r[role == SEMI_POSITIVE]) if mask_semi else set())
        keep = np.array([i for i in range(n_refs) if i not in removed])
        best = n_refs
        for p in r[role == POSITIVE]:
            above = sim[q, keep] > sim[q, p] if ties == "strict" else sim[q, keep] >= sim[q, p]
            best = min(best, int(above.sum()) - (0 if ties == "strict" else 1))
        out.append(best)
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), ties=st.sampled_from(["strict", "loose"]), mask_semi=st.booleans())
def test_best_positive_rank_matches_brute_force(seed, ties, mask_semi):
    sim, arrays = brute_force_world(seed)
    got = best_positive_rank(arrays, ties, mask_semi_positives=mask_semi)
    assert got.tolist() == expected_best(sim, arrays, ties, mask_semi).tolist()


def test_recall_family_and_curve_agree():
    sim, arrays = brute_force_world(3, n_queries=40, n_refs=30)
    best = expected_best(sim, arrays, "strict", False)
    curve = recall_curve(arrays, {"ties": "strict"}, k_max=12)
    for k in (1, 5, 10):
        scores = local_per_query(arrays, {"ties": "strict"}, f"recall@{k}")
        assert scores.tolist() == (best < k).astype(float).tolist()
        assert curve[k - 1] == pytest.approx(100 * scores.mean())
    assert np.all(np.diff(curve) >= 0)
    hit = local_per_query(arrays, {}, "hit_rate")
    assert hit.tolist() == (expected_best(sim, arrays, "strict", True) < 1).astype(float).tolist()


def test_negative_zero_and_positive_zero_are_a_tie():
    arrays = {"similarity": np.array([0.0, -0.0], dtype=np.float32), "rank_strict": np.array([0, 0]),
              "rank_loose": np.array([1, 1]), "gt_indptr": np.array([0, 2]), "gt_ref_index": np.array([0, 1]),
              "gt_role": np.array([POSITIVE, JUNK], dtype=np.int8), "gt_n_references": np.asarray(2)}
    assert best_positive_rank(arrays, "strict").tolist() == [0]
    assert best_positive_rank(arrays, "loose").tolist() == [0]


def test_r1pct_conventions():
    assert r1pct_k(8884, "floor") == 88
    assert r1pct_k(90618, "vigor") == 907 and r1pct_k(90618, "floor") == 906
    assert r1pct_k(951, "u1652") == 11
    with pytest.raises(DataError):
        r1pct_k(10, "ceil")


def test_missing_arrays_and_unknown_metric_are_data_errors():
    with pytest.raises(DataError, match="lacks array"):
        best_positive_rank({"rank_strict": np.zeros(1)})
    _, arrays = brute_force_world(0)
    with pytest.raises(DataError, match="cannot be recomputed"):
        local_per_query(arrays, {}, "ap")


def test_paired_bootstrap_identical_and_clearly_different():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.9).astype(float)
    same = local_paired_bootstrap(a, a.copy(), n_boot=2000)
    assert same["delta"] == 0 and same["p_value"] == 1.0 and same["ci95"] == [0.0, 0.0]
    b = (rng.random(2000) < 0.5).astype(float)
    diff = local_paired_bootstrap(a, b, n_boot=2000)
    assert diff["p_value"] < 0.001 and diff["ci95"][0] > 30 and diff["prob_a_better"] == 1.0
    assert paired_bootstrap(a, b, n_boot=500)["p_value"] < 0.01


def test_multinomial_shortcut_matches_index_resampling():
    rng = np.random.default_rng(1)
    a = (rng.random(500) < 0.7).astype(float)
    b = (rng.random(500) < 0.65).astype(float)
    fast = local_paired_bootstrap(a, b, n_boot=20000, seed=0)
    diff = a - b
    means = diff[rng.integers(0, len(diff), size=(20000, len(diff)))].mean(axis=1) * 100
    lo, hi = np.quantile(means, [0.025, 0.975])
    assert fast["ci95"][0] == pytest.approx(lo, abs=0.5) and fast["ci95"][1] == pytest.approx(hi, abs=0.5)
    continuous = local_paired_bootstrap(rng.random(300), rng.random(300), n_boot=3000)
    assert continuous["ci95"][0] < continuous["delta"] < continuous["ci95"][1]


def test_paired_bootstrap_rejects_unpaired_input():
    with pytest.raises(ValueError):
        local_paired_bootstrap(np.zeros(3), np.zeros(4))
