"""The order-parameter ODE of the preconditioned update, committee machine (docs/model.md §14.5).

As ``N -> oo`` the natural-gradient update ``Delta J = (F + eps I)^-1 Delta J_SGD`` (docs/model.md §14)
moves the overlaps by (``derivations/natural.py``; plain)

    dR_in/dalpha = eta [(B^-1 G_T)_in + (Gamma R)_in],
    dQ_ik/dalpha = eta (Y_ik + Y_ki) + (eta^2 tau / b) [B^-1 (D + noise J2) B^-T]_ik,

``Y = B^-1 G_S + Gamma Q``, ``B = A + eps I`` (``A_ik = tau <phi'_i phi'_k>``, the bulk), ``Gamma`` (K x K)
solving ``B Gamma + c(Gamma Q) = -c(B^-1 G_S)``, and ``G_S``, ``G_T``, ``D``, ``J2`` the field sums of SGD's
ODE (docs/model.md §3.5: ``G[a, c] = <d_a z_c>``). The ``O(eta)`` drift is linear in SGD's ``G`` through
``B^-1`` and ``Gamma``; the bulk gives the ``O(eta^2)`` part. ``unitwise`` drops the blocks of different
units in ``A`` and in the span part.

Under BN the same linear map acts on the averages of SGD's BN coefficients, with the span part in the
orthonormal basis of ``span(J)`` (:func:`_bn_rhs`, docs/model.md §14.5).

Covered: the committee machine (erf, ``v = v* = 1``, scaling ``"sum"``, no weight decay), plain and both
BN rules, ``natural`` and ``unitwise``. :func:`natural_rhs_kernel` is the right-hand side and :func:`drift` the
same with SGD's signature, which the learning rule registers (:mod:`symphase._rule`): ``symphase.integrate``
steps it with SGD's integrators (:mod:`symphase._natural_integrators`). :func:`jacobian` and
:func:`weight_space_rates` linearise it at the plateau (docs/model.md §14.6; ``symphase.symmetric_fixed_point``
reports them). :func:`natural_rhs` and :func:`integrate_natural` (SciPy's DOP853) are the independent
references of the tests.
"""
from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np
from scipy.integrate import solve_ivp

from . import _kernels as kernels
from ._curvature import curvature
from ._generated import ode_kernels as gen
from ._generated.natural import natural_rates, span_coefficients
from ._kernels import BATCH, BN, ETA, EXACT, LEARN_GAIN, NOISE, TAU
from ._layout import pack_into
from ._model import DEFAULT_DAMPING, check_model
from ._natural import (
    DAMPING_ONLY,
    MODES,
    UNITWISE,
    _cholesky,
    _realized_into,
    _solve,
    add_span_gamma,
    fisher_factors,
    span_coordinates,
)
from ._results import SymphaseError
from ._validate import check_real

__all__ = ["NaturalArgs", "drift", "drift_args", "integrate_natural", "jacobian", "natural_rhs", "natural_rhs_kernel",
           "weight_space_rates"]

#: The preconditioned right-hand side's inputs (:func:`drift`): SGD's :data:`symphase._kernels.KernelArgs`
#: (``ws``, ``T``, ``par``; the state checks and ``eps_g`` read them) with the preconditioner's ``mode``
#: (:data:`symphase._natural.MODES`), its ``damping`` and its work arrays (:func:`_workspace`). Built by
#: :func:`drift_args` only.
NaturalArgs = namedtuple("NaturalArgs", "ws T par mode damping work")


def drift_args(ka, mode: int, damping: float) -> NaturalArgs:
    """The :data:`NaturalArgs` of the model's kernel arguments ``ka`` (:meth:`symphase.System.args`)."""
    K, M = ka.ws.R.shape
    return NaturalArgs(ka.ws, ka.T, ka.par, int(mode), float(damping), _workspace(K, M))


