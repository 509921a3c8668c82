"""CVACT loader: ACT_data.mat, both test protocols, skipped missing pairs, broken .mat files."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.data.formats.cvact import read_act_mat, utm_truth
from cvgl_bench.data.splits import load_split
from cvgl_bench.data.structures import POSITIVE
from cvgl_bench.errors import DataError

from .dataset_trees import act_ids, make_cvact, write_act_mat


def load(host, name, root, **protocol):
    split = host.splits.get(name)
    return load_split(split, protocol=protocol, host=host, root=root, allow_empty=True)


def test_mat_reads_by_name_and_by_position(tmp_path):
    act = read_act_mat(write_act_mat(tmp_path / "a.mat"))
    assert act.pano_ids.dtype.kind == "U" and len(act.pano_ids) == 12 and act.utm.shape == (12, 2)
    assert list(act.split("trainSet")) == [0, 1, 2, 3]  # 1-based in the file
    # Sample4Geo reads the index array positionally (second field); other names must work too
    act = read_act_mat(write_act_mat(tmp_path / "b.mat", index_field="idx", val_field="idx"))
    assert list(act.split("valSet")) == [4, 5] and list(act.split("trainSet")) == [0, 1, 2, 3]


def test_train_and_val(host, tmp_path):
    root = make_cvact(tmp_path / "CVACT")
    train = load(host, "cvact_train", root)
    assert len(train) == 4 and list(train.queries.ids) == list(act_ids(12)[:4])
    assert train.queries.paths[0] == f"{root}/ANU_data_small/streetview/{act_ids(12)[0]}_grdView.jpg"
    assert train.references.paths[0] == f"{root}/ANU_data_small/satview_polish/{act_ids(12)[0]}_satView_polish.jpg"
    assert train.references.utm is not None and train.references.utm[1, 0] == 500100.0
    val = load(host, "cvact_val", root)
    assert len(val.queries) == 2 and val.truth.n_positives().tolist() == [1, 1]


def test_test_protocols_utm5m_and_exact_id(host, tmp_path):
    root = make_cvact(tmp_path / "CVACT")
    official = load(host, "cvact_test", root)
    assert official.protocol["cvact_test"] == "utm5m"
    ids = list(official.queries.ids)
    assert ids == list(act_ids(12)[6:12])
    # test rows 7..12 are ids 6..11 (0-based); ids 8, 9 lie 3 m apart, 10 is 7 m from 8 and 4 m from 9
    pos = {ids[q]: sorted(ids[r] for r in official.truth.positives(q)) for q in range(len(ids))}
    a8, a9, a10 = act_ids(12)[8], act_ids(12)[9], act_ids(12)[10]
    assert pos[a8] == [a8, a9] and pos[a9] == [a8, a9, a10] and pos[a10] == [a9, a10]
    assert pos[act_ids(12)[6]] == [act_ids(12)[6]]
    exact = load(host, "cvact_test", root, cvact_test="exact_id")
    assert list(exact.queries.ids) == sorted(ids) and exact.truth.n_positives().tolist() == [1] * 6
    assert exact.references.utm is not None and exact.info["utm"] == "from ACT_data.mat"
    (root / "ACT_data.mat").unlink()  # Sample4Geo's protocol does not need the .mat
    without_mat = load(host, "cvact_test", root, cvact_test="exact_id")
    assert without_mat.references.utm is None and len(without_mat.queries) == 6
    assert official.fingerprint != exact.fingerprint


def test_utm_radius_is_inclusive():
    truth = utm_truth(np.array([[0.0, 0.0]]), np.array([[5.0, 0.0], [5.0001, 0.0], [0.0, -3.0]]))
    assert sorted(truth.positives(0).tolist()) == [0, 2] and (truth.role == POSITIVE).all()


def test_missing_pairs_are_skipped_and_counted(host, tmp_path):
    missing = act_ids(12)[2]
    root = make_cvact(tmp_path / "CVACT", skip_ids=(missing,))
    train = load(host, "cvact_train", root)
    assert len(train) == 3 and missing not in train.queries.ids
    assert train.info["listed"] == 4 and train.info["skipped_missing"] == 1 and train.info["missing_ids"] == [missing]


@pytest.mark.parametrize("name, row, protocol", [("cvact_val", 5, {}), ("cvact_test", 9, {}),
                                                ("cvact_test", 9, {"cvact_test": "utm5m"})])
def test_an_evaluation_pair_without_its_image_is_an_error_not_a_smaller_split(host, tmp_path, name, row, protocol):
    """Dropping it would shrink the queries and the gallery, and the score would look official."""
    missing = act_ids(12)[row - 1]
    root = make_cvact(tmp_path / "CVACT", skip_ids=(missing,))
    with pytest.raises(DataError, match=rf"{missing}_grdView.jpg: missing, and 0 more of the \d CVACT (val|test) pairs "
                                        r"listed in ACT_data.mat .* an evaluation split must be complete"):
        load(host, name, root, **protocol)


def test_data_check_tolerates_one_missing_training_pair_not_two_files_of_two_pairs(host, tmp_path):
    from cvgl_bench.data.check import check_dataset

    ids = act_ids(12)
    root = make_cvact(tmp_path / "one" / "CVACT", skip_ids=(ids[0],))  # both images of one pair, as released
    entry = next(e for e in check_dataset("cvact", root, host=host)["splits"] if e["split"] == "cvact_train")
    assert entry["missing"] == 2 and "2 files of 1 pair(s) missing, as in the official release" in entry["note"]
    assert "files missing" not in entry["status"]
    root = make_cvact(tmp_path / "two" / "CVACT")
    (root / "ANU_data_small" / "streetview" / f"{ids[0]}_grdView.jpg").unlink()
    (root / "ANU_data_small" / "satview_polish" / f"{ids[1]}_satView_polish.jpg").unlink()
    entry = next(e for e in check_dataset("cvact", root, host=host)["splits"] if e["split"] == "cvact_train")
    assert "2 files missing" in entry["status"]


def test_exact_id_intersects_the_two_folders(host, tmp_path):
    root = make_cvact(tmp_path / "CVACT")
    (root / "ANU_data_test" / "satview_polish" / f"{act_ids(12)[7]}_satView_polish.jpg").unlink()
    exact = load(host, "cvact_test", root, cvact_test="exact_id")
    assert len(exact.queries) == 5 and exact.info["ground_only"] == 1


@pytest.mark.parametrize("payload, expected", [
    (None, r"ACT_data.mat: not found"),
    (b"", r"ACT_data.mat: not a readable MATLAB .mat file"),
    (b"MATLAB 5.0 MAT-file, this is not really one" + b"\0" * 100, r"ACT_data.mat: not a readable MATLAB"),
    ("truncate", r"ACT_data.mat: not a readable MATLAB"),
])
def test_unreadable_mat(host, tmp_path, payload, expected):
    root = make_cvact(tmp_path / "CVACT", images=False)
    mat = root / "ACT_data.mat"
    if payload is None:
        mat.unlink()
    elif payload == "truncate":
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    else:
        mat.write_bytes(payload)
    with pytest.raises(DataError, match=expected) as info:
        load(host, "cvact_train", root)
    assert "\n" not in str(info.value)


def test_a_count_in_the_second_field_is_not_read_as_the_index_list(tmp_path):
    import scipy.io

    from cvgl_bench.data.formats.cvact import read_act_mat

    path = write_act_mat(tmp_path / "a.mat")
    mat = scipy.io.loadmat(path)
    mat = {k: v for k, v in mat.items() if not k.startswith("__")}
    mat["valSet"] = {"ind": np.array([[5.0], [6.0], [7.0]]), "num": 3.0}
    scipy.io.savemat(path, mat)
    with pytest.raises(DataError, match="struct 'valSet' has no field 'valInd', and its second field 'num', read by "
                                        "position as Sample4Geo does, holds 1 value.s. while 'ind' holds 3"):
        read_act_mat(path, ("valSet",))


def test_wrong_mat_contents(host, tmp_path):
    import scipy.io

    root = make_cvact(tmp_path / "CVACT", images=False)
    mat = root / "ACT_data.mat"
    scipy.io.savemat(mat, {"something": np.zeros(3)})
    with pytest.raises(DataError, match=r"has no variable 'panoIds' \(variables: something\)"):
        load(host, "cvact_train", root)
    write_act_mat(mat, train=(1, 2, 13))
    with pytest.raises(DataError, match=r"trainSet.trainInd entry 3 is 13, outside 1..12"):
        load(host, "cvact_train", root)
    write_act_mat(mat, train=(1, 2, 2))
    with pytest.raises(DataError, match=r"trainSet.trainInd lists panoId 2 twice \(entries 2 and 3\)"):
        load(host, "cvact_train", root)
    write_act_mat(mat, train=(1, 2.5))
    with pytest.raises(DataError, match=r"non-integer"):
        load(host, "cvact_train", root)
    scipy.io.savemat(mat, {"panoIds": act_ids(3), "utm": np.zeros((2, 2)), "trainSet": {"a": 1, "trainInd": [[1]]}})
    with pytest.raises(DataError, match=r"'utm' must be a 3 x 2 numeric array"):
        load(host, "cvact_train", root)
    scipy.io.savemat(mat, {"panoIds": act_ids(12), "utm": np.zeros((12, 2)),
                           "trainSet": {"trainIdName": 0, "trainInd": [[1, 5], [2, 6]]}})  # a second column
    with pytest.raises(DataError, match=r"trainSet.trainInd must be an index vector \(N x 1\), not a 2 x 2 array"):
        load(host, "cvact_train", root)


def test_no_images_at_all_is_an_error(host, tmp_path):
    root = make_cvact(tmp_path / "CVACT", images=False)
    with pytest.raises(DataError, match=r"ANU_data_small: none of the 4 train ids"):
        load(host, "cvact_train", root)
    with pytest.raises(DataError, match=r"ANU_data_test: no id has both"):
        load(host, "cvact_test", root, cvact_test="exact_id")
    with pytest.raises(DataError, match=r"ANU_data_test/streetview: folder not found"):
        load(host, "cvact_test", tmp_path / "nothing", cvact_test="exact_id")
