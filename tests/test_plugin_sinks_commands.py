"""Sinks, commands and hook declarations as a third-party author writes them (outside audit of
docs/plugins.md Part 5): one sink cannot change what another receives, a sink's prints never
reach a command's JSON, and hooks that would silently never run are refused when loading."""

from __future__ import annotations

import contextlib
import json
import types

import click
import pytest
from click.testing import CliRunner

from cvgl_bench import hookimpl


def _plugin(name, **hooks):
    module = types.ModuleType(name)
    for attr, function in hooks.items():
        setattr(module, attr, function)
    return module


def test_each_sink_gets_its_own_copy_and_prints_to_stderr(make_host, tmp_path, capsys):
    seen = []

    @hookimpl
    def vandal(record, path):
        record["metrics"]["recall@1"] = -1.0
        print("vandal was here")

    @hookimpl
    def witness(record):
        seen.append(record["metrics"]["recall@1"])

    host = make_host(_plugin("a_vandal", cvgl_bench_record_written=vandal),
                     _plugin("b_witness", cvgl_bench_record_written=witness))
    record = {"metrics": {"recall@1": 42.0}}
    assert host.record_written(record, tmp_path / "r.json") == []
    assert seen == [42.0] and record == {"metrics": {"recall@1": 42.0}}
    out = capsys.readouterr()
    assert "vandal was here" in out.err and "vandal" not in out.out


def test_a_sink_that_exits_is_a_warning(make_host, tmp_path):
    import sys

    @hookimpl
    def quitter(scalars):
        sys.exit(3)

    host = make_host(_plugin("quitter", cvgl_bench_training_scalars=quitter))
    (warning,) = host.training_scalars({"train/loss": 1.0}, step=1, epoch=1, workdir=tmp_path)
    assert "quitter" in warning and "SystemExit" in warning


def test_a_sink_that_never_returns_is_stopped_and_dropped(make_host, tmp_path, monkeypatch, capsys):
    """A hung sink (a dashboard that never answers) holds a run for CVGL_BENCH_PLUGIN_TIMEOUT at most,
    once, and is stopped; one that swallows the stop is stopped again a second later."""
    import time

    monkeypatch.setenv("CVGL_BENCH_PLUGIN_TIMEOUT", "0.3")
    calls, seen = [], []

    @hookimpl
    def hung(record):
        calls.append(record["n"])
        print("the hung sink starts")
        time.sleep(60)

    @hookimpl
    def stubborn(record):
        try:
            time.sleep(60)
        except BaseException:  # a sink that swallows everything
            time.sleep(60)

    @hookimpl
    def witness(record):
        seen.append(record["n"])

    host = make_host(_plugin("a_hung", cvgl_bench_record_written=hung),
                     _plugin("b_stubborn", cvgl_bench_record_written=stubborn),
                     _plugin("c_witness", cvgl_bench_record_written=witness))
    start = time.monotonic()
    hung_warning, stubborn_warning = host.record_written({"n": 1}, tmp_path / "r.json")
    assert time.monotonic() - start < 10
    assert "a_hung" in hung_warning and "b_stubborn" in stubborn_warning
    assert hung_warning.endswith("had not finished after 0.3 s (CVGL_BENCH_PLUGIN_TIMEOUT), so it was stopped; "
                                 "it is not called again")
    assert host.record_written({"n": 2}, tmp_path / "r.json") == []
    assert calls == [1] and seen == [1, 2]
    out = capsys.readouterr()
    assert "the hung sink starts" in out.err and "hung" not in out.out
    import signal

    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_sink_keeps_its_thread_between_calls(make_host, tmp_path, monkeypatch):
    """Sinks run on the thread that writes the record, call after call, so state a library keeps
    per thread (MLflow's active run) is there at the next call."""
    import threading

    monkeypatch.setenv("CVGL_BENCH_PLUGIN_TIMEOUT", "5")
    threads = []

    @hookimpl
    def tracker(scalars):
        threads.append(threading.get_ident())

    host = make_host(_plugin("tracker", cvgl_bench_training_scalars=tracker))
    for step in (1, 2, 3):
        assert host.training_scalars({"train/loss": 1.0}, step=step, epoch=1, workdir=tmp_path) == []
    assert threads == [threading.get_ident()] * 3


