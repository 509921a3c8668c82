"""The labelled pretraining corpus: per-pixel labels of every view, deterministic worlds."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.data.synth import views
from cvgl_bench.data.synth.capture import build_capture
from cvgl_bench.data.synth.corpus import CorpusConfig, render_corpus, render_world
from cvgl_bench.data.synth.labels import CLASSES, UNLABELLED, satellite_classes
from cvgl_bench.data.synth.styles import get_style
from cvgl_bench.data.synth.world import build_world

TINY = CorpusConfig(worlds=2, places_per_world=3, drone_targets=1, drone_views=2, world_m=300.0)
C = {name: index for index, name in enumerate(CLASSES)}


@pytest.fixture(scope="module")
def world_zero():
    return render_world(TINY, 0)


def test_every_view_comes_with_a_class_map_of_its_size(world_zero):
    for view in ("satellite", "ground_crop", "ground_full", "drone"):
        images, classes = world_zero[view], world_zero[f"{view}_classes"]
        assert images.dtype == np.uint8 and classes.dtype == np.uint8
        assert images.shape[:3] == classes.shape
        labelled = classes[classes != UNLABELLED]
        assert labelled.size == 0 or labelled.max() < len(CLASSES)
    assert len(world_zero["satellite"]) == len(world_zero["ground_crop"]) + len(world_zero["ground_full"])


def test_panorama_labels_put_sky_above_and_ground_below_the_horizon(world_zero):
    for view in ("ground_crop", "ground_full"):
        for classes in world_zero[f"{view}_classes"]:
            top, bottom = classes[0], classes[-1]
            assert C["sky"] not in set(bottom.tolist())
            assert set(top.tolist()) & ({C["sky"], C["tree"], C["facade"]})


def test_satellite_labels_follow_the_world_grids():
    world = build_world(get_style("suburb"), 5, 300.0)
    cap = build_capture(world, 1, "sat", "satellite")
    canvas = world.canvas
    classes = satellite_classes(cap, (150.0, 150.0), 64.0, 128)  # 0.5 m per pixel = the world's cells
    rows, cols = canvas.index(150.0 - 32 + 0.25 + 0.5 * np.arange(128), np.full(128, 150.0))
    line = classes[64]  # the row through the centre, west to east
    canopy = (cap.tree[rows, cols] > 0) & (canvas.canopy_top[rows, cols] > cap.height[rows, cols])
    building = ~canopy & (cap.kind[rows, cols] == 1)
    assert np.all(line[canopy] == C["tree"])
    assert np.all(line[building] == C["roof"])
    assert canopy.any() or building.any()  # the line crosses something that is not ground


def test_drone_labels_match_the_photograph_geometry():
    world = build_world(get_style("campus"), 3, 300.0)
    cap = build_capture(world, 2, "drone", "drone")
    rng = np.random.default_rng(0)
    cam = np.array([150.0, 40.0, 80.0])
    photo, classes = views.drone(cap, cam, np.array([150.0, 150.0, 0.0]), 64, 0.9, rng, 0,
                                            want_labels=True)
    plain = views.drone(cap, cam, np.array([150.0, 150.0, 0.0]), 64, 0.9, np.random.default_rng(0), 0)
    assert np.array_equal(photo, plain)  # asking for labels does not change the photograph
    assert classes.shape == (64, 64) and C["sky"] not in set(classes[-8:].ravel().tolist())


def test_the_corpus_is_deterministic_and_independent_of_workers(world_zero):
    again = render_world(TINY, 0)
    for key, value in world_zero.items():
        assert np.array_equal(value, again[key]), key
    serial = render_corpus(TINY, workers=1, progress=False)
    parallel = render_corpus(TINY, workers=2, progress=False)
    for key in serial:
        assert np.array_equal(serial[key], parallel[key]), key
    assert len(serial["satellite"]) == len(world_zero["satellite"]) + len(render_world(TINY, 1)["satellite"])
