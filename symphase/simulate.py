"""Online SGD at finite ``N``: the learning that the order-parameter ODEs describe.

Numba kernels run the update rules of MODEL.md §2 (plain, BN with the paper's
rule, BN with the exact gradient; gain learned or fixed) on weights ``J``
(students) and ``B`` (teacher), a fresh minibatch of ``b`` Gaussian inputs of
variance ``tau`` every step, learning rate ``eta/N``, ``alpha = steps/N``. BN
uses the population statistics ``sigma sqrt(Q_ii)`` with ``Q_ii = |J_i|^2``
(the model the theory describes, MODEL.md §1), or on request the batch's own
mean and standard deviation (:func:`batch_stats_step`).

Random numbers: each seed owns a xoshiro256** stream (Blackman & Vigna 2018,
seeded from ``numpy.random.SeedSequence(seed)``) and draws Gaussians with a
256-layer ziggurat (Marsaglia & Tsang 2000, 52-bit variant as in NumPy), one
64-bit draw per Gaussian 99% of the time. One pass over the N components per
example: drawing ``xi``, the fields ``J xi``, ``B xi`` and applying the
previous step's update are fused (:func:`sgd_steps`). A seed's numbers do not depend on
how many workers run. :func:`simulate` runs the seeds on a thread pool (the
kernels release the GIL) and returns a :class:`SimulationResult` with a
leading seed axis.
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from . import kernels
from .initial import psd_factor, teacher_weights
from .layout import pack_into
from .model import check_int, check_model, check_real, check_state
from .ode import check_alphas, default_alphas
from .results import ODEResult, Status

# ---------------------------------------------------------------------------
# Random numbers: xoshiro256** + a 256-layer ziggurat for Gaussians
# ---------------------------------------------------------------------------
_U64 = np.uint64


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@numba.njit(cache=True, inline="always")
def next_u64(s):
    """Next 64-bit output of xoshiro256** with state ``s`` (4 x uint64, advanced in place)."""
    result = _rotl(s[1] * _U64(5), 7) * _U64(9)
    t = s[1] << _U64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@numba.njit(cache=True, inline="always")
def next_uniform(s):
    """Uniform in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U64(11)) * (1.0 / 9007199254740992.0)


def _ziggurat_tables(n: int = 256, r: float = 3.6541528853610088):
    """Marsaglia & Tsang's ziggurat for ``f(x) = exp(-x^2/2)``: ``n`` layers of equal area ``v``.

    ``x_1 = r`` (the tail starts there), ``x_0 = v/f(r)`` (the base layer with
    the tail folded in), ``f(x_{i+1}) = f(x_i) + v/x_i``, ``x_n = 0``. Returns
    ``w_i = x_i/2^52`` (52-bit integer to abscissa; i = 0..2n-1, the second half
    negated to carry the sign), ``k_i = floor(2^52 x_{i+1}/x_i)``
    (fast acceptance: the point lies inside the next layer's rectangle) and
    ``f_i = f(x_i)`` (i = 0..n).
    """
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    x = np.empty(n + 1)
    x[0], x[1], x[n] = v / f(r), r, 0.0
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    assert abs(x[n - 1] * (1.0 - f(x[n - 1])) - v) < 1e-12  # the top layer closes
    scale = 2.0 ** 52
    w = x[:n] / scale
    w = np.concatenate([w, -w])  # index with 9 bits: layer and sign, no branch on the sign
    k = np.array([int(math.floor(scale * x[i + 1] / x[i])) for i in range(n)], dtype=np.uint64)
    fx = np.array([f(xi) for xi in x])
    return w, k, fx


ZIG_W, ZIG_K, ZIG_F = _ziggurat_tables()
ZIG_R = 3.6541528853610088


@numba.njit(cache=True, inline="always")
def _zig_draw(s):
    """One 64-bit draw split into the layer (8 bits), and the 52-bit abscissa with its sign bit."""
    r = next_u64(s)
    rabs = r >> _U64(12)
    return np.intp(r & _U64(255)), rabs, float(np.int64(rabs)) * ZIG_W[np.intp(r & _U64(511))]


