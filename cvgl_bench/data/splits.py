"""Loading a split: the one :func:`load_split` of the project.

The runner, ``cvgl-bench score``, ``cvgl-bench data check``, the conformance checks and the
leaderboard's retrieval examples all load a split through it, so every one of them finds the
data folder, resolves the protocol and checks what the dataset plugin returned by the same rules.
A protocol option the split does not have is an error here (never silently dropped); a cell that
applies one option to several splits hands each split only the options it has
(:meth:`cvgl_bench.run.plan.Plan.protocol_for`).
"""

from __future__ import annotations

__all__ = ["load_split", "resolve_protocol"]
"""The one way to read a split and to resolve its protocol (tests/test_toolkit_api.py)."""

import inspect
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..dataroot import resolve_root
from ..errors import ConfigError, DataError, PluginError, UserError
from ..specs import SplitSpec
from .structures import EvalData, TrainData


def load_split(spec: SplitSpec, data_root: str | Path | None = None, protocol: Mapping[str, str] | None = None,
               host: Any = None, *, root: Path | None = None, verify_files: bool = True,
               allow_empty: bool = False, twin_command: str | None = None) -> TrainData | EvalData:
    """Load ``spec`` through its dataset plugin under its protocol (defaults updated by ``protocol``).

    :param data_root: where datasets live (``--data-root``; else ``CVGL_DATA_ROOT``, the config file).
    :param protocol: protocol options to change; an option or value the split does not have is
        a one-line :class:`~cvgl_bench.errors.ConfigError`.
    :param host: the plugin host that registered the split (it names the dataset and the plugin).
    :param root: the dataset's own folder, when the caller found it already (``data check``).
    :param verify_files: ``False`` asks the split reader to skip the per-image existence check
        (``data check`` counts missing files itself; ``score`` needs no image).
    :param allow_empty: return an empty split instead of raising (``data check`` reports its counts).
    :param twin_command: the command to run on synthetic data instead, named when the data is missing.
    :raises PluginError: the split's reader returned the wrong type for the split's role.
    :raises DataError: the split is empty (unless ``allow_empty``).
    """
    if host is None:
        raise TypeError("load_split needs the plugin host (host=...)")
    resolved = resolve_protocol(spec, protocol)
    if root is None:
        root = resolve_root(host.datasets.get(spec.dataset), data_root, spec, twin_command=twin_command)
    reader = spec.load()
    kwargs: dict[str, Any] = {}
    if not verify_files and _accepts(reader, "verify_files"):
        kwargs["verify_files"] = False
    if _accepts(reader, "host", through_kwargs=False):  # a reader that consults other plugins (a synthetic split reads its real twin)
        kwargs["host"] = host
    status = host.splits.origin(spec.name) if spec.name in host.splits else None
    origin = status.origin if status is not None else "its plugin"
    try:
        data = reader(Path(root), dict(resolved), **kwargs)
    except Exception as exc:
        if isinstance(exc, UserError) or (status is not None and status.builtin):
            raise
        # EvalData and TrainData refuse inconsistent arrays with a ValueError raised in cvgl-bench's
        # own code: the fault is still the reader's
        raise PluginError(f"split {spec.name!r} of {origin}: its reader failed: {type(exc).__name__}: {exc}") from exc
    expected = TrainData if spec.role == "train" else EvalData
    if not isinstance(data, expected):
        raise PluginError(f"split {spec.name!r} of {origin} returned {type(data).__name__}, not {expected.__name__} "
                          f"({'a training' if spec.role == 'train' else 'an evaluation'} split)")
    if isinstance(data, EvalData) and data.protocol != resolved:
        # The record is filed under data.protocol: a reader that drops or alters it would file
        # one protocol's numbers under another's name.
        raise PluginError(f"split {spec.name!r} of {origin} was asked for protocol {_options(resolved)} and "
                          f"returned EvalData with protocol {_options(data.protocol)}; pass the protocol the "
                          "reader is given on to EvalData(protocol=...)")
    size = len(data) if isinstance(data, TrainData) else min(len(data.queries), len(data.references))
    if size == 0 and not allow_empty:
        raise DataError(f"split {spec.name!r} under {root} is empty")
    return data


def resolve_protocol(spec: SplitSpec, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The split's default protocol updated with ``overrides``; an option the split does not have,
    or a value it does not allow, is a one-line :class:`~cvgl_bench.errors.ConfigError`."""
    protocol = spec.protocol_defaults()
    for key, value in (overrides or {}).items():
        if key not in spec.protocol_options:
            known = ", ".join(sorted(spec.protocol_options)) or "none"
            raise ConfigError(f"split {spec.name!r} has no protocol option {key!r} (options: {known})")
        if value not in spec.protocol_options[key]:
            raise ConfigError(f"protocol option {key}={value!r} is not one of: {', '.join(spec.protocol_options[key])}")
        protocol[key] = value
    return protocol


def listing_options(option_names: Iterable[str], host: Any) -> list[str]:
    """The options among ``option_names`` that may change what a split lists (its queries,
    references, images or ground truth): every option but those a metric names as its convention
    (``ties``, ``r1pct``...), which only change how stored ranks are scored. Each value of a
    listing option is a benchmark of its own: ``data check`` loads each, and the leaderboard gives
    each its own table."""
    conventions = {metric.convention_option for metric in host.metrics}
    return [key for key in option_names if key not in conventions]


def listing_of(protocol: Mapping[str, str], spec: SplitSpec | None, host: Any) -> dict[str, str]:
    """The split's listing options in ``protocol`` whose value is not the official one: empty for
    the official benchmark. Without the split's plugin (``spec`` None) the official values are
    unknown, so every listing option of ``protocol`` is named."""
    if spec is None:
        return {key: protocol[key] for key in sorted(listing_options(protocol, host))}
    defaults = spec.protocol_defaults()
    return {key: protocol[key] for key in sorted(listing_options(spec.protocol_options, host))
            if key in protocol and protocol[key] != defaults[key]}


def check_protocol_overrides(overrides: Mapping[str, str], specs: Sequence[Any], where: str = "--protocol") -> None:
    """Refuse protocol options that no split of ``specs`` understands, or values a split forbids.

    One protocol is applied to several splits (a grid cell evaluates a model on all of them), so
    a key only some splits know is kept for those; a key none of them knows is a typo, an error.
    """
    for key, value in overrides.items():
        owners = [spec for spec in specs if key in spec.protocol_options]
        if not owners:
            known = sorted({k for spec in specs for k in spec.protocol_options}) or ["none"]
            names = ", ".join(spec.name for spec in specs)
            raise ConfigError(f"{where}: no split of this run ({names}) has a protocol option {key!r} "
                              f"(options: {', '.join(known)})")
        for spec in owners:
            if str(value) not in spec.protocol_options[key]:
                raise ConfigError(f"{where}: protocol option {key}={value!r} is not one of: "
                                  f"{', '.join(spec.protocol_options[key])} (split {spec.name})")


def _options(protocol: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{key}={value}" for key, value in sorted(protocol.items())) + "}"


def _accepts(func: Any, name: str, *, through_kwargs: bool = True) -> bool:
    """Whether ``func`` takes a keyword ``name``: a parameter of that name or, when
    ``through_kwargs``, a ``**kwargs`` catch-all."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or (through_kwargs and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()))
