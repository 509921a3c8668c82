"""Spec objects: what a plugin hands to a ``register`` callback.

A spec is cheap metadata plus a *lazy loader*: a ``"package.module:attribute"`` string (or a
callable) that is resolved only when the thing is used. Listing methods, splits or metrics
therefore never imports a model, torch, or a dataset reader.

Names: ``loader`` means only this field, the lazy reference, and ``spec.load()`` resolves it.
What it resolves to has its own name: a method factory (``MethodSpec``), a split *reader*
(``SplitSpec``: ``reader(root, protocol)`` returns the split's data), a dataset *checker*
(``DatasetSpec``), a metric function (``MetricSpec``) and a search-backend factory.

Spec fields are public API (``SPEC_API_VERSION``): fields are added, never renamed or removed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PluginError

#: Version of the hook and spec API that plugins are written against. Bumped (minor) when a
#: field or hook argument is added; a major bump would mean a breaking change, which the
#: project promises not to make within 1.x. Each version's hooks, spec fields and ``Method``
#: interface are frozen in ``tests/test_plugin_api.py`` and documented in ``docs/plugins.md``.
SPEC_API_VERSION = "1.1"

VIEWS = ("ground", "drone", "satellite")
LAYOUTS = ("cvusa", "cvact", "vigor", "university1652")

Loader = "str | Callable[..., Any]"


def resolve(loader: Any, what: str = "object") -> Any:
    """Import a ``"module:attr"`` loader, or return a callable loader as it is."""
    if callable(loader):
        return loader
    if not isinstance(loader, str) or ":" not in loader:
        raise PluginError(f"{what}: loader must be 'module:attribute' or a callable, got {loader!r}")
    module_name, _, attr = loader.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure of plugin code is reported
        raise PluginError(f"{what}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{what}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _check_name(kind: str, name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-.@%" for c in name) or name != name.lower():
        raise PluginError(f"{kind} name {name!r} must be lower-case letters, digits and _-.@%")


@dataclass(frozen=True)
class _Spec:
    """Common part of every spec."""

    name: str
    loader: Any = field(repr=False)
    summary: str = ""

    def load(self) -> Any:
        """Resolve the lazy loader (imports the plugin's heavy module)."""
        return resolve(self.loader, f"{type(self).__name__[:-4].lower()} {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly metadata (the loader is shown as its import path)."""
        data = asdict(self)
        loader = data.pop("loader")
        data["loader"] = loader if isinstance(loader, str) else getattr(loader, "__qualname__", repr(loader))
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data


@dataclass(frozen=True)
class MethodSpec(_Spec):
    """A trainable CVGL method.

    ``loader`` resolves to a zero-argument callable (usually a :class:`cvgl_bench.method.Method`
    subclass) that returns the method object.
    """

    paper: str = ""
    """Citation of the method's paper (title, venue, arXiv id)."""
    official: bool = True
    """False for re-implementations that are not the authors' code."""
    notes: str = ""
    """Caveats a reader of a leaderboard must know (guessed design choices, deviations)."""
    profiles: tuple[str, ...] = ("paper", "cpu")
    tags: tuple[str, ...] = ()
    views: tuple[str, ...] = VIEWS
    """The views the method can embed (SAFA's polar transform needs ground panoramas, for example);
    a split with another view is refused for this method and skipped by grids."""

    def __post_init__(self) -> None:
        _check_name("method", self.name)
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise PluginError(f"method {self.name!r}: unknown view {sorted(unknown)[0]!r}")
        for required in ("paper", "cpu"):
            if required not in self.profiles:
                raise PluginError(f"method {self.name!r} must offer a {required!r} profile")

    def load(self) -> Any:
        """Return the method object (instantiated)."""
        from .method import Method

        factory = super().load()
        try:
            method = factory()
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"method {self.name!r}: building it failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(method, Method):
            raise PluginError(f"method {self.name!r}: its loader returned {type(method).__name__}, not a "
                              "cvgl_bench.method.Method (subclass it, or cvgl_bench.train.base.ContrastiveMethod)")
        return method


    def supports(self, split: SplitSpec) -> bool:
        """Whether this method can embed both views of ``split``."""
        return {split.query_view, split.reference_view} <= set(self.views)


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A dataset family (CVUSA, VIGOR, a synthetic world...): where its files live, how to get it.

    ``loader`` may be ``None``; when given it resolves to ``check(root: Path) -> dict``, the
    validator behind ``cvgl-bench data check``.
    """

    folder: str = ""
    """Folder name under ``CVGL_DATA_ROOT`` (``CVUSA``, ``CVACT``, ``VIGOR``, ``University-1652``)."""
    homepage: str = ""
    obtain: str = ""
    """One sentence: how to obtain the data (the official request procedure)."""
    license: str = ""
    synthetic: bool = False

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)


@dataclass(frozen=True)
class SplitSpec(_Spec):
    """A named split of a dataset: a training split or an evaluation split.

    ``loader`` resolves to ``load(root: Path, protocol: dict) -> TrainData | EvalData``
    (:mod:`cvgl_bench.data.structures`), where ``root`` is the dataset's folder and
    ``protocol`` holds every option of ``protocol_options`` (defaults filled in).
    """

    dataset: str = ""
    role: str = "eval"
    """``train`` or ``eval``."""
    layout: str = ""
    """On-disk format family (one of ``LAYOUTS``); methods pick per-dataset recipes by it."""
    query_view: str = "ground"
    reference_view: str = "satellite"
    train_split: str | None = None
    """For an evaluation split: the training split of the in-domain task."""
    protocol_options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each named convention this split understands and its allowed values; first is the default."""
    metrics: tuple[str, ...] = ()
    """Metrics reported by default, in table order."""
    expected_counts: Mapping[str, int] = field(default_factory=dict)
    """Official sizes (``queries``, ``references``, ``pairs``) for ``data check``."""
    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Image size (H, W) on disk per view, for the real data."""
    twin: str | None = None
    """The synthetic twin of a real split (or the real original of a synthetic one)."""
    synthetic: bool = False

    def __post_init__(self) -> None:
        _check_name("split", self.name)
        if self.role not in ("train", "eval"):
            raise PluginError(f"split {self.name!r}: role must be 'train' or 'eval', not {self.role!r}")
        for view in (self.query_view, self.reference_view):
            if view not in VIEWS:
                raise PluginError(f"split {self.name!r}: unknown view {view!r}; views are {', '.join(VIEWS)}")

    def protocol_defaults(self) -> dict[str, str]:
        """The default value of every protocol option (the official convention)."""
        return {key: values[0] for key, values in self.protocol_options.items()}

    def resolve_protocol(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Defaults updated with ``overrides``; unknown keys or values are a one-line error."""
        from .errors import ConfigError

        protocol = self.protocol_defaults()
        for key, value in (overrides or {}).items():
            if key not in self.protocol_options:
                known = ", ".join(sorted(self.protocol_options)) or "none"
                raise ConfigError(f"split {self.name!r} has no protocol option {key!r} (options: {known})")
            if value not in self.protocol_options[key]:
                allowed = ", ".join(self.protocol_options[key])
                raise ConfigError(f"protocol option {key}={value!r} is not one of: {allowed}")
            protocol[key] = value
        return protocol


@dataclass(frozen=True)
class MetricSpec(_Spec):
    """A retrieval metric computed from stored ranks.

    ``loader`` resolves to ``per_query(ranks, data, protocol) -> numpy.ndarray`` returning one
    score per query in [0, 1]; the metric's value is their mean (in %), which makes a
    bootstrap over queries possible for every metric.
    """

    higher_is_better: bool = True
    convention_option: str | None = None
    """The protocol option that changes this metric's convention, if any (recorded with it)."""

    def __post_init__(self) -> None:
        _check_name("metric", self.name)


@dataclass(frozen=True)
class SearchBackendSpec(_Spec):
    """An exact search backend that turns embeddings into ranks.

    ``loader`` resolves to a zero-argument factory of an object with
    ``rank(query, reference, truth, device=None) -> RankTable``.
    """

    requires: tuple[str, ...] = ()
    """Importable modules it needs (``faiss``); a missing one makes it unavailable, not broken."""

    def __post_init__(self) -> None:
        _check_name("search backend", self.name)

    def available(self) -> bool:
        """Whether every required module can be imported here."""
        import importlib.util

        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)


SPEC_TYPES: Mapping[str, type] = {
    "method": MethodSpec,
    "dataset": DatasetSpec,
    "split": SplitSpec,
    "metric": MetricSpec,
    "search_backend": SearchBackendSpec,
}
