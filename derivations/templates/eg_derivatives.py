# Template of symphase/_generated/eg_derivatives.py (real Python; read, never run, by  # template-only
# `python -m derivations.eg_derivatives`, which replaces every GENERATED.<name>(<args>) by  # template-only
# code printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""Gradient of eps_g with respect to the field covariance C (generated).

Generic in the float type (float64, or complex128 for complex-step derivatives).
"""
import numba
import numpy

from derivations.templates import GENERATED  # template-only


@numba.njit(**GENERATED.njit_options)
def generalization_error_gradient(C, w, out):
    """out[p, q] = d eps_g / d C[p, q], eps_g = (1/pi) sum_pq w_p w_q asin(C_pq/sqrt((1+C_pp)(1+C_qq))).

    Ordered entries: C_pq and C_qp count separately (docs/model.md §3, the paper's Eq. 13).

    GENERATED.doc_generalization_error_gradient()
    """
    NF = C.shape[0]
    for p in range(NF):
        for q in range(NF):
            out[p, q] = 0.0 * C[0, 0]
    for p in range(NF):
        cpp = C[p, p]
        gd = GENERATED.diagonal(cpp)
        out[p, p] += w[p] * w[p] * gd / numpy.pi
        for q in range(NF):
            if q == p:
                continue
            cqq = C[q, q]
            cpq = C[p, q]
            gc, ga = GENERATED.off_diagonal(cpp, cqq, cpq)
            out[p, q] += w[p] * w[q] * gc / numpy.pi
            out[p, p] += 2.0 * w[p] * w[q] * ga / numpy.pi
