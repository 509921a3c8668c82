"""Hostile input through the real command line: one actionable stderr line, exit code 2, no
traceback, nothing written (issue: reliability). Each case runs ``python -m cvgl_bench`` in a
subprocess with the installed plugins, a private cache and a timeout."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0",
           "CVGL_BENCH_CACHE": str(tmp_path / "cache"), "CVGL_BENCH_SYNTH_SIZE": "tiny"}
    return subprocess.run([sys.executable, "-m", "cvgl_bench", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=tmp_path)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


SUITE_HEAD = "methods: [sample4geo]\nsplits: [synth_cvusa_test]\n"

HOSTILE_SUITES = {
    "random_bytes": (None, "not UTF-8 text"),
    "protocol_list": (SUITE_HEAD + "protocol: [ties, loose]\n", "protocol must map"),
    "protocol_unknown_key": (SUITE_HEAD + "protocol: {nosuch: 1}\n", "protocol option 'nosuch'"),
    "protocol_bad_value": (SUITE_HEAD + "protocol: {ties: sideways}\n", "ties='sideways'"),
    "seeds_for_list": (SUITE_HEAD + "seeds_for: [1, 2]\n", "seeds_for must map"),
    "seeds_for_other_split": (SUITE_HEAD + "seeds_for: {synth_cvact_test: [1]}\n", "does not evaluate"),
    "seeds_strings": (SUITE_HEAD + "seeds: [a, b]\n", "seeds must be lists of integers"),
    "unknown_profile": (SUITE_HEAD + "profile: nosuch\n", "no profile 'nosuch'"),
    "transfer_from_eval_split": (SUITE_HEAD + "transfer: [[synth_cvact_val, synth_cvusa_test]]\n",
                                 "is not a training split"),
    "training_split_as_eval": ("methods: [sample4geo]\nsplits: [synth_cvusa_train]\n", "is a training split"),
    "unknown_method": ("methods: [nosuch]\nsplits: [synth_cvusa_test]\n", "suite.yaml: unknown method 'nosuch'"),
    "unknown_split": (SUITE_HEAD.replace("synth_cvusa_test", "synth_nosuch"), "suite.yaml: unknown split 'synth_nosuch'"),
    "unknown_key": (SUITE_HEAD + "sedes: [0]\n", "unknown key 'sedes'"),
    "not_a_mapping": ("- a\n- b\n", "must be a YAML mapping"),
    "invalid_yaml": ("methods: [sample4geo\n", "not valid YAML"),
    "duplicate_key": ("methods: [nosuch]\nsplits: [synth_cvusa_test]\nmethods: [sample4geo]\n",
                      "the key 'methods' is given twice"),
    "alias_bomb": (SUITE_HEAD + "a: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8)), "expands to more than 1,000,000"),
    "huge_seed_count": (SUITE_HEAD + "seeds: 4294967296\n", "asks for more than 1,000 seeds"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SUITES))
def test_a_hostile_suite_is_one_line_before_any_work(tmp_path, monkeypatch, make_host, case):
    text, needle = HOSTILE_SUITES[case]
    suite = tmp_path / "suite.yaml"
    if text is None:
        suite.write_bytes(bytes(range(128, 256)) * 3)
    else:
        suite.write_text(text)
    grid = ("grid", str(suite), "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs"))
    # the first case in a fresh process (the console script's exit), the others in this one
    proc = cli(tmp_path, *grid) if case == min(HOSTILE_SUITES) else in_process(tmp_path, monkeypatch, make_host, *grid)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    assert not (tmp_path / "cache").exists()  # refused before generating any data


@pytest.mark.parametrize("option,needle", [("nosuch=1", "protocol option 'nosuch'"), ("ties=bogus", "ties='bogus'"),
                                           ("ties", "KEY=VALUE")])
def test_run_refuses_a_protocol_option_it_would_ignore(tmp_path, monkeypatch, make_host, option, needle):
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "--method", "sample4geo", "--dataset",
                      "synth_cvusa_test", "--protocol", option, "--results", str(tmp_path / "results"), "--runs",
                      str(tmp_path / "runs"))
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


# -- the leaderboard over damaged records -----------------------------------------------------
def _good_record(root: Path, seed: int, value: float) -> Path:
    from .leaderboard_fakes import write_record

    return write_record(root, method="m", eval_split="synth_cvusa_test", train_split="synth_cvusa_train",
                        in_domain_train="synth_cvusa_train", seed=seed, arrays=None, metrics={"recall@1": value})


DAMAGE = {
    "string_metric": lambda r: r["metrics"]["recall@1"].__setitem__("value", "50"),
    "nan_metric": lambda r: r["metrics"]["recall@1"].__setitem__("value", math.nan),
    "infinite_interval": lambda r: r["metrics"]["recall@1"].__setitem__("ci95", [0, math.inf]),
    "string_efficiency": lambda r: r.__setitem__("efficiency", {"params": "many"}),
    "string_n_queries": lambda r: r.__setitem__("n_queries", "1000"),
    "string_seed": lambda r: r["cell"].__setitem__("seed", "1"),
    "negative_seed": lambda r: r["cell"].__setitem__("seed", -5),
    "huge_metric": lambda r: r["metrics"]["recall@1"].__setitem__("value", 10 ** 400),
    "huge_interval": lambda r: r["metrics"]["recall@1"].__setitem__("ci95", [0, 10 ** 400]),
    "huge_efficiency": lambda r: r.__setitem__("efficiency", {"params": 10 ** 400}),
    "string_direction": lambda r: r["metrics"]["recall@1"].__setitem__("higher_is_better", "no"),
    "unknown_split_key": lambda r: r.__setitem__("split", {"synthetic": True, "bogus": 1}),
    "list_train_split": lambda r: r["cell"].__setitem__("train_split", ["synth_cvusa_train"]),
    "string_hparams": lambda r: r["cell"].__setitem__("hparams", "abc"),
    "lone_surrogate": lambda r: r["cell"].__setitem__("method", "\ud800x"),
    "list_git": lambda r: r["provenance"].__setitem__("git", [1, 2]),
    "int_data_info": lambda r: r["provenance"].__setitem__("data_info", 5),
    "deep_nesting": None,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_leaderboard_skips_a_damaged_record_with_one_warning(tmp_path, damage):
    results = tmp_path / "results"
    _good_record(results, 0, 40.0)
    bad = _good_record(results, 1, 45.0)
    record = json.loads(bad.read_text())
    if DAMAGE[damage] is None:  # deeper than any JSON reader recurses
        bad.write_text(json.dumps(record)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        DAMAGE[damage](record)
        bad.write_text(json.dumps(record))  # json writes NaN and Infinity, as a careless tool would
    proc = cli(tmp_path, "leaderboard", "--results", str(results), "--format", "md")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "nan ±" not in proc.stdout and "| nan" not in proc.stdout  # never ranked as a number
    warnings = [line for line in proc.stderr.splitlines() if bad.name in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), proc.stderr
    assert "40.00" in proc.stdout  # the good record is still on the board


def test_a_ranks_file_with_the_wrong_row_count_is_left_out_with_a_warning(tmp_path):
    import numpy as np

    from cvgl_bench import results as results_module

    from .leaderboard_fakes import build, draw_ranks, rank_arrays, write_record

    rng = np.random.default_rng(0)
    root = tmp_path / "results"
    for seed in (0, 1):
        arrays = rank_arrays(draw_ranks(50, 100, 0.5, 0.1, rng), 100)
        path = write_record(root, method="m", eval_split="synth_cvusa_test", train_split="synth_cvusa_train",
                            in_domain_train="synth_cvusa_train", seed=seed, arrays=arrays)
    record = json.loads(path.read_text())
    record["n_queries"] = 49  # the record and its ranks file disagree
    path.write_text(json.dumps(record))
    assert results_module.read(path).n_queries == 49
    board = build(root)
    assert any(str(path) in w and "rerun the cell" in w for w in board.warnings)


def _two_ranked_records(root: Path) -> Path:
    import numpy as np

    from .leaderboard_fakes import draw_ranks, rank_arrays, write_record

    rng = np.random.default_rng(0)
    for seed in (0, 1):
        arrays = rank_arrays(draw_ranks(50, 100, 0.5, 0.1, rng), 100)
        path = write_record(root, method="m", eval_split="synth_cvusa_test", train_split="synth_cvusa_train",
                            in_domain_train="synth_cvusa_train", seed=seed, arrays=arrays)
    return path


def _replace_ranks(path: Path, change) -> Path:
    """Rewrite the ranks file of record ``path`` through ``change`` and re-sign it in the record,
    as a careless or hostile tool would: the checksum alone cannot catch it."""
    import numpy as np

    from cvgl_bench import fsutil, results as results_module

    rpath = results_module.ranks_path(path)
    with np.load(rpath) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    fsutil.write_npz(rpath, arrays)
    record = json.loads(path.read_text())
    record["ranks"]["sha256"] = fsutil.sha256_file(rpath)
    path.write_text(json.dumps(record))
    return rpath


@pytest.mark.parametrize("change,needle", [
    (lambda a: a.__setitem__("rank_strict", np.zeros_like(a["rank_strict"])), "do not belong together"),
    (lambda a: a.__setitem__("gt_n_references", np.asarray(10 ** 15)), "the ranks file has 1000000000000000 references"),
    (lambda a: a.__setitem__("gt_n_references", np.asarray([1, 2, 3])), "is not one integer"),
    (lambda a: a.__setitem__("similarity", a["similarity"] * np.nan), "a similarity is NaN or infinite"),
    (lambda a: a.__setitem__("rank_strict", a["rank_strict"] + 0.5), "rank_strict has dtype float64"),
    (lambda a: a.__setitem__("rank_loose", a["rank_loose"].astype(np.complex128)), "rank_loose has dtype complex128"),
])
def test_ranks_that_disagree_with_their_record_are_left_out_with_a_warning(tmp_path, change, needle):
    from .leaderboard_fakes import build

    path = _two_ranked_records(tmp_path / "results")
    _replace_ranks(path, change)
    board = build(tmp_path / "results")
    assert any(str(path) in w and needle in w for w in board.warnings), board.warnings


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_a_ranks_file_is_left_out_without_waiting_for_a_writer(tmp_path):
    from cvgl_bench import results as results_module

    from .leaderboard_fakes import build

    path = _two_ranked_records(tmp_path / "results")
    rpath = results_module.ranks_path(path)
    rpath.unlink()
    os.mkfifo(rpath)
    board = build(tmp_path / "results")
    assert any("not a regular file" in w for w in board.warnings), board.warnings


@pytest.mark.parametrize("setting,needle", [("epochs=abc", "epochs is an integer"),
                                            ("batch_size=abc", "batch_size is an integer"),
                                            ("batch_size=[1,2]", "not a list"),
                                            ("augment=5", "augment is a table"),
                                            ("epochs=2.5", "not a number")])
def test_run_refuses_an_override_of_the_wrong_kind_before_loading_data(tmp_path, monkeypatch, make_host, setting,
                                                                       needle):
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "--method", "sample4geo", "--dataset",
                      "synth_cvusa_test", "--set", setting, "--results", str(tmp_path / "results"), "--runs",
                      str(tmp_path / "runs"))
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()


def in_process(tmp_path: Path, monkeypatch, make_host, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """:func:`cli` in this process (the installed plugins, a private cache, tiny synthetic data,
    then ``env``): the checks that refuse a value before any work, at a fraction of a
    subprocess's start-up. What only a fresh process shows (a warning printed at import, the
    exit of the console script) is covered by the subprocess cases of this module."""
    from click.testing import CliRunner

    from cvgl_bench.cli import cli as command_line

    for key, value in {"CVGL_BENCH_CACHE": str(tmp_path / "cache"), "CVGL_BENCH_SYNTH_SIZE": "tiny",
                       **(env or {})}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    make_host(entry_points=True)
    result = CliRunner().invoke(command_line, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("args,env,needle", [
    (("--set", "epochs=-1"), {}, "epochs must be an integer at least 1, not -1"),
    (("--set", "lr=.inf"), {}, "--set lr=.inf: a hparam holds finite numbers only (no inf or NaN"),
    (("--set", "augment.color_jitter=.nan", "--dry-run"), {}, "--set augment.color_jitter=.nan: a hparam holds finite"),
    (("--set", "lr=-1e-3", "--dry-run"), {}, "lr must be a finite number above 0"),
    (("--threads", "0"), {}, "'--threads': 0 is not in the range 1<=x<=1024"),
    (("--threads", "99999999999999999999"), {}, "'--threads': 99999999999999999999 is not in the range 1<=x<=1024"),
    (("--loader-workers", "-1"), {}, "'--loader-workers': -1 is not in the range 0<=x<=64"),
    (("--loader-workers", "99999999999999999999"), {}, "'--loader-workers': 99999999999999999999 is not in the range"),
    (("--set", "workers=100000"), {}, "workers must be an integer from 0 to 64, not 100000"),
    (("--set", "threads=2000", "--dry-run"), {}, "threads must be an integer from 1 to 1024, not 2000"),
    (("--checkpoint", ""), {}, "Invalid value for '--checkpoint': is empty; give a file name (an unset shell"),
    (("--loader-workers", "0", "--checkpoint", "model.pt"), {}, "--loader-workers sets how training loads its data, "
     "and --checkpoint scores a trained model without training; drop --loader-workers"),
    ((), {"CVGL_BENCH_THREADS": "two"}, "CVGL_BENCH_THREADS must be an integer from 1 to 1024, not 'two'"),
    ((), {"CVGL_BENCH_THREADS": "-3"}, "CVGL_BENCH_THREADS must be an integer from 1 to 1024, not '-3'"),
    ((), {"CVGL_BENCH_THREADS": "5000"}, "CVGL_BENCH_THREADS must be an integer from 1 to 1024, not '5000'"),
    (("--device", "tpu"), {}, "--device 'tpu' is not a device"),
    (("--device", "cuda:7"), {"CUDA_VISIBLE_DEVICES": ""}, "--device cuda:7: this machine has no cuda device"),
    (("--seeds", "0,4294967296"), {}, "seeds are integers from 0 to 4294967295, not 4294967296"),
    (("--protocol", "ties=loose", "--protocol", "ties=strict"), {}, "--protocol ties is given twice"),
    (("--set", "lr=1e-3", "--set", "lr=2e-3", "--dry-run"), {}, "--set lr is given twice"),
    (("--set", "ncm=maybe", "--dry-run"), {}, "ncm must be one of off, spatial, full, warp; got 'maybe'"),
    (("--set", "head_dim=-5", "--dry-run"), {}, "head_dim must be an integer at least 1, not -5"),
    (("--set", "head_dim=0"), {}, "head_dim must be an integer at least 1, not 0"),
    (("--set", "gfr_reduction=0", "--dry-run"), {}, "gfr_reduction must be an integer at least 1, not 0"),
    (("--set", "mean=[1, 2]", "--dry-run"), {}, "mean must be three finite numbers, one per RGB channel"),
    (("--set", "std=[0, 1, 1]"), {}, "std must be three finite numbers, one per RGB channel (above 0)"),
    (("--set", "backbone_kwargs.drop_rate=5", "--dry-run"), {}, "timm cannot build backbone 'convnext_atto' with "
                                                               'backbone_kwargs {"drop_rate": 5}: ValueError'),
    (("--set", "backbone_kwargs={nope: 1}"), {}, "unexpected keyword argument 'nope'"),
    (("--set", "backbone=convnext_atom", "--dry-run"), {}, "unknown timm model 'convnext_atom'; did you mean"),
    (("--set", "image_size={ground: [64, 256], grund: [1, 1]}", "--dry-run"), {}, "no hparam 'grund' in image_size"),
])
def test_run_refuses_impossible_numbers_before_loading_data(tmp_path, monkeypatch, make_host, args, env, needle):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run = ("run", "--method", "clnet", "--dataset", "synth_cvusa_test", *args, "--results", str(tmp_path / "results"),
           "--runs", str(tmp_path / "runs"))
    # CUDA_VISIBLE_DEVICES is read once per process: that case, and the first, run in a fresh one
    fresh = "CUDA_VISIBLE_DEVICES" in env or args == ("--set", "epochs=-1")
    proc = cli(tmp_path, *run) if fresh else in_process(tmp_path, monkeypatch, make_host, *run)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("args,needle", [(("--jobs", "0"), "'--jobs': 0 is not in the range x>=1"),
                                         (("--threads", "-2"), "'--threads': -2 is not in the range 1<=x<=1024"),
                                         (("--loader-workers", "two"), "'--loader-workers': 'two' is not a valid integer"),
                                         (("--gpus-per-cell", "-1"), "'--gpus-per-cell'")])
def test_grid_refuses_impossible_counts_even_in_a_dry_run(tmp_path, args, needle):
    assert_one_line_error(cli(tmp_path, "grid", "--dry-run", *args), needle)


@pytest.mark.parametrize("args,needle", [
    (("--gpus-per-cell", "99999999999999999999", "--dry-run"), "'--gpus-per-cell': 99999999999999999999 is not in the "
                                                              "range 0<=x<=64"),
    (("--gpus-per-cell", "3", "--device", "cpu"), "--gpus-per-cell 3: no GPU is visible, so each cell would train in "
                                                  "3 CPU processes, and this machine has 2 CPUs; pass at most 2"),
    (("--slurm-cluster", "local"), "the slurm options (--slurm-partition, --slurm-cluster, --timeout-min"),
    (("--timeout-min", "5"), "apply to --executor slurm only"),
])
def test_grid_refuses_what_would_fork_without_bound_or_be_ignored(tmp_path, monkeypatch, make_host, args, needle):
    """Outside fuzzing: --gpus-per-cell 99999999999999999999 on a machine without a GPU started
    torchrun with that many processes; --slurm-cluster and --timeout-min without --executor
    slurm were ignored without a word."""
    import cvgl_bench.run.grid as grid_module

    monkeypatch.setattr(grid_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE_HEAD)
    proc = in_process(tmp_path, monkeypatch, make_host, "grid", str(suite), *args, "--results", str(tmp_path / "r"),
                      "--runs", str(tmp_path / "u"))
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_a_suite_seed_out_of_range_is_one_line(tmp_path, monkeypatch, make_host):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE_HEAD + "seeds: [-1]\n")
    assert_one_line_error(in_process(tmp_path, monkeypatch, make_host, "grid", str(suite), "--dry-run"),
                          "seeds are integers from 0 to 4294967295, not -1")


def test_a_data_root_that_synthetic_splits_do_not_read_is_named(tmp_path, monkeypatch, make_host):
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "--method", "clnet", "--dataset", "synth_cvusa_test",
                      "--data-root", str(tmp_path / "real"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert f"--data-root {tmp_path / 'real'} is not read: synthetic splits" in proc.stderr


@pytest.mark.parametrize("args,needle", [
    (("--set", "lr=&a [*a]"), "expands to more than 1,000,000 values"),
    (("--set", "lr=" + "9" * 5000), "--set value '99999"),
    (("--seeds", ",,,"), "no seed given"),
])
def test_run_refuses_self_referencing_huge_or_empty_values_in_one_line(tmp_path, monkeypatch, make_host, args,
                                                                       needle):
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "--method", "clnet", "--dataset", "synth_cvusa_test",
                      *args, "--dry-run")
    assert_one_line_error(proc, needle)
    assert len(proc.stderr) < 400


@pytest.mark.parametrize("args,env,needle", [
    (("--device", "bogus"), {}, "--device 'bogus' is not a device"),
    (("--device", ""), {}, "--device is empty"),
    ((), {"CVGL_BENCH_THREADS": "abc"}, "CVGL_BENCH_THREADS must be an integer from 1 to 1024"),
    ((), {"CVGL_BENCH_SYNTH_SIZE": "bogus"}, "CVGL_BENCH_SYNTH_SIZE: must be tiny, small"),
    (("--checkpoint", "model.pt", "--restart"), {}, "--restart retrains and --checkpoint scores"),
    (("--checkpoint", "model.pt", "--loader-workers", "1"), {}, "drop --loader-workers"),
])
def test_a_dry_run_refuses_what_the_run_would_refuse(tmp_path, monkeypatch, make_host, args, env, needle):
    run = ("run", "-m", "clnet", "-d", "synth_cvusa_test", *args, "--dry-run")
    if args == ("--device", "bogus"):  # the first case in a fresh process, with the user's synthetic size
        proc = subprocess.run([sys.executable, "-m", "cvgl_bench", *run], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0",
                                                 "CVGL_BENCH_CACHE": str(tmp_path / "cache"), **env})
    else:
        proc = in_process(tmp_path, monkeypatch, make_host, *run, env=env)
    assert_one_line_error(proc, needle)


def test_a_results_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed\n")
    proc = cli(tmp_path, "run", "-m", "sample4geo", "-d", "synth_cvusa_test", "--set", "epochs=1",
               "--results", str(blocker / "results"), "--runs", str(tmp_path / "runs"), timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"Error: --results {blocker / 'results'}: cannot write there")
    assert not list((tmp_path / "runs").rglob("model.pt")) and not list((tmp_path / "runs").rglob("last.pt"))
    assert not (tmp_path / "cache").exists()  # a folder that cannot hold any record is refused before any data


@pytest.mark.parametrize("option", ["--results", "--runs"])
@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)])
def test_a_folder_that_cannot_be_made_is_refused_before_any_data_and_by_a_dry_run(tmp_path, monkeypatch, make_host,
                                                                                   option, dry_run):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed\n")
    folders = {"--results": str(tmp_path / "results"), "--runs": str(tmp_path / "runs"), option: str(blocker / "x")}
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "-m", "sample4geo", "-d", "synth_cvusa_test",
                      *[arg for pair in folders.items() for arg in pair], *dry_run)
    assert_one_line_error(proc, f"{option} {blocker / 'x'}: cannot write there")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)])
def test_scoring_a_checkpoint_checks_the_results_folder_and_not_the_runs_folder_it_never_writes(
        tmp_path, monkeypatch, make_host, dry_run):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed\n")
    checkpoint = tmp_path / "model.pth"
    with zipfile.ZipFile(checkpoint, "w") as archive:  # begins as torch.save's files do; never read
        archive.writestr("note", "the folders are checked first")
    score = ("run", "-m", "sample4geo", "-d", "synth_cvusa_test", "--checkpoint", str(checkpoint), *dry_run)
    proc = in_process(tmp_path, monkeypatch, make_host, *score, "--results", str(blocker / "x"))
    assert_one_line_error(proc, f"--results {blocker / 'x'}: cannot write there")
    if dry_run:  # the runs folder is not refused: the dry run goes on
        proc = in_process(tmp_path, monkeypatch, make_host, *score, "--runs", str(blocker / "x"))
        assert proc.returncode == 0 and "training_machine" not in proc.stdout, proc.stderr[-2000:]
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("option", ["--results", "--runs"])
def test_a_grid_refuses_a_folder_that_cannot_be_made_once_before_any_cell(tmp_path, monkeypatch, make_host, option):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE_HEAD)
    folders = {"--results": str(tmp_path / "results"), "--runs": str(tmp_path / "runs"), option: str(blocker / "x")}
    proc = in_process(tmp_path, monkeypatch, make_host, "grid", str(suite),
                      *[arg for pair in folders.items() for arg in pair])
    assert_one_line_error(proc, f"{option} {blocker / 'x'}: cannot write there")
    assert "cell 1/" not in proc.stderr and not (tmp_path / "cache").exists()


def test_a_results_folder_that_holds_every_record_need_not_be_writable(tmp_path, monkeypatch, make_host):
    """The early refusal above is for a folder that does not exist: an existing read-only one may
    hold every record already, which a rerun keeps without writing (checked after the data)."""
    from cvgl_bench.run import pipeline

    results, runs = tmp_path / "results", tmp_path / "runs"
    results.mkdir()
    runs.mkdir()
    seen = []
    monkeypatch.setattr(pipeline, "check_writable", lambda folder, option: seen.append(folder))
    monkeypatch.setattr(pipeline, "load_split", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("loading")))
    options = pipeline.RunOptions(results_dir=results, runs_dir=runs, log=lambda line: None)
    with pytest.raises(RuntimeError, match="loading"):
        pipeline.run_cell(pipeline.Cell("sample4geo", ("synth_cvusa_test",)), options, make_host(entry_points=True))
    assert seen == []  # not checked before the data: whether a record is owed needs the data


def test_overrides_keep_the_recipe_kind_but_flags_and_names_interchange():
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.run.overrides import apply_overrides, parse_set

    recipe = {"epochs": 8, "lr": 1e-3, "pretrained": "synth-x", "stages": None, "augment": {"flip_p": 0.5}}
    out = apply_overrides(recipe, parse_set(["lr=1", "pretrained=false", "stages=3", "augment.flip_p=0"]))
    assert out["lr"] == 1 and out["pretrained"] is False and out["stages"] == 3 and out["augment"]["flip_p"] == 0
    for bad in ("epochs=1.5", "epochs=true", "augment=[1]", "lr=fast"):
        with pytest.raises(ConfigError, match="the recipe's"):
            apply_overrides(recipe, parse_set([bad]))


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("args,needle", [
    (("grid", "{fifo}", "--dry-run"), "not a regular file"),
    (("score", "--dataset", "cvusa_test", "--embeddings", "{fifo}"), "is not a regular file"),
    (("leaderboard", "--published", "{fifo}", "--published-only"), "not a regular file"),
    (("run", "-m", "sample4geo", "-d", "cvusa_test", "--checkpoint", "{fifo}", "--data-root", "{tmp}"),
     "is not a regular file"),
])
def test_a_fifo_where_a_file_is_expected_is_refused_without_waiting_for_a_writer(tmp_path, args, needle):
    fifo = _fifo(tmp_path, "input.yaml")
    args = tuple(a.format(fifo=fifo, tmp=tmp_path) for a in args)
    assert_one_line_error(cli(tmp_path, *args, timeout=60), needle)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("through_a_link", [False, True])
def test_a_fifo_or_device_named_as_an_output_file_is_refused_and_never_replaced(tmp_path, monkeypatch, make_host,
                                                                              through_a_link):
    """An atomic write renames its temporary file over the target: run as root, ``synth --preview
    /dev/null`` replaced the device with a JPEG (outside fuzzing). It is refused before the
    rendering, and the FIFO, or the link to it, is left as it was."""
    fifo = _fifo(tmp_path, "sheet.jpg")
    target = fifo
    if through_a_link:
        target = tmp_path / "link.jpg"
        target.symlink_to(fifo)
    started = time.monotonic()
    proc = (in_process(tmp_path, monkeypatch, make_host, "synth", "--preview", str(target)) if through_a_link
            else cli(tmp_path, "synth", "--preview", str(target), timeout=60))
    assert_one_line_error(proc, str(target), "is a device, FIFO or socket, not a regular file")
    assert time.monotonic() - started < 30 and not (tmp_path / "cache").exists()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and (not through_a_link or target.is_symlink())


def test_an_atomic_write_never_replaces_a_device(tmp_path):
    from cvgl_bench.fsutil import atomic_open

    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    except (PermissionError, AttributeError, OSError):
        pytest.skip("making a device node needs root")
    with pytest.raises(OSError, match="not a regular file") as caught, atomic_open(device) as handle:
        handle.write("x")
    assert caught.value.filename == str(device) and stat.S_ISCHR(os.lstat(device).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_among_the_records_is_named_without_waiting_for_a_writer(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _fifo(results, "record.json")
    proc = cli(tmp_path, "leaderboard", "--results", str(results), timeout=60)
    assert_one_line_error(proc, "no readable result records", "record.json", "not a regular file")


@pytest.mark.parametrize("where", ["published", "config"])
def test_a_yaml_file_that_is_not_utf8_is_one_line(tmp_path, where):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe\x00 not text")
    if where == "published":
        proc = cli(tmp_path, "leaderboard", "--published", str(bad), "--published-only")
    else:
        proc = subprocess.run([sys.executable, "-m", "cvgl_bench", "data", "check", "cvact"], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_CONFIG": str(bad),
                                   "CVGL_BENCH_CACHE": str(tmp_path / "cache")})
    assert_one_line_error(proc, str(bad))


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    assert_one_line_error(cli(tmp_path, "leaderboard", "--published-only", "--out", str(blocker)), "is a file")
    proc = cli(tmp_path, "leaderboard", "--published-only", "--out", str(blocker / "below"))
    assert_one_line_error(proc, f"--out {blocker / 'below'}: cannot write there (a file is in the way)")


def test_a_transfer_whose_training_split_holds_the_test_queries_is_refused_before_training(tmp_path):
    """VIGOR's same-area training split holds cross-area test panoramas (the synthetic twin too)."""
    proc = cli(tmp_path, "run", "--method", "sample4geo", "--train-on", "synth_vigor_same_train", "--dataset",
               "synth_vigor_cross_test", "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs"))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert last.startswith("Error: ") and " of the 40 queries of synth_vigor_cross_test are images of the training " \
        "split synth_vigor_same_train (first: " in last and last.endswith("; train on synth_vigor_cross_train"), last
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("edit,needle", [
    (lambda m: m["recall@5"].__setitem__("value", m["recall@5"]["value"] + 5), "its ranks give recall@5"),
    (lambda m: m["recall@1"].__setitem__("value", m["recall@1"]["value"] + 10), "its ranks give recall@1"),
    (lambda m: m["recall@1"].__setitem__("ci95", [1.0, 99.0]), "its ranks give the recall@1 interval"),
])
def test_a_record_whose_numbers_its_ranks_do_not_give_is_left_out_entirely(tmp_path, edit, needle):
    """Only recall@1 was checked, and a failing record kept its numbers on the board (outside audit):
    an edited recall@5 showed as a value outside its own interval."""
    from .leaderboard_fakes import build

    path = _two_ranked_records(tmp_path / "results")
    record = json.loads(path.read_text())
    kept = record["metrics"]["recall@5"]["value"]
    edit(record["metrics"])
    path.write_text(json.dumps(record))
    board = build(tmp_path / "results")
    assert any(str(path) in w and "left out: " + needle in w for w in board.warnings), board.warnings
    (row,) = board.tables[0].rows
    assert [run.seed for run in row.runs] == [0] and row.stats["recall@5"].mean != kept


