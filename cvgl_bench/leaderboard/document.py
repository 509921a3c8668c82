"""Leaderboard content as format-neutral documents: headings, text, tables of strings, figures.

Every renderer (markdown, LaTeX, HTML) draws the same documents, so the formats cannot drift
apart in what they say; they differ only in markup and escaping. Strings from records and
plugins (method names, splits, sources) stay raw here and are escaped by each renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .published import UNVERIFIED_MARK, PublishedEntry, format_number
from .tables import (EFFICIENCY_KEYS, IMPLEMENTATIONS, REPRODUCTION_PROFILE, BenchmarkTable, Leaderboard, MetricStat,
                     Row, device_of)

METRIC_LABELS = {"recall@1": "R@1", "recall@5": "R@5", "recall@10": "R@10", "recall@1%": "R@1%",
                 "hit_rate": "Hit", "ap": "AP"}
PROTOCOL_MARK = "\u2021"  # double dagger
N1_MARK = "*"
DASH = "\u2014"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str


@dataclass
class Notes:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    """Per column: right-align (numbers)."""


@dataclass
class Figure:
    name: str
    """File name under ``plots/`` (also the alt text's id); ``.png`` or ``.jpg`` says the format."""
    png: bytes
    """The image file's bytes (PNG for line plots, JPEG for photographs: :data:`name`'s suffix)."""
    caption: str

    @property
    def mime(self) -> str:
        return "image/jpeg" if self.name.lower().endswith((".jpg", ".jpeg")) else "image/png"

    @property
    def other_formats(self) -> dict[str, bytes]:
        """The same figure in other formats (``svg``, ``pdf``), when they were asked for."""
        return dict(getattr(self.png, "other_formats", {}))

    def file_name(self, fmt: str) -> str:
        """The file name of this figure in format ``fmt`` (its name with that suffix)."""
        return self.name.rsplit(".", 1)[0] + "." + fmt


@dataclass
class Links:
    items: list[tuple[str, str]]
    """(text, document key)."""


@dataclass
class Document:
    key: str
    title: str
    blocks: list = field(default_factory=list)


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def format_stat(stat: MetricStat | None) -> str:
    """``98.12 ± 0.10`` (t over seeds), ``98.12 [97.85, 98.39]`` (n=1 bootstrap), ``incomplete``."""
    if stat is None:
        return ""
    if stat.interval == "incomplete":
        return "incomplete"
    if stat.mean is None:
        return ""
    if stat.interval == "t" and stat.hi is not None:
        return f"{stat.mean:.2f} \u00b1 {stat.hi - stat.mean:.2f}"
    if stat.interval == "bootstrap":
        return f"{stat.mean:.2f} [{stat.lo:.2f}, {stat.hi:.2f}]"
    return f"{stat.mean:.2f}"


def _seeds_cell(row: Row) -> str:
    n = len(row.runs)
    if row.expected_seeds is not None and row.missing_seeds:
        return f"{n}/{len(row.expected_seeds)}"
    return f"{n}{N1_MARK}" if n == 1 else str(n)


def _significance_cell(row: Row) -> str:
    sig = row.significance
    status = sig.get("status")
    if status == "best":
        return "best"
    if status == "tested":
        p = sig["p_value"]
        ptext = "p<0.001" if p < 0.001 else f"p={p:.3f}"
        return f"{'yes' if sig['significant'] else 'no'} ({ptext})"
    return "n/a" if not status else f"n/a: {sig.get('note', '')}"


def _efficiency_cells(row: Row) -> dict[str, str]:
    e = row.efficiency
    fmt = {
        "params": lambda v: f"{v / 1e6:.1f}",
        "gflops_query": lambda v: f"{v:.1f}",
        "gflops_reference": lambda v: f"{v:.1f}",
        "embedding_dim": lambda v: f"{int(v)}",
        "queries_per_s": lambda v: f"{v:,.0f}",
    }
    return {k: fmt[k](e[k]) if e.get(k) is not None else "" for k in EFFICIENCY_KEYS}


EFFICIENCY_HEADERS = {"params": "Params (M)", "gflops_query": "GFLOPs query", "gflops_reference": "GFLOPs ref.",
                      "embedding_dim": "Dim", "queries_per_s": "Queries/s"}


def main_table(table: BenchmarkTable) -> tuple[Table, list[str]]:
    """The ranked table of reproduced numbers and its footnotes."""
    primary = table.primary_metric
    show_published = not table.synthetic and any(r.published for r in table.rows)
    eff = [k for k in EFFICIENCY_KEYS if any(r.efficiency.get(k) is not None for r in table.rows)]
    lower = table.lower_is_better()
    headers = ["#", "Method", "Profile", "Code", "Seeds"] + [metric_label(m) + (" \u2193" if m in lower else "")
                                                             for m in table.metrics]
    numeric = [True, False, False, False, True] + [True] * len(table.metrics)
    if show_published:
        headers += [f"Published {metric_label(primary)}", f"\u0394 {metric_label(primary)}"]
        numeric += [True, True]
    headers += ["Sig. vs best"] + [EFFICIENCY_HEADERS[k] for k in eff]
    numeric += [False] + [True] * len(eff)
    rows = []
    rank, previous = 0, None
    for i, row in enumerate(table.rows, 1):
        ranked = row.value(primary) is not None
        if ranked and row.value(primary) != previous:  # rows with the same value share a rank (1, 2, 2, 4)
            rank, previous = i, row.value(primary)
        cells = [str(rank) if ranked else "", row.label, row.profile, row.implementation, _seeds_cell(row)]
        cells += [format_stat(row.stats.get(m)) for m in table.metrics]
        if show_published:
            number = row.published.number(primary) if row.published else None
            delta = row.deltas.get(primary)
            mark = PROTOCOL_MARK if row.protocol_mismatch and delta is not None else ""
            cells += [format_number(number), f"{delta:+.2f}{mark}" if delta is not None else ""]
        cells.append(_significance_cell(row))
        effc = _efficiency_cells(row)
        cells += [effc[k] for k in eff]
        rows.append(cells)
    several = any(len(r.runs) > 1 for r in table.rows)
    notes = ["Cells: percent; " + ("mean \u00b1 half-width of the 95% Student-t interval over seeds" if several
                                   else f"each row is one run ({N1_MARK}), with its 95% bootstrap interval [lo, hi]")
             + "."]
    k_note = _r1pct_note(table)
    if k_note:
        notes.append(k_note)
    notes += [f"Code '{kind}': {IMPLEMENTATIONS[kind]}." for kind in sorted({r.implementation for r in table.rows})
              if kind in IMPLEMENTATIONS]
    if lower:
        notes.append("\u2193: lower is better (" + ", ".join(metric_label(m) for m in table.metrics if m in lower)
                     + "); rows are ranked by " + metric_label(primary)
                     + (", lowest first." if primary in lower else ", highest first."))
    if table.chance:
        notes.append("Chance (a random ranking of this gallery): " + ", ".join(
            f"{metric_label(m)} {v:.2f}" for m, v in table.chance.items()) + ".")
    if any(len(r.runs) == 1 for r in table.rows):
        notes.append(f"{N1_MARK} n=1: [lo, hi] is the 95% bootstrap interval over the places of a single run "
                     f"({_places_text(table)}), not a spread over seeds.")
    if any(s.interval == "incomplete" for r in table.rows for s in r.stats.values()):
        notes.append("incomplete: the metric is missing in some seeds of the row, so it is not averaged.")
    if show_published:
        notes.append(f"Published: the method's headline published number on this task, shown for reference and "
                     f"never ranked; {UNVERIFIED_MARK} = not verified in a primary source; [V]/[S]/[U] = confidence. "
                     f"\u0394 = reproduced mean \u2212 published, only for rows of the '{REPRODUCTION_PROFILE}' "
                     f"profile (the published recipe); other profiles are not reproductions.")
    if any(r.protocol_mismatch and r.deltas for r in table.rows):
        notes.append(f"{PROTOCOL_MARK} our protocol differs from the one the published number was measured under "
                     "(see 'Reproduced vs published').")
    best = table.best
    if best is not None and len(table.rows) > 1:
        notes.append(f"Sig. vs best: paired bootstrap over places of {metric_label(primary)} against the best row "
                     f"({best.label}), per-query scores recomputed from the stored ranks; 'yes' when p < 0.05. It "
                     "holds the trained models fixed, so it does not see seed-to-seed variation, and it is not "
                     "corrected for comparing several rows.")
    devices = sorted({d for r in table.rows for d in r.devices})
    if "queries_per_s" in eff:
        notes.append("Queries/s: the median over the row's seeds, measured on " + "; ".join(devices) + " while "
                     "embedding the queries (a record whose query embeddings came from the embedding cache has "
                     "none); cells that ran side by side (grid --jobs) shared the machine.")
    notes.extend(table.notes)
    return Table(headers, rows, numeric), notes


def _r1pct_note(table: BenchmarkTable) -> str:
    """What k ``recall@1%`` is on this table's gallery (it equals recall@10 on a gallery of about 1,000)."""
    from ..evaluate.metrics import top_one_percent

    rules = {row.protocol.get("r1pct", "floor") for row in table.rows}
    if "recall@1%" not in table.metrics or not table.n_references or len(rules) != 1:
        return ""
    rule = rules.pop()
    k = top_one_percent(table.n_references, rule)
    return f"{metric_label('recall@1%')}: recall@{k} on this gallery of {table.n_references:,} ({rule} rounding)."


def _places_text(table: BenchmarkTable) -> str:
    """How many places the table's queries show, from its records (queries sharing a positive are one)."""
    counts = {(run.record.intervals.places, run.record.n_queries) for row in table.rows for run in row.runs
              if run.record.intervals is not None}
    if len(counts) != 1:
        return "queries sharing a positive reference are resampled together"
    places, queries = counts.pop()
    if places == queries:
        return "one query per place, so these are the queries"
    return f"{queries:,} queries show {places:,} places, resampled with all their queries"


def _protocol_text(row: Row, entry: PublishedEntry) -> str:
    if row.protocol_mismatch:
        return "differs: " + ", ".join(f"{k} ours={ours or 'unset'} vs published={theirs}"
                                       for k, (ours, theirs) in sorted(row.protocol_mismatch.items()))
    if not entry.protocol:
        return "published protocol unknown"
    return "same (" + ", ".join(f"{k}={v}" for k, v in sorted(entry.protocol.items())) + ")"


def comparison_table(table: BenchmarkTable, sources: dict[str, int]) -> Table | None:
    """Reproduced vs published, per method and metric (long format)."""
    rows = []
    for row in table.rows:
        entry = row.published
        if entry is None or not row.deltas:
            continue
        ref = sources.setdefault(entry.source_text, len(sources) + 1)
        for metric in table.metrics:
            number = entry.number(metric)
            if number is None:
                continue
            delta = row.deltas.get(metric)
            rows.append([row.label, metric_label(metric), format_stat(row.stats.get(metric)), format_number(number),
                         f"{delta:+.2f}" if delta is not None else "", _protocol_text(row, entry), f"[{ref}]"])
    if not rows:
        return None
    return Table(["Method", "Metric", "Reproduced", "Published", "\u0394", "Protocol", "Source"], rows,
                 [False, False, True, True, True, False, False])


def published_table(table: BenchmarkTable, sources: dict[str, int]) -> Table | None:
    """Every published entry on this task, alphabetical (a reference, not a ranking)."""
    entries = table.published_entries
    if not entries:
        return None
    metrics = [m for m in METRIC_LABELS if any(m in e.metrics for e in entries)]
    rows = []
    for e in entries:
        ref = sources.setdefault(e.source_text, len(sources) + 1)
        name = e.paper_method if e.method == e.paper_method else f"{e.paper_method} ({e.method})"
        cells = [format_number(n, code=n is not None and n["confidence"] != e.confidence)
                 for n in (e.number(m) for m in metrics)]
        rows.append([name, e.variant or "", *cells, e.confidence,
                     ", ".join(e.flags) + ("" if e.standard_protocol else " non-standard protocol"), f"[{ref}]"])
    return Table(["Method", "Variant", *[metric_label(m) for m in metrics], "Conf.", "Flags", "Source"], rows,
                 [False, False, *[True] * len(metrics), False, False, False])


def _ordered_codes(codes: dict[str, str]) -> list[tuple[str, str]]:
    order = {code: i for i, code in enumerate("VSUMG")}
    return sorted(codes.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))


