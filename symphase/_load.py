"""Reading saved results back: :func:`load` and the readers behind ``Result.from_xarray``.

Every result's ``to_xarray()`` records its type (the attribute ``symphase_result``),
its model (``symphase_model``: ``Committee.to_dict()`` as exact JSON), its ``info``
(``symphase_info``) and whatever else rebuilding it needs. :func:`load` reads a
NetCDF file with the project's reader (:func:`symphase._io.open_netcdf`) and
:meth:`symphase._results.Result.from_xarray` dispatches on that attribute to the
reader registered here for each type, so that the result comes back the same:
the same type, every array equal bit for bit (NaN where NaN), the same model,
``status``, ``message`` and ``repr``.

A file saved before results recorded their type is read when its variables
identify one type (:func:`symphase._results.result_type`) and it holds what the
result needs (the model's ``T``, for one); its ``info`` is then only the scalar
attributes it kept. Anything else is a ``ValueError`` that names the file and
what is missing.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np

from ._compare import Comparison
from ._curvature import KINDS, Curvature, CurvatureTrajectory
from ._escape import EscapeTime
from ._fixedpoint import FixedPoint
from ._fixedpoint_solve import others_of
from ._io import open_netcdf
from ._model import Committee
from ._results import (
    INFO_ATTR,
    MODEL_ATTR,
    READERS,
    RESULT_ATTR,
    V_ATTR,
    Result,
    Status,
    from_json,
)
from ._simulate import SimulationResult
from ._sweep_store import SweepResult
from ._trajectory import ODEResult

#: The attribute naming a sweep's store folder (absent: the sweep kept no store).
STORE_ATTR = "symphase_store"
#: The attributes a Comparison keeps of its simulation (its own ``status``/``message`` replace the simulation's).
SIMULATION_STATUS_ATTR = "simulation_status"
SIMULATION_MESSAGE_ATTR = "simulation_message"
_MISSING = object()


def _plain(x):
    """An attribute as a plain Python value (NumPy scalars to ``int``/``float``/``str``)."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, bytes):
        return x.decode()
    return x


class _Saved:
    """A saved result's dataset, read with an error that says what is missing."""

    def __init__(self, ds):
        self.ds = ds
        self.tagged = RESULT_ATTR in ds.attrs
        self.name = str(ds.attrs[RESULT_ATTR]) if self.tagged else "result"

    def attr(self, name, default=_MISSING):
        if name in self.ds.attrs:
            return _plain(self.ds.attrs[name])
        if default is _MISSING:
            raise ValueError(f"the saved {self.name} lacks its attribute {name!r}")
        return default

    def has(self, name) -> bool:
        return name in self.ds.variables

    def array(self, name) -> np.ndarray:
        if name not in self.ds.variables:
            raise ValueError(f"the saved {self.name} lacks its variable {name!r}")
        return np.array(self.ds[name].values)  # a copy: never shares memory with the dataset

    def optional(self, name):
        return self.array(name) if self.has(name) else None

    def strings(self, name) -> list:
        return [str(s) for s in self.array(name).tolist()]

    def status(self) -> Status:
        return Status(self.attr("status"))

    def model(self, identity_teacher=False) -> Committee:
        """The model; ``identity_teacher``: a result that exists only for ``T = I`` (the fixed point)."""
        if MODEL_ATTR in self.ds.attrs:
            return Committee.from_dict(from_json(self.attr(MODEL_ATTR)))
        # saved before the model was recorded whole: its scalar attributes (Committee.attrs()) and the variable T
        values = {k: _plain(v) for k, v in self.ds.attrs.items()}
        if "T" in self.ds.variables:
            values["T"] = self.array("T")
        elif not identity_teacher:
            raise ValueError(f"no attribute {MODEL_ATTR!r} (the model), and no variable 'T' (the teacher "
                             f"overlaps) to rebuild the model from its attributes")
        return Committee.from_dict(values)

    def info(self) -> dict:
        if INFO_ATTR in self.ds.attrs:
            return from_json(self.attr(INFO_ATTR))
        # saved before info was recorded whole: the scalar attributes that are neither model nor result
        skip = set(_model_parameters()) | {"eta", "eta2", "status", "message"}
        return {k: _plain(v) for k, v in self.ds.attrs.items() if k not in skip}


def _model_parameters() -> list:
    """The names :class:`Committee` takes (read from its signature, so they follow the model)."""
    return list(inspect.signature(Committee).parameters)


