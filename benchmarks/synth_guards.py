"""Shortcut guards of the synthetic benchmark: no-learning retrieval that must stay near chance.

    python benchmarks/synth_guards.py [--size small] [--seed 0] [--layouts cvusa cvact]

For each layout, generates the dataset into the user cache if needed (as the synth_* splits
do), then prints R@1 (%) on its test split (synth_cvusa_test: splits/val-19zl.csv; synth_cvact_test:
ANU_data_test, exact id) of:

  colour_histogram       RGB histogram of the panorama vs the tile (Hellinger)
  polar_correlation      raw-pixel Pearson correlation with the SAFA polar transform of the tile
  warp_rgb               the panorama's ground rows projected onto a flat ground plane (known
                         camera height and field of view), normalised cross-correlation with the
                         tile (per-channel mean removed)
  warp_grey / _gradient  the same on grey levels / gradient magnitude
  warp_rgb_shift_search  best correlation over tile-centre shifts of up to 6 m (a stronger attack
                         that undoes the tile's centre offset)

The benchmark's target: every guard below 5 % R@1 at the small size (chance is 0.1 %).
"""

from __future__ import annotations

import argparse
import json
import time

from cvgl_bench.data.synth.cache import ensure_generated
from cvgl_bench.data.synth.config import make_config
from cvgl_bench.data.synth.guards import run_guards

TARGET = 5.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layouts", nargs="+", default=["cvusa", "cvact"], choices=["cvusa", "cvact"])
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    results = {}
    for layout in args.layouts:
        root = ensure_generated(layout, args.size, args.seed)
        cfg = make_config(layout, args.size, args.seed)
        t0 = time.perf_counter()
        results[layout] = run_guards(root, layout, cfg.satellite_extent_m, full_sphere=(layout != "cvusa"))
        results[layout]["seconds"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = [k for k in next(iter(results.values())) if k not in ("queries", "chance", "seconds")]
    print(f"R@1 (%) of no-learning shortcuts, size {args.size}, seed {args.seed} (target < {TARGET:g} %)")
    print(f"{'guard':24s}" + "".join(f"{'synth_' + layout + '_test':>20s}" for layout in results))
    for name in names:
        row = "".join(f"{results[layout][name]:>19.1f}{'!' if results[layout][name] >= TARGET else ' '}"
                      for layout in results)
        print(f"{name:24s}{row}")
    print(f"{'queries (chance %)':24s}" + "".join(
        f"{int(r['queries']):>12d} ({r['chance']:.2f})" for r in results.values()))


if __name__ == "__main__":
    main()
