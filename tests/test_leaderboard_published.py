"""leaderboards/published.yaml: built from the shared reference, normalised, every number sourced."""

import importlib.util
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "leaderboards" / "published.yaml"


def builder():
    spec = importlib.util.spec_from_file_location("build_published", REPO / "leaderboards" / "build_published.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_file():
    """The shared reference: ``$CVGL_REAL_SPLITS/../reference`` or ``<repo>/../shared/reference``."""
    candidates = []
    if os.environ.get("CVGL_REAL_SPLITS"):
        candidates.append(Path(os.environ["CVGL_REAL_SPLITS"]).parent / "reference" / "published_results.yaml")
    candidates.append(REPO.parent / "shared" / "reference" / "published_results.yaml")
    return next((c for c in candidates if c.is_file()), None)


def test_committed_file_is_what_the_script_builds():
    reference = reference_file()
    if reference is None:
        pytest.skip("shared reference not available (set CVGL_REAL_SPLITS)")
    assert COMMITTED.read_text(encoding="utf-8") == builder().render(reference), \
        "leaderboards/published.yaml is stale: run python leaderboards/build_published.py"


def test_every_entry_and_number_has_a_source_and_a_confidence():
    document = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert document["schema"] == "cvgl-bench/published"
    codes = set(document["confidence_codes"])
    n_numbers = 0
    for eval_split, by_train in document["benchmarks"].items():
        for train_split, slot in by_train.items():
            assert slot["task"] in ("in-domain", "transfer")
            for method, entries in slot["methods"].items():
                assert sum(e["primary"] for e in entries) <= 1, (eval_split, method)
                for entry in entries:
                    assert entry["source"]["ref"] and entry["source"]["kind"], (eval_split, method)
                    assert entry["confidence"] in codes and entry["verified"] == (entry["confidence"] == "V")
                    assert entry["metrics"], (eval_split, method)
                    for metric, number in entry["metrics"].items():
                        assert metric in {"recall@1", "recall@5", "recall@10", "recall@1%", "hit_rate", "ap"}
                        assert number["confidence"] in codes and number["verified"] == (number["confidence"] == "V")
                        assert 0 <= number["value"] <= 100
                        n_numbers += 1
    assert set(document["benchmarks"]) <= {"cvusa_test", "cvact_val", "cvact_test", "vigor_same_test",
                                           "vigor_cross_test", "u1652_d2s", "u1652_s2d"}
    assert n_numbers > 300


def test_our_methods_have_a_headline_entry_where_published():
    document = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    s4g = document["benchmarks"]["cvusa_test"]["cvusa_train"]["methods"]["sample4geo"]
    assert s4g[0]["primary"] and s4g[0]["metrics"]["recall@1"]["value"] == 98.68
    assert s4g[0]["protocol"] == {"r1pct": "floor", "ties": "strict"}
    transfer = document["benchmarks"]["cvusa_test"]["cvact_train"]
    assert transfer["task"] == "transfer" and "clnet" in transfer["methods"]
    u1652 = document["benchmarks"]["u1652_d2s"]["u1652_train"]["methods"]["sample4geo"][0]
    assert u1652["protocol"]["distractors"] == "removed"


def entry(**overrides):
    base = {"method": "Sample4Geo", "variant": None, "paper_title": "t", "venue": "ICCV", "year": 2023, "url": "u",
            "dataset_split": "cvact_val", "metrics": {"r1": 90.81, "r5": None, "r10": None, "r1p": 98.77, "ap": None,
                                                       "hit": None},
            "backbone": None, "input_size": None, "polar_transform": False, "params_flops": None,
            "source": "https://example.org", "source_kind": "paperswithcode entry", "also_reported_by": [],
            "confidence": "secondary-source"}
    base.update(overrides)
    return base


def test_build_normalises_names_and_chooses_the_headline_variant():
    b = builder()
    reference = [
        entry(),
        entry(variant="ablation: random batch sampling", confidence="verified-from-source"),
        entry(method="GeoDTR", variant="polar"), entry(method="GeoDTR", variant="no polar"),
        entry(method="CLNet", dataset_split="cross_cvusa2cvact_val", confidence="uncertain"),
        entry(method="TransGeo", dataset_split="vigor_same_area", metrics={"r1": 61.48, "hit": 73.09},
              per_metric_confidence={"hit": "uncertain (only from notes)"}),
        entry(method="MuSe-Net", dataset_split="cvusa_multiweather_mean"),
    ]
    doc = b.build(reference)
    s4g = doc["benchmarks"]["cvact_val"]["cvact_train"]["methods"]["sample4geo"]
    assert [e["primary"] for e in s4g] == [True, False] and s4g[0]["variant"] is None
    assert s4g[0]["metrics"] == {"recall@1": {"value": 90.81, "confidence": "S", "verified": False},
                                 "recall@1%": {"value": 98.77, "confidence": "S", "verified": False}}
    assert s4g[1]["verified"] is True and s4g[1]["standard_protocol"] is False
    assert not any(e["primary"] for e in doc["benchmarks"]["cvact_val"]["cvact_train"]["methods"]["GeoDTR"])
    clnet = doc["benchmarks"]["cvact_val"]["cvusa_train"]
    assert clnet["task"] == "transfer" and clnet["methods"]["clnet"][0]["confidence"] == "U"
    assert clnet["methods"]["clnet"][0]["protocol"] == {}  # transfer numbers: evaluation code unknown
    hit = doc["benchmarks"]["vigor_same_test"]["vigor_same_train"]["methods"]["TransGeo"][0]["metrics"]["hit_rate"]
    assert hit["confidence"] == "U" and "notes" in hit["note"]
    assert doc["skipped"][0]["dataset_split"] == "cvusa_multiweather_mean"


def test_build_rejects_unknown_confidence_and_missing_source():
    b = builder()
    with pytest.raises(ValueError, match="confidence"):
        b.build([entry(confidence="probably")])
    with pytest.raises(ValueError, match="no source"):
        b.build([entry(source="")])


def test_script_check_mode(tmp_path):
    b = builder()
    reference = tmp_path / "published_results.yaml"
    reference.write_text(yaml.safe_dump([entry()]))
    out = tmp_path / "published.yaml"
    assert b.main([str(reference), "--out", str(out)]) == 0
    assert b.main([str(reference), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text() + "# edited\n")
    assert b.main([str(reference), "--out", str(out), "--check"]) == 1
    assert b.main([str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2


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
    assert "(transfer, trained on cvusa_train)" in (out / "published__cvact_val__cvusa_train.md").read_text()
    refused = CliRunner().invoke(cli, ["leaderboard", "--published-only", "--format", "html"])
    assert refused.exit_code == 2 and "--format md" in refused.output
