"""Derive the reduced ODEs of the symmetric subspace (K = M, T = I) with K a
SymPy symbol, the reduced generalization error and the paper's Hessian, and
generate ``symphase/_generated/symmetric.py``.

    python -m derivations.symmetric           # derive, check, write the module
    python -m derivations.symmetric --check   # derive, check, fail if the committed
                                              # module differs from what it generates

Symmetric subspace (docs/model.md §4): ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``,
``R_in = S`` (n != i), ``g_i = g``. The steps:

1. *Fields and their covariance.* A field is a student ``u_j`` or a teacher
   ``y_j`` with an index ``j`` in 1..K. The effective covariance of two fields
   depends only on their kinds and on whether their indices are equal
   (``tau h^2 Q`` / ``tau h^2 C`` student-student, ``tau h R`` / ``tau h S``
   student-teacher, ``tau`` / 0 teacher-teacher; ``h`` as in derive.py).
2. *Field sums by index classes.* ``G_ac = sum_p w_p I3(a, c, p)`` and
   ``D_ac = sum_pq w_p w_q I4(a, c, p, q)`` for named fields ``a, c`` (indices
   ``i``, ``k``, ``n``, all distinct): every anonymous index either equals one
   of the ``m`` named indices or is a new one; new ones are distinct from each
   other or equal. A class of ``f`` new distinct indices has
   ``(K - m)(K - m - 1)...(K - m - f + 1)`` members and one covariance matrix,
   so each sum is a polynomial in ``K`` times the closed forms ``I3``, ``I4``
   of derive.py. ``eps_g = 1/2 sum_pq w_p w_q I2(p, q)`` the same way (m = 0).
3. *Assembly.* derive.py's per-pair rates ``dQ`` (pair (i, i) for ``Q``, pair
   (i, k) for ``C``), ``dR`` (teacher i for ``R``, teacher n != i for ``S``)
   and ``dg``, with the field sums substituted. The rates are split as
   ``eta * lin + eta^2/b * quad``.
4. *The paper's Hessian.* ``eps_g(R, S, Q[, g])`` with ``C = Q`` substituted
   before differentiating (docs/model.md §4), ``sp.diff`` twice, then code.

Checks (identities, asserted before anything is written) are listed in the
generated module's header. The generated code is NumPy on scalars or arrays,
real or complex, with ``K`` a run-time argument; its functions are those of the
template ``derivations/templates/symmetric.py``.
"""
from __future__ import annotations

import functools
import itertools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations._checks import Checks, root_simplify

MODULE = "derivations.symmetric"
TARGET = cg.GENERATED_DIR / "symmetric.py"
TEMPLATE = cg.TEMPLATES / "symmetric.py"

K = sp.Symbol("K", positive=True, integer=True)
Q = sp.Symbol("Q", positive=True)
C, R, S, g, h = sp.symbols("C R S g h", real=True)
tau, eta, b, noise, e, lg = base.tau, base.eta, base.b, base.noise, base.e, base.lg
NAMES = ("Q", "C", "R", "S", "g")
OMEGA_PLAIN = (R, S, Q)
OMEGA_BN = (R, S, Q, g)
W = {"s": -1, "t": +1}  # sign of a field in Delta = t - s
# The two-layer network (docs/model.md §13): every student has second-layer weight v and the
# output scale c, every teacher the output weight a = c_M v* (uniform); weight decay lam.
V, CS, AT = sp.symbols("v c a", real=True)
LAM = base.lam
W2 = {"s": -CS * V, "t": AT}
NAMES2 = ("Q", "C", "R", "S", "g", "v")
si, sk, ti, tn = ("s", "i"), ("s", "k"), ("t", "i"), ("t", "n")


@dataclass(frozen=True)
class Derivation:
    lin: dict        # {name: O(eta) rate per unit eta}, name in NAMES
    quad: dict       # {name: O(eta^2/b) rate per unit eta^2/b}
    lin2: dict       # the two-layer network's: {name in NAMES2: O(eta) rate per unit eta (v: per unit eta2)}
    quad2: dict      # {name in NAMES: O(eta^2/b) rate per unit eta^2/b}
    wd2: dict        # {name in NAMES2: the eta-free part (weight decay)}
    eps_g: sp.Expr   # eps_g by index classes, any h and C
    eq13: sp.Expr    # the same, the paper's Eq. 13 written out (checked equal)
    grad: dict       # {"plain" | "bn": [d eps_g / d omega_j]}, C = Q substituted
    hess: dict       # {"plain" | "bn": [[d^2 eps_g / d omega_j d omega_l]]}
    checks: Checks


