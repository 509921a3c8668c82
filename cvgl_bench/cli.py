"""The ``cvgl-bench`` command line: parse, call the library, print.

Errors a user can cause end in one line on stderr and exit code 2; ``--debug`` (or
``CVGL_BENCH_DEBUG=1``) shows the traceback instead. Plugins add commands through the
``cvgl_bench_register_commands`` hook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__, envvars
from .console import command_host as host
from .console import (PathName, check_resamples, debug_enabled, echo_json, echo_table, note_unread_data_root,
                      note_unused_options, warn_failures)
from .errors import (ConfigError, PluginError, Terminated, UserError, interruption_of, path_advice,
                     raise_on_sigterm)
from .run.cell import MAX_GPUS_PER_CELL
from .train.context import MAX_LOADER_WORKERS, MAX_THREADS


class OneLineUsageError(click.UsageError):
    """A usage error (unknown option, invalid value) shown as one ``Error:`` line that names
    the help to read, instead of click's usage block; exit code 2 as before."""

    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{where}", err=True, file=file)


class PluginGroup(click.Group):
    """Root group: adds plugin commands on first lookup and turns user errors into one line."""

    _plugins_added = False
    _plugin_commands: set[str] = set()
    _plugin_failures: list[str] = []

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from exc

    def _ensure_plugins(self) -> None:
        if not PluginGroup._plugins_added:
            PluginGroup._plugins_added = True
            from .plugins import get_host

            try:
                self._add_plugin_commands(get_host())
            except UserError as exc:  # strict plugin mode: report at invocation time
                self._load_error = exc

    def _add_plugin_commands(self, host: Any) -> None:
        """Let every plugin add commands (``cvgl_bench_register_commands``), one plugin at a time.

        A plugin that fails, or that would replace a command that exists already, is marked failed
        and leaves the commands as they were. A command two plugins add is run by neither (as for
        a name two plugins register: the order plugins load in must not decide whose runs)."""
        from .timebound import PluginTimeout, bounded

        added_by: dict[str, Any] = {}
        for call, status in host.implementations("cvgl_bench_register_commands"):
            before, contested = dict(self.commands), None
            try:
                with bounded(host.timeout):
                    call(cli=self)
                shadowed = [n for n, c in before.items() if self.commands.get(n) is not c]
                if shadowed and shadowed[0] in added_by:
                    contested = shadowed[0]
                    raise PluginError(f"command {contested!r} is added by {_origin(added_by[contested])} too, so "
                                      "neither is used; uninstall one of the two")
                if shadowed:
                    raise PluginError(f"command {shadowed[0]!r} exists already and cannot be replaced")
            except (Exception, PluginTimeout) as exc:  # noqa: BLE001 - a broken plugin must not break the command line
                self.commands.clear()
                self.commands.update(before)
                if contested is not None:
                    self.commands[contested] = _contested_command(contested, added_by[contested], status)
                if status is not None:
                    status.error = f"registering commands failed: {exc}"
                continue
            new = sorted(set(self.commands) - set(before))
            added_by.update((name, status) for name in new)
            if status is not None and new:
                status.registered.setdefault("command", []).extend(new)
        PluginGroup._plugin_commands = set(added_by)
        PluginGroup._plugin_failures = [s.name for s in host.failures()]

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        """A plugin's command warns about failed plugins as the built-ins do; an unknown command
        may be one that a failed plugin would have added, and its error says so."""
        from .plugins import get_host

        try:
            name, command, rest = super().resolve_command(ctx, args)
        except click.UsageError as exc:
            failed = PluginGroup._plugin_failures
            if failed:
                exc.message += (f" ({len(failed)} plugin(s) failed to load, and may have added it: "
                                f"{', '.join(failed)}; see 'cvgl-bench plugins')")
            raise
        if name in PluginGroup._plugin_commands:
            warn_failures(get_host())
        return name, command, rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._ensure_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._ensure_plugins()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            self._ensure_plugins()
            error = getattr(self, "_load_error", None)
            if error is not None:
                raise error
            return super().invoke(ctx)
        except Terminated:
            _terminated(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from exc
        except click.ClickException as exc:  # a plugin command's own error: one line, as ours
            if debug_enabled(ctx):
                raise
            click.echo(f"Error: {exc.format_message()}", err=True)
            ctx.exit(2)
        except UserError as exc:
            if debug_enabled(ctx):
                if getattr(exc, "plugin_traceback", None):
                    click.echo(f"the plugin's own traceback:\n{exc.plugin_traceback.rstrip()}", err=True)
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if exc.filename is None or debug_enabled(ctx):
                raise  # not about a path the user can fix
            click.echo(f"Error: {exc.filename}: {exc.strerror or exc}; {path_advice(exc)} (--debug shows the "
                       "traceback)", err=True)
            ctx.exit(2)
        except Exception as exc:
            interrupt = interruption_of(exc)
            if interrupt is not None and not debug_enabled(ctx):  # Ctrl-C inside a writer's cleanup
                if isinstance(interrupt, Terminated):
                    _terminated(ctx)
                raise click.Abort() from None
            culprit = None if isinstance(exc, (click.exceptions.Exit, click.Abort)) else _plugin_at_fault(exc)
            if culprit is None:
                raise
            import traceback

            traceback.print_exc()
            click.echo(f"cvgl-bench: the error above was raised in the code of {culprit}; report it to that "
                       "plugin's authors", err=True)
            ctx.exit(1)


def _origin(status: Any) -> str:
    return status.origin if status is not None else "a plugin"


def _contested_command(name: str, first: Any, second: Any) -> click.Command:
    """A command two plugins add: running it is one line naming both."""
    why = f"command {name!r} is added by {_origin(first)} and by {_origin(second)}, so neither is used; uninstall one"

    def refuse(**_: Any) -> None:
        raise PluginError(why)

    return click.Command(name, callback=refuse, help=f"(unusable) {why}", context_settings={
        "ignore_unknown_options": True, "allow_extra_args": True})


def _terminated(ctx: click.Context) -> None:
    click.echo("cvgl-bench: terminated (SIGTERM); rerun the same command to resume: finished work is kept",
               err=True)
    ctx.exit(143)


def _plugin_at_fault(exc: BaseException) -> str | None:
    """The plugin whose code raised ``exc`` ("plugin 'x' of dist 1.0 (file.py:12)"), or None.

    The innermost frame that belongs to cvgl-bench or to a plugin decides: libraries (torch,
    numpy) called from a plugin's code are the plugin's, called from cvgl-bench's are not."""
    from .plugins import get_host

    try:
        statuses = get_host().statuses
    except Exception:  # noqa: BLE001 - naming the plugin is a courtesy; the traceback follows anyway
        return None
    packages: dict[str, list[Any]] = {}
    for status in statuses:  # a package may hold several entry points: name the loaded ones
        if not status.builtin and status.module and not status.error:
            packages.setdefault(status.module.split(":")[0].split(".")[0], []).append(status)
    packages.pop("cvgl_bench", None)
    frames, tb = [], exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    for frame, line in reversed(frames):
        package = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if package == "cvgl_bench":
            return None
        if package in packages:
            owners = packages[package]
            who = owners[0].origin if len(owners) == 1 else (
                f"{owners[0].distribution} {owners[0].version} (plugins {', '.join(repr(s.name) for s in owners)})")
            return f"{who} ({Path(frame.f_code.co_filename).name}:{line})"
    return None


def _one_line(exc: click.UsageError) -> click.UsageError:
    # a group called without a command shows its help (click >= 8.2 raises NoArgsIsHelpError for it)
    if isinstance(exc, OneLineUsageError) or type(exc).__name__ == "NoArgsIsHelpError":
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cvgl-bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """cvgl-bench: train and evaluate cross-view geo-localization methods under one protocol."""
    envvars.flag("CVGL_BENCH_DEBUG")  # a value that is no switch (``ture``) is refused, not read as off


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List plugins: distribution, version, what each registered, and load errors."""
    from .plugins import get_host

    h = get_host()

    def contested(status: Any) -> list[str]:  # names it registered that another distribution claims too
        return [h.registries[kind].contested[name] for kind, names in status.registered.items() for name in names
                if kind in h.registries and name in h.registries[kind].contested]

    if as_json:
        echo_json([{**s.to_dict(), "contested": contested(s)} for s in h.statuses])
    else:
        rows = []
        for s in h.statuses:
            what = "; ".join(f"{kind}: {_names(names)}" for kind, names in s.registered.items() if names)
            claimed = contested(s)
            rows.append({"plugin": s.name, "distribution": f"{s.distribution} {s.version}".strip(),
                         "status": f"FAILED: {' '.join(s.error.split())}" if s.error else
                         f"CONTESTED: {claimed[0]}" if claimed else "ok",
                         "registered": what or "-"})
        echo_table(rows, "no plugins loaded")
    for problem in h.unresolved_names():
        click.echo(f"warning: {problem}", err=True)


def _names(names: list[str], most: int = 4) -> str:
    """A plugin's names of one kind for the table; a long list is counted (--json lists them all)."""
    names = sorted(names)
    return ", ".join(names) if len(names) <= most else f"{', '.join(names[:most - 1])} and {len(names) - most + 1} more"


def _spec_rows(registry: Any, fields: tuple[str, ...], h: Any) -> list[dict[str, Any]]:
    rows = []
    for spec in registry:
        row = {"name": spec.name}
        for f in fields:
            value = getattr(spec, f)
            row[f] = ", ".join(map(str, value)) if isinstance(value, (tuple, list)) else value
        row["from"] = registry.origin(spec.name).distribution
        rows.append(row)
    return rows


def _spec_json(registry: Any) -> list[dict[str, Any]]:
    out = []
    for spec in registry:
        data = spec.to_dict()
        origin = registry.origin(spec.name)
        data["distribution"], data["version"] = origin.distribution, origin.version
        out.append(data)
    return out


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def methods(as_json: bool) -> None:
    """List registered methods (never imports a model)."""
    h = host()
    if as_json:
        echo_json(_spec_json(h.methods))
        return
    rows = _spec_rows(h.methods, ("summary", "profiles"), h)
    for row, spec in zip(rows, h.methods):
        if spec.official is False:
            row["summary"] = f"{row['summary']} [unofficial re-implementation]"
    echo_table(rows, "no methods registered")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def datasets(as_json: bool) -> None:
    """List datasets and their training and evaluation splits."""
    h = host()
    if as_json:
        echo_json({"datasets": _spec_json(h.datasets), "splits": _spec_json(h.splits)})
        return
    rows = []
    for spec in h.splits:
        views = f"{spec.query_view} -> {spec.reference_view}"
        rows.append({"split": spec.name, "dataset": spec.dataset, "role": spec.role, "views": views,
                     "trains on": spec.train_split or "-", "metrics": ", ".join(spec.metrics) or "-"})
    echo_table(rows, "no splits registered")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def metrics(as_json: bool) -> None:
    """List registered metrics and the protocol option that sets each one's convention."""
    h = host()
    if as_json:
        echo_json(_spec_json(h.metrics))
        return
    echo_table(_spec_rows(h.metrics, ("summary", "convention_option"), h), "no metrics registered")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backends(as_json: bool) -> None:
    """List exact search backends and whether each can run here."""
    h = host()
    problems = {spec.name: _backend_problem(spec) for spec in h.search_backends}
    if as_json:
        data = _spec_json(h.search_backends)
        for item, spec in zip(data, h.search_backends):
            item["available"] = problems[spec.name] is None
            item["problem"] = problems[spec.name]
        echo_json(data)
        return
    rows = _spec_rows(h.search_backends, ("summary",), h)
    for row, spec in zip(rows, h.search_backends):
        row["available"] = "yes" if problems[spec.name] is None else f"no ({problems[spec.name]})"
    echo_table(rows, "no search backends registered")


def _backend_problem(spec: Any) -> str | None:
    """Why the search backend ``spec`` cannot run here (a required module, or its loader, does
    not import), or None."""
    if not spec.available():
        return f"needs {', '.join(spec.requires)}"
    try:
        spec.load()
    except PluginError as exc:
        return f"its loader does not import: {exc}"
    return None


def _seed_list(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[int, ...]:
    """``--seed 0 --seed 1`` and ``--seeds 0,1`` alike (run and grid): integers, each once, in the order given."""
    from .seedrule import seed_problem

    seeds: list[int] = []
    for value in values:
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                seed = int(part)
            except ValueError:
                raise click.BadParameter(f"{part.strip()!r} is not an integer seed (e.g. --seeds 0,1,2)") from None
            if seed_problem(seed):
                raise click.BadParameter(str(seed_problem(seed)))
            if seed not in seeds:
                seeds.append(seed)
    if values and not seeds:
        raise click.BadParameter("no seed given (e.g. --seeds 0,1,2)")
    return tuple(seeds)


LOADER_WORKERS_HELP = ("Data-loader worker processes of training (default: the profile's workers hparam); 0 loads "
                       "in the training process, as a small /dev/shm needs. Each item is augmented from its own "
                       "seed, so the count changes speed and memory, never the model: it makes no variant, and "
                       "an interrupted training resumes with any count.")


def _auto_profile(h: Any, splits: tuple[str, ...]) -> str:
    """cpu for synthetic splits, paper for the real datasets."""
    return "cpu" if all(h.splits.get(s).synthetic for s in splits) else "paper"


@cli.command()
@click.option("--method", "-m", required=True, help="Method name (see 'cvgl-bench methods').")
@click.option("--dataset", "--split", "-d", "datasets_", multiple=True, required=True,
              help="Evaluation split, e.g. cvact_test or synth_cvact_test; repeat for several.")
@click.option("--train-on", default=None, help="Training split; default: the in-domain one. Another one = transfer.")
@click.option("--profile", default="auto", show_default=True,
              help="paper (published recipe) or cpu (laptop recipe); auto = cpu for synthetic splits, else paper.")
@click.option("--seed", "--seeds", "seeds", multiple=True, default=("0",), show_default=True, callback=_seed_list,
              help="Seeds: repeat (--seed 0 --seed 1) or list them (--seeds 0,1,2).")
@click.option("--data-root", default=None, type=PathName(), metavar="DIR", help="Folder holding CVUSA/, CVACT/, VIGOR/, University-1652/.")
@click.option("--overwrite", type=click.Choice(["only-missing", "always", "never"]), default="only-missing",
              show_default=True, help="What to do with records that exist already.")
@click.option("--protocol", "protocol_items", multiple=True, help="Protocol option KEY=VALUE (repeatable).")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="Override a hparam of the method's recipe (repeatable; VALUE is YAML, dotted KEY for nested "
                   "ones): an ablation, e.g. --set ncm=off. Records are named after it.")
@click.option("--results", "results_dir", default="results", show_default=True, type=PathName(file_okay=False),
              help="Folder of the result records.")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=PathName(file_okay=False),
              help="Checkpoints, training state and run logs.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
@click.option("--backend", default="torch", show_default=True, help="Exact search backend (see 'cvgl-bench backends').")
@click.option("--on-corrupt", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="A corrupt image ends the run, or is skipped: an evaluation image is counted in the record, "
                   "a training image leaves out its pairs (counted in the checkpoint's train.json).")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS), default=None,
              help="Torch CPU threads (default: the profile's threads hparam, else torch's choice).")
