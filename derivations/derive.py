"""Derive the order-parameter ODEs of the soft committee machine in SymPy and
generate symphase's numeric kernels from them.

    python -m derivations.derive           # derive, check, write the kernels
    python -m derivations.derive --check   # derive, check, fail if the committed
                                           # kernels differ from what it generates

Every equation that the numeric code evaluates is produced here (:func:`derive`)
and written to ``symphase/_generated/ode_kernels.py`` (:func:`generate`, from the
template ``derivations/templates/ode_kernels.py``); nobody edits that file by
hand. The write-up of the steps is ``derivations/DERIVATION.md``; the steps are:

1. *Update rule -> increments.* One rule covers plain SGD and both batch-norm
   rules of docs/model.md §2:  ``dJ_a = (eta/N) h_a Delta phi'(u_a) (xi - e x_a J_a/Q_aa)``
   with ``u_a = h_a x_a`` the argument of unit ``a``'s activation.
   plain: ``h_a = 1, e = 0``; BN paper: ``h_a = g_a/(sigma sqrt(Q_aa)), e = 0``;
   BN exact: the same ``h_a`` and ``e = 1``. A small vector algebra expands
   ``dQ_ik``, ``dR_in`` for one generic pair of students ``(i, k)`` and one
   teacher ``n``; ``alpha = steps/N`` and ``N -> oo`` keep the leading terms.
2. *Averages.* The increments are polynomials in ``d_a = Delta phi'(u_a)``,
   ``u_a``, ``y_n``. With ``Delta = sum_p w_p phi(z_p) + zeta`` (fields ``z``: the
   students with ``w = -1`` and the teachers with ``w = +1``; ``zeta`` the output
   noise), every average is one of ``G_ab = sum_p w_p I3(a, b, p)``,
   ``D_ab = sum_pq w_p w_q I4(a, b, p, q)`` and ``noise * J2(a, b)``.
3. *Closed forms.* From ``I2`` (the arcsin formula), ``I3`` follows by Stein's
   lemma and Price's theorem, ``J2`` by Price's theorem, and ``I4`` by absorbing
   the Gaussian factor ``phi'(z1) phi'(z2)`` into the measure. Each is checked
   against the closed form printed in docs/model.md §3 (Saad & Solla 1995).
4. *Code.* The closed forms are split by which loop index they depend on
   (verified identities), simplified with common-subexpression elimination and
   spliced into the loops of the template, so the kernels' size does not grow
   with ``K`` and ``M``.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import rule
from derivations._checks import Checks

MODULE = "derivations.derive"
TARGET = cg.GENERATED_DIR / "ode_kernels.py"
TEMPLATE = cg.TEMPLATES / "ode_kernels.py"
# The kernels of the ODE right-hand side are small and inlined into their callers.
NJIT_OPTIONS = {**cg.NJIT_OPTIONS, "inline": "always"}

# --------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------
N, eta, tau, b, noise = sp.symbols("N eta tau b noise", positive=True)
e, lg = sp.symbols("e lg", nonnegative=True)  # exact-rule switch, learned-gain switch
# The two-layer network (docs/model.md §13): the output weight m_a = c v_a of student a
# (scale c times second-layer weight v_a), weight decay lam, the second layer's
# learning rate eta2 and its switch lv (1: v is learned).
m_i, m_k, v_i, c_s = sp.symbols("m_i m_k v_i c_s", real=True)
lam, eta2, lv = sp.symbols("lam eta2 lv", nonnegative=True)
# f_i = Delta * phi(u_i): the error times unit i's output, the gradient of v_i
f_i, F_i = sp.symbols("f_i F_i", real=True)
Q_ik, Q_ii, Q_kk = sp.symbols("Q_ik Q_ii Q_kk", real=True)
R_in, R_kn = sp.symbols("R_in R_kn", real=True)
h_i, h_k, g_i = sp.symbols("h_i h_k g_i", real=True)
# pre-activations x_a = J_a . xi, y_n = B_n . xi, and the activation arguments u_a
x_i, x_k, y_n, u_i, u_k = sp.symbols("x_i x_k y_n u_i u_k", real=True)
# d_a = Delta * phi'(u_a), the back-propagated error of unit a
d_i, d_k = sp.symbols("d_i d_k", real=True)
# The averages (Step 2): G_ac = <d_a u_c>, G_an = <d_a y_n>, <d_i d_k> = D_ik + noise J2_ik
Gs = {(a, c): sp.Symbol(f"G_{a}{c}", real=True) for a in "ik" for c in ("i", "k", "n")}
D_ik, J2_ik = sp.symbols("D_ik J2_ik", real=True)
# Entries c_pq of the covariance of up to four fields z_1..z_4 (Step 3)
c = {(p, q): sp.Symbol(f"c{min(p, q)}{max(p, q)}", real=True) for p in range(1, 5) for q in range(1, 5)}
c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = (c[p] for p in [
    (1, 1), (1, 2), (1, 3), (1, 4), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4), (4, 4)])
# The effective covariance of the fields (u_1..u_K, y_1..y_M), per entry
Q_ac, R_an, T_nm, h_a, h_c, Q_aa, g_a = sp.symbols("Q_ac R_an T_nm h_a h_c Q_aa g_a", real=True)
# Names of the determinants of the closed forms (docstrings)
Lambda0, Lambda1, Lambda2, Lambda3, Lambda4 = sp.symbols("Lambda0 Lambda1 Lambda2 Lambda3 Lambda4")


@dataclass(frozen=True)
class Derivation:
    """What :func:`derive` returns: the rates, closed forms and their loop-level splits."""
    dQ: sp.Expr  # dQ_ik/dalpha for the generic pair (i, k), in the averages G, D, J2
    dR: sp.Expr  # dR_in/dalpha
    dg: sp.Expr  # dg_i/dalpha
    dv: sp.Expr  # dv_i/dalpha (the second layer)
    I3: sp.Expr  # the closed forms in c11..c44 (docs/model.md §3)
    I4: sp.Expr
    J2: sp.Expr
    linear: dict  # I2, I3, I4, J2 for phi(z) = z
    relu: sp.Expr  # I2 for phi(z) = max(z, 0) (the simulator's ReLU)
    Lam: dict    # {Lambda0..Lambda4 (symbols): their expressions in c11..c44}
    P3: sp.Expr  # I3 = P3 c23 - Pc3 c12
    Pc3: sp.Expr
    pref4: sp.Expr  # I4 = pref4 asin((Lambda4 c34 - A3 c24 - B3 c14) r3 r4)
    A3: sp.Expr
    B3: sp.Expr
    r3: sp.Expr
    rho3: sp.Expr  # I2(3, 4) = (2/pi) asin(c34 rho3 rho4)
    cov_ss: sp.Expr  # effective covariance entries (student-student, student-teacher, teacher-teacher)
    cov_st: sp.Expr
    cov_tt: sp.Expr
    h_bn: sp.Expr  # the scale factor h_a under batch norm
    checks: Checks

    def committee(self) -> Derivation:
        """The rates of the committee machine: second layer fixed at 1, no weight decay
        (``COMMITTEE``); what the symmetric-subspace, paper and fluctuation generators use."""
        return dataclasses.replace(self, dQ=self.dQ.subs(COMMITTEE), dR=self.dR.subs(COMMITTEE),
                                   dg=self.dg.subs(COMMITTEE), dv=self.dv.subs(COMMITTEE))


# --------------------------------------------------------------------------
# Step 1: update rule -> increments of Q and R, N -> oo
# --------------------------------------------------------------------------
class Vec:
    """A vector of R^N as a linear combination of named basis vectors."""

    def __init__(self, terms: dict):
        self.terms = {k: v for k, v in terms.items() if v != 0}

    def __add__(self, other: Vec) -> Vec:
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out.get(k, 0) + v
        return Vec(out)

    def __rmul__(self, c) -> Vec:
        return Vec({k: c * v for k, v in self.terms.items()})

    def dot(self, other: Vec) -> sp.Expr:
        return sp.Add(*[c1 * c2 * DOT[frozenset((k1, k2)) if k1 != k2 else (k1,)]
                        for k1, c1 in self.terms.items() for k2, c2 in other.terms.items()])


# The dot products of the vectors that occur. xi.xi = N sigma^2 + O(sqrt N):
# its fluctuation enters the increments at relative order N^(-1/2) and drops out.
DOT = {
    ("xi",): N * tau,
    frozenset(("xi", "J_i")): x_i, frozenset(("xi", "J_k")): x_k, frozenset(("xi", "B_n")): y_n,
    ("J_i",): Q_ii, ("J_k",): Q_kk, frozenset(("J_i", "J_k")): Q_ik,
    frozenset(("J_i", "B_n")): R_in, frozenset(("J_k", "B_n")): R_kn,
}
XI, J_I, J_K, B_N = (Vec({k: 1}) for k in ("xi", "J_i", "J_k", "B_n"))


# The committee machine: second-layer weights fixed at 1, no weight decay (docs/model.md §1-§3).
COMMITTEE = {m_i: 1, m_k: 1, lam: 0, lv: 0}


def update(m, h, d, x, Q, J) -> Vec:
    """The weight change of one student for one example (docs/model.md §2, §13): the rule's
    coefficients (``derivations/rule.py``, the one home of the update) at ``lr = eta/N``,
    ``dJ_a = a_a xi - p_a J_a - (lam/N) J_a`` with ``a_a = (eta/N) m_a h_a d_a``,
    ``p_a = e a_a x_a/Q_aa``: the gradient of ``Delta^2/2`` for the output
    ``s = sum_a m_a phi(u_a)`` and weight decay.
    """
    a, p = rule_coefficients(m, h, d, x, Q)
    return a * XI + (-p - lam / N) * J


def rule_coefficients(m, h, d, x, Q):
    """``(a, p)`` of ``derivations/rule.py`` for one student, per example, at ``lr = eta/N``."""
    r = rule.derive()
    sub = {rule.lr: eta / N, rule.m: m, rule.h: h, rule.d: d, rule.x: x, rule.q: Q}
    a = r.a.subs(sub)
    return a, r.p.subs(rule.a_sym, a).subs(sub)


def rates_before_averaging() -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """d/dalpha of Q_ik, R_in, g_i, v_i as polynomials in d_a, f_i, x_a, y_n (N -> oo)."""
    dJ_i = update(m_i, h_i, d_i, x_i, Q_ii, J_I)
    dJ_k = update(m_k, h_k, d_k, x_k, Q_kk, J_K)
    # A minibatch averages b independent examples: the linear part of the increment
    # has the single-example mean; in the square only the b same-example terms are
    # O(1/N), the b(b-1) cross terms are O(1/N^2). Hence the 1/b.
    inc_Q = J_I.dot(dJ_k) + dJ_i.dot(J_K) + dJ_i.dot(dJ_k) / b
    inc_R = dJ_i.dot(B_N)
    # Gain (BN, docs/model.md §2), the rule's dg: g_i += (eta/N) m_i Delta phi'(u_i) x_i / (sigma sqrt(Q_ii))
    # = (eta/N) m_i d_i h_i x_i / g_i
    r = rule.derive()
    inc_g = r.dg.subs({rule.lr: eta / N, rule.m: m_i, rule.d: d_i, rule.x: x_i, rule.inv_s: h_i / g_i})
    # Second layer (docs/model.md §13), the rule's dv: v_i += (eta2/N) c Delta phi(u_i) - (lam/N) v_i
    inc_v = r.dv.subs({rule.lr2: eta2 / N, rule.cs: c_s, rule.delta: 1, rule.f: f_i}) - lv * (lam / N) * v_i
    # alpha counts steps / N: d/dalpha = N * (increment), N -> oo
    return tuple(sp.limit(sp.expand(N * inc), N, sp.oo) for inc in (inc_Q, inc_R, inc_g, inc_v))


# --------------------------------------------------------------------------
# Step 2: averages over the inputs
# --------------------------------------------------------------------------
def average(expr: sp.Expr) -> sp.Expr:
    """<.> over the inputs of a polynomial in d_a, u_a, y_n (at most quadratic in d).

    <d_a u_c> = G_ac, <d_a y_n> = G_an, <d_a d_c> = D_ac + noise J2_ac, <f_i> = F_i,
    which is Step 2b (:func:`check_averages`) with Delta = sum_p w_p phi(z_p) + zeta.
    """
    # x_a = u_a / h_a (the activation argument is the rescaled pre-activation).
    expr = sp.expand(expr.subs({x_i: u_i / h_i, x_k: u_k / h_k}))
    poly = sp.Poly(expr, d_i, d_k, f_i, u_i, u_k, y_n)
    out = 0
    for (pdi, pdk, pfi, pui, puk, pyn), coeff in poly.terms():
        if pfi:
            if (pfi, pdi, pdk, pui, puk, pyn) != (1, 0, 0, 0, 0, 0):
                raise ValueError("unexpected monomial with f_i")
            out += coeff * F_i
            continue
        ds = ["i"] * pdi + ["k"] * pdk
        zs = ["i"] * pui + ["k"] * puk + ["n"] * pyn
        if not ds and not zs:  # no input in it (weight decay)
            out += coeff
        elif len(ds) == 1 and len(zs) == 1:
            out += coeff * Gs[(ds[0], zs[0])]
        elif len(ds) == 2 and not zs:
            assert sorted(ds) == ["i", "k"]
            out += coeff * (D_ik + noise * J2_ik)
        else:
            raise ValueError(f"unexpected monomial {ds} {zs}")
    return sp.expand(out)


def check_averages(checks: Checks, dQ: sp.Expr, dR: sp.Expr) -> None:
    """Step 2b: the averages of :func:`average` from Delta = w_p phi(z_p) + zeta for one
    generic field p (the sums are linear, so one term shows them). <zeta> = 0,
    <zeta^2> = noise, zeta independent of the inputs. Then the rates' known cases."""
    phi_p, phi_q, dphi_a, dphi_c, u_c, zeta, w_p, w_q = sp.symbols(
        "phi_p phi_q dphi_a dphi_c u_c zeta w_p w_q", real=True)
    I3_acp, I4_acpq, J2_ac = sp.symbols("I3_acp I4_acpq J2_ac", real=True)

    def gauss_average(expr: sp.Expr) -> sp.Expr:
        poly = sp.Poly(sp.expand(expr), zeta)
        out = 0
        for (pz,), coeff in poly.terms():
            moment = {0: 1, 1: 0, 2: noise}[pz]
            cf = sp.expand(coeff)
            cf = cf.subs(dphi_a * u_c * phi_p, I3_acp)
            cf = cf.subs(dphi_a * dphi_c * phi_p * phi_q, I4_acpq).subs(dphi_a * dphi_c, J2_ac)
            out += moment * cf
        return sp.expand(out)

    checks.check("G_ac = sum_p w_p I3(a,c,p)",
                 gauss_average((w_p * phi_p + zeta) * dphi_a * u_c) - w_p * I3_acp)
    checks.check("<d_a d_c> = sum_pq w_p w_q I4(a,c,p,q) + noise J2(a,c)",
                 gauss_average((w_p * phi_p + zeta) * (w_q * phi_q + zeta) * dphi_a * dphi_c)
                 - (w_p * w_q * I4_acpq + noise * J2_ac))
    # The plain equations of Saad & Solla (1995) with input variance and batch:
    committee = {**COMMITTEE, h_i: 1, h_k: 1, e: 0}
    checks.check("plain dQ_ik",
                 dQ.subs(committee)
                 - (eta * (Gs["i", "k"] + Gs["k", "i"]) + eta**2 * tau / b * (D_ik + noise * J2_ik)))
    checks.check("plain dR_in", dR.subs(committee) - eta * Gs["i", "n"])
    # ... and with a second layer and weight decay (Goldt et al. 2019, docs/model.md §13):
    # every eta carries the output weight of the unit whose error it is.
    plain = {h_i: 1, h_k: 1, e: 0}
    checks.check("two-layer plain dQ_ik",
                 dQ.subs(plain) - (eta * (m_i * Gs["i", "k"] + m_k * Gs["k", "i"])
                                   + eta**2 * tau / b * m_i * m_k * (D_ik + noise * J2_ik) - 2 * lam * Q_ik))
    checks.check("two-layer plain dR_in", dR.subs(plain) - (eta * m_i * Gs["i", "n"] - lam * R_in))
    # Exact BN rule: the O(eta) part of dQ_ii vanishes (docs/model.md §5).
    checks.check("exact rule: O(eta) part of dQ_ii is 0",
                 sp.expand(dQ.subs({e: 1, Q_ik: Q_ii, Q_kk: Q_ii, h_k: h_i, Gs["k", "i"]: Gs["i", "i"],
                                    Gs["i", "k"]: Gs["i", "i"], Gs["k", "k"]: Gs["i", "i"]})).coeff(eta, 1))


