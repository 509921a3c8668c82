"""A contact sheet: satellite, street-level panorama and drone views of the same places.

One row per place, several town styles; every view comes from its own capture (sun, season,
cars), as in the generated datasets, so the sheet shows both realism and the view gap.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ...fsutil import write_bytes
from .capture import build_capture
from .places import ground_z, street_places
from .rng import stream, sub_seed
from .styles import get_style
from .views import drone, panorama, satellite
from .world import build_world

ROWS = (("suburb", 2), ("downtown", 2), ("campus", 1))


def contact_sheet(seed: int = 0, row_px: int = 160, rows=ROWS, world_m: float = 560.0) -> Image.Image:
    """The sheet as a PIL image (rows of: satellite | panorama | two drone views)."""
    gap = 6
    pano_w = row_px * 4
    width = row_px + pano_w + 2 * row_px + 4 * gap
    header = 22
    tiles: list[tuple[str, list[np.ndarray]]] = []
    for style_name, n in rows:
        style = get_style(style_name)
        world = build_world(style, sub_seed(seed, "preview", style_name), world_m)
        rng = stream(seed, "preview", style_name, "places")
        places = street_places(world, rng, n, min(130.0, world_m * 0.25), spacing=80.0)
        sat = build_capture(world, sub_seed(seed, "preview", style_name, "sat"), "satellite", "satellite")
        grd = build_capture(world, sub_seed(seed, "preview", style_name, "ground"), "ground", "ground",
                            exclude=places[:, :2])
        drn = build_capture(world, sub_seed(seed, "preview", style_name, "drone"), "drone", "drone")
        for k, (x, y, heading) in enumerate(places):
            r = stream(seed, "preview", style_name, k)
            z = ground_z(world, x, y)
            cam = np.array([x, y, z + 2.4])
            pano, _ = panorama(grd, cam, (row_px, pano_w), False, 0.0, r, grd.seed)
            tile = satellite(sat, (x + r.normal(0, 2), y + r.normal(0, 2)), 120.0, row_px, r)
            views = []
            for h in (r.uniform(0, 2 * np.pi), None):
                h = h if h is not None else views_heading + np.pi * 0.8
                views_heading = h
                dist, pitch = 130.0, math.radians(r.uniform(35, 50))
                aim = np.array([x, y, z + 3.0])
                eye = aim + dist * np.array([-math.sin(h) * math.cos(pitch), -math.cos(h) * math.cos(pitch),
                                             math.sin(pitch)])
                views.append(drone(drn, eye, aim, row_px, math.radians(55), r, drn.seed))
            tiles.append((style_name, [tile, pano] + views))
    height = header + len(tiles) * (row_px + gap)
    sheet = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    xs = [gap, gap + row_px + gap, 2 * gap + row_px + pano_w + gap, 3 * gap + 2 * row_px + pano_w + gap]
    for x, text in zip(xs, ("satellite (north up)", "street-level panorama (north at the centre)", "drone",
                            "drone")):
        draw.text((x, 5), text, fill=(20, 20, 20))
    for n, (style_name, images) in enumerate(tiles):
        top = header + n * (row_px + gap)
        for x, img in zip(xs, images):
            sheet.paste(Image.fromarray(img), (x, top))
        draw.text((xs[0] + 3, top + 3), style_name, fill=(255, 255, 255))
    return sheet


def write_contact_sheet(path: str | os.PathLike, seed: int = 0, max_bytes: int = 1_000_000, **kwargs) -> Path:
    """Write the sheet as a PNG (quantised to a palette if needed to stay under ``max_bytes``);
    ``kwargs`` go to :func:`contact_sheet`."""
    import io

    path = Path(path)
    sheet = contact_sheet(seed, **kwargs)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    if buf.tell() > max_bytes:
        buf = io.BytesIO()
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG) \
            .save(buf, format="PNG", optimize=True)
    write_bytes(path, buf.getvalue())
    return path
