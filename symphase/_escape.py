"""The distribution of plateau lengths at a user's N, from theory (docs/model.md §12.1).

:func:`escape_time` samples the escape time from the diffusion approximation of
finite-N SGD (``dy = f d alpha + (D/N)^(1/2) dW``, Euler-Maruyama with a step in
``alpha`` that does not depend on ``N``), started from the random-weights ensemble
drawn exactly in overlap space (no ``O(N)`` work), from a fixed point with the
``O(N^-1/2)`` asymmetry a random start leaves, or from given overlaps.
"""
from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._fixedpoint import FixedPoint
from ._model import check_committee, check_model
from ._results import Result, Status, SymphaseError
from ._rng import rng_state
from ._validate import check_dimension, check_int, check_real, check_seed


def random_start_overlaps(model, N, rng):
    """Overlaps ``(Q, R)`` of random weights ``J_il ~ N(0, 1/N)`` against a teacher with ``B B^T = T``, drawn
    exactly without the weights: ``J`` splits into its part along the teacher's ``M`` orthonormal
    directions, ``Z ~ N(0, 1/N)`` (K, M), and the rest, whose Gram matrix is Wishart with ``N - M``
    degrees of freedom (Bartlett), so ``Q = Z Z^T + W/N``, ``R = Z L^T`` (``T = L L^T``)."""
    K, M = model.K, model.M
    w, V = np.linalg.eigh(model.T)
    Lt = (V * np.sqrt(np.clip(w, 0.0, None))).T
    Z = rng.standard_normal((K, M)) / math.sqrt(N)
    A = np.zeros((K, K))
    for i in range(K):
        A[i, i] = math.sqrt(rng.chisquare(N - M - i))
        A[i, :i] = rng.standard_normal(i)
    Q = Z @ Z.T + (A @ A.T) / N
    return 0.5 * (Q + Q.T), Z @ Lt


class EscapeTime(Result):
    """The distribution of the plateau's escape time at ``N`` (returned by :func:`escape_time`).

    Attributes
    ----------
    model : Committee
    N : int
    eta : float
    samples : ndarray (n,)
        One escape time per sample; NaN for a sample that had not escaped by ``alpha_max``.
    level : float
        The ``eps_g`` level whose first crossing from above is the escape.
    mean, std : float
        Over the samples that escaped.
    how : str
        One line: how the result was computed.
    status, message
        ``"completed"``, or ``"diverged"`` when some sample left the valid overlaps, or
        ``"interrupted"`` (Ctrl-C: the samples finished so far are kept); the message says how
        many samples escaped, ran out of ``alpha``, diverged or were interrupted.
    """

    def __init__(self, model, N, eta, samples, level, how, status, message):
        self.model, self.N, self.eta, self.samples, self.level, self.how = model, N, eta, samples, level, how
        ok = samples[np.isfinite(samples)]
        self.mean = float(ok.mean()) if ok.size else math.nan
        self.std = float(ok.std(ddof=1)) if ok.size > 1 else math.nan
        self.status, self.message = status, message

    def quantile(self, q):
        """The ``q``-quantile of the escape time (samples that did not escape count as later than all)."""
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"q must be in [0, 1], got {q}")
        s = np.where(np.isfinite(self.samples), self.samples, np.inf)
        return np.quantile(s, q)

    def _summary(self) -> str:
        return (f"{self.model.describe()}, N={self.N}, eta={self.eta:g}, {self.samples.size} samples, "
                f"mean={self.mean:.4g}, std={self.std:.4g}")

    def _fields(self) -> dict:
        return {"model": self.model, "N": self.N, "eta": self.eta, "level": self.level, "mean": self.mean,
                "std": self.std, "median": float(self.quantile(0.5)), "samples": self.samples, "how": self.how}

    def to_xarray(self):
        """The samples against a ``sample`` axis; level, mean, std and how as attributes."""
        import xarray as xr

        attrs = {**self.model.attrs(), "N": self.N, "eta": self.eta, "level": self.level, "mean": self.mean,
                 "std": self.std, "how": self.how, "status": str(self.status), "message": self.message,
                 **self._identity()}
        return xr.Dataset({"escape_alpha": ("sample", self.samples, {"nan_means": "no escape by alpha_max"})},
                          coords={"sample": np.arange(self.samples.size)}, attrs=attrs)