def test_a_plugin_timeout_that_is_no_number_is_refused(make_host, monkeypatch):
    from cvgl_bench.errors import ConfigError

    monkeypatch.setenv("CVGL_BENCH_PLUGIN_TIMEOUT", "10m")
    with pytest.raises(ConfigError, match="CVGL_BENCH_PLUGIN_TIMEOUT must be a number of seconds from 0.1 to 1e"):
        make_host()


def test_hooks_that_would_never_run_fail_their_plugin(make_host):
    @hookimpl(hookwrapper=True)
    def wrapped(record):
        yield

    @hookimpl
    def record_writen(record):  # misspelled, and without the prefix
        pass

    @hookimpl(specname="cvgl_bench_record_written")
    def under_another_name(record):
        pass

    host = make_host(_plugin("wrapper", cvgl_bench_record_written=wrapped),
                     _plugin("typo", record_writen=record_writen),
                     _plugin("renamed", my_sink=under_another_name))
    errors = {s.name: s.error for s in host.statuses if s.name in ("wrapper", "typo", "renamed")}
    assert "hook wrapper" in errors["wrapper"]
    assert "unknown hook 'record_writen'" in errors["typo"]
    assert errors["renamed"] is None  # pluggy's specname names a known hook


def test_a_plugin_commands_click_exception_is_one_line_exit_2(make_host):
    from cvgl_bench.cli import cli

    @hookimpl
    def cvgl_bench_register_commands(cli):
        @cli.command("refuse")
        def refuse():
            raise click.ClickException("no log yet; run something first")

    make_host(_plugin("refusing", cvgl_bench_register_commands=cvgl_bench_register_commands))
    result = CliRunner().invoke(cli, ["refuse"])
    assert result.exit_code == 2 and result.output.strip() == "Error: no log yet; run something first"


def test_a_plugin_whose_commands_hook_hangs_is_stopped_and_the_others_run(make_host, monkeypatch):
    import time

    from cvgl_bench.cli import cli

    @hookimpl
    def hangs(cli):
        @cli.command("half-added")
        def half_added():
            pass

        time.sleep(60)

    @hookimpl
    def greets(cli):
        @cli.command("greet")
        def greet():
            click.echo("hello")

    monkeypatch.setenv("CVGL_BENCH_PLUGIN_TIMEOUT", "0.5")
    host = make_host(_plugin("a_hangs", cvgl_bench_register_commands=hangs),
                     _plugin("b_greets", cvgl_bench_register_commands=greets))
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["greet"])
    assert time.monotonic() - start < 20
    assert result.exit_code == 0 and "hello" in result.output
    (status,) = [s for s in host.statuses if s.name == "a_hangs"]
    assert status.error == ("registering commands failed: had not finished after 0.5 s (CVGL_BENCH_PLUGIN_TIMEOUT), "
                            "so it was stopped")
    assert "half-added" not in cli.commands


def test_one_distribution_registering_a_name_twice_is_told_to_register_it_once(make_host, tmp_path, monkeypatch):
    from .test_plugins import _fake_distribution

    _fake_distribution(tmp_path, monkeypatch, "one-dist", "1.0",
                       "first = tests.fake_plugins.good\nsecond = tests.fake_plugins.clash")
    host = make_host(entry_points=True)
    (failed,) = [s for s in host.statuses if s.error]
    assert "register it from one entry point" in failed.error and "uninstall" not in failed.error


