"""University-1652 layout (drone <-> satellite, buildings as classes):

    train/drone/<bid>/image-NN.jpeg        drone views circling each training building
    train/satellite/<bid>/<bid>.jpg        one north-up satellite tile per building
    test/query_drone/<bid>/image-NN.jpeg   test buildings
    test/gallery_satellite/<bid>/<bid>.jpg test buildings + distractor buildings
    test/query_satellite/<bid>/<bid>.jpg   test buildings
    test/gallery_drone/<bid>/image-NN.jpeg test buildings + distractor buildings

Building ids are 4-digit and disjoint between train and test; training and test buildings come
from different campuses (worlds), distractors from the test campuses.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..capture import build_capture
from ..config import SynthConfig
from ..rng import stream, sub_seed
from .. import views
from .common import Job, Tick, margin, split_evenly, world_size, world_style, write_image
from ..geo import local_to_latlon

LAYOUT = "university1652"
TARGETS_PER_WORLD = 12
FOV = math.radians(55.0)
SAT_EXTENT = 130.0


def plan(cfg: SynthConfig) -> list[Job]:
    c = cfg.counts
    total = c["train"] + c["test"] + c["distractors"]
    width = max(4, len(str(total - 1)))
    bids = [f"{b:0{width}d}" for b in stream(cfg.seed, LAYOUT, "bids").permutation(total)]
    train_b, test_b, dis_b = bids[:c["train"]], bids[c["train"]:c["train"] + c["test"]], bids[c["train"] + c["test"]:]
    jobs: list[Job] = []
    n_train_w = math.ceil(len(train_b) / TARGETS_PER_WORLD)
    test_all = [(b, "test") for b in test_b] + [(b, "distractor") for b in dis_b]
    test_all = [test_all[k] for k in stream(cfg.seed, LAYOUT, "test-order").permutation(len(test_all))]
    n_test_w = math.ceil(len(test_all) / TARGETS_PER_WORLD)
    start = 0
    for count in split_evenly(len(train_b), n_train_w):
        jobs.append(_job(cfg, len(jobs), [(b, "train") for b in train_b[start:start + count]]))
        start += count
    start = 0
    for count in split_evenly(len(test_all), n_test_w):
        jobs.append(_job(cfg, len(jobs), test_all[start:start + count]))
        start += count
    return jobs


def _job(cfg: SynthConfig, index: int, targets: list[tuple[str, str]]) -> Job:
    style = world_style(cfg, "campus", index)
    rng = stream(cfg.seed, LAYOUT, "anchor", index)
    anchor = (float(rng.uniform(25, 50)), float(rng.uniform(-10, 140)))
    views_per = cfg.counts["views"]
    return Job(LAYOUT, index, style, sub_seed(cfg.seed, LAYOUT, "world", index), world_size(cfg, style), anchor,
               {"targets": targets}, work=len(targets) * (views_per + 1))


def pick_targets(world, rng: np.random.Generator, count: int, edge: float, spacing: float = 55.0) -> list[dict]:
    """Buildings to photograph: footprint at least 200 m2, inside, far enough apart."""
    p = world.parts
    if len(p["cx"]) == 0:
        return []
    area = 4 * p["hx"] * p["hy"]
    big = area >= 20
    out = []
    for b in np.unique(p["building"][big]):
        sel = big & (p["building"] == b)
        a = area[sel]
        cx = float(np.sum(p["cx"][sel] * a) / a.sum())
        cy = float(np.sum(p["cy"][sel] * a) / a.sum())
        if a.sum() < 200 or not (edge < cx < world.size_m - edge and edge < cy < world.size_m - edge):
            continue
        out.append({"x": cx, "y": cy, "z": float(np.max(p["top"][sel])), "base": float(np.min(p["base"][sel])),
                    "area": float(a.sum())})
    order = rng.permutation(len(out))
    chosen: list[dict] = []
    for k in order:
        t = out[k]
        if all((t["x"] - o["x"]) ** 2 + (t["y"] - o["y"]) ** 2 >= spacing ** 2 for o in chosen):
            chosen.append(t)
        if len(chosen) == count:
            break
    return chosen


def orbit(n: int, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(heading of the camera, slant distance, pitch) for ``n`` views: rings at 2-3 altitudes."""
    levels = [(145.0, 52.0), (118.0, 40.0), (96.0, 30.0)][: 2 if n < 24 else 3]
    counts = split_evenly(n, len(levels))
    out = []
    for (dist, pitch), m in zip(levels, counts):
        start = rng.uniform(0, 2 * np.pi)
        for k in range(m):
            h = start + 2 * np.pi * k / m + rng.normal(0, 0.05)
            out.append((float(h), dist * rng.uniform(0.93, 1.07), math.radians(pitch + rng.normal(0, 2.0))))
    return out


