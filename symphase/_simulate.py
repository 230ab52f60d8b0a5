"""Online SGD at finite ``N``: :func:`simulate`, the learning that the order-parameter ODEs describe.

The kernels are :mod:`symphase._sgd` (update rules, docs/model.md §2) and
:mod:`symphase._rng` (random numbers); the starts are :mod:`symphase._weights`.
:func:`simulate` runs the seeds on a thread pool (the kernels release the
GIL) and returns a :class:`SimulationResult` with a leading seed axis. A
seed's numbers do not depend on how many workers run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as kern
from ._driver import Driver
from ._fixedpoint import FixedPoint
from ._generated import ode_kernels as gen
from ._initial import near_fixed_point
from ._methods import SIM_METHODS, Setup, simulation_method
from ._model import check_model
from ._results import Status, alpha_span, model_coords, overlap_columns, trajectory_variables
from ._run_checks import check_alpha_max, check_alphas, check_second_layer, default_alphas
from ._sgd import record_state
from ._state import STATE_FORMS, State, as_state, old_forms
from ._trajectory import ODEResult
from ._validate import check_int, check_real
from ._weights import check_init, check_seeds, initial_weights


@dataclass(repr=False)
class SimulationResult(ODEResult):
    """Result of :func:`simulate`: the recorded overlaps and errors of every seed.

    Follows the result protocol of :class:`~symphase.ODEResult` (``status``,
    ``message``, ``success``, ``raise_for_status()``, ``to_xarray()``,
    ``to_dict()``, a one-line ``repr`` even with no records) with a leading seed
    axis on the arrays.

    Attributes
    ----------
    model : Committee
    eta : float
    alpha : ndarray (n,)
        The actual record points ``steps/N``.
    Q, R : ndarray
        ``Q`` (seeds, n, K, K) ``= J J^T``, ``R`` (seeds, n, K, M) ``= J B^T``.
    g : ndarray (seeds, n, K) or None
        BN gains (None for plain).
    eg : ndarray (seeds, n)
        The exact ``eps_g`` of the recorded overlaps (the paper's Eq. 13, docs/model.md §3),
        clipped at 0: the closed form dips below by rounding only (``~1e-16``);
        ``info["eg_clipped"]``, ``info["eg_raw_min"]`` say how often and how far.
    eg_test : ndarray (seeds, n) or None
        The test-set estimate (``n_test > 0``).
    initial : dict
        ``{"Q": (seeds, K, K), "R": (seeds, K, M), "g": (seeds, K) or None,
        "T": (seeds, M, M)}``: what each seed started from (``T`` is the model's
        unless ``exact_teacher=False``).
    N : int
    seeds : ndarray (seeds,)
    seed_status : list of str
        How each seed ended (``"completed"``, ``"diverged"``, ``"interrupted"``).
        **A seed that stopped early has NaN after its last record.**
    n_recorded : ndarray (seeds,)
        Records each seed reached.
    status, message
        The summary: ``"completed"`` when every seed was, else ``"interrupted"``
        (if any was) or ``"diverged"``.
    info : dict
        ``N``, ``seeds``, ``batch``, ``n_test``, ``exact_teacher``, ``bn_statistics``.
    v : ndarray (seeds, n, K)
        The student's second layer at each record (constant when it is fixed; docs/model.md §13).
    eta2 : float or None
        The second layer's learning rate, when it is learned.
    """

    initial: dict = field(default_factory=dict)
    N: int = 0
    seeds: np.ndarray = None
    seed_status: list = field(default_factory=list)
    n_recorded: np.ndarray = None
    eg_test: np.ndarray | None = None

    def _summary(self) -> str:
        return (f"{self.model.describe()}, N={self.N}, eta={self.eta:g}, {len(self.seed_status)} seed(s), "
                f"{alpha_span(self.alpha)}")

    def _fields(self) -> dict:
        return {**super()._fields(), "N": self.N, "seeds": self.seeds, "seed_status": self.seed_status,
                "n_recorded": self.n_recorded, "eg_test": self.eg_test, "initial": self.initial}

    def to_xarray(self):
        """A labeled ``xarray.Dataset`` with a ``seed`` dimension: the trajectories, each seed's
        status and initial overlaps, the test-set estimate if any; the model, ``N``, ``eta``,
        status and message as attributes."""
        import xarray as xr

        data = trajectory_variables(self.model, ("seed",), self.Q, self.R, self.g, self.eg)
        data["T"] = (("teacher", "teacher_m"), np.asarray(self.model.T), {"long_name": "teacher overlaps T_nm"})
        if self._has_second_layer():
            data["v"] = (("seed", "alpha", "student"), self.v, {"long_name": "student second-layer weights v_i"})
        if self.eg_test is not None:
            data["eg_test"] = (("seed", "alpha"), self.eg_test,
                               {"long_name": "test-set estimate of eps_g", "n_test": self.info.get("n_test", 0)})
        data["seed_status"] = ("seed", np.array([str(c) for c in self.seed_status]),
                               {"long_name": "how each seed ended; NaN after its last recorded point if not completed"})
        data["Q0"] = (("seed", "student", "student_k"), self.initial["Q"], {"long_name": "initial Q of each seed"})
        data["R0"] = (("seed", "student", "teacher"), self.initial["R"], {"long_name": "initial R of each seed"})
        if self.initial.get("g") is not None:
            data["g0"] = (("seed", "student"), self.initial["g"], {"long_name": "initial g of each seed"})
        if not self.info.get("exact_teacher", 1):
            data["T0"] = (("seed", "teacher", "teacher_m"), self.initial["T"],
                          {"long_name": "each seed's actual teacher overlaps B B^T"})
        coords = {"alpha": self.alpha, "seed": np.asarray(self.seeds), **model_coords(self.model)}
        data["n_recorded"] = ("seed", np.asarray(self.n_recorded), {"long_name": "records each seed reached"})
        attrs = {**self._attrs(), "N": self.N}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def to_dataframe(self):
        """A tidy ``pandas.DataFrame``: one row per seed and record (``seed, alpha, eg``,
        ``eg_test``, the overlaps ``Q_ik``, ``R_in``, ``g_i``, and ``status``: how the seed
        ended, so a CSV of an interrupted run says so); for CSV output. A seed that
        stopped early has NaN after its last record.

        Examples
        --------
        >>> res = symphase.simulate(symphase.Committee(2, 2), 50, 0.5, 1.0, seeds=2, alphas=[0, 1])
        >>> list(res.to_dataframe().columns[:4]), len(res.to_dataframe())
        (['seed', 'alpha', 'eg', 'Q_00'], 4)
        """
        import pandas as pd

        n_seeds, n = self.eg.shape
        cols = {"seed": np.repeat(np.asarray(self.seeds), n), "alpha": np.tile(self.alpha, n_seeds),
                "eg": self.eg.ravel()}
        if self.eg_test is not None:
            cols["eg_test"] = self.eg_test.ravel()
        cols.update(overlap_columns(self.model, self.Q, self.R, self.g, self.v if self._has_second_layer() else None))
        cols["status"] = np.repeat(np.array([str(c) for c in self.seed_status], dtype=object), n)
        return pd.DataFrame(cols)


#: The names of the registered simulators (:data:`symphase._methods.SIM_METHODS`; docs/model.md §11, §12).
METHODS = tuple(SIM_METHODS)


def old_start_keywords(name):
    """For :func:`symphase._state.old_forms`: the keywords :func:`simulate` and :func:`symphase.compare`
    no longer take, one line each naming the new form (docs/vocabulary.md)."""
    def refuse(args, kwargs):
        if "init" in kwargs:
            raise TypeError(f"{name}(..., init=) is now {name}(..., start=): the start is passed as start= to "
                            f"integrate, simulate, compare and escape_time")
        if "v0" in kwargs:
            raise TypeError(f"{name}(..., v0=) is now part of the start: start=State(Q, R, g, v) with overlaps, "
                            f"start={{'J': ..., 'v': ...}} with weights, or start={{'v': ...}} with random weights")
        if "activation" in kwargs:
            raise TypeError(f"{name}() takes no activation: the activation is the model's, e.g. "
                            f"Committee(K, M, activation=\"relu\")")
    return refuse


@old_forms(old_start_keywords("simulate"))
def simulate(model, N, eta, alpha_max, *, start="random", seeds=1, alphas=None, workers=None, n_test=0,
             exact_teacher=True, bn_stats="population", blowup=1e6, progress=False,
             method="weights", sde_step=None, eta2=None) -> SimulationResult:
    """Online SGD on the teacher-student committee machine, at finite ``N``, for many seeds.

    Per example ``J_i += (eta/N) Delta phi'(x_i) xi`` with ``Delta = sum_n phi(y_n) - sum_i phi(x_i)``
    (plain; Saad & Solla 1995), the paper's Eqs. 2-3 (``bn="paper"``) or the true BN
    gradient (``bn="exact"``): docs/model.md §2. A batch update is the mean over
    ``model.batch`` fresh examples; ``alpha = steps/N``. The activation is the model's:
    ``Committee(..., activation="relu")`` simulates ``phi(u) = max(u, 0)`` in both networks
    (simulators only; there is no ODE for it here), and ``eg`` is then the closed form of the
    arc-cosine kernel (Cho & Saul 2009) at the recorded overlaps.

    Parameters
    ----------
    model : Committee
        The model (rule, ``K``, ``M``, ``tau``, ``batch``, ``noise``, ``T``).
    N : int
        Input dimension (>= 1; >= M for an exact teacher, >= K + M to realise given overlaps).
    eta : float
        Learning rate (> 0); each step moves the weights by ``eta/N`` times the gradient.
    alpha_max : float
        End of the run, in ``(0, 1e12]``: ``round(alpha_max N)`` steps.
    seeds : int or sequence of int
        ``n`` (seeds ``0 .. n-1``) or distinct seeds ``>= 0``. Each seed draws its
        teacher, student and inputs from streams derived only from the seed, so a
        seed's numbers do not depend on ``workers``.
    alphas : array_like, optional
        Where to record: 1-d, increasing, in ``[0, alpha_max]`` (default 0 and 100
        log-spaced points). Recorded at the step nearest each (duplicates merged);
        ``result.alpha`` holds the actual ``steps/N``.
    start : "random", State, tuple, FixedPoint, mapping or callable
        ``"random"`` (default): ``J_il ~ N(0, 1/N)``, the teacher as below, ``g = 1``, ``v = 1``;
        a :class:`~symphase.State` or a tuple ``(Q, R[, g[, v]])``: overlaps, realised exactly
        by weights of a seeded random orientation (:func:`weights_from_overlaps`); a
        :class:`~symphase.FixedPoint`: each seed starts at the fixed point with the random
        ``O(N^-1/2)`` asymmetry a random start leaves (:func:`symphase.near_fixed_point` at the
        seed; as :func:`symphase.escape_time`); ``{"J": (K, N)[, "B": (M, N)][, "g": (K,)][,
        "v": (K,)]}``: weights (with ``exact_teacher=True`` a given ``B`` must satisfy
        ``B B^T = model.T`` within :data:`symphase._weights.B_TOL`), or ``{"g": ...}``,
        ``{"v": ...}`` alone: random weights with these gains or second layer; or a function
        ``seed -> any of these`` (a start per seed; the second layer ``v`` must then be the
        same for every seed).
    workers : int, optional
        Threads (default: all cores); the kernels release the GIL.
    n_test : int
        If > 0, also a test-set estimate ``eg_test`` of ``eps_g`` on ``n_test`` fresh
        inputs per record (its own random stream; no output noise).
    exact_teacher : bool
        ``B B^T = model.T`` exactly (default), or ``B_nl ~ N(0, 1/N)`` as in the paper
        (then ``initial["T"]`` holds each seed's actual ``T`` and ``eg`` uses it).
    bn_stats : {"population", "batch"}
        BN normalizes with the population statistics ``sigma sqrt(Q_ii)`` and zero mean
        (default; the ``N -> oo`` model of the theory, docs/model.md §1), or with the
        batch's own mean and standard deviation (a real BN layer; needs ``batch >= 2``;
        the exact rule then backpropagates through the batch statistics, the paper's
        holds them fixed). ``eg`` is always that of the network normalized with
        population statistics (BN's inference mode).
    blowup : float
        A seed stops as ``"diverged"`` when some ``|J_i|^2`` exceeds it or is not finite (> 0).
    progress : bool
        Show a tqdm bar (in steps).
    method : str or SimulationMethod subclass
        A simulator registered in :data:`symphase._methods.SIM_METHODS`, by name or class. What
        each runs is declared on its class, and any other option is refused (ValueError naming
        the option, the method and the methods that run it):

        ========  =================  =========  ===========  ======  ====
        method    cost of a step     two-layer  batch stats  n_test  ReLU
        ========  =================  =========  ===========  ======  ====
        weights   ``O(N)``           yes        yes          yes     yes
        overlaps  ``O((K + M)^3)``   yes        yes          no      yes
        sde       independent of N   no         no           no      no
        ========  =================  =========  ===========  ======  ====

        ``"weights"``: SGD on the weights. ``"overlaps"``: the same process run exactly on the
        order parameters (docs/model.md §11); the same starts (each seed's initial weights,
        reduced to their overlaps), the same result type, equal in distribution but not path by
        path; it needs ``N >= K + M + batch``. ``"sde"``: the diffusion approximation
        ``dy = f d alpha + (D/N)^(1/2) dW`` (docs/model.md §12.1) by a weak Euler scheme (its
        noise drawn from the per-example rates) with the step ``sde_step`` in ``alpha``, whatever
        ``N`` is (it reaches ``N = 10^6`` in seconds), for the committee machine
        (``N >= K + M``); it records at exactly ``alphas``. Batch statistics
        (``bn_stats="batch"``) run the committee machine only, with either method that has them.
    sde_step : float, optional
        The step in ``alpha`` of ``method="sde"`` (> 0; each record interval is split
        evenly into steps of at most this). Default: the rule's, 0.05 for SGD; for a preconditioned
        rule ``0.05/max(1, eta rho)``, ``rho`` the spectral radius of its drift's Jacobian at the first
        start (docs/model.md §14.7).
    eta2 : float, optional
        The second layer's learning rate (> 0; default ``eta``; a learned second
        layer only): ``v_i += (eta2/N) c Delta phi(u_i) - (lam/N) v_i`` (docs/model.md §13).

    Returns
    -------
    SimulationResult
        Arrays with a leading seed axis; ``eg`` is the closed form (the paper's
        Eq. 13) at each record's overlaps. Failures are results: a seed that
        diverged or was interrupted (Ctrl-C: every seed stops within ~0.1 s) keeps
        its records, is NaN after the last one, and ``seed_status``,
        ``n_recorded``, ``status`` and ``message`` say so.

    Raises
    ------
    ValueError
        Bad input, naming the parameter (``N``, ``eta``, ``alpha_max``, ``seeds``,
        ``alphas``, ``start``, ``workers``, ``n_test``, ``bn_stats``, ``blowup``, ``method``),
        or an option the method does not run (naming the option, e.g. ``model`` or ``n_test``).
    TypeError
        ``model`` is not a :class:`~symphase.Committee`, or a keyword it no longer takes, naming
        the new form: ``init=`` (now ``start=``), ``v0=`` (part of the start), ``activation``
        (the activation is the model's: ``Committee(activation="relu")``).

    Examples
    --------
    >>> res = symphase.simulate(symphase.Committee(2, 2), N=200, eta=0.5, alpha_max=5.0, seeds=2,
    ...                         alphas=[0.0, 5.0])
    >>> res.status, res.eg.shape, res.alpha.tolist()
    (<Status.COMPLETED: 'completed'>, (2, 2), [0.0, 5.0])
    """
    model = check_model(model)
    meth = simulation_method(method)
    N = check_int("N", N, minimum=1)
    eta = check_real("eta", eta, positive=True)
    alpha_max = check_alpha_max(alpha_max)
    seed_list = check_seeds(seeds)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    n_test = check_int("n_test", n_test, minimum=0)
    blowup = check_real("blowup", blowup, positive=True)
    batch_stats = _check_bn_stats(model, bn_stats)
    inits, v0 = _starts(model, N, start, seed_list, exact_teacher)
    eta2, v0 = check_second_layer(model, eta, eta2, v0, names=("eta2", "start.v"))
    options = meth.check(model, N, batch_stats=batch_stats, n_test=n_test, v0=v0, sde_step=sde_step)
    alphas = default_alphas(alpha_max, 100) if alphas is None else check_alphas(alphas, alpha_max)
    if exact_teacher and model.M > N and any(i is None or "B" not in i for i in inits):
        raise ValueError(f"N must be an integer >= M = {model.M} for an exact teacher T, got {N}")

    setup = _setup(model, N, eta, eta2, v0, blowup, exact_teacher, n_test, batch_stats, seed_list, inits,
                   meth.uses_weights)
    run = meth(setup, alphas, **options)
    driver = Driver(len(seed_list), workers, progress=progress, total=run.total)
    codes = driver.run(lambda j: run.run_seed(j, driver))
    info = {"N": N, "seeds": seed_list, "batch": model.batch, "n_test": n_test, "exact_teacher": int(exact_teacher),
            "bn_statistics": bn_stats, "method": meth.name, **run.info()}
    return _result(setup, run, codes, driver.records, info, eta2)


def _start_of(start):
    """One seed's start as :func:`symphase._weights.check_init` takes it (None: random weights, or a
    mapping of some of J, B, Q, R, g), and its second layer ``v`` (None: ones)."""
    if isinstance(start, str):
        if start != "random":
            raise ValueError(f"start must be 'random', {STATE_FORMS}, a mapping of weights or a function of "
                             f"the seed; got {start!r}")
        return None, None
    if hasattr(start, "keys"):
        init = dict(start)
        v = init.pop("v", None)
        return init or None, v
    try:
        state = as_state(start, "start")
    except TypeError:
        raise ValueError(f"start must be 'random', {STATE_FORMS}, a mapping of weights or a function of the "
                         f"seed; got {type(start).__name__}") from None
    return {"Q": state.Q, "R": state.R, "g": state.g}, state.v


def _starts(model, N, start, seed_list, exact_teacher):
    """Each seed's validated start (:func:`symphase._weights.check_init`) and the second layer ``v0``
    shared by all seeds (None: ones), from :func:`simulate`'s ``start``."""
    if isinstance(start, FixedPoint):
        if start.model != model:
            raise ValueError("start: the fixed point belongs to another model")
        fp = start
        start = lambda sd: State(*near_fixed_point(fp, N, sd))  # noqa: E731  (a start per seed)
    if callable(start) and not isinstance(start, (str, State, tuple, list)) and not hasattr(start, "keys"):
        pairs = [_start_of(start(int(sd))) for sd in seed_list]
        vs = [None if v is None else np.asarray(v, dtype=float) for _, v in pairs]
        if any((a is None) != (vs[0] is None) or (a is not None and not np.array_equal(a, vs[0])) for a in vs):
            raise ValueError("start: the second layer v must be the same for every seed")
        return [check_init(model, N, init, exact_teacher) for init, _ in pairs], vs[0]
    init, v0 = _start_of(start)
    return [check_init(model, N, init, exact_teacher)] * len(seed_list), v0


def _check_bn_stats(model, bn_stats) -> bool:
    """``bn_stats`` checked against the model; True for the batch's own statistics."""
    if bn_stats not in ("population", "batch"):
        raise ValueError(f"bn_stats must be 'population' or 'batch', got {bn_stats!r}")
    batch_stats = bn_stats == "batch"
    if batch_stats and not model.has_bn:
        raise ValueError("bn_stats='batch' needs a batch-norm model (bn='paper' or 'exact')")
    if batch_stats and model.batch < 2:
        raise ValueError(f"bn_stats='batch' needs batch >= 2 (a batch's standard deviation), got batch={model.batch}")
    return batch_stats


def _setup(model, N, eta, eta2, v0, blowup, exact_teacher, n_test, batch_stats, seed_list, inits, keep) -> Setup:
    """Each seed's start (its weights drawn, their overlaps recorded) and the kernels' parameters."""
    K, M, lay = model.K, model.M, model.layout
    n_seeds = len(seed_list)
    y0 = np.empty((n_seeds, lay.size))
    Ts = np.empty((n_seeds, M, M))
    weights = []
    for j, (sd, i) in enumerate(zip(seed_list, inits)):
        J, B, g = initial_weights(model, N, int(sd), i, exact_teacher)
        # with the kernel that records, so alpha = 0 matches bit for bit
        record_state(np.ascontiguousarray(J.T), np.ascontiguousarray(B.T), g, model.has_bn,
                     np.empty((K, K)), np.empty((K, M)), y0[j])
        Ts[j] = B @ B.T
        weights.append((J, B, g) if keep else None)  # the overlap chain and the SDE need no weights
    if model.learns_v:
        y0[:, lay.v_index] = v0
    return Setup(model=model, N=N, eta=eta, par=model.system.params(eta, eta2=eta2), v0=v0, blowup=blowup,
                 exact_teacher=exact_teacher, n_test=n_test, batch_stats=batch_stats, seeds=seed_list, y0=y0,
                 T=Ts, weights=weights)


def _result(setup, run, codes, counts, info, eta2) -> SimulationResult:
    """The :class:`SimulationResult` of a finished (or stopped) run: ``eps_g`` at every record, the
    summary status and message."""
    model, ys, n_seeds = setup.model, run.ys, len(setup.seeds)
    eg = np.full((n_seeds, ys.shape[1]), np.nan)
    for j in range(n_seeds):
        T_j = None if setup.exact_teacher else setup.T[j]
        if model.activation == "relu":
            eg[j, :counts[j]] = eg_relu(model, ys[j, :counts[j]], setup.v0, T_j)
        else:
            eg[j, :counts[j]] = model.system.eg_many(ys[j, :counts[j]], T=T_j, v=setup.v0)
    # eps_g >= 0; the closed form at the overlaps of real weights dips below only by rounding (a sum of
    # (K + M)^2 arcsines that cancel at perfect learning): clipped, as the ODE's (symphase._kernels.eg_clipped)
    with np.errstate(invalid="ignore"):
        clipped = eg < 0.0
    eg_raw_min = float(np.min(eg[clipped])) if clipped.any() else 0.0
    eg[clipped] = 0.0
    if clipped.any():
        info.update(eg_clipped=int(clipped.sum()), eg_raw_min=eg_raw_min)
    Q, R, g = model.layout.unpack(ys)
    Q0, R0, g0 = model.layout.unpack(setup.y0)
    initial = {"Q": Q0, "R": R0, "g": g0, "T": setup.T if not setup.exact_teacher else
               np.broadcast_to(model.T, (n_seeds, model.M, model.M)).copy()}
    bad = [(int(setup.seeds[j]), str(c)) for j, c in enumerate(codes) if c != Status.COMPLETED]
    if not bad:
        status, message = Status.COMPLETED, f"reached alpha = {run.alpha[-1]:g} for {n_seeds} seed(s)"
    else:
        status = (Status.INTERRUPTED if any(c == Status.INTERRUPTED for c in codes) else
                  Status.INVALID if any(c == Status.INVALID for c in codes) else Status.DIVERGED)
        message = (f"{len(bad)} of {n_seeds} seed(s) stopped early ({', '.join(f'seed {s}: {c}' for s, c in bad)});"
                   f" their arrays are NaN after the last recorded point"
                   + (f"; eta = {setup.eta:g} may be too large" if status == Status.DIVERGED else ""))
    return SimulationResult(model=model, eta=setup.eta, alpha=run.alpha, Q=Q, R=R, g=g, eg=eg, status=status,
                            message=message, info=info, initial=initial, N=setup.N, seeds=setup.seeds,
                            seed_status=[str(c) for c in codes], n_recorded=counts.copy(), eg_test=run.eg_test,
                            v=run.vs, eta2=eta2 if model.learns_v else None)


def eg_relu(model, ys, v0, T=None) -> np.ndarray:
    """``eps_g = (1/2) sum_pq w_p w_q <relu(z_p) relu(z_q)>`` at flat states ``ys`` (n, size), the
    arc-cosine kernel of degree 1 (Cho & Saul 2009; generated, ``generalization_error_relu``) on the
    effective covariance of the kernels (docs/model.md §3); ``v0`` the fixed second layer (a learned
    one is in the states). For the simulator's ReLU only; NaN for a non-finite state."""
    a = model.system.args(v=v0)
    if T is not None:
        a = a._replace(T=np.array(T, dtype=float, order="C"))
    out = np.full(len(ys), np.nan)
    for j, y in enumerate(ys):
        if np.all(np.isfinite(y)):
            kern.covariance(np.ascontiguousarray(y), a)
            out[j] = gen.generalization_error_relu(a.ws.C, a.ws.w)
    return out