# --------------------------------------------------------------------------
# Step 1: fields and the effective covariance (docs/model.md §3, derive.py's cov_*)
# --------------------------------------------------------------------------
def cov(f1, f2, hh=h, CC=C):
    """Effective covariance of fields ``(kind, label)``, kind "s" student or "t" teacher."""
    d = base.derive()
    (k1, l1), (k2, l2) = f1, f2
    same = l1 == l2
    if k1 == "s" and k2 == "s":
        return d.cov_ss.subs({base.h_a: hh, base.h_c: hh, base.Q_ac: Q if same else CC})
    if k1 == "t" and k2 == "t":
        return d.cov_tt.subs(base.T_nm, 1 if same else 0)
    return d.cov_st.subs({base.h_a: hh, base.R_an: R if same else S})


# --------------------------------------------------------------------------
# Step 2: sums over anonymous fields by index class
# --------------------------------------------------------------------------
def index_classes(named: tuple, n_anon: int):
    """Yield ``(labels, count)``: the labels of ``n_anon`` anonymous indices (each a
    named label or a new one, new ones in canonical order) and how many index
    tuples in 1..K have that equality pattern."""
    m = len(named)

    def rec(prefix, n_new):
        if len(prefix) == n_anon:
            count = sp.Integer(1)
            for j in range(n_new):
                count *= K - m - j
            yield tuple(prefix), count
            return
        for lab in list(named) + [f"new{j}" for j in range(n_new)]:
            yield from rec(prefix + [lab], n_new)
        yield from rec(prefix + [f"new{n_new}"], n_new + 1)

    yield from rec([], 0)


def field_sum(fixed: list, n_anon: int, closed_form, cov_fn=cov, weights=W):
    """``sum over anonymous fields p (, q) of prod w * closed_form(covariance of fixed + anonymous)``.

    ``closed_form`` is an expression in derive's ``c11..c44``, the covariance of the
    fields in the order ``fixed + anonymous``.
    """
    named = tuple(dict.fromkeys(lab for _, lab in fixed))
    total = 0
    for labels, count in index_classes(named, n_anon):
        for kinds in itertools.product("st", repeat=n_anon):
            fields = list(fixed) + list(zip(kinds, labels))
            sub = {base.c[(p + 1, q + 1)]: cov_fn(fields[p], fields[q])
                   for p in range(len(fields)) for q in range(p, len(fields))}
            sign = sp.Integer(1)
            for kd in kinds:
                sign *= weights[kd]
            total += count * sign * closed_form.subs(sub)
    return total


def G(a, c_, weights=W):
    """G_ac = sum_p w_p I3(a, c, p)."""
    return field_sum([a, c_], 1, base.derive().I3, weights=weights)


def D(a, c_, weights=W):
    """D_ac = sum_pq w_p w_q I4(a, c, p, q)."""
    return field_sum([a, c_], 2, base.derive().I4, weights=weights)


def F(a, weights=W2):
    """F_a = sum_p w_p I2(a, p) = <Delta phi(u_a)> (the gradient of the second layer)."""
    return field_sum([a], 1, base.I2(base.c11, base.c12, base.c22), weights=weights)


def J2(a, c_):
    return base.derive().J2.subs({base.c11: cov(a, a), base.c12: cov(a, c_), base.c22: cov(c_, c_)})


