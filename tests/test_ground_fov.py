"""``ground_fov``: full-sphere panoramas shown to a model trained on CVUSA's 65.5-degree band are
cut to that band (``train``) or squashed whole (``full``); in-domain nothing changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvgl_bench import results
from cvgl_bench.data.fov import VERTICAL_FOV_DEG, aligned_rows, presented_hparams
from cvgl_bench.data.protocols import GROUND_FOV
from cvgl_bench.run import Cell, RunOptions, run_cell

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures

CVUSA_BAND = (0.318182, 0.681818)  # 32.7 degrees either side of the horizon, of 90


def test_a_cvusa_model_sees_the_middle_band_of_a_full_sphere():
    for eval_layout in ("cvact", "vigor"):
        assert aligned_rows("cvusa", eval_layout) == pytest.approx(CVUSA_BAND, abs=1e-6)


@pytest.mark.parametrize("train, evaluated", [
    ("cvact", "cvact"), ("vigor", "cvact"), ("cvusa", "cvusa"),  # the same field of view
    ("cvact", "cvusa"),  # a band cannot be widened
    ("cvusa", "university1652"), ("university1652", "cvact"),  # no panoramas
])
def test_nothing_to_cut(train, evaluated):
    assert aligned_rows(train, evaluated) is None


def test_a_recipe_crop_of_the_training_panoramas_is_followed():
    # SAFA's CVACT recipe keeps rows 1/4..3/4 (90 degrees): a VIGOR panorama is cut alike
    assert aligned_rows("cvact", "vigor", (0.25, 0.75)) == pytest.approx((0.25, 0.75))
    # and a CVUSA model whose recipe keeps the lower half of its band sees that half in CVACT
    top, bottom = aligned_rows("cvusa", "cvact", (0.5, 1.0))
    assert top == pytest.approx(0.5) and bottom == pytest.approx(CVUSA_BAND[1], abs=1e-6)


@given(st.floats(0.0, 0.9), st.floats(0.05, 1.0), st.sampled_from(["cvact", "vigor"]))
def test_the_rows_shown_span_the_elevations_seen_in_training(top, height, eval_layout):
    bottom = min(1.0, top + height)
    rows = aligned_rows("cvusa", eval_layout, (top, bottom))
    f_train, f_eval = VERTICAL_FOV_DEG["cvusa"], VERTICAL_FOV_DEG[eval_layout]

    def elevation(r, f):
        return f / 2 - r * f

    assert rows is not None and 0.0 <= rows[0] < rows[1] <= 1.0
    assert elevation(rows[0], f_eval) == pytest.approx(elevation(top, f_train), abs=1e-6)
    assert elevation(rows[1], f_eval) == pytest.approx(elevation(bottom, f_train), abs=1e-6)


def test_presented_hparams_change_only_the_ground_rows_and_only_under_train():
    hparams = {"image_size": {"ground": [8, 32]}, "crop_rows": {"satellite": [0.1, 0.9]}, "lr": 1.0}
    shown = presented_hparams(hparams, "cvusa", "cvact", {"ground_fov": "train", "ties": "strict"})
    assert shown["crop_rows"] == {"satellite": [0.1, 0.9], "ground": list(CVUSA_BAND)}
    assert {k: v for k, v in shown.items() if k != "crop_rows"} == {k: v for k, v in hparams.items() if k != "crop_rows"}
    assert hparams["crop_rows"] == {"satellite": [0.1, 0.9]}  # not modified in place
    assert presented_hparams(hparams, "cvusa", "cvact", {"ground_fov": "full"}) == hparams
    assert presented_hparams(hparams, "cvact", "cvact", {"ground_fov": "train"}) == hparams
    assert presented_hparams(hparams, "cvusa", "cvact", {}) == hparams  # a split without the option


def test_every_full_sphere_evaluation_split_has_the_option(host):
    with_option = {s.name for s in host.splits if "ground_fov" in s.protocol_options}
    full_sphere = {s.name for s in host.splits if s.role == "eval" and s.layout in ("cvact", "vigor")}
    assert with_option == full_sphere and full_sphere
    for name in full_sphere:
        spec = host.splits.get(name)
        assert set(spec.protocol_options["ground_fov"]) == set(GROUND_FOV)
        # real splits keep the published transfer protocol (squashed); the twins align by default
        assert spec.protocol_defaults()["ground_fov"] == ("train" if spec.synthetic else "full")


def _options(tmp_path):
    return RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                      log=lambda line: None)


def test_a_transfer_record_embeds_the_band_and_says_so(make_host, tiny_world, tmp_path, monkeypatch):
    from cvgl_bench.data import images

    seen: list[tuple[tuple[int, int], object]] = []
    load = images.load_images

    def spy(files, size, **kw):
        seen.append((tuple(size), kw.get("rows")))
        return load(files, size, **kw)

    monkeypatch.setattr(images, "load_images", spy)
    host = make_host(toy_methods)
    aligned = run_cell(Cell("tiny", ("synth_cvact_test",), train_split="synth_cvusa_train"), _options(tmp_path), host)
    squashed = run_cell(Cell("tiny", ("synth_cvact_test",), train_split="synth_cvusa_train",
                             protocol=(("ground_fov", "full"),)), _options(tmp_path), host)
    (a_path,), (s_path,) = aligned.written, squashed.written
    assert a_path.name == "synth_cvusa_train__synth_cvact_test__seed0.json"
    assert s_path.name == "synth_cvusa_train__synth_cvact_test__ground_fov_full__seed0.json"
    a, s = results.read(a_path), results.read(s_path)
    assert a.protocol["ground_fov"] == "train" and s.protocol["ground_fov"] == "full"
    assert a.provenance["data_info"]["ground_rows"] == list(CVUSA_BAND)
    assert "ground_rows" not in s.provenance["data_info"]
    assert a.cell.config_hash == s.cell.config_hash  # one trained model, two ways of showing it the data
    ground_rows = [rows for size, rows in seen if size[0] != size[1]]  # panoramas are not square
    assert list(CVUSA_BAND) in ground_rows and None in ground_rows


def test_in_domain_records_are_unchanged_by_the_option(make_host, tiny_world, tmp_path):
    host = make_host(toy_methods)
    out = run_cell(Cell("tiny", ("synth_cvact_test",)), _options(tmp_path), host)
    (path,) = out.written
    record = results.read(path)
    assert record.protocol["ground_fov"] == "train" and "ground_rows" not in record.provenance["data_info"]


def test_a_record_made_before_the_option_is_redone(make_host, tiny_world, tmp_path):
    """A record whose protocol lacks an option its split has now was made under another
    convention (transfer squashed): ``only-missing`` evaluates it again instead of keeping it."""
    import json

    host = make_host(toy_methods)
    cell = Cell("tiny", ("synth_cvact_test",), train_split="synth_cvusa_train")
    (path,) = run_cell(cell, _options(tmp_path), host).written
    data = json.loads(path.read_text())
    del data["protocol"]["ground_fov"]
    path.write_text(json.dumps(data))
    again = run_cell(cell, _options(tmp_path), host)
    assert again.written == [path] and not again.kept and not again.trained
    assert results.read(path).protocol["ground_fov"] == "train"
    assert run_cell(cell, _options(tmp_path), host).kept == [path]  # now up to date
