"""Cluster knobs of the grid: submitit parameters, --no-wait, and one GPU per local worker."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest
from click.testing import CliRunner

from cvgl_bench.cli import cli
from cvgl_bench.errors import ConfigError
from cvgl_bench.run import Cell, RunOptions
from cvgl_bench.run import grid as grid_module

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


class _Job:
    def __init__(self, n, array=4242):
        self.job_id = f"{array}_{n}"

    def result(self):
        return "ok"


class _SlurmJob:
    """Stands in for submitit.SlurmJob: a job of an earlier submission, whose state sacct reports."""

    states: dict = {}

    def __init__(self, folder, job_id):
        self.job_id = job_id

    @property
    def state(self):
        return _SlurmJob.states.get(self.job_id, "UNKNOWN")

    def result(self):
        return f"ok (earlier job {self.job_id})"


class _Executor:
    """Stands in for submitit.AutoExecutor: records what the grid asks of it."""

    made: list = []

    def __init__(self, folder, cluster=None):
        self.folder, self.cluster, self.params = folder, cluster or "slurm", {}
        _Executor.made.append(self)

    def update_parameters(self, **params):
        self.params.update(params)

    def map_array(self, fn, items):
        self.items = list(items)
        array = 4242 + sum(hasattr(made, "items") for made in _Executor.made[:-1])
        return [_Job(n, array) for n in range(len(self.items))]


@pytest.fixture
def fake_submitit(monkeypatch):
    _Executor.made, _SlurmJob.states = [], {}
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(AutoExecutor=_Executor, SlurmJob=_SlurmJob))
    return _Executor


@pytest.fixture
def suite(make_host, tiny_world, tmp_path):
    make_host(toy_methods)
    path = tmp_path / "suite.yaml"
    path.write_text("name: s\nmethods: [tiny]\nsplits: [synth_cvusa_test]\nseeds: [0, 1]\n")
    return path


def test_slurm_options_reach_submitit(fake_submitit, suite, tmp_path):
    done = CliRunner().invoke(cli, [
        "grid", str(suite), "--executor", "slurm", "--slurm-partition", "gpu", "--slurm-account", "proj",
        "--slurm-qos", "high", "--slurm-cpus-per-task", "8", "--slurm-mem-gb", "64", "--slurm-constraint", "a100",
        "--slurm-param", "slurm_exclude=node12", "--slurm-param", "slurm_array_parallelism=4",
        "--gpus-per-cell", "2", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")])
    assert done.exit_code == 0, done.output
    (executor,) = fake_submitit.made
    assert {k: executor.params[k] for k in ("slurm_partition", "slurm_account", "slurm_qos", "cpus_per_task",
                                            "mem_gb", "slurm_constraint", "slurm_exclude",
                                            "slurm_array_parallelism", "gpus_per_node", "tasks_per_node")} == {
        "slurm_partition": "gpu", "slurm_account": "proj", "slurm_qos": "high", "cpus_per_task": 8, "mem_gb": 64,
        "slurm_constraint": "a100", "slurm_exclude": "node12", "slurm_array_parallelism": 4, "gpus_per_node": 2,
        "tasks_per_node": 2}
    assert len(executor.items) == 2 and "2 of 2 cells done" in done.output


def test_no_wait_submits_and_returns_with_the_job_ids(fake_submitit, suite, tmp_path):
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--no-wait", "--json",
                                    "--runs", str(tmp_path / "runs")])
    assert done.exit_code == 0, done.output
    outcomes = json.loads(done.stdout)
    assert [o["status"]["submitted"] for o in outcomes] == ["submitted (job 4242_0)", "submitted (job 4242_1)"]
    assert [o["status"]["state"] for o in outcomes] == ["submitted", "submitted"]
    jobs = json.loads((tmp_path / "runs" / "submitit" / "jobs.json").read_text())
    assert [j["job_id"] for j in jobs] == ["4242_0", "4242_1"]


def test_slurm_options_need_the_slurm_executor(suite):
    done = CliRunner().invoke(cli, ["grid", str(suite), "--slurm-qos", "high"])
    assert done.exit_code == 2 and "apply to --executor slurm only" in done.output


def test_local_workers_get_one_gpu_each(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    seen = []

    def fake_worker(command, env, log, running=None):
        if env is not None:
            seen.append(env["CUDA_VISIBLE_DEVICES"])
        return 0, None

    monkeypatch.setattr(grid_module, "_worker", fake_worker)
    cells = [Cell("tiny", ("synth_cvusa_test",), seed=s) for s in range(4)]
    options = RunOptions(log=lambda line: None)
    assert grid_module._run_workers(cells, options, jobs=2, gpus_per_cell=0) == ["ok"] * 4
    assert sorted(seen) == ["3", "3", "5", "5"]
    seen.clear()
    grid_module._run_workers(cells[:2], options, jobs=2, gpus_per_cell=2)
    assert seen == ["3,5", "3,5"]
    with pytest.raises(Exception, match="needs that many GPUs"):
        grid_module._run_workers(cells, options, jobs=1, gpus_per_cell=3)
    seen.clear()
    grid_module._run_workers(cells[:1], RunOptions(device="cpu", log=lambda line: None), jobs=2, gpus_per_cell=0)
    assert seen == []  # no env change on the CPU


def test_a_suite_holds_ablation_variants(make_host, tiny_world, tmp_path):
    from cvgl_bench.errors import ConfigError
    from cvgl_bench.run import load_suite
    from cvgl_bench.run.grid import expand

    host = make_host(toy_methods)
    path = tmp_path / "suite.yaml"
    path.write_text("name: s\nmethods: [tiny]\nsplits: [synth_cvusa_test]\ntransfer: [[synth_cvusa_train, "
                    "synth_cvact_test], [synth_cvact_train, synth_cvusa_test]]\nseeds: [0]\n"
                    "seeds_for: {synth_cvusa_test: [0, 1]}\n"
                    "variants:\n  - {method: tiny, set: [epochs=1], splits: [synth_cvusa_test]}\n"
                    "  - {method: tiny, set: epochs=3}\n")
    cells = expand([load_suite(path)], host=host)
    variant_of = {(c.seed, c.variant, c.eval_splits) for c in cells}
    assert (0, "epochs=1", ("synth_cvusa_test",)) in variant_of and (1, "epochs=1", ("synth_cvusa_test",)) in variant_of
    assert (0, "epochs=3", ("synth_cvusa_test", "synth_cvact_test")) in variant_of  # no splits: every split
    assert (1, "epochs=3", ("synth_cvusa_test",)) in variant_of
    assert not any(c.variant == "epochs=1" and "synth_cvact_test" in c.eval_splits for c in cells)
    # a variant with splits stays in-domain: synth_cvusa_test as a transfer target does not take it
    assert not any(c.variant == "epochs=1" and c.train_split == "synth_cvact_train" for c in cells)
    assert any(c.variant == "epochs=3" and c.train_split == "synth_cvact_train" for c in cells)
    bad = [("  - {method: other, set: [epochs=1]}\n", "do not list"),
           ("  - {method: tiny, set: [epochs=1], splits: [synth_vigor_same_test]}\n", "evaluation splits of the suite"),
           ("  - {method: tiny}\n", "each variant is"),
           ("  - {method: tiny, set: [no_such=1]}\n", "no hparam 'no_such'")]
    for entry, needle in bad:
        path.write_text("name: s\nmethods: [tiny]\nsplits: [synth_cvusa_test]\nvariants:\n" + entry)
        with pytest.raises(ConfigError, match=needle):
            expand([load_suite(path)], host=host)


def test_the_shipped_suite_runs_clnets_ablations_with_three_seeds():
    from cvgl_bench.run import load_suite

    suite = load_suite("synth")
    assert {v.overrides for v in suite.variants} >= {(("ncm", '"off"'),), (("nec", "false"),), (("gfr", "false"),)}
    assert all(v.method == "clnet" and v.splits == ("synth_cvusa_test",) for v in suite.variants)
    assert suite.seeds_of("synth_cvusa_test") == (0, 1, 2)


def test_every_grid_outcome_has_the_same_keys():
    from cvgl_bench.cli import _grid_status
    from cvgl_bench.run.cell import Cell, CellResult

    outcomes = [_grid_status(o) for o in ("ok", "failed (exit 2)", "submitted (job 1_0)", CellResult(Cell("tiny", ("t",)), trained=True))]
    assert len({tuple(sorted(o)) for o in outcomes}) == 1
    assert [o["state"] for o in outcomes] == ["ok", "failed", "submitted", "ok"]
    assert [o["ok"] for o in outcomes] == [True, False, True, True]


def test_a_workers_output_goes_to_the_log_and_its_error_line_becomes_the_cells_failure(monkeypatch):
    """grid --jobs N --json: stdout holds the JSON alone, and a failed cell says why (not just its exit code)."""
    import sys

    script = ("import sys; print('[cvgl-bench] training'); print('a warning', file=sys.stderr); "
              "print('Error: split x has no images', file=sys.stderr); sys.exit(2)")
    logged = []
    assert grid_module._worker([sys.executable, "-c", script], None, logged.append) == (2, "split x has no images")
    assert logged == ["[cvgl-bench] training", "a warning"]

    monkeypatch.setattr(grid_module, "worker_command", lambda cell, options, nproc: [sys.executable, "-c", script])
    cells = [Cell("tiny", ("synth_cvusa_test",), seed=s) for s in range(2)]
    statuses = grid_module._run_workers(cells, RunOptions(device="cpu", log=logged.append), jobs=2, gpus_per_cell=0)
    assert statuses == ["failed: split x has no images"] * 2


def test_a_worker_killed_by_a_signal_is_named_as_such(monkeypatch):
    """The out-of-memory killer's SIGKILL left a cell 'failed (exit -9)'."""
    import signal

    outcomes = iter([(-signal.SIGKILL, None), (3, None), (2, "split x has no images"), (-signal.SIGINT, None),
                     (-signal.SIGSEGV, None)])
    monkeypatch.setattr(grid_module, "_worker", lambda command, env, log, running=None: next(outcomes))
    cells = [Cell("tiny", ("synth_cvusa_test",), seed=s) for s in range(5)]
    assert grid_module._run_workers(cells, RunOptions(device="cpu", log=lambda line: None), jobs=1,
                                    gpus_per_cell=0) == [
        "failed: its worker process was killed by SIGKILL (out of memory?); rerun the grid to resume",
        "failed (exit 3)", "failed: split x has no images",
        # an interruption that reached a worker as it exited was blamed on memory
        "failed: its worker process was killed by SIGINT (interrupted); rerun the grid to resume",
        "failed: its worker process was killed by SIGSEGV; rerun the grid to resume"]


