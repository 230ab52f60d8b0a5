"""Derive the order-parameter ODEs of the soft committee machine in SymPy and
generate symphase's numeric kernels from them.

    python derivations/derive.py           # derive, check, write the kernels
    python derivations/derive.py --check   # derive, check, fail if the committed
                                           # kernels differ from what it generates

This file is the only SymPy user of the project. Every equation that the
numeric code evaluates is produced here and written to
``symphase/_generated/ode_kernels.py``; nobody edits that file by hand. The
write-up of the steps is ``derivations/DERIVATION.md``; the steps are:

1. *Update rule -> increments.* One rule covers plain SGD and both batch-norm
   rules of MODEL.md §2:  ``dJ_a = (eta/N) h_a Delta phi'(u_a) (xi - e x_a J_a/Q_aa)``
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
   against the closed form printed in MODEL.md §3 (Saad & Solla 1995).
4. *Code.* The closed forms are split by which loop index they depend on
   (verified identities), simplified with common-subexpression elimination and
   printed into loops over the index sets, so the kernels' size does not grow
   with ``K`` and ``M``.
"""
from __future__ import annotations

import argparse
import difflib
import sys
import textwrap
from pathlib import Path

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "symphase" / "_generated" / "ode_kernels.py"

# --------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------
N, eta, tau, b, noise = sp.symbols("N eta tau b noise", positive=True)
e, lg = sp.symbols("e lg", nonnegative=True)  # exact-rule switch, learned-gain switch
Q_ik, Q_ii, Q_kk = sp.symbols("Q_ik Q_ii Q_kk", real=True)
R_in, R_kn = sp.symbols("R_in R_kn", real=True)
h_i, h_k, g_i = sp.symbols("h_i h_k g_i", real=True)
# pre-activations x_a = J_a . xi, y_n = B_n . xi, and the activation arguments u_a
x_i, x_k, y_n, u_i, u_k = sp.symbols("x_i x_k y_n u_i u_k", real=True)
# d_a = Delta * phi'(u_a), the back-propagated error of unit a
d_i, d_k = sp.symbols("d_i d_k", real=True)


def check(name: str, expr) -> None:
    """Assert a symbolic identity ``expr == 0``; the derivation stops otherwise."""
    if sp.simplify(expr) != 0:
        raise AssertionError(f"derivation check failed: {name}: {sp.simplify(expr)} != 0")
    CHECKS.append(name)


CHECKS: list[str] = []

# --------------------------------------------------------------------------
# Step 1: update rule -> increments of Q and R, N -> oo
# --------------------------------------------------------------------------


class Vec:
    """A vector of R^N as a linear combination of named basis vectors."""

    def __init__(self, terms: dict):
        self.terms = {k: v for k, v in terms.items() if v != 0}

    def __add__(self, other: "Vec") -> "Vec":
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out.get(k, 0) + v
        return Vec(out)

    def __rmul__(self, c) -> "Vec":
        return Vec({k: c * v for k, v in self.terms.items()})

    def dot(self, other: "Vec") -> sp.Expr:
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


def update(h, d, x, Q, J) -> Vec:
    """The weight change of one student for one example (MODEL.md §2)."""
    return (eta / N) * h * d * (XI + (-e * x / Q) * J)


dJ_i = update(h_i, d_i, x_i, Q_ii, J_I)
dJ_k = update(h_k, d_k, x_k, Q_kk, J_K)
# A minibatch averages b independent examples: the linear part of the increment
# has the single-example mean; in the square only the b same-example terms are
# O(1/N), the b(b-1) cross terms are O(1/N^2). Hence the 1/b.
inc_Q = J_I.dot(dJ_k) + dJ_i.dot(J_K) + dJ_i.dot(dJ_k) / b
inc_R = dJ_i.dot(B_N)
# Gain (BN, MODEL.md §2): g_i += (eta/N) Delta phi'(u_i) x_i / (sigma sqrt(Q_ii)) = (eta/N) d_i h_i x_i / g_i
inc_g = lg * (eta / N) * d_i * h_i * x_i / g_i

