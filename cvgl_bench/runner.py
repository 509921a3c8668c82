"""One cell: train a method on a training split (or reuse its checkpoint), evaluate it on one or
more evaluation splits, and write one record per evaluation split.

A cell is ``(method, training split, evaluation splits, profile, seed)``. Without an explicit
training split each evaluation split trains on its own in-domain training split; a different
training split makes the task a cross-dataset transfer. Everything a user can get wrong (names,
views, missing data, malformed files) is checked before training starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import provenance, results
from .data.structures import EvalData, TrainData
from .dataroot import cache_dir, resolve_root
from .errors import ConfigError, DataError, PluginError
from .evaluate.scoring import DEFAULT_METRICS
from .fsutil import sha256_file, write_bytes, write_json
from .locking import exclusive
from .overrides import apply_overrides, effective_overrides, variant_label
from .plugins import PluginHost, get_host
from .train.checkpoints import load_model_state, read_checkpoint

OVERWRITE = ("only-missing", "always", "never")
"""``only-missing``: run what has no record, and redo records whose configuration changed;
``always``: recompute and overwrite every record; ``never``: keep every existing record as it is."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: a method trained once, evaluated on each of ``eval_splits``."""

    method: str
    eval_splits: tuple[str, ...]
    train_split: str | None = None
    profile: str = "cpu"
    seed: int = 0
    protocol: tuple[tuple[str, str], ...] = ()
    """Protocol overrides (option, value), applied to every evaluation split that has the option."""
    overrides: tuple[tuple[str, str], ...] = ()
    """Hyper-parameter overrides (key, JSON value), deep-merged into the method's hparams
    (``cvgl-bench run --set``, :mod:`cvgl_bench.overrides`); an ablation is one override."""

    @property
    def variant(self) -> str:
        """``"ncm=off"`` for a cell with overrides, ``""`` without."""
        return variant_label(self.overrides)

    def __str__(self) -> str:
        train = self.train_split or "in-domain"
        variant = f" [{self.variant}]" if self.overrides else ""
        return f"{self.method}/{self.profile}{variant} {train} -> {','.join(self.eval_splits)} seed {self.seed}"


@dataclass
class RunOptions:
    """Where and how cells run; shared by ``run`` and ``grid``."""

    results_dir: Path = Path("results")
    runs_dir: Path = Path("runs")
    data_root: str | None = None
    overwrite: str = "only-missing"
    device: str | None = None
    backend: str = "torch"
    n_boot: int = 1000
    on_corrupt: str = "fail"
    progress: bool = True
    threads: int | None = None
    resume: bool = True
    checkpoint: Path | None = None
    """Score this trained checkpoint (a released model, or another run's ``model.pt``) instead of
    training: no training data is read, and the records are the variant ``checkpoint=<sha256[:8]>``."""
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        if self.overwrite not in OVERWRITE:
            raise ConfigError(f"--overwrite must be one of {', '.join(OVERWRITE)}, not {self.overwrite!r}")
        if self.on_corrupt not in ("fail", "skip"):
            raise ConfigError(f"--on-corrupt must be 'fail' or 'skip', not {self.on_corrupt!r}")
        self.results_dir = Path(self.results_dir)
        self.runs_dir = Path(self.runs_dir)


@dataclass
class CellResult:
    cell: Cell
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    trained: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Plan:
    """A cell with every name resolved and checked."""

    cell: Cell
    method_spec: Any
    train_spec: Any
    eval_specs: list[Any]


