"""Golden record: a tiny synthetic split, one method trained for one epoch on CPU with one thread,
must reproduce the committed metrics, ranks and checkpoint bit for bit.

Anything that moves results (a recipe, the trainer, the synthetic generator, the pretrained
weights, the evaluation) fails this test. Such a change must update the golden record in the
same commit, on purpose, saying why in the commit message::

    CVGL_BENCH_UPDATE_GOLDEN=1 bash scripts/test.sh tests/test_golden.py

Float results are bit-exact only on one kind of CPU (the same torch code gives other weights on
an AMD EPYC than on an Intel Xeon, both AVX512), so there is one golden record per CPU vendor,
SIMD level and training precision (the cpu recipe's bf16 trains in float32 on a CPU without
native bfloat16: cvgl_bench/train/precision.py). Every record checks the data and the recipe; the bitwise part runs against this
CPU's own record. An update writes this CPU's record and deletes the others (they no longer hold
the current results; the other CPU's next update writes its own again).

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

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
GOLDEN_STEM = "sample4geo_cpu_synth_cvusa_test_tiny"
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
        "cpu_vendor": _cpu_vendor(),
        "train_precision": record["provenance"]["trained_with"].get("train_precision", "float32"),
    }


def _cpu_capability() -> str:
    """The SIMD level torch dispatches to: float results are bit-exact only within one level."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def _cpu_vendor() -> str:
    """``vendor_id`` of /proc/cpuinfo (GenuineIntel, AuthenticAMD), else the platform's processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def golden_path(vendor: str, capability: str, precision: str) -> Path:
    """This CPU kind's golden record."""
    safe = "".join(c if c.isalnum() else "_" for c in f"{vendor}-{capability}-{precision}")
    return GOLDEN_DIR / f"{GOLDEN_STEM}.{safe}.json"


@pytest.mark.timeout(900)
def test_one_epoch_on_a_tiny_split_reproduces_the_golden_record(tmp_path):
    got = _run_cell(tmp_path)
    mine = golden_path(got["cpu_vendor"], got["cpu_capability"], got["train_precision"])
    if os.environ.get(UPDATE):
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for other in GOLDEN_DIR.glob(f"{GOLDEN_STEM}.*.json"):
            other.unlink()
        mine.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"golden record rewritten: {mine} (the other CPUs' records were deleted)")
    records = sorted(GOLDEN_DIR.glob(f"{GOLDEN_STEM}.*.json"))
    assert records, f"no golden record; create it with {UPDATE}=1"
    hint = (f"results moved: if on purpose, rerun with {UPDATE}=1 and commit {mine.name} saying why "
            f"(docs/reproducibility.md)")
    for path in records:
        want = json.loads(path.read_text())
        assert got["dataset_fingerprint"] == want["dataset_fingerprint"], "the tiny synthetic split changed; " + hint
        assert got["train_fingerprint"] == want["train_fingerprint"], \
            "the tiny synthetic training split changed; " + hint
        assert got["hparams"] == want["hparams"], "the recipe changed; " + hint
    if not mine.exists():
        pytest.skip(f"bitwise part: no golden record for this CPU ({got['cpu_vendor']}, {got['cpu_capability']}, "
                    f"{got['train_precision']}); "
                    f"data and recipe matched {', '.join(p.name for p in records)}")
    want = json.loads(mine.read_text())
    assert got["checkpoint_sha256"] == want["checkpoint_sha256"], "training produced other weights; " + hint
    assert got["ranks"] == want["ranks"], "the ranks changed; " + hint
    assert got["metrics"] == want["metrics"], "the metrics changed; " + hint
