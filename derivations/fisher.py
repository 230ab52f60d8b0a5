"""Derive the Gaussian averages of the Fisher information of the weights in SymPy and generate
``symphase/_generated/fisher.py``.

    python -m derivations.fisher           # derive, write the module
    python -m derivations.fisher --check   # fail if the committed module differs

The Fisher matrix ``F = <grad s grad s^T>`` of ``s = sum_i phi(u_i)`` needs, by
Stein's lemma applied twice to ``<phi'(u_i) phi'(u_k) xi xi^T>`` (docs/model.md
§10), the averages over a pair of effective fields ``(a, b)``:

* ``E11 = <phi'(a) phi'(b)> = J2 = (2/pi) ((1+caa)(1+cbb) - cab^2)^(-1/2)``;
* by Price's theorem, ``E22 = <phi''(a) phi''(b)> = dJ2/dcab`` and
  ``E31 = <phi'''(a) phi'(b)> = 2 dJ2/dcaa`` (``E13`` the same in ``b``).

Checked: ``J2`` equals derive.py's closed form; on the diagonal ``a = b = u``
(``caa = cbb = cab = c``) each average equals the one-dimensional Gaussian
integral that SymPy computes directly (``phi'(u) = sqrt(2/pi) exp(-u^2/2)``,
``phi'' = -u phi'``, ``phi''' = (u^2 - 1) phi'``).
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations._checks import PREFERRED, Checks

MODULE = "derivations.fisher"
TARGET = cg.GENERATED_DIR / "fisher.py"
TEMPLATE = cg.TEMPLATES / "fisher.py"

caa, cbb = sp.symbols("caa cbb", positive=True)
cab = sp.Symbol("cab", real=True)


@dataclass(frozen=True)
class Derivation:
    E11: sp.Expr
    E31: sp.Expr
    E22: sp.Expr
    E13: sp.Expr
    checks: Checks


@functools.cache
def derive() -> Derivation:
    checks = Checks()
    lam = (1 + caa) * (1 + cbb) - cab**2
    E11 = 2 / sp.pi / sp.sqrt(lam)
    d = base.derive()
    checks.check("E11 = J2 of derive.py", E11 - d.J2.subs({base.c11: caa, base.c22: cbb, base.c12: cab}),
                 points=[{caa: sp.Rational(1, 2), cbb: 2, cab: sp.Rational(1, 3)}], symbolic=PREFERRED)
    E22 = sp.diff(E11, cab)           # Price: d<F>/dC_ab = <d_a d_b F>
    E31 = 2 * sp.diff(E11, caa)       # Price: d<F>/dC_aa = (1/2) <d_a^2 F>
    E13 = 2 * sp.diff(E11, cbb)
    checks.check("E13 is E31 with a <-> b", E13 - E31.subs({caa: cbb, cbb: caa}, simultaneous=True))
    # the diagonal a = b = u ~ N(0, c): direct one-dimensional Gaussian integrals
    u = sp.Symbol("u", real=True)
    c = sp.Symbol("c", positive=True)
    dphi = sp.sqrt(2 / sp.pi) * sp.exp(-u**2 / 2)
    d2phi, d3phi = sp.diff(dphi, u), sp.diff(dphi, u, 2)
    density = sp.exp(-u**2 / (2 * c)) / sp.sqrt(2 * sp.pi * c)
    diag = {caa: c, cbb: c, cab: c}
    for name, expr, integrand in (("E11", E11, dphi * dphi), ("E22", E22, d2phi * d2phi),
                                  ("E31", E31, d3phi * dphi)):
        direct = sp.integrate(integrand * density, (u, -sp.oo, sp.oo))
        checks.check(f"{name} on the diagonal = the direct Gaussian integral", sp.simplify(expr.subs(diag) - direct))
    return Derivation(E11=E11, E31=sp.simplify(E31), E22=sp.simplify(E22), E13=sp.simplify(E13), checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/fisher.py``."""
    d = derive()
    fills = {
        "averages": cg.statements([("e11", d.E11), ("e31", d.E31), ("e22", d.E22), ("e13", d.E13)]),
        "doc_pair_averages": cg.doc(
            cg.formula("  E[phi'(a) phi'(b)]", d.E11),
            cg.formula("  E[phi'''(a) phi'(b)] = 2 d/dcaa", d.E31),
            cg.formula("  E[phi''(a) phi''(b)] = d/dcab", d.E22),
            cg.formula("  E[phi'(a) phi'''(b)] = 2 d/dcbb", d.E13),
            spec="§10", derivation="§10", generator=MODULE),
    }
    return cg.header(MODULE, "derivations/templates/fisher.py", d.checks) + cg.fill_template(TEMPLATE, fills)


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=False)


if __name__ == "__main__":
    sys.exit(main())
