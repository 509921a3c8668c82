"""VIGOR: four cities, per-city split files, positives + 3 semi-positives per panorama.

Split files live in ``splits/<City>/`` (original labels) or ``splits__corrected/<City>/``
(SliceMatch's corrected labels, files named ``<name>__corrected.txt``; a ``splits/`` folder that
was replaced by the corrected one, as SliceMatch suggests, is found too). ``satellite_list.txt``
keeps its plain name in both. A label line has 13 space-separated tokens::

    <panoid>,<lat>,<lon>,.jpg  <pos_sat> <dy> <dx>  <semi1> <dy> <dx>  <semi2> <dy> <dx>  <semi3> <dy> <dx>

where the deltas are the satellite centre minus the panorama position in pixels of the
640 x 640 tile (lat direction, lon direction). Images are found in the official layout
(``<City>/panorama/``, ``<City>/satellite/``) or Sample4Geo's (``ground/<City>/``,
``satellite/<City>/``).

Galleries follow the protocols: the same-area test ranks against every satellite of the four
cities, the cross-area test against every satellite of Chicago and SanFrancisco; training
references are the distinct positive satellites (Sample4Geo). Offsets are kept in
``info["offsets"]`` (queries x 4 x 2, pixels) for metre-level metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..structures import POSITIVE, SEMI_POSITIVE, GroundTruth, ImageSet
from .common import eval_data, train_data
from .text import check_unique, parse_float, raise_if_missing, read_lines, require_entries

CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
SATELLITE_LIST = "satellite_list.txt"
#: degrees of latitude / longitude per 320 px of a 640 px tile (VIGOR's single constant)
DELTA_UNIT = (0.000328, 0.000433)


@dataclass(frozen=True)
class Protocol:
    """Which panoramas (label file, cities) and which gallery cities a split uses."""

    label_file: str
    query_cities: tuple[str, ...]
    gallery_cities: tuple[str, ...]


SPLITS = {
    "vigor_same_train": Protocol("same_area_balanced_train", CITIES, CITIES),
    "vigor_same_test": Protocol("same_area_balanced_test", CITIES, CITIES),
    "vigor_cross_train": Protocol("pano_label_balanced", ("NewYork", "Seattle"), ("NewYork", "Seattle")),
    "vigor_cross_test": Protocol("pano_label_balanced", ("Chicago", "SanFrancisco"), ("Chicago", "SanFrancisco")),
}


def split_file(root: Path, city: str, name: str, labels: str) -> Path:
    """The label or list file ``name`` of ``city`` under the chosen labels."""
    if labels == "corrected":
        file = name if name == SATELLITE_LIST else f"{name}__corrected.txt"
        candidates = [root / "splits__corrected" / city / file, root / "splits" / city / file]
    elif labels == "original":
        file = name if name == SATELLITE_LIST else f"{name}.txt"
        candidates = [root / "splits" / city / file]
    else:
        raise DataError(f"VIGOR labels must be 'corrected' or 'original', not {labels!r}")
    for path in candidates:
        if path.is_file():
            return path
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist (looked for {candidates[0]})")
    hint = " (use --protocol labels=original for the uncorrected splits/ files)" \
        if labels == "corrected" and (root / "splits").is_dir() else ""
    raise DataError(f"{candidates[0]}: VIGOR split file not found{hint}")


def satellite_latlon(name: str) -> tuple[float, float] | None:
    """``satellite_<lat>_<lon>.png`` -> (lat, lon); None when the name does not parse."""
    stem = name.rsplit(".", 1)[0]
    parts = stem.split("_")
    if len(parts) != 3 or parts[0] != "satellite":
        return None
    try:
        return float(parts[1]), float(parts[2])
    except ValueError:
        return None


@dataclass
class SatelliteList:
    path: Path
    names: list[str]
    latlon: np.ndarray


def read_satellite_list(path: Path) -> SatelliteList:
    lines = read_lines(path)
    require_entries(path, lines, "satellite names")
    names, coords, numbers = [], [], []
    for number, line in lines:
        name = line.strip()
        latlon = satellite_latlon(name)
        if latlon is None or " " in name:
            raise DataError(f"{path} line {number}: expected one 'satellite_<lat>_<lon>.png' name, got {name!r}")
        names.append(name)
        coords.append(latlon)
        numbers.append(number)
    check_unique(path, names, numbers, "satellite")
    return SatelliteList(path, names, np.asarray(coords, dtype=np.float64))


@dataclass
class LabelRows:
    """Parsed label lines of one city: panorama names and 4 satellites with offsets each."""

    path: Path
    line_numbers: list[int]
    panoramas: list[str]
    latlon: np.ndarray  # (n, 2)
    satellites: np.ndarray  # (n, 4) int64 rows of the city's satellite list
    offsets: np.ndarray  # (n, 4, 2) float32 pixels


def _pano_latlon(path: Path, number: int, name: str) -> tuple[float, float]:
    parts = name.split(",")
    if len(parts) < 4 or not parts[-1].startswith("."):
        raise DataError(f"{path} line {number}: panorama name {name!r} is not '<panoid>,<lat>,<lon>,.jpg'")
    return (parse_float(path, number, parts[-3], "panorama latitude"),
            parse_float(path, number, parts[-2], "panorama longitude"))


def read_label_file(path: Path, satellites: SatelliteList) -> LabelRows:
    """Parse one city's 13-token label file, resolving satellites against its list."""
    lines = read_lines(path)
    require_entries(path, lines, "panoramas")
    index = {name: i for i, name in enumerate(satellites.names)}
    n = len(lines)
    numbers, panos = [], []
    latlon = np.empty((n, 2), dtype=np.float64)
    sats = np.empty((n, 4), dtype=np.int64)
    offsets = np.empty((n, 4, 2), dtype=np.float32)
    for k, (number, line) in enumerate(lines):
        tokens = line.split()
        if len(tokens) != 13:
            raise DataError(f"{path} line {number}: expected 13 space-separated tokens "
                            f"(panorama + 4 x satellite dy dx), got {len(tokens)}")
        latlon[k] = _pano_latlon(path, number, tokens[0])
        for j in range(4):
            name = tokens[1 + 3 * j]
            row = index.get(name)
            if row is None:
                raise DataError(f"{path} line {number}: satellite {name!r} is not in {satellites.path}")
            sats[k, j] = row
            offsets[k, j, 0] = parse_float(path, number, tokens[2 + 3 * j], "offset")
            offsets[k, j, 1] = parse_float(path, number, tokens[3 + 3 * j], "offset")
        if len(set(sats[k].tolist())) != 4:
            raise DataError(f"{path} line {number}: the same satellite is listed twice among the positive "
                            "and semi-positives")
        numbers.append(number)
        panos.append(tokens[0])
    check_unique(path, panos, numbers, "panorama")
    return LabelRows(path, numbers, panos, latlon, sats, offsets)


