"""docs/json.md names every key our JSON outputs and records hold, so a script author can rely on it."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from cvgl_bench import results
from cvgl_bench.cli import _grid_status
from cvgl_bench.run.cell import Cell, CellResult

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "json.md").read_text()
NAMED = set(re.findall(r"`([^`\s]+)`", DOC))


def _missing(keys):
    return sorted(set(keys) - NAMED)


def test_every_record_field_is_named():
    assert _missing([*results._JSON_ORDER, "error"]) == []
    for schema in (results.CellInfo, results.SplitInfo, results.MetricValue, results.IntervalInfo,
                   results.CheckpointRef):
        assert _missing(f.name for f in dataclasses.fields(schema)) == [], schema.__name__


@pytest.mark.parametrize("path", sorted((ROOT / "leaderboards" / "synth" / "results").rglob("*.json"))[:3],
                         ids=lambda p: p.name)
def test_the_committed_records_hold_no_key_the_doc_does_not_name(path):
    record = json.loads(path.read_text())
    assert _missing(record["provenance"]) == []
    assert _missing(record["efficiency"]) == []


def test_every_grid_status_key_is_named():
    for outcome in ("ok", "failed (exit 2)", "submitted (job 1_0)", CellResult(Cell("tiny", ("t",)))):
        assert _missing(_grid_status(outcome)) == []
