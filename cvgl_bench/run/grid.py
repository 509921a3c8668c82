"""Grids: expand suites into cells and run them inline, in worker processes, or on a Slurm
cluster (submitit); cells that need several GPUs launch through torchrun.

Cells group every evaluation that shares (method, training split, seed), so each model is trained
once and evaluated on all its in-domain and transfer splits. A grid is resumable: records are
written atomically and only missing ones are computed when it runs again. Suites are read by
:mod:`cvgl_bench.run.suite`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PluginError, Terminated, UnknownNameError, UserError, one_line, signal_name
from ..locking import exclusive
from .cell import Cell, CellResult, RunOptions, cell_to_json, options_to_json
from .suite import Suite

EXECUTORS = ("local", "slurm")
STOP_GRACE_S = 60.0
"""How long an interrupted grid waits for its workers to stop before it kills them."""


def expand(suites: Iterable[Suite], seeds: Sequence[int] | None = None, *, host: Any,
           log: Callable[[str], None] | None = None) -> list[Cell]:
    """Every cell of the suites, evaluations grouped per trained model, in a stable order.

    ``seeds`` replaces each suite's ``seeds`` (``seeds_for`` still adds its extra seeds). A
    cell carries the suite's protocol options; each of its splits takes the ones it has. A method
    that cannot embed a split's views is skipped, and ``log`` is told; a suite that makes no cell
    at all is an error.
    """
    groups: dict[tuple[str, str, str, int, tuple], list[str]] = {}
    variant_origin: dict[tuple[str, tuple], str] = {}
    for suite in suites:
        try:
            _check_suite_names(suite, host)
        except (UnknownNameError, PluginError) as exc:  # a name the suite uses: say which suite
            raise ConfigError(f"suite {suite.path or suite.name}: {exc}") from None
        protocol, made = suite.protocol, 0
        pairs = [(host.splits.get(s).train_split, s, True) for s in suite.splits]
        pairs += [(train, evaluation, False) for train, evaluation in suite.transfer]
        for train, evaluation, in_domain in pairs:
            spec = host.splits.get(evaluation)
            if train is None:
                raise ConfigError(f"suite {suite.name!r}: {evaluation} names no training split; list it under transfer")
            run_seeds = sorted(set(seeds if seeds else suite.seeds) | set(dict(suite.seeds_for).get(spec.name, ())))
            runs = [(method, ()) for method in suite.methods]
            runs += [(v.method, v.overrides) for v in suite.variants if v.covers(evaluation, in_domain)]
            for v in suite.variants:
                variant_origin.setdefault((v.method, v.overrides), f"suite {suite.path or suite.name}")
            for method, overrides in runs:
                if not host.methods.get(method).supports(spec):
                    if log is not None and not overrides:
                        log(f"[cvgl-bench grid] {method} skipped on {evaluation}: it embeds the "
                            f"{', '.join(host.methods.get(method).views)} views, not {spec.query_view} -> "
                            f"{spec.reference_view}")
                    continue
                made += 1
                for seed in run_seeds:
                    key = (method, suite.profile, train, seed, protocol, overrides)
                    evals = groups.setdefault(key, [])
                    if evaluation not in evals:
                        evals.append(evaluation)
        if not made:
            why = "no splits and no transfer" if not pairs else "no method of it can embed the views of its splits"
            raise ConfigError(f"suite {suite.path or suite.name}: it makes no cell ({why})")
    cells = []
    for (m, p, t, s, proto, overrides), evals in groups.items():
        specs = [host.splits.get(e) for e in evals]
        known = tuple((k, v) for k, v in proto if any(k in spec.protocol_options for spec in specs))
        cells.append(Cell(method=m, eval_splits=tuple(evals), train_split=t, profile=p, seed=s, protocol=known,
                          overrides=overrides))
    _check_variant_overrides(cells, host, variant_origin)
    return cells


def _check_variant_overrides(cells: Sequence[Cell], host: Any, origin: dict[tuple[str, tuple], str]) -> None:
    """Every variant's overrides name hparams of its method's recipe and pass its checks (one line
    naming the suite, before any cell runs)."""
    from ..method import check_hparams
    from .overrides import apply_overrides, effective_overrides, variant_label
    from .plan import refuse_unread

    checked = set()
    for cell in cells:
        key = (cell.method, cell.profile, cell.train_split, cell.overrides)
        if not cell.overrides or key in checked:
            continue
        checked.add(key)
        method = host.methods.get(cell.method).load()
        where = f"{origin.get((cell.method, cell.overrides), 'suite')}: variant {cell.method} [{variant_label(cell.overrides)}]"
        try:
            recipe = method.hparams(cell.profile, host.splits.get(cell.train_split))
            refuse_unread(method, cell.method, cell.overrides)
            check_hparams(method, apply_overrides(recipe, cell.overrides, method=cell.method))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        _, no_ops = effective_overrides(recipe, cell.overrides, method=cell.method)
        if no_ops:  # its records would be named after the other overrides, or be the method's own row
            raise ConfigError(f"{where}: {variant_label(no_ops)} is the {cell.profile} recipe's value already "
                              f"(training on {cell.train_split}); leave it out of the variant")


def _check_suite_names(suite: Suite, host: Any) -> None:
    """Every name of the suite resolves before any cell runs: methods and their profile, splits in
    their roles, the protocol options and the seeds_for splits."""
    from ..data.splits import check_protocol_overrides

    where = f"suite {suite.path or suite.name}"
    for method in suite.methods:
        profiles = host.methods.get(method).profiles
        if suite.profile not in profiles:
            raise ConfigError(f"{where}: method {method!r} has no profile {suite.profile!r} "
                              f"(profiles: {', '.join(profiles)})")
    evaluations = []
    for name in suite.splits:
        spec = host.splits.get(name)
        if spec.role != "eval":
            raise ConfigError(f"{where}: {name} under splits is a training split; list evaluation splits there")
        evaluations.append(spec)
    for train, evaluation in suite.transfer:
        if host.splits.get(train).role != "train":
            raise ConfigError(f"{where}: transfer [{train}, {evaluation}]: {train} is not a training split "
                              "(the first entry is what the model trains on)")
        spec, train_spec = host.splits.get(evaluation), host.splits.get(train)
        if spec.role != "eval":
            raise ConfigError(f"{where}: transfer [{train}, {evaluation}]: {evaluation} is not an evaluation split")
        if spec.train_split == train:
            raise ConfigError(f"{where}: transfer [{train}, {evaluation}]: {evaluation} trains on {train} in-domain; "
                              "list it under splits")
        views = {train_spec.query_view, train_spec.reference_view}
        if {spec.query_view, spec.reference_view} != views:
            raise ConfigError(f"{where}: transfer [{train}, {evaluation}]: {train} trains {' and '.join(sorted(views))} "
                              f"views but {evaluation} evaluates {spec.query_view} -> {spec.reference_view}")
        evaluations.append(spec)
    listed = {spec.name for spec in evaluations}
    for name, _ in suite.seeds_for:
        if name not in listed:
            raise ConfigError(f"{where}: seeds_for names {name!r}, which the suite does not evaluate")
    check_protocol_overrides(dict(suite.protocol), evaluations, where=f"{where}: protocol")


def run_grid(cells: Sequence[Cell], options: RunOptions, *, host: Any, executor: str = "local", jobs: int = 1,
             gpus_per_cell: int = 0, slurm: dict[str, Any] | None = None) -> list[CellResult | str]:
    """Run every cell; returns a result (or, for worker and Slurm runs, a status line) per cell."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    if ":" in str(options.device or "") and str(options.device).startswith("cuda") and (
            executor == "slurm" or gpus_per_cell > 1 or jobs > 1):
        how = "on Slurm" if executor == "slurm" else f"with --jobs {jobs}" if jobs > 1 else \
            f"with --gpus-per-cell {gpus_per_cell}"
        raise ConfigError(f"--device {options.device} {how}: the grid gives each running cell its own GPU(s); pass "
                          "--device cuda and choose the GPUs with CUDA_VISIBLE_DEVICES (e.g. CUDA_VISIBLE_DEVICES="
                          f"{options.device.split(':', 1)[1]})")
    if executor == "slurm":
        return _run_slurm(cells, options, gpus_per_cell, slurm or {})
    if gpus_per_cell > 1 or jobs > 1:
        return _run_workers(cells, options, jobs, gpus_per_cell)
    from .pipeline import run_cell  # torch: not imported by a grid that refuses its suites or only lists its cells

    out: list[CellResult | str] = []
    for n, cell in enumerate(cells, 1):
        options.log(f"[cvgl-bench grid] cell {n}/{len(cells)}: {cell}")
        try:
            out.append(run_cell(cell, options, host))
        except Exception as exc:  # noqa: BLE001 - a failed cell does not stop the others, as with workers
            on_a_path = isinstance(exc, OSError) and exc.filename is not None  # a folder to fix, not a bug
            if not isinstance(exc, UserError) and not on_a_path:
                options.log(traceback.format_exc().rstrip())
            out.append(f"failed: {exc}" if isinstance(exc, UserError) else
                       f"failed: {exc.filename}: {exc.strerror or exc}" if on_a_path else
                       f"failed ({type(exc).__name__}: {exc})")
            options.log(f"[cvgl-bench grid] {cell}: {out[-1]}")
    return out


