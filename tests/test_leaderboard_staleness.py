"""Stale records: a table made by older code than the checkout says so on its page."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cvgl_bench.leaderboard.staleness import CodeHistory, record_generator_version, table_staleness


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}).stdout.strip()


def _commit(repo: Path, path: str, text: str, message: str | None = None) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    _git(repo, "add", path)
    _git(repo, "commit", "-qm", message or f"edit {path}")
    return _git(repo, "rev-parse", "HEAD")


def _no_git() -> CodeHistory:
    """A history with no checkout (an installed package): only generator versions are checked."""
    history = CodeHistory()
    history.repo, history.paths = None, []
    return history


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    return tmp_path


def _record(revision: str, generator: str | None = "2", root: str = "") -> dict:
    synthetic = {"layout": "cvusa", "root": root}
    if generator is not None:
        synthetic["generator_version"] = generator
    return {"provenance": {"git": {"revision": revision}, "data_info": {"synthetic": synthetic}}}


def test_a_change_to_result_code_after_the_record_makes_it_stale(repo):
    made_at = _commit(repo, "cvgl_bench/train/loop.py", "a")
    _commit(repo, "README.md", "docs only")
    history = CodeHistory(repo)
    assert not table_staleness([("m seed 0", _record(made_at))], history, "2")
    _commit(repo, "cvgl_bench/train/loop.py", "b")
    stale = CodeHistory(repo)
    found = table_staleness([("m seed 0", _record(made_at)), ("m seed 1", _record(made_at))], stale, "2")
    (note,) = found.notes()
    assert note.startswith(f"stale: made at {made_at[:7]}; 1 later commit(s)") and "m seed 0, m seed 1" in note


def test_a_commit_declaring_results_unchanged_is_not_counted(repo):
    made_at = _commit(repo, "cvgl_bench/data/synth/cache.py", "a")
    _commit(repo, "cvgl_bench/data/synth/cache.py", "b", "Lock dies with its owner\n\nResults-unchanged: only the lock")
    _commit(repo, "cvgl_bench/train/loop.py", "c", "Mention Results-unchanged: in the subject does not count")
    _commit(repo, "cvgl_bench/train/loop.py", "d", "Empty trailer\n\nResults-unchanged:")
    assert CodeHistory(repo).changes_since(made_at) == 2
    unchanged_only = _commit(repo, "cvgl_bench/evaluate/x.py", "e")
    _commit(repo, "cvgl_bench/evaluate/x.py", "f", "Refuse NaN\n\nresults-unchanged: a check that refuses input")
    assert not table_staleness([("r", _record(unchanged_only))], CodeHistory(repo), "2")


def test_a_later_commit_can_vouch_for_an_earlier_one(repo):
    made_at = _commit(repo, "cvgl_bench/run/suite.py", "a")
    forgot = _commit(repo, "cvgl_bench/run/suite.py", "b", "Suites by name (forgot the trailer)")
    assert CodeHistory(repo).changes_since(made_at) == 1
    _commit(repo, "README.md", "c", f"Docs\n\nResults-unchanged-for: {forgot[:7]} suite names only, no number moves")
    assert CodeHistory(repo).changes_since(made_at) == 0
    _commit(repo, "README.md", "d", "Docs\n\nResults-unchanged-for: zzz not a commit")
    other = _commit(repo, "cvgl_bench/train/loop.py", "e", "A real change")
    _commit(repo, "README.md", "f", f"Docs\n\nResults-unchanged-for: {other[:7]}")  # no reason: not counted
    assert CodeHistory(repo).changes_since(made_at) == 1


def test_plugins_and_generator_changes_count_too(repo):
    made_at = _commit(repo, "plugins/x/method.py", "a")
    _commit(repo, "cvgl_bench/data/synth/world.py", "b")
    assert table_staleness([("r", _record(made_at))], CodeHistory(repo), "2")


def test_an_older_generator_version_is_stale_without_git():
    no_git = _no_git()
    found = table_staleness([("r", _record("0" * 40, generator="1"))], no_git, "2")
    assert any("generator version 1" in n for n in found.notes())
    assert not table_staleness([("r", _record("0" * 40, generator="2"))], no_git, "2")


def test_old_records_give_their_generator_version_in_the_cache_folder_name():
    record = _record("abc", generator=None, root="<cache>/synth/cvact-small-seed0-v1")
    assert record_generator_version(record) == "1"
    assert record_generator_version({"provenance": {"data_info": {}}}) is None


def test_an_unknown_revision_is_not_called_stale(repo):
    _commit(repo, "cvgl_bench/train/loop.py", "a")
    history = CodeHistory(repo)
    assert history.changes_since("f" * 40) is None
    assert history.changes_since("--all") is None  # never passed to git as an option
    found = table_staleness([("r", _record("f" * 40))], history, "2")
    assert not found  # but the page says it could not tell (a shallow clone lacks the commit)
    (note,) = found.notes()
    assert note.startswith("not checked for staleness: this checkout's git history does not hold commit fffffff")
    assert not table_staleness([("r", _record("f" * 40))], _no_git(), "2").notes()  # no checkout


def test_a_shallow_clone_names_the_records_it_cannot_check(tmp_path, repo):
    made_at = _commit(repo, "cvgl_bench/train/loop.py", "a")
    _commit(repo, "cvgl_bench/train/loop.py", "b")
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", "shallow")
    found = table_staleness([("r", _record(made_at))], CodeHistory(tmp_path / "shallow"), "2")
    assert not found and "not checked for staleness" in found.notes()[0]


def test_a_split_registration_counts_as_result_code(repo):
    """A split's default protocol lives in its registration: ties=loose there moves every number."""
    made_at = _commit(repo, "cvgl_bench/builtin/synth.py", "a")
    _commit(repo, "cvgl_bench/builtin/data_command.py", "b")
    assert CodeHistory(repo).changes_since(made_at) == 0
    _commit(repo, "cvgl_bench/builtin/synth.py", "c")
    _commit(repo, "cvgl_bench/specs.py", "d")
    assert CodeHistory(repo).changes_since(made_at) == 2


