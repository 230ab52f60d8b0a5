"""The two-layer network (docs/model.md §13): escape from the plateau with a trainable second layer
against a fixed one, plain against both BN rules, K = M = 2..6; and the effect of the 1/K scaling.

Escape rates ``lambda`` are the largest eigenvalue of the Jacobian of the full ODE at the
symmetric fixed point (with ``v`` among the state variables when it is learned):
``eta -> 0`` (per unit ``eta``) for all three rules, and ``eta = 0.3`` for the plain network,
where the O(eta^2) terms move the plateau and a learned ``v`` settles below 1. Plateau lengths
are measured on the ODE: from the plateau displaced by ``1e-6`` along its escape direction, the
``alpha`` at which ``eps_g`` first falls to half its plateau value; and from the paper's random
start (``random_initial``, N = 1000, seed 0) for all three rules, where the escape is the first fall
below half the committee plateau's ``eps_g`` after reaching it.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._fixedpoint_solve import symmetric_fixed_point
from .._initial import random_initial
from .._model import Committee
from .._ode import integrate
from .._plateau import escape_alpha
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig9_two_layer"
TITLE = "Two-layer network: plateau escape with a learned vs fixed second layer, plain and BN, K = 2..6"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 25
RULES = ("plain", "paper", "exact")
LAYERS = ("fixed", "learned")
SCALINGS = ("sum", "1/K")
ETA = 0.3
KICK = 1e-6


def _plateau_length(fp, eta):
    """alpha at which eps_g falls to half the plateau's, from the plateau kicked by KICK along its escape direction."""
    model = fp.model
    lay = model.layout
    d = np.real(fp.escape_direction)
    d = d / np.max(np.abs(d))
    y = fp.state + KICK * d
    Q, R, g = lay.unpack(y)
    v = lay.unpack_v(y)
    a_max = 40.0 / (eta * max(fp.escape_rate, 1e-12)) if fp.eta == 0 else 40.0 / fp.escape_rate
    res = integrate(model, eta, a_max, start=(Q, R, g, v), alphas=np.linspace(0, a_max, 4001), eg_tol=0)
    below = np.nonzero(res.eg < 0.5 * fp.eg)[0]
    return float(res.alpha[below[0]]) if below.size else np.nan


def _random_start_length(model, eta):
    """Escape time from the paper's random start (N = 1000, seed 0): eps_g below half the plateau's."""
    plateau = symmetric_fixed_point(model.with_(second_layer="fixed")).eg
    Q0, R0, g0, _ = random_initial(model, N=1000, seed=0)
    a_max = 3e3 * model.K ** 2 if model.has_bn else 2e3 * model.K
    res = integrate(model, eta, a_max, start=(Q0, R0, g0), eg_tol=0, alphas=np.geomspace(1e-2, a_max, 400))
    return escape_alpha(res.alpha, res.eg, plateau=plateau)


def compute(quick: bool):
    Ks = [2, 3, 4] if quick else [2, 3, 4, 5, 6]
    rate0 = np.full((len(RULES), len(LAYERS), len(SCALINGS), len(Ks)), np.nan)
    for r, rule in enumerate(RULES):
        for s_, layer in enumerate(LAYERS):
            for c, scaling in enumerate(SCALINGS):
                for k, K in enumerate(Ks):
                    fp = symmetric_fixed_point(Committee(K, K, bn=rule, second_layer=layer, scaling=scaling))
                    rate0[r, s_, c, k] = fp.escape_rate
    rate = np.full((len(LAYERS), len(Ks)), np.nan)
    v_plateau = np.full(len(Ks), np.nan)
    eg_plateau = np.full((len(LAYERS), len(Ks)), np.nan)
    length = np.full((len(LAYERS), len(Ks)), np.nan)
    for s_, layer in enumerate(LAYERS):
        for k, K in enumerate(Ks):
            fp = symmetric_fixed_point(Committee(K, K, second_layer=layer), eta=ETA)
            rate[s_, k] = fp.escape_rate
            eg_plateau[s_, k] = fp.eg
            if fp.v is not None:
                v_plateau[k] = fp.v[0]
            length[s_, k] = _plateau_length(fp, ETA)
    length_random = np.full((len(RULES), len(LAYERS), len(Ks)), np.nan)
    for r, rule in enumerate(RULES):
        for s_, layer in enumerate(LAYERS):
            for k, K in enumerate(Ks):
                length_random[r, s_, k] = _random_start_length(Committee(K, K, bn=rule, second_layer=layer), ETA)
    return xr.Dataset(
        {"length_random": (("rule", "second_layer", "K"), length_random,
                           {"long_name": f"plateau length in alpha from the random start (N = 1000, seed 0), "
                                         f"ODE, eta = {ETA}"}),
         "rate_eta0": (("rule", "second_layer", "scaling", "K"), rate0,
                       {"long_name": "escape rate lambda/eta at eta -> 0 (Jacobian of the full ODE)"}),
         "rate_plain": (("second_layer", "K"), rate,
                        {"long_name": f"escape rate lambda per unit alpha, plain, eta = {ETA}"}),
         "eg_plateau_plain": (("second_layer", "K"), eg_plateau, {"long_name": f"plateau eps_g, plain, eta = {ETA}"}),
         "v_plateau_plain": ("K", v_plateau, {"long_name": f"learned v_i on the plateau, plain, eta = {ETA}"}),
         "length_plain": (("second_layer", "K"), length,
                          {"long_name": f"plateau length in alpha from a {KICK:g} kick along the escape direction "
                                        f"(ODE), plain, eta = {ETA}"})},
        coords={"rule": list(RULES), "second_layer": list(LAYERS), "scaling": list(SCALINGS), "K": Ks},
        attrs={"eta": ETA, "kick": KICK})