def check_chain(checks: Checks, rate_Q, rate_R) -> None:
    """The ODE's rates are the averages of the rule's per-example update as the exact overlap chain
    applies it (docs/model.md §11, ``symphase._overlap_sgd.apply_update``): with the rule's
    coefficients ``a_a``, ``c_a = 1 - p_a - lam/N`` of one example (``lr = eta/N``),
    ``Q'_ik = c_i c_k Q_ik + c_i a_k x_i + c_k a_i x_k + a_i a_k xi.xi/b`` (of a batch of ``b``, the
    same-example squares only, ``xi.xi = N tau``) and ``R'_in = c_i R_in + a_i y_n``; ``N`` times the
    increment, ``N -> oo``, is the per-example rate whose average (:func:`average`) is the ODE."""
    a_i, p_i = rule_coefficients(m_i, h_i, d_i, x_i, Q_ii)
    a_k, p_k = rule_coefficients(m_k, h_k, d_k, x_k, Q_kk)
    c_i, c_k = 1 - p_i - lam / N, 1 - p_k - lam / N
    inc_Q = c_i * c_k * Q_ik + c_i * a_k * x_i + c_k * a_i * x_k + a_i * a_k * N * tau / b - Q_ik
    inc_R = c_i * R_in + a_i * y_n - R_in
    chain_Q, chain_R = (sp.limit(sp.expand(N * inc), N, sp.oo) for inc in (inc_Q, inc_R))
    checks.check("overlap chain: N dQ_ik of the rule's update is the ODE's per-example rate", chain_Q - rate_Q)
    checks.check("overlap chain: N dR_in of the rule's update is the ODE's per-example rate", chain_R - rate_R)


