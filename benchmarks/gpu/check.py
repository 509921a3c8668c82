"""GPU check: the figures a GPU machine should give, and the checks only a GPU can run, in one
short run (at most ~10 minutes on one GPU). Exit status 1 when a check fails.

    bash benchmarks/gpu/check.sh [--out RESULT.json] [--batch 64]   # on a GPU machine
    bash benchmarks/gpu/check.sh --dry-run                           # anywhere: the same code paths, tiny, on the CPU

Sections (each prints one line; the last line is the whole result as JSON, with ``checks``: each
check's name and whether it held, and ``failed``):

train      Sample4Geo's ``paper`` profile (ConvNeXt-B, satellite 384x384, panorama 140x768, AMP, batch
           128) for ``--steps`` optimiser steps on random images with random GPS positions, through the
           real trainer (``Method.make_trainer(...).fit()``: GPS batches, paired augmentation, the
           loop): images/s of the steps, peak GPU memory, the share of the loop spent waiting for
           data (``data_s / seconds`` of the trainer's history), and the precision it trained in.
           The backbone is randomly initialised: the machine has no internet for the ImageNet
           weights, and speed does not depend on them. Out of memory is a failed check that
           names ``--batch``. Checks: every loss is finite.
torchrun   The same through ``torchrun`` with two processes where two GPUs are visible (two CPU
           processes on gloo in the dry run; one GPU: one process, and the multi-process checks
           are skipped and say so): images/s. Checks: the first step's loss equals the one-process
           loss on the same global batch (DDP, the gathered loss, sharded batches).
resume     Two epochs of a few steps straight, and the same stopped after epoch 1 and resumed from
           ``last.pt``: checks that the resume runs (the trainer's RNG, scaler and sampler state on
           this device) and, on a CPU, that the weights are bit-identical; on a GPU the largest
           weight difference is reported (cuDNN is not deterministic).
score      Exact ranks of N = 92,802 queries against 92,802 references, D = 1,024 (VIGOR's gallery
           size), with the torch backend on the GPU and with faiss (GPU when faiss has one): time
           and peak memory. Checks: the GPU's ranks and top-10 equal the CPU engine's on 1,000
           queries; they do not change with TF32 switched on (the engine turns it off while
           ranking); faiss's ranks equal torch's.
embed      The ``paper`` profile's embedding of random images of each view: images/s.

``--dry-run`` shrinks everything (ConvNeXt-atto, 64x64 / 32x128 images, batch 8, 2 steps, N = 2,000,
D = 64) and runs on the CPU, so CI proves the script and its checks work; its figures mean nothing.
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
        "n_embed": 2048, "resume_steps": 3, "score_sample": 1000}
DRY = {"steps": 2, "batch": 8, "backbone": "convnext_atto", "sizes": {"satellite": [64, 64], "ground": [32, 128]},
       "n_score": 2000, "dim": 64, "n_embed": 32, "resume_steps": 2, "score_sample": 200}
FIRST_LOSS_RTOL = {"cpu": 1e-4, "cuda": 2e-2}
"""How far the first step's loss of several processes may be from one process's (fp16 on a GPU)."""


def _hparams(cfg: dict[str, Any], epochs: int = 1) -> tuple[Any, dict[str, Any]]:
    from cvgl_bench.specs import SplitSpec
    from cvgl_bench_sample4geo.method import Sample4Geo

    method = Sample4Geo()
    hp = method.hparams("paper", SplitSpec(name="gpu_check_train", loader="unused:unused", role="train",
                                           layout="cvusa"))
    hp.update({"pretrained": False, "epochs": epochs, "warmup_epochs": 0.0, "batch_size": cfg["batch"],
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


def _fit(cfg: dict[str, Any], device: str, workdir: Path, *, steps: int, epochs: int = 1, resume: bool = False,
         stop_after_epoch: int | None = None) -> tuple[Any, list[dict[str, Any]], dict[str, Any], list[float]]:
    """Train the check's model; returns it, the trainer's history, the run's notes and each step's loss."""
    from cvgl_bench import distributed
    from cvgl_bench.train.context import RunContext

    world = distributed.world_info_from_env()
    method, hp = _hparams(cfg, epochs)
    n = steps * cfg["batch"]
    train = _split(n)
    ground, satellite = _images(n, hp["image_size"]["ground"], 1), _images(n, hp["image_size"]["satellite"], 2)
    losses: list[float] = []

    def stop(epoch: int, step: int) -> None:
        if stop_after_epoch is not None and epoch > stop_after_epoch:
            raise _Stopped

    run = RunContext(seed=0, device=device, workdir=workdir, resume=resume, progress=False, log=lambda line: None,
                     world_size=world.world_size, rank=world.rank, local_rank=world.local_rank, on_step=stop,
                     on_scalars=lambda scalars, step, epoch: losses.append(float(scalars["train/loss"]))
                     if "train/loss" in scalars else None)
    torch.manual_seed(0)
    model = method.build_model(hp)
    try:
        history = method.make_trainer(model, train, ground, satellite, hp, run).fit()
    except _Stopped:
        history = []
    return model, history, run.notes, losses


class _Stopped(Exception):
    """Raised by the resume check's step callback: an interruption after an epoch's checkpoint."""


def section_train(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    from cvgl_bench import distributed

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with distributed.process_group(device) as device, tempfile.TemporaryDirectory() as tmp:
        try:
            _, history, notes, losses = _fit(cfg, device, Path(tmp), steps=cfg["steps"])
        except torch.cuda.OutOfMemoryError:
            return {"batch": cfg["batch"], "error": f"out of memory at a global batch of {cfg['batch']} on one GPU "
                    "(Sample4Geo spread 128 over 4 GPUs); rerun with --batch 64, or on two GPUs"}
    entry = history[-1]
    _, hp = _hparams(cfg)
    images = 2 * cfg["batch"] * entry["steps"]
    return {"steps": entry["steps"], "batch": cfg["batch"], "train_precision": notes.get("train_precision"),
            "sizes": hp["image_size"], "backbone": hp["backbone"], "processes": distributed.world_info_from_env().world_size,
            "first_loss": losses[0] if losses else None, "losses_finite": bool(np.isfinite(losses).all()),
            "images_per_s": images / max(entry["step_s"], 1e-9), "loop_images_per_s": images / entry["seconds"],
            "data_wait_share": entry["data_s"] / max(entry["seconds"], 1e-9), "peak_gpu_mb": _peak_mb(device)}


def section_resume(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    steps = cfg["resume_steps"]
    with tempfile.TemporaryDirectory() as straight, tempfile.TemporaryDirectory() as stopped:
        try:
            whole, _, _, _ = _fit(cfg, device, Path(straight), steps=steps, epochs=2)
            _fit(cfg, device, Path(stopped), steps=steps, epochs=2, stop_after_epoch=1)
            resumed, history, notes, _ = _fit(cfg, device, Path(stopped), steps=steps, epochs=2, resume=True)
        except torch.cuda.OutOfMemoryError:
            return {"error": f"out of memory at a global batch of {cfg['batch']}; rerun with --batch 64"}
    a, b = whole.state_dict(), resumed.state_dict()
    largest = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    return {"steps_per_epoch": steps, "resumed_after_epoch": notes.get("resumed_after_epoch"),
            "epochs": len(history), "largest_weight_difference": largest,
            "bit_identical": all(torch.equal(a[k], b[k]) for k in a)}


def section_torchrun(args: argparse.Namespace) -> dict[str, Any]:
    nproc = 2 if args.dry_run or torch.cuda.device_count() >= 2 else 1
    launcher = shutil.which("torchrun")
    command = [launcher] if launcher else [sys.executable, "-m", "torch.distributed.run"]
    command += ["--standalone", "--nproc_per_node", str(nproc), str(Path(__file__).resolve()), "--section", "train",
                "--device", "cuda" if args.device.startswith("cuda") else args.device, "--batch", str(args.batch)]
    done = subprocess.run(command + (["--dry-run"] if args.dry_run else []), capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        return {"processes": nproc, "error": (done.stderr.strip().splitlines() or ["torchrun failed"])[-1]}
    out = json.loads(done.stdout.strip().splitlines()[-1])["train"]
    if nproc == 1:
        out["note"] = "one GPU visible: one process, so DDP and the gathered loss were not checked"
    return out


def section_score(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    from cvgl_bench.data.structures import GroundTruth
    from cvgl_bench.evaluate.search import FaissSearch, TorchSearch

    n, d = cfg["n_score"], cfg["dim"]
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((n, d), dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    query = reference + 0.8 * rng.standard_normal((n, d), dtype=np.float32) / np.sqrt(d)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    query[1] = query[0]  # an exact tie between two queries' rows and a duplicate reference
    reference[3] = reference[2]
    truth = GroundTruth.one_to_one(np.arange(n), n)
    out: dict[str, Any] = {"n": n, "dim": d}
    tables = {}
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
        tables[name] = backend.rank(query, reference, truth, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        out[name] = {"seconds": seconds, "peak_gpu_mb": _peak_mb(device),
                     "recall@1": float(np.mean(tables[name].rank_strict == 0) * 100)}
    if "faiss" in tables:
        out["faiss_equals_torch"] = _same_ranks(tables["torch"], tables["faiss"])
    sample = np.unique(np.r_[0, 1, 2, np.linspace(0, n - 1, cfg["score_sample"]).astype(int)])
    part = GroundTruth.one_to_one(sample, n)
    cpu = TorchSearch().rank(query[sample], reference, part, device="cpu")
    out["sample_queries"] = len(sample)
    out["device_equals_cpu"] = _same_ranks(cpu, tables["torch"], rows=sample)
    with _tf32_on():
        tf32 = TorchSearch().rank(query[sample], reference, part, device=device)
    out["tf32_on_equals_cpu"] = _same_ranks(cpu, tf32)
    return out


def _same_ranks(a: Any, b: Any, rows: np.ndarray | None = None) -> bool:
    """Whether two rank tables agree exactly (``b``'s ``rows`` against all of ``a``)."""
    pick = (lambda x: x) if rows is None else (lambda x: x[rows])
    return all(np.array_equal(getattr(a, key), pick(getattr(b, key))) for key in ("rank_strict", "rank_loose", "topk"))


class _tf32_on:
    """TF32 matmuls switched on as a user or library would, through torch's newest interface."""

    def __enter__(self) -> None:
        cuda = torch.backends.cuda.matmul
        self.saved = cuda.fp32_precision if hasattr(cuda, "fp32_precision") else cuda.allow_tf32
        if hasattr(cuda, "fp32_precision"):
            cuda.fp32_precision = "tf32"
        else:
            cuda.allow_tf32 = True

    def __exit__(self, *exc: Any) -> None:
        cuda = torch.backends.cuda.matmul
        if hasattr(cuda, "fp32_precision"):
            cuda.fp32_precision = self.saved
        else:
            cuda.allow_tf32 = self.saved


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


def checks(result: dict[str, Any], device: str) -> dict[str, bool | None]:
    """Each check's name and whether it held (None: not run, and the result says why)."""
    train, ddp, resume, score = (result.get(k, {}) for k in ("train", "torchrun", "resume", "score"))
    out: dict[str, bool | None] = {}
    if train:
        out["train: ran, every loss finite"] = "error" not in train and train.get("losses_finite") is True
    if ddp:
        several = ddp.get("processes", 1) > 1
        out["torchrun: ran"] = "error" not in ddp
        out["torchrun: first loss equals one process's"] = (
            None if not several or "first_loss" not in train or "error" in ddp else
            bool(np.isclose(ddp["first_loss"], train["first_loss"], rtol=FIRST_LOSS_RTOL[device.split(":")[0]])))
    if resume:
        out["resume: continued after epoch 1"] = resume.get("resumed_after_epoch") == 1
        out["resume: bit-identical on the CPU"] = resume.get("bit_identical") is True if device == "cpu" else None
    if score:
        out["score: device ranks equal the CPU engine's"] = score.get("device_equals_cpu") is True
        out["score: TF32 switched on changes no rank"] = score.get("tf32_on_equals_cpu") is True
        out["score: faiss ranks equal torch's"] = score.get("faiss_equals_torch") if "faiss_equals_torch" in score \
            else None
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: proves the script runs")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--batch", type=int, default=None, help="global batch of the training sections "
                        "(default: the paper's 128; 8 in the dry run)")
    parser.add_argument("--section", action="append", choices=["train", "torchrun", "resume", "score", "embed"],
                        help="run only these sections (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the result JSON here")
    args = parser.parse_args(argv)
    args.device = args.device or ("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    if not args.dry_run and not args.device.startswith("cuda"):
        parser.error("no GPU here: the full check needs one (use --dry-run to test the script on a CPU)")
    cfg = dict(DRY if args.dry_run else FULL)
    if args.batch is not None:
        if args.batch < 2 or args.batch % 2:
            parser.error("--batch must be an even number of at least 2 (two processes share it)")
        cfg["batch"] = args.batch
    args.batch = cfg["batch"]
    sections = args.section or ["train", "torchrun", "resume", "score", "embed"]
    gpu = torch.device(args.device)
    result: dict[str, Any] = {"dry_run": args.dry_run, "device": args.device,
                              "gpu": torch.cuda.get_device_name(gpu) if gpu.type == "cuda" else None,
                              "torch": torch.__version__}
    launched_by_torchrun = "LOCAL_RANK" in os.environ
    for name in sections:
        started = time.perf_counter()
        if name == "train":
            result["train"] = section_train(cfg, args.device)
        elif name == "torchrun":
            result["torchrun"] = section_torchrun(args)
        elif name == "resume":
            result["resume"] = section_resume(cfg, args.device)
        elif name == "score":
            result["score"] = section_score(cfg, args.device)
        else:
            result["embed"] = section_embed(cfg, args.device)
        if not launched_by_torchrun:
            print(f"{name}: {json.dumps(result[name])} ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
                  flush=True)
    if launched_by_torchrun:
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps(result))
        return result
    result["checks"] = checks(result, args.device)
    result["failed"] = [name for name, held in result["checks"].items() if held is False]
    for name, held in result["checks"].items():
        print(f"check {'ok  ' if held else 'FAIL' if held is False else 'skip'} {name}", file=sys.stderr)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if result["failed"]:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
