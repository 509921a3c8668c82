"""Published (paper-reported) numbers: ``leaderboards/published.yaml``, read-only.

The file is kept by hand (``leaderboards/README.md`` says how to add a paper) and holds, per
evaluation split and training split of our registry, per method, a list of entries (method
variants) with their numbers, sources and confidence. A leaderboard shows them beside reproduced
numbers, never ranks them, and marks every number that is not verified in a primary source.

:func:`check_document` is the schema: :meth:`Published.load` refuses a file that breaks it, with
one line naming the first problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..fsutil import load_yaml, read_text

SCHEMA = "cvgl-bench/published"
SCHEMA_VERSION = 2
"""2: kept by hand, every entry's source has a ``url``; 1 was generated from an outside file."""

METRICS = ("recall@1", "recall@5", "recall@10", "recall@1%", "hit_rate", "ap")
"""The metrics a published number may be given for (our names)."""

RECALL_CHAIN = ("recall@1", "recall@5", "recall@10", "recall@1%")
"""Never decreasing on any split of the registry: R@1% is R@k with k >= 11 everywhere."""

FLAGS = {
    "suspicious": "the number is implausible next to the method's other numbers or the field",
    "internally-inconsistent": "the source's own numbers contradict each other (e.g. R@10 < R@5); "
                               "kept as printed",
    "no-source-url": "the source has no public address; the number could not be traced to one",
}
"""Flags an entry may carry; ``internally-inconsistent`` waives the recall ordering check and
``no-source-url`` the source URL."""

_URL = re.compile(r"^https?://\S+$")
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

    @property
    def source_link(self) -> str:
        """The source's reference followed by its URL (unless the reference holds it already)."""
        ref = str(self.source.get("ref") or "")
        url = self.source.get("url")
        return f"{ref} {url}".strip() if url and url not in ref else ref

    @property
    def source_text(self) -> str:
        """:attr:`source_link` with the kind of source: ``<ref> <url> (compiled leaderboard)``."""
        kind = self.source.get("kind")
        return f"{self.source_link} ({kind})" if kind else self.source_link

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
        try:  # load_yaml uses libyaml's parser where installed: 5x faster on this 200 kB file
            document = load_yaml(read_text(path))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DataError(f"{path}: cannot read published numbers: {str(exc).splitlines()[0]}") from None
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            raise DataError(f"{path}: not a published-numbers file (schema {SCHEMA!r}); "
                            "see leaderboards/README.md for the format")
        problems = check_document(document)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DataError(f"{path}: {problems[0]}{more}; see leaderboards/README.md for the format")
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
    """The published numbers shipped with the package (``cvgl_bench/leaderboard/published.yaml``;
    ``leaderboards/published.yaml`` of a source checkout links to it), if present."""
    candidate = Path(__file__).resolve().parent / "published.yaml"
    return candidate if candidate.is_file() else None


def check_document(document: Any) -> list[str]:
    """Every way ``document`` (a parsed ``published.yaml``) breaks the schema; empty when it is sound.

    Checked: the header (schema, version, confidence codes); per task a ``task`` and methods; per
    entry a paper (title, venue, year), a source (reference, kind, and an http(s) URL unless the
    entry is flagged ``no-source-url``), a confidence code with ``verified`` true exactly for
    ``V``, known flags, at most one ``primary`` entry per method, a protocol of option -> value
    whose ``protocol_source`` is ``unknown`` exactly when the protocol is empty; per number a
    known metric, a value in [0, 100] with its own confidence; and R@1 <= R@5 <= R@10 <= R@1%
    and R@1 <= hit rate unless the entry is flagged ``internally-inconsistent``. Split and method
    names are not checked against a registry here (plugins may add splits); the test suite does.
    """
    if not isinstance(document, Mapping):
        return ["the file must be a YAML mapping"]
    problems: list[str] = []
    if document.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA!r}")
    if document.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version must be {SCHEMA_VERSION}, not {document.get('schema_version')!r}")
    codes = document.get("confidence_codes")
    if not isinstance(codes, Mapping) or not codes or not all(isinstance(v, str) and v for v in codes.values()):
        problems.append("confidence_codes must map each code to its meaning")
        codes = {}
    if not isinstance(document.get("our_methods", {}), Mapping):
        problems.append("our_methods must map a paper's method name to ours")
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, Mapping):
        return problems + ["benchmarks must map evaluation splits to training splits"]
    for eval_split, by_train in benchmarks.items():
        if not isinstance(by_train, Mapping):
            problems.append(f"benchmarks.{eval_split} must map training splits to tasks")
            continue
        for train_split, slot in by_train.items():
            where = f"{eval_split} <- {train_split}"
            if not isinstance(slot, Mapping) or not isinstance(slot.get("methods"), Mapping):
                problems.append(f"{where}: needs task and methods")
                continue
            if slot.get("task") not in ("in-domain", "transfer"):
                problems.append(f"{where}: task must be in-domain or transfer, not {slot.get('task')!r}")
            for method, entries in slot["methods"].items():
                if not isinstance(entries, list) or not entries:
                    problems.append(f"{where} {method}: needs a list of entries")
                    continue
                if sum(bool(isinstance(e, Mapping) and e.get("primary")) for e in entries) > 1:
                    problems.append(f"{where} {method}: more than one primary entry")
                for entry in entries:
                    problems += _check_entry(entry, f"{where} {method}", codes)
    return problems


