# Template of symphase/_generated/symmetric.py (real Python; read, never run, by  # template-only
# `python -m derivations.symmetric`, which replaces every GENERATED.<name>(<args>) by code  # template-only
# printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""Reduced ODEs, generalization error and the paper's Hessian on the symmetric
subspace Q_ii = Q, Q_ik = C, R_ii = R, R_in = S, g_i = g (K = M, T = I), for any K
(a run-time argument). NumPy on scalars or arrays, real or complex.
"""
from derivations.templates import GENERATED  # template-only

GENERATED.imports()


def rates(Q, C, R, S, g, h, K, rule, second):
    """Reduced rates d/dalpha of (Q, C, R, S, g) = wd + eta * lin + eta^2/b * quad, of v = eta2 * lin_v + wd_v.

    h: 1 (plain) or g/sqrt(tau Q) (BN); pass g = 1 for plain. ``rule = (tau, noise, e, lg)``: the input
    and output-noise variances, e = 1 exact BN rule, lg = 1 learned gain. ``second = (v, c, a, lam)``:
    the second layer (docs/model.md §13), students' weight v, scale c, teachers' output weight a,
    weight decay lam; the committee machine is v = c = a = 1, lam = 0. Returns (lin_Q, lin_C, lin_R,
    lin_S, lin_g, lin_v, quad_Q, quad_C, wd_Q, wd_C, wd_R, wd_S, wd_g, wd_v).

    GENERATED.doc_rates()
    """
    tau, noise, e, lg = rule
    v, c, a, lam = second
    lin_Q, lin_C, lin_R, lin_S, lin_g, lin_v, quad_Q, quad_C, wd_Q, wd_C, wd_R, wd_S, wd_g, wd_v = GENERATED.rates(Q, C, R, S, g, v, h, K, tau, noise, e, lg, c, a, lam)
    return lin_Q, lin_C, lin_R, lin_S, lin_g, lin_v, quad_Q, quad_C, wd_Q, wd_C, wd_R, wd_S, wd_g, wd_v


def generalization_error(Q, C, R, S, h, K, tau):
    """eps_g on the symmetric subspace (the paper's Eq. 13), h = 1 (plain) or g/sqrt(tau Q) (BN).

    GENERATED.doc_generalization_error()
    """
    eg = GENERATED.generalization_error(Q, C, R, S, h, K, tau)
    return eg


def gradient_plain(R, S, Q, K, tau):
    """d eps_g / d(R, S, Q) with C = Q substituted (plain).

    GENERATED.doc_gradient_plain()
    """
    d0, d1, d2 = GENERATED.gradient_plain(R, S, Q, K, tau)
    return d0, d1, d2


def hessian_plain(R, S, Q, K, tau):
    """d^2 eps_g / d(R, S, Q)^2 with C = Q substituted before differentiating (plain; the paper's Hessian).

    GENERATED.doc_hessian_plain()
    """
    h00, h01, h02, h11, h12, h22 = GENERATED.hessian_plain(R, S, Q, K, tau)
    return ((h00, h01, h02), (h01, h11, h12), (h02, h12, h22))


def gradient_bn(R, S, Q, g, K, tau):
    """d eps_g / d(R, S, Q, g) with C = Q substituted (bn).

    GENERATED.doc_gradient_bn()
    """
    d0, d1, d2, d3 = GENERATED.gradient_bn(R, S, Q, g, K, tau)
    return d0, d1, d2, d3


def hessian_bn(R, S, Q, g, K, tau):
    """d^2 eps_g / d(R, S, Q, g)^2 with C = Q substituted before differentiating (bn; the paper's Hessian).

    GENERATED.doc_hessian_bn()
    """
    h00, h01, h02, h03, h11, h12, h13, h22, h23, h33 = GENERATED.hessian_bn(R, S, Q, g, K, tau)
    return ((h00, h01, h02, h03), (h01, h11, h12, h13), (h02, h12, h22, h23), (h03, h13, h23, h33))
