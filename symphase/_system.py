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
from ._state import check_state, check_v

PARTS = ("full", "linear", "quadratic")
STEP = 1e-30  # complex step: exact to rounding for any step this small


class System:
    """A :class:`~symphase.Committee` compiled for the kernels (docs/model.md §3, §8).

    The one object between a model and the Numba kernels: it evaluates the
    order-parameter ODEs ``dy/dalpha`` (Saad & Solla 1995 generalized to BN;
    docs/model.md §3.5), ``eps_g`` (the paper's Eq. 13; docs/model.md §3.4) and
    their exact Jacobian on flat states (docs/model.md §8.1).

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
    has_bn, exact, learns_gain, learns_v : bool
        The rule switches (``learns_v``: a learned second layer, docs/model.md §13).
    teacher_weights : ndarray (M,)
        The teacher's weights ``c_M v*`` in ``Delta = t - s``.

    Examples
    --------
    >>> import symphase
    >>> system = symphase.Committee(2, 2).system
    >>> system.params(0.5)
    array([0.5, 1. , 1. , 0. , 0. , 0. , 0. , 0.5, 0. , 0. , 1. , 0. ])
    >>> y = system.state([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    >>> print(f"{system.eg(y):.3g}")        # the perfect student
    0
    """

    def __init__(self, model):
        self.model = model
        self.layout = model.layout
        self.K, self.M = model.K, model.M
        self.T = np.array(model.T, dtype=float, order="C")  # writable: one kernel signature
        self.has_bn, self.exact, self.learns_gain = model.has_bn, model.exact, model.learns_gain
        self.learns_v = model.learns_v
        # the ODE's averages (rhs, eg, jacobian) exist for erf and linear only (docs/model.md §13)
        self.closed_form = model.activation in kern.CLOSED_FORM_ACTIVATIONS
        # the teacher's weight in Delta = t - s: c_M v*_n (docs/model.md §13)
        self.teacher_weights = model.teacher_scale * np.asarray(model.v_teacher, dtype=float)

    def __repr__(self):
        return f"System({self.model!r})"

    # -- the parameter record and the kernel arguments ----------------------------
    def params(self, eta: float = 1.0, *, part: str = "full", eta2: float | None = None) -> np.ndarray:
        """The parameter record ``par = [eta, tau, b, noise, bn, e, lg, eta2, lam, lv, c, act]`` of the kernels.

        The order is ``symphase._kernels.PARAMS``; ``bn``, ``e``, ``lg`` are the rule
        switches of docs/model.md §3.5 as 0.0/1.0; ``eta2``, ``lam`` (weight decay),
        ``lv`` (learned second layer), ``c`` (the student's output scale) and ``act``
        (activation code) those of the two-layer network, docs/model.md §13.

        Parameters
        ----------
        eta : float
            The learning rate ``eta`` (the step is ``eta/N``).
        part : {"full", "linear", "quadratic"}
            ``"linear"`` sets ``b = inf``: the ``eta^2/b`` terms drop and the
            right-hand side is its ``O(eta)`` part (the small learning rate
            limit). ``"full"`` and ``"quadratic"`` keep the model's batch size.
        eta2 : float, optional
            The second layer's learning rate (default ``eta``).

        Returns
        -------
        ndarray (12,)
            The record, float64.
        """
        m = self.model
        batch = np.inf if part == "linear" else m.batch
        act = kern.ACTIVATIONS.index(m.activation)  # the model's, relu included (its code: the simulator only)
        return np.array([eta, m.tau, batch, m.noise, float(self.has_bn), float(self.exact),
                         float(self.learns_gain), eta if eta2 is None else eta2, m.weight_decay,
                         float(self.learns_v), m.scale, float(act)], dtype=float)

    def args(self, eta: float = 1.0, *, part: str = "full", dtype=float, v=None,
             eta2: float | None = None) -> kern.KernelArgs:
        """Fresh kernel arguments: a workspace of ``dtype``, ``T`` and :meth:`params`.

        A workspace is scratch space: one per thread of computation.

        Parameters
        ----------
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            As for :meth:`params`.
        dtype : dtype
            ``float`` or ``complex`` (complex-step differentiation).
        v : array_like (K,), optional
            The student's fixed second layer (default ones; ignored when it is
            learned, where the state holds it).
        eta2 : float, optional
            The second layer's learning rate (default ``eta``).

        Returns
        -------
        symphase._kernels.KernelArgs
            The named tuple ``(ws, T, par)``.
        """
        ws = kern.workspace(self.K, self.M, dtype, v=v, teacher_weights=self.teacher_weights)
        return kern.KernelArgs(ws, self.T, self.params(eta, part=part, eta2=eta2))

    # -- the state ------------------------------------------------------------------
    def state(self, Q, R, g=None, v=None, *, names=("Q", "R", "g", "v")) -> np.ndarray:
        """The validated flat state of ``(Q, R, g[, v])`` (docs/model.md §8.1, §13).

        Parameters
        ----------
        Q : array_like (K, K)
            Student-student overlaps.
        R : array_like (K, M)
            Student-teacher overlaps.
        g : array_like (K,), optional
            BN gains (default ones under BN; None for plain).
        v : array_like (K,), optional
            The second layer when it is learned (default ones); must be None when
            it is fixed (its values are then a parameter: :meth:`args`).
        names : tuple of str
            Names of the four arguments in error messages.

        Returns
        -------
        ndarray (layout.size,)
            The flat state ``y``.

        Raises
        ------
        ValueError
            Naming what is wrong (shape, symmetry, not a Gram matrix, BN
            ``Q_ii <= 0`` or ``g_i = 0``).
        """
        Q, R, g = check_state(self.model, Q, R, g, names=names[:3])
        if self.learns_v:
            v = check_v(self.model, v, names[3])
        elif v is not None:
            raise ValueError(f"{names[3]} is part of the state only for a learned second layer "
                             f"(second_layer='learned'); pass a fixed v as v0 to integrate")
        return self.layout.pack(Q, R, g, v)

    # -- evaluations on flat states -------------------------------------------------------
    def _closed_form(self, what: str):
        """Refuse (``ValueError`` naming ``activation``) an evaluation with closed-form averages of a
        model whose activation has none (ReLU: the simulator only)."""
        if not self.closed_form:
            self.model.require_closed_form(what)

    def rhs(self, y, eta: float = 1.0, *, part: str = "full", v=None, eta2=None) -> np.ndarray:
        """The right-hand side ``dy/dalpha`` of the order-parameter ODEs at flat state ``y``.

        ``dQ_ik/dalpha``, ``dR_in/dalpha``, ``dg_i/dalpha`` of docs/model.md §3.5
        (Saad & Solla 1995; the BN rules of Takagi, Yoshida & Okada 2020 and the
        exact gradient), generated from derivations/derive.py.

        Parameters
        ----------
        y : array_like (layout.size,)
            A flat state, real or complex (complex-step differentiation).
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            The whole right-hand side, its ``O(eta)`` part or its ``O(eta^2/b)`` part.
        v, eta2
            A fixed second layer and the second layer's learning rate (:meth:`args`).

        Returns
        -------
        ndarray (layout.size,)
            ``dy/dalpha``, in the dtype of ``y``.
        """
        self._closed_form("System.rhs")
        y = np.asarray(y)
        out = np.empty_like(y)
        a = self.args(eta, part="linear" if part == "linear" else "full", dtype=y.dtype, v=v, eta2=eta2)
        kern.rhs(y, out, a)
        if part == "quadratic":
            lin = np.empty_like(y)
            kern.rhs(y, lin, a._replace(par=self.params(eta, part="linear", eta2=eta2)))
            out = out - lin
        return out

    def eg(self, y, v=None):
        """The generalization error ``eps_g`` at flat state ``y``.

        ``eps_g = (1/2) sum_pq w_p w_q I2(z_p, z_q)`` at the effective overlaps (the
        paper's Eq. 13; Saad & Solla 1995; docs/model.md §3.4).

        Parameters
        ----------
        y : array_like (layout.size,)
            A flat state; complex ``y`` (complex-step differentiation) gives a
            complex value.
        v : array_like (K,), optional
            The fixed second layer (default ones; a learned one is in ``y``).

        Returns
        -------
        float or complex
            ``eps_g``.
        """
        self._closed_form("System.eg")
        y = np.asarray(y)
        if np.iscomplexobj(y):
            return complex(kern.eg(y, self.args(dtype=complex, v=v)))
        return float(kern.eg(y.astype(float), self.args(v=v)))

    def eg_many(self, ys, T=None, v=None) -> np.ndarray:
        """``eps_g`` (the paper's Eq. 13; docs/model.md §3.4) of each flat state in ``ys``.

        Parameters
        ----------
        ys : array_like (..., layout.size)
            Flat states; a row with a non-finite entry gives NaN.
        T : array_like (M, M), optional
            The teacher overlaps to use instead of the model's (a simulation
            with a random teacher).
        v : array_like (K,), optional
            The fixed second layer (default ones; a learned one is in the states).

        Returns
        -------
        ndarray (...)
            ``eps_g`` of each state.
        """
        self._closed_form("System.eg_many")
        ys = np.asarray(ys, dtype=float)
        flat = ys.reshape(-1, self.layout.size)
        a = self.args(v=v)
        if T is not None:
            a = a._replace(T=np.array(T, dtype=float, order="C"))
        out = np.full(flat.shape[0], np.nan)
        for j, y in enumerate(flat):
            if np.all(np.isfinite(y)):
                out[j] = kern.eg(y, a)
        return out.reshape(ys.shape[:-1])

    def jacobian(self, y, eta: float = 1.0, *, part: str = "full") -> np.ndarray:
        """The Jacobian ``A = d(dy/dalpha)/dy`` at ``y``, exact to rounding (docs/model.md §5.1, §6).

        Complex-step differentiation of the kernel right-hand side,
        ``A[:, j] = Im rhs(y + i h e_j) / h`` with ``h = 1e-30`` (Squire & Trapp 1998):
        no subtractive cancellation, so no step-size error. Compiles the complex
        variant of the right-hand side on first use only.

        Parameters
        ----------
        y : array_like (layout.size,)
            A real flat state.
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            As for :meth:`rhs`.

        Returns
        -------
        ndarray (layout.size, layout.size)
            The Jacobian, real.
        """
        self._closed_form("System.jacobian")
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
