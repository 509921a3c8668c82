"""A procedural town on a height field: terrain, streets, buildings, trees, water, lots.

:func:`build_world` is deterministic in ``(style, seed)``. The result holds the geometry and
the "true" appearance of the place (base albedo); everything that changes between two
photographs of it (sun, season, cars, sensor) is added per capture in :mod:`.capture`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import buildings as bld
from . import canvas as cv
from .noise import fbm, value_noise
from .rng import stream
from .roads import Network, build_network
from .styles import GROUND, TREES, Style

TREE_NAMES = tuple(TREES)


@dataclass
class World:
    """Geometry and base appearance of one synthetic town."""

    style: Style
    seed: int
    canvas: cv.Canvas
    network: Network
    road_dist: np.ndarray
    """Distance (m) of every cell to the nearest street centre line."""
    road_hw: np.ndarray
    """Half-width (m) of that nearest street."""
    samples: dict[str, np.ndarray]
    """Street centre-line samples every 2 m: x, y, tx, ty (unit tangent), hw, road index."""
    parts: dict[str, np.ndarray]
    trees: dict[str, np.ndarray]
    stalls: np.ndarray
    """(K, 3) parking stall centres and car headings (x, y, radians from the x axis)."""
    driveways: np.ndarray
    """(K, 3) where a car parks in a driveway (x, y, heading)."""
    sky_seed: int

    @property
    def cell(self) -> float:
        return self.canvas.cell

    @property
    def size_m(self) -> float:
        return self.canvas.size_m

    @property
    def shape(self) -> tuple[int, int]:
        return self.canvas.shape


def build_world(style: Style, seed: int, size_m: float | None = None, cell: float = 0.5) -> World:
    """Generate a world of ``style`` (square, ``size_m`` metres a side, ``cell`` m per cell)."""
    size_m = float(size_m or style.world_m)
    c = cv.Canvas(size_m, cell)
    n = c.shape[0]
    rng = stream(seed, "world", style.name)
    # terrain: long gentle undulation
    c.terrain[:] = style.terrain_amp * fbm(stream(seed, "terrain"), c.shape, (400 / cell, 160 / cell, 70 / cell))
    c.height[:] = c.terrain
    palette = _palette(stream(seed, "palette"), style)

    net = build_network(stream(seed, "roads"), style, size_m)
    road = _rasterize_roads(c, net, palette, stream(seed, "markings"), style)
    samples = _road_samples(net)
    clear_extra = 1.0
    road_clear = road["dist"] > road["hw"] + road["verge"] + road["sidewalk"] + clear_extra

    _ponds(c, stream(seed, "ponds"), style, road["dist"] - road["hw"], palette)
    place = {"houses": bld.houses, "parcels": bld.parcels, "campus": bld.campus}[style.buildings]
    place(c, stream(seed, "buildings"), style, net, road_clear, samples)
    _trees(c, stream(seed, "trees"), style, net, road, samples)
    _ground_variation(c, stream(seed, "ground"), style)
    sky_seed = int(rng.integers(0, 2**31 - 1))
    return World(style, seed, c, net, road["dist"].astype(np.float32), road["hw"].astype(np.float32), samples,
                 c.parts_array(), c.trees_array(), np.asarray(c.stalls, np.float64).reshape(-1, 3),
                 np.asarray(c.driveways, np.float64).reshape(-1, 3), sky_seed)


def _palette(rng: np.random.Generator, style: Style) -> dict[str, np.ndarray]:
    """Ground colours of this world: the style's base colours, tinted and scaled per world."""
    tint = (1.0 + rng.normal(0, style.hue_jitter)) * (1.0 + rng.normal(0, style.hue_jitter / 3, 3))
    out = {}
    for name, rgb in GROUND.items():
        scale = rng.uniform(0.9, 1.1)
        t = tint if name in ("grass", "dry_grass", "soil", "plaza", "water") else 1.0 + (tint - 1.0) * 0.3
        out[name] = np.clip(np.asarray(rgb) * scale * t, 0.02, 0.98).astype(np.float32)
    return out


