"""Learning curves from the paper's random start under natural gradient, unit-wise preconditioning and SGD,
plain and BN (exact rule): the ODE from each seed's own start against SGD on the exact overlap chain.

K = M = 2, T = I, eta = 0.5, N = 1000: SGD, BN with the exact gradient, and ``natural`` and ``unitwise``
(plain) and ``natural`` (exact BN) at the dampings 0.1 and 1e-3 (docs/model.md §14). Each seed starts from
the overlaps of its random weights (:func:`symphase.random_initial`: the same start in the ODE and in the
chain); the ODE is integrated from each seed's start (:func:`symphase.integrate`, the rule's own ODE,
docs/model.md §14.5) and the simulation is the exact chain
(``simulate(..., method="overlaps")``), run to twice the ODE's escape from seed 0's start (at least
``ALPHA_MIN``). Escape: ``eps_g`` first below half the plateau level of plain SGD's ODE from seed 0's start,
one threshold for every rule. ``adaptive`` (Amari-Park-Fukumizu's online estimate of F^-1, docs/model.md §14.9)
has no order-parameter theory and costs O((N K)^2) per example: it is simulated on the weights at
``ADAPTIVE_N`` = 100 (crosses, left panel), the same seeds' random starts at that N.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._initial import random_initial
from .._model import Committee
from .._ode import integrate
from .._plateau import escape_alpha, plateau_value
from .._simulate import simulate
from .._state import State
from ._reproduce import main_for
from ._style import COLORS, subplots

NAME = "fig11_natural_curves"
TITLE = ("Learning curves from the random start, K = M = 2, eta = 0.5: SGD, BN, natural and unit-wise at two "
         "dampings, ODE vs the exact overlap chain at N = 1000")
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 14
ETA = 0.5
DAMPINGS = (0.1, 1e-3)
#: case -> (BN rule, preconditioner, damping)
CASES = {"sgd": ("plain", None, None), "bn": ("exact", None, None),
         **{f"natural_{e:g}": ("plain", "natural", e) for e in DAMPINGS},
         **{f"unitwise_{e:g}": ("plain", "unitwise", e) for e in DAMPINGS},
         **{f"bn_natural_{e:g}": ("exact", "natural", e) for e in DAMPINGS}}
FRACTION = 0.5      # escape: eps_g below this fraction of plain SGD's plateau level
SPAN = 2.0          # the chain runs to this multiple of the ODE's escape from seed 0's start ...
ALPHA_MIN = 100.0   # ... and at least this far (a rule that does not escape: this far)
SYMMETRIC_ALPHAS = (0.0, 25.0, 50.0, 100.0)  # the exactly symmetric start's ODE, recorded here
#: adaptive natural gradient (docs/model.md §14.9): simulation on the weights only, O((N K)^2) per example, so
#: at this N (not the figure's N), with this damping, to this alpha
ADAPTIVE_N, ADAPTIVE_DAMPING, ADAPTIVE_ALPHA = 100, 1e-3, 200.0


def _model(case):
    bn, pre, eps = CASES[case]
    return Committee(2, 2, bn=bn) if pre is None else Committee(2, 2, bn=bn, preconditioner=pre, damping=eps)


def _ode(model, start, alphas, what="eg"):
    """``eps_g`` (or ``what``: ``"Q"``) of the ODE from ``start`` at ``alphas`` (:func:`integrate`, whichever
    rule the model names)."""
    res = integrate(model, ETA, float(alphas[-1]), start=(start.Q, start.R, start.g), alphas=alphas, eg_tol=0,
                    rtol=1e-10, atol=1e-12).raise_for_status()
    return getattr(res, what)


def _label(case):
    bn, pre, eps = CASES[case]
    name = {None: "SGD", "natural": "natural", "unitwise": "unit-wise"}[pre]
    return ("BN exact, " if bn == "exact" else "") + name + ("" if eps is None else rf", $\varepsilon$ = {eps:g}")


def compute(quick: bool):
    N = 300 if quick else 1000
    seeds = 2 if quick else 4
    alpha_ode = 300.0 if quick else 1000.0
    alphas = np.concatenate([[0.0], np.geomspace(0.5, alpha_ode, 40 if quick else 160)])
    cases = list(CASES)
    ode = np.full((len(cases), seeds, alphas.size), np.nan)
    sim = np.full_like(ode, np.nan)
    esc_ode, esc_sim = np.full((len(cases), seeds), np.nan), np.full((len(cases), seeds), np.nan)
    a_sim = np.empty(len(cases))
    n_sym = len(SYMMETRIC_ALPHAS) - 1
    sym_eg, sym_Q = np.empty((len(cases), n_sym)), np.empty((len(cases), n_sym, 2, 2))
    level = None
    for c, case in enumerate(cases):
        model = _model(case)
        starts = [random_initial(model, N, seed=s) for s in range(seeds)]
        ode[c] = [_ode(model, st, alphas) for st in starts]
        if level is None:  # the first case is plain SGD: its plateau sets the one threshold
            level = FRACTION * plateau_value(alphas, ode[0, 0])
        esc_ode[c] = [escape_alpha(alphas, e, plateau=level / FRACTION, fraction=FRACTION) for e in ode[c]]
        first = esc_ode[c, 0]
        sym = State(np.eye(2), np.zeros((2, 2)), np.ones(2) if model.has_bn else None)
        sym_Q[c] = _ode(model, sym, np.array(SYMMETRIC_ALPHAS), "Q")[1:]
        sym_eg[c] = _ode(model, sym, np.array(SYMMETRIC_ALPHAS))[1:]
        a_sim[c] = min(alpha_ode, max(ALPHA_MIN, SPAN * first)) if np.isfinite(first) else ALPHA_MIN
        inside = alphas <= a_sim[c]
        res = simulate(model, N, ETA, a_sim[c], seeds=seeds, alphas=alphas[inside],
                       method="overlaps").raise_for_status()
        sim[c][:, inside] = res.eg
        esc_sim[c] = [escape_alpha(res.alpha, e, plateau=level / FRACTION, fraction=FRACTION) for e in res.eg]
    adaptive = Committee(2, 2, preconditioner="adaptive", damping=ADAPTIVE_DAMPING)
    a_ad = alphas[alphas <= (60.0 if quick else ADAPTIVE_ALPHA)]
    res = simulate(adaptive, ADAPTIVE_N, ETA, float(a_ad[-1]), seeds=seeds, alphas=a_ad,
                   method="weights").raise_for_status()
    eg_ad = np.full((seeds, alphas.size), np.nan)
    eg_ad[:, :a_ad.size] = res.eg
    esc_ad = np.array([escape_alpha(res.alpha, e, plateau=level / FRACTION, fraction=FRACTION) for e in res.eg])
    nan_esc = "no escape (eps_g never below the threshold) by the end of the run"
    return xr.Dataset(
        {"eg_ode": (("case", "seed", "alpha"), ode, {"long_name": "eps_g, ODE from the seed's initial overlaps"}),
         "eg_sim": (("case", "seed", "alpha"), sim,
                    {"long_name": "eps_g, SGD on the exact overlap chain from the seed's random start",
                     "nan_means": "beyond the end of the chain run (alpha_sim)"}),
         "escape_ode": (("case", "seed"), esc_ode, {"long_name": "escape alpha of the ODE", "nan_means": nan_esc}),
         "escape_sim": (("case", "seed"), esc_sim, {"long_name": "escape alpha of the chain", "nan_means": nan_esc}),
         "sym_eg": (("case", "alpha_sym"), sym_eg,
                    {"long_name": "eps_g of the ODE from the exactly symmetric start Q = I, R = 0 (g = 1): the "
                                  "plateau a random start approaches"}),
         "sym_Q": (("case", "alpha_sym", "i", "k"), sym_Q, {"long_name": "Q of the ODE from Q = I, R = 0"}),
         "alpha_sim": (("case",), a_sim, {"long_name": "end of the chain runs"}),
         "bn": (("case",), np.array([CASES[k][0] for k in cases], dtype=object)),
         "preconditioner": (("case",), np.array([CASES[k][1] or "none" for k in cases], dtype=object)),
         "damping": (("case",), np.array([np.nan if CASES[k][2] is None else CASES[k][2] for k in cases]),
                     {"nan_means": "SGD (no preconditioner)"}),
         "eg_adaptive": (("seed", "alpha"), eg_ad,
                         {"long_name": f"eps_g, adaptive natural gradient (damping {ADAPTIVE_DAMPING:g}) on the "
                                       f"weights at N = {ADAPTIVE_N} from the seed's random start",
                          "nan_means": "beyond the end of the run"}),
         "escape_adaptive": (("seed",), esc_ad, {"long_name": "escape alpha of adaptive", "nan_means": nan_esc})},
        coords={"case": cases, "seed": np.arange(seeds), "alpha": alphas, "alpha_sym": list(SYMMETRIC_ALPHAS[1:])},
        attrs={"N": N, "eta": ETA, "K": 2, "M": 2, "escape_level": level, "fraction": FRACTION,
               "adaptive": f"simulation on the weights only (no order-parameter theory), N = {ADAPTIVE_N}: its "
                           f"O((N K)^2) cost per example (docs/model.md §14.9)"})


_STYLE = {"sgd": ("C0", "-"), "bn": (COLORS["exact"], "-"),
          "natural_0.1": ("C1", "-"), "natural_0.001": ("C1", "--"),
          "unitwise_0.1": ("C4", "-"), "unitwise_0.001": ("C4", "--"),
          "bn_natural_0.1": ("C3", "-"), "bn_natural_0.001": ("C3", "--")}


def plot(ds):
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    a = ds["alpha"].values
    n = ds.sizes["seed"]
    groups = (("sgd", "natural_0.1", "natural_0.001", "unitwise_0.1", "unitwise_0.001"),
              ("sgd", "bn", "bn_natural_0.1", "bn_natural_0.001"))
    for ax, group, title in zip(axes[0], groups, ("plain network", "BN (exact gradient), plain SGD for reference")):
        for case in group:
            if case not in ds["case"].values:
                continue
            c, ls = _STYLE.get(case, ("k", "-"))
            ode = ds["eg_ode"].sel(case=case).values.mean(0)
            sim = ds["eg_sim"].sel(case=case).values
            ax.plot(a[1:], ode[1:], ls, color=c, label=_label(case))
            ok = np.all(np.isfinite(sim), axis=0) & (a > 0)
            ax.errorbar(a[ok], sim[:, ok].mean(0), yerr=sim[:, ok].std(0, ddof=1) / np.sqrt(n), fmt="o", ms=2.5,
                        color=c, mfc="none" if ls == "--" else c, elinewidth=0.6)
        if group[1] == "natural_0.1" and "eg_adaptive" in ds:
            ad = ds["eg_adaptive"].values
            ok = np.all(np.isfinite(ad), axis=0) & (a > 0)
            ax.errorbar(a[ok], ad[:, ok].mean(0), yerr=ad[:, ok].std(0, ddof=1) / np.sqrt(n), fmt="x", ms=3,
                        color="0.3", elinewidth=0.6,
                        label=rf"adaptive, $\varepsilon$ = {ADAPTIVE_DAMPING:g} (weights, N = {ADAPTIVE_N})")
        ax.axhline(ds.attrs["escape_level"], color="0.5", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 0.3)
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$\epsilon_g$")
        ax.set_title(f"{title}\nlines: ODE (mean over the seeds' starts); points: exact chain, N = {ds.attrs['N']}, "
                     f"{n} seeds ±1 s.e.", fontsize=8)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(rf"K = M = 2, $\eta$ = {ds.attrs['eta']:g}, from random weights (adaptive: simulation on the "
                 rf"weights at N = {ADAPTIVE_N}, no theory)", fontsize=9)
    return fig


def summary(ds):
    parts = []
    for case in ds["case"].values:
        eo, es = ds["escape_ode"].sel(case=case).values, ds["escape_sim"].sel(case=case).values
        fmt = (lambda x: f"{np.nanmean(x):.0f}" if np.isfinite(x).any() else "none")  # noqa: E731
        parts.append(f"{case} {fmt(eo)}/{fmt(es)}")
    if "escape_adaptive" in ds:
        e = ds["escape_adaptive"].values
        parts.append(f"adaptive (weights, N = {ADAPTIVE_N}) {np.nanmean(e):.0f}" if np.isfinite(e).any()
                     else "adaptive none")
    return "escape alpha ODE/chain (mean over seeds): " + ", ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
