"""The compiled system of a model: one object from the model to the kernels.

:class:`System` is built once per :class:`~symphase.Committee` (its
``.system``). It owns the state layout, the teacher overlaps ``T``, the rule
switches and the parameter record, and makes the kernels' arguments
(:data:`symphase._kernels.KernelArgs`: named workspace, ``T``, ``par``).
Every consumer (the integrators, :func:`symphase.rhs`,
:func:`symphase.generalization_error`, the fixed-point Jacobian, the
simulator's eps_g pass, :func:`symphase.compare`) goes through it, so adding a
parameter or a rule touches the derivation, the model and this object only.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as kern

PARTS = ("full", "linear", "quadratic")
STEP = 1e-30  # complex step: exact to rounding for any step this small


class System:
    """A :class:`~symphase.Committee` compiled for the kernels (docs/model.md §3, §8).

    Parameters
    ----------
    model : Committee
        The model; normally reached as ``model.system``, built once per model.

    Attributes
    ----------
    model, layout, K, M
        The model, its flat state layout and sizes.
    T : ndarray (M, M)
        The teacher overlaps, contiguous float64 (what the kernels read).
    has_bn, exact, learns_gain : bool
        The rule switches.
    """

    def __init__(self, model):
        self.model = model
        self.layout = model.layout
        self.K, self.M = model.K, model.M
        self.T = np.array(model.T, dtype=float, order="C")  # writable: one kernel signature
        self.has_bn, self.exact, self.learns_gain = model.has_bn, model.exact, model.learns_gain

    def __repr__(self):
        return f"System({self.model!r})"

    # -- the parameter record and the kernel arguments ----------------------------
    def params(self, eta: float = 1.0, *, part: str = "full") -> np.ndarray:
        """The parameter record ``par = [eta, tau, b, noise, bn, e, lg]`` (:data:`symphase._kernels.PARAMS`).

        ``part="linear"`` sets ``b = inf``: the ``eta^2/b`` terms drop and the
        right-hand side is its ``O(eta)`` part (the small learning rate limit).
        """
        m = self.model
        batch = np.inf if part == "linear" else m.batch
        return np.array([eta, m.tau, batch, m.noise, float(self.has_bn), float(self.exact),
                         float(self.learns_gain)], dtype=float)

    def args(self, eta: float = 1.0, *, part: str = "full", dtype=float) -> kern.KernelArgs:
        """Fresh kernel arguments: a workspace of ``dtype``, ``T`` and :meth:`params`.

        A workspace is scratch space: one per thread of computation.
        """
        return kern.KernelArgs(kern.workspace(self.K, self.M, dtype), self.T, self.params(eta, part=part))

    # -- the state ------------------------------------------------------------------
    def state(self, Q, R, g=None, *, names=("Q", "R", "g")) -> np.ndarray:
        """The validated flat state of ``(Q, R, g)`` (``ValueError`` naming what is wrong)."""
        from ._model import check_state
        Q, R, g = check_state(self.model, Q, R, g, names=names)
        return self.layout.pack(Q, R, g)

    # -- evaluations on flat states -------------------------------------------------------
    def rhs(self, y, eta: float = 1.0, *, part: str = "full") -> np.ndarray:
        """``dy/dalpha`` at flat state ``y`` (docs/model.md §3): ``part`` is ``"full"``,
        ``"linear"`` (the ``O(eta)`` part) or ``"quadratic"`` (the ``O(eta^2/b)`` part)."""
        y = np.asarray(y)
        out = np.empty_like(y)
        a = self.args(eta, part="linear" if part == "linear" else "full", dtype=y.dtype)
        kern.rhs(y, out, a)
        if part == "quadratic":
            lin = np.empty_like(y)
            kern.rhs(y, lin, a._replace(par=self.params(eta, part="linear")))
            out = out - lin
        return out

    def eg(self, y):
        """``eps_g`` at flat state ``y`` (the paper's Eq. 13, docs/model.md §3); complex ``y``
        (complex-step differentiation) gives a complex value."""
        y = np.asarray(y)
        if np.iscomplexobj(y):
            return complex(kern.eg(y, self.args(dtype=complex)))
        return float(kern.eg(y.astype(float), self.args()))

    def eg_many(self, ys, T=None) -> np.ndarray:
        """``eps_g`` of each flat state in ``ys`` (..., size); NaN rows give NaN.

        ``T``: the teacher overlaps to use instead of the model's (a simulation
        with a random teacher).
        """
        ys = np.asarray(ys, dtype=float)
        flat = ys.reshape(-1, self.layout.size)
        a = self.args()
        if T is not None:
            a = a._replace(T=np.array(T, dtype=float, order="C"))
        out = np.full(flat.shape[0], np.nan)
        for j, y in enumerate(flat):
            if np.all(np.isfinite(y)):
                out[j] = kern.eg(y, a)
        return out.reshape(ys.shape[:-1])

    def jacobian(self, y, eta: float = 1.0, *, part: str = "full") -> np.ndarray:
        """Exact Jacobian ``d(dy/dalpha)/dy`` at ``y`` by complex step (docs/model.md §5-6).

        Compiles the complex variant of the right-hand side on first use only.
        """
        y = np.asarray(y, dtype=float)
        n = y.size
        Jm = np.empty((n, n))
        yc = y.astype(complex)
        a = self.args(eta, part=part, dtype=complex)
        out = np.empty(n, dtype=complex)
        for j in range(n):
            yc[j] += STEP * 1j
            kern.rhs(yc, out, a)
            yc[j] = y[j]
            Jm[:, j] = out.imag / STEP
        return Jm
