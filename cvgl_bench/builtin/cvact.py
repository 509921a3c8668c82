"""Built-in dataset plugin: CVACT (ACT_small for train/val, ACT_test with the 5 m protocol)."""

from __future__ import annotations

from ..data.protocols import CVACT_TEST, GROUND_FOV, R1PCT_FLOOR_FIRST, RECALL_METRICS, TIES
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, SplitSpec

FORMATS = "cvgl_bench.data.formats.cvact"
SIZES = {"ground": (832, 1664), "satellite": (1200, 1200)}


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(
        name="cvact", loader=None, folder="CVACT",
        summary="CVACT (Canberra): ACT_small 35,532 train / 8,884 val, ACT_test 92,802 with UTM",
        homepage="https://github.com/Liumouliu/OriCNN",
        obtain="CVACT is distributed on request by its authors (Liu & Li, ANU): follow the 'CVACT dataset' "
               "instructions in https://github.com/Liumouliu/OriCNN and put ACT_data.mat, ANU_data_small/ "
               "and ANU_data_test/ into CVACT/",
        license="research use only (authors' terms)",
    ))


@hookimpl
def cvgl_bench_register_splits(register):
    common = {"dataset": "cvact", "layout": "cvact", "image_sizes": SIZES}
    recall = {"r1pct": R1PCT_FLOOR_FIRST, "ties": TIES, "ground_fov": GROUND_FOV}
    register(SplitSpec(
        name="cvact_train", loader=f"{FORMATS}:load_train", role="train", twin="synth_cvact_train",
        summary="ACT_data.mat trainSet over ANU_data_small: one pair per location",
        expected_counts={"pairs": 35532}, **common,
    ))
    register(SplitSpec(
        name="cvact_val", loader=f"{FORMATS}:load_val", role="eval", train_split="cvact_train",
        summary="ACT_data.mat valSet over ANU_data_small: 8,884 queries, one positive each",
        protocol_options=recall, metrics=RECALL_METRICS, twin="synth_cvact_val",
        expected_counts={"queries": 8884, "references": 8884}, **common,
    ))
    register(SplitSpec(
        name="cvact_test", loader=f"{FORMATS}:load_test", role="eval", train_split="cvact_train",
        summary="valSetAll over ANU_data_test: 92,802 queries; positives = satellites within 5 m UTM "
                "(official) or the same id (cvact_test=exact_id, Sample4Geo)",
        protocol_options={**recall, "cvact_test": CVACT_TEST}, metrics=RECALL_METRICS, twin="synth_cvact_test",
        expected_counts={"queries": 92802, "references": 92802}, **common,
    ))
