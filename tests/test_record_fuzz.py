"""tools/record_fuzz.py, the audit of every record field with hostile values: the fields where it
found a crashing board (a record without a reference count, a ranks file name too long for the
file system, a synthetic flag where an object belonged) now give a warning or a board."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_record_fuzzer_finds_no_crash_in_the_fields_where_it_found_them(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / "record_fuzz.py"), "--field", "n_references",
                           "--field", "ranks/file", "--field", "data_info/synthetic"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    cases = [json.loads(line) for line in done.stdout.splitlines()]
    assert {case["field"] for case in cases} >= {"n_references", "ranks/file", "provenance/data_info/synthetic"}
    assert len(cases) > 100 and not [case for case in cases if case["problem"]]
    assert f"# {len(cases)} cases, 0 problem(s)" in done.stderr
    assert not list(tmp_path.glob("cvgl-record-fuzz-*"))  # the scratch folder is removed
