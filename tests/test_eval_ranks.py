"""Exact ranks: every backend and screen against a brute-force count on exact arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE, GroundTruth
from cvgl_bench.evaluate._exact import ExactPairs
from cvgl_bench.evaluate._int8 import int8_matmul_available
from cvgl_bench.evaluate._lists import ordered_keys
from cvgl_bench.evaluate.ranks import RankTable, compute_ranks
from cvgl_bench.evaluate.search import FaissSearch, TorchSearch

faiss = pytest.importorskip("faiss")


def brute_ranks(query: np.ndarray, reference: np.ndarray, truth: GroundTruth) -> tuple[np.ndarray, ...]:
    """Ranks by counting over the full similarity matrix in float64 (exact for small integers)."""
    sim = query.astype(np.float64) @ reference.astype(np.float64).T
    q, r = truth.query_of_entry, truth.ref_index
    own = sim[q, r]
    strict = (sim[q] > own[:, None]).sum(axis=1)
    loose = (sim[q] >= own[:, None]).sum(axis=1) - 1
    junk = truth.role == JUNK  # removed from every ranking: not ranked
    strict[junk], loose[junk] = -1, -1
    return own, strict, loose, sim


def check_topk(table: RankTable, sim: np.ndarray, k: int) -> None:
    k = min(k, sim.shape[1])
    assert table.topk.shape == (sim.shape[0], k)
    # best first, ties by lower index: the order of lexsort by (index, -similarity)
    expected = np.array([np.lexsort((np.arange(sim.shape[1]), -row))[:k] for row in sim]).reshape(sim.shape[0], k)
    np.testing.assert_array_equal(table.topk, expected)


BACKENDS = {
    "torch-fp32": lambda: TorchSearch(screen="fp32"),
    "torch-fp32-tiny-chunks": lambda: TorchSearch(screen="fp32", memory_mb=0.002),
    "torch-int8": lambda: TorchSearch(screen="int8"),
    "torch-int8-tiny-chunks": lambda: TorchSearch(screen="int8", memory_mb=0.002),
    "faiss": lambda: FaissSearch(),
    "faiss-short-lists": lambda: FaissSearch(knn_candidates=2, range_chunk=3),
}


NEEDS_INT8 = pytest.mark.skipif(not int8_matmul_available(), reason="this torch has no CPU torch._int_mm (torch 2.3 "
                                "lacks it): the int8 screen is unavailable, and screen='auto' uses fp32")


def backends(*names: str) -> list:
    """Backend names as parameters, the int8 ones skipped where the int8 screen cannot run."""
    return [pytest.param(name, marks=NEEDS_INT8) if "int8" in name else name for name in names]


@st.composite
def problems(draw, integer: bool = True):
    """Small galleries with many exact ties: integer embeddings, duplicates, any roles."""
    nq = draw(st.integers(1, 12))
    nr = draw(st.integers(1, 25))
    dim = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    if integer:
        span = draw(st.integers(0, 2))
        query = rng.integers(-span, span + 1, (nq, dim)).astype(np.float32)
        reference = rng.integers(-span, span + 1, (nr, dim)).astype(np.float32)
    else:
        query = rng.standard_normal((nq, dim)).astype(np.float32)
        reference = rng.standard_normal((nr, dim)).astype(np.float32)
    if draw(st.booleans()):  # duplicate references
        reference[rng.integers(0, nr, nr // 2)] = reference[rng.integers(0, nr, nr // 2)]
    lists = {role: [] for role in (POSITIVE, SEMI_POSITIVE, JUNK)}
    for _ in range(nq):
        chosen = rng.permutation(nr)[: rng.integers(0, min(nr, 6) + 1)]
        cut = np.sort(rng.integers(0, len(chosen) + 1, 2))
        lists[POSITIVE].append(chosen[:cut[0]])
        lists[SEMI_POSITIVE].append(chosen[cut[0]:cut[1]])
        lists[JUNK].append(chosen[cut[1]:])
    truth = GroundTruth.from_lists(lists[POSITIVE], nr, lists[SEMI_POSITIVE], lists[JUNK])
    return query, reference, truth


@pytest.mark.parametrize("backend", backends(*sorted(BACKENDS)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_ranks_equal_brute_force_with_ties(backend, problem):
    query, reference, truth = problem
    own, strict, loose, sim = brute_ranks(query, reference, truth)
    table = BACKENDS[backend]().rank(query, reference, truth, topk=4)
    np.testing.assert_array_equal(table.similarity, own)
    np.testing.assert_array_equal(table.rank_strict, strict)
    np.testing.assert_array_equal(table.rank_loose, loose)
    check_topk(table, sim, 4)


@pytest.mark.parametrize("backend", backends("torch-fp32", "torch-int8", "faiss"))
@settings(max_examples=25, deadline=None)
@given(problem=problems(integer=False))
def test_ranks_equal_brute_force_on_random_floats(backend, problem):
    query, reference, truth = problem
    own, strict, loose, sim = brute_ranks(query, reference, truth)
    table = BACKENDS[backend]().rank(query, reference, truth, topk=3)
    np.testing.assert_allclose(table.similarity, own, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(table.rank_strict, strict)
    np.testing.assert_array_equal(table.rank_loose, loose)


def _one_positive_each(nq: int, nr: int, seed: int = 0) -> GroundTruth:
    return GroundTruth.one_to_one(np.random.default_rng(seed).integers(0, nr, nq), nr)


@pytest.mark.parametrize("backend", backends(*sorted(BACKENDS)))
def test_adversarial_galleries(backend):
    rng = np.random.default_rng(1)
    dim = 8
    base = rng.standard_normal((50, dim)).astype(np.float32)
    cases = []
    # the positive duplicated 30 times: a 31-way tie
    ref = base.copy()
    ref[10:40] = ref[5]
    cases.append((rng.standard_normal((6, dim)).astype(np.float32), ref, GroundTruth.one_to_one(np.full(6, 5), 50)))
    # all references identical, zero query: everything tied
    cases.append((np.zeros((3, dim), np.float32), np.ones((20, dim), np.float32), _one_positive_each(3, 20)))
    # one-element gallery
    cases.append((base[:7], base[:1], GroundTruth.one_to_one(np.zeros(7, int), 1)))
    # queries without any labelled reference next to one with many positives
    cases.append((base[:3], base, GroundTruth.from_lists([[], list(range(0, 50, 2)), []], 50)))
    # huge and tiny magnitudes, and norms whose float32 products would overflow
    cases.append((base[:5] * 1e15, base * 1e-12, _one_positive_each(5, 50)))
    cases.append((base[:5] * 3e19, base * 1e19, _one_positive_each(5, 50)))
    for query, reference, truth in cases:
        own, strict, loose, sim = brute_ranks(query, reference, truth)
        table = BACKENDS[backend]().rank(query, reference, truth, topk=5)
        np.testing.assert_array_equal(table.rank_strict, strict)
        np.testing.assert_array_equal(table.rank_loose, loose)
        check_topk(table, sim, 5)


def _clustered(n: int, dim: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised references and noisy normalised copies as queries (a retrieval problem)."""
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((n, dim)).astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    query = reference + noise * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    return query, reference


