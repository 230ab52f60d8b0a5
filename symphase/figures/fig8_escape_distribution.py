"""The distribution of plateau lengths against N up to 10^6, plain against BN, from theory.

Theory only: :func:`symphase.escape_time`, the diffusion approximation (docs/model.md §12.1),
which reaches N = 10^6 at a cost independent of N; no SGD is simulated here.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._escape import escape_time
from .._fixedpoint_solve import symmetric_fixed_point
from .._model import Committee
from ._reproduce import main_for
from ._style import COLORS, LABELS, subplots

NAME = "fig8_escape_distribution"
TITLE = "Plateau length (escape alpha) against N from the random start: the diffusion approximation, plain vs BN"
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 45
RULES = ("plain", "exact")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def compute(quick: bool):
    Ns = [10**3, 10**4, 10**5, 10**6] if not quick else [10**3, 10**5]
    samples = 12 if quick else 100
    data = {}
    for rule in RULES:
        model = Committee(2, 2, bn=rule)
        mean, std, q = [], [], []
        for N in Ns:
            et = escape_time(model, N, 1.0, samples=samples)
            mean.append(et.mean)
            std.append(et.std)
            q.append(et.quantile(list(QUANTILES)))
        data[f"mean_{rule}"] = ("N", np.array(mean), {"long_name": f"mean escape alpha, {rule}"})
        data[f"std_{rule}"] = ("N", np.array(std), {"long_name": f"standard deviation of the escape alpha, {rule}"})
        data[f"quantiles_{rule}"] = (("N", "q"), np.array(q), {"long_name": f"quantiles of the escape alpha, {rule}"})
        data[f"rate_{rule}"] = ((), symmetric_fixed_point(model).escape_rate,
                                {"long_name": f"lambda/eta at the symmetric fixed point (eta -> 0), {rule}"})
    return xr.Dataset(data, coords={"N": Ns, "q": list(QUANTILES)},
                      attrs={"K": 2, "M": 2, "eta": 1.0, "samples": samples, "start": "random"})


def plot(ds):
    fig, axes = subplots(1, 2, figsize=(9, 3.6))
    N = ds["N"].values
    ax = axes[0, 0]
    for rule in RULES:
        q = ds[f"quantiles_{rule}"].values
        ax.fill_between(N, q[:, 0], q[:, -1], color=COLORS[rule], alpha=0.2, lw=0)
        ax.fill_between(N, q[:, 1], q[:, 3], color=COLORS[rule], alpha=0.35, lw=0)
        ax.plot(N, q[:, 2], "o-", color=COLORS[rule], label=f"{LABELS[rule]}: median, 25-75%, 10-90%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel(r"escape $\alpha$ (plateau length)")
    ax.legend(fontsize=7)
    ax.set_title("K = M = 2, eta = 1, from random weights", fontsize=9)
    ax = axes[0, 1]
    for rule in RULES:
        ax.plot(N, ds[f"std_{rule}"].values / ds[f"mean_{rule}"].values, "o-", color=COLORS[rule],
                label=LABELS[rule])
    ax.set_xscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("std / mean of the escape alpha")
    ax.legend(fontsize=8)
    ax.set_title("relative spread of the plateau length", fontsize=9)
    return fig


def summary(ds):
    parts = []
    for rule in RULES:
        m, s = ds[f"mean_{rule}"].values, ds[f"std_{rule}"].values
        parts.append(f"{rule}: mean {m[0]:.4g}->{m[-1]:.4g}, std {s[0]:.3g}->{s[-1]:.3g}")
    N = ds["N"].values
    return f"N = {N[0]:g}..{N[-1]:g}: " + "; ".join(parts)


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
