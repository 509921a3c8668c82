"""The exact chunked rank engine behind the ``torch`` search backend.

What it computes. For every labelled entry ``e`` of the ground truth (a query ``q`` and one of
its positives, semi-positives or junk references) with exact similarity ``s = sim(q, e)``
(:class:`~cvgl_bench.evaluate._exact.ExactPairs`: float64 inner product of the float32
embeddings, one summation order per pair)::

    rank_strict(e) = #{references j : sim(q, j) >  s}          ties favour the query
    rank_loose(e)  = #{references j != e : sim(q, j) >= s}     ties count against it

(junk entries are removed from rankings: only their similarity is computed, their ranks are -1)

and for every query the ``topk`` most similar references (ties by index).

How. Queries are processed in chunks against the whole gallery, so memory is
O(chunk x references), never queries x references. A fast pass produces approximate scores with
a rigorous per-query error bound ``B``; a reference is counted as above (or below) an entry only
when its score clears the entry's exact similarity by more than ``B`` plus the exact kernel's own
bound. The few references inside that band are recomputed exactly, so every rank is exact.

* ``fp32`` pass (CPU or GPU): one float32 matrix product per chunk, ``B = gamma_D ||q|| max||r||``
  (about 6e-5 for unit vectors at D = 1024): the band holds near-ties only.
* ``int8`` screen (CPU, large problems): an int8 product (``torch._int_mm``, several times the
  fp32 rate), ``B`` from the quantisation residuals (see :mod:`._int8`). Entries whose band holds
  at most ``pair_limit`` references are finished pair by pair; queries with wider bands (deep
  ranks in a dense region) are recomputed by the fp32 pass. If most queries need that, the
  engine switches the rest of the run to the fp32 pass.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.structures import JUNK, GroundTruth
from ._count import RowCounter, count_sorted
from ._exact import (ExactPairs, exact_error_bound, float32_above, float32_below,
                     fp32_product_bound, row_norms, single_thread)
from ._int8 import MAX_DIM, int8_matmul_available, quantise

SCREENS = ("auto", "int8", "fp32")
_LOOP_SLOTS = 8
"""Entries per query up to which thresholds are compared one by one (else rows are sorted)."""
_AUTO_INT8_MIN_PAIRS = 5e7
_TOPK_EXTRA = 24
_BLOCK = 64
_INT32_MAX = 2 ** 31 - 1


@dataclass
class EngineResult:
    similarity: np.ndarray
    rank_strict: np.ndarray
    rank_loose: np.ndarray
    topk: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)


def rank(query: Any, reference: Any, truth: GroundTruth, *, device: str | None = None, topk: int = 10,
         screen: str = "auto", memory_mb: float | None = None, pair_limit: int | None = None,
         progress: bool = False) -> EngineResult:
    """Exact ranks of every labelled entry of ``truth`` and each query's top-k (see module doc).

    :param query: (Nq, D) float embeddings (numpy array or torch tensor; used as float32).
    :param reference: (Nr, D) float embeddings.
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks a GPU when there is one.
    :param screen: ``"auto"`` (int8 screen on a CPU for large problems), ``"int8"`` or ``"fp32"``.
    :param memory_mb: size of the per-chunk score buffers (default 192 MB on CPU, 1 GB on GPU).
    :param pair_limit: widest band finished pair by pair in the int8 screen (default Nr/128 + 32).
    """
    if screen not in SCREENS:
        raise ValueError(f"screen must be one of {SCREENS}, not {screen!r}")
    start = time.perf_counter()
    problem = _Problem.build(query, reference, truth, _device(device), topk, memory_mb)
    problem.stats["seconds"] = {"setup": time.perf_counter() - start}
    mode = _choose_mode(screen, problem)
    problem.stats.update(screen=mode, device=str(problem.device))
    limit = pair_limit if pair_limit is not None else problem.n_ref // 128 + 32
    rows = np.arange(problem.n_query, dtype=np.int64)
    with _exact_fp32_matmul(), _progress(progress, problem.n_query) as bar:
        if mode == "int8":
            rows = _Int8Pass(problem, limit, bar).run()
        if len(rows):
            _Fp32Pass(problem, bar).run(rows, counts_progress=mode != "int8")
    problem.stats["pairs_exact"] = problem.exact.pairs_computed
    sim = problem.sim if problem.unscale is None else problem.sim * problem.unscale[truth.query_of_entry]
    return EngineResult(sim, problem.strict, problem.loose, problem.topk, problem.stats)


# -- the problem and its bookkeeping ------------------------------------------------------------


@dataclass
class _Problem:
    query: torch.Tensor
    reference: torch.Tensor
    truth: GroundTruth
    device: torch.device
    k: int
    memory: int
    exact: ExactPairs
    sim: np.ndarray
    unscale: np.ndarray | None
    """Per query, the power of two that turns similarities of rescaled embeddings back (or None)."""
    fp32_bound: np.ndarray    # per query: |fp32 score - real|
    exact_bound: np.ndarray   # per query: |exact - real|
    query_norms: np.ndarray
    max_ref_norm: float
    strict: np.ndarray
    loose: np.ndarray
    topk: np.ndarray
    stats: dict[str, Any]

    @property
    def n_query(self) -> int:
        return self.query.shape[0]

    @property
    def n_ref(self) -> int:
        return self.reference.shape[0]

    @property
    def dim(self) -> int:
        return self.query.shape[1]

    @classmethod
    def build(cls, query: Any, reference: Any, truth: GroundTruth, device: torch.device, topk: int,
              memory_mb: float | None) -> _Problem:
        q = _host_float32(query, "query")
        r = _host_float32(reference, "reference")
        if q.shape[1] != r.shape[1]:
            raise ValueError(f"query has D = {q.shape[1]} but reference has D = {r.shape[1]}")
        if truth.n_queries != q.shape[0] or truth.n_references != r.shape[0]:
            raise ValueError(f"ground truth is for {truth.n_queries} x {truth.n_references} but embeddings "
                             f"are {q.shape[0]} x {r.shape[0]}")
        qn = row_norms(q)
        rmax = float(row_norms(r).max()) if r.shape[0] else 0.0
        q, r, qn, rmax, unscale = _tame_magnitudes(q, r, qn, rmax)
        exact = ExactPairs(q, r)
        sim = exact(truth.query_of_entry, truth.ref_index)
        dim = q.shape[1]
        k = max(0, min(int(topk), r.shape[0]))
        default_mb = 1024 if device.type == "cuda" else 192
        nnz = len(truth.ref_index)
        return cls(q, r, truth, device, k, int((memory_mb or default_mb) * 2 ** 20), exact, sim, unscale,
                   fp32_product_bound(qn, rmax, dim), exact_error_bound(qn, rmax, dim), qn, rmax,
                   np.full(nnz, -1, np.int64), np.full(nnz, -1, np.int64), np.zeros((q.shape[0], k), np.int64),
                   {"queries": q.shape[0], "references": r.shape[0], "entries": nnz})

    @contextlib.contextmanager
    def clock(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to ``stats["seconds"][phase]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = self.stats.setdefault("seconds", {})
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start

    def chunk_rows(self, candidates: int) -> int:
        """Query rows per chunk: scores (4 B) and a comparison mask (1 B) per reference, plus the
        top-k candidate pool (64 per candidate, 12 B each), within the memory budget."""
        per_row = self.n_ref * 5 + _BLOCK * candidates * 12
        return int(max(1, min(8192, self.memory // per_row)))

    def block_rows(self, bytes_per_score: int) -> int:
        """Rows of a temporary block of scores: a quarter of the budget."""
        return int(max(1, self.memory // 4 // max(1, self.n_ref * bytes_per_score)))

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For query rows ``rows``: (ranked entries, local row of each, slot within its row).

        Junk entries are left out: they are removed from every ranking, so only their
        similarity matters (their ranks stay -1).
        """
        indptr = self.truth.indptr
        starts = indptr[rows]
        counts = indptr[rows + 1] - starts
        local = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        ent = starts[local] + np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts,
                                                                                        counts)
        keep = self.truth.role[ent] != JUNK
        ent, local = ent[keep], local[keep]
        kept = np.bincount(local, minlength=len(rows))
        slot = np.arange(len(ent), dtype=np.int64) - np.repeat(np.cumsum(kept) - kept, kept)
        return ent, local, slot


