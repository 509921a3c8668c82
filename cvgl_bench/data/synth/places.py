"""Where cameras stand: street-view positions on the roads, spread apart, away from the edge."""

from __future__ import annotations

import numpy as np

from . import canvas as cv
from .world import World


def street_places(world: World, rng: np.random.Generator, count: int, margin: float,
                  spacing: float = 20.0, min_spacing: float = 5.0, exact: bool = True) -> np.ndarray:
    """``count`` camera positions on streets: array (count, 3) of x, y, heading (deg from north).

    Candidates are street centre-line samples inside the interior (``margin`` metres from the
    edge), moved sideways within the carriageway; they are accepted greedily in random order
    if no accepted place is within ``spacing`` metres, and the spacing is relaxed (down to
    ``min_spacing``) until ``count`` places are found. Raises ``RuntimeError`` if the world is
    too small for ``count`` places. With ``exact=False`` the spacing is kept and up to
    ``count`` places are returned.
    """
    s = world.samples
    size = world.size_m
    inside = (s["x"] > margin) & (s["x"] < size - margin) & (s["y"] > margin) & (s["y"] < size - margin)
    idx = np.flatnonzero(inside)
    if len(idx) == 0:
        raise RuntimeError("no street inside the world's interior")
    order = idx[rng.permutation(len(idx))]
    lateral = rng.uniform(-1, 1, len(order))
    c = world.canvas
    chosen: list[tuple[float, float, float]] = []
    gap = spacing
    while True:
        chosen.clear()
        cell = gap
        grid: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for k, i in enumerate(order):
            hw = s["hw"][i]
            off = lateral[k] * max(hw - 1.6, 0.0)
            x = s["x"][i] - s["ty"][i] * off
            y = s["y"][i] + s["tx"][i] * off
            r, col = c.index(np.array([x]), np.array([y]))
            if c.kind[r[0], col[0]] != cv.GROUND or c.material[r[0], col[0]] in (cv.WATER, cv.POOL):
                continue
            gx, gy = int(x // cell), int(y // cell)
            near = False
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for (px, py) in grid.get((gx + dx, gy + dy), ()):
                        if (px - x) ** 2 + (py - y) ** 2 < gap * gap:
                            near = True
                            break
                    if near:
                        break
                if near:
                    break
            if near:
                continue
            grid.setdefault((gx, gy), []).append((x, y))
            heading = float(np.degrees(np.arctan2(s["tx"][i], s["ty"][i])) % 360.0)
            if rng.random() < 0.5:
                heading = (heading + 180.0) % 360.0
            chosen.append((float(x), float(y), heading))
            if len(chosen) == count:
                return np.asarray(chosen)
        if not exact:
            return np.asarray(chosen).reshape(-1, 3)
        if gap <= min_spacing:
            raise RuntimeError(f"world has room for {len(chosen)} places, {count} requested")
        gap = max(min_spacing, gap * 0.8)


def ground_z(world: World, x: float, y: float) -> float:
    """Height of the solid surface (road) under a point."""
    r, c = world.canvas.index(np.array([x]), np.array([y]))
    return float(world.canvas.height[r[0], c[0]])
