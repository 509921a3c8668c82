"""Ray casting a capture of a world from a point, for a grid of (azimuth, elevation) rays.

Rays of one image column share an azimuth, so they cross the same cells: the world is sampled
once per (column, distance step) and every row of the column is resolved against those
samples (voxel-space style, vectorised over all columns at once). Solid ground, buildings and
cars form one height field; tree crowns form a second layer with a bottom, so a street-level
camera sees under them. Hits are classified as sky, top surface, wall or crown and shaded:
tops from the capture's precomputed radiance (mip-mapped by footprint), walls from the
building part (exact wall intersection, windows, sun and shadow), crowns from their colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import canvas as cv
from .capture import Capture
from .rng import stream

SKY, TOP, WALL, CROWN = 0, 1, 2, 3


def _crown_profile(trees: dict, tree: np.ndarray, has: np.ndarray, px: np.ndarray, py: np.ndarray):
    """Exact crown top and bottom heights at sample points (smooth outlines at any distance).

    The raster says which tree a cell belongs to; the height comes from that tree's analytic
    ellipsoid (or cone) at the sample's exact position, so near crowns are round, not blocky.
    """
    t = np.where(has, tree - 1, 0)
    rho = np.hypot(px - trees["x"][t], py - trees["y"][t]) / np.maximum(trees["radius"][t], 0.1)
    inside = has & (rho < 1.0)
    bottom = trees["base"][t] + trees["stem"][t]
    crown = trees["crown_h"][t]
    conifer = trees["conifer"][t] > 0
    prof = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    top = np.where(conifer, bottom + crown * (1.0 - rho), bottom + crown * (0.5 + 0.5 * prof))
    bot = np.where(conifer, bottom, bottom + crown * 0.5 * (1.0 - 0.55 * prof))
    top = np.where(inside, top, -1e4).astype(np.float32)
    bot = np.where(inside, bot, 1e4).astype(np.float32)
    return top, bot


def step_distances(near: float, far: float, fine: float = 0.25, ratio: float = 0.018) -> np.ndarray:
    """Horizontal sample distances: ``fine`` spacing near the camera, growing geometrically."""
    out = [near]
    while out[-1] < far:
        out.append(out[-1] + max(fine, out[-1] * ratio))
    return np.asarray(out, np.float32)


@dataclass
class Hits:
    """Per-pixel result of a cast (arrays shaped like the image, rows x columns)."""

    cls: np.ndarray
    dist: np.ndarray
    """Horizontal distance from the camera to the hit (m)."""
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    row: np.ndarray
    col: np.ndarray
    front_row: np.ndarray
    front_col: np.ndarray
    """Cell just in front of the hit (toward the camera): where a wall's shadow is read."""
    inside: np.ndarray


