"""Derive the closed form of the diffusion matrix's leading part in eta and generate
``symphase/_generated/diffusion.py``.

    python -m derivations.diffusion           # derive, check, write the module
    python -m derivations.diffusion --check   # fail if the committed module differs

The per-example rates ``psi`` (``derivations/fluctuations.py``) are ``eta psi1 + eta^2 psi2``;
``psi1`` is linear in the monomials ``d_a z_c`` (``d_a = Delta phi'(u_a)``, ``z_c`` a raw field).
So the ``O(eta^2)`` part of the diffusion matrix ``D = Cov[psi]/b`` needs

    M4[a, b, c, e] = <Delta^2 phi'(f_a) phi'(f_b) f_c f_e>

over the effective fields ``f`` (covariance ``C``, docs/model.md §3). Closed form, in three steps
(each checked below):

1. *Absorption* (as for ``I4`` in derive.py): ``phi'(f_a) phi'(f_b) = (2/pi) exp(-(f_a^2 + f_b^2)/2)``,
   so ``<phi'_a phi'_b F(f)> = (2/pi) det(1 + C_SS)^(-1/2) <F>'`` with ``S = {a, b}`` and the
   conditioned covariance ``C' = C - C_{.S} (1 + C_SS)^(-1) C_{S.}`` (also for ``a = b``).
2. *Stein's lemma twice*: ``<f_c f_e F>' = C'_ce <F>' + sum_rs C'_cr C'_es <d_r d_s F>'``, with
   ``F = phi(f_p) phi(f_q)`` (``Delta^2 = sum_pq w_p w_q phi_p phi_q + noise``):
   ``<f_c f_e phi_p phi_q> = C'_ce I2 + C'_cp C'_ep K2(p, q) + C'_cq C'_eq K2(q, p)
   + (C'_cp C'_eq + C'_cq C'_ep) J2``.
3. *Price's theorem*: ``K2(p, q) = <phi''(f_p) phi(f_q)> = 2 dI2/dC_pp``; ``J2 = dI2/dC_pq``.

The higher parts of ``D`` (``O(eta^3/b)``, ``O(eta^4/b^2)``) are averages of six and eight erf
factors with no closed form; symphase keeps them to quasi-Monte Carlo (docs/model.md §12).
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations import fluctuations as fl
from derivations._checks import Checks

MODULE = "derivations.diffusion"
TARGET = cg.GENERATED_DIR / "diffusion.py"
TEMPLATE = cg.TEMPLATES / "diffusion.py"

# The 2x2 block of the absorbed fields S = {a, b} and the entries that condition on it
caa, cab, cbb, cca, ccb, cae, cbe, cce, lam = sp.symbols("caa cab cbb cca ccb cae cbe cce lam", real=True)
c11, c12, c22 = base.c11, base.c12, base.c22


@dataclass(frozen=True)
class Derivation:
    lam: sp.Expr          # det(1 + C_SS)
    pre: sp.Expr          # (2/pi) det(1 + C_SS)^(-1/2)
    conditioned: sp.Expr  # C'_ce, with lam the determinant
    I2: sp.Expr
    J2: sp.Expr
    K2_12: sp.Expr        # <phi''(z1) phi(z2)>
    K2_21: sp.Expr        # <phi(z1) phi''(z2)>
    psi_q: tuple          # coefficients of (d_k x_i, d_i x_k, d_i x_i, d_k x_k) in psi1_Qik
    psi_r: tuple          # coefficients of (d_i y_n, d_i x_i) in psi1_Rin
    psi_g: sp.Expr        # coefficient of d_i x_i in psi1_gi
    checks: Checks


def gaussian_moment(expr, L, w):
    """<expr> for z = L w, w standard normal: expr a polynomial in the w's (Isserlis)."""
    poly = sp.Poly(sp.expand(expr), *w)
    out = 0
    for powers, coeff in poly.terms():
        m = 1
        for k in powers:
            m *= 0 if k % 2 else sp.factorial2(k - 1)
        out += coeff * m
    return sp.expand(out)


