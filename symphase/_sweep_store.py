"""The store of a sweep: one JSON file per finished point, written atomically, and the dataset of them all.

A point is computed by :func:`run_point` (in a worker) and kept as
``points/<key>.json`` (a temporary ``.part`` name, then a rename); a point cut
off by Ctrl-C is never stored (:class:`PointInterrupted`). On resume,
:func:`_stored_state` tells finished points from damaged or interrupted ones.
:func:`_assemble` gathers the points into one dataset, and :class:`SweepResult`
is that dataset as a result (what :func:`symphase.sweep` returns and
:func:`symphase.load` reads back).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ._io import write_atomically
from ._results import Result, Status, SymphaseError
from ._sweep_tasks import Task, _label


class PointInterrupted(Exception):
    """A point's computation was interrupted (Ctrl-C reached it): it is not stored, and the sweep stops."""


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
    write_atomically(Path(path), json.dumps(record).encode("utf-8"))
    return path


def _remove_stale_parts(folder: Path):
    """Remove the ``.part`` files of writers that are gone (a killed worker's half-written point): the
    temporaries ``.NAME.PID.RANDOM.part`` of :func:`symphase._io.write_atomically`."""
    for f in folder.glob("*.part"):
        try:
            pid = int(f.name.rsplit(".", 3)[-3])
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _ok(status) -> bool:
    return status in (Status.COMPLETED.value, Status.CONVERGED.value)


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
