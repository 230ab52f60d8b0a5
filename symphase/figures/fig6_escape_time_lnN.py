"""Escape time vs ln N from simulation, beside the slope 1/(2 lambda) predicted by the Jacobian.

Two starts (plain K = M = 2, eta = 1):
- ``plateau``: on the symmetric fixed point with the random O(1/sqrt(N))
  asymmetry of a random start (:func:`symphase.near_fixed_point`); the same
  seed draws the same normalized asymmetry at every N, so the slope is taken
  seed by seed (paired). This is the setting of the theory's prediction.
- ``random``: the paper's random start ``J_il ~ N(0, 1/N)``, which must first
  reach the plateau.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .. import Committee, escape_alpha, near_fixed_point, simulate, symmetric_fixed_point

NAME = "fig6_escape_time_lnN"
TITLE = "Plateau escape time vs ln N (simulation, plain K = M = 2), and the slope 1/(2 lambda) of the theory"
ETA = 1.0
SERIES = ("plateau", "random")


def compute(quick: bool):
    model = Committee(2, 2)
    fp = symmetric_fixed_point(model, eta=ETA)
    data, coords = {}, {}
    # start on the plateau (paired across N by seed)
    Ns = [125, 250, 500] if quick else [125, 250, 500, 1000]
    seeds = 8 if quick else 64
    alpha_max = 120.0
    alphas = np.linspace(0.0, alpha_max, 241)
    esc = np.full((len(Ns), seeds), np.nan)
    for j, N in enumerate(Ns):
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas,
                       init=lambda seed, N=N: near_fixed_point(fp, N, seed))
        esc[j] = [escape_alpha(res.alpha, e, plateau=fp.eg) for e in res.eg]
    data["escape_alpha_plateau"] = (("N_plateau", "seed_plateau"), esc,
                                    {"long_name": "escape time (alpha), start on the plateau",
                                     "nan_means": "no escape"})
    coords.update(N_plateau=Ns, seed_plateau=np.arange(seeds))
    # random start
    Ns = [100, 200, 400] if quick else [100, 200, 400, 800, 1600]
    seeds = 4 if quick else 12
    alpha_max = 300.0
    alphas = np.concatenate([[0.0], np.geomspace(0.5, alpha_max, 120)])
    esc = np.full((len(Ns), seeds), np.nan)
    for j, N in enumerate(Ns):
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas)
        esc[j] = [escape_alpha(res.alpha, e) for e in res.eg]
    data["escape_alpha_random"] = (("N_random", "seed_random"), esc,
                                   {"long_name": "escape time (alpha), random start", "nan_means": "no escape"})
    coords.update(N_random=Ns, seed_random=np.arange(seeds))
    data["escape_rate"] = ((), fp.escape_rate,
                           {"long_name": "lambda, largest Jacobian eigenvalue at the fixed point (per alpha)"})
    return xr.Dataset(data, coords=coords, attrs={"eta": ETA, "K": 2, "M": 2})


def _arrays(ds, series):
    return np.log(ds[f"N_{series}"].values), ds[f"escape_alpha_{series}"].values


def fit(ds, series="plateau"):
    """Slope and its standard error of escape time vs ln N.

    ``plateau`` (paired by seed): the mean and s.e. of each seed's
    least-squares slope (seeds that escaped at every N). ``random``
    (independent seeds): least squares on the seed means, s.e. from their
    seed scatter. Returns ``(slope, se, intercept)``.
    """
    x, esc = _arrays(ds, series)
    xc = x - x.mean()
    w = xc / np.sum(xc ** 2)
    if series == "plateau":
        ok = np.all(np.isfinite(esc), axis=0)
        per_seed = w @ esc[:, ok]
        slope, se = float(per_seed.mean()), float(per_seed.std(ddof=1) / np.sqrt(ok.sum()))
        icpt = float(esc[:, ok].mean() - slope * x.mean())
        return slope, se, icpt
    mean = np.nanmean(esc, axis=1)
    se_pt = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(esc), axis=1))
    slope = float(w @ mean)
    return slope, float(np.sqrt(np.sum((w * se_pt) ** 2))), float(mean.mean() - slope * x.mean())


def plot(ds):
    from ._style import subplots
    fig, axes = subplots(1, 2, figsize=(9.0, 3.6))
    lam = float(ds["escape_rate"])
    titles = {"plateau": r"start on the plateau, asymmetry $O(N^{-1/2})$", "random": "random start (paper)"}
    for ax, series in zip(axes[0], SERIES):
        x, esc = _arrays(ds, series)
        n = np.sum(np.isfinite(esc), axis=1)
        mean = np.nanmean(esc, axis=1)
        se = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(n)
        for s in range(esc.shape[1]):
            ax.plot(x, esc[:, s], ".", color="0.75", ms=2.5, zorder=1)
        ax.errorbar(x, mean, yerr=se, fmt="o", color="k", zorder=3,
                    label=f"simulation, mean of {esc.shape[1]} seeds ±1 s.e.")
        slope, sse, icpt = fit(ds, series)
        xx = np.linspace(x[0], x[-1], 10)
        ax.plot(xx, slope * xx + icpt, "k--", lw=1, label=f"fit: slope {slope:.3g} ± {sse:.2g}")
        ax.plot(xx, xx / (2 * lam) + (mean.mean() - x.mean() / (2 * lam)), "C3-",
                label=fr"theory: slope $1/(2\lambda)$ = {1 / (2 * lam):.3g}")
        ax.set_xlabel(r"$\ln N$")
        ax.set_ylabel(r"escape time $\alpha_{\rm esc}$")
        ax.set_title(titles[series], fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(rf"plain $K=M=2$, $\eta={ds.attrs['eta']:g}$: $\varepsilon_g$ below half its plateau value",
                 fontsize=10)
    return fig


def summary(ds):
    pred = 1 / (2 * float(ds["escape_rate"]))
    parts = []
    for series in SERIES:
        slope, se, _ = fit(ds, series)
        parts.append(f"{series} start {slope:.3g} +- {se:.2g} (ratio {slope / pred:.2f})")
    return f"slope of escape time vs ln N: {'; '.join(parts)}; theory 1/(2 lambda) = {pred:.3g}"


if __name__ == "__main__":
    from . import main_for
    import sys
    main_for(sys.modules[__name__])
