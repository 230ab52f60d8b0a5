"""Timing helper shared by the benchmarks (run on demand, never in the test suite)."""
from __future__ import annotations

import time


def best_of(f, repeats=15):
    """The shortest of ``repeats`` wall-clock timings of ``f()`` (seconds): the machines are noisy."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def print_table(rows, argv):
    """Print ``rows(quick)`` (``(benchmark, case, seconds per step, note)``; ``quick`` when ``--quick`` is in
    ``argv``) as the markdown table of a benchmark's own ``main``."""
    print("| benchmark | case | time per step | note |")
    print("|---|---|---|---|")
    for bench, case, t, note in rows("--quick" in argv):
        print(f"| {bench} | {case} | {t * 1e6:.3g} us | {note} |")
