"""benchmarks/gpu/check.sh --dry-run: the GPU check's code paths run on a CPU (its figures mean nothing here)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_check_runs_dry_on_a_cpu(tmp_path):
    pytest.importorskip("cvgl_bench_sample4geo", reason="the check trains the sample4geo plugin's paper profile")
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu" / "check.sh"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] and result["device"] == "cpu"
    for section in ("train", "torchrun"):
        assert result[section]["steps"] == 2 and result[section]["images_per_s"] > 0, result[section]
        assert 0.0 <= result[section]["data_wait_share"] <= 1.0
    assert result["torchrun"]["processes"] == 2  # the dry run's torchrun is two gloo processes
    assert result["score"]["torch"]["seconds"] > 0
    assert result["embed"]["ground"]["images_per_s"] > 0 and result["embed"]["satellite"]["images_per_s"] > 0
    assert result["failed"] == []
    ran = {name for name, held in result["checks"].items() if held is not None}
    assert {"torchrun: first loss equals one process's", "resume: bit-identical on the CPU",
            "score: device ranks equal the CPU engine's", "score: TF32 switched on changes no rank"} <= ran
    for line in ("check ok   torchrun: first loss equals one process's", "check ok   resume: continued after epoch 1"):
        assert line in done.stderr


def _check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu" / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_check_that_does_not_hold_fails_and_one_not_run_is_skipped():
    module = _check_module()
    result = {"train": {"losses_finite": True, "first_loss": 2.0},
              "torchrun": {"processes": 2, "first_loss": 2.5, "losses_finite": True},
              "resume": {"resumed_after_epoch": 1, "bit_identical": False},
              "score": {"device_equals_cpu": True, "tf32_on_equals_cpu": False}}
    held = module.checks(result, "cuda")
    assert held["torchrun: first loss equals one process's"] is False
    assert held["score: TF32 switched on changes no rank"] is False
    assert held["resume: bit-identical on the CPU"] is None  # a GPU is not deterministic: reported, not checked
    assert held["score: faiss ranks equal torch's"] is None  # faiss not installed
    one_gpu = module.checks({**result, "torchrun": {"processes": 1, "first_loss": 9.0}}, "cuda")
    assert one_gpu["torchrun: first loss equals one process's"] is None
    assert module.checks({"train": {"error": "out of memory", "batch": 128}}, "cuda") == {
        "train: ran, every loss finite": False}


def test_the_full_check_refuses_a_machine_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "check.py")], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "no GPU here" in done.stderr and "--dry-run" in done.stderr