def escape_time(model, N, eta, *, start="random", threshold=None, fraction=0.5, samples=200, seed=0,
                alpha_max=None, sde_step=0.05, workers=None) -> EscapeTime:
    """The distribution of the plateau's escape time at ``N``, from the diffusion approximation of
    finite-N SGD (docs/model.md §12), without ``O(N)`` work.

    Parameters
    ----------
    model : Committee
    N : int
        The input dimension, ``>= K + M``.
    eta : float
        The learning rate (> 0).
    start : "random", FixedPoint or tuple
        ``"random"``: the ensemble of :func:`symphase.random_initial` (``J_il ~ N(0, 1/N)``, a teacher
        with ``B B^T = T``, gains 1), drawn exactly in overlap space; a :class:`~symphase.FixedPoint`:
        the fixed point with the random ``O(N^-1/2)`` asymmetry a random start leaves
        (:func:`symphase.near_fixed_point`); ``(Q0, R0[, g0])``: given overlaps.
    threshold : float, optional
        Escape is the first ``alpha`` at which ``eps_g`` falls below ``threshold``. Default:
        ``fraction`` times the plateau level, ``eps_g`` at the symmetric fixed point (K = M, T = I;
        ``eta -> 0``), else read off the ODE from the ensemble's first start.
    fraction : float
        In (0, 1).
    samples : int
        The number of samples (>= 2).
    seed : int
        Seeds ``seed .. seed + samples - 1``, one per sample; the same seed, the same samples,
        whatever ``workers``.
    alpha_max : float, optional
        Stop a sample that has not escaped by then (NaN). Default: 20 times the ODE's escape time from
        the first sample's start (at least 100).
    sde_step : float
        The Euler-Maruyama step in ``alpha``.
    workers : int, optional
        Threads (default: all cores).

    Returns
    -------
    EscapeTime
        ``mean``, ``std``, ``quantile(q)``, ``samples`` and ``how``.

    Raises
    ------
    ValueError
        Bad input (named), or a ``threshold`` at or above the start's ``eps_g``.
    """
    from ._compare import plateau_value
    from ._fixedpoint_solve import symmetric_fixed_point
    from ._fluctuations import sde_steps, sde_workspace
    from ._initial import near_fixed_point
    from ._ode import check_alpha_max, integrate

    model = check_committee(check_model(model), 'escape_time (docs/model.md §12)')
    N = check_dimension("N", N, minimum=model.K + model.M)
    eta = check_real("eta", eta, positive=True)
    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise ValueError(f"fraction must be a real number in (0, 1), got {fraction!r}")
    samples = check_int("samples", samples, minimum=2)
    seed = check_seed("seed", seed)
    sde_step = check_real("sde_step", sde_step, positive=True)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    system = model.system
    g_one = np.ones(model.K) if model.has_bn else None

    if isinstance(start, str):
        if start != "random":
            raise ValueError(f"start must be 'random', a FixedPoint or a tuple (Q0, R0[, g0]), got {start!r}")

        def draw(sd):
            Q, R = random_start_overlaps(model, N, np.random.default_rng(sd))
            return system.layout.pack(Q, R, g_one)
        what = "the random-weights ensemble (J ~ N(0, 1/N), drawn exactly in overlap space)"
    elif isinstance(start, FixedPoint):
        if start.model != model:
            raise ValueError("start: the fixed point belongs to another model")

        def draw(sd):
            return system.layout.pack(*near_fixed_point(start, N, sd))
        what = "the fixed point with the random O(N^-1/2) asymmetry of a random start"
    elif isinstance(start, (tuple, list)) and len(start) in (2, 3):
        y_fixed = system.state(*start, names=("start Q0", "start R0", "start g0"))

        def draw(sd):
            return y_fixed.copy()
        what = "the given overlaps"
    else:
        raise ValueError(f"start must be 'random', a FixedPoint or a tuple (Q0, R0[, g0]), got {start!r}")

    y_first = draw(seed)

    @functools.cache
    def ode_from_first_start():
        Q, R, g = system.layout.unpack(y_first)
        return integrate(model, Q, R, eta, 1e5, g0=g, eg_tol=0.0)

    if threshold is None:
        try:
            level = symmetric_fixed_point(model).eg
            source = "eps_g at the symmetric fixed point"
        except (ValueError, SymphaseError):  # no symmetric fixed point: read the ODE's plateau
            ode = ode_from_first_start()
            level = plateau_value(ode.alpha, ode.eg)
            source = "the plateau of the ODE from the first start"
            if not np.isfinite(level):
                raise ValueError("threshold: the ODE from the start shows no plateau; give threshold") from None
        threshold = fraction * level
        level_text = f"{fraction:g} x {source} ({level:.4g})"
    else:
        threshold = check_real("threshold", threshold, positive=True)
        level_text = f"threshold {threshold:.4g}"
    eg0 = system.eg(y_first)
    if not threshold < eg0:
        raise ValueError(f"threshold must be below the start's eps_g = {eg0:.4g}, got {threshold:.4g}")
    if alpha_max is None:
        ode = ode_from_first_start()
        below = np.nonzero(ode.eg < threshold)[0]
        alpha_max = max(100.0, 20.0 * float(ode.alpha[below[0]])) if below.size else 1e5
    alpha_max = check_alpha_max(alpha_max)

    out = np.full(samples, np.nan)
    ended = np.zeros(samples, dtype=np.int64)   # 0 escaped or ran to alpha_max, 1 diverged/invalid, 2 interrupted
    chunk_alpha = 0.25
    sub = max(1, int(math.ceil(chunk_alpha / sde_step)))
    h = chunk_alpha / sub
    stop = threading.Event()

    finished = np.zeros(samples, dtype=bool)

    def run(j):
        sd = seed + j
        y = draw(sd)
        ka = system.args(eta)
        s = rng_state(sd)
        work = sde_workspace(model)
        a = 0.0
        prev = system.eg(y)
        while a < alpha_max:
            if stop.is_set():
                return
            did = sde_steps(y, ka, N, model.batch, model.has_bn, h, sub, s, 1e6, 1e-7, *work, 4)
            if did < sub:  # the state left the valid overlaps: no escape time, and it is said
                ended[j] = 1
                break
            e = system.eg(y)
            if e < threshold:  # first crossing: interpolate within the chunk
                out[j] = a + chunk_alpha * (prev - threshold) / (prev - e) if prev > e else a + chunk_alpha
                break
            prev = e
            a += chunk_alpha
        finished[j] = True

    pool = ThreadPoolExecutor(max_workers=min(workers, samples))
    futures = []
    try:
        futures = [pool.submit(run, j) for j in range(samples)]
        for f in futures:
            f.result()
    except KeyboardInterrupt:
        stop.set()
        for f in futures:
            f.cancel()
    finally:
        pool.shutdown(wait=True)
    ended[~finished] = 2          # cut off by Ctrl-C, or never started
    n_failed, n_stopped = int(np.sum(ended == 1)), int(np.sum(ended == 2))
    n_late = int(np.sum(~np.isfinite(out))) - n_failed - n_stopped
    how = (f"{samples} samples of the diffusion approximation (Euler-Maruyama, step {h:g} in alpha) from {what}; "
           f"escape at the first crossing below {level_text}")
    parts = [f"{samples - n_late - n_failed - n_stopped} of {samples} samples escaped by alpha = {alpha_max:g}"]
    if n_late:
        parts.append(f"{n_late} had not (NaN)")
    if n_failed:
        parts.append(f"{n_failed} left the valid overlaps (diverged; NaN; eta may be too large)")
    if n_stopped:
        parts.append(f"{n_stopped} were interrupted (NaN)")
    status = Status.INTERRUPTED if n_stopped else Status.DIVERGED if n_failed else Status.COMPLETED
    message = "; ".join(parts)
    return EscapeTime(model, N, eta, out, threshold, how, status, message)
