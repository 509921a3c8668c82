"""CLNet on the cvgl-bench toolkit: Sample4Geo's training recipe around :class:`CLNetModel`.

**Unofficial re-implementation from the abstract** (arXiv 2512.14560). Training is Sample4Geo's
(symmetric InfoNCE with label smoothing 0.1 and a learnable scale, AdamW, warm-up + cosine,
GPS then similarity batches, paired augmentation); the model adds NCM, NEC and GFR. Each module
is a flat hparams key, so an ablation is one option::

    cvgl-bench run --method clnet --dataset synth_cvusa_test --set ncm=off
    cvgl-bench run --method clnet --dataset synth_cvusa_test --set nec=false
    cvgl-bench run --method clnet --dataset synth_cvusa_test --set gfr=false

With ``ncm=off, nec=false, gfr=false`` the model and recipe are Sample4Geo's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cvgl_bench.errors import ConfigError
from cvgl_bench.method import CVGLModel
from cvgl_bench.train.base import deep_merge
from cvgl_bench_sample4geo.method import Sample4Geo

MODULES: dict[str, Any] = {
    # NCM after stages 3 and 4 (zero-based 2, 3): a learnable sampling grid that moves the reference
    # features into the query's layout. Chosen by measurement over the per-position gain ("full"):
    # +3.7 points R@1 on synth_cvusa_test over 3 seeds, p = 0.001 (README.md, "Measured effect")
    "ncm": "warp",
    "ncm_stages": [2, 3],
    "ncm_warp_init": "auto",
    # North on the panorama's centre column (CVUSA, CVACT, VIGOR and the synthetic world);
    # only the "warp" variant's polar initialisation reads it.
    "polar_north": 0.5,
    # NEC: per-view residual MLP on the pooled embedding
    "nec": True,
    "nec_shared": False,
    "nec_hidden_mult": 2.0,
    # GFR: SE-style gating squeezed by a learned spatial cue
    "gfr": True,
    "gfr_cue": "conv",
    "gfr_reduction": 16,
    "gfr_shared": True,
    # learning-rate factor of the NCM/NEC/GFR parameters relative to lr (1 = Sample4Geo's single group)
    "module_lr_mult": 1.0,
}
"""CLNet's own switches (guesses, see README.md), shared by both profiles."""

# Sample4Geo's published recipe (cvgl-bench-sample4geo's ``paper`` profile, restated so that this
# distribution does not depend on that one; a test checks the two agree).
DIFFERENCES: dict[str, dict[str, Any]] = {
    "paper": MODULES,
    # the cpu backbone keeps three stages (stride 16), so the NCM sits after its last two
    "cpu": {**MODULES, "ncm_stages": [1, 2]},
}
"""All that CLNet's recipes add to Sample4Geo's, per profile: the model is Sample4Geo's plus the
modules, and its training recipe is Sample4Geo's (cvgl-bench-sample4geo), not a copy of it."""


_SWITCHES_OFF = {"off", "none", "false", "no", "0"}


class CLNet(Sample4Geo):
    """CLNet (unofficial, from the abstract): Sample4Geo's ``paper`` and ``cpu`` recipes plus the
    NCM/NEC/GFR switches (:data:`DIFFERENCES`). Sample4Geo's released weights import as its
    backbone (``run --checkpoint``, with ``--set ncm=off --set nec=false --set gfr=false``)."""

    def recipes(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        return {profile: {**table, "default": deep_merge(table.get("default", {}), DIFFERENCES[profile])}
                for profile, table in super().recipes().items()}

    def validate_hparams(self, hp: Mapping[str, Any]) -> None:
        super().validate_hparams(hp)
        if hp.get("shared_backbone", True) is False:
            raise ConfigError("CLNet shares one backbone between views; set shared_backbone to true")
        model_hp = self.model_hparams(hp)
        from .model import check_choices

        check_choices(**{key: model_hp[key] for key in ("ncm", "ncm_warp_init", "gfr_cue") if key in model_hp})
        for key in ("nec", "gfr", "nec_shared", "gfr_shared"):
            if not isinstance(model_hp[key], bool):
                raise ConfigError(f"CLNet option {key} must be true or false, not {model_hp[key]!r}")
        if float(hp.get("module_lr_mult", 1.0)) <= 0:
            raise ConfigError(f"module_lr_mult must be positive, not {hp['module_lr_mult']!r}")
        reduction, mult = model_hp.get("gfr_reduction", 1), model_hp.get("nec_hidden_mult", 1.0)
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
            raise ConfigError(f"gfr_reduction must be an integer at least 1, not {reduction!r}")
        if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 0 < mult < 1e6:
            raise ConfigError(f"nec_hidden_mult must be a number above 0, not {mult!r}")

    @staticmethod
    def model_hparams(hp: Mapping[str, Any]) -> dict[str, Any]:
        """``hp`` with the module switches in the model's vocabulary: ``ncm`` false/off -> ``"off"``,
        ``ncm`` true -> ``"full"`` (so ``--set ncm=false`` and ``--set ncm=off`` mean the same)."""
        out = dict(hp)
        ncm = out.get("ncm", MODULES["ncm"])
        if ncm is False or (isinstance(ncm, str) and ncm.lower() in _SWITCHES_OFF):
            out["ncm"] = "off"
        elif ncm is True:
            out["ncm"] = "full"
        return out

    def build_model(self, hparams: Mapping[str, Any]) -> CVGLModel:
        """A freshly initialised :class:`CLNetModel` (every module zero-initialised to the identity)."""
        from .model import CLNetModel

        return CLNetModel.from_hparams(self.model_hparams(hparams))

    def param_groups(self, model: Any, hparams: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """One group (Sample4Geo) unless ``module_lr_mult`` gives NCM/NEC/GFR their own rate."""
        mult = float(hparams.get("module_lr_mult", 1.0))
        if mult == 1.0:
            return None
        modules, rest = [], []
        for name, parameter in model.named_parameters():
            (modules if name.split(".")[0] in ("ncm", "nec", "gfr") else rest).append(parameter)
        lr = float(hparams["lr"])
        return [{"params": rest}, {"params": modules, "lr": lr * mult}]
