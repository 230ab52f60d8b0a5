"""``symphase sweep CONFIG.toml``: a parameter sweep on Dask, resumable."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .._sweep import check_sweep, load_config, sweep
from .common import print_json, stderr_is_terminal


def register(sub):
    p = sub.add_parser("sweep", help="run a parameter sweep from a TOML config (Dask; resumable)",
                       description="Run a task over the product of the [grid] lists of CONFIG.toml. Finished "
                       "points are kept in the store; re-running skips them.")
    p.add_argument("config", type=Path, help="TOML file: task = '...', [grid] lists, optional [fixed]")
    p.add_argument("--scheduler", default=None,
                   help="dask.distributed address tcp://host:port (default: local processes on all cores)")
    p.add_argument("--store", type=Path, default=None, help="folder for finished points and sweep.nc "
                   "(default: from the config, else <config name>.sweep/)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(run=run)


def run(args) -> int:
    cfg = load_config(args.config)
    task, grid, fixed = check_sweep(cfg["task"], cfg["grid"], cfg.get("fixed"))
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    store = args.store or (Path(cfg["store"]) if "store" in cfg else args.config.with_suffix(".sweep"))
    if not store.is_absolute() and args.store is None and "store" in cfg:
        store = args.config.parent / store
    res = sweep(task, grid, fixed=fixed, scheduler=args.scheduler or cfg.get("scheduler"), store=store,
               workers=args.workers, progress=stderr_is_terminal() and not args.json)
    ds = res.dataset
    status = ds["status"].values.ravel()
    summary = {"task": task.name, "store": str(store), "result": str(store / "sweep.nc"),
               "points": int(status.size), "completed": int(np.sum(status == "completed")),
               "not_completed": [
                   {**{d: ds[d].values[i].item() if hasattr(ds[d].values[i], "item") else ds[d].values[i]
                       for d, i in zip(grid, idx)}, "status": ds["status"].values[idx],
                    "message": ds["message"].values[idx]}
                   for idx in np.ndindex(ds["status"].shape) if ds["status"].values[idx] != "completed"]}
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