def check_stein_and_price(checks: Checks) -> None:
    """Stein's formula of step 2 and Price's theorem of step 3, on polynomial test functions of a
    generic Gaussian (exact by Isserlis), since both hold for any smooth F."""
    w = sp.symbols("w1:5", real=True)
    Lm = sp.Matrix(4, 4, lambda p, q: sp.Symbol(f"l{p}{q}", real=True) if q <= p else 0)
    z = Lm * sp.Matrix(w)
    C = Lm * Lm.T
    x = sp.Symbol("x")
    P = x**3 - 2 * x   # stands for phi at field p = 3
    Qf = x**2 + x      # stands for phi at field q = 4
    zc, ze, zp, zq = z[0], z[1], z[2], z[3]
    lhs = gaussian_moment(zc * ze * P.subs(x, zp) * Qf.subs(x, zq), Lm, w)
    Pp, Pq = sp.diff(P, x), sp.diff(Qf, x)
    Ppp, Pqq = sp.diff(P, x, 2), sp.diff(Qf, x, 2)

    def mom(expr):
        return gaussian_moment(expr, Lm, w)
    rhs = (C[0, 1] * mom(P.subs(x, zp) * Qf.subs(x, zq))
           + C[0, 2] * C[1, 2] * mom(Ppp.subs(x, zp) * Qf.subs(x, zq))
           + C[0, 3] * C[1, 3] * mom(P.subs(x, zp) * Pqq.subs(x, zq))
           + (C[0, 2] * C[1, 3] + C[0, 3] * C[1, 2]) * mom(Pp.subs(x, zp) * Pq.subs(x, zq)))
    checks.check("Stein twice: <z_c z_e P(z_p) Q(z_q)> = C_ce <PQ> + C_cp C_ep <P''Q> + C_cq C_eq <PQ''> "
                 "+ (C_cp C_eq + C_cq C_ep) <P'Q'> (polynomial P, Q, generic Gaussian)", sp.expand(lhs - rhs),
                 simplify=sp.expand)
    # Price: d<P(z1) Q(z2)>/dC_11 = 1/2 <P''(z1) Q(z2)> on the 2x2 covariance [[a, r], [r, b]]
    a, r, bb = sp.symbols("a r b", positive=True)
    w2 = sp.symbols("v1:3", real=True)
    L2 = sp.Matrix([[sp.sqrt(a), 0], [r / sp.sqrt(a), sp.sqrt(bb - r**2 / a)]])
    z2 = L2 * sp.Matrix(w2)
    moment2 = functools.partial(gaussian_moment, L=L2, w=w2)
    lhs = sp.diff(moment2(P.subs(x, z2[0]) * Qf.subs(x, z2[1])), a)
    rhs = moment2(Ppp.subs(x, z2[0]) * Qf.subs(x, z2[1])) / 2
    checks.check("Price: d<P(z1) Q(z2)>/dC11 = <P''(z1) Q(z2)>/2 (polynomial P, Q)", sp.simplify(lhs - rhs))


def linear_coefficients(checks: Checks):
    """The coefficients of the monomials d_a z_c in psi1 = d psi / d eta at eta = 0 (fluctuations.py)."""
    d = fl.derive()
    lin = {k: sp.expand(sp.diff(v, base.eta).subs(base.eta, 0)) for k, v in
           (("q", d.psi_q), ("r", d.psi_r), ("g", d.psi_g))}
    di, dk, xi, xk, yn = base.d_i, base.d_k, base.x_i, base.x_k, base.y_n
    q = tuple(lin["q"].coeff(m1).coeff(m2) for m1, m2 in ((dk, xi), (di, xk), (di, xi), (dk, xk)))
    checks.check("psi1_Q is sum of coefficient x d_a z_c over (d_k x_i, d_i x_k, d_i x_i, d_k x_k)",
                 lin["q"] - (q[0] * dk * xi + q[1] * di * xk + q[2] * di * xi + q[3] * dk * xk), simplify=sp.expand)
    r = tuple(lin["r"].coeff(m1).coeff(m2) for m1, m2 in ((di, yn), (di, xi)))
    checks.check("psi1_R is sum of coefficient x d_a z_c over (d_i y_n, d_i x_i)",
                 lin["r"] - (r[0] * di * yn + r[1] * di * xi), simplify=sp.expand)
    gcoef = lin["g"].coeff(di).coeff(xi)
    checks.check("psi1_g = coefficient x d_i x_i", lin["g"] - gcoef * di * xi, simplify=sp.expand)
    return q, r, gcoef


