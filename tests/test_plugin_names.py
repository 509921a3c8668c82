"""Names that nothing registered are caught before any work: a split's metric, and a method whose
plugin failed to load (issue: reliability)."""

from __future__ import annotations

import types

import pytest
from click.testing import CliRunner

from cvgl_bench import SplitSpec, hookimpl
from cvgl_bench.cli import cli
from cvgl_bench.errors import UnknownNameError
from cvgl_bench.run import Cell, plan

from .fake_plugins import toy_methods


def _split_with_metric(metric: str) -> types.ModuleType:
    plugin = types.ModuleType("odd_metric_split")

    @hookimpl
    def cvgl_bench_register_splits(register):
        register(SplitSpec(name="odd_test", loader="cvgl_bench.data.formats.cvusa:load_test", dataset="cvusa",
                           train_split="cvusa_train", metrics=("recall@1", metric)))

    plugin.cvgl_bench_register_splits = cvgl_bench_register_splits
    return plugin


def _broken_method_plugin() -> types.ModuleType:
    plugin = types.ModuleType("broken_methods")

    @hookimpl
    def cvgl_bench_register_methods(register):
        raise RuntimeError("cannot import my CUDA extension")

    plugin.cvgl_bench_register_methods = cvgl_bench_register_methods
    return plugin


def test_a_split_metric_no_plugin_provides_is_refused_when_the_cell_is_planned(make_host):
    host = make_host(toy_methods, _split_with_metric("recall@top1"))
    with pytest.raises(UnknownNameError, match=r"unknown metric 'recall@top1'.*split odd_test reports it"):
        plan(Cell("tiny", ("odd_test",)), host)
    plan(Cell("tiny", ("cvusa_test",)), host)  # a split whose metrics exist plans fine


def test_plugins_flags_a_split_whose_metric_nothing_provides(make_host):
    make_host(_split_with_metric("recall@top1"))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "split 'odd_test'" in result.stderr and "metric 'recall@top1', which no plugin provides" in result.stderr


def test_an_unknown_method_names_the_plugins_that_failed_to_load(make_host):
    host = make_host(_broken_method_plugin())
    assert host.failures()
    with pytest.raises(UnknownNameError) as caught:
        host.methods.get("mymethod")
    assert "plugin(s) failed to load: broken_methods" in str(caught.value) and "cvgl-bench plugins" in str(caught.value)


@pytest.mark.parametrize("loader", ["no_colon_here", 42, None])
def test_a_loader_that_cannot_resolve_fails_when_the_spec_is_built(loader):
    from cvgl_bench.errors import PluginError
    from cvgl_bench.specs import DatasetSpec, MethodSpec

    with pytest.raises(PluginError, match="loader must be 'module:attribute' or a callable"):
        MethodSpec(name="m", loader=loader)
    if loader is None:
        assert DatasetSpec(name="d", loader=None).loader is None  # a dataset's checker is optional
