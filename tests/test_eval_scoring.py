"""score / rescore end to end, through the registered metric and backend plugins."""

from __future__ import annotations

import types

import numpy as np
import pytest

from cvgl_bench import hookimpl
from cvgl_bench.data.structures import EvalData, GroundTruth, ImageSet
from cvgl_bench.errors import ConfigError, DataError, UnknownNameError
from cvgl_bench.evaluate import rescore, score
from cvgl_bench.specs import SearchBackendSpec
from tests.test_eval_metrics import brute_ap, brute_first_position
from tests.test_eval_ranks import brute_ranks

ALL = ["recall@1", "recall@5", "recall@10", "recall@1%", "hit_rate", "ap"]


def vigor_like(nq=120, nr=150, dim=6, seed=0, protocol=None):
    """Integer embeddings (many ties), one positive and two semi-positives per query, some junk."""
    rng = np.random.default_rng(seed)
    reference = rng.integers(-2, 3, (nr, dim)).astype(np.float32)
    pos = rng.integers(0, nr, nq)
    query = reference[pos] + rng.integers(-1, 2, (nq, dim)).astype(np.float32)
    truth = GroundTruth.from_lists([[p] for p in pos], nr, [[(p + 1) % nr, (p + 2) % nr] for p in pos],
                                   [[(p + 3) % nr] if i % 3 == 0 else [] for i, p in enumerate(pos)])
    data = EvalData("toy_test", ImageSet("ground", [f"q{i}" for i in range(nq)], [f"q{i}" for i in range(nq)]),
                    ImageSet("satellite", [f"r{i}" for i in range(nr)], [f"r{i}" for i in range(nr)]), truth,
                    dict(protocol or {"ties": "strict", "r1pct": "floor"}))
    return query, reference, data


@pytest.mark.parametrize("ties", ["strict", "loose"])
def test_score_matches_brute_force_end_to_end(host, ties):
    query, reference, data = vigor_like(protocol={"ties": ties, "r1pct": "vigor"})
    result = score(query, reference, data, metrics=ALL, n_boot=200, host=host)
    _, _, _, sim = brute_ranks(query, reference, data.truth)
    nq = data.truth.n_queries
    first = np.array([brute_first_position(sim, data.truth, q, ties) for q in range(nq)])
    no_semi = np.array([brute_first_position(sim, data.truth, q, ties, (3, 2)) for q in range(nq)])
    k1pct = int(0.01 * 150) + 1
    expected = {"recall@1": (first < 1).mean(), "recall@5": (first < 5).mean(), "recall@10": (first < 10).mean(),
                "recall@1%": (first < k1pct).mean(), "hit_rate": (no_semi < 1).mean(),
                "ap": np.mean([brute_ap(sim, data.truth, q, ties) for q in range(nq)])}
    for name, value in expected.items():
        metric = result.metrics[name]
        assert metric["value"] == pytest.approx(value * 100)
        assert metric["ci95"][0] <= metric["value"] <= metric["ci95"][1]
        assert metric["higher_is_better"] is True
        assert result.per_query[name].shape == (nq,)
    assert ("strict ranks" if ties == "strict" else "loose ranks") in result.metrics["recall@1"]["convention"]
    assert "int(0.01R)+1 = 2" in result.metrics["recall@1%"]["convention"]


def test_metrics_on_adversarial_galleries_match_brute_force(host):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((30, 5)).astype(np.float32)
    tied = base.copy()
    tied[10:25] = tied[3]  # the positive of every query tied with 15 copies
    cases = [
        (base[:6] + 0.1, tied, GroundTruth.from_lists([[3]] * 6, 30, [[10, 11]] * 6, [[12]] * 6)),
        (base[:4], base[:1], GroundTruth.one_to_one(np.zeros(4, int), 1)),  # one-element gallery
        (np.zeros((3, 5), np.float32), base, GroundTruth.from_lists([[0, 1], [], [2]], 30, None, [[3], [], []])),
    ]
    for query, reference, truth in cases:
        _, _, _, sim = brute_ranks(query, reference, truth)
        nq = truth.n_queries
        for ties in ("strict", "loose"):
            data = EvalData("adv", ImageSet("ground", [f"q{i}" for i in range(nq)], [""] * nq),
                            ImageSet("satellite", [f"r{i}" for i in range(len(reference))], [""] * len(reference)),
                            truth, {"ties": ties, "r1pct": "u1652"})
            result = score(query, reference, data, metrics=ALL, n_boot=0, host=host)
            first = np.array([brute_first_position(sim, truth, q, ties) for q in range(nq)])
            no_semi = np.array([brute_first_position(sim, truth, q, ties, (3, 2)) for q in range(nq)])
            k1pct = round(len(reference) * 0.01) + 1
            np.testing.assert_array_equal(result.per_query["recall@5"], first < 5)
            np.testing.assert_array_equal(result.per_query["recall@1%"], first < k1pct)
            np.testing.assert_array_equal(result.per_query["hit_rate"], no_semi < 1)
            np.testing.assert_allclose(result.per_query["ap"], [brute_ap(sim, truth, q, ties) for q in range(nq)])