@numba.njit(cache=True)
def _normal_slow(s, idx, x):
    """The ziggurat's rare branch (about 1% of draws): the tail (``idx = 0``) or a wedge."""
    while True:
        if idx == 0:  # tail beyond r (Marsaglia 1964)
            while True:
                xx = -math.log1p(-next_uniform(s)) / ZIG_R
                yy = -math.log1p(-next_uniform(s))
                if yy + yy > xx * xx:
                    return -(ZIG_R + xx) if x < 0.0 else ZIG_R + xx
        if ZIG_F[idx] + next_uniform(s) * (ZIG_F[idx + 1] - ZIG_F[idx]) < math.exp(-0.5 * x * x):
            return x
        idx, rabs, x = _zig_draw(s)  # rejected: a fresh draw
        if rabs < ZIG_K[idx]:
            return x


@numba.njit(cache=True, inline="always")
def next_normal(s):
    """A standard Gaussian from the xoshiro256** state ``s``: ziggurat, 256 layers.

    One 64-bit draw: 8 bits pick the layer, 1 bit the sign, 52 bits the abscissa.
    """
    idx, rabs, x = _zig_draw(s)
    if rabs < ZIG_K[idx]:
        return x
    return _normal_slow(s, idx, x)


@numba.njit(cache=True, nogil=True)
def fill_normal(s, out):
    """Fill ``out`` with standard Gaussians (ziggurat on xoshiro256** state ``s``)."""
    for i in range(out.size):
        out[i] = next_normal(s)


def rng_state(seed: int, stream: int = 0) -> np.ndarray:
    """The xoshiro256** state of ``seed`` (from ``numpy.random.SeedSequence``; never all zero).

    ``stream`` 0 drives the training (inputs, output noise); stream 1 the test
    set, so asking for a test estimate does not change the training.
    """
    ss = np.random.SeedSequence(seed) if stream == 0 else np.random.SeedSequence([seed, 0x7E57, stream])
    st = ss.generate_state(4, dtype=np.uint64)
    if not st.any():
        st[0] = 1
    return st


