"""``symphase escape-time``: the distribution of plateau lengths at a user's N, from theory (docs/model.md §12)."""
from __future__ import annotations

from .._escape import escape_time
from .._fixedpoint_solve import symmetric_fixed_point
from .common import add_model_options, model_from, parse_matrix, print_json


def register(sub):
    p = sub.add_parser("escape-time", help="the distribution of plateau lengths at N, from theory",
                       description="Sample the escape time from the plateau at N from the diffusion approximation "
                       "of SGD (no O(N) work: N = 10^6 in seconds) and print its mean, standard deviation and "
                       "quantiles (docs/model.md §12).")
    add_model_options(p)
    p.add_argument("--N", type=int, default=1000, help="input dimension, >= K + M (default %(default)s)")
    p.add_argument("--eta", type=float, default=1.0, help="learning rate (default %(default)s)")
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
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    model = model_from(args)
    if (args.Q0 is None) != (args.R0 is None):
        raise ValueError("--Q0 and --R0 go together")
    if args.Q0 is not None:
        g0 = None if args.g0 is None else parse_matrix("g0", args.g0).ravel()
        start = (parse_matrix("Q0", args.Q0), parse_matrix("R0", args.R0), g0)
    elif args.start == "plateau":
        start = symmetric_fixed_point(model)
    else:
        start = "random"
    res = escape_time(model, args.N, args.eta, start=start, threshold=args.threshold, fraction=args.fraction,
                      samples=args.samples, seed=args.seed, workers=args.workers)
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"# {model.describe()}, N={args.N}, eta={args.eta:g}")
    print(f"# {res.how}")
    print(f"# {res.message}")
    q = res.quantile([0.1, 0.5, 0.9])
    print(f"escape alpha: mean {res.mean:.5g}, std {res.std:.4g}, 10/50/90% quantiles {q[0]:.5g} {q[1]:.5g} "
          f"{q[2]:.5g}")
    return 0
