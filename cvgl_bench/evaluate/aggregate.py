"""A metric over the seeds of one configuration: mean and 95% interval.

With two or more seeds: the mean and a Student-t 95% interval over the seed values. With one
seed: the record's own bootstrap interval over places, marked n=1. A metric missing from some
seed is not averaged at all (``incomplete``), so a mean never mixes different sets of runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class MetricStat:
    """A metric of one configuration, aggregated over its seeds."""

    mean: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    interval: str = ""
    """``t`` (Student t over seeds), ``bootstrap`` (one seed: the record's interval over places),
    ``none`` (one seed without an interval) or ``incomplete`` (missing in some seeds)."""
    missing: int = 0


def t_quantile(df: int, level: float = 0.95) -> float:
    """Two-sided Student t quantile (``scipy.special.stdtrit``: light to import)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.5 + level / 2.0))


def aggregate_metric(values: Sequence[float | None], intervals: Sequence[Sequence[float] | None]) -> MetricStat:
    """Mean and 95% interval of one metric over the seeds' ``values`` (their bootstrap ``intervals``)."""
    n = len(values)
    present = [float(v) for v in values if v is not None]
    if len(present) < n:
        return MetricStat(None, n=len(present), interval="incomplete", missing=n - len(present))
    if n == 1:
        ci = intervals[0]
        if ci and ci[0] is not None and ci[1] is not None:
            return MetricStat(present[0], float(ci[0]), float(ci[1]), 1, "bootstrap")
        return MetricStat(present[0], None, None, 1, "none")
    mean = float(np.mean(present))
    half = t_quantile(n - 1) * float(np.std(present, ddof=1)) / math.sqrt(n)
    return MetricStat(mean, mean - half, mean + half, n, "t")


def mean_per_query(score_lists: Sequence[np.ndarray]) -> np.ndarray:
    """Per-query mean over seeds (every array must cover the same queries, in the same order)."""
    if len({len(s) for s in score_lists}) != 1:
        raise ValueError("per-query scores of different lengths")
    return np.mean(np.stack(score_lists), axis=0)
