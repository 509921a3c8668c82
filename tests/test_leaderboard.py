"""Leaderboard tables: grouping, aggregation over seeds, published numbers, significance, formats."""

import importlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvgl_bench import leaderboard as lb
from cvgl_bench.errors import ConfigError, DataError
from cvgl_bench.evaluate.aggregate import aggregate_metric
from cvgl_bench.run.suite import load_suite, parse_suite
from tests.leaderboard_fakes import build, rank_arrays, write_record

CVUSA = dict(eval_split="cvusa_test", train_split="cvusa_train", in_domain_train="cvusa_train")


def published_doc(protocol=None):
    """A two-method published file: one unverified (S) and one verified (V) number."""
    entry = {"paper_method": "Sample4Geo", "variant": None, "primary": True, "confidence": "S", "verified": False,
             "metrics": {"recall@1": {"value": 98.68, "confidence": "S", "verified": False},
                         "recall@5": {"value": 99.68, "confidence": "S", "verified": False}},
             "source": {"ref": "https://example.org/<b>table</b>", "kind": "compiled leaderboard"},
             "protocol": protocol or {"r1pct": "floor", "ties": "strict"}, "protocol_source": "code"}
    safa = {"paper_method": "SAFA", "variant": "polar", "primary": True, "confidence": "V", "verified": True,
            "metrics": {"recall@1": {"value": 89.84, "confidence": "V", "verified": True}},
            "source": {"ref": "safa readme", "kind": "official repo README"}, "protocol": {}, "protocol_source": "unknown"}
    other = dict(entry, paper_method="GeoDTR", variant="polar", primary=False)
    return lb.Published({"schema": "cvgl-bench/published", "confidence_codes": {"V": "verified", "S": "secondary"},
                         "benchmarks": {"cvusa_test": {"cvusa_train": {"task": "in-domain", "methods": {
                             "sample4geo": [entry], "safa": [safa], "GeoDTR": [other]}}}}})


def ranks_for(best, n_refs=200, seed=0):
    return rank_arrays(np.asarray(best, dtype=np.int64), n_refs, rng=np.random.default_rng(seed))


def constant_ranks(value, n=400, n_refs=500):
    return ranks_for(np.full(n, value), n_refs)


# -- aggregation ------------------------------------------------------------------------------
def test_t_interval_over_seeds():
    stat = aggregate_metric([1.0, 2.0, 3.0], [None] * 3)
    half = 4.302652729911275 * 1.0 / math.sqrt(3)
    assert stat.mean == pytest.approx(2.0) and stat.interval == "t" and stat.n == 3
    assert stat.hi - stat.mean == pytest.approx(half, rel=1e-9) and stat.mean - stat.lo == pytest.approx(half)


def test_one_seed_shows_the_bootstrap_interval_and_is_marked(tmp_path):
    write_record(tmp_path, method="m", seed=0, arrays=constant_ranks(0), **CVUSA)
    stat = aggregate_metric([70.0], [[68.0, 72.0]])
    assert (stat.mean, stat.lo, stat.hi, stat.interval) == (70.0, 68.0, 72.0, "bootstrap")
    board = build(tmp_path)
    text = lb.render_text(board, "md")
    assert re.search(r"\|\s+1\*\s+\|", text)
    assert "n=1: [lo, hi] is the 95% bootstrap interval" in text
    assert "100.00 [100.00, 100.00]" in text  # every query right: the bootstrap cannot move


def test_metric_missing_in_one_seed_is_not_averaged(tmp_path):
    write_record(tmp_path, method="m", seed=0, arrays=None, metrics={"recall@1": 80.0, "recall@5": 90.0}, **CVUSA)
    write_record(tmp_path, method="m", seed=1, arrays=None, metrics={"recall@1": 82.0}, **CVUSA)
    board = build(tmp_path, significance=False)
    row = board.tables[0].rows[0]
    assert row.stats["recall@1"].mean == pytest.approx(81.0)
    assert row.stats["recall@5"].mean is None and row.stats["recall@5"].interval == "incomplete"
    assert "incomplete" in lb.render_text(board, "md")


