"""A listing option (one that changes a split's queries, gallery, images or positives) makes
another benchmark: its records get a table of their own, and published numbers join only the
table of the listing they were measured on. Options that only change scoring (``ties``) keep
one table (tests/test_leaderboard_variants.py)."""

from __future__ import annotations

import numpy as np

from cvgl_bench import leaderboard as lb
from cvgl_bench.leaderboard.formats import table_frame
from cvgl_bench.leaderboard.paper_table import paper_markdown

from .leaderboard_fakes import build, rank_arrays, write_record

CVACT = dict(eval_split="cvact_test", train_split="cvact_train", in_domain_train="cvact_train")
OFFICIAL = {"r1pct": "floor", "ties": "strict", "ground_fov": "full", "cvact_test": "utm5m"}
EXACT_ID = {**OFFICIAL, "cvact_test": "exact_id"}


def _ranks(best, n_refs=200):
    return rank_arrays(np.asarray(best, dtype=np.int64), n_refs, rng=np.random.default_rng(0))


def _write(root, method, protocol, best, profile="cpu", seed=0):
    write_record(root / protocol["cvact_test"], method=method, seed=seed, arrays=_ranks(best), profile=profile,
                 protocol=protocol, fingerprint=f"fp-{protocol['cvact_test']}", **CVACT)


def _published(protocol):
    entry = {"paper_method": "Sample4Geo", "variant": None, "primary": True, "confidence": "S", "verified": False,
             "metrics": {"recall@1": {"value": 71.51, "confidence": "S", "verified": False}},
             "source": {"ref": "sample4geo paper", "kind": "paper"}, "protocol": protocol, "protocol_source": "code"}
    return lb.Published({"schema": "cvgl-bench/published", "confidence_codes": {"S": "secondary"},
                         "benchmarks": {"cvact_test": {"cvact_train": {"task": "in-domain", "methods": {
                             "sample4geo": [entry]}}}}})


def test_each_listing_is_a_table_of_its_own_and_the_official_one_keeps_its_name(tmp_path):
    for protocol in (OFFICIAL, EXACT_ID):
        _write(tmp_path, "sample4geo", protocol, np.zeros(100))
        _write(tmp_path, "clnet", protocol, np.arange(100) % 3)
    board = build(tmp_path)
    assert [t.key for t in board.tables] == ["in-domain__cvact_test", "in-domain__cvact_test__cvact_test-exact_id"]
    official, exact = board.tables
    assert (official.listing, exact.listing) == ({}, {"cvact_test": "exact_id"})
    assert exact.title == "cvact_test [cvact_test=exact_id] (in-domain, trained on cvact_train)"
    for table in board.tables:  # each row compares like with like: labels are the methods, the test runs
        assert [row.label for row in table.rows] == ["sample4geo", "clnet"]
        assert table.rows[1].significance["status"] == "tested"
    assert not any("separate rows" in w for w in board.warnings)
    assert list(table_frame(exact)["listing"]) == ["cvact_test=exact_id"] * 2
    # a mean over benchmarks never averages two listings of one split
    assert [(o.title, o.columns) for o in board.overviews] == [
        ("In-domain, real data: recall@1 per benchmark", ["cvact_test"]),
        ("In-domain, real data, cvact_test=exact_id: recall@1 per benchmark", ["cvact_test"])]
    assert "cvact_test [cvact_test=exact_id]" in paper_markdown(board.tables)
    rendered = lb.render_text(board, "md")
    assert "cvact_test [cvact_test=exact_id] (in-domain" in rendered


def test_scoring_options_still_share_one_table(tmp_path):
    _write(tmp_path, "sample4geo", OFFICIAL, np.zeros(100))
    write_record(tmp_path / "loose", method="sample4geo", seed=0, arrays=_ranks(np.zeros(100)), fingerprint="fp-l",
                 protocol={**OFFICIAL, "ties": "loose"}, **CVACT)
    (table,) = build(tmp_path, significance=False).tables
    assert table.listing == {} and sorted(r.label for r in table.rows) == ["sample4geo [ties=loose]",
                                                                            "sample4geo [ties=strict]"]


def test_a_record_without_a_newer_listing_option_is_on_the_official_table(tmp_path):
    """Records written before an option existed were made on the official listing (options are
    added with the old behaviour as their official value)."""
    _write(tmp_path, "sample4geo", OFFICIAL, np.zeros(100))
    old = {k: v for k, v in OFFICIAL.items() if k != "ground_fov"}
    write_record(tmp_path / "old", method="clnet", seed=0, arrays=_ranks(np.zeros(100)), protocol=old,
                 fingerprint="fp-utm5m", **CVACT)
    (table,) = build(tmp_path, significance=False).tables
    assert table.key == "in-domain__cvact_test" and len(table.rows) == 2


def test_a_published_number_joins_only_the_table_of_its_listing(tmp_path):
    for protocol in (OFFICIAL, EXACT_ID):
        _write(tmp_path, "sample4geo", protocol, np.zeros(100), profile="paper")
    board = build(tmp_path, published=_published({"cvact_test": "exact_id", "r1pct": "floor", "ties": "strict"}),
                  significance=False)
    official, exact = board.tables
    assert official.rows[0].published is None and not official.rows[0].deltas
    assert not official.published_entries
    assert any("another listing of cvact_test are not shown (1 on cvact_test=exact_id;" in n for n in official.notes)
    assert exact.rows[0].published is not None and "recall@1" in exact.rows[0].deltas
    assert not exact.rows[0].protocol_mismatch
    # an entry that names no listing option was measured on the official listing
    board = build(tmp_path, published=_published({"r1pct": "floor"}), significance=False)
    official, exact = board.tables
    assert official.rows[0].published is not None and exact.rows[0].published is None
    assert any("(1 on the official listing;" in n for n in exact.notes)


def test_without_the_splits_plugin_every_listing_option_is_named(tmp_path):
    """The official values are the plugin's to say; without it the board cannot call one official."""
    protocol = {"ties": "strict", "altitude": "150"}
    for altitude in ("150", "300"):
        write_record(tmp_path / altitude, method="clnet", seed=0, arrays=_ranks(np.zeros(100)),
                     protocol={**protocol, "altitude": altitude}, fingerprint=f"fp-{altitude}",
                     eval_split="sues_test", train_split="sues_train", in_domain_train="sues_train")
    board = build(tmp_path, significance=False)
    assert [t.key for t in board.tables] == ["in-domain__sues_test__altitude-150", "in-domain__sues_test__altitude-300"]


def test_a_suite_of_another_listing_keeps_that_table_and_names_nothing_as_missing(tmp_path):
    from cvgl_bench.run.suite import parse_suite

    for protocol in (OFFICIAL, EXACT_ID):
        _write(tmp_path, "sample4geo", protocol, np.zeros(100))
    suite = parse_suite({"methods": ["sample4geo"], "splits": ["cvact_test"], "profile": "cpu", "seeds": [0],
                         "protocol": {"cvact_test": "exact_id"}})
    board = build(tmp_path, suites=[suite], significance=False)
    assert [t.key for t in board.tables] == ["in-domain__cvact_test__cvact_test-exact_id"]
    assert not any("has no table" in w for w in board.warnings)
    assert any("1 record(s) under" in w and "not cells of the suite" in w for w in board.warnings)
