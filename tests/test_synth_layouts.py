"""The synthetic writers lay files out exactly as the real datasets do (checked on tiny data)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvgl_bench.data.synth import GENERATOR_VERSION, dataset_version
from cvgl_bench.data.synth.generate import META_FILE, generate
from cvgl_bench.data.synth.layouts.vigor import CITIES, DELTA_UNIT, tile_extent_m

from . import synth_appearance

APPEARANCE = Path(__file__).parent / "data" / "synth_appearance.json"
UPDATE_APPEARANCE = "CVGL_UPDATE_SYNTH_APPEARANCE"

PANO_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """All four layouts at size tiny, generated once for this module."""
    root = tmp_path_factory.mktemp("synth")
    out = {}
    for layout in ("cvusa", "cvact", "vigor", "university1652"):
        summary = generate(layout, root / layout, size="tiny", seed=3, progress=False, workers=2)
        out[layout] = (root / layout, summary)
    return out


def _jpeg(path: Path) -> bool:
    return path.read_bytes()[:3] == b"\xff\xd8\xff"


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cvusa_layout(tiny):
    root, summary = tiny["cvusa"]
    line = re.compile(r"^bingmap/19/(\d{7})\.jpg,streetview/panos/(\d{7})\.jpg,streetview/annotations/(\d{7})\.png$")
    ids = {}
    for name, role in (("train-19zl.csv", "train"), ("val-19zl.csv", "test")):
        raw = (root / "splits" / name).read_bytes()
        assert raw.endswith(b"\n") and b"\r" not in raw
        for text in raw.decode().splitlines():
            m = line.match(text)
            assert m, text
            assert m.group(1) == m.group(2) == m.group(3)
            ids[int(m.group(1))] = role
            for rel in text.split(","):
                assert (root / rel).is_file(), rel
    n = len(ids)
    assert sorted(ids) == list(range(1, n + 1))
    assert sum(r == "train" for r in ids.values()) == summary["counts"]["train"] == 48
    assert sum(r == "test" for r in ids.values()) == summary["counts"]["test"] == 24
    rows = list(csv.reader(open(root / "split_locations" / "all.csv", newline="")))
    assert len(rows) == n  # row r <-> id r + 1
    for row in rows:
        sat_lat, sat_lon, lat, lon, heading = map(float, row)
        assert 24 < lat < 50 and -125 < lon < -66 and 0 <= heading < 360
        dist = math.hypot((sat_lat - lat) * 111_000, (sat_lon - lon) * 111_000 * math.cos(math.radians(lat)))
        assert dist < 40  # the tile is centred a few metres off the camera
    first = root / "bingmap/19/0000001.jpg"
    assert _jpeg(first) and Image.open(first).size == (128, 128)
    pano = root / "streetview/panos/0000001.jpg"
    assert _jpeg(pano) and Image.open(pano).size == (256, 64)
    assert _png(root / "streetview/annotations/0000001.png")


def test_cvact_layout(tiny):
    from scipy.io import loadmat

    root, summary = tiny["cvact"]
    mat = loadmat(root / "ACT_data.mat")
    ids = mat["panoIds"]
    assert ids.dtype.kind == "U" and ids.shape == (40 + 16 + 24,)
    assert all(PANO_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    utm = mat["utm"]
    assert utm.shape == (len(ids), 2)
    assert np.all((utm[:, 0] > 600_000) & (utm[:, 0] < 800_000))  # Canberra, zone 55
    assert np.all((utm[:, 1] > 6_000_000) & (utm[:, 1] < 6_200_000))
    seen = set()
    for struct, field, folder, count in (("trainSet", "trainInd", "ANU_data_small", 40),
                                         ("valSet", "valInd", "ANU_data_small", 16),
                                         ("valSetAll", "valInd", "ANU_data_test", 24)):
        by_name = mat[struct][field][0][0]
        by_position = mat[struct][0][0][1]  # Sample4Geo reads the second field
        assert np.array_equal(by_name, by_position)
        assert by_name.shape == (count, 1) and by_name.dtype.kind == "i"
        idx = by_name[:, 0]
        assert idx.min() >= 1 and idx.max() <= len(ids)  # 1-based
        seen |= set(idx.tolist())
        for pano_id in ids[idx - 1]:
            assert _jpeg(root / folder / "streetview" / f"{pano_id}_grdView.jpg")
            assert (root / folder / "satview_polish" / f"{pano_id}_satView_polish.jpg").is_file()
    assert seen == set(range(1, len(ids) + 1))
    test_files = list((root / "ANU_data_test" / "streetview").glob("*_grdView.jpg"))
    assert len(test_files) == 24
    any_pano = test_files[0]
    assert Image.open(any_pano).size == (256, 128)  # 2:1 full-sphere panorama
    assert summary["counts"]["test_pairs_within_5m"] >= 1  # the 5 m protocol differs from exact id


def _parse_line(text: str):
    tokens = text.split(" ")
    assert len(tokens) == 13, text
    pano = tokens[0]
    sats = tokens[1::3]
    deltas = [(float(tokens[k + 1]), float(tokens[k + 2])) for k in range(1, 13, 3)]
    return pano, sats, deltas


def _latlon(name: str) -> tuple[float, float]:
    _, lat, lon = name[: -len(".png")].split("_")
    return float(lat), float(lon)


def test_vigor_layout(tiny):
    root, summary = tiny["vigor"]
    all_panos = set()
    for city in CITIES:
        extent = tile_extent_m({"Chicago": 41.88, "NewYork": 40.735, "SanFrancisco": 37.77, "Seattle": 47.615}[city])
        tiles = (root / "splits" / city / "satellite_list.txt").read_text().splitlines()
        assert tiles == (root / "splits__corrected" / city / "satellite_list.txt").read_text().splitlines()
        assert len(set(tiles)) == len(tiles)
        for name in tiles:
            assert re.match(r"^satellite_-?\d+\.\d+_-?\d+\.\d+\.png$", name)
            path = root / city / "satellite" / name
            assert _png(path) and Image.open(path).size == (128, 128)
        tile_set = set(tiles)
        files = {}
        for folder, suffix in (("splits", ""), ("splits__corrected", "__corrected")):
            files[folder] = {k: (root / folder / city / f"{k}{suffix}.txt").read_text().splitlines()
                             for k in ("pano_label_balanced", "same_area_balanced_train", "same_area_balanced_test")}
        lines = files["splits"]
        train = {_parse_line(t)[0] for t in lines["same_area_balanced_train"]}
        test = {_parse_line(t)[0] for t in lines["same_area_balanced_test"]}
        every = [_parse_line(t)[0] for t in lines["pano_label_balanced"]]
        assert not train & test and train | test == set(every) and len(every) == len(set(every))
        for text, exact in zip(lines["pano_label_balanced"], files["splits__corrected"]["pano_label_balanced"]):
            pano, sats, deltas = _parse_line(text)
            pano2, sats2, deltas2 = _parse_line(exact)
            assert pano == pano2 and sats == sats2  # corrected labels change offsets only
            m = re.match(r"^([A-Za-z0-9_-]{22}),(-?\d+\.\d{6}),(-?\d+\.\d{6}),\.jpg$", pano)
            assert m, pano
            lat, lon = float(m.group(2)), float(m.group(3))
            assert (root / city / "panorama" / pano).is_file()
            assert set(sats) <= tile_set and len(set(sats)) == 4
            for sat, (d_lat, d_lon), (e_lat, e_lon) in zip(sats, deltas, deltas2):
                s_lat, s_lon = _latlon(sat)
                # original labels: VIGOR's fixed delta_unit
                assert abs(d_lat - (s_lat - lat) / (DELTA_UNIT[0] / 320)) <= 0.51
                assert abs(d_lon - (s_lon - lon) / (DELTA_UNIT[1] / 320)) <= 0.51
                # corrected labels: pixels of this city's 640 px tile (metres / (extent / 640))
                north = (s_lat - lat) * 111_132.954 - 559.822 * 0 * 0
                assert abs(e_lat * extent / 640 - north) < 0.6
            # positive: the panorama lies in its central quarter (corrected pixels, 640 px tile)
            assert abs(deltas2[0][0]) <= 161 and abs(deltas2[0][1]) <= 161
            # the three semi-positives are the neighbouring tiles of the 2 x 2 group
            pos = np.array(_latlon(sats[0]))
            steps = [np.round((np.array(_latlon(s)) - pos) / (np.array(_latlon(sats[3])) - pos)) for s in sats[1:3]]
            assert sorted(map(tuple, steps)) == [(0.0, 1.0), (1.0, 0.0)]
        all_panos |= set(every)
    counts = summary["counts"]
    assert counts["cross_area_train"] == 2 * 40 and counts["cross_area_test"] == 2 * 20
    assert counts["same_area_train"] + counts["same_area_test"] == 120 == len(all_panos)


@pytest.mark.slow
def test_vigor_sample4geo_folders(tmp_path):
    generate("vigor", tmp_path / "v", size="tiny", seed=1, progress=False, workers=2, vigor_layout="sample4geo")
    assert (tmp_path / "v" / "ground" / "Chicago").is_dir() and (tmp_path / "v" / "satellite" / "Seattle").is_dir()
    assert not (tmp_path / "v" / "Chicago").exists()


def test_university1652_layout(tiny):
    root, summary = tiny["university1652"]

    def bids(folder: str) -> set[str]:
        return {p.name for p in (root / folder).iterdir()}

    train = bids("train/drone")
    assert train == bids("train/satellite") and len(train) == 6
    query = bids("test/query_drone")
    assert query == bids("test/query_satellite") and len(query) == 4
    gallery = bids("test/gallery_satellite")
    assert gallery == bids("test/gallery_drone") and query < gallery and len(gallery - query) == 2
    assert not train & gallery
    assert all(re.match(r"^\d{4}$", b) for b in train | gallery)
    for bid in train:
        drones = sorted(p.name for p in (root / "train/drone" / bid).iterdir())
        assert drones == [f"image-{k:02d}.jpeg" for k in range(1, 5)]
        assert _jpeg(root / "train/satellite" / bid / f"{bid}.jpg")
    for bid in query:
        for k in range(1, 5):
            q = (root / "test/query_drone" / bid / f"image-{k:02d}.jpeg").read_bytes()
            assert q == (root / "test/gallery_drone" / bid / f"image-{k:02d}.jpeg").read_bytes()
        assert (root / "test/query_satellite" / bid / f"{bid}.jpg").read_bytes() == \
            (root / "test/gallery_satellite" / bid / f"{bid}.jpg").read_bytes()
    assert Image.open(root / "test/gallery_drone" / sorted(gallery)[0] / "image-01.jpeg").size == (128, 128)
    assert summary["counts"]["train_pairs"] == 24


def test_metadata_written(tiny):
    import json

    for layout, (root, _) in tiny.items():
        meta = json.loads((root / META_FILE).read_text())
        assert meta["layout"] == layout and meta["generator_version"]
        assert not list(root.parent.glob(f".{layout}.tmp-*"))  # no temp folder left behind


def test_generator_output_matches_its_version(tiny):
    """The tiny worlds look as recorded for each layout's dataset version (GENERATOR_VERSION and
    the layout's revision). Cached datasets are keyed by that version, so output that changes
    without a bump would silently reuse stale caches."""
    import json
    import os

    actual = {layout: synth_appearance.summarize(root) for layout, (root, _) in tiny.items()}
    versions = {layout: dataset_version(layout) for layout in actual}
    if os.environ.get(UPDATE_APPEARANCE):
        APPEARANCE.write_text(json.dumps({"generator_version": GENERATOR_VERSION, "dataset_versions": versions,
                                          "size": "tiny", "seed": 3, "layouts": actual},
                                         indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"wrote {APPEARANCE}")
    recorded = json.loads(APPEARANCE.read_text(encoding="utf-8"))
    update = f"{UPDATE_APPEARANCE}=1 pytest tests/test_synth_layouts.py -k generator_output"
    assert recorded["dataset_versions"] == versions, (
        f"the dataset versions are {versions}, the recorded appearance is of {recorded['dataset_versions']}: {update}")
    changed = [f"{layout} {line}" for layout in actual
               for line in synth_appearance.differences(recorded["layouts"][layout], actual[layout])]
    assert not changed, ("the generator's output changed but its version did not: bump GENERATOR_VERSION (every "
                         "layout) or the layout's LAYOUT_REVISIONS entry in cvgl_bench/data/synth/__init__.py, "
                         f"then {update}. Changed: " + "; ".join(changed[:6]))


def test_appearance_differences_see_a_blur_and_ignore_rounding():
    base = {"a/b": [10, 120.0, 50.0, 8.0]}
    assert synth_appearance.differences(base, {"a/b": [10, 120.0000001, 50.0, 8.0]}) == []
    assert synth_appearance.differences(base, {"a/b": [10, 120.0, 50.0, 7.9]}) == [
        "a/b: sharpness 7.9000, expected 8.0000"]
    assert synth_appearance.differences(base, {"a/b": [9, 120.0, 50.0, 8.0]}) == ["a/b: 9 images, expected 10"]
    assert synth_appearance.differences(base, {}) == ["a/b: missing"]


def test_synth_splits_load_through_the_real_loaders(tiny, host, tmp_path, monkeypatch):
    """Every synth_* split, at size tiny, read by its real twin's loader (skipped without it)."""
    from cvgl_bench.data.structures import EvalData, TrainData
    from cvgl_bench.data.synth.cache import dataset_dir
    from cvgl_bench.data.synth.splits import SYNTH_SPLITS

    if not any(real in host.splits for _, real in SYNTH_SPLITS.values()):
        pytest.skip("the real dataset plugins are not installed here")
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SIZE", "tiny")
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SEED", "3")
    for layout, (root, _) in tiny.items():
        target = dataset_dir(layout)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(root, target_is_directory=True)
    sizes = {}
    for name, (layout, real) in SYNTH_SPLITS.items():
        if real not in host.splits:
            continue
        spec = host.splits.get(name)
        data = spec.load()(None, spec.protocol_defaults(), host=host)
        assert data.split == name and data.info["synthetic"]["real_split"] == real
        if spec.role == "train":
            assert isinstance(data, TrainData)
            sizes[name] = len(data)
        else:
            assert isinstance(data, EvalData)
            assert (data.truth.n_positives() >= 1).all()
            sizes[name] = (len(data.queries), len(data.references))
    expected = {"synth_cvusa_train": 48, "synth_cvusa_test": (24, 24), "synth_cvact_train": 40,
                "synth_cvact_val": (16, 16), "synth_cvact_test": (24, 24), "synth_vigor_cross_train": 80,
                "synth_u1652_train": 24, "synth_u1652_d2s": (16, 6), "synth_u1652_s2d": (4, 24)}
    for name, value in expected.items():
        if name in sizes:
            assert sizes[name] == value, name
    if "synth_vigor_same_test" in sizes:
        assert sizes["synth_vigor_same_train"] + sizes["synth_vigor_same_test"][0] == 120


def test_one_cvact_town_in_five_is_a_suburb():
    from cvgl_bench.data.synth.config import make_config
    from cvgl_bench.data.synth.layouts import cvact

    jobs = cvact.plan(make_config("cvact", "small"))
    by_role: dict[str, list[str]] = {}
    for job in jobs:
        by_role.setdefault(job.tasks["role"], []).append(job.style.name)
    assert {role: len(styles) for role, styles in by_role.items()} == {"train": 20, "val": 5, "test": 5}
    for role, styles in by_role.items():
        suburbs = [i for i, name in enumerate(styles) if name == "suburb"]
        assert suburbs == list(range(2, len(styles), 5)), role
        assert set(styles) == {"suburb", "downtown"}
    # a style asked for replaces both
    assert {job.style.name for job in cvact.plan(make_config("cvact", "small", style="campus"))} == {"campus"}
