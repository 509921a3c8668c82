"""The plugin host: built-ins, in-process plugins and entry points, each loaded on its own.

A plugin that fails to import or to register is rolled back and listed with its error by
``cvgl-bench plugins``; the others keep working (pluggy's own entry-point loader stops at the
first failure). ``CVGL_BENCH_STRICT_PLUGINS=1`` makes a failure an error;
``CVGL_BENCH_NO_ENTRYPOINTS=1`` loads built-ins only (the project's own tests).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.metadata
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pluggy

from . import __version__, hookspecs
from .envvars import flag
from .errors import PluginError, UnknownNameError, one_line
from .specs import SPEC_TYPES
from .timebound import PluginTimeout, bounded, plugin_timeout

ENTRY_POINT_GROUP = "cvgl_bench"
DISTRIBUTION = "cvgl-bench"

#: Built-in plugin modules, loaded first, in this order, through the hooks third parties use.
BUILTIN_PLUGINS: tuple[str, ...] = tuple(f"cvgl_bench.builtin.{name}" for name in (
    "cvusa", "cvact", "vigor", "university1652", "data_command", "synth", "metrics", "search", "score_command",
    "new_plugin_command"))


@dataclass
class PluginStatus:
    """What one plugin is, where it came from, what it registered, and why it failed if it did."""

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
        return " ".join(part for part in (self.distribution, self.version) if part) + f" (plugin {self.name!r})"


class Registry:
    """The specs of one kind by name, each with the status of the plugin that registered it.

    A name two distributions register is *contested*: the second plugin fails, and the name
    is usable by neither, whatever order the plugins loaded in (a plugin must not take over
    another's method by its entry point's name). A built-in name is never contested: a plugin
    that registers it fails and the built-in stays."""

    def __init__(self, kind: str):
        self.kind, self.title = kind, kind.replace("_", " ")
        self.entries: dict[str, tuple[Any, PluginStatus]] = {}
        self.contested: dict[str, str] = {}  # name -> why it cannot be used
        self.failed_note = ""  # names the plugins that failed to load: an unknown name may be theirs

    def add(self, spec: Any, origin: PluginStatus) -> None:
        if not isinstance(spec, SPEC_TYPES[self.kind]):
            raise PluginError(f"{origin.origin} registered a {type(spec).__name__} through the {self.title} hook; "
                              f"expected {SPEC_TYPES[self.kind].__name__}")
        first = self.entries[spec.name][1] if spec.name in self.entries else None
        if first is origin:
            raise PluginError(f"{self.title} {spec.name!r} is registered twice by {origin.origin}; register it once")
        if first is not None:
            clash = f"{self.title} {spec.name!r} is registered by {first.origin} and by {origin.origin}"
            if first.builtin:
                raise PluginError(f"{clash}; a built-in name cannot be replaced: rename it")
            fix = ("register it from one entry point" if first.distribution == origin.distribution
                   else "uninstall one of the two distributions")
            self.contested[spec.name] = f"{clash}, so neither is used; {fix}"
            raise PluginError(self.contested[spec.name])
        self.entries[spec.name] = (spec, origin)

    def get(self, name: str, hint: str = "") -> Any:
        """The spec called ``name``; an unknown name raises with a did-you-mean suggestion, a
        contested one with the two distributions that register it."""
        if name in self.contested:
            raise PluginError(self.contested[name])
        if name not in self.entries:
            raise UnknownNameError(self.title, name, self.entries, " ".join(p for p in (hint, self.failed_note) if p))
        return self.entries[name][0]

    def origin(self, name: str) -> PluginStatus:
        self.get(name)
        return self.entries[name][1]

    def names(self) -> list[str]:
        return sorted(set(self.entries) - set(self.contested))

    def __contains__(self, name: object) -> bool:
        return name in self.entries and name not in self.contested

    def __iter__(self) -> Iterator[Any]:
        return iter([self.entries[name][0] for name in self.names()])

    def __len__(self) -> int:
        return len(self.names())


class PluginHost:
    """The pluggy manager, a :class:`Registry` per spec kind and the status of every plugin."""

    def __init__(self, entry_points: bool | None = None, strict: bool | None = None):
        self.use_entry_points = not flag("CVGL_BENCH_NO_ENTRYPOINTS") if entry_points is None else entry_points
        self.strict = flag("CVGL_BENCH_STRICT_PLUGINS") if strict is None else strict
        self.timeout = plugin_timeout()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {kind: Registry(kind) for kind in SPEC_TYPES}
        self.methods, self.datasets, self.splits, self.metrics, self.search_backends = (
            self.registries[kind] for kind in ("method", "dataset", "split", "metric", "search_backend"))
        self.statuses: list[PluginStatus] = []
        self._by_pluggy_name: dict[str, PluginStatus] = {}
        self._extra: list[tuple[Any, str]] = []
        self._loaded = False
        self._strict_error: PluginError | None = None
        self._dropped_sinks: set[tuple[str, str]] = set()

    def add_plugin(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object before loading (tests, notebooks, in-process plugins)."""
        if self._loaded:
            raise RuntimeError("add_plugin must be called before load()")
        self._extra.append((plugin, name or getattr(plugin, "__name__", repr(plugin))))

    def load(self) -> PluginHost:
        """Load built-ins, then plugins added in-process, then entry points; idempotent."""
        if not self._loaded:
            self._loaded = True
            for module in BUILTIN_PLUGINS:
                self._load_one(PluginStatus(module.rsplit(".", 1)[-1], DISTRIBUTION, __version__, True, module),
                               lambda m=module: importlib.import_module(m))
            for plugin, name in self._extra:
                self._load_one(PluginStatus(name, getattr(plugin, "__dist__", "(in-process)"), "", False,
                                            getattr(plugin, "__name__", "")), lambda p=plugin: p)
            for ep in _entry_points() if self.use_entry_points else ():
                dist = getattr(ep, "dist", None)
                status = PluginStatus(ep.name, dist.metadata["Name"] if dist else "(unknown)",
                                      dist.version if dist else "", False, ep.value)
                if ep.group == ENTRY_POINT_GROUP:
                    self._load_one(status, ep.load)
                else:
                    status.error = (f"its entry point is in group {ep.group!r}, which cvgl-bench does not read; "
                                    f"declare it under [project.entry-points.{ENTRY_POINT_GROUP}] (pyproject.toml) or "
                                    f"[options.entry_points] {ENTRY_POINT_GROUP} = ... (setup.cfg)")
                    self.statuses.append(status)
            failed = self.failures()
            note = (f"({len(failed)} plugin(s) failed to load: {', '.join(s.name for s in failed)}; "
                    "see 'cvgl-bench plugins')") if failed else ""
            for registry in self.registries.values():
                registry.failed_note = note
            if failed and self.strict:
                self._strict_error = PluginError(f"plugin {failed[0].origin} failed: {failed[0].error} "
                                                 "(CVGL_BENCH_STRICT_PLUGINS is set)")
                self._strict_error.plugin_traceback = failed[0].traceback  # shown by --debug
        if self._strict_error is not None:
            raise self._strict_error
        return self

    def _load_one(self, status: PluginStatus, get_plugin: Callable[[], Any]) -> None:
        self.statuses.append(status)
        name, added = f"{status.distribution}:{status.name}", []
        try:
            with bounded(self.timeout):
                plugin = get_plugin()
        except PluginTimeout as exc:  # --debug shows where it was stopped
            status.error, status.traceback = f"its import {exc}", traceback.format_exc()
            return
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the host
            status.error, status.traceback = f"import failed: {type(exc).__name__}: {one_line(exc)}", traceback.format_exc()
            return
        try:  # pluggy validates hook names it knows and their arguments
            if self.pm.register(plugin, name=name) is None:
                status.error = "already registered under another name"
                return
        except Exception as exc:  # noqa: BLE001
            status.error, status.traceback = f"invalid plugin: {type(exc).__name__}: {one_line(exc)}", traceback.format_exc()
            return
        self._by_pluggy_name[name] = status
        try:
            marked = {attr: self.pm.parse_hookimpl_opts(plugin, attr) for attr in dir(plugin)}
            hooks = {attr: (opts or {}).get("specname") or attr for attr, opts in marked.items()
                     if opts is not None or (attr.startswith("cvgl_bench_") and callable(getattr(plugin, attr)))}
            unknown = [hook for hook in hooks.values() if getattr(getattr(self.pm.hook, hook, None), "spec", None) is None]
            if unknown:
                raise PluginError(f"unknown hook {unknown[0]!r}; see cvgl_bench.hookspecs for the hook names")
            bare = [attr for attr in hooks if marked[attr] is None]
            if bare:
                raise PluginError(f"{bare[0]} is not decorated with @cvgl_bench.hookimpl, so it would never be called")
            wrappers = [attr for attr, opts in marked.items() if opts and (opts.get("hookwrapper") or opts.get("wrapper"))]
            if wrappers:
                raise PluginError(f"{wrappers[0]} is a hook wrapper, which cvgl-bench never runs (it calls each "
                                  "implementation on its own); drop hookwrapper/wrapper")
            for kind in SPEC_TYPES:
                def register(spec: Any, kind: str = kind) -> None:
                    self.registries[kind].add(spec, status)
                    added.append((kind, spec.name))
                    status.registered.setdefault(kind, []).append(spec.name)

                for call, owner in self.implementations(f"cvgl_bench_register_{kind}s", load=False):
                    if owner is status:
                        with bounded(self.timeout):
                            call(register=register)
        except (Exception, PluginTimeout) as exc:  # noqa: BLE001 - roll back everything this plugin registered
            for kind, spec_name in added:
                del self.registries[kind].entries[spec_name]
            status.registered.clear()
            self.pm.unregister(plugin)
            status.error = (one_line(exc) if isinstance(exc, PluginError) else f"its registration {exc}"
                            if isinstance(exc, PluginTimeout) else f"{type(exc).__name__}: {one_line(exc)}")
            status.traceback = traceback.format_exc()

    def implementations(self, hook: str, load: bool = True) -> Iterator[tuple[Callable[..., Any], PluginStatus | None]]:
        """Each implementation of ``hook`` as a function of the hook's keyword arguments (it is passed
        only those it asks for), with the status of its plugin."""
        if load:
            self.load()
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            def call(_impl: Any = impl, **kwargs: Any) -> Any:
                return _impl.function(**{arg: kwargs[arg] for arg in _impl.argnames})

            yield call, self._by_pluggy_name.get(impl.plugin_name)

    def unresolved_names(self) -> list[str]:
        """Names a registered split uses that nothing registered: its dataset, training split or metrics."""
        problems = []
        for spec in self.load().splits:
            who = f"split {spec.name!r} of {self.splits.origin(spec.name).origin}"
            if spec.dataset not in self.datasets:
                problems.append(f"{who} belongs to dataset {spec.dataset!r}, which no plugin registers")
            if spec.train_split and spec.train_split not in self.splits:
                problems.append(f"{who} trains on {spec.train_split!r}, which no plugin registers")
            elif spec.train_split and self.splits.get(spec.train_split).role != "train":
                problems.append(f"{who} trains on {spec.train_split!r}, which is an evaluation split")
            if spec.twin and spec.twin not in self.splits:
                problems.append(f"{who} names {spec.twin!r} as its twin, which no plugin registers")
            problems += [f"{who} reports metric {metric!r}, which no plugin provides"
                         for metric in spec.metrics or () if metric not in self.metrics]
            problems += [f"{who} reports metric {metric!r}, whose convention option {option!r} it does not offer"
                         for metric in spec.metrics or () if metric in self.metrics
                         and (option := self.metrics.get(metric).convention_option) not in (None, *spec.protocol_options)]
        return problems

    def record_written(self, record: dict, path: Any) -> list[str]:
        """Call every results sink; return one warning line per sink that failed."""
        return self._call_sinks("cvgl_bench_record_written", "results sink", record=record, path=path)

    def training_scalars(self, scalars: dict[str, float], step: int, epoch: int, workdir: Any) -> list[str]:
        """Call every training-scalars sink; one that fails warns once and is not called again."""
        return self._call_sinks("cvgl_bench_training_scalars", "training-scalars sink", drop_failed=True,
                                scalars=scalars, step=step, epoch=epoch, workdir=workdir)

    def _call_sinks(self, hook: str, what: str, drop_failed: bool = False, **kwargs: Any) -> list[str]:
        """Each sink gets its own copy of the arguments (one cannot change what the next receives),
        and what it prints goes to stderr (stdout may be a command's JSON). One that has not
        returned after ``CVGL_BENCH_PLUGIN_TIMEOUT`` seconds is stopped (:func:`bounded`), warned
        about once and not called again, so a hung sink cannot hold the run."""
        warnings = []
        for index, (call, status) in enumerate(self.implementations(hook)):
            who = status.origin if status else f"implementation {index + 1} of {hook}"
            if (hook, who) in self._dropped_sinks:
                continue
            try:
                with contextlib.redirect_stdout(sys.stderr), bounded(self.timeout):
                    call(**copy.deepcopy(kwargs))
            except PluginTimeout as exc:
                self._dropped_sinks.add((hook, who))
                warnings.append(f"{what} of {who} {exc}; it is not called again")
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken sink must not break a run
                if drop_failed:
                    self._dropped_sinks.add((hook, who))
                warnings.append(f"{what} of {who} failed{' and is not called again' if drop_failed else ''}: "
                                f"{type(exc).__name__}: {exc}")
        return warnings

    def failures(self) -> list[PluginStatus]:
        return [s for s in self.statuses if s.error]


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The group's entry points by name, each (name, target) once (a distribution found twice on
    the path lists its entry points twice); then those of near-miss groups (``cvgl-bench``,
    ``cvgl_bench.plugins``), which are never loaded but listed as failed."""
    near = [ep for dist in importlib.metadata.distributions() for ep in dist.entry_points
            if ep.group != ENTRY_POINT_GROUP and "".join(filter(str.isalpha, ep.group.lower())).startswith("cvglbench")]
    unique = {(ep.group, ep.name, ep.value): ep for ep in reversed(
        [*importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), *near])}
    return sorted(unique.values(), key=lambda e: (e.group != ENTRY_POINT_GROUP, e.name))


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
