"""Built-in dataset plugin: CVUSA (CVPR'17 "19zl" split)."""

from __future__ import annotations

from ..data.protocols import R1PCT_FLOOR_FIRST, RECALL_METRICS, TIES
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, SplitSpec

FORMATS = "cvgl_bench.data.formats.cvusa"
SIZES = {"ground": (224, 1232), "satellite": (750, 750)}


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(
        name="cvusa", loader=None, folder="CVUSA",
        summary="CVUSA 19zl subset: 35,532 train / 8,884 test north-aligned panoramas with Bing tiles",
        homepage="https://mvrl.cse.wustl.edu/datasets/cvusa/",
        obtain="CVUSA is distributed on request by the MVRL lab (Washington University in St. Louis): "
               "fill in the request form on https://mvrl.cse.wustl.edu/datasets/cvusa/ and unpack the "
               "19zl subset (splits/, bingmap/19/, streetview/panos/) into CVUSA/",
        license="research use only (MVRL terms)",
    ))


@hookimpl
def cvgl_bench_register_splits(register):
    register(SplitSpec(
        name="cvusa_train", loader=f"{FORMATS}:load_train", dataset="cvusa", role="train", layout="cvusa",
        summary="splits/train-19zl.csv: one panorama-satellite pair per location",
        expected_counts={"pairs": 35532}, image_sizes=SIZES, twin="synth_cvusa_train",
    ))
    register(SplitSpec(
        name="cvusa_test", loader=f"{FORMATS}:load_test", dataset="cvusa", role="eval", layout="cvusa",
        summary="splits/val-19zl.csv: 8,884 panorama queries, 8,884 satellites, one positive each",
        train_split="cvusa_train", protocol_options={"r1pct": R1PCT_FLOOR_FIRST, "ties": TIES},
        metrics=RECALL_METRICS, expected_counts={"queries": 8884, "references": 8884}, image_sizes=SIZES,
        twin="synth_cvusa_test",
    ))
