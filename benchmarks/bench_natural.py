"""Preconditioned SGD on the weights (docs/model.md §14): one step of ``natural`` and ``unitwise`` against SGD.

    python benchmarks/bench_natural.py [--quick]

Committee machine, plain K = M = 2 and 4, exact BN K = M = 2 (learned gain), b = 1, damping 1e-3: the
best-of-5 time per step of the preconditioned kernel (``symphase._natural.natural_steps``: the exact
population Fisher from ``Q = J J^T`` applied through its bulk/span structure) and of SGD's
(``symphase._sgd.sgd_steps``) at N = 10^3, 10^4, 10^5, and the time per step divided by N. The target:
the preconditioned step is O(N) at fixed K (time/N roughly flat in N; it also costs O(N K^2) for the new
Q and the mixing within span(J), and O(K^6) per step for the K^2 x K^2 solve, which shows at small N and
large K). Also one call of the preconditioned ODE's right-hand side (docs/model.md §14.5) against SGD's
at K = M = 2, 4, 8 (the target: at most 3x). One core, ours against ours.
"""
from __future__ import annotations

import sys

import numpy as np
from _timing import best_of, print_table

import symphase as sp
from symphase import _integrators, _kernels, _natural, _natural_ode, _rng, _rule, _sgd
from symphase import _overlap_sgd as _ov


def per_step(model, N, J, B, kind, work=2e7, repeats=5):
    """Seconds per step of SGD (``kind=None``) or the preconditioned kernel on weights ``J``, ``B``."""
    par, vt = model.system.params(0.5), model.system.teacher_weights
    steps = max(20, int(work // (N * model.K)))
    K = model.K

    def run():
        Jt, g = np.array(J.T, order="C"), np.ones(K)
        args = (Jt, g, np.ones(K), steps, _rng.rng_state(0), _sgd.weight_args(model, par, B, vt=vt, b=1))
        if kind is None:
            done = _sgd.sgd_steps(*args)
        else:
            done = _natural.natural_steps(*args, _natural.MODES[kind], 1e-3)
        assert done == steps, (kind, done)
    run()
    return best_of(run, repeats=repeats) / steps


def rhs_times(K, calls=2000, repeats=5):
    """Seconds per call of SGD's ODE right-hand side (``symphase._kernels.rhs``) and of the preconditioned
    one (:func:`symphase._natural_ode.natural_rhs_kernel`, natural and unitwise) at a generic state, K = M."""
    model = sp.Committee(K, K)
    Q, R = 0.5 * np.eye(K) + 0.1, 0.3 * np.eye(K) + 0.05
    y = model.system.state(Q, R)
    out, a, work = np.empty_like(y), model.system.args(0.5), _natural_ode._workspace(K, K)
    fs = {"SGD": lambda: _kernels.rhs(y, out, a)}
    for kind in ("natural", "unitwise"):
        fs[kind] = (lambda mode: lambda: _natural_ode.natural_rhs_kernel(y, out, a, mode, 1e-3, work))(
            _natural.MODES[kind])
    times = {}
    for name, f in fs.items():
        f()

        def run(f=f):
            for _ in range(calls):
                f()
        times[name] = best_of(run, repeats=repeats) / calls
    return times


def rk4_rhs_times(K, steps=2000, repeats=5):
    """Seconds per right-hand side inside the compiled RK4 stepper (4 per step; no Python call per
    evaluation), SGD's and the preconditioned rules', at a generic state, K = M: each rule's own
    ``Kernels.rk4_steps`` (:meth:`symphase._rule.Rule.bind`), as ``integrate(method="rk4")`` runs it."""
    Q, R = 0.5 * np.eye(K) + 0.1, 0.3 * np.eye(K) + 0.05
    times = {}
    for name, pre in (("SGD", None), ("natural", "natural"), ("unitwise", "unitwise")):
        model = sp.Committee(K, K, preconditioner=pre, damping=1e-3)
        kern = _rule.for_model(model).bind(model)
        y0 = model.system.state(Q, R)
        sa = _integrators.stepper_args(kern.drift_args(model.system.args(0.5)), y0.size)

        def run(kern=kern, y0=y0, sa=sa):
            y = y0.copy()
            code, did = kern.rk4_steps(y, 0.0, 1e-4, 0, steps, sa)
            assert did == steps, (code, did)
        run()
        times[name] = best_of(run, repeats=repeats) / (4 * steps)
    return times


def chain_times(K, N=1000, steps=2000, repeats=5):
    """Seconds per step of the exact chain in overlap space (docs/model.md §11), SGD's and the preconditioned
    rules' (:func:`symphase._natural.natural_overlap_steps`), K = M, b = 1, from a random start."""
    times = {}
    for name, pre in (("SGD", None), ("natural", "natural"), ("unitwise", "unitwise")):
        model = sp.Committee(K, K, preconditioner=pre)
        kern = _rule.for_model(model).bind(model)
        start = sp.random_initial(model, N, seed=0)
        ca = _ov.chain_args(model, model.system.params(0.5), N)

        def run(kern=kern, start=start, ca=ca):
            Q, R, g, v = start.Q.copy(), start.R.copy(), np.ones(K), np.ones(K)
            assert kern.overlap_steps(Q, R, g, v, steps, _rng.rng_state(1), ca) == steps
        run()
        times[name] = best_of(run, repeats=repeats) / steps
    return times


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    for K in ((2, 4) if quick else (2, 4, 8)):
        t = rhs_times(K, *((200, 2) if quick else ()))
        for name, sec in t.items():
            note = "one call from Python" if name == "SGD" else f"{sec / t['SGD']:.2f}x SGD's (target <= 3x)"
            out.append(("ODE right-hand side", f"{name}, K = M = {K}", sec, note))
        t = rk4_rhs_times(K, *((200, 2) if quick else ()))
        for name, sec in t.items():
            note = "inside the compiled RK4 stepper" if name == "SGD" else f"{sec / t['SGD']:.2f}x SGD's (target <= 3x)"
            out.append(("ODE right-hand side, in RK4", f"{name}, K = M = {K}", sec, note))
        t = chain_times(K, *((1000, 200, 2) if quick else ()))
        for name, sec in t.items():
            note = "N = 1000, b = 1" if name == "SGD" else f"{sec / t['SGD']:.2f}x SGD's (target <= 3x)"
            out.append(("exact chain step", f"{name}, K = M = {K}", sec, note))
    for K, bn in (((2, None),) if quick else ((2, None), (4, None), (2, "exact"))):
        model = sp.Committee(K, K, bn=bn)
        rule = "" if bn is None else f", BN {bn}"
        for N in ((1000, 10_000) if quick else (1000, 10_000, 100_000)):
            J, B = sp.random_weights(model, N, 0)
            t_sgd = per_step(model, N, J, B, None, *((2e6, 2) if quick else ()))
            out.append(("preconditioned step, weights", f"SGD, K = M = {K}{rule}, N = {N}", t_sgd,
                        f"{t_sgd / N * 1e9:.3g} ns per N; b = 1, one core"))
            for kind in ("natural", "unitwise"):
                t = per_step(model, N, J, B, kind, *((2e6, 2) if quick else ()))
                out.append(("preconditioned step, weights", f"{kind}, K = M = {K}{rule}, N = {N}", t,
                            f"{t / N * 1e9:.3g} ns per N; {t / t_sgd:.2f}x SGD"))
    return out


def main(argv=None):
    print_table(rows, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
