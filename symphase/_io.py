"""Files: NetCDF4 and CSV written atomically (a temporary name, then a rename).

NetCDF goes through ``h5netcdf`` (NetCDF4/HDF5), never xarray's fallback to
scipy's NetCDF3 writer, which has no 64-bit integers (seeds of 2^31 and more
could not be saved). ``h5netcdf`` is a pure-Python reader/writer on ``h5py``,
whose wheels bundle HDF5: nothing to compile, and it reads what ``netCDF4``
writes and the other way round.
"""
from __future__ import annotations

import os
from pathlib import Path

ENGINE = "h5netcdf"
#: The suffixes a result can be saved with, and their formats.
FORMATS = {".nc": "netcdf", ".netcdf": "netcdf", ".csv": "csv"}


def temporary_path(path: Path) -> Path:
    """A sibling of ``path`` to write to first (unique per process), renamed over ``path`` when complete."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def write_netcdf(ds, path) -> Path:
    """Write the dataset ``ds`` to ``path`` as NetCDF4, atomically (no half-written file, ever)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        ds.to_netcdf(tmp, engine=ENGINE)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def open_netcdf(path):
    """Open a NetCDF file (NetCDF4, or NetCDF3 of older versions: the engine is detected from the
    file) lazily; use as a context manager."""
    import xarray as xr
    return xr.open_dataset(path)


def write_csv(df, path) -> Path:
    """Write the ``pandas.DataFrame`` ``df`` to ``path`` as CSV (no index), atomically."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        df.to_csv(tmp, index=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
