"""Result records: one JSON file per (cell, evaluation split), per-query ranks beside it.

A record says what was run (the cell: method, profile, seed, training and evaluation split,
configuration hash), under which protocol, what came out (every metric with its convention and
95% interval), and everything needed to judge comparability (provenance). Per-query ranks are
stored in ``<record>.ranks.npz`` so any metric, interval or paired test can be recomputed
without a forward pass.

Writes are atomic and ordered (ranks first, JSON last): a JSON file on disk is always a
complete record, and a killed run leaves at most an orphan ``.npz`` that the next run replaces.

Schema (``SCHEMA_VERSION`` 1)::

    schema            "cvgl-bench/record"
    schema_version    1
    status            "ok" | "error"
    cell              {method, method_version, profile, seed, train_split, eval_split,
                       task ("in-domain" | "transfer"), config_hash, variant, hparams}
                      (variant: the hparams overrides, "ncm=off"; "" or absent for none)
    protocol          {option: value} for every convention of the split
    n_queries, n_references
    metrics           {name: {value, convention, ci95: [lo, hi], higher_is_better}}
    ranks             {file, sha256} or null (file: beside the record)
    checkpoint        {file, sha256} or null (file: relative to the runs folder, ``--runs``; records
                      written before that hold an absolute path, still read)
    efficiency        {params, gflops_query, gflops_reference, embedding_dim, queries_per_s, ...}
    provenance        {cvgl_bench_version, packages, plugins, git, python, platform, device,
                       world_size, global_batch, dataset_fingerprint, train_fingerprint,
                       started_at, finished_at, wall_time_s: {phase: seconds}, data_info}
                      (paths in data_info start with ``<data>`` for the data root, ``<cache>`` for
                      the user cache or ``~`` for the home folder: see :func:`portable_paths`)
    error             message, when status is "error"

A record names no folder of the machine that wrote it, so records can be committed and moved.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .fsutil import sha256_file, write_json, write_npz

SCHEMA = "cvgl-bench/record"
SCHEMA_VERSION = 1
TASKS = ("in-domain", "transfer")

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "schema_version": int,
    "status": str,
    "cell": dict,
    "protocol": dict,
    "metrics": dict,
    "provenance": dict,
}
_REQUIRED_CELL = ("method", "profile", "seed", "train_split", "eval_split", "task", "config_hash")
_REQUIRED_PROVENANCE = ("cvgl_bench_version", "git", "device", "world_size", "global_batch",
                        "dataset_fingerprint", "seed", "wall_time_s")


def new_record(
    *,
    method: str,
    profile: str,
    seed: int,
    train_split: str | None,
    eval_split: str,
    config_hash: str,
    protocol: Mapping[str, str],
    provenance: Mapping[str, Any],
    method_version: str = "",
    hparams: Mapping[str, Any] | None = None,
    in_domain_train_split: str | None = None,
    variant: str = "",
) -> dict[str, Any]:
    """A record skeleton with identity, protocol and provenance filled in.

    ``variant`` names the hparams overrides of the cell (``"ncm=off"``; empty for the method's
    own recipe)."""
    task = "in-domain" if train_split is None or train_split == in_domain_train_split else "transfer"
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "status": "ok",
        "cell": {
            "method": method,
            "method_version": method_version,
            "profile": profile,
            "seed": int(seed),
            "train_split": train_split,
            "eval_split": eval_split,
            "task": task,
            "config_hash": config_hash,
            "variant": str(variant or ""),
            "hparams": dict(hparams or {}),
        },
        "protocol": dict(protocol),
        "n_queries": 0,
        "n_references": 0,
        "metrics": {},
        "ranks": None,
        "checkpoint": None,
        "efficiency": {},
        "provenance": dict(provenance),
    }


def checkpoint_entry(model_path: str | Path, runs_dir: str | Path, sha256: str) -> dict[str, str]:
    """The record's ``checkpoint`` field: the file relative to the runs folder, and its checksum.

    ``model_path`` must lie under ``runs_dir`` (the runner puts every checkpoint there).
    """
    relative = Path(os.path.relpath(Path(model_path).absolute(), Path(runs_dir).absolute()))
    if relative.parts and relative.parts[0] == "..":
        raise ValueError(f"checkpoint {model_path} is not under the runs folder {runs_dir}")
    return {"file": relative.as_posix(), "sha256": sha256}


def checkpoint_file(record: Mapping[str, Any], runs_dir: str | Path = "runs") -> Path | None:
    """Where the record's checkpoint is on this machine, or None when the record names none.

    The stored path is relative to the runs folder (``runs_dir``); an absolute path (records
    written by cvgl-bench before relative paths) is returned as it is.
    """
    named = (record.get("checkpoint") or {}).get("file")
    if not named:
        return None
    path = Path(str(named))
    return path if path.is_absolute() else Path(runs_dir) / path


def portable_paths(value: Any, bases: Sequence[tuple[str, str | Path]]) -> Any:
    """``value`` with every occurrence of a base folder replaced by its label, recursively.

    ``bases`` pairs a label with a folder: ``[("<cache>", cache_dir()), ("<data>", data root)]``;
    with the cache in ``/data/me/cache``, ``/data/me/cache/synth/x.csv`` becomes
    ``<cache>/synth/x.csv``. Longer folders are replaced first, so a cache inside the home folder
    keeps its own label. Strings, lists, tuples
    and dict values are rewritten; anything else is returned unchanged.
    """
    folders: list[tuple[str, str]] = []
    for label, base in bases:
        for form in {str(Path(base)), str(Path(base).expanduser().resolve())}:
            if form not in ("", "/", "."):
                folders.append((form.rstrip("/"), label))
    folders.sort(key=lambda pair: len(pair[0]), reverse=True)

    def rewrite(item: Any) -> Any:
        if isinstance(item, str):
            for folder, label in folders:
                item = re.sub(re.escape(folder) + r"(?=/|$|[\s,;:)\]])", lambda _: label, item)
            return item
        if isinstance(item, Mapping):
            return {key: rewrite(v) for key, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [rewrite(v) for v in item]
        return item

    return rewrite(value)


def validate(record: Mapping[str, Any], where: str = "record") -> None:
    """Raise :class:`DataError` naming the first field that breaks the schema."""
    for key, kind in _REQUIRED.items():
        if key not in record:
            raise DataError(f"{where}: missing field {key!r}")
        if not isinstance(record[key], kind):
            raise DataError(f"{where}: field {key!r} must be {getattr(kind, '__name__', kind)}")
    if record["schema"] != SCHEMA:
        raise DataError(f"{where}: not a cvgl-bench record (schema {record['schema']!r})")
    if record["schema_version"] > SCHEMA_VERSION:
        raise DataError(f"{where}: schema version {record['schema_version']} is newer than this cvgl-bench "
                        f"understands ({SCHEMA_VERSION}); upgrade cvgl-bench")
    for key in _REQUIRED_CELL:
        if key not in record["cell"]:
            raise DataError(f"{where}: missing field cell.{key}")
    if record["cell"]["task"] not in TASKS:
        raise DataError(f"{where}: cell.task must be one of {TASKS}")
    if not _is_int(record["cell"]["seed"]):
        raise DataError(f"{where}: cell.seed must be an integer")
    for key in ("n_queries", "n_references"):
        if record.get(key) is not None and not _is_int(record[key]):
            raise DataError(f"{where}: field {key!r} must be an integer")
    if record["status"] == "ok":
        for key in _REQUIRED_PROVENANCE:
            if key not in record["provenance"]:
                raise DataError(f"{where}: missing field provenance.{key}")
        for name, metric in record["metrics"].items():
            if not isinstance(metric, dict) or "value" not in metric or "convention" not in metric:
                raise DataError(f"{where}: metric {name!r} needs a value and a convention")
            if not _is_finite(metric["value"]):
                raise DataError(f"{where}: metric {name!r} has value {metric['value']!r}, not a finite number")
            ci = metric.get("ci95")
            if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_is_finite(x) for x in ci)):
                raise DataError(f"{where}: metric {name!r}: ci95 must be [low, high] finite numbers or null")
        if not isinstance(record.get("efficiency") or {}, dict):
            raise DataError(f"{where}: field 'efficiency' must be an object")
        for name, value in (record.get("efficiency") or {}).items():
            if value is not None and not _is_finite(value):
                raise DataError(f"{where}: efficiency {name!r} has value {value!r}, not a finite number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@%+-]", "_", str(part))


def record_path(root: str | Path, record: Mapping[str, Any], variant: str = "") -> Path:
    """``<root>/<method>/<profile>/<train>__<eval>[__<variant>]__seed<N>.json``."""
    cell = record["cell"]
    stem = f"{_safe(cell['train_split'] or 'none')}__{_safe(cell['eval_split'])}"
    if variant:
        stem += f"__{_safe(variant)}"
    stem += f"__seed{int(cell['seed'])}"
    return Path(root) / _safe(cell["method"]) / _safe(cell["profile"]) / f"{stem}.json"


def ranks_path(json_path: str | Path) -> Path:
    json_path = Path(json_path)
    return json_path.with_name(json_path.name[: -len(".json")] + ".ranks.npz")


def write(record: dict[str, Any], path: str | Path, ranks: Mapping[str, np.ndarray] | None = None,
          host: Any = None) -> list[str]:
    """Write the ranks (if any) then the record, each atomically; then call results sinks.

    Returns warning lines from sinks that failed (the record is written regardless).
    """
    path = Path(path)
    if ranks is not None:
        rpath = ranks_path(path)
        write_npz(rpath, dict(ranks))
        record["ranks"] = {"file": rpath.name, "sha256": sha256_file(rpath)}
    validate(record, str(path))
    write_json(path, record)
    if host is None:
        from .plugins import get_host

        host = get_host()
    return host.record_written(record, path)


def read(path: str | Path) -> dict[str, Any]:
    """Read and validate one record (older schema versions are upgraded)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read record: {exc}") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}: a record must be a JSON object")
    validate(record, str(path))
    return record