# alpha counts steps / N: d/dalpha = N * (increment), N -> oo
rate_Q = sp.limit(sp.expand(N * inc_Q), N, sp.oo)
rate_R = sp.limit(sp.expand(N * inc_R), N, sp.oo)
rate_g = sp.limit(sp.expand(N * inc_g), N, sp.oo)

# --------------------------------------------------------------------------
# Step 2: averages over the inputs
# --------------------------------------------------------------------------
# x_a = u_a / h_a (the activation argument is the rescaled pre-activation).
Gs = {(a, c): sp.Symbol(f"G_{a}{c}", real=True) for a in "ik" for c in ("i", "k", "n")}
D_ik, J2_ik = sp.symbols("D_ik J2_ik", real=True)


def average(expr: sp.Expr) -> sp.Expr:
    """<.> over the inputs of a polynomial in d_a, u_a, y_n (at most quadratic in d).

    <d_a u_c> = G_ac, <d_a y_n> = G_an, <d_a d_c> = D_ac + noise J2_ac, which is
    Step 2b below with Delta = sum_p w_p phi(z_p) + zeta.
    """
    expr = sp.expand(expr.subs({x_i: u_i / h_i, x_k: u_k / h_k}))
    poly = sp.Poly(expr, d_i, d_k, u_i, u_k, y_n)
    out = 0
    for (pdi, pdk, pui, puk, pyn), coeff in poly.terms():
        ds = ["i"] * pdi + ["k"] * pdk
        zs = ["i"] * pui + ["k"] * puk + ["n"] * pyn
        if len(ds) == 1 and len(zs) == 1:
            out += coeff * Gs[(ds[0], zs[0])]
        elif len(ds) == 2 and not zs:
            assert sorted(ds) == ["i", "k"]
            out += coeff * (D_ik + noise * J2_ik)
        else:
            raise ValueError(f"unexpected monomial {ds} {zs}")
    return sp.expand(out)


dQ = average(rate_Q)
dR = average(rate_R)
dg = average(rate_g)

# Step 2b: the same averages from Delta = w_p phi(z_p) + zeta for one generic
# field p (the sums are linear, so one term shows them). <zeta> = 0, <zeta^2>
# = noise, zeta independent of the inputs.
phi_p, phi_q, dphi_a, dphi_c, u_c, zeta, w_p, w_q = sp.symbols(
    "phi_p phi_q dphi_a dphi_c u_c zeta w_p w_q", real=True)
I3_acp, I4_acpq, J2_ac = sp.symbols("I3_acp I4_acpq J2_ac", real=True)


def gauss_average(expr: sp.Expr) -> sp.Expr:
    poly = sp.Poly(sp.expand(expr), zeta)
    out = 0
    for (pz,), coeff in poly.terms():
        moment = {0: 1, 1: 0, 2: noise}[pz]
        c = sp.expand(coeff)
        c = c.subs(dphi_a * u_c * phi_p, I3_acp)
        c = c.subs(dphi_a * dphi_c * phi_p * phi_q, I4_acpq).subs(dphi_a * dphi_c, J2_ac)
        out += moment * c
    return sp.expand(out)


check("G_ac = sum_p w_p I3(a,c,p)",
      gauss_average((w_p * phi_p + zeta) * dphi_a * u_c) - w_p * I3_acp)
check("<d_a d_c> = sum_pq w_p w_q I4(a,c,p,q) + noise J2(a,c)",
      gauss_average((w_p * phi_p + zeta) * (w_q * phi_q + zeta) * dphi_a * dphi_c)
      - (w_p * w_q * I4_acpq + noise * J2_ac))

# The plain equations of Saad & Solla (1995) with input variance and batch:
check("plain dQ_ik",
      dQ.subs({h_i: 1, h_k: 1, e: 0})
      - (eta * (Gs["i", "k"] + Gs["k", "i"]) + eta**2 * tau / b * (D_ik + noise * J2_ik)))
