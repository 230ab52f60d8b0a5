"""Seeded random weights and the overlaps they realise (docs/model.md §1).

The paper's initialization: student ``J_il ~ N(0, 1/N)``; teacher
``B_nl ~ N(0, 1/N)``, or (default here) orthonormalized so that
``T = B B^T`` equals the model's ``T`` exactly. Used by the CLI, the
simulator and the figures, so the same seed gives the same start everywhere.
"""
from __future__ import annotations

import numpy as np

from ._model import check_model
from ._state import Overlaps, State, Weights, old_forms
from ._validate import check_int, check_real, check_seed


def psd_factor(G) -> np.ndarray:
    """A square root ``L`` with ``L L^T = G`` of a positive semi-definite ``G``.

    Parameters
    ----------
    G : ndarray (n, n)
        Symmetric positive semi-definite; eigenvalues negative by rounding are clipped to 0.

    Returns
    -------
    ndarray (n, n)
        ``V sqrt(w)`` from ``G = V diag(w) V^T`` (may be singular).
    """
    w, V = np.linalg.eigh(G)
    return V * np.sqrt(np.clip(w, 0.0, None))


#: Largest ``scale`` of random student weights: the overlaps (``~ scale^2``) stay finite.
SCALE_MAX = 1e100


def check_scale(scale) -> float:
    """Validate the scale of random student weights.

    Parameters
    ----------
    scale : float
        Must be in ``(0, SCALE_MAX]``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``scale`` is not a finite real number in ``(0, SCALE_MAX]``.
    """
    scale = check_real("scale", scale, positive=True)
    if scale > SCALE_MAX:
        raise ValueError(f"scale must be a real number in (0, {SCALE_MAX:g}] (the overlaps ~ scale^2 must stay "
                         f"finite), got {scale!r}")
    return scale


def teacher_weights(model, N: int, rng: np.random.Generator, *, exact_teacher: bool = True) -> np.ndarray:
    """Seeded teacher weights ``B`` (M, N) (docs/model.md §1.3).

    Parameters
    ----------
    model : Committee
        The model (its ``M`` and ``T``).
    N : int
        Input dimension (>= M with ``exact_teacher``).
    rng : numpy.random.Generator
        The random stream.
    exact_teacher : bool
        True: ``B = L U`` with orthonormal rows ``U`` and ``L L^T = T``, so ``B B^T = T``
        exactly; False: the paper's ``B_nl ~ N(0, 1/N)``.

    Returns
    -------
    ndarray (M, N)
    """
    if not exact_teacher:
        return rng.standard_normal((model.M, N)) / np.sqrt(N)
    U = np.linalg.qr(rng.standard_normal((N, model.M)))[0].T  # orthonormal rows
    return psd_factor(model.T) @ U


def _refuse_exact_T(args, kwargs):
    if "exact_T" in kwargs:
        raise TypeError("random_weights(..., exact_T=) is now random_weights(..., exact_teacher=), the name "
                        "simulate and compare use")


@old_forms(_refuse_exact_T)
def random_weights(model, N: int = 1000, seed: int = 0, *, scale: float = 1.0, exact_teacher: bool = True):
    """Seeded random weights ``(J, B)``: the paper's initialization (docs/model.md §1.5).

    Student ``J_il ~ N(0, scale^2/N)``; teacher ``B`` with ``B B^T = T`` exactly
    (``exact_teacher``) or ``B_nl ~ N(0, 1/N)`` (docs/model.md §1.3).

    Parameters
    ----------
    model : Committee
        The model.
    N : int
        Input dimension (>= M when ``exact_teacher``).
    seed : int
        Seed of the random stream (``numpy.random.default_rng``).
    scale : float
        Standard deviation of ``J_il`` times ``sqrt(N)``, in (0, 1e100].
    exact_teacher : bool
        Whether the teacher realises ``model.T`` exactly.

    Returns
    -------
    Weights
        ``(J, B)``: the student's weights ``J`` (K, N) and the teacher's ``B`` (M, N).

    Raises
    ------
    ValueError
        If ``N``, ``seed`` or ``scale`` is out of range.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`, or for ``exact_T=`` (now ``exact_teacher=``).

    Examples
    --------
    >>> import numpy as np
    >>> import symphase
    >>> J, B = symphase.random_weights(symphase.Committee(2, 3), N=50, seed=1)
    >>> J.shape, B.shape, bool(np.allclose(B @ B.T, np.eye(3)))
    ((2, 50), (3, 50), True)
    """
    model = check_model(model)
    N = check_int("N", N, minimum=model.M if exact_teacher else 1)
    scale = check_scale(scale)
    rng = np.random.default_rng(check_seed("seed", seed))
    B = teacher_weights(model, N, rng, exact_teacher=exact_teacher)
    J = scale * rng.standard_normal((model.K, N)) / np.sqrt(N)
    return Weights(J, B)


def overlaps(J, B):
    """The order parameters of weights: ``Q = J J^T``, ``R = J B^T``, ``T = B B^T`` (docs/model.md §3.1).

    Parameters
    ----------
    J : array_like (K, N)
        Student weights.
    B : array_like (M, N)
        Teacher weights.

    Returns
    -------
    Overlaps
        ``(Q, R, T)``: the student-student overlaps ``Q = J J^T`` (K, K), student-teacher
        ``R = J B^T`` (K, M) and teacher-teacher ``T = B B^T`` (M, M).

    Examples
    --------
    >>> import numpy as np
    >>> import symphase
    >>> Q, R, T = symphase.overlaps(np.array([[1.0, 0.0], [1.0, 1.0]]), np.eye(2))
    >>> Q.tolist(), R.tolist()
    ([[1.0, 1.0], [1.0, 2.0]], [[1.0, 0.0], [1.0, 1.0]])
    """
    J, B = np.asarray(J, dtype=float), np.asarray(B, dtype=float)
    return Overlaps(J @ J.T, J @ B.T, B @ B.T)


