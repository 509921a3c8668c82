"""Small pieces shared by the format readers: path joining, protocol-independent assembly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ..structures import EvalData, GroundTruth, ImageSet, TrainData


def strip_dot_slash(rel: str) -> str:
    """``./a/b`` -> ``a/b`` (only whole ``./`` prefixes; names starting with a dot survive)."""
    rel = rel.strip().replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


class DoubledFolderResolver:
    """Join relative paths to a root, undoing repackagings that doubled a top folder.

    Some redistributions of CVUSA unpack as ``bingmap/bingmap/19/...`` or
    ``streetview/streetview/panos/...``; the split files still say ``bingmap/19/...``. The
    decision is taken once per (top folder, next folder) from what exists on disk.
    """

    def __init__(self, root: Path):
        self.root = str(root)
        self._prefix: dict[tuple[str, str], str] = {}

    def __call__(self, rel: str) -> str:
        rel = strip_dot_slash(rel)
        top, _, rest = rel.partition("/")
        second = rest.partition("/")[0]
        key = (top, second)
        prefix = self._prefix.get(key)
        if prefix is None:
            root = Path(self.root)
            doubled = bool(rest) and not (root / top / second).exists() and (root / top / top / second).exists()
            prefix = f"{top}/{top}" if doubled else top
            self._prefix[key] = prefix
        return f"{self.root}/{prefix}/{rest}" if rest else f"{self.root}/{prefix}"


def eval_data(split: str, queries: ImageSet, references: ImageSet, truth: GroundTruth,
              protocol: Mapping[str, str] | None, info: dict[str, Any]) -> EvalData:
    """Assemble an :class:`EvalData`, refusing an empty query or reference set."""
    if len(queries) == 0:
        raise DataError(f"{info.get('split_file', split)}: the split has no queries")
    if len(references) == 0:
        raise DataError(f"{info.get('split_file', split)}: the split has no reference images")
    for side, images in (("query", queries), ("reference", references)):
        ids, first = np.unique(np.asarray(images.ids).astype(str), return_counts=True)
        if len(ids) != len(images):
            raise DataError(f"{info.get('split_file', split)}: {side} id {str(ids[np.argmax(first > 1)])!r} occurs twice "
                            "in the split; every id must be unique to match embeddings to images")
    return EvalData(split, queries, references, truth, dict(protocol or {}), info=info)


def train_data(split: str, queries: ImageSet, references: ImageSet, pairs: np.ndarray,
               info: dict[str, Any]) -> TrainData:
    if len(pairs) == 0:
        raise DataError(f"{info.get('split_file', split)}: the training split has no pairs")
    return TrainData(split, queries, references, pairs, info=info)
