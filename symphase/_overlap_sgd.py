"""Exact SGD in overlap space: the order parameters of online SGD as a Markov chain (docs/model.md §11).

For Gaussian inputs one SGD step changes the weights only along the example
``xi`` and the weights themselves, so the new overlaps depend on ``xi`` only
through

* the fields ``z = (x, y) = (J xi, B xi)``, jointly Gaussian with covariance
  ``tau G``, ``G = [[Q, R], [R^T, T]]``;
* the products ``xi^u . xi^v`` of the minibatch's examples: the part inside
  ``span(J, B)``, ``z^u . G^+ z^v``, plus the orthogonal part, independent of
  the fields: ``tau`` times a Wishart matrix with ``N - rank(G)`` degrees of
  freedom (for ``b = 1``, ``tau chi^2_{N - rank}``).

So the chain of ``(Q, R, g)`` can be run exactly, in distribution, at a cost per
step of ``O((K + M)^3 + b (K + M)^2 + b^2 K^2)`` whatever ``N`` is. The update
rules are the simulator's (:mod:`symphase._sgd`, docs/model.md §2): per example
``J_i += (eta/(N b)) m_i h_i d_i (xi - e x_i J_i/Q_ii) - (lam/N) J_i``, ``d_i = Delta phi'(u_i)``,
``u_i = h_i x_i``, ``m_i = c v_i`` (docs/model.md §13); BN with population statistics; the
coefficients are the rule's (:func:`symphase._generated.rule.sgd_example`, one kernel for every
simulator). With
``c_i = 1 - (eta/(N b)) sum_u e m_i h_i d_i^u x_i^u / Q_ii - lam/N`` and
``a_i^u = (eta/(N b)) m_i h_i d_i^u``:

    Q'_ik = c_i c_k Q_ik + c_i sum_u a_k^u x_i^u + c_k sum_u a_i^u x_k^u + sum_uv a_i^u a_k^v xi^u.xi^v
    R'_in = c_i R_in + sum_u a_i^u y_n^u
    g'_i  = g_i + (eta/(N b)) sum_u m_i d_i^u x_i^u / (sigma sqrt Q_ii)     (learned gain)
    v'_i  = v_i + (eta2/(N b)) sum_u c Delta^u phi(u_i^u) - (lam/N) v_i   (learned second layer)
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ._generated.rule import batch_stats_coefficients, sgd_example
from ._kernels import LEARN_V, NO_NRT, TAU, WEIGHT_DECAY, rule_constants, step_constants, step_gain_and_v
from ._rng import next_normal, next_uniform

#: Work arrays of the chain (:func:`workspace`), with ``n = K + M``: the Gram matrix ``G`` and its
#: factor ``L`` (n, n), the independent columns ``used`` (n,) bool, the batch's normal draws ``w`` and
#: fields ``Z`` (b, n), the products ``S`` and the Bartlett factor ``A`` (b, b), the coefficients
#: ``a`` (b, K), the gain increments ``dg`` and the factors ``c`` (K,).
ChainWorkspace = namedtuple("ChainWorkspace", "G L used w Z S A a dg c dv h inv_s qd d_e p_e dg_e dv_e mean sd noise")
#: Everything the chain's kernels need besides the overlaps they advance and the random stream:
#: the work arrays ``ws``, the teacher overlaps ``T`` (M, M) and output weights ``vt`` (M,), the
#: parameter record ``par``, the input dimension ``N``, the minibatch ``b`` and the blow-up bound.
#: Built by :func:`chain_args` only.
ChainArgs = namedtuple("ChainArgs", "ws T vt par N b blowup")


@numba.njit(cache=True, nogil=True, **NO_NRT)
def gamma(s, k):
    """A Gamma(k, 1) variate from the xoshiro256** state ``s`` (Marsaglia & Tsang 2000; k < 1 by
    ``Gamma(k) = Gamma(k + 1) U^(1/k)``). Exact: rejection sampling, no approximation."""
    if k <= 0.0:
        return 0.0
    boost = 1.0
    if k < 1.0:
        boost = next_uniform(s) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = next_normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = next_uniform(s)
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v * boost
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@numba.njit(cache=True, nogil=True, **NO_NRT)
def chi2(s, nu):
    """A chi-squared variate with ``nu >= 0`` degrees of freedom."""
    return 2.0 * gamma(s, 0.5 * nu)


@numba.njit(cache=True, nogil=True)
def gram_factor(Q, R, T, G, L, used):
    """``L`` with ``L L^T = G = [[Q, R], [R^T, T]]``: Cholesky that sets a column to zero where the
    pivot vanishes (a dependent direction: coinciding students, a singular ``T``). ``used[j]``
    marks the independent columns; returns the rank, or -1 if ``G`` is not positive semi-definite
    (a pivot below ``-1e-9`` times the scale)."""
    K, M = R.shape
    n = K + M
    scale = 0.0
    for a in range(n):
        for c in range(n):
            if a < K and c < K:
                v = Q[a, c]
            elif a < K:
                v = R[a, c - K]
            elif c < K:
                v = R[c, a - K]
            else:
                v = T[a - K, c - K]
            G[a, c] = v
        scale = max(scale, abs(G[a, a]))
    tol = 1e-12 * max(scale, 1e-300)
    rank = 0
    for j in range(n):
        s = G[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if s <= tol:
            if s < -1e-9 * max(scale, 1e-300):
                return -1
            used[j] = False
            for a in range(j, n):
                L[a, j] = 0.0
            continue
        used[j] = True
        rank += 1
        d = math.sqrt(s)
        L[j, j] = d
        for a in range(j + 1, n):
            t = G[a, j]
            for p in range(j):
                t -= L[a, p] * L[j, p]
            L[a, j] = t / d
        for p in range(j):
            L[p, j] = 0.0
    return rank


@numba.njit(cache=True, nogil=True, inline="always")
def draw_batch(L, used, rank, sigma, tau, N, b, s, w, Z, S, A):
    """A fresh minibatch in overlap space: the fields ``Z`` (b, n) of each example (``Z = sigma L w``,
    ``w`` standard normal on the independent columns of the Gram factor ``L``) and the products
    ``S[u, q] = xi^u . xi^q``: the span part ``tau w^u . w^q`` plus the orthogonal part, ``tau`` times a
    Wishart matrix with ``N - rank`` degrees of freedom (Bartlett: ``A A^T``, ``A`` lower triangular)."""
    n = L.shape[0]
    for u in range(b):
        for j in range(n):
            w[u, j] = next_normal(s) if used[j] else 0.0
        for p in range(n):
            acc = 0.0
            for j in range(p + 1):
                acc += L[p, j] * w[u, j]
            Z[u, p] = sigma * acc
    nu = N - rank
    for u in range(b):
        for q in range(u):
            A[u, q] = next_normal(s)
        A[u, u] = math.sqrt(chi2(s, nu - u))
    for u in range(b):
        for q in range(u + 1):
            acc = 0.0
            for j in range(n):
                acc += w[u, j] * w[q, j]
            orth = 0.0
            for p in range(q + 1):
                orth += A[u, p] * A[q, p]
            S[u, q] = S[q, u] = tau * (acc + orth)


@numba.njit(cache=True, nogil=True, inline="always")
def apply_update(Q, R, c, a, Z, S):
    """The overlaps after ``J_i -> c_i J_i + sum_u a[u, i] xi^u`` (module docstring), in place
    (``R`` first: it needs the old ``c_i R_in`` only)."""
    K, M = R.shape
    b = Z.shape[0]
    for i in range(K):
        for m in range(M):
            acc = c[i] * R[i, m]
            for u in range(b):
                acc += a[u, i] * Z[u, K + m]
            R[i, m] = acc
    for i in range(K):
        for k in range(i, K):
            acc = c[i] * c[k] * Q[i, k]
            for u in range(b):
                acc += c[i] * a[u, k] * Z[u, i] + c[k] * a[u, i] * Z[u, k]
                for q in range(b):
                    acc += a[u, i] * a[q, k] * S[u, q]
            Q[i, k] = acc
            Q[k, i] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def overlap_steps(Q, R, g, v, n_steps, s, ca):
    """:func:`overlap_steps_with` for SGD (the rule's kernel :func:`symphase._generated.rule.sgd_example`)."""
    return overlap_steps_with(sgd_example, Q, R, g, v, n_steps, s, ca)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # the wrappers bind the rule statically
def overlap_steps_with(example, Q, R, g, v, n_steps, s, ca):
    """The rule whose per-example kernel is ``example`` (SGD: :func:`symphase._generated.rule.sgd_example`,
    the coefficients ``a_i^u``, ``p_i^u``, ``dg_i``, ``dv_i`` of each example, ``c_i = 1 - sum_u p_i^u - lam/N``).
    Advance the overlaps ``Q`` (K, K), ``R`` (K, M), ``g`` (K,) and the second layer ``v`` (K,) by
    ``n_steps`` exact SGD steps (module docstring), in place, with the random stream ``s``. ``ca`` is
    the chain's :data:`ChainArgs` (:func:`chain_args`): the teacher, the parameter record, ``N``, ``b``,
    the blow-up bound and the work arrays. Returns the steps done before the overlaps became
    non-finite, some ``Q_ii > blowup``, or (BN) ``Q_ii <= 0``; -1 if the state stopped being a Gram
    matrix."""
    T, vt, par, N, b, blowup, ws = ca.T, ca.vt, ca.par, ca.N, ca.b, ca.blowup, ca.ws
    G, L, used, w, Z, S, A, a, dg, c = ws.G, ws.L, ws.used, ws.w, ws.Z, ws.S, ws.A, ws.a, ws.dg, ws.c
    K, M = R.shape
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    consts = rule_constants(par, N, b)
    tau = par[TAU]
    learn_v, decay = par[LEARN_V] != 0.0, par[WEIGHT_DECAY] / N
    dv, h, inv_s, qd, d_e, p_e, dg_e, dv_e = ws.dv, ws.h, ws.inv_s, ws.qd, ws.d_e, ws.p_e, ws.dg_e, ws.dv_e
    for i in range(K):
        h[i] = 1.0
        inv_s[i] = 1.0
    state = (h, inv_s, qd, v, vt)
    for step in range(n_steps):
        rank = gram_factor(Q, R, T, G, L, used)
        if rank < 0:
            return -1
        if bn:
            for i in range(K):
                inv_s[i] = 1.0 / (sigma * math.sqrt(Q[i, i]))
                h[i] = g[i] * inv_s[i]
        draw_batch(L, used, rank, sigma, tau, N, b, s, w, Z, S, A)
        # the update coefficients
        for i in range(K):
            c[i] = 1.0 - decay
            dg[i] = 0.0
            dv[i] = 0.0
            qd[i] = Q[i, i]
        for u in range(b):
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            example(Z[u, :K], Z[u, K:], noise, state, consts, (d_e, a[u], p_e, dg_e, dv_e))
            for i in range(K):
                c[i] -= p_e[i]
                dg[i] += dg_e[i]
                dv[i] += dv_e[i]
        apply_update(Q, R, c, a, Z, S)
        step_gain_and_v(g, v, dg, dv, decay, learn, learn_v)
        for i in range(K):
            if not (Q[i, i] <= blowup) or (bn and not (Q[i, i] > 0.0)) or not math.isfinite(v[i]):
                return step
            for m in range(M):
                if not math.isfinite(R[i, m]):
                    return step
    return n_steps


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def overlap_steps_batch_stats(Q, R, g, n_steps, s, ca):
    """:func:`overlap_steps` for BN with the batch's own statistics (the rule of
    :func:`symphase._sgd.batch_stats_step`): per unit the batch mean ``m_i`` and standard deviation
    ``s_i`` (1/b) of the fields ``x_i^u``, ``z = (x - m)/s``, ``d_ui = Delta_u phi'(g_i z_ui)``;
    ``J_i += (eta/(N b)) (g_i/s_i) sum_u d'_ui xi^u`` with ``d' = d`` (paper's rule) or
    ``d - <d_i> - z_ui <d_i z_i>`` (exact rule, backpropagation through the statistics), and
    ``g_i += (eta/N) <d_i z_i>`` when learned. The update is along the examples only (``c_i = 1``),
    so :func:`apply_update` gives the new overlaps exactly. ``ca``: as :func:`overlap_steps` (its
    ``vt`` unused). Returns the steps done before a batch standard deviation vanished or the
    overlaps became non-finite, ``Q_ii > blowup`` or ``Q_ii <= 0``; -1 if the state stopped being a
    Gram matrix. The committee machine only."""
    T, par, N, b, blowup, ws = ca.T, ca.par, ca.N, ca.b, ca.blowup, ca.ws
    G, L, used, w, Z, S, A, a, dg, c = ws.G, ws.L, ws.used, ws.w, ws.Z, ws.S, ws.A, ws.a, ws.dg, ws.c
    K = R.shape[0]
    sigma, noise_sd, _, exact, learn, lr = step_constants(par, N, b)  # the rule's lr = eta/(N b)
    tau = par[TAU]
    mean, sd, noise = ws.mean, ws.sd, ws.noise
    for u in range(b):
        noise[u] = 0.0
    for step in range(n_steps):
        rank = gram_factor(Q, R, T, G, L, used)
        if rank < 0:
            return -1
        draw_batch(L, used, rank, sigma, tau, N, b, s, w, Z, S, A)
        if noise_sd > 0.0:
            for u in range(b):
                noise[u] = noise_sd * next_normal(s)
        # z into w (free once the batch is drawn): apply_update needs the raw fields Z
        if not batch_stats_coefficients(Z[:, :K], Z[:, K:], noise, g, lr, exact, learn, w[:, :K], a, dg, mean, sd):
            return step
        for i in range(K):
            c[i] = 1.0  # the update is along the examples only
        apply_update(Q, R, c, a, Z, S)
        for i in range(K):
            g[i] += dg[i]
            if not (Q[i, i] <= blowup) or not (Q[i, i] > 0.0):
                return step
            for m in range(R.shape[1]):
                if not math.isfinite(R[i, m]):
                    return step
    return n_steps


def workspace(K: int, M: int, b: int) -> ChainWorkspace:
    """A fresh :data:`ChainWorkspace` for ``K`` students, ``M`` teachers and minibatch ``b``."""
    n = K + M
    return ChainWorkspace(G=np.zeros((n, n)), L=np.zeros((n, n)), used=np.zeros(n, dtype=np.bool_),
                          w=np.zeros((b, n)), Z=np.zeros((b, n)), S=np.zeros((b, b)), A=np.zeros((b, b)),
                          a=np.zeros((b, K)), dg=np.zeros(K), c=np.zeros(K), dv=np.zeros(K), h=np.ones(K),
                          inv_s=np.ones(K), qd=np.zeros(K), d_e=np.zeros(K), p_e=np.zeros(K), dg_e=np.zeros(K),
                          dv_e=np.zeros(K), mean=np.zeros(K), sd=np.zeros(K), noise=np.zeros(b))


def chain_args(model, par, N: int, *, T=None, vt=None, b=None, blowup: float = 1e6) -> ChainArgs:
    """The chain's :data:`ChainArgs` for ``model``: the one place its kernels' inputs are built.

    Parameters
    ----------
    model : Committee
        Gives ``K``, ``M`` and the defaults below.
    par : ndarray
        The parameter record (:meth:`symphase.System.params`).
    N : int
        The input dimension.
    T : array_like (M, M), optional
        The teacher overlaps (default the model's, ``model.system.T``).
    vt : array_like (M,), optional
        The teacher's output weights ``c_M v*`` (default ``model.system.teacher_weights``).
    b : int, optional
        The minibatch (default ``model.batch``).
    blowup : float
        The kernels stop when some ``Q_ii`` exceeds it.
    """
    system = model.system
    b = model.batch if b is None else int(b)
    T = np.ascontiguousarray(system.T if T is None else T, dtype=float)
    vt = np.ascontiguousarray(system.teacher_weights if vt is None else vt, dtype=float)
    return ChainArgs(ws=workspace(model.K, T.shape[0], b), T=T, vt=vt, par=np.asarray(par, dtype=float), N=int(N),
                     b=b, blowup=float(blowup))
