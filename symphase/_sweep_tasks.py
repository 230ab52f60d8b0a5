"""The shape of a task of :func:`symphase.sweep` and of its grid: the task, the points, their checks.

A :class:`Task` names its parameters (name -> type), defaults and outputs
(name -> extra dimensions beyond the grid). Each ``run(point)`` returns its
outputs with the real ``status`` and ``message`` of what it ran. Here are the
model's sweep axes, the points of a grid, the check of each value and point
(before anything runs) and the key under which a point is stored; the built-in
tasks, which call the API, are ``symphase._sweep.TASKS``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._model import Committee
from ._run_checks import check_alpha_max, default_alphas
from ._validate import check_int, check_real, check_seed

# ---------------------------------------------------------------------------
# Tasks: what is computed at one grid point (the built-in ones: symphase._sweep.TASKS)
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


MODEL_PARAMS, MODEL_DEFAULTS, TWO_LAYER_DEFAULTS = model_axes()
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

