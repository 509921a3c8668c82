"""Does the cached image loader keep up with training? (target: loader epoch <= 1.1x in-memory epoch)

Times a training-like epoch of a small two-view model (one shared timm encoder, symmetric
InfoNCE, AdamW) over N (ground, satellite) pairs, fed

* ``memory``: from float tensors already normalised and in memory (the lower bound), and
* ``loader``: from :func:`cvgl_bench.data.images.load_images` (memory-mapped uint8 cache, per
  batch: gather rows, convert to float, normalise), with the cache warm (``loader``) and, once,
  cold (``loader-cold``: decoding and resizing every JPEG into a fresh cache inside the epoch).

The images are random smooth JPEGs of the real sizes (satellite 750 x 750 and ground
224 x 1232, as CVUSA) written to a temporary folder. Epochs alternate between the modes and
the medians are printed with their ratio; on a shared machine compare only ratios taken in
one run.

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

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


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
    import torch

    x = torch.from_numpy(batch_uint8).float()
    x = (x - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.permute(0, 3, 1, 2).contiguous()


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


def epoch(trainer: Trainer, order: np.ndarray, batch: int, get_batch) -> float:
    start = time.perf_counter()
    for b in range(0, len(order) - batch + 1, batch):
        idx = np.sort(order[b:b + batch])
        ground, sat = get_batch(idx)
        trainer.step(ground, sat)
    return time.perf_counter() - start


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

        def loader_batches():
            sat_arr = load_images(sats, sat_size, progress=False, workers=args.threads)
            ground_arr = load_images(grounds, ground_size, progress=False, workers=args.threads)
            return lambda idx: (to_tensor(ground_arr[idx]), to_tensor(sat_arr[idx]))

        def loader_epoch(order) -> float:
            start = time.perf_counter()
            get = loader_batches()  # the cache lookup (or build) is part of the epoch
            epoch(trainer, order, args.batch, get)
            return time.perf_counter() - start

        epoch(trainer, rng.permutation(args.pairs)[: 4 * args.batch], args.batch, from_memory)  # warm-up
        cold = loader_epoch(rng.permutation(args.pairs))
        print(f"loader-cold epoch (decode into a fresh cache + train): {cold:.2f} s", flush=True)
        times: dict[str, list[float]] = {"memory": [], "loader": []}
        for r in range(args.repeats):
            order = rng.permutation(args.pairs)
            times["memory"].append(epoch(trainer, order, args.batch, from_memory))
            times["loader"].append(loader_epoch(order))
            print(f"repeat {r + 1}: memory {times['memory'][-1]:.2f} s, loader {times['loader'][-1]:.2f} s", flush=True)
        mem, warm = statistics.median(times["memory"]), statistics.median(times["loader"])
        steps = args.pairs // args.batch
        print(f"\n{args.model}, {args.pairs} pairs, batch {args.batch} ({steps} steps), satellite {sat_size}, "
              f"ground {ground_size}, {args.threads} threads, medians of {args.repeats}")
        print(f"  in-memory tensors : {mem:7.2f} s/epoch")
        print(f"  cached loader     : {warm:7.2f} s/epoch  ratio {warm / mem:.3f}")
        print(f"  cold cache (once) : {cold:7.2f} s/epoch  ratio {cold / mem:.3f}")
        target = "met" if warm / mem <= 1.1 else "NOT met"
        print(f"  target loader <= 1.1 x in-memory: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
