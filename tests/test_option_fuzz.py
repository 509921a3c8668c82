"""tools/option_fuzz.py, the audit of every option with hostile values, runs and reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_option_fuzzer_runs_a_command_and_flags_nothing_as_a_crash(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / "option_fuzz.py"), "new-plugin", "--few"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    cases = [json.loads(line) for line in done.stdout.splitlines()]
    assert {case["option"] for case in cases} == {"--dir"} and len(cases) >= 8
    assert not [case for case in cases if case["verdict"] in ("EXIT1", "MULTILINE")]
    assert f"# {len(cases)} invocations:" in done.stderr
    assert not list(tmp_path.glob("cvgl-option-fuzz-*"))  # the scratch folder is removed
