"""Exact ranks from per-query result lists (a k-NN list or a range-search result).

A result list of a query must hold every reference whose screening score is at least the
lowest band edge ``lo`` of the query's entries. Then, per entry, references scoring above its
``hi`` are certainly more similar, and those in ``[lo, hi]`` are settled by exact values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def ordered_keys(values: np.ndarray) -> np.ndarray:
    """float32 values -> uint64 keys with the same order (and -0.0 == +0.0)."""
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.uint32).astype(np.uint64)
    negative = bits >= np.uint64(0x80000000)
    return np.where(negative, np.uint64(0xFFFFFFFF) - bits, bits + np.uint64(0x80000000))


def ranks_from_lists(lims: np.ndarray, values: np.ndarray, ids: np.ndarray, owner_of_entry: np.ndarray,
                     hi: np.ndarray, lo: np.ndarray, own: np.ndarray, query_rows: np.ndarray,
                     exact: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(rank_strict, rank_loose) of entries from CSR result lists of their queries.

    :param lims: (m + 1,) offsets of each query's results in ``values`` / ``ids``.
    :param owner_of_entry: for each entry, the index (0..m-1) of its query's list.
    :param hi, lo: float32 band edges per entry; ``own`` its exact similarity.
    :param query_rows: global row of each of the m queries (for ``exact``).
    """
    lims = np.asarray(lims, dtype=np.int64)
    sizes = np.diff(lims)
    owner = np.repeat(np.arange(len(sizes), dtype=np.uint64), sizes)
    key = (owner << np.uint64(32)) | ordered_keys(values)
    order = np.argsort(key, kind="stable")
    key = key[order]
    ids = np.asarray(ids, dtype=np.int64)[order]
    base = np.asarray(owner_of_entry, dtype=np.uint64) << np.uint64(32)
    end = lims[np.asarray(owner_of_entry) + 1]
    above_hi = np.searchsorted(key, base | ordered_keys(hi), side="right")
    from_lo = np.searchsorted(key, base | ordered_keys(lo), side="left")
    strict = end - above_hi
    loose = strict.copy()
    width = above_hi - from_lo
    if width.sum():
        entry = np.repeat(np.arange(len(width)), width)
        position = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width) + np.repeat(from_lo, width)
        value = exact(query_rows[np.asarray(owner_of_entry)[entry]], ids[position])
        strict += np.bincount(entry, weights=value > own[entry], minlength=len(width)).astype(np.int64)
        loose += np.bincount(entry, weights=value >= own[entry], minlength=len(width)).astype(np.int64) - 1
    return strict, loose
