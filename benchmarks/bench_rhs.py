"""Benchmark: one right-hand-side evaluation, one Euler step and one RK4 step, K = M = 2, 4, 8.

    python benchmarks/bench_rhs.py
    SYMPHASE_NN2PP=/path/to/scmpp_ode.exe python benchmarks/bench_rhs.py

Compares symphase's generated Numba kernel with a straightforward (vectorized)
NumPy implementation of the same plain equations (Saad & Solla 1995), kept
here as the baseline, and checks that both give the same numbers. Times are
the best of several repeats of a loop run inside Numba (no Python dispatch in
the number), on one core. The targets: 0.5 us, 6 us, 70 us per
right-hand side for K = M = 2, 4, 8 (half the field's reference C++ code).

The field's reference C++ integrator, ``scmpp_ode`` of sgoldt/nn2pp (Goldt et al. 2019; no
nn2pp code is in this repository), is timed in the same run when ``SYMPHASE_NN2PP`` names a
build of it (e.g. ``g++ -std=c++11 -O3 -march=native -o scmpp_ode.exe scmpp_ode.cpp
-larmadillo``): one of its explicit Euler steps (the whole update of Q and R: its integrals
and the increment) against ours, ``rhs`` plus ``y += dt * dy``, from the same state, the two
timed in turn on the same number of steps (:func:`nn2pp_step`). Without it that column is
skipped with a note. On a machine shared with other work all these numbers scatter (tens of
per cent at K = 2): compare ratios of one run, on an idle machine.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time

import numba
import numpy as np
from _timing import best_of

import symphase as sp
from symphase import _kernels as kernels
from symphase._integrators import rk4_steps, stepper_args

TARGET_US = {2: 0.5, 4: 6.0, 8: 70.0}
CPP_US = {2: 1.0, 4: 11.0, 8: 137.0}
#: The environment variable naming a built nn2pp ``scmpp_ode`` executable (the baseline column).
NN2PP_ENV = "SYMPHASE_NN2PP"
#: nn2pp runs per K: its Euler step dt and two lengths (``--steps``, in alpha) whose difference is timed:
#: 1e5, 1e4 and 8e2 steps apart, about 0.1 s of its stepping; alpha < 100 so that it does not stop at
#: convergence (``eg < 1e-14 and t > 100``) and its printed time (6 digits) gives the exact step count.
NN2PP_RUNS = {2: (1e-4, 0.5, 10.5), 4: (1e-4, 0.5, 1.5), 8: (1e-3, 0.5, 1.3)}


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


@numba.njit
def _loop_euler(y, out, ka, dt, n):
    """``n`` explicit Euler steps ``y += dt * rhs(y)`` in place (what one step of nn2pp's ODE does)."""
    for _ in range(n):
        kernels.rhs(y, out, ka)
        for j in range(y.size):
            y[j] += dt * out[j]


def _nn2pp_run(exe, K, dt, steps, cwd):
    """Wall-clock seconds of one ``scmpp_ode`` run (committee machine: K = M, lr 0.5, erf, first layer only,
    from the initial conditions ``ic_*.dat`` in ``cwd``) and its number of Euler steps, read from the time
    ``t = steps * dt`` on its last output line."""
    cmd = [exe, "-K", str(K), "-M", str(K), "--lr", "0.5", "--dt", repr(dt), "--steps", repr(steps), "--prefix", "ic"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-500:]}")
    t_end = float(p.stdout.strip().splitlines()[-1].split(",")[0])
    n = round(t_end / dt)
    if n <= 0 or abs(t_end / dt - n) > 1e-3:
        raise RuntimeError(f"{' '.join(cmd)}: its last time {t_end!r} is not a whole number of steps of {dt}")
    return wall, n


def nn2pp_step(exe, Q, R, ours, repeats=5):
    """One Euler step of nn2pp's ``scmpp_ode`` (seconds) from ``(Q, R)``, and the best of each of ``ours``
    timed in turn with it.

    nn2pp starts from the state ours is timed at (``Q``, ``R``, ``T = I``, second layers of ones: the
    committee machine), written as its ``--prefix`` files. It is run for two lengths
    (:data:`NN2PP_RUNS`), each ``repeats`` times; its step is the difference of the two lengths' best
    wall-clock times over the difference of their step counts, so that start-up, its 300 output lines
    and its error evaluations (the same in both) cancel. ``ours`` maps names to functions
    ``f(steps) -> seconds per step``; each is called before every nn2pp run, for the step count of
    nn2pp's timed difference (the same work). Returns ``(nn2pp_step, {name: best seconds per step})``.
    """
    K = R.shape[0]
    dt, a_short, a_long = NN2PP_RUNS[K]
    best = dict.fromkeys(("short", "long", *ours), float("inf"))
    with tempfile.TemporaryDirectory() as cwd:  # it reads ic_*.dat and writes its log file there
        for name, a in (("Q0", Q), ("R0", R), ("T0", np.eye(R.shape[1])), ("A0", np.ones((R.shape[1], 1))),
                        ("v0", np.ones((K, 1)))):  # Armadillo's raw ASCII: one row a line
            np.savetxt(os.path.join(cwd, f"ic_{name}.dat"), a, fmt="%.17g")
        steps = {run: _nn2pp_run(exe, K, dt, alpha, cwd)[1] for run, alpha in (("short", a_short), ("long", a_long))}
        n = steps["long"] - steps["short"]
        for _ in range(repeats):
            for run, alpha in (("short", a_short), ("long", a_long)):
                for name, f in ours.items():
                    best[name] = min(best[name], f(n))
                best[run] = min(best[run], _nn2pp_run(exe, K, dt, alpha, cwd)[0])
    return (best["long"] - best["short"]) / n, {name: best[name] for name in ours}