def check_plain_at_zero(checks: Checks, dQ, dR) -> None:
    """At ``e = 0`` the rates do not depend on ``Q_ii``, ``Q_kk`` (they enter only through the exact
    rule's ``e/Q_ii``): the kernels may put 1 in their place there (``assemble``'s divisors ``Qd``),
    so plain learning is defined at zero weights, ``Q_ii = 0``, where ``0 * (1/0)`` would be NaN."""
    for name, rate in (("dQ_ik", dQ), ("dR_in", dR)):
        off = rate.subs(e, 0)
        checks.check(f"{name} at e = 0 does not depend on Q_ii, Q_kk (plain is defined at Q_ii = 0)",
                     sp.diff(off, Q_ii) ** 2 + sp.diff(off, Q_kk) ** 2)


def check_committee(checks: Checks, dQ, dR, dg, dv) -> None:
    """With the second layer fixed at 1 and no weight decay, the rates are the committee
    machine's (docs/model.md §3.5), for every rule (the switches e, lg and h_a stay symbolic)."""
    checks.check("v = 1, lam = 0: dQ_ik is the committee machine's",
                 dQ.subs(COMMITTEE) - (
                     eta * (-Gs["i", "i"] * Q_ik * e / Q_ii + Gs["i", "k"] * h_i / h_k + Gs["k", "i"] * h_k / h_i
                            - Gs["k", "k"] * Q_ik * e / Q_kk)
                     + eta**2 * h_i * h_k * tau * (D_ik + J2_ik * noise) / b))
    checks.check("v = 1, lam = 0: dR_in is the committee machine's",
                 dR.subs(COMMITTEE) - (-Gs["i", "i"] * R_in * e * eta / Q_ii + Gs["i", "n"] * eta * h_i))
    checks.check("v = 1, lam = 0: dg_i is the committee machine's", dg.subs(COMMITTEE) - Gs["i", "i"] * eta * lg / g_i)
    checks.check("v fixed: dv_i = 0", dv.subs(COMMITTEE))
    checks.check("v learned: dv_i = eta2 c <Delta phi(u_i)> - lam v_i", dv.subs(lv, 1) - (eta2 * c_s * F_i - lam * v_i))


