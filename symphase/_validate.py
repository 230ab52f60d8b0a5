"""Validation of user input at the API boundary.

Every public function validates here, once; the kernels trust their
arguments. Bad input raises ``ValueError`` (or ``TypeError`` for a wrong kind
of object) naming the parameter and its allowed range.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def check_int(name: str, value, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools rejected), else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


#: Range of the BN norm ``Q_ii`` (a fixed point's ``norm``, a state's diagonal under BN): the overlaps
#: (up to ``norm``) and their squares stay finite in double precision.
NORM_RANGE = (1e-100, 1e100)
#: Largest variance of a student's field ``tau h_i^2 Q_ii`` (plain: ``tau Q_ii``; BN: ``g_i^2``) at
#: which the curvature is computed: above it ``1 + Q_ii`` loses its ``1`` to rounding long before
#: it overflows (the Hessian goes wrong at ``1e14``, complex division by zero at ``1e16``).
FIELD_VARIANCE_MAX = 1e12

#: Largest input dimension ``N``: the kernels use ``N`` as a float (``1/N``, ``sqrt(N)``) and as an
#: int64 count; ``2^53`` is the largest integer up to which every integer is a float64.
N_MAX = 2**53


def check_dimension(name: str, value, minimum: int) -> int:
    """An integer input dimension in ``[minimum, 2^53]`` (bools rejected), else ``ValueError`` naming it.

    Parameters
    ----------
    name : str
        The parameter's name in the message (e.g. ``"N"``).
    value : int
        The dimension.
    minimum : int
        The smallest allowed value (e.g. ``K + M``).

    Returns
    -------
    int
        ``value``.
    """
    if (isinstance(value, bool) or not isinstance(value, Integral)
            or not minimum <= value <= N_MAX):
        raise ValueError(f"{name} must be an integer >= {minimum} and <= 2^53, got {value!r}")
    return int(value)


def check_real(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    """A finite real number (optionally > 0 or >= 0), else ``ValueError`` naming it."""
    rng = "> 0" if positive else ">= 0" if nonnegative else "finite"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a finite real number {rng}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (nonnegative and v < 0):
        raise ValueError(f"{name} must be a finite real number {rng}, got {value!r}")
    return v


def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices``, else ``ValueError`` naming ``name`` and the choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def real_array(value, what: str) -> np.ndarray:
    """``value`` as a float array; ``ValueError`` (``"<what>, got <value>"``) if it is not real
    (complex values are refused, not silently cut to their real part)."""
    try:
        if np.iscomplexobj(np.asarray(value)):
            raise TypeError
        return np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what}, got {value!r}") from None


def check_array(name: str, value, shape: tuple) -> np.ndarray:
    """A finite float array of the given shape, else ``ValueError`` naming it."""
    arr = real_array(value, f"{name} must be a real array of shape {shape}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (K={shape[0]}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


#: Largest seed: numpy's SeedSequence takes any integer >= 0; NetCDF4 stores int64.
SEED_MAX = 2**63 - 1


def check_seed(name: str, value) -> int:
    """An integer seed in ``[0, 2^63 - 1]`` (bools rejected), else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= SEED_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2^63 - 1], got {value!r}")
    return int(value)
