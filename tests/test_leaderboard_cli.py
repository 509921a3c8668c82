"""``cvgl-bench leaderboard``: thin CLI over the library; user errors are one line, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cvgl_bench.cli import cli
from tests.leaderboard_fakes import rank_arrays, write_record

CVUSA = dict(eval_split="cvusa_test", train_split="cvusa_train", in_domain_train="cvusa_train")


@pytest.fixture
def results_dir(tmp_path, host):
    root = tmp_path / "results"
    for method, best in (("sample4geo", np.zeros(200)), ("safa", np.arange(200) % 4)):
        for seed in (0, 1):
            write_record(root, method=method, seed=seed, arrays=rank_arrays(best.astype(np.int64), 300), **CVUSA)
    return root


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_prints_markdown_without_out(results_dir):
    result = run("leaderboard", "--results", str(results_dir))
    assert result.exit_code == 0, result.output
    assert "# cvusa_test (in-domain, trained on cvusa_train)" in result.output
    assert "| sample4geo" in result.output and "98.68\u2020 [S]" in result.output  # committed published.yaml


def test_a_markdown_board_and_a_suite_filter_never_import_torch(results_dir, tmp_path):
    """The leaderboard only reads records and suites: importing torch was most of its time (4.2 s
    against 1.0 s for a small board, measured on 2 CPU cores), paid in every CI step and by every
    user who prints a board."""
    suite = tmp_path / "suite.yaml"
    suite.write_text("methods: [safa]\nsplits: [cvusa_test]\n")
    script = ("import sys\nfrom click.testing import CliRunner\nfrom cvgl_bench.cli import cli\n"
              f"for args in (['leaderboard', '--results', {str(results_dir)!r}],\n"
              f"             ['leaderboard', '--results', {str(results_dir)!r}, '--suite', {str(suite)!r}, '--format', 'csv']):\n"
              "    result = CliRunner().invoke(cli, args)\n"
              "    assert result.exit_code == 0, result.output\n"
              "print(sorted(name for name in ('torch', 'torchvision', 'timm') if name in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "CVGL_BENCH_NO_ENTRYPOINTS": "0"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_writes_html_with_plots(results_dir, tmp_path):
    out = tmp_path / "site"
    result = run("leaderboard", "--results", str(results_dir), "--format", "html", "--out", str(out),
                 "--no-examples")
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and "data:image/png;base64," in (out / "in-domain__cvusa_test.html").read_text()
    assert "open " in result.output



def test_figure_format_needs_somewhere_to_write(results_dir, tmp_path):
    result = run("leaderboard", "--results", str(results_dir), "--figure-format", "svg")
    assert result.exit_code == 2 and "--figure-format" in result.output and "--out" in result.output
    out = tmp_path / "site"
    result = run("leaderboard", "--results", str(results_dir), "--out", str(out), "--no-examples",
                 "--figure-format", "pdf")
    assert result.exit_code == 0, result.output
    assert list((out / "plots").glob("*.pdf"))

@pytest.mark.parametrize("args, notes", [
    (["--no-significance", "--n-boot", "500"], ["--n-boot is not read with --no-significance"]),
    (["--runs", "elsewhere", "--no-examples"], ["--runs is not read without --out", "--no-examples is not read without"]),
    (["--paper-table", "--n-boot", "300"], ["--n-boot is not read with --paper-table"]),
    (["--published-only", "--suite", "synth"], ["--results is not read with --published-only",
                                                "--suite is not read with --published-only"]),
])
def test_an_option_this_mode_does_not_read_is_named_not_silently_dropped(results_dir, args, notes):
    result = run("leaderboard", "--results", str(results_dir), *args)
    assert result.exit_code == 0, result.output
    noted = [line for line in result.stderr.splitlines() if "is not read" in line]
    assert [any(note in line for line in noted) for note in notes] == [True] * len(notes), noted
    assert len(noted) == len(notes), noted
    assert "is not read" not in run("leaderboard", "--results", str(results_dir)).stderr


def test_runs_with_no_examples_is_named_and_an_empty_published_name_is_refused(results_dir, tmp_path):
    """--no-examples drops the map figures, the only reader of --runs, and --published '' showed
    no published numbers without a word (outside fuzzing)."""
    out = tmp_path / "board"
    result = run("leaderboard", "--results", str(results_dir), "--out", str(out), "--no-examples", "--runs", "x")
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "is not read" in line] == [
        "[cvgl-bench] note: --runs is not read with --no-examples (it drops the map figures, which need the "
        "checkpoints)"]
    empty = run("leaderboard", "--results", str(results_dir), "--published", "")
    assert empty.exit_code == 2 and "'--published': is empty; give a path name" in empty.output


def test_a_data_root_that_a_synthetic_board_does_not_read_is_named(host, tmp_path):
    """Every record on the board is of a synthetic split, whose images live in the cache: the
    option was ignored without a word (outside fuzzing)."""
    import shutil

    committed = Path(__file__).resolve().parents[1] / "leaderboards" / "synth" / "results" / "safa" / "cpu"
    results = tmp_path / "results" / "safa" / "cpu"
    results.mkdir(parents=True)
    for name in ("synth_cvact_train__synth_cvact_test__seed0.json", "synth_cvact_train__synth_cvact_test__seed0.ranks.npz"):
        shutil.copy(committed / name, results / name)
    done = run("leaderboard", "--results", str(tmp_path / "results"), "--data-root", str(tmp_path / "real"),
               "--no-significance")
    assert done.exit_code == 0, done.output
    assert f"--data-root {tmp_path / 'real'} is not read: synthetic splits" in done.stderr
    assert "is not read" not in run("leaderboard", "--results", str(tmp_path / "results"), "--no-significance").stderr


def test_csv_to_stdout_and_suite_filter(results_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("methods: [safa]\nsplits: [cvusa_test]\n")
    result = run("leaderboard", "--results", str(results_dir), "--format", "csv", "--suite", str(suite))
    assert result.exit_code == 0, result.output
    assert "safa" in result.output and "sample4geo" not in result.output


def test_a_benchmark_the_suite_asks_for_without_any_record_is_named_not_dropped(results_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: two\nmethods: [safa]\nsplits: [cvusa_test, vigor_same_test]\n"
                     "transfer: [[cvusa_train, cvact_val]]\n")
    out = tmp_path / "board"
    result = run("leaderboard", "--results", str(results_dir), "--suite", str(suite), "--out", str(out),
                 "--no-plots")
    assert result.exit_code == 0, result.output
    for benchmark in ("in-domain vigor_same_test", "transfer cvusa_train -> cvact_val"):
        assert f"suite two asks for {benchmark}, which has no record, so it has no table" in result.stderr
        assert f"suite two asks for {benchmark}, which has no record" in (out / "index.md").read_text()
    assert "asks for in-domain cvusa_test" not in result.stderr


def test_a_suites_name_and_description_head_its_board(results_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: my-benchmark\ndescription: Every method on CVUSA.\nmethods: [safa]\nsplits: [cvusa_test]\n")
    out = tmp_path / "board"
    result = run("leaderboard", "--results", str(results_dir), "--suite", str(suite), "--out", str(out),
                 "--no-plots")
    assert result.exit_code == 0, result.output
    index = (out / "index.md").read_text()
    assert index.startswith("# my-benchmark\n\nEvery method on CVUSA.\n")
    plain = run("leaderboard", "--results", str(results_dir), "--out", str(tmp_path / "plain"), "--no-plots")
    assert plain.exit_code == 0 and (tmp_path / "plain" / "index.md").read_text().startswith("# cvgl-bench leaderboard")


@pytest.mark.parametrize("args, message", [
    (["--results", "{tmp}/missing"], "does not exist"),
    (["--results", "{tmp}/empty"], "no result records"),
    (["--results", "{results}", "--suite", "{tmp}/nope.yaml"], "cannot read suite"),
    (["--results", "{results}", "--published", "{tmp}/nope.yaml"], "cannot read published numbers"),
    (["--results", "{results}", "--format", "html"], "give --out DIR"),
    (["--results", "{results}", "--n-boot", "0"], "0 is not between 100 and 1,000,000 resamples"),
    (["--results", "{results}", "--n-boot", "10000000"], "10000000 is not between 100 and 1,000,000"),
])
def test_user_errors_are_one_line(results_dir, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, results=results_dir) for a in args]
    result = run("leaderboard", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
