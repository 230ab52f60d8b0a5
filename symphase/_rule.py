"""The learning rules: each is one entry of :data:`RULES` (docs/model.md §2.4, "Adding a rule").

A rule says how the examples move the weights. The model names it: ``Committee(preconditioner=None)`` is
SGD (``RULES["sgd"]``), ``preconditioner=name`` the rule registered as ``name`` (:func:`for_model`). Every
engine runs a rule through its :class:`Kernels` (:meth:`Rule.bind`): the simulator on the weights, the exact
chain in overlap space, the diffusion moments and the SDE, and the ODE's right-hand side with its two
integrators. A rule also declares what it ``supports`` (:data:`FEATURES`); what it does not support is
refused by name.

An *example rule* (:class:`Rule`) acts example by example in ``span(J, B, xi)``; it is three Numba kernels:

``example(x, y, noise, state, consts, out) -> Delta``
    The per-example coefficients of the update in ``span(J, B, xi)``: ``J_i += a_i xi - p_i J_i``,
    ``g_i += dg_i``, ``v_i += dv_i``, written into ``out = (d, a, p, dg, dv)`` (``d`` the error
    signals); the signature of :func:`symphase._generated.rule.sgd_example` (its docstring names
    ``state`` and ``consts``). The simulator on the weights and the exact chain in overlap space
    apply it (they sum a batch and add weight decay once per step); the diffusion moments read its
    error signals.
``rates(z, d, h, Q, R, g, eta, switches, psi)``
    The per-example rates ``psi`` of the order parameters (``N ->`` oo, per unit ``alpha``), whose
    covariance is the diffusion matrix (:func:`symphase._fluctuations.sgd_rates`).
``drift(y, f, ka)``
    The ODE's right-hand side, the average of the rates (:func:`symphase._kernels.rhs`).

For SGD all three come from one derivation (``derivations/rule.py`` derives the coefficients,
``derivations/derive.py`` and ``derivations/fluctuations.py`` the rates and the ODE from them). The
engines take a rule's kernels as their first arguments (``sgd_steps_with``, ``overlap_steps_with``,
``rate_moments_with``, ``sde_example_steps_with``, ``rk4_steps_with``, ``dopri_segment_with``);
:meth:`Rule.bind` binds them, with the signatures of the SGD kernels the drivers call. SGD's are those
module-level kernels themselves (cached on disk); another example rule's are compiled on first use in each
process (closures over its kernels, which Numba does not cache).

A *preconditioned rule* (:class:`Preconditioned`, docs/model.md §14) multiplies a whole step of SGD by
``(F + eps I)^-1``, the damped population Fisher at the current weights: it mixes all of a step's coefficients,
so it supplies whole-step kernels (:mod:`symphase._natural`, :mod:`symphase._natural_ode`), bound to the
model's ``damping``.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from . import _adaptive as ada
from . import _fluctuations as _fl
from . import _integrators as _int
from . import _kernels as _kern
from . import _natural as nat
from . import _natural_integrators as nat_int
from . import _natural_ode as nat_ode
from . import _natural_sde as nat_sde
from . import _overlap_sgd as _ov
from . import _sgd
from ._fluctuations import rate_moments_with, sde_example_steps_with, sgd_rates
from ._generated.rule import sgd_example
from ._integrators import dopri_segment_with, rk4_steps_with
from ._kernels import rhs
from ._model import LEARNING_RULES, PRECONDITIONERS, RULE_FEATURES, rule_for
from ._overlap_sgd import overlap_steps_with
from ._results import SymphaseError
from ._sgd import sgd_steps_with

#: What a rule can declare it supports (:data:`symphase._model.RULE_FEATURES`).
FEATURES = RULE_FEATURES


def _same(ka):
    return ka


class Kernels(NamedTuple):
    """A rule's engine kernels, with the signatures of SGD's (None: not supported).

    Attributes
    ----------
    sgd_steps : callable
        The simulator on the weights (:func:`symphase._sgd.sgd_steps`).
    overlap_steps : callable
        The exact chain in overlap space (:func:`symphase._overlap_sgd.overlap_steps`).
    rate_moments : callable
        The moments of the per-example rates (:func:`symphase._fluctuations.rate_moments`).
    sde_steps : callable
        The diffusion approximation (:func:`symphase._fluctuations.sde_example_steps`).
    drift : callable
        The ODE's right-hand side ``drift(y, out, args)`` (:func:`symphase._kernels.rhs`).
    rk4_steps, dopri_segment : callable
        The ODE's integrators (:func:`symphase._integrators.rk4_steps`,
        :func:`symphase._integrators.dopri_segment`); their ``sa.ka`` is the drift's ``args``.
    drift_args : callable
        ``drift_args(ka)``: the drift's ``args`` from the model's :data:`symphase._kernels.KernelArgs`
        (:meth:`symphase.System.args`); for SGD ``ka`` itself.
    sde_setup : callable
        ``sde_setup(model, N, eta, T=None, dalpha=0.0, blowup=1e6) -> (args, consts, work)``: the records of
        ``sde_steps`` (:func:`symphase._fluctuations.sde_setup`).
    sde_step : callable
        ``sde_step(model, eta, *states)``: the scheme's default step in ``alpha`` for paths through
        ``states`` (flat states; :func:`symphase._fluctuations.sde_step`).
    weight_args : callable
        ``weight_args(model, par, B, *, blowup, batch_stats)``: one seed's record of ``sgd_steps``
        (:func:`symphase._sgd.weight_args`); a rule with a state of its own per seed (``adaptive``'s
        ``G^-1``) returns a record that carries it.
    step_cost : callable, optional
        ``step_cost(model, N)``: multiply-adds of one step of ``sgd_steps``, where it is not SGD's
        ``N b (K + M + 2)`` (the simulator sizes its kernel calls by it: Ctrl-C and progress every ~0.1 s).
    """

    sgd_steps: Callable
    overlap_steps: Callable
    rate_moments: Callable
    sde_steps: Callable
    drift: Callable = None
    rk4_steps: Callable = None
    dopri_segment: Callable = None
    drift_args: Callable = _same
    sde_setup: Callable = None
    sde_step: Callable = None
    weight_args: Callable = _sgd.weight_args
    step_cost: Callable = None


@dataclass(frozen=True, eq=False)
class Rule:
    """An example rule: its kernels and what it supports (module docstring).

    Parameters
    ----------
    name : str
        The registry key (:data:`RULES`), and the model's ``preconditioner`` that selects it (``"sgd"``:
        ``preconditioner=None``).
    example, rates, drift : numba dispatcher
        The per-example coefficient kernel, the per-example rates and the ODE's right-hand side
        (``numba.njit`` functions; signatures in the module docstring). ``rates`` may be None for a rule
        that does not support ``"sde"``.
    supports : frozenset of str
        A subset of :data:`FEATURES`.
    doc : str
        One line: what the rule is.
    """

    name: str
    example: Callable
    rates: Callable
    drift: Callable
    supports: frozenset = FEATURES
    doc: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"rule name must be an identifier string, got {self.name!r}")
        unknown = set(self.supports) - FEATURES
        if unknown:
            raise ValueError(f"rule {self.name!r}: supports has unknown features {sorted(unknown)}; "
                             f"allowed: {sorted(FEATURES)}")
        object.__setattr__(self, "supports", frozenset(self.supports))
        for part in ("example", "rates", "drift"):
            if part == "rates" and self.rates is None and (isinstance(self, Preconditioned) or "sde" not in
                                                           self.supports):
                continue  # a preconditioned rule's per-example rates are its own kernels (bind)
            if part == "drift" and self.drift is None and "ode" not in self.supports:
                continue  # a rule without an ODE (adaptive: simulation on the weights only)
            if not isinstance(getattr(self, part), CPUDispatcher):
                raise TypeError(f"rule {self.name!r}: {part} must be a numba.njit function, "
                                f"got {type(getattr(self, part)).__name__}")

    @property
    def kernels(self) -> Kernels:
        """The engines bound to this rule's kernels (:class:`Kernels`). SGD's are the engines' module-level
        kernels, read when asked (a test may patch them); another rule's are compiled once."""
        if self is SGD:
            return Kernels(_sgd.sgd_steps, _ov.overlap_steps, _fl.rate_moments, _fl.sde_example_steps, _kern.rhs,
                           _int.rk4_steps, _int.dopri_segment, _same, _fl.sde_setup, _fl.sde_step)
        return self._bound

    @functools.cached_property
    def _bound(self) -> Kernels:
        example, rates, drift = self.example, self.rates, self.drift
        moments = sde = None
        if rates is not None:
            @numba.njit(nogil=True, error_model="numpy")
            def moments(Q, R, g, T, par, b, has_gain, points, weights, work):
                return rate_moments_with(example, rates, Q, R, g, T, par, b, has_gain, points, weights, work)

            sde = functools.partial(sde_example_steps_with, example, rates, drift)

        @numba.njit
        def rk4(y, a0, h, s0, n, sa):
            return rk4_steps_with(drift, y, a0, h, s0, n, sa)

        @numba.njit
        def dopri(y, a, a_end, h, h_min, max_steps, chunk, sa):
            return dopri_segment_with(drift, y, a, a_end, h, h_min, max_steps, chunk, sa)

        return Kernels(functools.partial(sgd_steps_with, example), functools.partial(overlap_steps_with, example),
                       moments, sde, drift, rk4, dopri, _same, _fl.sde_setup, _fl.sde_step)

    def bind(self, model) -> Kernels:
        """The kernels that run ``model`` under this rule (:class:`Kernels`; an example rule's do not depend
        on the model)."""
        return self.kernels

    def jacobian(self, model, y, eta: float, part: str = "full") -> np.ndarray:
        """The Jacobian of the rule's ODE at the flat state ``y`` (docs/model.md §5.1): SGD's exactly, by
        complex-step differentiation (:meth:`symphase.System.jacobian`); another example rule's is not built
        (``ValueError``)."""
        if self is not SGD:
            raise ValueError(f"preconditioner: the fixed points' Jacobian is built for SGD and the preconditioned "
                             f"rules, not for rule {self.name!r}")
        return model.system.jacobian(y, eta, part=part)

    def escape_rate(self, fp) -> float:
        """The escape rate of the fixed point ``fp``: the largest real part of its Jacobian's eigenvalues."""
        return float(np.max(np.real(fp.jacobian_eigenvalues)))

    def __repr__(self):
        return f"Rule({self.name!r})"


