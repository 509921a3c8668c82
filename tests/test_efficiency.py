"""measure() and images_per_s() on tiny models whose FLOPs and parameters are counted by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.evaluate.efficiency import images_per_s, measure, parameters_used, queries_per_s


class TwoBranch(nn.Module):
    """Query: 3x3 conv 3->8; reference: 1x1 conv 3->8; both: global mean, shared linear 8->5."""

    def __init__(self, declared_dim: int | None = 5):
        super().__init__()
        self.conv_q = nn.Conv2d(3, 8, 3, padding=1)
        self.conv_r = nn.Conv2d(3, 8, 1)
        self.fc = nn.Linear(8, 5)
        if declared_dim is not None:
            self.embedding_dim = declared_dim

    def encode(self, images, view):
        conv = self.conv_q if view == "ground" else self.conv_r
        return F.normalize(self.fc(conv(images).mean(dim=(2, 3))), dim=-1)


SIZES = {"ground": (10, 12), "satellite": (6, 6)}


def test_measure_counts_flops_of_the_executed_branch_only():
    model = TwoBranch()
    out = measure(model, SIZES, "ground", "satellite")
    linear = 2 * 8 * 5  # addmm: a multiply-add counts 2, bias not counted
    conv_q = 2 * 8 * 3 * 3 * 3 * 10 * 12
    conv_r = 2 * 8 * 3 * 1 * 1 * 6 * 6
    assert out["gflops_query"] == pytest.approx((conv_q + linear) / 1e9, rel=0, abs=1e-15)
    assert out["gflops_reference"] == pytest.approx((conv_r + linear) / 1e9, rel=0, abs=1e-15)
    assert out["params"] == (8 * 27 + 8) + (8 * 3 + 8) + (8 * 5 + 5)
    assert out["params_query"] == (8 * 27 + 8) + (8 * 5 + 5)
    assert out["params_reference"] == (8 * 3 + 8) + (8 * 5 + 5)
    assert out["embedding_dim"] == 5
    assert parameters_used(model, SIZES["satellite"], "satellite") == out["params_reference"]


def test_measure_leaves_mode_and_requires_grad_as_they_were():
    model = TwoBranch()
    model.train()
    model.conv_q.weight.requires_grad_(False)
    measure(model, SIZES, "ground", "satellite")
    assert model.training
    assert not model.conv_q.weight.requires_grad and model.conv_r.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())


def test_frozen_parameters_still_count_as_used():
    model = TwoBranch()
    for p in model.parameters():
        p.requires_grad_(False)
    assert measure(model, SIZES, "ground", "satellite")["params_query"] == (8 * 27 + 8) + (8 * 5 + 5)


def test_measure_leaves_the_global_rng_alone():
    model = TwoBranch()
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    measure(model, SIZES, "ground", "satellite")
    assert torch.equal(torch.rand(3), expected)


def test_measure_rejects_a_wrong_declared_dim_and_a_missing_view():
    from cvgl_bench.errors import PluginError

    with pytest.raises(PluginError, match="embedding_dim is 7 but encode returns 5 dims; the method's model breaks"):
        measure(TwoBranch(declared_dim=7), SIZES, "ground", "satellite")
    with pytest.raises(ValueError, match="no entry for view 'drone'"):
        measure(TwoBranch(), SIZES, "drone", "satellite")
    assert measure(TwoBranch(declared_dim=None), SIZES, "ground", "satellite")["embedding_dim"] == 5


def test_images_per_s_times_inference_and_training_and_cleans_up():
    model = TwoBranch()
    model.eval()
    threads = torch.get_num_threads()
    result = images_per_s(model, SIZES["ground"], "ground", batch_size=4, repeats=3, num_threads=1)
    assert result["median"] > 0 and len(result["runs"]) == 3 and result["threads"] == 1 and not result["backward"]
    trained = images_per_s(model, SIZES["ground"], "ground", batch_size=4, repeats=2, backward=True)
    assert trained["backward"] and len(trained["runs"]) == 2
    assert not model.training and torch.get_num_threads() == threads
    assert all(p.grad is None for p in model.parameters())
    assert queries_per_s(model, SIZES, "ground", batch_size=2, repeats=1) > 0
    with pytest.raises(ValueError):
        images_per_s(model, SIZES["ground"], "ground", repeats=0)
