"""Preconditioned SGD on the weights: natural gradient with the exact population Fisher (docs/model.md §14).

The update of ``Committee(..., preconditioner=...)`` is ``Delta J = (F + eps I)^-1 Delta J_SGD``: the SGD
step of the same examples (:func:`symphase._generated.rule.sgd_example`, ``(eta/N)`` times the
per-example or batch-mean direction ``g_hat``) preconditioned by the damped population Fisher of the
weights at the weights before the step, ``F = <grad s grad s^T>`` over the inputs (the matrix that
:func:`symphase.curvature` reports; Amari 1998; Rattray, Saad & Amari 1998).

For Gaussian inputs of variance ``tau`` and the plain committee machine, Stein's lemma twice gives
(docs/model.md §10, §14.2)

    F_ik = A_ik I_N + tau^2 [E31_ik J_i J_i^T + E22_ik (J_i J_k^T + J_k J_i^T) + E13_ik J_k J_k^T],

``A_ik = tau <phi'(x_i) phi'(x_k)>`` (``tau E11``), ``E31 = <phi''' phi'>``, ``E22 = <phi'' phi''>``,
``E13 = <phi' phi'''>`` at the pair covariance ``tau (Q_ii, Q_kk, Q_ik)``
(:func:`symphase._generated.fisher.pair_averages`). So ``F = A (x) I + (a part inside span(J))``, and
``(F + eps I)^-1 g`` has the closed form ``w_i = sum_k [(A + eps I)^-1]_ik g_k + sum_a Gamma_ia J_a``
with ``Gamma`` (K x K) the solution of one ``K^2 x K^2`` linear system whose data are ``Q = J J^T`` and
``G_ma = J_a . g_m`` (docs/model.md §14.2). A step costs ``O(N K^2)`` (the update, the fields and the new
``Q``, fused into one pass over the ``N`` components as in :func:`symphase._sgd.sgd_steps_with`) plus
``O(K^6)`` for the solve, never an ``NK x NK`` matrix.

``unitwise`` keeps F's diagonal blocks ``F_ii`` only (one per hidden unit): the same formulas with the
off-diagonal ``A_ik``, ``E_ik`` set to zero. The kernel also runs ``F -> 0`` (``mode`` :data:`DAMPING_ONLY`):
SGD at learning rate ``eta/eps``, bit for bit SGD at ``eps = 1`` (the test of its plumbing).

Covered: the plain soft committee machine (erf, second layers fixed at 1, scaling ``"sum"``, no weight
decay), any ``K``, ``M``, batch, output noise and ``tau``, population statistics. Not yet: BN, the
two-layer network, ``adaptive`` (its ``G^-1`` is not of the bulk/span form), the ODE, the chain and the
SDE; :func:`check_supported` refuses them by name.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._generated.fisher import pair_averages
from ._generated.rule import sgd_example
from ._kernels import TAU
from ._rng import next_normal
from ._sgd import rule_constants, step_constants

__all__ = ["DAMPING_ONLY", "MODES", "NATURAL", "UNITWISE", "check_supported", "fisher_factors",
           "natural_steps", "natural_steps_with"]

#: The kernel's ``mode``: F replaced by 0 (SGD at ``eta/eps``), the full F, F's diagonal blocks.
DAMPING_ONLY, NATURAL, UNITWISE = 0, 1, 2
#: The preconditioners the weights simulator runs, by the model's name (docs/model.md §14).
MODES = {"natural": NATURAL, "unitwise": UNITWISE}

#: :func:`symphase._generated.fisher.pair_averages` compiled (it is plain generated Python).
_pair_averages = numba.njit(cache=True, nogil=True, error_model="numpy")(pair_averages)


def check_supported(model, what: str = "simulate(method='weights')"):
    """Refuse (``ValueError``, one line naming the option) what the preconditioned weights simulator does
    not run yet: ``preconditioner='adaptive'``, BN, the two-layer network and ReLU (docs/model.md §14)."""
    if model.preconditioner not in MODES:
        raise ValueError(f"preconditioner: {what} runs preconditioner='natural' or 'unitwise'; "
                         f"preconditioner={model.preconditioner!r} is not built yet (docs/model.md §14)")
    if model.has_bn:
        raise ValueError(f"bn: {what} with preconditioner={model.preconditioner!r} runs the plain network only "
                         f"(bn=None); BN's Fisher (the gain block, the projections P_i) is not built yet; "
                         f"got bn={model.bn!r}")
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _span_coefficients(Y, E31, E22, E13, out):
    """The coefficients ``out[i, a]`` on ``J_a`` of the span part of ``F w`` (``tau^2`` inside the ``E``),
    from ``Y[k, a] = J_a . w_k`` (docs/model.md §14.2):
    ``c_ia = delta_ia sum_k (E31_ik Y_ki + E22_ik Y_kk) + E22_ia Y_ai + E13_ia Y_aa``."""
    K = Y.shape[0]
    for i in range(K):
        diag = 0.0
        for k in range(K):
            diag += E31[i, k] * Y[k, i] + E22[i, k] * Y[k, k]
        for a in range(K):
            c = E22[i, a] * Y[a, i] + E13[i, a] * Y[a, a]
            out[i, a] = c + diag if a == i else c


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fisher_factors(Q, tau, mode, damping, Binv, Lmat, E31, E22, E13, Y, C):
    """The factors of ``(F + eps I)^-1`` at the overlaps ``Q = J J^T`` (docs/model.md §14.2), in place:

    ``Binv = (A + eps I)^-1`` (K, K), ``A_ik = tau E11_ik``; ``E31``, ``E22``, ``E13`` (K, K) the span
    part's averages times ``tau^2``; ``Lmat`` (K^2, K^2) the matrix of ``Gamma -> (A + eps I) Gamma +
    c(Gamma Q)`` (row and column index ``i K + a``). ``mode``: :data:`NATURAL` (all blocks),
    :data:`UNITWISE` (the diagonal blocks ``i = k`` only) or :data:`DAMPING_ONLY` (``F = 0``: ``Binv = I/eps``,
    ``Lmat`` unused). ``Y``, ``C`` (K, K) are work arrays. False where ``A + eps I`` is singular numerically.
    """
    K = Q.shape[0]
    Bm = np.zeros((K, K))
    for i in range(K):
        for k in range(K):
            if mode == DAMPING_ONLY or (mode == UNITWISE and i != k):
                e11 = e31 = e22 = e13 = 0.0
            else:
                e11, e31, e22, e13 = _pair_averages(tau * Q[i, i], tau * Q[k, k], tau * Q[i, k])
            Bm[i, k] = tau * e11 + (damping if i == k else 0.0)
            E31[i, k] = tau * tau * e31
            E22[i, k] = tau * tau * e22
            E13[i, k] = tau * tau * e13
    Binv[:, :] = 0.0
    if mode == DAMPING_ONLY:
        for i in range(K):
            Binv[i, i] = 1.0 / damping
        return True
    col = np.empty(K)
    for j in range(K):
        work = Bm.copy()
        for i in range(K):
            col[i] = 1.0 if i == j else 0.0
        if not _solve(work, col):
            return False
        for i in range(K):
            Binv[i, j] = col[i]
    # the matrix of Gamma -> B Gamma + c(Gamma Q), one unit Gamma = e_pq per column
    for p in range(K):
        for q in range(K):
            for k in range(K):
                for a in range(K):
                    Y[k, a] = Q[q, a] if k == p else 0.0
            _span_coefficients(Y, E31, E22, E13, C)
            for i in range(K):
                for a in range(K):
                    Lmat[i * K + a, p * K + q] = C[i, a] + (Bm[i, p] if a == q else 0.0)
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def natural_steps(Jt, Bt, g, v, vt, par, b, n_steps, s, xi, dJ, blowup, mode, damping):
    """:func:`natural_steps_with` for SGD's coefficients (:func:`symphase._generated.rule.sgd_example`)."""
    return natural_steps_with(sgd_example, Jt, Bt, g, v, vt, par, b, n_steps, s, xi, dJ, blowup, mode, damping)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def natural_steps_with(example, Jt, Bt, g, v, vt, par, b, n_steps, s, xi, dJ, blowup, mode, damping):
    """Advance ``n_steps`` preconditioned steps ``J += (F + eps I)^-1 Delta J_SGD`` in place (docs/model.md §14).

    The arguments are :func:`symphase._sgd.sgd_steps_with`'s (the same random stream: the same examples
    and noise as SGD from the same state), plus ``mode`` (:data:`NATURAL`, :data:`UNITWISE`,
    :data:`DAMPING_ONLY`) and ``damping`` ``eps > 0``. ``F`` is the exact population Fisher of the plain
    committee machine at the weights before each step, from ``Q = J J^T`` (:func:`fisher_factors`). Per
    step, with ``a_ui``, ``p_i`` SGD's coefficients (``Delta J_i = sum_u a_ui xi_u - p_i J_i``):
    ``J_i += sum_u [(A + eps I)^-1 a_u]_i xi_u + sum_a Pi_ia J_a``, ``Pi = -(A + eps I)^-1 diag(p) + Gamma``,
    ``Gamma`` solving ``(A + eps I) Gamma + c(Gamma Q) = -c((A + eps I)^-1 G)``,
    ``G_ma = sum_u a_um x_ua - p_m Q_ma``. Returns the number of steps done before the weights became
    non-finite, some ``|J_i|^2 > blowup``, or ``F + eps I`` singular numerically (``n_steps`` if none).
    """
    N, K = Jt.shape
    M = Bt.shape[1]
    sigma, noise_sd, _, _, _, _ = step_constants(par, N, b)
    tau = par[TAU]
    consts = rule_constants(par, N, b)
    x = np.empty(K)
    y = np.empty(M)
    h = np.ones(K)
    inv_s = np.ones(K)
    qn = np.zeros(K)
    raw = np.zeros(K)      # SGD's a_i of one example
    coef = np.zeros(K)     # its preconditioned xi coefficient (A + eps I)^-1 a
    psum = np.zeros(K)
    out = (np.zeros(K), raw, np.zeros(K), np.zeros(K), np.zeros(K))
    state = (h, inv_s, qn, v, vt)
    Q = np.zeros((K, K))
    G = np.zeros((K, K))
    Pi = np.zeros((K, K))
    Binv = np.zeros((K, K))
    Lmat = np.zeros((K * K, K * K))
    E31 = np.zeros((K, K))
    E22 = np.zeros((K, K))
    E13 = np.zeros((K, K))
    Yw = np.zeros((K, K))
    Cw = np.zeros((K, K))
    rhs = np.zeros(K * K)
    row = np.zeros(K)
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
                        w = Jt[l, i]
                        for a in range(K):
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
            elif u == 0:
                for l in range(N):
                    z = sigma * next_normal(s)
                    xi[l] = z
                    for i in range(K):
                        x[i] += Jt[l, i] * z
                    for n in range(M):
                        y[n] += Bt[l, n] * z
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
                    if not (Q[i, i] <= blowup):
                        return step
                    qn[i] = Q[i, i]
                    psum[i] = 0.0
                    for a in range(K):
                        G[i, a] = 0.0
                if not fisher_factors(Q, tau, mode, damping, Binv, Lmat, E31, E22, E13, Yw, Cw):
                    return step
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            example(x, y, noise, state, consts, out)
            for i in range(K):
                acc = 0.0
                for k in range(K):
                    acc += Binv[i, k] * raw[k]
                coef[i] = acc
                psum[i] += out[2][i]
                for a in range(K):
                    G[i, a] += raw[i] * x[a]
        # the part of the step inside span(J): Pi = -(A + eps I)^-1 diag(p) + Gamma
        for m in range(K):
            for a in range(K):
                G[m, a] -= psum[m] * Q[m, a]
        for i in range(K):
            for a in range(K):
                Pi[i, a] = -Binv[i, a] * psum[a]
        if mode != DAMPING_ONLY:
            for k in range(K):
                for a in range(K):
                    acc = 0.0
                    for m in range(K):
                        acc += Binv[k, m] * G[m, a]
                    Yw[k, a] = acc
            _span_coefficients(Yw, E31, E22, E13, Cw)
            for i in range(K):
                for a in range(K):
                    rhs[i * K + a] = -Cw[i, a]
            if not _solve(Lmat, rhs):
                return step
            for i in range(K):
                for a in range(K):
                    Pi[i, a] += rhs[i * K + a]
        for i in range(K):
            for a in range(K):
                if not math.isfinite(Pi[i, a]):
                    return step
        pending = True
    if pending:  # flush the last step
        for l in range(N):
            old = xi[l]
            for i in range(K):
                w = Jt[l, i]
                for a in range(K):
                    w += Pi[i, a] * Jt[l, a]
                row[i] = w + coef[i] * old if b == 1 else w + (dJ[l, i] + coef[i] * old)
            for i in range(K):
                Jt[l, i] = row[i]
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        if not (acc <= blowup):
            return n_steps - 1
    return n_steps
