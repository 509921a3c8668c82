"""Registers the ``clnet`` method. Imports nothing heavy: the model loads on first use."""

from cvgl_bench import MethodSpec, hookimpl

PAPER = ("Cao, Quan, Wang, Huyan, Wang, Li, Jiao. CLNet: Cross-View Correspondence Makes a Stronger "
         "Geo-Localizationer. arXiv:2512.14560, 2025")

NOTES = (
    "UNOFFICIAL re-implementation from the abstract: the paper's method section and code are not public, "
    "so every choice below the abstract's one-line module descriptions is a guess. Guessed: a Sample4Geo "
    "encoder (timm ConvNeXt shared by both views, avg-pool + LayerNorm, symmetric InfoNCE, GPS/DSS batches) "
    "and its recipe; NCM as a learnable sampling grid at the last two stages that warps the reference "
    "features into the query's layout, initialised to the polar transform for ground/satellite (chosen by "
    "measurement over the per-position gain F*(1+tanh(M)), variant full, and its 1-channel variant "
    "spatial); NEC as a per-view residual MLP "
    "on the pooled embedding (hidden 2d, zero-initialised output); GFR as SE-style channel gating squeezed "
    "by a learned spatial softmax cue (reduction 16, gain 2*sigmoid, shared by both views); the order "
    "stages -> NCM -> GFR -> pool + LN -> NEC -> L2; no extra correspondence loss. Switches ncm "
    "(off|spatial|full|warp), nec, gfr make each ablation one option (--set ncm=off)."
)


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(
        name="clnet",
        loader="cvgl_bench_clnet.method:CLNet",
        summary="UNOFFICIAL CLNet from the abstract: Sample4Geo encoder + NCM, NEC, GFR (each switchable)",
        paper=PAPER,
        official=False,
        notes=NOTES,
        profiles=("paper", "cpu"),
        tags=("contrastive", "convnext", "hard-negatives", "unofficial", "from-abstract"),
    ))