@dataclass(frozen=True, eq=False, repr=False)
class Preconditioned(Rule):
    """A preconditioned rule ``Delta theta = (F_p + eps I)^-1 Delta theta_SGD`` (docs/model.md §14): ``F_p`` the
    population Fisher (``mode`` :data:`symphase._natural.NATURAL`) or its blocks of one unit each
    (:data:`symphase._natural.UNITWISE`), ``eps`` the model's ``damping``. Its kernels are whole steps
    (:func:`symphase._natural.natural_steps`, :func:`symphase._natural.natural_overlap_steps`) and its own ODE
    (:func:`symphase._natural_ode.drift`), bound to the model's damping by :meth:`bind`."""

    mode: int = nat.NATURAL

    @property
    def kernels(self):
        raise TypeError(f"rule {self.name!r}: its kernels depend on the model's damping; use bind(model)")

    def bind(self, model) -> Kernels:
        mode, eps = self.mode, float(model.damping)

        def weights(Jt, g, v, n, s, wa):
            return nat.natural_steps(Jt, g, v, n, s, wa, mode, eps)

        def chain(Q, R, g, v, n, s, ca):
            return nat.natural_overlap_steps(Q, R, g, v, n, s, ca, mode, eps)

        pre = nat_sde.Preconditioning(mode, eps)

        def moments(Q, R, g, T, par, b, has_gain, points, weights, work):
            return nat_sde.natural_rate_moments(Q, R, g, T, par, b, has_gain, pre, points, weights, work)

        return Kernels(weights, chain, moments, nat_sde.natural_sde_steps, nat_ode.drift, nat_int.rk4_steps,
                       nat_int.dopri_segment, functools.partial(nat_ode.drift_args, mode=mode, damping=eps),
                       nat_sde.natural_sde_setup, nat_sde.natural_sde_step)

    def jacobian(self, model, y, eta: float, part: str = "full") -> np.ndarray:
        """The Jacobian of the ``O(eta)`` part per unit ``eta`` (``part="linear"``;
        :func:`symphase._natural_ode.jacobian`, five-point differences, about ``1e-13``)."""
        if part != "linear":
            raise ValueError(f"eta: the Jacobian of preconditioner={self.name!r} is built for its O(eta) part, per "
                             f"unit eta (the fixed point at eta = 0), got part={part!r}")
        return nat_ode.jacobian(model, y)

    def escape_rate(self, fp) -> float:
        """Plain: the largest real part of the ODE's Jacobian. Under BN, at the plateau where the students
        coincide (``Q`` singular, so the BN kernel's basis of ``span(J)`` does not exist), the weight-space
        rate ``-mu_min`` of ``H v = mu (F_p + eps I) v`` (:func:`symphase._natural_ode.weight_space_rates`);
        the two agree for plain (docs/model.md §14.6)."""
        if fp.model.has_bn:
            if fp.model.bn == "paper":
                raise ValueError("bn: the paper's BN rule is not a gradient; the escape rate of a preconditioned "
                                 "update at its fixed point is built for plain and bn='exact'")
            try:
                return super().escape_rate(fp)
            except SymphaseError:
                return float(nat_ode.weight_space_rates(fp.model, fp.Q, fp.R, fp.g)[0])
        return super().escape_rate(fp)


