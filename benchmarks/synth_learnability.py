"""Is the synthetic benchmark learnable? A small two-branch CNN, trained from scratch on a
synthetic training split, evaluated by R@1 on its test split (and optionally on another layout
for transfer). Not a method of the benchmark: a yardstick for the generator, next to the
no-learning shortcut guards of ``synth_guards.py``.

    python benchmarks/synth_learnability.py --train cvusa --epochs 12 [--transfer cvact]

Reads the generated folders directly (CVUSA / CVACT layouts), so it runs without the real
dataset loaders. Pin threads (OMP_NUM_THREADS / --threads): on a shared CPU torch with two
threads slows down badly when another process takes a core.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from cvgl_bench.data.synth.cache import ensure_generated
from cvgl_bench.data.synth.guards import load_test_pairs


def load_train(root: Path, layout: str, pano_hw=(64, 256), sat=128):
    if layout == "cvusa":
        with open(root / "splits" / "train-19zl.csv", newline="") as handle:
            rows = [r for r in csv.reader(handle) if r]
        sats, panos = [root / r[0] for r in rows], [root / r[1] for r in rows]
    else:
        from scipy.io import loadmat

        mat = loadmat(root / "ACT_data.mat")
        ids = mat["panoIds"][mat["trainSet"]["trainInd"][0][0][:, 0] - 1]
        folder = root / "ANU_data_small"
        sats = [folder / "satview_polish" / f"{i}_satView_polish.jpg" for i in ids]
        panos = [folder / "streetview" / f"{i}_grdView.jpg" for i in ids]
    return _read(panos, pano_hw), _read(sats, (sat, sat))


def _read(paths, hw):
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((hw[1], hw[0]), Image.BILINEAR)) for p in paths])


class Branch(nn.Module):
    def __init__(self, out_hw: tuple[int, int], dim: int = 256):
        super().__init__()
        chans = [3, 32, 64, 96, 128]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                       nn.Conv2d(b, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(128, 32, 1), nn.Flatten(), nn.Linear(32 * out_hw[0] * out_hw[1], dim))

    def forward(self, x):
        return F.normalize(self.head(self.body(x)), dim=1)


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
    return (t - 0.45) / 0.25


def augment(panos: np.ndarray, sats: np.ndarray, rng: np.random.Generator):
    """Paired dihedral augmentation: tile rotated by k quarter turns <-> panorama rolled by k W/4;
    tile mirrored east-west <-> panorama columns reversed (north stays at the centre)."""
    w = panos.shape[2]
    out_p, out_s = panos.copy(), sats.copy()
    for i in range(len(panos)):
        k = int(rng.integers(0, 4))
        out_s[i] = np.rot90(sats[i], -k)  # clockwise
        out_p[i] = np.roll(panos[i], k * w // 4, axis=1)
        if rng.random() < 0.5:
            out_s[i] = out_s[i][:, ::-1]
            out_p[i] = out_p[i][:, ::-1]
    return out_p, out_s


def embed(model: Branch, images: np.ndarray, batch: int = 128) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(to_tensor(images[i:i + batch])) for i in range(0, len(images), batch)])


def recall1(q: torch.Tensor, r: torch.Tensor) -> float:
    sim = q @ r.T
    return float((sim > sim.diag()[:, None]).sum(1).eq(0).float().mean() * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default="cvusa", choices=["cvusa", "cvact"])
    ap.add_argument("--transfer", default=None, choices=["cvusa", "cvact"])
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--curve", type=Path, default=None,
                    help="write the learning curve as JSON: per epoch, training seconds (evaluation excluded) and R@1")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    root = ensure_generated(args.train, args.size, args.seed)
    tp, ts = load_train(root, args.train)
    qp, qs = load_test_pairs(root, args.train)
    qp = _read_resized(qp, (64, 256))
    evals = {args.train: (qp, qs)}
    if args.transfer:
        troot = ensure_generated(args.transfer, args.size, args.seed)
        xp, xs = load_test_pairs(troot, args.transfer)
        evals[args.transfer] = (_read_resized(xp, (64, 256)), _read_resized(xs, (128, 128)))
    pano_net, sat_net = Branch((4, 16)), Branch((8, 8))
    params = list(pano_net.parameters()) + list(sat_net.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
    opt.add_param_group({"params": [scale], "weight_decay": 0.0})
    print(f"train {args.train}: {len(tp)} pairs; test {', '.join(f'{k} {len(v[0])}' for k, v in evals.items())}")
    curve, train_s = [], 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        pano_net.train(); sat_net.train()
        order = rng.permutation(len(tp))
        losses = []
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            p, s = augment(tp[idx], ts[idx], rng)
            a, b = pano_net(to_tensor(p)), sat_net(to_tensor(s))
            logits = scale.exp().clamp(max=100) * a @ b.T
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad(); loss.backward(); opt.step()
            losses.append(float(loss.detach()))
        train_s += time.time() - t0
        scores = {k: recall1(embed(pano_net, v[0]), embed(sat_net, v[1])) for k, v in evals.items()}
        curve.append({"epoch": epoch, "train_s": round(train_s, 2), "loss": float(np.mean(losses)),
                      **{f"recall@1 {k}": v for k, v in scores.items()}})
        if args.curve:
            args.curve.parent.mkdir(parents=True, exist_ok=True)
            args.curve.write_text(json.dumps({"method": "yardstick", "train": args.train, "seed": args.seed,
                                              "threads": args.threads, "curve": curve}, indent=2) + "\n")
        recalls = "  ".join(f"R@1 {k} {v:5.1f}%" for k, v in scores.items())
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.3f}  {recalls}  ({time.time() - t0:.0f} s)", flush=True)


def _read_resized(images: np.ndarray, hw) -> np.ndarray:
    if images.shape[1:3] == tuple(hw):
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((hw[1], hw[0]), Image.BILINEAR)) for im in images])


if __name__ == "__main__":
    main()