def detect_layout(root: Path, cities: Sequence[str]) -> str:
    """``official`` (``<City>/panorama``) or ``sample4geo`` (``ground/<City>``)."""
    for city in cities:
        if (root / city / "panorama").is_dir() or (root / city / "satellite").is_dir():
            return "official"
        if (root / "ground" / city).is_dir() or (root / "satellite" / city).is_dir():
            return "sample4geo"
    city = cities[0]
    raise DataError(f"{root}: no VIGOR images found: expected {city}/panorama/ and {city}/satellite/ "
                    f"(official layout) or ground/{city}/ and satellite/{city}/ (Sample4Geo layout)")


def _image_dirs(root: Path, city: str, layout: str) -> tuple[str, str]:
    if layout == "official":
        return f"{root}/{city}/panorama", f"{root}/{city}/satellite"
    return f"{root}/ground/{city}", f"{root}/satellite/{city}"


@dataclass
class Loaded:
    """Everything read for one split before protocol-specific assembly."""

    layout: str
    queries: ImageSet
    gallery: ImageSet  # every satellite of the gallery cities, in city order
    satellites: np.ndarray  # (Q, 4) rows into gallery
    offsets: np.ndarray  # (Q, 4, 2)
    files: list[str]


def read_split(root: Path, name: str, labels: str, verify_files: bool = True,
               protocol: Protocol | None = None) -> Loaded:
    """Read the label files and satellite lists a split needs; paths resolved, files checked.

    ``protocol`` overrides the cities of split ``name`` (tests on partial real data use it).
    """
    root = Path(root)
    proto = protocol or SPLITS[name]
    cities = tuple(dict.fromkeys(proto.gallery_cities + proto.query_cities))
    sat_lists = {c: read_satellite_list(split_file(root, c, SATELLITE_LIST, labels)) for c in cities}
    layout = detect_layout(root, cities) if verify_files else _guess_layout(root, cities)
    offset, gallery_names, gallery_paths, gallery_latlon = {}, [], [], []
    for city in proto.gallery_cities:
        offset[city] = len(gallery_names)
        sat_dir = _image_dirs(root, city, layout)[1]
        gallery_names += sat_lists[city].names
        gallery_paths += [f"{sat_dir}/{n}" for n in sat_lists[city].names]
        gallery_latlon.append(sat_lists[city].latlon)
    _refuse_duplicates(gallery_names, "satellite", [str(sat_lists[c].path) for c in proto.gallery_cities])
    pano_names, pano_paths, pano_latlon, sats, offs, files = [], [], [], [], [], []
    where: list[str] = []
    for city in proto.query_cities:
        rows = read_label_file(split_file(root, city, proto.label_file, labels), sat_lists[city])
        files.append(str(rows.path))
        pano_dir = _image_dirs(root, city, layout)[0]
        pano_names += rows.panoramas
        pano_paths += [f"{pano_dir}/{p}" for p in rows.panoramas]
        pano_latlon.append(rows.latlon)
        sats.append(rows.satellites + offset[city])
        offs.append(rows.offsets)
        if verify_files:
            where += [f"{rows.path} line {n}" for n in rows.line_numbers]
    _refuse_duplicates(pano_names, "panorama", files)
    if verify_files:
        raise_if_missing(pano_paths, where, "panorama")
        sat_where = [str(sat_lists[c].path) for c in proto.gallery_cities
                     for _ in sat_lists[c].names]
        raise_if_missing(gallery_paths, sat_where, "satellite image")
    queries = ImageSet("ground", pano_names, pano_paths, latlon=np.concatenate(pano_latlon))
    gallery = ImageSet("satellite", gallery_names, gallery_paths, latlon=np.concatenate(gallery_latlon))
    return Loaded(layout, queries, gallery, np.concatenate(sats), np.concatenate(offs), files)


