"""Benchmark: online SGD steps at N = 1000, K = M = 2, and the speed-up over seeds.

    python benchmarks/bench_simulate.py

Compares symphase's Numba simulator with a vectorized NumPy implementation
of the same plain update (kept here as the baseline), in one run. The
issue's target: <= 20 us per online step on one core (the field's reference
C++ code: about 47 us), and near-linear speed-up over seeds on 2 cores.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.special import erf

import symphase as sp
from symphase.simulate import simulate

N, K = 1000, 2
STEPS = 40_000


def numpy_sgd(J, B, eta, steps, rng):
    """Plain online SGD, vectorized over the N components (MODEL.md §2)."""
    N = J.shape[1]
    for _ in range(steps):
        xi = rng.standard_normal(N)
        x, y = J @ xi, B @ xi
        delta = erf(y / np.sqrt(2)).sum() - erf(x / np.sqrt(2)).sum()
        J += (eta / N) * np.outer(delta * np.sqrt(2 / np.pi) * np.exp(-x**2 / 2), xi)
    return J


def best(f, repeats=3):
    t = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    model = sp.Committee(K, K)
    alpha = STEPS / N
    simulate(model, N, 1.0, 1.0, seeds=1, workers=1, alphas=[0.0, 1.0])  # compile
    t_ours = best(lambda: simulate(model, N, 1.0, alpha, seeds=1, workers=1, alphas=[0.0, alpha])) / STEPS
    rng = np.random.default_rng(0)
    J = rng.standard_normal((K, N)) / np.sqrt(N)
    B = rng.standard_normal((K, N)) / np.sqrt(N)
    n_np = STEPS // 10
    t_np = best(lambda: numpy_sgd(J.copy(), B, 1.0, n_np, rng)) / n_np
    t1 = best(lambda: simulate(model, N, 1.0, alpha / 2, seeds=2, workers=1, alphas=[0.0, alpha / 2]), 2)
    t2 = best(lambda: simulate(model, N, 1.0, alpha / 2, seeds=2, workers=2, alphas=[0.0, alpha / 2]), 2)
    print(f"N={N}, K=M={K}, plain, online (b=1)")
    print(f"  symphase (Numba, 1 core):  {t_ours * 1e6:7.2f} us/step   (target <= 20, reference C++ ~47)")
    print(f"  NumPy baseline:            {t_np * 1e6:7.2f} us/step   (ratio NumPy/ours {t_np / t_ours:.1f})")
    print(f"  2 seeds, 1 vs 2 workers:   {t1:.2f} s vs {t2:.2f} s   (speed-up {t1 / t2:.2f} on 2 cores)")


if __name__ == "__main__":
    main()
