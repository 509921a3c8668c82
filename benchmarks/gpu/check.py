"""GPU check: the figures a GPU machine should give, in one short run (at most ~8 minutes on one GPU).

    bash benchmarks/gpu/check.sh [--out RESULT.json]      # on a GPU machine
    bash benchmarks/gpu/check.sh --dry-run                 # anywhere: the same code paths, tiny, on the CPU

Sections (each prints one line; the last line is the whole result as JSON):

train      Sample4Geo's ``paper`` profile (ConvNeXt-B, satellite 384x384, panorama 140x768, AMP, batch
           128) for ``--steps`` optimiser steps on random images with random GPS positions, through the
           real trainer (``Method.make_trainer(...).fit()``: GPS batches, paired augmentation, the
           loop): images/s of the steps, peak GPU memory, and the share of the loop spent waiting
           for data (``data_s / seconds`` of the trainer's history). The backbone is randomly
           initialised: the machine has no internet for the ImageNet weights, and speed does not
           depend on them.
torchrun   The same through ``torchrun --nproc_per_node 1`` (a process group of one): images/s.
score      Exact ranks of N = 92,802 queries against 92,802 references, D = 1,024 (VIGOR's gallery
           size), with the torch backend on the GPU and with faiss (GPU when faiss has one): time,
           peak memory, and whether both gave identical ranks.
embed      The ``paper`` profile's embedding of random images of each view: images/s.

``--dry-run`` shrinks everything (ConvNeXt-atto, 64x64 / 32x128 images, batch 8, 2 steps, N = 2,000,
D = 64) and runs on the CPU, so CI proves the script works; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

FULL = {"steps": 40, "batch": 128, "backbone": None, "sizes": None, "n_score": 92_802, "dim": 1024,
        "n_embed": 2048}
DRY = {"steps": 2, "batch": 8, "backbone": "convnext_atto", "sizes": {"satellite": [64, 64], "ground": [32, 128]},
       "n_score": 2000, "dim": 64, "n_embed": 32}


def _hparams(cfg: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from cvgl_bench.specs import SplitSpec
    from cvgl_bench_sample4geo.method import Sample4Geo

    method = Sample4Geo()
    hp = method.hparams("paper", SplitSpec(name="gpu_check_train", loader="unused:unused", role="train",
                                           layout="cvusa"))
    hp.update({"pretrained": False, "epochs": 1, "warmup_epochs": 0.0, "batch_size": cfg["batch"],
               "dss_every": 0, "eval_every": 0, "workers": min(4, os.cpu_count() or 1)})
    if cfg["backbone"]:
        hp["backbone"] = cfg["backbone"]
    if cfg["sizes"]:
        hp["image_size"] = {view: list(size) for view, size in cfg["sizes"].items()}
    return method, hp


def _split(n: int) -> Any:
    from cvgl_bench.data.structures import ImageSet, TrainData

    rng = np.random.default_rng(0)
    latlon = np.c_[rng.uniform(25, 49, n), rng.uniform(-125, -67, n)]
    ids = [f"{i:07d}" for i in range(n)]
    queries = ImageSet("ground", ids, [f"/random/ground/{i}.jpg" for i in ids], latlon=latlon)
    references = ImageSet("satellite", ids, [f"/random/satellite/{i}.jpg" for i in ids], latlon=latlon)
    return TrainData("gpu_check_train", queries, references, np.c_[np.arange(n), np.arange(n)])


def _images(n: int, size: list[int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def _peak_mb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def section_train(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    from cvgl_bench import distributed
    from cvgl_bench.train.context import RunContext

    world = distributed.world_info_from_env()
    if world.distributed and not distributed.is_distributed():
        distributed.init_distributed(device)
    method, hp = _hparams(cfg)
    n = cfg["steps"] * cfg["batch"]
    train = _split(n)
    ground, satellite = _images(n, hp["image_size"]["ground"], 1), _images(n, hp["image_size"]["satellite"], 2)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunContext(seed=0, device=device, workdir=Path(tmp), progress=False, log=lambda line: None,
                         world_size=world.world_size, rank=world.rank, local_rank=world.local_rank)
        torch.manual_seed(0)
        model = method.build_model(hp)
        entry = method.make_trainer(model, train, ground, satellite, hp, run).fit()[-1]
    images = 2 * cfg["batch"] * entry["steps"]
    return {"steps": entry["steps"], "batch": cfg["batch"], "amp": bool(hp["amp"]) and device.startswith("cuda"),
            "sizes": hp["image_size"], "backbone": hp["backbone"],
            "images_per_s": images / max(entry["step_s"], 1e-9), "loop_images_per_s": images / entry["seconds"],
            "data_wait_share": entry["data_s"] / max(entry["seconds"], 1e-9), "peak_gpu_mb": _peak_mb(device)}


def section_torchrun(args: argparse.Namespace) -> dict[str, Any]:
    launcher = shutil.which("torchrun")
    command = [launcher] if launcher else [sys.executable, "-m", "torch.distributed.run"]
    command += ["--standalone", "--nproc_per_node", "1", str(Path(__file__).resolve()), "--section", "train",
                "--device", args.device] + (["--dry-run"] if args.dry_run else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["torchrun failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])["train"]


def section_score(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    from cvgl_bench.data.structures import GroundTruth
    from cvgl_bench.evaluate.search import FaissSearch, TorchSearch

    n, d = cfg["n_score"], cfg["dim"]
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((n, d), dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    query = reference + 0.8 * rng.standard_normal((n, d), dtype=np.float32) / np.sqrt(d)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    truth = GroundTruth.one_to_one(np.arange(n), n)
    out: dict[str, Any] = {"n": n, "dim": d}
    ranks = {}
    for name, backend in (("torch", TorchSearch()), ("faiss", FaissSearch())):
        if name == "faiss":
            try:
                import faiss  # noqa: F401
            except ImportError:
                out["faiss"] = {"error": "faiss is not installed (pip install -e '.[faiss]' or '.[gpu]')"}
                continue
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        table = backend.rank(query, reference, truth, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        ranks[name] = np.c_[table.rank_strict, table.rank_loose]
        out[name] = {"seconds": seconds, "peak_gpu_mb": _peak_mb(device),
                     "recall@1": float(np.mean(table.rank_strict == 0) * 100)}
    if len(ranks) == 2:
        out["identical_ranks"] = bool(np.array_equal(ranks["torch"], ranks["faiss"]))
    return out


def section_embed(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    from cvgl_bench.evaluate.extract import embed_array

    method, hp = _hparams(cfg)
    model = method.build_model(hp).to(device)
    out = {}
    for view in ("ground", "satellite"):
        images = _images(cfg["n_embed"], hp["image_size"][view], 3)
        transform = method.eval_transform(hp, view)
        embed_array(model, images[: min(len(images), 64)], view, transform, device=device, batch_size=64,
                    amp=bool(hp["amp"]))  # warm-up (cuDNN autotuning, allocator)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        embed_array(model, images, view, transform, device=device, batch_size=128, amp=bool(hp["amp"]))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        out[view] = {"images": len(images), "images_per_s": len(images) / (time.perf_counter() - started)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: proves the script runs")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--section", action="append", choices=["train", "torchrun", "score", "embed"],
                        help="run only these sections (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the result JSON here")
    args = parser.parse_args(argv)
    args.device = args.device or ("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    if not args.dry_run and not args.device.startswith("cuda"):
        parser.error("no GPU here: the full check needs one (use --dry-run to test the script on a CPU)")
    cfg = DRY if args.dry_run else FULL
    sections = args.section or ["train", "torchrun", "score", "embed"]
    result: dict[str, Any] = {"dry_run": args.dry_run, "device": args.device,
                              "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
                              "torch": torch.__version__}
    launched_by_torchrun = "LOCAL_RANK" in os.environ
    for name in sections:
        started = time.perf_counter()
        if name == "train":
            result["train"] = section_train(cfg, args.device)
        elif name == "torchrun":
            result["torchrun"] = section_torchrun(args)
        elif name == "score":
            result["score"] = section_score(cfg, args.device)
        else:
            result["embed"] = section_embed(cfg, args.device)
        if not launched_by_torchrun:
            print(f"{name}: {json.dumps(result[name])} ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
                  flush=True)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
