"""Built-in dataset plugin: VIGOR (same-area and cross-area, corrected or original labels).

R@1% defaults to VIGOR's own convention, int(0.01 R) + 1 (``r1pct=vigor``); Sample4Geo
reports floor(R / 100) (``r1pct=floor``). Labels default to SliceMatch's corrected offsets
(``labels=corrected``, ``splits__corrected/``); ``labels=original`` reads ``splits/``. The
retrieval ground truth (which satellite is positive) is the same in both; only offsets differ.
"""

from __future__ import annotations

from ..data.protocols import GROUND_FOV, R1PCT_VIGOR_FIRST, REAL_VIGOR_LABELS, TIES, VIGOR_METRICS
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, SplitSpec

FORMATS = "cvgl_bench.data.formats.vigor"
SIZES = {"ground": (1024, 2048), "satellite": (640, 640)}


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(
        name="vigor", loader=None, folder="VIGOR",
        summary="VIGOR: 105,214 panoramas and 90,618 satellite tiles of four US cities, with semi-positives",
        homepage="https://github.com/Jeff-Zilence/VIGOR",
        obtain="VIGOR is distributed on request by its authors: fill in the access form linked from "
               "https://github.com/Jeff-Zilence/VIGOR (data/DATASET.md) and unpack the four cities and "
               "splits/ into VIGOR/; corrected labels: VIGOR_corrected_labels/splits__corrected from "
               "https://github.com/tudelft-iv/SliceMatch",
        license="research use only (authors' terms)",
    ))


@hookimpl
def cvgl_bench_register_splits(register):
    common = {"dataset": "vigor", "layout": "vigor", "image_sizes": SIZES}
    labels = {"labels": REAL_VIGOR_LABELS}
    evaluation = {"r1pct": R1PCT_VIGOR_FIRST, "ties": TIES, **labels, "ground_fov": GROUND_FOV}
    register(SplitSpec(
        name="vigor_same_train", loader=f"{FORMATS}:load_same_train", role="train", protocol_options=labels,
        summary="same-area train panoramas of all four cities, each paired with its positive satellite",
        expected_counts={"pairs": 52609}, twin="synth_vigor_same_train", **common,
    ))
    register(SplitSpec(
        name="vigor_same_test", loader=f"{FORMATS}:load_same_test", role="eval", train_split="vigor_same_train",
        summary="same-area test panoramas; gallery = every satellite of the four cities; 1 positive + 3 semi",
        protocol_options=evaluation, metrics=VIGOR_METRICS, twin="synth_vigor_same_test",
        expected_counts={"queries": 52605, "references": 90618}, **common,
    ))
    register(SplitSpec(
        name="vigor_cross_train", loader=f"{FORMATS}:load_cross_train", role="train", protocol_options=labels,
        summary="cross-area train: every panorama of NewYork and Seattle (pano_label_balanced)",
        expected_counts={"pairs": 51520}, twin="synth_vigor_cross_train", **common,
    ))
    register(SplitSpec(
        name="vigor_cross_test", loader=f"{FORMATS}:load_cross_test", role="eval", train_split="vigor_cross_train",
        summary="cross-area test: every panorama of Chicago and SanFrancisco against their satellites",
        protocol_options=evaluation, metrics=VIGOR_METRICS, twin="synth_vigor_cross_test",
        expected_counts={"queries": 53694, "references": 46563}, **common,
    ))