@NEEDS_INT8
@pytest.mark.parametrize("pair_limit", [0, 3, None])
def test_int8_screen_recheck_paths_agree_with_fp32(pair_limit):
    """Narrow bands finished pair by pair, wide ones sent back to fp32: identical tables."""
    query, reference = _clustered(600, 64, 1.2, seed=3)
    truth = GroundTruth.from_lists([[i, (i + 1) % 600] for i in range(600)], 600, [[(i + 2) % 600] for i in range(600)])
    exact = compute_ranks(query, reference, truth, screen="fp32", device="cpu")
    screened = compute_ranks(query, reference, truth, screen="int8", pair_limit=pair_limit, memory_mb=0.5)
    for name in ("similarity", "rank_strict", "rank_loose", "topk"):
        np.testing.assert_array_equal(getattr(screened, name), getattr(exact, name))
    assert screened.stats["screen"] == "int8"
    if pair_limit == 0:
        assert screened.stats["rows_fp32_recheck"] > 0 and "switched_to_fp32_at_query" in screened.stats
    if pair_limit is None:
        assert screened.stats["rows_fp32_recheck"] < 600


def test_without_a_cpu_int_mm_auto_ranks_in_fp32_and_int8_is_one_line(monkeypatch):
    """torch 2.3 has no CPU torch._int_mm: the default screen still ranks, exactly, in fp32."""
    from cvgl_bench.evaluate import engine

    monkeypatch.setattr(engine, "int8_matmul_available", lambda: False)
    query, reference = _clustered(400, 32, 0.5, seed=0)
    truth = _one_positive_each(400, 400)
    table = compute_ranks(query, reference, truth, device="cpu", screen="auto")
    assert table.stats["screen"] == "fp32"
    with pytest.raises(ValueError, match="torch 2.3 has none") as caught:
        compute_ranks(query, reference, truth, device="cpu", screen="int8")
    assert "\n" not in str(caught.value)


