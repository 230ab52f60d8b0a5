"""Derive the reduced ODEs of the symmetric subspace (K = M, T = I) with K a
SymPy symbol, the reduced generalization error and the paper's Hessian, and
generate ``symphase/_generated/symmetric.py``.

    python derivations/symmetric.py           # derive, check, write the module
    python derivations/symmetric.py --check   # derive, check, fail if the committed
                                              # module differs from what it generates

Symmetric subspace (MODEL.md §4): ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``,
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
   before differentiating (MODEL.md §4), ``sp.diff`` twice, then code.

Checks (identities, asserted before anything is written) are listed in the
generated module's header. The generated code is NumPy on scalars or arrays,
real or complex, with ``K`` a run-time argument.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import derive  # noqa: E402  (assembly dQ, dR, dg; closed forms I2, I3, I4, J2; printer)

ROOT = derive.ROOT
TARGET = ROOT / "symphase" / "_generated" / "symmetric.py"

K = sp.Symbol("K", positive=True, integer=True)
Q = sp.Symbol("Q", positive=True)
C, R, S, g, h = sp.symbols("C R S g h", real=True)
tau, eta, b, noise, e, lg = derive.tau, derive.eta, derive.b, derive.noise, derive.e, derive.lg

CHECKS: list[str] = []


def check(name: str, expr, simplify=sp.simplify) -> None:
    """Assert the identity ``expr == 0``; the derivation stops otherwise."""
    if simplify(expr) != 0:
        raise AssertionError(f"derivation check failed: {name}: {simplify(expr)} != 0")
    CHECKS.append(name)


# --------------------------------------------------------------------------
# Step 1: fields and the effective covariance (MODEL.md §3, derive.py's cov_*)
# --------------------------------------------------------------------------
def cov(f1, f2, hh=h, CC=C):
    """Effective covariance of fields ``(kind, label)``, kind "s" student or "t" teacher."""
    (k1, l1), (k2, l2) = f1, f2
    same = l1 == l2
    if k1 == "s" and k2 == "s":
        return derive.cov_ss.subs({derive.h_a: hh, derive.h_c: hh, derive.Q_ac: Q if same else CC})
    if k1 == "t" and k2 == "t":
        return derive.cov_tt.subs(derive.T_nm, 1 if same else 0)
    return derive.cov_st.subs({derive.h_a: hh, derive.R_an: R if same else S})


W = {"s": -1, "t": +1}  # sign of a field in Delta = t - s


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


def field_sum(fixed: list, n_anon: int, closed_form, cov_fn=cov):
    """``sum over anonymous fields p (, q) of prod w * closed_form(covariance of fixed + anonymous)``.

    ``closed_form`` is an expression in derive's ``c11..c44``, the covariance of the
    fields in the order ``fixed + anonymous``.
    """
    named = tuple(dict.fromkeys(lab for _, lab in fixed))
    total = 0
    for labels, count in index_classes(named, n_anon):
        for kinds in itertools.product("st", repeat=n_anon):
            fields = list(fixed) + list(zip(kinds, labels))
            sub = {derive.c[(p + 1, q + 1)]: cov_fn(fields[p], fields[q])
                   for p in range(len(fields)) for q in range(p, len(fields))}
            sign = sp.Integer(1)
            for kd in kinds:
                sign *= W[kd]
            total += count * sign * closed_form.subs(sub)
    return total


si, sk, ti, tn = ("s", "i"), ("s", "k"), ("t", "i"), ("t", "n")


def G(a, c_):
    """G_ac = sum_p w_p I3(a, c, p)."""
    return field_sum([a, c_], 1, derive.I3_printed)


def D(a, c_):
    """D_ac = sum_pq w_p w_q I4(a, c, p, q)."""
    return field_sum([a, c_], 2, derive.I4_printed)


def J2(a, c_):
    return derive.J2_printed.subs({derive.c11: cov(a, a), derive.c12: cov(a, c_), derive.c22: cov(c_, c_)})


G_ii, G_ik, G_ki, G_in_same, G_in_other = G(si, si), G(si, sk), G(sk, si), G(si, ti), G(si, tn)
check("G_ki = G_ik on the symmetric subspace (relabelling i <-> k)", G_ki - G_ik, sp.expand)
check("class counts of one anonymous index add up to K (named i, k)",
      sum(cnt for _, cnt in index_classes(("i", "k"), 1)) - K, sp.expand)
check("class counts of two anonymous indices add up to K^2 (named i, k)",
      sum(cnt for _, cnt in index_classes(("i", "k"), 2)) - K**2, sp.expand)

# --------------------------------------------------------------------------
# Step 3: assembly with derive.py's per-pair rates
# --------------------------------------------------------------------------
d = derive
pair_ii = {d.Q_ik: Q, d.Q_ii: Q, d.Q_kk: Q, d.h_i: h, d.h_k: h,
           d.Gs["i", "i"]: G_ii, d.Gs["i", "k"]: G_ii, d.Gs["k", "i"]: G_ii, d.Gs["k", "k"]: G_ii,
           d.D_ik: D(si, si), d.J2_ik: J2(si, si)}
pair_ik = {d.Q_ik: C, d.Q_ii: Q, d.Q_kk: Q, d.h_i: h, d.h_k: h,
           d.Gs["i", "i"]: G_ii, d.Gs["i", "k"]: G_ik, d.Gs["k", "i"]: G_ki, d.Gs["k", "k"]: G_ii,
           d.D_ik: D(si, sk), d.J2_ik: J2(si, sk)}
rate = {
    "Q": d.dQ.subs(pair_ii, simultaneous=True),
    "C": d.dQ.subs(pair_ik, simultaneous=True),
    "R": d.dR.subs({d.R_in: R, d.Q_ii: Q, d.h_i: h, d.Gs["i", "n"]: G_in_same, d.Gs["i", "i"]: G_ii},
                   simultaneous=True),
    "S": d.dR.subs({d.R_in: S, d.Q_ii: Q, d.h_i: h, d.Gs["i", "n"]: G_in_other, d.Gs["i", "i"]: G_ii},
                   simultaneous=True),
    "g": d.dg.subs({d.g_i: g, d.Gs["i", "i"]: G_ii}, simultaneous=True),
}
NAMES = ("Q", "C", "R", "S", "g")
lin, quad = {}, {}
for name in NAMES:
    ex = sp.expand(rate[name], deep=False)
    lin[name] = ex.coeff(eta, 1)
    quad[name] = ex.coeff(eta, 2) * b
    check(f"d{name}/dalpha = eta lin + eta^2/b quad", ex - eta * lin[name] - eta**2 / b * quad[name], sp.expand)
for name in ("R", "S", "g"):
    check(f"d{name}/dalpha has no eta^2/b part", quad[name])

# --------------------------------------------------------------------------
# Reduced generalization error: 1/2 sum_pq w_p w_q I2(p, q), p, q anonymous
# --------------------------------------------------------------------------
I2_c = derive.I2(derive.c33, derive.c34, derive.c44)  # of fields 3 and 4 (no named fields)


def eps_g(hh=h, CC=C):
    """eps_g on the symmetric subspace (the paper's Eq. 13) with K symbolic."""
    total = 0
    for labels, count in index_classes((), 2):
        for kinds in itertools.product("st", repeat=2):
            f = list(zip(kinds, labels))
            sub = {derive.c33: cov(f[0], f[0], hh, CC), derive.c34: cov(f[0], f[1], hh, CC),
                   derive.c44: cov(f[1], f[1], hh, CC)}
            total += count * W[kinds[0]] * W[kinds[1]] * I2_c.subs(sub)
    return total / 2


EG = eps_g()
a_, c_, r_, s_ = tau * h**2 * Q, tau * h**2 * C, tau * h * R, tau * h * S
eq13 = (K * sp.asin(tau / (1 + tau)) + K * sp.asin(a_ / (1 + a_)) + K * (K - 1) * sp.asin(c_ / (1 + a_))
        - 2 * K * sp.asin(r_ / sp.sqrt((1 + a_) * (1 + tau)))
        - 2 * K * (K - 1) * sp.asin(s_ / sp.sqrt((1 + a_) * (1 + tau)))) / sp.pi
check("eps_g by index classes = the paper's Eq. 13 written out on the symmetric subspace", EG - eq13)
eg_ss = (K / sp.pi) * (sp.pi / 6 - K * sp.asin(1 / (2 * K)))
check("plain, tau = 1, Saad & Solla's plateau: eps_g = (K/pi)(pi/6 - K asin(1/(2K)))",
      EG.subs({h: 1, tau: 1, Q: 1 / (2 * K - 1), C: 1 / (2 * K - 1), R: 1 / sp.sqrt(K * (2 * K - 1)),
               S: 1 / sp.sqrt(K * (2 * K - 1))}) - eg_ss)

# --------------------------------------------------------------------------
# Fixed points (MODEL.md §4): the O(eta) rates vanish there, K and tau symbolic
# --------------------------------------------------------------------------
def root_simplify(expr):
    """Simplify an algebraic expression whose square roots SymPy leaves unsplit: factor
    each root's argument and split it over the factors (``force``: valid where every
    factor is positive, which the numerical check of :func:`check_algebraic` backs up)."""
    expr = sp.together(expr)
    expr = expr.replace(lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
                        lambda x: sp.Pow(sp.factor(x.base), x.exp))
    return sp.simplify(sp.powdenest(sp.expand_power_base(expr, force=True), force=True))


def check_algebraic(name, expr, points=((2, 1), (3, sp.Rational(5, 2)), (7, 10), (9, sp.Rational(1, 3)))):
    """``expr == 0`` for all K, tau: symbolically (root_simplify) and at exact points to 40 digits."""
    for kv, tv in points:
        v = sp.N(expr.subs({K: kv, tau: tv}), 40)
        if abs(v) > 1e-30:
            raise AssertionError(f"derivation check failed: {name} at K={kv}, tau={tv}: {v}")
    check(name, expr, root_simplify)


Dk = K + (K - 1) * tau
plain_fp = {Q: 1 / Dk, C: 1 / Dk, R: 1 / sp.sqrt(K * Dk), S: 1 / sp.sqrt(K * Dk), h: 1}
h_bn = g / sp.sqrt(tau * Q)
bn_fp = {Q: Dk / tau, C: Dk / tau, R: sp.sqrt(Dk / (tau * K)), S: sp.sqrt(Dk / (tau * K)),
         g: sp.sqrt(tau / Dk)}
for name in ("Q", "C", "R", "S"):
    check_algebraic(f"plain, any K and tau: O(eta) d{name}/dalpha = 0 at Q = C = 1/(K+(K-1)tau), "
                    f"R = S = 1/sqrt(K(K+(K-1)tau))", lin[name].subs(e, 0).subs(plain_fp))
for name in NAMES:
    for rule, ev in (("paper", 0), ("exact", 1)):
        check_algebraic(f"BN {rule} rule, any K and tau: O(eta) d{name}/dalpha = 0 at the paper's "
                        f"(R*, S*, Q*, g*)", lin[name].subs({e: ev, lg: 1}).subs(h, h_bn).subs(bn_fp))

# --------------------------------------------------------------------------
# Step 4: the paper's Hessian, C = Q substituted before differentiating
# --------------------------------------------------------------------------
EG_plain = EG.subs({h: 1, C: Q})
EG_bn = EG.subs(h, h_bn).subs(C, Q)
OMEGA_PLAIN = (R, S, Q)
OMEGA_BN = (R, S, Q, g)
grad_plain = [sp.diff(EG_plain, x) for x in OMEGA_PLAIN]
grad_bn = [sp.diff(EG_bn, x) for x in OMEGA_BN]
hess_plain = [[sp.diff(gx, y) for y in OMEGA_PLAIN] for gx in grad_plain]
hess_bn = [[sp.diff(gx, y) for y in OMEGA_BN] for gx in grad_bn]
# BN: eps_g depends on (R, S, Q) only through R/sqrt(Q), S/sqrt(Q) once C = Q, so it
# is flat along (R, S, Q) -> (cR, cS, c^2 Q): grad . (R, S, 2Q, 0) = 0.
check("BN: eps_g(R, S, Q, g) with C = Q is invariant under (R, S, Q) -> (cR, cS, c^2 Q)",
      R * grad_bn[0] + S * grad_bn[1] + 2 * Q * grad_bn[2])


# --------------------------------------------------------------------------
# Code
# --------------------------------------------------------------------------
def function(name, args, doc, assignments, ret, prefix="t"):
    body = derive.block(assignments, 4, prefix)
    return f'''

def {name}({", ".join(args)}):
    """{doc}"""
{body}
    return {ret}
'''


def generate() -> str:
    parts = []
    ass = [(f"lin_{n}", lin[n]) for n in NAMES] + [(f"quad_{n}", quad[n]) for n in ("Q", "C")]
    parts.append(function(
        "rates", ["Q", "C", "R", "S", "g", "h", "K", "tau", "noise", "e", "lg"],
        "Reduced rates d/dalpha of (Q, C, R, S, g) = eta * lin + eta^2/b * quad (quad of R, S, g is 0).\n\n"
        "    h: 1 (plain) or g/sqrt(tau Q) (BN); e = 1 exact BN rule; lg = 1 learned gain; pass g = 1 for plain.\n"
        "    Returns (lin_Q, lin_C, lin_R, lin_S, lin_g, quad_Q, quad_C).\n    ",
        ass, "lin_Q, lin_C, lin_R, lin_S, lin_g, quad_Q, quad_C"))
    parts.append(function(
        "generalization_error", ["Q", "C", "R", "S", "h", "K", "tau"],
        "eps_g on the symmetric subspace (the paper's Eq. 13), h = 1 (plain) or g/sqrt(tau Q) (BN).",
        [("eg", EG)], "eg"))
    for tag, grad, hess, om in (("plain", grad_plain, hess_plain, OMEGA_PLAIN), ("bn", grad_bn, hess_bn, OMEGA_BN)):
        names = ", ".join(str(x) for x in om)
        n = len(om)
        parts.append(function(
            f"gradient_{tag}", [str(x) for x in om] + ["K", "tau"],
            f"d eps_g / d({names}) with C = Q substituted ({tag}).",
            [(f"d{j}", grad[j]) for j in range(n)], ", ".join(f"d{j}" for j in range(n))))
        hass = [(f"h{j}{l}", hess[j][l]) for j in range(n) for l in range(j, n)]
        rows = ", ".join("(" + ", ".join(f"h{min(j, l)}{max(j, l)}" for l in range(n)) + ")" for j in range(n))
        parts.append(function(
            f"hessian_{tag}", [str(x) for x in om] + ["K", "tau"],
            f"d^2 eps_g / d({names})^2 with C = Q substituted before differentiating ({tag}; the paper's Hessian).",
            hass, "(" + rows + ")"))
    checks = "\n".join(f"#   - {x}" for x in CHECKS)
    return f'''\
# GENERATED by derivations/symmetric.py from the SymPy derivation. DO NOT EDIT.
# Re-generate with `python derivations/symmetric.py`; tests/test_reduced.py
# fails when this file differs from what the derivation produces.
#
# Identities the derivation checked before writing this file:
{checks}
"""Reduced ODEs, generalization error and the paper's Hessian on the symmetric
subspace Q_ii = Q, Q_ik = C, R_ii = R, R_in = S, g_i = g (K = M, T = I), for any K
(a run-time argument). NumPy on scalars or arrays, real or complex.
"""
import numpy
{"".join(parts)}'''


def main(argv=None) -> int:
    return derive.write_or_check(generate, TARGET, CHECKS, "derivations/symmetric.py", __doc__, argv,
                                 numba_module=False)


if __name__ == "__main__":
    sys.exit(main())
