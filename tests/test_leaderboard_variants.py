"""Ablation records (``cell.variant``) are rows of their own, labelled ``method [variant]``, never joined
to the paper's published numbers."""

from __future__ import annotations

import numpy as np

from cvgl_bench import leaderboard as lb
from cvgl_bench.leaderboard.formats import table_frame

from cvgl_bench.run.suite import parse_suite

from .leaderboard_fakes import build, rank_arrays, write_record
from .test_leaderboard import CVUSA, published_doc


def _ranks(best, n_refs=200):
    return rank_arrays(np.asarray(best, dtype=np.int64), n_refs, rng=np.random.default_rng(0))


def test_variants_are_separate_rows_with_their_own_label(tmp_path):
    for seed in (0, 1):
        write_record(tmp_path, method="clnet", seed=seed, arrays=_ranks(np.zeros(100)), **CVUSA)
        write_record(tmp_path, method="clnet", seed=seed, arrays=_ranks(np.arange(100) % 3), config_hash="cfg-ncm",
                     variant="ncm=off", **CVUSA)
    write_record(tmp_path, method="clnet", seed=0, arrays=_ranks(np.arange(100) % 5), config_hash="cfg-nec",
                 variant="nec=false", **CVUSA)
    board = build(tmp_path, significance=False)
    (table,) = board.tables
    labels = [row.label for row in table.rows]
    assert labels == ["clnet", "clnet [ncm=off]", "clnet [nec=false]"]
    assert [len(row.runs) for row in table.rows] == [2, 2, 1]  # seeds of one variant are averaged together
    assert not any("kept as" in w for w in board.warnings)
    text = lb.render_text(board, "md")
    assert "clnet [ncm=off]" in text and "clnet [nec=false]" in text
    assert list(table_frame(table)["variant"]) == ["", "ncm=off", "nec=false"]


def test_a_variant_never_gets_the_papers_published_number(tmp_path):
    write_record(tmp_path, method="sample4geo", seed=0, arrays=_ranks(np.zeros(100)), profile="paper", **CVUSA)
    write_record(tmp_path, method="sample4geo", seed=0, arrays=_ranks(np.zeros(100)), profile="paper",
                 config_hash="cfg-x", variant="label_smoothing=0", **CVUSA)
    board = build(tmp_path, published=published_doc(), significance=False)
    rows = {row.label: row for row in board.tables[0].rows}
    assert rows["sample4geo"].published is not None and "recall@1" in rows["sample4geo"].deltas
    assert rows["sample4geo [label_smoothing=0]"].published is None
    assert not rows["sample4geo [label_smoothing=0]"].deltas


def test_conflicting_records_of_one_variant_keep_the_variant_in_the_label(tmp_path):
    write_record(tmp_path, method="clnet", seed=0, arrays=_ranks(np.zeros(100)), config_hash="cfg-a",
                 variant="ncm=off", **CVUSA)
    write_record(tmp_path / "other", method="clnet", seed=0, arrays=_ranks(np.zeros(100)), config_hash="cfg-b",
                 variant="ncm=off", **CVUSA)
    board = build(tmp_path, significance=False)
    labels = sorted(row.label for row in board.tables[0].rows)
    assert labels == ["clnet [ncm=off; cfg cfg-a]", "clnet [ncm=off; cfg cfg-b]"]
    assert any("clnet [ncm=off]" in w and "kept as 2 separate rows" in w for w in board.warnings)


def test_rows_under_different_protocols_are_labelled_by_the_options_that_differ(tmp_path):
    from .leaderboard_fakes import PROTOCOL

    for ties, fingerprint in (("strict", "fp-a"), ("loose", "fp-b")):  # the fingerprint covers the protocol
        write_record(tmp_path / ties, method="clnet", seed=0, arrays=_ranks(np.zeros(100)), fingerprint=fingerprint,
                     protocol={**PROTOCOL, "ties": ties}, **CVUSA)
    board = build(tmp_path, significance=False)
    assert sorted(row.label for row in board.tables[0].rows) == ["clnet [ties=loose]", "clnet [ties=strict]"]
    assert any("differ in protocol;" in w for w in board.warnings)
    write_record(tmp_path / "other", method="clnet", seed=1, arrays=_ranks(np.zeros(100)), fingerprint="fp-c",
                 protocol={**PROTOCOL, "ties": "loose"}, **CVUSA)  # same protocol, other files: the data is named
    labels = sorted(row.label for row in build(tmp_path, significance=False).tables[0].rows)
    assert labels == ["clnet [ties=loose; data fp-b]", "clnet [ties=loose; data fp-c]", "clnet [ties=strict; data fp-a]"]


def test_splits_whose_names_make_the_same_file_name_get_files_of_their_own(tmp_path):
    from cvgl_bench.leaderboard.tables import BenchmarkTable

    keys = {BenchmarkTable("in-domain", "t", split, [], ["recall@1"]).key for split in ("x y", "x_y", "x/y", "x" * 5000)}
    assert len(keys) == 4 and "in-domain__x_y" in keys and all(len(k) <= 120 for k in keys)


def test_a_missing_seed_note_names_the_variant(tmp_path):
    for seed in (0, 1, 2):
        write_record(tmp_path, method="clnet", seed=seed, arrays=_ranks(np.zeros(100)), **CVUSA)
    write_record(tmp_path, method="clnet", seed=0, arrays=_ranks(np.zeros(100)), config_hash="cfg-ncm",
                 variant="ncm=off", **CVUSA)
    suite = parse_suite({"methods": ["clnet"], "splits": ["cvusa_test"], "seeds": 3, "profile": "cpu",
                         "variants": [{"method": "clnet", "set": ["ncm=off"]}]})
    (table,) = build(tmp_path, suites=[suite], significance=False).tables
    assert table.notes.count("clnet [ncm=off] (cpu): seed(s) 1, 2 of the suite have no record; "
                             "the row averages 1 seed(s)") == 1
    assert not any(note.startswith("clnet (cpu)") for note in table.notes)


def test_a_suite_keeps_only_its_own_variants_and_protocol_and_names_what_it_asked_for(tmp_path):
    """Records of cells the suite does not run (another variant, another protocol) ranked on its
    board, one of them first (outside audit); a suite variant without a record went unmentioned."""
    write_record(tmp_path, method="clnet", seed=0, arrays=_ranks(np.arange(100) % 4), **CVUSA)
    write_record(tmp_path, method="clnet", seed=0, arrays=_ranks(np.zeros(100)), config_hash="cfg-lr",
                 variant="lr=0.001", **CVUSA)  # not a variant of the suite
    write_record(tmp_path / "loose", method="clnet", seed=0, arrays=_ranks(np.zeros(100)), config_hash="cfg-loose",
                 protocol={"ties": "loose", "r1pct": "floor"}, **CVUSA)  # not the suite's protocol
    suite = parse_suite({"methods": ["clnet"], "splits": ["cvusa_test"], "profile": "cpu", "protocol": {"ties": "strict"},
                         "variants": [{"method": "clnet", "set": ["ncm=off"]}]})
    board = build(tmp_path, suites=[suite], significance=False)
    (table,) = board.tables
    assert [row.label for row in table.rows] == ["clnet"]
    assert any(w.startswith("2 record(s) under") and "are not cells of the suite(s)" in w for w in board.warnings)
    assert "clnet [ncm=off]: the suite asks for it; no record" in table.notes
