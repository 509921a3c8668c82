"""CVUSA layout (CVPR'17 "19zl" subset):

    splits/train-19zl.csv, splits/val-19zl.csv    bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,streetview/annotations/<id>.png
    split_locations/all.csv                       row r <-> id r+1: sat lat, sat lon, pano lat, pano lon, heading
    bingmap/19/<7-digit id>.jpg                   satellite tile (north-up)
    streetview/panos/<7-digit id>.jpg             north-aligned panorama (vertical crop)
    streetview/annotations/<7-digit id>.png       segmentation of the panorama
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import SynthConfig
from ..geo import local_to_latlon
from ..places import ground_z, street_places
from ..rng import stream, sub_seed
from .. import views
from .common import (Job, Tick, build_scene, camera_yaw, fmt, margin, satellite_offset, split_evenly,
                     world_size, world_style, write_image, write_text)

LAYOUT = "cvusa"


def plan(cfg: SynthConfig) -> list[Job]:
    n_train, n_test = cfg.counts["train"], cfg.counts["test"]
    per = cfg.places_per_world
    n_tw, n_sw = math.ceil(n_train / per), math.ceil(n_test / per)
    ids = stream(cfg.seed, LAYOUT, "ids").permutation(n_train + n_test) + 1
    train_ids, test_ids = np.sort(ids[:n_train]), np.sort(ids[n_train:])
    id_rng = stream(cfg.seed, LAYOUT, "id-order")
    train_ids, test_ids = id_rng.permutation(train_ids), id_rng.permutation(test_ids)
    jobs: list[Job] = []
    for role, n_worlds, pool in (("train", n_tw, train_ids), ("test", n_sw, test_ids)):
        counts = split_evenly(len(pool), n_worlds)
        start = 0
        for k, count in enumerate(counts):
            index = len(jobs)
            style = world_style(cfg, "suburb", index)
            rng = stream(cfg.seed, LAYOUT, "anchor", index)
            anchor = (float(rng.uniform(30.0, 46.5)), float(rng.uniform(-122.0, -76.0)))
            jobs.append(Job(LAYOUT, index, style, sub_seed(cfg.seed, LAYOUT, "world", index),
                            world_size(cfg, style), anchor,
                            {"role": role, "ids": [int(i) for i in pool[start:start + count]]}, work=count))
            start += count
    return jobs


def run(job: Job, cfg: SynthConfig, root: Path, tick: Tick) -> list[dict]:
    from ..world import build_world

    world = build_world(job.style, job.world_seed, job.world_m)
    ids = job.tasks["ids"]
    rng = stream(cfg.seed, LAYOUT, "places", job.index)
    places = street_places(world, rng, len(ids), margin(job.style, job.world_m))
    world, sat, grd = build_scene(job, cfg, "ground", exclude=places[:, :2], world=world)
    records = []
    for k, (pid, (x, y, heading)) in enumerate(zip(ids, places)):
        img_rng = stream(cfg.seed, LAYOUT, "image", job.index, k)
        cam = np.array([x, y, ground_z(world, x, y) + img_rng.uniform(2.0, 2.6)])
        pano, labels = views.panorama(grd, cam, cfg.ground_px, False, camera_yaw(cfg, img_rng), img_rng,
                                      grd.seed, want_labels=True)
        off = satellite_offset(cfg, img_rng)
        tile = views.satellite(sat, (x + off[0], y + off[1]), cfg.satellite_extent_m, cfg.satellite_px[0], img_rng)
        name = f"{pid:07d}"
        write_image(root, f"bingmap/19/{name}.jpg", tile, "jpeg")
        write_image(root, f"streetview/panos/{name}.jpg", pano, "jpeg")
        write_image(root, f"streetview/annotations/{name}.png", labels, "png")
        lat, lon = local_to_latlon(x, y, job.anchor)
        slat, slon = local_to_latlon(x + off[0], y + off[1], job.anchor)
        records.append({"id": pid, "role": job.tasks["role"], "lat": float(lat), "lon": float(lon),
                        "sat_lat": float(slat), "sat_lon": float(slon), "heading": float(heading),
                        "world": job.index})
        tick(1)
    return records


def finalize(cfg: SynthConfig, jobs: list[Job], records: list[dict], root: Path) -> dict:
    by_id = {r["id"]: r for r in records}
    n = len(by_id)
    if sorted(by_id) != list(range(1, n + 1)):
        raise RuntimeError("CVUSA ids are not 1..N")

    def line(i: int) -> str:
        name = f"{i:07d}"
        return f"bingmap/19/{name}.jpg,streetview/panos/{name}.jpg,streetview/annotations/{name}.png"

    write_text(root, "splits/train-19zl.csv", [line(i) for i in sorted(i for i, r in by_id.items()
                                                                        if r["role"] == "train")])
    write_text(root, "splits/val-19zl.csv", [line(i) for i in sorted(i for i, r in by_id.items()
                                                                      if r["role"] == "test")])
    rows = []
    for i in range(1, n + 1):
        r = by_id[i]
        rows.append(",".join([fmt(r["sat_lat"]), fmt(r["sat_lon"]), fmt(r["lat"]), fmt(r["lon"]),
                              fmt(r["heading"], 4)]))
    write_text(root, "split_locations/all.csv", rows)
    return {"train": sum(r["role"] == "train" for r in records), "test": sum(r["role"] == "test" for r in records)}
