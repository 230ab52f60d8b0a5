"""Integrators of the order-parameter ODEs: Numba steppers on the flat state.

Layers as in scipy's ``integrate/_ivp``: these kernels advance a flat state
in place and return a status code; the driver :func:`symphase.integrate`
validates once, calls them in bounded chunks (so Ctrl-C is seen within about
0.1 s and the step budget is enforced), and wraps the result. Everything the
steppers need besides the state, its ``alpha`` and the step travels in one
:data:`StepperArgs` record built by :func:`stepper_args`: the model's
:data:`symphase._kernels.KernelArgs`, the tolerances and the work arrays.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from . import _kernels as kernels
from ._kernels import OK

STEP_SIZE = 3  # status code: step size underflow or step budget spent
PAUSED = 4     # status code: this call's chunk of steps is done, call again to go on
#: Hairer's stiffness test (dopri5.f): ``h |lambda| > STIFF_HLAMB`` on ``STIFF_COUNT`` accepted steps
#: in a row (reset after ``STIFF_RESET`` steps without) means the step is held by stability, not accuracy.
STIFF_HLAMB, STIFF_COUNT, STIFF_RESET = 3.25, 15, 6

# Dormand & Prince (1980) 5(4) tableau, as in Hairer, Norsett & Wanner, and scipy's RK45
DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
DP_A = np.array([
    [0, 0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
])
# error estimate: 5th-order minus embedded 4th-order weights
DP_E = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


#: Work arrays of the steppers (:func:`workspace`), each of the state's size ``n`` unless said: RK4's
#: stages ``k1`` .. ``k4``, Dormand-Prince's stages ``K`` (7, n), the trial state ``ytmp``, the error
#: estimate ``yerr``, and ``stiff`` (3,), Hairer's stiffness test carried across calls.
StepperWorkspace = namedtuple("StepperWorkspace", "k1 k2 k3 k4 K ytmp yerr stiff")
#: Everything :func:`rk4_steps` and :func:`dopri_segment` need besides the state, ``alpha`` and the
#: step: the model's :data:`symphase._kernels.KernelArgs` ``ka``, the tolerances ``rtol``, ``atol``
#: of the adaptive step, the state checks' ``blowup`` and ``psd_tol``
#: (:func:`symphase._kernels.check_state`), the Dormand-Prince tableau ``A`` and error weights ``E``,
#: and the work arrays ``ws``. Built by :func:`stepper_args` only.
StepperArgs = namedtuple("StepperArgs", "ka rtol atol blowup psd_tol A E ws")


def workspace(n: int) -> StepperWorkspace:
    """A fresh :data:`StepperWorkspace` for a state of size ``n`` (``stiff`` zeroed)."""
    return StepperWorkspace(k1=np.empty(n), k2=np.empty(n), k3=np.empty(n), k4=np.empty(n), K=np.empty((7, n)),
                            ytmp=np.empty(n), yerr=np.empty(n), stiff=np.zeros(3))


def stepper_args(ka, n: int, *, rtol: float = 1e-8, atol: float = 1e-10, blowup: float = 1e6,
                 psd_tol: float = 1e-7) -> StepperArgs:
    """The steppers' :data:`StepperArgs` for the model's kernel arguments ``ka``
    (:meth:`symphase.System.args`): the one place their inputs are built.

    Parameters
    ----------
    ka : KernelArgs
        The right-hand side's inputs.
    n : int
        The size of the flat state (``System.layout.size``).
    rtol, atol : float
        The adaptive step's tolerances (unused by RK4).
    blowup, psd_tol : float
        The state checks' bounds (:func:`symphase._kernels.check_state`).
    """
    return StepperArgs(ka=ka, rtol=float(rtol), atol=float(atol), blowup=float(blowup), psd_tol=float(psd_tol),
                       A=DP_A, E=DP_E, ws=workspace(n))


def chunk_steps(size: int) -> int:
    """Steps per kernel call: about 0.01-0.1 s of work, so Ctrl-C is seen promptly."""
    return max(100, 500_000 // (size * size))


@numba.njit(cache=True, **kernels.NO_NRT)
def rk4_steps(y, a0, h, s0, n, sa):
    """:func:`rk4_steps_with` SGD's right-hand side (:func:`symphase._kernels.rhs`)."""
    return rk4_steps_with(kernels.rhs, y, a0, h, s0, n, sa)


