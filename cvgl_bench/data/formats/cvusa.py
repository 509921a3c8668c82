"""CVUSA, CVPR'17 "19zl" subset (``splits/train-19zl.csv``, ``splits/val-19zl.csv``).

Each CSV row is ``satellite,ground,annotation`` (relative paths, no header); the id is the
satellite file's stem (``bingmap/19/0000019.jpg`` -> ``0000019``) and must equal the ground
file's stem. ``val-19zl.csv`` is the test split of every paper. Optional
``split_locations/all.csv`` gives GPS: row ``id - 1`` holds (aerial lat, aerial lon, panorama
lat, panorama lon, and a fifth column that Sample4Geo names ``i_dont_know`` and never reads) in
Sample4Geo's reading of that undocumented file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..structures import GroundTruth, ImageSet
from .common import DoubledFolderResolver, eval_data, train_data
from .text import check_unique, first_existing, parse_float, raise_if_missing, read_lines, require_entries

TRAIN_CSV = "train-19zl.csv"
TEST_CSV = "val-19zl.csv"
LOCATIONS_CSV = "split_locations/all.csv"


@dataclass
class SplitRows:
    """The parsed rows of one 19zl CSV file."""

    path: Path
    line_numbers: list[int]
    ids: list[str]
    satellite: list[str]
    ground: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def where(self, i: int) -> str:
        return f"{self.path} line {self.line_numbers[i]}"


def _stem(rel: str) -> str:
    return os.path.splitext(rel.replace("\\", "/").rsplit("/", 1)[-1])[0]


def read_split_csv(path: Path) -> SplitRows:
    """Parse a 19zl CSV; malformed rows, id mismatches and duplicates are one-line errors."""
    lines = read_lines(path)
    require_entries(path, lines, "rows")
    numbers, ids, sats, grounds = [], [], [], []
    for number, line in lines:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3:
            raise DataError(f"{path} line {number}: expected 3 comma-separated paths "
                            f"(satellite,ground,annotation), got {len(fields)}")
        sat, ground, _annotation = fields
        if not sat or not ground:
            raise DataError(f"{path} line {number}: empty {'satellite' if not sat else 'ground'} path")
        sat_id, ground_id = _stem(sat), _stem(ground)
        if sat_id != ground_id:
            raise DataError(f"{path} line {number}: satellite id {sat_id!r} and ground id {ground_id!r} differ")
        numbers.append(number)
        ids.append(sat_id)
        sats.append(sat)
        grounds.append(ground)
    check_unique(path, ids, numbers)
    return SplitRows(path, numbers, ids, sats, grounds)


def read_locations(path: Path, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(satellite lat/lon, ground lat/lon) of each id from ``all.csv`` row ``id - 1``."""
    lines = read_lines(path)
    out = np.empty((len(ids), 4), dtype=np.float64)
    if lines and not all(_is_number(f) for f in lines[0][1].split(",")[:4]):
        raise DataError(f"{path} line {lines[0][0]}: not numbers (a header row?); all.csv has no header, "
                        "row N holds image id N")
    for k, image_id in enumerate(ids):
        try:
            row = int(image_id) - 1
        except ValueError:
            raise DataError(f"{path}: image id {image_id!r} is not a number, so it has no row here") from None
        if not 0 <= row < len(lines):
            raise DataError(f"{path}: has {len(lines)} rows, but image id {image_id} needs row {row + 1}")
        number, line = lines[row]
        if number != row + 1:
            raise DataError(f"{path} line {number}: blank line before it; rows must be id-aligned")
        fields = line.split(",")
        if len(fields) < 4:
            raise DataError(f"{path} line {number}: expected at least 4 comma-separated numbers, got {len(fields)}")
        out[k] = [parse_float(path, number, f, "coordinate") for f in fields[:4]]
        if not (np.all(np.abs(out[k, 0::2]) <= 90) and np.all(np.abs(out[k, 1::2]) <= 180)):
            raise DataError(f"{path} line {number}: {', '.join(fields[:4])} are not latitude, longitude pairs in "
                            "degrees (an extra first column?); rows are aerial lat, lon, ground lat, lon")
    return out[:, 0:2], out[:, 2:4]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_file(root: Path, name: str) -> Path:
    return first_existing(root, [f"splits/{name}", f"splits/splits/{name}"], f"CVUSA split file {name}")


def _image_sets(root: Path, rows: SplitRows, verify_files: bool) -> tuple[ImageSet, ImageSet]:
    resolve = DoubledFolderResolver(root)
    sat_paths = [resolve(p) for p in rows.satellite]
    ground_paths = [resolve(p) for p in rows.ground]
    if verify_files:
        where = [rows.where(i) for i in range(len(rows))]
        raise_if_missing(ground_paths, where, "ground image")
        raise_if_missing(sat_paths, where, "satellite image")
    sat_latlon = ground_latlon = None
    locations = root / LOCATIONS_CSV
    if locations.is_file():
        sat_latlon, ground_latlon = read_locations(locations, rows.ids)
    ground = ImageSet("ground", rows.ids, ground_paths, latlon=ground_latlon)
    satellite = ImageSet("satellite", rows.ids, sat_paths, latlon=sat_latlon)
    return ground, satellite


def load_train(root: Path, protocol: Mapping[str, str] | None = None, *, verify_files: bool = True):
    """``cvusa_train``: one (panorama, satellite) pair per location."""
    root = Path(root)
    rows = read_split_csv(_split_file(root, TRAIN_CSV))
    ground, satellite = _image_sets(root, rows, verify_files)
    pairs = np.stack([np.arange(len(rows)), np.arange(len(rows))], axis=1)
    return train_data("cvusa_train", ground, satellite, pairs,
                      {"split_file": str(rows.path), "layout": "cvusa"})


def load_test(root: Path, protocol: Mapping[str, str] | None = None, *, verify_files: bool = True):
    """``cvusa_test`` (``val-19zl.csv``): panorama queries, the satellites of the same rows as
    gallery, one positive each."""
    root = Path(root)
    rows = read_split_csv(_split_file(root, TEST_CSV))
    ground, satellite = _image_sets(root, rows, verify_files)
    truth = GroundTruth.one_to_one(np.arange(len(rows)), len(rows))
    return eval_data("cvusa_test", ground, satellite, truth, protocol,
                     {"split_file": str(rows.path), "layout": "cvusa"})
