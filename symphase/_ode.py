"""The order-parameter ODEs: :func:`integrate`, :func:`rhs` and :func:`generalization_error`.

The driver validates its input once, calls the Numba steppers of
:mod:`symphase._integrators` in bounded chunks between output points (so
Ctrl-C keeps the partial trajectory within about 0.1 s), and wraps the result
in an :class:`~symphase.ODEResult` with a status and a message.
"""
from __future__ import annotations

import math
import signal
import threading
from numbers import Integral
from types import SimpleNamespace

import numpy as np

from . import _kernels as kernels
from ._fluctuations import linear_noise, random_start_covariance
from ._integrators import (
    PAUSED,
    STEP_SIZE,
    STIFF_COUNT,
    chunk_steps,
    initial_step,
    stepper_args,
)
from ._kernels import DIVERGED, INVALID, OK
from ._methods import ode_method
from ._model import check_model, rule_for
from ._results import Status, SymphaseError
from ._run_checks import _bounded, check_alpha_max, check_alphas, check_eta, check_second_layer, default_alphas
from ._state import Rates, State, is_array, model_state, old_forms, split_state, state_names
from ._trajectory import ODEResult
from ._validate import check_int, check_real, real_array

_MESSAGES = {
    INVALID: ("overlaps stopped being a positive semi-definite Gram matrix [[Q, R], [R^T, T]] "
              "(or a batch-norm Q_ii <= 0 / g_i = 0) after alpha = {a:.6g}; eta = {eta:g} may be too large"),
    DIVERGED: "overlaps blew up (non-finite or |value| > {blowup:g}) after alpha = {a:.6g}; eta = {eta:g} is too large",
    STEP_SIZE: "adaptive step size fell below {h_min:g} or the step budget max_steps = {max_steps} was spent at "
               "alpha = {a:.6g}",
}
BUDGET = 6  # driver code: RK4's step budget spent (reported as Status.STEP_SIZE)
_MESSAGES[BUDGET] = "the step budget max_steps = {max_steps} was spent at alpha = {a:.6g} (RK4 with dt = {dt:g})"
STIFF = 5  # driver code: stiff, and the step budget cannot reach the end (reported as Status.STEP_SIZE)
_MESSAGES[STIFF] = (
    "the ODEs are stiff here: a decay rate of about {lam:.3g} per unit alpha holds the explicit steps near "
    "h = {h:.3g} (by stability, not accuracy), so reaching alpha = {end:g} would take about {need:.3g} more steps "
    "than the {left} left of max_steps = {max_steps}; stopped at alpha = {a:.6g} instead of spending them "
    "(lower alpha_max, or raise max_steps)")
START = 7  # driver code: no first step can be taken (reported as Status.STEP_SIZE)
_MESSAGES[START] = ("no first step can be taken: the right-hand side at the start is too large (max |dy/dalpha| = "
                    "{f0:.3g}) for the step-size control; eta, eta2, noise or weight_decay is too large")
_STATUS = {START: Status.STEP_SIZE, INVALID: Status.INVALID, DIVERGED: Status.DIVERGED, STEP_SIZE: Status.STEP_SIZE,
           STIFF: Status.STEP_SIZE,
           BUDGET: Status.STEP_SIZE}
#: A stiff run stops early when the steps it needs exceed this multiple of the budget left.
STIFF_MARGIN = 1.5
#: Largest relative and absolute tolerances: coarser ones no longer control the error of eps_g (~ 1e-2).
RTOL_LIMIT = ATOL_LIMIT = 1e-2
#: Largest blowup: squares of the overlaps up to it stay finite in double precision.
BLOWUP_LIMIT = 1e100
#: Largest N of the fluctuation band (an int64).
N_LIMIT = 2**63 - 1
#: The ODE's default tolerances, the same in every function and command that integrates it
#: (:func:`integrate`, :func:`symphase.compare`, ``symphase ode``, ...; docs/vocabulary.md).
RTOL, ATOL = 1e-8, 1e-10


