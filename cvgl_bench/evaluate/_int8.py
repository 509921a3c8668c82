"""Int8 quantisation for the screening pass, with the residual norms its error bound needs.

References share one scale ``b`` (so a comparison against a per-query threshold is an integer
comparison on the raw int32 products); each query row has its own scale ``a_i``. With
``q = a_i Q8 + dq`` and ``r = b R8 + dr`` (``dq``, ``dr`` the residuals, measured exactly in
float64), the int32 product ``S = Q8 . R8`` is exact and

    |q.r - a_i b S| = |q_hat.dr + dq.r| <= ||q_hat|| max||dr|| + ||dq|| max||r||

for every reference: a rigorous bound ``E_i`` per query (Cauchy-Schwarz).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

LEVELS = 127
MAX_DIM = 100_000
"""Above this, 127 * 127 * D could overflow the int32 accumulator."""


@dataclass
class QuantisedRows:
    values: torch.Tensor      # int8 (n, D)
    scale: np.ndarray         # float64 (n,) per-row scale (a shared value for references)
    norm_hat: np.ndarray      # float64 (n,) ||scale * values||
    norm_residual: np.ndarray  # float64 (n,) ||row - scale * values||


def quantise(x: torch.Tensor, shared_scale: bool, block: int = 4096) -> QuantisedRows:
    """Round rows of a float32 CPU tensor to int8 (per-row scale, or one scale for all rows)."""
    n, dim = x.shape
    # Zero columns up to a multiple of 8 leave every product unchanged; they keep the int8
    # kernels on their well-trodden path (torch 2.14 returns garbage for an inner size of 1).
    values = torch.zeros(n, -(-dim // 8) * 8, dtype=torch.int8)
    if shared_scale:
        peak = max((float(x[s:s + block].abs().max()) for s in range(0, n, block)), default=0.0)
        scales = np.full(n, _scale_of(peak), dtype=np.float64)
    else:
        scales = np.empty(n, dtype=np.float64)
    norm_hat = np.empty(n, dtype=np.float64)
    norm_res = np.empty(n, dtype=np.float64)
    for start in range(0, n, block):
        part = x[start:start + block]
        stop = start + len(part)
        if not shared_scale:
            peaks = part.abs().amax(dim=1).to(torch.float64).numpy() if part.shape[1] else np.zeros(len(part))
            scales[start:stop] = [_scale_of(p) for p in peaks]
        scale = torch.from_numpy(scales[start:stop]).view(-1, 1)
        q = torch.round(part.to(torch.float64) / scale).clamp_(-LEVELS, LEVELS)
        values[start:stop, :dim] = q.to(torch.int8)
        hat = q * scale  # exact: a float32 scale times an integer below 128
        norm_hat[start:stop] = torch.linalg.vector_norm(hat, dim=1).numpy()
        norm_res[start:stop] = torch.linalg.vector_norm(part.to(torch.float64) - hat, dim=1).numpy()
    # Norms are float64 results: round them up by a relative margin far above their error.
    return QuantisedRows(values, scales, norm_hat * (1 + 1e-12), norm_res * (1 + 1e-12))


def _scale_of(peak: float) -> float:
    """A float32-representable scale mapping ``peak`` to 127 (1 for an all-zero row)."""
    if not np.isfinite(peak) or peak <= 0:
        return 1.0
    return float(np.float32(peak / LEVELS))


@functools.lru_cache(maxsize=1)
def int8_matmul_available() -> bool:
    """Whether ``torch._int_mm`` runs on this CPU (it needs a recent torch)."""
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randint(-127, 128, (17, 24), dtype=torch.int8, generator=gen)
        b = torch.randint(-127, 128, (33, 24), dtype=torch.int8, generator=gen)
        return bool(torch.equal(torch._int_mm(a, b.t()).long(), a.long() @ b.long().t()))
    except Exception:  # noqa: BLE001 - any failure means: use the fp32 path
        return False
