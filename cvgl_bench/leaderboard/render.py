"""Write a leaderboard to a folder: one file per benchmark table plus an index, and PNG plots.

``render(board, out, "md")`` writes ``index.md`` and ``<table key>.md`` per table, and
``plots/<table key>.recall_at_k.png`` (line plots as PNG) and ``.examples.jpg`` / ``.<method>.maps.jpg``
(photographs as JPEG, a tenth of the size); the HTML format embeds the same images in
self-contained pages; CSV writes ``<key>.csv`` (numbers), ``<key>.published.csv``
(published numbers beside ours) and ``index.csv`` (overview). Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fsutil import atomic_open
from .document import Document, Figure, Text, index_document, table_document
from .formats import (EXTENSIONS, LATEX_PREAMBLE, overview_frame, published_frame, stdout_frame, table_frame,
                      to_html, to_latex, to_markdown)
from ..evaluate.curves import recall_curve
from ..evaluate.metrics import top_one_percent
from .tables import BenchmarkTable, Leaderboard

FORMATS = tuple(EXTENSIONS)


def _check_format(fmt: str) -> None:
    if fmt not in EXTENSIONS:
        raise ConfigError(f"unknown leaderboard format {fmt!r}; use one of {', '.join(EXTENSIONS)}")


CURVE_K_MAX = 100
"""Recall@K curves run to K=100 (or the R@1% K, when larger), as the papers' curves do."""


def recall_curves(board: Leaderboard, table: BenchmarkTable) -> tuple[dict[str, np.ndarray], int]:
    """Recall@K curves of every row with stored ranks, one row per seed (``(seeds, K)``), and the R@1% K."""
    n_refs = max((board.summaries[run.path].n_references for row in table.rows for run in row.runs
                  if run.path in board.summaries and board.summaries[run.path].best_rank is not None), default=0)
    if not n_refs:
        return {}, 0
    protocol = table.rows[0].protocol
    k_1pct = top_one_percent(n_refs, protocol.get("r1pct", "floor"))
    k_max = min(n_refs, max(k_1pct, CURVE_K_MAX))
    curves = {}
    for row in table.rows:
        per_seed = []
        for run in row.runs:
            summary = board.summaries.get(run.path)
            if summary is None or summary.best_rank is None:
                continue
            per_seed.append(recall_curve(summary.best_rank, k_max))
        if per_seed:
            curves[f"{row.label} ({row.profile}, n={len(per_seed)})"] = np.stack(per_seed)
    return curves, k_1pct


def table_figures(board: Leaderboard, table: BenchmarkTable, *, examples: bool = True, host: Any = None,
                  data_root: Any = None, runs_dir: Any = None, also: Sequence[str] = ()) -> list[Figure | Text]:
    """The plots of one table (recall@K curves; retrieval examples when the data is here; spatial
    maps of the models whose checkpoints are under ``runs_dir``), each also in the formats ``also``.

    ``host`` (default: the board's) loads the split's images and the models' checkpoints."""
    from .plots import plot_recall_curves, plot_retrieval_examples

    host = host if host is not None else board.host
    blocks: list[Figure | Text] = []
    curves, k_1pct = recall_curves(board, table)
    if curves:
        png = plot_recall_curves(curves, title=f"Recall@K on {table.title}", k_marker=k_1pct, also=also)
        blocks.append(Figure(f"{table.key}.recall_at_k.png", png,
                             f"Recall@K on {table.title}: best positive's rank per query, mean over seeds "
                             "(shaded: lowest to highest seed)."))
    else:
        blocks.append(Text("No recall@K curves: no record of this table stores its ranks."))
    if examples:
        from .examples import retrieval_examples

        found, caption = retrieval_examples(table, board.summaries, host=host, data_root=data_root)
        if found:
            png = plot_retrieval_examples(found, title=f"Retrieval examples on {table.title}", also=also)
            blocks.append(Figure(f"{table.key}.examples.jpg", png, caption))
        else:
            blocks.append(Text(caption if caption.startswith("retrieval examples skipped")
                               else f"retrieval examples skipped: {caption}"))
        if table.task == "in-domain":
            from .maps import map_figures

            blocks.extend(map_figures(table, host=host, data_root=data_root, runs_dir=runs_dir, also=also))
    return blocks


