"""Hostile values in every field of a result record: the audit that found a board that crashed on
a record without a reference count, on a ranks file name too long for the file system, and on a
synthetic flag where an object belonged.

    python tools/record_fuzz.py                      # every field, every value (about 5 min)
    python tools/record_fuzz.py --field cell/variant --field n_references

A record is what a shared results folder holds from anyone: the leaderboard must leave a bad one
out with a warning, or show it, and never crash or write outside its output folder. This takes a
committed record with its ranks (and a second seed of the same cell beside it), and replaces one
field at a time (every leaf, every object and list, the hparams as one) by a value such a record
could hold: null, empty, a 3,000-character string, a negative, 2**70, 1e308, NaN, infinity, a
list, an object, a bool, ``../../x``, ``<script>``... It then builds the board and renders it in
every format, in this process, in a scratch folder. One JSON line per case goes to stdout; the
summary lists each case that raised anything but a cvgl-bench error (a traceback for a user)
or wrote a file outside the scratch folder's results and output. Exit code 1 when there is one.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "leaderboards" / "synth" / "results" / "clnet" / "cpu" / "synth_cvact_train__synth_cvact_test__seed0.json"
VALUES: tuple[Any, ...] = (None, "", "x" * 3000, -1, 0, 2**70, 1e308, -1e308, float("nan"), float("inf"), [], {}, True,
                           "../../x", "<script>alert(1)</script>", [1, 2], {"a": 1}, "1", 1.5)


def fields(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every place of ``value`` to replace: each object and list (the first two items of a list
    inside), each leaf; ``cell.hparams`` as a whole (a method's recipe, not the record's schema)."""
    if path:
        yield path
    if isinstance(value, dict) and path != ("cell", "hparams"):
        for key, item in value.items():
            yield from fields(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from fields(item, (*path, index))


def replaced(record: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(record)
    place = out
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    return out


def one_case(scratch: Path, record_path: Path, record: dict, host: Any) -> str | None:
    """Build and render a board of ``record`` beside its second seed; what went wrong, or None."""
    from cvgl_bench import leaderboard as lb
    from cvgl_bench.errors import UserError

    folder = scratch / "results" / record_path.parent.parent.name / record_path.parent.name
    folder.mkdir(parents=True)
    for seed in ("seed0", "seed1"):
        stem = record_path.name[: -len(".json")].replace("seed0", seed)
        shutil.copy(record_path.parent / f"{stem}.ranks.npz", folder)
        if seed == "seed1":
            shutil.copy(record_path.parent / f"{stem}.json", folder)
    (folder / record_path.name).write_text(json.dumps(record))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            board = lb.build(scratch / "results", host=host)
            for fmt in ("md", "html", "csv", "latex"):
                lb.render(board, scratch / "out" / fmt, fmt, plots=False, host=host, examples=False)
                lb.render_text(board, fmt)
    except UserError:
        pass
    except Exception as exc:  # noqa: BLE001 - what the audit looks for
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    stray = [str(p) for p in scratch.rglob("*") if p.is_file() and p.relative_to(scratch).parts[0] not in
             ("results", "out")]
    return f"wrote outside the board: {stray}" if stray else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, default=RECORD, help="a record JSON file with its ranks and a seed1 "
                                                                    "record beside it (default: a committed one)")
    parser.add_argument("--field", action="append", default=[], help="only fields whose path holds this text "
                                                                     "(repeatable), e.g. cell/variant")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cvgl_bench.plugins import get_host

    host = get_host()
    base = json.loads(args.record.read_text())
    found, cases = [], 0
    with tempfile.TemporaryDirectory(prefix="cvgl-record-fuzz-") as tmp:
        for path in fields(base):
            name = "/".join(map(str, path))
            if args.field and not any(text in name for text in args.field):
                continue
            for value in VALUES:
                cases += 1
                scratch = Path(tmp) / str(cases)
                problem = one_case(scratch, args.record, replaced(base, path, value), host)
                shutil.rmtree(scratch, ignore_errors=True)
                print(json.dumps({"field": name, "value": repr(value)[:40], "problem": problem}), flush=True)
                if problem:
                    found.append(f"{name} = {repr(value)[:40]}: {problem}")
    print(f"# {cases} cases, {len(found)} problem(s)", file=sys.stderr)
    for line in found:
        print(f"  {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