# ---------------------------------------------------------------------------
# The SGD kernel
# ---------------------------------------------------------------------------
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SQRT_HALF = math.sqrt(0.5)
# parameter vector of the kernels
P_ETA, P_TAU, P_NOISE, P_BN, P_EXACT, P_LEARN = range(6)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sgd_steps(Jt, Bt, g, par, b, n_steps, s, xi, dJ, blowup):
    """Advance ``n_steps`` SGD steps in place (MODEL.md §2).

    ``Jt`` (N, K), ``Bt`` (N, M) are the transposed weights, ``g`` (K,) the BN
    gains, ``s`` the RNG state, ``xi`` (N,) and ``dJ`` (N, K; used when b > 1)
    work arrays. Per example ``u = h_i x_i`` with ``h_i = g_i/(sigma sqrt Q_ii)``
    (BN) or 1, ``Delta = sum_n phi(y_n) + noise - sum_i phi(u_i)``;
    ``J_i += (eta/(N b)) sum_u h_i Delta phi'(u_i) (xi - e x_i J_i/Q_ii)`` (e = 1 for
    the exact BN rule), ``g_i += (eta/(N b)) sum_u Delta phi'(u_i) x_i/(sigma sqrt Q_ii)``
    when learned; all terms of a batch use the weights before the step.
    Returns the number of steps done before the weights became non-finite or
    some ``|J_i|^2 > blowup`` (``n_steps`` if none).

    One pass over the N components per example: a step's update is applied
    in the pass that draws the next example (and accumulates ``x = J xi``,
    ``y = B xi`` with the updated weights); the last one is flushed at the end.
    """
    N, K = Jt.shape
    M = Bt.shape[1]
    eta, tau = par[P_ETA], par[P_TAU]
    sigma = math.sqrt(tau)
    noise_sd = math.sqrt(par[P_NOISE])
    bn = par[P_BN] != 0.0
    exact = par[P_EXACT] != 0.0
    learn = par[P_LEARN] != 0.0
    lr = eta / (N * b)
    x = np.empty(K)
    y = np.empty(M)
    h = np.ones(K)
    inv_s = np.ones(K)
    qn = np.zeros(K)
    coef = np.zeros(K)
    keep = np.ones(K)
    sc = np.zeros(K)
    dg = np.zeros(K)
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
                    v = sigma * next_normal(s)
                    xi[l] = v
                    for i in range(K):
                        if b == 1:
                            w = keep[i] * Jt[l, i] + coef[i] * old
                        else:
                            w = keep[i] * Jt[l, i] + (dJ[l, i] + coef[i] * old)
                            dJ[l, i] = 0.0
                        Jt[l, i] = w
                        qn[i] += w * w
                        x[i] += w * v
                    for n in range(M):
                        y[n] += Bt[l, n] * v
                if learn:
                    for i in range(K):
                        g[i] += dg[i]
            elif u == 0:
                for l in range(N):
                    v = sigma * next_normal(s)
                    xi[l] = v
                    for i in range(K):
                        x[i] += Jt[l, i] * v
                    for n in range(M):
                        y[n] += Bt[l, n] * v
            else:
                # accumulate the previous example of this batch, draw this one
                for l in range(N):
                    old = xi[l]
                    v = sigma * next_normal(s)
                    xi[l] = v
                    for i in range(K):
                        dJ[l, i] += coef[i] * old
                        x[i] += Jt[l, i] * v
                    for n in range(M):
                        y[n] += Bt[l, n] * v
            if u == 0:
                for i in range(K):
                    if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)):
                        return step
                    if bn:
                        inv_s[i] = 1.0 / (sigma * math.sqrt(qn[i]))
                        h[i] = g[i] * inv_s[i]
                    sc[i] = 0.0
                    dg[i] = 0.0
            delta = 0.0
            for n in range(M):
                delta += math.erf(y[n] * SQRT_HALF)
            if noise_sd > 0.0:
                delta += noise_sd * next_normal(s)
            for i in range(K):
                delta -= math.erf(h[i] * x[i] * SQRT_HALF)
            for i in range(K):
                u_i = h[i] * x[i]
                d = delta * SQRT_2_OVER_PI * math.exp(-0.5 * u_i * u_i)
                coef[i] = lr * h[i] * d
                if exact:
                    sc[i] += coef[i] * x[i] / qn[i]
                if learn:
                    dg[i] += lr * d * x[i] * inv_s[i]
        for i in range(K):
            keep[i] = 1.0 - sc[i]
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
        if learn:
            for i in range(K):
                g[i] += dg[i]
    for i in range(K):
        if not (qn[i] <= blowup) or (bn and not (qn[i] > 0.0)):
            return n_steps - 1
    return n_steps


@numba.njit(cache=True, nogil=True, error_model="numpy")
def test_error(Jt, Bt, g, par, n_test, s, xi):
    """Test-set estimate of ``eps_g = <(t - s)^2>/2`` over ``n_test`` fresh inputs (no output noise)."""
    N, K = Jt.shape
    M = Bt.shape[1]
    sigma = math.sqrt(par[P_TAU])
    bn = par[P_BN] != 0.0
    h = np.ones(K)
    if bn:
        for i in range(K):
            acc = 0.0
            for l in range(N):
                acc += Jt[l, i] * Jt[l, i]
            h[i] = g[i] / (sigma * math.sqrt(acc))
    x = np.empty(K)
    y = np.empty(M)
    total = 0.0
    for p in range(n_test):
        for i in range(K):
            x[i] = 0.0
        for n in range(M):
            y[n] = 0.0
        for l in range(N):
            v = sigma * next_normal(s)
            for i in range(K):
                x[i] += Jt[l, i] * v
            for n in range(M):
                y[n] += Bt[l, n] * v
        delta = 0.0
        for n in range(M):
            delta += math.erf(y[n] * SQRT_HALF)
        for i in range(K):
            delta -= math.erf(h[i] * x[i] * SQRT_HALF)
        total += 0.5 * delta * delta
    return total / n_test


