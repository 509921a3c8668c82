"""Embeddings (or stored ranks) to metric values with conventions and 95% intervals.

``score`` ranks a split's query embeddings against its reference embeddings with a search
backend, then computes every requested metric plugin from the ranks. ``rescore`` does the
second half from the arrays stored beside a record, so metrics, conventions and intervals can
be recomputed without embeddings.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.structures import EvalData, GroundTruth
from ..errors import ConfigError, DataError, PluginError, UserError
from .backend_check import check_backend_ranks
from .bootstrap import bootstrap_means, count_places, percentile_interval, place_groups
from .metrics import MetricFunction
from .ranks import RankTable
from .search import SearchBackend, TorchSearch

DEFAULT_METRICS = ("recall@1", "recall@5", "recall@10", "recall@1%")
"""Reported when neither the caller nor the split names metrics."""


@dataclass
class Scored:
    """Metric values of one split, the ranks they came from, and the per-query scores."""

    metrics: dict[str, dict[str, Any]]
    """name -> {"value": %, "convention": str, "ci95": [lo, hi] (%), "higher_is_better": bool}."""
    ranks: RankTable
    per_query: dict[str, np.ndarray]
    """name -> per-query scores in [0, 1] (the input of paired tests between records)."""
    truth: GroundTruth
    protocol: dict[str, str] = field(default_factory=dict)
    places: np.ndarray | None = None
    """The place of every query (:func:`~.bootstrap.place_groups`), the unit the intervals resample."""
    n_boot: int = 0
    """Resamples the intervals were drawn from (0: no intervals)."""
    seed: int = 0
    """Seed of the intervals' draws."""
    backend: dict[str, str] = field(default_factory=dict)
    """The search backend that ranked (``name`` and the ``plugin`` that registered it); empty for stored ranks."""

    @property
    def n_queries(self) -> int:
        return self.truth.n_queries

    @property
    def n_places(self) -> int:
        """How many places the intervals resampled (queries sharing a positive are one place)."""
        return count_places(self.places, self.n_queries)

    @property
    def n_references(self) -> int:
        return self.truth.n_references

    def rank_arrays(self) -> dict[str, np.ndarray]:
        """The arrays to store beside a record: ``ranks.arrays()`` and ``truth.arrays()``."""
        return {**self.ranks.arrays(), **self.truth.arrays()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: metrics, protocol and sizes."""
        return {"n_queries": self.n_queries, "n_references": self.n_references, "n_places": self.n_places,
                "protocol": dict(self.protocol), "metrics": self.metrics}


@dataclass(frozen=True)
class StoredSplit:
    """What metrics need of a split when only stored arrays are at hand."""

    truth: GroundTruth
    protocol: dict[str, str]
    split: str = ""


def score(query: np.ndarray, reference: np.ndarray, data: EvalData, *, host: Any,
          metrics: Sequence[str] | None = None, backend: str = "torch", device: str | None = None, n_boot: int = 1000,
          seed: int = 0, topk: int = 10, progress: bool = False) -> Scored:
    """Rank ``query`` against ``reference`` embeddings (rows in the split's order) and score.

    :param metrics: metric names; default: the split's own list, else ``DEFAULT_METRICS``.
    :param backend: a registered search backend (``torch``, ``faiss``...).
    :param n_boot: bootstrap resamples for the 95% intervals (0: no interval).
    :param host: the plugin host whose metrics and search backends are used.
    """
    names = _metric_names(metrics, data.split, host)
    spec = host.search_backends.get(backend)
    if not spec.available():
        needs = ", ".join(spec.requires)
        raise ConfigError(f"search backend {backend!r} of {host.search_backends.origin(backend).origin} needs the "
                          f"module(s) {needs}, which cannot be imported here: install the package that provides it "
                          f"('cvgl-bench backends' says which), or use --backend torch")
    origin = host.search_backends.origin(backend).origin
    try:
        searcher = spec.load()()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is one line naming it
        raise PluginError(f"search backend {backend!r} of {origin}: building it failed: {type(exc).__name__}: "
                          f"{exc}") from exc
    if not callable(getattr(searcher, "rank", None)):
        raise PluginError(f"search backend {backend!r} of {origin}: its loader gave a {type(searcher).__name__}, "
                          "which has no rank(); name a class, or a function returning a new backend object")
    query = np.asarray(query) if not hasattr(query, "detach") else query
    if len(query) != data.truth.n_queries or len(reference) != data.truth.n_references:
        raise DataError(f"{data.split}: embeddings are {len(query)} x {len(reference)} but the split has "
                        f"{data.truth.n_queries} queries and {data.truth.n_references} references")
    kwargs: dict[str, Any] = {"device": device, "topk": topk}
    large = data.truth.n_queries * data.truth.n_references >= 1e8
    if progress and large and (isinstance(searcher, SearchBackend)
                               or "progress" in inspect.signature(searcher.rank).parameters):
        kwargs["progress"] = True  # declared by SearchBackend; an older plugin's rank() may lack it
    if isinstance(searcher, TorchSearch):  # the exact engine itself
        ranks = searcher.rank(query, reference, data.truth, **kwargs)
    else:
        who = f"search backend {backend!r} of {origin}"
        try:
            ranks = searcher.rank(query, reference, data.truth, **kwargs)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is one line naming it
            raise PluginError(f"{who}: rank() failed: {type(exc).__name__}: {exc}") from exc
        ranks = check_backend_ranks(ranks, query, reference, data.truth, topk=topk, device=device, who=who)
    scored = _evaluate(ranks, data, dict(data.protocol), names, n_boot, seed, host)
    scored.backend = {"name": backend, "plugin": origin}
    return scored


def rescore(arrays: Mapping[str, np.ndarray], protocol: Mapping[str, str], metrics: Sequence[str], *,
            host: Any, n_boot: int = 1000, seed: int = 0, split: str = "", data: EvalData | None = None) -> Scored:
    """Recompute metrics from stored arrays (``Scored.rank_arrays()``), without embeddings.

    ``host`` provides the metric plugins (as for :func:`score`). The metrics see a
    :class:`StoredSplit` (ground truth and protocol), or ``data``, the split itself, for a metric
    that needs more of it (positions, ids); ``data`` must have the stored ground truth.
    """
    ranks, truth = stored_ranks(arrays)
    if data is None:
        data = StoredSplit(truth, dict(protocol), split)
    elif not data.truth.same_as(truth):
        raise DataError(f"{data.split}: the split's ground truth is not the one its ranks were stored with; "
                        "the data here is another version of the split")
    return _evaluate(ranks, data, dict(protocol), list(metrics), n_boot, seed, host)


def stored_ranks(arrays: Mapping[str, np.ndarray]) -> tuple[RankTable, GroundTruth]:
    """The rank table and ground truth stored beside a record, checked against each other."""
    try:
        truth = GroundTruth.from_arrays(dict(arrays))
    except KeyError as exc:
        raise DataError(f"stored ranks lack the array {exc.args[0]!r}; they were not written by cvgl-bench") from None
    ranks = RankTable.from_arrays(arrays)
    try:
        ranks.check_against(truth)
    except ValueError as exc:
        raise DataError(f"stored ranks do not fit their ground truth: {exc}") from None
    return ranks, truth


def _evaluate(ranks: RankTable, data: Any, protocol: dict[str, str], names: Sequence[str], n_boot: int, seed: int,
              host: Any) -> Scored:
    truth = data.truth
    ranks.check_against(truth)
    per_query: dict[str, np.ndarray] = {}
    conventions: dict[str, str] = {}
    higher: dict[str, bool] = {}
    for name in names:
        spec = host.metrics.get(name)
        fn = spec.load()
        origin = host.metrics.origin(name)
        who = f"metric {name!r}" + ("" if origin.builtin else f" of {origin.origin}")
        try:
            values = np.asarray(fn(ranks, data, protocol), dtype=np.float64)
        except Exception as exc:
            if origin.builtin or isinstance(exc, UserError):
                raise
            raise PluginError(f"{who} failed: {type(exc).__name__}: {exc}") from exc
        if values.shape != (truth.n_queries,):
            raise PluginError(f"{who} returned {values.shape}, expected one score per query ({truth.n_queries})")
        if truth.n_queries and np.isnan(values).any():
            raise PluginError(f"{who} returned NaN for {int(np.isnan(values).sum())} of {truth.n_queries} queries")
        if truth.n_queries and (values.min() < 0 or values.max() > 1):
            raise PluginError(f"{who} returned per-query scores outside [0, 1]")
        per_query[name] = values
        conventions[name] = _convention(fn, spec, protocol, data)
        higher[name] = bool(spec.higher_is_better)
    results: dict[str, dict[str, Any]] = {}
    stacked = np.stack([per_query[n] for n in names]) if names else np.zeros((0, truth.n_queries))
    places = place_groups(truth)
    means = bootstrap_means(stacked, n_boot, seed, places) if n_boot > 0 and len(names) else None
    for row, name in enumerate(names):
        values = per_query[name]
        value = float(values.mean() * 100) if len(values) else float("nan")
        interval = list(percentile_interval(means[row])) if means is not None else None
        results[name] = {"value": value, "convention": conventions[name], "ci95": interval,
                         "higher_is_better": higher[name]}
    return Scored(results, ranks, per_query, truth, protocol, places, n_boot if means is not None else 0, seed)


def _convention(fn: Any, spec: Any, protocol: Mapping[str, str], data: Any) -> str:
    # MetricFunction declares describe(); a plain callable of an older plugin may carry one too
    describe = fn.describe if isinstance(fn, MetricFunction) else getattr(fn, "describe", None)
    try:
        text = describe(protocol, data) if callable(describe) else None
    except Exception as exc:
        if isinstance(exc, UserError):
            raise
        raise PluginError(f"metric {spec.name!r}: its describe() failed: {type(exc).__name__}: {exc}") from exc
    if text is not None:
        return str(text)
    option = spec.convention_option
    if option and option in protocol:
        return f"{option}={protocol[option]}"
    return spec.summary or "as defined by its plugin"


def _metric_names(metrics: Sequence[str] | None, split: str, host: Any) -> list[str]:
    if metrics:
        return list(dict.fromkeys(metrics))
    if split in host.splits and host.splits.get(split).metrics:
        return list(host.splits.get(split).metrics)
    return list(DEFAULT_METRICS)
