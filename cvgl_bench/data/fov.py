"""The vertical field of view of each layout's ground panoramas, and the rows of one layout's
panorama that show what a model trained on another layout saw.

CVUSA's panoramas are a band around the horizon: 1232 x 224 pixels cut from a 1232 x 616 full
panorama, so 224 / 1232 * 360 = 65.5 degrees high. CVACT's and VIGOR's are full spheres,
180 degrees high. Every panorama here is equirectangular (rows linear in elevation) with the
horizon in its middle row. A model trained on CVUSA and shown a whole CVACT panorama squashed
to its input (Sample4Geo's transfer protocol) sees every object 2.75 times flatter than in
training; the evaluation option ``ground_fov=train`` crops the panorama to the band it was
trained on instead (:func:`aligned_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Vertical field of view (degrees) of each layout's ground panoramas.
VERTICAL_FOV_DEG = {"cvusa": 360.0 * 224 / 1232, "cvact": 180.0, "vigor": 180.0}


def aligned_rows(train_layout: str, eval_layout: str,
                 train_rows: Sequence[float] | None = None) -> tuple[float, float] | None:
    """The ``(top, bottom)`` row fractions of an ``eval_layout`` panorama that span the elevations
    a model saw in training: ``train_layout`` panoramas, cut to ``train_rows`` (the recipe's
    ``crop_rows`` for the ground view; None = every row).

    None when the evaluation panorama is not higher than that band (nothing to crop: a band
    cannot be widened), or when either layout has no panoramas.
    """
    if train_layout not in VERTICAL_FOV_DEG or eval_layout not in VERTICAL_FOV_DEG:
        return None
    f_train, f_eval = VERTICAL_FOV_DEG[train_layout], VERTICAL_FOV_DEG[eval_layout]
    top, bottom = (float(v) for v in (train_rows or (0.0, 1.0)))
    # elevation of a row fraction r in a panorama of height f: f / 2 - r * f
    seen_top, seen_bottom = f_train / 2 - top * f_train, f_train / 2 - bottom * f_train
    if seen_top - seen_bottom >= f_eval - 1e-9:
        return None
    rows = ((f_eval / 2 - seen_top) / f_eval, (f_eval / 2 - seen_bottom) / f_eval)
    return max(0.0, rows[0]), min(1.0, rows[1])


def presented_hparams(hparams: Mapping[str, Any], train_layout: str, eval_layout: str,
                      protocol: Mapping[str, str]) -> dict[str, Any]:
    """The hparams an evaluation split's images are loaded with: ``hparams`` (the model's own)
    with, under the protocol option ``ground_fov=train``, the ground panoramas cut to the band of
    elevations the model was trained on (:func:`aligned_rows`; a CVUSA model
    sees the middle 36 % of a CVACT panorama instead of all of it squashed). In-domain, and under
    ``ground_fov=full``, nothing changes."""
    if protocol.get("ground_fov") != "train":
        return dict(hparams)
    crop = dict(hparams.get("crop_rows") or {})
    rows = aligned_rows(train_layout, eval_layout, crop.get("ground"))
    if rows is None:
        return dict(hparams)
    return {**hparams, "crop_rows": {**crop, "ground": [round(v, 6) for v in rows]}}
