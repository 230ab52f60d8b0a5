"""``symphase fixed-point``: the symmetric fixed point (plateau) and its three spectra."""
from __future__ import annotations

import numpy as np

from .._fixedpoint_solve import symmetric_fixed_point
from .common import add_model_options, model_from, print_json


def register(sub):
    p = sub.add_parser("fixed-point", help="the symmetric fixed point (plateau) and its spectra",
                       description="Find the symmetric fixed point R = S, C = Q (K = M, T = I) and print its "
                                   "Jacobian spectrum (escape rate), the weight-space Hessian of eps_g and the "
                                   "paper's reduced Hessian (docs/model.md §4-5).")
    add_model_options(p)
    p.add_argument("--eta", type=float, default=0.0,
                   help="learning rate; 0 = small learning rate limit, rates per unit eta (default %(default)s)")
    p.add_argument("--norm", type=float, default=None, help="BN: the free norm Q_ii (default 1/g^2)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=run)


def _fmt(v):
    v = np.asarray(v)
    if np.iscomplexobj(v):
        return " ".join(f"{z.real:.6g}{z.imag:+.3g}j" for z in v)
    return " ".join(f"{z:.6g}" for z in v)


def run(args) -> int:
    model = model_from(args)
    fp = symmetric_fixed_point(model, args.eta, norm=args.norm)
    if args.json:
        d = fp.to_dict()
        d["others"] = [{"Q": o.Q, "R": o.R, "g": o.g, **({} if o.v is None else {"v": o.v}), "eg": o.eg}
                       for o in fp.others]
        print_json(d)
        return 0
    unit = "per unit eta (eta -> 0)" if fp.eta == 0 else "per unit alpha"
    print(f"# {model.describe()}, eta={fp.eta:g}")
    print(f"Q = C    : {fp.Q[0, 0]:.12g}  {fp.Q[0, 1]:.12g}")
    print(f"R = S    : {fp.R[0, 0]:.12g}  {fp.R[0, 1]:.12g}")
    if fp.g is not None:
        print(f"g        : {fp.g[0]:.12g}   effective learning rate g^2/(tau Q) = {fp.effective_learning_rate:.6g} eta")
    if fp.v is not None:
        print(f"v        : {fp.v[0]:.12g}   (the learned second layer)")
    print(f"eps_g    : {fp.eg:.12g}")
    print(f"escape rate lambda ({unit}): {fp.escape_rate:.10g}")
    if fp.g is not None:
        print(f"  in effective-learning-rate units: {fp.escape_rate / fp.effective_learning_rate:.10g}")
    print(f"Jacobian eigenvalues ({unit}):\n  {_fmt(fp.jacobian_eigenvalues)}")
    print(f"weight-space Hessian eigenvalues:\n  {_fmt(fp.weight_hessian_eigenvalues)}")
    if fp.has_reduced_hessian:
        print(f"reduced Hessian eigenvalues on {tuple(fp.reduced_hessian[1])}:\n  "
              f"{_fmt(fp.reduced_hessian_eigenvalues)}")
    else:
        print("reduced Hessian: not defined (the paper's Hessian covers the soft committee machine only)")
    return 0
