"""VIGOR loader: both layouts, both label sets, galleries per protocol, semi-positives, bad lines."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.data.formats.vigor import satellite_latlon
from cvgl_bench.data.splits import load_split
from cvgl_bench.data.structures import POSITIVE, SEMI_POSITIVE
from cvgl_bench.errors import DataError

from .dataset_trees import CITIES, make_vigor, vigor_city, vigor_line


def load(host, name, root, **protocol):
    split = host.splits.get(name)
    return load_split(split, protocol=protocol, host=host, root=root, allow_empty=True)


@pytest.mark.parametrize("layout", ["official", "sample4geo"])
def test_same_area_test_in_both_layouts(host, tmp_path, layout):
    root = make_vigor(tmp_path / "VIGOR", layout=layout)
    data = load(host, "vigor_same_test", root)
    assert data.protocol == {"r1pct": "vigor", "ties": "strict", "labels": "present", "ground_fov": "full"}
    assert data.info["labels"] == "corrected"  # present: the corrected labels are in the folder
    assert len(data.queries) == 8 and len(data.references) == 24  # 2 test panoramas, 6 tiles per city
    assert data.info["layout"] == f"vigor/{layout}"
    chicago = vigor_city(0)
    pano, sats = chicago["panos"][2]
    assert data.queries.ids[0] == pano
    expected_dir = root / "Chicago" / "panorama" if layout == "official" else root / "ground" / "Chicago"
    assert data.queries.paths[0] == f"{expected_dir}/{pano}"
    refs, roles = data.truth.entries(0)
    assert [data.references.ids[r] for r in refs] == sats
    assert roles.tolist() == [POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE]
    # the gallery is every tile of the four cities in city order; Seattle's queries point into its part
    assert list(data.references.ids[18:24]) == vigor_city(3)["names"]
    assert all(18 <= r < 24 for r in data.truth.entries(7)[0])
    assert data.info["offsets"].shape == (8, 4, 2) and data.info["offsets"][0, 1].tolist() == [10.0, -5.0]
    lat, lon = satellite_latlon(sats[0])
    np.testing.assert_allclose(data.references.latlon[refs[0]], [lat, lon])
    assert data.queries.latlon[0, 0] == pytest.approx(float(pano.split(",")[1]))


def test_cross_area_galleries_and_training_pairs(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR")
    test = load(host, "vigor_cross_test", root)
    assert len(test.queries) == 8 and len(test.references) == 12  # all 4 panoramas of Chicago + SanFrancisco
    assert set(test.references.ids) == set(vigor_city(0)["names"]) | set(vigor_city(2)["names"])
    train = load(host, "vigor_cross_train", root)
    assert len(train) == 8 and train.queries.view == "ground"
    # references are the distinct positives; every pair points at the panorama's positive tile
    for q, r in train.pairs:
        pano = train.queries.ids[q]
        line = dict(vigor_city(1)["panos"] + vigor_city(3)["panos"])[pano]
        assert train.references.ids[r] == line[0]
    assert len(train.references) == len(set(train.references.ids)) == 4
    same = load(host, "vigor_same_train", root)
    assert len(same) == 8


def test_original_labels_and_missing_corrected_files(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR", labels="original")
    data = load(host, "vigor_same_test", root, labels="original")
    assert len(data.queries) == 8 and data.info["labels"] == "original"
    # the official release ships splits/ only: the default reads what is there
    default = load(host, "vigor_same_test", root)
    assert default.info["labels"] == "original" and default.protocol["labels"] == "present"
    assert np.array_equal(default.truth.ref_index, data.truth.ref_index)
    with pytest.raises(DataError, match=r"splits__corrected/Chicago/same_area_balanced_test__corrected.txt: VIGOR split file not found "
                                        r"\(use --protocol labels=original"):
        load(host, "vigor_same_test", root, labels="corrected")  # an explicit choice that cannot be met


def test_one_missing_corrected_file_is_named_instead_of_falling_back_to_absent_originals(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR")  # corrected labels only
    gone = root / "splits__corrected" / "Chicago" / "same_area_balanced_test__corrected.txt"
    gone.unlink()
    with pytest.raises(DataError) as info:
        load(host, "vigor_same_test", root)
    assert str(info.value).startswith(f"{gone}: VIGOR split file not found, while the corrected labels of the")
    assert "--protocol labels=original" in str(info.value)


def test_corrected_files_inside_a_replaced_splits_folder(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR")
    (root / "splits__corrected").rename(root / "splits")
    assert len(load(host, "vigor_same_test", root).queries) == 8


def _label_file(root, city="Chicago"):
    return root / "splits__corrected" / city / "same_area_balanced_test__corrected.txt"


@pytest.mark.parametrize("mutate, expected", [
    (lambda l: l.rsplit(" ", 1)[0], r"line 2: expected 13 space-separated tokens .* got 12"),
    (lambda l: l.replace("satellite_", "satelite_", 1), r"line 2: satellite 'satelite_.*' is not in .*satellite_list.txt"),
    (lambda l: l.replace(" 10.0 ", " ten ", 1), r"line 2: offset 'ten' is not a number"),
    (lambda l: "nolatlon.jpg " + l.split(" ", 1)[1], r"line 2: panorama name 'nolatlon.jpg' is not"),
    (lambda l: " ".join(l.split()[:4] + l.split()[1:4] + l.split()[7:]), r"line 2: the same satellite is listed twice"),
])
def test_malformed_label_lines(host, tmp_path, mutate, expected):
    root = make_vigor(tmp_path / "VIGOR", images=False)
    path = _label_file(root)
    lines = path.read_bytes().decode().split("\r\n")
    lines[1] = mutate(lines[1])
    path.write_bytes("\r\n".join(lines).encode())
    with pytest.raises(DataError, match=expected) as info:
        load(host, "vigor_same_test", root)
    assert str(path) in str(info.value)


def test_duplicates_empty_files_and_bad_satellite_names(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR", images=False)
    path = _label_file(root)
    first = path.read_bytes().decode().split("\r\n")[0]
    path.write_bytes(f"{first}\r\n{first}".encode())
    with pytest.raises(DataError, match=r"line 2: duplicate panorama .* \(first at line 1\)"):
        load(host, "vigor_same_test", root)
    path.write_text("\r\n")
    with pytest.raises(DataError, match=r"same_area_balanced_test__corrected.txt: empty split file"):
        load(host, "vigor_same_test", root)
    sat_list = root / "splits__corrected" / "Seattle" / "satellite_list.txt"
    sat_list.write_text(sat_list.read_text() + "tile_1_2.png\n")
    with pytest.raises(DataError, match=r"Seattle/satellite_list.txt line 7: expected one 'satellite_<lat>_<lon>.png'"):
        load(host, "vigor_cross_train", root)


def test_panorama_listed_in_two_cities(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR", images=False)
    chicago = vigor_city(0)
    seattle_file = _label_file(root, "Seattle")
    pano, _ = chicago["panos"][2]
    seattle = vigor_city(3)
    seattle_file.write_text(vigor_line(pano, seattle["names"][:4]))
    with pytest.raises(DataError, match=r"panorama .* is listed in more than one city's file"):
        load(host, "vigor_same_test", root)


def test_missing_images_and_unknown_layout(host, tmp_path):
    root = make_vigor(tmp_path / "VIGOR", images=False)
    for city in CITIES:
        (root / city / "panorama").rmdir()
        (root / city / "satellite").rmdir()
    with pytest.raises(DataError, match=r"no VIGOR images found: expected Chicago/panorama/ .* ground/Chicago/"):
        load(host, "vigor_same_test", root)
    root = make_vigor(tmp_path / "V2")
    victim = root / "NewYork" / "panorama" / vigor_city(1)["panos"][3][0]
    victim.unlink()
    with pytest.raises(DataError, match=r"panorama file missing \(listed in .*NewYork/same_area_balanced_test"
                                        r"__corrected.txt line 2\)"):
        load(host, "vigor_same_test", root)