check("plain dR_in", dR.subs({h_i: 1, e: 0}) - eta * Gs["i", "n"])
# Exact BN rule: the O(eta) part of dQ_ii vanishes (MODEL.md §5).
check("exact rule: O(eta) part of dQ_ii is 0",
      sp.expand(dQ.subs({e: 1, Q_ik: Q_ii, Q_kk: Q_ii, h_k: h_i, Gs["k", "i"]: Gs["i", "i"],
                         Gs["i", "k"]: Gs["i", "i"], Gs["k", "k"]: Gs["i", "i"]})).coeff(eta, 1))

# --------------------------------------------------------------------------
# Step 3: closed forms of the Gaussian integrals for phi(u) = erf(u/sqrt 2)
# --------------------------------------------------------------------------
c = {(p, q): sp.Symbol(f"c{min(p, q)}{max(p, q)}", real=True) for p in range(1, 5) for q in range(1, 5)}
c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = (c[p] for p in [
    (1, 1), (1, 2), (1, 3), (1, 4), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4), (4, 4)])


def I2(a11, a12, a22):
    """<phi(z1) phi(z2)> (Saad & Solla 1995)."""
    return 2 / sp.pi * sp.asin(a12 / sp.sqrt((1 + a11) * (1 + a22)))


# The printed closed forms (MODEL.md §3)
Lam3 = (1 + c11) * (1 + c33) - c13**2
I3_printed = 2 / sp.pi * (c23 * (1 + c11) - c12 * c13) / ((1 + c11) * sp.sqrt(Lam3))
Lam4 = (1 + c11) * (1 + c22) - c12**2
Lam0 = Lam4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 + c12 * c14 * c23
Lam1 = Lam4 * (1 + c33) - c23**2 * (1 + c11) - c13**2 * (1 + c22) + 2 * c12 * c13 * c23
Lam2 = Lam4 * (1 + c44) - c24**2 * (1 + c11) - c14**2 * (1 + c22) + 2 * c12 * c14 * c24
I4_printed = 4 / sp.pi**2 / sp.sqrt(Lam4) * sp.asin(Lam0 / sp.sqrt(Lam1 * Lam2))
J2_printed = 2 / sp.pi / sp.sqrt(Lam4)

# The arguments of the square roots are positive on valid covariances: name them
# positive so that SymPy may combine the roots.
pos = {s: sp.Symbol(s.name, positive=True) for s in (c11, c22, c33, c44)}


def on_valid(expr):
    return expr.subs(pos)


# I3 by Stein's lemma, <z2 f(z1, z3)> = C12 <d1 f> + C23 <d3 f>, with f = phi'(z1) phi(z3),
# and Price's theorem, d/dC11 <phi(z1)phi(z3)> = 1/2 <phi''(z1)phi(z3)>,
# d/dC13 <phi(z1)phi(z3)> = <phi'(z1)phi'(z3)>:
I2_13 = I2(c11, c13, c33)
I3_derived = 2 * c12 * sp.diff(I2_13, c11) + c23 * sp.diff(I2_13, c13)
# J2 by Price's theorem
J2_derived = sp.diff(I2(c11, c12, c22), c12)
L3s = sp.Symbol("Lambda3", positive=True)
L4s = sp.Symbol("Lambda4", positive=True)


def in_lambda(expr, lam_expr, lam_sym):
    """Rewrite the square-root argument lam_expr as the positive symbol lam_sym."""
    expr = sp.together(sp.powsimp(sp.powdenest(sp.simplify(on_valid(expr)), force=True), force=True))
    return sp.simplify(expr.subs(on_valid(lam_expr), lam_sym).subs(sp.expand(on_valid(lam_expr)), lam_sym))


def equal_by_squares(name, a, b_):
    """a == b as: same sign region (checked at one valid point) and a^2 == b^2 identically."""
    check(name + " (squares)", sp.together(on_valid(a)**2 - on_valid(b_)**2))
    point = {c11: 1, c22: 2, c33: 3, c44: 1, c12: sp.Rational(1, 3), c13: sp.Rational(1, 2),
             c14: sp.Rational(1, 5), c23: sp.Rational(1, 4), c24: sp.Rational(1, 7), c34: sp.Rational(2, 5)}
    va, vb = sp.N(a.subs(point), 30), sp.N(b_.subs(point), 30)
    if abs(va - vb) > 1e-25:
        raise AssertionError(f"derivation check failed: {name} at a valid point: {va} vs {vb}")


