"""The symmetric subspace (K = M, T = I) in reduced variables, for any K (docs/model.md §4).

``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``, ``R_in = S`` (n != i), ``g_i = g``.
Everything here evaluates ``symphase/_generated/symmetric.py``, which
``derivations/symmetric.py`` derives in SymPy with ``K`` a symbol (the field sums
split into index classes with counts polynomial in ``K``), from the same per-pair
rates and closed forms as the full ODE (``derivations/derive.py``).

* :func:`reduced_rhs`: the rates of ``(Q, C, R, S[, g])``;
* :func:`reduced_generalization_error`: ``eps_g`` (the paper's Eq. 13);
* :func:`reduced_gradient`, :func:`reduced_hessian`: the paper's Hessian on
  ``Omega = (R, S, Q)`` (plain) or ``(R, S, Q, g)`` (BN), ``C = Q`` substituted
  before differentiating (exact: SymPy ``diff``, then code);
* :func:`paper_fixed_point`: the fixed points the paper evaluates it at.
"""
from __future__ import annotations

import math

import numpy as np

from ._generated import symmetric as gen
from ._model import check_committee, check_model
from ._state import ReducedDerivative, ReducedRates, SymmetricState
from ._validate import check_real

PLAIN_NAMES = ("R", "S", "Q")
BN_NAMES = ("R", "S", "Q", "g")


def _check_model(model, two_layer=False):
    model = check_model(model).require_closed_form("the reduced equations (docs/model.md §4)")
    if not two_layer:
        check_committee(model, "the paper's reduced Hessian (docs/model.md §4.4)")
    elif model.activation != "erf" or not np.all(model.v_teacher == model.v_teacher[0]):
        raise ValueError("model: the reduced two-layer rates (docs/model.md §13) need activation='erf' and a "
                         f"uniform v_teacher; got {model.describe()}")
    if model.K != model.M:
        raise ValueError(f"K must equal M on the symmetric subspace (docs/model.md §4); got K={model.K}, M={model.M}")
    if not np.array_equal(model.T, np.eye(model.M)):
        raise ValueError("T must be the identity (orthonormal teachers) on the symmetric subspace (docs/model.md §4)")
    return model


def _check_gain(model, Q, g):
    """Validated ``(g, h)``: ``g`` (1 for plain) and the BN scale ``h = g/sqrt(tau Q)`` (1 for plain)."""
    if not model.has_bn:
        if g is not None:
            raise ValueError(f"g is only meaningful for a batch-norm model (bn='paper' or 'exact'); got g={g!r}")
        return 1.0, 1.0
    if g is None:
        raise ValueError("g must be given (a non-zero real number) for a batch-norm model")
    g = check_real("g", g)
    if g == 0:
        raise ValueError("g must be non-zero for a batch-norm model (BN divides by it); got g=0")
    if Q <= 0:
        raise ValueError(f"Q must be > 0 for a batch-norm model (BN divides by sqrt(Q)); got Q={Q!r}")
    return g, g / math.sqrt(model.tau * Q)


def _finite(values: dict, what: str) -> dict:
    for k, v in values.items():
        if not np.isfinite(v):
            raise ValueError(f"{what}: the Gaussian averages are undefined at this state "
                             f"({k} came out {v}); the effective covariance is not positive definite")
    return values


