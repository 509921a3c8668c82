"""A training run leaves train.log, scalars.csv (and TensorBoard events) beside its checkpoint; a
plugin receives the scalars; progress in a log file is plain lines."""

from __future__ import annotations

import csv
import io
import types
from pathlib import Path

import pytest

from cvgl_bench import hookimpl
from cvgl_bench.progress import PlainProgress, progress
from cvgl_bench.run import Cell, RunOptions, run_cell
from cvgl_bench.train.runlog import FIELDS, RunLog

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


def _sink(received: list, fail: bool = False):
    module = types.ModuleType("scalar_sink" + ("_failing" if fail else ""))

    @hookimpl
    def cvgl_bench_training_scalars(scalars, step):
        if fail:
            raise RuntimeError("the dashboard is down")
        received.append((step, dict(scalars)))

    module.cvgl_bench_training_scalars = cvgl_bench_training_scalars
    return module


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_run_writes_its_log_and_scalars_and_feeds_the_hook(make_host, tiny_world, tmp_path):
    received: list = []
    lines: list[str] = []
    host = make_host(toy_methods, _sink(received), _sink([], fail=True))
    options = RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                         log=lines.append)
    result = run_cell(Cell("tiny", ("synth_cvusa_test",)), options, host)
    assert result.trained
    (workdir,) = [p.parent for p in (tmp_path / "runs").rglob("model.pt")]
    log = (workdir / "train.log").read_text()
    assert "epoch 1/" in log and "epoch 2/" in log  # the toy recipe trains 2 epochs
    rows = _rows(workdir / "scalars.csv")
    assert tuple(rows[0]) == FIELDS
    steps = [int(r["step"]) for r in rows if r["tag"] == "train/loss"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2
    tags = {r["tag"] for r in rows}
    assert {"train/loss", "train/lr", "train/images_per_s", "epoch/loss", "epoch/images_per_s"} <= tags
    epoch_losses = [float(r["value"]) for r in rows if r["tag"] == "epoch/loss"]
    history_losses = [e["loss"] for e in __import__("json").loads((workdir / "history.json").read_text())]
    assert epoch_losses == pytest.approx(history_losses)
    assert [step for step, scalars in received if "train/loss" in scalars] == steps
    failures = [line for line in lines if "training-scalars sink" in line]
    assert len(failures) == 1 and "the dashboard is down" in failures[0] and "not called again" in failures[0]


def test_a_resumed_run_keeps_the_rows_up_to_its_checkpoint(tmp_path):
    log = RunLog(tmp_path, tensorboard=False)
    for step in range(1, 7):
        log.scalars({"train/loss": 1.0 / step}, step=step, epoch=1 + (step > 3))
    log.close()
    resumed = RunLog(tmp_path, resume_step=3, tensorboard=False)  # the checkpoint was after step 3
    resumed.scalars({"train/loss": 0.5}, step=4, epoch=2)
    resumed.close()
    assert [int(r["step"]) for r in _rows(tmp_path / "scalars.csv")] == [1, 2, 3, 4]


def test_tensorboard_events_when_the_package_is_installed(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard package is not installed (pip install tensorboard)")
    log = RunLog(tmp_path, tensorboard=True)
    log.scalars({"train/loss": 1.0}, step=1, epoch=1)
    log.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_progress_in_a_log_file_is_plain_lines():
    stream = io.StringIO()
    bar = PlainProgress(10, desc="epoch 1/2", unit="batch", stream=stream, every_s=0.0)
    for _ in range(10):
        bar.set_postfix(loss="0.5")
        bar.update()
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and "epoch 1/2: 10/10 (100%) batch" in text and "loss=0.5" in text
    assert len(text.splitlines()) == 10  # every update (every_s=0) but the last, plus the closing line


def test_progress_is_tqdm_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr("cvgl_bench.progress.is_terminal", lambda stream=None: False)
    assert isinstance(progress(5, desc="x"), PlainProgress)
    monkeypatch.setattr("cvgl_bench.progress.is_terminal", lambda stream=None: True)
    bar = progress(5, desc="x", disable=True)
    assert type(bar).__name__ == "tqdm"
    bar.close()


def test_a_dropped_scalars_sink_is_still_a_results_sink(make_host, tmp_path):
    """Dropping a failed training-scalars sink drops that hook only, not the plugin's other sinks."""
    records: list = []
    module = types.ModuleType("two_sinks")

    @hookimpl
    def cvgl_bench_training_scalars(scalars):
        raise RuntimeError("the dashboard is down")

    @hookimpl
    def cvgl_bench_record_written(record):
        records.append(record["n"])

    module.cvgl_bench_training_scalars = cvgl_bench_training_scalars
    module.cvgl_bench_record_written = cvgl_bench_record_written
    host = make_host(module)
    (warning,) = host.training_scalars({"train/loss": 1.0}, step=1, epoch=1, workdir=tmp_path)
    assert "two_sinks" in warning and "not called again" in warning
    assert host.training_scalars({"train/loss": 0.5}, step=2, epoch=1, workdir=tmp_path) == []
    assert host.record_written({"n": 1}, tmp_path / "r.json") == [] and records == [1]
