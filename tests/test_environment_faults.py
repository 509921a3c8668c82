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


def test_an_unwritable_folder_is_named_by_the_file_to_write_not_its_temporary(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".index.md.vm-1.abc.tmp"))

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refuse)
    with pytest.raises(OSError) as caught:
        fsutil.write_json(tmp_path / "index.json", {})
    assert caught.value.filename == str(tmp_path / "index.json") and caught.value.errno == errno.EACCES


# --- signals: Ctrl-C and SIGTERM (a scheduler's stop) -------------------------------------------

GRID_SCRIPT = """
import sys
from cvgl_bench.errors import raise_on_sigterm
from cvgl_bench.run import grid
from cvgl_bench.run.cell import Cell, RunOptions

folder = sys.argv[1]
worker = ("import os, sys, time; open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close(); "
          "print('started', flush=True); time.sleep(120)")
grid.worker_command = lambda cell, options, nproc: [sys.executable, "-c", worker, folder]
raise_on_sigterm()
cells = [Cell("tiny", ("x",), seed=seed) for seed in range(3)]
try:
    grid._run_workers(cells, RunOptions(device="cpu", log=lambda line: print(line, file=sys.stderr, flush=True)),
                      jobs=2, gpus_per_cell=0)
except KeyboardInterrupt as exc:
    print("stopped:", type(exc).__name__, file=sys.stderr, flush=True)
    sys.exit(143)
"""


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_terminated_grid_stops_its_workers_and_starts_no_more(tmp_path):
    """SIGTERM to the grid left its workers training, holding their cells' locks (outside audit)."""
    import signal
    import subprocess
    import sys

    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(pids)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        _wait_for(lambda: len(list(pids.iterdir())) == 2, "two workers to start")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "interrupted: stopping 2 running cell(s)" in err and "stopped: Terminated" in err
    assert len(list(pids.iterdir())) == 2  # the third cell never started
    for pid in (int(p.name) for p in pids.iterdir()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_terminated_worker_says_so_in_one_line(tmp_path):
    import signal
    import subprocess
    import sys

    started = tmp_path / "started"
    script = tmp_path / "worker.py"
    script.write_text(f"""
import sys, time
from cvgl_bench.run import worker
def slow(*args, **kwargs):
    open({str(started)!r}, "w").close()
    time.sleep(120)
worker.run_worker = slow
sys.exit(worker.main(["--cell", "{{}}", "--options", "{{}}"]))
""")
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(started.exists, "the worker to start")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert err.strip() == "Error: terminated (SIGTERM); rerun the grid to resume"


def test_sigterm_in_a_command_is_one_line_and_exit_143(host, monkeypatch):
    from cvgl_bench import cli as cli_module
    from cvgl_bench.errors import Terminated

    def stopped(*args, **kwargs):
        raise Terminated()

    monkeypatch.setattr(cli_module, "echo_table", stopped)
    result = CliRunner().invoke(cli, ["methods"])
    assert result.exit_code == 143
    assert "terminated (SIGTERM); rerun the same command to resume" in result.output
    assert "Traceback" not in result.output


def test_forked_workers_die_of_sigterm_as_by_default(tmp_path):
    """A pool's workers inherit the handler; pool.terminate() must not print their tracebacks."""
    import subprocess
    import sys

    script = """
import multiprocessing, time
from cvgl_bench.errors import raise_on_sigterm
raise_on_sigterm()
child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
child.start()
time.sleep(0.5)
child.terminate()
child.join(30)
print(child.exitcode)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "-15" and "Traceback" not in done.stderr, done.stderr


def test_a_new_record_that_cannot_be_written_takes_its_ranks_file_with_it(tmp_path, monkeypatch):
    from cvgl_bench import results

    arrays = rank_arrays(np.zeros(50, dtype=np.int64), 60)
    kept = write_record(tmp_path / "kept", method="sample4geo", seed=0, arrays=arrays, eval_split="cvusa_test",
                        train_split="cvusa_train", in_domain_train="cvusa_train")
    monkeypatch.setattr(results, "write_json", _disk_full)
    with pytest.raises(OSError):
        write_record(tmp_path / "new", method="sample4geo", seed=0, arrays=arrays, eval_split="cvusa_test",
                     train_split="cvusa_train", in_domain_train="cvusa_train")
    assert [p for p in (tmp_path / "new").rglob("*") if p.is_file()] == []
    # an existing record keeps the ranks it names: its next write replaces both
    with pytest.raises(OSError):
        write_record(tmp_path / "kept", method="sample4geo", seed=0, arrays=arrays, eval_split="cvusa_test",
                     train_split="cvusa_train", in_domain_train="cvusa_train")
    assert results.ranks_path(kept).exists()
    monkeypatch.undo()
    assert results.read_ranks(kept).keys() == arrays.keys()


def test_a_trained_cell_in_a_folder_that_cannot_be_written_is_scored_unlocked(tmp_path, monkeypatch):
    from cvgl_bench.run import model

    workdir = tmp_path / "runs" / "seed0-abc"
    workdir.mkdir(parents=True)
    lock = workdir.parent / f".{workdir.name}.lock"
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if Path(path) == lock:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(model.os, "open", read_only)
    said, ran = [], []
    with pytest.raises(OSError, match="Read-only"), model.cell_lock(workdir, "cell", said.append):
        ran.append("untrained")  # nothing to score: the lock's own error stands
    (workdir / "model.pt").write_bytes(b"weights")
    with model.cell_lock(workdir, "cell", said.append):
        ran.append("trained")
    assert ran == ["trained"] and len(said) == 1 and "cannot be written, so the cell is not locked" in said[0]
    monkeypatch.undo()
    with model.cell_lock(workdir, "cell", said.append):
        assert lock.exists()
    assert len(said) == 1


def test_a_python_whose_locale_is_not_utf8_is_told_so(monkeypatch):
    import sys

    from cvgl_bench.data import structures
    from cvgl_bench.errors import DataError

    utf8_name_read_as_ascii = b"/data/caf\xc3\xa9/0001.jpg".decode("ascii", "surrogateescape")
    latin1_name = os.fsdecode(b"/data/caf\xe9/0001.jpg")
    with pytest.raises(DataError, match="not UTF-8; rename it"):
        structures._check_utf8(np.array([latin1_name]))
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: "ascii")
    with pytest.raises(DataError, match="reads file names as ascii .* PYTHONUTF8=1"):
        structures._check_utf8(np.array([utf8_name_read_as_ascii]))
    with pytest.raises(DataError, match="not UTF-8; rename it"):
        structures._check_utf8(np.array([latin1_name]))


def test_a_deleted_current_folder_is_one_line(tmp_path):
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    script = "import os, sys; d = sys.argv.pop(1); os.chdir(d); os.rmdir(d); from cvgl_bench.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", script, str(gone), "methods"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: the current folder no longer exists (it was deleted or moved); cd into an existing folder and run "
        "the command again"]