# --------------------------------------------------------------------------
# Step 3: assembly with derive.py's per-pair rates
# --------------------------------------------------------------------------
def reduced_rates(checks: Checks) -> tuple[dict, dict]:
    """``lin, quad``: d/dalpha of (Q, C, R, S, g) = eta lin + eta^2/b quad."""
    d = base.derive().committee()
    G_ii, G_ik, G_ki, G_in_same, G_in_other = G(si, si), G(si, sk), G(sk, si), G(si, ti), G(si, tn)
    checks.check("G_ki = G_ik on the symmetric subspace (relabelling i <-> k)", G_ki - G_ik, simplify=sp.expand)
    checks.check("class counts of one anonymous index add up to K (named i, k)",
                 sum(cnt for _, cnt in index_classes(("i", "k"), 1)) - K, simplify=sp.expand)
    checks.check("class counts of two anonymous indices add up to K^2 (named i, k)",
                 sum(cnt for _, cnt in index_classes(("i", "k"), 2)) - K**2, simplify=sp.expand)
    pair_ii = {base.Q_ik: Q, base.Q_ii: Q, base.Q_kk: Q, base.h_i: h, base.h_k: h,
               base.Gs["i", "i"]: G_ii, base.Gs["i", "k"]: G_ii, base.Gs["k", "i"]: G_ii, base.Gs["k", "k"]: G_ii,
               base.D_ik: D(si, si), base.J2_ik: J2(si, si)}
    pair_ik = {base.Q_ik: C, base.Q_ii: Q, base.Q_kk: Q, base.h_i: h, base.h_k: h,
               base.Gs["i", "i"]: G_ii, base.Gs["i", "k"]: G_ik, base.Gs["k", "i"]: G_ki, base.Gs["k", "k"]: G_ii,
               base.D_ik: D(si, sk), base.J2_ik: J2(si, sk)}
    rate = {
        "Q": d.dQ.subs(pair_ii, simultaneous=True),
        "C": d.dQ.subs(pair_ik, simultaneous=True),
        "R": d.dR.subs({base.R_in: R, base.Q_ii: Q, base.h_i: h, base.Gs["i", "n"]: G_in_same,
                        base.Gs["i", "i"]: G_ii}, simultaneous=True),
        "S": d.dR.subs({base.R_in: S, base.Q_ii: Q, base.h_i: h, base.Gs["i", "n"]: G_in_other,
                        base.Gs["i", "i"]: G_ii}, simultaneous=True),
        "g": d.dg.subs({base.g_i: g, base.Gs["i", "i"]: G_ii}, simultaneous=True),
    }
    lin, quad = {}, {}
    for name in NAMES:
        ex = sp.expand(rate[name], deep=False)
        lin[name] = ex.coeff(eta, 1)
        quad[name] = ex.coeff(eta, 2) * b
        checks.check(f"d{name}/dalpha = eta lin + eta^2/b quad", ex - eta * lin[name] - eta**2 / b * quad[name],
                     simplify=sp.expand)
    for name in ("R", "S", "g"):
        checks.check(f"d{name}/dalpha has no eta^2/b part", quad[name])
    return lin, quad