def _host_float32(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    else:
        with warnings.catch_warnings():  # read-only arrays (memory maps) are only read here
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} embeddings must be 2-D, got shape {tuple(t.shape)}")
    if not (t.is_floating_point()):
        raise ValueError(f"{name} embeddings must be floating point, got {t.dtype}")
    return t.detach().to("cpu", torch.float32).contiguous()


def _tame_magnitudes(q: torch.Tensor, r: torch.Tensor, qn: np.ndarray, rmax: float) -> tuple[Any, ...]:
    """Scale rows by powers of two when float32 products could overflow (norms near 1e19).

    A positive factor per query row, and one for all references, leaves every ranking unchanged,
    and a power of two is exact; the similarities are scaled back at the end. Embeddings of
    ordinary size are returned as they are (no copy).
    """
    if not len(qn) or qn.max() * rmax < 2.0 ** 100:
        return q, r, qn, rmax, None
    q_exp = np.frexp(np.where(qn > 0, qn, 1.0))[1].astype(np.float64)
    r_exp = float(np.frexp(rmax if rmax > 0 else 1.0)[1])
    q = q * torch.from_numpy(np.ldexp(1.0, -q_exp.astype(int))).to(torch.float32).view(-1, 1)
    r = r * float(np.ldexp(1.0, -int(r_exp)))
    return (q, r, row_norms(q), float(row_norms(r).max()), np.ldexp(1.0, (q_exp + r_exp).astype(int)))


