"""Hyper-parameter overrides (``--set KEY=VALUE``): parsing, merging, labels, cells and grids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvgl_bench.errors import ConfigError
from cvgl_bench.run.cell import Cell, cell_from_json, cell_to_json
from cvgl_bench.run.overrides import apply_overrides, parse_set, parse_value, variant_label

HP = {"ncm": "full", "nec": True, "lr": 1e-3, "epochs": 4, "ncm_stages": [2, 3],
      "augment": {"flip_p": 0.5, "rotate_mode": "paired"}, "image_size": {"ground": [64, 256]}}


@pytest.mark.parametrize("text, value", [
    ("off", "off"), ("on", "on"), ("yes", "yes"), ("no", "no"),  # YAML 1.1 would make these booleans
    ("false", False), ("True", True), ("3", 3), ("1e-4", 1e-4), ("-2.5E3", -2500.0), ("0.5", 0.5),
    ("[2, 3]", [2, 3]), ("[32,128]", [32, 128]), ("{a: 1}", {"a": 1}), ("null", None), ("convnext_atto", "convnext_atto"),
    ("abc def", "abc def"),
])
def test_values_are_yaml_1_2_scalars_and_lists(text, value):
    assert parse_value(text) == value


def test_parse_set_keeps_order_and_refuses_a_key_repeated_with_another_value():
    assert parse_set(["ncm=off", "lr=1e-4", "ncm=off"]) == (("ncm", '"off"'), ("lr", "0.0001"))
    with pytest.raises(ConfigError, match="--set ncm is given twice with different values"):
        parse_set(["ncm=off", "lr=1e-4", "ncm=spatial"])


@pytest.mark.parametrize("item, message", [
    ("ncm", "takes KEY=VALUE"), ("=off", "takes KEY=VALUE"), ("a b=1", "must be a hparams name"),
    ("x=[1, 2", "not valid YAML"),
])
def test_bad_items_are_one_line_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_set([item])


def test_apply_replaces_values_and_reaches_nested_tables():
    out = apply_overrides(HP, parse_set(["ncm=off", "nec=false", "augment.flip_p=0", "image_size.ground=[32, 128]"]))
    assert out["ncm"] == "off" and out["nec"] is False
    assert out["augment"] == {"flip_p": 0, "rotate_mode": "paired"}
    assert out["image_size"] == {"ground": [32, 128]}
    assert HP["ncm"] == "full" and HP["augment"]["flip_p"] == 0.5  # the input is not modified


def test_a_mapping_value_merges_into_a_table():
    out = apply_overrides(HP, parse_set(["augment={flip_p: 0.1}"]))
    assert out["augment"] == {"flip_p": 0.1, "rotate_mode": "paired"}


def test_a_table_the_recipe_leaves_empty_is_open_to_any_key():
    hp = {**HP, "backbone_kwargs": {}}
    assert apply_overrides(hp, parse_set(["backbone_kwargs.drop_path_rate=0.1"]))["backbone_kwargs"] == {
        "drop_path_rate": 0.1}
    out = apply_overrides(hp, parse_set(["backbone_kwargs={drop_path_rate: 0.1, layer_scale_init_value: 1e-6}"]))
    assert out["backbone_kwargs"] == {"drop_path_rate": 0.1, "layer_scale_init_value": 1e-6}


@pytest.mark.parametrize("item, message", [
    ("nmc=off", "has no hparam 'nmc'.*known: augment"),
    ("augment.flp=0", "no hparam 'flp' in augment"),
    ("lr.x=1", "lr is not a table"),
    ("augment={flp: 0}", "no hparam 'flp' in augment"),  # a mapping value is checked key by key
    ('image_size={ground: [32, 128], grund: [1, 1]}', "--set image_size.grund: .*no hparam 'grund' in image_size"),
    ("augment={flip_p: x}", "augment.flip_p.*is a number"),
])
def test_unknown_keys_are_refused_instead_of_training_the_same_model(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(HP, parse_set([item]), method="clnet")


def test_variant_label():
    assert variant_label(()) == ""
    assert variant_label(parse_set(["ncm=off"])) == "ncm=off"
    assert variant_label(parse_set(["nec=false", "ncm_stages=[3]", "lr=1e-4"])) == "lr=0.0001,ncm_stages=[3],nec=false"


@pytest.mark.parametrize("spellings", [
    (["augment.flip_p=0"], ["augment={flip_p: 0}"]),
    (["nec=false", "lr=1e-4"], ["lr=1e-4", "nec=false"]),
    (["image_size.ground=[32,128]", "augment.flip_p=0"], ["augment={flip_p: 0}", "image_size={ground: [32, 128]}"]),
])
def test_one_configuration_has_one_label_however_it_is_spelled(spellings):
    """The label names records, their files and leaderboard rows: two spellings must not make two rows."""
    first, second = (parse_set(items) for items in spellings)
    assert variant_label(first) == variant_label(second)
    assert apply_overrides(HP, first, method="clnet") == apply_overrides(HP, second, method="clnet")


@pytest.mark.parametrize("items", [["augment={flip_p: 0}", "augment.flip_p=1"],
                                   ["augment.flip_p=0", "augment={flip_p: 0, rotate_p: 0}"]])
def test_an_entry_set_by_two_items_is_refused(items):
    """Otherwise the order of the items would decide, and the label could not say which."""
    with pytest.raises(ConfigError, match="--set sets augment.flip_p in two items"):
        parse_set(items)


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                       st.one_of(st.booleans(), st.integers(-5, 5), st.text("abcxyz", min_size=1, max_size=5),
                                 st.lists(st.integers(0, 9), max_size=3)), max_size=4))
def test_overrides_round_trip_through_cells_and_json(values):
    overrides = tuple((k, json.dumps(v, sort_keys=True)) for k, v in values.items())
    cell = Cell("clnet", ("synth_cvusa_test",), None, "cpu", 1, (("ties", "loose"),), overrides)
    again = cell_from_json(cell_to_json(cell))
    assert again == cell and hash(again) == hash(cell)
    assert apply_overrides(dict(values), overrides) == json.loads(json.dumps(values))


def test_cells_without_overrides_read_from_older_json():
    old = '{"eval_splits": ["a"], "method": "m", "profile": "cpu", "protocol": [], "seed": 0, "train_split": null}'
    cell = cell_from_json(old)
    assert cell.overrides == () and cell.variant == ""


def test_cell_names_its_variant():
    cell = Cell("clnet", ("synth_cvusa_test",), overrides=parse_set(["ncm=off"]))
    assert cell.variant == "ncm=off" and "[ncm=off]" in str(cell)


@pytest.mark.parametrize("item, message", [
    ('views=["drone","satellite"]', "a run's views are its training split's"),
    ("image_sizes.ground=[16,64]", "--set image_size.ground"),
])
def test_derived_hparams_cannot_be_set_and_the_error_says_what_to_set(item, message):
    hp = {"views": ["ground", "satellite"], "image_size": {"ground": [64, 256], "satellite": [128, 128]}}
    with pytest.raises(ConfigError, match=message):
        apply_overrides(hp, parse_set([item]))
