"""``cvgl-bench new-plugin``: write a ready-to-install method plugin package.

The package is what a third party publishes: a ``setup.cfg`` whose entry point in the group
``cvgl_bench`` names the plugin module, a plugin module that registers a :class:`MethodSpec`
without importing torch, a method composed from the toolkit (:class:`ContrastiveMethod` over a
small timm backbone, a ``cpu`` profile that trains in seconds on tiny synthetic data), a README
and a pytest file running the conformance checks. Nothing is written unless every check on the
name and the target folder passes.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from pathlib import Path
from string import Template
from typing import Any

from .errors import ConfigError
from .fsutil import atomic_open

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""A plugin name is a method name and part of a Python package name: lower-case identifier."""


def package_name(name: str) -> str:
    """The import package of plugin ``name`` (``cvgl_bench_<name>``)."""
    return f"cvgl_bench_{name}"


def distribution_name(name: str) -> str:
    """The pip distribution of plugin ``name`` (``cvgl-bench-<name>``)."""
    return f"cvgl-bench-{name.replace('_', '-')}"


def class_name(name: str) -> str:
    """``my_method`` -> ``MyMethod``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Method"


def validate_name(name: str, host: Any = None) -> None:
    """Refuse a name that is not a lower-case identifier or that an installed plugin uses already."""
    if keyword.iskeyword(name):
        raise ConfigError(f"plugin name {name!r} is a Python keyword, which cannot name a module or variable; "
                          f"choose another, e.g. '{name}_net'")
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"plugin name {name!r} must start with a lower-case letter and hold only a-z, 0-9 and _ "
                          f"(at most 40 characters), e.g. 'my_method'")
    if host is not None and name in host.methods:
        origin = host.methods.origin(name).origin
        raise ConfigError(f"a method named {name!r} exists already (registered by {origin}); choose another name")
    if host is not None and (name in host.splits or name in host.datasets):
        what = "split" if name in host.splits else "dataset"
        raise ConfigError(f"{name!r} is the name of a {what}; a method named like it would read as one in "
                          f"'cvgl-bench run -m {name} -d ...' and on the leaderboard: choose another name")
    if importlib.util.find_spec(package_name(name)) is not None:
        raise ConfigError(f"a Python package {package_name(name)!r} is importable already; choose another name "
                          f"or uninstall {distribution_name(name)}")


def check_target(target: Path) -> None:
    """The target folder must not exist, or be an empty folder."""
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder; pass another --dir")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty; pass another --dir or remove it")


def render(name: str) -> dict[str, str]:
    """The package's files (relative path -> text) for plugin ``name``."""
    values = {"name": name, "package": package_name(name), "dist": distribution_name(name),
              "cls": class_name(name)}
    files = {path.replace("PACKAGE", values["package"]).replace("NAME", name): Template(text).substitute(values)
             for path, text in _FILES.items()}
    return files


def create_plugin(name: str, target: str | Path | None = None, host: Any = None) -> tuple[Path, list[Path]]:
    """Validate, then write the package of plugin ``name`` into ``target`` (default ``./cvgl-bench-<name>``).

    Returns the folder and the files written, in writing order.
    """
    validate_name(name, host)
    folder = Path(target) if target is not None else Path.cwd() / distribution_name(name)
    check_target(folder)
    written = []
    for relative, text in render(name).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as handle:
            handle.write(text)
        written.append(path)
    return folder, written


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"
"""

_SETUP_CFG = """\
[metadata]
name = $dist
version = attr: $package.__version__
description = $name: a cross-view geo-localization method as a cvgl-bench plugin
long_description = file: README.md
long_description_content_type = text/markdown

[options]
packages = find:
python_requires = >=3.10
install_requires =
    cvgl-bench
    torch>=2.3.1
    timm>=1.0.25

[options.packages.find]
include = $package, $package.*

[options.entry_points]
cvgl_bench =
    $name = $package.plugin
"""

_INIT = '''\
"""$name: a cvgl-bench method plugin."""

__version__ = "0.1.0"
'''

_PLUGIN = '''\
"""Registers the ``$name`` method. Imports nothing heavy: the model loads on first use."""

from cvgl_bench import MethodSpec, hookimpl


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(
        name="$name",
        loader="$package.method:$cls",
        summary="shared timm backbone, symmetric InfoNCE, GPS batching (cvgl-bench template)",
        paper="",
        official=True,
        notes="",
        profiles=("paper", "cpu"),
        tags=("contrastive",),
    ))
'''

_METHOD = '''\
"""$cls: a contrastive two-view encoder built from the cvgl-bench toolkit.

