"""The one driver loop of every sampler: the seeds of :func:`symphase.simulate` (each simulator of
:mod:`symphase._methods`) and the samples of :func:`symphase.escape_time`.

A :class:`Driver` runs ``n`` independent items (seeds, samples) serially or on a thread pool (the
kernels release the GIL), each as a sequence of records reached in chunks of kernel steps. Between
chunks it updates the progress bar and checks for Ctrl-C, so every item stops within one chunk and
keeps what it recorded. An item's numbers depend only on the item, never on the number of workers.
"""
from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._results import Status

#: What a ``record`` returns when it stopped for Ctrl-C before it was complete (:meth:`Driver.item`).
INCOMPLETE = object()


class Driver:
    """Runs ``n`` independent items with one progress bar, Ctrl-C and a thread pool.

    Parameters
    ----------
    n : int
        The number of items (seeds or samples), >= 1.
    workers : int
        Threads (>= 1); one worker, or one item, runs in the calling thread.
    progress : bool
        Show a tqdm bar on stderr.
    total : int
        The bar's total, in ``unit``.
    unit : {"step", "sample"}
        What the bar counts: kernel steps (updated after every chunk) or finished items.
    desc : str
        The bar's label.

    Attributes
    ----------
    codes : list of Status
        How each item ended: ``completed`` (every record, or ended early by its ``record``),
        ``diverged`` (a chunk did fewer steps than asked), ``invalid`` (a chunk returned < 0)
        or ``interrupted`` (Ctrl-C, also for an item that never started).
    records : ndarray (n,)
        The records each item reached.
    """

    def __init__(self, n: int, workers: int, *, progress: bool = False, total: int = 0, unit: str = "step",
                 desc: str = "simulate"):
        self.n, self.workers, self.unit = n, workers, unit
        self.codes = [Status.COMPLETED] * n
        self.records = np.zeros(n, dtype=np.int64)
        self.finished = np.zeros(n, dtype=bool)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bar = _progress(total, unit, desc) if progress else None

    def _count(self, amount):
        if self.bar is not None:
            with self.lock:
                self.bar.update(amount)

    def item(self, j: int, n_records: int, steps, chunk: int, advance, record):
        """Run item ``j``: for each record ``k < n_records``, ``steps(k)`` steps in chunks of at most
        ``chunk`` (the bar and Ctrl-C respond between them), then ``record(k)``.

        ``advance(k, n)`` does up to ``n`` steps and returns how many it did (fewer: diverged; < 0:
        invalid). ``record(k)`` returning True ends the item early, as completed (e.g. escaped);
        returning :data:`INCOMPLETE` (a long record that saw the stop flag) ends it as interrupted,
        without counting record ``k``.
        """
        try:
            for k in range(n_records):
                done, m = 0, int(steps(k))
                while done < m:
                    if self.stop.is_set():
                        self.codes[j] = Status.INTERRUPTED
                        return
                    todo = int(min(chunk, m - done))
                    did = advance(k, todo)
                    if did < 0:
                        self.codes[j] = Status.INVALID
                        return
                    done += did
                    if self.unit == "step":
                        self._count(did)
                    if did < todo:
                        self.codes[j] = Status.DIVERGED
                        return
                end = record(k)
                if end is INCOMPLETE:
                    self.codes[j] = Status.INTERRUPTED
                    return
                self.records[j] = k + 1
                if end:
                    break
            self.finished[j] = True
        finally:
            if self.unit != "step":
                self._count(1)

    def run(self, start) -> list:
        """Call ``start(j)`` (which calls :meth:`item`) for every item; returns :attr:`codes`.

        Ctrl-C stops every item at its next chunk; the items keep their records and the unfinished
        ones end as ``interrupted``. In the main thread, under Python's default SIGINT handler,
        SIGINT only sets the stop flag while the items run (so no ``KeyboardInterrupt`` lands in
        the middle of a record); a ``KeyboardInterrupt`` raised otherwise (another handler, or
        from an item) stops them the same way.
        """
        sigint = _StopOnSigint(self.stop).__enter__()
        try:
            if self.workers == 1 or self.n == 1:
                for j in range(self.n):
                    if self.stop.is_set():
                        break
                    start(j)
            else:
                nxt = iter(range(self.n))

                def worker():  # take the next item until none is left (no future per item)
                    while not self.stop.is_set():
                        with self.lock:
                            j = next(nxt, None)
                        if j is None:
                            return
                        start(j)

                with ThreadPoolExecutor(max_workers=min(self.workers, self.n)) as pool:
                    futures = [pool.submit(worker) for _ in range(min(self.workers, self.n))]
                    try:
                        for f in futures:
                            f.result()
                    except KeyboardInterrupt:
                        self.stop.set()
                        for f in futures:
                            f.result()
                        raise
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            sigint.__exit__()
            if self.bar is not None:
                self.bar.close()
        self.codes = [c if (c != Status.COMPLETED or self.finished[j]) else Status.INTERRUPTED
                      for j, c in enumerate(self.codes)]
        return self.codes


class _StopOnSigint:
    """While the items run: SIGINT sets ``stop`` instead of raising, where that is safe to arrange
    (the main thread, Python's default handler installed); elsewhere nothing changes."""

    def __init__(self, stop):
        self.stop, self.old = stop, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.old = signal.signal(signal.SIGINT, lambda signum, frame: self.stop.set())
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            self.old = None


def _progress(total, unit, desc):
    from tqdm.auto import tqdm
    return tqdm(total=total, unit=unit, unit_scale=unit == "step", desc=desc)
