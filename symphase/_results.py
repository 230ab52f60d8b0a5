"""Results: one protocol for everything symphase computes; failures are results.

Every result type (:class:`ODEResult`, :class:`~symphase.SimulationResult`,
:class:`~symphase.FixedPoint`, :class:`~symphase.Comparison`,
:class:`~symphase.SweepResult`) has

* ``status`` (a :class:`Status`) and ``message``: how the computation ended;
* ``success`` and ``raise_for_status()``: a failure raised on request, as
  :class:`SymphaseError` carrying the partial result;
* ``to_xarray()``: a labeled ``xarray.Dataset`` (saves with ``.to_netcdf``);
* ``to_dict()``: plain Python values, ready for JSON, with one NaN policy:
  NaN and infinities become ``None`` (JSON ``null``);
* a one-line ``repr`` that works whatever the result holds (even nothing).

``Status`` follows scipy's ``OdeResult.status`` / diffrax's ``RESULTS``; the
statuses are those of docs/model.md §8.3.
"""
from __future__ import annotations

import enum
import json
import math

import numpy as np


class Status(str, enum.Enum):
    """Why a computation ended (docs/model.md §8.3).

    A ``str`` enum: it compares equal to its value (``r.status == "completed"``)
    and prints as it. ``completed`` and ``converged`` are successes; every other
    status comes with a partial result and a message that says what happened:

    * ``completed``: reached its end (``alpha_max``, every seed, every point);
    * ``converged``: ``eps_g`` fell below ``eg_tol``: learned, stopped early;
    * ``invalid``: the overlaps stopped being a positive semi-definite Gram matrix;
    * ``diverged``: non-finite or blown-up overlaps (``eta`` too large);
    * ``step_size``: the adaptive step fell below its minimum, or the step budget is spent;
    * ``interrupted``: ``KeyboardInterrupt``; the partial result is kept;
    * ``failed``: a numerical method failed (no convergence, singular matrix).

    Examples
    --------
    >>> from symphase import Status
    >>> Status.DIVERGED == "diverged", str(Status.DIVERGED), Status("converged").success
    (True, 'diverged', True)
    """

    COMPLETED = "completed"    # reached its end (alpha_max, every seed, every point)
    CONVERGED = "converged"    # eps_g fell below eg_tol: learned, stopped early
    INVALID = "invalid"        # overlaps stopped being a positive semi-definite Gram matrix
    DIVERGED = "diverged"      # non-finite or blown-up overlaps (eta too large)
    STEP_SIZE = "step_size"    # adaptive step fell below its minimum / step budget spent
    INTERRUPTED = "interrupted"  # KeyboardInterrupt: partial result kept
    FAILED = "failed"          # a numerical method failed (no convergence, singular matrix)

    @property
    def success(self) -> bool:
        """True for ``completed`` and ``converged``, False for every other status."""
        return self in (Status.COMPLETED, Status.CONVERGED)

    def __str__(self):
        return self.value


