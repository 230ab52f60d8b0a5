# Template of symphase/_generated/fluctuations.py (real Python; read, never run, by  # template-only
# `python -m derivations.fluctuations`, which replaces every GENERATED.<name>(<args>) by  # template-only
# code printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""The per-example rates of the order parameters (generated).

One example's contribution to ``d(Q_ik, R_in, g_i)/dalpha`` before the average over
the fields: their mean is the right-hand side of the ODEs, their covariance the
diffusion matrix (docs/model.md §12). ``x`` are the students' raw fields ``J . xi``,
``y_n = B_n . xi``, ``d_a = Delta phi'(u_a)``, ``u_a = h_a x_a``.
"""
import numba

from derivations.templates import GENERATED  # template-only


@numba.njit(**GENERATED.njit_options)
def psi_q(x_i, x_k, d_i, d_k, h_i, h_k, Q_ik, Q_ii, Q_kk, rc):
    """The per-example rate of ``Q_ik``; ``rc = (eta, tau, b, e)``: the learning rate, the input
    variance, the minibatch and the exact-rule switch.

    GENERATED.doc_psi_q()
    """
    eta, tau, b, e = rc
    v = GENERATED.psi_q(Q_ii, Q_ik, Q_kk, b, d_i, d_k, e, eta, h_i, h_k, tau, x_i, x_k)
    return v


@numba.njit(**GENERATED.njit_options)
def psi_r(x_i, y_n, d_i, h_i, R_in, Q_ii, eta, e):
    """The per-example rate of ``R_in``.

    GENERATED.doc_psi_r()
    """
    v = GENERATED.psi_r(Q_ii, R_in, d_i, e, eta, h_i, x_i, y_n)
    return v


@numba.njit(**GENERATED.njit_options)
def psi_g(x_i, d_i, h_i, g_i, eta, lg):
    """The per-example rate of the gain ``g_i`` (``lg = 1``: learned).

    GENERATED.doc_psi_g()
    """
    v = GENERATED.psi_g(d_i, eta, g_i, h_i, lg, x_i)
    return v
