"""Validation of one state of the order parameters (docs/model.md §3.1-3.2).

Shared by the model and its compiled system (:mod:`symphase._model`); it
reads the model's sizes, rule and ``T`` only, so it sits below them.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_array


def min_gram_eigenvalue(Q, R, T) -> float:
    """Smallest eigenvalue of the joint Gram matrix ``[[Q, R], [R^T, T]]``, relative to its scale.

    A state is realisable by real weight vectors iff this is >= 0 (up to rounding;
    docs/model.md §3.1).

    Parameters
    ----------
    Q : ndarray (K, K)
        Student-student overlaps.
    R : ndarray (K, M)
        Student-teacher overlaps.
    T : ndarray (M, M)
        Teacher-teacher overlaps.

    Returns
    -------
    float
        The smallest eigenvalue divided by ``max(1, max |diag G|)``.
    """
    G = np.block([[Q, R], [R.T, T]])
    scale = max(1.0, float(np.max(np.abs(np.diag(G)))))
    return float(np.linalg.eigvalsh(G)[0]) / scale


def check_state(model, Q, R, g=None, *, names=("Q", "R", "g")) -> tuple:
    """Validate one state of the order parameters (docs/model.md §3.1-3.2).

    ``Q`` must be symmetric and, with ``R`` and ``T``, form a positive
    semi-definite Gram matrix; under BN ``Q_ii > 0``, ``g_i != 0`` and the
    effective overlaps ``g_i g_k Q_ik/sqrt(Q_ii Q_kk)``, ``g_i R_in/sqrt(tau Q_ii)``
    must be finite.

    Parameters
    ----------
    model : Committee
        The model whose state this is.
    Q : array_like (K, K)
        Student-student overlaps ``Q_ik = J_i.J_k``.
    R : array_like (K, M)
        Student-teacher overlaps ``R_in = J_i.B_n``.
    g : array_like (K,), optional
        BN gains (default: ones under BN); must be None for the plain network.
    names : tuple of str
        The names of ``Q``, ``R``, ``g`` in error messages (e.g. ``("Q0", "R0", "g0")``).

    Returns
    -------
    tuple
        Float arrays ``(Q, R, g)``: ``Q`` symmetrized, ``g`` None for plain.

    Raises
    ------
    ValueError
        Naming the offending argument, for a wrong shape, a non-finite value, an
        asymmetric ``Q``, a state that is no Gram matrix, or (BN) ``Q_ii <= 0``,
        ``g_i = 0`` or overflowing effective overlaps; also for ``g`` given to a
        plain model.
    """
    K, M = model.K, model.M
    nQ, nR, ng = names
    Q = check_array(nQ, Q, (K, K))
    R = check_array(nR, R, (K, M))
    scale = max(1.0, float(np.abs(Q).max()))
    if not np.allclose(Q, Q.T, rtol=0, atol=1e-12 * scale):
        raise ValueError(f"{nQ} must be symmetric (Q_ik = Q_ki), got {Q.tolist()}")
    Q = 0.5 * (Q + Q.T)
    if min_gram_eigenvalue(Q, R, model.T) < -1e-10:
        raise ValueError(
            f"{nQ}, {nR} must form a positive semi-definite Gram matrix [[Q, R], [R^T, T]] "
            f"(overlaps of real weight vectors); smallest eigenvalue "
            f"{np.linalg.eigvalsh(np.block([[Q, R], [R.T, model.T]]))[0]:.3g}")
    if not model.has_bn:
        if g is not None:
            raise ValueError(f"{ng} is only meaningful for a batch-norm model (bn='paper' or 'exact'); got {ng}={g!r}")
        return Q, R, None
    if np.any(np.diag(Q) <= 0):
        raise ValueError(f"{nQ}: batch norm needs Q_ii > 0 (it divides by sqrt(Q_ii)); got diag {np.diag(Q).tolist()}")
    g = np.ones(K) if g is None else check_array(ng, g, (K,))
    if np.any(g == 0):
        raise ValueError(f"{ng}: batch-norm gains must be non-zero (g_i != 0); got {g.tolist()}")
    with np.errstate(all="ignore"):
        h = g / np.sqrt(model.tau * np.diag(Q))
        eff = np.concatenate([(model.tau * h[:, None] * h[None, :] * Q).ravel(), (model.tau * h[:, None] * R).ravel()])
    if not np.all(np.isfinite(eff)):
        raise ValueError(f"{ng}, {nQ}: the effective overlaps g_i g_k Q_ik/sqrt(Q_ii Q_kk), g_i R_in/sqrt(tau Q_ii) "
                         f"(docs/model.md §3) overflow; |g_i| must be small enough for them to be finite, "
                         f"got g={g.tolist()}")
    return Q, R, g


def check_v(model, v, name: str = "v0") -> np.ndarray:
    """The student's second layer ``v`` (K finite numbers; default ones), else ``ValueError`` naming it."""
    if v is None:
        return np.ones(model.K)
    return check_array(name, v, (model.K,))
