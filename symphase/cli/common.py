"""Options and output shared by the commands."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .. import _kernels as kernels
from .._fluctuations import SDE_EXAMPLES, diffusion, normal_rule
from .._io import FORMATS, check_writable, write_csv, write_netcdf
from .._model import Committee
from .._results import jsonable
from .._run_checks import ALPHA_MAX_LIMIT
from .._validate import SEED_MAX

#: The CLI option groups of the model's fields (:attr:`symphase._model.ModelField.group`).
MODEL_GROUPS = {"model": "model",
                "two-layer": "two-layer network (docs/model.md §13; defaults: the committee machine)"}


def add_model_options(p, *, K_default=2, model=Committee):
    """The model's options, one per CLI field of its table ``model.FIELDS`` (:data:`symphase._model.MODEL_FIELDS`:
    ``--K``, ``--bn``, ..., ``--weight-decay``), with its type, choices, default and help; :func:`model_from`
    reads them back."""
    groups = {key: p.add_argument_group(title) for key, title in MODEL_GROUPS.items()}
    for f in model.FIELDS:
        if not f.cli:
            continue
        default = K_default if f.name == "K" else f.cli_default
        kw = {"type": int} if f.kind == "int" else {"type": float} if f.kind == "real" else {}
        if f.kind == "choice":
            kw["choices"] = list(f.choices)
        what = f.doc.replace("%", "%%") + (", as 'a,b'" if f.kind == "vector" else "")
        rng = "" if f.kind in ("choice", "vector") else f", {f.range_text()}"
        shown = "" if default is None else " (default %(default)s)"
        groups[f.group].add_argument(f.flag, default=default, help=f"{what}{rng}{shown}", **kw)


def add_second_layer_run_options(p):
    """``--v0`` and ``--eta2`` of a run (ode, simulate)."""
    p.add_argument("--v0", default=None, help="the student's second layer at the start as 'a,b' (default ones)")
    p.add_argument("--eta2", type=float, default=None,
                   help="learning rate of a learned second layer (default: --eta)")


def second_layer_run(args) -> dict:
    """The ``eta2`` keyword argument from :func:`add_second_layer_run_options` (``--v0`` is part of the
    start: :func:`start_v`)."""
    return {"eta2": args.eta2}


def start_v(args):
    """``--v0``, the second layer of the start (:class:`symphase.State`'s ``v``), or None (ones)."""
    return None if args.v0 is None else parse_matrix("v0", args.v0).ravel()


#: The default learning rate of every command that runs a trajectory (ode, simulate, compare,
#: escape-time; the sweep's tasks default to the same 0.5): one value, as the API's ``eta`` is one
#: name (docs/vocabulary.md). ``fixed-point`` defaults to 0, the small learning rate limit where the
#: plateau is defined for every rule (under BN there is no fixed point at ``eta > 0``).
ETA_DEFAULT = 0.5


def add_eta_option(p):
    """``--eta``, the learning rate, with the default of every command (:data:`ETA_DEFAULT`)."""
    p.add_argument("--eta", type=float, default=ETA_DEFAULT, help="learning rate, > 0 (default %(default)s)")


def model_from(args, *, allow_relu=False, model=Committee) -> Committee:
    """The model of the options of :func:`add_model_options` (:meth:`Committee.from_dict` of ``model``).

    Unless ``allow_relu``, a model without closed-form averages (``--activation relu``) is
    refused here, before any work (ValueError naming ``activation``): it runs in
    ``symphase simulate`` only.
    """
    values = {}
    for f in model.FIELDS:
        if f.cli and hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = parse_matrix(f.flag[2:], value).ravel() if f.kind == "vector" and value else value
    model = model.from_dict(values)
    return model if allow_relu else model.require_closed_form("this command")


def add_output_options(p):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--out", type=Path, default=None,
                   help="save the result: .nc/.netcdf (NetCDF4, every variable) or .csv (a tidy table, one row per "
                   "seed and alpha); checked before the run: its folder must exist and be writable. An interrupted "
                   "run (Ctrl-C) saves what it computed")


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


def check_out(path):
    """``--out`` checked before any work (:func:`symphase._io.check_writable`); ``None`` passes."""
    if path is None:
        return None
    return check_writable(path, name="--out")