equal_by_squares("I3 from Stein+Price equals the printed I3", I3_derived, I3_printed)
equal_by_squares("J2 from Price equals (2/pi) Lambda4^(-1/2)", J2_derived, J2_printed)

# I4: phi'(z1)phi'(z2) = (2/pi) exp(-(z1^2 + z2^2)/2). Absorbing the Gaussian
# factor: <exp(-z_a.z_a/2) f(z_b)> = det(1 + C_aa)^(-1/2) <f(z_b)>~ with the
# conditioned covariance C~ = C_bb - C_ba (1 + C_aa)^-1 C_ab, so
# I4 = (2/pi) det(1 + C_aa)^(-1/2) I2(C~).
Caa = sp.Matrix([[c11, c12], [c12, c22]])
Cab = sp.Matrix([[c13, c14], [c23, c24]])
Cbb = sp.Matrix([[c33, c34], [c34, c44]])
A = sp.eye(2) + Caa
Ct = Cbb - Cab.T * A.inv() * Cab
check("det(1 + C_aa) = Lambda4", A.det() - Lam4)
check("Lambda4 C~34 = Lambda0", sp.cancel(Lam4 * Ct[0, 1] - Lam0))
check("Lambda4 (1 + C~33) = Lambda1", sp.cancel(Lam4 * (1 + Ct[0, 0]) - Lam1))
check("Lambda4 (1 + C~44) = Lambda2", sp.cancel(Lam4 * (1 + Ct[1, 1]) - Lam2))
# hence I2(C~) = (2/pi) asin(Lambda0 / sqrt(Lambda1 Lambda2)) (Lambda4 > 0) and I4 is the printed form.
check("J2 by absorption (no b fields) = (2/pi) det(1+C_aa)^(-1/2)",
      on_valid(2 / sp.pi / sp.sqrt(A.det()) - J2_printed))

# --------------------------------------------------------------------------
# Step 4: split the closed forms by loop level (verified), then print code
# --------------------------------------------------------------------------
# Loops: a = student (index 1), c = any field (index 2), p, q = fields (3, 4).
# I3(1,2,3) = P(c11, c13, c33) c23 - Pc(c11, c13, c33) c12: no transcendental
# function depends on index 2, so G = C.(w P) - C[a, :] sum_p w_p Pc_p.
P3 = 2 / sp.pi / sp.sqrt(Lam3)
Pc3 = 2 / sp.pi * c13 / ((1 + c11) * sp.sqrt(Lam3))
check("I3 = P c23 - Pc c12", I3_printed - (P3 * c23 - Pc3 * c12))
# I4(1,2,3,4) = pref(c11,c12,c22) asin((Lambda4 c34 - A_3 c24 - B_3 c14) r_3 r_4),
# r_3 = Lambda1^(-1/2) depends on field 3 only, r_4 the same function of field 4.
A3 = (1 + c11) * c23 - c12 * c13
B3 = (1 + c22) * c13 - c12 * c23
check("Lambda0 = Lambda4 c34 - A_3 c24 - B_3 c14", sp.expand(Lam0 - (Lam4 * c34 - A3 * c24 - B3 * c14)))
check("Lambda2 is Lambda1 of field 4", sp.expand(Lam2 - Lam1.subs({c33: c44, c13: c14, c23: c24})))
pref4 = 4 / sp.pi**2 / sp.sqrt(Lam4)
r3 = 1 / sp.sqrt(Lam1)
# eps_g = 1/2 <(t - s)^2> = 1/2 sum_pq w_p w_q I2(p, q), I2 = (2/pi) asin(c_pq rho_p rho_q)
rho3 = 1 / sp.sqrt(1 + c33)

