"""Toolkit additions used by the method plugins: a constant learning rate (SAFA) and the run's thread count."""

from __future__ import annotations

import pytest
import torch

from cvgl_bench.errors import ConfigError
from cvgl_bench.train.context import RunContext
from cvgl_bench.train.trainer import TrainConfig, _Schedule

from .train_helpers import TinyMethod, toy_images, toy_train_data, train_split_spec


def test_constant_schedule_keeps_the_rate_after_warm_up():
    constant, cosine = _Schedule(4, 40, "constant"), _Schedule(4, 40, "cosine")
    assert [constant(s) for s in (0, 2, 4, 20, 39, 40)] == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    assert cosine(2) == 0.5 and cosine(22) == pytest.approx(0.5) and cosine(40) == 0.0
    assert _Schedule(0, 40, "constant")(0) == 1.0  # no warm-up: full rate from the first step


def test_unknown_schedule_is_a_one_line_error():
    with pytest.raises(ConfigError, match="lr_schedule must be one of cosine, constant"):
        TrainConfig(epochs=1, lr=1e-3, steps_per_epoch=1, schedule="linear")


def _fit(tmp_path, threads=None, pairs=16, loader_workers=None, resume=False, **overrides):
    method = TinyMethod()
    method.overrides = {"dss_every": 0, "eval_every": 0, **overrides}
    hp = method.hparams("cpu", train_split_spec())
    train = toy_train_data(pairs)
    torch.manual_seed(0)
    model = method.build_model(hp)
    seen = []
    run = RunContext(seed=0, device="cpu", workdir=tmp_path, progress=False, log=lambda m: None, threads=threads,
                     loader_workers=loader_workers, resume=resume,
                     on_step=lambda epoch, step: seen.append(torch.get_num_threads()))
    trainer = method.make_trainer(model, train, toy_images(pairs, hp["image_size"]["ground"]),
                                  toy_images(pairs, hp["image_size"]["satellite"], seed=1), hp, run)
    return method, hp, trainer, run, seen, model, train


def test_constant_schedule_reaches_the_optimiser(tmp_path):
    _, _, trainer, *_ = _fit(tmp_path, lr_schedule="constant", warmup_epochs=0.0, lr=1e-3)
    trainer.fit()
    assert trainer.current_lr() == pytest.approx(1e-3)


def test_the_runs_thread_count_wins_over_the_recipes(tmp_path):
    method, hp, _, run, seen, model, train = _fit(tmp_path, threads=1)
    assert hp["threads"] == 2
    before = torch.get_num_threads()
    method.fit_arrays(model, train, toy_images(16, hp["image_size"]["ground"]),
                      toy_images(16, hp["image_size"]["satellite"], seed=1), hp, run)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("handler_raises", [None, "before the unhooking", "during the unhooking"])