def _refuse_integrate(args, kwargs):
    """The forms :func:`integrate` no longer takes, one line each naming the new form (docs/vocabulary.md)."""
    if (len(args) >= 2 and is_array(args[1])) or {"Q0", "R0", "g0", "v0"} & set(kwargs):
        raise TypeError("integrate(model, Q0, R0, eta, alpha_max, g0=, v0=) is now "
                        "integrate(model, eta, alpha_max, start=(Q0, R0[, g0[, v0]])) (or start=State(...))")
    if "N" in kwargs:
        raise TypeError("integrate(..., N=) is now integrate(..., bands_N=): the linear-noise bands at that input "
                        "dimension (N names the input dimension only)")


@old_forms(_refuse_integrate)
def integrate(model, eta, alpha_max, *, start, method="adaptive", dt=None, rtol=RTOL, atol=ATOL,
              alphas=None, eg_tol=1e-12, max_steps=10_000_000, blowup=1e6, psd_tol=1e-7, progress=False,
              bands_N=None, sigma0=None, eta2=None) -> ODEResult:
    """Integrate the order-parameter ODEs from ``start`` to ``alpha_max``.

    ``dQ_ik/dalpha``, ``dR_in/dalpha`` (``dg_i/dalpha`` under BN, ``dv_i/dalpha``
    with a learned second layer) are docs/model.md §3 and §13 (Saad & Solla 1995
    for plain, Goldt et al. 2019 for the two-layer network; the derivation in
    ``derivations/`` for every rule).

    Parameters
    ----------
    model : Committee
        The model.
    eta : float
        Learning rate (> 0).
    alpha_max : float
        End of the run, in ``(0, 1e12]``.
    start : State, tuple (Q, R[, g[, v]]) or FixedPoint
        The initial state (:class:`symphase.State`): ``Q`` (K, K) symmetric and, with ``R``
        (K, M) and ``model.T``, a positive semi-definite Gram matrix; the BN gains ``g`` (K,)
        (default ones; BN models only); the student's second layer ``v`` (K,) (default ones),
        learned or fixed. E.g. ``start=symphase.random_initial(model, N=1000)``.
    method : {"adaptive", "rk4"} or ODEMethod subclass
        An integrator registered in :data:`symphase._methods.ODE_METHODS`, by name
        or class: ``"adaptive"``, Dormand-Prince 5(4) with ``rtol``/``atol``, or
        ``"rk4"``, classical RK4 with the fixed step ``dt`` (default 0.01).
    dt, rtol, atol : float, optional
        Step of RK4; tolerances of the adaptive method (> 0; default ``RTOL = 1e-8``,
        ``ATOL = 1e-10``, the same wherever the ODE is integrated).
    alphas : array_like, optional
        Output points, 1-d, increasing, in ``[0, alpha_max]`` (default:
        :func:`default_alphas`).
    eg_tol : float
        Stop as ``"converged"`` when ``eps_g < eg_tol`` at an output point (0: never).
        After learning, ``eps_g`` floors at about the integration error of the
        state (``~ atol``: ``1e-10`` at the defaults), so a smaller ``eg_tol``
        needs a smaller ``atol`` to trigger.
    max_steps : int
        Step budget (>= 1); ``"step_size"`` when spent. After learning the
        ODEs are stiff (explicit steps held near ``3.3/lambda`` by stability):
        when the steps still needed exceed the budget left, the adaptive method
        stops at once as ``"step_size"`` with a message saying so, rather than
        spending the budget.
    blowup : float
        ``"diverged"`` when some ``|Q_ik|``, ``|R_in|``, ``|g_i|`` exceeds it (> 0).
    psd_tol : float
        Tolerance of the Gram-matrix check, relative to its largest diagonal (>= 0).
    progress : bool
        Show a tqdm bar.
    bands_N : int, optional
        An input dimension ``N`` (>= K + M) at which to also propagate the finite-``N``
        fluctuations along the trajectory (the linear-noise approximation, docs/model.md §12)
        and return the predicted seed-to-seed standard deviation ``eg_std`` and the state
        covariance (the bands of ``symphase ode --bands``).
    sigma0 : None, "random" or array_like (size, size)
        The covariance of the start (with ``bands_N``): None, the given overlaps exactly (zero);
        ``"random"``, the exact covariance of the overlaps of random weights
        ``J_il ~ N(0, 1/N)`` (the ensemble of :func:`symphase.random_initial`); or a matrix
        in the flat layout.
    eta2 : float, optional
        The second layer's learning rate (> 0; default ``eta``; a learned second layer only).

    Returns
    -------
    ODEResult
        The trajectory up to where the run ended, with ``status`` and
        ``message``: ``"completed"``, ``"converged"``, ``"invalid"`` (the
        overlaps stopped being a Gram matrix), ``"diverged"``, ``"step_size"``
        or ``"interrupted"`` (Ctrl-C). It never holds NaN. ``eg`` is the closed
        form clipped at 0 (the true value is >= 0; the closed form dips below by
        rounding and by integration error of the state, see
        :func:`symphase._kernels.eg_clipped`); ``info["eg_clipped"]`` and
        ``info["eg_raw_min"]`` say how often and by how much, when it happened.
        With ``bands_N``: ``eg_std`` (n,) and ``covariance`` (n, size, size). ``v`` (n, K)
        is the second layer at each output point.

    Raises
    ------
    ValueError
        Bad input (named).
    TypeError
        A form it no longer takes, naming the new one (``integrate(model, Q0, R0, eta, alpha_max)``
        is ``integrate(model, eta, alpha_max, start=(Q0, R0))``; ``N=`` is ``bands_N=``).

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> start = symphase.random_initial(model, N=1000, seed=0)
    >>> res = symphase.integrate(model, 0.5, 500, start=start)
    >>> res.status, round(float(res.eg[-1]), 6) < 1e-3
    (<Status.COMPLETED: 'completed'>, True)
    """
    model = check_model(model).require_closed_form("integrate")
    rule = rule_for(model, "integrate", "ode")  # the model's learning rule (docs/model.md §2.4)
    eta = check_eta("eta", eta)
    alpha_max = check_alpha_max(alpha_max)
    method = ode_method(method)  # a registered integrator (symphase._methods.ODE_METHODS), by name or class
    dt = method.check_dt(dt, alpha_max)
    rtol = _bounded("rtol", rtol, RTOL_LIMIT, "coarser tolerances no longer control the error of eps_g")
    atol = _bounded("atol", atol, ATOL_LIMIT, "coarser tolerances no longer control the error of eps_g")
    eg_tol = check_real("eg_tol", eg_tol, nonnegative=True)
    max_steps = check_int("max_steps", max_steps, minimum=1)
    blowup = _bounded("blowup", blowup, BLOWUP_LIMIT, "squares of larger overlaps overflow")
    psd_tol = check_real("psd_tol", psd_tol, nonnegative=True)
    if psd_tol > 1.0:
        raise ValueError(f"psd_tol must be a real number in [0, 1] (relative to the largest diagonal), "
                         f"got {psd_tol!r}")
    alphas = default_alphas(alpha_max) if alphas is None else check_alphas(alphas, alpha_max)
    start = model_state(model, start, "start")
    names = state_names("start")
    eta2, v0 = check_second_layer(model, eta, eta2, start.v, names=("eta2", names[3]))
    y = model.system.state(start.Q, start.R, start.g, v0 if model.learns_v else None, names=names)
    if np.max(np.abs(y)) > blowup:
        raise ValueError(f"start: every initial overlap, gain and weight must be at most blowup = "
                         f"{blowup:g} in magnitude (the run would stop as diverged at once), "
                         f"got max {np.max(np.abs(y)):.3g}")
    N = bands_N
    if N is not None:
        if isinstance(N, bool) or not isinstance(N, Integral) or not model.K + model.M <= N <= N_LIMIT:
            raise ValueError(f"bands_N must be an integer in [K + M = {model.K + model.M}, 2^63 - 1], got {N!r}")
        N = int(N)
        if rule.name != "sgd":
            raise ValueError(f"bands_N: the fluctuation band (the linear-noise approximation, docs/model.md §12) is "
                             f"built for SGD, not yet for preconditioner={model.preconditioner!r}; "
                             f"simulate(method='sde') runs its diffusion")
        if not model.is_committee or np.any(v0 != 1.0):
            raise ValueError("bands_N: the fluctuation theory (docs/model.md §12) covers the committee machine "
                             "(erf, second layers fixed at 1, no weight decay, scaling 'sum'); "
                             f"this model is {model.describe()}")
        sigma0 = _check_sigma0(model, N, sigma0)
    elif sigma0 is not None:
        raise ValueError("sigma0 is the covariance of the start at finite N: give bands_N as well")
    if v0 is not None and np.max(np.abs(v0)) > blowup:
        raise ValueError(f"start.v must be K numbers in [-blowup, blowup] = [{-blowup:g}, {blowup:g}] (the second "
                         f"layer), got max magnitude {np.max(np.abs(v0)):.3g}")
    system = model.system
    ka = system.args(eta, v=v0, eta2=eta2)
    _check_start_finite(model, y, ka, v0)
    res = _Driver(system, rule.bind(model), ka, method.name, dt, rtol, atol, max_steps, blowup, psd_tol).run(
        y, eta, alphas, alpha_max, eg_tol, progress)
    res.eta2 = eta2 if model.learns_v else None
    if N is not None and res.alpha.size:
        res.covariance, res.eg_std = _band(model, res, N, sigma0, progress)
        res.info["N"] = N
    return res


