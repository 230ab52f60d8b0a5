"""``reproduce``: regenerate every figure of the paper and of the project, with its data.

Each figure is a module of :mod:`symphase.figures` with ``NAME``, ``TITLE``,
``compute(quick) -> xarray.Dataset`` (thin calls of the public API),
``plot(ds) -> matplotlib Figure`` and ``summary(ds) -> str``. For each,
``reproduce`` writes ``NAME.nc`` (the data), ``NAME.png`` and ``NAME.pdf``,
each to a temporary name first and then renamed, so an interrupted run
leaves no half-written file; a figure whose three files exist (from a run of
the same mode, quick or full) is skipped unless ``force``.

Ctrl-C stops the figure being made at once and ends the run (:class:`_Interrupts`):
the figures' runs (``simulate``, ``integrate``, ...) each catch a Ctrl-C and return
a partial result, so a single Ctrl-C would otherwise only cut one run short and
the figure would go on (or fail on the partial result); here it is repeated
until it reaches ``reproduce``, which reports that figure as ``"interrupted"``
and returns.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
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
    """The figure modules named in ``only`` (names or prefixes such as ``"fig3"``, each figure once, in
    the order given), or all of them for ``None``; an empty selection is a ``ValueError``."""
    from .figures import FIGURES, load
    names = list(FIGURES)
    if only is not None:
        if isinstance(only, str):
            only = [only]
        short = {n.split("_")[0]: n for n in names}
        chosen = []
        for key in only:
            if key in names:
                chosen.append(key)
            elif key in short:
                chosen.append(short[key])
            else:
                raise ValueError(f"only: unknown figure {key!r} (known: {', '.join(names)})")
        if not chosen:
            raise ValueError(f"only: no figure named; give one or more of {', '.join(names)} (or their prefixes "
                             f"such as fig1), or leave it out for all")
        names = list(dict.fromkeys(chosen))  # a figure named twice is made once
    return [load(n) for n in names]


class _Interrupts:
    """Ctrl-C while a figure is made: noted, and raised as ``KeyboardInterrupt`` again every
    :attr:`REPEAT_S` seconds until the figure's code has unwound (the API's runs each catch one Ctrl-C
    and return a partial result, so one alone would not stop the figure). In the main thread only;
    elsewhere nothing changes."""

    REPEAT_S = 0.2

    def __init__(self):
        self.hit = False
        self.active = False
        self.old = None

    def _sigint(self, signum, frame):
        first, self.hit = not self.hit, True
        if self.active:
            if first:
                signal.setitimer(signal.ITIMER_REAL, self.REPEAT_S, self.REPEAT_S)
            raise KeyboardInterrupt

    def _again(self, signum, frame):
        if self.active:
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = (signal.signal(signal.SIGINT, self._sigint), signal.signal(signal.SIGALRM, self._again))
            self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False  # from here on the handlers only note a Ctrl-C
        if self.old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGINT, self.old[0])
            signal.signal(signal.SIGALRM, self.old[1])
            self.old = None


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
    ``only``: figure names or prefixes (each made once); ``None`` for all.
    Returns one :class:`StepResult` per figure; a figure that fails is
    reported (status ``"failed"`` and the error) and the others still run.
    Ctrl-C stops at once: the figure being made is reported ``"interrupted"``
    (its data file not written), the ones after it are not started, and the
    list so far is returned.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = figure_modules(only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
            t0 = time.perf_counter()
            interrupts = _Interrupts()
            try:
                with interrupts:
                    step = _one(mod, out, quick, force, replot, log, interrupts, plt)
            except KeyboardInterrupt:
                interrupts.hit = True
            if interrupts.hit:
                results.append(StepResult(mod.NAME, mod.TITLE, "interrupted", time.perf_counter() - t0,
                                          "Ctrl-C: stopped before its data file was written", []))
                break
            results.append(step)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def _one(mod, out, quick, force, replot, log, interrupts, plt) -> StepResult:
    """Make (or skip, or redraw) one figure. A failure after a Ctrl-C is the Ctrl-C's doing: it is
    raised as ``KeyboardInterrupt``, not reported as the figure's failure."""
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
        return StepResult(mod.NAME, mod.TITLE, "replotted" if redraw else "skipped", time.perf_counter() - t0,
                          summary, files)
    try:
        ds = mod.compute(quick)
        if interrupts.hit:  # a run inside returned its partial result
            raise KeyboardInterrupt
        _check_finite(ds, mod.NAME)
        ds.attrs.update({"figure": mod.NAME, "title": mod.TITLE, "quick": int(quick), "complete": 1})
        fig = mod.plot(ds)
        _atomic_savefig(fig, out / f"{mod.NAME}.png")
        _atomic_savefig(fig, out / f"{mod.NAME}.pdf")
        plt.close(fig)
        write_netcdf(ds, out / f"{mod.NAME}.nc")  # last: marks the figure complete
        return StepResult(mod.NAME, mod.TITLE, "made", time.perf_counter() - t0, mod.summary(ds), files)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failed figure is reported, the others still run
        if interrupts.hit:
            raise KeyboardInterrupt from None
        if log is not None:
            traceback.print_exc(file=log)
        return StepResult(mod.NAME, mod.TITLE, "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}",
                          [])


def _check_finite(ds, name):
    """NaN never passes quietly into a figure: variables may hold NaN only where flagged."""
    for var in ds.data_vars:
        arr = ds[var].values
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            if not ds[var].attrs.get("nan_means"):
                raise ValueError(f"{name}: variable {var!r} has non-finite values without a 'nan_means' note")
