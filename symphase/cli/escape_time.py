"""``symphase escape-time``: the distribution of plateau lengths at a user's N, from theory (docs/model.md §12)."""
from __future__ import annotations

import math
import sys

from .._escape import escape_time
from .._fixedpoint_solve import symmetric_fixed_point
from .common import (
    add_eta_option,
    add_model_options,
    check_alpha_max_option,
    escape_cost_announcer,
    exit_code,
    model_from,
    parse_matrix,
    print_json,
    stderr_is_terminal,
)


def register(sub):
    p = sub.add_parser("escape-time", help="the distribution of plateau lengths at N, from theory",
                       description="Sample the escape time from the plateau at N from the diffusion approximation "
                       "of SGD (no O(N) work: N = 10^6 in seconds) and print its mean, standard deviation and "
                       "quantiles (docs/model.md §12).")
    add_model_options(p)
    p.add_argument("--N", type=int, default=1000, help="input dimension, >= K + M (default %(default)s)")
    add_eta_option(p)
    p.add_argument("--start", choices=["random", "plateau"], default="random",
                   help="the random-weights ensemble, or the symmetric fixed point with the O(N^-1/2) asymmetry "
                   "of a random start (default %(default)s); --Q0/--R0 give overlaps instead")
    p.add_argument("--Q0", default=None, help="a given start Q as 'a,b;c,d' (with --R0)")
    p.add_argument("--R0", default=None, help="a given start R as 'a,b;c,d' (with --Q0)")
    p.add_argument("--g0", default=None, help="BN gains of a given start as 'a,b' (default ones)")
    p.add_argument("--threshold", type=float, default=None,
                   help="escape: the first alpha with eps_g below this (default: fraction x the plateau level)")
    p.add_argument("--fraction", type=float, default=0.5, help="of the plateau level (default %(default)s)")
    p.add_argument("--samples", type=int, default=200, help="number of samples, >= 2 (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="first seed, >= 0 (default %(default)s)")
    p.add_argument("--alpha-max", type=float, default=None,
                   help="stop a sample that has not escaped by then (default: 20 x the ODE's escape, >= 100)")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=run)


def _alpha(x, alpha_max) -> str:
    """An escape time for the table: a sample that did not escape is later than ``alpha_max``."""
    if math.isfinite(x):
        return f"{x:.5g}"
    return f"> {alpha_max:g}" if alpha_max is not None else "none"


def run(args) -> int:
    """Exit 0 when completed, 1 when a sample diverged or too few escaped (the result is printed
    and the message says why), 130 on Ctrl-C (the samples finished so far are printed)."""
    model = model_from(args)
    if (args.Q0 is None) != (args.R0 is None):
        raise ValueError("--Q0 and --R0 go together")
    if args.g0 is not None and args.Q0 is None:
        raise ValueError("--g0 is the BN gains of a given start: give --Q0 and --R0 as well")
    alpha_max = None if args.alpha_max is None else check_alpha_max_option(args.alpha_max)
    if args.Q0 is not None:
        g0 = None if args.g0 is None else parse_matrix("g0", args.g0).ravel()
        start = (parse_matrix("Q0", args.Q0), parse_matrix("R0", args.R0), g0)
    elif args.start == "plateau":
        start = symmetric_fixed_point(model)
    else:
        start = "random"
    res = escape_time(model, args.N, args.eta, start=start, threshold=args.threshold, fraction=args.fraction,
                      samples=args.samples, seed=args.seed, alpha_max=alpha_max, workers=args.workers,
                      announce=escape_cost_announcer(model, args.samples, args.workers),
                      progress=stderr_is_terminal() and not args.json)
    if args.json:
        print_json(res.to_dict())
    else:
        print(f"# {model.describe()}, N={args.N}, eta={args.eta:g}")
        print(f"# {res.how}")
        print(f"# status: {res.status}: {res.message}")
        q = res.quantile([0.1, 0.5, 0.9])
        mean = f"{res.mean:.5g}" if math.isfinite(res.mean) else "none"
        std = f"{res.std:.4g}" if math.isfinite(res.std) else "none"
        print(f"escape alpha: mean {mean}, std {std}, 10/50/90% quantiles "
              + " ".join(_alpha(x, res.alpha_max) for x in q))
    if not res.success and str(res.status) != "interrupted":
        how = "" if str(res.status) == "failed" else f"{res.status}: "
        print(f"symphase: failed: {how}{res.message}", file=sys.stderr)
    return exit_code(res, None, json_output=args.json)
