"""The plugin API is public and versioned (``SPEC_API_VERSION``); plugins written against it keep working.

``API_SNAPSHOTS`` freezes, per version, every hook's argument names, every spec's fields and the
``Method`` / ``CVGLModel`` interface. Changing any of them without a new version (and its
snapshot) fails here; so does renaming or removing anything an older version had. A plugin
written against 1.0 (``tests/fake_plugins/api_1_0.py``, whose results sink takes fewer arguments
than the hook offers) must load and run end to end, and docs/plugins.md must document the
current API. The minimal fewer-arguments plugin ``tests/fake_plugins/old_api.py`` is tested in
``tests/test_plugins.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvgl_bench import SPEC_API_VERSION, hookspecs
from cvgl_bench.cli import cli
from cvgl_bench.evaluate.metrics import MetricFunction
from cvgl_bench.evaluate.search import SearchBackend
from cvgl_bench.method import CVGLModel, Method
from cvgl_bench.specs import SPEC_TYPES

from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures

API_1_0 = {
    "hooks": {
        "cvgl_bench_register_methods": ["register"],
        "cvgl_bench_register_datasets": ["register"],
        "cvgl_bench_register_splits": ["register"],
        "cvgl_bench_register_metrics": ["register"],
        "cvgl_bench_register_search_backends": ["register"],
        "cvgl_bench_register_commands": ["cli"],
        "cvgl_bench_record_written": ["record", "path"],
    },
    "specs": {
        "MethodSpec": ["name", "loader", "summary", "paper", "official", "notes", "profiles", "tags", "views"],
        "DatasetSpec": ["name", "loader", "summary", "folder", "homepage", "obtain", "license", "synthetic"],
        "SplitSpec": ["name", "loader", "summary", "dataset", "role", "layout", "query_view", "reference_view",
                      "train_split", "protocol_options", "metrics", "expected_counts", "image_sizes", "twin",
                      "synthetic"],
        "MetricSpec": ["name", "loader", "summary", "higher_is_better", "convention_option"],
        "SearchBackendSpec": ["name", "loader", "summary", "requires"],
    },
    "interface": {
        "Method.hparams": ["profile", "train_split"],
        "Method.build_model": ["hparams"],
        "Method.fit": ["model", "train", "hparams", "run"],
        "Method.eval_transform": ["hparams", "view"],
        "CVGLModel.encode": ["images", "view"],
    },
}

#: 1.1 declares the optional interfaces on their base classes, each with its default: a plugin
#: that overrides none of them behaves as under 1.0; and adds the training-scalars hook.
API_1_1 = {
    **API_1_0,
    "hooks": {**API_1_0["hooks"], "cvgl_bench_training_scalars": ["scalars", "step", "epoch", "workdir"]},
    "optional": {
        "Method.validate_hparams": ["hparams"],
        "Method.load_model": ["hparams", "checkpoint"],
        "Method.import_checkpoint": ["state", "hparams"],
        "CVGLModel.loss_scale": [],
        "CVGLModel.spatial_maps": ["images", "view"],
        "MetricFunction.describe": ["protocol", "data"],
    },
    # abstract members of the base classes a metric or search plugin may subclass
    "required": {
        "MetricFunction.__call__": ["ranks", "data", "protocol"],
        "SearchBackend.rank": ["query", "reference", "truth", "device", "topk", "progress"],
    },
}

#: Frozen API per version. A change to the API adds a version here (and bumps SPEC_API_VERSION);
#: an existing entry is never edited.
#: 1.2 changes no name: ``MethodSpec.official`` defaults to None ("not stated" on the leaderboard)
#: instead of True, so a plugin that does not say is never shown as its authors' code.
API_1_2 = API_1_1

#: 1.3 adds the optional ``Method.model_for_weights`` (default ``build_model``): the model saved
#: weights replace, built without downloading initial ones.
API_1_3 = {**API_1_2, "optional": {**API_1_2["optional"], "Method.model_for_weights": ["hparams"]}}

API_SNAPSHOTS = {"1.0": API_1_0, "1.1": API_1_1, "1.2": API_1_2, "1.3": API_1_3}


def current_api() -> dict[str, dict[str, list[str]]]:
    """The API as the code defines it now."""
    hooks = {name: list(inspect.signature(func).parameters)
             for name, func in vars(hookspecs).items() if name.startswith("cvgl_bench_") and callable(func)}
    specs = {cls.__name__: [f.name for f in dataclasses.fields(cls)] for cls in SPEC_TYPES.values()}
    interface = {}
    for cls in (Method, CVGLModel):
        for name in sorted(cls.__abstractmethods__):
            params = list(inspect.signature(getattr(cls, name)).parameters)[1:]  # without self
            interface[f"{cls.__name__}.{name}"] = params
    optional, required = {}, {}
    for cls in (Method, CVGLModel, MetricFunction, SearchBackend):
        for name, member in vars(cls).items():
            if callable(member) and (name == "__call__" or not name.startswith("_")):
                params = list(inspect.signature(member).parameters)[1:]
                if name not in cls.__abstractmethods__:
                    optional[f"{cls.__name__}.{name}"] = params
                elif cls in (MetricFunction, SearchBackend):
                    required[f"{cls.__name__}.{name}"] = params
    return {"hooks": hooks, "specs": specs, "interface": interface, "optional": optional, "required": required}


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _is_subsequence(old: list[str], new: list[str]) -> bool:
    position = iter(new)
    return all(name in position for name in old)


def test_the_api_is_the_snapshot_of_its_version():
    assert SPEC_API_VERSION in API_SNAPSHOTS, (
        f"SPEC_API_VERSION {SPEC_API_VERSION} has no snapshot in tests/test_plugin_api.py; add one")
    current, frozen = current_api(), API_SNAPSHOTS[SPEC_API_VERSION]
    for part in ("hooks", "specs", "interface", "optional", "required"):
        assert current[part] == frozen.get(part, {}), (
            f"the plugin API ({part}) changed without a version bump: bump SPEC_API_VERSION in cvgl_bench/specs.py "
            f"(minor: additions only), add its snapshot to API_SNAPSHOTS and document it in docs/plugins.md")


def test_the_current_version_is_the_newest_snapshot():
    assert max(API_SNAPSHOTS, key=_version) == SPEC_API_VERSION


@pytest.mark.parametrize("version", sorted(API_SNAPSHOTS))
def test_nothing_of_an_older_version_was_renamed_or_removed(version):
    old, current = API_SNAPSHOTS[version], current_api()
    if _version(version)[0] != _version(SPEC_API_VERSION)[0]:
        pytest.skip("a major version may break the API")
    for hook, args in old["hooks"].items():
        assert hook in current["hooks"], f"hook {hook} of API {version} was removed"
        assert set(args) <= set(current["hooks"][hook]), f"an argument of {hook} (API {version}) was renamed"
    for spec, names in old["specs"].items():
        assert _is_subsequence(names, current["specs"][spec]), (
            f"{spec}: fields of API {version} must stay, in their order (new fields go after them)")
    # implementations of Method are called with exactly these arguments: they can never change in 1.x
    assert old["interface"] == current["interface"]
    for part in ("optional", "required"):
        for member, args in old.get(part, {}).items():
            assert current[part].get(member) == args, f"{part} {member} of API {version} changed"


def test_the_snapshot_check_sees_a_renamed_argument(monkeypatch):
    def cvgl_bench_record_written(record, filename):
        """A rename that must not go unnoticed."""

    monkeypatch.setattr(hookspecs, "cvgl_bench_record_written", cvgl_bench_record_written)
    assert current_api()["hooks"]["cvgl_bench_record_written"] == ["record", "filename"]
    with pytest.raises(AssertionError, match="changed without a version bump"):
        test_the_api_is_the_snapshot_of_its_version()


# -- the documentation ---------------------------------------------------------------------------

DOC = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")


def _table_rows(heading: str) -> list[list[str]]:
    section = DOC.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_docs_state_the_current_version():
    assert f"currently\n**{SPEC_API_VERSION}**" in DOC or f"currently **{SPEC_API_VERSION}**" in DOC


def test_docs_list_every_hook_with_its_arguments():
    documented = {_names(row[0])[0]: _names(row[1]) for row in _table_rows("Hooks")}
    assert documented == current_api()["hooks"]


def test_docs_list_every_spec_with_its_fields():
    documented = {_names(row[0])[0]: _names(row[1]) for row in _table_rows("Spec fields")}
    assert documented == current_api()["specs"]


def test_docs_list_the_method_interface():
    documented = {f"{_names(row[0])[0]}.{_names(row[1])[0]}": _names(row[2])
                  for row in _table_rows("The method interface")}
    assert documented == current_api()["interface"]


def test_docs_list_every_optional_interface_with_its_default():
    documented = {f"{_names(row[0])[0]}.{_names(row[1])[0]}": _names(row[2])
                  for row in _table_rows("Optional interfaces")}
    assert documented == current_api()["optional"]


def test_docs_list_the_metric_and_search_base_classes():
    documented = {f"{_names(row[0])[0]}.{_names(row[1])[0]}": _names(row[2])
                  for row in _table_rows("Metric and search base classes")}
    assert documented == current_api()["required"]


# -- a plugin written against 1.0 ------------------------------------------------------------------

def test_a_plugin_written_against_1_0_loads_with_everything_it_registers(make_host):
    from .fake_plugins import api_1_0

    host = make_host(api_1_0)
    assert not host.failures(), [s.error for s in host.failures()]
    status = next(s for s in host.statuses if s.name.endswith("api_1_0"))
    assert status.registered == {"method": ["api10_tiny"], "dataset": ["api10set"], "split": ["api10_cvusa_test"],
                                 "metric": ["api10@5"], "search_backend": ["api10_torch"]}
    result = CliRunner().invoke(cli, ["api10-hello"])
    assert result.exit_code == 0 and "hello from API 1.0" in result.output


@pytest.mark.slow
def test_a_plugin_written_against_1_0_runs_end_to_end(make_host, tiny_world, tmp_path):
    from .fake_plugins import api_1_0

    api_1_0.RECORDS.clear()
    make_host(api_1_0)
    result = CliRunner().invoke(cli, ["run", "--method", "api10_tiny", "--dataset", "api10_cvusa_test",
                                      "--backend", "api10_torch", "--device", "cpu", "--json",
                                      "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert api_1_0.RECORDS == ["api10_cvusa_test"]
    records = list((tmp_path / "results").rglob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert set(record["metrics"]) == {"recall@1", "api10@5"}
    assert record["metrics"]["api10@5"]["value"] >= record["metrics"]["recall@1"]["value"]