class SymphaseError(RuntimeError):
    """A numerical failure (not bad input).

    Raised by ``raise_for_status()`` of a result that did not succeed and by
    solvers that cannot produce a result at all (e.g. no symmetric fixed point
    found). Bad input raises ``ValueError``/``TypeError`` instead. The CLI prints
    it as one line ``symphase: failed: ...`` and exits with code 1.

    Parameters
    ----------
    message : str
        What failed.
    result : Result, optional
        The partial result, if any.

    Attributes
    ----------
    result : Result or None
        The partial result, if any.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def _has_fields(x) -> bool:
    """Whether ``x`` is saved as its fields: ``x.to_dict()``, inverted by ``type(x).from_dict`` (a
    :class:`~symphase.Committee`; a result has no ``from_dict``)."""
    return hasattr(x, "to_dict") and hasattr(type(x), "from_dict")


def jsonable(x):
    """Plain Python values of ``x`` (arrays to lists), with NaN and infinities as ``None``.

    The one NaN policy of every ``to_dict()`` and of the CLI's ``--json``.

    Parameters
    ----------
    x : object
        Numbers, arrays, lists, tuples, dicts, enums, a :class:`~symphase.Committee`
        (as its ``to_dict()``), or anything else (returned as is).

    Returns
    -------
    object
        ``x`` as JSON-ready Python values; complex numbers as ``{"real": .., "imag": ..}``.

    Examples
    --------
    >>> import numpy as np
    >>> from symphase._results import jsonable
    >>> jsonable({"a": np.array([1.0, np.nan, np.inf]), "n": np.int64(3)})
    {'a': [1.0, None, None], 'n': 3}
    """
    if isinstance(x, enum.Enum):
        return str(x.value)
    if isinstance(x, np.ndarray):
        if np.iscomplexobj(x):
            return {"real": jsonable(x.real), "imag": jsonable(x.imag)}
        return jsonable(x.tolist())
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, (complex, np.complexfloating)):
        return {"real": jsonable(x.real), "imag": jsonable(x.imag)}
    if _has_fields(x):
        return jsonable(x.to_dict())
    return x


#: The attribute naming a saved result's type; :func:`symphase.load` dispatches on it.
RESULT_ATTR = "symphase_result"
#: The attribute holding a saved result's model, ``Committee.to_dict()`` as :func:`to_json`.
MODEL_ATTR = "symphase_model"
#: The attribute holding a saved result's ``info``, as :func:`to_json`.
INFO_ATTR = "symphase_info"
#: Set to ``"ones"`` when a trajectory's ``v`` is all ones and so not saved (absent: ``v`` is None or saved).
V_ATTR = "symphase_v"
#: Every result type by class name, filled as each subclass of :class:`Result` is defined.
RESULT_TYPES: dict = {}
#: How each result type is rebuilt from its dataset: class name -> ``reader(dataset) -> result``
#: (registered by :mod:`symphase._load`, used by :meth:`Result.from_xarray`).
READERS: dict = {}


def _encode(x):
    if isinstance(x, enum.Enum):
        return _encode(x.value)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufU":  # complex, object, ...: as a list of their texts
            return [_encode(v) for v in x.tolist()] if x.dtype.kind == "O" else str(x.tolist())
        return {"__ndarray__": x.tolist(), "dtype": x.dtype.str, "shape": list(x.shape)}
    if isinstance(x, (list, tuple)):
        return [_encode(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _encode(v) for k, v in x.items()}
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if _has_fields(x):
        return _encode(x.to_dict())
    if x is None or isinstance(x, (str, int, float)):
        return x
    return str(x)  # anything else (a path, a method object) as its text: saving never fails on it


def _decode(d: dict):
    if "__ndarray__" in d:
        return np.array(d["__ndarray__"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])
    return d


def to_json(x) -> str:
    """``x`` as JSON that :func:`from_json` reads back exactly: the form of a saved result's
    model and ``info`` (NetCDF attributes hold no dicts or lists).

    Unlike :func:`jsonable` it loses nothing of numbers: floats are written by ``repr``
    (they read back bit for bit), NaN and infinities as JSON's ``NaN``/``Infinity``
    tokens, arrays (bool, integer, float, string) with their dtype and shape. Tuples
    come back as lists; anything else (a path, an object) as its ``str``, so that
    saving a result never fails on what its ``info`` holds.

    Parameters
    ----------
    x : object
        Numbers, strings, None, arrays, lists, tuples, dicts, enums (as their value).

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from symphase._results import from_json, to_json
    >>> back = from_json(to_json({"a": np.array([0.1, np.nan]), "n": 3}))
    >>> back["a"].dtype, bool(back["a"][0] == 0.1), bool(np.isnan(back["a"][1])), back["n"]
    (dtype('float64'), True, True, 3)
    """
    return json.dumps(_encode(x), allow_nan=True)


def from_json(text: str):
    """Read back what :func:`to_json` wrote (arrays as ``ndarray`` of their dtype and shape).

    Parameters
    ----------
    text : str

    Returns
    -------
    object
    """
    return json.loads(text, object_hook=_decode)


class Result:
    """The result protocol shared by every result of symphase.

    :class:`~symphase.ODEResult`, :class:`~symphase.SimulationResult`,
    :class:`~symphase.FixedPoint`, :class:`~symphase.Comparison` and
    :class:`~symphase.SweepResult` all have ``status`` (a :class:`~symphase.Status`)
    and ``message`` (how the computation ended), ``success``,
    ``raise_for_status()``, ``to_xarray()``, ``to_dict()`` (JSON-ready, NaN as
    ``None``) and a one-line ``repr`` that works whatever the result holds.
    Subclasses set ``status`` and ``message`` and implement :meth:`to_xarray`,
    ``_fields`` and ``_summary``.

    Attributes
    ----------
    status : Status
        Why the computation ended.
    message : str
        What happened, in words.
    """

    status: Status
    message: str

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        RESULT_TYPES[cls.__name__] = cls

    @classmethod
    def from_xarray(cls, ds):
        """Rebuild a result from the dataset its :meth:`to_xarray` made (in memory or read from a file).

        The inverse of :meth:`to_xarray`: the same type, every array equal (NaN where
        NaN), the same model, ``status``, ``message`` and ``repr``. The type is the
        dataset's ``symphase_result`` attribute; a dataset saved before symphase
        recorded it is read when its variables identify one type, with what it holds
        (see :func:`symphase.load`).

        Parameters
        ----------
        ds : xarray.Dataset
            A result's ``to_xarray()``, or ``xarray.open_dataset`` of a saved one.

        Returns
        -------
        Result
            An instance of ``cls`` (``Result.from_xarray`` returns whatever type the dataset holds).

        Raises
        ------
        ValueError
            The dataset holds no result, another type than ``cls``, or lacks
            something the result needs; the message says what.

        Examples
        --------
        >>> import symphase
        >>> import numpy as np
        >>> res = symphase.integrate(symphase.Committee(2, 2), 1.0, 5, start=(0.5 * np.eye(2), 0.1 * np.eye(2)))
        >>> back = symphase.ODEResult.from_xarray(res.to_xarray())
        >>> repr(back) == repr(res), np.array_equal(back.Q, res.Q)
        (True, True)
        """
        name = result_type(ds)
        if not issubclass(RESULT_TYPES[name], cls):
            raise ValueError(f"the dataset holds a {name}, not a {cls.__name__}")  # noqa: TRY004 (a bad value)
        return READERS[name](ds)

    def _identity(self) -> dict:
        """The attributes that let :meth:`from_xarray` rebuild this result: its type, model and info."""
        out = {RESULT_ATTR: type(self).__name__}
        if getattr(self, "model", None) is not None:
            out[MODEL_ATTR] = to_json(self.model.to_dict())
        if getattr(self, "info", None) is not None:
            out[INFO_ATTR] = to_json(self.info)
        return out

    @property
    def success(self) -> bool:
        """True when the computation completed (or converged): ``status.success``."""
        return Status(self.status).success

    def raise_for_status(self):
        """Return ``self`` if the computation succeeded, else raise :class:`SymphaseError`.

        Returns
        -------
        Result
            ``self``, so that ``res = integrate(...).raise_for_status()`` chains.

        Raises
        ------
        SymphaseError
            With the status and message; its ``.result`` is this result.
        """
        if not self.success:
            raise SymphaseError(f"{self.status}: {self.message}", self)
        return self

    def to_xarray(self):  # pragma: no cover - every subclass implements it
        """A labeled ``xarray.Dataset`` of the result (saves with ``.to_netcdf``).

        Returns
        -------
        xarray.Dataset
        """
        raise NotImplementedError

    def _fields(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _summary(self) -> str:  # pragma: no cover
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The result as plain Python values, ready for ``json.dumps``.

        Returns
        -------
        dict
            ``type``, ``status``, ``message`` and the result's fields, with NaN and
            infinities as ``None`` (:func:`jsonable`).
        """
        return jsonable({"type": type(self).__name__, "status": str(self.status), "message": self.message,
                         **self._fields()})

    def __repr__(self):
        return f"{type(self).__name__}({self._summary()}, status={str(self.status)!r}, message={self.message!r})"