def table_document(board: Leaderboard, table: BenchmarkTable, figures: list[Figure | Text]) -> Document:
    """The page of one task: ranked table, plots, comparison with published numbers, references."""
    doc = Document(table.key, table.title)
    doc.blocks.append(Heading(table.title, 1))
    facts = []
    if table.n_queries:  # a record made by another tool may not say how many references
        facts.append(f"{table.n_queries:,} queries" + (f", {table.n_references:,} references"
                                                        if table.n_references else ""))
    protocols = {tuple(sorted(r.protocol.items())) for r in table.rows}
    if len(protocols) == 1 and protocols != {()}:
        facts.append("protocol: " + ", ".join(f"{k}={v}" for k, v in next(iter(protocols))))
    elif len(protocols) > 1:
        facts.append("rows were evaluated under different protocols (see row labels)")
    if facts:
        doc.blocks.append(Text("; ".join(facts) + "."))
    main, notes = main_table(table)
    doc.blocks += [main, Notes(notes)]
    doc.blocks += figures
    sources: dict[str, int] = {}
    comparison = comparison_table(table, sources)
    if comparison is not None:
        doc.blocks += [Heading("Reproduced vs published", 2), comparison]
    reference = published_table(table, sources)
    if reference is not None:
        doc.blocks += [Heading(f"Published on {table.eval_split}"
                               + (f" after training on {table.train_split}" if table.task == "transfer" else "")
                               + " (reference only, never ranked; alphabetical)", 2),
                       reference,
                       Notes([f"{UNVERIFIED_MARK} = not verified in a primary source. Confidence (a number's own "
                              "code is shown where it differs from its row's): "
                              + "; ".join(f"{k} = {v}" for k, v in _ordered_codes(board.published.confidence_codes))
                              + ". Protocols of published numbers are known only where the authors' evaluation "
                              "code is (published.yaml: protocol_source)."])]
    if sources:
        doc.blocks += [Heading("Sources", 3), Notes([f"[{n}] {text}" for text, n in sources.items()])]
    doc.blocks += [Heading("Run context", 2), run_context_table(board, table),
                   Notes(["One line per record: when it was finished, the commit of cvgl-bench it was made at, "
                          "where it ran, how long its model trained (0 when a checkpoint was reused or "
                          "imported), its configuration (config hash over the seeds) and its file under the "
                          "results folder, which holds every hparam and the full provenance."])]
    return doc