def _fake_slurm_bin(folder, sbatch_says: str | None):
    """A PATH folder with ``srun`` (what submitit looks for) and an ``sbatch`` that refuses with
    ``sbatch_says`` (None: a folder without either, as on a machine with no Slurm)."""
    folder.mkdir()
    if sbatch_says is not None:
        (folder / "srun").write_text("#!/bin/sh\nexit 0\n")
        (folder / "sbatch").write_text(f"#!/bin/sh\necho '{sbatch_says}' >&2\nexit 1\n")
        for tool in folder.iterdir():
            tool.chmod(0o755)
    return str(folder)


def test_the_slurm_executor_without_slurm_is_one_line_not_a_local_run(suite, tmp_path, monkeypatch):
    """submitit, given no cluster, ran the job array on this machine, every cell at once; named
    'slurm' where there is none, it raised 'Could not detect "srun"' in a traceback."""
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", _fake_slurm_bin(tmp_path / "bin", None))
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--runs", str(tmp_path / "runs")])
    assert done.exit_code == 2, done.output
    assert done.stderr.splitlines() == [
        'Error: --executor slurm: submitit finds no slurm cluster here (Could not detect "srun", are you indeed on a '
        "slurm cluster?); run the grid on a Slurm login node, or pass --slurm-cluster local to try the job array on "
        "this machine"]
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--slurm-cluster", "nosuch"])
    assert done.exit_code == 2 and "'nosuch' is not one of 'slurm', 'local', 'debug'" in done.stderr


