"""Per-entry ranks: the pivot every metric is computed from.

A :class:`RankTable` holds, for every labelled entry of a split's ground truth (a query and one
of its positives, semi-positives or junk references, in the order of ``truth.ref_index``), the
entry's exact similarity and two ranks over the *whole* gallery::

    rank_strict = #{references more similar than the entry}              (ties favour the query,
                                                                           as Sample4Geo, TransGeo, SAFA)
    rank_loose  = #{other references at least as similar as the entry}   (ties count against it)

plus each query's ``topk`` most similar references for plots. Junk entries are removed from
every ranking, so only their similarity is computed (ranks -1). Metrics subtract what their
convention removes (junk, semi-positives) using the similarities of the entries themselves, so
one table serves every convention, and a record's stored table can be re-scored later.

``compute_ranks`` is the exact chunked torch engine (:mod:`cvgl_bench.evaluate.engine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.structures import JUNK, GroundTruth

ARRAY_NAMES = ("similarity", "rank_strict", "rank_loose", "topk")


@dataclass(eq=False)
class RankTable:
    """Exact similarities and ranks of every ground-truth entry, and each query's top-k.

    ``similarity`` is float64: the exact inner product of the float32 embeddings (see
    :mod:`cvgl_bench.evaluate._exact`), kept at that precision so that comparisons between the
    entries of one query (junk or semi-positives above a positive) agree with the ranks.
    """

    similarity: np.ndarray
    """float64 [nnz]: similarity of the entry's query and reference."""
    rank_strict: np.ndarray
    """int64 [nnz]: number of references of the whole gallery with a greater similarity
    (-1 for junk entries: they are removed from every ranking, only their similarity is used)."""
    rank_loose: np.ndarray
    """int64 [nnz]: number of other references with a greater or equal similarity (-1 for junk)."""
    topk: np.ndarray
    """int64 [Nq, k]: the k most similar reference rows per query, best first (ties by index)."""
    stats: dict[str, Any] = field(default_factory=dict, repr=False)
    """How the engine got there (screen, re-checked queries, exact pairs); not stored."""
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.similarity = np.asarray(self.similarity, dtype=np.float64)
        self.rank_strict = np.asarray(self.rank_strict, dtype=np.int64)
        self.rank_loose = np.asarray(self.rank_loose, dtype=np.int64)
        self.topk = np.asarray(self.topk, dtype=np.int64)
        n = len(self.similarity)
        if self.similarity.ndim != 1 or self.rank_strict.shape != (n,) or self.rank_loose.shape != (n,):
            raise ValueError("similarity, rank_strict and rank_loose must be 1-D arrays of one length")
        if self.topk.ndim != 2:
            raise ValueError("topk must be a 2-D array (queries x k)")
        if n and (self.rank_strict.min() < -1 or np.any(self.rank_loose < self.rank_strict)):
            raise ValueError("ranks must satisfy 0 <= rank_strict <= rank_loose (or -1 for junk)")

    def __len__(self) -> int:
        return len(self.similarity)

    def check_against(self, truth: GroundTruth) -> None:
        """Raise ValueError unless this table belongs to ``truth`` (entry and query counts)."""
        if len(self) != len(truth.ref_index):
            raise ValueError(f"rank table has {len(self)} entries, ground truth has {len(truth.ref_index)}")
        if len(self.topk) != truth.n_queries:
            raise ValueError(f"rank table has top-k of {len(self.topk)} queries, ground truth has {truth.n_queries}")
        if len(self) and self.rank_loose.max() >= max(truth.n_references, 1):
            raise ValueError("a rank exceeds the gallery size of the ground truth")
        if np.any((self.rank_strict < 0) & (truth.role != JUNK)):
            raise ValueError("only junk entries may be left unranked (-1)")

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for storage beside a record (see :meth:`from_arrays`)."""
        return {"similarity": self.similarity, "rank_strict": self.rank_strict,
                "rank_loose": self.rank_loose, "topk": self.topk}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RankTable:
        from ..errors import DataError

        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise DataError(f"stored ranks lack the array {missing[0]!r}; they were not written by cvgl-bench")
        stored = {name: np.asarray(arrays[name]) for name in ARRAY_NAMES}
        wrong = [name for name in ARRAY_NAMES if stored[name].dtype.kind not in ("f" if name == "similarity" else "iu")]
        if wrong:
            raise DataError(f"stored ranks: {wrong[0]} has dtype {stored[wrong[0]].dtype}; they were not written by "
                            "cvgl-bench")
        if not np.isfinite(stored["similarity"]).all():
            raise DataError("stored ranks: a similarity is NaN or infinite; they were not written by cvgl-bench")
        return cls(*(stored[name] for name in ARRAY_NAMES))


def compute_ranks(query: Any, reference: Any, truth: GroundTruth, *, device: str | None = None, topk: int = 10,
                  screen: str = "auto", memory_mb: float | None = None, pair_limit: int | None = None,
                  progress: bool = False) -> RankTable:
    """Exact ranks with the chunked torch engine (memory O(chunk x references)).

    :param screen: ``"auto"`` uses the int8 screen with exact re-checks on a CPU for large
        problems, ``"fp32"`` only float32 products, ``"int8"`` forces the screen.
    See :func:`cvgl_bench.evaluate.engine.rank` for every parameter.
    """
    from .engine import rank

    result = rank(query, reference, truth, device=device, topk=topk, screen=screen, memory_mb=memory_mb,
                  pair_limit=pair_limit, progress=progress)
    return RankTable(result.similarity, result.rank_strict, result.rank_loose, result.topk, result.stats)
