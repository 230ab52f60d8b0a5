"""The plateau of a learning curve and the escape from it (docs/model.md §5): functions of a curve
``eps_g(alpha)`` alone, whichever engine computed it.
"""
from __future__ import annotations

import math

import numpy as np


def _plateau_index(a, e, flat):
    """Index of the plateau point of a positive curve ``e(a)`` (a > 0), or None (see plateau_value)."""
    if a.size < 6:
        return None
    slope = np.abs(np.gradient(np.log(e), np.log(a)))
    dropped = np.nonzero(e < 0.5 * e[0])[0]
    if dropped.size == 0:
        return None
    cand = np.nonzero((np.arange(a.size) >= dropped[0]) & (slope < flat))[0]
    if cand.size == 0:
        return None
    j0 = int(cand[0])
    gone = np.nonzero((np.arange(a.size) > j0) & (e < 0.25 * e[j0]))[0]  # well past any plateau
    end = int(gone[0]) if gone.size else a.size
    return j0 + int(np.argmin(slope[j0:end]))  # the flattest point in between


def plateau_value(alpha, eg, flat: float = 0.5) -> float:
    """The plateau level of one ``eps_g`` curve, read off the curve itself.

    After the initial descent (once ``eps_g`` is below half its initial value)
    the plateau starts at the first recorded point ``j0`` where
    ``|d log eps_g / d log alpha| < flat``; the plateau point is the flattest
    point (smallest ``|slope|``) from ``j0`` until ``eps_g`` falls below a
    quarter of its value at ``j0`` (so past the escape, before any later floor).
    The level is the median of ``eps_g`` over that point and its two
    neighbours (one noisy point does not move it). NaN if there is no such
    stretch (no plateau, or fewer than 6 points). The plateau is approached
    slowly (``Q_ii`` relaxes long after ``R = S``); when the initial asymmetry
    is large (small N) the curve escapes before it gets there and this level
    lies above ``eps_g`` at the symmetric fixed point (docs/model.md §5.4).

    Parameters
    ----------
    alpha : array_like (n,)
        The times of the curve, increasing.
    eg : array_like (n,)
        ``eps_g`` at ``alpha``; non-finite and non-positive points and ``alpha <= 0``
        are ignored.
    flat : float
        The slope ``|d log eps_g / d log alpha|`` below which the curve counts as flat.

    Returns
    -------
    float
        The plateau level, or NaN.

    Examples
    --------
    >>> import symphase
    >>> model = symphase.Committee(2, 2)
    >>> start = symphase.random_initial(model, N=1000, seed=0)
    >>> res = symphase.integrate(model, 1.0, 300, start=start)
    >>> print(f"{symphase.plateau_value(res.alpha, res.eg):.4f}")
    0.0218
    """
    alpha, eg = np.asarray(alpha, dtype=float), np.asarray(eg, dtype=float)
    ok = np.isfinite(eg) & (alpha > 0) & (eg > 0)
    a, e = alpha[ok], eg[ok]
    j = _plateau_index(a, e, flat)
    return math.nan if j is None else float(np.median(e[max(j - 1, 0):j + 2]))


def escape_alpha(alpha, eg, fraction: float = 0.5, flat: float = 0.5, plateau: float | None = None) -> float:
    """Plateau escape time: the first ``alpha`` at which ``eps_g`` falls below ``fraction``
    times its plateau level, after the plateau is reached.

    ``plateau``: the plateau level, e.g. ``eps_g`` at the symmetric fixed point
    (``symphase.symmetric_fixed_point(model).eg``); the escape is then searched
    after the curve's last point at or above it. None: the level is read off the
    curve by :func:`plateau_value` and the escape searched after the plateau
    point (docs/model.md §5.4).

    Parameters
    ----------
    alpha : array_like (n,)
        The times of the curve, increasing.
    eg : array_like (n,)
        ``eps_g`` at ``alpha`` (non-finite points are ignored).
    fraction : float
        The escape threshold as a fraction of the plateau level.
    flat : float
        As for :func:`plateau_value` (used when ``plateau`` is None).
    plateau : float, optional
        The plateau level; None: read off the curve.

    Returns
    -------
    float
        The escape time ``alpha``, or NaN when there is no plateau or no escape
        within the run.

    Examples
    --------
    >>> import symphase
    >>> model = symphase.Committee(2, 2)
    >>> start = symphase.random_initial(model, N=1000, seed=0)
    >>> res = symphase.integrate(model, 1.0, 300, start=start)
    >>> fp = symphase.symmetric_fixed_point(model, eta=1.0)
    >>> print(f"{symphase.escape_alpha(res.alpha, res.eg, plateau=fp.eg):.0f}")
    80
    """
    alpha, eg = np.asarray(alpha, dtype=float), np.asarray(eg, dtype=float)
    if plateau is None:
        ok = np.isfinite(eg) & (alpha > 0) & (eg > 0)
        a, e = alpha[ok], eg[ok]
        j = _plateau_index(a, e, flat)
        if j is None:
            return math.nan
        level = fraction * float(np.median(e[max(j - 1, 0):j + 2]))
        below = np.nonzero((e < level) & (np.arange(a.size) > j))[0]
        return float(a[below[0]]) if below.size else math.nan
    level = fraction * float(plateau)
    ok = np.isfinite(eg)
    a, e = alpha[ok], eg[ok]
    above = np.nonzero(e >= float(plateau))[0]  # on or above the plateau ...
    start = above[-1] if above.size else 0
    below = np.nonzero((e < level) & (np.arange(a.size) > start))[0]  # ... and then below it
    return float(a[below[0]]) if below.size else math.nan
