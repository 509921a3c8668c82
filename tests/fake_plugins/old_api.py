"""A plugin written against fewer hook arguments than the spec offers (still loads)."""

from cvgl_bench import hookimpl

CALLS = []


@hookimpl
def cvgl_bench_record_written(record):
    CALLS.append(record["cell"]["method"])
