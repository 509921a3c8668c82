"""A third-party search backend's ranks are checked before any metric sees them (outside audit:
a backend that ranked every positive first scored 100% and topped the leaderboard, exit 0).
Its form is checked, and its ranks on a sample of queries must equal the exact engine's."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
from click.testing import CliRunner

from cvgl_bench import hookimpl
from cvgl_bench.data.structures import GroundTruth
from cvgl_bench.errors import PluginError
from cvgl_bench.evaluate.backend_check import check_backend_ranks
from cvgl_bench.evaluate.ranks import RankTable, compute_ranks
from cvgl_bench.specs import SearchBackendSpec


def _problem(n=60, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((n, dim)).astype(np.float32)
    reference = (query + 0.8 * rng.standard_normal((n, dim))).astype(np.float32)
    reference[7] = reference[3]  # an exact tie
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    truth = GroundTruth.from_lists([[i] for i in range(n)], n, junk=[[(i + 1) % n] for i in range(n)])
    return query, reference, truth


def _check(table, query, reference, truth, topk=10):
    return check_backend_ranks(table, query, reference, truth, topk=topk, device="cpu", who="search backend 'x'")


def test_the_exact_ranks_pass():
    query, reference, truth = _problem()
    exact = compute_ranks(query, reference, truth, screen="fp32")
    float64 = RankTable(exact.similarity.astype(np.float64) + 1e-9, exact.rank_strict, exact.rank_loose, exact.topk)
    assert _check(float64, query, reference, truth) is float64


@pytest.mark.parametrize("mistake, message", [
    ("every positive first", "rank_strict"),
    ("ties counted against the query", "rank_strict"),
    ("loose ranks copied from strict", "rank_loose"),
    ("top-k reversed", "top-10"),
    ("query and reference swapped", "not exact"),
    ("float16 similarities", "similarity"),
    ("a NaN similarity", "non-finite"),
    ("a top-k too narrow", "shape (60, 10)"),
    ("not a RankTable", "not a cvgl_bench.evaluate.ranks.RankTable"),
    ("an entry missing", "do not fit the split's ground truth"),
])
def test_a_wrong_backend_is_one_line_naming_it(mistake, message):
    query, reference, truth = _problem()
    exact = compute_ranks(query, reference, truth, screen="fp32")
    sim, strict, loose, top = exact.similarity.copy(), exact.rank_strict.copy(), exact.rank_loose.copy(), exact.topk
    if mistake == "every positive first":
        strict = np.where(strict >= 0, 0, strict)
        loose = np.where(loose >= 0, 0, loose)
    elif mistake == "ties counted against the query":
        strict = loose.copy()
    elif mistake == "loose ranks copied from strict":
        loose = strict.copy()
    elif mistake == "top-k reversed":
        top = top[:, ::-1].copy()
    elif mistake == "query and reference swapped":
        swapped = compute_ranks(reference, query, truth, screen="fp32")
        sim, strict, loose, top = swapped.similarity, swapped.rank_strict, swapped.rank_loose, swapped.topk
    elif mistake == "float16 similarities":
        sim = sim.astype(np.float16)
    elif mistake == "a NaN similarity":
        sim[5] = np.nan
    elif mistake == "a top-k too narrow":
        top = top[:, :5]
    table = "ranks" if mistake == "not a RankTable" else RankTable(sim, strict, loose, top)
    if mistake == "an entry missing":
        table = RankTable(sim[:-1], strict[:-1], loose[:-1], top)
    with pytest.raises(PluginError) as caught:
        _check(table, query, reference, truth)
    assert message in str(caught.value) and "search backend 'x'" in str(caught.value)
    assert "\n" not in str(caught.value)


def _backend_plugin(name, rank):
    plugin = types.ModuleType(f"{name}_backend_plugin")

    class Backend:
        def rank(self, query, reference, truth, *, device=None, topk=10, progress=False):
            return rank(query, reference, truth, topk)

    @hookimpl
    def cvgl_bench_register_search_backends(register):
        register(SearchBackendSpec(name=name, loader=Backend))

    plugin.cvgl_bench_register_search_backends = cvgl_bench_register_search_backends
    return plugin


def _cheat(query, reference, truth, topk):
    exact = compute_ranks(query, reference, truth, screen="fp32")
    positive_first = np.where(exact.rank_strict >= 0, 0, exact.rank_strict)
    return RankTable(exact.similarity, positive_first, positive_first.copy(), exact.topk)


def _exact(query, reference, truth, topk):
    return compute_ranks(query, reference, truth, topk=topk, screen="fp32")


def _raises(query, reference, truth, topk):
    raise IndexError("index 40 is out of bounds")


def test_only_a_sample_of_queries_is_re_ranked():
    """A large split costs the check 64 queries' worth of exact ranking, spread over the split."""
    query, reference, truth = _problem(n=500)
    exact = compute_ranks(query, reference, truth, screen="fp32")
    strict = exact.rank_strict.copy()
    strict[truth.indptr[1]] += 1  # query 1 is not among the 64 sampled: unseen
    _check(RankTable(exact.similarity, strict, np.maximum(strict, exact.rank_loose), exact.topk), query, reference,
           truth)
    strict[truth.indptr[0]] += 1  # query 0 always is
    with pytest.raises(PluginError, match="query 0"):
        _check(RankTable(exact.similarity, strict, np.maximum(strict, exact.rank_loose), exact.topk), query,
               reference, truth)