def test_a_job_array_the_scheduler_refuses_is_one_line_with_its_reason(suite, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    refusal = "sbatch: error: Batch job submission failed: Requested time limit is invalid"
    monkeypatch.setenv("PATH", f"{_fake_slurm_bin(tmp_path / 'bin', refusal)}:{os.environ['PATH']}")
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--timeout-min", "99999999",
                                    "--runs", str(tmp_path / "runs")])
    assert done.exit_code == 2, done.output
    assert done.stderr.splitlines() == [
        f"Error: the slurm cluster refused the job array, and nothing was submitted: {refusal}"]


def test_more_cpu_cells_at_once_than_cpus_are_refused(monkeypatch):
    monkeypatch.setattr(grid_module, "_worker", lambda *args: pytest.fail("a worker started"))
    monkeypatch.setattr(grid_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    cells = [Cell("tiny", ("synth_cvusa_test",), seed=s) for s in range(4)]
    options = RunOptions(device="cpu", log=lambda line: None)
    with pytest.raises(ConfigError, match=r"^--jobs 64: no GPU is visible, so 4 cells would train at once on this "
                                          r"machine's 2 CPUs; pass at most 2$"):
        grid_module._run_workers(cells, options, jobs=64, gpus_per_cell=0)


@pytest.mark.parametrize("args,needle", [
    (("--slurm-param", "a=b=c"), "slurm parameters: Parameter 'a' need to be prefixed by an executor name."),
    (("--slurm-param", "nodes=[1"), "slurm parameters: Parameter \"nodes\" expected type <class 'int'>"),
    (("--slurm-param", "timeout_min=abc"), "--slurm-param timeout_min: use --timeout-min"),
    (("--slurm-param", "gpus_per_node=2"), "--slurm-param gpus_per_node: use --gpus-per-cell"),
    (("--slurm-param", "slurm_partition=gpu"), "--slurm-param slurm_partition: use --slurm-partition"),
    (("--slurm-param", "cluster=local"), "--slurm-param cluster: use --slurm-cluster"),
    (("--slurm-param", "folder=/etc"), "--slurm-param folder: the submitit folder is <--runs>/submitit"),
    (("--slurm-param", 'slurm_exclude="a\\nb"'), "--slurm-param slurm_exclude='a\\nb': give a value without line"),
    (("--slurm-partition", "gpu\necho hi"), "--slurm-partition 'gpu\\necho hi': give a value without line breaks"),
    (("--slurm-qos", " "), "--slurm-qos ' ': give a value without line breaks, not blanks"),
])
def test_slurm_parameters_submitit_or_the_job_script_cannot_take_are_one_line(suite, tmp_path, args, needle):
    """submitit's NameError and AssertionError for a parameter it does not know or of the wrong type were
    tracebacks; --slurm-param timeout_min=abc met int() in one; a line break in a partition went
    into the job script's #SBATCH lines; a --slurm-param could replace what an option sets."""
    pytest.importorskip("submitit")
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--slurm-cluster", "debug",
                                    "--no-wait", "--runs", str(tmp_path / "runs"), *args])
    assert done.exit_code == 2, done.output
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(f"Error: {needle}"), done.stderr
    assert not (tmp_path / "runs" / "submitit" / "jobs.json").exists()