def read_ranks(path: str | Path, record: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The per-query rank arrays stored beside a record (checksum verified)."""
    path = Path(path)
    record = record or read(path)
    if not record.get("ranks"):
        raise DataError(f"{path}: record has no stored ranks")
    rpath = path.with_name(record["ranks"]["file"])
    if not rpath.exists():
        raise DataError(f"{rpath}: ranks file of {path.name} is missing")
    if sha256_file(rpath) != record["ranks"]["sha256"]:
        raise DataError(f"{rpath}: checksum differs from the record; rerun the cell")
    with np.load(rpath, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def iter_records(root: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every valid record under ``root``; unreadable files are skipped with a warning."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"results folder {root} does not exist; run 'cvgl-bench run' or pass --results")
    for path in sorted(root.rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            yield path, read(path)
        except DataError as exc:
            warnings.warn(str(exc), stacklevel=2)


def load(root: str | Path) -> Any:
    """All records under ``root`` as a pandas DataFrame, one row per record.

    Columns: the cell fields, ``status``, ``n_queries``, ``n_references``,
    ``dataset_fingerprint``, ``path``, and per metric ``<name>`` (value, %),
    ``<name>.lo`` / ``<name>.hi`` (95% interval) and ``<name>.convention``.
    """
    import pandas as pd

    rows = []
    for path, record in iter_records(root):
        cell = record["cell"]
        row: dict[str, Any] = {k: cell.get(k) for k in ("method", "method_version", "profile", "seed",
                                                        "train_split", "eval_split", "task", "config_hash")}
        row["variant"] = cell.get("variant") or ""
        row.update({
            "status": record["status"],
            "n_queries": record.get("n_queries"),
            "n_references": record.get("n_references"),
            "dataset_fingerprint": record["provenance"].get("dataset_fingerprint"),
            "path": str(path),
        })
        for name, metric in record["metrics"].items():
            row[name] = metric.get("value")
            ci = metric.get("ci95") or [None, None]
            row[f"{name}.lo"], row[f"{name}.hi"] = ci[0], ci[1]
            row[f"{name}.convention"] = metric.get("convention")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["method", "profile", "seed", "train_split", "eval_split", "task",
                                      "config_hash", "variant", "status", "path"])
    return frame