def _rasterize_roads(c: cv.Canvas, net: Network, palette: dict[str, np.ndarray], rng: np.random.Generator,
                     style: Style) -> dict:
    """Streets, verges, sidewalks and markings from the network (nearest-centre-line transform)."""
    n = c.shape[0]
    step = c.cell * 0.5
    mask = np.zeros(c.shape, bool)
    attr = {k: np.zeros(c.shape, np.float32) for k in ("hw", "s", "tx", "ty", "verge", "sidewalk", "disc")}
    rid = np.full(c.shape, -1, np.int32)
    order = sorted(range(len(net.roads)), key=lambda k: net.roads[k].halfwidth)
    for k in order:
        road = net.roads[k]
        pts = road.points
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
        m = max(2, int(cum[-1] / step) + 1)
        s = np.linspace(0.0, cum[-1], m)
        x = np.interp(s, cum, pts[:, 0])
        y = np.interp(s, cum, pts[:, 1])
        tx, ty = np.gradient(x), np.gradient(y)
        norm = np.maximum(np.hypot(tx, ty), 1e-9)
        tx, ty = tx / norm, ty / norm
        cols = np.floor(x / c.cell).astype(np.int64)
        rows = np.floor(n - y / c.cell).astype(np.int64)
        ok = (cols >= 0) & (cols < n) & (rows >= 0) & (rows < n)
        r_, c_ = rows[ok], cols[ok]
        mask[r_, c_] = True
        rid[r_, c_] = k
        for key, val in (("hw", road.halfwidth), ("s", s[ok]), ("tx", tx[ok]), ("ty", ty[ok]),
                         ("verge", road.verge), ("sidewalk", road.sidewalk), ("disc", 0.0)):
            attr[key][r_, c_] = val
        for (dx, dy, radius) in road.discs:
            col, row = int(dx / c.cell), int(n - dy / c.cell)
            if 0 <= col < n and 0 <= row < n:
                mask[row, col] = True
                rid[row, col] = k
                for key, val in (("hw", radius), ("s", 0.0), ("tx", 1.0), ("ty", 0.0), ("verge", road.verge),
                                 ("sidewalk", road.sidewalk), ("disc", 1.0)):
                    attr[key][row, col] = val
    if not mask.any():
        mask[0, 0] = True
    dist, (ir, ic) = ndimage.distance_transform_edt(~mask, sampling=c.cell, return_indices=True)
    dist = dist.astype(np.float32)
    near = {k: v[ir, ic] for k, v in attr.items()}
    road_id = rid[ir, ic]
    hw, verge, sidewalk = near["hw"], near["verge"], near["sidewalk"]
    # signed lateral offset from the centre line (positive to the left of travel)
    qx = (ic + 0.5) * c.cell
    qy = (n - ir - 0.5) * c.cell
    px = c.xs[None, :]
    py = c.ys[:, None]
    lateral = (py - qy) * near["tx"] - (px - qx) * near["ty"]
    del ir, ic

    on_road = dist <= hw
    on_sidewalk = (dist > hw + verge) & (dist <= hw + verge + sidewalk)
    on_verge = (dist > hw) & (dist <= hw + verge)
    mat = c.material
    open_code = {"grass": cv.GRASS, "plaza": cv.PLAZA}[style.open_ground]
    mat[:] = open_code
    c.albedo[:] = palette[style.open_ground]
    mat[on_verge] = cv.GRASS
    mat[on_sidewalk] = cv.SIDEWALK
    c.albedo[on_sidewalk] = palette["sidewalk"]
    c.height[on_sidewalk] += 0.15
    mat[on_road] = cv.ASPHALT
    c.albedo[on_road] = palette["asphalt"]

    # junction areas: no lane markings inside, zebra crossings around
    junction = np.zeros(c.shape, bool)
    crossing = np.zeros(c.shape, bool)
    for (x, y, radius) in net.junctions:
        win = c.window(x, y, radius + 4.5)
        if win is None:
            continue
        rs, cs, _, _ = win
        d = np.hypot(qx[rs, cs] - x, qy[rs, cs] - y)
        junction[rs, cs] |= d <= radius
        crossing[rs, cs] |= (d > radius + 0.6) & (d <= radius + 3.6)
    # markings, computed on street cells only
    kind_code = np.array([{"street": 0, "arterial": 1, "avenue": 2}[r.kind] for r in net.roads] + [0])
    centre_code = np.array([{"none": 0, "dashed_white": 1, "dashed_yellow": 2, "double_yellow": 3}[r.centre]
                            for r in net.roads] + [0])
    lanes = np.array([r.lanes for r in net.roads] + [0])
    flat = np.flatnonzero(on_road)
    rk = road_id.ravel()[flat]
    rk = np.where(rk >= 0, rk, len(net.roads))
    d_, hw_, s_ = dist.ravel()[flat], hw.ravel()[flat], near["s"].ravel()[flat]
    lat_ = lateral.ravel()[flat]
    junc_, cross_ = junction.ravel()[flat], crossing.ravel()[flat]
    paint = ~junc_ & (near["disc"].ravel()[flat] == 0)
    centre_line = paint & (d_ < 0.3)
    ck = centre_code[rk]
    major = kind_code[rk] > 0
    yellow = centre_line & ((ck == 3) | ((ck == 2) & (np.mod(s_, 9.0) < 4.0)))
    white = centre_line & (ck == 1) & (np.mod(s_, 9.0) < 3.5)
    edge = paint & (d_ > hw_ - 0.9) & (d_ <= hw_ - 0.4) & major
    lane_div = paint & (lanes[rk] >= 2) & (np.abs(np.abs(lat_) - hw_ / 2) < 0.3) & (np.mod(s_, 9.0) < 3.0)
    zebra = cross_ & ~junc_ & (np.mod(np.abs(lat_), 1.6) < 0.8) & major & (d_ < hw_ - 0.8)
    wear = 0.8 + 0.2 * value_noise(rng, c.shape, 6.0 / c.cell).ravel()[flat]
    mat_flat = c.material.reshape(-1)
    alb_flat = c.albedo.reshape(-1, 3)
    for m_, name, code in ((yellow, "yellow_line", cv.YELLOW), (white | edge | lane_div | zebra, "white_line", cv.WHITE)):
        where = flat[m_]
        w = wear[m_][:, None]
        mat_flat[where] = code
        alb_flat[where] = palette[name][None, :] * w + palette["asphalt"][None, :] * (1 - w)
    return {"dist": dist, "hw": hw, "verge": verge, "sidewalk": sidewalk, "lateral": lateral, "road_id": road_id,
            "on_road": on_road, "on_sidewalk": on_sidewalk, "on_verge": on_verge}


