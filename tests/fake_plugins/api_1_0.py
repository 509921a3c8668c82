"""A plugin written against plugin API 1.0 exactly as docs/plugins.md documents it.

Every hook, every spec with every 1.0 field given by keyword, and hooks implemented with fewer
arguments than offered. ``tests/test_plugin_api.py`` loads it and runs it end to end; if a later
version renames or removes anything it uses, that test fails.
"""

import click
import numpy as np

from cvgl_bench import DatasetSpec, MethodSpec, MetricSpec, SearchBackendSpec, SplitSpec, hookimpl
from cvgl_bench.data.structures import POSITIVE

RECORDS = []


def top5(ranks, data, protocol):
    """1 when the first positive is among the 5 most similar references (strict ties)."""
    truth = data.truth
    positive = truth.role == POSITIVE
    first = np.full(truth.n_queries, np.iinfo(np.int64).max)
    np.minimum.at(first, truth.query_of_entry[positive], ranks.rank_strict[positive])
    return (first < 5).astype(np.float64)


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(name="api10_tiny", loader="tests.train_helpers:TinyMethod", summary="API 1.0 method",
                        paper="none", official=False, notes="test plugin", profiles=("paper", "cpu"),
                        tags=("test",), views=("ground", "satellite")))


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(name="api10set", loader=None, summary="API 1.0 dataset", folder="Api10Set",
                         homepage="https://example.org", obtain="it is not obtainable", license="none",
                         synthetic=False))


@hookimpl
def cvgl_bench_register_splits(register):
    register(SplitSpec(name="api10_cvusa_test", loader="cvgl_bench.data.synth.splits:synth_cvusa_test",
                       summary="the synthetic CVUSA test split under another name", dataset="synth_cvusa",
                       role="eval", layout="cvusa", query_view="ground", reference_view="satellite",
                       train_split="synth_cvusa_train", protocol_options={"ties": ("strict", "loose")},
                       metrics=("recall@1", "api10@5"), expected_counts={}, image_sizes={}, twin=None,
                       synthetic=True))


@hookimpl
def cvgl_bench_register_metrics(register):
    register(MetricSpec(name="api10@5", loader=top5, summary="API 1.0 metric", higher_is_better=True,
                        convention_option="ties"))


@hookimpl
def cvgl_bench_register_search_backends(register):
    register(SearchBackendSpec(name="api10_torch", loader="cvgl_bench.evaluate.search:TorchSearch",
                               summary="the torch backend under another name", requires=("torch",)))


@hookimpl
def cvgl_bench_register_commands(cli):
    @cli.command("api10-hello")
    def api10_hello():
        """Say hello from an API 1.0 plugin."""
        click.echo("hello from API 1.0")


@hookimpl
def cvgl_bench_record_written(record):
    RECORDS.append(record["cell"]["eval_split"])
