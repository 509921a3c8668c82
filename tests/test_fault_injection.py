"""Fault injection through the real command line: damaged checkpoints, edited plugins, a second
process on the same cell, and ``kill -9`` while generating, training and writing records.

Each case runs ``python -m cvgl_bench`` in a subprocess (the installed plugins, a private cache,
tiny synthetic data, one training epoch) under a timeout, so a hang fails fast. A user error is
exit code 2 with one ``Error:`` line and no traceback; a killed run leaves no process behind, and
its rerun finishes and leaves no temporary file.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_hostile_inputs import assert_one_line_error
from .test_kill_recovery import _alive, _children, _kill_group, _wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and /proc semantics of Linux")

REPO = Path(__file__).resolve().parents[1]
RUN = ["run", "--method", "sample4geo", "--dataset", "synth_cvusa_test", "--set", "epochs=1", "--threads", "1",
       "--results", "results", "--runs", "runs"]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0", "CVGL_BENCH_CACHE": str(cache),
            "CVGL_BENCH_SYNTH_SIZE": "tiny", "OMP_NUM_THREADS": "1", "CVGL_BENCH_LOCK_TIMEOUT": "300"}


def cli(cwd: Path, cache: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvgl_bench", *args], capture_output=True, text=True,
                          env=_env(cache), timeout=timeout, cwd=cwd)


def start(cwd: Path, cache: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cvgl_bench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(cache), cwd=cwd, start_new_session=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """One finished cell (records, checkpoint) and the cache it used; tests work on copies."""
    root = tmp_path_factory.mktemp("trained")
    cache = root / "cache"
    (root / "work").mkdir()
    done = cli(root / "work", cache, *RUN)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "work", cache


@pytest.fixture
def work(trained, tmp_path) -> tuple[Path, Path]:
    source, cache = trained
    shutil.copytree(source, tmp_path / "work")
    return tmp_path / "work", cache


def _model(work_dir: Path) -> Path:
    (path,) = (work_dir / "runs").rglob("model.pt")
    return path


def _record(work_dir: Path) -> Path:
    (path,) = (work_dir / "results").rglob("*.json")
    return path


def _no_temporaries(work_dir: Path) -> None:
    left = [p for p in work_dir.rglob(".*") if ".tmp" in p.name]
    assert not left, left


def _damage_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


def _damage_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))


def _damage_keys(path: Path) -> None:
    import torch

    state = torch.load(path, weights_only=True)
    state = {f"renamed.{k}": v for k, v in state.items()}
    torch.save(state, path)


def _damage_shapes(path: Path) -> None:
    import torch

    state = torch.load(path, weights_only=True)
    key = next(k for k, v in state.items() if v.ndim == 2)
    state[key] = torch.zeros(3, 3)
    torch.save(state, path)


def _damage_not_a_mapping(path: Path) -> None:
    import torch

    torch.save(torch.zeros(4), path)


DAMAGE = {"truncated": (_damage_truncated, "cannot read checkpoint"),
          "empty": (_damage_empty, "the file is empty"),
          "plain_pickle": (_damage_pickle, "cannot read checkpoint"), "wrong_keys": (_damage_keys, "missing keys"),
          "wrong_shapes": (_damage_shapes, "another shape"), "not_a_mapping": (_damage_not_a_mapping, "not a mapping")}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_model_checkpoint_is_one_line_naming_it_and_the_fix(work, damage):
    work_dir, cache = work
    model = _model(work_dir)
    damage_fn, needle = DAMAGE[damage]
    damage_fn(model)
    _record(work_dir).unlink()  # so the cell has work to do and reuses the checkpoint
    proc = cli(work_dir, cache, *RUN)
    assert_one_line_error(proc, needle, str(model.relative_to(work_dir)), "--restart")
    assert not list((work_dir / "results").rglob("*.json"))  # nothing written


def test_restart_is_the_fix_a_damaged_checkpoint_line_names(work):
    """The same whatever the damage, so one damage runs it."""
    work_dir, cache = work
    _damage_truncated(_model(work_dir))
    _record(work_dir).unlink()
    again = cli(work_dir, cache, *RUN, "--restart")  # the fix the line names
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training on" in again.stdout + again.stderr
    _record(work_dir)
    _no_temporaries(work_dir)


def test_restart_trains_again_and_rewrites_the_record(work):
    work_dir, cache = work
    model, record = _model(work_dir), _record(work_dir)
    before_model, before_record = model.stat().st_mtime_ns, json.loads(record.read_text())["provenance"]["started_at"]
    kept = cli(work_dir, cache, *RUN)
    assert kept.returncode == 0 and "nothing to do" in kept.stdout + kept.stderr
    proc = cli(work_dir, cache, *RUN, "--restart")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "training on" in out and "resumed from" not in out and "reusing checkpoint" not in out
    assert model.stat().st_mtime_ns != before_model
    assert json.loads(record.read_text())["provenance"]["started_at"] != before_record


def test_an_edited_plugin_is_not_served_its_old_checkpoint(work):
    work_dir, cache = work
    (source_info,) = (work_dir / "runs").rglob("source.json")
    recorded = json.loads(source_info.read_text())["method_source_sha256"]
    assert recorded and json.loads(_record(work_dir).read_text())["provenance"]["method_source_sha256"] == recorded
    source_info.write_text(json.dumps({"method_source_sha256": "0" * 64}))  # as if trained by other source
    _record(work_dir).unlink()
    proc = cli(work_dir, cache, *RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "source changed" in out and "training on" in out and "reusing checkpoint" not in out
    assert json.loads(source_info.read_text())["method_source_sha256"] == recorded


@pytest.mark.parametrize("recorded", ["1.0", None])  # another generator's world; a workdir from before versions
def test_a_checkpoint_of_another_synthetic_world_is_not_reused(work, recorded):
    """A new generator version keeps the ids and file names (the split's fingerprint) and changes
    the pixels: the checkpoint of the old world must not be served for the new one."""
    work_dir, cache = work
    (source_info,) = (work_dir / "runs").rglob("source.json")
    info = json.loads(source_info.read_text())
    version = info["train_data_version"]
    assert version and json.loads(_record(work_dir).read_text())["provenance"]["data_info"]["synthetic"][
        "generator_version"] == version
    source_info.write_text(json.dumps({"method_source_sha256": info["method_source_sha256"],
                                       **({"train_data_version": recorded} if recorded else {})}))
    _record(work_dir).unlink()
    proc = cli(work_dir, cache, *RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert f"trained on synthetic data of {'version 1.0' if recorded else 'a version it did not record'}" in out
    assert "training on" in out and "reusing checkpoint" not in out
    assert json.loads(source_info.read_text())["train_data_version"] == version
    again = cli(work_dir, cache, *RUN, "--overwrite", "always")
    assert "reusing checkpoint" in again.stdout + again.stderr  # the same world: reused


def test_a_second_process_on_the_same_cell_waits_and_says_for_whom(work):
    from cvgl_bench.locking import exclusive

    work_dir, cache = work
    _record(work_dir).unlink()
    cell_dir = _model(work_dir).parent
    log = work_dir.parent / "second.log"
    with exclusive(cell_dir.parent / f".{cell_dir.name}.lock", "running the cell in the test"):
        with open(log, "w") as out:
            second = subprocess.Popen([sys.executable, "-m", "cvgl_bench", *RUN], stdout=out, stderr=subprocess.STDOUT,
                                      text=True, env=_env(cache), cwd=work_dir, start_new_session=True)
        try:
            assert _wait_until(lambda: "waiting for" in log.read_text() or second.poll() is not None, 120)
            assert second.poll() is None, log.read_text()[-3000:]
            time.sleep(1.0)
            assert second.poll() is None and not list((work_dir / "results").rglob("*.json"))  # waiting, nothing written
        except BaseException:
            _kill_group(second)
            raise
    try:
        second.wait(timeout=300)
    finally:
        _kill_group(second)
    text = log.read_text()
    assert second.returncode == 0, text[-3000:]
    assert f"waiting for PID {os.getpid()}" in text and "running the cell in the test" in text
    assert "reusing checkpoint" in text
    _record(work_dir)


def _moment_generation(work_dir: Path, cache: Path) -> bool:
    return any((cache / "synth").glob(".*.tmp-*"))


def _moment_training(work_dir: Path, cache: Path) -> bool:
    return any((work_dir / "runs").rglob("source.json"))


def _moment_scoring(work_dir: Path, cache: Path) -> bool:
    return any((work_dir / "runs").rglob("model.pt"))


@pytest.mark.parametrize("moment", ["generation", "training", "scoring"])
def test_kill_9_at_any_moment_then_rerun_finishes_cleanly(tmp_path, moment):
    work_dir, cache = tmp_path / "work", tmp_path / "cache"
    work_dir.mkdir()
    reached = {"generation": _moment_generation, "training": _moment_training, "scoring": _moment_scoring}[moment]
    victim = start(work_dir, cache, *RUN)
    try:
        assert _wait_until(lambda: reached(work_dir, cache) or victim.poll() is not None, 240)
        if victim.poll() is not None:
            pytest.skip(f"the run finished before the {moment} moment could be caught")
        family = [victim.pid, *_children(victim.pid)]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert _wait_until(lambda: not any(_alive(p) for p in family), 15), "no process outlives the kill"
    finally:
        _kill_group(victim)
    started = time.monotonic()
    proc = cli(work_dir, cache, *RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 280
    record = json.loads(_record(work_dir).read_text())
    assert record["metrics"]["recall@1"]["value"] >= 0
    _no_temporaries(work_dir)
    assert not [p for p in (cache / "synth").glob(".*") if ".tmp" in p.name]


def test_the_source_digest_follows_every_file_of_the_method_packages(tmp_path, monkeypatch):
    from cvgl_bench.provenance import source_digest

    package = tmp_path / "digest_probe_pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("class Method:\n    pass\n")
    (package / "sub" / "helpers.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    module = importlib.import_module("digest_probe_pkg")
    first = source_digest(module.Method())
    assert first and first == source_digest(module.Method())
    (package / "sub" / "helpers.py").write_text("SCALE = 2\n")  # an edit deep inside the package
    assert source_digest(module.Method()) != first
    sys.modules.pop("digest_probe_pkg", None)


def test_on_corrupt_skip_leaves_out_the_training_pairs_of_an_undecodable_image(trained, tmp_path):
    _, shared_cache = trained
    cache, work_dir = tmp_path / "cache", tmp_path / "work"
    shutil.copytree(shared_cache / "synth", cache / "synth")  # not the decoded-image cache: decode again
    work_dir.mkdir()
    (train_list,) = (cache / "synth").glob("cvusa-tiny-*/splits/train-19zl.csv")
    first_pano = train_list.read_text().splitlines()[0].split(",")[1]
    bad = train_list.parent.parent / first_pano
    bad.write_bytes(b"<html>not an image</html>")

    failed = cli(work_dir, cache, *RUN)
    lines = [line.strip() for line in failed.stderr.splitlines() if line.strip()]
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert lines[-1].startswith("Error: ") and bad.name in lines[-1] and "--on-corrupt skip" in lines[-1]
    assert sum(line.startswith("Error") for line in lines) == 1
    assert not (work_dir / "results").exists()

    proc = cli(work_dir, cache, *RUN, "--on-corrupt", "skip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped 1 of 48 training pairs" in proc.stdout + proc.stderr
    (train_info,) = (work_dir / "runs").rglob("train.json")
    info = json.loads(train_info.read_text())
    assert info["skipped_training_pairs"] == 1 and info["skipped_training_images"][0].endswith(bad.name)
    assert json.loads(_record(work_dir).read_text())["provenance"]["trained_with"]["skipped_training_pairs"] == 1


def test_on_corrupt_skip_counts_an_undecodable_evaluation_image_and_caches_nothing_from_it(trained, tmp_path):
    source, shared_cache = trained
    cache, work_dir = tmp_path / "cache", tmp_path / "work"
    shutil.copytree(shared_cache / "synth", cache / "synth")  # decode (and embed) again
    shutil.copytree(source / "runs", work_dir / "runs")  # reuse the trained model
    (test_list,) = (cache / "synth").glob("cvusa-tiny-*/splits/val-19zl.csv")
    bad = test_list.parent.parent / test_list.read_text().splitlines()[0].split(",")[0]
    bad.write_bytes(b"")  # a zero-byte satellite tile of the test split

    proc = cli(work_dir, cache, *RUN, "--on-corrupt", "skip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 evaluation image(s) could not be decoded" in proc.stderr
    info = json.loads(_record(work_dir).read_text())["provenance"]["data_info"]
    assert info["undecodable_images"] == 1 and info["undecodable_image_files"] == [bad.name]

    again = cli(work_dir, cache, *RUN, "--overwrite", "always")  # the default: fail
    assert again.returncode == 2 and bad.name in again.stderr.strip().splitlines()[-1], again.stderr[-3000:]


def test_an_interrupted_training_resumes_only_with_its_own_thread_count(tmp_path):
    """A resume with another thread count gives the bits of neither run; it is refused in one line."""
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.run.model import SOURCE_INFO, _reusable_checkpoint

    (tmp_path / SOURCE_INFO).write_text(json.dumps({"method_source_sha256": "s", "train_data_version": None,
                                                    "cpu_threads": 1}))
    (tmp_path / "last.pt").write_bytes(b"")
    check = lambda threads: _reusable_checkpoint(tmp_path, "s", None, True, print, "cell", threads)  # noqa: E731
    assert check(1) is None  # resume
    with pytest.raises(ConfigError, match=r"ran with 1 CPU thread\(s\); resume it with --threads 1 .* --restart"):
        check(2)
    assert _reusable_checkpoint(tmp_path, "s", None, False, print, "cell", 2) is False  # --restart
    (tmp_path / "model.pt").write_bytes(b"")
    assert check(2) is True  # a finished model is reused; its train.json says how it was trained


def test_loader_workers_make_no_variant_and_the_same_model(work):
    """The data-loader worker count suits the machine (a small /dev/shm wants 0): it names no
    variant, and each item's own augmentation seed makes the retrained model the same bits."""
    import hashlib

    work_dir, cache = work
    before = hashlib.sha256(_model(work_dir).read_bytes()).hexdigest()
    cell = json.loads(_record(work_dir).read_text())["cell"]
    proc = cli(work_dir, cache, *RUN, "--loader-workers", "2", "--restart")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(_record(work_dir).read_text())  # the one record, rewritten
    assert record["cell"]["variant"] == cell["variant"] == "epochs=1"
    assert record["cell"]["config_hash"] == cell["config_hash"]
    assert record["provenance"]["trained_with"]["loader_workers"] == 2
    assert hashlib.sha256(_model(work_dir).read_bytes()).hexdigest() == before


def test_the_record_says_how_many_threads_trained_the_model(work):
    work_dir, _ = work
    assert json.loads(_record(work_dir).read_text())["provenance"]["trained_with"]["cpu_threads"] == 1
