"""The model: :class:`Committee`, a teacher-student soft committee machine (docs/model.md §1-2).

A ``Committee`` is a plain description (sizes, rule, parameters). Everything
the compiled kernels need is built from it once, by :attr:`Committee.system`
(:class:`symphase._system.System`): callers never assemble kernel inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ._layout import StateLayout
from ._validate import check_array, check_choice, check_int, check_real

#: The update rules, in their one spelling (docs/model.md §2).
RULES = ("plain", "paper", "exact")
#: Accepted values of ``bn``: ``None`` and ``"plain"`` both mean the plain network.
BN_RULES = (None, "plain", "paper", "exact")
GAINS = ("learned", "fixed")
#: The two-layer network (docs/model.md §13): the student's second layer, the output
#: scaling and the activation of both networks.
SECOND_LAYERS = ("fixed", "learned")
SCALINGS = ("sum", "1/sqrt(K)", "1/K")
ACTIVATIONS = ("erf", "linear")


def output_scale(scaling: str, n: int) -> float:
    """The prefactor of a network's output with ``n`` hidden units: 1, ``1/sqrt(n)`` or ``1/n``."""
    return {"sum": 1.0, "1/sqrt(K)": 1.0 / np.sqrt(n), "1/K": 1.0 / n}[scaling]


def rule_of(bn) -> str:
    """The rule's one spelling (``"plain"``, ``"paper"``, ``"exact"``) from a ``bn`` value.

    ``None``, ``"plain"`` and ``"none"`` (older sweep configs) mean the plain network
    (docs/model.md §2).

    Parameters
    ----------
    bn : {None, "none", "plain", "paper", "exact"}
        A value of ``Committee(bn=...)``.

    Returns
    -------
    str
        ``"plain"``, ``"paper"`` or ``"exact"``.

    Raises
    ------
    ValueError
        If ``bn`` is none of the accepted values.

    Examples
    --------
    >>> from symphase._model import rule_of
    >>> rule_of(None), rule_of("none"), rule_of("exact")
    ('plain', 'plain', 'exact')
    """
    if bn is None or bn == "none":
        return "plain"
    return check_choice("bn", bn, BN_RULES)


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


