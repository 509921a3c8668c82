"""Simulated result records with consistent rank arrays, for leaderboard tests and its speed benchmark.

Each query gets one positive whose 0-based rank is drawn from a method's "skill" (a chance of
rank 0, otherwise a geometric tail); optional semi-positives and junk entries sit below the
positive. The record's metrics are computed from these ranks by the evaluation itself
(``cvgl_bench.evaluate.scoring.rescore``), so tables, curves and significance tests all see one
consistent simulated world.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cvgl_bench import results
from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE, GroundTruth
from cvgl_bench.evaluate.bootstrap import count_places, place_groups
from cvgl_bench.evaluate.scoring import rescore
from cvgl_bench.plugins import PluginHost

PROTOCOL = {"r1pct": "floor", "ties": "strict"}
METRICS = ("recall@1", "recall@5", "recall@10", "recall@1%")


def draw_ranks(n_queries: int, n_references: int, p_top1: float, tail: float, rng: np.random.Generator) -> np.ndarray:
    """0-based rank of each query's positive: 0 with probability ``p_top1``, else 1 + geometric(tail)."""
    hit = rng.random(n_queries) < p_top1
    rest = rng.geometric(tail, size=n_queries)
    return np.minimum(np.where(hit, 0, rest), n_references - 1).astype(np.int64)


