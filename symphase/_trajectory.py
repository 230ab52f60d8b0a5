"""The trajectory result: :class:`ODEResult` (and, through it, :class:`~symphase.SimulationResult`).

It stands above :mod:`symphase._curvature` (its :meth:`ODEResult.curvature` is
:func:`symphase.curvature_along`) and over the result protocol of
:mod:`symphase._results`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._curvature import curvature_along
from ._model import Committee
from ._results import (
    V_ATTR,
    Result,
    Status,
    alpha_span,
    model_coords,
    overlap_columns,
    scalar_attrs,
    trajectory_variables,
)


@dataclass(repr=False)
class ODEResult(Result):
    """A trajectory of the order parameters (returned by :func:`symphase.integrate`).

    The solution of the ODEs of docs/model.md §3.5 at the output points reached,
    with ``eps_g`` by the paper's Eq. 13 (docs/model.md §3.4). A run that stops
    early (diverged, invalid, step size, interrupted) keeps every point up to
    there and says why in ``status`` and ``message``. Not built by hand: the
    constructor takes the attributes below as arguments, in this order.

    Attributes
    ----------
    model : Committee
        The model integrated.
    eta : float
        The learning rate.
    alpha : ndarray (n,)
        The output points reached.
    Q, R, g : ndarray
        ``Q`` (n, K, K), ``R`` (n, K, M), ``g`` (n, K) or None (plain).
    eg : ndarray (n,)
        ``eps_g`` at each output point.
    status : Status
        How the run ended (:class:`Status`).
    message : str
        What happened, in words.
    info : dict
        Numerics: method, right-hand-side evaluations, steps, tolerances.
    eg_std, covariance : ndarray or None
        With ``integrate(..., bands_N=)``: the predicted seed-to-seed standard deviation
        of ``eps_g`` (n,) and the covariance of the flat state (n, size, size).
    v : ndarray (n, K)
        The student's second layer at each output point (constant when it is
        fixed; ones in the committee machine; docs/model.md §13).
    eta2 : float or None
        The second layer's learning rate, when it is learned.

    Examples
    --------
    >>> import symphase
    >>> model = symphase.Committee(2, 2)
    >>> res = symphase.integrate(model, 1.0, 10, start=symphase.random_initial(model, N=1000, seed=0))
    >>> res
    ODEResult(K=2, M=2, plain, tau=1, batch=1, noise=0, eta=1, n=..., alpha=[0, 10], status='completed', message=...)
    >>> res.Q.shape == (res.alpha.size, 2, 2)
    True
    """

    model: Committee
    eta: float
    alpha: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    g: np.ndarray | None
    eg: np.ndarray
    status: Status
    message: str
    info: dict = field(default_factory=dict)
    eg_std: np.ndarray | None = None
    covariance: np.ndarray | None = None
    v: np.ndarray | None = None
    eta2: float | None = None

    def _summary(self) -> str:
        eta2 = "" if self.eta2 is None else f", eta2={self.eta2:g}"
        return f"{self.model.describe()}, eta={self.eta:g}{eta2}, {alpha_span(self.alpha)}"

    def _has_second_layer(self) -> bool:
        """Whether ``v`` is worth reporting: learned, or fixed at values other than ones."""
        return self.v is not None and (self.model.learns_v or bool(np.any(self.v != 1.0)))

    def _fields(self) -> dict:
        out = {"model": self.model, "eta": self.eta, "alpha": self.alpha, "eg": self.eg, "Q": self.Q,
               "R": self.R, "g": self.g, "info": self.info}
        if self._has_second_layer():
            out["v"] = self.v
        if self.eta2 is not None:
            out["eta2"] = self.eta2
        if self.eg_std is not None:
            out.update(eg_std=self.eg_std, covariance=self.covariance)
        return out

    def _attrs(self) -> dict:
        attrs = {**self.model.attrs(), "eta": self.eta, "status": str(self.status), "message": self.message}
        if self.eta2 is not None:
            attrs["eta2"] = self.eta2
        attrs.update(scalar_attrs(self.info))
        attrs.update(self._identity())
        if self.v is not None and not self._has_second_layer():
            attrs[V_ATTR] = "ones"  # v not saved: every entry is 1
        return attrs

    def to_xarray(self):
        """The trajectory as a labeled ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
            ``Q``, ``R``, ``eg`` (and ``g``) against ``alpha``, and ``T``; the model's
            parameters, ``eta``, ``status``, ``message`` and the scalar numerics as
            attributes.
        """
        import xarray as xr

        data = trajectory_variables(self.model, (), self.Q, self.R, self.g, self.eg)
        data["T"] = (("teacher", "teacher_m"), np.asarray(self.model.T), {"long_name": "teacher overlaps T_nm"})
        if self._has_second_layer():
            data["v"] = (("alpha", "student"), self.v, {"long_name": "student second-layer weights v_i"})
        coords = {"alpha": self.alpha, **model_coords(self.model)}
        if self.eg_std is not None:
            data["eg_std"] = ("alpha", self.eg_std, {"long_name": "predicted seed-to-seed std of eps_g at N "
                                                     "(linear-noise approximation)"})
            data["covariance"] = (("alpha", "state", "state_k"), self.covariance,
                                  {"long_name": "predicted covariance of the flat state at N"})
            labels = self.model.layout.labels()
            coords.update(state=labels, state_k=labels)
        return xr.Dataset(data, coords=coords, attrs=self._attrs())

    def curvature(self, N=None):
        """The Hessian and Fisher statistics at every recorded state (:func:`symphase.curvature_along`).

        Parameters
        ----------
        N : int, optional
            The input dimension (required for an ODE trajectory; a simulation's own ``N`` by default).

        Returns
        -------
        CurvatureTrajectory
        """
        return curvature_along(self, N)

    def to_dataframe(self):
        """The trajectory as a tidy ``pandas.DataFrame``, for CSV output.

        Returns
        -------
        pandas.DataFrame
            One row per output point; columns ``alpha``, ``eg``, ``Q_ik`` (i <= k),
            ``R_in`` and ``g_i`` (BN).
        """
        import pandas as pd

        std = {} if self.eg_std is None else {"eg_std": self.eg_std}
        return pd.DataFrame({"alpha": self.alpha, "eg": self.eg, **std,
                             **overlap_columns(self.model, self.Q, self.R, self.g,
                                                 self.v if self._has_second_layer() else None)})
