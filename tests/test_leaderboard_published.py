"""leaderboards/published.yaml: kept by hand, checked here. Every entry sourced, every number sane,
every name one of the registry's, and leaderboards/published/ rendered from it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cvgl_bench.errors import DataError
from cvgl_bench.leaderboard.published import FLAGS, SCHEMA_VERSION, Published, check_document

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "leaderboards" / "published.yaml"
RENDERED = REPO / "leaderboards" / "published"
SHIPPED_METHODS = {"sample4geo", "clnet", "safa"}  # the first-party plugins in plugins/


@pytest.fixture(scope="module")
def document():
    return yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))


def entries(document):
    for eval_split, by_train in document["benchmarks"].items():
        for train_split, slot in by_train.items():
            for method, items in slot["methods"].items():
                for entry in items:
                    yield eval_split, train_split, method, entry


# -- the committed file ----------------------------------------------------------------------
def test_the_committed_file_passes_every_check(document):
    assert check_document(document) == []
    assert document["schema_version"] == SCHEMA_VERSION
    assert sum(len(e["metrics"]) for *_, e in entries(document)) > 300


def test_every_entry_has_a_source_url_or_says_it_has_none(document):
    missing = [(ev, m, e["variant"]) for ev, _, m, e in entries(document) if not e["source"]["url"]]
    flagged = [(ev, m, e["variant"]) for ev, _, m, e in entries(document) if "no-source-url" in e["flags"]]
    assert missing == flagged
    assert len(missing) <= 5, "a new number needs the address of its source"
    for *_, entry in entries(document):
        if "no-source-url" in entry["flags"]:
            assert entry["confidence"] in ("S", "U") and entry["source"]["kind"]


def test_names_are_the_registry_s(document, host):
    for eval_split, train_split, method, entry in entries(document):
        spec = host.splits.get(eval_split)
        train = host.splits.get(train_split)
        assert spec.role == "eval" and train.role == "train" and not spec.synthetic, (eval_split, train_split)
        task = document["benchmarks"][eval_split][train_split]["task"]
        assert task == ("in-domain" if spec.train_split == train_split else "transfer"), (eval_split, train_split)
        for option, value in entry["protocol"].items():
            assert value in spec.protocol_options.get(option, ()), (eval_split, method, option, value)
        if method in SHIPPED_METHODS:
            assert document["our_methods"][entry["paper_method"]] == method
        else:
            assert method == entry["paper_method"] and method not in document["our_methods"]
    assert set(document["our_methods"].values()) == SHIPPED_METHODS


def test_our_methods_have_a_headline_entry_where_published(document):
    s4g = document["benchmarks"]["cvusa_test"]["cvusa_train"]["methods"]["sample4geo"]
    assert s4g[0]["primary"] and s4g[0]["metrics"]["recall@1"]["value"] == 98.68
    assert s4g[0]["protocol"] == {"r1pct": "floor", "ties": "strict"}
    assert "docs/protocols.md" in s4g[0]["protocol_source"]
    transfer = document["benchmarks"]["cvusa_test"]["cvact_train"]
    assert transfer["task"] == "transfer" and "clnet" in transfer["methods"]
    u1652 = document["benchmarks"]["u1652_d2s"]["u1652_train"]["methods"]["sample4geo"][0]
    assert u1652["protocol"]["distractors"] == "removed"


def test_the_rendered_tables_are_those_of_the_committed_file():
    from cvgl_bench.leaderboard.published_tables import published_markdown

    files = published_markdown(Published.load(COMMITTED))
    committed = {path.name: path.read_text(encoding="utf-8") for path in RENDERED.glob("*.md")}
    assert committed == files, ("leaderboards/published/ is stale: run cvgl-bench leaderboard --published-only "
                                "--out leaderboards/published")


# -- the checks can fail ------------------------------------------------------------------------
def a_document():
    """A small sound document: one Sample4Geo entry on cvusa_test."""
    return {
        "schema": "cvgl-bench/published", "schema_version": SCHEMA_VERSION,
        "confidence_codes": {"V": "verified", "S": "secondary", "U": "uncertain"},
        "our_methods": {"Sample4Geo": "sample4geo"},
        "benchmarks": {"cvusa_test": {"cvusa_train": {"task": "in-domain", "methods": {"sample4geo": [{
            "paper_method": "Sample4Geo", "variant": None, "primary": True,
            "metrics": {"recall@1": {"value": 98.68, "confidence": "S", "verified": False},
                        "recall@5": {"value": 99.68, "confidence": "S", "verified": False},
                        "recall@10": {"value": 99.78, "confidence": "S", "verified": False},
                        "recall@1%": {"value": 99.87, "confidence": "S", "verified": False}},
            "confidence": "S", "verified": False,
            "source": {"ref": "results block", "url": "https://example.org/s4g", "kind": "paperswithcode entry"},
            "paper": {"title": "Sample4Geo", "venue": "ICCV", "year": 2023, "url": None},
            "protocol": {"r1pct": "floor", "ties": "strict"}, "protocol_source": "the authors' code",
            "standard_protocol": True, "setup": {}, "flags": [], "notes": None}]}}}},
    }


def entry_of(doc):
    return doc["benchmarks"]["cvusa_test"]["cvusa_train"]["methods"]["sample4geo"][0]


def test_a_sound_document_passes():
    assert check_document(a_document()) == []


def _set(path, value):
    def change(doc):
        target = entry_of(doc)
        *parents, last = path
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set(["source", "url"], None), "source.url is missing"),
    (_set(["source", "url"], "example.org/page"), "is not an http(s) URL"),
    (_set(["source", "ref"], ""), "source.ref is missing"),
    (_set(["source", "kind"], KeyError), "source.kind is missing"),
    (_set(["paper", "venue"], None), "paper.venue is missing"),
    (_set(["paper", "year"], "2023"), "paper.year must be a year"),
    (_set(["confidence"], "probably"), "confidence 'probably' is not one of"),
    (_set(["confidence"], ["V"]), "confidence ['V'] is not one of"),  # was a TypeError: a list is unhashable
    (_set(["metrics", "recall@1", "confidence"], {"a": 1}), "recall@1: confidence {'a': 1} is not one of"),
    (_set(["verified"], True), "verified must be true exactly when the confidence is V"),
    (_set(["metrics", "recall@1", "value"], 101.0), "not a percentage in [0, 100]"),
    (_set(["metrics", "recall@1", "value"], -1), "not a percentage in [0, 100]"),
    (_set(["metrics", "recall@1", "confidence"], "V"), "recall@1: verified must be true"),
    (_set(["metrics", "recall@50"], {"value": 1.0, "confidence": "S", "verified": False}), "unknown metric"),
    (_set(["metrics", "recall@10", "value"], 99.5), "recall@5 99.68 > recall@10 99.5"),
    (_set(["metrics", "hit_rate"], {"value": 90.0, "confidence": "S", "verified": False}),
     "recall@1 98.68 > hit_rate 90.0"),
    (_set(["metrics"], {}), "has no numbers"),
    (_set(["flags"], ["dubious"]), "flags must be a list of"),
    (_set(["flags"], ["no-source-url"]), "flagged no-source-url but has a source.url"),
    (_set(["protocol"], {}), "protocol_source must be 'unknown' exactly when the protocol is empty"),
    (_set(["protocol_source"], "unknown"), "protocol_source must be 'unknown' exactly when"),
    (_set(["primary"], "yes"), "primary must be true or false"),
    (lambda doc: doc["benchmarks"]["cvusa_test"]["cvusa_train"]["methods"]["sample4geo"].append(
        copy.deepcopy(entry_of(doc))), "more than one primary entry"),
    (lambda doc: doc["benchmarks"]["cvusa_test"]["cvusa_train"].update(task="cross"), "task must be in-domain"),
    (lambda doc: doc.update(schema_version=1), "schema_version must be 2"),
    (lambda doc: doc.update(confidence_codes=None), "confidence_codes must map"),
])
def test_each_check_catches_its_problem(change, message):
    doc = a_document()
    change(doc)
    problems = check_document(doc)
    assert any(message in p for p in problems), problems


def test_flags_waive_exactly_their_own_check():
    doc = a_document()
    _set(["metrics", "recall@10", "value"], 76.12)(doc)  # R@10 < R@5 as a README printed it
    _set(["flags"], ["internally-inconsistent"])(doc)
    assert check_document(doc) == []
    _set(["source", "url"], None)(doc)
    _set(["flags"], ["internally-inconsistent", "no-source-url"])(doc)
    assert check_document(doc) == []
    assert set(FLAGS) == {"suspicious", "internally-inconsistent", "no-source-url"}


def test_loading_a_broken_file_is_one_line_naming_the_first_problem(tmp_path):
    doc = a_document()
    _set(["source", "url"], None)(doc)
    _set(["metrics", "recall@1", "value"], 140)(doc)
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(DataError) as info:
        Published.load(path)
    message = str(info.value)
    assert "\n" not in message and "source.url is missing" in message and "(and 1 more)" in message
    path.write_text(yaml.safe_dump(a_document()))
    assert Published.load(path).primary("cvusa_test", "cvusa_train", "sample4geo").source_text == \
        "results block https://example.org/s4g (paperswithcode entry)"


# -- the CLI ----------------------------------------------------------------------------------------
def test_published_only_writes_one_table_per_task_without_records(tmp_path, host):
    from click.testing import CliRunner

    from cvgl_bench.cli import cli

    out = tmp_path / "published"
    result = CliRunner().invoke(cli, ["leaderboard", "--published-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = (out / "published.md").read_text()
    assert "[cvusa_test (in-domain, trained on cvusa_train)](published__cvusa_test__cvusa_train.md)" in index
    table = (out / "published__cvusa_test__cvusa_train.md").read_text()
    assert "| Method | R@1 |" in table and "Sample4Geo" in table
    assert "https://arxiv.org/abs/2603.12551" in table  # a source URL the reference text does not hold
    assert "(transfer, trained on cvusa_train)" in (out / "published__cvact_val__cvusa_train.md").read_text()
    refused = CliRunner().invoke(cli, ["leaderboard", "--published-only", "--format", "html"])
    assert refused.exit_code == 2 and "--format md" in refused.output


def test_a_broken_published_file_stops_the_cli_with_exit_code_2(tmp_path, host):
    from click.testing import CliRunner

    from cvgl_bench.cli import cli

    doc = a_document()
    _set(["metrics", "recall@5", "value"], 50.0)(doc)
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(cli, ["leaderboard", "--published-only", "--published", str(path)])
    assert result.exit_code == 2 and "recall@1 98.68 > recall@5 50.0" in result.output
    assert "Traceback" not in result.output
