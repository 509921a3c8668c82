"""How long does the full synthetic grid take? (target: under 60 min on the 2-core CPU machine)

Runs ``cvgl-bench grid`` on a suite (default ``benchmarks/synth.yaml``: 3 methods, every
synthetic split including transfer, cpu profile) with one seed (the suite's ``seeds_for``
extras left out), into a fresh work folder and, unless ``--shared-cache``, a fresh
``CVGL_BENCH_CACHE``: the figure then includes generating the synthetic datasets and their image
caches, as on a new machine. Afterwards it reads the records' ``provenance.wall_time_s`` and
prints where the time went, per trained cell and per evaluation.

    python benchmarks/speed/grid.py [--suite benchmarks/synth.yaml] [--seeds 0] [--keep DIR]
    python benchmarks/speed/grid.py --summarize DIR   # only the breakdown of an earlier --keep DIR

One run takes most of an hour, so this prints one run's figures; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

CLI = [sys.executable, "-m", "cvgl_bench"]
REPO = Path(__file__).resolve().parents[2]


def timing_suites(paths: list[str], seeds: str, base: Path) -> list[str]:
    """Copies of the suites that run only ``seeds``: the grid's ``--seeds`` keeps each suite's
    ``seeds_for`` extras, which the timing leaves out."""
    import yaml

    copies = []
    for i, path in enumerate(paths):
        suite = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        suite.pop("seeds_for", None)
        suite["seeds"] = [int(s) for s in seeds.split(",")]
        copy = base / f"suite-{i}-{Path(path).name}"
        copy.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        copies.append(str(copy))
    return copies


def run_grid(args: argparse.Namespace, base: Path) -> float:
    env = dict(os.environ)
    if not args.shared_cache:
        env["CVGL_BENCH_CACHE"] = str(base / "cache")
    command = CLI + ["grid", *timing_suites(args.suite, args.seeds, base),
                       "--results", str(base / "results"), "--runs", str(base / "runs")]
    if args.threads:
        command += ["--threads", str(args.threads)]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(base / "grid.log", "w", encoding="utf-8") as log:
        code = subprocess.call(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    (base / "wall_s.txt").write_text(f"{wall:.1f}\n", encoding="utf-8")
    if code != 0:
        sys.exit(f"grid exited with {code}; see {base / 'grid.log'}")
    return wall


def summarize(base: Path, wall: float | None) -> None:
    """Per trained cell: its load phase (generating the synthetic data on a fresh cache),
    training, and the embedding and search of each evaluation. A cell's records all carry the
    cell's load and train times, so those count once per cell."""
    load: dict[tuple, float] = defaultdict(float)
    trained: dict[tuple, float] = defaultdict(float)
    per_cell: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for path in sorted((base / "results").rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        cell, times = record["cell"], record["provenance"].get("wall_time_s", {})
        method = f"{cell['method']} [{cell['variant']}]" if cell.get("variant") else cell["method"]
        key = (method, cell["train_split"], cell["seed"])
        load[key] = max(load[key], float(times.get("load", 0.0)))
        if not record["provenance"].get("train_reused"):
            trained[key] = max(trained[key], float(times.get("train", 0.0)))
        evaluation = sum(float(v) for k, v in times.items() if k not in ("load", "train"))
        per_cell[key].append((cell["eval_split"], evaluation))
    if not per_cell:
        sys.exit(f"no records under {base / 'results'}")
    print(f"\n{'method':<18} {'trained on':<24} seed {'load s':>7} {'train min':>9} {'eval s':>7}  evaluated on")
    for key in sorted(per_cell):
        method, train_split, seed = key
        evals = per_cell[key]
        print(f"{method:<18} {train_split:<24} {seed:>4} {load[key]:>7.1f} {trained[key] / 60:>9.1f} "
              f"{sum(s for _, s in evals):>7.1f}  {', '.join(split for split, _ in evals)}")
    load_s, train_s = sum(load.values()), sum(trained.values())
    eval_s = sum(seconds for evals in per_cell.values() for _, seconds in evals)
    print(f"\n{sum(1 for t in trained.values() if t > 0)} trained cells, "
          f"{sum(len(e) for e in per_cell.values())} records")
    print(f"load       {load_s / 60:6.1f} min  (reading splits; generating synthetic data on a fresh cache)")
    print(f"training   {train_s / 60:6.1f} min")
    print(f"evaluation {eval_s / 60:6.1f} min  (embedding, search, metrics)")
    if wall is not None:
        print(f"other      {(wall - load_s - train_s - eval_s) / 60:6.1f} min  (start-up, checkpoints, records)")
        print(f"total      {wall / 60:6.1f} min  (target: under 60 min)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=None, help="suite YAML (repeatable)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--shared-cache", action="store_true",
                        help="use the usual CVGL_BENCH_CACHE (datasets already generated) instead of a fresh one")
    parser.add_argument("--keep", default=None, help="work folder to keep instead of a temporary one")
    parser.add_argument("--summarize", default=None, help="only print the breakdown of an earlier --keep folder")
    args = parser.parse_args(argv)
    args.suite = args.suite or [str(REPO / "benchmarks" / "synth.yaml")]
    if args.summarize:
        base = Path(args.summarize)
        wall_file = base / "wall_s.txt"
        wall = float(wall_file.read_text()) if wall_file.exists() else None
        if wall is not None and any(p.stat().st_mtime > wall_file.stat().st_mtime
                                    for p in (base / "results").rglob("*.json")):
            print("records were added after the timed run: the breakdown covers them all, the total is left out")
            wall = None
        summarize(base, wall)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        if (base / "results").exists():
            sys.exit(f"{base / 'results'} exists: a timing needs an empty work folder")
        wall = run_grid(args, base)
        summarize(base, wall)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
