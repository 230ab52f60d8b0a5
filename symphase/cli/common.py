"""Options and output shared by the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .._model import RULES, Committee
from .._results import jsonable


def add_model_options(p, *, K_default=2):
    g = p.add_argument_group("model")
    g.add_argument("--K", type=int, default=K_default, help="student hidden units (default %(default)s)")
    g.add_argument("--M", type=int, default=None, help="teacher hidden units (default: K)")
    g.add_argument("--bn", choices=list(RULES), default="plain",
                   help="update rule: plain network, or batch normalization with the paper's or the exact "
                   "rule (default %(default)s)")
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


def print_json(obj):
    json.dump(jsonable(obj), sys.stdout, indent=None, allow_nan=False)
    sys.stdout.write("\n")


def save_dataset(ds, path: Path):
    """Write atomically: a temporary name, then rename (no half-written file)."""
    from .._io import write_netcdf
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        from .._io import write_csv
        write_csv(ds[[v for v in ds.data_vars if ds[v].dims == ("alpha",)]].to_dataframe().reset_index(), path)
    elif path.suffix in (".nc", ".netcdf"):
        write_netcdf(ds, path)
    else:
        raise ValueError(f"--out must end in .nc or .csv, got {str(path)!r}")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
