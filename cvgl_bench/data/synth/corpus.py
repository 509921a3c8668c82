"""A labelled corpus of synthetic views: the pretraining data of the ``cpu`` profiles' backbone.

Real methods start from ImageNet weights; the synthetic benchmark's analogue is a backbone
pretrained once on views of *other* synthetic worlds (world seeds the benchmark never uses),
supervised by the generator's own per-pixel labels (:mod:`.labels`): satellite tiles,
street-level panoramas (CVUSA's cropped and CVACT's full-sphere geometry) and drone views, in
the three town styles. No pairing between views is used: the backbone learns what things are,
never which tile matches which panorama.

:func:`render_world` photographs one world; :func:`render_corpus` renders ``worlds`` of them in
parallel and returns the arrays. Everything random comes from streams keyed by (seed, world,
image), so the corpus does not depend on the number of workers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from . import views
from .capture import build_capture
from .labels import CLASSES, satellite_classes
from .places import ground_z, street_places
from .rng import stream, sub_seed
from .styles import get_style
from .workers import map_in_processes
from .world import build_world

STYLES = ("suburb", "downtown", "campus")

CORPUS_SEED = 7_000_003
"""Default corpus seed; its worlds are keyed ``(seed, "corpus", ...)``, a key no benchmark
layout uses, so no corpus world is a benchmark world."""


@dataclass(frozen=True)
class CorpusConfig:
    """What to render: worlds, places per world, image sizes."""

    worlds: int = 36
    seed: int = CORPUS_SEED
    places_per_world: int = 40
    drone_targets: int = 4
    drone_views: int = 8
    world_m: float = 480.0
    satellite_px: int = 128
    ground_crop_px: tuple[int, int] = (64, 256)
    ground_full_px: tuple[int, int] = (128, 256)
    drone_px: int = 128

    def describe(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def render_world(cfg: CorpusConfig, index: int) -> dict[str, np.ndarray]:
    """Views of world ``index`` and their class maps: ``{satellite, satellite_classes, ground_crop,
    ground_crop_classes, ground_full, ground_full_classes, drone, drone_classes}`` (uint8 arrays)."""
    from .layouts.university1652 import FOV, orbit, pick_targets

    style = get_style(STYLES[index % len(STYLES)]).city_variant(stream(cfg.seed, "corpus", "style", index))
    world = build_world(style, sub_seed(cfg.seed, "corpus", "world", index), cfg.world_m)
    rng = stream(cfg.seed, "corpus", "places", index)
    margin = min(style.margin_m, cfg.world_m * 0.22)
    places = street_places(world, rng, cfg.places_per_world, margin, exact=False)
    sat = build_capture(world, sub_seed(cfg.seed, "corpus", index, "sat"), "satellite", "satellite")
    grd = build_capture(world, sub_seed(cfg.seed, "corpus", index, "ground"), "ground", "ground",
                        exclude=places[:, :2])
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("satellite", "satellite_classes", "ground_crop",
                                                        "ground_crop_classes", "ground_full",
                                                        "ground_full_classes", "drone", "drone_classes")}
    for k, (x, y, _) in enumerate(places):
        img_rng = stream(cfg.seed, "corpus", "image", index, k)
        cam = np.array([x, y, ground_z(world, x, y) + img_rng.uniform(2.0, 2.6)])
        full = bool(img_rng.random() < 0.5)
        size = cfg.ground_full_px if full else cfg.ground_crop_px
        yaw = float(np.radians(img_rng.normal(0, 1.0)))
        pano, classes = views.panorama(grd, cam, size, full, yaw, img_rng, grd.seed, want_labels="classes")
        key = "ground_full" if full else "ground_crop"
        out[key].append(pano)
        out[f"{key}_classes"].append(classes)
        extent = float(img_rng.uniform(64.0, 130.0))
        centre = (x + float(img_rng.normal(0, 5.0)), y + float(img_rng.normal(0, 5.0)))
        out["satellite"].append(views.satellite(sat, centre, extent, cfg.satellite_px, img_rng))
        out["satellite_classes"].append(satellite_classes(sat, centre, extent, cfg.satellite_px))
    targets = pick_targets(world, stream(cfg.seed, "corpus", "targets", index), cfg.drone_targets, margin + 20)
    if targets and cfg.drone_views:
        drn = build_capture(world, sub_seed(cfg.seed, "corpus", index, "drone"), "drone", "drone")
        for t_index, t in enumerate(targets):
            view_rng = stream(cfg.seed, "corpus", "building", index, t_index)
            aim = np.array([t["x"], t["y"], t["base"] + 0.45 * (t["z"] - t["base"])])
            for heading, dist, pitch in orbit(cfg.drone_views, view_rng):
                cam = aim + dist * np.array([-math.sin(heading) * math.cos(pitch),
                                             -math.cos(heading) * math.cos(pitch), math.sin(pitch)])
                target = aim + view_rng.normal(0, 2.5, 3) * np.array([1, 1, 0.3])
                img, classes = views.drone(drn, cam, target, cfg.drone_px, FOV * view_rng.uniform(0.95, 1.05),
                                           view_rng, drn.seed, want_labels=True)
                out["drone"].append(img)
                out["drone_classes"].append(classes)
    shapes = {"satellite": (cfg.satellite_px, cfg.satellite_px), "ground_crop": cfg.ground_crop_px,
              "ground_full": cfg.ground_full_px, "drone": (cfg.drone_px, cfg.drone_px)}
    arrays: dict[str, np.ndarray] = {}
    for name, hw in shapes.items():
        arrays[name] = np.asarray(out[name], np.uint8).reshape(-1, *hw, 3)
        arrays[f"{name}_classes"] = np.asarray(out[f"{name}_classes"], np.uint8).reshape(-1, *hw)
    return arrays


def render_world_of(args: tuple[CorpusConfig, int]) -> dict[str, np.ndarray]:
    """:func:`render_world` of one ``(cfg, index)`` job (a worker process's entry point)."""
    return render_world(*args)


def render_corpus(cfg: CorpusConfig, workers: int = 2, progress: bool = True) -> dict[str, np.ndarray]:
    """Every world of ``cfg``, concatenated per view in world order (independent of ``workers``)."""
    from ...progress import progress as progress_bar

    parts: dict[int, dict[str, np.ndarray]] = {}
    bar = progress_bar(cfg.worlds, desc="corpus worlds", unit="world", disable=not progress, file=sys.stderr)
    try:
        if workers <= 1:
            for index in range(cfg.worlds):
                parts[index] = render_world(cfg, index)
                bar.update()
        else:
            for index, arrays in map_in_processes(render_world_of, [(cfg, i) for i in range(cfg.worlds)], workers,
                                                  what="rendering the pretraining corpus"):
                parts[index] = arrays
                bar.update()
    finally:
        bar.close()
    return {key: np.concatenate([parts[i][key] for i in range(cfg.worlds)]) for key in parts[0]}


__all__ = ["CLASSES", "CorpusConfig", "render_corpus", "render_world"]