def _band(model, res, N, sigma0, progress=False):
    """The fluctuation band along ``res`` (:func:`symphase._fluctuations.linear_noise`), one output
    interval at a time, so that Ctrl-C keeps what was computed: ``res`` becomes ``"interrupted"`` and
    ``eg_std``/``covariance`` are NaN after the last point reached (the message says so). Each interval
    starts from the stored state and covariance exactly as one call over the whole trajectory does, so
    the numbers are the same bits. After a Ctrl-C during the ODE itself no band is computed."""
    n, size = res.alpha.size, model.layout.size
    Sig = np.full((n, size, size), np.nan)
    std = np.full(n, np.nan)
    if res.status == Status.INTERRUPTED:
        res.message += "; no fluctuation band was computed (eg_std and covariance are NaN)"
        return Sig, std
    done = 0  # output points with their band
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n, unit="point", desc="eg_std")
    try:
        Sig[:1], std[:1] = linear_noise(model, _slice(res, 0, 1), N, sigma0)
        done = 1
        for j in range(n - 1):
            S, e = linear_noise(model, _slice(res, j, j + 2), N, Sig[j])
            Sig[j + 1], std[j + 1] = S[1], e[1]
            done = j + 2
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        how = res.message if res.status.success else f"{res.status}: {res.message}"
        kept = f"kept up to alpha = {res.alpha[done - 1]:.6g}" if done else "not computed at any point"
        res.status = Status.INTERRUPTED
        res.message = (f"interrupted while computing the fluctuation band: eg_std and covariance are {kept} "
                       f"({done} of {n} output points) and NaN after it; the ODE trajectory itself is "
                       f"complete ({how})")
    finally:
        if bar is not None:
            bar.close()
    return Sig, std


