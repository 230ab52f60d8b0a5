"""``symphase curvature``: Hessian and Fisher spectra of the weights at any N (docs/model.md §10)."""
from __future__ import annotations

import sys

from .._curvature import KINDS, curvature
from .._fixedpoint_solve import symmetric_fixed_point
from .._initial import random_initial
from .common import (
    add_model_options,
    model_from,
    parse_matrix,
    print_json,
    warn_curvature_cost,
)


def register(sub):
    p = sub.add_parser("curvature", help="Hessian and Fisher spectra of the weights at any N",
                       description="The Hessian of eps_g and the Fisher information <grad s grad s^T> of the "
                       "student's weights (and learned BN gains) at one state, exactly and at any N: outliers, "
                       "the bulk with its multiplicity, and the statistics (docs/model.md §10).")
    add_model_options(p)
    p.add_argument("--N", type=int, default=1000, help="input dimension, >= K + M (default %(default)s)")
    st = p.add_argument_group("state (default: the symmetric fixed point, eta -> 0; K = M, T = I)")
    st.add_argument("--random", action="store_true",
                    help="the overlaps of seeded random weights with N inputs (J ~ N(0, 1/N))")
    st.add_argument("--seed", type=int, default=0, help="seed of --random, >= 0 (default %(default)s)")
    st.add_argument("--Q", default=None, help="a given Q as 'a,b;c,d' (with --R)")
    st.add_argument("--R", default=None, help="a given R as 'a,b;c,d' (with --Q)")
    st.add_argument("--g", default=None, help="BN gains of a given state as 'a,b' (default ones)")
    st.add_argument("--norm", type=float, default=None, help="BN fixed point: the norm Q_ii (default 1/g^2)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=run)


def _state(args, model):
    if (args.Q is None) != (args.R is None):
        raise ValueError("--Q and --R go together")
    if args.Q is not None:
        if args.random:
            raise ValueError("--random and --Q/--R are two different states: give one")
        g = None if args.g is None else parse_matrix("g", args.g).ravel()
        return parse_matrix("Q", args.Q), parse_matrix("R", args.R), g, "given overlaps"
    if args.g is not None:
        raise ValueError("--g goes with --Q and --R")
    if args.random:
        Q, R, g, _ = random_initial(model, args.N, args.seed)
        return Q, R, g, f"random weights, seed {args.seed}"
    fp = symmetric_fixed_point(model, 0.0, norm=args.norm)
    return fp.Q, fp.R, fp.g, "the symmetric fixed point (eta -> 0)"


def _fmt(values, mult):
    return "  ".join(f"{v:.6g}" + (f" (x{m})" if m > 1 else "") for v, m in zip(values, mult))


def run(args) -> int:
    model = model_from(args)
    warn_curvature_cost(model)
    Q, R, g, what = _state(args, model)
    c = curvature(model, (Q, R, g), N=args.N)
    if args.json:
        print_json({**c.to_dict(), "state": what})
        return _status(c)
    print(f"# {model.describe()}, N={args.N}, {c.n_params} parameters; state: {what}")
    for kind in KINDS:
        s = c.stats(kind)
        v, m = c.spectrum(kind)
        print(f"{kind}: min {s['min']:.6g}, max {s['max']:.6g}, mean {s['mean']:.6g}, "
              f"second moment {s['second_moment']:.6g}, condition {s['condition']:.6g}, "
              f"null dim {s['null_dim']} ({s['scale_invariant']} from BN scale invariance)")
        print(f"  bulk (each of multiplicity >= N - K - M = {args.N - model.K - model.M}): "
              f"{'  '.join(f'{b:.6g}' for b in c.bulk[kind])}")
        print(f"  distinct eigenvalues (multiplicity): {_fmt(v, m)}")
    return _status(c)


def _status(c) -> int:
    """0 for a resolved spectrum; else one line on stderr and 1 (the spectra are printed above)."""
    if c.success:
        return 0
    print(f"symphase: failed: {c.message}", file=sys.stderr)
    return 1
