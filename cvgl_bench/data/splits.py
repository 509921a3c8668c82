"""Call a split's loader and check what it returns.

The runner's ``load_split`` finds the data folder and fills in the protocol; ``cvgl-bench data
check`` calls loaders through :func:`call_split_loader` without the per-image existence check.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PluginError
from ..specs import SplitSpec
from .structures import EvalData, TrainData


def call_split_loader(split: SplitSpec, root: Path, protocol: Mapping[str, str], *,
                      verify_files: bool = True) -> TrainData | EvalData:
    """Run ``split``'s loader on ``root``; the result must match the split's role.

    ``verify_files=False`` asks loaders that support it to skip the per-image existence check
    (``cvgl-bench data check`` counts missing files itself instead of stopping at the first).
    """
    loader = split.load()
    kwargs: dict[str, Any] = {}
    if not verify_files and _accepts(loader, "verify_files"):
        kwargs["verify_files"] = False
    data = loader(Path(root), dict(protocol), **kwargs)
    expected = TrainData if split.role == "train" else EvalData
    if not isinstance(data, expected):
        raise PluginError(f"split {split.name!r}: its loader returned {type(data).__name__}, "
                          f"expected {expected.__name__} for a {split.role} split")
    return data


def _accepts(func: Any, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
