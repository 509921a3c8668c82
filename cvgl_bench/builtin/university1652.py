"""Built-in dataset plugin: University-1652 (drone <-> satellite).

Distractor buildings (250 gallery buildings no query shows) stay in the gallery by default, as
in the official evaluation (``distractors=kept``); ``distractors=removed`` reproduces
Sample4Geo, which drops them from every ranking. R@1% follows the official CMC index
round(0.01 |G|), i.e. top round(0.01 |G|) + 1 (``r1pct=u1652``).
"""

from __future__ import annotations

from ..data.protocols import R1PCT_U1652_FIRST, TIES, U1652_DISTRACTORS, U1652_METRICS
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, SplitSpec

FORMATS = "cvgl_bench.data.formats.university1652"
#: 512 x 512 for both views as recalled from the paper's dataset table; not checked against the
#: release itself (no image of it was available while writing this).
SIZES = {"drone": (512, 512), "satellite": (512, 512)}


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(
        name="university1652", loader=None, folder="University-1652",
        summary="University-1652: drone and satellite views of 1,652 university buildings",
        homepage="https://github.com/layumi/University1652-Baseline",
        obtain="University-1652 is distributed on request: send the signed request form linked from "
               "https://github.com/layumi/University1652-Baseline to the address in its README and unpack "
               "train/ and test/ into University-1652/",
        license="research use only (authors' terms)",
    ))


@hookimpl
def cvgl_bench_register_splits(register):
    common = {"dataset": "university1652", "layout": "university1652", "image_sizes": SIZES}
    evaluation = {"r1pct": R1PCT_U1652_FIRST, "ties": TIES, "distractors": U1652_DISTRACTORS}
    register(SplitSpec(
        name="u1652_train", loader=f"{FORMATS}:load_train", role="train", query_view="drone",
        reference_view="satellite", summary="every training drone image paired with its building's satellite",
        expected_counts={"pairs": 37854, "references": 701}, twin="synth_u1652_train", **common,
    ))
    register(SplitSpec(
        name="u1652_d2s", loader=f"{FORMATS}:load_d2s", role="eval", train_split="u1652_train",
        query_view="drone", reference_view="satellite",
        summary="drone -> satellite: 37,855 drone queries, 951 satellites (250 distractor buildings)",
        protocol_options=evaluation, metrics=U1652_METRICS, twin="synth_u1652_d2s",
        expected_counts={"queries": 37855, "references": 951}, **common,
    ))
    register(SplitSpec(
        name="u1652_s2d", loader=f"{FORMATS}:load_s2d", role="eval", train_split="u1652_train",
        query_view="satellite", reference_view="drone",
        summary="satellite -> drone: 701 satellite queries, 51,355 drone images (250 distractor buildings)",
        protocol_options=evaluation, metrics=U1652_METRICS, twin="synth_u1652_s2d",
        expected_counts={"queries": 701, "references": 51355}, **common,
    ))
