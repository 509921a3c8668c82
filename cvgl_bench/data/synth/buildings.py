"""Buildings: houses along suburban streets, parcels filling downtown blocks, campus halls.

Every building is one or more box-like parts (footprint rectangle, eave and ridge heights, roof
type) with a facade material and a roof material drawn from correlated tables, plus window
parameters used when a facade is rendered from the ground or from a drone.
"""

from __future__ import annotations

import numpy as np

from . import canvas as cv
from .roads import Network
from .styles import FACADES, ROOF_GIVEN_FACADE, ROOFS, Style

FACADE_NAMES = tuple(FACADES)
ROOF_NAMES = tuple(ROOFS)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.asarray([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.08) -> np.ndarray:
    base = np.asarray(rgb, np.float32)
    return np.clip(base * rng.uniform(1 - amount, 1 + amount) * (1 + rng.normal(0, amount / 4, 3)), 0.02, 0.98)


def _materials(rng: np.random.Generator, style: Style, pitched: bool, tall: bool = False) -> dict[str, float]:
    mix = dict(style.facade_mix)
    if tall:
        mix["glass"] = mix.get("glass", 0.1) * 2.5 + 0.2
        mix["dark_metal"] = mix.get("dark_metal", 0.05) * 2.0 + 0.05
    facade = _pick(rng, mix)
    roof = _pick(rng, ROOF_GIVEN_FACADE["pitched" if pitched else "flat"][facade])
    f = _jitter(rng, FACADES[facade]["rgb"])
    r = _jitter(rng, ROOFS[roof], 0.1)
    curtain = FACADES[facade]["curtain"]
    return {"facade": FACADE_NAMES.index(facade), "roof_mat": ROOF_NAMES.index(roof),
            "fr": f[0], "fg": f[1], "fb": f[2], "rr": r[0], "rg": r[1], "rb": r[2],
            "win_spacing": rng.uniform(1.4, 1.8) if curtain else rng.uniform(2.4, 3.6),
            "win_w": rng.uniform(0.82, 0.92) if curtain else rng.uniform(0.35, 0.6),
            "win_h": rng.uniform(0.75, 0.88) if curtain else rng.uniform(0.4, 0.6),
            "windows": 1.0}


def _free_mask(c: cv.Canvas, road_clear: np.ndarray) -> np.ndarray:
    return (c.kind == cv.GROUND) & road_clear & (c.material != cv.WATER)


def houses(c: cv.Canvas, rng: np.random.Generator, style: Style, net: Network, road_clear: np.ndarray,
           samples: dict[str, np.ndarray]) -> None:
    """Detached houses facing the streets, with driveways, garages, pools and a few shops."""
    free = _free_mask(c, road_clear)
    building = 0
    for k, road in enumerate(net.roads):
        pts = road.points
        seg = np.hypot(*np.diff(pts, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        s = float(rng.uniform(4, 14))
        while s < cum[-1] - 6:
            lot = float(rng.uniform(*style.lot_width))
            x = np.interp(s, cum, pts[:, 0])
            y = np.interp(s, cum, pts[:, 1])
            i = min(int(np.searchsorted(cum, s)), len(pts) - 1)
            t = pts[i] - pts[max(i - 1, 0)] if i > 0 else pts[1] - pts[0]
            t = t / max(np.hypot(*t), 1e-9)
            n = np.array([-t[1], t[0]])
            theta = float(np.arctan2(t[1], t[0]))
            for side in (-1.0, 1.0):
                commercial = road.kind != "street" and rng.random() < style.parking * 3
                if commercial:
                    w, d = rng.uniform(22, 40), rng.uniform(14, 22)
                    setback = rng.uniform(18, 26)
                else:
                    w, d = rng.uniform(*style.house_w), rng.uniform(*style.house_d)
                    setback = rng.uniform(*style.setback)
                off = road.halfwidth + road.verge + road.sidewalk + setback + d / 2
                centre = np.array([x, y]) + side * n * off
                if rng.random() < style.empty_lot:
                    continue
                if not c.rect_is(centre[0], centre[1], w / 2 + 1.5, d / 2 + 1.5, theta, free):
                    continue
                building += 1
                front = -side * n  # towards the street
                if commercial:
                    _shop(c, rng, style, centre, w, d, theta, front, setback, building)
                else:
                    _house(c, rng, style, centre, w, d, theta, t, front, setback, road, building)
                free = _mark_used(c, free, centre, w / 2 + 2.0, d / 2 + 2.0, theta)
            s += lot
    _ = samples


def _mark_used(c: cv.Canvas, free: np.ndarray, centre, hx, hy, theta) -> np.ndarray:
    m = c.rect_mask(float(centre[0]), float(centre[1]), hx, hy, theta)
    if m is not None:
        rs, cs, mask, _, _ = m
        free[rs, cs][mask] = False
    return free


def _house(c, rng, style, centre, w, d, theta, t, front, setback, road, building) -> None:
    from .styles import GROUND

    storeys = int(rng.integers(style.storeys[0], style.storeys[1] + 1))
    fh = float(rng.uniform(*style.floor_height))
    base = float(c.terrain[c.index(np.array([centre[0]]), np.array([centre[1]]))][0])
    eave = base + storeys * fh + 0.4
    pitched = rng.random() < style.roof_pitched
    mats = _materials(rng, style, pitched)
    roof = (cv.ROOF_GABLE if rng.random() < 0.6 else cv.ROOF_HIP) if pitched else cv.ROOF_FLAT
    ridge = rng.uniform(0.35, 0.6) * d / 2 * 1.6
    top = eave + ridge if pitched else eave + 0.3
    common = dict(theta=theta, base=base, floor_h=fh, shop=0.0, building=building, **mats)
    c.add_part(cx=centre[0], cy=centre[1], hx=w / 2, hy=d / 2, eave=eave, top=top, roof=roof, **common)
    # attached garage on one side, with the driveway in front of it
    gside = rng.choice([-1.0, 1.0])
    gw = float(rng.uniform(3.5, 6.5))
    has_garage = rng.random() < 0.55
    along = gside * (w / 2 + gw / 2) if has_garage else gside * rng.uniform(0, w / 2 - 2)
    gcentre = centre + t * along
    if has_garage:
        gd = float(rng.uniform(5.5, min(7.0, d)))
        gc = gcentre + front * (d / 2 - gd / 2)
        g_eave = base + 2.8
        c.add_part(cx=gc[0], cy=gc[1], hx=gw / 2, hy=gd / 2, eave=g_eave,
                   top=g_eave + (1.2 if pitched else 0.2), roof=cv.ROOF_GABLE if pitched else cv.ROOF_FLAT,
                   **{**common, "windows": 0.0})
    drive_len = setback + road.sidewalk + road.verge + 0.5
    dc = gcentre + front * (d / 2 + drive_len / 2)
    rgb = np.asarray(GROUND["driveway"], np.float32) * float(rng.uniform(0.9, 1.08))
    c.paint_rect(dc[0], dc[1], min(gw, 5.0) / 2, drive_len / 2, theta, cv.DRIVEWAY, rgb, 0.02)
    spot = gcentre + front * (d / 2 + 3.2)
    c.driveways.append((float(spot[0]), float(spot[1]), float(theta + np.pi / 2)))
    _yard(c, rng, centre, w, d, theta, t, front, setback)
    if rng.random() < style.pool:
        pc = centre - front * (d / 2 + rng.uniform(4, 7))
        c.paint_rect(pc[0], pc[1], rng.uniform(2.5, 4.5), rng.uniform(1.8, 2.8), theta, cv.POOL,
                     np.asarray(GROUND["pool"], np.float32), -0.3)


FENCES = (((0.47, 0.37, 0.27), 1.8, cv.FENCE), ((0.86, 0.86, 0.83), 1.1, cv.FENCE),
          ((0.18, 0.29, 0.12), 1.9, cv.HEDGE), ((0.55, 0.53, 0.50), 1.5, cv.FENCE))


def _yard(c: cv.Canvas, rng, centre, w, d, theta, t, front, setback) -> None:
    """Fences or hedges round the back yard and shrubs by the front wall (suburban clutter that
    hides the ground beyond the street from a street-level camera)."""
    if rng.random() < 0.75:
        colour, height, material = FENCES[int(rng.choice(len(FENCES), p=[0.4, 0.15, 0.3, 0.15]))]
        rgb = np.asarray(colour, np.float32) * float(rng.uniform(0.85, 1.1))
        height = height * float(rng.uniform(0.85, 1.15))
        half_w = w / 2 + float(rng.uniform(2.0, 4.5))
        back = d / 2 + float(rng.uniform(7.0, 13.0))
        thick = 0.5 if material == cv.HEDGE else 0.3
        start = float(rng.uniform(-d / 2, d / 2 - 1.0))  # fences start beside the house
        length = back - start
        for side in (-1.0, 1.0):
            mid = centre + t * side * half_w - front * (start + length / 2)
            c.add_wall(mid[0], mid[1], thick, length / 2, theta, height, rgb, material)
        bc = centre - front * back
        c.add_wall(bc[0], bc[1], half_w, thick, theta, height, rgb, material)
    from .styles import TREES

    shrub = list(TREES).index("shrub")
    for _ in range(int(rng.integers(0, 5))):
        along = float(rng.uniform(-w / 2, w / 2))
        out = float(rng.uniform(1.0, min(3.0, setback - 1.0)))
        p = centre + t * along + front * (d / 2 + out)
        r = float(rng.uniform(0.6, 1.3))
        c.add_tree(float(p[0]), float(p[1]), r, r * float(rng.uniform(1.2, 1.8)), 0.05, shrub, False,
                   float(rng.uniform(0.85, 1.15)), np.array([0.1, rng.uniform(0, 6.3), 0.05, rng.uniform(0, 6.3)]))


def _shop(c, rng, style, centre, w, d, theta, front, setback, building) -> None:
    from .styles import GROUND

    base = float(c.terrain[c.index(np.array([centre[0]]), np.array([centre[1]]))][0])
    mats = _materials(rng, style, pitched=False)
    h = base + rng.uniform(4.5, 7.5)
    c.add_part(cx=centre[0], cy=centre[1], hx=w / 2, hy=d / 2, theta=theta, base=base, eave=h, top=h,
               roof=cv.ROOF_FLAT, floor_h=h - base, shop=1.0, building=building, **mats)
    pc = centre + front * (d / 2 + setback / 2)
    _parking(c, rng, pc, w / 2 + 4, setback / 2 - 1, theta)


def _parking(c: cv.Canvas, rng, centre, hx, hy, theta, stalls: list | None = None) -> None:
    """An asphalt lot with painted stalls (5.2 m deep, 2.6 m wide) in rows along its long side."""
    from .styles import GROUND

    m = c.rect_mask(float(centre[0]), float(centre[1]), hx, hy, theta)
    if m is None:
        return
    rs, cs, mask, u, v = m
    mask = mask & (c.kind[rs, cs] == cv.GROUND)
    base = np.asarray(GROUND["parking"], np.float32) * float(rng.uniform(0.9, 1.1))
    c.material[rs, cs][mask] = cv.PARKING
    c.albedo[rs, cs][mask] = base
    # stall lines: rows of 5.2 m with an aisle of 6.5 m
    period = 2 * 5.2 + 6.5
    vv = np.mod(v + hy, period)
    in_row = (vv < 5.2) | (vv > 5.2 + 6.5)
    line = in_row & (np.mod(u + hx, 2.6) < 0.5)
    # stall centres, for parked cars
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centres_v = [v0 for k in range(int(2 * hy / period) + 1)
                 for v0 in (-hy + k * period + 2.6, -hy + k * period + 14.3) if v0 < hy - 2.6]
    for vc in centres_v:
        for uc in np.arange(-hx + 1.3, hx - 1.2, 2.6):
            p = rot @ np.array([uc, vc]) + np.asarray(centre)
            c.stalls.append((float(p[0]), float(p[1]), float(theta + np.pi / 2)))
    paint = mask & line
    c.material[rs, cs][paint] = cv.WHITE
    c.albedo[rs, cs][paint] = np.asarray(GROUND["white_line"], np.float32) * 0.92


def parcels(c: cv.Canvas, rng: np.random.Generator, style: Style, net: Network, road_clear: np.ndarray,
            samples: dict[str, np.ndarray]) -> None:
    """Downtown: every block split into parcels; most hold a building, some a lot or a plaza."""
    free = _free_mask(c, road_clear)
    rot = np.array([[np.cos(net.rotation), -np.sin(net.rotation)], [np.sin(net.rotation), np.cos(net.rotation)]])
    cbd = net.centre + rng.uniform(-0.15, 0.15, 2) * c.size_m
    building = 0
    us, vs = net.lattice_u, net.lattice_v
    for i in range(len(us) - 1):
        for j in range(len(vs) - 1):
            u0, u1, v0, v1 = us[i], us[i + 1], vs[j], vs[j + 1]
            mid = rot @ np.array([(u0 + u1) / 2, (v0 + v1) / 2]) + net.centre
            if not (-60 < mid[0] < c.size_m + 60 and -60 < mid[1] < c.size_m + 60):
                continue
            box = _fit_block(c, free, rot, net.centre, (u0, u1, v0, v1))
            if box is None:  # a diagonal avenue runs through: parcels test themselves
                inset = float(np.mean(style.street_halfwidth) + np.mean(style.sidewalk) + 1.0)
                box = (u0 + inset, u1 - inset, v0 + inset, v1 - inset)
            cells = _split(rng, box, style.parcel_frontage)
            for (a0, a1, b0, b1) in cells:
                centre = rot @ np.array([(a0 + a1) / 2, (b0 + b1) / 2]) + net.centre
                hx, hy = (a1 - a0) / 2, (b1 - b0) / 2
                if hx < 4 or hy < 4:
                    continue
                if not c.rect_is(centre[0], centre[1], 2.0, 2.0, net.rotation, free):
                    continue
                use = rng.random()
                if use < style.parking:
                    _parking(c, rng, centre, hx - 1.0, hy - 1.0, net.rotation)
                    continue
                if use < style.parking + style.plaza + style.empty_lot:
                    _plaza(c, rng, centre, hx, hy, net.rotation, free, samples)
                    continue
                sb = float(rng.uniform(*style.parcel_setback))
                bx, by = hx - sb - 0.3, hy - sb - 0.3
                while bx > 4 and by > 4 and not c.rect_is(centre[0], centre[1], bx, by, net.rotation, free):
                    bx -= 2.0
                    by -= 2.0
                if bx <= 4 or by <= 4:
                    continue
                building += 1
                dist = np.hypot(*(centre - cbd)) / (0.5 * c.size_m)
                median = style.height_median * (1.8 * np.exp(-1.5 * dist ** 2) + 0.45)
                h = float(np.clip(median * np.exp(rng.normal(0, style.height_sigma)), 8.0, style.height_max))
                _tower(c, rng, style, centre, bx, by, net.rotation, h, building)
                free = _mark_used(c, free, centre, bx + 0.5, by + 0.5, net.rotation)


def _fit_block(c: cv.Canvas, free: np.ndarray, rot: np.ndarray, origin: np.ndarray, box):
    """Shrink a lattice cell side by side until each side runs on free ground (not street).

    Each side is moved inward in 0.5 m steps (all candidate insets tested at once) until the
    middle part of the side lies on free ground; corners follow from the neighbouring sides.
    """
    u0, u1, v0, v1 = box
    n = c.shape[0]
    insets = np.arange(0.0, 30.0, 0.5)

    def first_free(fixed: np.ndarray, along: np.ndarray, axis: int) -> float | None:
        # points (len(insets), len(along)) in lattice coordinates -> world -> free lookup
        uv = np.empty((len(insets), len(along), 2))
        uv[..., axis] = fixed[:, None]
        uv[..., 1 - axis] = along[None, :]
        xy = uv @ rot.T + origin
        col = np.floor(xy[..., 0] / c.cell).astype(np.int64)
        row = np.floor(n - xy[..., 1] / c.cell).astype(np.int64)
        inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
        ok = np.ones(col.shape, bool)
        ok[inside] = free[row[inside], col[inside]]
        good = np.flatnonzero(ok.all(axis=1))
        return float(insets[good[0]]) if len(good) else None

    mid_u = np.linspace(u0 + 0.25 * (u1 - u0), u1 - 0.25 * (u1 - u0), 24)
    mid_v = np.linspace(v0 + 0.25 * (v1 - v0), v1 - 0.25 * (v1 - v0), 24)
    a = first_free(u0 + insets, mid_v, 0)
    b = first_free(u1 - insets, mid_v, 0)
    d = first_free(v0 + insets, mid_u, 1)
    e = first_free(v1 - insets, mid_u, 1)
    if None in (a, b, d, e):
        return None
    out = (u0 + a, u1 - b, v0 + d, v1 - e)
    if out[1] - out[0] < 10 or out[3] - out[2] < 10:
        return None
    return out


def _split(rng, box, frontage):
    a0, a1, b0, b1 = box
    if a1 - a0 < 8 or b1 - b0 < 8:
        return []
    wa, wb = a1 - a0, b1 - b0
    target = rng.uniform(*frontage)
    if max(wa, wb) <= target * 1.3 and min(wa, wb) <= 2.4 * target:
        return [box]
    if wa >= wb:
        cut = a0 + wa * rng.uniform(0.35, 0.65)
        return _split(rng, (a0, cut, b0, b1), frontage) + _split(rng, (cut, a1, b0, b1), frontage)
    cut = b0 + wb * rng.uniform(0.35, 0.65)
    return _split(rng, (a0, a1, b0, cut), frontage) + _split(rng, (a0, a1, cut, b1), frontage)


def _tower(c, rng, style, centre, hx, hy, theta, h, building) -> None:
    base = float(c.terrain[c.index(np.array([centre[0]]), np.array([centre[1]]))][0])
    tall = h > 45
    mats = _materials(rng, style, pitched=False, tall=tall)
    fh = float(rng.uniform(*style.floor_height))
    common = dict(theta=theta, base=base, floor_h=fh, building=building, roof=cv.ROOF_FLAT, **mats)
    if h > 30 and rng.random() < style.podium and hx > 10 and hy > 10:
        ph = base + float(rng.uniform(7, 15))
        c.add_part(cx=centre[0], cy=centre[1], hx=hx, hy=hy, eave=ph, top=ph, shop=1.0, **common)
        shrink = float(rng.uniform(0.55, 0.8))
        off = rng.uniform(-0.15, 0.15, 2) * np.array([hx, hy])
        ct = centre + np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ off
        mats2 = _materials(rng, style, pitched=False, tall=True) if rng.random() < 0.5 else mats
        common2 = {**common, **mats2}
        c.add_part(cx=ct[0], cy=ct[1], hx=hx * shrink, hy=hy * shrink, eave=base + h, top=base + h, shop=0.0,
                   **common2)
        _roof_units(c, rng, ct, hx * shrink, hy * shrink, theta, base + h, common2)
    else:
        pitched = rng.random() < style.roof_pitched and h < 25
        roof = cv.ROOF_HIP if pitched else cv.ROOF_FLAT
        top = base + h + (min(hx, hy) * 0.5 if pitched else 0.0)
        c.add_part(cx=centre[0], cy=centre[1], hx=hx, hy=hy, eave=base + h, top=top,
                   shop=1.0 if rng.random() < 0.6 else 0.0, **{**common, "roof": roof})
        if not pitched:
            _roof_units(c, rng, centre, hx, hy, theta, base + h, common)


def _roof_units(c, rng, centre, hx, hy, theta, z, common) -> None:
    """Small boxes on flat roofs (plant rooms, HVAC units): texture for the satellite view."""
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    for _ in range(int(rng.integers(0, 4))):
        ux, uy = rng.uniform(1.0, min(5.0, hx * 0.4)), rng.uniform(1.0, min(4.0, hy * 0.4))
        off = rot @ np.array([rng.uniform(-hx + ux + 1, hx - ux - 1), rng.uniform(-hy + uy + 1, hy - uy - 1)])
        top = z + rng.uniform(1.2, 3.5)
        grey = rng.uniform(0.55, 0.8)
        c.add_part(cx=centre[0] + off[0], cy=centre[1] + off[1], hx=ux, hy=uy, eave=top, top=top,
                   **{**common, "roof": cv.ROOF_FLAT, "rr": grey, "rg": grey, "rb": grey * 0.98, "windows": 0.0, "shop": 0.0,
                      "fr": grey * 0.9, "fg": grey * 0.9, "fb": grey * 0.9})


def _plaza(c, rng, centre, hx, hy, theta, free, samples) -> None:
    from .styles import GROUND

    m = c.rect_mask(float(centre[0]), float(centre[1]), hx, hy, theta)
    if m is None:
        return
    rs, cs, mask, u, v = m
    mask = mask & free[rs, cs]
    if rng.random() < 0.5:
        rgb = np.asarray(GROUND["plaza"], np.float32) * float(rng.uniform(0.85, 1.1))
        c.material[rs, cs][mask] = cv.PLAZA
    else:
        rgb = np.asarray(GROUND["grass"], np.float32) * float(rng.uniform(0.9, 1.1))
        c.material[rs, cs][mask] = cv.GRASS
    c.albedo[rs, cs][mask] = rgb


def campus(c: cv.Canvas, rng: np.random.Generator, style: Style, net: Network, road_clear: np.ndarray,
           samples: dict[str, np.ndarray]) -> None:
    """Large halls (some L-shaped) in lawns, with parking lots beside the streets."""
    free = _free_mask(c, road_clear)
    n_try = int((c.size_m / 100.0) ** 2 * 40)
    building = 0
    # orientation follows the nearest street: take it from road samples
    for _ in range(n_try):
        k = int(rng.integers(0, len(samples["x"])))
        theta = float(np.arctan2(samples["ty"][k], samples["tx"][k]))
        off = samples["hw"][k] + rng.uniform(10, 70)
        side = rng.choice([-1.0, 1.0])
        nx, ny = -samples["ty"][k] * side, samples["tx"][k] * side
        w, d = float(rng.uniform(30, 75)), float(rng.uniform(14, 26))
        centre = np.array([samples["x"][k] + nx * (off + d / 2), samples["y"][k] + ny * (off + d / 2)])
        if rng.random() < style.parking:
            pw, pd = rng.uniform(15, 35), rng.uniform(9, 17)
            if c.rect_is(centre[0], centre[1], pw + 1, pd + 1, theta, free):
                _parking(c, rng, centre, pw, pd, theta)
                free = _mark_used(c, free, centre, pw + 1, pd + 1, theta)
            continue
        if not c.rect_is(centre[0], centre[1], w / 2 + 5, d / 2 + 5, theta, free):
            continue
        building += 1
        base = float(c.terrain[c.index(np.array([centre[0]]), np.array([centre[1]]))][0])
        storeys = int(rng.integers(style.storeys[0], style.storeys[1] + 1))
        fh = float(rng.uniform(*style.floor_height))
        h = base + storeys * fh
        pitched = rng.random() < style.roof_pitched
        mats = _materials(rng, style, pitched)
        roof = cv.ROOF_HIP if pitched else cv.ROOF_FLAT
        top = h + (d * 0.25 if pitched else 0.0)
        common = dict(theta=theta, base=base, floor_h=fh, building=building, shop=0.0, **mats)
        c.add_part(cx=centre[0], cy=centre[1], hx=w / 2, hy=d / 2, eave=h, top=top, roof=roof, **common)
        if rng.random() < 0.45:
            # a wing at one end makes an L
            t = np.array([np.cos(theta), np.sin(theta)])
            n = np.array([-np.sin(theta), np.cos(theta)])
            wl = float(rng.uniform(16, 30))
            wc = centre + t * rng.choice([-1, 1]) * (w / 2 - d / 2) + n * rng.choice([-1, 1]) * (wl / 2 + d / 2 - 1)
            if c.rect_is(wc[0], wc[1], d / 2 + 2, wl / 2 + 2, theta, free):
                c.add_part(cx=wc[0], cy=wc[1], hx=d / 2, hy=wl / 2, eave=h, top=top, roof=roof,
                           **{**common, "theta": theta})
                free = _mark_used(c, free, wc, d / 2 + 4, wl / 2 + 4, theta)
        if not pitched:
            _roof_units(c, rng, centre, w / 2, d / 2, theta, h, common)
        free = _mark_used(c, free, centre, w / 2 + 6, d / 2 + 6, theta)
