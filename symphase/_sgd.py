"""The SGD kernels of the simulator: online learning on the weights (docs/model.md §2).

Numba kernels run the update rules (plain, BN with the paper's rule, BN with
the exact gradient; gain learned or fixed) on weights ``J`` (students) and
``B`` (teacher), a fresh minibatch of ``b`` Gaussian inputs of variance ``tau``
every step, learning rate ``eta/N``, ``alpha = steps/N``. BN uses the
population statistics ``sigma sqrt(Q_ii)`` with ``Q_ii = |J_i|^2`` (the model
the theory describes, docs/model.md §1), or on request the batch's own mean
and standard deviation (:func:`batch_stats_step`). One pass over the N
components per example: drawing ``xi``, the fields ``J xi``, ``B xi`` and
applying the previous step's update are fused (:func:`sgd_steps`). The
parameter record ``par`` is the model's (:data:`symphase._kernels.PARAMS`).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ._generated.rule import batch_stats_coefficients, error_signal, output_error, phi, sgd_example
from ._kernels import (
    ACTIVATION,
    BN,
    ETA,
    EXACT,
    LEARN_GAIN,
    LEARN_V,
    NO_NRT,
    NOISE,
    SCALE,
    TAU,
    WEIGHT_DECAY,
    example_outputs,
    rule_constants,
    step_constants,
    step_gain_and_v,
)
from ._layout import pack_into
from ._rng import next_normal

__all__ = ["WeightArgs", "WeightWorkspace", "batch_stats_coefficients", "error_signal", "minibatch_steps",
           "online_steps", "output_error", "phi", "sgd_steps", "sgd_steps_with", "weight_args", "workspace"]

#: Work arrays of the simulator on the weights (:func:`workspace`): the current example ``xi`` (N,),
#: the batch's summed update ``dJ`` (N, K) for ``b > 1`` (else (1, K), unused), and the batch ``X``
#: (b, N) of a minibatch or of BN with the batch's own statistics (else (0, N)); per unit (K,) an
#: example's fields ``x``, the scale factors ``h`` and ``inv_s``, the squared norms ``qn``, the factors
#: ``keep``, the step's sums ``sc``, ``dg``, ``dv`` and the batch statistics ``mean``, ``sd``; the teacher's
#: fields ``y`` (M,); ``ex``, the per-example kernel's five outputs (K,) each; and per minibatch the fields
#: ``xs`` (b, K), ``ys`` (b, M), the coefficients ``A`` (b, K) and the output noise ``noise`` (b,). The
#: kernels allocate nothing: they run without reference counting (:data:`symphase._kernels.NO_NRT`).
WeightWorkspace = namedtuple("WeightWorkspace", "xi dJ X x y h inv_s qn keep sc dg dv mean sd ex xs ys A noise")
#: Everything the simulator's kernels need besides the weights they advance (``Jt``, ``g``, ``v``) and
#: the random stream: the work arrays ``ws``, the teacher's transposed weights ``Bt`` (N, M) and
#: output weights ``vt`` (M,), the parameter record ``par``, the minibatch ``b`` and the blow-up
#: bound on ``|J_i|^2``. Built by :func:`weight_args` only.
WeightArgs = namedtuple("WeightArgs", "ws Bt vt par b blowup")


def workspace(N: int, K: int, b: int, batch_stats: bool = False, *, M: int) -> WeightWorkspace:
    """A fresh :data:`WeightWorkspace` for input dimension ``N``, ``K`` students, ``M`` teachers, minibatch ``b``
    (``b > 1`` or ``batch_stats``, BN with the batch's own statistics: it keeps the batch ``X``)."""
    nb = b if b > 1 or batch_stats else 0
    return WeightWorkspace(xi=np.empty(N), dJ=np.empty((N, K) if b > 1 and not batch_stats else (1, K)),
                           X=np.empty((nb, N)), x=np.zeros(K), y=np.zeros(M), h=np.ones(K), inv_s=np.ones(K),
                           qn=np.zeros(K), keep=np.ones(K), sc=np.zeros(K), dg=np.zeros(K), dv=np.zeros(K),
                           mean=np.zeros(K), sd=np.zeros(K), ex=example_outputs(K),
                           xs=np.zeros((nb, K)), ys=np.zeros((nb, M)), A=np.zeros((nb, K)), noise=np.zeros(nb))


def weight_args(model, par, B, *, vt=None, b=None, blowup: float = 1e6, batch_stats: bool = False) -> WeightArgs:
    """The simulator's :data:`WeightArgs` for ``model`` and the teacher ``B``: the one place its
    kernels' inputs are built.

    Parameters
    ----------
    model : Committee
        Gives ``K`` and the defaults below.
    par : ndarray
        The parameter record (:meth:`symphase.System.params`).
    B : array_like (M, N)
        The teacher's weights; ``N`` is the input dimension.
    vt : array_like (M,), optional
        The teacher's output weights ``c_M v*`` (default ``model.system.teacher_weights``).
    b : int, optional
        The minibatch (default ``model.batch``).
    blowup : float
        The kernels stop when some ``|J_i|^2`` exceeds it.
    batch_stats : bool
        BN with the batch's own statistics (:func:`sgd_steps_batch_stats`).
    """
    Bt = np.ascontiguousarray(np.asarray(B, dtype=float).T)
    b = model.batch if b is None else int(b)
    vt = np.ascontiguousarray(model.system.teacher_weights if vt is None else vt, dtype=float)
    return WeightArgs(ws=workspace(Bt.shape[0], model.K, b, batch_stats, M=Bt.shape[1]), Bt=Bt, vt=vt,
                      par=np.asarray(par, dtype=float), b=b, blowup=float(blowup))


@numba.njit(cache=True, nogil=True, inline="always")
def draw_input(s, sigma, Jt, Bt, xi, x, y):
    """One input ``xi ~ N(0, sigma^2 I_N)`` from the RNG state ``s`` into ``xi``, and its fields added to
    ``x_i += J_i . xi`` and ``y_n += B_n . xi`` (``x``, ``y`` zeroed by the caller): the one pass over the
    ``N`` components that every weights kernel (SGD's, the preconditioned and the adaptive one) starts a
    step with when there is no pending update to fuse into it."""
    N, K = Jt.shape
    M = Bt.shape[1]
    for l in range(N):
        z = sigma * next_normal(s)
        xi[l] = z
        for i in range(K):
            x[i] += Jt[l, i] * z
        for n in range(M):
            y[n] += Bt[l, n] * z


@numba.njit(cache=True, nogil=True, inline="always")
def squared_norms(Jt, qn):
    """``qn_i = |J_i|^2`` of the transposed weights ``Jt`` (N, K), in place."""
    N, K = Jt.shape
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        qn[i] = acc


@numba.njit(cache=True, nogil=True, inline="always")
def begin_step(qn, g, sigma, bn, blowup, h, inv_s, sums):
    """The start of one step on the weights, from ``qn_i = |J_i|^2``: False if some ``qn_i`` exceeds
    ``blowup`` (or, under BN, is not positive); else the BN scales ``inv_s_i = 1/(sigma sqrt qn_i)`` and
    ``h_i = g_i inv_s_i`` (BN only) and the step's sums ``sums`` (arrays (K,)) set to zero, in place."""
    for i in range(qn.size):
        if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)):
            return False
        if bn:
            inv_s[i] = 1.0 / (sigma * math.sqrt(qn[i]))
            h[i] = g[i] * inv_s[i]
        for a in sums:
            a[i] = 0.0
    return True


