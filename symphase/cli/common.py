"""Options and output shared by the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..model import Committee


def add_model_options(p, *, K_default=2):
    g = p.add_argument_group("model")
    g.add_argument("--K", type=int, default=K_default, help="student hidden units (default %(default)s)")
    g.add_argument("--M", type=int, default=None, help="teacher hidden units (default: K)")
    g.add_argument("--bn", choices=["paper", "exact"], default=None,
                   help="batch normalization rule (default: plain network)")
    g.add_argument("--gain", choices=["learned", "fixed"], default="learned", help="BN gain (default %(default)s)")
    g.add_argument("--tau", type=float, default=1.0, help="input variance sigma^2 (default %(default)s)")
    g.add_argument("--batch", type=int, default=1, help="minibatch size b (default %(default)s)")
    g.add_argument("--noise", type=float, default=0.0, help="teacher output noise variance (default %(default)s)")


def model_from(args) -> Committee:
    return Committee(args.K, args.K if args.M is None else args.M, bn=args.bn, gain=args.gain,
                     tau=args.tau, batch=args.batch, noise=args.noise)


def add_output_options(p):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--out", type=Path, default=None, help="save the result (.nc NetCDF, or .csv)")


def parse_matrix(name: str, text: str | None):
    """A matrix from '1,0.1;0.1,1' (rows separated by ';')."""
    if text is None:
        return None
    try:
        return np.array([[float(v) for v in row.split(",")] for row in text.split(";")])
    except ValueError:
        raise ValueError(f"--{name} must be numbers like '1,0.1;0.1,1' (rows separated by ';'), got {text!r}") from None


def to_jsonable(x):
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def print_json(obj):
    json.dump(to_jsonable(obj), sys.stdout, indent=None)
    sys.stdout.write("\n")


def model_dict(model: Committee) -> dict:
    return {"K": model.K, "M": model.M, "bn": model.bn, "gain": model.gain, "tau": model.tau,
            "batch": model.batch, "noise": model.noise, "T": model.T}


def save_dataset(ds, path: Path):
    """Write atomically: a temporary name, then rename (no half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if path.suffix == ".csv":
        ds[[v for v in ds.data_vars if ds[v].dims == ("alpha",)]].to_dataframe().to_csv(tmp)
    elif path.suffix in (".nc", ".netcdf"):
        ds.to_netcdf(tmp)
    else:
        raise ValueError(f"--out must end in .nc or .csv, got {str(path)!r}")
    tmp.replace(path)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