def reduced_rates_two_layer(checks: Checks, lin1: dict, quad1: dict) -> tuple[dict, dict, dict]:
    """``lin, quad, wd`` of the two-layer network (docs/model.md §13): d/dalpha of (Q, C, R, S, g) =
    ``wd + eta lin + eta^2/b quad``, and of v: ``eta2 lin_v + wd_v``. Checked against the committee
    machine's (``lin1``, ``quad1``) at ``v = c = a = 1``, ``lam = 0``."""
    d = base.derive()
    G_ii, G_ik, G_in_same, G_in_other = (G(si, si, W2), G(si, sk, W2), G(si, ti, W2), G(si, tn, W2))
    m = CS * V
    common = {base.m_i: m, base.m_k: m, base.lam: LAM}
    pair_ii = {**common, base.Q_ik: Q, base.Q_ii: Q, base.Q_kk: Q, base.h_i: h, base.h_k: h,
               base.Gs["i", "i"]: G_ii, base.Gs["i", "k"]: G_ii, base.Gs["k", "i"]: G_ii, base.Gs["k", "k"]: G_ii,
               base.D_ik: D(si, si, W2), base.J2_ik: J2(si, si)}
    pair_ik = {**common, base.Q_ik: C, base.Q_ii: Q, base.Q_kk: Q, base.h_i: h, base.h_k: h,
               base.Gs["i", "i"]: G_ii, base.Gs["i", "k"]: G_ik, base.Gs["k", "i"]: G_ik, base.Gs["k", "k"]: G_ii,
               base.D_ik: D(si, sk, W2), base.J2_ik: J2(si, sk)}
    rate = {
        "Q": d.dQ.subs(pair_ii, simultaneous=True),
        "C": d.dQ.subs(pair_ik, simultaneous=True),
        "R": d.dR.subs({**common, base.R_in: R, base.Q_ii: Q, base.h_i: h, base.Gs["i", "n"]: G_in_same,
                        base.Gs["i", "i"]: G_ii}, simultaneous=True),
        "S": d.dR.subs({**common, base.R_in: S, base.Q_ii: Q, base.h_i: h, base.Gs["i", "n"]: G_in_other,
                        base.Gs["i", "i"]: G_ii}, simultaneous=True),
        "g": d.dg.subs({**common, base.g_i: g, base.Gs["i", "i"]: G_ii}, simultaneous=True),
    }
    lin, quad, wd = {}, {}, {}
    for name in NAMES:
        ex = sp.expand(rate[name], deep=False)
        wd[name], lin[name], quad[name] = ex.coeff(eta, 0), ex.coeff(eta, 1), ex.coeff(eta, 2) * b
        checks.check(f"two-layer d{name}/dalpha = wd + eta lin + eta^2/b quad",
                     ex - wd[name] - eta * lin[name] - eta**2 / b * quad[name], simplify=sp.expand)
    dv = sp.expand(d.dv.subs({base.lv: 1, base.v_i: V, base.c_s: CS, base.F_i: F(si), base.lam: LAM}))
    lin["v"], wd["v"] = dv.coeff(base.eta2, 1), dv.coeff(base.eta2, 0)
    checks.check("two-layer dv/dalpha = eta2 lin_v + wd_v", dv - base.eta2 * lin["v"] - wd["v"], simplify=sp.expand)
    committee = {V: 1, CS: 1, AT: 1, LAM: 0}
    for name in NAMES:
        checks.check(f"v = c = a = 1, lam = 0: the two-layer d{name}/dalpha is the committee machine's",
                     sp.expand(lin[name].subs(committee) - lin1[name]) + sp.expand(wd[name].subs(committee))
                     + sp.expand(quad[name].subs(committee) - quad1[name]), simplify=sp.expand)
    # The plateau of a learned second layer at eta -> 0 (docs/model.md §13.1): v = 1 there, any K and tau
    Dk = K + (K - 1) * tau
    plain_fp = {Q: 1 / Dk, C: 1 / Dk, R: 1 / sp.sqrt(K * Dk), S: 1 / sp.sqrt(K * Dk), h: 1, V: 1, CS: 1, AT: 1}
    check_algebraic(checks, "plain two-layer, any K and tau: dv/dalpha = 0 at the plateau with v = v* = 1 "
                            "(the learned second layer does not move off 1)", lin["v"].subs(plain_fp))
    bn_fp = {Q: Dk / tau, C: Dk / tau, R: sp.sqrt(Dk / (tau * K)), S: sp.sqrt(Dk / (tau * K)), g: sp.sqrt(tau / Dk),
             V: 1, CS: 1, AT: 1}
    check_algebraic(checks, "BN two-layer, any K and tau: dv/dalpha = 0 at the paper's plateau with v = v* = 1",
                    lin["v"].subs(h, g / sp.sqrt(tau * Q)).subs(bn_fp))
    return lin, quad, wd


# --------------------------------------------------------------------------
# Reduced generalization error: 1/2 sum_pq w_p w_q I2(p, q), p, q anonymous
# --------------------------------------------------------------------------
def eps_g(hh=h, CC=C):
    """eps_g on the symmetric subspace (the paper's Eq. 13) with K symbolic."""
    I2_c = base.I2(base.c33, base.c34, base.c44)  # of fields 3 and 4 (no named fields)
    total = 0
    for labels, count in index_classes((), 2):
        for kinds in itertools.product("st", repeat=2):
            f = list(zip(kinds, labels))
            sub = {base.c33: cov(f[0], f[0], hh, CC), base.c34: cov(f[0], f[1], hh, CC),
                   base.c44: cov(f[1], f[1], hh, CC)}
            total += count * W[kinds[0]] * W[kinds[1]] * I2_c.subs(sub)
    return total / 2


# The effective overlaps of Eq. 13 (docstrings): Q' = tau h^2 Q, C' = tau h^2 C, R' = tau h R, S' = tau h S
Qe, Ce, Re, Se = sp.symbols("Q' C' R' S'", real=True)
EFFECTIVE = {Qe: tau * h**2 * Q, Ce: tau * h**2 * C, Re: tau * h * R, Se: tau * h * S}


def eq13_form(a_, c_, r_, s_):
    """The paper's Eq. 13 on the symmetric subspace, in the effective overlaps."""
    return (K * sp.asin(tau / (1 + tau)) + K * sp.asin(a_ / (1 + a_)) + K * (K - 1) * sp.asin(c_ / (1 + a_))
            - 2 * K * sp.asin(r_ / sp.sqrt((1 + a_) * (1 + tau)))
            - 2 * K * (K - 1) * sp.asin(s_ / sp.sqrt((1 + a_) * (1 + tau)))) / sp.pi