def _slice(res, j0, j1):
    """The output points ``j0:j1`` of an ODE result, as :func:`symphase._fluctuations.linear_noise` reads them."""
    return SimpleNamespace(eta=res.eta, alpha=res.alpha[j0:j1], Q=res.Q[j0:j1], R=res.R[j0:j1],
                           g=None if res.g is None else res.g[j0:j1])


def _check_start_finite(model, y, ka, v0):
    """``eps_g`` at the start must be finite: else some scale of the model or the start (tau, the teacher's
    or the student's second layer, the overlaps) overflows in double precision; ``ValueError`` naming them."""
    with np.errstate(all="ignore"):
        e, _ = kernels.eg_clipped(y, ka)
    if np.isfinite(e):
        return
    vt = np.ones(model.M) if model.v_teacher is None else np.asarray(model.v_teacher, dtype=float)
    raise ValueError(
        f"eps_g is not finite at the start: the scales of the model and the start overflow in double "
        f"precision (tau = {model.tau:g}, max |v_teacher| = {np.max(np.abs(vt)):.3g}, max |start.v| = "
        f"{np.max(np.abs(v0)) if v0 is not None else 1.0:.3g}, max |start.Q, start.R, start.g| = "
        f"{np.max(np.abs(y)):.3g}); "
        f"lower them")


