"""``cvgl-bench data check``: validate a dataset folder against the official split sizes.

Every split of the dataset is loaded with its default protocol, and once more for each other
value of each option that may change what it reads (:func:`listing_options`); the counts are
compared with the split's ``expected_counts``, and every image file is checked: present,
non-empty, and a JPEG or PNG, or another format Pillow reads (``decode=True`` decodes each one
fully, as the runs do, which is slow).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, PluginError, UserError
from ..fsutil import open_regular
from .images import as_rgb
from .splits import listing_options, load_split
from .structures import EvalData, fingerprint_of

#: The status of a protocol value whose files this folder does not hold (VIGOR's corrected
#: labels in a release without them): reported, not a failure.
UNAVAILABLE = "unavailable: "
#: Files known to be absent from an official release (split -> count), reported but tolerated.
KNOWN_MISSING_PAIRS = {"cvact_train": 1}
EXAMPLES = 5

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def file_problem(path: str, decode: bool = False) -> str | None:
    """None when ``path`` looks like a readable image, else what is wrong ("missing", ...)."""
    try:
        with open_regular(path) as handle:
            head = handle.read(8)
    except FileNotFoundError:
        return "missing"
    except IsADirectoryError:
        return "a directory, not an image"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not head:
        return "empty file"
    if head.startswith(_SIGNATURES) and not decode:
        return None
    from PIL import Image, UnidentifiedImageError

    try:  # another format is read as the runs read it: by Pillow (TIFF, BMP, WebP...)
        with open_regular(path) as handle, Image.open(handle) as image:
            if decode:
                as_rgb(image)
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except Exception as exc:  # noqa: BLE001
        return f"cannot decode: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _counts(data: Any) -> dict[str, int]:
    counts = {"queries": len(data.queries), "references": len(data.references)}
    if not isinstance(data, EvalData):
        counts["pairs"] = len(data.pairs)
    return counts


def _scan(paths: Iterable[str], decode: bool, seen: dict[str, str | None]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {"missing": [], "unreadable": []}
    for path in paths:
        if path not in seen:
            seen[path] = file_problem(path, decode)
        problem = seen[path]
        if problem is not None:
            problems["missing" if problem == "missing" else "unreadable"].append(f"{path} ({problem})"
                                                                                   if problem != "missing" else path)
    return problems


def _pairs_missing(data: Any, missing: set[str]) -> int:
    """Training pairs with a missing image (a tolerated pair may lack one file or both); for an
    evaluation split, every query and reference with a missing image."""
    if isinstance(data, EvalData):
        return sum(str(p) in missing for p in (*data.queries.paths, *data.references.paths))
    query_paths, reference_paths = np.asarray(data.queries.paths, dtype=str), np.asarray(data.references.paths, dtype=str)
    gone_q = np.fromiter((p in missing for p in query_paths), dtype=bool, count=len(query_paths))
    gone_r = np.fromiter((p in missing for p in reference_paths), dtype=bool, count=len(reference_paths))
    pairs = np.asarray(data.pairs)
    return int((gone_q[pairs[:, 0]] | gone_r[pairs[:, 1]]).sum())


def check_dataset(name: str, root: str | os.PathLike, *, decode: bool = False, host: Any = None) -> dict[str, Any]:
    """Check every split of dataset ``name`` in ``root`` (the dataset's own folder).

    Returns ``{"dataset", "root", "ok", "splits": [...]}``; each split entry has ``counts``,
    ``expected``, ``missing``/``unreadable`` (numbers and a few examples), ``status`` and,
    when the split could not be loaded, ``error`` (the one-line reason).
    """
    if host is None:
        raise TypeError("check_dataset needs the plugin host (host=...)")
    dataset = host.datasets.get(name)
    root = Path(root)
    if not root.is_dir() and not dataset.synthetic:  # a synthetic split finds (or makes) its own folder
        raise DataError(f"{root}: dataset folder does not exist")
    seen: dict[str, str | None] = {}
    entries = []
    for split in host.splits:
        if split.dataset != dataset.name:
            continue
        default = _check_split(split, root, {}, decode, seen, host)
        entries.append(default)
        for key in listing_options(split.protocol_options, host):
            for value in split.protocol_options[key][1:]:
                entry = _check_split(split, root, {key: value}, decode, seen, host)
                if entry["status"] == "error":  # a value this folder cannot serve: shown, not a failure
                    entry["status"] = UNAVAILABLE + entry.pop("error")
                elif entry.get("_listing") == default.get("_listing"):
                    continue  # the same images and ground truth as the default (ground_fov)
                entries.append(entry)
    _check_overlap(entries)
    generated = next((e.pop("_generated_root") for e in entries if e.get("_generated_root")), None)
    for entry in entries:
        entry.pop("_generated_root", None)
        entry.pop("_listing", None)
    report = {"dataset": dataset.name, "root": generated or str(root),
              "ok": all(e["status"] == "ok" or e["status"].startswith(UNAVAILABLE) for e in entries), "splits": entries}
    if dataset.loader is not None:
        report["dataset_check"] = _dataset_check(dataset, Path(report["root"]), host)
        report["ok"] = report["ok"] and not report["dataset_check"].get("problems")
    return report


def _dataset_check(dataset: Any, root: Path, host: Any) -> dict[str, Any]:
    """What the dataset plugin's own ``check(root)`` says of the folder: a dict of plain JSON,
    whose optional ``problems`` (a list of lines) fail the check."""
    origin = host.datasets.origin(dataset.name).origin
    try:
        found = dataset.load()(root)
    except Exception as exc:
        if isinstance(exc, UserError):
            raise
        raise PluginError(f"dataset {dataset.name!r} of {origin}: its check(root) failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    try:
        found = json.loads(json.dumps(found, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise PluginError(f"dataset {dataset.name!r} of {origin}: its check(root) returned what JSON cannot "
                          f"hold ({exc})") from None
    problems = found.get("problems", []) if isinstance(found, dict) else None
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise PluginError(f"dataset {dataset.name!r} of {origin}: its check(root) must return a dict whose "
                          f"optional 'problems' is a list of lines, not {type(found).__name__} {str(found)[:80]}")
    return found


def _check_overlap(entries: list[dict[str, Any]]) -> None:
    """An evaluation split whose query images are also training queries of its in-domain training
    split (the same file) is a leak; its entry says how many."""
    train = {e["split"]: e.pop("_query_paths") for e in entries if e.get("role") == "train" and "_query_paths" in e}
    for entry in entries:
        paths = entry.pop("_query_paths", None)
        shared = len(paths & train[entry["_train_split"]]) if paths and entry.get("_train_split") in train else 0
        entry.pop("_train_split", None)
        if shared:
            entry["leaked_queries"] = shared
            entry["status"] = "; ".join(s for s in (entry["status"] if entry["status"] != "ok" else "",
                                                    f"{shared} query images are also training images") if s)


def _check_split(split: Any, root: Path, override: dict[str, str], decode: bool, seen: dict,
                 host: Any) -> dict[str, Any]:
    label = split.name + "".join(f" [{k}={v}]" for k, v in override.items())
    entry: dict[str, Any] = {"split": label, "role": split.role, "expected": dict(split.expected_counts)}
    try:
        data = load_split(split, protocol=override, host=host, root=root, verify_files=False, allow_empty=True)
    except UserError as exc:
        entry.update(status="error", error=str(exc), counts={})
        return entry
    counts = _counts(data)
    entry["counts"] = counts
    entry["_query_paths"] = {os.path.normpath(str(p)) for p in data.queries.paths}
    entry["_train_split"] = split.train_split
    info = {k: v for k, v in data.info.items() if isinstance(v, (int, float, str, bool))}
    entry["info"] = info
    synthetic = data.info.get("synthetic")
    if isinstance(synthetic, dict) and synthetic.get("root"):
        entry["_generated_root"] = str(synthetic["root"])  # where the synthetic split really is
    paths = list(data.queries.paths) + list(data.references.paths)
    entry["_listing"] = fingerprint_of("\n".join(str(p) for p in paths), data.queries.ids, data.references.ids,
                                       data.truth if isinstance(data, EvalData) else data.pairs)
    problems = _scan(paths, decode, seen)
    entry["missing"] = len(problems["missing"])
    entry["missing_examples"] = problems["missing"][:EXAMPLES]
    entry["unreadable"] = len(problems["unreadable"])
    entry["unreadable_examples"] = problems["unreadable"][:EXAMPLES]
    differ = [k for k, v in split.expected_counts.items() if counts.get(k) != v]
    status = []
    if differ:
        status.append("counts differ from the official " + ", ".join(f"{k} {split.expected_counts[k]}" for k in differ))
    broken = _pairs_missing(data, set(problems["missing"])) if entry["missing"] else 0
    if entry["missing"] and broken > KNOWN_MISSING_PAIRS.get(split.name, 0):
        status.append(f"{entry['missing']} files missing")
    elif entry["missing"]:
        entry["note"] = (f"{entry['missing']} files of {broken} pair(s) missing, as in the official release "
                         "(skipped by every reader)")
    if entry["unreadable"]:
        status.append(f"{entry['unreadable']} files unreadable")
    if data.info.get("files_left_out"):
        examples = ", ".join(data.info.get("files_left_out_examples", []))
        entry["note"] = "; ".join(n for n in (entry.get("note"), f"{data.info['files_left_out']} files are not images "
                                              f"the split reads, left out (e.g. {examples})") if n)
    entry["status"] = "; ".join(status) or "ok"
    return entry
