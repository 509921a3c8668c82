"""Hostile values for every CVGL_* environment variable: the audit that found an OverflowError
traceback for CVGL_BENCH_LOCK_TIMEOUT=inf, generator worker counts of 0 or 10**20 taken
without a word, and a progress interval of 'abc' ignored silently.

    python tools/env_fuzz.py                                   # every variable, every value (about 6 min)
    python tools/env_fuzz.py --variable CVGL_BENCH_LOCK_TIMEOUT --value inf --value abc

The variables are found by reading the package and plugin sources for ``CVGL_...`` names, so
a new one is fuzzed without editing this file (with :data:`DEFAULT_COMMAND` until it gets a
command of its own in :data:`COMMANDS`). Each value runs ``python -m cvgl_bench`` in a fresh
process (some variables are read at import), on the tiny synthetic world, with a private empty
cache in a scratch folder, and a timeout. One JSON line per case goes to stdout; the summary
lists what needs a look:

- ``EXIT1``: a traceback: always a bug;
- ``MULTILINE``: an exit-2 error that is not one ``Error:`` line at the end (progress lines of
  the work the value let through may come before it);
- ``ACCEPTED``: exit 0; fine when the value means something (``1``, an empty value read as
  unset), a bug when a nonsense value was ignored without a word;
- ``TIMEOUT``: the value went through to real work.

Run it alone on the machine, and not as root where you can (a value such as ``/dev/null`` names
a device).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALUES = ("", " ", "-1", "0", "nan", "inf", "-inf", "1e400", "99999999999999999999", "abc", "/dev/null", "2.5")
DEFAULT_COMMAND = ("data", "ids", "synth_cvusa_test")
"""Generates the tiny synthetic world into the empty cache: locks, generator workers, progress."""
COMMANDS = {
    "CVGL_BENCH_THREADS": ("run", "-m", "sample4geo", "-d", "synth_cvusa_test", "--dry-run"),
    "CVGL_BENCH_MAX_EMBEDDING_BYTES": ("score", "--dataset", "synth_cvusa_test", "--embeddings", "{embeddings}"),
    "CVGL_BENCH_CONFIG": ("data", "ids", "cvusa_test"),
    "CVGL_DATA_ROOT": ("data", "ids", "cvusa_test"),
    "CVGL_BENCH_DEBUG": ("data", "ids", "nosuch"),
    "CVGL_BENCH_STRICT_PLUGINS": ("methods",),
    "CVGL_BENCH_NO_ENTRYPOINTS": ("methods",),
}
"""The command that reads each variable (others: :data:`DEFAULT_COMMAND`)."""


def variables() -> list[str]:
    """Every ``CVGL_...`` name the package and the shipped plugins read."""
    names: set[str] = set()
    for folder in (ROOT / "cvgl_bench", ROOT / "plugins"):
        for path in folder.rglob("*.py"):
            names.update(re.findall(r"\bCVGL_[A-Z][A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    return sorted(names)


def _embeddings(folder: Path) -> Path:
    """A small embeddings file for ``score`` (the variable is read before the ids are checked)."""
    import numpy as np

    path = folder / "embeddings.npz"
    np.savez(path, query=np.zeros((2, 4), np.float32), reference=np.zeros((2, 4), np.float32),
             query_ids=np.array(["a", "b"]), reference_ids=np.array(["a", "b"]))
    return path


def one_case(scratch: Path, variable: str, value: str, seconds: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVGL_")}
    env.update(PYTHONPATH=str(ROOT), CVGL_BENCH_SYNTH_SIZE="tiny", CVGL_BENCH_CACHE=str(scratch / "cache"),
               OMP_NUM_THREADS="1", CVGL_BENCH_CONFIG=str(scratch / "no-config.yaml"),
               XDG_CACHE_HOME=str(scratch / "xdg"))  # an empty CVGL_BENCH_CACHE means the default: here
    env[variable] = value
    command = [arg.format(embeddings=_embeddings(scratch)) for arg in COMMANDS.get(variable, DEFAULT_COMMAND)]
    case = {"variable": variable, "value": value, "command": " ".join(command)}
    try:
        done = subprocess.run([sys.executable, "-m", "cvgl_bench", *command], env=env, cwd=scratch,
                              capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return {**case, "verdict": "TIMEOUT", "rc": None, "stderr": ""}
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == 0:
        verdict = "ACCEPTED"
    elif "Traceback" in done.stderr or done.returncode == 1:
        verdict = "EXIT1"
    elif done.returncode == 2 and (not lines[-1:] or not lines[-1].startswith("Error: ") or any(
            line.startswith(("Error", " ", "\t")) for line in lines[:-1])):
        verdict = "MULTILINE"  # progress and notes before the one Error: line are work the value let through
    else:
        verdict = "REFUSED"
    return {**case, "verdict": verdict, "rc": done.returncode, "stderr": "\n".join(lines[-3:])[-600:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variable", action="append", default=[], help="only this variable (repeatable)")
    parser.add_argument("--value", action="append", default=[], help="only this value (repeatable)")
    parser.add_argument("--seconds", type=float, default=120.0, help="timeout of one case (default 120)")
    args = parser.parse_args(argv)
    found = variables()
    unknown = sorted(set(args.variable) - set(found))
    if unknown:
        parser.error(f"no source reads {', '.join(unknown)}; the variables are: {', '.join(found)}")
    counts: dict[str, int] = {}
    look: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cvgl-env-fuzz-") as tmp:
        cases = [(variable, value) for variable in args.variable or found for value in args.value or VALUES]
        for number, (variable, value) in enumerate(cases):
            scratch = Path(tmp) / str(number)
            scratch.mkdir()
            case = one_case(scratch, variable, value, args.seconds)
            shutil.rmtree(scratch, ignore_errors=True)
            print(json.dumps(case), flush=True)
            counts[case["verdict"]] = counts.get(case["verdict"], 0) + 1
            if case["verdict"] in ("EXIT1", "MULTILINE"):
                look.append(f"{variable}={value!r}: {case['verdict']}: {case['stderr'].splitlines()[-1:]}")
    print(f"# {sum(counts.values())} cases: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())),
          file=sys.stderr)
    for line in look:
        print(f"  {line}", file=sys.stderr)
    return 1 if look else 0


if __name__ == "__main__":
    sys.exit(main())
