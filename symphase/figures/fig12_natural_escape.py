"""The plateau length (escape alpha) from the paper's random start against N: natural gradient against SGD.

K = M = 2, T = I, plain network, eta = 0.5, ``natural`` at the damping 0.1 (the damping at which natural
gradient escapes at this eta: Fig. 11). Escape: ``eps_g`` first below half the plateau level of plain SGD's
ODE from the random start (N = 1000, seed 0), as Fig. 11. Measured on SGD's exact overlap chain
(``simulate(..., method="overlaps")``, docs/model.md §11; each run from its seed's random weights) at
moderate N, each run recorded every ``STEP`` in alpha to ``SPAN`` times the ODE's escape from seed 0's start
at that N (a run still on the plateau there is NaN: not escaped). Both distributions continue to N = 10^6
from theory (:func:`symphase.escape_time`, the diffusion approximation: SGD's, docs/model.md §12.1, and the
preconditioned update's own per-example rates, §14.7); ``theory_message`` keeps each run's message.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._escape import escape_time
from .._initial import random_initial
from .._model import Committee
from .._ode import integrate
from .._plateau import escape_alpha, plateau_value
from .._simulate import simulate
from ._reproduce import main_for
from ._style import subplots

NAME = "fig12_natural_escape"
TITLE = "Plateau length vs N from the random start: natural gradient (damping 0.1) against SGD, K = M = 2, eta = 0.5"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 25
ETA = 0.5
DAMPING = 0.1
RULES = {"sgd": None, "natural": "natural"}
FRACTION = 0.5   # escape: eps_g below this fraction of plain SGD's plateau level (as Fig. 11)
SPAN = 1.75      # each chain run is recorded to this multiple of the ODE's escape from seed 0's start
STEP = 0.5       # record step of the chain runs (the escape alpha is read to this resolution)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
COLORS = {"sgd": "C0", "natural": "C1"}


def _model(rule):
    pre = RULES[rule]
    return Committee(2, 2) if pre is None else Committee(2, 2, preconditioner=pre, damping=DAMPING)


def _ode_eg(model, start, alphas):
    """``eps_g`` of the ODE from ``start`` (:func:`integrate`, whichever rule the model names)."""
    return integrate(model, ETA, float(alphas[-1]), start=start, alphas=alphas, eg_tol=0, rtol=1e-10,
                     atol=1e-12).raise_for_status().eg


def _escape_theory(model, N, threshold, samples):
    """Escape alphas sampled from the diffusion approximation (:func:`symphase.escape_time`, random start; for a
    preconditioned model its own per-example rates and step, docs/model.md §14.7) and its message."""
    et = escape_time(model, N, ETA, start="random", threshold=threshold, samples=samples, seed=0)
    return np.asarray(et.samples, dtype=float), et.message


def _slope(Ns, esc):
    """Least-squares slope of the mean escape alpha against ln N (weights 1/s.e.^2) and its standard error."""
    x, y, w = [], [], []
    for N, e in zip(Ns, esc):
        ok = e[np.isfinite(e)]
        if ok.size >= 2:
            x.append(np.log(N))
            y.append(ok.mean())
            w.append(ok.size / max(ok.var(ddof=1), 1e-300))
    if len(x) < 2:
        return np.nan, np.nan
    x, y, w = map(np.asarray, (x, y, w))
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    return float(np.sum(w * (x - xm) * y) / sxx), float(1 / np.sqrt(sxx))


def compute(quick: bool):
    Ns = [250, 500] if quick else [250, 500, 1000, 2000]
    Ns_theory = [10**3] if quick else [10**3, 10**4, 10**5, 10**6]
    runs = 3 if quick else 12
    samples = 4 if quick else 32
    a_ode = np.concatenate([[0.0], np.geomspace(0.5, 1000.0, 300)])
    sgd = _model("sgd")
    level = plateau_value(a_ode, _ode_eg(sgd, random_initial(sgd, 1000, seed=0), a_ode))
    threshold = FRACTION * level
    esc = np.full((len(RULES), len(Ns), runs), np.nan)
    esc_ode = np.full((len(RULES), len(Ns)), np.nan)
    a_max = np.full((len(RULES), len(Ns)), np.nan)
    theory = np.full((len(RULES), len(Ns_theory), samples), np.nan)
    messages = []
    for r, rule in enumerate(RULES):
        model = _model(rule)
        for j, N in enumerate(Ns):
            e0 = _ode_eg(model, random_initial(model, N, seed=0), a_ode)
            esc_ode[r, j] = escape_alpha(a_ode, e0, fraction=FRACTION, plateau=level)
            reach = esc_ode[r, j] if np.isfinite(esc_ode[r, j]) else a_ode[-1]  # an ODE that never escapes: all
            a_max[r, j] = np.ceil(SPAN * reach / STEP) * STEP
            res = simulate(model, N, ETA, a_max[r, j], seeds=runs, alphas=np.arange(0.0, a_max[r, j] + STEP / 2, STEP),
                           method="overlaps").raise_for_status()
            esc[r, j] = [escape_alpha(res.alpha, e, fraction=FRACTION, plateau=level) for e in res.eg]
        msg = []
        for j, N in enumerate(Ns_theory):
            theory[r, j], m = _escape_theory(model, N, threshold, samples)
            msg.append(m)
        messages.append(" | ".join(dict.fromkeys(msg)))
    slopes = np.array([_slope(Ns, esc[r]) for r in range(len(RULES))])
    q = np.nanquantile(esc, list(QUANTILES), axis=-1).transpose(1, 2, 0)
    nan_esc = "the run had not escaped by alpha_max (still on the plateau)"
    return xr.Dataset(
        {"escape_chain": (("rule", "N", "run"), esc,
                          {"long_name": "escape alpha, SGD's exact overlap chain from the run's random start",
                           "nan_means": nan_esc}),
         "quantiles_chain": (("rule", "N", "q"), q, {"long_name": "quantiles of escape_chain over the escaped runs",
                                                     "nan_means": "no run escaped at this N"}),
         "escape_ode": (("rule", "N"), esc_ode, {"long_name": "escape alpha of the ODE from seed 0's start",
                                                 "nan_means": "the ODE had not escaped by alpha = 1000"}),
         "alpha_max": (("rule", "N"), a_max, {"long_name": "end of the chain runs"}),
         "escape_theory": (("rule", "N_theory", "sample"), theory,
                           {"long_name": "escape alpha sampled from the diffusion approximation (escape_time)",
                            "nan_means": "not escaped by escape_time's alpha_max (theory_message)"}),
         "theory_message": (("rule",), np.array(messages, dtype=object)),
         "slope": (("rule",), slopes[:, 0], {"long_name": "d(mean escape alpha)/d ln N over the chain's N",
                                                    "nan_means": "fewer than 2 N with 2 escapes"}),
         "slope_se": (("rule",), slopes[:, 1], {"long_name": "standard error of slope", "nan_means": "as slope"})},
        coords={"rule": list(RULES), "N": Ns, "run": np.arange(runs), "q": list(QUANTILES),
                "N_theory": Ns_theory, "sample": np.arange(samples)},
        attrs={"K": 2, "M": 2, "eta": ETA, "damping": DAMPING, "escape_level": threshold, "fraction": FRACTION,
               "record_step": STEP})


def plot(ds):
    fig, axes = subplots(1, 2, figsize=(10, 3.9))
    N = ds["N"].values
    ax = axes[0, 0]
    for rule in ds["rule"].values:
        c = COLORS[rule]
        q = ds["quantiles_chain"].sel(rule=rule).values
        e = ds["escape_chain"].sel(rule=rule).values
        n_ok = np.isfinite(e).sum(-1)
        label = "SGD" if rule == "sgd" else rf"natural, $\varepsilon$ = {ds.attrs['damping']:g}"
        ax.fill_between(N, q[:, 1], q[:, 3], color=c, alpha=0.3, lw=0)
        ax.plot(N, q[:, 2], "o-", color=c,
                label=f"{label}: chain median, 25-75% ({n_ok.min()}-{n_ok.max()}/{e.shape[-1]} escaped); "
                      f"slope {float(ds['slope'].sel(rule=rule)):.1f} ± {float(ds['slope_se'].sel(rule=rule)):.1f}")
        ax.plot(N, ds["escape_ode"].sel(rule=rule), "x", color=c, ms=6)
        th = ds["escape_theory"].sel(rule=rule).values
        if np.isfinite(th).any():
            Nt = ds["N_theory"].values
            qt = np.array([np.nanquantile(t, [0.25, 0.5, 0.75]) for t in th])
            ax.fill_between(Nt, qt[:, 0], qt[:, 2], color=c, alpha=0.12, lw=0)
            ax.plot(Nt, qt[:, 1], "s--", color=c, mfc="none", label=f"{label}: diffusion theory, median, 25-75%")
    ax.plot([], [], "kx", label="ODE from seed 0's start")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel(r"escape $\alpha$ (plateau length)")
    ax.legend(fontsize=6.5, loc="center right")
    ax.set_title(rf"K = M = 2, $\eta$ = {ds.attrs['eta']:g}, from random weights (natural: no theory built yet)",
                 fontsize=8)
    ax = axes[0, 1]
    e = ds["escape_chain"]
    ratio = e.sel(rule="sgd").mean("run", skipna=True) / e.sel(rule="natural").mean("run", skipna=True)
    ax.plot(N, ratio, "o-", color="k", label="mean SGD / mean natural")
    for rule in ds["rule"].values:
        x = e.sel(rule=rule)
        ax.plot(N, x.std("run", skipna=True, ddof=1) / x.mean("run", skipna=True), "^--", color=COLORS[rule],
                label=f"std/mean, {rule}")
    ax.set_xscale("log")
    ax.set_xlabel("N")
    ax.legend(fontsize=7)
    ax.set_title("speed-up of the escape, and relative spread (chain)", fontsize=8)
    return fig


def summary(ds):
    parts = []
    for rule in ds["rule"].values:
        m = np.nanmean(ds["escape_chain"].sel(rule=rule).values, axis=-1)
        parts.append(f"{rule}: mean {m[0]:.0f}->{m[-1]:.0f}, slope {float(ds['slope'].sel(rule=rule)):.1f}"
                     f"+-{float(ds['slope_se'].sel(rule=rule)):.1f}")
    N, Nt = ds["N"].values, ds["N_theory"].values if "N_theory" in ds else None
    theory = ""
    if Nt is not None:
        th = [f"{rule} {np.nanmean(ds['escape_theory'].sel(rule=rule).values[0]):.0f}->"
              f"{np.nanmean(ds['escape_theory'].sel(rule=rule).values[-1]):.0f}" for rule in ds["rule"].values]
        theory = f"; theory, N = {Nt[0]:.0e}..{Nt[-1]:.0e}: " + ", ".join(th)
    return f"chain, N = {N[0]}..{N[-1]}: " + "; ".join(parts) + theory


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
