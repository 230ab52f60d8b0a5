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
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from ._io import write_netcdf
from ._results import Result, Status, SymphaseError
from ._sweep_tasks import TASKS, Task, _key, _label, _points, check_sweep  # noqa: F401  (TASKS, Task: public here)
from ._validate import check_int

#: The local Dask schedulers ``sweep`` accepts by name.
LOCAL_SCHEDULERS = ("sync", "synchronous", "threads", "processes")


class PointInterrupted(Exception):
    """A point's computation was interrupted (Ctrl-C reached it): it is not stored, and the sweep stops."""


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
    """Compute one grid point and store it atomically at ``path`` (JSON). Runs in a worker.

    A numerical failure (``SymphaseError``, ``ArithmeticError``,
    ``LinAlgError``) is stored as status ``"failed"``, a ``ValueError`` of the
    computation (e.g. a model without a fixed point) as ``"error"``, each with
    its message; the outputs are then NaN. A result with status
    ``"interrupted"`` (the computation caught Ctrl-C) is not stored: it raises
    :class:`PointInterrupted`, and the sweep stops.

    Returns
    -------
    str
        ``path``.
    """
    try:
        out = task.run(point)
    except (SymphaseError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a numerical failure
        out = {"status": str(Status.FAILED), "message": f"{type(exc).__name__}: {exc}"}
    except ValueError as exc:  # input the grid's validation could not see (e.g. a model without a fixed point)
        out = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    if out.get("status") == Status.INTERRUPTED.value:
        raise PointInterrupted(f"the point {_label(point, point)} was interrupted ({out.get('message', '')}); "
                               f"it is not stored")
    record = {"point": point, "outputs": {k: _jsonable(v) for k, v in out.items()}}
    _write_atomic(Path(path), json.dumps(record))
    return path


def _write_atomic(path: Path, text: str):
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # the pid: a stale one is known by its dead writer
    try:
        tmp.write_text(text)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _worker_init(parent_pid: int):
    """Initializer of the local worker processes.

    Ctrl-C reaches the whole process group; the sweep's process handles it
    (it cancels what is pending and ends the workers), so a worker ignores
    SIGINT: it neither stores a point cut short nor prints a traceback. And a
    worker dies with the sweep's process, also when that is killed with SIGKILL.
    """
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int, poll: float = 0.2, deathsig: bool = True):
    """End this process (``os._exit``) as soon as the process ``parent_pid`` is gone.

    ``deathsig``: on Linux, also ask the kernel for SIGKILL when the parent
    dies (immediate); the watchdog thread alone works everywhere.
    """
    if deathsig and sys.platform.startswith("linux"):
        try:  # the kernel's parent-death signal: immediate, even inside a long compiled kernel
            import ctypes
            import signal
            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    ppid = os.getppid()
    if ppid != parent_pid and not _pid_alive(parent_pid):  # the parent died before the signal was armed
        os._exit(1)

    def watch():  # everywhere: notices the parent's death within `poll` seconds (of holding the GIL)
        while True:
            time.sleep(poll)
            if os.getppid() != ppid or not _pid_alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="symphase-sweep-watchdog", daemon=True).start()


def _remove_stale_parts(folder: Path):
    """Remove the ``.part`` files of writers that are gone (a killed worker's half-written point)."""
    for f in folder.glob("*.part"):
        try:
            pid = int(f.name.rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            pid = None
        if pid is None or not _pid_alive(pid):
            f.unlink(missing_ok=True)


def _stored_state(path: Path) -> str:
    """``"finished"``, ``"missing"``, ``"interrupted"`` (stored by older versions) or ``"unreadable"``."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    try:
        status = json.loads(text)["outputs"]["status"]
    except (ValueError, KeyError, TypeError):
        return "unreadable"
    return "interrupted" if status == Status.INTERRUPTED.value else "finished"


def _read_record(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SymphaseError(f"store: the point file {str(path)!r} cannot be read ({exc}); remove it and run "
                            f"the sweep again") from None


def _open_store(store):
    """The store's folder, created and checked writable: ``(path, temporary)``; ``ValueError`` naming ``store``."""
    if store is None:
        path = Path(tempfile.mkdtemp(prefix="symphase-sweep-"))
        (path / "points").mkdir()
        return path, True
    try:
        path = Path(store).expanduser()
    except TypeError:
        raise TypeError(f"store must be a folder path or None, got {type(store).__name__}") from None
    if path.exists() and not path.is_dir():
        raise ValueError(f"store must be a folder; {str(path)!r} is a file")
    try:
        (path / "points").mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path / "points", prefix=".write-test.", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"store: cannot write in {str(path)!r}: {exc.strerror or exc}") from None
    return path, False


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------


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
        raise KeyboardInterrupt(str(exc)) from None
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
    write_netcdf(ds, store / "sweep.nc")
    return SweepResult(ds, store)


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


