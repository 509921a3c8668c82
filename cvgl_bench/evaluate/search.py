"""Search backends: objects that turn embeddings and ground truth into an exact RankTable.

Both backends produce the same ranks (the exact similarity of :mod:`._exact` decides every
comparison a fast pass cannot prove), so the choice is about speed only:

``torch`` (default)
    chunked products on CPU or GPU; on a CPU, large problems use an int8 screen.
``faiss``
    faiss's exact flat inner-product index as the screen: k-NN lists (on a GPU when faiss has
    one, else on the CPU) settle queries whose bands lie inside their list, range searches on the
    CPU index settle the rest. Falls back to the CPU when ``faiss.get_num_gpus() == 0``.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..data.structures import JUNK, GroundTruth
from .ranks import RankTable, compute_ranks


class SearchBackend(abc.ABC):
    """What a search backend plugin's loader resolves to (a zero-argument factory of one).

    :meth:`rank` must return the exact :class:`RankTable` of every ground-truth entry and each
    query's ``topk``; ``progress`` (a progress bar on large problems) may be ignored.
    """

    name = "backend"

    @abc.abstractmethod
    def rank(self, query: Any, reference: Any, truth: GroundTruth, *, device: str | None = None, topk: int = 10,
             progress: bool = False) -> RankTable:
        """Exact ranks of every ground-truth entry and each query's top-k."""


class TorchSearch(SearchBackend):
    """The chunked torch engine (:mod:`cvgl_bench.evaluate.engine`)."""

    name = "torch"

    def __init__(self, screen: str = "auto", memory_mb: float | None = None):
        self.screen = screen
        self.memory_mb = memory_mb

    def rank(self, query: Any, reference: Any, truth: GroundTruth, *, device: str | None = None, topk: int = 10,
             progress: bool = False) -> RankTable:
        """Exact ranks of every ground-truth entry and each query's top-k."""
        return compute_ranks(query, reference, truth, device=device, topk=topk, screen=self.screen,
                             memory_mb=self.memory_mb, progress=progress)


