"""University-1652: one folder per building (4-digit id) per platform.

Layout (the release unpacks as ``University-1652/`` or ``University-Release/``)::

    train/drone/<bid>/image-NN.jpeg   train/satellite/<bid>/<bid>.jpg
    test/query_drone/<bid>/...        test/gallery_satellite/<bid>/<bid>.jpg   (drone -> satellite)
    test/query_satellite/<bid>/...    test/gallery_drone/<bid>/image-NN.jpeg   (satellite -> drone)

The class of an image is ``int(<bid>)``. The test galleries hold 250 buildings that no query
shows. The official evaluation keeps them as negatives (``distractors=kept``); Sample4Geo
labels them -1 and drops them from every ranking (``distractors=removed``, here: JUNK for every
query). The published name lists (``./data/test/...`` paths) parse through
:func:`read_name_list` into the same relative paths the folder walk yields.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..structures import JUNK, POSITIVE, GroundTruth, ImageSet
from .common import eval_data, strip_dot_slash, train_data
from .text import check_unique, read_lines, require_entries

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
#: split -> (query folder, gallery folder, query view, gallery view)
TEST_SPLITS = {
    "u1652_d2s": ("test/query_drone", "test/gallery_satellite", "drone", "satellite"),
    "u1652_s2d": ("test/query_satellite", "test/gallery_drone", "satellite", "drone"),
}
TRAIN_FOLDERS = ("train/drone", "train/satellite")


def release_root(root: Path) -> Path:
    """The folder holding ``train/`` and ``test/`` (accepts a nested ``University-Release/``)."""
    root = Path(root)
    if not (root / "train").is_dir() and not (root / "test").is_dir():
        for nested in ("University-Release", "University-1652"):
            if (root / nested).is_dir():
                return root / nested
    return root


#: Files a copy made on macOS or Windows adds, which are left out without a count.
_SYSTEM_FILES = ("thumbs.db", "desktop.ini")


def list_folder(root: Path, folder: str, left_out: list[str] | None = None) -> list[str]:
    """``<folder>/<bid>/<file>`` of every image under ``root/folder``, sorted; what else a
    building folder holds (a ``.webp``, a sub-folder) is appended to ``left_out``, for the
    split's ``info`` and ``data check``."""
    path = root / folder
    if not path.is_dir():
        what = "dataset folder does not exist" if not root.is_dir() else "folder not found"
        raise DataError(f"{path if root.is_dir() else root}: {what} (University-1652 keeps {folder}/<building>/ there)")
    out = []
    buildings = _scan(path, lambda e: e.is_dir() and not e.name.startswith("."))
    seen: dict[int, str] = {}
    for bid in buildings:
        if not bid.isdigit():
            raise DataError(f"{path / bid}: building folder names must be numbers (University-1652 uses 4-digit ids)")
        if int(bid) in seen:
            raise DataError(f"{path}: building folders {seen[int(bid)]} and {bid} are the same building id; keep one")
        seen[int(bid)] = bid
        names = _scan(path / bid, lambda e: not e.name.startswith(".") and e.name.lower() not in _SYSTEM_FILES)
        images = set(_scan(path / bid, lambda e: e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file()))
        out += [f"{folder}/{bid}/{n}" for n in names if n in images]
        if left_out is not None:
            left_out += [f"{folder}/{bid}/{n}" for n in names if n not in images]
    if not out:
        raise DataError(f"{path}: no images (expected {folder}/<building>/*.jpg|.jpeg|.png); the split is empty")
    return out


def _scan(path: Path, keep: Callable[[os.DirEntry], bool]) -> list[str]:
    """The sorted names of the entries of ``path`` that ``keep`` accepts; an unreadable folder or a
    link loop is one :class:`DataError` line naming it."""
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if keep(e))
    except OSError as exc:
        raise DataError(f"{exc.filename or path}: cannot be read ({exc.strerror or exc}); check its permissions "
                        "and symbolic links") from None


def read_name_list(path: Path) -> list[str]:
    """A published name list (``./data/test/query_drone/0001/image-01.jpeg`` per line) as paths
    relative to the release root (``test/query_drone/0001/image-01.jpeg``)."""
    lines = read_lines(path)
    require_entries(path, lines, "image names")
    out, numbers = [], []
    for number, line in lines:
        rel = strip_dot_slash(line)
        if rel.startswith("data/"):
            rel = rel[len("data/"):]
        parts = rel.split("/")
        if len(parts) != 4 or parts[0] not in ("train", "test") or not parts[2].isdigit() \
                or not parts[3].lower().endswith(IMAGE_EXTENSIONS):
            raise DataError(f"{path} line {number}: expected '[./data/]<train|test>/<view>/<building>/<image>', "
                            f"got {line.strip()!r}")
        out.append(rel)
        numbers.append(number)
    check_unique(path, out, numbers, "image")
    return out


def image_set(root: Path, relpaths: Sequence[str], view: str) -> ImageSet:
    """Image set of release-root-relative paths; id ``<bid>/<file>``, label ``int(bid)``."""
    base = str(root)
    ids = [p.split("/", 2)[2] for p in relpaths]
    labels = [int(p.split("/")[2]) for p in relpaths]
    return ImageSet(view, ids, [f"{base}/{p}" for p in relpaths], labels=np.asarray(labels, dtype=np.int64))