# --------------------------------------------------------------------------
# Linear activation: phi(z) = z
# --------------------------------------------------------------------------
def linear_closed_forms(checks: Checks) -> dict:
    """I2, I3, I4, J2 for phi(z) = z (phi' = 1) by Isserlis' theorem, checked on a generic
    Gaussian written as z = L w with w standard normal (the moments are polynomials)."""
    w = sp.symbols("w1:5", real=True)
    Lm = sp.Matrix(4, 4, lambda p, q: sp.Symbol(f"l{p}{q}", real=True) if q <= p else 0)
    z = Lm * sp.Matrix(w)
    cov = Lm * Lm.T

    def moment(expr):
        poly = sp.Poly(sp.expand(expr), *w)
        out = 0
        for powers, coeff in poly.terms():  # <w^k> = (k-1)!! for even k, else 0
            m = 1
            for k in powers:
                m *= 0 if k % 2 else sp.factorial2(k - 1)
            out += coeff * m
        return sp.expand(out)

    forms = {"I2": c12, "I3": c23, "I4": c34, "J2": sp.Integer(1)}
    sub = {c12: cov[0, 1], c23: cov[1, 2], c34: cov[2, 3]}
    checks.check("linear: I2 = <z1 z2> = c12", moment(z[0] * z[1]) - sp.expand(forms["I2"].subs(sub)))
    checks.check("linear: I3 = <1 * z2 * z3> = c23", moment(z[1] * z[2]) - sp.expand(forms["I3"].subs(sub)))
    checks.check("linear: I4 = <1 * 1 * z3 z4> = c34", moment(z[2] * z[3]) - sp.expand(forms["I4"].subs(sub)))
    return forms