@numba.njit
def rk4_steps_with(drift, y, a0, h, s0, n, sa):
    """Classical RK4 steps ``s0 .. n-1`` of a segment that starts at ``a0`` with step ``h``, of
    ``dy/dalpha = drift(y)`` (``drift(y, out, sa.ka)``: a rule's right-hand side, :mod:`symphase._rule`).

    Advances ``y`` in place; returns ``(code, steps_done)``; on failure ``y`` is
    the last valid state, at ``alpha = a0 + (s0 + steps_done) h``. ``sa`` is the
    :data:`StepperArgs` (:func:`stepper_args`).
    """
    ka, blowup, psd_tol = sa.ka, sa.blowup, sa.psd_tol
    k1, k2, k3, k4, ytmp = sa.ws.k1, sa.ws.k2, sa.ws.k3, sa.ws.k4, sa.ws.ytmp
    m = y.size
    for s in range(s0, n):
        drift(y, k1, ka)
        for j in range(m):
            ytmp[j] = y[j] + 0.5 * h * k1[j]
        drift(ytmp, k2, ka)
        for j in range(m):
            ytmp[j] = y[j] + 0.5 * h * k2[j]
        drift(ytmp, k3, ka)
        for j in range(m):
            ytmp[j] = y[j] + h * k3[j]
        drift(ytmp, k4, ka)
        for j in range(m):
            ytmp[j] = y[j] + (h / 6.0) * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
        code = kernels.check_state(ytmp, ka, blowup, psd_tol)
        if code != OK:
            return code, s - s0
        for j in range(m):
            y[j] = ytmp[j]
    return OK, n - s0


@numba.njit(cache=True, **kernels.NO_NRT)
def _rms(v, y0, y1, rtol, atol):
    s = 0.0
    for j in range(v.size):
        sc = atol + rtol * max(abs(y0[j]), abs(y1[j]))
        s += (v[j] / sc) ** 2
    return math.sqrt(s / v.size)


def _rms_py(v, y0, y1, rtol, atol):
    """:func:`_rms` in Python, the same floating-point operations in the same order."""
    s = 0.0
    for j in range(v.size):
        sc = atol + rtol * max(abs(float(y0[j])), abs(float(y1[j])))
        q = float(v[j]) / sc
        s += q * q
    return math.sqrt(s / v.size)