def random_initial(model, N: int = 1000, seed: int = 0, *, scale: float = 1.0) -> State:
    """Seeded initial overlaps ``State(Q0, R0, g0)`` of random weights (docs/model.md §1.5).

    The overlaps of :func:`random_weights`: what a network with ``N`` inputs
    starts from, ``Q0_ii = scale^2 (1 + O(N^(-1/2)))`` and ``Q0_ik``, ``R0_in ~ N^(-1/2)``,
    the initial asymmetry that sets the plateau length (docs/model.md §5.1).

    Parameters
    ----------
    model : Committee
        The model.
    N : int
        Input dimension (>= M).
    seed : int
        Seed of the random stream; the same seed gives the same start everywhere
        (CLI, simulator, figures).
    scale : float
        Scale of the student weights, in (0, 1e100].

    Returns
    -------
    State
        ``(Q, R, g, v)``, a start as it is (``integrate(..., start=random_initial(model, N))``):
        ``Q`` (K, K) and ``R`` (K, M) the initial overlaps, ``g`` (K,) ones under BN (else None),
        ``v`` None (the second layer's default, ones).

    Raises
    ------
    ValueError
        If ``N``, ``seed`` or ``scale`` is out of range.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> import symphase
    >>> start = symphase.random_initial(symphase.Committee(2, 2, bn="paper"), N=1000, seed=0)
    >>> start.Q.shape, start.R.shape, start.g.tolist(), start.v
    ((2, 2), (2, 2), [1.0, 1.0], None)
    """
    J, B = random_weights(model, N, seed, scale=scale)
    Q, R, _ = overlaps(J, B)
    g = np.ones(model.K) if model.has_bn else None
    return State(Q, R, g)


def near_fixed_point(fp, N: int, seed: int = 0, *, scale: float = 1.0) -> State:
    """Seeded overlaps ``State(Q0, R0, g0)`` near a fixed point, with the asymmetry of a random start.

    On the fixed point ``fp`` (e.g. :func:`symphase.symmetric_fixed_point`) plus a
    random asymmetry of the size a random start leaves, ``O(scale/sqrt(N))``
    (docs/model.md §5.5: the plateau's length ``~ ln(N)/(2 lambda)``).

    They are the overlaps of ``J_i = J*_i + (scale/sqrt(N)) (z_i . U + w_i . V)``:
    ``J*`` realises ``fp``, ``U`` the teacher's orthonormal directions
    (``B = L U``, ``L L^T = T``), ``V`` K further orthonormal directions, and
    ``z`` (K, M), ``w`` (K, K) standard normal from ``seed``. Hence
    ``R0 = R* + scale z L^T / sqrt(N)`` and
    ``Q0 = Q* + scale (c z^T + z c^T)/sqrt(N) + scale^2 (z z^T + w w^T)/N`` with
    ``R* = c L^T``. The same seed gives the same ``z``, ``w`` for every ``N``,
    so escape times at different ``N`` can be compared seed by seed.

    Parameters
    ----------
    fp : FixedPoint
        The fixed point (anything with ``model``, ``Q``, ``R`` and ``g``).
    N : int
        Input dimension (>= K + M).
    seed : int
        Seed of ``z`` and ``w``.
    scale : float
        Size of the asymmetry times ``sqrt(N)``, in (0, 1e100].

    Returns
    -------
    State
        ``(Q, R, g, v)``, a start as it is: ``Q`` (K, K) and ``R`` (K, M) the overlaps, ``g``
        (K,) the fixed point's gains (None for plain), ``v`` None (ones).

    Raises
    ------
    TypeError
        If ``fp`` is not a fixed point.
    ValueError
        If ``N``, ``seed`` or ``scale`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> import symphase
    >>> fp = symphase.symmetric_fixed_point(symphase.Committee(2, 2))
    >>> start = symphase.near_fixed_point(fp, N=10_000, seed=0)
    >>> bool(np.abs(start.R - fp.R).max() < 0.05)         # O(1/sqrt(N)) from the plateau
    True
    """
    for name in ("model", "Q", "R"):
        if not hasattr(fp, name):
            raise TypeError(f"fp must be a fixed point (with model, Q, R), got {type(fp).__name__}")
    model = check_model(fp.model)
    N = check_int("N", N, minimum=model.K + model.M)
    scale = check_scale(scale)
    K, M = model.K, model.M
    rng = np.random.default_rng(check_seed("seed", seed))
    z = rng.standard_normal((K, M))
    w = rng.standard_normal((K, K))
    L = psd_factor(model.T)
    Qs, Rs = np.asarray(fp.Q, dtype=float), np.asarray(fp.R, dtype=float)
    c = Rs @ np.linalg.pinv(L.T)
    a = scale / np.sqrt(N)
    R = Rs + a * z @ L.T
    Q = Qs + a * (c @ z.T + z @ c.T) + a * a * (z @ z.T + w @ w.T)
    Q = 0.5 * (Q + Q.T)
    g = None if getattr(fp, "g", None) is None else np.array(fp.g, dtype=float)
    return State(Q, R, g)
