"""Writers that lay synthetic renders out exactly as the real datasets are laid out.

Each layout module has ``plan(cfg) -> list[Job]`` (cheap, deterministic), ``run(job, cfg,
root, tick) -> list[dict]`` (renders one world's images into ``root``; runs in any worker
process) and ``finalize(cfg, jobs, records, root)`` (split files and metadata).
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {"cvusa": "cvusa", "cvact": "cvact", "vigor": "vigor", "university1652": "university1652"}


def layout_module(layout: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{MODULES[layout]}")
