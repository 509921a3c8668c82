"""The plugin host: built-ins and entry points, loaded one at a time, failures kept apart.

pluggy's own ``load_setuptools_entrypoints`` stops at the first plugin that fails to import.
Here each entry point of the group ``cvgl_bench`` is loaded on its own; a failure is
recorded (``cvgl-bench plugins`` lists it with its error) and the rest keeps working.
``CVGL_BENCH_STRICT_PLUGINS=1`` turns any failure into an error. ``CVGL_BENCH_NO_ENTRYPOINTS=1``
loads built-ins only (used by the project's own tests).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pluggy

from . import __version__, hookspecs
from .errors import PluginError, UnknownNameError
from .specs import SPEC_TYPES

ENTRY_POINT_GROUP = "cvgl_bench"
DISTRIBUTION = "cvgl-bench"

#: Built-in plugin modules (``cvgl_bench.builtin``), loaded before any entry point, in this order,
#: through the same hooks third parties use. Named as strings: the host never imports above itself.
BUILTIN_PLUGINS: tuple[str, ...] = tuple(f"cvgl_bench.builtin.{name}" for name in (
    "cvusa", "cvact", "vigor", "university1652", "data_command", "synth", "metrics", "search", "score_command",
    "new_plugin_command"))

#: Register hooks in the order they run, with the spec kind each one registers.
REGISTER_HOOKS = {
    "cvgl_bench_register_datasets": "dataset",
    "cvgl_bench_register_splits": "split",
    "cvgl_bench_register_metrics": "metric",
    "cvgl_bench_register_search_backends": "search_backend",
    "cvgl_bench_register_methods": "method",
}


@dataclass
class PluginStatus:
    """What one plugin is, where it came from and what it registered."""

    name: str
    distribution: str
    version: str
    builtin: bool
    module: str = ""
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly status (``cvgl-bench plugins --json``), without the traceback."""
        data = {k: v for k, v in asdict(self).items() if k != "traceback"}
        data["registered"] = {k: sorted(v) for k, v in self.registered.items() if v}
        return data

    @property
    def origin(self) -> str:
        return f"{self.distribution} {self.version} (plugin {self.name!r})"


class Registry:
    """Specs of one kind by name, with the plugin that registered each."""

    def __init__(self, kind: str):
        self.kind = kind
        self.title = kind.replace("_", " ")
        self._specs: dict[str, Any] = {}
        self._origin: dict[str, PluginStatus] = {}
        self.failed_note = ""
        """Set by the host when plugins failed to load: a name asked for may be theirs."""

    def add(self, spec: Any, origin: PluginStatus) -> None:
        expected = SPEC_TYPES[self.kind]
        if not isinstance(spec, expected):
            raise PluginError(
                f"{origin.origin} registered a {type(spec).__name__} through the "
                f"{self.title} hook; expected {expected.__name__}"
            )
        if spec.name in self._specs:
            other = self._origin[spec.name]
            raise PluginError(
                f"{self.title} {spec.name!r} is registered twice: by {other.origin} and by "
                f"{origin.origin}; uninstall one of the two distributions"
            )
        self._specs[spec.name] = spec
        self._origin[spec.name] = origin

    def remove(self, name: str) -> None:
        self._specs.pop(name, None)
        self._origin.pop(name, None)

    def get(self, name: str, hint: str = "") -> Any:
        """The spec called ``name``; an unknown name raises with a did-you-mean suggestion (and,
        when plugins failed to load, names them: the name may be one of theirs)."""
        try:
            return self._specs[name]
        except KeyError:
            hint = " ".join(part for part in (hint, self.failed_note) if part)
            raise UnknownNameError(self.title, name, self._specs, hint) from None

    def origin(self, name: str) -> PluginStatus:
        self.get(name)
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)