def worker_command(cell: Cell, options: RunOptions, nproc: int = 0) -> list[str]:
    """The command that runs one cell in its own process (through torchrun when nproc > 1)."""
    args = ["-m", "cvgl_bench.run.worker", "--cell", cell_to_json(cell), "--options", options_to_json(options)]
    if nproc > 1:
        torchrun = shutil.which("torchrun") or ""
        launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
        return [*launcher, "--standalone", f"--nproc_per_node={nproc}", *args]
    return [sys.executable, *args]


def _visible_gpus(options: RunOptions) -> list[str]:
    """The GPUs the workers may share out: CUDA_VISIBLE_DEVICES, else every device torch sees;
    none when the grid runs on the CPU (``--device cpu``) or no GPU is visible."""
    if options.device is not None and not str(options.device).startswith("cuda"):
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no usable CUDA: the cells run on the CPU
        return []


def _run_workers(cells: Sequence[Cell], options: RunOptions, jobs: int, gpus_per_cell: int) -> list[str]:
    """Run cells in separate processes, ``jobs`` at a time; a failed cell does not stop the others.

    On a machine with GPUs each running cell gets its own (``max(1, gpus_per_cell)`` of them,
    through ``CUDA_VISIBLE_DEVICES``), so ``--jobs N`` on N GPUs runs N cells side by side; with
    fewer GPUs than ``jobs x gpus_per_cell`` a cell waits for a free one."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    gpus = _visible_gpus(options)
    per_cell = max(1, gpus_per_cell)
    free: queue.Queue[list[str]] = queue.Queue()
    for start in range(0, len(gpus) - per_cell + 1, per_cell):
        free.put(gpus[start:start + per_cell])
    if gpus and free.empty():
        raise ConfigError(f"--gpus-per-cell {gpus_per_cell} needs that many GPUs; {len(gpus)} visible")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not gpus and gpus_per_cell > cpus:
        raise ConfigError(f"--gpus-per-cell {gpus_per_cell}: no GPU is visible, so each cell would train in "
                          f"{gpus_per_cell} CPU processes, and this machine has {cpus} CPUs; pass at most {cpus}, "
                          "or run where the GPUs are")
    if not gpus and min(jobs, len(cells)) > cpus:  # --jobs 64 on a laptop: the out-of-memory killer
        raise ConfigError(f"--jobs {jobs}: no GPU is visible, so {min(jobs, len(cells))} cells would train at once on "
                          f"this machine's {cpus} CPUs; pass at most {cpus}")

    running: set[subprocess.Popen] = set()
    stopping = threading.Event()

    def one(cell: Cell) -> str:
        if stopping.is_set():
            return "not started: the grid was interrupted"
        devices = free.get() if gpus else None
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(devices)} if devices else None
        try:
            returncode, reason = _worker(worker_command(cell, options, gpus_per_cell), env, options.log, running)
        finally:
            if devices:
                free.put(devices)
        status = "ok" if returncode == 0 else f"failed: {reason}" if reason else _failed_without_a_line(returncode)
        where = f" on GPU {','.join(devices)}" if devices else ""
        options.log(f"[cvgl-bench grid] {cell}{where}: {status}")
        return status

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(one, cells))
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: stop every worker, then say so
        stopping.set()
        _stop_workers(running, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT, options.log)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _failed_without_a_line(returncode: int) -> str:
    """A worker that ended without its ``Error:`` line: by a signal (the out-of-memory killer's
    SIGKILL), or with an exit code."""
    if returncode < 0:
        # SIGINT and SIGTERM are an interruption, passed on by the grid itself, that reached the
        # worker as it exited (its cell may have finished); SIGKILL is the out-of-memory killer's
        why = {signal.SIGKILL: " (out of memory?)", signal.SIGINT: " (interrupted)",
               signal.SIGTERM: " (interrupted)"}.get(-returncode, "")
        return f"failed: its worker process was killed by {signal_name(-returncode)}{why}; rerun the grid to resume"
    return f"failed (exit {returncode})"


def _worker(command: list[str], env: dict[str, str] | None, log: Callable[[str], None],
            running: set[subprocess.Popen] | None = None) -> tuple[int, str | None]:
    """Run one worker process; every line it prints goes to ``log`` (the grid's stderr), never to
    the grid's stdout, but for its one-line ``Error:``, which is returned as the cell's failure.
    While it runs, the process is in ``running`` (the grid stops them when it is interrupted)."""
    reason = None
    # its own session: a Ctrl-C at the terminal reaches the grid alone, which passes it on once
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", bufsize=1, start_new_session=running is not None) as proc:
        if running is not None:
            running.add(proc)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("Error: "):
                    reason = line[len("Error: "):].rstrip("\n")
                else:
                    log(line.rstrip("\n"))
        finally:
            if running is not None:
                running.discard(proc)
    return proc.returncode, reason


def _stop_workers(running: set[subprocess.Popen], sig: int, log: Callable[[str], None],
                  grace_s: float = STOP_GRACE_S) -> None:
    """Pass the grid's interruption on to its running workers (which save nothing half-written and
    keep their finished epochs), and kill those still running after ``grace_s`` seconds. A worker
    that a pool thread started just as the grid was interrupted is told too."""
    told: set[subprocess.Popen] = set()
    deadline = time.monotonic() + grace_s
    while procs := [proc for proc in list(running) if proc.poll() is None]:
        if not told:
            log(f"[cvgl-bench grid] interrupted: stopping {len(procs)} running cell(s) (at most {grace_s:.0f} s); "
                "rerun the grid to resume")
        for proc in set(procs) - told:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            told.add(proc)
        if time.monotonic() > deadline:
            for proc in procs:
                proc.kill()
                proc.wait()
            return
        time.sleep(0.1)


class _SlurmCell:
    """A picklable callable submitit runs on a node; multi-GPU cells set up torch.distributed."""

    def __init__(self, options_json: str):
        self.options_json = options_json

    def __call__(self, cell_json: str) -> str:
        from .worker import run_worker

        return run_worker(cell_json, self.options_json, slurm=True)


JOBS_FILE = "jobs.json"
#: Slurm states of a job that is not over (``sacct``): its cell is not submitted again.
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                           "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})


def _earlier_jobs(path: Path, log: Callable[[str], None]) -> list[dict[str, str]]:
    """The submissions an earlier grid wrote to ``path`` (none when there is no such file; a
    damaged one is said and read as none)."""
    if not path.exists():
        return []
    from ..fsutil import read_text

    try:
        entries = json.loads(read_text(path))
        if isinstance(entries, list) and all(isinstance(e, dict) and all(isinstance(v, str) for v in e.values())
                                             and isinstance(e.get("job_id"), str) for e in entries):
            return entries
    except (OSError, ValueError) as exc:
        log(f"[cvgl-bench grid] {path} cannot be read ({one_line(exc)}); its jobs are not looked up")
        return []
    log(f"[cvgl-bench grid] {path} is not a list of submitted jobs; its jobs are not looked up")
    return []


def _still_active(submitit: Any, folder: Path, earlier: dict[str, str], cluster: str) -> dict[str, Any]:
    """The cells (by their JSON) whose job of an earlier submission Slurm still queues or runs,
    with that job: submitting them again would start a second job that waits on the first one's
    cell lock, holding its allocation. A job ``sacct`` cannot tell about is taken as over."""
    if cluster != "slurm" or not earlier:
        return {}
    jobs = {spec: submitit.SlurmJob(folder=str(folder), job_id=job_id) for spec, job_id in earlier.items()}
    active = {}
    for spec, job in jobs.items():  # the first state asked updates every job registered above at once
        with contextlib.suppress(Exception):
            if str(job.state).split(" ")[0].upper() in ACTIVE_STATES:
                active[spec] = job
    return active


def _submit_missing(submitit: Any, executor: Any, cells: Sequence[Cell], options: RunOptions, folder: Path,
                    cluster: str) -> tuple[list[str], list[Any], dict[str, Any]]:
    """Submit the cells whose earlier job (``jobs.json``) is not still queued or running, and
    record every cell's job; returns each cell's JSON and job, and the earlier jobs still active.
    The caller holds the folder's lock, so that two grids cannot lose each other's entries."""
    earlier = _earlier_jobs(folder / JOBS_FILE, options.log)
    specs = [cell_to_json(c) for c in cells]
    active = _still_active(submitit, folder, {e["spec"]: e["job_id"] for e in earlier if "spec" in e}, cluster)
    for cell, spec in zip(cells, specs):
        if spec in active:
            options.log(f"[cvgl-bench grid] {cell}: job {active[spec].job_id} of an earlier submission is still "
                        "queued or running; not submitted again")
    new = [spec for spec in specs if spec not in active]
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # submitit prints the scheduler's refusal before raising it
            submitted = dict(zip(new, executor.map_array(_SlurmCell(options_to_json(options)), new))) if new else {}
    except Exception as exc:  # noqa: BLE001 - sbatch's refusal (submitit's FailedJobError) or its absence
        why = next((line.strip() for line in [*said.getvalue().splitlines(), *str(exc).splitlines()]
                    if line.strip()), type(exc).__name__)
        raise ConfigError(f"the {cluster} cluster refused the job array, and nothing was submitted: {why}") from exc
    options.log(f"[cvgl-bench grid] submitted {len(submitted)} cells to {executor.cluster} (logs in {folder})")
    jobs = [active.get(spec) or submitted[spec] for spec in specs]
    from ..fsutil import write_json

    kept = [e for e in earlier if e.get("spec") not in specs]  # other grids' jobs in the same folder
    write_json(folder / JOBS_FILE, kept + [{"cell": str(cell), "job_id": str(job.job_id), "spec": spec}
                                           for cell, spec, job in zip(cells, specs, jobs)])
    return specs, jobs, active


def _run_slurm(cells: Sequence[Cell], options: RunOptions, gpus_per_cell: int, slurm: dict[str, Any]) -> list[str]:
    """Submit the cells as one submitit job array; wait for them, or (``slurm["wait"]`` false)
    return at once. The job ids go to ``<folder>/jobs.json``: a later ``grid`` run does not submit
    again a cell whose job is still queued or running (it waits for that job instead), and a
    finished cell's job finds its records and ends at once."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("the slurm executor needs submitit: pip install 'cvgl-bench[slurm]'") from None
    slurm = dict(slurm)
    folder = Path(slurm.pop("folder", options.runs_dir / "submitit"))
    cluster = slurm.pop("cluster", None) or "slurm"
    wait = bool(slurm.pop("wait", True))
    try:  # submitit's own choice, without a cluster, is to run every cell on this machine at once
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    except (RuntimeError, ValueError) as exc:  # 'Could not detect "srun"', an unknown cluster
        raise ConfigError(f"--executor slurm: submitit finds no {cluster} cluster here ({one_line(exc)}); run the "
                          "grid on a Slurm login node, or pass --slurm-cluster local to try the job array on this "
                          "machine") from None
    params: dict[str, Any] = {"timeout_min": int(slurm.pop("timeout_min", 24 * 60)),
                              "slurm_array_parallelism": int(slurm.pop("array_parallelism", 64))}
    if gpus_per_cell:
        params.update(gpus_per_node=gpus_per_cell, tasks_per_node=gpus_per_cell)
    params.update(slurm)
    try:
        executor.update_parameters(**params)
    except (ValueError, NameError, TypeError, AssertionError) as exc:  # submitit: an unknown name, a wrong type
        raise ConfigError(f"slurm parameters: {exc}".splitlines()[0]) from None
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive(folder / f".{JOBS_FILE}.lock", "submitting a grid's cells", say=options.log):
        specs, jobs, active = _submit_missing(submitit, executor, cells, options, folder, cluster)
    if not wait:
        options.log(f"[cvgl-bench grid] not waiting (--no-wait): job ids in {folder / JOBS_FILE}; rerun the "
                    "same grid later to collect the results (finished cells are skipped)")
        return [f"submitted (job {job.job_id}{', earlier' if spec in active else ''})"
                for spec, job in zip(specs, jobs)]
    statuses = []
    for cell, job in zip(cells, jobs):
        try:
            statuses.append(job.result())
        except Exception as exc:  # noqa: BLE001 - a failed job is reported, the grid goes on
            statuses.append(f"failed: {type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''}")
        options.log(f"[cvgl-bench grid] {cell}: {statuses[-1]}")
    return statuses
