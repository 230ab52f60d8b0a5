"""Seeded random weights and the overlaps they realise (docs/model.md §1).

The paper's initialization: student ``J_il ~ N(0, 1/N)``; teacher
``B_nl ~ N(0, 1/N)``, or (default here) orthonormalized so that
``T = B B^T`` equals the model's ``T`` exactly. Used by the CLI, the
simulator and the figures, so the same seed gives the same start everywhere.
"""
from __future__ import annotations

import numpy as np

from ._model import check_model
from ._validate import check_int, check_real, check_seed


def psd_factor(G) -> np.ndarray:
    """``L`` with ``L L^T = G`` for a positive semi-definite ``G`` (rounding negatives clipped; may be singular)."""
    w, V = np.linalg.eigh(G)
    return V * np.sqrt(np.clip(w, 0.0, None))


#: Largest ``scale`` of random student weights: the overlaps (``~ scale^2``) stay finite.
SCALE_MAX = 1e100


def check_scale(scale) -> float:
    """``scale`` in ``(0, SCALE_MAX]``, else ``ValueError``."""
    scale = check_real("scale", scale, positive=True)
    if scale > SCALE_MAX:
        raise ValueError(f"scale must be a real number in (0, {SCALE_MAX:g}] (the overlaps ~ scale^2 must stay "
                         f"finite), got {scale!r}")
    return scale


def teacher_weights(model, N: int, rng: np.random.Generator, *, exact_T: bool = True) -> np.ndarray:
    """Teacher ``B`` (M, N): ``B B^T = T`` exactly (``exact_T``) or ``B_nl ~ N(0, 1/N)``."""
    if not exact_T:
        return rng.standard_normal((model.M, N)) / np.sqrt(N)
    U = np.linalg.qr(rng.standard_normal((N, model.M)))[0].T  # orthonormal rows
    return psd_factor(model.T) @ U


def random_weights(model, N: int = 1000, seed: int = 0, *, scale: float = 1.0, exact_T: bool = True):
    """Seeded ``(J, B)``: student ``J_il ~ N(0, scale^2/N)`` (K, N), teacher ``B`` (M, N).

    ``N`` must be at least ``M`` when ``exact_T``.
    """
    model = check_model(model)
    N = check_int("N", N, minimum=model.M if exact_T else 1)
    scale = check_scale(scale)
    rng = np.random.default_rng(check_seed("seed", seed))
    B = teacher_weights(model, N, rng, exact_T=exact_T)
    J = scale * rng.standard_normal((model.K, N)) / np.sqrt(N)
    return J, B


def overlaps(J, B):
    """``(Q, R, T) = (J J^T, J B^T, B B^T)``, the order parameters of weights ``J``, ``B``."""
    J, B = np.asarray(J, dtype=float), np.asarray(B, dtype=float)
    return J @ J.T, J @ B.T, B @ B.T


def random_initial(model, N: int = 1000, seed: int = 0, *, scale: float = 1.0):
    """Seeded initial overlaps ``(Q0, R0, g0)`` of random weights (``g0`` ones under BN, else None).

    This is what a network with ``N`` inputs starts from: ``R0 ~ N^(-1/2)``,
    the initial asymmetry that sets the plateau length.
    """
    J, B = random_weights(model, N, seed, scale=scale)
    Q, R, _ = overlaps(J, B)
    g = np.ones(model.K) if model.has_bn else None
    return Q, R, g


def near_fixed_point(fp, N: int, seed: int = 0, *, scale: float = 1.0):
    """Seeded overlaps ``(Q0, R0, g0)`` on a fixed point ``fp`` (e.g.
    :func:`symphase.symmetric_fixed_point`) with a random asymmetry of the size
    a random start leaves, ``O(scale/sqrt(N))`` (docs/model.md §5: the plateau's
    length ``~ ln(N)/(2 lambda)``).

    They are the overlaps of ``J_i = J*_i + (scale/sqrt(N)) (z_i . U + w_i . V)``:
    ``J*`` realises ``fp``, ``U`` the teacher's orthonormal directions
    (``B = L U``, ``L L^T = T``), ``V`` K further orthonormal directions, and
    ``z`` (K, M), ``w`` (K, K) standard normal from ``seed``. Hence
    ``R0 = R* + scale z L^T / sqrt(N)`` and
    ``Q0 = Q* + scale (c z^T + z c^T)/sqrt(N) + scale^2 (z z^T + w w^T)/N`` with
    ``R* = c L^T``. The same seed gives the same ``z``, ``w`` for every ``N``,
    so escape times at different ``N`` can be compared seed by seed.
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
    return Q, R, g