def run(job: Job, cfg: SynthConfig, root: Path, tick: Tick) -> list[dict]:
    from ..world import build_world

    targets = list(job.tasks["targets"])
    records: list[dict] = []
    attempt = 0
    while targets:
        seed = job.world_seed if attempt == 0 else sub_seed(job.world_seed, "extra", attempt)
        world = build_world(job.style, seed, job.world_m)
        rng = stream(cfg.seed, LAYOUT, "targets", job.index, attempt)
        picked = pick_targets(world, rng, len(targets), margin(job.style, job.world_m) + 20)
        attempt += 1
        if not picked:
            if attempt > 6:
                raise RuntimeError("campus worlds too small for the requested buildings")
            continue
        sat = build_capture(world, sub_seed(cfg.seed, LAYOUT, job.index, attempt, "sat"), "satellite", "satellite")
        drn = build_capture(world, sub_seed(cfg.seed, LAYOUT, job.index, attempt, "drone"), "drone", "drone")
        for t, (bid, role) in zip(picked, targets):
            records.append(_photograph(cfg, job, root, world, sat, drn, t, bid, role, tick))
        targets = targets[len(picked):]
    return records


def _photograph(cfg, job, root, world, sat, drn, t, bid, role, tick) -> dict:
    img_rng = stream(cfg.seed, LAYOUT, "building", bid)
    tile = views.satellite(sat, (t["x"], t["y"]), SAT_EXTENT, cfg.satellite_px[0], img_rng)
    if role == "train":
        sat_dirs, drone_dirs = ["train/satellite"], ["train/drone"]
    elif role == "test":
        sat_dirs, drone_dirs = ["test/gallery_satellite", "test/query_satellite"], ["test/query_drone",
                                                                                   "test/gallery_drone"]
    else:
        sat_dirs, drone_dirs = ["test/gallery_satellite"], ["test/gallery_drone"]
    for d in sat_dirs:
        write_image(root, f"{d}/{bid}/{bid}.jpg", tile, "jpeg")
    tick(1)
    aim = np.array([t["x"], t["y"], t["base"] + 0.45 * (t["z"] - t["base"])])
    for k, (heading, dist, pitch) in enumerate(orbit(cfg.counts["views"], img_rng)):
        # the camera sits opposite its heading, looking at the building
        cam = aim + dist * np.array([-np.sin(heading) * np.cos(pitch), -np.cos(heading) * np.cos(pitch),
                                     np.sin(pitch)])
        target = aim + img_rng.normal(0, 2.5, 3) * np.array([1, 1, 0.3])
        view_rng = stream(cfg.seed, LAYOUT, "view", bid, k)
        img = views.drone(drn, cam, target, cfg.drone_px[0], FOV * view_rng.uniform(0.95, 1.05), view_rng, drn.seed)
        for d in drone_dirs:
            write_image(root, f"{d}/{bid}/image-{k + 1:02d}.jpeg", img, "jpeg")
        tick(1)
    lat, lon = local_to_latlon(t["x"], t["y"], job.anchor)
    return {"bid": bid, "role": role, "lat": float(lat), "lon": float(lon), "world": job.index}


def finalize(cfg: SynthConfig, jobs: list[Job], records: list[dict], root: Path) -> dict:
    roles = [r["role"] for r in records]
    return {"train_buildings": roles.count("train"), "test_buildings": roles.count("test"),
            "distractor_buildings": roles.count("distractor"), "views_per_building": cfg.counts["views"],
            "train_pairs": roles.count("train") * cfg.counts["views"],
            "query_drone": roles.count("test") * cfg.counts["views"]}
