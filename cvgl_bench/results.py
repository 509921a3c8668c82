"""Result records: one JSON file per (cell, evaluation split), per-query ranks beside it.

A record says what was run (the cell: method, profile, seed, training and evaluation split,
configuration), under which protocol, what came out (every metric with its convention and 95%
interval), and everything needed to judge comparability (provenance). Per-query ranks are
stored in ``<record>.ranks.npz`` so any metric, interval or paired test can be recomputed
without a forward pass (:func:`cvgl_bench.evaluate.scoring.rescore`).

The schema is the dataclasses below: :class:`Record` is checked field by field when it is
read and before it is written (:meth:`Record.from_dict`), and records of schema version 1 are
upgraded as they are read. Writes are atomic and ordered (ranks first, JSON last): a JSON file
on disk is always a complete record, and a killed run leaves at most an orphan ``.npz`` that
the next run replaces.

Identity: :func:`config_hash` names one trained model (it includes the seed) and
:func:`configuration_id` the same configuration over its seeds; a record carries both, so a
reader groups seeds without knowing how the runner hashes.

A record names no folder of the machine that wrote it, so records can be committed and moved:
the checkpoint is relative to the runs folder (``--runs``; records written before that hold an
absolute path, still read) and paths in ``provenance.data_info`` start with ``<data>``,
``<cache>`` or ``~`` (:func:`portable_paths`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .fsutil import open_regular, read_text, sha256_file, write_json, write_npz
from .seedrule import MAX_SEED
from .specs import NAME_RULE, NAME_RULE_TEXT

SCHEMA = "cvgl-bench/record"
SCHEMA_VERSION = 2
"""2 adds ``cell.configuration_id`` and the ``split`` block; version 1 records are upgraded on read."""
TASKS = ("in-domain", "transfer")
STATUSES = ("ok", "error")
PROVENANCE_REQUIRED = ("cvgl_bench_version", "git", "device", "world_size", "global_batch", "dataset_fingerprint",
                       "seed", "wall_time_s")
"""Provenance every ``ok`` record states (the block holds more: packages, plugins, timings...)."""


# -- identity -----------------------------------------------------------------------------------

def config_hash(method: str, method_version: str, profile: str, hparams: Mapping[str, Any], train_split: str,
                train_fingerprint: str, seed: int) -> str:
    """Identity of a trained model: equal hashes mean the same experiment (16 hex digits)."""
    payload = json.dumps({"method": method, "method_version": method_version, "profile": profile,
                          "hparams": hparams, "train_split": train_split, "train_fingerprint": train_fingerprint,
                          "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def configuration_id(method: str, method_version: str, profile: str, hparams: Mapping[str, Any],
                     train_split: str, train_fingerprint: str) -> str:
    """Seed-free identity of a configuration: :func:`config_hash` with the seed left out (as -1)."""
    return config_hash(method, method_version, profile, hparams, train_split, train_fingerprint, -1)


# -- schema ---------------------------------------------------------------------------------------

@dataclass
class MetricValue:
    """One metric of a record."""

    value: float
    """The mean of the per-query scores, in %."""
    convention: str
    """The convention it was computed under, in words."""
    ci95: list[float] | None = None
    """The 95% bootstrap interval over places (:attr:`Record.intervals`), in %."""
    higher_is_better: bool = True


@dataclass
class CellInfo:
    """What was run."""

    method: str
    method_version: str
    profile: str
    seed: int
    train_split: str | None
    eval_split: str
    task: str
    """``in-domain`` or ``transfer``."""
    config_hash: str
    """Identity of the trained model (:func:`config_hash`)."""
    configuration_id: str
    """Identity of the configuration over seeds (:func:`configuration_id`)."""
    variant: str = ""
    """The hparams overrides of the cell (``"ncm=off"``); empty for the method's own recipe."""
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class SplitInfo:
    """What the evaluation split is, from its :class:`~cvgl_bench.specs.SplitSpec`."""

    synthetic: bool = False
    twin: str | None = None
    """The real split of a synthetic one (or the synthetic twin of a real one)."""


@dataclass
class FileRef:
    """A file beside (ranks) or referenced by (checkpoint) a record, with its checksum."""

    file: str
    sha256: str


@dataclass
class CheckpointRef(FileRef):
    """The weights a record's model had: relative to the runs folder, or (``imported``) a given
    checkpoint scored without training (``run --checkpoint``), named by its absolute path."""

    imported: bool = False