def test_overview_averages_only_complete_rows(tmp_path):
    write_record(tmp_path, method="full", seed=0, arrays=None, metrics={"recall@1": 50.0}, **CVUSA)
    write_record(tmp_path, method="full", seed=0, arrays=None, metrics={"recall@1": 70.0}, eval_split="cvact_val",
                 train_split="cvact_train", in_domain_train="cvact_train")
    write_record(tmp_path, method="partial", seed=0, arrays=None, metrics={"recall@1": 99.0}, **CVUSA)
    board = build(tmp_path)
    (overview,) = board.overviews
    rows = {label: (values, mean) for label, values, mean in overview.rows}
    assert rows["full (cpu)"][1] == pytest.approx(60.0)
    assert rows["partial (cpu)"][1] is None and None in rows["partial (cpu)"][0]
    assert [label for label, _, _ in overview.rows][-1] == "partial (cpu)"


def test_in_domain_and_transfer_are_separate_tables(tmp_path):
    write_record(tmp_path, method="m", seed=0, arrays=constant_ranks(0), eval_split="cvact_val",
                 train_split="cvact_train", in_domain_train="cvact_train")
    write_record(tmp_path, method="m", seed=0, arrays=constant_ranks(3), eval_split="cvact_val",
                 train_split="cvusa_train", in_domain_train="cvact_train")
    board = build(tmp_path)
    assert [t.key for t in board.tables] == ["in-domain__cvact_val", "transfer__cvusa_train__cvact_val"]
    assert board.tables[0].rows[0].value() == 100.0 and board.tables[1].rows[0].value() == 0.0
    assert [o.title.split(",")[0] for o in board.overviews] == ["In-domain", "Transfer"]


def test_rows_of_different_configuration_or_data_stay_apart(tmp_path):
    write_record(tmp_path, method="m", seed=0, arrays=constant_ranks(0), config_hash="aaaaaaa1", **CVUSA)
    write_record(tmp_path, method="m", seed=1, arrays=constant_ranks(0), config_hash="bbbbbbb2", **CVUSA)
    write_record(tmp_path / "other", method="m", seed=2, arrays=constant_ranks(0), config_hash="aaaaaaa1",
                 fingerprint="fp-different", **CVUSA)
    board = build(tmp_path)
    rows = board.tables[0].rows
    assert len(rows) == 3 and all(len(r.runs) == 1 for r in rows)
    assert any("differ in config_hash and dataset_fingerprint" in w for w in board.warnings)
    assert len({r.label for r in rows}) == 3


def test_error_records_are_left_out_with_a_warning(tmp_path):
    write_record(tmp_path, method="m", seed=0, arrays=constant_ranks(0), **CVUSA)
    write_record(tmp_path, method="m", seed=1, arrays=None, metrics={}, status="error", **CVUSA)
    board = build(tmp_path)
    assert board.n_records == 1 and any("status 'error'" in w for w in board.warnings)


def test_no_records_is_a_user_error(tmp_path):
    with pytest.raises(DataError, match="no result records"):
        build(tmp_path)


# -- published numbers ------------------------------------------------------------------------
def test_published_numbers_join_with_delta_and_markers(tmp_path):
    best = np.where(np.arange(400) < 360, 0, 7)  # recall@1 = 90.00, recall@5 = 90.00
    write_record(tmp_path, method="sample4geo", seed=0, arrays=ranks_for(best, 500), profile="paper", **CVUSA)
    write_record(tmp_path, method="sample4geo", seed=1, arrays=ranks_for(best, 500), profile="paper", **CVUSA)
    write_record(tmp_path, method="safa", seed=0, arrays=constant_ranks(0), profile="paper", **CVUSA)
    write_record(tmp_path, method="sample4geo", seed=0, arrays=constant_ranks(0), profile="cpu", **CVUSA)
    board = build(tmp_path, published=published_doc())
    table = board.tables[0]
    s4g = next(r for r in table.rows if r.method == "sample4geo" and r.profile == "paper")
    assert s4g.deltas["recall@1"] == pytest.approx(90.0 - 98.68)
    small = next(r for r in table.rows if r.profile == "cpu")
    assert small.published is s4g.published and small.deltas == {}  # the cpu recipe is no reproduction
    assert s4g.published.number("recall@1")["verified"] is False
    text = lb.render_text(board, "md")
    assert "98.68\u2020 [S]" in text and "89.84 [V]" in text and "89.84\u2020" not in text
    assert "-8.68" in text
    assert "GeoDTR" in text  # other published methods are listed for reference
    ranked = [r.method for r in table.rows]
    assert "GeoDTR" not in ranked  # ... but never ranked