#: How a dataset saved before results recorded their type (:data:`RESULT_ATTR`) is recognised by its
#: variables; exactly one must match.
_SIGNATURES = (
    ("SweepResult", lambda ds: "task" in ds.attrs and "status" in ds.data_vars),
    ("Comparison", lambda ds: "eg_ode" in ds.data_vars and "seed_status" in ds.data_vars),
    ("SimulationResult", lambda ds: "seed_status" in ds.data_vars and "eg_ode" not in ds.data_vars),
    ("ODEResult", lambda ds: {"Q", "R", "eg", "T"} <= set(ds.data_vars) and "seed" not in ds.dims),
    ("FixedPoint", lambda ds: "jacobian_eigenvalues_real" in ds.data_vars),
    ("Curvature", lambda ds: "hessian_values" in ds.data_vars and "fisher_values" in ds.data_vars),
    ("CurvatureTrajectory", lambda ds: "hessian_mean" in ds.data_vars and "alpha" in ds.dims),
    ("EscapeTime", lambda ds: "escape_alpha" in ds.data_vars and "sample" in ds.dims),
)


def result_type(ds) -> str:
    """The name of the result type a dataset holds: its ``symphase_result`` attribute, or, for a
    dataset saved before results recorded it, the one type its variables match.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    str
        A key of :data:`RESULT_TYPES`.

    Raises
    ------
    ValueError
        An unknown type, a figure's data, or variables that match no type or several.
    """
    name = ds.attrs.get(RESULT_ATTR)
    if name is not None:
        name = str(name)
        if name not in READERS:
            raise ValueError(f"unknown result type {name!r} in its attribute {RESULT_ATTR!r} "
                             f"(known: {', '.join(sorted(READERS))})")
        return name
    if "figure" in ds.attrs:
        raise ValueError(f"it holds the data of figure {str(ds.attrs['figure'])!r}, not a result (no attribute "
                         f"{RESULT_ATTR!r}); read it with xarray.open_dataset")
    found = [n for n, test in _SIGNATURES if test(ds)]
    if len(found) != 1:
        what = "match no result type" if not found else f"match several result types ({', '.join(found)})"
        raise ValueError(f"no attribute {RESULT_ATTR!r} naming its result type, and its variables "
                         f"({', '.join(map(str, ds.data_vars)) or 'none'}) {what}")
    return found[0]


