"""The order-parameter ODE of the preconditioned update, plain committee machine (docs/model.md §14.5).

As ``N -> oo`` the natural-gradient update ``Delta J = (F + eps I)^-1 Delta J_SGD`` (docs/model.md §14)
moves the overlaps by (``derivations/natural.py``)

    dR_in/dalpha = eta [(B^-1 G_T)_in + (Gamma R)_in],
    dQ_ik/dalpha = eta (Y_ik + Y_ki) + (eta^2 tau / b) [B^-1 (D + noise J2) B^-T]_ik,

``Y = B^-1 G_S + Gamma Q``, ``B = A + eps I`` (``A_ik = tau <phi'_i phi'_k>``, the bulk), ``Gamma`` (K x K)
solving ``B Gamma + c(Gamma Q) = -c(B^-1 G_S)``, and ``G_S``, ``G_T``, ``D``, ``J2`` the field sums of SGD's
ODE (docs/model.md §3.5: ``G[a, c] = <d_a z_c>``). The ``O(eta)`` drift is linear in SGD's ``G`` through
``B^-1`` and ``Gamma``; the bulk gives the ``O(eta^2)`` part. ``unitwise`` drops the blocks of different
units in ``A`` and in the span part.

Covered: the plain committee machine (erf, ``v = v* = 1``, scaling ``"sum"``, no weight decay),
``natural`` and ``unitwise``. :func:`natural_rhs` is the right-hand side; :func:`integrate_natural`
integrates it (SciPy's DOP853). BN, the chain, the SDE, fixed points and escape times are not built
for preconditioned updates yet (docs/model.md §14.4).
"""
from __future__ import annotations

import numba
import numpy as np
from scipy.integrate import solve_ivp

from . import _kernels as kernels
from ._generated import ode_kernels as gen
from ._generated.natural import natural_rates, span_coefficients
from ._kernels import BATCH, ETA, NOISE, TAU
from ._layout import pack_into
from ._model import check_model
from ._natural import DAMPING_ONLY, MODES, _solve, fisher_factors
from ._results import SymphaseError
from ._validate import check_real

__all__ = ["integrate_natural", "natural_rhs", "natural_rhs_kernel"]


@numba.njit(cache=True, error_model="numpy")
def natural_rhs_kernel(y, out, a, mode, damping, work):
    """``out = dy/dalpha`` of the preconditioned update at the flat state ``y`` (plain committee machine):
    SGD's field sums (:func:`symphase._kernels.covariance`, the generated ``field_sums``), the factors of
    ``(F + eps I)^-1`` at ``Q`` (:func:`symphase._natural.fisher_factors`), ``Gamma`` from one ``K^2 x K^2``
    solve, and the generated :func:`symphase._generated.natural.natural_rates` (docs/model.md §14.5).
    ``work`` = ``(Binv, Lmat, E31, E22, E13, Yw, Cw, rhs, W, U, V, h)``. Returns False where
    ``F + eps I`` is singular numerically (``out`` is then NaN)."""
    ws, par = a.ws, a.par
    kernels.covariance(y, a)
    K, M = ws.R.shape
    Binv, Lmat, E31, E22, E13, Yw, Cw, rhs, W, U, V, h = work
    tau = par[TAU]
    gen.field_sums(ws.C, ws.w, K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    ok = fisher_factors(ws.Q, h, tau, mode, damping, True, Binv, Lmat, E31, E22, E13, Yw, Cw)
    if ok:
        # Y0 = B^-1 G_S, then Gamma from B Gamma + c(Gamma Q) = -c(Y0)
        for k in range(K):
            for c in range(K):
                acc = 0.0
                for m in range(K):
                    acc += Binv[k, m] * ws.G[m, c]
                Yw[k, c] = acc
        if mode == DAMPING_ONLY:  # F = 0: Gamma = 0
            rhs[:] = 0.0
        else:
            span_coefficients(Yw, E31, E22, E13, Cw)
            for i in range(K):
                for c in range(K):
                    rhs[i * K + c] = -Cw[i, c]
            ok = _solve(Lmat, rhs)
    if not ok:
        out[:] = np.nan
        return False
    for k in range(K):
        for c in range(K):  # Y = B^-1 G_S + Gamma Q
            acc = Yw[k, c]
            for m in range(K):
                acc += rhs[k * K + m] * ws.Q[m, c]
            Cw[k, c] = acc
        for n in range(M):  # U = B^-1 G_T, V = Gamma R
            acc = 0.0
            acc2 = 0.0
            for m in range(K):
                acc += Binv[k, m] * ws.G[m, K + n]
                acc2 += rhs[k * K + m] * ws.R[m, n]
            U[k, n] = acc
            V[k, n] = acc2
    noise = par[NOISE]
    for i in range(K):  # W = B^-1 (D + noise J2) B^-T
        for k in range(K):
            acc = 0.0
            for m in range(K):
                for p in range(K):
                    acc += Binv[i, m] * (ws.D[m, p] + noise * ws.J2[m, p]) * Binv[k, p]
            W[i, k] = acc
    natural_rates(Cw, W, U, V, par[ETA], tau, par[BATCH], ws.dQ, ws.dR)
    pack_into(ws.dQ, ws.dR, ws.g, False, out)
    return True


def _workspace(K, M):
    return (np.zeros((K, K)), np.zeros((K * K, K * K)), np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K)),
            np.zeros((K, K)), np.zeros((K, K)), np.zeros(K * K), np.zeros((K, K)), np.zeros((K, M)),
            np.zeros((K, M)), np.ones(K))