def check_out_folder(path, name="--out"):
    """An output folder (created by the command if missing): not a file, below no file, and its
    nearest existing folder writable; else ``ValueError`` (one line, exit 2) before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a file, not a folder")
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is below {str(existing)!r}, which is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".symphase-", suffix=".probe"):
            pass
    except OSError as exc:
        raise ValueError(f"{name}: cannot write in the folder {str(existing)!r}: {exc.strerror or exc}") from None
    return path


def _write(result, path: Path, frame):
    if FORMATS[path.suffix.lower()] == "csv":
        write_csv(result.to_dataframe() if frame is None else frame, path)
    else:
        write_netcdf(result.to_xarray(), path)
    return path


def save_result(result, path, frame=None):
    """Save ``result`` to ``path`` (checked by :func:`check_out`) atomically: NetCDF4 from
    ``result.to_xarray()``, or CSV from ``frame`` (default ``result.to_dataframe()``).

    A failing writer (the folder removed mid-run, a full disk, ...) never takes the run
    down: the result is saved instead beside ``path`` (its nearest existing folder) or in the
    system's temporary folder, and the returned message says so.

    Returns
    -------
    str or None
        None when saved to ``path``; else one line saying why not and where the result went
        (for :func:`exit_code`, which then returns 1).
    """
    path = Path(path)
    try:
        _write(result, path, frame)
        return None
    except Exception as exc:  # noqa: BLE001 (the run's result is not lost to any failing writer)
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
    why = " ".join(str(why).split())
    folders = [p for p in (path.parent, *path.parent.parents) if p.is_dir()][:1] + [Path(tempfile.gettempdir())]
    for folder in dict.fromkeys(folders):
        spare = folder / f"{path.stem}.{os.getpid()}{path.suffix}"
        if spare.exists() or spare.is_symlink():
            continue
        try:
            _write(result, spare, frame)
        except Exception:  # noqa: BLE001, S112 (that folder failed as well: try the next)
            continue
        return f"could not save --out {str(path)!r} ({why}); saved it to {str(spare)!r} instead"
    return f"could not save --out {str(path)!r} ({why}), nor anywhere else; the result is printed above only"


def exit_code(result, out, *, json_output: bool, save_error: str | None = None) -> int:
    """Say where ``result`` was saved (``out``, if given) and return the exit code: 0 success, 130
    interrupted (what was computed is saved, and stderr says so), 1 any other early stop, and 1 when
    the save failed (``save_error``, from :func:`save_result`: one line on stderr)."""
    interrupted = str(result.status) == "interrupted"
    if save_error is not None:
        print(f"symphase: failed: {save_error}" + (f"; the run was interrupted: {result.message}"
                                                    if interrupted else ""), file=sys.stderr)
        return 1
    if out is not None and not json_output:
        print(f"# saved {out}" + (" (partial: interrupted)" if interrupted else ""))
    if interrupted:
        saved = f"; the partial result is saved in {out}" if out is not None else ""
        print(f"symphase: interrupted: {result.message}{saved}", file=sys.stderr)
        return 130
    return 0 if result.success else 1


def check_points(points: int) -> int:
    if points < 2:
        raise ValueError(f"--points must be an integer >= 2 (output points, including alpha = 0), got {points}")
    return points


def check_alpha_max_option(alpha_max: float) -> float:
    """``--alpha-max`` checked before it reaches numpy (no RuntimeWarning for inf or nan)."""
    if not (0 < alpha_max <= ALPHA_MAX_LIMIT):
        raise ValueError(f"alpha_max must be a real number in (0, {ALPHA_MAX_LIMIT:g}], got {alpha_max}")
    return alpha_max


def check_seed_option(seed: int, name: str = "--seed") -> int:
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2^63 - 1], got {seed}")
    return seed


def warn(message: str):
    """One line on stderr (not an error: the run goes on)."""
    print(f"symphase: warning: {message}", file=sys.stderr)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


# -- cost estimates before large runs ------------------------------------------------------
#: Warn when a run is estimated to take longer than this (seconds).
LONG_RUN_S = 600.0
#: Work units ``N b (K + M + 2)`` per step per second of one core in the SGD kernel (measured
#: 6.5e8 at K = M = 2, N = 500-2000 on a shared 2-core machine; rounded down).
SGD_RATE = 5e8
#: Warn when an ODE run's output points alone are estimated to take longer than this (seconds).
ODE_WARN_S = 30.0


def memory_bytes() -> int:
    """This machine's physical memory in bytes (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"  # pragma: no cover


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 2 * 365 * 86400:
        return f"{s / 86400:.0f} days"
    return f"{s / (365 * 86400):.3g} years"


def check_memory(name: str, value, need: float, what: str):
    """Refuse (``ValueError`` naming ``name``) a run whose arrays need more than this machine's memory."""
    total = memory_bytes()
    if total and need > total:
        raise ValueError(f"{name} = {value}: {what} need about {_size(need)} of memory, more than this machine's "
                         f"{_size(total)}; use a smaller {name}")


def check_start_memory(model, N: int):
    """The seeded random start holds the weights ``J`` (K, N), ``B`` (M, N) and a QR of ``B``: refuse an
    ``N`` whose arrays cannot fit (before allocating them)."""
    if N < 1:
        raise ValueError(f"N must be an integer >= 1, got {N}")
    check_memory("N", N, 8.0 * N * (model.K + model.M) * 4, "the random start's weights")


