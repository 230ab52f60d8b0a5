"""Online SGD at finite ``N``: the learning that the order-parameter ODEs describe.

Numba kernels run the update rules of MODEL.md §2 (plain, BN with the paper's
rule, BN with the exact gradient; gain learned or fixed) on weights ``J``
(students) and ``B`` (teacher), a fresh minibatch of ``b`` Gaussian inputs of
variance ``tau`` every step, learning rate ``eta/N``, ``alpha = steps/N``. BN
uses the population statistics ``sigma sqrt(Q_ii)`` with ``Q_ii = |J_i|^2``
(the model the theory describes, MODEL.md §1).

Random numbers: each seed owns a xoshiro256** stream (seeded from
``numpy.random.SeedSequence(seed)``) and draws Gaussians by Marsaglia's polar
method, so a seed's numbers do not depend on how many workers run.
:func:`simulate` runs the seeds on a thread pool (the kernels release the GIL)
and returns an :class:`SimulationResult` with a leading seed axis.
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
from .initial import random_weights, teacher_weights
from .layout import pack_into
from .model import check_int, check_model, check_real, check_state
from .ode import check_alphas, default_alphas
from .results import ODEResult, Status

# ---------------------------------------------------------------------------
# Random numbers: xoshiro256** (Blackman & Vigna 2018) + Marsaglia's polar method
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


@numba.njit(cache=True)
def fill_normal(s, out):
    """Fill ``out`` with standard Gaussians (Marsaglia's polar method, pairs)."""
    n = out.size
    i = 0
    while i < n:
        u = 2.0 * next_uniform(s) - 1.0
        v = 2.0 * next_uniform(s) - 1.0
        r = u * u + v * v
        if r >= 1.0 or r == 0.0:
            continue
        m = math.sqrt(-2.0 * math.log(r) / r)
        out[i] = u * m
        if i + 1 < n:
            out[i + 1] = v * m
        i += 2


def rng_state(seed: int) -> np.ndarray:
    """The xoshiro256** state of ``seed`` (from ``numpy.random.SeedSequence``; never all zero)."""
    st = np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)
    if not st.any():
        st[0] = 1
    return st


# ---------------------------------------------------------------------------
# The SGD kernel
# ---------------------------------------------------------------------------
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# parameter vector of the kernel
P_ETA, P_TAU, P_NOISE, P_BN, P_EXACT, P_LEARN = range(6)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sgd_steps(Jt, Bt, g, par, b, n_steps, s, xi, dJ, blowup):
    """Advance ``n_steps`` SGD steps in place (MODEL.md §2). ``Jt`` (N, K), ``Bt`` (N, M)
    are the transposed weights, ``g`` (K,) the BN gains, ``s`` the RNG state, ``xi``
    (N,) and ``dJ`` (N, K) work arrays. Returns the number of steps done before the
    weights became non-finite or ``|J_i|^2 > blowup`` (``n_steps`` if none)."""
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
    qn = np.empty(K)
    coef = np.empty(K)
    sc = np.empty(K)
    dg = np.empty(K)
    noise = np.empty(2)
    for i in range(K):
        acc = 0.0
        for l in range(N):
            acc += Jt[l, i] * Jt[l, i]
        qn[i] = acc
    for step in range(n_steps):
        for i in range(K):
            if not (qn[i] <= blowup) or (bn and qn[i] <= 0.0):
                return step
            if bn:
                h[i] = g[i] / (sigma * math.sqrt(qn[i]))
            sc[i] = 0.0
            dg[i] = 0.0
        if b > 1:
            dJ[:, :] = 0.0
        for u in range(b):
            fill_normal(s, xi)
            for i in range(K):
                x[i] = 0.0
            for n in range(M):
                y[n] = 0.0
            for l in range(N):
                v = sigma * xi[l]
                xi[l] = v
                for i in range(K):
                    x[i] += Jt[l, i] * v
                for n in range(M):
                    y[n] += Bt[l, n] * v
            delta = 0.0
            for n in range(M):
                delta += math.erf(y[n] / math.sqrt(2.0))
            if noise_sd > 0.0:
                fill_normal(s, noise)
                delta += noise_sd * noise[0]
            for i in range(K):
                delta -= math.erf(h[i] * x[i] / math.sqrt(2.0))
            for i in range(K):
                u_i = h[i] * x[i]
                d = delta * SQRT_2_OVER_PI * math.exp(-0.5 * u_i * u_i)
                coef[i] = lr * h[i] * d
                if exact:
                    sc[i] += coef[i] * x[i] / qn[i]
                if learn:
                    dg[i] += lr * d * u_i / g[i]
            if b == 1:
                break
            for l in range(N):
                v = xi[l]
                for i in range(K):
                    dJ[l, i] += coef[i] * v
        # apply the batch update to the pre-batch weights; keep |J_i|^2 current
        for i in range(K):
            qn[i] = 0.0
        for l in range(N):
            for i in range(K):
                inc = coef[i] * xi[l] if b == 1 else dJ[l, i]
                v = (1.0 - sc[i]) * Jt[l, i] + inc
                Jt[l, i] = v
                qn[i] += v * v
        if learn:
            for i in range(K):
                g[i] += dg[i]
    for i in range(K):
        if not (qn[i] <= blowup) or (bn and qn[i] <= 0.0):
            return n_steps - 1
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
        raise ValueError(f"N must be >= K + M = {K + M} to realise given overlaps, got {N}")
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, K + M)))[0].T  # K+M orthonormal rows
    G = np.block([[model.T, np.asarray(R).T], [np.asarray(R), np.asarray(Q)]])
    w, V = np.linalg.eigh(G)
    L = V * np.sqrt(np.clip(w, 0.0, None))  # L L^T = G
    W = L @ U
    return W[M:], W[:M]