def reduced_rhs(model, Q, C, R, S, g=None, eta=0.0, *, v=None, eta2=None) -> ReducedRates:
    """Rates ``d(Q, C, R, S[, g])/dalpha`` on the symmetric subspace, for any K (docs/model.md §4.2).

    ``dQ/dalpha`` is the full ODE's ``dQ_ii/dalpha`` (docs/model.md §3.5), ``dC`` its ``dQ_ik``
    (i != k), ``dR`` its ``dR_ii``, ``dS`` its ``dR_in`` (n != i), ``dg`` its ``dg_i``, with
    every field sum ``sum_p w_p I3``, ``sum_pq w_p w_q I4`` split into index classes
    (derivations/symmetric.py): ``d(Q, C, R, S, g)/dalpha = eta lin + (eta^2/b) quad``.

    Parameters
    ----------
    model : Committee
        The model: ``K = M``, ``T = I``.
    Q, C, R, S : float
        ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``, ``R_in = S`` (n != i).
    g : float, optional
        The common BN gain: required (non-zero) under BN, with ``Q > 0``; None for plain.
    eta : float
        ``0`` (default): the ``O(eta)`` part per unit ``eta`` (the small learning rate limit,
        where the plateau of :func:`symmetric_fixed_point` and :func:`paper_fixed_point` lives,
        so ``0`` is the natural default here as there); ``> 0``: the full rates with
        ``b = model.batch``, the model's output noise and weight decay.
    v : float, optional
        The two-layer network (docs/model.md §13): every student's second-layer weight
        (default 1), a state variable when learned, else a parameter.
    eta2 : float, optional
        The second layer's learning rate (default ``eta``; a learned second layer only).

    Returns
    -------
    ReducedRates
        ``(Q, C, R, S, g, v)``: the rates ``dQ``, ``dC``, ``dR``, ``dS``; ``g`` under BN (0 with
        a fixed gain, None for plain) and ``v`` for a learned second layer (at ``eta = 0``: per
        unit ``eta2``; None when fixed). ``values()`` lists the rates that exist.

    Raises
    ------
    ValueError
        If ``K != M`` or ``T != I`` (docs/model.md §4.1), a value is not a finite
        real number, ``g`` is given for a plain model or missing/zero for BN, BN
        with ``Q <= 0``, or the Gaussian averages are undefined at the state.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> import symphase
    >>> p = symphase.paper_fixed_point(symphase.Committee(3, 3))
    >>> rates = symphase.reduced_rhs(symphase.Committee(3, 3), p.Q, p.C, p.R, p.S)
    >>> max(abs(v) for v in rates.values()) < 1e-15      # the plateau is a fixed point
    True
    """
    two_layer = not check_model(model).is_committee or v is not None or eta2 is not None
    model = _check_model(model, two_layer).require_sgd("reduced_rhs")
    Q, C, R, S = (check_real(n, x) for n, x in (("Q", Q), ("C", C), ("R", R), ("S", S)))
    eta = check_real("eta", eta, nonnegative=True)
    gv, h = _check_gain(model, Q, g)
    v = 1.0 if v is None else check_real("v", v)
    if eta2 is not None:
        if not model.learns_v:
            raise ValueError("eta2 is the second layer's learning rate: give it with second_layer='learned'")
        eta2 = check_real("eta2", eta2, positive=True)
    a = model.teacher_scale * float(model.v_teacher[0])  # the teachers' output weight c_M v*
    with np.errstate(all="ignore"):
        lQ, lC, lR, lS, lg_, lv, qQ, qC, wQ, wC, wR, wS, wg, wv = (float(x) for x in gen.rates(
            Q, C, R, S, gv, h, float(model.K), (model.tau, model.noise, float(model.exact), float(model.learns_gain)),
            (v, model.scale, a, model.weight_decay)))
    lin = {"Q": lQ, "C": lC, "R": lR, "S": lS, "g": lg_, "v": lv}
    if eta == 0:
        out = lin
    else:
        wd = {"Q": wQ, "C": wC, "R": wR, "S": wS, "g": wg, "v": wv}
        out = {k: wd[k] + (eta2 if k == "v" and eta2 is not None else eta) * lin[k] for k in lin}
        out["Q"] += eta**2 / model.batch * qQ
        out["C"] += eta**2 / model.batch * qC
    if not model.has_bn:
        del out["g"]
    if not model.learns_v:
        del out["v"]
    return ReducedRates(**_finite(out, "Q, C, R, S"))


