"""Suite files (``benchmarks/*.yaml``): the one parser, for the grid and the leaderboard alike.

A suite::

    name: synth
    description: ...
    profile: cpu                  # cpu for synthetic suites, paper for the real datasets
    methods: [sample4geo, clnet, safa]
    splits: [synth_cvusa_test, synth_cvact_val]      # in-domain evaluations
    transfer:                     # [training split, evaluation split]
      - [synth_cvusa_train, synth_cvact_val]
    seeds: [0]                    # or a count: 3 means [0, 1, 2]
    seeds_for: {synth_cvusa_test: [0, 1, 2]}    # more seeds for some evaluation splits
    protocol: {}                  # protocol options for every split that has them
    variants:                     # ablations: a method with --set overrides, as extra rows
      - {method: clnet, set: [ncm=off], splits: [synth_cvusa_test]}   # in-domain splits; default all cells

Every problem is a one-line :class:`~cvgl_bench.errors.ConfigError` naming the file; an unknown
key is one too, never ignored. The grid runs the cells a suite names
(:func:`cvgl_bench.run.grid.expand`); the leaderboard keeps the records of those cells
(:meth:`Suite.accepts`), so the two can never disagree on what a suite means.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fsutil import load_yaml, read_text
from ..seedrule import seed_problem

KEYS = ("name", "description", "profile", "methods", "splits", "transfer", "seeds", "seeds_for", "protocol",
        "variants")
VARIANT_KEYS = ("method", "set", "splits")


@dataclass(frozen=True)
class Variant:
    """An ablation of a suite's method: its ``--set`` overrides, on some evaluation splits (all when empty)."""

    method: str
    overrides: tuple[tuple[str, str], ...]
    splits: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The variant as records name it (``gfr=false,nec=false``)."""
        from .overrides import variant_label

        return variant_label(self.overrides)

    def covers(self, eval_split: str, in_domain: bool = True) -> bool:
        """Whether the variant runs on this evaluation: without ``splits`` on every one (in-domain
        and transfer); with ``splits``, on the in-domain evaluations of those splits only (a split
        that is also a transfer pair's target does not take the variant to that pair)."""
        return not self.splits or (in_domain and eval_split in self.splits)


@dataclass(frozen=True)
class Suite:
    """A parsed suite file."""

    name: str
    profile: str
    methods: tuple[str, ...]
    splits: tuple[str, ...] = ()
    transfer: tuple[tuple[str, str], ...] = ()
    seeds: tuple[int, ...] = (0,)
    seeds_for: tuple[tuple[str, tuple[int, ...]], ...] = ()
    protocol: tuple[tuple[str, str], ...] = ()
    variants: tuple[Variant, ...] = ()
    description: str = ""
    path: str = field(default="", compare=False)

    def seeds_of(self, eval_split: str) -> tuple[int, ...]:
        """The seeds the suite runs for ``eval_split``: ``seeds`` plus its ``seeds_for`` entry."""
        return tuple(sorted(set(self.seeds) | set(dict(self.seeds_for).get(eval_split, ()))))

    def accepts(self, method: str, profile: str, seed: int, task: str, train_split: str | None,
                eval_split: str, variant: str = "") -> bool:
        """Whether the suite runs this cell (a record of it belongs to the suite): its method or one
        of its variants (by label, ``ncm=off``), profile, seed, task and splits."""
        if method not in self.methods or profile != self.profile or int(seed) not in self.seeds_of(eval_split):
            return False
        if variant and not any(v.method == method and v.label == variant and v.covers(eval_split, task != "transfer")
                               for v in self.variants):
            return False
        if task == "transfer":
            return (str(train_split), eval_split) in self.transfer
        return eval_split in self.splits

    def protocol_of(self, spec: Any) -> dict[str, str]:
        """The protocol a record of evaluation split ``spec`` has in this suite: the split's defaults
        with the suite's options that the split has."""
        from ..data.splits import resolve_protocol

        return resolve_protocol(spec, {key: value for key, value in self.protocol if key in spec.protocol_options})


SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
"""The suites shipped with the package (``benchmarks/*.yaml`` of a source checkout link to them)."""


def shipped_suites() -> dict[str, Path]:
    """``{name: file}`` of the suites shipped with the package (``synth``, ``cvusa``, ...)."""
    return {path.stem: path for path in sorted(SUITES_DIR.glob("*.yaml"))}


def suite_path(name_or_path: str | os.PathLike) -> Path:
    """A suite file: ``name_or_path`` itself when it exists or looks like a path, else the shipped
    suite of that name (``synth`` -> the package's ``suites/synth.yaml``)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    shipped = shipped_suites()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ConfigError(f"no suite file {path} and no shipped suite of that name (shipped: {', '.join(shipped)})")


MAX_SEED_COUNT = 1000
"""The largest count ``seeds: N`` expands (to 0 .. N-1); more seeds are listed one by one."""


def load_suite(path: str | os.PathLike) -> Suite:
    """Read and check a suite file, or a shipped suite by name (:func:`suite_path`)."""
    import yaml

    path = suite_path(path)
    try:
        data = load_yaml(read_text(path))
    except OSError as exc:
        raise ConfigError(f"cannot read suite {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"suite {path} is not UTF-8 text; a suite is a YAML file "
                          "(benchmarks/synth.yaml is the shipped default)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"suite {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_suite(data, str(path))


def parse_suite(data: Any, where: str = "suite") -> Suite:
    """A :class:`Suite` from a suite's parsed YAML (``where`` names it in errors)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a suite must be a YAML mapping (keys: {', '.join(KEYS)})")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(KEYS))})")
    for key in ("methods", "splits"):
        if not _names(data.get(key, [])):
            raise ConfigError(f"{where}: {key!r} must be a list of names")
    if not data.get("methods"):
        raise ConfigError(f"{where}: no methods listed")
    transfer = []
    if not isinstance(data.get("transfer") or [], list):
        raise ConfigError(f"{where}: 'transfer' must be a list of [training split, evaluation split] pairs, not "
                          f"{type(data['transfer']).__name__}")
    for item in data.get("transfer") or []:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ConfigError(f"{where}: each transfer entry must be [training split, evaluation split], got {item!r}")
        transfer.append((item[0], item[1]))
    seeds = data.get("seeds", [0])
    if _count(seeds):
        if seeds > MAX_SEED_COUNT:
            raise ConfigError(f"{where}: seeds: {seeds} asks for more than {MAX_SEED_COUNT:,} seeds; list the seeds "
                              "you mean")
        seeds = list(range(seeds))
    seeds_for = data.get("seeds_for") or {}
    if not isinstance(seeds_for, dict) or not all(isinstance(k, str) and _ints(v) for k, v in seeds_for.items()):
        raise ConfigError(f"{where}: seeds_for must map evaluation splits to lists of integers, e.g. "
                          "{synth_cvusa_test: [0, 1, 2]}")
    if not _ints(seeds):
        raise ConfigError(f"{where}: seeds must be lists of integers (or a count for 'seeds')")
    for seed in [*seeds, *(s for v in seeds_for.values() for s in v)]:
        if seed_problem(seed):
            raise ConfigError(f"{where}: {seed_problem(seed)}")
    protocol = data.get("protocol") or {}
    if not isinstance(protocol, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                 for v in protocol.values()):
        raise ConfigError(f"{where}: protocol must map protocol options to values, e.g. {{ties: loose}}")
    if not isinstance(data.get("profile", "cpu"), str):
        raise ConfigError(f"{where}: 'profile' must be one profile name")
    for key in ("name", "description"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{where}: {key!r} must be text, not {type(data[key]).__name__}")
    variants = _variants(data.get("variants") or [], list(data["methods"]),
                         set(data.get("splits") or ()) | {evaluation for _, evaluation in transfer},
                         set(data.get("splits") or ()), where)
    return Suite(name=str(data.get("name") or Path(where).stem), profile=str(data.get("profile", "cpu")),
                 methods=tuple(data["methods"]), splits=tuple(data.get("splits") or ()), transfer=tuple(transfer),
                 seeds=tuple(sorted(set(seeds))),
                 seeds_for=tuple(sorted((str(k), tuple(sorted(set(v)))) for k, v in seeds_for.items())),
                 protocol=tuple(sorted((str(k), str(v)) for k, v in protocol.items())), variants=variants,
                 description=str(data.get("description", "")), path=where)


def _variants(items: Any, methods: list[str], evaluations: set[str], in_domain: set[str],
              where: str) -> tuple[Variant, ...]:
    """The suite's ``variants`` entries, each checked: a listed method, well-formed ``set`` items
    (``KEY=VALUE``, as ``run --set``), and splits the suite evaluates."""
    from .overrides import parse_set

    if not isinstance(items, list):
        raise ConfigError(f"{where}: variants must be a list of {{method, set, splits}} entries")
    out = []
    for item in items:
        if not isinstance(item, dict) or set(item) - set(VARIANT_KEYS) or "method" not in item or "set" not in item:
            raise ConfigError(f"{where}: each variant is {{method: NAME, set: [KEY=VALUE, ...], splits: [...]}} "
                              f"(splits optional), got {item!r}")
        if item["method"] not in methods:
            raise ConfigError(f"{where}: variant of {item['method']!r}, which the suite's methods do not list")
        settings = [item["set"]] if isinstance(item["set"], str) else item["set"]
        if not _names(settings) or not settings:
            raise ConfigError(f"{where}: variant set must be KEY=VALUE strings, got {item['set']!r}")
        splits = item.get("splits") or []
        if not _names(splits) or set(splits) - evaluations:
            raise ConfigError(f"{where}: variant splits must be evaluation splits of the suite, got {splits!r}")
        only_transfer = sorted(set(splits) - in_domain)
        if only_transfer:  # Variant.covers: a variant with splits runs on their in-domain evaluations only
            raise ConfigError(f"{where}: variant splits name {only_transfer[0]}, which the suite evaluates only as a "
                              "transfer target; a variant's splits are in-domain evaluations (leave splits out to "
                              "run it on every evaluation, transfers included)")
        variant = Variant(str(item["method"]), parse_set(settings), tuple(splits))
        twin = next((v for v in out if v.method == variant.method and v.label == variant.label), None)
        if twin is not None:
            raise ConfigError(f"{where}: variant {variant.method} [{variant.label}] is listed twice (however its "
                              "set items are spelled or ordered, they make one configuration); list it once")
        out.append(variant)
    return tuple(out)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _ints(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, int) and not isinstance(x, bool)
                                                           for x in value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