@click.option("--loader-workers", type=click.IntRange(min=0, max=MAX_LOADER_WORKERS), default=None, metavar="N",
              help=LOADER_WORKERS_HELP)
@click.option("--resume/--restart", default=True, show_default=True,
              help="Continue an interrupted training from its last epoch checkpoint and reuse a trained "
                   "model, or train from scratch and rewrite the cell's records (unless --overwrite never).")
@click.option("--checkpoint", "checkpoint", default=None, type=PathName(dir_okay=False), metavar="FILE",
              help="Score this trained model instead of training: a released checkpoint in the method's official "
                   "layout (e.g. Sample4Geo's .pth) or a cvgl-bench model.pt. No training data is read; the "
                   "records are the variant checkpoint=<first 8 hex digits of its SHA-256>.")
@click.option("--dry-run", is_flag=True,
              help="Check every name and print the fully resolved hparams of the cell (YAML; JSON with --json); "
                   "nothing is loaded or trained.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON instead of a table.")
def run(method: str, datasets_: tuple[str, ...], train_on: str | None, profile: str, seeds: tuple[int, ...],
        data_root: str | None, overwrite: str, protocol_items: tuple[str, ...], set_items: tuple[str, ...],
        results_dir: str, runs_dir: str, device: str | None, backend: str, on_corrupt: str, threads: int | None,
        loader_workers: int | None, resume: bool, checkpoint: str | None, dry_run: bool, as_json: bool) -> None:
    """Train METHOD (or reuse its checkpoint) and evaluate it; one record per evaluation split.
    With --checkpoint, score a given trained model instead of training."""
    from .run import Cell, RunOptions, parse_set, plan
    from .run.overrides import parse_protocol
    from .data.splits import check_protocol_overrides

    h = host()
    h.search_backends.get(backend)
    if profile == "auto":
        profile = _auto_profile(h, datasets_)
    if checkpoint is not None and not resume:
        raise ConfigError("--restart retrains and --checkpoint scores a trained model without training; pass one")
    if checkpoint is not None and loader_workers is not None:
        raise ConfigError("--loader-workers sets how training loads its data, and --checkpoint scores a trained "
                          "model without training; drop --loader-workers")
    options = RunOptions(results_dir=results_dir, runs_dir=runs_dir, data_root=data_root, overwrite=overwrite,
                         device=device, backend=backend, on_corrupt=on_corrupt, threads=threads,
                         loader_workers=loader_workers, resume=resume,
                         checkpoint=Path(checkpoint) if checkpoint else None, log=lambda line: click.echo(line, err=True))
    if dry_run:
        cell = Cell(method=method, eval_splits=tuple(datasets_), train_split=train_on, profile=profile,
                    seed=seeds[0], protocol=parse_protocol(protocol_items), overrides=parse_set(set_items))
        plan(cell, h)  # a mistyped name, before torch is imported
        resolved_device = _check_before_work(h, options, cell)
        from .run.model import training_machine
        from .run import resolve

        p, _, hparams = resolve(cell, h, options.log)
        machine = None if checkpoint else training_machine(options, hparams, resolved_device)
        _echo_config(p, hparams, as_json, checkpoint, machine)
        return
    protocol = parse_protocol(protocol_items)
    check_protocol_overrides(dict(protocol), [h.splits.get(name) for name in datasets_])
    overrides = parse_set(set_items)
    cells = [Cell(method=method, eval_splits=tuple(datasets_), train_split=train_on, profile=profile, seed=seed,
                  protocol=protocol, overrides=overrides) for seed in seeds]
    plan(cells[0], h)  # a mistyped name is refused before torch is imported (seconds); run_cell plans again
    _check_before_work(h, options, cells[0])
    from .distributed import process_group, resolve_device, world_info_from_env
    from .run import run_cell

    world = world_info_from_env()
    if world.distributed and len(seeds) > 1:
        raise ConfigError(f"--seeds {','.join(map(str, seeds))} with {world.world_size} processes: launch torchrun "
                          "once per seed, or run the seeds with 'cvgl-bench grid --gpus-per-cell N', which starts "
                          "one torchrun per cell")
    records = []
    with process_group(resolve_device(device)) as rank_device:  # under torchrun: joined once, for the run
        options.device = rank_device if world.distributed else device
        for cell in cells:
            records.extend(run_cell(cell, options, h).records)
    if world.rank != 0:
        return  # the first process writes and shows the records: one table, one JSON document
    if as_json:
        echo_json([record.to_dict() for record in records])
    else:
        echo_table(_summary_rows(records))


