"""Published (paper-reported) numbers: ``leaderboards/published.yaml``, read-only.

The file is built by ``leaderboards/build_published.py`` and holds, per evaluation split and
training split of our registry, per method, a list of entries (method variants) with their
numbers, sources and confidence. A leaderboard shows them beside reproduced numbers, never
ranks them, and marks every number that is not verified in a primary source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

SCHEMA = "cvgl-bench/published"
UNVERIFIED_MARK = "\u2020"  # dagger
"""Printed after every published number that is not verified in a primary source."""


@dataclass(frozen=True)
class PublishedEntry:
    """One method variant's published numbers on one (training split, evaluation split)."""

    method: str
    """Our method name where we ship the method (``sample4geo``), else the paper's name."""
    paper_method: str
    variant: str | None
    primary: bool
    metrics: dict[str, dict[str, Any]]
    """metric -> {value, confidence, verified[, note]}."""
    confidence: str
    source: dict[str, Any]
    protocol: dict[str, str]
    protocol_source: str
    standard_protocol: bool = True
    flags: tuple[str, ...] = ()
    notes: str | None = None
    paper: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.paper_method} ({self.variant})" if self.variant else self.paper_method

    def number(self, metric: str) -> dict[str, Any] | None:
        return self.metrics.get(metric)


def format_number(number: dict[str, Any] | None, digits: int = 2, *, code: bool = True) -> str:
    """``98.68† [S]`` for an unverified number, ``89.84 [V]`` for a verified one, ``""`` for none.

    ``code=False`` leaves the confidence code out (a table that has a confidence column).
    """
    if not number:
        return ""
    mark = "" if number.get("verified") else UNVERIFIED_MARK
    return f"{number['value']:.{digits}f}{mark}" + (f" [{number['confidence']}]" if code else "")


class Published:
    """Lookup of published numbers by (evaluation split, training split, method)."""

    def __init__(self, document: dict[str, Any] | None = None, path: Path | None = None):
        self.document = document or {"benchmarks": {}}
        self.path = path
        self.confidence_codes: dict[str, str] = dict(self.document.get("confidence_codes") or {})
        self._entries: dict[tuple[str, str], list[PublishedEntry]] = {}
        for eval_split, by_train in (self.document.get("benchmarks") or {}).items():
            for train_split, slot in (by_train or {}).items():
                entries = []
                for method, variants in (slot.get("methods") or {}).items():
                    for item in variants:
                        entries.append(PublishedEntry(
                            method=str(method), paper_method=str(item.get("paper_method", method)),
                            variant=item.get("variant"), primary=bool(item.get("primary")),
                            metrics=dict(item.get("metrics") or {}), confidence=str(item.get("confidence", "")),
                            source=dict(item.get("source") or {}), protocol=dict(item.get("protocol") or {}),
                            protocol_source=str(item.get("protocol_source", "unknown")),
                            standard_protocol=bool(item.get("standard_protocol", True)),
                            flags=tuple(item.get("flags") or ()), notes=item.get("notes"),
                            paper=dict(item.get("paper") or {})))
                self._entries[(str(eval_split), str(train_split))] = entries

    @classmethod
    def load(cls, path: str | Path) -> Published:
        """Read and check a ``published.yaml``; a bad file is a one-line :class:`DataError`."""
        import yaml

        path = Path(path)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 5x faster on this 200 kB file
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"{path}: cannot read published numbers: {str(exc).splitlines()[0]}") from None
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            raise DataError(f"{path}: not a published-numbers file (schema {SCHEMA!r}); "
                            "rebuild it with leaderboards/build_published.py")
        return cls(document, path)

    @classmethod
    def empty(cls) -> Published:
        return cls()

    def tasks(self) -> list[tuple[str, str]]:
        """Every (evaluation split, training split) with published numbers, sorted."""
        return sorted(self._entries)

    def entries(self, eval_split: str, train_split: str | None) -> list[PublishedEntry]:
        """Every published entry for this task (all methods and variants), in file order."""
        return list(self._entries.get((eval_split, str(train_split)), []))

    def primary(self, eval_split: str, train_split: str | None, method: str) -> PublishedEntry | None:
        """The method's headline entry on this task, or None (absent or ambiguous)."""
        for entry in self._entries.get((eval_split, str(train_split)), []):
            if entry.method == method and entry.primary:
                return entry
        return None

    def __bool__(self) -> bool:
        return bool(self._entries)


def default_path() -> Path | None:
    """``leaderboards/published.yaml`` of the source checkout this package runs from, if present."""
    candidate = Path(__file__).resolve().parents[2] / "leaderboards" / "published.yaml"
    return candidate if candidate.is_file() else None