@numba.njit(cache=True, nogil=True, _nrt=True)  # set, not inherited from the caller (NO_NRT)
def _dot_into(a, b, out):
    """``out = a b`` by BLAS (``np.dot``'s form with ``out``). Compiled with reference counting, apart from the
    kernels that call it: ``np.dot`` returns its ``out``, which a kernel without it may not."""
    np.dot(a, b, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _reset(h, inv_s, keep, coef, sc, dg, dv):
    """The start of a call of the weights kernels: the scale factors and ``keep`` at one, the coefficients and
    the step's sums at zero (as fresh arrays would be; the workspace is reused from call to call)."""
    for i in range(h.size):
        h[i] = 1.0
        inv_s[i] = 1.0
        keep[i] = 1.0
        coef[i] = 0.0
        sc[i] = 0.0
        dg[i] = 0.0
        dv[i] = 0.0


def sgd_steps(Jt, g, v, n_steps, s, wa):
    """:func:`sgd_steps_with` for SGD (the rule's kernel :func:`symphase._generated.rule.sgd_example`):
    :func:`online_steps` for ``b = 1``, :func:`minibatch_steps` for ``b > 1``. Chosen here, not in a compiled
    kernel, so that a run compiles only the kernel of its minibatch: the minibatch kernel's BLAS products
    nearly double the first compile of the one-pass kernel (about 2.7 s alone, 4.9 s together)."""
    return (minibatch_steps if wa.b > 1 else online_steps)(Jt, g, v, n_steps, s, wa)


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def online_steps(Jt, g, v, n_steps, s, wa):
    """:func:`online_steps_with` for SGD (``b = 1``; :func:`sgd_steps`)."""
    return online_steps_with(sgd_example, Jt, g, v, n_steps, s, wa)


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def minibatch_steps(Jt, g, v, n_steps, s, wa):
    """:func:`minibatch_steps_with` for SGD (``b > 1``; :func:`sgd_steps`)."""
    return minibatch_steps_with(sgd_example, Jt, g, v, n_steps, s, wa)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # the wrappers bind the rule statically
def sgd_steps_with(example, Jt, g, v, n_steps, s, wa):
    """:func:`minibatch_steps_with` for ``b > 1``, else :func:`online_steps_with`: the steps on the weights of the
    rule whose per-example kernel is ``example`` (a registered rule's engine, :mod:`symphase._rule`)."""
    if wa.b > 1:
        return minibatch_steps_with(example, Jt, g, v, n_steps, s, wa)
    return online_steps_with(example, Jt, g, v, n_steps, s, wa)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def online_steps_with(example, Jt, g, v, n_steps, s, wa):
    """Advance ``n_steps`` steps of the rule whose per-example kernel is ``example`` in place
    (docs/model.md §2, §13; SGD: :func:`symphase._generated.rule.sgd_example`, the rule's
    coefficients ``a_i``, ``p_i``, ``dg_i``, ``dv_i`` of one example, summed over the batch here).

    ``Jt`` (N, K) are the student's transposed weights, ``g`` (K,) the BN gains, ``v`` (K,) the
    student's second layer, ``s`` the RNG state; ``wa`` the :data:`WeightArgs` (:func:`weight_args`):
    the teacher's transposed weights ``Bt`` (N, M) and output weights ``vt`` (M,) ``= c_M v*``, the
    parameter record, the minibatch ``b``, the blow-up bound and the work arrays ``xi`` (N,) and
    ``dJ`` (N, K; used when b > 1). Per example ``u = h_i x_i`` with ``h_i = g_i/(sigma sqrt Q_ii)``
    (BN) or 1, ``Delta = sum_n vt_n phi(y_n) + noise - c sum_i v_i phi(u_i)``, ``m_i = c v_i``;
    ``J_i += (eta/(N b)) sum_u m_i h_i Delta phi'(u_i) (xi - e x_i J_i/Q_ii) - (lam/N) J_i``
    (e = 1 for the exact BN rule), ``g_i += (eta/(N b)) sum_u m_i Delta phi'(u_i) x_i/(sigma sqrt Q_ii)``
    when learned, ``v_i += (eta2/(N b)) sum_u c Delta phi(u_i) - (lam/N) v_i`` when learned;
    all terms of a batch use the weights before the step.
    Returns the number of steps done before the weights became non-finite or
    some ``|J_i|^2 > blowup`` (``n_steps`` if none).

    One pass over the N components per example: a step's update is applied
    in the pass that draws the next example (and accumulates ``x = J xi``,
    ``y = B xi`` with the updated weights); the last one is flushed at the end. (For ``b > 1``
    :func:`minibatch_steps_with` is faster; :func:`sgd_steps_with` chooses.)
    """
    Bt, vt, par, b, blowup, ws = wa.Bt, wa.vt, wa.par, wa.b, wa.blowup, wa.ws
    xi, dJ, x, y, h, inv_s, qn, keep, sc, dg, dv = (ws.xi, ws.dJ, ws.x, ws.y, ws.h, ws.inv_s, ws.qn, ws.keep,
                                                    ws.sc, ws.dg, ws.dv)
    N, K = Jt.shape
    M = Bt.shape[1]
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    consts = rule_constants(par, N, b)
    learn_v, decay = par[LEARN_V] != 0.0, par[WEIGHT_DECAY] / N
    # one example's coefficients: d, a (its coefficient of xi, coef), p, dg, dv
    out = ws.ex
    coef = out[1]
    _reset(h, inv_s, keep, coef, sc, dg, dv)
    state = (h, inv_s, qn, v, vt)
    if b > 1:
        dJ[:, :] = 0.0
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        qn[i] = acc
    pending = False
    for step in range(n_steps):
        for u in range(b):
            for i in range(K):
                x[i] = 0.0
            for n in range(M):
                y[n] = 0.0
            if u == 0 and pending:
                # apply the previous step, draw this example, fields with the new weights
                for i in range(K):
                    qn[i] = 0.0
                for l in range(N):
                    old = xi[l]
                    z = sigma * next_normal(s)
                    xi[l] = z
                    for i in range(K):
                        if b == 1:
                            w = keep[i] * Jt[l, i] + coef[i] * old
                        else:
                            w = keep[i] * Jt[l, i] + (dJ[l, i] + coef[i] * old)
                            dJ[l, i] = 0.0
                        Jt[l, i] = w
                        qn[i] += w * w
                        x[i] += w * z
                    for n in range(M):
                        y[n] += Bt[l, n] * z
                step_gain_and_v(g, v, dg, dv, decay, learn, learn_v)
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
                if not begin_step(qn, g, sigma, bn, blowup, h, inv_s, (sc, dg, dv)):
                    return step
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            example(x, y, noise, state, consts, out)
            for i in range(K):
                sc[i] += out[2][i]
                dg[i] += out[3][i]
                dv[i] += out[4][i]
        for i in range(K):
            keep[i] = 1.0 - sc[i] - decay
        pending = True
    if pending:  # flush the last step
        for i in range(K):
            qn[i] = 0.0
        for l in range(N):
            old = xi[l]
            for i in range(K):
                if b == 1:
                    w = keep[i] * Jt[l, i] + coef[i] * old
                else:
                    w = keep[i] * Jt[l, i] + (dJ[l, i] + coef[i] * old)
                Jt[l, i] = w
                qn[i] += w * w
        step_gain_and_v(g, v, dg, dv, decay, learn, learn_v)
    for i in range(K):
        if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)) or not math.isfinite(v[i]):
            return n_steps - 1
    return n_steps


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def minibatch_steps_with(example, Jt, g, v, n_steps, s, wa):
    """:func:`sgd_steps_with` for a minibatch ``b > 1`` (population statistics), as matrix products:
    the batch ``X`` (b, N) drawn example by example (its ``N`` inputs, then its output noise: the
    random stream of the one-pass kernel), the fields ``X J^T`` and ``X B^T`` and the update
    ``J <- keep J + A^T X`` (``A`` (b, K) the examples' coefficients ``a_i``) by BLAS. The same
    update as the one-pass kernel to rounding (another order of the same sums); about 5 times
    faster at ``N = b = 100``, ``K = M = 10`` (Fig. 3). Returns as :func:`sgd_steps_with`."""
    Bt, vt, par, b, blowup, ws = wa.Bt, wa.vt, wa.par, wa.b, wa.blowup, wa.ws
    X, dJ, h, inv_s, qn, sc, dg, dv = ws.X, ws.dJ, ws.h, ws.inv_s, ws.qn, ws.sc, ws.dg, ws.dv
    xs, ys, A, noise, out = ws.xs, ws.ys, ws.A, ws.noise, ws.ex
    N, K = Jt.shape
    sigma, noise_sd, bn, _, learn, _ = step_constants(par, N, b)
    consts = rule_constants(par, N, b)
    learn_v, decay = par[LEARN_V] != 0.0, par[WEIGHT_DECAY] / N
    _reset(h, inv_s, ws.keep, out[1], sc, dg, dv)
    state = (h, inv_s, qn, v, vt)
    for step in range(n_steps):
        squared_norms(Jt, qn)
        if not begin_step(qn, g, sigma, bn, blowup, h, inv_s, (sc, dg, dv)):
            return step
        for u in range(b):
            for l in range(N):
                X[u, l] = sigma * next_normal(s)
            noise[u] = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
        _dot_into(X, Jt, xs)
        _dot_into(X, Bt, ys)
        for u in range(b):
            example(xs[u], ys[u], noise[u], state, consts, out)
            for i in range(K):
                A[u, i] = out[1][i]
                sc[i] += out[2][i]
                dg[i] += out[3][i]
                dv[i] += out[4][i]
        _dot_into(X.T, A, dJ)
        for l in range(N):
            for i in range(K):
                Jt[l, i] = (1.0 - sc[i] - decay) * Jt[l, i] + dJ[l, i]
        step_gain_and_v(g, v, dg, dv, decay, learn, learn_v)
    squared_norms(Jt, qn)
    for i in range(K):
        if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)) or not math.isfinite(v[i]):
            return n_steps - 1
    return n_steps


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def test_error_sum(Jt, g, v, n_test, s, wa, total):
    """``total`` plus ``sum (t - s)^2/2`` over ``n_test`` fresh inputs (no output noise), added one input at
    a time: a test set drawn in pieces, each continuing the last one's sum and random stream, gives the
    same bits as in one piece (so a long test set can stop for Ctrl-C between pieces). The student
    ``Jt``, ``g``, ``v`` and the teacher and parameters ``wa`` as in :func:`sgd_steps_with`."""
    Bt, vt, par = wa.Bt, wa.vt, wa.par
    N, K = Jt.shape
    M = Bt.shape[1]
    cs, act = par[SCALE], int(par[ACTIVATION])
    sigma = math.sqrt(par[TAU])
    bn = par[BN] != 0.0
    h, x, y = wa.ws.h, wa.ws.x, wa.ws.y
    for i in range(K):
        h[i] = 1.0
    if bn:
        for i in range(K):
            acc = 0.0
            for l in range(N):
                acc += Jt[l, i] * Jt[l, i]
            h[i] = g[i] / (sigma * math.sqrt(acc))
    for _ in range(n_test):
        for i in range(K):
            x[i] = 0.0
        for n in range(M):
            y[n] = 0.0
        for l in range(N):
            z = sigma * next_normal(s)
            for i in range(K):
                x[i] += Jt[l, i] * z
            for n in range(M):
                y[n] += Bt[l, n] * z
        delta = output_error(x, y, h, v, vt, cs, act, 0.0)
        total += 0.5 * delta * delta
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def test_error(Jt, g, v, n_test, s, wa):
    """Test-set estimate of ``eps_g = <(t - s)^2>/2`` over ``n_test`` fresh inputs (no output noise)."""
    return test_error_sum(Jt, g, v, n_test, s, wa, 0.0) / n_test


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def batch_stats_step(Jt, Bt, g, par, X, noise, x, y, coef, blowup, stats):
    """One BN step with the batch's own statistics on the given batch ``X`` (b, N) (inputs of
    variance tau) and teacher-output noise ``noise`` (b,). ``x`` (b, K), ``y`` (b, M), ``coef``
    (b, K) and ``stats`` (three arrays (K,): the gain's increment, the batch mean and standard deviation) are
    work arrays. ``xhat_ui = g_i (x_ui - m_i)/s_i`` with the batch mean ``m_i`` and
    standard deviation ``s_i`` (1/b normalization, as BN layers use), ``d_ui = Delta_u phi'(xhat_ui)``:
    ``g_i += (eta/N) <d_ui z_ui>_u`` (``z = (x - m)/s``); the paper's rule (statistics held fixed)
    ``J_i += (eta/N) (g_i/s_i) <d_ui xi_u>_u``; the exact rule (the true gradient of the batch
    loss ``<Delta^2/2>_u``, as backpropagation through BN) ``J_i += (eta/N) (g_i/s_i)
    <(d_ui - <d_i> - z_ui <d_i z_i>) xi_u>_u``. Returns False when a batch standard deviation
    is zero (weights untouched) or the new weights are not finite or some ``|J_i|^2 > blowup``."""
    b, N = X.shape
    K = Jt.shape[1]
    M = Bt.shape[1]
    eta = par[ETA]
    exact = par[EXACT] != 0.0
    learn = par[LEARN_GAIN] != 0.0
    lr = eta / (N * b)
    x[:, :] = 0.0
    y[:, :] = 0.0
    for u in range(b):
        for l in range(N):
            v = X[u, l]
            for i in range(K):
                x[u, i] += Jt[l, i] * v
            for n in range(M):
                y[u, n] += Bt[l, n] * v
    dg, mean, sd = stats
    if not batch_stats_coefficients(x, y, noise, g, lr, exact, learn, x, coef, dg, mean, sd):
        return False
    for i in range(K):
        g[i] += dg[i]
    for l in range(N):
        for i in range(K):
            w = Jt[l, i]
            for u in range(b):
                w += coef[u, i] * X[u, l]
            Jt[l, i] = w
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        if not (acc <= blowup) or not (acc > 0.0):
            return False
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def sgd_steps_batch_stats(Jt, g, n_steps, s, wa):
    """``n_steps`` BN steps with batch statistics (:func:`batch_stats_step`) on fresh batches
    ``X = wa.ws.X`` (b, N) drawn from the RNG state ``s``; returns the number of steps done. ``wa``
    is the :data:`WeightArgs` (:func:`weight_args` with ``batch_stats=True``)."""
    Bt, par, b, blowup, ws = wa.Bt, wa.par, wa.b, wa.blowup, wa.ws
    X, x, y, coef, noise = ws.X, ws.xs, ws.ys, ws.A, ws.noise
    N = Jt.shape[0]
    sigma = math.sqrt(par[TAU])
    noise_sd = math.sqrt(par[NOISE])
    for u in range(b):
        noise[u] = 0.0
    for step in range(n_steps):
        for u in range(b):
            for l in range(N):
                X[u, l] = sigma * next_normal(s)
            if noise_sd > 0.0:
                noise[u] = noise_sd * next_normal(s)
        if not batch_stats_step(Jt, Bt, g, par, X, noise, x, y, coef, blowup, (ws.dg, ws.mean, ws.sd)):
            return step
    return n_steps


@numba.njit(cache=True, nogil=True, **NO_NRT)
def record_state(Jt, Bt, g, has_gain, Q, R, y):
    """Pack the overlaps ``Q = J J^T``, ``R = J B^T`` (and ``g``) of the weights into ``y``."""
    N, K = Jt.shape
    M = Bt.shape[1]
    for i in range(K):
        for k in range(i, K):
            acc = 0.0
            for l in range(N):
                acc += Jt[l, i] * Jt[l, k]
            Q[i, k] = Q[k, i] = acc
        for n in range(M):
            acc = 0.0
            for l in range(N):
                acc += Jt[l, i] * Bt[l, n]
            R[i, n] = acc
    pack_into(Q, R, g, has_gain, y)