def test_score_refuses_a_cheating_backend_and_records_an_honest_one(make_host, tmp_path):
    from cvgl_bench.cli import cli

    from .test_eval_score_cli import NQ, NR, tiny_plugin

    root = tmp_path / "data" / "Tiny"
    root.mkdir(parents=True)
    qids, rids = [f"q{i:03d}" for i in range(NQ)], [f"r{i:03d}" for i in range(NR)]
    (root / "queries.txt").write_text("\n".join(qids))
    (root / "references.txt").write_text("\n".join(rids))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "emb.npz", query=rng.standard_normal((NQ, 8)).astype(np.float32),
             reference=rng.standard_normal((NR, 8)).astype(np.float32), query_ids=np.asarray(qids),
             reference_ids=np.asarray(rids))
    make_host(tiny_plugin, _backend_plugin("cheat", _cheat), _backend_plugin("honest", _exact),
              _backend_plugin("broken", _raises))
    common = ["score", "--dataset", "tiny_test", "--data-root", str(tmp_path / "data"), "--embeddings",
              str(tmp_path / "emb.npz"), "--record", "--method", "mine", "--results", str(tmp_path / "results")]
    cheat = CliRunner().invoke(cli, [*common, "--backend", "cheat"])
    assert cheat.exit_code == 2 and "search backend 'cheat'" in cheat.output and "is not exact" in cheat.output
    assert not (tmp_path / "results").exists()  # no record of wrong ranks
    broken = CliRunner().invoke(cli, [*common, "--backend", "broken"])
    assert broken.exit_code == 2 and "rank() failed: IndexError" in broken.output and "broken" in broken.output
    honest = CliRunner().invoke(cli, [*common, "--backend", "honest", "--json"])
    assert honest.exit_code == 0, honest.output
    (record_file,) = (tmp_path / "results").rglob("*.json")
    backend = json.loads(record_file.read_text())["provenance"]["search_backend"]
    assert backend["name"] == "honest" and "honest_backend_plugin" in backend["plugin"]


def test_a_loader_that_gives_no_backend_is_one_line(make_host, tmp_path):
    from cvgl_bench.evaluate.scoring import score

    @hookimpl
    def cvgl_bench_register_search_backends(register):
        register(SearchBackendSpec(name="nothing", loader=lambda: None))
        register(SearchBackendSpec(name="fails", loader=lambda: 1 / 0))

    plugin = types.ModuleType("odd_backends")
    plugin.cvgl_bench_register_search_backends = cvgl_bench_register_search_backends
    host = make_host(plugin)
    data = types.SimpleNamespace(split="s")
    with pytest.raises(PluginError, match=r"^search backend 'nothing' of .*odd_backends.*gave a NoneType, which has "
                                          r"no rank\(\)"):
        score(None, None, data, host=host, backend="nothing", metrics=["recall@1"])
    with pytest.raises(PluginError, match=r"building it failed: ZeroDivisionError"):
        score(None, None, data, host=host, backend="fails", metrics=["recall@1"])
