"""Spatial maps of a table's methods over their input images (CLNet's NCM maps, attention...).

A model may offer maps over the input that say where it looks or how it aligns the views
(:meth:`cvgl_bench.method.CVGLModel.spatial_maps`; none by default). The core knows no method
by name: any model that returns maps gets a figure, drawn from its checkpoint on a few images of
the table's evaluation split. Without the checkpoint or the data here, the figure is skipped
with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.images import as_rgb
from ..errors import UserError
from ..fsutil import open_regular
from ..method import CVGLModel
from ..results import MAX_FILE_NAME, checkpoint_file, file_part, fit_name
from .examples import _eval_data
from .document import Figure, Text
from .plots import plot_attention_overlays
from .tables import BenchmarkTable, Row

def _resized(path: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with open_regular(path) as handle, Image.open(handle) as image:
        return np.asarray(as_rgb(image).resize((size[1], size[0]), Image.BILINEAR))


def _model_of(row: Row, host: Any, runs_dir: Any = "runs") -> tuple[Any, Any, dict[str, Any]] | None:
    """The row's method, model (from its first run's checkpoint, found under ``runs_dir``) and
    hparams; None when the record names no checkpoint."""
    run = row.runs[0]
    checkpoint = checkpoint_file(run.record, runs_dir)
    if checkpoint is None:
        return None
    if not checkpoint.is_file():
        raise UserError(f"checkpoint {checkpoint} of {row.label} is not here")
    method = host.methods.get(row.method).load()
    hparams = dict(run.record.cell.hparams)
    return method, method.load_model(hparams, checkpoint), hparams


def map_figures(table: BenchmarkTable, *, host: Any, data_root: Any = None, runs_dir: Any = None,
                n_images: int = 2, also: Sequence[str] = ()) -> list[Any]:
    """One figure per row whose model returns spatial maps (each also in the formats ``also``);
    texts saying why others were skipped.

    Checkpoints are looked up under ``runs_dir`` (default ``runs``, as ``cvgl-bench run`` writes them)."""
    if not any(row.runs[0].record.checkpoint is not None for row in table.rows if row.runs):
        return []  # no model to ask: skip importing torch, which costs more than the whole table
    import torch

    runs_dir = "runs" if runs_dir is None else runs_dir
    blocks: list[Any] = []
    data = None
    missing = []
    for row in table.rows:
        try:
            loaded = _model_of(row, host, runs_dir)
        except UserError:
            missing.append(row.label)
            continue
        if loaded is None:
            continue
        method, model, hparams = loaded
        if type(model).spatial_maps is CVGLModel.spatial_maps:
            continue  # the model keeps the default: it draws no maps
        try:
            data = data if data is not None else _eval_data(table, row.protocol, host, data_root)
        except UserError as exc:
            blocks.append(Text(f"spatial maps skipped: {exc}"))
            return blocks
        cells: dict[str, dict[tuple[int, int], tuple[np.ndarray, np.ndarray, str]]] = {}
        views = tuple(hparams["views"])
        for v, (view, images) in enumerate(zip(views, (data.queries, data.references))):
            size = tuple(int(x) for x in hparams["image_size"][view])
            chosen = np.linspace(0, len(images) - 1, n_images).astype(int)
            pixels = np.stack([_resized(images.paths[int(i)], size) for i in chosen])
            batch = method.eval_transform(hparams, view)(torch.from_numpy(pixels))
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # a committed plot must not change with the machine's thread count
            try:
                with torch.inference_mode():
                    maps = model.spatial_maps(batch, view)
            finally:
                torch.set_num_threads(threads)
            for name, values in maps.items():
                for k, i in enumerate(chosen):
                    cells.setdefault(name, {})[(k, v)] = (pixels[k], np.asarray(values[k].float().cpu()),
                                                          f"{view} {images.ids[int(i)]}: {name}")
        # one row per map, one column per (image, view) among the views that have maps (a polar-
        # transformed reference may have none): panoramas and tiles keep their own widths
        mapped = sorted({v for by_cell in cells.values() for _, v in by_cell})
        order = [(k, v) for k in range(n_images) for v in mapped]
        pairs: list[Any] = []
        titles: list[str] = []
        for name in cells:
            for key in order:
                found = cells[name].get(key)
                pairs.append(None if found is None else found[:2])
                titles.append("" if found is None else found[2])
        if any(pair is not None for pair in pairs):
            # the method and variant come from records: a '/' or a leading dot must not leave plots/
            name = ".".join(file_part(part.replace("=", "-")) for part in (row.method, row.variant) if part)
            key = f"{fit_name(f'{table.key}.{name}', MAX_FILE_NAME - len('.maps.jpg'))}.maps.jpg"
            png = plot_attention_overlays(pairs, titles=titles, columns=len(order), also=also,
                                          suptitle=f"{row.label}, seed {row.runs[0].seed}: spatial maps over the input "
                                                   f"({table.title})")
            over = " and ".join(f"{n_images} {('query', 'reference')[v]}" for v in mapped)
            blocks.append(Figure(key, png,
                                 f"{row.label}, seed {row.runs[0].seed}: its model's spatial maps over "
                                 f"{over} images of {table.eval_split}"
                                 + ("" if len(mapped) == len(views) else " (it has none of the other view)")))
    if missing:
        blocks.append(Text(f"spatial maps (of models that offer them) skipped for {', '.join(missing)}: "
                           f"their checkpoints are not under {runs_dir} on this machine (--runs)"))
    return blocks
