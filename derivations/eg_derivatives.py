"""Derive the gradient of eps_g with respect to the field covariance C in SymPy
and generate ``symphase/_generated/eg_derivatives.py``.

    python -m derivations.eg_derivatives           # derive, write the module
    python -m derivations.eg_derivatives --check   # fail if the committed module differs

``eps_g = (1/pi) sum_pq w_p w_q F(C_pp, C_qq, C_pq)`` over ordered pairs of
fields (students w = -1, teachers w = +1), ``F(a, b, c) = asin(c/sqrt((1+a)(1+b)))``
(docs/model.md §3; ``2F/pi`` is ``I2``, the closed form of derive.py). The generated
function returns ``d eps_g / d C_pq`` for every ordered entry (``C_pq`` and
``C_qp`` counted as separate entries), so that ``d eps_g = sum_pq out_pq dC_pq``
for every symmetric perturbation ``dC``. symphase.fixedpoint chains it to the
weights and complex-steps it for the exact weight-space Hessian. The loops are
the template ``derivations/templates/eg_derivatives.py``.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations._checks import Checks

MODULE = "derivations.eg_derivatives"
TARGET = cg.GENERATED_DIR / "eg_derivatives.py"
TEMPLATE = cg.TEMPLATES / "eg_derivatives.py"

# C_pp, C_qq >= 0 (variances): positive symbols let SymPy drop abs() and sign(),
# which complex-step differentiation could not go through.
a, b_ = sp.symbols("cpp cqq", positive=True)
c = sp.Symbol("cpq", real=True)


@dataclass(frozen=True)
class Derivation:
    F: sp.Expr      # one ordered term, F(C_pp, C_qq, C_pq)
    dF_c: sp.Expr   # d/dC_pq of one ordered off-diagonal term
    dF_a: sp.Expr   # d/dC_pp of the same term
    dFd: sp.Expr    # d/dC_pp of the diagonal term F(C_pp, C_pp, C_pp)
    checks: Checks


@functools.cache
def derive() -> Derivation:
    checks = Checks()
    F = sp.asin(c / sp.sqrt((1 + a) * (1 + b_)))
    # F is the arcsin of I2 (derive.py): 2F/pi = I2
    checks.check("2F/pi = I2 of derive.py", 2 * F / sp.pi - base.I2(a, c, b_))
    dF_c = sp.diff(F, c)
    dF_a = sp.diff(F, a)
    checks.check("F symmetric: dF/dC_qq is dF/dC_pp with p <-> q",
                 sp.diff(F, b_) - dF_a.subs({a: b_, b_: a}, simultaneous=True))
    # diagonal term p = q: F(C_pp, C_pp, C_pp)
    Fd = F.subs({b_: a, c: a})
    dFd = sp.simplify(sp.diff(Fd, a))
    closed = 1 / ((1 + a) * sp.sqrt(1 + 2 * a))
    checks.check("d/dc asin(c/(1+c)) = 1/((1+c) sqrt(1+2c))", dFd - closed)
    return Derivation(F=F, dF_c=dF_c, dF_a=dF_a, dFd=closed, checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/eg_derivatives.py``."""
    d = derive()
    fills = {
        "njit_options": cg.keywords(cg.NJIT_OPTIONS),
        "diagonal": cg.statements([("gd", d.dFd)], prefix="s"),
        "off_diagonal": cg.statements([("gc", d.dF_c), ("ga", d.dF_a)]),
        "doc_generalization_error_gradient": cg.doc(
            "With cpp = C[p, p], cqq = C[q, q], cpq = C[p, q] and one ordered term",
            cg.formula("  F", d.F),
            "out[p, q] = w_p w_q gc / pi and out[p, p] += 2 w_p w_q ga / pi for q != p,",
            cg.formula("  gc = dF/dcpq", d.dF_c), cg.formula("  ga = dF/dcpp", d.dF_a),
            "out[p, p] += w_p^2 gd / pi for the diagonal term F(cpp, cpp, cpp),",
            cg.formula("  gd", d.dFd),
            spec="§3", derivation="§8", generator=MODULE),
    }
    return (cg.header(MODULE, "derivations/templates/eg_derivatives.py", d.checks)
            + cg.fill_template(TEMPLATE, fills))


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=True)


if __name__ == "__main__":
    sys.exit(main())