@numba.njit(cache=True, nogil=True, error_model="numpy")
def batch_stats_step(Jt, Bt, g, par, X, noise, x, y, coef, blowup):
    """One BN step with the batch's own statistics on the given batch ``X`` (b, N) (inputs of
    variance tau) and teacher-output noise ``noise`` (b,). ``x`` (b, K), ``y`` (b, M), ``coef``
    (b, K) are work arrays. ``xhat_ui = g_i (x_ui - m_i)/s_i`` with the batch mean ``m_i`` and
    standard deviation ``s_i`` (1/b normalization, as BN layers use), ``d_ui = Delta_u phi'(xhat_ui)``:
    ``g_i += (eta/N) <d_ui z_ui>_u`` (``z = (x - m)/s``); the paper's rule (statistics held fixed)
    ``J_i += (eta/N) (g_i/s_i) <d_ui xi_u>_u``; the exact rule (the true gradient of the batch
    loss ``<Delta^2/2>_u``, as backpropagation through BN) ``J_i += (eta/N) (g_i/s_i)
    <(d_ui - <d_i> - z_ui <d_i z_i>) xi_u>_u``. Returns False when a batch standard deviation
    is zero (weights untouched) or the new weights are not finite or some ``|J_i|^2 > blowup``."""
    b, N = X.shape
    K = Jt.shape[1]
    M = Bt.shape[1]
    eta = par[P_ETA]
    exact = par[P_EXACT] != 0.0
    learn = par[P_LEARN] != 0.0
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
    m = np.zeros(K)
    sd = np.zeros(K)
    for i in range(K):
        for u in range(b):
            m[i] += x[u, i]
        m[i] /= b
        for u in range(b):
            sd[i] += (x[u, i] - m[i]) ** 2
        sd[i] = math.sqrt(sd[i] / b)
        if not sd[i] > 0.0:
            return False
    for u in range(b):  # x <- z = (x - m)/s; coef <- d
        delta = noise[u]
        for n in range(M):
            delta += math.erf(y[u, n] * SQRT_HALF)
        for i in range(K):
            x[u, i] = (x[u, i] - m[i]) / sd[i]
            delta -= math.erf(g[i] * x[u, i] * SQRT_HALF)
        for i in range(K):
            xh = g[i] * x[u, i]
            coef[u, i] = delta * SQRT_2_OVER_PI * math.exp(-0.5 * xh * xh)
    for i in range(K):
        dm = 0.0
        dz = 0.0
        for u in range(b):
            dm += coef[u, i]
            dz += coef[u, i] * x[u, i]
        dm /= b
        dz /= b
        for u in range(b):
            d = coef[u, i]
            if exact:
                d = d - dm - x[u, i] * dz
            coef[u, i] = lr * g[i] / sd[i] * d
        if learn:
            g[i] += lr * b * dz
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sgd_steps_batch_stats(Jt, Bt, g, par, b, n_steps, s, X, blowup):
    """``n_steps`` BN steps with batch statistics (:func:`batch_stats_step`) on fresh batches
    ``X`` (b, N) drawn from the RNG state ``s``; returns the number of steps done."""
    N, K = Jt.shape
    M = Bt.shape[1]
    sigma = math.sqrt(par[P_TAU])
    noise_sd = math.sqrt(par[P_NOISE])
    x = np.empty((b, K))
    y = np.empty((b, M))
    coef = np.empty((b, K))
    noise = np.zeros(b)
    for step in range(n_steps):
        for u in range(b):
            for l in range(N):
                X[u, l] = sigma * next_normal(s)
            if noise_sd > 0.0:
                noise[u] = noise_sd * next_normal(s)
        if not batch_stats_step(Jt, Bt, g, par, X, noise, x, y, coef, blowup):
            return step
    return n_steps


@numba.njit(cache=True, nogil=True)
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


# ---------------------------------------------------------------------------
# Initial weights
# ---------------------------------------------------------------------------


def weights_from_overlaps(model, N: int, Q, R, seed: int):
    """Weights ``(J, B)`` with ``B B^T = T``, ``J J^T = Q``, ``J B^T = R`` exactly (random orientation)."""
    K, M = model.K, model.M
    if N < K + M:
        raise ValueError(f"N must be an integer >= K + M = {K + M} to realise given overlaps, got {N}")
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, K + M)))[0].T  # K+M orthonormal rows
    G = np.block([[model.T, np.asarray(R).T], [np.asarray(R), np.asarray(Q)]])
    W = psd_factor(G) @ U
    return W[M:], W[:M]


