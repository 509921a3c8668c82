"""Hostile values for every option of every command: the audit that found a device replaced by an atomic write,
unbounded worker processes and threads, numpy tracebacks and options ignored without a word.

    python tools/option_fuzz.py                     # every command, every option, every value (about 40 min)
    python tools/option_fuzz.py run grid --few      # two commands, the values of FEW (10 names, 6 numbers)
    python tools/option_fuzz.py grid@slurm          # grid's Slurm options, on submitit's debug cluster
    python tools/option_fuzz.py synth --option --size --seconds 20
    python tools/option_fuzz.py run score --few --notes # is each refusal printed before every note?

Each option of each command (found by walking the click tree: a new option is fuzzed without
editing this file) gets, one at a time, values a user or a script can pass by mistake: empty,
a dash, a FIFO, a device, a folder, a text file, NaN, negative, huge, a 3,000-character name...
on top of a base command that works on the tiny synthetic world. Each invocation runs in this
process through click's test runner, in its own scratch folder, and is stopped by an alarm after
``--seconds`` (the value was accepted and work began). A line per invocation goes to stdout as
JSON; the summary at the end lists what needs a look:

- ``EXIT1``: an unexpected exception (a traceback, exit 1): always a bug;
- ``MULTILINE``: an exit-2 error that is not one ``Error:`` line;
- ``NOISY``: an exit-2 error printed after an informing line (``[cvgl-bench] note: ...``, a
  skipped method): a refusal must come before them. ``--notes`` gives each base command an option
  it notes as unread (``--data-root`` on its synthetic splits) so that every value tests this;
- ``ACCEPTED``: exit 0; fine for most values, but a value that was silently ignored is a bug;
- ``TIMEOUT``: the value went through to real work; fine unless the value was nonsense.

It needs a scratch folder on a disk with a few GB free, and should run alone on the machine: an
accepted hostile value can start training or generation. Run it as an unprivileged user where
you can: a bug of the kind it hunts (an atomic write renaming a file over ``/dev/null``) is
harmful as root. Nothing it writes is left outside the scratch folder (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEW = ("", "-1", "0", "1.5", "nan", "a=b=c", "\n", "99999999999999999999", "x" * 3000, "{fifo}", "{dir}", "{text}",
       "/dev/null")
STRINGS = ("", " ", "-", "ä", "x" * 3000, "/dev/null", "/dev/full", "{fifo}", "{dir}", "{text}", "nan", "-1", "1e309",
           "99999999999999999999999", "a=b=c", "=", "\n", "~", "{}", "[")
INTEGERS = ("-1", "0", "2147483648", "99999999999999999999", "1.5", "", "0x10", "nan")


class _Alarm(BaseException):
    """Raised by SIGALRM inside the command: the value went through to real work."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Alarm()


def _base_commands(scratch: Path, work: Path) -> dict[str, list[str]]:
    """A working invocation of each command, which one option at a time is added to or replaced in."""
    suite = scratch / "suite.yaml"
    suite.write_text("methods: [sample4geo]\nsplits: [synth_cvusa_test]\n")
    results, runs = str(work / "results"), str(work / "runs")
    return {
        "run": ["run", "-m", "sample4geo", "-d", "synth_cvusa_test", "--results", results, "--runs", runs],
        "grid": ["grid", str(suite), "--results", results, "--runs", runs],
        # the Slurm options on the path they take: submitit's debug cluster, submitting without waiting
        "grid@slurm": ["grid", str(suite), "--executor", "slurm", "--slurm-cluster", "debug", "--no-wait",
                       "--results", results, "--runs", runs],
        "leaderboard": ["leaderboard", "--results", str(ROOT / "leaderboards" / "synth" / "results"),
                        "--out", str(work / "board"), "--no-examples"],
        "score": ["score", "--dataset", "synth_cvusa_test", "--embeddings", str(scratch / "embeddings.npz")],
        "synth": ["synth", "--layout", "cvusa", "--out", str(work / "synth"), "--size", "tiny", "--quiet"],
        "data check": ["data", "check", "synth_cvusa"],
        "data ids": ["data", "ids", "synth_cvusa_test"],
        "new-plugin": ["new-plugin", "fuzzed", "--dir", str(work / "plugin")],
        "check-plugin": ["check-plugin", "sample4geo", "--quick"],
    }


def _write_embeddings(path: Path) -> None:
    """Random embeddings carrying the tiny synth_cvusa_test's own ids, so that ``score`` gets past reading them."""
    import numpy as np

    from cvgl_bench.data.splits import load_split
    from cvgl_bench.plugins import PluginHost

    host = PluginHost().load()
    data = load_split(host.splits.get("synth_cvusa_test"), None, {}, host, verify_files=False)
    rng = np.random.default_rng(0)
    np.savez(path, query=rng.normal(size=(len(data.queries.ids), 16)).astype("f4"),
             reference=rng.normal(size=(len(data.references.ids), 16)).astype("f4"),
             query_ids=np.array([str(i) for i in data.queries.ids]),
             reference_ids=np.array([str(i) for i in data.references.ids]))


