"""The distribution of plateau lengths at a user's N, from theory (docs/model.md §12.1).

:func:`escape_time` samples the escape time from the diffusion approximation of
finite-N SGD (``dy = f d alpha + (D/N)^(1/2) dW``, a weak Euler scheme whose noise is
drawn from the per-example rates, with a step in ``alpha`` that does not depend on
``N``), started from the random-weights ensemble
drawn exactly in overlap space (no ``O(N)`` work), from a fixed point with the
``O(N^-1/2)`` asymmetry a random start leaves, or from given overlaps.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import _fluctuations as fl
from ._driver import Driver
from ._fixedpoint import FixedPoint
from ._fixedpoint_solve import symmetric_fixed_point
from ._initial import near_fixed_point
from ._kernels import eg as eg_kernel
from ._model import check_committee, check_model, rule_for
from ._ode import integrate
from ._plateau import plateau_value
from ._results import Result, Status, SymphaseError
from ._rng import rng_state
from ._run_checks import check_alpha_max
from ._state import STATE_FORMS, as_state, committee_state, state_names
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
        One escape time per sample; NaN for a sample that had not escaped by ``alpha_max`` (or
        that diverged or was interrupted; the message counts each).
    level : float
        The ``eps_g`` level whose first crossing from above is the escape.
    mean, std : float
        Over the samples that escaped (NaN when none, or one, did: then the status is not
        ``"completed"``).
    how : str
        One line: how the result was computed.
    alpha_max : float or None
        Where a sample that had not escaped stopped (None when not known, e.g. an older file).
    status, message
        ``"completed"``; ``"diverged"`` when some sample left the valid overlaps;
        ``"interrupted"`` (Ctrl-C: the samples finished so far are kept); ``"failed"`` when
        fewer than 2 samples escaped by ``alpha_max``. The message says how many samples
        escaped, ran out of ``alpha``, diverged or were interrupted.
    """

    def __init__(self, model, N, eta, samples, level, how, status, message, *, alpha_max=None):
        self.model, self.N, self.eta, self.samples, self.level, self.how = model, N, eta, samples, level, how
        self.alpha_max = None if alpha_max is None else float(alpha_max)
        ok = samples[np.isfinite(samples)]
        self.mean = float(ok.mean()) if ok.size else math.nan
        self.std = float(ok.std(ddof=1)) if ok.size > 1 else math.nan
        self.status, self.message = status, message

    def quantile(self, q):
        """The ``q``-quantile of the escape time, linearly interpolated between the sorted samples
        (numpy's default), where the samples that did not escape count as later than all: ``inf``
        where the quantile falls among them or between the last escape and them (never NaN).

        Parameters
        ----------
        q : float or array_like
            In ``[0, 1]``.

        Returns
        -------
        float or ndarray
            As ``numpy.quantile``; ``inf`` beyond the escapes.
        """
        q = np.asarray(q, dtype=float)
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError(f"q must be in [0, 1], got {q}")
        s = np.sort(np.where(np.isfinite(self.samples), self.samples, np.inf))
        with np.errstate(invalid="ignore"):  # inf - inf and 0 * inf where the interpolation meets inf
            out = np.asarray(np.quantile(s, q))
        if np.any(np.isnan(out)):  # numpy's lerp at an inf end point: the sample itself (weight 0) or inf
            pos = q * (s.size - 1)
            lo = np.floor(pos).astype(np.int64)
            out = np.where(np.isnan(out), np.where(pos == lo, s[np.minimum(lo, s.size - 1)], np.inf), out)
        return out[()] if out.ndim == 0 else out

    def _summary(self) -> str:
        return (f"{self.model.describe()}, N={self.N}, eta={self.eta:g}, {self.samples.size} samples, "
                f"mean={self.mean:.4g}, std={self.std:.4g}")

    def _fields(self) -> dict:
        return {"model": self.model, "N": self.N, "eta": self.eta, "level": self.level, "mean": self.mean,
                "std": self.std, "median": float(self.quantile(0.5)), "samples": self.samples, "how": self.how,
                "alpha_max": self.alpha_max}

    def to_xarray(self):
        """The samples against a ``sample`` axis; level, mean, std and how as attributes."""
        import xarray as xr

        attrs = {**self.model.attrs(), "N": self.N, "eta": self.eta, "level": self.level, "mean": self.mean,
                 "std": self.std, "how": self.how, "status": str(self.status), "message": self.message,
                 **({} if self.alpha_max is None else {"alpha_max": self.alpha_max}), **self._identity()}
        return xr.Dataset({"escape_alpha": ("sample", self.samples, {"nan_means": "no escape by alpha_max"})},
                          coords={"sample": np.arange(self.samples.size)}, attrs=attrs)