@dataclass(frozen=True, eq=False)
class Committee:
    """A teacher-student soft committee machine (docs/model.md §1-2).

    The teacher's output is ``t = c_M sum_n v*_n phi(B_n.xi) + zeta``, the student's
    ``s = c_K sum_i v_i phi(h_i J_i.xi)`` with ``phi(u) = erf(u/sqrt 2)`` (or
    ``phi(u) = u``) and the scale ``h_i = 1`` (plain) or
    ``h_i = g_i/(sigma sqrt(Q_ii))`` (BN); inputs have variance ``tau = sigma^2``
    (Saad & Solla 1995; Takagi, Yoshida & Okada 2020; docs/model.md §1.3-1.4). The
    defaults (``v = v* = 1``, ``c = 1``, erf, no weight decay) are the soft committee
    machine of the paper; the rest is the two-layer network of Goldt et al. (2019)
    (docs/model.md §13). A ``Committee`` is a plain, immutable, hashable description;
    everything the kernels need is built from it by :attr:`system`.

    Parameters
    ----------
    K, M : int
        Student and teacher hidden units (>= 1).
    bn : {None, "plain", "paper", "exact"}
        ``None``/``"plain"``: no batch normalization; ``"paper"``: BN with the
        paper's rule (its Eqs. 2-3); ``"exact"``: BN with the true gradient.
    gain : {"learned", "fixed"}
        Whether the BN gain ``g_i`` is learned (ignored for plain).
    tau : float
        Input variance ``tau = sigma^2`` (> 0).
    batch : int
        Minibatch size ``b`` (>= 1).
    T : array_like (M, M), optional
        Teacher overlaps ``T_nm = B_n . B_m`` (default: identity).
    noise : float
        Variance of Gaussian noise on the teacher's output (>= 0).
    second_layer : {"fixed", "learned"}
        Whether the student's second-layer weights ``v_i`` are learned (learning
        rate ``eta2/N``; ``integrate(..., eta2=)``) or fixed at their start values
        ``v0`` (default ones).
    v_teacher : array_like (M,), optional
        The teacher's second layer ``v*`` (default ones; finite, non-zero entries allowed).
    scaling : {"sum", "1/sqrt(K)", "1/K"}
        The output prefactor: ``c_K = 1``, ``1/sqrt(K)`` or ``1/K`` for the
        student, with ``M`` for the teacher (as nn2pp's ``--meanfield`` and
        ``--normalise``).
    activation : {"erf", "linear"}
        ``phi(u) = erf(u/sqrt 2)`` or ``phi(u) = u``, for both networks. (ReLU
        has no closed-form ODE here; :func:`symphase.simulate` accepts it with
        ``activation="relu"``.)
    weight_decay : float
        Weight decay ``lam >= 0`` per step ``-(lam/N) J_i`` (and ``-(lam/N) v_i``
        for a learned second layer), not multiplied by the learning rate, as in
        nn2pp's ``--wd``: ``dQ_ik/dalpha`` gains ``-2 lam Q_ik``.

    Raises
    ------
    ValueError
        If a size, ``tau``, ``batch``, ``noise`` or ``weight_decay`` is out of
        range, ``bn``, ``gain``, ``second_layer``, ``scaling`` or ``activation``
        is not one of its values, ``v_teacher`` is not M finite numbers, or ``T``
        is not a symmetric positive semi-definite (M, M) matrix.
    TypeError
        If a size or number has the wrong type.

    Attributes
    ----------
    rule : str
        ``"plain"``, ``"paper"`` or ``"exact"``: the rule in its one spelling.
    has_bn, exact, learns_gain : bool
        The rule's switches: batch norm on, exact BN gradient, gain learned.
    learns_v, scale, teacher_scale, is_committee
        The two-layer settings (docs/model.md §13): second layer learned, the output
        prefactors ``c_K`` and ``c_M``, and whether the model is the committee machine.

    Examples
    --------
    >>> import symphase
    >>> symphase.Committee(2, 2, bn="exact")
    Committee(K=2, M=2, bn='exact', gain='learned', tau=1.0, batch=1, noise=0.0)
    >>> symphase.Committee(3, 2, tau=0)
    Traceback (most recent call last):
        ...
    ValueError: tau must be ...
    """

    K: int
    M: int
    bn: str | None = field(default=None, kw_only=True)
    gain: str = field(default="learned", kw_only=True)
    tau: float = field(default=1.0, kw_only=True)
    batch: int = field(default=1, kw_only=True)
    T: np.ndarray | None = field(default=None, kw_only=True)
    noise: float = field(default=0.0, kw_only=True)
    second_layer: str = field(default="fixed", kw_only=True)
    v_teacher: np.ndarray | None = field(default=None, kw_only=True)
    scaling: str = field(default="sum", kw_only=True)
    activation: str = field(default="erf", kw_only=True)
    weight_decay: float = field(default=0.0, kw_only=True)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "K", check_int("K", self.K))
        set_(self, "M", check_int("M", self.M))
        rule = rule_of(self.bn)
        set_(self, "bn", None if rule == "plain" else rule)  # the public contract: None for plain
        check_choice("gain", self.gain, GAINS)
        set_(self, "tau", check_real("tau", self.tau, positive=True))
        set_(self, "batch", check_int("batch", self.batch))
        set_(self, "noise", check_real("noise", self.noise, nonnegative=True))
        if self.T is None:
            T = np.eye(self.M)
        else:
            T = check_array("T", self.T, (self.M, self.M))
            if not np.allclose(T, T.T, rtol=0, atol=1e-12 * max(1.0, np.abs(T).max())):
                raise ValueError("T must be symmetric")
            if np.linalg.eigvalsh(T)[0] < -1e-12 * max(1.0, np.abs(T).max()):
                raise ValueError("T must be positive semi-definite (a Gram matrix of teacher vectors)")
        T = np.array(T, dtype=float)
        T.flags.writeable = False
        set_(self, "T", T)
        check_choice("second_layer", self.second_layer, SECOND_LAYERS)
        check_choice("scaling", self.scaling, SCALINGS)
        if self.activation == "relu":
            raise ValueError("activation='relu' has no closed-form ODE; it is available in symphase.simulate "
                             "(activation='relu') only. activation must be one of 'erf', 'linear'")
        check_choice("activation", self.activation, ACTIVATIONS)
        set_(self, "weight_decay", check_real("weight_decay", self.weight_decay, nonnegative=True))
        vt = np.ones(self.M) if self.v_teacher is None else check_array("v_teacher", self.v_teacher, (self.M,))
        vt = np.array(vt, dtype=float)
        vt.flags.writeable = False
        set_(self, "v_teacher", vt)

    # -- the rule ---------------------------------------------------------------
    @property
    def rule(self) -> str:
        """The update rule in its one spelling: ``"plain"``, ``"paper"`` or ``"exact"`` (docs/model.md §2).

        ``"plain"``: SGD without BN; ``"paper"``: BN with the paper's rule (its
        Eqs. 2-3, the term through ``sqrt(Q_ii)`` dropped); ``"exact"``: BN with the
        true gradient.
        """
        return "plain" if self.bn is None else self.bn

    @property
    def has_bn(self) -> bool:
        """Whether batch normalization is on (``bn`` is ``"paper"`` or ``"exact"``).

        Under BN the gains ``g_i`` are part of the state, also when they are fixed
        (docs/model.md §8.1).
        """
        return self.bn is not None

    @property
    def exact(self) -> bool:
        """Whether the rule is the exact BN gradient: the switch ``e = 1`` of docs/model.md §3.5.

        The exact rule keeps the term of the gradient through ``sqrt(Q_ii)``, which
        makes the update orthogonal to ``J_i`` (docs/model.md §2.2, §5.3).
        """
        return self.bn == "exact"

    @property
    def learns_gain(self) -> bool:
        """Whether the BN gain ``g_i`` is learned: the switch ``l_g = 1`` of docs/model.md §3.5.

        False for the plain network and for BN with ``gain="fixed"``.
        """
        return self.bn is not None and self.gain == "learned"

    # -- the second layer (docs/model.md §13) ---------------------------------------
    @property
    def learns_v(self) -> bool:
        """Whether the student's second layer ``v`` is learned (then it is part of the state)."""
        return self.second_layer == "learned"

    @property
    def scale(self) -> float:
        """The student's output prefactor ``c_K``: 1, ``1/sqrt(K)`` or ``1/K`` (``scaling``)."""
        return output_scale(self.scaling, self.K)

    @property
    def teacher_scale(self) -> float:
        """The teacher's output prefactor ``c_M``: 1, ``1/sqrt(M)`` or ``1/M`` (``scaling``)."""
        return output_scale(self.scaling, self.M)

    @property
    def is_committee(self) -> bool:
        """Whether this is the soft committee machine of the paper: erf, ``v = v* = 1`` fixed,
        output scaling ``"sum"``, no weight decay (the state and every result as before §13)."""
        return (not self.learns_v and self.scaling == "sum" and self.activation == "erf"
                and self.weight_decay == 0.0 and bool(np.all(self.v_teacher == 1.0)))

    def _two_layer_items(self) -> dict:
        """The two-layer settings that differ from the committee machine's defaults."""
        out = {}
        if self.second_layer != "fixed":
            out["second_layer"] = self.second_layer
        if not np.all(self.v_teacher == 1.0):
            out["v_teacher"] = self.v_teacher.tolist()
        if self.scaling != "sum":
            out["scaling"] = self.scaling
        if self.activation != "erf":
            out["activation"] = self.activation
        if self.weight_decay != 0.0:
            out["weight_decay"] = self.weight_decay
        return out

    # -- derived descriptions ---------------------------------------------------
    @property
    def layout(self) -> StateLayout:
        """The flat state layout of this model (docs/model.md §8.1).

        Returns
        -------
        StateLayout
            ``StateLayout(K, M, has_bn, learns_v)``: ``g`` is part of the state
            under BN, ``v`` when the second layer is learned.
        """
        return StateLayout(self.K, self.M, self.has_bn, self.learns_v)

    @cached_property
    def system(self):
        """The compiled system of this model, built once and cached (docs/model.md §8).

        Returns
        -------
        System
            What the kernels need: layout, ``T``, the parameter record and
            the kernel arguments.
        """
        from ._system import System
        return System(self)

    def with_(self, **changes) -> "Committee":
        """A copy of the model with some fields changed.

        Parameters
        ----------
        **changes
            New values of ``K``, ``M``, ``bn``, ``gain``, ``tau``, ``batch``,
            ``T``, ``noise``, ``second_layer``, ``v_teacher``, ``scaling``,
            ``activation`` or ``weight_decay``.

        Returns
        -------
        Committee
            The new model, validated like any other.

        Raises
        ------
        ValueError, TypeError
            As for :class:`Committee`; also ``TypeError`` for an unknown field.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2).with_(bn="paper", tau=2.0)
        Committee(K=2, M=2, bn='paper', gain='learned', tau=2.0, batch=1, noise=0.0)
        """
        kw = dict(bn=self.bn, gain=self.gain, tau=self.tau, batch=self.batch, T=self.T, noise=self.noise,
                  second_layer=self.second_layer, v_teacher=self.v_teacher, scaling=self.scaling,
                  activation=self.activation, weight_decay=self.weight_decay)
        K = changes.pop("K", self.K)
        M = changes.pop("M", self.M)
        if M != self.M and "v_teacher" not in changes:
            kw["v_teacher"] = None if np.all(self.v_teacher == 1.0) else self.v_teacher
        kw.update(changes)
        return Committee(K, M, **kw)

    def describe(self) -> str:
        """A one-line human-readable description of the model.

        Returns
        -------
        str
            E.g. ``"K=2, M=2, BN (exact rule, gain learned), tau=1, batch=1, noise=0"``.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2, bn="exact").describe()
        'K=2, M=2, BN (exact rule, gain learned), tau=1, batch=1, noise=0'
        """
        rule = "plain" if self.bn is None else f"BN ({self.bn} rule, gain {self.gain})"
        extra = "".join(f", {k}={v}" for k, v in self._two_layer_items().items())
        return f"K={self.K}, M={self.M}, {rule}, tau={self.tau:g}, batch={self.batch}, noise={self.noise:g}{extra}"

    def to_dict(self) -> dict:
        """The model's parameters as plain Python values (JSON-ready).

        Returns
        -------
        dict
            ``K``, ``M``, ``bn`` (as its rule: ``"plain"``, ``"paper"``,
            ``"exact"``), ``gain``, ``tau``, ``batch``, ``noise``, ``T`` (nested
            lists), and the two-layer settings ``second_layer``, ``v_teacher``,
            ``scaling``, ``activation``, ``weight_decay`` where they differ from
            the committee machine's.
        """
        return {"K": self.K, "M": self.M, "bn": self.rule, "gain": self.gain, "tau": self.tau,
                "batch": self.batch, "noise": self.noise, "T": self.T.tolist(), **self._two_layer_items()}

    def attrs(self) -> dict:
        """The model's scalar parameters, for NetCDF attributes.

        Returns
        -------
        dict
            :meth:`to_dict` without ``T``.
        """
        d = self.to_dict()
        del d["T"]
        if "v_teacher" in d:
            d["v_teacher"] = np.asarray(d["v_teacher"])
        return d

    def __repr__(self):
        extra = "" if np.array_equal(self.T, np.eye(self.M)) else ", T=..."
        extra += "".join(f", {k}={v!r}" for k, v in self._two_layer_items().items())
        return (f"Committee(K={self.K}, M={self.M}, bn={self.bn!r}, gain={self.gain!r}, tau={self.tau!r}, "
                f"batch={self.batch!r}, noise={self.noise!r}{extra})")

    def _key(self):
        return (self.K, self.M, self.bn, self.gain, self.tau, self.batch, self.noise, self.T.tobytes(),
                self.second_layer, self.v_teacher.tobytes(), self.scaling, self.activation, self.weight_decay)

    def __eq__(self, other):
        if not isinstance(other, Committee):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


def check_model(model) -> Committee:
    """Check that ``model`` is a :class:`Committee`.

    Parameters
    ----------
    model : object
        The value passed as ``model``.

    Returns
    -------
    Committee
        ``model`` itself.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`Committee`.
    """
    if not isinstance(model, Committee):
        raise TypeError(f"model must be a symphase.Committee, got {type(model).__name__}")
    return model


def check_state(model: Committee, Q, R, g=None, *, names=("Q", "R", "g")) -> tuple:
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


def check_committee(model: Committee, what: str) -> Committee:
    """``model`` if it is the soft committee machine (:attr:`Committee.is_committee`), else ``ValueError``
    saying that ``what`` covers only that model (docs/model.md §13 lists what covers the two-layer network)."""
    if not model.is_committee:
        raise ValueError(f"model: {what} covers the soft committee machine (erf, second layers fixed at 1, "
                         f"scaling 'sum', no weight decay); got {model.describe()}")
    return model


def check_v(model: Committee, v, name: str = "v0") -> np.ndarray:
    """The student's second layer ``v`` (K finite numbers; default ones), else ``ValueError`` naming it."""
    if v is None:
        return np.ones(model.K)
    return check_array(name, v, (model.K,))
