"""A dataset plugin's mistakes in its specs are named where it registers them, not at a later run."""

from __future__ import annotations

import types

import numpy as np
import pytest

from cvgl_bench import MetricSpec, SplitSpec, hookimpl
from cvgl_bench.errors import PluginError
from cvgl_bench.evaluate.scoring import rescore

from .leaderboard_fakes import PROTOCOL, rank_arrays


@pytest.mark.parametrize("options", [{"altitude": ()}, {"altitude": "150"}, {"altitude": (150, 300)},
                                     {"altitude": ("150", "150")}, {"altitude": ("150", "")}])
def test_protocol_options_must_be_tuples_of_distinct_strings(options):
    with pytest.raises(PluginError, match="protocol option 'altitude' must list its values as a tuple of distinct "
                                          "strings"):
        SplitSpec(name="x_test", loader="m:f", dataset="x", protocol_options=options)
    SplitSpec(name="x_test", loader="m:f", dataset="x", protocol_options={"altitude": ["150", "300"]})


@pytest.mark.parametrize("field", ["protocol_options", "expected_counts", "image_sizes"])
def test_the_mapping_fields_must_be_dicts(field):
    with pytest.raises(PluginError, match=f"split 'x_test': {field} must be a dict, not tuple"):
        SplitSpec(name="x_test", loader="m:f", dataset="x", **{field: (16, 8)})


@pytest.mark.parametrize("counts", [{"queries": "16"}, {"quries": 16}, {"queries": (16, 8)}, {"pairs": -1},
                                    {"references": True}])
def test_expected_counts_must_be_counts_of_known_keys(counts):
    with pytest.raises(PluginError, match="expected_counts maps queries, references or pairs to a count"):
        SplitSpec(name="x_test", loader="m:f", dataset="x", expected_counts=counts)


def test_a_training_split_that_is_an_evaluation_split_and_a_missing_twin_are_named(make_host, tmp_path):
    from click.testing import CliRunner

    from cvgl_bench.cli import cli

    from .fake_plugins import toy_methods

    plugin = types.ModuleType("mixed_up")
    plugin.cvgl_bench_register_splits = hookimpl(lambda register: register(SplitSpec(
        name="mixed_test", loader="cvgl_bench.data.formats.cvusa:load_test", dataset="cvusa",
        train_split="cvusa_test", twin="synth_mixed_test", protocol_options={"ties": ("strict", "loose")},
        metrics=("recall@1", "recall@1%"))))
    host = make_host(toy_methods, plugin)
    problems = host.unresolved_names()
    assert any("trains on 'cvusa_test', which is an evaluation split" in p for p in problems)
    assert any("names 'synth_mixed_test' as its twin, which no plugin registers" in p for p in problems)
    assert any("reports metric 'recall@1%', whose convention option 'r1pct' it does not offer" in p for p in problems)
    assert not any("'recall@1'," in p for p in problems)
    result = CliRunner().invoke(cli, ["run", "-m", "tiny", "-d", "mixed_test", "--dry-run",
                                      "--data-root", str(tmp_path)])
    assert result.exit_code == 2 and "--train-on 'cvusa_test'" not in result.output
    assert "split 'mixed_test' of (in-process) " in result.output and "names 'cvusa_test' as its training split, " \
        "which is an evaluation split; pass --train-on SPLIT" in result.output


def test_a_metric_whose_describe_raises_is_one_plugin_error(make_host):
    def per_query(ranks, data, protocol):
        return np.ones(data.truth.n_queries)

    def describe(protocol, data):
        raise KeyError("altitude")

    per_query.describe = describe
    plugin = types.ModuleType("bad_describe")
    plugin.cvgl_bench_register_metrics = hookimpl(lambda register: register(MetricSpec(name="ones",
                                                                                      loader=per_query)))
    host = make_host(plugin)
    arrays = rank_arrays(np.zeros(5, dtype=np.int64), 20)
    with pytest.raises(PluginError, match=r"metric 'ones': its describe\(\) failed: KeyError: 'altitude'"):
        rescore(arrays, PROTOCOL, ["ones"], host=host, n_boot=0)
