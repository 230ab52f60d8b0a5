"""Integrators: RK4 order, the adaptive method against scipy, early stops with status."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import symphase as sp
from symphase._initial import random_initial


@pytest.fixture(scope="module")
def escape_run():
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = random_initial(model, N=1000, seed=3)
    return model, Q0, R0


def reference(model, Q0, R0, eta, alphas):
    """scipy's DOP853 at rtol 1e-11 on the same right-hand side."""
    y0 = model.layout.pack(Q0, R0)

    def f(a, y):
        return model.system.rhs(y, eta)
    sol = solve_ivp(f, (0, alphas[-1]), y0, method="DOP853", rtol=1e-11, atol=1e-13, t_eval=alphas)
    assert sol.success
    return sol.y.T


def test_rk4_converges_at_fourth_order(escape_run):
    model, Q0, R0 = escape_run
    alphas = np.array([0.0, 40.0])
    ref = sp.integrate(model, 0.5, 40.0, start=(Q0, R0), alphas=alphas, rtol=1e-12, atol=1e-14)
    dts = np.array([0.4, 0.2, 0.1, 0.05])
    errs = []
    for dt in dts:
        r = sp.integrate(model, 0.5, 40.0, start=(Q0, R0), alphas=alphas, method="rk4", dt=dt)
        errs.append(np.abs(r.R[-1] - ref.R[-1]).max())
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - 4) <= 0.3, (slope, errs)


def test_adaptive_agrees_with_scipy_dop853_through_plateau_and_escape(escape_run):
    model, Q0, R0 = escape_run
    rtol, atol = 1e-8, 1e-10
    res = sp.integrate(model, 0.5, 600.0, start=(Q0, R0), rtol=rtol, atol=atol, eg_tol=0)
    # the run does go through plateau and escape
    assert res.eg.max() > 0.3 and res.eg[-1] < 1e-4
    e20, e100 = np.interp([20.0, 100.0], res.alpha, res.eg)
    assert e20 / e100 < 2 and e100 / res.eg[-1] > 100  # slow on the plateau, fast after it
    ref = reference(model, Q0, R0, 0.5, res.alpha)
    y = model.layout.pack(res.Q, res.R)
    # global error within the requested tolerance: the controller bounds the local
    # error per step; a factor 3 allows its accumulation through the unstable
    # escape (measured: 1.8). The reference's own error (rtol 1e-11) is 1000x smaller.
    ratio = np.abs(y - ref) / (atol + rtol * np.abs(ref))
    assert ratio.max() <= 3, ratio.max()


def test_tighter_tolerance_is_more_accurate(escape_run):
    model, Q0, R0 = escape_run
    alphas = np.linspace(0, 300, 11)
    ref = reference(model, Q0, R0, 0.5, alphas)

    def error(tol):
        res = sp.integrate(model, 0.5, 300, start=(Q0, R0), alphas=alphas, rtol=tol, atol=tol * 1e-2)
        return np.abs(model.layout.pack(res.Q, res.R) - ref).max()
    assert error(1e-10) < error(1e-6) / 100


def test_stops_when_error_falls_below_tolerance(escape_run):
    model, Q0, R0 = escape_run
    res = sp.integrate(model, 0.5, 5000.0, start=(Q0, R0), eg_tol=1e-6)
    assert res.status == "converged" and res.success
    assert res.eg[-1] < 1e-6 and res.eg[-2] >= 1e-6
    assert res.alpha[-1] < 5000


def test_large_eta_stops_with_status_and_keeps_partial_trajectory(escape_run):
    model, Q0, R0 = escape_run
    # At eta = 50 the eta^2 term drives the norms Q_ii without bound (students
    # saturate): reported as divergence once |Q| passes `blowup`.
    res = sp.integrate(model, 50.0, 100.0, start=(Q0, R0), blowup=1e3)
    assert res.status == "diverged"
    assert res.alpha[-1] < 100 and np.abs(res.Q[-1]).max() <= 1e3
    assert not res.success
    assert "eta" in res.message
    assert len(res.alpha) >= 2 and np.all(np.isfinite(res.eg))
    with pytest.raises(sp.SymphaseError):
        res.raise_for_status()


def test_result_to_netcdf_roundtrip(tmp_path, escape_run):
    import xarray as xr
    model, Q0, R0 = escape_run
    res = sp.integrate(model, 0.5, 10.0, start=(Q0, R0))
    ds = res.to_xarray()
    assert ds["Q"].dims == ("alpha", "student", "student_k")
    ds.to_netcdf(tmp_path / "r.nc")
    back = xr.load_dataset(tmp_path / "r.nc")
    np.testing.assert_array_equal(back["eg"].values, res.eg)
    assert back.attrs["status"] == "completed"