def plan(cell: Cell, host: PluginHost | None = None) -> _Plan:
    """Resolve and check every name of a cell; raises one-line errors before any work."""
    host = host or get_host()
    method_spec = host.methods.get(cell.method)
    if cell.profile not in method_spec.profiles:
        raise ConfigError(f"method {cell.method!r} has no profile {cell.profile!r} "
                          f"(profiles: {', '.join(method_spec.profiles)})")
    if not cell.eval_splits:
        raise ConfigError("no evaluation split given; pass --dataset SPLIT")
    eval_specs = []
    for name in cell.eval_splits:
        spec = host.splits.get(name)
        if spec.role != "eval":
            hint = f"; evaluate on one of its evaluation splits or pass it as --train-on" if spec.role == "train" else ""
            raise ConfigError(f"{name!r} is a training split, not an evaluation split{hint}")
        if not method_spec.supports(spec):
            raise ConfigError(f"method {cell.method!r} cannot embed {spec.query_view} -> {spec.reference_view} "
                              f"({name}); it handles {', '.join(method_spec.views)} views")
        for metric in spec.metrics or DEFAULT_METRICS:
            host.metrics.get(metric, hint=f"(split {name} reports it; install the plugin that provides it)")
        eval_specs.append(spec)
    train_name = cell.train_split
    if train_name is None:
        in_domain = {spec.train_split for spec in eval_specs}
        if len(in_domain) != 1 or None in in_domain:
            raise ConfigError(f"evaluation splits {', '.join(cell.eval_splits)} do not share one training split; "
                              "pass --train-on SPLIT or run them separately")
        train_name = in_domain.pop()
    train_spec = host.splits.get(train_name)
    if train_spec.role != "train":
        raise ConfigError(f"--train-on {train_name!r} is an evaluation split; pick a training split")
    train_views = {train_spec.query_view, train_spec.reference_view}
    for spec in eval_specs:
        if {spec.query_view, spec.reference_view} != train_views:
            raise ConfigError(f"{train_name} trains {' and '.join(sorted(train_views))} views but {spec.name} "
                              f"evaluates {spec.query_view} -> {spec.reference_view}")
    return _Plan(cell, method_spec, train_spec, eval_specs)


def synthetic_twin_command(p: _Plan) -> str | None:
    """The ``cvgl-bench run`` of the cell's synthetic twin: the same method on the twins of its
    evaluation splits (and of its training split, for a transfer); None when a split has no twin
    or the cell is synthetic already.

    The profile is left out, so ``--profile auto`` picks the twin's own (``cpu`` on synthetic data).
    """
    specs = [*p.eval_specs, p.train_spec]
    if any(spec.synthetic or not spec.twin for spec in specs):
        return None
    words = ["cvgl-bench", "run", "--method", p.cell.method]
    for spec in p.eval_specs:
        words += ["--dataset", spec.twin]
    if p.cell.train_split is not None and any(spec.train_split != p.train_spec.name for spec in p.eval_specs):
        words += ["--train-on", p.train_spec.twin]
    return " ".join(shlex.quote(word) for word in words)


def load_split(spec: Any, data_root: str | None, overrides: Mapping[str, str] | None = None,
               host: PluginHost | None = None, twin_command: str | None = None) -> TrainData | EvalData:
    """Load a split through its dataset plugin, under its protocol (overrides it understands).

    Missing data is one line naming ``twin_command`` (the command to run on synthetic data
    instead) when given."""
    host = host or get_host()
    dataset = host.datasets.get(spec.dataset)
    root = resolve_root(dataset, data_root, spec, twin_command=twin_command)
    known = {k: v for k, v in (overrides or {}).items() if k in spec.protocol_options}
    protocol = spec.resolve_protocol(known)
    data = spec.load()(root, protocol)
    expected = TrainData if spec.role == "train" else EvalData
    if not isinstance(data, expected):
        origin = host.splits.origin(spec.name).origin
        raise PluginError(f"split {spec.name!r} of {origin} returned {type(data).__name__}, not {expected.__name__}")
    size = len(data) if isinstance(data, TrainData) else min(len(data.queries), len(data.references))
    if size == 0:
        raise DataError(f"split {spec.name!r} under {root} is empty")
    return data


def _path_bases(spec: Any, data_root: str | None, host: PluginHost) -> list[tuple[str, Path]]:
    """The folders a record names by label instead of by path (:func:`results.portable_paths`):
    the data root (``<data>``, the folder above the split's dataset), the user cache
    (``<cache>``, where synthetic data is generated) and the home folder (``~``)."""
    bases: list[tuple[str, Path]] = [("<cache>", cache_dir()), ("~", Path.home())]
    dataset = host.datasets.get(spec.dataset)
    if not dataset.synthetic:
        bases.append(("<data>", resolve_root(dataset, data_root, spec).parent))
    return bases