class SweepResult(Result):
    """The result of :func:`sweep`: one labeled dataset of every grid point.

    Parameters
    ----------
    dataset : xarray.Dataset
        As assembled by :func:`sweep`: a ``status`` variable over the grid.
    store : path or None
        The store's folder, or None for a temporary store (removed).

    Attributes
    ----------
    dataset : xarray.Dataset
        Grid parameters as dimensions, outputs as variables, ``status`` and
        ``message`` per point; also ``sweep.nc`` in the store.
    store : pathlib.Path or None
        The folder holding the finished points and ``sweep.nc``; None when
        :func:`sweep` ran with ``store=None`` (nothing was kept).
    n_points, n_failed : int
        Points in the grid, and those that did not complete (or converge).
    status : Status
        ``"completed"`` when every point completed (or converged), else the
        status of the first point that did not (``"failed"`` for ``"error"``).
    message : str
        How many points completed, or how many did not and the first status.

    Examples
    --------
    >>> res = symphase.sweep("fixed_point", {"K": [2]}, scheduler="sync")
    >>> res
    SweepResult(task='fixed_point', points=1, store=None, status='completed', message='1 point(s) completed')
    """

    def __init__(self, dataset, store):
        self.dataset = dataset
        self.store = None if store is None else Path(store)
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
        store = None if self.store is None else str(self.store)
        return f"task={self.dataset.attrs.get('task')!r}, points={self.n_points}, store={store!r}"

    def _fields(self) -> dict:
        ds = self.dataset
        return {"task": ds.attrs.get("task"), "store": None if self.store is None else str(self.store),
                "points": self.n_points, "not_completed": self.n_failed, "dims": {d: ds[d].values for d in ds.dims},
                "variables": {k: ds[k].values for k in ds.data_vars}}

    def to_xarray(self):
        """The sweep's ``xarray.Dataset`` (the same as :attr:`dataset`).

        Returns
        -------
        xarray.Dataset
        """
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


def _check_scheduler(scheduler):
    if scheduler is None or isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        return
    if isinstance(scheduler, str):
        if scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            return
        raise ValueError(f"scheduler must be None, {', '.join(map(repr, LOCAL_SCHEDULERS))}, a dask.distributed "
                         f"address (tcp://host:port) or a distributed.Client; got {scheduler!r}")
    try:
        from distributed import Client
    except ImportError:
        Client = ()
    if not isinstance(scheduler, Client):
        raise TypeError(f"scheduler must be None, a scheduler name, an address or a distributed.Client, "
                        f"got {type(scheduler).__name__}")


def _execute(task, todo, scheduler, workers, bar, points_dir):
    client = _client(scheduler)
    if client is not None:
        _execute_distributed(client, task, todo, bar, own=client is not scheduler)
    else:
        _execute_local(task, todo, scheduler or "processes", workers, bar, points_dir)


def _execute_distributed(client, task, todo, bar, own):
    from distributed import as_completed
    futures = []
    try:
        futures = [client.submit(run_point, task, p, path, pure=False) for p, path in todo]
        for fut in as_completed(futures, loop=client.loop):
            fut.result()  # re-raise a worker's unexpected exception (or PointInterrupted) here
            if bar is not None:
                bar.update(1)
    except BaseException:
        with contextlib.suppress(Exception):  # nothing more runs for this sweep (the client may be gone:
            client.cancel(futures)              # the original error is what matters)
        raise
    finally:
        if own:
            client.close()


def _execute_local(task, todo, local, workers, bar, points_dir):
    import dask
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _posttask(self, key, result, dsk, state, id):
            if bar is not None and isinstance(result, str) and result.endswith(".json"):
                bar.update(1)

    tasks = [dask.delayed(run_point, pure=False)(task, p, path) for p, path in todo]
    n = min(workers or os.cpu_count() or 1, len(todo))
    if local in ("sync", "synchronous"):
        with _Progress():
            dask.compute(*tasks, scheduler="sync")
        return
    if local == "threads":
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(n, thread_name_prefix="symphase-sweep")
        try:
            with _Progress():
                dask.compute(*tasks, scheduler="threads", pool=pool)
        finally:  # on Ctrl-C: the points running finish (threads cannot be stopped), nothing new starts
            pool.shutdown(wait=False, cancel_futures=True)
        return
    pool = _process_pool(n)
    try:
        with _Progress():
            # one point per task (Dask batches 6 by default): balanced, and Ctrl-C has nothing queued in a worker
            dask.compute(*tasks, scheduler="processes", pool=pool, chunksize=1)
    except BaseException:
        _abort(pool)
        _remove_stale_parts(points_dir)
        raise
    pool.shutdown(wait=True)


def _process_pool(n: int):
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from dask.multiprocessing import get_context
    return ProcessPoolExecutor(n, mp_context=get_context(), initializer=partial(_worker_init, os.getpid()))


def _abort(pool):
    """Cancel what is pending and end the worker processes now (Ctrl-C, or an error)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join(2)


def _client(scheduler):
    if scheduler is None or isinstance(scheduler, str) and not scheduler.startswith(
            ("tcp://", "tls://", "inproc://", "ucx://")):
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler: a dask.distributed address needs the 'distributed' package "
                         "(pip install symphase[distributed])") from None
    if isinstance(scheduler, Client):
        return scheduler
    return Client(scheduler, set_as_default=False)


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
        record = _read_record(path)
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
    n_failed = int(sum(not _ok(s) for s in status.ravel()))
    attrs["n_points"] = int(status.size)
    attrs["n_not_completed"] = n_failed
    return xr.Dataset(variables, coords=coords, attrs=attrs)


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
        No such file, not valid TOML, an unknown key, or ``task`` or
        ``[grid]`` missing; the message names the key or the file.

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
