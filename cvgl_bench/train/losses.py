"""Contrastive losses over a batch of (query, reference) embedding pairs.

Row ``i`` of the query embeddings and row ``i`` of the reference embeddings are a positive pair;
every other row of the batch is a negative, so a batch must hold each location once (the
samplers guarantee it).

Both losses are written as a *local* loss: this process's rows against the columns of the
whole (gathered) global batch. On one process local = global and the formulas are the usual
ones; on several, DDP's gradient average makes the result identical to the single-process
loss on the global batch (see :mod:`cvgl_bench.distributed`).

A loss is called as ``loss(query, reference, logit_scale)`` where ``logit_scale`` is the
model's learnable *log* scale (or ``None`` for losses without one).
"""

from __future__ import annotations

__all__ = ["LOGIT_SCALE_INIT", "InfoNCE", "SoftMarginTriplet", "info_nce", "soft_margin_triplet"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed

#: CLIP's initial temperature 0.07, stored as the log of the logit scale (about 2.659).
LOGIT_SCALE_INIT = math.log(1 / 0.07)


def _global_columns(query: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The gathered (with gradient) query and reference embeddings and this rank's row offset."""
    if not distributed.is_distributed():
        return query, reference, 0
    return (distributed.all_gather_with_grad(query), distributed.all_gather_with_grad(reference),
            distributed.rank() * query.shape[0])


def info_nce(query: torch.Tensor, reference: torch.Tensor, logit_scale: torch.Tensor,
             label_smoothing: float = 0.0, *, query_all: torch.Tensor | None = None,
             reference_all: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
    """Symmetric InfoNCE (Sample4Geo, CLIP) of L2-normalised embeddings.

    ``loss = (CE(s * Q Rᵀ, y) + CE(s * R Qᵀ, y)) / 2`` with ``s = exp(logit_scale)``, targets
    ``y`` on the diagonal, and PyTorch's label smoothing: the target distribution of a row is
    ``(1 - ε) · onehot + ε / C`` over its ``C`` columns (the global batch size).

    ``query_all``/``reference_all`` are the global batch (default: the local rows themselves);
    the local rows are rows ``offset ... offset + B_local`` of it.
    """
    query_all = query if query_all is None else query_all
    reference_all = reference if reference_all is None else reference_all
    scale = logit_scale.exp()
    target = torch.arange(offset, offset + query.shape[0], device=query.device)
    logits_q = scale * query @ reference_all.T
    logits_r = scale * reference @ query_all.T
    return 0.5 * (F.cross_entropy(logits_q, target, label_smoothing=label_smoothing)
                  + F.cross_entropy(logits_r, target, label_smoothing=label_smoothing))


def soft_margin_triplet(query: torch.Tensor, reference: torch.Tensor, weight: float = 10.0, *,
                        query_all: torch.Tensor | None = None,
                        reference_all: torch.Tensor | None = None) -> torch.Tensor:
    """SAFA's weighted soft-margin triplet loss of L2-normalised embeddings.

    With squared distances ``d(a, b) = 2 - 2 <a, b>`` and ``B`` pairs::

        q→r: Σ_i Σ_j log(1 + exp(weight · (d(q_i, r_i) - d(q_i, r_j)))) / (B (B - 1))
        r→q: Σ_i Σ_j log(1 + exp(weight · (d(q_i, r_i) - d(r_i, q_j)))) / (B (B - 1))
        loss = (q→r + r→q) / 2

    exactly as SAFA's TensorFlow code: the sum includes ``j = i`` (each adds ``log 2``, a
    constant without gradient) and divides by the number of ordered negative pairs.
    Distributed: the local rows' share, ``Σ_local / (B_local (B - 1))``, which DDP's average
    turns into the global value.
    """
    query_all = query if query_all is None else query_all
    reference_all = reference if reference_all is None else reference_all
    n_global = query_all.shape[0]
    positive = 2 - 2 * (query * reference).sum(dim=1, keepdim=True)
    q_to_r = F.softplus(weight * (positive - (2 - 2 * query @ reference_all.T)))
    r_to_q = F.softplus(weight * (positive - (2 - 2 * reference @ query_all.T)))
    pairs = query.shape[0] * (n_global - 1)
    return 0.5 * (q_to_r.sum() + r_to_q.sum()) / pairs


class InfoNCE(nn.Module):
    """Symmetric InfoNCE with label smoothing; gathers the global batch when distributed.

    The inputs are cast to float32, but the trainer calls the loss inside its autocast, so with
    ``amp`` the similarity products run in float16 (CUDA) or bfloat16, as in Sample4Geo's loop
    (its loss is computed under autocast too); the logit scale is not clamped, as there."""

    def __init__(self, label_smoothing: float = 0.1):
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, query: torch.Tensor, reference: torch.Tensor,
                logit_scale: torch.Tensor | None) -> torch.Tensor:
        if logit_scale is None:
            raise ValueError("InfoNCE needs the model's logit_scale parameter")
        query_all, reference_all, offset = _global_columns(query, reference)
        return info_nce(query.float(), reference.float(), logit_scale.float(), self.label_smoothing,
                        query_all=query_all.float(), reference_all=reference_all.float(), offset=offset)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class SoftMarginTriplet(nn.Module):
    """SAFA's weighted soft-margin triplet loss; gathers the global batch when distributed.

    The logit scale argument is accepted and ignored, so models with and without one fit.
    """

    def __init__(self, weight: float = 10.0):
        super().__init__()
        self.weight = float(weight)

    def forward(self, query: torch.Tensor, reference: torch.Tensor,
                logit_scale: torch.Tensor | None = None) -> torch.Tensor:
        query_all, reference_all, _ = _global_columns(query, reference)
        return soft_margin_triplet(query.float(), reference.float(), self.weight, query_all=query_all.float(),
                                   reference_all=reference_all.float())

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