class PluginHost:
    """Owns the pluggy manager, the registries and the status of every plugin."""

    def __init__(self, entry_points: bool | None = None, strict: bool | None = None):
        if entry_points is None:
            entry_points = os.environ.get("CVGL_BENCH_NO_ENTRYPOINTS", "") not in ("1", "true", "yes")
        if strict is None:
            strict = os.environ.get("CVGL_BENCH_STRICT_PLUGINS", "") in ("1", "true", "yes")
        self.strict = strict
        self.use_entry_points = entry_points
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {kind: Registry(kind) for kind in SPEC_TYPES}
        self.methods, self.datasets, self.splits, self.metrics, self.search_backends = (
            self.registries[kind] for kind in ("method", "dataset", "split", "metric", "search_backend"))
        self.statuses: list[PluginStatus] = []
        self._loaded = False
        self._extra: list[tuple[Any, str]] = []
        self._strict_error: PluginError | None = None
        self._dropped_sinks: set[tuple[str, str]] = set()  # (hook, plugin) pairs not called again
        self._statuses_by_name: dict[str, PluginStatus] = {}  # by the name pluggy knows each plugin by

    # -- loading ------------------------------------------------------------------------------
    def add_plugin(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object before loading (tests, notebooks, in-process plugins)."""
        if self._loaded:
            raise RuntimeError("add_plugin must be called before load()")
        self._extra.append((plugin, name or getattr(plugin, "__name__", repr(plugin))))

    def load(self) -> PluginHost:
        """Load built-ins, then plugins added in-process, then entry points; idempotent."""
        if self._loaded:
            if self._strict_error is not None:
                raise self._strict_error
            return self
        self._loaded = True
        for module_name in BUILTIN_PLUGINS:
            status = PluginStatus(module_name.rsplit(".", 1)[-1], DISTRIBUTION, __version__, True, module_name)
            self._load_one(status, lambda m=module_name: importlib.import_module(m))
        for plugin, name in self._extra:
            status = PluginStatus(name, getattr(plugin, "__dist__", "(in-process)"), "", False,
                                  getattr(plugin, "__name__", ""))
            self._load_one(status, lambda p=plugin: p)
        if self.use_entry_points:
            for ep in _entry_points():
                dist = getattr(ep, "dist", None)
                status = PluginStatus(
                    ep.name,
                    dist.metadata["Name"] if dist is not None else "(unknown)",
                    dist.version if dist is not None else "",
                    False,
                    ep.value,
                )
                self._load_one(status, ep.load)
        failed = [s for s in self.statuses if s.error]
        if failed:
            note = (f"({len(failed)} plugin(s) failed to load: {', '.join(s.name for s in failed)}; "
                    "see 'cvgl-bench plugins')")
            for registry in self.registries.values():
                registry.failed_note = note
        if failed and self.strict:
            first = failed[0]
            self._strict_error = PluginError(f"plugin {first.origin} failed: {first.error} (CVGL_BENCH_STRICT_PLUGINS is set)")
            raise self._strict_error
        return self

    def unresolved_names(self) -> list[str]:
        """Names a registered split uses that nothing registered: its dataset, training split or metrics."""
        self.load()
        problems = []
        for spec in self.splits:
            who = f"split {spec.name!r} of {self.splits.origin(spec.name).origin}"
            if spec.dataset not in self.datasets:
                problems.append(f"{who} belongs to dataset {spec.dataset!r}, which no plugin registers")
            if spec.train_split and spec.train_split not in self.splits:
                problems.append(f"{who} trains on {spec.train_split!r}, which no plugin registers")
            for metric in spec.metrics or ():
                if metric not in self.metrics:
                    problems.append(f"{who} reports metric {metric!r}, which no plugin provides")
        return problems

    def _load_one(self, status: PluginStatus, get_plugin: Callable[[], Any]) -> None:
        self.statuses.append(status)
        try:
            plugin = get_plugin()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the host
            status.error = f"import failed: {type(exc).__name__}: {exc}"
            status.traceback = traceback.format_exc()
            return
        try:
            registered_name = self.pm.register(plugin, name=f"{status.distribution}:{status.name}")
            self._statuses_by_name[f"{status.distribution}:{status.name}"] = status
        except Exception as exc:  # noqa: BLE001 - e.g. pluggy validation of a misspelt hook argument
            status.error = f"invalid plugin: {type(exc).__name__}: {exc}"
            status.traceback = traceback.format_exc()
            return
        if registered_name is None:
            status.error = "already registered under another name"
            return
        unknown = [
            name for name in dir(plugin)
            if name.startswith("cvgl_bench_") and getattr(getattr(self.pm.hook, name, None), "spec", None) is None
        ]
        if unknown:
            self.pm.unregister(plugin)
            status.error = f"unknown hook {unknown[0]!r}; see cvgl_bench.hookspecs for the hook names"
            return
        added: list[tuple[str, str]] = []
        try:
            for hook_name, kind in REGISTER_HOOKS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is not plugin:
                        continue

                    def register(spec: Any, _kind: str = kind) -> None:
                        self.registries[_kind].add(spec, status)
                        added.append((_kind, spec.name))
                        status.registered.setdefault(_kind, []).append(spec.name)

                    impl.function(**_accepted({"register": register}, impl.argnames))
        except Exception as exc:  # noqa: BLE001
            for kind, name in added:
                self.registries[kind].remove(name)
            status.registered.clear()
            self.pm.unregister(plugin)
            status.error = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            status.traceback = traceback.format_exc()

    # -- other hooks --------------------------------------------------------------------------
    def implementations(self, hook: str) -> Iterator[tuple[Callable[..., Any], PluginStatus | None]]:
        """Each implementation of ``hook`` as a function taking the hook's keyword arguments
        (only those it asks for are passed), with the status of its plugin."""
        self.load()
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            def call(_impl: Any = impl, **kwargs: Any) -> Any:
                return _impl.function(**_accepted(kwargs, _impl.argnames))

            yield call, self._statuses_by_name.get(impl.plugin_name)

    def record_written(self, record: dict, path: Any) -> list[str]:
        """Call every results sink; return one warning line per sink that failed."""
        return self._call_sinks("cvgl_bench_record_written", {"record": record, "path": path}, "results sink")

    def training_scalars(self, scalars: dict[str, float], step: int, epoch: int, workdir: Any) -> list[str]:
        """Call every training-scalars sink; a sink that fails is dropped for the rest of the process,
        with one warning line returned."""
        return self._call_sinks("cvgl_bench_training_scalars",
                                {"scalars": scalars, "step": step, "epoch": epoch, "workdir": workdir},
                                "training-scalars sink", drop_failed=True)

    def _call_sinks(self, hook: str, kwargs: dict[str, Any], what: str, drop_failed: bool = False) -> list[str]:
        """Call every implementation of ``hook``; a failure becomes a warning line, never an error
        (with ``drop_failed``, that implementation is not called again in this process)."""
        warnings = []
        for index, (call, status) in enumerate(self.implementations(hook)):
            who = status.origin if status else f"implementation {index + 1} of {hook}"
            if (hook, who) in self._dropped_sinks:
                continue
            try:
                call(**kwargs)
            except Exception as exc:  # noqa: BLE001 - a broken sink must not break a run
                if drop_failed:
                    self._dropped_sinks.add((hook, who))
                warnings.append(f"{what} of {who} failed{' and is not called again' if drop_failed else ''}: "
                                f"{type(exc).__name__}: {exc}")
        return warnings

    def failures(self) -> list[PluginStatus]:
        return [s for s in self.statuses if s.error]


def _accepted(kwargs: dict[str, Any], argnames: Iterable[str]) -> dict[str, Any]:
    """Pass only the hook arguments an implementation asks for (fewer is allowed)."""
    unknown = [a for a in argnames if a not in kwargs]
    if unknown:
        raise PluginError(f"hook implementation asks for unknown argument {unknown[0]!r}")
    return {name: kwargs[name] for name in argnames}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The group's entry points by name, each (name, target) once (a distribution found twice on
    the path lists its entry points twice)."""
    unique: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        unique.setdefault((ep.name, ep.value), ep)
    return sorted(unique.values(), key=lambda e: e.name)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST.load()


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Replace the process-wide host (tests); returns the previous one."""
    global _HOST
    previous, _HOST = _HOST, host
    return previous
