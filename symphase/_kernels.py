"""Numba kernels on the flat state: the right-hand side, eps_g, state checks.

Pure functions on arrays: they write into preallocated work arrays and trust
their arguments (validation is the API's job). Everything a kernel needs
besides the state travels in one :data:`KernelArgs` record, built by the
model's compiled system (:class:`symphase._model.System`), never by hand:

* ``ws``: the named :data:`Workspace` of work arrays;
* ``T``: the teacher overlaps;
* ``par``: the parameter record ``[eta, tau, b, noise, bn, e, lg, eta2, lam, lv,
  c, act]`` (indices :data:`ETA` ... :data:`ACTIVATION`), shared by the ODE and
  the simulators (:func:`step_constants` and :func:`rule_constants` read one SGD
  step's constants from it).

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
#: size, output-noise variance, the rule switches (BN on, exact rule, learned gain),
#: and the two-layer network's (docs/model.md §13): the second layer's learning
#: rate, weight decay, learned second layer, the student's output scale ``c`` and
#: the activation (:data:`ERF`, :data:`LINEAR`; :data:`RELU` in the simulator only).
PARAMS = ("eta", "tau", "batch", "noise", "bn", "exact", "learned_gain",
          "eta2", "weight_decay", "learned_v", "scale", "activation")
(ETA, TAU, BATCH, NOISE, BN, EXACT, LEARN_GAIN,
 ETA2, WEIGHT_DECAY, LEARN_V, SCALE, ACTIVATION) = range(len(PARAMS))
#: Codes of the activation slot.
ACTIVATIONS = ("erf", "linear", "relu")
ERF, LINEAR, RELU = range(len(ACTIVATIONS))
#: The activations with closed-form Gaussian averages: the ODE, ``eps_g``, the fixed points, the
#: curvature and the diffusion matrix exist for these only (docs/model.md §3.3, §13).
CLOSED_FORM_ACTIVATIONS = ("erf", "linear")

#: Work arrays of :func:`rhs` and :func:`eg` (shapes in :func:`workspace_shapes`).
#: ``v`` holds the student's second layer (read from the state when it is learned),
#: ``w[K:]`` the teacher's output weights ``c_T v*``.
#: ``eye`` is the (K, K) identity: the divisors of the exact rule's ``e Q_ik/Q_ii`` at ``e = 0``.
Workspace = namedtuple("Workspace", "Q R g h C w G D J2 P Pc A B r dQ dR dg L m v F dv eye")
#: Everything a kernel needs besides the state: workspace, teacher overlaps, parameters.
KernelArgs = namedtuple("KernelArgs", "ws T par")
#: The constants of the generated ``assemble`` (in the derivation's names), read from ``par`` by
#: :func:`rate_constants`: learning rate, input variance, minibatch, noise variance, the switches
#: of the exact rule (``e``) and the learned gain (``lg``), weight decay, the second layer's
#: learning rate, the output scale and the switch of the learned second layer (``lv``).
RateConstants = namedtuple("RateConstants", "eta tau b noise e lg lam eta2 cs lv")

# No kernel is compiled with fastmath. The right-hand side once was ({"contract", "arcp", "reassoc", "nsz"},
# about 20% faster at K = 2 then), but Numba links a copy of a callee into every kernel that calls it, LLVM
# optimises each copy again in its caller's module, and under fastmath a copy may round differently; which
# copy a call lands on depends on which kernel the process compiled or loaded from the cache first (the
# JIT resolves the shared, weak symbol to the first definition). So the same seed gave results differing
# by about 1e-16 from one process to the next (docs/model.md §11), amplified at the plateau. IEEE
# arithmetic optimises to the same bits in every module. Without fastmath the right-hand side measured
# 0.39 against 0.50 us at K = 2, 2.26 against 2.24 us at K = 4, 21.0 against 22.8 us at K = 8.

# The ODE's per-call kernels (rhs, covariance, eg, check_state) allocate nothing: they only read and
# write the caller's arrays, which the caller keeps alive. Compiled without Numba's runtime (NRT) they
# skip its atomic reference counting of every array taken out of the KernelArgs/Workspace tuples
# (rhs's machine code alone had 88 NRT_incref and 89 NRT_decref calls, which Numba's pruning does not
# remove across loops and branches): 1.1-1.2 of the 1.6 us of one rhs at K = M = 2. (The two-layer
# switches cost nothing measurable: a copy with them folded to the committee's constants was no faster.)
# Numbers are unchanged (no arithmetic moves). A kernel compiled so must not allocate: Numba refuses
# to compile np.empty and the like without NRT, so that cannot break silently.
NO_NRT = {"_nrt": False}


def workspace_shapes(K: int, M: int) -> dict:
    """Shape of each :data:`Workspace` array for ``K`` students and ``M`` teachers."""
    NF = K + M
    return {"Q": (K, K), "R": (K, M), "g": (K,), "h": (K,), "C": (NF, NF), "w": (NF,), "G": (K, NF),
            "D": (K, K), "J2": (K, K), "P": (NF,), "Pc": (NF,), "A": (NF,), "B": (NF,), "r": (NF,),
            "dQ": (K, K), "dR": (K, M), "dg": (K,), "L": (NF, NF), "m": (K,), "v": (K,), "F": (K,), "dv": (K,),
            "eye": (K, K)}


def workspace(K: int, M: int, dtype=float, *, v=None, teacher_weights=None) -> Workspace:
    """A fresh :data:`Workspace` (float64, or complex128 for complex-step derivatives).

    ``v`` (K,) is the student's second layer when it is fixed (default ones),
    ``teacher_weights`` (M,) the teacher's output weights ``c_T v*`` (default ones):
    the weight of each teacher field in ``Delta = t - s``.
    """
    ws = Workspace(**{k: np.empty(s, dtype=dtype) for k, s in workspace_shapes(K, M).items()})
    ws.v[:] = 1.0 if v is None else v
    ws.eye[:] = np.eye(K)
    ws.w[:K] = -1.0  # the weight of each field in Delta = t - s: -c v_a student, c_T v*_n teacher
    ws.w[K:] = 1.0 if teacher_weights is None else teacher_weights
    return ws


@numba.njit(cache=True, nogil=True, inline="always")
def step_constants(par, N, b):
    """``(sigma, noise_sd, bn, exact, learn, lr)`` of the parameter record ``par`` for one SGD step:
    input and noise standard deviations, the rule switches, and the learning rate per example
    ``lr = eta/(N b)`` (docs/model.md §2)."""
    return (math.sqrt(par[TAU]), math.sqrt(par[NOISE]), par[BN] != 0.0, par[EXACT] != 0.0,
            par[LEARN_GAIN] != 0.0, par[ETA] / (N * b))


@numba.njit(cache=True, nogil=True, inline="always")
def step_gain_and_v(g, v, dg, dv, decay, learn, learn_v):
    """The end of one step for the gains and the second layer, in place (docs/model.md §2, §13):
    ``g_i += dg_i`` when the gain is learned, ``v_i += dv_i - (lam/N) v_i`` when the second layer is
    (``decay = lam/N``). Shared by the simulators on the weights and on the overlaps."""
    if learn:
        for i in range(g.size):
            g[i] += dg[i]
    if learn_v:
        for i in range(v.size):
            v[i] += dv[i] - decay * v[i]


@numba.njit(cache=True, nogil=True, inline="always")
def rule_constants(par, N, b):
    """The constants ``(lr, lr2, cs, act, exact, learn, learn_v)`` of a rule's per-example kernel
    (:func:`symphase._generated.rule.sgd_example`) from the parameter record ``par``: the learning
    rates per example ``eta/(N b)``, ``eta2/(N b)``, the output scale, the activation code and the
    switches of the exact BN rule, the learned gain and the learned second layer."""
    return (par[ETA] / (N * b), par[ETA2] / (N * b), par[SCALE], int(par[ACTIVATION]), par[EXACT] != 0.0,
            par[LEARN_GAIN] != 0.0, par[LEARN_V] != 0.0)


def example_outputs(K: int) -> tuple:
    """Work arrays for a rule's per-example kernel's outputs ``(d, a, p, dg, dv)``, (K,) each
    (:func:`symphase._generated.rule.sgd_example`): one home for the engines' workspaces."""
    return tuple(np.zeros(K) for _ in range(5))


