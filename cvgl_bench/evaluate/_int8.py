"""Int8 quantisation for the screening pass, with the residual norms its error bound needs.

References share one scale ``b`` (so a comparison against a per-query threshold is an integer
comparison on the raw int32 products); each query row has its own scale ``a_i``. With
``q = a_i Q8 + dq`` and ``r = b R8 + dr`` (``dq``, ``dr`` the residuals), the int32 product
``S = Q8 . R8`` is exact and, as ``q_hat = q - dq`` has ``||q_hat|| <= ||q|| + ||dq||``,

    |q.r - a_i b S| = |q_hat.dr + dq.r| <= (||q|| + ||dq||) max||dr|| + ||dq|| max||r||

for every reference: a rigorous bound ``E_i`` per query (Cauchy-Schwarz). Residual norms are
computed in float32 and then rounded up by the worst case of that arithmetic, so they are
upper bounds of the exact residual norms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ._exact import U32, gamma

LEVELS = 127
MAX_DIM = 100_000
"""Above this, 127 * 127 * D could overflow the int32 accumulator."""


@dataclass
class QuantisedRows:
    values: torch.Tensor       # int8 (rows, D8): D rounded up to a multiple of 8, zero padding
    scale: np.ndarray          # float64 (n,) per-row scale (one shared value for references)
    norm_residual: np.ndarray  # float64 (n,) upper bound of ||row - scale * values||


def quantise(x: torch.Tensor, shared_scale: bool, block: int = 4096, rows: int | None = None) -> QuantisedRows:
    """Round rows of a float32 CPU tensor to int8 (per-row scale, or one scale for all rows).

    ``rows`` (at least ``len(x)``) pads ``values`` with zero rows, e.g. to whole score blocks.
    """
    n, dim = x.shape
    # Zero columns up to a multiple of 8 leave every product unchanged; they keep the int8
    # kernels on their well-trodden path (torch 2.14 returns garbage for an inner size of 1).
    values = torch.zeros(max(n, rows or 0), -(-dim // 8) * 8, dtype=torch.int8)
    if shared_scale:
        peak = max((_peaks(x[s:s + block]).max().item() for s in range(0, n, block)), default=0.0)
        scales = np.full(n, _scale_of(peak), dtype=np.float64)
    else:
        scales = np.empty(n, dtype=np.float64)
    residual = np.empty(n, dtype=np.float64)
    work = torch.empty(min(block, n), dim)
    for start in range(0, n, block):
        part = x[start:start + block]
        stop = start + len(part)
        if not shared_scale:
            scales[start:stop] = [_scale_of(p) for p in _peaks(part).tolist()]
        scale = torch.from_numpy(scales[start:stop].astype(np.float32)).view(-1, 1)
        q = work[:len(part)]
        torch.div(part, scale, out=q).round_().clamp_(-LEVELS, LEVELS)
        values[start:stop, :dim] = q
        torch.addcmul(part, q, scale, value=-1, out=q)  # float32 residual of part - scale * q
        residual[start:stop] = torch.linalg.vector_norm(q, dim=1).to(torch.float64).numpy()
    # Exact residual d vs the float32 one (one or two roundings): |d_k - r_k/(1+t)| <= u |scale q_k|,
    # a float32 norm is within gamma_{D+2} of its value (plus underflow of the squares), and
    # ||scale q|| <= ||x|| + ||d||.
    norms = torch.linalg.vector_norm(x, dim=1).to(torch.float64).numpy() if n else np.zeros(0)
    slack = 1 - gamma(dim + 2, U32)
    underflow = 2 * np.sqrt(dim * 2.0 ** -149)
    first = (residual + underflow) / ((1 - U32) * slack) + U32 * (norms + underflow) / slack
    return QuantisedRows(values, scales, (first / (1 - U32)) * (1 + 1e-12))


def _peaks(part: torch.Tensor) -> torch.Tensor:
    if part.shape[1] == 0:
        return torch.zeros(len(part))
    low, high = torch.aminmax(part, dim=1)
    return torch.maximum(high, low.neg())


def _scale_of(peak: float) -> float:
    """A float32-representable scale mapping ``peak`` to 127 (1 for an all-zero row)."""
    if not np.isfinite(peak) or peak <= 0:
        return 1.0
    scale = float(np.float32(peak / LEVELS))
    return scale if scale > 0 else 1.0


@functools.lru_cache(maxsize=1)
def int8_matmul_available() -> bool:
    """Whether ``torch._int_mm`` runs, and runs correctly, on this CPU."""
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randint(-127, 128, (17, 24), dtype=torch.int8, generator=gen)
        b = torch.randint(-127, 128, (33, 24), dtype=torch.int8, generator=gen)
        return bool(torch.equal(torch._int_mm(a, b.t()).long(), a.long() @ b.long().t()))
    except Exception:  # noqa: BLE001 - any failure means: use the fp32 path
        return False
