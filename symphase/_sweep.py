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

import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from ._io import write_netcdf
from ._results import Result, Status, SymphaseError
from ._sweep_tasks import TASKS, Task, _key, _label, _points, check_sweep  # noqa: F401  (TASKS, Task: public here)

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
    except (SymphaseError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a numerical failure
        out = {"status": str(Status.FAILED), "message": f"{type(exc).__name__}: {exc}"}
    except ValueError as exc:  # input the grid's validation could not see (e.g. a model without a fixed point)
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

    Returns a :class:`SweepResult`: its ``dataset`` (``to_xarray()``) has the
    grid parameters as dimensions, outputs as variables and ``status``/``message``
    per point; ``status`` is ``"completed"`` when every point completed.
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
    write_netcdf(ds, store / "sweep.nc")
    return SweepResult(ds, store)


class SweepResult(Result):
    """The result of :func:`sweep`: one labeled dataset of every grid point.

    Attributes
    ----------
    dataset : xarray.Dataset
        Grid parameters as dimensions, outputs as variables, ``status`` and
        ``message`` per point; also ``sweep.nc`` in the store.
    store : pathlib.Path
        The folder holding the finished points and ``sweep.nc``.
    status, message
        ``"completed"`` when every point completed (or converged), else the
        status of the first point that did not, and how many did not.
    """

    def __init__(self, dataset, store):
        self.dataset = dataset
        self.store = Path(store)
        st = np.asarray(dataset["status"].values, dtype=object).ravel()
        ok = np.array([_ok(s) for s in st], dtype=bool)
        self.n_points, self.n_failed = int(st.size), int(np.sum(~ok))
        if self.n_failed == 0:
            self.status = Status.COMPLETED
            self.message = f"{self.n_points} point(s) completed"
        else:
            first = st[~ok][0]
            self.status = Status(first) if first in Status._value2member_map_ else Status.FAILED
            self.message = f"{self.n_failed} of {self.n_points} point(s) did not complete (first: {first})"

    def __getitem__(self, name):
        """``result[name]``: a variable or coordinate of :attr:`dataset`."""
        return self.dataset[name]

    def _summary(self) -> str:
        return f"task={self.dataset.attrs.get('task')!r}, points={self.n_points}, store={str(self.store)!r}"

    def _fields(self) -> dict:
        ds = self.dataset
        return {"task": ds.attrs.get("task"), "store": str(self.store), "points": self.n_points,
                "not_completed": self.n_failed, "dims": {d: ds[d].values for d in ds.dims},
                "variables": {k: ds[k].values for k in ds.data_vars}}

    def to_xarray(self):
        """The sweep's ``xarray.Dataset`` (the same as :attr:`dataset`)."""
        return self.dataset


def _ok(status) -> bool:
    return status in (Status.COMPLETED.value, Status.CONVERGED.value)


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
