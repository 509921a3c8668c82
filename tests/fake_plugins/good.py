"""A well-behaved plugin: one method, one dataset with a split, one metric, one command."""

import click

from cvgl_bench import DatasetSpec, MethodSpec, MetricSpec, SplitSpec, hookimpl

SINK_CALLS = []


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(name="toy", loader="tests.fake_plugins.heavy:ToyMethod", summary="a toy method"))


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(name="toyset", loader=None, folder="ToySet", obtain="ask the toy maker"))


@hookimpl
def cvgl_bench_register_splits(register):
    register(SplitSpec(name="toyset_test", loader="tests.fake_plugins.heavy:load_split", dataset="toyset",
                       train_split="toyset_train", protocol_options={"ties": ("strict", "loose")},
                       metrics=("toy@1",), twin="synth_toyset_test"))


@hookimpl
def cvgl_bench_register_metrics(register):
    register(MetricSpec(name="toy@1", loader="tests.fake_plugins.heavy:toy_metric", summary="toy"))


@hookimpl
def cvgl_bench_register_commands(cli):
    @cli.command("toy-hello")
    def toy_hello():
        """Say hello from a plugin."""
        click.echo("hello from toy")


@hookimpl
def cvgl_bench_record_written(record, path):
    SINK_CALLS.append((record["cell"]["method"], path))
