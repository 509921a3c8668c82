"""Embedding extraction: batched inference over decoded images, cached on disk.

An embedding file is keyed by what determines it: the checkpoint (hash of its weights), the
image set (split fingerprint plus each file's size and modification time), the view, and the
transform (the method class and its hparams, which fix image size and normalisation), plus the
device type and precision. Re-scoring a checkpoint with another metric or protocol therefore
costs no forward pass. Files are written atomically; a killed run leaves no partial cache.

Sharded (every rank of a process group calling alike): each rank embeds a contiguous shard of
the rows (the last shards padded by repetition), the shards are gathered and the padding
dropped, so every rank returns the full array in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..dataroot import cache_dir
from ..data.structures import ImageSet, fingerprint_of
from ..errors import PluginError
from ..fsutil import atomic_open
from .. import distributed

if TYPE_CHECKING:
    from ..method import CVGLModel, Method

CACHE_VERSION = 2  # 2: nothing cached from a run that skipped undecodable images
NORM_TOLERANCE = 1e-3


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state (names, dtypes, shapes and bytes of every tensor), 16 hex digits."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def files_fingerprint(images: ImageSet) -> str:
    """Hash of each image file's size and modification time (``missing`` for absent files)."""
    h = hashlib.sha256()
    for path in images.paths.tolist():
        try:
            st = os.stat(path)
            h.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(b"missing\n")
    return h.hexdigest()[:16]


def embeds_in_fp16(hparams: Mapping[str, Any]) -> bool:
    """Whether a recipe's embeddings are computed under fp16 autocast (on CUDA): ``amp: true``
    only. ``amp: bf16`` is a training setting; its embeddings, like float32 recipes', are float32,
    so that rankings keep float32's resolution."""
    return hparams.get("amp", False) is True


