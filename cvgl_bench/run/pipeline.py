"""One cell from start to end: plan, load, train or reuse, evaluate, write.

:func:`run_cell` reads top to bottom; each step is one call into the module that owns it
(:mod:`.plan`, :mod:`cvgl_bench.data.splits`, :mod:`.model`, :mod:`cvgl_bench.evaluate`,
:mod:`.records`, :mod:`cvgl_bench.results`).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import provenance, results
from ..data.splits import load_split
from ..distributed import from_rank0, world_info_from_env
from ..errors import DataError, PluginError
from ..fsutil import check_writable
from .cell import Cell, CellResult, RunOptions
from .model import TrainedModel, cell_lock, import_model, train_or_reuse, workdir_of
from .overrides import checkpoint_variant, effective_overrides, variant_label
from .plan import Plan, plan, resolve_hparams
from .records import Pending, complete, path_bases, pending


def run_cell(cell: Cell, options: RunOptions, host: Any) -> CellResult:
    """Train (or reuse) and evaluate one cell; returns the records written or kept.

    With ``options.checkpoint`` the given model is scored instead (:func:`_score_checkpoint`)."""
    p, method, hparams = resolve(cell, host, options.log)
    cell, result = p.cell, CellResult(p.cell)
    device = _prepare(options)
    version = host.methods.origin(cell.method).version
    check_new_folders(options)
    if options.checkpoint is not None:
        return _score_checkpoint(p, method, hparams, version, options, host, device, result)
    started = time.perf_counter()
    train = load_split(p.train_spec, options.data_root, None, host, twin_command=p.twin_command())
    evals = _load_evals(p, options, host, train)
    phases = {"load": time.perf_counter() - started}
    chash = results.config_hash(cell.method, version, cell.profile, hparams, p.train_spec.name, train.fingerprint,
                                cell.seed)
    workdir = workdir_of(options, cell, p.train_spec.name, chash)
    with cell_lock(workdir, str(cell), options.log):
        todo = pending(p, evals, version, hparams, train.fingerprint, options, result)
        if not from_rank0(bool(todo)):  # the ranks of a distributed run train together, or not at all
            hint = ("--overwrite never keeps them, even with --restart" if options.overwrite == "never"
                    else "--overwrite always evaluates again, --restart also retrains")
            options.log(f"[cvgl-bench] {cell}: every record exists ({len(result.kept)}); nothing to do ({hint})")
            return result
        check_writable(options.results_dir, "--results")
        trained = train_or_reuse(method, hparams, train, cell, workdir, options, device, host)
        if trained is None:  # another rank of a distributed run: rank 0 alone evaluates
            return result
        result.trained, phases["train"] = trained.trained, trained.seconds
        _evaluate_all(todo, trained, method, hparams, train.fingerprint, phases, options, device, host, result)
    return result


def _score_checkpoint(p: Plan, method: Any, hparams: dict[str, Any], version: str, options: RunOptions, host: Any,
                      device: str, result: CellResult) -> CellResult:
    """Score a given checkpoint (``run --checkpoint``) like a trained cell, without training data;
    its records are the variant ``checkpoint=<first 8 hex digits of its SHA-256>``."""
    cell = p.cell
    if world_info_from_env().rank != 0:
        return result  # nothing to train: the first process scores the checkpoint alone
    trained = import_model(method, hparams, options.checkpoint, cell)
    sha = trained.checkpoint["sha256"]
    options.log(f"[cvgl-bench] {cell}: scoring checkpoint {options.checkpoint.name} (sha256 {sha[:12]}), no training")
    started = time.perf_counter()
    evals = _load_evals(p, options, host)
    phases = {"load": time.perf_counter() - started, "train": 0.0}
    todo = pending(p, evals, version, hparams, trained.train_fingerprint, options, result,
                   checkpoint_variant(cell.variant, sha))
    if not todo:
        options.log(f"[cvgl-bench] {cell}: every record of this checkpoint exists ({len(result.kept)}); nothing to do")
        return result
    _evaluate_all(todo, trained, method, hparams, trained.train_fingerprint, phases, options, device, host, result)
    return result


def resolve(cell: Cell, host: Any, log: Any = print) -> tuple[Plan, Any, dict[str, Any]]:
    """The checked plan of ``cell``, its method and the hparams it will train with (no data read).

    ``--set`` overrides that give the recipe's own value are dropped (and said so through ``log``)."""
    p = plan(cell, host)
    method = p.method_spec.load()
    p = _without_no_op_overrides(p, method, log)
    return p, method, resolve_hparams(method, p.cell, p.train_spec)


def _without_no_op_overrides(p: Plan, method: Any, log: Any) -> Plan:
    """The plan without ``--set`` overrides that give the recipe's own value (``--set epochs=4`` on a
    4-epoch recipe): they must not make a variant of the recipe."""
    cell = p.cell
    if not cell.overrides:
        return p
    base = method.hparams(cell.profile, p.train_spec)
    changing, no_ops = effective_overrides(base, cell.overrides, method=cell.method)
    if not no_ops:
        return p
    now = f"the cell runs as the variant {variant_label(changing)}" if changing else "the cell is the recipe"
    log(f"[cvgl-bench] {cell}: --set {variant_label(no_ops)} is the recipe's value already; {now}")
    return replace(p, cell=replace(cell, overrides=changing))


