"""tools/suite_fuzz.py, the audit of every suite key with hostile values: it runs, and finds no
traceback where it found one (``transfer: -1``)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_suite_fuzzer_finds_no_traceback_in_transfer(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / "suite_fuzz.py"), "--key", "transfer", "--command",
                           "grid"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout == ""
    assert done.stderr.startswith("# 39 cases: ") and "ok" in done.stderr
    assert not list(tmp_path.glob("cvgl-suite-fuzz-*"))