def _device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _choose_mode(screen: str, p: _Problem) -> str:
    int8_ok = p.device.type == "cpu" and 0 < p.dim <= MAX_DIM and int8_matmul_available()
    if screen == "int8":
        if not int8_ok:
            raise ValueError(f"the int8 screen needs a CPU device, an embedding dimension of 1 to {MAX_DIM} and a "
                             "torch whose CPU torch._int_mm runs (torch 2.3 has none); use screen 'auto' or 'fp32'")
        return "int8"
    if screen == "auto" and int8_ok and p.n_query * p.n_ref >= _AUTO_INT8_MIN_PAIRS and p.dim >= 16:
        return "int8"
    return "fp32"


@contextlib.contextmanager
def _exact_fp32_matmul() -> Iterator[None]:
    """Make float32 products true fp32 while ranking: no TF32 on CUDA, no bf16 on the CPU's oneDNN,
    whichever of torch's two precision interfaces the user or a library switched them on with.

    torch >= 2.9 raises on the old getters once the new per-backend ``fp32_precision`` settings
    were used, so the new ones are read and set where they exist (they reflect the old ones too)."""
    matmuls = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    if all(hasattr(backend, "fp32_precision") for backend in matmuls):
        saved = [backend.fp32_precision for backend in matmuls]
        for backend in matmuls:
            backend.fp32_precision = "ieee"
        try:
            yield
        finally:
            for backend, value in zip(matmuls, saved):
                backend.fp32_precision = value
        return
    precision = torch.get_float32_matmul_precision()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.set_float32_matmul_precision(precision)


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from ..progress import progress

    bar = progress(total, unit="query", desc="ranking")
    try:
        yield bar
    finally:
        bar.close()


# -- shared steps -------------------------------------------------------------------------------


