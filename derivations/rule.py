"""Derive the learning rule per example and generate its kernel, ``symphase/_generated/rule.py``.

    python -m derivations.rule           # derive, check, write the module
    python -m derivations.rule --check   # fail if the committed module differs

The rule is the one place that says how one example moves the weights
(docs/model.md §2, §13; derivations/DERIVATION.md §13). For one example with
error ``Delta = t - s``, ``s = c sum_a v_a phi(u_a)``, unit ``i`` with raw field
``x_i = J_i . xi``, activation argument ``u_i = h_i x_i`` and back-propagated
error ``d_i = Delta phi'(u_i)``, SGD moves the weights inside ``span(J, B, xi)``:

    J_i += a_i xi - p_i J_i    (summed over the batch; weight decay -(lam/N) J_i once per step)
    g_i += dg_i                (BN, learned gain)
    v_i += dv_i                (learned second layer; -(lam/N) v_i once per step)

with ``a_i = lr m_i h_i d_i``, ``p_i = e a_i x_i/Q_ii``, ``dg_i = lr m_i d_i x_i/(sigma sqrt Q_ii)``,
``dv_i = lr2 c Delta phi(u_i)``, ``m_i = c v_i``, ``lr = eta/(N b)``, ``lr2 = eta2/(N b)``.

:func:`derive` obtains these coefficients as ``-lr`` times the gradient of the loss
``Delta^2/2`` (on explicit components: the exact BN rule differentiates through
the normalization ``sqrt(J_i . J_i)``, the paper's rule holds it fixed, plain SGD
has none) and checks them. ``derive.py`` builds the ODE from exactly these
coefficients (``derive.update``) and checks that the ODE's rates are the averages
of this update as the overlap chain applies it.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations._checks import Checks

MODULE = "derivations.rule"
TARGET = cg.GENERATED_DIR / "rule.py"
TEMPLATE = cg.TEMPLATES / "rule.py"

# --------------------------------------------------------------------------
# Symbols of one example and one unit
# --------------------------------------------------------------------------
lr, lr2 = sp.symbols("lr lr2", positive=True)  # eta/(N b), eta2/(N b)
e, lg, lv = sp.symbols("e lg lv", nonnegative=True)  # exact-rule, learned-gain, learned-v switches
delta, d, f = sp.symbols("delta d f", real=True)  # Delta, d_i = Delta phi'(u_i), phi(u_i)
m, h, x, q, inv_s, cs = sp.symbols("m h x q inv_s cs", real=True)  # m_i = c v_i, h_i, x_i, Q_ii, 1/(sigma sqrt Q_ii), c
a_sym = sp.Symbol("a", real=True)  # the coefficient a_i, as the kernel reads it back
u = sp.Symbol("u", real=True)
# batch statistics: the unit's gain, batch standard deviation, the error signal and <d z>
g_s, sd, dz, b_s = sp.symbols("g sd dz b", real=True)


def ordered(*factors):
    """A product kept in the written order (the kernel rounds as it is written, left to right)."""
    return sp.Mul(*factors, evaluate=False)


@dataclass(frozen=True)
class Derivation:
    a: sp.Expr        # coefficient of xi
    p: sp.Expr        # coefficient of -J_i (the exact rule's projector)
    dg: sp.Expr       # the gain's increment
    dv: sp.Expr       # the second layer's increment
    dphi: sp.Expr     # phi'(u) of erf(u/sqrt 2)
    # the kernel's forms: the same expressions as unevaluated products in the kernel's order
    code: dict
    bs_coef: sp.Expr  # batch statistics: coefficient of xi^u per unit d'
    bs_gain: sp.Expr
    checks: Checks


def gradient_checks(checks: Checks):
    """The coefficients are ``-lr`` times the loss gradient, on explicit components (n = 3)."""
    n = 3
    J = sp.Matrix(sp.symbols("J1:4", real=True))
    XI = sp.Matrix(sp.symbols("xi1:4", real=True))
    g, sigma, v, t, rest = sp.symbols("g sigma v t rest", real=True)
    phi = sp.Function("phi")
    xf = (J.T * XI)[0]
    Qf = (J.T * J)[0]
    sub = {}

    def coefficients(hval, ee):
        hv = hval.subs(sub)
        return (lr * cs * v * hv * d, ee * lr * cs * v * hv * d * x / q)

    # u as a function of the weights: plain x; BN g x/(sigma sqrt(J.J)) (with the statistics, exact rule)
    for name, uf, hval, ee in [("plain", xf, sp.Integer(1), 0),
                               ("BN exact", g * xf / (sigma * sp.sqrt(Qf)), g / (sigma * sp.sqrt(q)), 1)]:
        s = cs * v * phi(uf) + rest  # the output: this unit and the others (rest)
        loss = (t - s) ** 2 / 2
        a_, p_ = coefficients(hval, ee)
        for comp in range(n):
            step = -lr * sp.diff(loss, J[comp])
            # the claimed form, with d = Delta phi'(u), x = J.xi, q = J.J
            claimed = a_ * XI[comp] - p_ * J[comp]
            claimed = claimed.subs({d: (t - s) * sp.Subs(sp.Derivative(phi(u), u), u, uf).doit(), x: xf, q: Qf})
            checks.check(f"{name}: -lr dL/dJ_{comp + 1} = a xi - p J (component {comp + 1})",
                         sp.simplify(step.doit() - claimed))
    # the paper's rule: the gradient with the statistics sqrt(J.J) held fixed (as a constant q0)
    q0 = sp.Symbol("q0", positive=True)
    uf = g * xf / (sigma * sp.sqrt(q0))
    loss = (t - cs * v * phi(uf) - rest) ** 2 / 2
    dval = (t - cs * v * phi(uf) - rest) * sp.Subs(sp.Derivative(phi(u), u), u, uf).doit()
    for comp in range(n):
        step = -lr * sp.diff(loss, J[comp])
        checks.check(f"BN paper: -lr dL/dJ_{comp + 1} at fixed statistics = a xi (component {comp + 1})",
                     sp.simplify(step.doit() - lr * cs * v * g / (sigma * sp.sqrt(q0)) * dval * XI[comp]))
    # the gain and the second layer (BN with statistics)
    uf = g * xf / (sigma * sp.sqrt(Qf))
    s = cs * v * phi(uf) + rest
    loss = (t - s) ** 2 / 2
    dval = (t - s) * sp.Subs(sp.Derivative(phi(u), u), u, uf).doit()
    checks.check("gain: -lr dL/dg = lr m d x/(sigma sqrt Q)",
                 sp.simplify((-lr * sp.diff(loss, g)).doit() - lr * cs * v * dval * xf / (sigma * sp.sqrt(Qf))))
    checks.check("second layer: -lr2 dL/dv = lr2 c Delta phi(u)",
                 sp.simplify((-lr2 * sp.diff(loss, v)).doit() - lr2 * cs * (t - s) * phi(uf)))


@functools.cache
def derive() -> Derivation:
    """The per-example coefficients of SGD, every step checked."""
    checks = Checks()
    gradient_checks(checks)
    a = lr * m * h * d
    p = e * a_sym * x / q  # reads a back (the kernel computes a first)
    dg = lg * lr * m * d * x * inv_s
    dv = lv * lr2 * cs * delta * f
    # the activation: phi(u) = erf(u/sqrt 2), phi'(u) = sqrt(2/pi) exp(-u^2/2)
    dphi = sp.diff(sp.erf(u / sp.sqrt(2)), u)
    checks.check("erf: phi'(u) = sqrt(2/pi) exp(-u^2/2)", dphi - sp.sqrt(2 / sp.pi) * sp.exp(-u**2 / 2))
    # the kernel's forms, in the kernel's names (the order of the products is the kernel's order of rounding)
    S = sp.Symbol
    kern = {h: S("h[i]"), x: S("x[i]"), q: S("q[i]"), inv_s: S("inv_s[i]")}
    code = {"a": ordered(lr, m, kern[h], d), "p": ordered(a_sym, kern[x], sp.Pow(kern[q], -1, evaluate=False)),
            "dg": ordered(lr, m, d, kern[x], kern[inv_s]), "dv": ordered(lr2, cs, delta, f)}
    back = {v_: k_ for k_, v_ in kern.items()}
    for name, full, switch in (("a", a, 1), ("p", p, e), ("dg", dg, lg), ("dv", dv, lv)):
        checks.check(f"the kernel's {name} is the derived coefficient", switch * code[name].doit().subs(back) - full)
    # batch statistics (docs/model.md §2.3): x_hat = g z, the coefficient of xi^u is lr (g/s) d'
    # and the gain's increment lr b <d z>; the same rule with h = g/s (m = 1) and x/s -> z
    gi, sdi = S("g[i]"), S("sd[i]")
    bs_coef = ordered(ordered(lr, gi, sp.Pow(sdi, -1, evaluate=False)), d)
    bs_gain = ordered(lr, b_s, dz)
    checks.check("batch statistics: the coefficient is a with m = 1, h = g/s",
                 bs_coef.doit().subs({gi: g_s, sdi: sd}) - a.subs({m: 1, h: g_s / sd}))
    return Derivation(a=a, p=p, dg=dg, dv=dv, dphi=dphi, code=code, bs_coef=bs_coef, bs_gain=bs_gain, checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/rule.py``."""
    dd = derive()
    opts = {**cg.NJIT_OPTIONS, "nogil": True, "inline": "always"}

    def ref(spec):
        return {"spec": spec, "derivation": "§13", "generator": MODULE}

    coefs = [cg.formula("a_i", dd.a), cg.formula("p_i", dd.p.subs(a_sym, sp.Symbol("a_i"))),
             cg.formula("dg_i", dd.dg), cg.formula("dv_i", dd.dv)]
    fills = {
        "njit_options": cg.keywords(opts),
        # the per-example kernel is called, not inlined by Numba (LLVM still may): inlining it at
        # Numba's level into the four engines made their first compile about 45% slower
        "njit_options_call": cg.keywords({**cg.NJIT_OPTIONS, "nogil": True}),
        "a": cg.expression(dd.code["a"], ordered=True),
        "p": cg.expression(dd.code["p"], ordered=True),
        "dg": cg.expression(dd.code["dg"], ordered=True),
        "dv": cg.expression(dd.code["dv"], ordered=True),
        "bs_coef": cg.expression(dd.bs_coef, ordered=True),
        "bs_gain": cg.expression(dd.bs_gain, ordered=True),
        "doc_phi": cg.doc("phi(u) = erf(u/sqrt 2) (ERF), u (LINEAR), max(u, 0) (RELU)", **ref("§1.2")),
        "doc_error_signal": cg.doc(cg.formula("d = Delta phi'(u), phi'(u) (ERF)", dd.dphi),
                                   "phi'(u) = 1 (LINEAR), 1 for u > 0 else 0 (RELU)", **ref("§2.1")),
        "doc_output_error": cg.doc("Delta = sum_n vt_n phi(y_n) + noise - c sum_i v_i phi(h_i x_i)",
                                   **ref("§13")),
        "doc_sgd_example": cg.doc(
            "J_i += a_i xi - p_i J_i, g_i += dg_i, v_i += dv_i with", *coefs,
            "d = Delta phi'(h x) (error_signal), f = phi(h x), m = c v_i, lr = eta/(N b), lr2 = eta2/(N b), "
            "q = Q_ii, inv_s = 1/(sigma sqrt Q_ii); e, lg, lv: the exact-rule, learned-gain, learned-v switches "
            "(branches: a switched-off term is 0). -lr times the gradient of Delta^2/2 (checked).",
            **ref("§2.1, §13")),
        "doc_batch_stats": cg.doc(
            cg.formula("coef[u, i]", dd.bs_coef.doit()), cg.formula("dg_i", dd.bs_gain),
            "with g = g_i, sd = s_i, d = d'_ui (d_ui, or d_ui - <d_i> - z_ui <d_i z_i> for the exact rule), "
            "dz = <d_i z_i>: the rule's a with m = 1, h = g/s (checked).", **ref("§2.3")),
    }
    return cg.header(MODULE, "derivations/templates/rule.py", dd.checks) + cg.fill_template(TEMPLATE, fills)


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=True)


if __name__ == "__main__":
    sys.exit(main())