def u1652_truth(query_labels: np.ndarray, gallery_labels: np.ndarray, distractors: str) -> tuple[GroundTruth, dict]:
    """Positives = gallery images of the query's building; ``removed`` adds every gallery image
    of a building that no query shows as JUNK to every query."""
    if distractors not in ("kept", "removed"):
        raise DataError(f"University-1652 distractors must be 'kept' or 'removed', not {distractors!r}")
    order = np.argsort(gallery_labels, kind="stable")
    sorted_labels = gallery_labels[order]
    distractor_rows = np.flatnonzero(~np.isin(gallery_labels, np.unique(query_labels)))
    junk = distractor_rows if distractors == "removed" else np.empty(0, dtype=np.int64)
    lo = np.searchsorted(sorted_labels, query_labels, side="left")
    hi = np.searchsorted(sorted_labels, query_labels, side="right")
    n_pos = hi - lo
    indptr = np.concatenate([[0], np.cumsum(n_pos + len(junk))])
    refs = np.empty(int(indptr[-1]), dtype=np.int64)
    roles = np.empty(int(indptr[-1]), dtype=np.int8)
    for q in range(len(query_labels)):
        start, mid = indptr[q], indptr[q] + n_pos[q]
        refs[start:mid] = order[lo[q]:hi[q]]
        roles[start:mid] = POSITIVE
        refs[mid:indptr[q + 1]] = junk
        roles[mid:indptr[q + 1]] = JUNK
    info = {"distractor_buildings": int(len(np.unique(gallery_labels[distractor_rows]))),
            "distractor_images": int(len(distractor_rows)),
            "queries_without_positive": int((n_pos == 0).sum())}
    return GroundTruth(indptr, refs, roles, len(gallery_labels)), info


def build_eval(name: str, root: Path, query_paths: Sequence[str], gallery_paths: Sequence[str],
               protocol: Mapping[str, str] | None, left_out: Sequence[str] = ()):
    """EvalData of a test split from release-root-relative paths (folder walk or name lists)."""
    _, _, query_view, gallery_view = TEST_SPLITS[name]
    queries = image_set(root, query_paths, query_view)
    gallery = image_set(root, gallery_paths, gallery_view)
    distractors = (protocol or {}).get("distractors", "kept")
    truth, info = u1652_truth(queries.labels, gallery.labels, distractors)
    if info["queries_without_positive"]:
        lacking = sorted(set(queries.labels.tolist()) - set(gallery.labels.tolist()))
        query_folder, gallery_folder = TEST_SPLITS[name][:2]
        raise DataError(f"{root / gallery_folder}/{lacking[0]:04d}: no image, but {query_folder}/{lacking[0]:04d} has "
                        f"queries ({len(lacking)} query buildings have no gallery image); the official test set "
                        f"has one for every query: restore the folder")
    info.update(split_file=f"{root}/{TEST_SPLITS[name][0]}", layout="university1652", distractors=distractors,
                **_left_out_info(left_out))
    return eval_data(name, queries, gallery, truth, protocol, info)


def _load_test(name: str, root: Path, protocol, verify_files: bool):
    root = release_root(root)
    query_folder, gallery_folder = TEST_SPLITS[name][:2]
    left_out: list[str] = []
    return build_eval(name, root, list_folder(root, query_folder, left_out), list_folder(root, gallery_folder, left_out),
                      protocol, left_out)


def _left_out_info(left_out: Sequence[str]) -> dict:
    """``files_left_out`` (a count) and its first examples, when the folder walk left any out."""
    return {"files_left_out": len(left_out), "files_left_out_examples": list(left_out[:5])} if left_out else {}


def load_d2s(root, protocol=None, *, verify_files: bool = True):
    """``u1652_d2s``: drone queries (test/query_drone) against the satellite gallery."""
    return _load_test("u1652_d2s", root, protocol, verify_files)


def load_s2d(root, protocol=None, *, verify_files: bool = True):
    """``u1652_s2d``: satellite queries (test/query_satellite) against the drone gallery."""
    return _load_test("u1652_s2d", root, protocol, verify_files)


def load_train(root, protocol=None, *, verify_files: bool = True):
    """``u1652_train``: every training drone image paired with its building's satellite image."""
    root = release_root(root)
    left_out: list[str] = []
    drones = image_set(root, list_folder(root, TRAIN_FOLDERS[0], left_out), "drone")
    sats = image_set(root, list_folder(root, TRAIN_FOLDERS[1], left_out), "satellite")
    first_of: dict[int, int] = {}
    for row, label in enumerate(sats.labels.tolist()):
        first_of.setdefault(label, row)
    lacking = sorted(set(drones.labels.tolist()) - set(first_of))
    if lacking:
        raise DataError(f"{root / TRAIN_FOLDERS[1]}/{lacking[0]:04d}: missing; train/drone/{lacking[0]:04d} has "
                        f"images but its building has no satellite image ({len(lacking)} buildings lack one)")
    pairs = np.stack([np.arange(len(drones)), [first_of[int(l)] for l in drones.labels]], axis=1)
    info = {"split_file": f"{root}/train", "layout": "university1652",
            "buildings": len(first_of), "extra_satellite_images": len(sats) - len(first_of),
            "satellites_without_drone": len(set(first_of) - set(drones.labels.tolist())), **_left_out_info(left_out)}
    return train_data("u1652_train", drones, sats, pairs, info)
