"""Curvature along one learning curve: Hessian and Fisher spectra of the weights, plain against BN."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._initial import random_initial
from .._model import Committee
from .._ode import integrate
from .._run_checks import default_alphas
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig7_curvature"
TITLE = "Hessian and Fisher spectra of the weights along one learning curve (K = M = 3, eta = 1, N = 1000)"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 8
RULES = ("plain", "paper", "exact")
STATS = ("max", "mean", "condition", "min")


def compute(quick: bool):
    K, N, eta = 3, 1000, 1.0
    alpha_max = 5000.0
    alphas = default_alphas(alpha_max, 40 if quick else 120)
    data = {}
    for rule in RULES:
        model = Committee(K, K, bn=rule)
        Q0, R0, g0, _ = random_initial(model, N, 0)
        res = integrate(model, eta, alpha_max, start=(Q0, R0, g0), alphas=alphas, eg_tol=0.0).raise_for_status()
        curv = res.curvature(N)
        data[f"eg_{rule}"] = ("alpha", res.eg, {"long_name": f"eps_g, {rule}"})
        for kind in ("hessian", "fisher"):
            for s in STATS:
                data[f"{kind}_{s}_{rule}"] = ("alpha", curv.values[kind][s],
                                              {"long_name": f"{kind} {s} eigenvalue statistic, {rule}"})
    return xr.Dataset(data, coords={"alpha": alphas}, attrs={"K": K, "N": N, "eta": eta, "seed": 0, "tau": 1.0})


def plot(ds):
    fig, axes = subplots(1, 4, figsize=(14, 3.4))
    a = ds["alpha"].values
    m = a > 0
    panels = [("eg", r"$\epsilon_g$", "log"), ("fisher_max", r"Fisher $\lambda_{\max}$", "linear"),
              ("fisher_condition", r"Fisher condition number (non-null)", "log"),
              ("hessian_min", r"Hessian $\lambda_{\min}$", "symlog")]
    for ax, (var, label, scale) in zip(axes[0], panels):
        for rule in RULES:
            style = dict(ls="--") if rule == "paper" else {}
            ax.plot(a[m], ds[f"{var}_{rule}"].values[m], color=COLORS[rule], label=LABELS[rule], **style)
        ax.set_xscale("log")
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=1e-3)
        else:
            ax.set_yscale(scale)
        ax.set_xlabel(r"$\alpha$")
        ax.set_title(label, fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"K = M = {ds.attrs['K']}, eta = {ds.attrs['eta']:g}, N = {ds.attrs['N']}: exact spectra "
                 "from the order parameters", fontsize=9)
    return fig


def summary(ds):
    a = ds["alpha"].values
    parts = []
    for rule in RULES:
        cond = ds[f"fisher_condition_{rule}"].values
        j = int(np.nanargmax(cond))
        parts.append(f"{rule}: Fisher condition peaks at {cond[j]:.3g} (alpha {a[j]:.3g}), "
                     f"final Fisher max {ds[f'fisher_max_{rule}'].values[-1]:.3g}")
    return "; ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
