"""Stale records: results made by older code than the checkout that renders them.

A record carries the git revision it was made at and, for synthetic data, the generator
version. A table whose records predate a change to the code that trains, generates, loads or
scores them no longer shows what the committed code produces; its page says so ("stale") and
names the revision, so a reader knows to regenerate it instead of trusting it.

Two checks, each used when it can be made:

* the generator version of a synthetic record against its layout's current
  :func:`~cvgl_bench.data.synth.dataset_version` (always);
* the commits after ``<revision>`` that touch :data:`RESULT_CODE`, in the checkout that holds
  the package (only when the package runs from a git checkout that knows the revision).

A commit that touches result code but cannot move a number (a lock, an error message, a new
check that refuses bad input) says so in its message with a ``Results-unchanged: <why>``
trailer and is not counted. The golden test (``tests/test_golden.py``) still guards it in CI;
when unsure, leave the trailer out and regenerate the records.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_CODE = ("cvgl_bench/train", "cvgl_bench/data", "cvgl_bench/evaluate", "cvgl_bench/run",
               "cvgl_bench/distributed.py", "cvgl_bench/checkpoints.py", "cvgl_bench/method.py",
               "cvgl_bench/runner.py", "cvgl_bench/worker.py", "cvgl_bench/specs.py", "plugins",
               *(f"cvgl_bench/builtin/{name}.py" for name in ("cvusa", "cvact", "vigor", "university1652", "synth",
                                                              "metrics", "search")))
"""Paths (from the repository root) whose changes can move a record's numbers."""

UNCHANGED_TRAILER = "Results-unchanged:"
"""A line of a commit message starting with this declares that the commit moves no result."""

UNCHANGED_FOR_TRAILER = "Results-unchanged-for:"
"""``Results-unchanged-for: <commit> <why>`` in a later commit declares that an earlier commit,
which forgot its own trailer, moves no result (a commit message cannot be edited once shared)."""

_VERSION_IN_ROOT = re.compile(r"-v([0-9A-Za-z.]+)/?$")


@dataclass
class Staleness:
    """Why the records of one table are stale (empty when they are not)."""

    reasons: dict[str, list[str]] = field(default_factory=dict)
    """reason -> labels of the records it applies to."""
    unchecked: dict[str, list[str]] = field(default_factory=dict)
    """revision -> labels of the records made at a revision this checkout's history lacks."""

    def add(self, reason: str, label: str) -> None:
        self.reasons.setdefault(reason, []).append(label)

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def notes(self) -> list[str]:
        """The table's notes: each reason it is stale, and each revision it could not be checked against."""
        stale = [f"stale: {reason} ({len(labels)} record(s): {', '.join(_abbreviate(labels))}); rerun these cells "
                 "to see what the current code produces" for reason, labels in sorted(self.reasons.items())]
        return stale + [f"not checked for staleness: this checkout's git history does not hold commit {revision[:7]}, "
                        f"where {len(labels)} record(s) were made ({', '.join(_abbreviate(labels))}); in a shallow "
                        "clone, 'git fetch --unshallow' makes it checkable" for revision, labels in sorted(self.unchecked.items())]


def _abbreviate(labels: list[str], keep: int = 4) -> list[str]:
    return labels if len(labels) <= keep else [*labels[:keep], f"and {len(labels) - keep} more"]


def _provenance(record: Any) -> Mapping[str, Any]:
    """A record's provenance block (a :class:`~cvgl_bench.results.Record` or its JSON form)."""
    found = record.provenance if hasattr(record, "provenance") else record.get("provenance")
    return found if isinstance(found, Mapping) else {}


def record_generator_version(record: Any) -> str | None:
    """The synthetic generator version a record's data came from (None: not synthetic or unknown)."""
    synthetic = (_provenance(record).get("data_info") or {}).get("synthetic")
    if not isinstance(synthetic, dict):
        return None
    if synthetic.get("generator_version") is not None:
        return str(synthetic["generator_version"])
    match = _VERSION_IN_ROOT.search(str(synthetic.get("root") or ""))
    return match.group(1) if match else None


