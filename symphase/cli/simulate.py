"""``symphase simulate`` and ``symphase compare``: SGD at finite N, and against the ODE."""
from __future__ import annotations

import numpy as np

from .._compare import compare
from .._results import overlap_columns
from .._run_checks import default_alphas
from .._simulate import METHODS, simulate
from .common import (
    add_eta_option,
    add_model_options,
    add_output_options,
    add_second_layer_run_options,
    check_alpha_max_option,
    check_out,
    check_points,
    check_simulation_cost,
    exit_code,
    model_from,
    print_json,
    save_result,
    second_layer_run,
    start_v,
    stderr_is_terminal,
)


def _common(p):
    add_model_options(p)
    p.add_argument("--N", type=int, default=1000, help="input dimension (default %(default)s)")
    add_eta_option(p)
    p.add_argument("--alpha-max", type=float, default=100.0,
                   help="end of the run, steps/N, in (0, 1e12] (default %(default)s)")
    p.add_argument("--seeds", type=int, default=4, help="number of seeds 0..n-1, >= 1 (default %(default)s)")
    p.add_argument("--points", type=int, default=61,
                   help="record points: 0 and points-1 log-spaced up to alpha-max, >= 2 (default %(default)s)")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--bn-stats", choices=["population", "batch"], default="population",
                   help="BN normalizes with population statistics sigma sqrt(Q_ii) (the theory's model) or the "
                   "batch's own mean and std (needs --batch >= 2) (default %(default)s)")
    p.add_argument("--random-teacher", action="store_true",
                   help="teacher B_nl ~ N(0, 1/N) as in the paper (default: B B^T = T exactly)")
    p.add_argument("--method", choices=list(METHODS), default="weights",
                   help="SGD on the weights (O(N) per step); the same process run exactly on the order "
                   "parameters (O((K+M)^3) per step at any N; needs N >= K + M + batch, either BN "
                   "statistics, no --test); or its diffusion approximation, steps of 0.05 in alpha whatever "
                   "N is (default %(default)s)")
    add_output_options(p)


def register(sub):
    p = sub.add_parser("simulate", help="online SGD at finite N, many seeds",
                       description="Run SGD on the teacher-student committee machine and print eps_g(alpha). "
                       "Exit code 0 when every seed completed, 1 when some diverged, 130 when interrupted "
                       "(Ctrl-C; --out still saves what was computed), 2 for bad input. Runs whose weights "
                       "cannot fit in memory are refused; very long ones get a warning.")
    _common(p)
    p.add_argument("--test", type=int, default=0, metavar="P",
                   help="also estimate eps_g on P fresh test inputs per record (default: off)")
    add_second_layer_run_options(p)
    p.set_defaults(run=run_simulate)
    p = sub.add_parser("compare", help="simulation vs the ODE from the same initial overlaps",
                       description="Simulate, integrate the ODE from each seed's initial overlaps, and report the "
                       "discrepancy and the escape times. --out .csv: one row per seed and alpha with eg_sim, "
                       "eg_ode and the overlaps of both.")
    _common(p)
    p.add_argument("--fraction", type=float, default=0.5,
                   help="escape: eps_g below this fraction of its plateau value (default %(default)s)")
    p.add_argument("--plateau", default="median",
                   help="plateau level for the escape: 'median' (read off each curve), 'fixed_point' "
                   "(eps_g at the symmetric fixed point) or a number (default %(default)s)")
    p.set_defaults(run=run_compare)


def _prepare(args):
    """Everything checked before any work: the model, the grid, --out, memory and time."""
    model = model_from(args, allow_relu=args.run is run_simulate)
    check_points(args.points)
    check_alpha_max_option(args.alpha_max)
    out = check_out(args.out)
    check_simulation_cost(model, args.N, args.seeds, args.workers, args.alpha_max, getattr(args, "test", 0),
                          args.method, points=args.points)
    return model, default_alphas(args.alpha_max, args.points - 1), out


