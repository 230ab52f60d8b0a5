"""The symmetric fixed point (the plateau) and its spectra (docs/model.md §4-5).

:func:`symmetric_fixed_point` solves for the fixed point of the order-parameter
ODEs on the symmetric subspace ``R = S``, ``C = Q`` (every student has learned
the same mixture of teachers) and returns a :class:`FixedPoint` with three
spectra:

* ``jacobian_eigenvalues``: the Jacobian of the FULL ODE (every ``Q_ik``,
  ``R_in``, ``g_i``), exact to rounding by complex-step differentiation of the
  Numba kernels (forward-mode differentiation, docs/model.md §6); its largest real
  part is the escape rate ``lambda``, the plateau lasts ``(1/lambda) ln(1/eps0)``.
* ``weight_hessian_eigenvalues``: the Hessian of ``eps_g`` with respect to the
  student weights ``J`` (and the learned gains ``g``) at a weight configuration
  with ``N = K + M`` inputs realising the fixed point: the SymPy-derived
  gradient of ``eps_g`` in the field covariance (``symphase/_generated/
  eg_derivatives.py``), chained to the weights, complex-stepped once more.
* ``reduced_hessian_eigenvalues``: the paper's Hessian on ``(R, S, Q[, g])``
  (:func:`symphase.reduced_hessian`).

At ``eta = 0`` (small learning rate limit) rates are per unit ``eta``; at
``eta > 0`` they are per unit ``alpha``.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from ._curvature import curvature
from ._model import STEP, rule_for
from ._reduced import reduced_hessian
from ._results import Result, Status, model_coords
from ._validate import check_real
from ._weight_space import realise, weight_gradient


# -- states on the symmetric subspace ------------------------------------------
def symmetric_state(model, Q, C, R, S, g=None, v=None):
    """The flat state of a point of the symmetric subspace (docs/model.md §4.1).

    Parameters
    ----------
    model : Committee
        The model (K = M).
    Q, C, R, S : float or complex
        ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``, ``R_in = S`` (n != i).
    g : float or complex, optional
        ``g_i = g`` under BN (default 1); ignored for plain.
    v : float or complex, optional
        ``v_i = v`` with a learned second layer (default 1); ignored otherwise.

    Returns
    -------
    ndarray (model.layout.size,)
        The flat state, in the common dtype of the arguments.
    """
    K = model.K
    dt = np.result_type(Q, C, R, S, 1.0 if g is None else g, 1.0 if v is None else v)
    eye = np.eye(K)
    Qm = (C + (Q - C) * eye).astype(dt)
    Rm = (S + (R - S) * eye).astype(dt)
    gv = None if not model.has_bn else np.full(K, 1.0 if g is None else g, dtype=dt)
    vv = None if not model.learns_v else np.full(K, 1.0 if v is None else v, dtype=dt)
    return model.layout.pack(Qm, Rm, gv, vv)


def _rate_args(eta):
    """``(eta, part)`` of the rates: the O(eta) part per unit eta at eta = 0, else the full rhs at eta."""
    return (1.0, "linear") if eta == 0 else (float(eta), "full")


def rates(model, y, eta):
    """``dy/dalpha`` at flat state ``y`` as the fixed-point analysis measures it (docs/model.md §3.5, §5.1).

    Parameters
    ----------
    model : Committee
        The model.
    y : array_like
        A flat state.
    eta : float
        0: the ``O(eta)`` part per unit ``eta`` (the small learning rate limit);
        > 0: the full right-hand side at ``eta``, per unit ``alpha``.

    Returns
    -------
    ndarray
        The rates.
    """
    e, part = _rate_args(eta)
    return model.system.rhs(y, e, part=part)


# -- the fixed point ----------------------------------------------------------------
class FixedPoint(Result):
    """A fixed point of the order-parameter ODEs with its spectra (docs/model.md §4-5).

    Returned by :func:`symmetric_fixed_point`; the spectra are computed on first
    access. Three spectra measure the plateau's stability: the Jacobian of the
    full ODE (:attr:`jacobian_eigenvalues`, whose largest real part is the escape
    rate ``lambda``; docs/model.md §5.1), the Hessian of ``eps_g`` in the weights
    (:attr:`weight_hessian_eigenvalues`, ``lambda = -eta mu_min``; docs/model.md §5.2)
    and the paper's reduced Hessian (:attr:`reduced_hessian_eigenvalues`;
    Takagi, Yoshida & Okada 2020; docs/model.md §4.4).

    Parameters
    ----------
    model : Committee
        The model.
    Q : array_like (K, K)
        Student-student overlaps at the fixed point.
    R : array_like (K, M)
        Student-teacher overlaps.
    g : array_like (K,) or None
        BN gains; None for plain.
    eta : float
        0 (small learning rate limit) or the learning rate.
    kind : {"plateau", "symmetric"}
        The plateau ``R = S``, or another symmetric fixed point.
    norm : float, optional
        The BN norm ``Q_ii`` asked for.
    residual : float, optional
        ``max |dy/dalpha|`` at the point, if already known (else computed).
    v : array_like (K,), optional
        The learned second layer at the point (``second_layer="learned"`` only).
    find_others : callable, optional
        ``find_others(point) -> list of FixedPoint``: the search behind :attr:`others`,
        given by the solver (:func:`symphase.symmetric_fixed_point`, :func:`symphase.load`);
        without it :attr:`others` is empty.

    Attributes
    ----------
    model : Committee
        The model.
    Q, R, g : ndarray
        ``Q`` (K, K), ``R`` (K, M), ``g`` (K,) or None (plain).
    eta : float
        0: the small learning rate limit (rates per unit ``eta``); > 0: rates per unit ``alpha``.
    eg : float
        ``eps_g`` at the fixed point.
    norm : float or None
        The BN norm ``Q_ii`` asked for (None: the default).
    kind : str
        ``"plateau"`` (the symmetric fixed point ``R = S``) or ``"symmetric"`` (another one).
    v : ndarray (K,) or None
        The learned second layer at the point (docs/model.md §13); None when it is fixed.
    status, message
        ``"completed"`` and the residual at which the point was accepted.

    Examples
    --------
    >>> import symphase
    >>> fp = symphase.symmetric_fixed_point(symphase.Committee(2, 2))
    >>> fp
    FixedPoint(K=2, M=2, plain, tau=1, ..., Q=0.3333333333, C=0.3333333333, R=0.4082482905, S=0.4082482905, ...)
    >>> print(f"lambda/eta = {fp.escape_rate:.4f}, min mu = {fp.weight_hessian_eigenvalues[0]:.4f}")
    lambda/eta = 0.0657, min mu = -0.0657
    >>> print(f"{fp.plateau_length(1e-3):.1f}")          # alpha*eta to grow 1e-3 to O(1)
    105.1
    """

    def __init__(self, model, Q, R, g, eta, *, kind="plateau", norm=None, residual=None, v=None, find_others=None):
        self.model = model
        #: the search for the other symmetric fixed points (:attr:`others`), given by the solver
        self._find_others = find_others
        self.Q = np.asarray(Q, dtype=float)
        self.R = np.asarray(R, dtype=float)
        self.g = None if g is None else np.asarray(g, dtype=float)
        #: the learned second layer at the point (None when it is fixed at 1)
        self.v = None if v is None else np.asarray(v, dtype=float)
        self.eta = float(eta)
        self.kind = kind
        self.norm = norm
        self.eg = model.system.eg(self.state)
        self.status = Status.COMPLETED
        res = float(np.max(np.abs(self.residual()))) if residual is None else residual
        self.message = f"fixed point found: max |dy/dalpha| = {res:.3g}"

    def _summary(self) -> str:
        gs = "" if self.g is None else f", g={self.g[0]:.10g}"
        gs += "" if self.v is None else f", v={self.v[0]:.10g}"
        return (f"{self.model.describe()}, eta={self.eta:g}, Q={self.Q[0, 0]:.10g}, C={self.Q[0, -1]:.10g}, "
                f"R={self.R[0, 0]:.10g}, S={self.R[0, -1]:.10g}{gs}, eg={self.eg:.10g}")

    @property
    def state(self) -> np.ndarray:
        """The flat state of the fixed point (``model.layout``; docs/model.md §8.1).

        Returns
        -------
        ndarray (model.layout.size,)
        """
        return self.model.layout.pack(self.Q, self.R, self.g, self.v)

    @property
    def effective_learning_rate(self) -> float:
        """The effective learning rate per unit ``eta``: ``h^2 = g^2/(tau Q_ii)``; 1 for plain.

        Under BN the rates of the normalized overlaps depend on the norm only
        through ``eta h^2`` (docs/model.md §5.3); BN's escape rate is plain's times
        ``h^2`` (docs/model.md §7.1).

        Returns
        -------
        float
        """
        if not self.model.has_bn:
            return 1.0
        return float(self.g[0] ** 2 / (self.model.tau * self.Q[0, 0]))

    def residual(self) -> np.ndarray:
        """``dy/dalpha`` at the fixed point: zero up to rounding (docs/model.md §3.5).

        Returns
        -------
        ndarray (model.layout.size,)
            Per unit ``eta`` at ``eta = 0`` (the ``O(eta)`` part), per unit ``alpha`` at ``eta > 0``.
        """
        return rates(self.model, self.state, self.eta)

    # Jacobian of the full ODE
    @cached_property
    def jacobian(self) -> np.ndarray:
        """The Jacobian ``A = d(dy/dalpha)/dy`` of the full ODE at the fixed point (docs/model.md §5.1, §6).

        Exact to rounding by complex-step differentiation of the kernels
        (:meth:`symphase.System.jacobian`).

        Returns
        -------
        ndarray (n, n)
            In the flat layout (every ``Q_ik``, i <= k, ``R_in``, ``g_i``); per unit
            ``eta`` at ``eta = 0`` (the O(eta) part), per unit ``alpha`` at ``eta > 0``.
        """
        e, part = _rate_args(self.eta)
        return rule_for(self.model).jacobian(self.model, self.state, e, part)  # the model's rule (§2.4)

    @cached_property
    def jacobian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of :attr:`jacobian`, ascending by real part (largest last; docs/model.md §5.1).

        Returns
        -------
        ndarray (n,)
            Real when every imaginary part is at rounding level, else complex.
        """
        ev = np.linalg.eigvals(self.jacobian)
        ev = ev[np.lexsort((ev.imag, ev.real))]
        if np.all(np.abs(ev.imag) <= 1e-12 * max(1.0, np.abs(ev).max())):
            ev = ev.real
        return ev

    @property
    def escape_rate(self) -> float:
        """The escape rate ``lambda = max Re eig(A)`` of the Jacobian (docs/model.md §5.1).

        A small deviation from the plateau grows as ``eps0 exp(lambda alpha)``;
        ``lambda <= 0``: the point is stable.

        Returns
        -------
        float
            Per unit ``eta`` at ``eta = 0``, per unit ``alpha`` at ``eta > 0``.
        """
        return rule_for(self.model).escape_rate(self)

    @property
    def escape_direction(self) -> np.ndarray:
        """The direction of escape: a unit real eigenvector of the Jacobian for :attr:`escape_rate`.

        Returns
        -------
        ndarray (n,)
            In the flat layout (``model.layout.labels()`` names its entries).
        """
        ev, V = np.linalg.eig(self.jacobian)
        v = np.real(V[:, int(np.argmax(ev.real))])
        return v / np.linalg.norm(v)

    def plateau_length(self, eps0) -> float:
        """The plateau length ``(1/lambda) ln(1/eps0)``: the time to grow an asymmetry ``eps0`` to O(1).

        docs/model.md §5.1; a random start with ``N`` inputs leaves ``eps0 ~ N^(-1/2)``.

        Parameters
        ----------
        eps0 : float
            The initial distance from the plateau, in (0, 1).

        Returns
        -------
        float
            In units of ``alpha eta`` at ``eta = 0``, of ``alpha`` at ``eta > 0``; inf if
            the point is stable (``lambda <= 0``).

        Raises
        ------
        ValueError
            If ``eps0`` is not in (0, 1).
        """
        eps0 = check_real("eps0", eps0, positive=True)
        if not eps0 < 1:
            raise ValueError(f"eps0 must be in (0, 1) (a small initial asymmetry), got {eps0!r}")
        lam = self.escape_rate
        return math.inf if lam <= 0 else math.log(1.0 / eps0) / lam

    # Hessian of eps_g in weight space
    @cached_property
    def weights(self):
        """Weights that realise the fixed point with ``N = K + M`` inputs (docs/model.md §5.2).

        Returns
        -------
        J : ndarray (K, K + M)
            ``[sqrt(Q - R R^T) | R]``, so ``J J^T = Q`` and ``J B^T = R``.
        g : ndarray (K,) or None
            The gains (None for plain).
        B : ndarray (M, K + M)
            The teacher ``[0 | I_M]`` (``T = I``).
        """
        J, B = realise(self.Q, self.R)
        return J, (None if self.g is None else self.g.copy()), B

    def _wvec_split(self, w):
        K, N = self.weights[0].shape
        J = w[:K * N].reshape(K, N)
        n = K * N
        g = None
        if self.model.has_bn:
            if self.model.learns_gain:
                g, n = w[n:n + K], n + K
            else:
                g = self.g.astype(w.dtype)
        sv = w[n:n + K] if self.model.learns_v else None
        return J, g, sv

    @property
    def _w0(self):
        J, g, _ = self.weights
        parts = [J.ravel()]
        if self.model.learns_gain:
            parts.append(g)
        if self.model.learns_v:
            parts.append(self.v)
        return np.concatenate(parts)

    def weight_gradient(self, v) -> np.ndarray:
        """Gradient of ``eps_g`` in the weight vector ``v = [J.ravel(), g (learned gain), v (learned second layer)]``.

        The SymPy-derived ``d eps_g/dC`` chained to the weights
        (docs/model.md §5.2; :func:`symphase._weight_space.weight_gradient`).

        Parameters
        ----------
        v : ndarray
            Weights in the layout of :attr:`weights`, flattened; real or complex
            (complex-step differentiation).

        Returns
        -------
        ndarray
            ``d eps_g/dv``, same shape and dtype as ``v``.
        """
        J, g, sv = self._wvec_split(v)
        dJ, dg, dv = weight_gradient(self.model, J, g, self.weights[2], sv)
        parts = [dJ.ravel()]
        if self.model.learns_gain:
            parts.append(dg)
        if self.model.learns_v:
            parts.append(dv)
        return np.concatenate(parts)

    @cached_property
    def weight_hessian(self) -> np.ndarray:
        """The Hessian of ``eps_g`` in the weights ``(J, g, v)`` at :attr:`weights` (docs/model.md §5.2, §13).

        Exact to rounding: complex step on the derived gradient
        (:meth:`weight_gradient`), symmetrized.

        Returns
        -------
        ndarray (n, n)
            ``n = K (K + M)`` plus ``K`` with a learned gain, plus ``K`` with a
            learned second layer (erf only).
        """
        if self.model.activation != "erf":
            raise ValueError(f"model: the weight-space spectra use the erf closed forms; activation="
                             f"{self.model.activation!r} has none here")
        w0 = self._w0
        n = w0.size
        H = np.empty((n, n))
        wc = w0.astype(complex)
        for j in range(n):
            wc[j] += STEP * 1j
            H[:, j] = self.weight_gradient(wc).imag / STEP
            wc[j] = w0[j]
        return 0.5 * (H + H.T)

    @cached_property
    def weight_hessian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues ``mu`` of :attr:`weight_hessian`, ascending (docs/model.md §5.2).

        As ``eta -> 0`` the ODE is gradient flow, so ``lambda = -eta mu_min``.

        Returns
        -------
        ndarray (n,)
        """
        return np.linalg.eigvalsh(self.weight_hessian)

    # The paper's reduced Hessian
    @cached_property
    def reduced_hessian(self):
        """The paper's Hessian ``H = grad_Omega grad_Omega eps_g`` at this point (docs/model.md §4.4).

        ``Omega = (R, S, Q)`` (plain) or ``(R, S, Q, g)`` (BN), ``C = Q`` substituted
        before differentiating (Takagi, Yoshida & Okada 2020, §3;
        :func:`symphase.reduced_hessian`).

        Returns
        -------
        H : ndarray (3, 3) or (4, 4)
        names : tuple of str
            ``("R", "S", "Q")`` or ``("R", "S", "Q", "g")``.
        """
        g = None if self.g is None else float(self.g[0])
        return reduced_hessian(self.model, float(self.R[0, 0]), float(self.R[0, -1]), float(self.Q[0, 0]), g)

    @cached_property
    def reduced_hessian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of :attr:`reduced_hessian`, ascending (the paper's Figs. 1-2; docs/model.md §4.4).

        Returns
        -------
        ndarray (3,) or (4,)
        """
        H = np.asarray(self.reduced_hessian[0], dtype=float)
        return np.linalg.eigvalsh(0.5 * (H + H.T))

    def curvature(self, N):
        """The Hessian and Fisher spectra of the weights at this fixed point, at ``N`` inputs
        (:func:`symphase.curvature`, docs/model.md §10).

        Parameters
        ----------
        N : int
            The input dimension, ``>= K + M``.

        Returns
        -------
        Curvature
        """
        return curvature(self.model, (self.Q, self.R, self.g), N=N)

    @cached_property
    def others(self) -> list:
        """Other symmetric fixed points (``R != S`` or ``C != Q``) found from a grid of starts.

        E.g. the perfect student, or the ``C = Q`` point of BN with a fixed gain
        (docs/model.md §4.3). Empty for a point that is not the plateau.

        Returns
        -------
        list of FixedPoint
            Each with ``kind="symmetric"``; the grid is small, so the list need not
            be complete.
        """
        if self.kind != "plateau" or self._find_others is None:
            return []
        return self._find_others(self)

    def _fields(self) -> dict:
        return {"model": self.model, "eta": self.eta, "kind": self.kind, "Q": self.Q, "R": self.R, "g": self.g,
                **({} if self.v is None else {"v": self.v}),
                "eg": self.eg, "escape_rate": self.escape_rate,
                "effective_learning_rate": self.effective_learning_rate,
                "jacobian_eigenvalues": self.jacobian_eigenvalues,
                "weight_hessian_eigenvalues": self.weight_hessian_eigenvalues,
                # the paper's reduced Hessian covers the committee machine only: null for the two-layer network
                "reduced_hessian_eigenvalues": self.reduced_hessian_eigenvalues if self.has_reduced_hessian else None,
                "reduced_hessian_names": list(self.reduced_hessian[1]) if self.has_reduced_hessian else None}

    @property
    def has_reduced_hessian(self) -> bool:
        """Whether the paper's reduced Hessian (:attr:`reduced_hessian`) is defined at this point: only
        for the soft committee machine (``model.is_committee``); for the two-layer network
        :attr:`reduced_hessian` raises ``ValueError`` and the results leave it out (``to_dict``: null).

        Returns
        -------
        bool
        """
        return self.model.is_committee

    def to_xarray(self):
        """The fixed point and its spectra as a labeled ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
            The overlaps, the three spectra (the Jacobian's as real and imaginary
            parts; the reduced Hessian's only for the soft committee machine, the
            only model it covers); ``eg``, ``escape_rate``, ``effective_learning_rate``,
            ``eta``, status, message and the model as attributes.
        """
        import xarray as xr

        ev = np.asarray(self.jacobian_eigenvalues, dtype=complex)
        data = {"Q": (("student", "student_k"), self.Q), "R": (("student", "teacher"), self.R),
                "jacobian_eigenvalues_real": ("jacobian_mode", ev.real),
                "jacobian_eigenvalues_imag": ("jacobian_mode", ev.imag),
                "weight_hessian_eigenvalues": ("weight_mode", self.weight_hessian_eigenvalues)}
        if self.has_reduced_hessian:
            data["reduced_hessian_eigenvalues"] = ("reduced_mode", self.reduced_hessian_eigenvalues)
        if self.g is not None:
            data["g"] = ("student", self.g)
        if self.v is not None:
            data["v"] = ("student", self.v)
        attrs = {**self.model.attrs(), "eta": self.eta, "kind": self.kind, "eg": self.eg,
                 "escape_rate": self.escape_rate, "effective_learning_rate": self.effective_learning_rate,
                 **({"reduced_hessian_names": ",".join(self.reduced_hessian[1])} if self.has_reduced_hessian else {}),
                 "status": str(self.status), "message": self.message, **self._identity(),
                 **({} if self.norm is None else {"norm": self.norm})}
        coords = {**model_coords(self.model),
                  **({"reduced_mode": list(self.reduced_hessian[1])} if self.has_reduced_hessian else {})}
        return xr.Dataset(data, coords=coords, attrs=attrs)
