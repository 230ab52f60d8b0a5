"""Theory vs simulation: the ODE integrated from each seed's own initial overlaps.

docs/model.md §5: a fair check integrates the ODE from the overlaps the simulation
actually starts from; the discrepancy must then shrink like ``N^(-1/2)``.
:func:`compare` returns a :class:`Comparison` with the discrepancies (per seed
and for the seed mean, with its standard error) and the plateau escape times
(:func:`escape_alpha`) of simulation and ODE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._fixedpoint_solve import symmetric_fixed_point
from ._model import check_model, rule_for
from ._ode import ATOL, RTOL, integrate
from ._plateau import escape_alpha
from ._results import Result, Status, alpha_span
from ._simulate import SimulationResult, old_start_keywords, simulate
from ._state import old_forms
from ._validate import check_real


@dataclass(repr=False)
class Comparison(Result):
    """Simulation vs ODE, seed by seed (returned by :func:`compare`; docs/model.md §5.4).

    The ODE is integrated from each seed's own initial overlaps, so the
    discrepancy that remains is the finite-``N`` fluctuation of the dynamics
    and must shrink like ``N^(-1/2)`` (docs/model.md §7.6). Not built by hand:
    the constructor takes the attributes below as arguments (``simulation``,
    ``ode_eg``, ``ode_Q``, ``ode_R``, ``ode_status``, ``fraction``, then keywords
    ``ode_g``, ``plateau``) and sets ``status`` and ``message`` itself.

    Attributes
    ----------
    simulation : SimulationResult
        The simulation (its ``alpha`` are the comparison's output points).
    ode_eg, ode_Q, ode_R, ode_g : ndarray
        ``ode_eg`` (seeds, n), ``ode_Q`` (seeds, n, K, K), ``ode_R`` (seeds, n, K, M),
        ``ode_g`` (seeds, n, K) or None: the ODE from each seed's initial overlaps at
        the simulation's ``alpha`` (NaN after a failed ODE run's last point).
    ode_status : list of str
        How each seed's ODE run ended.
    fraction : float
        The escape threshold, a fraction of the plateau level.
    plateau : float or None
        The plateau level used for the escape times (None: read off each curve).
    status, message
        The simulation's status, or the first failed ODE run's; ``message`` says which.

    Examples
    --------
    >>> import symphase
    >>> cmp = symphase.compare(symphase.Committee(2, 2), N=1000, eta=1.0, alpha_max=5, seeds=2)
    >>> cmp.status, cmp.ode_eg.shape == cmp.simulation.eg.shape
    (<Status.COMPLETED: 'completed'>, True)
    >>> print(f"{cmp.discrepancy['eg'].max():.3f}")     # O(N^(-1/2)) at N = 1000
    0.013
    """

    simulation: SimulationResult
    ode_eg: np.ndarray
    ode_Q: np.ndarray
    ode_R: np.ndarray
    ode_status: list
    fraction: float
    ode_g: np.ndarray | None = None
    plateau: float | None = None
    status: Status = Status.COMPLETED
    message: str = ""

    def __post_init__(self):
        sim = self.simulation
        bad = [(int(s), st) for s, st in zip(sim.seeds, self.ode_status) if not Status(st).success]
        if not sim.success:
            self.status, self.message = Status(sim.status), f"simulation: {sim.message}"
        elif bad:
            self.status = Status(bad[0][1])
            self.message = (f"the ODE stopped early for {len(bad)} of {len(sim.seeds)} seed(s) "
                            f"({', '.join(f'seed {s}: {st}' for s, st in bad)}); its arrays are NaN after that")
        else:
            self.status = Status.COMPLETED
            self.message = f"compared {len(sim.seeds)} seed(s) at N = {sim.N} up to alpha = {sim.alpha[-1]:g}"

    def _summary(self) -> str:
        sim = self.simulation
        return f"{sim.model.describe()}, N={sim.N}, eta={sim.eta:g}, {len(sim.seeds)} seed(s), {alpha_span(sim.alpha)}"

    def _fields(self) -> dict:
        return {"simulation": self.simulation.to_dict(), "ode_eg": self.ode_eg, "ode_Q": self.ode_Q,
                "ode_R": self.ode_R, "ode_g": self.ode_g, "ode_status": self.ode_status, "fraction": self.fraction,
                "plateau": self.plateau, "max_discrepancy": self.discrepancy,
                "mean_discrepancy": self.mean_discrepancy,
                "mean_discrepancy_fields": ["max |seed mean of sim - ODE|", "its standard error", "max |mean|/se"],
                "escape_alpha_sim": self.escape_sim, "escape_alpha_ode": self.escape_ode}

    @property
    def alpha(self):
        """The output points (the simulation's recorded ``alpha``), shape (n,)."""
        return self.simulation.alpha

    def _pairs(self):
        s = self.simulation
        out = {"eg": (s.eg, self.ode_eg), "Q": (s.Q, self.ode_Q), "R": (s.R, self.ode_R)}
        if s.g is not None and self.ode_g is not None and s.model.gain == "learned":
            out["g"] = (s.g, self.ode_g)
        return out

    @property
    def discrepancy(self) -> dict:
        """Per seed, the largest ``abs(sim - ODE)`` over the run and the components (docs/model.md §5.4).

        Returns
        -------
        dict
            ``{name: ndarray (seeds,)}`` for ``eg``, ``Q``, ``R`` (and ``g`` with a
            learned gain); NaN for a seed without a finite point.
        """
        out = {}
        for k, (a, b) in self._pairs().items():
            d = np.abs(a - b).reshape(a.shape[0], -1)
            out[k] = np.array([np.max(r[np.isfinite(r)]) if np.any(np.isfinite(r)) else np.nan for r in d])
        return out

    def mean_difference(self, name: str = "eg"):
        """The seed mean of ``sim - ODE`` along the run, and its standard error.

        Parameters
        ----------
        name : {"eg", "Q", "R", "g"}
            The quantity (``g`` only with a learned gain).

        Returns
        -------
        mean : ndarray (n, ...)
            The mean over seeds of ``sim - ODE`` (NaN points left out).
        se : ndarray (n, ...)
            Its standard error ``std(ddof=1)/sqrt(seeds)``; NaN with one seed.

        Raises
        ------
        KeyError
            If ``name`` is not one of the quantities compared.
        """
        a, b = self._pairs()[name]
        d = a - b
        n = np.sum(np.isfinite(d), axis=0)
        mean = np.nanmean(d, axis=0) if d.shape[0] else np.full(d.shape[1:], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.where(n > 1, np.nanstd(d, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)), np.nan)
        return mean, se

    @property
    def mean_discrepancy(self) -> dict:
        """The discrepancy of the seed mean, with its standard error.

        Returns
        -------
        dict
            ``{name: (max abs(mean of sim - ODE), its standard error there, max abs(mean)/se)}``
            for ``eg``, ``Q``, ``R`` (and ``g``); NaN entries when nothing is finite.
        """
        out = {}
        for k in self._pairs():
            m, se = self.mean_difference(k)
            m, se = m.reshape(m.shape[0], -1), se.reshape(se.shape[0], -1)
            ok = np.isfinite(m)
            if not ok.any():
                out[k] = (math.nan, math.nan, math.nan)
                continue
            idx = np.argmax(np.where(ok, np.abs(m), -1.0))
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.abs(m) / se
            out[k] = (float(np.abs(m).flat[idx]), float(se.flat[idx]), float(np.nanmax(z)) if np.any(np.isfinite(z))
                      else math.nan)
        return out

    @property
    def escape_sim(self):
        """The escape time (:func:`escape_alpha`) of each seed's simulated ``eps_g``.

        Returns
        -------
        ndarray (seeds,)
            NaN: no escape within the run.
        """
        return np.array([escape_alpha(self.alpha, e, self.fraction, plateau=self.plateau)
                         for e in self.simulation.eg])

    @property
    def escape_ode(self):
        """The escape time (:func:`escape_alpha`) of the ODE from each seed's start.

        Returns
        -------
        ndarray (seeds,)
            NaN: no escape within the run.
        """
        return np.array([escape_alpha(self.alpha, e, self.fraction, plateau=self.plateau) for e in self.ode_eg])

    def to_xarray(self):
        """The comparison as a labeled ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
            The simulation's dataset plus the ODE's trajectories (``eg_ode``,
            ``Q_ode``, ``R_ode``, ``g_ode``), the discrepancies, the seed mean of
            ``eg`` sim - ODE with its standard error, the escape times and each
            seed's ODE status.
        """
        ds = self.simulation.to_xarray()
        ds["eg_ode"] = (("seed", "alpha"), self.ode_eg, {"long_name": "eps_g of the ODE from the seed's start"})
        ds["Q_ode"] = (("seed", "alpha", "student", "student_k"), self.ode_Q, {"long_name": "Q of the ODE"})
        ds["R_ode"] = (("seed", "alpha", "student", "teacher"), self.ode_R, {"long_name": "R of the ODE"})
        if self.ode_g is not None:
            ds["g_ode"] = (("seed", "alpha", "student"), self.ode_g, {"long_name": "g of the ODE"})
        for k, v in self.discrepancy.items():
            ds[f"max_discrepancy_{k}"] = ("seed", v, {"long_name": f"max over alpha of |sim - ODE| of {k}"})
        mean, se = self.mean_difference("eg")
        ds["eg_mean_difference"] = ("alpha", mean, {"long_name": "seed mean of eps_g sim - ODE"})
        ds["eg_mean_difference_se"] = ("alpha", se, {"long_name": "its standard error"})
        ds["escape_alpha_sim"] = ("seed", self.escape_sim, {"nan_means": "no escape within the run"})
        ds["escape_alpha_ode"] = ("seed", self.escape_ode, {"nan_means": "no escape within the run"})
        ds["ode_status"] = ("seed", np.array(self.ode_status))
        ds.attrs["escape_fraction"] = self.fraction
        ds.attrs["plateau"] = "median of the curve's first flat stretch" if self.plateau is None else self.plateau
        ds.attrs.update(simulation_status=str(self.simulation.status), simulation_message=self.simulation.message)
        ds.attrs["status"], ds.attrs["message"] = str(self.status), self.message
        ds.attrs.update(self._identity())
        return ds


def _plateau_level(model, eta, plateau):
    if plateau is None or plateau == "median":
        return None
    if plateau == "fixed_point":
        # a preconditioned update's fixed point is SGD's at eta = 0 (docs/model.md §14.6)
        sgd = model.preconditioner is None and not model.has_bn
        return float(symmetric_fixed_point(model, eta if sgd else 0.0).eg)
    try:
        return check_real("plateau", plateau, positive=True)
    except ValueError:
        raise ValueError(f"plateau must be 'median', 'fixed_point' or a real number > 0, got {plateau!r}") from None


@old_forms(old_start_keywords("compare"))
def compare(model, N, eta, alpha_max, seeds, *, start="random", alphas=None, fraction=0.5, plateau="median",
            workers=None, exact_teacher=True, bn_stats="population", rtol=RTOL, atol=ATOL,
            progress=False, method="weights") -> Comparison:
    """Simulation against theory: SGD at finite ``N`` beside the ODE from each run's own start.

    Simulates ``seeds`` runs (:func:`symphase.simulate`) and integrates the ODE
    (:func:`symphase.integrate`) from each run's initial overlaps (and its own
    ``T`` with a random teacher), so that the discrepancy is the finite-``N``
    fluctuation alone and shrinks like ``N^(-1/2)`` (docs/model.md §5.4, §7.6).

    Parameters
    ----------
    model : Committee
        The model.
    N : int
        Input dimension of the simulation.
    eta : float
        The learning rate (> 0).
    alpha_max : float
        The end of the run.
    seeds : int or sequence of int
        The number of seeds (``0..seeds-1``) or the seeds themselves.
    alphas : array_like, optional
        Output points, as for :func:`symphase.simulate`.
    fraction : float
        The escape time is the first ``alpha`` where ``eps_g < fraction * plateau
        level``; in (0, 1).
    plateau : "median", "fixed_point" or float
        The plateau level: read off each curve (:func:`plateau_value`),
        ``eps_g`` at the symmetric fixed point (K = M, T = I; at ``eta`` for plain,
        ``eta -> 0`` for BN, where ``eps_g`` does not depend on the norm), or a number.
    start, workers, exact_teacher, bn_stats, progress, method
        As for :func:`symphase.simulate` (with ``bn_stats="batch"`` the comparison
        shows the effect of the batch statistics, which the ODE does not have;
        ``method="overlaps"`` runs the same SGD exactly on the order parameters, at
        any ``N`` in ``O(1)`` per step).
    rtol, atol : float
        The ODE's tolerances (default ``1e-8``, ``1e-10``: those of :func:`symphase.integrate`;
        ``compare`` used ``1e-9``, ``1e-11`` until the API's vocabulary was made one
        (docs/vocabulary.md); the ODE curves moved by about ``1e-9`` relative, far below the finite-``N``
        discrepancy compared).

    Returns
    -------
    Comparison
        The simulation, each seed's ODE trajectory, discrepancies and escape
        times. An ODE run that stops early leaves NaN after its last point and
        sets the status.

    Raises
    ------
    ValueError
        For bad input (naming the parameter), e.g. ``fraction`` outside (0, 1) or an
        unknown ``plateau``.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`, or for ``init=`` (now ``start=``).
    SymphaseError
        If ``plateau="fixed_point"`` and no fixed point is found.
    """
    model = check_model(model).require_closed_form("compare (its ODE)")
    rule_for(model, "compare (its ODE)", "ode")  # the model's learning rule has an ODE (docs/model.md §2.4)
    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise ValueError(f"fraction must be a real number in (0, 1), got {fraction!r}")
    eta_c = check_real("eta", eta, positive=True)
    level = _plateau_level(model, eta_c, plateau)
    sim = simulate(model, N, eta, alpha_max, seeds=seeds, alphas=alphas, workers=workers, start=start,
                   exact_teacher=exact_teacher, bn_stats=bn_stats, progress=progress, method=method)
    n_seeds, n = sim.eg.shape
    eg = np.full((n_seeds, n), np.nan)
    Q = np.full(sim.Q.shape, np.nan)
    R = np.full(sim.R.shape, np.nan)
    g = None if sim.g is None else np.full(sim.g.shape, np.nan)
    status = []
    for j in range(n_seeds):
        g0 = None if sim.initial["g"] is None else sim.initial["g"][j]
        m_j = model if exact_teacher else model.with_(T=sim.initial["T"][j])
        res = integrate(m_j, sim.eta, float(sim.alpha[-1]), start=(sim.initial["Q"][j], sim.initial["R"][j], g0),
                        alphas=sim.alpha, eg_tol=0.0, rtol=rtol, atol=atol)
        m = int(np.sum(np.isin(res.alpha, sim.alpha)))  # a failed run may end with a point of its own
        eg[j, :m], Q[j, :m], R[j, :m] = res.eg[:m], res.Q[:m], res.R[:m]
        if g is not None:
            g[j, :m] = res.g[:m]
        status.append(str(res.status))
    return Comparison(sim, eg, Q, R, status, fraction, ode_g=g, plateau=level)
