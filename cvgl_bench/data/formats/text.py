"""Line-oriented split files: tolerant of CRLF, a missing final newline and a BOM; strict
about everything else, with the file and the 1-based line number in every error."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ...errors import DataError
from ...fsutil import near_miss


def first_existing(root: Path, candidates: Sequence[str], what: str) -> Path:
    """The first of ``candidates`` (relative to ``root``) that is a file.

    Raises a one-line :class:`DataError` naming the expected (first) path otherwise.
    """
    for rel in candidates:
        path = root / rel
        if path.is_file():
            return path
    expected = root / candidates[0]
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist (looked for {what} at {expected})")
    also = f" (nor {', '.join(candidates[1:])})" if len(candidates) > 1 else ""
    raise DataError(f"{expected}: {what} not found{near_miss(expected)}{also}")


def read_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line, with line endings removed.

    Splits on ``\\n`` only (``str.splitlines`` would also split on form feeds and Unicode
    separators and so miscount lines); a trailing ``\\r`` is dropped.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path} line {line}: not UTF-8 text (byte {exc.start})") from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise DataError(f"{path} line {line}: NUL byte; this is not a text split file (truncated or binary?)")
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            out.append((number, line))
    return out


def require_entries(path: Path, lines: Sequence[object], what: str = "entries") -> None:
    """An empty split file is an error, not an empty benchmark."""
    if not lines:
        raise DataError(f"{path}: empty split file (no {what})")


def check_unique(path: Path, keys: Iterable[str], line_numbers: Sequence[int], what: str = "id") -> None:
    """Raise naming both lines when a key occurs twice in one file."""
    seen: dict[str, int] = {}
    for key, number in zip(keys, line_numbers):
        first = seen.setdefault(key, number)
        if first != number:
            raise DataError(f"{path} line {number}: duplicate {what} {key!r} (first at line {first})")


def parse_float(path: Path, number: int, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DataError(f"{path} line {number}: {what} {token!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"{path} line {number}: {what} {token!r} is not a finite number")
    return value


def missing_files(paths: Iterable[str]) -> Iterator[int]:
    """Indices of the paths that are not regular files."""
    isfile = os.path.isfile
    for i, path in enumerate(paths):
        if not isfile(path):
            yield i


def raise_if_missing(paths: Sequence[str], listed_in: Sequence[str], what: str = "image") -> None:
    """One line naming the first missing file, where it was listed, and how many are missing.

    ``listed_in[i]`` says where ``paths[i]`` comes from (``".../val-19zl.csv line 3"``).
    """
    missing = list(missing_files(paths))
    if missing:
        first = missing[0]
        raise DataError(f"{paths[first]}: {what} file missing{near_miss(paths[first])} (listed in {listed_in[first]}); "
                        f"{len(missing)} of {len(paths)} listed {what}s are missing")
