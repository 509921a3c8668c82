"""Every hook a cvgl-bench plugin can implement.

A plugin is a module (or object) exposed under the entry-point group ``cvgl_bench`` whose
functions are decorated with :data:`cvgl_bench.hookimpl`::

    # setup.cfg
    [options.entry_points]
    cvgl_bench =
        mymethod = cvgl_bench_mymethod.plugin

    # cvgl_bench_mymethod/plugin.py
    from cvgl_bench import MethodSpec, hookimpl

    @hookimpl
    def cvgl_bench_register_methods(register):
        register(MethodSpec(name="mymethod", loader="cvgl_bench_mymethod.method:MyMethod"))

Hook argument names are public API: arguments may be added in later versions, never renamed
or removed, and an implementation may accept fewer arguments than the spec offers. Built-in
datasets, metrics and search backends register through these same hooks.

Register hooks are called once per plugin; a plugin that raises while registering is rolled
back (nothing it registered stays) and listed as failed by ``cvgl-bench plugins``.

``docs/plugins.md`` is the guide (a method, a dataset and a metric plugin, every example
executed by the tests) and the versioned reference (``SPEC_API_VERSION``);
``cvgl-bench new-plugin NAME`` writes a ready-to-install method plugin package.
"""

from __future__ import annotations

import pluggy

PROJECT = "cvgl_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cvgl_bench_register_methods(register):
    """Register method plugins.

    :param register: call ``register(MethodSpec(...))`` once per method. The spec's loader
        is resolved only when the method is used, so keep heavy imports (torch, timm) out of
        the module that implements this hook.

    A name already taken by another plugin is refused; the error names both distributions.
    """


@hookspec
def cvgl_bench_register_datasets(register):
    """Register dataset families.

    :param register: call ``register(DatasetSpec(...))``. A dataset names the folder it lives
        in under ``CVGL_DATA_ROOT`` and says how to obtain it, so a user without the data gets
        an actionable message.
    """


@hookspec
def cvgl_bench_register_splits(register):
    """Register splits (training and evaluation) of registered datasets.

    :param register: call ``register(SplitSpec(...))``. An evaluation split states its query
        and reference views, its protocol options with the official convention first, the
        metrics it reports, and the training split of its in-domain task.
    """


@hookspec
def cvgl_bench_register_metrics(register):
    """Register retrieval metrics.

    :param register: call ``register(MetricSpec(...))``. Metrics are computed from stored
        per-query ranks, so adding one never needs a forward pass; re-scoring old records with
        a new metric is possible.
    """


@hookspec
def cvgl_bench_register_search_backends(register):
    """Register exact search backends (embeddings to ranks).

    :param register: call ``register(SearchBackendSpec(...))``. A backend must be exact: any
        approximate pass must be followed by an exact re-check of every rank it could change.
    """


@hookspec
def cvgl_bench_register_commands(cli):
    """Add commands to the ``cvgl-bench`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)`` or decorate with
        ``@cli.command()``. Command names must not shadow built-in ones.
    """


@hookspec
def cvgl_bench_record_written(record, path):
    """Called after each result record has been written (atomically) to disk.

    :param record: the record as a dict (see :mod:`cvgl_bench.results`); do not modify it.
    :param path: :class:`pathlib.Path` of the record's JSON file.

    Use it to forward results elsewhere (MLflow, Weights & Biases, a database). cvgl-bench
    ships no sink. An exception raised here is reported as a warning; the record stays written.
    """


@hookspec
def cvgl_bench_training_scalars(scalars, step, epoch, workdir):
    """Called on the first process of a training run with each batch of scalars it records.

    :param scalars: ``{tag: float}``: per optimiser step ``train/loss``, ``train/lr``,
        ``train/images_per_s`` and ``train/logit_scale`` (when the model has one); per epoch
        ``epoch/loss``, ``epoch/images_per_s``; per evaluation ``eval/<metric>``.
    :param step: the optimiser step (global, 1-based) the values belong to.
    :param epoch: the epoch (1-based).
    :param workdir: :class:`pathlib.Path` of the run's folder (its checkpoint, ``train.log`` and
        ``scalars.csv``, :mod:`cvgl_bench.train.runlog`).

    Use it to send training curves elsewhere (Weights & Biases, MLflow). An exception raised here
    is reported once as a warning and that plugin is not called again in this run; training goes on.
    """
