"""``cvgl-bench new-plugin``: name and folder checks, the files it writes, and the package they make.

The written package is loaded the way pip would expose it (a distribution whose entry point is
the one in the generated ``setup.cfg``, discovered on ``sys.path``) and must pass the quick
conformance checks. The real ``pip install`` of a generated package runs in CI
(``scripts/ci_outside_plugin.sh``).
"""

from __future__ import annotations

import ast
import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvgl_bench.cli import cli
from cvgl_bench.conformance import run_checks
from cvgl_bench.scaffold import class_name, create_plugin, distribution_name, render

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


@pytest.fixture
def forget_modules():
    """Drop the generated packages from sys.modules afterwards (each test writes its own)."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("cvgl_bench_"):
            del sys.modules[name]


def _new_plugin(*args):
    return CliRunner().invoke(cli, ["new-plugin", *args])


@pytest.mark.parametrize("name, reason", [
    ("Bad", "must start with a lower-case letter"), ("1method", "must start with a lower-case letter"),
    ("my-method", "must start with a lower-case letter"), ("my method", "must start with a lower-case letter"),
    ("class", "is a Python keyword"), ("a" * 41, "at most 40 characters"),
    ("m\u00e9thode", "must start with a lower-case letter")])
def test_a_name_that_is_not_a_lower_case_identifier_is_one_line_exit_2(host, tmp_path, name, reason):
    result = _new_plugin(name, "--dir", str(tmp_path / "p"))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and reason in result.output
    assert not (tmp_path / "p").exists()


def test_a_name_taken_by_an_installed_method_is_refused(make_host, tmp_path):
    make_host(toy_methods)
    result = _new_plugin("tiny", "--dir", str(tmp_path / "p"))
    assert result.exit_code == 2 and "a method named 'tiny' exists already" in result.output
    assert result.output.count("\n") == 1


def test_a_name_of_a_split_or_dataset_is_refused(make_host, tmp_path):
    make_host()
    for name, what in (("synth_cvusa_test", "split"), ("cvusa", "dataset")):
        result = _new_plugin(name, "--dir", str(tmp_path / name))
        assert result.exit_code == 2 and f"{name!r} is the name of a {what}" in result.output
        assert result.output.count("\n") == 1 and not (tmp_path / name).exists()


def test_a_name_whose_package_is_importable_already_is_refused(host, tmp_path, monkeypatch):
    (tmp_path / "site" / "cvgl_bench_taken").mkdir(parents=True)
    (tmp_path / "site" / "cvgl_bench_taken" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    result = _new_plugin("taken", "--dir", str(tmp_path / "p"))
    assert result.exit_code == 2 and "'cvgl_bench_taken' is importable already" in result.output


def test_a_non_empty_target_folder_or_a_file_is_refused(host, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = _new_plugin("fresh_one", "--dir", str(tmp_path / "full"))
    assert result.exit_code == 2 and "is not empty" in result.output
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["keep.txt"]
    (tmp_path / "afile").write_text("x")
    result = _new_plugin("fresh_one", "--dir", str(tmp_path / "afile"))
    assert result.exit_code == 2 and "is not a folder" in result.output


def test_an_empty_target_folder_is_used_and_the_default_folder_is_named_after_the_distribution(host, tmp_path,
                                                                                                monkeypatch):
    (tmp_path / "empty").mkdir()
    assert _new_plugin("in_empty", "--dir", str(tmp_path / "empty")).exit_code == 0
    assert (tmp_path / "empty" / "setup.cfg").is_file()
    monkeypatch.chdir(tmp_path)
    result = _new_plugin("by_default")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cvgl-bench-by-default" / "cvgl_bench_by_default" / "method.py").is_file()
    assert "pip install -e" in result.output


@pytest.mark.parametrize("folder, shown", [("my plugin", "'my plugin'"), ("-dash", "./-dash"), ("plain", "plain")])
def test_the_next_command_can_be_pasted_into_a_shell_as_it_is(host, tmp_path, monkeypatch, folder, shown):
    """A folder with a space split the printed pip command in two, and one starting with '-'
    read as an option (outside fuzzing)."""
    import shlex

    monkeypatch.chdir(tmp_path)
    result = _new_plugin("pasted", "--dir", folder)
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line == f"next: pip install -e {shown} && cvgl-bench check-plugin pasted"
    words = shlex.split(line.removeprefix("next: "))
    assert (tmp_path / words[3]).resolve() == (tmp_path / folder).resolve() and (tmp_path / folder / "setup.cfg").is_file()


def test_the_written_files_are_valid_python_toml_and_setup_cfg(tmp_path):
    folder, files = create_plugin("my_method", tmp_path / "pkg")
    assert sorted(str(p.relative_to(folder)) for p in files) == sorted(render("my_method"))
    for path in files:
        if path.suffix == ".py":
            ast.parse(path.read_text(), filename=str(path))
        assert "$" not in path.read_text(), f"unsubstituted template variable in {path}"
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    assert tomllib.loads((folder / "pyproject.toml").read_text())["build-system"]["build-backend"]
    cfg = configparser.ConfigParser()
    cfg.read(folder / "setup.cfg")
    assert cfg["metadata"]["name"] == distribution_name("my_method") == "cvgl-bench-my-method"
    assert cfg["options.entry_points"]["cvgl_bench"].strip() == "my_method = cvgl_bench_my_method.plugin"
    assert "class MyMethod(ContrastiveMethod)" in (folder / "cvgl_bench_my_method" / "method.py").read_text()
    assert class_name("a_b2_c") == "AB2C"


def _as_installed(tmp_path, monkeypatch, folder):
    """Expose ``folder`` as pip would: its package on sys.path and a dist-info with setup.cfg's entry point."""
    cfg = configparser.ConfigParser()
    cfg.read(folder / "setup.cfg")
    dist = cfg["metadata"]["name"]
    info = folder / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[cvgl_bench]\n" + cfg["options.entry_points"]["cvgl_bench"].strip()
                                           + "\n")
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    return dist


@pytest.mark.slow
def test_the_generated_plugin_loads_through_its_entry_point_and_passes_the_quick_checks(
        make_host, tmp_path, monkeypatch, forget_modules, tiny_world):
    folder, _ = create_plugin("gen_method", tmp_path / "pkg")
    dist = _as_installed(tmp_path, monkeypatch, folder)
    host = make_host(entry_points=True)
    assert "gen_method" in host.methods and host.methods.origin("gen_method").distribution == dist
    assert "torch" not in repr(host.methods.get("gen_method").loader)
    hp = host.methods.get("gen_method").load().hparams("cpu", host.splits.get("synth_cvusa_train"))
    assert hp["backbone"] == "convnext_atto" and hp["epochs"] <= 2 and not hp["pretrained"]
    assert hp["embedding_norm"] == "batch"
    results = run_checks("gen_method", host, quick=True)
    assert all(r.ok for r in results), [f"{r.name}: {r.message}" for r in results if not r.ok]
    # once installed, the name is taken
    result = CliRunner().invoke(cli, ["new-plugin", "gen_method", "--dir", str(tmp_path / "again")])
    assert result.exit_code == 2 and "exists already" in result.output



def test_ci_runs_the_outside_plugin_script_and_the_script_parses():
    root = Path(__file__).resolve().parent.parent
    script = root / "scripts" / "ci_outside_plugin.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "bash scripts/ci_outside_plugin.sh" in (root / ".ci" / "run").read_text()
