"""Numba kernels on the flat state: the right-hand side, eps_g, state checks.

Pure functions on arrays; they write into preallocated work arrays and trust
their arguments (validation is the API's job). One compilation serves every
``K``, ``M`` and rule: structure and rule are run-time arguments; parameters
travel in one float array ``par = [eta, tau, b, noise, bn, e, lg]``
(see :func:`params`).
"""
from __future__ import annotations

import numba
import numpy as np

from ._generated import ode_kernels as gen
from .layout import pack_into, unpack_into

ETA, TAU, BATCH, NOISE, BN, EXACT, LEARN_GAIN = range(7)

# LLVM may fuse multiply-adds, reassociate sums and use reciprocals (about 20%
# faster at K = 2); no "nnan"/"ninf", so NaN and inf still propagate and are
# caught, and no approximate functions ("afn").
FASTMATH = {"contract", "arcp", "reassoc", "nsz"}


def params(model, eta: float, linear: bool = False) -> np.ndarray:
    """The run-parameter array ``par`` of the kernels for ``model`` at learning rate ``eta``.

    ``linear=True`` sets ``b = inf``, which drops the ``eta^2/b`` terms: the
    right-hand side is then its ``O(eta)`` part (the small learning rate limit).
    """
    bn, e, lg = model.rule_flags
    batch = np.inf if linear else model.batch
    return np.array([eta, model.tau, batch, model.noise, bn, e, lg], dtype=float)


@numba.njit(cache=True)
def workspace(K, M, y):
    """Work arrays for :func:`rhs` and :func:`eg`, of the dtype of ``y``."""
    dt = y.dtype
    NF = K + M
    w = np.empty(NF, dtype=dt)
    for p in range(NF):
        w[p] = -1.0 if p < K else 1.0
    return (np.empty((K, K), dt), np.empty((K, M), dt), np.empty(K, dt), np.empty(K, dt),
            np.empty((NF, NF), dt), w, np.empty((K, NF), dt), np.empty((K, K), dt),
            np.empty((K, K), dt), np.empty(NF, dt), np.empty(NF, dt), np.empty(NF, dt),
            np.empty(NF, dt), np.empty(NF, dt), np.empty((K, K), dt), np.empty((K, M), dt),
            np.empty(K, dt))


@numba.njit(cache=True)
def covariance(y, Q, R, g, h, C, T, par):
    """Fill ``Q, R, g, h`` and the effective field covariance ``C`` of state ``y``."""
    bn = par[BN] != 0.0
    unpack_into(y, Q, R, g, bn)
    gen.scale_factors(Q, g, par[TAU], bn, h)
    gen.effective_covariance(Q, R, T, h, par[TAU], C)


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def rhs(y, out, ws, T, par):
    """``out = dy/dalpha`` (MODEL.md §3): the order-parameter ODEs at state ``y``."""
    Q, R, g, h, C, w, G, D, J2, P, Pc, A, B, r, dQ, dR, dg = ws
    covariance(y, Q, R, g, h, C, T, par)
    gen.field_sums(C, w, Q.shape[0], G, D, J2, P, Pc, A, B, r)
    gen.assemble(Q, R, g, h, G, D, J2, par[ETA], par[TAU], par[BATCH], par[NOISE],
                 par[EXACT], par[LEARN_GAIN], dQ, dR, dg)
    pack_into(dQ, dR, dg, par[BN] != 0.0, out)


@numba.njit(cache=True)
def eg(y, ws, T, par):
    """Generalization error ``eps_g`` at state ``y`` (the paper's Eq. 13)."""
    Q, R, g, h, C, w = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5]
    covariance(y, Q, R, g, h, C, T, par)
    return gen.generalization_error(C, w, ws[9])


# Codes of a state check, shared by the integrators and the simulator
OK, INVALID, DIVERGED = 0, 1, 2


@numba.njit(cache=True)
def check_state(y, ws, T, par, blowup, psd_tol):
    """``OK``, ``DIVERGED`` (non-finite or ``|y| > blowup``) or ``INVALID``.

    Invalid: the joint Gram matrix ``[[Q, R], [R^T, T]]`` is not positive
    semi-definite within ``psd_tol`` (relative to its largest diagonal entry),
    or, under BN, some ``Q_ii <= 0`` or ``g_i == 0``.
    """
    for v in y:
        if not np.isfinite(v) or abs(v) > blowup:
            return DIVERGED
    Q, R, g = ws[0], ws[1], ws[2]
    bn = par[BN] != 0.0
    unpack_into(y, Q, R, g, bn)
    K, M = R.shape
    if bn:
        for i in range(K):
            if Q[i, i] <= 0.0 or g[i] == 0.0:
                return INVALID
    # Cholesky of the Gram matrix shifted by psd_tol * scale: fails iff the
    # smallest eigenvalue is below -psd_tol * scale (up to rounding).
    NF = K + M
    L = np.zeros((NF, NF))
    scale = 1.0
    for i in range(K):
        scale = max(scale, abs(Q[i, i]))
    for n in range(M):
        scale = max(scale, abs(T[n, n]))
    for a in range(NF):
        for c in range(a + 1):
            if a < K:
                gac = Q[a, c]
            elif c < K:
                gac = R[c, a - K]
            else:
                gac = T[a - K, c - K]
            s = gac
            for j in range(c):
                s -= L[a, j] * L[c, j]
            if a == c:
                s += psd_tol * scale
                if s <= 0.0:
                    return INVALID
                L[a, a] = np.sqrt(s)
            else:
                L[a, c] = s / L[c, c]
    return OK