def test_a_data_loader_worker_that_dies_is_one_line_naming_the_way_on(tmp_path, monkeypatch, handler_raises):
    """The out-of-memory killer ends a data-loader worker: torch's RuntimeError was a traceback, exit 1.

    torch's SIGCHLD handler can raise the death a second time, wherever the main thread is, while
    the first error is handled and until the workers are unregistered from it; that second
    RuntimeError was a traceback (seen once in a full run). ``handler_raises`` makes it happen."""
    import multiprocessing
    import os
    import signal

    from cvgl_bench.train import trainer as trainer_module

    if handler_raises:
        from torch.utils.data._utils import signal_handling

        unhook, remove, raised = trainer_module._unhook_workers, signal_handling._remove_worker_pids, []

        def raise_once(*args):
            if not raised:
                raised.append(True)
                raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Killed.")

        if handler_raises == "before the unhooking":
            monkeypatch.setattr(trainer_module, "_unhook_workers", lambda batches: raise_once() or unhook(batches))
        else:
            monkeypatch.setattr(signal_handling, "_remove_worker_pids", lambda key: raise_once() or remove(key))
    killed = []

    def kill_the_workers(epoch, step):
        if not killed:
            killed.extend(p.pid for p in multiprocessing.active_children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    method, hp, trainer, run, *_ = _fit(tmp_path, workers=1, batch_size=4, epochs=2)
    run.on_step = kill_the_workers
    with pytest.raises(ConfigError, match=r"^a data-loader worker process died \(pid \d+ killed by SIGKILL: out of "
                                          r"memory, or /dev/shm full\?\); rerun the same command to resume; if it "
                                          r"dies again, .* --loader-workers 0 \(the same model, loaded in the training process; "
                                          r"now 1 workers\)$"):
        trainer.fit()
    assert killed
    if handler_raises:
        assert raised


def _stop_the_workers_at_the_first_step(then: BaseException | None = None):
    """An ``on_step`` that stops (SIGSTOP) the loader's workers once (a ``kill -STOP``, a
    debugger), then raises ``then``."""
    import multiprocessing
    import os
    import signal

    stopped: list = []

    def on_step(epoch, step):
        if not stopped:
            stopped.extend(multiprocessing.active_children())
            for process in stopped:
                os.kill(process.pid, signal.SIGSTOP)
            if then is not None:
                raise then

    return stopped, on_step


@pytest.mark.timeout(120)
def test_a_stuck_data_loader_worker_ends_the_run_with_one_line_at_the_bound(tmp_path, monkeypatch):
    """A worker hung on a file system held training for ever, with no word; the wait for a
    batch is now bounded, and the stuck worker is killed."""
    import multiprocessing
    import time

    from cvgl_bench.train import trainer as trainer_module
    from cvgl_bench.train.pairs import TrainPairs

    hang = tmp_path / "hang"
    read = TrainPairs.__getitems__

    def hung_once_told(self, indices):
        if hang.exists():  # the file system stops answering
            time.sleep(600)
        return read(self, indices)

    monkeypatch.setattr(TrainPairs, "__getitems__", hung_once_told)
    monkeypatch.setattr(trainer_module, "LOADER_TIMEOUT_S", 1.0)
    method, hp, trainer, run, *_ = _fit(tmp_path, pairs=48, workers=1, batch_size=4, epochs=2)
    workers: list = []

    def at_the_first_step(epoch, step):
        if not workers:
            workers.extend(multiprocessing.active_children())
            hang.touch()

    run.on_step = at_the_first_step
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^no batch came from the data-loader workers in 1 s \(a worker is stuck, "
                                          r"hung on a file system\?\); rerun the same command to resume; if it "
                                          r"happens again, .* --loader-workers 0 \(the same model, .*now 1 workers\)$"):
        trainer.fit()
    assert workers and not any(process.is_alive() for process in workers)
    assert time.monotonic() - started < 30


@pytest.mark.timeout(120)
def test_ctrl_c_with_a_stopped_data_loader_worker_leaves_no_worker_to_hang_the_exit(tmp_path):
    """Python's exit joins every live worker: a stopped one, which ignores SIGTERM, hung it for ever."""
    method, hp, trainer, run, *_ = _fit(tmp_path, pairs=48, workers=1, batch_size=4, epochs=2)
    stopped, run.on_step = _stop_the_workers_at_the_first_step(then=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert stopped and not any(process.is_alive() for process in stopped)



def test_the_loader_worker_count_changes_no_weight_and_a_training_resumes_with_another(tmp_path):
    """--loader-workers is no variant because it cannot be one: every item is augmented from its
    own seed, so any count, even one changed at a resume, gives the same weights."""
    recipe = {"epochs": 2, "batch_size": 4, "pairs": 24}
    _, _, trainer, run, _, model, _ = _fit(tmp_path / "in-process", **recipe)
    trainer.fit()
    assert run.notes["loader_workers"] == 0  # the recipe's workers
    reference = {key: value.clone() for key, value in model.state_dict().items()}

    def same_weights(model) -> bool:
        return all(torch.equal(reference[key], value) for key, value in model.state_dict().items())

    _, _, trainer, run, _, model, _ = _fit(tmp_path / "two", loader_workers=2, **recipe)
    trainer.fit()
    assert run.notes["loader_workers"] == 2 and same_weights(model)

    def interrupt_in_epoch_2(epoch, step):
        if epoch == 2:
            raise KeyboardInterrupt

    _, _, trainer, run, _, model, _ = _fit(tmp_path / "resumed", loader_workers=2, **recipe)
    run.on_step = interrupt_in_epoch_2
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    _, _, trainer, run, _, model, _ = _fit(tmp_path / "resumed", loader_workers=0, resume=True, **recipe)
    trainer.fit()
    assert run.notes["resumed_after_epoch"] == 1 and same_weights(model)


@pytest.mark.timeout(120)
def test_a_worker_stopped_while_it_hands_a_batch_over_ends_the_run_with_one_line(tmp_path, monkeypatch):
    """The one wait torch's loader timeout does not bound: the batch's message has reached the
    main process, which then asks the worker for the file descriptor of its tensors, and the
    worker is stopped (``kill -STOP``) in that moment. The main process waited for ever; now
    the watchdog kills the workers past the bound, and the run ends with the stuck-loader line."""
    import multiprocessing
    import os
    import signal
    import time
    from multiprocessing import resource_sharer

    from cvgl_bench.train import trainer as trainer_module

    parent, stop = os.getpid(), tmp_path / "stop"
    register = resource_sharer._ResourceSharer.register

    def stopped_when_asked(self, send, close):
        def send_after_a_stop(conn, pid):
            if os.getpid() != parent and stop.exists():
                os.kill(os.getpid(), signal.SIGSTOP)  # the worker stops as the main process asks
            send(conn, pid)
        return register(self, send_after_a_stop, close)

    monkeypatch.setattr(resource_sharer._ResourceSharer, "register", stopped_when_asked)
    monkeypatch.setattr(trainer_module, "LOADER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(trainer_module, "WATCHDOG_GRACE_S", 1.0)
    method, hp, trainer, run, *_ = _fit(tmp_path, pairs=48, workers=1, batch_size=4, epochs=2)
    workers: list = []

    def at_the_first_step(epoch, step):
        if not workers:
            workers.extend(multiprocessing.active_children())
            stop.touch()

    run.on_step = at_the_first_step
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^no batch came from the data-loader workers in 1 s \(a worker is stuck, "):
        trainer.fit()
    assert workers and not any(process.is_alive() for process in workers)
    assert time.monotonic() - started < 30