class CodeHistory:
    """Answers "did the result code change after revision R?" from the package's git checkout."""

    def __init__(self, repo: Path | None = None, paths: Sequence[str] = RESULT_CODE) -> None:
        self.repo = repo if repo is not None else _checkout_root()
        self.paths = [p for p in paths if self.repo is not None and (self.repo / p).exists()]
        self._cache: dict[str, int | None] = {}

    def changes_since(self, revision: str) -> int | None:
        """Commits after ``revision`` touching :data:`RESULT_CODE`, less those declaring
        ``Results-unchanged:``; None when git cannot tell."""
        if self.repo is None or not revision or not re.fullmatch(r"[0-9a-fA-F]{7,40}", revision):
            return None
        if revision not in self._cache:
            self._cache[revision] = _git_count(self.repo, revision, self.paths)
        return self._cache[revision]


def _checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() and (root / "cvgl_bench").is_dir() else None


def _git_count(repo: Path, revision: str, paths: list[str]) -> int | None:
    try:
        done = subprocess.run(["git", "log", "--format=%H%n%B%x00", f"{revision}..HEAD", "--", *paths], cwd=repo,
                              capture_output=True, text=True, timeout=20)
        vouched = subprocess.run(["git", "log", "--format=%B%x00", f"{revision}..HEAD"], cwd=repo,
                                 capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    messages = [m.strip() for m in done.stdout.split("\0") if m.strip()]
    cleared = _vouched_for(vouched.stdout if vouched.returncode == 0 else "")
    return sum(1 for message in messages
               if not _declares_unchanged(message) and not any(message.startswith(c) for c in cleared))


def _vouched_for(log: str) -> set[str]:
    """Commit hash prefixes (7+ hex digits) named by ``Results-unchanged-for: <commit> <why>`` lines."""
    cleared = set()
    for message in log.split("\0"):
        for line in message.strip().splitlines()[1:]:
            line = line.strip()
            if line.lower().startswith(UNCHANGED_FOR_TRAILER.lower()):
                words = line[len(UNCHANGED_FOR_TRAILER):].split()
                if len(words) >= 2 and re.fullmatch(r"[0-9a-fA-F]{7,40}", words[0]):
                    cleared.add(words[0].lower())
    return cleared


def _declares_unchanged(message: str) -> bool:
    """True when a line after the subject is ``Results-unchanged: <a reason>``."""
    lines = [line.strip() for line in message.splitlines()[1:]]
    return any(line.lower().startswith(UNCHANGED_TRAILER.lower()) and line[len(UNCHANGED_TRAILER):].strip()
               for line in lines)


def table_staleness(runs: Iterable[tuple[str, Any]], history: CodeHistory,
                    generator_version: str | Callable[[str], str]) -> Staleness:
    """Staleness of the records ``(label, record)`` of one table.

    ``generator_version``: the current version, or a function of a record's synthetic layout
    giving it (:func:`cvgl_bench.data.synth.dataset_version`)."""
    found = Staleness()
    for label, record in runs:
        version = record_generator_version(record)
        synthetic = (_provenance(record).get("data_info") or {}).get("synthetic")
        layout = str(synthetic.get("layout") if isinstance(synthetic, Mapping) else None)
        current = generator_version(layout) if callable(generator_version) else generator_version
        if version is not None and version != current:
            found.add(f"made from synthetic {layout} data of generator version {version}; it is now version "
                      f"{current}", label)
        revision = str(((_provenance(record).get("git") or {}).get("revision")) or "")
        changes = history.changes_since(revision)
        if changes is None and history.repo is not None and re.fullmatch(r"[0-9a-fA-F]{7,40}", revision):
            found.unchecked.setdefault(revision, []).append(label)
        if changes:
            found.add(f"made at {revision[:7]}; {changes} later commit(s) changed the code that trains, loads, "
                      f"generates or scores results ({', '.join(history.paths)})", label)
    return found
