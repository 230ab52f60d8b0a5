"""``symphase simulate`` and ``symphase compare``: SGD at finite N, and against the ODE."""
from __future__ import annotations

import numpy as np

from .._compare import compare
from .._ode import default_alphas
from .._simulate import simulate
from .common import add_model_options, add_output_options, model_from, print_json, save_dataset, \
    stderr_is_terminal


def _common(p):
    add_model_options(p)
    p.add_argument("--N", type=int, default=1000, help="input dimension (default %(default)s)")
    p.add_argument("--eta", type=float, default=1.0, help="learning rate (default %(default)s)")
    p.add_argument("--alpha-max", type=float, default=100.0, help="end of the run, steps/N (default %(default)s)")
    p.add_argument("--seeds", type=int, default=4, help="number of seeds 0..n-1 (default %(default)s)")
    p.add_argument("--points", type=int, default=61, help="log-spaced record points (default %(default)s)")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--bn-stats", choices=["population", "batch"], default="population",
                   help="BN normalizes with population statistics sigma sqrt(Q_ii) (the theory's model) or the "
                   "batch's own mean and std (needs --batch >= 2) (default %(default)s)")
    p.add_argument("--random-teacher", action="store_true",
                   help="teacher B_nl ~ N(0, 1/N) as in the paper (default: B B^T = T exactly)")
    add_output_options(p)


def register(sub):
    p = sub.add_parser("simulate", help="online SGD at finite N, many seeds",
                       description="Run SGD on the teacher-student committee machine and print eps_g(alpha).")
    _common(p)
    p.add_argument("--test", type=int, default=0, metavar="P",
                   help="also estimate eps_g on P fresh test inputs per record (default: off)")
    p.set_defaults(run=run_simulate)
    p = sub.add_parser("compare", help="simulation vs the ODE from the same initial overlaps",
                       description="Simulate, integrate the ODE from each seed's initial overlaps, and report the "
                       "discrepancy and the escape times.")
    _common(p)
    p.add_argument("--fraction", type=float, default=0.5,
                   help="escape: eps_g below this fraction of its plateau value (default %(default)s)")
    p.add_argument("--plateau", default="median",
                   help="plateau level for the escape: 'median' (read off each curve), 'fixed_point' "
                   "(eps_g at the symmetric fixed point) or a number (default %(default)s)")
    p.set_defaults(run=run_compare)


def _alphas(args):
    if args.points < 2:
        raise ValueError(f"--points must be >= 2, got {args.points}")
    if not args.alpha_max > 0:
        raise ValueError(f"alpha_max must be a finite real number > 0, got {args.alpha_max}")
    return default_alphas(args.alpha_max, args.points - 1)


def run_simulate(args) -> int:
    model = model_from(args)
    res = simulate(model, args.N, args.eta, args.alpha_max, seeds=args.seeds, alphas=_alphas(args),
                   workers=args.workers, n_test=args.test, exact_teacher=not args.random_teacher,
                   bn_stats=args.bn_stats, progress=stderr_is_terminal() and not args.json)
    if args.out is not None:
        save_dataset(res.to_xarray(), args.out)
    mean = np.nanmean(res.eg, axis=0)
    se = np.nanstd(res.eg, axis=0, ddof=1) / np.sqrt(res.eg.shape[0]) if res.eg.shape[0] > 1 else 0 * mean
    if args.json:
        print_json({**res.to_dict(), "eg_mean": mean, "eg_se": se})
    else:
        print(f"# {model.describe()}, N={args.N}, eta={res.eta:g}, {len(res.seeds)} seeds")
        print(f"# status: {res.status}: {res.message}")
        print(f"{'alpha':>10} {'eg mean':>12} {'s.e.':>10}")
        step = max(1, len(res.alpha) // 25)
        for j in sorted(set(range(0, len(res.alpha), step)) | {len(res.alpha) - 1}):
            print(f"{res.alpha[j]:10.4g} {mean[j]:12.5g} {se[j]:10.2g}")
    return 0 if res.success else 1


def run_compare(args) -> int:
    model = model_from(args)
    plateau = args.plateau
    if plateau not in ("median", "fixed_point"):
        try:
            plateau = float(plateau)
        except ValueError:
            raise ValueError(f"plateau must be 'median', 'fixed_point' or a real number > 0, got {plateau!r}") from None
    cmp = compare(model, args.N, args.eta, args.alpha_max, args.seeds, alphas=_alphas(args), fraction=args.fraction,
                  plateau=plateau, workers=args.workers, exact_teacher=not args.random_teacher,
                  bn_stats=args.bn_stats, progress=stderr_is_terminal() and not args.json)
    if args.out is not None:
        save_dataset(cmp.to_xarray(), args.out)
    disc = cmp.discrepancy
    if args.json:
        print_json(cmp.to_dict())
    else:
        print(f"# {model.describe()}, N={args.N}, eta={args.eta:g}; ODE from each seed's initial overlaps")
        print(f"{'seed':>5} {'max|d eg|':>10} {'max|d Q|':>10} {'max|d R|':>10} {'escape sim':>11} {'escape ODE':>11}")
        for j, sd in enumerate(cmp.simulation.seeds):
            print(f"{sd:5d} {disc['eg'][j]:10.3g} {disc['Q'][j]:10.3g} {disc['R'][j]:10.3g} "
                  f"{cmp.escape_sim[j]:11.4g} {cmp.escape_ode[j]:11.4g}")
        for k, (m, se, z) in cmp.mean_discrepancy.items():
            print(f"# seed mean, {k}: max |sim - ODE| = {m:.3g} (s.e. {se:.2g}); max |mean|/s.e. = {z:.2f}")
    return 0 if cmp.success else 1
