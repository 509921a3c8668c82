"""A capture: one "photo session" of a world (a satellite pass, a street-view drive, a drone
flight) with its own sun, season, parked and moving cars, surface micro-texture and weather.

Two captures of the same world share geometry and base appearance and nothing else, which is
what makes a ground panorama and a satellite tile of the same place differ the way real
ones do, and what defeats pixel-level shortcuts (a ground-plane warp of the panorama onto the
tile finds different shadows, different cars and different grass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import canvas as cv
from .noise import grain, value_noise
from .rng import stream
from .styles import GROUND, TREES
from .world import TREE_NAMES, World

CAR_COLOURS = np.array([
    (0.90, 0.90, 0.90), (0.08, 0.08, 0.09), (0.62, 0.63, 0.65), (0.35, 0.36, 0.38), (0.60, 0.08, 0.07),
    (0.10, 0.20, 0.45), (0.75, 0.75, 0.72), (0.20, 0.30, 0.22), (0.55, 0.45, 0.30), (0.85, 0.70, 0.20),
], np.float32)
CAR_WEIGHTS = np.array([0.22, 0.18, 0.16, 0.12, 0.08, 0.08, 0.06, 0.04, 0.04, 0.02])
#: Fraction of trees (and shrubs) missing from any one capture: planted or felled in between.
TREE_TURNOVER = 0.12


@dataclass
class Light:
    """Sun and sky of a capture (directions: azimuth clockwise from north, elevation up)."""

    sun_az: float
    sun_el: float
    sun_rgb: np.ndarray
    sky_rgb: np.ndarray
    zenith_rgb: np.ndarray
    horizon_rgb: np.ndarray
    haze_rgb: np.ndarray
    visibility: float
    cloud_cover: float

    @property
    def sun_vec(self) -> np.ndarray:
        """Unit vector toward the sun (x east, y north, z up)."""
        ce = np.cos(self.sun_el)
        return np.array([np.sin(self.sun_az) * ce, np.cos(self.sun_az) * ce, np.sin(self.sun_el)], np.float32)


@dataclass
class Capture:
    """Everything a renderer needs about one photo session of a world."""

    world: World
    name: str
    light: Light
    height: np.ndarray
    """Solid height including this capture's cars."""
    kind: np.ndarray
    car_rgb: np.ndarray
    """(ny, nx, 3) body colour where a car stands (else 0)."""
    surface: list[np.ndarray]
    """Radiance of the top surface (tree crowns included) as a mip pyramid (levels 0..3)."""
    ground: list[np.ndarray]
    """Radiance of the solid surface under the crowns, as a mip pyramid."""
    zs: np.ndarray
    """Lowest sunlit height of every cell (a point below it is in shadow)."""
    canopy_rgb: np.ndarray
    """Per-tree crown colour of this season, index = tree id (0 unused)."""
    seed: int
    tree: np.ndarray
    """Tree id per cell in this capture (trees planted or felled between captures differ)."""


def make_light(rng: np.random.Generator, kind: str) -> Light:
    """Sun and atmosphere; satellites pass near midday, street-view and drones any daytime."""
    if kind == "satellite":
        el = np.radians(rng.uniform(38, 72))
        visibility = rng.uniform(2500, 6000)
    else:
        el = np.radians(rng.uniform(14, 62))
        visibility = rng.uniform(700, 2200)
    az = rng.uniform(0, 2 * np.pi)
    warm = np.clip(1.0 - (np.degrees(el) - 12) / 40, 0, 1)  # low sun: warmer, weaker
    sun = np.array([1.0, 0.96 - 0.14 * warm, 0.90 - 0.32 * warm], np.float32) * (0.95 + 0.25 * np.sin(el))
    overcast = rng.uniform(0, 1) ** 2 * (0.6 if kind != "satellite" else 0.25)
    sun = sun * (1.0 - 0.75 * overcast)
    zenith = np.array([0.22, 0.40, 0.78], np.float32) * rng.uniform(0.85, 1.1)
    horizon = np.array([0.70, 0.78, 0.88], np.float32) * rng.uniform(0.9, 1.05)
    grey = np.array([0.72, 0.74, 0.77], np.float32)
    zenith = zenith * (1 - overcast) + grey * 0.9 * overcast
    horizon = horizon * (1 - overcast) + grey * overcast
    sky = (0.55 * zenith + 0.45 * horizon) * (0.55 + 0.35 * overcast)
    haze = horizon * rng.uniform(0.92, 1.05)
    return Light(float(az), float(el), sun, sky.astype(np.float32), zenith, horizon, haze.astype(np.float32),
                 float(visibility), float(rng.uniform(0, 0.55) + overcast * 0.4))