def plot(ds):
    fig, axes = subplots(1, 4, figsize=(17, 3.7))
    K = ds["K"].values
    ax = axes[0, 0]
    for rule in RULES:
        for layer, style in (("fixed", dict(marker="o", ls="-")), ("learned", dict(marker="x", ls="--", ms=9))):
            ax.plot(K, ds["rate_eta0"].sel(rule=rule, second_layer=layer, scaling="sum").values,
                    color=COLORS[rule], label=f"{LABELS[rule]}, v {layer}", **style)
    ax.set_yscale("log")
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"$\lambda/\eta$ ($\eta\to0$)")
    ax.set_title(r"$\eta\to0$: a learned $v$ sits at $v_i=1$; same rate", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for layer, style in (("fixed", dict(marker="o", ls="-")), ("learned", dict(marker="x", ls="--", ms=9))):
        s = ds["rate_eta0"].sel(rule="plain", second_layer=layer, scaling="sum").values
        c = ds["rate_eta0"].sel(rule="plain", second_layer=layer, scaling="1/K").values
        ax.plot(K, c / s, color=COLORS["plain"], label=f"plain, v {layer}", **style)
    ax.plot(K, 1.0 / K.astype(float) ** 2, "k:", label=r"$1/K^2$")
    ax.set_yscale("log")
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"$\lambda_{1/K} / \lambda_{\rm sum}$")
    ax.set_title("output scaling 1/K (student and teacher)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for layer, style in (("fixed", dict(marker="o", ls="-")), ("learned", dict(marker="x", ls="--", ms=9))):
        ax.plot(K, ds["length_plain"].sel(second_layer=layer).values, color=COLORS["plain"],
                label=f"v {layer}", **style)
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"plateau length $\alpha$ (ODE)")
    ax.set_title(rf"plain, $\eta={ds.attrs['eta']}$: learned $v$ shrinks on the plateau", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[0, 3]
    for rule in RULES:
        for layer, style in (("fixed", dict(marker="o", ls="-")), ("learned", dict(marker="x", ls="--", ms=9))):
            ax.plot(K, ds["length_random"].sel(rule=rule, second_layer=layer).values, color=COLORS[rule],
                    label=f"{LABELS[rule]}, v {layer}", **style)
    ax.set_yscale("log")
    ax.set_xlabel(r"$K = M$")
    ax.set_ylabel(r"escape $\alpha$ from the random start (ODE)")
    ax.set_title(rf"random start, $\eta={ds.attrs['eta']}$: BN still delays", fontsize=9)
    ax.legend(fontsize=6)
    return fig


def summary(ds):
    K = ds["K"].values
    r = ds["rate_plain"]
    parts = [f"K={k}: lambda fixed {r.sel(second_layer='fixed', K=k).item():.4g} vs learned "
             f"{r.sel(second_layer='learned', K=k).item():.4g} (v={ds['v_plateau_plain'].sel(K=k).item():.3f})"
             for k in K]
    return f"plain, eta={ds.attrs['eta']}: " + "; ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
