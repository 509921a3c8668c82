"""Decode, resize and cache images as one uint8 array per (image set, size).

Every image of an :class:`~cvgl_bench.data.structures.ImageSet` is decoded once, converted to
RGB and resized to the requested (H, W), aspect ratio not kept, by one of :data:`RESIZE_MODES`:
``antialias`` (Pillow's bilinear with antialiasing, JPEGs decoded at a reduced DCT scale when that
still covers the target; the default) or ``linear_exact`` (full decode, then bilinear without
antialiasing with half-pixel centres: OpenCV's ``cv2.resize(..., INTER_LINEAR_EXACT)``, which
Sample4Geo's evaluation uses, within one grey level). The result is a single ``uint8`` array (N, H, W, 3) written to
``cache_dir()/images/<key>.u8`` and memory-mapped, so later epochs and later runs cost a memory
copy per batch instead of a JPEG decode per image. The key hashes the paths, their sizes and
modification times, the target size and :data:`DECODER_VERSION`, so a changed file, size or
decoder never reuses a stale cache. Writes are atomic: a killed process leaves no cache entry.

Corrupt or missing images fail with one line naming the path (``on_corrupt="fail"``) or leave a
zero row that is marked invalid and listed in :attr:`ImageArray.skipped` (``"skip"``), so a
caller can count them in its record instead of silently evaluating fewer images.
"""

from __future__ import annotations