def _check_sigma0(model, N, sigma0):
    """The start's covariance in the flat layout: zero, the random-weights ensemble, or a given matrix."""
    size = model.layout.size
    if sigma0 is None:
        return np.zeros((size, size))
    if isinstance(sigma0, str):
        if sigma0 != "random":
            raise ValueError(f"sigma0 must be None, 'random' or a ({size}, {size}) covariance matrix, "
                             f"got {sigma0!r}")
        return random_start_covariance(model, N)
    S = real_array(sigma0, f"sigma0 must be None, 'random' or a ({size}, {size}) covariance matrix")
    if S.shape != (size, size) or not np.all(np.isfinite(S)) or not np.allclose(S, S.T, rtol=0, atol=1e-12 * max(
            1.0, float(np.max(np.abs(S))))) or np.linalg.eigvalsh(0.5 * (S + S.T))[0] < -1e-12 * max(
            1.0, float(np.max(np.abs(S)))):
        raise ValueError(f"sigma0 must be a finite symmetric positive semi-definite ({size}, {size}) matrix in the "
                         f"flat layout (symphase.StateLayout)")
    return 0.5 * (S + S.T)


class _Driver:
    """The stateful part of :func:`integrate`: steps from output point to output point."""

    def __init__(self, system, kernels, ka, method, dt, rtol, atol, max_steps, blowup, psd_tol):
        self.system, self.kernels, self.ka, self.method, self.dt = system, kernels, ka, method, dt
        self.rtol, self.atol, self.max_steps, self.blowup, self.psd_tol = rtol, atol, max_steps, blowup, psd_tol
        n = system.layout.size
        self.chunk = chunk_steps(n)
        # the rule's integrators step its drift (docs/model.md §2.4); eps_g and the checks read ka
        self.sa = stepper_args(kernels.drift_args(ka), n, rtol=rtol, atol=atol, blowup=blowup, psd_tol=psd_tol)
        self.ytmp, self.yerr = self.sa.ws.ytmp, self.sa.ws.yerr
        self.h = None
        self.nfev = 0
        self.steps = 0
        self.stiff = self.sa.ws.stiff  # Hairer's stiffness test, carried across segments
        self.end = math.inf       # the last output point (for the stiff run's projection)
        self.n_clipped, self.eg_raw_min = 0, 0.0  # eps_g values clipped at 0, and the lowest raw value
        self.pos = 0.0            # the alpha of y, updated after every chunk of steps
        self.interrupt = _DeferredInterrupt()
        self.f0max = 0.0          # max |dy/dalpha| at the start, when no first step could be taken

    def reached(self, a):
        """A checkpoint after a chunk of steps: ``y`` is at ``a``; a deferred Ctrl-C is raised here."""
        self.pos = a
        self.interrupt.check()

    def advance(self, y, a, target):
        """Advance ``y`` from ``a`` to ``target``; returns ``(code, alpha reached)``."""
        if self.method == "rk4":
            with np.errstate(over="ignore"):
                x = float(target - a) / self.dt * (1.0 - 1e-12)
            n = max(1, math.ceil(min(x, 2.0**62)))  # more than any step budget reaches
            h = (target - a) / n
            s = 0
            while s < n:
                if self.steps >= self.max_steps:
                    return BUDGET, a + s * h
                todo = min(n, s + self.chunk, s + self.max_steps - self.steps)
                code, did = self.kernels.rk4_steps(y, a, h, s, todo, self.sa)
                self.nfev += 4 * did
                self.steps += did
                s += did
                self.reached(a + s * h)
                if code != OK:
                    return code, a + s * h
            return OK, target
        if self.h is None:
            f0 = np.empty_like(y)
            self.kernels.drift(y, f0, self.sa.ka)
            try:
                with np.errstate(all="ignore"):
                    h = initial_step(y, f0, self.sa.ka, self.rtol, self.atol, self.ytmp, self.yerr,
                                     self.kernels.drift)
            except (ZeroDivisionError, OverflowError):  # a right-hand side too large to step at all
                h = 0.0
            self.nfev += 2
            if not (math.isfinite(h) and h > 0.0):
                self.h = 0.0
                with np.errstate(invalid="ignore"):
                    self.f0max = float(np.max(np.abs(f0)))
                return START, a
            self.h = h
        while True:
            code, a, self.h, nf, st = self.kernels.dopri_segment(y, a, target, self.h, self.h_min(a),
                                                    self.max_steps - self.steps, self.chunk, self.sa)
            self.nfev += nf
            self.steps += st
            self.reached(a)
            if code in (OK, PAUSED) and self.hopeless(a):
                return STIFF, a
            if code != PAUSED:
                return code, a

    def needed_steps(self, a) -> float:
        """Steps still needed to reach the last output point at the current step size."""
        return (self.end - a) / self.h if self.h else math.inf

    def hopeless(self, a) -> bool:
        """Stiff (the step is held by stability, so it will not grow) and the budget cannot reach the end.

        Explicit steps on a stiff problem stay near ``3.3/lambda``; the run would
        spend all of ``max_steps`` and stop as ``step_size`` anyway, so it stops now.
        """
        if self.stiff[0] < STIFF_COUNT or a >= self.end:
            return False
        return self.needed_steps(a) > STIFF_MARGIN * (self.max_steps - self.steps)

    def eg(self, y) -> float:
        """``eps_g`` at ``y``, clipped at 0 (see :func:`symphase._kernels.eg_clipped`); counts the clips."""
        e, raw = kernels.eg_clipped(y, self.ka)
        if raw < 0.0:
            self.n_clipped += 1
            self.eg_raw_min = min(self.eg_raw_min, raw)
        return e

    @staticmethod
    def h_min(a):
        return 1e-12 * max(1.0, abs(a))

    def run(self, y, eta, alphas, alpha_max, eg_tol, progress):
        system = self.system
        n = y.size
        ys = np.empty((alphas.size + 1, n))
        out_alpha = np.empty(alphas.size + 1)
        egs = np.empty(alphas.size + 1)
        count = 0
        a = 0.0
        code = OK
        if alphas[-1] == alpha_max:
            status, message = Status.COMPLETED, f"reached alpha_max = {alpha_max:g}"
        else:
            status, message = Status.COMPLETED, f"reached alpha = {alphas[-1]:g}, the last output point"
        self.end = float(alphas[-1])
        bar = _progress(progress, alphas[-1])
        try:
            self.interrupt.__enter__()
            for target in alphas:
                if target > a:
                    code, a = self.advance(y, a, target)
                if code != OK:
                    status = _STATUS[code]
                    message = _MESSAGES[code].format(
                        a=a, eta=eta, blowup=self.blowup, h_min=self.h_min(a), max_steps=self.max_steps,
                        lam=self.stiff[2], h=self.h or 0.0, end=self.end, need=self.needed_steps(a),
                        left=self.max_steps - self.steps, dt=self.dt or 0.0, f0=self.f0max)
                    break
                e = self.eg(y)
                if not np.isfinite(e):
                    status = Status.DIVERGED
                    message = f"eps_g is not finite at alpha = {a:.6g}; eta = {eta:g} is too large"
                    break
                ys[count], out_alpha[count], egs[count] = y, a, e
                count += 1
                if bar is not None:
                    bar.update(a - bar.n)
                if eg_tol > 0 and e < eg_tol:
                    status, message = Status.CONVERGED, f"eps_g = {e:.3g} < eg_tol = {eg_tol:g} at alpha = {a:.6g}"
                    break
            self.reached(a)  # a Ctrl-C during the last point's bookkeeping is not lost
        except KeyboardInterrupt:
            a = self.pos  # y is at the last checkpoint (Ctrl-C is deferred to the checkpoints)
            status, message = Status.INTERRUPTED, f"interrupted at alpha = {a:.6g}; the trajectory up to there is kept"
        finally:
            self.interrupt.__exit__()
            if bar is not None:
                bar.close()
        if not status.success and (count == 0 or a > out_alpha[count - 1]):
            # keep the last valid state reached, at its own alpha
            e = self.eg(y)
            if np.isfinite(e):
                ys[count], out_alpha[count], egs[count] = y, a, e
                count += 1
        Q, R, g = system.layout.unpack(ys[:count])
        # the second layer: from the states when learned, else the fixed values the kernels read
        v = system.layout.unpack_v(ys[:count]) if system.learns_v else np.tile(self.ka.ws.v, (count, 1))
        info = {"method": self.method, "nfev": self.nfev, "n_steps": self.steps}
        if self.n_clipped:
            info.update(eg_clipped=self.n_clipped, eg_raw_min=self.eg_raw_min)
        if self.method == "rk4":
            info["dt"] = self.dt
        else:
            info.update(rtol=self.rtol, atol=self.atol)
        return ODEResult(model=system.model, eta=eta, alpha=out_alpha[:count].copy(), Q=Q, R=R, g=g,
                         eg=egs[:count].copy(), status=status, message=message, info=info, v=v)