def _write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def _write_csv(path: Path, frame: Any) -> None:
    with atomic_open(path, "w") as handle:
        frame.to_csv(handle, index=False)


def documents(board: Leaderboard, *, plots: bool = True, examples: bool = True, host: Any = None,
              data_root: Any = None, runs_dir: Any = None, also: Sequence[str] = ()) -> list[Document]:
    """The index and one document per table (figures rendered when ``plots``, also in ``also``)."""
    docs = [index_document(board)]
    for table in board.tables:
        figures = (table_figures(board, table, examples=examples, host=host, data_root=data_root, runs_dir=runs_dir,
                                 also=also) if plots else [])
        docs.append(table_document(board, table, figures))
    return docs


def render(board: Leaderboard, out_dir: str | Path, fmt: str = "md", *, plots: bool = True, examples: bool = True,
           host: Any = None, data_root: Any = None, runs_dir: Any = None,
           figure_formats: Sequence[str] = ()) -> list[Path]:
    """Write the leaderboard in ``fmt`` (md, csv, latex, html) under ``out_dir``; returns the files written.

    ``figure_formats`` (``svg``, ``pdf``) writes every figure in those formats too, beside its PNG or JPEG."""
    _check_format(fmt)
    out_dir = Path(out_dir)
    written: list[Path] = []
    if fmt == "csv":
        for table in board.tables:
            for suffix, frame in (("csv", table_frame(table)), ("published.csv", published_frame(table))):
                if suffix == "published.csv" and frame.empty:
                    continue
                path = out_dir / f"{table.key}.{suffix}"
                _write_csv(path, frame)
                written.append(path)
        path = out_dir / "index.csv"
        _write_csv(path, overview_frame(board))
        written.append(path)
        if plots:
            for table in board.tables:
                written += _write_figures(out_dir, table_figures(board, table, examples=examples, host=host,
                                                                 data_root=data_root, runs_dir=runs_dir,
                                                                 also=figure_formats))
        return written
    ext = EXTENSIONS[fmt]
    index, *pages = documents(board, plots=plots, examples=examples, host=host, data_root=data_root,
                              runs_dir=runs_dir, also=figure_formats)
    for doc in [*pages, index]:  # the index last: a write that fails leaves no index linking missing pages
        if fmt == "md":
            text = to_markdown(doc)
        elif fmt == "html":
            text = to_html(doc)
        else:
            text = to_latex(doc)
            if doc.key == "index":
                text = LATEX_PREAMBLE + text + "\\end{document}\n"
        path = out_dir / f"{doc.key}.{ext}"
        _write_text(path, text)
        written.append(path)
        if fmt != "html":
            written += _write_figures(out_dir, doc.blocks)
        elif figure_formats:  # the page inlines its figures; the other formats are files beside it
            written += _write_figures(out_dir, doc.blocks, main=False)
    return written


def _write_figures(out_dir: Path, blocks: list, main: bool = True) -> list[Path]:
    from ..fsutil import write_bytes

    paths = []
    for block in blocks:
        if isinstance(block, Figure):
            if main:
                path = out_dir / "plots" / block.name
                write_bytes(path, block.png)
                paths.append(path)
            for fmt, payload in block.other_formats.items():
                path = out_dir / "plots" / block.file_name(fmt)
                write_bytes(path, payload)
                paths.append(path)
    return paths


def render_text(board: Leaderboard, fmt: str = "md") -> str:
    """The whole leaderboard as one text (no plots), for printing: markdown, CSV or LaTeX."""
    _check_format(fmt)
    if fmt == "html":
        raise ConfigError("--format html writes self-contained pages with plots; give --out DIR")
    if fmt == "csv":
        return stdout_frame(board).to_csv(index=False)
    docs = documents(board, plots=False, examples=False)
    if fmt == "md":
        return "\n".join(to_markdown(doc, images=False) for doc in docs)
    return "\n".join(to_latex(doc) for doc in docs)

