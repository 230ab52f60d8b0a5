"""Exact SGD in overlap space: cost per step flat in N, and its ratio to SGD on the weights.

    python benchmarks/bench_overlap_sgd.py

K = M = 2, plain and exact BN, b = 1: the best-of-5 time per step of the
overlap chain (``symphase._overlap_sgd.overlap_steps``) at N = 10^2 .. 10^6,
and of the weight-space kernel (``symphase._sgd.sgd_steps``) at N = 10^2 .. 10^4,
and one step of the diffusion approximation (``simulate(method="sde")``);
one core, one run, ours against ours. The target: the overlap chain's cost
flat in N, at least 100 times faster than the weights at N = 10^4.
"""
from __future__ import annotations

import numpy as np
from _timing import best_of

import symphase as sp
from symphase import _overlap_sgd as ov
from symphase import _rng, _sgd, simulate

STEPS_OV = 200_000


def per_step_overlaps(model, N, Q0, R0):
    ca = ov.chain_args(model, model.system.params(1.0), N)

    def run():
        Q, R, g = Q0.copy(), R0.copy(), np.ones(model.K)
        ov.overlap_steps(Q, R, g, np.ones(model.K), STEPS_OV, _rng.rng_state(0), ca)
    run()
    return best_of(run, repeats=5) / STEPS_OV


def per_step_weights(model, N, J, B, work=2e7, repeats=5):
    wa = _sgd.weight_args(model, model.system.params(1.0), B, b=1)
    steps = max(200, int(work // N))

    def run():
        Jt, g = np.ascontiguousarray(J.T), np.ones(model.K)
        _sgd.sgd_steps(Jt, g, np.ones(model.K), steps, _rng.rng_state(0), wa)
    run()
    return best_of(run, repeats=repeats) / steps


def per_step_sde(model, N, steps=200):
    """One Euler-Maruyama step of the diffusion approximation (``simulate(method="sde")``, step 0.05 in
    alpha, one seed, one thread), seconds: independent of N."""
    h = 0.05
    simulate(model, N, 1.0, h, seeds=1, workers=1, alphas=[h], method="sde", sde_step=h)  # compile
    a = steps * h
    return best_of(lambda: simulate(model, N, 1.0, a, seeds=1, workers=1, alphas=[a], method="sde", sde_step=h),
                   repeats=3) / steps


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``, one SGD step (b = 1) per
    method and N, K = M = 2."""
    global STEPS_OV
    STEPS_OV = 20_000 if quick else 200_000
    out = []
    for bn in ("plain", "exact"):
        model = sp.Committee(2, 2, bn=bn)
        for N in ((1000, 10_000) if quick else (100, 1000, 10_000, 100_000, 1_000_000)):
            J, B = sp.random_weights(model, N, 0)
            t_ov = per_step_overlaps(model, N, J @ J.T, J @ B.T)
            note = ""
            if N <= 10_000:
                t_w = per_step_weights(model, N, J, B, *((2e6, 2) if quick else ()))
                out.append(("SGD step, weights", f"{bn}, N = {N}", t_w, "K = M = 2, b = 1, one core"))
                note = f"weights/chain {t_w / t_ov:.0f}x"
            out.append(("SGD step, overlap chain", f"{bn}, N = {N}", t_ov, note))
        for N in ((1000,) if quick else (1000, 1_000_000)):
            out.append(("SDE step (sde_step 0.05)", f"{bn}, N = {N}", per_step_sde(model, N, 20 if quick else 200),
                        "one Euler-Maruyama step, one seed"))
    return out


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
        print(f"{bn:>6} SDE step (any N): {per_step_sde(model, 1000) * 1e6:.1f} us")


if __name__ == "__main__":
    main()
