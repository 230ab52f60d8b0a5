"""The learning rules: each is one entry of :data:`RULES` (docs/model.md §2.4, "Adding a rule").

A rule says how one example moves the weights. It is three Numba kernels:

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
``rate_moments_with``, ``sde_example_steps_with``); :attr:`Rule.kernels` binds them, with the signatures
of the SGD kernels the drivers call (:func:`symphase._sgd.sgd_steps`,
:func:`symphase._overlap_sgd.overlap_steps`, :func:`symphase._fluctuations.rate_moments`,
:func:`symphase._fluctuations.sde_example_steps`). SGD's are those module-level kernels themselves (cached
on disk); another rule's are compiled on first use in each process (its moments kernel is a
closure over its ``example`` and ``rates``, which Numba does not cache).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numba
from numba.core.registry import CPUDispatcher

from ._fluctuations import rate_moments, rate_moments_with, sde_example_steps, sde_example_steps_with, sgd_rates
from ._generated.rule import sgd_example
from ._kernels import rhs
from ._overlap_sgd import overlap_steps, overlap_steps_with
from ._sgd import sgd_steps, sgd_steps_with

#: What a rule can declare it supports: the simulators (``weights``, ``overlaps``, ``sde``), BN with
#: the batch's own statistics (``batch_stats``), the two-layer network (``two_layer``) and ReLU.
FEATURES = frozenset({"weights", "overlaps", "sde", "batch_stats", "two_layer", "relu"})


class Kernels(NamedTuple):
    """A rule's engine kernels, with the signatures of SGD's.

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
    """

    sgd_steps: Callable
    overlap_steps: Callable
    rate_moments: Callable
    sde_steps: Callable


@dataclass(frozen=True, eq=False)
class Rule:
    """A learning rule: its kernels and what it supports (module docstring).

    Parameters
    ----------
    name : str
        The registry key (:data:`RULES`).
    example, rates, drift : numba dispatcher
        The per-example coefficient kernel, the per-example rates and the ODE's right-hand side
        (``numba.njit`` functions; signatures in the module docstring).
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
        for part in ("example", "rates", "drift"):
            if not isinstance(getattr(self, part), CPUDispatcher):
                raise TypeError(f"rule {self.name!r}: {part} must be a numba.njit function, "
                                f"got {type(getattr(self, part)).__name__}")
        unknown = set(self.supports) - FEATURES
        if unknown:
            raise ValueError(f"rule {self.name!r}: supports has unknown features {sorted(unknown)}; "
                             f"allowed: {sorted(FEATURES)}")
        object.__setattr__(self, "supports", frozenset(self.supports))

    @functools.cached_property
    def kernels(self) -> Kernels:
        """The engines bound to this rule's kernels (:class:`Kernels`)."""
        if self is SGD:
            return Kernels(sgd_steps, overlap_steps, rate_moments, sde_example_steps)
        example, rates = self.example, self.rates

        @numba.njit(nogil=True, error_model="numpy")
        def moments(Q, R, g, T, par, b, has_gain, points, weights, work):
            return rate_moments_with(example, rates, Q, R, g, T, par, b, has_gain, points, weights, work)

        return Kernels(functools.partial(sgd_steps_with, self.example),
                       functools.partial(overlap_steps_with, self.example), moments,
                       functools.partial(sde_example_steps_with, example, rates, self.drift))

    def __repr__(self):
        return f"Rule({self.name!r})"


#: Plain SGD, and both BN rules through the model's ``bn`` (docs/model.md §2).
SGD = Rule("sgd", sgd_example, sgd_rates, rhs, FEATURES,
           "online SGD: J_i += (eta/(N b)) m_i h_i d_i (xi - e x_i J_i/Q_ii) (docs/model.md §2)")

#: The registered rules by name.
RULES: dict[str, Rule] = {"sgd": SGD}


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
    return rule


def unregister(name: str) -> None:
    """Remove the rule ``name`` (not ``"sgd"``) from :data:`RULES`."""
    if name == "sgd":
        raise ValueError("rule 'sgd' cannot be unregistered")
    RULES.pop(name, None)


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
