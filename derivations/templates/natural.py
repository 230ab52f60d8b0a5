# Template of symphase/_generated/natural.py (real Python; read, never run, by  # template-only
# `python -m derivations.natural`, which replaces every GENERATED.<name>(<args>) by code  # template-only
# printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""The preconditioned (natural-gradient) update of the plain committee machine (generated).

``F = A (x) I + (a part inside span(J))`` for the population Fisher of the weights, so
``(F + eps I)^-1`` needs the span part's coefficients :func:`span_coefficients` and one
``K^2 x K^2`` solve (docs/model.md §14.2); the order-parameter rates of the update are
:func:`natural_rates` (docs/model.md §14.5). Used by ``symphase._natural`` (the weights) and
``symphase._natural_ode`` (the ODE).
"""
import numba

from derivations.templates import GENERATED  # template-only


@numba.njit(**GENERATED.njit_options)
def span_coefficients(Y, E31, E22, E13, out):
    """The coefficients ``out[i, a]`` on ``J_a`` of row ``i`` of the span part of ``F w`` from
    ``Y[k, a] = J_a . w_k`` (``E31``, ``E22``, ``E13`` (K, K) times ``tau^2``).

    GENERATED.doc_span()
    """
    K = Y.shape[0]
    for i in range(K):
        diag = 0.0
        for k in range(K):  # noqa: B007  (the generated expression reads k)
            diag += GENERATED.diag_term(E31, Y, E22)
        for a in range(K):
            c = GENERATED.off_term(E22, Y, E13)
            out[i, a] = c + diag if a == i else c


@numba.njit(**GENERATED.njit_options)
def natural_rates(Y, W, U, V, eta, tau, b, dQ, dR):
    """``dQ/dalpha`` (K, K) and ``dR/dalpha`` (K, M) of the preconditioned update from ``Y``, ``W`` (K, K)
    and ``U``, ``V`` (K, M).

    GENERATED.doc_rates()
    """
    K, M = U.shape
    for i in range(K):
        for k in range(i, K):
            dQ[i, k] = dQ[k, i] = GENERATED.dq(Y, W, eta, tau, b)
        for n in range(M):
            dR[i, n] = GENERATED.dr(U, V, eta)