def relu_closed_form(checks: Checks) -> sp.Expr:
    """<relu(z1) relu(z2)> for z ~ N(0, [[c11, c12], [c12, c22]]): the arc-cosine kernel of degree 1
    (Cho & Saul 2009), ``sqrt(c11 c22) (sin t + (pi - t) cos t)/(2 pi)``, ``cos t = c12/sqrt(c11 c22)``.
    The simulator's ReLU only (docs/model.md §13). Checked: at c12 = 0 it is <relu>^2 = sqrt(c11 c22)/(2 pi);
    at c12 = sqrt(c11 c22) (one field) it is <relu(z)^2> = c11/2; and Price's theorem, d/dc12 = the
    orthant probability P(z1 > 0, z2 > 0) = 1/4 + asin(rho)/(2 pi)."""
    a, bb = sp.symbols("a b", positive=True)
    rho = sp.Symbol("rho", real=True)
    t = sp.acos(rho)
    form = sp.sqrt(a * bb) * (sp.sin(t) + (sp.pi - t) * sp.cos(t)) / (2 * sp.pi)
    checks.check("relu: <relu z1 relu z2> at c12 = 0 is <relu>^2 = sqrt(c11 c22)/(2 pi)",
                 form.subs(rho, 0) - sp.sqrt(a * bb) / (2 * sp.pi))
    checks.check("relu: one field (rho = 1) gives <relu(z)^2> = c11/2", form.subs({rho: 1, bb: a}) - a / 2)
    # Price: d/dc12 with c12 = rho sqrt(c11 c22)
    checks.check("relu: Price, d/dc12 <relu relu> = P(z1 > 0, z2 > 0) = 1/4 + asin(rho)/(2 pi)",
                 sp.simplify(sp.diff(form, rho) / sp.sqrt(a * bb) - (sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi))),
                 points=[{rho: sp.Rational(1, 3)}, {rho: -sp.Rational(3, 5)}], symbolic="preferred")
    return form.subs(rho, c12 / sp.sqrt(c11 * c22)).subs({a: c11, bb: c22})


# --------------------------------------------------------------------------
# Step 3: closed forms of the Gaussian integrals for phi(u) = erf(u/sqrt 2)
# --------------------------------------------------------------------------
def I2(a11, a12, a22):
    """<phi(z1) phi(z2)> (Saad & Solla 1995)."""
    return 2 / sp.pi * sp.asin(a12 / sp.sqrt((1 + a11) * (1 + a22)))


# The arguments of the square roots are positive on valid covariances: name them
# positive so that SymPy may combine the roots.
POSITIVE = {s: sp.Symbol(s.name, positive=True) for s in (c11, c22, c33, c44)}
# A valid covariance of four fields: signs of square roots are checked there.
VALID_POINT = {c11: 1, c22: 2, c33: 3, c44: 1, c12: sp.Rational(1, 3), c13: sp.Rational(1, 2),
               c14: sp.Rational(1, 5), c23: sp.Rational(1, 4), c24: sp.Rational(1, 7), c34: sp.Rational(2, 5)}


def on_valid(expr):
    return expr.subs(POSITIVE)


def equal_by_squares(checks: Checks, name, a, b_):
    """a == b as: a^2 == b^2 identically, and the same sign (checked at one valid point)."""
    checks.check(name + " (squares)", sp.together(on_valid(a)**2 - on_valid(b_)**2))
    checks.check(name + " (sign: equal at a valid point)", a - b_, points=[VALID_POINT], tol=1e-25,
                 symbolic="skip")


def printed_closed_forms() -> dict:
    """The closed forms as printed in docs/model.md §3: the determinants Lambda0..Lambda4 and I3, I4, J2."""
    lam = {
        Lambda3: (1 + c11) * (1 + c33) - c13**2,
        Lambda4: (1 + c11) * (1 + c22) - c12**2,
    }
    Lam4 = lam[Lambda4]
    lam[Lambda0] = Lam4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    lam[Lambda1] = Lam4 * (1 + c33) - c23**2 * (1 + c11) - c13**2 * (1 + c22) + 2 * c12 * c13 * c23
    lam[Lambda2] = Lam4 * (1 + c44) - c24**2 * (1 + c11) - c14**2 * (1 + c22) + 2 * c12 * c14 * c24
    return {
        "Lam": lam,
        "I3": 2 / sp.pi * (c23 * (1 + c11) - c12 * c13) / ((1 + c11) * sp.sqrt(lam[Lambda3])),
        "I4": 4 / sp.pi**2 / sp.sqrt(Lam4) * sp.asin(lam[Lambda0] / sp.sqrt(lam[Lambda1] * lam[Lambda2])),
        "J2": 2 / sp.pi / sp.sqrt(Lam4),
    }


