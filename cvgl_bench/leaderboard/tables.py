"""From records to leaderboard tables: grouping, published numbers, significance.

The leaderboard is a pure reader: every number it shows is a record's or comes from
:mod:`cvgl_bench.evaluate` (seed aggregation, per-query scores of stored ranks, the paired
bootstrap, recall curves), so it cannot disagree with the evaluation.

One table per task: every in-domain evaluation split, and every (training split, evaluation
split) transfer pair, apart; and apart again per value of a *listing* option (an option that
changes the split's queries, gallery, images or ground truth, such as ``cvact_test`` or
``ground_fov``: :func:`cvgl_bench.data.splits.listing_of`), because another listing is another
benchmark. Options that only change how ranks are scored (``ties``, ``r1pct``) keep their rows
in one table, labelled by the options that differ.

A row is one configuration of one method: the records of a row share method, profile,
configuration (``cell.configuration_id``: the configuration over its seeds),
``dataset_fingerprint`` and protocol, and differ only in their seed. Records that
disagree on any of these are kept in separate rows, with a warning, because averaging them
would mix different experiments.

Aggregation over seeds (:func:`cvgl_bench.evaluate.aggregate.aggregate_metric`): with two or
more seeds, the mean and a Student-t 95% interval over the seed means; with one seed, the
record's own bootstrap interval over places (queries sharing a positive reference are one
place, :func:`cvgl_bench.evaluate.bootstrap.place_groups`), marked n=1. A record made before
intervals resampled places (no ``intervals``) has them recomputed from its stored ranks by
:func:`cvgl_bench.evaluate.scoring.rescore` as ``run`` would write them now, and its table says
so. A metric missing from some seed of a row is not averaged at all (the cell stays empty), and
an overview mean over benchmarks exists only for rows that are complete (MTEB's rule). Rows are
ordered by the primary metric in its own direction (``higher_is_better`` of the records).

Published numbers join a row by (evaluation split, training split, method) under the table's
listing (an entry that names no listing option was measured on the official listing) and are
never ranked; the reproduced-minus-published delta exists only for rows of the ``paper`` profile.
Synthetic splits (the records' ``split.synthetic``) get no published numbers at all: numbers
measured on the real twin say nothing about a synthetic world, so showing them beside synthetic
results would invite a comparison that does not exist.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import results
from ..data.splits import listing_of, load_split
from ..errors import DataError, UserError
from ..evaluate.aggregate import MetricStat, aggregate_metric, mean_per_query
from ..evaluate.bootstrap import RESAMPLES, count_places, paired_bootstrap, place_groups
from ..evaluate.curves import best_positions
from ..evaluate.scoring import rescore, stored_ranks
from ..results import Record
from .published import Published, PublishedEntry
from .staleness import CodeHistory, table_staleness

PRIMARY_METRIC = "recall@1"
"""The metric that orders rows, chooses the best method and is tested for significance."""
METRIC_ORDER = ("recall@1", "recall@5", "recall@10", "recall@1%", "hit_rate", "ap")
EFFICIENCY_KEYS = ("params", "gflops_query", "gflops_reference", "embedding_dim", "queries_per_s")
"""Keys of ``record["efficiency"]`` shown as columns."""
ALPHA = 0.05
"""Significance level of the "significant" column (two-sided)."""
REPRODUCTION_PROFILE = "paper"
"""Only rows of this profile (the published recipe) get a reproduced-minus-published delta:
a number from the small ``cpu`` recipe is not a reproduction of the paper's."""


class Suite(Protocol):
    """What the leaderboard needs of a suite (:class:`cvgl_bench.run.suite.Suite`, parsed by the runner)."""

    name: str
    methods: tuple[str, ...]
    profile: str
    splits: tuple[str, ...]
    transfer: tuple[tuple[str, str], ...]
    variants: tuple[Any, ...]

    def seeds_of(self, eval_split: str) -> tuple[int, ...]: ...

    def accepts(self, method: str, profile: str, seed: int, task: str, train_split: str | None,
                eval_split: str, variant: str = "") -> bool: ...

    def protocol_of(self, spec: Any) -> dict[str, str]: ...


@dataclass
class Run:
    """One record of a row."""

    path: Path
    record: Record

    @property
    def seed(self) -> int:
        return self.record.cell.seed


@dataclass
class RankSummary:
    """What a row needs from one record's stored ranks (the arrays themselves are dropped)."""

    best_rank: np.ndarray | None = None
    """Each query's best positive position (:func:`cvgl_bench.evaluate.curves.best_positions`)."""
    per_query: np.ndarray | None = None
    n_references: int = 0
    error: str = ""
    places: np.ndarray | None = None
    """The place of every query: the unit the paired test resamples."""


