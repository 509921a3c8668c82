"""tools/env_fuzz.py, the audit of every CVGL_* variable with hostile values, finds the variables
and reports: the values where it found a traceback and a count taken without a word are refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import env_fuzz  # noqa: E402


def test_the_variables_are_found_in_the_sources():
    found = env_fuzz.variables()
    assert {"CVGL_BENCH_LOCK_TIMEOUT", "CVGL_BENCH_SYNTH_WORKERS", "CVGL_BENCH_THREADS", "CVGL_DATA_ROOT"} <= set(found)
    assert set(env_fuzz.COMMANDS) <= set(found)  # no command kept for a variable that is gone


def test_the_environment_fuzzer_runs_and_flags_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / "env_fuzz.py"), "--variable", "CVGL_BENCH_LOCK_TIMEOUT",
                           "--variable", "CVGL_BENCH_SYNTH_WORKERS", "--value", "inf", "--value", "0.5x"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    cases = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["variable"], c["value"], c["verdict"]) for c in cases] == [
        ("CVGL_BENCH_LOCK_TIMEOUT", "inf", "REFUSED"), ("CVGL_BENCH_LOCK_TIMEOUT", "0.5x", "REFUSED"),
        ("CVGL_BENCH_SYNTH_WORKERS", "inf", "REFUSED"), ("CVGL_BENCH_SYNTH_WORKERS", "0.5x", "REFUSED")]
    assert "# 4 cases: 4 REFUSED" in done.stderr and not list(tmp_path.glob("cvgl-env-fuzz-*"))
