"""One state of the order parameters: the public record :class:`State`, how a state or
a start is passed to the API (:func:`as_state`), the named records the one-state
functions return (:class:`Rates`, :class:`ReducedRates`, :class:`Diffusion`), and
the validation of a state (docs/model.md §3.1-3.2).

Shared by the model and its compiled system (:mod:`symphase._model`) and the
API; it reads the model's sizes, rule and ``T`` only, so it sits below them. The
vocabulary is docs/vocabulary.md.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ._validate import check_array


class State(NamedTuple):
    """One state of the order parameters, as every function of the API takes it (docs/vocabulary.md).

    A start (``integrate``, ``simulate``, ``compare``, ``escape_time``: ``start=``) and a state
    (``rhs``, ``generalization_error``, ``curvature``, ``diffusion_matrix``: the argument after
    the model) are one argument: a ``State``, a plain tuple ``(Q, R[, g[, v]])`` in the same
    order, or a :class:`~symphase.FixedPoint` (its ``Q``, ``R``, ``g``, ``v``). The functions
    that draw random weights also take ``"random"`` (their default).

    Attributes
    ----------
    Q : array_like (K, K)
        Student-student overlaps ``Q_ik = J_i.J_k`` (symmetric; with ``R`` and ``model.T`` a
        positive semi-definite Gram matrix).
    R : array_like (K, M)
        Student-teacher overlaps ``R_in = J_i.B_n``.
    g : array_like (K,), optional
        The BN gains (default ones under BN; must be None for the plain network).
    v : array_like (K,), optional
        The student's second layer (default ones; docs/model.md §13), learned or fixed.

    Examples
    --------
    >>> import numpy as np, symphase
    >>> model = symphase.Committee(2, 2)
    >>> start = symphase.State(Q=0.5 * np.eye(2), R=0.1 * np.ones((2, 2)))
    >>> res = symphase.integrate(model, 0.5, 10.0, start=start)
    >>> res.status, res.Q.shape[1:]
    (<Status.COMPLETED: 'completed'>, (2, 2))
    """

    Q: Any
    R: Any
    g: Any = None
    v: Any = None


class SymmetricState(NamedTuple):
    """A state on the symmetric subspace (K = M, T = I; docs/model.md §4.1), as
    :func:`symphase.paper_fixed_point` returns it: ``Q_ii = Q``, ``Q_ik = C`` (i != k),
    ``R_ii = R``, ``R_in = S`` (n != i), the common BN gain ``g`` (None for plain). In the
    order :func:`symphase.reduced_rhs` takes them: ``reduced_rhs(model, *state)``.

    Attributes
    ----------
    Q, C, R, S : float
    g : float or None
    """

    Q: float
    C: float
    R: float
    S: float
    g: float | None = None


class Weights(NamedTuple):
    """Weights of the student and the teacher (:func:`symphase.random_weights`,
    :func:`symphase.weights_from_overlaps`).

    Attributes
    ----------
    J : ndarray (K, N)
        The student's first-layer weights.
    B : ndarray (M, N)
        The teacher's.
    """

    J: np.ndarray
    B: np.ndarray


class Overlaps(NamedTuple):
    """The order parameters of weights (:func:`symphase.overlaps`, docs/model.md §3.1).

    Attributes
    ----------
    Q : ndarray (K, K)
        ``J J^T``.
    R : ndarray (K, M)
        ``J B^T``.
    T : ndarray (M, M)
        ``B B^T``.
    """

    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray


class ReducedDerivative(NamedTuple):
    """A derivative of the reduced ``eps_g`` in the paper's coordinates ``Omega``
    (:func:`symphase.reduced_gradient`, :func:`symphase.reduced_hessian`; docs/model.md §4.4).

    Attributes
    ----------
    value : ndarray (n,) or (n, n)
        The gradient or the (symmetric) Hessian, in the order of ``names``.
    names : tuple of str
        ``("R", "S", "Q")``, or ``("R", "S", "Q", "g")`` under BN.
    """

    value: np.ndarray
    names: tuple


class Rates(NamedTuple):
    """The right-hand side of the order-parameter ODEs at one state (:func:`symphase.rhs`).

    Attributes
    ----------
    dQ : ndarray (K, K)
        ``dQ_ik/dalpha``.
    dR : ndarray (K, M)
        ``dR_in/dalpha``.
    dg : ndarray (K,) or None
        ``dg_i/dalpha`` under BN (zeros with a fixed gain), None for the plain network.
    dv : ndarray (K,) or None
        ``dv_i/dalpha`` for a learned second layer, None when it is fixed.
    """

    dQ: np.ndarray
    dR: np.ndarray
    dg: np.ndarray | None
    dv: np.ndarray | None


class ReducedRates(NamedTuple):
    """The rates on the symmetric subspace (:func:`symphase.reduced_rhs`, docs/model.md §4.2):
    ``dQ_ii``, ``dQ_ik`` (i != k), ``dR_ii``, ``dR_in`` (n != i) of the full ODE per ``dalpha``.

    Attributes
    ----------
    Q, C, R, S : float
        The rates of ``Q_ii = Q``, ``Q_ik = C``, ``R_ii = R``, ``R_in = S``.
    g : float or None
        The rate of the common BN gain (0 with a fixed gain), None for the plain network.
    v : float or None
        The rate of the common second-layer weight when it is learned, else None.
    """

    Q: float
    C: float
    R: float
    S: float
    g: float | None = None
    v: float | None = None

    def items(self):
        """The rates that exist (not None), as ``(name, value)`` pairs."""
        return [(k, val) for k, val in zip(self._fields, self) if val is not None]

    def values(self):
        """The rates that exist (not None)."""
        return [val for _, val in self.items()]


class Diffusion(NamedTuple):
    """The diffusion matrix of the order parameters at one state (:func:`symphase.diffusion_matrix`).

    Attributes
    ----------
    D : ndarray (size, size)
        ``Cov[y(alpha + d alpha) | y] = D d alpha / N`` in the flat layout.
    labels : tuple of str
        The name of each row and column (:meth:`symphase.StateLayout.labels`).
    part : str
        ``"full"`` or ``"linear"`` (its ``eta^2`` part).
    """

    D: np.ndarray
    labels: tuple
    part: str


#: What a state is, in error messages.
STATE_FORMS = "a State, a tuple (Q, R[, g[, v]]) or a FixedPoint"


def as_state(state, name: str = "state") -> State:
    """The :class:`State` given as ``state``: a ``State``, a tuple ``(Q, R[, g[, v]])`` or an
    object with ``Q``, ``R``, ``g`` (and ``v``) attributes (a :class:`~symphase.FixedPoint`).
    Shapes and values are checked where it is used (:func:`check_state`); ``TypeError`` naming
    ``name`` for anything else."""
    if isinstance(state, State):
        return state
    if isinstance(state, (tuple, list)):
        if not 2 <= len(state) <= 4:
            raise TypeError(f"{name} must be {STATE_FORMS}; got a sequence of length {len(state)}")
        return State(*state)
    if all(hasattr(state, a) for a in ("Q", "R", "g")) and not isinstance(state, (str, np.ndarray, dict)):
        if hasattr(state, "alpha"):
            raise TypeError(f"{name} must be one state ({STATE_FORMS}), not a trajectory; take one point, "
                            f"e.g. State(res.Q[-1], res.R[-1], ...)")
        return State(state.Q, state.R, state.g, getattr(state, "v", None))
    raise TypeError(f"{name} must be {STATE_FORMS}; got {type(state).__name__}")


def model_state(model, state, name: str = "state") -> State:
    """:func:`as_state`, and a fixed point (an object with a ``model``) must belong to ``model``."""
    record = as_state(state, name)
    owner = getattr(state, "model", None)
    if owner is not None and not isinstance(state, (State, tuple, list)) and owner != model:
        raise ValueError(f"{name}: the fixed point belongs to another model ({owner.describe()})")
    return record


def committee_state(model, state, name: str = "state") -> State:
    """:func:`model_state` for a function of the committee machine (second layer fixed at ones):
    ``v`` must be None or ones (``ValueError`` naming ``name.v``); returned with ``v`` None."""
    state = model_state(model, state, name)
    if state.v is not None:
        v = check_array(f"{name}.v", state.v, (model.K,))
        if np.any(v != 1.0):
            raise ValueError(f"{name}.v: the committee machine's second layer is fixed at ones (docs/model.md §12); "
                             f"got {v.tolist()}")
    return state._replace(v=None)


def state_names(name: str) -> tuple:
    """The names of a state's parts in error messages: ``("start.Q", "start.R", "start.g", "start.v")``."""
    return tuple(f"{name}.{part}" for part in State._fields)