__all__ = ["ImageArray", "as_rgb", "load_images", "resize_linear_exact"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

import contextlib
import errno
import hashlib
import json
import os
import queue
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..fsutil import mkstemp_beside, near_miss, open_regular, size_text, write_json
from ..locking import exclusive
from .structures import ImageSet

#: Changes whenever decoding or resizing changes pixels; part of every cache key.
DECODER_VERSION = "pil-draft-rgb-bilinear-aa/2"  # 2: 16-bit grey scaled to 8 bits, not clipped

RESIZE_MODES = ("antialias", "linear_exact")
"""How images are resized (the ``resize`` hparam of a recipe); see the module docstring."""


def _linear_taps(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source rows (or columns) and weights of a bilinear resize with half-pixel centres, clamped
    at the borders, as OpenCV's INTER_LINEAR computes them."""
    position = (np.arange(n_dst) + 0.5) * (n_src / n_dst) - 0.5
    low = np.floor(position).astype(np.int64)
    weight = np.where(low < 0, 0.0, position - low)
    low = np.maximum(low, 0)
    weight = np.where(low >= n_src - 1, 0.0, weight)
    low = np.minimum(low, n_src - 1)
    return low, np.minimum(low + 1, n_src - 1), weight


def resize_linear_exact(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(H, W, C)`` resized to ``size = (h, w)`` bilinearly without antialiasing: equal to
    ``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)`` within one grey level."""
    (row_lo, row_hi, row_w), (col_lo, col_hi, col_w) = _linear_taps(image.shape[0], size[0]), \
        _linear_taps(image.shape[1], size[1])
    pixels = image.astype(np.float64)
    rows = pixels[row_lo] * (1.0 - row_w)[:, None, None] + pixels[row_hi] * row_w[:, None, None]
    out = rows[:, col_lo] * (1.0 - col_w)[None, :, None] + rows[:, col_hi] * col_w[None, :, None]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
ON_CORRUPT = ("fail", "skip")


@dataclass(eq=False)
class ImageArray:
    """Decoded images of one image set at one size."""

    array: np.ndarray
    """uint8 (N, H, W, 3); a read-only ``np.memmap`` when cached."""
    valid: np.ndarray
    """bool (N,): False for images that could not be decoded (their rows are zeros)."""
    skipped: list[str] = field(default_factory=list)
    """Paths that could not be decoded (only with ``on_corrupt="skip"``)."""
    cache_path: Path | None = None
    """The memory-mapped cache file, when there is one."""

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index) -> np.ndarray:
        """One image (H, W, 3), or a batch (B, H, W, 3) for a slice or an index array (in memory)."""
        if isinstance(index, (int, np.integer, slice)):
            return np.array(self.array[index])
        return np.asarray(self.array[np.asarray(index)])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.array.shape[1]), int(self.array.shape[2])


def to_float_nchw(batch: np.ndarray, mean: Sequence[float] = (0.0, 0.0, 0.0),
                  std: Sequence[float] = (1.0, 1.0, 1.0)):
    """A uint8 (B, H, W, 3) batch as a contiguous float32 (B, 3, H, W) tensor, ``(x - mean) / std``
    with ``mean`` and ``std`` on the 0-255 scale.

    One cast-and-transpose copy plus one in-place multiply-add: 3-5x faster than the obvious
    ``float() / sub / div / permute().contiguous()`` chain, which matters on a 2-core machine.
    """
    import torch

    src = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
    out = torch.empty(src.shape, dtype=torch.float32)
    out.copy_(src)
    scale = 1.0 / torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    shift = -torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * scale
    return out.mul_(scale).add_(shift)


def as_rgb(image: Any) -> Any:
    """A Pillow ``image`` as 8-bit RGB, as every reader of images needs it.

    Pillow's ``convert("RGB")`` clips 16-bit grey (mode ``I;16``, or ``I`` from some PNG
    decoders) at 255, which turns a 16-bit photo white: it is scaled to 8 bits here. A 32-bit
    integer or floating-point image has no known range and is refused with a ValueError."""
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError(f"a 32-bit integer image (mode {image.mode}) has no known range; "
                             "save it with 8 or 16 bits per channel")
        return Image.fromarray(((values + 128) // 257).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        raise ValueError("a floating-point image (mode F) has no known range; save it with 8 bits per channel")
    return image.convert("RGB")


def decode_resize(path: str, size: tuple[int, int], resize: str = "antialias",
                  rows: tuple[float, float] | None = None) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB at ``size = (H, W)``; raises on any decode failure.

    ``antialias``: JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still covers
    the target (``Image.draft``), which is 2-3x faster for large images and loses nothing visible
    after the antialiased downscale. ``linear_exact``: the full image, resized without
    antialiasing (:func:`resize_linear_exact`). ``rows = (top, bottom)`` keeps only that band of
    the decoded image's rows, as fractions of its height, before resizing (SAFA's CVACT input
    keeps the middle half of the panorama: ``(0.25, 0.75)``).
    """
    from PIL import Image

    height, width = size
    with open_regular(path) as handle, Image.open(handle) as image:
        if image.format == "JPEG" and resize == "antialias" and rows is None:
            image.draft("RGB", (width, height))
        image = as_rgb(image)
        if rows is not None:
            top, bottom = round(rows[0] * image.height), round(rows[1] * image.height)
            image = image.crop((0, top, image.width, max(bottom, top + 1)))
        if image.size != (width, height):
            if resize == "linear_exact":
                image = Image.fromarray(resize_linear_exact(np.asarray(image, dtype=np.uint8), (height, width)))
            else:
                image = image.resize((width, height), Image.Resampling.BILINEAR)
        out = np.asarray(image, dtype=np.uint8)
    if out.shape != (height, width, 3):
        raise ValueError(f"decoded to shape {out.shape}")
    return out


def cache_key(paths: Sequence[str], size: tuple[int, int], resize: str = "antialias",
              rows: tuple[float, float] | None = None) -> str:
    """Hash of the paths, their sizes and mtimes, the target size, the resize mode, the row band and
    the decoder version."""
    h = hashlib.sha256()
    mode = "" if resize == "antialias" else f"\0{resize}"  # the default keeps the keys of existing caches
    if rows is not None:
        mode += f"\0rows={rows[0]!r}:{rows[1]!r}"
    h.update(f"{DECODER_VERSION}{mode}\0{size[0]}x{size[1]}\0{len(paths)}\n".encode())
    for path in paths:
        try:
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path}\0missing\n".encode())
    return h.hexdigest()[:32]


def image_cache_dir() -> Path:
    from ..dataroot import cache_dir

    return cache_dir() / "images"


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ConfigError(f"image size must be (height, width), not {size!r}") from None
    if height <= 0 or width <= 0:
        raise ConfigError(f"image size must be positive, not {size!r}")
    return height, width


def _corrupt_message(path: str, exc: BaseException) -> str:
    if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
        reason = f"file missing{near_miss(path)}"
    else:
        reason = f"cannot decode image: {type(exc).__name__}: {exc}".splitlines()[0]
    return f"{path}: {reason} (--on-corrupt skip leaves it out and counts it)"


