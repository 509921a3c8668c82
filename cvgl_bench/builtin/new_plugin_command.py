"""Built-in plugin: the ``cvgl-bench new-plugin NAME [--dir DIR]`` command.

Writes a method plugin package ready for ``pip install -e DIR`` (see :mod:`cvgl_bench.scaffold`).
"""

from __future__ import annotations

import shlex

import click

from ..console import PathName
from ..hookspecs import hookimpl


@hookimpl
def cvgl_bench_register_commands(cli):
    cli.add_command(new_plugin)


@click.command("new-plugin")
@click.argument("name")
@click.option("--dir", "target", default=None, type=PathName(), metavar="DIR",
              help="Folder to write the package into (default: ./cvgl-bench-NAME); must be new or empty.")
def new_plugin(name: str, target: str | None) -> None:
    """Write a method plugin package NAME: setup.cfg with its entry point, a method built from the
    toolkit, a README and a test."""
    from ..console import command_host
    from ..scaffold import create_plugin

    folder, files = create_plugin(name, target, command_host())
    for path in files:
        click.echo(f"wrote {path}")
    where = str(folder) if folder.is_absolute() or not str(folder).startswith("-") else f"./{folder}"
    click.echo(f"next: pip install -e {shlex.quote(where)} && cvgl-bench check-plugin {name}")  # pasteable as is