# --------------------------------------------------------------------------
# Fixed points (docs/model.md §4): the O(eta) rates vanish there, K and tau symbolic
# --------------------------------------------------------------------------
ALGEBRAIC_POINTS = ((2, 1), (3, sp.Rational(5, 2)), (7, 10), (9, sp.Rational(1, 3)))


def check_algebraic(checks: Checks, name, expr):
    """``expr == 0`` for all K, tau: at exact points to 40 digits and symbolically (root_simplify)."""
    checks.check(name, expr, simplify=root_simplify, points=[{K: kv, tau: tv} for kv, tv in ALGEBRAIC_POINTS])


def check_fixed_points(checks: Checks, lin: dict) -> None:
    Dk = K + (K - 1) * tau
    plain_fp = {Q: 1 / Dk, C: 1 / Dk, R: 1 / sp.sqrt(K * Dk), S: 1 / sp.sqrt(K * Dk), h: 1}
    h_bn = g / sp.sqrt(tau * Q)
    bn_fp = {Q: Dk / tau, C: Dk / tau, R: sp.sqrt(Dk / (tau * K)), S: sp.sqrt(Dk / (tau * K)),
             g: sp.sqrt(tau / Dk)}
    for name in ("Q", "C", "R", "S"):
        check_algebraic(checks, f"plain, any K and tau: O(eta) d{name}/dalpha = 0 at Q = C = 1/(K+(K-1)tau), "
                                f"R = S = 1/sqrt(K(K+(K-1)tau))", lin[name].subs(e, 0).subs(plain_fp))
    for name in NAMES:
        for rule, ev in (("paper", 0), ("exact", 1)):
            check_algebraic(checks, f"BN {rule} rule, any K and tau: O(eta) d{name}/dalpha = 0 at the paper's "
                                    f"(R*, S*, Q*, g*)", lin[name].subs({e: ev, lg: 1}).subs(h, h_bn).subs(bn_fp))


# --------------------------------------------------------------------------
# Steps 1-4
# --------------------------------------------------------------------------
@functools.cache
def derive() -> Derivation:
    """The reduced derivation, every step checked (a failed check raises ``CheckFailed``)."""
    checks = Checks()
    lin, quad = reduced_rates(checks)
    EG = eps_g()
    eq13 = eq13_form(*(EFFECTIVE[x] for x in (Qe, Ce, Re, Se)))
    checks.check("eps_g by index classes = the paper's Eq. 13 written out on the symmetric subspace", EG - eq13)
    eg_ss = (K / sp.pi) * (sp.pi / 6 - K * sp.asin(1 / (2 * K)))
    checks.check("plain, tau = 1, Saad & Solla's plateau: eps_g = (K/pi)(pi/6 - K asin(1/(2K)))",
                 EG.subs({h: 1, tau: 1, Q: 1 / (2 * K - 1), C: 1 / (2 * K - 1), R: 1 / sp.sqrt(K * (2 * K - 1)),
                          S: 1 / sp.sqrt(K * (2 * K - 1))}) - eg_ss)
    check_fixed_points(checks, lin)
    lin2, quad2, wd2 = reduced_rates_two_layer(checks, lin, quad)

    # Step 4: the paper's Hessian, C = Q substituted before differentiating
    h_bn = g / sp.sqrt(tau * Q)
    EG_plain = EG.subs({h: 1, C: Q})
    EG_bn = EG.subs(h, h_bn).subs(C, Q)
    grad = {"plain": [sp.diff(EG_plain, x) for x in OMEGA_PLAIN], "bn": [sp.diff(EG_bn, x) for x in OMEGA_BN]}
    hess = {"plain": [[sp.diff(gx, y) for y in OMEGA_PLAIN] for gx in grad["plain"]],
            "bn": [[sp.diff(gx, y) for y in OMEGA_BN] for gx in grad["bn"]]}
    # BN: eps_g depends on (R, S, Q) only through R/sqrt(Q), S/sqrt(Q) once C = Q, so it
    # is flat along (R, S, Q) -> (cR, cS, c^2 Q): grad . (R, S, 2Q, 0) = 0.
    checks.check("BN: eps_g(R, S, Q, g) with C = Q is invariant under (R, S, Q) -> (cR, cS, c^2 Q)",
                 R * grad["bn"][0] + S * grad["bn"][1] + 2 * Q * grad["bn"][2])
    return Derivation(lin=lin, quad=quad, lin2=lin2, quad2=quad2, wd2=wd2, eps_g=EG, eq13=eq13, grad=grad, hess=hess,
                      checks=checks)


