"""The raster a world is built on: grids of height, material, colour and object ids, with
helpers that stamp rotated rectangles, discs and tree crowns into them.

Grid convention: ``array[row, col]`` with row 0 at the north edge, so a slice of a grid is a
north-up image. Cell ``(r, c)`` has its centre at ``x = (c + 0.5) * cell`` (east) and
``y = (ny - r - 0.5) * cell`` (north), in metres from the world's south-west corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Materials (``Canvas.material``).
GRASS, ASPHALT, PARKING, SIDEWALK, DRIVEWAY, PLAZA, SOIL, WATER, POOL, YELLOW, WHITE, PATH, ROOF, TRUNK, FENCE, \
    HEDGE = range(16)
MATERIAL_NAMES = ("grass", "asphalt", "parking", "sidewalk", "driveway", "plaza", "soil", "water", "pool",
                  "yellow_line", "white_line", "path", "roof", "trunk", "fence", "hedge")

# Solid kinds (``Canvas.kind``).
GROUND, BUILDING, STEM, CAR = 0, 1, 2, 3

ROOF_FLAT, ROOF_GABLE, ROOF_HIP = 0, 1, 2

PART_FIELDS = ("cx", "cy", "hx", "hy", "theta", "base", "eave", "top", "roof", "facade", "roof_mat",
               "floor_h", "win_spacing", "win_w", "win_h", "shop", "building", "fr", "fg", "fb", "rr", "rg", "rb",
               "windows")


@dataclass
class Canvas:
    """Mutable grids of one world while it is being built (and after: the world's geometry)."""

    size_m: float
    cell: float = 0.5
    terrain: np.ndarray = field(init=False)
    height: np.ndarray = field(init=False)
    kind: np.ndarray = field(init=False)
    material: np.ndarray = field(init=False)
    part: np.ndarray = field(init=False)
    albedo: np.ndarray = field(init=False)
    canopy_top: np.ndarray = field(init=False)
    canopy_bottom: np.ndarray = field(init=False)
    tree: np.ndarray = field(init=False)
    parts: dict[str, list] = field(init=False)
    trees: dict[str, list] = field(init=False)

    def __post_init__(self) -> None:
        n = int(round(self.size_m / self.cell))
        self.shape = (n, n)
        self.terrain = np.zeros(self.shape, np.float32)
        self.height = np.zeros(self.shape, np.float32)
        self.kind = np.zeros(self.shape, np.uint8)
        self.material = np.zeros(self.shape, np.uint8)
        self.part = np.zeros(self.shape, np.int32)
        self.albedo = np.zeros(self.shape + (3,), np.float32)
        self.canopy_top = np.zeros(self.shape, np.float32)
        self.canopy_bottom = np.zeros(self.shape, np.float32)
        self.tree = np.zeros(self.shape, np.int32)
        self.parts = {k: [] for k in PART_FIELDS}
        self.trees = {k: [] for k in ("x", "y", "radius", "species", "shade", "crown_h", "base", "stem", "conifer")}
        self.stalls: list[tuple[float, float, float]] = []
        self.driveways: list[tuple[float, float, float]] = []
        self.xs = ((np.arange(n) + 0.5) * self.cell).astype(np.float32)
        self.ys = ((n - np.arange(n) - 0.5) * self.cell).astype(np.float32)

    # -- coordinates ---------------------------------------------------------------------------
    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest cell (row, col) of points, clipped to the grid."""
        n = self.shape[0]
        col = np.clip(np.floor(np.asarray(x) / self.cell).astype(np.int64), 0, n - 1)
        row = np.clip(np.floor(n - np.asarray(y) / self.cell).astype(np.int64), 0, n - 1)
        return row, col

    def window(self, x: float, y: float, radius: float) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        """Slices of the cells within ``radius`` (box) of (x, y), with their centre coordinates."""
        n = self.shape[0]
        c0 = max(0, int(np.floor((x - radius) / self.cell)))
        c1 = min(n, int(np.ceil((x + radius) / self.cell)) + 1)
        r0 = max(0, int(np.floor(n - (y + radius) / self.cell)))
        r1 = min(n, int(np.ceil(n - (y - radius) / self.cell)) + 1)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1), self.xs[c0:c1][None, :], self.ys[r0:r1][:, None]

    def rect_mask(self, cx: float, cy: float, hx: float, hy: float, theta: float):
        """Cells inside a rotated rectangle: (rows slice, cols slice, mask, u, v) or None."""
        radius = float(np.hypot(hx, hy))
        win = self.window(cx, cy, radius)
        if win is None:
            return None
        rs, cs, xs, ys = win
        c, s = np.cos(theta), np.sin(theta)
        dx, dy = xs - cx, ys - cy
        u = dx * c + dy * s
        v = -dx * s + dy * c
        mask = (np.abs(u) <= hx) & (np.abs(v) <= hy)
        return rs, cs, mask, u, v

    def rect_is(self, cx: float, cy: float, hx: float, hy: float, theta: float, ok: np.ndarray) -> bool:
        """Whether every cell of the rectangle is True in ``ok`` (and the rectangle is in the world)."""
        m = self.rect_mask(cx, cy, hx, hy, theta)
        if m is None:
            return False
        rs, cs, mask, _, _ = m
        if not mask.any():
            return False
        span = np.hypot(hx, hy)
        if cx - span < 0 or cy - span < 0 or cx + span > self.size_m or cy + span > self.size_m:
            return False
        return bool(np.all(ok[rs, cs][mask]))

    # -- stamping ------------------------------------------------------------------------------
    def paint_rect(self, cx: float, cy: float, hx: float, hy: float, theta: float, material: int,
                   rgb: np.ndarray, raise_by: float = 0.0) -> None:
        """Flat ground cover (driveway, parking, pool...) inside a rotated rectangle."""
        m = self.rect_mask(cx, cy, hx, hy, theta)
        if m is None:
            return
        rs, cs, mask, _, _ = m
        free = mask & (self.kind[rs, cs] == GROUND)
        self.material[rs, cs][free] = material
        self.albedo[rs, cs][free] = rgb
        if raise_by:
            self.height[rs, cs][free] = self.terrain[rs, cs][free] + raise_by

    def add_wall(self, cx: float, cy: float, hx: float, hy: float, theta: float, height: float, rgb: np.ndarray,
                 material: int) -> None:
        """A low solid (fence, hedge, garden wall) on open ground inside a rotated rectangle."""
        m = self.rect_mask(cx, cy, hx, hy, theta)
        if m is None:
            return
        rs, cs, mask, _, _ = m
        ok = mask & (self.kind[rs, cs] == GROUND) & np.isin(self.material[rs, cs], (GRASS, SOIL, PLAZA))
        self.height[rs, cs][ok] = self.terrain[rs, cs][ok] + height
        self.material[rs, cs][ok] = material
        self.albedo[rs, cs][ok] = rgb

    def add_part(self, **p: float) -> int:
        """Stamp one box-like building part (flat, gable or hip roof) and record it; returns its id."""
        m = self.rect_mask(p["cx"], p["cy"], p["hx"], p["hy"], p["theta"])
        pid = len(self.parts["cx"]) + 1
        for key in PART_FIELDS:
            self.parts[key].append(float(p.get(key, 0.0)))
        if m is None:
            return pid
        rs, cs, mask, u, v = m
        eave, top = p["eave"], p["top"]
        roof = int(p["roof"])
        if roof == ROOF_FLAT:
            val = np.full(u.shape, top, np.float32)
        elif roof == ROOF_GABLE:
            val = eave + (top - eave) * (1.0 - np.abs(v) / p["hy"])
        else:
            slope = (top - eave) / min(p["hx"], p["hy"])
            val = np.minimum(eave + slope * np.minimum(p["hy"] - np.abs(v), p["hx"] - np.abs(u)), top)
        val = val.astype(np.float32)
        h = self.height[rs, cs]
        write = mask & (val > h - 1e-3)
        h[write] = val[write]
        self.kind[rs, cs][write] = BUILDING
        self.part[rs, cs][write] = pid
        self.material[rs, cs][write] = ROOF
        roof_rgb = np.array([p["rr"], p["rg"], p["rb"]], np.float32)
        alb = self.albedo[rs, cs]
        if roof == ROOF_FLAT:
            # a parapet rim a shade lighter than the membrane
            rim = (np.abs(u) > p["hx"] - 0.6) | (np.abs(v) > p["hy"] - 0.6)
            shade = np.where(rim, 1.12, 1.0).astype(np.float32)
            h[write & rim] += 0.6
        else:
            # darker courses toward the eaves
            frac = np.clip(np.abs(v) / p["hy"], 0, 1)
            shade = (1.0 - 0.12 * frac + 0.04 * np.cos(np.abs(v) * 7.0)).astype(np.float32)
        alb[write] = roof_rgb[None, :] * shade[write][:, None]
        return pid

    def add_tree(self, x: float, y: float, radius: float, crown_h: float, stem_h: float, species: int,
                 conifer: bool, shade: float, lobes: np.ndarray) -> None:
        """Stamp a tree: a crown (ellipsoid or cone, with a lobed outline) over a one-cell stem."""
        win = self.window(x, y, radius * 1.2)
        if win is None:
            return
        rs, cs, xs, ys = win
        tid = len(self.trees["x"]) + 1
        base = float(self.terrain[self.index(np.array([x]), np.array([y]))][0])
        for key, value in (("x", x), ("y", y), ("radius", radius), ("species", species), ("shade", shade),
                           ("crown_h", crown_h), ("base", base), ("stem", stem_h), ("conifer", float(conifer))):
            self.trees[key].append(float(value))
        dx, dy = xs - x, ys - y
        ang = np.arctan2(dy, dx)
        r_local = radius * (1.0 + lobes[0] * np.sin(3 * ang + lobes[1]) + lobes[2] * np.sin(5 * ang + lobes[3]))
        rho = np.hypot(dx, dy) / r_local
        inside = rho < 1.0
        if not inside.any():
            return
        bottom_z = base + stem_h
        if conifer:
            top = bottom_z + crown_h * (1.0 - rho)
            bot = np.full(rho.shape, bottom_z, np.float32)
        else:
            half = crown_h / 2.0
            mid = bottom_z + half
            prof = np.sqrt(np.clip(1.0 - rho ** 2, 0.0, 1.0))
            top = mid + half * prof
            bot = mid - 0.55 * half * prof
        ct = self.canopy_top[rs, cs]
        cb = self.canopy_bottom[rs, cs]
        tr = self.tree[rs, cs]
        empty = tr == 0
        new_top = inside & (top > ct)
        cb[inside & empty] = bot[inside & empty]
        cb[inside & ~empty] = np.minimum(cb[inside & ~empty], bot[inside & ~empty])
        ct[new_top] = top[new_top]
        tr[new_top] = tid
        # the stem: one cell, solid up into the crown
        r, c = self.index(np.array([x]), np.array([y]))
        if self.kind[r[0], c[0]] == GROUND:
            self.height[r[0], c[0]] = max(float(self.height[r[0], c[0]]), bottom_z + 0.3 * crown_h)
            self.kind[r[0], c[0]] = STEM

    def parts_array(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float32) for k, v in self.parts.items()}

    def trees_array(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float32) for k, v in self.trees.items()}
