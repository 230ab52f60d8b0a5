"""Methods as data: the simulators of :func:`symphase.simulate` and the integrators of
:func:`symphase.integrate`, registered by name (as scipy's ``solve_ivp`` registers its ``OdeSolver``
classes in ``METHODS``).

A simulator is a :class:`SimulationMethod` subclass. It declares what it supports (the two-layer
network, BN with the batch's own statistics, a test set, ReLU) and the smallest ``N`` it runs at;
:meth:`SimulationMethod.check` refuses every other option from those declarations, one line each,
naming the option, the method and the methods that do support it. An instance builds its record
schedule, output arrays and, per seed, its workspace and state, and runs the seed through the one
driver loop (:class:`symphase._driver.Driver`). ``simulate(method=...)`` takes a registered name or a
class: ``SIM_METHODS[name]``. A new simulator is one subclass and one registry entry.

An integrator is an :class:`ODEMethod` subclass in ``ODE_METHODS``: its name and the step options it
takes (a fixed step ``dt``, or the tolerances of an adaptive step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _overlap_sgd as ov
from . import _sgd as sgd
from ._driver import INCOMPLETE
from ._model import RULE_FEATURES, rule_for
from ._rng import rng_state
from ._validate import check_real

#: What a simulator may support: feature -> what it is (the words of the refusal).
FEATURES = {
    "two_layer": "the two-layer network (a learned or non-unit second layer, output scaling, linear activation, "
                 "weight decay; docs/model.md §13)",
    "batch_stats": "bn_stats='batch' (BN with the batch's own statistics needs the individual inputs)",
    "n_test": "a test set (n_test > 0 needs the inputs; the recorded eps_g is exact anyway)",
    "relu": "activation='relu'",
}


@dataclass
class Setup:
    """What every simulator starts from: the validated options and each seed's start.

    Attributes
    ----------
    model : Committee
    N : int
    eta : float
    par : ndarray
        The kernels' parameter record (:meth:`symphase.System.params`).
    v0 : ndarray (K,)
        The student's second layer at the start.
    blowup : float
    exact_teacher : bool
    n_test : int
    batch_stats : bool
        BN with the batch's own statistics.
    seeds : ndarray (n,)
    y0 : ndarray (n, size)
        Each seed's initial state in the flat layout.
    T : ndarray (n, M, M)
        Each seed's teacher overlaps ``B B^T``.
    weights : list
        Each seed's initial weights ``(J, B, g)`` (None where the method runs without them).
    """

    model: object
    N: int
    eta: float
    par: np.ndarray
    v0: np.ndarray
    blowup: float
    exact_teacher: bool
    n_test: int
    batch_stats: bool
    seeds: np.ndarray
    y0: np.ndarray
    T: np.ndarray
    weights: list


def _or(names) -> str:
    return "method=" + " or ".join(repr(n) for n in names) if names else "no method"


class SimulationMethod:
    """A simulator of :func:`symphase.simulate` (subclass it and register it in :data:`SIM_METHODS`).

    Class attributes declare what it supports; :meth:`check` refuses the rest. An instance is one
    run: its record schedule and outputs, built from a :class:`Setup` and the record points.

    Attributes
    ----------
    name : str
        The registered name.
    two_layer, batch_stats, n_test, relu : bool
        Whether it runs the two-layer network (docs/model.md §13), BN with the batch's own
        statistics (``bn_stats="batch"``), a test-set estimate (``n_test > 0``) and ReLU
        (``Committee(activation="relu")``).
    uses_weights : bool
        Whether it runs on each seed's weights (else only on their overlaps).
    alpha : ndarray (n_rec,)
        The actual record points of the run.
    total : int
        The progress bar's total, in steps.
    ys, vs, eg_test : ndarray
        The records: states (seeds, n_rec, size), second layers (seeds, n_rec, K) and test-set
        estimates (seeds, n_rec) or None, NaN until recorded.
    """

    name = ""
    two_layer = batch_stats = n_test = relu = False
    uses_weights = False

    @classmethod
    def min_N(cls, model) -> tuple:
        """``(n, formula, why)``: the smallest input dimension this method runs at."""
        return 1, "1", "an input dimension"

    @classmethod
    def check(cls, model, N, *, batch_stats, n_test, v0, **options) -> dict:
        """Refuse what this method does not support (ValueError, one line naming the option, the method
        and the methods that support it); returns the method's own options, validated."""
        two_layer = (model.learns_v or model.scaling != "sum" or model.activation == "linear"
                     or model.weight_decay != 0.0 or bool(np.any(model.v_teacher != 1.0)))
        needs = []
        if two_layer or model.activation == "relu":
            needs.append(("two_layer" if two_layer else "relu", "model", f"; here {model.describe()}"))
        elif np.any(v0 != 1.0):
            needs.append(("two_layer", "v0", f"; here v0 = {np.asarray(v0).tolist()}"))
        if batch_stats:
            needs.append(("batch_stats", "bn_stats", ""))
        if n_test:
            needs.append(("n_test", "n_test", ""))
        if model.activation == "relu" and two_layer:
            needs.append(("relu", "model", ""))
        for feature, option, here in needs:
            if not getattr(cls, feature):
                ok = [n for n, m in SIM_METHODS.items() if getattr(m, feature)]
                raise ValueError(f"{option}: method={cls.name!r} does not support {FEATURES[feature]}{here}; "
                                 f"it runs with {_or(ok)}")
        if batch_stats and needs[0][0] != "batch_stats":
            # the batch-statistics kernels have no two-layer or ReLU terms, whichever method runs them
            raise ValueError(f"bn_stats: bn_stats='batch' runs the committee machine only (erf, second layers "
                             f"fixed at 1, scaling 'sum', no weight decay){needs[0][2]}")
        # the learning rule (docs/model.md §2.4): this simulator, and each option it needs, must be among the
        # features the model's rule declares
        rule = rule_for(model, f"method={cls.name!r}", cls.name if cls.name in RULE_FEATURES else "")
        for feature, option, here in needs:
            if feature in RULE_FEATURES and feature not in rule.supports:
                raise ValueError(f"{option}: method={cls.name!r} with preconditioner={model.preconditioner!r} runs "
                                 f"the soft committee machine with population statistics only (erf, second layers "
                                 f"fixed at 1, scaling 'sum', no weight decay; not {FEATURES[feature]}){here}")
        n, formula, why = cls.min_N(model)
        if N < n:
            raise ValueError(f"N must be an integer >= {formula} = {n} for method={cls.name!r} ({why}), got {N}")
        return {}

    def __init__(self, setup: Setup, alphas: np.ndarray):
        self.setup = setup
        N = setup.N
        self.steps = np.unique(np.rint(alphas * N).astype(np.int64))
        self.alpha = self.steps / N
        self.per_record = np.diff(np.concatenate([[0], self.steps]))
        self.n_rec = self.steps.size
        self.total = len(setup.seeds) * int(self.steps[-1])
        self.kernels = rule_for(setup.model).bind(setup.model)  # the model's learning rule (docs/model.md §2.4)
        self._outputs()

    def _outputs(self):
        s = self.setup
        n_seeds, K = len(s.seeds), s.model.K
        self.ys = np.full((n_seeds, self.n_rec, s.model.layout.size), np.nan)
        self.vs = np.full((n_seeds, self.n_rec, K), np.nan)  # the second layer at each record
        self.eg_test = np.full((n_seeds, self.n_rec), np.nan) if s.n_test else None

    def run_seed(self, j: int, driver):
        """Build seed ``j``'s workspace and state and run it through ``driver`` (:meth:`Driver.item`)."""
        raise NotImplementedError

    def info(self) -> dict:
        """The method's entries of ``SimulationResult.info``."""
        return {}


