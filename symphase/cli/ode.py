"""``symphase ode``: integrate the order-parameter ODEs from a given or seeded random start."""
from __future__ import annotations

import argparse

from .._initial import random_initial
from .._ode import ATOL, RTOL, integrate
from .._run_checks import default_alphas
from .._state import State
from .common import (
    add_eta_option,
    add_model_options,
    add_output_options,
    add_second_layer_run_options,
    check_alpha_max_option,
    check_memory,
    check_out,
    check_points,
    check_seed_option,
    check_start_memory,
    exit_code,
    model_from,
    parse_matrix,
    print_json,
    save_result,
    second_layer_run,
    start_v,
    stderr_is_terminal,
    warn_band_cost,
    warn_ode_cost,
)


def register(sub):
    p = sub.add_parser("ode", help="integrate the order-parameter ODEs",
                       description="Integrate dQ/dalpha, dR/dalpha (dg/dalpha under BN) and print eps_g(alpha). "
                       "Exit code 0 when the run completed or converged, 1 when it stopped early (diverged, "
                       "invalid, step size), 130 when interrupted (Ctrl-C; --out still saves what was computed), "
                       "2 for bad input.")
    add_model_options(p)
    add_eta_option(p)
    p.add_argument("--alpha-max", type=float, default=1000.0,
                   help="end of the run, in (0, 1e12] (default %(default)s)")
    init = p.add_argument_group("initial condition (default: seeded random weights with N inputs)")
    init.add_argument("--seed", type=int, default=0, help="seed of the random start, >= 0 (default %(default)s)")
    init.add_argument("--N", type=int, default=1000, help="input dimension of the random start (default %(default)s)")
    init.add_argument("--Q0", default=None, help="initial Q as 'a,b;c,d' (with --R0)")
    init.add_argument("--R0", default=None, help="initial R as 'a,b;c,d' (with --Q0)")
    init.add_argument("--g0", default=None, help="initial BN gains as 'a,b', with --Q0/--R0 (default ones)")
    add_second_layer_run_options(init)
    fl = p.add_argument_group("finite-N fluctuations (linear-noise approximation, docs/model.md §12)")
    fl.add_argument("--bands-N", type=int, default=None, metavar="N",
                    help="also print eg_std, the predicted seed-to-seed standard deviation of eps_g at this N "
                    "(integrate's bands_N)")
    fl.add_argument("--bands-start", choices=["given", "random"], default=None,
                    help="the start's spread: 'given' overlaps exactly, or the 'random' weights ensemble "
                    "(default: random for the seeded random start, given for --Q0/--R0)")
    for old in ("--fluct-N", "--fluct-start"):  # the old names: refused in run(), naming the new ones
        fl.add_argument(old, default=None, help=argparse.SUPPRESS)
    num = p.add_argument_group("numerics")
    num.add_argument("--method", choices=["adaptive", "rk4"], default="adaptive",
                     help="Dormand-Prince 5(4) with --rtol/--atol, or RK4 with the fixed step --dt "
                     "(default %(default)s)")
    num.add_argument("--dt", type=float, default=None, help="RK4 step (default 0.01)")
    num.add_argument("--rtol", type=float, default=RTOL, help="relative tolerance (default %(default)s)")
    num.add_argument("--atol", type=float, default=ATOL, help="absolute tolerance (default %(default)s)")
    num.add_argument("--points", type=int, default=301,
                     help="output points: 0 and points-1 log-spaced up to alpha-max, >= 2 (default %(default)s); "
                     "each costs at least one step, so lower it for large K")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    model = model_from(args)
    check_points(args.points)
    check_alpha_max_option(args.alpha_max)
    out = check_out(args.out)
    for old, new in (("fluct_N", "--bands-N"), ("fluct_start", "--bands-start")):
        if getattr(args, old) is not None:
            raise ValueError(f"--{old.replace('_', '-')} is now {new} (integrate's bands_N: the linear-noise bands)")
    if (args.Q0 is None) != (args.R0 is None):
        raise ValueError("--Q0 and --R0 go together")
    if args.g0 is not None and args.Q0 is None:
        raise ValueError("--g0 is the BN gains of a given start: give --Q0 and --R0 as well (the seeded random "
                         "start has unit gains)")
    if args.Q0 is not None:
        Q0, R0 = parse_matrix("Q0", args.Q0), parse_matrix("R0", args.R0)
        g0 = None if args.g0 is None else parse_matrix("g0", args.g0).ravel()
    else:
        check_seed_option(args.seed)
        check_start_memory(model, args.N)
        Q0, R0, g0, _ = random_initial(model, args.N, args.seed)
    warn_ode_cost(model, args.points)
    if args.bands_N is not None and not model.K + model.M <= args.bands_N <= 2**63 - 1:
        raise ValueError(f"--bands-N must be an integer in [K + M = {model.K + model.M}, 2^63 - 1] (as N of every "
                         f"other command), got {args.bands_N}")
    if args.bands_start is not None and args.bands_N is None:
        raise ValueError("--bands-start goes with --bands-N")
    size = model.layout.size
    check_memory("--points", args.points, 8.0 * args.points * (4 * size + 2 * (size * size if args.bands_N else 0)),
                 "the output arrays (states" + (" and their covariances)" if args.bands_N else ")"))
    if args.bands_N is not None:
        warn_band_cost(model, Q0, R0, g0, args.eta, args.alpha_max)
    bands_start = args.bands_start or ("given" if args.Q0 is not None else "random")
    res = integrate(model, args.eta, args.alpha_max, start=State(Q0, R0, g0, start_v(args)), method=args.method,
                    dt=args.dt, rtol=args.rtol, atol=args.atol, alphas=default_alphas(args.alpha_max, args.points - 1),
                    progress=stderr_is_terminal() and not args.json, bands_N=args.bands_N,
                    sigma0=("random" if bands_start == "random" else None) if args.bands_N is not None else None,
                    **second_layer_run(args))
    save_error = None
    if out is not None:
        frame = res.to_dataframe()
        frame["status"] = str(res.status)  # the run's: a CSV of an interrupted run says so
        save_error = save_result(res, out, frame=frame)
    if args.json:
        print_json(res.to_dict())
    else:
        print(f"# {model.describe()}, eta={res.eta:g}")
        print(f"# status: {res.status}: {res.message}")
        step = max(1, len(res.alpha) // 30)
        idx = sorted(set(range(0, len(res.alpha), step)) | {len(res.alpha) - 1}) if len(res.alpha) else []
        std = res.eg_std is not None
        print(f"{'alpha':>12} {'eg':>12}" + (f" {'eg_std':>12}" if std else ""))
        for j in idx:
            print(f"{res.alpha[j]:12.5g} {res.eg[j]:12.5g}" + (f" {res.eg_std[j]:12.5g}" if std else ""))
        if len(res.alpha) and res._has_second_layer():
            print(f"# second layer v at alpha = {res.alpha[-1]:g}: " + ", ".join(f"{x:.6g}" for x in res.v[-1]))
    return exit_code(res, out, json_output=args.json, save_error=save_error)
