"""Where datasets live: ``--data-root``, ``CVGL_DATA_ROOT``, or the config file.

A data root is one folder holding ``CVUSA/``, ``CVACT/``, ``VIGOR/`` and ``University-1652/``
(each dataset's ``DatasetSpec.folder``); a path that *is* a dataset folder works too. The config
file (``$CVGL_BENCH_CONFIG`` or ``~/.config/cvgl-bench/config.yaml``) may set ``data_root`` and
per-dataset folders under ``datasets:``. Synthetic datasets live in the user cache
(``$CVGL_BENCH_CACHE`` or ``~/.cache/cvgl-bench``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataNotFoundError
from .fsutil import load_yaml, read_text
from .specs import DatasetSpec, SplitSpec


def home() -> Path | None:
    """The user's home folder; None where there is none (``HOME`` unset and no passwd entry, as
    for a container's numeric user)."""
    try:
        return Path.home()
    except (RuntimeError, KeyError):
        return None


def cache_dir() -> Path:
    """The user cache: generated synthetic data, image caches, embedding caches."""
    env = os.environ.get("CVGL_BENCH_CACHE") or ""
    if env and not env.strip():  # as --results ' ': a folder named by blanks in the current one
        raise ConfigError("CVGL_BENCH_CACHE is blank; set it to a folder, or unset it for ~/.cache/cvgl-bench")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or ""
    if not xdg and home() is None:
        raise ConfigError("no home folder for the cache (HOME is unset, and this user has none): set "
                          "CVGL_BENCH_CACHE to a writable folder")
    return (Path(xdg) if xdg else home() / ".cache").expanduser() / "cvgl-bench"  # type: ignore[operator]


