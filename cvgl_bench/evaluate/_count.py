"""Counting, per row of a block of scores, how many values lie above per-row thresholds.

On the CPU, ``(scores > t).sum(1)`` spends most of its time in the boolean reduction (about
1 G elements/s on two cores). ``RowCounter`` compares into a reusable boolean buffer padded to
a multiple of 8 x 255 columns, then adds the bytes as int64 words in groups of 255 (no byte can
carry into its neighbour) and finally adds the bytes of those partial sums: about 5x faster.
On a GPU the plain reduction is used.
"""

from __future__ import annotations

import torch

_GROUP = 255
_WORD = 8


class RowCounter:
    """Counts ``#{j : S[i, j] > t[i]}`` or ``>=`` for blocks ``S`` of at most ``max_rows`` x ``n``."""

    def __init__(self, max_rows: int, n: int, device: torch.device):
        self.n = n
        self.device = device
        self.cpu = device.type == "cpu"
        if self.cpu:
            step = _GROUP * _WORD
            self.padded = -(-n // step) * step
            self.mask = torch.zeros(max_rows, self.padded, dtype=torch.bool)

    def count(self, scores: torch.Tensor, thresholds: torch.Tensor, inclusive: bool) -> torch.Tensor:
        """Per row, the number of scores ``> thresholds[i]`` (``>=`` when ``inclusive``); int64."""
        rows = scores.shape[0]
        thresholds = thresholds.to(scores.dtype).view(rows, 1)
        compare = torch.ge if inclusive else torch.gt
        if not self.cpu:
            return compare(scores, thresholds).sum(dim=1, dtype=torch.int64)
        mask = self.mask[:rows]
        compare(scores, thresholds, out=mask[:, :self.n])
        words = mask.view(torch.int64).view(rows, -1, _GROUP).sum(dim=2)
        return words.view(torch.uint8).view(rows, -1).sum(dim=1, dtype=torch.int64)


def count_sorted(sorted_scores: torch.Tensor, thresholds: torch.Tensor, inclusive: bool) -> torch.Tensor:
    """Like ``RowCounter.count`` for many thresholds per row, on rows sorted ascending.

    ``thresholds`` is (rows, m); returns (rows, m) int64 counts.
    """
    n = sorted_scores.shape[1]
    thresholds = thresholds.to(sorted_scores.dtype).contiguous()
    position = torch.searchsorted(sorted_scores, thresholds, right=not inclusive)
    return n - position
