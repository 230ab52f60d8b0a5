"""Integrators of the order-parameter ODEs and the ``integrate`` driver.

Layers as in scipy's ``integrate/_ivp``: Numba steppers that advance a flat
state in place over one output interval (``rk4_segment``, ``dopri_segment``),
and the Python driver :func:`integrate` that validates input once, calls the
steppers between output points (so Ctrl-C keeps the partial trajectory), and
wraps the result with a status and a message.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from . import kernels
from .kernels import DIVERGED, INVALID, OK
from .model import check_model, check_real, check_state
from .results import ODEResult, Status

STEP_SIZE = 3  # status code of a segment: step size underflow or step budget spent

# Dormand & Prince (1980) 5(4) tableau, as in Hairer, Norsett & Wanner, and scipy's RK45
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.array([
    [0, 0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
])
# error estimate: 5th-order minus embedded 4th-order weights
_E = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


@numba.njit(cache=True)
def rk4_segment(y, a, a_end, dt, ws, T, par, blowup, psd_tol, k1, k2, k3, k4, ytmp):
    """Classical RK4 with a fixed step from ``a`` to ``a_end`` (the step is
    ``dt``, shortened evenly so the steps land on ``a_end``). Advances ``y`` in
    place; returns ``(code, alpha_reached, n_rhs)``; on failure ``y`` is the
    last valid state."""
    n = max(1, int(math.ceil((a_end - a) / dt * (1.0 - 1e-12))))
    h = (a_end - a) / n
    nfev = 0
    m = y.size
    for s in range(n):
        kernels.rhs(y, k1, ws, T, par)
        for j in range(m):
            ytmp[j] = y[j] + 0.5 * h * k1[j]
        kernels.rhs(ytmp, k2, ws, T, par)
        for j in range(m):
            ytmp[j] = y[j] + 0.5 * h * k2[j]
        kernels.rhs(ytmp, k3, ws, T, par)
        for j in range(m):
            ytmp[j] = y[j] + h * k3[j]
        kernels.rhs(ytmp, k4, ws, T, par)
        nfev += 4
        for j in range(m):
            ytmp[j] = y[j] + (h / 6.0) * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
        code = kernels.check_state(ytmp, ws, T, par, blowup, psd_tol)
        if code != OK:
            return code, a + s * h, nfev
        y[:] = ytmp
    return OK, a_end, nfev


@numba.njit(cache=True)
def _rms(v, y0, y1, rtol, atol):
    s = 0.0
    for j in range(v.size):
        sc = atol + rtol * max(abs(y0[j]), abs(y1[j]))
        s += (v[j] / sc) ** 2
    return math.sqrt(s / v.size)


@numba.njit(cache=True)
def initial_step(y, f0, ws, T, par, rtol, atol, ytmp, f1):
    """Starting step of Hairer, Norsett & Wanner (II.4), as in scipy's ``select_initial_step``."""
    d0 = _rms(y, y, y, rtol, atol)
    d1 = _rms(f0, y, y, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    ytmp[:] = y + h0 * f0
    kernels.rhs(ytmp, f1, ws, T, par)
    d2 = _rms(f1 - f0, y, y, rtol, atol) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.2
    return min(100 * h0, h1)


@numba.njit(cache=True)
def dopri_segment(y, a, a_end, h, ws, T, par, rtol, atol, h_min, max_steps, blowup, psd_tol,
                  C, A, E, K, ytmp, yerr):
    """Adaptive Dormand-Prince 5(4) from ``a`` to ``a_end`` (the last step is
    clipped to land on ``a_end``). Advances ``y`` in place; returns
    ``(code, alpha_reached, h_next, n_rhs, n_steps)``; on failure ``y`` is the
    last valid state."""
    n_stages = 7
    nfev = 0
    steps = 0
    kernels.rhs(y, K[0], ws, T, par)
    nfev += 1
    while a < a_end:
        if steps >= max_steps:
            return STEP_SIZE, a, h, nfev, steps
        if h < h_min:
            return STEP_SIZE, a, h, nfev, steps
        last = a + h >= a_end * (1.0 - 1e-15)
        hs = a_end - a if last else h
        m = y.size
        for s in range(1, n_stages):
            for i in range(m):
                acc = y[i]
                for j in range(s):
                    acc += (hs * A[s, j]) * K[j, i]
                ytmp[i] = acc
            kernels.rhs(ytmp, K[s], ws, T, par)
        nfev += n_stages - 1
        # ytmp now holds the 5th-order solution (row 6 of A are the weights b)
        for i in range(m):
            acc = 0.0
            for j in range(n_stages):
                acc += (hs * E[j]) * K[j, i]
            yerr[i] = acc
        finite = True
        for j in range(y.size):
            if not np.isfinite(ytmp[j]) or not np.isfinite(yerr[j]):
                finite = False
        err = _rms(yerr, y, ytmp, rtol, atol) if finite else np.inf
        steps += 1
        if err <= 1.0:
            code = kernels.check_state(ytmp, ws, T, par, blowup, psd_tol)
            if code != OK:
                return code, a, h, nfev, steps
            a = a_end if last else a + hs
            y[:] = ytmp
            K[0, :] = K[n_stages - 1, :]
            fac = 10.0 if err == 0.0 else min(10.0, 0.9 * err ** -0.2)
            if not last:
                h = hs * fac
        else:
            fac = 0.2 if not np.isfinite(err) else max(0.2, 0.9 * err ** -0.2)
            h = hs * fac
    return OK, a, h, nfev, steps


_MESSAGES = {
    INVALID: ("overlaps stopped being a positive semi-definite Gram matrix [[Q, R], [R^T, T]] "
              "(or a batch-norm Q_ii <= 0 / g_i = 0) after alpha = {a:.6g}; eta = {eta:g} may be too large"),
    DIVERGED: "overlaps blew up (non-finite or |value| > {blowup:g}) after alpha = {a:.6g}; eta = {eta:g} is too large",
    STEP_SIZE: "adaptive step size fell below {h_min:g} or the step budget max_steps was spent at alpha = {a:.6g}",
}
_STATUS = {INVALID: Status.INVALID, DIVERGED: Status.DIVERGED, STEP_SIZE: Status.STEP_SIZE}


def default_alphas(alpha_max: float, n: int = 301) -> np.ndarray:
    """Output points: 0 and ``n`` log-spaced points up to ``alpha_max``, resolving plateau and escape."""
    return np.concatenate([[0.0], np.geomspace(alpha_max * 1e-4, alpha_max, n)])


def check_alphas(alphas, alpha_max: float) -> np.ndarray:
    try:
        arr = np.array(alphas, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"alphas must be a 1-d array of increasing numbers in [0, alpha_max], got {alphas!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0) or arr[0] < 0 or arr[-1] > alpha_max:
        raise ValueError(f"alphas must be strictly increasing, finite and in [0, alpha_max={alpha_max:g}]")
    return arr


def initial_state(model, Q0, R0, g0=None, names=("Q0", "R0", "g0")):
    """Validated flat state of ``model`` (see :mod:`symphase.layout`)."""
    Q, R, g = check_state(model, Q0, R0, g0, names=names)
    return model.layout.pack(Q, R, g)


def integrate(model, Q0, R0, eta, alpha_max, *, g0=None, method="adaptive", dt=None, rtol=1e-8,
              atol=1e-10, alphas=None, eg_tol=1e-12, max_steps=10_000_000, blowup=1e6,
              psd_tol=1e-7, progress=False) -> ODEResult:
    """Integrate the order-parameter ODEs ``dQ/dalpha``, ``dR/dalpha`` (and ``dg/dalpha``
    under BN) from ``(Q0, R0, g0)`` to ``alpha_max`` (MODEL.md §3; Saad & Solla 1995 for
    plain, the derivation in ``derivations/`` for all rules).

    ``method``: ``"adaptive"`` (Dormand-Prince 5(4), ``rtol``/``atol``) or ``"rk4"``
    (fixed step ``dt``, default 0.01). Output at ``alphas`` (default: 0 and
    log-spaced points up to ``alpha_max``). Stops early, with the partial
    trajectory and a status, when ``eps_g < eg_tol`` (``"converged"``; ``eg_tol=0``
    never stops), when the
    overlaps stop being a Gram matrix (``"invalid"``), blow up past ``blowup``
    (``"diverged"``), or on Ctrl-C (``"interrupted"``).
    """
    model = check_model(model)
    eta = check_real("eta", eta, positive=True)
    alpha_max = check_real("alpha_max", alpha_max, positive=True)
    if method not in ("adaptive", "rk4"):
        raise ValueError(f"method must be 'adaptive' or 'rk4', got {method!r}")
    if method == "rk4":
        dt = 0.01 if dt is None else check_real("dt", dt, positive=True)
    elif dt is not None:
        raise ValueError("dt is the fixed step of method='rk4'; the adaptive method takes rtol/atol")
    rtol = check_real("rtol", rtol, positive=True)
    atol = check_real("atol", atol, positive=True)
    eg_tol = check_real("eg_tol", eg_tol, nonnegative=True)
    alphas = default_alphas(alpha_max) if alphas is None else check_alphas(alphas, alpha_max)
    y = initial_state(model, Q0, R0, g0)

    par = kernels.params(model, eta)
    T = np.ascontiguousarray(model.T, dtype=float)
    ws = kernels.workspace(model.K, model.M, y)
    n = y.size
    ys = np.empty((alphas.size + 1, n))
    out_alpha = np.empty(alphas.size + 1)
    egs = np.empty(alphas.size + 1)
    count = 0
    a = 0.0
    nfev = 0
    steps = 0
    h = None
    code = OK
    status, message = Status.COMPLETED, f"reached alpha_max = {alpha_max:g}"
    k_rk4 = [np.empty(n) for _ in range(5)]
    K_dp = np.empty((7, n))
    ytmp, yerr = np.empty(n), np.empty(n)
    bar = _progress(progress, alphas[-1])
    try:
        for target in alphas:
            if target > a:
                if method == "rk4":
                    code, a_new, nf = rk4_segment(y, a, target, dt, ws, T, par, blowup, psd_tol, *k_rk4)
                    nfev += nf
                else:
                    if h is None:
                        f0 = np.empty(n)
                        kernels.rhs(y, f0, ws, T, par)
                        h = initial_step(y, f0, ws, T, par, rtol, atol, ytmp, yerr)
                        nfev += 2
                    h_min = 1e-12 * max(1.0, abs(a))
                    code, a_new, h, nf, st = dopri_segment(
                        y, a, target, h, ws, T, par, rtol, atol, h_min, max_steps - steps, blowup, psd_tol,
                        _C, _A, _E, K_dp, ytmp, yerr)
                    nfev += nf
                    steps += st
                a = a_new
            if code != OK:
                status = _STATUS[code]
                message = _MESSAGES[code].format(a=a, eta=eta, blowup=blowup, h_min=1e-12 * max(1.0, a))
                break
            e = kernels.eg(y, ws, T, par)
            if not np.isfinite(e):
                status, message = Status.DIVERGED, f"eps_g is not finite at alpha = {a:.6g}; eta = {eta:g} is too large"
                break
            ys[count], out_alpha[count], egs[count] = y, a, e
            count += 1
            if bar is not None:
                bar.update(a - bar.n)
            if eg_tol > 0 and e < eg_tol:
                status, message = Status.CONVERGED, f"eps_g = {e:.3g} < eg_tol = {eg_tol:g} at alpha = {a:.6g}"
                break
    except KeyboardInterrupt:
        status, message = Status.INTERRUPTED, f"interrupted at alpha = {a:.6g}; the trajectory up to there is kept"
    finally:
        if bar is not None:
            bar.close()
    if status in (Status.INVALID, Status.DIVERGED, Status.STEP_SIZE, Status.INTERRUPTED) and (
            count == 0 or a > out_alpha[count - 1]):
        # keep the last valid state reached, at its own alpha
        e = kernels.eg(y, ws, T, par)
        if np.isfinite(e):
            ys[count], out_alpha[count], egs[count] = y, a, e
            count += 1
    Q, R, g = model.layout.unpack(ys[:count])
    info = {"method": method, "nfev": nfev}
    if method == "rk4":
        info["dt"] = dt
    else:
        info.update(rtol=rtol, atol=atol, n_steps=steps)
    return ODEResult(model=model, eta=eta, alpha=out_alpha[:count].copy(), Q=Q, R=R, g=g,
                     eg=egs[:count].copy(), status=status, message=message, info=info)


def _progress(enabled, total):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=float(total), unit="alpha", bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} [{elapsed}<{remaining}]")


def rhs(model, Q, R, g=None, eta=1.0, *, part="full") -> tuple:
    """The right-hand side ``(dQ/dalpha, dR/dalpha, dg/dalpha or None)`` at one state (MODEL.md §3).

    ``part="full"``: the whole right-hand side at learning rate ``eta``;
    ``"linear"``: its ``O(eta)`` part (the small learning rate limit, the
    ``eta^2/b`` terms dropped); ``"quadratic"``: the ``O(eta^2/b)`` part.
    """
    model = check_model(model)
    eta = check_real("eta", eta, positive=True)
    if part not in ("full", "linear", "quadratic"):
        raise ValueError(f"part must be 'full', 'linear' or 'quadratic', got {part!r}")
    y = initial_state(model, Q, R, g, names=("Q", "R", "g"))
    ws = kernels.workspace(model.K, model.M, y)
    T = np.ascontiguousarray(model.T, dtype=float)
    out = np.empty_like(y)
    kernels.rhs(y, out, ws, T, kernels.params(model, eta, linear=part != "full"))
    if part == "quadratic":
        full = np.empty_like(y)
        kernels.rhs(y, full, ws, T, kernels.params(model, eta))
        out = full - out
    dQ, dR, dg = model.layout.unpack(out)
    return dQ, dR, dg


def generalization_error(model, Q, R, g=None) -> float:
    """``eps_g = (1/pi)[sum_nm asin(T'_nm/...) + sum_ik asin(Q'_ik/...) - 2 sum_in asin(R'_in/...)]``
    at the effective overlaps (the paper's Eq. 13; Saad & Solla 1995 for plain).

    ``Q`` (K, K), ``R`` (K, M), ``g`` (K,) under BN (default ones). Stacks of
    states with leading axes (..., K, K) are evaluated state by state.
    """
    model = check_model(model)
    Qa, Ra = np.asarray(Q, dtype=float), np.asarray(R, dtype=float)
    if Qa.ndim > 2:
        lead = Qa.shape[:-2]
        ga = None if g is None else np.asarray(g, dtype=float).reshape(-1, model.K)
        out = [generalization_error(model, q, r, None if ga is None else ga[j])
               for j, (q, r) in enumerate(zip(Qa.reshape(-1, *Qa.shape[-2:]), Ra.reshape(-1, *Ra.shape[-2:])))]
        return np.array(out).reshape(lead)
    y = initial_state(model, Q, R, g, names=("Q", "R", "g"))
    ws = kernels.workspace(model.K, model.M, y)
    return float(kernels.eg(y, ws, np.ascontiguousarray(model.T, dtype=float), kernels.params(model, 1.0)))
