"""Escape time vs ln N from simulation, beside the slope 1/(2 lambda) predicted by the Jacobian."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..compare import escape_alpha
from ..fixedpoint import symmetric_fixed_point
from ..model import Committee
from ..simulate import simulate

NAME = "fig6_escape_time_lnN"
TITLE = "Plateau escape time vs ln N (simulation, plain K = M = 2), and the slope 1/(2 lambda) of the theory"
ETA = 1.0


def compute(quick: bool):
    Ns = [100, 200, 400] if quick else [100, 200, 400, 800, 1600]
    seeds = 4 if quick else 12
    alpha_max = 300.0
    model = Committee(2, 2)
    alphas = np.concatenate([[0.0], np.geomspace(0.5, alpha_max, 120)])
    esc = np.full((len(Ns), seeds), np.nan)
    for j, N in enumerate(Ns):
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas)
        esc[j] = [escape_alpha(res.alpha, e) for e in res.eg]
    lam = symmetric_fixed_point(model, eta=ETA).escape_rate
    return xr.Dataset(
        {"escape_alpha": (("N", "seed"), esc, {"long_name": "escape time (alpha)", "nan_means": "no escape"}),
         "escape_rate": ((), lam, {"long_name": "lambda, largest Jacobian eigenvalue at the fixed point (per alpha)"})},
        coords={"N": Ns, "seed": np.arange(seeds)}, attrs={"eta": ETA, "K": 2, "M": 2})


def fit(ds):
    """Least-squares line (slope, intercept) of the seed-mean escape time against ln N."""
    mean = np.nanmean(ds["escape_alpha"].values, axis=1)
    x = np.log(ds["N"].values)
    return np.polyfit(x, mean, 1)


def slope_se(ds):
    """Standard error of the fitted slope from the seed scatter of each point's mean."""
    esc = ds["escape_alpha"].values
    se = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(esc), axis=1))
    x = np.log(ds["N"].values)
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    return float(np.sqrt(np.sum((w * se) ** 2)))


def plot(ds):
    from ._style import subplots
    fig, axes = subplots(1, 1, figsize=(4.8, 3.6))
    ax = axes[0, 0]
    lnN = np.log(ds["N"].values)
    esc = ds["escape_alpha"].values
    n = np.sum(np.isfinite(esc), axis=1)
    mean = np.nanmean(esc, axis=1)
    se = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(n)
    ax.errorbar(lnN, mean, yerr=se, fmt="o", color="k", label=f"simulation ({ds.sizes['seed']} seeds, ±1 s.e.)")
    for s in range(esc.shape[1]):
        ax.plot(lnN, esc[:, s], ".", color="0.7", ms=3)
    slope, icpt = fit(ds)
    lam = float(ds["escape_rate"])
    x = np.linspace(lnN[0], lnN[-1], 10)
    ax.plot(x, slope * x + icpt, "k--", lw=1, label=f"fit: slope {slope:.3g} ± {slope_se(ds):.2g}")
    ax.plot(x, x / (2 * lam) + (mean.mean() - lnN.mean() / (2 * lam)), "C3-",
            label=fr"theory: slope $1/(2\lambda)$ = {1 / (2 * lam):.3g}")
    ax.set_xlabel(r"$\ln N$")
    ax.set_ylabel(r"escape time $\alpha_{\rm esc}$")
    ax.set_title(rf"plain $K=M=2$, $\eta={ds.attrs['eta']:g}$", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def summary(ds):
    slope = fit(ds)[0]
    pred = 1 / (2 * float(ds["escape_rate"]))
    return (f"slope of escape time vs ln N: {slope:.3g} +- {slope_se(ds):.2g} (theory 1/(2 lambda) = {pred:.3g}, "
            f"ratio {slope / pred:.2f})")


if __name__ == "__main__":
    from . import main_for
    import sys
    main_for(sys.modules[__name__])