def _path_parameters(make_host) -> dict[tuple[str, ...], object]:
    """Every parameter of every command (plugin commands included) that takes a path, by
    command path and first option name; a ``click.Path`` that is not a ``PathName`` fails."""
    import click

    from cvgl_bench.cli import cli as command_line
    from cvgl_bench.console import PathName

    make_host(entry_points=True)
    ctx, found, plain = click.Context(command_line), {}, []

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        for param in command.params:
            if isinstance(param.type, PathName):
                found[(*path, param.opts[0])] = param
            elif isinstance(param.type, click.Path):
                plain.append((*path, param.opts[0]))

    walk(command_line, [])
    assert not plain, f"a click.Path that reads '' as the current folder: {plain}"
    return found


@pytest.mark.parametrize("name", ["sheet.gif", "sheet.jpg", "sheet"])
def test_a_preview_named_as_another_format_is_refused_before_rendering(tmp_path, monkeypatch, make_host, name):
    """``synth --preview sheet.gif`` wrote PNG bytes under the .gif name (outside probing). The
    refusal comes before the note on an option the preview does not read, so it is one line."""
    proc = in_process(tmp_path, monkeypatch, make_host, "synth", "--preview", str(tmp_path / name), "--size", "medium")
    assert_one_line_error(proc, "--preview writes a PNG contact sheet; name the file with .png, not")
    assert not (tmp_path / name).exists()
    proc = in_process(tmp_path, monkeypatch, make_host, "synth", "--layout", "cvact", "--out", str(tmp_path / "d"),
                      "--drone-size", "64", "--satellite-size", "abc")  # cvact has no drone view: a note
    assert_one_line_error(proc, "--satellite-size takes HxW")
    proc = in_process(tmp_path, monkeypatch, make_host, "synth", "--preview", str(tmp_path / "sheet.PNG"))
    assert proc.returncode == 0 and (tmp_path / "sheet.PNG").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("extra,needle", [
    (("--results", "/proc/no/such"), "--results /proc/no/such: cannot write there"),
    (("--checkpoint", "/no/such/model.pt"), "checkpoint /no/such/model.pt does not exist; pass the file of a trained"),
    (("--checkpoint", "/no/such/model.pt", "--dry-run"), "checkpoint /no/such/model.pt does not exist"),
    (("--checkpoint", "{tmp}/file"), "cannot read checkpoint {tmp}/file (not a file torch.save writes: it begins "
     "b'in the w'); pass the file of a trained clnet model"),
    (("--checkpoint", "{tmp}/empty", "--dry-run"), "cannot read checkpoint {tmp}/empty (the file is empty)"),
    (("--set", "epochs=4", "--results", "/proc/no/such"), "--results /proc/no/such: cannot write there"),
    (("--set", "nosuch=1"), "--set nosuch: clnet has no hparam 'nosuch' in its recipe"),
    (("--results", "{tmp}/fifo"), "--results {tmp}/fifo: cannot write there (a file is in the way)"),
    (("--runs", "{tmp}/file/below"), "--runs {tmp}/file/below: cannot write there (a file is in the way)"),
    (("--runs", "{tmp}/" + "x" * 300), "cannot write there (File name too long)"),
])
def test_a_run_refusal_comes_before_its_notes(tmp_path, monkeypatch, make_host, extra, needle):
    """The note on an unread --data-root, and the line saying a --set gives the recipe's own
    value, were printed before these refusals: two lines where one was due (outside probing, and
    ``tools/option_fuzz.py --notes``). A file in the way of --results or --runs, or a name too
    long, was refused only after the data was loaded, or not by its option's name."""
    (tmp_path / "file").write_text("in the way\n")
    (tmp_path / "empty").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo")  # click itself refuses a regular file where a folder is due
    proc = in_process(tmp_path, monkeypatch, make_host, "run", "-m", "clnet", "-d", "synth_cvact_test",
                      "--data-root", str(tmp_path), *[a.format(tmp=tmp_path) for a in extra])
    assert_one_line_error(proc, needle.format(tmp=tmp_path))


