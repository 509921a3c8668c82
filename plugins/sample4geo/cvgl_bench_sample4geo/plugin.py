"""Registers the ``sample4geo`` method. Imports nothing heavy: the model loads on first use."""

from cvgl_bench import MethodSpec, hookimpl

PAPER = ("Deuser, Habel, Oswald. Sample4Geo: Hard Negative Sampling For Cross-View Geo-Localisation. "
         "ICCV 2023. arXiv:2303.11851")


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(
        name="sample4geo",
        loader="cvgl_bench_sample4geo.method:Sample4Geo",
        summary="shared timm ConvNeXt, symmetric InfoNCE, GPS + dynamic similarity batching",
        paper=PAPER,
        official=False,
        notes=("re-implementation on the cvgl-bench toolkit; last-epoch model (the original selects on test); "
               "GPS neighbours by true haversine (s4g_compat_degrees=true replays the original's degrees bug)"),
        profiles=("paper", "cpu"),
        tags=("contrastive", "convnext", "hard-negatives"),
    ))
