import importlib
import json
import signal
import sys
import textwrap
import types

import pytest

from cvgl_bench import MethodSpec, hookimpl
from cvgl_bench.data.splits import resolve_protocol
from cvgl_bench.errors import PluginError, UnknownNameError
from cvgl_bench.plugins import PluginHost


def module(name):
    return importlib.import_module(f"tests.fake_plugins.{name}")


def test_in_process_plugin_registers_everything_without_importing_heavy_code(make_host):
    sys.modules.pop("tests.fake_plugins.heavy", None)
    host = make_host(module("good"))
    assert "toy" in host.methods and "toyset_test" in host.splits and "toy@1" in host.metrics
    assert "tests.fake_plugins.heavy" not in sys.modules
    status = [s for s in host.statuses if s.name == "tests.fake_plugins.good"][0]
    assert status.registered["method"] == ["toy"] and status.error is None
    assert host.methods.get("toy").loader == "tests.fake_plugins.heavy:ToyMethod"
    method = host.methods.get("toy").load()
    assert type(method).__name__ == "ToyMethod" and "tests.fake_plugins.heavy" in sys.modules


def test_a_method_loader_must_give_a_method():
    from cvgl_bench import MethodSpec
    from cvgl_bench.errors import PluginError

    spec = MethodSpec(name="duck", loader="tests.fake_plugins.heavy:NotAMethod")
    with pytest.raises(PluginError, match="not a cvgl_bench.method.Method"):
        spec.load()
    with pytest.raises(PluginError, match="its loader names a Method instance; name its class"):
        MethodSpec(name="toy", loader="tests.fake_plugins.heavy:TOY_INSTANCE").load()


def test_plugin_that_fails_to_import_is_listed_and_does_not_break_the_rest(make_host, tmp_path, monkeypatch):
    _fake_distribution(tmp_path, monkeypatch, "broken-dist", "1.2", "broken = tests.fake_plugins.broken_import")
    _fake_distribution(tmp_path, monkeypatch, "good-dist", "0.3", "good = tests.fake_plugins.good")
    host = make_host(entry_points=True)
    broken = [s for s in host.statuses if s.distribution == "broken-dist"][0]
    assert "broken on purpose" in broken.error and broken.version == "1.2"
    good = [s for s in host.statuses if s.distribution == "good-dist"][0]
    assert good.error is None and host.methods.origin("toy").distribution == "good-dist"


