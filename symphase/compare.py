"""Theory vs simulation: the ODE integrated from each seed's own initial overlaps.

MODEL.md §5: a fair check integrates the ODE from the overlaps the simulation
actually starts from; the discrepancy must then shrink like ``N^(-1/2)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import check_model, check_real
from .ode import integrate
from .simulate import SimulationResult, simulate


def escape_alpha(alpha, eg, fraction: float = 0.5, flat: float = 0.2) -> float:
    """Plateau escape time: the first ``alpha`` after the plateau is reached at which ``eps_g``
    falls below ``fraction`` times its plateau value.

    The plateau is the first flat stretch after the initial descent: the first
    point, once ``eps_g`` has fallen below half its initial value, where
    ``|d log eps_g / d log alpha| < flat``; its value is the median of
    ``eps_g`` over that point and the next two. NaN when there is no such
    plateau or no escape within the run.
    """
    alpha, eg = np.asarray(alpha, dtype=float), np.asarray(eg, dtype=float)
    ok = np.isfinite(eg) & (alpha > 0) & (eg > 0)
    a, e = alpha[ok], eg[ok]
    if a.size < 6:
        return math.nan
    slope = np.gradient(np.log(e), np.log(a))
    dropped = np.nonzero(e < 0.5 * e[0])[0]
    if dropped.size == 0:
        return math.nan
    flat_idx = np.nonzero((np.arange(a.size) >= dropped[0]) & (np.abs(slope) < flat))[0]
    if flat_idx.size == 0:
        return math.nan
    j = flat_idx[0]
    level = fraction * float(np.median(e[j:j + 3]))
    below = np.nonzero((e < level) & (np.arange(a.size) > j))[0]
    return float(a[below[0]]) if below.size else math.nan


@dataclass
class Comparison:
    """Simulation vs ODE, seed by seed (see :func:`compare`)."""

    simulation: SimulationResult
    ode_eg: np.ndarray          # (seeds, n): eps_g of the ODE from each seed's start
    ode_Q: np.ndarray           # (seeds, n, K, K)
    ode_R: np.ndarray           # (seeds, n, K, M)
    ode_status: list
    fraction: float

    @property
    def alpha(self):
        return self.simulation.alpha

    @property
    def discrepancy(self) -> dict:
        """Max over the run of |sim - ODE| per seed, for ``eg``, ``Q``, ``R`` (arrays over seeds)."""
        s = self.simulation
        return {
            "eg": np.nanmax(np.abs(s.eg - self.ode_eg), axis=1),
            "Q": np.nanmax(np.abs(s.Q - self.ode_Q), axis=(1, 2, 3)),
            "R": np.nanmax(np.abs(s.R - self.ode_R), axis=(1, 2, 3)),
        }

    @property
    def mean_difference(self):
        """Seed mean of ``eg_sim - eg_ode`` along the run and its standard error, ``(mean, se)``."""
        d = self.simulation.eg - self.ode_eg
        n = d.shape[0]
        se = d.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(d.shape[1], np.nan)
        return d.mean(axis=0), se

    @property
    def escape_sim(self):
        return np.array([escape_alpha(self.alpha, e, self.fraction) for e in self.simulation.eg])

    @property
    def escape_ode(self):
        return np.array([escape_alpha(self.alpha, e, self.fraction) for e in self.ode_eg])

    def to_xarray(self):
        ds = self.simulation.to_xarray()
        ds["eg_ode"] = (("seed", "alpha"), self.ode_eg, {"long_name": "eps_g of the ODE from the seed's start"})
        disc = self.discrepancy
        for k, v in disc.items():
            ds[f"max_discrepancy_{k}"] = ("seed", v, {"long_name": f"max over alpha of |sim - ODE| of {k}"})
        ds["escape_alpha_sim"] = ("seed", self.escape_sim, {"nan_means": "no escape within the run"})
        ds["escape_alpha_ode"] = ("seed", self.escape_ode, {"nan_means": "no escape within the run"})
        ds.attrs["escape_fraction"] = self.fraction
        return ds


def compare(model, N, eta, alpha_max, seeds, *, alphas=None, fraction=0.5, workers=None, init=None,
            rtol=1e-9, atol=1e-11, progress=False) -> Comparison:
    """Simulate ``seeds`` runs at finite ``N`` and integrate the ODE from each run's initial
    overlaps (MODEL.md §5); the discrepancy along the curve and the escape times
    (:func:`escape_alpha`) of both come with the result."""
    model = check_model(model)
    fraction = check_real("fraction", fraction, positive=True)
    sim = simulate(model, N, eta, alpha_max, seeds=seeds, alphas=alphas, workers=workers, init=init,
                   progress=progress)
    n_seeds, n = sim.eg.shape
    eg = np.full((n_seeds, n), np.nan)
    Q = np.full(sim.Q.shape, np.nan)
    R = np.full(sim.R.shape, np.nan)
    status = []
    for j in range(n_seeds):
        g0 = None if sim.initial["g"] is None else sim.initial["g"][j]
        res = integrate(model, sim.initial["Q"][j], sim.initial["R"][j], sim.eta, float(sim.alpha[-1]), g0=g0,
                        alphas=sim.alpha, eg_tol=0.0, rtol=rtol, atol=atol)
        m = int(np.sum(np.isin(res.alpha, sim.alpha)))
        eg[j, :m], Q[j, :m], R[j, :m] = res.eg[:m], res.Q[:m], res.R[:m]
        status.append(str(res.status))
    return Comparison(sim, eg, Q, R, status, fraction)