def _check_init(model, N, init):
    """Normalise ``init`` to a dict with some of the keys J, B, Q, R, g (validated, shared by all seeds)."""
    if init is None:
        return None
    if isinstance(init, (tuple, list)):
        if len(init) not in (2, 3):
            raise ValueError(f"init must be None, a mapping, or a tuple (Q, R) / (Q, R, g) of overlaps; "
                             f"got a sequence of length {len(init)}")
        init = dict(zip(("Q", "R", "g"), init))
    elif not hasattr(init, "keys"):
        raise ValueError(f"init must be None, a mapping or a tuple (Q, R[, g]); got {type(init).__name__}")
    init = {k: v for k, v in dict(init).items() if v is not None}
    unknown = set(init) - {"J", "B", "Q", "R", "g"}
    if unknown:
        raise ValueError(f"init: unknown keys {sorted(unknown)} (allowed: J, B, Q, R, g)")
    K, M = model.K, model.M
    out = {}
    if "g" in init:
        if model.bn is None:
            raise ValueError("init: 'g' is only meaningful for a batch-norm model (bn='paper' or 'exact')")
        g = np.array(init["g"], dtype=float)
        if g.shape != (K,) or not np.all(np.isfinite(g)) or np.any(g == 0):
            raise ValueError(f"init: 'g' must be K={K} finite non-zero gains, got {init['g']!r}")
        out["g"] = g
    if "J" in init:
        if "Q" in init or "R" in init:
            raise ValueError("init: give either weights ('J', optionally 'B') or overlaps ('Q', 'R'), not both")
        J = np.array(init["J"], dtype=float)
        if J.shape != (K, N) or not np.all(np.isfinite(J)):
            raise ValueError(f"init: 'J' must be a finite array of shape (K, N) = ({K}, {N}), got shape {J.shape}")
        if model.bn is not None and np.any(np.sum(J * J, axis=1) == 0):
            raise ValueError("init: 'J' rows must be non-zero under batch norm (it divides by |J_i|)")
        out["J"] = J
        if "B" in init:
            B = np.array(init["B"], dtype=float)
            if B.shape != (M, N) or not np.all(np.isfinite(B)):
                raise ValueError(f"init: 'B' must be a finite array of shape (M, N) = ({M}, {N}), got shape {B.shape}")
            out["B"] = B
        return out
    if "B" in init:
        raise ValueError("init: 'B' needs 'J' (give both weights, or overlaps 'Q' and 'R')")
    if "Q" in init or "R" in init:
        if "Q" not in init or "R" not in init:
            raise ValueError("init: overlaps need both 'Q' and 'R'")
        Q, R, _ = check_state(model, init["Q"], init["R"], out.get("g"), names=("init Q", "init R", "init g"))
        if N < K + M:
            raise ValueError(f"N must be an integer >= K + M = {K + M} to realise given overlaps, got {N}")
        out["Q"], out["R"] = Q, R
        return out
    if out:
        return out  # only g: random weights with these gains
    raise ValueError("init: give 'J' (and optionally 'B'), or 'Q' and 'R' (and optionally 'g')")


def _initial_weights(model, N, seed, init, exact_teacher):
    """``(J, B, g)`` for one seed: random (MODEL.md §1: ``J_il ~ N(0, 1/N)``) or from ``init``."""
    g = np.ones(model.K)
    if init is not None and "g" in init:
        g = init["g"].copy()
    rng = np.random.default_rng(seed)  # same draws as symphase.initial.random_weights
    if init is not None and "Q" in init:
        J, B = weights_from_overlaps(model, N, init["Q"], init["R"], seed)
        return J, B, g
    if init is not None and "J" in init:
        B = init["B"] if "B" in init else teacher_weights(model, N, rng, exact_T=exact_teacher)
        return init["J"], B, g
    B = teacher_weights(model, N, rng, exact_T=exact_teacher)
    J = rng.standard_normal((model.K, N)) / np.sqrt(N)
    return J, B, g