def test_run_prints_its_records_on_the_first_process_only(make_host, monkeypatch):
    """Under torchrun every process runs the command; only the first shows the records, so
    ``--json`` stays one document."""
    from cvgl_bench import cli as cli_module
    from cvgl_bench import distributed

    import cvgl_bench.run as run_package

    from .test_plugins import module

    make_host(module("good"))
    # first: it imports the pipeline, whose modules bind world_info_from_env by name at import, so
    # patched below they would keep a world of 2 processes for every later test of this process
    monkeypatch.setattr(run_package, "run_cell", lambda cell, options, host: types.SimpleNamespace(records=[]))
    monkeypatch.setattr(distributed, "world_info_from_env", lambda: distributed.WorldInfo(1, 1, 2))
    monkeypatch.setattr(distributed, "process_group", contextlib.nullcontext)  # no group to join here
    result = CliRunner().invoke(cli_module.cli, ["run", "--method", "toy", "--dataset", "synth_cvusa_test",
                                                 "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    monkeypatch.setattr(distributed, "world_info_from_env", lambda: distributed.WorldInfo(0, 0, 2))
    first = CliRunner().invoke(cli_module.cli, ["run", "--method", "toy", "--dataset", "synth_cvusa_test",
                                                "--json"])
    assert json.loads(first.stdout) == []


def test_a_missing_backend_module_names_no_package_of_its_own(make_host):
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.evaluate.scoring import score
    from cvgl_bench.specs import SearchBackendSpec

    @hookimpl
    def cvgl_bench_register_search_backends(register):
        register(SearchBackendSpec(name="needs", loader="x:y", requires=("no_such_module_xyz",)))

    host = make_host(_plugin("needy", cvgl_bench_register_search_backends=cvgl_bench_register_search_backends))
    with pytest.raises(ConfigError) as caught:
        score(None, None, types.SimpleNamespace(split="s"), host=host, backend="needs", metrics=["recall@1"])
    assert "no_such_module_xyz" in str(caught.value) and "-cpu" not in str(caught.value)


@pytest.mark.parametrize("order", [("a_one", "b_two"), ("b_two", "a_one")])
def test_a_command_two_plugins_add_is_run_by_neither_whatever_the_order(make_host, order):
    from cvgl_bench.cli import cli

    def adds(label):
        @hookimpl
        def cvgl_bench_register_commands(cli):
            @cli.command("export")
            def export():
                click.echo(f"exported by {label}")

        return _plugin(label, cvgl_bench_register_commands=cvgl_bench_register_commands)

    host = make_host(*(adds(label) for label in order))
    result = CliRunner().invoke(cli, ["export"])
    assert result.exit_code == 2 and "neither is used" in result.output and "exported" not in result.output
    assert "a_one" in result.output and "b_two" in result.output
    assert sum(bool(s.error) for s in host.statuses if s.name in order) == 1


def test_a_plugin_command_warns_about_failed_plugins_and_an_unknown_one_names_them(make_host):
    from cvgl_bench.cli import cli

    @hookimpl
    def cvgl_bench_register_commands(cli):
        @cli.command("hello")
        def hello():
            click.echo("hello")

    broken = _plugin("broken_one", cvgl_bench_register_methods=hookimpl(lambda register: 1 / 0))
    make_host(_plugin("greeter", cvgl_bench_register_commands=cvgl_bench_register_commands), broken)
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0 and result.stdout == "hello\n"
    assert "warning: 1 plugin(s) failed to load (broken_one)" in result.stderr
    unknown = CliRunner().invoke(cli, ["export-records"])
    assert unknown.exit_code == 2 and "No such command 'export-records'" in unknown.output
    assert "1 plugin(s) failed to load, and may have added it: broken_one" in unknown.output


def test_backends_says_a_backend_whose_loader_does_not_import_cannot_run(make_host):
    from cvgl_bench.cli import cli
    from cvgl_bench.specs import SearchBackendSpec

    @hookimpl
    def cvgl_bench_register_search_backends(register):
        register(SearchBackendSpec(name="ghost", loader="no_such_module_xyz.search:Ghost"))

    make_host(_plugin("ghostly", cvgl_bench_register_search_backends=cvgl_bench_register_search_backends))
    listed = {b["name"]: b for b in json.loads(CliRunner().invoke(cli, ["backends", "--json"]).stdout)}
    assert listed["torch"]["available"] is True and listed["torch"]["problem"] is None
    assert listed["ghost"]["available"] is False and "loader does not import" in listed["ghost"]["problem"]
    table = CliRunner().invoke(cli, ["backends"]).stdout
    assert "no (its loader does not import" in table