def _check_before_work(h: Any, options: Any, cell: Any) -> str:
    """What a run refuses before any work, checked by --dry-run too: this machine's settings (the
    device, returned resolved), the ``--results`` and ``--runs`` folders, the ``--checkpoint`` file
    and the ``--set`` overrides against the recipe. The note on an unread ``--data-root`` comes
    after them, so that a mistake is one line."""
    from .checkpoints import check_torch_file
    from .fsutil import not_a_file
    from .run import resolve
    from .run.pipeline import check_new_folders

    split_names = [*cell.eval_splits, cell.train_split]
    resolved = _check_machine_settings(h, options.device, split_names)
    check_new_folders(options)
    if options.checkpoint is not None:
        path, fix = options.checkpoint.expanduser(), f"pass the file of a trained {cell.method} model"
        if not path.is_file():
            raise ConfigError(f"checkpoint {path} {not_a_file(path)}; {fix}")
        check_torch_file(path, fix)
    resolve(cell, h, log=lambda line: None)  # the line on a no-op --set is said when the cell runs
    note_unread_data_root(h, options.data_root, split_names)
    return resolved


def _check_machine_settings(h: Any, device: str | None, split_names: list[str | None]) -> str:
    """What a real run checks of this machine before any work, checked by --dry-run too: the
    device (returned, resolved), CVGL_BENCH_THREADS, and the synthetic world's size and seed where
    a split is synthetic."""
    from .data.synth.cache import selected_size_seed
    from .distributed import resolve_device
    from .run.cell import environment_threads

    resolved = resolve_device(device)
    environment_threads()
    if any(h.splits.get(name).synthetic for name in split_names if name):
        selected_size_seed()
    return resolved


