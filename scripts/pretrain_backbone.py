"""Pretrain the ``cpu`` profiles' backbone on the synthetic world's labelled corpus.

The synthetic analogue of ImageNet initialisation (what every real CVGL method starts from):
a timm backbone learns to label every pixel of satellite tiles, street-level panoramas and
drone views of worlds the benchmark never uses (:mod:`cvgl_bench.data.synth.corpus`), by dense
soft-label classification at strides 8, 16 and 32. It never sees a pair: it learns what things
are, never which tile matches which panorama. The weights are made once and committed::

    python scripts/pretrain_backbone.py --worlds 96          # convnext_atto, the committed weights (~40 min)
    python scripts/pretrain_backbone.py --worlds 6 --epochs 1 --out ~/cvgl-weights-try   # a quick try

Writes ``synth-<backbone>-<sha8>.pt`` (the backbone's fp16 state dict, timm key names,
``num_classes=0``) and a ``.json`` beside it (corpus, recipe, times, held-out pixel accuracy,
versions) into ``--out`` (default: the toolkit's weights folder). The rendered corpus is cached
in ``<cache>/synth/`` so a second run skips rendering. Pin threads and run it alone.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.data.synth import GENERATOR_VERSION
from cvgl_bench.data.synth.corpus import CLASSES, CorpusConfig, render_corpus
from cvgl_bench.dataroot import cache_dir
from cvgl_bench.provenance import git_revision
from cvgl_bench.fsutil import write_bytes, write_json, write_npz
from cvgl_bench.train.encoders import create_backbone
from cvgl_bench.train.pretrained import WEIGHTS_DIR, weights_name

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
STAGES = (1, 2, 3)
# Inputs at the sizes the cpu recipes train on: full-sphere panoramas are squashed to 64 x 256
# as the recipes' ``image_sizes['ground']`` does.
INPUT_SIZE = {"satellite": (128, 128), "ground_crop": (64, 256), "ground_full": (64, 256), "drone": (128, 128)}


def load_corpus(cfg: CorpusConfig, workers: int) -> dict[str, np.ndarray]:
    key = hashlib.sha256(json.dumps({"corpus": cfg.describe(), "generator": GENERATOR_VERSION},
                                    sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / "synth" / f"corpus-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    started = time.perf_counter()
    arrays = render_corpus(cfg, workers=workers)
    print(f"rendered the corpus in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{k} {len(v)}" for k, v in arrays.items() if not k.endswith("_classes")), flush=True)
    write_npz(path, arrays)
    return arrays


def soft_targets(classes: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Class fractions of each output cell: ``(B, K, h, w)`` from ``(B, H, W)`` class maps."""
    one_hot = F.one_hot(classes.long().clamp(max=len(CLASSES)), len(CLASSES) + 1)[..., :len(CLASSES)]
    return F.adaptive_avg_pool2d(one_hot.permute(0, 3, 1, 2).float(), grid)


def augment(images: torch.Tensor, classes: torch.Tensor, view: str, gen: torch.Generator):
    """Label-preserving geometry (flip; quarter turns of tiles, column rolls of panoramas) and
    brightness/contrast jitter, per batch."""
    if torch.rand((), generator=gen) < 0.5:
        images, classes = images.flip(-1), classes.flip(-1)
    if view in ("satellite",):
        k = int(torch.randint(0, 4, (), generator=gen))
        images, classes = images.rot90(k, (-2, -1)), classes.rot90(k, (-2, -1))
    elif view.startswith("ground"):
        shift = int(torch.randint(0, images.shape[-1], (), generator=gen))
        images, classes = images.roll(shift, -1), classes.roll(shift, -1)
    gain = 1.0 + 0.2 * (torch.rand(images.shape[0], 1, 1, 1, generator=gen) - 0.5)
    bias = 0.1 * (torch.rand(images.shape[0], 1, 1, 1, generator=gen) - 0.5)
    return (images * gain + bias).clamp(0, 1), classes


def batches(arrays, view: str, rows: np.ndarray, batch: int):
    images, classes = arrays[view], arrays[f"{view}_classes"]
    for lo in range(0, len(rows) - batch + 1, batch):
        idx = np.sort(rows[lo:lo + batch])
        x = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float() / 255.0
        y = torch.from_numpy(classes[idx])
        size = INPUT_SIZE[view]
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        yield x, y


