"""Files: NetCDF4 and CSV written atomically (a temporary name, then a rename).

NetCDF goes through ``h5netcdf`` (NetCDF4/HDF5), never xarray's fallback to
scipy's NetCDF3 writer, which has no 64-bit integers (seeds of 2^31 and more
could not be saved). ``h5netcdf`` is a pure-Python reader/writer on ``h5py``,
whose wheels bundle HDF5: nothing to compile, and it reads what ``netCDF4``
writes and the other way round.

A file is written under a temporary sibling name ``.NAME.PID.RANDOM.part``,
created with ``O_CREAT | O_EXCL`` (:func:`tempfile.mkstemp`: an unpredictable
name, never a file or symbolic link planted there beforehand), and renamed over
``NAME`` only when complete (a rename within one folder is atomic on POSIX; a
symbolic link at ``NAME`` is replaced, not followed), so a reader never sees a
half-written file: after an error or Ctrl-C the temporary is removed; after
``kill -9`` it may be left, and the next write to the same name removes it (its
process is gone). The whole file is built in memory first (NetCDF4 by h5netcdf
into a bytes buffer) and then written with plain ``write`` calls, so a full
disk or a folder removed mid-run is an ``OSError`` of the write, never a crash
inside the HDF5 library while it closes a broken file.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

ENGINE = "h5netcdf"
#: The suffixes a result can be saved with, and their formats.
FORMATS = {".nc": "netcdf", ".netcdf": "netcdf", ".csv": "csv"}


def remove_stale_temporaries(path) -> list:
    """Remove the temporaries ``.NAME.PID[.RANDOM].part`` of ``path`` left by processes that no longer run
    (killed with ``kill -9`` while writing); returns the paths removed.

    A temporary whose process still runs (or belongs to another user) is kept.
    """
    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.part"))
    except OSError:
        return removed
    for tmp in candidates:
        pid = tmp.name[len(path.name) + 2:-len(".part")].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def check_writable(path, name: str = "path") -> Path:
    """Check, before any work, that a result can be saved to ``path``; returns it as a ``Path``.

    The suffix must be one of :data:`FORMATS`; ``path`` must not be a folder or
    any other non-regular file; its folder must exist (it is not created) and
    be writable (tested by creating and removing a file there, so it also holds
    for root and read-only file systems). Stale temporaries of ``path``
    (:func:`remove_stale_temporaries`) are removed.

    Parameters
    ----------
    path : path-like
        Where the result will be written.
    name : str
        How to name ``path`` in messages (``"--out"`` for the command line).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Naming ``name`` and what is wrong: the suffix, a folder in the way, a
        missing or unwritable folder.

    Examples
    --------
    >>> from symphase._io import check_writable
    >>> check_writable("/nonexistent/run.nc", "--out")
    Traceback (most recent call last):
    ...
    ValueError: --out: the folder '/nonexistent' does not exist (create it first; symphase does not create folders)
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{name} must end in {', '.join(FORMATS)} (NetCDF4 or CSV), got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder; give a file name ending in {', '.join(FORMATS)}")
    if path.exists() and not path.is_file():
        raise ValueError(f"{name}: {str(path)!r} exists and is not a regular file; it would be replaced")
    parent = path.parent
    if not parent.is_dir():
        blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise ValueError(f"{name}: {str(path)!r} is below {str(blocker)!r}, which is a file, not a folder")
        raise ValueError(f"{name}: the folder {str(parent)!r} does not exist (create it first; symphase does not "
                         f"create folders)")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise ValueError(f"{name}: cannot write in the folder {str(parent)!r}: {exc.strerror or exc}") from None
    remove_stale_temporaries(path)
    return path


def write_atomically(path, data: bytes) -> Path:
    """Write the bytes ``data`` to ``path`` through a fresh temporary ``.NAME.PID.RANDOM.part``
    (:func:`tempfile.mkstemp`: ``O_CREAT | O_EXCL``, an unpredictable name, never a planted file or link),
    synced, then renamed over ``path``; on any failure the temporary is removed. The one atomic writer of
    the package: results, sweep points and figures."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        try:
            os.unlink(name)
        except OSError:
            pass
        raise
    return path


def netcdf_bytes(ds) -> bytes:
    """The NetCDF4 file of the dataset ``ds`` (h5netcdf), built in memory.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    ds.to_netcdf(buf, engine=ENGINE)
    return buf.getvalue()


def write_netcdf(ds, path) -> Path:
    """Write the dataset ``ds`` to ``path`` as NetCDF4 (h5netcdf), atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write (e.g. a result's ``to_xarray()``).
    path : path-like
        The file; its folder must exist.

    Returns
    -------
    Path
        ``path``. It is complete or absent, never half-written: the file is built
        in memory, written to a fresh temporary (``.NAME.PID.RANDOM.part``, :func:`tempfile.mkstemp`), and that
        is renamed over ``path`` (and removed on any error or Ctrl-C).

    Raises
    ------
    OSError
        The folder is missing or not writable, the disk is full, ...
    """
    return write_atomically(path, netcdf_bytes(ds))


def open_netcdf(path):
    """Open a NetCDF file lazily (NetCDF4, or NetCDF3 of older versions: the engine is detected from the
    file); use as a context manager.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    xarray.Dataset
    """
    import xarray as xr
    return xr.open_dataset(path)


def write_csv(df, path) -> Path:
    """Write the ``pandas.DataFrame`` ``df`` to ``path`` as CSV (no index), atomically.

    Parameters
    ----------
    df : pandas.DataFrame
        A tidy table (e.g. a result's ``to_dataframe()``).
    path : path-like
        The file; its folder must exist.

    Returns
    -------
    Path
        ``path``, complete or absent (as :func:`write_netcdf`).

    Raises
    ------
    OSError
        The folder is missing or not writable, the disk is full, ...
    """
    return write_atomically(path, df.to_csv(index=False).encode("utf-8"))
