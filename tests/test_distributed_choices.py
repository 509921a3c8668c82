"""What the ranks of a multi-process run must agree on, and which GPU each takes.

No GPU and no NCCL here: the collectives run on two gloo processes, and CUDA's device count
and RNG calls are mocked. The failures these pin were found by reading the GPU paths: ranks
that chose apart whether to reuse or resume (a replica training other weights, then a hang),
every rank scoring a reused model, `--device cuda:K` on every rank or worker, a resume where
fewer GPUs are visible, a per-GPU mining table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from click.testing import CliRunner

from cvgl_bench import distributed
from cvgl_bench.cli import cli
from cvgl_bench.distributed import WorldInfo, _local_gpu
from cvgl_bench.errors import ConfigError
from cvgl_bench.run import RunOptions
from cvgl_bench.run import model as run_model
from cvgl_bench.run.cell import Cell
from cvgl_bench.run.grid import run_grid
from cvgl_bench.train import trainer as trainer_module

from .train_helpers import TinyMethod, toy_train_data, train_split_spec

WORLD = 2


def _choices_worker(rank: int, tmp: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)
    out = {"from_rank0": distributed.from_rank0({"rank": rank, "table": np.arange(3) + rank}),
           "all_true": distributed.on_every_rank(True),
           "one_false": distributed.on_every_rank(rank == 0)}
    torch.save({k: v if k != "from_rank0" else {"rank": v["rank"], "table": v["table"].tolist()}
                for k, v in out.items()}, f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def test_rank0_choice_reaches_every_rank_and_a_flag_must_hold_on_all(tmp_path):
    mp.spawn(_choices_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got["from_rank0"] == {"rank": 0, "table": [0, 1, 2]}
        assert got["all_true"] is True
        assert got["one_false"] is False  # rank 1 cannot see it: nobody resumes


def test_one_process_choices_are_its_own():
    assert distributed.from_rank0("mine") == "mine"
    assert distributed.on_every_rank(False) is False


@pytest.mark.parametrize("device, visible, local, expected", [
    ("cuda", 4, 2, 2),
    ("cuda", 1, 3, 0),  # Slurm --gpus-per-task=1: each process sees its own GPU as 0
    ("cuda:1", 4, 1, 1),  # already this rank's own GPU (a worker passes it on)
])
def test_each_process_takes_its_own_gpu(monkeypatch, device, visible, local, expected):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    assert _local_gpu(device, WorldInfo(rank=local, local_rank=local, world_size=4)) == expected


@pytest.mark.parametrize("device, visible, local, message", [
    ("cuda:3", 4, 1, "each process trains on the GPU of its local rank; pass --device cuda"),
    ("cuda", 2, 3, "local rank 3 but sees 2 GPU"),
])
def test_a_gpu_a_process_cannot_take_is_one_line(monkeypatch, device, visible, local, message):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    with pytest.raises(ConfigError, match=message):
        _local_gpu(device, WorldInfo(rank=local, local_rank=local, world_size=4))


@pytest.mark.parametrize("kwargs", [{"jobs": 2}, {"gpus_per_cell": 2}, {"executor": "slurm"}])
def test_grid_refuses_one_gpu_index_for_cells_that_each_get_their_own(tmp_path, kwargs):
    options = RunOptions(results_dir=tmp_path / "r", runs_dir=tmp_path / "runs", device="cuda:2", log=lambda m: None)
    with pytest.raises(ConfigError, match=r"--device cuda:2 .*CUDA_VISIBLE_DEVICES=2"):
        run_grid([Cell("tiny", ("x",))], options, host=None, **kwargs)


def test_grid_runs_one_cell_at_a_time_on_the_gpu_it_is_given(tmp_path):
    options = RunOptions(results_dir=tmp_path / "r", runs_dir=tmp_path / "runs", device="cuda:2", log=lambda m: None)
    assert run_grid([], options, host=None, jobs=1) == []


def test_run_under_torchrun_takes_one_seed(monkeypatch, make_host):
    make_host(entry_points=True)  # the names are checked first: the method must exist
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = CliRunner().invoke(cli, ["run", "-m", "sample4geo", "-d", "synth_cvusa_test", "--seeds", "0,1",
                                      "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert "launch torchrun once per seed" in result.output
    assert "Traceback" not in result.output


def test_cuda_rng_state_is_the_training_gpus_alone(monkeypatch):
    states = {i: torch.full((4,), i, dtype=torch.uint8) for i in range(4)}
    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: states[torch.device(device).index])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append(
        (int(state[0]), torch.device(device).index)))
    saved = trainer_module.rng_state(torch.device("cuda", 1))
    assert "cuda" not in saved and int(saved["cuda_device"][0]) == 1
    trainer_module.set_rng_state(saved, torch.device("cuda", 0))  # resumed where one GPU is visible
    # a last.pt of an older cvgl-bench holds every visible GPU's state: this GPU's is taken
    older = {**trainer_module.rng_state(), "cuda": [states[i] for i in range(4)]}
    trainer_module.set_rng_state(older, torch.device("cuda", 2))
    trainer_module.set_rng_state({**older, "cuda": [states[0]]}, torch.device("cuda", 3))  # not there: kept
    assert restored == [(1, 0), (2, 2)]


@pytest.fixture
def tiny_cell(tmp_path):
    method = TinyMethod()
    hparams = method.hparams("cpu", train_split_spec())
    workdir = tmp_path / "runs" / "tiny"
    workdir.mkdir(parents=True)
    torch.save(method.build_model(hparams).state_dict(), workdir / "model.pt")
    options = RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", log=lambda m: None)
    return method, hparams, workdir, options


def _as_rank(monkeypatch, rank: int, rank0_chooses: bool | None) -> None:
    monkeypatch.setattr(run_model, "world_info_from_env", lambda: WorldInfo(rank=rank, local_rank=rank, world_size=2))
    monkeypatch.setattr(run_model, "from_rank0", lambda own: rank0_chooses)


def test_a_rank_that_would_reuse_trains_when_rank0_trains(monkeypatch, tiny_cell):
    method, hparams, workdir, options = tiny_cell
    fits = []
    monkeypatch.setattr(method, "fit", lambda model, train, hp, run: fits.append(run.resume))
    _as_rank(monkeypatch, 1, rank0_chooses=False)  # rank 1 alone would reuse model.pt (it is there)
    cell = Cell("tiny", ("toy_eval",), "toy_cvusa_train")
    assert run_model.train_or_reuse(method, hparams, toy_train_data(8), cell, workdir, options, "cpu") is None
    assert fits == [False]  # trained from scratch with rank 0, not resumed


def test_only_rank0_scores_a_reused_model(monkeypatch, tiny_cell):
    method, hparams, workdir, options = tiny_cell
    loads = []
    monkeypatch.setattr(method, "load_model", lambda hp, path: loads.append(path))
    _as_rank(monkeypatch, 1, rank0_chooses=True)
    cell = Cell("tiny", ("toy_eval",), "toy_cvusa_train")
    assert run_model.train_or_reuse(method, hparams, toy_train_data(8), cell, workdir, options, "cpu") is None
    assert loads == []  # rank 1 neither loads nor evaluates; rank 0 does both


def _cell_lock_worker(rank: int, tmp: str, timeout: str) -> None:
    import time

    os.environ.update(CVGL_BENCH_LOCK_TIMEOUT=timeout, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)
    started, outcome = time.monotonic(), {}
    Path(f"{tmp}/ready{rank}").touch()
    try:
        with run_model.cell_lock(Path(tmp) / "runs" / "cell", "the cell", log=lambda line: None):
            outcome["agreed"] = distributed.from_rank0(f"rank {rank}")  # the pipeline's first collective
    except Exception as exc:  # noqa: BLE001 - recorded for the test
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    outcome["waited"] = time.monotonic() - started
    Path(f"{tmp}/rank{rank}.json").write_text(json.dumps(outcome))
    dist.destroy_process_group()


def _spawn_bounded(tmp_path: Path, timeout: str, hold_s: float) -> list[dict]:
    """Two gloo ranks enter one cell's lock while this process holds it, until ``hold_s`` seconds
    after both ranks are about to enter."""
    import threading
    import time

    from cvgl_bench.locking import exclusive

    (tmp_path / "runs").mkdir()
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with exclusive(tmp_path / "runs" / ".cell.lock", "the test"):
            holding.set()
            while not all((tmp_path / f"ready{rank}").exists() for rank in range(WORLD)) and not release.is_set():
                time.sleep(0.05)
            release.wait(hold_s)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    context = mp.spawn(_cell_lock_worker, args=(str(tmp_path), timeout), nprocs=WORLD, join=False)
    deadline = time.monotonic() + 90
    try:
        while not context.join(timeout=1):
            assert time.monotonic() < deadline, "a rank still waits after rank 0 gave up"
    finally:
        release.set()
        holder.join()
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(WORLD)]


def test_every_rank_waits_for_rank0s_cell_lock_and_ends_with_its_line(tmp_path):
    """Only rank 0 took the lock; the other ranks went on to the first collective of the default
    group, which gives up after its 10 to 30 minutes with a traceback, or hung on a rank 0 that
    gave up the wait (outside audit). Now they wait as long as rank 0 may, and share its line."""
    rank0, rank1 = _spawn_bounded(tmp_path, "2", hold_s=60)
    assert rank0["error"].startswith("ConfigError: ") and "the test" in rank0["error"], rank0
    assert rank1["error"] == rank0["error"] and "agreed" not in rank1
    assert rank0["waited"] >= 2 and rank1["waited"] >= 2


def test_the_ranks_go_on_together_once_rank0_holds_the_lock(tmp_path):
    rank0, rank1 = _spawn_bounded(tmp_path, "60", hold_s=3)
    assert rank0 == {"agreed": "rank 0", "waited": rank0["waited"]} and rank1["agreed"] == "rank 0"
    assert rank0["waited"] >= 2.5 and rank1["waited"] >= 2.5  # rank 1 waited in the lock, not in training