@pytest.mark.parametrize("args,needle", [
    (("score", "--dataset", "synth_cvusa_test", "--embeddings", "{tmp}/nosuch.npz"), "nosuch.npz does not exist"),
    (("data", "ids", "synth_cvusa_test", "--protocol", "nosuch=1"), "has no protocol option 'nosuch'"),
    (("data", "ids", "synth_cvusa_test", "--protocol", "ties"), "--protocol takes KEY=VALUE"),
    (("score", "--dataset", "synth_cvusa_test", "--embeddings", "{tmp}/e.npz", "--metric", "nosuch"),
     "unknown metric 'nosuch'"),
    (("score", "--dataset", "synth_cvusa_test", "--embeddings", "{tmp}/e.npz", "--backend", "nosuch"),
     "unknown search backend 'nosuch'"),
    (("leaderboard", "--results", str(REPO / "leaderboards" / "synth" / "results"), "--out", "{tmp}/fifo"),
     "--out {tmp}/fifo: cannot write there (a file is in the way)"),
    (("grid", str(REPO / "benchmarks" / "synth.yaml"), "--device", ""), "--device is empty"),
    (("grid", str(REPO / "benchmarks" / "synth.yaml"), "--results", "{tmp}/fifo"), "--results {tmp}/fifo: cannot"),
])
def test_a_refusal_of_another_command_comes_before_its_notes(tmp_path, monkeypatch, make_host, args, needle):
    """Each was printed after the note on an unread --data-root (or a grid's skipped methods), or
    refused only after the search, the board or a cell had run (``tools/option_fuzz.py --notes``)."""
    (tmp_path / "file").write_text("in the way\n")
    (tmp_path / "empty").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo")  # click itself refuses a regular file where a folder is due
    proc = in_process(tmp_path, monkeypatch, make_host, *[a.format(tmp=tmp_path) for a in args],
                      "--data-root", str(tmp_path))
    assert_one_line_error(proc, needle.format(tmp=tmp_path))


