"""Parameter sweeps on Dask: a grid of points, one task per point, resumable.

``sweep(task, grid, store=PATH)`` runs ``task`` at every point of the product
of the named parameter lists in ``grid`` and returns a :class:`SweepResult`
whose labeled ``xarray.Dataset`` has the grid parameters as dimensions.
Scheduling is Dask's: local processes by default, or an existing
``dask.distributed`` cluster given by its address.

What a sweep promises when things go wrong:

- The whole grid is validated with the checks of the API before anything
  runs (a bad value is a ``ValueError`` naming the parameter), and so is the
  store (a file, or a folder that cannot be written, is a ``ValueError``
  naming ``store``).
- Each finished point is written to ``PATH/points/<key>.json`` as it
  completes, atomically (a temporary ``.part`` name, then a rename), so a
  sweep that is killed and restarted skips exactly what is done. A point
  that fails (divergence, invalid parameters) is a finished point: stored
  with its status and message, and it does not stop the sweep.
- A point cut off by Ctrl-C is never stored. Ctrl-C stops the sweep within
  about a second: pending points are cancelled and the local worker
  processes ended (they ignore SIGINT themselves and leave it to the sweep).
  ``sweep`` then raises ``KeyboardInterrupt``; ``symphase sweep`` exits 130.
- A resume recomputes a point file it cannot read (a warning names it) and a
  point stored as ``"interrupted"`` by older versions; it removes ``.part``
  files left by writers that were killed.
- Local worker processes die with the sweep's process, also when it is
  killed with SIGKILL (a parent-death signal on Linux, and a watchdog thread
  polling the parent everywhere).

One sweep at a time per store.

This module holds the built-in tasks (:data:`TASKS`, which call the API) and
the sweep itself; beneath it are the shape of a task and the checks of a grid
(``_sweep_tasks``), the store of the points and the result (``_sweep_store``)
and the execution on Dask (``_sweep_exec``).
"""
from __future__ import annotations

import math
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ._compare import compare
from ._fixedpoint_solve import symmetric_fixed_point
from ._initial import random_initial
from ._io import write_netcdf
from ._ode import integrate
from ._plateau import escape_alpha
from ._simulate import simulate
from ._sweep_exec import _bar, _check_scheduler, _execute
from ._sweep_store import (
    PointInterrupted,
    SweepResult,
    _assemble,
    _open_store,
    _remove_stale_parts,
    _stored_state,
)
from ._sweep_tasks import (  # Task: public here
    MODEL_DEFAULTS,
    MODEL_PARAMS,
    Task,
    _alphas,
    _check_point,
    _check_value,
    _key,
    _model,
    _points,
)
from ._validate import check_int

# ---------------------------------------------------------------------------
# The built-in tasks: what is computed at one grid point
# ---------------------------------------------------------------------------

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
                {**MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 1000.0, "N": 1000, "seed": 0, "points": 121,
                 "fraction": 0.5},
                {"eg": ("alpha",), "final_eg": (), "escape_alpha": ()}, _run_ode),
    "fixed_point": Task("fixed_point", {**MODEL_PARAMS, "eta": float},
                        {**MODEL_DEFAULTS, "eta": 0.0},
                        {"eg": (), "escape_rate": (), "Q_ii": (), "R_ii": ()}, _run_fixed_point),
    "simulate": Task("simulate", {**MODEL_PARAMS, "eta": float, "alpha_max": float, "N": int, "seeds": int,
                                  "points": int, "fraction": float},
                     {**MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 200.0, "N": 500, "seeds": 4, "points": 61,
                      "fraction": 0.5},
                     {"eg": ("alpha",), "eg_sem": ("alpha",), "escape_alpha": ()}, _run_simulate),
    "compare": Task("compare", {**MODEL_PARAMS, "eta": float, "alpha_max": float, "N": int, "seeds": int},
                    {**MODEL_DEFAULTS, "eta": 0.5, "alpha_max": 200.0, "N": 500, "seeds": 4},
                    {"max_discrepancy_eg": (), "escape_alpha_sim": (), "escape_alpha_ode": ()}, _run_compare),
}


# ---------------------------------------------------------------------------
# Validation (before anything runs) and the sweep
# ---------------------------------------------------------------------------

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


