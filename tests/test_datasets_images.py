"""Image decoding and the memory-mapped cache: sizes, reuse, invalidation, corrupt images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cvgl_bench.data import images as images_module
from cvgl_bench.data.images import ImageArray, cache_key, load_images
from cvgl_bench.data.structures import ImageSet
from cvgl_bench.errors import ConfigError, DataError

from .dataset_trees import write_image


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))


def image_set(tmp_path, n=5, suffixes=(".jpg", ".png", ".jpeg")):
    paths = [write_image(tmp_path / "img" / f"{i}{suffixes[i % len(suffixes)]}", i, (40, 60)) for i in range(n)]
    return ImageSet("satellite", [str(i) for i in range(n)], paths)


def test_decodes_resizes_and_caches(tmp_path):
    images = image_set(tmp_path)
    first = load_images(images, (16, 24), progress=False)
    assert isinstance(first, ImageArray) and first.array.shape == (5, 16, 24, 3) and first.array.dtype == np.uint8
    assert isinstance(first.array, np.memmap) and first.valid.all() and first.skipped == []
    assert first.cache_path.parent == tmp_path / "cache" / "images" and first.cache_path.suffix == ".u8"
    assert len(first) == 5 and first[2].shape == (16, 24, 3) and first[[0, 4]].shape == (2, 16, 24, 3)
    assert first[1:3].shape == (2, 16, 24, 3) and not isinstance(first[1:3], np.memmap)
    # a PNG is decoded losslessly: its resized pixels equal PIL's own bilinear resize
    from PIL import Image

    with Image.open(images.paths[1]) as im:
        expected = np.asarray(im.convert("RGB").resize((24, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(first[1], expected)
    uncached = load_images(images, (16, 24), cache=False, progress=False)
    np.testing.assert_array_equal(uncached.array, first.array)

    calls = []
    original = images_module.decode_resize
    try:
        images_module.decode_resize = lambda *a: calls.append(a) or original(*a)
        again = load_images(images, (16, 24), progress=False)
    finally:
        images_module.decode_resize = original
    assert calls == [] and again.cache_path == first.cache_path
    np.testing.assert_array_equal(again.array, first.array)


def test_cache_key_changes_with_content_size_and_target(tmp_path):
    images = image_set(tmp_path, n=2)
    paths = list(images.paths)
    key = cache_key(paths, (16, 24))
    assert cache_key(paths, (24, 16)) != key and cache_key(paths[::-1], (16, 24)) != key
    write_image(tmp_path / "img" / "1.png", 99, (41, 60))  # rewritten: new size and mtime
    os.utime(paths[1], ns=(1, 1))
    assert cache_key(paths, (16, 24)) != key
    out = load_images(images, (16, 24), progress=False)
    assert len(list((tmp_path / "cache" / "images").glob("*.u8"))) == 1
    assert out.valid.all()


def test_corrupt_and_missing_images_fail_or_skip(tmp_path):
    images = image_set(tmp_path, n=4, suffixes=(".jpg",))
    bad = images.paths[1]
    with open(bad, "r+b") as handle:  # truncate a JPEG to half
        data = handle.read()
        handle.seek(0)
        handle.truncate()
        handle.write(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{bad}: cannot decode image: .*--on-corrupt skip") as info:
        load_images(images, (8, 8), progress=False)
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "cache" / "images").glob("*.u8")) and not list((tmp_path / "cache" / "images").glob("*.tmp"))
    skipped = load_images(images, (8, 8), on_corrupt="skip", progress=False)
    assert skipped.valid.tolist() == [True, False, True, True] and skipped.skipped == [bad]
    assert not skipped.array[1].any()
    # the cached result remembers the skipped image: "fail" still fails, "skip" reports it again
    with pytest.raises(DataError, match=str(bad)):
        load_images(images, (8, 8), progress=False)
    assert load_images(images, (8, 8), on_corrupt="skip", progress=False).skipped == [bad]
    os.unlink(images.paths[3])
    with pytest.raises(DataError, match=rf"{images.paths[3]}: file missing"):
        load_images(ImageSet("satellite", ["3"], [images.paths[3]]), (8, 8), progress=False, cache=False)
    garbage = tmp_path / "img" / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="garbage.jpg: cannot decode image"):
        load_images(ImageSet("drone", ["g"], [garbage]), (8, 8), progress=False)


def test_to_float_nchw_normalises_like_the_obvious_chain():
    import torch

    from cvgl_bench.data.images import to_float_nchw

    batch = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    mean, std = (120.0, 110.0, 100.0), (60.0, 50.0, 40.0)
    out = to_float_nchw(batch, mean, std)
    expected = ((torch.from_numpy(batch).float() - torch.tensor(mean)) / torch.tensor(std)).permute(0, 3, 1, 2)
    assert out.shape == (2, 3, 5, 7) and out.is_contiguous() and out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_empty_set_and_bad_arguments(tmp_path):
    empty = load_images(ImageSet("ground", [], []), (4, 4), progress=False)
    assert empty.array.shape == (0, 4, 4, 3) and len(empty) == 0
    images = image_set(tmp_path, n=1)
    with pytest.raises(ConfigError, match="on_corrupt"):
        load_images(images, (4, 4), on_corrupt="ignore")
    with pytest.raises(ConfigError, match="positive"):
        load_images(images, (0, 4))


def test_unwritable_cache_is_a_one_line_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(blocker / "cache"))
    with pytest.raises(ConfigError, match="cannot create the image cache.*CVGL_BENCH_CACHE"):
        load_images(image_set(tmp_path, n=1), (4, 4), progress=False)


def test_interrupted_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    images = image_set(tmp_path, n=3)

    def boom(path, size, *mode):
        raise KeyboardInterrupt

    monkeypatch.setattr(images_module, "decode_resize", boom)
    with pytest.raises(KeyboardInterrupt):
        load_images(images, (8, 8), progress=False, workers=1)
    # the builders' lock file stays (a lock dies with its owner, not with its file); no data or metadata
    assert [name for name in os.listdir(tmp_path / "cache" / "images") if not name.endswith(".lock")] == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_place_of_an_image_is_a_corrupt_image_not_a_hang(tmp_path):
    images = image_set(tmp_path, n=3, suffixes=(".jpg",))
    fifo = images.paths[1]
    os.unlink(fifo)
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=rf"{fifo}: cannot decode image: .*not a regular file"):
        load_images(images, (8, 8), progress=False, cache=False)
    assert load_images(images, (8, 8), on_corrupt="skip", progress=False, cache=False).skipped == [fifo]


HUNG_READ = """
import sys, threading, time
from pathlib import Path
from cvgl_bench.data import images as images_module
from cvgl_bench.data.structures import ImageSet
from cvgl_bench.errors import DataError