@pytest.mark.parametrize("extra,needle", [
    (("--size", "nan"), "--size must be tiny, small, medium, full or a number of training pairs, not 'nan'"),
    (("--out", "{tmp}/fifo"), "--out {tmp}/fifo is a file, not a folder"),
    (("--out", "{tmp}/" + "x" * 300), "File name too long; choose another --out folder"),
])
def test_a_synth_refusal_comes_before_its_notes(tmp_path, monkeypatch, make_host, extra, needle):
    (tmp_path / "file").write_text("in the way\n")
    (tmp_path / "empty").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo")  # click itself refuses a regular file where a folder is due
    args = {"--layout": "cvusa", "--out": str(tmp_path / "new"), "--size": "tiny", "--drone-size": "64"}
    args.update(zip(extra[::2], [a.format(tmp=tmp_path) for a in extra[1::2]]))
    proc = in_process(tmp_path, monkeypatch, make_host, "synth", *[x for pair in args.items() for x in pair])
    assert_one_line_error(proc, needle.format(tmp=tmp_path))
    assert not (tmp_path / "new").exists()


def test_a_leading_tilde_is_the_home_folder_on_every_path_option(tmp_path, monkeypatch, make_host):
    """``--results`` and ``leaderboard --out`` made a folder called ``~`` in the current folder
    where ``--data-root``, ``--checkpoint`` and ``synth --out`` read the home folder: the shell
    leaves a tilde in ``--out=~/boards`` and in a quoted value."""
    from cvgl_bench.console import PathName

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert PathName(file_okay=False).convert("~/records", None, None) == str(home / "records")
    assert PathName().convert("./~", None, None) == "./~"
    proc = in_process(tmp_path, monkeypatch, make_host, "leaderboard", "--published-only", "--out=~/boards")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (home / "boards" / "published.md").is_file() and not (tmp_path / "~").exists()


