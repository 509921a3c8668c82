import importlib
import json
import textwrap
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cvgl_bench import __version__
from cvgl_bench.cli import cli
from cvgl_bench.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def good():
    return importlib.import_module("tests.fake_plugins.good")


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_listing_commands_show_registered_things_in_text_and_json(make_host):
    make_host(good())
    assert "toy" in run("methods").output
    methods = json.loads(run("methods", "--json").output)
    assert methods[0]["name"] == "toy" and methods[0]["distribution"] == "(in-process)"
    splits = json.loads(run("datasets", "--json").output)["splits"]
    toy_split = next(s for s in splits if s["name"] == "toyset_test")  # built-in splits are listed too
    assert toy_split["protocol_options"] == {"ties": ["strict", "loose"]}
    assert "toyset_test" in run("datasets").output
    assert "toy@1" in run("metrics").output
    assert "toy@1" in [m["name"] for m in json.loads(run("metrics", "--json").output)]
    assert run("backends").exit_code == 0
    plugins = json.loads(run("plugins", "--json").stdout)  # warnings about unresolved names go to stderr
    mine = [p for p in plugins if p["name"] == "tests.fake_plugins.good"][0]
    assert mine["registered"]["method"] == ["toy"] and mine["registered"]["command"] == ["toy-hello"]


def test_plugin_commands_are_added_and_cannot_shadow_builtins(make_host):
    import types

    from cvgl_bench import hookimpl

    shadow = types.ModuleType("shadow_plugin")

    def cvgl_bench_register_commands(cli):
        cli.add_command(click.Command("methods", callback=lambda: click.echo("hijacked")))

    shadow.cvgl_bench_register_commands = hookimpl(cvgl_bench_register_commands)
    make_host(good(), shadow)
    hello = run("toy-hello")
    assert hello.stdout.strip() == "hello from toy"
    assert "failed to load (shadow_plugin)" in hello.stderr  # a plugin's command warns as a built-in does
    assert "hijacked" not in run("methods").output
    plugins = json.loads(run("plugins", "--json").stdout)  # warnings about unresolved names go to stderr
    assert "cannot be replaced" in [p for p in plugins if p["name"] == "shadow_plugin"][0]["error"]


def test_an_exception_in_plugin_code_keeps_its_traceback_and_names_the_plugin(make_host):
    import types

    boom = types.ModuleType("boom_plugin")
    boom.__dist__ = "cvgl-boom"
    exec(textwrap.dedent("""
        import click
        from cvgl_bench import hookimpl

        def explode():
            return {}["no such key"]  # a bug in the plugin, via a library call

        @hookimpl
        def cvgl_bench_register_commands(cli):
            cli.add_command(click.Command("boom", callback=lambda: explode()))
            cli.add_command(click.Command("quit", callback=lambda: click.get_current_context().exit(3)))
        """), boom.__dict__)
    make_host(boom)
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == 1 and "KeyError: 'no such key'" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cvgl-bench: the error above was raised in the code of cvgl-boom (plugin 'boom_plugin')")
    assert "(<string>:" in last and "report it to that plugin's authors" in last
    assert CliRunner().invoke(cli, ["quit"]).exit_code == 3  # a plugin's own exit code is not an error


def test_an_exception_in_cvgl_bench_code_is_not_blamed_on_a_plugin(make_host, monkeypatch):
    from cvgl_bench import cli as cli_module

    make_host(good())
    monkeypatch.setattr(cli_module, "echo_table", [].pop)  # C code: the innermost Python frame is cvgl-bench's
    result = CliRunner().invoke(cli, ["methods"])
    assert result.exit_code == 1 and isinstance(result.exception, (KeyError, TypeError))
    assert "raised in the code of" not in result.stderr


def test_an_error_raised_while_ctrl_c_unwinds_is_an_abort_not_a_crash(make_host, monkeypatch):
    from cvgl_bench import cli as cli_module

    def save_interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        finally:  # what torch.save's zip writer does when interrupted mid-file
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    make_host(good())
    monkeypatch.setattr(cli_module, "echo_table", save_interrupted)
    result = CliRunner().invoke(cli, ["methods"])
    assert result.exit_code == 1 and "Aborted!" in result.output and "RuntimeError" not in result.output


