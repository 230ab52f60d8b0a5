"""Plateau-escape curves: ODE (lines) vs simulation (points, error bars), from the same initial overlaps."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .. import Committee, integrate, simulate

NAME = "fig4_escape_curves"
TITLE = "Plateau and escape, K = M = 2: ODE from each seed's initial overlaps vs simulation"
RULES = {"plain": "plain", "paper": "paper", "exact": "exact"}
ETA = 1.0


def compute(quick: bool):
    N = 300 if quick else 1000
    seeds = 3 if quick else 6
    alpha_max = 150.0 if quick else 800.0
    alphas = np.concatenate([[0.0], np.geomspace(0.5, alpha_max, 40 if quick else 60)])
    sim = np.empty((len(RULES), seeds, alphas.size))
    ode = np.empty_like(sim)
    for r, bn in enumerate(RULES.values()):
        model = Committee(2, 2, bn=bn)
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas)
        sim[r] = res.eg
        for s in range(seeds):
            g0 = None if res.initial["g"] is None else res.initial["g"][s]
            o = integrate(model, res.initial["Q"][s], res.initial["R"][s], ETA, alpha_max, g0=g0,
                          alphas=res.alpha, eg_tol=0, rtol=1e-11, atol=1e-13).raise_for_status()
            ode[r, s] = o.eg
    return xr.Dataset(
        {"eg_sim": (("rule", "seed", "alpha"), sim, {"long_name": "eps_g, simulation"}),
         "eg_ode": (("rule", "seed", "alpha"), ode, {"long_name": "eps_g, ODE from the seed's initial overlaps"})},
        coords={"rule": list(RULES), "seed": np.arange(seeds), "alpha": alphas},
        attrs={"N": N, "eta": ETA, "K": 2, "M": 2})


def plot(ds):
    from ._style import COLORS, LABELS, subplots
    fig, axes = subplots(1, ds.sizes["rule"], figsize=(4.2 * ds.sizes["rule"], 3.4), sharey=True)
    a = ds["alpha"].values
    n = ds.sizes["seed"]
    for j, rule in enumerate(ds["rule"].values):
        ax = axes[0, j]
        sim = ds["eg_sim"].sel(rule=rule).values
        ode = ds["eg_ode"].sel(rule=rule).values
        ax.plot(a[1:], ode.mean(0)[1:], color=COLORS[rule], label="ODE (mean over seeds' starts)")
        ax.errorbar(a[1:], sim.mean(0)[1:], yerr=sim.std(0, ddof=1)[1:] / np.sqrt(n), fmt="o", ms=3,
                    color="k", label=f"simulation, N={ds.attrs['N']} ({n} seeds, ±1 s.e.)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1.5)
        ax.set_xlabel(r"$\alpha$")
        ax.set_title(LABELS[rule])
    axes[0, 0].set_ylabel(r"$\epsilon_g$")
    axes[0, 0].legend(fontsize=7)
    return fig


def summary(ds):
    d = np.abs(ds["eg_sim"].mean("seed") - ds["eg_ode"].mean("seed")).max("alpha")
    return "max |sim - ODE| of mean eps_g: " + ", ".join(f"{r} {float(d.sel(rule=r)):.2g}" for r in ds["rule"].values)


if __name__ == "__main__":
    from . import main_for
    import sys
    main_for(sys.modules[__name__])
