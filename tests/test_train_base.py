"""ContrastiveMethod: recipe resolution, validation, GPS coordinates of locations."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_bench.data.structures import ImageSet, TrainData
from cvgl_bench.errors import ConfigError
from cvgl_bench.train.base import BASE_HPARAMS, deep_merge, location_coordinates

from .train_helpers import TinyMethod, toy_train_data, train_split_spec


def test_deep_merge_merges_nested_dicts_and_copies():
    base = {"a": 1, "nested": {"x": 1, "y": 2}}
    out = deep_merge(base, {"nested": {"y": 3}}, {"b": [1]})
    assert out == {"a": 1, "nested": {"x": 1, "y": 3}, "b": [1]}
    out["nested"]["x"] = 9
    assert base["nested"]["x"] == 1


def test_layout_recipe_overrides_default_and_image_size_follows_the_views():
    method = TinyMethod()
    method.overrides = {}
    hp = method.hparams("cpu", train_split_spec("university1652", "drone", "satellite"))
    assert hp["image_size"] == {"drone": [16, 16], "satellite": [16, 16]}
    assert hp["views"] == ["drone", "satellite"]
    assert "image_sizes" not in hp
    assert set(BASE_HPARAMS) - {"image_sizes"} <= set(hp)


@pytest.mark.parametrize("override, message", [
    ({"sampler": "nearest"}, "sampler 'nearest'"),
    ({"batch_size": 1}, "at least 2"),
    ({"neighbour_metric": "l1"}, "neighbour_metric"),
    ({"image_sizes": {"satellite": [16, 20]}}, "square"),
    ({"augment": {"flip": 1}}, "unknown augment option"),
    ({"epochs": -1}, "epochs must be an integer at least 1, not -1"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"lr": float("inf")}, "lr must be a finite number above 0"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"lr": 0}, "lr must be a finite number above 0"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number at least 0"),
    ({"label_smoothing": 1.0}, "label_smoothing must be below 1"),
    ({"threads": 0}, "threads must be an integer from 1 to 1024"),
    ({"workers": 65}, "workers must be an integer from 0 to 64"),
    ({"embed_batch_size": 0}, "embed_batch_size"),
    ({"grad_clip_value": 0}, "grad_clip_value must be a finite number above 0"),
    ({"warmup_epochs": "1"}, "warmup_epochs must be a finite number"),
])
def test_invalid_recipes_fail_in_one_line(override, message):
    method = TinyMethod()
    method.overrides = override
    with pytest.raises(ConfigError, match=message):
        method.hparams("cpu", train_split_spec())


class _SatelliteOnly(TinyMethod):
    def base_hparams(self):
        return {**BASE_HPARAMS, "image_sizes": {"satellite": [8, 8]}}

    def recipes(self):
        return {"paper": {"default": {}}, "cpu": {"default": {}}}


def test_missing_view_size_is_a_config_error():
    with pytest.raises(ConfigError, match="no image size for view\\(s\\) ground"):
        _SatelliteOnly().hparams("cpu", train_split_spec())


def test_location_coordinates_prefer_utm_then_latlon_then_queries():
    train = toy_train_data(6)
    coords, metric = location_coordinates(train, np.array([2, 0]))
    assert metric == "haversine"
    np.testing.assert_array_equal(coords, train.references.latlon[[2, 0]])
    utm = np.arange(12.0).reshape(6, 2)
    with_utm = TrainData("t", train.queries, ImageSet("satellite", train.references.ids, train.references.paths,
                                                      latlon=train.references.latlon, utm=utm), train.pairs)
    coords, metric = location_coordinates(with_utm, np.array([1]))
    assert metric == "euclidean" and coords.tolist() == [[2.0, 3.0]]
    assert location_coordinates(with_utm, np.array([1]), "haversine")[1] == "haversine"


def test_location_coordinates_fall_back_to_the_first_query_of_a_location():
    queries = ImageSet("ground", ["a", "b", "c"], ["a", "b", "c"], latlon=[[1, 1], [2, 2], [3, 3]])
    references = ImageSet("satellite", ["r0", "r1"], ["r0", "r1"])
    train = TrainData("t", queries, references, np.array([[0, 1], [1, 0], [2, 1]]))
    coords, _ = location_coordinates(train, np.array([0, 1]))
    assert coords.tolist() == [[2, 2], [1, 1]]


def test_gps_batching_without_coordinates_says_what_to_do():
    queries = ImageSet("ground", ["a", "b"], ["a", "b"])
    references = ImageSet("satellite", ["r0", "r1"], ["r0", "r1"])
    train = TrainData("nocoords", queries, references, np.array([[0, 0], [1, 1]]))
    with pytest.raises(ConfigError, match="set sampler to 'random'"):
        location_coordinates(train, np.array([0, 1]))


def test_gps_locations_take_the_query_coordinates_when_the_recipe_says_so():
    import numpy as np

    from cvgl_bench.data.structures import ImageSet, TrainData
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.train.base import location_coordinates

    ref_ll, qry_ll = np.array([[40.0, -100.0], [41.0, -101.0]]), np.array([[40.001, -100.001], [41.001, -101.001]])
    train = TrainData("t", ImageSet("ground", ["a", "b"], ["/a", "/b"], latlon=qry_ll),
                      ImageSet("satellite", ["a", "b"], ["/a", "/b"], latlon=ref_ll), np.array([[0, 0], [1, 1]]))
    rows = np.array([0, 1])
    assert np.array_equal(location_coordinates(train, rows)[0], ref_ll)
    assert np.array_equal(location_coordinates(train, rows, prefer="query")[0], qry_ll)
    no_query = TrainData("t", ImageSet("ground", ["a", "b"], ["/a", "/b"]),
                         ImageSet("satellite", ["a", "b"], ["/a", "/b"], latlon=ref_ll), np.array([[0, 0], [1, 1]]))
    assert np.array_equal(location_coordinates(no_query, rows, prefer="query")[0], ref_ll)  # falls back
    with pytest.raises(ConfigError, match="neighbour_coordinates"):
        location_coordinates(train, rows, prefer="both")


class _OwnChecksOnly(TinyMethod):
    """A third-party method that overrides validate_hparams and forgets super()."""

    def validate_hparams(self, hp):
        if hp.get("head_dim") == 3:
            raise ConfigError("head_dim 3 is not supported")


@pytest.mark.parametrize("override, message", [({"sampler": "bogus"}, "sampler 'bogus'"),
                                               ({"epochs": -1}, "epochs must be an integer"),
                                               ({"head_dim": 3}, "head_dim 3")])
def test_an_override_of_validate_hparams_cannot_drop_the_toolkit_checks(override, message):
    method = _OwnChecksOnly()
    method.overrides = override
    with pytest.raises(ConfigError, match=message):
        method.hparams("cpu", train_split_spec())


def test_overrides_from_set_are_checked_by_the_toolkit_too():
    from cvgl_bench.method import check_hparams
    from cvgl_bench.run.overrides import apply_overrides, parse_set

    method = _OwnChecksOnly()
    method.overrides = {}
    hp = apply_overrides(method.hparams("cpu", train_split_spec()), parse_set(["batch_size=0"]))
    with pytest.raises(ConfigError, match="batch_size must be an integer at least 2, not 0"):
        check_hparams(method, hp)


def test_a_recipe_value_that_is_not_json_names_its_key():
    from cvgl_bench.errors import PluginError

    method = TinyMethod()
    method.overrides = {"augment": {"grid_ratio": {"ground": object()}}}
    with pytest.raises(PluginError, match="hparam augment.grid_ratio.ground is a object; a recipe holds JSON data"):
        method.hparams("cpu", train_split_spec())
