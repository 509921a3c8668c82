"""The loaders on real split files: committed excerpts always, the full files where CI has them.

Full-size tests read the folder of real split files named by ``$CVGL_REAL_SPLITS`` (its layout
is described in ``benchmarks/speed/split_files.py``; CI sets it) and are skipped with a reason
where it is not set, so a user's test run passes without it. The counts asserted are the official
ones, taken from the split specs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cvgl_bench.data.formats import cvusa, university1652, vigor
from cvgl_bench.data.structures import JUNK, POSITIVE, SEMI_POSITIVE
from cvgl_bench.errors import DataError
from cvgl_bench.evaluate.bootstrap import count_places, place_groups

EXCERPTS = Path(__file__).parent / "fixtures" / "real_excerpts"
REAL = Path(os.environ["CVGL_REAL_SPLITS"]) if os.environ.get("CVGL_REAL_SPLITS") else None
needs_real = pytest.mark.skipif(
    REAL is None or not REAL.is_dir(),
    reason="full-size real split files not available: set CVGL_REAL_SPLITS to a folder of them "
           "(layout in benchmarks/speed/split_files.py)",
)
U1652 = "university1652/University1652-Baseline"


# -- excerpts (always run) --------------------------------------------------------------------
def test_cvusa_excerpt(tmp_path):
    rows = cvusa.read_split_csv(EXCERPTS / "CVUSA/splits/val-19zl.csv")
    assert len(rows) == 5 and all(len(i) == 7 and i.isdigit() for i in rows.ids)
    assert rows.ground[0] == f"streetview/panos/{rows.ids[0]}.jpg"


def test_vigor_excerpt_crlf_without_final_newline():
    folder = EXCERPTS / "VIGOR/splits__corrected/Chicago"
    raw = (folder / "same_area_balanced_test__corrected.txt").read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")
    sats = vigor.read_satellite_list(folder / "satellite_list.txt")
    rows = vigor.read_label_file(folder / "same_area_balanced_test__corrected.txt", sats)
    assert len(rows.panoramas) == 3 and rows.satellites.shape == (3, 4)
    assert rows.offsets[0, 0].tolist() == [23.0, -29.0]  # the example line of datasets.md
    assert rows.latlon[0].tolist() == [41.877949, -87.689396]


def test_u1652_excerpt():
    paths = university1652.read_name_list(EXCERPTS / "University-1652/query_name.head.txt")
    assert paths[0] == "test/query_drone/0000/image-01.jpeg"


# -- full size ------------------------------------------------------------------------------------
@needs_real
def test_cvusa_test_split_full_size(host):
    spec = host.splits.get("cvusa_test")
    data = cvusa.load_test(REAL / "cvusa", spec.protocol_defaults(), verify_files=False)
    assert len(data.queries) == spec.expected_counts["queries"] == 8884
    assert len(data.references) == spec.expected_counts["references"]
    assert min(data.queries.ids) == "0000002" and max(data.queries.ids) == "0044506"
    # GPS from split_locations/all.csv row id - 1, US-wide
    lat = data.references.latlon[:, 0]
    assert 24 < lat.min() and lat.max() < 65
    first = int(data.queries.ids[0])
    line = (REAL / "cvusa/split_locations/all.csv").read_text().split("\n")[first - 1]
    assert data.references.latlon[0].tolist() == [float(v) for v in line.split(",")[:2]]


@needs_real
def test_cvusa_partial_train_and_subset_files():
    partial = cvusa.load_train(REAL / "cvusa_partial", {}, verify_files=False)
    assert len(partial) == 1024  # the only public excerpt of train-19zl.csv (35,532 officially)
    test_ids = set(cvusa.read_split_csv(REAL / "cvusa/splits/val-19zl.csv").ids)
    assert not test_ids & set(partial.queries.ids)
    subset_train = cvusa.read_split_csv(REAL / "cvusa_subset/train-19zl.csv")  # CRLF, no final newline
    subset_val = cvusa.read_split_csv(REAL / "cvusa_subset/val-19zl.csv")
    assert (len(subset_train), len(subset_val)) == (6647, 2215)


@needs_real
def test_vigor_per_city_counts_full_size(host):
    base = REAL / "vigor"
    counts = {}
    for city in vigor.CITIES:
        sats = vigor.read_satellite_list(vigor.split_file(base, city, vigor.SATELLITE_LIST, "corrected"))
        counts[city] = len(sats.names)
        if city == "SanFrancisco":  # its label files are not in the public excerpt
            with pytest.raises(DataError, match=r"SanFrancisco/same_area_balanced_train__corrected.txt: VIGOR split "
                                                r"file not found"):
                vigor.split_file(base, city, "same_area_balanced_train", "corrected")
            continue
        train = vigor.read_label_file(vigor.split_file(base, city, "same_area_balanced_train", "corrected"), sats)
        test = vigor.read_label_file(vigor.split_file(base, city, "same_area_balanced_test", "corrected"), sats)
        assert not set(train.panoramas) & set(test.panoramas)
        counts[city] = (counts[city], len(train.panoramas), len(test.panoramas))
    assert counts == {"Chicago": (22308, 12740, 12739), "NewYork": (23279, 13885, 13884),
                      "SanFrancisco": 24255, "Seattle": (20776, 11876, 11875)}
    spec = host.splits.get("vigor_same_test")
    assert sum(c if isinstance(c, int) else c[0] for c in counts.values()) == spec.expected_counts["references"]
    cross = host.splits.get("vigor_cross_test")
    assert counts["Chicago"][0] + counts["SanFrancisco"] == cross.expected_counts["references"]
    # cross-area train = all panoramas of NewYork + Seattle = their same-area train + test
    assert sum(counts[c][1] + counts[c][2] for c in ("NewYork", "Seattle")) == \
        host.splits.get("vigor_cross_train").expected_counts["pairs"]


@needs_real
def test_vigor_same_area_test_gallery_full_size():
    # SanFrancisco's label files are missing from the public files: its queries are left out, the
    # gallery is still every satellite of the four cities, as the protocol defines it
    cities = ("Chicago", "NewYork", "Seattle")
    proto = vigor.Protocol("same_area_balanced_test", cities, vigor.CITIES)
    loaded = vigor.read_split(REAL / "vigor", "vigor_same_test", "corrected", verify_files=False, protocol=proto)
    assert len(loaded.queries) == 12739 + 13884 + 11875 and len(loaded.gallery) == 90618
    truth = vigor.vigor_truth(loaded.satellites, len(loaded.gallery))
    assert (np.diff(truth.indptr) == 4).all()
    # panoramas sharing a positive tile are one place for the intervals: 19,884 alone, 9,307 pairs
    assert np.bincount(np.bincount(place_groups(truth))).tolist() == [0, 19884, 9307]
    assert (truth.role.reshape(-1, 4) == [POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE]).all()
    # every label points into its own city's block of the gallery
    ny = slice(12739, 12739 + 13884)
    assert ((loaded.satellites[ny] >= 22308) & (loaded.satellites[ny] < 22308 + 23279)).all()
    assert np.isfinite(loaded.gallery.latlon).all() and np.isfinite(loaded.offsets).all()
    with pytest.raises(DataError, match=r"SanFrancisco/same_area_balanced_test__corrected.txt: VIGOR split file"):
        vigor.load_same_test(REAL / "vigor", {"labels": "corrected"}, verify_files=False)


@needs_real
@pytest.mark.parametrize("name, folder", [("u1652_d2s", "drone2satellite"), ("u1652_s2d", "satellite2drone")])
def test_u1652_test_lists_full_size(host, name, folder):
    spec = host.splits.get(name)
    queries = university1652.read_name_list(REAL / U1652 / folder / "query_name.txt")
    gallery = university1652.read_name_list(REAL / U1652 / folder / "gallery_name.txt")
    root = Path("/data/University-1652")
    kept = university1652.build_eval(name, root, queries, gallery, {"distractors": "kept"})
    assert len(kept.queries) == spec.expected_counts["queries"]
    assert len(kept.references) == spec.expected_counts["references"]
    assert kept.info["distractor_buildings"] == 250 and kept.info["queries_without_positive"] == 0
    assert (kept.truth.role == POSITIVE).all()
    removed = university1652.build_eval(name, root, queries, gallery, {"distractors": "removed"})
    junk_per_query = np.bincount(removed.truth.query_of_entry[removed.truth.role == JUNK], minlength=len(queries))
    assert (junk_per_query == removed.info["distractor_images"]).all()
    assert removed.info["distractor_images"] == (250 if name == "u1652_d2s" else 250 * 54)
    assert kept.queries.paths[0].startswith("/data/University-1652/test/query_")
    # the intervals resample buildings: 701 places, of 54 drone views each or of one satellite image
    assert count_places(place_groups(kept.truth), len(queries)) == 701


@needs_real
def test_u1652_training_buildings_are_the_complement_of_the_test_gallery():
    names = (REAL / U1652 / "new_name_list.txt").read_text(encoding="utf-8").splitlines()
    all_ids = {int(line.split(" ", 1)[0]) for line in names}
    gallery = university1652.read_name_list(REAL / U1652 / "drone2satellite/gallery_name.txt")
    test_ids = {int(p.split("/")[2]) for p in gallery}
    train_ids = sorted(all_ids - test_ids)
    assert len(all_ids) == 1652 and len(train_ids) == 701 and (train_ids[0], train_ids[-1]) == (839, 1650)


@needs_real
def test_workshop_query_lists_are_refused_as_standard_lists():
    with pytest.raises(DataError, match=r"query_drone_name.txt line 1: expected"):
        university1652.read_name_list(REAL / "university1652/UAVM2023_University-160k/query_drone_name.txt")
