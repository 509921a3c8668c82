"""Two CPU processes (gloo) give the loss and gradients of one process on the same global batch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cvgl_bench.train.losses import InfoNCE, SoftMarginTriplet

from .train_helpers import TinyMethod, TinyPairModel, toy_images, toy_train_data, train_split_spec

WORLD = 2
BATCH = 8
LOSSES = {"infonce": lambda: InfoNCE(0.1), "triplet": lambda: SoftMarginTriplet(10.0)}
USES_SCALE = {"infonce": True, "triplet": False}  # DDP needs every parameter to receive a gradient


def _batch():
    g = torch.Generator().manual_seed(11)
    return torch.rand(BATCH, 3, 8, 32, generator=g), torch.rand(BATCH, 3, 8, 8, generator=g)


def _loss_and_grads(model, forward, loss_fn, q, r):
    model.zero_grad(set_to_none=True)
    qe, re = forward(q, r)
    loss = loss_fn(qe, re, model.logit_scale)  # None for the triplet model
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _join(rank: int, tmp: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)


def _loss_worker(rank: int, tmp: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    _join(rank, tmp)
    q, r = _batch()
    per = BATCH // WORLD
    q, r = q[rank * per:(rank + 1) * per], r[rank * per:(rank + 1) * per]
    out = {}
    for name, make in LOSSES.items():
        torch.manual_seed(0)
        model = TinyPairModel(logit_scale=USES_SCALE[name])
        out[name] = _loss_and_grads(model, DistributedDataParallel(model), make(), q, r)
    torch.save(out, f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def test_gathered_local_loss_equals_the_single_process_loss_and_gradients(tmp_path):
    mp.spawn(_loss_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    q, r = _batch()
    for name, make in LOSSES.items():
        torch.manual_seed(0)
        model = TinyPairModel(logit_scale=USES_SCALE[name])
        full_loss, full_grads = _loss_and_grads(model, model, make(), q, r)
        ranks = [torch.load(tmp_path / f"rank{k}.pt", weights_only=True)[name] for k in range(WORLD)]
        mean_loss = sum(loss for loss, _ in ranks) / WORLD
        assert mean_loss == pytest.approx(full_loss, rel=1e-5), name
        for rank_loss, grads in ranks:
            assert set(grads) == set(full_grads)
            for param, grad in grads.items():
                torch.testing.assert_close(grad, full_grads[param], rtol=1e-4, atol=1e-6,
                                           msg=f"{name}: gradient of {param} differs from one process")
        assert ("logit_scale" in full_grads) == (name == "infonce")


def _fit_worker(rank: int, tmp: str) -> None:
    from cvgl_bench.train.context import RunContext

    _join(rank, tmp)
    method, hp, train, q, r = _fit_setup()
    torch.manual_seed(0)
    model = method.build_model(hp)
    run = RunContext(seed=0, device="cpu", workdir=f"{tmp}/work", progress=False, log=lambda m: None,
                     world_size=WORLD, rank=rank)
    history = method.fit_arrays(model, train, q, r, hp, run)
    if rank == 0:
        torch.save({"model": model.state_dict(), "losses": [h["loss"] for h in history]}, f"{tmp}/fit.pt")
    dist.destroy_process_group()


def _fit_setup():
    method = TinyMethod()
    method.overrides = {"epochs": 2, "dss_every": 1, "eval_every": 0, "augment": {"rotate_p": 0.75}}
    hp = method.hparams("cpu", train_split_spec())
    train = toy_train_data(24)
    q = toy_images(24, hp["image_size"]["ground"], seed=1)
    r = toy_images(24, hp["image_size"]["satellite"], seed=2)
    return method, hp, train, q, r


@pytest.mark.slow
def test_two_process_training_matches_one_process(tmp_path):
    """The whole pipeline (sharded global batches, gathered loss, sharded similarity mining,
    per-sample augmentation seeds) trains the same model on 2 processes as on 1."""
    from cvgl_bench.train.context import RunContext

    mp.spawn(_fit_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    method, hp, train, q, r = _fit_setup()
    torch.manual_seed(0)
    model = method.build_model(hp)
    history = method.fit_arrays(model, train, q, r, hp, RunContext(seed=0, device="cpu", workdir=tmp_path / "one",
                                                                   progress=False, log=lambda m: None))
    two = torch.load(tmp_path / "fit.pt", weights_only=True)
    assert two["losses"] == pytest.approx([h["loss"] for h in history], rel=1e-4)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(two["model"][name], value, rtol=1e-3, atol=1e-5, msg=name)
