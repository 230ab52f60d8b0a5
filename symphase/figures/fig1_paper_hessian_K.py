"""Paper Fig. 1: eigenvalues of the paper's reduced Hessian vs K = 2..9 (tau = 1), plain and BN."""
from __future__ import annotations

from . import _hessian
from ._reproduce import main_for

NAME = "fig1_paper_hessian_K"
TITLE = "Paper Fig. 1: eigenvalues of the reduced Hessian at the symmetric fixed point vs K (tau = 1)"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 2


def compute(quick: bool):
    return _hessian.scan("K", list(range(2, 10)), tau=1.0)


def plot(ds):
    return _hessian.plot(ds, "K", r"$K$", "Paper's Hessian on $\\Omega=(R,S,Q)$ (plain)\nand "
                         "$(R,S,Q,g)$ (BN) at the paper's\nfixed points, $C=Q$, $\\tau=1$")


def summary(ds):
    return _hessian.summary(ds, "K")


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
