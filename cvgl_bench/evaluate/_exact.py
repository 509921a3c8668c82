"""The exact similarity of a (query, reference) pair, and error bounds of the fast passes.

Exact value. ``ExactPairs`` evaluates inner products in float64 on the CPU: every product of
two float32 numbers is exact in float64, and the sum over the D coordinates follows one fixed
order per pair (a contiguous row reduction whose order depends on D only). So a pair gets the
same value whichever chunk, device, backend or screen asked for it, identical embeddings tie
exactly, and the value differs from the real inner product by at most ``exact_error_bound``
(about 1e-13 for unit vectors), far below float32 resolution.

Fast passes (an fp32 matrix product on CPU or GPU, an int8 product on CPU) are only screens:
each comes with a rigorous bound on |pass value - real inner product|, and a comparison with
the exact value of a labelled entry is decided by a pass only when the margin exceeds the sum
of both bounds. Everything closer is recomputed here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

U32 = 2.0 ** -24
"""Unit roundoff of float32."""
U64 = 2.0 ** -53
"""Unit roundoff of float64."""
_SUBNORMAL32 = 2.0 ** -149
_SUBNORMAL64 = 2.0 ** -1074
_REDUCE_BLOCK = 8192
"""Columns summed per reduction call: keeps torch from splitting one row's sum across threads."""


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run small, memory-bound torch operations on one thread.

    Gathers and row sums of a few thousand rows gain little from a second thread, and on a
    machine shared with other processes every parallel region waits for a descheduled thread
    (measured on 2 shared cores: 5-10x slower than one thread). Large products keep all threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): bound of the relative error of any n-term sum order."""
    return n * u / (1.0 - n * u)


def fp32_product_bound(query_norms: np.ndarray, max_reference_norm: float, dim: int) -> np.ndarray:
    """Per query, a bound on |fp32 inner product (any summation order, FMA or not) - real value|.

    |fl(q.r) - q.r| <= gamma_D sum|q_k r_k| <= gamma_D ||q|| ||r||, plus D absolute units of
    float32 underflow.
    """
    return gamma(dim, U32) * query_norms * max_reference_norm * (1 + 1e-12) + 2 * dim * _SUBNORMAL32


def exact_error_bound(query_norms: np.ndarray, max_reference_norm: float, dim: int) -> np.ndarray:
    """Per query, a bound on |ExactPairs value - real inner product| (float64 summation)."""
    return gamma(dim + 1, U64) * query_norms * max_reference_norm * (1 + 1e-12) + 2 * dim * _SUBNORMAL64


def row_norms(x: torch.Tensor, block: int = 4096) -> np.ndarray:
    """Euclidean norm of every row, computed in float64 (rounded up by a relative 1e-12)."""
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), block):
        part = x[start:start + block].to(torch.float64)
        out[start:start + len(part)] = torch.linalg.vector_norm(part, dim=1).numpy()
    return out * (1 + 1e-12)


class ExactPairs:
    """Exact inner products of arbitrary (query row, reference row) pairs, float64, on the CPU.

    ``query`` and ``reference`` are float32 CPU tensors; calls gather the rows they need in blocks
    of bounded size (``memory_mb``), so any number of pairs can be asked for.
    """

    def __init__(self, query: torch.Tensor, reference: torch.Tensor, memory_mb: float = 32):
        self.query = query
        self.reference = reference
        self.dim = query.shape[1]
        # Each pair needs two float32 rows and two float64 rows of work space.
        self.block = max(1, int(memory_mb * 2 ** 20 // (24 * max(self.dim, 1))))
        self._buffers: tuple[torch.Tensor, ...] | None = None
        self.pairs_computed = 0

    def _work(self, n: int) -> tuple[torch.Tensor, ...]:
        if self._buffers is None or self._buffers[0].shape[0] < n:
            size = min(self.block, max(n, 256))
            self._buffers = (torch.empty(size, self.dim), torch.empty(size, self.dim),
                             torch.empty(size, self.dim, dtype=torch.float64),
                             torch.empty(size, self.dim, dtype=torch.float64))
        return tuple(b[:n] for b in self._buffers)

    def __call__(self, query_rows: np.ndarray, reference_rows: np.ndarray) -> np.ndarray:
        """The exact similarity of each pair ``(query_rows[i], reference_rows[i])`` (float64)."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        reference_rows = np.asarray(reference_rows, dtype=np.int64)
        out = np.empty(len(query_rows), dtype=np.float64)
        self.pairs_computed += len(out)
        if self.dim == 0:
            out[:] = 0.0
            return out
        with single_thread():
            self._fill(out, query_rows, reference_rows)
        return out

    def _fill(self, out: np.ndarray, query_rows: np.ndarray, reference_rows: np.ndarray) -> None:
        for start in range(0, len(out), self.block):
            stop = min(start + self.block, len(out))
            n = stop - start
            q32, r32, q64, r64 = self._work(n)
            torch.index_select(self.query, 0, torch.from_numpy(query_rows[start:stop]), out=q32)
            torch.index_select(self.reference, 0, torch.from_numpy(reference_rows[start:stop]), out=r32)
            q64.copy_(q32)
            r64.copy_(r32)
            r64.mul_(q64)  # exact: a product of two float32 numbers fits in float64
            out[start:stop] = self._row_sums(r64).numpy()

    @staticmethod
    def _row_sums(x: torch.Tensor) -> torch.Tensor:
        """Row sums in an order fixed by the row length alone."""
        if x.shape[1] <= _REDUCE_BLOCK:
            return x.sum(dim=1)
        total = torch.zeros(x.shape[0], dtype=x.dtype)
        for start in range(0, x.shape[1], _REDUCE_BLOCK):
            total += x[:, start:start + _REDUCE_BLOCK].sum(dim=1)
        return total


def float32_above(x: np.ndarray) -> np.ndarray:
    """The smallest float32 values >= x (x float64)."""
    y = x.astype(np.float32)
    low = y.astype(np.float64) < x
    y[low] = np.nextafter(y[low], np.float32(np.inf))
    return y


def float32_below(x: np.ndarray) -> np.ndarray:
    """The largest float32 values <= x (x float64)."""
    y = x.astype(np.float32)
    high = y.astype(np.float64) > x
    y[high] = np.nextafter(y[high], np.float32(-np.inf))
    return y
