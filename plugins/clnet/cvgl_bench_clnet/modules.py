"""CLNet's three modules as standalone torch modules: NCM, NEC, GFR.

**Unofficial re-implementation from the abstract** of arXiv 2512.14560 (CLNet, Cao et al.
2025): the paper's method section is not public. The shapes below are this plugin's design;
every choice is a guess (this plugin's README lists them under "Guesses" and gives the reasons
under "Why this design"). Each module starts as an exact identity (zero-initialised), so a freshly
built CLNet embeds exactly like its backbone, and none looks at the other view's image:
gallery embeddings stay independent of the query.

* :class:`NCMGate` -- Neural Correspondence Map as a learnable per-view map ``M`` applied as
  residual gating ``F * (1 + tanh(M))``; ``M`` is ``1 x H x W`` ("spatial") or ``C x H x W``
  ("full").
* :class:`NCMWarp` -- Neural Correspondence Map as a learnable, input-independent sampling grid
  that resamples the reference feature map into the query's layout ("warp"), initialised to a
  polar transform (aerial -> panorama) or to the identity.
* :class:`NEC` -- Nonlinear Embedding Converter: residual MLP on the pooled embedding.
* :class:`GFR` -- Global Feature Recalibration: SE-style channel gating whose squeeze is a
  spatially weighted average, the weights being a learned cue (softmax over positions of a
  1x1 conv) or the NCM map of the last stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_bench.data.polar import polar_grid

NCM_VARIANTS = ("off", "spatial", "full", "warp")
"""``off``: no NCM; ``spatial``: 1xHxW gating map; ``full``: CxHxW gating map; ``warp``: sampling grid."""

GFR_CUES = ("conv", "ncm")
"""``conv``: learned 1x1-conv cue, softmax over positions; ``ncm``: the view's last-stage NCM map."""


class NCMGate(nn.Module):
    """Residual gating ``F * (1 + tanh(M))`` with a learnable, zero-initialised map ``M``.

    ``M`` has shape ``(1, C, H, W)`` (``per_channel=True``) or ``(1, 1, H, W)``; the feature map
    it gates must have exactly that grid. The gain ``1 + tanh(M)`` lies in ``(0, 2)`` and is 1
    at initialisation, so the module starts as an exact identity.
    """

    def __init__(self, channels: int, grid: Sequence[int], per_channel: bool = True):
        super().__init__()
        height, width = (int(v) for v in grid)
        self.channels, self.grid, self.per_channel = int(channels), (height, width), bool(per_channel)
        self.map = nn.Parameter(torch.zeros(1, self.channels if per_channel else 1, height, width))

    def gain(self) -> torch.Tensor:
        """The multiplicative gain ``1 + tanh(M)``, shape ``(C or 1, H, W)``."""
        return 1.0 + torch.tanh(self.map[0])

    def spatial_weights(self) -> torch.Tensor:
        """The gain averaged over channels and normalised to sum 1 over positions: ``(H, W)``."""
        gain = self.gain().mean(dim=0)
        return gain / gain.sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.grid or x.shape[1] != self.channels:
            raise ValueError(
                f"NCM map is {self.channels}x{self.grid[0]}x{self.grid[1]} but the feature map is "
                f"{tuple(x.shape[1:])}; the model was built for another input size"
            )
        return x * (1.0 + torch.tanh(self.map))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, grid={self.grid}, per_channel={self.per_channel}"


def identity_grid(out_grid: Sequence[int]) -> torch.Tensor:
    """Sampling grid ``(H, W, 2)`` (``grid_sample``, ``align_corners=False``) that resamples any
    input to ``out_grid`` at the same relative positions (the identity when sizes match)."""
    height, width = (int(v) for v in out_grid)
    ys = (2.0 * torch.arange(height, dtype=torch.float32) + 1.0) / height - 1.0
    xs = (2.0 * torch.arange(width, dtype=torch.float32) + 1.0) / width - 1.0
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)