def _adaptive_cost(model, N):
    """Multiply-adds of one adaptive step: about ``4 P^2`` per example (docs/model.md §14.9)."""
    P = ada.n_parameters(model, N)
    return 4 * P * P * model.batch


@dataclass(frozen=True, eq=False, repr=False)
class Adaptive(Rule):
    """Amari, Park & Fukumizu's (2000) adaptive natural gradient on the weights (docs/model.md §14.9): the step
    ``Delta theta = G^-1 Delta theta_SGD`` with an online estimate ``G^-1`` of ``(F + eps I)^-1`` that each example
    updates, ``G^-1 <- (1 + e_t) G^-1 - e_t (G^-1 grad s)(G^-1 grad s)^T`` and a damping term on a row of ``G^-1``
    (:mod:`symphase._adaptive`; ``eps`` the model's ``damping``). ``G^-1`` is a state
    of each seed (``P x P``, ``P = N K (+ K)``), carried in the record of
    :func:`symphase._adaptive.adaptive_weight_args`; simulation on the weights only (no order-parameter theory),
    so it supports ``{"weights"}``."""

    @property
    def kernels(self):
        raise TypeError(f"rule {self.name!r}: its kernels take a per-seed record; use bind(model)")

    def bind(self, model) -> Kernels:
        """The weights kernel :func:`symphase._adaptive.adaptive_steps` and its per-seed record
        :func:`symphase._adaptive.adaptive_weight_args` (the other engines: None, not supported)."""
        return Kernels(ada.adaptive_steps, None, None, None, weight_args=ada.adaptive_weight_args,
                       step_cost=_adaptive_cost)


