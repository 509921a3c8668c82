import importlib

import pytest

from cvgl_bench.errors import ConfigError
from cvgl_bench.run.cell import Cell, cell_from_json, cell_to_json
from cvgl_bench.run.grid import expand
from cvgl_bench.run.plan import plan
from cvgl_bench.run.suite import load_suite


@pytest.fixture
def gw_host(make_host):
    return make_host(importlib.import_module("tests.fake_plugins.gridworld"))


def write(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_expand_groups_evaluations_per_trained_model_and_skips_unsupported_views(gw_host, tmp_path):
    suite = load_suite(write(tmp_path, """
name: t
profile: cpu
methods: [anyview, panoonly]
splits: [gw_a_test, gw_b_test, gw_drone_test]
transfer: [[gw_a_train, gw_b_test]]
seeds: [0]
seeds_for: {gw_a_test: [0, 1]}
"""))
    cells = expand([suite], host=gw_host)
    keys = {(c.method, c.train_split, c.seed): c.eval_splits for c in cells}
    assert keys[("anyview", "gw_a_train", 0)] == ("gw_a_test", "gw_b_test")
    assert keys[("anyview", "gw_a_train", 1)] == ("gw_a_test",)
    assert keys[("anyview", "gw_drone_train", 0)] == ("gw_drone_test",)
    assert ("panoonly", "gw_drone_train", 0) not in keys
    assert len(cells) == 7
    assert len(expand([suite], seeds=[5], host=gw_host)) == 9  # seed 5, plus seeds_for's 0 and 1 for gw_a_test


def test_cells_round_trip_through_json():
    cell = Cell("m", ("a", "b"), "t", "cpu", 3, (("ties", "loose"),))
    assert cell_from_json(cell_to_json(cell)) == cell


@pytest.mark.parametrize("text,message", [
    ("methods: [a]\nsplits: x\n", "'splits' must be a list"),
    ("methods: []\n", "no methods"),
    ("methods: [a]\ncolour: red\n", "unknown key 'colour'"),
    ("methods: [a]\ntransfer: [[a]]\n", "transfer entry"),
    ("methods: [a]\ntransfer: -1\n", "'transfer' must be a list of \\[training split, evaluation split\\] pairs, not int"),
    ("methods: [a]\ntransfer: true\n", "'transfer' must be a list of .* pairs, not bool"),
    ("methods: [a]\ntransfer: synth_cvusa_train\n", "'transfer' must be a list of .* pairs, not str"),
    ("methods: [a]\nseeds: [one]\n", "seeds must be lists"),
    ("methods: [a\n", "not valid YAML"),
    ("- a\n", "must be a YAML mapping"),
])
def test_bad_suites_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_suite(write(tmp_path, text))


def test_missing_suite_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read suite"):
        load_suite(tmp_path / "nope.yaml")


def test_unknown_names_in_suites_suggest(gw_host, tmp_path):
    suite = load_suite(write(tmp_path, "methods: [anyveiw]\nsplits: [gw_a_test]\n"))
    with pytest.raises(ConfigError, match=r"suite .*: unknown method 'anyveiw'; did you mean 'anyview'"):
        expand([suite], host=gw_host)


def test_plan_checks_roles_views_and_training_splits(gw_host):
    p = plan(Cell("anyview", ("gw_a_test",)), gw_host)
    assert p.train_spec.name == "gw_a_train"
    with pytest.raises(ConfigError, match="training split, not an evaluation split"):
        plan(Cell("anyview", ("gw_a_train",)), gw_host)
    with pytest.raises(ConfigError, match="is an evaluation split"):
        plan(Cell("anyview", ("gw_a_test",), train_split="gw_b_test"), gw_host)
    with pytest.raises(ConfigError, match="do not share one training split"):
        plan(Cell("anyview", ("gw_a_test", "gw_b_test")), gw_host)
    with pytest.raises(ConfigError, match="trains drone and satellite views"):
        plan(Cell("anyview", ("gw_a_test",), train_split="gw_drone_train"), gw_host)
    with pytest.raises(ConfigError, match="cannot embed drone"):
        plan(Cell("panoonly", ("gw_drone_test",)), gw_host)
    with pytest.raises(ConfigError, match="no profile 'gpu'"):
        plan(Cell("anyview", ("gw_a_test",), profile="gpu"), gw_host)


def test_an_inline_grid_runs_every_cell_after_one_fails(monkeypatch, tmp_path):
    """--jobs 1 runs cells in this process; a failed cell is reported like a worker's, and the
    others still run (docs/guarantees.md)."""
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.run import grid as grid_module
    from cvgl_bench.run import pipeline
    from cvgl_bench.run.cell import Cell, CellResult, RunOptions

    cells = [Cell(method="anyview", eval_splits=("gw_a_test",), seed=seed) for seed in range(4)]
    ran = []

    def fake_run_cell(cell, options, host):
        ran.append(cell.seed)
        if cell.seed == 0:
            raise ConfigError("batch size 16 exceeds the 6 distinct locations")
        if cell.seed == 2:
            raise RuntimeError("a bug")
        if cell.seed == 3:
            raise PermissionError(13, "Permission denied", "/cache/embeddings")
        return CellResult(cell)

    monkeypatch.setattr(pipeline, "run_cell", fake_run_cell)
    lines = []
    options = RunOptions(results_dir=tmp_path / "r", runs_dir=tmp_path / "u", log=lines.append)
    outcome = grid_module.run_grid(cells, options, host=None)
    assert ran == [0, 1, 2, 3]
    assert outcome[0] == "failed: batch size 16 exceeds the 6 distinct locations"
    assert isinstance(outcome[1], CellResult)
    assert outcome[2] == "failed (RuntimeError: a bug)"
    assert outcome[3] == "failed: /cache/embeddings: Permission denied"  # a folder to fix, not a bug
    assert sum("Traceback" in line for line in lines) == 1  # the bug's alone


def test_the_example_suite_of_the_docs_parses_and_expands(tmp_path):
    """docs/suites.md shows every key in one example; it must stay a valid suite."""
    import re
    from pathlib import Path

    from cvgl_bench.plugins import PluginHost

    text = (Path(__file__).resolve().parents[1] / "docs" / "suites.md").read_text()
    example = write(tmp_path, re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    suite = load_suite(example)
    assert suite.name == "my-benchmark" and suite.seeds_of("synth_cvusa_test") == (0, 1, 2)
    cells = expand([suite], host=PluginHost(entry_points=True).load())
    assert len(cells) == 9 and sum(bool(c.overrides) for c in cells) == 3
    assert cells[0].eval_splits == ("synth_cvusa_test", "synth_cvact_test")


HEAD = "profile: cpu\nmethods: [sample4geo]\n"


@pytest.mark.parametrize("text,message", [
    (HEAD + "splits: [synth_cvusa_test]\ntransfer: [[synth_cvusa_train, synth_cvact_test]]\n"
            "variants:\n  - {method: sample4geo, set: [lr=0.001], splits: [synth_cvact_test]}\n",
     "variant splits name synth_cvact_test, which the suite evaluates only as a transfer target"),
    (HEAD + "splits: [synth_cvusa_test]\nvariants:\n  - {method: sample4geo, set: [lr=0.001, epochs=2]}\n"
            "  - {method: sample4geo, set: [epochs=2, lr=0.001]}\n",
     r"variant sample4geo \[epochs=2,lr=0.001\] is listed twice \(however its set items are spelled"),
    (HEAD + "transfer: [[synth_cvusa_train, synth_cvusa_test]]\n",
     "synth_cvusa_test trains on synth_cvusa_train in-domain; list it under splits"),
    (HEAD + "transfer: [[synth_u1652_train, synth_cvusa_test]]\n",
     "synth_u1652_train trains drone and satellite views but synth_cvusa_test evaluates ground -> satellite"),
    (HEAD + "splits: [synth_cvusa_test]\nvariants:\n  - {method: sample4geo, set: [lr=0.001, epochs=5]}\n",
     r"variant sample4geo \[epochs=5,lr=0.001\]: epochs=5 is the cpu recipe's value already"),
])
def test_suites_that_would_silently_drop_double_or_misfile_cells_are_refused_before_any_cell(tmp_path, text, message):
    """Each of these ran or dropped cells without a word, or made records its own leaderboard rejects (outside audit)."""
    from cvgl_bench.plugins import PluginHost

    with pytest.raises(ConfigError, match=message):
        expand([load_suite(write(tmp_path, text))], host=PluginHost(entry_points=True).load())


def test_grid_takes_the_options_its_own_messages_name(gw_host, monkeypatch, tmp_path):
    """A cell's errors say '--restart' and '--on-corrupt skip'; grid had neither (outside audit)."""
    from click.testing import CliRunner

    from cvgl_bench.cli import cli
    from cvgl_bench.run import grid as grid_module

    seen = []
    monkeypatch.setattr(grid_module, "run_grid", lambda cells, options, **kw: seen.append(options) or [])
    suite = write(tmp_path, "methods: [anyview]\nsplits: [gw_a_test]\n")
    done = CliRunner().invoke(cli, ["grid", str(suite), "--restart", "--on-corrupt", "skip", "--results",
                                    str(tmp_path / "r"), "--runs", str(tmp_path / "u")])
    assert done.exit_code == 0, done.output
    assert not seen[0].resume and seen[0].on_corrupt == "skip"
    CliRunner().invoke(cli, ["grid", str(suite), "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "u")])
    assert seen[1].resume and seen[1].on_corrupt == "fail"


def test_a_suite_that_makes_no_cell_says_why_and_skipped_methods_are_named(tmp_path):
    from cvgl_bench.plugins import PluginHost

    host = PluginHost(entry_points=True).load()
    with pytest.raises(ConfigError, match=r"it makes no cell \(no method of it can embed the views of its splits\)"):
        expand([load_suite(write(tmp_path, "profile: cpu\nmethods: [safa]\nsplits: [synth_u1652_d2s]\n"))], host=host)
    with pytest.raises(ConfigError, match=r"it makes no cell \(no splits and no transfer\)"):
        expand([load_suite(write(tmp_path, "profile: cpu\nmethods: [safa]\n"))], host=host)
    with pytest.raises(ConfigError, match="'name' must be text, not list"):
        load_suite(write(tmp_path, "methods: [safa]\nname: [a, b]\n"))
    lines = []
    suite = load_suite(write(tmp_path, "profile: cpu\nmethods: [safa, clnet]\nsplits: [synth_u1652_d2s]\n"))
    assert [c.method for c in expand([suite], host=host, log=lines.append)] == ["clnet"]
    assert lines == ["[cvgl-bench grid] safa skipped on synth_u1652_d2s: it embeds the ground, satellite views, "
                     "not drone -> satellite"]


def test_grid_json_spells_no_variant_as_records_do_and_a_dry_run_refuses_slurm_options_too(gw_host, tmp_path):
    """grid --json said "variant": "-" (the table's placeholder); records say ""; --slurm-qos passed a
    dry run that the real grid refused (outside audit)."""
    import json

    from click.testing import CliRunner

    from cvgl_bench.cli import cli

    suite = write(tmp_path, "methods: [anyview]\nsplits: [gw_a_test]\n")
    done = CliRunner().invoke(cli, ["grid", str(suite), "--dry-run", "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)[0]["variant"] == ""
    refused = CliRunner().invoke(cli, ["grid", str(suite), "--dry-run", "--slurm-qos", "x"])
    assert refused.exit_code == 2 and "apply to --executor slurm only" in refused.output



@pytest.mark.parametrize("args,needle", [
    (["--results", "/proc/no/such/folder"], "--results /proc/no/such/folder: cannot write there"),
    (["--data-root", "{tmp}", "--slurm-partition", "p"], "apply to --executor slurm only"),
])
def test_a_grid_refusal_is_one_line_before_the_skipped_methods_and_notes(tmp_path, monkeypatch, make_host, args,
                                                                         needle):
    """The methods a suite skips, and the note on an unread --data-root, were printed first, so a
    refused option was three lines; they now come once every option is checked."""
    from .test_hostile_inputs import assert_one_line_error, in_process

    suite = write(tmp_path, "profile: cpu\nmethods: [safa, clnet]\nsplits: [synth_u1652_d2s]\n")
    proc = in_process(tmp_path, monkeypatch, make_host, "grid", str(suite),
                      *[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(proc, needle)
    shown = in_process(tmp_path, monkeypatch, make_host, "grid", str(suite), "--dry-run", "--data-root", str(tmp_path))
    assert shown.returncode == 0 and "safa skipped on synth_u1652_d2s" in shown.stderr and "note:" in shown.stderr