class Weights(SimulationMethod):
    """SGD on the weights (docs/model.md §2), ``O(N)`` per step: every option."""

    name = "weights"
    two_layer = batch_stats = n_test = relu = True
    uses_weights = True

    def __init__(self, setup, alphas):
        super().__init__(setup, alphas)
        m = setup.model
        # steps per kernel call: about 1e7 multiply-adds, so Ctrl-C and the bar respond within ~0.1 s
        cost = self.kernels.step_cost(m, setup.N) if self.kernels.step_cost else setup.N * m.batch * (m.K + m.M + 2)
        self.chunk = max(1, int(1e7 // cost))
        self.test_chunk = max(1, int(1e7 // (setup.N * (m.K + m.M + 2))))  # test inputs per kernel call

    def run_seed(self, j, driver):
        st, m = self.setup, self.setup.model
        K, M, lay, ys, vs = m.K, m.M, m.layout, self.ys, self.vs
        J, B, g = st.weights[j]
        wa = self.kernels.weight_args(m, st.par, B, blowup=st.blowup, batch_stats=st.batch_stats)
        Jt = np.ascontiguousarray(J.T)
        g = g.copy()
        v = st.v0.copy()
        s = rng_state(int(st.seeds[j]))
        s_test = rng_state(int(st.seeds[j]), 1)
        Qw, Rw = np.empty((K, K)), np.empty((K, M))

        def record(k):
            sgd.record_state(Jt, wa.Bt, g, m.has_bn, Qw, Rw, ys[j, k])
            if m.learns_v:
                ys[j, k, lay.v_index] = v
            vs[j, k] = v
            if st.n_test:  # in pieces of ~1e7 multiply-adds: Ctrl-C stops a long test set between them
                total, done = 0.0, 0
                while done < st.n_test:
                    if driver.stop.is_set():
                        return INCOMPLETE
                    n = min(self.test_chunk, st.n_test - done)
                    total = sgd.test_error_sum(Jt, g, v, n, s_test, wa, total)
                    done += n
                self.eg_test[j, k] = total / st.n_test
            return None

        steps = self.kernels.sgd_steps
        if st.batch_stats:
            def advance(k, n):
                return sgd.sgd_steps_batch_stats(Jt, g, n, s, wa)
        else:
            def advance(k, n):
                return steps(Jt, g, v, n, s, wa)
        driver.item(j, self.n_rec, self.per_record.__getitem__, self.chunk, advance, record)


class Overlaps(SimulationMethod):
    """The same SGD run exactly on the order parameters (docs/model.md §11), ``O((K + M)^3)`` per step
    whatever ``N`` is: equal to :class:`Weights` in distribution, not path by path."""

    name = "overlaps"
    two_layer = batch_stats = relu = True

    @classmethod
    def min_N(cls, model):
        return model.K + model.M + model.batch, "K + M + batch", "the inputs' part orthogonal to the weights"

    def __init__(self, setup, alphas):
        super().__init__(setup, alphas)
        K, M, b = setup.model.K, setup.model.M, setup.model.batch
        self.chunk = max(1, int(1e7 // ((K + M) ** 3 + b * (K + M) ** 2 + b * b * K * K)))

    def run_seed(self, j, driver):
        st, m = self.setup, self.setup.model
        lay, ys, vs = m.layout, self.ys, self.vs
        Q, R, g = lay.unpack(st.y0[j])
        Q, R = np.array(Q, dtype=float), np.array(R, dtype=float)
        g = np.ones(m.K) if g is None else np.array(g, dtype=float)
        ca = ov.chain_args(m, st.par, st.N, T=None if st.exact_teacher else st.T[j], blowup=st.blowup)
        s = rng_state(int(st.seeds[j]))
        v = st.v0.copy()

        def record(k):
            ys[j, k] = lay.pack(Q, R, g if m.has_bn else None, v if m.learns_v else None)
            vs[j, k] = v

        steps = self.kernels.overlap_steps
        if st.batch_stats:
            def advance(k, n):
                return ov.overlap_steps_batch_stats(Q, R, g, n, s, ca)
        else:
            def advance(k, n):
                return steps(Q, R, g, v, n, s, ca)
        driver.item(j, self.n_rec, self.per_record.__getitem__, self.chunk, advance, record)


class SDE(SimulationMethod):
    """The diffusion approximation ``dy = f d alpha + (D/N)^(1/2) dW`` (docs/model.md §12) by a weak
    Euler scheme with a step ``sde_step`` in ``alpha``, whatever ``N`` is, its noise increments drawn
    from the rule's per-example rates (:func:`symphase._fluctuations.sde_example_steps`); the committee
    machine with population statistics only. Records at exactly the given ``alphas``."""

    name = "sde"

    @classmethod
    def min_N(cls, model):
        return model.K + model.M, "K + M", "the diffusion approximation of N-dimensional inputs"

    @classmethod
    def check(cls, model, N, *, sde_step=None, **kw):
        if sde_step is not None:
            sde_step = check_real("sde_step", sde_step, positive=True)
        super().check(model, N, **kw)
        return {"sde_step": sde_step}

    def __init__(self, setup, alphas, sde_step=None):
        self.kernels = rule_for(setup.model).bind(setup.model)
        if sde_step is None:  # the rule's default for paths through the first start (SGD: 0.05)
            sde_step = self.kernels.sde_step(setup.model, setup.eta, setup.y0[0])
        self.setup, self.sde_step = setup, sde_step
        self.alpha = np.unique(alphas)
        self.n_rec = self.alpha.size
        gaps = np.diff(np.concatenate([[0.0], self.alpha]))
        self.counts = np.where(gaps > 0, np.ceil(gaps / sde_step * (1.0 - 1e-12)), 0).astype(np.int64)
        self.h = np.where(self.counts > 0, gaps / np.maximum(self.counts, 1), 0.0)
        self.total = len(setup.seeds) * int(np.ceil(alphas[-1] / sde_step))
        self._outputs()
        self.vs = np.ones_like(self.vs)  # the committee machine's fixed second layer

    def run_seed(self, j, driver):
        st, m = self.setup, self.setup.model
        y = st.y0[j].copy()
        ka, consts, work = self.kernels.sde_setup(m, st.N, st.eta, T=None if st.exact_teacher else st.T[j],
                                                  blowup=st.blowup)
        s = rng_state(int(st.seeds[j]))
        h = self.h

        def record(k):
            self.ys[j, k] = y

        steps = self.kernels.sde_steps

        def advance(k, n):
            return steps(y, ka, s, n, consts._replace(dalpha=h[k]), work)
        driver.item(j, self.n_rec, self.counts.__getitem__, 200, advance, record)

    def info(self):
        return {"sde_step": self.sde_step}


#: The simulators of :func:`symphase.simulate`, by name (docs/model.md §11, §12).
SIM_METHODS = {"weights": Weights, "overlaps": Overlaps, "sde": SDE}


def _lookup(kind, registry, base, method):
    if isinstance(method, type) and issubclass(method, base) and method is not base:
        return method
    if isinstance(method, str) and method in registry:
        return registry[method]
    raise ValueError(f"method must be one of {', '.join(map(repr, registry))}, or a {kind} class (a "
                     f"{base.__name__} subclass); got {method!r}")


def simulation_method(method) -> type:
    """The simulator class of ``method``: a name in :data:`SIM_METHODS` or a :class:`SimulationMethod`
    subclass.

    Raises
    ------
    ValueError
        Naming ``method`` and the registered names.
    """
    return _lookup("simulator", SIM_METHODS, SimulationMethod, method)


class ODEMethod:
    """An integrator of :func:`symphase.integrate` (registered in :data:`ODE_METHODS`).

    Attributes
    ----------
    name : str
        The registered name (``ODEResult.info["method"]``).
    fixed_step : bool
        A fixed step ``dt`` (else an adaptive step controlled by ``rtol``/``atol``).
    """

    name = ""
    fixed_step = False

    @classmethod
    def check_dt(cls, dt, alpha_max):
        """The validated fixed step (None for an adaptive method, which refuses ``dt``)."""
        if dt is not None:
            raise ValueError(f"dt is the fixed step of method='rk4'; method={cls.name!r} takes rtol/atol")
        return dt


class Adaptive(ODEMethod):
    """Dormand-Prince 5(4) with an adaptive step (``rtol``, ``atol``; :func:`symphase._integrators.dopri_segment`)."""

    name = "adaptive"


class RK4(ODEMethod):
    """Classical Runge-Kutta 4 with the fixed step ``dt`` (default 0.01; :func:`symphase._integrators.rk4_steps`)."""

    name = "rk4"
    fixed_step = True

    @classmethod
    def check_dt(cls, dt, alpha_max):
        dt = 0.01 if dt is None else check_real("dt", dt, positive=True)
        if dt * 2.0**62 < alpha_max:
            raise ValueError(f"dt must be a real number >= alpha_max / 2^62 = {alpha_max / 2.0**62:.3g} (a step "
                             f"count that fits in an integer), got {dt!r}")
        return dt


#: The integrators of :func:`symphase.integrate`, by name.
ODE_METHODS = {"adaptive": Adaptive, "rk4": RK4}


def ode_method(method) -> type:
    """The integrator class of ``method``: a name in :data:`ODE_METHODS` or an :class:`ODEMethod` subclass.

    Raises
    ------
    ValueError
        Naming ``method`` and the registered names.
    """
    return _lookup("integrator", ODE_METHODS, ODEMethod, method)
