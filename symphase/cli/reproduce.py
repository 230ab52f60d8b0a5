"""``symphase reproduce``: regenerate every figure of the paper and the project, with data."""
from __future__ import annotations

import sys
from pathlib import Path

from ..figures._reproduce import available_cores, reproduce
from .common import check_out_folder, print_json, stderr_is_terminal


def register(sub):
    p = sub.add_parser("reproduce", help="regenerate the paper's figures and the project's own, with data",
                       description="Write each figure as PNG and PDF and its data as NetCDF into --out; "
                       "skip figures already complete (--force to redo). Exit code 0 when every figure was "
                       "made, 1 when one failed, 130 when interrupted (Ctrl-C stops at once; the figures made "
                       "are kept), 2 for bad input.")
    p.add_argument("--out", type=Path, default=Path("figures"),
                   help="output folder, created if missing; checked before any work (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="reduced version (fewer seeds, smaller N), under a minute")
    p.add_argument("--force", action="store_true", help="redo figures that are already complete")
    p.add_argument("--replot", action="store_true", help="redraw complete figures from their saved data")
    p.add_argument("--only", default=None, help="comma-separated figure names or prefixes (e.g. fig1,fig3), "
                   "each made once (default: all)")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"figures made at once, each in its own process (an integer >= 1; default: the cores "
                   f"available, here {available_cores()}); the numbers do not depend on it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1 (figures made at once), got {args.jobs}")
    check_out_folder(args.out)
    only = None if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    jobs = available_cores() if args.jobs is None else args.jobs
    results = reproduce(args.out, quick=args.quick, force=args.force, only=only,
                        progress=stderr_is_terminal() and not args.json, log=sys.stderr, replot=args.replot,
                        jobs=jobs)
    if args.json:
        print_json([r.__dict__ for r in results])
    else:
        print(f"{'figure':<28} {'status':<8} {'time':>8}  summary")
        for r in results:
            print(r.row())
        print(f"output: {args.out}/")
    stopped = [r for r in results if r.status == "interrupted"]
    if stopped:
        done = sum(r.status in ("made", "skipped", "replotted") for r in results)
        print(f"symphase: interrupted: while making {stopped[0].name}; {done} figure(s) done are kept in "
              f"{str(args.out)!r}; run the same command again to make the rest", file=sys.stderr)
        return 130
    return 0 if all(r.status != "failed" for r in results) else 1
