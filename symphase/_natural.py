"""Preconditioned SGD on the weights: natural gradient with the exact population Fisher (docs/model.md §14).

The update of ``Committee(..., preconditioner=...)`` is ``Delta theta = (F + eps I)^-1 Delta theta_SGD``: the
SGD step of the same examples (:func:`symphase._generated.rule.sgd_example`, ``(eta/N)`` times the
per-example or batch-mean direction ``g_hat``) preconditioned by the damped population Fisher of the
parameters at the parameters before the step, ``F = <grad s grad s^T>`` over the inputs (the matrix that
:func:`symphase.curvature` reports; Amari 1998; Rattray, Saad & Amari 1998). ``theta`` is ``J``, and under BN
with a learned gain also ``g``.

For Gaussian inputs of variance ``tau`` Stein's lemma twice gives (docs/model.md §10, §14.2), plain,

    F_ik = A_ik I_N + tau^2 [E31_ik J_i J_i^T + E22_ik (J_i J_k^T + J_k J_i^T) + E13_ik J_k J_k^T],

``A_ik = tau <phi'(x_i) phi'(x_k)>`` (``tau E11``), ``E31 = <phi''' phi'>``, ``E22 = <phi'' phi''>``,
``E13 = <phi' phi'''>`` at the pair covariance ``tau (Q_ii, Q_kk, Q_ik)``
(:func:`symphase._generated.fisher.pair_averages`); under BN the same between the projections
``P_i = I - J_i J_i^T/Q_ii``, scaled by ``h_i h_k``, plus the gain rows. So ``F = A (x) P_perp + (a part inside
R^K (x) span(J), and the gains)``, and ``(F + eps I)^-1 g`` needs only ``(A + eps I)^-1`` (K x K) and one
``K^2 (+ K)`` square solve (docs/model.md §14.2):

* plain: ``w_i = sum_k [(A + eps I)^-1]_ik g_k + sum_a Gamma_ia J_a`` with ``Gamma`` (K x K) the solution of
  ``(A + eps I) Gamma + c(Gamma Q) = -c((A + eps I)^-1 G)``, ``G_ma = J_a . g_m`` (no inverse of ``Q``);
* BN: the span part in the orthonormal basis ``U = J^T L^-T`` of ``span(J)`` (``Q = L L^T``), where ``F`` is
  the Fisher of the weights realised with ``K`` inputs (:func:`realized_fisher`).

A step costs ``O(N K^2)`` (the update, the fields and the new ``Q``, fused into one pass over the ``N``
components as in :func:`symphase._sgd.sgd_steps_with`) plus ``O(K^6)`` for the solve, never an
``NK x NK`` matrix; nothing in a step allocates. ``B^-1`` comes from one ``L D L^T``
factorisation; ``unitwise``'s system decouples by unit: ``O(K^2)`` in closed form plain
(:func:`_unitwise_gamma`), one ``K (+ 1)`` square block per unit under BN (:func:`_unitwise_solve`).
The per-step helpers are called, not inlined by Numba (``inline="always"`` doubled the compile of the four
kernels that use them, 59 s to 116 s), and compiled without Numba's reference counting (``NO_NRT``: they
allocate nothing), which took the same time off a call as inlining did. So are the engines' step loops
(:func:`natural_steps_in`, :func:`natural_overlap_steps_in`): their scratch is a :data:`NaturalWork`
(:data:`NaturalChainWork`) that the entry points :func:`natural_steps` (:func:`natural_overlap_steps`) build once
per call, so they keep the arguments of SGD's engines (``wa``, ``ca``); without the reference counting of the
arrays handed to the helpers a step takes about half the time (K = M = 2, N = 1000: 20 -> 10-11 us).

``unitwise`` keeps F's diagonal blocks ``F_ii`` only (one per hidden unit, with its gain): the same formulas
with the blocks of different units set to zero. The kernel also runs ``F -> 0`` (``mode``
:data:`DAMPING_ONLY`): SGD at learning rate ``eta/eps``, bit for bit SGD at ``eps = 1`` (the test of its
plumbing).

Covered: the soft committee machine (erf, second layers fixed at 1, scaling ``"sum"``, no weight decay),
plain and both BN rules (population statistics; gain learned or fixed), any ``K``, ``M``, batch, output
noise and ``tau``. Not yet: the two-layer network, BN with the batch's statistics, ``adaptive`` (its
``G^-1`` is not of the bulk/span form) and the SDE; they refuse by name. The exact chain in overlap space
is :func:`natural_overlap_steps`, the ODE :mod:`symphase._natural_ode`.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from . import _overlap_sgd as ov
from ._generated.fisher import pair_averages
from ._generated.natural import span_coefficients
from ._generated.rule import sgd_example
from ._kernels import LEARN_GAIN, NO_NRT, TAU
from ._rng import next_normal
from ._sgd import draw_input, rule_constants, step_constants

__all__ = ["DAMPING_ONLY", "MODES", "NATURAL", "UNITWISE", "NaturalChainWork", "NaturalWork", "check_supported",
           "fisher_factors", "natural_chain_work", "natural_overlap_steps", "natural_overlap_steps_in", "natural_steps",
           "natural_steps_in", "natural_steps_with", "natural_work", "realized_fisher", "span_step", "step_factors",
           "step_work"]

#: The kernel's ``mode``: F replaced by 0 (SGD at ``eta/eps``), the full F, F's diagonal blocks.
DAMPING_ONLY, NATURAL, UNITWISE = 0, 1, 2
#: The preconditioners the weights simulator runs, by the model's name (docs/model.md §14).
MODES = {"natural": NATURAL, "unitwise": UNITWISE}

#: Work arrays of the weights engine :func:`natural_steps_in` (:func:`natural_work`): one example's fields ``x``
#: (K,) and ``y`` (M,), SGD's state ``h``, ``inv_s``, ``qn`` (K,) and its coefficients ``out = (d, a, p, dg, dv)``
#: (K,) each, the preconditioned ``xi`` coefficient ``coef = B^-1 a`` (K,), the step's sums ``psum``, ``dgsum``
#: (K,) and ``G`` (K, K), the overlaps ``Q`` (K, K), the span part ``Pi`` (K, K) and ``dgain`` (K,), one
#: component's new weights ``row`` (K,) and the factors ``fac`` of ``(F + eps I)^-1`` (:func:`step_work`).
NaturalWork = namedtuple("NaturalWork", "x y h inv_s qn coef psum dgsum dgain out Q G Pi row fac")
#: Work arrays of the chain :func:`natural_overlap_steps_in` (:func:`natural_chain_work`), besides the chain's
#: :data:`~symphase._overlap_sgd.ChainWorkspace`: SGD's state ``h``, ``inv_s``, ``qd`` (K,), one example's
#: coefficients ``d_e``, ``p_e``, ``dg_e``, ``dv_e`` (K,; its ``a`` goes to the chain's ``ws.a[u]``), the factors
#: ``fac`` (:func:`step_work`), the step's ``Gs`` (K, K), its span part ``Pi`` (K, K) and ``dgain`` (K,),
#: ``Cm = I + Pi`` and ``CQ = C Q`` (K, K), the coefficients ``coef`` and ``Cx`` (b, K), the new overlaps ``Qn``
#: (K, K) and ``Rn`` (K, M).
NaturalChainWork = namedtuple("NaturalChainWork", "h inv_s qd d_e p_e dg_e dv_e fac Gs Pi Cm CQ dgain coef Cx Qn Rn")

#: :func:`symphase._generated.fisher.pair_averages` compiled (it is plain generated Python).
_pair_averages = numba.njit(cache=True, nogil=True, error_model="numpy")(pair_averages)


def check_supported(model, what: str = "simulate(method='weights')"):
    """Refuse (``ValueError``, one line naming the option) what the preconditioned weights simulator does
    not run yet: ``preconditioner='adaptive'``, the two-layer network and ReLU (docs/model.md §14)."""
    if model.preconditioner not in MODES:
        raise ValueError(f"preconditioner: {what} runs preconditioner='natural' or 'unitwise'; "
                         f"preconditioner={model.preconditioner!r} is not built yet (docs/model.md §14)")
    if not model.is_committee:
        raise ValueError(f"model: {what} with preconditioner={model.preconditioner!r} runs the soft committee "
                         f"machine only (erf, second layers fixed at 1, scaling 'sum', no weight decay); "
                         f"got {model.describe()}")


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _solve(A, rhs):
    """Solve ``A z = rhs`` in place by Gaussian elimination with partial pivoting (``A`` is overwritten,
    ``rhs`` becomes ``z``). False where a pivot is zero or not finite (``A`` singular numerically)."""
    n = A.shape[0]
    for c in range(n):
        p = c
        best = abs(A[c, c])
        for r in range(c + 1, n):
            if abs(A[r, c]) > best:
                best, p = abs(A[r, c]), r
        if not (best > 0.0) or not math.isfinite(best):
            return False
        if p != c:
            for j in range(n):
                A[c, j], A[p, j] = A[p, j], A[c, j]
            rhs[c], rhs[p] = rhs[p], rhs[c]
        for r in range(c + 1, n):
            f = A[r, c] / A[c, c]
            if f != 0.0:
                for j in range(c, n):
                    A[r, j] -= f * A[c, j]
                rhs[r] -= f * rhs[c]
    for c in range(n - 1, -1, -1):
        acc = rhs[c]
        for j in range(c + 1, n):
            acc -= A[c, j] * rhs[j]
        rhs[c] = acc / A[c, c]
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _zero(A):
    """``A[:, :] = 0.0`` as a plain loop (the slice assignment costs more than the loop at these sizes)."""
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            A[i, j] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _lmat_entry(i, a, p, q, Q, Bm, E31, E22, E13):
    """The entry ``(i K + a, p K + q)`` of the matrix of ``Gamma -> B Gamma + c(Gamma Q)``: its column for a unit
    ``Gamma = e_pq`` (``Y = Gamma Q``, ``Y[k, a] = delta_kp Q[q, a]``) through
    :func:`symphase._generated.natural.span_coefficients`'s expression (the same operations, the zero terms of
    its sums dropped). Nonzero only for ``a`` in ``{i, p, q}``."""
    yaa = Q[q, a] if a == p else 0.0
    yai = Q[q, i] if a == p else 0.0
    c = E13[i, a] * yaa + E22[i, a] * yai
    if a == i:
        c += E22[i, p] * Q[q, p] + E31[i, p] * Q[q, i]
    return c + (Bm[i, p] if a == q else 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_by_columns(B, work, Binv):
    """``Binv = B^-1`` column by column, each by :func:`_solve` on a fresh copy of ``B`` in ``work`` (partial
    pivoting: any ``B`` that is not singular numerically). False where it is."""
    K = B.shape[0]
    for j in range(K):
        for i in range(K):
            for k in range(K):
                work[i, k] = B[i, k]
            Binv[i, j] = 1.0 if i == j else 0.0
        if not _solve(work, Binv[:, j]):
            return False
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def _factors_into(Q, h, tau, mode, damping, lmat, fac):
    """:func:`fisher_factors` with the span operator's form chosen by ``lmat``: 0 none, 1 the full ``K^2 x K^2``
    matrix ``Lmat``, 2 (:data:`UNITWISE` only) ``B``'s diagonal in ``Lmat[:K, 0]``, all that the unitwise solve
    needs besides ``E``, ``Q`` (:func:`_unitwise_gamma`). ``Y``, ``C`` are scratch; nothing is allocated."""
    Binv, Lmat, E31, E22, E13, Bm, C = fac
    K = Q.shape[0]
    # the pair averages of (i, k) give those of (k, i) with E31 and E13 exchanged (pair_averages(b, a, c)
    # computes the same products in another order: t0 t1 = t1 t0)
    for i in range(K):
        for k in range(i, K):
            if mode == DAMPING_ONLY or (mode == UNITWISE and i != k):
                e11 = e31 = e22 = e13 = 0.0
            else:
                e11, e31, e22, e13 = _pair_averages(tau * h[i] * h[i] * Q[i, i], tau * h[k] * h[k] * Q[k, k],
                                                    tau * h[i] * h[k] * Q[i, k])
            Bm[i, k] = h[i] * h[k] * tau * e11 + (damping if i == k else 0.0)
            Bm[k, i] = Bm[i, k]
            E31[i, k] = tau * tau * e31
            E22[i, k] = E22[k, i] = tau * tau * e22
            E13[i, k] = tau * tau * e13
            E31[k, i] = E13[i, k]
            E13[k, i] = E31[i, k]
    if mode == DAMPING_ONLY:
        _zero(Binv)
        for i in range(K):
            Binv[i, i] = 1.0 / damping
        return True
    if lmat == 1:
        _zero(Lmat)
        for p in range(K):
            for q in range(K):
                for i in range(K):
                    Lmat[i * K + i, p * K + q] = _lmat_entry(i, i, p, q, Q, Bm, E31, E22, E13)
                    if p != i:
                        Lmat[i * K + p, p * K + q] = _lmat_entry(i, p, p, q, Q, Bm, E31, E22, E13)
                    if q != i and q != p:
                        Lmat[i * K + q, p * K + q] = _lmat_entry(i, q, p, q, Q, Bm, E31, E22, E13)
    elif lmat == 2:  # unitwise: the solve (span_step) needs B's diagonal besides the E's and Q
        for i in range(K):
            Lmat[i, 0] = Bm[i, i]
    if mode == UNITWISE:  # B diagonal
        _zero(Binv)
        for i in range(K):
            if not (abs(Bm[i, i]) > 0.0) or not math.isfinite(Bm[i, i]):
                return False
            Binv[i, i] = 1.0 / Bm[i, i]
        return True
    # B = A + eps I is symmetric positive definite at a Gram matrix Q: B = L D L^T (L unit lower triangular,
    # strictly below C's diagonal, D on it; no square roots: at K = 1, or B diagonal, B^-1 = 1/B_ii as unitwise),
    # B^-1 = L^-T D^-1 L^-1. Elsewhere (an ODE's finite-difference Jacobian steps off the Gram matrices) B may be
    # indefinite: then one elimination with partial pivoting per column (_inverse_by_columns).
    for j in range(K):
        acc = Bm[j, j]
        for m in range(j):
            acc -= C[j, m] * C[j, m] * C[m, m]
        if not (acc > 0.0) or not math.isfinite(acc):
            return _inverse_by_columns(Bm, C, Binv)
        C[j, j] = acc
        for i in range(j + 1, K):
            acc = Bm[i, j]
            for m in range(j):
                acc -= C[i, m] * C[j, m] * C[m, m]
            C[i, j] = acc / C[j, j]
    for j in range(K):  # Binv's upper triangle holds L^-1 transposed: Binv[j, r] = (L^-1)[r, j], r >= j
        Binv[j, j] = 1.0
        for r in range(j + 1, K):
            acc = -C[r, j]
            for m in range(j + 1, r):
                acc -= C[r, m] * Binv[j, m]
            Binv[j, r] = acc
    for i in range(K):  # (L^-T D^-1 L^-1)_ik = sum_{m >= i} (L^-1)_mi (L^-1)_mk / D_m, k <= i, into Bm
        for k in range(i + 1):
            acc = 0.0
            for m in range(i, K):
                acc += Binv[i, m] * Binv[k, m] / C[m, m]
            Bm[i, k] = acc
    for i in range(K):
        for k in range(i + 1):
            Binv[i, k] = Binv[k, i] = Bm[i, k]
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fisher_factors(Q, h, tau, mode, damping, span, fac):
    """The factors of ``(F + eps I)^-1`` at the overlaps ``Q = J J^T`` (docs/model.md §14.2), in place:

    ``Binv = (A + eps I)^-1`` (K, K), the bulk ``A_ik = h_i h_k tau E11_ik`` (``h`` the scale factors: 1
    plain, ``g_i/(sigma sqrt Q_ii)`` under BN; the pair averages at ``C = tau h Q h``); and, if ``span``
    (the plain network's closed form), ``E31``, ``E22``, ``E13`` (K, K) the span part's averages times
    ``tau^2`` and ``Lmat`` (K^2, K^2) the matrix of ``Gamma -> (A + eps I) Gamma + c(Gamma Q)`` (row and
    column index ``i K + a``). ``mode``: :data:`NATURAL` (all blocks), :data:`UNITWISE` (the diagonal blocks
    ``i = k`` only) or :data:`DAMPING_ONLY` (``F = 0``: ``Binv = I/eps``, ``Lmat`` unused).
    ``fac = (Binv, Lmat, E31, E22, E13, Y, C)``, ``Y`` and ``C`` (K, K) scratch. False where ``A + eps I`` is
    singular numerically (not positive definite: it is ``A``, a covariance, plus ``eps I``). ``B^-1`` from one
    factorisation ``B = L D L^T`` (``1/B_ii`` where ``B`` is diagonal, as under :data:`UNITWISE`); nothing is
    allocated (:func:`_factors_into`).
    """
    return _factors_into(Q, h, tau, mode, damping, 1 if span else 0, fac)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cholesky(Q, L):
    """``Q = L L^T`` (``L`` lower triangular, in place); False unless ``Q`` is positive definite numerically."""
    K = Q.shape[0]
    _zero(L)
    for i in range(K):
        for k in range(i + 1):
            acc = Q[i, k]
            for m in range(k):
                acc -= L[i, m] * L[k, m]
            if i == k:
                if not (acc > 0.0) or not math.isfinite(acc):
                    return False
                L[i, i] = math.sqrt(acc)
            else:
                L[i, k] = acc / L[k, k]
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def realized_fisher(L, h, gv, tau, bn, learned, unitwise, F):
    """The Fisher ``F`` of the weights realised in ``span(J)``: rows ``J_i -> L[i]`` (``L L^T = Q``, K inputs),
    parameter order ``[J_i (K numbers) for each i, g (learned gain)]`` (``K^2 (+ K)`` square, written into
    ``F``), as :func:`symphase._curvature.fisher_closed_form` (docs/model.md §10, §14.2):
    ``F_{J_i J_k} = h_i h_k P_i (tau E11 I + tau^2 [h_i^2 E31 J_i J_i^T + h_i h_k E22 (J_i J_k^T + J_k J_i^T)
    + h_k^2 E13 J_k J_k^T]) P_k`` with ``P_i = I - J_i J_i^T/Q_ii`` under BN (identity plain), and the gain rows.
    ``unitwise``: the blocks of different units set to zero. This is ``F`` restricted to
    ``R^K (x) span(J)`` (and the gains), which ``F`` maps to itself."""
    K = L.shape[0]
    _realized_into(L, h, gv, tau, bn, learned, unitwise, False, F,
                   (np.empty(K), np.empty((K, K, K)), np.empty((K, K)), np.empty((K, K)), np.empty(K)))


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def _realized_into(L, h, gv, tau, bn, learned, unitwise, compact, F, rw):
    """:func:`realized_fisher` with its scratch ``rw = (q (K,), P (K, K, K), Mt (K, K), T (K, K), vec (K,))``:
    the projections ``P_i`` once per call, each block ``P_i M P_k`` as two ``K x K`` products
    (``T = P_i M``, then ``T P_k``), the blocks ``k < i`` as the transposes of ``(k, i)`` (F is symmetric).
    ``compact`` (with ``unitwise``): unit ``i``'s block alone (its ``J_i`` then its gain, ``nb = K (+ 1)``
    square) in ``F[i nb:(i + 1) nb, :nb]``, the rest of ``F`` untouched (:func:`_unitwise_solve`)."""
    q, P, Mt, T, vec = rw
    K = L.shape[0]
    nb = K + (1 if learned else 0)
    compact = compact and unitwise
    if compact:
        for r in range(K * nb):
            for c in range(nb):
                F[r, c] = 0.0
    else:
        _zero(F)
    for i in range(K):
        acc = 0.0
        for m in range(K):
            acc += L[i, m] * L[i, m]
        q[i] = acc
    for i in range(K):
        for r in range(K):
            for c in range(K):
                P[i, r, c] = (1.0 if r == c else 0.0) - (L[i, r] * L[i, c] / q[i] if bn else 0.0)
    for i in range(K):
        for k in range(K):
            if unitwise and i != k:
                continue
            qik = 0.0
            for m in range(K):
                qik += L[i, m] * L[k, m]
            cii, ckk, cik = tau * h[i] * h[i] * q[i], tau * h[k] * h[k] * q[k], tau * h[i] * h[k] * qik
            e11, e31, e22, e13 = _pair_averages(cii, ckk, cik)
            ri, rk = (i * nb, k * nb) if compact else (i * K, k * K)  # rows of J_i, J_k
            ci, ck = (0, 0) if compact else (i * K, k * K)  # their columns
            gi, gk = (i * nb + K, K) if compact else (K * K + i, K * K + k)  # the row of g_i, the column of g_k
            if k >= i:
                for r in range(K):
                    for c in range(K):
                        Mt[r, c] = (tau * e11 * (1.0 if r == c else 0.0)
                                    + tau * tau * (h[i] * h[i] * e31 * L[i, r] * L[i, c]
                                                   + h[i] * h[k] * e22 * (L[i, r] * L[k, c] + L[k, r] * L[i, c])
                                                   + h[k] * h[k] * e13 * L[k, r] * L[k, c]))
                for r in range(K):
                    for c in range(K):
                        acc = 0.0
                        for m in range(K):
                            acc += P[i, r, m] * Mt[m, c]
                        T[r, c] = acc
                for r in range(K):
                    for c in range(K):
                        acc = 0.0
                        for n in range(K):
                            acc += T[r, n] * P[k, n, c]
                        F[ri + r, ck + c] = F[rk + c, ci + r] = h[i] * h[k] * acc
            if learned:
                F[gi, gk] = ((cik * e11 + cii * cik * e31 + (cii * ckk + cik * cik) * e22 + cik * ckk * e13)
                             / (gv[i] * gv[k]))
                for m in range(K):
                    vec[m] = tau * (h[i] * L[i, m] * (cik * e31 + ckk * e22)
                                    + h[k] * L[k, m] * (cik * e22 + ckk * e13 + e11))
                for r in range(K):
                    acc = 0.0
                    for m in range(K):
                        acc += P[i, r, m] * vec[m]
                    F[ri + r, gk] = h[i] * acc / gv[k]
                    F[(k * nb + K) if compact else gk, ci + r] = h[i] * acc / gv[k]


@numba.njit(cache=True, nogil=True)
def step_work(K, learn):
    """The work arrays of :func:`step_factors` and :func:`span_step`: ``(Binv, Lmat, E31, E22, E13, Yw, Cw,
    rhs, Lc, Fr, rr, cvec, tvec, rw, rb)``, ``rw`` the scratch of :func:`realized_fisher` (``q``, ``P``,
    ``Mt``, ``T``, ``vec``) and ``rb`` (K + 1,) the right-hand side of one unit's block of the unitwise BN solve;
    allocated once per kernel call, nothing in the step allocates. The solves overwrite ``Lmat`` and ``Fr`` only
    (:mod:`symphase._natural_sde` restores those two)."""
    nr = K * K + (K if learn else 0)
    rw = (np.zeros(K), np.zeros((K, K, K)), np.zeros((K, K)), np.zeros((K, K)), np.zeros(K))
    return (np.zeros((K, K)), np.zeros((K * K, K * K)), np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K)),
            np.zeros((K, K)), np.zeros((K, K)), np.zeros(K * K), np.zeros((K, K)), np.zeros((nr, nr)), np.zeros(nr),
            np.zeros((K, K)), np.zeros(K), rw, np.zeros(K + 1))


@numba.njit(cache=True, nogil=True)
def natural_work(K, M, learn):
    """Fresh :data:`NaturalWork` for ``K`` students and ``M`` teachers (``learn``: the gain is learned, which sizes
    :func:`step_work`'s BN system); :func:`natural_steps` builds one per call."""
    raw = np.zeros(K)
    return NaturalWork(x=np.empty(K), y=np.empty(M), h=np.ones(K), inv_s=np.ones(K), qn=np.zeros(K), coef=np.zeros(K),
                       psum=np.zeros(K), dgsum=np.zeros(K), dgain=np.zeros(K),
                       out=(np.zeros(K), raw, np.zeros(K), np.zeros(K), np.zeros(K)), Q=np.zeros((K, K)),
                       G=np.zeros((K, K)), Pi=np.zeros((K, K)), row=np.zeros(K), fac=step_work(K, learn))


@numba.njit(cache=True, nogil=True)
def natural_chain_work(K, M, b, learn):
    """Fresh :data:`NaturalChainWork` for ``K`` students, ``M`` teachers, the minibatch ``b`` (``learn``: the gain
    is learned, which sizes :func:`step_work`'s BN system); :func:`natural_overlap_steps` builds one per call."""
    return NaturalChainWork(h=np.ones(K), inv_s=np.ones(K), qd=np.empty(K), d_e=np.empty(K), p_e=np.empty(K),
                            dg_e=np.empty(K), dv_e=np.empty(K), fac=step_work(K, learn), Gs=np.zeros((K, K)),
                            Pi=np.zeros((K, K)), Cm=np.zeros((K, K)), CQ=np.zeros((K, K)), dgain=np.zeros(K),
                            coef=np.zeros((b, K)), Cx=np.zeros((b, K)), Qn=np.zeros((K, K)), Rn=np.zeros((K, M)))


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def step_factors(Q, h, g, tau, mode, damping, bn, learn, work):
    """The factors of ``(F + eps I)^-1`` at the state ``(Q, g)`` before a step (docs/model.md §14.2), into
    ``work`` (:func:`step_work`): the bulk's ``B^-1`` and, plain, the ``K^2 x K^2`` matrix of ``Gamma``
    (:func:`fisher_factors`); under BN the Cholesky factor ``L`` of ``Q`` and ``F_r + eps I``
    (:func:`realized_fisher`). False where they do not exist numerically. Under :data:`UNITWISE` (plain) the
    ``Gamma`` matrix is not built: its solve is in closed form (:func:`_unitwise_gamma`)."""
    Binv, Lmat, E31, E22, E13, Yw, Cw, _rhs, Lc, Fr, _rr, _cvec, _tvec, rw, _rb = work
    lmat = 0 if bn else (2 if mode == UNITWISE else 1)
    if not _factors_into(Q, h, tau, mode, damping, lmat, (Binv, Lmat, E31, E22, E13, Yw, Cw)):
        return False
    if bn and mode != DAMPING_ONLY:
        if not _cholesky(Q, Lc):
            return False
        unitwise = mode == UNITWISE
        _realized_into(Lc, h, g, tau, True, learn, unitwise, True, Fr, rw)
        if unitwise:  # the blocks of the units, compact (_unitwise_solve)
            nb = Fr.shape[0] // Q.shape[0]
            for i in range(Q.shape[0]):
                for r in range(nb):
                    Fr[i * nb + r, r] += damping
        else:
            for r in range(Fr.shape[0]):
                Fr[r, r] += damping
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def span_coordinates(Lc, G, cvec, rr):
    """``cvec_m = L^-1 G_m`` by forward substitution (``Q = L L^T``, ``Lc`` = L; ``G_m`` the rows of the first
    ``K`` columns of ``G``): the coordinates of a step's span part in the orthonormal basis ``U = J^T L^-T``
    (module docstring), also written row by row into ``rr[:K^2]``, the right-hand side of the span solve.
    Shared by the weights' step and its ODE (:func:`symphase._natural_ode._bn_rhs`)."""
    K = Lc.shape[0]
    for m in range(K):
        for r in range(K):
            acc = G[m, r]
            for c in range(r):
                acc -= Lc[r, c] * cvec[m, c]
            cvec[m, r] = acc / Lc[r, r]
            rr[m * K + r] = cvec[m, r]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def add_span_gamma(rr, Binv, cvec, Lc, learn, target, dgain, tvec):
    """BN's span part from the solve ``rr = (F_r + eps I)^-1 (c, dg)`` (docs/model.md §14):
    ``target_i += Gamma_i = L^-T (d_i - sum_k B^-1_ik c_k)`` (back substitution with the Cholesky factor
    ``Lc`` of ``Q``; ``d_i`` the ``K`` entries of ``rr`` from ``i K``) and, with a learned gain,
    ``dgain_i = rr[K^2 + i]``; ``tvec`` (K,) is scratch. Shared by the weights' step and its ODE."""
    K = Binv.shape[0]
    for i in range(K):
        for r in range(K):
            acc = rr[i * K + r]
            for k in range(K):
                acc -= Binv[i, k] * cvec[k, r]
            tvec[r] = acc
        for r in range(K - 1, -1, -1):
            acc = tvec[r]
            for c in range(r + 1, K):
                acc -= Lc[c, r] * tvec[c]
            tvec[r] = acc / Lc[r, r]
        for a in range(K):
            target[i, a] += tvec[a]
        if learn:
            dgain[i] = rr[K * K + i]


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def _unitwise_gamma(Q, Lmat, E31, E22, E13, rhs):
    """``rhs <- Gamma``, the solution of ``B Gamma + c(Gamma Q) = rhs`` (row and column index ``i K + a``) for
    :data:`UNITWISE` (``B`` and the ``E``'s diagonal; ``B_ii = Lmat[i, 0]``, :func:`_factors_into`): unit ``i``
    couples with itself only, so each row ``Gamma_i`` solves its own ``K x K`` system
    ``B_ii Gamma_ia + delta_ia sum_q s_iq Gamma_iq = rhs_ia``, ``s_iq = (E13_ii + 2 E22_ii + E31_ii) Q_qi`` (the
    matrix of :func:`_lmat_entry`'s block ``(i, i)``: ``B_ii I`` plus one row), in closed form:
    ``Gamma_ia = rhs_ia/B_ii`` (``a != i``), ``Gamma_ii = (rhs_ii - sum_{q != i} s_iq Gamma_iq)/(B_ii + s_ii)``.
    ``O(K^2)`` for all ``K`` rows, against ``O(K^6)`` for the dense ``K^2 x K^2`` solve. False where a
    denominator is zero or not finite (the system singular numerically)."""
    K = Q.shape[0]
    for i in range(K):
        bii = Lmat[i, 0]
        acc = rhs[i * K + i]
        for q in range(K):
            if q != i:
                x = rhs[i * K + q] / bii
                rhs[i * K + q] = x
                acc -= ((E13[i, i] * Q[q, i] + E22[i, i] * Q[q, i]) + (E22[i, i] * Q[q, i] + E31[i, i] * Q[q, i])) * x
        den = (E13[i, i] * Q[i, i] + E22[i, i] * Q[i, i]) + (E22[i, i] * Q[i, i] + E31[i, i] * Q[i, i]) + bii
        if not (abs(den) > 0.0) or not math.isfinite(den):
            return False
        rhs[i * K + i] = acc / den
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def _unitwise_solve(Fr, rr, K, learn, rb):
    """``rr <- (F_r + eps I)^-1 rr`` for the block-diagonal unitwise ``F_r``, its blocks compact in ``Fr``
    (:func:`_realized_into`): unit ``i``'s (``J_i`` then, with a learned gain, ``g_i``: ``nb = K (+ 1)``
    square, ``Fr[i nb:(i + 1) nb, :nb]``) solved alone against ``rr``'s entries ``i K .. i K + K - 1`` (and
    ``K^2 + i``) gathered in ``rb``; ``O(K^4)`` for all ``K`` (the dense solve of the whole matrix does the same
    operations on each block: its other entries are zero). False where a block is singular numerically."""
    nb = K + (1 if learn else 0)
    for i in range(K):
        for r in range(nb):
            rb[r] = rr[i * K + r if r < K else K * K + i]
        if not _solve(Fr[i * nb:(i + 1) * nb, :nb], rb[:nb]):
            return False
        for r in range(nb):
            rr[i * K + r if r < K else K * K + i] = rb[r]
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def span_step(Q, G, psum, dgsum, mode, bn, learn, work, Pi, dgain):
    """The part of a preconditioned step inside ``span(J)`` and the gains (docs/model.md §14.2), from SGD's
    summed coefficients: ``G[m, a] = sum_u a_um x_ua`` (updated in place to ``J_a . Delta J_m``, i.e. minus
    ``p_m Q_ma``), ``psum`` (``sum_u p_um``), ``dgsum`` (the gain steps), with :func:`step_factors` in
    ``work``. Writes ``Pi`` (K, K), ``J_i += sum_a Pi_ia J_a`` (besides the ``xi`` part ``B^-1 a_u``), and
    the gain step ``dgain``; plain ``Pi = -B^-1 diag(p) + Gamma``, BN ``Pi = -B^-1 diag(p) + L^-T (d_J - B^-1 c)``,
    ``dgain = d_g``. False where the solve fails or the result is not finite."""
    Binv, Lmat, E31, E22, E13, Yw, Cw, rhs, Lc, Fr, rr, cvec, tvec, _rw, rb = work
    K = Q.shape[0]
    for m in range(K):
        for a in range(K):
            G[m, a] -= psum[m] * Q[m, a]
    for i in range(K):
        for a in range(K):
            Pi[i, a] = -Binv[i, a] * psum[a]
        dgain[i] = Binv[i, i] * dgsum[i] if mode == DAMPING_ONLY else 0.0
    if mode != DAMPING_ONLY and not bn:
        for k in range(K):
            for a in range(K):
                acc = 0.0
                for m in range(K):
                    acc += Binv[k, m] * G[m, a]
                Yw[k, a] = acc
        span_coefficients(Yw, E31, E22, E13, Cw)
        for i in range(K):
            for a in range(K):
                rhs[i * K + a] = -Cw[i, a]
        if mode == UNITWISE:
            if not _unitwise_gamma(Q, Lmat, E31, E22, E13, rhs):
                return False
        elif not _solve(Lmat, rhs):
            return False
        for i in range(K):
            for a in range(K):
                Pi[i, a] += rhs[i * K + a]
    elif mode != DAMPING_ONLY:
        # c_m = L^-1 G_m: the coordinates of the step's span part in the basis U = J^T L^-T
        span_coordinates(Lc, G, cvec, rr)
        if learn:
            for i in range(K):
                rr[K * K + i] = dgsum[i]
        if mode == UNITWISE:
            if not _unitwise_solve(Fr, rr, K, learn, rb):
                return False
        elif not _solve(Fr, rr):
            return False
        add_span_gamma(rr, Binv, cvec, Lc, learn, Pi, dgain, tvec)
    for i in range(K):
        if not math.isfinite(dgain[i]):
            return False
        for a in range(K):
            if not math.isfinite(Pi[i, a]):
                return False
    return True


@numba.njit(cache=True, nogil=True)
def natural_steps(Jt, g, v, n_steps, s, wa, mode, damping):
    """:func:`natural_steps_in` with fresh work arrays (:func:`natural_work`, built once per call: this wrapper
    is the one part of the call that allocates, and counts references, the steps do neither)."""
    nw = natural_work(Jt.shape[1], wa.Bt.shape[1], wa.par[LEARN_GAIN] != 0.0)
    return natural_steps_in(Jt, g, v, n_steps, s, wa, mode, damping, nw)


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def natural_steps_in(Jt, g, v, n_steps, s, wa, mode, damping, nw):
    """:func:`natural_steps_with` for SGD's coefficients (:func:`symphase._generated.rule.sgd_example`), its
    scratch in ``nw`` (:data:`NaturalWork`); it allocates nothing, so it runs without Numba's reference
    counting (``NO_NRT``)."""
    return natural_steps_with(sgd_example, Jt, g, v, n_steps, s, wa, mode, damping, nw)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def natural_steps_with(example, Jt, g, v, n_steps, s, wa, mode, damping, nw):
    """Advance ``n_steps`` preconditioned steps ``theta += (F + eps I)^-1 Delta theta_SGD`` in place
    (docs/model.md §14).

    The arguments are :func:`symphase._sgd.sgd_steps_with`'s (``wa`` its :data:`~symphase._sgd.WeightArgs`; the same
    random stream: the same examples and noise as SGD from the same state), plus ``mode`` (:data:`NATURAL`,
    :data:`UNITWISE`, :data:`DAMPING_ONLY`), ``damping`` ``eps > 0`` and the work arrays ``nw`` (:data:`NaturalWork`,
    :func:`natural_work`; ``h`` and ``inv_s`` are reset to 1, everything else is written before it is read). ``F``
    is the exact population Fisher at the weights before each step, from ``Q = J J^T`` (and ``g``): ``theta = J``
    (plain, BN with a fixed gain) or ``(J, g)`` (BN with a learned gain). Per step, with ``a_ui``, ``p_i``, ``dg_i``
    SGD's coefficients (``Delta J_i = sum_u a_ui xi_u - p_i J_i``, ``Delta g_i = dg_i``) and ``G_ma = sum_u a_um
    x_ua - p_m Q_ma`` (``= J_a . Delta J_m``): ``J_i += sum_u [B^-1 a_u]_i xi_u + sum_a Pi_ia J_a`` with
    ``B = A + eps I`` the bulk and ``Pi = -B^-1 diag(p) + Gamma``:

    * plain: ``Gamma`` solves ``B Gamma + c(Gamma Q) = -c(B^-1 G)`` (:func:`fisher_factors`);
    * BN: in the orthonormal basis ``U = J^T L^-T`` of ``span(J)`` (``Q = L L^T``) the span part of the step
      is ``d = (F_r + eps I)^-1 (c, dg)`` with ``c_m = L^-1 G_m`` and ``F_r`` :func:`realized_fisher`, and
      ``Gamma_i = L^-T (d_i - sum_k B^-1_ik c_k)``, ``Delta g = d_g``.

    Returns the number of steps done before the weights became non-finite, some ``|J_i|^2 > blowup`` (or
    ``<= 0`` under BN), or ``F + eps I`` singular numerically (``n_steps`` if none).
    """
    Bt, vt, par, b, blowup, xi, dJ = wa.Bt, wa.vt, wa.par, wa.b, wa.blowup, wa.ws.xi, wa.ws.dJ
    N, K = Jt.shape
    M = Bt.shape[1]
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    tau = par[TAU]
    consts = rule_constants(par, N, b)
    x, y, h, inv_s, qn, coef, psum, dgsum = nw.x, nw.y, nw.h, nw.inv_s, nw.qn, nw.coef, nw.psum, nw.dgsum
    dgain, out, Q, G, Pi, row, work = nw.dgain, nw.out, nw.Q, nw.G, nw.Pi, nw.row, nw.fac
    raw = out[1]  # SGD's a_i of one example; coef: its preconditioned xi coefficient B^-1 a
    for i in range(K):
        h[i] = 1.0
        inv_s[i] = 1.0
    state = (h, inv_s, qn, v, vt)
    Binv = work[0]
    if b > 1:
        dJ[:, :] = 0.0
    for i in range(K):
        for k in range(i, K):
            acc = 0.0
            for l in range(N):
                acc += Jt[l, i] * Jt[l, k]
            Q[i, k] = Q[k, i] = acc
    pending = False
    for step in range(n_steps):
        for u in range(b):
            for i in range(K):
                x[i] = 0.0
            for n in range(M):
                y[n] = 0.0
            if u == 0 and pending:
                # apply the previous step, draw this example, fields and Q with the new weights
                Q[:, :] = 0.0
                for l in range(N):
                    old = xi[l]
                    z = sigma * next_normal(s)
                    xi[l] = z
                    for i in range(K):
                        w = (1.0 + Pi[i, i]) * Jt[l, i]
                        for a in range(K):
                            if a != i:
                                w += Pi[i, a] * Jt[l, a]
                        if b == 1:
                            row[i] = w + coef[i] * old
                        else:
                            row[i] = w + (dJ[l, i] + coef[i] * old)
                            dJ[l, i] = 0.0
                    for i in range(K):
                        w = row[i]
                        Jt[l, i] = w
                        x[i] += w * z
                        for k in range(i, K):
                            Q[i, k] += w * row[k]
                    for n in range(M):
                        y[n] += Bt[l, n] * z
                for i in range(K):
                    for k in range(i + 1, K):
                        Q[k, i] = Q[i, k]
                if learn:
                    for i in range(K):
                        g[i] += dgain[i]
            elif u == 0:
                draw_input(s, sigma, Jt, Bt, xi, x, y)
            else:
                # accumulate the previous example of this batch, draw this one
                for l in range(N):
                    old = xi[l]
                    z = sigma * next_normal(s)
                    xi[l] = z
                    for i in range(K):
                        dJ[l, i] += coef[i] * old
                        x[i] += Jt[l, i] * z
                    for n in range(M):
                        y[n] += Bt[l, n] * z
            if u == 0:
                for i in range(K):
                    if not (Q[i, i] <= blowup) or (bn and not (Q[i, i] > 0.0)):
                        return step
                    qn[i] = Q[i, i]
                    if bn:
                        inv_s[i] = 1.0 / (sigma * math.sqrt(Q[i, i]))
                        h[i] = g[i] * inv_s[i]
                    psum[i] = 0.0
                    dgsum[i] = 0.0
                    for a in range(K):
                        G[i, a] = 0.0
                if not step_factors(Q, h, g, tau, mode, damping, bn, learn, work):
                    return step
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            example(x, y, noise, state, consts, out)
            for i in range(K):
                acc = 0.0
                for k in range(K):
                    acc += Binv[i, k] * raw[k]
                coef[i] = acc
                psum[i] += out[2][i]
                dgsum[i] += out[3][i]
                for a in range(K):
                    G[i, a] += raw[i] * x[a]
        if not span_step(Q, G, psum, dgsum, mode, bn, learn, work, Pi, dgain):
            return step
        pending = True
    if pending:  # flush the last step
        for l in range(N):
            old = xi[l]
            for i in range(K):
                w = (1.0 + Pi[i, i]) * Jt[l, i]
                for a in range(K):
                    if a != i:
                        w += Pi[i, a] * Jt[l, a]
                row[i] = w + coef[i] * old if b == 1 else w + (dJ[l, i] + coef[i] * old)
            for i in range(K):
                Jt[l, i] = row[i]
        if learn:
            for i in range(K):
                g[i] += dgain[i]
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        if not (acc <= blowup) or (bn and not (acc > 0.0)) or not math.isfinite(g[i]):
            return n_steps - 1
    return n_steps


@numba.njit(cache=True, nogil=True)
def natural_overlap_steps(Q, R, g, v, n_steps, s, ca, mode, damping):
    """:func:`natural_overlap_steps_in` with fresh work arrays (:func:`natural_chain_work`, built once per call:
    this wrapper is the one part of the call that allocates, and counts references, the steps do neither)."""
    cw = natural_chain_work(R.shape[0], R.shape[1], ca.b, ca.par[LEARN_GAIN] != 0.0)
    return natural_overlap_steps_in(Q, R, g, v, n_steps, s, ca, mode, damping, cw)


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def natural_overlap_steps_in(Q, R, g, v, n_steps, s, ca, mode, damping, cw):
    """The preconditioned update run exactly on the order parameters (docs/model.md §11, §14): the chain of
    :func:`symphase._overlap_sgd.overlap_steps` (the same draws of the fields ``Z`` and the products
    ``S[u, q] = xi^u . xi^q``; ``ca`` its :data:`~symphase._overlap_sgd.ChainArgs`) with the step
    of :func:`natural_steps_with`, ``J_i -> sum_a C_ia J_a + sum_u coef_ui xi^u``, ``C = I + Pi``,
    ``coef_u = B^-1 a_u``; so

        R'_in = sum_a C_ia R_an + sum_u coef_ui y_un,
        Q'_ik = (C Q C^T)_ik + sum_u [(C x_u)_i coef_uk + (C x_u)_k coef_ui] + sum_uq coef_ui coef_qk S_uq,

    and ``g += dgain``. ``F`` depends on the weights only through ``(Q, g)``, so this is exact in distribution
    at any ``N >= K + M + b``. Returns the steps done before the overlaps became non-finite, some
    ``Q_ii > blowup`` (or ``<= 0`` under BN) or ``F + eps I`` singular; -1 if the state stopped being a Gram
    matrix. ``cw`` is the scratch (:data:`NaturalChainWork`; ``h`` and ``inv_s`` are reset to 1, everything else is
    written before it is read): the steps allocate nothing and run without Numba's reference counting (``NO_NRT``)."""
    T, vt, par, N, b, blowup = ca.T, ca.vt, ca.par, ca.N, ca.b, ca.blowup
    ws = ca.ws
    G, L, used, w, Z, S, A, a, dg, c = ws.G, ws.L, ws.used, ws.w, ws.Z, ws.S, ws.A, ws.a, ws.dg, ws.c
    K, M = R.shape
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    consts = rule_constants(par, N, b)
    tau = par[TAU]
    h, inv_s, qd, d_e, p_e, dg_e, dv_e, work = cw.h, cw.inv_s, cw.qd, cw.d_e, cw.p_e, cw.dg_e, cw.dv_e, cw.fac
    Gs, Pi, Cm, CQ, dgain, coef, Cx, Qn, Rn = cw.Gs, cw.Pi, cw.Cm, cw.CQ, cw.dgain, cw.coef, cw.Cx, cw.Qn, cw.Rn
    for i in range(K):
        h[i] = 1.0
        inv_s[i] = 1.0
    state = (h, inv_s, qd, v, vt)
    Binv = work[0]
    for step in range(n_steps):
        rank = ov.gram_factor(Q, R, T, G, L, used)
        if rank < 0:
            return -1
        for i in range(K):
            qd[i] = Q[i, i]
            if bn:
                inv_s[i] = 1.0 / (sigma * math.sqrt(Q[i, i]))
                h[i] = g[i] * inv_s[i]
        ov.draw_batch(L, used, rank, sigma, tau, N, b, s, w, Z, S, A)
        if not step_factors(Q, h, g, tau, mode, damping, bn, learn, work):
            return step
        for i in range(K):
            c[i] = 0.0   # sum_u p_ui
            dg[i] = 0.0  # sum_u dg_ui
            for k in range(K):
                Gs[i, k] = 0.0
        for u in range(b):
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            sgd_example(Z[u, :K], Z[u, K:], noise, state, consts, (d_e, a[u], p_e, dg_e, dv_e))
            for i in range(K):
                c[i] += p_e[i]
                dg[i] += dg_e[i]
                acc = 0.0
                for k in range(K):
                    acc += Binv[i, k] * a[u, k]
                    Gs[i, k] += a[u, i] * Z[u, k]
                coef[u, i] = acc
        if not span_step(Q, Gs, c, dg, mode, bn, learn, work, Pi, dgain):
            return step
        for i in range(K):
            for k in range(K):
                Cm[i, k] = Pi[i, k] + (1.0 if i == k else 0.0)
        for u in range(b):
            for i in range(K):
                acc = 0.0
                for k in range(K):
                    acc += Cm[i, k] * Z[u, k]
                Cx[u, i] = acc
        for i in range(K):
            for n in range(M):
                acc = 0.0
                for k in range(K):
                    acc += Cm[i, k] * R[k, n]
                for u in range(b):
                    acc += coef[u, i] * Z[u, K + n]
                Rn[i, n] = acc
        for i in range(K):
            for n in range(M):
                R[i, n] = Rn[i, n]
        for i in range(K):  # CQ = C Q, then (C Q C^T)_ik = sum_q CQ_iq C_kq: O(K^3)
            for q in range(K):
                acc = 0.0
                for p in range(K):
                    acc += Cm[i, p] * Q[p, q]
                CQ[i, q] = acc
        for i in range(K):
            for k in range(i, K):
                acc = 0.0
                for q in range(K):
                    acc += CQ[i, q] * Cm[k, q]
                for u in range(b):
                    acc += Cx[u, i] * coef[u, k] + Cx[u, k] * coef[u, i]
                    for q in range(b):
                        acc += coef[u, i] * coef[q, k] * S[u, q]
                Qn[i, k] = acc
        for i in range(K):
            for k in range(i, K):
                Q[i, k] = Q[k, i] = Qn[i, k]
            if learn:
                g[i] += dgain[i]
        for i in range(K):
            if not (Q[i, i] <= blowup) or (bn and not (Q[i, i] > 0.0)) or not math.isfinite(g[i]):
                return step
            for n in range(M):
                if not math.isfinite(R[i, n]):
                    return step
    return n_steps