def _road_samples(net: Network, step: float = 2.0) -> dict[str, np.ndarray]:
    out: dict[str, list] = {k: [] for k in ("x", "y", "tx", "ty", "hw", "road")}
    for k, road in enumerate(net.roads):
        pts = road.points
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
        s = np.arange(0.0, cum[-1], step)
        x = np.interp(s, cum, pts[:, 0])
        y = np.interp(s, cum, pts[:, 1])
        tx = np.gradient(x) if len(x) > 1 else np.ones(1)
        ty = np.gradient(y) if len(y) > 1 else np.zeros(1)
        norm = np.maximum(np.hypot(tx, ty), 1e-9)
        for key, val in (("x", x), ("y", y), ("tx", tx / norm), ("ty", ty / norm), ("hw", np.full(len(x), road.halfwidth)),
                         ("road", np.full(len(x), k))):
            out[key].append(val)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def _ponds(c: cv.Canvas, rng: np.random.Generator, style: Style, edge_dist: np.ndarray,
           palette: dict[str, np.ndarray]) -> None:
    count = int(rng.integers(style.ponds[0], style.ponds[1] + 1))
    for _ in range(count):
        for _attempt in range(30):
            radius = float(rng.uniform(12, 32))
            x, y = rng.uniform(radius + 20, c.size_m - radius - 20, 2)
            win = c.window(x, y, radius * 1.4)
            if win is None:
                continue
            rs, cs, xs, ys = win
            if edge_dist[rs, cs].min() < 8.0 or (c.kind[rs, cs] != cv.GROUND).any():
                continue
            ang = np.arctan2(ys - y, xs - x)
            wob = 1 + 0.18 * np.sin(2 * ang + rng.uniform(0, 6.3)) + 0.1 * np.sin(3 * ang + rng.uniform(0, 6.3))
            rho = np.hypot(xs - x, ys - y) / (radius * wob)
            water = rho < 1.0
            bank = (rho >= 1.0) & (rho < 1.15)
            c.material[rs, cs][water] = cv.WATER
            c.albedo[rs, cs][water] = palette["water"]
            c.material[rs, cs][bank] = cv.SOIL
            c.albedo[rs, cs][bank] = palette["soil"] * 1.05
            level = float(c.terrain[rs, cs][water].min()) - 0.4 if water.any() else 0.0
            c.height[rs, cs][water] = level
            break


