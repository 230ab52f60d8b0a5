"""Paper Fig. 2: eigenvalues of the paper's reduced Hessian vs tau = 1..10 (K = 2), plain and BN."""
from __future__ import annotations

from . import _hessian
from ._reproduce import main_for

NAME = "fig2_paper_hessian_tau"
TITLE = "Paper Fig. 2: eigenvalues of the reduced Hessian at the symmetric fixed point vs tau (K = 2)"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 2
K = 2


def compute(quick: bool):
    ds = _hessian.scan("tau", [float(t) for t in range(1, 11)], K=K)
    ds.attrs["K"] = K
    return ds


def plot(ds):
    return _hessian.plot(ds, "tau", r"input variance $\tau$", "Paper's Hessian on $\\Omega=(R,S,Q)$ (plain)\n"
                         f"and $(R,S,Q,g)$ (BN) at the paper's\nfixed points, $C=Q$, $K=M={ds.attrs['K']}$")


def summary(ds):
    return _hessian.summary(ds, "tau")


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