class DenseHeads(nn.Module):
    """One 1x1 classifier per pretraining stage (discarded after pretraining)."""

    def __init__(self, channels: list[int]):
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(c, len(CLASSES), 1) for c in channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [head(f) for head, f in zip(self.heads, features)]


def loss_and_accuracy(backbone, heads, x, y):
    features = backbone.forward_intermediates((x - MEAN) / STD, indices=list(STAGES), intermediates_only=True)
    logits = heads(features)
    loss = x.new_zeros(())
    correct = 0.0
    for out in logits:
        target = soft_targets(y, tuple(out.shape[-2:]))
        loss = loss + -(target * F.log_softmax(out, dim=1)).sum(1).mean()
    first = logits[0]
    target = soft_targets(y, tuple(first.shape[-2:]))
    correct = float((first.argmax(1) == target.argmax(1)).float().mean())
    return loss / len(logits), correct


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="convnext_atto")
    ap.add_argument("--worlds", type=int, default=CorpusConfig.worlds)
    ap.add_argument("--places", type=int, default=CorpusConfig.places_per_world)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="corpus rendering processes")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    cfg = CorpusConfig(worlds=args.worlds, places_per_world=args.places)
    started = time.perf_counter()
    arrays = load_corpus(cfg, args.workers)
    corpus_s = time.perf_counter() - started
    views = [v for v in INPUT_SIZE if len(arrays[v])]
    # the last tenth of every view (the last worlds) is held out to show what was learned
    split = {v: int(len(arrays[v]) * 0.9) for v in views}

    backbone = create_backbone(args.backbone, pretrained=False)
    probe = backbone.forward_intermediates(torch.zeros(1, 3, 128, 128), indices=list(STAGES), intermediates_only=True)
    heads = DenseHeads([int(f.shape[1]) for f in probe])
    params = list(backbone.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = sum(split[v] // args.batch for v in views)
    total = args.epochs * steps_per_epoch
    warmup = min(steps_per_epoch, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    print(f"pretraining {args.backbone} on {', '.join(f'{v} {split[v]}' for v in views)} images "
          f"({steps_per_epoch} steps of {args.batch} per epoch)", flush=True)
    history = []
    train_started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        backbone.train(); heads.train()
        plan = [(v, x, y) for v in views for x, y in batches(arrays, v, rng.permutation(split[v]), args.batch)]
        order = rng.permutation(len(plan))
        losses = []
        for k in order:
            view, x, y = plan[k]
            x, y = augment(x, y, view, gen)
            loss, _ = loss_and_accuracy(backbone, heads, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        backbone.eval(); heads.eval()
        held = {}
        with torch.no_grad():
            for v in views:
                rows = np.arange(split[v], len(arrays[v]))
                accs = [loss_and_accuracy(backbone, heads, x, y)[1] for x, y in batches(arrays, v, rows, args.batch)]
                held[v] = round(100 * float(np.mean(accs)), 2) if accs else None
        entry = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "seconds": round(time.perf_counter() - t0, 1),
                 "held_out_pixel_accuracy_stride8": held}
        history.append(entry)
        print(json.dumps(entry), flush=True)
    train_s = time.perf_counter() - train_started

    state = {k: v.detach().to(torch.float16) if v.is_floating_point() else v for k, v in backbone.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    name = weights_name(args.backbone, digest)
    write_bytes(args.out / f"{name}.pt", payload)
    import timm

    write_json(args.out / f"{name}.json", {
        "name": name, "backbone": args.backbone, "sha256": digest, "classes": list(CLASSES),
        "corpus": cfg.describe(), "generator_version": GENERATOR_VERSION,
        "images": {v: int(len(arrays[v])) for v in views},
        "recipe": {"epochs": args.epochs, "batch": args.batch, "lr": args.lr, "weight_decay": args.weight_decay,
                   "seed": args.seed, "stages": list(STAGES), "input_size": {v: list(s) for v, s in INPUT_SIZE.items()}},
        "seconds": {"corpus": round(corpus_s, 1), "train": round(train_s, 1)}, "threads": args.threads,
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__, "timm": timm.__version__,
        "git": git_revision(), "command": " ".join(["python", "scripts/pretrain_backbone.py", *sys.argv[1:]]),
        "history": history,
    })
    print(f"wrote {args.out / (name + '.pt')} ({len(payload) / 1e6:.1f} MB); corpus {corpus_s:.0f} s, "
          f"training {train_s:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
