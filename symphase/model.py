"""The model description (``Committee``) and validation of user input.

Every public function validates here, once, at the boundary; the kernels trust
their arguments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from .layout import StateLayout

BN_RULES = (None, "paper", "exact")
GAINS = ("learned", "fixed")


def check_int(name: str, value, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools rejected), else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    """A finite real number (optionally > 0 or >= 0), else ``ValueError`` naming it."""
    rng = "> 0" if positive else ">= 0" if nonnegative else "finite"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a finite real number {rng}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (nonnegative and v < 0):
        raise ValueError(f"{name} must be a finite real number {rng}, got {value!r}")
    return v


def check_choice(name: str, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_array(name: str, value, shape: tuple) -> np.ndarray:
    """A finite float array of the given shape, else ``ValueError`` naming it."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array of shape {shape}, got {value!r}") from None
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (K={shape[0]}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def min_gram_eigenvalue(Q, R, T) -> float:
    """Smallest eigenvalue of the joint Gram matrix [[Q, R], [R^T, T]], relative to its scale."""
    G = np.block([[Q, R], [R.T, T]])
    scale = max(1.0, float(np.max(np.abs(np.diag(G)))))
    return float(np.linalg.eigvalsh(G)[0]) / scale


@dataclass(frozen=True, eq=False)
class Committee:
    """A teacher-student soft committee machine (MODEL.md §1-2).

    ``K`` student and ``M`` teacher hidden units with ``phi(u) = erf(u/sqrt 2)``;
    ``bn``: ``None`` (plain), ``"paper"`` (the paper's BN rule, Eqs. 2-3) or
    ``"exact"`` (the true BN gradient); ``gain``: the BN gain ``g_i`` is
    ``"learned"`` or ``"fixed"``; ``tau = sigma^2`` the input variance; ``batch``
    the minibatch size ``b``; ``T`` the teacher overlaps ``B_n . B_m`` (None:
    identity); ``noise`` the variance of Gaussian noise added to the teacher's
    output.
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
        check_choice("bn", self.bn, BN_RULES)
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

    # -- derived descriptions -------------------------------------------------
    @property
    def layout(self) -> StateLayout:
        """The flat state layout of this model (``g`` is part of the state under BN)."""
        return StateLayout(self.K, self.M, self.bn is not None)

    @property
    def rule_flags(self) -> tuple[float, float, float]:
        """``(bn, e, lg)`` switches of the generated kernels: BN on, exact rule, learned gain."""
        bn = 1.0 if self.bn is not None else 0.0
        e = 1.0 if self.bn == "exact" else 0.0
        lg = 1.0 if (self.bn is not None and self.gain == "learned") else 0.0
        return bn, e, lg

    def with_(self, **changes) -> "Committee":
        """A copy with some fields changed."""
        kw = dict(bn=self.bn, gain=self.gain, tau=self.tau, batch=self.batch, T=self.T, noise=self.noise)
        K = changes.pop("K", self.K)
        M = changes.pop("M", self.M)
        kw.update(changes)
        return Committee(K, M, **kw)

    def describe(self) -> str:
        rule = "plain" if self.bn is None else f"BN ({self.bn} rule, gain {self.gain})"
        return f"K={self.K}, M={self.M}, {rule}, tau={self.tau:g}, batch={self.batch}, noise={self.noise:g}"

    def __repr__(self):
        extra = "" if np.array_equal(self.T, np.eye(self.M)) else ", T=..."
        return (f"Committee(K={self.K}, M={self.M}, bn={self.bn!r}, gain={self.gain!r}, tau={self.tau!r}, "
                f"batch={self.batch!r}, noise={self.noise!r}{extra})")

    def __eq__(self, other):
        if not isinstance(other, Committee):
            return NotImplemented
        return (self.K, self.M, self.bn, self.gain, self.tau, self.batch, self.noise) == (
            other.K, other.M, other.bn, other.gain, other.tau, other.batch, other.noise
        ) and np.array_equal(self.T, other.T)

    def __hash__(self):
        return hash((self.K, self.M, self.bn, self.gain, self.tau, self.batch, self.noise, self.T.tobytes()))


def check_model(model) -> Committee:
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
    if model.bn is None:
        if g is not None:
            raise ValueError(f"{ng} is only meaningful for a batch-norm model (bn='paper' or 'exact'); got {ng}={g!r}")
        return Q, R, None
    if np.any(np.diag(Q) <= 0):
        raise ValueError(f"{nQ}: batch norm needs Q_ii > 0 (it divides by sqrt(Q_ii)); got diag {np.diag(Q).tolist()}")
    g = np.ones(K) if g is None else check_array(ng, g, (K,))
    if np.any(g == 0):
        raise ValueError(f"{ng}: batch-norm gains must be non-zero (g_i != 0); got {g.tolist()}")
    return Q, R, g