def check_closed_forms(checks: Checks, forms: dict) -> None:
    """Step 3: I3, J2 and I4 derived from I2, checked equal to the printed forms."""
    lam = forms["Lam"]
    # I3 by Stein's lemma, <z2 f(z1, z3)> = C12 <d1 f> + C23 <d3 f>, with f = phi'(z1) phi(z3),
    # and Price's theorem, d/dC11 <phi(z1)phi(z3)> = 1/2 <phi''(z1)phi(z3)>,
    # d/dC13 <phi(z1)phi(z3)> = <phi'(z1)phi'(z3)>:
    I2_13 = I2(c11, c13, c33)
    I3_derived = 2 * c12 * sp.diff(I2_13, c11) + c23 * sp.diff(I2_13, c13)
    # J2 by Price's theorem
    J2_derived = sp.diff(I2(c11, c12, c22), c12)
    equal_by_squares(checks, "I3 from Stein+Price equals the printed I3", I3_derived, forms["I3"])
    equal_by_squares(checks, "J2 from Price equals (2/pi) Lambda4^(-1/2)", J2_derived, forms["J2"])
    # I4: phi'(z1)phi'(z2) = (2/pi) exp(-(z1^2 + z2^2)/2). Absorbing the Gaussian
    # factor: <exp(-z_a.z_a/2) f(z_b)> = det(1 + C_aa)^(-1/2) <f(z_b)>~ with the
    # conditioned covariance C~ = C_bb - C_ba (1 + C_aa)^-1 C_ab, so
    # I4 = (2/pi) det(1 + C_aa)^(-1/2) I2(C~).
    Caa = sp.Matrix([[c11, c12], [c12, c22]])
    Cab = sp.Matrix([[c13, c14], [c23, c24]])
    Cbb = sp.Matrix([[c33, c34], [c34, c44]])
    A = sp.eye(2) + Caa
    Ct = Cbb - Cab.T * A.inv() * Cab
    Lam4 = lam[Lambda4]
    checks.check("det(1 + C_aa) = Lambda4", A.det() - Lam4)
    checks.check("Lambda4 C~34 = Lambda0", sp.cancel(Lam4 * Ct[0, 1] - lam[Lambda0]))
    checks.check("Lambda4 (1 + C~33) = Lambda1", sp.cancel(Lam4 * (1 + Ct[0, 0]) - lam[Lambda1]))
    checks.check("Lambda4 (1 + C~44) = Lambda2", sp.cancel(Lam4 * (1 + Ct[1, 1]) - lam[Lambda2]))
    # hence I2(C~) = (2/pi) asin(Lambda0 / sqrt(Lambda1 Lambda2)) (Lambda4 > 0) and I4 is the printed form.
    checks.check("J2 by absorption (no b fields) = (2/pi) det(1+C_aa)^(-1/2)",
                 on_valid(2 / sp.pi / sp.sqrt(A.det()) - forms["J2"]))


# --------------------------------------------------------------------------
# Steps 1-4
# --------------------------------------------------------------------------
@functools.cache
def derive() -> Derivation:
    """The derivation, every step checked (a failed check raises ``CheckFailed``)."""
    checks = Checks()
    rate_Q, rate_R, rate_g, rate_v = rates_before_averaging()
    dQ, dR, dg, dv = average(rate_Q), average(rate_R), average(rate_g), average(rate_v)
    check_chain(checks, rate_Q, rate_R)
    check_averages(checks, dQ, dR)
    check_committee(checks, dQ, dR, dg, dv)
    forms = printed_closed_forms()
    check_closed_forms(checks, forms)
    linear = linear_closed_forms(checks)
    relu = relu_closed_form(checks)
    check_plain_at_zero(checks, dQ, dR)
    lam = forms["Lam"]

    # Step 4: split the closed forms by loop level (verified).
    # Loops: a = student (index 1), c = any field (index 2), p, q = fields (3, 4).
    # I3(1,2,3) = P(c11, c13, c33) c23 - Pc(c11, c13, c33) c12: no transcendental
    # function depends on index 2, so G = C.(w P) - C[a, :] sum_p w_p Pc_p.
    P3 = 2 / sp.pi / sp.sqrt(lam[Lambda3])
    Pc3 = 2 / sp.pi * c13 / ((1 + c11) * sp.sqrt(lam[Lambda3]))
    checks.check("I3 = P c23 - Pc c12", forms["I3"] - (P3 * c23 - Pc3 * c12))
    # I4(1,2,3,4) = pref(c11,c12,c22) asin((Lambda4 c34 - A_3 c24 - B_3 c14) r_3 r_4),
    # r_3 = Lambda1^(-1/2) depends on field 3 only, r_4 the same function of field 4.
    A3 = (1 + c11) * c23 - c12 * c13
    B3 = (1 + c22) * c13 - c12 * c23
    checks.check("Lambda0 = Lambda4 c34 - A_3 c24 - B_3 c14",
                 sp.expand(lam[Lambda0] - (lam[Lambda4] * c34 - A3 * c24 - B3 * c14)))
    checks.check("Lambda2 is Lambda1 of field 4",
                 sp.expand(lam[Lambda2] - lam[Lambda1].subs({c33: c44, c13: c14, c23: c24})))

    # Effective covariance of the fields (u_1..u_K, y_1..y_M): u_a = h_a x_a,
    # <x_a x_c> = sigma^2 Q_ac, <x_a y_n> = sigma^2 R_an, <y_n y_m> = sigma^2 T_nm.
    # h_a: 1 for plain; g_a / (sigma sqrt(Q_aa)) for batch norm (docs/model.md §1).
    return Derivation(
        dQ=dQ, dR=dR, dg=dg, dv=dv, linear=linear, relu=relu, I3=forms["I3"], I4=forms["I4"], J2=forms["J2"], Lam=lam,
        P3=P3, Pc3=Pc3, pref4=4 / sp.pi**2 / sp.sqrt(lam[Lambda4]), A3=A3, B3=B3, r3=1 / sp.sqrt(lam[Lambda1]),
        # eps_g = 1/2 sum_pq w_p w_q I2(p, q), I2 = (2/pi) asin(c_pq rho_p rho_q)
        rho3=1 / sp.sqrt(1 + c33),
        cov_ss=h_a * h_c * tau * Q_ac, cov_st=h_a * tau * R_an, cov_tt=tau * T_nm,
        h_bn=g_a / sp.sqrt(tau * Q_aa),
        checks=checks,
    )


# --------------------------------------------------------------------------
# Code: template fills
# --------------------------------------------------------------------------
def render_symbols(expr, mapping):
    return expr.subs({k: sp.Symbol(v) for k, v in mapping.items()})