def test_protocol_difference_to_the_published_number_is_marked(tmp_path):
    write_record(tmp_path, method="sample4geo", seed=0, arrays=constant_ranks(0), profile="paper",
                 protocol={"r1pct": "floor", "ties": "loose"}, **CVUSA)
    board = build(tmp_path, published=published_doc())
    row = board.tables[0].rows[0]
    assert row.protocol_mismatch == {"ties": ("loose", "strict")}
    text = lb.render_text(board, "md")
    assert "\u2021" in text and "ties ours=loose vs published=strict" in text


def test_synthetic_splits_get_no_published_numbers(tmp_path):
    doc = published_doc()
    doc._entries[("synth_cvusa_test", "synth_cvusa_train")] = doc.entries("cvusa_test", "cvusa_train")
    write_record(tmp_path, method="sample4geo", seed=0, arrays=constant_ranks(0), eval_split="synth_cvusa_test",
                 train_split="synth_cvusa_train", in_domain_train="synth_cvusa_train", synthetic=True, twin="cvusa_test")
    board = build(tmp_path, published=doc)
    table = board.tables[0]
    assert table.synthetic and table.rows[0].published is None and not table.published_entries
    text = lb.render_text(board, "md")
    assert "98.68" not in text and "Published" not in text and "not comparable" in text
    assert "Synthetic split (twin of cvusa_test)" in text
    # the record says what is synthetic, not the split's name
    write_record(tmp_path / "named", method="sample4geo", seed=0, arrays=constant_ranks(0), eval_split="synth_cvusa_test",
                 train_split="synth_cvusa_train", in_domain_train="synth_cvusa_train")
    assert not build(tmp_path / "named", published=doc).tables[0].synthetic


def test_committed_published_file_joins_our_method_names(tmp_path):
    path = lb.default_path()
    assert path is not None, "leaderboards/published.yaml must be committed"
    published = lb.Published.load(path)
    entry = published.primary("cvusa_test", "cvusa_train", "sample4geo")
    assert entry is not None and entry.number("recall@1")["value"] == pytest.approx(98.68)
    assert published.primary("cvact_val", "cvusa_train", "sample4geo") is not None  # transfer entry


def test_unreadable_published_file_is_a_user_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("just: [a, list")
    with pytest.raises(DataError, match="cannot read published numbers"):
        lb.Published.load(bad)
    bad.write_text("schema: other\n")
    with pytest.raises(DataError, match="not a published-numbers file"):
        lb.Published.load(bad)


# -- significance -----------------------------------------------------------------------------
def test_significance_clearly_different_versus_identical(tmp_path):
    good = np.where(np.arange(400) < 380, 0, 9)
    bad = np.where(np.arange(400) < 200, 0, 9)
    for seed in (0, 1):
        write_record(tmp_path, method="best", seed=seed, arrays=ranks_for(good, 500), **CVUSA)
        write_record(tmp_path, method="twin", seed=seed, arrays=ranks_for(good, 500), **CVUSA)
        write_record(tmp_path, method="worse", seed=seed, arrays=ranks_for(bad, 500), **CVUSA)
    board = build(tmp_path, n_boot=1000)
    rows = {r.method: r for r in board.tables[0].rows}
    assert rows["best"].significance["status"] == "best" or rows["twin"].significance["status"] == "best"
    identical = rows["twin"] if rows["best"].significance["status"] == "best" else rows["best"]
    assert identical.significance["p_value"] == 1.0 and identical.significance["significant"] is False
    assert rows["worse"].significance["significant"] is True and rows["worse"].significance["p_value"] < 0.01
    assert rows["worse"].significance["delta"] == pytest.approx(-45.0)
    assert "paired seeds 0,1" in rows["worse"].significance["seeds"]
    text = lb.render_text(board, "md")
    assert re.search(r"yes \(p[<=]0\.00\d\)", text) and "no (p=1.000)" in text


