"""Parameter sweeps on Dask: a grid of points, one task per point, resumable.

``sweep(task, grid, store=PATH)`` runs ``task`` at every point of the product
of the named parameter lists in ``grid`` and returns one labeled
``xarray.Dataset`` with the grid parameters as dimensions. Each finished
point is written to ``PATH/points/`` as it completes, so a sweep that is
killed and restarted skips what is done; a point that fails (divergence,
invalid parameters) is recorded with its status and message and does not
stop the sweep. Scheduling is Dask's: local processes by default, or an
existing ``dask.distributed`` cluster given by its address.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .compare import escape_alpha
from .model import BN_RULES, GAINS, Committee

# ---------------------------------------------------------------------------
# Tasks: what is computed at one grid point
# ---------------------------------------------------------------------------

MODEL_PARAMS = {"K": int, "M": int, "bn": str, "gain": str, "tau": float, "batch": int, "noise": float}


@dataclass(frozen=True)
class Task:
    """A sweep task: its parameters (name -> type), defaults, and outputs (name -> extra dims)."""

    name: str
    params: dict
    defaults: dict
    outputs: dict           # name -> tuple of extra dimension names (beyond the grid)
    run: Callable           # run(point: dict) -> dict of outputs (+ "status", "message")

    def coords(self, point: dict) -> dict:
        """Coordinates of the extra output dimensions (e.g. the alpha grid)."""
        return _extra_coords(self.name, point)


def _model(p: dict) -> Committee:
    bn = None if p["bn"] in ("none", None) else p["bn"]
    return Committee(p["K"], p["M"] if p.get("M") is not None else p["K"], bn=bn, gain=p["gain"], tau=p["tau"],
                     batch=p["batch"], noise=p["noise"])


def _alphas(p: dict) -> np.ndarray:
    from .ode import default_alphas
    return default_alphas(p["alpha_max"], p["points"] - 1)


def _extra_coords(name: str, p: dict) -> dict:
    if name in ("ode", "simulate"):
        return {"alpha": _alphas(p)}
    return {}


def _run_ode(p: dict) -> dict:
    from .initial import random_initial
    from .ode import integrate
    model = _model(p)
    Q0, R0, g0 = random_initial(model, p["N"], p["seed"])
    alphas = _alphas(p)
    res = integrate(model, Q0, R0, p["eta"], p["alpha_max"], g0=g0, alphas=alphas, eg_tol=0.0)
    eg = np.full(alphas.size, np.nan)
    n = int(np.sum(np.isin(res.alpha, alphas)))  # a failed run stops early: the rest stays NaN
    eg[:n] = res.eg[:n]
    return {"eg": eg, "final_eg": float(res.eg[-1]), "escape_alpha": escape_alpha(alphas, eg, p["fraction"]),
            "status": str(res.status), "message": res.message}


def _run_fixed_point(p: dict) -> dict:
    from .fixedpoint import symmetric_fixed_point
    model = _model(p)
    fp = symmetric_fixed_point(model, eta=p["eta"])
    return {"eg": float(fp.eg), "escape_rate": float(fp.escape_rate),
            "Q_ii": float(fp.Q[0, 0]), "R_ii": float(fp.R[0, 0]),
            "status": "completed", "message": "fixed point found"}


def _run_simulate(p: dict) -> dict:
    from .simulate import simulate
    model = _model(p)
    alphas = _alphas(p)
    res = simulate(model, p["N"], p["eta"], p["alpha_max"], seeds=p["seeds"], alphas=alphas, workers=1)
    # the simulator records at whole steps: requested alphas closer than 1/N share a record
    idx = np.searchsorted(np.rint(res.alpha * p["N"]), np.rint(alphas * p["N"]))
    eg = np.asarray(res.eg, dtype=float)[:, idx]
    n = eg.shape[0]
    mean = np.nanmean(eg, axis=0) if np.any(np.isfinite(eg)) else np.full(eg.shape[1], np.nan)
    sem = np.nanstd(eg, axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(eg.shape[1], np.nan)
    return {"eg": mean, "eg_sem": sem, "escape_alpha": escape_alpha(res.alpha, res.eg.mean(0), p["fraction"]),
            "status": str(res.status), "message": res.message}


def _run_compare(p: dict) -> dict:
    from .compare import compare
    model = _model(p)
    cmp = compare(model, p["N"], p["eta"], p["alpha_max"], p["seeds"])
    ds = cmp.to_xarray()
    out = {"status": "completed", "message": "compared"}
    for name in ("max_discrepancy_eg", "escape_alpha_sim", "escape_alpha_ode"):
        if name in ds:
            vals = ds[name].values[np.isfinite(ds[name].values)]
            out[name] = float(vals.mean()) if vals.size else math.nan
        else:
            out[name] = math.nan
    return out


_MODEL_DEFAULTS = {"K": 2, "M": None, "bn": "none", "gain": "learned", "tau": 1.0, "batch": 1, "noise": 0.0}
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


def _check_value(task: Task, key: str, value):
    typ = task.params[key]
    if key == "M" and value is None:
        return None
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    if key == "bn" and value not in ("none",) + tuple(r for r in BN_RULES if r):
        raise ValueError(f"bn: expected 'none', 'paper' or 'exact', got {value!r}")
    if key == "gain" and value not in GAINS:
        raise ValueError(f"gain: expected 'learned' or 'fixed', got {value!r}")
    return value


def check_sweep(task, grid, fixed=None) -> tuple[Task, dict, dict]:
    """Validate a sweep: known task, known parameters, non-empty lists of the right type.

    Returns ``(task, grid, fixed)`` normalized. Raises ``ValueError`` naming the
    offending key; nothing runs before this passes. Every point's model is
    also built once here, so e.g. ``tau = -1`` is rejected up front.
    """
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
        task = TASKS[task]
    elif not isinstance(task, Task):
        raise TypeError(f"task must be a task name or a symphase.sweep.Task, got {type(task).__name__}")
    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a non-empty mapping of parameter name -> list of values")
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
    for point in _points(task, out_grid, fixed):
        try:
            _model(point)
        except ValueError as exc:
            raise ValueError(f"{exc} (at grid point {_label(point, out_grid)})") from None
        for key in ("eta", "alpha_max"):
            if key in point and not (point[key] >= 0 if (key == "eta" and task.name == "fixed_point")
                                     else point[key] > 0):
                raise ValueError(f"{key} must be > 0, got {point[key]!r}")
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
    blob = json.dumps({"task": task.name, **{k: point[k] for k in sorted(point)}}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]

# ---------------------------------------------------------------------------
# Running one point (in a worker) and storing it
# ---------------------------------------------------------------------------


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else repr(v)  # 'nan', 'inf' kept as strings
    if isinstance(v, np.integer):
        return int(v)
    return v


def _unjson(v):
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    if v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def run_point(task: Task, point: dict, path: str) -> str:
    """Compute one grid point and persist it atomically to ``path`` (JSON). Runs in a worker.

    A ``ValueError``/``ArithmeticError`` of the computation is recorded as
    status ``"error"`` with its message; the outputs are then NaN.
    """
    try:
        out = task.run(point)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        out = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    record = {"point": point, "outputs": {k: _jsonable(v) for k, v in out.items()}}
    tmp = Path(path).with_name(Path(path).name + f".{os.getpid()}.part")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------


def sweep(task, grid, *, scheduler=None, store=None, fixed=None, workers=None, progress=None):
    """Run ``task`` at every point of the grid ``grid`` (a mapping name -> list of values).

    ``task``: ``"ode"`` (eps_g curve of ``integrate`` from a seeded random
    start, plus escape time), ``"fixed_point"`` (``symmetric_fixed_point``: eps_g
    and escape rate), ``"simulate"`` (seed-averaged eps_g of ``simulate``) or
    ``"compare"`` (simulation vs ODE discrepancy and escape times). ``fixed``:
    parameters held fixed (defaults otherwise: see ``TASKS[task].defaults``).
    ``scheduler``: None (local processes on all cores), ``"sync"``,
    ``"threads"``, ``"processes"``, a ``dask.distributed`` address
    (``"tcp://host:port"``) or ``Client``. ``store``: folder in which every
    finished point is kept (``points/``) and the combined ``sweep.nc`` is
    written; re-running with the same store skips finished points.

    Returns an ``xarray.Dataset``: grid parameters as dimensions, outputs as
    variables, ``status``/``message`` per point.
    """
    task, grid, fixed = check_sweep(task, grid, fixed)
    if store is None:
        import tempfile
        store = tempfile.mkdtemp(prefix="symphase-sweep-")
    store = Path(store)
    (store / "points").mkdir(parents=True, exist_ok=True)
    points = list(_points(task, grid, fixed))
    paths = [str(store / "points" / f"{_key(task, p)}.json") for p in points]
    todo = [(p, path) for p, path in zip(points, paths) if not Path(path).exists()]
    bar = _bar(progress, len(points), len(points) - len(todo))
    try:
        if todo:
            _execute(task, todo, scheduler, workers, bar)
    finally:
        if bar is not None:
            bar.close()
    ds = _assemble(task, grid, fixed, points, paths)
    tmp = store / "sweep.nc.part"
    ds.to_netcdf(tmp)
    tmp.replace(store / "sweep.nc")
    return ds


def _bar(progress, total, done):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=done, unit="point", desc="sweep")


def _execute(task, todo, scheduler, workers, bar):
    import dask
    client = _client(scheduler)
    if client is not None:
        from distributed import Client, as_completed
        own = not isinstance(scheduler, Client)
        try:
            futures = [client.submit(run_point, task, p, path, pure=False) for p, path in todo]
            for fut in as_completed(futures, loop=client.loop):
                fut.result()  # re-raise a worker's unexpected exception here
                if bar is not None:
                    bar.update(1)
        finally:
            if own:
                client.close()
        return
    local = scheduler or "processes"
    if local not in ("sync", "synchronous", "threads", "processes"):
        raise ValueError(f"scheduler must be None, 'sync', 'threads', 'processes', a tcp:// address or a "
                         f"distributed.Client; got {scheduler!r}")
    tasks = [dask.delayed(run_point, pure=False)(task, p, path) for p, path in todo]
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _posttask(self, key, result, dsk, state, id):
            if bar is not None and isinstance(result, str) and result.endswith(".json"):
                bar.update(1)
    kwargs = {"scheduler": local}
    if local == "processes" or local == "threads":
        kwargs["num_workers"] = workers or os.cpu_count() or 1
    with _Progress():
        dask.compute(*tasks, **kwargs)


def _client(scheduler):
    if scheduler is None or isinstance(scheduler, str) and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler: a dask.distributed address needs the 'distributed' package "
                         "(pip install symphase[distributed])") from None
    if isinstance(scheduler, Client):
        return scheduler
    if isinstance(scheduler, str):
        return Client(scheduler, set_as_default=False)
    raise TypeError(f"scheduler must be None, a scheduler name, an address or a distributed.Client, "
                    f"got {type(scheduler).__name__}")


def _assemble(task, grid, fixed, points, paths):
    import xarray as xr
    dims = list(grid)
    shape = tuple(len(grid[d]) for d in dims)
    extra = task.coords(points[0])
    data = {}
    for name, edims in task.outputs.items():
        data[name] = np.full(shape + tuple(len(extra[d]) for d in edims), np.nan)
    status = np.empty(shape, dtype=object)
    message = np.empty(shape, dtype=object)
    for idx, path in zip(np.ndindex(*shape), paths):
        record = json.loads(Path(path).read_text())
        out = record["outputs"]
        status[idx] = out.get("status", "unknown")
        message[idx] = out.get("message", "")
        for name in task.outputs:
            if name in out:
                data[name][idx] = np.asarray(_unjson(out[name]), dtype=float)
    variables = {name: (tuple(dims) + task.outputs[name], arr) for name, arr in data.items()}
    variables["status"] = (tuple(dims), status)
    variables["message"] = (tuple(dims), message)
    coords = {d: np.array(grid[d], dtype=object if isinstance(grid[d][0], str) else None) for d in dims}
    coords.update(extra)
    attrs = {"task": task.name}
    attrs.update({f"fixed_{k}": (v if v is not None else "none") for k, v in
                  {**task.defaults, **fixed}.items() if k not in grid})
    n_failed = int(np.sum(status != "completed"))
    attrs["n_points"] = int(status.size)
    attrs["n_not_completed"] = n_failed
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def load_config(path) -> dict:
    """Read a sweep config (TOML): ``task = "..."``, a ``[grid]`` table of lists,
    an optional ``[fixed]`` table, and optional ``store``/``scheduler``."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.exists():
        raise ValueError(f"config: no such file {str(path)!r}")
    try:
        cfg = tomllib.loads(path.read_text())
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
