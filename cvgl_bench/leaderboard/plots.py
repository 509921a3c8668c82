"""Plots of a leaderboard: recall@K curves, retrieval examples, attention overlays.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot
state), so plotting works headless and never touches a global backend. Every function returns
the PNG (line plots) or JPEG (photographs) bytes and writes them atomically to ``path`` when one
is given. ``also=("svg", "pdf")`` renders the same figure in those formats too, for papers: they
come back in the result's ``other_formats``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fsutil import write_bytes

ROLE_COLOURS = {"positive": "#1a9850", "semi_positive": "#fdae61", "junk": "#969696", "negative": "#d73027"}
"""Frame colour of a retrieved reference by its role for the query."""


def _figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


JPEG_QUALITY = 85
"""Quality of the photographic figures (retrieval examples, spatial maps): a tenth of their PNG size."""


VECTOR_FORMATS = ("svg", "pdf")
"""Formats a figure can also be written in (``cvgl-bench leaderboard --figure-format``)."""


class FigureBytes(bytes):
    """A figure's file bytes, with the same figure in other formats (``{"svg": ..., "pdf": ...}``)."""

    other_formats: dict[str, bytes]


def figure_png(fig: Any, path: str | Path | None = None, dpi: int = 100, fmt: str = "png",
               also: Sequence[str] = ()) -> FigureBytes:
    """Render a figure to PNG (or, ``fmt="jpeg"``, JPEG) bytes (and to ``path``, atomically);
    each format of ``also`` (``svg``, ``pdf``) is rendered too, into ``other_formats``."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": JPEG_QUALITY, "optimize": True})
    else:
        fig.savefig(buffer, format="png", dpi=dpi)
    payload = FigureBytes(buffer.getvalue())
    payload.other_formats = {}
    for other in also:
        if other not in VECTOR_FORMATS:
            raise ValueError(f"figure format must be one of {', '.join(VECTOR_FORMATS)}, not {other!r}")
        import matplotlib

        buffer = io.BytesIO()
        # no creation date and fixed SVG ids: the same figure gives the same bytes
        metadata = {"Date": None} if other == "svg" else {"CreationDate": None}
        with matplotlib.rc_context({"svg.hashsalt": "cvgl-bench"}):
            fig.savefig(buffer, format=other, dpi=dpi, metadata=metadata)
        payload.other_formats[other] = buffer.getvalue()
    if path is not None:
        write_bytes(path, payload)
    return payload


def plot_recall_curves(curves: Mapping[str, np.ndarray], *, title: str, k_marker: int | None = None,
                       path: str | Path | None = None, also: Sequence[str] = ()) -> FigureBytes:
    """Recall@K (%) against K (log scale), one curve per method; ``k_marker`` draws the R@1% K.

    A curve is ``(K,)``, or ``(seeds, K)``: the mean is drawn, with the band from the lowest to
    the highest seed shaded when there are several."""
    fig = _figure(9.0, 4.2, layout=None)
    fig.subplots_adjust(left=0.07, right=0.68, bottom=0.12, top=0.92)
    ax = fig.add_subplot()
    curves = {label: np.atleast_2d(np.asarray(curve, dtype=np.float64)) for label, curve in curves.items()}
    for label, runs in curves.items():
        ks = np.arange(1, runs.shape[1] + 1)
        (line,) = ax.plot(ks, runs.mean(axis=0), label=label, linewidth=1.6)
        if len(runs) > 1:
            ax.fill_between(ks, runs.min(axis=0), runs.max(axis=0), color=line.get_color(), alpha=0.25, linewidth=0)
    if k_marker:
        ax.axvline(k_marker, color="0.45", linestyle=":", linewidth=1.2, label=f"R@1% threshold (K={k_marker})")
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    k_max = max((c.shape[1] for c in curves.values()), default=10)
    ax.set_xscale("log")
    # explicit 1-2-5 ticks with plain labels: the log axis' default minor ticks and mathtext
    # labels cost more than the rest of the figure together
    ticks = [m * 10 ** e for e in range(7) for m in (1, 2, 5) if m * 10 ** e <= k_max]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.set_xlabel("K (top-K references)")
    ax.set_ylabel("Recall@K (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    highest = max((float(np.max(c)) for c in curves.values() if c.size), default=100.0)
    ax.set_ylim(bottom=0.0, top=min(100.5, max(10.0, 1.15 * highest)))  # low curves stay readable
    if curves:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return figure_png(fig, path, also=also)


@dataclass
class Example:
    """One retrieval example: a query, its top references (with roles) and the true match."""

    query: np.ndarray
    query_caption: str
    retrieved: list[tuple[np.ndarray, str, str]]
    """(image, role, caption) for each of the top references."""
    truth: tuple[np.ndarray, str] | None = None
    """(image, caption) of the best positive when it is not among ``retrieved``."""


def abbreviate(text: str, limit: int) -> str:
    """``text`` cut in its middle to at most ``limit`` characters (ids keep their start and end)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}\u2026{text[len(text) - (limit - 1 - head):]}"


