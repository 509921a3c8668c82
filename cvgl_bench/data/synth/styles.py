"""Town styles: the parameters that make a suburb look unlike a downtown or a campus.

A :class:`Style` is plain data. Worlds of one style share the statistics (road network kind,
block sizes, building heights, vegetation, palettes) but every world draws its own values, and
:meth:`Style.city_variant` perturbs a style into a "city" with its own palette and densities,
so same-city and other-city test sets differ the way VIGOR's same-area and cross-area do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

Range = tuple[float, float]

#: Facade materials: base albedo (sRGB, 0-1) and window look.
FACADES: dict[str, dict] = {
    "brick": {"rgb": (0.50, 0.27, 0.20), "curtain": False},
    "stucco": {"rgb": (0.84, 0.78, 0.66), "curtain": False},
    "siding_white": {"rgb": (0.86, 0.86, 0.83), "curtain": False},
    "siding_blue": {"rgb": (0.55, 0.63, 0.70), "curtain": False},
    "siding_yellow": {"rgb": (0.86, 0.78, 0.54), "curtain": False},
    "stone": {"rgb": (0.73, 0.67, 0.56), "curtain": False},
    "concrete": {"rgb": (0.64, 0.63, 0.60), "curtain": False},
    "glass": {"rgb": (0.33, 0.43, 0.49), "curtain": True},
    "dark_metal": {"rgb": (0.26, 0.27, 0.29), "curtain": True},
}

#: Roof materials: base albedo.
ROOFS: dict[str, tuple[float, float, float]] = {
    "shingle_grey": (0.36, 0.36, 0.37),
    "shingle_brown": (0.38, 0.29, 0.24),
    "terracotta": (0.66, 0.34, 0.22),
    "metal_green": (0.31, 0.44, 0.37),
    "slate": (0.24, 0.26, 0.30),
    "flat_gravel": (0.60, 0.59, 0.56),
    "flat_white": (0.86, 0.86, 0.84),
    "flat_dark": (0.31, 0.31, 0.32),
    "green_roof": (0.33, 0.45, 0.22),
}

#: P(roof material | facade material), separately for pitched and flat roofs: materials differ
#: but correlate, as in real towns (stucco walls under terracotta, glass towers under white).
ROOF_GIVEN_FACADE: dict[str, dict[str, dict[str, float]]] = {
    "pitched": {
        "brick": {"slate": 0.4, "shingle_brown": 0.35, "terracotta": 0.15, "metal_green": 0.1},
        "stucco": {"terracotta": 0.6, "shingle_brown": 0.25, "shingle_grey": 0.15},
        "siding_white": {"shingle_grey": 0.55, "shingle_brown": 0.2, "metal_green": 0.1, "slate": 0.15},
        "siding_blue": {"shingle_grey": 0.6, "slate": 0.25, "shingle_brown": 0.15},
        "siding_yellow": {"shingle_brown": 0.45, "shingle_grey": 0.4, "metal_green": 0.15},
        "stone": {"slate": 0.5, "shingle_grey": 0.3, "terracotta": 0.2},
        "concrete": {"shingle_grey": 0.6, "metal_green": 0.4},
        "glass": {"metal_green": 0.5, "slate": 0.5},
        "dark_metal": {"slate": 1.0},
    },
    "flat": {
        "brick": {"flat_dark": 0.5, "flat_gravel": 0.4, "green_roof": 0.1},
        "stucco": {"flat_white": 0.6, "flat_gravel": 0.4},
        "siding_white": {"flat_white": 0.7, "flat_gravel": 0.3},
        "siding_blue": {"flat_gravel": 0.7, "flat_white": 0.3},
        "siding_yellow": {"flat_gravel": 0.7, "flat_white": 0.3},
        "stone": {"flat_gravel": 0.6, "flat_white": 0.4},
        "concrete": {"flat_gravel": 0.6, "flat_white": 0.3, "flat_dark": 0.1},
        "glass": {"flat_white": 0.5, "flat_gravel": 0.3, "flat_dark": 0.2},
        "dark_metal": {"flat_dark": 0.6, "flat_gravel": 0.4},
    },
}

#: Ground materials: base albedo (summer).
GROUND: dict[str, tuple[float, float, float]] = {
    "grass": (0.29, 0.41, 0.17),
    "dry_grass": (0.56, 0.51, 0.31),
    "asphalt": (0.25, 0.25, 0.26),
    "parking": (0.31, 0.31, 0.32),
    "sidewalk": (0.62, 0.61, 0.58),
    "driveway": (0.62, 0.61, 0.58),
    "plaza": (0.56, 0.55, 0.52),
    "soil": (0.45, 0.37, 0.27),
    "water": (0.13, 0.23, 0.27),
    "pool": (0.27, 0.64, 0.76),
    "yellow_line": (0.86, 0.72, 0.22),
    "white_line": (0.90, 0.90, 0.88),
    "path": (0.74, 0.70, 0.62),
}

#: Tree species: summer canopy colour, autumn colour, whether it is a cone-shaped conifer.
TREES: dict[str, dict] = {
    "oak": {"summer": (0.20, 0.32, 0.12), "autumn": (0.55, 0.36, 0.13), "conifer": False},
    "maple": {"summer": (0.25, 0.38, 0.13), "autumn": (0.72, 0.32, 0.12), "conifer": False},
    "linden": {"summer": (0.30, 0.42, 0.16), "autumn": (0.66, 0.56, 0.20), "conifer": False},
    "pine": {"summer": (0.13, 0.23, 0.13), "autumn": (0.15, 0.24, 0.13), "conifer": True},
    "spruce": {"summer": (0.10, 0.19, 0.12), "autumn": (0.11, 0.20, 0.12), "conifer": True},
    "shrub": {"summer": (0.21, 0.31, 0.13), "autumn": (0.40, 0.33, 0.15), "conifer": False},
}


@dataclass(frozen=True)
class Style:
    """Everything that distinguishes one kind of town from another (lengths in metres)."""

    name: str
    network: str
    """``organic`` (warped lattice with dead ends and cul-de-sacs) or ``grid``."""
    world_m: float = 640.0
    margin_m: float = 90.0
    spacing_x: Range = (110.0, 160.0)
    spacing_y: Range = (70.0, 110.0)
    warp_m: float = 0.0
    drop_edge: float = 0.0
    cul_de_sac: float = 0.0
    diagonal: float = 0.0
    street_halfwidth: Range = (4.5, 5.5)
    arterial_halfwidth: Range = (7.0, 9.0)
    arterials: int = 1
    verge: Range = (0.0, 0.0)
    sidewalk: Range = (1.5, 2.0)
    # buildings
    buildings: str = "houses"
    """``houses`` along streets, ``parcels`` filling blocks, or ``campus`` halls in parks."""
    lot_width: Range = (17.0, 26.0)
    setback: Range = (5.0, 9.0)
    house_w: Range = (9.0, 15.0)
    house_d: Range = (8.0, 12.0)
    storeys: tuple[int, int] = (1, 2)
    floor_height: Range = (2.8, 3.2)
    roof_pitched: float = 0.9
    height_median: float = 0.0
    height_sigma: float = 0.6
    height_max: float = 0.0
    parcel_frontage: Range = (14.0, 36.0)
    parcel_setback: Range = (0.0, 2.0)
    podium: float = 0.0
    parking: float = 0.05
    plaza: float = 0.0
    pool: float = 0.0
    empty_lot: float = 0.05
    # vegetation and ground
    tree_density: float = 1.0
    """Trees per 1,000 square metres of open green ground."""
    street_trees: Range = (0.0, 0.0)
    """Spacing range of street trees along sidewalks (0 = none)."""
    tree_mix: dict[str, float] = field(default_factory=lambda: {"oak": 0.4, "maple": 0.3, "linden": 0.15,
                                                               "pine": 0.1, "spruce": 0.05})
    tree_radius: Range = (2.2, 5.0)
    ponds: tuple[int, int] = (0, 1)
    open_ground: str = "grass"
    terrain_amp: float = 2.0
    facade_mix: dict[str, float] = field(default_factory=dict)
    hue_jitter: float = 0.06

    def city_variant(self, rng: np.random.Generator, name: str | None = None) -> Style:
        """A perturbed copy: own palette jitter, densities and sizes (one "city" of this style)."""
        def scale(r: Range, s: float) -> Range:
            return (r[0] * s, r[1] * s)

        mix = {k: v * float(rng.uniform(0.5, 1.5)) for k, v in self.facade_mix.items()}
        trees = {k: v * float(rng.uniform(0.4, 1.6)) for k, v in self.tree_mix.items()}
        s = float(rng.uniform(0.85, 1.2))
        return replace(
            self, name=name or self.name, facade_mix=mix, tree_mix=trees,
            spacing_x=scale(self.spacing_x, s), spacing_y=scale(self.spacing_y, float(rng.uniform(0.85, 1.2))),
            tree_density=self.tree_density * float(rng.uniform(0.6, 1.4)),
            height_median=self.height_median * float(rng.uniform(0.75, 1.3)),
            warp_m=self.warp_m * float(rng.uniform(0.7, 1.3)),
            hue_jitter=self.hue_jitter * 1.5,
        )


SUBURB = Style(
    name="suburb", network="organic", world_m=640.0, margin_m=90.0,
    spacing_x=(110.0, 160.0), spacing_y=(62.0, 90.0), warp_m=28.0, drop_edge=0.22, cul_de_sac=0.6,
    street_halfwidth=(4.3, 5.5), arterial_halfwidth=(6.5, 8.0), arterials=1,
    verge=(1.5, 3.0), sidewalk=(1.5, 2.0),
    buildings="houses", lot_width=(17.0, 25.0), setback=(5.0, 9.0), house_w=(10.0, 16.0),
    house_d=(9.0, 13.5), storeys=(1, 2), roof_pitched=0.92, pool=0.12, parking=0.04, empty_lot=0.06,
    tree_density=7.0, street_trees=(12.0, 22.0), tree_radius=(2.0, 5.2), ponds=(0, 2),
    terrain_amp=6.0,
    facade_mix={"siding_white": 0.2, "siding_blue": 0.12, "siding_yellow": 0.1, "brick": 0.25,
                "stucco": 0.25, "stone": 0.08},
)

DOWNTOWN = Style(
    name="downtown", network="grid", world_m=640.0, margin_m=90.0,
    spacing_x=(75.0, 125.0), spacing_y=(60.0, 105.0), warp_m=0.0, drop_edge=0.0, cul_de_sac=0.0,
    diagonal=0.5, street_halfwidth=(5.5, 7.5), arterial_halfwidth=(9.0, 11.5), arterials=2,
    verge=(0.0, 0.0), sidewalk=(3.0, 5.0),
    buildings="parcels", storeys=(3, 60), floor_height=(3.3, 4.0), roof_pitched=0.03,
    height_median=26.0, height_sigma=0.65, height_max=160.0, parcel_frontage=(14.0, 38.0),
    parcel_setback=(0.0, 1.5), podium=0.3, parking=0.1, plaza=0.05, empty_lot=0.02,
    tree_density=3.0, street_trees=(9.0, 14.0), tree_mix={"linden": 0.45, "maple": 0.35, "oak": 0.2},
    tree_radius=(1.8, 3.6), ponds=(0, 0), open_ground="plaza", terrain_amp=2.0,
    facade_mix={"concrete": 0.3, "glass": 0.28, "brick": 0.2, "stone": 0.14, "dark_metal": 0.08},
)

CAMPUS = Style(
    name="campus", network="organic", world_m=640.0, margin_m=90.0,
    spacing_x=(150.0, 210.0), spacing_y=(120.0, 170.0), warp_m=18.0, drop_edge=0.15, cul_de_sac=0.2,
    street_halfwidth=(4.0, 5.0), arterial_halfwidth=(6.5, 8.0), arterials=1,
    verge=(1.0, 2.5), sidewalk=(2.0, 3.0),
    buildings="campus", storeys=(2, 7), floor_height=(3.4, 4.0), roof_pitched=0.35,
    parking=0.3, plaza=0.2, tree_density=4.0, street_trees=(12.0, 20.0), tree_radius=(2.5, 5.5),
    ponds=(0, 1), terrain_amp=4.0,
    facade_mix={"brick": 0.45, "stone": 0.25, "concrete": 0.2, "glass": 0.1},
)

STYLES: dict[str, Style] = {s.name: s for s in (SUBURB, DOWNTOWN, CAMPUS)}


def get_style(name: str) -> Style:
    """The style called ``name``; an unknown name is a one-line user error."""
    from ...errors import ConfigError

    try:
        return STYLES[name]
    except KeyError:
        raise ConfigError(f"unknown synthetic style {name!r}; styles: {', '.join(sorted(STYLES))}") from None