@functools.cache
def derive() -> Derivation:
    checks = Checks()
    # Step 1: absorption. det(1 + C_SS) and the conditioned covariance, also for a = b.
    A = sp.Matrix([[1 + caa, cab], [cab, 1 + cbb]])
    det = A.det()
    cond = cce - (sp.Matrix([[cca, ccb]]) * A.inv() * sp.Matrix([cae, cbe]))[0, 0]
    cond_form = cce - (cca * (1 + cbb) * cae - cca * cab * cbe - ccb * cab * cae + ccb * (1 + caa) * cbe) / lam
    checks.check("C'_ce = C_ce - C_cS (1 + C_SS)^-1 C_Se", sp.cancel(cond - cond_form.subs(lam, det)))
    checks.check("det(1 + C_SS) = Lambda4 of derive.py", sp.expand(det - base.derive().Lam[base.Lambda4].subs(
        {c11: caa, c12: cab, c22: cbb})))
    same = {cbb: caa, cab: caa, ccb: cca, cbe: cae}
    checks.check("a = b: det = 1 + 2 C_aa", sp.expand(det.subs(same) - (1 + 2 * caa)))
    checks.check("a = b: C'_ce = C_ce - 2 C_ca C_ae/(1 + 2 C_aa) (the factor exp(-f_a^2))",
                 sp.cancel(cond.subs(same) - (cce - 2 * cca * cae / (1 + 2 * caa))))
    pre = 2 / sp.pi / sp.sqrt(lam)
    # Steps 2-3: Stein and Price, and the closed forms on a 2x2 covariance
    check_stein_and_price(checks)
    I2 = base.I2(c11, c12, c22)
    base.equal_by_squares(checks, "J2 = dI2/dC12 (Price) is derive.py's J2", sp.diff(I2, c12), base.derive().J2)
    J2 = base.derive().J2
    K2_12 = sp.simplify(2 * sp.diff(I2, c11))
    K2_21 = sp.simplify(2 * sp.diff(I2, c22))
    q, r, gcoef = linear_coefficients(checks)
    return Derivation(lam=det, pre=pre, conditioned=cond_form, I2=I2, J2=J2, K2_12=K2_12,
                      K2_21=K2_21, psi_q=q, psi_r=r, psi_g=gcoef, checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/diffusion.py``."""
    d = derive()
    ref = dict(spec="§12", derivation="§12", generator=MODULE)
    S = sp.Symbol
    pair = {c11: S("cpp"), c12: S("cpq"), c22: S("cqq")}
    fills = {
        "njit_options": cg.keywords({**cg.NJIT_OPTIONS, "inline": "always"}),
        "absorb": cg.statements([("lam", d.lam), ("pre", d.pre.subs(lam, d.lam))]),
        "conditioned": cg.expression(d.conditioned),
        "pair_forms": cg.statements([("i2", d.I2.subs(pair)), ("j2", d.J2.subs(pair)),
                                     ("k2pq", d.K2_12.subs(pair)), ("k2qp", d.K2_21.subs(pair))]),
        "psi_q_lin": cg.statements([(f"c{j}", x) for j, x in enumerate(d.psi_q)]),
        "psi_r_lin": cg.statements([(f"c{j}", x) for j, x in enumerate(d.psi_r)]),
        "psi_g_lin": cg.statements([("c0", d.psi_g)]),
        "doc_absorb": cg.doc(cg.formula("lam = det(1 + C_SS)", d.lam), cg.formula("pre", d.pre), **ref),
        "doc_field_moments": cg.doc(
            "<f_c f_e phi_p phi_q>' = C'_ce I2 + C'_cp C'_ep K2(p, q) + C'_cq C'_eq K2(q, p) + "
            "(C'_cp C'_eq + C'_cq C'_ep) J2 (Stein twice), summed with the weights w_p w_q; "
            "<phi'_a phi'_b F> = pre <F>' (absorption).", **ref),
        "doc_conditioned": cg.doc(cg.formula("C'_ce", d.conditioned), **ref),
        "doc_pair_forms": cg.doc(cg.formula("I2", d.I2), cg.formula("J2 = dI2/dc12", d.J2),
                                 cg.formula("K2(p, q) = <phi''(z_p) phi(z_q)> = 2 dI2/dc11", d.K2_12),
                                 "with c11 = cpp, c12 = cpq, c22 = cqq", **ref),
        "doc_psi_q_lin": cg.doc("Coefficients of d_k x_i, d_i x_k, d_i x_i, d_k x_k in d psi_Qik/d eta at eta = 0:",
                                *[line for j, x in enumerate(d.psi_q) for line in cg.formula(f"  c{j}", x)], **ref),
        "doc_psi_r_lin": cg.doc("Coefficients of d_i y_n, d_i x_i in d psi_Rin/d eta:",
                                *[line for j, x in enumerate(d.psi_r) for line in cg.formula(f"  c{j}", x)], **ref),
        "doc_psi_g_lin": cg.doc(cg.formula("Coefficient of d_i x_i in d psi_gi/d eta", d.psi_g), **ref),
    }
    return cg.header(MODULE, "derivations/templates/diffusion.py", d.checks) + cg.fill_template(TEMPLATE, fills)


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=True)


if __name__ == "__main__":
    sys.exit(main())
