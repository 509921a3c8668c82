"""The trainer: schedule, kill-and-resume bit identity on CPU, NaN stop, checkpoints, evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cvgl_bench.errors import ConfigError, UserError
from cvgl_bench.train.context import RunContext
from cvgl_bench.train import precision
from cvgl_bench.train.losses import InfoNCE
from cvgl_bench.train.trainer import CHECKPOINT_NAME, NonFiniteLossError, warmup_cosine

from .train_helpers import TinyMethod, toy_images, toy_train_data, train_split_spec

N_LOCATIONS = 24  # batch 8 -> 3 steps per epoch


class Killed(Exception):
    pass


def _setup(**overrides):
    method = TinyMethod()
    method.overrides = overrides
    hp = method.hparams("cpu", train_split_spec())
    train = toy_train_data(N_LOCATIONS)
    q = toy_images(N_LOCATIONS, hp["image_size"]["ground"], seed=1)
    r = toy_images(N_LOCATIONS, hp["image_size"]["satellite"], seed=2)
    return method, hp, train, q, r


def _model(method, hp, seed=0):
    torch.manual_seed(seed)
    return method.build_model(hp)


def _run(tmp_path, *, resume=False, on_step=None, evaluate=None, seed=0, model_seed=0, **overrides):
    method, hp, train, q, r = _setup(**overrides)
    model = _model(method, hp, model_seed)
    run = RunContext(seed=seed, device="cpu", workdir=tmp_path, resume=resume, progress=False,
                     log=lambda m: None, on_step=on_step, evaluate=evaluate)
    history = method.fit_arrays(model, train, q, r, hp, run)
    return model, history


def _kill_at(step):
    def on_step(epoch, global_step):
        if global_step == step:
            raise Killed(f"killed at step {step}")
    return on_step


def test_warmup_cosine_values():
    assert warmup_cosine(0, 10, 110) == 0.0
    assert warmup_cosine(5, 10, 110) == 0.5
    assert warmup_cosine(10, 10, 110) == 1.0
    assert warmup_cosine(60, 10, 110) == pytest.approx(0.5)
    assert warmup_cosine(110, 10, 110) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(200, 10, 110) == 0.0
    # fractional warm-up (University-1652: 0.1 epoch) as transformers computes it
    assert warmup_cosine(1, 2.5, 10) == pytest.approx(1 / 2.5)
    assert warmup_cosine(3, 2.5, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5 / 7.5)))
    assert warmup_cosine(0, 0, 10) == 1.0


def test_learning_rate_is_stepped_per_iteration_from_zero(tmp_path, monkeypatch):
    from cvgl_bench.train.trainer import Trainer

    used = []
    original = Trainer.train_step

    def spy(self, *args, **kwargs):
        used.append(self.current_lr())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", spy)
    _, history = _run(tmp_path, epochs=2, warmup_epochs=1.0, dss_every=0, eval_every=0)
    steps = 3  # ceil(24 / 8)
    expected = [1e-3 * warmup_cosine(s, steps, 2 * steps) for s in range(2 * steps)]
    assert used == pytest.approx(expected)
    assert used[0] == 0.0, "Sample4Geo's schedule runs its first step at rate 0"
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_killed_and_resumed_run_is_bit_identical(tmp_path):
    straight, straight_history = _run(tmp_path / "straight")
    with pytest.raises(Killed):
        _run(tmp_path / "killed", on_step=_kill_at(5))  # epoch 2, second batch
    ckpt = torch.load(tmp_path / "killed" / CHECKPOINT_NAME, weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["sampler"]["neighbour_source"] == "dss"
    # A different initialisation proves that the checkpoint, not the init, carries the state.
    resumed, resumed_history = _run(tmp_path / "killed", resume=True, model_seed=123)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in resumed_history] == [h["loss"] for h in straight_history]


def test_kill_before_the_first_checkpoint_restarts_cleanly(tmp_path):
    straight, _ = _run(tmp_path / "straight", dss_every=0)
    with pytest.raises(Killed):
        _run(tmp_path / "killed", on_step=_kill_at(2), dss_every=0)
    assert not (tmp_path / "killed" / CHECKPOINT_NAME).exists()
    resumed, _ = _run(tmp_path / "killed", resume=True, dss_every=0)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_resuming_a_finished_run_trains_nothing(tmp_path):
    first, _ = _run(tmp_path, dss_every=0)
    steps = []
    again, history = _run(tmp_path, resume=True, model_seed=9, dss_every=0, on_step=lambda e, s: steps.append(s))
    assert steps == [] and len(history) == 2
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_resume_with_other_hparams_is_refused(tmp_path):
    _run(tmp_path, dss_every=0)
    with pytest.raises(ConfigError, match="other hyper-parameters"):
        _run(tmp_path, resume=True, dss_every=0, lr=1e-2)


def test_checkpoint_loads_with_weights_only_and_holds_every_state(tmp_path):
    _run(tmp_path, dss_every=0)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "sampler", "rng", "epoch", "global_step"} <= set(state)
    assert state["epoch"] == 2 and state["global_step"] == 6
    assert (tmp_path / "history.json").exists()


class _NanAtCall(InfoNCE):
    def __init__(self, at):
        super().__init__(0.1)
        self.calls, self.at = 0, at

    def forward(self, q, r, scale):
        self.calls += 1
        loss = super().forward(q, r, scale)
        return loss * float("nan") if self.calls == self.at else loss


def test_nan_loss_stops_at_once_naming_the_step(tmp_path):
    method, hp, train, q, r = _setup(dss_every=0)
    loss = _NanAtCall(at=5)
    method.build_loss = lambda hparams: loss  # type: ignore[method-assign]
    steps = []
    run = RunContext(seed=0, device="cpu", workdir=tmp_path, progress=False, log=lambda m: None,
                     on_step=lambda e, s: steps.append(s))
    with pytest.raises(NonFiniteLossError) as info:
        method.fit_arrays(_model(method, hp), train, q, r, hp, run)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert "nan at step 5 (epoch 2, batch 2 of 3)" in message
    assert "last checkpoint" in message and "\n" not in message
    assert "lower lr" in message  # updates were made and the embeddings are finite
    assert steps == [1, 2, 3, 4] and loss.calls == 5


def test_a_nan_loss_at_the_first_step_does_not_blame_the_learning_rate(tmp_path):
    method, hp, train, q, r = _setup(dss_every=0)
    method.build_loss = lambda hparams: _NanAtCall(at=1)  # type: ignore[method-assign]
    run = RunContext(seed=0, device="cpu", workdir=tmp_path, progress=False, log=lambda m: None)
    with pytest.raises(NonFiniteLossError, match="at step 1 .*no update has been made yet, so the loss or the "
                                                 "model's logit scale is the cause, not the lr"):
        method.fit_arrays(_model(method, hp), train, q, r, hp, run)


def test_evaluation_is_logged_every_k_epochs_and_never_selects(tmp_path):
    calls = []

    def evaluate(model):
        calls.append(model.training)
        return {"recall@1": 100.0 - 10 * len(calls)}  # gets worse: a selector would keep epoch 1

    model, history = _run(tmp_path, evaluate=evaluate, epochs=3, eval_every=2, dss_every=0)
    assert calls == [False, False]                      # epochs 2 and 3 (the last), in eval mode
    assert [("eval" in h) for h in history] == [False, True, True]
    assert model.training
    final = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["model"]
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())


def test_grad_clipping_by_norm_and_value_runs(tmp_path):
    _, history = _run(tmp_path, grad_clip_value=0.01, grad_clip_norm=0.5, dss_every=0, epochs=1)
    assert np.isfinite(history[0]["loss"])


def test_bf16_amp_trains_under_bfloat16_autocast_on_the_cpu_and_reproduces(tmp_path, monkeypatch):
    from tests.train_helpers import TinyPairModel

    dtypes = []
    original = TinyPairModel.encode

    def spy(self, images, view):
        out = original(self, images, view)
        if self.training:
            dtypes.append(self.conv2(torch.zeros(1, self.conv1.out_channels, 2, 2)).dtype)
        return out

    monkeypatch.setattr(TinyPairModel, "encode", spy)
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: True)  # whatever CPU runs the tests
    bf16, history = _run(tmp_path / "a", amp="bf16", dss_every=1)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(np.isfinite(h["loss"]) for h in history)
    again, _ = _run(tmp_path / "b", amp="bf16", dss_every=1)
    assert all(torch.equal(a, b) for a, b in zip(bf16.state_dict().values(), again.state_dict().values()))
    dtypes.clear()
    fp32, _ = _run(tmp_path / "c", amp=False, dss_every=1)
    assert set(dtypes) == {torch.float32}
    assert not all(torch.equal(a, b) for a, b in zip(bf16.state_dict().values(), fp32.state_dict().values()))
    # the weights and the optimiser stay float32: autocast casts inside the forward pass only
    assert all(p.dtype == torch.float32 for p in bf16.parameters())


def test_bf16_on_a_cpu_without_native_bfloat16_trains_float32_says_so_and_notes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    method, hp, train, q, r = _setup(amp="bf16", dss_every=1)
    lines = []
    run = RunContext(seed=0, device="cpu", workdir=tmp_path / "a", progress=False, log=lines.append)
    model = _model(method, hp)
    method.fit_arrays(model, train, q, r, hp, run)
    said = [line for line in lines if "native bfloat16" in line]
    assert len(said) == 1 and "training in float32" in said[0] and "\n" not in said[0]
    assert run.notes["train_precision"] == "float32"
    fp32, _ = _run(tmp_path / "b", amp=False, dss_every=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fp32.state_dict().values()))


def test_a_training_resumes_only_in_the_precision_it_started_in(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: True)
    with pytest.raises(Killed):
        _run(tmp_path, amp="bf16", dss_every=0, on_step=_kill_at(5))
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["precision"] == "bfloat16"
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    with pytest.raises(ConfigError, match="was trained in bfloat16, and this run trains in float32 .*--restart"):
        _run(tmp_path, amp="bf16", dss_every=0, resume=True)
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: True)
    _, history = _run(tmp_path, amp="bf16", dss_every=0, resume=True)
    assert len(history) == 2


@pytest.mark.parametrize("amp, device, native, expected", [
    (True, "cuda", None, "float16"), (True, "cpu", True, "float32"), (False, "cuda", None, "float32"),
    ("bf16", "cuda", False, "bfloat16"), ("bf16", "cpu", True, "bfloat16"), ("bf16", "cpu", False, "float32"),
    ("bf16", "cpu", None, "bfloat16"),  # unknown: the recipe's word stands
])
def test_training_precision_by_setting_device_and_cpu(amp, device, native, expected, monkeypatch):
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: native)
    assert precision.training_precision(amp, device) == expected


@pytest.mark.parametrize("flags, expected", [
    ({"avx512_bf16": True, "amx_bf16": False}, True), ({"amx_bf16": True}, True), ({"bf16": True}, True),
    ({"avx512_bf16": False, "avx2": True, "avx512_f": True}, False), ({}, False),
])
def test_native_bf16_is_read_from_torch_cpu_capabilities(flags, expected, monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags, raising=False)
    assert precision.native_cpu_bf16() is expected
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert precision.native_cpu_bf16() is None


def test_fp16_amp_is_cuda_only_and_float32_on_the_cpu(tmp_path):
    on, _ = _run(tmp_path / "a", amp=True, dss_every=0)
    off, _ = _run(tmp_path / "b", amp=False, dss_every=0)
    assert all(torch.equal(a, b) for a, b in zip(on.state_dict().values(), off.state_dict().values()))


@pytest.mark.parametrize("value", ["fp16", "yes", 1, None, "bf17", "BF16", " bf16"])
def test_an_unknown_amp_setting_is_refused_before_training(value):
    method = TinyMethod()
    method.overrides = {"amp": value}
    with pytest.raises(ConfigError, match="amp must be true .*, false .* or bf16"):
        method.hparams("cpu", train_split_spec())


def test_only_fp16_amp_embeds_under_autocast():
    from cvgl_bench.evaluate.extract import embeds_in_fp16

    assert embeds_in_fp16({"amp": True})
    assert not embeds_in_fp16({"amp": "bf16"}) and not embeds_in_fp16({"amp": False}) and not embeds_in_fp16({})
