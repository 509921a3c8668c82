"""CVACT: ``ACT_data.mat`` + ``ANU_data_small/`` (train, val) + ``ANU_data_test/`` (test).

``ACT_data.mat`` holds ``panoIds`` (N ids), ``utm`` (N x 2 metres) and the split structs
``trainSet.trainInd``, ``valSet.valInd`` and ``valSetAll.valInd`` (1-based indices into
``panoIds``). Images are ``<dir>/streetview/<id>_grdView.jpg`` and
``<dir>/satview_polish/<id>_satView_polish.jpg``.

Training ids whose images are absent are skipped, as every public implementation does (the
official release lacks one training pair); how many were skipped is kept in ``info`` and reported
by ``cvgl-bench data check``. An evaluation split (val, test) must be complete, as the official
release is: a missing image is an error naming it, since a score over the ids that remain is
neither the official count nor comparable with one.

The test split follows the official OriCNN protocol by default (``cvact_test=utm5m``): the
queries and the gallery are the ``valSetAll`` ids, and every gallery image whose UTM position
is within 5 m (inclusive) of the query's is a positive. ``cvact_test=exact_id`` reproduces
Sample4Geo: the ids present in both ``ANU_data_test`` folders (no .mat), sorted, one positive
each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...fsutil import near_miss
from ..structures import POSITIVE, GroundTruth, ImageSet
from .common import eval_data, train_data

MAT_FILE = "ACT_data.mat"
SMALL_DIR = "ANU_data_small"
TEST_DIR = "ANU_data_test"
GROUND_DIR, GROUND_SUFFIX = "streetview", "_grdView.jpg"
SAT_DIR, SAT_SUFFIX = "satview_polish", "_satView_polish.jpg"
UTM_RADIUS_M = 5.0

#: split struct -> index field (read by name; positionally the second field, as Sample4Geo does)
SPLIT_FIELDS = {"trainSet": "trainInd", "valSet": "valInd", "valSetAll": "valInd"}


@dataclass
class ActMat:
    """The parts of ``ACT_data.mat`` a split reader needs."""

    path: Path
    pano_ids: np.ndarray  # (N,) str
    utm: np.ndarray  # (N, 2) float64

    def __post_init__(self) -> None:
        self._splits: dict[str, np.ndarray] = {}

    def split(self, name: str) -> np.ndarray:
        """0-based row indices of split struct ``name`` (``trainSet``, ``valSet``, ``valSetAll``)."""
        return self._splits[name]


def _load_matfile(path: Path) -> dict:
    import scipy.io

    if not path.is_file():
        raise DataError(f"{path}: not found{near_miss(path)} (CVACT needs ACT_data.mat at the top of its folder)")
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError:  # noqa: scipy.io signals MATLAB v7.3 (HDF5) files this way; not a stub
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it with "
                        "save(..., '-v7')") from None
    except PermissionError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on truncated/garbage input
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable MATLAB .mat file (truncated or corrupt?): {reason}") from None


def _pano_ids(path: Path, value: np.ndarray) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        ids = arr.ravel()
    elif arr.dtype == object:  # a cell array: each cell is a 1-element char array
        ids = np.asarray([str(np.asarray(c).ravel()[0]) if np.asarray(c).size else "" for c in arr.ravel()])
    else:
        raise DataError(f"{path}: 'panoIds' must be text (a char matrix or cell array), not {arr.dtype}")
    ids = np.char.strip(ids.astype(str))
    if len(ids) == 0:
        raise DataError(f"{path}: 'panoIds' is empty")
    if np.any(ids == ""):
        raise DataError(f"{path}: 'panoIds' entry {int(np.argmax(ids == '')) + 1} is empty")
    return ids


def _split_indices(path: Path, mat: dict, name: str, n: int) -> np.ndarray:
    if name not in mat:
        raise DataError(f"{path}: has no variable {name!r} (variables: {', '.join(_variables(mat))})")
    struct = np.asarray(mat[name])
    field = SPLIT_FIELDS[name]
    names = struct.dtype.names
    if names is None or struct.size == 0:
        raise DataError(f"{path}: {name!r} must be a struct with field {field!r}")
    cell = struct.ravel()[0]
    if field in names:
        raw = cell[field]
    elif len(names) >= 2:
        raw = cell[names[1]]
        longer = [other for other in names if np.size(cell[other]) > max(1, np.size(raw))]
        if longer:  # a count in second place: the position Sample4Geo reads is not the index list here
            raise DataError(f"{path}: struct {name!r} has no field {field!r}, and its second field {names[1]!r}, read "
                            f"by position as Sample4Geo does, holds {np.size(raw)} value(s) while {longer[0]!r} holds "
                            f"{np.size(cell[longer[0]])}: name the index field {field!r}")
    else:
        raise DataError(f"{path}: struct {name!r} has no field {field!r} (fields: {', '.join(names)})")
    label = f"{name}.{field if field in names else names[1]}"
    if sum(d > 1 for d in np.shape(raw)) > 1:
        raise DataError(f"{path}: {label} must be an index vector (N x 1), not a {' x '.join(map(str, np.shape(raw)))} "
                        "array")
    values = np.asarray(raw).ravel()
    if values.dtype.kind not in "iuf" or len(values) == 0:
        raise DataError(f"{path}: {label} must be a non-empty numeric index vector")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise DataError(f"{path}: {label} holds non-integer indices")
    idx = values.astype(np.int64)
    bad = np.flatnonzero((idx < 1) | (idx > n))
    if len(bad):
        raise DataError(f"{path}: {label} entry {bad[0] + 1} is {idx[bad[0]]}, outside 1..{n} (1-based into panoIds)")
    idx -= 1
    order = np.argsort(idx, kind="stable")
    dup = np.flatnonzero(np.diff(idx[order]) == 0)
    if len(dup):
        a, b = sorted((order[dup[0]], order[dup[0] + 1]))
        raise DataError(f"{path}: {label} lists panoId {idx[a] + 1} twice (entries {a + 1} and {b + 1})")
    return idx


def _variables(mat: dict) -> list[str]:
    return sorted(k for k in mat if not k.startswith("__"))


def read_act_mat(path: Path, splits: tuple[str, ...] = ("trainSet", "valSet", "valSetAll")) -> ActMat:
    """Read and validate ``ACT_data.mat`` (only the split structs in ``splits`` are required)."""
    path = Path(path)
    mat = _load_matfile(path)
    for key in ("panoIds", "utm"):
        if key not in mat:
            raise DataError(f"{path}: has no variable {key!r} (variables: {', '.join(_variables(mat))}); "
                            "is this CVACT's ACT_data.mat?")
    ids = _pano_ids(path, mat["panoIds"])
    utm = np.asarray(mat["utm"])
    if utm.dtype.kind not in "iuf" or utm.ndim != 2 or utm.shape != (len(ids), 2):
        raise DataError(f"{path}: 'utm' must be a {len(ids)} x 2 numeric array, not {utm.shape} {utm.dtype}")
    utm = utm.astype(np.float64)
    if not np.all(np.isfinite(utm)):
        raise DataError(f"{path}: 'utm' row {int(np.argmin(np.isfinite(utm).all(1))) + 1} is not finite")
    act = ActMat(path, ids, utm)
    for name in splits:
        act._splits[name] = _split_indices(path, mat, name, len(ids))
    return act


def _paths(folder: Path, ids: np.ndarray) -> tuple[list[str], list[str]]:
    base = str(folder)
    ground = [f"{base}/{GROUND_DIR}/{i}{GROUND_SUFFIX}" for i in ids]
    sat = [f"{base}/{SAT_DIR}/{i}{SAT_SUFFIX}" for i in ids]
    return ground, sat


def _present(folder: Path, ids: np.ndarray, verify_files: bool, what: str) -> tuple[np.ndarray, list[str]]:
    """Rows whose ground and satellite images both exist (all rows when not verifying)."""
    if not verify_files:
        return np.arange(len(ids)), []
    for sub in (GROUND_DIR, SAT_DIR):
        if not (folder / sub).is_dir():
            raise DataError(f"{folder / sub}: folder not found (CVACT {what} images live there)")
    ground, sat = _paths(folder, ids)
    isfile = os.path.isfile
    keep = np.fromiter((isfile(g) and isfile(s) for g, s in zip(ground, sat)), dtype=bool, count=len(ids))
    if not keep.any():
        raise DataError(f"{folder}: none of the {len(ids)} {what} ids listed in {MAT_FILE} has both images "
                        f"({GROUND_DIR}/<id>{GROUND_SUFFIX} and {SAT_DIR}/<id>{SAT_SUFFIX})")
    return np.flatnonzero(keep), [str(i) for i in ids[~keep]]


def _image_sets(folder: Path, ids: np.ndarray, utm: np.ndarray | None) -> tuple[ImageSet, ImageSet]:
    ground, sat = _paths(folder, ids)
    return ImageSet("ground", ids, ground, utm=utm), ImageSet("satellite", ids, sat, utm=utm)


def _listed(root: Path, struct: str, folder: str, what: str, verify_files: bool):
    act = read_act_mat(root / MAT_FILE, (struct,))
    rows = act.split(struct)
    ids, utm = act.pano_ids[rows], act.utm[rows]
    keep, missing = _present(root / folder, ids, verify_files, what)
    if missing and what != "train":
        ground, sat = _paths(root / folder, np.asarray(missing[:1]))
        first = ground[0] if not os.path.isfile(ground[0]) else sat[0]
        raise DataError(f"{first}: missing{near_miss(first)}, and {len(missing) - 1} more of the {len(ids)} CVACT {what} pairs listed in "
                        f"{MAT_FILE} {struct}.{SPLIT_FIELDS[struct]} lack an image; an evaluation split must be "
                        f"complete: restore them ('cvgl-bench data check cvact' lists them)")
    info = {"split_file": f"{act.path} {struct}.{SPLIT_FIELDS[struct]}", "layout": "cvact",
            "listed": int(len(rows)), "skipped_missing": len(missing), "missing_ids": missing[:20]}
    return ids[keep], utm[keep], info


def load_train(root: Path, protocol: Mapping[str, str] | None = None, *, verify_files: bool = True):
    """``cvact_train``: ``trainSet.trainInd`` over ``ANU_data_small``; one pair per location."""
    root = Path(root)
    ids, utm, info = _listed(root, "trainSet", SMALL_DIR, "train", verify_files)
    ground, satellite = _image_sets(root / SMALL_DIR, ids, utm)
    pairs = np.stack([np.arange(len(ids)), np.arange(len(ids))], axis=1)
    return train_data("cvact_train", ground, satellite, pairs, info)


def load_val(root: Path, protocol: Mapping[str, str] | None = None, *, verify_files: bool = True):
    """``cvact_val``: ``valSet.valInd`` over ``ANU_data_small``, one positive (same id) each."""
    root = Path(root)
    ids, utm, info = _listed(root, "valSet", SMALL_DIR, "val", verify_files)
    ground, satellite = _image_sets(root / SMALL_DIR, ids, utm)
    truth = GroundTruth.one_to_one(np.arange(len(ids)), len(ids))
    return eval_data("cvact_val", ground, satellite, truth, protocol, info)


def utm_truth(query_utm: np.ndarray, reference_utm: np.ndarray, radius: float = UTM_RADIUS_M) -> GroundTruth:
    """Every reference within ``radius`` metres (inclusive) of the query is a positive."""
    from scipy.spatial import cKDTree

    tree = cKDTree(reference_utm)
    hits = tree.query_ball_point(query_utm, r=radius, return_sorted=True)
    counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    indptr = np.concatenate([[0], np.cumsum(counts)])
    refs = np.fromiter((r for h in hits for r in h), dtype=np.int64, count=int(indptr[-1]))
    return GroundTruth(indptr, refs, np.full(len(refs), POSITIVE, dtype=np.int8), len(reference_utm))


def _glob_ids(folder: Path, sub: str, suffix: str) -> set[str]:
    path = folder / sub
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        raise DataError(f"{path}: folder not found (the CVACT test images live there)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot list: {exc.strerror or exc}") from None
    return {n[: -len(suffix)] for n in names if n.endswith(suffix)}


def _utm_if_available(path: Path, ids: np.ndarray) -> tuple[np.ndarray | None, str]:
    """UTM of ``ids`` from the .mat when it is there and lists them all (exact_id needs no .mat)."""
    if not path.is_file():
        return None, f"unavailable: {path.name} not found"
    try:
        act = read_act_mat(path, splits=())
    except DataError as exc:
        return None, f"unavailable: {exc}"
    row_of = {pid: row for row, pid in enumerate(act.pano_ids.tolist())}
    rows = [row_of.get(pid) for pid in ids.tolist()]
    if any(r is None for r in rows):
        return None, f"unavailable: {sum(r is None for r in rows)} ids are not in {path.name}"
    return act.utm[np.asarray(rows, dtype=np.int64)], f"from {path.name}"


def load_test(root: Path, protocol: Mapping[str, str] | None = None, *, verify_files: bool = True):
    """``cvact_test``: 92,802 queries on the real data under either protocol."""
    root = Path(root)
    mode = (protocol or {}).get("cvact_test", "utm5m")
    folder = root / TEST_DIR
    if mode == "exact_id":
        ground_ids = _glob_ids(folder, GROUND_DIR, GROUND_SUFFIX)
        sat_ids = _glob_ids(folder, SAT_DIR, SAT_SUFFIX)
        ids = np.asarray(sorted(ground_ids & sat_ids), dtype=str)
        if len(ids) == 0:
            raise DataError(f"{folder}: no id has both {GROUND_DIR}/<id>{GROUND_SUFFIX} and "
                            f"{SAT_DIR}/<id>{SAT_SUFFIX}; the split is empty")
        info = {"split_file": str(folder), "layout": "cvact", "listed": int(len(ids)),
                "ground_only": len(ground_ids - sat_ids), "satellite_only": len(sat_ids - ground_ids)}
        utm, info["utm"] = _utm_if_available(root / MAT_FILE, ids)
        ground, satellite = _image_sets(folder, ids, utm)
        truth = GroundTruth.one_to_one(np.arange(len(ids)), len(ids))
    elif mode == "utm5m":
        ids, utm, info = _listed(root, "valSetAll", TEST_DIR, "test", verify_files)
        ground, satellite = _image_sets(folder, ids, utm)
        truth = utm_truth(utm, utm)
        n_pos = truth.n_positives()
        info.update(radius_m=UTM_RADIUS_M, queries_with_several_positives=int((n_pos > 1).sum()),
                    max_positives=int(n_pos.max()))
    else:
        raise DataError(f"cvact_test protocol must be 'utm5m' or 'exact_id', not {mode!r}")
    return eval_data("cvact_test", ground, satellite, truth, protocol, info)
