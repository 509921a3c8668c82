"""Specs: what a plugin hands to a ``register`` callback (fields: docs/plugins.md, Part 4).

A spec is metadata plus a lazy ``loader``, ``"package.module:attribute"`` or a callable,
resolved by ``spec.load()`` only when the thing is used: listing never imports torch. Fields are
public API (``SPEC_API_VERSION``): added, never renamed or removed.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PluginError
from .timebound import PluginTimeout, bounded, plugin_timeout

#: Version of the hook and spec API, frozen per version in tests/test_plugin_api.py; a field or
#: hook argument added bumps the minor version.
SPEC_API_VERSION = "1.3"

VIEWS = ("ground", "drone", "satellite")
LAYOUTS = ("cvusa", "cvact", "vigor", "university1652")


#: What a name (a spec's, or a scored record's method) may be. It names files and folders
#: (``runs/<method>/``, record files), so: ASCII, lower case, starting with a letter or a digit
#: (``..`` would climb out of ``runs/``, ``-x`` reads as an option), at most 64 characters.
NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_.@%+-]{0,63}")
NAME_RULE_TEXT = "a-z, 0-9 and _.@%+-, starting with a letter or a digit, at most 64 characters (it names files)"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PluginError(message)


@dataclass(frozen=True)
class _Spec:
    name: str
    loader: Any = field(repr=False)
    summary: str = ""

    def __post_init__(self) -> None:
        kind = type(self).__name__[:-4].lower().replace("searchbackend", "search backend")
        _check(isinstance(self.name, str) and NAME_RULE.fullmatch(self.name) is not None,
               f"{kind} name {self.name!r} must be {NAME_RULE_TEXT}")
        _check(callable(self.loader) or (isinstance(self.loader, str) and ":" in self.loader)
               or (self.loader is None and kind == "dataset"),
               f"{kind} {self.name!r}: loader must be 'module:attribute' or a callable, got {self.loader!r}")

    def load(self) -> Any:
        """Resolve the lazy loader: import ``"module:attr"`` (the plugin's heavy module), or return
        the callable. An import still running after ``CVGL_BENCH_PLUGIN_TIMEOUT`` seconds is stopped."""
        what = f"{type(self).__name__[:-4].lower().replace('searchbackend', 'search backend')} {self.name!r}"
        if callable(self.loader):
            return self.loader
        _check(isinstance(self.loader, str) and ":" in self.loader,
               f"{what}: loader must be 'module:attribute' or a callable, got {self.loader!r}")
        try:
            with bounded(plugin_timeout()):
                return pkgutil.resolve_name(self.loader)
        except PluginTimeout as exc:  # an import that never finishes (a lock, a server that never answers)
            raise PluginError(f"{what}: importing {self.loader!r} {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - any failure of plugin code is reported
            raise PluginError(f"{what}: cannot import {self.loader!r}: {type(exc).__name__}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly metadata (the loader is shown as its import path)."""
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.loader is not None and not isinstance(self.loader, str):
            data["loader"] = getattr(self.loader, "__qualname__", repr(self.loader))
        return data


@dataclass(frozen=True)
class MethodSpec(_Spec):
    """A trainable method (``paper``: its citation); the loader gives a zero-argument factory of a
    ``cvgl_bench.method.Method``.

    ``official``: True for the method's authors' code, False for a re-implementation, None (the
    default since API 1.2) when the plugin does not say, which the leaderboard shows as such;
    ``notes`` are the caveats a leaderboard reader must know; ``views`` are the views it can
    embed (a split with another view is refused)."""

    paper: str = ""
    official: bool | None = None
    notes: str = ""
    profiles: tuple[str, ...] = ("paper", "cpu")
    tags: tuple[str, ...] = ()
    views: tuple[str, ...] = VIEWS

    def __post_init__(self) -> None:
        super().__post_init__()
        for view in self.views:
            _check(view in VIEWS, f"method {self.name!r}: unknown view {view!r}")
        for profile in self.profiles:
            _check(isinstance(profile, str) and NAME_RULE.fullmatch(profile) is not None,
                   f"method {self.name!r}: profile name {profile!r} must be {NAME_RULE_TEXT}")
        for required in ("paper", "cpu"):
            _check(required in self.profiles, f"method {self.name!r} must offer a {required!r} profile")

    def load(self) -> Any:
        """Return the method object (instantiated)."""
        from .method import Method

        factory = super().load()
        _check(not isinstance(factory, Method), f"method {self.name!r}: its loader names a Method instance; name "
               f"its class, or a function that returns a new instance")
        try:
            with bounded(plugin_timeout()):
                method = factory()
        except PluginTimeout as exc:
            raise PluginError(f"method {self.name!r}: building it {exc}") from exc
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"method {self.name!r}: building it failed: {type(exc).__name__}: {exc}") from exc
        _check(isinstance(method, Method),
               f"method {self.name!r}: its loader returned {type(method).__name__}, not a cvgl_bench.method.Method "
               "(subclass it, or cvgl_bench.train.base.ContrastiveMethod)")
        return method

    def supports(self, split: SplitSpec) -> bool:
        """Whether this method can embed both views of ``split``."""
        return {split.query_view, split.reference_view} <= set(self.views)


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A dataset family: its ``folder`` under ``CVGL_DATA_ROOT`` and how to ``obtain`` it; the
    loader, optional, gives ``check(root) -> dict`` for ``cvgl-bench data check``."""

    folder: str = ""
    homepage: str = ""
    obtain: str = ""
    license: str = ""
    synthetic: bool = False


@dataclass(frozen=True)
class SplitSpec(_Spec):
    """A training (``role="train"``) or evaluation split of ``dataset``; the loader gives
    ``load(root, protocol) -> TrainData | EvalData``.

    ``protocol_options`` maps each convention the split understands to its allowed values, the
    official one first; ``train_split`` is the in-domain training split of an evaluation split;
    ``layout`` (one of ``LAYOUTS``) picks a method's per-dataset recipe; ``twin`` names the
    synthetic twin of a real split, or the real original of a synthetic one. ``metrics`` are
    reported by default, in table order; ``expected_counts`` (``queries``, ``references``,
    ``pairs``) and ``image_sizes`` ((H, W) per view) are the official figures of the real data."""

    dataset: str = ""
    role: str = "eval"
    layout: str = ""
    query_view: str = "ground"
    reference_view: str = "satellite"
    train_split: str | None = None
    protocol_options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    expected_counts: Mapping[str, int] = field(default_factory=dict)
    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    twin: str | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.role in ("train", "eval"), f"split {self.name!r}: role must be 'train' or 'eval', not {self.role!r}")
        for view in (self.query_view, self.reference_view):
            _check(view in VIEWS, f"split {self.name!r}: unknown view {view!r}; views are {', '.join(VIEWS)}")
        for name in ("protocol_options", "expected_counts", "image_sizes"):
            _check(isinstance(getattr(self, name), Mapping), f"split {self.name!r}: {name} must be a dict, not "
                   f"{type(getattr(self, name)).__name__}")
        for key, values in self.protocol_options.items():
            _check(isinstance(key, str) and isinstance(values, (tuple, list)) and len(values) == len(set(values)) > 0
                   and all(isinstance(v, str) and v for v in values), f"split {self.name!r}: protocol option "
                   f"{key!r} must list its values as a tuple of distinct strings, the official one first; got {values!r}")
        for key, count in self.expected_counts.items():
            _check(key in ("queries", "references", "pairs") and type(count) is int and count >= 0,
                   f"split {self.name!r}: expected_counts maps queries, references or pairs to a count, not "
                   f"{key!r}: {count!r}")

    def protocol_defaults(self) -> dict[str, str]:
        """The default value of every protocol option (the official convention)."""
        return {key: values[0] for key, values in self.protocol_options.items()}


@dataclass(frozen=True)
class MetricSpec(_Spec):
    """A metric; the loader gives ``per_query(ranks, data, protocol)``, one score in [0, 1] per
    query, whose mean (in %) is the value. ``convention_option`` names the protocol option that
    changes its convention, if any."""

    higher_is_better: bool = True
    convention_option: str | None = None


@dataclass(frozen=True)
class SearchBackendSpec(_Spec):
    """An exact search backend; the loader gives a factory of an object with ``rank(query,
    reference, truth, device=None) -> RankTable``. A missing module of ``requires`` makes it
    unavailable, not broken."""

    requires: tuple[str, ...] = ()

    def available(self) -> bool:
        """Whether every required module can be imported here."""
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)


#: Each spec kind, in the order its register hook runs.
SPEC_TYPES: Mapping[str, type] = {"dataset": DatasetSpec, "split": SplitSpec, "metric": MetricSpec,
                                  "search_backend": SearchBackendSpec, "method": MethodSpec}
