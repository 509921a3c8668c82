"""Print measured cost figures of the CLNet and SAFA models at their planned profile sizes.

    OMP_NUM_THREADS=2 python tools/model_costs.py            # parameters, GFLOPs, embedding dim
    OMP_NUM_THREADS=2 python tools/model_costs.py --speed    # + forward+backward images/s (cpu rows)

Every figure comes from :func:`cvgl_bench.evaluate.efficiency.measure` / ``images_per_s`` on a freshly
built model (``pretrained=False``: weights do not change the cost). Speeds are medians of
``--repeats`` batches; the Sample4Geo-equivalent encoder is timed in the same run so ratios
hold even on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins" / "clnet"), str(ROOT / "plugins" / "safa")]

from cvgl_bench_clnet.model import CLNetModel  # noqa: E402
from cvgl_bench_safa.model import SAFAModel  # noqa: E402

from cvgl_bench.evaluate.efficiency import images_per_s, measure  # noqa: E402

CVUSA_S4G = {"ground": (140, 768), "satellite": (384, 384)}
CPU = {"ground": (64, 256), "satellite": (128, 128)}
OFF = dict(ncm="off", nec=False, gfr=False)

# (label, factory, image sizes, time it on CPU?)
ROWS = [
    ("sample4geo-equivalent convnext_base (CLNet, all modules off)", lambda: CLNetModel(CVUSA_S4G, "ground", "satellite", backbone="convnext_base", **OFF), CVUSA_S4G, False),
    ("clnet paper: convnext_base, NCM full (2,3) + NEC + GFR", lambda: CLNetModel(CVUSA_S4G, "ground", "satellite", backbone="convnext_base"), CVUSA_S4G, False),
    ("clnet paper, NCM warp", lambda: CLNetModel(CVUSA_S4G, "ground", "satellite", backbone="convnext_base", ncm="warp"), CVUSA_S4G, False),
    ("cpu sample4geo-equivalent convnext_atto", lambda: CLNetModel(CPU, "ground", "satellite", backbone="convnext_atto", **OFF), CPU, True),
    ("clnet cpu: convnext_atto, NCM full + NEC + GFR", lambda: CLNetModel(CPU, "ground", "satellite", backbone="convnext_atto"), CPU, True),
    ("safa paper (code): vgg16, ground 112x616, polar 112x616, K=8", lambda: SAFAModel({"ground": (112, 616), "satellite": (256, 256)}, "ground", "satellite", backbone="vgg16"), {"ground": (112, 616), "satellite": (256, 256)}, False),
    ("safa vgg16 at 128x512 / polar 128x512, K=8", lambda: SAFAModel({"ground": (128, 512), "satellite": (256, 256)}, "ground", "satellite", backbone="vgg16"), {"ground": (128, 512), "satellite": (256, 256)}, False),
    ("safa cpu: resnet18, ground 64x256, polar 64x256 from sat 128, K=8", lambda: SAFAModel(CPU, "ground", "satellite", backbone="resnet18"), CPU, True),
    ("safa cpu alt: resnet10t, K=8", lambda: SAFAModel(CPU, "ground", "satellite", backbone="resnet10t"), CPU, True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time forward+backward of the cpu rows")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="substring filter on row labels")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    timed_models = []
    for label, factory, sizes, timed in ROWS:
        if args.only not in label:
            continue
        torch.manual_seed(0)
        model = factory()
        cost = measure(model, sizes, "ground", "satellite")
        print(
            f"{label}\n  params {cost['params']:,} (query branch {cost['params_query']:,}, reference {cost['params_reference']:,})"
            f" | GFLOPs query {cost['gflops_query']:.3f}, reference {cost['gflops_reference']:.3f} | dim {cost['embedding_dim']}",
            flush=True,
        )
        if args.speed and timed:
            timed_models.append((label, model, sizes))
    if timed_models:
        time_interleaved(timed_models, args)


def time_interleaved(rows, args) -> None:
    """Forward+backward images/s, one batch per (model, view) per round, rounds repeated: every
    model sees the same background load, so the per-round ratios are fair even when the medians
    are not."""
    keys = [(label, view) for label, _, _ in rows for view in ("ground", "satellite")]
    rates: dict = {key: [] for key in keys}
    for round_index in range(args.repeats + 1):  # round 0 warms up
        for label, model, sizes in rows:
            for view in ("ground", "satellite"):
                speed = images_per_s(model, sizes[view], view, batch_size=args.batch_size, backward=True, repeats=1, warmup=0, num_threads=args.threads)
                if round_index:
                    rates[(label, view)].append(speed["median"])
    base = keys[0]
    print(f"\nforward+backward images/s, batch {args.batch_size}, {args.threads} threads, median of {args.repeats} interleaved rounds")
    for key in keys:
        ratio = statistics.median(a / b for a, b in zip(rates[key], rates[base]))
        runs = ", ".join(f"{r:.1f}" for r in rates[key])
        print(f"  {key[0]} [{key[1]}]: {statistics.median(rates[key]):.1f}  (x{ratio:.2f} of the first row's ground; runs {runs})")


if __name__ == "__main__":
    main()