def test_a_rerun_does_not_submit_again_a_cell_whose_job_is_still_queued_or_running(fake_submitit, suite, tmp_path):
    """'Rerun the same grid later to collect the results' submitted every cell again: the
    second job of a cell still training waited on the first one's cell lock for up to two hours,
    holding its allocation, then failed."""
    runs = tmp_path / "runs"
    grid = ["grid", str(suite), "--executor", "slurm", "--runs", str(runs)]
    first = CliRunner().invoke(cli, [*grid, "--no-wait"])
    assert first.exit_code == 0, first.output
    jobs = json.loads((runs / "submitit" / "jobs.json").read_text())
    assert [j["job_id"] for j in jobs] == ["4242_0", "4242_1"] and all("seed" in j["cell"] for j in jobs)
    _SlurmJob.states = {"4242_0": "RUNNING", "4242_1": "COMPLETED"}
    again = CliRunner().invoke(cli, [*grid, "--no-wait", "--json"])
    assert again.exit_code == 0, again.output
    assert len(fake_submitit.made[-1].items) == 1 and '"seed": 1' in fake_submitit.made[-1].items[0]
    assert "job 4242_0 of an earlier submission is still queued or running; not submitted again" in again.stderr
    assert [o["status"]["submitted"] for o in json.loads(again.stdout)] == [
        "submitted (job 4242_0, earlier)", "submitted (job 4243_0)"]
    jobs = json.loads((runs / "submitit" / "jobs.json").read_text())
    assert [j["job_id"] for j in jobs] == ["4242_0", "4243_0"]
    _SlurmJob.states = {"4242_0": "PENDING"}
    waited = CliRunner().invoke(cli, [*grid, "--json"])  # waiting collects the earlier job too
    assert waited.exit_code == 0, waited.output
    assert "[cvgl-bench grid] submitted 1 cells" in waited.stderr
    assert "ok (earlier job 4242_0)" in waited.stderr


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', '[{"job_id": 5}]', ""])
def test_a_damaged_jobs_file_is_said_and_every_cell_is_submitted(fake_submitit, suite, tmp_path, content):
    folder = tmp_path / "runs" / "submitit"
    folder.mkdir(parents=True)
    (folder / "jobs.json").write_text(content)
    done = CliRunner().invoke(cli, ["grid", str(suite), "--executor", "slurm", "--no-wait",
                                    "--runs", str(tmp_path / "runs")])
    assert done.exit_code == 0, done.output
    assert "its jobs are not looked up" in done.stderr and len(fake_submitit.made[-1].items) == 2
    assert [j["job_id"] for j in json.loads((folder / "jobs.json").read_text())] == ["4242_0", "4242_1"]


