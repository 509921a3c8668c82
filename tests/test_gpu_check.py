"""benchmarks/gpu/check.sh --dry-run: the GPU check's code paths run on a CPU (its figures mean nothing here)."""

from __future__ import annotations

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
    assert result["score"]["torch"]["seconds"] > 0
    if "seconds" in result["score"].get("faiss", {}):
        assert result["score"]["identical_ranks"] is True
    assert result["embed"]["ground"]["images_per_s"] > 0 and result["embed"]["satellite"]["images_per_s"] > 0


def test_the_full_check_refuses_a_machine_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "check.py")], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "no GPU here" in done.stderr and "--dry-run" in done.stderr