def old_forms(refuse):
    """Decorate a public function so that a call in a form it no longer takes fails at once:
    ``refuse(args, kwargs)`` raises ``TypeError`` naming the new form (docs/vocabulary.md). The
    signature shown (``inspect.signature``, the API reference) is the function's own."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            refuse(args, kwargs)
            return func(*args, **kwargs)
        return wrapper
    return decorate


def split_state(name, eta_pos=None):
    """For :func:`old_forms`: refuse the form a one-state function no longer takes, the state's parts
    as separate arguments (``name(model, Q, R, g, ..., v=)``), in one line naming
    ``name(model, state, ...)`` (docs/vocabulary.md). ``eta_pos``: the position of ``eta``, the
    argument after the state, where the old form had ``R``."""
    new = f"{name}(model, (Q, R[, g[, v]]){', eta' if eta_pos else ''}, ...)"

    def refuse(args, kwargs):
        old = {"Q", "R", "g", "v"} & set(kwargs)
        if old or (eta_pos and len(args) > eta_pos and is_array(args[eta_pos])) or (
                not eta_pos and len(args) > 2):
            raise TypeError(f"{name}(model, Q, R, g, ...{', v=' if 'v' in old else ''}) is now {new}: the state "
                            f"is one argument, a State or a tuple")
    return refuse


def is_array(x) -> bool:
    """Whether ``x`` is an array or a nested sequence of numbers (a part of an old-style state),
    not a number or a record."""
    if isinstance(x, (State, str)) or np.isscalar(x):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim > 0
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x, dtype=float).ndim > 0
        except (TypeError, ValueError):
            return False
    return False


def min_gram_eigenvalue(Q, R, T) -> float:
    """Smallest eigenvalue of the joint Gram matrix ``[[Q, R], [R^T, T]]``, relative to its scale.

    A state is realisable by real weight vectors iff this is >= 0 (up to rounding;
    docs/model.md §3.1).

    Parameters
    ----------
    Q : ndarray (K, K)
        Student-student overlaps.
    R : ndarray (K, M)
        Student-teacher overlaps.
    T : ndarray (M, M)
        Teacher-teacher overlaps.

    Returns
    -------
    float
        The smallest eigenvalue divided by ``max(1, max |diag G|)``.
    """
    G = np.block([[Q, R], [R.T, T]])
    scale = max(1.0, float(np.max(np.abs(np.diag(G)))))
    return float(np.linalg.eigvalsh(G)[0]) / scale


def check_state(model, Q, R, g=None, *, names=("Q", "R", "g")) -> tuple:
    """Validate one state of the order parameters (docs/model.md §3.1-3.2).

    ``Q`` must be symmetric and, with ``R`` and ``T``, form a positive
    semi-definite Gram matrix; under BN ``Q_ii > 0``, ``g_i != 0`` and the
    effective overlaps ``g_i g_k Q_ik/sqrt(Q_ii Q_kk)``, ``g_i R_in/sqrt(tau Q_ii)``
    must be finite.

    Parameters
    ----------
    model : Committee
        The model whose state this is.
    Q : array_like (K, K)
        Student-student overlaps ``Q_ik = J_i.J_k``.
    R : array_like (K, M)
        Student-teacher overlaps ``R_in = J_i.B_n``.
    g : array_like (K,), optional
        BN gains (default: ones under BN); must be None for the plain network.
    names : tuple of str
        The names of ``Q``, ``R``, ``g`` in error messages (e.g. ``("Q0", "R0", "g0")``).

    Returns
    -------
    tuple
        Float arrays ``(Q, R, g)``: ``Q`` symmetrized, ``g`` None for plain.

    Raises
    ------
    ValueError
        Naming the offending argument, for a wrong shape, a non-finite value, an
        asymmetric ``Q``, a state that is no Gram matrix, or (BN) ``Q_ii <= 0``,
        ``g_i = 0`` or overflowing effective overlaps; also for ``g`` given to a
        plain model.
    """
    K, M = model.K, model.M
    nQ, nR, ng = names
    Q = check_array(nQ, Q, (K, K))
    R = check_array(nR, R, (K, M))
    scale = max(1.0, float(np.abs(Q).max()))
    if not np.allclose(Q, Q.T, rtol=0, atol=1e-12 * scale):
        raise ValueError(f"{nQ} must be symmetric (Q_ik = Q_ki), got {Q.tolist()}")
    Q = 0.5 * (Q + Q.T)
    if min_gram_eigenvalue(Q, R, model.T) < -1e-10:
        raise ValueError(
            f"{nQ}, {nR} must form a positive semi-definite Gram matrix [[Q, R], [R^T, T]] "
            f"(overlaps of real weight vectors); smallest eigenvalue "
            f"{np.linalg.eigvalsh(np.block([[Q, R], [R.T, model.T]]))[0]:.3g}")
    if not model.has_bn:
        if g is not None:
            raise ValueError(f"{ng} is only meaningful for a batch-norm model (bn='paper' or 'exact'); got {ng}={g!r}")
        return Q, R, None
    if np.any(np.diag(Q) <= 0):
        raise ValueError(f"{nQ}: batch norm needs Q_ii > 0 (it divides by sqrt(Q_ii)); got diag {np.diag(Q).tolist()}")
    g = np.ones(K) if g is None else check_array(ng, g, (K,))
    if np.any(g == 0):
        raise ValueError(f"{ng}: batch-norm gains must be non-zero (g_i != 0); got {g.tolist()}")
    with np.errstate(all="ignore"):
        h = g / np.sqrt(model.tau * np.diag(Q))
        eff = np.concatenate([(model.tau * h[:, None] * h[None, :] * Q).ravel(), (model.tau * h[:, None] * R).ravel()])
    if not np.all(np.isfinite(eff)):
        raise ValueError(f"{ng}, {nQ}: the effective overlaps g_i g_k Q_ik/sqrt(Q_ii Q_kk), g_i R_in/sqrt(tau Q_ii) "
                         f"(docs/model.md §3) overflow; |g_i| must be small enough for them to be finite, "
                         f"got g={g.tolist()}")
    return Q, R, g


def check_v(model, v, name: str = "v0") -> np.ndarray:
    """The student's second layer ``v`` (K finite numbers; default ones), else ``ValueError`` naming it."""
    if v is None:
        return np.ones(model.K)
    return check_array(name, v, (model.K,))