def _initial_weights(model, N, seed, init):
    """``(J, B, g)`` for one seed: random (MODEL.md §1) or from ``init``."""
    g = np.ones(model.K) if model.bn is not None else np.zeros(model.K)
    if init is None:
        J, B = random_weights(model, N, seed)
        return J, B, g
    init = dict(init)
    unknown = set(init) - {"J", "B", "Q", "R", "g"}
    if unknown:
        raise ValueError(f"init: unknown keys {sorted(unknown)} (allowed: J, B, Q, R, g)")
    if "g" in init and init["g"] is not None:
        if model.bn is None:
            raise ValueError("init: 'g' is only meaningful for a batch-norm model")
        g = np.array(init["g"], dtype=float)
        if g.shape != (model.K,) or not np.all(np.isfinite(g)) or np.any(g == 0):
            raise ValueError(f"init: 'g' must be K={model.K} finite non-zero gains, got {init['g']!r}")
    if "J" in init:
        J = np.array(init["J"], dtype=float)
        if J.shape != (model.K, N) or not np.all(np.isfinite(J)):
            raise ValueError(f"init: 'J' must be a finite array of shape (K, N) = ({model.K}, {N})")
        if "B" in init:
            B = np.array(init["B"], dtype=float)
            if B.shape != (model.M, N) or not np.all(np.isfinite(B)):
                raise ValueError(f"init: 'B' must be a finite array of shape (M, N) = ({model.M}, {N})")
        else:
            B = teacher_weights(model, N, np.random.default_rng(seed))
        return J, B, g
    if "Q" in init or "R" in init:
        Q, R, _ = check_state(model, init.get("Q"), init.get("R"), None if model.bn is None else g,
                              names=("init Q", "init R", "init g"))
        J, B = weights_from_overlaps(model, N, Q, R, seed)
        return J, B, g
    raise ValueError("init: give 'J' (and optionally 'B'), or 'Q' and 'R'")


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


@dataclass(repr=False)
class SimulationResult(ODEResult):
    """Result of :func:`simulate`: arrays with a leading seed axis, ``eg`` (seeds, n),
    ``Q`` (seeds, n, K, K), ``R`` (seeds, n, K, M), ``g`` (seeds, n, K) or None, and
    ``initial`` = {"Q": (seeds, K, K), "R": (seeds, K, M), "g": (seeds, K) or None}.
    A seed that diverged or was interrupted has NaN after its last recorded point;
    ``seed_status`` says which (and ``status``/``message`` summarize)."""

    initial: dict = field(default_factory=dict)
    N: int = 0
    seeds: np.ndarray = None
    seed_status: list = field(default_factory=list)