DECODE_STALL_S = 600.0
"""Seconds without one image decoded (a read on a hung file system) before decoding ends in one
line; the decoding threads are daemons, so the process can still exit."""


def _decode_into(out: np.ndarray, paths: Sequence[str], size: tuple[int, int], on_corrupt: str,
                 progress: bool, desc: str, workers: int | None, resize: str = "antialias",
                 rows: tuple[float, float] | None = None) -> list[int]:
    """Fill ``out`` row by row in ``workers`` threads; return the rows that failed (``skip``) or
    raise (``fail``) naming the first failed path in ``paths`` order."""
    from ..progress import progress as progress_bar

    workers = workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    indices, taking, stop = iter(range(len(paths))), threading.Lock(), threading.Event()
    finished: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()

    def work() -> None:
        while not stop.is_set():
            with taking:
                i = next(indices, None)
            if i is None:
                return
            try:
                out[i] = decode_resize(paths[i], size, resize, rows)
                finished.put((i, None))
            except BaseException as exc:  # noqa: BLE001 - an Exception is a corrupt image; the rest is re-raised
                finished.put((i, exc))

    # daemons, not a ThreadPoolExecutor: its threads are joined at exit, so one read stuck on a
    # hung file system would keep the process from ever exiting after the error below
    for k in range(min(workers, len(paths))):
        threading.Thread(target=work, name=f"cvgl-bench-decode-{k}", daemon=True).start()
    failed: list[int] = []
    outcome: dict[int, BaseException | None] = {}
    next_row = 0
    try:
        with progress_bar(len(paths), desc=desc, unit="img", disable=not progress) as bar:
            for _ in range(len(paths)):
                try:
                    i, exc = finished.get(timeout=DECODE_STALL_S)
                except queue.Empty:
                    waiting = sorted(set(range(next_row, len(paths))) - set(outcome))[0]
                    raise DataError(f"no image decoded for {DECODE_STALL_S:.0f} s ({len(paths) - next_row - len(outcome)}"
                                    f" of {len(paths)} left, among them {paths[waiting]}): is its file system hung? "
                                    "Check the mount, then rerun") from None
                if exc is not None and not isinstance(exc, Exception):
                    raise exc  # KeyboardInterrupt, SystemExit... from a decoder: the caller's, as before
                bar.update(1)
                outcome[i] = exc
                while next_row in outcome:  # in paths order, so the first corrupt image named is the first listed
                    exc = outcome.pop(next_row)
                    if exc is not None:
                        if on_corrupt == "fail":
                            raise DataError(_corrupt_message(paths[next_row], exc))
                        out[next_row] = 0
                        failed.append(next_row)
                    next_row += 1
    finally:
        stop.set()
    return failed


