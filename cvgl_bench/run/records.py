"""The records of a cell: which evaluations still need work, and each record filled in.

One record per evaluation split, at ``<results>/<method>/<profile>/<train>__<eval>[__<variant>]__seed<N>.json``
(:func:`cvgl_bench.results.record_path`); the variant names the hparams overrides and the protocol
options that differ from the split's defaults, so an ablation or another convention never
overwrites the default record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import provenance, results
from ..data.fov import presented_hparams
from ..data.structures import EvalData
from ..errors import DataError
from ..results import MetricValue, Record, SplitInfo
from ..specs import SplitSpec
from .cell import CellResult, RunOptions
from .model import TrainedModel
from .plan import Plan


@dataclass
class Pending:
    """An evaluation that needs a record: its split, data, record skeleton and file."""

    spec: SplitSpec
    data: EvalData
    record: Record
    path: Path
    hparams: Mapping[str, Any]
    """What its images are loaded with: the model's hparams, its ground panoramas cut to the
    band the model was trained on under ``ground_fov=train``
    (:func:`cvgl_bench.data.fov.presented_hparams`)."""


def pending(p: Plan, evals: list[EvalData], method_version: str, hparams: Mapping[str, Any], train_fingerprint: str,
            options: RunOptions, result: CellResult, variant: str | None = None) -> list[Pending]:
    """The evaluations of ``p`` that need a record under ``options.overwrite``; records kept are
    added to ``result``. A record whose configuration or protocol changed (an option added to
    its split since, with its default) is redone under ``only-missing``,
    and every record under ``--restart`` (unless ``--overwrite never``).

    ``train_fingerprint`` identifies what the model learnt from (the training split's files, or
    an imported checkpoint); ``variant`` replaces the cell's own (an imported checkpoint's)."""
    cell = p.cell
    variant = cell.variant if variant is None else variant
    fields = (cell.method, method_version, cell.profile, hparams, p.train_spec.name, train_fingerprint)
    chash = results.config_hash(*fields, cell.seed)
    todo = []
    for spec, data in zip(p.eval_specs, evals):
        record = results.new_record(
            method=cell.method, profile=cell.profile, seed=cell.seed, train_split=p.train_spec.name,
            eval_split=spec.name, config_hash=chash, configuration_id=results.configuration_id(*fields),
            protocol=data.protocol, provenance={}, method_version=method_version, hparams=hparams,
            in_domain_train_split=spec.train_split, variant=variant,
            split=SplitInfo(synthetic=spec.synthetic, twin=spec.twin))
        path = results.record_path(options.results_dir, record,
                                   "__".join(part for part in (variant, _protocol_variant(spec, data)) if part))
        redo = options.overwrite == "always" or (not options.resume and options.overwrite != "never")
        if path.exists() and not redo:
            existing = _read_or_note(path, options)
            if existing is not None and (options.overwrite == "never" or (
                    existing.cell.config_hash == chash and dict(existing.protocol) == dict(data.protocol))):
                result.kept.append(path)
                result.records.append(existing)
                continue
            if existing is not None:
                options.log(f"[cvgl-bench] {cell}: replacing {path}: {_what_changed(existing, record, spec)}; "
                            "--overwrite never keeps it")
        shown = presented_hparams(hparams, p.train_spec.layout, spec.layout, data.protocol)
        if shown.get("crop_rows") != hparams.get("crop_rows"):
            data.info["ground_rows"] = shown["crop_rows"]["ground"]
        todo.append(Pending(spec, data, record, path, shown))
    return todo


def complete(job: Pending, scored: Any, model: TrainedModel, train_fingerprint: str, base: Mapping[str, Any],
             efficiency: Mapping[str, Any], phases: Mapping[str, float], started: str, queries_per_s: float | None,
             hparams: Mapping[str, Any], path_bases: Sequence[tuple[str, Path]]) -> Record:
    """``job.record`` with the evaluation's numbers and the provenance of the whole cell filled in.

    Paths in the split reader's ``data_info`` under one of ``path_bases`` are named by its label
    (:func:`cvgl_bench.results.portable_paths`), so the record names no folder of this machine."""
    record, data = job.record, job.data
    record.metrics = {name: MetricValue(**metric) for name, metric in scored.metrics.items()}
    record.n_queries, record.n_references = len(data.queries), len(data.references)
    record.intervals = results.IntervalInfo(scored.n_places, scored.n_boot, scored.seed)
    record.checkpoint = results.CheckpointRef(**model.checkpoint)
    record.efficiency = {**efficiency, "queries_per_s": queries_per_s}  # null: the query embeddings came from the cache
    info = model.info
    record.provenance = {
        **base,
        "seed": record.cell.seed,
        "world_size": int(info.get("world_size", 1)),
        "global_batch": int(info.get("global_batch", hparams.get("batch_size", 0))),
        "trained_with": info,
        "dataset_fingerprint": data.fingerprint,
        "train_fingerprint": train_fingerprint,
        "train_reused": not model.trained,
        "method_source_sha256": model.source,
        "data_info": data_info(data, path_bases),
        "search_backend": scored.backend,
        "started_at": started,
        "finished_at": provenance.now(),
        "wall_time_s": {k: round(v, 3) for k, v in phases.items()},
    }
    return record


def data_info(data: EvalData, bases: Sequence[tuple[str, Path]]) -> dict[str, Any]:
    """What the split's reader said about the files it read (``EvalData.info``: split file, label
    set, pairs left out, ...), JSON only, with folders named by label (:func:`path_bases`)."""
    return results.portable_paths({k: v for k, v in data.info.items() if _jsonable(v)}, bases)


def path_bases(spec: SplitSpec, data_root: str | None, host: Any) -> list[tuple[str, Path]]:
    """The folders a record names by label instead of by path (:func:`cvgl_bench.results.portable_paths`):
    the data root (``<data>``, the folder above the split's dataset), the user cache (``<cache>``,
    where synthetic data is generated) and the home folder (``~``)."""
    from ..dataroot import cache_dir, home, resolve_root

    bases: list[tuple[str, Path]] = [("<cache>", cache_dir())]
    if home() is not None:
        bases.append(("~", home()))  # type: ignore[arg-type]
    dataset = host.datasets.get(spec.dataset)
    if not dataset.synthetic:
        bases.append(("<data>", resolve_root(dataset, data_root, spec).parent))
    return bases


def _protocol_variant(spec: SplitSpec, data: EvalData) -> str:
    """Records under a non-default protocol get their own file name (``ties=loose``)."""
    changed = {k: v for k, v in data.protocol.items() if spec.protocol_defaults().get(k) != v}
    return "-".join(f"{k}={v}" for k, v in sorted(changed.items()))


def _what_changed(existing: Record, now: Record, spec: Any) -> str:
    """Why ``existing`` at a record's path does not stand for the cell any more, in words."""
    was, cell = existing.cell, now.cell
    if was.method_version != cell.method_version:
        return f"it was made by {cell.method} {was.method_version or '(no version)'}, this is {cell.method_version}"
    before, after = (json.loads(json.dumps(h, sort_keys=True, default=str)) for h in (was.hparams, cell.hparams))
    if before != after:
        keys = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
        return f"it was made with other hparams ({', '.join(keys[:5])}{more})"
    if was.config_hash != cell.config_hash:
        world = (" (another synthetic world: CVGL_BENCH_SYNTH_SIZE, CVGL_BENCH_SYNTH_SEED or the generator's "
                 "version)" if spec.synthetic else "")
        return f"it was made with other training data{world}"
    return f"it was made under the protocol {dict(existing.protocol)}, this is {dict(now.protocol)}"


def _read_or_note(path: Path, options: RunOptions) -> Record | None:
    """The record at ``path``; None, with a note, when it cannot be read (it is written again)."""
    try:
        return results.read(path)
    except DataError as exc:
        options.log(f"[cvgl-bench] note: the existing record cannot be read, so it is written again: {exc}")
        return None


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
