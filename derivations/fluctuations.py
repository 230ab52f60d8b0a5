"""Generate the per-example rates of the order parameters, ``symphase/_generated/fluctuations.py``.

    python -m derivations.fluctuations           # derive, write the module
    python -m derivations.fluctuations --check   # fail if the committed module differs

The rates are Step 1 of derive.py (``rates_before_averaging``): the update rule
turned into ``N`` times the increment of ``Q_ik``, ``R_in``, ``g_i`` for one example,
``N -> oo``, before the average over the fields. Their mean is the ODE's right-hand
side (derive.py averages exactly these); their covariance over the fields, divided by
the minibatch ``b``, is the diffusion matrix of docs/model.md §12.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import sympy as sp

from derivations import _codegen as cg
from derivations import derive as base
from derivations._checks import Checks

MODULE = "derivations.fluctuations"
TARGET = cg.GENERATED_DIR / "fluctuations.py"
TEMPLATE = cg.TEMPLATES / "fluctuations.py"


@dataclass(frozen=True)
class Derivation:
    psi_q: sp.Expr
    psi_r: sp.Expr
    psi_g: sp.Expr
    checks: Checks


@functools.cache
def derive() -> Derivation:
    checks = Checks()
    q, r, g, _ = (x.subs(base.COMMITTEE) for x in base.rates_before_averaging())
    # the exact rule leaves the O(eta) part of Q_ii unchanged per example (scale invariance, docs/model.md §5.3)
    diag = q.subs({base.x_k: base.x_i, base.d_k: base.d_i, base.h_k: base.h_i, base.Q_kk: base.Q_ii,
                   base.Q_ik: base.Q_ii, base.e: 1})
    checks.check("exact rule: psi_Qii has no O(eta) part", sp.diff(diag, base.eta).subs(base.eta, 0))
    return Derivation(psi_q=sp.simplify(q), psi_r=r, psi_g=g, checks=checks)


def generate() -> str:
    """The text of ``symphase/_generated/fluctuations.py``."""
    d = derive()
    opts = {**cg.NJIT_OPTIONS, "inline": "always"}
    ref = dict(spec="§12", derivation="§2", generator=MODULE)
    fills = {
        "njit_options": cg.keywords(opts),
        "psi_q": cg.statements([("v", d.psi_q)]),
        "psi_r": cg.statements([("v", d.psi_r)]),
        "psi_g": cg.statements([("v", d.psi_g)]),
        "doc_psi_q": cg.doc(cg.formula("psi_Q", d.psi_q), **ref),
        "doc_psi_r": cg.doc(cg.formula("psi_R", d.psi_r), **ref),
        "doc_psi_g": cg.doc(cg.formula("psi_g", d.psi_g), **ref),
    }
    return cg.header(MODULE, "derivations/templates/fluctuations.py", d.checks) + cg.fill_template(TEMPLATE, fills)


def main(argv=None) -> int:
    return cg.write_or_check(MODULE, generate, lambda: derive().checks, TARGET, __doc__, argv, numba_module=True)


if __name__ == "__main__":
    sys.exit(main())
