"""The simulator's initial weights: random, given, or realising given overlaps (docs/model.md §1)."""
from __future__ import annotations

import numpy as np

from ._initial import psd_factor, teacher_weights
from ._model import check_state
from ._state import Weights, as_state, old_forms
from ._validate import check_int

#: Tolerance of B B^T = T for a given teacher: rounding of a product of N-vectors, with a wide margin.
B_TOL = 1e-8

def _refuse_split_overlaps(args, kwargs):
    if len(args) >= 5 or {"Q", "R"} & set(kwargs):
        raise TypeError("weights_from_overlaps(model, N, Q, R, seed) is now weights_from_overlaps(model, (Q, R), N, "
                        "seed): the state is one argument, after the model")


@old_forms(_refuse_split_overlaps)
def weights_from_overlaps(model, state, N: int, seed: int) -> Weights:
    """Weights ``(J, B)`` that realise given overlaps exactly, in a seeded random orientation.

    ``W = L U`` with ``L`` a square root of the joint Gram matrix
    ``G = [[T, R^T], [R, Q]]`` (``L L^T = G``, :func:`symphase._initial.psd_factor`)
    and ``U`` (K + M, N) orthonormal rows (QR of a Gaussian matrix), so
    ``W W^T = G``: ``B B^T = T``, ``J J^T = Q``, ``J B^T = R`` to rounding
    (docs/model.md §1: the overlaps are all the theory sees of the weights).

    Parameters
    ----------
    model : Committee
        Gives ``K``, ``M`` and ``T``.
    state : State, tuple (Q, R[, g[, v]]) or FixedPoint
        ``Q`` (K, K), ``R`` (K, M): with ``T``, a positive semi-definite Gram matrix
        (validated by the caller, e.g. :func:`symphase.simulate`); ``g`` and ``v`` are not
        weights of the first layer and are not used.
    N : int
        Input dimension, ``>= K + M`` (room for ``K + M`` orthonormal directions).
    seed : int
        Seed of the orientation ``U``.

    Returns
    -------
    Weights
        ``(J, B)``: ``J`` (K, N), ``B`` (M, N).

    Raises
    ------
    ValueError
        ``N < K + M``.

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> Q, R = np.array([[1.0, 0.2], [0.2, 0.5]]), np.array([[0.3, 0.0], [0.1, 0.2]])
    >>> J, B = symphase.weights_from_overlaps(model, (Q, R), 50, seed=0)
    >>> bool(np.allclose(J @ J.T, Q) and np.allclose(J @ B.T, R) and np.allclose(B @ B.T, np.eye(2)))
    True
    """
    Q, R = as_state(state, "state")[:2]
    K, M = model.K, model.M
    if N < K + M:
        raise ValueError(f"N must be an integer >= K + M = {K + M} to realise given overlaps, got {N}")
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, K + M)))[0].T  # K+M orthonormal rows
    G = np.block([[model.T, np.asarray(R).T], [np.asarray(R), np.asarray(Q)]])
    W = psd_factor(G) @ U
    return Weights(W[M:], W[:M])


