"""Backbone weights pretrained on the synthetic world: the ``cpu`` profiles' initialisation.

Real CVGL methods start from ImageNet weights. Their synthetic twins start from weights made
once by ``scripts/pretrain_backbone.py``: a timm backbone taught to label every pixel of
satellite, street-level and drone views of worlds the benchmark never uses (no pairs, no
matching). The weights ship with the package under :data:`WEIGHTS_DIR`, named
``synth-<backbone>-<first 8 hex digits of their sha256>``; a recipe asks for them with
``pretrained: <that name>``, so a new set of weights is a new recipe (and new checkpoints).
Every method uses the same file.
"""

from __future__ import annotations

__all__ = ["SYNTH_CONVNEXT_ATTO", "describe", "is_synth_weights", "load_into", "load_state"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""Where the committed synthetic-pretrained weights live (package data)."""

PREFIX = "synth-"

SYNTH_CONVNEXT_ATTO = "synth-convnext_atto-3803c015"
"""The weights every ``cpu`` recipe starts from (ConvNeXt-atto; see ``weights/<name>.json``)."""


def weights_name(backbone: str, sha256: str) -> str:
    """``synth-<backbone>-<sha8>``: the name a recipe uses for a weights file."""
    return f"{PREFIX}{backbone}-{sha256[:8]}"


def is_synth_weights(value: Any) -> bool:
    """Whether a ``pretrained`` hparam names synthetic-pretrained weights (rather than true/false)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def describe(name: str) -> dict[str, Any]:
    """The sidecar description of weights ``name`` (corpus, recipe, times, held-out accuracy)."""
    path = WEIGHTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in WEIGHTS_DIR.glob(f"{PREFIX}*.pt"))) or "none"
        raise ConfigError(f"pretrained weights {name!r} are not installed (known: {known}); "
                          f"make them with scripts/pretrain_backbone.py") from None


def load_state(name: str, backbone: str) -> dict[str, Any]:
    """The float32 state dict of weights ``name``, checked against its hash and ``backbone``."""
    import torch

    info = describe(name)
    if info.get("backbone") != backbone.split(".")[0]:
        raise ConfigError(f"pretrained weights {name!r} are for backbone {info.get('backbone')!r}, not {backbone!r}; "
                          f"set backbone to {info.get('backbone')!r} or choose other weights")
    path = WEIGHTS_DIR / f"{name}.pt"
    payload = path.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != info.get("sha256") or not name.endswith(digest[:8]):
        raise ConfigError(f"pretrained weights file {path} does not match its name and description "
                          f"(sha256 {digest[:12]}...); reinstall cvgl-bench")
    import io

    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_into(module: Any, name: str, backbone: str) -> None:
    """Load weights ``name`` into a freshly built timm ``backbone`` (``num_classes=0``), strictly:
    every key must match, except a pooling head the caller has already removed."""
    state = load_state(name, backbone)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own and not k.startswith("head.")]
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise ConfigError(f"pretrained weights {name!r} do not fit this {backbone} "
                          f"({'missing' if missing else 'unexpected'} key {first!r}); build the backbone with "
                          f"timm defaults (no backbone_kwargs)")
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