def run_context_table(board: Leaderboard, table: BenchmarkTable) -> Table:
    """Per record of ``table``: date, commit, device, training time, configuration and file."""
    rows = []
    for row in table.rows:
        for run in row.runs:
            prov = run.record.provenance
            revision = str((prov.get("git") or {}).get("revision") or "")
            dirty = " (modified)" if (prov.get("git") or {}).get("dirty") else ""
            train_s = (prov.get("trained_with") or {}).get("train_s")
            reused = prov.get("train_reused")
            training = f"{float(train_s):,.0f} s" if isinstance(train_s, (int, float)) else ""
            if reused and training:
                training += " (reused)"
            try:
                where = run.path.relative_to(board.results_dir).as_posix()
            except ValueError:
                where = run.path.name
            rows.append([row.label, str(run.seed), str(prov.get("finished_at") or "")[:16].replace("T", " "),
                         (revision[:7] + dirty) if revision else "unknown", device_of(run.record), training,
                         run.record.cell.configuration_id[:12], where])
    return Table(["Method", "Seed", "Finished (UTC)", "Commit", "Device", "Training", "Config", "Record"], rows,
                 [False, True, False, False, False, True, False, False])


def index_document(board: Leaderboard) -> Document:
    """The overview page: per-benchmark primary metric, complete-row means, links to every table."""
    doc = Document("index", board.title)
    doc.blocks.append(Heading(board.title, 1))
    if board.description:
        doc.blocks.append(Text(board.description))
    shown = any(row.published for table in board.tables for row in table.rows)
    published = (f"published numbers from {board.published.path.name}" if shown else
                 f"{board.published.path.name} loaded, but no table here has a published number") \
        if board.published.path else "no published numbers loaded"
    doc.blocks.append(Text(f"{board.n_records} records, {len(board.tables)} benchmark tables; {published}."))
    if board.warnings:
        doc.blocks += [Heading("Warnings", 2), Notes(list(board.warnings))]
    for overview in board.overviews:
        doc.blocks.append(Heading(overview.title, 2))
        rows = [[label, *["" if v is None else f"{v:.2f}" for v in values], DASH if mean is None else f"{mean:.2f}"]
                for label, values, mean in overview.rows]
        doc.blocks.append(Table(["Method (profile)", *overview.columns, "Mean"], rows,
                                [False] + [True] * (len(overview.columns) + 1)))
        notes = ["Each cell is its benchmark table's headline metric, in percent: the mean over seeds where the "
                 "row has several, else its one run; each table gives the seeds and the intervals. Mean: the "
                 "plain mean of the row's cells."]
        if any(mean is None for _, _, mean in overview.rows):
            notes.append(f"{DASH}: the row misses a benchmark, so it has no mean (never averaged over incomplete "
                         "rows) and sorts last. An empty cell has no record; the benchmark's own table says why "
                         "when a suite asked for it.")
        doc.blocks.append(Notes(notes))
    for task in ("in-domain", "transfer"):
        links = [(t.title, t.key) for t in board.tables if t.task == task]
        if links:
            doc.blocks += [Heading(f"{task.capitalize()} tables", 2), Links(links)]
    return doc
