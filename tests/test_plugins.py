import importlib
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


def test_plugin_that_fails_to_import_is_listed_and_does_not_break_the_rest(make_host, tmp_path, monkeypatch):
    _fake_distribution(tmp_path, monkeypatch, "broken-dist", "1.2", "broken = tests.fake_plugins.broken_import")
    _fake_distribution(tmp_path, monkeypatch, "good-dist", "0.3", "good = tests.fake_plugins.good")
    host = make_host(entry_points=True)
    broken = [s for s in host.statuses if s.distribution == "broken-dist"][0]
    assert "broken on purpose" in broken.error and broken.version == "1.2"
    good = [s for s in host.statuses if s.distribution == "good-dist"][0]
    assert good.error is None and host.methods.origin("toy").distribution == "good-dist"


def test_strict_mode_turns_a_broken_plugin_into_an_error(make_host, tmp_path, monkeypatch):
    _fake_distribution(tmp_path, monkeypatch, "broken-dist", "1.2", "broken = tests.fake_plugins.broken_import")
    with pytest.raises(PluginError, match="broken-dist 1.2.*broken on purpose.*STRICT"):
        make_host(entry_points=True, strict=True)


def test_duplicate_name_is_an_error_naming_both_distributions_and_is_rolled_back(make_host, tmp_path, monkeypatch):
    # entry points load in name order, so a-dist's plugin registers 'toy' first
    _fake_distribution(tmp_path, monkeypatch, "a-dist", "1.0", "a_good = tests.fake_plugins.good")
    _fake_distribution(tmp_path, monkeypatch, "b-dist", "2.0", "b_clash = tests.fake_plugins.clash")
    host = make_host(entry_points=True)
    clash = [s for s in host.statuses if s.distribution == "b-dist"][0]
    assert "a-dist 1.0" in clash.error and "b-dist 2.0" in clash.error and "'toy'" in clash.error
    assert "clash-only" not in host.methods  # partial registration rolled back
    assert host.methods.origin("toy").distribution == "a-dist"


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
    with pytest.raises(PluginError, match="lower-case"):
        MethodSpec(name="Bad Name", loader="x:y")
    with pytest.raises(PluginError, match="'cpu' profile"):
        MethodSpec(name="m", loader="x:y", profiles=("paper",))
    with pytest.raises(PluginError, match="cannot import"):
        MethodSpec(name="m", loader="no_such_module_xyz:Thing").load()


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