def _check_seeds(seeds) -> np.ndarray:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return np.arange(check_int("seeds", seeds, minimum=1))
    try:
        seed_list = np.array([int(s) for s in seeds], dtype=np.int64)
        if any(isinstance(s, bool) or int(s) != s for s in seeds):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"seeds must be an integer >= 1 or a sequence of integer seeds >= 0, got {seeds!r}") from None
    if seed_list.size == 0 or np.any(seed_list < 0) or len(set(seed_list.tolist())) != seed_list.size:
        raise ValueError(f"seeds must be an integer >= 1 or a non-empty sequence of distinct integer seeds >= 0, "
                         f"got {seeds!r}")
    return seed_list


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


@dataclass(repr=False)
class SimulationResult(ODEResult):
    """Result of :func:`simulate`: arrays with a leading seed axis.

    ``eg`` (seeds, n) the exact ``eps_g`` of the recorded overlaps (Eq. 13),
    ``Q`` (seeds, n, K, K), ``R`` (seeds, n, K, M), ``g`` (seeds, n, K) or None,
    ``alpha`` (n,) the actual ``steps/N``; ``eg_test`` (seeds, n) the test-set
    estimate or None; ``initial`` = {"Q": (seeds, K, K), "R": (seeds, K, M),
    "g": (seeds, K) or None, "T": (seeds, M, M)}: the overlaps each seed
    started from (``T`` is the model's unless ``exact_teacher=False``).
    **A seed that diverged or was interrupted has NaN after its last recorded
    point**: ``seed_status`` (one string per seed) and ``n_recorded`` say
    which and how far; ``status``/``message`` summarize.
    """

    initial: dict = field(default_factory=dict)
    N: int = 0
    seeds: np.ndarray = None
    seed_status: list = field(default_factory=list)
    n_recorded: np.ndarray = None
    eg_test: np.ndarray | None = None

    def to_xarray(self):
        ds = super().to_xarray()
        if self.eg_test is not None:
            ds["eg_test"] = (("seed", "alpha"), self.eg_test,
                             {"long_name": "test-set estimate of eps_g", "n_test": self.info.get("n_test", 0)})
        ds["seed_status"] = ("seed", np.array([str(c) for c in self.seed_status]),
                             {"long_name": "how each seed ended; NaN after its last recorded point if not completed"})
        ds["Q0"] = (("seed", "student", "student_k"), self.initial["Q"], {"long_name": "initial Q of each seed"})
        ds["R0"] = (("seed", "student", "teacher"), self.initial["R"], {"long_name": "initial R of each seed"})
        if self.initial.get("g") is not None:
            ds["g0"] = (("seed", "student"), self.initial["g"], {"long_name": "initial g of each seed"})
        ds.attrs["N"] = self.N
        return ds


def _advance(Jt, Bt, g, par, b, n, s, xi, dJ, blowup, batch_stats):
    """One chunk of steps (a seam for the interrupt test)."""
    if batch_stats:
        return sgd_steps_batch_stats(Jt, Bt, g, par, b, n, s, dJ, blowup)
    return sgd_steps(Jt, Bt, g, par, b, n, s, xi, dJ, blowup)