# -- one reader per result type ------------------------------------------------------------
def _trajectory(s: _Saved, cls, **extra):
    Q = s.array("Q")
    v = s.optional("v")
    if v is None and (s.attr(V_ATTR, None) == "ones" or not s.tagged):
        v = np.ones(Q.shape[:-1])  # not saved because every entry is 1 (integrate and simulate always set v)
    eta2 = s.attr("eta2", None)
    return cls(model=s.model(), eta=s.attr("eta"), alpha=s.array("alpha"), Q=Q, R=s.array("R"), g=s.optional("g"),
               eg=s.array("eg"), status=s.status(), message=s.attr("message"), info=s.info(),
               eg_std=s.optional("eg_std"), covariance=s.optional("covariance"), v=v,
               eta2=None if eta2 is None else float(eta2), **extra)


def _read_ode(ds) -> ODEResult:
    return _trajectory(_Saved(ds), ODEResult)


def _simulation(s: _Saved, status=None, message=None) -> SimulationResult:
    model = s.model()
    Q0 = s.array("Q0")
    T0 = s.optional("T0")
    if T0 is None:  # an exact teacher: every seed's T is the model's
        T0 = np.broadcast_to(model.T, (Q0.shape[0], model.M, model.M)).copy()
    seed_status = s.strings("seed_status")
    n_recorded = s.optional("n_recorded")
    if n_recorded is None:  # saved before it was: the records with finite overlaps
        Q = s.array("Q")
        n_recorded = np.all(np.isfinite(Q.reshape(Q.shape[0], Q.shape[1], -1)), axis=2).sum(axis=1)
    res = _trajectory(s, SimulationResult, initial={"Q": Q0, "R": s.array("R0"), "g": s.optional("g0"), "T": T0},
                      N=int(s.attr("N")), seeds=s.array("seed"), seed_status=seed_status,
                      n_recorded=n_recorded, eg_test=s.optional("eg_test"))
    if status is not None:
        res.status, res.message = status, message
    return res


def _read_simulation(ds) -> SimulationResult:
    return _simulation(_Saved(ds))


def _read_comparison(ds) -> Comparison:
    s = _Saved(ds)
    status, message = s.status(), s.attr("message")
    sim_status = s.attr(SIMULATION_STATUS_ATTR, None)
    if sim_status is not None:
        sim_status, sim_message = Status(sim_status), s.attr(SIMULATION_MESSAGE_ATTR)
    elif message.startswith("simulation: "):  # saved before the simulation's own were recorded
        sim_status, sim_message = status, message[len("simulation: "):]
    else:
        sim_status, sim_message = Status.COMPLETED, "(not saved: the file predates its recording)"
    sim = _simulation(s, sim_status, sim_message)
    plateau = s.attr("plateau", None)
    cmp = Comparison(simulation=sim, ode_eg=s.array("eg_ode"), ode_Q=s.array("Q_ode"), ode_R=s.array("R_ode"),
                     ode_status=s.strings("ode_status"), fraction=s.attr("escape_fraction"),
                     ode_g=s.optional("g_ode"), plateau=plateau if isinstance(plateau, (int, float)) else None)
    cmp.status, cmp.message = status, message  # as saved
    return cmp


def _read_fixed_point(ds) -> FixedPoint:
    s = _Saved(ds)
    g = s.optional("g")
    fp = FixedPoint(s.model(identity_teacher=True), s.array("Q"), s.array("R"), g, s.attr("eta"), kind=s.attr("kind"),
                    norm=s.attr("norm", None), residual=0.0, v=s.optional("v"),
                    find_others=others_of)
    fp.eg, fp.status, fp.message = s.attr("eg"), s.status(), s.attr("message")
    real, imag = s.array("jacobian_eigenvalues_real"), s.array("jacobian_eigenvalues_imag")
    # the spectra as saved (the cached properties, so they are not computed again); the Jacobian's is
    # complex only when some imaginary part is not zero, as FixedPoint.jacobian_eigenvalues returns it
    fp.__dict__["jacobian_eigenvalues"] = real + 1j * imag if np.any(imag != 0) else real
    fp.__dict__["weight_hessian_eigenvalues"] = s.array("weight_hessian_eigenvalues")
    if s.has("reduced_hessian_eigenvalues"):  # the committee machine's only
        fp.__dict__["reduced_hessian_eigenvalues"] = s.array("reduced_hessian_eigenvalues")
    return fp


def _read_curvature(ds) -> Curvature:
    s = _Saved(ds)
    parts = {k: (s.array(f"{k}_eigenvalues"), s.array(f"{k}_bulk"), int(s.attr(f"{k}_bulk_multiplicity")),
                 s.array(f"{k}_matrix")) for k in KINDS}
    c = Curvature(s.model(), s.array("Q"), s.array("R"), s.optional("g"), int(s.attr("N")), parts, s.array("J1"))
    c.status, c.message = s.status(), s.attr("message")
    return c


