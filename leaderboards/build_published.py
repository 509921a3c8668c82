"""Build ``leaderboards/published.yaml`` from the curated reference file of published results.

The reference (``../shared/reference/published_results.yaml``, one entry per paper, method
variant and dataset split, with the literature's names) is normalised into the names of the
cvgl-bench registry, so a leaderboard can join a published number to a reproduced one by
(evaluation split, training split, method, metric):

* splits: ``cvusa_test``, ``cvact_val``, ``cvact_test``, ``vigor_same_test``,
  ``vigor_cross_test``, ``u1652_d2s``, ``u1652_s2d``; cross-dataset entries sit under their
  evaluation split, keyed by the training split (``cvusa_train`` -> ``cvact_val``);
* methods: ``sample4geo``, ``clnet``, ``safa`` for the methods this project ships, paper names
  for every other method (kept for reference, never ranked);
* metrics: ``recall@1``, ``recall@5``, ``recall@10``, ``recall@1%``, ``hit_rate``, ``ap``.

Every number keeps its source, its confidence code (V verified in a primary source, S secondary
source, U uncertain; M recalled and G guessed exist in the project's vocabulary) and
``verified: true`` only for V. The protocol a number was measured under is filled in only where
the authors' evaluation code is known (``reference/datasets.md`` section 3.5); elsewhere it is
left empty and said to be unknown.

Usage (from the repository root)::

    python leaderboards/build_published.py [REFERENCE_YAML] [--out leaderboards/published.yaml] [--check]

The output is deterministic (sorted keys, sorted variants): rerunning on the same reference
gives the same bytes, and ``--check`` exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
REFERENCE_NAME = "published_results.yaml"
DEFAULT_OUT = REPO / "leaderboards" / "published.yaml"
SCHEMA = "cvgl-bench/published"
SCHEMA_VERSION = 1

#: reference ``dataset_split`` -> (evaluation split, training split, task) in our registry.
SPLITS: dict[str, tuple[str, str, str]] = {
    "cvusa_test": ("cvusa_test", "cvusa_train", "in-domain"),
    "cvact_val": ("cvact_val", "cvact_train", "in-domain"),
    "cvact_test": ("cvact_test", "cvact_train", "in-domain"),
    "vigor_same_area": ("vigor_same_test", "vigor_same_train", "in-domain"),
    "vigor_cross_area": ("vigor_cross_test", "vigor_cross_train", "in-domain"),
    "u1652_drone2sat": ("u1652_d2s", "u1652_train", "in-domain"),
    "u1652_sat2drone": ("u1652_s2d", "u1652_train", "in-domain"),
    "cross_cvusa2cvact_val": ("cvact_val", "cvusa_train", "transfer"),
    "cross_cvusa2cvact_test": ("cvact_test", "cvusa_train", "transfer"),
    "cross_cvact2cvusa": ("cvusa_test", "cvact_train", "transfer"),
}

IN_DOMAIN = {(e, t) for e, t, task in SPLITS.values() if task == "in-domain"}

#: reference metric key -> our metric name.
METRICS = {"r1": "recall@1", "r5": "recall@5", "r10": "recall@10", "r1p": "recall@1%", "hit": "hit_rate",
           "ap": "ap"}

#: paper method name -> the name of the method plugin this project ships.
OUR_METHODS = {"Sample4Geo": "sample4geo", "CLNet": "clnet", "SAFA": "safa"}

CONFIDENCE_CODES = {
    "V": "verified in a primary source (the authors' own material)",
    "S": "secondary source (compiled leaderboard or another paper's comparison table)",
    "U": "uncertain (single weak source, internal inconsistency or conflicting sources)",
    "M": "recalled, not verified against a primary source",
    "G": "proposal or guess",
}
_CONFIDENCE_WORDS = {"verified-from-source": "V", "secondary-source": "S", "uncertain": "U",
                     "recalled-unverified": "M", "proposal-guess": "G"}

#: What the authors' evaluation code does, per method, in our protocol vocabulary
#: (reference/datasets.md section 3.5, marked [V] there). In-domain numbers only: a transfer
#: number quoted by another paper may come from that paper's own evaluation.
_PROTOCOL_SOURCE = "inferred from the authors' evaluation code (reference/datasets.md section 3.5)"
KNOWN_PROTOCOLS: dict[str, dict[str, dict[str, str]]] = {
    "Sample4Geo": {
        "cvusa_test": {"r1pct": "floor", "ties": "strict"},
        "cvact_val": {"r1pct": "floor", "ties": "strict"},
        "cvact_test": {"r1pct": "floor", "ties": "strict", "cvact_test": "exact_id"},
        "vigor_same_test": {"r1pct": "floor", "ties": "strict"},
        "vigor_cross_test": {"r1pct": "floor", "ties": "strict"},
        "u1652_d2s": {"r1pct": "u1652", "distractors": "removed"},
        "u1652_s2d": {"r1pct": "u1652", "distractors": "removed"},
    },
    "SAFA": {
        "cvusa_test": {"r1pct": "floor", "ties": "strict"},
        "cvact_val": {"r1pct": "floor", "ties": "strict"},
    },
    "TransGeo": {
        "cvusa_test": {"r1pct": "floor", "ties": "strict"},
        "cvact_val": {"r1pct": "floor", "ties": "strict"},
        "vigor_same_test": {"r1pct": "floor", "ties": "strict"},
    },
    "University1652-Baseline": {
        "u1652_d2s": {"r1pct": "u1652", "distractors": "kept"},
        "u1652_s2d": {"r1pct": "u1652", "distractors": "kept"},
    },
}


def confidence_code(text: str) -> str:
    """``secondary-source`` / ``uncertain (why)`` / ``V`` -> one-letter code."""
    word = str(text).strip().split(" ", 1)[0].strip("[]()")
    if word in CONFIDENCE_CODES:
        return word
    if word not in _CONFIDENCE_WORDS:
        raise ValueError(f"unknown confidence {text!r}")
    return _CONFIDENCE_WORDS[word]


def _non_standard(entry: dict[str, Any]) -> bool:
    variant = str(entry.get("variant") or "").lower()
    return "not the standard protocol" in variant or variant.startswith("ablation")


def _primary_index(entries: list[dict[str, Any]]) -> int | None:
    """Which variant is the method's headline number on a split, or None when it is ambiguous.

    A single standard entry is primary; among several, the one without a variant, the "paper
    result" or the "default" one. Ablations and non-standard protocols never are.
    """
    candidates = [i for i, e in enumerate(entries) if not _non_standard(e)]
    if len(candidates) == 1:
        return candidates[0]
    for i in candidates:
        variant = str(entries[i].get("variant") or "").lower()
        if not variant or variant.startswith("paper result") or variant.startswith("default"):
            return i
    return None


def normalise_entry(entry: dict[str, Any], eval_split: str, task: str) -> dict[str, Any]:
    """One reference entry in our vocabulary (without the ``primary`` flag)."""
    confidence = confidence_code(entry["confidence"])
    per_metric = entry.get("per_metric_confidence") or {}
    numbers = {}
    for key, value in (entry.get("metrics") or {}).items():
        if value is None:
            continue
        if key not in METRICS:
            raise ValueError(f"{entry['method']} {entry['dataset_split']}: unknown metric {key!r}")
        code = confidence_code(per_metric[key]) if key in per_metric else confidence
        number = {"value": float(value), "confidence": code, "verified": code == "V"}
        if key in per_metric:
            number["note"] = str(per_metric[key])
        numbers[METRICS[key]] = number
    method = entry["method"]
    protocol = KNOWN_PROTOCOLS.get(method, {}).get(eval_split, {}) if task == "in-domain" else {}
    out: dict[str, Any] = {
        "paper_method": method,
        "variant": entry.get("variant"),
        "metrics": numbers,
        "confidence": confidence,
        "verified": confidence == "V",
        "source": {
            "ref": entry.get("source"),
            "kind": entry.get("source_kind"),
            "also_reported_by": list(entry.get("also_reported_by") or []),
        },
        "paper": {"title": entry.get("paper_title"), "venue": entry.get("venue"), "year": entry.get("year"),
                  "url": entry.get("url")},
        "protocol": dict(protocol),
        "protocol_source": _PROTOCOL_SOURCE if protocol else "unknown",
        "standard_protocol": not _non_standard(entry),
        "setup": {"backbone": entry.get("backbone"), "input_size": entry.get("input_size"),
                  "polar_transform": entry.get("polar_transform"), "params_flops": entry.get("params_flops")},
        "flags": sorted(entry.get("flags") or []),
        "notes": entry.get("notes"),
    }
    if not out["source"]["ref"]:
        raise ValueError(f"{method} {entry['dataset_split']}: entry has no source")
    return out


def build(reference: list[dict[str, Any]], source_name: str = "", source_sha256: str = "") -> dict[str, Any]:
    """The normalised document (a plain dict, ready for ``yaml.safe_dump(sort_keys=True)``)."""
    benchmarks: dict[str, dict[str, Any]] = {}
    skipped = []
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for entry in reference:
        where = SPLITS.get(entry["dataset_split"])
        if where is None:
            skipped.append({"method": entry["method"], "variant": entry.get("variant"),
                            "dataset_split": entry["dataset_split"],
                            "reason": "no split of the cvgl-bench registry uses this protocol"})
            continue
        eval_split, train_split, task = where
        key = (eval_split, train_split, OUR_METHODS.get(entry["method"], entry["method"]))
        grouped.setdefault(key, []).append(normalise_entry(entry, eval_split, task))
    for (eval_split, train_split, method), entries in sorted(grouped.items()):
        entries.sort(key=lambda e: (str(e["paper_method"]), str(e["variant"] or "")))
        primary = _primary_index(entries)
        for i, e in enumerate(entries):
            e["primary"] = i == primary
        entries.sort(key=lambda e: (not e["primary"], str(e["paper_method"]), str(e["variant"] or "")))
        task = "in-domain" if (eval_split, train_split) in IN_DOMAIN else "transfer"
        slot = benchmarks.setdefault(eval_split, {}).setdefault(train_split, {"task": task, "methods": {}})
        slot["methods"][method] = entries
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_by": "leaderboards/build_published.py",
        "source_file": source_name,
        "source_sha256": source_sha256,
        "confidence_codes": dict(CONFIDENCE_CODES),
        "our_methods": dict(OUR_METHODS),
        "benchmarks": benchmarks,
        "skipped": sorted(skipped, key=lambda s: (s["dataset_split"], s["method"], str(s["variant"]))),
    }



def default_reference() -> Path:
    """``$CVGL_REAL_SPLITS/../reference`` when that variable is set, else ``<repo>/../shared/reference``."""
    real_splits = os.environ.get("CVGL_REAL_SPLITS")
    if real_splits:
        candidate = Path(real_splits).expanduser().parent / "reference" / REFERENCE_NAME
        if candidate.is_file():
            return candidate
    return REPO.parent / "shared" / "reference" / REFERENCE_NAME

HEADER = ("# Generated by leaderboards/build_published.py from the project's curated reference of\n"
          "# published CVGL results. Do not edit by hand: edit the reference and rerun the script.\n"
          "# Numbers are percentages; confidence V = verified in a primary source, S = secondary source,\n"
          "# U = uncertain; only V numbers have verified: true. Published numbers are never ranked.\n")


def render(reference_path: str | Path) -> str:
    """The text of ``published.yaml`` built from ``reference_path`` (deterministic)."""
    reference_path = Path(reference_path)
    payload = reference_path.read_bytes()
    reference = yaml.safe_load(payload)
    if not isinstance(reference, list):
        raise ValueError(f"{reference_path}: expected a list of entries")
    document = build(reference, reference_path.name, hashlib.sha256(payload).hexdigest())
    return HEADER + yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100,
                                   default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", nargs="?", default=str(default_reference()),
                        help="published_results.yaml of the shared reference (default: %(default)s)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)
    if not Path(args.reference).is_file():
        print(f"build_published.py: reference file {args.reference} not found; pass its path", file=sys.stderr)
        return 2
    text = render(args.reference)
    out = Path(args.out)
    if args.check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        print(f"{out}: {'up to date' if same else 'STALE, rerun leaderboards/build_published.py'}")
        return 0 if same else 1
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