def reduced_generalization_error(model, Q, C, R, S, g=None) -> float:
    """The generalization error ``eps_g`` on the symmetric subspace, for any K (docs/model.md §4.2).

    ``eps_g = (K/pi)[asin(tau/(1+tau)) + asin(a/(1+a)) + (K-1) asin(c/(1+a))
    - 2 asin(r/sqrt((1+a)(1+tau))) - 2(K-1) asin(s/sqrt((1+a)(1+tau)))]``, the paper's Eq. 13 on
    the symmetric subspace with the effective overlaps ``a = tau h^2 Q``, ``c = tau h^2 C``,
    ``r = tau h R``, ``s = tau h S`` (``h = 1`` plain, ``g/sqrt(tau Q)`` BN).

    Parameters
    ----------
    model : Committee
        The model: ``K = M``, ``T = I``.
    Q, C, R, S : float
        ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``, ``R_in = S`` (n != i).
    g : float, optional
        The common BN gain (required under BN); None for plain.

    Returns
    -------
    float
        ``eps_g``.

    Raises
    ------
    ValueError
        If ``K != M`` or ``T != I`` (docs/model.md §4.1), a value is not a finite
        real number, ``g`` is given for a plain model or missing/zero for BN, BN
        with ``Q <= 0``, or the Gaussian averages are undefined at the state.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> import math
    >>> import symphase
    >>> K = 2                                   # Saad & Solla: (K/pi)(pi/6 - K asin(1/(2K)))
    >>> eg = symphase.reduced_generalization_error(symphase.Committee(K, K), 1/3, 1/3, 6**-0.5, 6**-0.5)
    >>> abs(eg - K / math.pi * (math.pi / 6 - K * math.asin(1 / (2 * K)))) < 1e-15
    True
    """
    model = _check_model(model)
    Q, C, R, S = (check_real(n, v) for n, v in (("Q", Q), ("C", C), ("R", R), ("S", S)))
    _, h = _check_gain(model, Q, g)
    with np.errstate(all="ignore"):
        v = float(gen.generalization_error(Q, C, R, S, h, float(model.K), model.tau))
    return _finite({"eps_g": v}, "Q, C, R, S")["eps_g"]


def _omega(model, R, S, Q, g):
    model = _check_model(model)
    R, S, Q = (check_real(n, v) for n, v in (("R", R), ("S", S), ("Q", Q)))
    if not model.has_bn:
        _check_gain(model, Q, g)
        if Q <= -1 / model.tau:
            raise ValueError(f"Q must be > -1/tau (eps_g divides by sqrt(1 + tau Q)); got Q={Q!r}")
        return model, (R, S, Q), PLAIN_NAMES
    gv, _ = _check_gain(model, Q, g)
    return model, (R, S, Q, gv), BN_NAMES


def _evaluate(what, plain_fn, bn_fn, model, R, S, Q, g):
    """A generated reduced-coordinate function (plain or BN) at ``Omega``, checked finite."""
    model, om, names = _omega(model, R, S, Q, g)
    fn = plain_fn if not model.has_bn else bn_fn
    with np.errstate(all="ignore"):
        out = np.array(fn(*om, float(model.K), model.tau), dtype=float)
    _finite({what: float(np.sum(out))}, ", ".join(names))
    return out, names


def reduced_gradient(model, R, S, Q, g=None):
    """The gradient ``d eps_g/dOmega`` of the reduced ``eps_g`` with ``C = Q`` substituted (docs/model.md §4.4).

    ``Omega = (R, S, Q)`` (plain) or ``(R, S, Q, g)`` (BN), as in the paper's §3
    (Takagi, Yoshida & Okada 2020); exact (SymPy ``diff`` in derivations/symmetric.py).
    It does not vanish at the plateau (docs/model.md §7.4).

    Parameters
    ----------
    model : Committee
        The model: ``K = M``, ``T = I``.
    R, S, Q : float
        The reduced coordinates (``C = Q``).
    g : float, optional
        The common BN gain (required under BN); None for plain.

    Returns
    -------
    ReducedDerivative
        ``(value, names)``: ``value`` (3,) or (4,), ``d eps_g/dOmega`` in the order of ``names``,
        ``("R", "S", "Q")`` or ``("R", "S", "Q", "g")``.

    Raises
    ------
    ValueError
        If ``K != M`` or ``T != I`` (docs/model.md §4.1), a value is not a finite
        real number, ``g`` is given for a plain model or missing/zero for BN, BN
        with ``Q <= 0``, or the Gaussian averages are undefined at the state.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.
    """
    return ReducedDerivative(*_evaluate("gradient", gen.gradient_plain, gen.gradient_bn, model, R, S, Q, g))


