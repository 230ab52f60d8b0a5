"""The tasks of :func:`symphase.sweep`: what is computed at one grid point, and the grid's validation.

A :class:`Task` names its parameters (name -> type), defaults and outputs
(name -> extra dimensions beyond the grid). Each ``run(point)`` returns its
outputs with the real ``status`` and ``message`` of what it ran.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._compare import compare, escape_alpha
from ._fixedpoint_solve import symmetric_fixed_point
from ._initial import random_initial
from ._model import Committee
from ._ode import check_alpha_max, default_alphas, integrate
from ._simulate import simulate
from ._validate import check_int, check_real, check_seed

# ---------------------------------------------------------------------------
# Tasks: what is computed at one grid point
# ---------------------------------------------------------------------------

def model_axes(model=Committee) -> tuple[dict, dict, dict]:
    """The sweep axes of a model's fields, from its table ``model.FIELDS`` (:data:`symphase._model.MODEL_FIELDS`).

    Returns
    -------
    (dict, dict, dict)
        Axis name -> type (``int``, ``float``, ``str``); axis -> default as the sweep spells
        it (``M=None``: ``K``; ``bn="plain"``); and the axes of fields newer than the sweep
        store's key (not :attr:`~symphase._model.ModelField.core`: the two-layer settings,
        docs/model.md §13) -> default: a point at these values keeps the key it had before they
        existed, so older stores resume.
    """
    axes = [f for f in model.FIELDS if f.sweep]
    return ({f.name: f.type for f in axes}, {f.name: f.cli_default for f in axes},
            {f.name: f.cli_default for f in axes if not f.core})


MODEL_PARAMS, _MODEL_DEFAULTS, TWO_LAYER_DEFAULTS = model_axes()
#: The tasks that evaluate the ODE's closed-form averages (a ReLU model runs in ``simulate`` only).
CLOSED_FORM_TASKS = ("ode", "fixed_point", "compare")


@dataclass(frozen=True)
class Task:
    """A sweep task: what :func:`symphase.sweep` computes at one grid point.

    The tasks of ``symphase.sweep`` are in ``TASKS`` (``"ode"``,
    ``"fixed_point"``, ``"simulate"``, ``"compare"``); a ``Task`` of your own
    runs any function of a point. Its parameters are validated like the
    built-in ones (by name: ``eta``, ``N``, ``seed``, ... get the API's checks).

    Parameters
    ----------
    name : str
        The task's name; with the point, it makes the key under which a
        finished point is stored.
    params : dict
        Parameter name -> type (``int``, ``float`` or ``str``).
    defaults : dict
        A value for every parameter (used when neither the grid nor
        ``fixed`` gives one).
    outputs : dict
        Output name -> tuple of its extra dimension names beyond the grid
        (``()`` for a number, ``("alpha",)`` for a curve on the alpha grid).
    run : callable
        ``run(point: dict) -> dict``: the outputs, plus ``"status"`` (a
        :class:`symphase.Status` value) and ``"message"``. It runs in a
        worker, so it must be picklable (a module-level function).

    Examples
    --------
    >>> from symphase._sweep import TASKS
    >>> TASKS["fixed_point"].outputs
    {'eg': (), 'escape_rate': (), 'Q_ii': (), 'R_ii': ()}
    """

    name: str
    params: dict
    defaults: dict
    outputs: dict           # name -> tuple of extra dimension names (beyond the grid)
    run: Callable           # run(point: dict) -> dict of outputs (+ "status", "message")

    def coords(self, point: dict) -> dict:
        """Coordinates of the extra output dimensions (e.g. the alpha grid)."""
        return _extra_coords(self.name, point)


def _model(p: dict) -> Committee:
    return Committee.from_dict(p)


def _alphas(p: dict) -> np.ndarray:
    return default_alphas(p["alpha_max"], p["points"] - 1)


def _extra_coords(name: str, p: dict) -> dict:
    if name in ("ode", "simulate"):
        return {"alpha": _alphas(p)}
    return {}


def _run_ode(p: dict) -> dict:
    model = _model(p)
    Q0, R0, g0, _ = random_initial(model, p["N"], p["seed"])
    alphas = _alphas(p)
    res = integrate(model, p["eta"], p["alpha_max"], start=(Q0, R0, g0), alphas=alphas, eg_tol=0.0)
    eg = np.full(alphas.size, np.nan)
    n = int(np.sum(np.isin(res.alpha, alphas)))  # a failed run stops early: the rest stays NaN
    eg[:n] = res.eg[:n]
    return {"eg": eg, "final_eg": float(res.eg[-1]), "escape_alpha": escape_alpha(alphas, eg, p["fraction"]),
            "status": str(res.status), "message": res.message}


def _run_fixed_point(p: dict) -> dict:
    model = _model(p)
    fp = symmetric_fixed_point(model, eta=p["eta"])
    return {"eg": float(fp.eg), "escape_rate": float(fp.escape_rate),
            "Q_ii": float(fp.Q[0, 0]), "R_ii": float(fp.R[0, 0]),
            "status": str(fp.status), "message": fp.message}


def _run_simulate(p: dict) -> dict:
    model = _model(p)
    alphas = _alphas(p)
    res = simulate(model, p["N"], p["eta"], p["alpha_max"], seeds=p["seeds"], alphas=alphas, workers=1)
    # the simulator records at whole steps: requested alphas closer than 1/N share a record
    idx = np.searchsorted(np.rint(res.alpha * p["N"]), np.rint(alphas * p["N"]))
    eg = np.asarray(res.eg, dtype=float)[:, idx]
    n = eg.shape[0]
    with warnings.catch_warnings():  # past a diverged seed's last record a column is all NaN: NaN, said once
        warnings.simplefilter("ignore", RuntimeWarning)  # by the status, not by a warning per column
        mean = np.nanmean(eg, axis=0) if np.any(np.isfinite(eg)) else np.full(eg.shape[1], np.nan)
        sem = np.nanstd(eg, axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(eg.shape[1], np.nan)
    return {"eg": mean, "eg_sem": sem, "escape_alpha": escape_alpha(res.alpha, res.eg.mean(0), p["fraction"]),
            "status": str(res.status), "message": res.message}


def _run_compare(p: dict) -> dict:
    model = _model(p)
    cmp = compare(model, p["N"], p["eta"], p["alpha_max"], p["seeds"])
    ds = cmp.to_xarray()
    out = {"status": str(cmp.status), "message": cmp.message}
    for name in ("max_discrepancy_eg", "escape_alpha_sim", "escape_alpha_ode"):
        if name in ds:
            vals = ds[name].values[np.isfinite(ds[name].values)]
            out[name] = float(vals.mean()) if vals.size else math.nan
        else:
            out[name] = math.nan
    return out


TASKS = {
    "ode": Task("ode", {**MODEL_PARAMS, "eta": float, "alpha_max": float, "N": int, "seed": int, "points": int,
                        "fraction": float},
                {**_MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 1000.0, "N": 1000, "seed": 0, "points": 121,
                 "fraction": 0.5},
                {"eg": ("alpha",), "final_eg": (), "escape_alpha": ()}, _run_ode),
    "fixed_point": Task("fixed_point", {**MODEL_PARAMS, "eta": float},
                        {**_MODEL_DEFAULTS, "eta": 0.0},
                        {"eg": (), "escape_rate": (), "Q_ii": (), "R_ii": ()}, _run_fixed_point),
    "simulate": Task("simulate", {**MODEL_PARAMS, "eta": float, "alpha_max": float, "N": int, "seeds": int,
                                  "points": int, "fraction": float},
                     {**_MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 200.0, "N": 500, "seeds": 4, "points": 61,
                      "fraction": 0.5},
                     {"eg": ("alpha",), "eg_sem": ("alpha",), "escape_alpha": ()}, _run_simulate),
    "compare": Task("compare", {**MODEL_PARAMS, "eta": float, "alpha_max": float, "N": int, "seeds": int},
                    {**_MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 200.0, "N": 500, "seeds": 4},
                    {"max_discrepancy_eg": (), "escape_alpha_sim": (), "escape_alpha_ode": ()}, _run_compare),
}

# ---------------------------------------------------------------------------
# Validation (before anything runs)
# ---------------------------------------------------------------------------


def _check_fraction(name, value):
    value = check_real(name, value, positive=True)
    if value >= 1:
        raise ValueError(f"{name} must be a real number in (0, 1), got {value!r}")
    return value


def _check_alpha_max(name, value):
    return check_alpha_max(value)


#: The API's check of each parameter, by name (the model's parameters are checked by building the model).
CHECKS = {
    "eta": lambda k, v: check_real(k, v, positive=True),
    "alpha_max": _check_alpha_max,
    "N": lambda k, v: check_int(k, v, minimum=1),
    "seed": check_seed,
    "seeds": lambda k, v: check_int(k, v, minimum=1),
    "points": lambda k, v: check_int(k, v, minimum=2),  # alpha = 0 and at least one more
    "fraction": _check_fraction,
}
#: Where a task's check differs: the fixed point exists at eta = 0 (the small-eta limit).
TASK_CHECKS = {("fixed_point", "eta"): lambda k, v: check_real(k, v, nonnegative=True)}


def _check_value(task: Task, key: str, value):
    typ = task.params[key]
    if key == "M" and value is None:
        return None
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        value = int(value)
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    if key in MODEL_PARAMS:  # the field's own check (range, choices; bn="none" is "plain")
        f = Committee.FIELDS_BY_NAME[key]
        return f.plain(f.check(value))
    check = TASK_CHECKS.get((task.name, key), CHECKS.get(key))
    return value if check is None else check(key, value)


def _check_point(task: Task, point: dict, grid: dict):
    """What depends on several parameters: the model, and ``N`` against it."""
    try:
        model = _model(point)
        if task.name in CLOSED_FORM_TASKS:
            model.require_closed_form(f"task {task.name!r}")
        if "N" in point and task.name in ("ode", "simulate", "compare") and point["N"] < model.M:
            # the random teacher has exactly T = B B^T / N: M orthogonal directions need N >= M
            raise ValueError(f"N must be an integer >= M = {model.M} (the teacher's units), got {point['N']!r}")
    except ValueError as exc:
        raise ValueError(f"{exc} (at grid point {_label(point, grid)})") from None


def check_sweep(task, grid, fixed=None) -> tuple[Task, dict, dict]:
    """Validate a sweep before anything runs, with the same checks as the API.

    Parameters
    ----------
    task : str or Task
        A name in ``TASKS`` or a :class:`Task`.
    grid : dict
        Parameter name -> non-empty list of distinct values.
    fixed : dict, optional
        Parameter name -> value, held fixed (not also in ``grid``).

    Returns
    -------
    (Task, dict, dict)
        The task, and ``grid`` and ``fixed`` with their values normalized
        (ints, floats, ``bn = "none"`` as ``"plain"``).

    Raises
    ------
    ValueError
        An unknown task or parameter, an empty or repeated list, a value of
        the wrong type or out of its range (``eta`` finite and > 0, or >= 0
        for ``fixed_point``; ``alpha_max`` in (0, 1e12]; ``N`` >= 1 and >= M;
        ``seed`` in [0, 2^63 - 1]; ``seeds`` >= 1; ``points`` >= 2;
        ``fraction`` in (0, 1); a model that cannot be built, e.g.
        ``tau = -1``). The message starts with the parameter's name and, for
        what depends on several parameters, names the grid point.
    TypeError
        ``task`` is neither a name nor a :class:`Task`.

    Examples
    --------
    >>> check_sweep("ode", {"eta": [0.5, float("inf")]})
    Traceback (most recent call last):
    ...
    ValueError: eta must be a finite real number > 0, got inf
    """
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
        task = TASKS[task]
    elif not isinstance(task, Task):
        raise TypeError(f"task must be a task name or a symphase.sweep.Task, got {type(task).__name__}")
    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a non-empty mapping of parameter name -> list of values")
    if fixed is not None and not isinstance(fixed, dict):
        raise ValueError(f"fixed must be a mapping of parameter name -> value, got {fixed!r}")
    fixed = dict(fixed or {})
    out_grid = {}
    for key, values in grid.items():
        if key not in task.params:
            raise ValueError(f"{key}: unknown parameter of task {task.name!r} (known: {', '.join(task.params)})")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{key}: expected a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"{key}: empty list of values")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"{key}: repeated values in {values!r}")
        out_grid[key] = [_check_value(task, key, v) for v in values]
    for key, value in fixed.items():
        if key not in task.params:
            raise ValueError(f"{key}: unknown parameter of task {task.name!r} (known: {', '.join(task.params)})")
        if key in out_grid:
            raise ValueError(f"{key}: given both in the grid and as a fixed parameter")
        fixed[key] = _check_value(task, key, value)
    for key, value in task.defaults.items():  # a Task of one's own: its defaults are checked too
        if key not in out_grid and key not in fixed:
            _check_value(task, key, value)
    for point in _points(task, out_grid, fixed):
        _check_point(task, point, out_grid)
    return task, out_grid, fixed


def _points(task: Task, grid: dict, fixed: dict):
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(task.defaults)
        point.update(fixed)
        point.update(zip(keys, combo))
        yield point


def _label(point: dict, grid: dict) -> str:
    return ", ".join(f"{k}={point[k]!r}" for k in grid)


def _key(task: Task, point: dict) -> str:
    kept = {k: v for k, v in point.items() if not (k in TWO_LAYER_DEFAULTS and v == TWO_LAYER_DEFAULTS[k])}
    blob = json.dumps({"task": task.name, **{k: kept[k] for k in sorted(kept)}}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]