def test_auto_screen_picks_int8_only_for_large_cpu_problems():
    query, reference = _clustered(50, 32, 0.5, seed=0)
    truth = _one_positive_each(50, 50)
    assert compute_ranks(query, reference, truth, device="cpu").stats["screen"] == "fp32"
    with pytest.raises(ValueError, match="screen"):
        compute_ranks(query, reference, truth, screen="bf16")


def test_ranks_do_not_depend_on_chunking_or_thread_count():
    query, reference = _clustered(300, 48, 1.0, seed=5)
    truth = _one_positive_each(300, 300, seed=2)
    first = compute_ranks(query, reference, truth, screen="fp32", memory_mb=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        second = compute_ranks(query, reference, truth, screen="fp32", memory_mb=0.01)
    finally:
        torch.set_num_threads(threads)
    for name in ("similarity", "rank_strict", "rank_loose", "topk"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


@pytest.mark.parametrize("dim", [1, 3, 17, 1024, 9000])
def test_exact_pairs_are_deterministic_per_pair(dim):
    rng = np.random.default_rng(dim)
    query = torch.from_numpy(rng.standard_normal((5, dim)).astype(np.float32))
    reference = torch.from_numpy(rng.standard_normal((7, dim)).astype(np.float32))
    pairs = ExactPairs(query, reference, memory_mb=0.05)
    qi, ri = rng.integers(0, 5, 40), rng.integers(0, 7, 40)
    together = pairs(qi, ri)
    alone = np.array([pairs(np.array([a]), np.array([b]))[0] for a, b in zip(qi, ri)])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_allclose(together, (query.double()[qi] * reference.double()[ri]).sum(1).numpy(), rtol=1e-12)


def test_duplicate_references_tie_exactly_where_an_fp32_product_may_not():
    """Identical embeddings always tie (MKL's float32 product alone does not guarantee it)."""
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((997, 33)).astype(np.float32)
    reference[900:950] = reference[5]
    query = rng.standard_normal((40, 33)).astype(np.float32)
    truth = GroundTruth.one_to_one(np.full(40, 5), 997)
    for screen in ("fp32", "int8") if int8_matmul_available() else ("fp32",):
        table = compute_ranks(query, reference, truth, screen=screen)
        np.testing.assert_array_equal(table.rank_loose - table.rank_strict, np.full(40, 50))


def test_ordered_keys_sort_like_floats():
    values = np.array([-np.inf, -3.5, -0.0, 0.0, 1e-40, 2.0, np.inf], dtype=np.float32)
    keys = ordered_keys(values)
    assert (np.diff(keys.astype(np.float64)) >= 0).all()
    assert keys[2] == keys[3]


def test_rank_table_round_trip_and_validation():
    table = RankTable(np.array([0.5, 0.1]), np.array([0, 3]), np.array([1, 3]), np.zeros((2, 1), int))
    again = RankTable.from_arrays(table.arrays())
    for name in ("similarity", "rank_strict", "rank_loose", "topk"):
        np.testing.assert_array_equal(getattr(again, name), getattr(table, name))
    with pytest.raises(ValueError, match="rank_strict <= rank_loose"):
        RankTable(np.zeros(1), np.array([2]), np.array([1]), np.zeros((1, 1), int))
    with pytest.raises(ValueError, match="entries"):
        table.check_against(GroundTruth.one_to_one(np.array([0]), 4))
    unranked = RankTable(np.zeros(2), np.array([0, -1]), np.array([0, -1]), np.zeros((1, 1), int))
    unranked.check_against(GroundTruth.from_lists([[1]], 4, None, [[0]]))  # the junk entry comes second
    with pytest.raises(ValueError, match="only junk"):
        unranked.check_against(GroundTruth.from_lists([[0, 1]], 4))
    from cvgl_bench.errors import DataError

    with pytest.raises(DataError, match="rank_loose"):
        RankTable.from_arrays({"similarity": np.zeros(1), "rank_strict": np.zeros(1), "topk": np.zeros((1, 1))})


def test_engine_rejects_mismatched_inputs():
    truth = _one_positive_each(2, 3)
    with pytest.raises(ValueError, match="D = 4"):
        compute_ranks(np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32), truth)
    with pytest.raises(ValueError, match="floating point"):
        compute_ranks(np.zeros((2, 3), np.int64), np.zeros((3, 3), np.float32), truth)
    with pytest.raises(ValueError, match="ground truth"):
        compute_ranks(np.zeros((5, 3), np.float32), np.zeros((3, 3), np.float32), truth)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 4), n=st.integers(1, 3000), take=st.integers(1, 20), integer=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_top_candidates_hold_the_best_scores_and_bound_the_rest(rows, n, take, integer, seed):
    from cvgl_bench.evaluate.engine import padded, sentinel, top_candidates

    rng = np.random.default_rng(seed)
    scores = rng.integers(-50, 50, (rows, n)).astype(np.int32) if integer else \
        rng.standard_normal((rows, n)).astype(np.float32)
    block = torch.full((rows, padded(n)), sentinel(torch.from_numpy(scores).dtype), dtype=torch.from_numpy(scores).dtype)
    block[:, :n] = torch.from_numpy(scores)
    take = min(take, n)
    values, columns, beyond = top_candidates(block, take)
    for i in range(rows):
        cols = columns[i].numpy()
        assert len(np.unique(cols)) == take and cols.max() < n
        np.testing.assert_array_equal(scores[i, cols], values[i].numpy())
        np.testing.assert_array_equal(np.sort(scores[i, cols]), np.sort(scores[i])[n - take:])
        others = np.setdiff1d(np.arange(n), cols)
        assert not len(others) or scores[i, others].max() <= beyond[i]


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 20), dim=st.integers(1, 40), exponent=st.integers(-30, 30), shared=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_int8_residual_norms_are_upper_bounds(rows, dim, exponent, shared, seed):
    from cvgl_bench.evaluate._int8 import quantise

    x = torch.from_numpy((np.random.default_rng(seed).standard_normal((rows, dim)) * 10.0 ** exponent)
                         .astype(np.float32))
    q = quantise(x, shared_scale=shared)
    assert q.values.shape == (rows, -(-dim // 8) * 8) and not q.values[:, dim:].any()
    approx = q.values[:, :dim].double() * torch.from_numpy(q.scale).view(-1, 1)
    exact = torch.linalg.vector_norm(x.double() - approx, dim=1).numpy()
    assert (q.norm_residual >= exact).all()
    if exponent < 18:  # beyond, float32 squares overflow and the bound is (correctly) infinite
        assert (q.norm_residual <= exact * 1.001 + 1e-6 * np.linalg.norm(x.double().numpy(), axis=1)
                + 1e-20).all()