# Effective covariance of the fields (u_1..u_K, y_1..y_M): u_a = h_a x_a,
# <x_a x_c> = sigma^2 Q_ac, <x_a y_n> = sigma^2 R_an, <y_n y_m> = sigma^2 T_nm.
Q_ac, R_an, T_nm, h_a, h_c, Q_aa, g_a = sp.symbols("Q_ac R_an T_nm h_a h_c Q_aa g_a", real=True)
cov_ss = h_a * h_c * tau * Q_ac
cov_st = h_a * tau * R_an
cov_tt = tau * T_nm
# h_a: 1 for plain; g_a / (sigma sqrt(Q_aa)) for batch norm (MODEL.md §1).
h_plain, h_bn = sp.Integer(1), g_a / sp.sqrt(tau * Q_aa)

# --------------------------------------------------------------------------
# Code printing
# --------------------------------------------------------------------------


class Printer(NumPyPrinter):
    def __init__(self):
        super().__init__({"fully_qualified_modules": True})

    def _print_Symbol(self, s):  # noqa: N802 - SymPy's printer protocol
        return s.name


PRINTER = Printer()


def block(assignments: list[tuple[str, sp.Expr]], indent: int, prefix: str) -> str:
    """CSE over a group of assignments, printed as Python statements."""
    names = [n for n, _ in assignments]
    exprs = [x for _, x in assignments]
    syms = sp.numbered_symbols(prefix)
    reps, reduced = sp.cse(exprs, symbols=syms, optimizations="basic")
    lines = [f"{s} = {PRINTER.doprint(v)}" for s, v in reps]
    lines += [f"{n} = {PRINTER.doprint(v)}" for n, v in zip(names, reduced)]
    return textwrap.indent("\n".join(lines), " " * indent)


def render_symbols(expr, mapping):
    return expr.subs({k: sp.Symbol(v) for k, v in mapping.items()})


