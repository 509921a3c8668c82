"""Learning curves of a method's recipe: R@1 on an evaluation split after every epoch, against
epochs and against training wall time (evaluation time excluded).

    python benchmarks/learning_curves.py --method sample4geo --dataset synth_cvusa_test \
        --set epochs=12 --out curves/sample4geo.json [--seed 0] [--threads 2]

Trains through the method's own ``fit`` (the runner's path: same hparams, sampler, trainer),
with an evaluation callback that embeds the split and scores R@1 with ``cvgl_bench.evaluate``
(exact ranks, the split's protocol). Writes one JSON file: the resolved hparams and one entry per
epoch ``{epoch, train_s, loss, recall@1, ...}``. ``plot_learning_curves.py`` draws several.
Pin threads and run it alone: the wall times are the point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cvgl_bench.data.images import load_images
from cvgl_bench.data.synth.cache import SEED_ENV, SIZE_ENV
from cvgl_bench.evaluate.extract import embed_array
from cvgl_bench.evaluate.scoring import score
from cvgl_bench.fsutil import write_json
from cvgl_bench.run.overrides import parse_set
from cvgl_bench.plugins import get_host
from cvgl_bench.run import Cell, load_split, plan, resolve_hparams, seed_everything
from cvgl_bench.train.context import RunContext


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", required=True)
    ap.add_argument("--dataset", required=True, help="evaluation split")
    ap.add_argument("--train-on", default=None, help="training split (default: the in-domain one)")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=1)
    ap.add_argument("--train-size", default=None,
                    help="synthetic size of the training split only (tiny, small, medium, full or N pairs); the "
                         "evaluation split keeps CVGL_BENCH_SYNTH_SIZE, so curves stay comparable")
    ap.add_argument("--train-seed", type=int, default=None,
                    help="synthetic seed of the training split only (default: 1 with --train-size, else the "
                         "evaluation's). A layout numbers its towns train first, then test, so a larger training "
                         "split of the same seed would contain the evaluation's test towns; another seed draws "
                         "other towns")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    host = get_host()
    overrides = parse_set(args.overrides)
    cell = Cell(args.method, (args.dataset,), args.train_on, args.profile, args.seed, (), overrides)
    p = plan(cell, host)
    method = p.method_spec.load()
    hparams = resolve_hparams(method, cell, p.train_spec)
    train_seed = args.train_seed if args.train_seed is not None else (1 if args.train_size else None)
    with _synth_env(SIZE_ENV, args.train_size), _synth_env(SEED_ENV, None if train_seed is None else str(train_seed)):
        train = load_split(p.train_spec, None, None, host)
    data = load_split(p.eval_specs[0], None, None, host)
    spec = p.eval_specs[0]
    qv, rv = spec.query_view, spec.reference_view
    query_images = load_images(data.queries, tuple(hparams["image_size"][qv]), progress=False)
    reference_images = load_images(data.references, tuple(hparams["image_size"][rv]), progress=False)

    curve: list[dict] = []
    clock = {"eval": 0.0, "start": 0.0}

    def evaluate(model) -> dict[str, float]:
        started = time.perf_counter()
        batch = int(hparams.get("embed_batch_size", 64))
        q = embed_array(model, query_images, qv, method.eval_transform(hparams, qv), batch_size=batch)
        r = embed_array(model, reference_images, rv, method.eval_transform(hparams, rv), batch_size=batch)
        scored = score(q.numpy(), r.numpy(), data, metrics=["recall@1", "recall@5", "recall@10"], n_boot=0,
                       host=host)
        clock["eval"] += time.perf_counter() - started
        return {name: float(m["value"]) for name, m in scored.metrics.items()}

    def log(message: str) -> None:
        print(message, flush=True)

    seed_everything(args.seed)
    model = method.build_model(hparams)
    with tempfile.TemporaryDirectory() as workdir:
        run = RunContext(seed=args.seed, device="cpu", workdir=Path(workdir), resume=False, progress=False,
                         evaluate=evaluate, log=log, threads=args.threads)
        hparams = dict(hparams, eval_every=args.eval_every)
        clock["start"] = time.perf_counter()
        history = _fit(method, model, train, hparams, run)
    total = time.perf_counter() - clock["start"]
    elapsed = 0.0
    for entry in history:
        elapsed += entry["seconds"] + entry.get("hooks_s", 0.0)
        row = {"epoch": entry["epoch"], "train_s": round(elapsed, 2), "loss": entry["loss"]}
        row.update(entry.get("eval", {}))
        curve.append(row)
    out = {"method": args.method, "dataset": args.dataset, "train_split": p.train_spec.name,
           "train_size": args.train_size, "train_seed": train_seed, "train_pairs": len(train), "seed": args.seed,
           "threads": args.threads, "overrides": dict(overrides), "hparams": hparams,
           "total_s": round(total, 2), "eval_s": round(clock["eval"], 2), "curve": curve}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, out)
    for row in curve:
        print(json.dumps(row))
    return 0


@contextlib.contextmanager
def _synth_env(name: str, value: str | None):
    if value is None:
        yield
        return
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _fit(method, model, train, hparams, run):
    """``method.fit`` returning the trainer's history (decoding the training images once)."""
    query_view, reference_view = hparams["views"]
    query = load_images(train.queries, tuple(hparams["image_size"][query_view]), progress=False)
    reference = load_images(train.references, tuple(hparams["image_size"][reference_view]), progress=False)
    return method.fit_arrays(model, train, query, reference, hparams, run)


if __name__ == "__main__":
    sys.exit(main())
