"""Hand-built worlds for testing the synthetic renderer's geometry."""

from __future__ import annotations

import numpy as np

from cvgl_bench.data.synth import canvas as cv
from cvgl_bench.data.synth.roads import Network
from cvgl_bench.data.synth.styles import SUBURB
from cvgl_bench.data.synth.world import World


def flat_world(size_m: float = 200.0, boxes=(), trees=()) -> World:
    """A flat grey world with red-roofed boxes ``(cx, cy, hx, hy, height)`` and trees ``(x, y, r)``."""
    c = cv.Canvas(size_m, 0.5)
    c.albedo[:] = 0.4
    c.material[:] = cv.PLAZA
    for k, (cx, cy, hx, hy, h) in enumerate(boxes):
        c.add_part(cx=cx, cy=cy, hx=hx, hy=hy, theta=0.0, base=0.0, eave=h, top=h, roof=cv.ROOF_FLAT, facade=0,
                   roof_mat=0, floor_h=3.0, win_spacing=3.0, win_w=0.5, win_h=0.5, shop=0.0, building=k + 1,
                   fr=0.6, fg=0.6, fb=0.6, rr=0.95, rg=0.05, rb=0.05, windows=0.0)
    for (x, y, r) in trees:
        c.add_tree(x, y, r, 2 * r, 3.0, 0, False, 1.0, np.zeros(4))
    empty = {k: np.zeros(0) for k in ("x", "y", "tx", "ty", "hw", "road")}
    net = Network([], np.zeros((0, 3)), 0.0, np.zeros(0), np.zeros(0), np.zeros(2))
    return World(SUBURB, 0, c, net, np.full(c.shape, 1e3, np.float32), np.zeros(c.shape, np.float32), empty,
                 c.parts_array(), c.trees_array(), np.zeros((0, 3)), np.zeros((0, 3)), 0)