def build_capture(world: World, seed: int, name: str, kind: str, exclude: np.ndarray | None = None,
                  light: Light | None = None, turnover: float | None = None) -> Capture:
    """A photo session of ``world``: own sun, season, cars and micro-texture.

    ``kind`` is ``satellite``, ``ground`` or ``drone`` (it sets the sun's range);
    ``exclude`` holds (x, y) points where no car may stand (the street-view camera positions);
    ``turnover`` is the fraction of trees missing from this capture (default ``TREE_TURNOVER``).
    """
    c = world.canvas
    rng = stream(seed, "capture", name)
    light = light or make_light(rng, kind)
    height = c.height.copy()
    kind_map = c.kind.copy()
    albedo = c.albedo.copy()
    car_rgb = np.zeros(c.shape + (3,), np.float32)
    # trees felled or planted between captures: each capture misses its own random subset
    n_all = len(world.trees["x"])
    present = rng.random(n_all + 1) >= (TREE_TURNOVER if turnover is None else turnover)
    present[0] = False
    tree_map = np.where(present[c.tree], c.tree, 0).astype(np.int32)
    gone = (kind_map == cv.STEM) & (tree_map == 0)
    height[gone] = c.terrain[gone]
    kind_map[gone] = cv.GROUND
    _place_cars(world, rng, height, kind_map, albedo, car_rgb, exclude)

    # season: grass dries or greens, deciduous crowns turn, everything a little brighter/darker
    season = float(rng.beta(1.3, 2.2))
    grass = c.material == cv.GRASS
    dry = np.asarray(GROUND["dry_grass"], np.float32)
    patches = value_noise(rng, c.shape, 25 / c.cell)
    mix = np.clip(season * (0.4 + 0.9 * patches), 0, 0.85)[grass][:, None]
    albedo[grass] = albedo[grass] * (1 - mix) + dry * mix
    albedo[grass] *= np.float32(rng.uniform(0.85, 1.12))
    # micro-texture: independent per capture
    tex = 1.0 + 0.10 * grain(rng, c.shape) + 0.07 * (value_noise(rng, c.shape, 2.5 / c.cell) - 0.5) * 2
    albedo *= tex[..., None]
    np.clip(albedo, 0.0, 1.0, out=albedo)

    trees = world.trees
    n_trees = len(trees["x"])
    canopy_rgb = np.zeros((n_trees + 1, 3), np.float32)
    if n_trees:
        species = trees["species"].astype(np.int64)
        summer = np.array([TREES[n]["summer"] for n in TREE_NAMES], np.float32)[species]
        autumn = np.array([TREES[n]["autumn"] for n in TREE_NAMES], np.float32)[species]
        turn = np.clip(season * rng.uniform(0.3, 1.2, n_trees) - 0.15, 0, 1)[:, None]
        col = summer * (1 - turn) + autumn * turn
        col *= (trees["shade"] * rng.uniform(0.9, 1.1, n_trees))[:, None]
        canopy_rgb[1:] = np.clip(col, 0, 1)
    has_canopy = (tree_map > 0) & (c.canopy_top > height)
    crown = np.where(has_canopy, c.canopy_top, height)
    crown_albedo = albedo.copy()
    leaf = 1.0 + 0.18 * grain(rng, c.shape, 1.5)
    crown_albedo[has_canopy] = canopy_rgb[tree_map[has_canopy]] * leaf[has_canopy][:, None]

    zs = shadow_heights(crown, c.cell, light.sun_az, light.sun_el)
    sun = light.sun_vec
    # top surface (crowns included): what a satellite or a drone sees from above
    lit_top = _soft(crown >= zs - 0.05)
    surface = _radiance(crown, crown_albedo, lit_top, sun, light, c.cell)
    # solid surface: what a street-level camera sees under the crowns
    under = has_canopy & (c.canopy_bottom > height)
    lit_ground = _soft((height >= zs - 0.05) & ~under) * np.where(under, 0.35, 1.0).astype(np.float32) \
        + np.where(under, 0.12, 0.0).astype(np.float32)
    ground = _radiance(height, albedo, np.clip(lit_ground, 0, 1), sun, light, c.cell)
    return Capture(world, name, light, height, kind_map, car_rgb, pyramid(surface), pyramid(ground), zs,
                   canopy_rgb, int(rng.integers(0, 2**31 - 1)), tree_map)