def test_a_plugin_whose_import_or_registration_hangs_is_stopped_and_listed(make_host, tmp_path, monkeypatch):
    """A plugin that waits for ever at import (a server it asks, a lock) or in its register hook
    used to hold every command, ``cvgl-bench methods`` included, without a word."""
    import time

    code = tmp_path / "code"
    code.mkdir()
    (code / "hangs_at_import.py").write_text("import time\ntime.sleep(60)\n")
    (code / "hangs_at_registration.py").write_text(textwrap.dedent("""\
        import time
        from cvgl_bench import MethodSpec, hookimpl

        @hookimpl
        def cvgl_bench_register_methods(register):
            register(MethodSpec(name="half_registered", loader="tests.fake_plugins.good:ToyMethod"))
            time.sleep(60)
        """))
    monkeypatch.syspath_prepend(str(code))
    _fake_distribution(tmp_path, monkeypatch, "slow-import", "1.0", "slow_import = hangs_at_import")
    _fake_distribution(tmp_path, monkeypatch, "slow-register", "1.0", "slow_register = hangs_at_registration")
    _fake_distribution(tmp_path, monkeypatch, "good-dist", "0.3", "good = tests.fake_plugins.good")
    monkeypatch.setenv("CVGL_BENCH_PLUGIN_TIMEOUT", "0.5")
    start = time.monotonic()
    host = make_host(entry_points=True)
    assert time.monotonic() - start < 20
    errors = {s.distribution: s.error for s in host.statuses}
    stopped = "had not finished after 0.5 s (CVGL_BENCH_PLUGIN_TIMEOUT), so it was stopped"
    assert errors["slow-import"] == f"its import {stopped}" and "hangs_at_import" not in sys.modules
    assert errors["slow-register"] == f"its registration {stopped}" and "half_registered" not in host.methods
    assert errors["good-dist"] is None and host.methods.origin("toy").distribution == "good-dist"
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_method_whose_module_import_or_construction_hangs_is_stopped(make_host, tmp_path, monkeypatch):
    """``spec.load()`` runs plugin code too: the import of the method's heavy module and the
    building of the method. One that never finished held ``run`` for ever, after the plugin had
    registered and listed fine; now it is one line naming the method and the bound."""
    import time

    from .test_hostile_inputs import assert_one_line_error, in_process

    code = tmp_path / "code"
    code.mkdir()
    (code / "hangs_heavy.py").write_text("import time\ntime.sleep(60)\n")
    (code / "hangs_build.py").write_text("import time\n\ndef build():\n    time.sleep(60)\n")
    (code / "slow_methods.py").write_text(textwrap.dedent("""\
        from cvgl_bench import MethodSpec, hookimpl

        @hookimpl
        def cvgl_bench_register_methods(register):
            register(MethodSpec(name="slow_import", loader="hangs_heavy:Method"))
            register(MethodSpec(name="slow_build", loader="hangs_build:build"))
        """))
    monkeypatch.syspath_prepend(str(code))
    _fake_distribution(tmp_path, monkeypatch, "slow-methods", "1.0", "slow_methods = slow_methods")
    stopped = "had not finished after 1 s (CVGL_BENCH_PLUGIN_TIMEOUT), so it was stopped"
    for method, needle in (("slow_import", "method 'slow_import': importing 'hangs_heavy:Method' "),
                           ("slow_build", "method 'slow_build': building it ")):
        start = time.monotonic()
        proc = in_process(tmp_path, monkeypatch, make_host, "run", "-m", method, "-d", "synth_cvusa_test",
                          env={"CVGL_BENCH_PLUGIN_TIMEOUT": "1"})
        assert time.monotonic() - start < 30
        assert_one_line_error(proc, needle + stopped)
    assert "hangs_heavy" not in sys.modules
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_strict_mode_turns_a_broken_plugin_into_an_error(make_host, tmp_path, monkeypatch):
    _fake_distribution(tmp_path, monkeypatch, "broken-dist", "1.2", "broken = tests.fake_plugins.broken_import")
    with pytest.raises(PluginError, match="broken-dist 1.2.*broken on purpose.*STRICT"):
        make_host(entry_points=True, strict=True)


@pytest.mark.parametrize("first,second", [("a_good", "b_clash"), ("b_good", "a_clash")])
def test_a_name_two_distributions_register_is_usable_by_neither_whatever_the_order(make_host, tmp_path, monkeypatch,
                                                                                    first, second):
    # entry points load in name order: the outcome must not depend on which one comes first
    _fake_distribution(tmp_path, monkeypatch, "good-dist", "1.0", f"{first} = tests.fake_plugins.good")
    _fake_distribution(tmp_path, monkeypatch, "clash-dist", "2.0", f"{second} = tests.fake_plugins.clash")
    host = make_host(entry_points=True)
    failed = [s for s in host.statuses if s.error]
    assert len(failed) == 1 and "good-dist 1.0" in failed[0].error and "clash-dist 2.0" in failed[0].error
    assert "'toy'" in failed[0].error and "neither is used" in failed[0].error
    assert "toy" not in host.methods and "toy" not in host.methods.names() and "toy" not in [m.name for m in host.methods]
    with pytest.raises(PluginError, match="method 'toy' is registered by .* and by .*uninstall one"):
        host.methods.get("toy")
    assert not failed[0].registered  # the failed plugin's other names are rolled back
    assert ("clash-only" in host.methods) == (failed[0].distribution == "good-dist")
    from click.testing import CliRunner

    from cvgl_bench.cli import cli

    done = CliRunner().invoke(cli, ["plugins", "--json"])
    assert done.exit_code == 0, done.output
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    kept = listed[first if failed[0].name == second else second]  # loaded, but its 'toy' is unusable too
    assert kept["error"] is None and len(kept["contested"]) == 1 and "neither is used" in kept["contested"][0]
    assert listed[failed[0].name]["contested"] == []  # its names were rolled back; its error says why
    table = CliRunner().invoke(cli, ["plugins"]).stdout
    assert sum("CONTESTED: method 'toy'" in line or "FAILED: method 'toy'" in line for line in table.splitlines()) == 2


