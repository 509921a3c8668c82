"""VIGOR layout (four cities; official folders, or the Sample4Geo arrangement):

    <City>/panorama/<panoId>,<lat>,<lon>,.jpg         (sample4geo: ground/<City>/...)
    <City>/satellite/satellite_<lat>_<lon>.png        (sample4geo: satellite/<City>/...)
    splits/<City>/satellite_list.txt                  every tile of the city
    splits/<City>/same_area_balanced_train.txt        13-token label lines
    splits/<City>/same_area_balanced_test.txt
    splits/<City>/pano_label_balanced.txt             every panorama of the city (cross-area)
    splits__corrected/<City>/<name>__corrected.txt    the same lines with exact offsets (SliceMatch style)

Tiles are square in metres (640 px at Web-Mercator zoom 20: about 64-76 m depending on the
latitude) and overlap by half: every panorama lies in four tiles, the positive (nearest centre)
and three semi-positives. Deltas are (tile centre - panorama) in pixels of the 640 px tile via
VIGOR's fixed ``delta_unit`` = (0.000328, 0.000433) degrees per 320 px, as in the original
labels (so they are only approximate away from Chicago's latitude, exactly like the real ones).
Cities: cross-area trains on NewYork + Seattle and tests on Chicago + SanFrancisco.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import SynthConfig
from ..geo import latlon_to_local, local_to_latlon
from ..places import ground_z, street_places
from ..rng import stream, sub_seed
from ..styles import get_style
from .. import views
from .common import (Job, Tick, build_scene, camera_yaw, random_ids, split_evenly, write_image, write_text)

LAYOUT = "vigor"
CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
CENTRES = {"Chicago": (41.8800, -87.6500), "NewYork": (40.7350, -73.9900), "SanFrancisco": (37.7700, -122.4300),
           "Seattle": (47.6150, -122.3300)}
CITY_STYLE = {"Chicago": "downtown", "NewYork": "downtown", "SanFrancisco": "suburb", "Seattle": "suburb"}
CITY_SIZE = {"Chicago": "small", "NewYork": "large", "SanFrancisco": "small", "Seattle": "large"}
DELTA_UNIT = (0.000328, 0.000433)
TILE_PX_REAL = 640
MAX_PER_TILE = 2


def tile_extent_m(lat: float) -> float:
    """Ground size of a 640 px tile at Web-Mercator zoom 20 and latitude ``lat``."""
    return TILE_PX_REAL * 156543.03392 * math.cos(math.radians(lat)) / 2 ** 20


def plan(cfg: SynthConfig) -> list[Job]:
    jobs: list[Job] = []
    for city in CITIES:
        n = cfg.counts[CITY_SIZE[city]]
        n_worlds = math.ceil(n / cfg.places_per_world)
        base = get_style(cfg.style or CITY_STYLE[city])
        city_style = base.city_variant(stream(cfg.seed, LAYOUT, "city-style", city), name=base.name)
        if city == "SanFrancisco" and cfg.style is None:
            from dataclasses import replace

            city_style = replace(city_style, terrain_amp=base.terrain_amp * 3.0)
        for d, count in enumerate(split_evenly(n, n_worlds)):
            index = len(jobs)
            style = city_style.city_variant(stream(cfg.seed, LAYOUT, "district-style", city, d), name=base.name)
            size_m = float(cfg.world_m or style.world_m)
            anchor = local_to_latlon(-size_m / 2 + d * 2500.0, -size_m / 2 - d * 900.0, CENTRES[city])
            jobs.append(Job(LAYOUT, index, style, sub_seed(cfg.seed, LAYOUT, "world", city, d), size_m,
                            (float(anchor[0]), float(anchor[1])), {"city": city, "district": d, "count": count},
                            work=count))
    return jobs


def _tile_name(lat: float, lon: float) -> str:
    return f"satellite_{float(lat)!r}_{float(lon)!r}.png"


def run(job: Job, cfg: SynthConfig, root: Path, tick: Tick) -> list[dict]:
    from ..world import build_world

    world = build_world(job.style, job.world_seed, job.world_m)
    city = job.tasks["city"]
    extent = tile_extent_m(CENTRES[city][0])
    stride = extent / 2.0
    size = job.world_m
    edge = min(job.style.margin_m, size * 0.22)
    # tile centres: a grid with half-tile stride covering the places' area plus one ring
    first = edge - stride
    n_t = int(math.floor((size - edge + stride - first) / stride)) + 1
    centres = first + stride * np.arange(n_t)
    rng = stream(cfg.seed, LAYOUT, "places", job.index)
    want = job.tasks["count"]
    keep = []
    for cap, spacing in ((MAX_PER_TILE, 9.0), (MAX_PER_TILE, 6.0), (MAX_PER_TILE + 1, 5.0), (MAX_PER_TILE + 2, 4.0)):
        cand = street_places(world, rng, want * 3, edge + 0.5, spacing=spacing, exact=False)
        per_tile: dict[tuple[int, int], int] = {}
        keep = []
        for x, y, heading in cand:
            i, j = int(round((x - first) / stride)), int(round((y - first) / stride))
            if not (1 <= i < n_t - 1 and 1 <= j < n_t - 1) or per_tile.get((i, j), 0) >= cap:
                continue
            per_tile[(i, j)] = per_tile.get((i, j), 0) + 1
            keep.append((x, y, heading, i, j))
            if len(keep) == want:
                break
        if len(keep) == want:
            break
    if len(keep) < want:
        raise RuntimeError(f"VIGOR district {city}/{job.tasks['district']}: room for {len(keep)} of {want} panoramas")
    places = np.array([k[:3] for k in keep])
    world, sat, grd = build_scene(job, cfg, "ground", exclude=places[:, :2], world=world)
    # tiles: every grid position, named by the lat/lon of its centre
    tile_lat = np.empty((n_t, n_t))
    tile_lon = np.empty((n_t, n_t))
    names: dict[tuple[int, int], str] = {}
    sat_dir = f"{city}/satellite" if cfg.vigor_layout == "official" else f"satellite/{city}"
    pano_dir = f"{city}/panorama" if cfg.vigor_layout == "official" else f"ground/{city}"
    for j in range(n_t - 1, -1, -1):
        for i in range(n_t):
            lat, lon = local_to_latlon(centres[i], centres[j], job.anchor)
            tile_lat[i, j], tile_lon[i, j] = float(lat), float(lon)
            names[(i, j)] = _tile_name(lat, lon)
            img_rng = stream(cfg.seed, LAYOUT, "tile", job.index, i, j)
            tile = views.satellite(sat, (centres[i], centres[j]), extent, cfg.satellite_px[0], img_rng)
            write_image(root, f"{sat_dir}/{names[(i, j)]}", tile, "png")
    ids = random_ids(stream(cfg.seed, LAYOUT, "pano-ids", job.index), len(keep))
    records = []
    for k, ((x, y, heading, i, j), pid) in enumerate(zip(keep, ids)):
        img_rng = stream(cfg.seed, LAYOUT, "image", job.index, k)
        cam = np.array([x, y, ground_z(world, x, y) + img_rng.uniform(2.2, 2.8)])
        pano, _ = views.panorama(grd, cam, cfg.ground_px, True, camera_yaw(cfg, img_rng), img_rng, grd.seed)
        lat, lon = local_to_latlon(x, y, job.anchor)
        lat_s, lon_s = f"{float(lat):.6f}", f"{float(lon):.6f}"
        fname = f"{pid},{lat_s},{lon_s},.jpg"
        write_image(root, f"{pano_dir}/{fname}", pano, "jpeg")
        si = 1 if x >= centres[i] else -1
        sj = 1 if y >= centres[j] else -1
        group = [(i, j), (i + si, j), (i, j + sj), (i + si, j + sj)]
        tokens = [fname]
        exact = [fname]
        px_m = extent / TILE_PX_REAL
        qx, qy = latlon_to_local(float(lat_s), float(lon_s), job.anchor)
        for (a, b) in group:
            d_lat = (tile_lat[a, b] - float(lat_s)) / (DELTA_UNIT[0] / 320.0)
            d_lon = (tile_lon[a, b] - float(lon_s)) / (DELTA_UNIT[1] / 320.0)
            tokens += [names[(a, b)], _delta(d_lat), _delta(d_lon)]
            exact += [names[(a, b)], _delta((centres[b] - qy) / px_m, 1), _delta((centres[a] - qx) / px_m, 1)]
        records.append({"city": city, "line": " ".join(tokens), "line_corrected": " ".join(exact),
                        "tile": f"{job.tasks['district']}:{i}:{j}", "world": job.index})
        tick(1)
    tiles = [names[(i, j)] for j in range(n_t - 1, -1, -1) for i in range(n_t)]
    records.append({"city": city, "tiles": tiles, "world": job.index})
    return records


def _delta(value: float, decimals: int = 0) -> str:
    v = float(np.round(value, decimals))
    return f"{v + 0.0:.1f}"


def finalize(cfg: SynthConfig, jobs: list[Job], records: list[dict], root: Path) -> dict:
    counts = {}
    for city in CITIES:
        recs = [r for r in records if r["city"] == city]
        tiles = [t for r in recs if "tiles" in r for t in r["tiles"]]
        panos = [r for r in recs if "line" in r]
        # same-area split by positive tile: no positive tile is shared between train and test
        rng = stream(cfg.seed, LAYOUT, "same-area", city)
        keys = sorted({r["tile"] for r in panos})
        keys = [keys[k] for k in rng.permutation(len(keys))]
        target = math.ceil(len(panos) * 2 / 3)
        train_keys: set[str] = set()
        n_train = 0
        by_key: dict[str, int] = {}
        for r in panos:
            by_key[r["tile"]] = by_key.get(r["tile"], 0) + 1
        for key in keys:
            if n_train >= target:
                break
            train_keys.add(key)
            n_train += by_key[key]
        train = [r for r in panos if r["tile"] in train_keys]
        test = [r for r in panos if r["tile"] not in train_keys]
        # original labels (splits/, deltas from VIGOR's delta_unit) and corrected labels
        # (splits__corrected/, exact per-city resolution), as published by SliceMatch
        for folder, key, suffix in (("splits", "line", ""), ("splits__corrected", "line_corrected", "__corrected")):
            write_text(root, f"{folder}/{city}/satellite_list.txt", tiles)
            write_text(root, f"{folder}/{city}/pano_label_balanced{suffix}.txt", [r[key] for r in panos])
            write_text(root, f"{folder}/{city}/same_area_balanced_train{suffix}.txt", [r[key] for r in train])
            write_text(root, f"{folder}/{city}/same_area_balanced_test{suffix}.txt", [r[key] for r in test])
        counts[city] = {"panoramas": len(panos), "satellites": len(tiles), "same_area_train": n_train,
                        "same_area_test": len(panos) - n_train}
    counts["same_area_train"] = sum(counts[c]["same_area_train"] for c in CITIES)
    counts["same_area_test"] = sum(counts[c]["same_area_test"] for c in CITIES)
    counts["cross_area_train"] = counts["NewYork"]["panoramas"] + counts["Seattle"]["panoramas"]
    counts["cross_area_test"] = counts["Chicago"]["panoramas"] + counts["SanFrancisco"]["panoramas"]
    return counts
