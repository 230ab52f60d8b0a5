"""Benchmark: one right-hand-side evaluation and one RK4 step, K = M = 2, 4, 8.

    python benchmarks/bench_rhs.py

Compares symphase's generated Numba kernel with a straightforward (vectorized)
NumPy implementation of the same plain equations (Saad & Solla 1995), kept
here as the baseline, and checks that both give the same numbers. Times are
the best of several repeats of a loop run inside Numba (no Python dispatch in
the number), on one core. The targets: 0.5 us, 6 us, 70 us per
right-hand side for K = M = 2, 4, 8 (half the field's reference C++ code).
"""
from __future__ import annotations

import numba
import numpy as np
from _timing import best_of

import symphase as sp
from symphase import _kernels as kernels
from symphase._integrators import rk4_steps, stepper_args

TARGET_US = {2: 0.5, 4: 6.0, 8: 70.0}
CPP_US = {2: 1.0, 4: 11.0, 8: 137.0}


# ---------------------------------------------------------------- baseline
def i3_np(c11, c12, c13, c22, c23, c33):
    lam3 = (1 + c11) * (1 + c33) - c13**2
    return 2 / np.pi * (c23 * (1 + c11) - c12 * c13) / ((1 + c11) * np.sqrt(lam3))


def i4_np(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    lam4 = (1 + c11) * (1 + c22) - c12**2
    lam0 = lam4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    lam1 = lam4 * (1 + c33) - c23**2 * (1 + c11) - c13**2 * (1 + c22) + 2 * c12 * c13 * c23
    lam2 = lam4 * (1 + c44) - c24**2 * (1 + c11) - c14**2 * (1 + c22) + 2 * c12 * c14 * c24
    return 4 / np.pi**2 / np.sqrt(lam4) * np.arcsin(lam0 / np.sqrt(lam1 * lam2))


def rhs_numpy(Q, R, T, eta, tau=1.0, b=1.0):
    """Plain dQ/dalpha, dR/dalpha by broadcasting the closed forms over all index tuples."""
    K, M = R.shape
    C = tau * np.block([[Q, R], [R.T, T]])
    w = np.concatenate([-np.ones(K), np.ones(M)])
    d = np.diag(C)
    S = np.arange(K)
    F = np.arange(K + M)
    # G[a, c] = sum_p w_p I3(a, c, p)
    a, c_, p = np.ix_(S, F, F)
    G = (w[p] * i3_np(d[a], C[a, c_], C[a, p], d[c_], C[c_, p], d[p])).sum(-1)
    a, c_, p, q = np.ix_(S, S, F, F)
    D = (w[p] * w[q] * i4_np(d[a], C[a, c_], C[a, p], C[a, q], d[c_], C[c_, p], C[c_, q], d[p], C[p, q],
                             d[q])).sum((-1, -2))
    dQ = eta * (G[:, :K] + G[:, :K].T) + eta**2 * tau / b * D
    dR = eta * G[:, K:]
    return dQ, dR


# ---------------------------------------------------------------- timing
@numba.njit
def _loop_rhs(y, out, ka, n):
    for _ in range(n):
        kernels.rhs(y, out, ka)


def state(K, seed=0):
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(K, 4 * K)) / 2
    B = np.linalg.qr(rng.normal(size=(4 * K, K)))[0].T
    return J @ J.T, J @ B.T


def measure(K, repeats=15):
    """One K: the RHS, the NumPy baseline and an RK4 step (seconds each), and their largest difference."""
    model = sp.Committee(K, K)
    Q, R = state(K)
    y = model.layout.pack(Q, R)
    out = np.empty_like(y)
    ka = model.system.args(0.5)
    T = np.eye(K)
    n = max(200, int(200000 / K**3))
    _loop_rhs(y, out, ka, 1)
    t_rhs = best_of(lambda: _loop_rhs(y, out, ka, n), repeats) / n
    dQ_np, dR_np = rhs_numpy(Q, R, T, 0.5)
    dQ, dR, _ = model.layout.unpack(out)
    diff = max(np.abs(dQ - dQ_np).max(), np.abs(dR - dR_np).max())
    m = max(5, n // 100)
    t_np = best_of(lambda: [rhs_numpy(Q, R, T, 0.5) for _ in range(m)], repeats) / m
    sa = stepper_args(ka, y.size, blowup=1e6, psd_tol=1e-7)
    steps = max(50, n // 4)
    y0 = y.copy()
    rk4_steps(y0, 0.0, 1e-4, 0, 1, sa)

    def run_rk4():
        y1 = y.copy()
        rk4_steps(y1, 0.0, 1e-4, 0, steps, sa)
    t_rk4 = best_of(run_rk4, repeats) / steps
    return {"rhs": t_rhs, "numpy": t_np, "rk4": t_rk4, "diff": diff}


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    for K in (2, 4, 8):
        r = measure(K, 5 if quick else 15)
        out.append(("ODE right-hand side", f"K = M = {K}", r["rhs"],
                    f"target {TARGET_US[K]:g} us; NumPy/ours {r['numpy'] / r['rhs']:.0f}x; |diff| {r['diff']:.1e}"))
        out.append(("ODE RK4 step", f"K = M = {K}", r["rk4"], ""))
    return out


def main():
    print(f"{'K=M':>4} {'rhs (us)':>10} {'target':>8} {'C++ ref':>8} {'numpy (us)':>11} {'numpy/ours':>11} "
          f"{'rk4 step (us)':>14} {'max |diff|':>11}")
    for K in (2, 4, 8):
        r = measure(K)
        t_rhs, t_np = r["rhs"], r["numpy"]
        print(f"{K:>4} {t_rhs * 1e6:>10.3f} {TARGET_US[K]:>8.1f} {CPP_US[K]:>8.1f} {t_np * 1e6:>11.1f} "
              f"{t_np / t_rhs:>11.0f} {r['rk4'] * 1e6:>14.3f} {r['diff']:>11.1e}")


if __name__ == "__main__":
    main()
