"""``symphase sweep CONFIG.toml``: a parameter sweep on Dask, resumable.

Exit codes: 0 every point completed; 1 some point did not (stderr says how
many); 2 a bad config, option or store (one line, before anything runs);
130 Ctrl-C (the finished points are kept: the same command resumes).
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .._sweep import check_sweep, load_config, sweep
from .._sweep_store import _ok
from .common import _duration, print_json, stderr_is_terminal, warn


def register(sub):
    p = sub.add_parser("sweep", help="run a parameter sweep from a TOML config (Dask; resumable)",
                       description="Run a task over the product of the [grid] lists of CONFIG.toml. Finished "
                       "points are kept in the store; re-running skips them. Ctrl-C stops at once (exit 130) "
                       "and keeps the finished points; a sweep with points that did not complete exits 1.")
    p.add_argument("config", type=Path, help="TOML file: task = '...', [grid] lists, optional [fixed]")
    p.add_argument("--scheduler", default=None,
                   help="dask.distributed address tcp://host:port (default: local processes on all cores)")
    p.add_argument("--store", type=Path, default=None, help="folder for finished points and sweep.nc "
                   "(default: from the config, else <config name>.sweep/)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(run=run)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"symphase: warning: {message}", file=sys.stderr)


#: Announce a sweep of more points than this (their preparation alone takes about 1 ms each).
LARGE_SWEEP = 10_000


def run(args) -> int:
    cfg = load_config(args.config)
    sizes = [len(v) for v in cfg["grid"].values() if isinstance(v, list)] if isinstance(cfg["grid"], dict) else []
    n_points = int(np.prod(sizes, dtype=float)) if sizes else 0
    if n_points > LARGE_SWEEP:
        warn(f"sweep: {n_points:,} points ({' x '.join(map(str, sizes))}) of task {cfg['task']!r}: checking and "
             f"preparing them alone takes about {_duration(2e-3 * n_points)}, then each point is a full run; "
             f"Ctrl-C stops at once and keeps the finished points (the same command resumes)")
    task, grid, fixed = check_sweep(cfg["task"], cfg["grid"], cfg.get("fixed"))
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.store is not None:
        store = args.store
    elif "store" in cfg:
        if not isinstance(cfg["store"], str):
            raise ValueError(f"store: expected a folder name in {args.config.name}, got {cfg['store']!r}")
        store = Path(cfg["store"]).expanduser()
        if not store.is_absolute():
            store = args.config.parent / store
    else:
        store = args.config.with_suffix(".sweep")
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line each, e.g. a damaged point file computed again
        try:
            res = sweep(task, grid, fixed=fixed, scheduler=args.scheduler or cfg.get("scheduler"), store=store,
                        workers=args.workers, progress=stderr_is_terminal() and not args.json)
        except KeyboardInterrupt as exc:
            n = int(np.prod([len(v) for v in grid.values()]))
            done = getattr(exc, "finished", None)
            if done is None:  # before the sweep had listed its points: those in the store (one listing)
                try:
                    done = sum(name.endswith(".json") for name in os.listdir(store / "points"))
                except OSError:
                    done = 0
            print(f"symphase: interrupted: {done} of {n} points are finished and kept in {str(store)!r}; "
                  f"run the same command again to compute the rest", file=sys.stderr)
            return 130
    ds = res.dataset
    status = ds["status"].values
    summary = {"task": task.name, "store": str(store), "result": str(store / "sweep.nc"),
               "points": int(status.size), "completed": res.n_points - res.n_failed,
               "not_completed": [
                   {**{d: ds[d].values[i].item() if hasattr(ds[d].values[i], "item") else ds[d].values[i]
                       for d, i in zip(grid, idx)}, "status": status[idx], "message": ds["message"].values[idx]}
                   for idx in np.ndindex(status.shape) if not _ok(status[idx])]}
    if args.json:
        print_json(summary)
    else:
        print(f"sweep {task.name}: {summary['completed']}/{summary['points']} points completed -> {summary['result']}")
        for item in summary["not_completed"]:
            print(f"  not completed: {item}")
    if not res.success:
        print(f"symphase: sweep: {res.message}", file=sys.stderr)
        return 1
    return 0
