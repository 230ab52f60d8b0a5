# Template of symphase/_generated/ode_kernels.py (real Python; read, never run, by  # template-only
# `python -m derivations.derive`, which replaces every GENERATED.<name>(<args>) by code  # template-only
# printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""Numeric kernels of the order-parameter ODEs (generated).

Fields are the students' activation arguments u_a (a < K) followed by the
teachers' y_n; C is their covariance, w their weight in Delta = t - s
(-c v_a for student a, c_T v*_n for teacher n; -1 and +1 in the committee
machine). phi is erf(u/sqrt 2), or the identity for the *_linear kernels. All functions write into preallocated arrays and are
generic in the float type (float64, or complex128 for complex-step derivatives).

Spec: docs/model.md §3 (order parameters and ODEs). Derivation: derivations/DERIVATION.md.
"""
import numba
import numpy

from derivations.templates import GENERATED  # template-only


@numba.njit(**GENERATED.njit_options)
def i2(C):
    """<phi(z1) phi(z2)> for z ~ N(0, C), C 2x2 (Saad & Solla 1995).

    GENERATED.doc_i2()
    """
    v = GENERATED.i2(C)
    return v


@numba.njit(**GENERATED.njit_options)
def i3(C):
    """<phi'(z1) z2 phi(z3)> for z ~ N(0, C), C 3x3 (Saad & Solla 1995).

    GENERATED.doc_i3()
    """
    v = GENERATED.i3(C)
    return v


@numba.njit(**GENERATED.njit_options)
def i4(C):
    """<phi'(z1) phi'(z2) phi(z3) phi(z4)> for z ~ N(0, C), C 4x4 (Saad & Solla 1995).

    GENERATED.doc_i4()
    """
    v = GENERATED.i4(C)
    return v


@numba.njit(**GENERATED.njit_options)
def j2(C):
    """<phi'(z1) phi'(z2)> for z ~ N(0, C), C 2x2 (Price's theorem on I2).

    GENERATED.doc_j2()
    """
    v = GENERATED.j2(C)
    return v


@numba.njit(**GENERATED.njit_options)
def scale_factors(Q, g, tau, bn, h):
    """h_a: 1 for plain; g_a / (sigma sqrt(Q_aa)) for batch norm (docs/model.md §1).

    GENERATED.doc_scale_factors()
    """
    for a in range(Q.shape[0]):
        if bn:
            ha = GENERATED.h_bn(g[a], Q[a, a], tau)
            h[a] = ha
        else:
            h[a] = 1.0


@numba.njit(**GENERATED.njit_options)
def effective_covariance(Q, R, T, h, tau, C):
    """Covariance of (u_1..u_K, y_1..y_M): C = sigma^2 [[hQh, hR], [R'h, T]] (docs/model.md §3).

    GENERATED.doc_effective_covariance()
    """
    K, M = R.shape
    for a in range(K):
        for c in range(a, K):
            C[a, c] = C[c, a] = GENERATED.cov_ss(Q[a, c], h[a], h[c], tau)
        for n in range(M):
            C[a, K + n] = C[K + n, a] = GENERATED.cov_st(R[a, n], h[a], tau)
    for n in range(M):
        for m in range(n, M):
            C[K + n, K + m] = C[K + m, K + n] = GENERATED.cov_tt(T[n, m], tau)


@numba.njit(**GENERATED.njit_options)
def field_sums(C, w, K, G, D, J2, P, Pc, A, B, r):
    """G[a, c] = sum_p w_p I3(a, c, p); D[a, c] = sum_pq w_p w_q I4(a, c, p, q); J2[a, c].

    a runs over the K students, c over all fields for G and over students for D.
    P, Pc, A, B, r are work arrays of length C.shape[0].

    GENERATED.doc_field_sums()
    """
    NF = C.shape[0]
    for a in range(K):
        caa = C[a, a]
        s = 0.0 * caa
        for p in range(NF):
            cap = C[a, p]
            cpp = C[p, p]
            Pp, Pcp = GENERATED.i3_split(caa, cap, cpp)
            P[p] = w[p] * Pp
            s += w[p] * Pcp
        for c in range(NF):
            acc = 0.0 * caa
            for p in range(NF):
                acc += C[c, p] * P[p]
            G[a, c] = acc - C[a, c] * s
    for a in range(K):
        caa = C[a, a]
        for c in range(a, K):
            cac = C[a, c]
            ccc = C[c, c]
            pref, lam4, j2 = GENERATED.i4_pair(caa, cac, ccc)
            J2[a, c] = J2[c, a] = j2
            for p in range(NF):
                cap = C[a, p]
                ccp = C[c, p]
                cpp = C[p, p]
                A[p], B[p], r[p] = GENERATED.i4_field(caa, cac, ccc, cap, ccp, cpp)
            acc = 0.0 * caa
            for p in range(NF):
                q = p
                accp = 0.5 * w[p] * numpy.arcsin(GENERATED.lambda0(lam4, A[p], B[p], C) * r[p] * r[q])
                for q in range(p + 1, NF):
                    accp += w[q] * numpy.arcsin(GENERATED.lambda0(lam4, A[p], B[p], C) * r[p] * r[q])
                acc += w[p] * accp
            D[a, c] = D[c, a] = 2.0 * pref * acc


@numba.njit(**GENERATED.njit_options)
def field_sums_linear(C, w, K, G, D, J2):
    """field_sums for phi(z) = z: G[a, c] = sum_p w_p I3(a, c, p), D[a, c] = sum_pq w_p w_q I4(a, c, p, q), J2.

    GENERATED.doc_field_sums_linear()
    """
    NF = C.shape[0]
    for a in range(K):
        for c in range(NF):
            acc = 0.0 * C[0, 0]
            for p in range(NF):
                acc += w[p] * GENERATED.i3_linear(C[c, p])
            G[a, c] = acc
    acc = 0.0 * C[0, 0]
    for p in range(NF):
        for q in range(NF):
            acc += w[p] * w[q] * GENERATED.i4_linear(C[p, q])
    for a in range(K):
        for c in range(a, K):
            D[a, c] = D[c, a] = acc
            J2[a, c] = J2[c, a] = GENERATED.j2_linear()


@numba.njit(**GENERATED.njit_options)
def output_sums(C, w, K, F, rho):
    """F[a] = sum_p w_p I2(a, p) = <Delta phi(u_a)>, the gradient of the second layer; rho is a work array.

    GENERATED.doc_output_sums()
    """
    NF = C.shape[0]
    for p in range(NF):
        rho[p] = GENERATED.rho(C[p, p])
    for a in range(K):
        acc = 0.0 * C[0, 0]
        for p in range(NF):
            acc += w[p] * numpy.arcsin(C[a, p] * rho[a] * rho[p])
        F[a] = 2.0 * acc / numpy.pi


@numba.njit(**GENERATED.njit_options)
def output_sums_linear(C, w, K, F):
    """output_sums for phi(z) = z: F[a] = sum_p w_p I2(a, p).

    GENERATED.doc_output_sums_linear()
    """
    NF = C.shape[0]
    for a in range(K):
        acc = 0.0 * C[0, 0]
        for p in range(NF):
            acc += w[p] * GENERATED.i2_linear(C[a, p])
        F[a] = acc


@numba.njit(**GENERATED.njit_options)
def generalization_error_linear(C, w):
    """eps_g = 1/2 sum_pq w_p w_q I2(p, q) for phi(z) = z.

    GENERATED.doc_generalization_error_linear()
    """
    NF = C.shape[0]
    acc = 0.0 * C[0, 0]
    for p in range(NF):
        for q in range(NF):
            acc += w[p] * w[q] * GENERATED.i2_linear_pq(C[p, q])
    return 0.5 * acc


@numba.njit(**GENERATED.njit_options)
def generalization_error_relu(C, w):
    """eps_g = 1/2 sum_pq w_p w_q I2(p, q) for phi(z) = max(z, 0) (the simulator's ReLU).

    GENERATED.doc_generalization_error_relu()
    """
    NF = C.shape[0]
    acc = 0.0 * C[0, 0]
    for p in range(NF):
        for q in range(NF):
            cpp, cqq = C[p, p], C[q, q]
            bound = numpy.sqrt(cpp * cqq)
            if not bound > 0.0:  # a field that is identically 0: relu(0) = 0
                continue
            cpq = min(max(C[p, q], -bound), bound)  # Cauchy-Schwarz, against rounding
            v = GENERATED.i2_relu(cpp, cpq, cqq)
            acc += w[p] * w[q] * v
    return 0.5 * acc


@numba.njit(**GENERATED.njit_options)
def generalization_error(C, w, rho):
    """eps_g = 1/2 sum_pq w_p w_q I2(p, q) (the paper's Eq. 13); rho is a work array.

    GENERATED.doc_generalization_error()
    """
    NF = C.shape[0]
    for p in range(NF):
        rho[p] = GENERATED.rho(C[p, p])
    acc = 0.0 * C[0, 0]
    for p in range(NF):
        accp = 0.5 * w[p] * numpy.arcsin(C[p, p] * rho[p] * rho[p])
        for q in range(p + 1, NF):
            accp += w[q] * numpy.arcsin(C[p, q] * rho[p] * rho[q])
        acc += w[p] * accp
    return 2.0 * acc / numpy.pi


@numba.njit(**GENERATED.njit_options)
def assemble(ws, Qd, rc):
    """dQ/dalpha, dR/dalpha, dg/dalpha, dv/dalpha from the averages G, D, J2, F (Step 1-2 of the derivation).

    ws is the kernels' workspace (symphase._kernels.Workspace): it gives the state Q, R, g, the
    scale factors h, the output weights m = cs v and the second layer v, the averages G, D, J2, F,
    and takes the rates dQ, dR, dg, dv. The diagonal of Qd (K, K) gives the divisors Q_ii of the
    exact rule's terms e Q_ik/Q_ii: Qd is Q itself, or the identity at e = 0, where the rates do
    not depend on Q_ii (checked), so that plain learning is defined at zero weights, Q_ii = 0
    (docs/model.md §3.5). rc are the rate constants (symphase._kernels.RateConstants): learning
    rate eta, input variance tau, minibatch b, noise variance, the switches e = 1 (exact BN rule),
    lg = 1 (learned gain), lv = 1 (learned second layer), weight decay lam, the second layer's
    learning rate eta2 and the output scale cs.

    GENERATED.doc_assemble()
    """
    Q, R, g, h, m, v = ws.Q, ws.R, ws.g, ws.h, ws.m, ws.v
    G, D, J2, F = ws.G, ws.D, ws.J2, ws.F
    dQ, dR, dg, dv = ws.dQ, ws.dR, ws.dg, ws.dv
    eta, tau, b, noise, e, lg, lam, eta2, cs, lv = (rc.eta, rc.tau, rc.b, rc.noise, rc.e, rc.lg, rc.lam, rc.eta2,
                                                    rc.cs, rc.lv)
    K, M = R.shape
    for i in range(K):
        for k in range(i, K):
            val = GENERATED.dQ(Q, Qd, h, m, G, D, J2, eta, tau, b, noise, e, lam)
            dQ[i, k] = dQ[k, i] = val
        for n in range(M):
            dR[i, n] = GENERATED.dR(R, Qd, h, m, G, eta, e, lam)
        dg[i] = GENERATED.dg(g, m, G, eta, lg)
        dv[i] = GENERATED.dv(v, F, eta2, cs, lam, lv)