def _echo_config(p: Any, hparams: dict[str, Any], as_json: bool, checkpoint: str | None = None,
                 machine: dict[str, Any] | None = None) -> None:
    """The cell a run would execute and the hparams it would train with (or the checkpoint it would
    score); ``machine``: how this machine would train it (device, threads, loader workers)."""
    from .data.splits import resolve_protocol

    cell, variant = p.cell, p.cell.variant
    if checkpoint is not None:  # its records are named after the file's checksum
        from .fsutil import sha256_file
        from .run.overrides import checkpoint_variant

        variant = checkpoint_variant(variant, sha256_file(Path(checkpoint).expanduser()))  # checked to be a file
    config = {"method": cell.method, "profile": cell.profile, "checkpoint": checkpoint,
              "train_split": p.train_spec.name,
              "eval_splits": [spec.name for spec in p.eval_specs], "variant": variant,
              "protocol": {spec.name: resolve_protocol(spec, p.protocol_for(spec)) for spec in p.eval_specs},
              "hparams": hparams, **({"training_machine": machine} if machine else {})}
    if as_json:
        echo_json(config)
    else:
        import yaml

        click.echo(yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100), nl=False)


def _summary_rows(records: list[Any]) -> list[dict[str, Any]]:
    """One short row per record for the end-of-run table."""
    rows = []
    for record in records:
        cell = record.cell
        method = f"{cell.method} [{cell.variant}]" if cell.variant else cell.method
        row = {"method": method, "train": cell.train_split, "eval": cell.eval_split, "seed": cell.seed}
        for name, metric in record.metrics.items():
            lo, hi = (metric.ci95 or [None, None])[:2]
            ci = f" [{lo:.1f}, {hi:.1f}]" if lo is not None else ""
            row[name] = f"{metric.value:.2f}{ci}"
        rows.append(row)
    return rows