def check_simulation_cost(model, N: int, seeds: int, workers, alpha_max: float, n_test: int = 0,
                          method: str = "weights", points: int = 61, sde_step: float = 0.05):
    """Before :func:`symphase.simulate`: refuse what cannot fit in memory (naming the option that
    dominates: ``N``, ``--seeds``, ``--batch`` or ``--points``), warn on a run estimated to take
    longer than :data:`LONG_RUN_S`.

    Memory: every seed's start ``(J, B)`` is held, ``8 N (K + M)`` bytes each, and each
    running seed has its own copies and work arrays (``8 N (2K + 2M + b + 1)`` bytes);
    the records are ``seeds x points`` states. Time: ``alpha_max N`` steps of
    ``N b (K + M + 2)`` multiply-adds per seed, plus ``n_test N (K + M)`` per record, at
    :data:`SGD_RATE` per core. With ``method="overlaps"`` one seed's start is made at a
    time (``4 x 8 N (K + M)`` bytes with its QR) and a step costs
    ``(K + M)^3 + b (K + M)^2 + b^2 K^2``, whatever ``N``; with ``method="sde"`` there are
    ``alpha_max / sde_step`` steps of :func:`sde_step_work` each.
    """
    if N < 1:
        raise ValueError(f"N must be an integer >= 1, got {N}")
    if seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers}")
    if n_test < 0:
        raise ValueError(f"--test must be an integer >= 0, got {n_test}")
    K, M, b = model.K, model.M, model.batch
    size = model.layout.size  # the flat state (docs/model.md: Q, R, g, v)
    running = min(seeds, workers or (os.cpu_count() or 1))
    records = {"--points": 8.0 * seeds * points * (size + 2)}
    if method in ("overlaps", "sde"):
        parts = {"N": 4 * 8.0 * N * (K + M), **records}
        per_step = (K + M) ** 3 + b * (K + M) ** 2 + b * b * K * K
        if method == "sde":  # alpha_max / sde_step steps (not alpha_max N), each the drift and a few examples
            per_step = sde_step_work(model) / (sde_step * N)
    else:
        parts = {"N": 8.0 * N * running * (2 * K + 2 * M + 1), "--seeds": 8.0 * N * (K + M) * seeds,
                 "--batch": 8.0 * N * running * b, **records}
        per_step = N * b * (K + M + 2)
    value = {"N": N, "--seeds": seeds, "--batch": b, "--points": points}
    biggest = max(parts, key=parts.get)
    check_memory(biggest, value[biggest], sum(parts.values()),
                 f"the weights and records of {seeds} seed(s) ({model.K + model.M} units, N = {N}, batch {b}, "
                 f"{points} points)")
    steps = alpha_max * N
    if steps > 2.0**62:
        raise ValueError(f"N = {N}, alpha_max = {alpha_max:g}: alpha_max N = {steps:.3g} steps is more than "
                         f"2^62; use a smaller N or alpha_max")
    test = seeds * points * n_test * N * (K + M)
    work = seeds * steps * per_step + test
    eta_s = work / (SGD_RATE * running)
    if eta_s > LONG_RUN_S:
        what = {"overlaps": "(K + M)^3 + b (K + M)^2 + b^2 K^2",
                "sde": f"the drift and {SDE_EXAMPLES} examples per step of {sde_step:g} in alpha"}.get(
                    method, "N b (K + M + 2)")
        tests = f", plus {test:.2g} for --test {n_test} at {points} points" if test else ""
        warn(f"this run is about {work:.2g} multiply-adds ({seeds} seed(s) x alpha_max N = {steps:.3g} steps x "
             f"{what}{tests}): roughly {_duration(eta_s)} on {running} core(s); Ctrl-C stops it and keeps "
             f"(and with --out saves) what was computed")


def warn_ode_cost(model, points: int):
    """Warn when the ODE run will take long for its size: each output point costs at least one
    adaptive step (6 evaluations of the right-hand side), and one evaluation grows like ``K^4``
    (about 44 ms at K = M = 50). The estimate times one evaluation here."""
    import time

    import numpy as np

    if model.K + model.M < 20:
        return
    system = model.system
    y = system.state(np.eye(model.K) * 0.5, np.zeros((model.K, model.M)))
    ka = system.args(0.5)
    out = np.empty_like(y)
    kernels.rhs(y, out, ka)  # compile (or load) first
    t = time.perf_counter()
    kernels.rhs(y, out, ka)
    per = time.perf_counter() - t
    least = points * 6 * per
    if least > ODE_WARN_S:
        warn(f"K = {model.K}, M = {model.M}: one evaluation of the right-hand side takes {per * 1e3:.3g} ms, so "
             f"{points} output points need at least {points * 6} evaluations (~{_duration(least)}); lower --points")


