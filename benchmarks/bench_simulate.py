"""Benchmark: online SGD steps at N = 1000, K = M = 2, and the speed-up over seeds.

    python benchmarks/bench_simulate.py

Measured in one run, printed as a table:
* Gaussians: the ziggurat on xoshiro256** (symphase._rng.fill_normal) vs
  NumPy's ``Generator.standard_normal`` (also a ziggurat);
* one online step (b = 1) at N = 1000, K = M = 2: symphase's Numba kernel on
  one core (plain and exact-rule BN) vs a vectorized NumPy implementation of
  the same plain update, kept here as the baseline. The target:
  <= 20 us per step (the field's reference C++ code: about 47 us);
* the paper's Fig. 3 run (N = 100, b = 100, 20,000 iterations), one seed;
* the speed-up over seeds: 4 seeds on 1 vs 2 worker threads (target: near
  linear on 2 cores). The load average is printed: on a shared machine other
  jobs take cores and the speed-up shrinks.
"""
from __future__ import annotations

import os

import numpy as np
from _timing import best_of
from scipy.special import erf

import symphase as sp
from symphase import simulate
from symphase._rng import fill_normal, rng_state

N, K = 1000, 2
STEPS = 50_000


def numpy_sgd(J, B, eta, steps, rng):
    """Plain online SGD, vectorized over the N components (docs/model.md §2)."""
    N = J.shape[1]
    c = np.sqrt(2 / np.pi)
    for _ in range(steps):
        xi = rng.standard_normal(N)
        x, y = J @ xi, B @ xi
        delta = erf(y / np.sqrt(2)).sum() - erf(x / np.sqrt(2)).sum()
        J += np.outer((eta / N) * delta * c * np.exp(-x**2 / 2), xi)
    return J


def per_step(model, steps=STEPS, n=N):
    alpha = steps / n
    simulate(model, n, 1.0, 1.0, seeds=1, workers=1, alphas=[0.0, 1.0])  # compile
    return best_of(lambda: simulate(model, n, 1.0, alpha, seeds=1, workers=1, alphas=[alpha])) / steps


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    global STEPS
    STEPS = 10_000 if quick else 50_000
    out = [("simulate, online step", "plain, N = 1000, K = M = 2", per_step(sp.Committee(K, K)),
            "one core; target <= 20 us (reference C++ ~47 us)"),
           ("simulate, online step", "BN exact, N = 1000, K = M = 2", per_step(sp.Committee(K, K, bn="exact")),
            "one core")]
    fig3 = sp.Committee(K, K, bn="paper", batch=100)
    simulate(fig3, 100, 1.0, 1.0, seeds=1, workers=1, alphas=[1.0])
    a = 20.0 if quick else 200.0
    t = best_of(lambda: simulate(fig3, 100, 1.0, a, seeds=1, workers=1, alphas=[a]), 2)
    out.append(("simulate, Fig. 3 batch step", "BN paper, N = 100, b = 100, K = M = 2", t / (a * 100),
                "one core, per step of 100 examples"))
    if not quick:
        plain = sp.Committee(K, K)
        a = 20_000 / N
        t1 = best_of(lambda: simulate(plain, N, 1.0, a, seeds=4, workers=1, alphas=[a]), 2)
        t2 = best_of(lambda: simulate(plain, N, 1.0, a, seeds=4, workers=2, alphas=[a]), 2)
        out.append(("simulate, 4 seeds x 20,000 steps", "1 worker", t1, ""))
        out.append(("simulate, 4 seeds x 20,000 steps", "2 workers", t2, f"speed-up {t1 / t2:.2f}"))
    return out


def main():
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    z = np.empty(1_000_000)
    s = rng_state(0)
    fill_normal(s, z)
    t_zig = best_of(lambda: fill_normal(s, z)) / z.size
    rng = np.random.default_rng(0)
    t_npn = best_of(lambda: rng.standard_normal(out=z)) / z.size

    t_plain = per_step(sp.Committee(K, K))
    t_bn = per_step(sp.Committee(K, K, bn="exact"))
    J = rng.standard_normal((K, N)) / np.sqrt(N)
    B = rng.standard_normal((K, N)) / np.sqrt(N)
    n_np = STEPS // 10
    t_np = best_of(lambda: numpy_sgd(J.copy(), B, 1.0, n_np, rng)) / n_np

    fig3 = sp.Committee(K, K, bn="paper", batch=100)
    simulate(fig3, 100, 1.0, 1.0, seeds=1, workers=1, alphas=[1.0])
    t_fig3 = best_of(lambda: simulate(fig3, 100, 1.0, 200.0, seeds=1, workers=1, alphas=[200.0]), 2)

    plain = sp.Committee(K, K)
    a = 20_000 / N
    t1 = best_of(lambda: simulate(plain, N, 1.0, a, seeds=4, workers=1, alphas=[a]), 2)
    t2 = best_of(lambda: simulate(plain, N, 1.0, a, seeds=4, workers=2, alphas=[a]), 2)

    print(f"{'what':<52} {'time':>14} {'ratio':>22}")
    print(f"{'Gaussian, ziggurat + xoshiro256** (Numba)':<52} {t_zig * 1e9:10.2f} ns  "
          f"{'NumPy ' + format(t_npn * 1e9, '.2f') + ' ns (' + format(t_npn / t_zig, '.1f') + 'x)':>22}")
    print(f"{'online step, plain, N=1000, K=M=2, 1 core':<52} {t_plain * 1e6:10.2f} us  "
          f"{'NumPy/ours ' + format(t_np / t_plain, '.1f') + 'x':>22}")
    print(f"{'online step, NumPy vectorized baseline':<52} {t_np * 1e6:10.2f} us")
    print(f"{'online step, BN exact rule, N=1000, K=M=2, 1 core':<52} {t_bn * 1e6:10.2f} us")
    print(f"{'  target <= 20 us; reference C++ ~47 us':<52} {'':>14} "
          f"{'C++/ours ' + format(47e-6 / t_plain, '.1f') + 'x':>22}")
    print(f"{'Fig. 3 run: N=100, b=100, 20,000 steps, BN paper':<52} {t_fig3:10.2f} s")
    print(f"{'4 seeds x 20,000 steps: 1 worker':<52} {t1:10.2f} s")
    print(f"{'4 seeds x 20,000 steps: 2 workers':<52} {t2:10.2f} s  {'speed-up ' + format(t1 / t2, '.2f'):>22}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