@cli.command()
@click.argument("suites", nargs=-1, metavar="[SUITE|NAME]...", type=PathName())
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="local: cells in this machine's processes (--jobs at once); slurm: a submitit job array.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Cells run at once (local executor).")
@click.option("--seeds", "--seed", "seeds", multiple=True, callback=_seed_list,
              help="Seeds replacing each suite's seeds: --seeds 0,1,2 or --seed 0 --seed 1 (its seeds_for extras "
                   "still run).")
@click.option("--gpus-per-cell", type=click.IntRange(min=0, max=MAX_GPUS_PER_CELL), default=0, show_default=True,
              help="GPUs per cell; more than 1 launches each cell through torchrun (DDP).")
@click.option("--slurm-partition", default=None, help="Slurm partition (slurm executor).")
@click.option("--slurm-cluster", type=click.Choice(["slurm", "local", "debug"]), default=None,
              help="submitit cluster: slurm (default); local or debug try the job array on this machine (local "
                   "starts every cell at once).")
@click.option("--timeout-min", type=click.IntRange(min=1), default=24 * 60, show_default=True, help="Slurm time limit per cell.")
@click.option("--slurm-account", default=None, help="Slurm account to charge (slurm executor).")
@click.option("--slurm-qos", default=None, help="Slurm QoS (slurm executor).")
@click.option("--slurm-cpus-per-task", type=click.IntRange(min=1), default=None, help="CPUs per task (slurm executor).")
@click.option("--slurm-mem-gb", type=click.IntRange(min=1), default=None, help="Memory per node in GB (slurm executor).")
@click.option("--slurm-constraint", default=None, help="Slurm node constraint, e.g. a100 (slurm executor).")
@click.option("--slurm-param", "slurm_params", multiple=True, metavar="KEY=VALUE",
              help="Any other submitit parameter (repeatable; VALUE is YAML), e.g. slurm_exclude=node12.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="slurm executor: wait for the jobs, or submit and return (rerun the grid later to collect).")
@click.option("--dry-run", is_flag=True, help="List the cells and stop.")
@click.option("--data-root", default=None, type=PathName(), metavar="DIR", help="Folder holding CVUSA/, CVACT/, VIGOR/, University-1652/.")
@click.option("--overwrite", type=click.Choice(["only-missing", "always", "never"]), default="only-missing",
              show_default=True, help="What to do with records that exist already.")
@click.option("--results", "results_dir", default="results", show_default=True, type=PathName(file_okay=False),
              help="Folder of the result records.")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=PathName(file_okay=False),
              help="Checkpoints, training state and run logs.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS), default=None, help="Torch CPU threads per cell (default: the profile's threads hparam, else torch's choice).")
@click.option("--loader-workers", type=click.IntRange(min=0, max=MAX_LOADER_WORKERS), default=None, metavar="N", help=LOADER_WORKERS_HELP)
@click.option("--on-corrupt", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="A corrupt image fails its cell, or is skipped and counted, as with 'run'.")
@click.option("--resume/--restart", default=True, show_default=True,
              help="Continue interrupted trainings and reuse trained models, or train every cell from scratch "
                   "and rewrite its records (unless --overwrite never), as with 'run'.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the cells (with --dry-run) or each cell's outcome as JSON instead of a table and a line.")
def grid(suites: tuple[str, ...], executor: str, jobs: int, seeds: tuple[int, ...], gpus_per_cell: int,
         slurm_partition: str | None, slurm_cluster: str | None, timeout_min: int, slurm_account: str | None,
         slurm_qos: str | None, slurm_cpus_per_task: int | None, slurm_mem_gb: int | None,
         slurm_constraint: str | None, slurm_params: tuple[str, ...], wait: bool, dry_run: bool,
         data_root: str | None, overwrite: str, results_dir: str, runs_dir: str, device: str | None,
         threads: int | None, loader_workers: int | None, on_corrupt: str, resume: bool, as_json: bool) -> None:
    """Run every cell of SUITES (files, or names of shipped suites: synth, cvusa, cvact, vigor, university1652;
    default: synth); rerun to resume."""
    from .errors import ConfigError
    from .run import RunOptions, load_suite
    from .run.grid import expand, run_grid
    from .run.overrides import variant_label

    h = host()
    paths = suites or (str(_default_suite()),)
    skipped: list[str] = []  # said once every option is checked, so that a refusal is one line
    cells = expand([load_suite(p) for p in paths], list(seeds) or None, host=h, log=skipped.append)
    if device is not None and executor == "local" and not dry_run:  # '' too: "--device is empty"
        from .distributed import resolve_device

        resolve_device(device)
    slurm = {"cluster": slurm_cluster, "timeout_min": timeout_min, "wait": wait,
             **_slurm_parameters(slurm_partition, slurm_account, slurm_qos, slurm_cpus_per_task, slurm_mem_gb,
                                 slurm_constraint, slurm_params)}
    given = click.get_current_context().get_parameter_source
    cluster_only = any(given(name) is click.core.ParameterSource.COMMANDLINE for name in ("slurm_cluster", "timeout_min"))
    if executor != "slurm" and (len(slurm) > 3 or not wait or cluster_only):
        raise ConfigError("the slurm options (--slurm-partition, --slurm-cluster, --timeout-min and the others) and "
                          "--no-wait apply to --executor slurm only")
    options = RunOptions(results_dir=results_dir, runs_dir=runs_dir, data_root=data_root, overwrite=overwrite,
                         device=device, threads=threads, loader_workers=loader_workers, on_corrupt=on_corrupt,
                         resume=resume, progress=False, log=lambda line: click.echo(line, err=True))
    if not dry_run:
        from .run.pipeline import check_new_folders

        check_new_folders(options)  # once, not in every cell
    for line in skipped:
        click.echo(line, err=True)
    note_unread_data_root(h, data_root, {name for c in cells for name in (*c.eval_splits, c.train_split)})
    # JSON spells "no variant" as records do (""); the table shows "-"
    rows = [{"cell": n, "method": c.method, "variant": variant_label(c.overrides), "train": c.train_split,
             "eval": ", ".join(c.eval_splits), "profile": c.profile, "seed": c.seed} for n, c in enumerate(cells, 1)]
    if dry_run:
        if as_json:
            echo_json([{**row, "eval": list(c.eval_splits), "protocol": dict(c.protocol)}
                       for row, c in zip(rows, cells)])
        else:
            echo_table([{**row, "variant": row["variant"] or "-"} for row in rows])
        return
    outcome = run_grid(cells, options, executor=executor, jobs=jobs, gpus_per_cell=gpus_per_cell, slurm=slurm,
                       host=h)
    failed = [f"{c} {o}" for c, o in zip(cells, outcome) if isinstance(o, str) and o.startswith("failed")]
    if as_json:
        echo_json([{**row, "eval": list(c.eval_splits), "protocol": dict(c.protocol), "status": _grid_status(o)}
                   for row, c, o in zip(rows, cells, outcome)])
    else:
        submitted = sum(isinstance(o, str) and o.startswith("submitted") for o in outcome)
        if submitted:
            click.echo(f"{submitted} of {len(cells)} cells submitted; rerun the same grid to collect their results")
        else:
            click.echo(f"{len(cells) - len(failed)} of {len(cells)} cells done; results in {results_dir}")
    if failed:
        raise ConfigError(f"{len(failed)} cell(s) failed, first: {failed[0]}; rerun the grid to resume")


def _slurm_parameters(partition: str | None, account: str | None, qos: str | None, cpus_per_task: int | None,
                      mem_gb: int | None, constraint: str | None, items: tuple[str, ...]) -> dict[str, Any]:
    """submitit parameters from the grid's --slurm-* options (only those given)."""
    import yaml

    named = {"slurm_partition": partition, "slurm_account": account, "slurm_qos": qos,
             "cpus_per_task": cpus_per_task, "mem_gb": mem_gb, "slurm_constraint": constraint}
    params = {key: value for key, value in named.items() if value is not None}
    flags = {"slurm_partition": "--slurm-partition", "slurm_account": "--slurm-account", "slurm_qos": "--slurm-qos",
             "cpus_per_task": "--slurm-cpus-per-task", "mem_gb": "--slurm-mem-gb",
             "slurm_constraint": "--slurm-constraint"}
    options = {**flags, "timeout_min": "--timeout-min", "gpus_per_node": "--gpus-per-cell",
               "cluster": "--slurm-cluster", "wait": "--wait/--no-wait"}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--slurm-param takes KEY=VALUE (e.g. slurm_exclude=node12), got {item!r}")
        if key in options or key == "folder":
            raise ConfigError(f"--slurm-param {key}: " + (f"use {options[key]}" if key in options else
                                                         "the submitit folder is <--runs>/submitit"))
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key] = value
        flags[key] = f"--slurm-param {key}="
    for key, value in params.items():
        if isinstance(value, str) and (not value.strip() or not value.isprintable()):
            raise ConfigError(f"{flags[key]}{'' if flags[key].endswith('=') else ' '}{value!r}: give a value without "
                              "line breaks, not blanks (it goes into the job script's #SBATCH lines)")
    return params


