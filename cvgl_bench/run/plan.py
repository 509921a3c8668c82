"""Planning a cell: every name resolved and checked, the hparams resolved, before any work.

Everything a user can get wrong (names, roles, views, profiles, protocol options, ``--set``
keys, image sizes) fails here with one line, so a typo never costs a training run.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..data.splits import check_protocol_overrides
from ..errors import ConfigError, PluginError
from ..method import check_hparams, plain_json_problem
from ..evaluate.scoring import DEFAULT_METRICS
from ..specs import MethodSpec, SplitSpec
from .cell import Cell
from .overrides import apply_overrides


@dataclass
class Plan:
    """A cell with every name resolved and checked."""

    cell: Cell
    method_spec: MethodSpec
    train_spec: SplitSpec
    eval_specs: list[SplitSpec]

    def protocol_for(self, spec: SplitSpec) -> dict[str, str]:
        """The cell's protocol options that evaluation split ``spec`` has (the others are for its siblings)."""
        return {key: value for key, value in self.cell.protocol if key in spec.protocol_options}

    def twin_command(self) -> str | None:
        """The ``cvgl-bench run`` of the cell's synthetic twin: the same method on the twins of its
        evaluation splits (and of its training split, for a transfer); None when a split has no
        twin or the cell is synthetic already. Named when real data is missing.

        The profile is left out, so ``--profile auto`` picks the twin's own (``cpu`` on synthetic data).
        """
        specs = [*self.eval_specs, self.train_spec]
        if any(spec.synthetic or not spec.twin for spec in specs):
            return None
        words = ["cvgl-bench", "run", "--method", self.cell.method]
        for spec in self.eval_specs:
            words += ["--dataset", spec.twin]
        if self.cell.train_split is not None and any(spec.train_split != self.train_spec.name
                                                     for spec in self.eval_specs):
            words += ["--train-on", self.train_spec.twin]
        return " ".join(shlex.quote(word) for word in words)


def plan(cell: Cell, host: Any) -> Plan:
    """Resolve and check every name of ``cell`` against ``host``; raises one-line errors before any work."""
    method_spec = host.methods.get(cell.method)
    if cell.profile not in method_spec.profiles:
        raise ConfigError(f"method {cell.method!r} has no profile {cell.profile!r} "
                          f"(profiles: {', '.join(method_spec.profiles)})")
    if not cell.eval_splits:
        raise ConfigError("no evaluation split given; pass --dataset SPLIT")
    eval_specs = [_eval_spec(host, name, cell, method_spec) for name in cell.eval_splits]
    check_protocol_overrides(dict(cell.protocol), eval_specs, where=f"{cell}: protocol")
    train_name = cell.train_split
    if train_name is None:
        in_domain = {spec.train_split for spec in eval_specs}
        if len(in_domain) != 1 or None in in_domain:
            raise ConfigError(f"evaluation splits {', '.join(cell.eval_splits)} do not share one training split; "
                              "pass --train-on SPLIT or run them separately")
        train_name = in_domain.pop()
    train_spec = host.splits.get(train_name)
    if train_spec.role != "train" and cell.train_split is None:
        origin = host.splits.origin(eval_specs[0].name).origin
        raise PluginError(f"split {eval_specs[0].name!r} of {origin} names {train_name!r} as its training split, "
                          "which is an evaluation split; pass --train-on SPLIT, and tell the plugin's authors")
    if train_spec.role != "train":
        raise ConfigError(f"--train-on {train_name!r} is an evaluation split; pick a training split")
    train_views = {train_spec.query_view, train_spec.reference_view}
    for spec in eval_specs:
        if {spec.query_view, spec.reference_view} != train_views:
            raise ConfigError(f"{train_name} trains {' and '.join(sorted(train_views))} views but {spec.name} "
                              f"evaluates {spec.query_view} -> {spec.reference_view}")
    return Plan(cell, method_spec, train_spec, eval_specs)


def _eval_spec(host: Any, name: str, cell: Cell, method_spec: MethodSpec) -> SplitSpec:
    spec = host.splits.get(name)
    if spec.role != "eval":
        hint = "; evaluate on one of its evaluation splits or pass it as --train-on" if spec.role == "train" else ""
        raise ConfigError(f"{name!r} is a training split, not an evaluation split{hint}")
    if not method_spec.supports(spec):
        raise ConfigError(f"method {cell.method!r} cannot embed {spec.query_view} -> {spec.reference_view} "
                          f"({name}); it handles {', '.join(method_spec.views)} views")
    for metric in spec.metrics or DEFAULT_METRICS:
        host.metrics.get(metric, hint=f"(split {name} reports it; install the plugin that provides it)")
    return spec


def resolve_hparams(method: Any, cell: Cell, train_spec: SplitSpec) -> dict[str, Any]:
    """The method's hparams for the cell's profile and training split, with the cell's overrides
    merged in and checked again (:func:`cvgl_bench.method.check_hparams`)."""
    hparams = method.hparams(cell.profile, train_spec)
    _check_image_sizes(cell.method, hparams, train_spec)
    if cell.overrides:
        refuse_unread(method, cell.method, cell.overrides)
        hparams = apply_overrides(hparams, cell.overrides, method=cell.method)
        check_hparams(method, hparams)
        _check_image_sizes(cell.method, hparams, train_spec)
    problem = plain_json_problem(hparams)
    if problem:
        raise PluginError(f"method {cell.method!r}: hparams({cell.profile!r}, {train_spec.name}) is not plain JSON "
                          f"data ({problem}); return numbers, strings, lists and dicts (e.g. float(x) for a NumPy "
                          "scalar)")
    return hparams


def refuse_unread(method: Any, name: str, overrides: Any) -> None:
    """A ``--set`` of a key the method's model never reads (:attr:`Method.unread_hparams`) is one
    line: its variant would change nothing but the run's name."""
    for key, _ in overrides:
        top = key.split(".")[0]
        if top in method.unread_hparams:
            raise ConfigError(f"--set {key}: {name} does not read {top} ({method.unread_hparams[top]}), so a "
                              "variant of it would change nothing but the run's name")


def _check_image_sizes(method: str, hparams: Mapping[str, Any], train_spec: SplitSpec) -> None:
    sizes = hparams.get("image_size") if isinstance(hparams, Mapping) else None
    needed = {train_spec.query_view, train_spec.reference_view}
    if not isinstance(sizes, Mapping) or not needed <= set(sizes):
        raise PluginError(f"method {method!r}: hparams['image_size'] must give [H, W] for views "
                          f"{', '.join(sorted(needed))}")
    for view in sorted(needed):
        size = sizes[view]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise ConfigError(f"method {method!r}: image_size of {view} must be [H, W] in pixels, not {size!r}")
