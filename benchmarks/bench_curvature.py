"""Curvature costs nothing in N: ``symphase.curvature`` at N = 10 against N = 10^6.

    python benchmarks/bench_curvature.py

For K = M = 2, 4, 8 (plain and exact BN, a random state), the best-of-5 time
of ``curvature(...)`` plus the statistics of both kinds, at N = K + M + 1 and
at N = 10^6, and their ratio (ours against ours: the same machine, one run).
The target: the ratio is about 1 (no O(N) work).
"""
from __future__ import annotations

import numpy as np
from _timing import best_of

import symphase as sp


def state(model, seed=0, N=50):
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(model.K, N)) / np.sqrt(N)
    B = np.linalg.qr(rng.normal(size=(N, model.M)))[0].T
    return J @ J.T, J @ B.T, (np.ones(model.K) if model.has_bn else None)


def run(model, Q, R, g, N):
    c = sp.curvature(model, (Q, R, g), N=N)
    return c.stats("hessian"), c.stats("fisher")


def measure(K, bn, repeats=5):
    """``(n_small, t_small, t_big)``: curvature plus both statistics at N = 2K + 1 and at N = 10^6 (s)."""
    model = sp.Committee(K, K, bn=bn)
    Q, R, g = state(model)
    n_small = 2 * K + 1
    run(model, Q, R, g, n_small)
    t_small = best_of(lambda: run(model, Q, R, g, n_small), repeats=repeats)
    t_big = best_of(lambda: run(model, Q, R, g, 10**6), repeats=repeats)
    return n_small, t_small, t_big


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    for K in ((2, 4) if quick else (2, 4, 8)):
        for bn in ("plain", "exact"):
            n_small, t_small, t_big = measure(K, bn, 2 if quick else 5)
            out.append(("curvature (Hessian + Fisher)", f"K = M = {K}, {bn}, N = 10^6", t_big,
                        f"N = {n_small}: {t_small * 1e3:.2f} ms (ratio {t_big / t_small:.2f})"))
    return out


def main():
    print(f"{'K=M':>4} {'rule':>6} {'N small':>8} {'t small (ms)':>13} {'t N=1e6 (ms)':>13} {'ratio':>6}")
    for K in (2, 4, 8):
        for bn in ("plain", "exact"):
            n_small, t_small, t_big = measure(K, bn)
            print(f"{K:>4} {bn:>6} {n_small:>8} {t_small * 1e3:>13.2f} {t_big * 1e3:>13.2f} {t_big / t_small:>6.2f}")


if __name__ == "__main__":
    main()