def simulate(model, N, eta, alpha_max, *, seeds=1, alphas=None, init=None, workers=None, n_test=0,
             exact_teacher=True, bn_stats="population", blowup=1e6, progress=False) -> SimulationResult:
    """Online SGD on the teacher-student committee machine: per example
    ``J_i += (eta/N) Delta phi'(x_i) xi`` (plain, Saad & Solla 1995), the paper's
    Eqs. 2-3 (``bn="paper"``) or the true BN gradient (``bn="exact"``), MODEL.md §2;
    batch update = mean over ``model.batch`` fresh examples, ``alpha = steps/N``.

    Parameters
    ----------
    N, eta, alpha_max : inputs, learning rate (``eta/N`` per step), end of the run.
    seeds : int n (seeds 0..n-1) or a sequence of distinct ints >= 0. Each seed
        draws its own teacher, student and inputs from streams derived only
        from the seed, so results do not depend on ``workers``.
    alphas : where to record (increasing, in [0, alpha_max]; default 0 and
        log-spaced). Recorded at the step nearest each (duplicates merged);
        ``result.alpha`` holds the actual ``steps/N``.
    init : None (``J_il ~ N(0, 1/N)``, teacher as below, ``g = 1``);
        ``{"J": (K, N)[, "B": (M, N)][, "g": (K,)]}`` weights; or overlaps
        ``{"Q": (K, K), "R": (K, M)[, "g": (K,)]}`` or a tuple ``(Q, R[, g])``,
        realised exactly by weights of a seeded random orientation (N >= K+M);
        or a function ``seed -> any of these``, a start per seed (e.g.
        :func:`symphase.initial.near_fixed_point`).
    workers : threads (default: all cores).
    n_test : if > 0, also a test-set estimate ``eg_test`` of eps_g on ``n_test``
        fresh inputs per record (its own random stream; no output noise).
    exact_teacher : ``B B^T = model.T`` exactly (default) or ``B_nl ~ N(0, 1/N)``
        (the paper's; then ``initial["T"]`` holds each seed's actual ``T``).
    bn_stats : BN normalizes with ``"population"`` statistics ``sigma sqrt(Q_ii)``, zero
        mean (default; the N -> oo model of the theory, MODEL.md §1), or with the
        ``"batch"``'s own mean and standard deviation (a real BN layer; needs
        ``batch >= 2``; the exact rule is then backpropagation through the batch
        statistics, the paper's rule holds them fixed; see :func:`batch_stats_step`).
        The ODE describes the population version (batch statistics tend to the
        population ones as ``b -> oo``).
        ``eg`` (and ``eg_test``) is always the error of the network normalized
        with population statistics (BN's inference mode).
    blowup : a seed stops as diverged when some ``|J_i|^2`` exceeds it (or is not finite).
    progress : a tqdm bar (in steps).

    Failures are results: a diverged or interrupted seed keeps its records, its
    arrays are NaN after the last one, ``seed_status`` names it and
    ``status``/``message`` summarize.
    """
    model = check_model(model)
    N = check_int("N", N, minimum=1)
    eta = check_real("eta", eta, positive=True)
    alpha_max = check_real("alpha_max", alpha_max, positive=True)
    seed_list = _check_seeds(seeds)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    n_test = check_int("n_test", n_test, minimum=0)
    blowup = check_real("blowup", blowup, positive=True)
    if bn_stats not in ("population", "batch"):
        raise ValueError(f"bn_stats must be 'population' or 'batch', got {bn_stats!r}")
    batch_stats = bn_stats == "batch"
    if batch_stats and model.bn is None:
        raise ValueError("bn_stats='batch' needs a batch-norm model (bn='paper' or 'exact')")
    if batch_stats and model.batch < 2:
        raise ValueError(f"bn_stats='batch' needs batch >= 2 (a batch's standard deviation), got batch={model.batch}")
    alphas = default_alphas(alpha_max, 100) if alphas is None else check_alphas(alphas, alpha_max)
    steps = np.unique(np.rint(alphas * N).astype(np.int64))
    if callable(init):  # a start per seed
        inits = [_check_init(model, N, init(int(sd))) for sd in seed_list]
    else:
        inits = [_check_init(model, N, init)] * len(seed_list)
    if exact_teacher and model.M > N and any(i is None or "B" not in i for i in inits):
        raise ValueError(f"N must be an integer >= M = {model.M} for an exact teacher T, got {N}")

    K, M, lay = model.K, model.M, model.layout
    starts = [_initial_weights(model, N, int(sd), i, exact_teacher) for sd, i in zip(seed_list, inits)]
    par = np.array([eta, model.tau, model.noise, float(model.bn is not None), float(model.bn == "exact"),
                    float(model.bn is not None and model.gain == "learned")])
    b = model.batch
    n_seeds, n_rec = len(seed_list), steps.size
    ys = np.full((n_seeds, n_rec, lay.size), np.nan)
    eg_test = np.full((n_seeds, n_rec), np.nan) if n_test else None
    counts = np.zeros(n_seeds, dtype=np.int64)
    codes = [Status.COMPLETED] * n_seeds
    stop = threading.Event()
    bar = _progress(progress, n_seeds * int(steps[-1]))
    lock = threading.Lock()
    # steps per kernel call: about 1e7 multiply-adds, so Ctrl-C and the bar respond within ~0.1 s
    chunk = max(1, int(1e7 // (N * b * (K + M + 2))))

    def run_seed(j):
        J, B, g = starts[j]
        Jt, Bt = np.ascontiguousarray(J.T), np.ascontiguousarray(B.T)
        g = g.copy()
        s = rng_state(int(seed_list[j]))
        s_test = rng_state(int(seed_list[j]), 1)
        xi = np.empty(N)
        dJ = np.empty((b, N) if batch_stats else (N, K) if b > 1 else (1, K))  # the batch X under batch stats
        Qw, Rw = np.empty((K, K)), np.empty((K, M))
        done = 0
        for k in range(n_rec):
            while done < steps[k]:
                if stop.is_set():
                    codes[j] = Status.INTERRUPTED
                    return
                todo = int(min(chunk, steps[k] - done))
                did = _advance(Jt, Bt, g, par, b, todo, s, xi, dJ, blowup, batch_stats)
                done += did
                if bar is not None:
                    with lock:
                        bar.update(did)
                if did < todo:
                    codes[j] = Status.DIVERGED
                    return
            record_state(Jt, Bt, g, model.bn is not None, Qw, Rw, ys[j, k])
            if n_test:
                eg_test[j, k] = test_error(Jt, Bt, g, par, n_test, s_test, xi)
            counts[j] = k + 1

    try:
        if workers == 1 or n_seeds == 1:
            for j in range(n_seeds):
                run_seed(j)
        else:
            with ThreadPoolExecutor(max_workers=min(workers, n_seeds)) as pool:
                futures = [pool.submit(run_seed, j) for j in range(n_seeds)]
                try:
                    for f in futures:
                        f.result()
                except KeyboardInterrupt:
                    stop.set()
                    for f in futures:
                        f.result()
                    raise
    except KeyboardInterrupt:
        stop.set()
    finally:
        if bar is not None:
            bar.close()
    codes = [c if (c != Status.COMPLETED or counts[j] == n_rec) else Status.INTERRUPTED
             for j, c in enumerate(codes)]

    ws = kernels.workspace(K, M, np.zeros(lay.size))
    eg = np.full((n_seeds, n_rec), np.nan)
    Ts = np.array([B @ B.T for J, B, g in starts])
    for j in range(n_seeds):
        T = np.ascontiguousarray(Ts[j] if not exact_teacher else model.T, dtype=float)
        kp = kernels.params(model, eta)
        for k in range(counts[j]):
            eg[j, k] = kernels.eg(ys[j, k], ws, T, kp)
    Q, R, g = lay.unpack(ys)
    y0 = np.empty((n_seeds, lay.size))  # with the kernel that records, so alpha = 0 matches bit for bit
    for j, (J, B, g0) in enumerate(starts):
        record_state(np.ascontiguousarray(J.T), np.ascontiguousarray(B.T), g0, model.bn is not None,
                     np.empty((K, K)), np.empty((K, M)), y0[j])
    Q0, R0, g0 = lay.unpack(y0)
    initial = {"Q": Q0, "R": R0, "g": g0,
               "T": Ts if not exact_teacher else np.broadcast_to(model.T, (n_seeds, M, M)).copy()}
    bad = [(int(seed_list[j]), str(c)) for j, c in enumerate(codes) if c != Status.COMPLETED]
    if not bad:
        status, message = Status.COMPLETED, f"reached alpha = {steps[-1] / N:g} for {n_seeds} seed(s)"
    else:
        status = Status.INTERRUPTED if any(c == Status.INTERRUPTED for c in codes) else Status.DIVERGED
        message = (f"{len(bad)} of {n_seeds} seed(s) stopped early ({', '.join(f'seed {s}: {c}' for s, c in bad)});"
                   f" their arrays are NaN after the last recorded point"
                   + (f"; eta = {eta:g} may be too large" if status == Status.DIVERGED else ""))
    info = {"N": N, "seeds": seed_list, "batch": b, "n_test": n_test, "exact_teacher": int(exact_teacher),
            "bn_statistics": bn_stats}
    return SimulationResult(model=model, eta=eta, alpha=steps / N, Q=Q, R=R, g=g, eg=eg, status=status,
                            message=message, info=info, initial=initial, N=N, seeds=seed_list,
                            seed_status=[str(c) for c in codes], n_recorded=counts.copy(), eg_test=eg_test)


def _progress(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="step", unit_scale=True, desc="simulate")