@pytest.mark.parametrize("group", ["cvgl_bench.plugins", "cvgl-bench"])
def test_an_entry_point_in_a_near_miss_group_is_listed_as_failed_not_ignored(make_host, tmp_path, monkeypatch, group):
    info = tmp_path / "near_miss-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: near-miss\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nnear = tests.fake_plugins.good\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    host = make_host(entry_points=True)
    (status,) = [s for s in host.statuses if s.distribution == "near-miss"]
    assert status.error == (f"its entry point is in group {group!r}, which cvgl-bench does not read; "
                            "declare it under [project.entry-points.cvgl_bench] (pyproject.toml) or "
                            "[options.entry_points] cvgl_bench = ... (setup.cfg)")
    with pytest.raises(UnknownNameError, match="near"):
        host.methods.get("toy")


def test_a_built_in_name_cannot_be_taken_over(make_host):
    taker = types.ModuleType("taker_plugin")
    taker.cvgl_bench_register_metrics = hookimpl(
        lambda register: register(__import__("cvgl_bench").MetricSpec(name="recall@1", loader="x:y")))
    host = make_host(taker)
    error = [s.error for s in host.statuses if s.name == "taker_plugin"][0]
    assert "metric 'recall@1' is registered by cvgl-bench" in error and "a built-in name cannot be replaced" in error
    assert host.metrics.origin("recall@1").builtin


def test_a_plugin_registering_one_name_twice_is_told_so(make_host):
    twice = types.ModuleType("twice_plugin")

    def cvgl_bench_register_methods(register):
        register(MethodSpec(name="twice", loader="x:y"))
        register(MethodSpec(name="twice", loader="x:y"))

    twice.cvgl_bench_register_methods = hookimpl(cvgl_bench_register_methods)
    error = [s.error for s in make_host(twice).statuses if s.name == "twice_plugin"][0]
    assert error.startswith("method 'twice' is registered twice by") and "register it once" in error


def test_unknown_name_suggests_close_matches(make_host):
    host = make_host(module("good"))
    with pytest.raises(UnknownNameError, match="unknown method 'tyo'; did you mean 'toy'"):
        host.methods.get("tyo")
    with pytest.raises(UnknownNameError, match="known: toy"):
        host.methods.get("zzzzzz")


def test_fewer_hook_arguments_than_the_spec_still_load(make_host):
    old = module("old_api")
    old.CALLS.clear()
    host = make_host(old)
    assert not host.failures()
    host.record_written({"cell": {"method": "m"}}, "p")
    assert old.CALLS == ["m"]


def test_misspelt_hook_and_unknown_argument_are_plugin_errors(make_host):
    typo = types.ModuleType("typo_plugin")
    typo.cvgl_bench_register_method = hookimpl(lambda register: None)
    badarg = types.ModuleType("badarg_plugin")
    badarg.cvgl_bench_register_methods = hookimpl(lambda register, colour: None)
    host = make_host(typo, badarg)
    errors = {s.name: s.error for s in host.statuses}
    assert "unknown hook 'cvgl_bench_register_method'" in errors["typo_plugin"]
    assert "colour" in errors["badarg_plugin"]
    assert all("\n" not in error for error in errors.values() if error)  # pluggy's own message spans three lines
    with pytest.raises(PluginError) as caught:
        make_host(badarg, strict=True)
    assert "\n" not in str(caught.value) and "colour" in str(caught.value)


