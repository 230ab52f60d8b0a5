"""Exact SGD in overlap space: cost per step flat in N, and its ratio to SGD on the weights.

    python benchmarks/bench_overlap_sgd.py

K = M = 2, plain and exact BN, b = 1: the best-of-5 time per step of the
overlap chain (``symphase._overlap_sgd.overlap_steps``) at N = 10^2 .. 10^6,
and of the weight-space kernel (``symphase._sgd.sgd_steps``) at N = 10^2 .. 10^4;
one core, one run, ours against ours. The target: the overlap chain's cost
flat in N, at least 100 times faster than the weights at N = 10^4.
"""
from __future__ import annotations

import numpy as np

import symphase as sp
from _timing import best_of
from symphase import _overlap_sgd as ov
from symphase import _rng, _sgd

STEPS_OV = 200_000


def per_step_overlaps(model, N, Q0, R0):
    ws = ov.workspace(model.K, model.M, model.batch)
    par, T = model.system.params(1.0), model.system.T

    def run():
        Q, R, g = Q0.copy(), R0.copy(), np.ones(model.K)
        ov.overlap_steps(Q, R, g, np.ones(model.K), model.system.teacher_weights, T, par, N, model.batch, STEPS_OV, _rng.rng_state(0), 1e6, *ws)
    run()
    return best_of(run, repeats=5) / STEPS_OV


def per_step_weights(model, N, J, B):
    par = model.system.params(1.0)
    steps = max(200, int(2e7 // N))

    def run():
        Jt, Bt, g = np.ascontiguousarray(J.T), np.ascontiguousarray(B.T), np.ones(model.K)
        _sgd.sgd_steps(Jt, Bt, g, np.ones(model.K), model.system.teacher_weights, par, 1, steps, _rng.rng_state(0),
                       np.empty(N), np.empty((1, model.K)), 1e6)
    run()
    return best_of(run, repeats=5) / steps


def main():
    print(f"{'rule':>6} {'N':>8} {'overlaps (ns/step)':>19} {'weights (ns/step)':>18} {'weights/overlaps':>17}")
    for bn in ("plain", "exact"):
        model = sp.Committee(2, 2, bn=bn)
        for N in (100, 1000, 10_000, 100_000, 1_000_000):
            J, B = sp.random_weights(model, N, 0)
            Q0, R0 = J @ J.T, J @ B.T
            t_ov = per_step_overlaps(model, N, Q0, R0)
            if N <= 10_000:
                t_w = per_step_weights(model, N, J, B)
                print(f"{bn:>6} {N:>8} {t_ov * 1e9:>19.1f} {t_w * 1e9:>18.1f} {t_w / t_ov:>17.0f}")
            else:
                print(f"{bn:>6} {N:>8} {t_ov * 1e9:>19.1f} {'-':>18} {'-':>17}")


if __name__ == "__main__":
    main()