def escape_time(model, N, eta, *, start="random", threshold=None, fraction=0.5, samples=200, seed=0,
                alpha_max=None, sde_step=None, workers=None, progress=False, announce=None) -> EscapeTime:
    """The distribution of the plateau's escape time at ``N``, from the diffusion approximation of
    finite-N SGD (docs/model.md §12), without ``O(N)`` work.

    Parameters
    ----------
    model : Committee
    N : int
        The input dimension, ``>= K + M``.
    eta : float
        The learning rate (> 0).
    start : "random", FixedPoint, State or tuple
        ``"random"`` (default): the ensemble of :func:`symphase.random_initial` (``J_il ~ N(0, 1/N)``, a
        teacher with ``B B^T = T``, gains 1), drawn exactly in overlap space; a
        :class:`~symphase.FixedPoint`: the fixed point with the random ``O(N^-1/2)`` asymmetry a random
        start leaves (:func:`symphase.near_fixed_point`; as :func:`symphase.simulate`); a
        :class:`~symphase.State` or a tuple ``(Q, R[, g])``: given overlaps.
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
        the first sample's start (at least 100); 1e5 when that ODE does not reach the threshold by then.
    sde_step : float, optional
        The step in ``alpha`` of the weak Euler scheme (docs/model.md §12.1). Default: the rule's, 0.05 for
        SGD; for a preconditioned rule ``0.05/max(1, eta rho)``, ``rho`` the spectral radius of its drift's
        Jacobian at the first start and the plateau (docs/model.md §14.7).
    workers : int, optional
        Threads (default: all cores).
    announce : callable, optional
        Called once before the sampling as ``announce(alpha_max, how)``, ``how`` one of ``"given"``,
        ``"default"`` or ``"unreached"`` (the ODE from the first start does not reach the threshold by
        ``alpha_max`` = 1e5: samples may run that far); the command line warns of the cost with it.
    progress : bool
        Show a tqdm bar (in samples).

    Returns
    -------
    EscapeTime
        ``mean``, ``std``, ``quantile(q)``, ``samples`` and ``how``. Failures are results, with a
        status and a message that counts the samples: ``"diverged"`` when some sample left the
        valid overlaps, ``"interrupted"`` on Ctrl-C (the samples finished so far are kept), and
        ``"failed"`` when fewer than 2 samples escaped by ``alpha_max`` (no mean and standard
        deviation to give); ``raise_for_status()`` raises for each.

    Raises
    ------
    ValueError
        Bad input (named), or a ``threshold`` at or above the start's ``eps_g``.
    """

    model = check_committee(check_model(model), 'escape_time (docs/model.md §12)')
    kernels = rule_for(model, "escape_time", "sde").bind(model)  # the model's learning rule (docs/model.md §2.4)
    N = check_dimension("N", N, minimum=model.K + model.M)
    eta = check_real("eta", eta, positive=True)
    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise ValueError(f"fraction must be a real number in (0, 1), got {fraction!r}")
    samples = check_int("samples", samples, minimum=2)
    seed = check_seed("seed", seed)
    if sde_step is not None:
        sde_step = check_real("sde_step", sde_step, positive=True)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    system = model.system
    g_one = np.ones(model.K) if model.has_bn else None

    forms = f"'random', {STATE_FORMS}"
    if isinstance(start, str):
        if start != "random":
            raise ValueError(f"start must be {forms}, got {start!r}")

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
    else:
        try:
            as_state(start, "start")
        except TypeError:
            raise ValueError(f"start must be {forms}, got {start!r}") from None
        y_fixed = system.state(*committee_state(model, start, "start"), names=state_names("start"))

        def draw(sd):
            return y_fixed.copy()
        what = "the given overlaps"

    y_first = draw(seed)

    def ode_from_first_start(stop_below):  # stop at the first output point below stop_below (0: never)
        return integrate(model, eta, 1e5, start=system.layout.unpack(y_first), eg_tol=stop_below)

    ode = None  # the ODE from the first start, once computed

    def symmetric_point():  # the symmetric fixed point, or None where there is none (K != M, T != I, ...)
        try:
            return symmetric_fixed_point(model)
        except (ValueError, SymphaseError):
            return None

    fixed = symmetric_point() if threshold is None or sde_step is None else None
    if threshold is None:
        if fixed is not None:
            level, source = fixed.eg, "eps_g at the symmetric fixed point"
        else:  # no symmetric fixed point: read the ODE's plateau
            ode = ode_from_first_start(0.0)
            level = plateau_value(ode.alpha, ode.eg)
            source = "the plateau of the ODE from the first start"
            if not np.isfinite(level):
                raise ValueError("threshold: the ODE from the start shows no plateau; give threshold")
        threshold = fraction * level
        level_text = f"{fraction:g} x {source} ({level:.4g})"
    else:
        threshold = check_real("threshold", threshold, positive=True)
        level_text = f"threshold {threshold:.4g}"
    eg0 = system.eg(y_first)
    if not threshold < eg0:
        raise ValueError(f"threshold must be below the start's eps_g = {eg0:.4g}, got {threshold:.4g}")
    how_max = "given"
    if alpha_max is None:  # the same output points whether the ODE stops at the threshold or runs on
        if ode is None:
            ode = ode_from_first_start(threshold)
        below = np.nonzero(ode.eg < threshold)[0]
        alpha_max = max(100.0, 20.0 * float(ode.alpha[below[0]])) if below.size else 1e5
        how_max = "default" if below.size else "unreached"
    alpha_max = check_alpha_max(alpha_max)
    if announce is not None:
        announce(alpha_max, how_max)

    if sde_step is None:  # the rule's default for paths from the first start through the plateau (SGD: 0.05)
        sde_step = kernels.sde_step(model, eta, *([y_first] if fixed is None else [y_first, fixed.state]))
    out = np.full(samples, np.nan)
    chunk_alpha = 0.25
    sub = max(1, math.ceil(chunk_alpha / sde_step))
    h = chunk_alpha / sub
    n_chunks = math.ceil(alpha_max / chunk_alpha)  # chunks start at 0, 0.25, ... < alpha_max
    driver = Driver(samples, workers, progress=progress, total=samples, unit="sample", desc="escape-time")

    def run(j):
        sd = seed + j
        y = draw(sd)
        ka, consts, work = kernels.sde_setup(model, N, eta, dalpha=h)
        s = rng_state(sd)
        prev = [eg_kernel(y, ka)]
        steps = kernels.sde_steps

        def advance(k, n):  # fewer steps: the state left the valid overlaps (diverged; no escape time)
            return steps(y, ka, s, n, consts, work)

        def record(k):  # the end of chunk k: escaped (first crossing, interpolated within the chunk)?
            a, e = k * chunk_alpha, eg_kernel(y, ka)
            if e < threshold:
                out[j] = a + chunk_alpha * (prev[0] - threshold) / (prev[0] - e) if prev[0] > e else a + chunk_alpha
                return True
            prev[0] = e
            return False
        driver.item(j, n_chunks, lambda k: sub, sub, advance, record)

    codes = driver.run(run)
    n_failed = sum(c in (Status.DIVERGED, Status.INVALID) for c in codes)
    n_stopped = sum(c == Status.INTERRUPTED for c in codes)
    n_escaped = int(np.sum(np.isfinite(out)))
    n_late = samples - n_escaped - n_failed - n_stopped
    how = (f"{samples} samples of the diffusion approximation (weak Euler, step {h:g} in alpha, noise from "
           f"{fl.SDE_EXAMPLES} examples per step) from {what}; "
           f"escape at the first crossing below {level_text}")
    parts = [f"{n_escaped} of {samples} samples escaped by alpha = {alpha_max:g}"]
    if n_late:
        parts.append(f"{n_late} had not (NaN; later than all in the quantiles)")
    if n_failed:
        parts.append(f"{n_failed} left the valid overlaps (diverged; NaN; eta may be too large)")
    if n_stopped:
        parts.append(f"{n_stopped} were interrupted (NaN)")
    status = Status.INTERRUPTED if n_stopped else Status.DIVERGED if n_failed else Status.COMPLETED
    if status == Status.COMPLETED and n_escaped < 2:
        status = Status.FAILED
        parts.append(f"too few escapes for a mean and a standard deviation (need 2): raise alpha_max "
                     f"(now {alpha_max:g})")
    message = "; ".join(parts)
    return EscapeTime(model, N, eta, out, threshold, how, status, message, alpha_max=alpha_max)