def cast(cap: Capture, cam: np.ndarray, az: np.ndarray, el: np.ndarray, dists: np.ndarray) -> Hits:
    """First hit of every ray (el rows x az columns) from ``cam`` = (x, y, z) in metres."""
    w = cap.world
    c = w.canvas
    n = c.shape[0]
    cx, cy, cz = (float(v) for v in cam)
    S, C, R = len(dists), len(az), len(el)
    sa, ca = np.sin(az).astype(np.float32), np.cos(az).astype(np.float32)
    px = cx + dists[:, None] * sa[None, :]
    py = cy + dists[:, None] * ca[None, :]
    col = np.floor(px / c.cell).astype(np.int64)
    row = np.floor(n - py / c.cell).astype(np.int64)
    inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
    rowc, colc = np.clip(row, 0, n - 1), np.clip(col, 0, n - 1)
    hs = np.where(inside, cap.height[rowc, colc], 0.0).astype(np.float32)
    d2 = dists[:, None]
    tan_el = np.tan(el).astype(np.float32)
    # solid layer: first step whose running-max elevation angle reaches each row's elevation
    e_solid = np.arctan2(hs - cz, d2)
    run = np.maximum.accumulate(e_solid, axis=0)  # (S, C), non-decreasing along S
    offset = (4.0 * np.arange(C, dtype=np.float64))
    flat = (run.T.astype(np.float64) + offset[:, None]).ravel()
    queries = (el.astype(np.float64)[:, None] + offset[None, :])  # (R, C)
    s_solid = np.searchsorted(flat, queries.ravel(), side="left").reshape(R, C) - (np.arange(C) * S)[None, :]
    s_solid = np.minimum(s_solid, S)
    # crown layer: dense test on the steps where a visible crown is present (a crown entirely
    # below the solid horizon of the nearer steps cannot be seen and is skipped)
    tree = np.where(inside, cap.tree[rowc, colc], 0)
    has = tree > 0
    s_crown = np.full((R, C), S, np.int64)
    if has.any():
        ct, cb = _crown_profile(w.trees, tree, has, px, py)
        e_top_all = np.arctan2(ct - cz, d2)
        horizon = np.empty_like(run)
        horizon[0] = -9.0
        horizon[1:] = run[:-1]
        has &= e_top_all > horizon
    if has.any():
        k_max = int(has.sum(axis=0).max())
        order = np.argsort(~has, axis=0, kind="stable")[:k_max]  # (K, C) step indices, crown steps first
        valid = np.take_along_axis(has, order, axis=0)
        dk = dists[order]
        e_top = np.take_along_axis(e_top_all, order, axis=0)
        e_bot = np.arctan2(np.take_along_axis(cb, order, axis=0) - cz, dk)
        e_top = np.where(valid, e_top, -9.0).astype(np.float32).T  # (C, K)
        e_bot = np.where(valid, e_bot, 9.0).astype(np.float32).T
        el32 = el.astype(np.float32)[None, :, None]
        s_crown_cr = np.full((C, R), S, np.int64)
        # column chunks bound the (columns x rows x crown steps) test to about 32 MB
        chunk = max(1, int(32_000_000 // max(1, R * k_max)))
        for c0 in range(0, C, chunk):
            c1 = min(C, c0 + chunk)
            hit = (e_bot[c0:c1, None, :] <= el32) & (el32 <= e_top[c0:c1, None, :])  # (c, R, K)
            first = hit.argmax(axis=2)
            any_hit = np.take_along_axis(hit, first[..., None], axis=2)[..., 0]
            s_first = order[first, np.arange(c0, c1)[:, None]]
            s_crown_cr[c0:c1] = np.where(any_hit, s_first, S)
        s_crown = s_crown_cr.T
    crown_first = s_crown < s_solid
    s_hit = np.where(crown_first, s_crown, s_solid)
    sky = s_hit >= S
    s_idx = np.minimum(s_hit, S - 1)
    cols_idx = np.broadcast_to(np.arange(C)[None, :], (R, C))
    d_hit = dists[s_idx]
    d_prev = dists[np.maximum(s_idx - 1, 0)]
    h_at = hs[s_idx, cols_idx]
    z_prev = cz + d_prev * tan_el[:, None]
    solid = ~sky & ~crown_first
    from_above = solid & ((z_prev > h_at) | (s_idx == 0))
    wall = solid & ~from_above
    # exact distance for tops of flat ground: where the ray crosses the surface height
    down = tan_el[:, None] < -1e-6
    d_top = np.where(down, (cz - h_at) / np.where(down, -tan_el[:, None], 1.0), d_hit)
    d_top = np.clip(d_top, np.where(s_idx > 0, d_prev, 0.0), d_hit)
    dist = np.where(from_above, d_top, np.where(wall, 0.5 * (d_prev + d_hit), d_hit)).astype(np.float32)
    x = cx + dist * sa[None, :]
    y = cy + dist * ca[None, :]
    z = (cz + dist * tan_el[:, None]).astype(np.float32)
    cls = np.where(sky, SKY, np.where(crown_first, CROWN, np.where(wall, WALL, TOP))).astype(np.int8)
    r_, c_ = row[s_idx, cols_idx], col[s_idx, cols_idx]
    fr, fc = row[np.maximum(s_idx - 1, 0), cols_idx], col[np.maximum(s_idx - 1, 0), cols_idx]
    ins = inside[s_idx, cols_idx]
    return Hits(cls, dist, x, y, z, np.clip(r_, 0, n - 1), np.clip(c_, 0, n - 1), np.clip(fr, 0, n - 1),
                np.clip(fc, 0, n - 1), ins)


def _hash(*vals: np.ndarray) -> np.ndarray:
    """Cheap deterministic per-element hash in [0, 1) of integer-valued arrays."""
    acc = np.zeros(np.broadcast(*vals).shape, np.float64)
    for k, v in enumerate(vals):
        acc = acc + np.asarray(v, np.float64) * (12.9898, 78.233, 37.719, 4.1414)[k % 4]
    return np.mod(np.sin(acc) * 43758.5453, 1.0).astype(np.float32)


def sample_mip(levels: list[np.ndarray], cell: float, x: np.ndarray, y: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Radiance at points (x, y) from a mip pyramid, the level chosen by the pixel footprint (m)."""
    n = levels[0].shape[0]
    lev = np.clip(np.floor(np.log2(np.maximum(footprint, 1e-6) / cell)), 0, len(levels) - 1).astype(np.int64)
    out = np.zeros(x.shape + (3,), np.float32)
    for k, img in enumerate(levels):
        sel = lev == k
        if not sel.any():
            continue
        size = cell * (2 ** k)
        m = img.shape[0]
        fx = x[sel] / size - 0.5
        fy = (n * cell - y[sel]) / size - 0.5
        x0 = np.floor(fx).astype(np.int64)
        y0 = np.floor(fy).astype(np.int64)
        ax = (fx - x0).astype(np.float32)[:, None]
        ay = (fy - y0).astype(np.float32)[:, None]
        x0c, x1c = np.clip(x0, 0, m - 1), np.clip(x0 + 1, 0, m - 1)
        y0c, y1c = np.clip(y0, 0, m - 1), np.clip(y0 + 1, 0, m - 1)
        out[sel] = ((img[y0c, x0c] * (1 - ax) + img[y0c, x1c] * ax) * (1 - ay)
                    + (img[y1c, x0c] * (1 - ax) + img[y1c, x1c] * ax) * ay)
    return out


def sky_colour(cap: Capture, az: np.ndarray, el: np.ndarray, cam: np.ndarray, cloud_seed: int) -> np.ndarray:
    """Sky radiance for directions (arrays of equal shape): gradient, sun glow, clouds."""
    light = cap.light
    e = np.clip(el, 0.0, np.pi / 2)
    t = (e / (np.pi / 2)) ** 0.45
    col = light.horizon_rgb * (1 - t[..., None]) + light.zenith_rgb * t[..., None]
    d = np.stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], -1)
    cosang = np.clip(d @ light.sun_vec, -1.0, 1.0)
    ang = np.arccos(cosang)
    glow = 0.5 * np.exp(-ang / 0.12) + 0.18 * np.exp(-ang / 0.7)
    col = col + glow[..., None] * light.sun_rgb * 0.6
    if light.cloud_cover > 0.02:
        rng = stream(cloud_seed, "clouds")
        tex = _cloud_texture(rng)
        h = 900.0
        up = np.maximum(np.sin(el), 0.03)
        reach = h * np.cos(el) / up
        u = (cam[0] + reach * np.sin(az)) / 2400.0
        v = (cam[1] + reach * np.cos(az)) / 2400.0
        m = tex.shape[0]
        fu, fv = np.mod(u, 1.0) * m, np.mod(v, 1.0) * m
        u0, v0 = np.floor(fu).astype(np.int64), np.floor(fv).astype(np.int64)
        au, av = (fu - u0).astype(np.float32), (fv - v0).astype(np.float32)
        u0, v0, u1, v1 = u0 % m, v0 % m, (u0 + 1) % m, (v0 + 1) % m
        dens = (tex[v0, u0] * (1 - au) + tex[v0, u1] * au) * (1 - av) + (tex[v1, u0] * (1 - au) + tex[v1, u1] * au) * av
        cover = np.clip((dens - (1.0 - light.cloud_cover)) * 3.0, 0.0, 1.0) * np.clip(np.sin(el) * 12, 0, 1)
        cloud = (0.78 + 0.22 * dens)[..., None] * np.array([0.95, 0.95, 0.97], np.float32) * \
            (0.55 + 0.45 * light.sun_rgb.mean())
        col = col * (1 - cover[..., None]) + cloud * cover[..., None]
    return col.astype(np.float32)


_CLOUDS: dict[int, np.ndarray] = {}


def _cloud_texture(rng: np.random.Generator) -> np.ndarray:
    from .noise import fbm

    key = int(rng.integers(0, 2**31 - 1))
    if key not in _CLOUDS:
        if len(_CLOUDS) > 8:
            _CLOUDS.clear()
        tex = fbm(stream(key, "tex"), (256, 256), (64.0, 24.0, 8.0, 3.0), gain=0.55)
        _CLOUDS[key] = np.clip(tex * 0.5 + 0.5, 0, 1)
    return _CLOUDS[key]


def shade(cap: Capture, hits: Hits, cam: np.ndarray, az: np.ndarray, el: np.ndarray, pixel_angle: float,
          cloud_seed: int, far_skyline: np.ndarray | None = None) -> np.ndarray:
    """Radiance image (rows x columns x 3) for the hits of :func:`cast`."""
    w = cap.world
    c = w.canvas
    light = cap.light
    R, C = hits.cls.shape
    AZ = np.broadcast_to(az[None, :], (R, C))
    EL = np.broadcast_to(el[:, None], (R, C))
    cos_el = np.maximum(np.cos(EL), 1e-3)
    slant = hits.dist / cos_el
    footprint = slant * pixel_angle / np.sqrt(np.maximum(np.abs(np.sin(EL)), 0.06))
    out = np.zeros((R, C, 3), np.float32)

    sky = hits.cls == SKY
    if sky.any():
        out[sky] = sky_colour(cap, AZ[sky], EL[sky], cam, cloud_seed)
        if far_skyline is not None:
            low = sky & (EL < far_skyline[None, :])
            if low.any():
                far = light.haze_rgb * 0.82
                out[low] = out[low] * 0.25 + far * 0.75

    top = hits.cls == TOP
    if top.any():
        inside = hits.inside[top]
        rad = sample_mip(cap.ground, c.cell, hits.x[top], hits.y[top], footprint[top])
        outside = np.asarray(cap.ground[-1].reshape(-1, 3).mean(0))
        rad[~inside] = outside
        # asphalt grain and a little per-pixel texture near the camera
        near = footprint[top] < 0.12
        if near.any():
            gx = np.floor(hits.x[top][near] * 10)
            gy = np.floor(hits.y[top][near] * 10)
            rad[near] *= (0.9 + 0.2 * _hash(gx, gy, cap.seed % 1000))[:, None]
        out[top] = rad

    crown = hits.cls == CROWN
    if crown.any():
        r_, c_ = hits.row[crown], hits.col[crown]
        base = sample_mip(cap.surface, c.cell, hits.x[crown], hits.y[crown], footprint[crown] * 0.5)
        ct, cb = c.canopy_top[r_, c_], c.canopy_bottom[r_, c_]
        f = np.clip((hits.z[crown] - cb) / np.maximum(ct - cb, 0.3), 0, 1)
        leaf = 0.75 + 0.5 * _hash(np.floor(hits.x[crown] * 1.5), np.floor(hits.y[crown] * 1.5),
                                  np.floor(hits.z[crown] * 1.5))
        mix = np.clip(footprint[crown] / 1.5, 0, 1)
        leaf = leaf * (1 - mix) + mix
        out[crown] = base * ((0.5 + 0.5 * f) * leaf)[:, None]

    wall = hits.cls == WALL
    if wall.any():
        out[wall] = _walls(cap, hits, wall, cam, AZ[wall], EL[wall], footprint[wall])

    # aerial perspective
    hit = ~sky
    if hit.any():
        fog = 1.0 - np.exp(-slant[hit] / light.visibility)
        out[hit] = out[hit] * (1 - fog[:, None]) + light.haze_rgb[None, :] * fog[:, None] * 1.05
    return out


def _walls(cap: Capture, hits: Hits, sel: np.ndarray, cam: np.ndarray, az: np.ndarray, el: np.ndarray,
           footprint: np.ndarray) -> np.ndarray:
    w = cap.world
    c = w.canvas
    light = cap.light
    r_, c_ = hits.row[sel], hits.col[sel]
    kind = cap.kind[r_, c_]
    x, y, z = hits.x[sel], hits.y[sel], hits.z[sel]
    out = np.zeros((len(x), 3), np.float32)
    sun = light.sun_vec
    amb = light.sky_rgb * 0.75 + 0.06

    # cars, stems, curbs: a darkened version of their top colour
    other = kind != cv.BUILDING
    if other.any():
        car = kind[other] == cv.CAR
        base = sample_mip(cap.ground, c.cell, x[other], y[other], footprint[other])
        bark = np.array([0.22, 0.17, 0.12], np.float32) * (light.sun_rgb * 0.3 + amb)
        col = np.where((kind[other] == cv.STEM)[:, None], bark, base * 0.72)
        carcol = cap.car_rgb[r_[other], c_[other]] * (light.sun_rgb * 0.35 + amb * 0.9)
        rel = z[other] - c.terrain[r_[other], c_[other]]
        carcol = np.where((rel > 0.95)[:, None], carcol * 0.25 + 0.04, carcol)
        carcol = np.where((rel < 0.38)[:, None], np.float32(0.05), carcol)
        out[other] = np.where(car[:, None], carcol, col)

    bsel = ~other
    if not bsel.any():
        return out
    pid = c.part[r_[bsel], c_[bsel]] - 1
    P = {k: v[pid] for k, v in w.parts.items()}
    th = P["theta"]
    ct, st = np.cos(th), np.sin(th)
    ox = (cam[0] - P["cx"]) * ct + (cam[1] - P["cy"]) * st
    oy = -(cam[0] - P["cx"]) * st + (cam[1] - P["cy"]) * ct
    dxw, dyw = np.sin(az[bsel]), np.cos(az[bsel])
    dx = dxw * ct + dyw * st
    dy = -dxw * st + dyw * ct
    with np.errstate(divide="ignore", invalid="ignore"):
        tu = np.minimum((-P["hx"] - ox) / dx, (P["hx"] - ox) / dx)
        tv = np.minimum((-P["hy"] - oy) / dy, (P["hy"] - oy) / dy)
    tu = np.where(np.isfinite(tu), tu, -1e9)
    tv = np.where(np.isfinite(tv), tv, -1e9)
    use_u = tu >= tv
    t = np.maximum(tu, tv)
    d_cast = hits.dist[sel][bsel]
    ok = (t > 0) & (np.abs(t - d_cast) < 2.5)
    t = np.where(ok, t, d_cast)
    lx, ly = ox + t * dx, oy + t * dy
    along = np.where(use_u, ly + P["hy"], lx + P["hx"])
    width = np.where(use_u, 2 * P["hy"], 2 * P["hx"])
    nlx = np.where(use_u, -np.sign(dx), 0.0)
    nly = np.where(use_u, 0.0, -np.sign(dy))
    nx = nlx * ct - nly * st
    ny = nlx * st + nly * ct
    zw = cam[2] + t * np.tan(el[bsel])
    zrel = zw - P["base"]
    fh = np.maximum(P["floor_h"], 2.5)
    floor = np.floor(zrel / fh)
    fz = zrel / fh - floor
    spacing = np.maximum(P["win_spacing"], 1.0)
    ncols = np.floor(width / spacing)
    margin = (width - ncols * spacing) / 2
    fu = (along - margin) / spacing
    wcol = np.floor(fu)
    frac_u = fu - wcol
    sill = np.where(P["win_w"] > 0.8, (1 - P["win_h"]) / 2, 0.32)
    shopfloor = (P["shop"] > 0) & (floor == 0)
    win = (P["windows"] > 0) & (wcol >= 0) & (wcol < ncols) & (zw < P["eave"] - 0.5) & (zrel > 0.3)
    win &= np.where(shopfloor, (np.abs(frac_u - 0.5) < 0.45) & (fz > 0.08) & (fz < 0.85),
                    (np.abs(frac_u - 0.5) < P["win_w"] / 2) & (fz > sill) & (fz < sill + P["win_h"]))
    wall_rgb = np.stack([P["fr"], P["fg"], P["fb"]], -1)
    wall_rgb = wall_rgb * (0.93 + 0.1 * _hash(np.floor(along * 2), np.floor(zw * 2), pid))[:, None]
    slab = (fz < 0.06) & (P["win_w"] < 0.8) & (zrel > 1.0)
    wall_rgb = np.where(slab[:, None], wall_rgb * 0.85, wall_rgb)
    hsh = _hash(wcol, floor, pid)
    glass = (light.horizon_rgb * (0.35 + 0.4 * hsh[:, None]) + 0.04) * 0.55 + np.array([0.02, 0.03, 0.05])
    # far away the window pattern blends into its average colour
    cover = np.clip(P["win_w"] * P["win_h"], 0, 1)[:, None] * (P["windows"] > 0)[:, None]
    blend = np.clip((footprint[bsel] / spacing - 0.4) / 0.6, 0, 1)[:, None]
    sharp = np.where(win[:, None], glass, wall_rgb)
    mean = wall_rgb * (1 - cover) + (light.horizon_rgb * 0.55 * 0.55 + 0.04) * cover
    albedo = sharp * (1 - blend) + mean * blend
    ndotl = np.clip(nx * sun[0] + ny * sun[1], 0, 1)
    fr, fc = hits.front_row[sel][bsel], hits.front_col[sel][bsel]
    lit = (zw >= cap.zs[fr, fc] - 0.1).astype(np.float32)
    light_rgb = ndotl[:, None] * lit[:, None] * light.sun_rgb + amb * (0.55 + 0.12 * ny[:, None])
    glass_now = win & (blend[:, 0] < 0.5)
    rad = albedo * light_rgb
    rad = np.where(glass_now[:, None], sharp * (0.8 + 0.4 * lit[:, None] * ndotl[:, None]), rad)
    out[bsel] = rad
    return out
