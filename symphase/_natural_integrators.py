"""The ODE integrators of the preconditioned rules (docs/model.md §14.5): SGD's steppers
(:func:`symphase._integrators.rk4_steps_with`, :func:`symphase._integrators.dopri_segment_with`) run on the
preconditioned right-hand side :func:`symphase._natural_ode.drift`.

A module of their own because Numba caches a stepper on disk only when its drift is reached as a module's
attribute (``nat_ode.drift``): the drift named as a global of its own module is passed as a dynamic address,
which cannot be cached.
"""
from __future__ import annotations

import numba

from . import _natural_ode as nat_ode
from ._integrators import dopri_segment_with, rk4_steps_with
from ._kernels import NO_NRT

__all__ = ["dopri_segment", "rk4_steps"]


@numba.njit(cache=True, **NO_NRT)
def rk4_steps(y, a0, h, s0, n, sa):
    """:func:`symphase._integrators.rk4_steps_with` the preconditioned drift (``sa.ka``:
    :data:`symphase._natural_ode.NaturalArgs`)."""
    return rk4_steps_with(nat_ode.drift, y, a0, h, s0, n, sa)


@numba.njit(cache=True, **NO_NRT)
def dopri_segment(y, a, a_end, h, h_min, max_steps, chunk, sa):
    """:func:`symphase._integrators.dopri_segment_with` the preconditioned drift (``sa.ka``:
    :data:`symphase._natural_ode.NaturalArgs`)."""
    return dopri_segment_with(nat_ode.drift, y, a, a_end, h, h_min, max_steps, chunk, sa)