def _grid_status(outcome: Any) -> dict[str, Any]:
    """One cell's outcome as plain data with the same keys whatever happened: ``state`` is ok,
    failed or submitted (--no-wait); what a cell run in another process trained or wrote is not
    known here and is null."""
    if isinstance(outcome, str):
        state = "failed" if outcome.startswith("failed") else "submitted" if outcome.startswith("submitted") else "ok"
        return {"state": state, "ok": state != "failed", "error": outcome if state == "failed" else None,
                "submitted": outcome if state == "submitted" else None, "trained": None, "written": None, "kept": None}
    return {"state": "ok", "ok": True, "error": None, "submitted": None,
            "trained": bool(getattr(outcome, "trained", False)),
            "written": [str(p) for p in getattr(outcome, "written", [])],
            "kept": [str(p) for p in getattr(outcome, "kept", [])]}


@cli.command("check-plugin")
@click.argument("method")
@click.option("--quick", is_flag=True, help="Skip the two-epoch training check (seconds instead of about a minute).")
@click.option("--device", default="cpu", show_default=True, help="Where the checks build and run the model.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def check_plugin(ctx: click.Context, method: str, quick: bool, device: str, as_json: bool) -> None:
    """Conformance checks for METHOD: recipes, shapes, normalisation, batch independence, backward,
    determinism, checkpoints, learning (on a tiny synthetic split generated on first use)."""
    h = host()
    h.methods.get(method)  # a mistyped name is refused before torch is imported
    from .conformance import run_checks
    from .distributed import resolve_device
    from .errors import UserError

    results_ = run_checks(method, h, quick=quick, device=resolve_device(device), debug=debug_enabled(ctx))
    if as_json:
        echo_json([r.__dict__ for r in results_])
    else:
        for r in results_:
            click.echo(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<26} {r.message} ({r.seconds:.1f} s)")
    failed = [r for r in results_ if not r.ok]
    if failed:
        raise UserError(f"{len(failed)} of {len(results_)} checks failed for {method!r}; first: {failed[0].name}: "
                        f"{failed[0].message}")
    if not as_json:
        skipped = " (the training check skipped: --quick)" if quick else ""
        click.echo(f"all {len(results_)} checks passed for {method!r}{skipped}")


def _default_suite() -> Any:
    from .run.suite import shipped_suites

    return shipped_suites()["synth"]


@cli.command("leaderboard")
@click.option("--results", "results_dir", default="results", show_default=True, type=PathName(),
              help="Folder of result records (searched recursively).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), default="md", show_default=True,
              help="Output format.")
@click.option("--suite", "suites", multiple=True, metavar="SUITE.yaml", type=PathName(),
              help="Keep only the cells of this suite: a file or a shipped suite's name, e.g. synth "
                   "(repeatable: union).")
@click.option("--out", "out_dir", default=None, metavar="DIR", type=PathName(file_okay=False),
              help="Write one file per benchmark, an index and PNG plots here; without it, print the tables.")
@click.option("--published", "published_file", default=None, metavar="FILE", type=PathName(),
              help="Published numbers (default: the package's published.yaml; leaderboards/published.yaml "
                   "links to it).")
@click.option("--data-root", default=None, type=PathName(), metavar="DIR", help="Where the datasets live (for retrieval examples, and for a "
                                                 "metric that needs more of its split than the stored ranks hold).")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=PathName(file_okay=False),
              help="The runs folder the records' checkpoints are in (for the spatial-map plots).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--figure-format", "figure_formats", multiple=True, type=click.Choice(["svg", "pdf"]),
              help="Also write every figure in this format, beside its PNG/JPEG, for papers (repeatable; needs --out).")