def state(K, seed=0):
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(K, 4 * K)) / 2
    B = np.linalg.qr(rng.normal(size=(4 * K, K)))[0].T
    return J @ J.T, J @ B.T


def measure(K, repeats=15, quick=False):
    """One K: the RHS, the NumPy baseline, an Euler and an RK4 step (seconds each), the largest difference
    of the RHS from the baseline, and nn2pp's Euler step (seconds) when :data:`NN2PP_ENV` names it, else None."""
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

    def run_euler(steps):
        y1 = y.copy()
        t0 = time.perf_counter()
        _loop_euler(y1, out, ka, 1e-4, steps)
        return (time.perf_counter() - t0) / steps

    def run_rhs(steps):
        t0 = time.perf_counter()
        _loop_rhs(y, out, ka, steps)
        return (time.perf_counter() - t0) / steps
    _loop_euler(y.copy(), out, ka, 1e-4, 1)
    t_euler = min(run_euler(n) for _ in range(repeats))
    r = {"rhs": t_rhs, "numpy": t_np, "rk4": t_rk4, "euler": t_euler, "diff": diff, "nn2pp": None}
    exe = os.environ.get(NN2PP_ENV)
    if exe:
        r["nn2pp"], alt = nn2pp_step(exe, Q, R, {"rhs": run_rhs, "euler": run_euler}, 3 if quick else 7)
        r["rhs_same_run"], r["euler_same_run"] = alt["rhs"], alt["euler"]
    return r


def rows(quick=False):
    """The table rows of benchmarks/run.py: ``(benchmark, case, seconds, note)``."""
    out = []
    for K in (2, 4, 8):
        r = measure(K, 5 if quick else 15, quick)
        out.append(("ODE right-hand side", f"K = M = {K}", r["rhs"],
                    f"target {TARGET_US[K]:g} us; NumPy/ours {r['numpy'] / r['rhs']:.0f}x; |diff| {r['diff']:.1e}"))
        out.append(("ODE Euler step", f"K = M = {K}", r["euler"], "rhs + axpy, what one nn2pp step does"))
        out.append(("ODE RK4 step", f"K = M = {K}", r["rk4"], ""))
        if r["nn2pp"] is not None:
            out.append(("nn2pp scmpp_ode Euler step", f"K = M = {K}", r["nn2pp"],
                        f"${NN2PP_ENV}; ours/nn2pp, timed in turn on the same work: rhs "
                        f"{r['rhs_same_run'] / r['nn2pp']:.2f}, Euler step {r['euler_same_run'] / r['nn2pp']:.2f}"))
    return out


def main():
    exe = os.environ.get(NN2PP_ENV)
    print(f"{'K=M':>4} {'rhs (us)':>10} {'target':>8} {'C++ ref':>8} {'numpy (us)':>11} {'numpy/ours':>11} "
          f"{'euler (us)':>11} {'rk4 step (us)':>14} {'max |diff|':>11} {'nn2pp (us)':>11} {'rhs/nn2pp':>10} "
          f"{'euler/nn2pp':>12}")
    for K in (2, 4, 8):
        r = measure(K)
        t_rhs, t_np = r["rhs"], r["numpy"]
        base = f"{'-':>11} {'-':>10} {'-':>12}"
        if r["nn2pp"] is not None:
            base = (f"{r['nn2pp'] * 1e6:>11.3f} {r['rhs_same_run'] / r['nn2pp']:>10.3f} "
                    f"{r['euler_same_run'] / r['nn2pp']:>12.3f}")
        print(f"{K:>4} {t_rhs * 1e6:>10.3f} {TARGET_US[K]:>8.1f} {CPP_US[K]:>8.1f} {t_np * 1e6:>11.1f} "
              f"{t_np / t_rhs:>11.0f} {r['euler'] * 1e6:>11.3f} {r['rk4'] * 1e6:>14.3f} {r['diff']:>11.1e} {base}")
    if not exe:
        print(f"(nn2pp column skipped: set {NN2PP_ENV} to a built nn2pp scmpp_ode executable to time it in this run)")
    else:
        print(f"(nn2pp: {exe}, from the same state; its step: two run lengths differenced, best of repeats; the "
              "ratios: ours timed in turn with it on the same number of steps)")


if __name__ == "__main__":
    main()