@dataclass
class Row:
    """One method configuration on one task, over its seeds."""

    method: str
    profile: str
    config_hash: str
    fingerprint: str
    protocol: dict[str, str]
    runs: list[Run]
    variant: str = ""
    """The cell's hparams overrides (``"ncm=off"``): an ablation of the method, shown in the label."""
    label: str = ""
    stats: dict[str, MetricStat] = field(default_factory=dict)
    efficiency: dict[str, float | None] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    expected_seeds: tuple[int, ...] | None = None
    published: PublishedEntry | None = None
    deltas: dict[str, float] = field(default_factory=dict)
    protocol_mismatch: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    significance: dict[str, Any] = field(default_factory=dict)
    implementation: str = ""
    """Whose code made the row (:func:`implementation_of`): the authors', a re-implementation, or
    weights imported from a released checkpoint."""

    @property
    def seeds(self) -> list[int]:
        return sorted(run.seed for run in self.runs)

    @property
    def missing_seeds(self) -> list[int]:
        if self.expected_seeds is None:
            return []
        return sorted(set(self.expected_seeds) - set(self.seeds))

    def value(self, metric: str = PRIMARY_METRIC) -> float | None:
        stat = self.stats.get(metric)
        return None if stat is None else stat.mean


@dataclass
class BenchmarkTable:
    """The rows of one task, best first, with what is known about the task."""

    task: str
    train_split: str | None
    eval_split: str
    rows: list[Row]
    metrics: list[str]
    published_entries: list[PublishedEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_queries: int | None = None
    n_references: int | None = None
    stale: bool = False
    chance: dict[str, float] = field(default_factory=dict)
    """Recall@K (%) of a random ranking of this gallery, per recall metric (:func:`chance_levels`)."""
    """Some record predates the code or generator that would produce it now (:mod:`.staleness`)."""
    synthetic: bool = False
    """The evaluation split is synthetic (its records say so)."""
    twin: str | None = None
    """The real split a synthetic one imitates."""
    higher_is_better: bool = True
    """Direction of the primary metric (its records say so)."""
    listing: dict[str, str] = field(default_factory=dict)
    """The listing options whose value is not the split's official one (empty: the official benchmark)."""

    @property
    def key(self) -> str:
        """File-name friendly identity: ``in-domain__cvusa_test`` / ``transfer__cvusa_train__cvact_val``,
        then ``__option-value`` per listing option that is not the official one.

        One key per table: a name that had to be changed to be a file name (``x y`` -> ``x_y``,
        which ``x_y`` itself would also give) or is too long for one gets a hash of the real one."""
        if self.task == "in-domain":
            raw = f"in-domain__{self.eval_split}"
        else:
            raw = f"transfer__{self.train_split}__{self.eval_split}"
        raw += "".join(f"__{option}-{value}" for option, value in sorted(self.listing.items()))
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", raw).lstrip(".")
        if key != raw or len(key) > 120:
            key = f"{key[:100]}-{hashlib.sha256(raw.encode('utf-8', 'replace')).hexdigest()[:8]}"
        return key

    @property
    def benchmark(self) -> str:
        """The evaluation split, with its listing options when they are not the official ones."""
        listing = ", ".join(f"{option}={value}" for option, value in sorted(self.listing.items()))
        return f"{self.eval_split} [{listing}]" if listing else self.eval_split

    @property
    def title(self) -> str:
        if self.task == "in-domain":
            trained = f", trained on {self.train_split}" if self.train_split else ""
            return f"{self.benchmark} (in-domain{trained})"
        return f"{self.train_split} \u2192 {self.benchmark} (transfer)"

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC if PRIMARY_METRIC in self.metrics else (self.metrics[0] if self.metrics else "")

    @property
    def best(self) -> Row | None:
        return self.rows[0] if self.rows and self.rows[0].value(self.primary_metric) is not None else None

    def lower_is_better(self) -> set[str]:
        """The table's metrics whose records say lower is better (an error, a distance)."""
        return {name for row in self.rows for run in row.runs for name, metric in run.record.metrics.items()
                if name in self.metrics and not metric.higher_is_better}

    def sort_key(self, row: Row) -> tuple:
        """Rows with a primary value first, best first in the metric's direction, then by name."""
        value = row.value(self.primary_metric)
        ordered = 0.0 if value is None else (-value if self.higher_is_better else value)
        return (value is None, ordered, row.method, row.variant, row.profile)


@dataclass
class Overview:
    """Primary metric of every row label across the tables of one group; mean only for complete rows."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[float | None], float | None]]


@dataclass
class Leaderboard:
    """Everything a renderer needs."""

    results_dir: Path
    tables: list[BenchmarkTable]
    overviews: list[Overview]
    published: Published
    n_records: int
    warnings: list[str] = field(default_factory=list)
    summaries: dict[Path, RankSummary] = field(default_factory=dict)
    n_boot: int = 2000
    host: Any = None
    """The plugin host the board was built with (metric plugins, split and method specs)."""
    title: str = "cvgl-bench leaderboard"
    """The suites' names when the board is filtered by suites (``--suite``), else the default."""
    description: str = ""
    """The suites' descriptions, shown under the title."""

    def table(self, key: str) -> BenchmarkTable:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


# -- aggregation ------------------------------------------------------------------------------
def _same_or_median(values: list[float]) -> float | None:
    if not values:
        return None
    return float(values[0]) if len(set(values)) == 1 else float(np.median(values))


IMPLEMENTATIONS = {
    "authors' code": "the method's authors' code, wrapped as a plugin",
    "re-implementation": "a re-implementation in cvgl-bench, not the authors' code (see the method's plugin README)",
    "re-impl. from abstract": "an unofficial re-implementation from the paper's abstract only: the paper's "
                              "method text is not public, so the design is a guess (see the plugin README)",
    "imported weights": "weights trained outside cvgl-bench (released by the authors, or anyone's), scored without "
                        "training (run --checkpoint); the record's provenance.trained_with names the file and its "
                        "sha256",
    "external embeddings": "embeddings computed outside cvgl-bench and scored by it (cvgl-bench score --record); "
                           "the record's provenance.external says where they come from",
    "not stated": "the method's plugin does not say whether it is its authors' code (MethodSpec.official)",
    "not installed": "the method's plugin is not installed here, so whose code it is cannot be said",
}
"""What each value of :attr:`Row.implementation` means (the leaderboard's footnote)."""


def implementation_of(row: Row, host: Any) -> str:
    """Whose code made ``row``: a key of :data:`IMPLEMENTATIONS`."""
    if any(run.record.provenance.get("external") for run in row.runs):
        return "external embeddings"
    if any(run.record.checkpoint is not None and run.record.checkpoint.imported
           and "trained_by_cvgl_bench" not in (run.record.provenance.get("trained_with") or {}) for run in row.runs):
        return "imported weights"  # another run's model.pt is this method's code, as its own run is
    if host is None or row.method not in host.methods:
        return "not installed"
    spec = host.methods.get(row.method)
    if spec.official is None:
        return "not stated"
    if spec.official:
        return "authors' code"
    return "re-impl. from abstract" if "from-abstract" in spec.tags else "re-implementation"


def checked_ranks(path: Path, record: Record) -> tuple[dict[str, np.ndarray], Any, Any]:
    """The stored ranks of a record (arrays, rank table, ground truth), checked against the record
    itself: query and gallery counts must be the record's. Every reader of ranks here goes through
    it, so a ranks file that disagrees with its record is left out the same way everywhere."""
    arrays = results.read_ranks(path, record)
    size = np.asarray(arrays.get("gt_n_references"))
    if size.ndim != 0 or size.dtype.kind not in "iu":
        raise DataError(f"{path}: the ranks file's gt_n_references is not one integer")
    ranks, truth = stored_ranks(arrays)
    for what, stored, recorded in (("queries", truth.n_queries, record.n_queries),
                                   ("references", truth.n_references, record.n_references)):
        if recorded and stored != recorded:
            raise DataError(f"{path}: the ranks file has {stored} {what}, the record {recorded}; rerun the cell")
    if not record.n_references and truth.n_references > 1 << 31:
        raise DataError(f"{path}: the ranks file claims a gallery of {truth.n_references} references")
    return arrays, ranks, truth


def chance_levels(table: BenchmarkTable) -> dict[str, float]:
    """Recall@K (%) of a uniformly random ranking of the table's gallery, from the first stored
    ranks of its rows (:func:`cvgl_bench.evaluate.metrics.chance_recall`); empty without ranks."""
    from ..evaluate.metrics import chance_recall, top_one_percent
    from ..evaluate.scoring import stored_ranks

    for row in table.rows:
        for run in row.runs:
            if run.record.ranks is None:
                continue
            try:
                _, _, truth = checked_ranks(run.path, run.record)
                levels = {}
                for metric in table.metrics:
                    if metric == "recall@1%":
                        k = top_one_percent(truth.n_references, row.protocol.get("r1pct", "floor"))
                    elif re.fullmatch(r"recall@\d+", metric):
                        k = int(metric.split("@")[1])
                    else:
                        continue
                    levels[metric] = chance_recall(truth, k)
            except (UserError, ValueError, KeyError, IndexError, TypeError):
                continue
            return levels
    return {}


def device_of(record: Record) -> str:
    """Where a record's model ran, in words (``cpu (Intel ...)``, ``cuda:0 (NVIDIA H100 ...)``)."""
    prov = record.provenance
    device = prov.get("device")
    if isinstance(device, dict):
        device = device.get("device")
    name = prov.get("gpu") if str(device or "").startswith("cuda") else prov.get("cpu")
    return f"{device} ({name})" if name and device else str(device or name or "unknown device")


def _aggregate_row(row: Row, metrics: Sequence[str]) -> None:
    for metric in metrics:
        values, intervals = [], []
        for run in row.runs:
            m = run.record.metrics.get(metric)
            values.append(None if m is None else m.value)
            intervals.append(None if m is None else m.ci95)
        row.stats[metric] = aggregate_metric(values, intervals)
    for key in EFFICIENCY_KEYS:
        found = [float(v) for run in row.runs if isinstance(v := run.record.efficiency.get(key), (int, float))]
        row.efficiency[key] = _same_or_median(found)
    row.devices = sorted({device_of(run.record) for run in row.runs})


def _metric_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    ordered = [m for m in METRIC_ORDER if m in names]
    return ordered + sorted(names - set(ordered))


# -- building ---------------------------------------------------------------------------------
def _rank_summary(run: Run, metric: str, host: Any) -> RankSummary:
    """Best positions and per-query scores of ``metric`` from one record's stored ranks (by evaluate);
    the record's own numbers were checked against the same ranks by :func:`numbers_not_from_ranks`."""
    if run.record.ranks is None:
        return RankSummary(error="no stored ranks")
    try:
        arrays, _, truth = checked_ranks(run.path, run.record)
        protocol = run.record.protocol
        best = best_positions(arrays, protocol)
        per_query = places = None
        if metric:
            scored = rescore(arrays, protocol, [metric], n_boot=0, host=host)
            per_query, places = np.asarray(scored.per_query[metric], dtype=np.float64), scored.places
        return RankSummary(best, per_query, truth.n_references, places=places)
    except (UserError, ValueError, KeyError, IndexError, TypeError) as exc:
        return RankSummary(error=str(exc) if isinstance(exc, UserError) else f"unreadable ranks: {exc}")


def numbers_not_from_ranks(path: Path, record: Record, host: Any, split_data: SplitData | None = None) -> str | None:
    """Why the record's metrics are not what ``evaluate`` computes from its stored ranks (every
    value, and every interval when the record says how its intervals were drawn), or None when
    they all are, or when the record has no ranks to check against. A board shows a record's
    numbers only when this is None, so it cannot show a number its ranks do not give.

    A metric that needs more of the split than its ground truth (a plugin's metre-level error
    reads GPS positions) is recomputed on the split itself, read by ``split_data``."""
    if record.ranks is None or not record.metrics:
        return None
    try:
        arrays, _, _ = checked_ranks(path, record)
        info = record.intervals
        n_boot = info.resamples if info is not None else 0
        seed = info.seed if info is not None else 0
        try:
            scored = rescore(arrays, record.protocol, list(record.metrics), n_boot=n_boot, seed=seed, host=host)
        except DataError as exc:
            data = split_data(record) if split_data is not None else None
            if data is None:
                raise DataError(f"{exc} (the leaderboard recomputes every number: give it the data with "
                                f"--data-root, where {record.cell.eval_split} is)") from None
            if data.fingerprint != record.dataset_fingerprint:
                raise DataError(f"{exc}; the {record.cell.eval_split} found here is not the one the record was "
                                "made on (another dataset fingerprint)") from None
            scored = rescore(arrays, record.protocol, list(record.metrics), n_boot=n_boot, seed=seed, host=host,
                             data=data)
    except (UserError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"its ranks cannot be read: {exc}"

    def differs(a: float, b: float) -> bool:
        return not abs(a - b) <= 1e-6 * max(1.0, abs(b))

    for name, recorded in record.metrics.items():
        computed = scored.metrics[name]
        if differs(computed["value"], recorded.value):
            return (f"its ranks give {name} {computed['value']:.4f}, the record {recorded.value:.4f}; "
                    "the two do not belong together, rerun the cell")
        interval = computed.get("ci95")
        if n_boot and recorded.ci95 is not None and interval is not None and \
                any(differs(a, b) for a, b in zip(interval, recorded.ci95)):
            return (f"its ranks give the {name} interval [{interval[0]:.2f}, {interval[1]:.2f}], the record "
                    f"[{recorded.ci95[0]:.2f}, {recorded.ci95[1]:.2f}]; rerun the cell")
    return None


def intervals_over_places(path: Path, record: Record, host: Any) -> bool:
    """Upgrade a record made before intervals resampled places (no ``intervals``): where several of
    its queries share a place, recompute its intervals from the stored ranks as ``run`` writes them
    now (:data:`~cvgl_bench.evaluate.bootstrap.RESAMPLES` resamples from the cell's seed). Returns
    whether an interval changed; the record on disk is left as it is."""
    if record.intervals is not None or record.ranks is None or record.status != "ok" or not record.metrics:
        return False
    arrays, _, truth = checked_ranks(path, record)
    places = count_places(place_groups(truth), truth.n_queries)
    if places == truth.n_queries:  # over places is over queries: nothing moves
        record.intervals = results.IntervalInfo(places, RESAMPLES, record.cell.seed)
        return False
    scored = rescore(arrays, record.protocol, list(record.metrics), n_boot=RESAMPLES, seed=record.cell.seed, host=host)
    for name, metric in scored.metrics.items():
        record.metrics[name].ci95 = metric["ci95"]
    record.intervals = results.IntervalInfo(scored.n_places, scored.n_boot, scored.seed)
    return True


class SplitData:
    """Evaluation splits read once each, for the metrics that need more than stored ranks."""

    def __init__(self, host: Any, data_root: Any = None):
        self.host, self.data_root = host, data_root
        self.loaded: dict[tuple, Any] = {}

    def __call__(self, record: Record) -> Any:
        """The record's evaluation split under its protocol, or None when it cannot be read here."""
        name = record.cell.eval_split
        key = (name, tuple(sorted(record.protocol.items())))
        if key not in self.loaded:
            try:
                self.loaded[key] = load_split(self.host.splits.get(name), self.data_root, record.protocol, self.host,
                                              verify_files=False)
            except UserError:
                self.loaded[key] = None
        return self.loaded[key]


def _in_suites(record: Record, suites: Sequence[Suite], host: Any) -> bool:
    """Whether a suite runs the record's cell under the record's protocol (an option the record
    predates is not asked of it)."""
    cell = record.cell
    for suite in suites:
        if not suite.accepts(cell.method, cell.profile, cell.seed, cell.task, cell.train_split, cell.eval_split,
                             cell.variant):
            continue
        if cell.eval_split not in host.splits:
            return True
        wanted = suite.protocol_of(host.splits.get(cell.eval_split))
        if all(record.protocol.get(key, value) == value for key, value in wanted.items()):
            return True
    return False


def expected_seeds(suites: Sequence[Suite], method: str, profile: str, task: str, train_split: str | None,
                   eval_split: str, variant: str = "") -> tuple[int, ...] | None:
    """The seeds the suites ask of this cell (union), or None when no suite asks for it."""
    wanted: set[int] = set()
    for suite in suites:
        seeds = suite.seeds_of(eval_split)
        if any(suite.accepts(method, profile, s, task, train_split, eval_split, variant) for s in seeds):
            wanted.update(seeds)
    return tuple(sorted(wanted)) if wanted else None


def _absent_methods(suites: Sequence[Suite], rows: Sequence[Row], task: str, train_split: str | None,
                    eval_split: str, host: Any) -> list[str]:
    """One note per method that a suite asks for on this table but that has no row, saying why when
    the plugin says so (a method that cannot embed one of the split's views is never run)."""
    present = {(row.method, row.variant) for row in rows}
    notes = []
    for suite in suites:
        asked = [(method, "") for method in suite.methods] + [(v.method, v.label) for v in suite.variants]
        for method, variant in sorted(set(asked) - present):
            if not any(suite.accepts(method, suite.profile, seed, task, train_split, eval_split, variant)
                       for seed in suite.seeds_of(eval_split)):
                continue
            present.add((method, variant))
            notes.append(f"{method_label(method, variant)}: {_why_absent(method, eval_split, host)}")
    return notes


def _suite_benchmarks_without_table(suites: Sequence[Suite], tables: Sequence[BenchmarkTable], host: Any) -> list[str]:
    """One line per benchmark a suite asks for that has no record at all, so no table (every cell
    of it failed, or none has run yet): a board must not drop it without a word."""
    have = {(t.task, t.train_split, t.eval_split) for t in tables}
    lines = []
    for suite in suites:
        asked = [("in-domain", _in_domain_train(split, host), split) for split in suite.splits]
        asked += [("transfer", train, split) for train, split in suite.transfer]
        for task, train, split in asked:
            if (task, train, split) not in have:
                have.add((task, train, split))
                where = f"{train} -> {split}" if task == "transfer" else split
                lines.append(f"suite {suite.name} asks for {task} {where}, which has no record, so it has no table "
                             "(its cells failed, or have not run: run the suite's grid)")
    return lines


def _split_spec(name: str, host: Any) -> Any:
    """The registered split called ``name``, or None when no installed plugin registers it."""
    return host.splits.get(name) if name in host.splits else None


def _in_domain_train(eval_split: str, host: Any) -> str | None:
    try:
        return host.splits.get(eval_split).train_split
    except UserError:
        return None


def _why_absent(method: str, eval_split: str, host: Any) -> str:
    try:
        spec, split = host.methods.get(method), host.splits.get(eval_split)
    except UserError:
        return "the suite asks for it; no record"
    if spec.supports(split):
        return "the suite asks for it; no record"
    missing = sorted({split.query_view, split.reference_view} - set(spec.views))
    return (f"not run: it embeds only the {', '.join(spec.views)} view(s), not {', '.join(missing)} "
            "(the grid skips it)")


def method_label(method: str, variant: str = "") -> str:
    """``clnet`` or, for an ablation, ``clnet [ncm=off]``."""
    return f"{method} [{variant}]" if variant else method


def _label_rows(table: BenchmarkTable, warn: list[str]) -> None:
    by_method: dict[tuple[str, str], list[Row]] = {}
    for row in table.rows:
        name = method_label(row.method, row.variant)
        by_method.setdefault((name, row.profile), []).append(row)
        row.label = name
    for (method, profile), rows in by_method.items():
        if len(rows) < 2:
            continue
        configs = {r.config_hash for r in rows}
        # the fingerprint covers the protocol: name the options that differ, and the data only
        # where rows under one protocol were still computed on different files
        differing = sorted({k for r in rows for k in r.protocol if len({q.protocol.get(k) for q in rows}) > 1})
        by_protocol: dict[tuple, set[str]] = {}
        for r in rows:
            by_protocol.setdefault(tuple(sorted(r.protocol.items())), set()).add(str(r.fingerprint))
        data_differs = any(len(prints) > 1 for prints in by_protocol.values())
        for r in rows:
            parts = [r.variant] if r.variant else []
            if len(configs) > 1:
                parts.append(f"cfg {r.config_hash[:7]}")
            if differing:
                parts.append(",".join(f"{k}={r.protocol.get(k, '-')}" for k in differing))
            if data_differs:
                parts.append(f"data {str(r.fingerprint)[:7]}")
            if len(parts) == (1 if r.variant else 0):
                parts.append("protocol " + ",".join(f"{k}={v}" for k, v in sorted(r.protocol.items())))
            r.label = f"{r.method} [{'; '.join(parts)}]"
        what = " and ".join(w for w, differs in (("config_hash", len(configs) > 1), ("protocol", bool(differing)),
                                                 ("dataset_fingerprint", data_differs)) if differs)
        warn.append(f"{table.title}: records of {method} ({profile}) differ in {what or 'protocol'}; "
                    f"kept as {len(rows)} separate rows, not averaged")


def _join_published(table: BenchmarkTable, published: Published, host: Any) -> None:
    if table.synthetic:
        twin = f" (twin of {table.twin})" if table.twin else ""
        table.notes.append(
            f"Synthetic split{twin}: no method has published numbers on it, and numbers "
            f"published on the real data are not comparable, so none are shown; compare rows with each other only.")
        return
    spec = _split_spec(table.eval_split, host)
    entries, elsewhere = [], {}
    for entry in published.entries(table.eval_split, table.train_split):
        listing = listing_of(entry.protocol, spec, host)
        if listing == table.listing:
            entries.append(entry)
        else:
            named = ", ".join(f"{option}={value}" for option, value in listing.items()) or "the official listing"
            elsewhere[named] = elsewhere.get(named, 0) + 1
    table.published_entries = sorted(entries, key=lambda e: (e.paper_method.lower(), str(e.variant or "")))
    if elsewhere:
        counts = ", ".join(f"{n} on {named}" for named, n in sorted(elsewhere.items()))
        table.notes.append(f"Published numbers on another listing of {table.eval_split} are not shown ({counts}; a "
                           "number that names no listing option is taken to be on the official one): another "
                           "listing ranks other queries, references or positives. 'cvgl-bench leaderboard "
                           "--published-only' lists them all.")
    for row in table.rows:
        if row.variant:  # an ablation is not the configuration the paper published
            continue
        entry = published.primary(table.eval_split, table.train_split, row.method)
        if entry is None or not any(entry is e for e in entries):
            continue
        row.published = entry
        if row.profile != REPRODUCTION_PROFILE:
            continue
        for metric, number in entry.metrics.items():
            mine = row.value(metric)
            if mine is not None:
                row.deltas[metric] = mine - float(number["value"])
        for key, theirs in entry.protocol.items():
            ours = row.protocol.get(key)
            if ours != theirs:
                row.protocol_mismatch[key] = (ours, theirs)


def _test_against_best(table: BenchmarkTable, summaries: dict[Path, RankSummary], n_boot: int, seed: int) -> None:
    best = table.best
    metric = table.primary_metric
    for row in table.rows:
        if row is best:
            row.significance = {"status": "best"}
            continue
        if best is None or row.value(metric) is None:
            row.significance = {"status": "n/a", "note": f"no {metric}"}
            continue
        if row.fingerprint != best.fingerprint:
            row.significance = {"status": "n/a", "note": "other split fingerprint than the best row"}
            continue
        if row.protocol != best.protocol:  # other positives, other scores: not a comparison of methods
            row.significance = {"status": "n/a", "note": "other protocol than the best row"}
            continue
        common = sorted(set(row.seeds) & set(best.seeds))
        paired = common or None

        def scores(r: Row) -> np.ndarray | str:
            runs = [run for run in r.runs if paired is None or run.seed in paired]
            got = [summaries.get(run.path) for run in runs]
            bad = [s for s in got if s is None or s.per_query is None]
            if bad:
                return bad[0].error if bad[0] is not None else "ranks not read"
            try:
                return mean_per_query([s.per_query for s in got])
            except ValueError as exc:
                return str(exc)

        a, b = scores(row), scores(best)
        if isinstance(a, str) or isinstance(b, str):
            row.significance = {"status": "n/a", "note": a if isinstance(a, str) else b}
            continue
        if len(a) != len(b):
            row.significance = {"status": "n/a", "note": "different numbers of queries"}
            continue
        test = paired_bootstrap(a, b, n_boot=n_boot, seed=seed, places=summaries[best.runs[0].path].places)
        row.significance = {"status": "tested", "p_value": float(test["p_value"]), "delta": float(test["delta"]),
                            "ci95": [float(x) for x in test["ci95"]],
                            "significant": bool(test["p_value"] < ALPHA),
                            "seeds": "paired seeds " + ",".join(map(str, common)) if common
                            else "no common seeds: per-query means over all seeds"}


def _overviews(tables: Sequence[BenchmarkTable]) -> list[Overview]:
    """One overview per task, real or synthetic data, and listing: a mean over the official
    benchmarks never averages in another listing of one of them."""
    out = []
    listings = sorted({tuple(sorted(t.listing.items())) for t in tables})
    for task, synthetic, listing in ((task, synthetic, listing) for listing in listings
                                     for task in ("in-domain", "transfer") for synthetic in (False, True)):
        group = [t for t in tables if t.task == task and t.synthetic == synthetic
                 and tuple(sorted(t.listing.items())) == listing and t.primary_metric]
        if not group:
            continue
        columns = [t.eval_split if task == "in-domain" else f"{t.train_split}\u2192{t.eval_split}" for t in group]
        labels: dict[str, list[float | None]] = {}
        for i, table in enumerate(group):
            for row in table.rows:
                name = f"{row.label} ({row.profile})"
                labels.setdefault(name, [None] * len(group))
                if labels[name][i] is None:
                    labels[name][i] = row.value(table.primary_metric)
        rows = []
        for name, values in labels.items():
            complete = all(v is not None for v in values)
            rows.append((name, values, float(np.mean(values)) if complete else None))
        rows.sort(key=lambda r: (r[2] is None, -(r[2] or 0.0), r[0]))
        kind = "synthetic twins" if synthetic else "real data"
        kind += "".join(f", {option}={value}" for option, value in listing)
        out.append(Overview(f"{task.capitalize()}, {kind}: {group[0].primary_metric} per benchmark", columns, rows))
    return out


def build(
    results_dir: str | Path,
    *,
    host: Any,
    published: Published | None = None,
    suites: Sequence[Suite] = (),
    significance: bool = True,
    ranks: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    history: CodeHistory | None = None,
    data_root: Any = None,
) -> Leaderboard:
    """Read every record under ``results_dir`` and build the leaderboard tables.

    ``host``: the plugin host whose metric plugins re-score stored ranks (and whose specs say
    why a suite's method has no row); ``published``: numbers to show beside ours
    (``Published.load(path)``); ``suites``: keep only their cells (:func:`cvgl_bench.run.load_suite`);
    ``ranks``: read the stored ranks (needed for curves and significance); ``significance``:
    paired bootstrap (``n_boot`` resamples, ``seed``) of every row against the best row of its table. ``history``: where to look up whether a
    record is stale (default: the git checkout holding the package, when there is one).
    ``data_root``: where the datasets are, for a metric that needs more of its split than the
    stored ranks hold (``--data-root``; else ``CVGL_DATA_ROOT`` and the config file).
    """
    results_dir = Path(results_dir)
    published = published if published is not None else Published.empty()
    warn: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = list(results.iter_records(results_dir))
    warn.extend(str(w.message) for w in caught)
    if not found and warn:
        more = f" (and {len(warn) - 1} more)" if len(warn) > 1 else ""
        raise DataError(f"no readable result records under {results_dir}: {warn[0]}{more}")
    if not found:
        raise DataError(f"no result records under {results_dir}; run 'cvgl-bench run' first or pass --results")
    failed = [path for path, record in found if record.status != "ok"]
    if failed:
        warn.append(f"{len(failed)} record(s) with status 'error' left out")

    groups: dict[tuple[str, str | None, str, tuple], dict[tuple, Row]] = {}
    n_used = n_foreign = 0
    upgraded: set[Path] = set()
    split_data = SplitData(host, data_root)
    for path, record in found:
        if record.status != "ok":
            continue
        if suites and not _in_suites(record, suites, host):
            n_foreign += 1
            continue
        cell = record.cell
        n_used += 1
        if ranks:
            problem = numbers_not_from_ranks(path, record, host, split_data)
            if problem:
                warn.append(f"{path}: left out: {problem}")
                continue
            try:
                if intervals_over_places(path, record, host):
                    upgraded.add(path)
            except (UserError, ValueError, KeyError, IndexError, TypeError) as exc:
                warn.append(f"{path}: its intervals resample queries, not places, and could not be recomputed "
                            f"from its ranks: {exc}")
        task_key = (cell.task, cell.train_split, cell.eval_split,
                    tuple(listing_of(record.protocol, _split_spec(cell.eval_split, host), host).items()))
        row_key = (cell.method, cell.profile, cell.variant, cell.configuration_id, record.dataset_fingerprint,
                   tuple(sorted(record.protocol.items())))
        row = groups.setdefault(task_key, {}).get(row_key)
        if row is None:
            row = Row(cell.method, cell.profile, cell.configuration_id, record.dataset_fingerprint,
                      dict(record.protocol), [], variant=cell.variant)
            groups[task_key][row_key] = row
        if any(run.seed == cell.seed for run in row.runs):
            warn.append(f"{path}: a second record of {cell.method} seed {cell.seed} on {cell.eval_split} "
                        "with the same configuration; left out")
            continue
        row.runs.append(Run(path, record))
    if n_used == 0:
        raise DataError(f"no record under {results_dir} belongs to the given suite(s)")
    if n_foreign:
        warn.append(f"{n_foreign} record(s) under {results_dir} are not cells of the suite(s) (another method, "
                    "variant, protocol, seed or split); left out")

    from ..data.synth import dataset_version

    history = history if history is not None else CodeHistory()
    tables = [_table(key, list(rows.values()), suites, published, warn, host) for key, rows in groups.items()]
    tables.sort(key=lambda t: (t.task != "in-domain", t.synthetic, t.eval_split, str(t.train_split),
                               sorted(t.listing.items())))
    warn.extend(_suite_benchmarks_without_table(suites, tables, host))
    summaries: dict[Path, RankSummary] = {}
    for table in tables:
        if ranks:
            for row in table.rows:
                for run in row.runs:
                    summaries[run.path] = _rank_summary(run, table.primary_metric if significance else "", host)
                    if run.record.ranks is not None and summaries[run.path].error:
                        warn.append(f"{run.path}: ranks left out: {summaries[run.path].error}")
        if significance:
            _test_against_best(table, summaries, n_boot, seed)
        if ranks:
            table.chance = chance_levels(table)
        n_upgraded = sum(row.runs[0].path in upgraded for row in table.rows if len(row.runs) == 1)
        if n_upgraded:  # shown only where a row shows its record's interval (n=1)
            table.notes.append(f"{n_upgraded} n=1 record(s) were made before intervals resampled places; their "
                               "intervals were recomputed over places from their stored ranks.")
        stale = table_staleness(((f"{method_label(row.method, row.variant)} seed {run.seed}", run.record)
                                 for row in table.rows for run in row.runs), history, dataset_version)
        table.stale = bool(stale)
        table.notes.extend(stale.notes())
    n_stale = sum(t.stale for t in tables)
    if n_stale:
        warn.append(f"stale: {n_stale} of {len(tables)} table(s) hold records made by older code or an older "
                    "synthetic generator than this checkout's; each table's notes say which")
    board = Leaderboard(results_dir, tables, _overviews(tables), published, n_used, warn, summaries, n_boot, host)
    if suites:
        board.title = " + ".join(dict.fromkeys(suite.name for suite in suites))
        board.description = "\n\n".join(dict.fromkeys(s.description.strip() for s in suites if s.description.strip()))
    return board


def _table(key: tuple[str, str | None, str, tuple], rows: list[Row], suites: Sequence[Suite], published: Published,
           warn: list[str], host: Any) -> BenchmarkTable:
    """One task's table: rows aggregated over seeds, sorted, labelled, joined with published numbers."""
    task, train_split, eval_split, listing = key
    metrics = _metric_order({m for row in rows for run in row.runs for m in run.record.metrics})
    table = BenchmarkTable(task, train_split, eval_split, rows, metrics, listing=dict(listing))
    first = rows[0].runs[0].record
    table.n_queries, table.n_references = first.n_queries or None, first.n_references or None
    table.synthetic, table.twin = first.split.synthetic, first.split.twin
    primary = first.metrics.get(table.primary_metric)
    table.higher_is_better = primary.higher_is_better if primary is not None else True
    for row in rows:
        row.runs.sort(key=lambda run: run.seed)
        row.implementation = implementation_of(row, host)
        _aggregate_row(row, metrics)
        row.expected_seeds = expected_seeds(suites, row.method, row.profile, task, train_split, eval_split, row.variant)
        if row.missing_seeds:
            missing = ", ".join(map(str, row.missing_seeds))
            table.notes.append(f"{method_label(row.method, row.variant)} ({row.profile}): seed(s) {missing} "
                               f"of the suite have no record; the row averages {len(row.runs)} seed(s)")
    table.notes.extend(_absent_methods(suites, rows, task, train_split, eval_split, host))
    rows.sort(key=table.sort_key)
    _label_rows(table, warn)
    _join_published(table, published, host)
    return table
