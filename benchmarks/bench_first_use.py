"""First use: ``symphase ode`` and ``symphase simulate`` on an empty Numba cache (cold) and again (warm).

    python benchmarks/bench_first_use.py

Each command runs as a new process (``python -m symphase ...``, its defaults, ``--json``) with
``NUMBA_CACHE_DIR`` set to a fresh temporary folder: symphase._numba_cache leaves Numba's choice to that
variable when it is set, and Numba then reads and writes its cache only there, so the first run compiles
every kernel it needs (cold) and the next ones load them (warm; the best of three). The wall time
includes Python's start and the imports. The goal of issue 21: cold <= 3 x warm.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

COMMANDS = {"ode": ["ode"], "simulate": ["simulate"]}
#: --quick: a shorter simulation (the compilation is the same, the warm run shorter)
QUICK = {"ode": ["ode"], "simulate": ["simulate", "--alpha-max", "10"]}


def timed(args, cache):
    """Seconds of one ``python -m symphase ARGS --json`` with the Numba cache in ``cache``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "symphase", *args, "--json"], env=env, capture_output=True,
                       text=True, check=False, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"symphase {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return took


def measure(name, warm_repeats=3, commands=COMMANDS):
    """``(cold, warm)`` seconds of the command ``name``."""
    with tempfile.TemporaryDirectory(prefix="symphase-bench-numba-") as cache:
        cold = timed(commands[name], cache)
        warm = min(timed(commands[name], cache) for _ in range(warm_repeats))
    return cold, warm


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    commands = QUICK if quick else COMMANDS
    for name in commands:
        cold, warm = measure(name, 1 if quick else 3, commands)
        what = "first use, " + " ".join(["symphase", *commands[name]])
        out.append((what, "cold (empty Numba cache)", cold, f"{cold / warm:.1f} x warm (goal <= 3)"))
        out.append((what, "warm (cached)", warm, "" if quick else "best of 3"))
    return out


def main():
    for bench, case, t, note in rows():
        print(f"{bench:<28} {case:<26} {t:8.2f} s  {note}")


if __name__ == "__main__":
    main()
