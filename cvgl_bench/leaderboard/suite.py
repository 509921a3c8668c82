"""Restrict a leaderboard to the cells of benchmark suites (``benchmarks/*.yaml``).

A suite names ``methods``, in-domain evaluation ``splits``, ``transfer`` pairs
``[train_split, eval_split]``, ``seeds`` (a list, or a count meaning 0..n-1) and a ``profile``
(one name or a list). Unknown keys are ignored, so the suite format can grow without breaking
the leaderboard. A missing key does not restrict; a suite that names ``splits`` or
``transfer`` admits exactly those tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..suitefile import read_suite_yaml


@dataclass(frozen=True)
class SuiteFilter:
    """Which cells a suite asks for (``None`` = no restriction on that dimension)."""

    name: str
    methods: frozenset[str] | None = None
    splits: frozenset[str] | None = None
    transfer: frozenset[tuple[str, str]] | None = None
    seeds: tuple[int, ...] | None = None
    profiles: frozenset[str] | None = None
    seeds_for: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """Extra seeds per evaluation split (the suite's ``seeds_for``), as the grid runs them."""

    def seeds_of(self, eval_split: str) -> tuple[int, ...] | None:
        """The seeds this suite runs for ``eval_split``: ``seeds`` plus its ``seeds_for`` entry."""
        if self.seeds is None:
            return None
        extra = dict(self.seeds_for).get(eval_split, ())
        return tuple(sorted(set(self.seeds) | set(extra)))

    def accepts(self, method: str, profile: str, seed: int, task: str, train_split: str | None,
                eval_split: str) -> bool:
        """Whether a record of this cell belongs to the suite."""
        if self.methods is not None and method not in self.methods:
            return False
        if self.profiles is not None and profile not in self.profiles:
            return False
        seeds = self.seeds_of(eval_split)
        if seeds is not None and int(seed) not in seeds:
            return False
        if self.splits is None and self.transfer is None:
            return True
        if task == "transfer":
            return self.transfer is not None and (str(train_split), eval_split) in self.transfer
        return self.splits is not None and eval_split in self.splits


def _names(value: Any, key: str, where: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: '{key}' must be a list of names")
    names = set()
    for item in value:
        if isinstance(item, dict) and "name" in item:
            item = item["name"]
        if not isinstance(item, str):
            raise ConfigError(f"{where}: '{key}' must be a list of names, got {item!r}")
        names.add(item)
    return frozenset(names)


def parse_suite(data: Any, where: str = "suite") -> SuiteFilter:
    """A :class:`SuiteFilter` from a suite's parsed YAML."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a suite must be a YAML mapping with methods/splits/transfer/seeds/profile")
    transfer = None
    if data.get("transfer") is not None:
        pairs = set()
        for pair in data["transfer"]:
            if isinstance(pair, dict):
                pair = (pair.get("train"), pair.get("eval"))
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(p, str) for p in pair):
                raise ConfigError(f"{where}: each 'transfer' entry must be [train_split, eval_split], got {pair!r}")
            pairs.add((pair[0], pair[1]))
        transfer = frozenset(pairs)
    seeds = data.get("seeds")
    if seeds is not None:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = tuple(range(seeds))
        elif isinstance(seeds, (list, tuple)) and all(isinstance(s, int) for s in seeds):
            seeds = tuple(sorted(set(seeds)))
        else:
            raise ConfigError(f"{where}: 'seeds' must be a list of integers or a count")
    seeds_for = data.get("seeds_for") or {}
    if not isinstance(seeds_for, dict) or not all(
            isinstance(v, (list, tuple)) and all(isinstance(s, int) for s in v) for v in seeds_for.values()):
        raise ConfigError(f"{where}: 'seeds_for' must map evaluation splits to lists of integers")
    profile = data.get("profile", data.get("profiles"))
    return SuiteFilter(
        seeds_for=tuple(sorted((str(k), tuple(sorted(set(v)))) for k, v in seeds_for.items())),
        name=str(data.get("name") or where),
        methods=_names(data["methods"], "methods", where) if data.get("methods") is not None else None,
        splits=_names(data["splits"], "splits", where) if data.get("splits") is not None else None,
        transfer=transfer,
        seeds=seeds,
        profiles=_names(profile, "profile", where) if profile is not None else None,
    )


def read_suites(paths: Iterable[str | Path]) -> list[SuiteFilter]:
    """Parse suite files; an unreadable one is a one-line :class:`ConfigError`."""
    return [parse_suite(read_suite_yaml(path), str(path)) for path in paths]


def expected_seeds(suites: Sequence[SuiteFilter], method: str, profile: str, task: str,
                   train_split: str | None, eval_split: str) -> tuple[int, ...] | None:
    """The seeds the suites ask of this cell (union), or None when no suite says."""
    wanted: set[int] = set()
    said = False
    for suite in suites:
        seeds = suite.seeds_of(eval_split)
        if seeds is None:
            continue
        if any(suite.accepts(method, profile, s, task, train_split, eval_split) for s in seeds):
            said = True
            wanted.update(seeds)
    return tuple(sorted(wanted)) if said else None