def _soft(mask: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter(mask.astype(np.float32), 3)


def _radiance(height: np.ndarray, albedo: np.ndarray, lit: np.ndarray, sun: np.ndarray, light: Light,
              cell: float) -> np.ndarray:
    """Lambertian radiance of a height field: sun (shadowed) + sky (ambient occlusion)."""
    f32 = np.float32
    gy, gx = np.gradient(height, f32(cell))
    gy = -gy  # rows run north to south
    steep = (gx * gx + gy * gy) > f32(6.25)  # building edges: treat as flat rather than as a wall
    gx[steep] = 0
    gy[steep] = 0
    inv = f32(1.0) / np.sqrt(gx * gx + gy * gy + f32(1.0))
    ndotl = np.clip((-gx * f32(sun[0]) - gy * f32(sun[1]) + f32(sun[2])) * inv, 0, 1)
    blur = ndimage.uniform_filter(height, 9)
    ao = np.clip(f32(1.0) - f32(0.08) * np.maximum(blur - height, 0), 0.45, 1.0)
    ao *= f32(0.5) + f32(0.5) * inv
    out = albedo * (ndotl * lit)[..., None] * light.sun_rgb.astype(f32)
    out += albedo * ao[..., None] * light.sky_rgb.astype(f32)
    return out


def pyramid(image: np.ndarray, levels: int = 4) -> list[np.ndarray]:
    """Mip levels by 2x2 averaging (level k has cells 2**k times larger)."""
    out = [image]
    for _ in range(levels - 1):
        a = out[-1]
        h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
        a = a[:h, :w]
        out.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return out


def shadow_heights(occluder: np.ndarray, cell: float, sun_az: float, sun_el: float) -> np.ndarray:
    """For every cell, the lowest height that the sun reaches (points below it are shadowed).

    The grid is resampled into a frame whose first axis runs along the light; there a running
    maximum of ``height + distance * tan(elevation)`` gives every cell's horizon in one pass.
    """
    n = occluder.shape[0]
    m = int(np.ceil(n * np.sqrt(2))) + 2
    f32 = np.float32
    tx, ty = f32(-np.sin(sun_az)), f32(-np.cos(sun_az))  # direction the light travels (east, north)
    qx, qy = -ty, tx
    half = f32(n / 2.0)
    ia = np.arange(m, dtype=f32) - f32(m / 2.0)
    # world position in cells (x east, y north) of rotated sample (a, b) = centre + a*t + b*q
    px = (half + ia[:, None] * tx) + ia[None, :] * qx
    col = px.astype(np.int32)
    ok = (px >= 0) & (px < n)
    del px
    py = (half + ia[:, None] * ty) + ia[None, :] * qy
    row = (f32(n) - py).astype(np.int32)
    ok &= (py > 0) & (py <= n)
    del py
    np.clip(row, 0, n - 1, out=row)
    np.clip(col, 0, n - 1, out=col)
    flat = np.where(ok, row * n + col, 0)
    occ = occluder.reshape(-1)[flat]
    occ[~ok] = -1e4
    k = f32(cell * np.tan(sun_el))
    along = (np.arange(m, dtype=f32) * k)[:, None]
    occ += along
    np.maximum.accumulate(occ, axis=0, out=occ)
    zs_rot = np.empty((m, m), f32)
    zs_rot[0] = -1e4
    np.subtract(occ[:-1], along[1:], out=zs_rot[1:])
    # back to the world grid
    xs = (np.arange(n, dtype=f32) + f32(0.5) - half)[None, :]
    ys = (f32(n) - np.arange(n, dtype=f32) - f32(0.5) - half)[:, None]
    a = (xs * tx + ys * ty + f32(m / 2.0)).astype(np.int32)
    b = (xs * qx + ys * qy + f32(m / 2.0)).astype(np.int32)
    np.clip(a, 0, m - 1, out=a)
    np.clip(b, 0, m - 1, out=b)
    return zs_rot.reshape(-1)[a * m + b]


def _place_cars(world: World, rng: np.random.Generator, height: np.ndarray, kind: np.ndarray, albedo: np.ndarray,
                car_rgb: np.ndarray, exclude: np.ndarray | None) -> None:
    """Moving cars in lanes, parked cars at curbs and in lots (this capture's own)."""
    c = world.canvas
    s = world.samples
    style = world.style
    density = {"suburb": 0.05, "downtown": 0.16, "campus": 0.06}.get(style.name.split("-")[0], 0.08)
    n = len(s["x"])
    cars = []
    if n:
        pick = rng.random(n) < density
        side = rng.choice([-1.0, 1.0], n)
        parked = rng.random(n) < 0.45
        offset = np.where(parked, s["hw"] - 1.3, np.minimum(s["hw"] / 2, 1.9 + 3.4 * (s["hw"] > 7.5)))
        nx, ny = -s["ty"], s["tx"]
        x = s["x"] + side * offset * nx + rng.normal(0, 0.15, n)
        y = s["y"] + side * offset * ny + rng.normal(0, 0.15, n)
        heading = np.arctan2(s["ty"], s["tx"])
        for k in np.flatnonzero(pick):
            cars.append((x[k], y[k], heading[k]))
    if len(world.driveways):
        for (x, y, h) in world.driveways[rng.random(len(world.driveways)) < 0.45]:
            cars.append((x, y, h + (np.pi if rng.random() < 0.5 else 0.0)))
    if len(world.stalls):
        full = rng.random(len(world.stalls)) < rng.uniform(0.25, 0.8)
        for (x, y, h) in world.stalls[full]:
            cars.append((x, y, h + (np.pi if rng.random() < 0.5 else 0.0)))
    if not cars:
        return
    cars = np.asarray(cars)
    if exclude is not None and len(exclude):
        from scipy.spatial import cKDTree

        d, _ = cKDTree(np.asarray(exclude)[:, :2]).query(cars[:, :2])
        cars = cars[d > 7.0]
    colours = CAR_COLOURS[rng.choice(len(CAR_COLOURS), len(cars), p=CAR_WEIGHTS / CAR_WEIGHTS.sum())]
    lengths = rng.uniform(4.0, 5.0, len(cars))
    roof_h = np.where(rng.random(len(cars)) < 0.2, 1.9, 1.45)
    _stamp_cars(c, cars, colours, lengths, roof_h, height, kind, albedo, car_rgb)


def _stamp_cars(c, cars: np.ndarray, colours: np.ndarray, lengths: np.ndarray, roof_h: np.ndarray,
                height: np.ndarray, kind: np.ndarray, albedo: np.ndarray, car_rgb: np.ndarray) -> None:
    """Stamp every car at once: a fixed window of cells around each car, tested against its box."""
    n = c.shape[0]
    half = int(np.ceil(2.6 / c.cell))
    offs = np.arange(-half, half + 1)
    col0 = np.floor(cars[:, 0] / c.cell).astype(np.int64)
    row0 = np.floor(n - cars[:, 1] / c.cell).astype(np.int64)
    rows = row0[:, None, None] + offs[None, :, None]
    cols = col0[:, None, None] + offs[None, None, :]
    inside = (rows >= 0) & (rows < n) & (cols >= 0) & (cols < n)
    rows_c, cols_c = np.clip(rows, 0, n - 1), np.clip(cols, 0, n - 1)
    dx = (cols_c + 0.5) * c.cell - cars[:, 0, None, None]
    dy = (n - rows_c - 0.5) * c.cell - cars[:, 1, None, None]
    ch, sh = np.cos(cars[:, 2])[:, None, None], np.sin(cars[:, 2])[:, None, None]
    u = dx * ch + dy * sh
    v = -dx * sh + dy * ch
    lh = (lengths / 2)[:, None, None]
    box = inside & (np.abs(u) <= lh) & (np.abs(v) <= 0.95)
    road_like = np.isin(c.material[rows_c, cols_c], (cv.ASPHALT, cv.PARKING, cv.WHITE, cv.YELLOW, cv.DRIVEWAY))
    ok = box & (kind[rows_c, cols_c] == cv.GROUND) & road_like
    # a car needs nearly all of its cells on free road, or it is not placed at all
    placed = ok.sum(axis=(1, 2)) >= 0.8 * np.maximum(box.sum(axis=(1, 2)), 1)
    # later cars must not overlap earlier ones: keep the first car claiming a cell
    sel = ok & placed[:, None, None]
    flat = (rows_c * n + cols_c)[sel]
    owner = np.broadcast_to(np.arange(len(cars))[:, None, None], sel.shape)[sel]
    first = np.full(n * n, len(cars), np.int64)
    np.minimum.at(first, flat, owner)
    keep = first[flat] == owner
    flat, owner = flat[keep], owner[keep]
    uu, vv = u[sel][keep], v[sel][keep]
    cabin = (np.abs(uu) < lengths[owner] * 0.28) & (np.abs(vv) < 0.8)
    terrain = c.terrain.reshape(-1)[flat]
    height.reshape(-1)[flat] = terrain + np.where(cabin, roof_h[owner], 0.95)
    kind.reshape(-1)[flat] = cv.CAR
    rgb = colours[owner]
    glass = cabin & ((np.abs(uu) > lengths[owner] * 0.17) | (np.abs(vv) > 0.68))
    dark = np.float32(0.12) * rgb / np.maximum(rgb.max(axis=1, keepdims=True), 1e-3) + np.float32(0.05)
    albedo.reshape(-1, 3)[flat] = np.where(glass[:, None], dark, rgb)
    car_rgb.reshape(-1, 3)[flat] = rgb