def cache_key(checkpoint_hash: str, images: ImageSet, view: str, hparams: Mapping[str, Any], method: Any,
              device: str, amp: bool) -> str:
    """The embedding cache key of one (checkpoint, image set, view, transform, device) combination."""
    identity = {
        "version": CACHE_VERSION,
        "checkpoint": checkpoint_hash,
        "images": fingerprint_of(images),
        "files": files_fingerprint(images),
        "view": view,
        "method": f"{type(method).__module__}.{type(method).__qualname__}",
        "hparams": json.dumps(hparams, sort_keys=True, default=str),
        "device": torch.device(device).type,
        "amp": bool(amp),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def embed_array(model: CVGLModel, images: Any, view: str, transform: Callable[[torch.Tensor], torch.Tensor], *,
                device: str = "cpu", batch_size: int = 64, amp: bool = False, rows: np.ndarray | None = None,
                progress: bool = False, desc: str = "embedding", sharded: bool | None = None) -> torch.Tensor:
    """Embed uint8 ``(N, H, W, 3)`` images (an array, a memmap or an ``ImageArray``) -> float32 ``(N, D)`` on CPU.

    ``rows`` selects and orders the images to embed (default: all). Inference mode, eval mode
    (restored afterwards), fp16 autocast when ``amp`` on CUDA. ``sharded`` (default: whenever a
    process group is active) splits the rows over the ranks and gathers them back: every rank
    must then call this function with the same arguments.
    """
    from ..progress import progress as progress_bar

    array = getattr(images, "array", images)
    rows = np.arange(len(array)) if rows is None else np.asarray(rows, dtype=np.int64)
    sharded = distributed.is_distributed() if sharded is None else (sharded and distributed.is_distributed())
    mine = rows[distributed.shard_rows(len(rows), distributed.rank(), distributed.world_size())] if sharded else rows
    device_ = torch.device(device)
    use_amp = bool(amp) and device_.type == "cuda"
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    chunks: list[torch.Tensor] = []
    starts = range(0, len(mine), batch_size)
    try:
        with torch.inference_mode(), torch.autocast(device_type=device_.type, dtype=torch.float16, enabled=use_amp):
            with progress_bar(len(starts), desc=desc, unit="batch",
                              disable=not progress or distributed.rank() != 0) as bar:
                for lo in starts:
                    batch = torch.from_numpy(np.ascontiguousarray(array[mine[lo:lo + batch_size]]))
                    x = transform(batch.to(device_, non_blocking=device_.type == "cuda"))
                    chunks.append(model.encode(x, view).float().cpu())
                    bar.update(1)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    dim = int(getattr(model, "embedding_dim", 0))
    local = torch.cat(chunks) if chunks else torch.zeros((0, dim))
    if sharded:
        local = distributed.gather_rows(local.to(device_), len(rows)).cpu()
    return local


def check_normalised(embeddings: np.ndarray | torch.Tensor, who: str) -> None:
    """Refuse embeddings that are not L2-normalised (the ``CVGLModel.encode`` contract)."""
    norms = torch.as_tensor(embeddings).float().norm(dim=1)
    if len(norms) and (not torch.isfinite(norms).all() or (norms - 1).abs().max() > NORM_TOLERANCE):
        lo, hi = float(norms.min()), float(norms.max())
        raise PluginError(f"{who}: encode() returned embeddings with norms in [{lo:.4g}, {hi:.4g}]; "
                          f"CVGLModel.encode must return L2-normalised finite vectors")


def cached_embedding(model: CVGLModel, images: ImageSet, view: str, hparams: Mapping[str, Any], method: Method, *,
                     device: str = "cpu", checkpoint_hash: str | None = None) -> tuple[Path, np.ndarray | None]:
    """Where :func:`embed` caches these embeddings, and the cached array when a readable one is
    there (else ``None``): a caller that times the forward pass knows when there was none."""
    checkpoint_hash = checkpoint_hash or model_fingerprint(model)  # type: ignore[arg-type]
    key = cache_key(checkpoint_hash, images, view, hparams, method, device, embeds_in_fp16(hparams))
    path = cache_dir() / "embeddings" / f"{key}.npy"
    if path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(images):
                return path, cached
        except (OSError, ValueError):
            pass  # unreadable: recomputed and overwritten
    return path, None


def _check_batch_independent(model: CVGLModel, array: Any, out: np.ndarray, view: str, transform: Any, device: str,
                             amp: bool, batch_size: int, who: str) -> None:
    """Embed the first two images again as a batch of their own: an embedding that depends on the
    other images of its batch (a BatchNorm left in training mode, a batch statistic) would make
    the score depend on the batch size and the order of the split; refused in one line."""
    if len(out) < 3 or batch_size < 3:
        return
    alone = embed_array(model, array[:2], view, transform, device=device, batch_size=2, amp=amp,
                        sharded=False).numpy().astype(np.float64)
    agreement = float((alone * out[:2].astype(np.float64)).sum(axis=1).min())
    if not agreement >= 0.99:
        raise PluginError(f"{who}'s model embeds {view} images differently in a batch of 2 than in a batch of "
                          f"{batch_size} (cosine {agreement:.3f} for one of the first two): an embedding must not "
                          "depend on the other images of its batch (a BatchNorm in training mode, a batch "
                          "statistic); 'cvgl-bench check-plugin' shows it on its own")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def embed(model: CVGLModel, images: ImageSet, view: str, hparams: Mapping[str, Any], method: Method, *,
          device: str = "cpu", batch_size: int = 64, cache: bool = True, checkpoint_hash: str | None = None,
          progress: bool = True, arrays: Any = None, on_corrupt: str = "fail", sharded: bool = False,
          skipped: list[str] | None = None, log: Callable[[str], None] | None = None) -> np.ndarray:
    """Embeddings of every image of ``images`` (one view): float32 ``(N, D)``, L2-normalised.

    Images are decoded and resized to ``hparams['image_size'][view]`` by
    ``cvgl_bench.data.images.load_images`` (or taken from ``arrays``, uint8 ``(N, H, W, 3)``,
    already at that size), transformed by ``method.eval_transform(hparams, view)`` and encoded
    by ``model.encode``. With ``cache`` the result is stored under
    ``cache_dir()/embeddings/`` keyed by ``checkpoint_hash`` (default: the hash of the model's
    weights), the image set, the view, the transform and the device; a second call returns it
    without a forward pass.

    ``on_corrupt`` is passed to ``load_images`` (``fail`` or ``skip``: a skipped image embeds
    as a black image, its path is appended to ``skipped`` when a list is given, and the result is
    not cached, so that a later run with ``fail`` decodes again and stops). ``sharded=True`` splits the work over the ranks of an active process
    group (every rank must call ``embed`` alike; all get the full array); by default the
    calling process embeds everything, so rank 0 may evaluate alone. A cache that cannot be
    written (a full disk, a read-only folder) is a warning through ``log`` (default: stderr): the
    embeddings are returned all the same.
    """
    amp = embeds_in_fp16(hparams)
    path: Path | None = None
    if cache:
        path, cached = cached_embedding(model, images, view, hparams, method, device=device,
                                        checkpoint_hash=checkpoint_hash)
        if cached is not None:
            return cached
    if arrays is None:
        from ..data.images import load_images

        size = tuple(int(v) for v in hparams["image_size"][view])
        arrays = load_images(images, size, on_corrupt=on_corrupt, progress=progress,
                             resize=hparams.get("resize", "antialias"),
                             rows=(hparams.get("crop_rows") or {}).get(view))
    array = getattr(arrays, "array", arrays)
    undecoded = list(getattr(arrays, "skipped", None) or [])
    if skipped is not None:
        skipped.extend(undecoded)
    if len(array) != len(images):
        raise ValueError(f"{len(array)} image arrays for {len(images)} images")
    out = embed_array(model, array, view, method.eval_transform(hparams, view), device=device, batch_size=batch_size,
                      amp=amp, progress=progress, desc=f"embedding {view}", sharded=sharded).numpy()
    out = np.ascontiguousarray(out, dtype=np.float32)
    check_normalised(out, type(method).__name__)
    if not sharded or distributed.rank() == 0:
        _check_batch_independent(model, array, out, view, method.eval_transform(hparams, view), device, amp,
                                 batch_size, type(method).__name__)
    if path is not None and not undecoded and (not sharded or distributed.rank() == 0):
        try:
            with atomic_open(path, "wb") as handle:
                np.save(handle, out, allow_pickle=False)
        except OSError as exc:
            (log or _to_stderr)(f"warning: the embedding cache was not written ({exc.filename}: {exc.strerror or exc}); "
                                "the embeddings are the same, and the next run computes them again")
    if sharded:
        distributed.barrier()
    return out
