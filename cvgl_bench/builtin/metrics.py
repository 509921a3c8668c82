"""Built-in metric plugins: recall@1/5/10, recall@1%, VIGOR hit rate, University-1652 mAP.

Definitions and conventions: :mod:`cvgl_bench.evaluate.metrics`.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..specs import MetricSpec

_MODULE = "cvgl_bench.evaluate.metrics"


@hookimpl
def cvgl_bench_register_metrics(register):
    for k in (1, 5, 10):
        register(MetricSpec(name=f"recall@{k}", loader=f"{_MODULE}:recall_at_{k}", convention_option="ties",
                            summary=f"share of queries with a positive among the {k} most similar references"))
    register(MetricSpec(name="recall@1%", loader=f"{_MODULE}:recall_at_1pct", convention_option="r1pct",
                        summary="share of queries with a positive in the top 1% (k by the r1pct convention)"))
    register(MetricSpec(name="hit_rate", loader=f"{_MODULE}:vigor_hit_rate", convention_option="ties",
                        summary="VIGOR hit rate: the positive beats every reference except the semi-positives"))
    register(MetricSpec(name="ap", loader=f"{_MODULE}:mean_average_precision", convention_option="distractors",
                        summary="mean average precision (University-1652, Market-1501 trapezoid form)"))