# --------------------------------------------------------------------------
# Code: template fills
# --------------------------------------------------------------------------
def docs() -> dict[str, cg.Text]:
    """The generated part of every function's docstring: the equation it implements."""
    ref = {"spec": "§4", "derivation": "§9", "generator": MODULE}
    eq13 = eq13_form(Qe, Ce, Re, Se)
    effective = "with Q' = tau h^2 Q, C' = tau h^2 C, R' = tau h R, S' = tau h S"
    out = {
        "doc_rates": cg.doc(
            "The rates of derivations.derive (docs/model.md §3, §13), not CSE'd:",
            cg.formula("  dQ_ik/dalpha", base.derive().dQ), cg.formula("  dR_in/dalpha", base.derive().dR),
            cg.formula("  dg_i/dalpha", base.derive().dg), cg.formula("  dv_i/dalpha", base.derive().dv),
            ["at Q_ii = Q_kk = Q, h_i = h_k = h, g_i = g, v_i = v, m_i = m_k = c v, lv = 1, and",
             "  Q: the pair (i, i);  C: a pair (i, k != i), Q_ik = C;",
             "  R: the teacher n = i, R_in = R;  S: a teacher n != i, R_in = S;",
             "the averages G_ac = sum_p w_p I3(a, c, p), D_ik = sum_pq w_p w_q I4(i, k, p, q), J2_ik and",
             "F_i = sum_p w_p I2(i, p) summed over the 2K fields by index classes (K symbolic), with the",
             "weights w = -c v (students), a (teachers), on the effective covariance tau h^2 Q or tau h^2 C",
             "(student-student, same or other index), tau h R or tau h S (student-teacher), tau or 0",
             "(teacher-teacher)."],
            spec="§4, §13", derivation="§9", generator=MODULE),
        "doc_generalization_error": cg.doc(cg.formula("eps_g", eq13), effective + ".", **ref),
    }
    for tag, omega, hh in (("plain", OMEGA_PLAIN, "h = 1"), ("bn", OMEGA_BN, "h = g/sqrt(tau Q)")):
        names = ", ".join(str(x) for x in omega)
        n = len(omega)
        eg_lines = [*cg.formula("  eps_g", eq13), f"  {effective}, {hh}, C = Q."]
        out[f"doc_gradient_{tag}"] = cg.doc(
            f"dj = d eps_g / d omega_j (j = 0..{n - 1}), omega = ({names}), of", eg_lines, **ref)
        out[f"doc_hessian_{tag}"] = cg.doc(
            f"hjl = d^2 eps_g / (d omega_j d omega_l) (0 <= j <= l <= {n - 1}), omega = ({names}), of", eg_lines,
            **ref)
    return out


def fills(d: Derivation) -> dict[str, cg.Fill]:
    """Every ``GENERATED.<name>`` of the template, printed from the derivation."""
    out: dict[str, cg.Fill] = {
        # one set of reduced rates, with the second layer (the committee machine at v = c = a = 1,
        # lam = 0, checked in reduced_rates_two_layer)
        "rates": cg.statements([(f"lin_{n}", d.lin2[n]) for n in NAMES2]
                               + [(f"quad_{n}", d.quad2[n]) for n in ("Q", "C")]
                               + [(f"wd_{n}", d.wd2[n]) for n in NAMES2]),
        "generalization_error": cg.statements([("eg", d.eps_g)]),
    }
    for tag in ("plain", "bn"):
        grad, hess = d.grad[tag], d.hess[tag]
        n = len(grad)
        out[f"gradient_{tag}"] = cg.statements([(f"d{j}", grad[j]) for j in range(n)])
        out[f"hessian_{tag}"] = cg.statements([(f"h{j}{l}", hess[j][l]) for j in range(n) for l in range(j, n)])
    # The template has no code of its own that needs NumPy; the generated code does.
    uses_numpy = any("numpy." in line for fill in out.values() for line in fill.lines)
    out["imports"] = cg.Text(("import numpy",) if uses_numpy else ())
    return {**out, **docs()}


def generate() -> str:
    """The text of ``symphase/_generated/symmetric.py``."""
    d = derive()
    return cg.header(MODULE, "derivations/templates/symmetric.py", d.checks) + cg.fill_template(TEMPLATE, fills(d))


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=False)


if __name__ == "__main__":
    sys.exit(main())