def test_significance_needs_ranks_and_the_same_queries(tmp_path):
    write_record(tmp_path, method="a", seed=0, arrays=constant_ranks(0), **CVUSA)
    write_record(tmp_path, method="b", seed=0, arrays=None, metrics={"recall@1": 50.0}, **CVUSA)
    write_record(tmp_path, method="c", seed=0, arrays=constant_ranks(1), fingerprint="fp-other", **CVUSA)
    write_record(tmp_path, method="d", seed=0, arrays=constant_ranks(1), protocol={"r1pct": "floor", "ties": "loose"},
                 **CVUSA)
    board = build(tmp_path)
    rows = {r.method: r for r in board.tables[0].rows}
    assert rows["b"].significance == {"status": "n/a", "note": "no stored ranks"}
    assert rows["c"].significance["status"] == "n/a" and "fingerprint" in rows["c"].significance["note"]
    assert rows["d"].significance == {"status": "n/a", "note": "other protocol than the best row"}


# -- the leaderboard is a reader of evaluate ---------------------------------------------------
def test_the_leaderboard_shows_evaluates_numbers(tmp_path, host):
    """Every number of a table, on records of a 50-reference gallery (where "recall@1%" has k = 0 under
    the floor rule), is the evaluation's: seed means, intervals, paired tests and recall curves."""
    import importlib

    from cvgl_bench import results
    from cvgl_bench.evaluate.aggregate import mean_per_query
    from cvgl_bench.evaluate.bootstrap import paired_bootstrap
    from cvgl_bench.evaluate.metrics import top_one_percent
    from cvgl_bench.evaluate.scoring import rescore

    render = importlib.import_module("cvgl_bench.leaderboard.render")
    rng = np.random.default_rng(7)
    for method, p_top1 in (("good", 0.8), ("fair", 0.5), ("poor", 0.3)):
        for seed in (0, 1, 2):
            best = np.where(rng.random(120) < p_top1, 0, rng.integers(1, 50, 120))
            write_record(tmp_path, method=method, seed=seed, arrays=ranks_for(best, 50, seed), **CVUSA)
    board = lb.build(tmp_path, host=host, n_boot=500)
    (table,) = board.tables
    names = ["recall@1", "recall@5", "recall@10", "recall@1%"]
    evaluated = {}
    for row in table.rows:
        for run in row.runs:
            arrays = results.read_ranks(run.path, run.record)
            evaluated[run.path] = rescore(arrays, run.record.protocol, names, n_boot=0, host=host)
            for name in names:
                assert run.record.metrics[name].value == pytest.approx(evaluated[run.path].metrics[name]["value"])
        for name in names:
            stat = aggregate_metric([evaluated[r.path].metrics[name]["value"] for r in row.runs],
                                    [r.record.metrics[name].ci95 for r in row.runs])
            assert (row.stats[name].mean, row.stats[name].lo, row.stats[name].hi) == pytest.approx(
                (stat.mean, stat.lo, stat.hi))
        assert row.stats["recall@1%"].mean == 0.0  # k = floor(50 / 100) = 0, as evaluate counts it
    best = table.best
    assert best.method == "good"
    for row in table.rows[1:]:
        a = mean_per_query([evaluated[r.path].per_query["recall@1"] for r in row.runs])
        b = mean_per_query([evaluated[r.path].per_query["recall@1"] for r in best.runs])
        test = paired_bootstrap(a, b, n_boot=500, seed=0, places=evaluated[best.runs[0].path].places)
        assert row.significance["p_value"] == test["p_value"] and row.significance["delta"] == test["delta"]
        assert row.significance["ci95"] == test["ci95"]
    curves, k_1pct = render.recall_curves(board, table)
    assert k_1pct == top_one_percent(50, "floor") == 0
    for row in table.rows:
        (runs,) = [c for label, c in curves.items() if label.startswith(f"{row.label} (")]
        assert runs.shape[0] == len(row.runs)
        curve = runs.mean(axis=0)
        for k in (1, 5, 10):
            want = np.mean([evaluated[r.path].metrics[f"recall@{k}"]["value"] for r in row.runs])
            assert curve[k - 1] == pytest.approx(want)