def _seed_stats(eg):
    """Seed mean and standard error of each record, NaN where no seed has a value (no warnings)."""
    eg = np.asarray(eg, dtype=float)
    n = np.sum(np.isfinite(eg), axis=0)
    total = np.where(np.isfinite(eg), eg, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(eg), eg - mean, 0.0)
        var = (dev ** 2).sum(axis=0) / np.maximum(n - 1, 1)
        se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), np.nan if eg.shape[0] > 1 else 0.0)
    return mean, se


def compare_frame(cmp):
    """The tidy table of a comparison: one row per seed and alpha, ``seed, alpha, eg_sim, eg_ode``, then
    the overlaps of the simulation (``Q_ik``, ``R_in``, ``g_i``) and of the ODE (``..._ode``), and how
    each seed's simulation and ODE ended (``status_sim``, ``status_ode``)."""
    import pandas as pd


    sim = cmp.simulation
    n_seeds, n = sim.eg.shape
    cols = {"seed": np.repeat(np.asarray(sim.seeds), n), "alpha": np.tile(sim.alpha, n_seeds),
            "eg_sim": sim.eg.ravel(), "eg_ode": np.asarray(cmp.ode_eg).ravel()}
    cols.update(overlap_columns(sim.model, sim.Q, sim.R, sim.g))
    cols.update({f"{k}_ode": v for k, v in overlap_columns(sim.model, cmp.ode_Q, cmp.ode_R, cmp.ode_g).items()})
    cols["status_sim"] = np.repeat(np.array([str(c) for c in sim.seed_status], dtype=object), n)
    cols["status_ode"] = np.repeat(np.array([str(c) for c in cmp.ode_status], dtype=object), n)
    return pd.DataFrame(cols)


def run_simulate(args) -> int:
    model, alphas, out = _prepare(args)
    v0 = start_v(args)
    res = simulate(model, args.N, args.eta, args.alpha_max, start="random" if v0 is None else {"v": v0},
                   seeds=args.seeds, alphas=alphas,
                   workers=args.workers, n_test=args.test, exact_teacher=not args.random_teacher,
                   bn_stats=args.bn_stats, progress=stderr_is_terminal() and not args.json, method=args.method,
                   **second_layer_run(args))
    save_error = None if out is None else save_result(res, out)
    mean, se = _seed_stats(res.eg)
    if args.json:
        print_json({**res.to_dict(), "eg_mean": mean, "eg_se": se})
    else:
        how = {"weights": "SGD on the weights", "overlaps": "SGD on the order parameters (exact)",
               "sde": "the diffusion approximation"}[args.method]
        print(f"# {model.describe()}, N={args.N}, eta={res.eta:g}, {len(res.seeds)} seeds, {how}")
        print(f"# status: {res.status}: {res.message}")
        print(f"{'alpha':>10} {'eg mean':>12} {'s.e.':>10}")
        step = max(1, len(res.alpha) // 25)
        for j in sorted(set(range(0, len(res.alpha), step)) | {len(res.alpha) - 1}):
            print(f"{res.alpha[j]:10.4g} {mean[j]:12.5g} {se[j]:10.2g}")
    return exit_code(res, out, json_output=args.json, save_error=save_error)


def run_compare(args) -> int:
    model, alphas, out = _prepare(args)
    plateau = args.plateau
    if plateau not in ("median", "fixed_point"):
        try:
            plateau = float(plateau)
        except ValueError:
            raise ValueError(f"plateau must be 'median', 'fixed_point' or a real number > 0, got {plateau!r}") from None
    cmp = compare(model, args.N, args.eta, args.alpha_max, args.seeds, alphas=alphas, fraction=args.fraction,
                  plateau=plateau, workers=args.workers, exact_teacher=not args.random_teacher,
                  bn_stats=args.bn_stats, progress=stderr_is_terminal() and not args.json, method=args.method)
    save_error = None if out is None else save_result(
        cmp, out, frame=compare_frame(cmp) if out.suffix.lower() == ".csv" else None)
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
    return exit_code(cmp, out, json_output=args.json, save_error=save_error)