#: Plain SGD, and both BN rules through the model's ``bn`` (docs/model.md §2).
SGD = Rule("sgd", sgd_example, sgd_rates, rhs, FEATURES,
           "online SGD: J_i += (eta/(N b)) m_i h_i d_i (xi - e x_i J_i/Q_ii) (docs/model.md §2)")

#: The preconditioned rules of docs/model.md §14 (committee machine, plain and both BN rules, population
#: statistics).
NATURAL = Preconditioned("natural", sgd_example, None, nat_ode.drift,
                         frozenset({"weights", "overlaps", "sde", "ode"}),
                         "natural gradient: Delta theta = (F + eps I)^-1 Delta theta_SGD, F the population Fisher "
                         "(docs/model.md §14)", mode=nat.NATURAL)
UNITWISE = Preconditioned("unitwise", sgd_example, None, nat_ode.drift,
                          frozenset({"weights", "overlaps", "sde", "ode"}),
                          "unit-wise natural gradient: F's diagonal blocks, one per hidden unit with its gain "
                          "(docs/model.md §14)", mode=nat.UNITWISE)

#: Adaptive natural gradient (docs/model.md §14.9; committee machine, plain and both BN rules, population
#: statistics; simulation on the weights only).
ADAPTIVE = Adaptive("adaptive", sgd_example, None, None, frozenset({"weights"}),
                    "adaptive natural gradient: Delta theta = G^-1 Delta theta_SGD, G^-1 <- (1 + e) G^-1 "
                    "- e (G^-1 grad s)(G^-1 grad s)^T - e eps P (G^-1 e_k)(G^-1 e_k)^T per example (Amari, Park & "
                    "Fukumizu 2000; docs/model.md §14.9)")

#: The registered rules by name: the model's registry (:data:`symphase._model.LEARNING_RULES`), which
#: :func:`symphase._model.rule_for` reads for every driver.
RULES: dict[str, Rule] = LEARNING_RULES
RULES.update({"sgd": SGD, "natural": NATURAL, "unitwise": UNITWISE, "adaptive": ADAPTIVE})


def register(rule: Rule) -> Rule:
    """Add ``rule`` to :data:`RULES` under ``rule.name`` (a name already taken is refused).

    Parameters
    ----------
    rule : Rule

    Returns
    -------
    Rule
        ``rule``.

    Raises
    ------
    TypeError
        ``rule`` is not a :class:`Rule`.
    ValueError
        Its name is taken.
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a symphase._rule.Rule, got {type(rule).__name__}")
    if rule.name in RULES:
        raise ValueError(f"rule name {rule.name!r} is already registered ({sorted(RULES)})")
    RULES[rule.name] = rule
    if rule.name not in PRECONDITIONERS:
        PRECONDITIONERS.append(rule.name)  # the model's preconditioner now accepts it (symphase._model)
    return rule


def unregister(name: str) -> None:
    """Remove the rule ``name`` (not ``"sgd"``) from :data:`RULES`."""
    if name in _BUILT_IN:
        raise ValueError(f"rule {name!r} cannot be unregistered (built in: {sorted(_BUILT_IN)})")
    if RULES.pop(name, None) is not None and name in PRECONDITIONERS:
        PRECONDITIONERS.remove(name)


_BUILT_IN = frozenset(RULES)


def for_model(model, what: str = "", needs: str = "") -> Rule:
    """:func:`symphase._model.rule_for`: the rule that ``model`` names, checked to support ``needs``."""
    return rule_for(model, what, needs)


def get_rule(name) -> Rule:
    """The registered rule ``name``.

    Raises
    ------
    ValueError
        ``name`` is not registered (the message names the registered rules).
    """
    if isinstance(name, Rule):
        return name
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {name!r}") from None