def initial_step(y, f0, ka, rtol, atol, ytmp, f1, drift=kernels.rhs):
    """Starting step of Hairer, Norsett & Wanner (II.4), as in scipy's ``select_initial_step``, for
    ``dy/dalpha = drift(y)`` (``drift(y, out, ka)``; default SGD's :func:`symphase._kernels.rhs`).

    Plain Python around one compiled right-hand side: it runs once per
    integration, so compiling it would only slow the first call down.
    """
    d0 = _rms_py(y, y, y, rtol, atol)
    d1 = _rms_py(f0, y, y, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    for j in range(y.size):
        ytmp[j] = y[j] + h0 * f0[j]
    drift(ytmp, f1, ka)
    for j in range(y.size):
        f1[j] -= f0[j]
    d2 = _rms_py(f1, y, y, rtol, atol) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.2
    return min(100 * h0, h1)


@numba.njit(cache=True, **kernels.NO_NRT)
def dopri_segment(y, a, a_end, h, h_min, max_steps, chunk, sa):
    """:func:`dopri_segment_with` SGD's right-hand side (:func:`symphase._kernels.rhs`)."""
    return dopri_segment_with(kernels.rhs, y, a, a_end, h, h_min, max_steps, chunk, sa)


@numba.njit
def dopri_segment_with(drift, y, a, a_end, h, h_min, max_steps, chunk, sa):
    """Adaptive Dormand-Prince 5(4) of ``dy/dalpha = drift(y)`` (``drift(y, out, sa.ka)``: a rule's
    right-hand side, :mod:`symphase._rule`) from ``a`` to ``a_end`` (the last step is clipped to land on
    ``a_end``). Advances ``y`` in place; returns ``(code, alpha_reached, h_next, n_rhs, n_steps)``.
    ``STEP_SIZE`` when the step falls below ``h_min`` or ``max_steps`` steps are spent; ``PAUSED`` after
    ``chunk`` steps (call again from ``alpha_reached`` with ``h_next``); on
    failure ``y`` is the last valid state.

    ``stiff`` (3,) carries Hairer's stiffness test across calls (Hairer &
    Wanner, Solving ODEs II, IV.2; dopri5.f): after each accepted step
    ``h lambda = h |f(y1) - f(y_stage6)| / |y1 - y_stage6|`` estimates the
    step times the dominant eigenvalue; ``stiff[0]`` counts accepted steps in a
    row with ``h lambda > STIFF_HLAMB`` (the step is held by stability, not by
    accuracy), ``stiff[1]`` the steps without since, ``stiff[2]`` is the last
    ``lambda``. ``sa`` is the :data:`StepperArgs` (:func:`stepper_args`): the model's kernel
    arguments, ``rtol``, ``atol``, the state checks' bounds, the tableau and the work arrays (``stiff``
    is ``sa.ws.stiff``)."""
    ka, rtol, atol, blowup, psd_tol, A, E = sa.ka, sa.rtol, sa.atol, sa.blowup, sa.psd_tol, sa.A, sa.E
    K, ytmp, yerr, stiff = sa.ws.K, sa.ws.ytmp, sa.ws.yerr, sa.ws.stiff
    n_stages = 7
    nfev = 0
    steps = 0
    drift(y, K[0], ka)
    nfev += 1
    while a < a_end:
        if steps >= max_steps:
            return STEP_SIZE, a, h, nfev, steps
        if steps >= chunk:
            return PAUSED, a, h, nfev, steps
        if h < h_min:
            return STEP_SIZE, a, h, nfev, steps
        last = a + h >= a_end * (1.0 - 1e-15)
        hs = a_end - a if last else h
        m = y.size
        for s in range(1, n_stages):
            for i in range(m):
                acc = y[i]
                for j in range(s):
                    acc += (hs * A[s, j]) * K[j, i]
                ytmp[i] = acc
            drift(ytmp, K[s], ka)
        nfev += n_stages - 1
        # ytmp now holds the 5th-order solution (row 6 of A are the weights b)
        for i in range(m):
            acc = 0.0
            for j in range(n_stages):
                acc += (hs * E[j]) * K[j, i]
            yerr[i] = acc
        finite = True
        for j in range(y.size):
            if not math.isfinite(ytmp[j]) or not math.isfinite(yerr[j]):
                finite = False
        err = _rms(yerr, y, ytmp, rtol, atol) if finite else math.inf
        steps += 1
        if err <= 1.0:
            code = kernels.check_state(ytmp, ka, blowup, psd_tol)
            if code != OK:
                return code, a, h, nfev, steps
            # stiffness test: y1 - y_stage6 = hs sum_j (b_j - a_6j) K_j, f(y1) - f(y_stage6) = K_6 - K_5
            num = 0.0
            den = 0.0
            for i in range(m):
                d = 0.0
                for j in range(n_stages - 1):
                    d += (hs * (A[6, j] - A[5, j])) * K[j, i]
                den += d * d
                df = K[6, i] - K[5, i]
                num += df * df
            if den > 0.0:
                lam = math.sqrt(num / den)
                if hs * lam > STIFF_HLAMB:
                    stiff[0] += 1.0
                    stiff[1] = 0.0
                    stiff[2] = lam
                else:
                    stiff[1] += 1.0
                    if stiff[1] >= STIFF_RESET:
                        stiff[0] = 0.0
            a = a_end if last else a + hs
            for j in range(m):
                y[j] = ytmp[j]
                K[0, j] = K[n_stages - 1, j]
            fac = 10.0 if err == 0.0 else min(10.0, 0.9 * err ** -0.2)
            if not last:
                h = hs * fac
        else:
            fac = 0.2 if not math.isfinite(err) else max(0.2, 0.9 * err ** -0.2)
            h = hs * fac
    return OK, a, h, nfev, steps
