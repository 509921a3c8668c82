"""Fault injection: a process killed with SIGKILL blocks nobody and leaves nothing that stays.

Covers the locks of :mod:`cvgl_bench.locking` (they die with their owner, even when forked
children keep the file open; a waiter says whom it waits for and gives up at its bound), the
synthetic cache killed mid-generation (no hang, no orphaned worker, no leftover folder), and the
temporary files of atomic writes left by dead writers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cvgl_bench.errors import ConfigError
from cvgl_bench.fsutil import sweep_dead_temps, write_json
from cvgl_bench.locking import exclusive, read_owner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and /proc semantics of Linux")

HOLD_AND_FORK = textwrap.dedent("""
    import os, sys, time
    from cvgl_bench.locking import exclusive
    with exclusive(sys.argv[1], "holding for a test"):
        if os.fork() == 0:  # a child that inherits the lock's file descriptor, like a worker pool
            time.sleep(60)
            os._exit(0)
        print("held", flush=True)
        time.sleep(60)
""")


def _start(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def test_lock_dies_with_its_owner_even_when_a_forked_child_keeps_the_file(tmp_path):
    lock = tmp_path / "x.lock"
    holder = _start(HOLD_AND_FORK, str(lock))
    try:
        assert holder.stdout.readline().strip() == "held"
        assert read_owner(lock)["pid"] == holder.pid
        children = _children(holder.pid)
        assert children, "the holder forked a child"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert all(_alive(c) for c in children)  # the child still has the file open
        started = time.monotonic()
        with exclusive(lock, "taking over", timeout=10):
            assert read_owner(lock)["pid"] == os.getpid()
        assert time.monotonic() - started < 5
    finally:
        _kill_group(holder)


def test_a_waiter_names_the_owner_and_gives_up_at_its_bound(tmp_path):
    lock = tmp_path / "x.lock"
    holder = _start(HOLD_AND_FORK, str(lock))
    try:
        assert holder.stdout.readline().strip() == "held"
        said: list[str] = []
        started = time.monotonic()
        with pytest.raises(ConfigError) as caught:
            with exclusive(lock, "generating the thing", timeout=0.6, say=said.append, poll_s=0.1):
                pytest.fail("the lock was held by another process")
        assert 0.5 < time.monotonic() - started < 5
        assert len(said) == 1 and f"PID {holder.pid}" in said[0] and "holding for a test" in said[0]
        message = str(caught.value)
        assert "\n" not in message and f"PID {holder.pid}" in message and "CVGL_BENCH_LOCK_TIMEOUT" in message
    finally:
        _kill_group(holder)


def test_lock_timeout_from_the_environment_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("CVGL_BENCH_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="CVGL_BENCH_LOCK_TIMEOUT"):
        with exclusive(tmp_path / "x.lock", "anything"):
            pass


GENERATE = textwrap.dedent("""
    from cvgl_bench.data.synth.cache import ensure_generated
    print(ensure_generated("cvusa", size=40, seed=3, progress=False), flush=True)
""")


def test_generation_killed_midway_blocks_nobody_and_leaves_no_orphan_or_folder(tmp_path):
    env = {**os.environ, "CVGL_BENCH_CACHE": str(tmp_path / "cache"), "CVGL_BENCH_SYNTH_WORKERS": "2",
           "OMP_NUM_THREADS": "1", "CVGL_BENCH_LOCK_TIMEOUT": "120"}
    synth = tmp_path / "cache" / "synth"
    victim = _start(GENERATE, env=env)
    try:
        assert _wait_until(lambda: any(synth.glob(".cvusa-40-seed3-v*.tmp-*")) and len(_children(victim.pid)) >= 2,
                           60), "generation started with its worker pool"
        workers = _children(victim.pid)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert _wait_until(lambda: not any(_alive(w) for w in workers), 10), "the pool workers died with their parent"
        assert any(synth.glob(".cvusa-40-seed3-v*.tmp-*"))  # the dead writer's folder, until the next writer

        rerun = subprocess.run([sys.executable, "-c", GENERATE], env=env, capture_output=True, text=True, timeout=180)
        assert rerun.returncode == 0, rerun.stderr
        target = Path(rerun.stdout.strip())
        assert (target / "synth_meta.json").is_file()
        assert not list(synth.glob(".cvusa-40-seed3-v*.tmp-*")), "the dead writer's folder was removed"
    finally:
        _kill_group(victim)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_writes_remove_the_temporaries_of_dead_writers_only(tmp_path):
    from cvgl_bench.fsutil import _host

    dead, host = _dead_pid(), _host()
    leftovers = [tmp_path / f".rec.json.{host}-{dead}.ab12cd_x.tmp", tmp_path / f".rec.json.tmp-{host}-{dead}"]
    kept = [tmp_path / f".rec.json.{host}-{os.getpid()}.zz99zz99.tmp",  # a live writer
            tmp_path / f".rec.json.otherhost-{dead}.ab12cd_x.tmp",      # another host's writer
            tmp_path / f".rec.json.old.{host}-{dead}.ab12cd_x.tmp",     # another name's temporary
            tmp_path / ".rec.json.ab12cd_x.tmp"]                         # no owner in the name
    leftovers[0].write_bytes(b"half")
    leftovers[1].mkdir()
    for path in kept:
        path.write_bytes(b"keep")
    write_json(tmp_path / "rec.json", {"ok": True})
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in kept)
    assert sweep_dead_temps(tmp_path, "rec.json") == []
