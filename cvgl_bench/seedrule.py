"""What a seed may be: one rule for a run's seeds, a suite's, a record's and the synthetic world's.

Seeds are 0 .. 2**32 - 1: every generator a run seeds (Python, numpy, torch) takes them, and the
synthetic generator tells every one of them apart (a wider seed, or a negative one, was cut to
64 bits there, so ``synth --seed -1`` made the world of seed 2**64 - 1 under another name).
"""

from __future__ import annotations

MAX_SEED = 2**32 - 1
"""The largest seed."""


def seed_problem(seed: object) -> str | None:
    """Why ``seed`` cannot be a seed (one phrase), or None when it can."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"seeds are integers, not {seed!r}"
    if not 0 <= seed <= MAX_SEED:
        return f"seeds are integers from 0 to {MAX_SEED}, not {seed}"
    return None
