"""Pieces shared by the layout writers: jobs, scenes, file writing, ids."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..capture import Capture, build_capture
from ..config import SynthConfig
from ..photo import encode
from ..rng import stream, sub_seed
from ..styles import Style, get_style
from ..world import World, build_world

Tick = Callable[[int], None]

PANO_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass
class Job:
    """One world to build and photograph; everything a worker needs, picklable."""

    layout: str
    index: int
    style: Style
    world_seed: int
    world_m: float
    anchor: tuple[float, float]
    """Latitude and longitude of the world's south-west corner."""
    tasks: dict[str, Any] = field(default_factory=dict)
    work: int = 0
    """Images this job writes (for the progress bar)."""


def world_style(cfg: SynthConfig, default: str, *keys: object) -> Style:
    """The style of one world: the configured (or default) style, perturbed per world."""
    base = get_style(cfg.style or default)
    return base.city_variant(stream(cfg.seed, cfg.layout, "style", *keys))


def world_size(cfg: SynthConfig, style: Style) -> float:
    return float(cfg.world_m or style.world_m)


def margin(style: Style, size_m: float) -> float:
    return min(style.margin_m, size_m * 0.22)


def build_scene(job: Job, cfg: SynthConfig, ground_kind: str, exclude: np.ndarray | None = None,
                world: World | None = None) -> tuple[World, Capture, Capture]:
    """The world of ``job`` with a satellite capture and a ground (or drone) capture."""
    world = world or build_world(job.style, job.world_seed, job.world_m)
    sat = build_capture(world, sub_seed(cfg.seed, cfg.layout, job.index, "sat"), "satellite", "satellite")
    other = build_capture(world, sub_seed(cfg.seed, cfg.layout, job.index, ground_kind), ground_kind, ground_kind,
                          exclude=exclude)
    return world, sat, other


def write_image(root: Path, rel: str, image: np.ndarray, fmt: str, quality: int = 90) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, fmt, quality))


def write_text(root: Path, rel: str, lines: list[str], newline: str = "\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("".join(line + newline for line in lines)).encode("utf-8"))


def random_ids(rng: np.random.Generator, count: int, length: int = 22, taken: set[str] | None = None) -> list[str]:
    """Distinct Google-style pano ids (letters, digits, '-' and '_')."""
    taken = set() if taken is None else taken
    out: list[str] = []
    alphabet = np.array(list(PANO_ID_ALPHABET))
    while len(out) < count:
        cand = "".join(alphabet[rng.integers(0, len(alphabet), length)])
        if cand not in taken:
            taken.add(cand)
            out.append(cand)
    return out


def split_evenly(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def camera_yaw(cfg: SynthConfig, rng: np.random.Generator) -> float:
    """Heading error of a north-aligned panorama (about a degree), or any yaw if unknown."""
    if cfg.orientation == "unknown":
        return float(rng.uniform(0, 2 * np.pi))
    return float(np.radians(rng.normal(0, 1.0)))


def satellite_offset(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Offset (m) of the satellite tile's centre from the camera: Rayleigh distributed."""
    return rng.normal(0, cfg.satellite_offset_m, 2)


def fmt(value: float, digits: int = 8) -> str:
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text.startswith("-0.") and float(text) == 0 else text
