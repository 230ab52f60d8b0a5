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

``jobs > 1`` makes independent figures at once, each in its own worker process
(:func:`_run_parallel`), the longest first (each module's ``COST_S``); every figure
computes exactly what it computes alone, so the numbers do not depend on ``jobs``.
A Ctrl-C reaches the workers (the terminal sends it to the whole process group, and
``reproduce`` passes it on): each stops its figure as above, the ones not started are
not started, and a worker that has not stopped within :data:`STOP_WAIT_S` is killed.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

from .._io import open_netcdf, write_atomically, write_netcdf
from . import FIGURES, load

SUFFIXES = (".nc", ".png", ".pdf")
#: Seconds a worker is given to stop its figure after a Ctrl-C before it is killed.
STOP_WAIT_S = 10.0
#: Seconds between the Ctrl-Cs passed on to a worker that has not stopped yet.
RESEND_S = 0.5


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
    except Exception:  # noqa: BLE001 (an unreadable or partial file, whatever the reader raises: redo it)
        return False


def _atomic_savefig(fig, path: Path):
    """Draw ``fig`` into ``path`` via a fresh temporary (``O_CREAT | O_EXCL``, an unpredictable name: never
    a planted file or link), renamed over ``path`` when complete."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=150, bbox_inches="tight", format=path.suffix[1:])
    write_atomically(path, buf.getvalue())


def _save_figure(fig, out: Path, name: str, plt):
    """``OUT/NAME.png`` and ``OUT/NAME.pdf`` (:func:`_atomic_savefig`), then close ``fig``. The PDF keeps the layout
    the PNG's drawing computed (the same figure size and dpi, so the same positions): the constrained layout
    is not solved a second time (measured: the quick figures' PDFs 4.9 -> 3.9 s)."""
    try:
        _atomic_savefig(fig, out / f"{name}.png")
        fig.set_layout_engine("none")
        _atomic_savefig(fig, out / f"{name}.pdf")
    finally:
        plt.close(fig)


def available_cores() -> int:
    """The cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is
    missing): the default of ``reproduce --jobs``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def reproduce(out="figures", *, quick: bool = False, force: bool = False, only=None, progress=None,
              log=None, replot: bool = False, jobs: int = 1) -> list[StepResult]:
    """Compute and draw every figure into ``out`` (PNG, PDF, and NetCDF data); see the module doc.

    ``quick``: a reduced version (fewer seeds, smaller N) in under a minute.
    ``replot``: redraw complete figures from their saved data (no recomputation).
    ``only``: figure names or prefixes (each made once); ``None`` for all.
    ``jobs``: figures made at once, each in a worker process (an integer >= 1; 1: one after
    the other in this process). The numbers do not depend on it.
    Returns one :class:`StepResult` per figure, in the order of ``only`` (or of
    :data:`symphase.figures.FIGURES`); a figure that fails is
    reported (status ``"failed"`` and the error) and the others still run.
    Ctrl-C stops at once: the figures being made are reported ``"interrupted"``
    (their data files not written), the ones not yet begun are not started, and the
    list so far is returned.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1 (figures made at once), got {jobs!r}")
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
    if jobs > 1 and len(mods) > 1:
        try:
            return _run_parallel(mods, out, quick, force, replot, log is not None, min(int(jobs), len(mods)), bar)
        finally:
            if bar is not None:
                bar.close()
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
            _save_figure(mod.plot(ds), out, mod.NAME, plt)
        return StepResult(mod.NAME, mod.TITLE, "replotted" if redraw else "skipped", time.perf_counter() - t0,
                          summary, files)
    try:
        ds = mod.compute(quick)
        if interrupts.hit:  # a run inside returned its partial result
            raise KeyboardInterrupt
        _check_finite(ds, mod.NAME)
        ds.attrs.update({"figure": mod.NAME, "title": mod.TITLE, "quick": int(quick), "complete": 1})
        _save_figure(mod.plot(ds), out, mod.NAME, plt)
        write_netcdf(ds, out / f"{mod.NAME}.nc")  # last: marks the figure complete
        return StepResult(mod.NAME, mod.TITLE, "made", time.perf_counter() - t0, mod.summary(ds), files)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 (a failed figure is reported, the others still run)
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


class _Slot:
    """One worker process of :func:`_run_parallel`, its pipe, and the figure it is making."""

    def __init__(self, ctx, args):
        self.ctx, self.args = ctx, args
        self._start()
        self.index = None   # the figure being made (None: idle)
        self.t0 = 0.0

    def _start(self):
        """Start the worker with Ctrl-C ignored (an exec keeps SIG_IGN) until its own handler is set: a
        Ctrl-C then is this process's to pass on (:func:`_stop`)."""
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, *self.args), daemon=True,
                                     name="symphase-reproduce")
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self.proc.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
        child.close()

    def give(self, index, name):
        """Send figure ``name`` to the worker (a new one where the last has died)."""
        if not self.proc.is_alive():
            self.conn.close()
            self._start()
        self.index, self.t0 = index, time.perf_counter()
        self.conn.send(name)

    def receive(self, mod, stopping=False):
        """The worker's StepResult for its figure; a worker that ended without one: ``"failed"``
        (``"interrupted"`` while ``stopping`` after a Ctrl-C)."""
        try:
            step = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(1.0)
            if stopping:
                step = StepResult(mod.NAME, mod.TITLE, "interrupted", time.perf_counter() - self.t0,
                                  "Ctrl-C: stopped before its data file was written", [])
            else:
                step = StepResult(mod.NAME, mod.TITLE, "failed", time.perf_counter() - self.t0,
                                  f"its worker process ended without a result (exit code {self.proc.exitcode})", [])
        self.index = None
        return step

    def close(self):
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _run_parallel(mods, out, quick, force, replot, log, jobs, bar) -> list[StepResult]:
    """Make the figures ``mods`` in ``jobs`` worker processes (spawned: each imports the package
    afresh), the longest first (``COST_S``); the results in the order of ``mods``. Ctrl-C: the workers
    are told (SIGINT), their figures come back ``"interrupted"`` and nothing more is started; a worker
    that has not stopped within :data:`STOP_WAIT_S` (or at a second Ctrl-C) is killed, its temporaries
    removed."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = sorted(range(len(mods)), key=lambda i: -float(getattr(mods[i], "COST_S", 0.0)))
    done, slots = {}, []
    for _ in range(jobs):
        slots.append(_Slot(ctx, (str(out), quick, force, replot, log)))

    def show():
        if bar is not None:
            bar.set_postfix_str(", ".join(mods[s.index].NAME.split("_")[0] for s in slots if s.index is not None))

    def collect(slot, stopping=False):
        i = slot.index
        done[i] = slot.receive(mods[i], stopping)
        if bar is not None:
            bar.update(1)
        return done[i].status == "interrupted"

    try:
        try:
            for slot in slots:
                if queue:
                    i = queue.pop(0)
                    slot.give(i, mods[i].NAME)
            show()
            while any(s.index is not None for s in slots):
                busy = [s for s in slots if s.index is not None]
                ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy])
                for slot in busy:
                    if slot.conn in ready or slot.proc.sentinel in ready:
                        if collect(slot):  # a Ctrl-C reached the worker first
                            raise KeyboardInterrupt
                        if queue:
                            i = queue.pop(0)
                            slot.give(i, mods[i].NAME)
                show()
        except KeyboardInterrupt:
            _stop(slots, mods, done, out, collect)
    finally:
        for slot in slots:
            slot.close()
    return [done[i] for i in sorted(done)]


def _stop(slots, mods, done, out, collect):
    """After a Ctrl-C: pass it on to the busy workers and gather their figures (``"interrupted"``);
    kill those that do not answer within :data:`STOP_WAIT_S` (at once at a second Ctrl-C)."""
    busy = [s for s in slots if s.index is not None]
    start = time.monotonic()
    deadline = start + STOP_WAIT_S
    while busy and time.monotonic() < deadline:
        try:
            # told again every RESEND_S: a worker still starting up ignores a Ctrl-C until its handler is set
            for slot in busy:
                if slot.proc.is_alive():
                    os.kill(slot.proc.pid, signal.SIGINT)
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy],
                         timeout=max(0.0, min(RESEND_S, deadline - time.monotonic())))
            for slot in [s for s in busy if s.conn in ready or s.proc.sentinel in ready]:
                collect(slot, stopping=True)
                busy.remove(slot)
        except KeyboardInterrupt:
            # a second Ctrl-C kills; the terminal's first one may reach this process after a worker's answer
            if time.monotonic() - start > 1.0:
                break
    for slot in busy:  # not stopped in time: killed
        slot.proc.kill()
        slot.proc.join()
        mod = mods[slot.index]
        done[slot.index] = StepResult(mod.NAME, mod.TITLE, "interrupted", time.perf_counter() - slot.t0,
                                      "Ctrl-C: stopped (its worker killed) before its data file was written", [])
        slot.index = None
    for i, step in done.items():  # a killed worker (or a Ctrl-C inside a cleanup) may leave a temporary
        if step.status == "interrupted":
            for part in out.glob(f".{mods[i].NAME}.*.part*"):
                try:
                    part.unlink()
                except OSError:
                    pass


def _worker(conn, out, quick, force, replot, log):
    """A worker process of :func:`_run_parallel`: makes each figure it is sent (its name; ``None``
    ends it) exactly as :func:`reproduce` does alone, and sends back the :class:`StepResult`. A Ctrl-C
    during a figure stops it (``"interrupted"``); one between figures is noted, and the next figure
    sent comes back ``"interrupted"`` at once (the parent sent it before it knew).

    A worker that was interrupted ends with ``os._exit`` after flushing its output: a Ctrl-C inside a
    Numba compilation leaves llvmlite objects whose finalizers fail at interpreter shutdown and print
    "Exception ignored ... Traceback" (seen once in CI); the worker has nothing left to finalize (its
    files are written atomically or not at all)."""
    stop = []
    interrupted = []

    def end():
        if interrupted:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    while True:
        try:
            name = conn.recv()
        except (EOFError, OSError):
            return end()
        if name is None:
            return end()
        mod = load(name)
        t0 = time.perf_counter()
        interrupts = _Interrupts()
        interrupts.hit = bool(stop)
        try:
            if interrupts.hit:
                raise KeyboardInterrupt
            with interrupts:
                step = _one(mod, out, quick, force, replot, sys.stderr if log else None, interrupts, plt)
        except KeyboardInterrupt:
            interrupts.hit = True
        except Exception as exc:  # noqa: BLE001 (e.g. a complete figure whose data cannot be read: reported)
            step = StepResult(mod.NAME, mod.TITLE, "failed", time.perf_counter() - t0,
                              f"{type(exc).__name__}: {exc}", [])
        if interrupts.hit:
            interrupted.append(mod.NAME)
            step = StepResult(mod.NAME, mod.TITLE, "interrupted", time.perf_counter() - t0,
                              "Ctrl-C: stopped before its data file was written", [])
        conn.send(step)


def main_for(module):
    """Entry point of ``python -m symphase.figures.<module>``: make that figure into figures/."""
    ap = argparse.ArgumentParser(description=module.TITLE)
    ap.add_argument("--out", default="figures")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    for r in reproduce(args.out, quick=args.quick, force=True, only=[module.NAME]):
        print(r.row())