def docs(d: Derivation) -> dict[str, cg.Text]:
    """The generated part of every kernel's docstring: the equation it implements."""
    lam = d.Lam
    entries = "with c_pq = C[p-1, q-1]"

    def lambdas(*names):
        return [line for s in names for line in cg.formula(f"  {s}", lam[s])]

    def ref(spec, derivation):
        return {"spec": spec, "derivation": derivation, "generator": MODULE}

    i3_form = 2 / sp.pi * (c23 * (1 + c11) - c12 * c13) / ((1 + c11) * sp.sqrt(Lambda3))
    i4_form = 4 / sp.pi**2 / sp.sqrt(Lambda4) * sp.asin(Lambda0 / sp.sqrt(Lambda1 * Lambda2))
    j2_form = 2 / sp.pi / sp.sqrt(Lambda4)
    for form, full in ((i3_form, d.I3), (i4_form, d.I4), (j2_form, d.J2)):
        if form.xreplace(lam) != full:  # the docstring shows what the code computes
            raise AssertionError(f"docstring form {form} is not the closed form {full}")
    # dQ as eta (O(eta) part) + eta^2 (O(eta^2/b) part, factored) + weight decay
    dQ_doc = eta * d.dQ.coeff(eta, 1) + eta**2 * sp.factor(d.dQ.coeff(eta, 2)) + d.dQ.coeff(eta, 0)
    if sp.expand(dQ_doc - d.dQ) != 0:
        raise AssertionError("the docstring's dQ is not the derived dQ")
    return {
        "doc_i2": cg.doc(cg.formula("I2", I2(c11, c12, c22)), entries, **ref("§3", "§4")),
        "doc_i3": cg.doc(cg.formula("I3", i3_form), *lambdas(Lambda3), entries, **ref("§3", "§4")),
        "doc_i4": cg.doc(cg.formula("I4", i4_form), *lambdas(Lambda0, Lambda1, Lambda2, Lambda4), entries,
                         **ref("§3", "§4")),
        "doc_j2": cg.doc(cg.formula("J2", j2_form), *lambdas(Lambda4), entries, **ref("§3", "§4")),
        "doc_scale_factors": cg.doc(cg.formula("h_a (batch norm)", d.h_bn), "h_a (plain) = 1",
                                    "(sigma^2 = tau, the input variance)", **ref("§1", "§1")),
        "doc_effective_covariance": cg.doc(
            cg.formula("C[a, c]", d.cov_ss), cg.formula("C[a, K + n]", d.cov_st),
            cg.formula("C[K + n, K + m]", d.cov_tt),
            "with a, c < K students, n, m < M teachers, Q_ac = Q[a, c], R_an = R[a, n], T_nm = T[n, m], "
            "h_a = h[a]", **ref("§3", "§3")),
        "doc_field_sums": cg.doc(
            "I3(a, c, p) = P_p C[c, p] - Pc_p C[a, c] (nothing transcendental depends on c):",
            cg.formula("  P_p", d.P3), cg.formula("  Pc_p", d.Pc3),
            "I4(a, c, p, q) = pref asin((lam4 C[p, q] - A_p C[c, q] - B_p C[a, q]) r_p r_q), "
            "lam4 = Lambda4(a, c):",
            cg.formula("  pref", d.pref4), cg.formula("  Lambda4", lam[Lambda4]),
            cg.formula("  A_p", d.A3), cg.formula("  B_p", d.B3), cg.formula("  r_p", d.r3),
            cg.formula("J2[a, c]", d.J2),
            "with c11 = C[a, a], c12 = C[a, c], c22 = C[c, c], c13 = C[a, p], c23 = C[c, p], c33 = C[p, p]. "
            "D[a, c] sums over p <= q only (I4 is symmetric in p, q).",
            **ref("§3", "§5")),
        "doc_field_sums_linear": cg.doc(
            *[line for name in ("I3", "I4", "J2") for line in cg.formula(f"{name} (phi(z) = z)", d.linear[name])],
            "with c23 = C[c, p], c34 = C[p, q] (Isserlis' theorem; phi' = 1). D[a, c] does not depend on a, c.",
            **ref("§13", "§11")),
        "doc_output_sums": cg.doc(
            "F[a] = (2/pi) sum_p w_p asin(C[a, p] rho_a rho_p), I2 as in i2,",
            cg.formula("  rho_p", d.rho3.subs(c33, sp.Symbol("C[p, p]"))), **ref("§13", "§11")),
        "doc_output_sums_linear": cg.doc(cg.formula("I2 (phi(z) = z)", d.linear["I2"]), "with c12 = C[a, p]",
                                         **ref("§13", "§11")),
        "doc_generalization_error_linear": cg.doc(
            cg.formula("eps_g = 1/2 sum_pq w_p w_q I2(p, q), I2 (phi(z) = z)", d.linear["I2"]),
            "with c12 = C[p, q]", **ref("§13", "§11")),
        "doc_generalization_error_relu": cg.doc(
            cg.formula("eps_g = 1/2 sum_pq w_p w_q I2(p, q), I2 (phi(z) = max(z, 0))", d.relu),
            "with c11 = C[p, p], c12 = C[p, q], c22 = C[q, q] (Cho & Saul 2009; the simulator's ReLU only)",
            **ref("§13", "§11")),
        "doc_generalization_error": cg.doc(
            "eps_g = (1/pi) sum_pq w_p w_q asin(C[p, q] rho_p rho_q),",
            cg.formula("  rho_p", d.rho3.subs(c33, sp.Symbol("C[p, p]"))), **ref("§3", "§5")),
        "doc_assemble": cg.doc(
            "For every pair of students i <= k and teacher n (the derivation's rates, not CSE'd):",
            cg.formula("dQ_ik/dalpha", dQ_doc), cg.formula("dR_in/dalpha", d.dR), cg.formula("dg_i/dalpha", d.dg),
            cg.formula("dv_i/dalpha", d.dv),
            "with G_ac = G[a, c] (teacher n: G_in = G[i, K + n]), D_ik = D[i, k], J2_ik = J2[i, k], F_i = F[i], "
            "h_i = h[i], m_i = m[i], Q_ik = Q[i, k], R_in = R[i, n], g_i = g[i], v_i = v[i], c_s = cs,",
            "and the divisors Q_ii = Qd[i, i], Q_kk = Qd[k, k] (1 at e = 0).",
            **ref("§3", "§2")),
    }


