"""Every hook a cvgl-bench plugin can implement (the reference: docs/plugins.md, Part 4).

A plugin is a module exposed under the entry-point group ``cvgl_bench`` whose functions are
decorated with :data:`cvgl_bench.hookimpl`. Hook argument names are public API: arguments are
added, never renamed or removed, and an implementation may take fewer than the hook offers.
Built-in datasets, metrics and search backends register through these same hooks.
"""

from __future__ import annotations

import pluggy

PROJECT = "cvgl_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cvgl_bench_register_methods(register):
    """Call ``register(MethodSpec(...))`` once per method; keep torch out of this module."""


@hookspec
def cvgl_bench_register_datasets(register):
    """Call ``register(DatasetSpec(...))`` once per dataset family."""


@hookspec
def cvgl_bench_register_splits(register):
    """Call ``register(SplitSpec(...))`` once per training or evaluation split."""


@hookspec
def cvgl_bench_register_metrics(register):
    """Call ``register(MetricSpec(...))`` once per metric (computed from stored ranks)."""


@hookspec
def cvgl_bench_register_search_backends(register):
    """Call ``register(SearchBackendSpec(...))`` once per exact search backend."""


@hookspec
def cvgl_bench_register_commands(cli):
    """Add click commands to the root group ``cli``; a built-in command cannot be replaced."""


@hookspec
def cvgl_bench_record_written(record, path):
    """After each result record (a dict, read only) is written to ``path``; a failure is a warning."""


@hookspec
def cvgl_bench_training_scalars(scalars, step, epoch, workdir):
    """On a training run's first process, each ``{tag: float}`` batch of scalars it records at
    ``step`` of ``epoch`` into ``workdir``; a failure is one warning and drops that sink."""