def _framed(ax: Any, image: np.ndarray, colour: str | None, caption: str, width: float = 4.0,
            chars: int = 22) -> None:
    caption = "\n".join(abbreviate(line, chars) for line in caption.split("\n"))
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(colour is not None)
        if colour is not None:
            spine.set_edgecolor(colour)
            spine.set_linewidth(width)
    ax.set_title(caption, fontsize=7)


def plot_retrieval_examples(examples: Sequence[Example], *, title: str, path: str | Path | None = None,
                            also: Sequence[str] = ()) -> FigureBytes:
    """A grid: per example the query, its top-K references framed by role, and the true match."""
    n_refs = max((len(e.retrieved) for e in examples), default=5)
    columns = n_refs + 2
    fig = _figure(2.0 * columns + 2.5, 2.4 * max(len(examples), 1) + 0.5)
    grid = fig.add_gridspec(max(len(examples), 1), columns, width_ratios=[3] + [1] * (columns - 1))
    for r, example in enumerate(examples):
        _framed(fig.add_subplot(grid[r, 0]), example.query, None, example.query_caption, chars=60)
        for c, (image, role, caption) in enumerate(example.retrieved):
            _framed(fig.add_subplot(grid[r, 1 + c]), image, ROLE_COLOURS.get(role, "#d73027"), caption)
        ax = fig.add_subplot(grid[r, columns - 1])
        if example.truth is not None:
            _framed(ax, example.truth[0], ROLE_COLOURS["positive"], example.truth[1])
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, "true match\nis in the top-%d" % len(example.retrieved), ha="center", va="center",
                    fontsize=8, transform=ax.transAxes)
    fig.suptitle(title + "  (green frame: true match; red: wrong; orange: semi-positive; grey: junk)",
                 fontsize=9)
    return figure_png(fig, path, fmt="jpeg", also=also)


def _normalised(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    lo, hi = values[finite].min(), values[finite].max()
    out = np.zeros_like(values) if hi <= lo else (values - lo) / (hi - lo)
    return np.where(finite, out, 0.0)


def _resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    if values.shape == (height, width):
        return values
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))


def plot_attention_overlays(pairs: Sequence[tuple[np.ndarray, np.ndarray] | None], *,
                            titles: Sequence[str] | None = None, path: str | Path | None = None, alpha: float = 0.55,
                            cmap: str = "viridis", columns: int | None = None, suptitle: str = "",
                            also: Sequence[str] = ()) -> FigureBytes:
    """Overlay per-pixel maps (attention, CLNet's NCM...) on their images, in a grid filled row by row.

    ``pairs``: (image uint8 HxWx3, map hxw float) per panel, or None for a cell left blank (a map
    one view has and the other has not); each map is min-max normalised and resized (bilinear) to
    its image, then drawn over it with ``alpha`` in a perceptually uniform colormap (``cmap``)
    with one colour bar for the figure. Each column is as wide as its widest image, so panoramas
    and square tiles share a figure without empty space.
    """
    if not any(pair is not None for pair in pairs):
        raise ValueError("plot_attention_overlays needs at least one (image, map) pair")
    panels: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i, pair in enumerate(pairs):
        if pair is None:
            panels.append(None)
            continue
        image, values = np.asarray(pair[0]), np.asarray(pair[1], dtype=np.float64)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"panel {i}: image must be HxWx3, got shape {image.shape}")
        if values.ndim != 2:
            raise ValueError(f"panel {i}: map must be 2-D, got shape {values.shape}")
        panels.append((image, values))
    columns = columns or min(len(panels), 3)
    rows = (len(panels) + columns - 1) // columns
    ratios = [max((p[0].shape[1] / max(p[0].shape[0], 1) for p in panels[c::columns] if p is not None), default=1.0)
              for c in range(columns)]
    fig = _figure(2.6 * sum(ratios) + 1.0, 2.7 * rows + (0.4 if suptitle else 0.0))
    grid = fig.add_gridspec(rows, columns, width_ratios=ratios)
    axes, heat = [], None
    for i, panel in enumerate(panels):
        if panel is None:
            continue
        image, values = panel
        ax = fig.add_subplot(grid[i // columns, i % columns])
        ax.imshow(image)
        heat = ax.imshow(_resize_map(_normalised(values), image.shape[0], image.shape[1]), cmap=cmap, alpha=alpha,
                         vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=9)
        axes.append(ax)
    bar = fig.colorbar(heat, ax=axes, fraction=0.02, pad=0.01, aspect=40)
    bar.set_label("map value, min-max scaled per panel", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return figure_png(fig, path, fmt="jpeg", also=also)
