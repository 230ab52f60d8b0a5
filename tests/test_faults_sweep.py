"""Faults of a real ``symphase sweep`` process: Ctrl-C and ``kill -9`` with two local workers.

Each test runs ``python -m symphase sweep`` in its own session, waits until a
few points are stored, then sends SIGINT to the process group (what a
terminal's Ctrl-C does) or SIGKILL to the main process only. It checks that
the sweep stops within seconds, that no point is stored that did not finish,
that no worker outlives its parent, and that resuming completes the grid,
each point exactly once, with the same numbers as an uninterrupted run.
Every wait is bounded; each test takes about 10-20 s on two busy cores.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symphase._sweep import TASKS, Task, _points, check_sweep, load_config, sweep

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process faults checked through Linux's /proc")

# a point is one simulation of about 0.5 s: long enough to be cut off mid-run, short enough to be quick
CONFIG = """task = "simulate"
[grid]
eta = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
[fixed]
N = 500
alpha_max = 100.0
seeds = 1
points = 11
"""
N_POINTS = 10
START_S = 90   # bound on the wait for the first points (spawning workers, importing, compiling)
STOP_S = 8     # "stops promptly": the old sweep went on computing for 7-40 s after Ctrl-C
GONE_S = 5     # a worker of a killed sweep must be gone within this


def _start(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG)
    # its own session and process group, as a shell gives a job; files, not pipes: a stray worker
    # holding a pipe open would block the reader
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "symphase", "sweep", str(cfg), "--workers", "2"], stdout=out,
                             stderr=err, stdin=subprocess.DEVNULL, start_new_session=True, cwd=tmp_path)
    return p, cfg, tmp_path / "s.sweep"


def _stored(store):
    return sorted((store / "points").glob("*.json"))


def _wait_for_points(p, store, n):
    end = time.monotonic() + START_S
    while len(_stored(store)) < n:
        assert p.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < end, f"fewer than {n} points stored after {START_S} s"
        time.sleep(0.02)


def _stat(pid):
    """(state, ppid) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _descendants(pid):
    ppid = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None:
            ppid[int(d)] = st[1]
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [c for c, pp in ppid.items() if pp == parent]
        out += kids
        todo += kids
    return out


def _alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has stopped running


def _wait_gone(pids, seconds):
    end = time.monotonic() + seconds
    while any(_alive(q) for q in pids) and time.monotonic() < end:
        time.sleep(0.05)
    return [q for q in pids if _alive(q)]


def _cleanup(p, pids=()):
    """Whatever the test's outcome, leave no process of ours behind."""
    for q in [p.pid, *pids]:
        if _alive(q):
            try:
                os.kill(q, signal.SIGKILL)
            except ProcessLookupError:
                pass
    p.wait(timeout=10)


_CALLS = []


def _counting_run(point):
    _CALLS.append(point["eta"])
    return TASKS["simulate"].run(point)


COUNTING = Task("simulate", TASKS["simulate"].params, TASKS["simulate"].defaults, TASKS["simulate"].outputs,
                _counting_run)


def _resume_and_check(cfg, store, stored_before):
    """Resume in this process: exactly the missing points are computed, once each; the points the
    interrupted sweep stored equal an uninterrupted computation bit for bit (same seed, same code)."""
    conf = load_config(cfg)
    task, grid, fixed = check_sweep(conf["task"], conf["grid"], conf["fixed"])
    before = {p.name: json.loads(p.read_text()) for p in stored_before}
    _CALLS.clear()
    res = sweep(COUNTING, grid, fixed=fixed, store=store, scheduler="sync")
    assert res.success, res.message
    done_before = sorted(r["point"]["eta"] for r in before.values())
    assert sorted(_CALLS + done_before) == grid["eta"]  # each point exactly once over both runs
    assert len(_stored(store)) == N_POINTS
    assert not list((store / "points").glob("*.part"))
    for name, rec in before.items():
        assert json.loads((store / "points" / name).read_text()) == rec  # not rewritten by the resume
        point = next(q for q in _points(task, grid, fixed) if q["eta"] == rec["point"]["eta"])
        want = TASKS["simulate"].run(point)
        np.testing.assert_array_equal(res["eg"].sel(eta=point["eta"]).values, want["eg"])


@pytest.mark.slow
def test_ctrl_c_stops_promptly_stores_only_finished_points_and_resumes(tmp_path):
    p, cfg, store = _start(tmp_path)
    workers = []
    try:
        _wait_for_points(p, store, 2)
        workers = _descendants(p.pid)
        n_before = len(_stored(store))
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        try:
            rc = p.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not stop within {STOP_S} s of Ctrl-C")
        stopped_s = time.monotonic() - t0
        left = _wait_gone(workers, GONE_S)
    finally:
        _cleanup(p, workers)
    err = (tmp_path / "err.txt").read_text()
    assert rc == 130, err
    assert "Traceback" not in err and err.startswith("symphase: interrupted: "), err
    assert err.count("\n") == 1, err  # one line: how many points are kept, and how to resume
    assert not left, f"worker processes {left} still running after Ctrl-C"
    stored = _stored(store)
    # no point was computed after Ctrl-C: at most the two in flight when the count was read finished
    assert len(stored) <= n_before + 2, f"{len(stored) - n_before} points stored after Ctrl-C ({stopped_s:.1f} s)"
    statuses = [json.loads(f.read_text())["outputs"]["status"] for f in stored]
    assert statuses == ["completed"] * len(stored)  # nothing stored that did not finish
    assert not list((store / "points").glob("*.part"))
    assert len(stored) < N_POINTS
    _resume_and_check(cfg, store, stored)


@pytest.mark.slow
def test_kill_9_of_the_main_process_takes_its_workers_down_and_resumes(tmp_path):
    p, cfg, store = _start(tmp_path)
    workers = []
    try:
        _wait_for_points(p, store, 2)
        workers = _descendants(p.pid)
        assert workers, "no worker processes found"
        os.kill(p.pid, signal.SIGKILL)  # the main process only: the workers must notice by themselves
        p.wait(timeout=STOP_S)
        left = _wait_gone(workers, GONE_S)
    finally:
        _cleanup(p, workers)
    assert not left, f"worker processes {left} outlived the killed sweep"
    stored = _stored(store)
    statuses = [json.loads(f.read_text())["outputs"]["status"] for f in stored]
    assert statuses == ["completed"] * len(stored) and len(stored) < N_POINTS
    _resume_and_check(cfg, store, stored)  # a .part left by a killed writer is cleaned up by the resume


@pytest.mark.parametrize("deathsig", [False, True], ids=["watchdog-thread", "linux-deathsig"])
def test_worker_guard_ends_a_process_whose_parent_is_killed(tmp_path, deathsig):
    # each guard on its own: the watchdog thread (everywhere) and the parent-death signal (Linux)
    child = ("import os, time, sys\n"
             "from symphase._sweep_exec import _die_with_parent\n"
             f"_die_with_parent(os.getppid(), poll=0.05, deathsig={deathsig})\n"
             "print(os.getpid(), flush=True)\n"
             "time.sleep(60)\n")
    parent = ("import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"
              "time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, start_new_session=True)
    kid = None
    try:
        kid = int(p.stdout.readline())  # the child is guarded once it prints
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        left = _wait_gone([kid], GONE_S)
    finally:
        _cleanup(p, [kid] if kid else [])
        p.stdout.close()
    assert not left, "the child outlived its killed parent"
