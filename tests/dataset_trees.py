"""Miniature dataset folders in the official layouts, for the dataset loader tests.

Images are tiny real JPEG/PNG files (``images=True``) or absent; nothing is written outside
the folder given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (12, 16)) -> Path:
    """A small random image; the format follows the suffix (.jpg/.jpeg -> JPEG, .png -> PNG)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    Image.fromarray(pixels).save(path, format=fmt)
    return path


# -- CVUSA -----------------------------------------------------------------------------------
def cvusa_row(i: int) -> str:
    return f"bingmap/19/{i:07d}.jpg,streetview/panos/{i:07d}.jpg,streetview/annotations/{i:07d}.png"


def make_cvusa(root: Path, train=(1, 2, 3, 4), test=(5, 6), images: bool = True, locations: bool = True,
               crlf: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    eol = "\r\n" if crlf else "\n"
    for name, ids in (("train-19zl.csv", train), ("val-19zl.csv", test)):
        (root / "splits" / name).write_text(eol.join(cvusa_row(i) for i in ids) + eol)
    if locations:
        (root / "split_locations").mkdir(exist_ok=True)
        n = max(list(train) + list(test))
        rows = [f"{40 + i * 0.01:.6f},{-90 - i * 0.01:.6f},{40 + i * 0.01 + 1e-5:.6f},{-90 - i * 0.01:.6f},90.0"
                for i in range(1, n + 1)]
        (root / "split_locations" / "all.csv").write_text("\n".join(rows) + "\n")
    if images:
        for i in list(train) + list(test):
            write_image(root / f"bingmap/19/{i:07d}.jpg", i, (16, 16))
            write_image(root / f"streetview/panos/{i:07d}.jpg", 100 + i, (8, 32))
    return root


# -- CVACT -----------------------------------------------------------------------------------
def act_ids(n: int) -> np.ndarray:
    """Equal-length 22-character ids (Google pano ids are 22 characters)."""
    return np.asarray([f"p{k:05d}" + "x" * 16 for k in range(n)])


def act_utm(n: int) -> np.ndarray:
    """Positions 100 m apart, except ids 8 and 9 at 3 m and id 10 at 4 m from id 9 (7 m from 8)."""
    utm = np.stack([500000.0 + 100.0 * np.arange(n), np.full(n, 6.1e6)], axis=1)
    if n > 10:
        utm[9] = utm[8] + [3.0, 0.0]
        utm[10] = utm[8] + [7.0, 0.0]
    return utm


def write_act_mat(path: Path, n: int = 12, train=(1, 2, 3, 4), val=(5, 6), test=(7, 8, 9, 10, 11, 12),
                  index_field: str = "trainInd", val_field: str = "valInd") -> Path:
    import scipy.io

    def struct(first: str, field: str, idx) -> dict:
        return {first: np.zeros((1, 1)), field: np.asarray(idx, dtype=np.float64).reshape(-1, 1)}

    scipy.io.savemat(path, {
        "panoIds": act_ids(n), "utm": act_utm(n),
        "trainSet": struct("trainIdName", index_field, train),
        "valSet": struct("valIdName", val_field, val),
        "valSetAll": struct("valIdName", val_field, test),
    })
    return path


def make_cvact(root: Path, images: bool = True, skip_ids=(), **mat) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_act_mat(root / "ACT_data.mat", **mat)
    ids = act_ids(mat.get("n", 12))
    layout = {"ANU_data_small": list(mat.get("train", (1, 2, 3, 4))) + list(mat.get("val", (5, 6))),
              "ANU_data_test": list(mat.get("test", (7, 8, 9, 10, 11, 12)))}
    for folder, rows in layout.items():
        (root / folder / "streetview").mkdir(parents=True, exist_ok=True)
        (root / folder / "satview_polish").mkdir(parents=True, exist_ok=True)
        for r in rows:
            pid = ids[r - 1]
            if images and pid not in skip_ids:
                write_image(root / folder / "streetview" / f"{pid}_grdView.jpg", r, (8, 16))
                write_image(root / folder / "satview_polish" / f"{pid}_satView_polish.jpg", 50 + r, (12, 12))
    return root


# -- VIGOR -----------------------------------------------------------------------------------
def vigor_city(k: int) -> dict:
    """A 3 x 2 grid of satellite tiles and 4 panoramas for city number ``k``."""
    lat0, lon0 = 40.0 + k, -80.0 - k
    sats = [(lat0 + 0.0005 * r, lon0 + 0.0005 * c) for r in range(3) for c in range(2)]
    names = [f"satellite_{lat!r}_{lon!r}.png" for lat, lon in sats]
    panos = []
    for p in range(4):
        plat, plon = lat0 + 0.0002 + 0.0005 * (p % 2), lon0 + 0.0001
        pano = f"pano{k}-{p}_x,{plat!r},{plon!r},.jpg"
        order = [(p % 2) * 2, (p % 2) * 2 + 1, (p % 2) * 2 + 2, (p % 2) * 2 + 3]
        panos.append((pano, [names[o] for o in order]))
    return {"names": names, "panos": panos}


def vigor_line(pano: str, sats: list[str]) -> str:
    return " ".join([pano] + [f"{s} {10.0 * j:.1f} {-5.0 * j:.1f}" for j, s in enumerate(sats)])


def make_vigor(root: Path, layout: str = "official", labels: str = "corrected", images: bool = True,
               cities=CITIES) -> Path:
    folder = "splits__corrected" if labels == "corrected" else "splits"
    suffix = "__corrected" if labels == "corrected" else ""
    for k, city in enumerate(cities):
        data = vigor_city(k)
        d = root / folder / city
        d.mkdir(parents=True, exist_ok=True)
        (d / "satellite_list.txt").write_text("\n".join(data["names"]) + "\n")
        lines = [vigor_line(p, s) for p, s in data["panos"]]
        (d / f"same_area_balanced_train{suffix}.txt").write_text("\r\n".join(lines[:2]))
        (d / f"same_area_balanced_test{suffix}.txt").write_text("\r\n".join(lines[2:]))
        (d / f"pano_label_balanced{suffix}.txt").write_text("\n".join(lines) + "\n")
        pano_dir = root / city / "panorama" if layout == "official" else root / "ground" / city
        sat_dir = root / city / "satellite" if layout == "official" else root / "satellite" / city
        pano_dir.mkdir(parents=True, exist_ok=True)
        sat_dir.mkdir(parents=True, exist_ok=True)
        if images:
            for j, name in enumerate(data["names"]):
                write_image(sat_dir / name, 10 * k + j, (16, 16))
            for j, (pano, _) in enumerate(data["panos"]):
                write_image(pano_dir / pano, 100 + 10 * k + j, (8, 16))
    return root


# -- University-1652 -------------------------------------------------------------------------
def make_u1652(root: Path, images: bool = True) -> Path:
    """train: buildings 0839-0841 (3 drone + 1 satellite); test: queries of 0000, 0001;
    galleries of 0000, 0001 and distractor 0002."""
    def img(path: Path, seed: int) -> None:
        if images:
            write_image(path, seed, (12, 12))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")

    for b in (839, 840, 841):
        for n in range(1, 4):
            img(root / f"train/drone/{b:04d}/image-{n:02d}.jpeg", b * 10 + n)
        img(root / f"train/satellite/{b:04d}/{b:04d}.jpg", b)
    for b in (0, 1):
        for n in range(1, 3):
            img(root / f"test/query_drone/{b:04d}/image-{n:02d}.jpeg", 1000 + 10 * b + n)
        img(root / f"test/query_satellite/{b:04d}/{b:04d}.jpg", 2000 + b)
    for b in (0, 1, 2):
        img(root / f"test/gallery_satellite/{b:04d}/{b:04d}.jpg", 3000 + b)
        for n in range(1, 3):
            img(root / f"test/gallery_drone/{b:04d}/image-{n:02d}.jpeg", 4000 + 10 * b + n)
    return root


def altitude_plugin(reader):
    """A third-party style dataset ``alt`` (folder ``Alt``, a CVUSA tree) whose split ``alt_test``
    has an ``altitude`` option (150, 300) and a ``ties`` convention; ``reader`` loads it."""
    import types

    from cvgl_bench import DatasetSpec, SplitSpec, hookimpl

    plugin = types.ModuleType("altitudes")
    plugin.cvgl_bench_register_datasets = hookimpl(lambda register: register(
        DatasetSpec(name="alt", loader=None, folder="Alt")))
    plugin.cvgl_bench_register_splits = hookimpl(lambda register: register(SplitSpec(
        name="alt_test", loader=reader, dataset="alt",
        protocol_options={"altitude": ("150", "300"), "ties": ("strict", "loose")})))
    return plugin