def _invoke(cli, args: list[str], seconds: int) -> tuple[int | str, str]:
    from click.testing import CliRunner

    signal.alarm(seconds)
    try:
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
    except _Alarm:
        return "TIMEOUT", ""
    finally:
        signal.alarm(0)
    if isinstance(result.exception, _Alarm):
        return "TIMEOUT", result.output
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        output += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return result.exit_code, output


def _verdict(code: int | str, output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error") or "Traceback" in line]
    if code == 1 or "Traceback" in output:
        return "EXIT1"
    if code == "TIMEOUT":
        return "TIMEOUT"
    if code == 0:
        return "ACCEPTED"
    if code == 2 and len(errors) == 1:
        before = output[:output.index(errors[0])]
        return "NOISY" if any(line.startswith("[cvgl-bench") for line in before.splitlines()) else "ok"
    return "MULTILINE" if code == 2 else f"EXIT{code}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs="*", help="commands to fuzz (default: every one with a base command)")
    parser.add_argument("--option", action="append", default=[], help="only this option (repeatable)")
    parser.add_argument("--few", action="store_true", help="only the values in FEW (10 per name, 6 per number)")
    parser.add_argument("--seconds", type=int, default=12, help="alarm per invocation (default 12)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--notes", action="store_true",
                        help="add to each base command an option it notes as unread, to find refusals made after it")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="cvgl-option-fuzz-"))
    (scratch / "home").mkdir()  # a value '~/x' (or '~') is the home folder: keep it in the scratch folder too
    os.environ.update(CVGL_BENCH_SYNTH_SIZE="tiny", CVGL_BENCH_CACHE=str(scratch / "cache"), HOME=str(scratch / "home"))
    import click

    from cvgl_bench.cli import cli

    signal.signal(signal.SIGALRM, _on_alarm)
    fifo, folder, text = scratch / "fifo", scratch / "folder", scratch / "text.txt"
    os.mkfifo(fifo)
    folder.mkdir()
    text.write_text("hello\n")
    fill = {"{fifo}": str(fifo), "{dir}": str(folder), "{text}": str(text)}
    commands = _base_commands(scratch, scratch / "work")
    unknown = sorted(set(args.commands) - set(commands))
    if unknown:
        parser.error(f"no base command for {', '.join(unknown)}; choose from {', '.join(commands)}")
    if "score" in (args.commands or commands):
        _write_embeddings(scratch / "embeddings.npz")
    counts: dict[str, int] = {}
    flagged = []
    try:
        for name in args.commands or commands:
            command = cli
            for part in name.split("@")[0].split():
                command = command.get_command(click.Context(command), part)
            for param in command.params:
                if not isinstance(param, click.Option) or param.is_flag or isinstance(param.type, click.Choice):
                    continue
                if name.endswith("@slurm") and "slurm" not in (param.help or "").lower():
                    continue  # the others are fuzzed on the plain command
                option = max(param.opts, key=len)
                if args.option and option not in args.option:
                    continue
                integer = isinstance(param.type, click.types.IntParamType)
                values = [v for v in (INTEGERS if integer else STRINGS) if not args.few or v in FEW]
                for value in values:
                    work = Path(tempfile.mkdtemp(prefix="case-", dir=scratch))
                    base = _base_commands(scratch, work)[name]
                    if option in base:
                        at = base.index(option)
                        base = base[:at] + base[at + 2:]
                    noted = {"synth": "--drone-size"}.get(name, "--data-root")  # cvusa has no drone view
                    if args.notes and option != noted and any(noted in p.opts for p in command.params):
                        base = [*base, noted, "64" if noted == "--drone-size" else str(scratch / "unread-root")]
                    cwd = os.getcwd()
                    os.chdir(work)
                    try:
                        code, output = _invoke(cli, [*base, option, fill.get(value, value)], args.seconds)
                    finally:
                        os.chdir(cwd)
                        shutil.rmtree(work, ignore_errors=True)
                    verdict = _verdict(code, output)
                    counts[verdict] = counts.get(verdict, 0) + 1
                    lines = [line for line in output.strip().splitlines() if line.strip()]
                    case = {"command": name, "option": option, "value": value[:40], "code": code, "verdict": verdict,
                            "last": lines[-1][:300] if lines else ""}
                    if verdict != "ok":
                        flagged.append(case)
                    print(json.dumps(case), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"# {sum(counts.values())} invocations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    for case in flagged:
        print(f"# {case['verdict']:9} {case['command']} {case['option']} {case['value']!r}: {case['last'][:160]}",
              file=sys.stderr)
    return 1 if counts.get("EXIT1") else 0


if __name__ == "__main__":
    sys.exit(main())
