"""CVUSA loader: the 19zl CSV format, GPS alignment, layout variants and every bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.data.splits import load_split
from cvgl_bench.data.structures import EvalData, TrainData
from cvgl_bench.errors import DataError, DataNotFoundError

from .dataset_trees import cvusa_row, make_cvusa


def load(host, name, root, **protocol):
    split = host.splits.get(name)
    return load_split(split, protocol=protocol, host=host, root=root, allow_empty=True)


def test_train_and_test_splits(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    train = load(host, "cvusa_train", root)
    assert isinstance(train, TrainData) and len(train) == 4
    assert train.queries.view == "ground" and train.references.view == "satellite"
    assert list(train.queries.ids) == ["0000001", "0000002", "0000003", "0000004"]
    assert (train.pairs[:, 0] == train.pairs[:, 1]).all()
    test = load(host, "cvusa_test", root)
    assert isinstance(test, EvalData) and list(test.queries.ids) == ["0000005", "0000006"]
    assert test.references.paths[0] == f"{root}/bingmap/19/0000005.jpg"
    assert test.queries.paths[1] == f"{root}/streetview/panos/0000006.jpg"
    assert [list(test.truth.positives(q)) for q in range(2)] == [[0], [1]]
    assert test.protocol == {"r1pct": "floor", "ties": "strict"}


def test_latlon_comes_from_row_id_minus_one(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    test = load(host, "cvusa_test", root)
    # row r (0-based) of all.csv belongs to id r + 1; make_cvusa writes lat 40 + id*0.01
    np.testing.assert_allclose(test.references.latlon[:, 0], [40.05, 40.06])
    np.testing.assert_allclose(test.queries.latlon[:, 0], [40.05 + 1e-5, 40.06 + 1e-5])
    no_gps = load(host, "cvusa_test", make_cvusa(tmp_path / "plain", locations=False))
    assert no_gps.queries.latlon is None


def test_crlf_without_final_newline_and_doubled_folders(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA", images=False, locations=False)
    (root / "splits" / "val-19zl.csv").write_bytes(f"{cvusa_row(5)}\r\n{cvusa_row(6)}".encode())
    from .dataset_trees import write_image

    for i in (5, 6):  # a repackaging with doubled top folders
        write_image(root / f"bingmap/bingmap/19/{i:07d}.jpg", i)
        write_image(root / f"streetview/streetview/panos/{i:07d}.jpg", i)
    test = load(host, "cvusa_test", root)
    assert len(test.queries) == 2
    assert test.references.paths[0] == f"{root}/bingmap/bingmap/19/0000005.jpg"
    assert test.queries.paths[0] == f"{root}/streetview/streetview/panos/0000005.jpg"


def test_data_root_resolution_and_not_found_message(host, tmp_path, monkeypatch):
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tmp_path / "none.yaml"))
    make_cvusa(tmp_path / "data" / "CVUSA")
    monkeypatch.setenv("CVGL_DATA_ROOT", str(tmp_path / "data"))
    assert len(load_split(host.splits.get("cvusa_test"), None, None, host).queries) == 2
    monkeypatch.setenv("CVGL_DATA_ROOT", str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError) as info:
        load_split(host.splits.get("cvusa_test"), None, None, host)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "empty" / "CVUSA") in message
    assert "mvrl" in message.lower() and "--dataset synth_cvusa_test" in message


@pytest.mark.parametrize("content, expected", [
    ("bingmap/19/0000005.jpg,streetview/panos/0000005.jpg\n", "line 1: expected 3 comma-separated paths"),
    (f"{cvusa_row(5)}\n\n{cvusa_row(6)},extra\n", "line 3: expected 3 comma-separated paths .* got 4"),
    ("bingmap/19/0000005.jpg,streetview/panos/0000007.jpg,a.png\n", "line 1: satellite id '0000005' and ground id '0000007' differ"),
    (f"{cvusa_row(5)}\n{cvusa_row(6)}\n{cvusa_row(5)}\n", "line 3: duplicate id '0000005' \\(first at line 1\\)"),
    ("\n\r\n", "empty split file"),
    (",streetview/panos/0000005.jpg,a.png\n", "line 1: empty satellite path"),
    (b"\xff\xfe\x00garbage", "line 1: not UTF-8"),
])
def test_malformed_split_file(host, tmp_path, content, expected):
    root = make_cvusa(tmp_path / "CVUSA", images=False)
    path = root / "splits" / "val-19zl.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=expected) as info:
        load(host, "cvusa_test", root)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_split_file_missing_root_and_missing_image(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    (root / "splits" / "train-19zl.csv").unlink()
    with pytest.raises(DataError, match=r"splits/train-19zl.csv: CVUSA split file train-19zl.csv not found"):
        load(host, "cvusa_train", root)
    with pytest.raises(DataError, match="dataset folder does not exist"):
        load(host, "cvusa_test", tmp_path / "nothing")
    (root / "streetview/panos/0000006.jpg").unlink()
    with pytest.raises(DataError, match=r"0000006.jpg: ground image file missing \(listed in .*val-19zl.csv line 2\); "
                                        r"1 of 2 listed ground images are missing"):
        load(host, "cvusa_test", root)


def test_locations_file_too_short_or_malformed(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    all_csv = root / "split_locations" / "all.csv"
    all_csv.write_text("40,-90,40,-90,0\n" * 5)
    with pytest.raises(DataError, match=r"all.csv: has 5 rows, but image id 0000006 needs row 6"):
        load(host, "cvusa_test", root)
    all_csv.write_text("40,-90,40,-90,0\n" * 4 + "40,north,40,-90,0\n40,-90,40,-90,0\n")
    with pytest.raises(DataError, match=r"all.csv line 5: coordinate 'north' is not a number"):
        load(host, "cvusa_test", root)
    all_csv.write_text("lat,lon,lat,lon,h\n" + "40,-90,40,-90,0\n" * 10)  # a header shifts every id's row
    with pytest.raises(DataError, match=r"all.csv line 1: not numbers \(a header row\?\)"):
        load(host, "cvusa_test", root)
    all_csv.write_text("".join(f"{1000 + i},40,-90,40,-90\n" for i in range(10)))  # an index column
    with pytest.raises(DataError, match=r"are not latitude, longitude pairs in degrees \(an extra first column\?\)"):
        load(host, "cvusa_test", root)
