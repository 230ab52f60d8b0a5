"""Running a sweep's points: local worker processes that die with their parent, or a Dask cluster.

Local workers ignore SIGINT (the sweep cancels what is pending and ends them on
Ctrl-C) and watch their parent: a parent-death signal on Linux and a thread
polling the parent everywhere, so ``kill -9`` of the sweep takes them down.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from ._sweep_store import _pid_alive, _remove_stale_parts, run_point

#: The local Dask schedulers ``sweep`` accepts by name.
LOCAL_SCHEDULERS = ("sync", "synchronous", "threads", "processes")




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


def _bar(progress, total, done):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=done, unit="point", desc="sweep")


def _check_scheduler(scheduler):
    if scheduler is None or (isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS):
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


#: The warning filter the resource tracker is started with (see :func:`_quiet_resource_tracker`).
TRACKER_FILTER = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker():
    """Start multiprocessing's resource tracker without its "leaked semaphore objects" warning.

    The pool's queues hold POSIX semaphores, registered with the tracker, a helper process
    that unlinks them when the sweep's process is gone. After ``kill -9`` of the sweep it does
    so, but also prints a two-line ``UserWarning`` about "leaked" semaphores that it is cleaning
    up. The tracker takes its warning filters from this interpreter's ``-W`` options
    (``sys.warnoptions``) when it starts, so the filter is added before it does; the cleanup
    itself is unchanged. A tracker already running (started by other code) is left as it is.
    """
    from multiprocessing import resource_tracker
    if TRACKER_FILTER not in sys.warnoptions:
        sys.warnoptions.append(TRACKER_FILTER)
    resource_tracker.ensure_running()


def _process_pool(n: int):
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from dask.multiprocessing import get_context
    _quiet_resource_tracker()
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
    if scheduler is None or (isinstance(scheduler, str) and not scheduler.startswith(
            ("tcp://", "tls://", "inproc://", "ucx://"))):
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler: a dask.distributed address needs the 'distributed' package "
                         "(pip install symphase[distributed])") from None
    if isinstance(scheduler, Client):
        return scheduler
    return Client(scheduler, set_as_default=False)
