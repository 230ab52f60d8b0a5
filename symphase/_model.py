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

    The teacher's output is ``t = sum_n phi(B_n.xi) + zeta``, the student's
    ``s = sum_i phi(h_i J_i.xi)`` with ``phi(u) = erf(u/sqrt 2)`` and the scale
    ``h_i = 1`` (plain) or ``h_i = g_i/(sigma sqrt(Q_ii))`` (BN); inputs have
    variance ``tau = sigma^2`` (Saad & Solla 1995; Takagi, Yoshida & Okada 2020;
    docs/model.md §1.3-1.4). A ``Committee`` is a plain, immutable, hashable
    description; everything the kernels need is built from it by :attr:`system`.

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

    Raises
    ------
    ValueError
        If a size, ``tau``, ``batch`` or ``noise`` is out of range, ``bn`` or
        ``gain`` is not one of its values, or ``T`` is not a symmetric positive
        semi-definite (M, M) matrix.
    TypeError
        If a size or number has the wrong type.

    Attributes
    ----------
    rule : str
        ``"plain"``, ``"paper"`` or ``"exact"``: the rule in its one spelling.
    has_bn, exact, learns_gain : bool
        The rule's switches: batch norm on, exact BN gradient, gain learned.

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

    # -- derived descriptions ---------------------------------------------------
    @property
    def layout(self) -> StateLayout:
        """The flat state layout of this model (docs/model.md §8.1).

        Returns
        -------
        StateLayout
            ``StateLayout(K, M, has_bn)``: ``g`` is part of the state under BN.
        """
        return StateLayout(self.K, self.M, self.has_bn)

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
            ``T`` or ``noise``.

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
        kw = dict(bn=self.bn, gain=self.gain, tau=self.tau, batch=self.batch, T=self.T, noise=self.noise)
        K = changes.pop("K", self.K)
        M = changes.pop("M", self.M)
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
        return f"K={self.K}, M={self.M}, {rule}, tau={self.tau:g}, batch={self.batch}, noise={self.noise:g}"

    def to_dict(self) -> dict:
        """The model's parameters as plain Python values (JSON-ready).

        Returns
        -------
        dict
            ``K``, ``M``, ``bn`` (as its rule: ``"plain"``, ``"paper"``,
            ``"exact"``), ``gain``, ``tau``, ``batch``, ``noise`` and ``T`` (nested lists).
        """
        return {"K": self.K, "M": self.M, "bn": self.rule, "gain": self.gain, "tau": self.tau,
                "batch": self.batch, "noise": self.noise, "T": self.T.tolist()}

    def attrs(self) -> dict:
        """The model's scalar parameters, for NetCDF attributes.

        Returns
        -------
        dict
            :meth:`to_dict` without ``T``.
        """
        d = self.to_dict()
        del d["T"]
        return d

    def __repr__(self):
        extra = "" if np.array_equal(self.T, np.eye(self.M)) else ", T=..."
        return (f"Committee(K={self.K}, M={self.M}, bn={self.bn!r}, gain={self.gain!r}, tau={self.tau!r}, "
                f"batch={self.batch!r}, noise={self.noise!r}{extra})")

    def _key(self):
        return (self.K, self.M, self.bn, self.gain, self.tau, self.batch, self.noise, self.T.tobytes())

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
