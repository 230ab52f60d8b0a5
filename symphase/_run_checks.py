"""The checks of the options that every run shares (the ODE, the simulators, the escape time, the
sweep): the output grid in ``alpha``, its end, the learning rates and the second layer's start. Bad
input raises ``ValueError`` naming the option and its range.
"""
from __future__ import annotations

import numpy as np

from ._state import check_v
from ._validate import check_real, real_array

#: Largest alpha_max: beyond it the adaptive steps stop resolving alpha in double precision.
ALPHA_MAX_LIMIT = 1e12
#: Largest learning rate (eta, eta2). Stable learning needs eta = O(1) at O(1) overlaps, and BN's scale
#: invariance (Q -> c^2 Q with eta -> c^2 eta) stretches that up to the overlaps' size (at most ``blowup``);
#: beyond 1e12 the right-hand side (~ eta^2) leaves the range in which the step-size control works.
ETA_LIMIT = 1e12


def default_alphas(alpha_max: float, n: int = 301) -> np.ndarray:
    """Output points: 0 and ``n`` log-spaced points up to ``alpha_max``, resolving plateau and escape.

    Parameters
    ----------
    alpha_max : float
        The last output point.
    n : int
        Number of log-spaced points in ``[1e-4 alpha_max, alpha_max]``.

    Returns
    -------
    ndarray (n + 1,)

    Examples
    --------
    >>> symphase.default_alphas(100.0, 2)
    array([0.e+00, 1.e-02, 1.e+02])
    """
    return np.concatenate([[0.0], np.geomspace(alpha_max * 1e-4, alpha_max, n)])


def check_alphas(alphas, alpha_max: float) -> np.ndarray:
    """A 1-d, finite, strictly increasing grid in ``[0, alpha_max]``, else ``ValueError``."""
    arr = real_array(alphas, "alphas must be a 1-d array of increasing numbers in [0, alpha_max]")
    if arr.ndim != 1:
        raise ValueError(f"alphas must be a 1-d array (one output grid), got an array of shape {arr.shape}")
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0) or arr[0] < 0 or arr[-1] > alpha_max:
        raise ValueError(f"alphas must be strictly increasing, finite and in [0, alpha_max={alpha_max:g}]")
    return arr


def check_alpha_max(alpha_max) -> float:
    """``alpha_max`` in ``(0, ALPHA_MAX_LIMIT]``, else ``ValueError``."""
    alpha_max = check_real("alpha_max", alpha_max, positive=True)
    if alpha_max > ALPHA_MAX_LIMIT:
        raise ValueError(f"alpha_max must be a real number in (0, {ALPHA_MAX_LIMIT:g}], got {alpha_max!r}")
    return alpha_max


def _bounded(name, value, limit, why):
    """A real number in ``(0, limit]``, else ``ValueError`` naming ``name``, the range and ``why``."""
    value = check_real(name, value, positive=True)
    if value > limit:
        raise ValueError(f"{name} must be a real number in (0, {limit:g}] ({why}), got {value!r}")
    return value


def check_eta(name, eta) -> float:
    """A learning rate in ``(0, ETA_LIMIT]``, else ``ValueError`` naming ``name`` and the range."""
    return _bounded(name, eta, ETA_LIMIT, "beyond it every run diverges at once and the step-size control "
                    "fails")


def check_second_layer(model, eta, eta2, v0, names=("eta2", "v0")):
    """``(eta2, v0)`` validated: ``eta2`` > 0 (default ``eta``) only for a learned second layer,
    ``v0`` K finite numbers (default ones)."""
    if eta2 is not None:
        if not model.learns_v:
            raise ValueError(f"{names[0]} is the second layer's learning rate: give it with "
                             f"Committee(..., second_layer='learned'); this model's second layer is fixed")
        eta2 = check_eta(names[0], eta2)
    return (eta if eta2 is None else eta2), check_v(model, v0, names[1])
