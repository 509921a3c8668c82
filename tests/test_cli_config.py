"""``run --dry-run`` prints the resolved configuration; one seed syntax for run and grid; ``--split``."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from cvgl_bench.cli import cli

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


@pytest.fixture
def toy_host(make_host):
    return make_host(toy_methods)


def _invoke(args, tmp_path):
    return CliRunner().invoke(cli, [*args, "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")])


def test_dry_run_prints_the_resolved_hparams_and_touches_nothing(toy_host, tmp_path):
    done = _invoke(["run", "-m", "tiny", "--split", "synth_cvusa_test", "--set", "epochs=1", "--dry-run"], tmp_path)
    assert done.exit_code == 0, done.output
    config = yaml.safe_load(done.stdout)
    method = toy_host.methods.get("tiny").load()
    expected = method.hparams("cpu", toy_host.splits.get("synth_cvusa_train"))
    assert config["hparams"] == {**expected, "epochs": 1}
    assert config["train_split"] == "synth_cvusa_train" and config["eval_splits"] == ["synth_cvusa_test"]
    assert config["variant"] == "epochs=1" and config["profile"] == "cpu"
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_dry_run_json_and_a_no_op_override_is_no_variant(toy_host, tmp_path):
    done = _invoke(["run", "-m", "tiny", "-d", "synth_cvusa_test", "--set", "epochs=2", "--dry-run", "--json"],
                   tmp_path)
    assert done.exit_code == 0, done.output
    config = json.loads(done.stdout)
    assert config["variant"] == "" and config["hparams"]["epochs"] == 2
    assert "is the recipe's value already" in done.stderr


def test_dry_run_shows_how_this_machine_would_train_apart_from_the_configuration(toy_host, tmp_path, monkeypatch):
    """--threads, CVGL_BENCH_THREADS and --loader-workers make no variant, so the hparams do not
    show them: the dry run names the device, threads and loader workers training would use."""
    monkeypatch.delenv("CVGL_BENCH_THREADS", raising=False)
    args = ["run", "-m", "tiny", "-d", "synth_cvusa_test", "--device", "cpu", "--dry-run", "--json"]
    plain = json.loads(_invoke(args, tmp_path).stdout)
    hparams, machine = plain["hparams"], plain["training_machine"]
    assert machine["device"] == "cpu" and machine["loader_workers"] == hparams.get("workers")
    given = _invoke([*args, "--threads", "3", "--loader-workers", "2"], tmp_path)
    assert given.exit_code == 0, given.output
    config = json.loads(given.stdout)
    assert config["training_machine"] == {"device": "cpu", "cpu_threads": 3, "loader_workers": 2}
    assert config["hparams"] == hparams and config["variant"] == ""
    monkeypatch.setenv("CVGL_BENCH_THREADS", "5")
    assert json.loads(_invoke(args, tmp_path).stdout)["training_machine"]["cpu_threads"] == 5
    assert "training_machine: {device: cpu" in _invoke(args[:-1], tmp_path).stdout  # the YAML too


def test_dry_run_still_checks_every_name(toy_host, tmp_path):
    done = _invoke(["run", "-m", "tiny", "-d", "synth_cvusa_test", "--set", "no_such_key=1", "--dry-run"], tmp_path)
    assert done.exit_code == 2 and "no_such_key" in done.output and "Traceback" not in done.output


@pytest.mark.parametrize("dry_run", [["--dry-run"], []])
def test_a_recipe_that_is_not_plain_json_is_refused_before_any_work(toy_host, tmp_path, dry_run):
    done = _invoke(["run", "-m", "toy_numpy_recipe", "-d", "synth_cvusa_test", *dry_run], tmp_path)
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert "is not plain JSON data (Object of type float32 is not JSON serializable)" in done.output
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seeds,expected", [(["--seed", "0", "--seed", "2"], [0, 2]),
                                            (["--seeds", "2,0"], [2, 0]),
                                            (["--seeds", "1,1", "--seed", "3"], [1, 3])])
def test_run_and_grid_take_one_seed_syntax(toy_host, tmp_path, seeds, expected):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nmethods: [tiny]\nsplits: [synth_cvusa_test]\nseeds: [5]\n")
    done = CliRunner().invoke(cli, ["grid", str(suite), *seeds, "--dry-run"])
    assert done.exit_code == 0, done.output
    rows = [line.split() for line in done.output.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[-1]) for row in rows] == sorted(expected)  # the grid runs seeds in order


@pytest.mark.parametrize("bad", ["x", "1,,y", "-1"])
def test_a_bad_seed_is_a_usage_error(toy_host, tmp_path, bad):
    for command in (["run", "-m", "tiny", "-d", "synth_cvusa_test", "--dry-run", "--seeds", bad],
                    ["grid", "--dry-run", "--seeds", bad]):
        done = CliRunner().invoke(cli, command)
        assert done.exit_code == 2 and "seed" in done.output and "Traceback" not in done.output


def test_shipped_suites_and_published_numbers_live_in_the_package(make_host):
    from pathlib import Path

    import cvgl_bench
    from cvgl_bench.leaderboard.published import default_path
    from cvgl_bench.run.suite import load_suite, shipped_suites

    package = Path(cvgl_bench.__file__).resolve().parent
    suites = shipped_suites()
    assert set(suites) == {"synth", "cvusa", "cvact", "vigor", "university1652"}
    assert all(package in path.parents for path in suites.values())
    assert package in default_path().parents
    checkout = package.parent
    if (checkout / "benchmarks").is_dir():  # a source checkout links to the package's files
        assert (checkout / "benchmarks" / "synth.yaml").resolve() == suites["synth"]
        assert (checkout / "leaderboards" / "published.yaml").resolve() == default_path()
    assert load_suite("synth") == load_suite(suites["synth"])


def test_grid_takes_a_shipped_suite_by_name(make_host):
    from cvgl_bench_clnet import plugin as clnet
    from cvgl_bench_safa import plugin as safa
    from cvgl_bench_sample4geo import plugin as sample4geo

    make_host(sample4geo, clnet, safa)
    by_name = CliRunner().invoke(cli, ["grid", "synth", "--dry-run"])
    default = CliRunner().invoke(cli, ["grid", "--dry-run"])
    assert by_name.exit_code == 0, by_name.output
    assert by_name.output == default.output and "synth_cvusa_test" in by_name.output
    unknown = CliRunner().invoke(cli, ["grid", "nosuch", "--dry-run"])
    assert unknown.exit_code == 2 and "no shipped suite of that name" in unknown.output and "synth" in unknown.output


def test_every_option_of_every_command_has_help(make_host):
    import click

    make_host()
    ctx = click.Context(cli)
    missing = []

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        missing.extend(f"{' '.join(path)} {p.opts[0]}" for p in command.params
                       if isinstance(p, click.Option) and not p.help and p.name != "help")

    walk(cli, [])
    assert not missing, missing


def test_grid_and_synth_speak_json(toy_host, tiny_world, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nmethods: [tiny]\nsplits: [synth_cvusa_test]\nseeds: [0]\n")
    planned = CliRunner().invoke(cli, ["grid", str(suite), "--dry-run", "--json"])
    assert planned.exit_code == 0, planned.output
    (cell,) = json.loads(planned.stdout)
    assert cell["method"] == "tiny" and cell["eval"] == ["synth_cvusa_test"] and cell["seed"] == 0
    done = CliRunner().invoke(cli, ["grid", str(suite), "--json", "--results", str(tmp_path / "results"),
                                    "--runs", str(tmp_path / "runs")])
    assert done.exit_code == 0, done.output
    (outcome,) = json.loads(done.stdout)
    assert outcome["status"]["ok"] and outcome["status"]["trained"] and len(outcome["status"]["written"]) == 1
    assert set(outcome) == set(cell) | {"status"}  # the dry run's keys, protocol included, and the outcome
    made = CliRunner().invoke(cli, ["synth", "--layout", "cvusa", "--out", str(tmp_path / "s"), "--size", "tiny",
                                    "--quiet", "--json"])
    assert made.exit_code == 0, made.output
    summary = json.loads(made.stdout)
    assert summary["preview"] is None and summary["dataset"]["counts"] and summary["dataset"]["worlds"] >= 1


def test_data_ids_lists_a_splits_ids_in_order(toy_host, tiny_world):
    from cvgl_bench.data.splits import load_split

    data = load_split(toy_host.splits.get("synth_cvusa_test"), None, None, toy_host)
    queries = CliRunner().invoke(cli, ["data", "ids", "synth_cvusa_test"])
    references = CliRunner().invoke(cli, ["data", "ids", "synth_cvusa_test", "--side", "reference"])
    assert queries.exit_code == 0 and references.exit_code == 0, queries.output
    assert queries.stdout.split() == list(data.queries.ids) and references.stdout.split() == list(data.references.ids)
    unknown = CliRunner().invoke(cli, ["data", "ids", "no_such_split"])
    assert unknown.exit_code == 2 and "no_such_split" in unknown.output
