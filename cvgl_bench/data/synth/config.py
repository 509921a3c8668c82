"""What to generate: layout, size preset, seed, image sizes and the layout's own knobs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ...errors import ConfigError
from ...seedrule import seed_problem

LAYOUTS = ("cvusa", "cvact", "vigor", "university1652")
SIZES = ("tiny", "small", "medium", "full")
#: Bounds of ``--size N`` and of an image side: ten times the largest real dataset's training
#: pairs, and twice its widest panorama (VIGOR's 2048), so a typo is refused, not an allocation.
MAX_PAIRS = 1_000_000
MAX_SIDE_PX = 4096
#: The most generator processes (``synth --workers``, ``CVGL_BENCH_SYNTH_WORKERS``), like the
#: data loader's: a typo of thousands started one process per world (hundreds at ``full`` size).
MAX_WORKERS = 64

#: Pairs per preset and layout. ``small`` is the default: at least 2,000 training pairs and
#: 1,000 test pairs per layout. ``full`` is the real datasets' size (hours of CPU).
COUNTS: dict[str, dict[str, dict[str, int]]] = {
    # small trains on 4,000 pairs (layout revision 1; 2,000 before), four per test pair as in the
    # real datasets (docs/synth.md, "Training-set size")
    "cvusa": {"tiny": {"train": 48, "test": 24}, "small": {"train": 4000, "test": 1000},
              "medium": {"train": 8000, "test": 2000}, "full": {"train": 35532, "test": 8884}},
    "cvact": {"tiny": {"train": 40, "val": 16, "test": 24}, "small": {"train": 4000, "val": 1000, "test": 1000},
              "medium": {"train": 8000, "val": 2000, "test": 4000},
              "full": {"train": 35532, "val": 8884, "test": 92802}},
    # VIGOR: panoramas per city (NewYork and Seattle train the cross-area split)
    "vigor": {"tiny": {"large": 40, "small": 20}, "small": {"large": 1020, "small": 510},
              "medium": {"large": 4000, "small": 2000}, "full": {"large": 26000, "small": 26600}},
    # University-1652: buildings (train, test, distractors) and drone views per building
    "university1652": {"tiny": {"train": 6, "test": 4, "distractors": 2, "views": 4},
                       "small": {"train": 126, "test": 64, "distractors": 24, "views": 16},
                       "medium": {"train": 300, "test": 200, "distractors": 70, "views": 27},
                       "full": {"train": 701, "test": 701, "distractors": 250, "views": 54}},
}

#: Image sizes on disk: defaults small enough for CPU training, and the real datasets' sizes.
IMAGE_SIZES = {
    "default": {"cvusa": {"satellite": (128, 128), "ground": (64, 256)},
                "cvact": {"satellite": (128, 128), "ground": (128, 256)},
                "vigor": {"satellite": (128, 128), "ground": (128, 256)},
                "university1652": {"satellite": (128, 128), "drone": (128, 128)}},
    "real": {"cvusa": {"satellite": (750, 750), "ground": (224, 1232)},
             "cvact": {"satellite": (1200, 1200), "ground": (832, 1664)},
             "vigor": {"satellite": (640, 640), "ground": (1024, 2048)},
             "university1652": {"satellite": (512, 512), "drone": (512, 512)}},
}

DEFAULT_STYLE = {"cvusa": "suburb", "cvact": "downtown", "vigor": None, "university1652": "campus"}


@dataclass(frozen=True)
class SynthConfig:
    """A complete, hashable description of one generated dataset."""

    layout: str
    size: str
    seed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    style: str | None = None
    """Override the layout's default style for every world (None = layout default)."""
    satellite_px: tuple[int, int] = (128, 128)
    ground_px: tuple[int, int] = (64, 256)
    drone_px: tuple[int, int] = (128, 128)
    orientation: str = "north"
    """``north`` (north-aligned panoramas, the datasets' convention) or ``unknown`` (random yaw)."""
    places_per_world: int = 200
    world_m: float | None = None
    satellite_extent_m: float = 120.0
    satellite_offset_m: float = 5.0
    """Scale (Rayleigh sigma) of the satellite centre's offset from the camera."""
    vigor_layout: str = "official"
    """``official`` (City/panorama, City/satellite) or ``sample4geo`` (ground/City, satellite/City)."""

    def describe(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def parse_size(size: str | int) -> tuple[str, float]:
    """``tiny|small|medium|full`` or an integer N (about N training pairs): (label, scale vs small)."""
    text = str(size).strip().lower()
    if text in SIZES:
        return text, 1.0
    try:
        n = int(text)
    except ValueError:
        raise ConfigError(f"--size must be tiny, small, medium, full or a number of training pairs, not {size!r}") \
            from None
    if not 8 <= n <= MAX_PAIRS:
        raise ConfigError(f"--size {n}: ask for 8 to {MAX_PAIRS:,} training pairs (full: the real datasets' counts)")
    return str(n), n / 2000.0


def make_config(layout: str, size: str | int = "small", seed: int = 0, style: str | None = None,
                real_sizes: bool = False, **overrides) -> SynthConfig:
    """The configuration of ``layout`` at ``size`` (a preset or N training pairs)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; layouts: {', '.join(LAYOUTS)}")
    if seed_problem(seed):
        raise ConfigError(f"synthetic world seed: {seed_problem(seed)}")
    label, scale = parse_size(size)
    if label in SIZES:
        counts = dict(COUNTS[layout][label])
    else:
        counts = _scaled(layout, scale)
    if style is not None:
        from .styles import get_style

        get_style(style)
    sizes = IMAGE_SIZES["real" if real_sizes else "default"][layout]
    kw: dict = {"satellite_px": sizes["satellite"]}
    if "ground" in sizes:
        kw["ground_px"] = sizes["ground"]
    if "drone" in sizes:
        kw["drone_px"] = sizes["drone"]
    if layout == "vigor":
        kw["places_per_world"] = 260
    if layout == "cvusa":
        # The suburb's open, flat ground is where a no-learning ground-plane warp with a shift
        # search comes closest to matching (benchmarks/synth_guards.py): 5.3 % R@1 at 5 m, 3.5 %
        # at 7 m, 4.4 % at 6 m (layout revision 2; every metre costs learned methods ~5 points).
        kw["satellite_offset_m"] = 6.0
    if label == "tiny":
        kw["world_m"] = 300.0
        kw["places_per_world"] = 40 if layout != "vigor" else 20
    cfg = SynthConfig(layout=layout, size=label, seed=int(seed), counts=counts, style=style, **kw)
    clean = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(clean) - set(SynthConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown synthetic option {unknown[0]!r}")
    if clean.get("orientation", "north") not in ("north", "unknown"):
        raise ConfigError("orientation must be 'north' or 'unknown'")
    if clean.get("vigor_layout", "official") not in ("official", "sample4geo"):
        raise ConfigError("vigor_layout must be 'official' or 'sample4geo'")
    cfg = replace(cfg, **clean)
    for name in ("satellite_px", "drone_px"):
        h, w = getattr(cfg, name)
        if h != w:
            raise ConfigError(f"{name.split('_')[0]} images are square; got {h}x{w}")
    if min(cfg.satellite_px + cfg.ground_px + cfg.drone_px) < 16:
        raise ConfigError("images must be at least 16 pixels on each side")
    if max(cfg.satellite_px + cfg.ground_px + cfg.drone_px) > MAX_SIDE_PX:
        raise ConfigError(f"images must be at most {MAX_SIDE_PX} pixels on each side")
    return cfg


def _scaled(layout: str, scale: float) -> dict[str, int]:
    """Counts of ``small`` scaled to ask for about N training pairs (views per building fixed)."""
    base = COUNTS[layout]["small"]
    if "train" in base and layout in ("cvusa", "cvact"):  # N is the number of training pairs exactly
        scale = scale * 2000.0 / base["train"]
    return {k: v if k == "views" else max(2, int(math.ceil(v * scale))) for k, v in base.items()}