@dataclass
class IntervalInfo:
    """How a record's intervals were drawn, so that anyone can draw them again from its ranks."""

    places: int
    """Places resampled (queries sharing a positive reference are one place)."""
    resamples: int
    """Bootstrap resamples (0: the record has no intervals)."""
    seed: int
    """Seed of ``numpy.random.default_rng`` the resamples were drawn from."""


@dataclass
class Record:
    """One result record; :meth:`to_dict` is its JSON form, :meth:`from_dict` reads and checks one."""

    cell: CellInfo
    protocol: dict[str, str]
    provenance: dict[str, Any]
    status: str = "ok"
    split: SplitInfo = field(default_factory=SplitInfo)
    n_queries: int = 0
    n_references: int = 0
    intervals: IntervalInfo | None = None
    """How the intervals were drawn; None in records made before intervals resampled places:
    theirs resampled queries, 1,000 times from the cell's seed when ``run`` made them."""
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    ranks: FileRef | None = None
    checkpoint: CheckpointRef | None = None
    efficiency: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    @property
    def dataset_fingerprint(self) -> str:
        """Fingerprint of the evaluation split's files the record was computed on."""
        return str(self.provenance.get("dataset_fingerprint"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``error`` only when there is one)."""
        data = dataclasses.asdict(self)
        out = {key: data[key] for key in _JSON_ORDER}
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> Record:
        """A checked record from its JSON form (version 1 upgraded); :class:`DataError` names the first bad field."""
        if not isinstance(data, Mapping):
            raise DataError(f"{where}: a record must be a JSON object")
        for key, kind in (("schema", str), ("schema_version", int), ("status", str), ("cell", dict),
                          ("protocol", dict), ("metrics", dict), ("provenance", dict)):
            if key not in data:
                raise DataError(f"{where}: missing field {key!r}")
            if not isinstance(data[key], kind):
                raise DataError(f"{where}: field {key!r} must be {kind.__name__}")
        if data["schema"] != SCHEMA:
            raise DataError(f"{where}: not a cvgl-bench record (schema {data['schema']!r})")
        if data["schema_version"] > SCHEMA_VERSION:
            raise DataError(f"{where}: schema version {data['schema_version']} is newer than this cvgl-bench "
                            f"understands ({SCHEMA_VERSION}); upgrade cvgl-bench")
        if data["status"] not in STATUSES:
            raise DataError(f"{where}: status must be one of {STATUSES}")
        _check_text(data, where)
        for key in _PROVENANCE_OBJECTS:
            value = data["provenance"].get(key)
            if value is not None and not isinstance(value, Mapping) and not (key == "device" and isinstance(value, str)):
                raise DataError(f"{where}: provenance.{key} must be an object or null")
        synthetic = (data["provenance"].get("data_info") or {}).get("synthetic")
        if synthetic is not None and not isinstance(synthetic, (Mapping, bool)):
            raise DataError(f"{where}: provenance.data_info.synthetic must be an object or null")
        cell = _cell(data["cell"], data["provenance"], where)
        for key in ("n_queries", "n_references"):
            if data.get(key) is not None and not _is_int(data[key]):
                raise DataError(f"{where}: field {key!r} must be an integer")
        if not isinstance(data.get("efficiency") or {}, Mapping):
            raise DataError(f"{where}: field 'efficiency' must be an object")
        if data["status"] == "ok":
            for key in PROVENANCE_REQUIRED:
                if key not in data["provenance"]:
                    raise DataError(f"{where}: missing field provenance.{key}")
            for name, value in (data.get("efficiency") or {}).items():
                if value is not None and not _is_finite(value):
                    raise DataError(f"{where}: efficiency {name!r} has value {value!r}, not a finite number")
        metrics = {}
        for name, metric in data["metrics"].items():
            if not isinstance(metric, Mapping) or "value" not in metric or "convention" not in metric:
                raise DataError(f"{where}: metric {name!r} needs a value and a convention")
            if not _is_finite(metric["value"]):
                raise DataError(f"{where}: metric {name!r} has value {metric['value']!r}, not a finite number")
            ci = metric.get("ci95")
            if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_is_finite(x) for x in ci)):
                raise DataError(f"{where}: metric {name!r}: ci95 must be [low, high] finite numbers or null")
            if not isinstance(metric.get("higher_is_better", True), bool):
                raise DataError(f"{where}: metric {name!r}: higher_is_better must be true or false")
            metrics[str(name)] = MetricValue(
                value=metric["value"], convention=str(metric["convention"]),
                ci95=None if ci is None else list(ci), higher_is_better=bool(metric.get("higher_is_better", True)))
        split = data.get("split")
        if split is not None and not (isinstance(split, Mapping) and set(split) <= {"synthetic", "twin"}
                                      and isinstance(split.get("synthetic", False), bool)
                                      and isinstance(split.get("twin"), (str, type(None)))):
            raise DataError(f"{where}: field 'split' must be {{synthetic: true/false, twin: name or null}}")
        return cls(cell=cell, protocol={str(k): str(v) for k, v in data["protocol"].items()},
                   provenance=dict(data["provenance"]), status=data["status"],
                   split=SplitInfo(**split) if isinstance(split, Mapping) else _split_of_v1(data["provenance"]),
                   n_queries=int(data.get("n_queries") or 0), n_references=int(data.get("n_references") or 0),
                   intervals=_interval_info(data.get("intervals"), where), metrics=metrics, ranks=_file_ref(data.get("ranks"), "ranks", where),
                   checkpoint=_checkpoint_ref(data.get("checkpoint"), where),
                   efficiency=dict(data.get("efficiency") or {}), error=data.get("error"),
                   schema=SCHEMA, schema_version=SCHEMA_VERSION)


_JSON_ORDER = ("schema", "schema_version", "status", "cell", "split", "protocol", "n_queries", "n_references",
               "intervals", "metrics", "ranks", "checkpoint", "efficiency", "provenance")


def _interval_info(value: Any, where: str) -> IntervalInfo | None:
    if value is None:
        return None
    keys = ("places", "resamples", "seed")
    if not isinstance(value, Mapping) or not all(_is_int(value.get(k)) and value[k] >= 0 for k in keys):
        raise DataError(f"{where}: field 'intervals' must hold non-negative integers {', '.join(keys)}")
    return IntervalInfo(*(int(value[k]) for k in keys))


def _cell(cell: Mapping[str, Any], provenance: Mapping[str, Any], where: str) -> CellInfo:
    for key in ("method", "profile", "seed", "train_split", "eval_split", "task", "config_hash"):
        if key not in cell:
            raise DataError(f"{where}: missing field cell.{key}")
    for key in ("method", "profile", "eval_split", *(("train_split",) if cell["train_split"] is not None else ())):
        if not isinstance(cell[key], str) or NAME_RULE.fullmatch(cell[key]) is None:
            raise DataError(f"{where}: cell.{key} {cell[key]!r} is not a name cvgl-bench writes ({NAME_RULE_TEXT})")
    if cell["task"] not in TASKS:
        raise DataError(f"{where}: cell.task must be one of {TASKS}")
    if not _is_int(cell["seed"]) or not 0 <= cell["seed"] <= MAX_SEED:
        raise DataError(f"{where}: cell.seed must be an integer from 0 to {MAX_SEED}")
    if not isinstance(cell.get("hparams") or {}, Mapping):
        raise DataError(f"{where}: cell.hparams must be an object")
    info = CellInfo(method=str(cell["method"]), method_version=str(cell.get("method_version") or ""),
                    profile=str(cell["profile"]), seed=int(cell["seed"]), train_split=cell["train_split"],
                    eval_split=str(cell["eval_split"]), task=cell["task"], config_hash=str(cell["config_hash"]),
                    configuration_id=str(cell.get("configuration_id") or ""), variant=str(cell.get("variant") or ""),
                    hparams=dict(cell.get("hparams") or {}))
    if not info.configuration_id:
        info.configuration_id = _configuration_of_v1(info, provenance)
    return info


def _configuration_of_v1(cell: CellInfo, provenance: Mapping[str, Any]) -> str:
    """A version 1 record's configuration over seeds: when its ``config_hash`` is the runner's hash
    of its own fields, the same hash without the seed; any other record (made by another tool)
    keeps its ``config_hash`` as given."""
    fields = (cell.method, cell.method_version, cell.profile, cell.hparams, str(cell.train_split),
              str(provenance.get("train_fingerprint")))
    if config_hash(*fields, cell.seed) != cell.config_hash:
        return cell.config_hash
    return configuration_id(*fields)


def _split_of_v1(provenance: Mapping[str, Any]) -> SplitInfo:
    """A version 1 record's split facts, from what its split reader said about the data
    (``data_info.synthetic`` holds the generator settings and the real split it imitates)."""
    synthetic = (provenance.get("data_info") or {}).get("synthetic")
    if isinstance(synthetic, Mapping):
        return SplitInfo(synthetic=True, twin=synthetic.get("real_split"))
    return SplitInfo()


def _file_ref(value: Any, name: str, where: str) -> FileRef | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "file" not in value or "sha256" not in value:
        raise DataError(f"{where}: field {name!r} must be null or {{file, sha256}}")
    return FileRef(str(value["file"]), str(value["sha256"]))


def _checkpoint_ref(value: Any, where: str) -> CheckpointRef | None:
    ref = _file_ref(value, "checkpoint", where)
    return None if ref is None else CheckpointRef(ref.file, ref.sha256, bool(value.get("imported", False)))


def new_record(*, method: str, profile: str, seed: int, train_split: str | None, eval_split: str,
               config_hash: str, protocol: Mapping[str, str], provenance: Mapping[str, Any],
               method_version: str = "", hparams: Mapping[str, Any] | None = None,
               in_domain_train_split: str | None = None, variant: str = "", configuration_id: str = "",
               split: SplitInfo | None = None) -> Record:
    """A record with identity, protocol and provenance filled in (metrics to come).

    ``variant`` names the hparams overrides of the cell (``"ncm=off"``; empty for the method's
    own recipe). Without ``configuration_id`` the record states ``config_hash`` for it (a tool
    that hashes no seed)."""
    task = "in-domain" if train_split is None or train_split == in_domain_train_split else "transfer"
    cell = CellInfo(method=method, method_version=method_version, profile=profile, seed=int(seed),
                    train_split=train_split, eval_split=eval_split, task=task, config_hash=config_hash,
                    configuration_id=configuration_id or config_hash, variant=str(variant or ""),
                    hparams=dict(hparams or {}))
    return Record(cell=cell, protocol=dict(protocol), provenance=dict(provenance), split=split or SplitInfo())


def validate(record: Record | Mapping[str, Any], where: str = "record") -> Record:
    """The record, checked against the schema; :class:`DataError` names the first field that breaks it."""
    data = record.to_dict() if isinstance(record, Record) else record
    return Record.from_dict(data, where)


def checkpoint_entry(model_path: str | Path, runs_dir: str | Path, sha256: str) -> dict[str, str]:
    """The record's ``checkpoint`` field: the file relative to the runs folder, and its checksum.

    ``model_path`` must lie under ``runs_dir`` (the runner puts every checkpoint there).
    """
    relative = Path(os.path.relpath(Path(model_path).absolute(), Path(runs_dir).absolute()))
    if relative.parts and relative.parts[0] == "..":
        raise ValueError(f"checkpoint {model_path} is not under the runs folder {runs_dir}")
    return {"file": relative.as_posix(), "sha256": sha256}


def checkpoint_file(record: Record | Mapping[str, Any], runs_dir: str | Path = "runs") -> Path | None:
    """Where the record's checkpoint is on this machine, or None when the record names none.

    The stored path is relative to the runs folder (``runs_dir``); an absolute path (records
    written by cvgl-bench before relative paths) is returned as it is.
    """
    if isinstance(record, Record):
        named = record.checkpoint.file if record.checkpoint is not None else None
    else:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float range (JSON allows 1e400 written out)
        return False


def _check_text(data: Any, where: str) -> None:
    """Every key and string of a record is encodable text: JSON's escapes allow lone surrogates
    (``"\\ud800"``), which would break the first print or write of the record's names."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise DataError(f"{where}: the text {item[:40]!r} is not valid Unicode (a lone surrogate)") from None


#: Provenance entries that readers open as objects: each is an object or null.
_PROVENANCE_OBJECTS = ("git", "trained_with", "data_info", "device")


# -- files ----------------------------------------------------------------------------------------

def file_part(part: str) -> str:
    """``part`` (a method, profile, split or variant name) as one file-name component: anything
    but ``A-Za-z0-9_.@%+-`` becomes ``_``, and so does a leading dot (``..`` would climb a folder).
    Names follow ``specs.NAME_RULE`` already; this keeps a path in its folder whatever a record
    or a hand-made cell holds."""
    return re.sub(r"[^A-Za-z0-9_.@%+-]|^\.", "_", str(part))


#: The longest file name written as it is. A file name holds at most 255 bytes, and the temporary
#: file an atomic write makes beside it adds 23 characters and the writer's host name (room for
#: 32); longer names keep their start and end in a digest of the whole (:func:`fit_name`).
MAX_FILE_NAME = 200


def fit_name(name: str, limit: int) -> str:
    """``name`` when it has at most ``limit`` characters; else its first characters, ``-`` and 12
    hex digits of its SHA-256, ``limit`` characters in all (one name for one ``name``)."""
    if len(name) <= limit:
        return name
    return f"{name[:limit - 13]}-{hashlib.sha256(name.encode('utf-8', 'replace')).hexdigest()[:12]}"


def record_path(root: str | Path, record: Record, variant: str = "") -> Path:
    """``<root>/<method>/<profile>/<train>__<eval>[__<variant>]__seed<N>.json``; a name that would
    be too long (a variant of many ``--set`` overrides) is shortened by :func:`fit_name`, so that
    its ranks file, the longer name, fits :data:`MAX_FILE_NAME`."""
    cell = record.cell
    stem = f"{file_part(cell.train_split or 'none')}__{file_part(cell.eval_split)}"
    if variant:
        stem += f"__{file_part(variant)}"
    seed = f"__seed{int(cell.seed)}"
    stem = fit_name(stem, MAX_FILE_NAME - len(seed) - len(".ranks.npz")) + seed
    return Path(root) / file_part(cell.method) / file_part(cell.profile) / f"{stem}.json"


def ranks_path(json_path: str | Path) -> Path:
    """The ``.ranks.npz`` file beside a record's JSON file."""
    json_path = Path(json_path)
    return json_path.with_name(json_path.name[: -len(".json")] + ".ranks.npz")


def write(record: Record, path: str | Path, ranks: Mapping[str, np.ndarray] | None = None,
          host: Any = None) -> list[str]:
    """Write the ranks (if any) then the record, each atomically; then call the results sinks of ``host``.

    A new record that cannot be written takes its ranks file with it. Returns warning lines from
    sinks that failed (the record is written regardless).
    """
    path = Path(path)
    rpath, new = ranks_path(path), not path.exists()
    if ranks is not None:
        write_npz(rpath, dict(ranks))
        record.ranks = FileRef(rpath.name, sha256_file(rpath))
    data = record.to_dict()
    try:
        Record.from_dict(data, str(path))
        write_json(path, data)
    except BaseException:
        if ranks is not None and new:
            rpath.unlink(missing_ok=True)
        raise
    return host.record_written(data, path) if host is not None else []


def read(path: str | Path) -> Record:
    """Read and check one record (older schema versions are upgraded)."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except (OSError, ValueError, RecursionError) as exc:
        raise DataError(f"{path}: cannot read record: {exc or type(exc).__name__}".splitlines()[0]) from None
    return Record.from_dict(data, str(path))


def read_ranks(path: str | Path, record: Record | None = None) -> dict[str, np.ndarray]:
    """The per-query rank arrays stored beside a record (checksum verified)."""
    path = Path(path)
    record = record or read(path)
    if record.ranks is None:
        raise DataError(f"{path}: record has no stored ranks")
    rpath = path.with_name(record.ranks.file)
    try:
        if not rpath.exists():
            raise DataError(f"{rpath}: ranks file of {path.name} is missing")
        if sha256_file(rpath) != record.ranks.sha256:
            raise DataError(f"{rpath}: checksum differs from the record; rerun the cell")
        with open_regular(rpath) as handle, np.load(handle, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{rpath}: cannot read the ranks of {path.name}: {exc}".splitlines()[0]) from None


def iter_records(root: str | Path) -> Iterator[tuple[Path, Record]]:
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

    Columns: the cell fields, ``status``, ``n_queries``, ``n_references``, ``n_places`` (the
    unit of the intervals; empty where they resampled queries), ``dataset_fingerprint``,
    ``path``, and per metric ``<name>`` (value, %), ``<name>.lo`` / ``<name>.hi`` (95%
    interval) and ``<name>.convention``.
    """
    import pandas as pd

    rows = []
    for path, record in iter_records(root):
        cell = record.cell
        row: dict[str, Any] = {k: getattr(cell, k) for k in ("method", "method_version", "profile", "seed",
                                                               "train_split", "eval_split", "task", "config_hash",
                                                               "configuration_id", "variant")}
        row.update({"status": record.status, "n_queries": record.n_queries, "n_references": record.n_references,
                    "n_places": record.intervals.places if record.intervals else None, "dataset_fingerprint": record.provenance.get("dataset_fingerprint"), "path": str(path)})
        for name, metric in record.metrics.items():
            row[name] = metric.value
            row[f"{name}.lo"], row[f"{name}.hi"] = (metric.ci95 or [None, None])[:2]
            row[f"{name}.convention"] = metric.convention
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["method", "profile", "seed", "train_split", "eval_split", "task",
                                      "config_hash", "configuration_id", "variant", "status", "path"])
    return frame