@click.option("--no-examples", is_flag=True, help="Skip the retrieval-example plots and the spatial-map figures "
              "(they load the split's images and the checkpoints).")
@click.option("--no-significance", is_flag=True, help="Skip the paired bootstrap against the best method.")
@click.option("--n-boot", default=2000, show_default=True, type=int, callback=lambda ctx, param, value: check_resamples(
    value), help="Bootstrap resamples of the significance test (100 to 1,000,000; its seed is 0).")
@click.option("--published-only", is_flag=True,
              help="Only the published numbers, one Markdown table per task (no records needed).")
@click.option("--paper-table", is_flag=True,
              help="One table across benchmarks as papers print it (md or latex booktabs; best in bold).")
@click.option("--tables", "table_keys", default="", metavar="KEY,KEY",
              help="With --paper-table: the benchmarks, in order, by file key (e.g. in-domain__synth_cvusa_test).")
def leaderboard_command(results_dir: str, fmt: str, suites: tuple[str, ...], out_dir: str | None,
                        published_file: str | None, data_root: str | None, runs_dir: str, no_plots: bool,
                        figure_formats: tuple[str, ...], no_examples: bool, no_significance: bool, n_boot: int,
                        published_only: bool, paper_table: bool, table_keys: str) -> None:
    """Tables and plots from result records, beside published numbers (never ranked)."""
    from . import leaderboard as lb
    from .run import load_suite

    if table_keys and not paper_table:  # before the records are read: a board of many records takes seconds
        raise ConfigError("--tables chooses the benchmarks of --paper-table; add --paper-table")
    if paper_table and fmt not in ("md", "latex"):
        raise ConfigError("--paper-table writes md or latex; use --format md or --format latex")
    if published_only and fmt != "md":
        raise ConfigError("--published-only writes Markdown; use --format md")
    if out_dir is not None:  # a file in the way, a name too long: before the board is built
        from .fsutil import check_writable

        check_writable(out_dir, "--out")
    if figure_formats and (out_dir is None or no_plots or published_only or paper_table or table_keys):
        raise ConfigError("--figure-format writes figures: use it with --out DIR, without --no-plots, "
                          "--published-only or --paper-table")
    note_unused_options(click.get_current_context(), _unused_leaderboard_options(
        out_dir, no_plots, no_significance, published_only, paper_table or bool(table_keys), no_examples))

    path = lb.default_path() if published_file is None else published_file
    published = lb.Published.load(path) if path else lb.Published.empty()
    if published_only:
        _write_published(published, out_dir, fmt)
        return
    h = host()
    board = lb.build(results_dir, published=published, suites=[load_suite(s) for s in suites],
                     significance=not (no_significance or paper_table or table_keys), n_boot=n_boot, host=h,
                     data_root=data_root)
    for line in board.warnings:
        click.echo(f"warning: {line}", err=True)
    shown = {table.eval_split for table in board.tables}
    if all(name in h.splits for name in shown):  # a split of an uninstalled plugin: cannot tell
        note_unread_data_root(h, data_root, shown)
    if paper_table or table_keys:
        _write_paper_table(board, fmt, table_keys, out_dir)
        return
    if out_dir is None:
        click.echo(lb.render_text(board, fmt), nl=False)
        return
    files = lb.render(board, out_dir, fmt, plots=not no_plots, examples=not no_examples, host=h,
                      data_root=data_root, runs_dir=runs_dir, figure_formats=tuple(dict.fromkeys(figure_formats)))
    index = next((f for f in files if f.stem == "index"), files[0])
    click.echo(f"wrote {len(files)} files to {out_dir}; open {index}")