def _read_cache(data_path: Path, meta_path: Path, shape: tuple[int, ...]) -> tuple[np.memmap, list[int]] | None:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if tuple(meta["shape"]) != shape or data_path.stat().st_size != int(np.prod(shape)):
            return None
        return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape), [int(r) for r in meta["skipped_rows"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ensure_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed * 1.05:
        raise DataError(f"{folder}: the image cache needs {size_text(needed)} but only {size_text(free)} "
                        "are free; set CVGL_BENCH_CACHE to a larger disk or use a smaller image size")


def load_images(images: ImageSet, size: tuple[int, int], *, on_corrupt: str = "fail", cache: bool = True,
                progress: bool = True, workers: int | None = None, resize: str = "antialias",
                rows: Sequence[float] | None = None) -> ImageArray:
    """Decode every image of ``images`` to RGB uint8 at ``size = (H, W)``; cached by default.

    :param on_corrupt: ``"fail"`` raises :class:`DataError` naming the first undecodable (or
        missing) path; ``"skip"`` leaves its row zero, sets ``valid[row] = False`` and lists
        the path in ``.skipped``.
    :param cache: keep the result as a memory-mapped file in ``cache_dir()/images`` and reuse
        it on the next call with the same files and size.
    :param workers: decoding threads (default: the CPUs this process may use); Pillow releases
        the GIL while decoding and resizing.
    :param resize: one of :data:`RESIZE_MODES` (a recipe's ``resize`` hparam).
    :param rows: ``(top, bottom)`` fractions of each image's rows to keep before resizing (a
        recipe's ``crop_rows`` entry for the view); None keeps every row.
    """
    if on_corrupt not in ON_CORRUPT:
        raise ConfigError(f"on_corrupt must be one of {', '.join(ON_CORRUPT)}, not {on_corrupt!r}")
    if resize not in RESIZE_MODES:
        raise ConfigError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")
    if rows is not None:
        try:
            top, bottom = (float(v) for v in rows)
        except (TypeError, ValueError):
            raise ConfigError(f"crop_rows must be [top, bottom] fractions, not {rows!r}") from None
        if not 0.0 <= top < bottom <= 1.0:
            raise ConfigError(f"crop_rows must satisfy 0 <= top < bottom <= 1, not {rows!r}")
        rows = (top, bottom)
    size = _check_size(size)
    paths = [str(p) for p in images.paths]
    shape = (len(paths), size[0], size[1], 3)
    desc = f"decoding {len(paths)} {images.view} images"
    if not paths:
        return ImageArray(np.zeros(shape, dtype=np.uint8), np.zeros(0, dtype=bool), [])
    if not cache:
        array = np.empty(shape, dtype=np.uint8)
        failed = _decode_into(array, paths, size, on_corrupt, progress, desc, workers, resize, rows)
        return _result(array, paths, failed, None)

    folder = image_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the image cache ({exc.strerror or exc}); "
                          "set CVGL_BENCH_CACHE to a writable folder") from None
    key = cache_key(paths, size, resize, rows)
    data_path, meta_path = folder / f"{key}.u8", folder / f"{key}.json"
    hit = _read_cache(data_path, meta_path, shape)
    if hit is None:  # one process decodes (the ranks of a distributed run, two runs); the others wait for it
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(exclusive(folder / f".{key}.lock",
                                             f"decoding {len(paths)} {images.view} images into the image cache"))
            except OSError as exc:
                raise ConfigError(f"{folder}: cannot write the image cache ({exc.strerror or exc}); "
                                  "set CVGL_BENCH_CACHE to a writable folder") from None
            hit = _read_cache(data_path, meta_path, shape)
            if hit is None:
                failed = _write_cache(data_path, meta_path, shape, paths, size, on_corrupt, progress, desc, workers,
                                      resize, rows)
                return _result(np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape), paths, failed, data_path)
    array, failed = hit
    if failed and on_corrupt == "fail":
        raise DataError(_corrupt_message(paths[failed[0]], ValueError("it failed to decode when the cache was built")))
    return _result(array, paths, failed, data_path)


def _write_cache(data_path: Path, meta_path: Path, shape: tuple[int, ...], paths: list[str], size: tuple[int, int],
                 on_corrupt: str, progress: bool, desc: str, workers: int | None, resize: str,
                 rows: tuple[float, float] | None) -> list[int]:
    """Decode every image into a new cache file, made visible by one rename; the rows that failed."""
    folder = data_path.parent
    _ensure_space(folder, int(np.prod(shape)))
    try:
        fd, tmp = mkstemp_beside(data_path)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the image cache ({exc.strerror or exc}); "
                          "set CVGL_BENCH_CACHE to a writable folder") from None
    try:
        _allocate(fd, int(np.prod(shape)), data_path)
        os.close(fd)
        fd = -1
        writable = np.memmap(tmp, dtype=np.uint8, mode="r+", shape=shape)
        failed = _decode_into(writable, paths, size, on_corrupt, progress, desc, workers, resize, rows)
        writable.flush()
        del writable
        write_json(meta_path, {"shape": list(shape), "decoder": DECODER_VERSION, "skipped_rows": failed,
                               "skipped": [paths[i] for i in failed], "first_path": paths[0]})
        os.replace(tmp, data_path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return failed


def _allocate(fd: int, size: int, path: Path) -> None:
    """Give the cache file its blocks now: a memory map written on a disk that fills meanwhile
    dies of SIGBUS, with no message, where an allocation fails with ENOSPC naming the file."""
    try:
        os.posix_fallocate(fd, 0, size)
    except AttributeError:  # not POSIX
        os.ftruncate(fd, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        os.ftruncate(fd, size)  # a filesystem that cannot allocate ahead


def _result(array: np.ndarray, paths: Sequence[str], failed: list[int], cache_path: Path | None) -> ImageArray:
    valid = np.ones(len(paths), dtype=bool)
    valid[failed] = False
    return ImageArray(array, valid, [paths[i] for i in failed], cache_path)
