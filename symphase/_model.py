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

    ``None``, ``"plain"`` and ``"none"`` (older sweep configs) mean the plain network.
    """
    if bn is None or bn == "none":
        return "plain"
    return check_choice("bn", bn, BN_RULES)


def min_gram_eigenvalue(Q, R, T) -> float:
    """Smallest eigenvalue of the joint Gram matrix ``[[Q, R], [R^T, T]]``, relative to its scale."""
    G = np.block([[Q, R], [R.T, T]])
    scale = max(1.0, float(np.max(np.abs(np.diag(G)))))
    return float(np.linalg.eigvalsh(G)[0]) / scale


@dataclass(frozen=True, eq=False)
class Committee:
    """A teacher-student soft committee machine (docs/model.md §1-2).

    Parameters
    ----------
    K, M : int
        Student and teacher hidden units, ``phi(u) = erf(u/sqrt 2)``.
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
        """``"plain"``, ``"paper"`` or ``"exact"`` (docs/model.md §2)."""
        return "plain" if self.bn is None else self.bn

    @property
    def has_bn(self) -> bool:
        """Batch normalization on (``g`` is part of the state)."""
        return self.bn is not None

    @property
    def exact(self) -> bool:
        """The exact BN gradient (the term through ``sqrt(Q_ii)`` kept)."""
        return self.bn == "exact"

    @property
    def learns_gain(self) -> bool:
        """BN with a learned gain ``g_i``."""
        return self.bn is not None and self.gain == "learned"

    # -- derived descriptions ---------------------------------------------------
    @property
    def layout(self) -> StateLayout:
        """The flat state layout of this model (``g`` is part of the state under BN)."""
        return StateLayout(self.K, self.M, self.has_bn)

    @cached_property
    def system(self):
        """The compiled system of this model (:class:`symphase._system.System`), built once."""
        from ._system import System
        return System(self)

    def with_(self, **changes) -> "Committee":
        """A copy with some fields changed."""
        kw = dict(bn=self.bn, gain=self.gain, tau=self.tau, batch=self.batch, T=self.T, noise=self.noise)
        K = changes.pop("K", self.K)
        M = changes.pop("M", self.M)
        kw.update(changes)
        return Committee(K, M, **kw)

    def describe(self) -> str:
        """A one-line description, e.g. ``K=2, M=2, BN (exact rule, gain learned), tau=1, ...``."""
        rule = "plain" if self.bn is None else f"BN ({self.bn} rule, gain {self.gain})"
        return f"K={self.K}, M={self.M}, {rule}, tau={self.tau:g}, batch={self.batch}, noise={self.noise:g}"

    def to_dict(self) -> dict:
        """The model's parameters as plain Python values (``bn`` as its rule: ``"plain"``, ...)."""
        return {"K": self.K, "M": self.M, "bn": self.rule, "gain": self.gain, "tau": self.tau,
                "batch": self.batch, "noise": self.noise, "T": self.T.tolist()}

    def attrs(self) -> dict:
        """The model's scalar parameters, for NetCDF attributes."""
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
    """``model`` if it is a :class:`Committee`, else ``TypeError``."""
    if not isinstance(model, Committee):
        raise TypeError(f"model must be a symphase.Committee, got {type(model).__name__}")
    return model


def check_state(model: Committee, Q, R, g=None, *, names=("Q", "R", "g")) -> tuple:
    """Validate one state of the order parameters; returns float arrays ``(Q, R, g)``.

    ``Q`` must be symmetric and, with ``R`` and ``T``, form a positive
    semi-definite Gram matrix; under BN ``Q_ii > 0`` and ``g_i != 0`` (``g``
    defaults to ones).
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
