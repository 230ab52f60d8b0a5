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

import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ._io import write_netcdf
from ._results import Result, Status
from ._sweep_exec import _bar, _check_scheduler, _execute
from ._sweep_store import PointInterrupted, _assemble, _ok, _open_store, _remove_stale_parts, _stored_state
from ._sweep_tasks import TASKS, Task, _key, _label, _points, check_sweep  # noqa: F401  (TASKS, Task: public here)
from ._validate import check_int


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
        """The sweep's ``xarray.Dataset``: :attr:`dataset`, with the attributes :func:`symphase.load`
        reads it back by (the type and the store).

        Returns
        -------
        xarray.Dataset
            A shallow copy of :attr:`dataset` (the arrays are shared).
        """
        ds = self.dataset.copy()
        ds.attrs.update(self._identity(), **({} if self.store is None else {"symphase_store": str(self.store)}))
        return ds




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
