"""One table across benchmarks, in the shape CVGL papers print: a row per method, the
benchmarks as column groups of R@1 / R@5 / R@10 / R@1%, the best value of every column in bold.

    cvgl-bench leaderboard --results R --paper-table --format latex   # booktabs
    cvgl-bench leaderboard --results R --paper-table --tables in-domain__synth_cvusa_test,...

Values are the row means over seeds (the leaderboard's aggregation); a method without a row on a
benchmark gets an empty cell, never a number from somewhere else. Ties for the best are all bold.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError
from .document import metric_label
from .formats import latex_escape
from .tables import BenchmarkTable, Leaderboard

PAPER_METRICS = ("recall@1", "recall@5", "recall@10", "recall@1%")


def select_tables(board: Leaderboard, keys: Sequence[str] = ()) -> list[BenchmarkTable]:
    """The tables named by ``keys`` (file keys, as in the leaderboard's file names), in that order;
    every table when empty."""
    if not keys:
        return list(board.tables)
    known = {t.key: t for t in board.tables}
    missing = [k for k in keys if k not in known]
    if missing:
        raise ConfigError(f"--tables: no table {missing[0]!r}; tables: {', '.join(known)}")
    return [known[k] for k in keys]


def paper_rows(tables: Sequence[BenchmarkTable], metrics: Sequence[str] = PAPER_METRICS
               ) -> tuple[list[str], list[list[float | None]]]:
    """Row labels (methods, in the order of their best rank) and their values, column by column
    (table-major, then metric)."""
    labels: list[str] = []
    for table in tables:
        for row in table.rows:
            label = row.label or row.method
            if label not in labels:
                labels.append(label)
    values = []
    for label in labels:
        cells: list[float | None] = []
        for table in tables:
            row = next((r for r in table.rows if (r.label or r.method) == label), None)
            for metric in metrics:
                cells.append(None if row is None else row.value(metric))
        values.append(cells)
    return labels, values


def _best(values: list[list[float | None]]) -> list[float | None]:
    columns = list(zip(*values)) if values else []
    return [max((v for v in col if v is not None), default=None) for col in columns]


def _group_title(table: BenchmarkTable) -> str:
    if table.task == "in-domain":
        return table.benchmark
    return f"{table.train_split} \u2192 {table.benchmark}"


def paper_markdown(tables: Sequence[BenchmarkTable], metrics: Sequence[str] = PAPER_METRICS) -> str:
    """The table in Markdown (a header row naming benchmark and metric; best values in bold)."""
    labels, values = paper_rows(tables, metrics)
    best = _best(values)
    header = ["Method"] + [f"{_group_title(t)} {metric_label(m)}" for t in tables for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for label, cells in zip(labels, values):
        shown = ["" if v is None else (f"**{v:.2f}**" if v == best[i] else f"{v:.2f}") for i, v in enumerate(cells)]
        lines.append("| " + " | ".join([label, *shown]) + " |")
    return "\n".join(lines) + "\n"


def paper_latex(tables: Sequence[BenchmarkTable], metrics: Sequence[str] = PAPER_METRICS) -> str:
    """The table as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), benchmarks as
    ``\\multicolumn`` groups with ``\\cmidrule``s, best values in ``\\textbf``.

    Written by pandas' ``Styler.to_latex`` (column groups, booktabs rules, bold maxima); the
    ``\\cmidrule`` under each group, which Styler has no option for, is added after its group row.
    Labels are escaped here, with the symbols the leaderboard uses (an arrow in transfer titles).
    """
    import pandas as pd

    labels, values = paper_rows(tables, metrics)
    k = len(metrics)
    columns = pd.MultiIndex.from_tuples(
        [(latex_escape(_group_title(t)), latex_escape(metric_label(m))) for t in tables for m in metrics],
        names=["Method", ""])
    frame = pd.DataFrame([[float("nan") if v is None else v for v in row] for row in values],
                         index=[latex_escape(label) for label in labels], columns=columns, dtype=float)
    styler = frame.style.format("{:.2f}", na_rep="").highlight_max(axis=0, props="textbf:--rwrap;")
    lines = styler.to_latex(hrules=True, multicol_align="c", column_format="l" + "r" * k * len(tables)).splitlines()
    groups = next(i for i, line in enumerate(lines) if line.startswith("Method &"))
    lines.insert(groups + 1, "".join(f"\\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(tables))))
    return "\n".join(lines) + "\n"
