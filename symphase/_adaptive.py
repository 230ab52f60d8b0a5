"""Adaptive natural gradient on the weights (Amari, Park & Fukumizu 2000; docs/model.md §14.9).

``Committee(..., preconditioner="adaptive")`` keeps, per seed, an explicit estimate ``G^-1`` (P x P) of the
damped inverse Fisher ``(F + eps I)^-1`` of the parameters ``theta`` and steps with it instead of the
population Fisher of :mod:`symphase._natural`:

    Delta theta = G^-1_t Delta theta_SGD,                                   (the step, theta before it)
    G^-1_{t+1} = (1 + e_t) G^-1_t - e_t (G^-1_t grad s)(G^-1_t grad s)^T    (one example at a time)
                 - e_t eps P (G^-1_t e_k)(G^-1_t e_k)^T,                    (the damping, k = t mod P)

(Amari, Park & Fukumizu, Neural Comput. 12, 1399 (2000); Park, Amari & Fukumizu, Neural Netw. 13, 755
(2000); the last term is ours). Averaged over the inputs and over a cycle of ``P`` examples (``P e_k e_k^T``
averages to ``I``) the update is ``G^-1 <- G^-1 + e_t (G^-1 - G^-1 (F + eps I) G^-1)``, with the fixed point
``G^-1 = (F + eps I)^-1``: ``F = <grad s grad s^T>`` the population Fisher for unit output-noise variance and
``eps`` the model's ``damping`` (docs/model.md §14.1), reached on the time scale ``1/(e_t (lambda + eps))`` in the
direction of an eigenvalue ``lambda`` of ``F``. Without the damping term (APF's update) ``G^-1`` grows like
``(1 + e_t)^t`` along a null direction of ``F``: under BN, along each ``J_i`` (measured at ``N = 100``, exact BN:
``J_1^T G^-1 J_1/|J_1|^2`` from 1 to ``2e8`` by ``alpha = 200``, ``e^(0.1 alpha)``), until the seed diverges. The
damping term is a rank-one update on a column of ``G^-1`` (no product, no random numbers): ``O(P^2)``, as APF's.

* ``theta`` is ``J`` (``N K`` numbers, index ``l K + i`` for component ``l`` of student ``i``: the order of
  the transposed weights ``Jt.ravel()``), and under BN with a learned gain also ``g`` (index ``N K + i``);
  ``P = N K (+ K)``.
* ``Delta theta_SGD`` is exactly SGD's step (:func:`symphase._generated.rule.sgd_example`, the ``(eta/(N b))``
  coefficients ``J_i += a_i xi - p_i J_i``, ``g_i += dg_i`` summed over the batch), so plain, the paper's and
  the exact BN rule are SGD's directions, as for ``natural``.
* ``grad s`` is the gradient of the student's output ``s = c sum_i v_i phi(u_i)`` of one example at
  ``theta`` before the step, ``u_i = h_i x_i``: ``grad_{J_i} s = c v_i phi'(u_i) h_i (xi - e x_i J_i/Q_ii)``
  (``e = 1`` under either BN rule, the true gradient through the normalisation, as ``natural``'s Fisher;
  0 plain, ``h_i = 1``) and ``grad_{g_i} s = c v_i phi'(u_i) x_i/(sigma sqrt Q_ii)``. With a batch ``b > 1``
  the step uses ``G^-1_t`` on the batch's summed SGD step, then ``G^-1`` takes the ``b`` rank-one updates
  of the batch's examples in order, all at ``theta_t``.
* The start ``G^-1_0 = I``: the first step is SGD's exactly. ``I/eps`` would make it SGD at ``eta/eps``
  (``eps = 10^-3``: an immediate blow-up at ``eta = 0.5``).
* ``e_t = ADAPTIVE_RATE / P`` with ``ADAPTIVE_RATE = 0.2`` fixed (:data:`ADAPTIVE_RATE`; at ``K = 2``, plain,
  ``e_t = 0.1/N``). ``G^-1`` is (to first order) the inverse of an exponentially weighted average of
  ``grad s grad s^T`` over the last ``~1/e_t`` examples; ``P e_t`` is the ratio of its dimension to its memory,
  and as that ratio grows the average's smallest eigenvalues fall (Marchenko-Pastur: by about
  ``(1 - sqrt(P e_t))^2``), so ``G^-1``'s largest ones, and the step along them, grow without bound. Measured at
  ``K = M = 2``, ``eta = 0.5``, from the random start, ``N = 100, 200``, 4 seeds each: ``P e_t = 0.2`` runs every
  seed to ``alpha = 300``; ``0.3`` escapes and then diverges; ``0.4`` and above diverge. A smaller ratio adapts
  more slowly (``0.06``: escape at ``alpha ~ 50`` against ``29``). The estimate follows the Fisher on the time
  scale ``alpha ~ K/(ADAPTIVE_RATE lambda)``, independent of ``N``. No model field: the issue leaves ``e_t``
  open; the model's ``damping`` is the damping term's ``eps`` (docs/model.md §14.9).

The cost is ``O(P^2)`` per example (one product ``G^-1 grad s`` and one update of rank two) plus ``O(P^2)`` per
step (``G^-1 Delta theta_SGD``), against ``O(N K)`` for SGD and ``natural``; the ``P x P`` estimate takes
``8 P^2`` bytes. :func:`adaptive_weight_args` refuses ``P >`` :data:`MAX_PARAMETERS`.

``e_t = 0`` with ``G^-1 = I`` is SGD: bit for bit plain with ``b = 1`` (the same sums in the same order), to
rounding under BN (``J + (a xi - p J)`` against SGD's ``(1 - p) J + a xi``) and for ``b > 1`` (SGD's batch
kernel sums by BLAS). Covered: the soft committee machine (erf, second layers fixed at 1, scaling ``"sum"``,
no weight decay), plain and both BN rules with population statistics, any ``K``, ``M``, batch, noise, ``tau``;
simulation on the weights only (no order-parameter theory: ``G^-1`` gains a direction ``xi`` with every
example, so it has no bulk/span form).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ._generated.rule import error_signal, sgd_example
from ._kernels import ACTIVATION, NO_NRT, SCALE, rule_constants, step_constants
from ._rng import next_normal
from ._sgd import begin_step, draw_input, squared_norms, weight_args

__all__ = ["ADAPTIVE_RATE", "MAX_PARAMETERS", "AdaptiveArgs", "adaptive_rate", "adaptive_steps",
           "adaptive_steps_with", "adaptive_weight_args", "n_parameters"]

#: ``e_t = ADAPTIVE_RATE / P`` (module docstring, docs/model.md §14.9).
ADAPTIVE_RATE = 0.2
#: The largest ``P = N K (+ K)`` :func:`adaptive_weight_args` builds: a ``P x P`` estimate of 128 MiB and
#: about ``4 P^2 = 7e7`` multiply-adds per example.
MAX_PARAMETERS = 4096

#: One seed's record of :func:`adaptive_steps`: the fields of :data:`symphase._sgd.WeightArgs` (``ws Bt vt par b
#: blowup``), the estimate ``Ginv`` (P, P), its rate ``rate`` (``e_t``), the model's ``damping`` ``eps``, the
#: examples seen ``tick`` (1,) (int64: the damping's coordinate ``k = tick mod P``) and the work arrays ``gs``
#: (b, P, the batch's output gradients), ``dth`` (P, the batch's SGD step), ``w`` and ``col`` (P), and the output
#: gradient's factors ``gJ``, ``pJ`` (K,); one example's fields, SGD's state and its per-example coefficients are
#: the :data:`~symphase._sgd.WeightWorkspace`'s (``ws.x``, ``ws.y``, ``ws.h``, ``ws.inv_s``, ``ws.qn``, ``ws.sc``,
#: ``ws.ex``; ``h``, ``inv_s`` reset to 1 by the kernel). Built by :func:`adaptive_weight_args`.
AdaptiveArgs = namedtuple("AdaptiveArgs", "ws Bt vt par b blowup Ginv rate damping tick gs dth w col gJ pJ")


def n_parameters(model, N: int) -> int:
    """``P = N K``, plus ``K`` under BN with a learned gain: the size of ``theta`` (module docstring)."""
    return int(N) * model.K + (model.K if model.has_bn and model.gain == "learned" else 0)


def adaptive_rate(P: int) -> float:
    """``e_t = ADAPTIVE_RATE / P`` for ``P`` parameters (:data:`ADAPTIVE_RATE`; docs/model.md §14.9)."""
    return ADAPTIVE_RATE / int(P)


def adaptive_weight_args(model, par, B, *, blowup: float = 1e6, batch_stats: bool = False) -> AdaptiveArgs:
    """One seed's :data:`AdaptiveArgs` for ``model`` and the teacher ``B``: SGD's record
    (:func:`symphase._sgd.weight_args`) plus a fresh estimate ``G^-1 = I`` (P x P) and ``e_t``.

    Parameters
    ----------
    model : Committee
        Its ``K``, BN and gain give ``P`` (:func:`n_parameters`).
    par : ndarray
        The parameter record (:meth:`symphase.System.params`).
    B : array_like (M, N)
        The teacher's weights; ``N`` is the input dimension.
    blowup : float
        The kernel stops when some ``|J_i|^2`` exceeds it.
    batch_stats : bool
        Must be False: BN with the batch's own statistics is not built for ``adaptive``.

    Raises
    ------
    ValueError
        ``P = N K (+ K) >`` :data:`MAX_PARAMETERS` (the message names ``N`` and its bound), or ``batch_stats``.
    """
    if batch_stats:
        raise ValueError("bn_stats: preconditioner='adaptive' runs BN with population statistics only, "
                         "not bn_stats='batch'")
    N = np.shape(B)[1]
    P = n_parameters(model, N)
    if P > MAX_PARAMETERS:
        extra = model.K if P != N * model.K else 0
        raise ValueError(f"N: preconditioner='adaptive' keeps a P x P estimate of (F + eps I)^-1 (P = N K"
                         f"{' + K' if extra else ''}) at O(P^2) per example, built for P <= {MAX_PARAMETERS}, "
                         f"i.e. N <= {(MAX_PARAMETERS - extra) // model.K} at K = {model.K}; got N = {N}")
    wa = weight_args(model, par, B, blowup=blowup)
    return AdaptiveArgs(*wa, Ginv=np.eye(P), rate=adaptive_rate(P), damping=float(model.damping),
                        tick=np.zeros(1, dtype=np.int64), gs=np.zeros((wa.b, P)), dth=np.zeros(P), w=np.zeros(P),
                        col=np.zeros(P), gJ=np.zeros(model.K), pJ=np.zeros(model.K))


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def adaptive_steps(Jt, g, v, n_steps, s, wa):
    """:func:`adaptive_steps_with` for SGD's coefficients (:func:`symphase._generated.rule.sgd_example`). It
    allocates nothing (the scratch is ``wa``'s), so it runs without Numba's reference counting (``NO_NRT``)."""
    return adaptive_steps_with(sgd_example, Jt, g, v, n_steps, s, wa)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def adaptive_steps_with(example, Jt, g, v, n_steps, s, wa):
    """Advance ``n_steps`` adaptive natural-gradient steps in place (module docstring; docs/model.md §14.9).

    Per step, at ``theta_t``: draw the batch as :func:`symphase._sgd.sgd_steps_with` does (per example its
    ``N`` inputs of variance ``tau``, then its output noise: the same random stream as SGD), sum SGD's step
    ``Delta theta_SGD = sum_u (a_u xi_u - p_u J, dg_u)`` and keep each example's ``grad s``; then

        theta += G^-1 Delta theta_SGD,
        G^-1 <- (1 + e) G^-1 - e (G^-1 grad s_u)(G^-1 grad s_u)^T - e eps P (G^-1 e_k)(G^-1 e_k)^T   for u = 1..b,

    with ``e = wa.rate``, ``eps = wa.damping`` and ``k = tick mod P`` (``tick`` counts the examples, kept in
    ``wa.tick`` across calls; both rank-one terms from ``G^-1`` before this example's update).

    Parameters
    ----------
    Jt : ndarray (N, K)
        The students' transposed weights (advanced in place).
    g : ndarray (K,)
        The BN gains (advanced in place when learned).
    v : ndarray (K,)
        The second layer (fixed at 1 here).
    n_steps : int
    s : ndarray
        The RNG state (:func:`symphase._rng.rng_state`).
    wa : AdaptiveArgs
        :func:`adaptive_weight_args`; its ``Ginv`` is advanced in place, its work arrays are the scratch.

    Returns
    -------
    int
        The steps done before the weights, the gains or ``G^-1`` became non-finite, some ``|J_i|^2 > blowup``
        (or ``<= 0`` under BN); ``n_steps`` if none.
    """
    Bt, vt, par, b, blowup, xi = wa.Bt, wa.vt, wa.par, wa.b, wa.blowup, wa.ws.xi
    Ginv, rate, gs, dth, w, col, tick = wa.Ginv, wa.rate, wa.gs, wa.dth, wa.w, wa.col, wa.tick
    rate_d = rate * wa.damping * Ginv.shape[0]  # e eps P
    N, K = Jt.shape
    M = Bt.shape[1]
    P = Ginv.shape[0]
    NK = N * K
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    consts = rule_constants(par, N, b)
    cs, act = par[SCALE], int(par[ACTIVATION])
    x, y, h, inv_s, qn, sums, out = wa.ws.x, wa.ws.y, wa.ws.h, wa.ws.inv_s, wa.ws.qn, wa.ws.sc, wa.ws.ex
    gJ, pJ = wa.gJ, wa.pJ  # grad_{J_i} s = gJ_i xi - pJ_i J_i
    a_c, p_c = out[1], out[2]
    for i in range(K):
        h[i] = 1.0
        inv_s[i] = 1.0
    state = (h, inv_s, qn, v, vt)
    keep = 1.0 + rate
    for step in range(n_steps):
        squared_norms(Jt, qn)
        if not begin_step(qn, g, sigma, bn, blowup, h, inv_s, (sums,)):
            return step
        for r in range(P):
            dth[r] = 0.0
        for u in range(b):
            for i in range(K):
                x[i] = 0.0
            for n in range(M):
                y[n] = 0.0
            draw_input(s, sigma, Jt, Bt, xi, x, y)
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            example(x, y, noise, state, consts, out)
            for i in range(K):
                ds = cs * v[i] * error_signal(1.0, h[i] * x[i], act)  # ds/du_i
                gJ[i] = ds * h[i]
                pJ[i] = gJ[i] * x[i] / qn[i] if bn else 0.0
                if learn:
                    dth[NK + i] += out[3][i]
                    gs[u, NK + i] = ds * x[i] * inv_s[i]
            for l in range(N):
                z = xi[l]
                for i in range(K):
                    r = l * K + i
                    dth[r] += a_c[i] * z - p_c[i] * Jt[l, i]
                    gs[u, r] = gJ[i] * z - pJ[i] * Jt[l, i]
        # the step with the estimate before this step's examples
        for r in range(P):
            acc = 0.0
            for c in range(P):
                acc += Ginv[r, c] * dth[c]
            if not math.isfinite(acc):
                return step
            w[r] = acc
        for l in range(N):
            for i in range(K):
                Jt[l, i] += w[l * K + i]
        if learn:
            for i in range(K):
                g[i] += w[NK + i]
        # the estimate's update, one example at a time
        for u in range(b):
            for r in range(P):
                acc = 0.0
                for c in range(P):
                    acc += Ginv[r, c] * gs[u, c]
                if not math.isfinite(acc):
                    return step
                w[r] = acc
            k = tick[0] % P  # the damping's coordinate: G^-1 e_k is row k of the symmetric G^-1
            tick[0] += 1
            for c in range(P):
                col[c] = Ginv[k, c]
            for r in range(P):
                wr, cr = w[r], col[r]
                for c in range(P):  # symmetric bit for bit
                    Ginv[r, c] = keep * Ginv[r, c] - rate * (wr * w[c]) - rate_d * (cr * col[c])
    squared_norms(Jt, qn)
    for i in range(K):
        if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)) or not math.isfinite(g[i]):
            return n_steps - 1
    return n_steps
