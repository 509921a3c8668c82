"""Losses against hand computations in float64 numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvgl_bench.train.losses import LOGIT_SCALE_INIT, InfoNCE, SoftMarginTriplet, info_nce, soft_margin_triplet


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _smoothed_ce(logits: np.ndarray, eps: float) -> float:
    """PyTorch semantics: target = (1 - eps) * onehot + eps / C over the C columns."""
    logp = logits - logits.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    n, c = logits.shape
    nll = -logp[np.arange(n), np.arange(n)]
    uniform = -logp.sum(axis=1) / c
    return float(np.mean((1 - eps) * nll + eps * uniform))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_info_nce_matches_hand_computation(eps):
    rng = np.random.default_rng(1)
    q, r = _unit(rng, 6, 5), _unit(rng, 6, 5)
    log_scale = 1.7
    s = math.exp(log_scale)
    expected = 0.5 * (_smoothed_ce(s * q @ r.T, eps) + _smoothed_ce(s * r @ q.T, eps))
    got = info_nce(torch.from_numpy(q), torch.from_numpy(r), torch.tensor(log_scale, dtype=torch.float64), eps)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_info_nce_label_smoothing_spreads_over_all_columns_including_the_target():
    # With identical logits everywhere, every class has p = 1/C, so the loss is log C for any eps.
    q = torch.zeros(4, 3)
    got = info_nce(q, q, torch.tensor(0.0), 0.1)
    assert float(got) == pytest.approx(math.log(4))


def test_info_nce_local_rows_against_gathered_columns_equal_the_full_loss():
    rng = np.random.default_rng(2)
    q, r = torch.from_numpy(_unit(rng, 8, 4)), torch.from_numpy(_unit(rng, 8, 4))
    scale = torch.tensor(2.0, dtype=torch.float64)
    full = info_nce(q, r, scale, 0.1)
    halves = [info_nce(q[i:i + 4], r[i:i + 4], scale, 0.1, query_all=q, reference_all=r, offset=i) for i in (0, 4)]
    assert float(sum(halves) / 2) == pytest.approx(float(full), rel=1e-12)


def test_info_nce_module_uses_the_log_scale_and_needs_it():
    rng = np.random.default_rng(3)
    q, r = torch.from_numpy(_unit(rng, 5, 4)).float(), torch.from_numpy(_unit(rng, 5, 4)).float()
    scale = torch.tensor(LOGIT_SCALE_INIT)
    assert float(InfoNCE(0.1)(q, r, scale)) == pytest.approx(float(info_nce(q, r, scale, 0.1)), rel=1e-6)
    with pytest.raises(ValueError, match="logit_scale"):
        InfoNCE(0.1)(q, r, None)


def test_logit_scale_init_is_clip_temperature():
    assert math.exp(LOGIT_SCALE_INIT) == pytest.approx(1 / 0.07)


def test_info_nce_gradient_reaches_the_logit_scale():
    rng = np.random.default_rng(4)
    q, r = torch.from_numpy(_unit(rng, 5, 4)), torch.from_numpy(_unit(rng, 5, 4))
    scale = torch.tensor(LOGIT_SCALE_INIT, dtype=torch.float64, requires_grad=True)
    info_nce(q, r, scale, 0.1).backward()
    assert scale.grad is not None and scale.grad != 0


def _safa_hand(q: np.ndarray, r: np.ndarray, weight: float) -> float:
    n = len(q)
    total_g2s = total_s2g = 0.0
    for i in range(n):
        pos = 2 - 2 * q[i] @ r[i]
        for j in range(n):
            total_g2s += math.log1p(math.exp(weight * (pos - (2 - 2 * q[i] @ r[j]))))
            total_s2g += math.log1p(math.exp(weight * (pos - (2 - 2 * r[i] @ q[j]))))
    pairs = n * (n - 1)
    return 0.5 * (total_g2s / pairs + total_s2g / pairs)


def test_soft_margin_triplet_matches_safa_formula():
    rng = np.random.default_rng(5)
    q, r = _unit(rng, 5, 3), _unit(rng, 5, 3)
    got = soft_margin_triplet(torch.from_numpy(q), torch.from_numpy(r), 10.0)
    assert float(got) == pytest.approx(_safa_hand(q, r, 10.0), rel=1e-9)
    module = SoftMarginTriplet(10.0)(torch.from_numpy(q), torch.from_numpy(r), None)
    assert float(module) == pytest.approx(float(got), rel=1e-6)


def test_soft_margin_triplet_of_perfect_matches_is_small_and_of_swapped_is_large():
    eye = torch.eye(4, dtype=torch.float64)
    good = soft_margin_triplet(eye, eye)
    bad = soft_margin_triplet(eye, eye.roll(1, dims=0))
    # perfect: each off-diagonal term is log(1 + e^-20), the diagonal adds log 2 / (B - 1)
    assert float(good) == pytest.approx(math.log(2) / 3 + math.log1p(math.exp(-20)), rel=1e-9)
    assert float(bad) > 5


def test_soft_margin_triplet_local_rows_equal_the_full_loss():
    rng = np.random.default_rng(6)
    q, r = torch.from_numpy(_unit(rng, 6, 3)), torch.from_numpy(_unit(rng, 6, 3))
    full = soft_margin_triplet(q, r)
    parts = [soft_margin_triplet(q[i:i + 3], r[i:i + 3], query_all=q, reference_all=r) for i in (0, 3)]
    assert float(sum(parts) / 2) == pytest.approx(float(full), rel=1e-12)


def test_info_nce_equals_pytorch_cross_entropy_directly():
    torch.manual_seed(0)
    q, r = F.normalize(torch.randn(7, 6), dim=1), F.normalize(torch.randn(7, 6), dim=1)
    s = torch.tensor(2.5)
    y = torch.arange(7)
    expected = (F.cross_entropy(s.exp() * q @ r.T, y, label_smoothing=0.1)
                + F.cross_entropy(s.exp() * r @ q.T, y, label_smoothing=0.1)) / 2
    assert torch.allclose(info_nce(q, r, s, 0.1), expected)