def _unused_leaderboard_options(out_dir: str | None, no_plots: bool, no_significance: bool, published_only: bool,
                                paper_table: bool, no_examples: bool = False) -> dict[str, str]:
    """The leaderboard options this mode does not read, each with why (:func:`note_unused_options`)."""
    figures = ("runs_dir", "no_plots", "no_examples")  # --data-root also serves metrics that need the split
    if published_only:
        return dict.fromkeys(("results_dir", "suites", *figures, "data_root", "no_significance", "n_boot",
                              "paper_table", "table_keys"),
                             "with --published-only (it shows the published numbers alone)")
    unused = dict.fromkeys(("no_significance", "n_boot"), "with --paper-table (it shows no significance)") \
        if paper_table else {"n_boot": "with --no-significance"} if no_significance else {}
    if paper_table:
        unused.update(dict.fromkeys(figures, "with --paper-table (it writes one table, no figures)"))
    elif out_dir is None:
        unused.update(dict.fromkeys(figures, "without --out DIR (figures are written only there)"))
    elif no_plots:
        unused.update(dict.fromkeys(("runs_dir", "no_examples"), "with --no-plots"))
    elif no_examples:
        unused["runs_dir"] = "with --no-examples (it drops the map figures, which need the checkpoints)"
    return unused


def _write_paper_table(board: Any, fmt: str, table_keys: str, out_dir: str | None) -> None:
    from pathlib import Path

    from .fsutil import write_bytes
    from .leaderboard.paper_table import paper_latex, paper_markdown, select_tables

    tables = select_tables(board, [k.strip() for k in table_keys.split(",") if k.strip()])
    text = (paper_latex if fmt == "latex" else paper_markdown)(tables)
    if out_dir is None:
        click.echo(text, nl=False)
        return
    path = Path(out_dir) / ("paper_table.tex" if fmt == "latex" else "paper_table.md")
    write_bytes(path, text.encode("utf-8"))
    click.echo(f"wrote {path}")


def _write_published(published: Any, out_dir: str | None, fmt: str) -> None:
    from pathlib import Path

    from .fsutil import write_bytes
    from .leaderboard.published_tables import published_markdown

    if not published:
        raise ConfigError("no published numbers found; pass --published FILE")
    files = published_markdown(published)
    if out_dir is None:
        click.echo("\n".join(files[name] for name in sorted(files) if name != "published.md"), nl=False)
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_bytes(Path(out_dir) / name, text.encode("utf-8"))
    click.echo(f"wrote {len(files)} files to {out_dir}; open {Path(out_dir) / 'published.md'}")


def main() -> None:
    """Console-script entry point."""
    raise_on_sigterm()
    try:
        os.getcwd()
    except FileNotFoundError:  # torch's MKL then fails to load with a message that does not say why
        click.echo("Error: the current folder no longer exists (it was deleted or moved); cd into an existing "
                   "folder and run the command again", err=True)
        sys.exit(2)
    cli(prog_name="cvgl-bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
