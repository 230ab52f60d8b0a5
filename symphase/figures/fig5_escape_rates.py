"""Escape rates lambda/eta from the Jacobian of the full ODE vs K, beside the paper's Hessian eigenvalue."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._fixedpoint_solve import symmetric_fixed_point
from .._model import Committee
from . import _hessian
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig5_escape_rates"
TITLE = "Escape rates lambda/eta (Jacobian of the full ODE, eta -> 0) vs K, and the paper's Hessian eigenvalue"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 3
RULES = {"plain": dict(bn="plain"), "paper": dict(bn="paper"), "exact": dict(bn="exact"),
         "exact_fixed": dict(bn="exact", gain="fixed")}


def compute(quick: bool):
    Ks = list(range(2, 10))
    rates = {r: [symmetric_fixed_point(Committee(K, K, **kw)).escape_rate for K in Ks] for r, kw in RULES.items()}
    hess = {r: [_hessian.eigenvalues(K, 1.0, bn)[0][0] for K in Ks] for r, bn in (("plain", "plain"), ("bn", "paper"))}
    data = {f"rate_{r}": ("K", np.array(v), {"long_name": f"escape rate lambda/eta, {r}"}) for r, v in rates.items()}
    data.update({f"hessian_min_{r}": ("K", np.array(v), {"long_name": f"most negative eigenvalue of the paper's "
                                                        f"Hessian, {r}"}) for r, v in hess.items()})
    return xr.Dataset(data, coords={"K": Ks}, attrs={"tau": 1.0, "eta": 0.0})


def plot(ds):
    fig, axes = subplots(1, 2, figsize=(9, 3.6))
    K = ds["K"].values
    ax = axes[0, 0]
    for r in RULES:
        style = dict(marker="s", mfc="none", ms=9) if r == "paper" else dict(marker="o")
        ax.plot(K, ds[f"rate_{r}"].values, "-", color=COLORS[r], label=LABELS[r], **style)
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"escape rate $\lambda/\eta$ (Jacobian, $\eta\to0$)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("full ODE: largest Jacobian eigenvalue\n(BN at the paper's norm $Q=1/g^2$; paper = exact rule)",
                 fontsize=9)
    ax = axes[0, 1]
    ax.plot(K, -ds["hessian_min_plain"].values, "o-", color=COLORS["plain"], label="plain")
    ax.plot(K, -ds["hessian_min_bn"].values, "s-", color=COLORS["paper"], label="BN")
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"$-\mu_{\min}$ of the paper's Hessian")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("paper: reduced Hessian (coordinates $R,S,Q[,g]$)")
    return fig


def summary(ds):
    K = ds["K"].values
    parts = [f"{r} {ds[f'rate_{r}'].values[0]:.3g}->{ds[f'rate_{r}'].values[-1]:.3g}" for r in RULES]
    return f"lambda/eta for K={K[0]}..{K[-1]}: " + ", ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