def _refuse_duplicates(names: list[str], what: str, files: list[str]) -> None:
    """Names must be unique across cities too (each file was checked on its own already)."""
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(n for n in names if n in seen or seen.add(n))
        raise DataError(f"{what} {dup!r} is listed in more than one city's file ({', '.join(files)})")


def _guess_layout(root: Path, cities: Sequence[str]) -> str:
    try:
        return detect_layout(root, cities)
    except DataError:
        return "official"


def vigor_truth(satellites: np.ndarray, n_references: int) -> GroundTruth:
    """Column 0 is the positive, columns 1-3 the semi-positives of each query."""
    q = len(satellites)
    roles = np.tile(np.asarray([POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE, SEMI_POSITIVE], dtype=np.int8), q)
    return GroundTruth(np.arange(q + 1) * 4, satellites.reshape(-1), roles, n_references)


def _labels(protocol: Mapping[str, str] | None) -> str:
    return (protocol or {}).get("labels", "corrected")


def resolve_labels(root: Path, name: str, labels: str) -> str:
    """``present``: ``corrected`` when every label file the split needs has its corrected version
    in the folder, else ``original``; an explicit choice is returned as it is."""
    if labels != "present":
        return labels
    proto = SPLITS[name]
    missing = []
    for city in proto.query_cities:
        try:
            split_file(Path(root), city, proto.label_file, "corrected")
        except DataError:
            missing.append(city)
    if missing and len(missing) < len(proto.query_cities):  # a partial corrected set: say which file is gone
        gone = Path(root) / "splits__corrected" / missing[0] / f"{proto.label_file}__corrected.txt"
        raise DataError(f"{gone}: VIGOR split file not found, while the corrected labels of the split's other cities "
                        "are there; restore it, or pass --protocol labels=original to read the splits/ files")
    return "original" if missing else "corrected"


def _info(name: str, loaded: Loaded, labels: str) -> dict:
    return {"split_file": ", ".join(loaded.files), "layout": f"vigor/{loaded.layout}", "labels": labels,
            "cities": list(SPLITS[name].query_cities), "gallery_cities": list(SPLITS[name].gallery_cities),
            "delta_unit_deg_per_320px": list(DELTA_UNIT)}


def _load_eval(name: str, root: Path, protocol: Mapping[str, str] | None, verify_files: bool):
    labels = resolve_labels(Path(root), name, _labels(protocol))
    loaded = read_split(Path(root), name, labels, verify_files)
    truth = vigor_truth(loaded.satellites, len(loaded.gallery))
    info = _info(name, loaded, labels)
    info["offsets"] = loaded.offsets
    return eval_data(name, loaded.queries, loaded.gallery, truth, protocol, info)


def _load_train(name: str, root: Path, protocol: Mapping[str, str] | None, verify_files: bool):
    labels = resolve_labels(Path(root), name, _labels(protocol))
    loaded = read_split(Path(root), name, labels, verify_files)
    positive = loaded.satellites[:, 0]
    used, pair_ref = np.unique(positive, return_inverse=True)
    references = loaded.gallery.subset(used)
    pairs = np.stack([np.arange(len(positive)), pair_ref.reshape(-1)], axis=1)
    info = _info(name, loaded, labels)
    info["offsets"] = loaded.offsets[:, 0]
    return train_data(name, loaded.queries, references, pairs, info)


def load_same_train(root, protocol=None, *, verify_files: bool = True):
    """``vigor_same_train``: same-area training panoramas of the four cities."""
    return _load_train("vigor_same_train", root, protocol, verify_files)


def load_same_test(root, protocol=None, *, verify_files: bool = True):
    """``vigor_same_test``: same-area test panoramas against every satellite of the four cities."""
    return _load_eval("vigor_same_test", root, protocol, verify_files)


def load_cross_train(root, protocol=None, *, verify_files: bool = True):
    """``vigor_cross_train``: every panorama of NewYork and Seattle (``pano_label_balanced``)."""
    return _load_train("vigor_cross_train", root, protocol, verify_files)


def load_cross_test(root, protocol=None, *, verify_files: bool = True):
    """``vigor_cross_test``: every panorama of Chicago and SanFrancisco against their satellites."""
    return _load_eval("vigor_cross_test", root, protocol, verify_files)
