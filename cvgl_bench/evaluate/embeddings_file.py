"""Precomputed embeddings in a ``.npz`` file, checked and put in a split's order.

The file holds four arrays: ``query`` (Nq x D) and ``reference`` (Nr x D) floating-point
embeddings, and ``query_ids`` / ``reference_ids``, strings naming each row with the split's own
ids (CVUSA's 7-digit ids, CVACT panoIds, VIGOR file names, University-1652 image paths relative
to the split folder). Rows may come in any order. Every problem is one line naming the file and
what to fix (:class:`~cvgl_bench.errors.DataError`).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.structures import EvalData, ImageSet
from .. import envvars
from ..errors import DataError
from ..fsutil import not_a_file, size_text

ARRAYS = ("query", "reference", "query_ids", "reference_ids")
_BLOCK = 8192


@dataclass
class EmbeddingFile:
    """The validated content of an embeddings file (embeddings as float32, ids as str)."""

    path: Path
    query: np.ndarray
    reference: np.ndarray
    query_ids: np.ndarray
    reference_ids: np.ndarray


def read_embeddings(path: str | Path) -> EmbeddingFile:
    """Load and check an embeddings file; raises one-line :class:`DataError` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"embeddings file {path} {not_a_file(path)}; "
                        "pass the .npz file")
    _check_declared_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise DataError(f"{path}: no array {missing[0]!r}; an embeddings file needs {', '.join(ARRAYS)}")
            arrays = {name: _read_array(npz, name, path) for name in ARRAYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path} is not a readable .npz file ({first}); save it with numpy.savez") from None
    query = _embeddings(arrays["query"], "query", path)
    reference = _embeddings(arrays["reference"], "reference", path)
    if query.shape[1] != reference.shape[1]:
        raise DataError(f"{path}: query embeddings have D = {query.shape[1]} but reference embeddings have "
                        f"D = {reference.shape[1]}")
    query_ids = _ids(arrays["query_ids"], "query_ids", len(query), "query", path)
    reference_ids = _ids(arrays["reference_ids"], "reference_ids", len(reference), "reference", path)
    return EmbeddingFile(path, query, reference, query_ids, reference_ids)


MAX_BYTES_ENV = "CVGL_BENCH_MAX_EMBEDDING_BYTES"
MAX_BYTES_LIMIT = 1e18
_MAX_RATIO = 50.0
"""Uncompressed over compressed size above which a large member is refused: float embeddings
hardly compress (about 1.1x), a zip bomb compresses thousands of times."""
_RATIO_FROM_BYTES = 64 << 20


def max_embedding_bytes() -> int:
    """Largest uncompressed embeddings file read: ``CVGL_BENCH_MAX_EMBEDDING_BYTES``, else half the RAM."""
    value = envvars.number(MAX_BYTES_ENV, math.nan, 1, MAX_BYTES_LIMIT, "a number of bytes")
    if not math.isnan(value):
        return int(value)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _check_declared_sizes(path: Path) -> None:
    """Refuse, before decompressing anything, a file that is not a zip of .npy arrays, an array
    whose header declares more bytes than its member holds, and sizes beyond memory or
    compression ratios no embeddings have."""
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        raise DataError(f"{path} is a single .npy array, not an .npz; save the four arrays "
                        f"({', '.join(ARRAYS)}) with numpy.savez")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a readable .npz file (not a zip archive); save it with numpy.savez")
    limit = max_embedding_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(info.file_size for info in members)
            if total > limit:
                raise DataError(f"{path} declares {size_text(total)} uncompressed, more than the "
                                f"{size_text(limit)} allowed ({MAX_BYTES_ENV})")
            for info in members:
                if info.file_size > _RATIO_FROM_BYTES and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
                    raise DataError(f"{path}: {info.filename} expands {info.compress_size} bytes to "
                                    f"{size_text(info.file_size)}; embeddings do not compress like that, "
                                    f"so it is refused unread")
                if info.filename.endswith(".npy"):
                    with archive.open(info) as member:
                        _check_npy_header(member, info, path)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path} is not a readable .npz file ({first}); save it with numpy.savez") from None


