"""The paper's reduced Hessian at its fixed points, over a parameter (shared by Figs. 1 and 2)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._model import Committee
from .._reduced import paper_fixed_point, reduced_hessian
from ._style import subplots


def eigenvalues(K: int, tau: float, bn):
    """Sorted eigenvalues of the paper's Hessian d^2 eps_g/dOmega^2 at the paper's fixed point (docs/model.md §4)."""
    model = Committee(K, K, bn=bn, tau=tau)
    fp = paper_fixed_point(model)
    H, names = reduced_hessian(model, fp.R, fp.S, fp.Q, fp.g)
    return np.sort(np.linalg.eigvalsh(H)), names


def scan(dim: str, values, *, K=None, tau=None) -> xr.Dataset:
    plain = np.array([eigenvalues(K or v, tau or v, "plain")[0] for v in values])
    bn = np.array([eigenvalues(K or v, tau or v, "paper")[0] for v in values])
    return xr.Dataset(
        {"plain": ((dim, "eig3"), plain, {"long_name": "eigenvalues of the paper's Hessian, plain, Omega=(R,S,Q)"}),
         "bn": ((dim, "eig4"), bn, {"long_name": "eigenvalues of the paper's Hessian, BN, Omega=(R,S,Q,g)"})},
        coords={dim: np.asarray(values)})


def plot(ds, dim, xlabel, title):
    fig, axes = subplots(2, 4, figsize=(12, 5))
    x = ds[dim].values
    for row, (var, label, style, color) in enumerate((("plain", "plain", "o-", "C0"), ("bn", "BN", "s-", "C3"))):
        for j in range(ds[var].shape[1]):
            ax = axes[row, j]
            ax.plot(x, ds[var].values[:, j], style, color=color)
            ax.set_title(f"{label}: eigenvalue {j + 1}")
            ax.axhline(0, color="0.7", lw=0.8)
            ax.set_xlabel(xlabel)
    axes[0, 3].axis("off")  # plain has 3 eigenvalues: the fourth panel holds the caption
    axes[0, 3].text(0, 0.5, title, fontsize=9, va="center", wrap=True)
    for ax in axes[:, 0]:
        ax.set_ylabel(r"eigenvalue of $\nabla_\Omega\nabla_\Omega\,\epsilon_g$")
    return fig


def summary(ds, dim):
    x = ds[dim].values
    neg_p, neg_b = ds["plain"].values[:, 0], ds["bn"].values[:, 0]
    return (f"most negative eigenvalue, plain {neg_p[0]:.3g}..{neg_p[-1]:.3g}, BN {neg_b[0]:.3g}..{neg_b[-1]:.3g} "
            f"({dim} = {x[0]:g}..{x[-1]:g})")
