"""A hostile machine rather than hostile input: a full disk, no home folder, an unwritable cache.

A full disk is simulated by making the writer's fsync or write fail with ENOSPC, as it does on
a full filesystem (an outside audit filled small tmpfs mounts; tests cannot mount here).
"""

from __future__ import annotations

import errno
import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cvgl_bench import dataroot, fsutil
from cvgl_bench.cli import cli
from cvgl_bench.errors import ConfigError, path_advice
from tests.leaderboard_fakes import rank_arrays, write_record


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_write_names_its_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    target.write_text("old")
    monkeypatch.setattr(fsutil.os, "fsync", _disk_full)
    with pytest.raises(OSError) as caught:
        fsutil.write_json(target, {"new": 1})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary left


def test_a_short_write_on_a_full_disk_is_enospc(tmp_path, monkeypatch):
    """numpy's np.save says "N requested and M written", with no errno."""
    monkeypatch.setattr(fsutil.shutil, "disk_usage", lambda path: type("U", (), {"free": 0})())

    def short(handle):
        raise OSError("12288 requested and 6112 written")

    with pytest.raises(OSError) as caught, fsutil.atomic_open(tmp_path / "e.npy", "wb") as handle:
        short(handle)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "e.npy")


def test_full_disk_advice_is_not_about_permissions():
    assert "free space" in path_advice(OSError(errno.ENOSPC, "No space left on device", "x"))
    assert "permissions" in path_advice(OSError(errno.EACCES, "Permission denied", "x"))


def test_leaderboard_on_a_full_disk_is_one_line(tmp_path, monkeypatch, host):
    results = tmp_path / "results"
    write_record(results, method="sample4geo", seed=0, arrays=rank_arrays(np.zeros(50, dtype=np.int64), 60),
                 eval_split="cvusa_test", train_split="cvusa_train", in_domain_train="cvusa_train")
    monkeypatch.setattr(fsutil.os, "fsync", _disk_full)
    result = CliRunner().invoke(cli, ["leaderboard", "--results", str(results), "--out", str(tmp_path / "board"),
                                      "--format", "md", "--no-plots", "--no-examples"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "No space left on device; free space on that disk" in lines[0], result.output
    assert "Traceback" not in result.output


def test_an_embedding_cache_that_cannot_be_written_is_a_warning(tmp_path, monkeypatch):
    import torch

    from cvgl_bench.evaluate import extract

    from .train_helpers import TinyMethod, train_split_spec

    method = TinyMethod()
    hparams = method.hparams("cpu", train_split_spec())
    model = method.build_model(hparams)
    images = np.random.default_rng(0).integers(0, 256, (3, *hparams["image_size"]["satellite"], 3), dtype=np.uint8)
    from cvgl_bench.data.structures import ImageSet

    files = ImageSet("satellite", ["a", "b", "c"], [str(tmp_path / f"{i}.png") for i in "abc"])
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(extract, "atomic_open", lambda path, mode: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", str(path))))
    said = []
    torch.manual_seed(0)
    out = extract.embed(model, files, "satellite", hparams, method, arrays=images, progress=False, log=said.append)
    assert out.shape[0] == 3
    assert len(said) == 1 and said[0].startswith("warning: the embedding cache was not written")
    assert "Read-only file system" in said[0]


def test_no_home_folder(monkeypatch, tmp_path):
    def homeless():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    for name in ("CVGL_BENCH_CACHE", "XDG_CACHE_HOME", "CVGL_BENCH_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="set CVGL_BENCH_CACHE"):
        dataroot.cache_dir()
    assert dataroot.config_path() is None and dataroot.read_config() == {}
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "c"))
    assert dataroot.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CVGL_BENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert dataroot.cache_dir() == tmp_path / "x" / "cvgl-bench"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EOPNOTSUPP])
def test_the_image_cache_takes_its_blocks_before_decoding(tmp_path, monkeypatch, code):
    """A memory map on a disk that fills dies of SIGBUS; the file's blocks are allocated first.
    A filesystem that cannot allocate ahead falls back to a sparse file."""
    from cvgl_bench.data import images as images_module
    from cvgl_bench.data.images import load_images

    from .test_datasets_images import image_set

    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))

    def refuse(fd, offset, size):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(images_module.os, "posix_fallocate", refuse)
    files = image_set(tmp_path, n=2)
    if code == errno.EOPNOTSUPP:
        assert load_images(files, (8, 8), progress=False).array.shape == (2, 8, 8, 3)
        return
    with pytest.raises(OSError) as caught:
        load_images(files, (8, 8), progress=False)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename.endswith(".u8")
    assert [p for p in (tmp_path / "cache" / "images").iterdir() if not p.name.endswith(".lock")] == []


def test_a_full_disk_while_generating_the_synthetic_world_names_its_folder(tmp_path, monkeypatch):
    from cvgl_bench.data.synth import generate

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a pool worker's JPEG write raises it

    monkeypatch.setattr(generate, "_run_jobs", full)
    out = tmp_path / "synth" / "cvusa"
    with pytest.raises(OSError) as caught:
        generate.generate("cvusa", out, "tiny", progress=False)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(out)
    assert list((tmp_path / "synth").iterdir()) == []  # the half-written temporary folder is gone


def test_a_board_that_fails_midway_writes_no_index(tmp_path, monkeypatch, host):
    render_module = importlib.import_module("cvgl_bench.leaderboard.render")  # the package exports render()

    results = tmp_path / "results"
    write_record(results, method="sample4geo", seed=0, arrays=rank_arrays(np.zeros(50, dtype=np.int64), 60),
                 eval_split="cvusa_test", train_split="cvusa_train", in_domain_train="cvusa_train")
    real = render_module._write_text

    def page_fails(path, text):
        if path.stem != "index":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(render_module, "_write_text", page_fails)
    out = tmp_path / "board"
    result = CliRunner().invoke(cli, ["leaderboard", "--results", str(results), "--out", str(out), "--format", "md",
                                      "--no-plots", "--no-examples"])
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert not (out / "index.md").exists()
