# Template of symphase/_generated/rule.py (real Python; read, never run, by  # template-only
# `python -m derivations.rule`, which replaces every GENERATED.<name>(<args>) by code  # template-only
# printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""The learning rule per example: SGD's coefficients in ``span(J, B, xi)`` (generated).

One example moves student ``i`` by ``J_i += a_i xi - p_i J_i``, its gain by ``dg_i``
and its second-layer weight by ``dv_i`` (docs/model.md §2, §13). This module is
the one home of those coefficients: the simulator on the weights
(``symphase._sgd``), the exact chain in overlap space (``symphase._overlap_sgd``)
and the diffusion moments and SDE (``symphase._fluctuations``) all call
:func:`sgd_example`; the ODE is derived from the same coefficients
(``derivations/derive.py`` builds its update from ``derivations/rule.py``).

A rule's per-example kernel has the signature of :func:`sgd_example`
``(x, y, noise, state, consts, out) -> Delta``; symphase/_rule.py registers it.
"""
import math

import numba

from derivations.templates import GENERATED  # template-only

#: The activation codes (the order of ``symphase._kernels.ACTIVATIONS``; tests/test_rule.py checks).
ERF, LINEAR, RELU = 0, 1, 2
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SQRT_HALF = math.sqrt(0.5)


@numba.njit(**GENERATED.njit_options)
def phi(u, act):
    """The activation of code ``act``.

    GENERATED.doc_phi()
    """
    if act == ERF:
        return math.erf(u * SQRT_HALF)
    if act == LINEAR:
        return u
    return max(u, 0.0)


@numba.njit(**GENERATED.njit_options)
def error_signal(delta, u, act):
    """The back-propagated error of a unit with activation argument ``u``.

    GENERATED.doc_error_signal()
    """
    if act == ERF:
        return delta * SQRT_2_OVER_PI * math.exp(-0.5 * u * u)
    if act == LINEAR:
        return delta
    return delta if u > 0.0 else 0.0 * delta


@numba.njit(**GENERATED.njit_options)
def output_error(x, y, h, v, vt, cs, act, noise):
    """The error ``Delta = t - s`` of one example: raw student fields ``x`` (K,), teacher fields ``y`` (M,),
    scale factors ``h`` (K,), second layer ``v`` (K,), teacher output weights ``vt`` (M,), scale ``cs``,
    activation code ``act``, the output noise ``noise`` (added when not 0), in this order of rounding.

    GENERATED.doc_output_error()
    """
    delta = 0.0
    for n in range(y.shape[0]):
        delta += vt[n] * phi(y[n], act)
    if noise != 0.0:
        delta += noise
    for i in range(x.shape[0]):
        delta -= cs * v[i] * phi(h[i] * x[i], act)
    return delta


@numba.njit(**GENERATED.njit_options_call)
def sgd_example(x, y, noise, state, consts, out):
    """SGD's update of one example: writes its coefficients per unit and returns ``Delta``.

    ``x`` (K,), ``y`` (M,): the example's raw fields ``J xi``, ``B xi``; ``noise``: its output noise;
    ``state = (h, inv_s, q, v, vt)``: scale factors, ``1/(sigma sqrt Q_ii)``, ``Q_ii``, second layer,
    teacher output weights; ``consts = (lr, lr2, cs, act, exact, learn, learn_v)``;
    ``out = (d, a, p, dg, dv)`` (K,) each: the error signals and this example's coefficients
    (not accumulated: the caller sums a batch).

    GENERATED.doc_sgd_example()
    """
    h, inv_s, q, v, vt = state
    lr, lr2, cs, act, exact, learn, learn_v = consts
    d_out, a_out, p_out, dg_out, dv_out = out
    delta = output_error(x, y, h, v, vt, cs, act, noise)
    for i in range(x.shape[0]):
        u = h[i] * x[i]
        d = error_signal(delta, u, act)
        m = cs * v[i]
        a = GENERATED.a(lr, m, h, d)
        d_out[i] = d
        a_out[i] = a
        p_out[i] = GENERATED.p(a, x, q) if exact else 0.0
        dg_out[i] = GENERATED.dg(lr, m, d, x, inv_s) if learn else 0.0
        dv_out[i] = 0.0
        if learn_v:
            f = phi(u, act)
            dv_out[i] = GENERATED.dv(lr2, cs, delta, f)
    return delta


@numba.njit(**GENERATED.njit_options)
def batch_stats_coefficients(x, y, noise, g, lr, exact, learn, z, coef, dg, mean, sd):
    """SGD's update of one BN step with the batch's own statistics (docs/model.md §2.3), from the
    batch's fields: ``x`` (b, K) students', ``y`` (b, M) teachers', ``noise`` (b,) the output noise.
    Writes ``z = (x - m)/s`` (``m``, ``s`` the batch mean and standard deviation, 1/b, into ``mean``,
    ``sd``; ``z`` may be ``x``), the coefficients ``coef`` (b, K) of ``J_i += sum_u coef[u, i] xi^u``
    and the gain's increment ``dg`` (0 when the gain is fixed). The committee machine with erf.
    Shared by the weights and the overlap chain; False when a batch standard deviation vanishes.

    GENERATED.doc_batch_stats()
    """
    b, K = x.shape
    M = y.shape[1]
    for i in range(K):
        mean[i] = 0.0
        for u in range(b):
            mean[i] += x[u, i]
        mean[i] /= b
        acc = 0.0
        for u in range(b):
            acc += (x[u, i] - mean[i]) ** 2
        sd[i] = math.sqrt(acc / b)
        if not sd[i] > 0.0:
            return False
    for u in range(b):  # z = (x - m)/s; coef <- d
        delta = noise[u]
        for n in range(M):
            delta += phi(y[u, n], ERF)
        for i in range(K):
            z[u, i] = (x[u, i] - mean[i]) / sd[i]
            delta -= phi(g[i] * z[u, i], ERF)
        for i in range(K):
            coef[u, i] = error_signal(delta, g[i] * z[u, i], ERF)
    for i in range(K):
        dm = 0.0
        dz = 0.0
        for u in range(b):
            dm += coef[u, i]
            dz += coef[u, i] * z[u, i]
        dm /= b
        dz /= b
        for u in range(b):
            d = coef[u, i]
            if exact:
                d = d - dm - z[u, i] * dz
            coef[u, i] = GENERATED.bs_coef(lr, g, sd, d)
        dg[i] = GENERATED.bs_gain(lr, b, dz) if learn else 0.0
    return True
