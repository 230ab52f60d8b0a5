"""``symphase reproduce``: the time of each figure and of the whole run (issue 21: <= 4 min on 2 idle cores).

    python benchmarks/bench_reproduce.py [--quick] [--jobs N] [--out FOLDER]

Runs ``python -m symphase reproduce --force --json`` into a temporary folder (or ``--out``, kept), with
``--jobs`` (default: the cores available, as the command's own default) and prints each figure's status
and time (measured inside its worker) and the whole run's wall-clock and CPU time (the command and its
workers). Run it on an idle machine: under load the figures share the cores with other work.
The Numba cache is the usual one: compile once (any earlier run) before timing.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from symphase.figures._reproduce import available_cores


def run_reproduce(quick=False, jobs=None, out=None):
    """``(figures, wall, cpu)``: the JSON summary of one ``reproduce --force`` (a list of dicts with ``name``,
    ``status``, ``seconds``), its wall-clock seconds, and the CPU seconds of it and its workers."""
    jobs = available_cores() if jobs is None else jobs
    with tempfile.TemporaryDirectory(prefix="symphase-bench-reproduce-") as tmp:
        folder = Path(out) if out is not None else Path(tmp) / "figures"
        args = [sys.executable, "-m", "symphase", "reproduce", "--force", "--json", "--jobs", str(jobs),
                "--out", str(folder)] + (["--quick"] if quick else [])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(args, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"reproduce exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(p.stdout), wall, cpu


def rows(quick=False, jobs=None):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    jobs = available_cores() if jobs is None else jobs
    figures, wall, cpu = run_reproduce(quick, jobs)
    mode = "--quick" if quick else "full"
    out = [(f"reproduce {mode}, per figure", f["name"], f["seconds"], f["status"]) for f in figures]
    out.append((f"reproduce {mode}, whole run", f"--jobs {jobs}", wall,
                f"CPU {cpu:.0f} s; load average before {os.getloadavg()[0]:.1f}"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the reduced figures (reproduce --quick)")
    ap.add_argument("--jobs", type=int, default=None, help="reproduce --jobs (default: the cores available)")
    ap.add_argument("--out", type=Path, default=None, help="keep the figures in this folder")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {available_cores()} cores")
    figures, wall, cpu = run_reproduce(args.quick, args.jobs, args.out)
    for f in figures:
        print(f"{f['name']:<28} {f['status']:<11} {f['seconds']:7.1f} s  {f['summary']}")
    print(f"{'total (wall clock)':<28} {'':<11} {wall:7.1f} s  CPU {cpu:.0f} s "
          f"(--jobs {args.jobs or available_cores()}); goal <= 240 s on 2 idle cores")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
