"""Shared fixtures: an isolated plugin host and CLI for every test that needs one."""

from __future__ import annotations

import os

import pytest

# The project's own tests never pick up entry points of whatever else is installed, unless a
# test asks for them explicitly (PluginHost(entry_points=True)).
os.environ.setdefault("CVGL_BENCH_NO_ENTRYPOINTS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def make_host(monkeypatch):
    """Build a fresh, loaded PluginHost with extra in-process plugins and install it globally.

    The CLI's plugin commands are reset too, so commands added by a test do not leak.
    """
    from cvgl_bench import cli as cli_module
    from cvgl_bench import plugins as plugins_module

    saved_commands = dict(cli_module.cli.commands)
    previous = plugins_module.set_host(None)
    monkeypatch.setattr(cli_module.PluginGroup, "_plugins_added", False)
    if hasattr(cli_module.cli, "_load_error"):
        monkeypatch.delattr(cli_module.cli, "_load_error")

    def factory(*extra, entry_points=False, strict=False, load=True):
        host = plugins_module.PluginHost(entry_points=entry_points, strict=strict)
        for plugin in extra:
            host.add_plugin(plugin, getattr(plugin, "__name__", None))
        plugins_module.set_host(host)
        return host.load() if load else host

    yield factory
    plugins_module.set_host(previous)
    cli_module.cli.commands.clear()
    cli_module.cli.commands.update(saved_commands)


@pytest.fixture
def host(make_host):
    """The built-in plugins only."""
    return make_host()
