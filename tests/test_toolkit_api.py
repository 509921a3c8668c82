"""The toolkit a method or dataset plugin builds on is declared: every ``cvgl_bench`` name that the
shipped plugins and the docs' examples import is listed in its module's ``__all__`` and carries a
docstring. A helper a plugin needs is made public here, on purpose; anything else stays internal
and may change without a plugin-API version bump."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^\s*from (cvgl_bench(?:\.[\w.]+)?) import ([\w, ]+)$", re.M)
TOOLKIT = ("cvgl_bench.train.", "cvgl_bench.data.", "cvgl_bench.evaluate.")
#: modules a plugin builds on even where no shipped plugin imports them yet (docs/plugins.md, Part 3)
DECLARED = ("cvgl_bench.evaluate.metrics",)


def _imports() -> dict[tuple[str, str], list[str]]:
    """(module, name) -> where it is imported, over the shipped plugins and docs/plugins.md."""
    sources = sorted(ROOT.glob("plugins/*/cvgl_bench_*/*.py")) + [ROOT / "docs" / "plugins.md"]
    found: dict[tuple[str, str], list[str]] = {}
    for path in sources:
        for match in IMPORT.finditer(path.read_text(encoding="utf-8")):
            for name in (n.strip() for n in match.group(2).split(",")):
                found.setdefault((match.group(1), name), []).append(str(path.relative_to(ROOT)))
    return found


IMPORTS = _imports()


def test_the_scan_sees_the_plugins_imports():
    assert ("cvgl_bench.train.encoders", "size_pair") in IMPORTS
    assert ("cvgl_bench.data.polar", "polar_grid") in IMPORTS
    assert ("cvgl_bench.train.base", "ContrastiveMethod") in IMPORTS


@pytest.mark.parametrize("module,name", sorted(k for k in IMPORTS if k[0].startswith(TOOLKIT)))
def test_imported_toolkit_names_are_declared_public(module, name):
    mod = importlib.import_module(module)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{module} has no __all__, but {IMPORTS[module, name]} import from it"
    assert name in exported, (f"{IMPORTS[module, name]} import {module}.{name}, which is not in its __all__: "
                              f"declare it public (with a docstring) or stop importing it")


@pytest.mark.parametrize("module", sorted({k[0] for k in IMPORTS if k[0].startswith(TOOLKIT)} | set(DECLARED)))
def test_every_public_callable_has_a_docstring(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        value = getattr(mod, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert (value.__doc__ or "").strip(), f"{module}.{name} is public but has no docstring"