def alpha_span(alpha) -> str:
    """``n=.., alpha=[first, last]`` of an output grid, or ``n=0`` when it is empty."""
    alpha = np.asarray(alpha)
    if alpha.size == 0:
        return "n=0"
    return f"n={alpha.size}, alpha=[{alpha[0]:g}, {alpha[-1]:g}]"


def trajectory_variables(model, lead: tuple, Q, R, g, eg, suffix: str = "", what: str = "") -> dict:
    """The data variables ``Q``, ``R``, ``eg`` (and ``g``) of a trajectory with leading dims ``lead``."""
    data = {
        f"Q{suffix}": (lead + ("alpha", "student", "student_k"), Q,
                       {"long_name": f"student-student overlaps Q_ik = J_i.J_k{what}"}),
        f"R{suffix}": (lead + ("alpha", "student", "teacher"), R,
                       {"long_name": f"student-teacher overlaps R_in = J_i.B_n{what}"}),
        f"eg{suffix}": (lead + ("alpha",), eg, {"long_name": f"generalization error eps_g{what}"}),
    }
    if g is not None:
        data[f"g{suffix}"] = (lead + ("alpha", "student"), g, {"long_name": f"batch-norm gains g_i{what}"})
    return data


def model_coords(model) -> dict:
    """Coordinates of the student and teacher axes."""
    return {"student": np.arange(model.K), "student_k": np.arange(model.K),
            "teacher": np.arange(model.M), "teacher_m": np.arange(model.M)}


def overlap_columns(model, Q, R, g, v=None) -> dict:
    """Flat columns ``Q_ik`` (i <= k), ``R_in``, ``g_i``, ``v_i`` of stacks of states (for tidy tables)."""
    cols = {}
    K, M = model.K, model.M
    for i in range(K):
        for k in range(i, K):
            cols[f"Q_{i}{k}"] = np.asarray(Q)[..., i, k].ravel()
    for i in range(K):
        for m in range(M):
            cols[f"R_{i}{m}"] = np.asarray(R)[..., i, m].ravel()
    if g is not None:
        for i in range(K):
            cols[f"g_{i}"] = np.asarray(g)[..., i].ravel()
    if v is not None:
        for i in range(K):
            cols[f"v_{i}"] = np.asarray(v)[..., i].ravel()
    return cols


def scalar_attrs(info: dict) -> dict:
    """The scalar entries of ``info`` (NetCDF attributes take no lists or bools)."""
    return {k: v for k, v in info.items()
            if isinstance(v, (int, float, str, np.integer, np.floating)) and not isinstance(v, bool)}
