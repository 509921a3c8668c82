"""Per-pixel labels of synthetic views: what each pixel shows (sky, facade, roof, tree, car, road...).

The generator knows the material and the object under every pixel. These labels supervise the
pretraining of the ``cpu`` profiles' shared backbone (:mod:`cvgl_bench.data.synth.corpus`), the
synthetic analogue of ImageNet initialisation; the benchmark's own images never carry them
(CVUSA's coarser ``streetview/annotations`` come from :func:`cvgl_bench.data.synth.views.segmentation`).

Classes are indices into :data:`CLASSES`; :data:`UNLABELLED` marks pixels without a class.
"""

from __future__ import annotations

import numpy as np

from . import canvas as cv
from .capture import Capture
from .render import CROWN, SKY, TOP, WALL

CLASSES = ("sky", "facade", "roof", "tree", "trunk", "car", "road", "road_marking", "parking", "sidewalk",
           "driveway", "plaza", "path", "grass", "soil", "water", "pool", "fence", "hedge")
"""Label vocabulary shared by ground, drone and satellite views."""

UNLABELLED = 255

_C = {name: index for index, name in enumerate(CLASSES)}

#: Class of a surface seen from above, by material (``canvas.MATERIAL_NAMES`` order).
MATERIAL_CLASS = np.full(256, UNLABELLED, np.uint8)
for _material, _name in ((cv.GRASS, "grass"), (cv.ASPHALT, "road"), (cv.PARKING, "parking"),
                         (cv.SIDEWALK, "sidewalk"), (cv.DRIVEWAY, "driveway"), (cv.PLAZA, "plaza"),
                         (cv.SOIL, "soil"), (cv.WATER, "water"), (cv.POOL, "pool"), (cv.YELLOW, "road_marking"),
                         (cv.WHITE, "road_marking"), (cv.PATH, "path"), (cv.ROOF, "roof"), (cv.TRUNK, "trunk"),
                         (cv.FENCE, "fence"), (cv.HEDGE, "hedge")):
    MATERIAL_CLASS[_material] = _C[_name]


def hit_classes(cap: Capture, hits) -> np.ndarray:
    """Class of every pixel of a ray-cast view (panorama or drone): uint8, shaped like ``hits.cls``."""
    material = cap.world.canvas.material[hits.row, hits.col]
    kind = cap.kind[hits.row, hits.col]
    out = MATERIAL_CLASS[material]
    wall = hits.cls == WALL
    out = np.where(wall & (kind == cv.BUILDING), _C["facade"], out)
    out = np.where(wall & (kind == cv.STEM), _C["trunk"], out)
    out = np.where(kind == cv.CAR, _C["car"], out)
    out = np.where(wall & (kind == cv.GROUND) & (material != cv.HEDGE), _C["fence"], out)
    out = np.where(hits.cls == CROWN, _C["tree"], out)
    out = np.where(hits.cls == SKY, _C["sky"], out)
    return np.where((hits.cls == TOP) | (hits.cls == WALL) | (hits.cls == CROWN) | (hits.cls == SKY), out,
                    UNLABELLED).astype(np.uint8)


def satellite_classes(cap: Capture, centre: tuple[float, float], extent_m: float, pixels: int) -> np.ndarray:
    """Class of every pixel of a north-up tile (the grid of ``cameras.render_satellite``): uint8."""
    c = cap.world.canvas
    step = extent_m / pixels
    off = (np.arange(pixels) + 0.5) * step - extent_m / 2
    gx, gy = np.meshgrid(off, -off)
    row, col = c.index(centre[0] + gx, centre[1] + gy)
    kind = cap.kind[row, col]
    out = MATERIAL_CLASS[c.material[row, col]]
    out = np.where(kind == cv.BUILDING, _C["roof"], out)
    out = np.where(kind == cv.CAR, _C["car"], out)
    canopy = (cap.tree[row, col] > 0) & (c.canopy_top[row, col] > cap.height[row, col])
    out = np.where(canopy, _C["tree"], out)
    return out.astype(np.uint8)