def test_rescore_from_stored_arrays_reproduces_and_switches_conventions(host, tmp_path):
    query, reference, data = vigor_like()
    first = score(query, reference, data, metrics=ALL, n_boot=100, seed=3, host=host)
    path = tmp_path / "ranks.npz"
    np.savez(path, **first.rank_arrays())
    with np.load(path) as stored:
        arrays = dict(stored)
    again = rescore(arrays, data.protocol, ALL, n_boot=100, seed=3, host=host)
    assert again.metrics == first.metrics
    loose = rescore(arrays, {"ties": "loose", "r1pct": "u1652"}, ["recall@1", "recall@1%"], n_boot=0, host=host)
    assert loose.metrics["recall@1"]["value"] <= first.metrics["recall@1"]["value"]
    assert loose.metrics["recall@1"]["ci95"] is None and "u1652" not in loose.metrics
    assert "round(0.01|G|)+1 = 3" in loose.metrics["recall@1%"]["convention"]
    with pytest.raises(DataError, match="gt_role"):
        rescore({k: v for k, v in arrays.items() if k != "gt_role"}, data.protocol, ALL, host=host)


def test_backends_agree(host):
    query, reference, data = vigor_like(seed=4)
    torch_result = score(query, reference, data, metrics=ALL, n_boot=50, host=host, backend="torch")
    faiss_result = score(query, reference, data, metrics=ALL, n_boot=50, host=host, backend="faiss")
    assert torch_result.metrics == faiss_result.metrics
    np.testing.assert_array_equal(torch_result.ranks.topk, faiss_result.ranks.topk)


def test_metric_names_default_to_the_split_and_unknown_ones_fail(host):
    query, reference, data = vigor_like(nq=10, nr=12)
    assert list(score(query, reference, data, n_boot=0, host=host).metrics) == \
        ["recall@1", "recall@5", "recall@10", "recall@1%"]
    with pytest.raises(UnknownNameError, match="did you mean"):
        score(query, reference, data, metrics=["recall@3"], host=host)
    with pytest.raises(DataError, match="split has 10 queries"):
        score(query[:5], reference, data, host=host)


def test_missing_backend_dependency_is_a_config_error(make_host):
    plugin = types.ModuleType("needs_nothing_real")
    plugin.cvgl_bench_register_search_backends = hookimpl(lambda register: register(SearchBackendSpec(
        name="ghost", loader="cvgl_bench.evaluate.search:TorchSearch", requires=("no_such_module_xyz",))))
    h = make_host(plugin)
    query, reference, data = vigor_like(nq=5, nr=6)
    with pytest.raises(ConfigError, match="no_such_module_xyz"):
        score(query, reference, data, backend="ghost", host=h)


@pytest.mark.parametrize("behaviour, message", [
    ("raise", "metric 'broken' of .* failed: KeyError: 'oops'"),
    ("nan", "metric 'broken' of .* returned NaN for 5 of 5 queries"),
    ("range", "metric 'broken' of .* returned per-query scores outside \\[0, 1\\]"),
    ("shape", "metric 'broken' of .* returned \\(4,\\), expected one score per query \\(5\\)"),
])
def test_a_failing_metric_plugin_is_one_line_that_names_the_plugin(make_host, behaviour, message):
    from cvgl_bench.errors import PluginError
    from cvgl_bench.specs import MetricSpec

    def broken(ranks, data, protocol):
        n = data.truth.n_queries
        if behaviour == "raise":
            raise KeyError("oops")
        return {"nan": np.full(n, np.nan), "range": np.full(n, 2.0), "shape": np.zeros(n - 1)}[behaviour]

    plugin = types.ModuleType("broken_metric")
    plugin.__dist__ = "broken-metric-dist"
    plugin.cvgl_bench_register_metrics = hookimpl(lambda register: register(MetricSpec(name="broken",
                                                                                       loader=broken)))
    h = make_host(plugin)
    query, reference, data = vigor_like(nq=5, nr=6)
    with pytest.raises(PluginError, match=message):
        score(query, reference, data, metrics=["broken"], n_boot=0, host=h)


def test_intervals_resample_places_where_queries_share_a_positive(host):
    """Drone-like queries (six views of each of five buildings): the interval is the bootstrap over
    the five places, not over the thirty queries; a one-to-one split keeps the query bootstrap."""
    from cvgl_bench.evaluate.bootstrap import bootstrap_ci

    rng = np.random.default_rng(8)
    reference = rng.normal(size=(5, 16)).astype(np.float32)
    query = np.repeat(reference, 6, axis=0) + rng.normal(scale=4.0, size=(30, 16)).astype(np.float32)
    truth = GroundTruth.from_lists([[b] for b in np.repeat(np.arange(5), 6)], 5)
    data = EvalData("drone", ImageSet("drone", [f"q{i}" for i in range(30)], [""] * 30),
                    ImageSet("satellite", [f"r{i}" for i in range(5)], [""] * 5), truth, {"ties": "strict"})
    result = score(query, reference, data, metrics=["recall@1"], n_boot=500, seed=2, host=host)
    assert result.n_places == 5 and result.to_dict()["n_places"] == 5
    places = np.repeat(np.arange(5), 6)
    assert result.metrics["recall@1"]["ci95"] == list(bootstrap_ci(result.per_query["recall@1"], 500, 2, places=places))
    assert result.metrics["recall@1"]["ci95"] != list(bootstrap_ci(result.per_query["recall@1"], 500, 2))
    single = GroundTruth.one_to_one(np.arange(5), 5)
    data = EvalData("pairs", ImageSet("ground", [f"q{i}" for i in range(5)], [""] * 5),
                    ImageSet("satellite", [f"r{i}" for i in range(5)], [""] * 5), single, {"ties": "strict"})
    result = score(query[::6], reference, data, metrics=["recall@1"], n_boot=500, seed=2, host=host)
    assert result.n_places == 5 and result.metrics["recall@1"]["ci95"] == list(
        bootstrap_ci(result.per_query["recall@1"], 500, 2))
