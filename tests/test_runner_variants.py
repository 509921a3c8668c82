"""``run --set``: an ablation is one option; its records, checkpoints and leaderboard rows stay apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvgl_bench import results
from cvgl_bench.errors import ConfigError
from cvgl_bench.run import Cell, RunOptions, parse_set, run_cell

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


@pytest.fixture
def toy_host(make_host, tiny_world):
    return make_host(toy_methods)


def _options(tmp_path, **kw):
    return RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                      **{"log": lambda line: None, **kw})


def test_overrides_reach_the_model_and_name_the_record(toy_host, tmp_path):
    plain = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path), toy_host)
    ablated = run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=1", "augment.flip_p=0"])),
                       _options(tmp_path), toy_host)
    (plain_path,), (ablated_path,) = plain.written, ablated.written
    assert plain_path.name == "synth_cvusa_train__synth_cvusa_test__seed0.json"
    assert ablated_path.name == "synth_cvusa_train__synth_cvusa_test__augment.flip_p_0_epochs_1__seed0.json"
    p, a = results.read(plain_path), results.read(ablated_path)
    assert p.cell.variant == "" and a.cell.variant == "augment.flip_p=0,epochs=1"
    assert a.cell.hparams["epochs"] == 1 and a.cell.hparams["augment"]["flip_p"] == 0
    assert p.cell.hparams["epochs"] == 2
    assert p.cell.config_hash != a.cell.config_hash  # never the same checkpoint
    assert p.cell.configuration_id != a.cell.configuration_id  # nor the same leaderboard row
    assert p.checkpoint.file != a.checkpoint.file
    assert a.efficiency["params"] > 0 and a.efficiency["embedding_dim"] == 16
    assert p.split.synthetic and p.split.twin == "cvusa_test"
    # one ground image per place: the intervals resample queries, as many times as the options say
    assert (p.intervals.places, p.intervals.resamples, p.intervals.seed) == (p.n_queries, 20, 0)
    frame = results.load(tmp_path / "results")
    assert sorted(frame["variant"]) == ["", "augment.flip_p=0,epochs=1"]
    again = run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=1", "augment.flip_p=0"])),
                     _options(tmp_path), toy_host)
    assert again.kept == [ablated_path] and not again.trained


def test_protocol_and_hparams_variants_combine_in_the_file_name(toy_host, tmp_path):
    out = run_cell(Cell("tiny", ("synth_cvusa_test",), protocol=(("ties", "loose"),), overrides=parse_set(["epochs=1"])),
                   _options(tmp_path), toy_host)
    assert out.written[0].name == "synth_cvusa_train__synth_cvusa_test__epochs_1__ties_loose__seed0.json"


@pytest.mark.parametrize("item, message", [
    ("epochz=1", "tiny has no hparam 'epochz'"),
    ("sampler=bogus", "sampler 'bogus' is not one of"),  # the method validates the merged hparams again
    ("image_size.ground=oops", "image_size"),
])
def test_bad_overrides_fail_before_any_training(toy_host, tmp_path, item, message):
    with pytest.raises(ConfigError, match=message):
        run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set([item])), _options(tmp_path), toy_host)
    assert not (tmp_path / "runs").exists()


def test_cli_set_and_the_leaderboard_label(toy_host, tmp_path):
    from cvgl_bench.cli import cli
    from cvgl_bench.leaderboard.tables import build

    common = ["run", "--method", "tiny", "--dataset", "synth_cvusa_test", "--results", str(tmp_path / "r"),
              "--runs", str(tmp_path / "runs")]
    runner = CliRunner()
    plain = runner.invoke(cli, common)
    assert plain.exit_code == 0, plain.output
    ablated = runner.invoke(cli, common + ["--set", "epochs=1", "--json"])
    assert ablated.exit_code == 0, ablated.output
    assert json.loads(ablated.stdout)[0]["cell"]["variant"] == "epochs=1"
    bad = runner.invoke(cli, common + ["--set", "epochz=1"])
    assert bad.exit_code == 2 and "no hparam 'epochz'" in bad.output and "Traceback" not in bad.output
    board = build(tmp_path / "r", significance=False, ranks=False, host=toy_host)
    (table,) = board.tables
    assert sorted(row.label for row in table.rows) == ["tiny", "tiny [epochs=1]"]
    assert not any("kept as" in w for w in board.warnings)  # an ablation is a row of its own, not a conflict


@pytest.mark.parametrize("resume, expected", [(True, "resumed from"), (False, "starting a new run")])
def test_resume_continues_an_interrupted_training_and_restart_starts_over(toy_host, tmp_path, resume, expected):
    cell = Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=1"]))
    run_cell(cell, _options(tmp_path), toy_host)
    for leftover in (*(tmp_path / "runs").rglob("model.pt"), *(tmp_path / "results").rglob("*.json")):
        leftover.unlink()  # as if killed after the last epoch checkpoint, before the model was saved
    lines: list[str] = []
    run_cell(cell, RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                              log=lines.append, resume=resume), toy_host)
    assert any(expected in line for line in lines), lines
    (info,) = (tmp_path / "runs").rglob("train.json")
    trained = json.loads(info.read_text())
    if resume:  # the training's time counts the epoch trained before the interruption
        assert trained["resumed_after_epoch"] == 1
        assert trained["train_s"] >= trained["train_s_before_resume"] > 0
    else:
        assert "train_s_before_resume" not in trained and trained["train_s"] > 0


def test_a_reused_checkpoint_keeps_the_provenance_of_its_training(toy_host, tmp_path):
    cell = Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=1"]))
    run_cell(cell, _options(tmp_path), toy_host)
    (info,) = (tmp_path / "runs").rglob("train.json")
    saved = json.loads(info.read_text())
    saved["world_size"] = 4  # as if trained by torchrun on 4 GPUs
    info.write_text(json.dumps(saved))
    for record in (tmp_path / "results").rglob("*.json"):
        record.unlink()
    run_cell(cell, _options(tmp_path), toy_host)
    (record,) = (tmp_path / "results").rglob("*.json")
    provenance = json.loads(record.read_text())["provenance"]
    assert provenance["train_reused"] and provenance["world_size"] == 4
    assert provenance["trained_with"]["global_batch"] == provenance["global_batch"] > 0


def test_a_record_names_no_folder_of_the_machine(toy_host, tmp_path, tiny_world):
    """Checkpoint relative to the runs folder, data paths by label: records can be committed."""
    out = run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=1"])), _options(tmp_path),
                   toy_host)
    (path,) = out.written
    text = path.read_text()
    for folder in (tmp_path, tiny_world, Path.home()):
        assert f'"{folder}' not in text and f" {folder}/" not in text, folder
    record = json.loads(text)
    assert not record["checkpoint"]["file"].startswith("/")
    checkpoint = results.checkpoint_file(record, tmp_path / "runs")
    assert checkpoint.is_file() and checkpoint.name == "model.pt"
    info = record["provenance"]["data_info"]
    assert info["split_file"].startswith("<cache>/synth/") and info["synthetic"]["root"].startswith("<cache>/")


def test_an_override_equal_to_the_recipe_is_not_a_variant(toy_host, tmp_path):
    lines: list[str] = []
    options = RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                         log=lines.append)
    plain = run_cell(Cell("tiny", ("synth_cvusa_test",)), options, toy_host)
    same = run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=2"])), options, toy_host)
    assert same.kept == plain.written and not same.trained  # the recipe's own record, not "[epochs=2]"
    assert any("--set epochs=2 is the recipe's value already" in line for line in lines)
    mixed = run_cell(Cell("tiny", ("synth_cvusa_test",), overrides=parse_set(["epochs=2", "augment.flip_p=0"])),
                     options, toy_host)
    assert mixed.cell.variant == "augment.flip_p=0"
    assert mixed.written[0].name == "synth_cvusa_train__synth_cvusa_test__augment.flip_p_0__seed0.json"


def test_queries_per_s_is_measured_only_when_the_queries_were_embedded(toy_host, tmp_path, monkeypatch):
    from cvgl_bench.evaluate import extract

    monkeypatch.setattr(extract, "cache_dir", lambda: tmp_path / "cache")  # an empty embedding cache
    first = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path), toy_host)
    measured = results.read(first.written[0]).efficiency
    assert measured["queries_per_s"] > 0
    again = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path, overwrite="always"), toy_host)
    assert not again.trained  # the same checkpoint, so the embedding cache holds the queries
    cached = results.read(again.written[0]).efficiency
    assert "queries_per_s" in cached and cached["queries_per_s"] is None  # the same keys, null when not measured
    assert cached["params"] == measured["params"]


@pytest.mark.parametrize("overwrite", ["only-missing", "never"])
def test_a_damaged_record_is_written_again_with_a_note(toy_host, tmp_path, overwrite):
    first = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path), toy_host)
    (path,) = first.written
    path.write_text('{"schema": "cvgl-bench/rec')  # torn by hand
    lines = []
    again = run_cell(Cell("tiny", ("synth_cvusa_test",)),
                     RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False,
                                n_boot=20, overwrite=overwrite, log=lines.append), toy_host)
    assert again.written == [path] and not again.trained and results.read(path).metrics
    assert [line for line in lines if "cannot be read, so it is written again" in line and path.name in line]


def test_a_model_that_cannot_embed_a_single_image_is_one_line(toy_host, tmp_path):
    from cvgl_bench.errors import PluginError

    with pytest.raises(PluginError, match=r"model fails on a batch of one image of each view, as the efficiency "
                                          r"figures measure it: ValueError: Expected more than 1 value"):
        run_cell(Cell("toy_needs_a_batch", ("synth_cvusa_test",)), _options(tmp_path), toy_host)


@pytest.mark.parametrize("edit,why", [
    (lambda r: r["cell"].update(method_version="0.0.1", config_hash="0" * 12), "it was made by tiny 0.0.1, this is"),
    (lambda r: (r["cell"]["hparams"].update(lr=1.0), r["cell"].update(config_hash="0" * 12)),
     "it was made with other hparams (lr)"),
    (lambda r: r["cell"].update(config_hash="0" * 12), "it was made with other training data (another synthetic world: "
                                                       "CVGL_BENCH_SYNTH_SIZE"),
    (lambda r: r["protocol"].update(r1pct="ceil"), "it was made under the protocol {")])
def test_a_record_of_another_configuration_is_replaced_saying_why(toy_host, tmp_path, edit, why):
    """A grid rerun under another synthetic size replaced committed records without a word (outside audit)."""
    first = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path), toy_host)
    (path,) = first.written
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    lines: list[str] = []
    again = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path, log=lines.append), toy_host)
    assert again.written == [path]
    (line,) = [line for line in lines if "replacing" in line]
    assert f"replacing {path}: {why}" in line and line.endswith("--overwrite never keeps it"), line
    kept = run_cell(Cell("tiny", ("synth_cvusa_test",)), _options(tmp_path, log=lines.append), toy_host)
    assert kept.kept == [path] and len([line for line in lines if "replacing" in line]) == 1
