"""Paper Fig. 3: simulated SGD, eps_g vs iteration, plain vs BN (eta = 1, N = 100, b = 100, 20,000 iterations).

SGD on the weights, as in the paper: the exact overlap chain (``method="overlaps"``)
needs ``N >= K + M + b`` (the batch's inputs orthogonal to the weights), here 120 and
104 against the paper's N = 100, so this figure keeps the weights.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._model import Committee
from .._simulate import simulate
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig3_paper_sgd"
TITLE = "Paper Fig. 3: simulated eps_g vs iteration, plain vs BN (eta = 1, N = 100, b = 100)"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 170
N, ETA, BATCH, ITERATIONS = 100, 1.0, 100, 20_000
# The paper's "large K" and "large tau" (values not stated): our choices
PANELS = {"large K (K=M=10, tau=1)": dict(K=10, tau=1.0), "large tau (K=M=2, tau=10)": dict(K=2, tau=10.0)}
RULES = {"plain": "plain", "paper": "paper", "exact": "exact"}


def compute(quick: bool):
    seeds = 3 if quick else 10
    iterations = 2000 if quick else ITERATIONS
    alpha_max = iterations / N
    alphas = np.unique(np.round(np.geomspace(1, iterations, 60 if quick else 120))) / N
    egs = np.empty((len(PANELS), len(RULES), seeds, alphas.size))
    for p, kw in enumerate(PANELS.values()):
        for r, bn in enumerate(RULES.values()):
            model = Committee(kw["K"], kw["K"], bn=bn, tau=kw["tau"], batch=BATCH)
            res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas)
            egs[p, r] = res.eg
    return xr.Dataset(
        {"eg": (("panel", "rule", "seed", "iteration"), egs, {"long_name": "generalization error eps_g (exact, "
                                                                           "from the overlaps)"})},
        coords={"panel": list(PANELS), "rule": list(RULES), "seed": np.arange(seeds),
                "iteration": np.round(alphas * N).astype(int)},
        attrs={"N": N, "eta": ETA, "batch": BATCH, "iterations": iterations})


def _title(panel):
    """The panel name in the paper's symbols (K, M, tau in math)."""
    name, _, rest = str(panel).partition(" (")
    name = name.replace("large tau", r"large $\tau$").replace("large K", r"large $K$")
    return f"{name} (${rest.rstrip(')').replace('tau', chr(92) + 'tau').replace(', ', ',~')}$)"


def plot(ds):
    from matplotlib.ticker import MaxNLocator

    fig, axes = subplots(1, ds.sizes["panel"], figsize=(4.6 * ds.sizes["panel"], 3.6))
    it = ds["iteration"].values
    for p, panel in enumerate(ds["panel"].values):
        ax = axes[0, p]
        for rule in ds["rule"].values:
            eg = ds["eg"].sel(panel=panel, rule=rule).values
            mean = eg.mean(axis=0)
            lo, hi = np.quantile(eg, [0.1, 0.9], axis=0)
            ax.plot(it, mean, color=COLORS[rule], label=LABELS[rule])
            ax.fill_between(it, lo, hi, color=COLORS[rule], alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel("iteration")
        ax.set_ylabel(r"$\epsilon_g$")
        ax.set_title(_title(panel), fontsize=10)
    axes[0, 0].legend(fontsize=8, title=f"N={ds.attrs['N']}, b={ds.attrs['batch']}, $\\eta$={ds.attrs['eta']:g}\n"
                      f"mean over {ds.sizes['seed']} seeds, 10-90% band", title_fontsize=7)
    return fig


def summary(ds):
    final = ds["eg"].isel(iteration=-1).mean("seed")
    parts = []
    for panel in ds["panel"].values:
        vals = ", ".join(f"{r} {float(final.sel(panel=panel, rule=r)):.2g}" for r in ds["rule"].values)
        parts.append(f"{panel.split(' (')[0]}: {vals}")
    return "final eps_g: " + "; ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
