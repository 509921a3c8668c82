"""Load a registered split by name: find its data, fill in its protocol, call its loader."""

from __future__ import annotations

import inspect
import os
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


def load_split(name: str, *, data_root: str | os.PathLike | None = None,
               protocol: Mapping[str, str] | None = None, host: Any = None,
               verify_files: bool = True) -> TrainData | EvalData:
    """The split ``name`` loaded under ``protocol`` (defaults filled in, unknown keys refused).

    The data folder comes from ``data_root`` / ``CVGL_DATA_ROOT`` / the config file
    (:func:`cvgl_bench.dataroot.resolve_root`); when it is nowhere, the one-line error says
    where it looked, how to obtain the dataset and which synthetic twin runs instead.
    """
    from ..dataroot import resolve_root
    from ..plugins import get_host

    host = host or get_host()
    split = host.splits.get(name)
    dataset = host.datasets.get(split.dataset)
    resolved = split.resolve_protocol(protocol)
    root = resolve_root(dataset, data_root, split)
    return call_split_loader(split, root, resolved, verify_files=verify_files)


def _accepts(func: Any, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