# -- suites -----------------------------------------------------------------------------------
def test_suite_filters_cells_and_flags_missing_seeds(tmp_path):
    for seed in (0, 1):
        write_record(tmp_path, method="a", seed=seed, arrays=constant_ranks(0), **CVUSA)
    write_record(tmp_path, method="b", seed=0, arrays=constant_ranks(0), **CVUSA)
    write_record(tmp_path, method="a", seed=0, arrays=constant_ranks(0), eval_split="cvact_val",
                 train_split="cvusa_train", in_domain_train="cvact_train")
    suite = tmp_path / "suite.yaml"
    suite.write_text("methods: [a]\nsplits: [cvusa_test]\nseeds: 3\nprofile: cpu\n")
    board = build(tmp_path, suites=[load_suite(suite)])
    (table,) = board.tables
    assert [r.method for r in table.rows] == ["a"] and table.rows[0].missing_seeds == [2]
    text = lb.render_text(board, "md")
    assert re.search(r"\|\s+2/3\s+\|", text) and "seed(s) 2 of the suite have no record" in text
    transfer = parse_suite({"methods": ["a"], "transfer": [["cvusa_train", "cvact_val"]]})
    assert [t.key for t in build(tmp_path, suites=[transfer]).tables] == ["transfer__cvusa_train__cvact_val"]


def test_a_suite_method_without_a_row_is_named_with_the_reason(tmp_path):
    write_record(tmp_path, method="a", seed=0, arrays=constant_ranks(0), **CVUSA)
    suite = parse_suite({"methods": ["a", "b"], "splits": ["cvusa_test"], "seeds": [0]})
    (table,) = build(tmp_path, suites=[suite], significance=False).tables
    assert table.notes.count("b: the suite asks for it; no record") == 1
    assert not any(note.startswith("a:") for note in table.notes)
    other = parse_suite({"methods": ["a", "b"], "splits": ["cvact_test"]})
    (table,) = build(tmp_path, suites=[suite, other], significance=False).tables
    assert sum(note.startswith("b:") for note in table.notes) == 1  # only the suite that covers the table


def test_a_method_that_cannot_embed_a_view_is_noted_as_not_run(tmp_path, make_host):
    make_host(importlib.import_module("tests.fake_plugins.gridworld"))
    drone = dict(eval_split="gw_drone_test", train_split="gw_drone_train", in_domain_train="gw_drone_train")
    write_record(tmp_path, method="anyview", seed=0, arrays=constant_ranks(0), **drone)
    suite = parse_suite({"methods": ["anyview", "panoonly"], "splits": ["gw_drone_test"], "seeds": [0]})
    (table,) = build(tmp_path, suites=[suite], significance=False).tables
    assert table.notes.count("panoonly: not run: it embeds only the ground, satellite view(s), not drone "
                             "(the grid skips it)") == 1


