"""Golden record: a tiny synthetic split, one method trained for one epoch on CPU with one thread,
must reproduce the committed metrics, ranks and checkpoint bit for bit.

Anything that moves results (a recipe, the trainer, the synthetic generator, the pretrained
weights, the evaluation) fails this test. Such a change must update the golden record in the
same commit, on purpose, saying why in the commit message::

    CVGL_BENCH_UPDATE_GOLDEN=1 bash scripts/test.sh tests/test_golden.py

(docs/reproducibility.md says what reproduces bit for bit and what only within its interval.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvgl_bench.results import ranks_path

GOLDEN = Path(__file__).parent / "data" / "golden" / "sample4geo_cpu_synth_cvusa_test_tiny.json"
# no warm-up: the tiny split is one step per epoch, and a warm-up from 0 would leave the weights
# untouched, so the golden checkpoint would not see the optimiser at all
COMMAND = ["run", "--method", "sample4geo", "--dataset", "synth_cvusa_test", "--set", "epochs=1", "--set",
           "warmup_epochs=0", "--seed", "0", "--threads", "1"]
UPDATE = "CVGL_BENCH_UPDATE_GOLDEN"


def _run_cell(tmp_path: Path) -> dict:
    env = {**os.environ, "CVGL_BENCH_NO_ENTRYPOINTS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CVGL_BENCH_CACHE": str(tmp_path / "cache"),
           "CVGL_BENCH_SYNTH_SIZE": "tiny", "CVGL_BENCH_SYNTH_SEED": "0"}
    done = subprocess.run([sys.executable, "-m", "cvgl_bench", *COMMAND, "--results", str(tmp_path / "results"),
                           "--runs", str(tmp_path / "runs")], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (record_path,) = sorted((tmp_path / "results").rglob("*.json"))
    record = json.loads(record_path.read_text())
    with np.load(ranks_path(record_path)) as arrays:
        ranks = {name: arrays[name].tolist() for name in sorted(arrays.files)}
    return {
        "command": "cvgl-bench " + " ".join(COMMAND),
        "environment": {"OMP_NUM_THREADS": "1", "CVGL_BENCH_SYNTH_SIZE": "tiny", "CVGL_BENCH_SYNTH_SEED": "0"},
        "generator_version": record["provenance"]["data_info"]["synthetic"]["generator_version"],
        "hparams": record["cell"]["hparams"],
        "metrics": {name: metric["value"] for name, metric in record["metrics"].items()},
        "checkpoint_sha256": record["checkpoint"]["sha256"],
        "dataset_fingerprint": record["provenance"]["dataset_fingerprint"],
        "train_fingerprint": record["provenance"]["train_fingerprint"],
        "ranks": ranks,
        "cpu_capability": _cpu_capability(),
    }


def _cpu_capability() -> str:
    """The SIMD level torch dispatches to: float results are bit-exact only within one level."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


@pytest.mark.timeout(900)
def test_one_epoch_on_a_tiny_split_reproduces_the_golden_record(tmp_path):
    got = _run_cell(tmp_path)
    if os.environ.get(UPDATE):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"golden record rewritten: {GOLDEN}")
    assert GOLDEN.exists(), f"no golden record; create it with {UPDATE}=1"
    want = json.loads(GOLDEN.read_text())
    hint = (f"results moved: if on purpose, rerun with {UPDATE}=1 and commit {GOLDEN.name} saying why "
            f"(docs/reproducibility.md)")
    assert got["dataset_fingerprint"] == want["dataset_fingerprint"], "the tiny synthetic split changed; " + hint
    assert got["train_fingerprint"] == want["train_fingerprint"], "the tiny synthetic training split changed; " + hint
    assert got["hparams"] == want["hparams"], "the recipe changed; " + hint
    if got["cpu_capability"] != want["cpu_capability"]:
        pytest.skip(f"bitwise part needs a {want['cpu_capability']} CPU (this one: {got['cpu_capability']}); "
                    "data and recipe matched")
    assert got["checkpoint_sha256"] == want["checkpoint_sha256"], "training produced other weights; " + hint
    assert got["ranks"] == want["ranks"], "the ranks changed; " + hint
    assert got["metrics"] == want["metrics"], "the metrics changed; " + hint
