"""Training speed of the Sample4Geo ``cpu`` profile: the model alone vs a whole epoch.

Generates a 2,000-pair set of random images at the cpu-profile sizes (satellite 128x128,
panorama 64x256) with random coordinates, then, ``--repeats`` times (medians are reported,
and model and epoch are measured back to back so their ratio shares the machine's load):

- **model alone**: ``Trainer.train_step`` on fixed, already augmented batches (normalise,
  forward, InfoNCE, backward, clipping, AdamW, schedule step), after warm-up steps;
- **whole epoch**: ``Trainer.fit`` for one epoch of the recipe: GPS neighbour table and batch
  plan, augmentation, the loop with its tqdm bar, the checkpoint and history writes;
- **similarity mining**: one Dynamic Similarity Sampling pass (embed every training query and
  reference, mine neighbours), which the recipe runs every ``dss_every`` epochs.

Overhead is measured inside the epoch, so that a change of the machine's load between
measurements cannot distort it: ``1 - (time in training steps) / (epoch wall time)``, the
wall time counting set-up (GPS table, batch plan), data and augmentation, progress bar, the
checkpoint and history writes. The separate model-alone figure (fixed batches) is a
cross-check of the in-epoch step rate. Usage::

    OMP_NUM_THREADS=2 python benchmarks/speed/train_epoch.py [--repeats 3] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_split(n_pairs: int, seed: int = 0):
    from cvgl_bench.data.structures import ImageSet, TrainData

    rng = np.random.default_rng(seed)
    latlon = np.c_[rng.uniform(25, 49, n_pairs), rng.uniform(-125, -67, n_pairs)]
    ids = [f"{i:07d}" for i in range(n_pairs)]
    queries = ImageSet("ground", ids, [f"/generated/ground/{i}.jpg" for i in ids], latlon=latlon)
    references = ImageSet("satellite", ids, [f"/generated/satellite/{i}.jpg" for i in ids], latlon=latlon)
    return TrainData("generated_train", queries, references, np.c_[np.arange(n_pairs), np.arange(n_pairs)])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-steps", type=int, default=12, help="timed steps per model-alone measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from cvgl_bench.specs import SplitSpec
    from cvgl_bench.train.context import RunContext

    try:
        from cvgl_bench_sample4geo.method import Sample4Geo
    except ImportError:
        sys.exit("install the plugin first: pip install -e plugins/sample4geo")

    torch.set_num_threads(args.threads)
    method = Sample4Geo()
    spec = SplitSpec(name="synth_cvusa_train", loader="unused:unused", role="train", layout="cvusa")
    hp = method.hparams("cpu", spec)
    hp["epochs"] = 1  # one epoch of the recipe's schedule; mining is timed on its own
    train = make_split(args.pairs)
    rng = np.random.default_rng(1)
    ground = rng.integers(0, 256, (args.pairs, *hp["image_size"]["ground"], 3), dtype=np.uint8)
    satellite = rng.integers(0, 256, (args.pairs, *hp["image_size"]["satellite"], 3), dtype=np.uint8)
    batch = hp["batch_size"]

    rows = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            run = RunContext(seed=repeat, device="cpu", workdir=Path(tmp), progress=True, log=lambda m: None)
            torch.manual_seed(repeat)
            model = method.build_model(hp)

            # model alone: the trainer's own step on fixed augmented batches
            trainer = method.make_trainer(model, train, ground, satellite, hp, run)
            trainer.dataset.set_epoch(0)
            q, r = trainer.dataset.__getitems__(list(range(batch)))
            model.train()
            for _ in range(3):
                trainer.train_step(q, r)
            started = time.perf_counter()
            for _ in range(args.model_steps):
                trainer.train_step(q, r)
            model_s = time.perf_counter() - started
            model_rate = 2 * batch * args.model_steps / model_s

            # whole epoch: a fresh model and trainer, exactly as Method.fit runs it
            torch.manual_seed(repeat)
            model = method.build_model(hp)
            started = time.perf_counter()
            trainer = method.make_trainer(model, train, ground, satellite, hp, run)
            history = trainer.fit()
            epoch_wall = time.perf_counter() - started
            entry = history[-1]
            images = 2 * batch * entry["steps"]
            epoch_rate = images / epoch_wall

            # one similarity-mining pass with this model
            miner = trainer.epoch_hooks[0] if trainer.epoch_hooks else None
            mining_s = float("nan")
            if miner is not None:
                miner.epochs = 10**9  # make it due
                started = time.perf_counter()
                miner(hp["dss_every"], model)
                mining_s = time.perf_counter() - started

        row = {
            "model_images_per_s": model_rate,
            "in_epoch_step_images_per_s": images / entry["step_s"],
            "epoch_images_per_s": epoch_rate,
            "overhead_pct": 100 * (1 - entry["step_s"] / epoch_wall),
            "epoch_s": epoch_wall,
            "steps": entry["steps"],
            "loop_s": entry["seconds"],
            "data_s": entry["data_s"],
            "step_s": entry["step_s"],
            "checkpoint_s": entry.get("checkpoint_s", 0.0),
            "setup_s": epoch_wall - entry["seconds"] - entry.get("checkpoint_s", 0.0),
            "mining_s": mining_s,
            "mining_images_per_s": 2 * len(train) / mining_s if mining_s == mining_s else float("nan"),
        }
        rows.append(row)
        print(f"repeat {repeat + 1}/{args.repeats}: model alone {row['model_images_per_s']:.1f} img/s, steps in the "
              f"epoch {row['in_epoch_step_images_per_s']:.1f} img/s, whole epoch {row['epoch_images_per_s']:.1f} img/s "
              f"({row['epoch_s']:.1f} s), overhead {row['overhead_pct']:.1f}%", flush=True)

    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    result = {
        "benchmark": "train_epoch", "pairs": args.pairs, "batch_size": batch, "threads": args.threads,
        "backbone": hp["backbone"], "image_size": hp["image_size"], "repeats": args.repeats,
        "median": median, "runs": rows, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
    }
    print()
    print(f"{'median of ' + str(args.repeats):<34}")
    print(f"  model alone (train step)      {median['model_images_per_s']:8.1f} images/s")
    print(f"  training steps inside epoch   {median['in_epoch_step_images_per_s']:8.1f} images/s")
    print(f"  whole epoch                   {median['epoch_images_per_s']:8.1f} images/s  "
          f"({median['epoch_s']:.1f} s for {args.pairs} pairs)")
    print(f"  overhead (1 - step time/wall) {median['overhead_pct']:8.1f} %")
    print(f"    data + augmentation         {median['data_s']:8.2f} s")
    print(f"    setup (GPS table, plan...)  {median['setup_s']:8.2f} s")
    print(f"    checkpoint                  {median['checkpoint_s']:8.2f} s")
    print(f"  similarity mining pass        {median['mining_s']:8.1f} s "
          f"({median['mining_images_per_s']:.0f} images/s inference; every {hp['dss_every']} epochs)")
    print(f"  (load average {result['load_average_1m']:.2f} on {os.cpu_count()} CPUs: other processes share them)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
