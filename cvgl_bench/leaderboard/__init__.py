"""Leaderboards from result records: tables (markdown, CSV, LaTeX, HTML) and plots.

Typical use::

    from cvgl_bench import leaderboard
    from cvgl_bench.plugins import get_host
    board = leaderboard.build("results", host=get_host(),
                              published=leaderboard.Published.load("leaderboards/published.yaml"))
    leaderboard.render(board, "site", "html")
    print(leaderboard.render_text(board, "md"))

A pure reader: every number comes from a record or from :mod:`cvgl_bench.evaluate`; suites
are parsed by :func:`cvgl_bench.run.load_suite` and handed in.

Rules (see :mod:`.tables`): in-domain and transfer tasks are separate tables; a row is one
method configuration over its seeds (mean and 95% interval); rows are never averaged over
incomplete data; published numbers are shown beside ours with their confidence, never ranked;
each row is tested against the best row by a paired bootstrap over places (queries sharing
a positive reference resampled together).
"""

from .plots import plot_attention_overlays, plot_recall_curves, plot_retrieval_examples
from .published import Published, PublishedEntry, default_path
from .render import FORMATS, documents, render, render_text
from .tables import EFFICIENCY_KEYS, PRIMARY_METRIC, BenchmarkTable, Leaderboard, MetricStat, Row, build

__all__ = [
    "EFFICIENCY_KEYS", "FORMATS", "PRIMARY_METRIC", "BenchmarkTable", "Leaderboard", "MetricStat", "Published",
    "PublishedEntry", "Row", "build", "default_path", "documents", "plot_attention_overlays", "plot_recall_curves",
    "plot_retrieval_examples", "render", "render_text",
]