def sweep(task, grid, *, scheduler=None, store=None, fixed=None, workers=None, progress=None):
    """Run ``task`` at every point of the product of the lists in ``grid``.

    Parameters
    ----------
    task : str or Task
        ``"ode"`` (the eps_g curve of :func:`symphase.integrate` from a seeded
        random start, and the escape time), ``"fixed_point"``
        (:func:`symphase.symmetric_fixed_point`: eps_g and the escape rate),
        ``"simulate"`` (the seed-averaged eps_g of :func:`symphase.simulate`)
        or ``"compare"`` (simulation vs ODE: discrepancy and escape times); or
        a :class:`Task`. ``TASKS[name].params`` lists each task's parameters.
    grid : dict
        Parameter name -> non-empty list of distinct values; the sweep runs
        their product.
    scheduler : None, str or distributed.Client
        None (local processes), ``"sync"``, ``"threads"``, ``"processes"``, a
        ``dask.distributed`` address (``"tcp://host:port"``) or ``Client``.
    store : path or None
        Folder in which each finished point is kept (``points/``) and the
        combined ``sweep.nc`` written; running again with the same store
        computes only the points not finished. None: a temporary folder,
        removed when the sweep completes (the result is then only in memory,
        ``result.store`` is None); when the sweep stops early (Ctrl-C, an
        error) the folder is kept and a warning names it, to resume with
        ``store=`` that folder.
    fixed : dict, optional
        Parameters held fixed (the others take ``TASKS[task].defaults``).
    workers : int, optional
        Local workers (default: all cores; never more than points to run).
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    SweepResult
        ``status`` ``"completed"`` when every point completed (or
        converged); its :attr:`~SweepResult.dataset` has the grid parameters
        as dimensions, the outputs as variables and ``status``/``message`` per
        point.

    Raises
    ------
    ValueError
        A bad task, grid, fixed parameter, option or store, before anything
        runs; the message names it.
    KeyboardInterrupt
        Ctrl-C: the sweep stops at once (local processes are ended; with
        ``scheduler="threads"`` the points running finish first); the
        finished points are kept in the store, the interrupted ones are not.

    Examples
    --------
    >>> res = symphase.sweep("fixed_point", {"K": [2, 3]}, scheduler="sync")
    >>> res.status, res["escape_rate"].dims
    (<Status.COMPLETED: 'completed'>, ('K',))
    """
    task, grid, fixed = check_sweep(task, grid, fixed)
    if workers is not None:
        workers = check_int("workers", workers, minimum=1)
    _check_scheduler(scheduler)
    store, temporary = _open_store(store)
    points_dir = store / "points"
    _remove_stale_parts(points_dir)
    points = list(_points(task, grid, fixed))
    paths = [points_dir / f"{_key(task, p)}.json" for p in points]
    states = [_stored_state(path) for path in paths]
    _warn_redo(paths, states)
    todo = [(p, str(path)) for p, path, s in zip(points, paths, states) if s != "finished"]
    bar = _bar(progress, len(points), len(points) - len(todo))
    try:
        if todo:
            _execute(task, todo, scheduler, workers, bar, points_dir)
    except PointInterrupted as exc:
        _keep_note(store, temporary, paths)
        raise _counted(KeyboardInterrupt(str(exc)), points_dir, paths) from None
    except KeyboardInterrupt as exc:
        _keep_note(store, temporary, paths)
        raise _counted(exc, points_dir, paths)  # noqa: B904 (the same interrupt, re-raised with its count)
    except BaseException:
        _keep_note(store, temporary, paths)
        raise
    finally:
        if bar is not None:
            bar.close()
    ds = _assemble(task, grid, fixed, points, paths)
    if temporary:
        shutil.rmtree(store, ignore_errors=True)
        return SweepResult(ds, None)
    res = SweepResult(ds, store)
    write_netcdf(res.to_xarray(), store / "sweep.nc")
    return res


def _counted(exc, points_dir, paths):
    """``exc`` with ``finished`` (points of this sweep stored) and ``points`` (all of them): one listing of
    the store's folder, not a test per point (a million points are counted in a second)."""
    try:
        stored = set(os.listdir(points_dir))
    except OSError:
        stored = set()
    exc.finished = sum(p.name in stored for p in paths)
    exc.points = len(paths)
    return exc


def _warn_redo(paths, states):
    bad = [p.name for p, s in zip(paths, states) if s == "unreadable"]
    if bad:
        warnings.warn(f"store: {len(bad)} point file(s) cannot be read and are computed again: "
                      f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} (in {str(paths[0].parent)!r})",
                      UserWarning, stacklevel=3)
    n = states.count("interrupted")
    if n:
        warnings.warn(f"store: {n} point(s) stored as interrupted (by an older version) are computed again",
                      UserWarning, stacklevel=3)


def _keep_note(store: Path, temporary: bool, paths):
    """A temporary store of a sweep that stopped early: kept and named if it holds points, else removed."""
    if not temporary:
        return
    if any(p.exists() for p in paths):
        warnings.warn(f"the sweep stopped early; its finished points are kept in {str(store)!r}: pass "
                      f"store={str(store)!r} to resume", UserWarning, stacklevel=3)
    else:
        shutil.rmtree(store, ignore_errors=True)


def load_config(path) -> dict:
    """Read a sweep config (TOML) for :func:`sweep` and ``symphase sweep``.

    The file has ``task = "..."``, a ``[grid]`` table of lists, optionally a
    ``[fixed]`` table, ``store = "folder"`` (relative to the config's folder in
    ``symphase sweep``) and ``scheduler = "tcp://host:port"``. Only the
    file's form is checked here: :func:`check_sweep` checks its values.

    Parameters
    ----------
    path : path
        The TOML file.

    Returns
    -------
    dict
        The config's keys and values, as read.

    Raises
    ------
    ValueError
        No such file (or a folder), unreadable, not UTF-8, not valid TOML,
        an unknown key, or ``task`` or ``[grid]`` missing; the message names
        the key or the file.

    Examples
    --------
    >>> cfg = load_config("examples/plateau_sweep.toml")  # doctest: +SKIP
    >>> task, grid, fixed = check_sweep(cfg["task"], cfg["grid"], cfg.get("fixed"))  # doctest: +SKIP
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.exists():
        raise ValueError(f"config: no such file {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"config: {str(path)!r} is a folder; give a TOML file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"config: {str(path)!r} is not UTF-8 text (TOML is UTF-8): byte {exc.start} is "
                         f"{exc.object[exc.start:exc.start + 1]!r}") from None
    except OSError as exc:
        raise ValueError(f"config: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config: {path}: not valid TOML: {exc}") from None
    allowed = {"task", "grid", "fixed", "store", "scheduler"}
    for key in cfg:
        if key not in allowed:
            raise ValueError(f"{key}: unknown key in {path.name} (allowed: {', '.join(sorted(allowed))})")
    if "task" not in cfg:
        raise ValueError(f"task: missing in {path.name}")
    if "grid" not in cfg or not isinstance(cfg["grid"], dict):
        raise ValueError(f"grid: missing table [grid] in {path.name}")
    return cfg
