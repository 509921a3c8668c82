"""Honest boards: every row says whose code made it, every page its run context."""

from __future__ import annotations

import json
import types

import pytest

from cvgl_bench import MethodSpec, hookimpl
from cvgl_bench.leaderboard.document import main_table, run_context_table
from cvgl_bench.leaderboard.render import render

from .leaderboard_fakes import build, write_record

TASK = {"eval_split": "cvusa_test", "train_split": "cvusa_train", "in_domain_train": "cvusa_train"}


def _methods_plugin():
    module = types.ModuleType("board_methods")

    @hookimpl
    def cvgl_bench_register_methods(register):
        register(MethodSpec(name="theirs", loader="x:y", summary="the authors' code", official=True))
        register(MethodSpec(name="ours", loader="x:y", summary="a re-implementation", official=False))
        register(MethodSpec(name="guessed", loader="x:y", summary="from the abstract", official=False,
                            tags=("from-abstract",)))
        register(MethodSpec(name="silent", loader="x:y", summary="says nothing about whose code it is"))

    module.cvgl_bench_register_methods = cvgl_bench_register_methods
    return module


def _write(root, method, seed=0, revision="abcdef1234567890", **kw):
    return write_record(root, method=method, seed=seed, arrays=None, metrics={"recall@1": 10.0 + seed},
                        revision=revision, **TASK, **kw)


def test_rows_say_whose_code_made_them(make_host, tmp_path):
    make_host(_methods_plugin())
    root = tmp_path / "results"
    for method in ("theirs", "ours", "guessed", "silent", "gone"):
        _write(root, method)
    imported = _write(root, "theirs", variant="checkpoint=1234abcd")
    record = json.loads(imported.read_text())
    record["checkpoint"] = {"file": "/models/released.pth", "sha256": "1234abcd" * 8, "imported": True}
    imported.write_text(json.dumps(record))
    (table,) = build(root, ranks=False, significance=False).tables
    code = {row.label: row.implementation for row in table.rows}
    assert code == {"theirs": "authors' code", "ours": "re-implementation", "guessed": "re-impl. from abstract",
                    "silent": "not stated", "gone": "not installed", "theirs [checkpoint=1234abcd]": "imported weights"}
    main, notes = main_table(table)
    assert "Code" in main.headers
    assert any(n.startswith("Code 're-impl. from abstract': an unofficial re-implementation") for n in notes)


def test_every_page_carries_its_run_context(make_host, tmp_path):
    make_host(_methods_plugin())
    root = tmp_path / "results"
    paths = [_write(root, "ours", seed=seed) for seed in (0, 1)]
    for path in paths:
        record = json.loads(path.read_text())
        record["provenance"].update({"finished_at": "2026-12-05T10:11:12+00:00", "cpu": "Intel(R) Xeon(R)",
                                     "trained_with": {"train_s": 251.4}, "train_reused": False})
        path.write_text(json.dumps(record))
    board = build(root, ranks=False, significance=False)
    (table,) = board.tables
    context = run_context_table(board, table)
    assert context.headers[:4] == ["Method", "Seed", "Finished (UTC)", "Commit"]
    first = context.rows[0]
    assert first[1:6] == ["0", "2026-12-05 10:11", "abcdef1", "cpu (Intel(R) Xeon(R))", "251 s"]
    assert first[7] == paths[0].relative_to(root).as_posix() and first[6] == table.rows[0].config_hash[:12]
    render(board, tmp_path / "out", "md", plots=False, examples=False)
    page = (tmp_path / "out" / f"{table.key}.md").read_text()
    assert "## Run context" in page and "abcdef1" in page and paths[1].name in page


def test_each_table_states_its_chance_level(make_host, tmp_path):
    import numpy as np

    from cvgl_bench.data.structures import GroundTruth
    from cvgl_bench.evaluate.metrics import chance_recall

    from .leaderboard_fakes import draw_ranks, rank_arrays

    make_host(_methods_plugin())
    arrays = rank_arrays(draw_ranks(50, 400, 0.5, 0.1, np.random.default_rng(0)), 400)
    write_record(tmp_path / "r", method="ours", seed=0, arrays=arrays, **TASK)
    (table,) = build(tmp_path / "r", significance=False).tables
    n = table.n_references
    assert table.chance["recall@1"] == pytest.approx(100.0 / n) and table.chance["recall@5"] == pytest.approx(500.0 / n)
    _, notes = main_table(table)
    assert any(note.startswith("Chance (a random ranking of this gallery): R@1") for note in notes)
    # two positives among four references, one junk: 1 - C(1, 1) / C(3, 1) = 2/3 at k = 1
    truth = GroundTruth(np.array([0, 3]), np.array([0, 1, 2]), np.array([1, 1, 3], dtype=np.int8), 4)
    assert chance_recall(truth, 1) == pytest.approx(200.0 / 3)
    assert chance_recall(truth, 2) == pytest.approx(100.0)


def test_lower_is_better_metrics_are_marked(make_host, tmp_path):
    make_host(_methods_plugin())
    path = _write(tmp_path / "r", "ours", metric_names=("recall@1", "median_m"))
    record = json.loads(path.read_text())
    record["metrics"]["median_m"] = {"value": 12.5, "convention": "median error", "ci95": None,
                                     "higher_is_better": False}
    path.write_text(json.dumps(record))
    (table,) = build(tmp_path / "r", ranks=False, significance=False).tables
    main, notes = main_table(table)
    assert table.lower_is_better() == {"median_m"}
    assert any(h.endswith("\u2193") and "median_m" in h for h in main.headers)
    assert any(n.startswith("\u2193: lower is better (median_m)") for n in notes)