def _check(model):
    model = check_model(model).require_closed_form("the preconditioned ODE")
    if model.preconditioner not in MODES:
        raise ValueError(f"preconditioner: the preconditioned ODE runs preconditioner='natural' or 'unitwise', got "
                         f"preconditioner={model.preconditioner!r} (docs/model.md §14.5)")
    if model.has_bn or not model.is_committee:
        raise ValueError(f"model: the preconditioned ODE covers the plain committee machine (bn=None, erf, second "
                         f"layers fixed at 1, scaling 'sum', no weight decay); got {model.describe()}")
    return model


def natural_rhs(model, Q, R, eta):
    """``(dQ/dalpha, dR/dalpha)`` of the preconditioned update at ``(Q, R)`` (docs/model.md §14.5).

    Parameters
    ----------
    model : Committee
        Plain committee machine with ``preconditioner="natural"`` or ``"unitwise"`` and its ``damping``.
    Q, R : array_like
        The state (a valid Gram matrix with ``model.T``).
    eta : float
        The learning rate (> 0).

    Returns
    -------
    (ndarray (K, K), ndarray (K, M))

    Raises
    ------
    ValueError
        Another model or preconditioner (naming it), a bad state or ``eta``.
    SymphaseError
        ``F + eps I`` is singular numerically at this state.
    """
    model = _check(model)
    eta = check_real("eta", eta, positive=True)
    y = model.system.state(Q, R)
    out = np.empty_like(y)
    a = model.system.args(eta)
    if not natural_rhs_kernel(y, out, a, MODES[model.preconditioner], model.damping, _workspace(model.K, model.M)):
        raise SymphaseError(f"the preconditioned ODE: F + eps I is singular numerically at Q = {np.asarray(Q).tolist()}"
                            f" (damping {model.damping:g})")
    dQ, dR, _ = model.layout.unpack(out)
    return np.array(dQ), np.array(dR)


def integrate_natural(model, Q0, R0, eta, alphas, *, rtol=1e-10, atol=1e-12):
    """Integrate the preconditioned ODE (docs/model.md §14.5) from ``(Q0, R0)``, recording at ``alphas``.

    Parameters
    ----------
    model : Committee
        As :func:`natural_rhs`.
    Q0, R0 : array_like
        The start.
    eta : float
        The learning rate (> 0).
    alphas : array_like
        Increasing record points, the first the start (``alpha = alphas[0]``).
    rtol, atol : float
        SciPy DOP853's tolerances.

    Returns
    -------
    dict
        ``alpha`` (n,), ``Q`` (n, K, K), ``R`` (n, K, M), ``eg`` (n,) (the closed form, docs/model.md §3.4).

    Raises
    ------
    ValueError
        As :func:`natural_rhs`.
    SymphaseError
        The integration failed (its message).
    """
    model = _check(model)
    eta = check_real("eta", eta, positive=True)
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size < 2 or not np.all(np.diff(alphas) > 0) or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be at least 2 increasing finite numbers")
    y0 = model.system.state(Q0, R0)
    a = model.system.args(eta)
    mode, eps, work = MODES[model.preconditioner], model.damping, _workspace(model.K, model.M)

    def f(_, y):
        out = np.empty_like(y)
        natural_rhs_kernel(y, out, a, mode, eps, work)
        return out

    sol = solve_ivp(f, (alphas[0], alphas[-1]), y0, method="DOP853", t_eval=alphas, rtol=rtol, atol=atol)
    if sol.status != 0 or not np.all(np.isfinite(sol.y)):
        raise SymphaseError(f"the preconditioned ODE failed: {sol.message}")
    ys = sol.y.T
    Q = np.array([model.layout.unpack(y)[0] for y in ys])
    R = np.array([model.layout.unpack(y)[1] for y in ys])
    eg = np.array([model.system.eg(y) for y in ys])
    return {"alpha": sol.t, "Q": Q, "R": R, "eg": eg}
