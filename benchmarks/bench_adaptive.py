"""Adaptive natural gradient on the weights (docs/model.md §14.9): one step against ``natural`` and SGD.

    python benchmarks/bench_adaptive.py [--quick]

Committee machine, plain K = M = 2, b = 1, eta = 0.5: the best-of-3 time per step of
``symphase._adaptive.adaptive_steps`` (a fresh estimate ``G^-1 = I`` per call; about ``4 P^2`` multiply-adds
per step, ``P = N K``), of ``natural`` (``symphase._natural.natural_steps``, damping 0.1, ``O(N K)``) and of SGD
at N = 100, 200, 400 (quick: 100, 200), with the time per ``P^2`` (flat in N if the step is ``O(P^2)``) and
the ratio to ``natural`` (growing like N). One core, ours against ours.
"""
from __future__ import annotations

import sys

import numpy as np
from _timing import best_of, print_table

import symphase as sp
from symphase import _adaptive, _natural, _rng, _sgd


def per_step(model, N, J, B, kind, work, repeats=3):
    """Seconds per step of ``kind`` (``"adaptive"``, ``"natural"`` or ``"sgd"``) from the weights ``J``, ``B``."""
    par = model.system.params(0.5)
    K = model.K
    cost = 4 * (N * K) ** 2 if kind == "adaptive" else N * K
    steps = max(20, int(work // cost))

    def run():
        Jt, g, s = np.array(J.T, order="C"), np.ones(K), _rng.rng_state(0)
        if kind == "adaptive":
            done = _adaptive.adaptive_steps(Jt, g, np.ones(K), steps, s, _adaptive.adaptive_weight_args(model, par, B))
        elif kind == "natural":
            done = _natural.natural_steps(Jt, g, np.ones(K), steps, s, _sgd.weight_args(model, par, B),
                                          _natural.NATURAL, 0.1)
        else:
            done = _sgd.sgd_steps(Jt, g, np.ones(K), steps, s, _sgd.weight_args(model, par, B))
        assert done == steps, (kind, done)
    run()
    return best_of(run, repeats=repeats) / steps


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    work = 2e7 if quick else 1e8
    for N in ((100, 200) if quick else (100, 200, 400)):
        model = sp.Committee(2, 2, preconditioner="adaptive")
        J, B = sp.random_weights(model, N, 0)
        t = {kind: per_step(model, N, J, B, kind, work) for kind in ("sgd", "natural", "adaptive")}
        P = 2 * N
        out.append(("adaptive step, weights", f"SGD, K = M = 2, N = {N}", t["sgd"], "b = 1, one core"))
        out.append(("adaptive step, weights", f"natural (0.1), K = M = 2, N = {N}", t["natural"],
                    f"{t['natural'] / t['sgd']:.2f}x SGD"))
        out.append(("adaptive step, weights", f"adaptive, K = M = 2, N = {N}", t["adaptive"],
                    f"{t['adaptive'] / P ** 2 * 1e9:.3g} ns per P^2 (P = {P}); {t['adaptive'] / t['natural']:.0f}x "
                    f"natural"))
    return out


def main(argv=None):
    print_table(rows, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
