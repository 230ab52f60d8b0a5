# Template of symphase/_generated/diffusion.py (real Python; read, never run, by  # template-only
# `python -m derivations.diffusion`, which replaces every GENERATED.<name>(<args>) by  # template-only
# code printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""The closed form of the diffusion matrix's O(eta^2) part (generated).

``field_moments`` gives ``M4[a, b, c, e] = <Delta^2 phi'(f_a) phi'(f_b) f_c f_e>`` over the
effective fields ``f`` (covariance ``C``; ``w`` their weights in ``Delta``, ``noise`` the output
noise variance) by absorbing ``phi'_a phi'_b`` into the Gaussian, Stein's lemma twice and
Price's theorem (docs/model.md §12); the ``psi*_lin`` functions give the coefficients of the
monomials ``d_a z_c`` in the per-example rates' ``O(eta)`` parts.
"""
import numba
import numpy

from derivations.templates import GENERATED  # template-only


@numba.njit(**GENERATED.njit_options)
def absorb(caa, cab, cbb):
    """``(det(1 + C_SS), (2/pi) det(1 + C_SS)^(-1/2))`` for the absorbed fields ``S = {a, b}``.

    GENERATED.doc_absorb()
    """
    lam, pre = GENERATED.absorb(caa, cab, cbb)
    return lam, pre


@numba.njit(**GENERATED.njit_options)
def conditioned(caa, cab, cbb, cca, ccb, cae, cbe, cce, lam):
    """The entry ``C'_ce`` of the covariance after absorbing ``exp(-(f_a^2 + f_b^2)/2)``.

    GENERATED.doc_conditioned()
    """
    return GENERATED.conditioned(caa, cab, cbb, cca, ccb, cae, cbe, cce, lam)


@numba.njit(**GENERATED.njit_options)
def pair_forms(cpp, cpq, cqq):
    """``(I2, J2, K2(p, q), K2(q, p))`` of two fields with covariance ``[[cpp, cpq], [cpq, cqq]]``.

    GENERATED.doc_pair_forms()
    """
    i2, j2, k2pq, k2qp = GENERATED.pair_forms(cpp, cpq, cqq)
    return i2, j2, k2pq, k2qp


@numba.njit(cache=True, error_model="numpy")
def field_moments(C, w, K, noise, Cp, I2m, J2m, K2m, kv, B, M4):
    """``M4[a, b, c, e] = <Delta^2 phi'(f_a) phi'(f_b) f_c f_e>`` for students ``a, b < K`` and all
    fields ``c, e``; ``Cp``, ``I2m``, ``J2m``, ``K2m``, ``B`` (n, n) and ``kv`` (n,) are work arrays.

    ``<Delta^2 phi'_a phi'_b f_c f_e> = pre (C'_ce (sum_pq w_p w_q I2'_pq + noise)
    + 2 sum_p C'_cp C'_ep w_p sum_q w_q K2'_pq + 2 sum_pq C'_cp w_p J2'_pq w_q C'_qe)``, the primes on
    the conditioned covariance ``C'`` (derivations/diffusion.py).

    GENERATED.doc_field_moments()
    """
    n = C.shape[0]
    for a in range(K):
        for b in range(a, K):
            caa, cab, cbb = C[a, a], C[a, b], C[b, b]
            lam, pre = absorb(caa, cab, cbb)
            for c in range(n):
                for e in range(c, n):
                    Cp[c, e] = Cp[e, c] = conditioned(caa, cab, cbb, C[c, a], C[c, b], C[a, e], C[b, e], C[c, e],
                                                      lam)
            total = 0.0
            for p in range(n):
                for q in range(p, n):
                    i2, j2, k2pq, k2qp = pair_forms(Cp[p, p], Cp[p, q], Cp[q, q])
                    I2m[p, q] = I2m[q, p] = i2
                    J2m[p, q] = J2m[q, p] = j2
                    K2m[p, q] = k2pq
                    K2m[q, p] = k2qp
            for p in range(n):
                acc = 0.0
                for q in range(n):
                    total += w[p] * w[q] * I2m[p, q]
                    acc += w[q] * K2m[p, q]
                kv[p] = w[p] * acc
            for p in range(n):  # B = W J2' W C'
                for e in range(n):
                    acc = 0.0
                    for q in range(n):
                        acc += J2m[p, q] * w[q] * Cp[q, e]
                    B[p, e] = w[p] * acc
            for c in range(n):
                for e in range(c, n):
                    acc = Cp[c, e] * (total + noise)
                    for p in range(n):
                        acc += 2.0 * Cp[c, p] * (Cp[e, p] * kv[p] + B[p, e])
                    M4[a, b, c, e] = M4[a, b, e, c] = M4[b, a, c, e] = M4[b, a, e, c] = pre * acc


@numba.njit(**GENERATED.njit_options)
def psi_q_lin(h_i, h_k, Q_ik, Q_ii, Q_kk, e):
    """Coefficients of ``d_k x_i, d_i x_k, d_i x_i, d_k x_k`` in the ``O(eta)`` part of ``psi_Qik``.

    GENERATED.doc_psi_q_lin()
    """
    c0, c1, c2, c3 = GENERATED.psi_q_lin(Q_ii, Q_ik, Q_kk, e, h_i, h_k)
    return c0, c1, c2, c3


@numba.njit(**GENERATED.njit_options)
def psi_r_lin(h_i, R_in, Q_ii, e):
    """Coefficients of ``d_i y_n, d_i x_i`` in the ``O(eta)`` part of ``psi_Rin``.

    GENERATED.doc_psi_r_lin()
    """
    c0, c1 = GENERATED.psi_r_lin(Q_ii, R_in, e, h_i)
    return c0, c1


@numba.njit(**GENERATED.njit_options)
def psi_g_lin(h_i, g_i, lg):
    """Coefficient of ``d_i x_i`` in the ``O(eta)`` part of ``psi_gi``.

    GENERATED.doc_psi_g_lin()
    """
    c0 = GENERATED.psi_g_lin(g_i, h_i, lg)
    return c0
