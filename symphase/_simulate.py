"""Online SGD at finite ``N``: :func:`simulate`, the learning that the order-parameter ODEs describe.

The kernels are :mod:`symphase._sgd` (update rules, docs/model.md §2) and
:mod:`symphase._rng` (random numbers); the starts are :mod:`symphase._weights`.
:func:`simulate` runs the seeds on a thread pool (the kernels release the
GIL) and returns a :class:`SimulationResult` with a leading seed axis. A
seed's numbers do not depend on how many workers run.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as kern
from ._generated import ode_kernels as gen
from ._model import check_model
from ._ode import check_alpha_max, check_alphas, check_second_layer, default_alphas
from ._results import ODEResult, Status, alpha_span, model_coords, overlap_columns, trajectory_variables
from ._overlap_sgd import overlap_steps, overlap_steps_batch_stats
from ._overlap_sgd import workspace as overlap_workspace
from ._rng import rng_state
from ._sgd import record_state, sgd_steps, sgd_steps_batch_stats, test_error
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


#: The simulators: SGD on the weights, or the same process on the order parameters (docs/model.md §11).
METHODS = ("weights", "overlaps", "sde")


def _advance(Jt, Bt, g, v, vt, par, b, n, s, xi, dJ, blowup, batch_stats):
    """One chunk of steps (a seam for the interrupt test)."""
    if batch_stats:
        return sgd_steps_batch_stats(Jt, Bt, g, par, b, n, s, dJ, blowup)
    return sgd_steps(Jt, Bt, g, v, vt, par, b, n, s, xi, dJ, blowup)


def simulate(model, N, eta, alpha_max, *, seeds=1, alphas=None, init=None, workers=None, n_test=0,
             exact_teacher=True, bn_stats="population", blowup=1e6, progress=False,
             method="weights", sde_step=0.05, eta2=None, v0=None, activation=None) -> SimulationResult:
    """Online SGD on the teacher-student committee machine, at finite ``N``, for many seeds.

    Per example ``J_i += (eta/N) Delta phi'(x_i) xi`` with ``Delta = sum_n phi(y_n) - sum_i phi(x_i)``
    (plain; Saad & Solla 1995), the paper's Eqs. 2-3 (``bn="paper"``) or the true BN
    gradient (``bn="exact"``): docs/model.md §2. A batch update is the mean over
    ``model.batch`` fresh examples; ``alpha = steps/N``.

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
    init : None, mapping, tuple or callable, optional
        ``None``: ``J_il ~ N(0, 1/N)``, the teacher as below, ``g = 1``;
        ``{"J": (K, N)[, "B": (M, N)][, "g": (K,)]}``: weights (with
        ``exact_teacher=True`` a given ``B`` must satisfy ``B B^T = model.T``
        within :data:`symphase._weights.B_TOL`); ``{"Q": (K, K), "R": (K, M)[, "g": (K,)]}``
        or ``(Q, R[, g])``: overlaps, realised exactly by weights of a seeded random
        orientation (:func:`weights_from_overlaps`); or a function ``seed -> any of
        these`` (a start per seed, e.g. from :func:`symphase.near_fixed_point`).
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
    method : {"weights", "overlaps"}
        ``"weights"``: SGD on the weights, ``O(N)`` per step. ``"overlaps"``: the same
        process run exactly on the order parameters (docs/model.md §11), ``O((K + M)^3)``
        per step whatever ``N`` is; the same starts (each seed's initial weights, reduced
        to their overlaps), the same result type, equal in distribution but not path by
        path. It needs ``N >= K + M + batch`` and ``n_test=0``; it runs both BN statistics
        (population and, for the committee machine, the batch's own).
        ``"sde"``: the diffusion approximation ``dy = f d alpha + (D/N)^(1/2) dW``
        (docs/model.md §12) by Euler-Maruyama with the step ``sde_step`` in ``alpha``,
        whatever ``N`` is (it reaches ``N = 10^6`` in seconds); records at exactly ``alphas``.
    sde_step : float
        The step in ``alpha`` of ``method="sde"`` (> 0; each record interval is split
        evenly into steps of at most this).
    eta2 : float, optional
        The second layer's learning rate (> 0; default ``eta``; a learned second
        layer only): ``v_i += (eta2/N) c Delta phi(u_i) - (lam/N) v_i`` (docs/model.md §13).
    v0 : array_like (K,), optional
        The student's second layer at the start (default ones), learned or fixed.
    activation : {None, "relu"}, optional
        ``"relu"`` simulates ``phi(u) = max(u, 0)`` in both networks **in the simulator
        only** (there is no ODE for it here); ``eg`` is then the closed form of the
        arc-cosine kernel (Cho & Saul 2009) at the recorded overlaps. None: the model's
        activation. The two-layer settings (a learned or non-unit second layer,
        scaling, linear activation, weight decay, ReLU) need ``method="weights"`` and
        ``bn_stats="population"``.

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
        ``alphas``, ``init``, ``workers``, ``n_test``, ``bn_stats``, ``blowup``, ``method``).
    TypeError
        ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> res = symphase.simulate(symphase.Committee(2, 2), N=200, eta=0.5, alpha_max=5.0, seeds=2,
    ...                         alphas=[0.0, 5.0])
    >>> res.status, res.eg.shape, res.alpha.tolist()
    (<Status.COMPLETED: 'completed'>, (2, 2), [0.0, 5.0])
    """
    model = check_model(model)
    N = check_int("N", N, minimum=1)
    eta = check_real("eta", eta, positive=True)
    alpha_max = check_alpha_max(alpha_max)
    seed_list = check_seeds(seeds)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, minimum=1)
    n_test = check_int("n_test", n_test, minimum=0)
    blowup = check_real("blowup", blowup, positive=True)
    if bn_stats not in ("population", "batch"):
        raise ValueError(f"bn_stats must be 'population' or 'batch', got {bn_stats!r}")
    batch_stats = bn_stats == "batch"
    if batch_stats and not model.has_bn:
        raise ValueError("bn_stats='batch' needs a batch-norm model (bn='paper' or 'exact')")
    if batch_stats and model.batch < 2:
        raise ValueError(f"bn_stats='batch' needs batch >= 2 (a batch's standard deviation), got batch={model.batch}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    on_overlaps = method == "overlaps"
    if on_overlaps:
        if N < model.K + model.M + model.batch:
            raise ValueError(f"N must be an integer >= K + M + batch = {model.K + model.M + model.batch} for "
                             f"method='overlaps' (the inputs' part orthogonal to the weights), got {N}")
        if n_test:
            raise ValueError("n_test needs the weights (a test set of inputs): use method='weights' "
                             "(with method='overlaps' eps_g is exact anyway)")
    on_sde = method == "sde"
    if on_sde:
        sde_step = check_real("sde_step", sde_step, positive=True)
        if N < model.K + model.M:
            raise ValueError(f"N must be an integer >= K + M = {model.K + model.M} for method='sde' (the "
                             f"diffusion approximation of N-dimensional inputs), got {N}")
        if batch_stats:
            raise ValueError("bn_stats='batch' needs the individual inputs: use method='weights'")
        if n_test:
            raise ValueError("n_test needs the weights (a test set of inputs): use method='weights'")
    eta2, v0 = check_second_layer(model, eta, eta2, v0)
    if activation not in (None, model.activation, "relu"):
        raise ValueError(f"activation must be None (the model's, {model.activation!r}) or 'relu' (the "
                         f"simulator only), got {activation!r}; set the ODE's activation on the Committee")
    relu = activation == "relu"
    if not model.is_committee or relu or np.any(v0 != 1.0):
        if method == "sde" or batch_stats:
            raise ValueError(f"method={method!r}, bn_stats={bn_stats!r}: the two-layer settings (docs/model.md §13; "
                             f"here {model.describe()}{', relu' if relu else ''}) are simulated with "
                             f"method='weights' or 'overlaps' and bn_stats='population'")
    alphas = default_alphas(alpha_max, 100) if alphas is None else check_alphas(alphas, alpha_max)
    steps = np.unique(np.rint(alphas * N).astype(np.int64))
    if callable(init):  # a start per seed
        inits = [check_init(model, N, init(int(sd)), exact_teacher) for sd in seed_list]
    else:
        inits = [check_init(model, N, init, exact_teacher)] * len(seed_list)
    if exact_teacher and model.M > N and any(i is None or "B" not in i for i in inits):
        raise ValueError(f"N must be an integer >= M = {model.M} for an exact teacher T, got {N}")

    K, M, lay = model.K, model.M, model.layout
    n_seeds = len(seed_list)
    y0 = np.empty((n_seeds, lay.size))
    Ts = np.empty((n_seeds, M, M))
    starts = []
    for j, (sd, i) in enumerate(zip(seed_list, inits)):
        J, B, g = initial_weights(model, N, int(sd), i, exact_teacher)
        # with the kernel that records, so alpha = 0 matches bit for bit
        record_state(np.ascontiguousarray(J.T), np.ascontiguousarray(B.T), g, model.has_bn,
                     np.empty((K, K)), np.empty((K, M)), y0[j])
        Ts[j] = B @ B.T
        starts.append(None if on_overlaps else (J, B, g))  # the overlap chain needs no weights
    system = model.system
    par = system.params(eta, eta2=eta2, activation=activation)
    vt = system.teacher_weights
    b = model.batch
    n_rec = steps.size
    ys = np.full((n_seeds, n_rec, lay.size), np.nan)
    vs = np.full((n_seeds, n_rec, K), np.nan)  # the second layer at each record
    if model.learns_v:
        y0[:, lay.v_index] = v0
    eg_test = np.full((n_seeds, n_rec), np.nan) if n_test else None
    counts = np.zeros(n_seeds, dtype=np.int64)
    codes = [Status.COMPLETED] * n_seeds
    stop = threading.Event()
    bar = _progress(progress, n_seeds * (int(np.ceil(alphas[-1] / sde_step)) if on_sde else int(steps[-1])))
    lock = threading.Lock()
    # steps per kernel call: about 1e7 multiply-adds, so Ctrl-C and the bar respond within ~0.1 s
    if on_overlaps:
        chunk = max(1, int(1e7 // ((K + M) ** 3 + b * (K + M) ** 2 + b * b * K * K)))
    else:
        chunk = max(1, int(1e7 // (N * b * (K + M + 2))))

    def drive(j, counts_per_record, chunk_steps, advance, record):
        """Run seed ``j``: ``counts_per_record[k]`` steps, in chunks (Ctrl-C and the bar respond between
        them), then ``record(k)``; ``advance(k, n)`` returns the steps done (< n: diverged; < 0: invalid)."""
        for k in range(n_rec):
            done, m = 0, int(counts_per_record[k])
            while done < m:
                if stop.is_set():
                    codes[j] = Status.INTERRUPTED
                    return
                todo = int(min(chunk_steps, m - done))
                did = advance(k, todo)
                if did < 0:
                    codes[j] = Status.INVALID
                    return
                done += did
                if bar is not None:
                    with lock:
                        bar.update(did)
                if did < todo:
                    codes[j] = Status.DIVERGED
                    return
            record(k)
            counts[j] = k + 1

    per_record = np.diff(np.concatenate([[0], steps]))

    def run_seed_overlaps(j):
        Q, R, g = lay.unpack(y0[j])
        Q, R = np.array(Q, dtype=float), np.array(R, dtype=float)
        g = np.ones(K) if g is None else np.array(g, dtype=float)
        T = np.ascontiguousarray(model.T if exact_teacher else Ts[j], dtype=float)
        s = rng_state(int(seed_list[j]))
        work = overlap_workspace(K, M, b)

        v = v0.copy()

        def record(k):
            ys[j, k] = lay.pack(Q, R, g if model.has_bn else None, v if model.learns_v else None)
            vs[j, k] = v
        if batch_stats:
            def advance(k, n):
                return overlap_steps_batch_stats(Q, R, g, T, par, N, b, n, s, blowup, *work)
        else:
            def advance(k, n):
                return overlap_steps(Q, R, g, v, vt, T, par, N, b, n, s, blowup, *work)
        drive(j, per_record, chunk, advance, record)

    sde_alphas = np.unique(alphas)
    if on_sde:
        n_rec = sde_alphas.size
        ys = np.full((n_seeds, n_rec, lay.size), np.nan)
        gaps = np.diff(np.concatenate([[0.0], sde_alphas]))
        sde_counts = np.where(gaps > 0, np.ceil(gaps / sde_step * (1.0 - 1e-12)), 0).astype(np.int64)
        sde_h = np.where(sde_counts > 0, gaps / np.maximum(sde_counts, 1), 0.0)

    def run_seed_sde(j):
        from ._fluctuations import sde_steps, sde_workspace
        y = y0[j].copy()
        ka = system.args(eta)
        if not exact_teacher:
            ka = ka._replace(T=np.ascontiguousarray(Ts[j]))
        s = rng_state(int(seed_list[j]))
        work = sde_workspace(model)

        def record(k):
            ys[j, k] = y
        drive(j, sde_counts, 200,
              lambda k, n: sde_steps(y, ka, N, b, model.has_bn, sde_h[k], n, s, blowup, 1e-7, *work), record)

    def run_seed(j):
        if on_sde:
            return run_seed_sde(j)
        if on_overlaps:
            return run_seed_overlaps(j)
        J, B, g = starts[j]
        Jt, Bt = np.ascontiguousarray(J.T), np.ascontiguousarray(B.T)
        g = g.copy()
        v = v0.copy()
        s = rng_state(int(seed_list[j]))
        s_test = rng_state(int(seed_list[j]), 1)
        xi = np.empty(N)
        dJ = np.empty((b, N) if batch_stats else (N, K) if b > 1 else (1, K))  # the batch X under batch stats
        Qw, Rw = np.empty((K, K)), np.empty((K, M))

        def record(k):
            record_state(Jt, Bt, g, model.has_bn, Qw, Rw, ys[j, k])
            if model.learns_v:
                ys[j, k, lay.v_index] = v
            vs[j, k] = v
            if n_test:
                eg_test[j, k] = test_error(Jt, Bt, g, v, vt, par, n_test, s_test, xi)
        drive(j, per_record, chunk,
              lambda k, n: _advance(Jt, Bt, g, v, vt, par, b, n, s, xi, dJ, blowup, batch_stats), record)

    try:
        if workers == 1 or n_seeds == 1:
            for j in range(n_seeds):
                run_seed(j)
        else:
            with ThreadPoolExecutor(max_workers=min(workers, n_seeds)) as pool:
                futures = [pool.submit(run_seed, j) for j in range(n_seeds)]
                try:
                    for f in futures:
                        f.result()
                except KeyboardInterrupt:
                    stop.set()
                    for f in futures:
                        f.result()
                    raise
    except KeyboardInterrupt:
        stop.set()
    finally:
        if bar is not None:
            bar.close()
    codes = [c if (c != Status.COMPLETED or counts[j] == n_rec) else Status.INTERRUPTED
             for j, c in enumerate(codes)]

    if on_sde:
        vs = np.ones((n_seeds, ys.shape[1], K))
    eg = np.full((n_seeds, ys.shape[1]), np.nan)
    for j in range(n_seeds):
        T_j = None if exact_teacher else Ts[j]
        if relu:
            eg[j, :counts[j]] = eg_relu(model, ys[j, :counts[j]], v0, T_j)
        else:
            eg[j, :counts[j]] = system.eg_many(ys[j, :counts[j]], T=T_j, v=v0)
    # eps_g >= 0; the closed form at the overlaps of real weights dips below only by rounding (a sum of
    # (K + M)^2 arcsines that cancel at perfect learning): clipped, as the ODE's (symphase._kernels.eg_clipped)
    with np.errstate(invalid="ignore"):
        clipped = eg < 0.0
    eg_raw_min = float(np.min(eg[clipped])) if clipped.any() else 0.0
    eg[clipped] = 0.0
    Q, R, g = lay.unpack(ys)
    Q0, R0, g0 = lay.unpack(y0)
    out_alpha = sde_alphas if on_sde else steps / N
    initial = {"Q": Q0, "R": R0, "g": g0,
               "T": Ts if not exact_teacher else np.broadcast_to(model.T, (n_seeds, M, M)).copy()}
    bad = [(int(seed_list[j]), str(c)) for j, c in enumerate(codes) if c != Status.COMPLETED]
    if not bad:
        status, message = Status.COMPLETED, f"reached alpha = {out_alpha[-1]:g} for {n_seeds} seed(s)"
    else:
        status = (Status.INTERRUPTED if any(c == Status.INTERRUPTED for c in codes) else
                  Status.INVALID if any(c == Status.INVALID for c in codes) else Status.DIVERGED)
        message = (f"{len(bad)} of {n_seeds} seed(s) stopped early ({', '.join(f'seed {s}: {c}' for s, c in bad)});"
                   f" their arrays are NaN after the last recorded point"
                   + (f"; eta = {eta:g} may be too large" if status == Status.DIVERGED else ""))
    info = {"N": N, "seeds": seed_list, "batch": b, "n_test": n_test, "exact_teacher": int(exact_teacher),
            "bn_statistics": bn_stats, "method": method}
    if relu:
        info["activation"] = "relu (simulator only)"
    if on_sde:
        info["sde_step"] = sde_step
    if clipped.any():
        info.update(eg_clipped=int(clipped.sum()), eg_raw_min=eg_raw_min)
    return SimulationResult(model=model, eta=eta, alpha=out_alpha, Q=Q, R=R, g=g, eg=eg, status=status,
                            message=message, info=info, initial=initial, N=N, seeds=seed_list,
                            seed_status=[str(c) for c in codes], n_recorded=counts.copy(), eg_test=eg_test,
                            v=vs, eta2=eta2 if model.learns_v else None)


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


def _progress(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="step", unit_scale=True, desc="simulate")