paths = sys.argv[1:]
real = images_module.decode_resize
never = threading.Event()

def decode(path, *args):
    if path == paths[1]:
        never.wait()  # a read on a hung file system: no exception, no return
    return real(path, *args)

images_module.decode_resize = decode
images_module.DECODE_STALL_S = 1.0
started = time.monotonic()
try:
    images_module.load_images(ImageSet("ground", [str(i) for i in range(len(paths))], paths), (8, 8),
                              progress=False, cache=False, workers=2)
except DataError as exc:
    print(f"{time.monotonic() - started:.1f} {exc}", flush=True)
    sys.exit(2)
"""


def test_a_read_stuck_on_a_hung_file_system_ends_in_one_line_and_the_process_exits(tmp_path):
    """Decoding waited on its thread pool without a bound, and a pool thread stuck in a read
    would have kept the process from exiting at all (outside audit)."""
    import subprocess
    import sys

    images = image_set(tmp_path, n=6, suffixes=(".jpg",))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", HUNG_READ, *images.paths], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    seconds, message = done.stdout.strip().split(" ", 1)
    assert 1.0 <= float(seconds) < 30
    assert message == (f"no image decoded for 1 s (1 of 6 left, among them {images.paths[1]}): is its file "
                       "system hung? Check the mount, then rerun")
