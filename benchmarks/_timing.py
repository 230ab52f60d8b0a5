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