def generate() -> str:
    # Names the loop code uses for covariance entries: 1 = a, 2 = c, 3 = p, 4 = q.
    G_code = block([
        ("Pp", P3.subs({c11: sp.Symbol("caa"), c13: sp.Symbol("cap"), c33: sp.Symbol("cpp")})),
        ("Pcp", Pc3.subs({c11: sp.Symbol("caa"), c13: sp.Symbol("cap"), c33: sp.Symbol("cpp")})),
    ], 12, "t")
    pair_code = block([
        ("pref", pref4.subs({c11: sp.Symbol("caa"), c12: sp.Symbol("cac"), c22: sp.Symbol("ccc")})),
        ("lam4", Lam4.subs({c11: sp.Symbol("caa"), c12: sp.Symbol("cac"), c22: sp.Symbol("ccc")})),
        ("j2", J2_printed.subs({c11: sp.Symbol("caa"), c12: sp.Symbol("cac"), c22: sp.Symbol("ccc")})),
    ], 12, "t")
    mp = {c11: sp.Symbol("caa"), c12: sp.Symbol("cac"), c22: sp.Symbol("ccc"),
          c13: sp.Symbol("cap"), c23: sp.Symbol("ccp"), c33: sp.Symbol("cpp")}
    field_code = block([
        ("A[p]", A3.subs(mp)), ("B[p]", B3.subs(mp)), ("r[p]", r3.subs(mp)),
    ], 16, "s")
    lam0 = sp.Symbol("lam4") * sp.Symbol("C[p, q]") - sp.Symbol("A[p]") * sp.Symbol("C[c, q]") \
        - sp.Symbol("B[p]") * sp.Symbol("C[a, q]")
    inner = f"numpy.arcsin(({PRINTER.doprint(lam0)}) * r[p] * r[q])"
    eg_rho = PRINTER.doprint(rho3.subs(c33, sp.Symbol("C[p, p]")))
    h_code = block([("ha", h_bn)], 12, "t").replace("g_a", "g[a]").replace("Q_aa", "Q[a, a]")
    cov = {
        "ss": PRINTER.doprint(cov_ss.subs({h_a: sp.Symbol("h[a]"), h_c: sp.Symbol("h[c]"), Q_ac: sp.Symbol("Q[a, c]")})),
        "st": PRINTER.doprint(cov_st.subs({h_a: sp.Symbol("h[a]"), R_an: sp.Symbol("R[a, n]")})),
        "tt": PRINTER.doprint(cov_tt.subs({T_nm: sp.Symbol("T[n, m]")})),
    }
    # Assembly of the right-hand side from the averages
    asm_map = {Q_ik: "Q[i, k]", Q_ii: "Q[i, i]", Q_kk: "Q[k, k]", R_in: "R[i, n]",
               h_i: "h[i]", h_k: "h[k]", g_i: "g[i]", D_ik: "D[i, k]", J2_ik: "J2[i, k]",
               Gs["i", "k"]: "G[i, k]", Gs["k", "i"]: "G[k, i]", Gs["i", "i"]: "G[i, i]",
               Gs["k", "k"]: "G[k, k]", Gs["i", "n"]: "G[i, K + n]"}
    dQ_code = block([("v", render_symbols(dQ, asm_map))], 12, "t")
    dR_code = block([("dR[i, n]", render_symbols(dR, asm_map))], 12, "t")
    dg_code = block([("dg[i]", render_symbols(dg, asm_map))], 8, "t")

    # Scalar closed forms on a covariance matrix (for users and tests)
    cm = {c[(p, q)]: sp.Symbol(f"C[{p - 1}, {q - 1}]") for p in range(1, 5) for q in range(p, 5)}
    scalar = {name: block([("v", expr.subs(cm))], 4, "t")
              for name, expr in [("i2", I2(c11, c12, c22)), ("i3", I3_printed),
                                 ("i4", I4_printed), ("j2", J2_printed)]}
    checks = "\n".join(f"#   - {c}" for c in CHECKS)
    return f'''\
# GENERATED by derivations/derive.py from the SymPy derivation. DO NOT EDIT.
# Re-generate with `python derivations/derive.py`; tests/test_generated.py
# fails when this file differs from what the derivation produces.
#
# Identities the derivation checked before writing this file:
{checks}
"""Numeric kernels of the order-parameter ODEs (generated).

Fields are the students' activation arguments u_a (a < K) followed by the
teachers' y_n; C is their covariance, w their sign in Delta = t - s
(-1 student, +1 teacher). All functions write into preallocated arrays and are
generic in the float type (float64, or complex128 for complex-step derivatives).
"""
import numba
import numpy


@numba.njit(cache=True, error_model="numpy", inline="always")
def i2(C):
    """<phi(z1) phi(z2)> for z ~ N(0, C), C 2x2 (Saad & Solla 1995)."""
{scalar["i2"]}
    return v


@numba.njit(cache=True, error_model="numpy", inline="always")
def i3(C):
    """<phi'(z1) z2 phi(z3)> for z ~ N(0, C), C 3x3 (Saad & Solla 1995)."""
{scalar["i3"]}
    return v


@numba.njit(cache=True, error_model="numpy", inline="always")
def i4(C):
    """<phi'(z1) phi'(z2) phi(z3) phi(z4)> for z ~ N(0, C), C 4x4 (Saad & Solla 1995)."""
{scalar["i4"]}
    return v


@numba.njit(cache=True, error_model="numpy", inline="always")
def j2(C):
    """<phi'(z1) phi'(z2)> for z ~ N(0, C), C 2x2 (Price's theorem on I2)."""
{scalar["j2"]}
    return v


@numba.njit(cache=True, error_model="numpy", inline="always")
def scale_factors(Q, g, tau, bn, h):
    """h_a: 1 for plain; g_a / (sigma sqrt(Q_aa)) for batch norm (MODEL.md §1)."""
    for a in range(Q.shape[0]):
        if bn:
{h_code}
            h[a] = ha
        else:
            h[a] = 1.0


@numba.njit(cache=True, error_model="numpy", inline="always")
def effective_covariance(Q, R, T, h, tau, C):
    """Covariance of (u_1..u_K, y_1..y_M): C = sigma^2 [[hQh, hR], [R'h, T]] (MODEL.md §3)."""
    K, M = R.shape
    for a in range(K):
        for c in range(a, K):
            C[a, c] = C[c, a] = {cov["ss"]}
        for n in range(M):
            C[a, K + n] = C[K + n, a] = {cov["st"]}
    for n in range(M):
        for m in range(n, M):
            C[K + n, K + m] = C[K + m, K + n] = {cov["tt"]}


@numba.njit(cache=True, error_model="numpy", inline="always")
def field_sums(C, w, K, G, D, J2, P, Pc, A, B, r):
    """G[a, c] = sum_p w_p I3(a, c, p); D[a, c] = sum_pq w_p w_q I4(a, c, p, q); J2[a, c].

    a runs over the K students, c over all fields for G and over students for D.
    P, Pc, A, B, r are work arrays of length C.shape[0].
    """
    NF = C.shape[0]
    for a in range(K):
        caa = C[a, a]
        s = 0.0 * caa
        for p in range(NF):
            cap = C[a, p]
            cpp = C[p, p]
{G_code}
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
{pair_code}
            J2[a, c] = J2[c, a] = j2
            for p in range(NF):
                cap = C[a, p]
                ccp = C[c, p]
                cpp = C[p, p]
{field_code}
            acc = 0.0 * caa
            for p in range(NF):
                q = p
                accp = 0.5 * w[p] * {inner}
                for q in range(p + 1, NF):
                    accp += w[q] * {inner}
                acc += w[p] * accp
            D[a, c] = D[c, a] = 2.0 * pref * acc


@numba.njit(cache=True, error_model="numpy", inline="always")
def generalization_error(C, w, rho):
    """eps_g = 1/2 sum_pq w_p w_q I2(p, q) (the paper's Eq. 13); rho is a work array."""
    NF = C.shape[0]
    for p in range(NF):
        rho[p] = {eg_rho}
    acc = 0.0 * C[0, 0]
    for p in range(NF):
        accp = 0.5 * w[p] * numpy.arcsin(C[p, p] * rho[p] * rho[p])
        for q in range(p + 1, NF):
            accp += w[q] * numpy.arcsin(C[p, q] * rho[p] * rho[q])
        acc += w[p] * accp
    return 2.0 * acc / numpy.pi


@numba.njit(cache=True, error_model="numpy", inline="always")
def assemble(Q, R, g, h, G, D, J2, eta, tau, b, noise, e, lg, dQ, dR, dg):
    """dQ/dalpha, dR/dalpha, dg/dalpha from the averages G, D, J2 (Step 1-2 of the derivation).

    e = 1 selects the exact BN rule, lg = 1 a learned gain.
    """
    K, M = R.shape
    for i in range(K):
        for k in range(i, K):
{dQ_code}
            dQ[i, k] = dQ[k, i] = v
        for n in range(M):
{dR_code}
{dg_code}
'''


