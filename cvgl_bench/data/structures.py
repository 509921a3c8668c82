"""What a split reader returns: image sets, training pairs, and evaluation ground truth.

These are the nouns every dataset plugin produces and every method, trainer and metric
consumes, so that real and synthetic data go through exactly the same code.

Ground truth is stored per query as a compressed sparse row (CSR) list of *labelled*
references, each with a role: the positive(s), VIGOR's semi-positives, and University-1652's
junk (distractors removed under the Sample4Geo protocol). Every other reference is a negative.
"""

from __future__ import annotations

__all__ = ["EvalData", "GroundTruth", "ImageSet", "TrainData", "fingerprint_of"]
"""What a dataset plugin returns and a method plugin receives (tests/test_toolkit_api.py)."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

POSITIVE = 1
"""The reference(s) that count as a correct match."""
SEMI_POSITIVE = 2
"""Neighbouring tiles that also contain the location (VIGOR); negatives for R@K, masked for hit rate."""
JUNK = 3
"""References removed from this query's ranking (Market-1501 / Sample4Geo University-1652 junk)."""
ROLE_NAMES = {POSITIVE: "positive", SEMI_POSITIVE: "semi_positive", JUNK: "junk"}


@dataclass(frozen=True, eq=False)
class ImageSet:
    """An ordered set of images of one view: the query side or the reference side of a split.

    ``ids`` are the dataset's own identifiers (CVUSA 7-digit ids, CVACT panoIds, VIGOR file
    names, University-1652 paths relative to the split folder); ``paths`` are absolute.
    """

    view: str
    ids: np.ndarray
    paths: np.ndarray
    latlon: np.ndarray | None = None
    """(N, 2) latitude, longitude in degrees, where the dataset has them."""
    utm: np.ndarray | None = None
    """(N, 2) easting, northing in metres (CVACT)."""
    labels: np.ndarray | None = None
    """(N,) integer class per image where the dataset defines classes (University-1652 building)."""

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids).astype(str)
        paths = np.asarray([str(p) for p in self.paths], dtype=object)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "paths", paths)
        if len(ids) != len(paths):
            raise ValueError(f"{len(ids)} ids but {len(paths)} paths")
        _check_utf8(paths)
        for name in ("latlon", "utm"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != (len(ids), 2):
                    raise ValueError(f"{name} must have shape ({len(ids)}, 2), not {value.shape}")
                object.__setattr__(self, name, value)
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=np.int64)
            if labels.shape != (len(ids),):
                raise ValueError(f"labels must have shape ({len(ids)},), not {labels.shape}")
            object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self) -> dict[str, int]:
        """Map from id to position; duplicate ids are a data error."""
        index = {str(i): n for n, i in enumerate(self.ids)}
        if len(index) != len(self.ids):
            dup = str(_first_duplicate(self.ids))
            raise DataError(f"duplicate {self.view} image id {dup!r}")
        return index

    def subset(self, rows: Sequence[int] | np.ndarray) -> ImageSet:
        """The images at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        pick = (lambda a: None if a is None else a[rows])
        return ImageSet(self.view, self.ids[rows], self.paths[rows], pick(self.latlon), pick(self.utm),
                        pick(self.labels))


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Per query, the labelled references and their roles (CSR layout).

    Query ``q`` owns entries ``indptr[q]:indptr[q+1]`` of ``ref_index`` and ``role``.
    """

    indptr: np.ndarray
    ref_index: np.ndarray
    role: np.ndarray
    n_references: int

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr, dtype=np.int64)
        ref_index = np.asarray(self.ref_index, dtype=np.int64)
        role = np.asarray(self.role, dtype=np.int8)
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "ref_index", ref_index)
        object.__setattr__(self, "role", role)
        if indptr.ndim != 1 or len(indptr) < 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must start at 0 and never decrease")
        if indptr[-1] != len(ref_index) or len(role) != len(ref_index):
            raise ValueError("indptr, ref_index and role disagree in length")
        if len(ref_index) and (ref_index.min() < 0 or ref_index.max() >= self.n_references):
            raise ValueError("ref_index out of range")
        if len(role) and not np.isin(role, list(ROLE_NAMES)).all():
            raise ValueError("unknown role value")

    @property
    def n_queries(self) -> int:
        return len(self.indptr) - 1

    def same_as(self, other: GroundTruth) -> bool:
        """Whether ``other`` labels the same references of the same queries with the same roles."""
        return (self.n_references == other.n_references and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.ref_index, other.ref_index) and np.array_equal(self.role, other.role))

    @property
    def query_of_entry(self) -> np.ndarray:
        """For each CSR entry, the query it belongs to."""
        return np.repeat(np.arange(self.n_queries, dtype=np.int64), np.diff(self.indptr))

    def entries(self, query: int) -> tuple[np.ndarray, np.ndarray]:
        """(reference indices, roles) labelled for one query."""
        lo, hi = self.indptr[query], self.indptr[query + 1]
        return self.ref_index[lo:hi], self.role[lo:hi]

    def positives(self, query: int) -> np.ndarray:
        refs, roles = self.entries(query)
        return refs[roles == POSITIVE]

    def n_positives(self) -> np.ndarray:
        """Number of positives per query."""
        return np.bincount(self.query_of_entry[self.role == POSITIVE], minlength=self.n_queries)

    @classmethod
    def from_lists(
        cls,
        positives: Sequence[Sequence[int]],
        n_references: int,
        semi_positives: Sequence[Sequence[int]] | None = None,
        junk: Sequence[Sequence[int]] | None = None,
    ) -> GroundTruth:
        """Build from per-query lists; a reference gets the first role it is listed under."""
        indptr = [0]
        refs: list[int] = []
        roles: list[int] = []
        for q, pos in enumerate(positives):
            seen: set[int] = set()
            for role, lists in ((POSITIVE, positives), (SEMI_POSITIVE, semi_positives), (JUNK, junk)):
                if lists is None:
                    continue
                for r in lists[q]:
                    r = int(r)
                    if r not in seen:
                        seen.add(r)
                        refs.append(r)
                        roles.append(role)
            indptr.append(len(refs))
        return cls(np.asarray(indptr), np.asarray(refs, dtype=np.int64), np.asarray(roles, dtype=np.int8),
                   n_references)

    @classmethod
    def one_to_one(cls, reference_of_query: np.ndarray, n_references: int) -> GroundTruth:
        """Each query has exactly one positive (CVUSA, CVACT exact-id)."""
        ref = np.asarray(reference_of_query, dtype=np.int64)
        return cls(np.arange(len(ref) + 1), ref, np.full(len(ref), POSITIVE, dtype=np.int8), n_references)

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for storage beside a record."""
        return {"gt_indptr": self.indptr, "gt_ref_index": self.ref_index, "gt_role": self.role,
                "gt_n_references": np.asarray(self.n_references)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GroundTruth:
        return cls(arrays["gt_indptr"], arrays["gt_ref_index"], arrays["gt_role"],
                   int(arrays["gt_n_references"]))


@dataclass(eq=False)
class EvalData:
    """An evaluation split loaded under a protocol: queries, references and ground truth."""

    split: str
    queries: ImageSet
    references: ImageSet
    truth: GroundTruth
    protocol: dict[str, str] = field(default_factory=dict)
    """Resolved protocol options (every convention named, defaults filled in)."""
    fingerprint: str = ""
    """Hash of what defines the split (ids, paths, ground truth): a record is only comparable
    with records of the same fingerprint."""
    info: dict[str, Any] = field(default_factory=dict)
    """Free-form facts for reports (counts of distractors, skipped files...)."""

    def __post_init__(self) -> None:
        if self.truth.n_queries != len(self.queries):
            raise ValueError(f"ground truth has {self.truth.n_queries} queries, split has {len(self.queries)}")
        if self.truth.n_references != len(self.references):
            raise ValueError("ground truth and reference set disagree in size")
        for side, images in (("query", self.queries), ("reference", self.references)):
            twice = _first_duplicate(images.ids.tolist())
            if twice is not None:  # an id names one image: embeddings files and records go by ids
                raise ValueError(f"{side} id {twice!r} names two images of the split; ids must be unique")
        if not self.fingerprint:
            self.fingerprint = fingerprint_of(self.queries, self.references, self.truth, self.protocol)

    def queries_trained_on(self, training: TrainData) -> list[str]:
        """The paths of this split's query images that are images of ``training`` too (the same
        file, by normalised path): a model trained on them cannot be scored on them. VIGOR's
        same-area training split holds the cross-area test panoramas, for one."""
        import os

        seen = {os.path.normpath(str(p)) for p in (*training.queries.paths, *training.references.paths)}
        return [str(p) for p in self.queries.paths if os.path.normpath(str(p)) in seen]


@dataclass(eq=False)
class TrainData:
    """A training split: query and reference images and the positive pairs between them.

    ``pairs[i] = (query row, reference row)``. Two pairs with the same reference row are the
    same *location*: a contrastive batch must never hold both (they would be false negatives).
    """

    split: str
    queries: ImageSet
    references: ImageSet
    pairs: np.ndarray
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pairs = np.asarray(self.pairs, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError("pairs must have shape (N, 2)")
        if len(pairs) and (pairs[:, 0].max() >= len(self.queries) or pairs[:, 1].max() >= len(self.references)
                           or pairs.min() < 0):
            raise ValueError("pair index out of range")
        self.pairs = pairs
        if not self.fingerprint:
            self.fingerprint = fingerprint_of(self.queries, self.references, pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def location(self) -> np.ndarray:
        """Location key of each pair (its reference row)."""
        return self.pairs[:, 1]

    def without_images(self, bad_queries: np.ndarray, bad_references: np.ndarray) -> TrainData:
        """The split less every pair that uses a query or reference row flagged True (images
        that could not be decoded); the image sets stay, so rows keep their meaning."""
        keep = ~(np.asarray(bad_queries, dtype=bool)[self.pairs[:, 0]]
                 | np.asarray(bad_references, dtype=bool)[self.pairs[:, 1]])
        return TrainData(self.split, self.queries, self.references, self.pairs[keep], info=dict(self.info))


def _check_utf8(paths: np.ndarray) -> None:
    """Refuse a file name that is not UTF-8 (a zip made on Windows unpacks latin-1 bytes, which
    Python holds as lone surrogates that no record, hash or console can carry), naming its bytes.
    A Python whose locale is not UTF-8 holds UTF-8 names so too: then the locale is named."""
    try:
        "\n".join(paths.tolist()).encode("utf-8")
    except UnicodeEncodeError:
        import codecs
        import os
        import sys

        raw = os.fsencode(next(p for p in paths.tolist() if not _encodes(p)))
        encoding = sys.getfilesystemencoding()
        if codecs.lookup(encoding).name != "utf-8" and _encodes(raw.decode("utf-8", "surrogateescape")):
            raise DataError(f"{raw!r}: this Python reads file names as {encoding} (its locale), so it cannot "
                            "carry this UTF-8 name; run it with PYTHONUTF8=1 or in a UTF-8 locale "
                            "(LC_ALL=C.UTF-8)") from None
        raise DataError(f"{raw!r}: the file name is not UTF-8; rename it to UTF-8 "
                        "(the convmv tool renames a whole tree from latin-1)") from None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fingerprint_of(*parts: Any) -> str:
    """A short stable hash of image sets, ground truth, arrays and dicts."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, ImageSet):
            h.update(part.view.encode())
            h.update("\n".join(part.ids.tolist()).encode())
            h.update("\n".join(Path(p).name for p in part.paths.tolist()).encode())
        elif isinstance(part, GroundTruth):
            for arr in (part.indptr, part.ref_index, part.role):
                h.update(np.ascontiguousarray(arr).tobytes())
        elif isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, dict):
            h.update(repr(sorted(part.items())).encode())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _first_duplicate(values: Sequence[Any]) -> Any:
    seen = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None