def reduced_hessian(model, R, S, Q, g=None):
    """The paper's Hessian ``H = d^2 eps_g / dOmega dOmega`` with ``C = Q`` substituted (docs/model.md §4.4).

    ``C = Q`` is substituted into the reduced ``eps_g`` before differentiating,
    ``Omega = (R, S, Q)`` for plain and ``(R, S, Q, g)`` for BN (Takagi, Yoshida &
    Okada 2020, §3). Exact: SymPy ``diff`` of the reduced ``eps_g``
    (derivations/symmetric.py), any K.

    Parameters
    ----------
    model : Committee
        The model: ``K = M``, ``T = I``.
    R, S, Q : float
        The reduced coordinates (``C = Q``).
    g : float, optional
        The common BN gain (required under BN); None for plain.

    Returns
    -------
    ReducedDerivative
        ``(value, names)``: ``value`` (3, 3) or (4, 4), the symmetric Hessian in the order of
        ``names``, ``("R", "S", "Q")`` or ``("R", "S", "Q", "g")``.

    Raises
    ------
    ValueError
        If ``K != M`` or ``T != I`` (docs/model.md §4.1), a value is not a finite
        real number, ``g`` is given for a plain model or missing/zero for BN, BN
        with ``Q <= 0``, or the Gaussian averages are undefined at the state.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> import numpy as np
    >>> import symphase
    >>> model = symphase.Committee(2, 2)
    >>> p = symphase.paper_fixed_point(model)
    >>> H, names = symphase.reduced_hessian(model, p.R, p.S, p.Q)
    >>> names, np.round(np.linalg.eigvalsh(H), 3)           # the paper's Fig. 1 at K = 2
    (('R', 'S', 'Q'), array([-1.441, -0.131,  0.027]))
    """
    return ReducedDerivative(*_evaluate("Hessian", gen.hessian_plain, gen.hessian_bn, model, R, S, Q, g))


def paper_fixed_point(model) -> SymmetricState:
    """The symmetric fixed points at which the paper evaluates its Hessian (docs/model.md §4.3).

    All closed forms, with ``D = K + (K-1) tau``:

    * plain: ``Q = C = 1/D``, ``R = S = 1/sqrt(K D)`` (Saad & Solla 1995 at ``tau = 1``:
      ``1/(2K-1)``, ``1/sqrt(K(2K-1))``; for ``tau != 1`` the plain point with input variance
      ``tau``: derived here, the ``O(eta)`` reduced rates vanish there identically in K and tau,
      a check of derivations/symmetric.py);
    * BN (either rule, learned or fixed gain): the paper's ``R* = S* = sqrt(D/(tau K))``,
      ``Q* = C* = D/tau``, ``g* = sqrt(tau/D)`` (its choice ``Q = 1/g^2`` of the family
      ``R ~ sqrt(Q)`` of fixed points); the ``O(eta)`` rates of both rules vanish there
      (same check). No numerical solution is involved.

    Parameters
    ----------
    model : Committee
        The model: ``K = M``, ``T = I``.

    Returns
    -------
    SymmetricState
        ``(Q, C, R, S, g)``, ``g`` None for plain; ``reduced_rhs(model, *state)`` evaluates the
        rates there.

    Raises
    ------
    ValueError
        If ``K != M`` or ``T != I``.
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.

    Examples
    --------
    >>> import symphase
    >>> symphase.paper_fixed_point(symphase.Committee(2, 2, bn="paper"))
    SymmetricState(Q=3.0, C=3.0, R=1.224744871391589, S=1.224744871391589, g=0.5773502691896257)
    """
    model = _check_model(model)
    K, tau = model.K, model.tau
    D = K + (K - 1) * tau
    if not model.has_bn:
        q, r = 1 / D, 1 / math.sqrt(K * D)
        return SymmetricState(q, q, r, r)
    q, r = D / tau, math.sqrt(D / (tau * K))
    return SymmetricState(q, q, r, r, math.sqrt(tau / D))