def config_path() -> Path | None:
    """The user config file's path (it need not exist); None without a home folder or a setting."""
    env = os.environ.get("CVGL_BENCH_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or ""
    base = Path(xdg) if xdg else home() / ".config" if home() is not None else None  # type: ignore[operator]
    return None if base is None else base / "cvgl-bench" / "config.yaml"


CONFIG_KEYS = ("data_root", "datasets")


def read_config() -> dict[str, Any]:
    """The user config file as a dict (empty when there is none), checked: ``data_root`` a
    folder, ``datasets`` a mapping of dataset names to folders, no other key (a typo such as
    ``dataroot`` would be ignored without a word)."""
    path = config_path()
    if path is None or not path.exists():
        return {}
    import yaml

    try:
        data = load_yaml(read_text(path)) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    unknown = sorted(str(key) for key in data if key not in CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; the config holds {' and '.join(CONFIG_KEYS)}")
    datasets = data.get("datasets") or {}
    if not isinstance(datasets, dict) or not all(isinstance(name, str) for name in datasets):
        raise ConfigError(f"{path}: 'datasets' must map dataset names to folders, e.g. {{cvact: /scratch/cvact}}")
    for where, folder in [("data_root", data.get("data_root")), *((f"datasets.{k}", v) for k, v in datasets.items())]:
        if folder is not None and not (isinstance(folder, str) and folder.strip()):
            raise ConfigError(f"{path}: {where} must be a folder, not {folder!r}")
    return data


def candidate_roots(dataset: DatasetSpec, data_root: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Every place the dataset is looked for, in order, with where the place came from."""
    places: list[tuple[str, Path]] = []
    if data_root:
        places.append(("--data-root", Path(data_root).expanduser()))
    env = os.environ.get("CVGL_DATA_ROOT")
    if env:
        places.append(("CVGL_DATA_ROOT", Path(env).expanduser()))
    config = read_config()
    per_dataset = (config.get("datasets") or {}).get(dataset.name)
    if per_dataset:
        places.append((f"{config_path()} datasets.{dataset.name}", Path(per_dataset).expanduser()))
    if config.get("data_root"):
        places.append((f"{config_path()} data_root", Path(config["data_root"]).expanduser()))
    return places


def resolve_root(dataset: DatasetSpec, data_root: str | os.PathLike | None = None,
                 split: SplitSpec | None = None, *, twin_command: str | None = None) -> Path:
    """The folder of ``dataset``; raises one actionable line when it is nowhere to be found.

    A place holds the dataset when ``place/<folder>`` exists, or when the place itself is named
    like the folder (case-insensitive), or when it is a per-dataset entry of the config file.

    The message ends with what to run instead: ``twin_command`` when the caller gives one (the
    runner passes the whole ``cvgl-bench run`` of the cell's synthetic twin), else, for an
    evaluation ``split`` with a twin, ``--dataset <twin>``. A training split gets no ``--dataset``
    hint of its own: ``--dataset`` takes evaluation splits only.
    """
    if dataset.synthetic:
        return cache_dir() / "synth" / (dataset.folder or dataset.name)
    folder = dataset.folder or dataset.name
    places = candidate_roots(dataset, data_root)
    for source, place in places:
        found = _dataset_folder(place, folder)
        if found is not None:
            return found
        direct = place.name.lower() == folder.lower() or source.endswith(f"datasets.{dataset.name}")
        if direct and place.is_dir():
            return _unnested(place, folder)
    looked = "; ".join(f"{place / folder} ({source})" for source, place in places) or \
        "no place: no --data-root, CVGL_DATA_ROOT or data_root in the config file is set"
    config = config_path()
    if os.environ.get("CVGL_BENCH_CONFIG") and config is not None and not config.exists():
        looked += f"; CVGL_BENCH_CONFIG names {config}, which does not exist"
    looked += _look_alikes([place for _, place in places], folder)
    if twin_command:
        twin = f"; or run its synthetic twin: {twin_command}"
    elif split is not None and split.twin and split.role == "eval":
        twin = f"; or use its synthetic twin: --dataset {split.twin}"
    else:
        twin = ""
    obtain = f"; to obtain it: {dataset.obtain}" if dataset.obtain else ""
    raise DataNotFoundError(f"{folder} data not found (looked in {looked}){obtain}{twin}")


def folder_at(place: str | os.PathLike, dataset: DatasetSpec) -> Path:
    """The dataset's folder in a place a user names as "a data root, or the dataset's folder
    itself" (``data check --data-root``): ``place/<folder>`` by the rules of :func:`resolve_root`
    (any case, one nested level), else ``place`` itself, unnested."""
    place, folder = Path(place).expanduser(), dataset.folder or dataset.name
    return _dataset_folder(place, folder) or _unnested(place, folder)


def _dataset_folder(place: Path, folder: str) -> Path | None:
    """``place/<folder>``, else its one case variant (``cvusa/``), each :func:`_unnested`."""
    if (place / folder).is_dir():
        return _unnested(place / folder, folder)
    try:
        names = [name for name in os.listdir(place) if name.lower() == folder.lower() and (place / name).is_dir()]
    except OSError:
        return None
    return _unnested(place / names[0], folder) if len(names) == 1 else None


def _unnested(root: Path, folder: str) -> Path:
    """``root/<folder>`` when that folder is all ``root`` holds (a zip that unpacks as
    ``CVUSA/CVUSA/``), else ``root``."""
    try:
        entries = [name for name in os.listdir(root) if not name.startswith(".")]
    except OSError:
        return root
    if len(entries) == 1 and entries[0].lower() == folder.lower() and (root / entries[0]).is_dir():
        return root / entries[0]
    return root


def _look_alikes(places: list[Path], folder: str) -> str:
    """``"; found <place>/University-Release: if it is the dataset, rename it University-1652"``
    for a folder whose name is close to the expected one, else ``""``."""
    import difflib

    for place in places:
        try:
            names = sorted(name for name in os.listdir(place) if (place / name).is_dir())
        except OSError:
            continue
        close = difflib.get_close_matches(folder.lower(), [name.lower() for name in names], n=1, cutoff=0.6)
        if close:
            name = next(name for name in names if name.lower() == close[0])
            return f"; found {place / name}: if it is the dataset, rename it {folder}"
    return ""
