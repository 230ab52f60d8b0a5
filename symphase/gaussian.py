"""Gaussian averages of the erf activation ``phi(u) = erf(u/sqrt 2)`` (docs/model.md §3).

Closed forms of Saad & Solla (1995), derived and checked in
``derivations/derive.py`` (I3 and J2 from I2 by Stein's lemma and Price's
theorem, I4 by absorbing ``phi'(z1) phi'(z2)`` into the Gaussian measure).
Each takes the covariance matrix ``C`` of the arguments ``z ~ N(0, C)``
(1-based indices in the formulas, as in docs/model.md §3.3).

Examples
--------
>>> import numpy as np
>>> from symphase import gaussian
>>> C = np.array([[1.0, 0.5], [0.5, 1.0]])
>>> print(f"{gaussian.I2(C):.6f}")             # (2/pi) asin(1/4)
0.160861
"""
from __future__ import annotations

import numpy as np

from ._generated import ode_kernels as _gen


def _cov(C, n):
    C = np.asarray(C, dtype=float)
    if C.shape != (n, n):
        raise ValueError(f"C must be a {n}x{n} covariance matrix, got shape {C.shape}")
    if not np.all(np.isfinite(C)) or not np.allclose(C, C.T):
        raise ValueError("C must be a finite symmetric matrix")
    return np.ascontiguousarray(C)


def I2(C) -> float:
    """The average ``I2 = <phi(z1) phi(z2)>`` for ``z ~ N(0, C)``.

    ``I2 = (2/pi) asin(C12 / sqrt((1+C11)(1+C22)))`` (Saad & Solla 1995; docs/model.md §3.3).

    Parameters
    ----------
    C : array_like (2, 2)
        The covariance matrix of ``(z1, ..., z2)``: finite and symmetric.

    Returns
    -------
    float
        The average.

    Raises
    ------
    ValueError
        If ``C`` has the wrong shape, is not finite or not symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from symphase.gaussian import I2
    >>> print(f"{I2(np.eye(2)):.3g}")              # independent fields: <phi> = 0
    0
    """
    return float(_gen.i2(_cov(C, 2)))


def I3(C) -> float:
    """The average ``I3 = <phi'(z1) z2 phi(z3)>`` for ``z ~ N(0, C)``.

    ``I3 = (2/pi) (C23(1+C11) - C12 C13) / ((1+C11) sqrt(Lambda3))``,
    ``Lambda3 = (1+C11)(1+C33) - C13^2`` (Saad & Solla 1995; docs/model.md §3.3).

    Parameters
    ----------
    C : array_like (3, 3)
        The covariance matrix of ``(z1, ..., z3)``: finite and symmetric.

    Returns
    -------
    float
        The average.

    Raises
    ------
    ValueError
        If ``C`` has the wrong shape, is not finite or not symmetric.
    """
    return float(_gen.i3(_cov(C, 3)))


def I4(C) -> float:
    """The average ``I4 = <phi'(z1) phi'(z2) phi(z3) phi(z4)>`` for ``z ~ N(0, C)``.

    ``I4 = (4/pi^2) Lambda4^(-1/2) asin(Lambda0/sqrt(Lambda1 Lambda2))`` with the
    ``Lambda`` of docs/model.md §3.3 (Saad & Solla 1995).

    Parameters
    ----------
    C : array_like (4, 4)
        The covariance matrix of ``(z1, ..., z4)``: finite and symmetric.

    Returns
    -------
    float
        The average.

    Raises
    ------
    ValueError
        If ``C`` has the wrong shape, is not finite or not symmetric.
    """
    return float(_gen.i4(_cov(C, 4)))


def J2(C) -> float:
    """The average ``J2 = <phi'(z1) phi'(z2)>`` for ``z ~ N(0, C)``, the average that carries the output noise.

    ``J2 = (2/pi) / sqrt((1+C11)(1+C22) - C12^2) = dI2/dC12`` (Price's theorem on I2;
    docs/model.md §3.3).

    Parameters
    ----------
    C : array_like (2, 2)
        The covariance matrix of ``(z1, ..., z2)``: finite and symmetric.

    Returns
    -------
    float
        The average.

    Raises
    ------
    ValueError
        If ``C`` has the wrong shape, is not finite or not symmetric.
    """
    return float(_gen.j2(_cov(C, 2)))