def test_plugin_raising_inside_register_is_rolled_back(make_host):
    bad = types.ModuleType("raises_plugin")

    def cvgl_bench_register_methods(register):
        register(MethodSpec(name="half", loader="x:y"))
        raise RuntimeError("boom")

    bad.cvgl_bench_register_methods = hookimpl(cvgl_bench_register_methods)
    host = make_host(bad)
    assert "half" not in host.methods
    assert "boom" in host.failures()[0].error


def test_wrong_spec_type_is_refused(make_host):
    bad = types.ModuleType("wrongtype_plugin")
    bad.cvgl_bench_register_metrics = hookimpl(lambda register: register(MethodSpec(name="m", loader="x:y")))
    host = make_host(bad)
    assert "expected MetricSpec" in host.failures()[0].error


def test_spec_validation():
    with pytest.raises(PluginError, match="a-z, 0-9 and _.@%"):
        MethodSpec(name="Bad Name", loader="x:y")
    with pytest.raises(PluginError, match="'cpu' profile"):
        MethodSpec(name="m", loader="x:y", profiles=("paper",))
    with pytest.raises(PluginError, match="cannot import"):
        MethodSpec(name="m", loader="no_such_module_xyz:Thing").load()


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "-x", "_x", "a/b", "a" * 65, "caf\u00e9", "x\n", "", 7])
def test_a_name_that_could_not_name_a_file_is_refused(make_host, name):
    """A method named '..' wrote its runs to runs/../<profile>/ (outside audit): a spec's name
    names folders and files, so it follows the one rule that score --method follows too."""
    plugin = types.ModuleType("odd_name_plugin")
    plugin.cvgl_bench_register_methods = hookimpl(lambda register: register(MethodSpec(name=name, loader="x:y")))
    (failure,) = make_host(plugin).failures()
    assert "starting with a letter or a digit, at most 64 characters (it names files)" in failure.error


@pytest.mark.parametrize("profile", ["../x", "Fast", ""])
def test_a_profile_name_follows_the_name_rule(profile):
    with pytest.raises(PluginError, match=f"profile name {profile!r} must be a-z, 0-9"):
        MethodSpec(name="m", loader="x:y", profiles=("paper", "cpu", profile))


@pytest.mark.parametrize("name", ["a" * 64, "clnet+ncm", "0shot", "m.v2@100%", "sample4geo-ft_1"])
def test_names_within_the_rule_register(make_host, name):
    plugin = types.ModuleType("ok_name_plugin")
    plugin.cvgl_bench_register_methods = hookimpl(lambda register: register(MethodSpec(name=name, loader="x:y")))
    host = make_host(plugin)
    assert not host.failures() and name in host.methods


def test_results_sink_failure_is_a_warning(make_host):
    sink = types.ModuleType("sink_plugin")

    def cvgl_bench_record_written(record, path):
        raise OSError("server down")

    sink.cvgl_bench_record_written = hookimpl(cvgl_bench_record_written)
    host = make_host(sink)
    warnings = host.record_written({"cell": {"method": "m"}}, "p")
    assert len(warnings) == 1 and "server down" in warnings[0]


def test_split_protocol_resolution(make_host):
    from cvgl_bench.errors import ConfigError

    spec = make_host(module("good")).splits.get("toyset_test")
    assert resolve_protocol(spec) == {"ties": "strict"}
    assert resolve_protocol(spec, {"ties": "loose"}) == {"ties": "loose"}
    with pytest.raises(ConfigError, match="not one of: strict, loose"):
        resolve_protocol(spec, {"ties": "random"})
    with pytest.raises(ConfigError, match="no protocol option 'colour'"):
        resolve_protocol(spec, {"colour": "red"})


def test_add_plugin_after_load_is_refused():
    host = PluginHost(entry_points=False).load()
    with pytest.raises(RuntimeError):
        host.add_plugin(types.ModuleType("late"))


def _fake_distribution(tmp_path, monkeypatch, name, version, entry_point):
    """A distribution that importlib.metadata discovers on sys.path, without installing anything."""
    info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [cvgl_bench]
        {entry_point}
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