def test_the_leaderboard_page_says_stale(tmp_path, repo):
    from cvgl_bench.leaderboard.document import table_document
    from .leaderboard_fakes import build

    from .leaderboard_fakes import write_record

    made_at = _commit(repo, "cvgl_bench/evaluate/metrics.py", "a")
    _commit(repo, "cvgl_bench/evaluate/metrics.py", "b")
    write_record(tmp_path / "results", method="m", eval_split="synth_cvusa_test", train_split="synth_cvusa_train",
                 in_domain_train="synth_cvusa_train", seed=0, arrays=None, metrics={"recall@1": 50.0},
                 revision=made_at)
    board = build(tmp_path / "results", history=CodeHistory(repo), ranks=False, significance=False)
    (table,) = board.tables
    assert table.stale and any(w.startswith("stale: 1 of 1 table") for w in board.warnings)
    text = "\n".join(str(b) for b in table_document(board, table, []).blocks)
    assert "stale: made at" in text


def test_a_layout_revision_makes_only_that_layouts_records_stale(monkeypatch):
    from cvgl_bench.data import synth

    monkeypatch.setattr(synth, "LAYOUT_REVISIONS", {"cvusa": 1})
    assert synth.dataset_version("cvusa") == f"{synth.GENERATOR_VERSION}.1"
    assert synth.dataset_version("vigor") == synth.GENERATOR_VERSION
    old_cvusa = _record("0" * 40, generator=synth.GENERATOR_VERSION)
    vigor = _record("0" * 40, generator=synth.GENERATOR_VERSION)
    vigor["provenance"]["data_info"]["synthetic"]["layout"] = "vigor"
    no_git = _no_git()
    (note,) = table_staleness([("c", old_cvusa)], no_git, synth.dataset_version).notes()
    assert f"synthetic cvusa data of generator version {synth.GENERATOR_VERSION};" in note
    assert f"now version {synth.GENERATOR_VERSION}.1" in note
    assert not table_staleness([("v", vigor)], no_git, synth.dataset_version)