class FaissSearch(SearchBackend):
    """faiss ``IndexFlatIP`` as the screen, exact re-checks of every undecided reference.

    :param knn_candidates: length of the k-NN lists (default: 2048 on a GPU, top-k + 8 on a CPU).
    :param range_chunk: queries per CPU range search (results are O(chunk x references)).
    """

    name = "faiss"

    def __init__(self, knn_candidates: int | None = None, range_chunk: int = 64, memory_mb: float = 256):
        self.knn_candidates = knn_candidates
        self.range_chunk = range_chunk
        self.memory_mb = memory_mb

    def rank(self, query: Any, reference: Any, truth: GroundTruth, *, device: str | None = None,
             topk: int = 10, progress: bool = False) -> RankTable:
        """Exact ranks of every ground-truth entry and each query's top-k.

        ``device``: ``None`` uses a GPU for the k-NN lists when faiss has one, ``"cpu"`` never.
        ``progress`` is not shown (faiss searches in a few large calls).
        """
        import faiss
        import torch

        from ._exact import (ExactPairs, exact_error_bound, float32_above, float32_below, fp32_product_bound,
                             row_norms)
        from ._lists import ranks_from_lists
        from .engine import _tame_magnitudes, settle_topk

        q = _float32_rows(query, "query")
        r = _float32_rows(reference, "reference")
        if q.shape[1] != r.shape[1]:
            raise ValueError(f"query has D = {q.shape[1]} but reference has D = {r.shape[1]}")
        nq, nr, dim = q.shape[0], r.shape[0], q.shape[1]
        faiss.omp_set_num_threads(torch.get_num_threads())
        qt, rt = torch.from_numpy(q), torch.from_numpy(r)
        qn = row_norms(qt)
        rmax = float(row_norms(rt).max()) if nr else 0.0
        qt, rt, qn, rmax, unscale = _tame_magnitudes(qt, rt, qn, rmax)
        q, r = qt.numpy(), rt.numpy()
        exact = ExactPairs(qt, rt)
        q_of, ref_of = truth.query_of_entry, truth.ref_index
        own = exact(q_of, ref_of)
        half = fp32_product_bound(qn, rmax, dim) + exact_error_bound(qn, rmax, dim)
        hi = float32_above(own + half[q_of])
        lo = float32_below(own - half[q_of])
        ranked = truth.role != JUNK  # junk is removed from rankings: its ranks stay -1
        lowest = np.full(nq, np.inf, dtype=np.float32)
        np.minimum.at(lowest, q_of[ranked], lo[ranked])
        strict = np.full(len(own), -1, np.int64)
        loose = np.full(len(own), -1, np.int64)
        k = max(0, min(int(topk), nr))
        top = np.zeros((nq, k), np.int64)
        stats: dict[str, Any] = {"backend": "faiss", "queries": nq, "references": nr, "entries": len(own)}

        cpu_index = faiss.IndexFlatIP(dim)
        if nr:
            cpu_index.add(r)
        knn_index, on_gpu = cpu_index, False
        wants_gpu = device is None or str(device).startswith("cuda")
        if wants_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            gpu_id = int(str(device).split(":")[1]) if ":" in str(device) else 0
            self._gpu_resources = faiss.StandardGpuResources()
            knn_index, on_gpu = faiss.index_cpu_to_gpu(self._gpu_resources, gpu_id, cpu_index), True
        stats["device"] = "cuda" if on_gpu else "cpu"
        length = self.knn_candidates or (2048 if on_gpu else k + 8)
        length = max(min(length, nr), k)
        resolved = np.zeros(nq, bool)
        if nq and length:
            step = max(1, int(self.memory_mb * 2 ** 20 // (length * 12)))
            for start in range(0, nq, step):
                rows = np.arange(start, min(nq, start + step))
                values, ids = knn_index.search(q[rows], length)
                ids = ids.astype(np.int64)
                last = values[:, -1] if length < nr else np.full(len(rows), -np.inf, np.float32)
                done = (lowest[rows] > last) | np.isinf(lowest[rows])
                self._settle(rows[done], np.arange(len(rows))[done], values, ids, q_of, truth, hi, lo, own,
                             exact, strict, loose, ranks_from_lists)
                resolved[rows[done]] = True
                outside = (last.astype(np.float64) + half[rows]) if length < nr else np.full(len(rows), -np.inf)

                def widen(local: np.ndarray, floor: np.ndarray, rows: np.ndarray = rows):
                    limit = float32_below(floor - half[rows[local]])
                    radius = float(np.nextafter(limit.min(), np.float32(-np.inf)))
                    lims, found_values, found = cpu_index.range_search(q[rows[local]], radius)
                    which = np.repeat(np.arange(len(local)), np.diff(lims.astype(np.int64)))
                    keep = found_values >= limit[which]
                    return which[keep], found[keep].astype(np.int64)

                settle_topk(exact, k, rows, torch.from_numpy(ids), torch.from_numpy(values), half[rows], outside,
                            widen, top, stats)
        pending = np.flatnonzero(~resolved)
        stats["queries_range_searched"] = int(len(pending))
        pending = pending[np.argsort(-lowest[pending], kind="stable")]
        for start in range(0, len(pending), self.range_chunk):
            rows = np.sort(pending[start:start + self.range_chunk])
            radius = float(np.nextafter(lowest[rows].min(), np.float32(-np.inf)))
            lims, values, ids = cpu_index.range_search(q[rows], radius)
            lists = (lims.astype(np.int64), values, ids.astype(np.int64))
            self._settle_lists(rows, lists, q_of, truth, hi, lo, own, exact, strict, loose, ranks_from_lists)
        stats["pairs_exact"] = exact.pairs_computed
        if unscale is not None:
            own = own * unscale[q_of]
        return RankTable(own, strict, loose, top, stats)

    @staticmethod
    def _settle(rows: np.ndarray, local: np.ndarray, values: np.ndarray, ids: np.ndarray, q_of: np.ndarray,
                truth: GroundTruth, hi: np.ndarray, lo: np.ndarray, own: np.ndarray, exact: Any,
                strict: np.ndarray, loose: np.ndarray, from_lists: Any) -> None:
        if not len(rows):
            return
        width = values.shape[1]
        lims = np.arange(len(rows) + 1, dtype=np.int64) * width
        lists = (lims, values[local].reshape(-1), ids[local].reshape(-1))
        FaissSearch._settle_lists(rows, lists, q_of, truth, hi, lo, own, exact, strict, loose, from_lists)

    @staticmethod
    def _settle_lists(rows: np.ndarray, lists: tuple[np.ndarray, np.ndarray, np.ndarray], q_of: np.ndarray,
                      truth: GroundTruth, hi: np.ndarray, lo: np.ndarray, own: np.ndarray, exact: Any,
                      strict: np.ndarray, loose: np.ndarray, from_lists: Any) -> None:
        starts = truth.indptr[rows]
        counts = truth.indptr[rows + 1] - starts
        owner = np.repeat(np.arange(len(rows)), counts)
        ent = starts[owner] + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = truth.role[ent] != JUNK
        ent, owner = ent[keep], owner[keep]
        if not len(ent):
            return
        lims, values, ids = lists
        strict[ent], loose[ent] = from_lists(lims, values, ids, owner, hi[ent], lo[ent], own[ent], rows, exact)


def _float32_rows(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} embeddings must be a 2-D floating-point array, got {x.dtype} {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)
