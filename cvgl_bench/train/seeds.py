"""Seeds: the global generators' seeding, and seeds hashed from integers.

The one home of both, for the runner (model initialisation), the trainer (data order, each
epoch) and the augmentation (each sample). Torch is imported only when a seed is set.
"""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (data order, augmentation, init)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed hashed from integers (run seed, rank, epoch, sample, purpose...).

    The mask is applied to a Python int: numpy before 2.0 cannot ``&`` a uint64 with an int."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0]) & (2**63 - 1)
