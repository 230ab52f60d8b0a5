"""The weight space of a fixed point: the gradient and Hessian of eps_g in the weights (docs/model.md §5).

``eps_g`` depends on the weights only through the overlaps, so any ``N >= K + M``
realises a state (:func:`realise`). The gradient is the SymPy-derived
``d eps_g/dC`` (``symphase/_generated/eg_derivatives.py``) chained to the
weights; the Hessian is its complex-step derivative
(:attr:`symphase.FixedPoint.weight_hessian`).
"""
from __future__ import annotations

import numpy as np

from ._generated import eg_derivatives as egd
from ._generated import ode_kernels as gen


def weight_gradient(model, J, g, B, v=None):
    """The gradient of ``eps_g`` in the weights: ``(d eps_g/dJ, d eps_g/dg, d eps_g/dv)`` (docs/model.md §5.2, §13).

    Chain rule through ``C = tau [[h Q h, h R], [R^T h, T]]``, ``Q = J J^T``,
    ``R = J B^T``, ``h = g/sqrt(tau Q_ii)`` (BN) or 1 (docs/model.md §3.2), from the
    SymPy-derived ``d eps_g/dC`` (derivations/eg_derivatives.py). Generic in
    dtype (complex for complex-step differentiation).

    Parameters
    ----------
    model : Committee
        The model (its ``tau`` and rule).
    J : ndarray (K, N)
        Student weights.
    g : ndarray (K,) or None
        BN gains; ignored for plain.
    B : ndarray (M, N)
        Teacher weights.
    v : ndarray (K,), optional
        The student's second layer (default ones).

    Returns
    -------
    dJ : ndarray (K, N)
        ``d eps_g/dJ``.
    dg : ndarray (K,) or None
        ``d eps_g/dg`` under BN, else None.
    dv : ndarray (K,)
        ``d eps_g/dv_a = -c sum_q w_q I2(a, q)`` (``eps_g = 1/2 sum_pq w_p w_q I2(p, q)``,
        ``w = (-c v, c_M v*)``).
    """
    K, M, tau = model.K, model.M, model.tau
    Q = J @ J.T
    R = J @ B.T
    T = B @ B.T
    v = np.ones(K) if v is None else v
    dt = np.result_type(J, g, v)
    if not model.has_bn:
        h = np.ones(K, dtype=dt)
    else:
        h = g / np.sqrt(tau * np.diag(Q))
    C = np.empty((K + M, K + M), dtype=dt)
    C[:K, :K] = tau * h[:, None] * h[None, :] * Q
    C[:K, K:] = tau * h[:, None] * R
    C[K:, :K] = C[:K, K:].T
    C[K:, K:] = tau * T
    w = np.concatenate([-model.scale * v, model.teacher_scale * np.asarray(model.v_teacher)]).astype(dt)
    Gm = np.empty_like(C)
    egd.generalization_error_gradient(C, w, Gm)
    Gss, Gst = Gm[:K, :K], Gm[:K, K:]
    GQ = tau * h[:, None] * h[None, :] * Gss          # d eps/dQ_ac (ordered entries)
    GR = 2.0 * tau * h[:, None] * Gst                  # d eps/dR_an
    gg = None
    if model.has_bn:
        gh = 2.0 * tau * ((Gss * Q * h[None, :]).sum(axis=1) + (Gst * R).sum(axis=1))  # d eps/dh_a
        GQ = GQ + np.diag(-gh * h / (2.0 * np.diag(Q)))
        gg = gh * h / g
    dJ = (GQ + GQ.T) @ J + GR @ B
    # F_a = sum_q w_q I2(a, q) = <Delta phi(u_a)>: the generated field sum of the second layer's rate
    F = np.empty(K, dtype=dt)
    gen.output_sums(C, w, K, F, np.empty(K + M, dtype=dt))
    dv = -model.scale * F
    return dJ, gg, dv


def realise(Q, R):
    """Weights that realise the overlaps ``(Q, R)`` with ``T = I`` and ``N = K + M`` (docs/model.md §5.2).

    ``J = [sqrt(Q - R R^T) | R]``, ``B = [0 | I_M]``; eigenvalues of ``Q - R R^T`` at
    rounding level are set to 0 (coinciding students).

    Parameters
    ----------
    Q : ndarray (K, K)
        Student-student overlaps.
    R : ndarray (K, M)
        Student-teacher overlaps; ``[[Q, R], [R^T, I]]`` must be positive semi-definite.

    Returns
    -------
    J : ndarray (K, K + M)
        ``J J^T = Q``, ``J B^T = R``.
    B : ndarray (M, K + M)
        ``[0 | I_M]``.
    """
    K, M = R.shape
    lam, V = np.linalg.eigh(Q - R @ R.T)
    # eigenvalues that are zero up to rounding (coinciding students) are set to 0: their
    # square roots (~1e-8) would otherwise split the Hessian's zero modes at O(1e-8)
    lam[lam < 1e-13 * max(1.0, float(np.max(np.abs(Q))))] = 0.0
    A = V * np.sqrt(lam)
    J = np.hstack([A, R])
    B = np.hstack([np.zeros((M, K)), np.eye(M)])
    return J, B