def _load_evals(p: Plan, options: RunOptions, host: Any, train: Any = None) -> list[Any]:
    """The cell's evaluation splits; with ``train``, none may query an image the model trains on."""
    evals = [load_split(spec, options.data_root, p.protocol_for(spec), host, twin_command=p.twin_command())
             for spec in p.eval_specs]
    for spec, data in zip(p.eval_specs, evals):
        leaked = data.queries_trained_on(train) if train is not None else []
        if leaked:
            instead = f"; train on {spec.train_split}" if spec.train_split and spec.train_split != train.split else ""
            raise DataError(f"{len(leaked)} of the {len(data.queries)} queries of {spec.name} are images of the "
                            f"training split {train.split} (first: {leaked[0]}): a model cannot be scored on what "
                            f"it trained on{instead}")
    return evals


def _evaluate_all(todo: list[Pending], trained: TrainedModel, method: Any, hparams: dict[str, Any],
                  train_fingerprint: str, phases: dict[str, float], options: RunOptions, device: str, host: Any,
                  result: CellResult) -> None:
    """Embed, rank and score every pending evaluation with ``trained``; write each record."""
    from ..evaluate.efficiency import measure

    trained.model.to(device).eval()
    try:
        efficiency = measure(trained.model, {v: tuple(s) for v, s in hparams["image_size"].items()},
                             todo[0].spec.query_view, todo[0].spec.reference_view)
    except Exception as exc:  # noqa: BLE001 - the model's failure, in one line (--debug: the traceback)
        raise PluginError(f"{type(method).__name__}'s model fails on a batch of one image of each view, as the "
                          f"efficiency figures measure it: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
                          "; an embedding must not need other images in its batch (a BatchNorm left in training "
                          "mode does)") from exc
    base = provenance.collect(host, device)
    for job in todo:
        record, ranks = _evaluate(job, trained, method, hparams, train_fingerprint, base, efficiency, dict(phases),
                                  options, device, host)
        for warning in results.write(record, job.path, ranks=ranks, host=host):
            options.log(f"warning: {warning}")
        result.written.append(job.path)
        result.records.append(record)
        options.log(f"[cvgl-bench] wrote {job.path}")


def check_new_folders(options: RunOptions) -> None:
    """Refuse, before any data loads, a ``--results`` or ``--runs`` folder that does not exist and
    cannot be made (a file in the way, a name too long): it holds nothing to keep. An existing
    ``--results`` folder that cannot be written is refused after the data (it may hold every
    record, which a rerun keeps). Scoring a ``--checkpoint`` writes nothing under ``--runs``, so
    that folder is not checked then."""
    folders = [(options.results_dir, "--results")]
    if options.checkpoint is None:
        folders.append((options.runs_dir, "--runs"))
    for folder, option in folders:
        try:
            usable = stat.S_ISDIR(os.stat(folder).st_mode)  # False for a file in the way
        except (FileNotFoundError, NotADirectoryError):
            usable = False  # a new folder, or one under a file: made, or refused, by check_writable
        except OSError as exc:  # a name too long is refused below; a parent that may not be listed cannot
            usable = exc.errno != errno.ENAMETOOLONG  # be told from here: checked where it is used
        if not usable:
            check_writable(folder, option)


def _prepare(options: RunOptions) -> str:
    """Set torch's CPU threads (``--threads``, ``CVGL_BENCH_THREADS``); the device to run on."""
    import torch

    from ..distributed import resolve_device

    threads = options.cpu_threads()
    device = resolve_device(options.device)
    if threads:
        torch.set_num_threads(threads)
    return device


def _evaluate(job: Pending, trained: TrainedModel, method: Any, hparams: dict[str, Any], train_fingerprint: str,
              base: dict[str, Any], efficiency: dict[str, Any], phases: dict[str, float], options: RunOptions,
              device: str, host: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Embed the split's queries and references, rank and score them; the completed record and its ranks."""
    from ..evaluate.extract import cached_embedding, embed
    from ..evaluate.scoring import score

    started = provenance.now()
    spec, data = job.spec, job.data
    common = {"device": device, "checkpoint_hash": trained.checkpoint["sha256"]}
    skipped: list[str] = []
    embed_args = {**common, "on_corrupt": options.on_corrupt, "skipped": skipped, "log": options.log}
    t0 = time.perf_counter()
    query = cached_embedding(trained.model, data.queries, spec.query_view, job.hparams, method, **common)[1]
    queries_per_s = None  # not measured when the queries' embeddings come from the cache
    if query is None:
        query = embed(trained.model, data.queries, spec.query_view, job.hparams, method, **embed_args)
        queries_per_s = len(data.queries) / max(time.perf_counter() - t0, 1e-9)
    reference = embed(trained.model, data.references, spec.reference_view, job.hparams, method, **embed_args)
    phases["embed"] = time.perf_counter() - t0
    if skipped:  # --on-corrupt skip: embedded as black images, counted in the record
        data.info["undecodable_images"] = len(skipped)
        data.info["undecodable_image_files"] = [Path(p).name for p in skipped[:20]]
        options.log(f"[cvgl-bench] {len(skipped)} evaluation image(s) could not be decoded and were embedded as "
                    f"black images (--on-corrupt skip), first: {skipped[0]}")
    t0 = time.perf_counter()
    scored = score(np.asarray(query), np.asarray(reference), data, metrics=spec.metrics, backend=options.backend,
                   device=device, n_boot=options.n_boot, seed=job.record.cell.seed, host=host)
    phases["search_and_metrics"] = time.perf_counter() - t0
    record = complete(job, scored, trained, train_fingerprint, base, efficiency, phases, started,
                      queries_per_s, hparams, path_bases(spec, options.data_root, host))
    return record, scored.rank_arrays()