@numba.njit(cache=True, **NO_NRT)
def covariance(y, a):
    """Fill ``Q, R, g, h`` and the effective field covariance ``C`` of state ``y`` into ``a.ws``
    (``C = tau [[h Q h, h R], [R^T h, T]]``, docs/model.md §3)."""
    ws, par = a.ws, a.par
    bn = par[BN] != 0.0
    unpack_into(y, ws.Q, ws.R, ws.g, bn)
    K = ws.v.shape[0]
    if par[LEARN_V] != 0.0:  # the second layer is the last K entries of the state
        n = y.shape[0] - K
        for i in range(K):
            ws.v[i] = y[n + i]
    for i in range(K):  # the students' output weights m = c v, and their weight -m in Delta
        ws.m[i] = par[SCALE] * ws.v[i]
        ws.w[i] = -ws.m[i]
    gen.scale_factors(ws.Q, ws.g, par[TAU], bn, ws.h)
    gen.effective_covariance(ws.Q, ws.R, a.T, ws.h, par[TAU], ws.C)


@numba.njit(cache=True, inline="always")
def rate_constants(par):
    """The :data:`RateConstants` of the parameter record ``par``."""
    return RateConstants(par[ETA], par[TAU], par[BATCH], par[NOISE], par[EXACT], par[LEARN_GAIN], par[WEIGHT_DECAY],
                         par[ETA2], par[SCALE], par[LEARN_V])