def test_bn_result_has_gain():
    model = sp.Committee(2, 2, bn="paper")
    Q0, R0, _g0, _ = random_initial(model, N=200, seed=1)
    res = sp.integrate(model, 0.5, 5.0, start=(Q0, R0))
    assert res.g.shape == (len(res.alpha), 2)
    assert res.to_xarray()["g"].dims == ("alpha", "student")


# -- regression tests: each failed on the behaviour before the fix ---------------------------------

def test_rk4_honours_max_steps(escape_run):
    """RK4 ignored max_steps (dt = 1e-12 meant 1e13 steps in one kernel call); now the budget is
    checked between bounded chunks and the run stops as "step_size" with the state it reached."""
    model, Q0, R0 = escape_run
    res = sp.integrate(model, 0.5, 10.0, start=(Q0, R0), method="rk4", dt=1e-12, max_steps=1000, alphas=[0.0, 10.0])
    assert res.status == "step_size" and "max_steps = 1000" in res.message and "adaptive" not in res.message
    assert res.info["n_steps"] == 1000
    np.testing.assert_allclose(res.alpha[-1], 1000 * 1e-12, rtol=1e-9)  # 1000 steps of (10/n_total)


@pytest.mark.slow
def test_ctrl_c_mid_rk4_segment_keeps_the_state_reached(escape_run):
    """SIGINT during one long RK4 segment (alphas = [0, 10], 1e7 steps of 1e-6): the run stops within
    a chunk of steps, as "interrupted", with the state at the alpha it reached (before the fix the
    whole segment ran in one kernel call, so Ctrl-C waited for its end)."""
    import os
    import signal
    import threading

    model, Q0, R0 = escape_run
    sp.integrate(model, 0.5, 1e-3, start=(Q0, R0), method="rk4", dt=1e-4)  # compiled before the timer starts
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        res = sp.integrate(model, 0.5, 10.0, start=(Q0, R0), method="rk4", dt=1e-6, alphas=[0.0, 10.0])
    finally:
        timer.cancel()
    assert res.status == "interrupted", res
    assert 0.0 < res.alpha[-1] < 10.0 and res.info["n_steps"] < 10_000_000
    # the kept state is the one at its alpha: continuing from it with the same steps agrees with a
    # run straight to that alpha (same step sequence, so to rounding of a different segment split)
    a = res.alpha[-1]
    direct = sp.integrate(model, 0.5, a, start=(Q0, R0), method="rk4", dt=1e-6, alphas=[0.0, a])
    np.testing.assert_allclose(res.Q[-1], direct.Q[-1], rtol=0, atol=1e-9)  # 1e-9: RK4 at dt = 1e-6, ~1e6 steps


def test_eg_never_below_zero_after_learning():
    """BN, paper rule, K = 3, eta = 0.3, random start (N = 1000, seed 0), alpha up to 3e4, default
    tolerances: the closed form came out down to -2.2e-10 (the integrated state lies outside the PSD
    set by its integration error, ~1e-11 in the smallest Gram eigenvalue). The reported eps_g is now
    clipped at 0 (exact: no rounding bound needed) and info says how far the raw value dipped."""
    model = sp.Committee(3, 3, bn="paper")
    Q0, R0, g0, _ = random_initial(model, N=1000, seed=0)
    res = sp.integrate(model, 0.3, 3e4, start=(Q0, R0, g0), eg_tol=0.0,
                       alphas=np.concatenate([[0.0], np.geomspace(3.0, 3e4, 120)]))
    assert res.status == "completed"
    assert np.all(res.eg >= 0.0)
    assert res.info["eg_clipped"] > 0
    assert -1e-8 < res.info["eg_raw_min"] < 0.0  # bounded by ~psd_tol (1e-7) times O(1) sensitivity


def test_stiff_run_that_cannot_reach_alpha_max_stops_at_once(escape_run):
    """alpha_max = 1e12: after learning, explicit steps are held near 6 by stability, so the budget
    (1e7 steps) can reach only alpha ~ 6e7. It used to spend the whole budget (66 s); now Hairer's
    stiffness test sees it and the run stops as "step_size" after ~1e4 steps, saying why."""
    model, Q0, R0 = escape_run
    res = sp.integrate(model, 0.5, 1e12, start=(Q0, R0))
    assert res.status == "step_size" and "stiff" in res.message and "max_steps" in res.message
    assert res.info["n_steps"] < 100_000
    assert res.eg[-1] < 1e-6  # it had learned: the trajectory up to there is kept
    # a reachable alpha_max is not affected
    assert sp.integrate(model, 0.5, 1e5, start=(Q0, R0)).status in ("completed", "converged")
