import numpy as np
import pytest

from cvgl_bench.data.structures import (
    JUNK,
    POSITIVE,
    SEMI_POSITIVE,
    EvalData,
    GroundTruth,
    ImageSet,
    TrainData,
    fingerprint_of,
)
from cvgl_bench.errors import DataError


def image_set(n, view="ground", prefix="q"):
    return ImageSet(view, [f"{prefix}{i}" for i in range(n)], [f"/x/{prefix}{i}.jpg" for i in range(n)])


def test_ground_truth_from_lists_keeps_first_role_and_counts_positives():
    gt = GroundTruth.from_lists([[0], [1, 2], []], 4, semi_positives=[[1, 0], [3], []], junk=[[], [], [3]])
    refs, roles = gt.entries(0)
    assert refs.tolist() == [0, 1] and roles.tolist() == [POSITIVE, SEMI_POSITIVE]
    assert gt.entries(2)[1].tolist() == [JUNK]
    assert gt.n_positives().tolist() == [1, 2, 0]
    assert gt.positives(1).tolist() == [1, 2]
    assert gt.query_of_entry.tolist() == [0, 0, 1, 1, 1, 2]


def test_ground_truth_round_trips_through_arrays():
    gt = GroundTruth.one_to_one(np.array([2, 0, 1]), 3)
    back = GroundTruth.from_arrays(gt.arrays())
    assert back.ref_index.tolist() == [2, 0, 1] and back.n_references == 3


@pytest.mark.parametrize("kwargs", [
    dict(indptr=[0, 2], ref_index=[0], role=[1], n_references=2),
    dict(indptr=[0, 1], ref_index=[5], role=[1], n_references=2),
    dict(indptr=[0, 1], ref_index=[0], role=[9], n_references=2),
    dict(indptr=[1, 1], ref_index=[], role=[], n_references=2),
])
def test_ground_truth_rejects_inconsistent_arrays(kwargs):
    with pytest.raises(ValueError):
        GroundTruth(**kwargs)


def test_image_set_validates_shapes_and_finds_duplicate_ids():
    with pytest.raises(ValueError):
        ImageSet("ground", ["a"], ["/a", "/b"])
    with pytest.raises(ValueError):
        ImageSet("ground", ["a"], ["/a"], latlon=np.zeros((2, 2)))
    dup = ImageSet("ground", ["a", "b", "a"], ["/a", "/b", "/c"])
    with pytest.raises(DataError, match="duplicate ground image id 'a'"):
        dup.index_of()
    sub = image_set(5).subset([4, 1])
    assert sub.ids.tolist() == ["q4", "q1"]


def test_eval_data_checks_sizes_and_fingerprints_deterministically():
    q, r = image_set(3), image_set(3, "satellite", "r")
    gt = GroundTruth.one_to_one(np.arange(3), 3)
    a = EvalData("s", q, r, gt, {"p": "x"})
    b = EvalData("s", q, r, gt, {"p": "x"})
    c = EvalData("s", q, r, gt, {"p": "y"})
    assert a.fingerprint == b.fingerprint != c.fingerprint
    with pytest.raises(ValueError):
        EvalData("s", image_set(2), r, gt)


def test_train_data_location_is_reference_row():
    t = TrainData("t", image_set(3), image_set(2, "satellite", "r"), [[0, 0], [1, 0], [2, 1]])
    assert t.location.tolist() == [0, 0, 1] and len(t) == 3
    with pytest.raises(ValueError):
        TrainData("t", image_set(3), image_set(2, "satellite", "r"), [[0, 2]])


def test_fingerprint_is_order_sensitive():
    assert fingerprint_of(np.arange(3)) != fingerprint_of(np.arange(3)[::-1].copy())


def test_an_evaluation_split_with_a_repeated_id_is_refused():
    """A duplicated id (a panoId twice in ACT_data.mat) would match one embedding row twice."""
    from cvgl_bench.data.formats.common import eval_data
    from cvgl_bench.data.structures import GroundTruth, ImageSet
    from cvgl_bench.errors import DataError

    queries = ImageSet("ground", np.array(["a", "b", "a"]), np.array(["qa", "qb", "qa2"]))
    references = ImageSet("satellite", np.array(["a", "b", "c"]), np.array(["ra", "rb", "rc"]))
    truth = GroundTruth.from_lists([[0], [1], [0]], 3)
    with pytest.raises(DataError, match="query id 'a' occurs twice in the split"):
        eval_data("toy_test", queries, references, truth, None, {"split_file": "ACT_data.mat"})


def test_queries_trained_on_compares_normalised_paths_of_both_training_views():
    queries = ImageSet("ground", ["a", "b", "c"], ["/d/p/a.jpg", "/d/p/./b.jpg", "/d/p/c.jpg"])
    evaluation = EvalData("e", queries, image_set(2, "satellite", "s"), GroundTruth.one_to_one(np.array([0, 1, 0]), 2))
    train = TrainData("t", ImageSet("ground", ["x", "y"], ["/d/p/b.jpg", "/d/q/a.jpg"]),
                      ImageSet("satellite", ["z"], ["/d/p/c.jpg"]), np.array([[0, 0], [1, 0]]))
    assert evaluation.queries_trained_on(train) == ["/d/p/./b.jpg", "/d/p/c.jpg"]
    other = TrainData("o", image_set(2, "ground", "t"), image_set(1, "satellite", "u"), np.array([[0, 0], [1, 0]]))
    assert evaluation.queries_trained_on(other) == []


def test_a_file_name_that_is_not_utf8_is_one_line_naming_its_bytes():
    """A latin-1 name from a Windows zip arrives as lone surrogates (os.fsdecode)."""
    import os

    bad = os.fsdecode(b"/d/image-\xe9t\xe9.jpeg")
    with pytest.raises(DataError, match=r"^b'/d/image-\\xe9t\\xe9.jpeg': the file name is not UTF-8; rename it"):
        ImageSet("drone", ["a", "b"], ["/d/ok-\u00fc.jpeg", bad])
    assert len(ImageSet("drone", ["a"], ["/d/ok-\u00fc.jpeg"])) == 1  # UTF-8 beyond ASCII is fine