@pytest.mark.parametrize("text, message", [
    ("methods: [a\n", "not valid YAML"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("methods: [a]\ntransfer: [[a]]\n", "transfer"),
    ("methods: [a]\nseeds: [a]\n", "seeds"),
    ("methods: [a]\nfuture_key: x\n", "unknown key 'future_key'"),  # one parser: never ignored
])
def test_bad_suites_are_one_line_config_errors(tmp_path, text, message):
    suite = tmp_path / "s.yaml"
    suite.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        [load_suite(suite)]
    assert "\n" not in str(info.value)


# -- formats ----------------------------------------------------------------------------------
@pytest.fixture
def board(tmp_path):
    for seed in (0, 1):
        write_record(tmp_path / "r", method="sample4geo", seed=seed, arrays=ranks_for(np.arange(300) % 3, 400),
                     profile="paper",
                     efficiency={"params": 87.6e6, "gflops_query": 45.1, "embedding_dim": 1024,
                                 "queries_per_s": 500.0 + seed}, **CVUSA)
        # a record's variant is free text (its method and profile follow the name rule): escaped everywhere
        write_record(tmp_path / "r", method="abc", variant="a_b&c%", seed=seed, arrays=ranks_for(np.arange(300) % 2, 400),
                     **CVUSA)
    write_record(tmp_path / "r", method="xss", variant="<script>alert(1)</script>", seed=0,
                 arrays=ranks_for(np.zeros(300), 400), **CVUSA)
    return build(tmp_path / "r", published=published_doc())


def test_markdown_is_pipe_tables(board):
    text = lb.render_text(board, "md")
    header = next(line for line in text.splitlines() if line.startswith("|   #"))
    assert "R@1" in header and "Params (M)" in header and "Queries/s" in header
    assert "| 87.6 " in text or "87.6 |" in text
    assert "<script" not in text and "&lt;script>alert(1)&lt;/script>" in text  # no raw HTML from a record
    assert "p < 0.05" in text  # a "<" that opens no tag reads as written


def test_csv_parses_with_pandas_and_holds_numbers(board, tmp_path):
    files = lb.render(board, tmp_path / "csv", "csv", plots=False)
    names = sorted(p.name for p in files)
    assert names == ["in-domain__cvusa_test.csv", "in-domain__cvusa_test.published.csv", "index.csv"]
    frame = pd.read_csv(tmp_path / "csv" / "in-domain__cvusa_test.csv")
    s4g = frame[frame["method"] == "sample4geo"].iloc[0]
    assert s4g["n_seeds"] == 2 and s4g["params"] == pytest.approx(87.6e6) and s4g["queries_per_s"] == 500.5
    assert s4g["delta.recall@1"] == pytest.approx(s4g["recall@1"] - 98.68)
    assert s4g["published.recall@1.confidence"] == "S" and not s4g["published.recall@1.verified"]
    published = pd.read_csv(tmp_path / "csv" / "in-domain__cvusa_test.published.csv")
    assert set(published["paper_method"]) == {"Sample4Geo", "SAFA", "GeoDTR"}
    printed = pd.read_csv(io.StringIO(lb.render_text(board, "csv")))  # one table: one header, a benchmark column
    assert printed.shape[0] == 3 and set(printed["benchmark"]) == {"in-domain__cvusa_test"}
    assert printed.drop(columns="benchmark").equals(frame)


def test_latex_uses_booktabs_and_escapes(board, tmp_path):
    files = lb.render(board, tmp_path / "tex", "latex", plots=False)
    table = (tmp_path / "tex" / "in-domain__cvusa_test.tex").read_text()
    assert "\\toprule" in table and "\\midrule" in table and "\\bottomrule" in table
    assert "a\\_b\\&c\\%" in table and "a_b&c%" not in table
    assert "\\textless{}script\\textgreater{}" in table
    index = (tmp_path / "tex" / "index.tex").read_text()
    assert index.startswith("\\documentclass") and "\\input{in-domain__cvusa_test.tex}" in index
    assert index.rstrip().endswith("\\end{document}") and len(files) == 2


def test_html_is_self_contained_and_escapes_record_strings(board, tmp_path):
    files = lb.render(board, tmp_path / "html", "html", plots=True, examples=False)
    assert sorted(p.name for p in files) == ["in-domain__cvusa_test.html", "index.html"]
    page = (tmp_path / "html" / "in-domain__cvusa_test.html").read_text()
    assert page.count("<script") == 1 and page.index("<script>") > page.index("</table>")  # only the sorter
    assert "alert(1)" not in page.split("<script>")[1] and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;table&lt;/b&gt;" in page  # a source string from the published file
    assert "data:image/png;base64," in page and "<style>" in page
    assert "http://" not in page.split("<body>")[0] and 'src="http' not in page and "<link" not in page
    assert not (tmp_path / "html" / "plots").exists()


def test_render_writes_one_file_per_table_plus_index_and_plots(board, tmp_path):
    out = tmp_path / "md"
    files = lb.render(board, out, "md", examples=False)
    assert {p.name for p in files} == {"index.md", "in-domain__cvusa_test.md",
                                       "in-domain__cvusa_test.recall_at_k.png"}
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary files left
    assert (out / "plots" / "in-domain__cvusa_test.recall_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](plots/in-domain__cvusa_test.recall_at_k.png)" in (out / "in-domain__cvusa_test.md").read_text()
    with pytest.raises(ConfigError):
        lb.render(board, out, "docx")



def test_figures_also_in_vector_formats(board, tmp_path):
    """--figure-format svg/pdf: every figure also as SVG and PDF beside its PNG, linked from the page,
    with the same bytes for the same figure (no creation date inside)."""
    out = tmp_path / "md"
    files = lb.render(board, out, "md", examples=False, figure_formats=("svg", "pdf"))
    stem = out / "plots" / "in-domain__cvusa_test.recall_at_k"
    assert {Path(f"{stem}.{ext}") for ext in ("png", "svg", "pdf")} <= set(files)
    svg, pdf = Path(f"{stem}.svg").read_bytes(), Path(f"{stem}.pdf").read_bytes()
    assert b"<svg" in svg[:400] and pdf.startswith(b"%PDF-")
    page = (out / "in-domain__cvusa_test.md").read_text()
    assert "([SVG](plots/in-domain__cvusa_test.recall_at_k.svg))" in page and "recall_at_k.pdf" in page
    again = lb.render(board, tmp_path / "again", "md", examples=False, figure_formats=("svg", "pdf"))
    assert {p.name: p.read_bytes() for p in again if p.suffix in (".svg", ".pdf")} == {
        p.name: p.read_bytes() for p in files if p.suffix in (".svg", ".pdf")}
    html = lb.render(board, tmp_path / "html", "html", examples=False, figure_formats=("pdf",))
    assert any(p.suffix == ".pdf" for p in html) and not any(p.suffix == ".png" for p in html)

def test_record_fields_reach_the_csv_untouched(board, tmp_path):
    lb.render(board, tmp_path / "c", "csv", plots=False)
    frame = pd.read_csv(tmp_path / "c" / "in-domain__cvusa_test.csv")
    assert "<script>alert(1)</script>" in set(frame["variant"])
    assert json.loads(json.dumps(frame.to_dict(orient="records"), default=str))


def test_file_names_from_record_strings_cannot_escape_the_output_folder(tmp_path):
    """A split name names a board's file: a record whose split breaks the name rule is left out
    with a warning (it used to be sanitised into a file name)."""
    path = write_record(tmp_path / "r", method="m", seed=0, arrays=constant_ranks(0), eval_split="m_test",
                        train_split="t", in_domain_train="t")
    record = json.loads(path.read_text())
    record["cell"]["eval_split"] = "../../evil%x"
    path.write_text(json.dumps(record))
    write_record(tmp_path / "r", method="m", seed=0, arrays=constant_ranks(0), eval_split="m_test2",
                 train_split="t", in_domain_train="t")
    board = build(tmp_path / "r")
    assert [t.eval_split for t in board.tables] == ["m_test2"]
    assert any("cell.eval_split '../../evil%x' is not a name" in w for w in board.warnings)
    files = lb.render(board, tmp_path / "out", "latex", plots=False)
    assert all((tmp_path / "out") in f.parents for f in files) and not list(tmp_path.rglob("*evil*"))


def test_runner_records_of_one_configuration_average_over_seeds(tmp_path):
    """The runner's config_hash includes the seed; rows of schema-1 records (which carry no seed-free
    configuration) group by the same hash without the seed."""
    from cvgl_bench.results import config_hash

    for seed, value in ((0, 40.0), (1, 44.0)):
        path = write_record(tmp_path, method="clnet", seed=seed, arrays=None, metrics={"recall@1": value},
                            config_hash=f"hash-with-seed-{seed}", eval_split="cvusa_test", train_split="cvusa_train",
                            in_domain_train="cvusa_train")
        record = json.loads(path.read_text())
        cell = record["cell"]
        cell["hparams"] = {"lr": 0.001, "epochs": 4}
        record["provenance"]["train_fingerprint"] = "train-fp"
        cell["config_hash"] = config_hash(cell["method"], str(cell["method_version"]), cell["profile"], cell["hparams"],
                                          cell["train_split"], "train-fp", seed)
        del cell["configuration_id"], record["split"]
        record["schema_version"] = 1
        path.write_text(json.dumps(record))
    (table,) = build(tmp_path, significance=False, ranks=False).tables
    (row,) = table.rows
    assert row.seeds == [0, 1] and row.value("recall@1") == pytest.approx(42.0)


def test_suite_filter_takes_seeds_for_as_the_grid_runs_them():
    from cvgl_bench.leaderboard.tables import expected_seeds

    suite = parse_suite({"methods": ["m"], "splits": ["a_test", "b_test"], "seeds": [0],
                         "seeds_for": {"a_test": [0, 1, 2]}})
    assert suite.accepts("m", "cpu", 2, "in-domain", "a_train", "a_test")
    assert not suite.accepts("m", "cpu", 2, "in-domain", "b_train", "b_test")
    assert expected_seeds([suite], "m", "cpu", "in-domain", "a_train", "a_test") == (0, 1, 2)
    assert expected_seeds([suite], "m", "cpu", "in-domain", "b_train", "b_test") == (0,)
    with pytest.raises(ConfigError, match="seeds_for"):
        parse_suite({"methods": ["m"], "seeds": [0], "seeds_for": {"a_test": "x"}})


def test_records_made_before_place_resampling_get_intervals_over_places(tmp_path, host):
    """300 drone-like queries of 20 places: a record without ``intervals`` (made when intervals
    resampled queries) shows the interval ``run`` writes now, recomputed from its ranks, and says
    so; a current record keeps its own; neither file is touched."""
    from cvgl_bench import results
    from cvgl_bench.evaluate.scoring import rescore
    from tests.leaderboard_fakes import draw_ranks

    split = dict(eval_split="u1652_d2s", train_split="u1652_train", in_domain_train="u1652_train")
    rng = np.random.default_rng(3)
    paths = {}
    for method, seed in (("old", 4), ("new", 5)):
        arrays = rank_arrays(draw_ranks(300, 20, 0.4, 0.3, rng), 20, rng=rng)
        paths[method] = write_record(tmp_path, method=method, seed=seed, arrays=arrays, **split)
    data = json.loads(paths["old"].read_text())
    assert data.pop("intervals") == {"places": 20, "resamples": 1000, "seed": 4}
    paths["old"].write_text(json.dumps(data))
    on_disk = {m: p.read_text() for m, p in paths.items()}
    board = lb.build(tmp_path, host=host)
    (table,) = board.tables
    rows = {row.method: row for row in table.rows}
    record = rows["old"].runs[0].record
    want = rescore(results.read_ranks(paths["old"], record), record.protocol, list(record.metrics), n_boot=1000,
                   seed=4, host=host)
    assert record.intervals == results.IntervalInfo(want.n_places, 1000, 4) and want.n_places == 20
    for name, metric in want.metrics.items():
        assert [rows["old"].stats[name].lo, rows["old"].stats[name].hi] == metric["ci95"]
    new = rows["new"].runs[0].record
    assert [rows["new"].stats["recall@1"].lo, rows["new"].stats["recall@1"].hi] == new.metrics["recall@1"].ci95
    own = rescore(results.read_ranks(paths["new"], new), new.protocol, ["recall@1"], n_boot=1000, seed=5, host=host)
    assert new.metrics["recall@1"].ci95 == own.metrics["recall@1"]["ci95"]
    assert any("1 n=1 record(s) were made before intervals resampled places" in note for note in table.notes)
    assert {m: p.read_text() for m, p in paths.items()} == on_disk
    text = lb.render_text(board, "md")
    assert "300 queries show 20 places, resampled with all their queries" in text
    assert "paired bootstrap over places" in text


def test_rows_with_the_same_value_share_a_rank_and_the_page_states_units_and_the_k_of_r1pct(tmp_path):
    """Identical rows were numbered 3 and 4; no page said the cells are percent (outside audit)."""
    for method in ("a", "b", "c"):
        write_record(tmp_path, method=method, seed=0, arrays=constant_ranks(0 if method == "a" else 1), **CVUSA)
    text = lb.render_text(build(tmp_path, significance=False), "md")
    ranks = re.findall(r"^\|\s+(\d+)\s+\|\s+(\w)\s+\|", text, re.M)
    assert ranks == [("1", "a"), ("2", "b"), ("2", "c")]
    assert "Cells: percent; each row is one run (*), with its 95% bootstrap interval [lo, hi]." in text
    assert re.search(r"R@1%: recall@\d+ on this gallery of [\d,]+ \(floor rounding\)\.", text)