def _check_npy_header(member, info: zipfile.ZipInfo, path: Path) -> None:
    from numpy.lib import format as npy_format

    version = npy_format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(member)
    else:
        shape, _, dtype = npy_format.read_array_header_2_0(member)
    if dtype.hasobject:
        return  # refused when read, with its own message
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > info.file_size:
        raise DataError(f"{path}: {info.filename[:-4]!r} declares shape {tuple(shape)} of {dtype} "
                        f"({size_text(declared)}) but holds {size_text(info.file_size)}; the file is damaged")


def align(emb: EmbeddingFile, data: EvalData) -> tuple[np.ndarray, np.ndarray]:
    """Query and reference embeddings in the split's row order (every id exactly once).

    Arrays already in that order are returned as they are (no copy).
    """
    return (_reordered(emb.query, _order(emb.query_ids, data.queries, "query", emb.path, data.split)),
            _reordered(emb.reference, _order(emb.reference_ids, data.references, "reference", emb.path, data.split)))


def _reordered(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    return x if np.array_equal(order, np.arange(len(order))) else x[order]


def _read_array(npz: np.lib.npyio.NpzFile, name: str, path: Path) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: {name!r} is stored as Python objects; save it as a numeric or string "
                            f"array (e.g. np.asarray(ids, dtype=str))") from None
        raise


def _embeddings(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{path}: {name!r} has dtype {x.dtype}; embeddings must be floating point (float32)")
    if x.ndim != 2:
        raise DataError(f"{path}: {name!r} must be 2-D (rows x D), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{path}: {name!r} is empty (shape {x.shape})")
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf, refused below
        x = np.ascontiguousarray(x, dtype=np.float32)
    for start in range(0, len(x), _BLOCK):
        finite = np.isfinite(x[start:start + _BLOCK]).all(axis=1)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            raise DataError(f"{path}: {name!r} contains NaN or inf (first in row {row}) "
                            f"or a value beyond float32 range")
    return x


def _ids(x: np.ndarray, name: str, rows: int, of: str, path: Path) -> np.ndarray:
    if x.dtype.kind == "S":
        try:
            x = np.asarray([value.decode("utf-8") for value in x.reshape(-1).tolist()], dtype=str).reshape(x.shape)
        except UnicodeDecodeError:
            raise DataError(f"{path}: {name!r} holds bytes that are not UTF-8 text") from None
    if x.dtype.kind != "U":
        raise DataError(f"{path}: {name!r} has dtype {x.dtype}; ids must be strings, the split's own ids "
                        f"(e.g. np.asarray(ids, dtype=str))")
    if x.ndim != 1:
        raise DataError(f"{path}: {name!r} must be 1-D, got shape {x.shape}")
    if len(x) != rows:
        raise DataError(f"{path}: {name!r} has {len(x)} ids but {of!r} has {rows} rows")
    unique, counts = np.unique(x, return_counts=True)
    if len(unique) != len(x):
        raise DataError(f"{path}: duplicate {of} id {str(unique[counts > 1][0])!r} in {name!r}")
    return x


def _order(ids: np.ndarray, images: ImageSet, of: str, path: Path, split: str) -> np.ndarray:
    """Row of the file for each image of the split, in the split's order."""
    row_of = {value: row for row, value in enumerate(ids.tolist())}
    split_ids = [str(i) for i in images.ids.tolist()]
    missing = [i for i in split_ids if i not in row_of]
    if missing:
        known = set(split_ids)
        unknown = [i for i in ids.tolist() if i not in known]
        strays = f"; the file's {of} id {unknown[0]!r} is not one of the split's" if unknown else ""
        raise DataError(f"{path}: {len(missing)} of the {len(split_ids)} {of} ids of {split} are missing "
                        f"(first: {missing[0]!r}){strays}")
    if len(ids) != len(split_ids):
        known = set(split_ids)
        unknown = [i for i in ids.tolist() if i not in known]
        raise DataError(f"{path}: {of} id {unknown[0]!r} is not in {split} ({len(unknown)} unknown ids)")
    return np.fromiter((row_of[i] for i in split_ids), dtype=np.int64, count=len(split_ids))
