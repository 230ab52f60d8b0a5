"""Derive the preconditioned (natural-gradient) update's structure and its order-parameter rates in SymPy
and generate ``symphase/_generated/natural.py`` (docs/model.md §14; issue 20).

    python -m derivations.natural           # derive, check, write the module
    python -m derivations.natural --check   # fail if the committed module differs

The update is ``Delta J = (F + eps I)^-1 Delta J_SGD`` with ``F`` the population Fisher of the plain
committee machine's weights. The steps (derivations/DERIVATION.md §14):

1. *The span part of F.* By Stein's lemma twice (``derivations/fisher.py``),
   ``F_ik = A_ik I + tau^2 [E31_ik J_i J_i^T + E22_ik (J_i J_k^T + J_k J_i^T) + E13_ik J_k J_k^T]``. For
   ``w_k = sum_b W_kb J_b`` in ``span(J)``, ``(F w)_i = sum_k A_ik w_k + sum_a c_ia(Y) J_a`` with
   ``Y_ka = J_a . w_k`` and ``c_ia = tau^2 [delta_ia sum_k (E31_ik Y_ki + E22_ik Y_kk) + E22_ia Y_ai + E13_ia Y_aa]``:
   checked as a polynomial identity in the weights' components for K = 2 and 3 (with an input orthogonal
   to the students, where F acts as ``A``).
2. *The inverse.* ``w_i = sum_k [B^-1]_ik g_k + sum_a Gamma_ia J_a`` (``B = A + eps I``) solves
   ``(F + eps I) w = g`` when ``B Gamma + c(Gamma Q) = -c(B^-1 G)``, ``G_ma = J_a . g_m``: checked at a
   rational point (K = 2, an orthogonal input) against the explicit matrix.
3. *The rates.* One example moves ``J_i`` by ``(eta/N) sum_m B^-1_im d_m xi + sum_a Gamma_ia J_a``, with
   ``Gamma`` linear in ``G_ma = (eta/N) d_m x_a``; averaging (``<d_m z_c> = G_mc``, ``<d_m d_k> = D_mk + noise
   J2_mk``, ``xi . xi = N tau``) and ``N -> oo`` at ``alpha = steps/N`` give
   ``dR_in/dalpha = eta [(B^-1 G_T)_in + (Gamma R)_in]``,
   ``dQ_ik/dalpha = eta (Y_ik + Y_ki) + (eta^2 tau/b) [B^-1 (D + noise J2) B^-T]_ik``, ``Y = B^-1 G_S + Gamma Q``,
   with ``Gamma`` solving step 2's system at ``G = G_S`` (the students' block of the field sums). Checked
   for K = 2 from the per-example increments, and, at ``B = I``, ``Gamma = 0``, against SGD's rates of
   ``derivations/derive.py`` (plain).
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations._checks import SKIP, Checks

MODULE = "derivations.natural"
TARGET = cg.GENERATED_DIR / "natural.py"
TEMPLATE = cg.TEMPLATES / "natural.py"
NJIT_OPTIONS = {**cg.NJIT_OPTIONS, "nogil": True}

tau, eta, b, noise, N = sp.symbols("tau eta b noise N", positive=True)
# the indexed entries the generated code reads (printed as array entries)
E31_ik, E22_ik, Y_ki, Y_kk = (sp.Symbol(s, real=True) for s in ("E31[i, k]", "E22[i, k]", "Y[k, i]", "Y[k, k]"))
E22_ia, E13_ia, Y_ai, Y_aa = (sp.Symbol(s, real=True) for s in ("E22[i, a]", "E13[i, a]", "Y[a, i]", "Y[a, a]"))
Y_ik, W_ik = sp.Symbol("Y[i, k]", real=True), sp.Symbol("W[i, k]", real=True)
U_in, V_in = sp.Symbol("U[i, n]", real=True), sp.Symbol("V[i, n]", real=True)


@dataclass(frozen=True)
class Derivation:
    diag_term: sp.Expr  # c_ii gets sum_k of this (the E's carry tau^2)
    off_term: sp.Expr   # c_ia gets this for every a
    dQ: sp.Expr         # dQ_ik/dalpha in Y = B^-1 G_S + Gamma Q and W = B^-1 (D + noise J2) B^-T
    dR: sp.Expr         # dR_in/dalpha in U = B^-1 G_T and V = Gamma R
    checks: Checks


def _fisher_blocks(K, J, E11, E31, E22, E13):
    """The blocks ``F_ik`` (N1 x N1) of the Stein form, ``J`` (K, N1) a SymPy matrix."""
    N1 = J.shape[1]
    rows = [J[i, :].T for i in range(K)]
    return [[tau * E11[i, k] * sp.eye(N1) + tau**2 * (E31[i, k] * rows[i] * rows[i].T
                                                     + E22[i, k] * (rows[i] * rows[k].T + rows[k] * rows[i].T)
                                                     + E13[i, k] * rows[k] * rows[k].T)
             for k in range(K)] for i in range(K)]


def _c(K, Y, E31, E22, E13):
    """``c_ia(Y)`` of step 1 for concrete ``K`` (SymPy matrices), from :data:`diag_term`/:data:`off_term`."""
    return sp.Matrix(K, K, lambda i, a: tau**2 * ((sum(E31[i, k] * Y[k, i] + E22[i, k] * Y[k, k] for k in range(K))
                                                   if i == a else 0) + E22[i, a] * Y[a, i] + E13[i, a] * Y[a, a]))


def _sym_matrix(name, K, L=None):
    return sp.Matrix(K, K if L is None else L, lambda i, j: sp.Symbol(f"{name}{i}{j}", real=True))


def check_span_part(checks: Checks, K: int) -> None:
    """Step 1 for this ``K``: ``F w = (A (x) I) w + c(Y) J`` for ``w`` in ``span(J)``, weights with ``K + 1``
    symbolic components (one direction outside the students' span), any ``E``."""
    N1 = K + 1
    J = _sym_matrix("j", K, N1)
    W = _sym_matrix("w", K)
    E11, E31, E22, E13 = (_sym_matrix(n, K) for n in ("eA", "eB", "eC", "eD"))
    F = _fisher_blocks(K, J, E11, E31, E22, E13)
    w = [sum((W[k, c] * J[c, :].T for c in range(K)), sp.zeros(N1, 1)) for k in range(K)]
    Y = sp.Matrix(K, K, lambda k, a: (J[a, :] * w[k])[0])
    c = _c(K, Y, E31, E22, E13)
    for i in range(K):
        lhs = sum((F[i][k] * w[k] for k in range(K)), sp.zeros(N1, 1))
        rhs = sum((tau * E11[i, k] * w[k] for k in range(K)), sp.zeros(N1, 1)) + sum(
            (c[i, a] * J[a, :].T for a in range(K)), sp.zeros(N1, 1))
        for comp in range(N1):
            checks.check(f"K = {K}: (F w)_{i} in span(J) is A w + c(Y) J (component {comp})",
                         sp.expand(lhs[comp] - rhs[comp]), simplify=sp.expand)


def check_inverse(checks: Checks) -> None:
    """Step 2 at a point: K = 2, three inputs (one outside the students' span), tau = 1, eps = 1/10, the
    pair averages of derivations/fisher.py at ``Q = J J^T`` (evaluated to 50 digits)."""
    from derivations import fisher
    K, N1 = 2, 3
    J = sp.Matrix([[1, sp.Rational(1, 2), 0], [sp.Rational(-1, 3), 1, 0]])
    f = fisher.derive()
    Q = J * J.T
    E = {n: sp.zeros(K, K) for n in ("E11", "E31", "E22", "E13")}
    for i in range(K):
        for k in range(K):
            point = {fisher.caa: Q[i, i], fisher.cbb: Q[k, k], fisher.cab: Q[i, k]}
            for n in E:
                E[n][i, k] = sp.N(getattr(f, n).subs(point), 50)
    eps = sp.Rational(1, 10)
    Fm = sp.BlockMatrix(_fisher_blocks(K, J, E["E11"], E["E31"], E["E22"], E["E13"])).as_explicit().subs(tau, 1)
    g = sp.Matrix([1, -2, 3, sp.Rational(1, 2), 1, -1])
    want = (Fm + eps * sp.eye(K * N1)).LUsolve(g)
    B = E["E11"] + eps * sp.eye(K)
    Binv = B.inv()
    G = sp.Matrix(K, K, lambda m, a: (J[a, :] * g[m * N1:(m + 1) * N1, 0])[0])
    Gam = _sym_matrix("gam", K)
    eqs = B * Gam + (_c(K, Gam * Q, E["E31"], E["E22"], E["E13"]) + _c(K, Binv * G, E["E31"], E["E22"], E["E13"])
                     ).subs(tau, 1)
    Amat, rhs = sp.linear_eq_to_matrix(list(eqs), list(Gam))
    Gam = sp.Matrix(K, K, list(Amat.LUsolve(rhs)))
    got = sp.Matrix.vstack(*[sum((Binv[i, k] * g[k * N1:(k + 1) * N1, 0] for k in range(K)), sp.zeros(N1, 1))
                             + sum((Gam[i, a] * J[a, :].T for a in range(K)), sp.zeros(N1, 1)) for i in range(K)])
    checks.check("the closed-form (F + eps I)^-1 g equals the explicit solve (K = 2, to 40 digits)",
                 sum(abs(got[j] - want[j]) for j in range(K * N1)), symbolic=SKIP, points=[{}], tol=1e-35)


def rates(checks: Checks) -> tuple[sp.Expr, sp.Expr]:
    """Step 3: the rates of the generic pair ``(i, k)`` and teacher ``n``, from the per-example increments for
    K = 2 (students 0, 1, one teacher), then written in ``Y``, ``W``, ``U``, ``V``."""
    K = 2
    Binv = _sym_matrix("binv", K)
    Qm = sp.Matrix(K, K, lambda i, k: sp.Symbol(f"q{min(i, k)}{max(i, k)}", real=True))
    Rm = sp.Matrix(K, 1, lambda i, n: sp.Symbol(f"r{i}", real=True))
    d = sp.symbols("d0 d1", real=True)
    x = sp.symbols("x0 x1", real=True)
    y = sp.Symbol("y0", real=True)
    xixi = sp.Symbol("xixi", positive=True)
    lr = eta / N
    # Gamma is linear in G_ma = lr d_m x_a: Gamma = lr sum_ma Lambda_{ma} d_m x_a with constant matrices
    Lam = {(m, a): _sym_matrix(f"lam{m}{a}_", K) for m in range(K) for a in range(K)}
    Gam = sum((lr * d[m] * x[a] * Lam[m, a] for m in range(K) for a in range(K)), sp.zeros(K, K))
    coef = [lr * sum(Binv[i, m] * d[m] for m in range(K)) for i in range(K)]  # of xi
    # increments (J_i += coef_i xi + sum_a Gam_ia J_a): dot products xi.B = y, xi.J_a = x_a, xi.xi = xixi
    dR = [coef[i] * y + sum(Gam[i, a] * Rm[a, 0] for a in range(K)) for i in range(K)]

    def dot_step(i, k):  # J_i . dJ_k
        return coef[k] * x[i] + sum(Gam[k, a] * Qm[a, i] for a in range(K))

    def step_step(i, k):  # dJ_i . dJ_k, leading order in N: xi.xi = N tau
        return coef[i] * coef[k] * xixi + sum(coef[i] * Gam[k, a] * x[a] + coef[k] * Gam[i, a] * x[a]
                                              for a in range(K)) + sum(Gam[i, a] * Gam[k, c] * Qm[a, c]
                                                                       for a in range(K) for c in range(K))
    dQ = {(i, k): dot_step(i, k) + dot_step(k, i) + step_step(i, k) for i in range(K) for k in range(i, K)}
    # averages: <d_m y> = G_m,T, <d_m x_a> = G_ma, <d_m d_k> = D_mk + noise J2_mk (b = 1 here; a batch divides
    # the eta^2 term by b), then N <.> at N -> oo with xi.xi = N tau
    GS = _sym_matrix("gs", K)
    GT = sp.Matrix(K, 1, lambda m, n: sp.Symbol(f"gt{m}", real=True))
    S = sp.Matrix(K, K, lambda m, k: sp.Symbol(f"s{min(m, k)}{max(m, k)}", real=True))  # D + noise J2

    def average(expr):
        expr = sp.expand(expr.subs(xixi, N * tau))
        out = 0
        for term in sp.Add.make_args(expr):
            powers = term.as_powers_dict()
            ds = [m for m in range(K) for _ in range(int(powers.get(d[m], 0)))]
            xs = [a for a in range(K) for _ in range(int(powers.get(x[a], 0)))]
            ny = int(powers.get(y, 0))
            rest = term / sp.Mul(*[d[m] for m in ds]) / sp.Mul(*[x[a] for a in xs]) / y**ny
            if len(ds) == 1 and len(xs) == 1 and ny == 0:
                out += rest * GS[ds[0], xs[0]]
            elif len(ds) == 1 and ny == 1 and not xs:
                out += rest * GT[ds[0], 0]
            elif len(ds) == 2 and not xs and ny == 0:
                out += rest * S[ds[0], ds[1]]
            else:  # higher moments: only with factors lr^2 or smaller, which vanish as N -> oo below
                out += rest * sp.Symbol(f"higher_{len(ds)}_{len(xs)}_{ny}")
        lead = sp.expand(N * out)
        if sp.Poly(lead.subs(N, 1 / sp.Symbol("u_")), 1 / sp.Symbol("u_")).degree() > 0:
            raise AssertionError("a rate grows with N")
        return lead.subs(N, sp.oo)

    Gam_avg = sum((eta * GS[m, a] * Lam[m, a] for m in range(K) for a in range(K)), sp.zeros(K, K))  # N <Gamma>
    W = Binv * S * Binv.T
    for i in range(K):
        got = average(dR[i])
        want = eta * ((Binv * GT)[i, 0] + (Gam_avg * Rm)[i, 0] / eta)
        checks.check(f"dR_{i}n/dalpha = eta [(B^-1 G_T) + Gamma R] from the increments (K = 2)",
                     sp.expand(got - want))
        for k in range(i, K):
            got = average(dQ[i, k])
            want = (Binv * GS * eta + Gam_avg * Qm)[i, k] + (Binv * GS * eta + Gam_avg * Qm)[k, i] \
                + eta**2 * tau * W[i, k]
            checks.check(f"dQ_{i}{k}/dalpha = eta (Y_ik + Y_ki) + eta^2 tau W_ik from the increments (K = 2)",
                         sp.expand(got - want))
    dQ_rate = eta * (Y_ik + sp.Symbol("Y[k, i]", real=True)) + eta**2 * tau * W_ik / b
    dR_rate = eta * (U_in + V_in)
    return dQ_rate, dR_rate


def check_sgd_limit(checks: Checks, dQ_rate, dR_rate) -> None:
    """At ``B = I`` and ``Gamma = 0`` (``F -> 0``, ``eps = 1``) the rates are SGD's (derive.py, plain)."""
    d = base.derive().committee()
    plain = {base.h_i: 1, base.h_k: 1, base.e: 0, base.lg: 0}
    sgd_Q = d.dQ.subs(plain)
    sgd_R = d.dR.subs(plain)
    G_ik, G_ki, G_in = (base.Gs[("i", "k")], base.Gs[("k", "i")], base.Gs[("i", "n")])
    mine_Q = dQ_rate.subs({Y_ik: G_ik, sp.Symbol("Y[k, i]", real=True): G_ki,
                           W_ik: base.D_ik + base.noise * base.J2_ik}).subs({eta: base.eta, tau: base.tau, b: base.b})
    mine_R = dR_rate.subs({U_in: G_in, V_in: 0}).subs(eta, base.eta)
    checks.check("at B = I, Gamma = 0 dQ_ik/dalpha is SGD's (derive.py, plain)", sp.expand(mine_Q - sgd_Q))
    checks.check("at B = I, Gamma = 0 dR_in/dalpha is SGD's (derive.py, plain)", sp.expand(mine_R - sgd_R))


@functools.cache
def derive() -> Derivation:
    checks = Checks()
    for K in (2, 3):
        check_span_part(checks, K)
    check_inverse(checks)
    dQ_rate, dR_rate = rates(checks)
    check_sgd_limit(checks, dQ_rate, dR_rate)
    diag_term = E31_ik * Y_ki + E22_ik * Y_kk
    off_term = E22_ia * Y_ai + E13_ia * Y_aa
    return Derivation(diag_term=diag_term, off_term=off_term, dQ=dQ_rate, dR=dR_rate, checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/natural.py``."""
    d = derive()
    fills = {
        "njit_options": cg.keywords(NJIT_OPTIONS),
        "diag_term": cg.expression(d.diag_term),
        "off_term": cg.expression(d.off_term),
        "dq": cg.expression(d.dQ),
        "dr": cg.expression(d.dR),
        "doc_span": cg.doc(
            cg.formula("c[i, a]", "delta_ia sum_k (E31[i, k] Y[k, i] + E22[i, k] Y[k, k]) + E22[i, a] Y[a, i] "
                                  "+ E13[i, a] Y[a, a]"),
            "the coefficient on J_a of row i of F w for w_k in span(J) with Y[k, a] = J_a . w_k, beyond A w "
            "(the E's carry tau^2): F_ik = A_ik I + tau^2 [E31_ik J_i J_i^T + E22_ik (J_i J_k^T + J_k J_i^T) "
            "+ E13_ik J_k J_k^T] (checked for K = 2, 3).",
            spec="§14.2", derivation="§14", generator=MODULE),
        "doc_rates": cg.doc(
            cg.formula("dQ_ik/dalpha", d.dQ),
            cg.formula("dR_in/dalpha", d.dR),
            "with Y = B^-1 G_S + Gamma Q, W = B^-1 (D + noise J2) B^-T, U = B^-1 G_T, V = Gamma R, B = A + eps I "
            "and Gamma solving B Gamma + c(Gamma Q) = -c(B^-1 G_S); G_S, G_T the students' and teachers' "
            "columns of the field sums G[a, c] = <d_a z_c> (checked from the per-example increments for K = 2, "
            "and against SGD's rates at B = I, Gamma = 0).",
            spec="§14.5", derivation="§14", generator=MODULE),
    }
    return cg.header(MODULE, "derivations/templates/natural.py", d.checks) + cg.fill_template(TEMPLATE, fills)


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