@numba.njit(cache=True, error_model="numpy", **kernels.NO_NRT)
def drift(y, out, a):
    """``out = dy/dalpha`` of the preconditioned update (:func:`natural_rhs_kernel`), with the signature of
    SGD's :func:`symphase._kernels.rhs`: ``a`` is a :data:`NaturalArgs`. Where ``F + eps I`` is singular
    numerically ``out`` is NaN, and the steppers' state check stops the run as diverged. The kernel gets the
    model's :data:`~symphase._kernels.KernelArgs` back, as from every other caller (the SDE, :func:`natural_rhs`):
    one compiled :func:`natural_rhs_kernel`, not one per argument type."""
    natural_rhs_kernel(y, out, kernels.KernelArgs(a.ws, a.T, a.par), a.mode, a.damping, a.work)


@numba.njit(cache=True, error_model="numpy", **kernels.NO_NRT)
def natural_rhs_kernel(y, out, a, mode, damping, work):
    """``out = dy/dalpha`` of the preconditioned update at the flat state ``y`` (docs/model.md §14.5):
    :func:`_plain_rhs` for the plain network, :func:`_bn_rhs` under BN. ``work``: :func:`_workspace`.
    Returns False where ``F + eps I`` (or, under BN, ``Q``) is singular numerically (``out`` is then NaN)."""
    if a.par[BN] != 0.0:
        return _bn_rhs(y, out, a, mode, damping, work)
    return _plain_rhs(y, out, a, mode, damping, work)