def check_init(model, N, init, exact_teacher=True):
    """Normalise ``init`` to a dict with some of the keys J, B, Q, R, g (validated, shared by all seeds)."""
    if init is None:
        return None
    if isinstance(init, (tuple, list)):
        if len(init) not in (2, 3):
            raise ValueError(f"start must be None, a mapping, or a tuple (Q, R) / (Q, R, g) of overlaps; "
                             f"got a sequence of length {len(init)}")
        init = dict(zip(("Q", "R", "g"), init))
    elif not hasattr(init, "keys"):
        raise ValueError(f"start must be None, a mapping or a tuple (Q, R[, g]); got {type(init).__name__}")
    init = {k: v for k, v in dict(init).items() if v is not None}
    unknown = set(init) - {"J", "B", "Q", "R", "g"}
    if unknown:
        raise ValueError(f"start: unknown keys {sorted(unknown)} (allowed: J, B, Q, R, g, v)")
    K, M = model.K, model.M
    out = {}
    if "g" in init:
        if not model.has_bn:
            raise ValueError("start: 'g' is only meaningful for a batch-norm model (bn='paper' or 'exact')")
        g = np.array(init["g"], dtype=float)
        if g.shape != (K,) or not np.all(np.isfinite(g)) or np.any(g == 0):
            raise ValueError(f"start: 'g' must be K={K} finite non-zero gains, got {init['g']!r}")
        out["g"] = g
    if "J" in init:
        if "Q" in init or "R" in init:
            raise ValueError("start: give either weights ('J', optionally 'B') or overlaps ('Q', 'R'), not both")
        J = np.array(init["J"], dtype=float)
        if J.shape != (K, N):
            raise ValueError(f"start: 'J' must be a finite array of shape (K, N) = ({K}, {N}), got shape {J.shape}")
        if not np.all(np.isfinite(J)):
            raise ValueError(f"start: 'J' must be finite, got {int(np.sum(~np.isfinite(J)))} non-finite entries "
                             f"(NaN or inf)")
        if model.has_bn and np.any(np.sum(J * J, axis=1) == 0):
            raise ValueError("start: 'J' rows must be non-zero under batch norm (it divides by |J_i|)")
        out["J"] = J
        if "B" in init:
            B = np.array(init["B"], dtype=float)
            if B.shape != (M, N):
                raise ValueError(f"start: 'B' must be a finite array of shape (M, N) = ({M}, {N}), got shape {B.shape}")
            if not np.all(np.isfinite(B)):
                raise ValueError(f"start: 'B' must be finite, got {int(np.sum(~np.isfinite(B)))} non-finite entries "
                                 f"(NaN or inf)")
            dev = float(np.max(np.abs(B @ B.T - model.T)))
            if exact_teacher and dev > B_TOL * max(1.0, float(np.max(np.abs(model.T)))):
                raise ValueError(f"start: 'B' must realise the model's teacher overlaps, B B^T = model.T within "
                                 f"{B_TOL:g} (relative), got max |B B^T - T| = {dev:.3g}; build the model with "
                                 f"T=B @ B.T to use this teacher, or exact_teacher=False to use it as it is")
            out["B"] = B
        return out
    if "B" in init:
        raise ValueError("start: 'B' needs 'J' (give both weights, or overlaps 'Q' and 'R')")
    if "Q" in init or "R" in init:
        if "Q" not in init or "R" not in init:
            raise ValueError("start: overlaps need both 'Q' and 'R'")
        Q, R, _ = check_state(model, init["Q"], init["R"], out.get("g"), names=("start.Q", "start.R", "start.g"))
        if N < K + M:
            raise ValueError(f"N must be an integer >= K + M = {K + M} to realise given overlaps, got {N}")
        out["Q"], out["R"] = Q, R
        return out
    if out:
        return out  # only g: random weights with these gains
    raise ValueError("start: give 'J' (and optionally 'B'), or 'Q' and 'R' (and optionally 'g')")


def initial_weights(model, N, seed, init, exact_teacher):
    """``(J, B, g)`` for one seed: random (docs/model.md §1: ``J_il ~ N(0, 1/N)``) or from ``init``."""
    g = np.ones(model.K)
    if init is not None and "g" in init:
        g = init["g"].copy()
    rng = np.random.default_rng(seed)  # same draws as symphase.initial.random_weights
    if init is not None and "Q" in init:
        J, B = weights_from_overlaps(model, (init["Q"], init["R"]), N, seed)
        return J, B, g
    if init is not None and "J" in init:
        B = init["B"] if "B" in init else teacher_weights(model, N, rng, exact_teacher=exact_teacher)
        return init["J"], B, g
    B = teacher_weights(model, N, rng, exact_teacher=exact_teacher)
    J = rng.standard_normal((model.K, N)) / np.sqrt(N)
    return J, B, g


def check_seeds(seeds) -> np.ndarray:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return np.arange(check_int("seeds", seeds, minimum=1))
    try:
        seed_list = np.array([int(s) for s in seeds], dtype=np.int64)
        if any(isinstance(s, bool) or int(s) != s for s in seeds):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"seeds must be an integer >= 1 or a sequence of integer seeds >= 0, got {seeds!r}") from None
    if seed_list.size == 0 or np.any(seed_list < 0) or len(set(seed_list.tolist())) != seed_list.size:
        raise ValueError(f"seeds must be an integer >= 1 or a non-empty sequence of distinct integer seeds >= 0, "
                         f"got {seeds!r}")
    return seed_list