def _trees(c: cv.Canvas, rng: np.random.Generator, style: Style, net: Network, road: dict,
           samples: dict[str, np.ndarray]) -> None:
    """Trees in open green ground (clustered by a density field) and along the streets."""
    n = c.shape[0]
    names = [k for k in style.tree_mix if k in TREES and k != "shrub"]
    weights = np.asarray([style.tree_mix[k] for k in names], np.float64)
    weights /= weights.sum()
    building = c.kind == cv.BUILDING
    bdist = ndimage.distance_transform_edt(~building, sampling=c.cell) if building.any() else np.full(c.shape, 1e3)
    green = (c.material == cv.GRASS) & ~road["on_verge"] & (road["dist"] > road["hw"] + road["verge"]
                                                            + road["sidewalk"] + 1.0)
    density = value_noise(rng, c.shape, 70.0 / c.cell)
    density = np.clip((density - 0.25) * 1.8, 0.0, 1.6)
    # jittered grid of candidates, thinned by the density field
    pitch = 6.5
    g = int(c.size_m / pitch)
    gx, gy = np.meshgrid((np.arange(g) + 0.5) * pitch, (np.arange(g) + 0.5) * pitch)
    gx = gx.ravel() + rng.uniform(-0.45, 0.45, g * g) * pitch
    gy = gy.ravel() + rng.uniform(-0.45, 0.45, g * g) * pitch
    r, col = c.index(gx, gy)
    p_keep = style.tree_density * pitch * pitch / 1000.0 * density[r, col]
    radius = rng.uniform(*style.tree_radius, g * g)
    keep = green[r, col] & (rng.random(g * g) < p_keep) & (bdist[r, col] > radius * 0.6 + 1.0)
    xs, ys, rad = list(gx[keep]), list(gy[keep]), list(radius[keep])
    if style.street_trees[1] > 0:
        for k, rd in enumerate(net.roads):
            if rng.random() < 0.25:
                continue
            pts = rd.points
            cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
            spacing = rng.uniform(*style.street_trees)
            s = np.arange(rng.uniform(0, spacing), cum[-1], spacing)
            if len(s) == 0:
                continue
            x = np.interp(s, cum, pts[:, 0])
            y = np.interp(s, cum, pts[:, 1])
            tx, ty = np.gradient(x) if len(x) > 1 else np.ones(1), np.gradient(y) if len(y) > 1 else np.zeros(1)
            norm = np.maximum(np.hypot(tx, ty), 1e-9)
            off = rd.halfwidth + (rd.verge / 2 if rd.verge > 0 else 0.9)
            for side in (-1, 1):
                px = x - side * ty / norm * off
                py = y + side * tx / norm * off
                rr, cc = c.index(px, py)
                ok = (c.material[rr, cc] == (cv.GRASS if rd.verge > 0 else cv.SIDEWALK)) & (bdist[rr, cc] > 3.0) \
                    & (road["dist"][rr, cc] > rd.halfwidth - 0.1)
                ok &= (px > 0) & (py > 0) & (px < c.size_m) & (py < c.size_m)
                rads = rng.uniform(*style.tree_radius, len(px)) * 0.85
                xs += list(px[ok]); ys += list(py[ok]); rad += list(rads[ok])
    species = rng.choice(len(names), size=len(xs), p=weights)
    for x, y, rr, sp in zip(xs, ys, rad, species):
        name = names[int(sp)]
        conifer = TREES[name]["conifer"]
        rr = float(rr) * (0.7 if conifer else 1.0)
        crown = rr * (rng.uniform(2.4, 3.4) if conifer else rng.uniform(1.3, 1.9))
        stem = rng.uniform(0.8, 1.6) if conifer else rng.uniform(1.8, 3.2)
        lobes = np.array([rng.uniform(0, 0.15), rng.uniform(0, 6.3), rng.uniform(0, 0.1), rng.uniform(0, 6.3)])
        c.add_tree(float(x), float(y), rr, crown, stem, TREE_NAMES.index(name), conifer,
                   float(rng.uniform(0.85, 1.15)), lobes)


def _ground_variation(c: cv.Canvas, rng: np.random.Generator, style: Style) -> None:
    """Large-scale variation of the true ground (lawn health, asphalt patches, worn paving)."""
    patch = fbm(rng, c.shape, (40 / c.cell, 12 / c.cell, 4 / c.cell))
    ground = c.kind != cv.BUILDING
    scale = 1.0 + 0.10 * patch
    grass = (c.material == cv.GRASS) & ground
    dry = np.clip(value_noise(rng, c.shape, 30 / c.cell) * 1.4 - 0.55, 0, 1) * 0.5
    dry_rgb = np.asarray(GROUND["dry_grass"], np.float32)
    c.albedo[grass] = c.albedo[grass] * (1 - dry[grass][:, None]) + dry_rgb * dry[grass][:, None]
    c.albedo[ground] *= scale[ground][:, None]
    np.clip(c.albedo, 0.0, 1.0, out=c.albedo)
