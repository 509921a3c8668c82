"""Road networks: a lattice of streets, warped into curves (suburb, campus) or kept straight
(downtown grid), with dropped links, cul-de-sacs, arterials and an optional diagonal avenue.

Warping the lattice with one smooth displacement field keeps every junction connected while
bending the streets, which gives organic networks without a fragile growth algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .styles import Style


@dataclass
class Road:
    """One street between two junctions (or a dead end), as a dense polyline in metres."""

    points: np.ndarray
    halfwidth: float
    kind: str
    """``street``, ``arterial`` or ``avenue``."""
    centre: str
    """Centre marking: ``none``, ``dashed_white``, ``dashed_yellow`` or ``double_yellow``."""
    lanes: int
    sidewalk: float
    verge: float
    discs: list[tuple[float, float, float]] = field(default_factory=list)
    """Cul-de-sac turning circles (x, y, radius) at dead ends."""

    @property
    def length(self) -> float:
        return float(np.sum(np.hypot(*np.diff(self.points, axis=0).T)))


@dataclass
class Network:
    roads: list[Road]
    junctions: np.ndarray
    """(K, 3): x, y and radius of every junction of three or more streets."""
    rotation: float
    """Orientation of the lattice (radians from the x axis)."""
    lattice_u: np.ndarray
    lattice_v: np.ndarray
    centre: np.ndarray


class Warp:
    """A smooth displacement field: a sum of a few random plane waves (metres -> metres)."""

    def __init__(self, rng: np.random.Generator, amplitude: float, wavelength: float = 260.0, waves: int = 4):
        self.amplitude = amplitude
        k = 2 * np.pi / (wavelength * rng.uniform(0.7, 1.4, size=(2, waves)))
        ang = rng.uniform(0, 2 * np.pi, size=(2, waves))
        self.kx, self.ky = k * np.cos(ang), k * np.sin(ang)
        self.phase = rng.uniform(0, 2 * np.pi, size=(2, waves))
        self.weight = rng.uniform(0.5, 1.0, size=(2, waves))
        self.weight /= self.weight.sum(axis=1, keepdims=True)

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        if self.amplitude == 0:
            return pts
        x, y = pts[:, :1], pts[:, 1:2]
        out = pts.copy()
        for d in range(2):
            arg = x * self.kx[d] + y * self.ky[d] + self.phase[d]
            out[:, d] += self.amplitude * np.sum(self.weight[d] * np.sin(arg), axis=1)
        return out


def _spacings(rng: np.random.Generator, span: float, rng_range: tuple[float, float]) -> np.ndarray:
    values = [-span]
    while values[-1] < span:
        values.append(values[-1] + rng.uniform(*rng_range))
    return np.asarray(values)


def _polyline(a: np.ndarray, b: np.ndarray, step: float = 2.0) -> np.ndarray:
    n = max(2, int(np.ceil(np.hypot(*(b - a)) / step)) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return a[None] * (1 - t) + b[None] * t


def build_network(rng: np.random.Generator, style: Style, size_m: float) -> Network:
    """A street network covering a square world of ``size_m`` metres (x east, y north)."""
    centre = np.array([size_m / 2, size_m / 2]) + rng.uniform(-0.1, 0.1, 2) * size_m
    theta = float(rng.uniform(0, np.pi / 2))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    span = size_m * 0.78
    us = _spacings(rng, span, style.spacing_x)
    vs = _spacings(rng, span, style.spacing_y)
    organic = style.network == "organic"
    jitter = np.zeros((len(us), len(vs), 2))
    if organic:
        jitter[..., 0] = rng.uniform(-0.14, 0.14, (len(us), len(vs))) * np.mean(style.spacing_x)
        jitter[..., 1] = rng.uniform(-0.14, 0.14, (len(us), len(vs))) * np.mean(style.spacing_y)
    warp = Warp(rng, style.warp_m)
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    local = np.stack([uu, vv], -1) + jitter
    nodes = local @ rot.T + centre

    def inside(p: np.ndarray, pad: float = 60.0) -> bool:
        return bool(np.any((p[:, 0] > -pad) & (p[:, 0] < size_m + pad) & (p[:, 1] > -pad) & (p[:, 1] < size_m + pad)))

    art_u = set(rng.choice(np.arange(2, len(vs) - 2), size=min(style.arterials, max(0, len(vs) - 4)), replace=False).tolist()) \
        if len(vs) > 4 else set()
    art_v: set[int] = set()
    if style.arterials >= 2 and len(us) > 4:
        art_v = {int(rng.integers(2, len(us) - 2))}

    roads: list[Road] = []
    degree = np.zeros((len(us), len(vs)), np.int64)
    edges = []
    for i in range(len(us)):
        for j in range(len(vs)):
            if i + 1 < len(us):
                edges.append(((i, j), (i + 1, j), j in art_u))
            if j + 1 < len(vs):
                edges.append(((i, j), (i, j + 1), i in art_v))
    order = rng.permutation(len(edges))
    for k in order:
        (a, b, arterial) = edges[k]
        pa, pb = nodes[a], nodes[b]
        pts = _polyline(pa, pb)
        if organic:
            bow = rng.normal(0, 0.05) * np.hypot(*(pb - pa))
            t = np.linspace(0, 1, len(pts))
            normal = np.array([-(pb - pa)[1], (pb - pa)[0]]) / max(np.hypot(*(pb - pa)), 1e-9)
            pts = pts + bow * np.sin(np.pi * t)[:, None] * normal
        pts = warp(pts)
        if not inside(pts):
            continue
        discs: list[tuple[float, float, float]] = []
        if not arterial and rng.random() < style.drop_edge:
            if rng.random() >= style.cul_de_sac:
                continue
            keep = int(len(pts) * rng.uniform(0.45, 0.7))
            if rng.random() < 0.5:
                pts, start = pts[::-1][:keep], b
            else:
                pts, start = pts[:keep], a
            radius = float(rng.uniform(9.0, 12.0))
            discs.append((float(pts[-1, 0]), float(pts[-1, 1]), radius))
            degree[start] += 1
        else:
            degree[a] += 1
            degree[b] += 1
        if arterial:
            hw = float(rng.uniform(*style.arterial_halfwidth))
            kind, centre_mark, lanes = "arterial", "double_yellow", 2 if hw > 7.5 else 1
        else:
            hw = float(rng.uniform(*style.street_halfwidth))
            kind = "street"
            if style.network == "grid":
                centre_mark, lanes = ("dashed_yellow" if hw > 6.0 else "dashed_white"), 2 if hw > 6.5 else 1
            else:
                centre_mark, lanes = ("none" if rng.random() < 0.55 else "dashed_yellow"), 1
        roads.append(Road(pts, hw, kind, centre_mark, lanes, float(rng.uniform(*style.sidewalk)),
                          float(rng.uniform(*style.verge)), discs))

    junction_pts = []
    for i in range(len(us)):
        for j in range(len(vs)):
            if degree[i, j] >= 3:
                junction_pts.append(warp(nodes[i, j][None])[0])
    if style.diagonal and rng.random() < style.diagonal:
        ang = theta + rng.choice([-1, 1]) * rng.uniform(np.pi / 7, np.pi / 3.2)
        through = centre + rng.uniform(-0.2, 0.2, 2) * size_m
        d = np.array([np.cos(ang), np.sin(ang)])
        pts = _polyline(through - d * size_m, through + d * size_m)
        hw = float(rng.uniform(*style.arterial_halfwidth))
        roads.append(Road(pts, hw, "avenue", "double_yellow", 2 if hw > 7.5 else 1,
                          float(rng.uniform(*style.sidewalk)), float(rng.uniform(*style.verge))))
        for road in roads[:-1]:
            p = _line_crossing(road.points[0], road.points[-1], through, d)
            if p is not None:
                junction_pts.append(p)
    junctions = np.zeros((len(junction_pts), 3))
    if junction_pts:
        junctions[:, :2] = np.asarray(junction_pts)
        junctions[:, 2] = max(r.halfwidth for r in roads) + 1.0
        # radius from the widest road passing near each junction
        for n, (x, y, _) in enumerate(junctions):
            widest = 0.0
            for road in roads:
                dmin = np.min(np.hypot(road.points[:, 0] - x, road.points[:, 1] - y))
                if dmin < road.halfwidth + 2.0:
                    widest = max(widest, road.halfwidth)
            junctions[n, 2] = widest + 1.0
    return Network(roads, junctions, theta, us, vs, centre)


def _line_crossing(a: np.ndarray, b: np.ndarray, p: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """Where segment a-b crosses the infinite line p + t d (None if it does not)."""
    e = b - a
    denom = e[0] * d[1] - e[1] * d[0]
    if abs(denom) < 1e-9:
        return None
    s = ((p[0] - a[0]) * d[1] - (p[1] - a[1]) * d[0]) / denom
    if 0.0 <= s <= 1.0:
        return a + s * e
    return None
