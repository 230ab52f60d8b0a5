"""Figs. 4 and 6 moved from SGD on the weights to the exact overlap chain (issue 21): do the statistics agree?

    python benchmarks/compare_fig_methods.py [--figures FOLDER]

The committed full datasets ``figures/fig4_escape_curves.nc`` and ``figures/fig6_escape_time_lnN.nc``
were made with SGD on the weights (until issue 21). This script reruns only their simulations, with the
figures' own code (``fig6.simulated_escapes``, and fig4's top-row call) on the exact overlap chain
(``method="overlaps"``), the same N, seeds (hence the same starts) and record grids, and compares the two
realisations (which are independent: the chain draws its own noise):

* escape times at each N / rule: the means and their standard errors, ``z`` = difference over the
  standard error of the difference (Welch), and the two-sample Kolmogorov-Smirnov p-value;
  for the plateau start of Fig. 6 (paired starts) also the slope in ln N, old against new;
* Fig. 4's mean eps_g curves (6 seeds): ``z`` at each recorded alpha; the fraction within 2 and the
  largest ``|z|`` (the points share their seeds, so they are not independent).

If ``figures/`` holds data made by the chain already (after the lead regenerates them), pass the
folder of the older weight-space run with ``--figures``. The numbers of one run are in the report of
issue 21; nothing here asserts: the verdict is the reader's (|z| mostly below 2, KS p not small).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.stats import ks_2samp

from symphase import Committee, escape_alpha, simulate, symmetric_fixed_point
from symphase.figures import fig4_escape_curves as fig4
from symphase.figures import fig6_escape_time_lnN as fig6

ROOT = Path(__file__).resolve().parents[1]


def mean_se(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size), x.size


def compare(label, old, new):
    """One line: old (weights) vs new (chain) escape times."""
    (mo, so, no), (mn, sn, nn) = mean_se(old), mean_se(new)
    z = (mn - mo) / np.hypot(so, sn)
    p = ks_2samp(np.asarray(old)[np.isfinite(old)], np.asarray(new)[np.isfinite(new)]).pvalue
    print(f"{label:<34} weights {mo:8.2f} ± {so:5.2f} ({no:>2})   chain {mn:8.2f} ± {sn:5.2f} ({nn:>2})   "
          f"z {z:+5.2f}   KS p {p:.2f}")
    return z, p


def check_fig6(ds):
    model = Committee(2, 2)
    fp = symmetric_fixed_point(model, eta=fig6.ETA)
    fpu = fig6.unspecialised_fixed_point(model, fig6.ETA)
    zs, ps = [], []
    new_ds = ds.copy()
    for series, point in (("plateau", fp), ("random", fpu)):
        Ns = ds[f"N_{series}"].values.tolist()
        old = ds[f"escape_alpha_{series}"].values
        t0 = time.perf_counter()
        new = fig6.simulated_escapes(model, series, Ns, old.shape[1], point, method="overlaps")
        print(f"fig6 {series}: {len(Ns)} N x {old.shape[1]} seeds on the chain in {time.perf_counter() - t0:.1f} s")
        for j, N in enumerate(Ns):
            z, p = compare(f"fig6 {series}, N = {N}", old[j], new[j])
            zs.append(z)
            ps.append(p)
        new_ds[f"escape_alpha_{series}"] = (new_ds[f"escape_alpha_{series}"].dims, new)
        so, seo, _ = fig6.fit(ds, series)
        sn, sen, _ = fig6.fit(new_ds, series)
        print(f"fig6 {series}: slope in ln N, weights {so:.3g} ± {seo:.2g}, chain {sn:.3g} ± {sen:.2g}, "
              f"z {(sn - so) / np.hypot(seo, sen):+.2f} (asymptote {fig6.predicted_slope(ds, series):.3g})")
    return zs, ps


def check_fig4(ds):
    N = int(ds.attrs["N"])
    alphas = ds["alpha"].values
    alpha_max = float(alphas[-1])
    seeds = ds.sizes["seed"]
    zs, ps = [], []
    for _r, rule in enumerate(ds["rule"].values):
        model = Committee(2, 2, bn=str(rule))
        t0 = time.perf_counter()
        res = simulate(model, N, fig4.ETA, alpha_max, seeds=seeds, alphas=fig4._grid(alpha_max, alphas),
                       method="overlaps").raise_for_status()
        took = time.perf_counter() - t0
        level = float(ds["escape_level"].sel(rule=rule)) / fig4.FRACTION
        esc = np.array([escape_alpha(res.alpha, e, fig4.FRACTION, plateau=level) for e in res.eg])
        eg_new = res.eg[:, fig4._at(res.alpha, alphas)]
        eg_old = ds["eg_sim"].sel(rule=rule).values
        # the starts are the same (seeds 0-5): alpha = 0 must agree exactly
        same_start = np.array_equal(eg_new[:, 0], eg_old[:, 0])
        mo, so = eg_old.mean(0), eg_old.std(0, ddof=1) / np.sqrt(seeds)
        mn, sn = eg_new.mean(0), eg_new.std(0, ddof=1) / np.sqrt(seeds)
        ok = alphas > 0
        z = (mn - mo)[ok] / np.hypot(so, sn)[ok]
        print(f"fig4 {rule}: {seeds} seeds x alpha {alpha_max:g} on the chain in {took:.1f} s; starts identical: "
              f"{same_start}; mean eps_g, {ok.sum()} alphas: |z| < 2 at {np.mean(np.abs(z) < 2):.0%}, "
              f"max |z| {np.abs(z).max():.2f}")
        zz, p = compare(f"fig4 {rule}, escape (top row)", ds["escape_sim"].sel(rule=rule).values, esc)
        zs.append(zz)
        ps.append(p)
        ch = ds["escape_chain"].sel(rule=rule).values
        compare(f"fig4 {rule}, weights vs the 32 runs", ds["escape_sim"].sel(rule=rule).values, ch)
        same = np.allclose(esc, ch[:seeds], equal_nan=True)
        print(f"fig4 {rule}: the top row's chain escapes equal the 32 runs' seeds 0-{seeds - 1}: {same}")
    return zs, ps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=Path, default=ROOT / "figures",
                    help="folder with the weight-space full datasets (default: the committed figures/)")
    args = ap.parse_args()
    zs, ps = [], []
    for mod, check in ((fig6, check_fig6), (fig4, check_fig4)):
        with xr.open_dataset(args.figures / f"{mod.NAME}.nc") as ds:
            ds = ds.load()
        if int(ds.attrs.get("quick", 1)):
            raise SystemExit(f"{mod.NAME}.nc is a quick run; give the folder of a full one with --figures")
        z, p = check(ds)
        zs += z
        ps += p
    zs, ps = np.array(zs), np.array(ps)
    print(f"all escape-time comparisons: {zs.size}; |z| < 2: {np.sum(np.abs(zs) < 2)}, max |z| "
          f"{np.abs(zs).max():.2f}; KS p < 0.05: {np.sum(ps < 0.05)} (about {0.05 * ps.size:.1f} expected by "
          f"chance), smallest p {ps.min():.3f}")


if __name__ == "__main__":
    main()
