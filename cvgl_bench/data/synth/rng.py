"""Deterministic random streams keyed by names, independent of call order and process.

Every random decision of the generator draws from a stream derived from the user seed and a
tuple of keys (``"world", 3, "trees"``), so a world, a capture or an image can be rebuilt on
its own, in any worker process, and comes out identical.
"""

from __future__ import annotations

import zlib

import numpy as np


def _words(key: object) -> list[int]:
    if isinstance(key, (int, np.integer)):
        value = int(key)
        return [value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF]
    data = str(key).encode("utf-8")
    return [zlib.crc32(data), zlib.adler32(data), len(data)]


def stream(seed: int, *keys: object) -> np.random.Generator:
    """A generator fully determined by ``seed`` and ``keys`` (strings or integers)."""
    entropy: list[int] = _words(seed)
    for key in keys:
        entropy.extend(_words(key))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def sub_seed(seed: int, *keys: object) -> int:
    """A 63-bit integer seed derived like :func:`stream` (for handing to other code)."""
    return int(stream(seed, *keys).integers(0, 2**63 - 1))