@numba.njit(cache=True, error_model="numpy", **NO_NRT)
def rhs(y, out, a):
    """``out = dy/dalpha`` at state ``y``: the order-parameter ODEs (docs/model.md §3).

    ``dQ_ik/dalpha``, ``dR_in/dalpha``, (BN) ``dg_i/dalpha`` and (learned second
    layer) ``dv_i/dalpha`` are assembled by the generated ``assemble`` from the field
    sums ``G`` (I3), ``D`` (I4), ``J2`` and ``F`` (I2), of erf or of the linear activation
    (one kernel for every rule and state: the exact rule's divisors ``Q_ii`` are 1 at ``e = 0``).
    """
    ws, par = a.ws, a.par
    covariance(y, a)
    K = ws.Q.shape[0]
    linear = par[ACTIVATION] == LINEAR
    learn_v = par[LEARN_V] != 0.0
    if linear:
        gen.field_sums_linear(ws.C, ws.w, K, ws.G, ws.D, ws.J2)
    else:
        gen.field_sums(ws.C, ws.w, K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    if learn_v:
        if linear:
            gen.output_sums_linear(ws.C, ws.w, K, ws.F)
        else:
            gen.output_sums(ws.C, ws.w, K, ws.F, ws.P)
    # Q_ii enters only as the exact rule's e/Q_ii, read from the diagonal of assemble's second argument:
    # 1 in its place at e = 0 (plain is defined at zero weights, Q_ii = 0; derivations/derive.py checks
    # the rates do not depend on Q_ii there). Two call sites, so that the exact rule divides by Q itself
    # (the same loads, hence the same bits, as before the e = 0 case shared the kernel).
    if par[EXACT] != 0.0:
        gen.assemble(ws, ws.Q, rate_constants(par))
    else:
        gen.assemble(ws, ws.eye, rate_constants(par))
    pack_into(ws.dQ, ws.dR, ws.dg, par[BN] != 0.0, out)
    if learn_v:
        n = out.shape[0] - K
        for i in range(K):
            out[n + i] = ws.dv[i]


@numba.njit(cache=True, **NO_NRT)
def eg(y, a):
    """Generalization error ``eps_g`` at state ``y`` (the paper's Eq. 13, docs/model.md §3)."""
    covariance(y, a)
    if a.par[ACTIVATION] == LINEAR:
        return gen.generalization_error_linear(a.ws.C, a.ws.w)
    return gen.generalization_error(a.ws.C, a.ws.w, a.ws.P)


@numba.njit(cache=True, **NO_NRT)
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


@numba.njit(cache=True, **NO_NRT)
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