@numba.njit(cache=True, error_model="numpy", **kernels.NO_NRT)
def _plain_rhs(y, out, a, mode, damping, work):
    """``out = dy/dalpha`` of the preconditioned update at the flat state ``y``, plain network:
    SGD's field sums (:func:`symphase._kernels.covariance`, the generated ``field_sums``), the factors of
    ``(F + eps I)^-1`` at ``Q`` (:func:`symphase._natural.fisher_factors`), ``Gamma`` from one ``K^2 x K^2``
    solve, and the generated :func:`symphase._generated.natural.natural_rates` (docs/model.md §14.5).
    Returns False where ``F + eps I`` is singular numerically (``out`` is then NaN)."""
    ws, par = a.ws, a.par
    kernels.covariance(y, a)
    K, M = ws.R.shape
    Binv, Lmat, E31, E22, E13, Yw, Cw, rhs, W, U, V, h = work[:12]
    tau = par[TAU]
    gen.field_sums(ws.C, ws.w, K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    ok = fisher_factors(ws.Q, h, tau, mode, damping, True, (Binv, Lmat, E31, E22, E13, Yw, Cw))
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


@numba.njit(cache=True, error_model="numpy", **kernels.NO_NRT)
def _bn_rhs(y, out, a, mode, damping, work):
    """The BN rates (docs/model.md §14.5): with ``a_m = (eta/N) h_m d_m``, ``p_m = e a_m x_m/Q_mm`` and
    ``dg_m = l_g (eta/N) d_m u_m/g_m`` SGD's coefficients, their averages are ``N <G_ma> = eta Gbar_ma``,
    ``Gbar_ma = h_m G_ma/h_a - e (G_mm/Q_mm) Q_ma`` (``G`` the field sums over the effective fields),
    ``N <p_m> = eta e G_mm/Q_mm``, ``N <dg_m> = eta l_g G_mm/g_m``; the step's span part and gain step are
    linear in them (:func:`symphase._natural.natural_steps_with`): ``d = (F_r + eps I)^-1 (L^-1 Gbar, gbar)``,
    ``Pi = -B^-1 diag(pbar) + L^-T (d_J - B^-1 L^-1 Gbar)``, and ``dQ = eta (Y + Y^T) + (eta^2 tau/b) W``,
    ``Y_ki = (B^-1 h G_S)_ki/h_i + (Pi Q)_ki``, ``W = B^-1 h (D + noise J2) h B^-T``,
    ``dR = eta (B^-1 h G_T + Pi R)``, ``dg = eta d_g``."""
    ws, par = a.ws, a.par
    kernels.covariance(y, a)
    K, M = ws.R.shape
    Binv, Lmat, E31, E22, E13, Yw, Cw, _rhs, W, U, V, _h, Lc, Fr, rr, cvec, Gbar, pbar, gbar, dgain, tvec, rw = work
    tau, exact, learn = par[TAU], par[EXACT] != 0.0, par[LEARN_GAIN] != 0.0
    nr = K * K + (K if learn else 0)
    gen.field_sums(ws.C, ws.w, K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    ok = fisher_factors(ws.Q, ws.h, tau, mode, damping, False, (Binv, Lmat, E31, E22, E13, Yw, Cw))
    if ok and mode != DAMPING_ONLY:
        ok = _cholesky(ws.Q, Lc)
    if not ok:
        out[:] = np.nan
        return False
    for m in range(K):
        pbar[m] = ws.G[m, m] / ws.Q[m, m] if exact else 0.0
        gbar[m] = ws.G[m, m] / ws.g[m] if learn else 0.0
        for c in range(K):
            Gbar[m, c] = ws.h[m] * ws.G[m, c] / ws.h[c] - pbar[m] * ws.Q[m, c]
    for i in range(K):
        for c in range(K):
            Cw[i, c] = -Binv[i, c] * pbar[c]  # Pi, first part
        dgain[i] = Binv[i, i] * gbar[i] if mode == DAMPING_ONLY else 0.0
    if mode != DAMPING_ONLY:
        _realized_into(Lc, ws.h, ws.g, tau, True, learn, mode == UNITWISE, False, Fr[:nr, :nr], rw)
        for r in range(nr):
            Fr[r, r] += damping
        span_coordinates(Lc, Gbar, cvec, rr)
        for i in range(K):
            rr[K * K + i] = gbar[i] if learn else 0.0
        if not _solve(Fr[:nr, :nr], rr[:nr]):
            out[:] = np.nan
            return False
        add_span_gamma(rr, Binv, cvec, Lc, learn, Cw, dgain, tvec)
    for k in range(K):
        for c in range(K):  # Y_kc = (B^-1 h G_S)_kc / h_c + (Pi Q)_kc
            acc = 0.0
            acc2 = 0.0
            for m in range(K):
                acc += Binv[k, m] * ws.h[m] * ws.G[m, c]
                acc2 += Cw[k, m] * ws.Q[m, c]
            Yw[k, c] = acc / ws.h[c] + acc2
        for n in range(M):  # U = B^-1 h G_T, V = Pi R
            acc = 0.0
            acc2 = 0.0
            for m in range(K):
                acc += Binv[k, m] * ws.h[m] * ws.G[m, K + n]
                acc2 += Cw[k, m] * ws.R[m, n]
            U[k, n] = acc
            V[k, n] = acc2
    noise = par[NOISE]
    for i in range(K):  # W = B^-1 h (D + noise J2) h B^-T
        for k in range(K):
            acc = 0.0
            for m in range(K):
                for p in range(K):
                    acc += Binv[i, m] * ws.h[m] * (ws.D[m, p] + noise * ws.J2[m, p]) * ws.h[p] * Binv[k, p]
            W[i, k] = acc
    natural_rates(Yw, W, U, V, par[ETA], tau, par[BATCH], ws.dQ, ws.dR)
    for i in range(K):
        ws.dg[i] = par[ETA] * dgain[i]
    pack_into(ws.dQ, ws.dR, ws.dg, True, out)
    return True


def _workspace(K, M):
    """The work arrays of :func:`natural_rhs_kernel` (the last: :func:`symphase._natural._realized_into`'s
    scratch). The right-hand side allocates nothing, so it runs without Numba's reference counting
    (``NO_NRT``): with it, every call between its layers counted the references of the ~45 arrays of
    :data:`NaturalArgs`, 2.5 of its 4 us at K = 2."""
    nr = K * K + K
    return (np.zeros((K, K)), np.zeros((K * K, K * K)), np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K)),
            np.zeros((K, K)), np.zeros((K, K)), np.zeros(K * K), np.zeros((K, K)), np.zeros((K, M)),
            np.zeros((K, M)), np.ones(K), np.zeros((K, K)), np.zeros((nr, nr)), np.zeros(nr), np.zeros((K, K)),
            np.zeros((K, K)), np.zeros(K), np.zeros(K), np.zeros(K), np.zeros(K),
            (np.empty(K), np.empty((K, K, K)), np.empty((K, K)), np.empty((K, K)), np.empty(K)))