def rank_arrays(best: np.ndarray, n_references: int, *, semi: int = 0, junk: int = 0, topk: int = 10,
                rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Arrays as a record stores them (``RankTable.arrays()`` + ``GroundTruth.arrays()``)."""
    rng = rng or np.random.default_rng(0)
    n_queries = len(best)
    per_query = 1 + semi + junk
    positive_ref = rng.permutation(n_references)[:n_queries] if n_queries <= n_references else \
        rng.integers(0, n_references, n_queries)
    refs = np.empty((n_queries, per_query), dtype=np.int64)
    roles = np.empty((n_queries, per_query), dtype=np.int8)
    sims = np.empty((n_queries, per_query), dtype=np.float32)
    ranks = np.empty((n_queries, per_query), dtype=np.int64)
    refs[:, 0], roles[:, 0] = positive_ref, POSITIVE
    sims[:, 0] = 0.9 - 0.0001 * best
    ranks[:, 0] = best
    for j in range(1, per_query):
        refs[:, j] = (positive_ref + j) % n_references
        roles[:, j] = SEMI_POSITIVE if j <= semi else JUNK
        sims[:, j] = sims[:, 0] - 0.01 * j
        ranks[:, j] = best + j
    top = rng.integers(0, n_references, size=(n_queries, topk))
    clash = top == positive_ref[:, None]
    top[clash] = (top[clash] + 1) % n_references
    inside = best < topk
    top[np.flatnonzero(inside), best[inside]] = positive_ref[inside]
    return {
        "similarity": sims.ravel(), "rank_strict": ranks.ravel(), "rank_loose": ranks.ravel().copy(),
        "topk": top, "gt_indptr": np.arange(0, n_queries * per_query + 1, per_query, dtype=np.int64),
        "gt_ref_index": refs.ravel(), "gt_role": roles.ravel(), "gt_n_references": np.asarray(n_references),
    }


def provenance(seed: int, fingerprint: str, device: str = "cpu", revision: str | None = None) -> dict[str, Any]:
    return {"cvgl_bench_version": "0", "git": {"revision": revision}, "device": device, "cpu": "x86_64",
            "world_size": 1, "global_batch": 32, "dataset_fingerprint": fingerprint, "seed": seed,
            "wall_time_s": {"eval": 1.0}}


def write_record(root: Path, *, method: str, eval_split: str, train_split: str, in_domain_train: str, seed: int,
                 arrays: Mapping[str, np.ndarray] | None, metrics: Mapping[str, float] | None = None,
                 profile: str = "cpu", config_hash: str | None = None, fingerprint: str | None = None,
                 protocol: Mapping[str, str] = PROTOCOL, efficiency: Mapping[str, float] | None = None,
                 metric_names: Sequence[str] = METRICS, status: str = "ok", variant: str = "",
                 revision: str | None = None, synthetic: bool = False, twin: str | None = None) -> Path:
    """Write one record; metrics are computed from ``arrays`` unless given."""
    fingerprint = fingerprint or f"fp-{eval_split}"
    record = results.new_record(method=method, profile=profile, seed=seed, train_split=train_split,
                                eval_split=eval_split, config_hash=config_hash or f"cfg-{method}",
                                protocol=dict(protocol), provenance=provenance(seed, fingerprint, revision=revision),
                                in_domain_train_split=in_domain_train, variant=variant,
                                split=results.SplitInfo(synthetic=synthetic, twin=twin))
    record.status = status
    if arrays is not None:
        record.n_queries = int(len(arrays["gt_indptr"]) - 1)
        record.n_references = int(np.asarray(arrays["gt_n_references"]))
        places = count_places(place_groups(GroundTruth.from_arrays(dict(arrays))), record.n_queries)
        record.intervals = results.IntervalInfo(places, 1000, seed)
    intervals: dict[str, list[float]] = {}
    if metrics is None:  # the numbers run would write: values and intervals from the ranks
        scored = rescore(arrays, protocol, list(metric_names), n_boot=1000, seed=seed, host=builtin_host())
        metrics = {name: m["value"] for name, m in scored.metrics.items()}
        intervals = {name: list(m["ci95"]) for name, m in scored.metrics.items()}
    for name, value in metrics.items():
        ci = intervals.get(name) or [max(value - 1.0, 0.0), min(value + 1.0, 100.0)]  # a stand-in interval
        record.metrics[name] = results.MetricValue(value=float(value), convention="simulated", ci95=ci,
                                                   higher_is_better=True)
    if efficiency is not None:
        record.efficiency = dict(efficiency)
    path = results.record_path(root, record, variant)
    results.write(record, path, ranks=dict(arrays) if arrays is not None else None)
    return path


_BUILTIN: list[PluginHost] = []


def builtin_host() -> PluginHost:
    """A plugin host with the built-in plugins only (their metrics score the simulated ranks)."""
    if not _BUILTIN:
        _BUILTIN.append(PluginHost(entry_points=False).load())
    return _BUILTIN[0]


def build(results_dir: Any, **kwargs: Any) -> Any:
    """``leaderboard.build`` with the test's plugin host (the one the test installed) unless given."""
    from cvgl_bench import leaderboard
    from cvgl_bench.plugins import get_host

    kwargs.setdefault("host", get_host())
    return leaderboard.build(results_dir, **kwargs)


SKILL = {"sample4geo": (0.90, 0.05), "clnet": (0.92, 0.06), "safa": (0.75, 0.02)}
EFFICIENCY = {
    "sample4geo": {"params": 87.6e6, "gflops_query": 45.1, "gflops_reference": 45.1, "embedding_dim": 1024},
    "clnet": {"params": 91.2e6, "gflops_query": 47.0, "gflops_reference": 47.0, "embedding_dim": 1024},
    "safa": {"params": 29.5e6, "gflops_query": 15.3, "gflops_reference": 15.3, "embedding_dim": 4096},
}


def make_results(root: Path, tasks: Iterable[tuple[str, str, str, int, int]], *,
                 methods: Sequence[str] = ("sample4geo", "clnet", "safa"), seeds: Sequence[int] = (0, 1, 2),
                 limit: int | None = None, semi: int = 0, profile: str = "cpu") -> list[Path]:
    """Simulated records for ``tasks`` = (train split, eval split, in-domain train split, queries, references)."""
    paths = []
    for train, evaluate, in_domain, n_q, n_r in tasks:
        for m_index, method in enumerate(methods):
            p_top1, tail = SKILL.get(method, (0.5, 0.05))
            if train != in_domain:
                p_top1 *= 0.6
            for seed in seeds:
                if limit is not None and len(paths) >= limit:
                    return paths
                rng = np.random.default_rng([seed, m_index, len(evaluate), n_q])
                best = draw_ranks(n_q, n_r, p_top1 + 0.004 * seed, tail, rng)
                arrays = rank_arrays(best, n_r, semi=semi if evaluate.startswith("vigor") else 0, rng=rng)
                names = METRICS + (("hit_rate",) if evaluate.startswith("vigor") and semi else ())
                efficiency = dict(EFFICIENCY.get(method, {}), queries_per_s=float(400 + 10 * seed + 50 * m_index))
                paths.append(write_record(root, method=method, eval_split=evaluate, train_split=train,
                                          in_domain_train=in_domain, seed=seed, arrays=arrays, profile=profile,
                                          efficiency=efficiency, metric_names=names))
    return paths