def simulate(model, N, eta, alpha_max, *, seeds=1, alphas=None, init=None, workers=None, blowup=1e6,
             progress=False) -> SimulationResult:
    """Online SGD on the teacher-student committee machine (MODEL.md §1-2; Saad & Solla 1995,
    the paper's Eqs. 2-3 for ``bn="paper"``, the true BN gradient for ``bn="exact"``).

    ``N`` inputs, learning rate ``eta/N``, minibatch ``model.batch``, up to
    ``alpha_max = steps/N``. Records ``Q``, ``R``, ``g`` and the exact ``eps_g`` of
    the overlaps at the steps nearest ``alphas`` (default: 0 and log-spaced);
    ``alpha`` holds the actual ``steps/N``. ``seeds``: a count (seeds 0..n-1) or
    a sequence of seeds; each seed draws its own teacher, student and inputs.
    ``init``: None (``J ~ N(0, 1/N)``, ``B B^T = T``), ``{"J": ..., "B": ...}``
    weights, or ``{"Q": ..., "R": ...}`` overlaps to start from (and ``"g"``).
    ``workers``: threads (default: all cores); results do not depend on it.
    """
    model = check_model(model)
    N = check_int("N", N, minimum=1)
    eta = check_real("eta", eta, positive=True)
    alpha_max = check_real("alpha_max", alpha_max, positive=True)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seed_list = np.arange(check_int("seeds", seeds, minimum=1))
    else:
        try:
            seed_list = np.array([int(s) for s in seeds], dtype=np.int64)
        except (TypeError, ValueError):
            raise ValueError(f"seeds must be an integer >= 1 or a sequence of integer seeds, got {seeds!r}") from None
        if seed_list.size == 0 or np.any(seed_list < 0) or len(set(seed_list.tolist())) != seed_list.size:
            raise ValueError(f"seeds must be an integer >= 1 or a non-empty sequence of distinct seeds >= 0, "
                             f"got {seeds!r}")
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    alphas = default_alphas(alpha_max, 100) if alphas is None else check_alphas(alphas, alpha_max)
    steps = np.unique(np.rint(alphas * N).astype(np.int64))
    if model.M > N and init is None:
        raise ValueError(f"N must be >= M = {model.M} for an exact teacher T, got {N}")

    K, M, lay = model.K, model.M, model.layout
    starts = [_initial_weights(model, N, int(sd), init) for sd in seed_list]
    par = np.array([eta, model.tau, model.noise, float(model.bn is not None), float(model.bn == "exact"),
                    float(model.bn is not None and model.gain == "learned")])
    n_seeds, n_rec = len(seed_list), steps.size
    ys = np.full((n_seeds, n_rec, lay.size), np.nan)
    counts = np.zeros(n_seeds, dtype=np.int64)
    codes = [Status.COMPLETED] * n_seeds
    stop = threading.Event()
    bar = _progress(progress, n_seeds * n_rec)
    lock = threading.Lock()

    def run_seed(j):
        J, B, g = starts[j]
        Jt, Bt = np.ascontiguousarray(J.T), np.ascontiguousarray(B.T)
        g = g.copy()
        s = rng_state(int(seed_list[j]))
        xi, dJ = np.empty(N), np.empty((N, K) if model.batch > 1 else (1, K))
        Qw, Rw = np.empty((K, K)), np.empty((K, M))
        done = 0
        for k in range(n_rec):
            if stop.is_set():
                codes[j] = Status.INTERRUPTED
                return
            todo = int(steps[k] - done)
            if todo > 0:
                did = sgd_steps(Jt, Bt, g, par, model.batch, todo, s, xi, dJ, blowup)
                done += did
                if did < todo:
                    codes[j] = Status.DIVERGED
                    return
            record_state(Jt, Bt, g, model.bn is not None, Qw, Rw, ys[j, k])
            counts[j] = k + 1
            if bar is not None:
                with lock:
                    bar.update(1)

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
        codes = [c if counts[j] == n_rec else Status.INTERRUPTED for j, c in enumerate(codes)]
    finally:
        if bar is not None:
            bar.close()

    ws = kernels.workspace(K, M, np.zeros(lay.size))
    T = np.ascontiguousarray(model.T, dtype=float)
    kp = kernels.params(model, eta)
    eg = np.full((n_seeds, n_rec), np.nan)
    for j in range(n_seeds):
        for k in range(counts[j]):
            eg[j, k] = kernels.eg(ys[j, k], ws, T, kp)
    Q, R, g = lay.unpack(ys)
    first = lay.unpack(ys[:, 0]) if steps[0] == 0 else None
    initial = _initial_overlaps(model, starts) if first is None else {"Q": first[0], "R": first[1], "g": first[2]}
    bad = [(int(seed_list[j]), str(c)) for j, c in enumerate(codes) if c != Status.COMPLETED]
    if not bad:
        status, message = Status.COMPLETED, f"reached alpha_max = {steps[-1] / N:g} for {n_seeds} seed(s)"
    else:
        status = Status.INTERRUPTED if any(c == Status.INTERRUPTED for c in codes) else Status.DIVERGED
        message = (f"{len(bad)} of {n_seeds} seed(s) stopped early ({', '.join(f'seed {s}: {c}' for s, c in bad)});"
                   f" their arrays are NaN after the last recorded point"
                   + (f"; eta = {eta:g} may be too large" if status == Status.DIVERGED else ""))
    return SimulationResult(model=model, eta=eta, alpha=steps / N, Q=Q, R=R, g=g, eg=eg, status=status,
                            message=message, info={"N": N, "seeds": seed_list, "batch": model.batch},
                            initial=initial, N=N, seeds=seed_list, seed_status=[str(c) for c in codes])


def _initial_overlaps(model, starts):
    Q = np.array([J @ J.T for J, B, g in starts])
    R = np.array([J @ B.T for J, B, g in starts])
    g = np.array([g for J, B, g in starts]) if model.bn is not None else None
    return {"Q": Q, "R": R, "g": g}


def _progress(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="record", desc="simulate")