def _check(model):
    model = check_model(model).require_closed_form("the preconditioned ODE")
    if model.preconditioner not in MODES:
        raise ValueError(f"preconditioner: the preconditioned ODE runs preconditioner='natural' or 'unitwise', got "
                         f"preconditioner={model.preconditioner!r} (docs/model.md §14.5)")
    if not model.is_committee:
        raise ValueError(f"model: the preconditioned ODE covers the committee machine (erf, second layers fixed "
                         f"at 1, scaling 'sum', no weight decay), plain or BN; got {model.describe()}")
    return model


def natural_rhs(model, Q, R, eta, g=None):
    """``(dQ/dalpha, dR/dalpha, dg/dalpha)`` of the preconditioned update at ``(Q, R, g)`` (docs/model.md §14.5).

    Parameters
    ----------
    model : Committee
        The committee machine, plain or BN, with ``preconditioner="natural"`` or ``"unitwise"`` and its
        ``damping``.
    Q, R : array_like
        The state (a valid Gram matrix with ``model.T``).
    eta : float
        The learning rate (> 0).
    g : array_like (K,), optional
        The BN gains (BN only; default ones).

    Returns
    -------
    (ndarray (K, K), ndarray (K, M), ndarray (K,) or None)

    Raises
    ------
    ValueError
        Another model or preconditioner (naming it), a bad state or ``eta``.
    SymphaseError
        ``F + eps I`` is singular numerically at this state.
    """
    model = _check(model)
    eta = check_real("eta", eta, positive=True)
    y = model.system.state(Q, R, g)
    out = np.empty_like(y)
    a = model.system.args(eta)
    if not natural_rhs_kernel(y, out, a, MODES[model.preconditioner], model.damping, _workspace(model.K, model.M)):
        raise SymphaseError(f"the preconditioned ODE: F + eps I is singular numerically at Q = {np.asarray(Q).tolist()}"
                            f" (damping {model.damping:g})")
    dQ, dR, dg = model.layout.unpack(out)
    return np.array(dQ), np.array(dR), None if dg is None else np.array(dg)


