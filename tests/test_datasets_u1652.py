"""University-1652 loader: both directions, both distractor protocols, training pairs, bad trees."""

from __future__ import annotations

import pytest

from cvgl_bench.data.formats.university1652 import read_name_list
from cvgl_bench.data.splits import load_split
from cvgl_bench.data.structures import JUNK, POSITIVE
from cvgl_bench.errors import DataError

from .dataset_trees import make_u1652


def load(host, name, root, **protocol):
    split = host.splits.get(name)
    return load_split(split, protocol=protocol, host=host, root=root, allow_empty=True)


def test_drone_to_satellite_distractors_kept_and_removed(host, tmp_path):
    root = make_u1652(tmp_path / "University-1652")
    kept = load(host, "u1652_d2s", root)
    assert kept.protocol == {"r1pct": "u1652", "ties": "strict", "distractors": "kept"}
    assert kept.queries.view == "drone" and kept.references.view == "satellite"
    assert list(kept.queries.ids) == ["0000/image-01.jpeg", "0000/image-02.jpeg", "0001/image-01.jpeg",
                                      "0001/image-02.jpeg"]
    assert kept.queries.labels.tolist() == [0, 0, 1, 1] and kept.references.labels.tolist() == [0, 1, 2]
    assert kept.truth.role.tolist() == [POSITIVE] * 4 and kept.truth.ref_index.tolist() == [0, 0, 1, 1]
    assert kept.info["distractor_buildings"] == 1
    removed = load(host, "u1652_d2s", root, distractors="removed")
    for q in range(4):  # the distractor building 0002 is junk for every query
        refs, roles = removed.truth.entries(q)
        assert dict(zip(refs.tolist(), roles.tolist())) == {q // 2: POSITIVE, 2: JUNK}
    assert removed.fingerprint != kept.fingerprint


def test_satellite_to_drone(host, tmp_path):
    root = make_u1652(tmp_path / "University-1652")
    data = load(host, "u1652_s2d", root, distractors="removed")
    assert data.queries.view == "satellite" and len(data.queries) == 2 and len(data.references) == 6
    refs, roles = data.truth.entries(1)
    assert sorted(refs[roles == POSITIVE].tolist()) == [2, 3] and sorted(refs[roles == JUNK].tolist()) == [4, 5]
    assert data.references.paths[0] == f"{root}/test/gallery_drone/0000/image-01.jpeg"


def test_training_pairs_and_nested_release_folder(host, tmp_path):
    root = make_u1652(tmp_path / "University-1652" / "University-Release")
    train = load(host, "u1652_train", tmp_path / "University-1652")
    assert train.queries.view == "drone" and train.references.view == "satellite"
    assert len(train) == 9 and len(train.references) == 3
    for q, r in train.pairs:
        assert train.queries.labels[q] == train.references.labels[r]
    assert train.references.paths[0] == f"{root}/train/satellite/0839/0839.jpg"


def test_name_lists_strip_the_data_prefix(tmp_path):
    path = tmp_path / "query_name.txt"
    path.write_text("./data/test/query_drone/0001/image-01.jpeg\n./data/test/query_drone/0001/image-02.jpeg")
    assert read_name_list(path) == ["test/query_drone/0001/image-01.jpeg", "test/query_drone/0001/image-02.jpeg"]
    path.write_text("./data/test/query_drone/0001/image-01.jpeg\n./data/test/query_drone/0001/image-01.jpeg\n")
    with pytest.raises(DataError, match=r"query_name.txt line 2: duplicate image"):
        read_name_list(path)
    path.write_text("./data/test/query_drone/0001\n")
    with pytest.raises(DataError, match=r"query_name.txt line 1: expected"):
        read_name_list(path)


@pytest.mark.parametrize("name, folder", [("u1652_d2s", "gallery_satellite"), ("u1652_s2d", "gallery_drone")])
def test_a_query_building_without_a_gallery_image_is_an_error_not_a_miss(host, tmp_path, name, folder):
    """An interrupted copy would otherwise score every query of that building as a failure."""
    import shutil

    root = make_u1652(tmp_path / "University-1652")
    for image in (root / "test" / folder / "0001").iterdir():
        image.unlink()
    with pytest.raises(DataError, match=rf"test/{folder}/0001: no image, but test/query_\w+/0001 has queries "
                                        r"\(1 query buildings have no gallery image\)"):
        load(host, name, root)
    shutil.rmtree(root / "test" / folder / "0001")
    with pytest.raises(DataError, match=rf"test/{folder}/0001: no image"):
        load(host, name, root)


def test_files_the_walk_does_not_read_are_counted_and_named_by_data_check(host, tmp_path):
    from cvgl_bench.data.check import check_dataset

    root = make_u1652(tmp_path / "University-1652")
    (root / "test/query_drone/0000/image-09.webp").write_bytes(b"x")
    (root / "test/query_drone/0000/extra").mkdir()
    (root / "test/query_drone/0000/.DS_Store").write_bytes(b"x")  # a copy made on macOS: not counted
    (root / "test/query_drone/0000/Thumbs.db").write_bytes(b"x")
    data = load(host, "u1652_d2s", root)
    assert len(data.queries) == 4 and data.info["files_left_out"] == 2
    assert data.info["files_left_out_examples"] == ["test/query_drone/0000/extra", "test/query_drone/0000/image-09.webp"]
    entry = next(e for e in check_dataset("university1652", root, host=host)["splits"] if e["split"] == "u1652_d2s")
    assert "2 files are not images the split reads, left out (e.g. test/query_drone/0000/extra" in entry["note"]
    assert "files_left_out" not in load(host, "u1652_s2d", root).info


def test_bad_trees(host, tmp_path):
    root = make_u1652(tmp_path / "University-1652")
    (root / "test" / "gallery_satellite" / "notanumber").mkdir()
    with pytest.raises(DataError, match=r"gallery_satellite/notanumber: building folder names must be numbers"):
        load(host, "u1652_d2s", root)
    (root / "train" / "satellite" / "0840" / "0840.jpg").unlink()
    with pytest.raises(DataError, match=r"train/satellite/0840: missing; train/drone/0840 has images"):
        load(host, "u1652_train", root)
    empty = tmp_path / "empty" / "University-1652"
    (empty / "test" / "query_satellite").mkdir(parents=True)
    (empty / "test" / "gallery_drone" / "0001").mkdir(parents=True)
    with pytest.raises(DataError, match=r"test/query_satellite: no images .* the split is empty"):
        load(host, "u1652_s2d", empty)
    with pytest.raises(DataError, match=r"dataset folder does not exist"):
        load(host, "u1652_s2d", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"test/query_drone: folder not found"):
        load(host, "u1652_d2s", empty)


def test_link_loops_and_twice_named_buildings_are_one_line(host, tmp_path):
    root = make_u1652(tmp_path / "University-1652")
    drone = root / "test" / "query_drone"
    first = sorted(p.name for p in drone.iterdir())[0]
    (drone / first / "loop.jpeg").symlink_to("loop.jpeg")  # a link to itself
    with pytest.raises(DataError, match=r"loop.jpeg: cannot be read \(Too many levels of symbolic links\)"):
        load(host, "u1652_d2s", root)
    (drone / first / "loop.jpeg").unlink()
    satellite = root / "test" / "gallery_satellite"
    first_sat = sorted(p.name for p in satellite.iterdir())[0]
    (satellite / str(int(first_sat))).mkdir()  # '0001' and '1' are one building
    with pytest.raises(DataError, match="are the same building id") as info:
        load(host, "u1652_d2s", root)
    assert f" {first_sat} " in f" {info.value} " and f" {int(first_sat)} " in f" {info.value} "
