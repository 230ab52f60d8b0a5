"""Escape rate from the symmetric plateau against the damping: natural gradient, unit-wise (block)
preconditioning and SGD, plain and BN (docs/model.md §14.6), K = M = 2..6, T = I.

Theory only, ``eta -> 0``, per unit ``eta``, at SGD's symmetric fixed point with coinciding students
(``R = S``, ``C = Q``; the gradient vanishes there, so it is a fixed point of every preconditioned
update). SGD's rates are :func:`symphase.symmetric_fixed_point`'s ``escape_rate`` (as Fig. 5; BN at the
paper's norm ``Q_ii = 1/g*^2`` with a learned gain); the preconditioned ones the largest rate of
``-(F + eps I)^-1 H`` (``natural``: the full Fisher; ``unitwise``: its blocks of one unit each), which for
the plain network is the largest eigenvalue of the preconditioned ODE's Jacobian. The paper's BN rule is
not a gradient, so its preconditioned linearisation is not ``-(F + eps I)^-1 H`` and is not computed (its
norms collapse under a preconditioner, docs/model.md §14.5); its SGD rate equals the exact rule's.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._fixedpoint_solve import symmetric_fixed_point
from .._model import Committee
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig10_natural_rates"
TITLE = "Escape rate from the symmetric plateau vs damping: natural, unit-wise and SGD, plain and BN, K = 2..6"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 5
RULES = ("plain", "exact")             # preconditioned: the gradient rules
SGD_RULES = ("plain", "paper", "exact")
PRECONDITIONERS = ("natural", "unitwise")


def _preconditioned_rate(model) -> float:
    """``lambda/eta`` (``eta -> 0``) of a preconditioned model at SGD's symmetric fixed point
    (:attr:`symphase.FixedPoint.escape_rate` of :func:`symphase.symmetric_fixed_point`, docs/model.md §14.6)."""
    return symmetric_fixed_point(model).escape_rate


def compute(quick: bool):
    Ks = [2, 3] if quick else [2, 3, 4, 5, 6]
    dampings = np.geomspace(1.0, 1e-4, 5 if quick else 17)
    sgd = np.array([[symmetric_fixed_point(Committee(K, K, bn=r)).escape_rate for K in Ks] for r in SGD_RULES])
    rates = np.array([[[[_preconditioned_rate(Committee(K, K, bn=r, preconditioner=p, damping=float(e)))
                         for e in dampings] for K in Ks] for r in RULES] for p in PRECONDITIONERS])
    return xr.Dataset(
        {"rate_sgd": (("sgd_rule", "K"), sgd, {"long_name": "escape rate lambda/eta of SGD (Jacobian, eta -> 0)"}),
         "rate": (("preconditioner", "rule", "K", "damping"), rates,
                  {"long_name": "escape rate lambda/eta of the preconditioned update (eta -> 0): largest rate of "
                                "-(F_p + eps I)^-1 H at the symmetric fixed point C = Q"})},
        coords={"sgd_rule": list(SGD_RULES), "rule": list(RULES), "preconditioner": list(PRECONDITIONERS),
                "K": Ks, "damping": dampings},
        attrs={"tau": 1.0, "eta": 0.0, "fixed_point": "R = S, C = Q (BN: Q_ii = 1/g*^2, learned gain)",
               "not_computed": "the paper's BN rule under a preconditioner (not a gradient)"})


def plot(ds):
    fig, axes = subplots(1, 3, figsize=(13.5, 4.0))
    eps = ds["damping"].values
    Ks = ds["K"].values
    colors = {K: f"C{j}" for j, K in enumerate(Ks)}
    for col, rule in enumerate(ds["rule"].values):
        ax = axes[0, col]
        for K in Ks:
            c = colors[K]
            ax.plot(eps, ds["rate"].sel(preconditioner="natural", rule=rule, K=K), "-", color=c, label=f"K = {K}")
            ax.plot(eps, ds["rate"].sel(preconditioner="unitwise", rule=rule, K=K), "--", color=c)
            ax.axhline(float(ds["rate_sgd"].sel(sgd_rule=rule, K=K)), color=c, ls=":", lw=1)
        ax.plot([], [], "k-", label="natural")
        ax.plot([], [], "k--", label="unit-wise")
        ax.plot([], [], "k:", label="SGD")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()
        ax.set_xlabel(r"damping $\varepsilon$")
        ax.set_ylabel(r"escape rate $\lambda/\eta$ ($\eta\to0$)")
        ax.set_title(f"{LABELS[rule]}: plateau C = Q" + ("\n(paper's norm, learned gain)" if rule != "plain" else ""),
                     fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    ax = axes[0, 2]
    small = ds["rate"].isel(damping=-1)
    for rule in ds["rule"].values:
        base = ds["rate_sgd"].sel(sgd_rule=rule).values
        ax.plot(Ks, small.sel(preconditioner="unitwise", rule=rule) / base, "o-", color=COLORS[rule],
                label=f"unit-wise / SGD, {LABELS[rule]}")
    ax.plot(Ks, small.sel(preconditioner="natural", rule="exact") / small.sel(preconditioner="natural", rule="plain"),
            "s--", color=COLORS["exact"], label="natural: BN / plain")
    ax.plot(Ks, small.sel(preconditioner="unitwise", rule="exact") / small.sel(preconditioner="unitwise", rule="plain"),
            "^:", color=COLORS["exact"], label="unit-wise: BN / plain")
    ax.set_yscale("log")
    ax.set_xticks(Ks)
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel("ratio of escape rates")
    ax.set_title(rf"at $\varepsilon$ = {eps[-1]:.0e}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def summary(ds):
    e = ds["damping"].values
    parts = []
    for K in ds["K"].values:
        r = ds["rate"].sel(K=K)
        nat = r.sel(preconditioner="natural", rule="plain").values
        sgd = float(ds["rate_sgd"].sel(sgd_rule="plain", K=K))
        unit = float(r.sel(preconditioner="unitwise", rule="plain").values[-1])
        parts.append(f"K={K}: natural*eps/SGD {np.max(np.abs(nat * e / sgd - 1)):.1e} off 1, "
                     f"unitwise(eps={e[-1]:.0e})/SGD {unit / sgd:.2f}")
    return "; ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