class _DeferredInterrupt:
    """Ctrl-C deferred to the driver's checkpoints, so the state kept is the one at the alpha recorded.

    In the main thread, while Python's default SIGINT handler is installed, a
    SIGINT only sets a flag, and :meth:`check` (called after every chunk of
    steps, ~0.01-0.1 s apart) raises ``KeyboardInterrupt``. Otherwise (another
    thread, a handler of the caller's own) nothing changes.
    """

    def __init__(self):
        self.hit = False
        self.old = None

    def _handler(self, signum, frame):
        self.hit = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def check(self):
        if self.hit:
            self.hit = False
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            self.old = None


def _progress(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=float(total), unit="alpha",
                bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} [{elapsed}<{remaining}]")


@old_forms(split_state("rhs", eta_pos=2))
def rhs(model, state, eta, *, part="full", eta2=None) -> Rates:
    """The right-hand side ``d(Q, R, g, v)/dalpha`` of the order-parameter ODEs at one state
    (docs/model.md §3, §13).

    Parameters
    ----------
    model : Committee
    state : State, tuple (Q, R[, g[, v]]) or FixedPoint
        The state (:class:`symphase.State`): ``Q`` (K, K), ``R`` (K, M), ``g`` (K,) under BN
        (default ones), ``v`` (K,) the student's second layer (default ones).
    eta : float
        Learning rate (> 0; required: the rates depend on it at ``O(eta^2/b)``; ``part="linear"``
        is the ``O(eta)`` part, ``eta`` times the small learning rate limit).
    part : {"full", "linear", "quadratic"}
        The whole right-hand side; its ``O(eta)`` part (the small learning rate
        limit); or its ``O(eta^2/b)`` part.
    eta2 : float, optional
        The second layer's learning rate (default ``eta``; a learned second layer only).

    Returns
    -------
    Rates
        ``(dQ (K, K), dR (K, M), dg (K,) or None, dv (K,) or None)``: ``dg`` under BN,
        ``dv`` when the second layer is learned.

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> rates = symphase.rhs(model, (0.5 * np.eye(2), 0.1 * np.ones((2, 2))), 0.5)
    >>> rates.dQ.shape, rates.dR.shape, rates.dg is None
    ((2, 2), (2, 2), True)
    """
    model = check_model(model).require_closed_form("rhs")
    rule = rule_for(model, "rhs", "ode")  # the model's learning rule (docs/model.md §2.4)
    eta = check_real("eta", eta, positive=True)
    if part not in ("full", "linear", "quadratic"):
        raise ValueError(f"part must be 'full', 'linear' or 'quadratic', got {part!r}")
    if rule.name != "sgd" and part != "full":
        raise ValueError(f"part: rhs of preconditioner={model.preconditioner!r} is its whole right-hand side "
                         f"(part='full'), got part={part!r}")
    state = model_state(model, state, "state")
    names = state_names("state")
    eta2, v = check_second_layer(model, eta, eta2, state.v, names=("eta2", names[3]))
    y = model.system.state(state.Q, state.R, state.g, v if model.learns_v else None, names=names)
    if rule.name == "sgd":
        out = model.system.rhs(y, eta, part=part, v=v, eta2=eta2)
    else:
        kern = rule.bind(model)
        out = np.empty_like(y)
        kern.drift(y, out, kern.drift_args(model.system.args(eta)))
        if not np.all(np.isfinite(out)):
            raise SymphaseError(f"rhs: F + eps I{' or Q' if model.has_bn else ''} of preconditioner="
                                f"{model.preconditioner!r} is singular numerically at Q = {state.Q.tolist()} "
                                f"(damping {model.damping:g})")
    dQ, dR, dg = model.layout.unpack(out)
    return Rates(dQ, dR, dg, model.layout.unpack_v(out) if model.learns_v else None)


