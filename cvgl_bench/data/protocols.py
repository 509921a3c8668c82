"""Named evaluation conventions of the standard splits (official value first = default).

``r1pct`` sets the size k of "top 1 %": ``floor`` = floor(R/100) (Sample4Geo, TransGeo, SAFA),
``vigor`` = int(0.01 R) + 1 (VIGOR's own code), ``u1652`` = round(0.01 |G|) + 1 (University-1652
CMC index). ``ties`` says whether references tied with the positive count against the query
(``loose``) or not (``strict``: rank = number of strictly better references, as every public
codebase). ``ground_fov`` says how full-sphere panoramas (CVACT, VIGOR) are shown to a model
trained on panoramas of a narrower band (CVUSA's 65.5 degrees): ``full``, the whole panorama
squashed to the model's input (Sample4Geo's CVUSA -> CVACT transfer, the real splits' default),
or ``train``, cut to the band of elevations the model was trained on (:mod:`cvgl_bench.data.fov`;
the synthetic twins' default: a small model trained from scratch on the synthetic suburb does
not recognise anything 2.75 times flatter, docs/synth.md "Transfer"). In-domain both are the same.
The dataset-specific options are documented with their split readers.
"""

from __future__ import annotations

TIES = ("strict", "loose")
R1PCT_FLOOR_FIRST = ("floor", "vigor", "u1652")
R1PCT_VIGOR_FIRST = ("vigor", "floor", "u1652")
R1PCT_U1652_FIRST = ("u1652", "floor", "vigor")
CVACT_TEST = ("utm5m", "exact_id")
VIGOR_LABELS = ("corrected", "original")
REAL_VIGOR_LABELS = ("present", "corrected", "original")
"""The real VIGOR splits' ``labels``: ``present`` (default) reads SliceMatch's corrected labels
when the folder has them and the release's original ``splits/`` otherwise (the record's
``data_info.labels`` says which); an explicit choice the folder cannot satisfy is an error."""
U1652_DISTRACTORS = ("kept", "removed")
GROUND_FOV = ("full", "train")
GROUND_FOV_TRAIN_FIRST = ("train", "full")

RECALL_METRICS = ("recall@1", "recall@5", "recall@10", "recall@1%")
VIGOR_METRICS = RECALL_METRICS + ("hit_rate",)
U1652_METRICS = RECALL_METRICS + ("ap",)