@pytest.mark.parametrize("value,needle", [("", "is empty; give a {kind} name (an unset shell variable?)"),
                                          ("-", "'-' is not standard input or output here; give a {kind} name")])
def test_every_path_parameter_refuses_an_empty_value_or_a_dash(tmp_path, monkeypatch, make_host, value, needle):
    """``--results "$OUT"`` with OUT unset wrote records into the current folder, ``--data-root ''``
    fell back to the default root, and ``synth --preview ''`` renamed a file over ``.`` (outside
    fuzzing): an empty path is one line, before any work, on every command. ``leaderboard --out -``
    wrote its tables into a new folder called ``-``, where a user meant standard output."""
    found = _path_parameters(make_host)
    expected = {("run", "--results"), ("run", "--runs"), ("run", "--data-root"), ("run", "--checkpoint"),
                ("grid", "suites"), ("grid", "--results"), ("grid", "--data-root"), ("leaderboard", "--out"),
                ("leaderboard", "--published"), ("leaderboard", "--suite"), ("score", "--embeddings"),
                ("data", "check", "--data-root"), ("data", "ids", "--data-root"), ("synth", "--preview"),
                ("synth", "--out"), ("new-plugin", "--dir")}
    assert expected <= set(found), expected - set(found)
    for (*command, name), param in found.items():
        args = [*command, value] if name == param.name else [*command, name, value]
        proc = in_process(tmp_path, monkeypatch, make_host, *args)
        assert_one_line_error(proc, needle.format(kind=param.type.name))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("env,args,needle", [
    ({"CVGL_BENCH_LOCK_TIMEOUT": "inf"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_LOCK_TIMEOUT must be a number of seconds from 0 to 1e+08, not 'inf'"),
    ({"CVGL_BENCH_LOCK_TIMEOUT": "99999999999999999999"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_LOCK_TIMEOUT must be a number of seconds from 0 to 1e+08"),
    ({"CVGL_BENCH_SYNTH_WORKERS": "0"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_SYNTH_WORKERS must be an integer from 1 to 64, not '0'"),
    ({"CVGL_BENCH_SYNTH_WORKERS": "99999999999999999999"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_SYNTH_WORKERS must be an integer from 1 to 64, not '99999999999999999999'"),
    ({"CVGL_BENCH_SYNTH_WORKERS": "two"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_SYNTH_WORKERS must be an integer from 1 to 64, not 'two'"),
    ({"CVGL_BENCH_SYNTH_SEED": "-1"}, ("data", "ids", "synth_cvusa_test"),  # the world of seed 2**64 - 1
     "CVGL_BENCH_SYNTH_SEED must be an integer from 0 to 4294967295, not '-1'"),
    ({}, ("synth", "--layout", "cvusa", "--out", "o", "--seed", "-1"),
     "seeds are integers from 0 to 4294967295, not -1"),
    ({}, ("synth", "--preview", "p.png", "--seed", str(2**64)), "seeds are integers from 0 to 4294967295, not 1844"),
    ({}, ("synth", "--layout", "cvusa", "--out", "o", "--workers", "65"), "'--workers': 65 is not in the range 1<=x<=64"),
    ({"CVGL_BENCH_CACHE": "  "}, ("data", "ids", "synth_cvusa_test"), "CVGL_BENCH_CACHE is blank; set it to a folder"),
    ({"CVGL_BENCH_DEBUG": "ture"}, ("data", "ids", "synth_cvusa_test"),
     "CVGL_BENCH_DEBUG must be 1 or 0 (or true/false, yes/no, on/off), not 'ture'"),
])
def test_environment_numbers_out_of_range_are_one_line_before_any_work(tmp_path, monkeypatch, make_host, env, args,
                                                                      needle):
    """Outside fuzzing of the environment: CVGL_BENCH_LOCK_TIMEOUT=inf ended in an OverflowError
    traceback, and CVGL_BENCH_SYNTH_WORKERS=0 or 10**20 was taken as 1 or as one process per world
    without a word, its 'abc' refused only after the line announcing the generation."""
    proc = in_process(tmp_path, monkeypatch, make_host, *args, env=env)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "o").exists() and not list((tmp_path / "cache").rglob("*.jpg"))


def test_a_progress_interval_that_is_no_number_warns_once_and_keeps_the_default(monkeypatch, capsys):
    from cvgl_bench import progress

    monkeypatch.setattr(progress, "_warned", set())
    monkeypatch.setenv("CVGL_BENCH_PROGRESS_EVERY", "often")
    assert progress._interval() == progress.DEFAULT_EVERY_S == progress._interval()
    assert capsys.readouterr().err.splitlines() == [
        "[cvgl-bench] warning: CVGL_BENCH_PROGRESS_EVERY must be a number of seconds >= 0, not 'often'; progress "
        "lines come every 30 s"]
    for text, seconds in (("inf", float("inf")), ("0", 0.0), ("2.5", 2.5), ("", 30.0)):
        monkeypatch.setenv("CVGL_BENCH_PROGRESS_EVERY", text)
        assert progress._interval() == seconds
    assert capsys.readouterr().err == ""