def fills(d: Derivation) -> dict[str, cg.Fill]:
    """Every ``GENERATED.<name>`` of the template, printed from the derivation."""
    S = sp.Symbol
    out: dict[str, cg.Fill] = {"njit_options": cg.keywords(NJIT_OPTIONS)}
    # Scalar closed forms on a covariance matrix (for users and tests)
    cm = {c[(p, q)]: S(f"C[{p - 1}, {q - 1}]") for p in range(1, 5) for q in range(p, 5)}
    for name, expr in [("i2", I2(c11, c12, c22)), ("i3", d.I3), ("i4", d.I4), ("j2", d.J2)]:
        out[name] = cg.statements([("v", expr.subs(cm))])
    out["h_bn"] = cg.statements([("ha", d.h_bn.subs({g_a: S("g[a]"), Q_aa: S("Q[a, a]")}))])
    out["cov_ss"] = cg.expression(d.cov_ss.subs({h_a: S("h[a]"), h_c: S("h[c]"), Q_ac: S("Q[a, c]")}))
    out["cov_st"] = cg.expression(d.cov_st.subs({h_a: S("h[a]"), R_an: S("R[a, n]")}))
    out["cov_tt"] = cg.expression(d.cov_tt.subs({T_nm: S("T[n, m]")}))
    # Names the loop code uses for covariance entries: 1 = a, 2 = c, 3 = p, 4 = q.
    out["i3_split"] = cg.statements([
        ("Pp", d.P3.subs({c11: S("caa"), c13: S("cap"), c33: S("cpp")})),
        ("Pcp", d.Pc3.subs({c11: S("caa"), c13: S("cap"), c33: S("cpp")})),
    ])
    pair = {c11: S("caa"), c12: S("cac"), c22: S("ccc")}
    out["i4_pair"] = cg.statements([
        ("pref", d.pref4.subs(pair)), ("lam4", d.Lam[Lambda4].subs(pair)), ("j2", d.J2.subs(pair)),
    ])
    mp = {**pair, c13: S("cap"), c23: S("ccp"), c33: S("cpp")}
    out["i4_field"] = cg.statements([("A[p]", d.A3.subs(mp)), ("B[p]", d.B3.subs(mp)), ("r[p]", d.r3.subs(mp))],
                                    prefix="s")
    out["lambda0"] = cg.expression(S("lam4") * S("C[p, q]") - S("A[p]") * S("C[c, q]") - S("B[p]") * S("C[a, q]"),
                                   parenthesize=True)
    out["rho"] = cg.expression(d.rho3.subs(c33, S("C[p, p]")))
    out["i3_linear"] = cg.expression(d.linear["I3"].subs(c23, S("C[c, p]")))
    out["i4_linear"] = cg.expression(d.linear["I4"].subs(c34, S("C[p, q]")))
    out["j2_linear"] = cg.expression(d.linear["J2"])
    out["i2_linear"] = cg.expression(d.linear["I2"].subs(c12, S("C[a, p]")))
    out["i2_linear_pq"] = cg.expression(d.linear["I2"].subs(c12, S("C[p, q]")))
    out["i2_relu"] = cg.statements([("v", d.relu.subs({c11: S("cpp"), c12: S("cpq"), c22: S("cqq")}))])
    # Assembly of the right-hand side from the averages
    # Q_ii, Q_kk appear only as the exact rule's divisors e/Q_ii (check_plain_at_zero): the kernel reads
    # them from the diagonal of Qd, Q itself or, at e = 0, the identity (plain at zero weights, Q_ii = 0)
    asm_map = {Q_ik: "Q[i, k]", Q_ii: "Qd[i, i]", Q_kk: "Qd[k, k]", R_in: "R[i, n]",
               h_i: "h[i]", h_k: "h[k]", g_i: "g[i]", D_ik: "D[i, k]", J2_ik: "J2[i, k]",
               Gs["i", "k"]: "G[i, k]", Gs["k", "i"]: "G[k, i]", Gs["i", "i"]: "G[i, i]",
               Gs["k", "k"]: "G[k, k]", Gs["i", "n"]: "G[i, K + n]",
               m_i: "m[i]", m_k: "m[k]", v_i: "v[i]", F_i: "F[i]", c_s: "cs"}
    out["dQ"] = cg.statements([("val", render_symbols(d.dQ, asm_map))])
    out["dR"] = cg.statements([("dR[i, n]", render_symbols(d.dR, asm_map))])
    out["dg"] = cg.statements([("dg[i]", render_symbols(d.dg, asm_map))])
    out["dv"] = cg.statements([("dv[i]", render_symbols(d.dv, asm_map))])
    return {**out, **docs(d)}


def generate() -> str:
    """The text of ``symphase/_generated/ode_kernels.py``."""
    d = derive()
    return (cg.header(MODULE, "derivations/templates/ode_kernels.py", d.checks)
            + cg.fill_template(TEMPLATE, fills(d)))


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