``ContrastiveMethod`` supplies training (symmetric InfoNCE, GPS / similarity batching, paired
augmentation, AdamW with warm-up and cosine schedule), evaluation transforms and the merging of
recipes; this class states the recipes. Override ``build_model`` (a ``TwoViewEncoder``
subclass) or ``build_loss`` to make the method your own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cvgl_bench.train.base import ContrastiveMethod

# The published recipe, GPU scale: replace with your paper's settings.
PAPER = {
    "default": {
        "backbone": "convnext_base.fb_in22k_ft_in1k_384",
        "pretrained": True,
        "image_sizes": {"satellite": [384, 384], "ground": [140, 768], "drone": [384, 384]},
        "batch_size": 128,
        "epochs": 40,
        "lr": 1e-3,
        "amp": True,
    },
    # per-layout entries (cvusa, cvact, vigor, university1652) override the default
    "vigor": {"image_sizes": {"ground": [384, 768]}},
    "university1652": {"epochs": 1, "warmup_epochs": 0.1, "sampler": "random", "dss_every": 0},
}

# A laptop recipe: a small randomly initialised backbone on small images, seconds per epoch on
# the tiny synthetic world.
CPU = {
    "default": {
        "backbone": "convnext_atto",
        "pretrained": False,
        # from scratch, ConvNeXt embeds every image nearly alike: centre the embeddings per view
        "embedding_norm": "batch",
        "image_sizes": {"satellite": [64, 64], "ground": [32, 128], "drone": [64, 64]},
        "batch_size": 16,
        "epochs": 2,
        "lr": 1e-3,
        "warmup_epochs": 0.5,
        "neighbour_select": 4,
        "neighbour_range": 8,
        "dss_every": 0,
        "eval_every": 0,
        "amp": False,
        "workers": 0,
        "embed_batch_size": 64,
    },
    "university1652": {"sampler": "random", "augment": {"rotate_mode": "reference"}},
}


class $cls(ContrastiveMethod):
    """$name on the cvgl-bench toolkit; ``paper`` and ``cpu`` profiles."""

    def recipes(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        return {"paper": PAPER, "cpu": CPU}
'''

_README = """\
# $dist

`$name`, a cross-view geo-localization method packaged as a cvgl-bench plugin
(written by `cvgl-bench new-plugin $name`).

```bash
pip install -e .                                   # registers the entry point
cvgl-bench plugins                                 # lists $name
cvgl-bench check-plugin $name                      # conformance checks (about a minute on a CPU)
cvgl-bench run --method $name --dataset synth_cvusa_test   # train + evaluate on synthetic data
python -m pytest tests                             # the package's own test
```

- `$package/plugin.py` registers the method (keep heavy imports out of it).
- `$package/method.py` is the method: recipes for the `paper` and `cpu` profiles on top of
  `cvgl_bench.train.base.ContrastiveMethod`; override `build_model` / `build_loss` to change it.

See cvgl-bench's `docs/plugins.md` for the whole plugin API.
"""

_TEST = '''\
"""The conformance checks of cvgl-bench for $name (the quick ones; the training check is slow)."""

from cvgl_bench.conformance import run_checks
from cvgl_bench.plugins import PluginHost


def test_${name}_is_registered_through_its_entry_point():
    host = PluginHost(entry_points=True).load()
    assert "$name" in host.methods, "install the package first: pip install -e ."
    assert host.methods.origin("$name").distribution == "$dist"


def test_${name}_passes_the_quick_conformance_checks():
    host = PluginHost(entry_points=True).load()
    failed = [f"{r.name}: {r.message}" for r in run_checks("$name", host, quick=True) if not r.ok]
    assert not failed, failed
'''

_FILES = {
    "pyproject.toml": _PYPROJECT,
    "setup.cfg": _SETUP_CFG,
    "README.md": _README,
    "PACKAGE/__init__.py": _INIT,
    "PACKAGE/plugin.py": _PLUGIN,
    "PACKAGE/method.py": _METHOD,
    "tests/test_NAME.py": _TEST,
}