def _check_entry(entry: Any, where: str, codes: Mapping[str, str]) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"{where}: an entry must be a mapping"]
    where = f"{where} ({entry.get('variant')})" if entry.get("variant") else where
    problems = []

    def need_text(value: Any, what: str) -> None:
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {what} is missing")

    need_text(entry.get("paper_method"), "paper_method")
    if not isinstance(entry.get("primary"), bool):
        problems.append(f"{where}: primary must be true or false")
    if not isinstance(entry.get("standard_protocol", True), bool):
        problems.append(f"{where}: standard_protocol must be true or false")
    paper = entry.get("paper") if isinstance(entry.get("paper"), Mapping) else {}
    need_text(paper.get("title"), "paper.title")
    need_text(paper.get("venue"), "paper.venue")
    year = paper.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2100:
        problems.append(f"{where}: paper.year must be a year, not {year!r}")
    if paper.get("url") is not None and not _URL.match(str(paper["url"])):
        problems.append(f"{where}: paper.url {paper['url']!r} is not an http(s) URL")
    flags = entry.get("flags") or []
    if not isinstance(flags, list) or any(flag not in FLAGS for flag in flags):
        problems.append(f"{where}: flags must be a list of {', '.join(FLAGS)}, not {flags!r}")
        flags = []
    source = entry.get("source") if isinstance(entry.get("source"), Mapping) else {}
    need_text(source.get("ref"), "source.ref")
    need_text(source.get("kind"), "source.kind")
    url = source.get("url")
    if url is None:
        if "no-source-url" not in flags:
            problems.append(f"{where}: source.url is missing (flag the entry no-source-url when none exists)")
    elif not _URL.match(str(url)):
        problems.append(f"{where}: source.url {url!r} is not an http(s) URL")
    elif "no-source-url" in flags:
        problems.append(f"{where}: flagged no-source-url but has a source.url")
    confidence = entry.get("confidence")
    if not isinstance(confidence, str) or confidence not in codes:  # a list or a mapping is unhashable
        problems.append(f"{where}: confidence {confidence!r} is not one of {', '.join(codes)}")
    if entry.get("verified") is not (confidence == "V"):
        problems.append(f"{where}: verified must be true exactly when the confidence is V")
    protocol = entry.get("protocol")
    if not isinstance(protocol, Mapping) or not all(isinstance(v, str) for v in protocol.values()):
        problems.append(f"{where}: protocol must map protocol options to values ({{}} when unknown)")
    elif bool(protocol) == (entry.get("protocol_source") == "unknown") or not entry.get("protocol_source"):
        problems.append(f"{where}: protocol_source must be 'unknown' exactly when the protocol is empty, "
                        "else say where the protocol comes from")
    metrics = entry.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return problems + [f"{where}: has no numbers"]
    values = {}
    for metric, number in metrics.items():
        if metric not in METRICS:
            problems.append(f"{where}: unknown metric {metric!r} (known: {', '.join(METRICS)})")
            continue
        if not isinstance(number, Mapping):
            problems.append(f"{where} {metric}: must be {{value, confidence, verified}}")
            continue
        value = number.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= 100:
            problems.append(f"{where} {metric}: value {value!r} is not a percentage in [0, 100]")
            continue
        if not isinstance(number.get("confidence"), str) or number.get("confidence") not in codes:
            problems.append(f"{where} {metric}: confidence {number.get('confidence')!r} is not one of "
                            f"{', '.join(codes)}")
        if number.get("verified") is not (number.get("confidence") == "V"):
            problems.append(f"{where} {metric}: verified must be true exactly when the confidence is V")
        values[metric] = float(value)
    chain = [(m, values[m]) for m in RECALL_CHAIN if m in values]
    pairs = list(zip(chain, chain[1:]))
    if "hit_rate" in values and "recall@1" in values:  # the hit rate only masks semi-positives: never below R@1
        pairs.append((("recall@1", values["recall@1"]), ("hit_rate", values["hit_rate"])))
    if "internally-inconsistent" not in flags:
        for (low, a), (high, b) in pairs:
            if a > b:
                problems.append(f"{where}: {low} {a} > {high} {b} (flag the entry internally-inconsistent "
                                "when the source prints it so)")
    return problems