def config_hash(method: str, method_version: str, profile: str, hparams: Mapping[str, Any],
                train_split: str, train_fingerprint: str, seed: int) -> str:
    """Identity of a trained model: equal hashes mean the same experiment."""
    payload = json.dumps({"method": method, "method_version": method_version, "profile": profile,
                          "hparams": hparams, "train_split": train_split, "train_fingerprint": train_fingerprint,
                          "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


TRAIN_INFO = "train.json"
"""Beside a checkpoint: how it was trained (world size, global batch, device, seconds), so a
record that reuses the checkpoint states the training's provenance, not its own process's."""


def _train_info(workdir: Path) -> dict[str, Any]:
    """The checkpoint's ``train.json``; empty for checkpoints written before it existed."""
    path = workdir / TRAIN_INFO
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


SOURCE_INFO = "source.json"
"""Beside a checkpoint: the digest of the method plugin's source it was trained with
(:func:`provenance.source_digest`), written before training starts, so ``last.pt`` and
``model.pt`` of an edited plugin are neither resumed nor reused."""


def _reusable_checkpoint(workdir: Path, source: str | None, resume: bool, log: Callable[[str], None],
                         label: str) -> bool | None:
    """True: reuse ``model.pt``; None: train, resuming ``last.pt`` if there is one; False: train from scratch.

    ``--restart`` (``resume=False``) and a plugin whose source changed since the checkpoint
    was trained both train from scratch. A checkpoint from before source digests were kept is
    trusted (its load still checks every key and shape)."""
    if not resume:
        return False
    try:
        recorded = json.loads((workdir / SOURCE_INFO).read_text(encoding="utf-8")).get("method_source_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded is not None and source is not None and recorded != source:
        log(f"[cvgl-bench] {label}: the method's source changed since {workdir} was trained; training from scratch")
        return False
    return True if (workdir / "model.pt").exists() else None


@contextlib.contextmanager
def _cell_lock(workdir: Path, label: str) -> Iterator[None]:
    """One process per cell: a second run of the same cell waits (bounded, saying for whom).

    Only rank 0 of a distributed job takes it; its other ranks follow rank 0's collectives."""
    from .distributed import world_info_from_env

    if world_info_from_env().rank != 0:
        yield
        return
    with exclusive(workdir.parent / f".{workdir.name}.lock", f"running the cell {label}"):
        yield


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_cell(cell: Cell, options: RunOptions | None = None, host: PluginHost | None = None) -> CellResult:
    """Train (or reuse) and evaluate one cell; returns the records written or kept."""
    import torch

    options = options or RunOptions()
    host = host or get_host()
    p = plan(cell, host)
    log = options.log
    result = CellResult(cell)
    overrides = dict(cell.protocol)
    timings: dict[str, float] = {}

    threads = options.threads or environment_threads()
    if threads:
        torch.set_num_threads(threads)
    device = options.device or default_device()
    method_origin = host.methods.origin(cell.method)
    method = p.method_spec.load()
    if cell.overrides:
        base = method.hparams(cell.profile, p.train_spec)
        changing, no_ops = effective_overrides(base, cell.overrides, method=cell.method)
        if no_ops:
            log(f"[cvgl-bench] {cell}: --set {variant_label(no_ops)} is the recipe's value already; "
                f"{'the cell runs as the variant ' + variant_label(changing) if changing else 'the cell is the recipe'}")
            cell = replace(cell, overrides=changing)
            p = replace(p, cell=cell)
            result.cell = cell
    hparams = resolve_hparams(method, cell, p.train_spec)
    if options.checkpoint is not None:
        return _score_checkpoint(cell, p, method, hparams, method_origin.version, options, host, device, result)

    t0 = time.perf_counter()
    twin = synthetic_twin_command(p)
    train = load_split(p.train_spec, options.data_root, None, host, twin)
    evals = [load_split(spec, options.data_root, overrides, host, twin) for spec in p.eval_specs]
    timings["load"] = time.perf_counter() - t0
    chash = config_hash(cell.method, method_origin.version, cell.profile, hparams, p.train_spec.name,
                        train.fingerprint, cell.seed)

    workdir = options.runs_dir / _safe(cell.method) / cell.profile / p.train_spec.name / f"seed{cell.seed}-{chash}"
    with _cell_lock(workdir, str(cell)):
        todo = _pending_records(cell, p, evals, chash, hparams, method_origin.version, options, result)
        if not todo:
            log(f"[cvgl-bench] {cell}: every record exists ({len(result.kept)}); nothing to do")
            return result

        model_path = workdir / "model.pt"
        seed_everything(cell.seed)
        model = method.build_model(hparams)
        t0 = time.perf_counter()
        source = provenance.source_digest(method)
        reuse = _reusable_checkpoint(workdir, source, options.resume, log, str(cell))
        if reuse:
            fix = "delete it, or rerun with --restart, to train again"
            load_model_state(model, read_checkpoint(model_path, fix), model_path, fix)
            log(f"[cvgl-bench] {cell}: reusing checkpoint {model_path}")
        else:
            from .train.context import RunContext
            from .distributed import world_info_from_env

            world = world_info_from_env()
            if world.rank == 0:
                write_json(workdir / SOURCE_INFO, {"method_source_sha256": source})
            run = RunContext(seed=cell.seed, device=device, workdir=workdir, resume=reuse is None,
                             progress=options.progress and world.rank == 0, log=log, world_size=world.world_size,
                             rank=world.rank, local_rank=world.local_rank, threads=threads,
                             on_corrupt=options.on_corrupt)
            log(f"[cvgl-bench] {cell}: training on {p.train_spec.name} ({len(train)} pairs, {device}"
                f"{f', {world.world_size} processes' if world.distributed else ''})")
            method.fit(model, train, hparams, run)
            if world.rank != 0:
                return result
            write_json(workdir / TRAIN_INFO, {"world_size": world.world_size,
                                              "global_batch": int(hparams.get("batch_size", 0)),
                                              "device": str(device), "train_s": round(time.perf_counter() - t0, 3),
                                              **run.notes})
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
            write_bytes(model_path, buffer.getvalue())
            result.trained = True
        timings["train"] = time.perf_counter() - t0 if result.trained else 0.0
        from .distributed import world_info_from_env

        trained_with = _train_info(workdir)
        checkpoint = results.checkpoint_entry(model_path, options.runs_dir, sha256_file(model_path))
        world_size = world_info_from_env().world_size if result.trained else int(trained_with.get("world_size", 1))
        _score_and_write(todo, model, method, hparams, cell, p, options, host, device, checkpoint, timings, result, {
            "world_size": world_size,
            "global_batch": int(trained_with.get("global_batch", hparams.get("batch_size", 0))),
            "trained_with": trained_with,
            "train_fingerprint": train.fingerprint,
            "train_reused": not result.trained,
            "method_source_sha256": source,
        })
        return result


def _score_checkpoint(cell: Cell, p: _Plan, method: Any, hparams: Mapping[str, Any], method_version: str,
                      options: RunOptions, host: PluginHost, device: str, result: CellResult) -> CellResult:
    """Evaluate a given checkpoint (``run --checkpoint``): imported through the method's
    :meth:`~cvgl_bench.method.Method.import_checkpoint`, loaded strictly, scored like a trained cell."""
    path = Path(options.checkpoint).expanduser()
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; pass the file of a trained {cell.method} model")
    sha = sha256_file(path)
    fix = (f"pass a checkpoint of {cell.method} with the {cell.profile} profile's architecture "
           f"(backbone {hparams.get('backbone', '?')}), or choose the profile that matches it")
    seed_everything(cell.seed)
    model = method.build_model(hparams)
    state = method.import_checkpoint(read_checkpoint(path, fix), hparams)
    load_model_state(model, state, path, fix)
    options.log(f"[cvgl-bench] {cell}: scoring checkpoint {path.name} (sha256 {sha[:12]}), no training")
    t0 = time.perf_counter()
    twin = synthetic_twin_command(p)
    evals = [load_split(spec, options.data_root, dict(cell.protocol), host, twin) for spec in p.eval_specs]
    timings = {"load": time.perf_counter() - t0, "train": 0.0}
    chash = config_hash(cell.method, method_version, cell.profile, hparams, p.train_spec.name, f"checkpoint:{sha}",
                        cell.seed)
    variant = ",".join(part for part in (cell.variant, f"checkpoint={sha[:8]}") if part)
    todo = _pending_records(cell, p, evals, chash, hparams, method_version, options, result, variant)
    if not todo:
        options.log(f"[cvgl-bench] {cell}: every record of this checkpoint exists ({len(result.kept)}); nothing to do")
        return result
    checkpoint = {"file": str(path.resolve()), "sha256": sha, "imported": True}
    _score_and_write(todo, model, method, hparams, cell, p, options, host, device, checkpoint, timings, result, {
        "world_size": 1,
        "global_batch": int(hparams.get("batch_size", 0)),
        "trained_with": {"imported_checkpoint": path.name, "sha256": sha},
        "train_fingerprint": f"checkpoint:{sha}",
        "train_reused": True,
        "method_source_sha256": provenance.source_digest(method),
    })
    return result


def _pending_records(cell: Cell, p: _Plan, evals: Sequence[EvalData], chash: str, hparams: Mapping[str, Any],
                     method_version: str, options: RunOptions, result: CellResult,
                     variant: str | None = None) -> list[tuple[Any, EvalData, dict[str, Any], Path]]:
    """``(spec, data, record skeleton, path)`` of every record the cell must (re)write; the
    records it keeps (``--overwrite`` policy) go to ``result``."""
    todo = []
    for spec, data in zip(p.eval_specs, evals):
        skeleton = _skeleton(cell, spec, p, method_version, chash, hparams, data, variant)
        path = results.record_path(options.results_dir, skeleton, _record_variant(cell, spec, data, variant))
        redo = options.overwrite == "always" or (not options.resume and options.overwrite != "never")
        if path.exists() and not redo:
            existing = _read_quietly(path)
            stale = existing is not None and existing["cell"].get("config_hash") != chash
            if existing is not None and (options.overwrite == "never" or not stale):
                result.kept.append(path)
                result.records.append(existing)
                continue
        todo.append((spec, data, skeleton, path))
    return todo


def _score_and_write(todo: list, model: Any, method: Any, hparams: Mapping[str, Any], cell: Cell, p: _Plan,
                     options: RunOptions, host: PluginHost, device: str, checkpoint: Mapping[str, Any],
                     timings: Mapping[str, float], result: CellResult, training: Mapping[str, Any]) -> None:
    """Embed, rank and score every pending evaluation split with ``model``; write its record.

    ``training`` is the record's account of how the model came to be (world size, global batch,
    ``trained_with``, training fingerprint, reused or not, method source digest)."""
    from .efficiency import measure
    from .evaluate.extract import embed
    from .evaluate.scoring import score

    model.to(device).eval()
    efficiency = measure(model, {v: tuple(s) for v, s in hparams["image_size"].items()},
                         p.train_spec.query_view, p.train_spec.reference_view)
    base_provenance = provenance.collect(host, device)
    for spec, data, record, path in todo:
        started = provenance.now()
        phase = dict(timings)
        t0 = time.perf_counter()
        query = embed(model, data.queries, spec.query_view, hparams, method, device=device,
                      checkpoint_hash=checkpoint["sha256"], on_corrupt=options.on_corrupt)
        t_query = time.perf_counter() - t0
        reference = embed(model, data.references, spec.reference_view, hparams, method, device=device,
                          checkpoint_hash=checkpoint["sha256"], on_corrupt=options.on_corrupt)
        phase["embed"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        scored = score(np.asarray(query), np.asarray(reference), data, metrics=spec.metrics,
                       backend=options.backend, device=device, n_boot=options.n_boot, seed=cell.seed, host=host)
        phase["search_and_metrics"] = time.perf_counter() - t0
        record["metrics"] = scored.metrics
        record["n_queries"], record["n_references"] = len(data.queries), len(data.references)
        record["checkpoint"] = dict(checkpoint)
        record["efficiency"] = {**efficiency, "queries_per_s": len(data.queries) / max(t_query, 1e-9)}
        record["provenance"] = {
            **base_provenance,
            "seed": cell.seed,
            "world_size": training["world_size"],
            "global_batch": training["global_batch"],
            "trained_with": training["trained_with"],
            "dataset_fingerprint": data.fingerprint,
            "train_fingerprint": training["train_fingerprint"],
            "train_reused": training["train_reused"],
            "method_source_sha256": training["method_source_sha256"],
            "data_info": results.portable_paths({k: v for k, v in data.info.items() if _jsonable(v)},
                                                _path_bases(spec, options.data_root, host)),
            "started_at": started,
            "finished_at": provenance.now(),
            "wall_time_s": {k: round(v, 3) for k, v in phase.items()},
        }
        for warning in results.write(record, path, ranks=scored.rank_arrays(), host=host):
            options.log(f"warning: {warning}")
        result.written.append(path)
        result.records.append(record)
        options.log(f"[cvgl-bench] wrote {path}")


def resolve_hparams(method: Any, cell: Cell, train_spec: Any) -> dict[str, Any]:
    """The method's hparams for the cell's profile and training split, with the cell's overrides
    merged in and checked again by the method (``validate_hparams``, when it has one)."""
    hparams = method.hparams(cell.profile, train_spec)
    _check_hparams(cell.method, hparams, train_spec)
    if cell.overrides:
        hparams = apply_overrides(hparams, cell.overrides, method=cell.method)
        validate = getattr(method, "validate_hparams", None)
        if callable(validate):
            validate(hparams)
        _check_hparams(cell.method, hparams, train_spec)
    return hparams


def _check_hparams(method: str, hparams: Mapping[str, Any], train_spec: Any) -> None:
    sizes = hparams.get("image_size") if isinstance(hparams, Mapping) else None
    needed = {train_spec.query_view, train_spec.reference_view}
    if not isinstance(sizes, Mapping) or not needed <= set(sizes):
        raise PluginError(f"method {method!r}: hparams['image_size'] must give [H, W] for views "
                          f"{', '.join(sorted(needed))}")
    for view in sorted(needed):
        size = sizes[view]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise ConfigError(f"method {method!r}: image_size of {view} must be [H, W] in pixels, not {size!r}")


def _skeleton(cell: Cell, spec: Any, p: _Plan, method_version: str, chash: str, hparams: Mapping[str, Any],
              data: EvalData, variant: str | None = None) -> dict[str, Any]:
    return results.new_record(
        method=cell.method, profile=cell.profile, seed=cell.seed, train_split=p.train_spec.name,
        eval_split=spec.name, config_hash=chash, protocol=data.protocol, provenance={},
        method_version=method_version, hparams=hparams, in_domain_train_split=spec.train_split,
        variant=cell.variant if variant is None else variant,
    )


def _variant(spec: Any, data: EvalData) -> str:
    """Records under a non-default protocol get their own file name."""
    changed = {k: v for k, v in data.protocol.items() if spec.protocol_defaults().get(k) != v}
    return "-".join(f"{k}={v}" for k, v in sorted(changed.items()))


def _record_variant(cell: Cell, spec: Any, data: EvalData, variant: str | None = None) -> str:
    """The record file's variant: hparams overrides, then protocol changes (``ncm=off__ties=loose``)."""
    return "__".join(part for part in (cell.variant if variant is None else variant, _variant(spec, data)) if part)


def _read_quietly(path: Path) -> dict[str, Any] | None:
    try:
        return results.read(path)
    except DataError:
        return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-@%" else "_" for c in name)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def summary_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One short row per record for the end-of-run table."""
    rows = []
    for record in records:
        cell = record["cell"]
        method = f"{cell['method']} [{cell['variant']}]" if cell.get("variant") else cell["method"]
        row = {"method": method, "train": cell["train_split"], "eval": cell["eval_split"], "seed": cell["seed"]}
        for name, metric in record["metrics"].items():
            lo, hi = (metric.get("ci95") or [None, None])[:2]
            ci = f" [{lo:.1f}, {hi:.1f}]" if lo is not None else ""
            row[name] = f"{metric['value']:.2f}{ci}"
        rows.append(row)
    return rows


def environment_threads() -> int | None:
    """``CVGL_BENCH_THREADS``: CPU threads for training and evaluation on this machine (None: unset)."""
    value = os.environ.get("CVGL_BENCH_THREADS")
    return int(value) if value else None
