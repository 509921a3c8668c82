"""The ``cvgl-bench`` command line: parse, call the library, print.

Errors a user can cause end in one line on stderr and exit code 2; ``--debug`` (or
``CVGL_BENCH_DEBUG=1``) shows the traceback instead. Plugins add commands through the
``cvgl_bench_register_commands`` hook.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from . import __version__
from .errors import UserError


def _debug_enabled(ctx: click.Context | None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    return os.environ.get("CVGL_BENCH_DEBUG", "") in ("1", "true", "yes")


class PluginGroup(click.Group):
    """Root group: adds plugin commands on first lookup and turns user errors into one line."""

    _plugins_added = False

    def _ensure_plugins(self) -> None:
        if not PluginGroup._plugins_added:
            PluginGroup._plugins_added = True
            from .plugins import get_host

            try:
                get_host().add_commands(self)
            except UserError as exc:  # strict plugin mode: report at invocation time
                self._load_error = exc

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
        except UserError as exc:
            if _debug_enabled(ctx):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def echo_table(rows: list[dict[str, Any]], empty: str = "(none)") -> None:
    from tabulate import tabulate

    if not rows:
        click.echo(empty)
        return
    click.echo(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True))


def host() -> Any:
    from .plugins import get_host, warn_failures

    h = get_host()
    warn_failures(h)
    return h


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cvgl-bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """cvgl-bench: train and evaluate cross-view geo-localization methods under one protocol."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List plugins: distribution, version, what each registered, and load errors."""
    from .plugins import get_host

    h = get_host()
    if as_json:
        echo_json([s.to_dict() for s in h.statuses])
        return
    rows = []
    for s in h.statuses:
        what = "; ".join(f"{kind}: {', '.join(sorted(names))}" for kind, names in s.registered.items() if names)
        rows.append({"plugin": s.name, "distribution": f"{s.distribution} {s.version}".strip(),
                     "registered": what or "-", "status": f"FAILED: {s.error}" if s.error else "ok"})
    echo_table(rows, "no plugins loaded")


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
        if not spec.official:
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
    if as_json:
        data = _spec_json(h.search_backends)
        for item, spec in zip(data, h.search_backends):
            item["available"] = spec.available()
        echo_json(data)
        return
    rows = _spec_rows(h.search_backends, ("summary",), h)
    for row, spec in zip(rows, h.search_backends):
        row["available"] = "yes" if spec.available() else f"no (needs {', '.join(spec.requires)})"
    echo_table(rows, "no search backends registered")


@cli.command("leaderboard")
@click.option("--results", "results_dir", default="results", show_default=True,
              help="Folder of result records (searched recursively).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), default="md", show_default=True,
              help="Output format.")
@click.option("--suite", "suites", multiple=True, metavar="SUITE.yaml",
              help="Keep only the cells of this suite (repeatable: union).")
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Write one file per benchmark, an index and PNG plots here; without it, print the tables.")
@click.option("--published", "published_file", default=None, metavar="FILE",
              help="Published numbers (default: leaderboards/published.yaml of this checkout).")
@click.option("--data-root", default=None, help="Where the datasets live (for retrieval examples).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--no-examples", is_flag=True, help="Skip the retrieval-example plots (they load the split's images).")
@click.option("--no-significance", is_flag=True, help="Skip the paired bootstrap against the best method.")
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap resamples of the significance test.")
def leaderboard_command(results_dir: str, fmt: str, suites: tuple[str, ...], out_dir: str | None,
                        published_file: str | None, data_root: str | None, no_plots: bool, no_examples: bool,
                        no_significance: bool, n_boot: int) -> None:
    """Tables and plots from result records, beside published numbers (never ranked)."""
    from . import leaderboard as lb

    path = published_file or lb.default_path()
    published = lb.Published.load(path) if path else lb.Published.empty()
    board = lb.build(results_dir, published=published, suites=lb.read_suites(suites),
                     significance=not no_significance, n_boot=n_boot)
    for line in board.warnings:
        click.echo(f"warning: {line}", err=True)
    if out_dir is None:
        click.echo(lb.render_text(board, fmt), nl=False)
        return
    files = lb.render(board, out_dir, fmt, plots=not no_plots, examples=not no_examples, host=host(),
                      data_root=data_root)
    index = next((f for f in files if f.stem == "index"), files[0])
    click.echo(f"wrote {len(files)} files to {out_dir}; open {index}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cvgl-bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
