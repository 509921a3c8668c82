"""Does the cached image loader keep up with training? (target: loader epoch <= 1.1x in-memory epoch)

Times a training-like epoch of a small two-view model (one shared timm encoder, symmetric
InfoNCE, AdamW) over N (ground, satellite) pairs, fed

* ``memory``: from float tensors already normalised and in memory (the lower bound), and
* ``loader``: from :func:`cvgl_bench.data.images.load_images` (memory-mapped uint8 cache; per
  batch: gather rows, convert to float, normalise), with the cache warm, and once cold (the
  first epoch decodes and resizes every JPEG into a fresh cache).

The two epochs of a repeat run their steps interleaved (same batches, alternating which mode
goes first), so that load from other processes on a shared machine hits both alike; wall and
process CPU time are summed per mode.

The images are random smooth JPEGs of the real sizes (satellite 750 x 750 and ground
224 x 1232, as CVUSA) written to a temporary folder. Medians over the repeats are printed with
the loader / memory ratios; on a shared machine compare only ratios taken in one run.

    OMP_NUM_THREADS=2 python benchmarks/speed/loader_epoch.py            # 2,000 pairs, 3 repeats
    python benchmarks/speed/loader_epoch.py --pairs 200 --repeats 1       # quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def make_tree(folder: Path, pairs: int, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Random JPEGs with image-like statistics (smooth structure plus fine noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sats, grounds = [], []
    (folder / "sat").mkdir(parents=True, exist_ok=True)
    (folder / "ground").mkdir(parents=True, exist_ok=True)
    for i in range(pairs):
        for kind, (h, w), out in (("sat", (750, 750), sats), ("ground", (224, 1232), grounds)):
            coarse = Image.fromarray(rng.integers(0, 256, (h // 25, w // 25, 3), dtype=np.uint8)).resize((w, h))
            pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
            path = folder / kind / f"{i:07d}.jpg"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
            out.append(path)
    return sats, grounds


def to_tensor(batch_uint8: np.ndarray):
    from cvgl_bench.data.images import to_float_nchw

    return to_float_nchw(batch_uint8, MEAN, STD)


class Trainer:
    """One shared encoder for both views, symmetric InfoNCE, AdamW; deterministic init."""

    def __init__(self, model_name: str, seed: int):
        import timm
        import torch

        torch.manual_seed(seed)
        self.model = timm.create_model(model_name, pretrained=False, num_classes=0)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.model.train()

    def step(self, ground, sat) -> float:
        import torch
        import torch.nn.functional as F

        g = F.normalize(self.model(ground), dim=-1)
        s = F.normalize(self.model(sat), dim=-1)
        logits = g @ s.t() / 0.07
        target = torch.arange(len(g))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="epochs per mode (medians are reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="convnext_atto")
    parser.add_argument("--sat-size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"))
    parser.add_argument("--ground-size", type=int, nargs=2, default=(64, 256), metavar=("H", "W"))
    parser.add_argument("--workdir", type=Path, default=None, help="keep the generated images here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="cvgl-loader-bench-") as tmp:
        work = args.workdir or Path(tmp)
        os.environ["CVGL_BENCH_CACHE"] = str(work / "cache")
        from cvgl_bench.data.images import load_images
        from cvgl_bench.data.structures import ImageSet

        t0 = time.perf_counter()
        sat_paths, ground_paths = make_tree(work / "images", args.pairs)
        print(f"generated {2 * args.pairs} JPEGs (750x750 and 224x1232) in {time.perf_counter() - t0:.1f} s",
              flush=True)
        ids = [f"{i:07d}" for i in range(args.pairs)]
        sats, grounds = ImageSet("satellite", ids, sat_paths), ImageSet("ground", ids, ground_paths)
        sat_size, ground_size = tuple(args.sat_size), tuple(args.ground_size)

        # the in-memory reference: every image decoded, resized and normalised beforehand
        mem_sat = to_tensor(load_images(sats, sat_size, cache=False, progress=False, workers=args.threads).array)
        mem_ground = to_tensor(load_images(grounds, ground_size, cache=False, progress=False,
                                           workers=args.threads).array)
        trainer = Trainer(args.model, seed=0)
        rng = np.random.default_rng(0)

        def from_memory(idx):
            t = torch.from_numpy(idx)
            return mem_ground[t], mem_sat[t]

        def open_loader():
            sat_arr = load_images(sats, sat_size, progress=False, workers=args.threads)
            ground_arr = load_images(grounds, ground_size, progress=False, workers=args.threads)
            return lambda idx: (to_tensor(ground_arr[idx]), to_tensor(sat_arr[idx]))

        def paired_epoch() -> dict[str, tuple[float, float]]:
            """One epoch per mode, their steps interleaved (alternating which goes first) so that
            load from other processes hits both alike; returns (wall, CPU) seconds per mode."""
            wall = {"memory": 0.0, "loader": 0.0}
            cpu = {"memory": 0.0, "loader": 0.0}
            w0, c0 = time.perf_counter(), time.process_time()
            sources = {"memory": from_memory, "loader": open_loader()}  # cache lookup (or build) counts
            wall["loader"] += time.perf_counter() - w0
            cpu["loader"] += time.process_time() - c0
            order = rng.permutation(args.pairs)
            for step, b in enumerate(range(0, args.pairs - args.batch + 1, args.batch)):
                idx = np.sort(order[b:b + args.batch])
                for mode in (("memory", "loader") if step % 2 == 0 else ("loader", "memory")):
                    w0, c0 = time.perf_counter(), time.process_time()
                    trainer.step(*sources[mode](idx))
                    wall[mode] += time.perf_counter() - w0
                    cpu[mode] += time.process_time() - c0
            return {mode: (wall[mode], cpu[mode]) for mode in wall}

        for _ in range(3):  # warm-up of the allocator and kernels
            trainer.step(*from_memory(np.arange(args.batch) % args.pairs))
        cold = paired_epoch()  # the first loader epoch decodes every image into a fresh cache
        print(f"cold cache: loader {cold['loader'][0]:.1f} s vs memory {cold['memory'][0]:.1f} s", flush=True)
        runs = []
        for r in range(args.repeats):
            runs.append(paired_epoch())
            print(f"repeat {r + 1}: loader {runs[-1]['loader'][0]:.1f} s vs memory {runs[-1]['memory'][0]:.1f} s "
                  f"(CPU {runs[-1]['loader'][1]:.1f} s vs {runs[-1]['memory'][1]:.1f} s)", flush=True)

        def median(mode: str, which: int) -> float:
            return statistics.median(run[mode][which] for run in runs)

        steps = args.pairs // args.batch
        print(f"\n{args.model}, {args.pairs} pairs, batch {args.batch} ({steps} steps per epoch), satellite "
              f"{sat_size}, ground {ground_size}, {args.threads} threads; medians of {args.repeats} paired epochs")
        print(f"  {'':28s} {'wall s/epoch':>12s} {'CPU s/epoch':>12s}")
        print(f"  {'in-memory tensors':28s} {median('memory', 0):12.2f} {median('memory', 1):12.2f}")
        print(f"  {'cached loader (warm)':28s} {median('loader', 0):12.2f} {median('loader', 1):12.2f}")
        ratios = [run["loader"][0] / run["memory"][0] for run in runs]
        cpu_ratios = [run["loader"][1] / run["memory"][1] for run in runs]
        ratio = statistics.median(ratios)
        print(f"  loader / memory, per paired epoch: wall {', '.join(f'{x:.3f}' for x in ratios)} "
              f"(median {ratio:.3f}); CPU median {statistics.median(cpu_ratios):.3f}")
        print(f"  cold cache (first epoch, decoding included): wall ratio {cold['loader'][0] / cold['memory'][0]:.3f}")
        print(f"  target loader <= 1.1 x in-memory: {'met' if ratio <= 1.1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