def clear_numba_cache() -> None:
    """Numba's on-disk cache tracks only each function's own file, not the
    generated functions it calls: drop it so every kernel recompiles."""
    for path in (ROOT / "symphase").rglob("*.nb[ic]"):
        path.unlink()


def write_or_check(generate, target: Path, checks: list, script: str, doc: str, argv=None, *,
                   numba_module: bool = True) -> int:
    """The command line every generator in derivations/ shares: write ``target``
    from ``generate()``, or with ``--check`` fail (exit 1, with the diff) when the
    committed file differs. ``numba_module``: clear Numba's on-disk cache after
    writing (see :func:`clear_numba_cache`)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="fail if the committed generated module differs")
    args = ap.parse_args(argv)
    code = generate()
    if args.check:
        current = target.read_text() if target.exists() else ""
        if current != code:
            diff = "".join(difflib.unified_diff(current.splitlines(True), code.splitlines(True),
                                                str(target), "derived"))
            print(f"{target} is not current; run python {script}\n{diff[-5000:]}", file=sys.stderr)
            return 1
        print(f"{target.relative_to(ROOT)} is current ({len(checks)} identities checked)")
        return 0
    target.write_text(code)
    print(f"wrote {target.relative_to(ROOT)} ({len(checks)} identities checked)")
    if numba_module:
        clear_numba_cache()
    return 0


def main(argv=None) -> int:
    return write_or_check(generate, TARGET, CHECKS, "derivations/derive.py", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
