"""Hostile values for every key of a suite file: the audit that found ``transfer: -1`` (any
scalar in place of the list) ending ``grid`` and ``leaderboard --suite`` in a TypeError traceback.

    python tools/suite_fuzz.py                          # every key, every value, both commands (about 2 min)
    python tools/suite_fuzz.py --key transfer --command grid

The keys are the parser's own (``cvgl_bench.run.suite.KEYS``), so a new key is fuzzed without
editing this file. Each case replaces one key of a working suite with one of :data:`VALUES`
(null, blanks, NaN, 10**30, booleans, nested lists and mappings of the wrong kind, a
3,000-character name, ``../x``...), writes it as YAML in a scratch folder and runs, in this
process through click's test runner, ``grid SUITE --dry-run`` and ``leaderboard --suite SUITE``
on the committed synthetic records. A case needs a look when it ends in a traceback (``EXIT1``)
or in an exit-2 error of more than one ``Error:`` line (``MULTILINE``); one JSON line per such
case goes to stdout, a count of every verdict to stderr, and the exit code is 1 when any case
needs a look. Nothing is trained or generated: ``--dry-run`` lists cells, and the board reads
records.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = {"name": "fuzzed", "profile": "cpu", "methods": ["sample4geo"], "splits": ["synth_cvusa_test"], "seeds": [0]}
VALUES = (None, "", " ", 0, -1, 1.5, float("nan"), 10**30, True, [], {}, [None], [[]], [{}], ["x"] * 3, "x" * 3000,
          {"a": 1}, [1.5], [-1], [True], ["../x"], "nosuch", [10**30], {"synth_cvusa_test": None},
          {"synth_cvusa_test": [None]}, {"synth_cvusa_test": "x"}, [{"method": None}],
          [{"method": "sample4geo", "set": None}], [{"method": "sample4geo", "set": "lr=1"}],
          [{"method": "sample4geo", "set": ["lr"]}], [{"method": "sample4geo", "set": [5]}],
          [{"method": "sample4geo", "set": ["lr=1"], "splits": "x"}], [["synth_cvusa_train"]], [["a", "b", "c"]],
          [[None, None]], {"ties": None}, {"ties": ["x"]}, {None: 1}, {1: 2})
COMMANDS = ("grid", "leaderboard")


def _verdict(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "EXIT1"
    if result.exit_code == 0:
        return "ACCEPTED"
    return "ok" if result.exit_code == 2 and len(errors) == 1 else "MULTILINE" if result.exit_code == 2 \
        else f"EXIT{result.exit_code}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", action="append", default=[], help="only this suite key (repeatable)")
    parser.add_argument("--command", action="append", default=[], choices=COMMANDS,
                        help="only this command (repeatable; default: both)")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="cvgl-suite-fuzz-"))
    os.environ.update(CVGL_BENCH_SYNTH_SIZE="tiny", CVGL_BENCH_CACHE=str(scratch / "cache"))
    import yaml
    from click.testing import CliRunner

    from cvgl_bench.cli import cli
    from cvgl_bench.run.suite import KEYS

    unknown = sorted(set(args.key) - set(KEYS))
    if unknown:
        parser.error(f"no suite key {unknown[0]!r}; keys: {', '.join(KEYS)}")
    results = ROOT / "leaderboards" / "synth" / "results"
    counts: dict[str, int] = {}
    try:
        for key in args.key or KEYS:
            for n, value in enumerate(VALUES):
                suite = scratch / f"{key}-{n}.yaml"
                suite.write_text(yaml.safe_dump({**BASE, key: value}))
                for command in args.command or COMMANDS:
                    line = ["grid", str(suite), "--dry-run"] if command == "grid" else [
                        "leaderboard", "--suite", str(suite), "--results", str(results), "--out",
                        str(scratch / "board"), "--no-plots"]
                    result = CliRunner().invoke(cli, line)
                    verdict = _verdict(result)
                    counts[verdict] = counts.get(verdict, 0) + 1
                    if verdict in ("EXIT1", "MULTILINE") or verdict.startswith("EXIT"):
                        print(json.dumps({"key": key, "value": repr(value)[:60], "command": command,
                                          "verdict": verdict, "exception": repr(result.exception)[:300],
                                          "output": result.output[-300:]}), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"# {sum(counts.values())} cases: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    return 1 if set(counts) - {"ok", "ACCEPTED"} else 0


if __name__ == "__main__":
    sys.exit(main())