def integrate_natural(model, Q0, R0, eta, alphas, *, g0=None, rtol=1e-10, atol=1e-12):
    """Integrate the preconditioned ODE (docs/model.md §14.5) from ``(Q0, R0)``, recording at ``alphas``.

    Parameters
    ----------
    model : Committee
        As :func:`natural_rhs`.
    Q0, R0 : array_like
        The start.
    eta : float
        The learning rate (> 0).
    g0 : array_like (K,), optional
        The BN gains at the start (BN only; default ones).
    alphas : array_like
        Increasing record points, the first the start (``alpha = alphas[0]``).
    rtol, atol : float
        SciPy DOP853's tolerances.

    Returns
    -------
    dict
        ``alpha`` (n,), ``Q`` (n, K, K), ``R`` (n, K, M), ``g`` (n, K) or None, ``eg`` (n,) (the closed form,
        docs/model.md §3.4).

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
    y0 = model.system.state(Q0, R0, g0)
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
    parts = [model.layout.unpack(y) for y in ys]
    Q = np.array([p[0] for p in parts])
    R = np.array([p[1] for p in parts])
    g = np.array([p[2] for p in parts]) if model.has_bn else None
    eg = np.array([model.system.eg(y) for y in ys])
    return {"alpha": sol.t, "Q": Q, "R": R, "g": g, "eg": eg}


def jacobian(model, y, *, step=1e-3):
    """The Jacobian of the preconditioned ODE's ``O(eta)`` part per unit ``eta`` at the flat state ``y``
    (docs/model.md §14.6), at ``eta = 1`` and batch ``2^53`` (the ``eta^2/b`` part vanishes): the five-point
    central difference ``[8 (f(y + h e_j) - f(y - h e_j)) - (f(y + 2h e_j) - f(y - 2h e_j))] / 12h`` of
    :func:`natural_rhs_kernel`, whose truncation error is ``h^4 f^(5)/30`` (about ``1e-13`` at ``h = 1e-3``) and
    rounding error about ``1e-16 |f| / h`` (``1e-13``).

    Its eigenvalues at a symmetric fixed point are the linear rates ``lambda/eta``; in weight space the same
    linearisation is ``-(F + eps I)^-1 H`` (``H`` the Hessian of ``eps_g``), whose escape rate is
    ``-mu_min`` of ``H v = mu (F + eps I) v`` (:func:`weight_space_rates`, :func:`symphase.curvature`).

    Parameters
    ----------
    model : Committee
        With ``preconditioner="natural"`` or ``"unitwise"``.
    y : ndarray
        The flat state (``model.layout``).
    step : float
        ``h``.

    Returns
    -------
    ndarray (size, size)

    Raises
    ------
    SymphaseError
        ``F + eps I`` (or, under BN, ``Q``) is singular numerically near ``y``.
    """
    model = _check(model)
    small = model.with_(batch=2**53)
    a = small.system.args(1.0)
    work = _workspace(model.K, model.M)
    mode = MODES[model.preconditioner]
    y = np.asarray(y, dtype=float)
    n = y.size
    jac = np.empty((n, n))
    f = np.empty((4, n))
    for j in range(n):
        ok = True
        for r, shift in enumerate((step, -step, 2.0 * step, -2.0 * step)):
            yp = y.copy()
            yp[j] += shift
            ok = natural_rhs_kernel(yp, f[r], a, mode, model.damping, work) and ok
        if not ok:
            Q = model.layout.unpack(y)[0]
            raise SymphaseError(f"the preconditioned ODE: F + eps I{' or Q' if model.has_bn else ''} is singular "
                                f"numerically near Q = {np.asarray(Q).tolist()} (damping {model.damping:g})")
        jac[:, j] = (8.0 * (f[0] - f[1]) - (f[2] - f[3])) / (12.0 * step)
    return jac


def weight_space_rates(model, Q, R, g=None):
    """The linear rates ``lambda/eta`` (``eta -> 0``) of the preconditioned gradient flow in weight space at a
    point where the gradient vanishes: ``-mu`` for the generalized eigenvalues ``H v = mu (F_p + eps I) v``,
    ``H`` and ``F`` the Hessian and Fisher of :func:`symphase.curvature` (``N = K + M + 1``: the outliers and
    one copy of the bulk), ``F_p = F`` (natural) or its blocks of one unit each, ``J_i`` with ``g_i``
    (unitwise). Valid for a gradient rule: plain and exact BN (docs/model.md §14.6).

    Returns
    -------
    ndarray
        The rates, descending.
    """
    model = _check(model)
    if model.bn == "paper":
        raise ValueError("bn: the paper's BN rule is not a gradient, so its preconditioned linearisation is not "
                         "-(F + eps I)^-1 H; weight_space_rates covers plain and bn='exact'")
    K, M = model.K, model.M
    c = curvature(model.with_(preconditioner=None, damping=DEFAULT_DAMPING), (Q, R, g), N=K + M + 1)
    H, F = c.matrix("hessian"), c.matrix("fisher")
    if model.preconditioner == "unitwise":
        N1 = K + M + 1
        keep = np.zeros(F.shape, dtype=bool)
        for i in range(K):
            idx = list(range(i * N1, (i + 1) * N1)) + ([K * N1 + i] if model.learns_gain else [])
            keep[np.ix_(idx, idx)] = True
        F = np.where(keep, F, 0.0)
    mu = np.linalg.eigvals(np.linalg.solve(F + model.damping * np.eye(F.shape[0]), H)).real
    return np.sort(-mu)[::-1]