@old_forms(split_state("generalization_error"))
def generalization_error(model, state) -> float:
    """The generalization error at the effective overlaps (the paper's Eq. 13, docs/model.md §3).

    ``eps_g = (1/pi)[sum_nm asin(T'_nm/...) + sum_ik asin(Q'_ik/...) - 2 sum_in asin(R'_in/...)]``
    (Saad & Solla 1995 for plain).

    Parameters
    ----------
    model : Committee
    state : State, tuple (Q, R[, g[, v]]) or FixedPoint
        ``Q`` (..., K, K), ``R`` (..., K, M), ``g`` (..., K) under BN (default ones), ``v`` (K,)
        the student's second layer (default ones; docs/model.md §13). Stacks of states with
        leading axes (e.g. ``State(res.Q, res.R, res.g)`` of a trajectory) are evaluated state
        by state.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> float(symphase.generalization_error(model, (np.eye(2), np.eye(2))))
    0.0
    """
    model = check_model(model).require_closed_form("generalization_error")
    state = model_state(model, state, "state")
    Q, R, g, v = state
    Qa, Ra = np.asarray(Q, dtype=float), np.asarray(R, dtype=float)
    if Qa.ndim > 2:
        lead = Qa.shape[:-2]
        ga = None if g is None else np.asarray(g, dtype=float).reshape(-1, model.K)
        out = [generalization_error(model, State(q, r, None if ga is None else ga[j], v))
               for j, (q, r) in enumerate(zip(Qa.reshape(-1, *Qa.shape[-2:]), Ra.reshape(-1, *Ra.shape[-2:])))]
        return np.array(out).reshape(lead)
    names = state_names("state")
    _, v = check_second_layer(model, 1.0, None, v, names=("eta2", names[3]))
    y = model.system.state(Q, R, g, v if model.learns_v else None, names=names)
    return model.system.eg(y, v=v)