def test_broken_plugin_is_listed_with_its_error_and_warned_about(make_host):
    import types

    from cvgl_bench import hookimpl

    bad = types.ModuleType("bad_plugin")
    bad.cvgl_bench_register_methods = hookimpl(lambda register: 1 / 0)
    make_host(bad)
    result = CliRunner().invoke(cli, ["methods"])
    assert result.exit_code == 0 and "1 plugin(s) failed to load (bad_plugin); bad_plugin: ZeroDivisionError" \
        in result.output
    assert "Traceback" not in result.output
    assert "FAILED: ZeroDivisionError" in run("plugins").output
    debug = CliRunner().invoke(cli, ["--debug", "methods"])
    assert "plugin bad_plugin" in debug.output and "1 / 0" in debug.output  # the plugin's own frame


def test_a_hook_function_without_the_hookimpl_marker_fails_the_plugin(make_host):
    import types

    forgot = types.ModuleType("forgot_marker")
    forgot.cvgl_bench_register_methods = lambda register: None
    make_host(forgot)
    status = [s for s in json.loads(run("plugins", "--json").stdout) if s["name"] == "forgot_marker"][0]
    assert status["error"] == ("cvgl_bench_register_methods is not decorated with @cvgl_bench.hookimpl, "
                               "so it would never be called")


def test_user_error_is_one_line_exit_2_and_debug_shows_traceback(make_host):
    @cli.command("fail-for-test")
    def fail_for_test():
        raise DataError("file x.csv line 3: expected 3 fields")

    try:
        result = CliRunner().invoke(cli, ["fail-for-test"])
        assert result.exit_code == 2
        assert result.output == "Error: file x.csv line 3: expected 3 fields\n"
        debug = CliRunner().invoke(cli, ["--debug", "fail-for-test"])
        assert isinstance(debug.exception, DataError)
    finally:
        cli.commands.pop("fail-for-test")


def test_strict_plugins_fail_the_cli_with_one_line(make_host, monkeypatch, tmp_path):
    from tests.test_plugins import _fake_distribution

    _fake_distribution(tmp_path, monkeypatch, "broken-dist", "1.2", "broken = tests.fake_plugins.broken_import")
    monkeypatch.setenv("CVGL_BENCH_STRICT_PLUGINS", "1")
    monkeypatch.setenv("CVGL_BENCH_NO_ENTRYPOINTS", "0")
    result = CliRunner().invoke(cli, ["methods"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "broken-dist" in result.output
    debug = CliRunner().invoke(cli, ["--debug", "methods"])
    assert "the plugin's own traceback" in debug.output and "broken_import.py" in debug.output


def test_real_subprocess_commands():
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "1"}
    for args in (["--version"], ["plugins", "--json"], ["methods"], ["datasets", "--json"], ["metrics"],
                 ["backends", "--json"], ["--help"]):
        proc = subprocess.run([sys.executable, "-m", "cvgl_bench", *args], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, (args, proc.stderr)
        if "--json" in args:
            json.loads(proc.stdout)
    proc = subprocess.run([sys.executable, "-m", "cvgl_bench", "no-such-command"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2


def test_usage_errors_are_one_line_but_a_bare_group_still_shows_its_help(make_host):
    make_host()
    bad = CliRunner().invoke(cli, ["run", "--threads", "0", "-m", "x", "-d", "y"])
    assert bad.exit_code == 2
    assert bad.output == ("Error: Invalid value for '--threads': 0 is not in the range 1<=x<=1024. "
                          "(see 'cli run --help')\n")  # CliRunner names the program 'cli'
    for args in ([], ["data"]):
        bare = CliRunner().invoke(cli, args)
        assert bare.output.startswith("Usage: cli") and "Commands:" in bare.output


def test_a_bug_in_a_package_of_several_entry_points_names_the_loaded_ones(make_host):
    """Not the last entry point of the package listed, which may be one that never loaded."""
    from cvgl_bench.cli import _plugin_at_fault
    from cvgl_bench.plugins import PluginStatus

    host = make_host()
    host.statuses += [PluginStatus("h_methods", "cvgl-hostile", "0.1", False, "hostile_pkg.methods"),
                      PluginStatus("h_more", "cvgl-hostile", "0.1", False, "hostile_pkg.more:plugin"),
                      PluginStatus("h_wrong", "cvgl-hostile", "0.1", False, "hostile_pkg.wrong", error="not loaded")]
    code = {"__name__": "hostile_pkg.methods"}
    exec("def fail():\n    return 1 / 0\n", code)
    with pytest.raises(ZeroDivisionError) as caught:
        code["fail"]()
    assert _plugin_at_fault(caught.value).startswith("cvgl-hostile 0.1 (plugins 'h_methods', 'h_more') (<string>:")
    host.statuses = [s for s in host.statuses if s.name != "h_more"]
    assert _plugin_at_fault(caught.value).startswith("cvgl-hostile 0.1 (plugin 'h_methods') (<string>:")
