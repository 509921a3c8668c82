"""The torch ``Dataset`` of training pairs over decoded image arrays.

Images come decoded and resized once (``cvgl_bench.data.images.load_images``, a cached
memmap), so an epoch costs no JPEG decoding. Items are augmented here, in data-loader workers
when there are any, with per-sample seeds (:func:`cvgl_bench.train.augment.sample_seed`), so
the result does not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import PairAugment, sample_seed


def as_uint8_array(images: Any) -> np.ndarray:
    """The ``(N, H, W, 3)`` uint8 array of an ``ImageArray`` (its ``.array``) or of an array."""
    array = getattr(images, "array", images)
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), not {array.dtype} {array.shape}")
    return array


class TrainPairs(Dataset):
    """Pairs ``(query image, reference image)``; ``__getitems__`` returns whole augmented batches.

    An item is a pair of float ``(3, H, W)`` tensors in [0, 1]; a batch is a pair of
    ``(B, 3, H, W)`` tensors. Without augmentation images are only converted.
    """

    def __init__(self, query_images: Any, reference_images: Any, pairs: np.ndarray, *,
                 augment: PairAugment | None = None, seed: int = 0):
        self.query_images = as_uint8_array(query_images)
        self.reference_images = as_uint8_array(reference_images)
        self.pairs = np.asarray(pairs, dtype=np.int64)
        if len(self.pairs) and (self.pairs[:, 0].max() >= len(self.query_images)
                                or self.pairs[:, 1].max() >= len(self.reference_images)):
            raise ValueError("a pair points past the end of the image arrays")
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation seeds depend on the epoch; call before building each epoch's loader."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        query, reference = self.__getitems__([index])
        return query[0], reference[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        indices = np.asarray(indices, dtype=np.int64)
        rows = self.pairs[indices]
        query = torch.from_numpy(np.ascontiguousarray(self.query_images[rows[:, 0]]))
        reference = torch.from_numpy(np.ascontiguousarray(self.reference_images[rows[:, 1]]))
        with one_thread():
            if self.augment is None:
                return to_float_chw(query), to_float_chw(reference)
            seeds = [sample_seed(self.seed, self.epoch, int(i)) for i in indices]
            return self.augment(query, reference, seeds)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch ops single-threaded for the duration.

    Augmentation is many small ops on single images; splitting each over the model's
    intra-op threads costs more in synchronisation than it gains, and 5-10x more when other
    processes hold the cores (measured on the 2-core machine).
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_float_chw(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in [0, 1]."""
    return images.permute(0, 3, 1, 2).contiguous().float().div_(255)


def keep_batch(batch: Any) -> Any:
    """``collate_fn`` for :class:`TrainPairs`: batches are already collated by ``__getitems__``."""
    return batch
