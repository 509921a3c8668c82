"""Readers of the ``synth_*`` splits: generate into the cache, then read with the REAL reader.

A synthetic split never parses files itself: after making sure its layout is generated, it
looks up its real twin in the plugin host (``cvusa_test`` for ``synth_cvusa_test``...) and calls
that split's reader on the generated folder, so synthetic data goes through exactly the code
paths real data takes. The returned data is renamed to the synthetic split and notes where it
was generated from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import dataset_version
from .cache import dataset_dir, ensure_generated, selected_size_seed

#: synthetic split -> (layout, real split)
SYNTH_SPLITS: dict[str, tuple[str, str]] = {
    "synth_cvusa_train": ("cvusa", "cvusa_train"),
    "synth_cvusa_test": ("cvusa", "cvusa_test"),
    "synth_cvact_train": ("cvact", "cvact_train"),
    "synth_cvact_val": ("cvact", "cvact_val"),
    "synth_cvact_test": ("cvact", "cvact_test"),
    "synth_vigor_same_train": ("vigor", "vigor_same_train"),
    "synth_vigor_same_test": ("vigor", "vigor_same_test"),
    "synth_vigor_cross_train": ("vigor", "vigor_cross_train"),
    "synth_vigor_cross_test": ("vigor", "vigor_cross_test"),
    "synth_u1652_train": ("university1652", "u1652_train"),
    "synth_u1652_d2s": ("university1652", "u1652_d2s"),
    "synth_u1652_s2d": ("university1652", "u1652_s2d"),
}

#: synthetic dataset -> (layout, real dataset)
SYNTH_DATASETS: dict[str, tuple[str, str]] = {
    "synth_cvusa": ("cvusa", "cvusa"),
    "synth_cvact": ("cvact", "cvact"),
    "synth_vigor": ("vigor", "vigor"),
    "synth_university1652": ("university1652", "university1652"),
}


def _real_spec(host: Any, kind: str, name: str) -> Any:
    if host is None:
        raise TypeError("a synthetic split is read by its real twin's reader, which is looked up in the plugin "
                        "host: pass host=... (cvgl_bench.data.splits.load_split does)")
    registry = host.splits if kind == "split" else host.datasets
    return registry.get(name, hint="(synthetic data is read by the real dataset's reader, which must be installed)")


class SynthSplitReader:
    """``load(root, protocol, host=...)`` of one synthetic split (``root`` is ignored: the data lives
    in the cache folder chosen by ``CVGL_BENCH_SYNTH_SIZE`` and ``CVGL_BENCH_SYNTH_SEED``). ``host``
    is the plugin host that holds the real twin; :func:`~cvgl_bench.data.splits.load_split` passes
    it to every split reader with a ``host`` parameter."""

    def __init__(self, name: str):
        self.name = name
        self.layout, self.real = SYNTH_SPLITS[name]
        self.__qualname__ = f"SynthSplitReader({name!r})"

    def __call__(self, root: Path | None = None, protocol: dict | None = None, *, host: Any = None,
                 **kwargs: Any) -> Any:
        spec = _real_spec(host, "split", self.real)
        generated = ensure_generated(self.layout)
        data = spec.load()(generated, protocol if protocol is not None else spec.protocol_defaults(), **kwargs)
        data.split = self.name
        size, seed = selected_size_seed()
        data.info = {**getattr(data, "info", {}), "synthetic": {"layout": self.layout, "size": size, "seed": seed,
                                                                "generator_version": dataset_version(self.layout),
                                                                "root": str(generated), "real_split": self.real}}
        return data


class SynthDatasetCheck:
    """``check(root, host=...)`` of a synthetic dataset: generate if needed, then run the real checker."""

    def __init__(self, name: str):
        self.name = name
        self.layout, self.real = SYNTH_DATASETS[name]
        self.__qualname__ = f"SynthDatasetCheck({name!r})"

    def __call__(self, root: Path | None = None, *args: Any, host: Any = None, **kwargs: Any) -> Any:
        spec = _real_spec(host, "dataset", self.real)
        generated = ensure_generated(self.layout)
        if spec.loader is None:
            return {"root": str(generated)}
        return spec.load()(generated, *args, host=host, **kwargs)


def cached_root(layout: str) -> Path:
    """The cache folder the synthetic splits of ``layout`` read (generated or not)."""
    return dataset_dir(layout)


for _name in SYNTH_SPLITS:
    globals()[_name] = SynthSplitReader(_name)
for _name in SYNTH_DATASETS:
    globals()[f"check_{_name}"] = SynthDatasetCheck(_name)