class _Pass:
    """What both passes share: threshold counting, band re-checks and exact top-k selection."""

    def __init__(self, p: _Problem, bar: Any):
        self.p = p
        self.bar = bar

    def count_entries(self, scores: torch.Tensor, counter: RowCounter, local: np.ndarray, slot: np.ndarray,
                      hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: #scores > hi and #scores >= lo in its row of ``scores``."""
        n_gt = np.zeros(len(local), np.int64)
        n_ge = np.zeros(len(local), np.int64)
        if not len(local):
            return n_gt, n_ge
        dev = scores.device
        slots = int(slot.max()) + 1
        if slots > _LOOP_SLOTS:
            return self._count_sorted(scores, local, slot, hi, lo, slots)
        rows = scores.shape[0]
        step = self.p.block_rows(4)
        for s in range(slots):
            pick = np.flatnonzero(slot == s)
            who = local[pick]
            if len(who) == rows:  # every row has this slot: count in place
                parts = [(scores, pick[np.argsort(who)])]
            else:  # copies of the rows that have it, a block at a time
                parts = ((scores.index_select(0, torch.from_numpy(who[i:i + step]).to(dev)), pick[i:i + step])
                         for i in range(0, len(who), step))
            for block, order in parts:
                n_gt[order] = counter.count(block, torch.from_numpy(hi[order]).to(dev), False).cpu().numpy()
                n_ge[order] = counter.count(block, torch.from_numpy(lo[order]).to(dev), True).cpu().numpy()
        return n_gt, n_ge

    def _count_sorted(self, scores: torch.Tensor, local: np.ndarray, slot: np.ndarray, hi: np.ndarray,
                      lo: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
        rows, n = scores.shape
        step = self.p.block_rows(12)
        n_gt = np.zeros(len(local), np.int64)
        n_ge = np.zeros(len(local), np.int64)
        fill_hi = np.iinfo(np.int32).max if scores.dtype == torch.int32 else np.inf
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            pick = np.flatnonzero((local >= start) & (local < stop))
            grid_hi = np.full((stop - start, slots), fill_hi, dtype=hi.dtype)
            grid_lo = np.full((stop - start, slots), fill_hi, dtype=lo.dtype)
            grid_hi[local[pick] - start, slot[pick]] = hi[pick]
            grid_lo[local[pick] - start, slot[pick]] = lo[pick]
            ordered = torch.sort(scores[start:stop], dim=1).values
            dev = ordered.device
            gt = count_sorted(ordered, torch.from_numpy(grid_hi).to(dev), False).cpu().numpy()
            ge = count_sorted(ordered, torch.from_numpy(grid_lo).to(dev), True).cpu().numpy()
            n_gt[pick] = gt[local[pick] - start, slot[pick]]
            n_ge[pick] = ge[local[pick] - start, slot[pick]]
        return n_gt, n_ge

    def at_least(self, scores: torch.Tensor, local: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``local``, column) of every score >= the row's limit, rows ``local``."""
        with single_thread():
            return self._at_least(scores, local, limits)

    def _at_least(self, scores: torch.Tensor, local: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dev = scores.device
        n = scores.shape[1]
        step = self.p.block_rows(5)
        which, cols = [], []
        for start in range(0, len(local), step):
            block = scores.index_select(0, torch.from_numpy(local[start:start + step]).to(dev))
            limit = torch.from_numpy(limits[start:start + step]).to(dev, block.dtype).view(-1, 1)
            w, c = (block >= limit).nonzero(as_tuple=True)
            which.append(w.cpu().numpy() + start)
            cols.append(c.cpu().numpy())
        return np.concatenate(which), np.concatenate(cols)

    def recheck_bands(self, scores: torch.Tensor, rows: np.ndarray, ent: np.ndarray, local: np.ndarray,
                      hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact comparisons inside each entry's band [lo, hi]; returns (#above, #at-or-above - 1)."""
        with single_thread():
            return self._recheck_bands(scores, rows, ent, local, hi, lo)

    def _recheck_bands(self, scores: torch.Tensor, rows: np.ndarray, ent: np.ndarray, local: np.ndarray,
                       hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        above = np.zeros(len(ent), np.int64)
        at_or_above = np.zeros(len(ent), np.int64)
        if not len(ent):
            return above, at_or_above
        dev = scores.device
        n = scores.shape[1]
        step = self.p.block_rows(6)
        for start in range(0, len(ent), step):
            sl = slice(start, min(len(ent), start + step))
            block = scores.index_select(0, torch.from_numpy(local[sl]).to(dev))
            low = torch.from_numpy(lo[sl]).to(dev, block.dtype).view(-1, 1)
            high = torch.from_numpy(hi[sl]).to(dev, block.dtype).view(-1, 1)
            which, col = ((block >= low) & (block <= high)).nonzero(as_tuple=True)
            which = which.cpu().numpy() + start
            col = col.cpu().numpy()
            del block
            exact = self.p.exact(rows[local[which]], col)
            own = self.p.sim[ent[which]]
            above += np.bincount(which, weights=exact > own, minlength=len(ent)).astype(np.int64)
            at_or_above += np.bincount(which, weights=exact >= own, minlength=len(ent)).astype(np.int64)
        self.p.stats["band_pairs"] = self.p.stats.get("band_pairs", 0) + int(at_or_above.sum())
        return above, at_or_above - 1  # the entry itself is in its own band

    def exact_topk(self, rows: np.ndarray, cand: torch.Tensor, approx: torch.Tensor, slack: np.ndarray,
                   outside_max: np.ndarray, widen: Any) -> None:
        with single_thread():
            settle_topk(self.p.exact, self.p.k, rows, cand, approx, slack, outside_max, widen, self.p.topk, self.p.stats)


def settle_topk(exact: ExactPairs, k: int, rows: np.ndarray, cand: Any, approx: Any, slack: np.ndarray,
                outside_max: np.ndarray, widen: Any, out: np.ndarray, stats: dict[str, Any]) -> None:
    """Exact top-k of ``rows`` (written to ``out[rows]``) from candidates scored approximately.

    ``approx`` (m, c) are scores of the candidates ``cand`` within ``slack`` (per row) of the
    exact value; ``outside_max`` bounds the exact value of every non-candidate. A row whose
    k best candidates are separated by more than twice the slack (from each other and from
    everything else) is settled by ``approx``. Other rows are settled by exact values of every
    candidate that may reach the k-th best exact value and, only when a non-candidate may reach
    it too, of every reference that ``widen(local_rows, floors)`` returns as (position in
    ``local_rows``, reference) pairs: those whose exact value may reach the row's floor. Ties go
    to the lower index.
    """
    if k == 0 or not len(rows):
        return
    approx = torch.as_tensor(approx)
    cand = torch.as_tensor(cand)
    order = torch.argsort(approx, dim=1, descending=True, stable=True)
    approx = torch.gather(approx, 1, order).to(torch.float64).cpu().numpy()
    cand = torch.gather(cand, 1, order).cpu().numpy()
    m, c = approx.shape
    kth = approx[:, k - 1]
    below = np.maximum(approx[:, k] + slack, outside_max) if c > k else outside_max
    gaps_ok = (np.diff(approx[:, :k], axis=1) < -2 * slack[:, None]).all(axis=1)
    settled = gaps_ok & (kth - slack > below)
    out[rows[settled]] = cand[settled, :k]
    rest = np.flatnonzero(~settled)
    if not len(rest):
        return
    floor = kth[rest] - slack[rest]  # the k best candidates are at least this good
    reach = approx[rest] + slack[rest, None] >= floor[:, None]
    who, col = np.nonzero(reach)
    local, ref = rest[who], cand[rest[who], col]
    wide = outside_max[rest] >= floor
    if wide.any():
        which, extra = widen(rest[wide], floor[wide])
        local = np.concatenate([local, rest[wide][which]])
        ref = np.concatenate([ref, np.asarray(extra, dtype=np.int64)])
        stats["topk_widened"] = stats.get("topk_widened", 0) + int(wide.sum())
    key = local * (int(ref.max(initial=0)) + 1) + ref
    _, first = np.unique(key, return_index=True)
    local, ref = local[first], ref[first]
    value = exact(rows[local], ref)
    order = np.lexsort((ref, -value, local))
    local, ref = local[order], ref[order]
    starts = np.searchsorted(local, rest)
    out[rows[rest]] = ref[(starts[:, None] + np.arange(k)).reshape(-1)].reshape(len(rest), k)
    stats["topk_exact_rows"] = stats.get("topk_exact_rows", 0) + len(rest)


def padded(n: int) -> int:
    """Width of a score block: the gallery size rounded up to whole blocks of ``_BLOCK``."""
    return -(-n // _BLOCK) * _BLOCK


def sentinel(dtype: torch.dtype) -> float | int:
    """The score of padding columns: below every real score and every threshold."""
    return -torch.inf if dtype.is_floating_point else torch.iinfo(dtype).min


def top_candidates(scores: torch.Tensor, take: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The ``take`` highest scores of each row, their columns, and a bound on all the others.

    ``scores`` is a contiguous block whose width is a multiple of ``_BLOCK``, padding columns
    holding ``sentinel`` (``take`` must not exceed the real columns). Returns (values, columns,
    beyond), ``beyond[i]`` (float64) being at least every score of row i outside the candidates.
    On a CPU, wide rows go through per-block maxima first (a reduction is several times faster
    than ``torch.topk`` over the whole row): the ``take`` best scores lie in the ``take`` blocks
    with the highest maxima, and every other score is at most the next block maximum.
    """
    rows, width = scores.shape
    blocks = width // _BLOCK
    if scores.device.type != "cpu" or blocks < 4 * (take + 1):
        count = min(take + 1, width)
        values, columns = torch.topk(scores, count, dim=1)
        beyond = values[:, take].to(torch.float64).cpu().numpy() if count > take else np.full(rows, -np.inf)
        return values[:, :take], columns[:, :take], beyond
    best = torch.topk(scores.view(rows, blocks, _BLOCK).amax(dim=2), take + 1, dim=1)
    chosen = best.indices[:, :take]
    flat = (torch.arange(rows).view(-1, 1) * blocks + chosen).view(-1)
    pool = scores.view(-1, _BLOCK).index_select(0, flat).view(rows, take * _BLOCK)
    values, where = torch.topk(pool, take + 1, dim=1)
    columns = torch.gather(chosen, 1, where[:, :take] // _BLOCK) * _BLOCK + where[:, :take] % _BLOCK
    beyond = torch.maximum(best.values[:, take], values[:, take])
    return values[:, :take], columns, beyond.to(torch.float64).numpy()


# -- the fp32 pass --------------------------------------------------------------------------------


class _Fp32Pass(_Pass):
    """float32 matrix products, exact re-check of near-ties (CPU or GPU)."""

    def run(self, rows: np.ndarray, counts_progress: bool = True) -> None:
        p = self.p
        dev = p.device
        reference = p.reference.to(dev)
        step = p.chunk_rows(p.k + 8)
        width = padded(p.n_ref)
        buffer = torch.empty(min(step, len(rows)), width, dtype=torch.float32, device=dev)
        buffer[:, p.n_ref:] = sentinel(torch.float32)  # products only ever write the real columns
        counter = RowCounter(min(step, len(rows)), width, dev)
        p.stats["chunk_rows_fp32"] = step
        p.stats["rows_fp32"] = p.stats.get("rows_fp32", 0) + len(rows)
        contiguous = len(rows) == 0 or bool(rows[-1] - rows[0] + 1 == len(rows))
        for start in range(0, len(rows), step):
            block = rows[start:start + step]
            if contiguous:
                q = p.query[int(block[0]):int(block[-1]) + 1]
            else:
                q = p.query.index_select(0, torch.from_numpy(block))
            scores = buffer[:len(block)]
            with p.clock("fp32 product"):
                torch.mm(q.to(dev), reference.t(), out=scores[:, :p.n_ref])
            self._chunk(block, scores, counter)
            if self.bar is not None and counts_progress:
                self.bar.update(len(block))

    def _chunk(self, rows: np.ndarray, scores: torch.Tensor, counter: RowCounter) -> None:
        p = self.p
        ent, local, slot = p.entries(rows)
        half = (p.fp32_bound + p.exact_bound)[rows]
        own = p.sim[ent]
        hi = float32_above(own + half[local])
        lo = float32_below(own - half[local])
        with p.clock("count"):
            n_gt, n_ge = self.count_entries(scores, counter, local, slot, hi, lo)
        strict, loose = n_gt.copy(), n_gt.copy()
        band = np.flatnonzero(n_ge - n_gt > 1)
        with p.clock("band re-check"):
            add_s, add_l = self.recheck_bands(scores, rows, ent[band], local[band], hi[band], lo[band])
        strict[band] += add_s
        loose[band] += add_l
        p.strict[ent], p.loose[ent] = strict, loose
        if p.k:
            with p.clock("top-k"):
                values, cand, beyond = top_candidates(scores, min(p.n_ref, p.k + 8))
            outside = beyond + half

            def widen(local: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return self.at_least(scores, local, float32_below(floor - half[local]))

            with p.clock("top-k"):
                self.exact_topk(rows, cand, values, half, outside, widen)


# -- the int8 screen ------------------------------------------------------------------------------


class _Int8Pass(_Pass):
    """int8 products as a screen (CPU); returns the queries left for the fp32 pass."""

    def __init__(self, p: _Problem, pair_limit: int, bar: Any):
        super().__init__(p, bar)
        self.pair_limit = pair_limit

    def run(self) -> np.ndarray:
        p = self.p
        width = padded(p.n_ref)
        with p.clock("quantise"):
            refs = quantise(p.reference, shared_scale=True, rows=width)
        self.ref_values_t = refs.values.t()
        self.ref_scale = float(refs.scale[0]) if p.n_ref else 1.0
        self.max_ref_residual = float(refs.norm_residual.max()) if p.n_ref else 0.0
        step = p.chunk_rows(p.k + _TOPK_EXTRA)
        buffer = torch.empty(min(step, p.n_query) * width, dtype=torch.int32)
        counter = RowCounter(min(step, p.n_query), width, torch.device("cpu"))
        take = min(p.n_ref, p.k + _TOPK_EXTRA)
        self.gather_rows = max(1, min(step, p.n_query, p.memory // 8 // max(1, take * p.dim * 4)))
        self.gather = torch.empty(self.gather_rows * take, p.dim)
        p.stats["chunk_rows_int8"] = step
        left: list[np.ndarray] = []
        done = 0
        for start in range(0, p.n_query, step):
            rows = np.arange(start, min(p.n_query, start + step), dtype=np.int64)
            if done >= 2 * step and sum(len(x) for x in left) > 0.5 * done:
                p.stats["switched_to_fp32_at_query"] = start
                left.append(np.arange(start, p.n_query, dtype=np.int64))
                break
            with p.clock("quantise"):
                queries = quantise(p.query[start:start + len(rows)], shared_scale=False)
            scores = buffer[:len(rows) * width].view(len(rows), width)
            with p.clock("int8 product"):
                torch._int_mm(queries.values, self.ref_values_t, out=scores)
                scores[:, p.n_ref:] = sentinel(torch.int32)  # zero-padded references score 0: hide them
            left.append(self._chunk(rows, scores, counter, queries))
            done += len(rows)
            if self.bar is not None:
                self.bar.update(len(rows))
        wide = np.concatenate(left) if left else np.zeros(0, np.int64)
        p.stats["rows_int8"] = done
        p.stats["rows_fp32_recheck"] = int(len(wide))
        return wide

    def _chunk(self, rows: np.ndarray, scores: torch.Tensor, counter: RowCounter, queries: Any) -> np.ndarray:
        p = self.p
        ent, local, slot = p.entries(rows)
        # |a_i b S - real| <= err_i (see _int8) ; |exact - real| <= exact_bound
        err = ((p.query_norms[rows] + queries.norm_residual) * self.max_ref_residual
               + queries.norm_residual * p.max_ref_norm)
        half = err + p.exact_bound[rows]
        unit = queries.scale * self.ref_scale  # real value of one integer step, per row
        own = p.sim[ent]
        hi = np.floor((own + half[local]) / unit[local]) + 1
        lo = np.ceil((own - half[local]) / unit[local]) - 1
        hi = np.clip(hi, -_INT32_MAX, _INT32_MAX).astype(np.int32)
        lo = np.clip(lo, -_INT32_MAX, _INT32_MAX).astype(np.int32)
        with p.clock("count"):
            n_gt, n_ge = self.count_entries(scores, counter, local, slot, hi, lo)
        width = n_ge - n_gt
        wide_rows = np.unique(local[width > self.pair_limit])
        narrow = np.flatnonzero((width > 1) & ~np.isin(local, wide_rows))
        strict, loose = n_gt.copy(), n_gt.copy()
        with p.clock("band re-check"):
            add_s, add_l = self.recheck_bands(scores, rows, ent[narrow], local[narrow], hi[narrow], lo[narrow])
        strict[narrow] += add_s
        loose[narrow] += add_l
        keep = ~np.isin(local, wide_rows)
        p.strict[ent[keep]], p.loose[ent[keep]] = strict[keep], loose[keep]
        self.p.stats["band_entries"] = self.p.stats.get("band_entries", 0) + len(narrow)
        if p.k:
            settle = np.setdiff1d(np.arange(len(rows)), wide_rows)
            with p.clock("top-k"):
                self._topk(rows, scores, settle, queries, err, half, unit)
        return rows[wide_rows]

    def _score_candidates(self, rows: np.ndarray, cand: torch.Tensor, approx: torch.Tensor, take: int) -> None:
        """float32 scores of each row's candidates (bound: fp32_bound), a block of rows at a time."""
        p = self.p
        for lo in range(0, len(rows), self.gather_rows):
            hi = min(len(rows), lo + self.gather_rows)
            gathered = self.gather[:(hi - lo) * take]
            torch.index_select(p.reference, 0, cand[lo:hi].reshape(-1), out=gathered)
            for i, row in enumerate(rows[lo:hi].tolist()):  # one matrix-vector product per row:
                block = gathered[i * take:(i + 1) * take]  # several times faster than bmm here
                torch.mv(block, p.query[row], out=approx[lo + i])

    def _topk(self, rows: np.ndarray, scores: torch.Tensor, settle: np.ndarray, queries: Any, err: np.ndarray,
              half: np.ndarray, unit: np.ndarray) -> None:
        p = self.p
        if not len(settle):
            return
        take = min(p.n_ref, p.k + _TOPK_EXTRA)
        values, cand, beyond = top_candidates(scores, take)  # wide rows too: cheaper than a copy
        if len(settle) < len(rows):
            pick = torch.from_numpy(settle)
            values, cand, beyond = values[pick], cand[pick], beyond[settle]
        m = len(settle)
        # float32 scores of the candidates (bound: fp32_bound), a block of rows at a time
        approx = torch.empty(m, take)
        with single_thread():
            self._score_candidates(rows[settle], cand, approx, take)
        slack = (p.fp32_bound + p.exact_bound)[rows[settle]]
        outside = beyond * unit[settle] + err[settle] + p.exact_bound[rows[settle]]

        def widen(local: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            j = settle[local]
            limit = np.maximum(np.floor((floor - half[j]) / unit[j]) - 1, -_INT32_MAX).astype(np.int32)
            return self.at_least(scores, j, limit)

        self.exact_topk(rows[settle], cand, approx, slack, outside, widen)