def test_the_still_running_cell_is_found_through_submitits_own_sacct_reading(suite, tmp_path, monkeypatch):
    """The same, through the real submitit, with sbatch and sacct standing in for Slurm's."""
    pytest.importorskip("submitit")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "sbatch").write_text(f"#!/bin/sh\nn=$(cat {tmp_path}/n 2>/dev/null || echo 700)\n"
                                 f"echo $((n + 1)) > {tmp_path}/n\necho \"Submitted batch job $n\"\n")
    (bin_ / "sacct").write_text('#!/bin/sh\nprintf "JobID|State|NodeList\\n700_0|RUNNING|n1\\n700_1|FAILED|n1\\n"\n')
    for tool in bin_.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    grid = ["grid", str(suite), "--executor", "slurm", "--no-wait", "--runs", str(tmp_path / "runs")]
    assert CliRunner().invoke(cli, grid).exit_code == 0
    again = CliRunner().invoke(cli, grid)
    assert again.exit_code == 0, again.output
    assert "seed 0: job 700_0 of an earlier submission is still queued or running" in again.stderr
    assert "submitted 1 cells to slurm" in again.stderr
    jobs = json.loads((tmp_path / "runs" / "submitit" / "jobs.json").read_text())
    assert [j["job_id"] for j in jobs] == ["700_0", "701"]


def test_two_grids_sharing_a_runs_folder_keep_each_others_jobs(fake_submitit, suite, tmp_path):
    runs = tmp_path / "runs"
    other = tmp_path / "other.yaml"
    other.write_text("name: o\nmethods: [tiny]\nsplits: [synth_cvusa_test]\nseeds: [5]\n")
    for path in (suite, other):
        done = CliRunner().invoke(cli, ["grid", str(path), "--executor", "slurm", "--no-wait", "--runs", str(runs)])
        assert done.exit_code == 0, done.output
    jobs = json.loads((runs / "submitit" / "jobs.json").read_text())
    assert [(j["job_id"], j["cell"][-6:]) for j in jobs] == [("4242_0", "seed 0"), ("4242_1", "seed 1"),
                                                             ("4243_0", "seed 5")]
    assert (runs / "submitit" / ".jobs.json.lock").exists()
