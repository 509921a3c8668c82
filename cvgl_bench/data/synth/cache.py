"""Synthetic datasets in the user cache: generated on first use, reused afterwards.

A dataset lives in ``cache_dir()/synth/<layout>-<size>-seed<S>-v<version>/`` (:func:`dataset_version`); a new
version therefore regenerates instead of reusing stale files. Generation goes to a
temporary folder that is renamed into place, under a lock that dies with its owner
(:mod:`cvgl_bench.locking`), so concurrent processes (for example the ranks of a torchrun job)
wait, for a bounded time and saying for whom, for one generator instead of racing, and a
generator killed with ``kill -9`` blocks nobody.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ... import envvars
from ...dataroot import cache_dir
from ...errors import ConfigError
from ...locking import exclusive
from ...seedrule import MAX_SEED
from . import dataset_version
from .config import LAYOUTS, parse_size
from .generate import META_FILE, default_workers, generate

SIZE_ENV = "CVGL_BENCH_SYNTH_SIZE"
SEED_ENV = "CVGL_BENCH_SYNTH_SEED"


def selected_size_seed(size: str | int | None = None, seed: int | None = None) -> tuple[str, int]:
    """Size and seed from the arguments, else ``CVGL_BENCH_SYNTH_SIZE`` / ``_SEED`` (small, 0)."""
    if size is None:
        text = os.environ.get(SIZE_ENV, "small") or "small"
        try:
            label, _ = parse_size(text)
        except ConfigError as exc:
            raise ConfigError(f"{SIZE_ENV}: {str(exc).replace('--size ', '')}") from None
    else:
        label, _ = parse_size(size)
    if seed is None:
        seed = envvars.integer(SEED_ENV, 0, low=0, high=MAX_SEED)
    return label, int(seed)


def dataset_dir(layout: str, size: str | int | None = None, seed: int | None = None) -> Path:
    """Where the synthetic ``layout`` of this size and seed lives in the cache (may not exist yet)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; layouts: {', '.join(LAYOUTS)}")
    label, seed = selected_size_seed(size, seed)
    return cache_dir() / "synth" / f"{layout}-{label}-seed{seed}-v{dataset_version(layout)}"


def is_complete(path: Path) -> bool:
    return (path / META_FILE).is_file()


def ensure_generated(layout: str, size: str | int | None = None, seed: int | None = None,
                     progress: bool = True) -> Path:
    """The folder of the synthetic ``layout``, generating it first if it is not in the cache."""
    target = dataset_dir(layout, size, seed)
    if is_complete(target):
        return target
    label, seed_value = selected_size_seed(size, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(target.parent / f".{target.name}.lock", f"generating the synthetic {target.name}"):
        if is_complete(target):
            return target
        workers = default_workers()  # a wrong CVGL_BENCH_SYNTH_WORKERS is refused before the line below
        if progress:
            print(f"cvgl-bench: generating the synthetic {layout} dataset ({label}, seed {seed_value}) into "
                  f"{target} (first use; reused afterwards)", file=sys.stderr)
        generate(layout, target, size=label, seed=seed_value, workers=workers, progress=progress, overwrite=True)
    return target