class NCMWarp(nn.Module):
    """A learnable, input-independent sampling grid that warps a feature map to ``out_grid``.

    ``forward(x)`` bilinearly samples ``x`` at the grid (border padding): one fixed resampling
    for every image, so a reference embedding never depends on a query. Build it with
    :meth:`identity` or :meth:`polar`.
    """

    def __init__(self, init_grid: torch.Tensor):
        super().__init__()
        if init_grid.ndim != 3 or init_grid.shape[-1] != 2:
            raise ValueError(f"NCMWarp needs an (H, W, 2) grid, got shape {tuple(init_grid.shape)}")
        self.grid = nn.Parameter(init_grid.detach().clone().float().unsqueeze(0))

    @classmethod
    def identity(cls, out_grid: Sequence[int]) -> NCMWarp:
        """Start as the identity (a plain resize if the input grid differs from ``out_grid``)."""
        return cls(identity_grid(out_grid))

    @classmethod
    def polar(cls, in_side: int, out_grid: Sequence[int], north: float = 0.0) -> NCMWarp:
        """Start as the polar transform of a square ``in_side`` map (:mod:`cvgl_bench.data.polar`)."""
        return cls(torch.tensor(polar_grid(in_side, out_grid, north)))  # on the default device (meta checks)

    @property
    def out_grid(self) -> tuple[int, int]:
        return int(self.grid.shape[1]), int(self.grid.shape[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.grid.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def extra_repr(self) -> str:
        return f"out_grid={self.out_grid}"


class NEC(nn.Module):
    """Nonlinear Embedding Converter: ``z + W2 GELU(W1 LN(z))`` with ``W2`` zero-initialised.

    Hidden width ``hidden_mult * dim``. Starts as the identity.
    """

    def __init__(self, dim: int, hidden_mult: float = 2.0):
        super().__init__()
        hidden = max(1, int(round(dim * hidden_mult)))
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.fc2(self.act(self.fc1(self.norm(z))))


class GFR(nn.Module):
    """Global Feature Recalibration: channel gating guided by a spatial cue.

    ``a`` = softmax over positions of a 1x1 conv (``cue="conv"``), or given weights
    (``cue="ncm"``: the caller passes the NCM map's :meth:`NCMGate.spatial_weights`);
    ``g = sum_hw a_hw F[:, :, h, w]``; ``w = 2 sigmoid(W_b ReLU(W_a g))`` with reduction
    ``reduction``; output ``F * w``. The cue conv and ``W_b`` are zero-initialised, so the cue
    starts uniform (average pooling) and the gain at exactly 1.
    """

    def __init__(self, channels: int, reduction: int = 16, cue: str = "conv"):
        super().__init__()
        if cue not in GFR_CUES:
            raise ValueError(f"GFR cue must be one of {GFR_CUES}, got {cue!r}")
        hidden = max(1, int(channels) // int(reduction))
        self.channels, self.cue_kind = int(channels), cue
        self.cue = nn.Conv2d(channels, 1, kernel_size=1) if cue == "conv" else None
        if self.cue is not None:
            nn.init.zeros_(self.cue.weight)
            nn.init.zeros_(self.cue.bias)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def attention(self, x: torch.Tensor, spatial_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Spatial weights ``(B, H, W)`` (each sums to 1) used to squeeze ``x``."""
        batch, _, height, width = x.shape
        if self.cue is not None:
            logits = self.cue(x).flatten(1)
            return torch.softmax(logits, dim=1).view(batch, height, width)
        if spatial_weights is None:
            raise ValueError("GFR with cue='ncm' needs the NCM spatial weights")
        weights = spatial_weights.to(x.dtype)
        if weights.ndim == 2:
            weights = weights.unsqueeze(0)
        if tuple(weights.shape[-2:]) != (height, width):
            raise ValueError(f"GFR spatial weights are {tuple(weights.shape[-2:])} but features are {(height, width)}")
        return weights.expand(batch, height, width)

    def channel_weights(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Per-channel gains ``(B, C)`` in ``(0, 2)``."""
        squeezed = torch.einsum("bchw,bhw->bc", x, attention)
        return 2.0 * torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))

    def forward(self, x: torch.Tensor, spatial_weights: torch.Tensor | None = None) -> torch.Tensor:
        gains = self.channel_weights(x, self.attention(x, spatial_weights))
        return x * gains[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, cue={self.cue_kind!r}"