def _read_curvature_trajectory(ds) -> CurvatureTrajectory:
    s = _Saved(ds)
    values = {k: {} for k in KINDS}
    for name in ds.data_vars:
        kind, _, stat = str(name).partition("_")
        if kind in values:
            values[kind][stat] = s.array(name)
    return CurvatureTrajectory(s.model(), int(s.attr("N")), s.array("alpha"), s.optional("seed"), values,
                               s.status(), s.attr("message"))


def _read_escape_time(ds) -> EscapeTime:
    s = _Saved(ds)
    return EscapeTime(s.model(), int(s.attr("N")), s.attr("eta"), s.array("escape_alpha"), s.attr("level"),
                      s.attr("how"), s.status(), s.attr("message"), alpha_max=ds.attrs.get("alpha_max"))


def _read_sweep(ds) -> SweepResult:
    store = ds.attrs.get(STORE_ATTR)
    data = ds.copy(deep=True)
    for name in (RESULT_ATTR, STORE_ATTR):
        data.attrs.pop(name, None)
    return SweepResult(data, None if store is None else Path(str(store)))


READERS.update({
    "ODEResult": _read_ode, "SimulationResult": _read_simulation, "Comparison": _read_comparison,
    "FixedPoint": _read_fixed_point, "Curvature": _read_curvature, "CurvatureTrajectory": _read_curvature_trajectory,
    "EscapeTime": _read_escape_time, "SweepResult": _read_sweep,
})


def load(path) -> Result:
    """Read a result saved as NetCDF back as the result it was.

    The inverse of ``result.to_xarray().to_netcdf(path)`` and of the command line's
    ``--out FILE.nc`` (and of a sweep's ``sweep.nc``), for every result type:
    :class:`~symphase.ODEResult`, :class:`~symphase.SimulationResult`,
    :class:`~symphase.Comparison`, :class:`~symphase.FixedPoint`,
    :class:`~symphase.Curvature`, :class:`~symphase.CurvatureTrajectory`,
    :class:`~symphase.EscapeTime` and :class:`~symphase.SweepResult`. It comes back
    with the same type, every array equal bit for bit (NaN where NaN), the same
    model, ``status``, ``message`` and ``repr``. A dataset in memory is read with
    ``Cls.from_xarray(ds)``.

    The file names its type in the attribute ``symphase_result``. A file saved by
    an older version, without it, is read when its variables identify one type and
    it holds what the result needs (its ``info`` is then the scalar attributes it kept).

    Parameters
    ----------
    path : str or path-like
        A NetCDF file (``.nc``), NetCDF4 or NetCDF3.

    Returns
    -------
    Result
        The result saved in the file.

    Raises
    ------
    ValueError
        Naming ``path``: no such file, a CSV table, a file that cannot be read as
        NetCDF (truncated or corrupt), a figure's data or any other dataset that
        holds no result, or a result that lacks something it needs (the message
        says what).
    TypeError
        ``path`` is not a path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import symphase
    >>> res = symphase.integrate(symphase.Committee(2, 2), 1.0, 5, start=(0.5 * np.eye(2), 0.1 * np.eye(2)))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ode.nc"
    >>> res.to_xarray().to_netcdf(path)
    >>> back = symphase.load(path)
    >>> type(back).__name__, repr(back) == repr(res), np.array_equal(back.eg, res.eg)
    ('ODEResult', True, True)
    """
    if not isinstance(path, (str, os.PathLike)):
        hint = "; for a dataset in memory use Cls.from_xarray(ds)" if hasattr(path, "data_vars") else ""
        raise TypeError(f"path must be a file name (str or path-like), got {type(path).__name__}{hint}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a folder, not a saved result (a .nc file)")
    if not path.is_file():
        raise ValueError(f"path: no such file {str(path)!r}")
    if path.suffix.lower() == ".csv":
        raise ValueError(f"path: {str(path)!r} is a CSV table, which cannot be read back as a result; "
                         f"save with --out FILE.nc or to_xarray().to_netcdf(FILE.nc)")
    try:
        with open_netcdf(path) as ds:
            ds.load()  # into memory: the file is closed on return
    except Exception as exc:  # noqa: BLE001  (any failure to read a foreign file is "cannot be read")
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ValueError(f"path: {str(path)!r} cannot be read as NetCDF (truncated, corrupt or not a NetCDF "
                         f"file): {detail}") from None
    try:
        res = Result.from_xarray(ds)
    except ValueError as exc:
        raise ValueError(f"path: {str(path)!r}: {exc}") from None
    if (isinstance(res, SweepResult) and RESULT_ATTR not in ds.attrs and path.name == "sweep.nc"
            and (path.parent / "points").is_dir()):
        res.store = path.parent  # an older sweep.nc, in its store
    return res
