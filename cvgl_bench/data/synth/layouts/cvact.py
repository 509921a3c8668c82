"""CVACT layout (ACT_small for train/val, ACT_test for test):

    ACT_data.mat        panoIds (N equal-length 22-char ids), utm (N x 2 easting, northing),
                        trainSet {trainNum, trainInd}, valSet {valNum, valInd},
                        valSetAll {valNum, valInd}; indices 1-based column vectors into panoIds,
                        the index array is the SECOND field of each struct
    ANU_data_small/streetview/<id>_grdView.jpg            train + val panoramas (full sphere, 2:1)
    ANU_data_small/satview_polish/<id>_satView_polish.jpg
    ANU_data_test/streetview/<id>_grdView.jpg             test
    ANU_data_test/satview_polish/<id>_satView_polish.jpg

A few test places are revisits within 5 m of another test place (as in the real capture), so
the official 5 m UTM protocol and the exact-id protocol differ slightly.

The towns are downtowns, except one in five of each role's (the third, eighth, ...), which is a
suburb in CVUSA's style (layout revision 2): the real CVACT (Canberra) is not as far from CVUSA's
American towns as an all-downtown twin is. With it a CVUSA model transfers at about half its
in-domain CVACT recall, as Sample4Geo does on the real data (docs/synth.md, "Transfer").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import SynthConfig
from ..geo import latlon_to_utm, local_to_latlon
from ..places import ground_z, street_places
from ..rng import stream, sub_seed
from .. import views
from .common import (Job, Tick, build_scene, camera_yaw, margin, random_ids, satellite_offset, split_evenly,
                     world_size, world_style, write_image)
from .matfile import savemat_deterministic

LAYOUT = "cvact"
SUBURB_EVERY = 5
"""One town in this many of each role is a suburb (the rest downtowns)."""
CANBERRA = (-35.31, 149.08)
FOLDER = {"train": "ANU_data_small", "val": "ANU_data_small", "test": "ANU_data_test"}
REVISIT_FRACTION = 0.02


def plan(cfg: SynthConfig) -> list[Job]:
    per = cfg.places_per_world
    roles = [("train", cfg.counts["train"]), ("val", cfg.counts["val"]), ("test", cfg.counts["test"])]
    total = sum(n for _, n in roles)
    ids = random_ids(stream(cfg.seed, LAYOUT, "ids"), total)
    jobs: list[Job] = []
    start = 0
    for role, n in roles:
        n_worlds = math.ceil(n / per)
        for j, count in enumerate(split_evenly(n, n_worlds)):
            index = len(jobs)
            style = world_style(cfg, "suburb" if j % SUBURB_EVERY == 2 else "downtown", index)
            # suburbs of one city, a few kilometres apart
            east, north = (index % 5) * 3000.0, (index // 5) * 3000.0
            anchor = local_to_latlon(east, north, CANBERRA)
            revisits = max(1, int(round(count * REVISIT_FRACTION))) if role == "test" and count >= 20 else 0
            jobs.append(Job(LAYOUT, index, style, sub_seed(cfg.seed, LAYOUT, "world", index), world_size(cfg, style),
                            (float(anchor[0]), float(anchor[1])),
                            {"role": role, "ids": ids[start:start + count], "revisits": revisits}, work=count))
            start += count
    return jobs


def run(job: Job, cfg: SynthConfig, root: Path, tick: Tick) -> list[dict]:
    from ..world import build_world

    world = build_world(job.style, job.world_seed, job.world_m)
    ids = job.tasks["ids"]
    revisits = job.tasks["revisits"]
    rng = stream(cfg.seed, LAYOUT, "places", job.index)
    places = street_places(world, rng, len(ids) - revisits, margin(job.style, job.world_m))
    if revisits:
        # a second pass of the capture car a few metres from an earlier panorama
        src = places[rng.choice(len(places), revisits, replace=False)]
        ang = np.radians(src[:, 2])
        step = rng.uniform(1.5, 4.5, revisits) * rng.choice([-1.0, 1.0], revisits)
        extra = np.stack([src[:, 0] + np.sin(ang) * step, src[:, 1] + np.cos(ang) * step, src[:, 2]], 1)
        places = np.concatenate([places, extra])
    world, sat, grd = build_scene(job, cfg, "ground", exclude=places[:, :2], world=world)
    folder = FOLDER[job.tasks["role"]]
    records = []
    for k, (pid, (x, y, heading)) in enumerate(zip(ids, places)):
        img_rng = stream(cfg.seed, LAYOUT, "image", job.index, k)
        cam = np.array([x, y, ground_z(world, x, y) + img_rng.uniform(2.2, 2.8)])
        pano, _ = views.panorama(grd, cam, cfg.ground_px, True, camera_yaw(cfg, img_rng), img_rng, grd.seed)
        off = satellite_offset(cfg, img_rng)
        tile = views.satellite(sat, (x + off[0], y + off[1]), cfg.satellite_extent_m, cfg.satellite_px[0], img_rng)
        write_image(root, f"{folder}/streetview/{pid}_grdView.jpg", pano, "jpeg")
        write_image(root, f"{folder}/satview_polish/{pid}_satView_polish.jpg", tile, "jpeg")
        lat, lon = local_to_latlon(x, y, job.anchor)
        records.append({"id": pid, "role": job.tasks["role"], "lat": float(lat), "lon": float(lon),
                        "heading": float(heading), "world": job.index})
        tick(1)
    return records


def finalize(cfg: SynthConfig, jobs: list[Job], records: list[dict], root: Path) -> dict:
    order = stream(cfg.seed, LAYOUT, "mat-order").permutation(len(records))
    recs = [records[k] for k in order]
    pano_ids = np.array([r["id"] for r in recs])
    lat = np.array([r["lat"] for r in recs])
    lon = np.array([r["lon"] for r in recs])
    east, north = latlon_to_utm(lat, lon, zone=55)
    utm = np.stack([east, north], 1)

    def index_of(role: str) -> np.ndarray:
        return (np.flatnonzero([r["role"] == role for r in recs]) + 1).astype(np.int32).reshape(-1, 1)

    train, val, test = index_of("train"), index_of("val"), index_of("test")
    data = {
        "panoIds": pano_ids,
        "utm": utm,
        "trainSet": {"trainNum": np.array([[float(len(train))]]), "trainInd": train},
        "valSet": {"valNum": np.array([[float(len(val))]]), "valInd": val},
        "valSetAll": {"valNum": np.array([[float(len(test))]]), "valInd": test},
    }
    savemat_deterministic(root / "ACT_data.mat", data)
    within5 = _pairs_within(utm[test[:, 0] - 1], 5.0)
    return {"train": len(train), "val": len(val), "test": len(test), "test_pairs_within_5m": within5}


def _pairs_within(points: np.ndarray, radius: float) -> int:
    from scipy.spatial import cKDTree

    return len(cKDTree(points).query_pairs(radius)) if len(points) > 1 else 0
