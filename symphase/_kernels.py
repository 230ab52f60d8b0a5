"""Numba kernels on the flat state: the right-hand side, eps_g, state checks.

Pure functions on arrays: they write into preallocated work arrays and trust
their arguments (validation is the API's job). Everything a kernel needs
besides the state travels in one :data:`KernelArgs` record, built by the
model's compiled system (:class:`symphase._system.System`), never by hand:

* ``ws``: the named :data:`Workspace` of work arrays;
* ``T``: the teacher overlaps;
* ``par``: the parameter record ``[eta, tau, b, noise, bn, e, lg]`` (indices
  :data:`ETA` ... :data:`LEARN_GAIN`), shared by the ODE and the simulator.

One compilation serves every ``K``, ``M`` and rule: structure and rule are
run-time values. The equations are docs/model.md §3; the generated pieces
(``symphase/_generated/ode_kernels.py``) carry them in their docstrings.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ._generated import ode_kernels as gen
from ._layout import pack_into, unpack_into

#: Slots of the parameter record ``par``: learning rate, input variance, minibatch
#: size, output-noise variance, and the rule switches (BN on, exact rule, learned gain).
PARAMS = ("eta", "tau", "batch", "noise", "bn", "exact", "learned_gain")
ETA, TAU, BATCH, NOISE, BN, EXACT, LEARN_GAIN = range(len(PARAMS))

#: Work arrays of :func:`rhs` and :func:`eg` (shapes in :func:`workspace_shapes`).
Workspace = namedtuple("Workspace", "Q R g h C w G D J2 P Pc A B r dQ dR dg L")
#: Everything a kernel needs besides the state: workspace, teacher overlaps, parameters.
KernelArgs = namedtuple("KernelArgs", "ws T par")

# LLVM may fuse multiply-adds, reassociate sums and use reciprocals (about 20%
# faster at K = 2); no "nnan"/"ninf", so NaN and inf still propagate and are
# caught, and no approximate functions ("afn").
FASTMATH = {"contract", "arcp", "reassoc", "nsz"}


def workspace_shapes(K: int, M: int) -> dict:
    """Shape of each :data:`Workspace` array for ``K`` students and ``M`` teachers."""
    NF = K + M
    return {"Q": (K, K), "R": (K, M), "g": (K,), "h": (K,), "C": (NF, NF), "w": (NF,), "G": (K, NF),
            "D": (K, K), "J2": (K, K), "P": (NF,), "Pc": (NF,), "A": (NF,), "B": (NF,), "r": (NF,),
            "dQ": (K, K), "dR": (K, M), "dg": (K,), "L": (NF, NF)}


def workspace(K: int, M: int, dtype=float) -> Workspace:
    """A fresh :data:`Workspace` (float64, or complex128 for complex-step derivatives)."""
    ws = Workspace(**{k: np.empty(s, dtype=dtype) for k, s in workspace_shapes(K, M).items()})
    ws.w[:K] = -1.0  # the sign of each field in Delta = t - s: -1 student, +1 teacher
    ws.w[K:] = 1.0
    return ws


@numba.njit(cache=True)
def covariance(y, a):
    """Fill ``Q, R, g, h`` and the effective field covariance ``C`` of state ``y`` into ``a.ws``
    (``C = tau [[h Q h, h R], [R^T h, T]]``, docs/model.md §3)."""
    ws, par = a.ws, a.par
    bn = par[BN] != 0.0
    unpack_into(y, ws.Q, ws.R, ws.g, bn)
    gen.scale_factors(ws.Q, ws.g, par[TAU], bn, ws.h)
    gen.effective_covariance(ws.Q, ws.R, a.T, ws.h, par[TAU], ws.C)


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def rhs(y, out, a):
    """``out = dy/dalpha`` at state ``y``: the order-parameter ODEs (docs/model.md §3).

    ``dQ_ik/dalpha``, ``dR_in/dalpha`` and (BN) ``dg_i/dalpha`` are assembled by
    the generated ``assemble`` from the field sums ``G`` (I3), ``D`` (I4) and ``J2``.
    """
    ws, par = a.ws, a.par
    covariance(y, a)
    gen.field_sums(ws.C, ws.w, ws.Q.shape[0], ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    gen.assemble(ws.Q, ws.R, ws.g, ws.h, ws.G, ws.D, ws.J2, par[ETA], par[TAU], par[BATCH], par[NOISE],
                 par[EXACT], par[LEARN_GAIN], ws.dQ, ws.dR, ws.dg)
    pack_into(ws.dQ, ws.dR, ws.dg, par[BN] != 0.0, out)


@numba.njit(cache=True)
def eg(y, a):
    """Generalization error ``eps_g`` at state ``y`` (the paper's Eq. 13, docs/model.md §3)."""
    covariance(y, a)
    return gen.generalization_error(a.ws.C, a.ws.w, a.ws.P)


@numba.njit(cache=True)
def eg_clipped(y, a):
    """``(max(eps_g, 0), eps_g)`` at state ``y``: the error reported, and the closed form as computed.

    ``eps_g = <(t - s)^2>/2 >= 0`` on every real state (a positive semi-definite
    Gram matrix), but the closed form can come out below zero by (i) rounding: a
    sum of ``(K + M)^2`` arcsines of size ``<= pi/2`` that cancel at perfect
    learning, ``|error| <~ (K + M)^2 * 4 eps`` (about ``1e-15`` at K = M = 6), and
    (ii) an integrated state that lies outside the PSD set by its integration
    error (``~ atol``; ``check_state`` allows ``psd_tol``), where ``eps_g`` is
    about linear in the Schur complement ``Q - R T^-1 R^T``: ``-2e-10`` was seen
    at BN, K = 3-6, eta = 0.3-1, alpha = 3e4, the default tolerances. The true
    value is ``>= 0``, so clipping never moves the reported value further from it.
    NaN passes through.
    """
    e = eg(y, a)
    if e < 0.0:
        return 0.0, e
    return e, e


# Codes of a state check, shared by the integrators and the simulator
OK, INVALID, DIVERGED = 0, 1, 2


@numba.njit(cache=True)
def check_state(y, a, blowup, psd_tol):
    """``OK``, ``DIVERGED`` (non-finite or ``|y| > blowup``) or ``INVALID``.

    Invalid: the joint Gram matrix ``[[Q, R], [R^T, T]]`` is not positive
    semi-definite within ``psd_tol`` (relative to its largest diagonal entry),
    or, under BN, some ``Q_ii <= 0`` or ``g_i == 0``.
    """
    for v in y:
        if not math.isfinite(v) or abs(v) > blowup:
            return DIVERGED
    Q, R, g, T = a.ws.Q, a.ws.R, a.ws.g, a.T
    bn = a.par[BN] != 0.0
    unpack_into(y, Q, R, g, bn)
    K, M = R.shape
    if bn:
        for i in range(K):
            if Q[i, i] <= 0.0 or g[i] == 0.0:
                return INVALID
    # Cholesky of the Gram matrix shifted by psd_tol * scale: fails iff the
    # smallest eigenvalue is below -psd_tol * scale (up to rounding).
    NF = K + M
    L = a.ws.L
    scale = 1.0
    for i in range(K):
        scale = max(scale, abs(Q[i, i]))
    for n in range(M):
        scale = max(scale, abs(T[n, n]))
    for p in range(NF):
        for c in range(p + 1):
            if p < K:
                gpc = Q[p, c]
            elif c < K:
                gpc = R[c, p - K]
            else:
                gpc = T[p - K, c - K]
            s = gpc
            for j in range(c):
                s -= L[p, j] * L[c, j]
            if p == c:
                s += psd_tol * scale
                if s <= 0.0:
                    return INVALID
                L[p, p] = math.sqrt(s)
            else:
                L[p, c] = s / L[c, c]
    return OK
