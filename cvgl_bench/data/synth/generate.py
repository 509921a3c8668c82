"""Generate a synthetic dataset in a real dataset's layout: plan, render (in parallel), write.

Output is written into a temporary folder beside the target and renamed into place at the
end, so a killed run never leaves a half-written dataset. Each world is rendered by one job
whose randomness is keyed by (seed, layout, world index), so the bytes do not depend on the
number of worker processes or on the order in which jobs finish.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ... import envvars
from ...errors import ConfigError
from ...fsutil import temp_dir_beside
from . import dataset_version
from .config import MAX_WORKERS, SynthConfig, make_config
from .layouts import layout_module
from .workers import context, map_in_processes

META_FILE = "synth_meta.json"


def default_workers() -> int:
    """``CVGL_BENCH_SYNTH_WORKERS`` (1 to :data:`MAX_WORKERS`), else min(4, CPUs)."""
    return envvars.integer("CVGL_BENCH_SYNTH_WORKERS", max(1, min(4, os.cpu_count() or 1)), 1, MAX_WORKERS)


def generate(layout: str, out: str | os.PathLike, size: str | int = "small", seed: int = 0, style: str | None = None,
             workers: int | None = None, progress: bool = True, overwrite: bool = False, real_sizes: bool = False,
             **overrides: Any) -> dict:
    """Generate ``layout`` at ``size`` into the folder ``out``; returns a summary dict.

    ``overrides`` are :class:`SynthConfig` fields (``satellite_px``, ``ground_px``,
    ``drone_px``, ``orientation``, ``vigor_layout``...).
    """
    cfg = make_config(layout, size, seed, style, real_sizes=real_sizes, **overrides)
    return generate_config(cfg, out, workers=workers, progress=progress, overwrite=overwrite)


def check_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """``out`` as a folder to generate into: new, or empty (or ``overwrite``); anything else is one
    line naming ``--out``."""
    out = Path(out).expanduser()
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file, not a folder; choose a new --out folder")
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise ConfigError(f"{out} exists and is not empty; choose a new --out folder")
    except OSError as exc:  # a name too long, a folder that cannot be listed
        raise ConfigError(f"--out {out}: {exc.strerror or exc}; choose another --out folder") from None
    return out


def generate_config(cfg: SynthConfig, out: str | os.PathLike, workers: int | None = None, progress: bool = True,
                    overwrite: bool = False) -> dict:
    out = check_out(out, overwrite)
    module = layout_module(cfg.layout)
    jobs = module.plan(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    started = time.perf_counter()
    try:
        records = _run_jobs(jobs, cfg, tmp, workers or default_workers(), progress)
        counts = module.finalize(cfg, jobs, [r for recs in records for r in recs], tmp)
        meta = {"generator": "cvgl_bench.data.synth", "generator_version": dataset_version(cfg.layout),
                "layout": cfg.layout, "config": cfg.describe(), "worlds": len(jobs), "counts": counts,
                "styles": sorted({job.style.name for job in jobs})}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a worker's failed write (a full disk) names no file
            raise OSError(exc.errno or errno.EIO, exc.strerror or str(exc), str(out)) from exc
        raise
    return {"path": str(out), "seconds": time.perf_counter() - started, **meta}


_progress_queue = None


def _worker_init(queue, parent_pid: int) -> None:
    """Pool worker start: keep the progress queue, and die with the parent (no orphan outlives a kill -9)."""
    global _progress_queue
    _progress_queue = queue
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux only; elsewhere a no-op failure)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _job_entry(args: tuple) -> list[dict]:
    job, cfg, root = args
    module = layout_module(cfg.layout)

    def tick(n: int) -> None:
        if _progress_queue is not None:
            _progress_queue.put(n)

    return module.run(job, cfg, Path(root), tick)


def _run_jobs(jobs: list, cfg: SynthConfig, root: Path, workers: int, progress: bool) -> list[list[dict]]:
    from ...progress import progress as progress_bar

    total = sum(job.work for job in jobs)
    bar = progress_bar(total, desc=f"synth {cfg.layout} {cfg.size}", unit="img", disable=not progress,
                       file=sys.stderr, dynamic_ncols=True)
    try:
        if workers <= 1 or len(jobs) <= 1:
            module = layout_module(cfg.layout)
            return [module.run(job, cfg, root, bar.update) for job in jobs]
        queue = context().Queue()
        try:
            # largest jobs first keeps both workers busy until the end
            order = sorted(range(len(jobs)), key=lambda k: -jobs[k].work)
            results: dict[int, list[dict]] = {}
            what = f"generating the synthetic {cfg.layout} dataset"
            for i, result in map_in_processes(_job_entry, [(jobs[k], cfg, str(root)) for k in order],
                                              min(workers, len(jobs)), what=what, initializer=_worker_init,
                                              initargs=(queue, os.getpid()), poll=lambda: _drain(queue, bar)):
                results[order[i]] = result
            _drain(queue, bar)
        finally:
            queue.close()
            queue.join_thread()
        return [results[k] for k in range(len(jobs))]
    finally:
        bar.close()


def _drain(queue, bar) -> bool:
    """Show the workers' reported progress; whether there was any."""
    import queue as queue_module

    moved = False
    while True:
        try:
            bar.update(queue.get_nowait())
            moved = True
        except queue_module.Empty:
            return moved
