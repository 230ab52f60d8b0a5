"""Plateau escape, ODE vs simulation from the same starts, with the finite-N fluctuation band and escape-time spread.

K = M = 2, eta = 1, three rules (plain, BN with the paper's rule, BN with the
exact gradient), the paper's random start ``J_il ~ N(0, 1/N)``.

- Top row: SGD (a few seeds) against the ODE integrated from
  each seed's own initial overlaps (their mean), and the band ODE ± the
  predicted seed-to-seed standard deviation of ``eps_g``: the linear-noise
  approximation (``integrate(..., bands_N=N, sigma0="random")``, docs/model.md §12),
  linearised about the ODE from seed 0's start, with the covariance of the
  random start, computed up to 1.3 times that ODE's escape time.
- Middle row: that standard deviation against the seed-to-seed standard
  deviation measured over many runs of SGD and over the top row's seeds.
- Bottom row: the escape time (first crossing of ``eps_g`` below half the
  plateau level of the ODE from the seeds' starts) of those runs against the
  diffusion approximation's distribution (``escape_time(..., start="random")``,
  docs/model.md §12.1), at the same threshold, with the ODE's own escape times.
  The top row's six seeds are too few for a distribution: they are marked
  individually (the same seeds, hence the same starts, under all three rules,
  so their deviations from the theory are correlated), and the distribution is
  that of the many runs.

Every SGD run here is on the exact overlap chain (``simulate(...,
method="overlaps")``, docs/model.md §11): the same process as SGD on the
weights, in distribution, at a cost per step independent of N. The figure is
about the order parameters (the ODE, its fluctuations and escape), which the
chain gives exactly. The top row's seeds 0-5 start from the same overlaps as on
the weights (the seeds' initial weights, reduced to their overlaps), so the ODE
from their starts is unchanged; their paths are another realisation, and the
same paths as the first six of the many runs. Before issue 21 the top row
simulated the weights (``METHOD = "weights"`` does so again); the two agree
within their standard errors (``python benchmarks/compare_fig_methods.py``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._escape import escape_time
from .._model import Committee
from .._ode import integrate
from .._plateau import escape_alpha, plateau_value
from .._simulate import simulate
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig4_escape_curves"
TITLE = ("Plateau and escape, K = M = 2: ODE from each seed's initial overlaps vs simulation, "
         "with the finite-N fluctuation band and escape-time distribution")
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 120
RULES = {"plain": "plain", "paper": "paper", "exact": "exact"}
ETA = 1.0
FRACTION = 0.5       # escape: eps_g below this fraction of the plateau level
STEP = 0.25          # record step of the runs whose escape time is read (the theory interpolates within 0.25)
LNA_SPAN = 1.3       # the linear-noise band is integrated up to this multiple of the ODE's escape time
METHOD = "overlaps"  # the simulator of the top row's seeds: the exact overlap chain (equal in distribution)


def _grid(alpha_max, *extra):
    return np.union1d(np.arange(0.0, alpha_max + STEP / 2, STEP), np.concatenate(extra) if extra else [])


def _at(res_alpha, alphas):
    """Indices of the records nearest to ``alphas``."""
    return np.abs(np.asarray(res_alpha)[None, :] - np.asarray(alphas)[:, None]).argmin(axis=1)


def compute(quick: bool):
    N = 300 if quick else 1000
    seeds = 3 if quick else 6
    runs = 4 if quick else 32           # runs of the exact overlap chain, and samples of the theory
    alpha_max = 150.0 if quick else 800.0
    alphas = np.concatenate([[0.0], np.geomspace(0.5, alpha_max, 40 if quick else 60)])
    shape = (len(RULES), alphas.size)
    sim = np.empty((len(RULES), seeds, alphas.size))
    ode = np.empty_like(sim)
    esc_sim, esc_ode = np.full((len(RULES), seeds), np.nan), np.full((len(RULES), seeds), np.nan)
    esc_chain, esc_theory = np.full((len(RULES), runs), np.nan), np.full((len(RULES), runs), np.nan)
    level = np.empty(len(RULES))
    messages = []
    eg_std, chain_mean, chain_std = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for r, bn in enumerate(RULES.values()):
        model = Committee(2, 2, bn=bn)
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=_grid(alpha_max, alphas), method=METHOD)
        res.raise_for_status()
        idx = _at(res.alpha, alphas)
        sim[r] = res.eg[:, idx]
        starts, ode_dense = [], []
        for s in range(seeds):
            g0 = None if res.initial["g"] is None else res.initial["g"][s]
            starts.append((res.initial["Q"][s], res.initial["R"][s], g0))
            o = integrate(model, ETA, alpha_max, start=starts[s], alphas=res.alpha, eg_tol=0,
                          rtol=1e-11, atol=1e-13).raise_for_status()
            ode_dense.append(o.eg)
            ode[r, s] = o.eg[idx]
        # the plateau level: read off the ODE from each seed's start (median over the seeds)
        level[r] = float(np.nanmedian([plateau_value(res.alpha, e) for e in ode_dense]))
        esc_ode[r] = [escape_alpha(res.alpha, e, FRACTION, plateau=level[r]) for e in ode_dense]
        esc_sim[r] = [escape_alpha(res.alpha, e, FRACTION, plateau=level[r]) for e in res.eg]
        # theory: the diffusion approximation from the random-weights ensemble, the same threshold
        et = escape_time(model, N, ETA, start="random", threshold=FRACTION * level[r], samples=runs, seed=0)
        esc_theory[r] = et.samples
        messages.append(et.message)
        # the exact overlap chain (SGD in distribution), long enough for the theory's latest escape
        latest = np.concatenate([et.samples, esc_ode[r]])
        latest = np.max(latest[np.isfinite(latest)]) if np.isfinite(latest).any() else alpha_max
        a_chain = float(np.ceil(1.25 * latest / STEP) * STEP)
        chain = simulate(model, N, ETA, a_chain, seeds=runs, alphas=_grid(a_chain, alphas[alphas <= a_chain]),
                         method="overlaps").raise_for_status()
        esc_chain[r] = [escape_alpha(chain.alpha, e, FRACTION, plateau=level[r]) for e in chain.eg]
        inside = alphas <= a_chain
        cj = _at(chain.alpha, alphas[inside])
        chain_mean[r, inside] = chain.eg[:, cj].mean(axis=0)
        chain_std[r, inside] = chain.eg[:, cj].std(axis=0, ddof=1)
        # the linear-noise band: about the ODE from seed 0's start, with the random start's covariance
        a_lna = min(alpha_max, LNA_SPAN * esc_ode[r, 0]) if np.isfinite(esc_ode[r, 0]) else alpha_max
        if quick:  # the band to alpha = 30 only (the approach to the plateau): most of the quick figure's time
            a_lna = min(a_lna, 0.2 * alpha_max)
        inside = alphas <= a_lna
        lna = integrate(model, ETA, float(alphas[inside][-1]), start=starts[0],
                        alphas=alphas[inside], eg_tol=0, bands_N=N, sigma0="random").raise_for_status()
        eg_std[r, inside] = lna.eg_std
    nan_sim = "no escape by the end of the run"
    return xr.Dataset(
        {"eg_sim": (("rule", "seed", "alpha"), sim,
                    {"long_name": "eps_g, SGD (exact overlap chain) from the seed's random start"}),
         "eg_ode": (("rule", "seed", "alpha"), ode, {"long_name": "eps_g, ODE from the seed's initial overlaps"}),
         "eg_std_theory": (("rule", "alpha"), eg_std,
                           {"long_name": "predicted seed-to-seed standard deviation of eps_g (linear-noise "
                                         "approximation about the ODE from seed 0's start, random-start covariance)",
                            "nan_means": f"beyond {LNA_SPAN:g} x the escape time of that ODE (not computed)"}),
         "eg_chain_mean": (("rule", "alpha"), chain_mean,
                           {"long_name": "mean eps_g over the runs of the exact overlap chain (random starts)",
                            "nan_means": "beyond the end of the chain runs"}),
         "eg_chain_std": (("rule", "alpha"), chain_std,
                          {"long_name": "seed-to-seed standard deviation of eps_g over the runs of the exact "
                                        "overlap chain (random starts)",
                           "nan_means": "beyond the end of the chain runs"}),
         "escape_level": (("rule",), FRACTION * level,
                          {"long_name": f"escape threshold: {FRACTION:g} x the plateau level of the ODE from the "
                                        "seeds' starts (median over the seeds)"}),
         "escape_ode": (("rule", "seed"), esc_ode,
                        {"long_name": "escape time (alpha) of the ODE from the seed's initial overlaps",
                         "nan_means": nan_sim}),
         "escape_sim": (("rule", "seed"), esc_sim,
                        {"long_name": "escape time (alpha) of SGD (exact overlap chain) from the seed's random start",
                         "nan_means": nan_sim}),
         "escape_chain": (("rule", "run"), esc_chain,
                          {"long_name": "escape time (alpha) of the exact overlap chain (SGD in distribution), "
                                        "random start", "nan_means": nan_sim}),
         "escape_theory": (("rule", "sample"), esc_theory,
                           {"long_name": "escape time (alpha) sampled from the diffusion approximation "
                                         "(escape_time, random start)",
                            "nan_means": "no escape time: the sample had not escaped by alpha_max or left the "
                                         "valid overlaps (escape_theory_message says which)"}),
         "escape_theory_message": (("rule",), np.array(messages, dtype=object),
                                   {"long_name": "escape_time's account of the samples"})},
        coords={"rule": list(RULES), "seed": np.arange(seeds), "alpha": alphas, "run": np.arange(runs),
                "sample": np.arange(runs)},
        attrs={"N": N, "eta": ETA, "K": 2, "M": 2, "fraction": FRACTION, "record_step": STEP})


def _stats(x):
    x = np.asarray(x, dtype=float)
    ok = x[np.isfinite(x)]
    return ok.mean(), ok.std(ddof=1) if ok.size > 1 else np.nan, ok.size, x.size


def plot(ds):
    nr = ds.sizes["rule"]
    fig, axes = subplots(3, nr, figsize=(4.2 * nr, 9.6))
    a = ds["alpha"].values
    n = ds.sizes["seed"]
    N = ds.attrs["N"]
    for j, rule in enumerate(ds["rule"].values):
        c = COLORS[rule]
        sim = ds["eg_sim"].sel(rule=rule).values
        ode = ds["eg_ode"].sel(rule=rule).values
        sd = ds["eg_std_theory"].sel(rule=rule).values
        # top: the curves and the band
        ax = axes[0, j]
        m = ode.mean(0)
        ok = np.isfinite(sd) & (a > 0)
        band = ok & (sd < m)      # drawn while the linear band stays above zero
        ax.fill_between(a, m - sd, m + sd, where=band, color=c, alpha=0.3, lw=0,
                        label="ODE ± predicted s.d. (linear noise,\nshown while s.d. < ODE)")
        ax.plot(a[1:], m[1:], color=c, label="ODE (mean over seeds' starts)")
        ax.errorbar(a[1:], sim.mean(0)[1:], yerr=sim.std(0, ddof=1)[1:] / np.sqrt(n), fmt="o", ms=3,
                    color="k", label=f"SGD (exact overlap chain), N={N}\n({n} seeds, ±1 s.e.)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1.5)
        ax.set_xlabel(r"$\alpha$")
        ax.set_title(LABELS[rule])
        # middle: the seed-to-seed standard deviation
        ax = axes[1, j]
        nrun = ds.sizes["run"]
        ax.plot(a[ok], sd[ok], color=c, lw=2, label="linear-noise theory")
        cs = ds["eg_chain_std"].sel(rule=rule).values
        okc = np.isfinite(cs) & (a > 0)
        ax.plot(a[okc], cs[okc], "o", ms=3, mfc="none", color="0.35",
                label=f"exact overlap chain ({nrun} runs)")
        ax.plot(a[1:], sim.std(0, ddof=1)[1:], "x", ms=4, color="k", label=f"the top row's {n} seeds")
        e_ode = ds["escape_ode"].sel(rule=rule).values
        e_ode = float(np.median(e_ode[np.isfinite(e_ode)])) if np.isfinite(e_ode).any() else np.nan
        ax.axvline(e_ode, color=c, ls=":", lw=1, label="escape of the ODE (median)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(a[1] * 0.8, a[-1] * 1.2)
        ax.set_ylim(1e-6, 0.1)
        ax.set_xlabel(r"$\alpha$")
        # bottom: escape-time histograms
        ax = axes[2, j]
        ch, th = ds["escape_chain"].sel(rule=rule).values, ds["escape_theory"].sel(rule=rule).values
        ws = ds["escape_sim"].sel(rule=rule).values
        both = np.concatenate([ch[np.isfinite(ch)], th[np.isfinite(th)]])
        bins = np.linspace(both.min(), both.max(), 13) if both.size else 10
        mc, sc, kc, nc = _stats(ch)
        mt, st, kt, nt = _stats(th)
        ax.hist(ch[np.isfinite(ch)], bins=bins, color="0.6", alpha=0.7,
                label=f"exact chain: {mc:.0f} ± {sc:.0f} ({kc}/{nc} escaped)")
        ax.hist(th[np.isfinite(th)], bins=bins, histtype="step", lw=2, color=c,
                label=f"theory (diffusion): {mt:.0f} ± {st:.0f} ({kt}/{nt})")
        top = ax.get_ylim()[1]
        ax.set_ylim(0, 1.7 * top)           # room for the legend above the bars
        ax.yaxis.get_major_locator().set_params(integer=True)
        okw = np.isfinite(ws)
        mw = f"mean {ws[okw].mean():.0f}" if okw.any() else "none escaped"
        ax.plot(ws[okw], np.full(okw.sum(), 0.03 * top), "|", color="k", ms=12, mew=1.5,
                label=f"the top row's {n} seeds: {mw} ({okw.sum()}/{ws.size})")
        if np.isfinite(e_ode):
            ax.axvline(e_ode, color="k", ls="--", lw=1, label=f"ODE from those seeds' starts (median): {e_ode:.0f}")
        ax.set_xlabel(r"escape time $\alpha_{\rm esc}$" + f" (N={N})")
        ax.legend(fontsize=6.5, loc="upper right")
    axes[0, 0].set_ylabel(r"$\epsilon_g$")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[1, 0].set_ylabel(r"s.d. of $\epsilon_g$ over seeds")
    axes[1, 0].legend(fontsize=7, loc="lower left")
    axes[2, 0].set_ylabel("count")
    return fig


def summary(ds):
    d = np.abs(ds["eg_sim"].mean("seed") - ds["eg_ode"].mean("seed")).max("alpha")
    text = "max |sim - ODE| of mean eps_g: " + ", ".join(f"{r} {float(d.sel(rule=r)):.2g}" for r in ds["rule"].values)
    if "escape_theory" in ds:
        parts = []
        for r in ds["rule"].values:
            mt, st, _, _ = _stats(ds["escape_theory"].sel(rule=r).values)
            mc, sc, _, _ = _stats(ds["escape_chain"].sel(rule=r).values)
            parts.append(f"{r} {mt:.0f}+-{st:.0f} vs {mc:.0f}+-{sc:.0f}")
        text += "; escape alpha theory vs chain (mean+-sd): " + ", ".join(parts)
    return text


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