def warn_band_cost(model, Q0, R0, g0, eta: float, alpha_max: float):
    """Warn when ``--bands-N``'s band will take long: it integrates the covariance in steps of at most 1
    in alpha, each evaluating the diffusion matrix (a quasi-Monte Carlo rule of 2^14 points over the
    flat state) and the Jacobian 4 times, so it needs at least ``4 alpha_max`` of them. The estimate
    times one here (after compiling or loading the kernels)."""
    import time

    y = model.system.state(Q0, R0, g0)
    rule = normal_rule(model.K + model.M + 1, 2**14)
    diffusion(model, y, eta, rule=rule)  # compile (or load) first
    t = time.perf_counter()
    diffusion(model, y, eta, rule=rule)
    model.system.jacobian(y, eta)
    per = time.perf_counter() - t
    least = 4 * max(alpha_max, 1.0) * per
    if least > ODE_WARN_S:
        warn(f"--bands-N: K = {model.K}, M = {model.M}: the band needs at least {4 * max(alpha_max, 1.0):.3g} "
             f"evaluations of the diffusion matrix and the Jacobian ({per * 1e3:.3g} ms each here), roughly "
             f"{_duration(least)} or more; Ctrl-C stops it and keeps (and with --out saves) the ODE and the "
             f"band so far")


#: Seconds per n^3 of the weight-space curvature with n = K (K + M) parameters at N1 = K + M inputs
#: (complex-step Hessian, Fisher and their eigenvalues; measured 247 s at K = M = 60 on a shared 2-core
#: machine), and bytes per n^2 (1.4 GB there: a few n x n matrices).
CURVATURE_S_PER_N3 = 6.6e-10
CURVATURE_BYTES_PER_N2 = 27.0


def warn_curvature_cost(model):
    """Before :func:`symphase.curvature`: refuse (naming ``--K``) what cannot fit in memory, and warn
    when the run will take longer than :data:`ODE_WARN_S` (its cost grows like ``(K (K + M))^3``,
    whatever ``N``)."""
    n = model.K * (model.K + model.M) + model.K
    check_memory("--K", model.K, CURVATURE_BYTES_PER_N2 * n * n,
                 f"the curvature's {n} x {n} matrices (K (K + M) parameters at N = K + M inputs)")
    est = CURVATURE_S_PER_N3 * float(n) ** 3
    if est > ODE_WARN_S:
        warn(f"K = {model.K}, M = {model.M}: the curvature works on {n} x {n} matrices (about "
             f"{_size(CURVATURE_BYTES_PER_N2 * n * n)} of memory), roughly {_duration(est)}; "
             "Ctrl-C stops it after the matrix operation under way")


def sde_step_work(model) -> float:
    """Work units (as :data:`SGD_RATE`) of one step of the diffusion approximation
    (:func:`symphase._fluctuations.sde_example_steps`): the drift, ``150 (K + M)^2``, and
    :data:`~symphase._fluctuations.SDE_EXAMPLES` examples of ``100 size`` each (calibrated: about 5 us
    per step at K = M = 2 on a shared 2-core machine)."""
    return 150.0 * (model.K + model.M) ** 2 + SDE_EXAMPLES * 100.0 * model.layout.size


def escape_cost_announcer(model, samples: int, workers, sde_step: float = 0.05):
    """``announce`` for :func:`symphase.escape_time`: refuse ``--samples`` whose results cannot fit in
    memory, and warn (one line) when the sampling will take longer than :data:`ODE_WARN_S`, or when
    ``alpha_max`` fell back to 1e5 because the ODE never reaches the threshold (each sample that does
    not escape runs that far). Cost: ``alpha_max / sde_step`` steps per sample of :func:`sde_step_work`
    each, at :data:`SGD_RATE` per core."""
    if samples < 2:
        raise ValueError(f"--samples must be an integer >= 2, got {samples}")
    size = model.layout.size
    check_memory("--samples", samples, 8.0 * samples * (2 * size + 4), "the samples and their states")
    running = min(samples, workers or (os.cpu_count() or 1))

    def announce(alpha_max, how):
        work = samples * alpha_max / sde_step * sde_step_work(model)
        est = work / (SGD_RATE * running)
        if how == "unreached":
            warn(f"escape-time: the ODE from the start never reaches the threshold, so alpha_max is 1e5: a sample "
                 f"that does not escape runs that far ({samples} samples: up to about {_duration(est)} on "
                 f"{running} core(s)); give --alpha-max to bound it, or a higher --threshold")
        elif est > ODE_WARN_S:
            warn(f"escape-time: {samples} samples up to alpha_max = {alpha_max:g} ({alpha_max / sde_step:.3g} steps "
                 f"each): up to about {_duration(est)} on {running} core(s); Ctrl-C stops it and keeps the "
                 f"finished samples")
    return announce
