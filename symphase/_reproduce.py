"""``reproduce``: regenerate every figure of the paper and of the project, with its data.

Each figure is a module of :mod:`symphase.figures` with ``NAME``, ``TITLE``,
``compute(quick) -> xarray.Dataset`` (thin calls of the public API),
``plot(ds) -> matplotlib Figure`` and ``summary(ds) -> str``. For each,
``reproduce`` writes ``NAME.nc`` (the data), ``NAME.png`` and ``NAME.pdf``,
each to a temporary name first and then renamed, so an interrupted run
leaves no half-written file; a figure whose three files exist (from a run of
the same mode, quick or full) is skipped unless ``force``.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import open_netcdf, write_netcdf

SUFFIXES = (".nc", ".png", ".pdf")


@dataclass
class StepResult:
    name: str
    title: str
    status: str          # "made", "skipped", "failed"
    seconds: float
    summary: str
    files: list

    def row(self) -> str:
        return f"{self.name:<28} {self.status:<8} {self.seconds:7.1f}s  {self.summary}"


def figure_modules(only=None):
    from .figures import FIGURES, load
    names = list(FIGURES)
    if only:
        short = {n.split("_")[0]: n for n in names}
        chosen = []
        for key in only:
            if key in names:
                chosen.append(key)
            elif key in short:
                chosen.append(short[key])
            else:
                raise ValueError(f"only: unknown figure {key!r} (known: {', '.join(names)})")
        names = chosen
    return [load(n) for n in names]


def _complete(out: Path, name: str, quick: bool) -> bool:
    """True when the figure's data file is complete (a missing PNG/PDF is redrawn from it)."""
    if not (out / f"{name}.nc").exists():
        return False
    try:
        with open_netcdf(out / f"{name}.nc") as ds:
            return int(ds.attrs.get("complete", 0)) == 1 and int(ds.attrs.get("quick", -1)) == int(quick)
    except Exception:  # unreadable file: redo it
        return False


def _atomic_savefig(fig, path: Path):
    """Draw ``fig`` into ``path`` via a fresh temporary (``O_CREAT | O_EXCL``, an unpredictable name: never
    a planted file or link), renamed over ``path`` when complete."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=150, bbox_inches="tight", format=path.suffix[1:])
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def reproduce(out="figures", *, quick: bool = False, force: bool = False, only=None, progress=None,
              log=None, replot: bool = False) -> list[StepResult]:
    """Compute and draw every figure into ``out`` (PNG, PDF, and NetCDF data); see the module doc.

    ``quick``: a reduced version (fewer seeds, smaller N) in under a minute.
    ``replot``: redraw complete figures from their saved data (no recomputation).
    Returns one :class:`StepResult` per figure; a figure that fails is
    reported (status ``"failed"`` and the error) and the others still run.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mods = figure_modules(only)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(mods), unit="figure", desc="reproduce")
    results = []
    try:
        for mod in mods:
            if bar is not None:
                bar.set_postfix_str(mod.NAME)
            files = [str(out / f"{mod.NAME}{s}") for s in SUFFIXES]
            t0 = time.perf_counter()
            if not force and _complete(out, mod.NAME, quick):
                with open_netcdf(out / f"{mod.NAME}.nc") as ds:
                    ds = ds.load()
                summary = mod.summary(ds)
                redraw = replot or not all((out / f"{mod.NAME}{s}").exists() for s in SUFFIXES)
                if redraw:
                    fig = mod.plot(ds)
                    _atomic_savefig(fig, out / f"{mod.NAME}.png")
                    _atomic_savefig(fig, out / f"{mod.NAME}.pdf")
                    plt.close(fig)
                results.append(StepResult(mod.NAME, mod.TITLE, "replotted" if redraw else "skipped",
                                          time.perf_counter() - t0, summary, files))
            else:
                try:
                    ds = mod.compute(quick)
                    _check_finite(ds, mod.NAME)
                    ds.attrs.update({"figure": mod.NAME, "title": mod.TITLE, "quick": int(quick), "complete": 1})
                    fig = mod.plot(ds)
                    _atomic_savefig(fig, out / f"{mod.NAME}.png")
                    _atomic_savefig(fig, out / f"{mod.NAME}.pdf")
                    plt.close(fig)
                    write_netcdf(ds, out / f"{mod.NAME}.nc")  # last: marks the figure complete
                    results.append(StepResult(mod.NAME, mod.TITLE, "made", time.perf_counter() - t0,
                                              mod.summary(ds), files))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # a failed figure is reported, the others still run
                    if log is not None:
                        traceback.print_exc(file=log)
                    results.append(StepResult(mod.NAME, mod.TITLE, "failed", time.perf_counter() - t0,
                                              f"{type(exc).__name__}: {exc}", []))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def _check_finite(ds, name):
    """NaN never passes quietly into a figure: variables may hold NaN only where flagged."""
    for var in ds.data_vars:
        arr = ds[var].values
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            if not ds[var].attrs.get("nan_means"):
                raise ValueError(f"{name}: variable {var!r} has non-finite values without a 'nan_means' note")
